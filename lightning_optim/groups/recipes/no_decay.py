"""``no_decay``: no weight decay for biases, normalization layers and embeddings.

A port takes one word: ``no_decay="transformers"`` is transformers' ``Trainer`` rule, ``no_decay="timm"``
timm's ``param_groups_weight_decay`` rule and ``no_decay="nanogpt"`` nanoGPT's ``configure_optimizers`` rule,
each transcribed from its source (see ``transformers_no_decay``, ``timm_no_decay`` and ``nanogpt_no_decay``);
``True`` and the tuples of kinds are this package's own rules. Each group is split
in two: ``<group>`` keeps its decay, ``<group>/no_decay`` gets ``weight_decay=0.0``; a half left empty is
dropped. The decayed half comes first, as nanoGPT's and transformers' groups do, but with ``"timm"`` the
``no_decay`` half, as timm's ``param_groups_weight_decay`` returns ``[no_decay, decay]``: ``clip_grad_norm_``
sums the norms in the optimizer's order, so a port clipping its gradients is bit-identical to its source only
in the source's order (and a hand-written module's checkpoint, matched group by group, resumes only then).
Linear in the number of parameter tensors.

Every rule judges a reparametrized tensor as the layer's tensor it computes: torch's parametrizations
(``spectral_norm``, a GAN discriminator's, on an ``Embedding`` is ``embed.parametrizations.weight.original``),
pruning and the old ``spectral_norm``/``weight_norm`` rename the parameter the optimizer gets, which would
otherwise leave a norm layer's or an embedding's weight, or a bias, decaying under one torch API and not under
another (see ``layer_name`` and ``layer_parameters``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn
from torch.nn.utils import parametrize

from lightning_optim.groups.plan import GroupPlan, Parameters, joined_name
from lightning_optim.groups.recipes.base import RecipeContext
from lightning_optim.groups.selection import NamedParameters, layer_name
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import did_you_mean, listing, prefixed
from lightning_optim.utilities.lazy import refuse_unknown_shape

#: The rules named after the library they copy; ``no_decay`` takes one alone or among kinds.
NO_DECAY_RULES = ("transformers", "timm", "nanogpt")
#: What ``no_decay`` may list; ``no_decay=True`` means ``DEFAULT_NO_DECAY``.
NO_DECAY_KINDS = ("bias", "norm", "embedding", "1d", *NO_DECAY_RULES)
DEFAULT_NO_DECAY = ("bias", "norm", "embedding")

#: transformers 5.24 ``Trainer.get_decay_parameter_names`` (transformers/trainer.py): the layer types and the
#: name patterns (searched in the lower-cased name) whose parameters get no weight decay. The types are
#: ``[nn.LayerNorm]`` (also ``transformers.pytorch_utils.ALL_LAYERNORM_LAYERS``), matched with
#: ``isinstance`` on every module that holds the parameter, below the root (``get_parameter_names`` in
#: transformers/trainer_pt_utils.py).
TRANSFORMERS_NO_DECAY_LAYERS: tuple[type[nn.Module], ...] = (nn.LayerNorm,)
TRANSFORMERS_NO_DECAY_PATTERNS = tuple(
    re.compile(pattern)
    for pattern in (r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)")
)

#: Every ``torch.nn`` normalization layer with parameters (and the parameter-free ones, for completeness).
NORM_LAYERS: tuple[type[nn.Module], ...] = (
    *compat.norm_base_classes(),  # BatchNorm1d/2d/3d, their Lazy forms, SyncBatchNorm, InstanceNorm*
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    nn.CrossMapLRN2d,
    nn.RMSNorm,  # torch 2.4 and later
)
#: Custom norms that do not subclass a torch one (``LlamaRMSNorm``, ``T5LayerNorm``, ``LayerNorm2d``).
_NORM_CLASS_NAME = re.compile(r"Norm(?:[123]d)?$")

EMBEDDING_LAYERS: tuple[type[nn.Module], ...] = (nn.Embedding, nn.EmbeddingBag)


def is_norm_layer(module: nn.Module) -> bool:
    """A torch normalization layer, or a module whose class name ends in ``Norm`` (e.g. ``T5LayerNorm``).

    Example:
        >>> is_norm_layer(nn.BatchNorm2d(3)), is_norm_layer(nn.Linear(2, 2))
        (True, False)
        >>> class LlamaRMSNorm(nn.Module): ...
        >>> is_norm_layer(LlamaRMSNorm())
        True
    """
    return isinstance(module, NORM_LAYERS) or _NORM_CLASS_NAME.search(type(module).__name__) is not None


def is_bias(name: str) -> bool:
    """The ``"bias"`` kind: minGPT's ``pn.endswith('bias')`` (karpathy/minGPT, mingpt/model.py,
    ``GPT.configure_optimizers``), so ``nn.MultiheadAttention``'s ``in_proj_bias`` too.

    Example:
        >>> is_bias("head.bias"), is_bias("attn.in_proj_bias"), is_bias("head.weight")
        (True, True, False)
    """
    return name.endswith("bias")


def layer_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The parameters ``module`` computes its own tensors from: those it holds, and the originals of its
    parametrized tensors (held by its ``parametrizations``, not by the layer itself; not the parameters of
    a parametrization module).

    Example:
        >>> embed = torch.nn.utils.parametrizations.spectral_norm(nn.Embedding(5, 4))
        >>> [tuple(p.shape) for p in layer_parameters(embed)], list(embed.parameters(recurse=False))
        ([(5, 4)], [])
    """
    held = list(module.parameters(recurse=False))
    if parametrize.is_parametrized(module):
        parametrizations = cast(nn.ModuleDict, module.parametrizations)
        held += [p for originals in parametrizations.values() for p in originals.parameters(recurse=False)]
    return held


def _check_no_decay(where: str, value: Any, optimizer: str, group_options: frozenset[str]) -> tuple[str, ...]:
    accepted = f"True, False, {listing(NO_DECAY_RULES)} or a non-empty tuple of {listing(NO_DECAY_KINDS)}"
    if value is False:
        return ()
    if value is True:
        kinds: tuple[str, ...] = DEFAULT_NO_DECAY
    elif isinstance(value, str):
        if value not in NO_DECAY_RULES:
            hint = f" (did you mean `({value!r},)`?)" if value in NO_DECAY_KINDS else ""
            raise ValueError(
                f"{where}: Expected `no_decay` to be {accepted} but got {value!r}"
                f"{hint or did_you_mean(value, NO_DECAY_RULES)}."
            )
        kinds = (value,)
    elif isinstance(value, (tuple, list)) and value and all(isinstance(k, str) for k in value):
        for kind in value:
            if kind not in NO_DECAY_KINDS:
                raise ValueError(
                    f"{where}: Expected each `no_decay` entry to be one of {listing(NO_DECAY_KINDS)} but got "
                    f"{kind!r}{did_you_mean(kind, NO_DECAY_KINDS)}."
                )
        kinds = tuple(dict.fromkeys(value))
    else:
        raise TypeError(f"{where}: Expected `no_decay` to be {accepted} but got {value!r}.")
    if "weight_decay" not in group_options:
        raise ValueError(
            f"{where}: `no_decay` sets `weight_decay=0.0` on some groups, but `{optimizer}` has no "
            f"`weight_decay` option. Its per-group options: {listing(sorted(group_options))}."
        )
    return kinds


def transformers_no_decay(name: str, holders: Sequence[nn.Module]) -> bool:
    """transformers' ``Trainer`` rule: no decay for a parameter named ``name`` held by ``holders``.

    ``holders`` are the modules on the parameter's path below the root (``a`` and ``a.b`` for
    ``a.b.weight``). transformers 5.24, ``Trainer.get_decay_parameter_names`` (transformers/trainer.py)
    calls ``get_parameter_names(model, [nn.LayerNorm], forbidden_name_patterns)``
    (transformers/trainer_pt_utils.py): a parameter decays unless one of its holders is an ``nn.LayerNorm``
    or its lower-cased name contains ``bias`` (so ``in_proj_bias`` too), ``layernorm``, ``rmsnorm``, a
    ``norm`` segment or a ``_norm`` segment end.

    Example:
        >>> transformers_no_decay("attn.in_proj_bias", []), transformers_no_decay("ln.weight", [nn.LayerNorm(2)])
        (True, True)
        >>> transformers_no_decay("encoder.LayerNorm.weight", []), transformers_no_decay("norm_f.weight", [])
        (True, False)
    """
    lowered = name.lower()
    return any(isinstance(m, TRANSFORMERS_NO_DECAY_LAYERS) for m in holders) or any(
        pattern.search(lowered) for pattern in TRANSFORMERS_NO_DECAY_PATTERNS
    )


def timm_no_decay(name: str, ndim: int, no_weight_decay: Sequence[str]) -> bool:
    """timm's rule: ``ndim <= 1``, a name ending in ``.bias``, or a name matching ``no_weight_decay``.

    timm (huggingface/pytorch-image-models at aa4b5850c154), timm/optim/_param_groups.py,
    ``param_groups_weight_decay``: ``param.ndim <= 1 or name.endswith(".bias")`` or
    ``_matches_pattern(name, no_weight_decay_list)`` (``fnmatch``: exact names or globs), where
    ``create_optimizer_v2`` (timm/optim/_optim_factory.py) passes the model's ``no_weight_decay()``.

    Example:
        >>> timm_no_decay("pos_embed", 3, ["pos_embed", "cls_token"]), timm_no_decay("blocks.0.fc.weight", 2, [])
        (True, False)
    """
    return (
        name.endswith(".bias")
        or any(fnmatch.fnmatchcase(name, pattern) for pattern in no_weight_decay)
        or ndim <= 1
    )


def nanogpt_no_decay(ndim: int) -> bool:
    """nanoGPT's rule: no decay for a tensor of fewer than 2 dimensions (biases, norm weights).

    karpathy/nanoGPT, model.py, ``GPT.configure_optimizers``: every trainable parameter of
    ``named_parameters()`` with ``p.dim() >= 2`` decays (the matmul weights and the embeddings, so also the
    token embedding that nanoGPT ties to ``lm_head``), every other one gets ``weight_decay=0.0``. The same
    parameters as the ``"1d"`` kind; named for the port.

    Example:
        >>> nanogpt_no_decay(torch.zeros(8).ndim), nanogpt_no_decay(torch.zeros(32, 8).ndim)
        (True, False)
    """
    return ndim < 2


def _ndim(name: str, param: torch.Tensor, rule: str) -> int:
    """``param.ndim`` for the shape-reading rule ``rule``; a lazy module's parameter, whose ``ndim`` reads 1
    before its first forward whatever the layer becomes, is refused (``refuse_unknown_shape``)."""
    instead = "choose by names and types (`no_decay=True`, or a `ParamGroup` with `weight_decay=0.0`)"
    refuse_unknown_shape(param, f"`{name}`", f"the `no_decay` rule {rule!r}, which reads `ndim`", instead)
    return param.ndim


def declared_no_weight_decay(where: str, named: NamedParameters) -> list[str]:
    """The names (or globs) the module's ``no_weight_decay()`` methods list, as names in the whole module.

    timm asks the model it is given. Here that model may sit inside the ``LightningModule``
    (``self.model = timm.create_model(...)``), so every module that defines ``no_weight_decay`` is asked and
    its names are prefixed with the module's path, as EVA-CLIP does for its towers (``'visual.' + n``). With
    only the root defining it, this is timm's list exactly.
    """
    patterns: list[str] = []
    for path, module in named.modules:
        method = getattr(module, "no_weight_decay", None)
        if not callable(method):
            continue
        listed = method()
        if (
            isinstance(listed, str)
            or not isinstance(listed, Iterable)
            or not all(isinstance(n, str) for n in listed)
        ):
            raise TypeError(
                f"{where}: Expected `{type(module).__name__}.no_weight_decay()` to return a collection of "
                f"parameter names but got {listed!r}."
            )
        patterns += [f"{path}.{n}" if path else n for n in listed]
    return patterns


def no_decay_ids(named: NamedParameters, kinds: Sequence[str], where: str = "no_decay") -> set[int]:
    """The ids of the trainable parameters that get no weight decay, by the listed kinds and rules.

    ``"norm"`` and ``"embedding"`` go by module type (every parameter the layer computes its tensors from,
    ``layer_parameters``), ``"bias"`` by name (``is_bias``), ``"1d"`` by shape; ``"transformers"``, ``"timm"``
    and ``"nanogpt"`` are those sources' rules. The rules by name read the layer's name of a reparametrized
    parameter (``layer_name``) and the rules by shape the layer's tensor's ``ndim``: the largest of the
    parameters it is computed from (``weight_norm`` over the whole tensor keeps a 0-dim g beside a v of its shape).
    """
    ids: set[int] = set()
    if "norm" in kinds or "embedding" in kinds:
        for _, module in named.modules:
            if ("norm" in kinds and is_norm_layer(module)) or (
                "embedding" in kinds and isinstance(module, EMBEDDING_LAYERS)
            ):
                ids.update(id(p) for p in layer_parameters(module))
    modules: Mapping[str, nn.Module] = dict(named.modules)
    layers = {name: layer_name(name, modules) for name, _ in named.items}
    computed_from: dict[str, list[tuple[str, torch.Tensor]]] = {}
    for name, param in named.items:
        computed_from.setdefault(layers[name], []).append((name, param))

    def ndim(name: str, rule: str) -> int:
        return max(_ndim(n, p, rule) for n, p in computed_from[layers[name]])

    listed = declared_no_weight_decay(where, named) if "timm" in kinds else []
    with prefixed(where):
        for name, param in named.items:
            layer = layers[name]
            if id(param) not in ids and (  # the rules by name and type first: they need no shape
                ("bias" in kinds and is_bias(layer))
                or ("transformers" in kinds and transformers_no_decay(layer, _holders(layer, modules)))
                or ("timm" in kinds and timm_no_decay(layer, ndim(name, "timm"), listed))
                or ("1d" in kinds and ndim(name, "1d") <= 1)
                or ("nanogpt" in kinds and nanogpt_no_decay(ndim(name, "nanogpt")))
            ):
                ids.add(id(param))
    return ids


def _holders(name: str, modules: Mapping[str, nn.Module]) -> list[nn.Module]:
    """The modules on the path of parameter ``name`` below the root (``a``, ``a.b`` for ``a.b.weight``)."""
    parts = name.split(".")[:-1]
    paths = (".".join(parts[: i + 1]) for i in range(len(parts)))
    return [modules[path] for path in paths if path in modules]


def split_no_decay(parameters: Parameters, ids: set[int]) -> tuple[list[Any], list[Any]]:
    """``(decayed, not decayed)``, each in the given order."""
    decay = [(n, p) for n, p in parameters if id(p) not in ids]
    return decay, [(n, p) for n, p in parameters if id(p) in ids]


@dataclass(frozen=True)
class NoDecay:
    """The ``no_decay`` recipe."""

    options: tuple[str, ...] = ("no_decay",)

    def check(
        self, where: str, values: Mapping[str, Any], optimizer: str, group_options: frozenset[str]
    ) -> tuple[str, ...] | None:
        return _check_no_decay(where, values["no_decay"], optimizer, group_options) or None

    def apply(
        self, settings: tuple[str, ...], context: RecipeContext, groups: Sequence[GroupPlan]
    ) -> list[GroupPlan]:
        excluded = no_decay_ids(context.named, settings, context.where)
        split = []
        for group in groups:
            decay, no_decay = split_no_decay(group.parameters, excluded)
            halves = [
                group.split(group.name or "decay", decay),
                group.split(joined_name(group.name, "no_decay"), no_decay, weight_decay=0.0),
            ]
            if "timm" in settings:  # timm's ``param_groups_weight_decay`` returns ``[no_decay, decay]``
                halves.reverse()
            split += [half for half in halves if half.parameters]
        return split

    def first_parameter_order(self, settings: tuple[str, ...], context: RecipeContext) -> None:
        return None


def decay_left_out(
    where: str,
    no_decay: Any,
    optimizer: str,
    decays: Sequence[tuple[str, Any, bool]],
    group_decays: Sequence[Any],
    schedule: str | None = None,
    read_at_fit: bool = False,
) -> str | None:
    """Why ``no_decay`` changes nothing, as the message refusing it, where every group's weight decay is 0: each
    argument a group may take its decay from (``decays``: its name, its value, whether it was declared rather than
    the optimizer's default; ``MuonWithAdamW``'s AdamW groups take ``adamw_weight_decay``), and each group's own.
    A split that leaves out a decay no parameter has is most often a forgotten ``weight_decay=`` (``SGD``'s default
    is 0): the run would train with no weight decay at all while it reads as decaying the weights. ``None`` where
    some group decays. ``schedule`` names a scheduler driving ``weight_decay`` (``CyclicLR``): the run decays, but
    the schedule drives every group, as none holds a decay that tells the groups ``no_decay`` leaves out.
    ``read_at_fit``: an ``HParam`` read when ``fit`` started decided the decays, so a 0 is the no-decay run of a
    sweep (one class for every point), which trains as its hand-written groups do; only the schedule's refusal,
    where the run would go wrong, stands.

    Example:
        >>> print(decay_left_out("M.optimizer", True, "SGD", [("weight_decay", 0, False)], []))
        M.optimizer: Expected a weight decay for `no_decay=True` to leave out but got `weight_decay=0` (`SGD`'s default) and no group giving one: `no_decay` changes nothing and every parameter trains without weight decay. Give the decay the other parameters get (`weight_decay=...`, e.g. `weight_decay=5e-4`), or remove `no_decay`.
        >>> decay_left_out("M.optimizer", True, "SGD", [("weight_decay", 0, False)], [0.1]) is None
        True
        >>> decay_left_out("M.optimizer", True, "MuonWithAdamW", [("weight_decay", 0.0, True), ("adamw_weight_decay", 0.01, False)], []) is None
        True
        >>> decay_left_out("M.optimizer", True, "AdamW", [("weight_decay", 0.0, True)], [], read_at_fit=True) is None
        True
    """
    if any(value != 0 for _, value, _ in decays) or any(decay != 0 for decay in group_decays):
        return None
    if read_at_fit and schedule is None:
        return None
    default = f"`{optimizer}`'s default"
    given = ", ".join(
        f"`{name}={value!r}` ({'declared' if declared else default})" for name, value, declared in decays
    )
    if schedule is not None:
        return (
            f"{where}: Expected a weight decay for `no_decay={no_decay!r}` to leave out but got {given} and no "
            f"group giving one, beside `{schedule}` driving `param='weight_decay'`: every group holds 0, so the "
            "schedule cannot tell the groups `no_decay` leaves out from the others and would decay them too. Give "
            "the optimizer a decay (`weight_decay=...`, e.g. `weight_decay=5e-4`; the schedule drives it) and the "
            "groups `no_decay` leaves out stay at 0, or remove `no_decay`."
        )
    return (
        f"{where}: Expected a weight decay for `no_decay={no_decay!r}` to leave out but got {given} and no group "
        "giving one: `no_decay` changes nothing and every parameter trains without weight decay. Give the decay "
        "the other parameters get (`weight_decay=...`, e.g. `weight_decay=5e-4`), or remove `no_decay`."
    )
