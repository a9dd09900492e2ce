"""A per-step schedule waits when the optimizer step was skipped (Lightning #5558).

With ``16-mixed`` a ``GradScaler`` skips the optimizer step when the gradients overflow; Lightning steps the
scheduler anyway. Here the loss is made ``inf`` at two batches under a CPU ``GradScaler``: the scale halves,
the weights do not move, and the lr must not move either. References: a hand-written module with the
workaround users write for #5558 (compare the scale before and after the step, step the scheduler only when
it did not drop), and ``preview_schedule`` of the same declaration read at the count of applied steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins import MixedPrecision
from torch import nn
from torch.optim import SGD
from torch.optim.lr_scheduler import StepLR

from lightning_optim import (
    ConfigurableOptimizersMixin,
    LRMonitor,
    OptimizerSpec,
    SchedulerSpec,
    preview_schedule,
)
from lightning_optim.training.outcomes import StepOutcomes
from tests.helpers import (
    CUT_BATCH_STEPS_SCHEDULERS,
    Classifier,
    TwoNets,
    TwoNetsByName,
    assert_same_weights,
    fit,
    loader,
)

# these tests run LRMonitor without a logger on purpose (its values are read from `lrs`)
pytestmark = pytest.mark.filterwarnings("ignore:`LRMonitor` is used with a `Trainer` that has no logger")

EPOCHS, BATCHES = 2, 8
#: (epoch, batch_idx) whose loss is inf: the GradScaler skips those steps
OVERFLOWS = {(0, 2), (0, 5), (1, 3)}


def scaler() -> MixedPrecision:
    return MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))


def data() -> Any:
    return loader(n=8 * BATCHES)


def overflowing(loss: torch.Tensor, module: L.LightningModule, batch_idx: int) -> torch.Tensor:
    return loss * float("inf") if (module.current_epoch, batch_idx) in OVERFLOWS else loss


class Overflowing(Classifier):
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return overflowing(super().training_step(batch, batch_idx), self, batch_idx)


def applied_before(t: int) -> int:
    """Applied optimizer steps before batch ``t`` of the run."""
    return t - sum(1 for e, b in OVERFLOWS if e * BATCHES + b < t)


KINDS: dict[str, dict[str, Any]] = {
    "step": {"scheduler": SchedulerSpec("step", step_size=1, gamma=0.8, interval="step")},
    "warmup": {"scheduler": SchedulerSpec("cosine", warmup=3, interval="step")},
    "param": {
        "weight_decay": 0.04,
        "scheduler": [
            SchedulerSpec("exponential", gamma=0.9, interval="step"),
            SchedulerSpec("cosine", param="weight_decay", eta_min=0.4, interval="step"),
        ],
    },
    "list": {
        "scheduler": [
            SchedulerSpec("linear", start_factor=0.5, total_iters=3, interval="step"),
            SchedulerSpec("exponential", gamma=0.8, interval="step"),
        ]
    },
}


def declared(kind: str, implementation: str = "forloop") -> type[Overflowing]:
    spec = OptimizerSpec("sgd", lr=1.0, momentum=0.9, implementation=implementation, **KINDS[kind])
    return type(f"Declared_{kind}", (ConfigurableOptimizersMixin, Overflowing), {"optimizer": spec})


def expected(cls: type, param: str = "lr") -> list[float]:
    """The value of ``param`` before every batch: the unskipped preview at the count of applied steps."""
    key = "lr-optimizer" + ("" if param == "lr" else f"-{param}")
    values = preview_schedule(cls, max_epochs=EPOCHS, steps_per_epoch=BATCHES, params=(param,))[key]
    return [values[applied_before(t)] for t in range(EPOCHS * BATCHES)]


class Groups(L.Callback):
    """Records a param-group option before every training batch."""

    def __init__(self, option: str) -> None:
        self.option = option
        self.history: list[float] = []

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self.history.append(float(trainer.optimizers[0].param_groups[0][self.option]))


@pytest.mark.parametrize("kind", KINDS)
def test_a_per_step_schedule_waits_for_an_applied_step(kind: str) -> None:
    cls = declared(kind)
    decays = Groups("weight_decay")
    recorder = fit(cls(), data=data(), max_epochs=EPOCHS, plugins=[scaler()], callbacks=[decays])
    assert recorder.of(0) == pytest.approx(expected(cls), rel=1e-12)
    if kind == "param":
        assert decays.history == pytest.approx(expected(cls, "weight_decay"), rel=1e-12)


def test_lightning_steps_the_scheduler_at_a_skipped_step() -> None:
    """Why: the same run, hand-written without the workaround, halves the lr at every overflow."""

    class Plain(Overflowing):
        def configure_optimizers(self) -> Any:
            opt = SGD(self.parameters(), lr=1.0)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": StepLR(opt, 1, 0.5), "interval": "step"}}

    recorder = fit(Plain(), data=data(), max_epochs=EPOCHS, plugins=[scaler()])
    assert recorder.of(0) == pytest.approx([0.5**t for t in range(EPOCHS * BATCHES)])


class Workaround(Overflowing):
    """The hand-written reference: the #5558 workaround, stepping the scheduler only when the scale held."""

    applied = True

    def configure_optimizers(self) -> Any:
        opt = SGD(self.parameters(), lr=1.0, momentum=0.9, foreach=False)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": StepLR(opt, 1, 0.8), "interval": "step"}}

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        scaler = self.trainer.precision_plugin.scaler  # type: ignore[attr-defined]
        before = scaler.get_scale()
        super().optimizer_step(*args, **kwargs)
        self.applied = scaler.get_scale() >= before

    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if self.applied:
            super().lr_scheduler_step(scheduler, metric)


def test_matches_the_hand_written_workaround() -> None:
    ours, theirs = declared("step")(), Workaround()
    mine = fit(ours, data=data(), max_epochs=EPOCHS, plugins=[scaler()])
    reference = fit(theirs, data=data(), max_epochs=EPOCHS, plugins=[scaler()])
    assert mine.history == reference.history
    assert_same_weights(ours, theirs)


#: (epoch, batch_idx) whose ``training_step`` returns ``None``: Lightning's "skip this batch", not a skipped step
NO_LOSS = {(0, 3), (0, 4), (1, 0)}


def without_loss(cls: type[Classifier]) -> type[Classifier]:
    """``cls`` whose ``training_step`` returns ``None`` at the ``NO_LOSS`` batches."""

    class NoLoss(cls):  # type: ignore[valid-type, misc]
        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
            if (self.current_epoch, batch_idx) in NO_LOSS:
                return None
            return super().training_step(batch, batch_idx)  # type: ignore[no-any-return]

    return NoLoss


@pytest.mark.filterwarnings("ignore:`training_step` returned `None`")
def test_a_batch_without_a_loss_steps_the_schedule_as_lightning_does() -> None:
    """Under a ``GradScaler`` Lightning does not step the optimizer after a ``None`` return (nothing to step)
    and steps the scheduler: the schedule moves on there, as the hand-written workaround's does (its scale
    held), and waits only at the overflows."""
    spec = OptimizerSpec("sgd", lr=1.0, momentum=0.9, implementation="forloop", **KINDS["step"])
    ours = type("NoLoss", (ConfigurableOptimizersMixin, without_loss(Overflowing)), {"optimizer": spec})()
    theirs = without_loss(Workaround)()
    mine = fit(ours, data=data(), max_epochs=EPOCHS, plugins=[scaler()])
    reference = fit(theirs, data=data(), max_epochs=EPOCHS, plugins=[scaler()])
    assert mine.history == reference.history
    assert mine.of(0) == pytest.approx([0.8 ** applied_before(t) for t in range(EPOCHS * BATCHES)], rel=1e-12)
    assert_same_weights(ours, theirs)


@pytest.mark.filterwarnings("ignore:`training_step` returned `None`")
@pytest.mark.parametrize("precision", ["32-true", "16-mixed"])
def test_a_batch_without_a_loss_in_every_precision(precision: str) -> None:
    """The same schedule in ``32-true`` (where Lightning runs the optimizer's step without gradients) and under
    a ``GradScaler``, and the same as a hand-written module's under that precision."""

    class HandWritten(Classifier):
        def configure_optimizers(self) -> Any:
            opt = SGD(self.parameters(), lr=1.0, momentum=0.9, foreach=False)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": StepLR(opt, 1, 0.8), "interval": "step"}}

    spec = OptimizerSpec("sgd", lr=1.0, momentum=0.9, implementation="forloop", **KINDS["step"])
    ours = type("NoLoss", (ConfigurableOptimizersMixin, without_loss(Classifier)), {"optimizer": spec})()
    theirs = without_loss(HandWritten)()
    plugins = [scaler()] if precision == "16-mixed" else []
    mine = fit(ours, data=data(), max_epochs=EPOCHS, plugins=plugins)
    reference = fit(theirs, data=data(), max_epochs=EPOCHS, plugins=[scaler()] if plugins else [])
    assert (
        mine.of(0) == reference.of(0) == pytest.approx([0.8**t for t in range(EPOCHS * BATCHES)], rel=1e-12)
    )
    assert_same_weights(ours, theirs)


def test_frequency_counts_batches_of_applied_steps_only() -> None:
    """``frequency=2``: the scheduler steps after applied steps of batches 1, 3, 5, ...; a skipped one of
    those is not made up later (as with a batch whose optimizer does not step)."""
    spec = OptimizerSpec(
        "sgd",
        lr=1.0,
        implementation="forloop",
        scheduler=SchedulerSpec("step", step_size=1, gamma=0.5, interval="step", frequency=2),
    )
    cls = type("Every2", (ConfigurableOptimizersMixin, Overflowing), {"optimizer": spec})
    recorder = fit(cls(), data=data(), max_epochs=EPOCHS, plugins=[scaler()])
    lr, want = 1.0, []
    for t in range(EPOCHS * BATCHES):
        want.append(lr)
        epoch, batch_idx = divmod(t, BATCHES)
        if (batch_idx + 1) % 2 == 0 and (epoch, batch_idx) not in OVERFLOWS:
            lr *= 0.5
    assert recorder.of(0) == want


def test_epoch_schedules_are_not_affected() -> None:
    spec = OptimizerSpec(
        "sgd",
        lr=1.0,
        implementation="forloop",
        scheduler=[
            SchedulerSpec("exponential", gamma=0.9, interval="step"),
            SchedulerSpec("step", step_size=1, gamma=0.5),
        ],
    )
    cls = type("Mixed", (ConfigurableOptimizersMixin, Overflowing), {"optimizer": spec})
    recorder = fit(cls(), data=data(), max_epochs=EPOCHS, plugins=[scaler()])
    want = [0.9 ** applied_before(t) * 0.5 ** (t // BATCHES) for t in range(EPOCHS * BATCHES)]
    assert recorder.of(0) == pytest.approx(want, rel=1e-12)


# -- manual optimization ---------------------------------------------------------------------------------


class OverflowingGAN(TwoNetsByName):
    """The generator's loss overflows at ``OVERFLOWS``; the discriminator's never does."""

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        for net, opt in ((self.model_gen, self.gen_opt), (self.model_dis, self.dis_opt)):
            loss = nn.functional.cross_entropy(net(x), y)
            if net is self.model_gen:
                loss = overflowing(loss, self, batch_idx)
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()


def gan(implementation: str = "forloop") -> type[OverflowingGAN]:
    per_step = SchedulerSpec("step", step_size=1, gamma=0.8, interval="step")
    attributes = {
        "gen_opt": OptimizerSpec(
            "sgd", params="model_gen", lr=1.0, implementation=implementation, scheduler=per_step
        ),
        "dis_opt": OptimizerSpec(
            "sgd", params="model_dis", lr=0.5, implementation=implementation, scheduler=per_step
        ),
    }
    return type("GAN", (ConfigurableOptimizersMixin, OverflowingGAN), attributes)


class OverflowingManual(Classifier):
    """One optimizer stepped by hand once a batch; the loss overflows at ``OVERFLOWS``."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        opt: Any = self.optimizers()
        opt.zero_grad()
        self.manual_backward(overflowing(nn.functional.cross_entropy(self.model_gen(x), y), self, batch_idx))
        opt.step()


def cosine_at(step: int) -> float:
    """torch's cosine from lr 1.0 over the run's ``EPOCHS * BATCHES`` steps (``T_max`` derived), at ``step``."""
    return 0.5 * (1 + math.cos(math.pi * step / (EPOCHS * BATCHES)))


@pytest.mark.parametrize("optimizers", [1, 2])
def test_a_skipped_step_is_a_step_of_a_loop_stepping_once_a_batch(optimizers: int) -> None:
    """A length derived from the run counts one step a batch in manual optimization, and a loop taking fewer is
    refused; a step the scaler skipped was taken by the loop (Lightning's ``global_step`` counts it, and the
    length with it): no refusal, and the schedule waits for the applied steps."""
    cosine = SchedulerSpec("cosine", interval="step")
    if optimizers == 1:
        attributes = {"optimizer": OptimizerSpec("sgd", lr=1.0, scheduler=cosine)}
        cls = type("Manual", (ConfigurableOptimizersMixin, OverflowingManual), attributes)
    else:
        attributes = {
            "gen_opt": OptimizerSpec("sgd", params="model_gen", lr=1.0, scheduler=cosine),
            "dis_opt": OptimizerSpec("sgd", params="model_dis", lr=1.0, scheduler=cosine),
        }
        cls = type("GAN", (ConfigurableOptimizersMixin, OverflowingGAN), attributes)
    recorder = fit(cls(), data=data(), max_epochs=EPOCHS, plugins=[scaler()])
    run = range(EPOCHS * BATCHES)
    assert recorder.of(0) == pytest.approx([cosine_at(applied_before(t)) for t in run], rel=1e-12)
    if optimizers == 2:
        assert recorder.of(1) == pytest.approx([cosine_at(t) for t in run], rel=1e-12)


def test_manual_optimization_waits_too() -> None:
    recorder = fit(gan()(), data=data(), max_epochs=EPOCHS, plugins=[scaler()])
    assert recorder.of(0) == pytest.approx([0.8 ** applied_before(t) for t in range(16)], rel=1e-12)
    assert recorder.of(1) == pytest.approx([0.5 * 0.8**t for t in range(16)], rel=1e-12)


def test_manual_matches_a_hand_written_loop() -> None:
    class HandWritten(TwoNets):
        def configure_optimizers(self) -> Any:
            gen = SGD(self.model_gen.parameters(), lr=1.0, foreach=False)
            dis = SGD(self.model_dis.parameters(), lr=0.5, foreach=False)
            return [gen, dis], [StepLR(gen, 1, 0.8), StepLR(dis, 1, 0.8)]

        def training_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            scaler = self.trainer.precision_plugin.scaler  # type: ignore[attr-defined]
            for net, opt, sch in zip(
                (self.model_gen, self.model_dis), self.optimizers(), self.lr_schedulers()
            ):
                loss = nn.functional.cross_entropy(net(x), y)
                if net is self.model_gen:
                    loss = overflowing(loss, self, batch_idx)
                opt.zero_grad()
                self.manual_backward(loss)
                before = scaler.get_scale()
                opt.step()
                if scaler.get_scale() >= before:
                    sch.step()

    ours, theirs = gan()(), HandWritten()
    mine = fit(ours, data=data(), max_epochs=EPOCHS, plugins=[scaler()])
    reference = fit(theirs, data=data(), max_epochs=EPOCHS, plugins=[scaler()])
    assert mine.history == reference.history
    assert_same_weights(ours, theirs)


# -- fused kernels: the outcome is decided where the kernel runs -----------------------------------------


@pytest.fixture(params=[False, True], ids=["read-now", "read-later"])
def device_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    """``read-later``: a CPU ``found_inf`` is treated like a CUDA one (copied, read when next needed)."""
    monkeypatch.setattr(StepOutcomes, "defer_on_cpu", request.param)
    yield request.param


@pytest.mark.parametrize("every_n_train_steps", [1, 3])
def test_fused_kernels_take_found_inf_and_the_schedule_waits(
    device_path: bool, every_n_train_steps: int, tmp_path: Any
) -> None:
    cls = declared("list", implementation="fused")
    monitor = LRMonitor(logging_interval="step")
    saves = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=every_n_train_steps, save_top_k=-1)
    module = cls()
    recorder = fit(
        module,
        data=data(),
        max_epochs=EPOCHS,
        plugins=[scaler()],
        callbacks=[monitor, saves],
        log_every_n_steps=1,
        enable_checkpointing=True,
    )
    assert module.trainer.optimizers[0].defaults["fused"] is True
    if not device_path:
        assert recorder.of(0) == pytest.approx(expected(cls), rel=1e-12)
    assert monitor.lrs["lr-optimizer"] == expected(cls)  # the lr that each step used
    reference = declared("list")()
    fit(reference, data=data(), max_epochs=EPOCHS, plugins=[scaler()])
    for (name, a), b in zip(module.named_parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, msg=name)
    # written at the end of batch 3, after its schedule update (held on the device path until the save)
    step = 4 if every_n_train_steps == 1 else 6
    saved = torch.load(tmp_path / f"epoch=0-step={step}.ckpt", weights_only=False)
    assert [state["last_epoch"] for state in saved["lr_schedulers"]] == [applied_before(step)] * 2


class UsedLr(L.Callback):
    """Records the lr each optimizer step uses: a pre-step hook registered after the mixin's own."""

    def __init__(self) -> None:
        self.used: dict[int, list[float]] = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for index, optimizer in enumerate(trainer.optimizers):
            history = self.used.setdefault(index, [])
            optimizer.register_step_pre_hook(lambda o, *_, h=history: h.append(o.param_groups[0]["lr"]))


def test_read_later_every_step_uses_the_right_lr(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the device path the update of a schedule waits until its step's outcome is read (before the
    optimizer's next step): the lr at a batch's start can be one update late, the lr of each step is not."""
    monkeypatch.setattr(StepOutcomes, "defer_on_cpu", True)
    used = UsedLr()
    recorder = fit(gan("fused")(), data=data(), max_epochs=EPOCHS, plugins=[scaler()], callbacks=[used])
    # fused kernels run at every step, skipped or not
    assert used.used[0] == pytest.approx([0.8 ** applied_before(t) for t in range(16)], rel=1e-12)
    assert used.used[1] == pytest.approx([0.5 * 0.8**t for t in range(16)], rel=1e-12)
    assert recorder.of(0)[3] == pytest.approx(0.8**2)  # read at batch 3's start: batch 2's outcome is not


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("implementation", ["fused", "forloop"])
def test_cuda_16_mixed_waits_for_applied_steps(implementation: str) -> None:
    """On CUDA with Lightning's own GradScaler: a fused kernel takes ``found_inf`` on the device (read by the
    mixin later, without a synchronization); a for-loop step is not run at all."""
    cls = declared("list", implementation=implementation)
    monitor, used = LRMonitor(logging_interval="step"), UsedLr()
    fit(
        cls(),
        data=data(),
        max_epochs=EPOCHS,
        accelerator="gpu",
        precision="16-mixed",
        callbacks=[monitor, used],
        log_every_n_steps=1,
    )
    assert monitor.lrs["lr-optimizer"] == pytest.approx(expected(cls), rel=1e-12)
    ran = [
        t for t in range(EPOCHS * BATCHES) if implementation == "fused" or divmod(t, BATCHES) not in OVERFLOWS
    ]
    assert used.used[0] == pytest.approx([expected(cls)[t] for t in ran], rel=1e-12)


#: the batch of every epoch whose ``on_train_batch_start`` returns -1 (Lightning: skip the rest of the epoch)
CUT_AT = 5


def cut(cls: type[L.LightningModule]) -> type[L.LightningModule]:
    class Cut(cls):  # type: ignore[valid-type, misc]
        def on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None:
            return -1 if batch_idx == CUT_AT else None

    return Cut


@pytest.mark.parametrize("optimizers", [1, 2], ids=["automatic", "manual"])
def test_a_batch_that_cuts_the_epoch_is_no_step_of_the_schedule(optimizers: int) -> None:
    """``on_train_batch_start`` returning -1 at batch 5: no training step and no optimizer step run there, yet
    Lightning steps the per-step schedulers after it (a hand-written module's schedule is one update ahead per
    cut epoch). The mixin's schedules count applied steps only: batch ``t`` of the run trains at the lr of the
    applied steps before it."""
    per_step = SchedulerSpec("step", step_size=1, gamma=0.8, interval="step")
    if optimizers == 1:
        spec = OptimizerSpec("sgd", lr=1.0, implementation="forloop", scheduler=per_step)
        module = type("Cut", (ConfigurableOptimizersMixin, cut(Classifier)), {"optimizer": spec})()
    else:
        module = cut(gan())()
    recorder = fit(module, data=data(), max_epochs=EPOCHS)
    # every epoch trains batches 0..4 and records the lr at batch 5 too (callbacks run before the module's hook)
    steps = [epoch * CUT_AT + b for epoch in range(EPOCHS) for b in range(CUT_AT + 1)]
    assert module.trainer.global_step == EPOCHS * CUT_AT * optimizers
    assert recorder.of(0) == pytest.approx([0.8**s for s in steps], rel=1e-12)

    class HandWritten(cut(Classifier)):  # type: ignore[misc]
        def configure_optimizers(self) -> Any:
            opt = SGD(self.parameters(), lr=1.0, foreach=False)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": StepLR(opt, 1, 0.8), "interval": "step"}}

    # Lightning's own stepping counts the cut batch: 6 scheduler steps per epoch of 5 optimizer steps (before
    # Lightning 2.6, 5: `CUT_BATCH_STEPS_SCHEDULERS`)
    per_epoch = CUT_AT + CUT_BATCH_STEPS_SCHEDULERS
    assert fit(HandWritten(), data=data(), max_epochs=EPOCHS).of(0) == pytest.approx(
        [0.8 ** (epoch * per_epoch + b) for epoch in range(EPOCHS) for b in range(CUT_AT + 1)], rel=1e-12
    )
