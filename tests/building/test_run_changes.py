"""Lengths derived from the run stay true when the run changes after ``configure_optimizers``.

Every test runs a real Trainer and compares the lr used at each optimizer step with a reference: torch's
own scheduler built with the length the run really has (counted by hand in each test's comment), or a
hand-written formula. On the code before the re-derivation, each of them fails: the schedule kept the
length of the run as ``configure_optimizers`` saw it.

Lightning 2.6.6 facts these tests pin down (``trainer.estimated_stepping_batches`` is what a hand-written
``configure_optimizers`` would use):

* ``BatchSizeFinder`` runs in ``on_fit_start``, after ``configure_optimizers``.
* ``estimated_stepping_batches`` ignores a ``GradientAccumulationScheduler`` (it reads the Trainer's
  ``accumulate_grad_batches``, which the callback requires to be 1).
* A second ``fit`` of the same Trainer continues the loops (``global_step``, ``current_epoch``) up to the
  raised ``max_epochs``, calls ``configure_optimizers`` again (fresh optimizers and schedulers, no state
  carried over), and ``estimated_stepping_batches`` counts the whole run, including the first fit's steps.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import (
    BatchSizeFinder,
    GradientAccumulationScheduler,
    LearningRateFinder,
    ModelCheckpoint,
)
from torch.optim import SGD, lr_scheduler

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec
from tests import helpers
from tests.helpers import FAST, Classifier, TwoNets, torch_lrs


class Sized(Classifier):
    """Trains on ``n`` samples in batches of ``self.batch_size`` (what ``BatchSizeFinder`` tunes); ``lr`` is
    the attribute ``LearningRateFinder`` writes its suggestion to."""

    samples = 32

    def __init__(self, batch_size: int = 8) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.lr = 0.1

    def train_dataloader(self) -> Any:
        return helpers.loader(n=self.samples, batch_size=self.batch_size)


class StepLrs(L.Callback):
    """The lr (and momentum) of every optimizer's first group used by each optimizer step."""

    def __init__(self) -> None:
        self.lrs: dict[int, list[float]] = {}
        self.momenta: dict[int, list[float]] = {}

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: Any, optimizer: Any) -> None:
        index = next(i for i, o in enumerate(trainer.optimizers) if o is optimizer)
        group = optimizer.param_groups[0]
        self.lrs.setdefault(index, []).append(float(group["lr"]))
        self.momenta.setdefault(index, []).append(float(group.get("momentum", 0.0)))


class ManualStepLrs(L.Callback):
    """``StepLrs`` for manual optimization, where Lightning has no ``on_before_optimizer_step`` per
    optimizer: before every training batch, in which each optimizer steps once."""

    def __init__(self) -> None:
        self.lrs: dict[int, list[float]] = {}

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        for index, optimizer in enumerate(trainer.optimizers):
            self.lrs.setdefault(index, []).append(float(optimizer.param_groups[0]["lr"]))


class EstimateAtStart(L.Callback):
    """Lightning's ``estimated_stepping_batches`` when training starts (what ``configure_optimizers`` sees)."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        self.values.append(trainer.estimated_stepping_batches)


def trainer(tmp_path: Any, *callbacks: L.Callback, **kwargs: Any) -> L.Trainer:
    options = {**FAST, "max_epochs": 3, "default_root_dir": str(tmp_path), **kwargs}
    return L.Trainer(callbacks=list(callbacks), **options)


def final_lr(fitted: L.Trainer, optimizer: int = 0) -> float:
    return float(fitted.optimizers[optimizer].param_groups[0]["lr"])


COSINE = SchedulerSpec("cosine", interval="step", eta_min=0.01)


def test_batch_size_finder_changes_the_length(tmp_path: Any) -> None:
    model = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=COSINE), Sized)()
    recorder = StepLrs()
    # power mode from Lightning's initial 2: it keeps 4 (no OOM on CPU; `helpers.POWER_TRIALS`)
    finder = BatchSizeFinder(mode="power", max_trials=helpers.POWER_TRIALS)
    fitted = trainer(tmp_path, recorder, finder)
    fitted.fit(model)
    assert finder.optimal_batch_size == 4 and model.batch_size == 4
    # 32 samples / 4 = 8 batches per epoch, 3 epochs: 24 steps (configure_optimizers saw 4 batches: 12); the
    # reference's lrs of the 24 steps and the lr after the last
    expected = torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=24, eta_min=0.01), 24 + 1)
    assert recorder.lrs[0] == pytest.approx(expected[:-1], rel=1e-12)
    assert final_lr(fitted) == 0.01  # eta_min, reached exactly at the last step


def test_batch_size_finder_rebuilds_onecycle_with_its_momentum(tmp_path: Any) -> None:
    """OneCycleLR also cycles the momentum: rebuilt, it starts from the group's settings before it was
    first built, not from the ones its first build left."""
    scheduler = SchedulerSpec("onecycle", max_lr=0.5)
    with helpers.lr_replaced():
        model = helpers.declared(OptimizerSpec("sgd", lr=0.1, momentum=0.9, scheduler=scheduler), Sized)()
    recorder = StepLrs()
    fitted = trainer(tmp_path, recorder, BatchSizeFinder(mode="power", max_trials=helpers.POWER_TRIALS))
    fitted.fit(model)

    # the hand-written reference: the same optimizer with OneCycleLR over the 24 steps the run takes
    optimizer = SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    reference = lr_scheduler.OneCycleLR(optimizer, max_lr=0.5, total_steps=24)
    lrs, momenta = [], []
    for _ in range(24):
        lrs.append(optimizer.param_groups[0]["lr"])
        momenta.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()
        if len(lrs) < 24:
            reference.step()
    assert recorder.lrs[0] == pytest.approx(lrs, rel=1e-12)
    assert recorder.momenta[0] == pytest.approx(momenta, rel=1e-12)


def test_batch_size_finder_in_manual_optimization(tmp_path: Any) -> None:
    """Two optimizers: the mixin's own stepping hooks step the rebuilt schedules."""

    class TwoSized(ConfigurableOptimizersMixin, TwoNets):
        gen = OptimizerSpec("sgd", lr=0.1, params="model_gen", scheduler=COSINE)
        dis = OptimizerSpec(
            "sgd", lr=0.2, params="model_dis", scheduler=SchedulerSpec("cosine", interval="step")
        )

        def __init__(self) -> None:
            super().__init__()
            self.batch_size = 8

        def train_dataloader(self) -> Any:
            return helpers.loader(n=32, batch_size=self.batch_size)

    recorder = ManualStepLrs()
    fitted = trainer(tmp_path, recorder, BatchSizeFinder(mode="power", max_trials=helpers.POWER_TRIALS))
    fitted.fit(TwoSized())
    # batch size 4: 8 batches per epoch, each optimizer steps once per batch, 3 epochs: 24 steps each
    gen = torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=24, eta_min=0.01), 24 + 1)
    dis = torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=24), 24 + 1, lr=0.2)
    assert recorder.lrs[0] == pytest.approx(gen[:-1], rel=1e-12)
    assert recorder.lrs[1] == pytest.approx(dis[:-1], rel=1e-12, abs=1e-15)
    assert (final_lr(fitted, 0), final_lr(fitted, 1)) == (0.01, 0.0)


def test_checkpoint_records_the_final_length(tmp_path: Any) -> None:
    model = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=COSINE), Sized)()
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    fitted = trainer(
        tmp_path,
        checkpoint,
        BatchSizeFinder(mode="power", max_trials=helpers.POWER_TRIALS),
        enable_checkpointing=True,
    )
    fitted.fit(model)
    saved = torch.load(checkpoint.last_model_path, weights_only=False)
    # the schedule's own state holds its shape: the run's length, not the 12 configure_optimizers saw
    assert saved["lr_schedulers"][0]["shape"]["length"] == 24


def _warmup_cosine(lr: float, warmup: int, t_max: int, eta_min: float, steps: int) -> list[float]:
    """Hand-written: a linear warmup over ``warmup`` steps with factors ``(i + 1) / (warmup + 1)``, then
    the cosine from ``lr`` down to ``eta_min`` over ``t_max`` steps."""
    lrs = [lr * (i + 1) / (warmup + 1) for i in range(warmup)]
    lrs += [eta_min + (lr - eta_min) * (1 + math.cos(math.pi * k / t_max)) / 2 for k in range(t_max + 1)]
    return lrs[:steps]


@helpers.needs_lr_finder_fix
def test_learning_rate_finder_suggestion_starts_the_schedule(tmp_path: Any) -> None:
    """``LearningRateFinder`` runs its own short fit, restores everything, then writes its suggestion into
    the param groups. The length stays right (the finder restores the loop limits), but a warmup computes
    from its base lrs and dropped the suggestion; rebuilt before the first step, the schedule is the one
    declared with the suggested lr."""

    class Bigger(Sized):
        samples = 64  # 8 batches per epoch, 24 in the run: enough points for a suggestion

    scheduler = SchedulerSpec("cosine", interval="step", warmup=0.25, eta_min=0.0)
    model = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=scheduler), Bigger)()
    recorder = StepLrs()
    finder = LearningRateFinder(num_training_steps=20, early_stop_threshold=None)
    fitted = trainer(tmp_path, recorder, finder)
    fitted.fit(model)
    suggested = finder.optimal_lr.suggestion()
    assert suggested is not None and suggested != 0.1 and model.lr == suggested
    # 24 steps: a warmup of int(0.25 * 24) = 6, then T_max = 18
    assert recorder.lrs[0] == pytest.approx(_warmup_cosine(suggested, 6, 18, 0.0, 24), rel=1e-9)
    assert final_lr(fitted) == pytest.approx(0.0, abs=1e-15)


def test_gradient_accumulation_scheduler_counts_each_epochs_steps(tmp_path: Any) -> None:
    model = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=COSINE), Sized)()
    recorder = StepLrs()
    estimates = EstimateAtStart()
    fitted = trainer(tmp_path, recorder, estimates, GradientAccumulationScheduler({0: 1, 2: 2}), max_epochs=4)
    fitted.fit(model)
    # 4 batches per epoch: epochs 0 and 1 step 4 times, epochs 2 and 3 accumulate 2: 2 steps; 12 in all
    assert fitted.global_step == 12
    # Lightning's estimate ignores the callback and reads the Trainer's accumulation as it is: 1 when
    # training starts (4 steps in each of the 4 epochs), the last epoch's 2 once the callback set it
    assert estimates.values == [16]
    assert fitted.estimated_stepping_batches == 8
    expected = torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=12, eta_min=0.01), 12 + 1)
    assert recorder.lrs[0] == pytest.approx(expected[:-1], rel=1e-12)
    assert final_lr(fitted) == 0.01


def test_gradient_accumulation_scheduler_with_frequency(tmp_path: Any) -> None:
    """Lightning steps a ``frequency=3`` scheduler after a stepping batch whose index + 1 is a multiple of
    3: batch 2 of the first two epochs (accumulation 1: every batch steps), and none of the later ones
    (accumulation 2: batches 1 and 3 step). 2 updates in the run, whose 6 later steps train with the 3rd value:
    ``total_iters = 3`` (5 if every epoch accumulated 1, as ``estimated_stepping_batches`` assumes; 2, the
    updates, would train those 6 steps at lr 0)."""
    scheduler = SchedulerSpec("polynomial", interval="step", frequency=3, power=2.0)
    model = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=scheduler), Sized)()
    fitted = trainer(tmp_path, GradientAccumulationScheduler({0: 1, 2: 2}), max_epochs=4)
    fitted.fit(model)
    live = fitted.lr_scheduler_configs[0].scheduler
    assert live.inner.total_iters == 3 and live.last_epoch == 2
    assert final_lr(fitted) == pytest.approx(0.1 * (1 - 2 / 3) ** 2, rel=1e-12)


def test_gradient_accumulation_scheduler_refuses_epoch_units(tmp_path: Any) -> None:
    scheduler = SchedulerSpec("step", step_size=1, interval="step", unit="epoch")
    model = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=scheduler), Sized)()
    fitted = trainer(tmp_path, GradientAccumulationScheduler({0: 1, 2: 2}), max_epochs=4)
    with pytest.raises(ValueError, match=r"vary \(4 from epoch 0, 2 from epoch 2\)") as error:
        fitted.fit(model)
    assert "Declared.optimizer.scheduler" in str(error.value)


def test_second_fit_with_more_epochs(tmp_path: Any) -> None:
    """The second ``fit`` trains epochs 2 and 3 (8 steps) with fresh optimizers and schedulers, which
    Lightning builds again; a user raising ``max_epochs`` expects the new schedule to span that fit, ending
    at ``eta_min`` at its last step. A length from ``estimated_stepping_batches`` (16, the whole run) made
    the cosine stop halfway."""
    model = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=COSINE), Sized)()
    recorder = StepLrs()
    fitted = trainer(tmp_path, recorder, max_epochs=2)
    fitted.fit(model)
    first = torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=8, eta_min=0.01), 8 + 1)
    assert recorder.lrs[0] == pytest.approx(first[:-1], rel=1e-12)

    recorder.lrs.clear()
    fitted.fit_loop.max_epochs = 4
    fitted.fit(model)
    assert fitted.global_step == 16 and fitted.estimated_stepping_batches == 16
    second = torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=8, eta_min=0.01), 8 + 1)
    assert recorder.lrs[0] == pytest.approx(second[:-1], rel=1e-12)
    assert final_lr(fitted) == 0.01


class TwoEpochly(ConfigurableOptimizersMixin, TwoNets):
    """Two optimizers in manual optimization with per-epoch schedules, 2 batches per epoch."""

    gen = OptimizerSpec(
        "sgd", lr=0.1, params="model_gen", scheduler=SchedulerSpec("cosine", interval="epoch", eta_min=0.01)
    )
    dis = OptimizerSpec(
        "sgd", lr=0.2, params="model_dis", scheduler=SchedulerSpec("step", step_size=1, gamma=0.5)
    )

    def train_dataloader(self) -> Any:
        return helpers.loader(n=16, batch_size=8)


def test_second_fit_in_manual_optimization_starts_its_epoch_schedules_anew(tmp_path: Any) -> None:
    """As in automatic optimization (above) and in a hand-written manual loop, whose ``configure_optimizers``
    Lightning calls again: the second ``fit``'s per-epoch schedules start at that fit's first epoch and span
    it. The mixin used to step them through the first fit's epochs before the first batch (the cosine over
    the new fit's 2 epochs started at its end), and torch warned that they stepped before their optimizer."""
    # per epoch, over the 2 epochs of each fit, each lr used by the 2 batches of the epoch
    cosine = torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=2, eta_min=0.01), 2 + 1)[:2]
    halving = torch_lrs(lambda o: lr_scheduler.StepLR(o, step_size=1, gamma=0.5), 2 + 1, lr=0.2)[:2]
    expected = {0: [lr for lr in cosine for _ in range(2)], 1: [lr for lr in halving for _ in range(2)]}
    recorder = ManualStepLrs()
    fitted = trainer(tmp_path, recorder, max_epochs=2)
    module = TwoEpochly()
    fitted.fit(module)
    for index, lrs in expected.items():
        assert recorder.lrs[index] == pytest.approx(lrs, rel=1e-12)

    recorder.lrs.clear()
    fitted.fit_loop.max_epochs = 4
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted.fit(module)
    assert fitted.current_epoch == 4
    for index, lrs in expected.items():
        assert recorder.lrs[index] == pytest.approx(lrs, rel=1e-12)
    assert not [w for w in caught if "lr_scheduler.step()" in str(w.message)]


class Shrinking(Sized):
    """The train dataloader of epoch 0 has 4 batches, later ones 2 (batch size 16)."""

    def train_dataloader(self) -> Any:
        return helpers.loader(n=32, batch_size=8 if self.trainer.current_epoch == 0 else 16)


def test_reloaded_dataloader_with_another_length_is_an_error(tmp_path: Any) -> None:
    model = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=COSINE), Shrinking)()
    fitted = trainer(tmp_path, reload_dataloaders_every_n_epochs=1)
    with pytest.raises(ValueError) as error:
        fitted.fit(model)
    message = str(error.value)
    assert message.startswith("Declared.optimizer.scheduler: `CosineAnnealingLR` was built with `T_max=12`")
    assert "the run changed at epoch 1: training batches per epoch 4 -> 2" in message
    assert "`reload_dataloaders_every_n_epochs=1` reloaded the train dataloader" in message
    assert "already taken steps of the old length" in message
    assert message.endswith("Fix: give `T_max` explicitly.")
    assert fitted.global_step == 4  # stopped before any step of epoch 1


def test_reloaded_dataloader_with_an_explicit_length_trains(tmp_path: Any) -> None:
    scheduler = SchedulerSpec("cosine", interval="step", T_max=8)
    model = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=scheduler), Shrinking)()
    fitted = trainer(tmp_path, reload_dataloaders_every_n_epochs=1)
    fitted.fit(model)
    assert fitted.global_step == 8


def test_reloaded_dataloader_of_the_same_length_trains(tmp_path: Any) -> None:
    model = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=COSINE), Sized)()
    recorder = StepLrs()
    fitted = trainer(tmp_path, recorder, reload_dataloaders_every_n_epochs=1)
    fitted.fit(model)
    expected = torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=12, eta_min=0.01), 12 + 1)
    assert recorder.lrs[0] == pytest.approx(expected[:-1], rel=1e-12)


def test_resuming_a_second_fits_checkpoint_continues_its_schedule(tmp_path: Any) -> None:
    """A checkpoint of the second ``fit`` holds a schedule over that fit's 8 steps, started at step 8. A
    run resumed from it (a new Trainer, ``max_epochs=4``) derives the same length from the same start,
    instead of refusing the checkpoint or deriving 16 steps from step 0."""
    model = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=COSINE), Sized)()
    checkpoints = ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, every_n_epochs=1)
    fitted = trainer(tmp_path, checkpoints, max_epochs=2, enable_checkpointing=True)
    fitted.fit(model)
    fitted.fit_loop.max_epochs = 4
    fitted.fit(model)

    recorder = StepLrs()
    resumed = trainer(tmp_path, recorder, max_epochs=4)
    resumed.fit(model, ckpt_path=str(tmp_path / "epoch=2-step=12.ckpt"))
    # the second fit's schedule (T_max = 8 from step 8) at its steps 4 to 7 (global steps 12 to 15)
    second = torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=8, eta_min=0.01), 8 + 1)
    assert recorder.lrs[0] == pytest.approx(second[4:8], rel=1e-12)
    assert final_lr(resumed) == 0.01


def test_resuming_with_another_length_is_refused(tmp_path: Any) -> None:
    model = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=COSINE), Sized)()
    checkpoints = ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, every_n_epochs=1)
    trainer(tmp_path, checkpoints, max_epochs=2, enable_checkpointing=True).fit(model)
    longer = trainer(tmp_path, max_epochs=4)
    with pytest.raises(ValueError, match=r"T_max \(derived\): 8 in the checkpoint, 16 now"):
        longer.fit(model, ckpt_path=str(tmp_path / "epoch=0-step=4.ckpt"))
    assert longer.global_step == 4  # refused before any step after the restore


def test_batch_size_finder_with_a_scheduler_list(tmp_path: Any) -> None:
    """Several schedulers on one optimizer, with windows: all of them are built again, in order. The
    reference is the same declaration on a run whose batch size is known from the start (windows against
    mmengine: tests/schedules/test_window.py)."""
    schedulers = [
        SchedulerSpec("linear", start_factor=0.25, begin=0, end=0.25, interval="step"),
        SchedulerSpec("cosine", begin=0.25, interval="step", eta_min=0.01),
    ]
    spec = OptimizerSpec("sgd", lr=0.1, scheduler=schedulers)
    tuned, known = StepLrs(), StepLrs()
    fitted = trainer(tmp_path, tuned, BatchSizeFinder(mode="power", max_trials=helpers.POWER_TRIALS))
    fitted.fit(helpers.declared(spec, Sized)())
    trainer(tmp_path, known).fit(helpers.declared(spec, Sized)(batch_size=4))
    assert len(tuned.lrs[0]) == 24
    assert tuned.lrs[0] == known.lrs[0]
    assert final_lr(fitted) == 0.01


class Interrupted(Exception):
    """What ``InterruptOnce`` raises: a callback failing mid-run (a logger, a checkpoint callback)."""


class InterruptOnce(L.Callback):
    """Raises ``Interrupted`` once in epoch 0: at the end of its validation, after its last training batch
    (``"validation_end"``), or at the end of its second training batch (``"batch_end"``)."""

    def __init__(self, where: str) -> None:
        self.where, self.raised = where, False

    def _raise(self) -> None:
        if not self.raised:
            self.raised = True
            raise Interrupted

    def on_validation_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        if self.where == "validation_end" and not trainer.sanity_checking:
            self._raise()

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if self.where == "batch_end" and trainer.global_step == 2:
            self._raise()


class Validated(Sized):
    """``Sized`` (4 batches an epoch) with a validation loop after each epoch."""

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        pass

    def val_dataloader(self) -> Any:
        return helpers.loader(n=8, batch_size=8)


def _one_cycle(optimizer: Any, steps: int) -> Any:
    return lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=steps)


def _cosine_with_warmup(optimizer: Any, steps: int) -> Any:
    return helpers.transformers_with_torch().get_cosine_schedule_with_warmup(optimizer, 3, steps)


#: each schedule declared, and built by hand from Lightning's count of the run's optimizer steps
REFIT_SCHEDULES = {
    "OneCycleLR": (SchedulerSpec(lr_scheduler.OneCycleLR, max_lr=0.1, interval="step"), _one_cycle),
    "cosine with warmup": (SchedulerSpec("transformers/cosine", num_warmup_steps=3), _cosine_with_warmup),
}


@pytest.mark.parametrize("where", ["validation_end", "batch_end"])
@pytest.mark.parametrize("schedule", list(REFIT_SCHEDULES))
# the fit raised inside its validation, which left the module in eval mode (Lightning's warning, both modules)
@pytest.mark.filterwarnings("ignore:Found .* in eval mode at the start of training")
def test_a_fit_again_after_a_fit_that_raised_derives_the_steps_it_takes(
    tmp_path: Any, where: str, schedule: str
) -> None:
    """A fit of epochs 0-1 (4 batches each) raises in epoch 0, and the same Trainer's ``fit`` runs again (a
    notebook's cell run again): Lightning does not resume the interrupted epoch but trains it again from its
    first batch, then epoch 1, 8 optimizer steps from the global step it stopped at. The derived length spans
    them, as a hand-written ``configure_optimizers`` counts them (``estimated_stepping_batches``). It used to
    count the interrupted epoch's batches from the fit that raised as done: a ``OneCycleLR`` over 4 steps
    failed in torch after them, a cosine climbed back up, and after a mid-epoch raise both were refused at
    epoch 1."""
    spec, by_hand = REFIT_SCHEDULES[schedule]

    class Declared(ConfigurableOptimizersMixin, Validated):
        optimizer = OptimizerSpec("adam", implementation="forloop", scheduler=spec)

    class Hand(Validated):
        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.Adam(self.parameters(), foreach=False)
            scheduler = by_hand(optimizer, self.trainer.estimated_stepping_batches)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    runs = []
    for module in (Declared(), Hand()):
        fitted = trainer(tmp_path, InterruptOnce(where), max_epochs=2)
        with pytest.raises(Interrupted):
            fitted.fit(module)
        recorder = StepLrs()
        fitted.callbacks.append(recorder)
        fitted.fit(module)
        assert fitted.current_epoch == 2 and len(recorder.lrs[0]) == 8
        runs.append((recorder.lrs[0], torch.cat([p.detach().flatten() for p in module.parameters()])))
    (declared_lrs, declared_weights), (hand_lrs, hand_weights) = runs
    assert declared_lrs == hand_lrs
    assert torch.equal(declared_weights, hand_weights)
