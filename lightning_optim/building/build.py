"""Build the declared optimizers and schedulers for a module when ``fit`` starts."""

from __future__ import annotations

import copy
import inspect
import types
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import torch

from lightning_optim.building.length import DerivedFromRun, run_shape
from lightning_optim.declarations.resolve import (
    ResolvedOptimizer,
    ResolvedScheduler,
    instantiate_scheduler,
)
from lightning_optim.groups.plan import GroupPlan
from lightning_optim.groups.recipes import RecipeContext
from lightning_optim.groups.selection import NamedParameters, select, select_or_none
from lightning_optim.registry.external import prepare_optimizer
from lightning_optim.registry.guards import LearningRateGuard, SparseGradientGuard
from lightning_optim.registry.implementation import choose
from lightning_optim.schedules.param_schedule import ParamSchedule
from lightning_optim.schedules.warmup import Warmup
from lightning_optim.schedules.window import Window
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import listing, torch_rejects
from lightning_optim.utilities.keys import default_prefix

LEFTOVER_GROUP = "rest"


@dataclass(frozen=True)
class Built:
    """A live optimizer with its schedulers and the names it is logged under."""

    declared: ResolvedOptimizer
    optimizer: torch.optim.Optimizer
    #: the live schedulers, aligned with ``declared.schedulers``
    schedulers: tuple[Any, ...]
    groups: Sequence[GroupPlan]
    #: what each scheduler was built with from the run (derived length, warmup steps), aligned with it
    shapes: tuple[DerivedFromRun, ...]
    #: each param group's settings (all but ``params``) before the schedulers were built on them, and the
    #: lrs the schedulers set: what ``rebuild_schedulers`` starts again from
    before_schedulers: tuple[dict[str, Any], ...] = ()
    lrs_after_schedulers: tuple[Any, ...] = ()

    @property
    def prefix(self) -> str:
        return self.declared.prefix_name or default_prefix(self.declared.attribute)

    def scheduled(self) -> list[tuple[Any, ResolvedScheduler, DerivedFromRun]]:
        """Each live scheduler with its declaration and run shape, in the declared order."""
        return list(zip(self.schedulers, self.declared.schedulers, self.shapes))


def assign_parameters(
    named: NamedParameters, declared_all: Sequence[ResolvedOptimizer]
) -> dict[str, list[tuple[str, torch.nn.Parameter]]]:
    """Which trainable parameters each optimizer trains; overlaps and untrained parameters are errors.

    Explicit selectors are matched first; the optimizer declared with ``params=None`` (at most one) then
    takes every trainable parameter left. A trainable parameter that no optimizer trains is an error rather
    than a warning: it would silently stay at its initial value. Freeze it (``requires_grad_(False)``) or
    select it.
    """
    owner: dict[int, str] = {}
    assigned: dict[str, list[tuple[str, torch.nn.Parameter]]] = {}
    for declared in declared_all:
        if declared.params is None:
            continue
        chosen = select(named, declared.params, where=declared.where, option="params")
        for name, param in chosen:
            other = owner.get(id(param))
            if other is not None:
                raise ValueError(
                    f"{declared.where}: parameter `{name}` is selected by both `{other}` and `{declared.attribute}`; "
                    "each parameter must be trained by exactly one optimizer. Narrow one of the `params` selectors."
                )
            owner[id(param)] = declared.attribute
        assigned[declared.attribute] = chosen
    rest = [(name, p) for name, p in named.items if id(p) not in owner]
    catch_all = [declared for declared in declared_all if declared.params is None]
    if catch_all:
        declared = catch_all[0]
        if not rest:
            raise ValueError(
                f"{declared.where}: `params=None` takes the trainable parameters no other optimizer takes, "
                "but none are left."
            )
        assigned[declared.attribute] = rest
    elif rest:
        names = [name for name, _ in rest]
        shown = listing(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        raise ValueError(
            f"{declared_all[0].where.rsplit('.', 1)[0]}: trainable parameter(s) {shown} are trained by no declared "
            "optimizer. Select them in an optimizer's `params`, declare one optimizer with `params=None`, "
            "or freeze them with `requires_grad_(False)`."
        )
    return assigned


def plan_groups(
    named: NamedParameters,
    declared: ResolvedOptimizer,
    parameters: Sequence[tuple[str, torch.nn.Parameter]],
    trained_by: Mapping[int, str] | None = None,
) -> list[GroupPlan]:
    """Split one optimizer's parameters into its declared groups, in order, plus the leftover group.

    Each group takes the matching parameters that no earlier group took; the parameters no group takes form
    the last group, ``rest``, with the optimizer's own options. ``trained_by`` (``id(param)`` to the attribute
    of the optimizer that trains it) lets a group that selects another optimizer's parameters say so. The recipes then split every group: by
    block depth (``layer_decay``, names ``<group>/layer_<depth>``) and into decayed and not decayed halves
    (``no_decay``, ``<group>`` and ``<group>/no_decay``); halves left empty are dropped.
    """
    groups = _declared_groups(named, declared, parameters, trained_by or {})
    root = named.modules[0][1] if named.modules else None
    context = RecipeContext(declared.where, named, declared.defaults, root, parameters)
    for recipe, settings in declared.recipes:
        groups = recipe.apply(settings, context, groups)
    names = [g.name for g in groups]
    duplicates = sorted(n for n, count in Counter(names).items() if n is not None and count > 1)
    if duplicates:
        raise ValueError(
            f"{declared.where}: Expected unique param group names but {listing(duplicates)} name more than "
            f"one group (groups in order: {listing(str(n) for n in names)}). "
            "Give the declared groups distinct `name=`s."
        )
    return groups


def _declared_groups(
    named: NamedParameters,
    declared: ResolvedOptimizer,
    parameters: Sequence[tuple[str, torch.nn.Parameter]],
    trained_by: Mapping[int, str],
) -> list[GroupPlan]:
    if not declared.groups:
        return [GroupPlan(name=None, parameters=parameters, options={})]
    owner: dict[int, str] = {}
    groups: list[GroupPlan] = []
    for index, group in enumerate(declared.groups):
        where = f"{declared.where}.groups[{index}]"
        remaining = [(n, p) for n, p in parameters if id(p) not in owner]
        try:
            chosen = select(named, group.select, where=where, option="select", among=remaining)
        except ValueError:
            taken = select_or_none(named, group.select, where=where, option="select", among=parameters)
            if not taken:
                _raise_if_elsewhere(named, declared, group.select, where, trained_by)
                raise
            earlier = listing(dict.fromkeys(owner[id(p)] for _, p in taken if id(p) in owner))
            raise ValueError(
                f"{where}: `select={group.select!r}` matches only parameters already taken by the "
                f"earlier group(s) {earlier}; a parameter goes to the first group that selects it. "
                "Reorder the groups or narrow the earlier selector."
            ) from None
        name = group.name or f"pg{index + 1}"
        owner.update((id(p), name) for _, p in chosen)
        groups.append(GroupPlan(name=name, parameters=chosen, options=group.options, scales=group.scales))
    leftover = [(n, p) for n, p in parameters if id(p) not in owner]
    if leftover:
        groups.append(GroupPlan(name=LEFTOVER_GROUP, parameters=leftover, options={}))
    return groups


def _raise_if_elsewhere(
    named: NamedParameters,
    declared: ResolvedOptimizer,
    selector: Any,
    where: str,
    trained_by: Mapping[int, str],
) -> None:
    """A group that selects only parameters another optimizer trains: name that optimizer and the fix."""
    elsewhere = select_or_none(named, selector, where=where, option="select")
    owners = list(dict.fromkeys(trained_by[id(p)] for _, p in elsewhere if id(p) in trained_by))
    if not owners:
        return
    names = [name for name, _ in elsewhere]
    shown = listing(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    theirs = "optimizer " + listing(owners) if len(owners) == 1 else "optimizers " + listing(owners)
    params = "" if declared.params is None else f" (`params={declared.params!r}`)"
    raise ValueError(
        f"{where}: `select={selector!r}` matches only parameters trained by {theirs} ({shown}), not by "
        f"`{declared.attribute}`{params}; a param group splits its own optimizer's parameters. Declare the group in "
        f"the `groups` of {listing(owners)}, or move the parameters to `{declared.attribute}` by changing the "
        "`params` selectors."
    ) from None


def _per_group_value(where: str, key: str, value: Any, names: Sequence[str]) -> Any:
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


def build_scheduler(
    scheduler: ResolvedScheduler,
    optimizer: torch.optim.Optimizer,
    group_names: Sequence[str],
    trainer: Any,
    shape: DerivedFromRun | None = None,
) -> tuple[Any, DerivedFromRun]:
    """Instantiate a resolved scheduler on a live optimizer: per-group values, lengths derived from the run
    (or given by ``shape``), epoch-valued arguments converted to steps (``unit="epoch"``), and the warmup in
    front; with the run's shape it was built for."""
    extra: dict[str, Any] = {
        key: _per_group_value(scheduler.where, key, value, group_names)
        for key, value in scheduler.kwargs.items()
        if key in scheduler.info.per_group_arguments
    }
    if shape is None:
        shape = run_shape(trainer, scheduler)
    if shape.steps_per_epoch is not None:
        extra = scheduler.info.epochs_to_steps({**scheduler.kwargs, **extra}, shape.steps_per_epoch)
    if scheduler.derived_length is not None:
        extra[scheduler.derived_length] = shape.derived_length
    with torch_rejects(scheduler.where, scheduler.cls):
        if scheduler.param == "lr":
            return _build_on(scheduler, optimizer, extra, shape), shape
        # another option (weight decay, momentum): the same schedule over a view where it is the lr
        return ParamSchedule(
            optimizer, partial(_build_on, scheduler, extra=extra, shape=shape), scheduler.param
        ), shape


def _build_on(
    scheduler: ResolvedScheduler,
    optimizer: torch.optim.Optimizer,
    extra: Mapping[str, Any],
    shape: DerivedFromRun,
) -> Any:
    """The scheduler on ``optimizer`` (the live one, or a ``ParamSchedule``'s proxy), in its window or behind
    its warmup."""
    if shape.window is not None:
        begin, end = shape.window
        return Window(optimizer, partial(instantiate_scheduler, scheduler, optimizer, extra), begin, end)
    built = instantiate_scheduler(scheduler, optimizer, extra)
    if shape.warmup:
        return Warmup(optimizer, built, shape.warmup, scheduler.warmup_start_factor)
    return built


def _check_capturable(declared: ResolvedOptimizer, optimizer: torch.optim.Optimizer) -> None:
    """``capturable=True`` needs parameters on an accelerator; torch only notices in the first step."""
    supported = compat.capturable_devices()
    for group in optimizer.param_groups:
        devices = sorted({p.device.type for p in group["params"]} - set(supported))
        if group.get("capturable") and devices:
            raise ValueError(
                f"{declared.where}: Expected the parameters of an optimizer with `capturable=True` to be on one of "
                f"{listing(supported)} but they are on {listing(devices)}. Remove `capturable=True` or train on "
                "one of those devices."
            )


def plan_all(
    module: torch.nn.Module, declared_all: Sequence[ResolvedOptimizer]
) -> list[tuple[ResolvedOptimizer, list[GroupPlan]]]:
    """Select each declared optimizer's parameters and plan its groups, in declaration order."""
    named = NamedParameters.of(module)
    assigned = assign_parameters(named, declared_all)
    trained_by = {id(p): attribute for attribute, pairs in assigned.items() for _, p in pairs}
    return [
        (declared, plan_groups(named, declared, assigned[declared.attribute], trained_by))
        for declared in declared_all
    ]


def as_torch_groups(groups: Sequence[GroupPlan]) -> list[dict[str, Any]]:
    """The torch param groups of ``groups``; each carries its ``"name"`` when there are several."""
    return [g.as_torch_group(named=len(groups) > 1) for g in groups]


def build_optimizer(
    declared: ResolvedOptimizer, torch_groups: list[dict[str, Any]], **arguments: Any
) -> torch.optim.Optimizer:
    """The declared optimizer over ``torch_groups`` (``arguments``: the chosen implementation)."""
    with torch_rejects(declared.where, declared.cls):
        return declared.cls(torch_groups, **declared.kwargs, **arguments)


def apply_scales(optimizer: torch.optim.Optimizer, groups: Sequence[GroupPlan]) -> None:
    """Multiply each built group's options by its plan's ``scales`` (layer decay, ``lr_mult``, ...).

    Applied to the values the optimizer put in its groups, so a scale is relative to each group's own base
    (``MuonWithAdamW``'s AdamW groups start from ``adamw_lr``); call it before any scheduler reads ``lr``.
    """
    for group, declared in zip(optimizer.param_groups, groups, strict=True):
        for key, factor in declared.scales.items():
            group[key] = group[key] * factor


def build_declared_schedulers(
    declared: ResolvedOptimizer, optimizer: torch.optim.Optimizer, groups: Sequence[GroupPlan], trainer: Any
) -> tuple[tuple[Any, ...], tuple[DerivedFromRun, ...]]:
    """The declared schedulers of ``declared`` on its live optimizer, in order, and their run shapes."""
    names = [g.name or LEFTOVER_GROUP for g in groups]
    pairs = [build_scheduler(scheduler, optimizer, names, trainer) for scheduler in declared.schedulers]
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)


def build_all(
    module: torch.nn.Module, declared_all: Sequence[ResolvedOptimizer], trainer: Any
) -> list[Built]:
    """Select parameters, plan groups, and build every declared optimizer and scheduler, in order."""
    built = []
    for declared, groups in plan_all(module, declared_all):
        torch_groups = as_torch_groups(groups)
        choice = choose(
            declared.where,
            declared.cls,
            declared.implementation,
            declared.kwargs,
            torch_groups,
            module,
            trainer,
        )
        optimizer = build_optimizer(declared, torch_groups, **choice.arguments)
        prepare_optimizer(declared.where, declared.spec.optimizer, optimizer, module)
        apply_scales(optimizer, groups)
        _check_capturable(declared, optimizer)
        optimizer.register_step_pre_hook(LearningRateGuard(declared.where, [g.name for g in groups], trainer))
        if isinstance(optimizer, torch.optim.SparseAdam):
            SparseGradientGuard.install(
                declared.where, optimizer, [pair for g in groups for pair in g.parameters]
            )
        before = group_settings(optimizer)
        schedulers, shapes = build_declared_schedulers(declared, optimizer, groups, trainer)
        built.append(
            Built(
                declared=declared,
                optimizer=optimizer,
                schedulers=schedulers,
                groups=groups,
                shapes=shapes,
                before_schedulers=before,
                lrs_after_schedulers=tuple(_copy(g["lr"]) for g in optimizer.param_groups),
            )
        )
    return built


def _copy(value: Any) -> Any:
    return value.detach().clone() if isinstance(value, torch.Tensor) else copy.deepcopy(value)


def group_settings(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Any], ...]:
    """A copy of each param group's settings, all but its ``params``."""
    return tuple({k: _copy(v) for k, v in g.items() if k != "params"} for g in optimizer.param_groups)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    return bool(a == b)


def _retarget(scheduler: Any, fresh: Any) -> None:
    """Make ``scheduler`` the object ``fresh`` is: its state, with ``fresh``'s bound methods bound to it.

    Every holder of ``scheduler`` (Lightning's ``lr_scheduler_configs``, the manual-optimization stepping
    hooks, the resume guard, LR monitors) keeps pointing at the right object. A torch scheduler keeps all
    its state in its instance dictionary (child schedulers and ``LambdaLR``'s functions included), and the
    optimizer holds no reference back to it.
    """
    state = dict(vars(fresh))
    for key, value in state.items():
        if inspect.ismethod(value) and value.__self__ is fresh:
            state[key] = types.MethodType(value.__func__, scheduler)
    vars(scheduler).clear()
    vars(scheduler).update(state)


#: attributes the mixin keeps on a scheduler (its manual-optimization counters): they survive a rebuild
_BOOKKEEPING = "_lightning_optim_"


def lr_set_outside(built: Built) -> bool:
    """Whether a group's lr differs from the one the schedulers set when they were built: set from outside
    since (``LearningRateFinder`` applies its suggestion so), before any scheduler took a step."""
    groups = built.optimizer.param_groups
    return any(not _same(g["lr"], lr) for g, lr in zip(groups, built.lrs_after_schedulers))


def rebuild_schedulers(built: Built, trainer: Any, shapes: Sequence[DerivedFromRun]) -> Built:
    """Build ``built``'s schedulers again for ``shapes``, as if they had been built with them: before any step.

    The param groups get back the settings they had before the schedulers were first built (a scheduler
    changes them: ``initial_lr``, ``OneCycleLR``'s momentum...), except an lr set from outside since then
    (``LearningRateFinder``'s suggestion), which the new schedules start from. Every scheduler is built
    again, in order (each starts from the lrs the one before it set); the scheduler objects stay the same
    (see ``_retarget``).
    """
    if not built.schedulers:
        return built
    groups = built.optimizer.param_groups
    for group, before, lr_after in zip(groups, built.before_schedulers, built.lrs_after_schedulers):
        settings = dict(before)
        if not _same(group["lr"], lr_after):
            settings["lr"] = group["lr"]
        params = group["params"]
        group.clear()
        group.update({"params": params, **settings})
    names = [g.name or LEFTOVER_GROUP for g in built.groups]
    for live, spec, shape in zip(built.schedulers, built.declared.schedulers, shapes, strict=True):
        fresh, _ = build_scheduler(spec, built.optimizer, names, trainer, shape)
        if type(fresh) is not type(live):
            raise TypeError(
                f"{spec.where}: rebuilding the scheduler gave a `{type(fresh).__name__}` instead of a "
                f"`{type(live).__name__}`; please report this."
            )
        for key, value in vars(live).items():
            if key.startswith(_BOOKKEEPING):
                setattr(fresh, key, value)
        _retarget(live, fresh)
    return replace(built, shapes=tuple(shapes), lrs_after_schedulers=tuple(_copy(g["lr"]) for g in groups))
