"""What ``"fresh"`` and ``"continue"`` keep of a changed setup: optimizer states, schedules, added groups.

``resume_changed_setup`` says what a changed setup does: ``"error"`` refuses it, naming what changed;
``"fresh"`` keeps the weights and the loop's progress and starts every optimizer and schedule anew;
``"continue"`` (Megatron's ``override_opt_param_scheduler``) keeps the optimizer state of every group whose
name and parameters match (moments, momentum buffers, schedule-free's ``k`` in the group; a new or changed
group starts empty) under the new options, and evaluates every schedule at the resumed step, built for the
whole run as now declared. torch starts a parameter's state only when it is empty, so a kept state lacking
what the new options need (``amsgrad``'s ``max_exp_avg_sq``) would fail its first step: it is completed as a
fresh optimizer starts that state, with zeros, or the group starts afresh where a fresh one starts it
otherwise (``_take_over``; torch's optimizers tell, ``trial.first_state``); a state whose length an option
sets is fitted to it (``fitted``: ``LBFGS``'s history keeps its most recent ``history_size`` entries), and a
group whose state an option that changed shapes starts afresh (``OptimizerInfo.shaping_options``: ``DASH``'s
``block_size``), as does one whose kept state has another precision than its state options now give it
(``OptimizerInfo.state_misfit``: bitsandbytes' ``optim_bits``, which the group does not hold). A
``ReduceLROnPlateau`` has no value at a step: it continues from its group's lr (its reductions so far applied
to the lr now declared), with its counters anew.

A group added after the build (``BaseFinetuning.unfreeze_and_add_param_group``) is no declaration: the
fingerprint leaves it out, and the callback that added it puts it back into the optimizer when the resumed fit
starts (``BaseFinetuning`` restores its groups as it added them, in ``on_fit_start``), before Lightning loads
the optimizer state. A rewritten state holds only the declared groups, so a load pre-hook
(``register_added_groups_hook``) gives it each added group that is back: ``"fresh"`` with the settings it was
restored with (as it was added) and no state, ``"continue"`` with the checkpoint's settings and state. The
hook also records those restored settings, where ``"fresh"`` starts an added group again when a changed run
shape restarts the schedules (``restart_added``); ``"continue"`` keeps its settings and state, and the
schedules, re-evaluated for the whole run, take it from where it stands (``Schedule.advance``), as in the run
it joined. A group the module's own hook added (``add_param_group`` in ``on_train_epoch_start``) is put back
by nothing unless the module adds it again in ``on_fit_start``: a checkpoint holding one that is not back is
refused as its state loads, under every choice (a rewritten state holds the declared groups only, and would
leave its parameters untrained silently), unless a declaration now selects as many parameters (its parameters
in a ``ParamGroup``, ``_left_out``). It is not restored from the checkpoint: its state tells the group's
settings and its parameters' positions, not which of the module's parameters they are, nor would a restored
group train parameters the module froze again.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch.optim.lr_scheduler import ReduceLROnPlateau

from lightning_optim.building.build import Built
from lightning_optim.declaring.trial import first_state, shaped_state
from lightning_optim.registry.deque_state import recent
from lightning_optim.registry.implementation import loading_optimizer
from lightning_optim.registry.optimizers import SizedState, optimizer_info
from lightning_optim.schedules.schedule import Schedule
from lightning_optim.training.fingerprint import (
    FINGERPRINT_VERSION,
    alike_values,
    group_fingerprint,
    saved_schedules,
    stable_repr,
)
from lightning_optim.training.hand_written import compared_options, parameter_shapes, shapes_told
from lightning_optim.training.stepping import EPOCHS

log = logging.getLogger("lightning_optim")

#: Marks a schedule to be built for the whole run and advanced to where the run stands (``"continue"``).
CONTINUES = "_lightning_optim_continues"

#: The settings of each group added to an optimizer after the build when the resumed checkpoint was loaded into
#: it: those the callback that added the group restored (``register_added_groups_hook``), where ``"fresh"``
#: starts it again.
_RESTORED_ADDED: weakref.WeakKeyDictionary[torch.optim.Optimizer, list[dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)


def restart(schedule: Schedule, *, continues: bool) -> dict[str, Any]:
    """Make ``schedule`` one without a shape that starts where the run stands (or continues the run,
    ``CONTINUES``); its state."""
    schedule.load_state_dict(Schedule.unshaped_state())
    setattr(schedule, EPOCHS, None)  # the manual-optimization epoch count starts at the current epoch
    setattr(schedule, CONTINUES, continues)
    return schedule.state_dict()


def _plateau_starts(schedules: Sequence[Any], groups: int) -> list[Any]:
    """Each group's lr when the checkpoint's ``ReduceLROnPlateau`` (on the lr) was built, if it had one."""
    for record, state in schedules:
        if record["class"] == stable_repr(ReduceLROnPlateau) and "param" not in record:
            return list((state or {}).get("start_values") or [None] * groups)
    return [None] * groups


#: What of a group's fingerprint tells that ``"continue"`` keeps its state: it is the checkpoint's group.
MATCHED_BY = ("name", "elements", "parameter names (digest)")


def kept_state(
    saved: Mapping[str, Any], states: Sequence[Any], built: Built, schedules: Sequence[Any], where: str
) -> dict[str, Any]:
    """``built``'s optimizer state for ``"continue"``: its own (fresh) groups and options, with the saved
    per-parameter state of every group whose optimizer class, name and parameters are the checkpoint's, and
    the running state such a group holds (``OptimizerInfo.running_state``: schedule-free's ``k``).

    Such a group whose lr only a ``ReduceLROnPlateau`` drives keeps the reductions it had: its lr is the
    declared one times the checkpoint's lr over the lr the checkpoint's schedule started from (``schedules``:
    the checkpoint's scheduler states).
    """
    fresh = built.optimizer.state_dict()
    entries = saved.get("optimizers") if saved.get("version") == FINGERPRINT_VERSION else None
    found: tuple[int, Any] = next(
        ((i, e) for i, e in enumerate(entries or ()) if e.get("attribute") == built.declared.attribute),
        (len(states), None),
    )
    index, entry = found
    if index >= len(states) or entry["class"] != stable_repr(built.declared.cls):
        return fresh  # no state of it saved, or of another class
    state = states[index]
    keys = MATCHED_BY
    starts = _plateau_starts(saved_schedules(entries or (), index, schedules), len(state["param_groups"]))
    old_groups = {
        tuple(g[k] for k in keys): (old, start)
        for g, old, start in zip(entry["groups"], state["param_groups"], starts)
    }
    lr_schedules = [s for s in built.declared.schedulers if s.spec.param == "lr"]
    plateau = bool(lr_schedules) and all(s.is_plateau for s in lr_schedules)
    named = zip(fresh["param_groups"], built.groups, built.optimizer.param_groups, built.group_names)
    for group, plan, live, name in named:
        old, start = old_groups.get(tuple(group_fingerprint(plan)[k] for k in keys), (None, None))
        if old is None:
            continue
        _take_over(fresh, group, old, state, built, live, where, name)
        if plateau:  # the lr the group started from: a torch scheduler's `initial_lr`, a plateau's start
            start = old.get("initial_lr", start if start is not None else old["lr"])
            group["lr"] = float(group["lr"]) * float(old["lr"]) / float(start)
    return fresh


def missing_state(
    saved: Sequence[Mapping[str, Any]], started: Mapping[str, bool] | None
) -> tuple[list[str], list[str]]:
    """The keys a fresh optimizer starts (``started``, ``trial.first_state``) that some of the ``saved``
    per-parameter states of a group lack: those it starts as zeros of the parameter's shape, and the others. An
    empty state lacks none (torch starts it whole).

    Example:
        >>> adam = {"step": False, "exp_avg": True, "exp_avg_sq": True, "max_exp_avg_sq": True}
        >>> missing_state([{"step": 1, "exp_avg": 0, "exp_avg_sq": 0}, {}], adam)
        (['max_exp_avg_sq'], [])
        >>> missing_state([{"step": 1}], {"step": False, "momentum_buffer": False})
        ([], ['momentum_buffer'])
    """
    started = started or {}
    lacking = sorted({key for kept in saved if kept for key in started if key not in kept})
    zeros = [key for key in lacking if started[key]]
    return zeros, [key for key in lacking if key not in zeros]


def fitted(
    saved: dict[str, Any], sized: Mapping[str, SizedState], old: Mapping[str, Any], new: Mapping[str, Any]
) -> dict[str, Any]:
    """A parameter's ``saved`` state, kept from the checkpoint's group ``old``, fitted to the group ``new`` where the
    option that sets a state's length changed (``OptimizerInfo.sized_state``): a history keeps its most recent
    entries, as the step drops the oldest first (a deque of them gets the new length as its ``maxlen``, ``recent``),
    and scratch the step starts when it is missing is left out.

    Example:
        >>> lbfgs = {"old_dirs": SizedState("history_size", "recent"), "al": SizedState("history_size", "nothing")}
        >>> saved = {"old_dirs": [1, 2, 3], "al": [None] * 3, "n_iter": 5}
        >>> fitted(saved, lbfgs, {"history_size": 3}, {"history_size": 2})
        {'old_dirs': [2, 3], 'n_iter': 5}
        >>> fitted(saved, lbfgs, {"history_size": 3}, {"history_size": 3}) is saved
        True
    """
    changed = {key: s for key, s in sized.items() if key in saved and old.get(s.option) != new.get(s.option)}
    if not changed:
        return saved
    return {
        key: value if key not in changed else recent(value, new[changed[key].option])
        for key, value in saved.items()
        if key not in changed or changed[key].keeps == "recent"
    }


def _take_over(
    fresh: dict[str, Any],
    group: dict[str, Any],
    old: Mapping[str, Any],
    state: Mapping[str, Any],
    built: Built,
    live: Mapping[str, Any],
    where: str,
    name: str,
) -> None:
    """Put the saved per-parameter state of the checkpoint's group ``old`` into ``fresh``'s ``group`` (``live``: the
    built optimizer's), with the running state the optimizer keeps in the group (schedule-free's ``k``, a group
    ``step``).

    Under options that need per-parameter state the checkpoint's optimizer did not keep (``amsgrad``'s
    ``max_exp_avg_sq``), the kept state is completed as a fresh optimizer starts it, with zeros; where a fresh one
    starts it otherwise (from the first gradient), or where an option that shapes the state changed
    (``OptimizerInfo.shaping_options``: ``DASH``'s ``block_size``), or where the kept state does not fit the state
    options now (``OptimizerInfo.state_misfit``: bitsandbytes' precision), the group starts afresh, said once. A state
    whose length an option sets is fitted to the option now (``fitted``: ``LBFGS``'s history to its
    ``history_size``).
    """
    kept = [
        (new_index, param, state["state"][old_index])
        for new_index, old_index, param in zip(group["params"], old["params"], live["params"])
        if old_index in state["state"]
    ]
    started = first_state(built.declared.cls, group) if kept else None
    zeros, others = missing_state([s for _, _, s in kept], started)
    info = optimizer_info(built.declared.cls)
    reshaped = sorted(
        key
        for key in info.shaping_options
        if kept and key in group and not alike_values(old.get(key), group[key])
    )
    misfit = next(
        (
            m
            for _, param, saved in kept
            if info.state_misfit and (m := info.state_misfit(built.optimizer, param, saved))
        ),
        None,
    )
    if others or reshaped or misfit:
        # a state option may be in the checkpoint's group only (declared on the group then, not now)
        compared = compared_options(built, group) | (compared_options(built, old) & info.state_options)
        changed = ", ".join(
            f"{key}: {old.get(key)!r} in the checkpoint, {group.get(key)!r} now"
            for key in sorted(compared)
            if key not in old or key not in group or not alike_values(old[key], group[key])
        )
        needs = (
            f"needs per-parameter state the checkpoint lacks ({', '.join(others)}), which it does not start from zeros"
            if others
            else f"shapes its per-parameter state by {', '.join(reshaped)}, so the checkpoint's does not fit it"
            if reshaped
            else "keeps its per-parameter state in another precision by its state options "
            f"({', '.join(sorted(info.state_options))}: {misfit}), so the checkpoint's does not fit it"
        )
        rank_zero_only(log.info)(  # the package's logger, as its other infos (Lightning's may not propagate)
            f"{where}: param group {name!r} starts its optimizer state afresh "
            f"(resume_changed_setup='continue'): `{built.declared.cls.__name__}` with its options now "
            f"({changed or 'as declared'}) {needs}."
        )
        return
    for new_index, param, saved in kept:
        completed = {key: torch.zeros_like(param) for key in zeros if saved and key not in saved}
        saved = fitted(saved, info.sized_state, old, group)
        fresh["state"][new_index] = {**saved, **completed} if completed else saved
    group.update({key: old[key] for key in info.running_state if key in old})


def kept_by_position(state: Mapping[str, Any], built: Built, where: str) -> dict[str, Any]:
    """``built``'s optimizer state for ``"continue"`` from a checkpoint written without the mixin (``state``):
    its own groups and options, with the saved state of every group whose parameters' shapes, by position,
    are the checkpoint's, and whose options are all ``built``'s (none of another optimizer class)."""
    fresh = built.optimizer.state_dict()
    named = zip(fresh["param_groups"], state["param_groups"], built.optimizer.param_groups, built.group_names)
    known = parameter_shapes(built.optimizer)
    for group, old, new, name in named:
        shapes = [tuple(p.shape) for p in new["params"]]
        same_class = compared_options(built, old) <= set(new)
        shaped = shaped_state(built.declared.cls, group) if same_class else None
        if same_class and shapes_told(old, state["state"], shapes, shaped, known) == str(shapes):
            _take_over(fresh, group, old, state, built, new, where, name)
    return fresh


def register_added_groups_hook(
    built: Built,
    saved: Mapping[str, Any] | None,
    continues: bool,
    written: tuple[list[Any], int] | None = None,
) -> None:
    """When the checkpoint is loaded into ``built``'s optimizer, record the settings of the groups added after
    the build that are back in it (``_RESTORED_ADDED``), and give a rewritten state (the declared groups only)
    an entry for each: ``continues``, the checkpoint's group at that position (``saved``: its optimizer state)
    with its per-parameter state, else the settings it was restored with and no state.

    A checkpoint holding a group added after the build that is not back is refused: its state as written, or
    rewritten (``written``: the groups of the optimizer's state in the checkpoint, and how many of them its
    fingerprint declared), which holds the declared groups only and would leave it out silently."""
    # the checkpoint's load only, which releases `saved` (the hook cannot remove itself while torch runs it)
    pending = [saved if continues else None]

    def hook(optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> dict[str, Any] | None:
        if not pending:
            return None
        old_state = pending.pop()
        declared = len(built.groups)
        added = optimizer.param_groups[declared:]
        settings = [{key: value for key, value in g.items() if key != "params"} for g in added]
        _RESTORED_ADDED[built.optimizer] = settings
        groups = list(state_dict.get("param_groups", ()))
        held = len(optimizer.param_groups)
        if len(groups) > held:
            raise _added_not_back(built.declared.where, groups, held=held)
        if (
            len(groups) == declared
            and written is not None
            and _left_out(written, optimizer.param_groups, len(added))
        ):
            raise _added_not_back(built.declared.where, *written, held=held, back=len(added))
        if not added or len(groups) != declared:
            return None  # nothing added, or the checkpoint's own state, which holds them
        state = dict(state_dict["state"])
        first = 1 + max((i for g in groups for i in g["params"]), default=-1)
        old_groups = list(old_state["param_groups"])[declared:] if old_state is not None else []
        for index, group in enumerate(added):
            ids = list(range(first, first + len(group["params"])))
            first += len(ids)
            old = old_groups[index] if index < len(old_groups) else None
            if old is None or len(old["params"]) != len(ids):  # fresh, or not the checkpoint's group
                groups.append({**settings[index], "params": ids})
                continue
            groups.append({**{k: v for k, v in old.items() if k != "params"}, "params": ids})
            kept = old_state["state"] if old_state is not None else {}
            state.update({new: kept[o] for new, o in zip(ids, old["params"]) if o in kept})
        return {**state_dict, "state": state, "param_groups": groups}

    loading_optimizer(built.optimizer).register_load_state_dict_pre_hook(hook, prepend=True)


def written_groups(saved: Any, states: Sequence[Any], built: Built) -> tuple[list[Any], int] | None:
    """The param groups of the optimizer state the checkpoint holds for ``built``'s optimizer (its namesake in
    the fingerprint ``saved``), and how many of them the fingerprint declares (the others were added after the
    build); ``None`` without a fingerprint of this version or a state of that optimizer.

    Example:
        >>> saved = {"version": FINGERPRINT_VERSION, "optimizers": [{"attribute": "opt", "groups": [{}]}]}
        >>> built = type("B", (), {"declared": type("D", (), {"attribute": "opt"})})()
        >>> written_groups(saved, [{"param_groups": [{"params": [0]}, {"params": [1]}]}], built)
        ([{'params': [0]}, {'params': [1]}], 1)
    """
    entries = (
        saved.get("optimizers")
        if isinstance(saved, Mapping) and saved.get("version") == FINGERPRINT_VERSION
        else None
    )
    for index, entry in enumerate(entries if isinstance(entries, list) else ()):
        ours = isinstance(entry, Mapping) and entry.get("attribute") == built.declared.attribute
        if ours and index < len(states) and isinstance(states[index], Mapping):
            return list(states[index].get("param_groups", ())), len(entry.get("groups", ()))
    return None


def added_not_back(built: Built, written: tuple[list[Any], int] | None) -> ValueError | None:
    """The refusal of a checkpoint holding groups added during training (``written``, as ``written_groups`` gives
    it) that are not back in ``built``'s optimizer (``_left_out``), where a strategy loaded the checkpoint's state
    into it by its live groups and left them out (``strategy_loaded.py``); ``None`` where nothing is left out."""
    groups = built.optimizer.param_groups
    back = len(groups) - len(built.groups)
    if written is None or not _left_out(written, groups, back):
        return None
    return _added_not_back(built.declared.where, *written, held=len(groups), back=back)


def _left_out(
    written: tuple[Sequence[Mapping[str, Any]], int], groups: Sequence[Mapping[str, Any]], back: int
) -> bool:
    """Whether a state rewritten from the declarations (``"fresh"``, ``"continue"``) into an optimizer of
    ``groups`` (``back`` of them added after the build) leaves out groups the checkpoint's optimizer had added
    (``written``: its groups, and how many of them were declared): fewer are back, and the optimizer holds fewer
    parameter tensors than the checkpoint's. Their parameters cannot be told apart by name (the state holds
    positions), but a declaration that now selects them (a ``ParamGroup``) holds as many.

    Example:
        >>> written = ([{"params": [0, 1]}, {"params": [2, 3]}], 1)
        >>> _left_out(written, [{"params": ["w", "b"]}], 0), _left_out(written, [{"params": ["w", "b", "v", "c"]}], 0)
        (True, False)
    """
    saved, declared = written
    tensors = sum(len(g["params"]) for g in groups)
    return len(saved) - declared > back and tensors < sum(len(g.get("params", ())) for g in saved)


def _added_not_back(
    where: str, groups: Sequence[Mapping[str, Any]], declared: int | None = None, *, held: int, back: int = 0
) -> ValueError:
    """The refusal of a checkpoint whose optimizer state holds groups (``groups``, the first ``declared`` of
    them declared; by default those the optimizer holds) that are not back in the optimizer of ``held`` groups
    when it loads: groups added during training (``add_param_group``, ``unfreeze_and_add_param_group`` in the
    module's own hook) that nothing put back (``back`` of them are), where torch would say only "loaded state
    dict has a different number of parameter groups", or a state rewritten from the declarations
    (``resume_changed_setup``) would leave them out, untrained.

    Example:
        >>> state = [{"params": [0, 1]}, {"params": [2, 3], "name": "backbone"}]
        >>> str(_added_not_back("M.opt", state, held=1)).split(" to be back")[0]
        'M.opt: Expected the param group added to the optimizer during training that the checkpoint holds (group 1: `backbone`, 2 parameter tensors)'
        >>> str(_added_not_back("M.opt", [*state, {"params": [4]}], 1, held=2, back=1)).split(" to be")[0]
        'M.opt: Expected the param group added to the optimizer during training that the checkpoint holds (group 2: 1 parameter tensors)'
    """
    first = held if declared is None else declared + back
    missing = [
        f"group {index}: "
        + (f"`{group['name']}`, " if group.get("name") else "")
        + f"{len(group.get('params', ()))} parameter tensors"
        for index, group in enumerate(groups)
        if index >= first
    ]
    one = len(missing) == 1
    return ValueError(
        f"{where}: Expected the param group{'' if one else 's'} added to the optimizer during training that the "
        f"checkpoint holds ({'; '.join(missing)}) to be back in it before Lightning loads its state, but nothing "
        f"put {'it' if one else 'them'} back: the optimizer has {held} param group{'' if held == 1 else 's'}, the "
        f"checkpoint {len(groups)}. A group added in the module's own hook (`optimizer.add_param_group`, "
        "`BaseFinetuning.unfreeze_and_add_param_group`) is no declaration: a resumed run does not add it again, "
        "and `resume_changed_setup` 'fresh' or 'continue' rewrites the optimizer state from the declarations. "
        "Add it again in the module's `on_fit_start`, "
        "which runs before the state loads (`on_load_checkpoint` runs earlier and can tell from the checkpoint "
        "whether it holds the group, e.g. by its `epoch`), or declare its parameters in a `ParamGroup` (a changed "
        "setup, which 'fresh' and 'continue' resume), or unfreeze with Lightning's `BackboneFinetuning` "
        "callback, which puts back the groups it added."
    )


def restart_added(built: Built) -> None:
    """Give the groups added to ``built``'s optimizer after the build the settings they were restored with when
    the checkpoint was loaded (``"fresh"``: as the callback that added them restores them)."""
    added = built.optimizer.param_groups[len(built.groups) :]
    for group, settings in zip(added, _RESTORED_ADDED.get(built.optimizer, [])):
        params = group["params"]
        group.clear()
        group.update({**settings, "params": params})
