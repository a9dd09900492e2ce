"""``"torchao/<name>"``: torchao's low-bit optimizers by name, trained on CPU against torchao driven by hand.

torchao compiles its optimizer step with ``torch.compile`` (tens of seconds the first time in a process).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import LearningRateFinder
from lightning.pytorch.tuner import Tuner

from lightning_optim import HParam, OptimizerSpec, ParamGroup
from lightning_optim.registry.lookup import resolve_class
from lightning_optim.registry.torchao import OFFLOAD_NAMES
from lightning_optim.tools.state_size import tensor_bytes
from tests.helpers import (
    FAST,
    assert_same_weights,
    declared,
    fit,
    fit_resumed,
    loader,
    needs_lr_finder_fix,
    transformers_with_torch,
)
from tests.registry.test_bnb import STEP, Wide
from tests.training.test_resume import Resumable, checkpoints

try:
    import torchao.optim as torchao_optim
except Exception as error:  # missing, or built for another torch (it needs torch.int1 from 2.5 on)
    pytest.skip(f"torchao does not import here: {error}", allow_module_level=True)

LR = 1e-2


class ByHand(Wide):
    def configure_optimizers(self) -> Any:
        optimizer = torchao_optim.AdamW8bit(self.parameters(), lr=LR)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


@pytest.mark.parametrize(
    "name",
    [
        n
        for n, c in vars(torchao_optim).items()
        if not n.startswith("_") and n != "CPUOffloadOptimizer" and isinstance(c, type)
    ],
)
def test_every_low_bit_optimizer_has_its_lower_case_name(name: str) -> None:
    assert resolve_class(f"torchao/{name.lower()}", "optimizer", where="M") is getattr(torchao_optim, name)


@pytest.mark.filterwarnings(
    "ignore:OptimState8bit does not implement _stable_hash_for_caching"
)  # torchao's, not ours
@pytest.mark.slow
def test_adamw8bit_trains_on_cpu_like_torchao_by_hand() -> None:
    reference = ByHand()
    expected = fit(reference, max_epochs=2)
    spec = OptimizerSpec("torchao/adamw8bit", lr=LR, scheduler=STEP)
    module = declared(spec, base=Wide)()
    recorded = fit(module, max_epochs=2)
    optimizer = module.trainer.optimizers[0]
    assert type(optimizer) is torchao_optim.AdamW8bit
    assert recorded.history == expected.history
    assert_same_weights(module, reference)
    state = optimizer.state[module.hidden.weight]["exp_avg"]
    assert type(state).__name__ == "OptimState8bit"
    # 8-bit codes and one float32 scale per 256-element block, counted through the tensor subclass
    assert tensor_bytes(state, set()) < module.hidden.weight.numel() * 4 / 3


def optimizer_state(module: Any) -> dict[str, dict[str, torch.Tensor]]:
    """A copy of every parameter's optimizer state, a tensor subclass as its inner tensors (codes, scale,
    qmap)."""
    state = module.trainer.optimizers[0].state
    flat: dict[str, dict[str, torch.Tensor]] = {}
    for name, param in module.named_parameters():
        for key, value in state[param].items():
            inner = value.__tensor_flatten__()[0] if hasattr(value, "__tensor_flatten__") else ["value"]
            for part in inner:
                tensor = value if part == "value" else getattr(value, part)
                flat.setdefault(name, {})[f"{key}.{part}"] = tensor.detach().clone()
    return flat


@pytest.mark.filterwarnings("ignore:OptimState.* does not implement _stable_hash_for_caching")  # torchao's
@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "subclass"),
    [("torchao/adamw8bit", "OptimState8bit"), ("transformers/adamw_torch_4bit", "OptimState4bit")],
)
def test_resumes_mid_epoch_exactly(name: str, subclass: str, tmp_path: Path) -> None:
    """torchao's state is tensor subclasses, which ``torch.load`` cannot rebuild under Lightning's callable
    ``map_location``: the checkpoint holds their plain tensors, rebuilt on load."""
    if name.startswith("transformers/"):
        transformers_with_torch()
    cls = declared(OptimizerSpec(name, lr=LR, scheduler=STEP), base=Wide)
    options = {"max_epochs": 4, "enable_checkpointing": True, "default_root_dir": tmp_path}
    whole_module = cls()
    save = checkpoints(tmp_path / "ckpt", every_n_train_steps=5)
    whole = fit_resumed(whole_module, None, data=Resumable(), callbacks=[save], **options)
    resumed_module = cls()
    path = tmp_path / "ckpt" / "epoch=1-step=5.ckpt"  # after batch 0 of epoch 1
    rest = fit_resumed(resumed_module, str(path), data=Resumable(), **options)
    assert len(whole.history) == 16
    assert len(set(whole.of())) > 1
    assert rest.history == whole.history[5:]
    assert_same_weights(whole_module, resumed_module)
    optimizer = resumed_module.trainer.optimizers[0]
    assert type(optimizer.state[resumed_module.hidden.weight]["exp_avg"]).__name__ == subclass
    assert isinstance(optimizer.param_groups[0]["lr"], torch.Tensor)  # torchao's step needs it
    expected, got = optimizer_state(whole_module), optimizer_state(resumed_module)
    assert expected.keys() == got.keys()
    for parameter in expected:
        assert expected[parameter].keys() == got[parameter].keys()
        for key in expected[parameter]:
            assert torch.equal(expected[parameter][key], got[parameter][key]), (parameter, key)


@pytest.mark.filterwarnings("ignore:OptimState.* does not implement _stable_hash_for_caching")  # torchao's
@pytest.mark.slow
def test_continue_keeps_the_saved_state(tmp_path: Path) -> None:
    """``resume_changed_setup="continue"`` with another lr keeps the checkpoint's low-bit state."""
    cls = declared(OptimizerSpec("torchao/adamw8bit", lr=LR, scheduler=STEP), base=Wide)
    first = cls()
    options = {"enable_checkpointing": True, "default_root_dir": tmp_path}
    fit_resumed(
        first, None, data=Resumable(), callbacks=[checkpoints(tmp_path / "ckpt")], max_epochs=1, **options
    )
    saved = optimizer_state(first)

    class Continued(cls):  # type: ignore[misc, valid-type]
        resume_changed_setup = "continue"
        optimizer = OptimizerSpec("torchao/adamw8bit", lr=LR / 2, scheduler=STEP)

    class Loaded(L.Callback):
        def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
            self.state = optimizer_state(pl_module)

    loaded = Loaded()
    module = Continued()
    path = tmp_path / "ckpt" / "epoch=0-step=4.ckpt"
    fit_resumed(module, str(path), data=Resumable(), callbacks=[loaded], max_epochs=2, **options)
    assert loaded.state.keys() == saved.keys()
    for parameter in saved:
        for key in saved[parameter]:
            assert torch.equal(saved[parameter][key], loaded.state[parameter][key]), (parameter, key)
    assert module.trainer.global_step == 8


class Tunable(Wide):
    """``Wide`` with its lr in ``hparams``, as the LR finder writes it, and the data it trains on; records the lr
    each param group stepped with, at every batch (after the step, before the schedulers': the module's own
    hook, which the finder's runs call too)."""

    def __init__(self, lr: float = LR) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.stepped: list[list[float]] = []

    def train_dataloader(self) -> Any:
        return loader(n=160)

    def on_train_batch_end(self, *args: Any) -> None:
        self.stepped.append([float(group["lr"]) for group in self.trainer.optimizers[0].param_groups])


def tunable(name: str) -> Tunable:
    spec = OptimizerSpec(name, lr=HParam("lr"), groups=[ParamGroup("embed", lr_mult=0.5, name="embed")])
    return declared(spec, base=Tunable)()


@pytest.mark.filterwarnings("ignore:OptimState.* does not implement _stable_hash_for_caching")  # torchao's
@pytest.mark.slow
def test_the_lr_finder_steps_torchao_with_the_lrs_it_steps_adamw_with(tmp_path: Path) -> None:
    """Lightning's finder writes numbers into the groups' lr, where torchao's step needs a tensor: it stepped
    once and raised "lr was changed to a non-Tensor object"."""
    found = {}
    for name in ("adamw", "torchao/adamw8bit"):
        trainer = L.Trainer(**{**FAST, "max_epochs": 1, "default_root_dir": tmp_path})
        module = tunable(name)
        finder = Tuner(trainer).lr_find(module, num_training=20, early_stop_threshold=None, update_attr=True)
        assert finder is not None and finder.suggestion() is not None
        assert module.hparams.lr == finder.suggestion()
        found[name] = (finder.results["lr"], module.stepped)
    assert found["torchao/adamw8bit"][0] == found["adamw"][0]  # the same lrs tried
    # stepped with, both groups: torchao holds them as float32 tensors
    as_float32 = [[float(torch.tensor(lr, dtype=torch.float32)) for lr in lrs] for lrs in found["adamw"][1]]
    assert found["torchao/adamw8bit"][1] == as_float32
    assert len({lrs[1] for lrs in as_float32}) == 20
    assert len(found["adamw"][0]) == 20


@needs_lr_finder_fix
@pytest.mark.filterwarnings("ignore:OptimState.* does not implement _stable_hash_for_caching")  # torchao's
@pytest.mark.slow
def test_the_lr_finder_callback_runs_and_the_fit_trains_with_its_suggestion(tmp_path: Path) -> None:
    finder = LearningRateFinder(num_training_steps=20, update_attr=True, early_stop_threshold=None)
    options = {**FAST, "max_epochs": 1, "default_root_dir": tmp_path, "callbacks": [finder]}
    module = tunable("torchao/adamw8bit")
    L.Trainer(**options).fit(module)
    suggestion = finder.optimal_lr.suggestion()
    assert suggestion is not None and module.hparams.lr == suggestion
    assert len(module.stepped) == 40
    assert module.stepped[20] == pytest.approx([suggestion * 0.5, suggestion])  # the fit's first step
    optimizer = module.trainer.optimizers[0]
    assert all(isinstance(group["lr"], torch.Tensor) for group in optimizer.param_groups)


@pytest.mark.skipif(
    torch.cuda.is_available() or torch.xpu.is_available(), reason="a machine without CUDA/XPU"
)
@pytest.mark.parametrize("name", OFFLOAD_NAMES)
def test_cpu_offload_is_refused_without_an_accelerator(name: str) -> None:
    with pytest.raises(
        ValueError,
        match=r"^Declared\.optimizer: Expected a CUDA or XPU device for `torchao/cpu_offload` .* On CPU, save "
        r"state memory with `torchao/adamw8bit` or `bnb/adamw8bit` instead\.$",
    ):
        declared(OptimizerSpec(f"torchao/{name}"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_offload_is_refused_on_cuda_with_its_reason() -> None:
    with pytest.raises(
        ValueError, match=r"`CPUOffloadOptimizer` splits them into one group per offloaded tensor"
    ):
        declared(OptimizerSpec("torchao/cpu_offload"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_adamw8bit_trains_on_cuda_like_torchao_by_hand() -> None:
    reference = ByHand()
    expected = fit(reference, max_epochs=2, accelerator="gpu")
    module = declared(OptimizerSpec("torchao/adamw8bit", lr=LR, scheduler=STEP), base=Wide)()
    recorded = fit(module, max_epochs=2, accelerator="gpu")
    assert recorded.history == expected.history
    assert_same_weights(module, reference)
