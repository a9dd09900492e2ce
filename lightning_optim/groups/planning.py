"""Which parameters each declared optimizer trains, and how they split into its param groups.

Plain data in, ``GroupPlan``s out: a ``Grouping`` says what one optimizer selects, its declared groups and
its recipes; ``plan_all`` matches them against a module's trainable parameters, by the user's names, in
declaration order. Nothing here builds an optimizer: the plans are what ``fit``, the preview and
``describe_optimizers`` build from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lightning_optim.groups.plan import LEFTOVER_GROUP, DeclaredGroup, GroupPlan
from lightning_optim.groups.recipes import Recipe, RecipeContext
from lightning_optim.groups.selection import NamedParameters, Selector, select, select_or_none
from lightning_optim.utilities.errors import listing


@dataclass(frozen=True)
class Grouping:
    """What one declared optimizer selects and how its parameters are grouped."""

    attribute: str
    #: where messages point (``Model.optimizer``)
    where: str
    #: its ``params`` selector; ``None``: every trainable parameter no other optimizer takes
    params: Selector | None
    groups: Sequence[DeclaredGroup]
    #: the recipes that are on, each with its checked settings, in the order applied
    recipes: Sequence[tuple[Recipe, Any]]
    #: the optimizer's defaults with the declared options applied (what recipes read)
    defaults: Mapping[str, Any]


def assign_parameters(
    named: NamedParameters, declared_all: Sequence[Grouping]
) -> dict[str, list[tuple[str, torch.nn.Parameter]]]:
    """Which trainable parameters each optimizer trains; overlaps and untrained parameters are errors.

    Explicit selectors are matched first; the optimizer declared with ``params=None`` (at most one) then
    takes every trainable parameter left. A trainable parameter that no optimizer trains is an error rather
    than a warning: it would silently stay at its initial value. Freeze it (``requires_grad_(False)``) or
    select it.
    """
    owner: dict[int, str] = {}
    assigned: dict[str, list[tuple[str, torch.nn.Parameter]]] = {}
    for declared in declared_all:
        if declared.params is None:
            continue
        chosen = select(named, declared.params, where=declared.where, option="params")
        for name, param in chosen:
            other = owner.get(id(param))
            if other is not None:
                raise ValueError(
                    f"{declared.where}: parameter `{name}` is selected by both `{other}` and `{declared.attribute}`; "
                    "each parameter must be trained by exactly one optimizer. Narrow one of the `params` selectors."
                )
            owner[id(param)] = declared.attribute
        assigned[declared.attribute] = chosen
    rest = [(name, p) for name, p in named.items if id(p) not in owner]
    catch_all = [declared for declared in declared_all if declared.params is None]
    if catch_all:
        declared = catch_all[0]
        if not rest:
            raise ValueError(
                f"{declared.where}: `params=None` takes the trainable parameters no other optimizer takes, "
                "but none are left."
            )
        assigned[declared.attribute] = rest
    elif rest:
        names = [name for name, _ in rest]
        shown = listing(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        raise ValueError(
            f"{declared_all[0].where.rsplit('.', 1)[0]}: trainable parameter(s) {shown} are trained by no declared "
            "optimizer. Select them in an optimizer's `params`, declare one optimizer with `params=None`, "
            "or freeze them with `requires_grad_(False)`."
        )
    return assigned


def plan_groups(
    named: NamedParameters,
    declared: Grouping,
    parameters: Sequence[tuple[str, torch.nn.Parameter]],
    trained_by: Mapping[int, str] | None = None,
) -> list[GroupPlan]:
    """Split one optimizer's parameters into its declared groups, in order, plus the leftover group.

    Each group takes the matching parameters that no earlier group took; the parameters no group takes form
    the last group, ``rest``, with the optimizer's own options. ``trained_by`` (``id(param)`` to the attribute
    of the optimizer that trains it) lets a group that selects another optimizer's parameters say so. The recipes then split every group: by
    block depth (``layer_decay``, names ``<group>/layer_<depth>``) and into decayed and not decayed halves
    (``no_decay``, ``<group>`` and ``<group>/no_decay``); halves left empty are dropped.
    """
    groups = _declared_groups(named, declared, parameters, trained_by or {})
    root = named.modules[0][1] if named.modules else None
    context = RecipeContext(declared.where, named, declared.defaults, root, parameters)
    for recipe, settings in declared.recipes:
        groups = recipe.apply(settings, context, groups)
    names = [g.name for g in groups]
    duplicates = sorted(n for n, count in Counter(names).items() if n is not None and count > 1)
    if duplicates:
        raise ValueError(
            f"{declared.where}: Expected unique param group names but {listing(duplicates)} name more than "
            f"one group (groups in order: {listing(str(n) for n in names)}). "
            "Give the declared groups distinct `name=`s."
        )
    return groups


def _declared_groups(
    named: NamedParameters,
    declared: Grouping,
    parameters: Sequence[tuple[str, torch.nn.Parameter]],
    trained_by: Mapping[int, str],
) -> list[GroupPlan]:
    if not declared.groups:
        return [GroupPlan(name=None, parameters=parameters, options={})]
    owner: dict[int, str] = {}
    groups: list[GroupPlan] = []
    for index, group in enumerate(declared.groups):
        where = f"{declared.where}.groups[{index}]"
        remaining = [(n, p) for n, p in parameters if id(p) not in owner]
        try:
            chosen = select(named, group.select, where=where, option="select", among=remaining)
        except ValueError:
            taken = select_or_none(named, group.select, where=where, option="select", among=parameters)
            if not taken:
                _raise_if_elsewhere(named, declared, group.select, where, trained_by)
                raise
            earlier = listing(dict.fromkeys(owner[id(p)] for _, p in taken if id(p) in owner))
            raise ValueError(
                f"{where}: `select={group.select!r}` matches only parameters already taken by the "
                f"earlier group(s) {earlier}; a parameter goes to the first group that selects it. "
                "Reorder the groups or narrow the earlier selector."
            ) from None
        name = group.name or f"pg{index + 1}"
        owner.update((id(p), name) for _, p in chosen)
        groups.append(GroupPlan(name=name, parameters=chosen, options=group.options, scales=group.scales))
    leftover = [(n, p) for n, p in parameters if id(p) not in owner]
    if leftover:
        groups.append(GroupPlan(name=LEFTOVER_GROUP, parameters=leftover, options={}))
    return groups


def _raise_if_elsewhere(
    named: NamedParameters,
    declared: Grouping,
    selector: Any,
    where: str,
    trained_by: Mapping[int, str],
) -> None:
    """A group that selects only parameters another optimizer trains: name that optimizer and the fix."""
    elsewhere = select_or_none(named, selector, where=where, option="select")
    owners = list(dict.fromkeys(trained_by[id(p)] for _, p in elsewhere if id(p) in trained_by))
    if not owners:
        return
    names = [name for name, _ in elsewhere]
    shown = listing(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    theirs = "optimizer " + listing(owners) if len(owners) == 1 else "optimizers " + listing(owners)
    params = "" if declared.params is None else f" (`params={declared.params!r}`)"
    raise ValueError(
        f"{where}: `select={selector!r}` matches only parameters trained by {theirs} ({shown}), not by "
        f"`{declared.attribute}`{params}; a param group splits its own optimizer's parameters. Declare the group in "
        f"the `groups` of {listing(owners)}, or move the parameters to `{declared.attribute}` by changing the "
        "`params` selectors."
    ) from None


def as_torch_groups(groups: Sequence[GroupPlan]) -> list[dict[str, Any]]:
    """The torch param groups of ``groups``; each carries its ``"name"`` when there are several."""
    return [g.as_torch_group(named=len(groups) > 1) for g in groups]


def apply_scales(optimizer: torch.optim.Optimizer, groups: Sequence[GroupPlan]) -> None:
    """Multiply each built group's options by its plan's ``scales`` (layer decay, ``lr_mult``, ...).

    Applied to the values the optimizer put in its groups, so a scale is relative to each group's own base
    (``MuonWithAdamW``'s AdamW groups start from ``adamw_lr``); call it before any scheduler reads ``lr``.
    """
    for group, declared in zip(optimizer.param_groups, groups, strict=True):
        for key, factor in declared.scales.items():
            group[key] = group[key] * factor


def plan_all(module: torch.nn.Module, declared_all: Sequence[Grouping]) -> list[list[GroupPlan]]:
    """Select each declared optimizer's parameters and plan its groups, in declaration order."""
    named = NamedParameters.of(module)
    assigned = assign_parameters(named, declared_all)
    trained_by = {id(p): attribute for attribute, pairs in assigned.items() for _, p in pairs}
    return [
        plan_groups(named, declared, assigned[declared.attribute], trained_by) for declared in declared_all
    ]
