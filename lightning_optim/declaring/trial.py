"""Trial builds at class definition: the declared values checked by torch itself, over stand-in parameters.

A typo'd value would otherwise fail deep inside the training loop: the optimizer is built once over one
stand-in parameter per group (and, for torch's own optimizers, stepped once with a unit gradient), and each
scheduler is built on it with a trial length for what the run will give it.

The same step over a stand-in also tells, when a changed setup resumes (``resume_changed_setup="continue"``),
which per-parameter state a fresh optimizer with the options now declared starts, and how (``first_state``):
torch starts a parameter's state only when it is empty, so a state kept from other options may lack a key.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from lightning_optim.declaring.arguments import accepted_arguments, own_values
from lightning_optim.declaring.construct import TRIAL_LENGTH, detached, new_schedule, user_callable
from lightning_optim.declaring.hparam import contains_hparam, without_hparams
from lightning_optim.declaring.scheduler import ResolvedScheduler
from lightning_optim.registry.guards import bad_learning_rate
from lightning_optim.registry.optimizers import groups_with_required, optimizer_info
from lightning_optim.registry.precision import zero_floor
from lightning_optim.registry.scheduler_bounds import group_values
from lightning_optim.schedules.param_view import set_value
from lightning_optim.schedules.schedule import Schedule, numbers_in, restore_groups, snapshot_groups
from lightning_optim.schedules.shape import Shape
from lightning_optim.utilities.errors import prefixed, torch_rejects


def trial_optimizer(
    where: str, cls: type, kwargs: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]
) -> Any:
    """Build the optimizer once over stand-in parameters so torch validates every value now; ``None`` where it
    needs a process group that does not exist yet (``awaits_process_group``): it is built when ``fit`` starts."""

    def source(index: int) -> str:  # the last stand-in group holds the optimizer's own options
        return where if index == len(groups) - 1 else f"{where}.groups[{index}]"

    # HParams without default are left out: their values are checked when `fit` reads them
    waiting = [{k for k, v in {**kwargs, **g}.items() if contains_hparam(v)} for g in groups]
    kwargs = own_values(without_hparams(kwargs))  # the trial schedulers write a tensor lr in place
    # an option required in every group (`use_muon`) as the build passes it, else a stand-in value: the last
    # stand-in group may not exist at `fit`, and a declared group without it was refused before this trial
    required = optimizer_info(cls).required_in_groups
    filled = groups_with_required(
        where, cls, {**required, **kwargs}, [without_hparams(g) for g in groups], [where] * len(groups)
    )
    # 2-D stand-ins: some optimizers (Muon) only accept matrices; shape-dependent checks are redone at `fit`
    stand_ins = [{"params": [torch.nn.Parameter(torch.zeros(1, 1))], **own_values(g)} for g in filled]
    with torch_rejects(where, cls), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            optimizer = cls(stand_ins, **kwargs)
        except Exception as err:
            if awaits_process_group(err):
                return None
            raise
    bad = bad_learning_rate(optimizer)
    if bad is not None:  # some optimizers (SGD) accept a NaN or infinite lr and train on NaN weights
        index, lr = bad
        raise ValueError(f"{source(index)}: Expected `lr` to be a finite number >= 0 but got {lr!r}.")
    # the optimizer's own group first: a group that does not set the floor takes the optimizer's
    for index in reversed(range(len(optimizer.param_groups))):
        last = index == len(groups) - 1
        group = optimizer.param_groups[index]
        refusal = zero_floor(cls, group, filled[index], kwargs if last else None, waiting=waiting[index])
        if refusal is not None:
            raise ValueError(f"{source(index)}: {refusal}")
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
    # torch checks the values of its arguments only (`betas=(1.5, 0.9)`), not those of a group's options
    arguments = accepted_arguments(cls)[0]  # without the parameters the mixin passes
    for index, group in enumerate(stand_ins[:-1]):
        options = {key: value for key, value in group.items() if key in arguments}
        if options:
            alone = {key: value for key, value in group.items() if key not in arguments}
            with torch_rejects(source(index), cls), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cls([alone], **{**kwargs, **options})
    return optimizer


def awaits_process_group(err: BaseException) -> bool:
    """Whether building an optimizer failed for want of torch's default process group, before one exists.

    ``pytorch_optimizer``'s ``DistributedMuon`` asks for the world size when built, and under DDP a module's class
    is defined before Lightning starts the process group: the trial waits for ``fit``, where the optimizer is
    built in it (without one, it is refused there with torch's own words).

    Example:
        >>> awaits_process_group(ValueError("Default process group has not been initialized, please make sure"))
        True
        >>> awaits_process_group(ValueError("Invalid learning rate: -1"))
        False
    """
    available = torch.distributed.is_available() and not torch.distributed.is_initialized()
    return available and "process group has not been initialized" in str(err)


def _waits_for_hparams(scheduler: ResolvedScheduler) -> bool:
    """Whether an argument of ``scheduler`` (or of a scheduler nested in it) is an HParam without default."""
    return any(
        _waits_for_hparams(v) if isinstance(v, ResolvedScheduler) else contains_hparam(v)
        for value in scheduler.kwargs.values()
        for v in (value if isinstance(value, tuple) else (value,))
    )


def _calls_user_code(scheduler: ResolvedScheduler) -> bool:
    """Whether an argument of ``scheduler`` (or of a scheduler nested in it) is code of the user's
    (``user_callable``: a function, lambda, bound method or callable object), which building it calls."""
    return any(
        _calls_user_code(v) if isinstance(v, ResolvedScheduler) else user_callable(v)
        for value in scheduler.kwargs.values()
        for v in (value if isinstance(value, (list, tuple)) else (value,))
    )


def _torchs_own(cls: type) -> bool:
    return bool(cls.__module__.split(".")[:2] == ["torch", "optim"])


def _steps_on_stand_ins(cls: type, optimizer: Any) -> bool:
    """Whether a trial step over stand-in CPU parameters says something about the declaration.

    Only torch's own optimizers are stepped (another library's step may need a closure, a second-order
    backward or a method of its own), and not with ``capturable``/``fused`` set: those depend on the device
    the run trains on, which is checked when ``fit`` starts.
    """
    if not _torchs_own(cls):
        return False
    return not any(group.get("capturable") or group.get("fused") for group in optimizer.param_groups)


def trial_step(where: str, cls: type, optimizer: Any, declared: Mapping[str, Any]) -> None:
    """One step of the trial optimizer with a unit gradient: values torch only rejects in the first step.

    ``ASGD(alpha=1.8e8)`` builds, then its step overflows (``OverflowError``) deep inside the training loop;
    refusing it here names the declaration instead.
    """
    if not _steps_on_stand_ins(cls, optimizer):
        return
    try:
        _unit_step(optimizer)
    except Exception as err:
        error = TypeError if isinstance(err, TypeError) else ValueError
        options = ", ".join(f"{key}={value!r}" for key, value in declared.items()) or "no options"
        raise error(
            f"{where}: `{cls.__name__}` fails its first step with the declared options ({options}): "
            f"{type(err).__name__}: {err}. Check these values against `{cls.__name__}`'s documentation."
        ) from err


def _unit_step(optimizer: Any) -> None:
    """One step of ``optimizer`` with a unit gradient for each of its parameters."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            gradient = torch.ones_like(param)
            param.grad = gradient.to_sparse() if isinstance(optimizer, torch.optim.SparseAdam) else gradient
    closure = (lambda: torch.tensor(0.0)) if isinstance(optimizer, torch.optim.LBFGS) else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimizer.step(closure)


class _FirstValues(dict[str, Any]):
    """A parameter's optimizer state that keeps a copy of the first value each key is given: torch sets a key
    once, when it starts the state (or after its first update, from the gradient), then updates it in place."""

    def __init__(self, started: Mapping[str, Any]) -> None:
        super().__init__(started)  # what the constructor started already (Adagrad's `sum`)
        self.first = {key: _copy(value) for key, value in started.items()}

    def __setitem__(self, key: str, value: Any) -> None:
        self.first.setdefault(key, _copy(value))
        super().__setitem__(key, value)


def _copy(value: Any) -> Any:
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


def _number(value: Any) -> Any:
    """An option held as a one-element tensor (``implementation="compiled"``) as a number, the rest as it is."""
    if isinstance(value, tuple):
        return tuple(map(_number, value))
    return value.item() if isinstance(value, torch.Tensor) and value.numel() == 1 else value


#: The stand-in parameter of ``first_state``: 2-D (``Muon`` only accepts matrices), of a shape no scalar state
#: (a ``step``) has, and not zero, so that a state started as a copy of the parameter does not read as zeros.
_STAND_IN_SHAPE = (2, 3)


def first_state(cls: type, options: Mapping[str, Any]) -> dict[str, bool] | None:
    """The per-parameter state a fresh ``cls`` with a param group of ``options`` holds after its first step, by
    key, each with whether torch starts it as zeros of the parameter's shape; ``None`` where the trial does not
    step ``cls`` (another library's optimizer may need a closure or a method of its own) or the step fails.

    A state kept under other options (``resume_changed_setup="continue"``) may lack a key these options need: torch
    starts a parameter's state only when it is empty, so its step would fail on the missing key.

    Example:
        >>> first_state(torch.optim.Adam, {"lr": 0.1, "amsgrad": True})
        {'step': False, 'exp_avg': True, 'exp_avg_sq': True, 'max_exp_avg_sq': True}

        SGD's momentum buffer starts as the first gradient:

        >>> first_state(torch.optim.SGD, {"lr": 0.1, "momentum": 0.9})
        {'momentum_buffer': False}
    """
    first = _first_values(cls, options)
    if first is None:
        return None
    return {
        key: isinstance(value, torch.Tensor) and tuple(value.shape) == _STAND_IN_SHAPE and not value.any()
        for key, value in first.items()
    }


def shaped_state(cls: type, options: Mapping[str, Any]) -> frozenset[str] | None:
    """The keys of the per-parameter state a fresh ``cls`` with a param group of ``options`` holds in the shape of
    the parameter after its first step; ``None`` where ``first_state`` tells nothing.

    A state of a checkpoint written without the mixin tells its parameter's shape by these keys: another shape
    there is another parameter at that position (groups declared in another order).

    Example:
        >>> sorted(shaped_state(torch.optim.Adam, {"lr": 0.1}))
        ['exp_avg', 'exp_avg_sq']
        >>> shaped_state(torch.optim.SGD, {"lr": 0.1, "momentum": 0.9})
        frozenset({'momentum_buffer'})
    """
    first = _first_values(cls, options)
    if first is None:
        return None
    return frozenset(
        key
        for key, value in first.items()
        if isinstance(value, torch.Tensor) and tuple(value.shape) == _STAND_IN_SHAPE
    )


def _first_values(cls: type, options: Mapping[str, Any]) -> dict[str, Any] | None:
    """The first value of each key of the per-parameter state of a fresh ``cls`` stepped once over a stand-in of
    ``_STAND_IN_SHAPE`` with a param group of ``options`` (``None``: see ``first_state``)."""
    if not _torchs_own(cls):
        return None
    stand_in = torch.nn.Parameter(torch.ones(_STAND_IN_SHAPE))
    # the keys do not depend on the device the run trains on, which `capturable`/`fused` need
    group = {
        **{key: _number(value) for key, value in options.items() if key != "params"},
        **{key: False for key in ("capturable", "fused") if options.get(key)},
        "params": [stand_in],
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optimizer = cls([group])
        state = optimizer.state[stand_in] = _FirstValues(optimizer.state.get(stand_in, {}))
        _unit_step(optimizer)
    except Exception:
        return None  # the options were checked when the class was defined; the resume goes on as before
    return state.first


def trial_scheduler(scheduler: ResolvedScheduler, optimizer: Any) -> None:
    """Build ``scheduler`` on the trial optimizer (a derived length at ``TRIAL_LENGTH``) and update it once.

    Not one that holds code of the user's (``_calls_user_code``): the class definition never calls it, since what a
    function keeps outside itself (a global counter, an object its closure holds) would start the first fit where
    the trial left it; its arguments are checked by torch when ``fit`` builds it, and a bad lr it sets is stopped
    by the ``LearningRateGuard`` before the step that would use it. A callable object it holds is checked to copy
    (``check_copies``).
    """
    if _waits_for_hparams(scheduler) or _calls_user_code(scheduler):
        return  # built with the values `fit` reads, or when `fit` starts
    if any(
        key in scheduler.info.per_group_arguments and isinstance(v, (list, tuple, dict))
        for key, v in scheduler.kwargs.items()
    ):
        return  # one value per group: checked when the model's groups are known
    length = TRIAL_LENGTH if scheduler.derived_length else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schedule = new_schedule(scheduler, optimizer, None, shape=Shape(length=length))
        if not scheduler.is_plateau:  # its updates need the metric
            _trial_update(scheduler, optimizer, schedule)


def _trial_update(scheduler: ResolvedScheduler, optimizer: Any, schedule: Schedule) -> None:
    """The trial schedule's first update, the groups put back after: values torch only rejects when stepping
    (``StepLR(step_size=0)`` divides by zero) or that make the lr negative at once (``ExponentialLR(gamma=-0.5)``)
    would otherwise stop training at the first update; later bad lrs are the ``LearningRateGuard``'s."""
    name = scheduler.cls.__name__
    declared = ", ".join(f"{key}={value!r}" for key, value in scheduler.spec.kwargs.items()) or "no arguments"
    kept = snapshot_groups(optimizer.param_groups)
    try:
        schedule.step()
    except Exception as err:
        error = TypeError if isinstance(err, TypeError) else ValueError
        raise error(
            f"{scheduler.where}: `{name}` fails its first update with the declared arguments ({declared}): "
            f"{type(err).__name__}: {err}. Check these values against `{name}`'s documentation."
        ) from err
    bad = bad_learning_rate(optimizer) if scheduler.spec.param == "lr" else None
    restore_groups(optimizer.param_groups, kept)
    if bad is not None:
        index, lr = bad
        raise ValueError(
            f"{scheduler.where}: Expected the lr `{name}` sets to be a finite number >= 0 but got {lr!r} "
            f"(param group {index}) at its first update, with the declared arguments ({declared})."
        )


def sets_outright(scheduler: ResolvedScheduler, optimizer: Any, *, restarted: bool = False) -> bool | None:
    """Whether ``scheduler`` sets the option it drives outright at its updates, from its own starting values
    (``LambdaLR``, ``OneCycleLR``, ``CyclicLR``, ``CosineAnnealingWarmRestarts``, transformers' and timm's
    schedules), rather than scaling the value it finds (``LinearLR``, ``StepLR``, ``ExponentialLR``, the
    recursive ``CosineAnnealingLR``): in a list, the former discards the factor the others left.

    Told by a trial rather than by a record, so that a scheduler of one's own is told too: built twice on the
    trial ``optimizer`` (the groups put back after), its first update finds the value as built once and another
    value the second time; the same result both times is a value set outright. ``ReduceLROnPlateau`` multiplies
    the value it finds (its updates need the metric); ``None`` where the trial cannot tell (an argument waits
    for an ``HParam``, or the update fails: refused by ``trial_scheduler`` already). ``restarted``: whether it sets
    it outright when started again from its update 0 (``step(0)``), as ``SequentialLR`` starts it at its milestone:
    torch's schedulers with a closed form do, ``MultiplicativeLR`` does not. Each build holds copies of the user's
    objects (``detached``), which a function's own state outside it (a global) is not; where ``copy.deepcopy``
    refuses one, the trial cannot tell.
    """
    if scheduler.is_plateau:
        return False
    if _waits_for_hparams(scheduler):
        return None
    # one value per group: the first stands for all (the stand-in groups are not the model's)
    kwargs = {
        key: group_values(value)[0] if key in scheduler.info.per_group_arguments else value
        for key, value in scheduler.kwargs.items()
    }
    standing = dataclasses.replace(scheduler, kwargs=kwargs)
    length = TRIAL_LENGTH if scheduler.derived_length else None
    kept = snapshot_groups(optimizer.param_groups)
    results = []
    try:
        for moved in (False, True):
            restore_groups(optimizer.param_groups, kept)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                schedule = new_schedule(detached(standing), optimizer, None, shape=Shape(length=length))
                if moved:
                    for group, value in zip(schedule.target.param_groups, numbers_in(schedule.values())):
                        set_value(group, "lr", value / 2 if value else 1.0)
                if restarted:  # how `SequentialLR` starts it at its milestone
                    schedule.inner.step(0)
                else:
                    schedule.step()
            results.append(numbers_in(schedule.values()))
    except Exception:
        return None
    finally:
        restore_groups(optimizer.param_groups, kept)
    return results[0] == results[1]


def starts_at_zero(scheduler: ResolvedScheduler, optimizer: Any) -> bool | None:
    """Whether ``scheduler``, built on the trial ``optimizer`` (the groups put back after), starts the value it
    drives at 0 in every group where the optimizer held another: the value a ``warmup=`` climbs to
    (``check_one_warmup``), so that the warmup would train nothing.

    Told by a trial rather than by a record, so that a scheduler of one's own is told too (a ``LambdaLR`` whose
    ``lr_lambda(0)`` is 0). Each value of a per-group argument stands for all groups in turn (the stand-in groups
    are not the model's), and all of them must start at 0: one group held at 0 beside others that train (a
    per-group ``LambdaLR`` freezing the backbone) is what the warmup climbs to, group by group. ``None`` where
    the trial cannot tell (an argument waits for an ``HParam``, or the build fails: refused by
    ``trial_scheduler`` already). Each build holds copies of the user's objects (``detached``); where
    ``copy.deepcopy`` refuses one, the trial cannot tell.
    """
    if scheduler.is_plateau:
        return False
    if _waits_for_hparams(scheduler):
        return None
    per_group = [key for key in scheduler.kwargs if key in scheduler.info.per_group_arguments]
    count = max((len(group_values(scheduler.kwargs[key])) for key in per_group), default=1)
    length = TRIAL_LENGTH if scheduler.derived_length else None
    kept = snapshot_groups(optimizer.param_groups)
    try:
        for index in range(count):
            kwargs = {
                key: _entry(group_values(value), index) if key in per_group else value
                for key, value in scheduler.kwargs.items()
            }
            restore_groups(optimizer.param_groups, kept)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                schedule = new_schedule(
                    detached(dataclasses.replace(scheduler, kwargs=kwargs)), optimizer, None
                )
                before = numbers_in(schedule.values())
                schedule.fix(Shape(length=length))
            if not zeroes(before, numbers_in(schedule.values())):
                return False
    except Exception:
        return None
    finally:
        restore_groups(optimizer.param_groups, kept)
    return True


def zeroes(before: Sequence[float], after: Sequence[float]) -> bool:
    """Whether the groups' values went from ``before`` to 0 in every group that held another value, and in one
    at least.

    Example:
        >>> zeroes([0.1, 0.1], [0.0, 0.0]), zeroes([0.1, 0.1], [0.0, 0.1]), zeroes([0.0, 0.1], [0.0, 0.0])
        (True, False, True)
        >>> zeroes([0.0], [0.0])
        False
    """
    held = [new for old, new in zip(before, after) if old != 0]
    return bool(held) and all(new == 0 for new in held)


def _entry(values: list[Any], index: int) -> Any:
    """The ``index``-th of a per-group argument's values, the last standing for those after it."""
    return values[min(index, len(values) - 1)]
