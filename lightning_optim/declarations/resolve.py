"""Check declarations when a module class is defined and turn them into resolved, validated declared_all.

Everything that can be checked without the model is checked here, so that a typo fails at import time
with a message naming the attribute: class names, keyword arguments against the class signature (with a
"did you mean"), stepping options, group options against the optimizer's per-group options, and the
values themselves, by building the optimizer and scheduler once over stand-in parameters.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import Any

import torch

from lightning_optim.declarations.hparams import (
    HParam,
    Occurrence,
    contains_hparam,
    find_hparams,
    with_defaults,
    without_hparams,
)
from lightning_optim.declarations.specs import (
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    Selector,
    spec_options,
)
from lightning_optim.groups.multipliers import MULTIPLIERS, check_multipliers
from lightning_optim.groups.recipes import RECIPES, Recipe
from lightning_optim.groups.selection import check_callable_selector
from lightning_optim.registry.external import name_arguments
from lightning_optim.registry.guards import bad_learning_rate
from lightning_optim.registry.implementation import check_implementation
from lightning_optim.registry.lookup import resolve_class
from lightning_optim.registry.optimizers import optimizer_info
from lightning_optim.registry.schedulers import (
    SCHEDULER_INFO,
    SchedulerInfo,
    is_scheduler_class,
    scheduler_info,
)
from lightning_optim.schedules.param_schedule import ParamSchedule
from lightning_optim.utilities.errors import check_choice, did_you_mean, listing, prefixed, torch_rejects
from lightning_optim.utilities.typecheck import check_type

INTERVALS = ("step", "epoch")

#: ``SchedulerSpec``'s own options (``interval``, ``frequency``, ...) with their defaults.
_STEPPING_DEFAULTS: Mapping[str, Any] = MappingProxyType(spec_options(SchedulerSpec))

#: ``OptimizerSpec``'s own options (``params``, ``groups``, ``scheduler``, ...).
_OPTIMIZER_OPTIONS = tuple(spec_options(OptimizerSpec))


@dataclass(frozen=True)
class ResolvedScheduler:
    """A checked ``SchedulerSpec``; ``kwargs`` may hold nested ``ResolvedScheduler``s for composites."""

    where: str
    cls: type
    kwargs: Mapping[str, Any]
    interval: str
    frequency: int
    monitor: str | None
    strict: bool
    name: str | None
    warmup: int | float | None
    #: the length argument left out, to derive from the run when ``fit`` starts
    derived_length: str | None
    warmup_start_factor: float | None
    #: what the scheduler's own arguments count: ``"epoch"`` with ``interval="step"`` converts them to steps
    unit: str
    #: what the package knows about ``cls``
    info: SchedulerInfo
    #: the window of its updates it acts in (mmengine's ``begin``/``end``); both ``None``: the whole run
    begin: int | float | None = None
    end: int | float | None = None
    #: the param-group option it drives: ``"lr"``, or another numeric option through a ``ParamSchedule``
    param: str = "lr"

    @property
    def is_plateau(self) -> bool:
        return self.info.is_plateau

    @property
    def windowed(self) -> bool:
        """Whether the scheduler acts only in a window (``begin`` or ``end`` declared)."""
        return self.begin is not None or self.end is not None


@dataclass(frozen=True)
class ResolvedGroup:
    """A checked ``ParamGroup``: its selector, its name (``None``: derived at build time), options and scales."""

    select: Selector
    name: str | None
    options: Mapping[str, Any]
    #: ``lr_mult``/``decay_mult`` as factors of the built group's ``lr``/``weight_decay``
    scales: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolvedOptimizer:
    """A checked ``OptimizerSpec``, with the attribute that declared it."""

    attribute: str
    where: str
    spec: OptimizerSpec
    cls: type[torch.optim.Optimizer]
    params: Selector | None
    groups: tuple[ResolvedGroup, ...]
    kwargs: Mapping[str, Any]
    #: the declared schedulers, in order (empty: none)
    schedulers: tuple[ResolvedScheduler, ...]
    #: the optimizer's defaults with the declared options applied (``lr``, ``weight_decay``, ...)
    defaults: Mapping[str, Any]
    #: the declared param-group recipes that are on, each with its checked settings, in the order applied
    recipes: tuple[tuple[Recipe, Any], ...]
    implementation: str
    #: ``scheduler=`` was declared as a list (Lightning then gets the two-list format)
    listed: bool = False
    #: the ``HParam``s the declaration reads when ``fit`` starts; with any, this resolution (of the declared
    #: defaults) only checks the declaration, and ``fit`` resolves it again with the values read
    hparams: tuple[Occurrence, ...] = ()

    @property
    def prefix_name(self) -> str | None:
        """The explicit metric prefix (``SchedulerSpec(name=...)``) of this optimizer's schedulers, if any."""
        return next((s.name for s in self.schedulers if s.name), None)


@functools.cache
def _accepted_arguments(cls: type) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(all keyword arguments, required ones, whether ``**kwargs`` is accepted), without what the mixin passes.

    The mixin passes the parameters (an optimizer's first argument) or the optimizer (a scheduler's
    ``optimizer`` argument, which ``ChainedScheduler`` takes second, after ``schedulers``). Cached: a
    declaration reading ``HParam``s is resolved again at every ``fit``, and reading signatures was most of it.
    """
    parameters = list(inspect.signature(cls).parameters.values())
    supplied = _supplied_argument(cls)
    parameters = [p for p in parameters if p.name != supplied]
    names = tuple(p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
    required = tuple(
        p.name
        for p in parameters
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )
    var_keyword = any(p.kind is p.VAR_KEYWORD for p in parameters)
    return names, required, var_keyword


def _supplied_argument(cls: type) -> str:
    """The parameter the mixin fills itself: a scheduler's ``optimizer``, else the first one."""
    names = list(inspect.signature(cls).parameters)
    return "optimizer" if "optimizer" in names and is_scheduler_class(cls) else names[0]


def _check_minimums(where: str, cls: type, options: Mapping[str, Any]) -> None:
    info = optimizer_info(cls)
    if info.check_arguments is not None and not contains_hparam(options):
        with prefixed(where):
            info.check_arguments(cls, options)
    minimums = info.minimums
    for key, value in options.items():
        minimum = minimums.get(key)
        if minimum is not None and _is_int(value) and value < minimum:
            raise ValueError(
                f"{where}: Expected `{key}` of `{cls.__name__}` to be an int >= {minimum} but got {value!r}."
            )


def _check_arguments(
    where: str,
    cls: type,
    kwargs: Mapping[str, Any],
    extra: tuple[str, ...],
    per_group: frozenset[str] = frozenset(),
) -> list[str]:
    """Reject unknown keyword arguments; return the required ones that are missing."""
    names, required, var_keyword = _accepted_arguments(cls)
    if not var_keyword:
        accepted = [*names, *extra]
        for key in kwargs:
            if key not in names:
                raise TypeError(
                    f"{where}: `{cls.__name__}` got an unexpected argument `{key}`{did_you_mean(key, accepted)}. "
                    f"Accepted arguments: {listing(accepted)}."
                )
    for key, value in kwargs.items():
        if key == "schedulers" and is_scheduler_class(cls) and scheduler_info(cls).composite:
            continue  # SchedulerSpecs, resolved one by one by `resolve_scheduler`
        if contains_hparam(value):
            continue  # an HParam without default: its value is checked when `fit` reads it
        if key in per_group and isinstance(value, Mapping):
            value = list(value.values())  # one value per group by name: checked like a list
        check_type(where, cls, key, value)
    return [name for name in required if name not in kwargs]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_stepping(where: str, spec: SchedulerSpec, info: SchedulerInfo) -> str:
    """Check interval, frequency, monitor, strict, name and warmup; return the effective interval."""
    cls = info.cls
    interval = spec.interval
    known = without_hparams(spec.kwargs)  # HParams without default: checked when `fit` reads them
    default = info.interval_for(known)
    if interval is None:
        interval = default
    check_choice(where, "interval", interval, INTERVALS)
    if interval == "epoch" and spec.interval is not None and default == "step":
        warnings.warn(
            f"{where}: `{cls.__name__}` is meant to be stepped after every optimizer step but is declared "
            "with `interval='epoch'`; its cycle will then be measured in epochs.",
            UserWarning,
            stacklevel=4,
        )
    if not isinstance(spec.frequency, HParam) and (not _is_int(spec.frequency) or spec.frequency < 1):
        raise ValueError(f"{where}: Expected `frequency` to be a positive int but got {spec.frequency!r}.")
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
    if spec.name is not None and (not isinstance(spec.name, str) or not spec.name):
        raise TypeError(f"{where}: Expected `name` to be a non-empty str or None but got {spec.name!r}.")
    warmup = spec.warmup
    if warmup is not None and not isinstance(warmup, HParam):
        valid = (_is_int(warmup) and warmup >= 0) or (
            isinstance(warmup, float) and math.isfinite(warmup) and 0.0 < warmup < 1.0
        )
        if not valid:
            raise ValueError(
                f"{where}: Expected `warmup` to be None, an int >= 0 (intervals) or a float in (0, 1) "
                f"(fraction of the run) but got {warmup!r}."
            )
    start = spec.warmup_start_factor
    if start is not None:
        if not warmup:
            raise ValueError(
                f"{where}: `warmup_start_factor` only applies with a `warmup`, but `warmup` is {warmup!r}; "
                "give `warmup=` or remove `warmup_start_factor`."
            )
        number = isinstance(start, (int, float)) and not isinstance(start, bool)
        if not isinstance(start, HParam) and (not number or not 0.0 <= start < 1.0):
            raise ValueError(
                f"{where}: Expected `warmup_start_factor` to be a float in [0, 1) but got {start!r}."
            )
    _check_unit(where, spec, info, interval)
    _check_window(where, spec)
    if info.check_stepping is not None and len(known) == len(spec.kwargs):
        with prefixed(where):
            info.check_stepping(spec.kwargs, interval, spec.unit or interval)
    return interval


def _is_fraction(value: Any, *, closed: bool) -> bool:
    """A float in (0, 1), or (0, 1] with ``closed``."""
    return (
        isinstance(value, float)
        and math.isfinite(value)
        and value > 0.0
        and (value <= 1.0 if closed else value < 1.0)
    )


def _check_window(where: str, spec: SchedulerSpec) -> None:
    """``begin``: None, an int >= 0 or a fraction in (0, 1); ``end``: None, an int >= 1 or a fraction in (0, 1]."""
    begin, end = spec.begin, spec.end
    if begin is not None and not ((_is_int(begin) and begin >= 0) or _is_fraction(begin, closed=False)):
        raise ValueError(
            f"{where}: Expected `begin` to be None, an int >= 0 (the scheduler's updates) or a float in (0, 1) "
            f"(fraction of the run) but got {begin!r}."
        )
    if end is not None and not ((_is_int(end) and end >= 1) or _is_fraction(end, closed=True)):
        raise ValueError(
            f"{where}: Expected `end` to be None (the end of the run), an int >= 1 (the scheduler's updates) or a "
            f"float in (0, 1] (fraction of the run) but got {end!r}."
        )
    same_kind = isinstance(begin, float) == isinstance(end, float)
    if begin is not None and end is not None and same_kind and end <= begin:
        raise ValueError(f"{where}: Expected `end` to be after `begin` but got begin={begin!r}, end={end!r}.")
    if (begin is not None or end is not None) and spec.warmup:
        raise ValueError(
            f"{where}: `warmup` cannot be combined with a window (`begin`/`end`); declare the warmup as its own "
            "windowed scheduler, e.g. `SchedulerSpec('linear', start_factor=0.01, end=500, interval='step')`."
        )


def _check_unit(where: str, spec: SchedulerSpec, info: SchedulerInfo, interval: str) -> None:
    cls = info.cls
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
                f"with `interval='step'` ({listing(known)}) but got `{cls.__name__}`; declare it with "
                "`interval='epoch'`, or in steps."
            )
        if spec.frequency != 1 and not isinstance(spec.frequency, HParam):
            raise ValueError(
                f"{where}: `unit='epoch'` with `interval='step'` updates the lr after every optimizer step; "
                f"Expected `frequency` to be 1 but got {spec.frequency!r}."
            )


def resolve_scheduler(where: str, spec: Any, *, nested: bool = False) -> ResolvedScheduler:
    """Check one ``SchedulerSpec`` (``nested``: inside a SequentialLR/ChainedScheduler)."""
    if not isinstance(spec, SchedulerSpec):
        raise TypeError(f"{where}: Expected a SchedulerSpec or None but got {spec!r}.")
    cls = resolve_class(spec.scheduler, "scheduler", where=where)
    info = scheduler_info(cls)
    extra = () if nested else tuple(_STEPPING_DEFAULTS)
    missing = _check_arguments(where, cls, spec.kwargs, extra, info.per_group_arguments)
    derived_length = None
    windowed = not nested and (spec.begin is not None or spec.end is not None)
    length = info.window_length if windowed else info.length
    described = length in spec.kwargs or any(key in spec.kwargs for key in info.length_given_by)
    if length is not None and not described:
        derived_length = length
    missing = [m for m in missing if m != derived_length]
    if missing:
        raise TypeError(f"{where}: `{cls.__name__}` needs the argument(s) {listing(missing)}.")
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
    kwargs = dict(spec.kwargs)
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
        derived = [s.where for s in kwargs["schedulers"] if s.derived_length]
        if derived:
            raise TypeError(
                f"{where}: inside a composite scheduler every length must be given; missing in {listing(derived)}."
            )
    return ResolvedScheduler(
        where=where,
        cls=cls,
        kwargs=MappingProxyType(kwargs),
        interval=interval,
        frequency=spec.frequency,
        monitor=spec.monitor,
        strict=spec.strict,
        name=spec.name,
        warmup=spec.warmup,
        derived_length=derived_length,
        warmup_start_factor=spec.warmup_start_factor,
        unit=spec.unit or interval,
        info=info,
        begin=spec.begin,
        end=spec.end,
        param=_check_param_kind(where, spec, cls, info),
    )


def _check_param_kind(where: str, spec: SchedulerSpec, cls: type, info: SchedulerInfo) -> str:
    """``param`` is a non-empty str, and a scheduler driving something else than the lr is one that only
    reads and writes ``group["lr"]`` (not a plateau, nor a cycle that also cycles momentum)."""
    param = spec.param
    if not isinstance(param, str) or not param:
        raise TypeError(
            f"{where}: Expected `param` to be the name of a param-group option (e.g. 'weight_decay') but got "
            f"{param!r}."
        )
    if param == "lr":
        return param
    if info.is_plateau:
        raise ValueError(
            f"{where}: `ReduceLROnPlateau` only schedules the lr; Expected `param` to be 'lr' with it but got "
            f"{param!r}. Schedule `{param}` with a scheduler of its own."
        )
    cycle = inspect.signature(cls).parameters.get("cycle_momentum")
    if cycle is not None and spec.kwargs.get("cycle_momentum", cycle.default):
        raise ValueError(
            f"{where}: `{cls.__name__}` also cycles the momentum (`cycle_momentum=True`), which would fight a "
            f"schedule of `{param}`; pass `cycle_momentum=False`, or schedule the momentum itself with "
            "`param='momentum'`."
        )
    return param


def schedulable_params(optimizer: torch.optim.Optimizer) -> list[str]:
    """The options a ``SchedulerSpec(param=...)`` can drive on ``optimizer``: its numeric per-group options,
    plus ``beta1``/``beta2`` (and ``momentum``) for an optimizer with ``betas``.

    Example:
        >>> opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
        >>> schedulable_params(opt)
        ['beta1', 'beta2', 'eps', 'lr', 'momentum', 'weight_decay']
    """
    group = optimizer.param_groups[-1]
    names = {
        key
        for key, value in group.items()
        if not key.startswith("initial_")
        and not isinstance(value, bool)
        and (isinstance(value, (int, float)) or (isinstance(value, torch.Tensor) and value.numel() == 1))
    }
    betas = group.get("betas")
    if isinstance(betas, (tuple, list)) and len(betas) == 2:
        names |= {"beta1", "beta2", "momentum"}
    return sorted(names)


def _check_param(scheduler: ResolvedScheduler, optimizer: torch.optim.Optimizer) -> None:
    accepted = schedulable_params(optimizer)
    if scheduler.param not in accepted:
        raise ValueError(
            f"{scheduler.where}: Expected `param` to be a numeric per-group option of "
            f"`{type(optimizer).__name__}` but got {scheduler.param!r}{did_you_mean(scheduler.param, accepted)}. "
            f"Accepted: {listing(accepted)}."
        )


def check_selector(where: str, option: str, selector: Any) -> None:
    """A selector is a str, a callable ``(name, param) -> bool`` or a non-empty list of those."""
    if isinstance(selector, str):
        if not selector:
            raise ValueError(f"{where}: Expected `{option}` to be a non-empty string but got ''.")
        return
    if callable(selector):
        check_callable_selector(where, option, selector)
        return
    if isinstance(selector, (list, tuple)) and selector:
        for item in selector:
            check_selector(where, option, item)
        return
    raise TypeError(
        f"{where}: Expected `{option}` to be a submodule path, a parameter name, a glob, a callable "
        f"(name, param) -> bool or a list of these but got {selector!r}."
    )


def default_group_name(select: Selector) -> str | None:
    """The name of a group that declares none: its selector string, a function's name, else ``None``."""
    if isinstance(select, str):
        return select
    name = getattr(select, "__name__", None)
    if isinstance(name, str) and name.isidentifier():
        return name
    return None


def _trial_optimizer(
    where: str, cls: type, kwargs: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]
) -> Any:
    """Build the optimizer once over stand-in parameters so torch validates every value now."""

    def source(index: int) -> str:  # the last stand-in group holds the optimizer's own options
        return where if index == len(groups) - 1 else f"{where}.groups[{index}]"

    # HParams without default are left out: their values are checked when `fit` reads them
    kwargs = without_hparams(kwargs)
    # 2-D stand-ins: some optimizers (Muon) only accept matrices; shape-dependent checks are redone at `fit`
    stand_ins = [{"params": [torch.nn.Parameter(torch.zeros(1, 1))], **without_hparams(g)} for g in groups]
    with torch_rejects(where, cls), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimizer = cls(stand_ins, **kwargs)
    bad = bad_learning_rate(optimizer)
    if bad is not None:  # some optimizers (SGD) accept a NaN or infinite lr and train on NaN weights
        index, lr = bad
        raise ValueError(f"{source(index)}: Expected `lr` to be a finite number >= 0 but got {lr!r}.")
    check_group = optimizer_info(cls).check_group
    for index, group in enumerate(optimizer.param_groups):
        if check_group is not None:
            with prefixed(source(index)):
                check_group(group)
        if group.get("differentiable"):
            raise ValueError(
                f"{source(index)}: Expected `differentiable` to be False but got True: it records the optimizer step "
                "in the autograd graph, which fails on a module's parameters (leaf tensors updated in place). "
                "Remove `differentiable=True`."
            )
    return optimizer


def _waits_for_hparams(scheduler: ResolvedScheduler) -> bool:
    """Whether an argument of ``scheduler`` (or of a scheduler nested in it) is an HParam without default."""
    return any(
        _waits_for_hparams(v) if isinstance(v, ResolvedScheduler) else contains_hparam(v)
        for value in scheduler.kwargs.values()
        for v in (value if isinstance(value, tuple) else (value,))
    )


def _steps_on_stand_ins(cls: type, optimizer: Any) -> bool:
    """Whether a trial step over stand-in CPU parameters says something about the declaration.

    Only torch's own optimizers are stepped (another library's step may need a closure, a second-order
    backward or a method of its own), and not with ``capturable``/``fused`` set: those depend on the device
    the run trains on, which is checked when ``fit`` starts.
    """
    if cls.__module__.split(".")[:2] != ["torch", "optim"]:
        return False
    return not any(group.get("capturable") or group.get("fused") for group in optimizer.param_groups)


def _trial_step(where: str, cls: type, optimizer: Any, declared: Mapping[str, Any]) -> None:
    """One step of the trial optimizer with a unit gradient: values torch only rejects in the first step.

    ``ASGD(alpha=1.8e8)`` builds, then its step overflows (``OverflowError``) deep inside the training loop;
    refusing it here names the declaration instead.
    """
    if not _steps_on_stand_ins(cls, optimizer):
        return
    for group in optimizer.param_groups:
        for param in group["params"]:
            gradient = torch.ones_like(param)
            param.grad = gradient.to_sparse() if isinstance(optimizer, torch.optim.SparseAdam) else gradient
    closure = (lambda: torch.tensor(0.0)) if isinstance(optimizer, torch.optim.LBFGS) else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optimizer.step(closure)
    except Exception as err:
        error = TypeError if isinstance(err, TypeError) else ValueError
        options = ", ".join(f"{key}={value!r}" for key, value in declared.items()) or "no options"
        raise error(
            f"{where}: `{cls.__name__}` fails its first step with the declared options ({options}): "
            f"{type(err).__name__}: {err}. Check these values against `{cls.__name__}`'s documentation."
        ) from err


def _trial_scheduler(scheduler: ResolvedScheduler, optimizer: Any) -> None:
    if _waits_for_hparams(scheduler):
        return  # built with the values `fit` reads
    if any(
        key in scheduler.info.per_group_arguments and isinstance(v, (list, tuple, dict))
        for key, v in scheduler.kwargs.items()
    ):
        return  # one value per group: checked when the model's groups are known
    with torch_rejects(scheduler.where, scheduler.cls), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        extra = {scheduler.derived_length: _TRIAL_LENGTH} if scheduler.derived_length else {}
        if scheduler.param == "lr":
            instantiate_scheduler(scheduler, optimizer, extra)
        else:
            ParamSchedule(optimizer, partial(instantiate_scheduler, scheduler, extra=extra), scheduler.param)


#: The derived length a trial build uses: longer than any declared warmup, so none is refused for it.
_TRIAL_LENGTH = 10**9


def instantiate_scheduler(scheduler: ResolvedScheduler, optimizer: Any, extra: Mapping[str, Any]) -> Any:
    """Build a resolved scheduler (and any nested ones) on ``optimizer``."""
    kwargs = {**scheduler.kwargs, **extra}
    if scheduler.info.composite:
        kwargs["schedulers"] = [instantiate_scheduler(inner, optimizer, {}) for inner in kwargs["schedulers"]]
    return scheduler.cls(**kwargs, optimizer=optimizer)


def _check_swallowed(where: str, cls: type, kwargs: Mapping[str, Any]) -> None:
    """An optimizer with ``**kwargs`` (many in ``pytorch_optimizer``) silently drops what it does not read:
    refuse an argument that is not a named parameter and that its source never names as a string."""
    names, _, var_keyword = _accepted_arguments(cls)
    unknown = [key for key in kwargs if key not in names]
    if not var_keyword or not unknown:
        return
    source = _class_sources(cls)
    for key in unknown:
        if f"'{key}'" not in source and f'"{key}"' not in source:
            raise TypeError(
                f"{where}: `{cls.__name__}` got an unexpected argument `{key}`{did_you_mean(key, names)} "
                f"(it takes `**kwargs` but never reads `{key}`). Accepted arguments: {listing(names)}."
            )


def _class_sources(cls: type) -> str:
    """The source of ``cls`` and of its bases up to torch's ``Optimizer`` (empty where unavailable)."""
    sources = []
    for klass in cls.__mro__:
        if klass in (torch.optim.Optimizer, object):
            break
        try:
            sources.append(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
    return "\n".join(sources)


def _check_own_warmup(where: str, cls: type, defaults: Mapping[str, Any]) -> None:
    """A schedule-free optimizer (``train_mode`` among its options) that warms up itself takes no schedule:
    a declared scheduler would warm up a second time (the two ramps multiply) and a decay would be ignored
    by its iterate averaging, which follows the largest lr seen."""
    warmup_steps = defaults.get("warmup_steps")
    if "train_mode" in defaults and isinstance(warmup_steps, int) and warmup_steps > 0:
        raise ValueError(
            f"{where}: `{cls.__name__}` warms up itself (`warmup_steps={warmup_steps}`) and schedules nothing "
            "else, but a `scheduler` is declared too: its lr changes would multiply with the built-in warmup. "
            "Remove `scheduler`, or set `warmup_steps=0` and declare the warmup with `SchedulerSpec(..., warmup=)`."
        )


def _lr_setters(scheduler: ResolvedScheduler) -> list[ResolvedScheduler]:
    """The schedulers (``scheduler`` or those inside a composite) that set every group's lr when built."""
    inner = scheduler.kwargs.get("schedulers", ()) if scheduler.info.composite else ()
    found = [scheduler] if scheduler.info.sets_lr_from is not None else []
    return found + [s for item in inner for s in _lr_setters(item)]


def _warn_lr_replaced(where: str, spec: OptimizerSpec, schedulers: Sequence[ResolvedScheduler]) -> None:
    """Warn when a declared ``lr`` is replaced by a scheduler that sets the lr itself (``OneCycleLR``)."""
    setters = [found for scheduler in schedulers for found in _lr_setters(scheduler)]
    declared = [f"`lr={spec.kwargs['lr']!r}`"] if "lr" in spec.kwargs else []
    declared += [
        f"`groups[{i}]`'s `lr={g.options['lr']!r}`"
        for i, g in enumerate(spec.groups)
        if isinstance(g, ParamGroup) and "lr" in g.options
    ]
    if not setters or not declared:
        return
    setter = setters[0]
    warnings.warn(
        f"{where}: the declared {' and '.join(declared)} {'has' if len(declared) == 1 else 'have'} no effect: "
        f"`{setter.cls.__name__}` "
        f"({setter.where}) sets every param group's lr from {setter.info.sets_lr_from} when it is built. "
        f"Remove `lr` and set the schedule's arguments instead (one value per group for per-group rates).",
        UserWarning,
        stacklevel=_user_stacklevel(),  # the class statement
    )


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside this package, for a warning issued by the caller."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    current = inspect.currentframe()
    frame, level = (current.f_back if current is not None else None), 1
    while frame is not None and frame.f_back is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _check_recipes(
    where: str, spec: OptimizerSpec, optimizer: str, group_options: frozenset[str]
) -> tuple[tuple[Recipe, Any], ...]:
    """Each recipe's settings, for those the declaration turns on, in the order they are applied."""
    checked = []
    for recipe in RECIPES:
        values = {o: getattr(spec, o) for o in recipe.options}
        if any(contains_hparam(v) for v in values.values()):
            continue  # an HParam without default: checked (and applied) with the value `fit` reads
        settings = recipe.check(where, values, optimizer, group_options)
        if settings is not None:
            checked.append((recipe, settings))
    return tuple(checked)


def resolve_optimizer(owner: str, attribute: str, spec: OptimizerSpec) -> ResolvedOptimizer:
    """Check one ``OptimizerSpec`` declared as ``owner.attribute``.

    A declaration holding ``HParam``s is checked with their defaults (those without one are left out of the
    checks that need their value); the result records them, and ``fit`` resolves the declaration again with
    the values it reads (``building/hparams.py``).
    """
    where = f"{owner}.{attribute}"
    hparams = find_hparams(where, spec)
    if not hparams:
        return check_optimizer(owner, attribute, spec)
    resolved = check_optimizer(owner, attribute, with_defaults(where, spec))
    return dataclasses.replace(resolved, spec=spec, hparams=hparams)


def check_optimizer(owner: str, attribute: str, spec: OptimizerSpec) -> ResolvedOptimizer:
    """``resolve_optimizer`` for a declaration whose remaining ``HParam``s (if any) have no value yet."""
    where = f"{owner}.{attribute}"
    cls = resolve_class(spec.optimizer, "optimizer", where=where)
    # a collection name may stand for arguments too (`"transformers/adamw_torch_fused"`); the declared ones win
    kwargs = {**name_arguments(spec.optimizer, spec.implementation), **spec.kwargs}
    missing = _check_arguments(where, cls, kwargs, _OPTIMIZER_OPTIONS)
    _check_minimums(where, cls, kwargs)
    if missing:
        raise TypeError(f"{where}: `{cls.__name__}` needs the argument(s) {listing(missing)}.")
    if spec.params is not None:
        check_selector(where, "params", spec.params)
    if not isinstance(spec.groups, tuple):
        raise TypeError(f"{where}: Expected `groups` to be a list of ParamGroup but got {spec.groups!r}.")
    argument_names, required, _ = _accepted_arguments(cls)
    if any(contains_hparam(kwargs.get(name)) for name in required):
        # a required argument waits for its HParam: no trial build; the group options are the arguments
        optimizer, group_options = None, frozenset(argument_names) | {"name"}
    else:
        optimizer = _trial_optimizer(where, cls, kwargs, [{}])
        group_options = frozenset(optimizer.defaults) | {"name"}
    group_options |= optimizer_info(cls).state_options
    _check_swallowed(where, cls, kwargs)
    accepted = group_options | MULTIPLIERS.keys()
    groups: list[ResolvedGroup] = []
    for index, group in enumerate(spec.groups):
        group_where = f"{where}.groups[{index}]"
        if not isinstance(group, ParamGroup):
            raise TypeError(f"{group_where}: Expected a ParamGroup but got {group!r}.")
        check_selector(group_where, "select", group.select)
        for key in group.options:
            if key not in accepted:
                raise ValueError(
                    f"{group_where}: `{key}` is not a per-group option of `{cls.__name__}`"
                    f"{did_you_mean(key, accepted)}. Accepted: {listing(sorted(accepted))}."
                )
            if key not in MULTIPLIERS and not contains_hparam(group.options[key]):
                check_type(group_where, cls, key, group.options[key])
        # a multiplier that waits for its HParam is checked when `fit` reads it
        known = {k: v for k, v in group.options.items() if k not in MULTIPLIERS or not contains_hparam(v)}
        scales = check_multipliers(group_where, known, cls.__name__, group_options)
        name = group.options.get("name", default_group_name(group.select))
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"{group_where}: Expected `name` to be a non-empty str but got {name!r}.")
        options = {k: v for k, v in group.options.items() if k != "name" and k not in MULTIPLIERS}
        groups.append(
            ResolvedGroup(
                select=group.select,
                name=name,
                options=MappingProxyType(options),
                scales=MappingProxyType(scales),
            )
        )
    names = [g.name for g in groups if g.name is not None]
    duplicates = sorted({n for n in names if names.count(n) > 1} | ({"rest"} & set(names)))
    if duplicates:
        raise ValueError(
            f"{where}: param group names must be unique and `rest` is reserved for the leftover group; "
            f"got {listing(duplicates)} more than once or reserved. Give each group a distinct `name=`."
        )
    defaults = MappingProxyType(dict(optimizer.defaults) if optimizer is not None else {})
    recipes = _check_recipes(where, spec, cls.__name__, group_options)
    group_kwargs = [g.options for g in groups]
    arguments = check_implementation(where, cls, spec.implementation, kwargs, group_kwargs)
    if optimizer is not None and (groups or arguments):
        trial_kwargs = {**kwargs, **arguments}
        optimizer = _trial_optimizer(where, cls, trial_kwargs, [dict(g.options) for g in groups] + [{}])
    declared_options = dict(kwargs)
    for resolved in groups:
        declared_options.update((k, v) for k, v in resolved.options.items() if k not in kwargs)
    if optimizer is not None and not contains_hparam(declared_options):  # HParams: stepped once read at fit
        _trial_step(where, cls, optimizer, declared_options)
    if spec.scheduler is not None:
        _check_own_warmup(where, cls, defaults)
    schedulers = resolve_schedulers(where, spec.scheduler, optimizer)
    _warn_lr_replaced(where, spec, schedulers)
    return ResolvedOptimizer(
        attribute=attribute,
        where=where,
        spec=spec,
        cls=cls,
        params=spec.params,
        groups=tuple(groups),
        kwargs=MappingProxyType(kwargs),
        schedulers=schedulers,
        defaults=defaults,
        recipes=recipes,
        implementation=spec.implementation,
        listed=isinstance(spec.scheduler, (list, tuple)) and bool(spec.scheduler),
    )


def scheduler_where(where: str, index: int, listed: bool) -> str:
    """How messages name an optimizer's scheduler: ``<where>.scheduler``, or ``<where>.scheduler[i]`` in a list.

    Example:
        >>> scheduler_where("Model.optimizer", 1, listed=True)
        'Model.optimizer.scheduler[1]'
    """
    return f"{where}.scheduler[{index}]" if listed else f"{where}.scheduler"


def resolve_schedulers(where: str, declared: Any, optimizer: Any) -> tuple[ResolvedScheduler, ...]:
    """Check an optimizer's ``scheduler=``: ``None``, one ``SchedulerSpec`` or a list of them (trial-built
    in order on the stand-in ``optimizer``, so each acts on the lr the previous ones left, as at ``fit``;
    ``optimizer`` is ``None`` when a required argument of the optimizer waits for an ``HParam``)."""
    if declared is None:
        return ()
    listed = isinstance(declared, (list, tuple))
    specs = list(declared) if listed else [declared]
    resolved = []
    for index, spec in enumerate(specs):
        scheduler = resolve_scheduler(scheduler_where(where, index, listed), spec)
        if optimizer is not None:
            _check_param(scheduler, optimizer)
            _trial_scheduler(scheduler, optimizer)
        resolved.append(scheduler)
    named = [s for s in resolved if s.name]
    other = next((s for s in named if s.name != named[0].name), None)
    if other is not None:
        raise ValueError(
            f"{where}: Expected at most one metric prefix `name` across the optimizer's schedulers (its "
            f"learning rates are logged once, under one prefix) but got {named[0].name!r} in "
            f"`{named[0].where}` and {other.name!r} in `{other.where}`; keep one `name=`."
        )
    return tuple(resolved)
