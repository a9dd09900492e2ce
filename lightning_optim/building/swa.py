"""Lightning's ``StochasticWeightAveraging`` puts its ``SWALR`` in the place of the run's scheduler.

At the start of its first epoch (``swa_start``) the callback replaces the trainer's only scheduler config with
one of its own ``SWALR``; resumed from a checkpoint written during SWA, it clears the configs when the fit
starts (so that the declared schedule does not receive ``SWALR``'s state) and puts ``SWALR`` back at the first
epoch start. A declared schedule is stepped only until then: its length has to cover the run up to there, and
once displaced it takes no more steps and has no state of its own.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import StochasticWeightAveraging


def swa_start(trainer: Any) -> int | None:
    """The epoch at whose start ``StochasticWeightAveraging`` displaces the scheduler; ``None`` without one.

    Read once the fit has started: ``swa_epoch_start`` given as a fraction is converted in ``on_fit_start``.
    """
    for callback in getattr(trainer, "callbacks", None) or ():
        if isinstance(callback, StochasticWeightAveraging):
            return int(callback.swa_start)
    return None


def displaced(trainer: Any, schedule: Any) -> bool:
    """Whether ``StochasticWeightAveraging`` holds the trainer's schedulers in ``schedule``'s place."""
    if swa_start(trainer) is None:
        return False
    return all(config.scheduler is not schedule for config in trainer.lr_scheduler_configs)
