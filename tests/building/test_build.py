"""Building the declared optimizers when ``fit`` starts, against the optimizer built by hand.

The data is 4 batches per epoch (``tests.helpers.loader``).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.optim import SGD, Adam
from torch.optim.lr_scheduler import StepLR

from lightning_optim import ConfigurableOptimizersMixin, HParam, OptimizerSpec, ParamGroup, SchedulerSpec
from tests.helpers import Classifier, assert_same_weights, fit

#: the lr halved after every step, as ``StepLR(optimizer, 1, 0.5)`` per step
HALVED = SchedulerSpec("step", step_size=1, gamma=0.5, interval="step")


class HandWritten(Classifier):
    """Adam at a tensor lr of 0.01 halved every step, built in ``configure_optimizers`` (a tensor of each fit's
    own); ``layer1`` at a tensor lr of 0.05 when ``grouped``."""

    grouped = False

    def configure_optimizers(self) -> Any:
        net = self.model_gen
        params: Any = (
            [
                {"params": list(net.layer1.parameters()), "lr": torch.tensor(0.05)},
                {"params": list(net.layer2.parameters())},
            ]
            if self.grouped
            else self.parameters()
        )
        optimizer = Adam(params, lr=torch.tensor(0.01), foreach=False)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": StepLR(optimizer, 1, 0.5), "interval": "step"},
        }


class HandWrittenGroups(HandWritten):
    grouped = True


class ByArgument(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec("adam", lr=torch.tensor(0.01), scheduler=HALVED, implementation="forloop")


class ByGroup(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(
        "adam",
        lr=torch.tensor(0.01),
        groups=[ParamGroup("model_gen.layer1.*", lr=torch.tensor(0.05))],
        scheduler=HALVED,
        implementation="forloop",
    )


#: the lr the modules of ``ByHParam`` share, as folds of a cross-validation built with one value would
SHARED_LR = torch.tensor(0.01)


class ByHParam(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec("adam", lr=HParam("lr"), scheduler=HALVED, implementation="forloop")

    def __init__(self, lr: torch.Tensor = SHARED_LR) -> None:
        super().__init__()
        self.lr = lr


def _declared_tensors(declared: type[Any]) -> list[torch.Tensor]:
    if declared is ByHParam:
        return [SHARED_LR]
    spec = declared.optimizer
    return [spec.kwargs["lr"], *(group.options["lr"] for group in spec.groups)]


@pytest.mark.parametrize(
    ("declared", "reference"),
    [(ByArgument, HandWritten), (ByGroup, HandWrittenGroups), (ByHParam, HandWritten)],
    ids=["argument", "group", "hparam"],
)
def test_each_fit_starts_at_the_declared_tensor_lr(declared: type[Any], reference: type[Classifier]) -> None:
    """A tensor lr (an optimizer argument, a ParamGroup option, an HParam's value) is the built optimizer's own:
    the scheduler writing it in place leaves the declaration as it is, so three fits of new instances of one class
    each train as the hand-written module (was: the second started at 0.000625, the declaration's tensor halved
    by every step of the first)."""
    values = [tensor.clone() for tensor in _declared_tensors(declared)]
    for _ in range(3):
        ours, theirs = declared(), reference()
        history = fit(ours, max_epochs=2).history
        assert history == fit(theirs, max_epochs=2).history
        assert history[0][0][-1] == torch.tensor(0.01).item()  # the optimizer's own lr
        assert_same_weights(ours, theirs)
    assert all(torch.equal(tensor, value) for tensor, value in zip(_declared_tensors(declared), values))


class Beta1(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(
        "adam",
        lr=0.01,
        betas=(torch.tensor(0.9), torch.tensor(0.999)),
        scheduler=SchedulerSpec("step", step_size=1, gamma=0.9, interval="step", param="beta1"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[float] = []

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        self.seen.append(float(self.optimizers().param_groups[0]["betas"][0]))
        return super().training_step(batch, batch_idx)


def test_a_tensor_beta1_under_a_schedule_starts_each_fit_at_the_declared_value() -> None:
    """Tensors nested in a tuple (``betas``) are the optimizer's own as well: a ``param="beta1"`` schedule starts
    each fit at the declared 0.9, as torch's ``StepLR`` over a tensor of 0.9 gives it (was: 0.5905 after a fit)."""
    beta1 = torch.tensor(0.9)
    reference = SGD([torch.nn.Parameter(torch.zeros(1))], lr=beta1.clone())
    scheduler = StepLR(reference, 1, 0.9)
    expected = []
    for _ in range(8):
        expected.append(float(reference.param_groups[0]["lr"]))
        reference.step()
        scheduler.step()
    for _ in range(2):
        module = Beta1()
        fit(module, max_epochs=2)
        assert module.seen == expected
    assert torch.equal(Beta1.optimizer.kwargs["betas"][0], beta1)
