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
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn
from typing_extensions import override

from lightning_optim._build import Built

STEPS = "_lightning_optim_steps"
EPOCHS = "_lightning_optim_epochs"


def _metric(trainer: Trainer, built: Built, *, epoch_end: bool) -> float | None:
    """The monitored value for a plateau scheduler, ``None`` to skip this time."""
    scheduler = built.plan.scheduler
    if scheduler is None or scheduler.monitor is None:
        return None
    value = trainer.callback_metrics.get(scheduler.monitor)
    if value is not None:
        return float(value)
    validation_due = (
        trainer.check_val_every_n_epoch is None
        or not trainer.num_val_batches
        or (trainer.current_epoch + 1) % trainer.check_val_every_n_epoch == 0
    )
    if not epoch_end or not validation_due:
        return None  # not logged yet: wait until the metric exists
    message = (
        f"{scheduler.where}: `ReduceLROnPlateau` monitors `{scheduler.monitor}`, which was not logged by the end "
        f"of epoch {trainer.current_epoch}. Available metrics: {sorted(trainer.callback_metrics)}."
    )
    if scheduler.strict:
        raise ValueError(message + " Log it with `self.log(...)` or pass `strict=False` to skip such steps.")
    rank_zero_warn(message + " Skipping this step because `strict=False`.", category=RuntimeWarning)
    return None


def _step(trainer: Trainer, built: Built, *, epoch_end: bool) -> None:
    if built.plan.scheduler is not None and built.plan.scheduler.is_plateau:
        value = _metric(trainer, built, epoch_end=epoch_end)
        if value is not None:
            built.scheduler.step(value)
    else:
        built.scheduler.step()


class _AfterOptimizerStep:
    """A torch post-step hook counting one optimizer's steps and stepping its per-step scheduler."""

    def __init__(self, trainer: Trainer, built: Built) -> None:
        self.trainer = trainer
        self.built = built

    def __call__(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        scheduler = self.built.scheduler
        steps = getattr(scheduler, STEPS, 0) + 1
        setattr(scheduler, STEPS, steps)
        if self.built.plan.scheduler is not None and steps % self.built.plan.scheduler.frequency == 0:
            _step(self.trainer, self.built, epoch_end=False)


class ManualSchedulerStepping(Callback):
    """Steps the declared ``interval="epoch"`` schedulers of a manual-optimization mixin module."""

    def __init__(self, built: Sequence[Built]) -> None:
        self.epoch_schedulers = [
            b for b in built if b.scheduler is not None and b.plan.scheduler and b.plan.scheduler.interval == "epoch"
        ]

    def _finish_epoch(self, trainer: Trainer, built: Built, epoch: int, *, catch_up: bool) -> None:
        setattr(built.scheduler, EPOCHS, epoch + 1)
        if built.plan.scheduler is None or (epoch + 1) % built.plan.scheduler.frequency:
            return
        if catch_up and built.plan.scheduler.is_plateau:
            return  # the metric of an epoch before the checkpoint is gone; its step cannot be replayed
        _step(trainer, built, epoch_end=True)

    @override
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        for built in self.epoch_schedulers:
            done = getattr(built.scheduler, EPOCHS, 0)
            if done is None:  # started fresh on resume: its first epoch is this one
                setattr(built.scheduler, EPOCHS, trainer.current_epoch)
                continue
            for epoch in range(done, trainer.current_epoch):
                self._finish_epoch(trainer, built, epoch, catch_up=True)

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        for built in self.epoch_schedulers:
            if getattr(built.scheduler, EPOCHS, 0) == trainer.current_epoch:
                self._finish_epoch(trainer, built, trainer.current_epoch, catch_up=False)


def start_fresh(scheduler: Any) -> dict[str, Any]:
    """Mark a fresh scheduler of a resumed run, whose epochs count from the resumed one; its state."""
    setattr(scheduler, EPOCHS, None)
    return dict(scheduler.state_dict())


def install(trainer: Trainer, built: Sequence[Built]) -> None:
    """Hook per-step schedulers to their optimizers and put the epoch stepper first in the callbacks."""
    for b in built:
        if b.scheduler is not None and b.plan.scheduler is not None and b.plan.scheduler.interval == "step":
            b.optimizer.register_step_post_hook(_AfterOptimizerStep(trainer, b))
    trainer.callbacks[:] = [c for c in trainer.callbacks if not isinstance(c, ManualSchedulerStepping)]
    trainer.callbacks.insert(0, ManualSchedulerStepping(built))
