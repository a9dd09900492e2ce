"""The values a scheduler's arguments may take, and the ways its shape drives what it schedules to 0.

A record (``schedulers.py``) names the arguments torch does not check that turn the lr negative or undefined
only late in the run (``lower_bounds``), those that set the value it ends at (``floor_bounds``), the shapes that
reach 0 whatever they are (``zero_when``) and whether a group starting at 0 stays there (``keeps_zero``), with
the records and conditions defined here. These rules never import the records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from lightning_optim.utilities.numeric import is_real


class LowerBound(NamedTuple):
    """The least value an argument may take (``strict``: not even that), and what the argument is, for the
    message that refuses a value below it."""

    bound: float
    strict: bool
    meaning: str
    #: a bound of torch's scheduler itself (it fails below it), whatever option it drives; else the lr's
    every_param: bool = False

    def admits(self, value: float) -> bool:
        """Whether ``value`` is above the bound (a NaN is not).

        Example:
            >>> LowerBound(0, strict=False, meaning="").admits(0.0), LowerBound(0, strict=True, meaning="").admits(0.0)
            (True, False)
        """
        return value > self.bound if self.strict else value >= self.bound

    def __str__(self) -> str:
        return f"{'>' if self.strict else '>='} {self.bound}"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive(value: Any) -> bool:
    return is_real(value) and value > 0
    return _number(value) and value > 0


def always(kwargs: Mapping[str, Any]) -> bool:
    """A :class:`ZeroWhen` condition that holds for every argument.

    Example:
        >>> always({})
        True
    """
    return True


def given_positive(key: str, kwargs: Mapping[str, Any]) -> bool:
    """Whether ``key`` is a number > 0 (an ``HParam`` is checked when ``fit`` reads it).

    Example:
        >>> given_positive("power", {"power": 1.0}), given_positive("power", {"power": 0.0})
        (True, False)
    """
    return _positive(kwargs.get(key))


def group_values(value: Any) -> list[Any]:
    """The values of an argument that may hold one per param group (a dict by group name, a list or tuple), or
    the one value.

    Example:
        >>> group_values({"head": 0.1, "rest": 0.0}), group_values((0.1, 0.2)), group_values(0.5)
        ([0.1, 0.0], [0.1, 0.2], [0.5])
    """
    if isinstance(value, Mapping):
        return list(value.values())
    return list(value) if isinstance(value, (list, tuple)) else [value]


def warmup_from(steps: str, start: str, kwargs: Mapping[str, Any]) -> bool:
    """Whether a warmup of ``steps`` (> 0) starts at a ``start`` that is a number <= 0 (for any group).

    Example:
        >>> warmup_from("warmup_t", "warmup_lr_init", {"warmup_t": 3, "warmup_lr_init": 0.0})
        True
        >>> warmup_from("warmup_t", "warmup_lr_init", {"warmup_t": 3, "warmup_lr_init": [0.1, 0.0]})
        True
        >>> warmup_from("warmup_t", "warmup_lr_init", {"warmup_t": 0, "warmup_lr_init": 0.0})
        False
    """
    starts = [v for v in group_values(kwargs.get(start)) if is_real(v)]
    return given_positive(steps, kwargs) and any(not _positive(v) for v in starts)


def all_zero(keys: Sequence[str], kwargs: Mapping[str, Any]) -> bool:
    """Whether each of ``keys`` is 0 in ``kwargs``, in every group where it holds one value per group (an
    ``HParam``, or a key missing, is not 0): a :attr:`SchedulerInfo.keeps_zero` condition for a schedule that
    anneals to a value of its own.

    Example:
        >>> all_zero(("eta_min",), {"eta_min": 0.0}), all_zero(("lr_min",), {"lr_min": [0.0, 1e-5]})
        (True, False)
    """
    return all(
        key in kwargs and all(_number(v) and v == 0 for v in group_values(kwargs[key])) for key in keys
    )


class ZeroWhen(NamedTuple):
    """A way a scheduler's shape drives the value it schedules to 0 whatever its ``floor_bounds``: when
    ``when`` holds for its arguments (the declared ones, its defaults for the rest), it ``happens`` (a phrase
    after "which"), and the message says what to declare ``instead``."""

    happens: str
    instead: str
    when: Callable[[Mapping[str, Any]], bool] = always
