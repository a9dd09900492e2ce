"""A sweep's numpy numbers reach torch's constructors as the Python numbers they stand for (``own_values``)."""

from __future__ import annotations

import inspect
import numbers
from typing import Any

import numpy as np
import pytest
import torch

from lightning_optim import OptimizerSpec, SchedulerSpec
from lightning_optim.registry.optimizers import OPTIMIZERS
from lightning_optim.utilities.numeric import python_number
from tests.helpers import declared, fit, loader, weights
from tests.registry.test_schedulers import KEEPS_ZERO, NOT_BUILT_ON_ZERO


def as_numpy(value: Any) -> Any:
    """``value`` with its ints as ``np.int64`` and its floats as ``np.float32`` (inside lists and tuples too)."""
    if type(value) in (list, tuple):
        return type(value)(as_numpy(v) for v in value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return np.int64(value)
    return np.float32(value) if isinstance(value, float) else value


def as_python(value: Any) -> Any:
    if type(value) in (list, tuple):
        return type(value)(as_python(v) for v in value)
    return python_number(value)


def _scheduler(name: str, kwargs: dict[str, Any], number: Any) -> SchedulerSpec:
    inner = kwargs.get("schedulers")
    values = {key: number(value) for key, value in kwargs.items() if key != "schedulers"}
    if inner is None:
        return SchedulerSpec(name, **values, **({"monitor": "train_loss"} if name == "plateau" else {}))
    milestones = {"milestones": number([1])} if name == "sequential" else {}
    schedulers = [SchedulerSpec(n, **{k: number(v) for k, v in k_.items()}) for n, k_ in inner]
    return SchedulerSpec(name, schedulers=schedulers, **milestones, **values)


#: every registry scheduler (the keeps-zero table lists each; not its `ChainedScheduler` whose cosine sets the lr
#: outright beside another, refused in a run), and the numbers torch checks the type of
SCHEDULERS = [
    *((name, kwargs) for name, kwargs, keeps in KEEPS_ZERO if name != "chained" or keeps),
    *((name, {**kwargs, "lr_end": 1e-6}) for name, kwargs in NOT_BUILT_ON_ZERO.items()),
    ("onecycle", {"max_lr": 0.1, "pct_start": 0.3}),
    ("onecycle", {"max_lr": 0.1, "epochs": 2, "steps_per_epoch": 4, "pct_start": 0.25}),
]


@pytest.mark.parametrize(
    ("name", "kwargs"), SCHEDULERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULERS)]
)
def test_a_registry_scheduler_declared_with_numpy_numbers_trains_as_with_the_python_numbers(
    name: str, kwargs: dict[str, Any]
) -> None:
    # was refused with torch's own words where torch checks a type: "`OneCycleLR` rejected the declared options:
    # Expected positive integer total_steps, but got 8", "... Expected float between 0 and 1 pct_start"
    lrs = []
    for number in (lambda v: as_python(as_numpy(v)), as_numpy):
        spec = OptimizerSpec("sgd", lr=0.1, momentum=0.9, scheduler=_scheduler(name, kwargs, number))
        lrs.append(fit(declared(spec)(), data=loader(n=32, batch_size=8), max_epochs=2).history)
    assert lrs[1] == lrs[0]


def _numeric_defaults(cls: type) -> dict[str, Any]:
    """``cls``'s arguments whose defaults are numbers (or tuples of them: ``betas``), bools left out."""
    found = {}
    for name, parameter in inspect.signature(cls).parameters.items():
        default = parameter.default
        values = default if type(default) is tuple else (default,)
        if values and all(type(v) in (int, float) for v in values):
            found[name] = default
    return found


#: torch's optimizers of the registry but ``SparseAdam`` (sparse gradients only) and ``Muon`` (matrices only)
TORCH_OPTIMIZERS = sorted(
    {cls.__name__: cls for cls in OPTIMIZERS.values() if cls.__module__.startswith("torch.optim")}.items()
)


@pytest.mark.parametrize(
    "cls",
    [cls for name, cls in TORCH_OPTIMIZERS if name not in ("SparseAdam", "Muon")],
    ids=lambda cls: cls.__name__,
)
def test_a_torch_optimizer_declared_with_numpy_numbers_trains_as_with_the_python_numbers(cls: type) -> None:
    # was refused with torch's "betas must be either both floats or both Tensors" (Adam, AdamW)
    options = {**_numeric_defaults(cls), "lr": 0.01}
    # the same kernel on both sides (the for-loop one where torch has others)
    implementation = {"implementation": "forloop"} if "foreach" in inspect.signature(cls).parameters else {}
    trained = []
    for number in (lambda v: as_python(as_numpy(v)), as_numpy):
        spec = OptimizerSpec(cls, **implementation, **{key: number(v) for key, v in options.items()})
        module = declared(spec)()
        fit(module, data=loader(n=32, batch_size=8), max_epochs=1)
        trained.append(weights(module))
    assert all(torch.equal(trained[0][name], trained[1][name]) for name in trained[0])
