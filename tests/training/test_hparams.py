"""``HParam`` at ``fit``: the API's examples, the resume fingerprint, and Lightning's LR finder.

The LR finder (``Tuner.lr_find`` and the ``LearningRateFinder`` callback) runs real ``fit``s with its own lr
schedule; its suggestion, written to ``module.lr``/``module.hparams.lr``, must be what the real run uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import LearningRateFinder, ModelCheckpoint
from lightning.pytorch.tuner import Tuner
from torch.optim import Adam, AdamW
from torch.optim.lr_scheduler import ExponentialLR, StepLR

from lightning_optim import ConfigurableOptimizersMixin, HParam, OptimizerSpec, ParamGroup, SchedulerSpec
from lightning_optim.training.fingerprint import CHECKPOINT_KEY
from lightning_optim.training.hparam_refresh import HParamRefresh
from tests.helpers import (
    FAST,
    Classifier,
    LrRecorder,
    TwoNets,
    TwoNetsByName,
    assert_same_weights,
    fit,
    fit_resumed,
    loader,
    needs_lr_finder_fix,
)
from tests.training.test_losses import data as gan_data
from tests.training.test_losses import declared as gan
from tests.training.test_skip_nonfinite import declared as nan_at
from tests.training.test_skip_nonfinite import rows as nan_rows


class FineTune(ConfigurableOptimizersMixin, Classifier):
    """The API's example."""

    optimizer = OptimizerSpec(
        "adamw",
        lr=HParam("lr"),
        weight_decay=HParam("weight_decay", default=0.01),
        scheduler=SchedulerSpec("step", step_size=HParam("step_size", default=10), gamma=0.5),
    )

    def __init__(self, lr: float = 1e-3, step_size: int = 10) -> None:
        super().__init__()
        self.save_hyperparameters()


class FineTuneLiteral(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(
        "adamw", lr=3e-4, weight_decay=0.01, scheduler=SchedulerSpec("step", step_size=1, gamma=0.5)
    )


class HandWritten(Classifier):
    def configure_optimizers(self) -> Any:
        optimizer = AdamW(self.parameters(), lr=3e-4, weight_decay=0.01)
        return {"optimizer": optimizer, "lr_scheduler": StepLR(optimizer, step_size=1, gamma=0.5)}


def test_the_api_example_trains_at_the_hparams() -> None:
    ours = FineTune(lr=3e-4, step_size=1)
    recorded = fit(ours, max_epochs=3)
    # the hand-written configure_optimizers: AdamW(lr=3e-4, weight_decay=0.01), StepLR(1, 0.5) per epoch
    assert recorded.history == fit(HandWritten(), max_epochs=3).history
    assert recorded.of() == pytest.approx([3e-4] * 4 + [1.5e-4] * 4 + [7.5e-5] * 4)
    assert ours.trainer.optimizers[0].param_groups[0]["weight_decay"] == 0.01
    reference = FineTuneLiteral()  # same declaration, same implementation choice: same weights
    fit(reference, max_epochs=3)
    assert_same_weights(ours, reference)


class GAN(ConfigurableOptimizersMixin, TwoNetsByName):
    """The seed notes' GAN with its learning rates as hyperparameters."""

    gen_opt = OptimizerSpec(
        Adam,
        params="model_gen",
        lr=HParam("lr"),
        implementation="forloop",
        scheduler=SchedulerSpec("exponential", gamma=HParam("gamma", default=0.99), interval="step"),
    )
    dis_opt = OptimizerSpec(
        Adam,
        params="model_dis",
        lr=HParam("dis_lr", default=0.02),
        implementation="forloop",
        scheduler=SchedulerSpec("exponential", gamma=HParam("gamma", default=0.99)),
    )

    def __init__(self, lr: float = 0.01, dis_lr: float = 0.02) -> None:
        super().__init__()
        self.save_hyperparameters()


class HandWrittenGAN(TwoNets):
    def configure_optimizers(self) -> Any:
        gen = Adam(self.model_gen.parameters(), lr=0.05)
        dis = Adam(self.model_dis.parameters(), lr=0.03)
        return [gen, dis], [ExponentialLR(gen, 0.99), ExponentialLR(dis, 0.99)]

    def training_step(self, batch: Any, batch_idx: int) -> None:
        super().training_step(batch, batch_idx)
        gen_sch, dis_sch = self.lr_schedulers()
        gen_sch.step()
        if self.trainer.is_last_batch:
            dis_sch.step()


def test_gan_two_optimizers_train_at_their_hparams() -> None:
    ours, theirs = GAN(lr=0.05, dis_lr=0.03), HandWrittenGAN()
    recorded = fit(ours, max_epochs=2)
    assert recorded.history == fit(theirs, max_epochs=2).history
    assert recorded.of(0)[0] == 0.05 and recorded.of(1)[0] == 0.03
    assert_same_weights(ours, theirs)
    # on the class the attribute is the declaration; during the run, the live optimizer was used
    assert GAN.gen_opt.kwargs["lr"] == HParam("lr")


# the resume fingerprint records the values


def test_resume_fingerprint_records_the_values(tmp_path: Path) -> None:
    saving = ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, every_n_epochs=1)
    whole = fit(FineTune(lr=0.1, step_size=1), max_epochs=3, callbacks=[saving], enable_checkpointing=True)
    saved = tmp_path / "epoch=1-step=8.ckpt"
    fingerprint = torch.load(saved, weights_only=False)[CHECKPOINT_KEY]
    (optimizer,) = fingerprint["optimizers"]
    assert optimizer["options"] == "lr=0.1, weight_decay=0.01"
    assert optimizer["scheduler"]["arguments"] == "gamma=0.5, step_size=1"
    # the same values resume exactly
    rest = fit_resumed(FineTune(lr=0.1, step_size=1), str(saved), max_epochs=3)
    assert rest.history == whole.history[8:]
    # another value is a changed setup, named by value, and by the hparam it was read from, with the fix
    with pytest.raises(ValueError, match=r"options: 'lr=0\.1, weight_decay=0\.01' in the checkpoint, "
                                         r"'lr=0\.2, weight_decay=0\.01' now") as err:  # fmt: skip
        fit_resumed(FineTune(lr=0.2, step_size=1), str(saved), max_epochs=3)
    assert (
        "\n  hparam `lr` (`optimizer.lr`): 0.1 in the checkpoint (its `hyper_parameters`), 0.2 now; "
        "`fit(ckpt_path=...)` restores no hyperparameters\nBuild the module with the checkpoint's hyperparameters, "
        "`FineTune(lr=0.1)`, or `FineTune.load_from_checkpoint(path)` to resume the run, or resume with the original "
        "declarations"
    ) in str(err.value), str(err.value)
    with pytest.raises(
        ValueError, match=r"scheduler\.arguments: 'gamma=0\.5, step_size=1' in the checkpoint"
    ) as err:
        fit_resumed(FineTune(lr=0.1, step_size=2), str(saved), max_epochs=3)
    assert "hparam `step_size` (`optimizer.scheduler.step_size`): 1 in the checkpoint" in str(err.value)
    assert "hparam `lr`" not in str(err.value)  # the same value


# Lightning's LR finder


class Tunable(ConfigurableOptimizersMixin, Classifier):
    """A per-step cosine over the run, and a group with its own literal lr: the finder must keep both."""

    optimizer = OptimizerSpec(
        "sgd",
        lr=HParam("lr"),
        groups=[ParamGroup("model_gen.layer1", lr=0.05)],
        scheduler=SchedulerSpec("cosine", interval="step"),
    )

    def __init__(self, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()


class Reference(ConfigurableOptimizersMixin, Classifier):
    """``Tunable`` with the suggestion written as a literal."""

    def __init__(self) -> None:
        super().__init__()


def reference(lr: float) -> Reference:
    spec = OptimizerSpec(
        "sgd",
        lr=lr,
        groups=[ParamGroup("model_gen.layer1", lr=0.05)],
        scheduler=SchedulerSpec("cosine", interval="step"),
    )
    return type("Tunable", (Reference,), {"optimizer": spec})()


def finder_trainer(tmp_path: Path, *callbacks: L.Callback, **kwargs: Any) -> L.Trainer:
    options = {**FAST, "max_epochs": 2, "default_root_dir": str(tmp_path), **kwargs}
    return L.Trainer(callbacks=list(callbacks), **options)


def test_tuner_lr_find_suggestion_is_what_the_next_fit_uses(tmp_path: Path) -> None:
    module = Tunable()
    recorder = LrRecorder()
    trainer = finder_trainer(tmp_path, recorder)
    data = loader(n=160)
    finder = Tuner(trainer).lr_find(module, train_dataloaders=data, num_training=20, update_attr=True)
    assert finder is not None
    suggestion = finder.suggestion()
    assert suggestion is not None and suggestion != 0.1
    assert module.hparams.lr == suggestion
    trainer.fit(module, data)
    groups = trainer.optimizers[0].param_groups
    assert [g["initial_lr"] for g in groups] == [0.05, suggestion]
    # the whole run is the declaration with the suggestion written in
    expected = fit(reference(suggestion), data=data, max_epochs=2)
    assert recorder.history == expected.history


@needs_lr_finder_fix
def test_learning_rate_finder_callback_suggestion_is_what_the_fit_uses(tmp_path: Path) -> None:
    module = Tunable()
    recorder = LrRecorder()
    finder = LearningRateFinder(num_training_steps=20, update_attr=True)
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    trainer = finder_trainer(tmp_path, recorder, finder, saving, enable_checkpointing=True)
    data = loader(n=160)
    trainer.fit(module, data)
    suggestion = finder.optimal_lr.suggestion()
    assert suggestion is not None and suggestion != 0.1
    assert module.hparams.lr == suggestion
    # rebuilt with the suggestion: the literal group keeps its lr, the cosine starts from the suggestion
    scheduler = trainer.lr_scheduler_configs[0].scheduler
    assert scheduler.base_lrs == [0.05, suggestion]
    expected = fit(reference(suggestion), data=data, max_epochs=2)
    assert recorder.history == expected.history
    # the checkpoints record the value trained with
    saved = torch.load(next((tmp_path / "ckpt").iterdir()), weights_only=False)
    assert saved[CHECKPOINT_KEY]["optimizers"][0]["options"] == f"lr={suggestion!r}"
    assert sum(isinstance(c, HParamRefresh) for c in trainer.callbacks) == 1


def test_a_module_without_hparams_leaves_no_refresh_behind() -> None:
    class Literal(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec("sgd", lr=0.1)

    trainer = L.Trainer(**{**FAST, "max_epochs": 1})
    trainer.fit(FineTune(lr=0.1), loader())
    assert sum(isinstance(c, HParamRefresh) for c in trainer.callbacks) == 1
    trainer.fit(Literal(), loader())
    assert not any(isinstance(c, HParamRefresh) for c in trainer.callbacks)


class SetsInFitStart(L.Callback):
    """Writes hyperparameters in ``on_fit_start``, after the optimizers were built (as the LR finder does)."""

    def __init__(self, **values: Any) -> None:
        self.values = values

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for name, value in self.values.items():
            setattr(pl_module, name, value)


def test_every_changed_in_on_fit_start_is_what_the_fit_steps_with() -> None:
    # `every` decides the mixin's training step and the lengths: a change rebuilds, as another scheduler would
    ours, same = gan(every=HParam("n_critic", default=1))(), gan(every=2)()
    mine = fit(ours, data=gan_data(), max_epochs=2, callbacks=[SetsInFitStart(n_critic=2)])
    assert mine.history == fit(same, data=gan_data(), max_epochs=2).history
    assert_same_weights(ours, same)


def test_skip_nonfinite_changed_in_on_fit_start_is_the_limit_the_fit_keeps() -> None:
    module = nan_at({2, 3, 4}, limit=HParam("limit", default=3))
    with pytest.raises(ValueError, match=r"^Declared\.optimizer: Expected at most 2 consecutive updates"):
        fit(module, data=nan_rows(), max_epochs=1, callbacks=[SetsInFitStart(limit=2)])


class Found(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(
        "sgd",
        lr=HParam("lr"),
        momentum=0.9,
        scheduler=SchedulerSpec("exponential", gamma=0.9, interval="step"),
    )

    def __init__(self, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()


@needs_lr_finder_fix
def test_resuming_a_learning_rate_finder_s_run_names_the_hparam_it_wrote_and_resumes_with_it(
    tmp_path: Path,
) -> None:
    # the finder writes its suggestion into `hparams`, which the checkpoints hold and `fit(ckpt_path=...)` does not
    # restore: the module built anew has its default
    finder = LearningRateFinder(num_training_steps=20, update_attr=True)
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, save_top_k=0)
    first = finder_trainer(tmp_path, finder, saving, enable_checkpointing=True, max_epochs=1)
    data = loader(n=160)
    first.fit(Found(), data)
    suggestion = finder.optimal_lr.suggestion()
    assert suggestion is not None and suggestion != 0.1
    last = str(tmp_path / "ckpt" / "last.ckpt")
    with pytest.raises(
        ValueError, match=rf"options: 'lr={suggestion!r}, momentum=0\.9' in the checkpoint"
    ) as err:
        fit_resumed(Found(), last, data=data, max_epochs=2)
    assert (
        f"hparam `lr` (`optimizer.lr`): {suggestion!r} in the checkpoint (its `hyper_parameters`), 0.1 now"
        in str(err.value)
    ), str(err.value)
    assert f"`Found(lr={suggestion!r})`, or `Found.load_from_checkpoint(path)` to resume the run" in str(
        err.value
    )
    # either fix resumes the run: its second epoch, the schedule going on from the suggestion
    steps = first.global_step
    expected = pytest.approx([suggestion * 0.9 ** (steps + i) for i in range(20)])
    assert fit_resumed(Found(lr=suggestion), last, data=data, max_epochs=2).of() == expected
    assert fit_resumed(Found.load_from_checkpoint(last), last, data=data, max_epochs=2).of() == expected
