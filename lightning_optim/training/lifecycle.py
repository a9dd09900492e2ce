"""Every declared schedule gets its shape when training starts, and keeps it.

``configure_optimizers`` runs before the run is known: ``BatchSizeFinder`` and ``LearningRateFinder`` run in
``on_fit_start`` after it, a checkpoint is restored after that. So each ``Schedule`` leaves
``configure_optimizers`` without a shape, and ``ScheduleLifecycle``, first among the callbacks, fixes it in
``on_train_start`` (the train data is set up, the loops restored), from the run as it is then: every length,
warmup and window is derived once, from the final run, and a schedule starts from the lrs its groups have
then (a finder's suggestion included). Deriving there also leaves the train data alone before a restore, so
a run resumed mid-epoch gets its dataloader state back.

A schedule restored from a checkpoint comes with the shape it was saved with. If the run derives another one
(the run is longer, the batch size changed), ``resume_changed_setup`` decides: ``"error"`` refuses,
``"fresh"`` starts the optimizer and its schedules anew where the run stands, ``"continue"`` evaluates the
new schedule at the resumed step. A checkpoint written in a run of the same Trainer settings and data
(``Positions.same_run``) keeps its shapes under every choice: a derived shape can then only differ by where
the run was interrupted (a fit stopped mid-epoch counts the epoch as done, and the resumed run is shorter than
planned), and a hand-written module's scheduler keeps its arguments there too. A schedule marked to
continue (a changed setup resumed with ``"continue"``) is built for the whole run and advanced to where its optimizer stands (its applied steps
by the checkpoint's record, ``positions.Positions``), so it goes on as if it had been declared so from the
start, without a second warmup (the schedules of one optimizer are built first, then their updates so far are
taken together in the run's order, ``step_rule.in_run_order``, as each acts on the values the others left); one
declared in epochs after a change of the steps per epoch, to where this
fit's steps per epoch stand (``length.epoch_shift``), so each later epoch starts at its value.

A schedule restored from a checkpoint written without the mixin holds the hand-written module's torch
scheduler state (``foreign.py``): it is built for the whole run and takes that state over when it is the
declared scheduler's; otherwise ``resume_changed_setup`` decides as for a changed shape.

Under several processes each derives the shapes from its own run, and per-rank data of different lengths
(``use_distributed_sampler=False``) gives each its own batches per epoch, so its own length: the replicas would
train with different lrs and drift apart without a word (a hand-written module's do, as a plateau stepped on a
per-rank metric does, ``plateau.py``). So when training starts, before any refusal a process could reach alone,
the processes gather every run-derived shape with their batches per epoch (one ``all_gather``; none on one
process or where no shape is taken from the run, and none at the steps) and all refuse shapes that differ.

A schedule that ``StochasticWeightAveraging`` displaced (a run resumed during SWA, ``building/swa.py``) got
no state from the checkpoint and takes no more steps: it is neither built nor checked against the run, so the
groups keep the checkpoint's lrs, which ``SWALR`` anneals from.

At every later epoch start the run-derived shapes are derived again and compared with those the run gave
when training started: a change there (a train dataloader reloaded with another length) cannot be followed,
since the schedule took steps of the old length, and stops training with an error naming what changed. A shape
that differs while none of the run's facts did comes from the optimizer's steps so far (Lightning's
``global_step``), which are not those the length counted: the error says so, and does not blame the run. A
length given to a scheduler that raises when stepped past it (``OneCycleLR``) is checked there again against the
run as it then stands (``length.within_limit``), as when training started: a reload may have made the run longer,
and torch would stop training mid-epoch with its own error. Where the run's updates are not known in advance (data of
unknown length, ``length.unchecked_limit``), such a length is checked before each step of the scheduler instead
(``Schedule.before_step``), and the step past it refused there. The run's last epoch has no epoch start after it: when
it ended before its last batch (its data ran out, an ``on_train_batch_start`` returned -1), the shapes are derived
again when training ends, and one the run fell short of is refused as at an epoch start. A run stopped on purpose
(``trainer.should_stop``: ``EarlyStopping``, ``max_time``) is not, as Lightning would not have started another
epoch either; nor one ended by ``max_steps``, which every length derived from the run counts.

A tuner's trial run steps the schedules before training starts, with its own callbacks in place of the
Trainer's: a schedule stepped then only counts the step (``derive`` says the run is not known), and the
tuner restores the state from before its trials.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from functools import partial
from itertools import groupby, repeat
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from typing_extensions import override

from lightning_optim.building.build import Built, reset_groups
from lightning_optim.building.length import (
    BATCHES,
    SHIFTS_ATTRIBUTE,
    Start,
    counted_steps,
    driven_everies,
    epoch_shift,
    epoch_steps_total,
    loop_position,
    loop_shift,
    manual_optimization,
    restart_break,
    restart_refusal,
    restarting_rules,
    run_facts,
    run_shape,
    unchecked_limit,
    updates_between,
    within_limit,
)
from lightning_optim.building.placed import check_placed
from lightning_optim.building.swa import displaced
from lightning_optim.declaring.hparam import without_hparams
from lightning_optim.declaring.optimizer import declared_of
from lightning_optim.declaring.scheduler import ResolvedScheduler
from lightning_optim.schedules.schedule import Schedule
from lightning_optim.schedules.shape import NUMBERS, Shape
from lightning_optim.training import callbacks
from lightning_optim.training.callbacks import MixinCallback
from lightning_optim.training.fingerprint import GIVEN_LENGTH, refusal
from lightning_optim.training.foreign import SET_ASIDE, adopt
from lightning_optim.training.foreign import refusal as foreign_refusal
from lightning_optim.training.positions import Positions
from lightning_optim.training.resume import ResumeChoice
from lightning_optim.training.stepping import EPOCHS
from lightning_optim.training.takeover import CONTINUES, restart, restart_added
from lightning_optim.utilities import compat
from lightning_optim.utilities.processes import gathered, on_ranks
from lightning_optim.utilities.step_rule import in_run_order


def _built_with(scheduler: ResolvedScheduler, shape: Shape) -> str:
    """The numbers a schedule took from the run, in words."""
    parts = []
    if scheduler.derived_length is not None:
        parts.append(f"`{scheduler.derived_length}={shape.length}`")
    if isinstance(scheduler.spec.warmup, float):
        parts.append(f"a warmup of {shape.warmup} updates")
    if shape.steps_per_epoch is not None:
        parts.append(f"{shape.steps_per_epoch} steps per epoch")
    if shape.window is not None:
        parts.append(f"the window {list(shape.window)}")
    return " and ".join(parts) or "its run shape"


#: A continued schedule's updates so far: its interval and ``(point, schedule)`` for each (``_updates_so_far``)
Updates = tuple[str, Iterator[tuple[float, Schedule]]]


def _fix(
    trainer: Trainer, schedule: Schedule, scheduler: ResolvedScheduler, steps: int | None
) -> list[Updates]:
    """Fix ``schedule``'s shape from the run where it stands; one marked to continue is built for the whole
    run, and its updates until where the run stands are returned, for ``_catch_up``: until its optimizer's
    applied ``steps`` (``Positions``) when the checkpoint recorded them."""
    position = loop_position(trainer, scheduler)  # its optimizer's steps
    continues = getattr(schedule, CONTINUES, False)
    schedule.fix(run_shape(trainer, scheduler, (0, 0) if continues else position))
    if not continues:
        return []
    setattr(schedule, CONTINUES, False)
    if steps is not None:
        position = (steps, position[1])
    return [(scheduler.interval, _updates_so_far(trainer, schedule, scheduler, position))]


def _catch_up(updates: Sequence[Updates]) -> None:
    """Take the updates of one optimizer's continued schedules (all built), interleaved in the order the run takes
    them (``in_run_order``): each acts on the values the others left, so all of one schedule's updates, then all
    of the next one's, would end elsewhere (an exponential's factors before a cosine's ``eta_min`` pull instead
    of between them)."""
    taken = (schedule for _, at_point in in_run_order(updates) for schedule in at_point)
    for schedule, run in groupby(taken):  # one schedule's updates in a row taken at once
        schedule.advance(sum(1 for _ in run))


def _updates_so_far(
    trainer: Trainer, schedule: Schedule, scheduler: ResolvedScheduler, position: Start
) -> Iterator[tuple[float, Schedule]]:
    """``(point, schedule)`` for each update of a schedule built for the whole run until ``position``, the point
    being its optimizer's steps when it takes it; an epoch ends at this fit's steps per epoch."""
    if scheduler.interval == "epoch":
        frequency = scheduler.spec.frequency
        for epoch in range(frequency - 1, position[1], frequency):  # the epochs it steps after
            yield epoch_steps_total(trainer, scheduler, epoch + 1), schedule
        return
    # a schedule in epochs counts at this fit's steps per epoch
    done = max(0, position[0] - epoch_shift(trainer, scheduler, (0, 0)))
    if scheduler.spec.frequency == 1:  # after every step
        yield from zip(range(1, done + 1), repeat(schedule))
        return
    updates = partial(updates_between, trainer, scheduler, (0, 0))
    point = 0
    for update in range(1, updates(done) + 1):
        point = bisect_left(range(done + 1), update, lo=point, key=updates)  # the step that makes it due
        yield point, schedule


class ScheduleLifecycle(MixinCallback):
    """Fixes the shape of every declared schedule when training starts; checks it at every epoch start, and when
    training ends after a last epoch that ended before its last batch."""

    def __init__(
        self, owner: str, trainer: Trainer, built: Sequence[Built], choice: ResumeChoice, positions: Positions
    ) -> None:
        super().__init__()
        self.owner = owner
        self.built = built
        self.choice = choice
        self.positions = positions
        self.facts: dict[str, Any] = {}
        #: the shape the run gave each schedule (by ``id``) when training started, which later epochs must give
        self.derived: dict[int, Shape | None] = {}
        #: the last epoch that ended before its last batch: ``(epoch, batches trained, batches per epoch)``
        self.cut_short: tuple[int, int, int] | None = None
        #: whether the epoch that ended last ended before its last batch: no epoch start checks the run's last one
        self.ended_short = False
        for b in built:
            for schedule, scheduler in b.scheduled():
                schedule.derive = partial(self._derive, trainer, scheduler)

    def _derive(self, trainer: Trainer, scheduler: ResolvedScheduler) -> Shape | None:
        if not callbacks.installed(trainer, self):
            return None  # a tuner's trial run: the run is not known yet
        return run_shape(trainer, scheduler, loop_position(trainer, scheduler))

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._keep_shifts(trainer, pl_module)
        refused, foreign, derived = [], [], {}
        # the same Trainer settings and data as the checkpoint's run: a shape derived now can only differ from the
        # saved one by where the run was interrupted (a fit stopped mid-epoch counts the epoch as done), and the
        # schedule keeps the shape it was saved with, as a hand-written module's scheduler keeps its arguments
        same_run = self.positions.same_run(trainer)
        for index, b in enumerate(self.built):
            steps = self.positions.resumed_steps(trainer, index)
            changed, continued = False, []
            for schedule, scheduler in b.scheduled():
                # its length was given in the checkpoint and is left to the run now: the run must derive it
                given = schedule.__dict__.pop(GIVEN_LENGTH, False)
                if displaced(trainer, schedule):
                    continue  # resumed during SWA: `SWALR` acts on the groups, this schedule never again
                saved = schedule.__dict__.pop(SET_ASIDE, None)  # a hand-written module's scheduler state
                if saved is not None:
                    reasons = adopt(trainer, schedule, scheduler, saved)
                    foreign += reasons
                    changed = changed or bool(reasons)
                    continue
                if schedule.shape is None or getattr(schedule, CONTINUES, False):
                    continued += _fix(trainer, schedule, scheduler, steps)
                    continue
                now = derived[id(schedule)] = run_shape(trainer, scheduler, schedule.shape.start)
                changes = (
                    [] if same_run and not given else schedule.shape.changes(now, scheduler.derived_length)
                )
                changed = changed or bool(changes)
                label = "derived now, given in the checkpoint" if given else "derived"
                refused += [
                    f"{scheduler.where}.{what} ({label if what == scheduler.derived_length else 'derived'}): "
                    f"{old!r} in the checkpoint, {new!r} now"
                    for what, old, new in changes
                ]
            _catch_up(continued)
            if not changed or self.choice == "error":
                continue
            # every schedule of the optimizer starts again from its declared options (they act on the same groups)
            reset_groups(b)
            if self.choice == "fresh":
                b.optimizer.state.clear()
                restart_added(b)  # a group added after the build starts again as it was added
            continued = []
            for schedule, scheduler in b.scheduled():
                restart(schedule, continues=self.choice == "continue")
                continued += _fix(trainer, schedule, scheduler, steps)
                derived.pop(id(schedule), None)
            _catch_up(continued)
        # before any refusal a process could reach alone: the others would wait in the gather
        _check_same_on_every_process(
            trainer,
            [
                (scheduler, derived.get(id(schedule), schedule.shape))
                for b in self.built
                for schedule, scheduler in b.scheduled()
                if scheduler.run_inputs()
            ],
        )
        if foreign and self.choice == "error":
            raise foreign_refusal(self.owner, foreign)
        if refused and self.choice == "error":
            raise refusal(self.owner, refused + self._run_changes(trainer))
        for b in self.built:
            check_placed(trainer, b)  # windows whose overlap the run decides, now placed
        for b in self.built:
            for schedule in b.schedules:
                # new or restarted: its epochs start at this one (after the loops' reset), which a mid-epoch
                # resume enters without an epoch start (manual optimization steps a per-epoch schedule at the
                # end of each epoch it started)
                if getattr(schedule, EPOCHS, 0) is None:
                    setattr(schedule, EPOCHS, trainer.current_epoch)
        self.facts = run_facts(trainer)
        self.derived = {id(s): derived.get(id(s), s.shape) for b in self.built for s, _ in b.scheduled()}
        for b in self.built:
            for schedule, scheduler in b.scheduled():
                steps = (
                    None if schedule.shape is None else unchecked_limit(trainer, scheduler, schedule.shape)
                )
                if steps is not None:
                    schedule.before_step = partial(_check_before_step, trainer, scheduler, schedule, steps)

    def _keep_shifts(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Keep the shift of each schedule declared in epochs where this fit starts (``length.epoch_shift``), for
        every shape derived in it: the loops' steps less those of the epochs done at this fit's steps per epoch
        after a checkpoint of others; 0 after one of these, whose epoch ended by ``max_steps`` would otherwise
        count as a change of them (Lightning resumes it in the next epoch)."""
        vars(pl_module).pop(SHIFTS_ATTRIBUTE, None)  # the loops as they stand now
        same_rate = self.positions.same_rate(trainer)
        shifts = {
            scheduler.where: 0 if same_rate else loop_shift(trainer, scheduler)
            for b in self.built
            for _, scheduler in b.scheduled()
            if scheduler.converts_epochs
        }
        setattr(pl_module, SHIFTS_ATTRIBUTE, shifts)

    def _run_changes(self, trainer: Trainer) -> list[str]:
        """The facts of the run a derived shape comes from (batches per epoch, ``max_epochs``, ...) that differ from
        the checkpoint's record of its run: what changed the derived shapes."""
        saved = self.positions.run or {}
        return [
            f"the run's {key}: {saved[key]!r} in the checkpoint, {new!r} now"
            for key, new in run_facts(trainer).items()
            if key in saved and saved[key] != new
        ]

    def _changes(self, trainer: Trainer) -> list[str]:
        """The facts of the run that differ from those when training started, each with what changed it."""
        facts, reload = run_facts(trainer), getattr(trainer, "reload_dataloaders_every_n_epochs", 0)
        return [
            f"{key} {before!r} -> {facts[key]!r}"
            + (
                f" (`reload_dataloaders_every_n_epochs={reload}` reloaded the train dataloader)"
                if key == BATCHES and reload
                else ""
            )
            for key, before in self.facts.items()
            if facts[key] != before
        ]

    @override
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        for b in self.built:
            for schedule, scheduler in b.scheduled():
                if schedule.shape is not None and not scheduler.run_inputs():
                    # a given length the run may have outgrown since it was checked (a reloaded train dataloader)
                    within_limit(trainer, scheduler, schedule.shape, "; ".join(self._changes(trainer)))
        self._check_restarts(trainer)
        self._check_derived(trainer)

    def _check_restarts(self, trainer: Trainer) -> None:
        """On data of unknown length a per-step count of the run follows its rules through one endless epoch
        (``length.restarting_rules``), which every epoch that ends at a multiple of their batches and updates at the
        rate the count started with keeps; refuse, at the start of the first epoch after one that did not, or of the
        first with another rate (a ``GradientAccumulationScheduler``'s), the schedules that counted so
        (``length.restart_break``)."""
        before = compat.batches_trained(trainer) - compat.batches_into_epoch(trainer)
        epoch = trainer.current_epoch
        for b in self.built:
            for schedule, scheduler in b.scheduled():
                if schedule.shape is None:
                    continue
                counted_from = schedule.shape.start[1]
                period, rules = restarting_rules(trainer, scheduler, counted_from, epoch)
                broken = (
                    restart_break(trainer, scheduler, period, before, counted_from, epoch) if rules else None
                )
                if broken is None:
                    continue
                inputs = scheduler.run_inputs()
                counted = f"{' and '.join(label for label, _ in inputs)} of `{scheduler.cls.__name__}`"
                fixes = " and ".join(fix for _, fix in inputs)
                raise ValueError(restart_refusal(scheduler.where, counted, fixes, rules, broken, epoch))

    def _check_derived(self, trainer: Trainer, ended: bool = False) -> None:
        """Derive the run-derived shapes again where the run stands (an epoch start, or its end when it ``ended``)
        and refuse one that differs from those the run gave when training started."""
        for b in self.built:
            for schedule, scheduler in b.scheduled():
                shape = schedule.shape
                if (
                    shape is None
                    or not scheduler.run_inputs()
                    or run_shape(trainer, scheduler, shape.start) == self.derived.get(id(schedule), shape)
                ):
                    continue
                changes = self._changes(trainer)
                fixes = " and ".join(fix for _, fix in scheduler.run_inputs())
                built = f"`{scheduler.cls.__name__}` was built with {_built_with(scheduler, shape)}"
                if not changes:
                    raise ValueError(
                        f"{scheduler.where}: {built}, {_not_as_counted(trainer, scheduler, self.cut_short, ended)} "
                        f"Fix: {fixes}."
                    )
                raise ValueError(
                    f"{scheduler.where}: {built}, derived from the run when training started, but the run changed at "
                    f"epoch {trainer.current_epoch}: {'; '.join(changes)}. The schedule has already taken steps of "
                    "the old length, so it cannot follow: a length derived from the run needs a run whose length is "
                    f"known when training starts. Fix: {fixes}."
                )

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        batches, trained = trainer.num_training_batches, compat.batches_started(trainer)
        self.ended_short = False
        if isinstance(batches, int) and trained < batches:
            self.cut_short, self.ended_short = (trainer.current_epoch, trained, batches), True

    @override
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # the run's last epoch ended before its last batch, and no epoch start follows to check it; not when the
        # run was stopped on purpose (`EarlyStopping`, `max_time`: `trainer.should_stop`), where Lightning would not
        # have started another epoch either, nor by `max_steps`, which every length derived from the run counts
        if self.ended_short and not trainer.should_stop and not max_steps_reached(trainer):
            self._check_derived(trainer, ended=True)


def _check_same_on_every_process(
    trainer: Trainer, shapes: Sequence[tuple[ResolvedScheduler, Shape | None]]
) -> None:
    """Under several processes, refuse on every one alike a shape taken from the run (``shapes``: each schedule's
    that takes one) that differs between them: each process derives it from its own run, and one whose data has
    another length would train with its own lr. One gather of them all, with each process's batches per epoch,
    when training starts; none on one process, or where no shape is taken from the run."""
    derived = [(scheduler, shape) for scheduler, shape in shapes if shape is not None]
    if trainer.world_size < 2 or not derived:
        return
    numbers = [number for _, shape in derived for number in shape.numbers()]
    everyone = gathered(trainer, [float(trainer.num_training_batches), *numbers])
    batches = [row[0] for row in everyone]
    for index, (scheduler, _) in enumerate(derived):
        first = 1 + index * NUMBERS
        message = shapes_disagreement(
            scheduler, [Shape.from_numbers(row[first : first + NUMBERS]) for row in everyone], batches
        )
        if message is not None:
            raise ValueError(message)


def shapes_disagreement(
    scheduler: ResolvedScheduler, shapes: Sequence[Shape], batches: Sequence[float]
) -> str | None:
    """The refusal of the shapes each process (by rank) took from its run, with its training ``batches`` per epoch,
    where the shapes differ.

    Example:
        >>> from lightning_optim.declaring.scheduler import resolve_scheduler
        >>> from lightning_optim.declaring.specs import SchedulerSpec
        >>> spec = SchedulerSpec("cosine", T_max=2, unit="epoch", interval="step")
        >>> cosine = resolve_scheduler("M.optimizer.scheduler", spec)
        >>> print(shapes_disagreement(cosine, [Shape(length=16, steps_per_epoch=8)] * 2, [8, 8]))
        None
        >>> print(shapes_disagreement(cosine, [Shape(steps_per_epoch=8), Shape(steps_per_epoch=6)], [8, 6]))
        M.optimizer.scheduler: Expected the shape `CosineAnnealingLR` takes from the run to be the same on all 2 processes but got steps per epoch: 8 on rank 0, 6 on rank 1; `T_max`: 16 on rank 0, 12 on rank 1 (from `T_max=2` in epochs). Each process derives it from its own run, and theirs have different numbers of training batches per epoch (8 on rank 0, 6 on rank 1), as per-rank data of different lengths under `use_distributed_sampler=False` gives: each process would train with its own lr, and the replicas would drift apart. Fix: give every process the same number of batches per epoch (`limit_train_batches`), or declare the schedule in steps.
    """
    labelled = [shape.labelled(scheduler.derived_length) for shape in shapes]
    differ = [
        f"{label}: {on_ranks(list(enumerate(numbers[label] for numbers in labelled)))}"
        for label, value in labelled[0].items()
        if any(numbers[label] != value for numbers in labelled)
    ]
    if not differ:
        return None
    differ += _epochs_in_steps(scheduler, [shape.steps_per_epoch for shape in shapes])
    cause = "Each process derives it from its own run"
    if len(set(batches)) > 1:
        cause += (
            f", and theirs have different numbers of training batches per epoch "
            f"({on_ranks(list(enumerate(batches)))}), as per-rank data of different lengths under "
            "`use_distributed_sampler=False` gives"
        )
    fixes = " and ".join(fix for _, fix in scheduler.run_inputs())
    return (
        f"{scheduler.where}: Expected the shape `{scheduler.cls.__name__}` takes from the run to be the same on all "
        f"{len(shapes)} processes but got {'; '.join(differ)}. {cause}: each process would train with its own lr, "
        "and the replicas would drift apart. Fix: give every process the same number of batches per epoch "
        f"(`limit_train_batches`), or {fixes}."
    )


def _epochs_in_steps(scheduler: ResolvedScheduler, per_epoch: Sequence[int | None]) -> list[str]:
    """Each epoch-valued argument given, as each process converts it with its steps ``per_epoch``, where they
    differ."""
    counts = [count for count in per_epoch if count is not None]
    if len(counts) < len(per_epoch) or len(set(counts)) < 2:
        return []
    epochs = scheduler.info.epoch_arguments
    given = {key: value for key, value in without_hparams(scheduler.spec.kwargs).items() if key in epochs}
    converted = [scheduler.info.epochs_to_steps(given, count) for count in counts]
    return [
        f"`{key}`: {on_ranks(list(enumerate(steps[key] for steps in converted)))} (from `{key}={value!r}` in epochs)"
        for key, value in given.items()
    ]


def _check_before_step(
    trainer: Trainer, scheduler: ResolvedScheduler, schedule: Schedule, steps: int, taken: int
) -> None:
    """Refuse the step of ``schedule``'s torch scheduler, after ``taken`` updates of the schedule, that would pass
    the ``steps`` its given length allows, where the run's updates were not known in advance
    (``length.unchecked_limit``): this package's refusal, before torch's own error mid-run."""
    if schedule.shape is not None and schedule.shape.scheduler_steps(taken) > steps:
        within_limit(trainer, scheduler, schedule.shape, taken=taken)


def max_steps_reached(trainer: Trainer) -> bool:
    """Whether ``max_steps`` ended the run: Lightning's own test, every optimizer's steps together."""
    return trainer.max_steps not in (None, -1) and trainer.global_step >= trainer.max_steps


def _not_as_counted(
    trainer: Trainer,
    scheduler: ResolvedScheduler,
    cut_short: tuple[int, int, int] | None,
    ended: bool = False,
) -> str:
    """Why a shape derived again at an epoch start (or when the run ``ended``) differs when none of the run's facts
    changed: the optimizer's steps so far are not those the derived length counted, as after an epoch that ended
    before its last batch (``cut_short``)."""
    steps, counted = loop_position(trainer, scheduler)[0], counted_steps(trainer, scheduler)
    manual = manual_optimization(trainer.lightning_module) and driven_everies(trainer) is None
    several = manual and len(declared_of(trainer.lightning_module)) > 1
    source = "the training batches done" if several else "Lightning's `global_step`"
    if counted is None or counted == steps:
        stands = (
            "the run as it ended gives it another shape"
            if ended
            else f"at epoch {trainer.current_epoch} the run gives it another shape"
        )
    else:
        position = f"step {steps} by {source} where that length counted {counted}"
        stands = (
            f"the run ended with its optimizer at {position}"
            if ended
            else f"at epoch {trainer.current_epoch} its optimizer stands at {position}"
        )
    if cut_short is not None:
        epoch, trained, batches = cut_short
        rule = (
            f"epoch {epoch} ended after {trained} of its {batches} training batches (an `on_train_batch_start` "
            "hook returned -1, or the train dataloader ran out), where a length derived from the run counts every "
            "batch of every epoch"
        )
    elif manual:
        rule = (
            "in manual optimization a length derived from the run counts one step of each optimizer per training "
            "batch, a step a `GradScaler` or `skip_nonfinite` skipped included"
        )
    else:
        rule = (
            "a length derived from the run counts the optimizer's steps as the Trainer's settings give them"
        )
    outcome = (
        "The run ended after fewer steps than the schedule was derived from, so it stopped short of its end."
        if ended
        else "The schedule has already taken steps of the counted length, so it cannot follow."
    )
    return (
        f"derived from the run when training started, but {stands}, though nothing in the run changed "
        f"({', '.join(run_facts(trainer))} as when training started): {rule}. {outcome}"
    )


def install(
    owner: str, trainer: Trainer, built: Sequence[Built], choice: ResumeChoice, positions: Positions
) -> None:
    """Make a fresh ``ScheduleLifecycle`` for ``built`` the first of the mixin's callbacks (``callbacks.py``)."""
    callbacks.add(trainer, ScheduleLifecycle(owner, trainer, built, choice, positions))
