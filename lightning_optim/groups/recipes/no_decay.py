"""``no_decay``: no weight decay for biases, normalization layers and embeddings.

Like transformers' ``Trainer`` (``get_parameter_names(model, ALL_LAYERNORM_LAYERS)`` plus ``"bias"``) and timm's
``param_groups_weight_decay`` (``ndim <= 1`` or ``.bias``). Each group is split in two: ``<group>`` keeps its
decay, ``<group>/no_decay`` gets ``weight_decay=0.0``; a half left empty is dropped. Linear in the number of
parameter tensors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from lightning_optim.groups.plan import GroupPlan, Parameters, joined_name
from lightning_optim.groups.recipes.base import RecipeContext
from lightning_optim.groups.selection import NamedParameters
from lightning_optim.utilities.errors import did_you_mean, listing

#: What ``no_decay`` may list; ``no_decay=True`` means ``DEFAULT_NO_DECAY``.
NO_DECAY_KINDS = ("bias", "norm", "embedding", "1d")
DEFAULT_NO_DECAY = ("bias", "norm", "embedding")

#: Every ``torch.nn`` normalization layer with parameters (and the parameter-free ones, for completeness).
NORM_LAYERS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,  # BatchNorm1d/2d/3d, their Lazy forms, SyncBatchNorm, InstanceNorm*
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    nn.CrossMapLRN2d,
    *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),
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


def _check_no_decay(where: str, value: Any, optimizer: str, group_options: frozenset[str]) -> tuple[str, ...]:
    if value is False:
        return ()
    if value is True:
        kinds: tuple[str, ...] = DEFAULT_NO_DECAY
    elif isinstance(value, (tuple, list)) and value and all(isinstance(k, str) for k in value):
        for kind in value:
            if kind not in NO_DECAY_KINDS:
                raise ValueError(
                    f"{where}: Expected each `no_decay` entry to be one of {listing(NO_DECAY_KINDS)} but got "
                    f"{kind!r}{did_you_mean(kind, NO_DECAY_KINDS)}."
                )
        kinds = tuple(dict.fromkeys(value))
    else:
        raise TypeError(
            f"{where}: Expected `no_decay` to be a bool or a non-empty tuple of {listing(NO_DECAY_KINDS)} "
            f"but got {value!r}."
        )
    if "weight_decay" not in group_options:
        raise ValueError(
            f"{where}: `no_decay` sets `weight_decay=0.0` on some groups, but `{optimizer}` has no "
            f"`weight_decay` option. Its per-group options: {listing(sorted(group_options))}."
        )
    return kinds


def no_decay_ids(named: NamedParameters, kinds: Sequence[str]) -> set[int]:
    """The ids of the trainable parameters that get no weight decay, by the listed kinds.

    ``"norm"`` and ``"embedding"`` go by module type (every parameter the layer itself holds), ``"bias"`` by
    name, ``"1d"`` by shape.
    """
    ids: set[int] = set()
    if "norm" in kinds or "embedding" in kinds:
        for _, module in named.modules:
            if ("norm" in kinds and is_norm_layer(module)) or (
                "embedding" in kinds and isinstance(module, EMBEDDING_LAYERS)
            ):
                ids.update(id(p) for p in module.parameters(recurse=False))
    for name, param in named.items:
        if ("bias" in kinds and (name == "bias" or name.endswith(".bias"))) or (
            "1d" in kinds and param.ndim <= 1
        ):
            ids.add(id(param))
    return ids


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
        excluded = no_decay_ids(context.named, settings)
        split = []
        for group in groups:
            decay, no_decay = split_no_decay(group.parameters, excluded)
            if decay:
                split.append(GroupPlan(name=group.name or "decay", parameters=decay, options=group.options))
            if no_decay:
                options = {**group.options, "weight_decay": 0.0}
                split.append(GroupPlan(joined_name(group.name, "no_decay"), no_decay, options))
        return split
