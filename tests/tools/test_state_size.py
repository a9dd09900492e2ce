"""``state_bytes``: the optimizer state a group will hold, measured without changing the module."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from lightning_optim import OptimizerSpec, ParamGroup, describe_optimizers
from lightning_optim.tools.state_size import state_bytes, tensor_bytes
from tests.helpers import Classifier, SparseEmbedding, declared, fit, needs_muon


def trained_bytes(optimizer: torch.optim.Optimizer) -> list[int]:
    seen: set[tuple[str, int]] = set()
    return [sum(tensor_bytes(optimizer.state[p], seen) for p in g["params"]) for g in optimizer.param_groups]


@pytest.mark.filterwarnings(
    "ignore:MuonWithAdamW. no param group uses Muon"
)  # the test model has no 2-D hidden group
@pytest.mark.parametrize(
    "name",
    # not LBFGS: its size is unknown (test_lbfgs_state_size_is_unknown_not_the_zero_of_a_step_on_zero_gradients)
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


def test_lbfgs_state_size_is_unknown_not_the_zero_of_a_step_on_zero_gradients() -> None:
    """Was "0 bytes of state": on zero gradients LBFGS's step returns before it keeps anything, while the run's
    first step keeps flat vectors whose number depends on how many of its `max_iter` inner iterations the loss
    lets run and keep a curvature pair, up to `history_size` pairs; no step without the run's loss tells it.
    describe_optimizers says the size is unknown, and the state is what docs/guides/memory.md says it holds."""
    module = declared(OptimizerSpec("lbfgs", lr=1.0, history_size=3))()
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    lines = describe_optimizers(module).splitlines()
    assert lines[0].endswith(", state size unknown")
    assert lines[2].split()[3] == "?"
    for n, p in module.named_parameters():
        assert torch.equal(p, before[n]) and p.grad is None, n
    fit(module, max_steps=2)
    (held,) = trained_bytes(module.trainer.optimizers[0])
    flat = sum(p.numel() * p.element_size() for p in module.parameters())
    # 3 pairs of flat vectors, the direction and the last gradient; ro and al per pair and H_diag, 0-dim
    assert held == (2 * 3 + 2) * flat + (2 * 3 + 1) * 4


class Stack(Classifier):
    """Eight hidden layers of one shape, as a transformer's blocks, beside the classifier's two."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(nn.Linear(64, 64) for _ in range(8)))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        hidden = self.blocks(nn.functional.pad(x, (0, 56)))
        return nn.functional.cross_entropy(self.model_gen(hidden[:, :8]), y)


def allocated_bytes(run: Any) -> int:
    """The bytes torch allocates on the CPU while ``run()`` runs, freed or not."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        run()
    return sum(
        e.cpu_memory_usage for e in profiler.events() if e.cpu_parent is None and e.cpu_memory_usage > 0
    )


@pytest.mark.parametrize("name", ["adamw", "schedulefree/adamw"])
def test_describe_of_a_per_parameter_optimizer_steps_stand_ins_not_the_parameters(name: str) -> None:
    """Was: one step over a copy of every parameter, its gradient and its state, up to 4x the parameters'
    memory while describing (an out-of-memory where the run itself fits); the real parameters were stepped and
    copied back. Now one zero stand-in per distinct shape of a group is stepped, alone, and the parameters are
    not touched: describing allocates less than the parameters hold, and says the bytes the run holds."""
    spec = OptimizerSpec(name, lr=1e-3, groups=[ParamGroup("blocks", weight_decay=0.0)])
    module = declared(spec, base=Stack)()
    versions = {n: p._version for n, p in module.named_parameters()}
    parameter_bytes = sum(p.numel() * p.element_size() for p in module.parameters())
    lines: list[str] = []
    allocated = allocated_bytes(lambda: lines.extend(describe_optimizers(module).splitlines()))
    assert allocated < parameter_bytes, (allocated, parameter_bytes)  # was 4x
    for n, p in module.named_parameters():
        assert p._version == versions[n] and p.grad is None, n  # never written, not even put back
    fit(module, max_steps=2)
    held = trained_bytes(module.trainer.optimizers[0])
    assert lines[0].endswith(f", {sum(held)} bytes of state")
    assert [int(line.split()[3]) for line in lines[2:4]] == held


class FlatMomentum(torch.optim.Optimizer):
    """One momentum over all parameters at once, kept under the first (as LBFGS keeps its flat state)."""

    def __init__(self, params: Any, lr: float = 0.1) -> None:
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        if closure is not None:
            with torch.enable_grad():
                closure()
        params = [p for g in self.param_groups for p in g["params"]]
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        state = self.state[params[0]]
        state["momentum"] = flat if "momentum" not in state else state["momentum"].mul_(0.9).add_(flat)
        for param, update in zip(params, state["momentum"].split([p.numel() for p in params])):
            param.sub_(update.view_as(param), alpha=self.param_groups[0]["lr"])


def test_an_optimizer_not_known_to_keep_state_per_parameter_is_measured_over_the_parameters() -> None:
    """A state not kept per parameter (one flat buffer under the first, as LBFGS) cannot be told from stand-ins:
    such an optimizer is stepped over the real parameters, put back afterwards, and says what the run holds."""
    module = declared(OptimizerSpec(FlatMomentum, lr=0.1), base=Stack)()
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    header = describe_optimizers(module).splitlines()[0]
    for n, p in module.named_parameters():
        assert torch.equal(p, before[n]) and p.grad is None, n
    fit(module, max_steps=2)
    (held,) = trained_bytes(module.trainer.optimizers[0])
    assert held == sum(p.numel() for p in module.parameters()) * 4
    assert header.endswith(f", {held} bytes of state")
