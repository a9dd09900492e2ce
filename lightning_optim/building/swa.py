"""Lightning's ``StochasticWeightAveraging`` puts its ``SWALR`` in the place of the run's scheduler.

At the start of its first epoch (``swa_start``) the callback replaces the trainer's only scheduler config with
one of its own ``SWALR``; resumed from a checkpoint written during SWA, it clears the configs when the fit
starts (so that the declared schedule does not receive ``SWALR``'s state) and puts ``SWALR`` back at the first
epoch start. A declared schedule is stepped only until then: its length has to cover the run up to there, and
once displaced it takes no more steps and has no state of its own.

For a model with BatchNorm the callback adds an epoch to the fit loop's ``max_epochs`` when the fit starts (it
updates the averaged model's statistics there) and removes it when training ends. That epoch is not the run's:
a length derived from the run leaves it out (``max_epochs``), as a hand-written
``OneCycleLR(total_steps=trainer.estimated_stepping_batches)`` in ``configure_optimizers`` does, built before
the callback adds it.
"""

from __future__ import annotations

from typing import Any

from lightning_optim.utilities import compat


def swa_start(trainer: Any) -> int | None:
    """The epoch at whose start ``StochasticWeightAveraging`` displaces the scheduler; ``None`` without one.

    Read once the fit has started: ``swa_epoch_start`` given as a fraction is converted in ``on_fit_start``.
    """
    for callback in getattr(trainer, "callbacks", None) or ():
        if isinstance(callback, compat.lightning_classes("callbacks.StochasticWeightAveraging")):
            return int(callback.swa_start)
    return None


def max_epochs(trainer: Any) -> int | None:
    """The run's ``max_epochs``: the Trainer's, without the epoch ``StochasticWeightAveraging`` adds for a model
    with BatchNorm while it holds it."""
    epochs: int | None = trainer.max_epochs
    for callback in getattr(trainer, "callbacks", None) or ():
        swa = isinstance(callback, compat.lightning_classes("callbacks.StochasticWeightAveraging"))
        if swa and compat.swa_batch_norm_epoch(callback, trainer):
            return epochs - 1 if epochs is not None else None
    return epochs


def displaced(trainer: Any, schedule: Any) -> bool:
    """Whether ``StochasticWeightAveraging`` holds the trainer's schedulers in ``schedule``'s place."""
    if swa_start(trainer) is None:
        return False
    return all(config.scheduler is not schedule for config in trainer.lr_scheduler_configs)
