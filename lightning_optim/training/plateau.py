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

Under several processes a metric logged without ``sync_dist`` is each process's own, unless the module made it
the same everywhere (an ``all_gather``'d mean, the epoch, a norm of DDP's identical replicas): each process
would step the plateau on its own value and the replicas drift apart. Only the values tell, so at each update
of such a metric the processes gather theirs (one ``all_gather`` of two numbers; a metric logged with
``sync_dist``, or one process, pays nothing) and all refuse together where they differ. A process missing the
metric of a ``strict`` plateau joins that gather before it refuses, so a metric logged on rank 0 only is named
so on every process. One logged with ``rank_zero_only=True`` is refused without a gather: Lightning takes that
flag to mean the other processes may not log it, and one that never joins would leave the others waiting.

A metric logged in ``validation_step`` is missing until the fit's first validation, which the Trainer may
schedule after the plateau's first update (``check_val_every_n_epoch=2``, ``val_check_interval=0.5`` under a
per-step plateau). A strict plateau is refused there as Lightning refuses its own config (in manual
optimization too, where the mixin steps it; a manual per-step one waits for its metric until an epoch whose
validation ran, ``training/stepping.py``), and the refusal says that validation has not run yet, with the
setting that decides when it does, instead of suggesting the training twin of the metric (``train_loss``, or a
bare ``loss``, for ``val_loss``), the only one logged so far. Its way out is one the run's settings take: a
``val_check_interval`` counted across epochs (``check_val_every_n_epoch=None``) beyond an epoch's batches wants
one that fits an epoch, which Lightning also requires beside ``check_val_every_n_epoch=1``; one of a time
(Lightning 2.6's ``val_check_interval="00:00:10:00"``, for which the Trainer keeps no ``val_check_interval``)
wants validation at each epoch's end; a per-step plateau wants ``interval='epoch'`` and validation in that epoch. Where validation never runs in the fit
(``limit_val_batches=0``, no validation data, no ``validation_step``), waiting for it is no way out: the
refusal says so, with what would run it, and the training twin is the near miss; a ``strict=False`` plateau
skips its updates as Lightning's does, with a warning that does not promise validation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from lightning.pytorch.utilities import rank_zero_warn

from lightning_optim.declaring.scheduler import ResolvedScheduler
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import did_you_mean, listing
from lightning_optim.utilities.processes import gathered, on_ranks

#: a metric name's stage: ``val_loss``, ``train/acc``
_STAGED = re.compile(r"(train|training|val|valid|validation|test)([_/])(.+)")
#: the spellings of one stage: ``training_loss`` and ``train_loss`` are one stage's
_SYNONYMS = {"training": "train", "valid": "val", "validation": "val"}


def _staged(name: str) -> tuple[str, str]:
    """``name``'s stage and the metric it names there; a name without a stage (``loss``, as Lightning's examples
    log it in ``training_step``) is the training stage's."""
    staged = _STAGED.fullmatch(name)
    return (_SYNONYMS.get(staged[1], staged[1]), staged[3]) if staged else ("train", name)


def stage_twins(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` name one metric in two stages: not a near miss for each other.

    Example:
        >>> stage_twins("val_loss", "train_loss"), stage_twins("val/acc", "train/acc")
        (True, True)
        >>> stage_twins("val_loss", "loss"), stage_twins("val_acc", "acc"), stage_twins("valid_loss", "loss")
        (True, True, True)
        >>> stage_twins("val_los", "val_loss"), stage_twins("val_loss", "train_acc")
        (False, False)
        >>> stage_twins("loss", "train_loss"), stage_twins("training_loss", "train_loss")
        (False, False)
    """
    (stage, metric), (other_stage, other_metric) = _staged(a), _staged(b)
    return stage != other_stage and metric == other_metric


class Pending(NamedTuple):
    """Why validation has not logged a plateau's metric in this fit: the Trainer's ``setting`` by which it has
    not run yet and, where it never runs in this fit, what would run it (``enable``; ``None``: it runs later);
    where it runs later, what would run it before the plateau's updates (``sooner``; empty where nothing the
    Trainer's settings say would)."""

    setting: str
    enable: str | None = None
    sooner: str = ""


def never_validated(
    limit: float, has_step: bool, has_data: bool, batches: Sequence[float] | None
) -> Pending | None:
    """Why validation never runs in this fit, or ``None`` where it may: ``limit`` (``limit_val_batches``),
    whether the module has a ``validation_step`` and the fit validation data, and the validation batches per
    dataloader once the data is loaded for good (``num_val_batches``; ``None`` before, or where it is reloaded).
    Lightning skips its val loop for each of them.

    Example:
        >>> never_validated(0, True, True, None)
        Pending(setting='`limit_val_batches=0`', enable='Run validation (a `limit_val_batches` above 0)', sooner='')
        >>> never_validated(1.0, False, True, None).setting, never_validated(1.0, True, False, None).setting
        ('the module has no `validation_step`', '`fit` has no validation data')
        >>> never_validated(1.0, True, True, [0]).setting
        'its validation data has no batches (`num_val_batches=[0]`)'
        >>> never_validated(1.0, True, True, None), never_validated(1.0, True, True, [4])
        (None, None)
    """
    if not limit:
        return Pending(f"`limit_val_batches={limit}`", "Run validation (a `limit_val_batches` above 0)")
    if not has_step:
        return Pending("the module has no `validation_step`", "Log it in a `validation_step`")
    if not has_data:
        return Pending(
            "`fit` has no validation data",
            "Give `fit` validation data (`val_dataloaders`, or a `val_dataloader` of the module or datamodule)",
        )
    if batches is not None and not sum(batches):
        return Pending(
            f"its validation data has no batches (`num_val_batches={list(batches)}`)",
            "Give `fit` validation data with batches",
        )
    return None


def _across_epochs(every: int | None, check_interval: float | None, batches: float) -> bool:
    """Whether validation counts its ``check_interval`` training batches across epochs, more than an epoch has
    (``batches``): with ``check_val_every_n_epoch=None``, the only setting where Lightning allows that."""
    return every is None and isinstance(check_interval, int) and check_interval > batches


def not_validated(
    interval: str, epoch: int, every: int | None, check_interval: float | None, limit: float, batches: float
) -> str:
    """The Trainer's setting by which validation, which runs in this fit, has not run yet where a plateau
    updates: ``every`` (``check_val_every_n_epoch``), ``check_interval`` (``val_check_interval``), ``limit``
    (``limit_val_batches``; ``None``: a time, Lightning 2.6's string or ``timedelta``) and ``batches``, the
    training batches of an epoch.

    Example:
        >>> not_validated("epoch", 0, 2, 1.0, 1.0, 4)
        '`check_val_every_n_epoch=2` skips epoch 0'
        >>> not_validated("step", 0, 1, 0.5, 1.0, 4)
        '`val_check_interval=0.5`: its first run comes after a later training batch'
        >>> not_validated("epoch", 0, None, 6, 1.0, 4)
        '`val_check_interval=6` with `check_val_every_n_epoch=None`: its first run comes after 6 training batches, and an epoch has 4'
        >>> not_validated("epoch", 0, 1, None, 1.0, 4)
        'a `val_check_interval` of a time: its first run comes once that time has passed'
    """
    if every is not None and (epoch + 1) % every:
        return f"`check_val_every_n_epoch={every}` skips epoch {epoch}"
    if check_interval is None:
        return "a `val_check_interval` of a time: its first run comes once that time has passed"
    if _across_epochs(every, check_interval, batches):
        return (
            f"`val_check_interval={check_interval}` with `check_val_every_n_epoch=None`: its first run comes after "
            f"{check_interval} training batches, and an epoch has {batches}"
        )
    if interval == "step":
        return f"`val_check_interval={check_interval}`: its first run comes after a later training batch"
    return f"`check_val_every_n_epoch={every}`, `val_check_interval={check_interval}`, `limit_val_batches={limit}`"


def sooner(interval: str, epoch: int, every: int | None, check_interval: float | None, batches: float) -> str:
    """What makes validation, which runs in this fit but not yet (``not_validated``, same arguments but
    ``limit``), run before a strict plateau's updates: validation in each epoch and, per step, an update after
    it (``interval='epoch'``); for a per-epoch plateau, empty where these settings already validate each epoch
    (something else holds validation back).

    Example:
        >>> sooner("epoch", 0, 2, 1.0, 4)
        'validation every epoch (`check_val_every_n_epoch=1`)'
        >>> sooner("step", 0, 1, 0.5, 4)
        "`interval='epoch'` (updated after the epoch's validation)"
        >>> sooner("step", 0, 2, 0.5, 4)
        "`interval='epoch'` (updated after the epoch's validation) with validation every epoch (`check_val_every_n_epoch=1`)"
        >>> sooner("epoch", 0, None, 6, 4)
        'validation in each epoch: a `val_check_interval` of at most 4, the training batches of an epoch (counted across epochs as now, or within each with `check_val_every_n_epoch=1`)'
        >>> sooner("epoch", 0, 2, None, 4)
        "validation at each epoch's end (`val_check_interval=1.0`, the default, with `check_val_every_n_epoch=1`, instead of a time)"
        >>> sooner("epoch", 0, 1, 1.0, 4)
        ''
    """
    if check_interval is None:  # a time: Lightning validates by batches only without one
        each = (
            "validation at each epoch's end (`val_check_interval=1.0`, the default, with `check_val_every_n_epoch=1`, "
            "instead of a time)"
        )
    elif _across_epochs(every, check_interval, batches):
        each = (
            f"validation in each epoch: a `val_check_interval` of at most {batches}, the training batches of an "
            "epoch (counted across epochs as now, or within each with `check_val_every_n_epoch=1`)"
        )
    elif every is not None and (epoch + 1) % every:
        each = "validation every epoch (`check_val_every_n_epoch=1`)"
    else:
        each = ""
    if interval == "epoch":
        return each
    after = "`interval='epoch'` (updated after the epoch's validation)"
    return f"{after} with {each}" if each else after


def validation_pending(trainer: Any, interval: str, epoch: int) -> Pending | None:
    """Why ``trainer``'s validation has not run yet in this fit (``never_validated``, else ``not_validated``),
    or ``None`` where it has."""
    if compat.validation_ran(trainer):
        return None
    loaded = trainer.val_dataloaders is not None and not trainer.reload_dataloaders_every_n_epochs
    never = never_validated(
        trainer.limit_val_batches,
        compat.is_overridden("validation_step", trainer.lightning_module),
        compat.has_validation_data(trainer),
        trainer.num_val_batches if loaded else None,
    )
    if never is not None:
        return never
    every, check_interval, batches = (
        trainer.check_val_every_n_epoch,
        getattr(trainer, "val_check_interval", None),  # not set for a time (Lightning keeps its seconds)
        trainer.num_training_batches,
    )
    return Pending(
        not_validated(interval, epoch, every, check_interval, trainer.limit_val_batches, batches),
        sooner=sooner(interval, epoch, every, check_interval, batches),
    )


def missing_monitor(
    scheduler: ResolvedScheduler, logged: Iterable[str], when: str, pending: Pending | None = None
) -> str:
    """Why a plateau's ``monitor`` is not there, with the closest logged metric (``when``: ``by the end of
    epoch 0``), and what to do for a ``strict`` scheduler. Before the fit's validation has run (``pending``:
    the setting by which, ``validation_pending``), a metric of another stage is no near miss, and without one the
    message says that validation has not run yet; where it never runs in this fit, the message says so and the
    metric's training twin (``loss`` for ``val_loss``) is the near miss.

    Example:
        >>> from lightning_optim.declaring.scheduler import resolve_scheduler
        >>> from lightning_optim.declaring.specs import SchedulerSpec
        >>> spec = SchedulerSpec("plateau", monitor="val_los")
        >>> print(missing_monitor(resolve_scheduler("M.optimizer.scheduler", spec), ["val_loss"], "by epoch 0"))
        M.optimizer.scheduler: `ReduceLROnPlateau` monitors `val_los` (did you mean `val_loss`?), which was not logged by epoch 0. Logged metrics: `val_loss`. Log it with `self.log(...)`, correct `monitor`, or pass `strict=False` to skip such steps.
        >>> spec = SchedulerSpec("plateau", monitor="val_loss")
        >>> never = never_validated(0, True, True, None)
        >>> print(missing_monitor(resolve_scheduler("M.optimizer.scheduler", spec), ["loss"], "by epoch 0", never))
        M.optimizer.scheduler: `ReduceLROnPlateau` monitors `val_loss` (did you mean `loss`?), which was not logged by epoch 0: validation never runs in this fit (`limit_val_batches=0`). Logged metrics: `loss`. Run validation (a `limit_val_batches` above 0), or monitor a metric the training step logs.
    """
    names = sorted(logged)
    monitor = scheduler.spec.monitor or ""
    if pending is not None and pending.enable is not None:
        twins = [n for n in names if stage_twins(monitor, n)]  # the metric as the training step logs it
        near = did_you_mean(monitor, twins) or (
            f" (did you mean `{twins[0]}`?)" if twins else did_you_mean(monitor, names)
        )
        message = (
            f"{scheduler.where}: `ReduceLROnPlateau` monitors `{monitor}`{near}, which was not logged {when}: "
            f"validation never runs in this fit ({pending.setting}). Logged metrics: {listing(names) or 'none'}."
        )
        return message + (
            f" {pending.enable}, or monitor a metric the training step logs."
            if scheduler.spec.strict
            else " Skipping this step because `strict=False`."
        )
    near = did_you_mean(monitor, [n for n in names if pending is None or not stage_twins(monitor, n)])
    if pending is not None and not near:
        message = (
            f"{scheduler.where}: `ReduceLROnPlateau` monitors `{monitor}`, which was not logged {when}: "
            f"validation has not run yet in this fit ({pending.setting}). Logged metrics: {listing(names) or 'none'}."
        )
        if not scheduler.spec.strict:
            return message + " Skipping this step because `strict=False`."
        return message + (
            " A plateau on a validation metric wants `strict=False` (it skips its updates until validation logs "
            f"the metric){f' or {pending.sooner}' if pending.sooner else ''}."
        )
    message = (
        f"{scheduler.where}: `ReduceLROnPlateau` monitors `{monitor}`{near}, which was "
        f"not logged {when}. Logged metrics: {listing(names) or 'none'}."
    )
    return message + (
        " Log it with `self.log(...)`, correct `monitor`, or pass `strict=False` to skip such steps."
        if scheduler.spec.strict
        else " Skipping this step because `strict=False`."
    )


def _expected(where: str, monitor: str, processes: int) -> str:
    return (
        f"{where}: Expected `{monitor}`, which `ReduceLROnPlateau` monitors, to have the same value on all "
        f"{processes} processes (log it with `self.log({monitor!r}, ..., sync_dist=True)`) but got"
    )


_ON_EVERY_PROCESS = (
    "Log it on every process (not only under `if self.trainer.is_global_zero:`), with `sync_dist=True` unless "
    "its value is already the same on each."
)


def disagreement(where: str, monitor: str, values: Sequence[float | None]) -> str | None:
    """The refusal of a plateau's metric whose ``values`` (one per process, ``None`` where it was not logged)
    differ, or ``None`` where they agree or none was logged (``missing_monitor``'s case).

    Example:
        >>> disagreement("M.optimizer.scheduler", "m", [0.5, 0.5]) is None
        True
        >>> print(disagreement("M.optimizer.scheduler", "m", [0.31, 0.27]))
        M.optimizer.scheduler: Expected `m`, which `ReduceLROnPlateau` monitors, to have the same value on all 2 processes (log it with `self.log('m', ..., sync_dist=True)`) but got 0.31 on rank 0, 0.27 on rank 1, logged without `sync_dist`: each process would step the scheduler on its own value, train with its own lr, and the replicas would drift apart. Log it with `sync_dist=True`.
        >>> print(disagreement("M.optimizer.scheduler", "m", [0.5, None]))
        M.optimizer.scheduler: Expected `m`, which `ReduceLROnPlateau` monitors, to have the same value on all 2 processes (log it with `self.log('m', ..., sync_dist=True)`) but got it logged on rank 0 only (0.5 on rank 0): the other processes would not step the scheduler, train with another lr, and the replicas would drift apart. Log it on every process (not only under `if self.trainer.is_global_zero:`), with `sync_dist=True` unless its value is already the same on each.
    """
    logged = [(rank, value) for rank, value in enumerate(values) if value is not None]
    if not logged:
        return None
    first = logged[0][1]
    if len(logged) == len(values):
        if all(value == first or (math.isnan(value) and math.isnan(first)) for _, value in logged):
            return None
        got = f"{on_ranks(logged)}, logged without `sync_dist`"
        drift = "each process would step the scheduler on its own value, train with its own lr"
        advice = "Log it with `sync_dist=True`."
    else:
        ranks = ", ".join(str(rank) for rank, _ in logged)
        got = f"it logged on rank{'s' if len(logged) > 1 else ''} {ranks} only ({on_ranks(logged)})"
        drift = "the other processes would not step the scheduler, train with another lr"
        advice = _ON_EVERY_PROCESS
    return f"{_expected(where, monitor, len(values))} {got}: {drift}, and the replicas would drift apart. {advice}"


def logged_rank_zero_only(where: str, monitor: str, processes: int) -> str:
    """The refusal of a plateau's metric logged with ``rank_zero_only=True``: Lightning's contract for a metric
    logged from rank 0 only, so the processes cannot gather it (one missing it would never join).

    Example:
        >>> print(logged_rank_zero_only("M.optimizer.scheduler", "m", 2))
        M.optimizer.scheduler: Expected `m`, which `ReduceLROnPlateau` monitors, to have the same value on all 2 processes (log it with `self.log('m', ..., sync_dist=True)`) but got it logged with `rank_zero_only=True`, which tells Lightning it is logged on rank 0 only: the other processes would step the scheduler on their own value or none, train with another lr, and the replicas would drift apart. Log it on every process (not only under `if self.trainer.is_global_zero:`), with `sync_dist=True` unless its value is already the same on each.
    """
    return (
        f"{_expected(where, monitor, processes)} it logged with `rank_zero_only=True`, which tells Lightning it is "
        "logged on rank 0 only: the other processes would step the scheduler on their own value or none, train "
        f"with another lr, and the replicas would drift apart. {_ON_EVERY_PROCESS}"
    )


def _check_agreed(scheduler: ResolvedScheduler, trainer: Any, value: float | None) -> None:
    """Gather every process's value of the monitored metric (``value``: this one's, ``None`` where it was not
    logged) and refuse, on every process alike, values that differ. Every process must call it at the same
    plateau update."""
    everyone = gathered(trainer, [value is not None, 0.0 if value is None else value])
    values = [number if logged else None for logged, number in everyone]
    message = disagreement(scheduler.where, scheduler.spec.monitor or "", values)
    if message is not None:
        raise ValueError(message)


def check_synced(scheduler: ResolvedScheduler, trainer: Any) -> None:
    """Refuse, under several processes, a monitored metric logged without ``sync_dist`` whose value differs
    between the processes: each would step the plateau on its own value and train with its own lr, and DDP's
    replicas would drift apart (Lightning steps them so, without a word; it warns only for a metric logged per
    epoch). One the module made the same everywhere trains as by hand; one logged with ``rank_zero_only=True``
    is refused without a gather, as Lightning's contract for it allows a process that never logs it."""
    monitor = scheduler.spec.monitor or ""
    logged = compat.logged_unsynced(trainer, monitor) if trainer.world_size > 1 else None
    if logged == "rank_zero_only":
        raise ValueError(logged_rank_zero_only(scheduler.where, monitor, trainer.world_size))
    if logged == "unsynced":
        _check_agreed(scheduler, trainer, float(trainer.callback_metrics[monitor]))


def check_missing_everywhere(scheduler: ResolvedScheduler, trainer: Any) -> None:
    """Before a plateau refuses (``strict``) or skips (``strict=False``, per epoch) its missing metric under
    several processes: join the gather of the processes that have it logged without ``sync_dist``
    (``check_synced``), and refuse with them a metric logged on some processes only. Where no process has it,
    every one comes here, and the refusal or skip that follows is the missing metric's. A per-step plateau
    waiting for its metric (``strict=False``, or a manual one before its metric exists) does not join, which
    would cost a gather at every step it waits: a metric logged on some processes only, without
    ``rank_zero_only=True``, then leaves the others waiting in the gather (Lightning's contract asks for that
    flag there)."""
    if trainer.world_size > 1:
        _check_agreed(scheduler, trainer, None)


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

    def _message(self) -> str:
        pending = validation_pending(self.trainer, self.scheduler.interval, self.trainer.current_epoch)
        return missing_monitor(self.scheduler, self.trainer.callback_metrics, self._when(), pending)

    def __bool__(self) -> bool:
        if self.scheduler.spec.strict:
            message = self._message()
            check_missing_everywhere(self.scheduler, self.trainer)
            raise ValueError(message)
        if (
            self.scheduler.interval == "epoch"
        ):  # once an epoch: a per-step gather would tax every waiting step
            check_missing_everywhere(self.scheduler, self.trainer)
        if not self.warned:  # the message only once: a per-step plateau waiting comes here at every step
            self.warned = True
            rank_zero_warn(self._message(), category=RuntimeWarning)
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
