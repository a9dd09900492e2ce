"""The scheduler records: arguments torch takes but that turn the lr negative or undefined late in the run."""

from __future__ import annotations

import re
from typing import Any

import lightning as L
import pytest
import torch
from torch.optim import lr_scheduler

from lightning_optim import HParam, OptimizerSpec, SchedulerSpec, preview_schedule
from tests.helpers import FAST, Classifier, declared, loader

#: (scheduler, the arguments it needs, the bounded argument, a value past the bound, how the message states it)
LOWER_BOUNDS = [
    pytest.param(
        lr_scheduler.CosineAnnealingLR,
        {"T_max": 10},
        "eta_min",
        -0.5,
        ">= 0 (the lr it anneals to)",
        id="cosine",
    ),
    pytest.param(
        lr_scheduler.CosineAnnealingWarmRestarts,
        {"T_0": 10},
        "eta_min",
        -0.5,
        ">= 0 (the lr each cycle anneals to)",
        id="cosine_restarts",
    ),
    pytest.param(
        lr_scheduler.OneCycleLR,
        {"max_lr": 1.0, "total_steps": 13},
        "final_div_factor",
        -10.0,
        "> 0 (the last lr is `max_lr / div_factor / final_div_factor`)",
        id="onecycle",
    ),
    pytest.param(
        lr_scheduler.PolynomialLR,
        {"total_iters": 10},
        "power",
        -1.0,
        ">= 0 (the exponent of the decay to 0)",
        id="polynomial",
    ),
]

#: a bounded value that is fine, for each bounded argument (non-strict bounds at the bound itself)
AT_BOUND = {"eta_min": 0.0, "final_div_factor": 1e-3, "power": 0.0}


def test_the_table_is_the_cases_tested_here() -> None:
    from lightning_optim.registry.schedulers import SCHEDULER_INFO

    table = {(cls, key) for cls, info in SCHEDULER_INFO.items() for key in info.lower_bounds}
    assert table == {(case.values[0], case.values[2]) for case in LOWER_BOUNDS}


def _lrs(cls: type, kwargs: dict[str, Any], updates: int) -> tuple[list[float], str | None]:
    """The lrs torch's ``cls`` gives SGD(lr=1) over ``updates`` updates, and the error that stopped it."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0, momentum=0.9)
    scheduler = cls(optimizer, **kwargs)
    lrs = [optimizer.param_groups[0]["lr"]]
    try:
        for _ in range(updates):
            optimizer.step()
            scheduler.step()
            lrs.append(optimizer.param_groups[0]["lr"])
    except ZeroDivisionError as err:
        return lrs, str(err)
    return lrs, None


@pytest.mark.parametrize(("cls", "needed", "key", "bad", "stated"), LOWER_BOUNDS)
def test_torch_takes_the_value_and_goes_wrong_only_late(
    cls: type, needed: dict[str, Any], key: str, bad: float, stated: str
) -> None:
    """Why the table exists: torch builds the scheduler, its first update is fine (what the trial update at
    class definition sees), and the lr goes negative (or the update divides by zero) later."""
    lrs, error = _lrs(cls, {**needed, key: bad}, updates=12)
    assert lrs[0] >= 0 and lrs[1] >= 0
    assert error is not None or min(lrs[2:]) < 0
    good, good_error = _lrs(cls, {**needed, key: AT_BOUND[key]}, updates=12)
    assert good_error is None and min(good) >= 0


@pytest.mark.parametrize(("cls", "needed", "key", "bad", "stated"), LOWER_BOUNDS)
def test_a_value_past_the_bound_is_refused_at_class_definition(
    cls: type, needed: dict[str, Any], key: str, bad: float, stated: str
) -> None:
    message = (
        f"Model.optimizer.scheduler: Expected `{key}` of `{cls.__name__}` to be {stated} but got {bad!r}."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        declared(OptimizerSpec("sgd", scheduler=SchedulerSpec(cls, **needed, **{key: bad})), name="Model")
    # inside a composite scheduler too
    nested = SchedulerSpec(
        "sequential", schedulers=[SchedulerSpec(cls, **needed, **{key: bad})], milestones=[]
    )
    with pytest.raises(
        ValueError, match=re.escape(message.replace("scheduler:", "scheduler.schedulers[0]:"))
    ):
        declared(OptimizerSpec("sgd", scheduler=nested), name="Model")
    declared(OptimizerSpec("sgd", scheduler=SchedulerSpec(cls, **needed, **{key: AT_BOUND[key]})))


class WithHParam(Classifier):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.save_hyperparameters()


def test_an_hparam_past_the_bound_is_refused_when_fit_starts_and_by_preview() -> None:
    spec = OptimizerSpec("sgd", lr=1.0, scheduler=SchedulerSpec("cosine", eta_min=HParam("value")))
    model = declared(spec, base=WithHParam, name="Model")
    message = (
        "Model.optimizer.scheduler: `eta_min` from hparam `value` = -0.5: Expected `eta_min` of "
        "`CosineAnnealingLR` to be >= 0 (the lr it anneals to) but got -0.5."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        L.Trainer(**FAST, max_epochs=1).fit(model(-0.5), loader())
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        preview_schedule(model(-0.5), max_epochs=100, steps_per_epoch=1)
    assert min(preview_schedule(model(0.0), max_epochs=100, steps_per_epoch=1)["lr-optimizer"]) >= 0


def test_the_bounds_are_the_lrs_a_schedule_of_another_option_is_checked_as_it_runs() -> None:
    """A cosine of ``weight_decay`` to -0.1 is refused before the step that would use a negative value
    (``tests/training/test_param_schedules.py``), not at class definition: the bounds say what the lr needs."""
    spec = SchedulerSpec("cosine", param="weight_decay", eta_min=-0.1, interval="step")
    declared(OptimizerSpec("adamw", lr=0.01, weight_decay=0.05, scheduler=spec))
