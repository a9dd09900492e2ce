"""Every recipe of the seed notes, declared, trains exactly like its hand-written ``configure_optimizers``.

The declarations name torch's CPU default implementation (``implementation="forloop"``) so that weights
can be compared exactly; the automatic choice is compared within float tolerance in
``test_implementation.py``. Step counts are shrunk to keep the runs fast (4 batches per epoch); the
shapes are the recipes'.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from torch.optim import SGD, Adam, AdamW, RAdam, RMSprop, lr_scheduler

from lightning_optim import OptimizerSpec, SchedulerSpec
from tests.helpers import Classifier, assert_same_weights, declared, fit


def every_ten(epoch: int) -> float:
    return 0.5 ** (epoch // 2)  # the notes' `0.5 ** (epoch // 10)`, shrunk to halve every 2 epochs


def handwritten(make: Callable[[Any], Any]) -> type[Classifier]:
    def configure_optimizers(self: Any) -> Any:
        return make(self)

    return type("HandWritten", (Classifier,), {"configure_optimizers": configure_optimizers})


@pytest.mark.parametrize("cls", [Adam, RMSprop, SGD, AdamW, RAdam], ids=lambda c: c.__name__)
def test_optimizer_with_defaults(cls: type) -> None:
    kwargs = {"lr": 1e-3} if cls is SGD else {}
    ours = declared(OptimizerSpec(cls, implementation="forloop", **kwargs))()
    theirs = handwritten(lambda m: cls(m.parameters(), **kwargs))()
    assert fit(ours, max_epochs=2).history == fit(theirs, max_epochs=2).history
    assert_same_weights(ours, theirs)


def _step_lr(o: Any) -> Any:
    return lr_scheduler.StepLR(o, step_size=3, gamma=0.1)


RECIPES = {
    # StepLR(step_size=30, gamma=0.1) -> 3 epochs: lr 0.05 for epochs 0-2, 0.005 for 3-5, 0.0005 after
    "step": (SchedulerSpec(lr_scheduler.StepLR, step_size=3, gamma=0.1), _step_lr, {}),
    # MultiStepLR(milestones=[30, 90]) -> [2, 5]
    "multistep": (
        SchedulerSpec("multistep", milestones=[2, 5], gamma=0.1),
        lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, 5], gamma=0.1),
        {},
    ),
    # LambdaLR(lambda epoch: 0.95 ** epoch)
    "lambda": (
        SchedulerSpec("lambda", lr_lambda=lambda epoch: 0.95**epoch),
        lambda o: lr_scheduler.LambdaLR(o, lr_lambda=lambda epoch: 0.95**epoch),
        {},
    ),
    # LambdaLR with a named function 0.5 ** (epoch // 10)
    "named_function": (
        SchedulerSpec(lr_scheduler.LambdaLR, lr_lambda=every_ten),
        lambda o: lr_scheduler.LambdaLR(o, lr_lambda=every_ten),
        {},
    ),
    # ExponentialLR(gamma=0.98), stepped per epoch
    "exponential": (
        SchedulerSpec("exponential", gamma=0.98),
        lambda o: lr_scheduler.ExponentialLR(o, gamma=0.98),
        {},
    ),
    # ExponentialLR(0.99) with interval "step" (the GAN's generator)
    "exponential_step": (
        SchedulerSpec("exponential", gamma=0.99, interval="step"),
        lambda o: lr_scheduler.ExponentialLR(o, 0.99),
        {"interval": "step"},
    ),
}


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_scheduler_recipe(recipe: str) -> None:
    spec, make, extra = RECIPES[recipe]
    ours = declared(OptimizerSpec(Adam, lr=0.05, scheduler=spec, implementation="forloop"))()

    def make_all(m: Any) -> Any:
        optimizer = Adam(m.parameters(), lr=0.05)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": make(optimizer), **extra}}

    theirs = handwritten(make_all)()
    got, expected = fit(ours, max_epochs=7), fit(theirs, max_epochs=7)
    assert got.history == expected.history
    assert len(set(got.of())) > 1  # the schedule really moved
    assert_same_weights(ours, theirs)


def test_step_lr_golden_sequence() -> None:
    # 4 batches per epoch; StepLR(step_size=3, gamma=0.1) per epoch: 0.05 for epochs 0-2, then 0.005
    ours = declared(OptimizerSpec("adam", lr=0.05, scheduler=SchedulerSpec("step", step_size=3)))()
    lrs = fit(ours, max_epochs=4).of()
    assert lrs == pytest.approx([0.05] * 12 + [0.005] * 4)
