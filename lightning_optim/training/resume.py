"""Safe resume: a checkpoint remembers the declarations that produced it, and a changed setup is refused.

Lightning restores optimizer and scheduler states by position: after a changed declaration, the state of
one optimizer lands in another, a scheduler keeps its old ``T_max`` or milestones (torch restores every
attribute), an Adam state is loaded into SGD's groups. Instead the mixin writes a *fingerprint* of the
declarations into every checkpoint (``checkpoint["lightning_optim"]``) and compares it when ``fit`` starts,
before Lightning restores any optimizer or scheduler state.

What the fingerprint holds and how a changed setup is told is ``fingerprint.py``, and what a checkpoint
written without the mixin tells of its setup ``hand_written.py``; what ``"fresh"`` and ``"continue"``
(``resume_changed_setup``) keep of its states, ``takeover.py``; where each optimizer stands, ``positions.py``.

Both checks run from places a user cannot switch off by overriding a hook without ``super()``: the
checkpoint is already loaded when ``configure_optimizers`` runs (Lightning restores the module first), and a
callback the mixin inserts writes the fingerprint (``on_save_checkpoint``) and checks again for strategies
that load the checkpoint only after ``configure_optimizers`` (``on_load_checkpoint``). A strategy that also loads
the optimizer states itself has done so by then: the guard puts a rewrite into the optimizers itself
(``strategy_loaded.py``).

Lightning steps a ``ReduceLROnPlateau`` of ``interval="epoch"`` after the epoch-end checkpoint is written and
does not replay that step on resume (the metric is not in the checkpoint). The callback therefore also saves
the monitored value of each plateau scheduler, and the resumed run takes the missing step with it at the
start of its first epoch, so a resumed plateau schedule continues exactly. A per-step plateau is stepped
after the batch-end and validation checkpoints, likewise: its update is taken at the resumed run's first
batch (in manual optimization, where the mixin steps it at the same point, the updates it owed, ``OWED``).
Whether Lightning owed it is told by the checkpoint's loop progress (written at a batch's end, before the loop
left the batch: ``compat.batch_left_unfinished``; inside an epoch, before its end was completed:
``compat.epoch_left_unfinished``) and the scheduler's frequency, not by the updates the scheduler has taken,
which miss those skipped with ``strict=False`` while the metric was not logged.
The saved value is what the update reads only where the resumed run has not logged the metric again: a
mid-epoch checkpoint's epoch goes on in the resumed run, whose later batches, validation and end hooks log it
as the uninterrupted run's did, and ``callback_metrics`` holds their value at the next epoch's start; a manual
per-step plateau watching a metric logged on some batches only reads the saved value until it is logged again.
A checkpoint of an epoch's last batch is resumed into the next epoch without the ended one's end hooks, so the
update that needs no metric (a warmup's) is taken when training starts, and the one reading the metric is not
(the value it would read is logged after the checkpoint); Lightning restarts in that next epoch and skips its
plateau update too, which is taken as a mid-epoch checkpoint's epoch's is.

Lightning calls no ``on_train_epoch_start`` for the epoch a fit resumes in from a checkpoint written inside it (or
at the last batch of the one before), where a ``GradientAccumulationScheduler`` sets its factor: that epoch would
train at the Trainer's own factor. The first batch of a resumed fit checks the factor in force against the
callback's for the epoch, and a fit at another one is refused (``_accumulation_not_set``); a callback's
``on_train_start`` that sets the factor comes before that batch.

A tuner callback (``LearningRateFinder``, ``BatchSizeFinder``) restores its own checkpoint in ``on_fit_start``, after
the mixin checked the one being resumed and before Lightning restores its training state, which that ends: the loops'
batch progress when training starts is then not the checkpoint's, and the fit is refused (``_not_restored``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal, cast

from lightning.pytorch import LightningModule, Trainer
from typing_extensions import override

from lightning_optim.building.build import Built
from lightning_optim.building.hparam_values import value_used
from lightning_optim.building.length import accumulation_scheduler, manual_optimization, run_facts
from lightning_optim.registry.deque_state import rebound
from lightning_optim.schedules.schedule import Schedule, in_window
from lightning_optim.training import callbacks
from lightning_optim.training.callbacks import MixinCallback
from lightning_optim.training.fingerprint import (
    CHECKPOINT_KEY,
    FINGERPRINT_VERSION,
    POSITIONS_KEY,
    ChangedHParam,
    alike_values,
    differences,
    fingerprint,
    holds_no_state,
    lengths_as_declared,
    optimizer_attributes,
    record_renamed,
    refusal,
    rename_hints,
    renames,
    weights_only_refusal,
)
from lightning_optim.training.foreign import set_aside
from lightning_optim.training.hand_written import (
    hand_written_differences,
    in_declared_order,
    setup_structure,
    untold_orders,
)
from lightning_optim.training.positions import RUN_KEY, Positions
from lightning_optim.training.stepping import EPOCHS, OWED, ManualSchedulerStepping, Scheduled
from lightning_optim.training.strategy_loaded import (
    built_options,
    holds_optimizer_states,
    in_saved_order,
    keyed_by_position,
    keyed_by_position_refusal,
    leave_names_out_while,
    loads_optimizers_itself,
    misplaced_parameters,
    not_rewritable,
    refuse_while,
    reset,
    rewritable,
    saved_groups_only_while,
    saved_param_groups,
)
from lightning_optim.training.takeover import (
    added_not_back,
    kept_by_position,
    kept_state,
    register_added_groups_hook,
    restart,
    written_groups,
)
from lightning_optim.utilities import compat
from lightning_optim.utilities.step_rule import steps_at

METRICS_KEY = "lightning_optim_plateau_metrics"
STEP_METRICS_KEY = "lightning_optim_step_plateau_metrics"
#: The epoch cut short (``max_steps``, ``trainer.should_stop``) at whose end the checkpoint was written: it owed
#: no per-epoch plateau update unless the resumed run goes on with it
CUT_KEY = "lightning_optim_cut_epoch"

#: What ``ConfigurableOptimizersMixin.resume_changed_setup`` accepts.
RESUME_CHOICES = ("error", "fresh", "continue")
ResumeChoice = Literal["error", "fresh", "continue"]


def check_resume(
    owner: str,
    checkpoint: dict[str, Any],
    built: Sequence[Built],
    choice: ResumeChoice,
    *,
    manual: bool,
    built_options: Sequence[Sequence[Mapping[str, Any]]] | None = None,
    module: LightningModule | None = None,
) -> bool:
    """Refuse, or with ``"fresh"``/``"continue"`` rewrite, the restore of a checkpoint from another setup; whether
    it was rewritten.

    Rewritten, the checkpoint's optimizer and scheduler states are those Lightning then restores: fresh
    ones (``"continue"``: with the kept per-parameter states, and every schedule marked to continue), and
    its global step counted in this fit's optimization mode (``manual``). A checkpoint saved outside ``fit`` before
    it began (``fingerprint.holds_no_state``, ``compat.fit_progressed``) is left as it is: a new run from its weights.
    Where the strategy already loaded the checkpoint's states into the optimizers, they are first put back to their
    states as built, with ``built_options``, each group's options as built (``strategy_loaded.py``). The refusal
    names each ``HParam`` whose value in ``module`` is not the checkpoint's (``_changed_hparams``).
    """
    if not checkpoint:
        return False
    saved = checkpoint.get(CHECKPOINT_KEY)
    states = checkpoint.get("optimizer_states", [])
    for state, b in zip([*states, *[None] * len(built)], built):
        register_added_groups_hook(
            b, state, continues=choice == "continue", written=written_groups(saved, states, b)
        )
    by_position = False  # the groups correspond by position (a checkpoint without a fingerprint)
    renamed: dict[str, str] = {}
    if holds_no_state(checkpoint):
        if "optimizer_states" in checkpoint and not compat.fit_progressed(checkpoint):
            return False  # saved outside `fit` before it began: a new run from its weights
        if choice == "error":
            raise weights_only_refusal(owner, checkpoint)
        saved, changes = None, ["no optimizer or scheduler state"]  # rewritten with fresh states below
    elif isinstance(saved, Mapping) and saved.get("version") == FINGERPRINT_VERSION:
        current = fingerprint(built)
        renamed, ambiguous = renames(saved, current)
        changes = differences(lengths_as_declared(saved, checkpoint, built), current, renamed)
        changes = (
            [*rename_hints(renamed, ambiguous, optimizer_attributes(current)), *changes] if changes else []
        )
    else:  # no fingerprint of this version (written without the mixin, or by an older one): the structure,
        # then what the optimizer states tell (options, the lr, parameter shapes); its groups in the declared
        # order where they are the declared ones in another
        states, misordered = in_declared_order(states, built, scheduled=bool(checkpoint.get("lr_schedulers")))
        if states:
            checkpoint["optimizer_states"] = states
        saved_groups = [[len(g.get("params", [])) for g in s.get("param_groups", [])] for s in states]
        built_groups = [[len(g.parameters) for g in b.groups] for b in built]
        changes = differences(
            setup_structure(saved_groups, len(checkpoint.get("lr_schedulers", []))),
            setup_structure(built_groups, sum(len(b.schedules) for b in built)),
        )
        # the groups correspond by position whatever changed in the schedulers
        by_position = saved_groups == built_groups
        changes = [*changes, *misordered]
        if by_position:
            changes = [*changes, *hand_written_differences(states, built), *untold_orders(states, built)]
        if not changes:
            set_aside(checkpoint)  # a hand-written module's scheduler states: taken over when training starts
    if not changes:
        return False
    if choice == "error":
        raise refusal(owner, changes, _changed_hparams(checkpoint, built, module))
    for b, options in zip(built, built_options or ()):
        reset(b.optimizer, options)
    if renamed:
        saved = record_renamed(checkpoint, renamed)
    continues = choice == "continue"
    checkpoint["optimizer_states"] = [
        b.optimizer.state_dict()
        if not continues
        else kept_by_position(state, b, f"{owner}.{b.declared.attribute}")
        if by_position
        else kept_state(
            saved, states, b, checkpoint.get("lr_schedulers", []), f"{owner}.{b.declared.attribute}"
        )
        if isinstance(saved, Mapping)
        else b.optimizer.state_dict()
        for state, b in zip([*states, *[None] * len(built)], built)
    ]
    checkpoint["lr_schedulers"] = [restart(s, continues=continues) for b in built for s in b.schedules]
    compat.carry_global_step(checkpoint, manual)
    checkpoint.pop(METRICS_KEY, None)
    checkpoint.pop(STEP_METRICS_KEY, None)
    checkpoint.pop(CUT_KEY, None)
    return True


def _changed_hparams(
    checkpoint: Mapping[str, Any], built: Sequence[Built], module: LightningModule | None
) -> list[ChangedHParam]:
    """Each ``HParam`` the declarations read whose value in ``module`` is not the one the checkpoint's
    ``hyper_parameters`` hold (the module's ``hparams`` when it was written, which ``fit(ckpt_path=...)`` does not
    restore: an LR finder's suggestion written there, a value given to the module's ``__init__``), with where it
    stands, by the declarations' order."""
    saved = checkpoint.get("hyper_parameters")
    if module is None or not isinstance(saved, Mapping):
        return []
    where: dict[str, list[str]] = {}
    used: dict[str, Any] = {}
    for b in built:
        owner = b.declared.where.rpartition(".")[0]
        for occurrence in b.declared.hparams:
            where.setdefault(occurrence.name, []).append(occurrence.path(owner))
            used.setdefault(occurrence.name, value_used(module, occurrence.hparam))
    return [
        (name, paths, saved[name], used[name])
        for name, paths in where.items()
        if name in saved and not alike_values(saved[name], used[name])
    ]


Plateaus = list[tuple[str, Scheduled]]


def _plateaus(built: Sequence[Built], interval: str) -> Plateaus:
    """The plateau schedulers stepped at ``interval``, each with its position as a checkpoint key."""
    return [
        (str(index) if position == 0 else f"{index}[{position}]", scheduled)
        for index, b in enumerate(built)
        for position, scheduled in enumerate(Scheduled.all_of([b]))
        if scheduled.declared.is_plateau and scheduled.declared.interval == interval
    ]


def _monitored(trainer: Trainer, plateaus: Plateaus) -> dict[str, float]:
    metrics = trainer.callback_metrics
    monitored = [(key, s.declared.spec.monitor) for key, s in plateaus]
    return {key: float(metrics[name]) for key, name in monitored if name in metrics}


def _epoch_metric(trainer: Trainer, scheduled: Scheduled, saved: float | None) -> float | None:
    """The value the update of the checkpoint's epoch takes, at the start of the resumed run's next epoch: the
    one the resumed part of that epoch logged last (a mid-epoch checkpoint's later batches, its validation, its
    end hooks), which is still in ``callback_metrics`` as the uninterrupted run's update read it; else the
    ``saved`` one, where nothing logged the metric again since the checkpoint."""
    logged = trainer.callback_metrics.get(scheduled.declared.spec.monitor or "")
    return saved if logged is None else float(logged)


def _reads_metric(schedule: Schedule) -> bool:
    """Whether the next update of a plateau's ``schedule`` reads the metric: not a warmup's, nor one outside its
    window or the one that starts it (``Schedule.step``)."""
    shape, update = schedule.shape, schedule.last_epoch + 1
    if shape is None:
        return True
    if shape.window is not None:
        return schedule.inner is not None and in_window(update, *shape.window)
    return update > shape.warmup


def _replay_owed(
    pending: Mapping[str, float], plateaus: Plateaus, stepping: ManualSchedulerStepping | None
) -> None:
    """Manual optimization: take the per-step plateau updates the mixin owed when the checkpoint was written
    (``stepping.OWED``) with the saved metrics; one whose metric was not logged then is skipped. The later
    updates take the saved metrics too until the resumed run logs them again (a metric logged on some batches
    only): the uninterrupted run's take the last value logged, which ``callback_metrics`` holds."""
    if stepping is not None:
        stepping.saved_step_metrics.update(
            {id(s.scheduler): pending[key] for key, s in plateaus if key in pending}
        )
    for key, scheduled in plateaus:
        owed = getattr(scheduled.scheduler, OWED, 0)
        setattr(scheduled.scheduler, OWED, 0)
        for _ in range(owed if key in pending else 0):
            scheduled.scheduler.step(pending[key])


def _updated_at(scheduled: Scheduled, batch: int, accumulate: int, batches: float) -> bool:
    """Whether Lightning updates a per-step scheduler after ``batch`` of an epoch of ``batches``: at the end of
    an accumulation window (the epoch's last batch ends one), by its ``frequency``.

    Example:
        >>> from types import SimpleNamespace
        >>> every_2nd = SimpleNamespace(declared=SimpleNamespace(spec=SimpleNamespace(frequency=2)))
        >>> [b for b in range(7) if _updated_at(every_2nd, b, accumulate=2, batches=7)]
        [1, 3, 5]
        >>> [b for b in range(6) if _updated_at(every_2nd, b, accumulate=3, batches=6)]  # windows end at 2, 5
        [5]
    """
    ends_window = steps_at(batch, accumulate) or batch + 1 == batches
    return ends_window and steps_at(batch, scheduled.declared.spec.frequency)


class ResumeGuard(MixinCallback):
    """Writes the fingerprint, the optimizers' positions and the plateau metrics into checkpoints; checks on
    strategies that load late."""

    def __init__(
        self,
        owner: str,
        built: Sequence[Built],
        choice: ResumeChoice,
        stepping: ManualSchedulerStepping | None = None,
    ) -> None:
        super().__init__()
        self.owner = owner
        self.built = built
        self.choice = choice
        self.epoch_plateaus = _plateaus(built, "epoch")
        self.step_plateaus = _plateaus(built, "step")
        self.pending_metrics: dict[str, float] = {}
        self.pending_step_metrics: dict[str, float] = {}
        #: the batch the resumed checkpoint was written at the end of, its plateau updates not yet taken
        #: (``compat.batch_left_unfinished``), the epoch it was written in, its per-epoch plateau updates not yet
        #: taken (``compat.epoch_left_unfinished``), and each plateau's updates when training started
        self.unfinished: int | None = None
        self.unfinished_epoch: int | None = None
        #: the epoch at whose last batch's end the checkpoint was written (``compat.epoch_ended_at_last_batch``):
        #: Lightning resumes into the next epoch and never takes its per-epoch plateau updates
        self.ended_at_last_batch: int | None = None
        self.updates_at_start: dict[str, int] = {}
        #: the epoch of this fit cut short, and the one of the checkpoint being resumed
        self.cut: int | None = None
        self.loaded_cut: int | None = None
        self.positions = Positions(built, stepping)
        #: whether this fit resumes a checkpoint; then the ``GradientAccumulationScheduler`` whose factor its first
        #: batch checks (``_accumulation_not_set``)
        self.resumed = False
        self.accumulation: Any = None
        #: the optimizers' groups' options as built, where the strategy loads the checkpoint's states into them
        #: itself and the mixin can rewrite them (``strategy_loaded.py``), until the checkpoint is taken; and whether
        #: the strategy is loading it now (``on_fit_start``), when their ``state_dict`` leaves the group names out
        self.built_options: list[list[dict[str, Any]]] | None = None
        self.strategy_loading = False
        #: what undoes the wrapper of the strategy's ``load_checkpoint`` while it may load (``_strategy_load``), and
        #: whether that load took a checkpoint without optimizer states, which ``on_load_checkpoint`` then leaves
        self.unwrap_load: Callable[[], None] = lambda: None
        self.taken_without_states = False
        #: the path of the checkpoint being resumed and the batch progress restoring its training state sets the
        #: loop's to (``None``: nothing to restore), checked when training starts (``_not_restored``)
        self.path: Any = None
        self.saved_progress: dict[str, Any] | None = None
        #: the param groups of each optimizer's state in the distributed checkpoint the strategy loads, as read
        self.read_groups: dict[int, list[dict[str, Any]] | None] = {}
        self.disable_hook("on_train_batch_start")  # until a checkpoint brings per-step metrics

    def take_checkpoint(self, checkpoint: Mapping[str, Any], path: Any = None) -> None:
        """Take the plateau metrics and the optimizers' positions of the checkpoint being resumed (from ``path``)."""
        self.positions.take(checkpoint)
        self.resumed = bool(checkpoint)
        self.path = path
        self.saved_progress = (
            compat.saved_batch_progress(checkpoint) if compat.fit_progressed(checkpoint) else None
        )
        saved = checkpoint.get(METRICS_KEY)
        self.pending_metrics = dict(saved) if isinstance(saved, Mapping) else {}
        cut = checkpoint.get(CUT_KEY)
        self.loaded_cut = cut if isinstance(cut, int) else None
        saved = checkpoint.get(STEP_METRICS_KEY)
        self.pending_step_metrics = dict(saved) if isinstance(saved, Mapping) else {}
        self.unfinished = compat.batch_left_unfinished(checkpoint)
        self.unfinished_epoch = compat.epoch_left_unfinished(checkpoint)
        self.ended_at_last_batch = compat.epoch_ended_at_last_batch(checkpoint)
        if self.pending_step_metrics:
            self.enable_hook("on_train_batch_start")  # the class's hook replays them at the next batch

    @override
    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.disable_hook("on_train_batch_start")
        accumulation, self.accumulation = self.accumulation, None
        if accumulation is not None and (refused := _accumulation_not_set(self.owner, trainer, accumulation)):
            raise refused
        if not self.pending_step_metrics:
            return
        pending, self.pending_step_metrics = self.pending_step_metrics, {}
        if not pl_module.automatic_optimization:
            _replay_owed(pending, self.step_plateaus, self.positions.stepping)
            return
        # Lightning owed the update of the checkpoint's batch if the checkpoint was written at the batch's end
        # and the scheduler updates there (the updates taken so far can't tell: they miss those skipped)
        batch, accumulate = self.unfinished, trainer.accumulate_grad_batches
        for key, scheduled in self.step_plateaus:
            if (
                key in pending
                and batch is not None
                and _updated_at(scheduled, batch, accumulate, trainer.num_training_batches)
                # not taken by Lightning itself as it restarted (with a metric logged since the resume)
                and scheduled.scheduler.last_epoch == self.updates_at_start.get(key)
            ):
                scheduled.scheduler.step(pending[key])

    @override
    def on_save_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[CHECKPOINT_KEY] = fingerprint(self.built)
        checkpoint[POSITIONS_KEY] = self.positions.record(trainer)
        checkpoint[RUN_KEY] = run_facts(trainer)
        checkpoint[METRICS_KEY] = _monitored(trainer, self.epoch_plateaus)
        if self.cut is not None and self.cut == trainer.current_epoch:
            checkpoint[CUT_KEY] = self.cut
        # Lightning (and the mixin in manual optimization) steps a per-step plateau after `on_train_batch_end`
        # and the batch's validation, where mid-epoch checkpoints are written
        checkpoint[STEP_METRICS_KEY] = _monitored(trainer, self.step_plateaus)

    @override
    def on_load_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # Otherwise Lightning loads the checkpoint before ``configure_optimizers``, which checks it then:
        # the guard here would still be the one of an earlier ``fit`` of this Trainer, with its setup.
        if not trainer.strategy.restore_checkpoint_after_setup or self.taken_without_states:
            return
        self.strategy_loading = False
        manual = manual_optimization(pl_module)
        if not loads_optimizers_itself(trainer):
            check_resume(self.owner, checkpoint, self.built, self.choice, manual=manual, module=pl_module)
        elif self.built_options is None:
            if check_resume(self.owner, checkpoint, self.built, self.choice, manual=manual, module=pl_module):
                raise not_rewritable(self.owner, trainer, self.choice)
        else:
            # the strategy loaded the checkpoint's states by the live groups: one it holds beyond them is refused
            saved = checkpoint.get(CHECKPOINT_KEY)
            written = checkpoint.get("optimizer_states") or self.saved_states(trainer, saved)
            for b in self.built:
                if refused := added_not_back(b, written_groups(saved, written, b)):
                    raise refused
            # what the strategy loaded is the checkpoint's states, by position as Lightning restores them
            loaded = [in_saved_order(b.optimizer.state_dict(), saved, b) for b in self.built]
            if checkpoint.get("optimizer_states", loaded):
                checkpoint["optimizer_states"] = loaded
            self._check_rewritable(checkpoint, manual, pl_module)
        self.built_options = None
        self.take_checkpoint(checkpoint, trainer.ckpt_path)

    def _check_rewritable(self, checkpoint: dict[str, Any], manual: bool, module: LightningModule) -> None:
        """``check_resume`` where the strategy loads the optimizer states itself and the mixin rewrites them: a
        rewrite is loaded into the optimizers here, as Lightning would after ``on_load_checkpoint``."""
        if check_resume(
            self.owner,
            checkpoint,
            self.built,
            self.choice,
            manual=manual,
            built_options=self.built_options,
            module=module,
        ):
            for b, state in zip(self.built, checkpoint["optimizer_states"]):
                b.optimizer.load_state_dict(state)

    def _strategy_load(
        self, trainer: Trainer, load: Callable[[], dict[str, Any]], path: Any, weights_only: bool | None
    ) -> dict[str, Any]:
        """The strategy's load of the checkpoint at ``path`` (``load``); one without optimizer states is loaded
        without the optimizers, which the strategy would ask it for, and checked here (``strategy_loaded.py``)."""
        strategy = trainer.strategy
        if not strategy.optimizers or holds_optimizer_states(Path(strategy.broadcast(path)), weights_only):
            return load()
        optimizers, strategy.optimizers = strategy.optimizers, []
        try:
            checkpoint = load()
        finally:
            strategy.optimizers = optimizers
        self.strategy_loading = False
        module = trainer.lightning_module
        self._check_rewritable(checkpoint, manual_optimization(module), module)
        self.built_options, self.taken_without_states = None, True
        self.take_checkpoint(checkpoint, path)
        return checkpoint

    def saved_groups(self, trainer: Trainer, index: int) -> list[dict[str, Any]] | None:
        """The param groups of the ``index``-th optimizer's state in the distributed checkpoint the strategy loads
        (``saved_param_groups``), read once."""
        if index not in self.read_groups:
            self.read_groups[index] = saved_param_groups(trainer.ckpt_path, index)
        return self.read_groups[index]

    def misplaced(self, trainer: Trainer, built: Built) -> ValueError | None:
        """The refusal of a checkpoint file keyed by position whose positions the strategy maps to other parameters
        of ``built``'s optimizer (``misplaced_parameters``), as it loads it."""
        module = trainer.lightning_module
        misplaced = misplaced_parameters(built.optimizer, module)
        if not misplaced or not keyed_by_position(trainer.ckpt_path):
            return None
        names = {id(p): name for name, p in module.named_parameters()}
        return keyed_by_position_refusal(
            built.declared.where, trainer.ckpt_path, [names[id(p)] for p in misplaced]
        )

    def saved_states(self, trainer: Trainer, saved: Any) -> list[dict[str, Any]]:
        """The optimizer states of the distributed checkpoint the strategy loads, with their param groups only,
        one for each optimizer its fingerprint ``saved`` holds."""
        entries = saved.get("optimizers") if isinstance(saved, Mapping) else None
        count = len(entries) if isinstance(entries, list) else 0
        return [{"param_groups": self.saved_groups(trainer, i) or []} for i in range(count)]

    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # the strategy loads the checkpoint between this hook and `on_load_checkpoint` (or `on_train_start`)
        self.strategy_loading = self.built_options is not None
        if self.strategy_loading:
            self.unwrap_load = compat.around_checkpoint_load(
                trainer.strategy, partial(self._strategy_load, trainer)
            )

    @override
    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        # a fit that ended before `on_train_start` (no batch to train, an error in the load or the sanity check):
        # the names come back into the optimizers' `state_dict()`
        self.strategy_loading = False
        self.unwrap_load()

    @override
    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self.unwrap_load()

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.strategy_loading, self.built_options = False, None
        self.unwrap_load()
        saved, self.saved_progress = self.saved_progress, None
        if saved is not None and compat.batch_progress(trainer) != saved:
            raise _not_restored(self.owner, trainer, self.path)
        for b in self.built:  # after Lightning moved the loaded state to the device, which unbounds a deque
            rebound(b.optimizer)
        self.positions.begin(trainer)
        ended = self.ended_at_last_batch
        for _, scheduled in self.epoch_plateaus:
            # Lightning resumes into the next epoch, without the ended one's end hooks and plateau updates (nor an
            # epoch start): a warmup's update (or one outside a window) needs no metric, and is taken now
            if (
                ended is not None
                and steps_at(ended, scheduled.declared.spec.frequency)
                and not _reads_metric(scheduled.scheduler)
            ):
                scheduled.scheduler.step()
        # Lightning restarts in that next epoch, and in automatic optimization skips its plateau updates too: taken
        # at the epoch after, as the update of a mid-epoch checkpoint's epoch
        if ended is not None and pl_module.automatic_optimization:
            self.unfinished_epoch = ended + 1
        plateaus = (*self.step_plateaus, *self.epoch_plateaus)
        self.updates_at_start = {key: s.scheduler.last_epoch for key, s in plateaus}
        self.cut = None
        if self.loaded_cut is not None and trainer.current_epoch > self.loaded_cut:
            # Lightning starts past the epoch cut short, whose update it never takes: there is nothing to replay
            self.pending_metrics = {}
        self.accumulation = (
            accumulation_scheduler(trainer) if self.resumed and pl_module.automatic_optimization else None
        )
        if self.accumulation is not None:
            # checked at the first batch: a callback's `on_train_start` (after this one's) may still set the factor
            self.enable_hook("on_train_batch_start")

    @override
    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.pending_step_metrics and not pl_module.automatic_optimization:
            # before the stepping callback records the schedules' states (its check of outside steps)
            self.disable_hook("on_train_batch_start")
            pending_steps, self.pending_step_metrics = self.pending_step_metrics, {}
            _replay_owed(pending_steps, self.step_plateaus, self.positions.stepping)
        pending, self.pending_metrics = self.pending_metrics, {}
        # Lightning owed the update of the checkpoint's epoch, the one before this first epoch of the fit, if the
        # scheduler updates after it (the updates taken so far can't tell: they miss those skipped)
        epoch = self.unfinished_epoch
        automatic = pl_module.automatic_optimization
        for key, scheduled in self.epoch_plateaus:
            # in manual optimization the mixin took the update of an epoch the resumed run went on with itself
            # (``on_train_epoch_end`` took its saved metric out of ``pending``)
            value = (
                _epoch_metric(trainer, scheduled, pending.get(key)) if automatic or key in pending else None
            )
            if (
                value is not None
                and epoch == trainer.current_epoch - 1
                and steps_at(epoch, scheduled.declared.spec.frequency)
                # not taken by Lightning itself, at the end of a cut epoch the resumed run went on with
                and scheduled.scheduler.last_epoch == self.updates_at_start.get(key)
            ):
                scheduled.scheduler.step(value)

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.epoch_plateaus and not compat.epoch_ran_to_end(trainer):
            self.cut = trainer.current_epoch  # before the epoch-end checkpoint is written
        if self.pending_metrics and not pl_module.automatic_optimization:
            # resumed into the checkpoint's epoch: the mixin takes this epoch's update itself (from a later hook
            # than this one), with the saved metric where nothing logged it again since the checkpoint (one
            # written at the validation run after the epoch's last batch), so nothing is left to replay
            parts = self.entry.parts if self.entry is not None else []
            stepping = next((p for p in parts if isinstance(p, ManualSchedulerStepping)), None)
            for key, scheduled in self.epoch_plateaus:
                if getattr(scheduled.scheduler, EPOCHS, 0) == trainer.current_epoch:
                    saved = self.pending_metrics.pop(key, None)
                    if saved is not None and stepping is not None:
                        stepping.saved_metrics[id(scheduled.scheduler)] = saved


def _accumulation_not_set(owner: str, trainer: Trainer, callback: Any) -> ValueError | None:
    """The refusal of a resumed fit's first batch, at an ``accumulate_grad_batches`` other than the one the
    ``GradientAccumulationScheduler`` ``callback`` gives the epoch; ``None`` at that one.

    The callback sets the factor in ``on_train_epoch_start``, which Lightning does not call for the epoch a fit
    resumes in from a checkpoint written inside it, or at the last batch of the epoch before (2.6.6: its fit loop
    restarts mid-epoch then), so that epoch would train at the Trainer's own factor, 1, where the uninterrupted run
    trained at the scheduled one, the optimizer steps and the schedules counting other steps. Lightning does so
    for a hand-written module too, without a word; setting the factor for it is the callback's part (its
    documentation says nothing of a resume), so the fit is refused with the ways out."""
    epoch, running = trainer.current_epoch, trainer.accumulate_grad_batches
    scheduled = callback.get_accumulate_grad_batches(epoch)
    if running == scheduled:
        return None
    return ValueError(
        f"{owner}: Expected `trainer.accumulate_grad_batches` to be {scheduled} in epoch {epoch}, as "
        f"`{type(callback).__name__}({callback.scheduling})` schedules it, but got {running}: Lightning does not "
        "call the callback's `on_train_epoch_start`, which sets the factor, for the epoch a fit resumes in from a "
        f"checkpoint written inside it or at the last batch of the one before, so this fit would train epoch {epoch} "
        f"at {running} batch(es) per optimizer step instead of {scheduled}, unlike the same run uninterrupted. Resume "
        "from a checkpoint written at an epoch's end (`ModelCheckpoint(every_n_epochs=...)`), or have the callback "
        "set its factor when the fit starts: a subclass of `GradientAccumulationScheduler` whose `on_train_start` "
        "calls `super().on_train_start(trainer, pl_module)` and then `self.on_train_epoch_start(trainer, pl_module)`."
    )


def _not_restored(owner: str, trainer: Trainer, path: Any) -> ValueError:
    """The refusal of a resumed fit whose checkpoint (from ``path``) the mixin checked but whose training state was
    never restored: the loops do not stand where it saved them when training starts.

    Lightning restores a checkpoint's training state (optimizers, schedulers, loops) after ``on_fit_start``, where
    ``LearningRateFinder`` and ``BatchSizeFinder`` run their trials and then restore the checkpoint they saved
    before them through the Trainer's checkpoint connector, which ends the pending restore of ``ckpt_path``: the
    fit would go on from the checkpoint's weights with fresh optimizers and schedules from step 0, and a
    hand-written module's does so without a word."""
    finders = compat.lightning_classes("callbacks.LearningRateFinder") + compat.lightning_classes(
        "callbacks.BatchSizeFinder"
    )
    callbacks: list[Any] = cast(Any, trainer).callbacks
    found = list(dict.fromkeys(type(c).__name__ for c in callbacks if isinstance(c, finders)))
    restored = trainer.ckpt_path
    other = f" (`{restored}`)" if restored is not None and restored != path else ""
    who = (
        f"the {' and the '.join(f'`{name}`' for name in found)} callback{'s' if len(found) > 1 else ''} "
        f"restored {'their' if len(found) > 1 else 'its'} own checkpoint{other} in its place in `on_fit_start`"
        if found
        else f"another checkpoint{other} was restored in its place before training started (in `on_fit_start`)"
    )
    return ValueError(
        f"{owner}: Expected the training state of the checkpoint being resumed (`ckpt_path={path!r}`: its optimizer "
        "and scheduler states and the loops' progress) to be restored when training starts but got none of it "
        f"restored: {who}, which ends Lightning's pending restore of `ckpt_path`. This fit would train from the "
        "checkpoint's weights with fresh optimizers and schedules from step 0, unlike the run it resumes. Run the "
        "finder in a fit without `ckpt_path`, or remove it from the callbacks of the resumed fit."
    )


def install(
    owner: str,
    trainer: Trainer,
    built: Sequence[Built],
    choice: ResumeChoice,
    stepping: ManualSchedulerStepping | None = None,
) -> Positions:
    """Check an already loaded checkpoint now, and put a fresh ``ResumeGuard`` in the callbacks; its
    ``Positions`` (which count each optimizer's steps by ``stepping``, manual optimization's)."""
    checkpoint = compat.loaded_checkpoint(trainer)
    guard = ResumeGuard(owner, built, choice, stepping)
    if loads_optimizers_itself(trainer) and rewritable(trainer):
        guard.built_options = built_options(built)
        for index, b in enumerate(built):
            leave_names_out_while(b.optimizer, lambda: guard.strategy_loading)
            saved_groups_only_while(
                b.optimizer, lambda: guard.strategy_loading, partial(guard.saved_groups, trainer, index)
            )
            refuse_while(b.optimizer, lambda: guard.strategy_loading, partial(guard.misplaced, trainer, b))
    module = trainer.lightning_module
    check_resume(owner, checkpoint, built, choice, manual=manual_optimization(module), module=module)
    guard.take_checkpoint(checkpoint, trainer.ckpt_path)
    callbacks.add(trainer, guard)
    return guard.positions
