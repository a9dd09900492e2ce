"""Whether an optimizer step was applied, and what waits for it: the per-step schedules and the skip count.

Lightning asks for an optimizer step and then steps the per-step schedulers, whether or not the step was
applied (Lightning #5558, open since 2021). A step is skipped when

* a ``GradScaler`` (``precision="16-mixed"``) finds inf/NaN gradients: it does not call ``optimizer.step()``,
  or, for a fused kernel, calls it with ``optimizer.found_inf`` set and the kernel leaves everything as it was;
* ``OptimizerSpec(skip_nonfinite=N)`` finds non-finite gradients (``nonfinite.py``);
* a module's own ``optimizer_step`` does not call ``optimizer.step()``.

A batch whose ``training_step`` returns ``None`` is not: Lightning runs the step without gradients (``32-true``)
or, under a ``GradScaler``, none at all, and steps the schedulers after it in both.

The mixin steps a per-step schedule (an lr schedule, a ``param=`` schedule, a warmup, each of a list) only
after an *applied* step, as transformers, DeepSpeed and Megatron do, in automatic optimization (from its
``lr_scheduler_step``) and in manual optimization (``stepping.py``). Epoch-interval schedules are not affected.

``StepOutcomes`` learns the outcome of each step without a host-device synchronization of its own:

* a step that torch runs without ``found_inf`` was applied: its post-step hook says so;
* a step that is not run leaves no trace: in automatic optimization the schedules step only when the
  optimizer's post-step hook ran during the current batch (the ``GradScaler`` decided on the host, with the
  ``.item()`` it makes anyway);
* a fused step given ``found_inf`` ran on the device, and only the device knows whether it changed anything.
  The flag is copied to pinned host memory without blocking, and read when the host next needs it: before
  the optimizer's next step (its pre-step hook; under a ``GradScaler`` that runs after the next batch's
  forward and backward are queued, so the copy has long landed), when ``LRMonitor`` logs, when a checkpoint is
  written, before an epoch-interval schedule steps, and when training ends. Until then the steps of the
  schedules that wait for it are held. Code that reads an lr in between (in ``training_step``, before the
  next step) sees it one update late on that path; ``LRMonitor`` and the optimizer's own step never do.
  The cost of reading it is in ``benchmarks/gpu_sync_check.py`` (check ``f``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from lightning.pytorch import LightningModule, Trainer
from typing_extensions import override

from lightning_optim.building.build import Built
from lightning_optim.training import callbacks
from lightning_optim.training.callbacks import MixinCallback
from lightning_optim.utilities.weak import WeakLinks

#: The live ``StepOutcomes`` of each optimizer the mixin built, for readers that only have the optimizer. Weakly
#: both ways (the outcomes refer to the optimizer and the ``Trainer``): the optimizer's hooks keep its outcomes.
_OUTCOMES: WeakLinks[torch.optim.Optimizer, StepOutcomes] = WeakLinks()
#: Each schedule of such an optimizer with its outcomes (``StepOutcomes.waiting``: whether it is a per-step one).
_GATES: WeakLinks[Any, StepOutcomes] = WeakLinks()

Action = Callable[[], None]


def batch_tag(trainer: Any) -> int:
    """The running index of the training batch (over the whole fit), which tells steps of one batch from
    those of another."""
    return int(trainer.fit_loop.epoch_loop.total_batch_idx)


class _Pending:
    """A step whose outcome is on the device: the copy of its ``found_inf`` and what waits for it."""

    __slots__ = ("actions", "event", "host", "position")

    def __init__(self, host: torch.Tensor, event: Any, position: str) -> None:
        self.host = host
        self.event = event
        self.position = position
        self.actions: list[Action] = []

    def skipped(self) -> bool:
        if self.event is not None:
            self.event.synchronize()  # waits for the copy only: it was queued right after the step
        return bool(self.host.item())


#: ``StepOutcomes.latest`` of a step that ran and was skipped on the device.
_SKIPPED: Any = object()


class StepOutcomes:
    """The outcome of every step of one optimizer, what waits for it, and the consecutive skips.

    Args:
        where: the declaring attribute (``Model.optimizer``), which starts messages.
        optimizer: the live torch optimizer; a pre-step and a post-step hook are registered on it.
        trainer: the ``Trainer`` (batch index and position, for messages).
        limit: ``skip_nonfinite``: the number of consecutive skipped updates allowed; ``0``: no limit.
        tags: record the batch each step ran in (automatic optimization asks ``ran_in_this_batch``).
    """

    #: Treat a ``found_inf`` on the CPU like one on a device (read later): the device path, tested on CPU.
    defer_on_cpu: ClassVar[bool] = False

    def __init__(
        self, where: str, optimizer: torch.optim.Optimizer, trainer: Any, *, limit: int = 0, tags: bool = True
    ) -> None:
        self.where = where
        self.optimizer = optimizer
        self.trainer = trainer
        self.limit = limit
        self.tags = tags
        #: the batch (``batch_tag``) of the last step that ran, applied or not
        self.ran_at = -1
        #: the outcome of the last step that ran: ``None`` (applied), ``_SKIPPED``, or pending on the device
        self.latest: _Pending | None = None
        self.pending: list[_Pending] = []
        #: the position of a step asked for that has not run yet (a ``GradScaler`` skips without a trace)
        self.attempt: str | None = None
        #: updates skipped in all, and in a row
        self.skipped = 0
        self.consecutive = 0
        #: of the skipped, those whose step ran and changed nothing (a fused kernel given ``found_inf``): the
        #: post-step hook saw them, unlike a skip on the host or a ``GradScaler``'s, which never run the step
        self.ran_skipped = 0
        #: the per-step schedules of the optimizer, which wait for an applied step (``scheduler_step``)
        self.waiting: list[Any] = []
        optimizer.register_step_pre_hook(self._before_step)
        optimizer.register_step_post_hook(self._after_step)
        _OUTCOMES[optimizer] = self

    # -- what the hooks see ------------------------------------------------------------------------

    def _before_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self.pending:
            self._settle_pending()

    def _after_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self.tags:
            self.ran_at = batch_tag(self.trainer)
        position, self.attempt = self.attempt, None
        found_inf = getattr(optimizer, "found_inf", None)
        if not isinstance(found_inf, torch.Tensor):
            self.latest = None
            self.consecutive = 0
            return
        if found_inf.device.type == "cpu" and not self.defer_on_cpu:
            if found_inf.item():  # free on the CPU
                self.latest = _SKIPPED
                self.ran_skipped += 1
                self._count_skip(position or self.position())
            else:
                self.latest = None
                self.consecutive = 0
            return
        # copied to the host without blocking; the event tells when it has landed (a CPU tensor, the device
        # path tested on CPU: the copy is done)
        host, event = found_inf.detach().to("cpu", non_blocking=True), None
        if found_inf.device.type == "cuda":
            event = torch.cuda.Event()
            event.record()
        self.latest = _Pending(host, event, position or (self.position() if self.limit else ""))
        self.pending.append(self.latest)

    # -- what the mixin asks -----------------------------------------------------------------------

    def when_applied(self, action: Action) -> None:
        """Run ``action`` now if the optimizer's last step was applied, once its outcome is known if that is
        on the device, and never if it was skipped."""
        latest = self.latest
        if latest is None:
            action()
        elif latest is not _SKIPPED:
            latest.actions.append(action)

    def ran_in_this_batch(self) -> bool:
        """Whether a step of the optimizer ran (applied, or decided on the device) during the current batch."""
        return self.ran_at == batch_tag(self.trainer)

    def begin(self) -> None:
        """A step is asked for (``on_before_optimizer_step``): an earlier one that never ran was skipped."""
        self.settle()
        self.attempt = self.position()

    def ran_without_loss(self) -> None:
        """The batch's ``training_step`` returned ``None`` (Lightning's "skip this batch") under a ``GradScaler``,
        where Lightning's precision plugin then does not run the optimizer's step at all. In ``32-true`` it runs
        the step without gradients, so as there this is a step that ran with nothing to update: no skip, and
        the per-step schedules step after it, as Lightning steps them."""
        self.settle()  # an earlier step that never ran, and the outcomes still on the device, first
        if self.tags:
            self.ran_at = batch_tag(self.trainer)
        self.latest = None
        self.consecutive = 0

    def skip(self) -> None:
        """Count a step skipped on the host (it never ran)."""
        self.attempt = None
        self._count_skip(self.position())

    def settle(self) -> None:
        """Resolve a step asked for that never ran (skipped) and every outcome still on the device, in order:
        run what waits for the applied steps, count the skipped ones."""
        if self.attempt is not None:
            position, self.attempt = self.attempt, None
            self._count_skip(position)
        self._settle_pending()

    def _settle_pending(self) -> None:
        while self.pending:
            pending = self.pending.pop(0)
            skipped = pending.skipped()
            if pending is self.latest:
                self.latest = _SKIPPED if skipped else None
            if skipped:
                self.ran_skipped += 1
                self._count_skip(pending.position)
                continue
            self.consecutive = 0
            for action in pending.actions:
                action()

    # -- counting ----------------------------------------------------------------------------------

    def position(self) -> str:
        """Where training stands, for messages."""
        trainer = self.trainer
        try:
            batch = trainer.fit_loop.epoch_loop.batch_idx
            return f"global step {trainer.global_step}, epoch {trainer.current_epoch}, batch {batch}"
        except AttributeError:
            return "an unknown step"

    def _count_skip(self, position: str) -> None:
        self.skipped += 1
        self.consecutive += 1
        if self.limit and self.consecutive > self.limit:
            raise ValueError(
                f"{self.where}: Expected at most {self.limit} consecutive updates with non-finite gradients "
                f"(`skip_nonfinite={self.limit}`) but got {self.consecutive}, the last at {position}; "
                f"{self.skipped} update(s) skipped in all. The loss or the gradients diverged: lower the lr, "
                "clip the gradients (`Trainer(gradient_clip_val=...)`) or check the data."
            )


def outcomes_of(optimizer: Any) -> StepOutcomes | None:
    """The ``StepOutcomes`` of a torch optimizer (or Lightning's wrapper of one) the mixin built, if any."""
    optimizer = getattr(optimizer, "optimizer", optimizer)  # LightningOptimizer, DeepSpeed wrappers
    try:
        return _OUTCOMES.get(optimizer)
    except TypeError:  # not weak-referenceable
        return None


def settle(optimizers: Sequence[Any]) -> None:
    """Resolve every pending step outcome of ``optimizers`` (what reads learning rates calls first)."""
    for optimizer in optimizers:
        outcomes = outcomes_of(optimizer)
        if outcomes is not None and (outcomes.pending or outcomes.attempt is not None):
            outcomes.settle()


def has_scaler(trainer: Any) -> bool:
    """Whether Lightning's precision plugin steps through a ``GradScaler`` (``16-mixed``), enabled or not."""
    return getattr(trainer.precision_plugin, "scaler", None) is not None


class SettleOutcomes(MixinCallback):
    """Resolves the outcomes still on the device before a checkpoint is built and when training ends; under a
    ``GradScaler``, counts the scaler's skips of the optimizers declaring ``skip_nonfinite`` (``scaled``).

    Lightning builds a checkpoint by asking the callbacks for their state first, then the optimizers and the
    schedulers, so ``state_dict`` is where the held schedule steps are taken before they are saved.

    Lightning calls ``on_before_optimizer_step`` for every step asked for (automatic and manual optimization),
    after the backward and before the scaler decides, so each call opens an attempt that the optimizer's
    post-step hook closes; one still open at the next call (or when training ends) was skipped by the scaler.

    In automatic optimization under a ``GradScaler`` Lightning also calls it after a ``training_step`` that
    returned ``None``, and then does not step the optimizer at all; the loss was ``None`` exactly when no
    backward ran in the batch (Lightning runs it for every loss), so ``on_before_backward`` marks the batches
    with one. Without a ``GradScaler`` in automatic optimization, or ``scaled`` at all, those hooks are off.
    """

    def __init__(self, outcomes: Sequence[StepOutcomes], scaled: Sequence[StepOutcomes] = ()) -> None:
        super().__init__()
        self.outcomes = list(outcomes)
        self.scaled = {id(o.optimizer): o for o in scaled}
        self.automatic = {id(o.optimizer): o for o in outcomes if o.tags and has_scaler(o.trainer)}
        #: the batch (``batch_tag``) of the last backward, in automatic optimization under a ``GradScaler``
        self.backward_at = -1
        if not self.automatic:
            self.disable_hook("on_before_backward")
        if not self.scaled and not self.automatic:
            self.disable_hook("on_before_optimizer_step")

    def _settle(self, *hook_args: Any, **hook_kwargs: Any) -> None:
        for outcomes in self.outcomes:
            outcomes.settle()

    on_train_epoch_end = on_train_end = _settle

    @override
    def state_dict(self) -> dict[str, Any]:
        self._settle()
        return {}

    @override
    def on_before_backward(self, trainer: Trainer, pl_module: LightningModule, loss: torch.Tensor) -> None:
        self.backward_at = batch_tag(trainer)

    @override
    def on_before_optimizer_step(
        self, trainer: Trainer, pl_module: LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        key = id(getattr(optimizer, "optimizer", optimizer))
        if key in self.automatic and self.backward_at != batch_tag(trainer):
            self.automatic[key].ran_without_loss()
            return
        outcomes = self.scaled.get(key)
        if outcomes is not None:
            outcomes.begin()


def scheduler_step(scheduler: Any, step: Action) -> None:
    """Take a Lightning scheduler step (automatic optimization) of ``scheduler`` as the mixin does: a per-step
    schedule only after an applied optimizer step of the current batch, held while the outcome is on the
    device; any other schedule of such an optimizer after the held steps are taken."""
    outcomes = _GATES.get(scheduler)
    if outcomes is None:
        step()
        return
    if not any(scheduler is schedule for schedule in outcomes.waiting):
        outcomes.settle()
        step()
    elif outcomes.ran_in_this_batch():
        outcomes.when_applied(step)


def install(trainer: Trainer, built: Sequence[Built], *, manual: bool) -> dict[int, StepOutcomes]:
    """A ``StepOutcomes`` for every optimizer with a per-step schedule or ``skip_nonfinite``, by ``id`` of the
    optimizer.

    In automatic optimization the mixin's ``lr_scheduler_step`` asks it; in manual optimization the stepping
    callback asks ``when_applied`` from its own post-step hook, registered after this one. An optimizer
    without either gets nothing (no hooks, no cost).
    """
    found = {}
    for b in built:
        limit = b.declared.spec.skip_nonfinite
        if limit or any(scheduler.interval == "step" for scheduler in b.declared.schedulers):
            outcomes = StepOutcomes(b.declared.where, b.optimizer, trainer, limit=limit, tags=not manual)
            found[id(b.optimizer)] = outcomes
            for schedule, scheduler in b.scheduled():
                _GATES[schedule] = outcomes
                if scheduler.interval == "step":
                    outcomes.waiting.append(schedule)
    if found:
        callbacks.add(trainer, SettleOutcomes(list(found.values())))
    return found
