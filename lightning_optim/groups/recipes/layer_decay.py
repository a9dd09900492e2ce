"""``layer_decay``: layer-wise lr decay for stacked blocks, the BEiT/ViT fine-tuning recipe.

Block ``i`` of ``L`` gets ``lr * decay ** (L - i)``; parameters registered before the blocks (embeddings)
get ``lr * decay ** (L + 1)`` and those after them (final norm, head) the full ``lr`` (BEiT's
``get_num_layer_for_vit``). The scale is baked into each group's ``lr``, so any scheduler keeps the ratios.
Each group is split by depth into ``<group>/layer_<depth>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from lightning_optim.groups.plan import GroupPlan, Parameters, joined_name
from lightning_optim.groups.recipes.base import RecipeContext
from lightning_optim.groups.selection import NamedParameters
from lightning_optim.utilities.errors import did_you_mean


def _check_layer_decay(where: str, decay: Any, blocks: Any) -> tuple[float | None, str | None]:
    if decay is None:
        if blocks is not None:
            raise ValueError(
                f"{where}: `layer_decay_blocks={blocks!r}` only applies with `layer_decay`; "
                "add `layer_decay=<factor>` or remove it."
            )
        return None, None
    number = isinstance(decay, (int, float)) and not isinstance(decay, bool)
    if not number or not math.isfinite(decay) or not 0.0 < decay <= 1.0:
        raise ValueError(f"{where}: Expected `layer_decay` to be a float in (0, 1] but got {decay!r}.")
    if not isinstance(blocks, str) or not blocks:
        raise ValueError(
            f"{where}: `layer_decay` needs `layer_decay_blocks`, the submodule path of the stacked blocks "
            f"(a ModuleList or Sequential, e.g. `layer_decay_blocks='blocks'`), but got {blocks!r}."
        )
    return float(decay), blocks


def layer_depths(
    where: str, named: NamedParameters, blocks_path: str, parameters: Parameters
) -> tuple[dict[int, int], int]:
    """The depth of each parameter (by id) and the number of blocks, BEiT's ``get_num_layer_for_vit``.

    Block ``i`` is depth ``i + 1``; parameters registered before the first block's (embeddings, tokens) are
    depth 0 and those after the blocks (final norm, head) depth ``num_blocks + 1``.
    """
    modules: Mapping[str, nn.Module] = dict(named.modules)  # the innermost module wins a shared wrapped name
    blocks = modules.get(blocks_path)
    if blocks is None:
        raise ValueError(
            f"{where}: Expected `layer_decay_blocks` to be a submodule path but got {blocks_path!r}, which "
            f"is not a submodule{did_you_mean(blocks_path, named.submodules)}."
        )
    if not isinstance(blocks, (nn.ModuleList, nn.Sequential)) or len(blocks) == 0:
        got = "an empty one" if isinstance(blocks, (nn.ModuleList, nn.Sequential)) else type(blocks).__name__
        raise ValueError(
            f"{where}: Expected `layer_decay_blocks={blocks_path!r}` to be a non-empty ModuleList or "
            f"Sequential of blocks but got {got}."
        )
    index = {name: i for i, (name, _) in enumerate(blocks.named_children())}
    prefix = blocks_path + "."
    depths: dict[int, int] = {}
    after = False
    for name, param in parameters:
        if name.startswith(prefix):
            depths[id(param)] = index[name[len(prefix) :].split(".", 1)[0]] + 1
            after = True
        else:
            depths[id(param)] = len(blocks) + 1 if after else 0
    if not after:
        raise ValueError(
            f"{where}: `layer_decay_blocks={blocks_path!r}` holds none of this optimizer's trainable "
            "parameters; name the blocks this optimizer trains."
        )
    return depths, len(blocks)


def layer_scale(decay: float, depth: int, num_blocks: int) -> float:
    """BEiT's scale: ``decay ** (num_blocks + 1 - depth)`` (1 for the head, the smallest for embeddings).

    Example:
        >>> [layer_scale(0.5, depth, num_blocks=2) for depth in range(4)]
        [0.125, 0.25, 0.5, 1.0]
    """
    return decay ** (num_blocks + 1 - depth)


def split_by_depth(parameters: Parameters, depths: Mapping[int, int]) -> list[tuple[int, list[Any]]]:
    """``(depth, parameters)`` for each depth present, shallowest first, each in the given order."""
    by_depth: dict[int, list[Any]] = {}
    for name, param in parameters:
        by_depth.setdefault(depths[id(param)], []).append((name, param))
    return sorted(by_depth.items(), key=lambda item: item[0])


@dataclass(frozen=True)
class LayerDecay:
    """The ``layer_decay`` recipe (with ``layer_decay_blocks``)."""

    options: tuple[str, ...] = ("layer_decay", "layer_decay_blocks")

    def check(
        self, where: str, values: Mapping[str, Any], optimizer: str, group_options: frozenset[str]
    ) -> tuple[float, str] | None:
        decay, blocks = _check_layer_decay(where, values["layer_decay"], values["layer_decay_blocks"])
        return None if decay is None or blocks is None else (decay, blocks)

    def apply(
        self, settings: tuple[float, str], context: RecipeContext, groups: Sequence[GroupPlan]
    ) -> list[GroupPlan]:
        decay, blocks = settings
        depths, num_blocks = layer_depths(context.where, context.named, blocks, context.parameters)
        return [
            GroupPlan(
                name=joined_name(group.name, f"layer_{depth}"),
                parameters=chosen,
                options={
                    **group.options,
                    "lr": group.options.get("lr", context.defaults["lr"])
                    * layer_scale(decay, depth, num_blocks),
                },
            )
            for group in groups
            for depth, chosen in split_by_depth(group.parameters, depths)
        ]
