"""``OptimizerSpec(loss="method", every=n)``: the mixin writes the training step of a GAN.

The reference is the manual loop a Lightning 2 user writes for the same training (Lightning's GAN example:
``toggle_optimizer``, ``zero_grad`` at the start of an accumulation window, ``manual_backward`` of the loss
divided by the accumulation, ``clip_gradients`` and ``step`` at its end, the schedulers stepped by hand):
weights (``torch.equal``) and the lr before every batch must be equal, with accumulation, clipping,
``bf16-mixed``, ``every`` and a mid-epoch resume.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import GradientAccumulationScheduler, ModelCheckpoint
from lightning.pytorch.loggers import Logger
from lightning.pytorch.plugins import MixedPrecision
from lightning.pytorch.tuner import Tuner
from torch import nn
from torch.nn import functional as F
from torch.optim import LBFGS, SGD, Adam
from torch.optim.lr_scheduler import ConstantLR, CosineAnnealingLR, ExponentialLR, StepLR
from torch.utils.data import DataLoader, TensorDataset

from lightning_optim import (
    ConfigurableOptimizersMixin,
    HParam,
    LRMonitor,
    OptimizerSpec,
    SchedulerSpec,
    preview_schedule,
)
from lightning_optim.training.nonfinite import skipped_updates
from lightning_optim.utilities import compat
from tests.helpers import FAST, LrRecorder, assert_same_weights, fit, fit_resumed

# these tests run LRMonitor without a logger on purpose (its values are read from `lrs`)
pytestmark = pytest.mark.filterwarnings("ignore:`LRMonitor` is used with a `Trainer` that has no logger")

BATCHES = 5  # a partial accumulation window at the end of each epoch with accumulate_grad_batches=2


def data(batches: int = BATCHES) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(8 * batches, 8, generator=generator)), batch_size=8)


class Gan(L.LightningModule):
    """A tiny GAN on vectors: the generator maps a flipped sample to a fake one."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.generator = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 8))
        self.discriminator = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))

    def fake(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator(x.flip(0))

    def discriminator_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        (x,) = batch
        real = self.discriminator(x)
        fake = self.discriminator(self.fake(x).detach())
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def generator_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        (x,) = batch
        return F.softplus(-self.discriminator(self.fake(x))).mean()


PER_STEP = SchedulerSpec("exponential", gamma=0.9, interval="step")
PER_EPOCH = SchedulerSpec("step", step_size=1, gamma=0.5)


def gan_specs(
    every: int = 1, losses: tuple[str, str] = ("discriminator_loss", "generator_loss"), **options: Any
) -> dict[str, OptimizerSpec]:
    """The discriminator first (so the generator's loss sees it updated), the generator every ``every``; their
    ``loss`` methods are ``losses``."""
    dis_loss, gen_loss = losses
    return {
        "dis_opt": OptimizerSpec(
            Adam,
            params="discriminator",
            lr=0.01,
            loss=dis_loss,
            scheduler=PER_STEP,
            implementation="forloop",
            **options,
        ),
        "gen_opt": OptimizerSpec(
            SGD,
            params="generator",
            lr=0.05,
            momentum=0.9,
            loss=gen_loss,
            every=every,
            scheduler=[PER_STEP, PER_EPOCH],
            implementation="forloop",
        ),
    }


def declared(every: int = 1, name: str = "Declared", **options: Any) -> type[Gan]:
    """``gan_specs`` declared on ``Gan``."""
    return type(name, (ConfigurableOptimizersMixin, Gan), gan_specs(every, **options))


class HandWritten(Gan):
    """The manual loop ``declared`` stands for, with accumulation and clipping by hand."""

    def __init__(
        self, every: int = 1, accumulate: int = 1, clip: float | None = None, algorithm: str = "norm"
    ):
        super().__init__()
        self.automatic_optimization = False
        self.every, self.accumulate, self.clip, self.algorithm = every, accumulate, clip, algorithm

    def configure_optimizers(self) -> Any:
        dis = Adam(self.discriminator.parameters(), lr=0.01, foreach=False)
        gen = SGD(self.generator.parameters(), lr=0.05, momentum=0.9, foreach=False)
        schedulers = [ExponentialLR(dis, 0.9), ExponentialLR(gen, 0.9), StepLR(gen, 1, 0.5)]
        return [dis, gen], schedulers

    def training_step(self, batch: Any, batch_idx: int) -> None:
        k = self.accumulate
        end = min((batch_idx // k + 1) * k - 1, self.trainer.num_training_batches - 1)
        dis_sch, gen_sch, gen_epoch = self.lr_schedulers()
        steps = (
            (self.optimizers()[0], self.discriminator_loss, 1, [dis_sch]),
            (self.optimizers()[1], self.generator_loss, self.every, [gen_sch]),
        )
        for opt, loss_of, every, per_step in steps:
            if (end + 1) % every:
                continue
            self.toggle_optimizer(opt)
            if batch_idx % k == 0:
                opt.zero_grad()
            loss = loss_of(batch, batch_idx)
            if loss is not None:  # Lightning 1.x's None: no backward; the window's step runs all the same
                self.manual_backward(loss / k)
            if batch_idx == end:
                if self.clip:
                    self.clip_gradients(
                        opt, gradient_clip_val=self.clip, gradient_clip_algorithm=self.algorithm
                    )
                if self.applied_step(opt):
                    for scheduler in per_step:
                        scheduler.step()
            self.untoggle_optimizer(opt)
        if self.trainer.is_last_batch:
            gen_epoch.step()

    def applied_step(self, opt: Any) -> bool:
        opt.step()
        return True


CASES: dict[str, dict[str, Any]] = {
    "plain": {},
    "every": {"every": 2},
    "accumulate": {"accumulate": 2},
    "accumulate+every": {"accumulate": 2, "every": 2},
    "accumulate+every-2-windows": {"accumulate": 2, "every": 4},
    "clip-norm": {"clip": 0.05},
    "clip-value": {"clip": 0.01, "algorithm": "value"},
    "accumulate+clip": {"accumulate": 2, "clip": 0.05},
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_equals_the_hand_written_manual_loop(case: str, precision: str) -> None:
    options = CASES[case]
    ours, theirs = declared(every=options.get("every", 1))(), HandWritten(**options)
    trainer_options: dict[str, Any] = {"max_epochs": 2, "precision": precision}
    mine = fit(
        ours,
        data=data(),
        accumulate_grad_batches=options.get("accumulate", 1),
        gradient_clip_val=options.get("clip"),
        gradient_clip_algorithm=options.get("algorithm", "norm"),
        **trainer_options,
    )
    reference = fit(theirs, data=data(), **trainer_options)
    assert mine.history == reference.history
    assert_same_weights(ours, theirs)
    assert ours.trainer.global_step == theirs.trainer.global_step


class HandWrittenScaled(HandWritten):
    """Under a ``GradScaler`` the gradients are scaled until ``opt.step()`` unscales them: the hand-written loop
    clips in ``on_before_optimizer_step``, which runs after the unscaling, and steps the schedulers only after
    a step the scaler did not skip (as the mixin does)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.scaled_clip, self.clip = self.clip, None

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        if self.scaled_clip:
            self.clip_gradients(optimizer, gradient_clip_val=self.scaled_clip, gradient_clip_algorithm="norm")

    def applied_step(self, opt: Any) -> bool:
        """The #5558 workaround: the schedulers step only when the scaler did not skip the step."""
        scaler = self.trainer.precision_plugin.scaler  # type: ignore[attr-defined]
        before = scaler.get_scale()
        opt.step()
        return bool(scaler.get_scale() >= before)


@pytest.mark.parametrize("case", ["plain", "accumulate+clip"])
def test_16_mixed_clips_after_the_scaler_unscales(case: str) -> None:
    options = CASES[case]

    def scaler() -> MixedPrecision:
        return MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))

    ours, theirs = declared()(), HandWrittenScaled(**options)
    mine = fit(
        ours,
        data=data(),
        max_epochs=2,
        plugins=[scaler()],
        accumulate_grad_batches=options.get("accumulate", 1),
        gradient_clip_val=options.get("clip"),
    )
    reference = fit(theirs, data=data(), max_epochs=2, plugins=[scaler()])
    assert mine.history == reference.history
    assert_same_weights(ours, theirs)


def test_the_generator_sees_the_updated_discriminator() -> None:
    seen: list[bool] = []

    class Probe(declared()):  # type: ignore[misc]
        def discriminator_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
            self.before = [p.detach().clone() for p in self.discriminator.parameters()]
            return super().discriminator_loss(batch, batch_idx)

        def generator_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
            after = list(self.discriminator.parameters())
            seen.append(all(not torch.equal(a, b) for a, b in zip(after, self.before)))
            assert all(not p.requires_grad for p in self.discriminator.parameters())  # toggled
            return super().generator_loss(batch, batch_idx)

    fit(Probe(), data=data(), max_epochs=1)
    assert seen == [True] * BATCHES


def test_losses_are_logged_like_a_training_steps() -> None:
    module = declared()()
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_model_summary=False)
    trainer.fit(module, data())
    metrics = trainer.callback_metrics
    (x,) = next(iter(data(BATCHES)))
    assert set(metrics) >= {"loss/dis_opt", "loss/gen_opt"}
    assert set(trainer.progress_bar_metrics) >= {"loss/dis_opt", "loss/gen_opt"}
    assert float(metrics["loss/gen_opt"]) == pytest.approx(
        module.generator_loss((x[-8:],), 4).detach().item(), rel=0.5
    )


def test_a_none_loss_steps_the_schedules_and_a_dict_gives_its_loss() -> None:
    class Skipping(declared()):  # type: ignore[misc]
        def generator_loss(self, batch: Any, batch_idx: int) -> Any:
            return None if batch_idx % 2 else {"loss": super().generator_loss(batch, batch_idx), "extra": 1}

    module = Skipping()
    recorder = fit(module, data=data(), max_epochs=1)
    # a batch without the generator's loss is still its step (with nothing to apply): its schedule steps after
    # every batch, as in Lightning 1.x's loop and in automatic optimization
    assert recorder.of(1)[-1] == pytest.approx(0.05 * 0.9 ** (BATCHES - 1))
    assert module.trainer.global_step == 2 * BATCHES


class Skips(L.LightningModule):
    """One linear layer whose loss is ``None`` at the batches in ``none`` (of every epoch)."""

    none: frozenset[int] = frozenset()

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Linear(8, 1)

    def loss(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        if batch_idx in self.none:
            return None
        (x,) = batch
        return self.net(x).pow(2).mean()


COSINE = SchedulerSpec("cosine", interval="step")


def skipping(none: set[int], **options: Any) -> type[Skips]:
    """``Skips`` with its optimizer declared with ``loss=``: the mixin writes the training step."""
    spec = OptimizerSpec(Adam, lr=0.1, loss="loss", implementation="forloop", scheduler=COSINE, **options)
    return type(
        "Declared", (ConfigurableOptimizersMixin, Skips), {"optimizer": spec, "none": frozenset(none)}
    )


class HandSkips(Skips):
    """The manual loop of Lightning 1.x's ``None``: no backward for that batch, and at the window's end the
    optimizer steps (without gradients if no backward ran in the window) and its scheduler steps."""

    def __init__(self, none: set[int], accumulate: int = 1, max_epochs: int = 2) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.none, self.accumulate, self.max_epochs = frozenset(none), accumulate, max_epochs

    def configure_optimizers(self) -> Any:
        optimizer = Adam(self.parameters(), lr=0.1, foreach=False)
        windows = -(-BATCHES // self.accumulate)
        return [optimizer], [CosineAnnealingLR(optimizer, T_max=windows * self.max_epochs)]

    def training_step(self, batch: Any, batch_idx: int) -> None:
        k = self.accumulate
        end = min((batch_idx // k + 1) * k - 1, self.trainer.num_training_batches - 1)
        opt, sch = self.optimizers(), self.lr_schedulers()
        if batch_idx % k == 0:
            opt.zero_grad()
        loss = self.loss(batch, batch_idx)
        if loss is not None:
            self.manual_backward(loss / k)
        if batch_idx == end:
            opt.step()
            sch.step()


@pytest.mark.parametrize(
    ("accumulate", "none"),
    [(1, {0}), (1, {2, 3}), (2, {0, 1}), (2, {1}), (2, {4}), (2, {2, 3, 4})],
    ids=["first", "two-in-a-row", "whole-window", "part-of-a-window", "last-window", "two-windows"],
)
def test_a_none_loss_is_a_step_with_nothing_to_apply(accumulate: int, none: set[int]) -> None:
    """A window whose every loss was ``None`` steps the optimizer without gradients and its schedules, as
    Lightning 1.x's loop did: the lrs are the preview's, the derived cosine ends at 0, the weights are the
    hand-written loop's and the global step counts every window."""
    cls = skipping(none)
    ours, theirs = cls(), HandSkips(none, accumulate)
    mine = fit(ours, data=data(), max_epochs=2, accumulate_grad_batches=accumulate)
    reference = fit(theirs, data=data(), max_epochs=2)
    assert mine.history == reference.history
    assert_same_weights(ours, theirs)
    windows = 2 * -(-BATCHES // accumulate)
    assert ours.trainer.global_step == theirs.trainer.global_step == windows
    assert ours.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    previewed = preview_schedule(
        cls, max_epochs=2, steps_per_epoch=BATCHES, accumulate_grad_batches=accumulate
    )
    starts = [e * BATCHES + b for e in range(2) for b in range(0, BATCHES, accumulate)]
    assert [mine.of(0)[i] for i in starts] == pytest.approx(previewed["lr-optimizer"], rel=1e-12)


class HandSkipsClipped(HandSkips):
    """``HandSkips`` clipping each window's gradients before its step, where its backward left some."""

    def __init__(self, none: set[int], accumulate: int, algorithm: str) -> None:
        super().__init__(none, accumulate)
        self.algorithm = algorithm

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        if any(p.grad is not None for p in self.parameters()):
            self.clip_gradients(optimizer, gradient_clip_val=0.01, gradient_clip_algorithm=self.algorithm)


@pytest.mark.parametrize("algorithm", ["value", "norm"])
def test_a_window_without_gradients_is_not_clipped(algorithm: str) -> None:
    """Windows of 4 in 5 batches, the loss ``None`` at batch 4: the last window steps without gradients, the
    weights as they were and the schedule stepping, as the hand-written loop. With clipping by value its step
    failed in torch's ``clip_grad_value_`` ("Expected !nested_tensorlist[0].empty() to be true"); the module's
    ``configure_gradient_clipping`` is called at the windows with gradients only, nothing to clip elsewhere."""
    calls: list[int] = []

    class Clipped(skipping({4})):  # type: ignore[misc]
        def configure_gradient_clipping(self, optimizer: Any, **options: Any) -> None:
            calls.append(self.trainer.global_step)
            super().configure_gradient_clipping(optimizer, **options)

    ours, theirs = Clipped(), HandSkipsClipped({4}, accumulate=4, algorithm=algorithm)
    options: dict[str, Any] = {"gradient_clip_val": 0.01, "gradient_clip_algorithm": algorithm}
    mine = fit(ours, data=data(), max_epochs=2, accumulate_grad_batches=4, **options)
    reference = fit(theirs, data=data(), max_epochs=2)
    assert mine.history == reference.history
    assert_same_weights(ours, theirs)
    assert ours.trainer.global_step == theirs.trainer.global_step == 4
    assert calls == [0, 2]
    assert ours.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


class Automatic(Skips):
    """Automatic optimization's ``None`` from ``training_step``, the documented meaning."""

    def configure_optimizers(self) -> Any:
        optimizer = Adam(self.parameters(), lr=0.1, foreach=False)
        schedule = CosineAnnealingLR(optimizer, T_max=2 * BATCHES)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        return self.loss(batch, batch_idx)


class Rows(Logger):
    """Keeps the rows written to the loggers: the step and the logged losses."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[int | None, dict[str, float]]] = []

    @property
    def name(self) -> str:
        return "rows"

    @property
    def version(self) -> int:
        return 0

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.rows.append((step, {k: float(v) for k, v in metrics.items() if k.startswith("loss")}))

    def log_hyperparams(self, *args: Any, **kwargs: Any) -> None:
        pass


class LogsItsOwn(Skips):
    """A loss method that logs a value of its own, as a ``training_step`` may."""

    def loss(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        loss = super().loss(batch, batch_idx)
        self.log("loss/own", float(batch_idx))
        return loss


class AutomaticLogging(LogsItsOwn, Automatic):
    """Automatic optimization logging the loss as ``loss/optimizer``, its cosine over windows of 2 batches."""

    def configure_optimizers(self) -> Any:
        optimizer = Adam(self.parameters(), lr=0.1, foreach=False)
        schedule = CosineAnnealingLR(optimizer, T_max=2 * -(-BATCHES // 2))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        loss = self.loss(batch, batch_idx)
        self.log("loss/optimizer", loss, prog_bar=True)  # type: ignore[arg-type]
        return loss


def test_the_loss_is_written_once_per_window_as_in_automatic_optimization() -> None:
    """Windows of 2 batches: the loggers get one row per window (its last batch's ``loss/optimizer`` and the
    method's own ``loss/own``), at the logging step counting windows, as automatic optimization writes them.
    Each row was written at every batch of its window, under the same step."""
    ours, theirs = type("Ours", (LogsItsOwn, skipping(set())), {})(), AutomaticLogging()
    mine, reference = Rows(), Rows()
    options: dict[str, Any] = {"max_epochs": 2, "accumulate_grad_batches": 2, "log_every_n_steps": 1}
    fit(ours, data=data(), logger=mine, **options)
    fit(theirs, data=data(), logger=reference, **options)
    assert_same_weights(ours, theirs)
    written = [(step, row) for step, row in mine.rows if row]
    assert written == [(step, row) for step, row in reference.rows if row]
    assert [(step, row["loss/own"]) for step, row in written] == [
        (0, 1.0),
        (1, 3.0),
        (2, 4.0),
        (3, 1.0),
        (4, 3.0),
        (5, 4.0),
    ]


class Outputs(L.Callback):
    """What ``training_step`` returned at each batch, as Lightning hands it to ``on_train_batch_end``."""

    def __init__(self) -> None:
        self.outputs: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.outputs.append(outputs)


def assert_same_outputs(a: list[dict[str, torch.Tensor]], b: list[dict[str, torch.Tensor]]) -> None:
    assert len(a) == len(b)
    for mine, theirs in zip(a, b):
        assert mine.keys() == theirs.keys()
        assert all(torch.equal(mine[key], theirs[key]) for key in mine)


def test_the_written_step_returns_the_loss_automatic_optimization_hands_the_callbacks() -> None:
    """One optimizer: the loss of the batch, divided by the accumulation as it is backpropagated, which
    Lightning hands ``on_train_batch_end`` as ``outputs["loss"]`` (what the LR finder reads), as automatic
    optimization does for the module returning its loss."""
    ours, theirs = type("Ours", (LogsItsOwn, skipping(set())), {})(), AutomaticLogging()
    mine, reference = Outputs(), Outputs()
    options: dict[str, Any] = {"max_epochs": 2, "accumulate_grad_batches": 2}
    fit(ours, data=data(), callbacks=[mine], **options)
    fit(theirs, data=data(), callbacks=[reference], **options)
    assert_same_weights(ours, theirs)
    assert [set(outputs) for outputs in mine.outputs] == [{"loss"}] * 2 * BATCHES
    assert_same_outputs(mine.outputs, reference.outputs)


class LossesReturned(declared(every=4)):  # type: ignore[misc]
    """The GAN declared with ``every=4`` on the generator, keeping what each loss method returned."""

    def __init__(self) -> None:
        super().__init__()
        self.returned: list[dict[str, torch.Tensor]] = []

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self.returned.append({})

    def discriminator_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = super().discriminator_loss(batch, batch_idx)
        self.returned[-1]["dis_opt"] = loss.detach()
        return loss

    def generator_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = super().generator_loss(batch, batch_idx)
        self.returned[-1]["gen_opt"] = loss.detach()
        return loss


def test_the_written_step_returns_each_optimizers_loss_by_its_attribute() -> None:
    """Several optimizers have no one loss of the batch: the written step returns each one's loss (divided by the
    accumulation) by its attribute, for those whose method ran at the batch (the generator's every other
    window), and Lightning hands that dict to ``on_train_batch_end``."""
    module, outputs = LossesReturned(), Outputs()
    fit(module, data=data(), max_epochs=1, accumulate_grad_batches=2, callbacks=[outputs])
    assert [set(batch) for batch in outputs.outputs] == [
        {"dis_opt"},
        {"dis_opt"},
        {"dis_opt", "gen_opt"},
        {"dis_opt", "gen_opt"},
        {"dis_opt"},
    ]
    halved = [{key: loss / 2 for key, loss in batch.items()} for batch in module.returned]
    assert_same_outputs(outputs.outputs, halved)


class Tunable(Skips):
    """``Skips`` with its ``lr`` in ``hparams``, where the LR finder writes its suggestion."""

    def __init__(self, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()


class HandTunable(Tunable):
    """The hand-written manual module the LR finder works with: it steps its scheduler (the finder's sweep while
    the finder runs) after ``opt.step()`` and returns its loss, which the finder records."""

    def __init__(self, lr: float = 0.1) -> None:
        super().__init__(lr)
        self.automatic_optimization = False

    def configure_optimizers(self) -> Any:
        optimizer = Adam(self.parameters(), lr=self.hparams.lr, foreach=False)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": ExponentialLR(optimizer, 0.9), "interval": "step"},
        }

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        opt = self.optimizers()
        opt.zero_grad()
        loss = self.loss(batch, batch_idx)
        self.manual_backward(loss)
        opt.step()
        self.lr_schedulers().step()
        return loss


def test_the_lr_finder_records_the_loss_the_written_step_returns(tmp_path: Path) -> None:
    """``Tuner.lr_find`` records the loss each step of its sweep returns: the written step's, as the hand-written
    module's (before, every recorded loss was nan and no suggestion came)."""
    spec = OptimizerSpec(Adam, lr=HParam("lr"), loss="loss", implementation="forloop", scheduler=PER_STEP)
    ours = type("Declared", (ConfigurableOptimizersMixin, Tunable), {"optimizer": spec})()
    theirs = HandTunable()
    found, recorders = [], []
    for module in (ours, theirs):
        recorders.append(LrRecorder())
        root = tmp_path / type(module).__name__
        trainer = L.Trainer(**{**FAST, "max_epochs": 1}, default_root_dir=root, callbacks=recorders[-1:])
        tuner = Tuner(trainer)
        found.append(
            tuner.lr_find(module, data(20), num_training=20, early_stop_threshold=None, update_attr=True)
        )
        trainer.fit(module, data(20))
    mine, reference = found
    assert len(reference.results["loss"]) == 20 and not any(math.isnan(x) for x in reference.results["loss"])
    assert mine.results == reference.results
    assert mine.suggestion() == reference.suggestion() is not None
    # the fit after it trains from the suggestion, as the hand-written module does
    assert recorders[0].history == recorders[1].history
    assert recorders[0].of()[0] == reference.suggestion()
    assert_same_weights(ours, theirs)


class Untouched(L.Callback):
    """The weights and the optimizer's state before and after each batch in ``none``."""

    def __init__(self, none: set[int]) -> None:
        self.none = none
        self.seen: list[tuple[Any, Any]] = []

    def snapshot(self, trainer: L.Trainer) -> tuple[Any, Any]:
        optimizer = trainer.optimizers[0]
        state = [
            {k: v.clone() for k, v in optimizer.state[p].items()}
            for p in trainer.lightning_module.parameters()
        ]
        return [p.detach().clone() for p in trainer.lightning_module.parameters()], state

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if batch_idx in self.none:
            self.before = self.snapshot(trainer)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx in self.none:
            self.seen.append((self.before, self.snapshot(trainer)))


def scaler() -> MixedPrecision:
    """A CPU ``GradScaler`` that starts at a scale without overflows here (no skipped step to tell apart)."""
    return MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu", init_scale=2.0**8))


@pytest.mark.filterwarnings("ignore:`training_step` returned `None`")
@pytest.mark.parametrize("precision", ["32-true", "16-mixed"])
def test_a_none_loss_leaves_the_weights_and_state_and_is_no_skip(precision: str) -> None:
    """The step of a ``None`` batch changes no weight and no optimizer state (Adam's ``step`` included), is not
    a skip of ``skip_nonfinite`` (two in a row under a limit of 1), and trains as automatic optimization's
    ``None``, under a ``GradScaler`` too (whose ``step`` refuses an optimizer without gradients)."""
    none = {2, 3}
    plugins = {"plugins": [scaler()]} if precision == "16-mixed" else {}
    ours, theirs = skipping(none, skip_nonfinite=1)(), type("Auto", (Automatic,), {"none": frozenset(none)})()
    untouched = Untouched(none)
    mine = fit(ours, data=data(), max_epochs=2, callbacks=[untouched], **plugins)
    reference = fit(theirs, data=data(), max_epochs=2, **plugins)
    assert mine.history == reference.history
    assert_same_weights(ours, theirs)
    assert ours.trainer.global_step == theirs.trainer.global_step == 2 * BATCHES
    assert len(untouched.seen) == 4
    for (weights_before, state_before), (weights_after, state_after) in untouched.seen:
        assert all(torch.equal(a, b) for a, b in zip(weights_before, weights_after))
        for a, b in zip(state_before, state_after, strict=True):
            assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)
    assert skipped_updates(ours.trainer.optimizers[0]) == 0


def test_two_optimizers_one_of_them_none_at_a_batch_follows_the_preview() -> None:
    """The generator's loss is ``None`` at every epoch's first batch: its derived cosine still takes a step per
    batch, as the preview and the hand-written loop say, and ends at 0."""
    attributes = {
        "dis_opt": OptimizerSpec(
            Adam,
            params="discriminator",
            lr=0.01,
            loss="discriminator_loss",
            implementation="forloop",
            scheduler=COSINE,
        ),
        "gen_opt": OptimizerSpec(
            SGD,
            params="generator",
            lr=0.05,
            momentum=0.9,
            loss="generator_loss",
            implementation="forloop",
            scheduler=COSINE,
        ),
    }

    def none_first(self: Any, batch: Any, batch_idx: int) -> torch.Tensor | None:
        return None if batch_idx == 0 else Gan.generator_loss(self, batch, batch_idx)

    cls = type("Cosines", (ConfigurableOptimizersMixin, Gan), {**attributes, "generator_loss": none_first})

    class Hand(HandWritten):
        generator_loss = none_first

        def configure_optimizers(self) -> Any:
            dis = Adam(self.discriminator.parameters(), lr=0.01, foreach=False)
            gen = SGD(self.generator.parameters(), lr=0.05, momentum=0.9, foreach=False)
            schedulers = [CosineAnnealingLR(dis, 2 * BATCHES), CosineAnnealingLR(gen, 2 * BATCHES)]
            return [dis, gen], [*schedulers, ConstantLR(gen, factor=1.0, total_iters=0)]  # no epoch schedule

    ours, theirs = cls(), Hand()
    mine = fit(ours, data=data(), max_epochs=2)
    reference = fit(theirs, data=data(), max_epochs=2)
    assert mine.history == reference.history
    assert_same_weights(ours, theirs)
    assert ours.trainer.global_step == 4 * BATCHES
    previewed = preview_schedule(cls, max_epochs=2, steps_per_epoch=BATCHES)
    assert mine.of(1) == pytest.approx(previewed["lr-gen_opt"], rel=1e-12)
    assert ours.trainer.optimizers[1].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
def test_mid_epoch_resume(tmp_path: Path) -> None:
    """Stopped after a window in the middle of an epoch and resumed: the same lrs as uninterrupted, and the
    same weights as the hand-written loop resumed from its own checkpoint at the same step (a plain
    ``DataLoader`` starts the resumed epoch from its first batch again, in both)."""
    options = {"every": 2, "accumulate": 2, "clip": 0.05}
    trainer_options: dict[str, Any] = {"accumulate_grad_batches": 2, "gradient_clip_val": 0.05}
    cls = declared(every=2)
    uninterrupted = fit(cls(), data=data(), max_epochs=3, **trainer_options)
    resumed: dict[str, Any] = {}
    for label, make, extra in (("ours", cls, trainer_options), ("hand", lambda: HandWritten(**options), {})):
        saves = ModelCheckpoint(dirpath=tmp_path / label, every_n_train_steps=1, save_top_k=-1)
        fit(make(), data=data(), max_epochs=3, callbacks=[saves], enable_checkpointing=True, **extra)
        # windows end at batches 1, 3, 4, the generator steps at 1 and 3: global steps 2, 4, 5 per epoch
        checkpoint = tmp_path / label / "epoch=1-step=9.ckpt"  # after batch 3 of the second epoch
        module = make()
        history = fit_resumed(module, str(checkpoint), data=data(), max_epochs=3, **extra).history
        resumed[label] = (module, history)
    (ours, mine), (theirs, reference) = resumed["ours"], resumed["hand"]
    assert len(mine) == 1 + BATCHES
    assert mine == reference == uninterrupted.history[-len(mine) :]
    assert_same_weights(ours, theirs)


def test_preview_knows_every() -> None:
    cls = declared(every=2)
    monitor = LRMonitor(logging_interval="step")
    for accumulate, max_steps in ((1, -1), (2, -1), (2, 7)):
        monitor = LRMonitor(logging_interval="step")
        module = cls()
        fit(
            module,
            data=data(),
            max_epochs=3,
            max_steps=max_steps,
            accumulate_grad_batches=accumulate,
            callbacks=[monitor],
            log_every_n_steps=1,
        )
        previewed = preview_schedule(
            cls,
            max_epochs=3,
            steps_per_epoch=BATCHES,
            accumulate_grad_batches=accumulate,
            max_steps=max_steps,
        )
        # the monitor logs every batch; the preview keeps one entry per window (Lightning's logging step)
        logged = {key: values[accumulate - 1 :: accumulate] for key, values in monitor.lrs.items()}
        if accumulate == 2:  # the partial window at each epoch's end is one batch long
            starts = [e * BATCHES + b for e in range(3) for b in (0, 2, 4)]
            logged = {
                key: [values[i] for i in starts if i < len(values)] for key, values in monitor.lrs.items()
            }
        assert logged.keys() == previewed.keys()
        for key in logged:
            assert logged[key] == pytest.approx(previewed[key], rel=1e-12), (key, accumulate, max_steps)


def test_a_length_left_out_counts_the_optimizers_own_steps() -> None:
    """``every=2`` over 5 batches: the generator steps at batches 1 and 3, so a cosine's ``T_max`` is 2 per
    epoch, while the discriminator's counts 5."""
    cosine = SchedulerSpec("cosine", interval="step")
    attributes = {
        "dis_opt": OptimizerSpec(
            Adam, params="discriminator", lr=0.01, loss="discriminator_loss", scheduler=cosine
        ),
        "gen_opt": OptimizerSpec(
            Adam, params="generator", lr=0.01, loss="generator_loss", every=2, scheduler=cosine
        ),
    }
    module = type("Cosines", (ConfigurableOptimizersMixin, Gan), attributes)()
    fit(module, data=data(), max_epochs=2)
    dis, gen = (config.scheduler for config in module.trainer.lr_scheduler_configs)
    assert (dis.inner.T_max, gen.inner.T_max) == (2 * BATCHES, 4)
    assert gen.optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_fit_twice_and_the_flag_in_between() -> None:
    module = declared()()
    assert module.automatic_optimization is True  # Lightning checks clipping and accumulation against it
    fit(module, data=data(), max_epochs=1, accumulate_grad_batches=2, gradient_clip_val=0.1)
    assert module.automatic_optimization is False
    assert module.trainer.global_step == 6  # the manual loop's count: 3 windows, both optimizers in each
    fit(module, data=data(), max_epochs=1, accumulate_grad_batches=2, gradient_clip_val=0.1)
    assert module.trainer.global_step == 6


# -- mistakes --------------------------------------------------------------------------------------------------


def test_loss_on_some_optimizers_only() -> None:
    with pytest.raises(
        ValueError, match=r"^Partly: Expected `loss` on every declared optimizer or on none but got"
    ):
        type(
            "Partly",
            (ConfigurableOptimizersMixin, Gan),
            {
                "dis_opt": OptimizerSpec(Adam, params="discriminator", loss="discriminator_loss"),
                "gen_opt": OptimizerSpec(Adam, params="generator"),
            },
        )


def test_a_training_step_of_its_own() -> None:
    with pytest.raises(
        TypeError, match=r"declares `loss` on its optimizers .* but `.*Both` defines `training_step`"
    ):

        class Both(declared()):  # type: ignore[misc]
            def training_step(self, batch: Any, batch_idx: int) -> None:
                pass


def test_a_mistyped_method_fails_at_class_definition() -> None:
    spec = OptimizerSpec(Adam, params="discriminator", loss="discriminator_los")
    with pytest.raises(
        ValueError,
        match=r"Typo\.optimizer: .* but got 'discriminator_los' \(did you mean `discriminator_loss`\?\)",
    ):
        type("Typo", (ConfigurableOptimizersMixin, Gan), {"optimizer": spec})


def test_a_missing_method_fails_when_fit_starts() -> None:
    """No near miss: the method may come from a subclass, so only ``fit`` knows it is missing."""
    spec = OptimizerSpec(Adam, loss="critic_objective")
    cls = type("Abstract", (ConfigurableOptimizersMixin, Gan), {"optimizer": spec})
    with pytest.raises(
        ValueError, match=r"Abstract\.optimizer: Expected `loss` to name a method of `Abstract`"
    ):
        fit(cls(), data=data(), max_epochs=1)
    concrete = type("Concrete", (cls,), {"critic_objective": Gan.discriminator_loss})
    fit(concrete(), data=data(), max_epochs=1)


class Networks(L.LightningModule):
    """``Gan``'s networks, without its loss methods."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.generator = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 8))
        self.discriminator = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))

    fake = Gan.fake


def test_a_base_naming_a_method_its_subclasses_define_is_defined() -> None:
    """A base declaring ``loss`` for a method each subclass writes was refused when the base was defined, with a
    Lightning hook (``shared_step`` -> ``predict_step``) or another optimizer's loss (``gen_loss`` ->
    ``dis_loss``) as the near miss: only the methods of the user's own classes, other than the declared losses,
    are near misses. Each subclass trains as the hand-written loop, and a subclass without the method is told
    so when ``fit`` starts, with no hook suggested."""
    attributes = gan_specs(losses=("dis_loss", "gen_loss"))
    base = type(
        "GanBase", (ConfigurableOptimizersMixin, Networks), {**attributes, "dis_loss": Gan.discriminator_loss}
    )
    concrete = type("Concrete", (base,), {"gen_loss": Gan.generator_loss})
    ours, theirs = concrete(), HandWritten()
    assert fit(ours, data=data(), max_epochs=2).history == fit(theirs, data=data(), max_epochs=2).history
    assert_same_weights(ours, theirs)
    with pytest.raises(ValueError) as raised:
        fit(base(), data=data(), max_epochs=1)
    assert str(raised.value) == (
        "GanBase.gen_opt: Expected `loss` to name a method of `GanBase`, `gen_loss(batch, batch_idx) -> loss`, "
        "but got 'gen_loss'. Define `gen_loss(self, batch, batch_idx)` in `GanBase` or a base."
    )
    for method in ("shared_step", "train_step", "model_step", "training_loss", "forward_loss", "step"):
        spec = OptimizerSpec(Adam, loss=method)
        shared = type(f"Shared_{method}", (ConfigurableOptimizersMixin, Networks), {"optimizer": spec})
        with pytest.raises(
            ValueError, match=rf"but got '{method}'\. Define `{method}\(self, batch, batch_idx\)`"
        ):
            fit(type("Forgot", (shared,), {})(), data=data(), max_epochs=1)


def test_a_method_with_the_wrong_signature() -> None:
    cls = type(
        "OneArgument",
        (ConfigurableOptimizersMixin, Gan),
        {"optimizer": OptimizerSpec(Adam, loss="wrong"), "wrong": lambda self, batch: batch},
    )
    with pytest.raises(TypeError, match=r"Expected `wrong` to take `\(batch, batch_idx\)`"):
        fit(cls(), data=data(), max_epochs=1)


def test_a_loss_that_is_not_a_tensor() -> None:
    cls = type(
        "NotALoss",
        (ConfigurableOptimizersMixin, Gan),
        {"optimizer": OptimizerSpec(Adam, loss="number"), "number": lambda self, batch, batch_idx: 1.0},
    )
    with pytest.raises(TypeError, match=r"NotALoss\.number: Expected the loss of `optimizer` as a tensor"):
        fit(cls(), data=data(), max_epochs=1)


class Swapped(Gan):
    """The generator's optimizer gets a loss of the discriminator's parameters, which are frozen (toggled off)
    while it runs: nothing it trains has a gradient."""

    def discriminator_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return super().generator_loss(batch, batch_idx)

    def generator_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        (x,) = batch
        return F.softplus(self.discriminator(self.fake(x).detach())).mean()


@pytest.mark.parametrize(
    ("base", "error", "message"),
    [
        (
            Swapped,
            ValueError,
            r"Declared\.generator_loss: Expected the loss of `gen_opt` to depend on the parameters it trains",
        ),
        (
            type("Vector", (Gan,), {"generator_loss": lambda self, batch, batch_idx: self.fake(batch[0])}),
            TypeError,
            r"Declared\.generator_loss: Expected the loss of `gen_opt` to be a scalar tensor but got one of shape "
            r"\(8, 8\)",
        ),
    ],
    ids=["no gradient", "not a scalar"],
)
def test_a_loss_that_cannot_train_its_optimizer_is_named(base: type, error: type, message: str) -> None:
    """Torch would fail deep in autograd ("element 0 of tensors does not require grad") or Lightning in
    ``self.log``; the method and the optimizer are named instead."""
    optimizers = {k: v for k, v in vars(declared()).items() if k in ("dis_opt", "gen_opt")}
    cls = type("Declared", (ConfigurableOptimizersMixin, base), optimizers)
    with pytest.raises(error, match=message):
        fit(cls(), data=data(), max_epochs=1)


def test_an_accumulation_scheduler_is_refused() -> None:
    with pytest.raises(
        ValueError,
        match=r"^Declared: Expected no `GradientAccumulationScheduler` \(.*\) but got one: the mixin writes the "
        r"training step from the declared `loss` methods, with the Trainer's fixed `accumulate_grad_batches`\. ",
    ):
        fit(declared()(), data=data(), max_epochs=1, callbacks=[GradientAccumulationScheduler({1: 2})])


def derived_cosine(every: int) -> type[Gan]:
    """``declared``, the generator's schedule a cosine whose ``T_max`` is derived from its steps."""
    cosine = SchedulerSpec("cosine", interval="step")
    gen_opt = OptimizerSpec(
        SGD, params="generator", lr=0.05, loss="generator_loss", every=every, scheduler=cosine
    )
    return type("Declared", (declared(),), {"gen_opt": gen_opt})


@pytest.mark.parametrize(
    ("every", "accumulate", "expected"),
    [
        (6, 1, "to be at most the 5 training batches of an epoch"),
        # windows end at batches 1, 3 and 4 (a partial one): `batch_idx + 1` is 2, 4 or 5, never a multiple of 3
        (3, 2, "to divide `batch_idx + 1` at an accumulation window's end (`batch_idx` [1, 3, 4])"),
    ],
)
@pytest.mark.parametrize("length", ["given", "derived"])
def test_an_every_that_never_steps_is_refused_when_fit_starts(
    every: int, accumulate: int, expected: str, length: str
) -> None:
    # was a run in which the generator never stepped, its weights as initialized; with a length derived from the
    # generator's steps, the error was about that length ("the run's 0 scheduler updates minus the warmup's 0")
    module = (declared if length == "given" else derived_cosine)(every)()
    message = (
        f"Declared.gen_opt: Expected `every` {expected} but got `every={every}`: the rule `(batch_idx + 1) % every "
        "== 0` restarts with every epoch, so `gen_opt` would never step. Lower `every`, or train on more batches "
        "per epoch."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(module, data=data(), max_epochs=1, accumulate_grad_batches=accumulate)


@pytest.mark.parametrize(
    ("batches", "every", "accumulate", "hint"),
    [
        (6, 2, 2, " (did you mean `every=4`, one step every 2 windows?)"),
        (
            12,
            4,
            4,
            " (did you mean `every=12`, one step every 3 windows, as many as an epoch of 12 batches has?)",
        ),
        (
            6,
            3,
            3,
            " (did you mean `every=6`, one step every 2 windows, as many as an epoch of 6 batches has?)",
        ),
        (
            6,
            2,
            4,
            ": an epoch of 6 batches is one accumulation window and a partial one (did you mean `every=4`, which "
            "leaves out the partial one?)",
        ),
        (
            2,
            2,
            4,
            ": an epoch of 2 batches is one accumulation window, which no `every` skips. Remove `every`, or train "
            "on more batches per epoch.",
        ),
        (
            3,
            3,
            3,
            ": an epoch of 3 batches is one accumulation window, which no `every` skips. Remove `every`, or train "
            "on more batches per epoch.",
        ),
    ],
    ids=["windows-of-2", "3-windows", "2-windows", "full-and-partial", "one-partial", "one-full"],
)
@pytest.mark.parametrize("length", ["given", "derived"])
def test_an_every_that_every_window_end_matches_is_refused_when_fit_starts(
    batches: int, every: int, accumulate: int, hint: str, length: str
) -> None:
    """6 batches: windows of 2 end at batches 1, 3 and 5, of 3 at 2 and 5, of 4 at 3 and 5 (a partial one), each
    matched by the rule. Was a run in which the generator stepped at every window, as with ``every=1``. The
    ``every`` suggested trains, stepping at some windows; it was ``every * accumulate`` without a look at the
    epoch's windows, itself refused (``every=9`` for windows ending at batches 2 and 5, ``every=8`` for an epoch
    of one window)."""
    module = (declared if length == "given" else derived_cosine)(every)()
    message = (
        f"Declared.gen_opt: Expected `every={every}` to skip some accumulation windows but got "
        f"`accumulate_grad_batches={accumulate}`: the rule `(batch_idx + 1) % every == 0` counts batches and every "
        f"window of an epoch ends at one it matches, so `gen_opt` would step at every window, as with `every=1`{hint}"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(module, data=data(batches), max_epochs=1, accumulate_grad_batches=accumulate)
    suggested = re.search(r"`every=(\d+)`, (one step|which)", hint)
    if suggested is not None:
        module = (declared if length == "given" else derived_cosine)(int(suggested.group(1)))()
        before = module.generator[0].weight.detach().clone()
        fit(module, data=data(batches), max_epochs=1, accumulate_grad_batches=accumulate)
        assert not torch.equal(before, module.generator[0].weight)


def test_a_run_that_ends_before_an_optimizers_first_step_is_refused_for_a_derived_length() -> None:
    """``every=3``: the generator steps after batch 2; ``max_steps=2`` (every optimizer's steps together) ends the
    run after the discriminator's first two steps. The error was about the cosine's length ("the run's 0
    scheduler updates minus the warmup's 0")."""
    message = (
        "Declared.gen_opt.scheduler: Expected the run to reach a step of `gen_opt` (with `every=3` its first step "
        "comes after `batch_idx` 2) but got a run that ends after 2 accumulation windows (`max_steps=2` counts "
        "every optimizer's steps together), so `gen_opt` would never step and `CosineAnnealingLR` would never act. "
        "Lengthen the run or lower `every`."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(derived_cosine(3)(), data=data(), max_steps=2)


@pytest.mark.parametrize("fast_dev_run", [True, 4])
@pytest.mark.parametrize("length", ["given", "derived"])
def test_an_every_past_a_smoke_run_trains(length: str, fast_dev_run: bool | int) -> None:
    """``fast_dev_run`` runs a declaration meant for a long run as it is: the generator with ``every=5`` does not
    step in its 1 or 4 batches. Both the ``every`` check and the derived length refused it."""
    module = (declared if length == "given" else derived_cosine)(5)()
    generator, discriminator = (
        module.generator[0].weight.detach().clone(),
        module.discriminator[0].weight.detach().clone(),
    )
    fit(module, data=data(), fast_dev_run=fast_dev_run)
    assert torch.equal(generator, module.generator[0].weight)
    assert not torch.equal(discriminator, module.discriminator[0].weight)


@pytest.mark.parametrize(("every", "accumulate"), [(5, 1), (5, 2)])
def test_an_every_that_steps_once_an_epoch_trains(every: int, accumulate: int) -> None:
    module = declared(every)()
    before = module.generator[0].weight.detach().clone()
    fit(module, data=data(), max_epochs=1, accumulate_grad_batches=accumulate)
    assert not torch.equal(before, module.generator[0].weight)


class Stream(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """``data(batches)``'s samples, streamed: a dataloader of unknown length (no ``__len__``)."""

    def __init__(self, batches: int = BATCHES) -> None:
        self.batches = batches

    def __iter__(self) -> Any:
        return iter(data(self.batches).dataset)


def stream(batches: int = BATCHES) -> DataLoader:
    return DataLoader(Stream(batches), batch_size=8)


@pytest.mark.parametrize("every", [3, 5])
def test_every_beside_accumulation_on_data_of_unknown_length_is_refused(every: int) -> None:
    """5 batches in windows of 3 ([0, 1, 2], [3, 4]): that the epoch ends at batch 4 is known only there, after
    batch 3 ran the generator's loss for the step ``every=3`` selects at the window's full end (batch 5, which
    never comes) or left it out for the one ``every=5`` selects at batch 4. Was a run unlike the same data with a
    length: with ``every=5`` the generator stepped on batch 4's gradients alone."""
    message = (
        f"Declared.gen_opt: Expected a training dataloader of known length beside `every={every}` and "
        "`accumulate_grad_batches=3` but got one without a length (an `IterableDataset` without `__len__`): where an "
        "epoch ends inside an accumulation window, whether `every` selects the window is known only at its last "
        "batch, after its earlier batches ran the loss and backward of `gen_opt` or left them out. Give the "
        "dataset a `__len__`, set `Trainer(limit_train_batches=<batches per epoch>)`, or remove `every` or "
        "`accumulate_grad_batches`."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(declared(every)(), data=stream(), max_epochs=1, accumulate_grad_batches=3)


@pytest.mark.parametrize(("every", "limit"), [(5, 5), (1, None)], ids=["every+limit", "every=1"])
def test_accumulation_on_data_of_unknown_length_trains_as_the_data_with_a_length(
    every: int, limit: int | None
) -> None:
    """The refusal's way out, ``limit_train_batches``, and ``every=1`` (each window steps, the partial one at
    the batch where the data ends): the weights and lrs of the same data with a length."""
    sized, streamed = declared(every)(), declared(every)()
    options: dict[str, Any] = {"max_epochs": 2, "accumulate_grad_batches": 3}
    reference = fit(sized, data=data(), **options)
    mine = fit(streamed, data=stream(), limit_train_batches=limit, **options)
    assert mine.history == reference.history
    assert_same_weights(streamed, sized)
    assert streamed.trainer.global_step == sized.trainer.global_step


def cycle_and_cosine() -> type[Gan]:
    """``declared(every=2)`` with lengths derived from the run: the discriminator's ``OneCycleLR``, the generator's
    cosine."""
    onecycle, cosine = SchedulerSpec("onecycle", max_lr=0.01), SchedulerSpec("cosine", interval="step")
    specs = gan_specs(2)
    specs["dis_opt"] = OptimizerSpec(
        Adam, params="discriminator", loss="discriminator_loss", scheduler=onecycle
    )
    specs["gen_opt"] = OptimizerSpec(
        SGD, params="generator", lr=0.05, loss="generator_loss", every=2, scheduler=cosine
    )
    return type("Declared", (ConfigurableOptimizersMixin, Gan), specs)


def test_every_on_data_of_unknown_length_whose_epochs_restart_the_count_is_refused_at_the_next_epoch() -> (
    None
):
    """Epochs of 5 batches without a length, ``max_steps=21``: the lengths were counted as one endless epoch, the
    generator stepping at batches 1, 3, 5, 7, ... (the discriminator's ``total_steps=14``, the generator's
    ``T_max=7``), but ``batch_idx`` restarts with every epoch, so it steps at 1 and 3 of each (15 and 6, as the same
    data with a length derives). Was torch's ``Tried to step 15 times. The specified number of total steps is 14``
    in epoch 2, the cosine short of its end; refused as epoch 1 starts (epoch 0 went as counted)."""
    module = cycle_and_cosine()()
    message = (
        "Declared.dis_opt.scheduler: Expected the epochs of a train dataloader without a length (an `IterableDataset` "
        "without `__len__`) to end at a multiple of 2 training batches but got 5 batches before epoch 1: "
        "`total_steps` of `OneCycleLR` was counted as one endless epoch by `every=2` of `gen_opt` "
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        fit(module, data=stream(), max_epochs=-1, max_steps=21)
    assert module.trainer.global_step == 7  # epoch 0: 5 steps of the discriminator, 2 of the generator


def test_every_on_data_of_unknown_length_whose_epochs_keep_the_count_trains_as_the_data_with_a_length() -> (
    None
):
    """Epochs of 6 batches: each restarts where the endless count of ``every=2`` is at a step's start, so the
    lengths counted are the run's, and it trains as the same data with a length (3 epochs, both cycles ended)."""
    sized, streamed = cycle_and_cosine()(), cycle_and_cosine()()
    reference = fit(sized, data=data(6), max_epochs=-1, max_steps=21)
    assert fit(streamed, data=stream(6), max_epochs=-1, max_steps=21).history == reference.history
    assert_same_weights(streamed, sized)
    for module in (sized, streamed):
        dis, gen = (config.scheduler for config in module.trainer.lr_scheduler_configs)
        assert (dis.inner.total_steps, gen.inner.T_max) == (14, 7)


def lbfgs(none: frozenset[int] = frozenset()) -> type[Skips]:
    """``Skips`` trained by ``LBFGS`` declared with ``loss=``, a per-step schedule beside it."""
    spec = OptimizerSpec(
        "lbfgs",
        lr=0.5,
        max_iter=5,
        loss="loss",
        scheduler=SchedulerSpec("exponential", gamma=0.5, interval="step"),
    )
    return type("Declared", (ConfigurableOptimizersMixin, Skips), {"optimizer": spec, "none": none})


class HandLbfgs(Skips):
    """The manual loop Lightning's docs write for ``LBFGS``: ``opt.step(closure=...)``, the closure zeroing the
    gradients, computing the loss and its backward (clipped after it, as automatic optimization clips) and
    returning the loss; the scheduler stepped after each step."""

    def __init__(self, clip: float | None = None) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.clip = clip
        self.losses: list[float] = []

    def configure_optimizers(self) -> Any:
        optimizer = LBFGS(self.parameters(), lr=0.5, max_iter=5)
        return [optimizer], [ExponentialLR(optimizer, 0.5)]

    def training_step(self, batch: Any, batch_idx: int) -> None:
        opt, sch = self.optimizers(), self.lr_schedulers()

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = self.loss(batch, batch_idx)
            self.manual_backward(loss)
            if self.clip:
                self.clip_gradients(opt, gradient_clip_val=self.clip, gradient_clip_algorithm="norm")
            return loss

        self.losses.append(float(opt.step(closure=closure).detach()))  # the batch's loss, before the step
        sch.step()


class LoggedLoss(L.Callback):
    """``loss/optimizer`` after each batch."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.values.append(float(trainer.callback_metrics["loss/optimizer"]))


@pytest.mark.parametrize("clip", [None, 0.05], ids=["plain", "clip-norm"])
def test_lbfgs_steps_with_a_closure_as_a_hand_written_module(clip: float | None) -> None:
    """``LBFGS`` evaluates the loss again inside its step: the written step passes it a closure, as a
    hand-written module does, instead of failing in torch (``float(None)``); its loss is logged once per batch,
    the one before the step (the closure's first)."""
    ours, theirs, logged = lbfgs()(), HandLbfgs(clip), LoggedLoss()
    mine = fit(ours, data=data(), max_epochs=2, gradient_clip_val=clip, callbacks=[logged])
    reference = fit(theirs, data=data(), max_epochs=2)
    assert mine.history == reference.history
    assert mine.of(0)[-1] == pytest.approx(0.5 * 0.5 ** (2 * BATCHES - 1))
    assert_same_weights(ours, theirs)
    assert ours.trainer.global_step == theirs.trainer.global_step == 2 * BATCHES
    assert logged.values == theirs.losses


def test_lbfgs_with_accumulation_is_refused_when_fit_starts() -> None:
    with pytest.raises(
        ValueError,
        match=r"^Declared\.optimizer: Expected `accumulate_grad_batches=1` beside `LBFGS`, whose step evaluates "
        r"the loss again \(a closure\), but got 2: ",
    ):
        fit(lbfgs()(), data=data(), max_epochs=1, accumulate_grad_batches=2)


def test_a_none_loss_of_lbfgs_is_refused() -> None:
    with pytest.raises(
        ValueError,
        match=r"^Declared\.loss: Expected the loss of `optimizer` as a tensor at every batch of `LBFGS`, whose "
        r"step evaluates the loss again \(a closure\), but got None at batch 1: ",
    ):
        fit(lbfgs(frozenset({1}))(), data=data(), max_epochs=1)


class Scoring(Gan):
    """``Gan`` scoring through ``forward`` (the discriminator), which Lightning compiles for a compiled module."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator(x)

    def discriminator_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        (x,) = batch
        return F.softplus(-self(x)).mean() + F.softplus(self(self.fake(x).detach())).mean()

    def generator_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        (x,) = batch
        return F.softplus(-self(self.fake(x))).mean()


class HandScoring(Scoring):
    """The loop ``Scoring`` declares with ``loss=``, written by hand (without ``self.log``, which dynamo cannot
    trace under Lightning), its per-step schedules stepped after each optimizer's step."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def configure_optimizers(self) -> Any:
        dis = SGD(self.discriminator.parameters(), lr=0.1, foreach=False)
        gen = SGD(self.generator.parameters(), lr=0.05, foreach=False)
        return [dis, gen], [ExponentialLR(dis, 0.9), ExponentialLR(gen, 0.9)]

    def training_step(self, batch: Any, batch_idx: int) -> None:
        for opt, scheduler, loss_of in zip(
            self.optimizers(),
            self.lr_schedulers(),
            (self.discriminator_loss, self.generator_loss),
            strict=True,
        ):
            self.toggle_optimizer(opt)
            opt.zero_grad()
            self.manual_backward(loss_of(batch, batch_idx))
            opt.step()
            scheduler.step()
            self.untoggle_optimizer(opt)


def scoring() -> type[Scoring]:
    attributes = {
        "dis_opt": OptimizerSpec(
            SGD,
            params="discriminator",
            lr=0.1,
            loss="discriminator_loss",
            scheduler=PER_STEP,
            implementation="forloop",
        ),
        "gen_opt": OptimizerSpec(
            SGD,
            params="generator",
            lr=0.05,
            loss="generator_loss",
            scheduler=PER_STEP,
            implementation="forloop",
        ),
    }
    return type("Compiled", (ConfigurableOptimizersMixin, Scoring), attributes)


def dynamo_graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


@pytest.mark.slow  # compiling the forward and backward takes tens of seconds on a shared CPU
@pytest.mark.skipif(
    not compat.torch_at_least("2.5"),
    reason="torch 2.4's dynamo fails in the hand-written reference's `toggle_optimizer` (IndexError in "
    "`tuple_iterator_getitem`), before any package code runs",
)
def test_a_compiled_module_trains_as_the_hand_written_compiled_loop() -> None:
    """``fit(torch.compile(model))``: Lightning compiles the module's ``training_step`` too, and the one the mixin
    writes logs with ``self.log``, which dynamo cannot trace (it failed deep inside dynamo, "'method' object has
    no attribute '__dict__'"). The written step runs eagerly and the ``forward`` the loss methods call compiles:
    the same lrs as the uncompiled and the hand-written compiled runs, the weights within compile rounding."""
    eager, hand_eager = scoring()(), HandScoring()
    reference = fit(hand_eager, data=data(), max_epochs=2)
    assert fit(eager, data=data(), max_epochs=2).history == reference.history
    assert_same_weights(eager, hand_eager)
    compiled, hand = scoring()(), HandScoring()
    hand_history = fit(torch.compile(hand), data=data(), max_epochs=2).history  # type: ignore[arg-type]
    graphs = dynamo_graphs()
    mine = fit(torch.compile(compiled), data=data(), max_epochs=2)  # type: ignore[arg-type]
    assert dynamo_graphs() > graphs  # the forward compiled
    assert mine.history == hand_history == reference.history
    for name, weight in compiled.named_parameters():
        assert torch.allclose(weight, dict(hand.named_parameters())[name], atol=1e-6)
        assert torch.allclose(weight, dict(eager.named_parameters())[name], atol=1e-6)
    assert compiled.trainer.callback_metrics.keys() >= {"loss/dis_opt", "loss/gen_opt"}
