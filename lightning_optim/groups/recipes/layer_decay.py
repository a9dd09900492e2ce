"""``layer_decay``: layer-wise lr decay for stacked blocks, the BEiT/ViT fine-tuning recipe, BEiT's or timm's way.

Each parameter gets a layer id and its group's ``lr`` the scale ``max(min_scale, decay ** (top - id))``,
``top`` the id that gets the full ``lr`` (``L + 1`` for ``L`` blocks, but see ``"timm"``). Both rules give
block ``i`` (0-based; timm counts only the blocks that hold parameters, see below) the id ``i + 1`` and the
parameters registered before the blocks (embeddings, tokens) the id 0; they differ after the blocks:

- ``"beit"`` (BEiT's ``get_num_layer_for_vit``, microsoft/unilm beit/optim_factory.py): everything after the
  blocks (final norm, head) gets ``L + 1``, the full ``lr``.
- ``"timm"`` (timm's ``param_groups_layer_decay``, timm/optim/_param_groups.py, with the layer ids of
  ``group_parameters(model, model.group_matcher(coarse=False), reverse=True)``; ViT's ``group_matcher``,
  timm/models/vision_transformer.py, is ``stem=r'^cls_token|reg_token|pos_embed|patch_embed'``,
  ``blocks=[(r'^blocks\\.(\\d+)', None), (r'^norm', (99999,))]``, huggingface/pytorch-image-models at
  aa4b5850c154): the parameters whose name, next to the blocks, starts with ``norm`` (the final ``norm``; ViT's
  ``norm_pre`` too) join the last block (``MATCH_PREV_GROUP``), id ``L``, so they get ``lr * decay``; the
  rest after the blocks (``fc_norm``, ``head``) gets ``L + 1``. timm's full lr goes to the highest id present
  (``layer_max``), not always ``L + 1``: with nothing after the blocks among the optimizer's parameters (a
  headless backbone, ``num_classes=0``, or a head another optimizer trains), the last block and the final
  norm get the full ``lr`` and each layer below one factor ``decay`` more than with a head.
  ``min_scale`` is timm's ``layer_decay_min_scale``.

A block is a child of the blocks' ``ModuleList``/``Sequential``, in order. BEiT's ``int(name.split('.')[1]) + 1``
counts every child, so a child without parameters (an activation in a ``Sequential``) takes a layer, and
``L`` is the number of children. timm's ``group_with_matcher`` (timm/models/_manipulate.py) numbers the
ordinals that the names of ``named_parameters()`` match consecutively (its ``lid``), so there a child without
parameters takes no layer and ``L`` counts the others; a frozen block keeps its layer, as its parameters are
among those names.

Several stacks (``layer_decay_blocks=("visual.blocks", "text.blocks")``) are scaled each over its own depth,
as EVA-CLIP does for its two towers (baaivision/EVA EVA-CLIP/rei/training/optim.py, ``get_assigner``: one
``LayerDecayValueAssigner`` per tower, ``ld ** (num_layers + 1 - i)``). A stack's tower is its outermost
enclosing module that holds no other stack (``visual``, ``text``); parameters in no tower (``logit_scale``)
keep the full ``lr``. With one stack the whole module is its tower.

"Before" and "after" the blocks follow ``named_parameters()`` order, where torch lists a module's own
parameters before its submodules: a bare ``nn.Parameter`` held next to the blocks counts as registered before
them (layer 0). That is right for tokens and position embeddings, but a bare projection after the blocks
(open_clip's ``proj``/``text_projection``) also lands in layer 0, where BEiT/EVA-CLIP name it a head; make it a
module (``nn.Linear``) to have it after the blocks. A parameter is placed by any of its names, as a selector
takes it: a block also registered earlier under an attribute of its own (``self.first = nn.Linear(...)``, then
``self.blocks = nn.ModuleList([self.first, ...])``), whose parameters ``named_parameters()`` names ``first.*``,
is still its block, and the rest is before or after the blocks by where its module is registered. BEiT's and
timm's functions read the first names only, which would give such a block the head's full ``lr``.

The scale is recorded in each group's ``scales`` and multiplied into the built group's ``lr``, so it is
relative to that group's own base lr (``MuonWithAdamW``'s AdamW groups: ``adamw_lr``) and a multiplicative
schedule keeps the ratios; an absolute floor (``eta_min``) is the same for every group, as in a hand-written
module (``timm/`` schedules scale theirs by the group's scale, as timm's ``lr_scale`` does). Each group is
split by layer into ``<group>/layer_<id>`` (``<group>/<tower>/layer_<id>`` with several stacks,
``<group>/other`` outside them); the ids are BEiT's and timm's, so the names match theirs. Every group, once
``no_decay`` has split it too, comes where ``named_parameters()`` first meets one of its parameters, the order
of the dict of groups BEiT, MAE and timm fill; with several stacks (``"beit"``) tower by tower in the order of
``layer_decay_blocks``, the parameters outside them last, as EVA-CLIP concatenates one dict per tower (see the
``no_decay`` module on why the order matters).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

from torch import nn

from lightning_optim.groups.plan import GroupPlan, Parameters, joined_name
from lightning_optim.groups.recipes.base import RecipeContext
from lightning_optim.groups.selection import NamedParameters
from lightning_optim.utilities.errors import check_choice, did_you_mean, listing
from lightning_optim.utilities.numeric import is_real

#: ``layer_decay_rule`` values: whose layer ids (see the module docstring).
LayerDecayRule = Literal["beit", "timm"]
LAYER_DECAY_RULES: tuple[str, ...] = get_args(LayerDecayRule)


@dataclass(frozen=True)
class LayerDecaySettings:
    """The checked ``layer_decay*`` options."""

    decay: float
    blocks: tuple[str, ...]
    rule: str = "beit"
    min_scale: float = 0.0


@dataclass(frozen=True)
class Layer:
    """Where a parameter sits: its tower (``None`` outside every tower), its layer id and its tower's top id,
    the one that gets the full ``lr``."""

    tower: int | None
    id: int
    top: int


def _check_layer_decay(where: str, values: Mapping[str, Any]) -> LayerDecaySettings | None:
    decay, blocks = values["layer_decay"], values["layer_decay_blocks"]
    rule, min_scale = values["layer_decay_rule"], values["layer_decay_min_scale"]
    if decay is None:
        extra = {"layer_decay_blocks": blocks is not None, "layer_decay_rule": rule != "beit"}
        extra["layer_decay_min_scale"] = min_scale != 0.0
        for option, declared in extra.items():
            if declared:
                raise ValueError(
                    f"{where}: `{option}={values[option]!r}` only applies with `layer_decay`; "
                    "add `layer_decay=<factor>` or remove it."
                )
        return None
    if not _is_fraction(decay) or decay == 0.0:
        raise ValueError(f"{where}: Expected `layer_decay` to be a float in (0, 1] but got {decay!r}.")
    stacks = (blocks,) if isinstance(blocks, str) else blocks
    if (
        not isinstance(stacks, (tuple, list))
        or not stacks
        or not all(isinstance(b, str) and b for b in stacks)
    ):
        raise ValueError(
            f"{where}: `layer_decay` needs `layer_decay_blocks`, the submodule path of the stacked blocks "
            f"(a ModuleList or Sequential, e.g. `layer_decay_blocks='blocks'`, or a tuple of paths for several "
            f"stacks), but got {blocks!r}."
        )
    for index, stack in enumerate(stacks):
        for other in stacks[index + 1 :]:
            if stack == other or other.startswith(stack + ".") or stack.startswith(other + "."):
                raise ValueError(
                    f"{where}: Expected the `layer_decay_blocks` stacks to be distinct and not nested but "
                    f"got {stack!r} and {other!r}."
                )
    check_choice(where, "layer_decay_rule", rule, LAYER_DECAY_RULES)
    if not _is_fraction(min_scale):
        raise ValueError(
            f"{where}: Expected `layer_decay_min_scale` to be a float in [0, 1] but got {min_scale!r}."
        )
    return LayerDecaySettings(float(decay), tuple(stacks), rule, float(min_scale))


def _is_fraction(value: Any) -> bool:
    return is_real(value) and math.isfinite(value) and 0.0 <= value <= 1.0


def towers(stacks: Sequence[str]) -> list[str]:
    """Each stack's tower: its outermost enclosing module path (``""``: the root) that holds no other stack.

    Example:
        >>> towers(["blocks"]), towers(["visual.trunk.blocks", "text.blocks"])
        ([''], ['visual', 'text'])
    """

    def holds(path: str, stack: str) -> bool:
        return not path or stack == path or stack.startswith(path + ".")

    found = []
    for stack in stacks:
        parts = stack.split(".")
        candidates = ["", *(".".join(parts[: i + 1]) for i in range(len(parts)))]
        found.append(next(c for c in candidates if not any(holds(c, o) for o in stacks if o != stack)))
    return found


def _blocks(where: str, named: NamedParameters, path: str) -> nn.ModuleList | nn.Sequential:
    modules: Mapping[str, nn.Module] = dict(named.modules)  # the innermost module wins a shared wrapped name
    blocks = modules.get(path)
    if path in named.module_aliases:  # the blocks' parameters are named under the first path only
        raise ValueError(
            f"{where}: Expected `layer_decay_blocks` to be the first path of its submodule but got {path!r}, "
            f"a second path of the submodule registered first as `{named.module_aliases[path]}` (did you mean "
            f"`{named.module_aliases[path]}`?)."
        )
    if blocks is None:
        raise ValueError(
            f"{where}: Expected `layer_decay_blocks` to be a submodule path but got {path!r}, which "
            f"is not a submodule{did_you_mean(path, named.submodules)}."
        )
    if not isinstance(blocks, (nn.ModuleList, nn.Sequential)) or len(blocks) == 0:
        got = "an empty one" if isinstance(blocks, (nn.ModuleList, nn.Sequential)) else type(blocks).__name__
        raise ValueError(
            f"{where}: Expected `layer_decay_blocks={path!r}` to be a non-empty ModuleList or "
            f"Sequential of blocks but got {got}."
        )
    return blocks


def _under(name: str, path: str) -> bool:
    return not path or name.startswith(path + ".")


def _relative(name: str, path: str) -> str:
    return name[len(path) + 1 :] if path else name


def timm_blocks(children: Sequence[str], path: str, names: Iterable[str]) -> list[str]:
    """The children of the blocks at ``path`` that timm numbers as layers: those holding one of the parameters
    ``names`` (see the module docstring).

    Example:
        >>> timm_blocks(["0", "1", "2", "3"], "blocks", ["embed.weight", "blocks.0.weight", "blocks.2.bias"])
        ['0', '2']
    """
    held = {_relative(name, path).split(".", 1)[0] for name in names if _under(name, path)}
    return [child for child in children if child in held]


def _layer_id(
    names: Sequence[str],
    path: str,
    index: Mapping[str, int],
    count: int,
    timm: bool,
    order: Mapping[str, int],
) -> int:
    """The layer id of a parameter by its names (its first, then its others) in the tower whose ``count`` blocks
    (``index``: each numbered child's position) are at ``path``: the block of any of its names, as a selector
    takes a parameter by any of them; timm's final norm with the last block; else by where the module holding it
    is registered (``order``: each module's position in ``named_modules()``), before the blocks 0 and after
    them ``count + 1``."""
    block = next((name for name in names if _under(name, path)), None)
    if block is not None:
        return index[_relative(block, path).split(".", 1)[0]] + 1
    name, parent = names[0], path.rpartition(".")[0]
    if timm and _under(name, parent) and _relative(name, parent).startswith("norm"):
        return count  # timm's ``(r'^norm', (99999,))``: with the last block
    return count + 1 if order.get(name.rpartition(".")[0], -1) > order.get(path, -1) else 0


def layer_ids(
    where: str, named: NamedParameters, settings: LayerDecaySettings, parameters: Parameters
) -> dict[int, Layer]:
    """The ``Layer`` of each parameter (by id), by ``settings.rule`` (see the module docstring)."""
    layers: dict[int, Layer] = {}
    scopes = towers(settings.blocks)
    timm = settings.rule == "timm"
    order = {module: position for position, (module, _) in enumerate(named.modules)}
    names_of = {id(p): (name, *named.aliases.get(id(p), ())) for name, p in parameters}
    for tower, (path, scope) in enumerate(zip(settings.blocks, scopes)):
        blocks = _blocks(where, named, path)
        children = [name for name, _ in blocks.named_children()]
        count = len(blocks)
        if timm:
            # timm numbers over the whole model's parameters: another optimizer's and frozen ones count too
            held_names = [
                *(n for n, _ in named.items),
                *(n for names in named.aliases.values() for n in names),
                *(n for n, _ in named.frozen),
            ]
            children = timm_blocks(children, path, held_names)
            count = len(children)
        index = {name: i for i, name in enumerate(children)}
        placed = False
        found: dict[int, int] = {}
        for name, param in parameters:
            names = names_of[id(param)]
            in_blocks = any(_under(n, path) for n in names)
            if not in_blocks and not _under(name, scope):
                continue
            found[id(param)] = _layer_id(names, path, index, count, timm, order)
            placed = placed or in_blocks
        if not placed:
            raise ValueError(
                f"{where}: `layer_decay_blocks={path!r}` holds none of this optimizer's trainable "
                "parameters; name the blocks this optimizer trains."
            )
        # BEiT's top is always ``L + 1``; timm's ``layer_max`` is the highest id among the parameters of the
        # model it is given, frozen ones included (a frozen head keeps the top): only a backbone with nothing
        # trained or frozen after its blocks (a headless ViT, or one whose head another optimizer trains, as
        # timm given the backbone alone) gives its last block the full lr
        top = count + 1
        if timm:
            frozen = [(name,) for name, _ in named.frozen if _under(name, scope)]
            top = max([*found.values(), *(_layer_id(n, path, index, count, timm, order) for n in frozen)])
        layers.update((key, Layer(tower, layer_id, top)) for key, layer_id in found.items())
    for _, param in parameters:
        layers.setdefault(id(param), Layer(None, 0, 0))
    return layers


def layer_scale(decay: float, layer_id: int, top: int, min_scale: float = 0.0) -> float:
    """BEiT's and timm's scale: ``max(min_scale, decay ** (top - layer_id))``, ``top`` the id given the full lr.

    Example:
        >>> [layer_scale(0.5, layer_id, top=3) for layer_id in range(4)]
        [0.125, 0.25, 0.5, 1.0]
        >>> layer_scale(0.5, 0, top=3, min_scale=0.2)
        0.2
    """
    return max(min_scale, decay ** (top - layer_id))


def split_by_layer(parameters: Parameters, layers: Mapping[int, Layer]) -> list[tuple[Layer, list[Any]]]:
    """``(layer, parameters)`` for each layer present, tower by tower (outside ones last), shallowest first (the
    planning puts them in the source's order, ``first_parameter_order``)."""
    by_layer: dict[Layer, list[Any]] = {}
    for name, param in parameters:
        by_layer.setdefault(layers[id(param)], []).append((name, param))
    return sorted(by_layer.items(), key=lambda item: (item[0].tower is None, item[0].tower or 0, item[0].id))


@dataclass(frozen=True)
class LayerDecay:
    """The ``layer_decay`` recipe (with ``layer_decay_blocks``, ``layer_decay_rule``, ``layer_decay_min_scale``)."""

    options: tuple[str, ...] = (
        "layer_decay",
        "layer_decay_blocks",
        "layer_decay_rule",
        "layer_decay_min_scale",
    )

    def check(
        self, where: str, values: Mapping[str, Any], optimizer: str, group_options: frozenset[str]
    ) -> LayerDecaySettings | None:
        settings = _check_layer_decay(where, values)
        if settings is not None and "lr" not in group_options:
            raise ValueError(
                f"{where}: `layer_decay` scales each group's `lr`, but `{optimizer}` has no `lr` option. "
                f"Its per-group options: {listing(sorted(group_options))}."
            )
        return settings

    def apply(
        self, settings: LayerDecaySettings, context: RecipeContext, groups: Sequence[GroupPlan]
    ) -> list[GroupPlan]:
        layers = layer_ids(context.where, context.named, settings, context.parameters)
        several = len(settings.blocks) > 1
        scopes = towers(settings.blocks)
        split = []
        for group in groups:
            for layer, chosen in split_by_layer(group.parameters, layers):
                if layer.tower is None:
                    split.append(replace(group, name=joined_name(group.name, "other"), parameters=chosen))
                    continue
                tower = (scopes[layer.tower] or settings.blocks[layer.tower]) if several else None
                scale = layer_scale(settings.decay, layer.id, layer.top, settings.min_scale)
                split.append(
                    replace(
                        group,
                        name=joined_name(group.name, tower, f"layer_{layer.id}"),
                        parameters=chosen,
                        scales=group.scaled("lr", scale),
                    )
                )
        return split

    def first_parameter_order(
        self, settings: LayerDecaySettings, context: RecipeContext
    ) -> Mapping[int, int]:
        # timm's ``param_groups_layer_decay`` fills a dict keyed ``layer_<id>_<decay>`` along
        # ``named_parameters()`` (timm/optim/_param_groups.py): ``cls_token``'s no-decay group first, ``norm_pre``
        # (with the last block) before block 0. BEiT's ``get_parameter_groups`` (microsoft/unilm
        # beit/optim_factory.py) and MAE's ``param_groups_lrd`` (facebookresearch/mae util/lr_decay.py) fill the
        # same dict (MAE's ``fc_norm``, registered after ``head``, puts the last layer's decayed half first);
        # EVA-CLIP's ``get_all_parameters`` (baaivision/EVA EVA-CLIP/rei/training/optim.py) one per tower, the
        # towers in turn (``visual``, ``text``), the parameters outside them last
        if settings.rule == "timm":
            return {}
        layers = layer_ids(context.where, context.named, settings, context.parameters)
        outside = len(settings.blocks)
        return {key: outside if layer.tower is None else layer.tower for key, layer in layers.items()}
