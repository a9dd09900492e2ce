"""Built-in param group recipes, one helper per idea (as timm's ``optim/_param_groups.py``).

- ``no_decay``: no weight decay for biases, normalization layers and embeddings, like transformers'
  ``Trainer`` (``get_parameter_names(model, ALL_LAYERNORM_LAYERS)`` plus ``"bias"``) and timm's
  ``param_groups_weight_decay`` (``ndim <= 1`` or ``.bias``).
- ``layer_decay``: layer-wise lr decay for stacked blocks, the BEiT/ViT fine-tuning recipe (timm's
  ``param_groups_layer_decay``): ``lr * decay ** (num_blocks + 1 - depth)``.

Both are linear in the number of parameter tensors and work on the user's names (``NamedParameters``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from lightning_optim._errors import did_you_mean, listing
from lightning_optim._selection import NamedParameters

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

Parameters = Sequence[tuple[str, torch.nn.Parameter]]


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


def check_recipes(
    where: str, spec: Any, optimizer: str, group_options: frozenset[str]
) -> tuple[tuple[str, ...], float | None, str | None]:
    """Check an ``OptimizerSpec``'s recipe arguments; return ``(no_decay kinds, layer_decay, blocks)``."""
    return (
        _check_no_decay(where, spec.no_decay, optimizer, group_options),
        *_check_layer_decay(where, spec.layer_decay, spec.layer_decay_blocks),
    )


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
