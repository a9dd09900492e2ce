"""Checkpoints written without the mixin: what their structure and optimizer states tell of the setup.

A checkpoint without a fingerprint (``fingerprint.py``; written without the mixin) is checked for its structure:
the number of optimizers and schedulers and the parameter count of every group (``setup_structure``); then for
what its optimizer states tell, group by group in order (``hand_written_differences``): the options (another
optimizer class has other keys; an option a declared schedule drives is not compared), the lr the group started
from (under a plateau, which scales every group's lr alike, the lrs' ratios; none during SWA, whose ``swa_lrs``
overwrote it), and the parameters' shapes where their state tells them (the state a fresh optimizer holds in the
parameter's shape, ``trial.shaped_state``, of any dimensions; none where it holds none, as ``Adafactor`` and
``LBFGS``). Groups that are the declared ones in another order (a hand-written ``[no_decay, decay]`` where a
recipe declares the decayed half first), each told apart by its parameter count, lr and options, are taken in
the declared order (``in_declared_order``; not with a scheduler state, which holds values per group in the
checkpoint's order, nor where groups alike in their parameters' shapes would change places, ``alike_swapped``): their order is no declaration, and a resume by position would give each group's state to
another. A difference is a changed setup like a changed fingerprint (``"continue"`` keeps the state of a group of
the same class and shapes at its position, also when the schedulers changed, with ``compared_options`` and
``shapes_told``, ``takeover.py``). The torch scheduler states of a hand-written module's checkpoint are set aside,
and taken over when training starts if they are the declared schedulers' (``foreign.py``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau

from lightning_optim.building.build import Built
from lightning_optim.declaring.scheduler import cycles_momentum
from lightning_optim.declaring.trial import shaped_state
from lightning_optim.registry.implementation import IMPLEMENTATION_ARGUMENTS
from lightning_optim.registry.optimizers import optimizer_info
from lightning_optim.schedules.param_view import target_of
from lightning_optim.training.fingerprint import alike_values, differences, stable_repr


def setup_structure(groups: list[list[int]], schedulers: int) -> dict[str, Any]:
    """What a setup without a fingerprint is compared by: the parameters of each optimizer's groups, the
    number of schedulers."""
    return {"optimizers": len(groups), "schedulers": schedulers, "parameters per group": groups}


#: The group key ``SWALR`` writes (Lightning's ``StochasticWeightAveraging`` swaps it in for the schedulers): a
#: group holding it was written during SWA, whose ``swa_lrs`` overwrote the ``initial_lr`` the group started from.
SWA_LR = "swa_lr"

#: Group keys that are no option compared: the lr (by where it started), the declared name, what schedulers write
#: (torch's ``initial_lr``, ``OneCycleLR``'s and ``CyclicLR``'s bounds, ``SWALR``'s ``swa_lr``).
_NOT_OPTIONS = frozenset(
    {"params", "lr", "name", "max_lr", "min_lr", "base_momentum", "max_momentum", SWA_LR}
)


def compared_options(built: Built, group: Mapping[str, Any]) -> set[str]:
    """The keys of ``group`` (one of ``built``'s, or its checkpoint's) that are ``built``'s options: not its
    implementation (``keep_implementation`` keeps the built one), running state, or an option a declared
    schedule drives."""
    driven = {
        target_of(param, group)[0]
        for s in built.declared.schedulers
        for param in [s.spec.param, *(["momentum"] if cycles_momentum(s.cls, s.kwargs) else [])]
    }
    running = optimizer_info(built.declared.cls).running_state
    return {
        key
        for key in group
        if not key.startswith("initial_")
        and key not in _NOT_OPTIONS
        and key not in IMPLEMENTATION_ARGUMENTS
        and key not in running
        and key not in driven
    }


def shapes_told(
    group: Mapping[str, Any],
    state: Mapping[Any, Any],
    shapes: Sequence[tuple[int, ...]],
    shaped: frozenset[str] | None,
    known: Collection[tuple[int, ...]],
) -> str:
    """The shape of each parameter of a saved ``group`` as its per-parameter ``state`` tells, else the shape now
    (``shapes``: of the parameters now at its positions). The state held in the parameter's shape (``shaped``,
    ``trial.shaped_state``: Adam's moments, a momentum buffer) tells it whatever its dimensions (a weight's state
    at a bias's position); where the trial step finds none (Adafactor's factored moments, LBFGS's flat vectors on
    the first parameter), no state tells it. Only where no trial is made (``shaped`` is ``None``: another
    library's optimizer) does a tensor of as many dimensions as the parameter now, of another shape, tell it, and
    only the shape of a parameter of the optimizer now (``known``): a factored or flattened state is of no
    parameter's shape. A parameter without state (never stepped) tells nothing.

    Example:
        >>> weight = {0: {"step": torch.tensor(8.0), "exp_avg": torch.zeros(16, 8)}}
        >>> shapes_told({"params": [0]}, weight, [(16,)], frozenset({"exp_avg"}), [(16,), (16, 8)])
        '[(16, 8)]'
        >>> shapes_told({"params": [0]}, weight, [(16,)], None, [(16,), (16, 8)])  # fewer dimensions
        '[(16,)]'
        >>> shapes_told({"params": [0]}, weight, [(8, 16)], None, [(8, 16), (16, 8)])
        '[(16, 8)]'
        >>> shapes_told({"params": [0, 1]}, weight, [(16, 8), (4,)], frozenset({"exp_avg"}), [(16, 8), (4,)])
        '[(16, 8), (4,)]'
        >>> factored = {0: {"row_var": torch.zeros(16, 1), "col_var": torch.zeros(1, 8)}}
        >>> shapes_told({"params": [0]}, factored, [(16, 8)], frozenset(), [(16, 8)])
        '[(16, 8)]'
        >>> shapes_told({"params": [0]}, factored, [(16, 8)], None, [(16, 8)])
        '[(16, 8)]'
    """
    told = []
    for index, shape in zip(group["params"], shapes):
        values = (state.get(index) or {}).items()
        saved = {k: tuple(v.shape) for k, v in values if isinstance(v, torch.Tensor)}
        if shaped is not None:
            other = next((s for k, s in saved.items() if k in shaped and s != shape), None)
        else:
            held = [s for s in saved.values() if len(s) == len(shape)]
            other = None if shape in held else next((s for s in held if s in known), None)
        told.append(shape if other is None else other)
    return str(told)


def parameter_shapes(optimizer: Any) -> set[tuple[int, ...]]:
    return {tuple(p.shape) for group in optimizer.param_groups for p in group["params"]}


def _relative_lrs(
    saved: Sequence[float], declared: Sequence[float], factor: float, min_lrs: Sequence[float], eps: float
) -> tuple[int | None, dict[int, tuple[str, str]]]:
    """Each group's lr relative to a reference group's, in the checkpoint (``saved``) and now (``declared``), where
    a ``ReduceLROnPlateau`` (``factor``, ``min_lrs``, ``eps``) moved the checkpoint's: it scales the lrs of all
    groups alike, so they keep their ratios, except those it no longer moves (at their ``min_lr``, or closer to it
    than ``eps``), which are left out. The reference is the first group it moves (``None``: none); a ratio the same
    in both, up to rounding, is written alike.

    Example:
        >>> _relative_lrs([0.025, 0.05], [0.05, 0.1], 0.5, [0, 0], 1e-8)  # halved once
        (0, {1: ('2', '2')})
        >>> _relative_lrs([0.025, 0.05], [0.1, 0.05], 0.5, [0, 0], 1e-8)  # the groups in the other order
        (0, {1: ('2', '0.5')})
        >>> _relative_lrs([0.01, 0.05, 0.025], [0.1, 0.1, 0.05], 0.5, [0.01, 0, 0], 1e-8)  # group 0 at its min_lr
        (1, {2: ('0.5', '0.5')})
    """
    moving = [
        index
        for index, (lr, now, floor) in enumerate(zip(saved, declared, min_lrs))
        if now > 0 and lr - max(lr * factor, floor) > eps
    ]
    if not moving:
        return None, {}
    first, *others = moving
    told = {}
    for index in others:
        was, now = saved[index] / saved[first], declared[index] / declared[first]
        told[index] = (f"{was:.10g}", f"{was if math.isclose(was, now, rel_tol=1e-9) else now:.10g}")
    return first, told


def _plateau_lrs(
    built: Built, saved_groups: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The entries of ``_relative_lrs`` for each group of the checkpoint and of ``built``, where a declared
    ``ReduceLROnPlateau`` alone drives the lr (it tells nothing of where a group's lr started, but the lrs of the
    groups in another order have other ratios)."""
    none: list[dict[str, str]] = [{} for _ in saved_groups]
    lr_schedules = [s for s in built.declared.schedulers if s.spec.param == "lr"]
    if len(lr_schedules) != 1 or not lr_schedules[0].is_plateau:
        return none, none
    defaults = {key: p.default for key, p in inspect.signature(ReduceLROnPlateau).parameters.items()}
    arguments = {**defaults, **lr_schedules[0].kwargs}
    min_lr = arguments["min_lr"]
    min_lrs = min_lr if isinstance(min_lr, (list, tuple)) else [min_lr] * len(saved_groups)
    try:
        reference, told = _relative_lrs(
            [float(g["lr"]) for g in saved_groups],
            [float(g["lr"]) for g in built.optimizer.param_groups],
            float(arguments["factor"]),
            [float(m) for m in min_lrs],
            float(arguments["eps"]),
        )
    except (TypeError, ValueError):  # a value only `fit` gives (an HParam): nothing compared
        return none, none
    if reference is None:
        return none, none
    key = f"lr (relative to {built.group_names[reference]!r})"
    return (
        [{key: told[i][0]} if i in told else {} for i in range(len(saved_groups))],
        [{key: told[i][1]} if i in told else {} for i in range(len(saved_groups))],
    )


def _lr_told(built: Built, groups: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the checkpoint's ``groups`` tell the lr each started from (a torch scheduler's ``initial_lr``, else
    its lr): not where a declared plateau or ``OneCycleLR`` moves it, nor where they were written during SWA
    (they hold ``SWA_LR``): Lightning's ``StochasticWeightAveraging`` wrote its ``swa_lrs`` into ``initial_lr``,
    and its ``SWALR`` anneals from the lrs the groups have, which the resume keeps, as in the mixin's own resume
    during SWA (the displaced schedule takes no more steps, ``building/swa.py``)."""
    lr_schedules = [s for s in built.declared.schedulers if s.spec.param == "lr"]
    moved = any(s.is_plateau or s.info.sets_lr_from is not None for s in lr_schedules)
    return not moved and not any(SWA_LR in group for group in groups)


def _told(built: Built, group: Mapping[str, Any], lr_told: bool) -> str:
    """What tells a group of ``built`` or of its checkpoint from the others: its parameter count, the lr it
    started from (where ``lr_told``), its options (``compared_options``)."""
    options = {key: stable_repr(group[key]) for key in sorted(compared_options(built, group))}
    started = stable_repr(group.get("initial_lr", group["lr"])) if lr_told else None
    return stable_repr((len(group["params"]), started, options))


#: Why the checkpoint's groups are not taken in the declared order (``_declared_order``), as the line saying how to
#: declare them instead (``{order}``: the checkpoint's position of each declared group)
_NOT_REORDERED = {
    "untold": "the checkpoint's may be the declared ones in another order, which their parameter counts, lrs and "
    "options do not tell apart; declare them in the hand-written module's order (a `ParamGroup` each, in that "
    "order) to resume each with its state",
    "alike_swapped": "the checkpoint's may be the declared ones in another order, but groups alike in their "
    "parameters' shapes would change places, which their lrs or options alone do not tell from a changed setup; "
    "declare them in the hand-written module's order (a `ParamGroup` each, in that order)",
    "scheduled": "the checkpoint's are the declared ones in another order (its groups {order}, in turn), and its "
    "scheduler states hold their values per group in that order; declare the groups in the hand-written module's "
    "order (a `ParamGroup` each, in that order)",
}


def _declared_order(
    state: Mapping[str, Any], built: Built, *, scheduled: bool = False
) -> tuple[list[int], str | None]:
    """The checkpoint's position of each of ``built``'s groups where the checkpoint's (optimizer ``state``) may be
    ``built``'s in another order, with ``None`` (taken in that order) or why not (a key of ``_NOT_REORDERED``;
    ``"untold"``: alike in ``_told``, which tells no positions; ``"scheduled"``: scheduler states in the checkpoint);
    no positions and no reason where they are in ``built``'s order or are not its groups in another (other
    ``_told``, or so ordered, ``hand_written_differences`` in their parameters' shapes)."""
    groups = state.get("param_groups") if isinstance(state, Mapping) else None
    if not isinstance(groups, list) or len(groups) != len(built.optimizer.param_groups):
        return [], None
    lr_told = _lr_told(built, groups)
    saved = [_told(built, group, lr_told) for group in groups]
    declared = [_told(built, group, lr_told) for group in built.optimizer.param_groups]
    if sorted(saved) != sorted(declared):
        return [], None
    if len(set(declared)) != len(declared):
        return [], "untold"
    order = [saved.index(told) for told in declared]
    if saved == declared or hand_written_differences([_reordered(state, order)], [built]):
        return [], None
    if alike_swapped(order, _shapes(built)):
        return order, "alike_swapped"
    return order, "scheduled" if scheduled else None


def _not_reordered(index: int, built: Built, order: Sequence[int], reason: str) -> str:
    where = f"optimizers[{index} {built.declared.attribute!r}].groups: "
    return where + _NOT_REORDERED[reason].format(order=", ".join(map(str, order)))


def alike_swapped(order: Sequence[int], shapes: Sequence[Any]) -> bool:
    """Whether ``order`` (the checkpoint's position of each declared group) puts two declared groups alike in their
    parameters' ``shapes`` in another order than the checkpoint's: told apart only by lr or options, they may be a
    changed setup (lrs swapped between two alike towers), which a reorder would resume with each tower's state
    given to the other; a resume by position refuses it.

    Example:
        >>> alike_swapped([1, 2, 0], ["twin", "twin", "body"]), alike_swapped([2, 1, 0], ["twin", "twin", "body"])
        (False, True)
    """
    positions: dict[Any, list[int]] = {}
    for position, shape in zip(order, shapes):
        positions.setdefault(shape, []).append(position)
    return any(taken != sorted(taken) for taken in positions.values())


def _shapes(built: Built) -> list[tuple[tuple[int, ...], ...]]:
    return [tuple(tuple(p.shape) for p in group["params"]) for group in built.optimizer.param_groups]


def _reordered(state: Mapping[str, Any], order: Sequence[int]) -> dict[str, Any]:
    return {**state, "param_groups": [state["param_groups"][position] for position in order]}


def in_declared_order(
    states: Sequence[Any], built: Sequence[Built], *, scheduled: bool
) -> tuple[list[Any], list[str]]:
    """The optimizer ``states`` of a checkpoint written without the mixin, each with its groups in the order of
    ``built``'s where they are ``built``'s in another order (``_declared_order``: a hand-written
    ``[no_decay, decay]``). torch loads a state's per-parameter entries by the positions its groups list, so they
    follow their group (each group's parameters are taken in their order). Not where the checkpoint holds scheduler
    states (``scheduled``): a torch scheduler keeps values per group in its state, in the checkpoint's order
    (``base_lrs``, ``CyclicLR``'s ``max_lrs``), which no rule tells from other lists; a line for each such
    optimizer says how to declare its groups instead."""
    kept, lines = list(states), []
    for index, (state, b) in enumerate(zip(states, built)):
        order, reason = _declared_order(state, b, scheduled=scheduled)
        if order and reason is None:
            kept[index] = _reordered(state, order)
        elif reason in ("alike_swapped", "scheduled"):  # "untold" is said by position: `untold_orders`
            lines.append(_not_reordered(index, b, order, reason))
    return kept, lines


def untold_orders(states: Sequence[Mapping[str, Any]], built: Sequence[Built]) -> list[str]:
    """A line for each optimizer whose checkpoint groups (``states``, compared by position) differ from
    ``built``'s but are as many alike in parameter count, lr and options (``_told``): they may be the declared
    ones in another order, which ``in_declared_order`` cannot tell (``_declared_order``'s ``"untold"``)."""
    return [
        _not_reordered(index, b, [], "untold")
        for index, (state, b) in enumerate(zip(states, built))
        if _declared_order(state, b) == ([], "untold") and hand_written_differences([state], [b])
    ]


def hand_written_differences(states: Sequence[Mapping[str, Any]], built: Sequence[Built]) -> list[str]:
    """What differs between the optimizer states of a checkpoint written without the mixin (``states``, of
    the same structure) and ``built``, as ``differences`` between two fingerprint-like records: per group the
    lr it started from (a torch scheduler's ``initial_lr``; not when a declared plateau or ``OneCycleLR``
    moves it, nor during SWA, ``_lr_told``; under a plateau alone, its lr relative to the other groups',
    ``_plateau_lrs``), its options (another optimizer class has other keys; one the checkpoint lacks, from an
    older torch, loads as torch's default) and its parameters' shapes where their state tells them (``shapes_told``)."""
    records: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
    for state, b in zip(states, built):
        lr_told = _lr_told(b, state["param_groups"])
        defaults = inspect.signature(b.declared.cls).parameters
        groups: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
        relative = _plateau_lrs(b, state["param_groups"])
        known = parameter_shapes(b.optimizer)
        for index, (old, new, name) in enumerate(
            zip(state["param_groups"], b.optimizer.param_groups, b.group_names)
        ):
            shapes = [tuple(p.shape) for p in new["params"]]
            options = (
                compared_options(b, old),
                {
                    key
                    for key in compared_options(b, new)
                    if key in old or (key in defaults and not alike_values(defaults[key].default, new[key]))
                },
            )
            shaped = shaped_state(b.declared.cls, new)
            told = (shapes_told(old, state["state"], shapes, shaped, known), str(shapes))
            for side, group, keys, shape, lr in zip(groups, (old, new), options, told, relative):
                side.append(
                    {
                        "attribute": name,  # names the group in each line
                        **({"lr": stable_repr(group.get("initial_lr", group["lr"]))} if lr_told else {}),
                        **lr[index],
                        "options": {key: stable_repr(group[key]) for key in sorted(keys)},
                        "parameter shapes": shape,
                    }
                )
        for record, side in zip(records, groups):
            record.append({"attribute": b.declared.attribute, "groups": side})
    return differences({"optimizers": records[0]}, {"optimizers": records[1]})
