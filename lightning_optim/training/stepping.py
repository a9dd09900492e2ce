"""Step schedulers in manual optimization, where Lightning never steps them.

``interval="step"`` schedulers step from a post-step hook on their own optimizer, so every real
``optimizer.step()`` counts (and accumulation that steps every k batches counts optimizer steps, not
batches). ``interval="epoch"`` schedulers step from a callback the mixin puts first in
``trainer.callbacks``, so a module's own ``on_train_epoch_end`` without ``super()`` cannot skip them and
``ModelCheckpoint`` saves the state after the step.

The counters live on the scheduler object itself. Torch schedulers put every instance attribute in
``state_dict()``, so Lightning's own checkpointing saves and restores them and a resumed run continues the
exact trajectory. A checkpoint written before an epoch's step (one saved during validation) is caught up
at the start of the next epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn
from typing_extensions import override

from lightning_optim.building.build import Built
from lightning_optim.declarations.resolve import ResolvedScheduler
from lightning_optim.training.callbacks import put_first
from lightning_optim.utilities import compat

STEPS = "_lightning_optim_steps"
EPOCHS = "_lightning_optim_epochs"


@dataclass(frozen=True)
class Scheduled:
    """A live scheduler with its optimizer and declaration."""

    optimizer: Any
    scheduler: Any
    spec: ResolvedScheduler

    @classmethod
    def all_of(cls, built: Sequence[Built]) -> list[Scheduled]:
        return [cls(b.optimizer, live, spec) for b in built for live, spec, _ in b.scheduled()]


def _metric(trainer: Trainer, spec: ResolvedScheduler, *, epoch_end: bool) -> float | None:
    """The monitored value for a plateau scheduler, ``None`` to skip this time."""
    value = trainer.callback_metrics.get(spec.monitor or "")
    if value is not None:
        return float(value)
    if not epoch_end:
        return None  # not logged yet: wait until the metric exists
    validation_due = (
        trainer.check_val_every_n_epoch is None
        or not trainer.num_val_batches
        or (trainer.current_epoch + 1) % trainer.check_val_every_n_epoch == 0
    )
    if not validation_due:
        return None  # no validation this epoch: wait until the metric exists
    message = (
        f"{spec.where}: `ReduceLROnPlateau` monitors `{spec.monitor}`, which was not logged by the end "
        f"of epoch {trainer.current_epoch}. Available metrics: {sorted(trainer.callback_metrics)}."
    )
    if spec.strict:
        raise ValueError(message + " Log it with `self.log(...)` or pass `strict=False` to skip such steps.")
    rank_zero_warn(message + " Skipping this step because `strict=False`.", category=RuntimeWarning)
    return None


def _step(trainer: Trainer, scheduled: Scheduled, *, epoch_end: bool) -> None:
    if scheduled.spec.is_plateau:
        value = _metric(trainer, scheduled.spec, epoch_end=epoch_end)
        if value is not None:
            scheduled.scheduler.step(value)
    else:
        scheduled.scheduler.step()


class _AfterOptimizerStep:
    """A torch post-step hook counting one optimizer's steps and stepping its per-step scheduler."""

    def __init__(self, trainer: Trainer, scheduled: Scheduled) -> None:
        self.trainer = trainer
        self.scheduled = scheduled

    def __call__(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        scheduler = self.scheduled.scheduler
        steps = getattr(scheduler, STEPS, 0) + 1
        setattr(scheduler, STEPS, steps)
        if steps % self.scheduled.spec.frequency == 0:
            _step(self.trainer, self.scheduled, epoch_end=False)


class ManualSchedulerStepping(Callback):
    """Steps the declared ``interval="epoch"`` schedulers of a manual-optimization mixin module."""

    def __init__(self, scheduled: Sequence[Scheduled]) -> None:
        self.per_epoch = [s for s in scheduled if s.spec.interval == "epoch"]
        compat.disable_unused_batch_hooks(self)

    def _finish_epoch(self, trainer: Trainer, scheduled: Scheduled, epoch: int, *, catch_up: bool) -> None:
        setattr(scheduled.scheduler, EPOCHS, epoch + 1)
        if (epoch + 1) % scheduled.spec.frequency:
            return
        if catch_up and scheduled.spec.is_plateau:
            return  # the metric of an epoch before the checkpoint is gone; its step cannot be replayed
        _step(trainer, scheduled, epoch_end=True)

    @override
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        for scheduled in self.per_epoch:
            done = getattr(scheduled.scheduler, EPOCHS, 0)
            if done is None:  # started fresh on resume: its first epoch is this one
                setattr(scheduled.scheduler, EPOCHS, trainer.current_epoch)
                continue
            for epoch in range(done, trainer.current_epoch):
                self._finish_epoch(trainer, scheduled, epoch, catch_up=True)

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        for scheduled in self.per_epoch:
            if getattr(scheduled.scheduler, EPOCHS, 0) == trainer.current_epoch:
                self._finish_epoch(trainer, scheduled, trainer.current_epoch, catch_up=False)


def start_fresh(scheduler: Any) -> dict[str, Any]:
    """Mark a fresh scheduler of a resumed run, whose epochs count from the resumed one; its state."""
    setattr(scheduler, EPOCHS, None)
    return dict(scheduler.state_dict())


def install(trainer: Trainer, built: Sequence[Built]) -> None:
    """Hook per-step schedulers to their optimizers and put the epoch stepper first in the callbacks.

    Several schedulers of one optimizer step in the declared order: their post-step hooks are registered,
    and the epoch stepper walks them, in that order (as Lightning steps its scheduler configs).
    """
    scheduled = Scheduled.all_of(built)
    for s in scheduled:
        if s.spec.interval == "step":
            s.optimizer.register_step_post_hook(_AfterOptimizerStep(trainer, s))
    put_first(trainer, ManualSchedulerStepping(scheduled))
