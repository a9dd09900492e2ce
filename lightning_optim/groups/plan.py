"""``GroupPlan``: one torch param group to build, before any optimizer exists.

A plan sets some options outright (``weight_decay=0.0``) and scales others (``scales``: ``lr`` times a
layer-decay factor or an ``lr_mult``). A scale is applied to the value the built optimizer put in the
group, not to the declared default, because only the optimizer knows a group's base value (``MuonWithAdamW``
gives its AdamW groups ``adamw_lr``); ``planning.apply_scales`` multiplies ``param_groups[i][key]`` right after
the optimizer is built, before any scheduler reads ``lr``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from lightning_optim.groups.selection import Selector

#: ``(name, parameter)`` pairs, in the module's ``named_parameters()`` order.
Parameters = Sequence[tuple[str, torch.nn.Parameter]]

#: The name of the group of the parameters no declared group takes (with the optimizer's own options).
LEFTOVER_GROUP = "rest"


@dataclass(frozen=True)
class DeclaredGroup:
    """A checked ``ParamGroup``: its selector, its name (``None``: ``pg<n>``), options and scales."""

    select: Selector
    name: str | None
    options: Mapping[str, Any]
    #: ``lr_mult``/``decay_mult`` as factors of the built group's ``lr``/``weight_decay``
    scales: Mapping[str, float] = field(default_factory=dict)
    #: the name was given as ``name=`` (not taken from the selector)
    explicit_name: bool = False


@dataclass(frozen=True)
class GroupPlan:
    """One torch param group to build: its name, its parameters (by name), its options and its scales."""

    name: str | None
    parameters: Parameters
    options: Mapping[str, Any]
    #: factors for options of the built group (``{"lr": 0.42}``): ``param_groups[i][key] *= factor``
    scales: Mapping[str, float] = field(default_factory=dict)
    #: the index of the declared ``ParamGroup`` it comes from (``None``: the leftover group), for messages
    declared: int | None = None
    #: its name comes from a ``ParamGroup(name=...)``, so the torch group carries it even alone
    explicit_name: bool = False

    def scaled(self, key: str, factor: float) -> Mapping[str, float]:
        """``scales`` with ``key`` multiplied by ``factor`` (factors compose).

        Example:
            >>> GroupPlan("g", [], {}, {"lr": 0.5}).scaled("lr", 0.5)
            {'lr': 0.25}
        """
        return {**self.scales, key: self.scales.get(key, 1.0) * factor}

    def split(self, name: str | None, parameters: Parameters, **options: Any) -> GroupPlan:
        """A part of this group: its options (updated with ``options``) and scales, with another name."""
        return replace(self, name=name, parameters=parameters, options={**self.options, **options})

    def as_torch_group(self, named: bool) -> dict[str, Any]:
        """The torch param group; it carries ``"name"`` when ``named`` or when the user gave the name.

        Example:
            >>> GroupPlan("head", [], {}).as_torch_group(named=False)
            {'params': []}
            >>> GroupPlan("head", [], {}, explicit_name=True).as_torch_group(named=False)
            {'params': [], 'name': 'head'}
        """
        group: dict[str, Any] = {"params": [p for _, p in self.parameters], **self.options}
        if (named or self.explicit_name) and self.name is not None:
            group["name"] = self.name
        return group


def joined_name(*parts: str | None) -> str:
    """A group name from the parts that are set, joined by ``/``.

    Example:
        >>> joined_name("encoder", "no_decay"), joined_name(None, "layer_2")
        ('encoder/no_decay', 'layer_2')
    """
    return "/".join(p for p in parts if p)


def in_first_parameter_order(
    parts: Sequence[GroupPlan], groups: Sequence[GroupPlan], scopes: Mapping[int, int] | None = None
) -> list[GroupPlan]:
    """``parts``, the splits of ``groups``, by the group each comes from, then by the scope of its first parameter
    (``scopes``: ``id(param)`` to its scope's rank, 0 where absent), then by where its first parameter is in that
    group: the order of a source that fills a dict of groups as it meets the parameters (timm's
    ``param_groups_layer_decay``, BEiT's ``get_parameter_groups``, keyed by layer and decay), one dict per scope
    (EVA-CLIP's towers).

    Example:
        >>> a, b, c = (torch.nn.Parameter(torch.zeros(1)) for _ in range(3))
        >>> group = GroupPlan("g", [("a", a), ("b", b), ("c", c)], {})
        >>> parts = [group.split("1", [("b", b)]), group.split("0", [("a", a), ("c", c)])]
        >>> [part.name for part in in_first_parameter_order(parts, [group])]
        ['0', '1']
        >>> [part.name for part in in_first_parameter_order(parts, [group], {id(a): 1})]
        ['1', '0']
    """
    position = {id(p): (g, i) for g, group in enumerate(groups) for i, (_, p) in enumerate(group.parameters)}
    scopes = scopes or {}

    def first(part: GroupPlan) -> tuple[int, int, int]:
        group, index = position[id(part.parameters[0][1])]
        return group, scopes.get(id(part.parameters[0][1]), 0), index

    return sorted(parts, key=first)
