"""How long the run is, in a scheduler's own units: what omitted lengths, fractional warmups and
``unit="epoch"`` conversions are derived from when ``fit`` starts.

Steps are optimizer steps. In automatic optimization that is Lightning's ``estimated_stepping_batches``:
``ceil(batches / accumulate_grad_batches)`` per epoch (the last, partial accumulation window of an epoch
steps too), times the epochs, capped by ``max_steps``; ``limit_train_batches`` and the per-device share of
the data under several devices are part of ``batches``. In manual optimization each declared optimizer is
counted to step once per training batch (the usual GAN loop; a loop of the module's own that steps otherwise
is refused, ``training/stepping.py``); Lightning's ``max_steps`` counts the steps of
all optimizers together there, so it caps each optimizer at ``ceil(max_steps / optimizers)`` steps.
A per-step scheduler with ``frequency > 1`` is stepped by Lightning's rule in both modes, so its number of
updates is counted by that rule too (``utilities/step_rule.py``).

A module whose optimizers declare ``loss`` (the mixin writes the training step, ``training/driven.py``) steps
each optimizer at the ends of automatic optimization's accumulation windows ``b`` with
``(b + 1) % every == 0``: its steps are counted per optimizer, and ``max_steps`` (every optimizer's steps
together) is followed window by window to the one that reaches it. The functions below count one
optimizer's steps: each optimizer's in manual optimization, ``scheduler``'s optimizer's here.

Epochs are ``max_epochs``, or fewer when ``max_steps`` ends the run earlier: the epochs that start before
``max_steps`` is reached.

A ``GradientAccumulationScheduler`` callback changes ``accumulate_grad_batches`` from epoch to epoch; the
steps of the run are then the sum over its epochs of ``ceil(batches / accumulation of that epoch)``.
Lightning's own ``estimated_stepping_batches`` (2.6.6) ignores the callback (it reads the Trainer's
``accumulate_grad_batches``, which the callback requires to be 1 and only changes when each epoch starts),
so it overestimates such a run; the functions here read the callback's schedule instead.

A schedule covers the run from where it starts (``Shape.start``): a second ``fit`` of the same Trainer with a
raised ``max_epochs`` continues at the step where the first one ended, with fresh optimizers and schedulers
(Lightning calls ``configure_optimizers`` again), so a length derived there is the steps that fit takes, not
the whole run's.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from lightning.pytorch.callbacks import GradientAccumulationScheduler, Timer

from lightning_optim.building.swa import max_epochs, swa_start
from lightning_optim.declaring.optimizer import ResolvedOptimizer, declared_of
from lightning_optim.declaring.scheduler import ResolvedScheduler
from lightning_optim.declaring.training_step import declares_losses
from lightning_optim.registry.scheduler_lengths import updates as _updates
from lightning_optim.schedules.shape import Shape
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import prefixed
from lightning_optim.utilities.numeric import is_int
from lightning_optim.utilities.step_rule import (
    interleaved,
    stepping_batches,
    steps_at,
    steps_in,
    updates_in,
    windows_ending_before,
    windows_in,
)

#: Where a schedule starts in the run: ``(optimizer steps, epochs)`` behind it (each optimizer's steps).
Start = tuple[int, int]


def loop_position(trainer: Any, scheduler: ResolvedScheduler | None = None) -> Start:
    """The steps and the epochs the Trainer's loops have done."""
    index = None if scheduler is None or driven_everies(trainer) is None else _index(trainer, scheduler)
    return loop_steps(trainer, index), compat.epochs_done(trainer)


def loop_steps(trainer: Any, index: int | None = None) -> int:
    """The steps of the optimizer declared at ``index`` that the Trainer's loops have done, by the module's
    configuration now: Lightning's ``global_step`` (steps asked for, applied or skipped); when the mixin writes the
    training step, the steps its ``every`` takes of them. In manual optimization ``global_step`` counts every
    optimizer's steps together, which tells no one optimizer's: with several, the training batches done, by the
    rule a derived length counts with (one step of each optimizer per batch, which ``stepping.py`` holds an
    optimizer whose schedule counts them to), so an optimizer stepped at another rate (a GAN's generator every
    ``n_critic`` batches) leaves the others' counts as they are."""
    steps = int(getattr(trainer, "global_step", 0) or 0)
    everies, optimizers = driven_everies(trainer), _manual_optimizers(trainer) or 1
    if everies is not None and index is not None:
        return interleaved(*_epoch(trainer), everies, steps)[0][index]
    if batches_stand_in(trainer):
        return compat.batches_trained(trainer)
    return steps // optimizers


def batches_stand_in(trainer: Any) -> bool:
    """Whether ``loop_steps`` counts the training batches for every optimizer, as the loops keep no count of
    each one's steps: manual optimization with several optimizers, the module's own training step (no
    ``loss=``). Where each optimizer stands in the run is then counted apart (``positions.Positions``)."""
    return driven_everies(trainer) is None and (_manual_optimizers(trainer) or 1) > 1


def windows_reaching(trainer: Any, every: int, steps: int) -> int:
    """The accumulation windows of the run (each epoch's as this fit has them) an optimizer stepping at the
    window ends ``b`` with ``steps_at(b, every)`` goes through to take ``steps`` steps: up to its last one.

    Example:
        >>> run = TrainerStandIn(3, -1, num_training_batches=16, accumulate_grad_batches=1, lightning_module=None)
        >>> windows_reaching(run, every=1, steps=24), windows_reaching(run, every=2, steps=12)  # 8 + 4 steps
        (24, 24)
    """
    return interleaved(*_epoch(trainer), (every,), steps)[1]


def steps_within(trainer: Any, every: int, windows: int) -> int:
    """The steps such an optimizer takes in the run's first ``windows`` accumulation windows.

    Example:
        >>> run = TrainerStandIn(3, -1, num_training_batches=16, accumulate_grad_batches=1, lightning_module=None)
        >>> steps_within(run, every=2, windows=24), steps_within(run, every=3, windows=24)  # 8 + 4, 5 + 2
        (12, 7)
    """
    batches, accumulate = _epoch(trainer)
    full, partial = divmod(windows, windows_in(batches, accumulate))
    return full * steps_in(batches, accumulate, every) + steps_in(batches, accumulate, every, partial)


def manual_optimization(module: Any) -> bool:
    """Whether ``module`` trains with manual optimization: ``automatic_optimization = False``, or several
    declared optimizers (the mixin sets ``automatic_optimization = False`` for them; ``fit`` refuses them
    in automatic optimization), or optimizers declaring ``loss`` (the mixin's training step)."""
    declared = declared_of(module)
    return (
        not getattr(module, "automatic_optimization", True) or len(declared) > 1 or declares_losses(declared)
    )


#: The attribute of a module where ``configure_optimizers`` keeps each declared optimizer's ``every`` as this
#: ``fit`` read it (an ``HParam``'s value; the class's resolution holds its default)
EVERIES_ATTRIBUTE = "_lightning_optim_everies"


def driven_everies(trainer: Any) -> tuple[int, ...] | None:
    """Each declared optimizer's ``every`` when the mixin writes the module's training step (``loss``), else
    ``None``: as ``fit`` read them (a preview's stand-in carries those it read), else as declared."""
    module = getattr(trainer, "lightning_module", None)
    declared = declared_of(module) if module is not None else ()
    if not declares_losses(declared):
        return None
    read = getattr(trainer, "declared_everies", None) or getattr(module, EVERIES_ATTRIBUTE, None)
    return tuple(read) if read is not None else tuple(d.spec.every for d in declared)


def _index(trainer: Any, scheduler: ResolvedScheduler) -> int:
    """The position of the optimizer declaring ``scheduler`` among the module's declarations."""
    declared = declared_of(trainer.lightning_module)
    return next((i for i, d in enumerate(declared) if scheduler.where.startswith(f"{d.where}.")), 0)


def _epoch(trainer: Any) -> tuple[int, int]:
    """The batches of an epoch and their accumulation, whose windows ``utilities/step_rule.py`` counts; for data
    of unknown length, the batches of the windows over which the optimizers' ``every`` repeat."""
    batches, accumulate = _batches_per_epoch(trainer), accumulation(trainer, 0)
    if math.isfinite(batches):
        return int(batches), accumulate
    return math.lcm(*(driven_everies(trainer) or (1,))) * accumulate, accumulate


def run_windows(trainer: Any) -> tuple[int, float]:
    """The accumulation windows per epoch and in the run, for a module whose training step the mixin writes
    (the run ends at the window where every optimizer's steps together reach ``max_steps``)."""
    shape = _epoch(trainer)
    windows, total = windows_in(*shape), math.inf
    if (epochs := max_epochs(trainer)) not in (None, -1):
        total = float(windows * max(epochs, 1))
    if trainer.max_steps not in (None, -1):
        total = min(total, interleaved(*shape, driven_everies(trainer) or (1,), trainer.max_steps)[1])
    return windows, total


def check_every_steps(trainer: Any) -> None:
    """An ``every`` past the epoch's last window would never step its optimizer (``batch_idx`` restarts with
    every epoch): refused when training starts, by the first of the mixin's checks that meets it (a length
    derived from that optimizer's steps would otherwise be refused for its 0 steps). Not in Lightning's
    ``fast_dev_run`` smoke run of a batch or a few, which runs a declaration meant for a long run as it is.

    So is an ``every > 1`` that every window end matches under ``accumulate_grad_batches``: the rule counts
    batches, not windows, so ``every=2`` with 2 batches a window steps as often as ``every=1`` would. And an
    ``every > 1`` beside accumulation on data of unknown length (``unknown_length``)."""
    module, batches = trainer.lightning_module, _batches_per_epoch(trainer)
    if driven_everies(trainer) is None or getattr(trainer, "fast_dev_run", False):
        return
    accumulate, everies = accumulation(trainer, 0), driven_everies(trainer) or ()
    if not math.isfinite(batches):
        for d, every in zip(declared_of(module), everies):
            if every > 1 and accumulate > 1:
                raise ValueError(unknown_length(d.where, d.attribute, every, accumulate))
        return
    for d, every in zip(declared_of(module), everies):
        if steps_in(int(batches), accumulate, every):
            _check_every_selects(d, every, int(batches), accumulate)
            continue
        expected = (
            f"to be at most the {int(batches)} training batches of an epoch"
            if accumulate == 1
            else f"to divide `batch_idx + 1` at an accumulation window's end "
            f"(`batch_idx` {list(stepping_batches(int(batches), accumulate))})"
        )
        raise ValueError(
            f"{d.where}: Expected `every` {expected} but got `every={every}`: the rule "
            f"`(batch_idx + 1) % every == 0` restarts with every epoch, so `{d.attribute}` would never step. "
            "Lower `every`, or train on more batches per epoch."
        )


def unknown_length(where: str, attribute: str, every: int, accumulate: int) -> str:
    """The refusal of ``every > 1`` beside accumulation on data of unknown length: Lightning knows that a batch is
    the epoch's last only at that batch (its data fetcher looks one batch ahead), so where the data ends inside a
    window, the window's end, and whether ``every`` selects it, comes too late for its earlier batches, which
    ran the optimizer's loss and backward for a step that never comes, or left them out of one that does.

    Example:
        >>> print(unknown_length("Gan.gen_opt", "gen_opt", 5, 3))
        Gan.gen_opt: Expected a training dataloader of known length beside `every=5` and `accumulate_grad_batches=3` but got one without a length (an `IterableDataset` without `__len__`): where an epoch ends inside an accumulation window, whether `every` selects the window is known only at its last batch, after its earlier batches ran the loss and backward of `gen_opt` or left them out. Give the dataset a `__len__`, set `Trainer(limit_train_batches=<batches per epoch>)`, or remove `every` or `accumulate_grad_batches`.
    """
    return (
        f"{where}: Expected a training dataloader of known length beside `every={every}` and "
        f"`accumulate_grad_batches={accumulate}` but got one without a length (an `IterableDataset` without "
        "`__len__`): where an epoch ends inside an accumulation window, whether `every` selects the window is known "
        f"only at its last batch, after its earlier batches ran the loss and backward of `{attribute}` or left them "
        "out. Give the dataset a `__len__`, set `Trainer(limit_train_batches=<batches per epoch>)`, or remove "
        "`every` or `accumulate_grad_batches`."
    )


def _check_one_limit(trainer: Any, scheduler: ResolvedScheduler, measured: list[tuple[str, str]]) -> None:
    """On data of unknown length a run of ``max_epochs`` and ``max_steps`` both ends at whichever comes first, which
    its unknown steps per epoch leave unknown: a length counted from the one of its interval (Lightning's
    ``estimated_stepping_batches`` is ``max_steps`` there) would not fit a run the other ends first, so it is
    refused (not in Lightning's ``fast_dev_run`` smoke run, whose data has a length)."""
    if math.isfinite(_batches_per_epoch(trainer)) or getattr(trainer, "fast_dev_run", False):
        return
    if max_epochs(trainer) in (None, -1) or trainer.max_steps in (None, -1):
        return
    counted, other = (
        ("max_steps", "max_epochs") if scheduler.interval == "step" else ("max_epochs", "max_steps")
    )
    labels = " and ".join(label for label, _ in measured)
    fixes = " or ".join(dict.fromkeys(fix for _, fix in measured))
    raise ValueError(
        f"{scheduler.where}: Expected one of `max_epochs` and `max_steps` to end a run on a train dataloader without "
        f"a length (an `IterableDataset` without `__len__`) but got `max_epochs={trainer.max_epochs}` and "
        f"`max_steps={trainer.max_steps}`: its steps per epoch are unknown, so which of them ends the run first is "
        f"too, and {labels} of `{scheduler.cls.__name__}` would count `{counted}` where `{other}` may end the run "
        f"sooner. Leave `{other}` out (`{other}=-1`), give the dataset a `__len__`, set "
        f"`Trainer(limit_train_batches=<batches per epoch>)`, or {fixes}."
    )


def _check_every_selects(declared: ResolvedOptimizer, every: int, batches: int, accumulate: int) -> None:
    """Refuse an ``every > 1`` that matches each window end of an epoch, the partial last one too."""
    if every == 1 or steps_in(batches, accumulate, every) < windows_in(batches, accumulate):
        return
    raise ValueError(
        f"{declared.where}: Expected `every={every}` to skip some accumulation windows but got "
        f"`accumulate_grad_batches={accumulate}`: the rule `(batch_idx + 1) % every == 0` counts batches and "
        f"every window of an epoch ends at one it matches, so `{declared.attribute}` would step at every window, "
        f"as with `every=1`{skipping_every(batches, accumulate, every)}"
    )


def skipping_every(batches: int, accumulate: int, every: int) -> str:
    """The end of the refusal of an ``every`` that each window end of an epoch of ``batches`` matches: an
    ``every`` that steps at some of its windows and not all (``every * accumulate``, one step every ``every``
    windows, or fewer windows where the epoch has fewer), or that none does (an epoch of one window).

    Example:
        >>> skipping_every(8, 4, 2), skipping_every(6, 3, 3)
        (' (did you mean `every=8`, one step every 2 windows?)', ' (did you mean `every=6`, one step every 2 windows, as many as an epoch of 6 batches has?)')
        >>> skipping_every(6, 4, 2)  # windows end at batches 3 and 5: `every=4` steps at 3 only
        ': an epoch of 6 batches is one accumulation window and a partial one (did you mean `every=4`, which leaves out the partial one?)'
        >>> skipping_every(2, 4, 2)
        ': an epoch of 2 batches is one accumulation window, which no `every` skips. Remove `every`, or train on more batches per epoch.'
        >>> [0 < steps_in(b, a, int(h.split("every=")[1].split("`")[0])) < windows_in(b, a)
        ...  for b, a, e in [(8, 4, 2), (6, 3, 3), (12, 4, 4), (6, 4, 2)] if (h := skipping_every(b, a, e))]
        [True, True, True, True]
    """
    full = batches // accumulate
    windows = min(every, full)  # one step every `windows` windows: the `windows`-th of an epoch is a full one
    if windows >= 2:
        fewer = "" if windows == every else f", as many as an epoch of {batches} batches has"
        return f" (did you mean `every={windows * accumulate}`, one step every {windows} windows{fewer}?)"
    if windows_in(batches, accumulate) == 2:  # a full window and a partial one
        return (
            f": an epoch of {batches} batches is one accumulation window and a partial one (did you mean "
            f"`every={accumulate}`, which leaves out the partial one?)"
        )
    return (
        f": an epoch of {batches} batches is one accumulation window, which no `every` skips. Remove `every`, "
        "or train on more batches per epoch."
    )


def _check_steps_in_run(trainer: Any, scheduler: ResolvedScheduler) -> None:
    """A per-step schedule of an optimizer that ``max_steps`` stops before its first step (its ``every``) would
    never act, and a length or warmup taken from its steps would be 0: refused, naming the optimizer."""
    every = _every(trainer, scheduler)
    if every is None or scheduler.interval != "step" or getattr(trainer, "fast_dev_run", False):
        return
    if not math.isfinite(total := run_steps(trainer, scheduler)) or total > 0:
        return
    attribute = declared_of(trainer.lightning_module)[_index(trainer, scheduler)].attribute
    first = next(b for b in stepping_batches(*_epoch(trainer)) if steps_at(b, every))
    raise ValueError(
        f"{scheduler.where}: Expected the run to reach a step of `{attribute}` (with `every={every}` its first "
        f"step comes after `batch_idx` {first}) but got a run that ends after {int(run_windows(trainer)[1])} "
        f"accumulation windows (`max_steps={trainer.max_steps}` counts every optimizer's steps together), so "
        f"`{attribute}` would never step and `{scheduler.cls.__name__}` would never act. Lengthen the run or "
        "lower `every`."
    )


def _check_updated_in_run(trainer: Any, scheduler: ResolvedScheduler) -> None:
    """A ``frequency`` that Lightning's rule matches nowhere in the run would leave the scheduler never updated:
    refused when training starts, as an ``every`` that never steps its optimizer is (``check_every_steps``). Per
    step, ``(batch_idx + 1) % frequency == 0`` restarts with every epoch, so a ``frequency`` that no batch stepping
    the optimizer in an epoch matches never updates it, however long the run; per epoch, a run of fewer epochs
    than ``frequency``. Counted over the whole run from its start (a resumed fit may have no update left), on data
    of known length, and not in Lightning's ``fast_dev_run`` smoke run, which runs a declaration meant for a long
    run as it is."""
    frequency, name = scheduler.spec.frequency, scheduler.cls.__name__
    if frequency == 1 or getattr(trainer, "fast_dev_run", False):
        return
    if scheduler.interval == "step" and not math.isfinite(_batches_per_epoch(trainer)):
        return
    if scheduler.interval == "epoch":
        epochs = run_epochs(trainer)
        if not math.isfinite(epochs) or epochs >= frequency:
            return
        raise ValueError(
            f"{scheduler.where}: Expected a run of at least {frequency} epochs beside `interval='epoch'` and "
            f"`frequency={frequency}` but got a run of {int(epochs)} epoch{'' if epochs == 1 else 's'}: Lightning "
            f"updates a per-epoch scheduler after epoch `e` when `(e + 1) % frequency == 0`, so `{name}` would never "
            "be updated. Lower `frequency`, or lengthen the run."
        )
    if not any(_epoch_updates(trainer, scheduler, e) for e in range(_last_change(trainer) + 1)):
        batches, stepping = int(_batches_per_epoch(trainer)), _stepping_batches(trainer, scheduler)
        expected = (
            f"to be at most the {batches} training batches of an epoch"
            if stepping is None
            else "to divide `batch_idx + 1` at a batch that steps the optimizer "
            f"(`batch_idx` {shown_indices(stepping)})"
        )
        raise ValueError(
            f"{scheduler.where}: Expected `frequency` {expected} but got `frequency={frequency}`: Lightning updates "
            "a per-step scheduler when `(batch_idx + 1) % frequency == 0`, which restarts with every epoch, so "
            f"`{name}` would never be updated. Lower `frequency`, or train on more batches per epoch."
        )
    steps = run_steps(trainer, scheduler)
    if math.isfinite(steps) and steps > 0 and not _run_updates(trainer, scheduler, (0, 0)):
        stepping = _stepping_batches(trainer, scheduler)
        each = range(int(_batches_per_epoch(trainer))) if stepping is None else stepping
        first = next(b for b in each if steps_at(b, frequency))
        raise ValueError(
            f"{scheduler.where}: Expected the run to reach an update of `{name}` (with `frequency={frequency}` the "
            f"first comes after the optimizer step at `batch_idx` {first}) but got a run of {int(steps)} optimizer "
            f"step{'' if steps == 1 else 's'}, so `{name}` would never be updated. Lower `frequency`, or lengthen "
            "the run."
        )


def _stepping_batches(trainer: Any, scheduler: ResolvedScheduler) -> list[int] | None:
    """The batches of the run's first epoch after which ``scheduler``'s optimizer steps (each window's end, where
    its ``every`` matches); ``None`` where it steps after each batch. Gone through: only for a refusal."""
    every, accumulate = _every(trainer, scheduler) or 1, accumulation(trainer, 0)
    own_loop = _every(trainer, scheduler) is None and _manual_optimizers(trainer) is not None
    if own_loop or (every == 1 and accumulate == 1):
        return None
    batches = int(_batches_per_epoch(trainer))
    return [b for b in stepping_batches(batches, accumulate) if steps_at(b, every)]


def shown_indices(indices: Sequence[int], most: int = 6) -> str:
    """``indices`` as a list in a message, its middle left out when it has more than ``most``.

    Example:
        >>> shown_indices([1, 3, 4]), shown_indices(range(1, 40, 2))
        ('[1, 3, 4]', '[1, 3, 5, ..., 35, 37, 39]')
    """
    if len(indices) <= most:
        return str(list(indices))
    half = most // 2
    return f"[{', '.join(map(str, indices[:half]))}, ..., {', '.join(map(str, indices[-half:]))}]"


def _every(trainer: Any, scheduler: ResolvedScheduler | None) -> int | None:
    """The ``every`` of ``scheduler``'s optimizer when the mixin writes the training step, else ``None``."""
    everies = driven_everies(trainer)
    return None if everies is None or scheduler is None else everies[_index(trainer, scheduler)]


def _manual_optimizers(trainer: Any) -> int | None:
    """The number of declared optimizers when the module uses manual optimization, else ``None``."""
    module = getattr(trainer, "lightning_module", None)
    return len(declared_of(module)) if module is not None and manual_optimization(module) else None


def _batches_per_epoch(trainer: Any) -> float:
    trainer.estimated_stepping_batches  # noqa: B018 (sets up the train dataloader, so the count is known)
    return float(trainer.num_training_batches)


def accumulation_scheduler(trainer: Any) -> GradientAccumulationScheduler | None:
    """The Trainer's ``GradientAccumulationScheduler`` callback, if it has one (it sets the accumulation of
    each epoch when the epoch starts)."""
    callbacks = getattr(trainer, "callbacks", None) or ()
    schedulers = compat.lightning_classes("callbacks.GradientAccumulationScheduler")
    return next((c for c in callbacks if isinstance(c, schedulers)), None)


#: the name of ``num_training_batches`` among ``run_facts``
BATCHES = "training batches per epoch"
#: the name of the accumulation among ``run_facts``: with ``BATCHES``, what sets the steps per epoch
ACCUMULATION = "`accumulate_grad_batches`"


def run_facts(trainer: Any) -> dict[str, Any]:
    """What the Trainer's run is made of, which a derived shape depends on, to say what changed (and, saved in a
    checkpoint, to tell a resumed run of the same setup from a changed one)."""
    schedule = accumulation_scheduler(trainer)
    batches = float(trainer.num_training_batches)
    return {
        BATCHES: int(batches) if batches.is_integer() else batches,
        "`max_epochs`": max_epochs(trainer),
        "`max_steps`": trainer.max_steps,
        ACCUMULATION: (
            f"GradientAccumulationScheduler({schedule.scheduling})"
            if schedule is not None
            else trainer.accumulate_grad_batches
        ),
    }


def accumulation(trainer: Any, epoch: int) -> int:
    """The ``accumulate_grad_batches`` of ``epoch``: the ``GradientAccumulationScheduler``'s, else the Trainer's."""
    schedule = accumulation_scheduler(trainer)
    return int(schedule.get_accumulate_grad_batches(epoch) if schedule else trainer.accumulate_grad_batches)


def epoch_steps(trainer: Any, epoch: int, scheduler: ResolvedScheduler | None = None) -> float:
    """Optimizer steps in ``epoch``; ``inf`` when unknown."""
    batches = _batches_per_epoch(trainer)
    every = _every(trainer, scheduler)
    if every is not None and math.isfinite(batches):
        return float(steps_in(int(batches), accumulation(trainer, epoch), every))
    if _manual_optimizers(trainer) is not None or not math.isfinite(batches):
        return batches
    return float(math.ceil(batches / accumulation(trainer, epoch)))


def _last_change(trainer: Any) -> int:
    """The first epoch from which every epoch has the same number of steps."""
    schedule = accumulation_scheduler(trainer)
    return max(schedule.epochs) if schedule is not None and _manual_optimizers(trainer) is None else 0


def epochs_for_steps(trainer: Any, steps: float) -> float:
    """The epochs it takes to reach ``steps`` optimizer steps (the last one partly); ``inf`` when unknown."""
    last = _last_change(trainer)
    # the steps done before each epoch, up to the accumulation's last change (non-decreasing)
    before = list(accumulate((epoch_steps(trainer, e) for e in range(last)), initial=0.0))
    if before[-1] >= steps:
        return float(bisect_left(before, steps))
    per_epoch = epoch_steps(trainer, last)
    if not math.isfinite(per_epoch) or per_epoch <= 0:
        return math.inf
    return float(last + math.ceil((steps - before[-1]) / per_epoch))


def epoch_steps_total(trainer: Any, scheduler: ResolvedScheduler | None, epochs: int) -> float:
    """Optimizer steps in the first ``epochs`` epochs, at this fit's steps per epoch (alike from the
    accumulation's last change on)."""
    changing = min(epochs, _last_change(trainer))
    total = sum(epoch_steps(trainer, e, scheduler) for e in range(changing))
    return total + (epochs - changing) * epoch_steps(trainer, changing, scheduler)


def _steps_into_epoch(trainer: Any, scheduler: ResolvedScheduler | None, epoch: int, batches: int) -> int:
    """Optimizer steps in the first ``batches`` batches of ``epoch``, at this fit's steps per epoch."""
    if _manual_optimizers(trainer) is not None and _every(trainer, scheduler) is None:
        return batches
    total, accumulate = int(_batches_per_epoch(trainer)), accumulation(trainer, epoch)
    every = _every(trainer, scheduler)
    windows = windows_ending_before(total, accumulate, batches)
    return windows if every is None else steps_in(total, accumulate, every, windows)


def _standing(trainer: Any, scheduler: ResolvedScheduler | None, epoch: int) -> float:
    """The steps this fit's rate would have taken where the loops stand (``epoch``, and the batches of it done):
    a resumed fit's steps taken differ from it when the checkpoint's steps per epoch were others."""
    into = _steps_into_epoch(trainer, scheduler, epoch, compat.batches_into_epoch(trainer))
    return epoch_steps_total(trainer, scheduler, epoch) + into


#: The attribute of a module where training's start keeps each ``epoch_shift`` of this fit (by the scheduler's
#: ``where``): the loops' position then, which a later epoch ended short does not move
SHIFTS_ATTRIBUTE = "_lightning_optim_epoch_shifts"


def epoch_shift(trainer: Any, scheduler: ResolvedScheduler, start: Start) -> int:
    """The steps taken minus those this fit's steps per epoch would have taken where the loops stand, for a
    schedule declared in epochs (``unit="epoch"``, updated per step) and built for the whole run (``start`` at
    step 0 where the loops have steps: ``resume_changed_setup="continue"``); otherwise 0.

    Its epoch-valued arguments are converted at this fit's steps per epoch, which puts epoch ``e`` at step
    ``e * steps_per_epoch``. After a checkpoint of another rate (another accumulation, batch size or
    ``limit_train_batches``) every later epoch starts this many steps after that, so the schedule counts its
    updates from where this fit's rate stands (``_standing``), not from the steps taken: each later epoch's
    value is reached at that epoch's first step, as in a run of this rate from the start, whatever the
    converter (milestones, lengths, a rate per step, fractional epochs), warmup or window.

    Only a change of rate shifts the schedule, and only where the fit starts: an epoch ended before its last
    batch (by ``max_steps``, ``trainer.should_stop``, an ``on_train_batch_start`` returning -1) also leaves the
    loops at fewer steps than the epochs done count, but the schedule takes the steps that were taken. So once
    training started, the shift is the one it started with (``SHIFTS_ATTRIBUTE``: ``lifecycle.py`` keeps it then,
    0 where the checkpoint was written at this fit's steps per epoch).
    """
    if start != (0, 0) or not scheduler.converts_epochs or not loop_position(trainer, scheduler)[0]:
        return 0
    kept = getattr(trainer.lightning_module, SHIFTS_ATTRIBUTE, None)
    return loop_shift(trainer, scheduler) if kept is None else int(kept.get(scheduler.where, 0))


def loop_shift(trainer: Any, scheduler: ResolvedScheduler) -> int:
    """The steps taken minus those this fit's steps per epoch would have taken where the loops stand now."""
    steps, epoch = loop_position(trainer, scheduler)
    if not steps or not math.isfinite(_batches_per_epoch(trainer)):
        return 0
    return steps - int(_standing(trainer, scheduler, epoch))


def counted_steps(trainer: Any, scheduler: ResolvedScheduler) -> int | None:
    """The steps of ``scheduler``'s optimizer that the run's length counts where the loops stand, at this fit's
    steps per epoch (``loop_position`` gives as many when the optimizer stepped as counted); ``None`` for data of
    unknown length."""
    if not math.isfinite(_batches_per_epoch(trainer)):
        return None
    return int(_standing(trainer, scheduler, compat.epochs_done(trainer)))


def max_steps_ends_run(trainer: Any) -> bool:
    """Whether ``max_steps`` ends a run of several optimizers in manual optimization (a training step of the
    module's own) before ``max_epochs`` does, by the count a derived length makes there: ``global_step`` counts
    every optimizer's steps together, one step of each per training batch."""
    optimizers = _manual_optimizers(trainer)
    if not optimizers or optimizers < 2 or driven_everies(trainer) is not None:
        return False
    if trainer.max_steps in (None, -1):
        return False
    batches, last = _batches_per_epoch(trainer), max_epochs(trainer)
    if last in (None, -1) or not math.isfinite(batches):
        return True
    return math.ceil(trainer.max_steps / optimizers) < epoch_steps_total(trainer, None, max(last, 1))


def run_steps(trainer: Any, scheduler: ResolvedScheduler | None = None) -> float:
    """Optimizer steps in the run; ``inf`` when unknown.

    A fit resumed from a checkpoint written with other steps per epoch (another accumulation, batch size or
    ``limit_train_batches``) has taken its steps so far at the old rate and takes the rest at this fit's: the
    run ends that many steps after where the loops stand (``loop_position``).
    """
    everies = driven_everies(trainer) if scheduler is not None else None
    optimizers = _manual_optimizers(trainer)
    batches = _batches_per_epoch(trainer)
    steps, epoch = loop_position(trainer, scheduler)
    plain = everies is None and optimizers is None and accumulation_scheduler(trainer) is None
    if plain and (not steps or not math.isfinite(batches)):
        estimated = float(_estimated_steps(trainer))
        return math.inf if estimated < 0 else estimated  # unsized data: Lightning gives `max_steps`, -1 unset
    total = math.inf
    if (last := max_epochs(trainer)) not in (None, -1) and math.isfinite(batches):
        total = epoch_steps_total(trainer, scheduler, max(last, 1))
        if steps:  # the steps left at this fit's rate, after the steps taken
            total += steps - _standing(trainer, scheduler, epoch)
    if trainer.max_steps not in (None, -1):
        cap = math.ceil(trainer.max_steps / (optimizers or 1))
        if everies is not None and scheduler is not None:
            cap = interleaved(*_epoch(trainer), everies, trainer.max_steps)[0][_index(trainer, scheduler)]
        total = min(total, cap)
    return total


def _estimated_steps(trainer: Any) -> int | float:
    """Lightning's ``estimated_stepping_batches`` of the run's own ``max_epochs`` (``swa.max_epochs``)."""
    estimated: int | float = trainer.estimated_stepping_batches
    epochs = max_epochs(trainer)
    if epochs is None or epochs == trainer.max_epochs:
        return estimated
    batches, accumulate = trainer.num_training_batches, trainer.accumulate_grad_batches
    return optimizer_steps(epochs, batches, accumulate, trainer.max_steps)


def run_epochs(trainer: Any) -> float:
    """Epochs in the run: ``max_epochs``, or fewer when ``max_steps`` ends it first; ``inf`` when unknown."""
    last = max_epochs(trainer)
    epochs = math.inf if last in (None, -1) else float(last)
    everies = driven_everies(trainer)
    if everies is not None and trainer.max_steps not in (None, -1):
        shape = _epoch(trainer)
        taken = interleaved(*shape, everies, trainer.max_steps)[1]
        if math.isfinite(_batches_per_epoch(trainer)):
            epochs = min(epochs, float(math.ceil(taken / windows_in(*shape))) if taken else math.inf)
        return epochs
    if trainer.max_steps not in (None, -1):
        # `max_steps` counts Lightning's global steps: every optimizer's, in manual optimization
        optimizers = _manual_optimizers(trainer) or 1
        target = trainer.max_steps / optimizers
        steps, epoch = loop_position(trainer)
        if steps and math.isfinite(_batches_per_epoch(trainer)):  # the steps left, at this fit's rate
            target += _standing(trainer, None, epoch) - steps
        epochs = min(epochs, epochs_for_steps(trainer, target))
    return epochs


def _lightning_updates(
    trainer: Any, frequency: int, steps: int, scheduler: ResolvedScheduler | None = None
) -> int:
    """Updates of a per-step scheduler in the first ``steps`` optimizer steps of the run, epoch by epoch up to
    the last change of the accumulation (``_last_change``), then as epochs alike."""
    batches = int(_batches_per_epoch(trainer))
    every = _every(trainer, scheduler)
    if every is not None:
        return updates_in(batches, accumulation(trainer, 0), frequency, steps, every)
    if _manual_optimizers(trainer) is not None:
        return updates_in(batches, 1, frequency, steps)
    updates, last = 0, _last_change(trainer)
    for epoch in range(last):
        taken = min(steps, int(epoch_steps(trainer, epoch)))
        updates += updates_in(batches, accumulation(trainer, epoch), frequency, taken)
        steps -= taken
    return updates + updates_in(batches, accumulation(trainer, last), frequency, steps)


def updates_between(trainer: Any, scheduler: ResolvedScheduler, start: Start, end: int) -> int:
    """How often ``scheduler`` is stepped from ``start`` until ``end`` of its intervals (steps or epochs)."""
    first = start[0] if scheduler.interval == "step" else start[1]
    frequency = scheduler.spec.frequency
    if frequency == 1:
        return end - first
    if scheduler.interval == "epoch":
        # stepped after epoch `e` when `(e + 1) % frequency == 0`, by Lightning and by the mixin alike
        return end // frequency - first // frequency
    if math.isfinite(_batches_per_epoch(trainer)):
        updates = _lightning_updates(trainer, frequency, end, scheduler)
        return updates - _lightning_updates(trainer, frequency, first, scheduler)
    every = _endless_updates_every(trainer, scheduler, start[1])
    return end // every - first // every


def restarting_rules(
    trainer: Any, scheduler: ResolvedScheduler, counted_from: int, epoch: int
) -> tuple[int, list[str]]:
    """What a per-step schedule's count of the run from epoch ``counted_from`` takes from one endless epoch on data
    of unknown length: the rules ``(batch_idx + 1) % n == 0`` it counted by (its ``frequency``, the ``every`` of
    each optimizer the mixin steps, which split ``max_steps`` between them), in words, and the batches before
    ``epoch`` must be a multiple of for them to go on as counted (``batch_idx`` restarts with every epoch): of the
    rules and of every accumulation a ``GradientAccumulationScheduler`` sets from ``counted_from`` to ``epoch``
    included (``restart_break``); ``(1, [])`` where nothing it takes from the run depends on them (``frequency=1``
    and ``every=1`` count steps, wherever the epochs end)."""
    rules = _endless_epoch_rules(trainer, scheduler) if scheduler.run_inputs() else []
    if not rules:
        return 1, []
    schedule = accumulation_scheduler(trainer)
    changes = [e for e in schedule.epochs if counted_from < e <= epoch] if schedule is not None else []
    accumulations = {accumulation(trainer, e) for e in [counted_from, *changes]}
    return math.lcm(*accumulations, scheduler.spec.frequency, *(driven_everies(trainer) or ())), rules


def restart_break(
    trainer: Any, scheduler: ResolvedScheduler, period: int, batches: int, counted_from: int, epoch: int
) -> str | None:
    """Where the run on data of unknown length left a count of it as one endless epoch from epoch
    ``counted_from`` (``restarting_rules``, with its ``period`` up to ``epoch``), as ``epoch`` finds it when it
    starts after ``batches`` training batches, in words (``Expected ... but got ...``); ``None`` while it goes as
    counted. From ``epoch`` on it leaves it where a ``GradientAccumulationScheduler`` changes every how many steps
    the scheduler is updated (at ``frequency=2`` every other step with ``accumulate_grad_batches=1``, every step
    with 2), which a count over epochs of unknown length cannot place. Before ``epoch`` it left it where an epoch
    ended elsewhere than at a multiple of ``period``: every epoch start checks the batches so far, with the period
    of the accumulations so far and of the one starting, so each epoch ended at a multiple of its own
    accumulation's period (and the epochs before a change at one of the new accumulation's as well: stricter than
    needed where they differ, but one running count of batches stays sound)."""
    unsized = "a train dataloader without a length (an `IterableDataset` without `__len__`)"
    counted, now = (_endless_updates_every(trainer, scheduler, e) for e in (counted_from, epoch))
    if counted != now:
        return (
            f"the `GradientAccumulationScheduler` on {unsized} to keep updating the scheduler every {counted} "
            f"optimizer steps, as `accumulate_grad_batches={accumulation(trainer, counted_from)}` of epoch "
            f"{counted_from} does, but got `accumulate_grad_batches={accumulation(trainer, epoch)}` from epoch "
            f"{epoch}, which updates it every {now}"
        )
    if batches % period:
        return (
            f"the epochs of {unsized} to end at a multiple of {period} training batches but got {batches} batches "
            f"before epoch {epoch}"
        )
    return None


def _endless_epoch_rules(trainer: Any, scheduler: ResolvedScheduler) -> list[str]:
    """The rules ``(batch_idx + 1) % n == 0`` by which a per-step count of the run as one endless epoch of data of
    unknown length places ``scheduler``'s updates, in words (``restarting_rules``); none where the count is exact:
    for data with a length, a per-epoch scheduler, or ``frequency=1`` and ``every=1``, which count steps."""
    if scheduler.interval != "step" or math.isfinite(_batches_per_epoch(trainer)):
        return []
    frequency, everies = scheduler.spec.frequency, driven_everies(trainer) or ()
    rules = [f"`frequency={frequency}`"] if frequency > 1 else []
    declared = declared_of(trainer.lightning_module)
    return rules + [f"`every={every}` of `{d.attribute}`" for d, every in zip(declared, everies) if every > 1]


def restart_refusal(where: str, counted: str, fixes: str, rules: list[str], broken: str, epoch: int) -> str:
    """The refusal of a schedule whose count of the run (``counted``, declared without it by ``fixes``) followed
    ``rules`` through one endless epoch, at the start of an ``epoch`` of data of unknown length where the run left
    the count (``broken``, from ``restart_break``): from there on the run steps or updates where the count did not.
    The epochs before went as counted, so no step trained past the count yet.

    Example:
        >>> broken = "the epochs to end at a multiple of 2 training batches but got 5 batches before epoch 1"
        >>> print(restart_refusal("M.opt.scheduler", "`T_max` of `CosineAnnealingLR`", "give `T_max` explicitly",
        ...                       ["`frequency=2`"], broken, 1))
        M.opt.scheduler: Expected the epochs to end at a multiple of 2 training batches but got 5 batches before epoch 1: `T_max` of `CosineAnnealingLR` was counted as one endless epoch by `frequency=2` (`(batch_idx + 1) % n == 0`, which restarts with every epoch), so from epoch 1 on the run no longer goes as counted (a length that does not fit it; `OneCycleLR` would stop training inside torch). Give the dataset a `__len__`, set `Trainer(limit_train_batches=<batches per epoch>)`, or give `T_max` explicitly.
    """
    return (
        f"{where}: Expected {broken}: {counted} was counted as one endless epoch by {' and '.join(rules)} "
        f"(`(batch_idx + 1) % n == 0`, which restarts with every epoch), so from epoch {epoch} on the run no longer "
        "goes as counted (a length that does not fit it; `OneCycleLR` would stop training inside torch). Give the "
        f"dataset a `__len__`, set `Trainer(limit_train_batches=<batches per epoch>)`, or {fixes}."
    )


def _endless_updates_every(trainer: Any, scheduler: ResolvedScheduler, epoch: int) -> int:
    """Every how many of its optimizer's steps a per-step scheduler is updated in one endless epoch (data of
    unknown length) from ``epoch``, where the count starts. The optimizer's ``k``-th step comes after batch
    ``k * stride - 1`` (``stride``: ``epoch``'s accumulation, which the later epochs keep or are refused
    (``restart_break``), its ``lcm`` with ``every`` when the mixin writes the training step, 1 in manual
    optimization), and Lightning's rule updates there when ``(batch_idx + 1) % frequency == 0``: with
    ``accumulate_grad_batches=2, frequency=2`` at every step."""
    every, frequency = _every(trainer, scheduler), scheduler.spec.frequency
    stride = accumulation(trainer, epoch)
    if every is not None:
        stride = math.lcm(stride, every)
    elif _manual_optimizers(trainer) is not None:
        stride = 1
    return frequency // math.gcd(stride, frequency)


def why_unknown(trainer: Any, interval: str) -> str:
    """What leaves ``trainer``'s run without a known length in ``interval``s, and the Trainer argument to set.

    Unsized data (an ``IterableDataset`` without ``__len__``) gives epochs of unknown steps: only ``max_steps``
    counts the steps, and only ``max_epochs`` the epochs. A run without either limit (``max_epochs=-1``, or only
    ``max_time`` to end it) needs one.

    Example:
        >>> def run(max_epochs, max_steps, batches=8):
        ...     return TrainerStandIn(max_epochs, max_steps, batches, 1, lightning_module=None)
        >>> why_unknown(run(2, -1, batches=math.inf), "step")
        'the train dataloader has no length, so the steps of an epoch are unknown: set `max_steps`'
        >>> why_unknown(run(-1, 10, batches=math.inf), "epoch")
        'the train dataloader has no length, so the epochs `max_steps` takes are unknown: set `max_epochs`'
        >>> why_unknown(run(-1, -1), "step")
        '`max_epochs=-1` and no `max_steps`: set `max_epochs` or `max_steps`'
    """
    unsized = not math.isfinite(_batches_per_epoch(trainer))
    if unsized and interval == "step":
        return "the train dataloader has no length, so the steps of an epoch are unknown: set `max_steps`"
    if unsized and trainer.max_steps not in (None, -1):
        return "the train dataloader has no length, so the epochs `max_steps` takes are unknown: set `max_epochs`"
    # no epoch limit (per step, with sized data; per epoch, without either limit)
    limits = f"`max_epochs={trainer.max_epochs}` and no `max_steps`"
    settings = "`max_epochs`" if unsized else "`max_epochs` or `max_steps`"
    if any(isinstance(c, Timer) for c in getattr(trainer, "callbacks", None) or ()):
        return f"only `max_time` ends it ({limits}): set {settings}"
    return f"{limits}: set {settings}"


def _unknown(scheduler: ResolvedScheduler, what: str, fix: str) -> ValueError:
    return ValueError(f"{scheduler.where}: {what}, but {fix}.")


def _steps_per_epoch(trainer: Any, scheduler: ResolvedScheduler) -> int:
    """The steps per epoch a ``unit="epoch"`` schedule updated per step converts its arguments with: the first
    epoch's, refused when a ``GradientAccumulationScheduler`` makes them vary."""
    what = f"`unit='epoch'` converts `{scheduler.cls.__name__}`'s epoch-valued arguments to optimizer steps"
    value = epoch_steps(trainer, 0, scheduler)
    if not math.isfinite(value) or value < 1:
        raise _unknown(
            scheduler,
            what,
            "the number of steps per epoch is unknown (the train dataloader has no length); declare the "
            "schedule in steps or with `interval='epoch'`",
        )
    schedule, varying = accumulation_scheduler(trainer), []
    if schedule is not None and _manual_optimizers(trainer) is None:
        epochs = run_epochs(trainer)
        varying = [(e, epoch_steps(trainer, e)) for e in schedule.epochs if e < epochs]
    if len({steps for _, steps in varying}) > 1:
        shown = ", ".join(f"{int(steps)} from epoch {epoch}" for epoch, steps in varying)
        raise _unknown(
            scheduler,
            what,
            f"the `GradientAccumulationScheduler` makes the optimizer steps per epoch vary ({shown}); "
            "declare the schedule in steps or with `interval='epoch'`",
        )
    return int(value)


def _run_span(trainer: Any, scheduler: ResolvedScheduler, start: Start) -> tuple[Start, int] | None:
    """Where counting starts (``start``, or step 0 when nothing of the run is left: the fit trains nothing, so
    the whole run's) and where the run ends, in the scheduler's interval; ``None`` when the run has no known
    length."""
    if scheduler.interval == "step":  # counted as the schedule counts them (`epoch_shift`)
        total = run_steps(trainer, scheduler) - epoch_shift(trainer, scheduler, start)
    else:
        total = run_epochs(trainer)
    if not math.isfinite(total):
        return None
    first = start[0] if scheduler.interval == "step" else start[1]
    return (0, 0) if first >= total else start, int(total)


def _run_updates(trainer: Any, scheduler: ResolvedScheduler, start: Start) -> int | None:
    """The scheduler's updates from ``start`` to the end of the run; ``None`` when the run has no known length."""
    span = _run_span(trainer, scheduler, start)
    return None if span is None else updates_between(trainer, scheduler, *span)


def _run_values(trainer: Any, scheduler: ResolvedScheduler, start: Start) -> int | None:
    """The scheduler's values the run trains with from ``start``: its updates before the run's last step (or
    epoch), and the value it starts from; ``None`` when the run has no known length.

    With ``frequency=1`` these are its updates (the last comes after the last step); with ``frequency=3`` over
    10 steps, the updates after steps 3, 6 and 9 leave step 10 training with a 4th value, which a derived
    ``total_steps=3`` would put past ``OneCycleLR``'s end.
    """
    span = _run_span(trainer, scheduler, start)
    if span is None:
        return None
    start, end = span
    first = start[0] if scheduler.interval == "step" else start[1]
    return updates_between(trainer, scheduler, start, end - 1) + 1 if end > first else 0


def _measured(scheduler: ResolvedScheduler) -> list[tuple[str, str]]:
    """What of ``scheduler``'s shape counts the run's updates, each with how to declare it without."""
    spec = scheduler.spec
    measured = []
    if scheduler.derived_length is not None and (spec.end is None or not scheduler.windowed):
        measured.append((f"`{scheduler.derived_length}`", f"give `{scheduler.derived_length}` explicitly"))
    measured += [
        (f"`{key}={value!r}`", "give `begin` and `end` as ints")
        for key, value in (("begin", spec.begin), ("end", spec.end))
        if isinstance(value, float)
    ]
    if isinstance(spec.warmup, float):
        measured.append((f"`warmup={spec.warmup!r}`", "give `warmup` as an int"))
    return measured


def counted_in_steps(scheduler: ResolvedScheduler) -> list[tuple[str, str]]:
    """What of a per-step scheduler's shape counts its optimizer's steps in the run (a length left out, a warmup
    fraction, a window's float bound or open end, ``unit="epoch"``'s steps per epoch), each with how to declare
    it without; empty for a per-epoch one. In manual optimization these count one step of the optimizer per
    training batch, which a loop of the module's own must then take.

    Example:
        >>> from lightning_optim.declaring.scheduler import resolve_scheduler
        >>> from lightning_optim.declaring.specs import SchedulerSpec
        >>> def counted(**options):
        ...     return counted_in_steps(resolve_scheduler("M.opt.scheduler", SchedulerSpec("cosine", **options)))
        >>> counted(interval="step", warmup=0.1)
        [('`T_max`', 'give `T_max` explicitly'), ('`warmup=0.1`', 'give `warmup` as an int')]
        >>> counted(interval="step", T_max=100, warmup=10), counted(interval="epoch")
        ([], [])
    """
    if scheduler.interval != "step":
        return []
    epochs = [("the steps per epoch", "declare the schedule in steps")] if scheduler.converts_epochs else []
    return _measured(scheduler) + epochs


def run_shape(trainer: Any, scheduler: ResolvedScheduler, start: Start = (0, 0)) -> Shape:
    """The shape of ``scheduler`` in ``trainer``'s run, for a schedule that starts at ``start``.

    A warmup fraction and an omitted length count the scheduler's updates from ``start`` to the run's end.
    A window's int bounds count its updates (epochs with ``unit="epoch"``, converted to steps as mmengine's
    ``convert_to_iter_based`` does), float bounds are fractions of the run's updates, ``end=None`` is the
    run's end, and a length left out is the window's span (``SchedulerInfo.window_offset``).
    """
    spec, name = scheduler.spec, scheduler.cls.__name__
    if trainer is None:
        if scheduler.run_inputs():
            raise _unknown(
                scheduler,
                f"`{name}` derives values from the run",
                "there is no Trainer; call `trainer.fit(model)` (or give every length explicitly)",
            )
        return Shape(warmup=int(spec.warmup or 0), start=start)
    check_every_steps(trainer)
    per_epoch = _steps_per_epoch(trainer, scheduler) if scheduler.converts_epochs else None
    measured = _measured(scheduler)
    if measured or spec.warmup:
        _check_steps_in_run(trainer, scheduler)
    if measured:
        _check_one_limit(trainer, scheduler, measured)
    _check_updated_in_run(trainer, scheduler)
    updates = _run_values(trainer, scheduler, start) if measured else 0
    if updates is None:
        raise _unknown(
            scheduler,
            f"`{name}` is derived from the run's length in {scheduler.interval}s "
            f"({' and '.join(label for label, _ in measured)})",
            f"the Trainer's run has no known length ({why_unknown(trainer, scheduler.interval)}), or "
            + " or ".join(dict.fromkeys(fix for _, fix in measured)),
        )
    smoke = bool(getattr(trainer, "fast_dev_run", False))
    if scheduler.windowed:
        window = _window(scheduler, updates, per_epoch, smoke)
        _check_window_in_run(trainer, scheduler, window[0], start)
        shape = _window_shape(scheduler, window, updates, per_epoch, start, smoke)
        _check_acts_in_run(trainer, scheduler, shape)
        return within_limit(trainer, scheduler, shape)
    first = start[0] if scheduler.interval == "step" else start[1]
    left = f" left from {scheduler.interval} {first} (where this fit starts)" if first else ""
    if isinstance(spec.warmup, float):
        warmup = max(1, int(spec.warmup * updates))
    else:
        warmup = int(spec.warmup or 0) * (per_epoch or 1)
    if warmup and smoke:
        # Lightning's smoke run of a batch or a few: the warmup leaves the schedule one update, so it runs
        whole = _run_updates(trainer, scheduler, start)
        warmup = warmup if whole is None else min(warmup, max(whole - 1, 0))
    if not isinstance(spec.warmup, float):
        # a warmup as long as the run leaves the schedule nothing; a derived length refuses that by itself
        whole = _run_values(trainer, scheduler, start) if warmup and not scheduler.derived_length else None
        if whole is not None and warmup >= whole:
            unit = f"{scheduler.interval}s" if spec.frequency == 1 else "scheduler updates"
            counted = unit if spec.warmup == warmup else f"{spec.warmup} epochs, {warmup} {unit}"
            run = f"{whole} {unit.removesuffix('s') if whole == 1 else unit}"
            fix = _shorter_warmup(whole)
            raise ValueError(
                f"{scheduler.where}: Expected `warmup` to be shorter than the run but got "
                f"`warmup={spec.warmup!r}` ({counted}) in a run of {run}{left}: the whole run would train in warmup "
                f"and `{name}` would never act. {fix[0].upper()}{fix[1:]}."
            )
    length = None
    if scheduler.derived_length is not None and scheduler.derived_length == scheduler.info.per_epoch_argument:
        length = _updates_per_epoch(trainer, scheduler)
    elif scheduler.derived_length is not None:
        length = updates - warmup
        if smoke:
            length = max(
                length, 1
            )  # a smoke run in which the optimizer does not step: the schedule never acts
        if length < 1:
            raise _unknown(
                scheduler,
                f"`{scheduler.derived_length}` of `{name}` is derived as the run's {updates} scheduler "
                f"update{'' if updates == 1 else 's'}{left} minus "
                f"the {warmup} of `warmup={spec.warmup!r}`",
                f"that leaves {length}; {_shorter_warmup(updates)}",
            )
        length = _derived(scheduler, length, f"the run's {updates} scheduler updates{left}", per_epoch, smoke)
    shape = Shape(warmup=warmup, length=length, steps_per_epoch=per_epoch, start=start)
    _check_acts_in_run(trainer, scheduler, shape)
    return within_limit(trainer, scheduler, shape)


def _shorter_warmup(updates: int) -> str:
    """How to give a run of ``updates`` scheduler updates a ``warmup`` that leaves the scheduler some: a shorter
    one, where one fits; none, in a run of one update (a fraction of the run is at least one update).

    Example:
        >>> _shorter_warmup(12)
        'shorten the warmup (a float such as `warmup=0.1` is a fraction of the run) or lengthen the run'
        >>> _shorter_warmup(1)
        'the run is too short for a warmup (a fraction of the run is at least 1 update): leave `warmup` out or lengthen the run'
    """
    if updates > 1:
        return (
            "shorten the warmup (a float such as `warmup=0.1` is a fraction of the run) or lengthen the run"
        )
    return (
        "the run is too short for a warmup (a fraction of the run is at least 1 update): leave `warmup` out or "
        "lengthen the run"
    )


def _own_values(trainer: Any, scheduler: ResolvedScheduler, shape: Shape) -> int | None:
    """The values the run trains ``scheduler`` itself with (after the package's warmup, within its window);
    ``None`` when the run has no known length, and in Lightning's ``fast_dev_run`` smoke run, which runs a
    declaration meant for a long run as it is."""
    values = None if getattr(trainer, "fast_dev_run", False) else _run_values(trainer, scheduler, shape.start)
    if values is None:
        return None
    if shape.window is not None:
        first, last = shape.window
        values = (values if last is None else min(values, last)) - first
    return values - shape.warmup


def updates_in_words(values: int, interval: str, frequency: Any, taken: tuple[Any, int] | None = None) -> str:
    """The ``values`` updates a run leaves a scheduler of ``interval`` and ``frequency``, in words: what one update
    is, and the declared ``warmup`` that ``taken`` (as declared, its updates) says took the run's first ones.

    Example:
        >>> updates_in_words(1, "epoch", 1), updates_in_words(8, "step", 1)
        ("the run's 1 update (one per epoch)", "the run's 8 updates (one per optimizer step)")
        >>> updates_in_words(2, "step", 2, taken=(0.5, 2))
        'the 2 updates (one every 2 optimizer steps) the run leaves after the 2 of `warmup=0.5`'
    """
    unit = "optimizer step" if interval == "step" else "epoch"
    each = f"one per {unit}" if frequency == 1 else f"one every {frequency} {unit}s"
    if taken is None:
        return f"the run's {_updates(values)} ({each})"
    return f"the {_updates(values)} ({each}) the run leaves after the {taken[1]} of `warmup={taken[0]!r}`"


def _check_acts_in_run(trainer: Any, scheduler: ResolvedScheduler, shape: Shape) -> None:
    """What of a schedule the run would never reach, refused as the package's own ``warmup`` and a window
    beginning past the run are: a shape that never trains at its peak, the declared lr
    (``SchedulerInfo.peak_missed``: a transformers warmup that outlasts the run), and a scheduler of a
    ``SequentialLR`` whose milestone is at or past the run's end."""
    missed, milestones = scheduler.info.peak_missed, scheduler.kwargs.get("milestones")
    milestones = milestones if scheduler.info.composite and isinstance(milestones, (list, tuple)) else ()
    composite = bool(milestones)
    if (missed is None and not composite) or (values := _own_values(trainer, scheduler, shape)) is None:
        return
    if missed is not None:
        kwargs = dict(scheduler.kwargs)
        if scheduler.derived_length is not None:
            kwargs[scheduler.derived_length] = shape.length
        derived = scheduler.derived_length is not None
        taken = (scheduler.spec.warmup, shape.warmup) if shape.warmup else None
        run = updates_in_words(values, scheduler.interval, scheduler.spec.frequency, taken)
        if (message := missed(kwargs, values, derived, run)) is not None:
            raise ValueError(f"{scheduler.where}: {message}")
    if not composite:
        return
    for i, milestone in enumerate(milestones):
        if is_int(milestone) and milestone >= values:
            inner = scheduler.kwargs["schedulers"][i + 1]
            raise _unknown(
                scheduler,
                f"`schedulers[{i + 1}]` (`{inner.cls.__name__}`) of `{scheduler.cls.__name__}` takes over at its "
                f"milestone {milestone}",
                f"the run has only {values} {scheduler.interval} updates, so it would never act; move "
                f"`milestones[{i}]` into the run or lengthen the run",
            )


def _updates_per_epoch(trainer: Any, scheduler: ResolvedScheduler) -> int:
    """The scheduler's updates in an epoch of the run (the first's): the steps per epoch of a length given in
    epochs (``OneCycleLR``'s ``steps_per_epoch`` beside its ``epochs``), 1 for a scheduler stepped per epoch
    (``frequency > 1`` is refused at class definition).

    ``epochs * steps_per_epoch`` counts the values the run trains with only where an update follows each epoch's
    last step: ``frequency=2`` over 3 steps an epoch updates after the second step of each, and the third trains
    with the value the next epoch starts with, so 3 epochs train with 4 values, and a cycle of 3 would swing back
    up at the last step. So are updates per epoch that a ``GradientAccumulationScheduler`` changes (epoch 0's
    would make the cycle longer or shorter than the run's epochs); neither is refused in Lightning's
    ``fast_dev_run`` smoke run of a batch or a few, which runs a declaration meant for a long run as it is."""
    if scheduler.interval == "epoch":
        return 1
    steps = epoch_steps(trainer, 0, scheduler)
    if not math.isfinite(steps) or steps < 1:
        raise _unknown(
            scheduler,
            f"`{scheduler.derived_length}` of `{scheduler.cls.__name__}` is derived as the run's updates per epoch",
            "the number of steps per epoch is unknown (the train dataloader has no length); give "
            f"`{scheduler.derived_length}`, or leave `epochs` out to derive the whole length from the run",
        )
    updates = updates_between(trainer, scheduler, (0, 0), int(steps))
    if getattr(trainer, "fast_dev_run", False):
        return max(updates, 1)
    given = next(key for key in scheduler.info.length_given_by if key in scheduler.kwargs)
    per_epoch, length = scheduler.derived_length, scheduler.info.length
    described = f"beside `{given}={scheduler.kwargs[given]!r}`"
    fix = f"Leave `{given}` out to derive `{length}` from the run, or give `{length}`"
    schedule = accumulation_scheduler(trainer)
    if schedule is not None and _manual_optimizers(trainer) is None:
        changes = [e for e in sorted(schedule.epochs) if 0 < e < run_epochs(trainer)]
        counts = [(0, updates), *((e, _epoch_updates(trainer, scheduler, e)) for e in changes)]
        if len({count for _, count in counts}) > 1:
            shown = ", ".join(f"{count} from epoch {epoch}" for epoch, count in counts)
            raise ValueError(
                f"{scheduler.where}: Expected the same updates of `{scheduler.cls.__name__}` in every epoch "
                f"{described} but got {shown}: `{per_epoch}` is derived as the updates per epoch, and the "
                f"`GradientAccumulationScheduler` changes them, so no `{per_epoch}` fits. {fix}."
            )
    # every epoch ends at its last batch, which steps whatever the accumulation: as epoch 0 ends, all do
    if updates == updates_between(trainer, scheduler, (0, 0), int(steps) - 1):
        raise ValueError(
            f"{scheduler.where}: Expected an update of `{scheduler.cls.__name__}` after the last step of every "
            f"epoch {described} but got `frequency={scheduler.spec.frequency}` with {int(steps)} optimizer steps "
            f"per epoch: `{per_epoch}` is derived as the updates per epoch, which Lightning makes when "
            f"`(batch_idx + 1) % frequency == 0` ({updates} per epoch, none after its last step), so an epoch's "
            f"last step trains with the value the next epoch starts with and `{given}` x `{per_epoch}` falls "
            f"short of the values the run trains with. {fix}, or make the batches per epoch a multiple of "
            "`frequency`."
        )
    return max(updates, 1)


def _epoch_updates(trainer: Any, scheduler: ResolvedScheduler, epoch: int) -> int:
    """The updates of a per-step scheduler in ``epoch`` of the run."""
    first, end = (int(epoch_steps_total(trainer, scheduler, e)) for e in (epoch, epoch + 1))
    return updates_between(trainer, scheduler, (first, epoch), end)


def _until_swa(trainer: Any, scheduler: ResolvedScheduler, start: Start) -> int | None:
    """The scheduler's updates from ``start`` to the run's end, or to the epoch where
    ``StochasticWeightAveraging`` puts its ``SWALR`` in the scheduler's place (``swa.py``) when that comes first:
    the scheduler is not stepped after it."""
    updates, epoch = _run_updates(trainer, scheduler, start), swa_start(trainer)
    if updates is None or epoch is None:
        return updates
    end = epoch_steps_total(trainer, scheduler, epoch) if scheduler.interval == "step" else epoch
    first = start[0] if scheduler.interval == "step" else start[1]
    if not math.isfinite(end):
        return updates
    return min(updates, updates_between(trainer, scheduler, start, int(end)) if end > first else 0)


def length_limit(scheduler: ResolvedScheduler, shape: Shape) -> tuple[str, int] | None:
    """The given length of a scheduler that raises when stepped past it (``OneCycleLR``), in words, and the steps
    it allows after its construction; ``None`` for any other, and for a length derived from the run, which covers
    it by construction."""
    steps_limit, per_epoch_argument = scheduler.info.steps_limit, scheduler.info.per_epoch_argument
    derived = scheduler.derived_length
    if steps_limit is None or derived not in (None, per_epoch_argument):
        return None
    per_epoch = shape.steps_per_epoch
    kwargs = (
        scheduler.kwargs if per_epoch is None else scheduler.info.epochs_to_steps(scheduler.kwargs, per_epoch)
    )
    if derived is not None:  # `steps_per_epoch` from the run: `epochs` may still be shorter than it
        kwargs = {**kwargs, derived: shape.length}
    return steps_limit(kwargs)


def unchecked_limit(trainer: Any, scheduler: ResolvedScheduler, shape: Shape) -> int | None:
    """The steps a given length allows (``length_limit``) where ``within_limit`` cannot tell when training starts
    whether the run takes the scheduler past them; ``None`` where it can, or there is no such length.

    A run of unknown length is not counted (only ``max_epochs`` on data without a length, whose epochs' steps are
    unknown), and on data of unknown length a per-step count of ``max_steps`` takes it as one endless epoch, which
    an epoch restarting ``batch_idx`` leaves under ``frequency > 1`` or ``every > 1`` (``_exact_count``): there a
    given length is not refused on a count when training starts but checked before each step of the scheduler
    instead (``within_limit`` with ``taken``), as torch would refuse it, with this package's refusal."""
    limit = length_limit(scheduler, shape)
    if limit is None:
        return None
    return None if _exact_count(trainer, scheduler, shape) is not None else limit[1]


def _exact_count(trainer: Any, scheduler: ResolvedScheduler, shape: Shape) -> int | None:
    """The scheduler's updates the run takes from ``shape``'s start, where counted exactly when training starts;
    ``None`` for a run of unknown length, and for a count of one endless epoch that epochs restarting ``batch_idx``
    leave (``_endless_epoch_rules``): it may count too many as well as too few."""
    counted = _until_swa(trainer, scheduler, shape.start)
    return None if _endless_epoch_rules(trainer, scheduler) else counted


def within_limit(
    trainer: Any, scheduler: ResolvedScheduler, shape: Shape, changed: str = "", taken: int | None = None
) -> Shape:
    """``shape``, once a given length is checked to cover the run, for a scheduler that raises when stepped
    past it (``OneCycleLR``); a derived length covers it by construction.

    Checked again at every epoch start, where the run may have grown since training started (a reloaded train
    dataloader): ``changed`` then says how, and the refusal does not offer a length left to the run, which
    cannot follow a change either. Where the run's updates are not known in advance (``unchecked_limit``), not
    checked then, but before each step of the scheduler, against the schedule's updates ``taken`` so far."""
    limit = length_limit(scheduler, shape)
    if limit is None:
        return shape
    updates = _exact_count(trainer, scheduler, shape) if taken is None else taken
    if updates is None:
        return shape
    given, steps = limit
    derived = scheduler.derived_length
    needed = shape.scheduler_steps(updates)
    if needed > steps and taken is not None:
        counted = _until_swa(trainer, scheduler, shape.start)
        raise ValueError(_past_the_count(trainer, scheduler, given, steps, needed, counted))
    if needed > steps:
        first = shape.start[0] if scheduler.interval == "step" else shape.start[1]
        left = f" from {scheduler.interval} {first} (where this fit starts)" if first else ""
        if swa_start(trainer) is not None:
            left += f" until `StochasticWeightAveraging` displaces it at epoch {swa_start(trainer)}"
        fix = "Leave the length out to derive it from the run, or lengthen it, or shorten the run."
        steps_note = f"{steps} steps"
        if derived is not None:
            steps_note += f"; `{derived}` derived from the run's updates per epoch"
            fix = (
                f"Leave `{'`, `'.join(scheduler.info.length_given_by)}` out to derive the whole length from the run, "
                f"or raise `{scheduler.info.length_given_by[0]}`, or shorten the run."
            )
        if changed:
            fix = (
                f"The run changed at epoch {trainer.current_epoch}: {changed}, after the length was checked when "
                "training started. Give a length that covers the run as it changes (a length left to the run "
                "cannot follow a change), or shorten the run."
            )
        raise ValueError(
            f"{scheduler.where}: Expected the length of `{scheduler.cls.__name__}` to cover the {needed} steps the "
            f"run takes it{left} but got {given} ({steps_note}); torch raises when it is stepped past its "
            f"length, which would stop training at its step {steps + 1}. {fix}"
        )
    return shape


def _past_the_count(
    trainer: Any, scheduler: ResolvedScheduler, given: str, steps: int, needed: int, counted: int | None
) -> str:
    """The refusal of a given length that the run takes the scheduler past, met before the step past it where
    the run's updates were not known in advance (``unchecked_limit``): ``counted`` as one endless epoch of data
    of unknown length, or not at all (``None``).

    Example:
        >>> from lightning_optim.declaring.scheduler import resolve_scheduler
        >>> from lightning_optim.declaring.specs import SchedulerSpec
        >>> cycle = resolve_scheduler("M.opt.scheduler", SchedulerSpec("onecycle", max_lr=0.1, total_steps=5))
        >>> run = TrainerStandIn(3, -1, num_training_batches=math.inf, accumulate_grad_batches=1, lightning_module=None)
        >>> print(_past_the_count(run, cycle, "`total_steps=5`", 5, 6, None))
        M.opt.scheduler: Expected the length of `OneCycleLR` to cover the steps the run takes it but got `total_steps=5` (5 steps): the run takes it to a step 6, and torch raises when it is stepped past its length. The run's length was unknown when training started (the train dataloader has no length, so the steps of an epoch are unknown: set `max_steps`). Give a length that covers the run, or shorten the run.
    """
    if counted is None:
        why = f"The run's length was unknown when training started ({why_unknown(trainer, scheduler.interval)})."
    else:
        why = (
            f"When training started, one endless epoch of the train dataloader without a length (an `IterableDataset` "
            f"without `__len__`) counted {counted} updates, which the run does not keep to: `batch_idx` restarts with "
            "every epoch, and with it Lightning's `(batch_idx + 1) % frequency == 0`, `every` and the accumulation "
            "windows. Give the dataset a `__len__` or set `Trainer(limit_train_batches=<batches per epoch>)` to "
            "count them exactly."
        )
    return (
        f"{scheduler.where}: Expected the length of `{scheduler.cls.__name__}` to cover the steps the run takes it "
        f"but got {given} ({steps} steps): the run takes it to a step {needed}, and torch raises when it is stepped "
        f"past its length. {why} Give a length that covers the run, or shorten the run."
    )


def _window(
    scheduler: ResolvedScheduler, updates: int, per_epoch: int | None, smoke: bool
) -> tuple[int, int | None]:
    """The window ``[begin, end)`` in scheduler updates, refused when empty; not in Lightning's ``fast_dev_run``
    smoke run of a batch or a few, where fractions of a long run's window may round to no update: it is left idle
    (``schedules/schedule.py`` acts at no update of an empty window), as a window past the run is."""

    def bound(value: int | float) -> int:
        return int(value * updates) if isinstance(value, float) else int(value) * (per_epoch or 1)

    end = scheduler.spec.end
    first, last = bound(scheduler.spec.begin or 0), None if end is None else bound(end)
    if last is not None and last <= first and not smoke:
        raise _unknown(
            scheduler,
            f"the window of `{scheduler.cls.__name__}` is [{first}, {last}) in scheduler updates",
            "it is empty for this run; widen it or lengthen the run",
        )
    return first, last


def _window_shape(
    scheduler: ResolvedScheduler,
    window: tuple[int, int | None],
    updates: int,
    per_epoch: int | None,
    start: Start,
    smoke: bool,
) -> Shape:
    """The shape of a window in the run, its length derived from its span when left out. In Lightning's
    ``fast_dev_run`` smoke run an open window may begin past the run's end (``_check_window_in_run``), and one in
    fractions of the run may be empty (``_window``): it never acts, and gets a span of 1 to be built with. A
    window whose span the run does not decide (``begin``/``end`` in updates) is refused there as in any run."""
    first, last = window
    length = None
    if scheduler.derived_length is not None:
        spec = scheduler.spec
        run_decides = (
            last is None
            or per_epoch is not None
            or isinstance(spec.begin, float)
            or isinstance(spec.end, float)
        )
        smoke = smoke and run_decides
        span = (updates if last is None else last) - first
        if smoke:
            span = max(span, 1)
        source = f"its window of {span} updates"
        length = _derived(scheduler, span, source, per_epoch, smoke, scheduler.info.window_offset)
    return Shape(length=length, steps_per_epoch=per_epoch, window=window, start=start)


def _check_window_in_run(trainer: Any, scheduler: ResolvedScheduler, first: int, start: Start) -> None:
    """A window that begins where the run has ended never acts: refused, as an empty window is (not in
    Lightning's ``fast_dev_run`` smoke run of a batch or a few). Checked before a length is derived from the
    window's span, which such a window leaves negative."""
    updates = None if getattr(trainer, "fast_dev_run", False) else _run_values(trainer, scheduler, start)
    if updates is not None and first >= updates:
        raise _unknown(
            scheduler,
            f"the window of `{scheduler.cls.__name__}` begins at its update {first}",
            f"the run has only {updates} {scheduler.interval} updates, so it would never act; move `begin` into "
            "the run or lengthen the run",
        )


def _derived(
    scheduler: ResolvedScheduler,
    updates: int,
    source: str,
    per_epoch: int | None,
    smoke: bool,
    offset: int = 0,
) -> int:
    """The length argument from ``updates`` by the scheduler's record (timm's cycles, windows' offsets). The
    record reads the arguments in the unit of ``updates``: with ``unit="epoch"`` (``per_epoch`` steps an epoch)
    its epoch-valued ones in steps, as the scheduler is built (timm's prefix ``warmup_t``).

    A length below 1 is refused, except in Lightning's ``fast_dev_run`` smoke run of a batch or a few, where it is
    1, the shortest schedule there is: a long run's timm prefix ``warmup_t`` outlasts the smoke run, which trains
    in it, and ``LinearLR``'s ``total_iters`` of a window of one update (``end - begin - 1``) would be 0."""
    kwargs = scheduler.kwargs
    if per_epoch is not None:
        kwargs = scheduler.info.epochs_to_steps(kwargs, per_epoch)
    with prefixed(scheduler.where):
        length = scheduler.info.derive_length(updates, kwargs) + offset
    if smoke:
        return max(length, 1)
    if length < 1:
        raise _unknown(
            scheduler,
            f"`{scheduler.derived_length}` of `{scheduler.cls.__name__}` is derived from {source}",
            f"that gives {length}; lengthen the run or give `{scheduler.derived_length}`",
        )
    return length


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
    cap = math.inf if max_steps == -1 else max_steps
    if max_epochs == -1 or steps_per_epoch == math.inf:
        return cap
    return min(math.ceil(steps_per_epoch / accumulate_grad_batches) * max(max_epochs, 1), cap)


@dataclass(frozen=True)
class TrainerStandIn:
    """What the functions above read from a ``Trainer``, for building schedulers without one (previews)."""

    max_epochs: int
    max_steps: int
    num_training_batches: int | float
    accumulate_grad_batches: int
    lightning_module: Any
    #: each declared optimizer's ``every`` as read from the module (``driven_everies``); ``None``: as declared
    declared_everies: tuple[int, ...] | None = None

    @property
    def estimated_stepping_batches(self) -> int | float:
        return optimizer_steps(
            self.max_epochs, self.num_training_batches, self.accumulate_grad_batches, self.max_steps
        )
