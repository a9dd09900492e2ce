"""Regression tests for the declarations ``test_fuzz.py`` found mishandled, each against a hand-written run."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import torch
from torch import nn
from torch.optim import SGD
from torch.optim.lr_scheduler import ChainedScheduler, ExponentialLR, SequentialLR, StepLR

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec
from lightning_optim.registry.lookup import OPTIMIZERS
from tests.helpers import Classifier, SparseEmbedding, assert_same_weights, declared, fit, needs_muon

#: Python's words for an int modulo by zero, which a refusal quotes (3.10: "integer division or modulo by zero")
MODULO_BY_ZERO = (
    "integer modulo by zero" if sys.version_info >= (3, 11) else "integer division or modulo by zero"
)


def _sequential(optimizer: torch.optim.Optimizer) -> Any:
    return SequentialLR(
        optimizer,
        [StepLR(optimizer, step_size=1, gamma=0.1), ExponentialLR(optimizer, gamma=0.5)],
        milestones=[2],
    )


def _chained(optimizer: torch.optim.Optimizer) -> Any:
    return ChainedScheduler([StepLR(optimizer, step_size=1, gamma=0.5), ExponentialLR(optimizer, gamma=0.5)])


@pytest.mark.parametrize(
    ("scheduler", "reference", "golden"),
    [
        # StepLR(0.1) for epochs 0-1, then from the milestone ExponentialLR restarts at the base lr: this is
        # torch's SequentialLR, so the declaration must give exactly the same
        (
            SchedulerSpec(
                "sequential",
                schedulers=[
                    SchedulerSpec("step", step_size=1, gamma=0.1),
                    SchedulerSpec("exponential", gamma=0.5),
                ],
                milestones=[2],
            ),
            _sequential,
            [0.1, 0.01, 0.1, 0.05],
        ),
        # both schedulers multiply every epoch: 0.1 * 0.25**epoch. ChainedScheduler takes `schedulers` first
        # and `optimizer` second, which the mixin used to mistake for the optimizer argument.
        (
            SchedulerSpec(
                ChainedScheduler,
                schedulers=[
                    SchedulerSpec("step", step_size=1, gamma=0.5),
                    SchedulerSpec("exponential", gamma=0.5),
                ],
            ),
            _chained,
            [0.1, 0.025, 0.00625, 0.0015625],
        ),
    ],
    ids=["sequential", "chained"],
)
def test_composite_schedulers_can_be_declared(
    scheduler: SchedulerSpec, reference: Any, golden: list[float]
) -> None:
    class Declared(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=scheduler)

    class HandWritten(Classifier):
        def configure_optimizers(self) -> Any:
            optimizer = SGD(self.parameters(), lr=0.1)
            return {"optimizer": optimizer, "lr_scheduler": reference(optimizer)}

    ours, theirs = Declared(), HandWritten()
    recorded = fit(ours, max_epochs=4)
    assert recorded.history == fit(theirs, max_epochs=4).history
    assert recorded.of()[::4] == pytest.approx(golden)  # 4 batches an epoch
    assert_same_weights(ours, theirs)


class Matrices(Classifier):
    """Only 2-D parameters: what ``Muon`` accepts."""

    def __init__(self) -> None:
        super().__init__()
        self.model_gen = nn.Sequential(nn.Linear(8, 16, bias=False), nn.ReLU(), nn.Linear(16, 4, bias=False))


@needs_muon
def test_muon_can_be_declared() -> None:
    # the class-definition trial used 1-D stand-in parameters, which Muon refuses: no declaration passed
    class Declared(ConfigurableOptimizersMixin, Matrices):
        optimizer = OptimizerSpec("muon", lr=0.02, momentum=0.9)

    class HandWritten(Matrices):
        def configure_optimizers(self) -> Any:
            return torch.optim.Muon(self.parameters(), lr=0.02, momentum=0.9)

    ours, theirs = Declared(), HandWritten()
    assert fit(ours, max_epochs=1).history == fit(theirs, max_epochs=1).history
    assert_same_weights(ours, theirs)


@needs_muon
def test_muon_on_a_model_with_biases_fails_when_fit_starts() -> None:
    class Declared(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec("muon", lr=0.02)

    with pytest.raises(
        ValueError,
        match=r"\.Declared\.optimizer: `Muon` rejected the declared options: Muon only supports 2D",
    ):
        fit(Declared(), max_epochs=1)


@pytest.mark.parametrize("optimizer", ["adam", "adadelta", "asgd", "adamax"])
def test_differentiable_is_refused_at_class_definition(optimizer: str) -> None:
    # torch builds the optimizer, then its first step fails with "a leaf Variable that requires grad is being
    # used in an in-place operation" deep inside Lightning's loop
    with pytest.raises(
        ValueError, match=r"^Model.optimizer: Expected `differentiable` to be False but got True"
    ):
        declared(OptimizerSpec(optimizer, differentiable=True), name="Model")


@pytest.mark.parametrize("optimizer", ["adam", "adadelta", "asgd", "adamax"])
def test_capturable_on_cpu_fails_when_fit_starts(optimizer: str) -> None:
    # torch accepts `capturable=True` for CPU parameters and only asserts in the first step; whether the
    # parameters are on a supported device is known when `fit` starts
    model = declared(OptimizerSpec(optimizer, capturable=True), name="Model")
    with pytest.raises(
        ValueError,
        match=r"^Model.optimizer: Expected the parameters of an optimizer with `capturable=True` to be on one of "
        r"`cuda`, .* but they are on `cpu`\. Remove `capturable=True`",
    ):
        fit(model(), max_epochs=1)


def test_sparse_adam_on_dense_gradients_names_the_parameter() -> None:
    # torch raises "SparseAdam does not support dense gradients" from deep inside the step; the first
    # gradient the backward accumulates is the last layer's bias
    model = declared(OptimizerSpec("sparseadam"), name="Model")
    with pytest.raises(
        ValueError,
        match=r"^Model.optimizer: Expected sparse gradients for `SparseAdam` but parameter `model_gen.layer2.bias` "
        r"got a dense one\.",
    ):
        fit(model(), max_epochs=1)


def test_sparse_adam_trains_sparse_embeddings() -> None:
    class Declared(ConfigurableOptimizersMixin, SparseEmbedding):
        sparse = OptimizerSpec("sparseadam", params="embedding", lr=0.01)
        dense = OptimizerSpec("adam", params="model_gen", lr=0.01, implementation="forloop")

        def training_step(self, batch: Any, batch_idx: int) -> None:
            loss = super().training_step(batch, batch_idx)
            for opt in (self.sparse, self.dense):
                opt.zero_grad()
            self.manual_backward(loss)
            for opt in (self.sparse, self.dense):
                opt.step()

    class HandWritten(SparseEmbedding):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False

        def configure_optimizers(self) -> Any:
            return [
                torch.optim.SparseAdam(self.embedding.parameters(), lr=0.01),
                torch.optim.Adam(self.model_gen.parameters(), lr=0.01),
            ]

        def training_step(self, batch: Any, batch_idx: int) -> None:
            loss = super().training_step(batch, batch_idx)
            optimizers = self.optimizers()
            for opt in optimizers:
                opt.zero_grad()
            self.manual_backward(loss)
            for opt in optimizers:
                opt.step()

    ours, theirs = Declared(), HandWritten()
    fit(ours, max_epochs=1)
    fit(theirs, max_epochs=1)
    assert_same_weights(ours, theirs)


def test_lbfgs_history_size_zero_is_refused_at_class_definition() -> None:
    # torch builds it, then the first step fails with "IndexError: pop from empty list"
    with pytest.raises(
        ValueError,
        match=r"^Model.optimizer: Expected `history_size` of `LBFGS` to be an int >= 1 but got 0\.$",
    ):
        declared(OptimizerSpec("lbfgs", history_size=0), name="Model")


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        # found by the long fuzz profile: builds, then "OverflowError: (34, 'Numerical result out of range')"
        # from `lr / ((1 + lambd * lr * step) ** alpha)` at the 4th optimizer step, inside Lightning's loop
        ({"alpha": 177446034.0}, "raises OverflowError at step 4"),
        ({"alpha": -1e300}, "raises ZeroDivisionError at step 1"),
        ({"lambd": -200.0, "lr": 0.01}, "is (-0.0"),  # a negative base: a complex step size
    ],
    ids=["overflow", "zero-division", "complex"],
)
def test_asgd_step_size_out_of_range_is_refused_at_class_definition(
    options: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError) as raised:
        declared(OptimizerSpec("asgd", **options), name="Model")
    message = str(raised.value)
    assert message.startswith(
        "Model.optimizer: Expected `ASGD`'s step size lr / (1 + lambd * lr * step) ** alpha to stay a finite real "
        "number but with "
    )
    assert problem in message and "(defaults: alpha=0.75, lambd=1e-4)" in message


def test_asgd_with_a_large_but_safe_alpha_trains_like_torch() -> None:
    # alpha=10: the step size shrinks fast but stays finite over any run (checked up to 2**30 steps)
    class Declared(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec("asgd", lr=0.1, alpha=10.0)

    class HandWritten(Classifier):
        def configure_optimizers(self) -> Any:
            return torch.optim.ASGD(self.parameters(), lr=0.1, alpha=10.0)

    ours, theirs = Declared(), HandWritten()
    fit(ours, max_epochs=1)
    fit(theirs, max_epochs=1)
    assert_same_weights(ours, theirs)


def test_a_first_step_failure_is_refused_at_class_definition() -> None:
    # LBFGS accepts any `line_search_fn` when built, then its first step raises
    # "RuntimeError: only 'strong_wolfe' is supported" inside Lightning's loop
    with pytest.raises(ValueError) as raised:
        declared(OptimizerSpec("lbfgs", line_search_fn="armijo"), name="Model")
    assert str(raised.value) == (
        "Model.optimizer: `LBFGS` fails its first step with the declared options (line_search_fn='armijo'): "
        "RuntimeError: only 'strong_wolfe' is supported. Check these values against `LBFGS`'s documentation."
    )
    declared(OptimizerSpec("lbfgs", line_search_fn="strong_wolfe"), name="Model")


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        # torch builds it, then its first update divides by `step_size` ("integer modulo by zero"), in the words
        # of this Python (3.10: "integer division or modulo by zero")
        (
            SchedulerSpec("step", step_size=0),
            "Model.optimizer.scheduler: `StepLR` fails its first update with the declared arguments (step_size=0): "
            f"ZeroDivisionError: {MODULO_BY_ZERO}. Check these values against `StepLR`'s documentation.",
        ),
        # torch builds it, then the lr is -0.05 from the first update on: stopped by the step guard mid-run
        (
            SchedulerSpec("exponential", gamma=-0.5, interval="step"),
            "Model.optimizer.scheduler: Expected the lr `ExponentialLR` sets to be a finite number >= 0 but got "
            "-0.05 (param group 0) at its first update, with the declared arguments (gamma=-0.5).",
        ),
    ],
    ids=["zero-step-size", "negative-gamma"],
)
def test_a_first_update_failure_is_refused_at_class_definition(
    scheduler: SchedulerSpec, message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        declared(OptimizerSpec("sgd", lr=0.1, scheduler=scheduler), name="Model")
    assert str(raised.value) == message


@pytest.mark.parametrize(
    "optimizer",
    [
        pytest.param(name, marks=needs_muon) if name == "MuonWithAdamW" else name
        for name in sorted({c.__name__: c for c in OPTIMIZERS.values()})
    ],
)
def test_every_torch_optimizer_passes_the_trial_step_with_its_defaults(optimizer: str) -> None:
    cls = {c.__name__: c for c in OPTIMIZERS.values()}[optimizer]
    declared(OptimizerSpec(cls), name="Model")  # no false alarm from the stand-in parameters


@pytest.mark.parametrize(
    "kwargs",
    # found by the long fuzz profile once `muon_adamw` was registered: the fuzz's expected group was built
    # over a 1x1 stand-in (a matrix: Muon values), while the leftover group of biases and matrices trains
    # with the AdamW values (`adamw_lr`, no `adjust_lr_fn`), as MuonWithAdamW documents
    [{"lr": 1.0}, {"adjust_lr_fn": None}],
    ids=["lr", "adjust_lr_fn"],
)
@needs_muon
def test_muon_with_adamw_trains_as_declared(kwargs: dict[str, Any]) -> None:
    import lightning as L

    from tests.declaring.test_fuzz import assert_trained_as_declared, define
    from tests.helpers import FAST, loader

    model_class = define(OptimizerSpec("lightning_optim.optimizers.muon_adamw.MuonWithAdamW", **kwargs))
    assert model_class is not None
    model = model_class()
    trainer = L.Trainer(**{**FAST, "max_epochs": 2, "limit_train_batches": 2, "num_sanity_val_steps": 0})
    with pytest.warns(UserWarning, match="MuonWithAdamW: no param group uses Muon"):  # no group declared
        trainer.fit(model, loader(n=16))
    assert_trained_as_declared(model, trainer)
