"""timm's cosine schedule with warmup, cycles and k-decay, as a real ``torch`` ``LRScheduler``.

Recipes ported from timm (``train.py --sched cosine``) use ``timm.scheduler.CosineLRScheduler``, which is
not a ``torch.optim.lr_scheduler.LRScheduler``: it is stepped with an explicit count
(``step(epoch)`` / ``step_update(num_updates)``), so Lightning cannot drive it, and timm cannot always be
installed next to a given torch. ``TimmCosineLR`` computes the same learning rates, in the same floating
point operations, as an ordinary ``LRScheduler`` that Lightning steps per epoch or per optimizer step.

Source transcribed: ``timm/scheduler/cosine_lr.py`` (``CosineLRScheduler.__init__``, ``_get_lr``,
``get_cycle_length``) and ``timm/scheduler/scheduler.py`` (``Scheduler.__init__``, ``update_groups``) of
huggingface/pytorch-image-models at commit ``aa4b5850c1543fa488abf260f18390eda46cf85d`` (2026-08-08; the
scheduler files last changed in ``31a85de79aad229c070c595c5ea0c43dfc95461e``).

How timm's count maps onto this scheduler: ``last_epoch`` *is* timm's ``t``. timm's ``train.py`` sets the
lr for ``t = 0`` at construction, then calls ``step(epoch + 1)`` after each epoch (``t_in_epochs=True``)
or ``step_update(num_updates)`` after each optimizer update (``t_in_epochs=False``). A torch
``LRScheduler`` also sets ``t = 0`` at construction and adds one per ``step()``, so stepping this scheduler
per epoch (Lightning ``interval="epoch"``) or per optimizer step (``interval="step"``) reproduces timm's lr
at every epoch or update.
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["TimmCosineLR", "cycle_length", "timm_cosine_lr"]


def _check_int(where: str, name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        hint = ""  # a whole float or a digit string: "did you mean" the int
        if (isinstance(value, float) and value.is_integer()) or (
            isinstance(value, str) and value.strip().lstrip("-").isdigit()
        ):
            hint = f" (did you mean `{int(value)}`?)"
        raise TypeError(f"{where}: Expected `{name}` to be an int >= {minimum} but got {value!r}{hint}.")
    if value < minimum:
        raise ValueError(f"{where}: Expected `{name}` to be an int >= {minimum} but got {value!r}.")
    return int(value)


def _check_float(where: str, name: str, value: Any, minimum: float, strict: bool = False) -> float:
    """``value`` as a float, finite and ``> minimum`` (``strict``) or ``>= minimum``."""
    accepted = f"{'>' if strict else '>='} {minimum:g}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        hint = ""
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                hint = f" (did you mean `{float(value)!r}`?)"
        raise TypeError(f"{where}: Expected `{name}` to be a float {accepted} but got {value!r}{hint}.")
    number = float(value)
    if not math.isfinite(number) or number < minimum or (strict and number == minimum):
        raise ValueError(f"{where}: Expected `{name}` to be a finite float {accepted} but got {value!r}.")
    return number


def _check_bool(where: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        hint = ""  # 0/1 or "true"/"false": "did you mean" the bool
        if isinstance(value, int) and value in (0, 1):
            hint = f" (did you mean `{bool(value)}`?)"
        elif isinstance(value, str) and value.strip().lower() in ("true", "false"):
            hint = f" (did you mean `{value.strip().lower() == 'true'}`?)"
        raise TypeError(f"{where}: Expected `{name}` to be a bool but got {value!r}{hint}.")
    return value


#: timm's options of the schedule (``t_in_epochs`` is only recorded), each with its check, in checking order.
_OPTIONS: dict[str, Callable[[str, str, Any], Any]] = {
    "t_initial": functools.partial(_check_int, minimum=1),
    "lr_min": functools.partial(_check_float, minimum=0),
    "cycle_mul": functools.partial(_check_float, minimum=0, strict=True),
    "cycle_decay": functools.partial(_check_float, minimum=0),
    "cycle_limit": functools.partial(_check_int, minimum=1),
    "warmup_t": functools.partial(_check_int, minimum=0),
    "warmup_lr_init": functools.partial(_check_float, minimum=0),
    "warmup_prefix": _check_bool,
    "k_decay": functools.partial(_check_float, minimum=0, strict=True),
}


def _check_options(where: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The options among ``arguments`` (a caller's ``locals()``) checked and normalised (ints as ``int``,
    reals as ``float``), keyed by their names."""
    return {name: check(where, name, arguments[name]) for name, check in _OPTIONS.items()}


#: the lrs of the schedule besides the groups' own (its floor, its warmup's start): one value, or one per group
PER_GROUP = ("lr_min", "warmup_lr_init")


def _check_per_group(where: str, name: str, value: Any, groups: int) -> float | list[float]:
    """One of ``PER_GROUP`` checked as ``_OPTIONS`` checks it: one value, or a list or tuple of one per group.

    Example:
        >>> _check_per_group("TimmCosineLR", "lr_min", (1, 0.5), groups=2)
        [1.0, 0.5]
        >>> _check_per_group("TimmCosineLR", "lr_min", [0.1], groups=2)
        Traceback (most recent call last):
        ...
        ValueError: TimmCosineLR: Expected `lr_min` to be a float or one per param group (2) but got 1: [0.1].
    """
    check = _OPTIONS[name]
    if not isinstance(value, (list, tuple)):
        return float(check(where, name, value))
    if len(value) != groups:
        raise ValueError(
            f"{where}: Expected `{name}` to be a float or one per param group ({groups}) but got "
            f"{len(value)}: {value!r}."
        )
    return [float(check(where, f"{name}[{i}]", v)) for i, v in enumerate(value)]


def _lr(
    t: int,
    base_lr: float,
    t_initial: int,
    lr_min: float,
    cycle_mul: float,
    cycle_decay: float,
    cycle_limit: int,
    warmup_t: int,
    warmup_lr_init: float,
    warmup_prefix: bool,
    k_decay: float,
) -> float:
    """``CosineLRScheduler._get_lr(t)`` for one group, unchecked; same operations in the same order."""
    if t < warmup_t:
        # timm: self.warmup_steps = [(v - warmup_lr_init) / self.warmup_t for v in self.base_values]
        #       lrs = [self.warmup_lr_init + t * s for s in self.warmup_steps]
        return warmup_lr_init + t * ((base_lr - warmup_lr_init) / warmup_t)
    if warmup_prefix:
        t = t - warmup_t
    if cycle_mul != 1:
        argument = 1 - t / t_initial * (1 - cycle_mul)
        if argument <= 0:
            # Only for cycle_mul < 1: the cycles shrink geometrically and all infinitely many of them are over
            # at t >= t_initial / (1 - cycle_mul). timm raises a math domain error here; the limit of its lr
            # (the cycle index grows past any cycle_limit) is lr_min.
            return lr_min
        i = math.floor(math.log(argument, cycle_mul))
        t_i: float = cycle_mul**i * t_initial
        t_curr: float = t - (1 - cycle_mul**i) / (1 - cycle_mul) * t_initial
    else:
        i = t // t_initial
        t_i = t_initial
        t_curr = t - (t_initial * i)
    if i >= cycle_limit:
        return lr_min
    lr_max = base_lr * cycle_decay**i
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * t_curr**k_decay / t_i**k_decay))


def timm_cosine_lr(
    t: int,
    base_lr: float,
    *,
    t_initial: int,
    lr_min: float = 0.0,
    cycle_mul: float = 1.0,
    cycle_decay: float = 1.0,
    cycle_limit: int = 1,
    warmup_t: int = 0,
    warmup_lr_init: float = 0.0,
    warmup_prefix: bool = False,
    k_decay: float = 1.0,
) -> float:
    """The lr timm's ``CosineLRScheduler`` sets at count ``t`` for a group whose initial lr is ``base_lr``.

    ``t < warmup_t``: linear from ``warmup_lr_init`` (at ``t = 0``) towards ``base_lr`` (reached at
    ``t = warmup_t``). Then cosine cycles from ``base_lr * cycle_decay**i`` down to ``lr_min``; cycle ``i``
    lasts ``t_initial * cycle_mul**i``, and ``t`` counts from ``warmup_t`` when ``warmup_prefix`` (else
    from ``0``, so the warmup eats the start of the first cycle). Within a cycle the cosine runs over
    ``t_curr**k_decay / t_i**k_decay`` (k-decay, https://arxiv.org/abs/2004.05909). From cycle
    ``cycle_limit`` on the lr stays at ``lr_min``.

    Args:
        t: timm's count: epochs done (per-epoch schedule) or optimizer updates done (per-update schedule).
        base_lr: the group's initial lr (timm's ``base_values``, torch's ``initial_lr``).
        t_initial: the length of the first cycle, in units of ``t``.
        lr_min: the lr at the end of every cycle and after the last one.
        cycle_mul: each cycle is this many times longer than the one before.
        cycle_decay: each cycle's peak is this many times the one before.
        cycle_limit: the number of cycles.
        warmup_t: the length of the linear warmup, in units of ``t``.
        warmup_lr_init: the lr at ``t = 0`` of the warmup.
        warmup_prefix: whether the cycles start after the warmup (``True``) or at ``t = 0`` (``False``).
        k_decay: the k-decay exponent (``1`` is the plain cosine).

    Returns:
        The lr, equal (bit for bit) to timm's ``CosineLRScheduler._get_lr(t)`` for this group. Where timm
        raises a math domain error (``cycle_mul < 1`` once all its shrinking cycles are over), ``lr_min``.

    Raises:
        TypeError, ValueError: for a negative ``t`` or an option outside what timm accepts.

    Example:
        >>> timm_cosine_lr(0, 1.0, t_initial=4)
        1.0
        >>> [round(timm_cosine_lr(t, 1.0, t_initial=4), 4) for t in range(6)]
        [1.0, 0.8536, 0.5, 0.1464, 0.0, 0.0]
        >>> [round(timm_cosine_lr(t, 1.0, t_initial=2, warmup_t=2, warmup_prefix=True), 4) for t in range(5)]
        [0.0, 0.5, 1.0, 0.5, 0.0]
        >>> [timm_cosine_lr(t, 1.0, t_initial=2, cycle_limit=2, cycle_decay=0.5) for t in range(5)]
        [1.0, 0.5, 0.5, 0.25, 0.0]
    """
    where = "timm_cosine_lr"
    step = _check_int(where, "t", t, 0)
    base = _check_float(where, "base_lr", base_lr, 0)
    options = _check_options(where, locals())
    return _lr(step, base, **options)


def cycle_length(
    t_initial: int,
    *,
    cycle_mul: float = 1.0,
    cycle_limit: int = 1,
    warmup_t: int = 0,
    warmup_prefix: bool = False,
    cycles: int = 0,
) -> int:
    """timm's ``CosineLRScheduler.get_cycle_length(cycles)``: the length of the first ``cycles`` cycles.

    ``cycles = 0`` means ``cycle_limit`` cycles. The warmup is added when ``warmup_prefix`` (it is then in
    front of the cycles, not inside the first one). timm's ``create_scheduler_v2`` uses this, plus the
    cooldown, as the run's length: that is where the lr schedule reaches ``lr_min`` for good.

    Args:
        t_initial: the length of the first cycle.
        cycle_mul: each cycle is this many times longer than the one before.
        cycle_limit: the number of cycles, used when ``cycles`` is ``0``.
        warmup_t: the warmup's length.
        warmup_prefix: whether the warmup comes in front of the cycles.
        cycles: how many cycles to count (``0``: ``cycle_limit``; at least ``1`` is counted).

    Returns:
        ``t_initial * cycles`` for ``cycle_mul == 1``, else ``floor(t_initial * (cycle_mul**cycles - 1) /
        (cycle_mul - 1))``, plus ``warmup_t`` when ``warmup_prefix``.

    Example:
        >>> cycle_length(10, cycle_limit=3)
        30
        >>> cycle_length(10, cycle_mul=2.0, cycle_limit=3, warmup_t=5, warmup_prefix=True)
        75
        >>> cycle_length(10, cycle_mul=2.0, cycle_limit=3, cycles=1)
        10
    """
    where = "cycle_length"
    t_initial = _check_int(where, "t_initial", t_initial, 1)
    cycle_mul = _check_float(where, "cycle_mul", cycle_mul, 0, strict=True)
    cycle_limit = _check_int(where, "cycle_limit", cycle_limit, 1)
    warmup_t = _check_int(where, "warmup_t", warmup_t, 0)
    warmup_prefix = _check_bool(where, "warmup_prefix", warmup_prefix)
    cycles = _check_int(where, "cycles", cycles, 0)
    # timm: cycles = max(1, cycles or self.cycle_limit)
    count = max(1, cycles or cycle_limit)
    if cycle_mul == 1.0:
        t = t_initial * count
    else:
        t = math.floor(-t_initial * (cycle_mul**count - 1) / (1 - cycle_mul))
    return t + warmup_t if warmup_prefix else t


class TimmCosineLR(LRScheduler):
    """timm's ``CosineLRScheduler`` (cosine with warmup, cycles/restarts and k-decay) as an ``LRScheduler``.

    Each group's lr is *set* (not multiplied) to :func:`timm_cosine_lr` of ``last_epoch`` and the group's
    initial lr (``initial_lr``, which timm calls ``base_values``), times the group's ``lr_scale`` when it
    has one (as timm's ``Scheduler.update_groups`` does for layer-wise lr decay groups). ``lr_min`` and
    ``warmup_lr_init`` may hold one value per group: a group given its lr already scaled (this package's
    ``layer_decay`` and ``lr_mult`` groups) and its ``lr_min`` and ``warmup_lr_init`` scaled alike gets timm's
    lrs for a group at the base lr with that ``lr_scale``. The sequence is
    that of ``timm.scheduler.CosineLRScheduler`` (``timm/scheduler/cosine_lr.py`` at commit
    ``aa4b5850c1543fa488abf260f18390eda46cf85d``) stepped with ``step(t)`` / ``step_update(t)`` for
    ``t = 1, 2, ...``, bit for bit, the value at construction (``t = 0``) included.

    ``last_epoch`` is timm's ``t``: epochs done when stepped per epoch, optimizer updates done when stepped
    per update. How often ``step()`` is called is the trainer's choice (Lightning's ``interval``), not this
    class's: ``t_in_epochs`` is stored for that choice only. ``t_in_epochs=True`` corresponds to
    ``interval="epoch"`` and ``t_initial``/``warmup_t`` in epochs; ``False`` to ``interval="step"`` and both
    in optimizer updates (timm's ``create_scheduler_v2`` multiplies them by the updates per epoch).

    Not supported: timm's noise arguments (``noise_range_t``, ``noise_pct``, ``noise_std``, ``noise_seed``;
    a seeded random perturbation of the lr, off by default in timm) and ``initialize`` (resuming goes through
    ``last_epoch`` and ``load_state_dict`` as for any torch scheduler). timm's warning for
    ``t_initial == cycle_mul == cycle_decay == 1`` is not repeated.

    Args:
        optimizer: the optimizer whose groups' lrs are set.
        t_initial: the length of the first cycle, in units of ``t`` (epochs or updates).
        lr_min: the lr at the end of every cycle and after the last one; a float, or a list or tuple of one
            per param group.
        cycle_mul: each cycle is this many times longer than the one before (``> 0``).
        cycle_decay: each cycle's peak is this many times the one before.
        cycle_limit: the number of cycles; ``lr_min`` afterwards.
        warmup_t: the length of the linear warmup, in units of ``t``.
        warmup_lr_init: the lr at ``t = 0`` when there is a warmup; a float, or one per param group.
        warmup_prefix: whether the cycles start after the warmup (``True``) or at ``t = 0`` (``False``).
        t_in_epochs: whether ``t`` counts epochs (``True``, timm's default) or optimizer updates; only
            recorded, for whoever decides the stepping interval.
        k_decay: the k-decay exponent (``1`` is the plain cosine).
        last_epoch: as for every torch scheduler (``-1``: a fresh start).

    Raises:
        TypeError, ValueError: for an option outside what timm accepts (``t_initial >= 1``, ``lr_min >= 0``,
            ``cycle_mul > 0``, ``cycle_decay >= 0``, ``cycle_limit >= 1``, ``warmup_t >= 0``,
            ``warmup_lr_init >= 0``, ``k_decay > 0``), or a per-group ``lr_min``/``warmup_lr_init`` of
            another length than the groups.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = TimmCosineLR(opt, t_initial=2, cycle_limit=2, cycle_decay=0.5, warmup_t=2,
        ...                      warmup_lr_init=0.5, warmup_prefix=True)
        >>> lrs = []
        >>> for _ in range(8):
        ...     lrs.append(opt.param_groups[0]["lr"])
        ...     opt.step()
        ...     sched.step()
        >>> lrs
        [0.5, 0.75, 1.0, 0.5, 0.5, 0.25, 0.0, 0.0]
        >>> sched.get_cycle_length()
        6
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        t_initial: int,
        lr_min: float | Sequence[float] = 0.0,
        cycle_mul: float = 1.0,
        cycle_decay: float = 1.0,
        cycle_limit: int = 1,
        warmup_t: int = 0,
        warmup_lr_init: float | Sequence[float] = 0.0,
        warmup_prefix: bool = False,
        t_in_epochs: bool = True,
        k_decay: float = 1.0,
        last_epoch: int = -1,
    ) -> None:
        where, arguments = type(self).__name__, dict(locals())
        options = _check_options(where, {**arguments, **dict.fromkeys(PER_GROUP, 0.0)})
        groups = len(optimizer.param_groups)
        per_group = {name: _check_per_group(where, name, arguments[name], groups) for name in PER_GROUP}
        self.t_initial: int = options["t_initial"]
        self.lr_min: float | list[float] = per_group["lr_min"]
        self.cycle_mul: float = options["cycle_mul"]
        self.cycle_decay: float = options["cycle_decay"]
        self.cycle_limit: int = options["cycle_limit"]
        self.warmup_t: int = options["warmup_t"]
        self.warmup_lr_init: float | list[float] = per_group["warmup_lr_init"]
        self.warmup_prefix: bool = options["warmup_prefix"]
        self.k_decay: float = options["k_decay"]
        self.t_in_epochs: bool = _check_bool(where, "t_in_epochs", t_in_epochs)
        _check_int(where, "last_epoch", last_epoch, -1)
        super().__init__(optimizer, last_epoch)

    def _get_closed_form_lr(self) -> list[float]:
        """Each group's lr at ``last_epoch``, computed from the count alone (no dependence on the past)."""
        options = {name: getattr(self, name) for name in _OPTIONS}
        per_group = [name for name in PER_GROUP if isinstance(options[name], list)]
        lrs = []
        for i, (base, group) in enumerate(zip(self.base_lrs, self.optimizer.param_groups)):
            options.update((name, getattr(self, name)[i]) for name in per_group)
            lr = _lr(self.last_epoch, float(base), **options)
            # timm's Scheduler.update_groups: value * param_group['lr_scale'] when the group has one
            lrs.append(lr * group["lr_scale"] if "lr_scale" in group else lr)
        return lrs

    def get_lr(self) -> list[float]:  # type: ignore[override]
        """Each group's lr at ``last_epoch`` (closed form: the schedule is a function of the count)."""
        return self._get_closed_form_lr()

    def get_cycle_length(self, cycles: int = 0) -> int:
        """timm's ``get_cycle_length``: see :func:`cycle_length` (``cycles = 0``: ``cycle_limit`` cycles)."""
        return cycle_length(
            self.t_initial,
            cycle_mul=self.cycle_mul,
            cycle_limit=self.cycle_limit,
            warmup_t=self.warmup_t,
            warmup_prefix=self.warmup_prefix,
            cycles=cycles,
        )
