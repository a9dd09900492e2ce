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
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lightning_optim.declarations.resolve import ResolvedScheduler
from lightning_optim.utilities.errors import prefixed


@dataclass(frozen=True)
class RunShape:
    """What a scheduler needs to know about the run: its warmup, the derived length and steps per epoch."""

    #: the warmup's length in scheduler updates (0: none)
    warmup: int
    #: the value of the omitted length argument, if any
    derived_length: int | None
    #: optimizer steps per epoch, when the schedule is declared in epochs and stepped per step
    steps_per_epoch: int | None
    #: the window ``(begin, end)`` of its updates it acts in (``end=None``: to the end), if it has one
    window: tuple[int, int | None] | None = None


def manual_optimization(module: Any) -> bool:
    """Whether ``module`` trains with manual optimization: ``automatic_optimization = False``, or several
    declared optimizers (the mixin sets ``automatic_optimization = False`` for them; ``fit`` refuses them
    in automatic optimization)."""
    plans = getattr(module, "_lightning_optim_declared", ())
    return not getattr(module, "automatic_optimization", True) or len(plans) > 1


def _manual_optimizers(trainer: Any) -> int | None:
    """The number of declared optimizers when the module uses manual optimization, else ``None``."""
    module = getattr(trainer, "lightning_module", None)
    if module is None or not manual_optimization(module):
        return None
    # only asked while building a declared scheduler, so there is at least one plan
    return len(module._lightning_optim_declared)


def _batches_per_epoch(trainer: Any) -> float:
    trainer.estimated_stepping_batches  # noqa: B018 (sets up the train dataloader, so the count is known)
    return float(trainer.num_training_batches)


def steps_per_epoch(trainer: Any) -> float:
    """Optimizer steps per epoch (each optimizer's, in manual optimization); ``inf`` when unknown."""
    batches = _batches_per_epoch(trainer)
    if _manual_optimizers(trainer) is not None or not math.isfinite(batches):
        return batches
    return float(math.ceil(batches / trainer.accumulate_grad_batches))


def run_steps(trainer: Any) -> float:
    """Optimizer steps in the run (each optimizer's, in manual optimization); ``inf`` when unknown."""
    optimizers = _manual_optimizers(trainer)
    if optimizers is None:
        return float(trainer.estimated_stepping_batches)
    max_steps = trainer.max_steps
    total = math.inf
    if trainer.max_epochs not in (None, -1):
        total = _batches_per_epoch(trainer) * max(trainer.max_epochs, 1)
    if max_steps not in (None, -1):
        total = min(total, math.ceil(max_steps / optimizers))
    return total


def run_epochs(trainer: Any) -> float:
    """Epochs in the run: ``max_epochs``, or fewer when ``max_steps`` ends it first; ``inf`` when unknown."""
    epochs = math.inf if trainer.max_epochs in (None, -1) else float(trainer.max_epochs)
    if trainer.max_steps not in (None, -1):
        per_epoch = steps_per_epoch(trainer) * (
            _manual_optimizers(trainer) or 1
        )  # in Lightning's global steps
        if math.isfinite(per_epoch) and per_epoch > 0:
            epochs = min(epochs, math.ceil(trainer.max_steps / per_epoch))
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


def _updates(trainer: Any, scheduler: ResolvedScheduler, total: int) -> int:
    """How often ``scheduler`` will be stepped in a run of ``total`` of its intervals."""
    if scheduler.frequency == 1:
        return total
    batches = _batches_per_epoch(trainer)
    if scheduler.interval == "step" and math.isfinite(batches):
        # the mixin follows Lightning's rule in manual optimization too, where Lightning refuses
        # ``accumulate_grad_batches`` and each optimizer is assumed to step once per batch
        accumulate = 1 if _manual_optimizers(trainer) is not None else trainer.accumulate_grad_batches
        return lightning_step_updates(int(batches), accumulate, scheduler.frequency, total)
    return total // scheduler.frequency  # one endless epoch counts like the whole run; epochs count alike


def _unknown(scheduler: ResolvedScheduler, what: str, fix: str) -> ValueError:
    return ValueError(f"{scheduler.where}: {what}, but {fix}.")


def run_shape(trainer: Any, scheduler: ResolvedScheduler) -> RunShape:
    """Derive the warmup, the omitted length and the steps per epoch of ``scheduler`` from ``trainer``."""
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
        return _windowed_shape(trainer, scheduler, converts)
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
        updates = _updates(trainer, scheduler, int(total))
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
                f"updates minus the warmup's {warmup}",
                f"that leaves {derived}; shorten the warmup or lengthen the run",
            )
        with prefixed(scheduler.where):
            derived = scheduler.info.derive_length(derived, scheduler.kwargs)
        if derived < 1:
            raise _unknown(
                scheduler,
                f"`{scheduler.derived_length}` of `{name}` is derived from the run's {updates} scheduler updates",
                f"that gives {derived}; lengthen the run or give `{scheduler.derived_length}`",
            )
    return RunShape(warmup=warmup, derived_length=derived, steps_per_epoch=per_epoch)


def _windowed_shape(trainer: Any, scheduler: ResolvedScheduler, converts: bool) -> RunShape:
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
        updates = float(_updates(trainer, scheduler, int(total)))

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
    return RunShape(warmup=0, derived_length=derived, steps_per_epoch=per_epoch, window=(first, last))


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
class RunLength:
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
