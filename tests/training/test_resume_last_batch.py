"""Resuming manual optimization from a checkpoint written at an epoch's last batch, before the epoch's end.

``ModelCheckpoint(every_n_train_steps=...)`` landing on an epoch's last batch saves from
``on_train_batch_end``, before the epoch-end hooks where the mixin steps a per-epoch scheduler in manual
optimization. Lightning resumes such a checkpoint in the next epoch without calling ``on_train_epoch_start``,
so the ended epoch's update was caught up only at the start of the epoch after: the whole next epoch trained
with the lr of the epoch before, and the weights differed from the uninterrupted run. The update is now
caught up when training starts, so the resumed run continues the uninterrupted run's lrs and weights
exactly (Lightning's automatic optimization steps its per-epoch schedulers before ``on_train_batch_end`` of
the epoch's last batch, so the checkpoint already holds the update there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec
from tests.helpers import FAST, LrRecorder, TwoNetsByName, assert_same_weights, loader
from tests.training.test_manual_plateau import module as plateau_module

#: the update caught up before the resumed process's first optimizer step is no scheduler stepping first
pytestmark = pytest.mark.filterwarnings("error:Detected call of `lr_scheduler.step\\(\\)` before")

#: 4 batches an epoch (``loader()``), 4 epochs
EPOCHS, BATCHES = 4, 4


class Pair(ConfigurableOptimizersMixin, TwoNetsByName):
    """Two optimizers (manual optimization), per-epoch schedules every epoch and every second epoch."""

    gen_opt = OptimizerSpec(
        "sgd", params="model_gen", lr=0.1, scheduler=SchedulerSpec("exponential", gamma=0.5)
    )
    dis_opt = OptimizerSpec(
        "sgd",
        params="model_dis",
        lr=0.2,
        momentum=0.9,
        scheduler=SchedulerSpec("step", step_size=1, gamma=0.1, frequency=2),
    )


class Nets(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model_gen = nn.Linear(8, 4)
        self.model_dis = nn.Linear(8, 4)

    def gen_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.model_gen(x) + 0.1 * self.model_dis(x), y)

    def dis_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.model_dis(x) - 0.1 * self.model_gen(x), y)


class Driven(ConfigurableOptimizersMixin, Nets):
    """The same schedules declared with ``loss=`` (the mixin writes the training step), the second
    optimizer stepping every second batch (``every=2``)."""

    gen_opt = OptimizerSpec(
        "sgd", params="model_gen", lr=0.1, loss="gen_loss", scheduler=SchedulerSpec("exponential", gamma=0.5)
    )
    dis_opt = OptimizerSpec(
        "sgd",
        params="model_dis",
        lr=0.2,
        momentum=0.9,
        loss="dis_loss",
        every=2,
        scheduler=SchedulerSpec("step", step_size=1, gamma=0.1, frequency=2),
    )


def fit(
    trained: L.LightningModule, checkpoint: Path | None, saved: Path, validation: bool = False, **kwargs: Any
) -> LrRecorder:
    """Fit 4 epochs of ``loader()``; the uninterrupted run (no ``checkpoint``) saves at every epoch's last
    batch into ``saved``."""
    recorder = LrRecorder()
    callbacks: list[Any] = [recorder]
    if checkpoint is None:
        callbacks.append(ModelCheckpoint(dirpath=saved, save_top_k=-1, **kwargs))
    trainer = L.Trainer(
        **{**FAST, "enable_checkpointing": True, "max_epochs": EPOCHS, "num_sanity_val_steps": 0},
        default_root_dir=saved.parent,
        limit_val_batches=1.0 if validation else 0,
        callbacks=callbacks,
    )
    trainer.fit(trained, loader(), loader(n=8) if validation else None, ckpt_path=checkpoint)
    return recorder


def at_last_batch(saved: Path, epoch: int) -> Path:
    """The checkpoint ``every_n_train_steps`` wrote at the last batch of ``epoch`` (the only one of it)."""
    (found,) = saved.glob(f"epoch={epoch}-*.ckpt")
    return found


#: Lightning's global step counts every optimizer's step in manual optimization: 2 a batch, or 1 + 1/2
STEPS_PER_EPOCH = {Pair: 2 * BATCHES, Driven: BATCHES + BATCHES // 2}


# `every=2`: Lightning's global step (6 an epoch) is not a multiple of the 4 batches, which it takes for mid-epoch
@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
@pytest.mark.parametrize("epoch", [0, 1, 2])
@pytest.mark.parametrize("cls", [Pair, Driven], ids=["training_step", "loss_every"])
def test_resume_at_an_epochs_last_batch_continues_exactly(
    cls: type[L.LightningModule], epoch: int, tmp_path: Path
) -> None:
    full = cls()
    whole = fit(full, None, tmp_path / "ckpt", every_n_train_steps=STEPS_PER_EPOCH[cls])
    # the first optimizer's lr halves after every epoch, the second's drops tenfold after every second one
    expected = [[0.1 * 0.5**e, 0.2 * 0.1 ** (e // 2)] for e in range(EPOCHS) for _ in range(BATCHES)]
    lrs = [[gen, dis] for [gen], [dis] in whole.history]
    assert [lr for step in lrs for lr in step] == pytest.approx([lr for step in expected for lr in step])
    resumed = cls()
    rest = fit(resumed, at_last_batch(tmp_path / "ckpt", epoch), tmp_path / "ckpt")
    assert rest.history == whole.history[(epoch + 1) * BATCHES :]
    assert_same_weights(full, resumed)


@pytest.mark.parametrize("kind", ["pair", "driven"])
def test_resume_at_an_epochs_last_batch_with_a_per_epoch_plateau(kind: str, tmp_path: Path) -> None:
    """The plateau watches ``epoch_metric``, logged in the module's ``on_train_epoch_end`` (10, 9, then 100
    from epoch 2 on). Lightning resumes the checkpoint after epoch 1's last batch without epoch 1's end, so
    the metric of epoch 1 is never logged and its update (9 improves on 10: no reduction) is not taken;
    every epoch after it updates the plateau as in the uninterrupted run, from epoch 2's end on (before the
    fix, epoch 2's update waited for epoch 3's start and was then skipped)."""

    def trained(**counters: int) -> Any:
        made = plateau_module(kind, "epoch_metric", "epoch")
        for name, value in counters.items():
            setattr(made, name, value)
        return made

    full = trained()
    # two optimizers stepping every batch (``driven``: both with ``loss=``)
    whole = fit(full, None, tmp_path / "ckpt", every_n_train_steps=2 * BATCHES)
    resumed = trained(batches=2 * BATCHES)
    rest = fit(resumed, at_last_batch(tmp_path / "ckpt", 1), tmp_path / "ckpt")
    first = [step[0][0] for step in whole.history]
    assert first == [0.1] * 3 * BATCHES + [0.05] * BATCHES  # reduced after epoch 2
    assert rest.history == whole.history[2 * BATCHES :]
    assert_same_weights(full, resumed)


class WarmedPlateau(ConfigurableOptimizersMixin, L.LightningModule):
    """A per-epoch plateau after a warmup of one epoch, watching the constant ``metric`` logged in every
    ``training_step``: 0.05 in epoch 0, 0.1 from the warmup's update on, halved after epoch 2 (1 makes no
    improvement on the 1 of epoch 1)."""

    optimizer = OptimizerSpec(
        "sgd",
        lr=0.1,
        scheduler=SchedulerSpec("plateau", monitor="metric", patience=0, factor=0.5, warmup=1),
    )

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model_gen = nn.Linear(8, 4)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        x, y = batch
        self.log("metric", 1.0)
        loss = nn.functional.cross_entropy(self.model_gen(x), y)
        if self.automatic_optimization:
            return loss
        optimizer = self.optimizers()
        optimizer.zero_grad()
        self.manual_backward(loss)
        optimizer.step()
        return None


class ManualWarmedPlateau(WarmedPlateau):
    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False


@pytest.mark.parametrize("cls", [WarmedPlateau, ManualWarmedPlateau], ids=["automatic", "manual"])
def test_resume_at_an_epochs_last_batch_takes_a_plateau_s_warmup_update(
    cls: type[L.LightningModule], tmp_path: Path
) -> None:
    """The warmup's update after epoch 0 needs no metric, but was lost as a plateau's update is: the resumed
    run trained epoch 1 at the warmup's 0.05, and its plateau went on one update behind (0.05 in epoch 2, 0.1
    at the end, against 0.1 and 0.05)."""
    full = cls()
    whole = fit(full, None, tmp_path / "ckpt", every_n_train_steps=BATCHES)
    assert [step[0][0] for step in whole.history] == [0.05] * BATCHES + [0.1] * 2 * BATCHES + [0.05] * BATCHES
    resumed = cls()
    rest = fit(resumed, at_last_batch(tmp_path / "ckpt", 0), tmp_path / "ckpt")
    assert rest.history == whole.history[BATCHES:]
    assert_same_weights(full, resumed)
