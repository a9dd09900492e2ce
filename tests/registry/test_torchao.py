"""``"torchao/<name>"``: torchao's low-bit optimizers by name, trained on CPU against torchao driven by hand.

torchao compiles its optimizer step with ``torch.compile`` (tens of seconds the first time in a process).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from lightning_optim import OptimizerSpec
from lightning_optim.registry.lookup import resolve_class
from lightning_optim.registry.torchao import OFFLOAD_NAMES
from lightning_optim.tools.state_size import tensor_bytes
from tests.helpers import assert_same_weights, declared, fit
from tests.registry.test_bnb import STEP, Wide

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
