"""Reading a scheduler's arguments back from its state, where torch keeps them under another name.

A hand-written module's checkpoint restores a scheduler's state over the declared arguments, so those torch
keeps elsewhere than under their own name (in each param group: ``OneCycleLR``'s ``max_lr``; under another
name: ``CyclicLR``'s ``max_lrs``; only as what they computed: ``OneCycleLR``'s phases) are read back by a record's
``kept_elsewhere`` readers (``schedulers.py``), defined here, and compared with the declaration's
(``training/foreign.py``). These rules never import the records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

#: Reads an argument a scheduler keeps elsewhere than under its own name back from its state and its optimizer's
#: param groups (a value per group where it keeps one per group).
ArgumentReader = Callable[[Mapping[str, Any], Sequence[Mapping[str, Any]]], Any]


def in_state(key: str, state: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]) -> Any:
    """An argument the scheduler's state keeps under another name (``CyclicLR``'s ``max_lr`` as ``max_lrs``).

    Example:
        >>> in_state("min_lrs", {"min_lrs": [0.0, 0.1]}, [])
        [0.0, 0.1]
    """
    return state.get(key)


def sequence_in_state(key: str, state: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]) -> Any:
    """A sequence argument the scheduler's state keeps under another name (``SequentialLR``'s ``milestones`` as
    ``_milestones``), as a tuple: one value, not one per group.

    Example:
        >>> sequence_in_state("_milestones", {"_milestones": [3]}, [{}])
        (3,)
    """
    value = state.get(key)
    return None if value is None else tuple(value)


def in_groups(key: str, state: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]) -> list[Any]:
    """An argument the scheduler keeps in each param group (``OneCycleLR``'s ``max_lr``), group by group.

    Example:
        >>> in_groups("max_lr", {}, [{"max_lr": 0.1}, {}])
        [0.1, None]
    """
    return [group.get(key) for group in groups]


def groups_ratio(
    numerator: str, denominator: str, state: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]
) -> list[Any]:
    """An argument the scheduler keeps in each param group as the ratio of two values (``OneCycleLR``'s
    ``div_factor``: ``max_lr / initial_lr``), group by group.

    Example:
        >>> groups_ratio("max_lr", "initial_lr", {}, [{"max_lr": 0.1, "initial_lr": 0.01}, {"max_lr": 0.1}])
        [10.0, None]
    """
    return [
        group[numerator] / group[denominator] if numerator in group and denominator in group else None
        for group in groups
    ]


def one_cycle_pct_start(state: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]) -> Any:
    """``OneCycleLR``'s ``pct_start``, from the end of its first phase (``pct_start * total_steps - 1``).

    Example:
        >>> one_cycle_pct_start({"total_steps": 20, "_schedule_phases": [{"end_step": 4.0}, {}]}, [])
        0.25
    """
    phases, total = state.get("_schedule_phases"), state.get("total_steps")
    return (phases[0]["end_step"] + 1) / total if phases and total else None


def one_cycle_three_phase(state: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]) -> Any:
    """``OneCycleLR``'s ``three_phase``: whether it has three phases.

    Example:
        >>> one_cycle_three_phase({"_schedule_phases": [{}, {}]}, [])
        False
    """
    phases = state.get("_schedule_phases")
    return None if phases is None else len(phases) == 3


def cyclic_steps(up: bool, state: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]) -> Any:
    """``CyclicLR``'s ``step_size_up`` (``up``) or ``step_size_down``, from its cycle's size and the part of it
    spent going up.

    Example:
        >>> cyclic_steps(True, {"total_size": 10.0, "step_ratio": 0.4}, []), cyclic_steps(False, {"total_size": 10.0, "step_ratio": 0.4}, [])
        (4.0, 6.0)
    """
    size, ratio = state.get("total_size"), state.get("step_ratio")
    if size is None or ratio is None:
        return None
    return size * ratio if up else size - size * ratio
