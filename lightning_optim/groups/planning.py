"""Which parameters each declared optimizer trains, and how they split into its param groups.

Plain data in, ``GroupPlan``s out: a ``Grouping`` says what one optimizer selects, its declared groups and
its recipes; ``plan_all`` matches them against a module's trainable parameters, by the user's names, in
declaration order. Nothing here builds an optimizer: the plans are what ``fit``, the preview and
``describe_optimizers`` build from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, MutableSequence, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import torch

from lightning_optim.groups.plan import LEFTOVER_GROUP, DeclaredGroup, GroupPlan, in_first_parameter_order
from lightning_optim.groups.recipes import Recipe, RecipeContext
from lightning_optim.groups.selection import (
    NamedParameters,
    Selector,
    check_items,
    is_pattern,
    item_no_match_message,
    list_items,
    names_matched,
    no_match_message,
    select,
    select_or_none,
)
from lightning_optim.utilities.errors import listing
from lightning_optim.utilities.lazy import ShapeUnknownError, is_uninitialized


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


@dataclass(frozen=True)
class Overlap:
    """Parameters that a declared group also selects but an earlier group took (the first match wins), which
    therefore miss options this group sets and the earlier one does not."""

    where: str
    select: Selector
    #: the earlier group, as ``groups[<index>]``
    earlier: str
    earlier_select: Selector
    parameters: tuple[str, ...]
    #: the earlier group's options and scales, which the parameters keep
    kept: Mapping[str, str]
    #: this group's options and scales that the earlier group does not set: the parameters do not get them
    missed: Mapping[str, str]

    def message(self) -> str:
        names = listing(self.parameters, limit=4)
        kept = ", ".join(self.kept.values()) or "none: the optimizer's own"
        return (
            f"{self.where}: `select={self.select!r}` also matches {names}, which `{self.earlier}` "
            f"(`select={self.earlier_select!r}`) took first: a parameter goes to the first group that selects "
            f"it, so they keep `{self.earlier}`'s options ({kept}) and do not get "
            f"{', '.join(self.missed.values())} from this group. Reorder the groups, narrow a selector, or set "
            "the option on the earlier group too if that is not what you meant."
        )


def _settings(group: DeclaredGroup) -> dict[str, str]:
    """A group's options and scales, keyed by the option they set, in words (``lr=1e-05``, ``lr`` scaled by 0.1)."""
    settings = {key: f"`{key}={value!r}`" for key, value in group.options.items()}
    for key, factor in group.scales.items():
        settings[key] = (
            f"`{key}` scaled by {factor!r}"
            if key not in settings
            else f"{settings[key]} scaled by {factor!r}"
        )
    return settings


def assign_parameters(
    named: NamedParameters, declared_all: Sequence[Grouping]
) -> dict[str, list[tuple[str, torch.nn.Parameter]]]:
    """Which trainable parameters each optimizer trains; overlaps and untrained parameters are errors.

    Explicit selectors are matched first; the optimizer declared with ``params=None`` (at most one) then
    takes every trainable parameter left. A trainable parameter that no optimizer trains is an error rather
    than a warning: it would silently stay at its initial value. Freeze it (``requires_grad_(False)``) or
    select it.
    """
    owner: dict[int, Grouping] = {}
    assigned: dict[str, list[tuple[str, torch.nn.Parameter]]] = {}
    for declared in declared_all:
        if declared.params is None:
            continue
        check_items(named, declared.params, where=declared.where, option="params")
        chosen = select(named, declared.params, where=declared.where, option="params")
        for name, param in chosen:
            other = owner.get(id(param))
            if other is not None:
                raise ValueError(_selected_twice(named, name, param, other, declared))
            owner[id(param)] = declared
        assigned[declared.attribute] = chosen
    rest = [(name, p) for name, p in named.items if id(p) not in owner]
    catch_all = [declared for declared in declared_all if declared.params is None]
    if catch_all:
        declared = catch_all[0]
        if not rest and named.items:
            raise ValueError(
                f"{declared.where}: `params=None` takes the trainable parameters no other optimizer takes, "
                f"but none are left: {listing(assigned)} take all of them."
            )
        if not rest:
            raise ValueError(f"{declared.where}: {_none_trainable(named)}")
        assigned[declared.attribute] = rest
    elif rest:
        names = [name for name, _ in rest]
        shown = listing(names, limit=10)
        raise ValueError(
            f"{declared_all[0].where.rsplit('.', 1)[0]}: trainable parameter(s) {shown} are trained by no declared "
            "optimizer. Select them in an optimizer's `params`, declare one optimizer with `params=None`, "
            "or freeze them with `requires_grad_(False)`."
        )
    return assigned


def _selected_twice(
    named: NamedParameters, name: str, param: torch.nn.Parameter, first: Grouping, second: Grouping
) -> str:
    """Two optimizers select one parameter; for a tied one, under which of its names each reached it."""
    rule = "each parameter must be trained by exactly one optimizer. Narrow one of the `params` selectors."

    def reached(declared: Grouping) -> list[str]:
        if declared.params is None:  # never here: `params=None` takes only the parameters left
            return [name]
        return names_matched(named, declared.params, name, param, where=declared.where, option="params")

    pairs = [(first, reached(first)), (second, reached(second))]
    if all(names == [name] for _, names in pairs):
        return f"{second.where}: parameter `{name}` is selected by both `{first.attribute}` and `{second.attribute}`; {rule}"
    both = " and ".join(f"`{d.attribute}` (as {listing(names)})" for d, names in pairs)
    tied = " and ".join(f"`{n}`" for n in dict.fromkeys(n for _, names in pairs for n in names))
    return f"{second.where}: parameter `{name}` is selected by both {both}: {tied} are one tied Parameter, and {rule}"


def _none_trainable(named: NamedParameters) -> str:
    """Why a module offers its optimizers nothing: it has no parameters yet, or all of them are frozen."""
    root = named.modules[0][1] if named.modules else None
    frozen = sum(1 for _ in root.parameters()) if root is not None else 0
    expected = "Expected trainable parameters for this optimizer (`params=None` takes every one) but "
    if frozen:
        return (
            f"{expected}all {frozen} parameter tensors of the module are frozen (`requires_grad=False`). "
            "Unfreeze those to train before `fit` builds the optimizers."
        )
    return (
        f"{expected}the module has no parameters yet. Build its layers in `__init__`, `setup` or `configure_model`, "
        "which `fit` calls before it builds the optimizers."
    )


def plan_groups(
    named: NamedParameters,
    declared: Grouping,
    parameters: Sequence[tuple[str, torch.nn.Parameter]],
    trained_by: Mapping[int, str] | None = None,
    overlaps: MutableSequence[Overlap] | None = None,
) -> list[GroupPlan]:
    """Split one optimizer's parameters into its declared groups, in order, plus the leftover group.

    Each group takes the matching parameters that no earlier group took; the parameters no group takes form
    the last group, ``rest``, with the optimizer's own options. ``trained_by`` (``id(param)`` to the attribute
    of the optimizer that trains it) lets a group that selects another optimizer's parameters say so. The recipes then split every group: by
    block depth (``layer_decay``, names ``<group>/layer_<depth>``) and into decayed and not decayed halves
    (``no_decay``, ``<group>`` and ``<group>/no_decay``; ``no_decay="timm"`` puts the ``no_decay`` half first);
    halves left empty are dropped. With ``layer_decay`` the splits of each group come in the order their first
    parameters have in it, as timm's ``param_groups_layer_decay`` and BEiT's ``get_parameter_groups`` build them
    (with several stacks tower by tower, EVA-CLIP's ``get_all_parameters``).

    ``overlaps``, when given, receives every ``Overlap``: parameters a later group also selects but an earlier
    group took, missing an option the later group sets (what ``fit`` warns about). An earlier group setting
    every option of the later one is the deliberate "specific first, general after" order (the Muon recipe's
    embeddings before ``is_matrix``) and is not reported.
    """
    planned = groups = _declared_groups(named, declared, parameters, trained_by or {}, overlaps)
    root = named.modules[0][1] if named.modules else None
    context = RecipeContext(declared.where, named, declared.defaults, root, parameters)
    for recipe, settings in declared.recipes:
        groups = recipe.apply(settings, context, groups)
    orders = [recipe.first_parameter_order(settings, context) for recipe, settings in declared.recipes]
    if any(scopes is not None for scopes in orders):
        groups = in_first_parameter_order(groups, planned, {k: v for s in orders if s for k, v in s.items()})
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
    overlaps: MutableSequence[Overlap] | None = None,
) -> list[GroupPlan]:
    if not declared.groups:
        return [GroupPlan(name=None, parameters=parameters, options={})]
    owner: dict[int, str] = {}
    first_index: dict[int, int] = {}
    groups: list[GroupPlan] = []
    for index, group in enumerate(declared.groups):
        where = f"{declared.where}.groups[{index}]"
        remaining = [(n, p) for n, p in parameters if id(p) not in owner]
        # an item of a list must match a trainable parameter (a misspelt one would be dropped without a word);
        # one whose parameters an earlier group or another optimizer holds is not refused: a list shared by two
        # optimizers' groups (no-decay patterns), or general after a specific group, is meant as it is
        for item in list_items(group.select):
            if not select_or_none(named, item, where=where, option="select"):
                raise ValueError(
                    item_no_match_message(
                        named, group.select, item, where, "select", among=parameters, trained_by=trained_by
                    )
                )
        # not select(): its no-match error would be caught here with a callable's own, which the retry
        # below would raise a second time while handling the first
        chosen = select_or_none(named, group.select, where=where, option="select", among=remaining)
        if not chosen:
            _refuse_taking_nothing(
                named,
                declared,
                group.select,
                where=where,
                parameters=parameters,
                owner=owner,
                first_index=first_index,
                trained_by=trained_by,
            )
        name = group.name or f"pg{index + 1}"
        if overlaps is not None and index:
            overlaps.extend(_overlaps(named, declared, parameters, index, first_index, where))
        owner.update((id(p), name) for _, p in chosen)
        first_index.update((id(p), index) for _, p in chosen)
        groups.append(
            GroupPlan(
                name=name,
                parameters=chosen,
                options=group.options,
                scales=group.scales,
                declared=index,
                explicit_name=group.explicit_name,
            )
        )
    leftover = [(n, p) for n, p in parameters if id(p) not in owner]
    if leftover:
        groups.append(GroupPlan(name=LEFTOVER_GROUP, parameters=leftover, options={}))
    return groups


def _overlaps(
    named: NamedParameters,
    declared: Grouping,
    parameters: Sequence[tuple[str, torch.nn.Parameter]],
    index: int,
    first_index: Mapping[int, int],
    where: str,
) -> list[Overlap]:
    """The ``Overlap`` of group ``index`` with each earlier group, where it misses an option."""
    group = declared.groups[index]
    taken = [(n, p) for n, p in parameters if id(p) in first_index]
    try:
        matched = select_or_none(named, group.select, where=where, option="select", among=taken)
    except (
        ShapeUnknownError
    ):  # whether a shape rule would take a lazy parameter an earlier group took is unknown
        known = [(n, p) for n, p in taken if not is_uninitialized(p)]
        matched = select_or_none(named, group.select, where=where, option="select", among=known)
    by_earlier: dict[int, list[str]] = {}
    for name, p in matched:
        if id(p) in first_index:
            by_earlier.setdefault(first_index[id(p)], []).append(name)
    found = []
    settings = _settings(group)
    for earlier_index, names in by_earlier.items():
        earlier = declared.groups[earlier_index]
        kept = _settings(earlier)
        missed = {key: text for key, text in settings.items() if key not in kept}
        if missed:
            found.append(
                Overlap(
                    where=where,
                    select=group.select,
                    earlier=f"groups[{earlier_index}]",
                    earlier_select=earlier.select,
                    parameters=tuple(names),
                    kept=kept,
                    missed=missed,
                )
            )
    return found


def _refuse_taking_nothing(
    named: NamedParameters,
    declared: Grouping,
    selector: Selector,
    *,
    where: str,
    parameters: Sequence[tuple[str, torch.nn.Parameter]],
    owner: Mapping[int, str],
    first_index: Mapping[int, int],
    trained_by: Mapping[int, str],
) -> NoReturn:
    """Why ``selector`` takes no parameter left to its group: an earlier group (in ``owner``, by its index in
    ``first_index``) took what it matches of the optimizer's ``parameters``, under the same names or under
    other names of tied Parameters, another optimizer trains it, or it matches none (or only frozen ones)."""
    taken = select_or_none(named, selector, where=where, option="select", among=parameters)
    if taken:
        tied = _tied_to_earlier(named, declared, selector, where, taken, owner, first_index)
        if tied:
            more = f"; and {len(tied) - 3} more" if len(tied) > 3 else ""
            raise ValueError(
                f"{where}: `select={selector!r}` matches only parameters an earlier group took under another "
                f"name: {'; '.join(tied[:3])}{more}. A tied Parameter is trained once, with one set of options: "
                "select it in one group, under either name."
            )
        earlier = listing(dict.fromkeys(owner[id(p)] for _, p in taken if id(p) in owner))
        raise ValueError(
            f"{where}: `select={selector!r}` matches only parameters already taken by the earlier group(s) "
            f"{earlier}; a parameter goes to the first group that selects it. Reorder the groups or narrow the "
            "earlier selector."
        )
    _raise_if_elsewhere(named, declared, selector, where, trained_by)
    raise ValueError(
        no_match_message(named, selector, where, "select", among=parameters, trained_by=trained_by)
    )


def _tied_to_earlier(
    named: NamedParameters,
    declared: Grouping,
    selector: Selector,
    where: str,
    taken: Sequence[tuple[str, torch.nn.Parameter]],
    owner: Mapping[int, str],
    first_index: Mapping[int, int],
) -> list[str]:
    """For ``taken`` parameters that ``selector`` reaches only under other names than the earlier group that
    took each (a tied ``head.weight`` of ``embed.weight``), which names are one tied Parameter and which group
    took it; ``[]`` where it shares a name with that group, an ordinary overlap that reordering settles."""
    tied = []
    for name, param in taken:
        earlier = declared.groups[first_index[id(param)]].select
        ours = names_matched(named, selector, name, param, where=where, option="select")
        theirs = names_matched(named, earlier, name, param, where=where, option="select")
        if set(ours) & set(theirs):
            return []
        names = " and ".join(f"`{n}`" for n in dict.fromkeys([*theirs, *ours]))
        tied.append(f"{names} are one tied Parameter, taken by the earlier group `{owner[id(param)]}`")
    return tied


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
    shown = _first_names(elsewhere)
    theirs = "optimizer " + listing(owners) if len(owners) == 1 else "optimizers " + listing(owners)
    params = "" if declared.params is None else f" (`params={declared.params!r}`)"
    raise ValueError(
        f"{where}: `select={selector!r}` matches only parameters trained by {theirs} ({shown}), not by "
        f"`{declared.attribute}`{params}; a param group splits its own optimizer's parameters. Declare the group in "
        f"the `groups` of {listing(owners)}, or move the parameters to `{declared.attribute}` by changing the "
        "`params` selectors."
    ) from None


def as_torch_groups(groups: Sequence[GroupPlan]) -> list[dict[str, Any]]:
    """The torch param groups of ``groups``; each carries its ``"name"`` when there are several, and a group
    named by ``ParamGroup(name=...)`` also alone (Lightning's monitor keys a single named group by its name)."""
    return [g.as_torch_group(named=len(groups) > 1) for g in groups]


def apply_scales(optimizer: torch.optim.Optimizer, groups: Sequence[GroupPlan]) -> None:
    """Multiply each built group's options by its plan's ``scales`` (layer decay, ``lr_mult``, ...).

    Applied to the values the optimizer put in its groups, so a scale is relative to each group's own base
    (``MuonWithAdamW``'s AdamW groups start from ``adamw_lr``); call it before any scheduler reads ``lr``.
    """
    for group, declared in zip(optimizer.param_groups, groups, strict=True):
        for key, factor in declared.scales.items():
            group[key] = group[key] * factor


def plan_all(
    module: torch.nn.Module,
    declared_all: Sequence[Grouping],
    overlaps: MutableSequence[Overlap] | None = None,
) -> list[list[GroupPlan]]:
    """Select each declared optimizer's parameters and plan its groups, in declaration order (``overlaps``:
    see ``plan_groups``)."""
    named = NamedParameters.of(module)
    assigned = assign_parameters(named, declared_all)
    trained_by = {id(p): attribute for attribute, pairs in assigned.items() for _, p in pairs}
    plans = [
        plan_groups(named, declared, assigned[declared.attribute], trained_by, overlaps)
        for declared in declared_all
    ]
    _check_items_left_to_others(named, declared_all, plans, trained_by)
    return plans


def _check_items_left_to_others(
    named: NamedParameters,
    declared_all: Sequence[Grouping],
    plans: Sequence[Sequence[GroupPlan]],
    trained_by: Mapping[int, str],
) -> None:
    """An item of a group's list that matches only another optimizer's parameters is left to that optimizer: a
    list shared by both optimizers' groups (no-decay names) means it so, and a glob (``is_pattern``: a generic
    list's ``"*norm.weight"`` beside a critic with the only norm) is a rule over names, which takes what it
    meets. An item naming the parameters exactly where none of that optimizer's declared groups takes them meant
    them for this group: they would train at that optimizer's own options, without a word: refused."""
    in_groups = {id(p) for plan in plans for g in plan if g.declared is not None for _, p in g.parameters}
    for declared in declared_all:
        for index, group in enumerate(declared.groups):
            where = f"{declared.where}.groups[{index}]"
            for item in list_items(group.select):
                if is_pattern(item):
                    continue
                matched = select_or_none(named, item, where=where, option="select")
                owners = {trained_by.get(id(p)) for _, p in matched}
                if not matched or declared.attribute in owners or None in owners:
                    continue
                if any(id(p) in in_groups for _, p in matched):
                    continue
                shown = _first_names(matched)
                theirs = listing(sorted(str(owner) for owner in owners))
                raise ValueError(
                    f"{where}: Expected every item of `select={group.select!r}` to select a parameter of "
                    f"`{declared.attribute}` or one a group of another optimizer takes but the item {item!r} matches "
                    f"only parameters trained by optimizer {theirs} ({shown}), which none of its groups selects: "
                    f"they would train at its own options, not at this group's. Move the item to a group in the "
                    f"`groups` of {theirs}, or remove it from the list."
                )


def _first_names(parameters: Sequence[tuple[str, torch.nn.Parameter]]) -> str:
    """The first four parameters' names, and how many more.

    Example:
        >>> _first_names([(f"p{i}", torch.nn.Parameter(torch.zeros(1))) for i in range(6)])
        '`p0`, `p1`, `p2`, `p3` and 2 more'
    """
    names = [name for name, _ in parameters]
    return listing(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
