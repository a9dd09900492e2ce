"""One record per scheduler: everything this package knows about it, in one place.

A ``SchedulerInfo`` holds a scheduler's short names, its default ``interval``, the length argument that
``fit`` derives from the run when it is left out (and how; written as ``None``, a length the scheduler cannot run
without counts as left out), the arguments that count epochs (and how each
converts to optimizer steps for ``unit="epoch"`` with ``interval="step"``), the arguments that may hold one
value per param group, whether it holds other schedulers, the lower bounds of the arguments that torch
does not check and that turn the lr negative or undefined only late in the run, and how it can drive the
value it schedules to 0 (which an option the optimizer divides by must never reach: schedule-free's
``eval()`` divides by its momentum at every validation), and where torch keeps the arguments it does not keep
under their own name in its state (a hand-written module's checkpoint restores them), and the arguments it
builds without reading because of others (``CyclicLR``'s ``gamma`` outside ``mode="exp_range"``: nothing declared
is silently ignored). Adding a scheduler, or changing a default,
is one entry in ``_RECORDS``; every torch scheduler without an entry gets a plain record.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from torch.optim import lr_scheduler

from lightning_optim.schedules.timm_cosine import PER_GROUP, TimmCosineLR
from lightning_optim.schedules.transformers import TRANSFORMERS_SCHEDULES, resolve_warmup_steps
from lightning_optim.utilities.numeric import is_real

PLATEAU = lr_scheduler.ReduceLROnPlateau

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


def whole_run(updates: int, kwargs: Mapping[str, Any]) -> int:
    """The default derived length: every update the scheduler gets after its warmup."""
    return updates


def one_cycle_steps(kwargs: Mapping[str, Any]) -> tuple[str, int] | None:
    """The steps a ``OneCycleLR`` takes after its construction before torch refuses the next one, with the
    arguments that gave them; ``None`` where torch refuses the arguments itself.

    Example:
        >>> one_cycle_steps({"total_steps": 12}), one_cycle_steps({"epochs": 3, "steps_per_epoch": 5})
        (('`total_steps=12`', 12), ('`epochs=3` x `steps_per_epoch=5`', 15))
    """
    total, epochs, per_epoch = (kwargs.get(key) for key in ("total_steps", "epochs", "steps_per_epoch"))
    if total is not None:
        return f"`total_steps={total!r}`", int(total)
    if epochs is None or per_epoch is None:
        return None
    return f"`epochs={epochs!r}` x `steps_per_epoch={per_epoch!r}`", int(epochs) * int(per_epoch)


#: Reads an argument a scheduler keeps elsewhere than under its own name back from its state and its optimizer's
#: param groups (a value per group where it keeps one per group).
ArgumentReader = Callable[[Mapping[str, Any], Sequence[Mapping[str, Any]]], Any]


def in_state(key: str, state: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]) -> Any:
    """An argument the scheduler's state keeps under another name (``CyclicLR``'s ``max_lr`` as ``max_lrs``).

    Example:
        >>> in_state("min_lrs", {"min_lrs": [0.0, 0.1]}, [])
        [0.0, 0.1]
    """
    return state.get(key)


def sequence_in_state(key: str, state: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]) -> Any:
    """A sequence argument the scheduler's state keeps under another name (``SequentialLR``'s ``milestones`` as
    ``_milestones``), as a tuple: one value, not one per group.

    Example:
        >>> sequence_in_state("_milestones", {"_milestones": [3]}, [{}])
        (3,)
    """
    value = state.get(key)
    return None if value is None else tuple(value)


def in_groups(key: str, state: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]) -> list[Any]:
    """An argument the scheduler keeps in each param group (``OneCycleLR``'s ``max_lr``), group by group.

    Example:
        >>> in_groups("max_lr", {}, [{"max_lr": 0.1}, {}])
        [0.1, None]
    """
    return [group.get(key) for group in groups]


def groups_ratio(
    numerator: str, denominator: str, state: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]
) -> list[Any]:
    """An argument the scheduler keeps in each param group as the ratio of two values (``OneCycleLR``'s
    ``div_factor``: ``max_lr / initial_lr``), group by group.

    Example:
        >>> groups_ratio("max_lr", "initial_lr", {}, [{"max_lr": 0.1, "initial_lr": 0.01}, {"max_lr": 0.1}])
        [10.0, None]
    """
    return [
        group[numerator] / group[denominator] if numerator in group and denominator in group else None
        for group in groups
    ]


class EmptyPhase(NamedTuple):
    """A phase of a scheduler that ends where it starts (``SchedulerInfo.empty_phase``): ``why``, in words, and
    whether it does so whatever the length (``any_length``: then ``why`` names none, and it is refused even where
    the length is not known yet)."""

    why: str
    any_length: bool = False


def one_cycle_empty_phase(kwargs: Mapping[str, Any]) -> EmptyPhase | None:
    """The phase of a ``OneCycleLR`` of these arguments (its length filled in) that ends where it starts;
    ``None`` where each spans a step. Torch divides by each phase's span when it computes an lr in it
    (``ZeroDivisionError``): its phases end at ``pct_start * total_steps - 1`` and ``total_steps - 1`` (with
    ``three_phase``: ``pct_start * total_steps - 1``, ``2 * pct_start * total_steps - 2``, ``total_steps - 1``), so
    the first is empty where ``pct_start * total_steps`` is 1 (torch fails building it), and the last where
    ``pct_start`` is 1 (whatever the length; ``three_phase``: where ``2 * pct_start * total_steps`` is
    ``total_steps + 1``), which torch computes at its step ``total_steps``, after the run's last step.

    Example:
        >>> one_cycle_empty_phase({"total_steps": 5, "pct_start": 0.2}).why
        '`pct_start=0.2` x `total_steps=5` = 1 step: its first phase ends at `pct_start * total_steps - 1` = 0, where it starts'
        >>> one_cycle_empty_phase({"total_steps": 5, "pct_start": 1.0})
        EmptyPhase(why='`pct_start=1.0`: its last phase ends at `total_steps - 1`, where it starts (`pct_start * total_steps - 1`), for any `total_steps`', any_length=True)
        >>> one_cycle_empty_phase({"total_steps": 5, "pct_start": 0.6, "three_phase": True}).why
        '`pct_start=0.6` x `total_steps=5` = 3 steps: its last phase ends at `total_steps - 1` = 4, where it starts (`2 * pct_start * total_steps - 2`)'
        >>> one_cycle_empty_phase({"total_steps": 6, "pct_start": 0.2}), one_cycle_empty_phase({"epochs": 2})
        (None, None)
    """
    limit = one_cycle_steps(kwargs)
    pct = kwargs.get("pct_start", 0.3)
    if limit is None or not is_real(pct):
        return None  # torch refuses the arguments itself
    given, total = limit
    three = bool(kwargs.get("three_phase", False))
    if not three and pct == 1:
        return EmptyPhase(
            f"`pct_start={pct!r}`: its last phase ends at `total_steps - 1`, where it starts "
            "(`pct_start * total_steps - 1`), for any `total_steps`",
            any_length=True,
        )
    first_end = float(pct * total) - 1
    steps = f"`pct_start={pct!r}` x {given} = {pct * total:g} step{'' if pct * total == 1 else 's'}"
    if first_end == 0:
        return EmptyPhase(
            f"{steps}: its first phase ends at `pct_start * total_steps - 1` = 0, where it starts"
        )
    last_start, formula = first_end, "pct_start * total_steps - 1"
    if three:
        last_start, formula = float(2 * pct * total) - 2, "2 * pct_start * total_steps - 2"
    if total - 1 == last_start:
        return EmptyPhase(
            f"{steps}: its last phase ends at `total_steps - 1` = {total - 1}, where it starts (`{formula}`)"
        )
    return None


def one_cycle_pct_start(state: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]) -> Any:
    """``OneCycleLR``'s ``pct_start``, from the end of its first phase (``pct_start * total_steps - 1``).

    Example:
        >>> one_cycle_pct_start({"total_steps": 20, "_schedule_phases": [{"end_step": 4.0}, {}]}, [])
        0.25
    """
    phases, total = state.get("_schedule_phases"), state.get("total_steps")
    return (phases[0]["end_step"] + 1) / total if phases and total else None


def one_cycle_three_phase(state: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]) -> Any:
    """``OneCycleLR``'s ``three_phase``: whether it has three phases.

    Example:
        >>> one_cycle_three_phase({"_schedule_phases": [{}, {}]}, [])
        False
    """
    phases = state.get("_schedule_phases")
    return None if phases is None else len(phases) == 3


def cyclic_steps(up: bool, state: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]) -> Any:
    """``CyclicLR``'s ``step_size_up`` (``up``) or ``step_size_down``, from its cycle's size and the part of it
    spent going up.

    Example:
        >>> cyclic_steps(True, {"total_size": 10.0, "step_ratio": 0.4}, []), cyclic_steps(False, {"total_size": 10.0, "step_ratio": 0.4}, [])
        (4.0, 6.0)
    """
    size, ratio = state.get("total_size"), state.get("step_ratio")
    if size is None or ratio is None:
        return None
    return size * ratio if up else size - size * ratio


def _whole(value: Any) -> bool:
    return is_real(value) and float(value).is_integer()


def updates(count: int) -> str:
    """``count`` scheduler updates, in words.

    Example:
        >>> updates(1), updates(8)
        ('1 update', '8 updates')
    """
    return f"{count} update{'' if count == 1 else 's'}"


def transformers_peak_missed(
    name: str, kwargs: Mapping[str, Any], values: int, derived: bool, run: str = ""
) -> str | None:
    """Why transformers' schedule ``name`` with these arguments (its length filled in; ``derived``: from the
    run) never trains at its peak, the declared lr, in a run that trains it with ``values`` values (``run``: those
    values in words, what one update is and what took the rest of the run); ``None`` when it does, or when the
    arguments are not numbers yet (an ``HParam``) or are refused by the class itself.

    Its warmup must end before the run does (transformers accepts any warmup, the lr then rises the whole run);
    and a ``warmup_stable_decay`` whose stable phase is what a length derived from the run leaves must not get a
    negative one (the decay would start before the peak). A length given shorter or longer than the run is
    transformers' own choice (the lr is 0 after a linear decay's end), left as it is. Counts are the scheduler's
    updates (transformers' steps): one per epoch with ``interval="epoch"``. The way out offered is one that fits:
    a shorter warmup where one of at least an update does, else none (a fraction is at least one update).

    Example:
        >>> transformers_peak_missed("linear", {"num_warmup_steps": 7, "num_training_steps": 8}, 8, True) is None
        True
        >>> message = transformers_peak_missed("linear", {"num_warmup_steps": 0.5, "num_training_steps": 100}, 8, False)
        >>> print(message[: message.index(":")])
        Expected the warmup of `LinearWithWarmupLR` to end within the run but got `num_warmup_steps=0.5` (50 updates, rounded up from 0.5 of `num_training_steps`=100) in the run's 8 updates
        >>> print(message[message.index(". ") + 2 :])
        Shorten the warmup to at most 7 updates (`num_warmup_steps=7`; a fraction of `num_training_steps` is rounded up) or lengthen the run.
    """
    cls = TRANSFORMERS_SCHEDULES[name].__name__
    warmup, length = kwargs.get("num_warmup_steps", 0), kwargs.get("num_training_steps")
    number = is_real(warmup) and warmup >= 0
    if not number or (length is None and 0 < warmup < 1) or (length is not None and not _whole(length)):
        return None
    steps = resolve_warmup_steps(warmup, None if length is None else int(length))
    run = run or f"the run's {updates(values)}"
    # the warmup ends where the lr first reaches 1: at `num_warmup_steps`, a step earlier for the shifted one
    shift = 1 if name == "cosine_warmup_with_min_lr" else 0
    if steps and steps - shift >= values:
        fraction = (
            f", rounded up from {warmup!r} of `num_training_steps`={int(length or 0)}" if warmup < 1 else ""
        )
        fits = values - 1 + shift  # the longest warmup that ends within the run
        if fits >= 1:
            fix = (
                f"Shorten the warmup to at most {updates(fits)} (`num_warmup_steps={fits}`; a fraction of "
                "`num_training_steps` is rounded up) or lengthen the run."
            )
        else:
            fix = (
                "The run is too short for a warmup (a fraction of `num_training_steps` is at least 1 update): give "
                "`num_warmup_steps=0` or lengthen the run."
            )
        return (
            f"Expected the warmup of `{cls}` to end within the run but got `num_warmup_steps={warmup!r}` "
            f"({updates(steps)}{fraction}) in {run}: the lr would stay in its warmup for the whole run and never "
            f"reach its declared value. {fix}"
        )
    decay, stable = kwargs.get("num_decay_steps"), kwargs.get("num_stable_steps")
    wsd = name == "warmup_stable_decay" and derived and stable is None and length is not None
    if not wsd or not _whole(decay):
        return None
    total, decay = int(length or 0), int(decay or 0)
    if steps + decay > total:
        return (
            f"Expected `num_warmup_steps` and `num_decay_steps` of `{cls}` to fit in `num_training_steps`, "
            f"derived as {run}, but got {steps} + {decay} = {steps + decay}: the stable phase would be "
            f"{total - steps - decay} updates long, so the decay would start {updates(steps + decay - total)} in "
            "and the lr never reach its declared value. Shorten the warmup or the decay, give `num_stable_steps`, "
            "or lengthen the run."
        )
    return None


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


class Unread(NamedTuple):
    """Declared arguments that a scheduler builds without reading, because of another declared argument (or its
    default): torch's ``CyclicLR`` reads ``gamma`` only for ``mode="exp_range"``, its ``OneCycleLR`` reads
    ``epochs`` only without ``total_steps``. Such a declaration would train as if the argument were left out, so it
    is refused. ``unread_by`` says, from the declared arguments, what leaves ``arguments`` unread (a phrase after
    "with"), or ``None`` when they are read; ``read_with`` says when they are, ``instead`` the way out (``{it}``
    stands for "it" or "them", as many as were declared). It is
    decided only once the arguments of ``decided_by`` are known (an ``HParam`` is checked with the value ``fit``
    reads)."""

    arguments: tuple[str, ...]
    read_with: str
    unread_by: Callable[[Mapping[str, Any]], str | None]
    instead: str
    decided_by: tuple[str, ...]
    #: an argument spelled out at the signature's default (a per-group one: in every group) is taken as left out
    #: (a config dump writes every argument); ``False`` where that default is not what the scheduler uses
    #: (``unread_by`` then decides alone)
    default_is_left_out: bool = True


def _absent(key: str, kwargs: Mapping[str, Any]) -> bool:
    return kwargs.get(key) is None


def scale_fn_given(kwargs: Mapping[str, Any]) -> str | None:
    """``CyclicLR`` reads neither ``mode`` nor ``gamma`` when it has a ``scale_fn`` (its ``_init_scale_fn``).

    Example:
        >>> scale_fn_given({"scale_fn": abs}), scale_fn_given({"scale_fn": None})
        ('a `scale_fn` (which shapes the cycles in their place)', None)
    """
    return None if _absent("scale_fn", kwargs) else "a `scale_fn` (which shapes the cycles in their place)"


def mode_without_gamma(kwargs: Mapping[str, Any]) -> str | None:
    """``CyclicLR`` reads ``gamma`` only for ``mode="exp_range"`` (without a ``scale_fn``, which reads neither).

    Example:
        >>> mode_without_gamma({}), mode_without_gamma({"mode": "triangular2"})
        ("`mode` left out (its default 'triangular')", "`mode='triangular2'`")
        >>> mode_without_gamma({"mode": "exp_range"}), mode_without_gamma({"scale_fn": abs})
        (None, None)
    """
    mode = kwargs.get("mode", "triangular")
    if mode == "exp_range" or not _absent("scale_fn", kwargs):
        return None
    return f"`mode={mode!r}`" if "mode" in kwargs else f"`mode` left out (its default {mode!r})"


def no_scale_fn(kwargs: Mapping[str, Any]) -> str | None:
    """``CyclicLR`` reads ``scale_mode`` only for a ``scale_fn``: each ``mode`` sets its own (its
    ``_init_scale_fn``), so a ``scale_mode`` other than the one its ``mode`` uses is not what it trains with; the
    one it uses (a config dump's) trains as left out.

    Example:
        >>> no_scale_fn({"scale_mode": "iterations"}), no_scale_fn({"scale_fn": abs, "scale_mode": "iterations"})
        ("no `scale_fn` (each `mode` sets what its scaling counts: 'cycle', 'iterations' for 'exp_range')", None)
        >>> no_scale_fn({"mode": "exp_range", "scale_mode": "iterations"}) is None
        True
        >>> no_scale_fn({"mode": "exp_range", "scale_mode": "cycle"}) is None
        False
    """
    own = "iterations" if kwargs.get("mode", "triangular") == "exp_range" else "cycle"
    if not _absent("scale_fn", kwargs) or kwargs.get("scale_mode", own) == own:
        return None
    return "no `scale_fn` (each `mode` sets what its scaling counts: 'cycle', 'iterations' for 'exp_range')"


def momentum_not_cycled(kwargs: Mapping[str, Any]) -> str | None:
    """``CyclicLR`` and ``OneCycleLR`` read ``base_momentum`` and ``max_momentum`` only when they cycle it.

    Example:
        >>> momentum_not_cycled({"cycle_momentum": False}), momentum_not_cycled({})
        ('`cycle_momentum=False`', None)
    """
    cycle = kwargs.get("cycle_momentum", True)
    return None if cycle else f"`cycle_momentum={cycle!r}`"


def total_steps_given(kwargs: Mapping[str, Any]) -> str | None:
    """``OneCycleLR`` reads ``epochs`` and ``steps_per_epoch`` only without ``total_steps``.

    Example:
        >>> total_steps_given({"total_steps": 10}), total_steps_given({"epochs": 5})
        ('`total_steps=10` (the length torch takes)', None)
    """
    return (
        None
        if _absent("total_steps", kwargs)
        else f"`total_steps={kwargs['total_steps']!r}` (the length torch takes)"
    )


def steps_per_epoch_alone(kwargs: Mapping[str, Any]) -> str | None:
    """``OneCycleLR``'s ``steps_per_epoch`` counts only beside ``epochs``: without both (or ``total_steps``) the
    length ``total_steps`` is derived from the run.

    Example:
        >>> steps_per_epoch_alone({}), steps_per_epoch_alone({"epochs": 2}), steps_per_epoch_alone({"total_steps": 8})
        ('neither `epochs` nor `total_steps` (`total_steps` is then derived from the run)', None, None)
    """
    if not (_absent("epochs", kwargs) and _absent("total_steps", kwargs)):
        return None
    return "neither `epochs` nor `total_steps` (`total_steps` is then derived from the run)"


_UNREAD_MOMENTUM = Unread(
    ("base_momentum", "max_momentum"),
    "with `cycle_momentum=True` (its default)",
    momentum_not_cycled,
    "remove {it} (the optimizer's own momentum then holds), or remove `cycle_momentum=False` to cycle the momentum",
    ("cycle_momentum",),
)


#: transformers' warmups rise linearly from 0 (``_get_linear_schedule_with_warmup_lr_lambda``: ``step /
#: num_warmup_steps``), while the package's own ``warmup=`` starts at ``1 / (warmup + 1)``
_TRANSFORMERS_WARMUP_FROM_ZERO = ZeroWhen(
    "starts it at 0 with `num_warmup_steps > 0` (its warmup rises from 0)",
    "leave `num_warmup_steps` out and give the SchedulerSpec a `warmup=`, which starts at 1 / (warmup + 1)",
    functools.partial(given_positive, "num_warmup_steps"),
)
_TRANSFORMERS_DECAY_TO_ZERO = "use `transformers/cosine_with_min_lr` with `min_lr_rate > 0`"

#: ``transformers.TrainingArguments``' names for the warmup, as a transformers schedule here takes it (a
#: ``warmup_ratio`` is a fraction of ``num_training_steps``, see ``resolve_warmup_steps``)
_TRANSFORMERS_ARGUMENTS = MappingProxyType(
    {"warmup_ratio": "num_warmup_steps=<fraction>", "warmup_steps": "num_warmup_steps"}
)

#: transformers' schedules by name: how each reaches 0 (the warmup from 0 of those that have one)
_TRANSFORMERS_ZERO: Mapping[str, tuple[ZeroWhen, ...]] = {
    "linear": (ZeroWhen("decays it to 0 at `num_training_steps`", _TRANSFORMERS_DECAY_TO_ZERO),),
    "cosine": (ZeroWhen("anneals it to 0 at `num_training_steps`", _TRANSFORMERS_DECAY_TO_ZERO),),
    "cosine_with_restarts": (
        ZeroWhen("anneals it to 0 at the end of each cycle", _TRANSFORMERS_DECAY_TO_ZERO),
    ),
    **{
        name: (_TRANSFORMERS_WARMUP_FROM_ZERO,)
        for name in ("polynomial", "constant_with_warmup", "inverse_sqrt", "cosine_with_min_lr")
    },
}
_MIN_LR = {
    "min_lr": LowerBound(0, strict=True, meaning="the value it anneals to"),
    "min_lr_rate": LowerBound(0, strict=True, meaning="the fraction of the first value it anneals to"),
}
_TRANSFORMERS_FLOORS: Mapping[str, Mapping[str, LowerBound]] = {
    # its default `lr_end=1e-7` is transformers' "decay to 0": the momentum would end at 1e-7, and
    # schedule-free's eval() would move the weights by 1 - 1 / 1e-7
    "polynomial": {
        "lr_end": LowerBound(
            1e-7, strict=True, meaning="the value it decays to; the default 1e-7 stands for 0"
        )
    },
    "cosine_with_min_lr": _MIN_LR,
    "cosine_warmup_with_min_lr": {
        **_MIN_LR,
        "warmup_lr_rate": LowerBound(0, strict=True, meaning="the fraction its warmup starts at"),
    },
    "warmup_stable_decay": {
        "min_lr_ratio": LowerBound(0, strict=True, meaning="the fraction it warms up from and decays to")
    },
}


@dataclass(frozen=True)
class SchedulerInfo:
    """What this package knows about one scheduler class."""

    cls: type
    #: names besides the lower-case class name (``"cosine"`` for ``CosineAnnealingLR``)
    names: tuple[str, ...] = ()
    #: the ``interval`` used when the declaration gives none; a function of the declared arguments when it
    #: depends on them
    default_interval: Interval | Callable[[Mapping[str, Any]], Interval] = "epoch"
    #: the length argument ``fit`` derives from the run when it is left out
    length: str | None = None
    #: arguments that, when given, describe the length instead (``OneCycleLR``'s ``epochs``)
    length_given_by: tuple[str, ...] = ()
    #: the argument giving the steps per epoch of a length described in epochs (``OneCycleLR``'s
    #: ``steps_per_epoch``, beside its ``epochs``): left out, ``fit`` derives it as the run's updates per epoch
    per_epoch_argument: str | None = None
    #: whether the scheduler runs without its length, taking it written as ``None`` for "no length" (an unbounded
    #: run: transformers' ``inverse_sqrt``); a function of the declared arguments where it depends on them
    #: (``warmup_stable_decay`` given ``num_stable_steps``). Where it does not, the length is required: written as
    #: ``None`` (as a config dump writes an argument left out), it and what describes it count as left out
    #: (``declared_lengths``). ``None`` (the default): as the signature says, optional only where the length's
    #: default is ``None`` (torch's ``T_max`` has none, ``total_iters`` defaults to 5: required)
    length_optional: bool | Callable[[Mapping[str, Any]], bool] | None = None
    #: the derived length from the scheduler's updates after the warmup, and the declared arguments (those of
    #: ``epoch_arguments`` in steps, as the updates are, for ``unit="epoch"`` updated per step)
    derive_length: Callable[[int, Mapping[str, Any]], int] = whole_run
    #: the arguments that count epochs, each with its conversion to optimizer steps
    epoch_arguments: Mapping[str, Converter] = field(default_factory=dict)
    #: arguments that may hold one value per param group (a list in group order, or a dict by group name)
    per_group_arguments: frozenset[str] = frozenset()
    #: its ``schedulers`` argument holds other schedulers, declared as ``SchedulerSpec``s
    composite: bool = False
    #: a check of the declared arguments against the effective interval and unit (raises ``ValueError``)
    check_stepping: Callable[[Mapping[str, Any], str, str], None] | None = None
    #: in a window (``begin``/``end``), the length argument derived from it when left out (default:
    #: ``length``), as ``end - begin + window_offset`` (mmengine's rule for the same scheduler)
    window_argument: str | None = None
    window_offset: int = 0

    #: the arguments torch keeps elsewhere than under their own name in the scheduler's state (in each param
    #: group: ``OneCycleLR``'s ``max_lr``, its ``div_factor`` as the groups' ``initial_lr``; under another name:
    #: ``CyclicLR``'s ``max_lrs``), each with its reader: a hand-written module's checkpoint restores them over
    #: the declared ones, so they are compared with the declaration's (``training/foreign.py``)
    kept_elsewhere: Mapping[str, ArgumentReader] = field(default_factory=dict)

    #: the steps it can take after its construction, from the declared arguments, for a scheduler that raises
    #: when stepped past its length (``OneCycleLR``): a given length must then cover the run
    steps_limit: Callable[[Mapping[str, Any]], tuple[str, int] | None] | None = None
    #: why it never trains at its peak (the declared lr) in a run that trains it with so many values (in words
    #: last: how many, what one update is, what took the rest of the run), from the arguments (its length filled
    #: in) and whether that length was derived, as the message that refuses it; ``None`` when it does
    peak_missed: Callable[[Mapping[str, Any], int, bool, str], str | None] | None = None
    #: what of the arguments (its length filled in) makes torch divide by zero, in words (``OneCycleLR``'s phase
    #: that ends where it starts); ``None`` when nothing does: refused where the length is known, or at once where
    #: the phase is empty whatever the length
    empty_phase: Callable[[Mapping[str, Any]], EmptyPhase | None] | None = None
    #: the argument that counts its own warmup (transformers' ``num_warmup_steps``, timm's ``warmup_t``): a
    #: ``SchedulerSpec(warmup=)`` beside a positive one would warm up a second time, and is refused
    own_warmup: str | None = None

    #: where the lr it starts from comes from, for a scheduler that sets every group's lr when it is built
    #: (so a declared optimizer or group ``lr`` has no effect)
    sets_lr_from: str | None = None
    #: its per-group lr arguments: multiplied by each group's scale of the option it drives (the lr's
    #: ``layer_decay`` and ``lr_mult``, the weight decay's ``decay_mult``), as a scheduler that scales the
    #: values it starts from keeps those ratios
    lr_arguments: tuple[str, ...] = ()

    #: arguments a value below whose bound makes the lr negative or undefined only late in the run (torch
    #: checks none of them, and a trial update at class definition sees only the first lr): refused when the
    #: class is defined, or when ``fit`` reads an ``HParam`` for them
    lower_bounds: Mapping[str, LowerBound] = field(default_factory=dict)
    #: arguments that set the value it ends at (a declared one, or its default), which must stay above their
    #: bound on an option the optimizer divides by (``OptimizerInfo.positive_options``)
    floor_bounds: Mapping[str, LowerBound] = field(default_factory=dict)
    #: the ways its shape reaches 0 whatever the ``floor_bounds`` (a decay to 0, a warmup from 0), refused
    #: likewise on an option the optimizer divides by
    zero_when: tuple[ZeroWhen, ...] = ()
    #: declared arguments it builds without reading because of others (``CyclicLR``'s ``gamma`` outside
    #: ``mode="exp_range"``): refused when the class is defined, or when ``fit`` reads an ``HParam`` deciding them
    unread: tuple[Unread, ...] = ()
    #: whether, with these arguments (the declared ones, its defaults for the rest), every value it sets is the
    #: value the group starts from times a factor (``LambdaLR``, ``StepLR``, ``LinearLR``, transformers'
    #: schedules; a cosine to ``eta_min=0``), so that a group starting at 0 stays at 0 at every update; ``None``
    #: where nothing says so (one that sets values of its own: ``OneCycleLR``, ``CyclicLR``; one from
    #: elsewhere). A schedule of an option that is 0 in every group it drives then changes nothing, and is
    #: refused (``declaring/optimizer.py``)
    keeps_zero: Callable[[Mapping[str, Any]], bool] | None = None
    #: another library's names for its arguments, each with how to write it here: suggested for that name
    #: before any spelling is (transformers' ``warmup_ratio`` is spelled like ``warmup``, a count of updates)
    known_as: Mapping[str, str] = field(default_factory=dict)

    @property
    def window_length(self) -> str | None:
        """The argument a window derives when it is left out.

        Example:
            >>> from torch.optim.lr_scheduler import ConstantLR, CosineAnnealingLR
            >>> SCHEDULER_INFO[ConstantLR].window_length, SCHEDULER_INFO[CosineAnnealingLR].window_length
            ('total_iters', 'T_max')
        """
        return self.window_argument or self.length

    def optional_length(self, kwargs: Mapping[str, Any]) -> bool:
        """Whether a declaration with the arguments ``kwargs`` runs without its length (``length_optional``).

        Example:
            >>> from torch.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR
            >>> SCHEDULER_INFO[CosineAnnealingLR].optional_length({}), SCHEDULER_INFO[OneCycleLR].optional_length({})
            (False, False)
            >>> wsd = scheduler_info(TRANSFORMERS_SCHEDULES["warmup_stable_decay"])
            >>> wsd.optional_length({"num_decay_steps": 2}), wsd.optional_length({"num_stable_steps": 4})
            (False, True)
        """
        optional = self.length_optional
        if callable(optional):
            return bool(optional(kwargs))
        if optional is not None:
            return optional
        parameter = inspect.signature(self.cls).parameters.get(self.length or self.window_argument or "")
        return parameter is not None and parameter.default is None

    def declared_lengths(self, kwargs: Mapping[str, Any], *, windowed: bool) -> dict[str, Any]:
        """``kwargs`` without the length (a window's, ``windowed``) and what describes it (``length_given_by``,
        ``per_epoch_argument``) written as ``None`` where the length is required (``optional_length``): a config
        dump writes every argument, one left out as ``None``, and so it counts as left out (derived from the run).
        A ``None`` of an optional length is "no length", as declared.

        Example:
            >>> from torch.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR
            >>> SCHEDULER_INFO[CosineAnnealingLR].declared_lengths({"T_max": None, "eta_min": None}, windowed=False)
            {'eta_min': None}
            >>> onecycle = {"max_lr": 0.1, "total_steps": None, "epochs": 2, "steps_per_epoch": None}
            >>> SCHEDULER_INFO[OneCycleLR].declared_lengths(onecycle, windowed=False)
            {'max_lr': 0.1, 'epochs': 2}
            >>> inverse_sqrt = scheduler_info(TRANSFORMERS_SCHEDULES["inverse_sqrt"])
            >>> inverse_sqrt.declared_lengths({"num_training_steps": None}, windowed=False)
            {'num_training_steps': None}
        """
        length = self.window_length if windowed else self.length
        if length is None or self.optional_length(kwargs):
            return dict(kwargs)
        lengths = {length, *self.length_given_by, self.per_epoch_argument}
        return {key: value for key, value in kwargs.items() if not (value is None and key in lengths)}

    def derived_length(self, kwargs: Mapping[str, Any], *, windowed: bool) -> str | None:
        """The length argument a declaration with the arguments ``kwargs`` leaves to the run, if any: the length
        (a window's, ``windowed``) unless it or what gives it is declared, or the updates per epoch
        (``per_epoch_argument``) where only the epochs are. A required length written as ``None`` is left out
        (``declared_lengths``).

        Example:
            >>> from torch.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR
            >>> SCHEDULER_INFO[CosineAnnealingLR].derived_length({"eta_min": 0.0}, windowed=False)
            'T_max'
            >>> cosine = SCHEDULER_INFO[CosineAnnealingLR]
            >>> cosine.derived_length({"T_max": 4}, windowed=False), cosine.derived_length({"T_max": None}, windowed=False)
            (None, 'T_max')
            >>> onecycle = SCHEDULER_INFO[OneCycleLR]
            >>> onecycle.derived_length({"max_lr": 0.1}, windowed=False), onecycle.derived_length({"epochs": 2}, windowed=False)
            ('total_steps', 'steps_per_epoch')
        """
        given = self.declared_lengths(kwargs, windowed=windowed)
        length = self.window_length if windowed else self.length
        described = length in given or any(key in given for key in self.length_given_by)
        derived = None if length is None or described else length
        per_epoch = self.per_epoch_argument
        if not windowed and per_epoch is not None and length not in given and per_epoch not in given:
            # a length given in epochs (`epochs`) counts the run's updates per epoch
            derived = per_epoch if described else derived
        return derived

    @property
    def is_plateau(self) -> bool:
        return issubclass(self.cls, PLATEAU)

    def interval_for(self, kwargs: Mapping[str, Any]) -> Interval:
        """The default interval of a declaration with these arguments."""
        default = self.default_interval
        return default if isinstance(default, str) else default(kwargs)

    def epochs_to_steps(self, kwargs: Mapping[str, Any], steps_per_epoch: int) -> dict[str, Any]:
        """``kwargs`` with every epoch-valued argument (given or defaulted) converted to steps.

        Example:
            >>> from torch.optim.lr_scheduler import MultiStepLR, StepLR
            >>> SCHEDULER_INFO[StepLR].epochs_to_steps({"step_size": 2, "gamma": 0.1}, steps_per_epoch=4)
            {'step_size': 8, 'gamma': 0.1}
            >>> SCHEDULER_INFO[MultiStepLR].epochs_to_steps({"milestones": [1, 3]}, steps_per_epoch=5)
            {'milestones': [5, 15]}
        """
        converted = dict(kwargs)
        defaults = inspect.signature(self.cls).parameters
        for key, convert in self.epoch_arguments.items():
            value = converted.get(key)
            if key not in converted and key in defaults:
                value = defaults[key].default
                if value is inspect.Parameter.empty:
                    continue
            if value is not None:
                converted[key] = convert(value, steps_per_epoch)
        return converted


def _timm_interval(kwargs: Mapping[str, Any]) -> Interval:
    """timm's ``t_in_epochs`` (default ``True``) steps per epoch; ``False`` per optimizer update."""
    return "epoch" if kwargs.get("t_in_epochs", True) else "step"


def _check_timm_stepping(kwargs: Mapping[str, Any], interval: str, unit: str) -> None:
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


def _timm_cycle(updates: int, kwargs: Mapping[str, Any]) -> int:
    """timm's ``t_initial`` from the run: the updates after a prefix warmup, split into ``cycle_limit``
    equal cycles (``create_scheduler_v2`` passes the epochs as ``t_initial`` for one cycle)."""
    cycles = kwargs.get("cycle_limit", 1)
    if kwargs.get("cycle_mul", 1.0) != 1.0 and cycles != 1:
        raise ValueError(
            "`t_initial` cannot be derived from the run for cycles of growing length (`cycle_mul` != 1 with "
            "`cycle_limit` > 1); give `t_initial`, the first cycle's length."
        )
    prefix = kwargs.get("warmup_t", 0) if kwargs.get("warmup_prefix", False) else 0
    return (updates - prefix) // cycles


_PER_GROUP = frozenset({"lr_lambda", "max_lr", "base_lr", "min_lr", "base_momentum", "max_momentum"})

_GAMMA = {"gamma": LowerBound(0, strict=True, meaning="the factor of each decay")}

_RECORDS: tuple[SchedulerInfo, ...] = (
    SchedulerInfo(
        lr_scheduler.StepLR,
        ("step",),
        epoch_arguments={"step_size": scale},
        floor_bounds=_GAMMA,
        keeps_zero=always,
    ),
    SchedulerInfo(
        lr_scheduler.MultiStepLR,
        ("multistep",),
        epoch_arguments={"milestones": scale_each},
        floor_bounds=_GAMMA,
        keeps_zero=always,
    ),
    # in a window, mmengine's ConstantLR, LinearLR and PolyLR take ``total_iters = end - begin - 1``
    # (mmengine/optim/scheduler/param_scheduler.py); its CosineAnnealingLR and OneCycleLR the whole window
    SchedulerInfo(
        lr_scheduler.ConstantLR,
        ("constant",),
        epoch_arguments={"total_iters": scale},
        window_argument="total_iters",
        window_offset=-1,
        # torch takes `factor=0` and divides by it at `total_iters`
        lower_bounds={
            "factor": LowerBound(
                0,
                strict=True,
                meaning="the factor it holds until `total_iters`, where torch divides by it",
                every_param=True,
            )
        },
        floor_bounds={
            "factor": LowerBound(0, strict=True, meaning="the factor it holds until `total_iters`")
        },
        keeps_zero=always,
    ),
    SchedulerInfo(
        lr_scheduler.LinearLR,
        ("linear",),
        length="total_iters",
        epoch_arguments={"total_iters": scale},
        window_offset=-1,
        floor_bounds={
            "end_factor": LowerBound(0, strict=True, meaning="the factor of the declared value it ends at")
        },
        keeps_zero=always,
    ),
    SchedulerInfo(
        lr_scheduler.PolynomialLR,
        ("polynomial",),
        length="total_iters",
        epoch_arguments={"total_iters": scale},
        window_offset=-1,
        # a negative power grows the lr, then divides by zero at `total_iters`
        lower_bounds={"power": LowerBound(0, strict=False, meaning="the exponent of the decay to 0")},
        zero_when=(
            ZeroWhen(
                "decays it to 0 at `total_iters` (for any `power` > 0)",
                "use `linear` with `end_factor > 0`, or `cosine` with `eta_min > 0`",
                functools.partial(given_positive, "power"),
            ),
        ),
        keeps_zero=always,
    ),
    SchedulerInfo(
        lr_scheduler.CosineAnnealingLR,
        ("cosine",),
        length="T_max",
        epoch_arguments={"T_max": scale},
        lower_bounds={"eta_min": LowerBound(0, strict=False, meaning="the lr it anneals to")},
        floor_bounds={"eta_min": LowerBound(0, strict=True, meaning="the value it anneals to")},
        # from 0 it anneals towards `eta_min`
        keeps_zero=functools.partial(all_zero, ("eta_min",)),
    ),
    SchedulerInfo(
        lr_scheduler.CosineAnnealingWarmRestarts,
        ("cosine_restarts",),
        epoch_arguments={"T_0": scale},
        lower_bounds={"eta_min": LowerBound(0, strict=False, meaning="the lr each cycle anneals to")},
        floor_bounds={"eta_min": LowerBound(0, strict=True, meaning="the value each cycle anneals to")},
        keeps_zero=functools.partial(all_zero, ("eta_min",)),
    ),
    SchedulerInfo(
        lr_scheduler.OneCycleLR,
        ("onecycle",),
        default_interval="step",
        length="total_steps",
        length_optional=False,  # its default `None` stands for `epochs` x `steps_per_epoch`
        length_given_by=("epochs",),
        per_epoch_argument="steps_per_epoch",
        epoch_arguments={"total_steps": scale},
        steps_limit=one_cycle_steps,
        empty_phase=one_cycle_empty_phase,
        per_group_arguments=frozenset({"max_lr", "base_momentum", "max_momentum"}),
        sets_lr_from="`max_lr / div_factor`",
        lr_arguments=("max_lr",),
        kept_elsewhere={
            "max_lr": functools.partial(in_groups, "max_lr"),
            "div_factor": functools.partial(groups_ratio, "max_lr", "initial_lr"),
            "final_div_factor": functools.partial(groups_ratio, "initial_lr", "min_lr"),
            "max_momentum": functools.partial(in_groups, "max_momentum"),
            "base_momentum": functools.partial(in_groups, "base_momentum"),
            "pct_start": one_cycle_pct_start,
            "three_phase": one_cycle_three_phase,
            "anneal_strategy": functools.partial(in_state, "_anneal_func_type"),
        },
        lower_bounds={
            "final_div_factor": LowerBound(
                0, strict=True, meaning="the last lr is `max_lr / div_factor / final_div_factor`"
            )
        },
        unread=(
            Unread(
                ("epochs", "steps_per_epoch"),
                "without `total_steps`",
                total_steps_given,
                "remove {it}, or remove `total_steps` to give the length as `epochs * steps_per_epoch`",
                ("total_steps",),
            ),
            Unread(
                ("steps_per_epoch",),
                "with `epochs`",
                steps_per_epoch_alone,
                "remove {it}, or give `epochs` beside it (the length is then `epochs * steps_per_epoch`)",
                ("epochs", "total_steps"),
            ),
            _UNREAD_MOMENTUM,
        ),
    ),
    SchedulerInfo(
        lr_scheduler.CyclicLR,
        ("cyclic",),
        default_interval="step",
        epoch_arguments={"step_size_up": scale, "step_size_down": scale},
        per_group_arguments=frozenset({"base_lr", "max_lr", "base_momentum", "max_momentum"}),
        sets_lr_from="`base_lr`",
        lr_arguments=("base_lr", "max_lr"),
        kept_elsewhere={
            "base_lr": functools.partial(in_state, "base_lrs"),
            "max_lr": functools.partial(in_state, "max_lrs"),
            "base_momentum": functools.partial(in_state, "base_momentums"),
            "max_momentum": functools.partial(in_state, "max_momentums"),
            "step_size_up": functools.partial(cyclic_steps, True),
            "step_size_down": functools.partial(cyclic_steps, False),
        },
        unread=(
            Unread(
                ("mode", "gamma"),
                "without a `scale_fn`",
                scale_fn_given,
                "remove {it}, or remove `scale_fn` to shape the cycles by `mode`",
                ("scale_fn",),
            ),
            Unread(
                ("gamma",),
                "with `mode='exp_range'` (which scales the cycles by `gamma ** iterations`)",
                mode_without_gamma,
                "remove {it}, or declare `mode='exp_range'`",
                ("mode", "scale_fn"),
            ),
            Unread(
                ("scale_mode",),
                "with a `scale_fn`",
                no_scale_fn,
                "remove {it}, or give the `scale_fn` it is for",
                ("scale_fn", "mode"),
                default_is_left_out=False,
            ),
            _UNREAD_MOMENTUM,
        ),
    ),
    SchedulerInfo(
        lr_scheduler.ExponentialLR,
        ("exponential",),
        epoch_arguments={"gamma": per_step_rate},
        floor_bounds={"gamma": LowerBound(0, strict=True, meaning="the factor of each update")},
        keeps_zero=always,
    ),
    SchedulerInfo(
        lr_scheduler.LambdaLR,
        ("lambda",),
        epoch_arguments={"lr_lambda": fractional_epochs},
        per_group_arguments=frozenset({"lr_lambda"}),
        keeps_zero=always,
    ),
    SchedulerInfo(
        lr_scheduler.MultiplicativeLR,
        ("multiplicative",),
        per_group_arguments=frozenset({"lr_lambda"}),
        keeps_zero=always,
    ),
    SchedulerInfo(
        PLATEAU,
        ("plateau", "transformers/reduce_lr_on_plateau"),
        per_group_arguments=frozenset({"min_lr"}),
        kept_elsewhere={"min_lr": functools.partial(in_state, "min_lrs")},
        # it only lowers a value (to `min_lr` at the least): a 0 stays
        keeps_zero=always,
    ),
    SchedulerInfo(
        lr_scheduler.SequentialLR,
        ("sequential",),
        composite=True,
        kept_elsewhere={"milestones": functools.partial(sequence_in_state, "_milestones")},
    ),
    SchedulerInfo(lr_scheduler.ChainedScheduler, ("chained",), composite=True),
    # transformers' ``get_scheduler`` schedules, stepped once per optimizer step as in its ``Trainer``
    *(
        SchedulerInfo(
            cls,
            (f"transformers/{name}",),
            default_interval="step",
            length="num_training_steps"
            if "num_training_steps" in inspect.signature(cls).parameters
            else None,
            length_optional=cls.runs_without_length,
            floor_bounds=_TRANSFORMERS_FLOORS.get(name, {}),
            zero_when=_TRANSFORMERS_ZERO.get(name, ()),
            peak_missed=functools.partial(transformers_peak_missed, name),
            known_as=_TRANSFORMERS_ARGUMENTS,
            own_warmup="num_warmup_steps",
            keeps_zero=always,  # `base_lr * factor(step)`, as `LambdaLR`
        )
        for name, cls in TRANSFORMERS_SCHEDULES.items()
    ),
    SchedulerInfo(
        TimmCosineLR,
        ("timm/cosine",),
        default_interval=_timm_interval,
        length="t_initial",
        derive_length=_timm_cycle,
        epoch_arguments={"t_initial": scale, "warmup_t": scale},
        # timm scales every lr its scheduler sets by the group's lr_scale (``Scheduler.update_groups``), the
        # floor and the warmup start too; this package's groups start from their scaled lr instead
        per_group_arguments=frozenset(PER_GROUP),
        lr_arguments=PER_GROUP,
        check_stepping=_check_timm_stepping,
        own_warmup="warmup_t",
        floor_bounds={"lr_min": LowerBound(0, strict=True, meaning="the value each cycle anneals to")},
        zero_when=(
            ZeroWhen(
                "starts its `warmup_t` warmup at `warmup_lr_init` (0 by default)",
                "give `warmup_lr_init > 0`",
                functools.partial(warmup_from, "warmup_t", "warmup_lr_init"),
            ),
        ),
        # its warmup starts at `warmup_lr_init`, its cycles anneal to `lr_min`
        keeps_zero=functools.partial(all_zero, ("lr_min", "warmup_lr_init")),
    ),
)


def is_scheduler_class(cls: Any) -> bool:
    """Whether ``cls`` is an ``LRScheduler`` subclass or ``ReduceLROnPlateau``."""
    return inspect.isclass(cls) and (
        (issubclass(cls, lr_scheduler.LRScheduler) and cls is not lr_scheduler.LRScheduler)
        or issubclass(cls, PLATEAU)
    )


def _torch_schedulers() -> list[type]:
    return [
        cls
        for name, cls in sorted(vars(lr_scheduler).items())
        if not name.startswith("_") and is_scheduler_class(cls)
    ]


#: Every known scheduler class -> its record (torch's, then this package's).
SCHEDULER_INFO: Mapping[type, SchedulerInfo] = MappingProxyType(
    {
        **{cls: SchedulerInfo(cls) for cls in _torch_schedulers()},
        **{record.cls: record for record in _RECORDS},
    }
)

#: Every scheduler name (lower-case class names and short names) -> its class.
SCHEDULERS: Mapping[str, type] = MappingProxyType(
    dict(
        sorted(
            {
                **{cls.__name__.lower(): cls for cls in SCHEDULER_INFO},
                **{name: record.cls for record in SCHEDULER_INFO.values() for name in record.names},
            }.items()
        )
    )
)


#: Names added with ``register_scheduler`` (``external.py``) -> their records.
REGISTERED_SCHEDULERS: dict[str, SchedulerInfo] = {}


def declared_info(declared: Any, cls: type) -> SchedulerInfo:
    """The record of a scheduler declared as ``declared`` (a name or a class) resolving to ``cls``: a name given
    to ``register_scheduler`` keeps its own record, also for a class that has one built in.

    Example:
        >>> from torch.optim.lr_scheduler import StepLR
        >>> declared_info("step", StepLR).default_interval
        'epoch'
    """
    if isinstance(declared, str) and (record := REGISTERED_SCHEDULERS.get(declared)) is not None:
        return record
    return scheduler_info(cls)


def scheduler_info(cls: type) -> SchedulerInfo:
    """The record of ``cls``; a scheduler from elsewhere (a dotted path) gets a plain record whose
    per-group arguments are those of the known names it accepts.

    Example:
        >>> from torch.optim.lr_scheduler import OneCycleLR
        >>> scheduler_info(OneCycleLR).length, scheduler_info(OneCycleLR).default_interval
        ('total_steps', 'step')
    """
    record = SCHEDULER_INFO.get(cls) or next(
        (i for i in REGISTERED_SCHEDULERS.values() if i.cls is cls), None
    )
    if record is not None:
        return record
    parameters = set(inspect.signature(cls).parameters)
    return SchedulerInfo(cls, per_group_arguments=_PER_GROUP & parameters)
