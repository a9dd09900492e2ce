"""``OptimizerSpec(skip_nonfinite=N)``: a NaN batch is skipped exactly, the N+1-th in a row stops training.

The reference for "skipped exactly" is the same run without that batch: in float32 a run with a NaN loss at
batch ``k`` must end with the same weights (``torch.equal``) and the same lr at every applied step.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins import MixedPrecision
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_optim import ConfigurableOptimizersMixin, LRMonitor, OptimizerSpec, SchedulerSpec
from lightning_optim.training.outcomes import StepOutcomes, outcomes_of
from lightning_optim.utilities import compat
from tests.helpers import Classifier, Net, TwoNetsByName, assert_same_weights, fit, fit_resumed

# these tests run LRMonitor without a logger on purpose (its values are read from `lrs`)
pytestmark = pytest.mark.filterwarnings("ignore:`LRMonitor` is used with a `Trainer` that has no logger")

BATCHES = 8


def rows(without: set[int] = frozenset()) -> DataLoader:  # type: ignore[assignment]
    """``helpers.loader``'s data (8 batches of 8), without the batches in ``without``."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8 * BATCHES, 8, generator=generator)
    y = torch.randint(0, 4, (8 * BATCHES,), generator=generator)
    keep = [i for i in range(8 * BATCHES) if i // 8 not in without]
    return DataLoader(TensorDataset(x[keep], y[keep]), batch_size=8)


class NaNAt(Classifier):
    """The loss is NaN at the batches in ``nan`` (indices within the first epoch)."""

    nan: frozenset[int] = frozenset()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = super().training_step(batch, batch_idx)
        return loss * float("nan") if self.current_epoch == 0 and batch_idx in self.nan else loss


def declared(nan: set[int] = frozenset(), limit: int = 3, **options: Any) -> NaNAt:  # type: ignore[assignment]
    options = {"implementation": "forloop", **options}
    spec = OptimizerSpec(
        "adam",
        lr=0.05,
        skip_nonfinite=limit,
        scheduler=SchedulerSpec("exponential", gamma=0.9, interval="step"),
        **options,
    )
    cls = type("Declared", (ConfigurableOptimizersMixin, NaNAt), {"optimizer": spec, "nan": frozenset(nan)})
    return cls()


@pytest.fixture(params=[False, True], ids=["read-now", "read-later"])
def device_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    """``read-later``: a fused kernel gets the flag as ``found_inf`` and skips by itself (the CUDA path)."""
    monkeypatch.setattr(StepOutcomes, "defer_on_cpu", request.param)
    yield request.param


@pytest.mark.parametrize("implementation", ["forloop", "foreach", "fused"])
@pytest.mark.parametrize("clip", [None, 0.5])
def test_a_nan_batch_is_as_if_it_were_not_there(
    implementation: str, clip: float | None, device_path: bool
) -> None:
    k = 3
    ours, reference = declared({k}, implementation=implementation), declared(implementation=implementation)
    with_nan, without = LRMonitor(logging_interval="step"), LRMonitor(logging_interval="step")
    options = {"max_epochs": 1, "gradient_clip_val": clip, "log_every_n_steps": 1}
    fit(ours, data=rows(), callbacks=[with_nan], **options)
    fit(reference, data=rows({k}), callbacks=[without], **options)
    assert_same_weights(ours, reference)
    # the lr of batch k is used again at batch k + 1: the schedule waited
    lrs = with_nan.lrs["lr-optimizer"]
    assert lrs[:k] + lrs[k + 1 :] == without.lrs["lr-optimizer"]
    assert lrs[k] == lrs[k + 1]
    assert outcomes_of(ours.trainer.optimizers[0]).skipped == 1  # type: ignore[union-attr]


class NaNGAN(TwoNetsByName):
    """Both losses NaN at batch ``k`` of the first epoch."""

    k = 3

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        for net, opt in ((self.model_gen, self.gen_opt), (self.model_dis, self.dis_opt)):
            loss = nn.functional.cross_entropy(net(x), y)
            if self.current_epoch == 0 and batch_idx == self.k:
                loss = loss * float("nan")
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()


def gan(k: int) -> NaNGAN:
    per_step = SchedulerSpec("exponential", gamma=0.9, interval="step")
    attributes = {
        "k": k,
        "gen_opt": OptimizerSpec("adam", params="model_gen", lr=0.05, skip_nonfinite=1, scheduler=per_step),
        "dis_opt": OptimizerSpec("sgd", params="model_dis", lr=0.05, momentum=0.9, skip_nonfinite=1),
    }
    return type("GAN", (ConfigurableOptimizersMixin, NaNGAN), attributes)()


def test_manual_optimization(device_path: bool) -> None:
    ours, reference = gan(3), gan(-1)
    fit(ours, data=rows(), max_epochs=1)
    fit(reference, data=rows({3}), max_epochs=1)
    assert_same_weights(ours, reference)
    assert (
        ours.trainer.optimizers[0].param_groups[0]["lr"]
        == reference.trainer.optimizers[0].param_groups[0]["lr"]
    )


def test_a_skipped_step_is_a_step_of_a_loop_stepping_once_a_batch(device_path: bool) -> None:
    """A length derived from the run counts one step a batch in manual optimization, and a loop taking fewer is
    refused; a skipped update was a step the loop took (as Lightning's ``global_step`` counts it): no refusal,
    and the schedule waits."""
    options = {
        "lr": 0.05,
        "skip_nonfinite": 1,
        "implementation": "fused" if device_path else "forloop",  # skipped on the device, or never run
        "scheduler": SchedulerSpec("cosine", interval="step"),
    }
    attributes = {
        "k": 3,
        "gen_opt": OptimizerSpec("adam", params="model_gen", **options),
        "dis_opt": OptimizerSpec("adam", params="model_dis", **options),
    }
    ours = type("GAN", (ConfigurableOptimizersMixin, NaNGAN), attributes)()
    fit(ours, data=rows(), max_epochs=2)
    applied = 2 * BATCHES - 1  # of `T_max=16`
    for optimizer in ours.trainer.optimizers:
        assert optimizer.param_groups[0]["lr"] == pytest.approx(
            0.025 * (1 + math.cos(math.pi * applied / 16))
        )


@pytest.mark.parametrize("implementation", ["forloop", "fused"])
def test_the_n_plus_first_in_a_row_stops_training(implementation: str, device_path: bool) -> None:
    module = declared({2, 3, 4}, limit=2, implementation=implementation)
    with pytest.raises(
        ValueError, match=r"Declared\.optimizer: Expected at most 2 consecutive updates"
    ) as error:
        fit(module, data=rows(), max_epochs=1)
    assert "got 3, the last at global step 4, epoch 0, batch 4" in str(error.value)


@pytest.mark.filterwarnings("ignore:You.re resuming from a checkpoint that ended before the epoch ended")
def test_a_run_of_skips_goes_on_across_a_resume(tmp_path: Path, device_path: bool) -> None:
    """The skips in a row are in the checkpoint: resumed after batch 3 (batches 2 and 3 skipped), the NaN at
    batch 4 is the third in a row and stops training there, as in the uninterrupted run."""
    saving = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=4, save_top_k=-1, filename="{step}")
    stop = r"Declared\.optimizer: Expected at most 2 consecutive updates .* got 3, the last at global step 4, epoch 0"
    with pytest.raises(ValueError, match=stop):
        fit(declared({2, 3, 4}, limit=2), data=rows(), callbacks=[saving], enable_checkpointing=True)
    with pytest.raises(ValueError, match=stop):
        fit_resumed(declared({2, 3, 4}, limit=2), str(tmp_path / "step=4.ckpt"), data=rows())


def test_a_finite_update_resets_the_run() -> None:
    module = declared({1, 2, 4, 5}, limit=2)
    monitor = LRMonitor(logging_interval="step", prog_bar=True)
    fit(module, data=rows(), max_epochs=1, callbacks=[monitor], log_every_n_steps=1)
    assert float(module.trainer.callback_metrics["lr-optimizer-skipped"]) == 4
    assert module.trainer.progress_bar_metrics["lr-optimizer-skipped"] == 4
    assert "lr-optimizer-skipped" not in monitor.lrs


def test_the_scalers_skips_count(device_path: bool) -> None:
    """Under a ``GradScaler`` the scaler finds the non-finite gradients and skips; they count toward ``N``."""
    plugin = MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))
    module = declared({2, 3}, limit=1)
    with pytest.raises(
        ValueError, match=r"Expected at most 1 consecutive updates .* but got 2, the last at "
    ):
        fit(module, data=rows(), max_epochs=1, plugins=[plugin])
    plugin = MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))
    module = declared({2, 3}, limit=2, implementation="fused")
    fit(module, data=rows(), max_epochs=1, plugins=[plugin])
    assert outcomes_of(module.trainer.optimizers[0]).skipped == 2  # type: ignore[union-attr]


@pytest.mark.parametrize("implementation", ["forloop", "fused"])
def test_a_disabled_scaler_leaves_the_check_to_the_option(implementation: str, device_path: bool) -> None:
    """``GradScaler(enabled=False)`` checks nothing and steps every update: ``skip_nonfinite`` checks them itself,
    and the NaN batch is as if it were not there, as in ``32-true``."""

    def plugin() -> MixedPrecision:
        return MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu", enabled=False))

    k = 3
    ours, reference = declared({k}, implementation=implementation), declared(implementation=implementation)
    fit(ours, data=rows(), max_epochs=1, plugins=[plugin()])
    fit(reference, data=rows({k}), max_epochs=1, plugins=[plugin()])
    assert_same_weights(ours, reference)
    assert (
        ours.trainer.optimizers[0].param_groups[0]["lr"]
        == reference.trainer.optimizers[0].param_groups[0]["lr"]
    )
    assert outcomes_of(ours.trainer.optimizers[0]).skipped == 1  # type: ignore[union-attr]


class InfLoss(L.LightningModule):
    """At the batches in ``inf`` the loss's gradient is ``+inf`` in every element (no NaN: what clipping by
    value would clamp to a finite update). ``step_loss`` is the ``loss=`` form; ``InfAt`` trains with it."""

    inf: frozenset[int] = frozenset()

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model_gen = Net()

    def step_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if batch_idx in self.inf:
            return sum(p.sum() for p in self.parameters()) * float("inf")  # type: ignore[return-value]
        x, y = batch
        return nn.functional.cross_entropy(self.model_gen(x), y)


class InfAt(InfLoss):
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.step_loss(batch, batch_idx)


@pytest.mark.parametrize("mode", ["automatic", "loss="])
@pytest.mark.parametrize("algorithm", ["norm", "value"])
@pytest.mark.parametrize("implementation", ["forloop", "fused"])
def test_an_inf_gradient_is_skipped_before_clipping(
    mode: str, algorithm: str, implementation: str, device_path: bool
) -> None:
    """The gradients are checked before the Trainer clips them, as a ``GradScaler`` does: clipping by value
    would turn an all-``inf`` gradient into a finite update of ``clip_val`` per element."""

    def module(inf: set[int]) -> Any:
        spec = OptimizerSpec(
            "sgd",
            lr=0.1,
            implementation=implementation,
            skip_nonfinite=2,
            scheduler=SchedulerSpec("exponential", gamma=0.9, interval="step"),
            **({"loss": "step_loss"} if mode == "loss=" else {}),
        )
        base = InfLoss if mode == "loss=" else InfAt
        return type(
            "Clipped", (ConfigurableOptimizersMixin, base), {"optimizer": spec, "inf": frozenset(inf)}
        )()

    k = 3
    ours, reference = module({k}), module(set())
    options = {"max_epochs": 1, "gradient_clip_val": 0.5, "gradient_clip_algorithm": algorithm}
    fit(ours, data=rows(), **options)
    fit(reference, data=rows({k}), **options)
    assert_same_weights(ours, reference)
    assert (
        ours.trainer.optimizers[0].param_groups[0]["lr"]
        == reference.trainer.optimizers[0].param_groups[0]["lr"]
    )
    assert outcomes_of(ours.trainer.optimizers[0]).skipped == 1  # type: ignore[union-attr]


class NoLossAt(NaNAt):
    """``training_step`` returns ``None`` (Lightning's "skip this batch") at the batches in ``none``."""

    none: frozenset[int] = frozenset()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        return None if batch_idx in self.none else super().training_step(batch, batch_idx)


@pytest.mark.filterwarnings("ignore:`training_step` returned `None`")
@pytest.mark.parametrize("precision", ["32-true", "16-mixed"])
def test_a_batch_without_a_loss_is_no_skip(precision: str, device_path: bool) -> None:
    """Under a ``GradScaler`` Lightning does not step after a ``None`` return (in ``32-true`` it steps without
    gradients): not a skipped update in either precision, so three in a row do not stop training, and the
    NaNs around them count alike."""
    spec = OptimizerSpec("adam", lr=0.05, skip_nonfinite=2, implementation="fused")
    attributes = {"optimizer": spec, "nan": frozenset({1, 6}), "none": frozenset({2, 3, 4})}
    module = type("NoLoss", (ConfigurableOptimizersMixin, NoLossAt), attributes)()
    plugins = (
        [MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))]
        if precision == "16-mixed"
        else []
    )
    fit(module, data=rows(), max_epochs=1, plugins=plugins)
    assert outcomes_of(module.trainer.optimizers[0]).skipped == 2  # type: ignore[union-attr]


class ComplexNaNAt(L.LightningModule):
    """A complex weight (torch's optimizers take complex parameters; e.g. a Fourier layer's), the loss NaN at the
    batches in ``nan``."""

    nan: frozenset[int] = frozenset()

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.spectral = nn.Parameter(torch.randn(8, 4, dtype=torch.complex64))
        self.head = nn.Linear(4, 4)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.cross_entropy(self.head((x.to(torch.complex64) @ self.spectral).abs()), y)
        return loss * float("nan") if batch_idx in self.nan else loss


@pytest.mark.parametrize("implementation", ["forloop", "foreach"])
def test_complex_parameters(implementation: str) -> None:
    """A NaN in a complex gradient is skipped (the run ends as without that batch), finite ones are applied
    (the run ends as without ``skip_nonfinite``)."""

    def module(nan: set[int], limit: int = 2) -> Any:
        spec = OptimizerSpec("adam", lr=0.05, implementation=implementation, skip_nonfinite=limit)
        attributes = {"optimizer": spec, "nan": frozenset(nan)}
        return type("Complex", (ConfigurableOptimizersMixin, ComplexNaNAt), attributes)()

    ours, without_batch, finite, plain = module({3}), module(set()), module(set()), module(set(), limit=0)
    fit(ours, data=rows(), max_epochs=1)
    fit(without_batch, data=rows({3}), max_epochs=1)
    fit(finite, data=rows(), max_epochs=1)
    fit(plain, data=rows(), max_epochs=1)
    assert_same_weights(ours, without_batch)
    assert_same_weights(finite, plain)
    assert not torch.equal(finite.spectral, ComplexNaNAt().spectral)  # it trained
    assert outcomes_of(ours.trainer.optimizers[0]).skipped == 1  # type: ignore[union-attr]
    assert outcomes_of(finite.trainer.optimizers[0]).skipped == 0  # type: ignore[union-attr]


@pytest.mark.parametrize("kernel", [True, False], ids=["scaler-kernel", "fallback"])
def test_the_check_of_complex_tensors(kernel: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """``nonfinite`` on complex tensors (their real and imaginary parts), with the ``GradScaler``'s kernel and
    with ``compat``'s fallback for a torch without it."""
    from lightning_optim.training.nonfinite import nonfinite

    if not kernel:
        monkeypatch.delattr(torch, "_amp_foreach_non_finite_check_and_unscale_")
    finite = [torch.ones(2), torch.tensor([1 + 2j, -3j]), torch.tensor([1 + 2j]).conj()]
    assert float(nonfinite(finite)) == 0  # type: ignore[arg-type]
    for bad in (complex(float("nan"), 0), complex(0, float("inf"))):
        assert float(nonfinite([*finite, torch.tensor([1j, bad], dtype=torch.complex128)])) > 0  # type: ignore[arg-type]


def test_nothing_is_installed_when_off() -> None:
    spec = OptimizerSpec("adam", lr=0.05, scheduler=SchedulerSpec("exponential", gamma=0.9))
    module = type("Off", (ConfigurableOptimizersMixin, Classifier), {"optimizer": spec})()
    fit(module, max_epochs=1)
    optimizer = module.trainer.optimizers[0]
    assert outcomes_of(optimizer) is None
    assert not optimizer._optimizer_step_post_hooks
    # the step is the class's, as torch's own scheduler leaves it (torch 2.4's wraps it in a function of its own)
    reference = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.05)
    torch.optim.lr_scheduler.ExponentialLR(reference, gamma=0.9)
    assert optimizer.step.__module__ == reference.step.__module__
    if compat.torch_at_least("2.13"):
        assert optimizer.step.__module__ == "torch.optim.adam"


class SyncCounter(L.Callback):
    """Counts the synchronizing CUDA calls of batches 2..5 (``torch.cuda.set_sync_debug_mode("warn")``)."""

    def __init__(self) -> None:
        self.syncs = 0
        self.recording: Any = None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if batch_idx == 2:
            torch.cuda.synchronize()
            self.recording = warnings.catch_warnings(record=True)
            self.records = self.recording.__enter__()
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, *args: Any) -> None:
        if trainer.fit_loop.epoch_loop.batch_idx == 5:
            self.stop()

    def stop(self) -> None:
        torch.cuda.set_sync_debug_mode(0)
        if self.recording is not None:
            self.syncs = sum("synchronizing CUDA operation" in str(w.message) for w in self.records)
            self.recording.__exit__(None, None, None)
            self.recording = None

    def on_exception(self, *args: Any) -> None:
        self.stop()


class OnDevice(L.LightningModule):
    """Inputs and targets live on the device; a batch is an index (no host-to-device copy per batch)."""

    nan: frozenset[int] = frozenset()

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model_gen = Net()
        generator = torch.Generator().manual_seed(0)
        self.register_buffer("inputs", torch.randn(BATCHES, 8, 8, generator=generator))
        self.register_buffer("targets", torch.randint(0, 4, (BATCHES, 8), generator=generator))

    def training_step(self, batch: int, batch_idx: int) -> torch.Tensor:
        loss = nn.functional.cross_entropy(self.model_gen(self.inputs[batch]), self.targets[batch])
        return loss * float("nan") if batch in self.nan else loss


def indices(without: set[int] = frozenset()) -> DataLoader:  # type: ignore[assignment]
    kept = [i for i in range(BATCHES) if i not in without]
    return DataLoader(kept, batch_size=1, collate_fn=lambda items: items[0])  # type: ignore[arg-type]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fused_skips_on_the_device_without_a_sync() -> None:
    """A fused AdamW on CUDA gets the flag as ``found_inf``: the NaN batch is skipped with no synchronization
    beyond those of the same run without ``skip_nonfinite``, and the weights equal the run without the batch."""

    def module(nan: set[int], limit: int = 2) -> Any:
        spec = OptimizerSpec(
            "adamw",
            lr=0.05,
            implementation="fused",
            skip_nonfinite=limit,
            scheduler=SchedulerSpec("exponential", gamma=0.9, interval="step"),
        )
        attributes = {"optimizer": spec, "nan": frozenset(nan)}
        return type("Declared", (ConfigurableOptimizersMixin, OnDevice), attributes)()

    ours, reference, plain = module({3}), module(set()), module(set(), limit=0)
    counted, baseline = SyncCounter(), SyncCounter()
    fit(ours, data=indices(), max_epochs=1, accelerator="gpu", callbacks=[counted])
    fit(plain, data=indices(), max_epochs=1, accelerator="gpu", callbacks=[baseline])
    fit(reference, data=indices({3}), max_epochs=1, accelerator="gpu")
    assert counted.syncs <= baseline.syncs
    assert_same_weights(ours, reference)
    assert outcomes_of(ours.trainer.optimizers[0]).skipped == 1  # type: ignore[union-attr]


class Losses(L.LightningModule):
    """Two optimizers whose training step the mixin writes; both losses NaN at batch ``nan``."""

    nan = -1

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model_gen = Net()
        self.model_dis = nn.Linear(8, 4)

    def gen_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.cross_entropy(self.model_gen(x), y)
        return loss * float("nan") if batch_idx == self.nan else loss

    def dis_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.cross_entropy(self.model_dis(x), y)
        return loss * float("nan") if batch_idx == self.nan else loss


def losses(nan: int = -1) -> Losses:
    per_step = SchedulerSpec("exponential", gamma=0.9, interval="step")
    attributes = {
        "nan": nan,
        "gen_opt": OptimizerSpec(
            "adam", params="model_gen", lr=0.05, loss="gen_loss", skip_nonfinite=1, scheduler=per_step
        ),
        "dis_opt": OptimizerSpec("sgd", params="model_dis", lr=0.05, loss="dis_loss", skip_nonfinite=1),
    }
    return type("Losses", (ConfigurableOptimizersMixin, Losses), attributes)()  # type: ignore[return-value]


def test_with_the_training_step_the_mixin_writes() -> None:
    """``loss=`` and ``skip_nonfinite`` together, with clipping: the NaN batch is as if it were not there."""
    ours, reference = losses(nan=3), losses()
    fit(ours, data=rows(), max_epochs=1, gradient_clip_val=0.1)
    fit(reference, data=rows({3}), max_epochs=1, gradient_clip_val=0.1)
    assert_same_weights(ours, reference)
    assert [outcomes_of(o).skipped for o in ours.trainer.optimizers] == [1, 1]  # type: ignore[union-attr]


class HandWrittenNaNAt(NaNAt):
    nan = frozenset({1})

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.parameters(), lr=0.05)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.9)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def test_a_skipped_update_counts_in_global_step_as_a_scalers_skip() -> None:
    """A skipped update is a step of ``trainer.global_step`` and ``max_steps``, as Lightning counts a step its
    ``GradScaler`` skipped (a hand-written module under a CPU scaler); the schedule counts applied updates."""
    scaled = MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))
    lightning = fit(HandWrittenNaNAt(), data=rows(), max_steps=3, plugins=[scaled])
    ours = declared({1})
    mine = fit(ours, data=rows(), max_steps=3)
    assert len(mine.history) == len(lightning.history) == ours.trainer.global_step == 3
    assert outcomes_of(ours.trainer.optimizers[0]).skipped == 1  # type: ignore[union-attr]
    assert ours.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.05 * 0.9**2)
    # with `loss=` each optimizer's skipped update counts too: 3 batches of 2 optimizers, as without the NaN
    driven, reference = losses(nan=1), losses()
    mine, theirs = fit(driven, data=rows(), max_steps=6), fit(reference, data=rows(), max_steps=6)
    assert len(mine.history) == len(theirs.history) == 3
    assert driven.trainer.global_step == reference.trainer.global_step == 6
    assert [outcomes_of(o).skipped for o in driven.trainer.optimizers] == [1, 1]  # type: ignore[union-attr]


def test_sharded_gradients_decide_together(tmp_path: Any) -> None:
    """With sharded gradients (FSDP) each process checks its shard and the flags are summed, so that no process
    steps while another skips (here one process, in a real process group)."""
    from lightning_optim.training.nonfinite import SkipNonFinite

    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0, world_size=1)
    try:
        param = nn.Parameter(torch.ones(3))
        optimizer = torch.optim.SGD([param], lr=1.0)
        skipper = SkipNonFinite(
            optimizer, StepOutcomes("M.optimizer", optimizer, None, limit=2, tags=False), True
        )
        param.grad = torch.tensor([1.0, float("nan"), 1.0])
        skipper()
        assert torch.equal(param.detach(), torch.ones(3))
        param.grad = torch.ones(3)
        skipper()
        assert torch.equal(param.detach(), torch.zeros(3))
        assert skipper.outcomes.skipped == 1
    finally:
        torch.distributed.destroy_process_group()
