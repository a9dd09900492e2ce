"""How long the run is, in a scheduler's own units: what omitted lengths, fractional warmups and
``unit="epoch"`` conversions are derived from when ``fit`` starts.

Steps are optimizer steps. In automatic optimization that is Lightning's ``estimated_stepping_batches``:
``ceil(batches / accumulate_grad_batches)`` per epoch (the last, partial accumulation window of an epoch
steps too), times the epochs, capped by ``max_steps``; ``limit_train_batches`` and the per-device share of
the data under several devices are part of ``batches``. In manual optimization each declared optimizer is
assumed to step once per training batch (the usual GAN loop); Lightning's ``max_steps`` counts the steps of
all optimizers together there, so it caps each optimizer at ``ceil(max_steps / optimizers)`` steps.
A per-step scheduler with ``frequency > 1`` is stepped by Lightning's rule in both modes (after the batches
with ``(batch_idx + 1) % frequency == 0``, counted within each epoch), so its number of updates is counted
by that rule too (``lightning_step_updates``).

Epochs are ``max_epochs``, or fewer when ``max_steps`` ends the run earlier: the epochs that start before
``max_steps`` is reached.

A ``GradientAccumulationScheduler`` callback changes ``accumulate_grad_batches`` from epoch to epoch; the
steps of the run are then the sum over its epochs of ``ceil(batches / accumulation of that epoch)``.
Lightning's own ``estimated_stepping_batches`` (2.6.6) ignores the callback (it reads the Trainer's
``accumulate_grad_batches``, which the callback requires to be 1 and only changes when each epoch starts),
so it overestimates such a run; the functions here read the callback's schedule instead.

A schedule built when a fit starts covers what is left of the run from where that fit starts
(``RunStart``): a second ``fit`` of the same Trainer with a raised ``max_epochs`` continues at the step where
the first one ended, with fresh optimizers and schedulers (Lightning calls ``configure_optimizers`` again),
so a length derived there is the steps that fit takes, not the whole run's. A run resumed from a checkpoint
restores its schedule's state, which covers the whole run from step 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lightning.pytorch.callbacks import GradientAccumulationScheduler

from lightning_optim.declarations.resolve import ResolvedScheduler
from lightning_optim.utilities.errors import prefixed


@dataclass(frozen=True)
class DerivedFromRun:
    """What a scheduler needs to know about the run: its warmup, the derived length and steps per epoch."""

    #: the warmup's length in scheduler updates (0: none)
    warmup: int
    #: the value of the omitted length argument, if any
    derived_length: int | None
    #: optimizer steps per epoch, when the schedule is declared in epochs and stepped per step
    steps_per_epoch: int | None
    #: the window ``(begin, end)`` of its updates it acts in (``end=None``: to the end), if it has one
    window: tuple[int, int | None] | None = None


@dataclass(frozen=True)
class RunStart:
    """Where a schedule starts in the run: the optimizer steps (each optimizer's, in manual optimization)
    and the epochs already behind it. A fresh schedule of a first ``fit`` starts at ``RunStart()``."""

    step: int = 0
    epoch: int = 0


def run_start(trainer: Any) -> RunStart:
    """Where a schedule built now starts: where the Trainer's loops stand, or step 0 when resuming from a
    checkpoint (its restored schedule started there; the loops are restored only after the schedulers are
    built).

    Example:
        >>> run_start(None)
        RunStart(step=0, epoch=0)
    """
    if trainer is None or getattr(trainer, "ckpt_path", None) is not None:
        return RunStart()
    return loop_position(trainer)


def loop_position(trainer: Any) -> RunStart:
    """The steps (each optimizer's, in manual optimization) and the epochs the Trainer's loops have done."""
    steps = int(getattr(trainer, "global_step", 0) or 0)
    optimizers = _manual_optimizers(trainer)
    if optimizers:
        steps //= optimizers  # Lightning counts every optimizer's steps in `global_step`
    return RunStart(step=steps, epoch=int(getattr(trainer, "current_epoch", 0) or 0))


def manual_optimization(module: Any) -> bool:
    """Whether ``module`` trains with manual optimization: ``automatic_optimization = False``, or several
    declared optimizers (the mixin sets ``automatic_optimization = False`` for them; ``fit`` refuses them
    in automatic optimization)."""
    declared_all = getattr(module, "_lightning_optim_declared", ())
    return not getattr(module, "automatic_optimization", True) or len(declared_all) > 1


def _manual_optimizers(trainer: Any) -> int | None:
    """The number of declared optimizers when the module uses manual optimization, else ``None``."""
    module = getattr(trainer, "lightning_module", None)
    if module is None or not manual_optimization(module):
        return None
    # only asked while building a declared scheduler, so there is at least one declared
    return len(module._lightning_optim_declared)


def _batches_per_epoch(trainer: Any) -> float:
    trainer.estimated_stepping_batches  # noqa: B018 (sets up the train dataloader, so the count is known)
    return float(trainer.num_training_batches)


def accumulation_scheduler(trainer: Any) -> GradientAccumulationScheduler | None:
    """The Trainer's ``GradientAccumulationScheduler`` callback, if it has one (it sets the accumulation of
    each epoch when the epoch starts)."""
    callbacks = getattr(trainer, "callbacks", None) or ()
    return next((c for c in callbacks if isinstance(c, GradientAccumulationScheduler)), None)


def accumulation(trainer: Any, epoch: int) -> int:
    """The ``accumulate_grad_batches`` of ``epoch``: the ``GradientAccumulationScheduler``'s, else the Trainer's."""
    schedule = accumulation_scheduler(trainer)
    if schedule is not None:
        return int(schedule.get_accumulate_grad_batches(epoch))
    return int(trainer.accumulate_grad_batches)


def epoch_steps(trainer: Any, epoch: int) -> float:
    """Optimizer steps in ``epoch`` (each optimizer's, in manual optimization); ``inf`` when unknown."""
    batches = _batches_per_epoch(trainer)
    if _manual_optimizers(trainer) is not None or not math.isfinite(batches):
        return batches
    return float(math.ceil(batches / accumulation(trainer, epoch)))


def _last_change(trainer: Any) -> int:
    """The first epoch from which every epoch has the same number of steps."""
    schedule = accumulation_scheduler(trainer)
    return max(schedule.epochs) if schedule is not None and _manual_optimizers(trainer) is None else 0


def steps_before(trainer: Any, epoch: int) -> float:
    """Optimizer steps in the epochs before ``epoch`` (each optimizer's, in manual optimization).

    A ``GradientAccumulationScheduler`` makes them vary from epoch to epoch; they are constant from its last
    milestone on.
    """
    changing = min(epoch, _last_change(trainer))
    total = sum(epoch_steps(trainer, e) for e in range(changing))
    if epoch > changing:
        total += (epoch - changing) * epoch_steps(trainer, changing)
    return total


def epochs_for_steps(trainer: Any, steps: float) -> float:
    """The epochs it takes to reach ``steps`` optimizer steps (the last one partly); ``inf`` when unknown."""
    last = _last_change(trainer)
    done = 0.0
    for epoch in range(last):
        if done >= steps:
            return float(epoch)
        done += epoch_steps(trainer, epoch)
    per_epoch = epoch_steps(trainer, last)
    if done >= steps:
        return float(last)
    if not math.isfinite(per_epoch) or per_epoch <= 0:
        return math.inf
    return float(last + math.ceil((steps - done) / per_epoch))


def steps_per_epoch(trainer: Any) -> float:
    """Optimizer steps per epoch (each optimizer's, in manual optimization); ``inf`` when unknown.

    With a ``GradientAccumulationScheduler`` they may vary: this is the first epoch's (see ``varying_steps``).
    """
    return epoch_steps(trainer, 0)


def varying_steps(trainer: Any) -> list[tuple[int, int]]:
    """``(epoch, steps)`` where the optimizer steps per epoch change within the run (empty: constant)."""
    schedule = accumulation_scheduler(trainer)
    if schedule is None or _manual_optimizers(trainer) is not None:
        return []
    epochs = run_epochs(trainer)
    values = [(e, epoch_steps(trainer, e)) for e in schedule.epochs if e < epochs]
    if len({v for _, v in values}) <= 1:
        return []
    return [(e, int(v)) for e, v in values]


def run_steps(trainer: Any) -> float:
    """Optimizer steps in the run (each optimizer's, in manual optimization); ``inf`` when unknown."""
    optimizers = _manual_optimizers(trainer)
    if optimizers is None and accumulation_scheduler(trainer) is None:
        return float(trainer.estimated_stepping_batches)
    max_steps = trainer.max_steps
    total = math.inf
    if trainer.max_epochs not in (None, -1) and math.isfinite(_batches_per_epoch(trainer)):
        total = steps_before(trainer, max(trainer.max_epochs, 1))
    if max_steps not in (None, -1):
        total = min(total, math.ceil(max_steps / (optimizers or 1)))
    return total


def run_epochs(trainer: Any) -> float:
    """Epochs in the run: ``max_epochs``, or fewer when ``max_steps`` ends it first; ``inf`` when unknown."""
    epochs = math.inf if trainer.max_epochs in (None, -1) else float(trainer.max_epochs)
    if trainer.max_steps not in (None, -1):
        # `max_steps` counts Lightning's global steps: every optimizer's, in manual optimization
        optimizers = _manual_optimizers(trainer) or 1
        epochs = min(epochs, epochs_for_steps(trainer, trainer.max_steps / optimizers))
    return epochs


def stepping_batches(batches: int, accumulate: int) -> Iterator[int]:
    """The indices of the batches that step the optimizer in an epoch of ``batches`` in automatic optimization.

    Every ``accumulate``-th batch steps, and the epoch's last one (its partial accumulation window steps
    too). A per-step scheduler's ``frequency`` counts these indices: Lightning steps it after such a batch
    when ``(batch_idx + 1) % frequency == 0``.

    Example:
        >>> list(stepping_batches(10, 4))
        [3, 7, 9]
    """
    yield from range(accumulate - 1, batches, accumulate)
    if batches % accumulate:
        yield batches - 1


def lightning_step_updates(batches: int, accumulate: int, frequency: int, steps: int) -> int:
    """Updates of a per-step scheduler in the first ``steps`` optimizer steps of a run.

    Lightning steps it on a batch of ``stepping_batches`` when ``(batch_idx + 1) % frequency == 0``: its
    frequency counts batches within the epoch. The mixin follows the same rule in manual optimization, where
    ``accumulate`` is 1 (each optimizer stepping once per batch).

    Example:
        >>> lightning_step_updates(batches=5, accumulate=1, frequency=2, steps=15)  # 2 per epoch, not 7
        6
    """
    stepping = list(stepping_batches(batches, accumulate))
    per_epoch = [(b + 1) % frequency == 0 for b in stepping]
    full, partial = divmod(steps, len(stepping)) if stepping else (0, 0)
    return full * sum(per_epoch) + sum(per_epoch[:partial])


def _lightning_updates(trainer: Any, frequency: int, steps: int) -> int:
    """Updates of a per-step scheduler in the first ``steps`` optimizer steps of an automatic run, epoch by
    epoch (the accumulation may change between epochs)."""
    batches = int(_batches_per_epoch(trainer))
    if _manual_optimizers(trainer) is not None:
        return lightning_step_updates(batches, 1, frequency, steps)
    if accumulation_scheduler(trainer) is None:
        return lightning_step_updates(batches, trainer.accumulate_grad_batches, frequency, steps)
    updates, epoch = 0, 0
    while steps > 0:
        per_epoch = int(epoch_steps(trainer, epoch))
        if per_epoch < 1:
            break
        taken = min(steps, per_epoch)
        updates += lightning_step_updates(batches, accumulation(trainer, epoch), frequency, taken)
        steps -= taken
        epoch += 1
    return updates


def _updates(trainer: Any, scheduler: ResolvedScheduler, start: RunStart, end: int) -> int:
    """How often ``scheduler`` will be stepped from ``start`` until ``end`` of its intervals in the run."""
    first = start.step if scheduler.interval == "step" else start.epoch
    if scheduler.frequency == 1:
        return end - first
    batches = _batches_per_epoch(trainer)
    if scheduler.interval == "step" and math.isfinite(batches):
        # Lightning's frequency counts the batches of each epoch; the mixin follows its rule in manual
        # optimization too, where Lightning refuses ``accumulate_grad_batches`` and each optimizer is
        # assumed to step once per batch
        return _lightning_updates(trainer, scheduler.frequency, end) - _lightning_updates(
            trainer, scheduler.frequency, first
        )
    if scheduler.interval == "epoch":
        # stepped after epoch `e` when `(e + 1) % frequency == 0`, by Lightning and by the mixin alike
        return end // scheduler.frequency - first // scheduler.frequency
    return (end - first) // scheduler.frequency  # one endless epoch counts like the whole run


def _unknown(scheduler: ResolvedScheduler, what: str, fix: str) -> ValueError:
    return ValueError(f"{scheduler.where}: {what}, but {fix}.")


def _from(start: RunStart, scheduler: ResolvedScheduler) -> str:
    first = start.step if scheduler.interval == "step" else start.epoch
    return f" left from {scheduler.interval} {first} (where this fit starts)" if first else ""


def run_shape(trainer: Any, scheduler: ResolvedScheduler, start: RunStart | None = None) -> DerivedFromRun:
    """Derive the warmup, the omitted length and the steps per epoch of ``scheduler`` from ``trainer``, for a
    schedule that starts at ``start`` (default: ``run_start(trainer)``)."""
    start = run_start(trainer) if start is None else start
    name = scheduler.cls.__name__
    converts = scheduler.unit == "epoch" and scheduler.interval == "step"
    fraction = isinstance(scheduler.warmup, float)
    needs_length = scheduler.derived_length is not None or fraction
    if trainer is None and (needs_length or converts):
        raise _unknown(
            scheduler,
            f"`{name}` derives values from the run",
            "there is no Trainer; call `trainer.fit(model)` (or give every length explicitly)",
        )
    if scheduler.windowed:
        return _windowed_shape(trainer, scheduler, converts, start)
    per_epoch = None
    if converts:
        value = steps_per_epoch(trainer)
        if not math.isfinite(value) or value < 1:
            raise _unknown(
                scheduler,
                f"`unit='epoch'` converts `{name}`'s epoch-valued arguments to optimizer steps",
                "the number of steps per epoch is unknown (the train dataloader has no length); declare the "
                "schedule in steps or with `interval='epoch'`",
            )
        varying = varying_steps(trainer)
        if varying:
            shown = ", ".join(f"{steps} from epoch {epoch}" for epoch, steps in varying)
            raise _unknown(
                scheduler,
                f"`unit='epoch'` converts `{name}`'s epoch-valued arguments to optimizer steps",
                f"the `GradientAccumulationScheduler` makes the optimizer steps per epoch vary ({shown}); "
                "declare the schedule in steps or with `interval='epoch'`",
            )
        per_epoch = int(value)
    updates = None
    if needs_length:
        total = run_steps(trainer) if scheduler.interval == "step" else run_epochs(trainer)
        if not math.isfinite(total):
            given = f"give `{scheduler.derived_length}` explicitly" if scheduler.derived_length else ""
            if fraction:
                given = " or ".join(filter(None, [given, "give `warmup` as an int"]))
            raise _unknown(
                scheduler,
                f"`{name}` is derived from the run's length in {scheduler.interval}s "
                f"({'`' + scheduler.derived_length + '`' if scheduler.derived_length else ''}"
                f"{' and ' if scheduler.derived_length and fraction else ''}"
                f"{'`warmup=' + repr(scheduler.warmup) + '`' if fraction else ''})",
                "the Trainer's run has no known length (set `max_epochs`"
                f"{' or `max_steps`' if scheduler.interval == 'step' else ''}), or {given}",
            )
        first = start.step if scheduler.interval == "step" else start.epoch
        if first >= total:
            start = RunStart()  # nothing of the run is left, so the fit trains nothing: the whole run's
        updates = _updates(trainer, scheduler, start, int(total))
    known = updates or 0  # set whenever a fraction or a derived length needs it
    warmup = 0
    if fraction:
        warmup = max(1, int(float(scheduler.warmup or 0) * known))
    elif scheduler.warmup:
        warmup = int(scheduler.warmup) * (per_epoch or 1)
    derived = None
    if scheduler.derived_length is not None:
        derived = known - warmup
        if derived < 1:
            raise _unknown(
                scheduler,
                f"`{scheduler.derived_length}` of `{name}` is derived as the run's {updates} scheduler "
                f"updates{_from(start, scheduler)} minus the warmup's {warmup}",
                f"that leaves {derived}; shorten the warmup or lengthen the run",
            )
        with prefixed(scheduler.where):
            derived = scheduler.info.derive_length(derived, scheduler.kwargs)
        if derived < 1:
            raise _unknown(
                scheduler,
                f"`{scheduler.derived_length}` of `{name}` is derived from the run's {updates} scheduler "
                f"updates{_from(start, scheduler)}",
                f"that gives {derived}; lengthen the run or give `{scheduler.derived_length}`",
            )
    return DerivedFromRun(warmup=warmup, derived_length=derived, steps_per_epoch=per_epoch)


def _windowed_shape(
    trainer: Any, scheduler: ResolvedScheduler, converts: bool, start: RunStart
) -> DerivedFromRun:
    """The window of a scheduler with ``begin``/``end`` in its updates, and the length derived from it.

    Int bounds count the scheduler's updates (epochs with ``unit="epoch"``, converted to steps as mmengine's
    ``convert_to_iter_based`` does); float bounds are fractions of the run's updates; ``end=None`` is the end
    of the run, known only when a length is derived from it.
    """
    name = scheduler.cls.__name__
    begin, end = scheduler.begin or 0, scheduler.end
    fractions = isinstance(begin, float) or isinstance(end, float)
    needs_run = fractions or (end is None and scheduler.derived_length is not None)
    if trainer is None and (needs_run or converts):
        raise _unknown(
            scheduler,
            f"the window of `{name}` is derived from the run",
            "there is no Trainer; call `trainer.fit(model)` (or give `begin`, `end` and every length as ints)",
        )
    per_epoch = None
    if converts:
        value = steps_per_epoch(trainer)
        if not math.isfinite(value) or value < 1:
            raise _unknown(
                scheduler,
                f"`unit='epoch'` converts the window and arguments of `{name}` to optimizer steps",
                "the number of steps per epoch is unknown (the train dataloader has no length)",
            )
        per_epoch = int(value)
    updates = math.inf
    if needs_run:
        total = run_steps(trainer) if scheduler.interval == "step" else run_epochs(trainer)
        if not math.isfinite(total):
            raise _unknown(
                scheduler,
                f"the window of `{name}` (begin={scheduler.begin!r}, end={scheduler.end!r}) is measured against "
                f"the run's length in {scheduler.interval}s",
                "the Trainer's run has no known length; give `begin`, `end` and the length as ints",
            )
        first = start.step if scheduler.interval == "step" else start.epoch
        if first >= total:
            start = RunStart()  # nothing of the run is left, so the fit trains nothing: the whole run's
        updates = float(_updates(trainer, scheduler, start, int(total)))

    def bound(value: int | float) -> int:
        if isinstance(value, float):
            return int(value * updates)
        return int(value) * (per_epoch or 1)

    first = bound(begin)
    last = None if end is None else bound(end)
    if last is not None and last <= first:
        raise _unknown(
            scheduler,
            f"the window of `{name}` is [{first}, {last}) in scheduler updates",
            "it is empty for this run; widen it or lengthen the run",
        )
    derived = None
    if scheduler.derived_length is not None:
        span = (int(updates) if last is None else last) - first
        with prefixed(scheduler.where):
            derived = scheduler.info.derive_length(span, scheduler.kwargs) + scheduler.info.window_offset
        if derived < 1:
            raise _unknown(
                scheduler,
                f"`{scheduler.derived_length}` of `{name}` is derived from its window of {span} updates",
                f"that gives {derived}; widen the window or give `{scheduler.derived_length}`",
            )
    return DerivedFromRun(warmup=0, derived_length=derived, steps_per_epoch=per_epoch, window=(first, last))


def optimizer_steps(
    max_epochs: int, steps_per_epoch: int | float, accumulate_grad_batches: int = 1, max_steps: int = -1
) -> int | float:
    """Lightning's ``Trainer.estimated_stepping_batches`` for a run of these numbers (no Trainer needed).

    Args:
        max_epochs: ``Trainer(max_epochs=...)``; ``-1`` for no epoch limit.
        steps_per_epoch: training batches per epoch on one process (``trainer.num_training_batches``),
            ``math.inf`` for an iterable dataset without length.
        accumulate_grad_batches: ``Trainer(accumulate_grad_batches=...)``; an epoch's last batch always steps.
        max_steps: ``Trainer(max_steps=...)``; ``-1`` for no step limit.

    Returns:
        The number of optimizer steps of the run, ``math.inf`` when it has no limit.

    Example:
        >>> optimizer_steps(max_epochs=3, steps_per_epoch=10)
        30
        >>> optimizer_steps(max_epochs=3, steps_per_epoch=10, accumulate_grad_batches=4)  # 4+4+2 per epoch
        9
        >>> optimizer_steps(max_epochs=3, steps_per_epoch=10, max_steps=25)
        25
        >>> optimizer_steps(max_epochs=-1, steps_per_epoch=10)
        inf
    """
    if max_epochs == -1:
        return math.inf if max_steps == -1 else max_steps
    if steps_per_epoch == math.inf:
        return max_steps if max_steps != -1 else math.inf
    total = math.ceil(steps_per_epoch / accumulate_grad_batches) * max(max_epochs, 1)
    return min(total, max_steps) if max_steps != -1 else total


@dataclass(frozen=True)
class TrainerStandIn:
    """What the functions above read from a ``Trainer``, for building schedulers without one (previews)."""

    max_epochs: int
    max_steps: int
    num_training_batches: int | float
    accumulate_grad_batches: int
    lightning_module: Any

    @property
    def estimated_stepping_batches(self) -> int | float:
        return optimizer_steps(
            self.max_epochs, self.num_training_batches, self.accumulate_grad_batches, self.max_steps
        )
