"""Checkpoints written without the mixin: a hand-written module's torch scheduler states, taken over exactly.

A module ported to the mixin resumes the checkpoints its hand-written ``configure_optimizers`` wrote. They hold
no fingerprint (``hand_written.py`` checks their structure and what their optimizer states tell), and each scheduler's state is the torch
scheduler's own, not a ``Schedule``'s. Before Lightning restores them, ``check_resume`` sets each such state
aside (``set_aside``): the ``Schedule`` is restored without a shape, holding the torch state. When training
starts (``lifecycle.py``), ``adopt`` builds the declared scheduler for the whole run, as the mixin would have
built it from the start, and loads the torch state into it, so the hand-written trajectory continues exactly.
It does so only when

* the declared schedule is the torch scheduler alone: no warmup, no window, and it drives the lr;
* the saved state is one of the declared class: torch's state has no class name and loads into any class, so
  the state's attributes must be the declared scheduler's;
* every argument torch keeps under its own name (``step_size``, ``T_max``, a ``T_max`` left to the run) is
  the declared one: torch restores them, so a different one would silently replace the declaration; and so
  is every argument it keeps elsewhere (``SchedulerInfo.kept_elsewhere``): in the param groups, which the
  optimizer state restores (``OneCycleLR``'s ``max_lr``, its ``div_factor`` as ``initial_lr``, its momentum
  bounds), or under another name (``CyclicLR``'s ``max_lrs``), compared with what the declared scheduler's
  construction writes; and those of the schedulers a composite holds, each in its own state;
* the saved scheduler took as many updates as the declared ``interval`` and ``frequency`` take by the resumed
  step (a ``ReduceLROnPlateau`` may be one behind: Lightning takes its step after the checkpoint is written,
  and a checkpoint written without the mixin holds no metric to take it with on resume).

Anything else is refused under ``"error"`` (``refusal``), naming the schedule and what differs, and
``"continue"`` or ``"fresh"`` resume it as they resume any changed setup. A ``LambdaLR``'s function is not in
its state: the declared one is taken, as a hand-written module resuming its own checkpoint takes its own.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from lightning.pytorch import Trainer

from lightning_optim.building.length import loop_position, run_shape, updates_between
from lightning_optim.declaring.scheduler import ResolvedScheduler
from lightning_optim.registry.schedulers import SchedulerInfo, scheduler_info
from lightning_optim.schedules.schedule import Schedule, restore_groups, snapshot_groups
from lightning_optim.training.stepping import EPOCHS

#: The attribute of a ``Schedule`` restored from a checkpoint written without the mixin: the torch state.
SET_ASIDE = "_lightning_optim_foreign_state"

#: Arguments of every torch scheduler that are its progress or wiring, not its declaration.
_NOT_ARGUMENTS = frozenset({"optimizer", "last_epoch", "verbose"})
#: Attributes of every torch scheduler, left out when naming a state's class by its attributes (``verbose``:
#: torch < 2.7 keeps the deprecated argument in every scheduler's state).
_COMMON = frozenset({"base_lrs", "last_epoch", "verbose"})


def is_schedule_state(state: Any) -> bool:
    """Whether ``state`` was saved by a ``Schedule`` (rather than by a torch scheduler of a hand-written module)."""
    return isinstance(state, Mapping) and "shape" in state and "inner" in state


def set_aside(checkpoint: dict[str, Any]) -> None:
    """Replace every torch scheduler state of ``checkpoint`` by the state of a ``Schedule`` without a shape
    holding it (``SET_ASIDE``), for ``adopt`` when training starts."""
    checkpoint["lr_schedulers"] = [
        state if is_schedule_state(state) else {**Schedule.unshaped_state(), SET_ASIDE: state}
        for state in checkpoint.get("lr_schedulers", [])
    ]


def _attributes(state: Mapping[str, Any]) -> Any:
    """The public attributes of a torch scheduler state, with those of the schedulers it composes."""
    composed = state.get("_schedulers")
    inner = [_attributes(s) for s in composed] if isinstance(composed, list) else None
    return sorted(key for key in state if not key.startswith("_")), inner


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    try:
        return bool(a == b)
    except (TypeError, ValueError, RuntimeError):
        return False


def shown(value: Any) -> str:
    """An argument read back from a scheduler's state or groups, for a message: floats to 12 significant digits
    (a ``div_factor`` read back as a ratio), and one value per group (a list) as one value where they are all the
    same; a tuple is one value.

    Example:
        >>> shown([25.000000000000004, 25.0]), shown([0.1, 0.2]), shown((2,)), shown("cos")
        ('25.0', '[0.1, 0.2]', '[2]', "'cos'")
    """
    if isinstance(value, (list, tuple)):
        values = [shown(v) for v in value]
        one = isinstance(value, list) and values and all(v == values[0] for v in values)
        return values[0] if one else f"[{', '.join(values)}]"
    return repr(float(f"{value:.12g}") if isinstance(value, float) else value)


def _changed_arguments(
    named: str,
    inner: Any,
    saved: Mapping[str, Any],
    declared: Mapping[str, Any],
    groups: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    info: SchedulerInfo,
) -> list[str]:
    """A line for each argument of the torch scheduler ``inner`` (``named``) whose value in the checkpoint's state
    (``saved``, with the checkpoint's param groups) is not the declared one (``declared``, with the groups as its
    construction wrote them; ``info``: its record): those torch keeps under their own name, those it keeps
    elsewhere (``SchedulerInfo.kept_elsewhere``), and those of the schedulers a composite holds, each in its own state."""
    arguments = set(inspect.signature(type(inner)).parameters) - _NOT_ARGUMENTS
    changed = [
        f"{named}'s `{key}`: {saved[key]!r} in the checkpoint, {declared[key]!r} now"
        for key in sorted(arguments & set(declared))
        if not _same(saved[key], declared[key])
    ]
    # those torch keeps in the groups or under another name (`OneCycleLR`'s `max_lr`, `CyclicLR`'s `max_lrs`)
    elsewhere = [
        (key, read(saved, groups[0]), read(declared, groups[1])) for key, read in info.kept_elsewhere.items()
    ]
    changed += [
        f"{named}'s `{key}`: {shown(before)} in the checkpoint, {shown(now)} now"
        for key, before, now in elsewhere
        if not _same(before, now)
    ]
    composed = zip(
        getattr(inner, "_schedulers", None) or [],
        saved.get("_schedulers") or [],
        declared.get("_schedulers") or [],
    )
    for index, (child, before, now) in enumerate(composed):
        changed += _changed_arguments(
            f"{named}'s `schedulers[{index}]` (`{type(child).__name__}`)",
            child,
            before,
            now,
            groups,
            scheduler_info(type(child)),
        )
    return changed


def _declaration_mismatch(scheduler: ResolvedScheduler) -> str | None:
    """Why the declared schedule is more than the torch scheduler a hand-written module stepped, if it is."""
    spec = scheduler.spec
    if spec.warmup:
        count = spec.warmup
        warmup = f"{count} update{'s' * (count != 1)}" if isinstance(count, int) else f"{count:g} of the run"
        return f"is declared with a warmup of {warmup}"
    if scheduler.windowed:
        return f"is declared to act in the window `begin={spec.begin!r}`, `end={spec.end!r}`"
    if spec.param != "lr":
        return f"is declared to drive `{spec.param}` rather than the lr"
    return None


def adopt(
    trainer: Trainer, schedule: Schedule, scheduler: ResolvedScheduler, saved: Mapping[str, Any]
) -> list[str]:
    """Build ``schedule`` for the whole run and load ``saved``, a hand-written module's torch scheduler state,
    into it; or say why the state is not the declared schedule's (then ``schedule`` is left to be restarted)."""
    where, name = scheduler.where, scheduler.cls.__name__
    why = _declaration_mismatch(scheduler)
    if why is not None:
        return [f"{where}: `{name}` {why}, which a scheduler written without lightning_optim did not take"]
    groups = schedule.optimizer.param_groups
    restored = snapshot_groups(groups)  # the checkpoint's settings, kept as a restore keeps them
    schedule.fix(run_shape(trainer, scheduler, (0, 0)))
    written = snapshot_groups(groups)  # with the arguments the declared scheduler's construction wrote
    restore_groups(groups, restored)
    inner = schedule.inner
    declared = inner.state_dict()
    if _attributes(saved) != _attributes(declared):
        keys = ", ".join(f"`{key}`" for key in _attributes(saved)[0] if key not in _COMMON)
        return [
            f"{where}: Expected the state of a `{name}` but got the state of another scheduler class ({keys})"
        ]
    changed = _changed_arguments(
        f"{where}: `{name}`", inner, saved, declared, (restored, written), scheduler.info
    )
    if changed:
        return changed
    position = loop_position(trainer, scheduler)
    expected = updates_between(
        trainer, scheduler, (0, 0), position[0] if scheduler.interval == "step" else position[1]
    )
    taken = saved.get("last_epoch")
    if taken != expected and not (scheduler.is_plateau and taken == expected - 1):
        frequency = scheduler.spec.frequency
        stepping = f"`interval={scheduler.interval!r}`" + (
            f", `frequency={frequency}`" if frequency != 1 else ""
        )
        return [
            f"{where}: `{name}` took {taken} updates in the checkpoint, but {stepping} takes {expected} by the "
            "resumed step"
        ]
    inner.load_state_dict(dict(saved))
    schedule.__dict__["last_epoch"] = int(
        taken
    )  # the count loaded beside its scheduler's, not a user's write
    # manual optimization: the epochs the saved scheduler finished (a mid-epoch resume has no epoch start)
    setattr(schedule, EPOCHS, trainer.current_epoch)
    return []


def refusal(owner: str, reasons: Sequence[str]) -> ValueError:
    """The error refusing scheduler states of a checkpoint written without the mixin that are not the declared
    schedules'."""
    return ValueError(
        f"{owner}: Expected the scheduler states of a checkpoint written without lightning_optim (by a "
        "hand-written `configure_optimizers`) to be those of the declared schedulers, to continue them exactly, "
        "but got:\n  "
        + "\n  ".join(reasons)
        + "\nDeclare each scheduler as the hand-written module built it "
        "(class, arguments, `interval`, `frequency`; no warmup or window), or set "
        "`resume_changed_setup = 'continue'` on the class to keep the weights, the loop's progress and the "
        "optimizer state and evaluate the declared schedules at the resumed step, or "
        "`resume_changed_setup = 'fresh'` to start every optimizer and schedule anew there."
    )
