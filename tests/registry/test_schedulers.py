"""The scheduler records: arguments torch takes but that turn the lr negative or undefined late in the run."""

from __future__ import annotations

import copy
import inspect
import math
import pickle
import re
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler

from lightning_optim import (
    HParam,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    describe_optimizers,
    preview_schedule,
)
from lightning_optim.registry.schedulers import SCHEDULER_INFO, scheduler_info
from lightning_optim.schedules.timm_cosine import TimmCosineLR
from lightning_optim.schedules.transformers import TRANSFORMERS_SCHEDULES
from lightning_optim.tools.config import spec_from_dict
from tests.helpers import (
    FAST,
    Classifier,
    declared,
    fit,
    loader,
    lr_replaced,
    torch_lrs,
    transformers_with_torch,
)

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
    pytest.param(
        lr_scheduler.ConstantLR,
        {"total_iters": 5},
        "factor",
        0.0,
        "> 0 (the factor it holds until `total_iters`, where torch divides by it)",
        id="constant",
    ),
]

#: a bounded value that is fine, for each bounded argument (non-strict bounds at the bound itself)
AT_BOUND = {"eta_min": 0.0, "final_div_factor": 1e-3, "power": 0.0, "factor": 0.5}


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


def test_a_bound_of_torchs_own_is_checked_whatever_option_the_schedule_drives() -> None:
    """`ConstantLR(factor=0)` divides by zero at `total_iters` whatever it drives: a `weight_decay` held at 0
    for a while is refused at class definition, not a ZeroDivisionError from inside torch mid-run; a bound of
    the lr (`eta_min >= 0`) is left to the runtime check for another option."""
    message = (
        "Model.optimizer.scheduler: Expected `factor` of `ConstantLR` to be > 0 (the factor it holds until "
        "`total_iters`, where torch divides by it) but got 0.0."
    )
    constant = SchedulerSpec("constant", param="weight_decay", factor=0.0, total_iters=2, interval="step")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        declared(OptimizerSpec("adamw", weight_decay=0.1, scheduler=constant), name="Model")
    cosine = SchedulerSpec("cosine", param="weight_decay", T_max=4, eta_min=-1e-3)
    declared(OptimizerSpec("adamw", weight_decay=0.1, scheduler=cosine))


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


# --- the floors: a schedule of an option the optimizer divides by (schedule-free's momentum) never reaches 0 ---

#: the updates each scheduler is stepped over, and the length given to those that take one
UPDATES = 3000

#: stand-ins for the arguments a scheduler requires (no default, or a default of None), by name
NEEDED: dict[str, Any] = {
    "T_max": UPDATES,
    "T_0": UPDATES,
    "t_initial": UPDATES,
    "num_training_steps": UPDATES,
    "num_decay_steps": UPDATES // 2,
    "total_steps": UPDATES + 10,  # OneCycleLR refuses a step past it
    "step_size": UPDATES // 2,
    "milestones": [UPDATES // 2],
    "gamma": 0.9999,
    "max_lr": 1.0,
    "base_lr": 0.5,
    "min_lr_rate": 0.1,  # CosineWithMinLR and CosineWarmupWithMinLR take one of min_lr and min_lr_rate
}

#: what no declaration's arguments tell: a plateau schedules only the lr, a composite is checked scheduler by
#: scheduler, a lambda is known only as it runs (refused where eval mode is entered)
NOT_BY_ARGUMENTS = {
    lr_scheduler.ReduceLROnPlateau,
    lr_scheduler.SequentialLR,
    lr_scheduler.ChainedScheduler,
    lr_scheduler.LambdaLR,
    lr_scheduler.MultiplicativeLR,
}

#: arguments besides the defaults (by scheduler name): the other side of each record's claim
OTHER_ARGUMENTS = [
    ("step", {"gamma": 0.0}),
    ("multistep", {"gamma": 0.0}),
    ("exponential", {"gamma": 0.0}),
    ("constant", {"factor": 0.0}),
    ("linear", {"end_factor": 0.0}),
    ("cosine", {"eta_min": 0.1}),
    ("cosine_restarts", {"eta_min": 0.1}),
    ("polynomial", {"power": 0.0}),
    ("transformers/polynomial", {"lr_end": 0.0}),
    ("transformers/polynomial", {"lr_end": 0.1}),
    ("transformers/polynomial", {"num_warmup_steps": 10, "lr_end": 0.1}),
    ("transformers/constant_with_warmup", {"num_warmup_steps": 10}),
    ("transformers/inverse_sqrt", {"num_warmup_steps": 10}),
    ("transformers/cosine_with_min_lr", {"min_lr_rate": 0.0}),
    ("transformers/cosine_with_min_lr", {"num_warmup_steps": 10}),
    ("transformers/cosine_warmup_with_min_lr", {"min_lr_rate": 0.0}),
    ("transformers/cosine_warmup_with_min_lr", {"num_warmup_steps": 10}),
    ("transformers/cosine_warmup_with_min_lr", {"num_warmup_steps": 10, "warmup_lr_rate": 0.0}),
    ("transformers/warmup_stable_decay", {"min_lr_ratio": 0.1}),
    ("timm/cosine", {"lr_min": 0.1}),
    ("timm/cosine", {"lr_min": 0.1, "warmup_t": 10}),
    ("timm/cosine", {"lr_min": 0.1, "warmup_t": 10, "warmup_lr_init": 0.01}),
]


def _floor_cases() -> list[Any]:
    from lightning_optim.registry.schedulers import SCHEDULER_INFO, SCHEDULERS

    defaults = [
        pytest.param(cls, {}, id=f"{info.names[0] if info.names else cls.__name__}-defaults")
        for cls, info in SCHEDULER_INFO.items()
        if cls not in NOT_BY_ARGUMENTS
    ]
    others = [
        pytest.param(SCHEDULERS[name], kwargs, id=f"{name}-{kwargs}") for name, kwargs in OTHER_ARGUMENTS
    ]
    return defaults + others


def _with_needed(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with a stand-in for every argument of ``cls`` that has no default (or None), and
    ``cycle_momentum=False`` (a cycle of the momentum is refused with any schedule of it)."""
    parameters = inspect.signature(cls).parameters
    filled = {
        key: value
        for key, value in NEEDED.items()
        if key in parameters
        and key not in kwargs
        and parameters[key].default in (inspect.Parameter.empty, None)
    }
    if "cycle_momentum" in parameters:
        filled["cycle_momentum"] = False
    return {**filled, **kwargs}


def _lowest(cls: type, kwargs: dict[str, Any]) -> float:
    """The lowest value ``cls`` gives SGD(lr=1) from its construction over ``UPDATES + 10`` updates."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0, momentum=0.9)
    scheduler = cls(optimizer, **kwargs)
    lowest = optimizer.param_groups[0]["lr"]
    for _ in range(UPDATES + 9):
        optimizer.step()
        try:
            scheduler.step()
        except ZeroDivisionError:  # ConstantLR(factor=0) divides by its factor at `total_iters`
            break
        lowest = min(lowest, optimizer.param_groups[0]["lr"])
    return float(lowest)


@pytest.mark.filterwarnings("ignore::UserWarning")  # CyclicLR/OneCycleLR replacing the declared lr
@pytest.mark.parametrize(("cls", "kwargs"), _floor_cases())
def test_each_record_says_whether_its_schedule_reaches_zero(cls: type, kwargs: dict[str, Any]) -> None:
    """The claim of each record (its ``floor_bounds`` and ``zero_when``, for the declared arguments and its
    defaults) against the real scheduler: a schedule of schedule-free's momentum is refused at class definition
    exactly when the scheduler brings the value it schedules to 0 (within 1e-6 of it: a cosine restarting
    every ``UPDATES`` updates comes within 3e-7 of its ``eta_min``, never onto it)."""
    arguments = _with_needed(cls, kwargs)
    reaches_zero = _lowest(cls, arguments) <= 1e-6
    spec = OptimizerSpec(
        "schedulefree/sgd", lr=0.1, momentum=0.9, scheduler=SchedulerSpec(cls, param="momentum", **arguments)
    )
    if reaches_zero:
        with pytest.raises(ValueError, match=r"^Model\.optimizer\.scheduler: Expected .* > .*divides by"):
            declared(spec, name="Model")
    else:
        declared(spec, name="Model")


def test_the_floor_cases_cover_the_registry() -> None:
    from lightning_optim.registry.scheduler_bounds import always
    from lightning_optim.registry.schedulers import SCHEDULER_INFO

    tested = {case.values[0] for case in _floor_cases()}
    assert tested | NOT_BY_ARGUMENTS == set(SCHEDULER_INFO)
    # a record whose claim depends on its arguments is tested on both sides
    with_floors = {
        cls
        for cls, info in SCHEDULER_INFO.items()
        if info.floor_bounds or any(zero.when is not always for zero in info.zero_when)
    }
    assert with_floors <= {case.values[0] for case in _floor_cases() if case.values[1]}


_DIVIDES = r" \(a schedule of `{param}`, which `{cls}` divides by, must keep it > 0\)"


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        pytest.param(
            "polynomial",
            {"interval": "step", "total_iters": 3},
            r"^Model\.optimizer\.scheduler: Expected a schedule that keeps `momentum` > 0 \(`SGDScheduleFree` "
            r"divides by it\) but got `PolynomialLR`, which decays it to 0 at `total_iters` \(for any `power` > 0\); "
            r"use `linear` with `end_factor > 0`, or `cosine` with `eta_min > 0`\.$",
            id="polynomial",
        ),
        pytest.param(
            "step",
            {"step_size": 2, "gamma": 0.0},
            r"^Model\.optimizer\.scheduler: Expected `gamma` of `StepLR` to be > 0 \(the factor of each decay\) "
            r"but got 0\.0" + _DIVIDES.format(param="momentum", cls="SGDScheduleFree") + r"\.$",
            id="step-gamma-0",
        ),
        pytest.param(
            "transformers/linear",
            {"num_training_steps": 8},
            r"^Model\.optimizer\.scheduler: Expected a schedule that keeps `momentum` > 0 .* but got "
            r"`LinearWithWarmupLR`, which decays it to 0 at `num_training_steps`; use "
            r"`transformers/cosine_with_min_lr` with `min_lr_rate > 0`\.$",
            id="transformers-linear",
        ),
        pytest.param(
            "transformers/constant_with_warmup",
            {"num_warmup_steps": 2},
            r"^Model\.optimizer\.scheduler: .* but got `ConstantWithWarmupLR`, which starts it at 0 with "
            r"`num_warmup_steps > 0` \(its warmup rises from 0\); leave `num_warmup_steps` out and give the "
            r"SchedulerSpec a `warmup=`, which starts at 1 / \(warmup \+ 1\)\.$",
            id="transformers-warmup-from-0",
        ),
        pytest.param(
            "timm/cosine",
            {"t_initial": 8, "lr_min": 0.5, "warmup_t": 2},
            r"^Model\.optimizer\.scheduler: .* but got `TimmCosineLR`, which starts its `warmup_t` warmup at "
            r"`warmup_lr_init` \(0 by default\); give `warmup_lr_init > 0`\.$",
            id="timm-warmup-from-0",
        ),
        # one value per group (layer_decay and lr_mult groups get them scaled): each is checked
        pytest.param(
            "timm/cosine",
            {"t_initial": 8, "lr_min": {"rest": 0.0}},
            r"^Model\.optimizer\.scheduler: Expected `lr_min` of `TimmCosineLR` to be > 0 \(the value each cycle "
            r"anneals to\) but got 0\.0 in \{'rest': 0\.0\} \(a schedule of `momentum`",
            id="timm-floor-per-group",
        ),
        pytest.param(
            "timm/cosine",
            {"t_initial": 8, "lr_min": 0.5, "warmup_t": 2, "warmup_lr_init": [0.0]},
            r"^Model\.optimizer\.scheduler: .* but got `TimmCosineLR`, which starts its `warmup_t` warmup at "
            r"`warmup_lr_init`",
            id="timm-warmup-from-0-per-group",
        ),
        pytest.param(
            "constant",
            {"factor": 1.0, "warmup": 2, "warmup_start_factor": 0.0},
            r"^Model\.optimizer\.scheduler: Expected `warmup_start_factor` to be > 0 \(the warmup's first factor\) "
            r"but got 0\.0"
            + _DIVIDES.format(param="momentum", cls="SGDScheduleFree")
            + r"; leave it out \(the "
            r"warmup starts at 1 / \(warmup \+ 1\)\)\.$",
            id="warmup-start-factor-0",
        ),
        pytest.param(
            "sequential",
            {
                "schedulers": [
                    SchedulerSpec("constant", factor=1.0, total_iters=2),
                    SchedulerSpec("exponential", gamma=0.0),
                ],
                "milestones": [2],
            },
            r"^Model\.optimizer\.scheduler\.schedulers\[1\]: Expected `gamma` of `ExponentialLR` to be > 0",
            id="sequential",
        ),
        pytest.param(
            "chained",
            {
                "schedulers": [
                    SchedulerSpec("constant", factor=1.0, total_iters=2),
                    SchedulerSpec("polynomial", total_iters=4),
                ]
            },
            r"^Model\.optimizer\.scheduler\.schedulers\[1\]: .* but got `PolynomialLR`, which decays it to 0",
            id="chained",
        ),
    ],
)
def test_a_schedule_reaching_zero_on_an_option_the_optimizer_divides_by_is_refused_at_class_definition(
    name: str, kwargs: dict[str, Any], message: str
) -> None:
    """schedule-free's ``eval()`` divides by its momentum: each of these trained and then raised a
    ``ZeroDivisionError`` at a validation (``tests/training/test_schedule_free.py`` runs one)."""
    scheduler = SchedulerSpec(name, param="momentum", **kwargs)
    with pytest.raises(ValueError, match=message):
        declared(OptimizerSpec("schedulefree/sgd", lr=0.1, momentum=0.9, scheduler=scheduler), name="Model")
    # the same schedule of the lr is declarable
    declared(OptimizerSpec("schedulefree/sgd", lr=0.1, momentum=0.9, scheduler=SchedulerSpec(name, **kwargs)))


def test_beta1_of_adamw_schedule_free_is_refused_alike() -> None:
    scheduler = SchedulerSpec("transformers/cosine", param="beta1", num_training_steps=8)
    message = (
        r"^Model\.optimizer\.scheduler: Expected a schedule that keeps `beta1` > 0 \(`AdamWScheduleFree` "
    )
    with pytest.raises(ValueError, match=message):
        declared(OptimizerSpec("schedulefree/adamw", scheduler=scheduler), name="Model")


#: torch schedulers built with arguments other than their defaults, one value per group where they take one
#: (two groups): those torch keeps elsewhere than under their own name in the scheduler's state
KEPT_ELSEWHERE_CASES: dict[type, dict[str, Any]] = {
    lr_scheduler.OneCycleLR: {
        "max_lr": [0.1, 0.2],
        "total_steps": 10,
        "pct_start": 0.4,
        "anneal_strategy": "linear",
        "base_momentum": [0.7, 0.75],
        "max_momentum": 0.9,
        "div_factor": 10.0,
        "final_div_factor": 50.0,
        "three_phase": True,
    },
    lr_scheduler.CyclicLR: {
        "base_lr": [0.01, 0.02],
        "max_lr": 0.1,
        "step_size_up": 4,
        "step_size_down": 2,
        "base_momentum": 0.7,
        "max_momentum": [0.9, 0.95],
    },
    lr_scheduler.ReduceLROnPlateau: {"min_lr": [0.001, 0.002]},
    lr_scheduler.SequentialLR: {"milestones": [3]},
}
#: arguments no torch scheduler state keeps: functions (a ``LambdaLR``'s is taken from the declaration), the
#: length given in epochs (kept as ``total_steps``), the schedulers a composite holds (each its own state)
NOT_KEPT = {
    "optimizer",
    "last_epoch",
    "verbose",
    "lr_lambda",
    "scale_fn",
    "epochs",
    "steps_per_epoch",
    "schedulers",
}


def _constant(epoch: int) -> float:
    return 1.0


#: the arguments the other torch schedulers need
NEEDED_BY_CLASS: dict[type, dict[str, Any]] = {
    lr_scheduler.StepLR: {"step_size": 2},
    lr_scheduler.MultiStepLR: {"milestones": [2]},
    lr_scheduler.ExponentialLR: {"gamma": 0.9},
    lr_scheduler.CosineAnnealingLR: {"T_max": 5},
    lr_scheduler.CosineAnnealingWarmRestarts: {"T_0": 3},
    lr_scheduler.LambdaLR: {"lr_lambda": _constant},
    lr_scheduler.MultiplicativeLR: {"lr_lambda": _constant},
}


def _built(cls: type, kwargs: dict[str, Any]) -> Any:
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.1, momentum=0.9)
    if scheduler_info(cls).composite:
        inner = [lr_scheduler.ConstantLR(optimizer), lr_scheduler.ExponentialLR(optimizer, 0.9)]
        return optimizer, cls(optimizer=optimizer, schedulers=inner, **kwargs)
    return optimizer, cls(optimizer, **kwargs)


TORCH_SCHEDULERS = [cls for cls in SCHEDULER_INFO if cls.__module__ == lr_scheduler.__name__]


@pytest.mark.parametrize("cls", TORCH_SCHEDULERS, ids=lambda c: c.__name__)
def test_the_arguments_torch_keeps_elsewhere_are_read_back_from_the_state_and_groups(cls: type) -> None:
    """A hand-written module's checkpoint is compared with the declaration by its scheduler's arguments
    (``training/foreign.py``): every argument of a torch scheduler is kept under its own name in its state, or
    read back from its state and groups as built (per group where it is per group), or kept nowhere."""
    kwargs = KEPT_ELSEWHERE_CASES.get(cls, NEEDED_BY_CLASS.get(cls, {}))
    optimizer, scheduler = _built(cls, kwargs)
    state, kept = scheduler.state_dict(), scheduler_info(cls).kept_elsewhere
    for key, read in kept.items():
        value = read(state, optimizer.param_groups)
        expected = (
            kwargs[key] if isinstance(kwargs[key], list) or not isinstance(value, list) else [kwargs[key]] * 2
        )
        assert value == pytest.approx(expected), key
    arguments = set(inspect.signature(cls).parameters) - NOT_KEPT
    assert arguments - set(state) - set(kept) == set()


@pytest.mark.parametrize(
    ("stepping", "message"),
    [
        (
            {"t_in_epochs": False, "unit": "epoch"},
            "Expected `unit='epoch'` with `t_in_epochs` left out or True (both count `t_initial` and `warmup_t` in "
            "epochs) but got `t_in_epochs=False`, which counts them in optimizer updates; leave `unit` out to count "
            "in updates, or `t_in_epochs` out to count in epochs, updated every step.",
        ),
        (
            {"t_in_epochs": False, "interval": "step", "unit": "epoch"},
            "but got `t_in_epochs=False`, which counts them in optimizer updates",
        ),
        (
            {"interval": "step"},
            "`t_in_epochs=True` counts `t_initial` and `warmup_t` in epochs, but the schedule",
        ),
        (
            {"t_in_epochs": False, "interval": "epoch"},
            "`t_in_epochs=False` counts `t_initial` and `warmup_t` in",
        ),
    ],
    ids=["unit-epoch", "unit-epoch-per-step", "per-step", "per-epoch"],
)
@pytest.mark.filterwarnings("ignore:.*is meant to be stepped after every optimizer step:UserWarning")
def test_timm_cosines_t_in_epochs_contradicting_the_stepping_is_refused_at_class_definition(
    stepping: dict[str, Any], message: str
) -> None:
    # `t_in_epochs=False` beside `unit="epoch"` was accepted and counted `t_initial=2` as 2 epochs
    scheduler = SchedulerSpec("timm/cosine", t_initial=2, **stepping)
    with pytest.raises(ValueError, match=r"^Model\.optimizer\.scheduler: .*" + re.escape(message)):
        declared(OptimizerSpec("sgd", lr=0.1, scheduler=scheduler), name="Model")


@pytest.mark.parametrize(
    ("key", "meant"), [("warmup_ratio", "num_warmup_steps=<fraction>"), ("warmup_steps", "num_warmup_steps")]
)
def test_transformers_training_arguments_names_for_the_warmup_are_told_the_argument_here(
    key: str, meant: str
) -> None:
    """``warmup_ratio=0.06`` (``transformers.TrainingArguments``' name) on a transformers schedule was told
    "did you mean `warmup`?", the spelling closest: ``warmup=0.06`` warms up from 0.25 of the lr
    ([0.25, 0.5, ...]) where transformers warms up from 0. It is told ``num_warmup_steps=<fraction>``, which
    trains as transformers' ``get_linear_schedule_with_warmup`` with ``ceil(0.06 * steps)`` warmup steps."""
    transformers = transformers_with_torch()
    with pytest.raises(
        TypeError,
        match=rf"^Declared\.optimizer\.scheduler: `LinearWithWarmupLR` got an unexpected argument `{key}` "
        rf"\(did you mean `{re.escape(meant)}`\?\)\. Accepted arguments: `num_warmup_steps`, ",
    ):
        declared(OptimizerSpec("sgd", lr=1.0, scheduler=SchedulerSpec("transformers/linear", **{key: 0.06})))
    module = declared(
        OptimizerSpec("sgd", lr=1.0, scheduler=SchedulerSpec("transformers/linear", num_warmup_steps=0.06))
    )()
    steps = 50
    recorder = fit(module, data=loader(n=steps, batch_size=1), max_epochs=1)
    expected = torch_lrs(
        lambda opt: transformers.get_linear_schedule_with_warmup(opt, math.ceil(0.06 * steps), steps),
        steps,
        lr=1.0,
    )
    assert recorder.of() == expected


# --- the arguments a scheduler builds without reading, because of another declared argument ---


def _triangular2(cycle: float) -> float:
    return 1 / (2.0 ** (cycle - 1))


#: the cycle of the CyclicLR cases, 2 updates up and 2 down
_CYCLIC = {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2}

#: (scheduler, the arguments that train, the ones torch builds without reading beside them, what leaves them
#: unread as the message says, the arguments torch's own scheduler takes for the same run of 8 updates)
UNREAD = [
    pytest.param(
        lr_scheduler.CyclicLR,
        {**_CYCLIC, "mode": "triangular"},
        {"gamma": 0.5},
        "with `mode='exp_range'` (which scales the cycles by `gamma ** iterations`) but got `gamma=0.5` with "
        "`mode='triangular'`: `CyclicLR` never reads it there; remove it, or declare `mode='exp_range'`.",
        {**_CYCLIC, "mode": "triangular"},
        id="cyclic-gamma-triangular",
    ),
    pytest.param(
        lr_scheduler.CyclicLR,
        {**_CYCLIC, "mode": "triangular2"},
        {"gamma": 0.5},
        "but got `gamma=0.5` with `mode='triangular2'`: `CyclicLR` never reads it there;",
        {**_CYCLIC, "mode": "triangular2"},
        id="cyclic-gamma-triangular2",
    ),
    pytest.param(
        lr_scheduler.CyclicLR,
        _CYCLIC,
        {"gamma": 0.5},
        "but got `gamma=0.5` with `mode` left out (its default 'triangular'): `CyclicLR` never reads it there;",
        _CYCLIC,
        id="cyclic-gamma-default-mode",
    ),
    pytest.param(
        lr_scheduler.CyclicLR,
        {**_CYCLIC, "scale_fn": _triangular2},
        {"mode": "exp_range", "gamma": 0.5},
        "Expected `mode`, `gamma` of `CyclicLR` only without a `scale_fn` but got `mode='exp_range'`, "
        "`gamma=0.5` with a `scale_fn` (which shapes the cycles in their place): `CyclicLR` never reads them "
        "there; remove them, or remove `scale_fn` to shape the cycles by `mode`.",
        {**_CYCLIC, "scale_fn": _triangular2},
        id="cyclic-scale_fn-mode",
    ),
    pytest.param(
        lr_scheduler.CyclicLR,
        {**_CYCLIC, "mode": "triangular2"},
        {"scale_mode": "iterations"},
        "Expected `scale_mode` of `CyclicLR` only with a `scale_fn` but got `scale_mode='iterations'` with no "
        "`scale_fn` (each `mode` sets what its scaling counts: 'cycle', 'iterations' for 'exp_range'): "
        "`CyclicLR` never reads it there; remove it, or give the `scale_fn` it is for.",
        {**_CYCLIC, "mode": "triangular2"},
        id="cyclic-scale_mode",
    ),
    pytest.param(  # 'cycle' is the signature's default, but exp_range scales by iterations whatever is given
        lr_scheduler.CyclicLR,
        {**_CYCLIC, "mode": "exp_range", "gamma": 0.5},
        {"scale_mode": "cycle"},
        "Expected `scale_mode` of `CyclicLR` only with a `scale_fn` but got `scale_mode='cycle'` with no "
        "`scale_fn` (each `mode` sets what its scaling counts: 'cycle', 'iterations' for 'exp_range'): "
        "`CyclicLR` never reads it there; remove it, or give the `scale_fn` it is for.",
        {**_CYCLIC, "mode": "exp_range", "gamma": 0.5},
        id="cyclic-exp_range-scale_mode-cycle",
    ),
    pytest.param(
        lr_scheduler.CyclicLR,
        {**_CYCLIC, "cycle_momentum": False},
        {"base_momentum": 0.7, "max_momentum": 0.8},
        "Expected `base_momentum`, `max_momentum` of `CyclicLR` only with `cycle_momentum=True` (its default) "
        "but got `base_momentum=0.7`, `max_momentum=0.8` with `cycle_momentum=False`: `CyclicLR` never reads "
        "them there; remove them (the optimizer's own momentum then holds), or remove `cycle_momentum=False` to "
        "cycle the momentum.",
        {**_CYCLIC, "cycle_momentum": False},
        id="cyclic-momentum",
    ),
    pytest.param(
        lr_scheduler.OneCycleLR,
        {"max_lr": 0.1, "total_steps": 10},
        {"epochs": 5, "steps_per_epoch": 4},
        "Expected `epochs`, `steps_per_epoch` of `OneCycleLR` only without `total_steps` but got `epochs=5`, "
        "`steps_per_epoch=4` with `total_steps=10` (the length torch takes): `OneCycleLR` never reads them "
        "there; remove them, or remove `total_steps` to give the length as `epochs * steps_per_epoch`.",
        {"max_lr": 0.1, "total_steps": 10},
        id="onecycle-total_steps-epochs",
    ),
    pytest.param(
        lr_scheduler.OneCycleLR,
        {"max_lr": 0.1},
        {"steps_per_epoch": 100},
        "Expected `steps_per_epoch` of `OneCycleLR` only with `epochs` but got `steps_per_epoch=100` with "
        "neither `epochs` nor `total_steps` (`total_steps` is then derived from the run): `OneCycleLR` never "
        "reads it there; remove it, or give `epochs` beside it (the length is then `epochs * steps_per_epoch`).",
        {"max_lr": 0.1, "total_steps": 8},  # the length derived from the run of 8 updates
        id="onecycle-steps_per_epoch-alone",
    ),
    pytest.param(
        lr_scheduler.OneCycleLR,
        {"max_lr": 0.1, "total_steps": 10, "cycle_momentum": False},
        {"max_momentum": 0.9},
        "but got `max_momentum=0.9` with `cycle_momentum=False`: `OneCycleLR` never reads it there; remove it "
        "(the optimizer's own momentum then holds), or remove `cycle_momentum=False` to cycle the momentum.",
        {"max_lr": 0.1, "total_steps": 10, "cycle_momentum": False},
        id="onecycle-max_momentum",
    ),
    pytest.param(
        lr_scheduler.OneCycleLR,
        {"max_lr": 0.1, "total_steps": 10, "cycle_momentum": False},
        {"base_momentum": 0.8},
        "but got `base_momentum=0.8` with `cycle_momentum=False`: `OneCycleLR` never reads it there;",
        {"max_lr": 0.1, "total_steps": 10, "cycle_momentum": False},
        id="onecycle-base_momentum",
    ),
]


def test_the_unread_table_is_the_cases_tested_here() -> None:
    table = {(cls, key) for cls, info in SCHEDULER_INFO.items() for u in info.unread for key in u.arguments}
    assert table == {(case.values[0], key) for case in UNREAD for key in case.values[2]}


def _torch_run(cls: type, kwargs: dict[str, Any], updates: int = 8) -> tuple[list[float], list[float]]:
    """The lrs and momenta torch's ``cls`` gives an SGD with momentum before each of ``updates`` updates."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    scheduler = cls(optimizer, **kwargs)
    lrs, momenta = [], []
    for _ in range(updates):
        lrs.append(optimizer.param_groups[0]["lr"])
        momenta.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()
        scheduler.step()
    return lrs, momenta


@pytest.mark.parametrize(("cls", "trained", "unread", "stated", "reference"), UNREAD)
def test_torch_builds_the_unread_arguments_and_trains_as_without_them(
    cls: type, trained: dict[str, Any], unread: dict[str, Any], stated: str, reference: dict[str, Any]
) -> None:
    """Why the table exists: torch takes each of them without a word, and its schedule (lr and momentum) is the
    one it gives without them, so a declaration of them would train as if they were left out."""
    assert _torch_run(cls, {**reference, **unread}) == _torch_run(cls, reference)


@pytest.mark.parametrize(("cls", "trained", "unread", "stated", "reference"), UNREAD)
def test_an_argument_the_scheduler_never_reads_is_refused_at_class_definition(
    cls: type, trained: dict[str, Any], unread: dict[str, Any], stated: str, reference: dict[str, Any]
) -> None:
    # was accepted, and trained as the declaration without it
    with pytest.raises(ValueError, match=r"^Model\.optimizer\.scheduler: .*" + re.escape(stated)):
        declared(
            OptimizerSpec("sgd", momentum=0.9, scheduler=SchedulerSpec(cls, **trained, **unread)),
            name="Model",
        )
    nested = SchedulerSpec("sequential", schedulers=[SchedulerSpec(cls, **trained, **unread)], milestones=[])
    with pytest.raises(
        ValueError, match=r"^Model\.optimizer\.scheduler\.schedulers\[0\]: .*" + re.escape(stated)
    ):
        declared(OptimizerSpec("sgd", momentum=0.9, scheduler=nested), name="Model")
    # the same declaration without them trains as torch's scheduler
    module = declared(OptimizerSpec("sgd", momentum=0.9, scheduler=SchedulerSpec(cls, **trained)))()
    recorder = fit(module, data=loader(n=32, batch_size=8), max_epochs=2)
    assert recorder.of() == pytest.approx(_torch_run(cls, reference)[0])


#: (scheduler, arguments spelled out at torch's own defaults beside the ones that train) for 8 updates
SPELLED_OUT_DEFAULTS = [
    pytest.param(
        lr_scheduler.OneCycleLR,
        {"max_lr": 0.1, "total_steps": 8, "epochs": None, "steps_per_epoch": None},
        id="onecycle-epochs-None",
    ),
    pytest.param(lr_scheduler.CyclicLR, {**_CYCLIC, "mode": "triangular", "gamma": 1.0}, id="cyclic-gamma-1"),
    pytest.param(
        lr_scheduler.CyclicLR, {**_CYCLIC, "scale_fn": None, "scale_mode": "cycle"}, id="cyclic-scale_mode"
    ),
    pytest.param(  # exp_range's own scale_mode, though not the signature's default
        lr_scheduler.CyclicLR,
        {**_CYCLIC, "mode": "exp_range", "gamma": 0.5, "scale_mode": "iterations"},
        id="cyclic-exp_range-scale_mode-iterations",
    ),
    pytest.param(
        lr_scheduler.CyclicLR,
        {**_CYCLIC, "scale_fn": _triangular2, "mode": "triangular"},
        id="cyclic-fn-mode",
    ),
    pytest.param(
        lr_scheduler.OneCycleLR,
        {
            "max_lr": 0.1,
            "total_steps": 8,
            "cycle_momentum": False,
            "base_momentum": 0.85,
            "max_momentum": 0.95,
        },
        id="onecycle-momenta",
    ),
]


@pytest.mark.parametrize(("cls", "arguments"), SPELLED_OUT_DEFAULTS)
def test_arguments_spelled_out_at_torchs_defaults_train_as_torch(
    cls: type, arguments: dict[str, Any]
) -> None:
    # was refused as arguments the scheduler never reads, though torch trains them as left out
    module = declared(OptimizerSpec("sgd", momentum=0.9, scheduler=SchedulerSpec(cls, **arguments)))()
    recorder = fit(module, data=loader(n=32, batch_size=8), max_epochs=2)
    assert recorder.of() == pytest.approx(_torch_run(cls, arguments)[0])


#: (scheduler, the arguments that train with `cycle_momentum=False`, torch's default momenta one per group)
_MOMENTA_PER_GROUP = [
    pytest.param(
        lr_scheduler.OneCycleLR,
        {"max_lr": 0.1, "total_steps": 8},
        {"base_momentum": [0.85, 0.85], "max_momentum": [0.95, 0.95]},
        id="onecycle",
    ),
    pytest.param(
        lr_scheduler.CyclicLR, _CYCLIC, {"base_momentum": [0.8, 0.8], "max_momentum": [0.9, 0.9]}, id="cyclic"
    ),
    pytest.param(
        lr_scheduler.CyclicLR,
        _CYCLIC,
        {"base_momentum": {"layer1": 0.8, "rest": 0.8}},
        id="cyclic-by-name",
    ),
]


@pytest.mark.parametrize(("cls", "trained", "momenta"), _MOMENTA_PER_GROUP)
def test_momenta_per_group_at_torchs_defaults_train_as_left_out(
    cls: type, trained: dict[str, Any], momenta: dict[str, Any]
) -> None:
    # was refused as arguments the scheduler never reads, though the same scalars were accepted
    scheduler = SchedulerSpec(cls, **trained, cycle_momentum=False, **momenta)
    groups = [ParamGroup("model_gen.layer1", name="layer1")]
    module = declared(OptimizerSpec("sgd", momentum=0.9, groups=groups, scheduler=scheduler))()
    recorder = fit(module, data=loader(n=32, batch_size=8), max_epochs=2)
    reference = _torch_run(cls, {**trained, "cycle_momentum": False})[0]
    assert [recorder.of(group=0), recorder.of(group=1)] == [pytest.approx(reference)] * 2


class _Momenta(L.Callback):
    """The momentum of every param group before each training batch."""

    def __init__(self) -> None:
        self.history: list[list[float]] = []

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self.history.append([g["momentum"] for g in trainer.optimizers[0].param_groups])


def test_cyclic_momenta_per_group_cycle_as_a_hand_written_module() -> None:
    # was: "Expected `base_momentum` of `CyclicLR` to be float but got [0.7, 0.8]" (torch annotates one float
    # but takes one per group, as the record says)
    momenta = {"base_momentum": [0.7, 0.8], "max_momentum": [0.9, 0.95]}

    class HandWritten(Classifier):
        def configure_optimizers(self) -> Any:
            layer1 = list(self.model_gen.layer1.parameters())
            rest = list(self.model_gen.layer2.parameters())
            optimizer = torch.optim.SGD([{"params": layer1}, {"params": rest}], lr=0.1, momentum=0.9)
            scheduler = lr_scheduler.CyclicLR(optimizer, **_CYCLIC, **momenta)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    scheduler = SchedulerSpec("cyclic", **_CYCLIC, **momenta)
    groups = [ParamGroup("model_gen.layer1", name="layer1")]
    runs = []
    for module in (
        HandWritten(),
        declared(OptimizerSpec("sgd", momentum=0.9, groups=groups, scheduler=scheduler))(),
    ):
        recorded = _Momenta()
        lrs = fit(module, data=loader(n=32, batch_size=8), max_epochs=2, callbacks=[recorded])
        runs.append((lrs.history, recorded.history))
    assert runs[1] == runs[0]
    assert runs[0][1][1] != runs[0][1][0]  # the momenta cycle, each group's its own


def test_momenta_per_group_with_another_value_are_refused_as_unread() -> None:
    scheduler = SchedulerSpec("onecycle", max_lr=0.1, cycle_momentum=False, base_momentum=[0.85, 0.8])
    groups = [ParamGroup("model_gen.layer1", name="layer1")]
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Model.optimizer.scheduler: Expected `base_momentum` of `OneCycleLR` only with `cycle_momentum=True` "
            "(its default) but got `base_momentum=[0.85, 0.8]` with `cycle_momentum=False`"
        ),
    ):
        declared(OptimizerSpec("sgd", momentum=0.9, groups=groups, scheduler=scheduler), name="Model")


def test_a_config_dump_with_every_argument_of_onecycle_trains_as_torch() -> None:
    """A LightningCLI config dump writes every init_arg, torch's defaults included (``epochs: null`` beside
    ``total_steps``, the momenta beside ``cycle_momentum``)."""
    defaults = {k: p.default for k, p in inspect.signature(lr_scheduler.OneCycleLR).parameters.items()}
    arguments = {k: v for k, v in defaults.items() if k not in ("optimizer", "last_epoch", "verbose")}
    arguments.update(max_lr=0.1, total_steps=8)
    dumped = {
        "class_path": "torch.optim.SGD",
        "init_args": {"momentum": 0.9},
        "scheduler": {"class_path": "torch.optim.lr_scheduler.OneCycleLR", "init_args": arguments},
    }
    module = declared(spec_from_dict(dumped))()
    recorder = fit(module, data=loader(n=32, batch_size=8), max_epochs=2)
    assert recorder.of() == pytest.approx(_torch_run(lr_scheduler.OneCycleLR, arguments)[0])


#: what each scheduler with a length takes beside it here (``OneCycleLR``'s ``epochs`` and ``steps_per_epoch``,
#: which describe its length, are written as ``None`` with it, as a config dump writes them)
BESIDE_A_LENGTH: dict[type, dict[str, Any]] = {
    lr_scheduler.OneCycleLR: {"max_lr": 0.1},
    TRANSFORMERS_SCHEDULES["cosine_with_min_lr"]: {"min_lr_rate": 0.1},
    TRANSFORMERS_SCHEDULES["cosine_warmup_with_min_lr"]: {"min_lr_rate": 0.1},
    TRANSFORMERS_SCHEDULES["warmup_stable_decay"]: {"num_decay_steps": 2},
    TimmCosineLR: {"t_in_epochs": False},
}


#: the schedulers that run without their length (an unbounded run), with what they take beside it:
#: transformers' schedules that do not decay to an end, and ``warmup_stable_decay`` given ``num_stable_steps``
WITHOUT_A_LENGTH = [
    (TRANSFORMERS_SCHEDULES["constant_with_warmup"], {}),
    (TRANSFORMERS_SCHEDULES["inverse_sqrt"], {}),
    (TRANSFORMERS_SCHEDULES["warmup_stable_decay"], {"num_decay_steps": 2, "num_stable_steps": 4}),
]


def _case(cls: type, beside: dict[str, Any], windowed: bool) -> Any:
    stable = "-stable" * ("num_stable_steps" in beside)
    return pytest.param(cls, beside, windowed, id=f"{cls.__name__}{stable}{'-window' * windowed}")


#: every registry scheduler with a length that it needs, outside a window and in one
REQUIRED_LENGTHS = [
    _case(cls, BESIDE_A_LENGTH.get(cls, {}), windowed)
    for cls, info in SCHEDULER_INFO.items()
    for windowed in (False, True)
    if (info.window_length if windowed else info.length) is not None
    and (cls, BESIDE_A_LENGTH.get(cls, {})) not in WITHOUT_A_LENGTH
]


def test_the_record_tells_the_lengths_a_scheduler_runs_without() -> None:
    required = {(case.values[0], str(case.values[1])) for case in REQUIRED_LENGTHS}
    for cls, beside in [*((case.values[0], case.values[1]) for case in REQUIRED_LENGTHS), *WITHOUT_A_LENGTH]:
        optional = SCHEDULER_INFO[cls].optional_length(beside)
        assert optional != ((cls, str(beside)) in required), (cls, beside)


def _written_length_run(cls: type, beside: dict[str, Any], windowed: bool, **length: Any) -> list[float]:
    window = {"begin": 0, "end": 8} if windowed else {}
    spec = SchedulerSpec(cls, interval="step", **window, **beside, **length)
    with lr_replaced(cls is lr_scheduler.OneCycleLR):
        module = declared(OptimizerSpec("sgd", lr=0.1, momentum=0.9, scheduler=spec))()
    return fit(module, data=loader(n=32, batch_size=8), max_epochs=2).of()


@pytest.mark.parametrize(("cls", "beside", "windowed"), REQUIRED_LENGTHS)
def test_a_required_length_written_as_none_is_derived_from_the_run_as_when_left_out(
    cls: type, beside: dict[str, Any], windowed: bool
) -> None:
    """``T_max=None``, ``total_iters=None``, ``total_steps=None`` beside ``epochs=None`` and
    ``steps_per_epoch=None``, a decaying transformers schedule's ``num_training_steps=None``: what a config dump
    writes for a length left out trains as left out, along the scheduler built with the run's length (8 updates;
    a window's by its offset). Was: refused ("Expected `T_max` of `CosineAnnealingLR` to be int but got None"),
    or failed in the scheduler ("You must define either total_steps OR (epochs AND steps_per_epoch)",
    "Expected `num_training_steps` to be a whole number of steps >= 1 but got None")."""
    info = SCHEDULER_INFO[cls]
    length = info.window_length if windowed else info.length
    assert length is not None
    nones = dict.fromkeys(k for k in (length, *info.length_given_by, info.per_epoch_argument) if k)
    written = _written_length_run(cls, beside, windowed, **nones)
    assert written == _written_length_run(cls, beside, windowed)
    spelled_out = 8 + info.window_offset if windowed else 8
    assert written == pytest.approx(
        torch_lrs(lambda o: cls(o, **beside, **{length: spelled_out}), 8), rel=1e-12
    )


#: (name, what it takes beside its length, the length and what describes it written as ``None``, what the
#: description says of them)
DESCRIBED_NONES = [
    (
        "onecycle",
        {"max_lr": 0.1},
        {"total_steps": None, "epochs": None, "steps_per_epoch": None},
        "`total_steps` derived",
    ),
    (
        "transformers/linear",
        {"num_warmup_steps": 2},
        {"num_training_steps": None},
        "`num_training_steps` derived",
    ),
    (
        "transformers/inverse_sqrt",
        {"num_warmup_steps": 2},
        {"num_training_steps": None},
        "num_training_steps=None)",
    ),
]


@pytest.mark.parametrize(
    ("name", "beside", "nones", "told"), DESCRIBED_NONES, ids=[c[0] for c in DESCRIBED_NONES]
)
def test_the_preview_and_the_description_of_a_length_written_as_none(
    name: str, beside: dict[str, Any], nones: dict[str, Any], told: str
) -> None:
    """``preview_schedule`` and ``describe_optimizers`` tell a required length written as ``None`` as left out (derived
    from the run), and an optional one as declared (no length)."""

    def declare(**length: Any) -> type[Any]:
        with lr_replaced(name == "onecycle"):
            spec = SchedulerSpec(name, interval="step", **beside, **length)
            return declared(OptimizerSpec("sgd", lr=0.1, momentum=0.9, scheduler=spec))

    written, left_out = declare(**nones), declare()
    assert told in describe_optimizers(written())
    run = {"max_epochs": 2, "steps_per_epoch": 4}
    if "derived" in told:
        assert describe_optimizers(written()) == describe_optimizers(left_out())
        assert preview_schedule(written, **run) == preview_schedule(left_out, **run)
    else:
        assert preview_schedule(written, **run)["lr-optimizer"] == pytest.approx(
            torch_lrs(
                lambda o: TRANSFORMERS_SCHEDULES["inverse_sqrt"](o, num_training_steps=None, **beside), 8
            )
        )


class CosineFromHparams(Classifier):
    def __init__(self, t_max: int | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()


def test_a_required_length_read_as_none_from_an_hparam_is_derived_from_the_run() -> None:
    """``T_max=HParam("t_max", default=None)``: a sweep's run leaving it at ``None`` derives it from the run, as
    ``T_max`` left out, and one setting it trains with it (was: refused, "Expected `T_max` of
    `CosineAnnealingLR` to be int but got None")."""
    spec = SchedulerSpec("cosine", interval="step", T_max=HParam("t_max", default=None))
    module = declared(OptimizerSpec("sgd", lr=0.1, scheduler=spec), base=CosineFromHparams)
    left_out = declared(OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec("cosine", interval="step")))
    run = {"data": loader(n=32, batch_size=8), "max_epochs": 2}
    assert fit(module(), **run).of() == fit(left_out(), **run).of()
    assert fit(module(t_max=4), **run).of() == pytest.approx(
        torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=4), 8), rel=1e-12
    )


class StopAfter(L.Callback):
    """Stops a run of no known length (``max_epochs=-1``) after ``batches`` batches."""

    def __init__(self, batches: int) -> None:
        self.batches = batches

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.batches -= 1
        trainer.should_stop = self.batches <= 0


@pytest.mark.parametrize(
    ("cls", "beside"), WITHOUT_A_LENGTH, ids=["constant_with_warmup", "inverse_sqrt", "wsd-stable"]
)
def test_an_optional_length_written_as_none_is_no_length(cls: type, beside: dict[str, Any]) -> None:
    """transformers' ``inverse_sqrt``, ``constant_with_warmup`` and ``warmup_stable_decay`` given
    ``num_stable_steps`` run without a length: ``num_training_steps=None`` is that, as declared, so a run of no
    known length trains along the scheduler built so. Left out beside a whole warmup, the length is not read and
    so not derived: the same run trains the same (was: refused, "derived from the run's length"); beside a
    fractional warmup it is read, derived, and refused there."""
    beside = {**beside, "num_warmup_steps": 2}
    expected = torch_lrs(lambda o: cls(o, num_training_steps=None, **beside), 10)
    for length in ({"num_training_steps": None}, {}):
        spec = SchedulerSpec(cls, interval="step", **length, **beside)
        module = declared(OptimizerSpec("sgd", lr=0.1, momentum=0.9, scheduler=spec))()
        lrs = fit(module, data=loader(n=32, batch_size=8), max_epochs=-1, callbacks=[StopAfter(10)]).of()
        assert lrs == pytest.approx(expected, rel=1e-12)
    fraction = SchedulerSpec(cls, interval="step", **{**beside, "num_warmup_steps": 0.25})
    left_out = declared(OptimizerSpec("sgd", lr=0.1, scheduler=fraction))()
    with pytest.raises(
        ValueError, match=r"derived from the run's length .*`num_training_steps`.*no known length"
    ):
        fit(left_out, data=loader(n=32, batch_size=8), max_epochs=-1, callbacks=[StopAfter(10)])


class WithMode(Classifier):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.save_hyperparameters()


def test_an_hparam_deciding_whether_an_argument_is_read_is_checked_when_fit_reads_it() -> None:
    """``mode=HParam("mode")`` beside ``gamma``: read by an ``"exp_range"`` run of a sweep, unread by a
    ``"triangular"`` one, which is refused when ``fit`` starts."""
    cyclic = SchedulerSpec("cyclic", **_CYCLIC, mode=HParam("mode"), gamma=0.5)
    model = declared(OptimizerSpec("sgd", momentum=0.9, scheduler=cyclic), base=WithMode, name="Model")
    with pytest.raises(ValueError, match=r"Expected `gamma` of `CyclicLR` only with `mode='exp_range'`"):
        L.Trainer(**FAST, max_epochs=1).fit(model("triangular"), loader())
    recorder = fit(model("exp_range"), data=loader(n=32, batch_size=8), max_epochs=2)
    expected = _torch_run(lr_scheduler.CyclicLR, {**_CYCLIC, "mode": "exp_range", "gamma": 0.5})[0]
    assert recorder.of() == pytest.approx(expected)


def _halving(step: int) -> float:
    return 0.5**step


#: Each registry scheduler with arguments, and whether it keeps a value that starts at 0 at 0 (a value times a
#: factor: ``SchedulerInfo.keeps_zero``), as measured below; a composite as its schedulers.
KEEPS_ZERO = [
    ("step", {"step_size": 1, "gamma": 0.5}, True),
    ("multistep", {"milestones": [1, 3], "gamma": 0.5}, True),
    ("constant", {"factor": 0.5, "total_iters": 2}, True),
    ("linear", {"start_factor": 0.5, "total_iters": 2}, True),
    ("polynomial", {"total_iters": 4}, True),
    ("exponential", {"gamma": 0.5}, True),
    ("lambda", {"lr_lambda": _halving}, True),
    ("multiplicative", {"lr_lambda": _halving}, True),
    ("plateau", {"min_lr": 0.1, "patience": 0}, True),  # it only lowers a value, to `min_lr` at the least
    ("cosine", {"T_max": 4}, True),
    ("cosine", {"T_max": 4, "eta_min": 0.1}, False),  # anneals 0 -> 0.1
    ("cosine_restarts", {"T_0": 2}, True),
    ("cosine_restarts", {"T_0": 2, "eta_min": 0.1}, False),
    ("onecycle", {"max_lr": 0.1, "total_steps": 8, "cycle_momentum": False}, False),  # from max_lr / 25
    ("cyclic", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2, "cycle_momentum": False}, False),
    ("sequential", {"schedulers": [("constant", {"total_iters": 2}), ("exponential", {"gamma": 0.5})]}, True),
    (
        "sequential",
        {"schedulers": [("constant", {"total_iters": 2}), ("cosine", {"T_max": 4, "eta_min": 0.1})]},
        False,
    ),
    ("chained", {"schedulers": [("exponential", {"gamma": 0.5}), ("linear", {"total_iters": 2})]}, True),
    (
        "chained",
        {"schedulers": [("exponential", {"gamma": 0.5}), ("cosine_restarts", {"T_0": 2, "eta_min": 0.1})]},
        False,
    ),
    ("transformers/constant", {}, True),
    ("transformers/constant_with_warmup", {"num_warmup_steps": 2}, True),
    ("transformers/linear", {"num_warmup_steps": 2, "num_training_steps": 8}, True),
    ("transformers/cosine", {"num_warmup_steps": 2, "num_training_steps": 8}, True),
    (
        "transformers/cosine_with_restarts",
        {"num_warmup_steps": 2, "num_training_steps": 8, "num_cycles": 2},
        True,
    ),
    ("transformers/inverse_sqrt", {"num_warmup_steps": 2}, True),
    (
        "transformers/cosine_with_min_lr",
        {"num_warmup_steps": 2, "num_training_steps": 8, "min_lr_rate": 0.1},
        True,
    ),
    (
        "transformers/cosine_warmup_with_min_lr",
        {"num_warmup_steps": 2, "num_training_steps": 8, "min_lr_rate": 0.1},
        True,
    ),
    (
        "transformers/warmup_stable_decay",
        {"num_warmup_steps": 2, "num_decay_steps": 2, "num_training_steps": 8, "min_lr_ratio": 0.1},
        True,
    ),
    ("timm/cosine", {"t_initial": 4, "warmup_t": 2, "cycle_limit": 2, "t_in_epochs": False}, True),
    ("timm/cosine", {"t_initial": 4, "lr_min": 0.1, "t_in_epochs": False}, False),
    ("timm/cosine", {"t_initial": 4, "warmup_t": 2, "warmup_lr_init": 0.1, "t_in_epochs": False}, False),
]

#: built on a 0 they refuse it themselves: their absolute floor `lr_end` is measured against `optimizer.defaults["lr"]`
NOT_BUILT_ON_ZERO = {"transformers/polynomial": {"num_training_steps": 8, "lr_end": 0.0}}


def _spec(name: str, kwargs: dict[str, Any]) -> SchedulerSpec:
    inner = kwargs.get("schedulers")
    if inner is None:
        return SchedulerSpec(name, **kwargs, **({"monitor": "loss"} if name == "plateau" else {}))
    others = {key: value for key, value in kwargs.items() if key != "schedulers"}
    milestones = {"milestones": [2]} if name == "sequential" else {}
    return SchedulerSpec(name, schedulers=[SchedulerSpec(n, **k) for n, k in inner], **milestones, **others)


def _values_from_zero(name: str, kwargs: dict[str, Any]) -> list[float]:
    """The lr ``name`` sets at its first 8 updates, built with ``kwargs`` on an ``SGD`` at lr 0 (a schedule of
    another option acts on it through a view whose ``"lr"`` is that option)."""
    from lightning_optim.declaring.construct import instantiate_scheduler
    from lightning_optim.declaring.scheduler import resolve_scheduler

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.0)
    scheduler = instantiate_scheduler(
        resolve_scheduler("M.optimizer.scheduler", _spec(name, kwargs)), optimizer, {}
    )
    values = []
    for _ in range(8):
        optimizer.step()
        scheduler.step(1.0) if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau) else scheduler.step()
        values.append(optimizer.param_groups[0]["lr"])
    return values


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(("name", "kwargs", "keeps"), KEEPS_ZERO)
def test_keeps_zero_says_what_each_scheduler_does_from_a_zero(
    name: str, kwargs: dict[str, Any], keeps: bool
) -> None:
    """What the record says (a schedule of an option that is 0 in every group is refused on it) is what torch
    does: built on a 0, a scheduler that keeps zero sets 0 at every update, one that does not leaves it."""
    from lightning_optim.declaring.scheduler import keeps_zero, resolve_scheduler

    values = _values_from_zero(name, kwargs)
    assert (values == [0.0] * len(values)) is keeps, values
    assert keeps_zero(resolve_scheduler("M.optimizer.scheduler", _spec(name, kwargs))) is keeps


def test_every_registry_scheduler_is_in_the_keeps_zero_table() -> None:
    from lightning_optim.registry.schedulers import SCHEDULERS

    listed = {SCHEDULERS[name] for name, _, _ in KEEPS_ZERO} | {
        SCHEDULERS[name] for name in NOT_BUILT_ON_ZERO
    }
    assert set(SCHEDULER_INFO) <= listed
    for name, kwargs in NOT_BUILT_ON_ZERO.items():
        with pytest.raises(ValueError, match=r"`lr_end` against\) to be a positive number but got 0\.0"):
            _values_from_zero(name, kwargs)


# -- a OneCycleLR with an empty phase ---------------------------------------------------------------------


def test_what_torch_does_with_a_one_cycle_whose_first_phase_is_empty() -> None:
    with pytest.raises(ZeroDivisionError, match="float division by zero"):
        torch_lrs(lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.2, pct_start=0.2, total_steps=5), 5)


def test_a_one_cycle_whose_first_phase_is_empty_is_refused_at_class_definition() -> None:
    # was: "`OneCycleLR` rejected the declared options: float division by zero"
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Declared.optimizer.scheduler: Expected `OneCycleLR`'s phases each to span a step but got "
            "`pct_start=0.2` x `total_steps=5` = 1 step: its first phase ends at "
            "`pct_start * total_steps - 1` = 0, where it starts (as declared); torch divides by the span of each "
            "phase and would fail with a division by zero."
        ),
    ):
        declared(
            OptimizerSpec(
                "sgd", scheduler=SchedulerSpec("onecycle", max_lr=0.2, pct_start=0.2, total_steps=5)
            )
        )


@pytest.mark.parametrize(
    ("options", "trainer_kwargs", "origin"),
    [
        (
            {"warmup": 0.25},
            {"limit_train_batches": 6, "max_epochs": 1},
            "derived from the run: its 6 updates less the 1 of `warmup=0.25`",
        ),
        ({}, {"limit_train_batches": 5, "max_epochs": 1}, "derived from the run: its 5 updates"),
    ],
    ids=["warmup", "run"],
)
def test_a_one_cycle_whose_derived_first_phase_is_empty_is_refused_when_fit_starts(
    options: dict[str, Any], trainer_kwargs: dict[str, Any], origin: str
) -> None:
    module = declared(
        OptimizerSpec("sgd", scheduler=SchedulerSpec("onecycle", max_lr=0.2, pct_start=0.2, **options))
    )()
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"= 1 step: its first phase ends at `pct_start * total_steps - 1` = 0, where it starts ({origin})"
        ),
    ):
        fit(module, data=loader(n=64), **trainer_kwargs)


@pytest.mark.parametrize(("pct_start", "three_phase"), [(1.0, False), (0.6, True)])
def test_a_one_cycle_whose_last_phase_is_empty_is_refused_instead_of_failing_after_the_last_step(
    pct_start: float, three_phase: bool
) -> None:
    def make(o: Any) -> Any:
        return lr_scheduler.OneCycleLR(
            o, max_lr=0.2, pct_start=pct_start, total_steps=5, three_phase=three_phase
        )

    with pytest.raises(ZeroDivisionError):  # torch, at its step 5
        torch_lrs(make, 5)
    scheduler = SchedulerSpec(
        "onecycle", max_lr=0.2, pct_start=pct_start, three_phase=three_phase, total_steps=5
    )
    stated = (
        "`pct_start=1.0`: its last phase ends at `total_steps - 1`, where it starts (`pct_start * total_steps - 1`), "
        "for any `total_steps`; torch divides by the span of each phase and would fail with a division by zero. "
        "Give `pct_start` another value below 1."
        if pct_start == 1.0
        else "= 3 steps: its last phase ends at `total_steps - 1` = 4, where it starts "
        "(`2 * pct_start * total_steps - 2`) (as declared)"
    )
    with pytest.raises(ValueError, match=re.escape(stated)):
        declared(OptimizerSpec("sgd", scheduler=scheduler))


_ANY_LENGTH = (
    "Expected `OneCycleLR`'s phases each to span a step but got `pct_start=1.0`: its last phase ends at "
    "`total_steps - 1`, where it starts (`pct_start * total_steps - 1`), for any `total_steps`; torch divides by "
    "the span of each phase and would fail with a division by zero. Give `pct_start` another value below 1."
)


@pytest.mark.parametrize("options", [{}, {"epochs": 1}], ids=["total_steps", "steps_per_epoch"])
def test_a_one_cycle_whose_last_phase_is_empty_for_any_derived_length_is_refused_naming_no_length(
    options: dict[str, Any],
) -> None:
    # was: "`pct_start=1.0` x `total_steps=1000000000` ... (derived from the run: its 1000000000 updates)" and
    # "`epochs=1` x `steps_per_epoch=1000000000` ...", the stand-in length of the trial build
    scheduler = SchedulerSpec("onecycle", max_lr=0.2, pct_start=1.0, **options)
    with pytest.raises(ValueError, match=r"^Declared\.optimizer\.scheduler: " + re.escape(_ANY_LENGTH) + "$"):
        declared(OptimizerSpec("sgd", scheduler=scheduler))


class WithPct(Classifier):
    def __init__(self, pct: float) -> None:
        super().__init__()
        self.save_hyperparameters()


def test_an_empty_phase_read_from_an_hparam_is_refused_at_fit_naming_the_run_s_length() -> None:
    # was: "... x `total_steps=1000000000` ... (derived from the run: its 1000000000 updates)" for a 4-step run
    spec = OptimizerSpec("sgd", scheduler=SchedulerSpec("onecycle", max_lr=0.2, pct_start=HParam("pct")))
    model = declared(spec, base=WithPct)
    with pytest.raises(ValueError, match=re.escape(_ANY_LENGTH)):
        fit(model(1.0), data=loader(n=64), limit_train_batches=4, max_epochs=1)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "`pct_start=0.25` x `total_steps=4` = 1 step: its first phase ends at `pct_start * total_steps - 1` = "
            "0, where it starts (derived from the run: its 4 updates)"
        ),
    ):
        fit(model(0.25), data=loader(n=64), limit_train_batches=4, max_epochs=1)


def test_a_numpy_pct_start_leaving_a_phase_empty_is_refused_as_the_python_number() -> None:
    # was: "`OneCycleLR` rejected the declared options: float division by zero"
    scheduler = SchedulerSpec("onecycle", max_lr=0.2, pct_start=np.float32(0.2), total_steps=5)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "got `pct_start=np.float32(0.2)` x `total_steps=5` = 1 step: its first phase ends at "
            "`pct_start * total_steps - 1` = 0, where it starts (as declared)"
        ),
    ):
        declared(OptimizerSpec("sgd", scheduler=scheduler))


def test_a_one_cycle_whose_phases_each_span_a_step_trains_as_torch() -> None:
    module = declared(OptimizerSpec("sgd", scheduler=SchedulerSpec("onecycle", max_lr=0.2, pct_start=0.2)))()
    lrs = fit(module, data=loader(n=64), limit_train_batches=6, max_epochs=1).of()
    assert lrs == pytest.approx(
        torch_lrs(lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.2, pct_start=0.2, total_steps=6), 6)
    )


@pytest.mark.parametrize("cls", list(SCHEDULER_INFO), ids=lambda cls: cls.__name__)
def test_every_record_copies_and_pickles(cls: type) -> None:
    # a fit's schedule holds its record: a module keeping its schedule is saved whole (`torch.save(model)`) and
    # deep-copied (`StochasticWeightAveraging`); before: `cannot pickle 'mappingproxy' object` for every
    # transformers schedule (its names of transformers' arguments)
    info = SCHEDULER_INFO[cls]
    assert copy.deepcopy(info).known_as == pickle.loads(pickle.dumps(info)).known_as == info.known_as
