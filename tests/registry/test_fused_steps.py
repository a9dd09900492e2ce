"""Step hooks that keep torch's fused kernels training like torch's default (``registry/fused_steps.py``).

Each test trains a real module with a real Trainer against a hand-written one on torch's default
implementation (the for-loop on CPU); fused and for-loop differ by float rounding only.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import torch
from torch.optim import SGD, Adagrad

from lightning_optim import OptimizerSpec
from tests.helpers import Classifier, declared, fit, weights

SHORT = {"max_epochs": 2}  # 4 batches per epoch: 8 optimizer steps


def implementation_of(module: Any) -> tuple[Any, Any]:
    defaults = module.trainer.optimizers[0].defaults
    return defaults.get("fused"), defaults.get("foreach")


def handwritten(base: type, cls: type, **kwargs: Any) -> Any:
    """``base`` with a ``configure_optimizers`` building ``cls`` with torch's default implementation."""

    def configure_optimizers(self: Any) -> Any:
        return cls(self.parameters(), **kwargs)

    return type("HandWritten", (base,), {"configure_optimizers": configure_optimizers})()


class LateHead(Classifier):
    """A classifier whose auxiliary head joins the loss from the second batch on (an auxiliary loss switched
    on later, an MoE expert routed to only later): its parameters get their first gradient after step 1."""

    def __init__(self) -> None:
        super().__init__()
        self.aux = torch.nn.Linear(8, 4)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = super().training_step(batch, batch_idx)
        if batch_idx >= 1:
            x, y = batch
            loss = loss + torch.nn.functional.cross_entropy(self.aux(x), y)
        return loss


LATE_SGD = {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}


@pytest.mark.parametrize(
    ("options", "implementation"),
    [
        ({}, "auto"),
        ({"nesterov": True}, "auto"),
        ({"dampening": 0.5}, "auto"),  # no exact fused first step: that step runs torch's default
        ({}, "fused"),
    ],
    ids=["auto", "nesterov", "dampening", "explicit"],
)
def test_fused_sgd_with_momentum_trains_a_parameter_whose_first_gradient_comes_late(
    options: dict[str, Any], implementation: str
) -> None:
    # torch's `_fused_sgd` takes a step as the first only when every momentum buffer is None, and otherwise
    # hands the missing buffers of parameters without one yet to `torch._fused_sgd_`, which raises
    kwargs = {**LATE_SGD, **options}
    ours = declared(OptimizerSpec(SGD, implementation=implementation, **kwargs), base=LateHead)()
    theirs = handwritten(LateHead, SGD, **kwargs)
    initial = weights(theirs)
    fit(ours, **SHORT), fit(theirs, **SHORT)
    assert implementation_of(ours) == (True, None)
    assert all(group["fused"] is True for group in ours.trainer.optimizers[0].param_groups)
    got, expected = weights(ours), weights(theirs)
    for name in expected:
        assert not torch.equal(expected[name], initial[name]), name  # it trained, the late head too
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6)


def test_fused_sgd_with_dampening_under_a_gradient_scaler_refuses_a_late_first_gradient() -> None:
    # the one step that cannot stay fused cannot run unfused either: torch's other SGD steps refuse the
    # scaler's `grad_scale` (an AssertionError deep in torch); "auto" never picks fused under a scaler
    import lightning as L
    from lightning.pytorch.plugins import MixedPrecision

    from tests.helpers import FAST, loader

    spec = OptimizerSpec(SGD, implementation="fused", **LATE_SGD, dampening=0.5)
    module = declared(spec, base=LateHead)()
    trainer = L.Trainer(**FAST, max_epochs=1, plugins=[MixedPrecision("16-mixed", "cpu")])
    with pytest.raises(
        ValueError,
        match=r"Declared\.optimizer: Expected `dampening=0` for a fused `SGD` under a gradient scaler when a "
        r"parameter gets its first gradient after the others but got dampening=0\.5: .* Use "
        r"`implementation='auto'`",
    ):
        trainer.fit(module, loader())


class LookupTable(Classifier):
    """A lookup table with sparse gradients from ``F.embedding(..., sparse=True)`` (word2vec-style): no module
    says ``sparse=True``, so only the first step's gradients show them."""

    def __init__(self) -> None:
        super().__init__()
        self.table = torch.nn.Parameter(torch.randn(10, 8))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        tokens = (x.abs() * 10).long().clamp(max=9)[:, 0]
        embedded = torch.nn.functional.embedding(tokens, self.table, sparse=True)
        return torch.nn.functional.cross_entropy(self.model_gen(embedded), y)


@pytest.mark.parametrize(
    ("cls", "kwargs"), [(SGD, {"lr": 0.1}), (SGD, {"lr": 0.1, "momentum": 0.9}), (Adagrad, {"lr": 0.1})]
)
def test_auto_falls_back_to_torch_default_at_the_first_sparse_gradient(
    cls: type, kwargs: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    ours = declared(OptimizerSpec(cls, **kwargs), base=LookupTable)()
    theirs = handwritten(LookupTable, cls, **kwargs)
    initial = weights(theirs)
    with caplog.at_level(logging.INFO, logger="lightning_optim"):
        fit(ours, **SHORT), fit(theirs, **SHORT)
    assert [g["fused"] for g in ours.trainer.optimizers[0].param_groups] == [None]
    lines = [r.getMessage() for r in caplog.records if r.name == "lightning_optim"]
    assert lines[-1] == (
        f"Declared.optimizer: `{cls.__name__}` falls back to torch's default implementation from this optimizer's "
        "step 1 on: parameter `table` got a sparse gradient, which torch's fused kernel does not take."
    )
    got, expected = weights(ours), weights(theirs)
    assert not torch.equal(expected["table"], initial["table"])
    for name in expected:  # torch's default from the first step on: bit for bit
        assert torch.equal(got[name], expected[name]), name


def test_explicit_fused_refuses_a_sparse_gradient_at_the_step() -> None:
    module = declared(OptimizerSpec(SGD, lr=0.1, implementation="fused"), base=LookupTable)()
    with pytest.raises(
        ValueError,
        match=r"^Declared\.optimizer: Expected dense gradients for a declared fused kernel but parameter "
        r"`table` got a sparse one at this optimizer's step 1: torch's fused `SGD` does not take them\. Use "
        r"`implementation='auto'` \(torch's default for sparse gradients\) or 'foreach'\.$",
    ):
        fit(module, **SHORT)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fused_step_hooks_make_no_host_device_sync() -> None:
    # the hooks read only which gradients and buffers exist; the buffer they start is an allocation
    from lightning_optim.registry.fused_steps import install_fused_step_hooks

    early, late = (torch.nn.Parameter(torch.ones(64, device="cuda")) for _ in range(2))
    optimizer = SGD([early, late], lr=0.1, momentum=0.9, fused=True)
    install_fused_step_hooks("Model.optimizer", optimizer, {id(early): "early", id(late): "late"}, auto=True)
    early.grad = torch.ones_like(early)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        optimizer.step()
        late.grad = torch.ones_like(late)
        optimizer.step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.testing.assert_close(late.detach(), torch.full_like(late, 0.9))
