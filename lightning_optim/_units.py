"""Epoch-defined schedules updated every optimizer step (``unit="epoch"`` with ``interval="step"``).

Like mmengine's ``convert_to_iter_based``: the arguments that count epochs are multiplied by the number of
optimizer steps per epoch when ``fit`` starts, so the schedule keeps its shape and reaches each epoch's
value at the start of that epoch, moving smoothly (or in finer steps) in between. Rates per epoch become
rates per step (``ExponentialLR.gamma ** (1 / steps_per_epoch)``) and ``LambdaLR`` functions receive
fractional epochs (``step / steps_per_epoch``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from torch.optim import lr_scheduler

#: For each scheduler that can be declared in epochs, its arguments that count epochs (or act per epoch).
EPOCH_ARGUMENTS: Mapping[type, tuple[str, ...]] = MappingProxyType(
    {
        lr_scheduler.StepLR: ("step_size",),
        lr_scheduler.MultiStepLR: ("milestones",),
        lr_scheduler.ConstantLR: ("total_iters",),
        lr_scheduler.LinearLR: ("total_iters",),
        lr_scheduler.PolynomialLR: ("total_iters",),
        lr_scheduler.CosineAnnealingLR: ("T_max",),
        lr_scheduler.CosineAnnealingWarmRestarts: ("T_0",),
        lr_scheduler.OneCycleLR: ("total_steps",),
        lr_scheduler.CyclicLR: ("step_size_up", "step_size_down"),
        lr_scheduler.ExponentialLR: ("gamma",),
        lr_scheduler.LambdaLR: ("lr_lambda",),
    }
)


def _in_epochs(function: Callable[[float], float], steps_per_epoch: int, step: int) -> float:
    return function(step / steps_per_epoch)


def _convert(key: str, value: Any, steps_per_epoch: int) -> Any:
    if value is None:
        return None
    if key == "gamma":
        return value ** (1.0 / steps_per_epoch)
    if key == "lr_lambda":
        if isinstance(value, (list, tuple)):
            return [_convert(key, v, steps_per_epoch) for v in value]
        # a partial, not a closure: LambdaLR saves the ``__dict__`` of callable objects in its state_dict,
        # and a partial's is empty (the user's function, maybe a lambda, is not pickled into checkpoints)
        return functools.partial(_in_epochs, value, steps_per_epoch)
    if key == "milestones":
        return [m * steps_per_epoch for m in value]
    return value * steps_per_epoch


def epochs_to_steps(cls: type, kwargs: Mapping[str, Any], steps_per_epoch: int) -> dict[str, Any]:
    """The arguments of ``cls`` with every epoch-valued one (given or defaulted) converted to steps.

    Example:
        >>> from torch.optim.lr_scheduler import MultiStepLR, StepLR
        >>> epochs_to_steps(StepLR, {"step_size": 2, "gamma": 0.1}, steps_per_epoch=4)
        {'step_size': 8, 'gamma': 0.1}
        >>> epochs_to_steps(MultiStepLR, {"milestones": [1, 3]}, steps_per_epoch=5)
        {'milestones': [5, 15]}
    """
    converted = dict(kwargs)
    defaults = inspect.signature(cls).parameters
    for key in EPOCH_ARGUMENTS[cls]:
        if key in converted:
            converted[key] = _convert(key, converted[key], steps_per_epoch)
        elif key in defaults and defaults[key].default not in (inspect.Parameter.empty, None):
            converted[key] = _convert(key, defaults[key].default, steps_per_epoch)
    return converted
