"""Step schedulers in manual optimization, where Lightning never steps them, and refuse silent no-ops.

The rule is Lightning's automatic one, so one declaration gives one trajectory in both modes:

* ``interval="step"``: after an optimizer step taken while training batch ``batch_idx`` (the index within
  the epoch) runs, the optimizer's scheduler steps when ``(batch_idx + 1) % frequency == 0``. Lightning
  checks the same condition after the batches that step (every ``accumulate_grad_batches``-th and the
  epoch's last), so a manual loop that steps once per batch, or accumulates by hand over the same windows,
  follows exactly the automatic trajectory, epoch boundaries included (the count restarts every epoch).
  Only applied ``optimizer.step()`` calls count: a batch whose optimizer does not step, or whose step a
  ``GradScaler`` or ``skip_nonfinite`` skipped (``outcomes.py``), leaves the scheduler alone, and an
  optimizer stepped twice in a qualifying batch steps its scheduler twice. An optimizer that
  only steps on batches where ``(batch_idx + 1) % frequency != 0`` never steps its scheduler (as in
  Lightning with such an accumulation window).
* ``interval="epoch"``: after epoch ``e`` when ``(e + 1) % frequency == 0`` and the epoch ran all its batches
  (Lightning's ``_num_ready_batches_reached``: an epoch cut short by ``max_steps`` or ``trainer.should_stop``
  takes no update; it is marked ``CUT``, and a resumed run that goes on with it takes the update at its end,
  one that starts the next epoch never does), from a callback the mixin puts
  first in ``trainer.callbacks``, so a module's own ``on_train_epoch_end`` without ``super()`` cannot skip
  it and ``ModelCheckpoint`` saves the state after the step. A checkpoint written before an epoch's step
  (one saved during validation) is caught up at the start of the next epoch; one written at an epoch's last
  batch (``every_n_train_steps``), which Lightning resumes into the next epoch without an epoch start, when
  training starts. The epoch counter lives on the scheduler object (torch puts every instance attribute in
  ``state_dict()``), so resume restores it.
* A ``ReduceLROnPlateau`` steps where Lightning steps it in automatic optimization, after the metrics it may
  monitor are logged: per step, after the batch's ``on_train_batch_end`` hooks and its validation
  (``val_check_interval``); per epoch, after the module's ``on_train_epoch_end`` and the epoch-end
  ``ModelCheckpoint``/``EarlyStopping``. No callback hook runs at those points, so an update the batch or
  epoch made due is owed and taken first thing at the next batch start or epoch end (per step), epoch start
  or training end (both): nothing reads an lr in between (``LRMonitor`` logs after the mixin's callback). A
  checkpoint written in between holds the state before the update, as in automatic optimization, and the
  ``ResumeGuard`` takes it with the saved metric: a per-step plateau's count of owed updates is on the
  scheduler (``OWED``), a per-epoch one's follows from the epoch counter.
* A scheduler that another party puts in the trainer's scheduler configs in the place of the declared ones is a
  *stand-in* (``stand_ins``), stepped by Lightning's automatic rule for its interval, as Lightning steps it in
  automatic optimization and a hand-written manual module that steps ``self.lr_schedulers()`` does; the
  declared schedules it displaced are not stepped meanwhile. ``StochasticWeightAveraging`` puts its ``SWALR``
  there at ``swa_epoch_start`` (``building/swa.py``), per epoch: it steps at every epoch's end. (SWA itself
  refuses several optimizers when the fit starts.) The LR finder (``Tuner.lr_find``, ``LearningRateFinder``)
  replaces the configs with its sweep's, per step, for its trial run, where the mixin's callbacks are not
  called: the sweep steps after each applied step of its optimizer, from the post-step hook, which notices the
  replaced configs by the list's identity (``ManualSchedulerStepping.follow``: one compare a step).

Four mistakes would otherwise train silently wrong; each stops ``fit`` with a ``ValueError`` (the module's code is the bad input):

* Nothing stepped: at the end of the first training batch of a ``fit``, if ``training_step`` returned a
  loss (a tensor, or a dict with ``"loss"``) and yet no declared optimizer stepped and no backward ran
  (no ``manual_backward``, no gradient on any declared parameter), the step was written for automatic
  optimization and would train nothing. A manual loop that steps some optimizers on some batches only, or
  accumulates gradients before its first step, has run a backward and is left alone.
* Stepped twice: the mixin steps every declared scheduler; user code that also calls ``sch.step()`` (or
  ``self.lr_schedulers().step()``) would run the schedule at twice its speed. The mixin records each
  scheduler's ``last_epoch`` (less what the module's writes of it moved it by, which are no steps) after its
  own steps and compares it before each of its steps, at the end of
  the first batch, at every epoch's start and end and at the end of training: any other step is an error
  naming the scheduler (a per-step scheduler stepped after ``opt.step()`` is noticed at its next step).
* Stepped other than once a batch: a per-step schedule that counts its optimizer's steps in the run (a
  length left out, a warmup fraction, ``building/length.py``) counts one a batch. An optimizer stepped less
  often (accumulating by hand, a generator every ``n_critic`` batches) would leave the schedule short of its
  end, one stepped more often would end it early; at every batch end its steps so far are compared with the
  batches (only for such an optimizer: one integer compare a batch), and the first difference is an error.
* An optimizer of an earlier fit: a reference kept from ``self.optimizers()`` of an earlier ``fit`` of the module
  and stepped in a later one would train with that fit's state and lr, while this fit's optimizer never steps
  (and the earlier fit's hook would step that fit's schedules). When a fit ends (``teardown``, or
  ``on_exception``), its post-step hooks give way to a pre-step hook that refuses a step taken while the module
  fits again, before it touches the weights, and leaves alone a step outside any fit (a plain torch loop after
  ``fit``). Its schedules' ``before_step`` likewise refuses a step of a kept ``self.lr_schedulers()`` in a later
  fit (at its first update past a warmup or before a window: those move only the earlier fit's optimizer). The
  hooks and schedules of the fit that runs are not touched: its steps cost nothing more.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn, TrainerStatus
from lightning.pytorch.utilities import rank_zero_warn
from torch.optim.lr_scheduler import LRScheduler
from torch.utils.hooks import RemovableHandle
from typing_extensions import override

from lightning_optim.building.build import Built
from lightning_optim.building.length import counted_in_steps, max_steps_ends_run
from lightning_optim.building.swa import swa_start
from lightning_optim.declaring.scheduler import ResolvedScheduler
from lightning_optim.declaring.training_step import declares_losses
from lightning_optim.schedules.schedule import Schedule
from lightning_optim.training import callbacks
from lightning_optim.training.callbacks import MixinCallback
from lightning_optim.training.outcomes import StepOutcomes, settle
from lightning_optim.training.plateau import (
    check_missing_everywhere,
    check_synced,
    missing_monitor,
    validation_pending,
)
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import listing
from lightning_optim.utilities.step_rule import steps_at

EPOCHS = "_lightning_optim_epochs"
#: The epoch a per-epoch schedule saw cut short (by ``max_steps`` or ``trainer.should_stop``), which it has not
#: finished: a resumed run that goes on with it finishes it, one that starts the next epoch skips its update
CUT = "_lightning_optim_cut"
#: The updates a per-step plateau owes (made due by an optimizer step, taken once the batch's metrics are logged)
OWED = "_lightning_optim_owed"


@dataclass(frozen=True)
class Scheduled:
    """A live scheduler with its optimizer and declaration (and the two facts read at its every step)."""

    optimizer: Any
    scheduler: Schedule
    declared: ResolvedScheduler
    frequency: int = field(init=False)
    is_plateau: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "frequency", self.declared.spec.frequency)
        object.__setattr__(self, "is_plateau", self.declared.is_plateau)

    @classmethod
    def all_of(cls, built: Sequence[Built]) -> list[Scheduled]:
        return [cls(b.optimizer, live, spec) for b in built for live, spec in b.scheduled()]


def stand_ins(configs: Sequence[Any], ours: Collection[int], interval: str) -> list[Any]:
    """The scheduler configs of ``interval`` among ``configs`` (the trainer's) whose scheduler is not one of ``ours``
    (by ``id``) and steps without a metric: stand-ins put there in the place of the declared schedules
    (``StochasticWeightAveraging``'s ``SWALR``, per epoch; the LR finder's sweep, per step), which Lightning steps
    in automatic optimization and nothing else steps in manual optimization."""
    return [
        config
        for config in configs
        if id(config.scheduler) not in ours
        and config.interval == interval
        and not config.reduce_on_plateau
        and isinstance(config.scheduler, LRScheduler)
    ]


def displaced_from(configs: Sequence[Any], schedule: Schedule) -> bool:
    """Whether ``schedule`` is missing from the scheduler configs ``configs`` (the trainer's)."""
    return all(config.scheduler is not schedule for config in configs)


def _stepped(schedule: Schedule) -> int:
    """The updates ``schedule`` took: its ``last_epoch`` less what writes of it moved it by."""
    return schedule.last_epoch - schedule.moved_by_writes


def _validates_after(trainer: Trainer, epoch: int) -> bool:
    """Whether validation may have logged a metric by the end of epoch ``epoch``: it runs at that epoch's end,
    runs by batches counted across epochs, or there is none (a metric missing then is missing for good)."""
    every = trainer.check_val_every_n_epoch
    return every is None or not trainer.num_val_batches or (epoch + 1) % every == 0


def _metric(
    trainer: Trainer,
    spec: ResolvedScheduler,
    *,
    epoch_end: bool,
    epoch: int | None = None,
    saved: float | None = None,
) -> float | None:
    """The monitored value for a plateau scheduler, ``None`` to skip this time (``epoch``: the epoch that
    ended, by default the current one; ``saved``: the value a resumed checkpoint saved, for a metric not
    logged again since). At an epoch's end a metric still missing is refused (``strict``) as Lightning refuses
    it in automatic optimization, also before the first validation, or skipped (``strict=False``: with a
    warning after an epoch that validates, quietly before)."""
    value = trainer.callback_metrics.get(spec.spec.monitor or "")
    if value is not None:
        check_synced(spec, trainer)
        return float(value)
    if saved is not None:
        return saved
    if not epoch_end:
        return None  # not logged yet: wait until the metric exists
    epoch = trainer.current_epoch if epoch is None else epoch
    if not spec.spec.strict and not _validates_after(trainer, epoch):
        return None  # no validation this epoch: wait until the metric exists
    pending = validation_pending(trainer, spec.interval, epoch)
    message = missing_monitor(spec, trainer.callback_metrics, f"by the end of epoch {epoch}", pending)
    check_missing_everywhere(spec, trainer)
    if spec.spec.strict:
        raise ValueError(message)
    rank_zero_warn(message, category=RuntimeWarning)
    return None


def _manual_loop(attributes: Sequence[str]) -> str:
    """The loop a manual ``training_step`` writes for its first optimizer, with the others named.

    Example:
        >>> print(_manual_loop(["gen_opt", "dis_opt"]))
                opt = self.gen_opt
                opt.zero_grad()
                self.manual_backward(loss)
                opt.step()
        and likewise for `dis_opt`.
    """
    others = f"\nand likewise for {', '.join(f'`{a}`' for a in attributes[1:])}." if attributes[1:] else ""
    return (
        f"        opt = self.{attributes[0]}\n"
        "        opt.zero_grad()\n"
        "        self.manual_backward(loss)\n"
        f"        opt.step(){others}"
    )


def _fixes(scheduler: ResolvedScheduler) -> str:
    """How to declare ``scheduler`` without counting its optimizer's steps in the run, as a sentence's start."""
    fixes = " and ".join(dict.fromkeys(fix for _, fix in counted_in_steps(scheduler)))
    return fixes[0].upper() + fixes[1:]


class ManualSchedulerStepping(MixinCallback):
    """Steps the declared schedulers of a manual-optimization mixin module and refuses silent no-ops.

    Per-step schedulers step from a torch post-step hook on their optimizer (``after_optimizer_step``);
    the callback tracks the batch index, steps the per-epoch ones, takes the plateau updates owed and runs
    the checks of the module docstring.
    """

    def __init__(self, owner: str, built: Sequence[Built]) -> None:
        super().__init__()
        self.owner = owner
        self.attributes = [b.declared.attribute for b in built]
        self.parameters = [p for b in built for g in b.optimizer.param_groups for p in g["params"]]
        self.manual_because = (
            f"{owner} declares {len(built)} optimizers, so the mixin switched to manual optimization"
            if len(built) > 1
            else f"{owner} sets `automatic_optimization = False`"
        )
        scheduled = Scheduled.all_of(built)
        self.owners = {id(live): b.declared.attribute for b in built for live in b.schedules}
        self.per_epoch = [s for s in scheduled if s.declared.interval == "epoch"]
        # a per-step plateau waits for its metric; after an epoch of this fit (see `_check_waiting_monitors`)
        self.per_step_plateaus = [
            s for s in scheduled if s.declared.interval == "step" and s.declared.is_plateau
        ]
        self.ended_epoch: int | None = None
        #: the per-step plateaus (by ``id``) with an update due since the last check that found no metric
        self.missed: set[int] = set()
        # per-epoch plateaus made due at an epoch's end, with that epoch: taken after the epoch-end hooks
        self.owed_epochs: list[tuple[Scheduled, int]] = []
        #: by scheduler ``id``, the metric the resumed checkpoint saved for a per-epoch plateau whose update of
        #: the checkpoint's epoch is taken here (``ResumeGuard.on_train_epoch_end``)
        self.saved_metrics: dict[int, float] = {}
        #: by scheduler ``id``, the metric the resumed checkpoint saved for a per-step plateau: its updates take it
        #: until the resumed run logs the metric again, as the uninterrupted run's take the last value logged
        self.saved_step_metrics: dict[int, float] = {}
        self.scheduled = scheduled
        self.ours = frozenset(id(s.scheduler) for s in scheduled)
        self.optimizers = [b.optimizer for b in built]
        #: the trainer's scheduler configs the fields below were read from (``follow``), the mixin's own until
        #: the LR finder replaces the list with its sweep's for its trial run (and puts the mixin's back after)
        self.configs: list[Any] | None = None
        #: by optimizer index, the per-step stand-ins on that optimizer in ``configs``
        self.step_stand_ins: list[list[Any]] = [[] for _ in built]
        #: whether ``configs`` hold a scheduler that is not the mixin's: the declared ones not there are displaced
        self.stood_in = False
        self.batch_idx = 0
        #: each declared optimizer's steps that ran in this ``fit`` (torch's post-step hook)
        self.optimizer_steps = [0] * len(built)
        #: by optimizer index, its first per-step schedule counted in the run's steps, one a batch; none where the
        #: mixin writes the training step (``loss=``), whose steps the lengths count exactly (``every``, windows)
        driven = declares_losses([b.declared for b in built])
        self.counted = [
            (index, scheduler)
            for index, b in enumerate(built)
            if (scheduler := next((s for _, s in b.scheduled() if counted_in_steps(s)), None)) is not None
            and not driven
        ]
        #: each declared optimizer's post-step hook of this ``fit``, with the optimizer and its attribute
        self.hooked: list[tuple[Any, RemovableHandle, str]] = []
        #: the training batches ended in this ``fit``, and Lightning's ``global_step`` when it started
        self.batches = 0
        self.global_start = 0
        self.backward_ran = False
        #: whether a ``StochasticWeightAveraging`` may put its ``SWALR`` in the place of the schedules
        self.swa = False
        #: whether ``max_steps`` ends the run that a derived length counts (``_check_steps_to_max_steps``)
        self.limited = False
        #: ``last_epoch`` of each schedule after the mixin's last step; empty until training starts
        self.expected: dict[int, int] = {}
        # Lightning's per-batch hook dispatch is the mixin's main cost: the batch start is only needed by a
        # per-step scheduler with ``frequency > 1`` or a per-step plateau, the batch end and backward only in
        # the first batch
        if not self.per_step_plateaus and not any(
            s.declared.interval == "step" and s.declared.spec.frequency > 1 for s in scheduled
        ):
            self.disable_hook("on_train_batch_start")

    # -- the double-step check ---------------------------------------------------------------------

    def _check(self, where: str) -> None:
        """Raise if a scheduler was stepped outside the mixin."""
        for s in self.scheduled:
            self._check_one(where, s)

    def _check_one(self, where: str, s: Scheduled) -> None:
        expected = self.expected.get(id(s.scheduler))
        if expected is not None and _stepped(s.scheduler) != expected:
            stepped = _stepped(s.scheduler) - expected
            attribute = self.owners[id(s.scheduler)]
            rule = (
                f"after every `{attribute}` step on a batch with (batch_idx + 1) % {s.declared.spec.frequency} == 0"
                if s.declared.interval == "step"
                else f"after every {s.declared.spec.frequency} epoch(s)"
            )
            raise ValueError(
                f"{s.declared.where}: `{s.declared.cls.__name__}` was stepped {stepped} time(s) outside the "
                f"mixin (noticed {where}). In manual optimization the mixin steps every declared scheduler "
                f"itself (interval={s.declared.interval!r}, frequency={s.declared.spec.frequency}: {rule}); a "
                "`sch.step()` or `self.lr_schedulers().step()` in the module steps it a second time and runs "
                "the schedule at the wrong speed. Remove that call."
            )

    def _step(
        self,
        trainer: Trainer,
        scheduled: Scheduled,
        *,
        epoch_end: bool,
        where: str,
        epoch: int | None = None,
        times: int = 1,
        saved: float | None = None,
    ) -> None:
        self._check_one(where, scheduled)
        if (self.swa or self.stood_in) and displaced_from(trainer.lr_scheduler_configs, scheduled.scheduler):
            return  # a stand-in (SWA's `SWALR`, the LR finder's sweep) steps in its place, as in automatic optimization
        if scheduled.is_plateau:
            value = _metric(trainer, scheduled.declared, epoch_end=epoch_end, epoch=epoch, saved=saved)
            if value is None:
                if not epoch_end:
                    self.missed.add(id(scheduled.scheduler))
                return
            for _ in range(times):
                scheduled.scheduler.step(value)
        else:
            scheduled.scheduler.step()
        if self.expected:
            self.expected[id(scheduled.scheduler)] = _stepped(scheduled.scheduler)

    def follow(self, configs: list[Any]) -> None:
        """Read the per-step stand-ins of each optimizer from the trainer's scheduler configs ``configs``."""
        self.configs = configs
        self.stood_in = any(id(config.scheduler) not in self.ours for config in configs)
        per_step = stand_ins(configs, self.ours, "step")
        self.step_stand_ins = [[c for c in per_step if c.scheduler.optimizer is o] for o in self.optimizers]

    def after_optimizer_step(
        self, trainer: Trainer, per_step: Sequence[Scheduled], batch_idx: int, stand_ins: Sequence[Any] = ()
    ) -> None:
        """Step the per-step schedulers of an optimizer whose step during batch ``batch_idx`` was applied,
        in the declared order, as the batch index says (a plateau's update is owed until the batch's
        metrics are logged), then its stand-ins."""
        for scheduled in per_step:
            if not steps_at(batch_idx, scheduled.frequency):
                continue
            if scheduled.is_plateau:
                setattr(scheduled.scheduler, OWED, getattr(scheduled.scheduler, OWED, 0) + 1)
            else:
                self._step(trainer, scheduled, epoch_end=False, where="before the mixin's own step")
        for config in stand_ins:
            if steps_at(batch_idx, config.frequency):
                config.scheduler.step()

    def _take_owed(self, trainer: Trainer, where: str) -> None:
        """Take the per-step plateau updates owed by the last batch, with the metrics as they are now (after
        its ``on_train_batch_end`` hooks and validation), as Lightning does after ``on_train_batch_end``."""
        if not self.per_step_plateaus:
            return
        settle([s.optimizer for s in self.per_step_plateaus])  # updates held for a step's outcome first
        for scheduled in self.per_step_plateaus:
            owed = getattr(scheduled.scheduler, OWED, 0)
            if owed:
                setattr(scheduled.scheduler, OWED, 0)
                saved = (
                    self.saved_step_metrics.get(id(scheduled.scheduler)) if self.saved_step_metrics else None
                )
                self._step(trainer, scheduled, epoch_end=False, where=where, times=owed, saved=saved)

    def _take_owed_epochs(self, trainer: Trainer, where: str) -> None:
        """Take the per-epoch plateau updates of the epoch that ended, after its epoch-end hooks (where
        Lightning steps them: the module's ``on_train_epoch_end`` may log the metric). The epoch a resumed
        checkpoint was written in after its last batch (at its validation run) has not logged again what
        ``training_step`` and validation logged before the checkpoint: their values are the saved ones."""
        owed, self.owed_epochs = self.owed_epochs, []
        saved, self.saved_metrics = self.saved_metrics, {}
        for scheduled, epoch in owed:
            value = saved.get(id(scheduled.scheduler))
            self._step(trainer, scheduled, epoch_end=True, where=where, epoch=epoch, saved=value)

    # -- the nothing-stepped check -----------------------------------------------------------------

    @override
    def on_before_backward(self, trainer: Trainer, pl_module: LightningModule, loss: torch.Tensor) -> None:
        self.backward_ran = True

    # -- Lightning hooks ---------------------------------------------------------------------------

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # the first batch's steps, not a tuner's trial steps (`BatchSizeFinder`)
        self.optimizer_steps = [0] * len(self.optimizer_steps)
        self.batches, self.global_start = 0, trainer.global_step
        self.swa = swa_start(trainer) is not None
        self.limited = bool(self.counted) and max_steps_ends_run(trainer)
        # A checkpoint written at an epoch's last batch, before its end (`every_n_train_steps`), resumes into the
        # next epoch without an epoch start: the ended epoch's update is caught up now, before its first batch.
        self._catch_up(trainer)

    @override
    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._take_owed(trainer, f"at the start of training batch {batch_idx}")
        self.batch_idx = batch_idx

    @override
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """The first batch of the ``fit``: its checks (then the per-batch hooks go: checks at steps and epochs);
        every batch where a schedule counts an optimizer's steps: those steps (``_check_steps_per_batch``)."""
        self.batches += 1
        if self.batches == 1:
            self._first_batch_end(outputs, batch_idx)
        for index, _ in self.counted:
            if self.optimizer_steps[index] != self.batches:
                self._check_steps_per_batch(trainer, batch_idx)
                break
        if (
            self.limited
            and trainer.global_step - self.global_start != len(self.optimizer_steps) * self.batches
        ):
            self._check_steps_to_max_steps(trainer, batch_idx)

    def _first_batch_end(self, outputs: Any, batch_idx: int) -> None:
        if not self.counted:
            self.disable_hook("on_train_batch_end")
        self.disable_hook("on_before_backward")
        returned_loss = isinstance(outputs, torch.Tensor) or (
            isinstance(outputs, Mapping) and outputs.get("loss") is not None
        )
        # a gradient on a declared parameter: a backward outside ``manual_backward`` (accumulating)
        if (
            returned_loss
            and not (any(self.optimizer_steps) or self.backward_ran)
            and all(p.grad is None for p in self.parameters)
        ):
            raise ValueError(
                f"{self.owner}.training_step: returned a loss, but in the first training batch no declared "
                f"optimizer ({listing(self.attributes)}) stepped and no backward ran, so "
                f"nothing would train. {self.manual_because}, where Lightning does not use the returned loss: "
                "`training_step` must run the backward and step each optimizer itself, e.g.\n"
                + _manual_loop(self.attributes)
            )
        self._check(f"at the end of training batch {batch_idx}")

    def _check_steps_per_batch(self, trainer: Trainer, batch_idx: int) -> None:
        """A length derived from the run counts one step of each optimizer per batch in manual optimization; an
        optimizer stepped less often would leave such a schedule short of its end when the run ends (a cosine
        never anneals), one stepped more often would end it early (a cosine then climbs back). Refused at the
        first batch end where its steps so far differ from the batches.

        A step asked for counts, applied or skipped (a ``GradScaler`` or ``skip_nonfinite``), as Lightning's
        ``global_step`` counts it and the derived length with it. A skipped step does not run torch's step, so it
        is not among the steps counted by the post-step hook: with several optimizers, the steps asked for
        that did not run (``global_step`` says how many, not whose) may be any optimizer's, and an optimizer is
        refused once they cannot make up its count."""
        batches = self.batches
        not_run = max(0, trainer.global_step - self.global_start - sum(self.optimizer_steps))
        for index, scheduler in self.counted:
            ran = self.optimizer_steps[index]
            low = ran + not_run if len(self.optimizer_steps) == 1 else ran
            if low <= batches <= ran + not_run:
                continue
            steps = low if low > batches else ran + not_run
            if batches == 1:
                where = f"training batch {batch_idx}"
            else:
                where = (
                    f"the {batches} training batches of this fit up to batch {batch_idx} of epoch "
                    f"{trainer.current_epoch}"
                )
            effect = (
                f"would end after {Fraction(batches, steps)} of the run"
                if steps > batches
                else "would still be short of its end when the run ends"
            )
            raise ValueError(
                f"{scheduler.where}: Expected `{self.attributes[index]}` to step once per training batch, as the "
                f"run's length derived for `{scheduler.cls.__name__}` counts in manual optimization, but got "
                f"{steps} step{'s' * (steps != 1)} in {where}: the schedule {effect}. "
                f"{_fixes(scheduler)}, or declare `loss=` on the optimizers, so the mixin steps them "
                "and counts their steps (with `every=` or `Trainer(accumulate_grad_batches=...)`, see "
                "docs/guides/several-optimizers.md)."
            )

    def _check_steps_to_max_steps(self, trainer: Trainer, batch_idx: int) -> None:
        """A length derived under ``max_steps`` counts the run's batches as ``max_steps`` shared out among the
        optimizers (``global_step`` counts them together), one step of each per batch: an optimizer stepped less
        often (a generator every ``n_critic`` batches) makes the run longer, and a schedule counted in the
        others' steps would pass its end (a cosine climbs back). Refused at the first batch end where the steps
        of all the optimizers fall short of one each per batch."""
        _, scheduler = self.counted[0]
        optimizers, steps = len(self.optimizer_steps), trainer.global_step - self.global_start
        raise ValueError(
            f"{scheduler.where}: Expected each of the {optimizers} declared optimizers "
            f"({listing(self.attributes)}) to step once per training batch, as the run's length "
            f"derived for `{scheduler.cls.__name__}` counts under `max_steps={trainer.max_steps}` (Lightning's "
            f"`global_step` counts every optimizer's steps together, so the run ends after "
            f"{math.ceil(trainer.max_steps / optimizers)} batches by that count), but got {steps} "
            f"step{'s' * (steps != 1)} of them all in the {self.batches} training batches of this fit up to batch "
            f"{batch_idx} of epoch {trainer.current_epoch}: the run would go on past the schedule's end. "
            f"{_fixes(scheduler)}, or end the run with `max_epochs`, or declare `loss=` and `every=` on "
            "the optimizers, so the mixin counts each one's steps (docs/guides/several-optimizers.md)."
        )

    def _finish_epoch(self, trainer: Trainer, scheduled: Scheduled, epoch: int, *, catch_up: bool) -> None:
        setattr(scheduled.scheduler, EPOCHS, epoch + 1)
        # Lightning steps per-epoch schedules only after an epoch that ran all its batches
        if not steps_at(epoch, scheduled.frequency) or (
            catch_up and getattr(scheduled.scheduler, CUT, None) == epoch
        ):
            return
        if not scheduled.is_plateau:
            self._step(trainer, scheduled, epoch_end=True, where=f"at the end of epoch {epoch}")
        # caught up, a plateau's step cannot be replayed: the metric of an epoch before the checkpoint is gone
        elif not catch_up:
            self.owed_epochs.append((scheduled, epoch))

    def _check_waiting_monitors(self, trainer: Trainer) -> None:
        """A per-step plateau that had an update due without its metric, and still has none after an epoch of
        this fit whose validation ran and the module's epoch-end hooks, waits for a metric nobody logs (a
        mistyped ``monitor``)."""
        epoch, self.ended_epoch = self.ended_epoch, None
        if epoch is not None:
            missed, self.missed = self.missed, set()
            if not _validates_after(trainer, epoch):
                return  # waits, strict or not, until an epoch whose validation ran
            # only where an update was due (its optimizer stepped) and found no metric: an optimizer idle all
            # epoch, or a run resumed after its last step, owes nothing
            for scheduled in self.per_step_plateaus:
                if id(scheduled.scheduler) in missed:
                    _metric(trainer, scheduled.declared, epoch_end=True, epoch=epoch)

    @override
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._take_owed_epochs(trainer, "at the start of an epoch")
        self._check_waiting_monitors(trainer)
        if self.expected:
            self._check("at the start of an epoch")
        else:  # the first epoch of this fit: states are restored (and replayed) by now
            self.expected = {id(s.scheduler): _stepped(s.scheduler) for s in self.scheduled}
        self._catch_up(trainer)

    def _catch_up(self, trainer: Trainer) -> None:
        """Finish the epochs before the current one that a per-epoch schedule has not finished (its state was
        saved before their end); a plateau's update of such an epoch is not taken (its metric is gone)."""
        for scheduled in self.per_epoch:
            # a schedule restarted on resume counts from the epoch training started in (``lifecycle.py``)
            epochs = range(getattr(scheduled.scheduler, EPOCHS, 0), trainer.current_epoch)
            if not epochs:
                continue
            # the optimizer stepped in those epochs, before the checkpoint (a resumed process's has not yet)
            with compat.stepped_meanwhile(scheduled.scheduler.optimizer):
                for epoch in epochs:
                    self._finish_epoch(trainer, scheduled, epoch, catch_up=True)

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._take_owed(trainer, "at the end of an epoch")  # the last batch's, before the epoch-end hooks
        settle([s.optimizer for s in self.per_epoch])  # held per-step updates first, as they were taken
        ran_to_end = compat.epoch_ran_to_end(trainer)
        for scheduled in self.per_epoch:
            if getattr(scheduled.scheduler, EPOCHS, 0) != trainer.current_epoch:
                continue
            if ran_to_end:
                self._finish_epoch(trainer, scheduled, trainer.current_epoch, catch_up=False)
            else:  # training ends here; a resumed run may yet finish the epoch (``CUT``)
                setattr(scheduled.scheduler, CUT, trainer.current_epoch)
        if ran_to_end:
            self._step_stand_ins(trainer)
        self._check("at the end of an epoch")
        if self.per_step_plateaus:
            self.ended_epoch = trainer.current_epoch

    def _step_stand_ins(self, trainer: Trainer) -> None:
        """Step the per-epoch stand-ins in the trainer's configs (``StochasticWeightAveraging``'s ``SWALR``) at
        the end of the epochs Lightning steps them in automatic optimization: nothing else steps them in manual
        optimization, and the displaced schedule is not stepped any more (``_step``). Only under SWA: a scheduler
        anything else put there is not the mixin's to step."""
        if not self.swa:
            return
        for config in stand_ins(trainer.lr_scheduler_configs, self.ours, "epoch"):
            if steps_at(trainer.current_epoch, config.frequency):
                config.scheduler.step()

    @override
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._take_owed(trainer, "at the end of training")
        self._take_owed_epochs(trainer, "at the end of training")
        self._check_waiting_monitors(trainer)
        self._check("at the end of training")

    @override
    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """The fit is over: its optimizers' post-step hooks give way to ``_StepAfterItsFit``, so a plain torch
        loop after it steps them untouched, and a reference to one stepped in a later fit of the module is
        refused; so is one to its schedules (``_ScheduleAfterItsFit``)."""
        if not self.hooked:
            return  # retired already (a `validate` of the module after the fit tears the parts down again)
        hooked, self.hooked = self.hooked, []
        module = weakref.ref(pl_module)
        for optimizer, handle, attribute in hooked:
            handle.remove()
            optimizer.register_step_pre_hook(_StepAfterItsFit(module, self.owner, attribute))
        for scheduled in self.scheduled:
            schedule = scheduled.scheduler
            schedule.before_step = _ScheduleAfterItsFit(module, scheduled.declared, schedule.before_step)

    @override
    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self.teardown(trainer, pl_module, "fit")  # Lightning calls no ``teardown`` after a failed run


@dataclass(eq=False)
class _AfterOptimizerStep:
    """A torch post-step hook on one declared optimizer: reports the step to the stepping callback, whose
    per-step schedulers wait for the step's outcome when a ``GradScaler`` or ``skip_nonfinite`` decides it
    on the device (``outcomes.py``, whose post-step hook runs first)."""

    trainer: Trainer
    stepping: ManualSchedulerStepping
    per_step: Sequence[Scheduled]
    outcomes: StepOutcomes | None
    index: int
    strategy: Any = field(init=False)

    def __post_init__(self) -> None:
        self.strategy = self.trainer.strategy

    def __call__(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        stepping = self.stepping
        configs = self.strategy.lr_scheduler_configs
        if configs is not stepping.configs:  # the LR finder's for its trial run, or the mixin's back after it
            stepping.follow(configs)
        stand_ins = stepping.step_stand_ins[self.index]
        if stand_ins:
            self._step_stood_in(stand_ins)
            return
        stepping.optimizer_steps[self.index] += 1
        if not self.per_step:
            return
        # applied (the common case): step now, without a call to wait for
        if self.outcomes is None or self.outcomes.latest is None:
            stepping.after_optimizer_step(self.trainer, self.per_step, stepping.batch_idx)
        else:
            self.outcomes.when_applied(
                partial(stepping.after_optimizer_step, self.trainer, self.per_step, stepping.batch_idx)
            )

    def _step_stood_in(self, stand_ins: Sequence[Any]) -> None:
        """A step while per-step stand-ins are in the trainer's configs: the LR finder's trial run, which none of
        the mixin's callbacks see (they keep ``batch_idx``) and whose state the finder restores after, so the step
        is not one of the fit's; the stand-ins step after it, and the declared schedules they displaced do not
        (nor does a displaced plateau count the step as an update owed: the finder's restore keeps that count).
        The stand-ins step now, whatever the step's outcome, as Lightning steps the finder's sweep in automatic
        optimization and a hand-written manual module's ``self.lr_schedulers().step()`` does: the finder reads
        the lr before the next step, so a sweep held for an outcome on the device would be recorded a step late."""
        stepping = self.stepping
        batch_idx = self.trainer.fit_loop.epoch_loop.batch_idx
        configs = stepping.configs or ()
        kept = [s for s in self.per_step if not displaced_from(configs, s.scheduler)]
        if kept:
            step = partial(stepping.after_optimizer_step, self.trainer, kept, batch_idx)
            if self.outcomes is None or self.outcomes.latest is None:
                step()
            else:
                self.outcomes.when_applied(step)
        stepping.after_optimizer_step(self.trainer, (), batch_idx, stand_ins)


def _fitting(module: LightningModule | None) -> bool:
    """Whether ``module`` is in a ``fit`` now (its Trainer's state; ``None``: a module that is gone)."""
    state = getattr(compat.attached_trainer(module), "state", None)
    return state is not None and state.fn == TrainerFn.FITTING and state.status == TrainerStatus.RUNNING


def stale_optimizer(owner: str, attribute: str) -> str:
    """The refusal of a step of the optimizer ``attribute`` that an earlier fit of ``owner`` built.

    Example:
        >>> print(stale_optimizer("GAN", "gen_opt"))
        GAN: Expected the optimizers stepped in this fit to be the ones it built, but got a step of `gen_opt` as an earlier fit built it (a reference kept from `self.gen_opt` or `self.optimizers()` of that fit): it would train with that fit's state and lr while this fit's `gen_opt` never steps. Take `self.gen_opt` (or `self.optimizers()`) in each `training_step` rather than keeping it across fits.
    """
    return (
        f"{owner}: Expected the optimizers stepped in this fit to be the ones it built, but got a step of "
        f"`{attribute}` as an earlier fit built it (a reference kept from `self.{attribute}` or "
        f"`self.optimizers()` of that fit): it would train with that fit's state and lr while this fit's "
        f"`{attribute}` never steps. Take `self.{attribute}` (or `self.optimizers()`) in each `training_step` "
        "rather than keeping it across fits."
    )


@dataclass(eq=False)
class _StepAfterItsFit:
    """A torch pre-step hook on a declared optimizer whose fit is over, in place of its ``_AfterOptimizerStep``:
    a step outside any fit is the user's own; one while the module fits again is refused before it applies."""

    module: weakref.ref[LightningModule]
    owner: str
    attribute: str

    def __call__(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if _fitting(self.module()):
            raise ValueError(stale_optimizer(self.owner, self.attribute))


def stale_schedule(where: str, name: str) -> str:
    """The refusal of a step of the schedule declared at ``where`` (a ``name``) that an earlier fit built.

    Example:
        >>> print(stale_schedule("GAN.gen_opt.scheduler", "StepLR"))
        GAN.gen_opt.scheduler: Expected the schedules stepped in this fit to be the ones it built, but got a step of `StepLR` as an earlier fit built it (a reference kept from `self.lr_schedulers()` of that fit): it schedules that fit's optimizer, which this fit does not step. In manual optimization the mixin steps every declared scheduler itself; remove the call.
    """
    return (
        f"{where}: Expected the schedules stepped in this fit to be the ones it built, but got a step of "
        f"`{name}` as an earlier fit built it (a reference kept from `self.lr_schedulers()` of that fit): it "
        "schedules that fit's optimizer, which this fit does not step. In manual optimization the mixin steps "
        "every declared scheduler itself; remove the call."
    )


@dataclass(eq=False)
class _ScheduleAfterItsFit:
    """A schedule's ``before_step`` once its fit is over: a step of its torch scheduler while the module fits again
    is refused; outside any fit, the check the fit left there (``lifecycle.py``) runs as before."""

    module: weakref.ref[LightningModule]
    declared: ResolvedScheduler
    previous: Any

    def __call__(self, taken: int) -> None:
        if _fitting(self.module()):
            raise ValueError(stale_schedule(self.declared.where, self.declared.cls.__name__))
        if self.previous is not None:
            self.previous(taken)


def install(
    owner: str, trainer: Trainer, built: Sequence[Built], outcomes: Mapping[int, StepOutcomes] | None = None
) -> ManualSchedulerStepping:
    """Hook every declared optimizer to a fresh stepping callback, put that callback first, and return it.

    Several schedulers of one optimizer step in the declared order: its post-step hook and the epoch
    stepper walk them in that order (as Lightning steps its scheduler configs). ``outcomes``: the
    ``StepOutcomes`` of the optimizers whose per-step schedulers wait for an applied step, by ``id``.
    """
    stepping = ManualSchedulerStepping(owner, built)
    # a schedule's epochs start at this fit's first, set when training starts (``lifecycle.py``): a second `fit`
    # of one Trainer starts past epoch 0, and after one that raised at an epoch's end only the fit loop's reset,
    # after this, counts that epoch as done; a count restored from a checkpoint replaces this one
    for scheduled in stepping.per_epoch:
        setattr(scheduled.scheduler, EPOCHS, None)
    for index, b in enumerate(built):
        per_step = [s for s in Scheduled.all_of([b]) if s.declared.interval == "step"]
        waits = (outcomes or {}).get(id(b.optimizer))
        hook = _AfterOptimizerStep(trainer, stepping, per_step, waits, index)
        stepping.hooked.append((b.optimizer, b.optimizer.register_step_post_hook(hook), b.declared.attribute))
    callbacks.add(trainer, stepping)
    return stepping
