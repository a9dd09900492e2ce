"""From a ``ResolvedScheduler`` to the torch scheduler: the arguments a shape gives it, and its ``Schedule``.

The one place a declared scheduler is constructed: by the trial build when the class is defined, by the
mixin when ``fit`` starts (``Schedule`` then builds it once its shape is fixed), and by the preview.
"""

from __future__ import annotations

import copy
import dataclasses
import types
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import torch

from lightning_optim.declaring.arguments import own_values
from lightning_optim.schedules.schedule import Make, Schedule
from lightning_optim.schedules.shape import Shape
from lightning_optim.utilities.errors import listing, prefixed, torch_rejects

if TYPE_CHECKING:
    from lightning_optim.declaring.scheduler import ResolvedScheduler


def instantiate_scheduler(
    scheduler: ResolvedScheduler,
    optimizer: Any,
    extra: Mapping[str, Any],
    factors: Sequence[float] | None = None,
    memo: dict[int, Any] | None = None,
) -> Any:
    """Build a resolved scheduler (and any nested ones, their lr arguments times ``factors``, the groups'
    scales of the option it drives) on ``optimizer``, with ``extra`` arguments, each its own copy
    (``own_values``: numpy numbers as Python numbers; ``own_callables``: a callable object's state, with ``memo``,
    one for the scheduler built and those nested in it)."""
    kwargs = own_values({**scheduler.kwargs, **extra})
    memo = {} if memo is None else memo
    with prefixed(scheduler.where):
        kwargs = own_callables(kwargs, memo, kept=scheduler.instance_values)
    if scheduler.info.composite:
        kwargs["schedulers"] = [
            instantiate_scheduler(inner, optimizer, _scaled(inner, inner.kwargs, factors), factors, memo)
            for inner in kwargs["schedulers"]
        ]
    return scheduler.cls(**kwargs, optimizer=optimizer)


def user_callable(value: Any) -> bool:
    """Whether ``value`` is code of the user's that building or updating a scheduler calls: a function, lambda,
    bound method or callable object (classes and builtins are torch's or Python's own).

    Example:
        >>> user_callable(lambda epoch: 0.9**epoch), user_callable(abs), user_callable(dict), user_callable(0.9)
        (True, False, False, False)
    """
    return callable(value) and not isinstance(value, (type, types.BuiltinFunctionType))


def own_callables(
    kwargs: Mapping[str, Any], memo: dict[int, Any], kept: Sequence[Any] = ()
) -> dict[str, Any]:
    """``kwargs`` with each callable object among them (also inside a list or tuple: one ``lr_lambda`` per
    group) deep-copied with ``memo``, one for the scheduler built: its state starts as declared in every scheduler
    built from the declaration, and one object given twice (``[decay] * 2``) is one copy, as torch shares it.
    Functions, classes and builtins stay as they are (a ``functools.partial`` of a function is copied, and keeps
    that function); so do bound methods (their state is their object's, which the user refers to elsewhere, as
    a hand-written ``LambdaLR(optimizer, controller.factor)`` reads it) and the values ``kept``: those an
    ``HParam`` read from the module instance, already its own.

    Torch's ``LambdaLR``, ``MultiplicativeLR`` and ``CyclicLR`` keep the ``__dict__`` of a callable object that
    is not a function as part of their own state (saved in ``state_dict``, restored by ``load_state_dict``), and
    call it when built. A declaration's object is shared by every preview and every fit of every instance of the
    class; each gets its own copy, so that a fit trains as a hand-written ``LambdaLR(optimizer, Decay(0.9))``
    built in ``configure_optimizers`` does, and a resumed one takes the state from the checkpoint.

    Example:
        >>> class Decay:
        ...     def __init__(self):
        ...         self.calls = 0
        ...     def __call__(self, epoch):
        ...         self.calls += 1
        ...         return 0.9**self.calls
        >>> declared = Decay()
        >>> copied = own_callables({"lr_lambda": [declared, declared, abs]}, {})["lr_lambda"]
        >>> copied[0](0), declared.calls, copied[0] is declared, copied[1] is copied[0], copied[2] is abs
        (0.9, 0, False, True, True)
        >>> own_callables({"lr_lambda": declared.__call__}, {})["lr_lambda"].__self__ is declared
        True
    """
    seeds = [v for value in kwargs.values() for v in _members(value) if isinstance(v, types.MethodType)]
    memo.update((id(v), v) for v in [*seeds, *(v for value in kept for v in _members(value))])
    return {key: _copies(key, value, memo, _PER_SCHEDULER) for key, value in kwargs.items()}


def _members(value: Any) -> list[Any]:
    """``value`` and what it holds as a list, a tuple, a dict (per group name) or a ``functools.partial`` (at any
    depth)."""
    if type(value) in (list, tuple):
        return [value, *(m for v in value for m in _members(v))]
    if type(value) is dict:
        return [value, *(m for v in value.values() for m in _members(v))]
    if isinstance(value, partial):
        inner = [value.func, *value.args, *value.keywords.values()]
        return [value, *(m for v in inner for m in _members(v))]
    return [value]


#: Why a callable object is copied, and the way out where ``copy.deepcopy`` refuses one: for each scheduler built
#: from a declaration (``own_callables``), and for a build outside ``fit`` that must leave the user's objects as it
#: found them (``detached``)
Copied = tuple[str, str]
_PER_SCHEDULER: Copied = (
    "each scheduler built from the declaration gets its own copy, its state as declared",
    "Give its class a `__deepcopy__` (one returning `self` shares the object between fits), or declare a bound "
    "method of it or an `HParam` read from the module (used as they are).",
)
_OUTSIDE_FIT: Copied = (
    "`preview_schedule` and `describe_optimizers` call copies of the user's objects, a bound method's object "
    "included, so that the fit after them starts as without them",
    "Give the class of the object it refuses a `__deepcopy__` that copies the state the schedule reads.",
)


def _copies(key: str, value: Any, memo: dict[int, Any], copied: Copied) -> Any:
    """``value`` with each callable object in it (also inside a list or tuple) deep-copied with ``memo`` (what
    ``memo`` maps to itself stays as it is: ``own_callables``' bound methods and ``HParam`` values); a function is
    its own copy, and a ``staticmethod`` (callable since Python 3.10: ``lr_lambda=halve`` in the class body that
    declares ``halve`` one) is what it wraps, copied so (a scheduler saving a callable object's ``__dict__``, as
    ``LambdaLR`` does, saves the object's, not the wrapper's). One ``copy.deepcopy`` refuses
    is refused, saying why it is ``copied`` and the way out: a build that used it as it is would change it."""
    if type(value) in (list, tuple):
        return type(value)(_copies(key, v, memo, copied) for v in value)
    if isinstance(value, staticmethod):  # no state of its own: what it wraps is copied or kept
        return _copies(key, value.__func__, memo, copied)
    if not user_callable(value) or isinstance(value, types.FunctionType):
        return value
    try:
        return copy.deepcopy(value, memo)
    except Exception as err:
        why, way_out = copied
        raise TypeError(
            f"Expected `{key}` to be a callable object that `copy.deepcopy` copies ({why}) but got {value!r}, "
            f"which it refuses: {err}. {way_out}"
        ) from err


def check_copies(scheduler: ResolvedScheduler) -> None:
    """Refuse, when the class is defined, a callable object of the declaration that ``copy.deepcopy`` refuses:
    each scheduler built from it gets its own copy (``own_callables``), and the trial build does not build one
    that holds code of the user's (``declaring/trial.py``)."""
    with prefixed(scheduler.where):
        own_callables(scheduler.kwargs, {})
    if scheduler.info.composite:
        for inner in scheduler.kwargs["schedulers"]:
            check_copies(inner)


def detached(scheduler: ResolvedScheduler, memo: dict[int, Any] | None = None) -> ResolvedScheduler:
    """``scheduler`` with copies of the user's objects among its arguments (one ``copy.deepcopy`` memo, nested
    schedulers included): bound methods with their objects, and the values its ``HParam``s read from the module,
    for a build that must leave them as it found them (the preview, ``describe_optimizers``, the class-definition
    checks that update a scheduler, which tell nothing where this refuses). An object ``copy.deepcopy`` refuses is
    refused: the build would change the object the fit after it uses. A function stays the same function: what it
    keeps outside itself (a global, an object its closure holds) is updated by such a build as by ``fit``.
    """
    memo = {} if memo is None else memo
    with prefixed(scheduler.where):
        kwargs = {key: _copies(key, value, memo, _OUTSIDE_FIT) for key, value in scheduler.kwargs.items()}
    if scheduler.info.composite:
        kwargs["schedulers"] = tuple(detached(inner, memo) for inner in scheduler.kwargs["schedulers"])
    return dataclasses.replace(scheduler, kwargs=kwargs, instance_values=())


def _scaled(
    scheduler: ResolvedScheduler, values: Mapping[str, Any], factors: Sequence[float] | None
) -> dict[str, Any]:
    """``scheduler``'s lr arguments among ``values`` times ``factors`` (none when all are 1)."""
    if factors is None or all(s == 1 for s in factors):
        return {}
    return {key: scaled_lrs(values[key], factors) for key in scheduler.info.lr_arguments if key in values}


def driven_scales(param: str, scales: Sequence[Mapping[str, float]]) -> list[float]:
    """Each group's scale of the option a scheduler drives (``param``), from the groups' scales
    (``GroupPlan.scales``): ``lr``'s (``layer_decay``, ``lr_mult``), ``weight_decay``'s (``decay_mult``), 1 for
    an option no factor scales (``momentum``). A scheduler that sets the option from its own arguments
    (``CyclicLR``'s ``max_lr``) gets them times these, as a hand-written module passes one value per group.

    Example:
        >>> driven_scales("weight_decay", [{"lr": 0.25}, {"lr": 0.5, "weight_decay": 0.5}, {}])
        [1.0, 0.5, 1.0]
        >>> driven_scales("momentum", [{"lr": 0.25}])
        [1.0]
    """
    return [group.get(param, 1.0) for group in scales]


def per_group_value(where: str, key: str, value: Any, names: Sequence[str]) -> Any:
    """A per-group argument in group order: a dict by group name, a list, or one value for all.

    Example:
        >>> per_group_value("M.optimizer.scheduler", "max_lr", {"head": 0.1, "rest": 0.01}, ["head", "rest"])
        [0.1, 0.01]
    """
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in names]
        missing = [n for n in names if n not in value]
        if unknown or missing:
            raise ValueError(
                f"{where}: `{key}` given by group name must name each group exactly once; groups in order: "
                f"{listing(names)}; unknown {listing(unknown) or 'none'}, missing {listing(missing) or 'none'}."
            )
        return [value[n] for n in names]
    if isinstance(value, (list, tuple)) and len(value) != len(names):
        raise ValueError(
            f"{where}: `{key}` has {len(value)} entries but the optimizer has {len(names)} param groups, "
            f"in order: {listing(names)}. Give one entry per group or a dict keyed by group name."
        )
    return value


def scaled_lrs(value: Any, lr_scales: Sequence[float]) -> list[Any]:
    """An lr argument (one value, or one per group) times each group's lr scale.

    Example:
        >>> scaled_lrs(0.1, [0.25, 0.5, 1.0]), scaled_lrs([0.1, 0.2], [0.5, 1.0])
        ([0.025, 0.05, 0.1], [0.05, 0.2])
    """
    values = value if isinstance(value, (list, tuple)) else [value] * len(lr_scales)
    return [v * s for v, s in zip(values, lr_scales, strict=True)]


def shaped_arguments(
    scheduler: ResolvedScheduler,
    shape: Shape,
    group_names: Sequence[str] | None,
    factors: Sequence[float] | None = None,
) -> dict[str, Any]:
    """The arguments ``shape`` adds or changes: per-group values in group order (``group_names``; ``None``
    leaves them as declared), lr arguments times the groups' scales of the option it drives (``factors``,
    ``driven_scales``), epoch-valued arguments in steps, and the derived length."""
    extra: dict[str, Any] = {}
    if group_names is not None:
        extra = {
            key: per_group_value(scheduler.where, key, value, group_names)
            for key, value in scheduler.kwargs.items()
            if key in scheduler.info.per_group_arguments
        }
    extra.update(_scaled(scheduler, {**scheduler.kwargs, **extra}, factors))
    if shape.steps_per_epoch is not None:
        extra = scheduler.info.epochs_to_steps({**scheduler.kwargs, **extra}, shape.steps_per_epoch)
    if scheduler.derived_length is not None:
        extra[scheduler.derived_length] = shape.length
    return extra


def _make(
    scheduler: ResolvedScheduler,
    group_names: Sequence[str] | None,
    scales: Sequence[Mapping[str, float]] | None,
    optimizer: torch.optim.Optimizer,
    shape: Shape,
) -> Any:
    factors = None if scales is None else driven_scales(scheduler.spec.param, scales)
    extra = shaped_arguments(scheduler, shape, group_names, factors)
    _check_phases(scheduler, shape, {**scheduler.kwargs, **extra})
    with torch_rejects(scheduler.where, scheduler.cls):
        return instantiate_scheduler(scheduler, optimizer, extra, factors)


#: The derived length a trial build uses (``declaring/trial.py``): longer than any declared warmup, so none is
#: refused for it; a stand-in, never quoted.
TRIAL_LENGTH = 10**9


def _check_phases(scheduler: ResolvedScheduler, shape: Shape, kwargs: Mapping[str, Any]) -> None:
    """Refuse arguments that leave a phase of the scheduler empty (``SchedulerInfo.empty_phase``), where its length
    is known: at class definition for a declared one, when ``fit`` starts for one derived from the run (a trial
    build's stand-in ``TRIAL_LENGTH`` is never quoted), and at once for a phase empty whatever the length."""
    check = scheduler.info.empty_phase
    if check is None or (empty := check(kwargs)) is None:
        return
    derived, name = scheduler.derived_length, scheduler.cls.__name__
    origin, other = "", "value (one whose `pct_start * total_steps` is neither 1 nor, with `three_phase`, "
    other += "`(total_steps + 1) / 2`, and below 1 without it), or another length"
    if empty.any_length:
        other = "value below 1"
    elif derived is not None and shape.length == TRIAL_LENGTH:
        return  # judged when `fit` knows the length
    elif derived is not None and derived == scheduler.info.per_epoch_argument:
        origin = f" (`{derived}={shape.length}` derived as the run's updates per epoch)"
    elif derived is not None:
        updates = (shape.length or 0) + shape.warmup
        origin = f" (derived from the run: its {updates} updates"
        if shape.warmup:
            origin += f" less the {shape.warmup} of `warmup={scheduler.spec.warmup!r}`"
        origin += ")"
    else:
        origin = " (as declared)"
    raise ValueError(
        f"{scheduler.where}: Expected `{name}`'s phases each to span a step but got {empty.why}{origin}; torch "
        f"divides by the span of each phase and would fail with a division by zero. Give `pct_start` another "
        f"{other}."
    )


def recipe(
    scheduler: ResolvedScheduler,
    group_names: Sequence[str] | None,
    scales: Sequence[Mapping[str, float]] | None = None,
) -> Make:
    """How a ``Schedule`` builds ``scheduler`` on an optimizer for a shape (``scales``: each group's
    ``GroupPlan.scales``)."""
    return partial(_make, scheduler, group_names, scales)


def new_schedule(
    scheduler: ResolvedScheduler,
    optimizer: torch.optim.Optimizer,
    group_names: Sequence[str] | None,
    *,
    scales: Sequence[Mapping[str, float]] | None = None,
    shape: Shape | None = None,
) -> Schedule:
    """The ``Schedule`` of a resolved scheduler on ``optimizer`` (built now with ``shape``, or later;
    ``scales``: each group's ``GroupPlan.scales``)."""
    with torch_rejects(scheduler.where, scheduler.cls):
        return Schedule(
            optimizer,
            recipe(scheduler, group_names, scales),
            param=scheduler.spec.param,
            warmup_start_factor=scheduler.spec.warmup_start_factor,
            shape=shape,
            where=scheduler.where,
        )
