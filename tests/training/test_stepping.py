"""Manual optimization steps the declared schedulers where Lightning's automatic loop steps them
(``training/stepping.py``), compared against hand-written automatic modules on real runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import LearningRateFinder, ModelCheckpoint
from lightning.pytorch.plugins import MixedPrecision
from lightning.pytorch.tuner import Tuner
from torch import nn
from torch.optim import SGD
from torch.optim.lr_scheduler import CosineAnnealingLR, ExponentialLR, OneCycleLR, StepLR

from lightning_optim import ConfigurableOptimizersMixin, HParam, OptimizerSpec, SchedulerSpec
from lightning_optim.training.outcomes import StepOutcomes
from tests.helpers import (
    FAST,
    Classifier,
    LrRecorder,
    TwoLosses,
    TwoNetsByName,
    assert_same_weights,
    fit_resumed,
    loader,
    needs_lr_finder_fix,
    weights,
)

STEP_LR = SchedulerSpec("step", step_size=1, gamma=0.5)
#: the loss mostly falls: every update after the first halves the lr
PLATEAU = SchedulerSpec("plateau", monitor="train_loss", mode="max", patience=0, factor=0.5)


class StopAt(L.Callback):
    """Stops training after global step ``step``, mid-epoch, as ``Timer``/``max_time``/``EarlyStopping`` do."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step:
            trainer.should_stop = True


def hand_written(plateau: bool) -> L.LightningModule:
    """Lightning's own per-epoch scheduler config, automatic optimization."""

    class Hand(Classifier):
        def configure_optimizers(self) -> Any:
            optimizer = SGD(self.parameters(), lr=1.0)
            if plateau:
                scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                    optimizer, mode="max", patience=0, factor=0.5
                )
                return {
                    "optimizer": optimizer,
                    "lr_scheduler": {"scheduler": scheduler, "monitor": "train_loss"},
                }
            return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, 1, 0.5)]

    return Hand()


class Manual(ConfigurableOptimizersMixin, Classifier):
    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch: Any, batch_idx: int) -> None:
        opt = self.optimizer
        opt.zero_grad()
        self.manual_backward(Classifier.training_step(self, batch, batch_idx))
        opt.step()


class Pair(ConfigurableOptimizersMixin, TwoNetsByName):
    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("train_loss", nn.functional.cross_entropy(self.model_gen(x), y))  # as `Classifier` logs it
        super().training_step(batch, batch_idx)


class Driven(ConfigurableOptimizersMixin, TwoLosses):
    def gen_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = super().gen_loss(batch, batch_idx)
        self.log("train_loss", loss)  # as `Classifier` logs it
        return loss


def declared(kind: str, plateau: bool) -> L.LightningModule:
    """The mixin module of ``kind`` with the per-epoch scheduler on its (first) optimizer at lr 1.0."""
    scheduler = PLATEAU if plateau else STEP_LR
    if kind == "automatic":
        return type(
            "A",
            (ConfigurableOptimizersMixin, Classifier),
            {"optimizer": OptimizerSpec(SGD, lr=1.0, scheduler=scheduler)},
        )()
    if kind == "manual":
        return type("M", (Manual,), {"optimizer": OptimizerSpec(SGD, lr=1.0, scheduler=scheduler)})()
    gen = {"loss": "gen_loss"} if kind == "driven" else {}
    dis = {"loss": "dis_loss"} if kind == "driven" else {}
    attributes = {
        "gen_opt": OptimizerSpec(SGD, params="model_gen", lr=1.0, scheduler=scheduler, **gen),
        "dis_opt": OptimizerSpec(SGD, params="model_dis", lr=0.1, **dis),
    }
    return type("P", (Driven if kind == "driven" else Pair,), attributes)()


def cuts(steps: int) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """A first run cut mid-epoch at batch 1 of epoch 1 (4 batches an epoch), and how it is resumed, for a
    module taking ``steps`` optimizer steps a batch (each counts in Lightning's global step)."""
    return {
        "stopped, resumed by epochs": ({"callbacks": [StopAt(6 * steps)]}, {"max_epochs": 4}),
        "stopped, resumed by steps": ({"callbacks": [StopAt(6 * steps)]}, {"max_steps": 14 * steps}),
        "max_steps, resumed by steps": ({"max_steps": 6 * steps}, {"max_steps": 14 * steps}),
        "max_steps, resumed by epochs": ({"max_steps": 6 * steps}, {"max_epochs": 4}),
    }


CUTS = list(cuts(1))


def lr_trajectory(
    module_of: Any, cut: str, tmp_path: Path, steps: int = 1
) -> tuple[list[float], float, list[float], float]:
    """The lr of the first optimizer at every batch of the cut run and of its resumed run, with the lr each
    run leaves (what its checkpoint holds)."""
    first, second = cuts(steps)[cut]
    checkpoints = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    callbacks = [checkpoints, *first.get("callbacks", [])]
    options = {"max_epochs": 4, **{k: v for k, v in first.items() if k != "callbacks"}}
    module = module_of()
    cut_run = fit_resumed(module, None, callbacks=callbacks, enable_checkpointing=True, **options)
    left = float(module.trainer.optimizers[0].param_groups[0]["lr"])
    resumed_module = module_of()
    resumed = fit_resumed(resumed_module, str(tmp_path / "last.ckpt"), **second)
    return cut_run.of(), left, resumed.of(), float(resumed_module.trainer.optimizers[0].param_groups[0]["lr"])


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("kind", ["automatic", "manual", "pair", "driven"])
@pytest.mark.parametrize("plateau", [False, True], ids=["StepLR", "plateau"])
def test_a_per_epoch_scheduler_skips_an_epoch_cut_short_as_lightning_does(
    kind: str, cut: str, plateau: bool, tmp_path: Path
) -> None:
    """Lightning steps per-epoch schedulers only after an epoch that ran all its batches; a run stopped or
    ending at ``max_steps`` mid-epoch leaves the schedule as it was (the checkpoint too), and the resumed run
    goes on exactly as Lightning's."""
    expected = lr_trajectory(lambda: hand_written(plateau), cut, tmp_path / "hand")
    steps = 1 if kind in ("automatic", "manual") else 2
    got = lr_trajectory(lambda: declared(kind, plateau), cut, tmp_path / "mixin", steps)
    if plateau and cut.endswith("by steps"):
        # Lightning goes on with the cut epoch, and skips its plateau update at the end (restarting: it has no
        # metric); the mixin, as for any epoch resumed mid-way, takes it with the metric of the batches it ran
        got, expected = got[:2], expected[:2]
    assert got == expected


class IdleFirstEpochByHand(Pair):
    """The generator trains from epoch 1 on (a hand-written loop that skips ``gen_opt.step()`` in epoch 0), a
    per-step plateau on its logged loss. (A ``loss=`` method returning ``None`` is a step with nothing to apply,
    after which the plateau's update is due: no way to leave an optimizer idle for an epoch.)"""

    gen_opt = OptimizerSpec(
        SGD,
        params="model_gen",
        lr=1.0,
        scheduler=SchedulerSpec(
            "plateau", monitor="loss/gen_opt", interval="step", mode="max", patience=0, factor=0.5
        ),
    )
    dis_opt = OptimizerSpec(SGD, params="model_dis", lr=0.1)

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        pairs = [(self.model_dis, self.dis_opt)] + [(self.model_gen, self.gen_opt)] * (self.current_epoch > 0)
        for net, opt in pairs:
            loss = nn.functional.cross_entropy(net(x), y)
            if net is self.model_gen:
                self.log("loss/gen_opt", loss)
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()


class LoggedLosses(L.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.current_epoch > 0:
            self.losses.append(float(trainer.callback_metrics["loss/gen_opt"]))


def test_a_per_step_plateau_of_an_optimizer_idle_for_an_epoch_owes_no_metric() -> None:
    """No update of the plateau was due in epoch 0, so its metric missing then is no error; from epoch 1 on it
    takes one update per step with the loss logged, as torch's ``ReduceLROnPlateau`` fed those losses does."""
    logged = LoggedLosses()
    recorder = fit_resumed(IdleFirstEpochByHand(), None, max_epochs=3, callbacks=[logged])
    optimizer = SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", patience=0, factor=0.5)
    expected = [1.0] * 4
    for loss in logged.losses:
        expected.append(optimizer.param_groups[0]["lr"])
        reference.step(loss)
    assert len(logged.losses) == 8
    assert recorder.of(0) == expected


class ManualTunable(Classifier):
    """One optimizer in manual optimization, its ``lr`` in ``hparams`` (where the LR finder writes), returning
    its loss (which the LR finder reads)."""

    def __init__(self, lr: float = 0.1) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.save_hyperparameters()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = Classifier.training_step(self, batch, batch_idx)
        opt = self.optimizers()
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()
        self.after_step()
        return loss

    def after_step(self) -> None:
        pass


#: the schedules of the LR finder tests: Lightning's docs' per-step decay, and a cosine over the run
#: (``T_max`` counted from the run's steps, which the trial run's steps must not add to)
FINDER_SCHEDULES = {
    "exponential": (
        SchedulerSpec("exponential", gamma=0.9, interval="step"),
        lambda opt, trainer: ExponentialLR(opt, gamma=0.9),
    ),
    "cosine": (
        SchedulerSpec("cosine", interval="step"),
        lambda opt, trainer: CosineAnnealingLR(opt, T_max=int(trainer.estimated_stepping_batches)),
    ),
}


def finder_modules(schedule: str) -> tuple[ManualTunable, ManualTunable]:
    """The mixin module declaring ``schedule`` and its hand-written manual twin, which steps its scheduler
    through ``self.lr_schedulers()`` after ``opt.step()`` as Lightning's docs tell a manual module to."""
    spec, make = FINDER_SCHEDULES[schedule]

    class Hand(ManualTunable):
        def configure_optimizers(self) -> Any:
            opt = SGD(self.parameters(), lr=self.hparams.lr, foreach=False)
            return {
                "optimizer": opt,
                "lr_scheduler": {"scheduler": make(opt, self.trainer), "interval": "step"},
            }

        def after_step(self) -> None:
            self.lr_schedulers().step()

    optimizer = OptimizerSpec("sgd", lr=HParam("lr"), implementation="forloop", scheduler=spec)
    return type("Declared", (ConfigurableOptimizersMixin, ManualTunable), {"optimizer": optimizer})(), Hand()


class FinderAtEpochs(LearningRateFinder):
    """Lightning's docs' ``FineTuneLearningRateFinder``: the finder at the start of the epochs ``milestones``."""

    def __init__(self, milestones: tuple[int, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.milestones = milestones

    def on_fit_start(self, *args: Any, **kwargs: Any) -> None:
        return

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch in self.milestones:
            self.lr_find(trainer, pl_module)


def find_and_fit(module: ManualTunable, form: str, tmp_path: Path) -> tuple[Any, LrRecorder]:
    """The LR finder (``form``: ``Tuner.lr_find`` before the fit, the ``LearningRateFinder`` callback, or that
    callback at the start of epoch 1), writing its suggestion, and the fit; the finder and the fit's lrs."""
    recorder = LrRecorder()
    options: dict[str, Any] = {"num_training_steps": 20, "early_stop_threshold": None, "update_attr": True}
    finder = {"callback": LearningRateFinder(**options), "at-epoch-1": FinderAtEpochs((1,), **options)}.get(
        form
    )
    callbacks = [recorder] if finder is None else [recorder, finder]
    # at epoch 1 of 2 the trial run takes no step (its loop is done at `max_epochs`): the finder records nothing
    epochs = 3 if form == "at-epoch-1" else 2
    trainer = L.Trainer(**{**FAST, "max_epochs": epochs}, default_root_dir=tmp_path, callbacks=callbacks)
    data = loader(n=160)
    if finder is None:
        found = Tuner(trainer).lr_find(
            module, train_dataloaders=data, num_training=20, early_stop_threshold=None, update_attr=True
        )
    trainer.fit(module, data)
    return (found if finder is None else finder.optimal_lr), recorder


@pytest.mark.parametrize("schedule", FINDER_SCHEDULES)
@pytest.mark.parametrize(
    "form",
    [
        "tuner",
        pytest.param("callback", marks=needs_lr_finder_fix),
        pytest.param("at-epoch-1", marks=needs_lr_finder_fix),
    ],
)
def test_the_lr_finder_sweeps_a_manual_module_as_a_hand_written_one(
    form: str, schedule: str, tmp_path: Path
) -> None:
    """The LR finder puts its sweep in the place of the module's schedulers for its trial run, where Lightning
    steps no scheduler in manual optimization: the mixin steps it after each optimizer step, as the hand-written
    module's ``self.lr_schedulers().step()`` does, and not the declared schedule it displaced. The sweep, the
    losses, the suggestion and the fit that trains with it are the hand-written module's."""
    ours, theirs = finder_modules(schedule)
    mine, my_lrs = find_and_fit(ours, form, tmp_path / "mixin")
    reference, reference_lrs = find_and_fit(theirs, form, tmp_path / "hand")
    assert len(reference.results["lr"]) == 20 and reference.results["lr"][0] == pytest.approx(1e-8)
    assert mine.results["lr"] == reference.results["lr"]
    assert mine.results["loss"] == reference.results["loss"]
    assert mine.suggestion() == reference.suggestion() != 1e-8
    assert ours.hparams.lr == theirs.hparams.lr == reference.suggestion()
    assert my_lrs.history == reference_lrs.history
    assert_same_weights(ours, theirs)


# -- an optimizer of an earlier fit --------------------------------------------------------------------

#: per step, so an optimizer step taken where its fit's hook still hung would step the schedule with it
PER_STEP_LR = SchedulerSpec(StepLR, step_size=1, gamma=0.5, interval="step")
#: torch's CPU default kernel, so the weights compare by ``torch.equal`` with the hand-written module's
SGD_AS_HAND_WRITTEN = {"momentum": 0.9, "implementation": "forloop"}
STALE_OPTIMIZERS = {
    "explicit length": OptimizerSpec(SGD, lr=1.0, scheduler=STEP_LR, **SGD_AS_HAND_WRITTEN),
    "per step": OptimizerSpec(SGD, lr=1.0, scheduler=PER_STEP_LR, **SGD_AS_HAND_WRITTEN),
    "derived length": OptimizerSpec(
        SGD, scheduler=SchedulerSpec(OneCycleLR, max_lr=1.0, interval="step"), **SGD_AS_HAND_WRITTEN
    ),
}


class Kept(ConfigurableOptimizersMixin, Classifier):
    """Keeps the optimizer of its first ``training_step`` and steps it in every later one, across fits too."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.kept: Any = None
        self.fail_at: int | None = None

    def training_step(self, batch: Any, batch_idx: int) -> None:
        if self.kept is None:
            self.kept = self.optimizer
        if batch_idx == self.fail_at:
            raise RuntimeError("a bug, fixed before the next fit (a notebook's cell run again)")
        self.kept.zero_grad()
        self.manual_backward(Classifier.training_step(self, batch, batch_idx))
        self.kept.step()


def first_fits(how: str, module: Kept) -> L.Trainer:
    """The earlier fit of ``module``, ended as ``how`` says, and the Trainer of its later fit."""
    trainer = L.Trainer(**{**FAST, "max_epochs": 1})
    if how == "after a failed fit":
        module.fail_at = 2
    if how == "after a failed fit":
        with pytest.raises(RuntimeError, match="a bug"):
            trainer.fit(module, loader())
    else:
        trainer.fit(module, loader())
    module.fail_at = None
    if how == "by the same Trainer":
        trainer.fit_loop.max_epochs = 2
        return trainer
    return L.Trainer(**{**FAST, "max_epochs": 1})


@pytest.mark.parametrize("how", ["by a new Trainer", "by the same Trainer", "after a failed fit"])
@pytest.mark.parametrize("spec", list(STALE_OPTIMIZERS.values()), ids=list(STALE_OPTIMIZERS))
def test_an_optimizer_kept_from_an_earlier_fit_is_refused_at_its_first_step_in_a_later_one(
    spec: OptimizerSpec, how: str
) -> None:
    """It would train with the earlier fit's state and lr while this fit's optimizer never steps (its schedule
    advancing without it), or step the earlier fit's finished schedule past its end: refused before it steps."""
    module = type("Model", (Kept,), {"optimizer": spec})()
    later = first_fits(how, module)
    before = weights(module)
    with pytest.raises(ValueError, match=r"^Model: Expected .* `optimizer` .* earlier fit") as refused:
        later.fit(module, loader())
    assert "self.optimizers()" in str(refused.value)
    assert_equal(weights(module), before)  # refused before the step


class HandKept(Classifier):
    """The hand-written manual module of ``Kept`` with a per-step ``StepLR``."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=1.0, momentum=0.9)
        scheduler = StepLR(optimizer, step_size=1, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def training_step(self, batch: Any, batch_idx: int) -> None:
        optimizer: Any = self.optimizers()
        optimizer.zero_grad()
        self.manual_backward(Classifier.training_step(self, batch, batch_idx))
        optimizer.step()
        self.lr_schedulers().step()  # type: ignore[union-attr]


def fine_tuned(module: L.LightningModule) -> tuple[dict[str, torch.Tensor], float]:
    """Fit ``module``, then train it on with its optimizer in a plain torch loop; the weights and lr it ends with."""
    trainer = L.Trainer(**{**FAST, "max_epochs": 1})
    trainer.fit(module, loader())
    optimizer = trainer.optimizers[0]
    for x, y in loader(seed=1):
        optimizer.zero_grad()
        nn.functional.cross_entropy(module.model_gen(x), y).backward()
        optimizer.step()
    return weights(module), optimizer.param_groups[0]["lr"]


def test_an_optimizer_of_a_finished_fit_steps_in_plain_torch_as_a_hand_written_ones_does() -> None:
    """Outside any fit the step is the user's own: no schedule of the fit steps with it, nothing is refused."""
    mixin = type("Model", (Kept,), {"optimizer": STALE_OPTIMIZERS["per step"]})
    got, expected = fine_tuned(mixin()), fine_tuned(HandKept())
    assert got[1] == expected[1]
    assert_equal(got[0], expected[0])


def assert_equal(got: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.equal(got[name], value), name


class KeptSchedule(ConfigurableOptimizersMixin, Classifier):
    """Keeps the schedule of its first ``training_step``; steps it when ``step_kept`` is set (between fits, as a
    notebook's cell is edited and run again)."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.kept: Any = None
        self.step_kept = False

    def training_step(self, batch: Any, batch_idx: int) -> None:
        optimizer: Any = self.optimizers()
        if self.kept is None:
            self.kept = self.lr_schedulers()
        optimizer.zero_grad()
        self.manual_backward(Classifier.training_step(self, batch, batch_idx))
        optimizer.step()
        if self.step_kept:
            self.kept.step()


@pytest.mark.parametrize("spec", list(STALE_OPTIMIZERS.values()), ids=list(STALE_OPTIMIZERS))
def test_a_schedule_kept_from_an_earlier_fit_is_refused_at_its_first_step_in_a_later_one(
    spec: OptimizerSpec,
) -> None:
    """It schedules the earlier fit's optimizer, which this fit does not step (a no-op, or torch's error past a
    derived length), where the mixin steps this fit's schedule itself."""
    module = type("Model", (KeptSchedule,), {"optimizer": spec})()
    L.Trainer(**{**FAST, "max_epochs": 1}).fit(module, loader())
    module.step_kept = True
    expected = (
        r"^Model\.optimizer\.scheduler: Expected the schedules stepped in this fit to be the ones it built"
    )
    with pytest.raises(ValueError, match=expected):
        L.Trainer(**{**FAST, "max_epochs": 2}).fit(module, loader())


@needs_lr_finder_fix
def test_the_lr_finder_leaves_a_per_step_plateau_no_updates_owed(tmp_path: Path) -> None:
    """A declared per-step plateau displaced by the LR finder's sweep takes no update in the trial run: the
    trial's steps are not owed to it after, and the fit trains at the suggestion as in automatic
    optimization (the same declaration, whose trial run Lightning steps)."""
    spec = OptimizerSpec(
        "sgd",
        lr=HParam("lr"),
        implementation="forloop",
        scheduler=SchedulerSpec("plateau", monitor="train_loss", interval="step", patience=2, factor=0.5),
    )

    class Automatic(ManualTunable):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = True

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            return Classifier.training_step(self, batch, batch_idx)

    fits = []
    for base in (ManualTunable, Automatic):
        module = type("Declared", (ConfigurableOptimizersMixin, base), {"optimizer": spec})()
        finder = LearningRateFinder(num_training_steps=20, early_stop_threshold=None, update_attr=True)
        recorder = LrRecorder()
        trainer = L.Trainer(
            **{**FAST, "max_epochs": 1},
            max_steps=8,
            default_root_dir=tmp_path / base.__name__,
            callbacks=[finder, recorder],
        )
        trainer.fit(module, loader(n=160))
        fits.append((finder.optimal_lr.suggestion(), recorder.of()))
    (manual_suggestion, manual_lrs), (automatic_suggestion, automatic_lrs) = fits
    assert manual_suggestion == automatic_suggestion != 1e-8
    assert manual_lrs[0] == pytest.approx(manual_suggestion)
    assert manual_lrs == automatic_lrs


def test_the_lr_finder_sweep_does_not_wait_for_a_fused_steps_outcome(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A fused step under a ``GradScaler`` is decided on the device (tested on CPU with ``defer_on_cpu``), where
    the declared schedules wait for its outcome: the LR finder's sweep does not, as the hand-written manual
    module's ``self.lr_schedulers().step()`` does not. It records each loss with the lr that step trained at,
    not the one before."""
    monkeypatch.setattr(StepOutcomes, "defer_on_cpu", True)

    class Hand(ManualTunable):
        def configure_optimizers(self) -> Any:
            opt = SGD(self.parameters(), lr=self.hparams.lr, fused=True)
            return {
                "optimizer": opt,
                "lr_scheduler": {"scheduler": ExponentialLR(opt, 0.9), "interval": "step"},
            }

        def after_step(self) -> None:
            self.lr_schedulers().step()

    optimizer = OptimizerSpec(
        "sgd",
        lr=HParam("lr"),
        implementation="fused",
        scheduler=SchedulerSpec("exponential", gamma=0.9, interval="step"),
    )
    declared = type("Declared", (ConfigurableOptimizersMixin, ManualTunable), {"optimizer": optimizer})
    found = []
    for module in (declared(), Hand()):
        trainer = L.Trainer(
            **{**FAST, "max_epochs": 1},
            plugins=[MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))],
            default_root_dir=tmp_path / type(module).__name__,
        )
        found.append(
            Tuner(trainer).lr_find(
                module, train_dataloaders=loader(n=160), num_training=20, early_stop_threshold=None
            )
        )
    mine, reference = found
    assert len(reference.results["lr"]) == 20 and reference.results["lr"][1] > reference.results["lr"][0]
    assert mine.results["lr"] == reference.results["lr"]
    assert mine.results["loss"] == reference.results["loss"]
    assert mine.suggestion() == reference.suggestion()


class Interrupted(Exception):
    """What ``InterruptAtFirstEpochEnd`` raises: a callback failing at an epoch's end (a logger, a checkpoint)."""


class InterruptAtFirstEpochEnd(L.Callback):
    def __init__(self) -> None:
        self.raised = False

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.raised:
            self.raised = True
            raise Interrupted


class BatchLrs(L.Callback):
    """The lr of the first optimizer at the start of every training batch."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self.lrs.append(float(trainer.optimizers[0].param_groups[0]["lr"]))


class ManualByHand(Classifier):
    """A hand-written manual loop with a per-epoch ``StepLR``, stepped at each epoch's end."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=1.0)
        return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, 1, 0.5)]

    def training_step(self, batch: Any, batch_idx: int) -> None:
        opt = self.optimizers()
        opt.zero_grad()
        self.manual_backward(Classifier.training_step(self, batch, batch_idx))
        opt.step()

    def on_train_epoch_end(self) -> None:
        self.lr_schedulers().step()


@pytest.mark.parametrize("kind", ["manual", "pair", "automatic"])
def test_a_fit_again_after_a_fit_that_raised_at_an_epoch_end_starts_its_epoch_schedules_at_its_first_epoch(
    kind: str,
) -> None:
    """A fit raises in ``on_train_epoch_end`` of epoch 0 (every batch trained), and the same Trainer's ``fit``
    runs again: Lightning counts epoch 0 as done when training starts, and trains epochs 1 and 2 with the
    optimizers and schedulers ``configure_optimizers`` built again. A hand-written manual loop starts them at
    the declared lr, as automatic optimization does; manual optimization used to finish epoch 0 on the fresh
    schedule before the fit's first batch (its epochs counted from ``configure_optimizers``, before the loops'
    reset), a halving too many for the whole fit."""
    runs = []
    for module in (declared(kind, plateau=False), ManualByHand()):
        fitted = L.Trainer(callbacks=[InterruptAtFirstEpochEnd()], max_epochs=3, **FAST)
        with pytest.raises(Interrupted):
            fitted.fit(module, loader())
        recorder = BatchLrs()
        fitted.callbacks.append(recorder)
        fitted.fit(module, loader())
        assert fitted.current_epoch == 3
        runs.append((recorder.lrs, torch.cat([p.detach().flatten() for p in module.model_gen.parameters()])))
    (declared_lrs, declared_weights), (hand_lrs, hand_weights) = runs
    assert hand_lrs == [1.0] * 4 + [0.5] * 4
    assert declared_lrs == hand_lrs
    assert torch.equal(declared_weights, hand_weights)
