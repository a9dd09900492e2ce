"""``ResolvedScheduler``: a ``SchedulerSpec`` checked when the declaring class is defined.

It holds the declaration itself and what the check derived from it: the class and its record, the effective
``interval`` and ``unit``, and the length argument left to the run. A ``SchedulerSpec`` option is read from
``resolved.spec``: adding one is a keyword of ``SchedulerSpec`` plus the code that gives it its meaning.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from types import MappingProxyType
from typing import Any

import torch

from lightning_optim.declaring.arguments import check_arguments, check_option_clashes
from lightning_optim.declaring.hparam import HParam, contains_hparam, python_numbers, without_hparams
from lightning_optim.declaring.specs import SchedulerSpec, spec_options
from lightning_optim.registry.implementation import compiled_schedule_problem, held_as_tensors
from lightning_optim.registry.lookup import built_instance, is_built, resolve_class
from lightning_optim.registry.optimizers import optimizer_info
from lightning_optim.registry.scheduler_bounds import LowerBound, given_positive, group_values
from lightning_optim.registry.schedulers import SCHEDULER_INFO, SchedulerInfo, declared_info
from lightning_optim.utilities.errors import check_choice, did_you_mean, listing, prefixed
from lightning_optim.utilities.frozen import ReadOnlyMapping
from lightning_optim.utilities.numeric import is_float, is_int, is_real

INTERVALS = ("step", "epoch")


#: ``SchedulerSpec``'s own options (``interval``, ``frequency``, ...) with their defaults.
_STEPPING_DEFAULTS: Mapping[str, Any] = MappingProxyType(spec_options(SchedulerSpec))


@dataclass(frozen=True)
class ResolvedScheduler:
    """A checked ``SchedulerSpec`` and what its check derived; ``kwargs`` holds a composite's inner ones."""

    where: str
    #: the declaration, a ``warmup`` or ``begin`` of 0.0 written as the count 0 it is, its numbers given as numpy
    #: scalars as the Python numbers they are
    spec: SchedulerSpec
    cls: type
    #: what the package knows about ``cls``
    info: SchedulerInfo
    #: the declared arguments (a composite's ``schedulers`` as ``ResolvedScheduler``s)
    kwargs: Mapping[str, Any]
    #: the effective ``interval``: the declared one, or the scheduler's default
    interval: str
    #: what its arguments count: ``"epoch"`` with ``interval="step"`` converts them to steps
    unit: str
    #: the length argument left out, derived from the run when training starts
    derived_length: str | None
    #: the values its declaration's ``HParam``s read from the module when ``fit`` started (already per instance:
    #: each scheduler built uses them as they are, ``construct.own_callables``); none when the class is defined
    instance_values: tuple[Any, ...] = dataclasses.field(default=(), compare=False, repr=False)

    @property
    def is_plateau(self) -> bool:
        return self.info.is_plateau

    @property
    def windowed(self) -> bool:
        """Whether the scheduler acts only in a window (``begin`` or ``end`` declared)."""
        return self.spec.begin is not None or self.spec.end is not None

    @property
    def converts_epochs(self) -> bool:
        """Whether its epoch-valued arguments are converted to optimizer steps (``unit="epoch"``, per step)."""
        return self.unit == "epoch" and self.interval == "step"

    def run_inputs(self) -> list[tuple[str, str]]:
        """What it takes from the run, each with how to declare it instead (empty: nothing).

        Example:
            >>> from lightning_optim.declaring.specs import SchedulerSpec
            >>> resolve_scheduler("M.optimizer.scheduler", SchedulerSpec("cosine", warmup=0.1)).run_inputs()
            [('`T_max`', 'give `T_max` explicitly'), ('the warmup', 'give `warmup` as an int')]
        """
        inputs = []
        if self.derived_length is not None:
            inputs.append((f"`{self.derived_length}`", f"give `{self.derived_length}` explicitly"))
        if isinstance(self.spec.warmup, float):
            inputs.append(("the warmup", "give `warmup` as an int"))
        if self.converts_epochs:
            inputs.append(("the steps per epoch", "declare the schedule in steps"))
        if self.windowed:
            inputs.append(("the window", "give `begin` and `end` as ints"))
        return inputs


def _check_stepping(where: str, spec: SchedulerSpec, info: SchedulerInfo) -> str:
    """Check interval, frequency, monitor, strict, name and warmup; return the effective interval."""
    cls = info.cls
    known = without_hparams(spec.kwargs)  # HParams without default: checked when `fit` reads them
    default = info.interval_for(known)
    interval = default if spec.interval is None else spec.interval
    check_choice(where, "interval", interval, INTERVALS)
    if interval == "epoch" and spec.interval is not None and default == "step":
        warnings.warn(
            f"{where}: `{cls.__name__}` is meant to be stepped after every optimizer step but is declared "
            "with `interval='epoch'`; its cycle will then be measured in epochs.",
            UserWarning,
            stacklevel=4,
        )
    if not isinstance(spec.frequency, HParam) and (not is_int(spec.frequency) or spec.frequency < 1):
        error = ValueError if is_int(spec.frequency) else TypeError
        raise error(f"{where}: Expected `frequency` to be a positive int but got {spec.frequency!r}.")
    if info.is_plateau:
        if not isinstance(spec.monitor, str) or not spec.monitor:
            raise ValueError(
                f"{where}: `ReduceLROnPlateau` needs `monitor`, the name of a logged metric "
                f"(e.g. `monitor='val_loss'`), but got {spec.monitor!r}."
            )
    elif spec.monitor is not None:
        raise ValueError(
            f"{where}: `monitor` only applies to `ReduceLROnPlateau`, but the scheduler is `{cls.__name__}`; "
            "remove `monitor`."
        )
    if not isinstance(spec.strict, bool):
        raise TypeError(f"{where}: Expected `strict` to be a bool but got {spec.strict!r}.")
    if not spec.strict and not info.is_plateau:  # `strict=True` is the default: indistinguishable from none
        raise ValueError(
            f"{where}: Expected `strict` only with `ReduceLROnPlateau` (what it does when its `monitor` metric is "
            f"missing) but got `strict=False` with `{cls.__name__}`, which monitors nothing; remove `strict`."
        )
    if spec.name is not None and (not isinstance(spec.name, str) or not spec.name):
        raise TypeError(f"{where}: Expected `name` to be a non-empty str or None but got {spec.name!r}.")
    _check_warmup(where, spec)
    _check_unit(where, spec, info, interval)
    _check_window(where, spec)
    if info.check_stepping is not None and len(known) == len(spec.kwargs):
        with prefixed(where):
            info.check_stepping(spec.kwargs, interval, spec.unit or interval)
    return interval


def _count_or_fraction(value: Any, minimum: int, *, closed: bool) -> bool:
    """An int >= ``minimum`` (a count), or a fraction of the run: a float below 1, or up to 1 with ``closed``,
    above 0, or from 0.0 where the count 0 is accepted (0.0 of the run is the count 0: no warmup, its start).

    Example:
        >>> _count_or_fraction(0.0, 0, closed=False), _count_or_fraction(0.0, 1, closed=True)
        (True, False)
        >>> _count_or_fraction(1.0, 0, closed=False), _count_or_fraction(1.0, 1, closed=True)
        (False, True)
    """
    if is_int(value):
        return value >= minimum
    if not is_float(value):
        return False
    above = value >= 0.0 if minimum == 0 else value > 0.0
    return above and (value <= 1.0 if closed else value < 1.0)


def _zero_fractions_as_counts(spec: SchedulerSpec) -> SchedulerSpec:
    """``spec`` with a ``warmup`` or ``begin`` of 0.0 written as the count 0.

    A float is a fraction the run is measured for (a fractional warmup is at least one update, and needs a run
    of known length); 0.0 of the run is no warmup, or its start, without measuring anything: Hugging Face's
    ``warmup_ratio`` default. Written as 0 it trains, resumes and is described exactly as ``warmup=0``.

    Example:
        >>> _zero_fractions_as_counts(SchedulerSpec("cosine", warmup=0.0, begin=0.0, end=0.5))
        SchedulerSpec('cosine', warmup=0, begin=0, end=0.5)
    """
    fractions = {"warmup": spec.warmup, "begin": spec.begin}
    zeros: dict[str, Any] = {
        option: 0 for option, value in fractions.items() if isinstance(value, float) and value == 0
    }
    if not zeros:
        return spec
    return dataclasses.replace(spec, **zeros)


def _check_warmup(where: str, spec: SchedulerSpec) -> None:
    """``warmup``: None, an int >= 0 or a fraction in [0, 1); ``warmup_start_factor``: in [0, 1).

    Whether the factor has a warmup to apply to is the declaration's check (``check_start_factor_applies``): a
    ``warmup`` read from an ``HParam`` may come to 0 in one run and not in another.
    """
    warmup, start = spec.warmup, spec.warmup_start_factor
    if not (warmup is None or isinstance(warmup, HParam) or _count_or_fraction(warmup, 0, closed=False)):
        raise ValueError(
            f"{where}: Expected `warmup` to be None, an int >= 0 (intervals) or a float in [0, 1) "
            f"(fraction of the run; 0.0 is none) but got {warmup!r}."
        )
    if start is None:
        return
    if not isinstance(start, HParam) and (not is_real(start) or not 0.0 <= start < 1.0):
        raise ValueError(
            f"{where}: Expected `warmup_start_factor` to be a float in [0, 1) but got {start!r}."
        )


def check_start_factor_applies(where: str, declared: SchedulerSpec) -> None:
    """A ``warmup_start_factor`` declared beside a literal ``warmup`` of None, 0 or 0.0, which it can never apply to.

    ``declared`` is the declaration as written, its ``HParam``s unread. A ``warmup`` read from an ``HParam`` is
    not known until ``fit``, and 0 is one value of a sweep over it (torchvision's ``--lr-warmup-epochs 0``
    beside its ``--lr-warmup-decay``): that run trains without a warmup and the factor goes unused.

    Example:
        >>> check_start_factor_applies("M.opt.scheduler", SchedulerSpec("cosine", warmup=HParam("w"), warmup_start_factor=0.1))
        >>> check_start_factor_applies("M.opt.scheduler", SchedulerSpec("cosine", warmup=0, warmup_start_factor=0.1))
        Traceback (most recent call last):
        ...
        ValueError: M.opt.scheduler: `warmup_start_factor` only applies with a `warmup`, but `warmup` is 0; give `warmup=` or remove `warmup_start_factor`.
    """
    warmup = declared.warmup
    literal = is_real(warmup)
    if declared.warmup_start_factor is not None and (warmup is None or (literal and warmup == 0)):
        raise ValueError(
            f"{where}: `warmup_start_factor` only applies with a `warmup`, but `warmup` is {warmup!r}; "
            "give `warmup=` or remove `warmup_start_factor`."
        )


def adds_warmup(spec: SchedulerSpec) -> bool:
    """Whether ``spec`` declares a ``warmup`` of at least one update: a literal int or fraction above 0 (one
    read from an ``HParam`` is known when ``fit`` reads it, and checked then).

    Example:
        >>> adds_warmup(SchedulerSpec("cosine", warmup=0.05)), adds_warmup(SchedulerSpec("cosine", warmup=0))
        (True, False)
    """
    warmup = spec.warmup
    return is_real(warmup) and warmup > 0


def check_one_warmup(scheduler: ResolvedScheduler, starts_at_zero: bool) -> None:
    """A ``warmup`` on a scheduler that warms up itself: by the argument that counts its own warmup
    (``SchedulerInfo.own_warmup``: transformers' ``num_warmup_steps``, timm's ``warmup_t``), or by starting the
    value it drives at 0 (``starts_at_zero``, told by a trial build: a ``LambdaLR`` whose ``lr_lambda(0)`` is 0).

    The package's warmup climbs to the value the scheduler starts at, then starts it (``Schedule``): from 0 it
    trains at lr 0 for the whole warmup (a weight decay or momentum is held at 0, which still trains), and the
    scheduler then warms up again; from its own warmup's first value,
    the value climbs twice. A schedule-free optimizer's own warmup beside a scheduler is refused likewise.

    Example:
        >>> linear = resolve_scheduler("M.opt.scheduler", SchedulerSpec("transformers/linear", num_warmup_steps=0, warmup=4))
        >>> check_one_warmup(linear, starts_at_zero=False)
        >>> timm = resolve_scheduler("M.opt.scheduler", SchedulerSpec("timm/cosine", warmup_t=2, warmup_lr_init=0.01, warmup=4))
        >>> check_one_warmup(timm, starts_at_zero=False)
        Traceback (most recent call last):
        ...
        ValueError: M.opt.scheduler: Expected `warmup=4` on a scheduler that starts at the declared lr but got `TimmCosineLR`, which warms up itself (`warmup_t=2`): `warmup=` climbs to the lr the scheduler starts at, its own warmup's first lr, so the lr would warm up twice. Keep one warmup: leave `warmup` out and keep `warmup_t=2`, or leave `warmup_t` out and keep `warmup=4`.
    """
    spec = scheduler.spec
    own = scheduler.info.own_warmup
    warms_itself = own is not None and given_positive(own, scheduler.kwargs)
    if not adds_warmup(spec) or not (warms_itself or starts_at_zero):
        return
    name, warmup = scheduler.cls.__name__, f"`warmup={spec.warmup!r}`"
    driven = "lr" if spec.param == "lr" else f"`{spec.param}`"
    if own is not None and warms_itself:
        declared = f"`{own}={scheduler.kwargs[own]!r}`"
        how = f"warms up itself{' from 0' if starts_at_zero else ''} ({declared})"
        fixes = f"leave `warmup` out and keep {declared}, or leave `{own}` out and keep {warmup}"
    else:
        how = f"starts the {driven} at 0 when it is built"
        fixes = f"leave `warmup` out (`{name}` rises from 0 itself), or declare a scheduler that starts at the declared {driven}"
    if starts_at_zero and spec.param != "lr":  # a weight decay or momentum at 0 still trains
        consequence = f"0 here, so it would hold the {driven} at 0 for the whole warmup, then `{name}` would ramp it again"
    elif starts_at_zero:
        then = f", then `{name}` would warm up again" if warms_itself else ""
        consequence = f"0 here, so the {driven} would stay 0 for the whole warmup (training nothing){then}"
    else:
        consequence = f"its own warmup's first {driven}, so the {driven} would warm up twice"
    raise ValueError(
        f"{scheduler.where}: Expected {warmup} on a scheduler that starts at the declared {driven} but got "
        f"`{name}`, which {how}: `warmup=` climbs to the {driven} the scheduler starts at, {consequence}. Keep "
        f"one warmup: {fixes}."
    )


def _check_window(where: str, spec: SchedulerSpec) -> None:
    """``begin``: None, an int >= 0 or a fraction in [0, 1); ``end``: None, an int >= 1 or a fraction in (0, 1].
    An ``HParam`` without default (``begin``, ``end`` or ``warmup``) is checked when ``fit`` reads its value."""
    begin, end = (None if isinstance(value, HParam) else value for value in (spec.begin, spec.end))
    if begin is not None and not _count_or_fraction(begin, 0, closed=False):
        raise ValueError(
            f"{where}: Expected `begin` to be None, an int >= 0 (the scheduler's updates) or a float in [0, 1) "
            f"(fraction of the run; 0.0 is its start) but got {begin!r}."
        )
    if end is not None and not _count_or_fraction(end, 1, closed=True):
        raise ValueError(
            f"{where}: Expected `end` to be None (the end of the run), an int >= 1 (the scheduler's updates) or a "
            f"float in (0, 1] (fraction of the run) but got {end!r}."
        )
    same_kind = is_float(begin) == is_float(end)
    if begin is not None and end is not None and same_kind and end <= begin:
        raise ValueError(f"{where}: Expected `end` to be after `begin` but got begin={begin!r}, end={end!r}.")
    if (begin is not None or end is not None) and spec.warmup and not isinstance(spec.warmup, HParam):
        raise ValueError(
            f"{where}: `warmup` cannot be combined with a window (`begin`/`end`); declare the warmup as its own "
            "windowed scheduler, e.g. `SchedulerSpec('linear', start_factor=0.01, end=500, interval='step')`."
        )


def _check_unit(where: str, spec: SchedulerSpec, info: SchedulerInfo, interval: str) -> None:
    if spec.unit is None:
        return
    check_choice(where, "unit", spec.unit, INTERVALS)
    if spec.unit == "step" and interval == "epoch":
        raise ValueError(
            f"{where}: `unit='step'` declares the schedule in optimizer steps, but `interval='epoch'` steps it "
            "once per epoch; use `interval='step'` (or remove `unit`)."
        )
    if spec.unit == "epoch" and interval == "step":
        if not info.epoch_arguments:
            known = sorted(c.__name__ for c, i in SCHEDULER_INFO.items() if i.epoch_arguments)
            raise ValueError(
                f"{where}: Expected a scheduler whose epoch-valued arguments are known for `unit='epoch'` "
                f"with `interval='step'` ({listing(known)}) but got `{info.cls.__name__}`; declare it with "
                "`interval='epoch'`, or in steps."
            )
        if spec.frequency != 1 and not isinstance(spec.frequency, HParam):
            raise ValueError(
                f"{where}: Expected `frequency` to be 1 with `unit='epoch'` and `interval='step'` but got "
                f"{spec.frequency!r}: such a schedule updates the lr after every optimizer step."
            )


def _check_milestones(where: str, cls: type, milestones: Any) -> None:
    """A ``SequentialLR``'s ``milestones`` increase: torch accepts any order, but finds the scheduler in use by
    bisecting them (``bisect_right``), so out of order or repeated they leave a scheduler that never acts
    (``[4, 2]`` runs ``schedulers[2]`` from update 2 on and never ``schedulers[1]``). An ``HParam`` or a value torch
    refuses itself is left to fit."""
    if not isinstance(milestones, (list, tuple)) or not all(isinstance(m, numbers.Real) for m in milestones):
        return
    if all(a < b for a, b in pairwise(milestones)):
        return
    ordered = sorted(set(milestones))
    hint = f" (did you mean {ordered!r}?)" if len(ordered) == len(milestones) else ""
    raise ValueError(
        f"{where}: Expected `milestones` of `{cls.__name__}` to be increasing (`schedulers[i + 1]` takes over at "
        f"`milestones[i]`) but got {list(milestones)!r}: torch finds the scheduler in use by bisecting them, which "
        f"takes them as sorted, so out of order or repeated they leave a scheduler that never acts{hint}."
    )


def _check_inner_lengths(where: str, cls: type, inner: Sequence[ResolvedScheduler]) -> None:
    """Every scheduler inside a composite gives its length: the package derives a length left out from the run,
    but a composite gives each of its schedulers only part of the run (a ``SequentialLR``'s phase between two
    milestones), which it does not count. A list of schedulers derives each one's length, from its window."""
    missing = [f"`{s.derived_length}` of `{s.cls.__name__}` ({s.where})" for s in inner if s.derived_length]
    if not missing:
        return
    lengths = listing(dict.fromkeys(s.derived_length for s in inner if s.derived_length))
    raise TypeError(
        f"{where}: Expected every length inside `{cls.__name__}` to be given but got none for "
        f"{', '.join(missing)}: a length left out is derived from the run, but a scheduler inside a composite runs "
        f"only the part of it the composite gives it. Give {lengths}, or declare the schedulers as a list, "
        "`scheduler=[SchedulerSpec(...), ...]`, whose schedulers each derive their length: from their window for a "
        "`SequentialLR`'s phases (`begin=` at the milestone before, `end=` at the one after)."
    )


def _check_updates_per_epoch(where: str, spec: SchedulerSpec, info: SchedulerInfo) -> None:
    """A length given in epochs (``OneCycleLR``'s ``epochs``) with its steps per epoch derived from the run, on a
    scheduler updated every ``frequency > 1`` epochs: the updates per epoch are ``1 / frequency``, and no int
    ``steps_per_epoch`` makes ``epochs * steps_per_epoch`` the values the run trains with (the run's length in
    updates is ``ceil(epochs / frequency)``). An ``HParam`` ``frequency`` is checked with the value ``fit``
    reads (this runs again then)."""
    frequency = spec.frequency
    if isinstance(frequency, HParam) or frequency == 1:
        return
    given = next(key for key in info.length_given_by if key in spec.kwargs)
    epochs, length = spec.kwargs[given], info.length
    total = f" ({math.ceil(epochs / frequency)} updates in {epochs} epochs)" if is_int(epochs) else ""
    raise ValueError(
        f"{where}: Expected `frequency=1` beside `{given}={epochs!r}` with `interval='epoch'` but got "
        f"`frequency={frequency!r}`: `{info.per_epoch_argument}` is derived as the updates per epoch, and one "
        f"update every {frequency} epochs is 1/{frequency} of an update per epoch, which no "
        f"`{info.per_epoch_argument}` (an int) gives. Leave `{given}` out to derive `{length}` from the run, or "
        f"give `{length}`{total}."
    )


def _refuse_epochs_in_window(where: str, spec: SchedulerSpec, info: SchedulerInfo) -> None:
    """A length given in epochs (``OneCycleLR``'s ``epochs``) without its steps per epoch, in a window: outside
    one they are derived from the run, but a window counts the scheduler's updates and derives a length left out
    from its span, so epochs there would be a second length that the window need not match. Refused, before
    torch's "You must define either total_steps OR (epochs AND steps_per_epoch)"; with both given the
    scheduler takes them as declared."""
    per_epoch, length = info.per_epoch_argument, info.window_length
    given = next(key for key in info.length_given_by if key in spec.kwargs)
    offset = f" + {info.window_offset}".replace("+ -", "- ") if info.window_offset else ""
    raise ValueError(
        f"{where}: Expected the length of `{info.cls.__name__}` in a window (`begin`/`end`) to be `{length}` or "
        f"left out but got `{given}={spec.kwargs[given]!r}` without `{per_epoch}`: a window counts the "
        f"scheduler's updates, and a length left out is its span (`{length} = end - begin{offset}`), not a count "
        f"of epochs. Leave `{given}` out (the length then spans the window), or give `{length}`, or `{per_epoch}` "
        f"beside `{given}`."
    )


def resolve_scheduler(where: str, spec: Any, *, nested: bool = False) -> ResolvedScheduler:
    """Check one ``SchedulerSpec`` (``nested``: inside a SequentialLR/ChainedScheduler)."""
    if not isinstance(spec, SchedulerSpec):
        # `None` means "no scheduler" for `scheduler=` itself; an entry of a list is one scheduler
        accepted = "a SchedulerSpec" if where.endswith("]") else "a SchedulerSpec, a list of them, or None"
        if is_built(spec):
            raise TypeError(f"{where}: Expected {accepted} but got {built_instance(spec, 'scheduler')}")
        hint = " (remove the entry: a list holds schedulers)" if spec is None else ""
        raise TypeError(f"{where}: Expected {accepted} but got {spec!r}{hint}.")
    cls = resolve_class(spec.scheduler, "scheduler", where=where)
    info = declared_info(spec.scheduler, cls)
    check_option_clashes(where, cls, spec)
    extra = () if nested else tuple(_STEPPING_DEFAULTS)
    windowed = not nested and (spec.begin is not None or spec.end is not None)
    # a required length written as `None` (a config dump's) is left out, here and in all that follows
    declared = info.declared_lengths(spec.kwargs, windowed=windowed)
    missing = check_arguments(where, cls, declared, extra, info.per_group_arguments, info.known_as)
    derived_length = info.derived_length(declared, windowed=windowed)
    per_epoch = info.per_epoch_argument
    length_declared = {info.window_length, per_epoch} & declared.keys()
    if windowed and per_epoch is not None and derived_length is None and not length_declared:
        _refuse_epochs_in_window(where, spec, info)
    missing = [m for m in missing if m != derived_length]
    if missing:
        raise TypeError(f"{where}: `{cls.__name__}` needs the argument(s) {listing(missing)}.")
    _check_unread(where, info, declared)
    if nested:
        set_options = [o for o, default in _STEPPING_DEFAULTS.items() if getattr(spec, o) != default]
        if set_options:
            raise ValueError(
                f"{where}: a scheduler inside a composite scheduler is stepped by it; "
                f"remove {listing(set_options)} (declare them on the outer SchedulerSpec)."
            )
        if info.is_plateau:
            raise ValueError(f"{where}: `ReduceLROnPlateau` cannot be part of a composite scheduler.")
        interval = "epoch"
    else:
        interval = _check_stepping(where, spec, info)
        if derived_length is not None and derived_length == per_epoch and interval == "epoch":
            _check_updates_per_epoch(where, spec, info)
    kwargs = dict(declared)
    if info.composite:
        inner = kwargs.get("schedulers")
        if not isinstance(inner, (list, tuple)) or not inner:
            raise TypeError(
                f"{where}: Expected `schedulers` of `{cls.__name__}` to be a non-empty list of SchedulerSpec "
                f"but got {inner!r}."
            )
        kwargs["schedulers"] = tuple(
            resolve_scheduler(f"{where}.schedulers[{i}]", s, nested=True) for i, s in enumerate(inner)
        )
        _check_milestones(where, cls, kwargs.get("milestones"))
        _check_inner_lengths(where, cls, kwargs["schedulers"])
    if (
        not nested
    ):  # the bounds are the lr's, or torch's (`every_param`); a composite's schedulers drive its param
        inner = kwargs["schedulers"] if info.composite else ()
        for at, checked, arguments in (
            (where, info, declared),
            *((s.where, s.info, s.kwargs) for s in inner),
        ):
            bounds = {k: b for k, b in checked.lower_bounds.items() if spec.param == "lr" or b.every_param}
            _check_lower_bounds(at, checked, arguments, bounds)
    _check_param_kind(where, spec, cls, info)
    return ResolvedScheduler(
        where=where,
        spec=_zero_fractions_as_counts(python_numbers(spec)),
        cls=cls,
        info=info,
        kwargs=ReadOnlyMapping(kwargs),
        interval=interval,
        unit=spec.unit or interval,
        derived_length=derived_length,
    )


def _check_unread(where: str, info: SchedulerInfo, kwargs: Mapping[str, Any]) -> None:
    """No declared argument is one the scheduler builds without reading (``info.unread``): torch's ``CyclicLR``
    takes ``gamma`` beside ``mode="triangular"`` and trains as without it. Only the declared arguments count,
    never torch's defaults nor the length ``fit`` derives; an ``HParam`` deciding it is checked with the value
    ``fit`` reads (this runs again then). An argument spelled out at the scheduler's own default (``epochs=None``,
    ``gamma=1.0``, as a config dump writes every argument; a per-group one with each group's value at it,
    ``base_momentum=[0.85, 0.85]``) is not declared: it trains as left out."""
    for unread in info.unread:
        given = [
            key
            for key in unread.arguments
            if key in kwargs and not (unread.default_is_left_out and _at_default(info, key, kwargs[key]))
        ]
        if not given or any(contains_hparam(kwargs.get(key)) for key in unread.decided_by):
            continue
        by = unread.unread_by(kwargs)
        if by is None:
            continue
        got = ", ".join(f"`{key}={kwargs[key]!r}`" for key in given)
        it = "it" if len(given) == 1 else "them"
        raise ValueError(
            f"{where}: Expected {listing(given)} of `{info.cls.__name__}` only {unread.read_with} but got {got} "
            f"with {by}: `{info.cls.__name__}` never reads {it} there; {unread.instead.format(it=it)}."
        )


def _at_default(info: SchedulerInfo, key: str, value: Any) -> bool:
    """Whether ``value`` is ``key``'s default (``_is_default``): each group's value of a per-group argument.

    Example:
        >>> from torch.optim.lr_scheduler import OneCycleLR
        >>> onecycle = SCHEDULER_INFO[OneCycleLR]
        >>> _at_default(onecycle, "base_momentum", [0.85, 0.85]), _at_default(onecycle, "base_momentum", [0.85, 0.8])
        (True, False)
        >>> _at_default(onecycle, "max_momentum", {"head": 0.95}), _at_default(onecycle, "max_momentum", [])
        (True, False)
    """
    values = group_values(value) if key in info.per_group_arguments else [value]
    return bool(values) and all(_is_default(info.cls, key, v) for v in values)


def _is_default(cls: type, key: str, value: Any) -> bool:
    """Whether ``value`` is what ``cls`` takes for ``key`` when it is left out (its signature's default).

    Example:
        >>> from torch.optim.lr_scheduler import CyclicLR
        >>> [_is_default(CyclicLR, k, v) for k, v in (("gamma", 1), ("gamma", 0.5), ("scale_fn", None))]
        [True, False, True]
        >>> _is_default(CyclicLR, "mode", "triangular"), _is_default(CyclicLR, "mode", "exp_range")
        (True, False)
    """
    parameter = inspect.signature(cls).parameters.get(key)
    default = inspect.Parameter.empty if parameter is None else parameter.default
    if default is None or value is None or isinstance(value, bool) or isinstance(default, bool):
        return value is default
    if is_real(value) and is_real(default):
        return float(value) == float(default)
    return isinstance(value, str) and value == default


def _check_lower_bounds(
    where: str,
    info: SchedulerInfo,
    kwargs: Mapping[str, Any],
    bounds: Mapping[str, LowerBound],
    why: str = "",
) -> None:
    """The declared numbers of ``bounds`` (``info.lower_bounds``) are above their bounds, for a schedule of the
    lr: torch takes a negative ``eta_min`` and trains until the cosine crosses zero, late in the run, before the
    lr goes negative. An ``HParam`` is checked with the value ``fit`` reads (this runs again then). A schedule of
    another option (``param="weight_decay"``) is left to the runtime check of the values it sets, but for the
    bounds of torch's scheduler itself (``every_param``: ``ConstantLR`` divides by its ``factor``) and the
    ``floor_bounds`` of one the optimizer divides by (``check_positive_floor``)."""
    for key, bound in bounds.items():
        value = kwargs.get(key)
        for number in group_values(value):  # one per group: each
            if (
                isinstance(number, numbers.Real)
                and not isinstance(number, bool)
                and not bound.admits(float(number))
            ):
                got = repr(number) if number is value else f"{number!r} in {value!r}"
                raise ValueError(
                    f"{where}: Expected `{key}` of `{info.cls.__name__}` to be {bound} ({bound.meaning}) but got "
                    f"{got}{why}."
                )


def check_positive_floor(scheduler: ResolvedScheduler, cls: type) -> None:
    """A schedule of an option that ``cls`` divides by (``OptimizerInfo.positive_options``: schedule-free's
    ``eval()`` by its ``momentum``/``beta1``) never sets it to 0: not by the ``floor_bounds`` of a scheduler in
    it (``eta_min=0``, ``CosineAnnealingLR``'s default), not by its shape (``zero_when``: ``PolynomialLR``'s
    decay, a transformers warmup from 0), not by a warmup from ``warmup_start_factor=0``. Each would train and
    then fail at a validation. A value only a run tells (a ``LambdaLR``'s) is checked where eval mode is
    entered (``training/schedule_free.py``)."""
    param = scheduler.spec.param
    if param not in optimizer_info(cls).positive_options:
        return
    why = f" (a schedule of `{param}`, which `{cls.__name__}` divides by, must keep it > 0)"
    for checked in (scheduler, *(scheduler.kwargs["schedulers"] if scheduler.info.composite else ())):
        start = checked.spec.warmup_start_factor
        if checked.spec.warmup and isinstance(start, numbers.Real) and start <= 0:
            raise ValueError(
                f"{checked.where}: Expected `warmup_start_factor` to be > 0 (the warmup's first factor) but got "
                f"{start!r}{why}; leave it out (the warmup starts at 1 / (warmup + 1))."
            )
        defaults = {
            key: p.default
            for key, p in inspect.signature(checked.cls).parameters.items()
            if p.default is not inspect.Parameter.empty
        }
        kwargs = {**defaults, **checked.kwargs}
        _check_lower_bounds(checked.where, checked.info, kwargs, checked.info.floor_bounds, why)
        for zero in checked.info.zero_when:
            if zero.when(kwargs):
                raise ValueError(
                    f"{checked.where}: Expected a schedule that keeps `{param}` > 0 (`{cls.__name__}` divides by "
                    f"it) but got `{checked.info.cls.__name__}`, which {zero.happens}; {zero.instead}."
                )


def keeps_zero(scheduler: ResolvedScheduler) -> bool:
    """Whether ``scheduler`` keeps a group whose value it drives starts at 0 at 0 at every update, by its record
    (``SchedulerInfo.keeps_zero``: a value times a factor, as ``LambdaLR`` and ``LinearLR`` set; a cosine to
    ``eta_min=0``), and a composite's schedulers all of them; not one that sets values of its own (``OneCycleLR``,
    a cosine to ``eta_min=0.4``), nor one whose record says nothing (a scheduler from elsewhere). A ``warmup``
    climbs to the value the scheduler starts at, a window leaves the value as it is outside: neither moves a 0.

    Example:
        >>> def declared(*args, **kwargs):
        ...     return resolve_scheduler("M.opt.scheduler", SchedulerSpec(*args, param="momentum", **kwargs))
        >>> keeps_zero(declared("linear", start_factor=0.5, warmup=2)), keeps_zero(declared("cosine", T_max=4))
        (True, True)
        >>> keeps_zero(declared("cosine", T_max=4, eta_min=0.4)), keeps_zero(declared("cyclic", base_lr=0.1, max_lr=0.2, cycle_momentum=False))
        (False, False)
    """
    if scheduler.info.composite:
        return all(keeps_zero(inner) for inner in scheduler.kwargs["schedulers"])
    condition = scheduler.info.keeps_zero
    if condition is None:
        return False
    defaults = {
        key: p.default
        for key, p in inspect.signature(scheduler.cls).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    return condition({**defaults, **scheduler.kwargs})


def _check_param_kind(where: str, spec: SchedulerSpec, cls: type, info: SchedulerInfo) -> None:
    """``param`` is a non-empty str, and a scheduler driving something else than the lr is one that only
    reads and writes ``group["lr"]`` (not a plateau, nor a cycle that also cycles momentum)."""
    param = spec.param
    if not isinstance(param, str) or not param:
        raise TypeError(
            f"{where}: Expected `param` to be the name of a param-group option (e.g. 'weight_decay') but got "
            f"{param!r}."
        )
    if param == "lr":
        return
    if info.is_plateau:
        raise ValueError(
            f"{where}: Expected `param` to be 'lr' with `ReduceLROnPlateau` but got {param!r}: `ReduceLROnPlateau` "
            f"only schedules the lr. Schedule `{param}` with a scheduler of its own."
        )
    if cycles_momentum(cls, spec.kwargs):
        raise ValueError(
            f"{where}: `{cls.__name__}` also cycles the momentum (`cycle_momentum=True`), which would fight a "
            f"schedule of `{param}`; pass `cycle_momentum=False`, or schedule the momentum itself with "
            "`param='momentum'`."
        )


def cycles_momentum(cls: type, kwargs: Mapping[str, Any]) -> bool:
    """Whether a scheduler of class ``cls`` built with ``kwargs`` also cycles the momentum (``OneCycleLR`` and
    ``CyclicLR`` with ``cycle_momentum=True``, their default).

    Example:
        >>> from torch.optim.lr_scheduler import OneCycleLR
        >>> cycles_momentum(OneCycleLR, {}), cycles_momentum(OneCycleLR, {"cycle_momentum": False})
        (True, False)
    """
    try:
        cycle = inspect.signature(cls).parameters.get("cycle_momentum")
    except (TypeError, ValueError):
        return False
    return cycle is not None and bool(kwargs.get("cycle_momentum", cycle.default))


def schedulable_params(optimizer: torch.optim.Optimizer, group: Mapping[str, Any] | None = None) -> list[str]:
    """The options a ``SchedulerSpec(param=...)`` can drive on ``optimizer``: its numeric per-group options,
    plus ``beta1``/``beta2`` (and ``momentum``) for an optimizer with ``betas``; not the keys it keeps in its
    groups as its own running state (schedule-free's step counter ``k``). Read from ``group``, by default the
    last param group.

    Example:
        >>> opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
        >>> schedulable_params(opt)
        ['beta1', 'beta2', 'eps', 'lr', 'momentum', 'weight_decay']
    """
    group = optimizer.param_groups[-1] if group is None else group
    running = optimizer_info(type(optimizer)).running_state
    names = {
        key
        for key, value in group.items()
        if not key.startswith("initial_")
        and key not in running
        and not isinstance(value, bool)
        and (isinstance(value, numbers.Real) or (isinstance(value, torch.Tensor) and value.numel() == 1))
    }
    betas = group.get("betas")
    if isinstance(betas, (tuple, list)) and len(betas) == 2:
        names |= {"beta1", "beta2", "momentum"}
    return sorted(names)


def check_param(scheduler: ResolvedScheduler, optimizer: torch.optim.Optimizer) -> None:
    accepted = schedulable_params(optimizer)
    if scheduler.spec.param not in accepted:
        raise ValueError(
            f"{scheduler.where}: Expected `param` to be a numeric per-group option of "
            f"`{type(optimizer).__name__}` but got {scheduler.spec.param!r}{did_you_mean(scheduler.spec.param, accepted)}. "
            f"Accepted: {listing(accepted)}."
        )
    check_positive_floor(scheduler, type(optimizer))


def compiled_schedule_refusal(cls: type, schedulers: Sequence[ResolvedScheduler]) -> str | None:
    """Why a compiled step of ``cls`` cannot take these schedules (the first that drives an option it cannot hold
    as a tensor, which would compile the step again at every new value), or ``None``."""
    for scheduler in schedulers:
        problem = compiled_schedule_problem(
            cls, scheduler.spec.param, cycles_momentum(scheduler.cls, scheduler.spec.kwargs)
        )
        if problem is None:
            continue
        by_cycle = compiled_schedule_problem(cls, scheduler.spec.param, False) is None
        driven = (
            f"`cycle_momentum=True` (`{scheduler.cls.__name__}`'s default), which cycles the momentum"
            if by_cycle
            else f"param={scheduler.spec.param!r}"
        )
        fix = "Pass `cycle_momentum=False`" if by_cycle else "Drive another option"
        return (
            f"{scheduler.where}: Expected a schedule under `implementation='compiled'` to drive an option that "
            f"`{cls.__name__}` takes as a tensor ({listing(sorted(held_as_tensors(cls)))}) but got {driven}: "
            f"{problem} (every new value would compile it again). {fix}, or use another `implementation` for "
            "this optimizer."
        )
    return None


def scheduler_where(where: str, index: int, listed: bool) -> str:
    """How messages name an optimizer's scheduler: ``<where>.scheduler``, or ``<where>.scheduler[i]`` in a list.

    Example:
        >>> scheduler_where("Model.optimizer", 1, listed=True)
        'Model.optimizer.scheduler[1]'
    """
    return f"{where}.scheduler[{index}]" if listed else f"{where}.scheduler"
