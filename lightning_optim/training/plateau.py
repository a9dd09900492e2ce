"""A plateau scheduler's ``monitor`` that was never logged: one message, with a near miss, in both modes.

A mistyped ``monitor`` (``val_los`` for ``val_loss``) is found at the first point the metric is missing where
it is needed. In manual optimization the mixin steps the plateau itself (``training/stepping.py``) and
raises there. In automatic optimization Lightning steps it and, for ``strict=True``, raises its own
``MisconfigurationException`` ("ReduceLROnPlateau conditioned on metric val_los which is not available ...
Condition can be set using `monitor` key in lr scheduler dict"), which names neither the declaration nor
the near miss and gives advice for a dict the user never wrote. ``StrictMonitor`` goes in that config's
``strict``: Lightning reads ``config.strict`` only when the metric is missing, right before it would raise,
and this object raises the package's ``ValueError`` at exactly that point instead (listed in
``utilities/compat.py``; a real-``Trainer`` test fails if Lightning changes that).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lightning.pytorch.utilities import rank_zero_warn

from lightning_optim.declaring.scheduler import ResolvedScheduler
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import did_you_mean, listing


def missing_monitor(scheduler: ResolvedScheduler, logged: Iterable[str], when: str) -> str:
    """Why a plateau's ``monitor`` is not there, with the closest logged metric (``when``: ``by the end of
    epoch 0``), and what to do for a ``strict`` scheduler.

    Example:
        >>> from lightning_optim.declaring.scheduler import resolve_scheduler
        >>> from lightning_optim.declaring.specs import SchedulerSpec
        >>> spec = SchedulerSpec("plateau", monitor="val_los")
        >>> print(missing_monitor(resolve_scheduler("M.optimizer.scheduler", spec), ["val_loss"], "by epoch 0"))
        M.optimizer.scheduler: `ReduceLROnPlateau` monitors `val_los` (did you mean `val_loss`?), which was not logged by epoch 0. Logged metrics: `val_loss`. Log it with `self.log(...)`, correct `monitor`, or pass `strict=False` to skip such steps.
    """
    names = sorted(logged)
    monitor = scheduler.spec.monitor or ""
    message = (
        f"{scheduler.where}: `ReduceLROnPlateau` monitors `{monitor}`{did_you_mean(monitor, names)}, which was "
        f"not logged {when}. Logged metrics: {listing(names) or 'none'}."
    )
    return message + (
        " Log it with `self.log(...)`, correct `monitor`, or pass `strict=False` to skip such steps."
        if scheduler.spec.strict
        else " Skipping this step because `strict=False`."
    )


def check_synced(scheduler: ResolvedScheduler, trainer: Any) -> None:
    """Refuse, under several processes, a monitored metric logged without ``sync_dist``: each process would step
    the plateau on its own value and train with its own lr, and DDP's replicas would drift apart (Lightning
    steps them so, without a word; it warns only for a metric logged per epoch)."""
    monitor = scheduler.spec.monitor or ""
    if trainer.world_size > 1 and compat.logged_unsynced(trainer, monitor):
        raise ValueError(
            f"{scheduler.where}: Expected `{monitor}`, which `ReduceLROnPlateau` monitors, to be logged with "
            f"`self.log({monitor!r}, ..., sync_dist=True)` under {trainer.world_size} processes but got it logged "
            "without `sync_dist`: each process would step the scheduler on its own value, train with its own lr, "
            f"and the replicas would drift apart. Log it with `sync_dist=True`."
        )


class StrictMonitor:
    """The ``strict`` of a plateau's Lightning config: true or false as declared, read by Lightning only when
    the monitored metric is missing, where it raises (``strict=True``) or warns once (``strict=False``) with
    ``missing_monitor``'s message."""

    def __init__(self, scheduler: ResolvedScheduler, trainer: Any) -> None:
        self.scheduler = scheduler
        self.trainer = trainer
        self.warned = False

    def _when(self) -> str:
        epoch = self.trainer.current_epoch
        if self.scheduler.interval == "step":
            return f"by global step {self.trainer.global_step} (epoch {epoch})"
        return f"by the end of epoch {epoch}"

    def __bool__(self) -> bool:
        message = missing_monitor(self.scheduler, self.trainer.callback_metrics, self._when())
        if self.scheduler.spec.strict:
            raise ValueError(message)
        if not self.warned:
            self.warned = True
            rank_zero_warn(message, category=RuntimeWarning)
        return False

    def __repr__(self) -> str:
        return repr(self.scheduler.spec.strict)


def check_stepped_synced(trainer: Any, scheduler: Any) -> None:
    """``check_synced`` for the declared plateau Lightning steps as ``scheduler`` (automatic optimization)."""
    if trainer is None or trainer.world_size < 2:
        return
    for config in trainer.lr_scheduler_configs:
        if config.scheduler is scheduler and isinstance(config.strict, StrictMonitor):
            check_synced(config.strict.scheduler, trainer)
