"""The learning-rate schedules of Hugging Face ``transformers``, as real ``LRScheduler`` classes.

Recipes ported from ``transformers`` name their schedule by ``lr_scheduler_type`` (``"linear"``,
``"cosine"``, ``"warmup_stable_decay"``...). ``transformers.get_scheduler`` builds each one as a
``LambdaLR`` around a ``functools.partial``: it cannot be named by class path in a YAML file, its
arguments do not show in its ``state_dict`` and a checkpoint cannot tell one schedule from another. The
classes here compute the same learning rate at every step, bit for bit (each multiplier below repeats
the arithmetic of the ``transformers`` function it cites, in the same order), while being ordinary
``LRScheduler`` subclasses: their arguments are attributes, saved and restored by ``state_dict`` (plain
numbers and strings, so a checkpoint pickles), and ``get_lr`` is the closed form
``base_lr * factor(last_epoch)``, exactly like ``LambdaLR``, so they also compose like it.

Each schedule is first a small pure function of the step (the multiplier of the initial lr), then a class
whose ``__init__`` checks its arguments. A class takes the arguments of the ``transformers`` function it
replaces, with the same names, defaults and positional order (so ``get_cosine_schedule_with_warmup(opt,
100, 1000)`` becomes ``CosineWithWarmupLR(opt, 100, 1000)``), except that ``num_warmup_steps`` defaults to
0; an argument the function does not take (``num_training_steps`` where only a fractional warmup needs
it) is keyword-only. The formulas are those of ``transformers/optimization.py``
(transformers 5.24.0). ``num_warmup_steps`` may also be a fraction of ``num_training_steps`` in (0, 1),
resolved as ``transformers.TrainingArguments.get_warmup_steps`` does (see :func:`resolve_warmup_steps`).

Two ``transformers.SchedulerType`` values have no class here (see :data:`UNPORTED_SCHEDULES`):
``"reduce_lr_on_plateau"`` is torch's own ``ReduceLROnPlateau``, and ``"greedy"`` is a metric-driven
scheduler, not a function of the step.

This module imports only the standard library and torch.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import numbers
import warnings
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Literal, TypeAlias

import torch
from torch.optim.lr_scheduler import LRScheduler

#: The warmup and decay shapes of ``warmup_stable_decay`` (``transformers.optimization.get_wsd_schedule``).
WSD_SHAPES: tuple[str, ...] = ("linear", "cosine", "1-sqrt")

# --------------------------------------------------------------------------------------------------------
# The multipliers: pure functions of the step, each the arithmetic of the transformers lambda it cites.
# --------------------------------------------------------------------------------------------------------

#: A multiplier: ``(step, **arguments) -> factor`` of each group's initial lr.
Multiplier: TypeAlias = Callable[..., float]


def constant(step: int) -> float:
    """``1.0`` at every step: ``transformers.optimization._get_constant_lambda``.

    Example:
        >>> constant(0), constant(10_000)
        (1.0, 1.0)
    """
    return 1.0


def constant_with_warmup(step: int, *, num_warmup_steps: int) -> float:
    """Linear warmup from 0, then ``1.0``.

    The arithmetic of ``transformers.optimization._get_constant_schedule_with_warmup_lr_lambda``.

    Example:
        >>> [constant_with_warmup(s, num_warmup_steps=4) for s in range(6)]
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """
    if step < num_warmup_steps:
        return float(step) / float(max(1.0, num_warmup_steps))
    return 1.0


def linear_with_warmup(step: int, *, num_warmup_steps: int, num_training_steps: int) -> float:
    """Linear warmup from 0 to 1, then linear decay to 0 at ``num_training_steps`` (and 0 after it).

    The arithmetic of ``transformers.optimization._get_linear_schedule_with_warmup_lr_lambda``.

    Example:
        >>> [linear_with_warmup(s, num_warmup_steps=2, num_training_steps=6) for s in range(8)]
        [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """
    if step < num_warmup_steps:
        return float(step) / float(max(1, num_warmup_steps))
    return max(0.0, float(num_training_steps - step) / float(max(1, num_training_steps - num_warmup_steps)))


def cosine_with_min_lr(
    step: int, *, num_warmup_steps: int, num_training_steps: int, num_cycles: float, min_lr_rate: float
) -> float:
    """Linear warmup from 0, then a cosine from 1 down to ``min_lr_rate`` (``num_cycles`` waves).

    The arithmetic of ``transformers.optimization._get_cosine_schedule_with_warmup_lr_lambda`` (the second
    definition of that name in ``optimization.py``, the one with ``min_lr_rate``: it replaces the first, so
    ``"cosine"`` uses it too, with ``min_lr_rate=0.0``).

    Example:
        >>> [
        ...     round(cosine_with_min_lr(s, num_warmup_steps=1, num_training_steps=5, num_cycles=0.5, min_lr_rate=0.2), 4)
        ...     for s in range(6)
        ... ]
        [0.0, 1.0, 0.8828, 0.6, 0.3172, 0.2]
    """
    if step < num_warmup_steps:
        return float(step) / float(max(1, num_warmup_steps))
    progress = float(step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
    factor = 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))
    factor = factor * (1 - min_lr_rate) + min_lr_rate
    return float(max(0, factor))


def cosine_with_warmup(
    step: int, *, num_warmup_steps: int, num_training_steps: int, num_cycles: float = 0.5
) -> float:
    """Linear warmup from 0, then a cosine from 1 to 0 (half a wave by default).

    ``transformers.optimization.get_cosine_schedule_with_warmup``: :func:`cosine_with_min_lr` with
    ``min_lr_rate=0.0``.

    Example:
        >>> [round(cosine_with_warmup(s, num_warmup_steps=0, num_training_steps=4), 4) for s in range(6)]
        [1.0, 0.8536, 0.5, 0.1464, 0.0, 0.1464]
    """
    return cosine_with_min_lr(
        step,
        num_warmup_steps=num_warmup_steps,
        num_training_steps=num_training_steps,
        num_cycles=num_cycles,
        min_lr_rate=0.0,
    )


def cosine_with_hard_restarts(
    step: int, *, num_warmup_steps: int, num_training_steps: int, num_cycles: float = 1
) -> float:
    """Linear warmup from 0, then ``num_cycles`` cosines from 1 to 0, each restarting at 1; 0 at the end.

    The arithmetic of
    ``transformers.optimization._get_cosine_with_hard_restarts_schedule_with_warmup_lr_lambda``.

    Example:
        >>> [
        ...     round(cosine_with_hard_restarts(s, num_warmup_steps=0, num_training_steps=4, num_cycles=2), 4)
        ...     for s in range(5)
        ... ]
        [1.0, 0.5, 1.0, 0.5, 0.0]
    """
    if step < num_warmup_steps:
        return float(step) / float(max(1, num_warmup_steps))
    progress = float(step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
    if progress >= 1.0:
        return 0.0
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((float(num_cycles) * progress) % 1.0))))


def polynomial_decay_with_warmup(
    step: int,
    *,
    num_warmup_steps: int,
    num_training_steps: int,
    lr_end: float,
    power: float,
    lr_init: float,
) -> float:
    """Linear warmup from 0, then a polynomial decay from ``lr_init`` to ``lr_end``, as a multiplier of ``lr_init``.

    ``lr_end`` is an absolute lr and ``lr_init`` the optimizer's default lr. The arithmetic of
    ``transformers.optimization._get_polynomial_decay_schedule_with_warmup_lr_lambda``; it divides by
    ``num_training_steps - num_warmup_steps`` at the step ``num_training_steps``, so the two must differ.

    Example:
        >>> [
        ...     polynomial_decay_with_warmup(
        ...         s, num_warmup_steps=1, num_training_steps=3, lr_end=0.0, power=2.0, lr_init=1.0
        ...     )
        ...     for s in range(5)
        ... ]
        [0.0, 1.0, 0.25, 0.0, 0.0]
    """
    if step < num_warmup_steps:
        return float(step) / float(max(1, num_warmup_steps))
    elif step > num_training_steps:
        return lr_end / lr_init
    lr_range = lr_init - lr_end
    decay_steps = num_training_steps - num_warmup_steps
    pct_remaining = 1 - (step - num_warmup_steps) / decay_steps
    decay = lr_range * pct_remaining**power + lr_end
    return decay / lr_init


def inverse_sqrt(step: int, *, num_warmup_steps: int, timescale: int) -> float:
    """Linear warmup from 0, then ``1 / sqrt((step + timescale - num_warmup_steps) / timescale)``.

    The arithmetic of ``transformers.optimization._get_inverse_sqrt_schedule_lr_lambda``.

    Example:
        >>> [inverse_sqrt(s, num_warmup_steps=1, timescale=1) for s in (0, 1, 4, 16)]
        [0.0, 1.0, 0.5, 0.25]
    """
    if step < num_warmup_steps:
        return float(step) / float(max(1, num_warmup_steps))
    shift = timescale - num_warmup_steps
    return 1.0 / math.sqrt((step + shift) / timescale)


def cosine_warmup_with_min_lr(
    step: int,
    *,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float,
    min_lr_rate: float,
    warmup_lr_rate: float | None = None,
) -> float:
    """A warmup that starts above 0, then a cosine from 1 down to ``min_lr_rate``, shifted by one step.

    Without ``warmup_lr_rate`` the warmup is ``(step + 1) / num_warmup_steps`` (so it reaches 1 on its
    last step); with it, the warmup goes linearly from ``warmup_lr_rate`` to 1 over its steps. The cosine's
    progress is ``(step - num_warmup_steps + 1) / (num_training_steps - num_warmup_steps)``. The arithmetic
    of ``transformers.optimization._get_cosine_with_min_lr_schedule_with_warmup_lr_rate_lambda``.

    Example:
        >>> [
        ...     round(cosine_warmup_with_min_lr(s, num_warmup_steps=2, num_training_steps=4, num_cycles=0.5, min_lr_rate=0.0), 4)
        ...     for s in range(5)
        ... ]
        [0.5, 1.0, 0.5, 0.0, 0.5]
    """
    current_step = float(step)
    warmup = float(num_warmup_steps)
    training = float(num_training_steps)
    if current_step < warmup:
        if warmup_lr_rate is None:
            return (current_step + 1.0) / max(1.0, warmup)
        rate = float(warmup_lr_rate)
        return rate + (1.0 - rate) * (current_step) / (max(1, warmup - 1))
    progress = (current_step - warmup + 1.0) / (max(1.0, training - warmup))
    factor = 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress))
    factor = factor * (1 - min_lr_rate) + min_lr_rate
    return float(max(0, factor))


def _wsd_shape(name: str, progress: float, *, rising: bool, num_cycles: float) -> float:
    """One warmup (``rising``) or decay shape of ``warmup_stable_decay`` at ``progress`` in [0, 1)."""
    if rising:
        if name == "linear":
            return progress
        if name == "cosine":
            return 0.5 * (1.0 - math.cos(math.pi * progress))
        return 1.0 - math.sqrt(1.0 - progress)
    if name == "linear":
        return 1.0 - progress
    if name == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))
    return 1.0 - math.sqrt(progress)


def warmup_stable_decay(
    step: int,
    *,
    num_warmup_steps: int,
    num_stable_steps: int,
    num_decay_steps: int,
    warmup_type: str = "linear",
    decay_type: str = "cosine",
    min_lr_ratio: float = 0.0,
    num_cycles: float = 0.5,
) -> float:
    """Warmup from ``min_lr_ratio`` to 1, a stable phase at 1, a decay back to ``min_lr_ratio``, then ``min_lr_ratio``.

    ``warmup_type`` and ``decay_type`` are ``"linear"``, ``"cosine"`` or ``"1-sqrt"``. The arithmetic of
    ``transformers.optimization._get_wsd_scheduler_lambda``.

    Example:
        >>> [
        ...     warmup_stable_decay(
        ...         s, num_warmup_steps=2, num_stable_steps=2, num_decay_steps=2, decay_type="linear", min_lr_ratio=0.5
        ...     )
        ...     for s in range(8)
        ... ]
        [0.5, 0.75, 1.0, 1.0, 1.0, 0.75, 0.5, 0.5]
    """
    if step < num_warmup_steps:
        progress = float(step) / float(max(1, num_warmup_steps))
        factor = _wsd_shape(warmup_type, progress, rising=True, num_cycles=num_cycles)
    elif step < num_warmup_steps + num_stable_steps:
        return 1.0
    elif step < num_warmup_steps + num_stable_steps + num_decay_steps:
        progress = float(step - num_warmup_steps - num_stable_steps) / float(max(1, num_decay_steps))
        factor = _wsd_shape(decay_type, progress, rising=False, num_cycles=num_cycles)
    else:
        return float(min_lr_ratio)
    factor = factor * (1.0 - min_lr_ratio) + min_lr_ratio
    return max(0.0, factor)


def resolve_warmup_steps(num_warmup_steps: float, num_training_steps: int | None) -> int:
    """The warmup's length in steps: a whole number as is, a fraction in (0, 1) of ``num_training_steps``.

    Exactly ``transformers.TrainingArguments.get_warmup_steps`` (``transformers/training_args.py``,
    5.24.0): ``int(warmup_steps) if warmup_steps >= 1 else math.ceil(num_training_steps * warmup_steps)``.
    The product is a float, so its rounding shows: ``100 * 0.07`` is ``7.000000000000001``, which
    ``transformers`` (and so this function) turns into 8 steps. The arguments are assumed checked.

    Example:
        >>> resolve_warmup_steps(0.1, 1000), resolve_warmup_steps(0.03, 333), resolve_warmup_steps(0.07, 100)
        (100, 10, 8)
        >>> resolve_warmup_steps(500, None), resolve_warmup_steps(0, None)
        (500, 0)
    """
    if num_warmup_steps >= 1 or num_warmup_steps == 0:
        return int(num_warmup_steps)
    if num_training_steps is None:
        raise ValueError(
            f"resolve_warmup_steps: Expected `num_training_steps` to be given for the fractional "
            f"`num_warmup_steps` {num_warmup_steps!r} but got None."
        )
    return math.ceil(num_training_steps * num_warmup_steps)


# --------------------------------------------------------------------------------------------------------
# Argument checks, in the package's voice: "Where: Expected `x` to be Y but got Z (did you mean `w`?)."
# --------------------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_optimizer(where: str, optimizer: Any) -> None:
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"{where}: Expected `optimizer` to be a torch.optim.Optimizer but got {optimizer!r}.")


def _check_steps(where: str, name: str, value: Any, *, minimum: int) -> int:
    """A whole number of steps ``>= minimum`` (an integral float such as ``100.0`` is accepted)."""
    expected = f"Expected `{name}` to be a whole number of steps >= {minimum} but got {value!r}."
    if not _is_number(value):
        raise TypeError(f"{where}: {expected}")
    if not isinstance(value, numbers.Integral) and not (math.isfinite(value) and float(value).is_integer()):
        raise ValueError(f"{where}: {expected}")
    if value < minimum:
        raise ValueError(f"{where}: {expected}")
    return int(value)


def _check_number(
    where: str,
    name: str,
    value: Any,
    accepted: str,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
) -> float:
    """A finite real number in ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    expected = f"Expected `{name}` to be {accepted} but got {value!r}."
    if not _is_number(value):
        raise TypeError(f"{where}: {expected}")
    number = float(value)
    too_low = number <= low if low_open else number < low
    if not math.isfinite(number) or too_low or number > high:
        raise ValueError(f"{where}: {expected}")
    return number


#: The two checks of most arguments: a positive number, a fraction of the initial lr.
_positive = functools.partial(_check_number, accepted="a number > 0", low=0.0, low_open=True)
_fraction = functools.partial(_check_number, accepted="a number in [0, 1]", low=0.0, high=1.0)


def _check_choice(where: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        listed = ", ".join(f"`{choice}`" for choice in choices)
        close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6) if isinstance(value, str) else []
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        raise ValueError(f"{where}: Expected `{name}` to be one of {listed} but got {value!r}{hint}.")
    return str(value)


def _check_last_epoch(where: str, value: Any) -> int:
    return _check_steps(where, "last_epoch", value, minimum=-1)


def _default_lr(where: str, optimizer: torch.optim.Optimizer, name: str) -> float:
    """``optimizer.defaults["lr"]``: what transformers measures an absolute ``name`` against."""
    lr: Any = optimizer.defaults.get("lr")
    if isinstance(lr, torch.Tensor) and lr.numel() == 1:
        lr = lr.item()
    if not _is_number(lr) or not lr > 0:
        raise ValueError(
            f"{where}: Expected the optimizer's default lr (`optimizer.defaults['lr']`, which transformers "
            f"measures `{name}` against) to be a positive number but got {lr!r}."
        )
    return float(lr)


class TransformersScheduleLR(LRScheduler):
    """Base of the schedules here: ``lr = base_lr * factor(last_epoch)`` in every param group.

    ``get_lr`` is the closed form, as in ``LambdaLR`` (the same product, in the same order), so the lr is
    the one ``transformers.get_scheduler`` gives at every step, also under ``step(epoch)`` and when another
    scheduler shares the optimizer. Subclasses name their multiplier (one of the pure functions above) and
    set its keyword arguments, checked, as attributes of the same names before calling ``super().__init__``.
    """

    #: The multiplier of this schedule; its keyword arguments are read from the attributes of the same names.
    multiplier: ClassVar[Multiplier] = staticmethod(constant)
    #: whether the schedule cannot do without ``num_training_steps`` (it decays to its end); the others take
    #: ``None`` for "no length" and need it only for a fractional warmup
    needs_length: ClassVar[bool] = False
    _arguments: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._arguments = tuple(inspect.signature(cls.multiplier).parameters)[1:]

    @classmethod
    def runs_without_length(cls, kwargs: Mapping[str, Any]) -> bool:
        """Whether the schedule built with the arguments ``kwargs`` takes ``num_training_steps=None`` as "no
        length" (an unbounded run) rather than refusing it (:attr:`needs_length`).

        Example:
            >>> InverseSqrtLR.runs_without_length({}), LinearWithWarmupLR.runs_without_length({})
            (True, False)
        """
        return not cls.needs_length

    @classmethod
    def reads_length(cls, kwargs: Mapping[str, Any]) -> bool:
        """Whether the schedule built with the arguments ``kwargs`` reads ``num_training_steps``: where it does not
        run without it (:meth:`runs_without_length`), and where ``num_warmup_steps`` is a fraction of it (or not
        a number yet: an ``HParam``). Otherwise a length given changes no lr: transformers'
        ``get_inverse_sqrt_schedule`` and ``get_constant_schedule_with_warmup`` take none.

        Example:
            >>> InverseSqrtLR.reads_length({"num_warmup_steps": 3}), InverseSqrtLR.reads_length({"num_warmup_steps": 0.1})
            (False, True)
            >>> LinearWithWarmupLR.reads_length({"num_warmup_steps": 3})
            True
        """
        warmup = kwargs.get("num_warmup_steps", 0)
        return not cls.runs_without_length(kwargs) or not (_is_number(warmup) and not 0 < warmup < 1)

    def _init_lengths(self, optimizer: Any, warmup: Any, length: Any) -> str:
        """Check ``optimizer``, set ``num_warmup_steps`` (whole, or a fraction in (0, 1) of the length) and
        ``num_training_steps``, and return the name errors start with.

        Where the schedule :attr:`needs_length`, ``num_training_steps`` has the default ``None`` only because it
        comes after ``num_warmup_steps`` (as in transformers, so positional calls carry over), which defaults to
        0: leaving it out is refused with a ``TypeError``, and a longer warmup is accepted, as in transformers,
        with a ``UserWarning``. Otherwise only a fractional warmup needs the length.
        """
        required = type(self).needs_length
        where = type(self).__name__
        _check_optimizer(where, optimizer)
        if required or length is not None:
            length = _check_steps(where, "num_training_steps", length, minimum=1)
        self.num_training_steps: int | None = length
        expected = (
            "Expected `num_warmup_steps` to be a whole number of steps >= 0 or a fraction of "
            f"`num_training_steps` in (0, 1) but got {warmup!r}."
        )
        if not _is_number(warmup):
            raise TypeError(f"{where}: {expected}")
        if not math.isfinite(warmup) or warmup < 0 or (warmup >= 1 and not float(warmup).is_integer()):
            raise ValueError(f"{where}: {expected}")
        if 0 < warmup < 1 and length is None:
            raise ValueError(
                f"{where}: `num_warmup_steps` {warmup!r} is a fraction of `num_training_steps`, so expected "
                "`num_training_steps` to be a whole number of steps but got None."
            )
        self.num_warmup_steps: int = resolve_warmup_steps(warmup, length)
        if required and self.num_warmup_steps > length:
            warnings.warn(
                f"{where}: `num_warmup_steps` ({self.num_warmup_steps}) is longer than `num_training_steps` "
                f"({length}): the lr never reaches its peak before the schedule ends.",
                UserWarning,
                stacklevel=3,  # the line building the schedule (through its `__init__`)
            )
        return where

    def factor(self, step: int) -> float:
        """The multiplier of each group's initial lr after ``step`` calls of ``step()``: see :attr:`multiplier`."""
        return type(self).multiplier(step, **{name: getattr(self, name) for name in self._arguments})

    def get_lr(self) -> list[float | torch.Tensor]:
        """Each group's lr at ``last_epoch``: its initial lr times :meth:`factor`."""
        factor = self.factor(self.last_epoch)
        return [base_lr * factor for base_lr in self.base_lrs]

    def _get_closed_form_lr(self) -> list[float | torch.Tensor]:
        return self.get_lr()


class ConstantScheduleLR(TransformersScheduleLR):
    """transformers' ``"constant"``: the initial lr, unchanged (``get_constant_schedule``).

    Named so as not to be confused with torch's ``ConstantLR`` (a factor for ``total_iters`` steps).
    ``transformers.get_scheduler("constant", ...)`` ignores ``num_warmup_steps``; here a warmup is refused
    instead of ignored: use :class:`ConstantWithWarmupLR`.

    Args:
        optimizer: the optimizer whose lrs are scheduled.
        last_epoch: the index of the last step when resuming (``-1``: a fresh start).
        num_warmup_steps: must be 0 (accepted so that a recipe's ``warmup_steps: 0`` carries over).

    Example:
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        >>> sched = ConstantScheduleLR(opt)
        >>> opt.step(); sched.step(); sched.get_last_lr()
        [0.1]
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, last_epoch: int = -1, *, num_warmup_steps: int = 0
    ) -> None:
        where = type(self).__name__
        _check_optimizer(where, optimizer)
        if not (_is_number(num_warmup_steps) and num_warmup_steps == 0):
            raise ValueError(
                f'{where}: Expected `num_warmup_steps` to be 0 (transformers\' "constant" schedule has no '
                f"warmup) but got {num_warmup_steps!r} (did you mean `ConstantWithWarmupLR`, "
                '"constant_with_warmup"?).'
            )
        self.num_warmup_steps = 0
        super().__init__(optimizer, _check_last_epoch(where, last_epoch))


class ConstantWithWarmupLR(TransformersScheduleLR):
    """transformers' ``"constant_with_warmup"``: linear warmup from 0, then the initial lr.

    ``transformers.optimization.get_constant_schedule_with_warmup``; the multiplier is
    :func:`constant_with_warmup`.

    Args:
        optimizer: the optimizer whose lrs are scheduled.
        num_warmup_steps: the warmup's steps, or a fraction in (0, 1) of ``num_training_steps``.
        last_epoch: the index of the last step when resuming (``-1``: a fresh start).
        num_training_steps: only needed for a fractional ``num_warmup_steps`` (keyword-only: transformers'
            function does not take it).

    Example:
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = ConstantWithWarmupLR(opt, num_warmup_steps=0.5, num_training_steps=4)
        >>> lrs = []
        >>> for _ in range(4):
        ...     lrs.append(opt.param_groups[0]["lr"])
        ...     opt.step()
        ...     sched.step()
        >>> lrs
        [0.0, 0.5, 1.0, 1.0]
    """

    multiplier: ClassVar[Multiplier] = staticmethod(constant_with_warmup)

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        num_warmup_steps: int | float = 0,
        last_epoch: int = -1,
        *,
        num_training_steps: int | None = None,
    ) -> None:
        where = self._init_lengths(optimizer, num_warmup_steps, num_training_steps)
        super().__init__(optimizer, _check_last_epoch(where, last_epoch))


class LinearWithWarmupLR(TransformersScheduleLR):
    """transformers' ``"linear"`` (its default): linear warmup from 0, then linear decay to 0.

    ``transformers.optimization.get_linear_schedule_with_warmup``; the multiplier is
    :func:`linear_with_warmup`. The lr is 0 from ``num_training_steps`` on.

    Args:
        optimizer: the optimizer whose lrs are scheduled.
        num_warmup_steps: the warmup's steps, or a fraction in (0, 1) of ``num_training_steps``.
        num_training_steps: the schedule's length in steps (the lr reaches 0 there).
        last_epoch: the index of the last step when resuming (``-1``: a fresh start).

    Example:
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = LinearWithWarmupLR(opt, num_warmup_steps=1, num_training_steps=3)
        >>> lrs = []
        >>> for _ in range(4):
        ...     lrs.append(opt.param_groups[0]["lr"])
        ...     opt.step()
        ...     sched.step()
        >>> lrs
        [0.0, 1.0, 0.5, 0.0]
    """

    multiplier: ClassVar[Multiplier] = staticmethod(linear_with_warmup)
    needs_length = True

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        num_warmup_steps: int | float = 0,
        num_training_steps: int | None = None,
        last_epoch: int = -1,
    ) -> None:
        where = self._init_lengths(optimizer, num_warmup_steps, num_training_steps)
        super().__init__(optimizer, _check_last_epoch(where, last_epoch))


class CosineWithWarmupLR(TransformersScheduleLR):
    """transformers' ``"cosine"``: linear warmup from 0, then a cosine from the initial lr to 0.

    ``transformers.optimization.get_cosine_schedule_with_warmup``; the multiplier is
    :func:`cosine_with_warmup`. ``num_cycles`` waves over the decay phase: the default ``0.5`` is a half
    cosine ending at 0; the cosine goes on (and up again) after ``num_training_steps``.

    Args:
        optimizer: the optimizer whose lrs are scheduled.
        num_warmup_steps: the warmup's steps, or a fraction in (0, 1) of ``num_training_steps``.
        num_training_steps: the schedule's length in steps.
        num_cycles: the number of cosine waves in the decay phase, a positive number.
        last_epoch: the index of the last step when resuming (``-1``: a fresh start).

    Example:
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = CosineWithWarmupLR(opt, num_warmup_steps=0, num_training_steps=2)
        >>> lrs = []
        >>> for _ in range(3):
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        ...     opt.step()
        ...     sched.step()
        >>> lrs
        [1.0, 0.5, 0.0]
    """

    multiplier: ClassVar[Multiplier] = staticmethod(cosine_with_warmup)
    needs_length = True

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        num_warmup_steps: int | float = 0,
        num_training_steps: int | None = None,
        num_cycles: float = 0.5,
        last_epoch: int = -1,
    ) -> None:
        where = self._init_lengths(optimizer, num_warmup_steps, num_training_steps)
        self.num_cycles: float = _positive(where, "num_cycles", num_cycles)
        super().__init__(optimizer, _check_last_epoch(where, last_epoch))


class CosineWithHardRestartsLR(TransformersScheduleLR):
    """transformers' ``"cosine_with_restarts"``: linear warmup, then ``num_cycles`` cosines that each restart.

    ``transformers.optimization.get_cosine_with_hard_restarts_schedule_with_warmup``; the multiplier is
    :func:`cosine_with_hard_restarts`. Each cosine goes from the initial lr to 0; the lr is 0 from
    ``num_training_steps`` on.

    Args:
        optimizer: the optimizer whose lrs are scheduled.
        num_warmup_steps: the warmup's steps, or a fraction in (0, 1) of ``num_training_steps``.
        num_training_steps: the schedule's length in steps.
        num_cycles: the number of cosines (transformers' default 1), a positive number.
        last_epoch: the index of the last step when resuming (``-1``: a fresh start).

    Example:
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = CosineWithHardRestartsLR(opt, num_training_steps=4, num_cycles=2)
        >>> lrs = []
        >>> for _ in range(5):
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        ...     opt.step()
        ...     sched.step()
        >>> lrs
        [1.0, 0.5, 1.0, 0.5, 0.0]
    """

    multiplier: ClassVar[Multiplier] = staticmethod(cosine_with_hard_restarts)
    needs_length = True

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        num_warmup_steps: int | float = 0,
        num_training_steps: int | None = None,
        num_cycles: int | float = 1,
        last_epoch: int = -1,
    ) -> None:
        where = self._init_lengths(optimizer, num_warmup_steps, num_training_steps)
        self.num_cycles: float = _positive(where, "num_cycles", num_cycles)
        super().__init__(optimizer, _check_last_epoch(where, last_epoch))


class PolynomialDecayWithWarmupLR(TransformersScheduleLR):
    """transformers' ``"polynomial"``: linear warmup, then a polynomial decay to the absolute lr ``lr_end``.

    ``transformers.optimization.get_polynomial_decay_schedule_with_warmup``; the multiplier is
    :func:`polynomial_decay_with_warmup`. As in transformers, the decay runs from the optimizer's default lr
    ``optimizer.defaults["lr"]`` (read when this scheduler is built, kept as ``lr_init``) to ``lr_end``, and
    every param group gets the same multiplier: a group whose own lr differs from the default ends at
    ``lr_end * group_lr / lr_init``, not at ``lr_end``. After ``num_training_steps`` the lr stays there.

    Args:
        optimizer: the optimizer whose lrs are scheduled.
        num_warmup_steps: the warmup's steps, or a fraction in (0, 1) of ``num_training_steps``; fewer than
            ``num_training_steps`` (transformers divides by their difference).
        num_training_steps: the schedule's length in steps.
        lr_end: the final lr, ``>= 0`` and below ``optimizer.defaults["lr"]`` (transformers' default 1e-7).
        power: the decay's power, a positive number (1.0: linear, as in fairseq and BERT).
        last_epoch: the index of the last step when resuming (``-1``: a fresh start).

    Example:
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = PolynomialDecayWithWarmupLR(opt, num_training_steps=2, lr_end=0.5, power=1.0)
        >>> lrs = []
        >>> for _ in range(4):
        ...     lrs.append(opt.param_groups[0]["lr"])
        ...     opt.step()
        ...     sched.step()
        >>> lrs
        [1.0, 0.75, 0.5, 0.5]
    """

    multiplier: ClassVar[Multiplier] = staticmethod(polynomial_decay_with_warmup)
    needs_length = True

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        num_warmup_steps: int | float = 0,
        num_training_steps: int | None = None,
        lr_end: float = 1e-7,
        power: float = 1.0,
        last_epoch: int = -1,
    ) -> None:
        where = self._init_lengths(optimizer, num_warmup_steps, num_training_steps)
        if self.num_warmup_steps == self.num_training_steps:
            given = f"{num_warmup_steps!r}"
            if given != str(self.num_warmup_steps):
                given += f" ({self.num_warmup_steps} steps)"
            raise ValueError(
                f"{where}: Expected `num_warmup_steps` to differ from `num_training_steps` "
                f"({self.num_training_steps}): the polynomial decay divides by their difference, "
                f"but got {given}."
            )
        self.lr_init: float = _default_lr(where, optimizer, "lr_end")
        self.lr_end: float = _check_number(
            where, "lr_end", lr_end, f"a number >= 0 below the optimizer's lr {self.lr_init!r}", low=0.0
        )
        if not self.lr_init > self.lr_end:
            raise ValueError(
                f"{where}: Expected `lr_end` to be a number >= 0 below the optimizer's lr {self.lr_init!r} "
                f"(`optimizer.defaults['lr']`, where the decay starts) but got {lr_end!r}."
            )
        self.power: float = _positive(where, "power", power)
        super().__init__(optimizer, _check_last_epoch(where, last_epoch))


class InverseSqrtLR(TransformersScheduleLR):
    """transformers' ``"inverse_sqrt"``: linear warmup, then the lr divided by ``sqrt`` of the time scaled.

    ``transformers.optimization.get_inverse_sqrt_schedule``; the multiplier is :func:`inverse_sqrt`. As in
    transformers, ``timescale`` defaults to ``num_warmup_steps``, or to 10 000 without a warmup. The
    schedule has no end, so ``num_training_steps`` is only needed for a fractional ``num_warmup_steps``.

    Args:
        optimizer: the optimizer whose lrs are scheduled.
        num_warmup_steps: the warmup's steps, or a fraction in (0, 1) of ``num_training_steps``.
        timescale: the decay's time scale, a whole number >= 1 (the lr is half its peak ``3 * timescale``
            steps after the warmup); ``None``: ``num_warmup_steps or 10_000``, as in transformers.
        last_epoch: the index of the last step when resuming (``-1``: a fresh start).
        num_training_steps: only needed for a fractional ``num_warmup_steps`` (keyword-only: transformers'
            function does not take it).

    Example:
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = InverseSqrtLR(opt, num_warmup_steps=1)
        >>> lrs = []
        >>> for _ in range(5):
        ...     lrs.append(opt.param_groups[0]["lr"])
        ...     opt.step()
        ...     sched.step()
        >>> lrs
        [0.0, 1.0, 0.7071067811865475, 0.5773502691896258, 0.5]
    """

    multiplier: ClassVar[Multiplier] = staticmethod(inverse_sqrt)

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        num_warmup_steps: int | float = 0,
        timescale: int | None = None,
        last_epoch: int = -1,
        *,
        num_training_steps: int | None = None,
    ) -> None:
        where = self._init_lengths(optimizer, num_warmup_steps, num_training_steps)
        if timescale is None:
            timescale = self.num_warmup_steps or 10_000
        self.timescale: int = _check_steps(where, "timescale", timescale, minimum=1)
        super().__init__(optimizer, _check_last_epoch(where, last_epoch))


def _min_lr_rate(where: str, optimizer: torch.optim.Optimizer, min_lr: Any, min_lr_rate: Any) -> float:
    """The floor as a fraction of the initial lr, from exactly one of ``min_lr`` and ``min_lr_rate``.

    As ``get_cosine_with_min_lr_schedule_with_warmup`` computes it: ``min_lr / optimizer.defaults["lr"]``.
    """
    if min_lr is not None and min_lr_rate is not None:
        raise ValueError(
            f"{where}: Expected one of `min_lr` and `min_lr_rate` but got both "
            f"(min_lr={min_lr!r}, min_lr_rate={min_lr_rate!r})."
        )
    if min_lr is not None:
        lr = _default_lr(where, optimizer, "min_lr")
        _check_number(
            where, "min_lr", min_lr, f"a number >= 0 at most the optimizer's lr {lr!r}", low=0.0, high=lr
        )
        return float(min_lr) / lr
    if min_lr_rate is None:
        raise TypeError(
            f"{where}: Expected `min_lr` (an lr) or `min_lr_rate` (a fraction of the initial lr) but got "
            "neither (transformers requires one of them too)."
        )
    return _fraction(where, "min_lr_rate", min_lr_rate)


class CosineWithMinLR(TransformersScheduleLR):
    """transformers' ``"cosine_with_min_lr"``: linear warmup from 0, then a cosine down to a floor.

    ``transformers.optimization.get_cosine_with_min_lr_schedule_with_warmup``; the multiplier is
    :func:`cosine_with_min_lr`. The floor is ``min_lr_rate`` times each group's initial lr; an absolute
    ``min_lr`` is turned into ``min_lr / optimizer.defaults["lr"]`` (as in transformers), so groups whose
    lr differs from the default keep the same ratio. Exactly one of the two is given.

    Args:
        optimizer: the optimizer whose lrs are scheduled.
        num_warmup_steps: the warmup's steps, or a fraction in (0, 1) of ``num_training_steps``.
        num_training_steps: the schedule's length in steps.
        num_cycles: the number of cosine waves in the decay phase, a positive number.
        last_epoch: the index of the last step when resuming (``-1``: a fresh start).
        min_lr: the floor as an lr, ``>= 0`` and at most ``optimizer.defaults["lr"]``.
        min_lr_rate: the floor as a fraction in [0, 1] of the initial lr.

    Example:
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = CosineWithMinLR(opt, num_training_steps=2, min_lr=0.5)
        >>> lrs = []
        >>> for _ in range(3):
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        ...     opt.step()
        ...     sched.step()
        >>> lrs
        [1.0, 0.75, 0.5]
    """

    multiplier: ClassVar[Multiplier] = staticmethod(cosine_with_min_lr)
    needs_length = True

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        num_warmup_steps: int | float = 0,
        num_training_steps: int | None = None,
        num_cycles: float = 0.5,
        last_epoch: int = -1,
        min_lr: float | None = None,
        min_lr_rate: float | None = None,
    ) -> None:
        where = self._init_lengths(optimizer, num_warmup_steps, num_training_steps)
        self.num_cycles: float = _positive(where, "num_cycles", num_cycles)
        self.min_lr = min_lr
        self.min_lr_rate: float = _min_lr_rate(where, optimizer, min_lr, min_lr_rate)
        super().__init__(optimizer, _check_last_epoch(where, last_epoch))


class CosineWarmupWithMinLR(TransformersScheduleLR):
    """transformers' ``"cosine_warmup_with_min_lr"``: a warmup that starts above 0, then a cosine to a floor.

    ``transformers.optimization.get_cosine_with_min_lr_schedule_with_warmup_lr_rate``; the multiplier is
    :func:`cosine_warmup_with_min_lr`. It differs from :class:`CosineWithMinLR` by one step: the warmup's
    first lr is ``1 / num_warmup_steps`` of the peak (or ``warmup_lr_rate``), the peak is reached on the
    warmup's last step, and the cosine reaches its floor one step before ``num_training_steps``. The floor
    is given as for :class:`CosineWithMinLR`.

    Args:
        optimizer: the optimizer whose lrs are scheduled.
        num_warmup_steps: the warmup's steps, or a fraction in (0, 1) of ``num_training_steps``.
        num_training_steps: the schedule's length in steps.
        num_cycles: the number of cosine waves in the decay phase, a positive number.
        last_epoch: the index of the last step when resuming (``-1``: a fresh start).
        min_lr: the floor as an lr, ``>= 0`` and at most ``optimizer.defaults["lr"]``.
        min_lr_rate: the floor as a fraction in [0, 1] of the initial lr.
        warmup_lr_rate: the warmup's first multiplier, in [0, 1]; ``None``: ``1 / num_warmup_steps``.

    Example:
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = CosineWarmupWithMinLR(opt, num_warmup_steps=2, num_training_steps=4, min_lr_rate=0.0)
        >>> lrs = []
        >>> for _ in range(4):
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        ...     opt.step()
        ...     sched.step()
        >>> lrs
        [0.5, 1.0, 0.5, 0.0]
    """

    multiplier: ClassVar[Multiplier] = staticmethod(cosine_warmup_with_min_lr)
    needs_length = True

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        num_warmup_steps: int | float = 0,
        num_training_steps: int | None = None,
        num_cycles: float = 0.5,
        last_epoch: int = -1,
        min_lr: float | None = None,
        min_lr_rate: float | None = None,
        warmup_lr_rate: float | None = None,
    ) -> None:
        where = self._init_lengths(optimizer, num_warmup_steps, num_training_steps)
        self.num_cycles: float = _positive(where, "num_cycles", num_cycles)
        self.min_lr = min_lr
        self.min_lr_rate: float = _min_lr_rate(where, optimizer, min_lr, min_lr_rate)
        if warmup_lr_rate is not None:
            _check_number(
                where, "warmup_lr_rate", warmup_lr_rate, "a number in [0, 1] or None", low=0.0, high=1.0
            )
        self.warmup_lr_rate = warmup_lr_rate
        super().__init__(optimizer, _check_last_epoch(where, last_epoch))


class WarmupStableDecayLR(TransformersScheduleLR):
    """transformers' ``"warmup_stable_decay"``: warmup, a stable phase at the peak, a decay, then the floor.

    ``transformers.optimization.get_wsd_schedule``; the multiplier is :func:`warmup_stable_decay`. The
    warmup rises from ``min_lr_ratio`` to 1 and the decay falls back to ``min_lr_ratio``, each with its
    shape (``"linear"``, ``"cosine"`` or ``"1-sqrt"``); after the decay the lr stays at the floor. The
    stable phase lasts ``num_stable_steps`` or, when that is not given,
    ``num_training_steps - num_warmup_steps - num_decay_steps``. Unlike transformers, giving both
    ``num_training_steps`` and ``num_stable_steps`` does not warn (the package may fill in
    ``num_training_steps`` from the run): ``num_stable_steps`` wins, and ``num_training_steps`` then only
    resolves a fractional ``num_warmup_steps``.

    Args:
        optimizer: the optimizer whose lrs are scheduled.
        num_warmup_steps: the warmup's steps, or a fraction in (0, 1) of ``num_training_steps``.
        num_decay_steps: the decay's steps, a whole number >= 0 (required, as in transformers).
        num_training_steps: the schedule's length in steps; needed unless ``num_stable_steps`` is given.
        num_stable_steps: the stable phase's steps, a whole number >= 0; ``None``: what is left of
            ``num_training_steps``.
        warmup_type: the warmup's shape.
        decay_type: the decay's shape.
        min_lr_ratio: the floor as a fraction in [0, 1] of the initial lr (where the warmup starts too).
        num_cycles: the number of cosine waves of a ``"cosine"`` decay, a positive number.
        last_epoch: the index of the last step when resuming (``-1``: a fresh start).

    Example:
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = WarmupStableDecayLR(opt, 1, 2, 5, decay_type="linear")
        >>> lrs = []
        >>> for _ in range(6):
        ...     lrs.append(opt.param_groups[0]["lr"])
        ...     opt.step()
        ...     sched.step()
        >>> lrs
        [0.0, 1.0, 1.0, 1.0, 0.5, 0.0]
    """

    multiplier: ClassVar[Multiplier] = staticmethod(warmup_stable_decay)

    @classmethod
    def runs_without_length(cls, kwargs: Mapping[str, Any]) -> bool:
        """Only with ``num_stable_steps``, which then sets where the decay starts.

        Example:
            >>> WarmupStableDecayLR.runs_without_length({"num_stable_steps": 4}), WarmupStableDecayLR.runs_without_length({})
            (True, False)
        """
        return kwargs.get("num_stable_steps") is not None

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        num_warmup_steps: int | float = 0,
        num_decay_steps: int | None = None,
        num_training_steps: int | None = None,
        num_stable_steps: int | None = None,
        warmup_type: Literal["linear", "cosine", "1-sqrt"] = "linear",
        decay_type: Literal["linear", "cosine", "1-sqrt"] = "cosine",
        min_lr_ratio: float = 0.0,
        num_cycles: float = 0.5,
        last_epoch: int = -1,
    ) -> None:
        where = self._init_lengths(optimizer, num_warmup_steps, num_training_steps)
        self.num_decay_steps: int = _check_steps(where, "num_decay_steps", num_decay_steps, minimum=0)
        if num_stable_steps is not None:
            self.num_stable_steps: int = _check_steps(where, "num_stable_steps", num_stable_steps, minimum=0)
        elif self.num_training_steps is None:
            raise TypeError(
                f"{where}: Expected `num_training_steps` or `num_stable_steps` to be a whole number of steps "
                "but got neither (the stable phase's length comes from one of them)."
            )
        else:
            self.num_stable_steps = self.num_training_steps - self.num_warmup_steps - self.num_decay_steps
            if self.num_stable_steps < 0:
                warnings.warn(
                    f"{where}: `num_warmup_steps` ({self.num_warmup_steps}) and `num_decay_steps` "
                    f"({self.num_decay_steps}) add up to more than `num_training_steps` ({self.num_training_steps}): "
                    f"the stable phase is {self.num_stable_steps} steps long, so the decay's first "
                    f"{-self.num_stable_steps} steps are skipped (as in transformers).",
                    UserWarning,
                    stacklevel=2,
                )
        self.warmup_type: str = _check_choice(where, "warmup_type", warmup_type, WSD_SHAPES)
        self.decay_type: str = _check_choice(where, "decay_type", decay_type, WSD_SHAPES)
        self.min_lr_ratio: float = _fraction(where, "min_lr_ratio", min_lr_ratio)
        self.num_cycles: float = _positive(where, "num_cycles", num_cycles)
        super().__init__(optimizer, _check_last_epoch(where, last_epoch))


#: Each ``transformers.SchedulerType`` value with a class here, by its name.
TRANSFORMERS_SCHEDULES: Mapping[str, type[TransformersScheduleLR]] = MappingProxyType(
    {
        "linear": LinearWithWarmupLR,
        "cosine": CosineWithWarmupLR,
        "cosine_with_restarts": CosineWithHardRestartsLR,
        "polynomial": PolynomialDecayWithWarmupLR,
        "constant": ConstantScheduleLR,
        "constant_with_warmup": ConstantWithWarmupLR,
        "inverse_sqrt": InverseSqrtLR,
        "cosine_with_min_lr": CosineWithMinLR,
        "cosine_warmup_with_min_lr": CosineWarmupWithMinLR,
        "warmup_stable_decay": WarmupStableDecayLR,
    }
)

#: The ``transformers.SchedulerType`` values without a class here, and why.
UNPORTED_SCHEDULES: Mapping[str, str] = MappingProxyType(
    {
        "reduce_lr_on_plateau": (
            "transformers builds torch's own `torch.optim.lr_scheduler.ReduceLROnPlateau` "
            "(`get_reduce_on_plateau_schedule`): use it directly."
        ),
        "greedy": (
            "transformers' `GreedyLR` (`get_greedy_schedule`) raises or lowers the lr from a monitored metric "
            "(`step(metrics)`), like `ReduceLROnPlateau`: it is not a function of the step, so it has no "
            'closed form to reproduce here; `"plateau"` (`ReduceLROnPlateau`) is the metric-driven schedule.'
        ),
    }
)

#: ``transformers``' schedule functions by name -> their ``SchedulerType`` value (the name here is
#: ``transformers/<value>``): ``transformers.optimization.TYPE_TO_SCHEDULER_FUNCTION`` (transformers 5.24) read the
#: other way, for a declaration naming the function (``SchedulerSpec(get_linear_schedule_with_warmup)``).
TRANSFORMERS_FUNCTIONS: Mapping[str, str] = MappingProxyType(
    {
        "get_linear_schedule_with_warmup": "linear",
        "get_cosine_schedule_with_warmup": "cosine",
        "get_cosine_with_hard_restarts_schedule_with_warmup": "cosine_with_restarts",
        "get_polynomial_decay_schedule_with_warmup": "polynomial",
        "get_constant_schedule": "constant",
        "get_constant_schedule_with_warmup": "constant_with_warmup",
        "get_inverse_sqrt_schedule": "inverse_sqrt",
        "get_reduce_on_plateau_schedule": "reduce_lr_on_plateau",
        "get_cosine_with_min_lr_schedule_with_warmup": "cosine_with_min_lr",
        "get_cosine_with_min_lr_schedule_with_warmup_lr_rate": "cosine_warmup_with_min_lr",
        "get_wsd_schedule": "warmup_stable_decay",
        "get_greedy_schedule": "greedy",
    }
)
