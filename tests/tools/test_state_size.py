"""``state_bytes``: the optimizer state a group will hold, measured without changing the module."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lightning_optim import OptimizerSpec, describe_optimizers
from lightning_optim.tools.state_size import state_bytes, tensor_bytes
from tests.helpers import SparseEmbedding, declared, fit, needs_muon


def trained_bytes(optimizer: torch.optim.Optimizer) -> list[int]:
    seen: set[tuple[str, int]] = set()
    return [sum(tensor_bytes(optimizer.state[p], seen) for p in g["params"]) for g in optimizer.param_groups]


@pytest.mark.filterwarnings(
    "ignore:MuonWithAdamW. no param group uses Muon"
)  # the test model has no 2-D hidden group
@pytest.mark.parametrize(
    "name",
    # not LBFGS: its history fills over the run, after the first step
    [
        *["sgd", "adam", "adamw", "rmsprop", "adagrad", "nadam", "adamax", "schedulefree/adamw"],
        pytest.param("muon_adamw", marks=needs_muon),
    ],
)
def test_describe_reports_what_the_trained_optimizer_holds(name: str) -> None:
    kwargs = {"momentum": 0.9} if name == "sgd" else {}
    module = declared(OptimizerSpec(name, lr=1e-3, **kwargs))()
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    header = describe_optimizers(module).splitlines()[0]
    for n, p in module.named_parameters():
        assert torch.equal(p, before[n]) and p.grad is None, n  # put back bit for bit
    fit(module, max_steps=2)
    (held,) = trained_bytes(module.trainer.optimizers[0])
    assert header.endswith(f", {held} bytes of state")
    assert held > 0


def test_sparse_adam_is_measured_with_sparse_gradients() -> None:
    module = declared(OptimizerSpec("sparseadam", params="embedding"), base=SparseEmbedding)
    optimizer = torch.optim.SparseAdam(module().embedding.parameters())
    assert state_bytes(optimizer) == [2 * 10 * 8 * 4]  # exp_avg and exp_avg_sq; its step is a Python int


class NeedsItsOwnClosure(torch.optim.SGD):
    def step(self, closure=None):  # type: ignore[no-untyped-def, override]
        raise RuntimeError("call me with my closure")


def test_an_optimizer_that_cannot_step_here_is_unknown_and_untouched() -> None:
    net = nn.Linear(3, 3)
    before = net.weight.detach().clone()
    net.weight.grad = torch.ones_like(net.weight)
    assert state_bytes(NeedsItsOwnClosure(net.parameters(), lr=0.1, momentum=0.9)) is None
    assert torch.equal(net.weight, before) and torch.equal(net.weight.grad, torch.ones(3, 3))
    module = declared(OptimizerSpec(NeedsItsOwnClosure, lr=0.1))()
    text = describe_optimizers(module)
    assert text.splitlines()[0].endswith(", state size unknown")
    assert text.splitlines()[2].split()[3] == "?"
