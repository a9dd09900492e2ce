"""Lightning's own callbacks, strategies and entry points with a declared module and ``LRMonitor``.

Each test runs the real callback or strategy on tiny data. Where Lightning's ``LearningRateMonitor`` can run
alongside, ``LRMonitor`` must log the same values; where a run is resumed, it must continue exactly (the same
learning rates before every batch and the same final weights as the uninterrupted run).
"""

from __future__ import annotations

import io
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch import callbacks
from lightning.pytorch.callbacks import (
    BackboneFinetuning,
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
    StochasticWeightAveraging,
)
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch import nn

from lightning_optim import ConfigurableOptimizersMixin, LRMonitor, OptimizerSpec, SchedulerSpec
from tests.helpers import (
    FAST,
    Classifier,
    DestroyProcessGroup,
    Net,
    TwoNetsByName,
    assert_same_weights,
    fit,
    fit_resumed,
    loader,
    no_logger,
    weights,
)


class Full(Classifier):
    """The tiny classifier with validation, test and predict steps."""

    def evaluate(self, batch: Any, name: str) -> None:
        x, y = batch
        self.log(name, nn.functional.cross_entropy(self.model_gen(x), y))

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.evaluate(batch, "val_loss")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.evaluate(batch, "test_loss")

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.model_gen(batch[0])


class Model(ConfigurableOptimizersMixin, Full):
    """SGD halving its lr after every epoch."""

    optimizer = OptimizerSpec(
        "sgd",
        lr=0.1,
        momentum=0.9,
        implementation="forloop",
        scheduler=SchedulerSpec("step", step_size=1, gamma=0.5),
    )


class Reference(Full):
    """``Model`` written by hand, as Lightning documents it."""

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9, foreach=False)
        return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)]


class WithBackbone(Full):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = self.model_gen.layer1  # what ``BackboneFinetuning`` freezes, then trains


class BackboneModel(ConfigurableOptimizersMixin, WithBackbone):
    optimizer = OptimizerSpec(
        "sgd",
        lr=0.1,
        momentum=0.9,
        implementation="forloop",
        scheduler=SchedulerSpec("step", step_size=1, gamma=0.5),
    )


def floats(lrs: dict[str, Any]) -> dict[str, list[float]]:
    return {key: [float(v) for v in values] for key, values in lrs.items()}


def by_epoch(directory: Path) -> list[Path]:
    """The checkpoints ``ModelCheckpoint`` wrote, in epoch order."""
    return sorted(directory.glob("*.ckpt"), key=lambda p: int(re.findall(r"epoch=(\d+)", p.name)[0]))


def resumes_exactly(
    make: Callable[[], L.LightningModule],
    callbacks: Callable[[], list[L.Callback]],
    tmp_path: Path,
    *,
    epochs: int,
    resume_after: int,
) -> tuple[LRMonitor, LRMonitor]:
    """Train ``epochs`` epochs, then resume from the checkpoint after epoch ``resume_after``: both runs end
    alike. Returns the ``LRMonitor`` of the uninterrupted and of the resumed run."""
    full_model, full_monitor = make(), LRMonitor()
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1)
    with no_logger():
        full = fit(
            full_model,
            max_epochs=epochs,
            callbacks=[*callbacks(), full_monitor, checkpoint],
            enable_checkpointing=True,
        )
    resumed_model, resumed_monitor = make(), LRMonitor()
    with no_logger():
        resumed = fit_resumed(
            resumed_model,
            str(by_epoch(tmp_path / "ckpt")[resume_after]),
            max_epochs=epochs,
            callbacks=[*callbacks(), resumed_monitor],
        )
    done = len(full.history) - len(resumed.history)
    assert done > 0
    assert resumed.history == full.history[done:]
    assert_same_weights(resumed_model, full_model)
    return full_monitor, resumed_monitor


def both_monitors(tmp_path: Path, **kwargs: Any) -> tuple[LRMonitor, LearningRateMonitor, dict[str, Any]]:
    ours, theirs = LRMonitor(**kwargs), LearningRateMonitor(**kwargs)
    return ours, theirs, {"callbacks": [ours, theirs], "logger": CSVLogger(tmp_path)}


# -- StochasticWeightAveraging -----------------------------------------------------------------------


def swa() -> list[L.Callback]:
    return [StochasticWeightAveraging(swa_lrs=0.04, swa_epoch_start=2, annealing_epochs=2)]


def test_stochastic_weight_averaging_lrs_match_lightnings_monitor(tmp_path: Path) -> None:
    ours, theirs, options = both_monitors(tmp_path)
    fit(Model(), max_epochs=5, **{**options, "callbacks": [*swa(), *options["callbacks"]]})
    lightning = floats(theirs.lrs)
    # from epoch 2 SWA swaps the declared StepLR for its SWALR, whose config has no name: Lightning's monitor
    # names it after the optimizer's class from then on, LRMonitor keeps the declared key
    assert list(lightning) == ["lr-optimizer", "lr-SGD"]
    assert floats(ours.lrs) == {"lr-optimizer": lightning["lr-optimizer"] + lightning["lr-SGD"]}
    # StepLR: 0.1, 0.05; then SWALR anneals from 0.025 (the lr it took over) to swa_lrs=0.04 in 2 epochs
    assert ours.lrs["lr-optimizer"][:2] == pytest.approx([0.1, 0.05])
    assert ours.lrs["lr-optimizer"][-1] == pytest.approx(0.04)


def _swalr_state_loads_weights_only() -> bool:
    """Whether the installed torch's ``SWALR`` state loads with ``weights_only=True``: up to some releases it
    holds ``anneal_func``, a bound method (pytorch #163105), and no Lightning can resume SWA there, with or
    without this package."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    buffer = io.BytesIO()
    torch.save(torch.optim.swa_utils.SWALR(optimizer, swa_lr=0.01).state_dict(), buffer)
    buffer.seek(0)
    try:
        torch.load(buffer, weights_only=True)
    except pickle.UnpicklingError:
        return False
    return True


@pytest.mark.parametrize(
    "resume_after",
    [
        0,
        pytest.param(
            2,
            marks=pytest.mark.skipif(
                not _swalr_state_loads_weights_only(),
                reason=f"torch {torch.__version__}'s SWALR state does not load with weights_only=True "
                "(pytorch #163105): Lightning cannot resume during SWA here, without this package too",
            ),
        ),
    ],
    ids=["before_swa", "during_swa"],
)
def test_stochastic_weight_averaging_resumes_exactly(resume_after: int, tmp_path: Path) -> None:
    full, resumed = resumes_exactly(Model, swa, tmp_path, epochs=5, resume_after=resume_after)
    assert list(resumed.lrs) == ["lr-optimizer"]
    assert list(resumed.lrs["lr-optimizer"]) == full.lrs["lr-optimizer"][resume_after + 1 :]


class WarmupModel(ConfigurableOptimizersMixin, Full):
    """A per-step cosine after a 2-step warmup."""

    optimizer = OptimizerSpec(
        "sgd",
        lr=0.1,
        momentum=0.9,
        implementation="forloop",
        scheduler=SchedulerSpec("cosine", T_max=18, warmup=2, interval="step"),
    )


class WarmupReference(Full):
    """``WarmupModel`` written by hand."""

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9, foreach=False)
        schedulers = torch.optim.lr_scheduler
        warmup = schedulers.LinearLR(optimizer, 1 / 3, 1.0, total_iters=2)
        cosine = schedulers.CosineAnnealingLR(optimizer, T_max=18)
        sequential = schedulers.SequentialLR(optimizer, [warmup, cosine], milestones=[2])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": sequential, "interval": "step"}}


class OneCycleModel(ConfigurableOptimizersMixin, Full):
    """``OneCycleLR`` over the whole run (its length derived)."""

    optimizer = OptimizerSpec(
        "sgd",
        lr=0.1,
        momentum=0.9,
        implementation="forloop",
        scheduler=SchedulerSpec("onecycle", max_lr=0.1, interval="step"),
    )


class WarmupEpochModel(ConfigurableOptimizersMixin, Full):
    """``StepLR`` after a 1-epoch warmup."""

    optimizer = OptimizerSpec(
        "sgd",
        lr=0.1,
        momentum=0.9,
        implementation="forloop",
        scheduler=SchedulerSpec("step", step_size=1, gamma=0.5, warmup=1),
    )


@pytest.mark.skipif(
    not _swalr_state_loads_weights_only(),
    reason=f"torch {torch.__version__}'s SWALR state does not load with weights_only=True (pytorch #163105)",
)
@pytest.mark.parametrize(
    ("make", "resume_after"),
    [
        (WarmupModel, 2),
        (OneCycleModel, 2),
        (WarmupEpochModel, 2),
        (WarmupEpochModel, 3),
        (WarmupReference, 2),
    ],
    ids=["warmup", "onecycle", "warmup_epochs", "warmup_epochs_last_epoch", "hand_written"],
)
def test_stochastic_weight_averaging_resumed_during_swa_leaves_the_displaced_schedule_alone(
    make: Callable[[], L.LightningModule], resume_after: int, tmp_path: Path
) -> None:
    """Resumed during SWA, the declared schedule (which SWA's ``SWALR`` displaced) gets no checkpoint state:
    it neither applies its warmup or ``OneCycleLR`` start to the groups (``SWALR`` anneals from the
    checkpoint's lr) nor is its warmup checked against the run left, as with a hand-written module."""
    resumes_exactly(make, swa, tmp_path, epochs=5, resume_after=resume_after)


def one_cycle(total_steps: int) -> type[L.LightningModule]:
    class OneCycleUntilSWA(ConfigurableOptimizersMixin, Full):
        optimizer = OptimizerSpec(
            "sgd",
            lr=0.1,
            implementation="forloop",
            scheduler=SchedulerSpec("onecycle", max_lr=0.1, total_steps=total_steps, interval="step"),
        )

    return OneCycleUntilSWA


class OneCycleUntilSWAReference(Full):
    """A ``OneCycleLR`` sized to the 4 steps before SWA takes over (``swa()``: from epoch 1), by hand."""

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1, foreach=False)
        one_cycle = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=4)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": one_cycle, "interval": "step"}}


def test_stochastic_weight_averaging_one_cycle_needs_to_cover_only_the_steps_before_swa() -> None:
    """SWA replaces the scheduler at ``swa_epoch_start``: an explicit ``OneCycleLR`` length covering the
    steps before then trains as by hand, one step shorter is refused, and without SWA the whole run counts."""
    declared, reference = one_cycle(4)(), OneCycleUntilSWAReference()
    ours = fit(declared, max_epochs=5, callbacks=swa())
    theirs = fit(reference, max_epochs=5, callbacks=swa())
    assert ours.history == theirs.history
    assert_same_weights(declared, reference)
    with pytest.raises(
        ValueError,
        match=r"cover the 4 steps the run takes it until `StochasticWeightAveraging` displaces it at epoch 1 "
        r"but got `total_steps=3`",
    ):
        fit(one_cycle(3)(), max_epochs=5, callbacks=swa())
    with pytest.raises(ValueError, match=r"to cover the 20 steps the run takes it but got `total_steps=4`"):
        fit(one_cycle(4)(), max_epochs=5)


class WithBatchNorm(Full):
    """``Full`` with a BatchNorm: SWA adds an epoch to the fit loop's ``max_epochs`` to update its statistics."""

    def __init__(self) -> None:
        super().__init__()
        self.model_gen = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4))


class CosineWithBatchNorm(ConfigurableOptimizersMixin, WithBatchNorm):
    """A per-step cosine over the whole run (its length derived)."""

    optimizer = OptimizerSpec(
        "sgd", lr=0.1, implementation="forloop", scheduler=SchedulerSpec("cosine", interval="step")
    )


class OneCycleWithBatchNorm(ConfigurableOptimizersMixin, WithBatchNorm):
    """``OneCycleLR`` over the whole run (its length derived)."""

    optimizer = OptimizerSpec(
        "sgd",
        lr=0.1,
        implementation="forloop",
        scheduler=SchedulerSpec("onecycle", max_lr=0.1, interval="step"),
    )


class CosineWithBatchNormReference(WithBatchNorm):
    """``CosineWithBatchNorm`` by hand: ``T_max`` from the Trainer in ``configure_optimizers``."""

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1, foreach=False)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=self.trainer.estimated_stepping_batches
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": cosine, "interval": "step"}}


class OneCycleWithBatchNormReference(WithBatchNorm):
    """``OneCycleWithBatchNorm`` by hand, as Lightning documents it."""

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1, foreach=False)
        one_cycle = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=0.1, total_steps=self.trainer.estimated_stepping_batches
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": one_cycle, "interval": "step"}}


@pytest.mark.parametrize(
    ("make", "reference"),
    [
        (CosineWithBatchNorm, CosineWithBatchNormReference),
        (OneCycleWithBatchNorm, OneCycleWithBatchNormReference),
    ],
    ids=["cosine", "onecycle"],
)
def test_stochastic_weight_averaging_with_batch_norm_derives_the_runs_own_length(
    make: Callable[[], L.LightningModule], reference: Callable[[], L.LightningModule]
) -> None:
    """For a model with BatchNorm, SWA adds an epoch to the fit loop (its BatchNorm update) when the fit starts:
    a derived length is the run's own 20 steps, as the hand-written module's from ``estimated_stepping_batches``
    in ``configure_optimizers`` (before SWA adds it), not 24."""
    declared, written = make(), reference()
    ours = fit(declared, max_epochs=5, callbacks=swa())
    theirs = fit(written, max_epochs=5, callbacks=swa())
    assert len(ours.history) == 4 * 6  # 5 epochs, and SWA's BatchNorm epoch
    assert ours.history == theirs.history
    assert_same_weights(declared, written)


@pytest.mark.parametrize("resume_after", [0, 1], ids=["first_epoch", "before_swa"])
def test_stochastic_weight_averaging_with_batch_norm_resumes_exactly(
    resume_after: int, tmp_path: Path
) -> None:
    """Resumed, the run's facts (its ``max_epochs`` without SWA's BatchNorm epoch) are the checkpoint's: the
    same setup, the same derived length."""
    resumes_exactly(OneCycleWithBatchNorm, swa, tmp_path, epochs=5, resume_after=resume_after)


class ManualStep(Full):
    """The tiny classifier's training step written for manual optimization."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        optimizer = self.optimizers()
        optimizer.zero_grad()
        self.manual_backward(nn.functional.cross_entropy(self.model_gen(x), y))
        optimizer.step()


class ManualModel(ConfigurableOptimizersMixin, ManualStep):
    optimizer = Model.optimizer


class LossModel(ConfigurableOptimizersMixin, L.LightningModule):
    """``Model`` with ``loss=``: the mixin writes the training step (manual optimization under the hood)."""

    optimizer = OptimizerSpec(
        "sgd",
        lr=0.1,
        momentum=0.9,
        implementation="forloop",
        loss="compute_loss",
        scheduler=SchedulerSpec("step", step_size=1, gamma=0.5),
    )

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model_gen = Net()

    def compute_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.model_gen(x), y)


class ManualReference(ManualStep):
    """``ManualModel`` written by hand: it steps whatever scheduler Lightning holds (SWA's ``SWALR`` from
    ``swa_epoch_start`` on) at every epoch's end."""

    configure_optimizers = Reference.configure_optimizers

    def on_train_epoch_end(self) -> None:
        self.lr_schedulers().step()


@pytest.mark.parametrize("make", [ManualModel, LossModel], ids=["manual", "loss"])
def test_stochastic_weight_averaging_in_manual_optimization_steps_swalr(
    make: Callable[[], L.LightningModule],
) -> None:
    """In manual optimization the mixin steps ``SWALR`` in the place of the schedule SWA displaced, as
    Lightning does in automatic optimization and a hand-written manual module does."""
    declared, reference, automatic = make(), ManualReference(), Model()
    ours = fit(declared, max_epochs=5, callbacks=swa())
    theirs = fit(reference, max_epochs=5, callbacks=swa())
    assert ours.history == theirs.history == fit(automatic, max_epochs=5, callbacks=swa()).history
    # StepLR: 0.1, 0.05; then SWALR anneals to swa_lrs=0.04 in 2 epochs (StepLR would go on halving)
    assert ours.of()[::4] == pytest.approx([0.1, 0.05, 0.045, 0.04, 0.04])
    assert_same_weights(declared, reference)


@pytest.mark.skipif(
    not _swalr_state_loads_weights_only(),
    reason=f"torch {torch.__version__}'s SWALR state does not load with weights_only=True (pytorch #163105)",
)
@pytest.mark.parametrize("make", [ManualModel, LossModel], ids=["manual", "loss"])
def test_stochastic_weight_averaging_in_manual_optimization_resumes_exactly(
    make: Callable[[], L.LightningModule], tmp_path: Path
) -> None:
    resumes_exactly(make, swa, tmp_path, epochs=5, resume_after=2)


class TwoOptimizers(ConfigurableOptimizersMixin, TwoNetsByName):
    gen_opt = OptimizerSpec("sgd", params="model_gen", lr=0.1, scheduler=SchedulerSpec("step", step_size=1))
    dis_opt = OptimizerSpec("sgd", params="model_dis", lr=0.1)


def test_stochastic_weight_averaging_with_several_optimizers_is_refused_before_training() -> None:
    """Lightning's SWA averages one optimizer's model and swaps one scheduler: it refuses several optimizers
    when the fit starts, before any step (with the mixin too)."""
    model, untrained = TwoOptimizers(), TwoOptimizers()
    with pytest.raises(MisconfigurationException, match=r"SWA currently works with 1 `optimizer`"):
        fit(model, max_epochs=2, callbacks=swa())
    assert_same_weights(model, untrained)


# -- BackboneFinetuning ------------------------------------------------------------------------------


def backbone() -> list[L.Callback]:
    return [BackboneFinetuning(unfreeze_backbone_at_epoch=1)]


def test_backbone_finetuning_group_added_mid_run_gets_keys(tmp_path: Path) -> None:
    ours, theirs, options = both_monitors(tmp_path)
    model = BackboneModel()
    frozen = weights(model.backbone)
    fit(model, max_epochs=3, **{**options, "callbacks": [*backbone(), *options["callbacks"]]})
    assert list(ours.lrs) == ["lr-optimizer/pg1", "lr-optimizer/pg2"]
    assert floats(ours.lrs) == floats(theirs.lrs)
    # the backbone's group joins at epoch 1 (BackboneFinetuning sets its lr), the schedule goes on
    assert [len(values) for values in ours.lrs.values()] == [3, 2]
    assert ours.lrs["lr-optimizer/pg1"] == pytest.approx([0.1, 0.05, 0.025])
    assert any(not torch.equal(frozen[k], v) for k, v in weights(model.backbone).items())


class BackboneReference(WithBackbone):
    """``BackboneModel`` written by hand: the optimizer takes the parameters left trainable."""

    def configure_optimizers(self) -> Any:
        trainable = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(trainable, lr=0.1, momentum=0.9, foreach=False)
        return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)]


def test_backbone_finetuning_resumes_like_lightning(tmp_path: Path) -> None:
    """The lrs continue exactly; the weights as with a hand-written module.

    Resumed after the unfreezing epoch, Lightning's ``BackboneFinetuning`` restores the backbone's param
    group but not ``requires_grad`` (it unfreezes only at ``unfreeze_backbone_at_epoch``), so the resumed
    run's backbone stays frozen and its weights differ from the uninterrupted run's, with or without the mixin
    (Lightning 2.6.6).
    """
    runs: dict[str, Any] = {}
    for name, make in (("declared", BackboneModel), ("reference", BackboneReference)):
        checkpoints = tmp_path / name
        full_model, full_monitor = make(), LRMonitor()
        callbacks = [*backbone(), full_monitor, ModelCheckpoint(dirpath=checkpoints, save_top_k=-1)]
        with no_logger():
            full = fit(full_model, max_epochs=4, callbacks=callbacks, enable_checkpointing=True)
        resumed_model, resumed_monitor = make(), LRMonitor()
        with no_logger():
            resumed = fit_resumed(
                resumed_model,
                str(by_epoch(checkpoints)[1]),
                max_epochs=4,
                callbacks=[*backbone(), resumed_monitor],
            )
        assert resumed.history == full.history[8:]
        runs[name] = (full_model, resumed_model, full_monitor, resumed_monitor)
    (full, resumed, full_monitor, resumed_monitor), (full_ref, resumed_ref, *_) = runs.values()
    assert_same_weights(full, full_ref)
    assert_same_weights(resumed, resumed_ref)
    assert list(resumed_monitor.lrs) == ["lr-optimizer/pg1", "lr-optimizer/pg2"]
    assert floats(resumed_monitor.lrs) == {
        key: values[-2:]
        for key, values in floats(full_monitor.lrs).items()  # epochs 2 and 3
    }


# -- EMAWeightAveraging ------------------------------------------------------------------------------


@pytest.mark.skipif(
    not hasattr(callbacks, "EMAWeightAveraging"), reason="this Lightning has no EMAWeightAveraging"
)
def test_ema_weight_averaging_trains_like_a_hand_written_module(tmp_path: Path) -> None:
    EMAWeightAveraging = callbacks.EMAWeightAveraging
    ours, theirs, options = both_monitors(tmp_path)
    model, reference = Model(), Reference()
    fit(
        model,
        max_epochs=3,
        **{**options, "callbacks": [EMAWeightAveraging(decay=0.5), *options["callbacks"]]},
    )
    fit(reference, max_epochs=3, callbacks=[EMAWeightAveraging(decay=0.5)])
    assert floats(ours.lrs) == floats(theirs.lrs) == {"lr-optimizer": [0.1, 0.05, 0.025]}
    assert_same_weights(model, reference)
    assert any(not torch.equal(a, b) for a, b in zip(weights(model).values(), weights(Model()).values()))


# -- ModelCheckpoint, EarlyStopping ------------------------------------------------------------------


def test_model_checkpoint_resumes_exactly(tmp_path: Path) -> None:
    _full, resumed = resumes_exactly(Model, list, tmp_path, epochs=4, resume_after=1)
    assert list(resumed.lrs["lr-optimizer"]) == [0.025, 0.0125]


@pytest.mark.parametrize("monitor", [LRMonitor, LearningRateMonitor])
def test_early_stopping_on_a_learning_rate(monitor: type[L.Callback], tmp_path: Path) -> None:
    # lr 0.1, 0.05, 0.025, 0.0125 logged at each epoch start; below 0.02 counts as diverged (mode "max"),
    # checked at the end of each training epoch: the run stops after epoch 3
    stopping = EarlyStopping(monitor="lr-optimizer", mode="max", divergence_threshold=0.02, patience=100)
    recorder = fit(Model(), max_epochs=10, callbacks=[monitor(), stopping], logger=CSVLogger(tmp_path))
    assert len(recorder.history) == 4 * 4
    assert float(stopping.best_score) == pytest.approx(0.1)


# -- strategies and entry points ---------------------------------------------------------------------


@pytest.mark.slow  # spawning two processes that import torch and Lightning: 50 s on a shared 2-core CPU
@pytest.mark.xdist_group("ddp")
def test_ddp_spawn_on_two_cpu_processes(tmp_path: Path) -> None:
    model = Model()
    before = weights(model)
    monitor = LRMonitor()
    trainer = L.Trainer(
        **{**FAST, "devices": 2},
        strategy="ddp_spawn",
        max_epochs=2,
        limit_train_batches=2,
        callbacks=[monitor, DestroyProcessGroup()],
    )
    trainer.fit(model, loader())
    # rank zero's metrics come back: the lr of the second epoch, after one StepLR step
    assert float(trainer.callback_metrics["lr-optimizer"]) == pytest.approx(0.05)
    assert any(not torch.equal(before[k], v) for k, v in weights(model).items())
    # the histories stayed in the workers: plotting here says so instead of "call it after fit"
    assert monitor.lrs == {}
    with pytest.raises(ValueError, match=r"pickled .* `strategy=\"ddp_spawn\"` .* stay in those processes"):
        monitor.plot(tmp_path / "lr.png")


class Quiet(Model):
    """``Model`` without ``self.log`` in ``training_step``: dynamo cannot trace Lightning's ``log`` (it fails
    inside ``inspect.getfullargspec``, with or without the mixin, torch 2.13 and Lightning 2.6.6)."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.model_gen(x), y)


@pytest.mark.slow  # compiling the training step's forward and backward takes 30-80 s on a shared CPU
def test_a_compiled_module(tmp_path: Path) -> None:
    ours, theirs, options = both_monitors(tmp_path)
    model = Quiet()
    before = weights(model)
    fit(torch.compile(model), max_epochs=2, limit_train_batches=2, **options)  # type: ignore[arg-type]
    assert floats(ours.lrs) == floats(theirs.lrs) == {"lr-optimizer": [0.1, 0.05]}
    assert any(not torch.equal(before[k], v) for k, v in weights(model).items())


def test_init_module() -> None:
    monitor = LRMonitor()
    trainer = L.Trainer(**FAST, max_epochs=2, callbacks=[monitor])
    with trainer.init_module():
        model = Model()
    with no_logger():
        trainer.fit(model, loader())
    assert monitor.lrs == {"lr-optimizer": [0.1, 0.05]}


def test_load_from_checkpoint_then_fit(tmp_path: Path) -> None:
    first = Model()
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_top_k=-1)
    fit(first, max_epochs=1, callbacks=[checkpoint], enable_checkpointing=True)
    [path] = by_epoch(tmp_path)
    loaded = Model.load_from_checkpoint(path)
    assert_same_weights(loaded, first)
    # a fresh fit of the loaded weights starts the schedule anew; one resumed from the file continues it
    fresh, resumed = LRMonitor(), LRMonitor()
    with no_logger():
        fit(loaded, max_epochs=2, callbacks=[fresh])
    assert fresh.lrs == {"lr-optimizer": [0.1, 0.05]}
    with no_logger():
        fit_resumed(Model.load_from_checkpoint(path), str(path), max_epochs=2, callbacks=[resumed])
    assert resumed.lrs == {"lr-optimizer": [0.05]}


@pytest.mark.parametrize("from_checkpoint", [False, True], ids=["fresh", "checkpoint"])
def test_validate_test_and_predict_without_training(from_checkpoint: bool, tmp_path: Path) -> None:
    ckpt_path = None
    if from_checkpoint:
        checkpoint = ModelCheckpoint(dirpath=tmp_path, save_top_k=-1)
        fit(Model(), max_epochs=1, callbacks=[checkpoint], enable_checkpointing=True)
        ckpt_path = str(by_epoch(tmp_path)[0])
    monitor = LRMonitor()
    trainer = L.Trainer(**FAST, callbacks=[monitor])
    model = Model()
    [validated] = trainer.validate(model, loader(), ckpt_path=ckpt_path)
    [tested] = trainer.test(model, loader(), ckpt_path=ckpt_path)
    predictions = trainer.predict(model, loader(), ckpt_path=ckpt_path)
    assert validated["val_loss"] == pytest.approx(tested["test_loss"])
    assert predictions is not None and len(predictions) == 4
    assert monitor.lrs == {}
