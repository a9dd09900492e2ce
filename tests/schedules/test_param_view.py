"""``Schedule(param=...)`` against the same torch scheduler driving the lr of a twin optimizer.

The reference for "cosine on the weight decay from 0.04" is torch's own ``CosineAnnealingLR`` on an
optimizer whose lr is 0.04: the wrapper must reproduce its values exactly (same formula, same float ops).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, OneCycleLR, StepLR

from lightning_optim import OptimizerSpec, SchedulerSpec, preview_schedule
from lightning_optim.schedules.param_view import ParamGroupView, ProxyOptimizer
from lightning_optim.schedules.schedule import Make, Schedule
from lightning_optim.schedules.shape import Shape
from tests.helpers import Classifier, assert_same_weights, declared, fit, transformers_with_torch


def _params() -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(torch.zeros(2))]


def _twin_lrs(
    start: list[float], make: Callable[[torch.optim.Optimizer], Any], steps: int
) -> list[list[float]]:
    """The lrs the scheduler ``make`` builds gives an SGD whose groups start at ``start``."""
    opt = torch.optim.SGD([{"params": _params(), "lr": v} for v in start])
    scheduler = make(opt)
    values = []
    for _ in range(steps):
        values.append([g["lr"] for g in opt.param_groups])
        opt.step()
        scheduler.step()
    return values


def _driven(
    opt: torch.optim.Optimizer, schedule: Schedule, read: Callable[[dict[str, Any]], Any], steps: int
) -> list[list[float]]:
    values = []
    for _ in range(steps):
        values.append([read(g) for g in opt.param_groups])
        opt.step()
        schedule.step()
    return values


def _adamw() -> torch.optim.AdamW:
    return torch.optim.AdamW(
        [{"params": _params(), "weight_decay": 0.04}, {"params": _params(), "weight_decay": 0.1}], lr=1e-3
    )


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda o, _: CosineAnnealingLR(o, T_max=7, eta_min=0.4), Shape()),
        (lambda o, _: StepLR(o, step_size=2, gamma=3.0), Shape()),
        (lambda o, _: CosineAnnealingLR(o, T_max=5, eta_min=0.4), Shape(warmup=3)),
        (lambda o, _: LinearLR(o, start_factor=0.5, total_iters=2), Shape(window=(2, 6))),
    ],
    ids=["cosine", "step", "warmup", "window"],
)
def test_weight_decay_follows_the_lr_schedule_exactly_and_leaves_the_lr(make: Make, shape: Shape) -> None:
    opt = _adamw()
    schedule = Schedule(opt, make, param="weight_decay", shape=shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "scheduler.step() before optimizer.step()" warning
        driven = _driven(opt, schedule, lambda g: g["weight_decay"], 10)
    assert driven == _twin_lrs([0.04, 0.1], lambda o: Schedule(o, make, shape=shape), 10)
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 1e-3]
    assert [g["initial_weight_decay"] for g in opt.param_groups] == [0.04, 0.1]
    assert "initial_lr" not in opt.param_groups[0]
    assert schedule.get_last_lr() == [g["weight_decay"] for g in opt.param_groups]


def test_beta1_and_momentum_drive_the_first_of_betas() -> None:
    for param in ("beta1", "momentum"):
        opt = torch.optim.Adam(_params(), lr=1e-3, betas=(0.9, 0.999))
        schedule = Schedule(
            opt, lambda o, _: LinearLR(o, start_factor=0.5, total_iters=3), param=param, shape=Shape()
        )
        driven = _driven(opt, schedule, lambda g: g["betas"][0], 5)
        assert driven == _twin_lrs([0.9], lambda o: LinearLR(o, start_factor=0.5, total_iters=3), 5)
        assert isinstance(opt.param_groups[0]["betas"], tuple)
        assert opt.param_groups[0]["betas"][1] == 0.999


def test_beta1_of_an_optimizer_keeping_its_own_beta1_drives_that_key() -> None:
    """transformers' ``Adafactor`` keeps ``beta1`` as a group option of its own (no ``betas``): a ``beta1``
    schedule drives it, as a hand-written module updating ``group["beta1"]`` each epoch with torch's
    ``LinearLR`` on a twin optimizer does."""
    Adafactor = transformers_with_torch().optimization.Adafactor
    options = {"lr": 0.01, "beta1": 0.9, "scale_parameter": False, "relative_step": False}

    def linear(optimizer: torch.optim.Optimizer) -> LinearLR:
        return LinearLR(optimizer, start_factor=1.0, end_factor=0.5, total_iters=2)

    class Hand(Classifier):
        def configure_optimizers(self) -> Any:
            self.twin = torch.optim.SGD(_params(), lr=0.9)
            self.twin_schedule = linear(self.twin)
            return Adafactor(self.parameters(), **options)

        def on_train_epoch_end(self) -> None:
            self.twin.step()
            self.twin_schedule.step()
            self.optimizers().optimizer.param_groups[0]["beta1"] = self.twin.param_groups[0]["lr"]

    hand = Hand()
    fit(hand)
    scheduler = SchedulerSpec("linear", param="beta1", start_factor=1.0, end_factor=0.5, total_iters=2)
    module = declared(OptimizerSpec("transformers/adafactor", scheduler=scheduler, **options))()
    fit(module)
    assert_same_weights(hand, module)
    assert module.optimizer.param_groups[0]["beta1"] == hand.twin.param_groups[0]["lr"] == 0.45000000000000007
    assert "betas" not in module.optimizer.param_groups[0]
    # the preview reads the same key: 0.9 at the start of each of the 2 epochs (4 steps each), then 0.675
    preview = preview_schedule(module, max_epochs=2, steps_per_epoch=4, params=("beta1",))
    assert preview["lr-optimizer-beta1"] == pytest.approx([0.9] * 4 + [0.675] * 4)


def test_momentum_of_sgd() -> None:
    opt = torch.optim.SGD(_params(), lr=0.1, momentum=0.9)
    schedule = Schedule(
        opt, lambda o, _: CosineAnnealingLR(o, T_max=4, eta_min=0.99), param="momentum", shape=Shape()
    )
    driven = _driven(opt, schedule, lambda g: g["momentum"], 6)
    assert driven == _twin_lrs([0.9], lambda o: CosineAnnealingLR(o, T_max=4, eta_min=0.99), 6)


def test_state_dict_resumes_exactly() -> None:
    def schedule_on(o: torch.optim.Optimizer) -> Schedule:
        cosine = lambda o, _: CosineAnnealingLR(o, T_max=8, eta_min=0.4)  # noqa: E731
        return Schedule(o, cosine, param="weight_decay", shape=Shape(warmup=2))

    opt = _adamw()
    schedule = schedule_on(opt)
    whole = _driven(opt, schedule, lambda g: g["weight_decay"], 10)

    opt = _adamw()
    schedule = schedule_on(opt)
    _driven(opt, schedule, lambda g: g["weight_decay"], 4)
    state, opt_state = schedule.state_dict(), opt.state_dict()
    # a new run: optimizer and schedule built afresh, then both states loaded (Lightning's order)
    opt = _adamw()
    schedule = schedule_on(opt)
    opt.load_state_dict(opt_state)
    schedule.load_state_dict(state)
    assert _driven(opt, schedule, lambda g: g["weight_decay"], 6) == whole[4:]


def test_tensor_options_are_written_in_place() -> None:
    opt = torch.optim.SGD(_params(), lr=0.1, momentum=0.9)
    opt.param_groups[0]["momentum"] = torch.tensor(0.9, dtype=torch.float64)
    tensor = opt.param_groups[0]["momentum"]
    schedule = Schedule(opt, lambda o, _: StepLR(o, step_size=1, gamma=0.5), param="momentum", shape=Shape())
    opt.step()
    schedule.step()
    assert opt.param_groups[0]["momentum"] is tensor
    assert float(tensor) == pytest.approx(0.45)


def test_other_keys_a_scheduler_writes_stay_in_the_view() -> None:
    opt = torch.optim.SGD(_params(), lr=0.1, momentum=0.9, weight_decay=0.01)
    Schedule(
        opt,
        lambda o, _: OneCycleLR(o, max_lr=0.1, total_steps=10, cycle_momentum=False),
        param="weight_decay",
        shape=Shape(),
    )
    group = opt.param_groups[0]
    assert "max_lr" not in group and "min_lr" not in group
    assert group["lr"] == 0.1 and group["momentum"] == 0.9


def test_view_is_a_mapping() -> None:
    group = {"params": [], "lr": 0.1, "weight_decay": 0.0}
    view = ParamGroupView(group, "weight_decay")
    assert dict(view) == {"params": [], "lr": 0.0}
    assert "lr" in view and "initial_lr" not in view


def test_refuses_a_non_numeric_option_and_lr() -> None:
    opt = torch.optim.SGD(_params(), lr=0.1)
    with pytest.raises(ValueError, match=r"numeric `nesterov` but got False"):
        Schedule(opt, lambda o, _: StepLR(o, step_size=1), param="nesterov")
    with pytest.raises(ValueError, match=r"param='lr'"):
        ProxyOptimizer(opt, "lr")
