"""What the README says Lightning and torch do, checked against the installed ones.

The README's opening example contrasts a misspelled ``lnterval`` in a declaration (an error at class
definition) with the same key in a hand-written ``configure_optimizers``: Lightning warns, drops the key and
steps the schedule at its default interval, once per epoch. Its "Verifying a port" says why torch's fused and
for-loop kernels give weights that ``assert_close`` may refuse, checked here with torch alone.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import StepLR

from tests.helpers import Classifier, fit


class Misspelled(Classifier):
    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.parameters(), lr=0.05)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": StepLR(optimizer, step_size=1), "lnterval": "step"},
        }


def test_lightning_warns_about_a_misspelled_key_drops_it_and_steps_per_epoch() -> None:
    with pytest.warns(
        RuntimeWarning, match=r"Found unsupported keys in the lr scheduler dict: \{'lnterval'\}"
    ):
        history = fit(Misspelled(), max_epochs=2).of()  # 4 batches per epoch
    assert history == pytest.approx([0.05] * 4 + [0.005] * 4)  # stepped once per epoch, not per step


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.head = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.attn(x, x, x)[0].mean(1))


def _adamw_run(fused: bool) -> dict[str, torch.Tensor]:
    x = torch.randn(32, 6, 16, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 4, (32,), generator=torch.Generator().manual_seed(2))
    model = Attention()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=False, fused=fused)
    for _ in range(50):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_fused_and_forloop_adamw_drift_apart_on_a_parameter_whose_true_gradient_is_zero() -> None:
    """The README's "Verifying a port": rounding everywhere, lr-sized gaps on the attention key bias."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and immune to a loaded machine
    try:
        fused, forloop = _adamw_run(fused=True), _adamw_run(fused=False)
    finally:
        torch.set_num_threads(threads)
    gaps = {name: (fused[name] - forloop[name]).abs() for name in fused}
    key_bias = gaps.pop("attn.in_proj_bias")[16:32]  # in_proj_bias is [query, key, value]
    assert key_bias.max() > 1e-4  # README: 5.6e-4
    assert max(float(gap.max()) for gap in gaps.values()) < 1e-6  # README: within 1e-7
