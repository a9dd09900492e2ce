"""Names, classes and dotted paths looked up as optimizer or scheduler classes, and what a miss is told."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingLR

from lightning_optim import OptimizerSpec, SchedulerSpec
from tests.helpers import declared, fit, torch_lrs, transformers_with_torch


def _sgd() -> torch.optim.SGD:
    return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)


@pytest.mark.parametrize(
    ("make", "where", "expected", "fix"),
    [
        (
            lambda: OptimizerSpec(_sgd()),  # type: ignore[arg-type]
            "Declared.optimizer",
            "a torch.optim.Optimizer subclass, a name or a dotted import path",
            "an instance of `SGD`, built already; pass the class and its arguments: "
            "`OptimizerSpec(torch.optim.SGD, lr=...)`.",
        ),
        (
            lambda: OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec(CosineAnnealingLR(_sgd(), T_max=4))),  # type: ignore[arg-type]
            "Declared.optimizer.scheduler",
            "an LRScheduler subclass or ReduceLROnPlateau, a name or a dotted import path",
            "an instance of `CosineAnnealingLR`, built already; pass the class and its arguments: "
            "`SchedulerSpec(torch.optim.lr_scheduler.CosineAnnealingLR, ...)`.",
        ),
        (
            lambda: OptimizerSpec("sgd", lr=0.1, scheduler=CosineAnnealingLR(_sgd(), T_max=4)),  # type: ignore[arg-type]
            "Declared.optimizer.scheduler",
            "a SchedulerSpec, a list of them, or None",
            "an instance of `CosineAnnealingLR`, built already; pass the class and its arguments: "
            "`SchedulerSpec(torch.optim.lr_scheduler.CosineAnnealingLR, ...)`.",
        ),
    ],
)
def test_a_built_optimizer_or_scheduler_is_told_to_pass_its_class(
    make: Any, where: str, expected: str, fix: str
) -> None:
    """An optimizer instance was refused with its whole repr (every param group) and no fix, a scheduler
    instance with ``<... object at 0x...>``: both name the class and the declaration of it."""
    with pytest.raises(TypeError, match=f"^{re.escape(f'{where}: Expected {expected} but got {fix}')}$"):
        declared(make())


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("transformers/get_linear_schedule_with_warmup", "transformers/linear"),
        ("get_cosine_schedule_with_warmup", "transformers/cosine"),
        ("transformers/get_constant_schedule_with_warmup", "transformers/constant_with_warmup"),
        ("get_wsd_schedule", "transformers/warmup_stable_decay"),
    ],
)
def test_transformers_schedule_function_names_are_told_the_name_here(name: str, meant: str) -> None:
    """``"transformers/get_linear_schedule_with_warmup"`` was told "did you mean `transformers/constant_with_warmup`?"
    (the closest spelling): transformers' function names are told the schedule's name here."""
    with pytest.raises(
        ValueError,
        match=rf"^Declared\.optimizer\.scheduler: Expected a known scheduler name or a dotted import path but got "
        rf"'{name}' \(did you mean `{meant}`\?\)\. Known names: ",
    ):
        declared(OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec(name)))


def get_linear_schedule_with_warmup(optimizer: Any) -> Any:
    """A function of this module named as one of transformers'."""


@pytest.mark.parametrize("package", ["pytorch_optimizer", "tests"])
def test_a_schedule_function_of_another_package_is_not_told_a_transformers_name(package: str) -> None:
    """``SchedulerSpec(pytorch_optimizer.get_wsd_schedule)`` was told "did you mean
    `transformers/warmup_stable_decay`?" (matched by ``__name__``), which decays otherwise (cosine, not its
    1-sqrt cooldown): a function not from transformers gets the plain refusal."""
    function = (
        pytest.importorskip("pytorch_optimizer").get_wsd_schedule
        if package == "pytorch_optimizer"
        else get_linear_schedule_with_warmup
    )
    with pytest.raises(
        TypeError,
        match=rf"^Declared\.optimizer\.scheduler: Expected an LRScheduler subclass or ReduceLROnPlateau, a name or a "
        rf"dotted import path but got {re.escape(repr(function))}$",
    ):
        declared(OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec(function)))  # type: ignore[arg-type]


@pytest.mark.parametrize("as_function", [False, True])
def test_transformers_get_scheduler_is_told_the_names_it_takes(as_function: bool) -> None:
    """``SchedulerSpec(transformers.get_scheduler)`` was told nothing, and ``"get_scheduler"`` "did you mean
    `chainedscheduler`?": both are told that the name ``get_scheduler`` takes is the declaration here."""
    value = transformers_with_torch().get_scheduler if as_function else "get_scheduler"
    hint = "(did you mean `transformers/<name>` with the name `get_scheduler` takes, e.g. `transformers/linear`?)"
    with pytest.raises(TypeError if as_function else ValueError, match=re.escape(hint)):
        declared(OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec(value)))


def test_transformers_schedule_function_is_told_the_name_that_trains_as_it() -> None:
    """``SchedulerSpec(transformers.get_linear_schedule_with_warmup)`` (the function, not a class) got no pointer;
    it is told ``transformers/linear``, which trains as the function by hand."""
    transformers = transformers_with_torch()
    function = transformers.get_linear_schedule_with_warmup
    with pytest.raises(
        TypeError,
        match=rf"^Declared\.optimizer\.scheduler: Expected an LRScheduler subclass or ReduceLROnPlateau, a name or a "
        rf"dotted import path but got {re.escape(repr(function))} \(did you mean `transformers/linear`\?\)$",
    ):
        declared(OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec(function, num_warmup_steps=1)))  # type: ignore[arg-type]
    spec = OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec("transformers/linear", num_warmup_steps=1))
    recorder = fit(declared(spec)(), max_epochs=2)
    assert recorder.of() == torch_lrs(lambda opt: function(opt, 1, 8), 8)
