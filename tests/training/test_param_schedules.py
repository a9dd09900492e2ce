"""``SchedulerSpec(param=...)``: schedules of weight decay and momentum, against hand-written Lightning runs.

The example is DINO's weight-decay schedule: a cosine from 0.04 to 0.4 over the run, updated every
iteration, next to a cosine lr schedule. The reference module sets ``group["weight_decay"]`` by hand before
every step from DINO's own formula, transcribed from ``cosine_scheduler`` in facebookresearch/dino utils.py
(``wd_schedule = utils.cosine_scheduler(args.weight_decay, args.weight_decay_end, args.epochs,
len(data_loader))`` in main_dino.py, applied as ``param_group["weight_decay"] = wd_schedule[it]``):

    iters = np.arange(epochs * niter_per_ep - warmup_iters)
    schedule = final_value + 0.5 * (base_value - final_value) * (1 + np.cos(np.pi * iters / len(iters)))

The declared run uses torch's ``CosineAnnealingLR`` (its recursive form) on the weight decay, so values
agree with the formula to float rounding, not bit for bit. The DINO of docs/guides/schedules.md schedules the lr
too, with DINO's linspace warmup and ``min_lr`` (``lr_schedule`` from the same ``cosine_scheduler``).
"""

from __future__ import annotations

import csv
import math
import re
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.optim import SGD, Adam, AdamW
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR

from lightning_optim import (
    ConfigurableOptimizersMixin,
    HParam,
    LRMonitor,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    preview_schedule,
)
from lightning_optim.tools.config import spec_from_dict, spec_to_dict
from tests.helpers import FAST, Classifier, assert_same_weights, fit_resumed, loader, torch_lrs
from tests.training.test_resume import Resumable

EPOCHS, BATCHES = 3, 4  # ``loader()``: 32 samples in batches of 8
STEPS = EPOCHS * BATCHES


def dino_cosine_scheduler(
    base_value: float, final_value: float, epochs: int, niter_per_ep: int
) -> list[float]:
    """facebookresearch/dino utils.py ``cosine_scheduler`` without warmup (``warmup_epochs=0``)."""
    n = epochs * niter_per_ep
    return [
        final_value + 0.5 * (base_value - final_value) * (1 + math.cos(math.pi * i / n)) for i in range(n)
    ]


DINO_WD = dino_cosine_scheduler(0.04, 0.4, EPOCHS, BATCHES)

DINO = [
    SchedulerSpec("cosine", interval="step"),
    SchedulerSpec("cosine", param="weight_decay", eta_min=0.4, interval="step"),
]


class Recording(Classifier):
    """Records the lr and weight decay of its optimizer at every training step, before the update."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[float, float]] = []

    def record(self) -> None:
        group = self.optimizers().param_groups[0]
        self.seen.append((group["lr"], group["weight_decay"]))

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        self.record()
        return super().training_step(batch, batch_idx)


class Dino(ConfigurableOptimizersMixin, Recording):
    optimizer = OptimizerSpec(AdamW, lr=1e-3, weight_decay=0.04, implementation="forloop", scheduler=DINO)


class HandWrittenDino(Recording):
    """DINO's loop: weight decay from the precomputed schedule at every iteration, the lr by torch."""

    def configure_optimizers(self) -> Any:
        optimizer = AdamW(self.parameters(), lr=1e-3, weight_decay=0.04, foreach=False)
        cosine = CosineAnnealingLR(optimizer, T_max=STEPS)
        return [optimizer], [{"scheduler": cosine, "interval": "step"}]

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        for group in self.optimizers().param_groups:
            group["weight_decay"] = DINO_WD[self.global_step]


class ManualDino(ConfigurableOptimizersMixin, Recording):
    optimizer = Dino.optimizer

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch: Any, batch_idx: int) -> None:
        self.record()
        x, y = batch
        opt = self.optimizers()
        opt.zero_grad()
        self.manual_backward(nn.functional.cross_entropy(self.model_gen(x), y))
        opt.step()


def _assert_close_weights(a: nn.Module, b: nn.Module) -> None:
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-8, msg=name)


@pytest.mark.parametrize("declared", [Dino, ManualDino], ids=["automatic", "manual"])
def test_dino_weight_decay_schedule_matches_dino_and_a_hand_written_run(declared: type) -> None:
    ours, theirs = declared(), HandWrittenDino()
    fit_resumed(ours, None, max_epochs=EPOCHS)
    fit_resumed(theirs, None, max_epochs=EPOCHS)
    assert [wd for _, wd in theirs.seen] == DINO_WD
    assert [wd for _, wd in ours.seen] == pytest.approx(DINO_WD, rel=1e-12)
    assert [lr for lr, _ in ours.seen] == [lr for lr, _ in theirs.seen]
    assert ours.seen[0][1] == 0.04
    _assert_close_weights(ours, theirs)


class DinoNoDecay(ConfigurableOptimizersMixin, Recording):
    """DINO with its unregularized group: biases (``no_decay=True``) without weight decay."""

    optimizer = OptimizerSpec(
        AdamW, lr=1e-3, weight_decay=0.04, no_decay=True, implementation="forloop", scheduler=DINO
    )

    def record(self) -> None:
        groups = self.optimizers().param_groups
        self.seen.append(tuple(group["weight_decay"] for group in groups))  # type: ignore[arg-type]


class HandWrittenDinoNoDecay(Recording):
    """DINO's loop with its two groups: ``param_groups[0]["weight_decay"] = wd_schedule[it]`` only."""

    def configure_optimizers(self) -> Any:
        decay = [p for n, p in self.named_parameters() if not n.endswith(".bias")]
        biases = [p for n, p in self.named_parameters() if n.endswith(".bias")]
        groups = [{"params": decay}, {"params": biases, "weight_decay": 0.0}]
        optimizer = AdamW(groups, lr=1e-3, weight_decay=0.04, foreach=False)
        cosine = CosineAnnealingLR(optimizer, T_max=STEPS)
        return [optimizer], [{"scheduler": cosine, "interval": "step"}]

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self.optimizers().param_groups[0]["weight_decay"] = DINO_WD[self.global_step]

    def record(self) -> None:
        groups = self.optimizers().param_groups
        self.seen.append(tuple(group["weight_decay"] for group in groups))  # type: ignore[arg-type]


def test_a_weight_decay_schedule_leaves_the_no_decay_groups_at_zero(tmp_path: Path) -> None:
    # was: `eta_min=0.4` raised the biases' weight decay from 0 to 0.4 along the cosine
    ours, theirs = DinoNoDecay(), HandWrittenDinoNoDecay()
    fit_resumed(ours, None, max_epochs=EPOCHS)
    fit_resumed(theirs, None, max_epochs=EPOCHS)
    assert [groups[1] for groups in theirs.seen] == [0.0] * STEPS
    assert [groups[1] for groups in ours.seen] == [0.0] * STEPS
    assert [groups[0] for groups in ours.seen] == pytest.approx(DINO_WD, rel=1e-12)
    _assert_close_weights(ours, theirs)
    # and the preview says the same
    preview = preview_schedule(
        DinoNoDecay, max_epochs=EPOCHS, steps_per_epoch=BATCHES, params=("weight_decay",)
    )
    assert preview["lr-optimizer/no_decay-weight_decay"] == [0.0] * STEPS


DINO_LR, DINO_MIN_LR, DINO_WARMUP_EPOCHS = 1e-3, 1e-5, 1


def dino_cosine_scheduler_with_warmup(
    base_value: float,
    final_value: float,
    epochs: int,
    niter_per_ep: int,
    warmup_epochs: int = 0,
    start_warmup_value: float = 0,
) -> list[float]:
    """facebookresearch/dino utils.py ``cosine_scheduler`` (at 144f70567a6ff853b9ea44503ba37fdcf8ca41fb), transcribed:
    ``main_dino.py`` builds ``lr_schedule = utils.cosine_scheduler(lr, args.min_lr, args.epochs, len(data_loader),
    warmup_epochs=args.warmup_epochs)``."""
    warmup_schedule = np.array([])
    warmup_iters = warmup_epochs * niter_per_ep
    if warmup_epochs > 0:
        warmup_schedule = np.linspace(start_warmup_value, base_value, warmup_iters)
    iters = np.arange(epochs * niter_per_ep - warmup_iters)
    schedule = final_value + 0.5 * (base_value - final_value) * (1 + np.cos(np.pi * iters / len(iters)))
    schedule = np.concatenate((warmup_schedule, schedule))
    return [float(value) for value in schedule]


def bolts_closed_form_lr(
    base_lr: float, step: int, warmup_epochs: int, max_epochs: int, eta_min: float
) -> float:
    """pl_bolts/optimizers/lr_scheduler.py ``LinearWarmupCosineAnnealingLR._get_closed_form_lr`` (lightning-bolts
    at 011f209f534b1b61d93a1c68cd4de389d5c8c97c, ``warmup_start_lr=0``), transcribed."""
    if step < warmup_epochs:
        return step * base_lr / (warmup_epochs - 1)
    progress = (step - warmup_epochs) / (max_epochs - warmup_epochs)
    return eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * progress))


DINO_LRS = dino_cosine_scheduler_with_warmup(DINO_LR, DINO_MIN_LR, EPOCHS, BATCHES, DINO_WARMUP_EPOCHS)


class RecordingGroups(Recording):
    """Records every group's lr and weight decay."""

    def record(self) -> None:
        groups = self.optimizers().param_groups
        self.seen.append(tuple((group["lr"], group["weight_decay"]) for group in groups))  # type: ignore[arg-type]


class FaithfulDino(ConfigurableOptimizersMixin, RecordingGroups):
    """docs/guides/schedules.md's DINO, at this test's size."""

    optimizer = OptimizerSpec(
        AdamW,
        lr=DINO_LR,
        weight_decay=0.04,
        no_decay=("bias", "1d"),
        implementation="forloop",
        scheduler=[
            SchedulerSpec(
                "linear", start_factor=1e-12, end=DINO_WARMUP_EPOCHS, interval="step", unit="epoch"
            ),
            SchedulerSpec(
                "cosine", begin=DINO_WARMUP_EPOCHS, eta_min=DINO_MIN_LR, interval="step", unit="epoch"
            ),
            SchedulerSpec("cosine", param="weight_decay", eta_min=0.4, interval="step"),
        ],
    )


class HandWrittenFaithfulDino(RecordingGroups):
    """main_dino.py's ``train_dino``: ``AdamW`` on ``utils.get_params_groups`` (biases and 1-d parameters
    unregularized); ``train_one_epoch`` sets every group's lr and the first group's weight decay before each
    step, from the precomputed schedules."""

    def configure_optimizers(self) -> Any:
        regularized, not_regularized = [], []
        for name, param in self.named_parameters():
            if name.endswith(".bias") or len(param.shape) == 1:
                not_regularized.append(param)
            else:
                regularized.append(param)
        groups = [{"params": regularized}, {"params": not_regularized, "weight_decay": 0.0}]
        return AdamW(groups, foreach=False)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        for i, group in enumerate(self.optimizers().param_groups):
            group["lr"] = DINO_LRS[self.global_step]
            if i == 0:
                group["weight_decay"] = DINO_WD[self.global_step]


def test_the_documented_dino_trains_with_dinos_lr_and_weight_decay_schedules() -> None:
    ours, theirs = FaithfulDino(), HandWrittenFaithfulDino()
    fit_resumed(ours, None, max_epochs=EPOCHS)
    fit_resumed(theirs, None, max_epochs=EPOCHS)
    expected = [((lr, wd), (lr, 0.0)) for lr, wd in zip(DINO_LRS, DINO_WD)]
    assert theirs.seen == expected
    # start_factor=1e-12 stands for DINO's 0, which torch's LinearLR refuses: at most 1e-12 of the peak lr apart
    assert ours.seen == [
        tuple(pytest.approx(setting, rel=1e-12, abs=1.01e-12 * DINO_LR) for setting in step)
        for step in expected
    ]
    # np.linspace reaches the lr at the warmup's last step, and the cosine starts from it again
    assert DINO_LRS[BATCHES - 1] == DINO_LRS[BATCHES] == DINO_LR
    # pl_bolts' LinearWarmupCosineAnnealingLR (SimCLR's), stepped per step, gives the same lrs
    bolts = [bolts_closed_form_lr(DINO_LR, step, BATCHES, STEPS, DINO_MIN_LR) for step in range(STEPS)]
    assert bolts == pytest.approx(DINO_LRS, rel=1e-12)
    _assert_close_weights(ours, theirs)


def test_dino_resumes_mid_run_exactly(tmp_path: Path) -> None:
    options = {"max_epochs": EPOCHS, "enable_checkpointing": True, "default_root_dir": tmp_path}
    full, resumed = Dino(), Dino()
    saver = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=5, save_top_k=-1)
    fit_resumed(full, None, data=Resumable(), callbacks=[saver], **options)
    fit_resumed(resumed, str(tmp_path / "ckpt" / "epoch=1-step=5.ckpt"), data=Resumable(), **options)
    assert resumed.seen == full.seen[5:]
    assert_same_weights(full, resumed)


def _decay_from_step_3(step: int) -> float:
    return 0.0 if step < 3 else 1.0


class DecayLater(Classifier):
    """Weight decay off for the first 3 steps, then on: a lambda driving ``weight_decay``."""

    optimizer = OptimizerSpec(
        AdamW,
        lr=0.01,
        weight_decay=0.05,
        scheduler=SchedulerSpec(
            "lambda", lr_lambda=_decay_from_step_3, param="weight_decay", interval="step"
        ),
    )

    def __init__(self) -> None:
        super().__init__()
        self.decays: list[float] = []

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self.decays.append(self.trainer.optimizers[0].param_groups[0]["weight_decay"])


@pytest.mark.parametrize("step", [2, 3])
def test_a_weight_decay_the_schedule_holds_at_0_resumes_exactly(tmp_path: Path, step: int) -> None:
    """A checkpoint taken while the schedule holds the decay at 0: the restored group's 0 was taken for a no-decay
    group's, whose decay no schedule drives, and the decay stayed 0 for the rest of the run (found resuming
    checkpoints across versions). The group keeps what it was built with."""
    module = type("Model", (ConfigurableOptimizersMixin, DecayLater), {})
    options = {"max_epochs": 2, "enable_checkpointing": True, "default_root_dir": tmp_path}
    full, resumed = module(), module()
    saver = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=1, save_top_k=-1)
    fit_resumed(full, None, data=Resumable(), callbacks=[saver], **options)
    assert full.decays == [0.0, 0.0, 0.0] + [0.05] * 5
    fit_resumed(resumed, str(tmp_path / "ckpt" / f"epoch=0-step={step}.ckpt"), data=Resumable(), **options)
    assert resumed.decays == full.decays[step:]
    assert_same_weights(full, resumed)


def test_resume_refuses_a_changed_param(tmp_path: Path) -> None:
    options = {"max_epochs": 2, "enable_checkpointing": True, "default_root_dir": tmp_path}
    saver = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_epochs=1, save_top_k=-1)
    fit_resumed(Dino(), None, callbacks=[saver], **options)
    changed = type(
        "Changed",
        (Dino,),
        {"optimizer": OptimizerSpec(AdamW, lr=1e-3, weight_decay=0.04, scheduler=[DINO[0], DINO[0]])},
    )
    with pytest.raises(ValueError, match=r"schedulers\[1\]\.param: 'weight_decay' in the checkpoint"):
        fit_resumed(changed(), str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt"), **options)


class Momentum(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(
        SGD,
        lr=0.1,
        momentum=0.9,
        scheduler=SchedulerSpec("linear", param="momentum", start_factor=0.5, total_iters=6, interval="step"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        group = self.optimizers().param_groups[0]
        self.seen.append((group["lr"], group.get("momentum"), group.get("betas")))
        return super().training_step(batch, batch_idx)


class Beta1(Momentum):
    optimizer = OptimizerSpec(
        Adam,
        lr=0.01,
        betas=(0.9, 0.999),
        scheduler=SchedulerSpec("linear", param="beta1", start_factor=0.5, total_iters=6, interval="step"),
    )


def test_momentum_schedule_on_sgd_and_beta1_on_adam() -> None:
    expected = torch_lrs(lambda o: LinearLR(o, start_factor=0.5, total_iters=6), STEPS, 0.9)
    sgd, adam = Momentum(), Beta1()
    fit_resumed(sgd, None, max_epochs=EPOCHS)
    fit_resumed(adam, None, max_epochs=EPOCHS)
    assert [m for _, m, _ in sgd.seen] == expected
    assert [betas[0] for _, _, betas in adam.seen] == expected
    assert {betas[1] for _, _, betas in adam.seen} == {0.999}
    assert {lr for lr, _, _ in sgd.seen} == {0.1} and {lr for lr, _, _ in adam.seen} == {0.01}


class Phased(Momentum):
    """A weight decay held at half for 3 steps (in a window of 5), and a composite (SequentialLR) on the momentum."""

    optimizer = OptimizerSpec(
        SGD,
        lr=0.1,
        momentum=0.9,
        weight_decay=0.01,
        scheduler=[
            SchedulerSpec("cosine", interval="step"),
            SchedulerSpec(
                "constant", param="weight_decay", factor=0.5, total_iters=3, end=5, interval="step"
            ),
            SchedulerSpec(
                "sequential",
                param="momentum",
                schedulers=[
                    SchedulerSpec("constant", factor=0.5, total_iters=3),
                    SchedulerSpec("exponential", gamma=1.02),
                ],
                milestones=[3],
                interval="step",
            ),
        ],
    )


def _logged(path: Path) -> dict[str, list[float]]:
    with open(next(path.rglob("metrics.csv"))) as file:
        rows = list(csv.DictReader(file))
    return {
        key: [float(r[key]) for r in rows if r.get(key)] for key in rows[0] if key not in ("step", "epoch")
    }


@pytest.mark.parametrize("declared", [Dino, Beta1, Phased], ids=["dino", "beta1", "phased"])
def test_preview_equals_what_lr_monitor_logs(declared: type, tmp_path: Path) -> None:
    monitor = LRMonitor(log_weight_decay=True, log_momentum=True)
    options = {**FAST, "max_epochs": EPOCHS, "log_every_n_steps": 1, "logger": CSVLogger(tmp_path)}
    L.Trainer(callbacks=[monitor], **options).fit(declared(), loader())
    logged = _logged(tmp_path)
    params = ("lr", "weight_decay", "momentum")
    previewed = preview_schedule(declared, max_epochs=EPOCHS, steps_per_epoch=BATCHES, params=params)
    assert list(previewed) == ["lr-optimizer", "lr-optimizer-weight_decay", "lr-optimizer-momentum"]
    assert {key: logged[key] for key in previewed} == previewed
    if declared is Dino:
        assert previewed["lr-optimizer-weight_decay"] == pytest.approx(DINO_WD, rel=1e-12)
    if declared is Phased:
        assert previewed["lr-optimizer-weight_decay"] == [0.005] * 3 + [0.01] * (STEPS - 3)
        assert previewed["lr-optimizer-momentum"][:4] == [0.45, 0.45, 0.45, 0.9]
        assert previewed["lr-optimizer-momentum"][4] == pytest.approx(0.9 * 1.02)


def test_plot_schedule_draws_a_panel_per_option(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from lightning_optim import plot_schedule

    path = plot_schedule(
        Dino, tmp_path / "dino.png", max_epochs=EPOCHS, steps_per_epoch=BATCHES, params=("lr", "weight_decay")
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_misspelt_option_to_preview_is_refused_with_the_near_miss(tmp_path: Path) -> None:
    # was accepted: a key `lr-optimizer-weight_decy` of zeros, as `LRMonitor` reads an option a group lacks
    message = (
        "preview_schedule: Expected each of `params` to be a numeric param-group option of the declared optimizers "
        "but got 'weight_decy' (did you mean `weight_decay`?). Options: `beta1`, `beta2`, `eps`, `lr`, `momentum`, "
        "`weight_decay` of `Dino.optimizer` (`AdamW`)."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        preview_schedule(Dino, max_epochs=EPOCHS, steps_per_epoch=BATCHES, params=("lr", "weight_decy"))
    pytest.importorskip("matplotlib")
    from lightning_optim import plot_schedule

    with pytest.raises(ValueError, match="did you mean `momentum`"):
        plot_schedule(
            Dino, tmp_path / "x.png", max_epochs=EPOCHS, steps_per_epoch=BATCHES, params=("momentun",)
        )
    # the options of the optimizer's groups: `beta1` is AdamW's `betas[0]`
    assert set(preview_schedule(Dino, max_epochs=EPOCHS, steps_per_epoch=BATCHES, params=("beta1",))) == {
        "lr-optimizer-beta1"
    }


class RpropNet(ConfigurableOptimizersMixin, Classifier):
    #: Rprop's groups hold `lr`, `etas` and `step_sizes`: no momentum, betas or weight decay
    optimizer = OptimizerSpec(
        "rprop", lr=0.01, scheduler=SchedulerSpec("exponential", gamma=0.9, interval="step")
    )


@pytest.mark.parametrize("param", ["momentum", "beta1", "beta2", "weight_decay"])
def test_an_option_the_optimizers_groups_lack_is_refused_naming_the_accepted_ones(param: str) -> None:
    """It was accepted (but for ``weight_decay``) and previewed as zeros, which no training logs as such."""
    message = (
        "preview_schedule: Expected each of `params` to be a numeric param-group option of the declared optimizers "
        f"but got {param!r}. Options: `lr` of `RpropNet.optimizer` (`Rprop`)."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        preview_schedule(RpropNet, max_epochs=1, steps_per_epoch=BATCHES, params=("lr", param))
    assert preview_schedule(RpropNet, max_epochs=1, steps_per_epoch=BATCHES) == {
        "lr-optimizer": pytest.approx([0.01 * 0.9**step for step in range(BATCHES)], rel=1e-12)
    }


def test_warmup_in_front_of_a_weight_decay_schedule() -> None:
    class Warm(Dino):
        optimizer = OptimizerSpec(
            AdamW,
            lr=1e-3,
            weight_decay=0.04,
            scheduler=SchedulerSpec("cosine", param="weight_decay", eta_min=0.4, warmup=3, interval="step"),
        )

    values = preview_schedule(Warm, max_epochs=EPOCHS, steps_per_epoch=BATCHES, params=("weight_decay",))
    wd = values["lr-optimizer-weight_decay"]
    assert wd[:4] == pytest.approx([0.01, 0.02, 0.03, 0.04])
    assert wd[-1] > 0.3


class DecayFromZero(ConfigurableOptimizersMixin, Recording):
    """A per-step decay of the weight decay, then a warmup of it from 0 (0, 1/3, 2/3, then 1): in this order
    the warmup lost the decay's first factor, and trained at twice the product from step 1 on."""

    optimizer = OptimizerSpec(
        SGD,
        lr=0.1,
        weight_decay=0.04,
        implementation="forloop",
        scheduler=[
            SchedulerSpec("exponential", gamma=0.5, param="weight_decay", interval="step"),
            SchedulerSpec(
                "step",
                step_size=1000,
                param="weight_decay",
                warmup=3,
                warmup_start_factor=0.0,
                interval="step",
            ),
        ],
    )


class HandWrittenDecayFromZero(Recording):
    """The product, set by hand before every step."""

    def configure_optimizers(self) -> Any:
        return SGD(self.parameters(), lr=0.1, weight_decay=0.04, foreach=False)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        step = self.global_step
        self.optimizers().param_groups[0]["weight_decay"] = 0.04 * (0.5**step * min(step / 3, 1.0))


def test_a_weight_decay_warmup_from_0_multiplies_the_decay_before_it() -> None:
    ours, theirs = DecayFromZero(), HandWrittenDecayFromZero()
    for module in (ours, theirs):
        fit_resumed(module, None, max_epochs=EPOCHS)
    assert ours.seen == theirs.seen  # bit for bit: the factors are powers of 2
    assert [wd for _, wd in ours.seen[:4]] == pytest.approx([0.0, 0.04 / 6, 0.04 / 6, 0.04 / 8])
    assert_same_weights(ours, theirs)
    preview = preview_schedule(
        DecayFromZero, max_epochs=EPOCHS, steps_per_epoch=BATCHES, params=("weight_decay",)
    )
    assert preview["lr-optimizer-weight_decay"] == [wd for _, wd in ours.seen]


def test_config_round_trip_keeps_param() -> None:
    spec = OptimizerSpec(AdamW, lr=1e-3, weight_decay=0.04, scheduler=DINO)
    data = spec_to_dict(spec)
    assert data["scheduler"][1]["param"] == "weight_decay"
    again = spec_from_dict(data)
    assert [s.param for s in again.scheduler] == ["lr", "weight_decay"]
    assert spec_to_dict(again) == data


def _declare(scheduler: Any, optimizer: type = AdamW, **kwargs: Any) -> None:
    type(
        "Model",
        (ConfigurableOptimizersMixin, Classifier),
        {"optimizer": OptimizerSpec(optimizer, lr=0.1, scheduler=scheduler, **kwargs)},
    )


def test_bad_param_declarations_are_refused_at_class_definition() -> None:
    nested = SchedulerSpec("constant", factor=0.5, total_iters=2, param="weight_decay")
    with pytest.raises(
        ValueError, match=r"schedulers\[0\]: a scheduler inside a composite .* remove `param`"
    ):
        _declare(SchedulerSpec("sequential", schedulers=[nested, nested], milestones=[2]))
    with pytest.raises(
        ValueError,
        match=r"Model\.optimizer\.scheduler: Expected `param` to be a numeric per-group "
        r"option of `AdamW` but got 'weight_decy' \(did you mean `weight_decay`\?\)",
    ):
        _declare(SchedulerSpec("cosine", param="weight_decy"))
    with pytest.raises(
        ValueError, match=r"`SGD` but got .beta1.\. Accepted: `dampening`, `lr`, `momentum`, `weight_decay`"
    ):
        _declare(SchedulerSpec("cosine", param="beta1"), optimizer=SGD)
    with pytest.raises(TypeError, match=r"Expected `param` to be the name of a param-group option"):
        _declare(SchedulerSpec("cosine", param=3))
    with pytest.raises(
        ValueError,
        match=r": Expected `param` to be 'lr' with `ReduceLROnPlateau` but got 'weight_decay': "
        r"`ReduceLROnPlateau` only schedules the lr\. Schedule `weight_decay` with a scheduler of its own\.$",
    ):
        _declare(SchedulerSpec("plateau", param="weight_decay", monitor="loss"))
    with pytest.raises(ValueError, match=r"cycles the momentum"):
        _declare(SchedulerSpec("onecycle", param="weight_decay", max_lr=0.1, total_steps=10))
    with warnings.catch_warnings():
        warnings.simplefilter(
            "error"
        )  # no "declared `lr` has no effect": it drives the weight decay, not the lr
        _declare(
            SchedulerSpec("onecycle", param="weight_decay", max_lr=0.1, total_steps=10, cycle_momentum=False)
        )
    with pytest.raises(ValueError, match=r"LinearLR"):
        _declare(SchedulerSpec("linear", param="weight_decay", start_factor=2.0))


@pytest.mark.parametrize(
    ("optimizer", "spec", "message"),
    [
        # a cosine over the 12 steps from beta1 0.9 to 1.5 passes 1 on the way
        (
            ("adam", {"lr": 0.01}),
            SchedulerSpec("cosine", param="beta1", eta_min=1.5, interval="step"),
            r"Expected the beta1 of param group 0 to be a number in \[0, 1\) but got 1\.0",
        ),
        (
            ("adamw", {"lr": 0.01, "weight_decay": 0.05}),
            SchedulerSpec("cosine", param="weight_decay", eta_min=-0.1, interval="step"),
            r"Expected the weight_decay of param group 0 to be a finite number >= 0 but got -0\.0",
        ),
        (
            ("sgd", {"lr": 0.01, "momentum": 0.5}),
            SchedulerSpec("cosine", param="momentum", eta_min=-0.5, interval="step"),
            r"Expected the momentum of param group 0 to be a finite number >= 0 but got -0\.",
        ),
    ],
    ids=["beta1", "weight_decay", "momentum"],
)
def test_a_param_schedule_driving_an_option_out_of_what_torch_accepts_stops(
    optimizer: tuple[str, dict[str, float]], spec: SchedulerSpec, message: str
) -> None:
    """Torch refuses these values when the optimizer is built (``Adam(betas=(1.5, 0.999))``); reached by a
    schedule, they are refused before the step that would use them, as a negative lr is."""
    module = type(
        "Driven",
        (ConfigurableOptimizersMixin, Classifier),
        {"optimizer": OptimizerSpec(optimizer[0], **optimizer[1], scheduler=spec)},
    )
    with pytest.raises(ValueError, match=r"Driven\.optimizer: " + message + r".*The `param='"):
        L.Trainer(**{**FAST, "max_epochs": EPOCHS}).fit(module(), loader())


ZERO_DRIVEN = (
    "Model.optimizer.scheduler{at}: Expected a nonzero `{option}` for {names} (`param={param!r}`) to schedule but "
    "got `{option}={value}` ({source}) in every param group it drives: {names} {verb} the value each group starts "
    "from, so the `{option}` stays 0 at every update and the schedule changes nothing. Declare a nonzero "
    "`{option}` for it to start from, or remove the schedule."
)


@pytest.mark.parametrize(
    ("optimizer", "scheduler", "message"),
    [
        (
            ("sgd", {}),
            SchedulerSpec("linear", start_factor=0.5, total_iters=2, param="weight_decay", interval="step"),
            {
                "option": "weight_decay",
                "names": "`LinearLR`",
                "param": "weight_decay",
                "source": "`SGD`'s default",
            },
        ),
        (
            ("sgd", {}),
            SchedulerSpec("cosine", T_max=4, param="momentum", interval="step"),
            {
                "option": "momentum",
                "names": "`CosineAnnealingLR`",
                "param": "momentum",
                "source": "`SGD`'s default",
            },
        ),
        (
            ("adamw", {"weight_decay": 0.0, "groups": [ParamGroup("model_gen.layer1", lr=0.5)]}),
            SchedulerSpec("transformers/cosine", num_training_steps=8, param="weight_decay"),
            {
                "option": "weight_decay",
                "names": "`CosineWithWarmupLR`",
                "param": "weight_decay",
                "source": "declared",
            },
        ),
        (
            ("adam", {"betas": (0.0, 0.999)}),
            SchedulerSpec("step", step_size=1, gamma=0.5, param="beta1", warmup=2),
            {"option": "betas[0]", "names": "`StepLR`", "param": "beta1", "source": "declared"},
        ),
        (
            ("sgd", {}),
            [
                SchedulerSpec("cosine"),
                SchedulerSpec("exponential", gamma=0.9, param="weight_decay"),
                SchedulerSpec(
                    "chained",
                    schedulers=[
                        SchedulerSpec("constant", total_iters=2),
                        SchedulerSpec("polynomial", total_iters=2),
                    ],
                    param="weight_decay",
                ),
            ],
            {
                "at": "[1]",
                "option": "weight_decay",
                "names": "`ExponentialLR`, `ChainedScheduler`",
                "param": "weight_decay",
                "source": "`SGD`'s default",
                "verb": "scale",
            },
        ),
    ],
    ids=["linear-weight_decay", "cosine-momentum", "declared-zero", "beta1-warmup", "list"],
)
def test_a_schedule_of_an_option_that_is_0_in_every_group_is_refused_at_class_definition(
    optimizer: tuple[str, dict[str, Any]], scheduler: Any, message: dict[str, str]
) -> None:
    """Each scheduler scales the value a group starts from (``LinearLR``, a cosine to ``eta_min=0``): from 0 the
    option stayed 0 at every step while the declaration read as scheduling it (SGD's weight decay stayed [0.0]
    under the linear schedule, its momentum 0 under the cosine; found by the hunt for silent declarations)."""
    expected = ZERO_DRIVEN.format(**{"at": "", "value": "0.0", "verb": "scales", **message})
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        _declare_named(OptimizerSpec(optimizer[0], lr=0.1, scheduler=scheduler, **optimizer[1]))


def _declare_named(spec: OptimizerSpec) -> type:
    return type("Model", (ConfigurableOptimizersMixin, Classifier), {"optimizer": spec})


class _Driven(L.Callback):
    """Records, before every training batch, ``option`` of every param group of the first optimizer."""

    def __init__(self, option: str) -> None:
        self.option = option
        self.history: list[list[float]] = []

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self.history.append([float(g[self.option]) for g in trainer.optimizers[0].param_groups])


def _driven_by_torch(make: Any, start: list[float], steps: int) -> list[list[float]]:
    """The values a torch scheduler gives an option starting at ``start`` (one per group) before each step: the
    scheduler built on an ``SGD`` whose lrs are those values, as a hand-written module's view of the option."""
    optimizer = SGD([{"params": [nn.Parameter(torch.zeros(1))], "lr": value} for value in start])
    scheduler = make(optimizer)
    values = []
    for _ in range(steps):
        values.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return values


@pytest.mark.parametrize(
    ("spec", "option", "make", "start"),
    [
        (  # from 0 to eta_min: torch's own arguments set the values
            OptimizerSpec(
                SGD,
                lr=0.1,
                scheduler=SchedulerSpec("cosine", param="weight_decay", eta_min=0.4, interval="step"),
            ),
            "weight_decay",
            lambda o: CosineAnnealingLR(o, T_max=STEPS, eta_min=0.4),
            [0.0],
        ),
        (  # a LinearLR scales what the cosine beside it sets on the same option
            OptimizerSpec(
                SGD,
                lr=0.1,
                momentum=0.0,
                scheduler=[
                    SchedulerSpec("cosine", param="momentum", eta_min=0.9, interval="step"),
                    SchedulerSpec(
                        "linear", param="momentum", start_factor=0.5, total_iters=4, interval="step"
                    ),
                ],
            ),
            "momentum",
            lambda o: torch.optim.lr_scheduler.ChainedScheduler(
                [CosineAnnealingLR(o, T_max=STEPS, eta_min=0.9), LinearLR(o, start_factor=0.5, total_iters=4)]
            ),
            [0.0],
        ),
        (  # one group decays: the schedule drives it (the other stays 0, as torch's LinearLR keeps it)
            OptimizerSpec(
                SGD,
                lr=0.1,
                groups=[ParamGroup("model_gen.layer1", weight_decay=0.1)],
                scheduler=SchedulerSpec(
                    "linear", param="weight_decay", start_factor=0.5, total_iters=4, interval="step"
                ),
            ),
            "weight_decay",
            lambda o: LinearLR(o, start_factor=0.5, total_iters=4),
            [0.1, 0.0],
        ),
    ],
    ids=["cosine-to-eta_min", "linear-beside-a-cosine", "one-group-decays"],
)
def test_a_schedule_that_moves_a_0_or_drives_a_nonzero_group_trains_as_torch(
    spec: OptimizerSpec, option: str, make: Any, start: list[float]
) -> None:
    driven = _Driven(option)
    fit_resumed(_declare_named(spec)(), None, max_epochs=EPOCHS, callbacks=[driven])
    expected = _driven_by_torch(make, start, STEPS)
    assert driven.history == [pytest.approx(values, rel=1e-12, abs=1e-15) for values in expected]
    assert any(any(values) for values in expected)


class SweptDecay(Classifier):
    """A sweep's 0 point: the weight decay read from the hparams when ``fit`` starts."""

    optimizer = OptimizerSpec(
        SGD,
        lr=0.1,
        weight_decay=HParam("weight_decay"),
        scheduler=SchedulerSpec(
            "linear", param="weight_decay", start_factor=0.5, total_iters=4, interval="step"
        ),
    )

    def __init__(self, weight_decay: float) -> None:
        super().__init__()
        self.save_hyperparameters()


class HandWrittenSweptDecay(Classifier):
    """torch's ``LinearLR(start_factor=0.5, total_iters=4)`` on the weight decay, written out."""

    def __init__(self, weight_decay: float) -> None:
        super().__init__()
        self.weight_decay = weight_decay

    def configure_optimizers(self) -> Any:
        return SGD(self.parameters(), lr=0.1, weight_decay=self.weight_decay * 0.5)

    def on_train_batch_end(self, *args: Any) -> None:
        factor = 0.5 + 0.5 * min(self.global_step, 4) / 4
        for group in self.optimizers().param_groups:
            group["weight_decay"] = self.weight_decay * factor


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_a_weight_decay_read_from_an_hparam_is_accepted_at_0_and_trains_as_written(
    weight_decay: float,
) -> None:
    """As ``warmup=HParam(...)`` at 0.0: the 0 run of a sweep over the weight decay trains without it."""
    module = type("Swept", (ConfigurableOptimizersMixin, SweptDecay), {})
    ours, theirs = _Driven("weight_decay"), _Driven("weight_decay")
    declared, reference = module(weight_decay), HandWrittenSweptDecay(weight_decay)
    fit_resumed(declared, None, max_epochs=EPOCHS, callbacks=[ours])
    fit_resumed(reference, None, max_epochs=EPOCHS, callbacks=[theirs])
    assert ours.history == [pytest.approx(values, rel=1e-12) for values in theirs.history]
    assert_same_weights(declared, reference)
