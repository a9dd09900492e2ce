"""Lengths that stay true when the run changes after ``configure_optimizers``.

Lengths derived from the run (an omitted ``T_max``, a fractional warmup, ``unit="epoch"`` conversions) are
derived when ``configure_optimizers`` runs, at the start of ``fit``. Several things change the run after
that, before any optimizer step: ``BatchSizeFinder`` picks another batch size (in ``on_fit_start``),
``LearningRateFinder`` runs a short fit of its own and restores the state, a user callback changes
``max_epochs``. A schedule built for the old run would then end early or late: a cosine meant to reach
``eta_min`` at the last step stops halfway, or comes back up.

So the mixin puts ``RunShapeWatch`` first in the callbacks. When training starts (the first epoch's start,
or the first batch of a run resumed mid-epoch) it derives every length again from the run as it now is;
where a length changed and the scheduler has not been stepped yet, it builds the scheduler again from its
declaration, exactly as if the run had been known in ``configure_optimizers`` (``rebuild_scheduler``). The
resume fingerprint then records the final lengths. It does the same when an lr was set from outside before
the first step: ``LearningRateFinder`` writes its suggestion into the param groups, and a schedule that
computes from its base lrs (a warmup, ``OneCycleLR``, ``LambdaLR``) would otherwise drop it at its first
step; rebuilt, the schedule starts from the suggestion as if it had been declared.

At every later epoch start and epoch's first batch it checks the lengths again. A change there cannot be
followed: the schedule has taken steps of the old length. The typical case is a train dataloader whose
length changes when ``reload_dataloaders_every_n_epochs`` reloads it; the run's length cannot be known in
advance, and the watch stops with a ``ValueError`` naming what changed rather than running a wrong length.
A ``GradientAccumulationScheduler`` is no such change: its schedule is known from the start, and the
lengths count its epochs' optimizer steps (``building/length.py``).

A resumed run restores its schedules, built with the lengths of the run that wrote the checkpoint (recorded
in the resume fingerprint, with where each schedule started). ``configure_optimizers`` cannot know the
final lengths yet (a ``BatchSizeFinder`` has not run), so with ``resume_changed_setup = "error"`` the mixin
builds the schedules with the checkpoint's lengths (``adopt_checkpoint_shapes``), and the watch checks
when training starts that the resumed run has them, or stops naming the difference.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from typing_extensions import override

from lightning_optim.building.build import Built, lr_set_outside, rebuild_schedulers
from lightning_optim.building.length import (
    DerivedFromRun,
    RunStart,
    accumulation_scheduler,
    loop_position,
    run_shape,
    run_start,
)
from lightning_optim.declarations.resolve import ResolvedScheduler
from lightning_optim.training import resume as _resume
from lightning_optim.training.callbacks import MixinCallback, put_first
from lightning_optim.utilities import compat

#: the mixin's own attributes on a scheduler (stepping counters), not part of its schedule
_BOOKKEEPING = "_lightning_optim_"
#: where each derived schedule of a checkpoint started: ``{optimizer index: [step, epoch]}``
STARTS_KEY = "lightning_optim_run_starts"


@dataclass(frozen=True)
class RunFacts:
    """What a derived length depends on, to say what changed."""

    batches: float
    max_epochs: int | None
    max_steps: int | None
    accumulation: str

    @classmethod
    def of(cls, trainer: Any) -> RunFacts:
        schedule = accumulation_scheduler(trainer)
        accumulation = (
            f"GradientAccumulationScheduler({schedule.scheduling})"
            if schedule is not None
            else str(trainer.accumulate_grad_batches)
        )
        return cls(
            batches=float(trainer.num_training_batches),
            max_epochs=trainer.max_epochs,
            max_steps=trainer.max_steps,
            accumulation=accumulation,
        )

    def describe(self) -> str:
        """The facts in words."""
        return (
            f"{_count(self.batches)} training batches per epoch, `max_epochs={self.max_epochs}`, "
            f"`max_steps={self.max_steps}`, `accumulate_grad_batches={self.accumulation}`"
        )

    def changes(self, now: RunFacts, trainer: Any) -> list[str]:
        """What differs from ``now``, one phrase each."""
        lines = []
        if self.batches != now.batches:
            reload = trainer.reload_dataloaders_every_n_epochs
            why = (
                f" (`reload_dataloaders_every_n_epochs={reload}` reloaded the train dataloader)"
                if reload
                else ""
            )
            lines.append(f"training batches per epoch {_count(self.batches)} -> {_count(now.batches)}{why}")
        if self.max_epochs != now.max_epochs:
            lines.append(f"`max_epochs` {self.max_epochs} -> {now.max_epochs}")
        if self.max_steps != now.max_steps:
            lines.append(f"`max_steps` {self.max_steps} -> {now.max_steps}")
        if self.accumulation != now.accumulation:
            lines.append(f"`accumulate_grad_batches` {self.accumulation} -> {now.accumulation}")
        return lines


def _count(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _state(built: Built) -> list[dict[str, Any]]:
    """The states of the optimizer's schedulers, without the mixin's bookkeeping."""
    return [
        {k: v for k, v in scheduler.state_dict().items() if not k.startswith(_BOOKKEEPING)}
        for scheduler in built.schedulers
    ]


def _same(a: Any, b: Any) -> bool:
    """Equal states: nested dicts and sequences, tensors compared by value."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except (TypeError, ValueError, RuntimeError):
        return a is b


@dataclass
class _Watched:
    """One derived schedule: where it starts, its state when built, and the run it was derived from."""

    index: int
    start: RunStart
    state: list[dict[str, Any]]
    facts: RunFacts


def _depends_on_run(spec: ResolvedScheduler) -> bool:
    return (
        spec.derived_length is not None
        or isinstance(spec.warmup, float)
        or (spec.unit == "epoch" and spec.interval == "step")
        or spec.windowed
    )


def _fix(spec: ResolvedScheduler) -> str:
    fixes = []
    if spec.derived_length is not None:
        fixes.append(f"give `{spec.derived_length}` explicitly")
    if isinstance(spec.warmup, float):
        fixes.append("give `warmup` as an int")
    if spec.unit == "epoch" and spec.interval == "step":
        fixes.append("declare the schedule in steps")
    if spec.windowed:
        fixes.append("give `begin` and `end` as ints")
    return " and ".join(fixes)


def _what(spec: ResolvedScheduler, shape: DerivedFromRun) -> str:
    parts = []
    if spec.derived_length is not None:
        parts.append(f"`{spec.derived_length}={shape.derived_length}`")
    if isinstance(spec.warmup, float):
        parts.append(f"a warmup of {shape.warmup} updates")
    if shape.steps_per_epoch is not None:
        parts.append(f"{shape.steps_per_epoch} steps per epoch")
    if shape.window is not None:
        parts.append(f"the window {list(shape.window)}")
    return " and ".join(parts) or "its run shape"


class RunShapeWatch(MixinCallback):
    """Derives the declared schedules' lengths again when training starts, and checks them every epoch."""

    def __init__(
        self, owner: str, trainer: Trainer, built: list[Built], resumed: Resumed | None = None
    ) -> None:
        super().__init__()
        self.owner = owner
        self.built = built
        #: the schedules restored from a checkpoint, with where they started, and its fingerprint
        self.saved = resumed.fingerprint if resumed is not None else None
        self.resumed = dict(resumed.starts) if resumed is not None else {}
        start = run_start(trainer)
        self.watched = [
            _Watched(index, self.resumed.get(index, start), _state(b), RunFacts.of(trainer))
            for index, b in enumerate(built)
            if any(_depends_on_run(spec) for spec in b.declared.schedulers)
        ]
        self.started_once = False
        self.checked_epoch = -1
        if not self.watched:
            compat.disable_hook(self, "on_train_batch_start")

    def _refresh(self, trainer: Trainer) -> None:
        if trainer.current_epoch == self.checked_epoch:
            return
        self.checked_epoch = trainer.current_epoch
        rebuilt = False
        for watched in self.watched:
            rebuilt |= self._refresh_one(trainer, watched)
        self.started_once = True
        if rebuilt:
            for callback in trainer.callbacks:  # type: ignore[attr-defined]
                if isinstance(callback, _resume.ResumeGuard) and callback.built is self.built:
                    callback.fingerprint = _resume.fingerprint(self.built)

    def _refresh_one(self, trainer: Trainer, watched: _Watched) -> bool:
        built = self.built[watched.index]
        untouched = _same(_state(built), watched.state)
        start = loop_position(trainer) if untouched else watched.start
        shapes = tuple(run_shape(trainer, spec, start) for spec in built.declared.schedulers)
        facts = RunFacts.of(trainer)
        if shapes == built.shapes and not (untouched and lr_set_outside(built)):
            watched.facts = facts
            return False
        if not untouched and watched.index in self.resumed and not self.started_once and self.saved:
            # the resumed run derives other lengths than the run that wrote the checkpoint: the resume
            # guard's refusal, with the lengths as they are now
            trial = list(self.built)
            trial[watched.index] = replace(built, shapes=shapes)
            _resume.check_resume(
                self.owner, {_resume.CHECKPOINT_KEY: self.saved}, trial, _resume.fingerprint(trial), "error"
            )
        if not untouched:
            changed = watched.facts.changes(facts, trainer) or ["the run's length"]
            spec, old = next(
                (spec, old)
                for spec, old, new in zip(built.declared.schedulers, built.shapes, shapes)
                if old != new
            )
            raise ValueError(
                f"{spec.where}: `{spec.cls.__name__}` was built with {_what(spec, old)}, derived from the "
                f"run when training started, but the run changed at epoch {trainer.current_epoch}: "
                f"{'; '.join(changed)}. The schedule has already taken steps of the old length, so it cannot "
                "follow: a length derived from the run needs a run whose length is known when training "
                f"starts. Fix: {_fix(spec)}."
            )
        self.built[watched.index] = rebuild_schedulers(built, trainer, shapes)
        watched.start = start
        watched.state = _state(self.built[watched.index])
        watched.facts = facts
        return True

    @override
    def on_save_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[STARTS_KEY] = {str(w.index): [w.start.step, w.start.epoch] for w in self.watched}

    @override
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.watched:
            return
        self._refresh(trainer)
        # check again at the epoch's first batch, after the other callbacks' epoch starts
        self.checked_epoch = -1
        vars(self).pop("on_train_batch_start", None)

    @override
    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        # the epoch's first batch, or the first of a run resumed mid-epoch; not again until the next epoch
        compat.disable_hook(self, "on_train_batch_start")
        self._refresh(trainer)


def _saved_shape(spec: ResolvedScheduler, saved: Any) -> DerivedFromRun | None:
    """The run shape a checkpoint's fingerprint entry records for ``spec``, if it records one."""
    if not isinstance(saved, Mapping):
        return None
    values = (
        saved.get("warmup steps (derived)"),
        saved.get(f"{spec.derived_length or 'length'} (derived)"),
        saved.get("steps per epoch (derived)"),
    )
    if not isinstance(values[0], int) or not all(v is None or isinstance(v, int) for v in values[1:]):
        return None
    window = None
    if "window (derived)" in saved:
        try:
            window = ast.literal_eval(str(saved["window (derived)"]))
        except (ValueError, SyntaxError):
            return None
        if not (isinstance(window, tuple) and len(window) == 2):
            return None
    return DerivedFromRun(
        warmup=values[0], derived_length=values[1], steps_per_epoch=values[2], window=window
    )


def _entries(fingerprint_entry: Any) -> list[Any] | None:
    """The scheduler entries of one optimizer's fingerprint entry, in order."""
    if not isinstance(fingerprint_entry, Mapping):
        return None
    if "schedulers" in fingerprint_entry:
        listed = fingerprint_entry["schedulers"]
        return list(listed) if isinstance(listed, list) else None
    single = fingerprint_entry.get("scheduler")
    return [] if single is None else [single]


def _declared_part(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if not str(k).endswith("(derived)")}


@dataclass(frozen=True)
class Resumed:
    """The derived schedules a checkpoint restores: where each started, and the checkpoint's fingerprint."""

    starts: dict[int, RunStart] = field(default_factory=dict)
    fingerprint: Mapping[str, Any] = field(default_factory=dict)


def adopt_checkpoint_shapes(trainer: Trainer, built: list[Built]) -> Resumed | None:
    """Before a resume: build the derived schedules with the lengths the checkpoint's were built with.

    Only where the checkpoint's fingerprint declares the same schedule (everything but the derived values);
    the resume guard reports any other difference. Returns where each schedule of the checkpoint started,
    with its fingerprint; ``None`` without a checkpoint.
    """
    checkpoint = compat.loaded_checkpoint(trainer)
    saved = checkpoint.get(_resume.CHECKPOINT_KEY) if checkpoint else None
    if not isinstance(saved, Mapping) or saved.get("version") != _resume.FINGERPRINT_VERSION:
        return None
    entries = saved.get("optimizers")
    if not isinstance(entries, list) or len(entries) != len(built):
        return None
    starts = checkpoint.get(STARTS_KEY)
    starts = starts if isinstance(starts, Mapping) else {}
    resumed: dict[int, RunStart] = {}
    for index, (b, entry) in enumerate(zip(built, entries)):
        saved_entries = _entries(entry)
        current = _entries(_resume.fingerprint([b])["optimizers"][0])
        if (
            not any(_depends_on_run(spec) for spec in b.declared.schedulers)
            or saved_entries is None
            or current is None
            or len(saved_entries) != len(current)
            or any(
                not isinstance(old, Mapping) or _declared_part(old) != _declared_part(new)
                for old, new in zip(saved_entries, current)
            )
        ):
            continue
        shapes = [_saved_shape(spec, old) for spec, old in zip(b.declared.schedulers, saved_entries)]
        if any(shape is None for shape in shapes):
            continue
        known = tuple(shape for shape in shapes if shape is not None)
        if known != b.shapes:
            built[index] = rebuild_schedulers(b, trainer, known)
        start = starts.get(str(index))
        valid = isinstance(start, list) and len(start) == 2 and all(isinstance(v, int) for v in start)
        resumed[index] = RunStart(step=start[0], epoch=start[1]) if valid else RunStart()  # type: ignore[index]
    return Resumed(resumed, saved)


def install(owner: str, trainer: Trainer, built: Sequence[Built], resumed: Resumed | None = None) -> None:
    """Put a fresh ``RunShapeWatch`` for ``built`` (the mixin's list, updated in place) first in the callbacks."""
    if not isinstance(built, list):
        raise TypeError(f"Expected the built optimizers as a list but got {type(built).__name__}.")
    put_first(trainer, RunShapeWatch(owner, trainer, built, resumed))
