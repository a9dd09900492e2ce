"""What a scheduler counts in: epochs or updates, and how an argument counting epochs becomes optimizer steps.

A record's ``epoch_arguments`` (``schedulers.py``) name the arguments that count epochs, each with a converter
from here, which ``unit="epoch"`` with ``interval="step"`` applies (``SchedulerInfo.epochs_to_steps``): a count
is multiplied, a factor per epoch becomes one per step, a function of the epoch is called with fractional
epochs. timm's ``t_in_epochs`` says the same of its own arguments, so its default ``interval`` and the check of
the declared stepping against it live here too. These rules never import the records.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Literal

Interval = Literal["step", "epoch"]

#: Turns an epoch-valued argument into its value in optimizer steps, given the steps per epoch.
Converter = Callable[[Any, int], Any]


def scale(value: Any, steps_per_epoch: int) -> Any:
    """A count of epochs in steps.

    Example:
        >>> scale(3, steps_per_epoch=4)
        12
    """
    return value * steps_per_epoch


def scale_each(values: Any, steps_per_epoch: int) -> list[Any]:
    """A list of epochs in steps.

    Example:
        >>> scale_each([1, 3], steps_per_epoch=5)
        [5, 15]
    """
    return [v * steps_per_epoch for v in values]


def per_step_rate(gamma: float, steps_per_epoch: int) -> float:
    """A factor per epoch as a factor per step: after ``steps_per_epoch`` steps, the same decay.

    Example:
        >>> per_step_rate(0.25, steps_per_epoch=2)
        0.5
    """
    return float(gamma ** (1.0 / steps_per_epoch))


def _in_epochs(function: Callable[[float], float], steps_per_epoch: int, step: int) -> float:
    return function(step / steps_per_epoch)


def fractional_epochs(function: Any, steps_per_epoch: int) -> Any:
    """A function of the epoch (or a list of them) called with fractional epochs ``step / steps_per_epoch``.

    A ``functools.partial``, not a closure: ``LambdaLR`` saves the ``__dict__`` of callable objects in its
    state_dict, and a partial's is empty (the user's function, maybe a lambda, is not pickled).

    Example:
        >>> fractional_epochs(lambda epoch: 2 * epoch, steps_per_epoch=4)(2)
        1.0
    """
    if isinstance(function, (list, tuple)):
        return [fractional_epochs(f, steps_per_epoch) for f in function]
    return functools.partial(_in_epochs, function, steps_per_epoch)


def timm_interval(kwargs: Mapping[str, Any]) -> Interval:
    """timm's ``t_in_epochs`` (default ``True``) steps per epoch; ``False`` per optimizer update."""
    return "epoch" if kwargs.get("t_in_epochs", True) else "step"


def check_timm_stepping(kwargs: Mapping[str, Any], interval: str, unit: str) -> None:
    in_epochs = kwargs.get("t_in_epochs", True)
    if in_epochs and unit == "step":
        raise ValueError(
            "`t_in_epochs=True` counts `t_initial` and `warmup_t` in epochs, but the schedule is stepped "
            "per optimizer step; pass `t_in_epochs=False` (counts in updates), or `unit='epoch'` (epochs, "
            "updated every step), or `interval='epoch'`."
        )
    if not in_epochs and interval == "epoch":
        raise ValueError(
            "`t_in_epochs=False` counts `t_initial` and `warmup_t` in optimizer updates, but the schedule is "
            "stepped once per epoch; use `interval='step'` or `t_in_epochs=True`."
        )
    if not in_epochs and unit == "epoch":
        raise ValueError(
            "Expected `unit='epoch'` with `t_in_epochs` left out or True (both count `t_initial` and `warmup_t` in "
            "epochs) but got `t_in_epochs=False`, which counts them in optimizer updates; leave `unit` out to count "
            "in updates, or `t_in_epochs` out to count in epochs, updated every step."
        )
