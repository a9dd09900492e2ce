"""Build the declared optimizers and schedulers for a module when ``fit`` starts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lightning_optim._errors import listing
from lightning_optim._guards import LearningRateGuard, SparseGradientGuard
from lightning_optim._naming import default_prefix
from lightning_optim._resolve import (
    PER_GROUP_ARGUMENTS,
    ResolvedOptimizer,
    ResolvedScheduler,
    instantiate_scheduler,
)
from lightning_optim._selection import NamedParameters, select

LEFTOVER_GROUP = "rest"


@dataclass(frozen=True)
class GroupPlan:
    """One torch param group to build: its name, its parameters (by name) and its options."""

    name: str | None
    parameters: Sequence[tuple[str, torch.nn.Parameter]]
    options: Mapping[str, Any]

    def as_torch_group(self, named: bool) -> dict[str, Any]:
        group: dict[str, Any] = {"params": [p for _, p in self.parameters], **self.options}
        if named and self.name is not None:
            group["name"] = self.name
        return group


@dataclass(frozen=True)
class Built:
    """A live optimizer with its scheduler and the names it is logged under."""

    plan: ResolvedOptimizer
    optimizer: torch.optim.Optimizer
    scheduler: Any | None
    groups: Sequence[GroupPlan]

    @property
    def prefix(self) -> str:
        scheduler = self.plan.scheduler
        return (
            scheduler.name
            if scheduler is not None and scheduler.name
            else default_prefix(self.plan.attribute)
        )


def assign_parameters(
    named: NamedParameters, plans: Sequence[ResolvedOptimizer]
) -> dict[str, list[tuple[str, torch.nn.Parameter]]]:
    """Which trainable parameters each optimizer trains; overlaps and untrained parameters are errors.

    Explicit selectors are matched first; the optimizer declared with ``params=None`` (at most one) then
    takes every trainable parameter left. A trainable parameter that no optimizer trains is an error rather
    than a warning: it would silently stay at its initial value. Freeze it (``requires_grad_(False)``) or
    select it.
    """
    owner: dict[int, str] = {}
    assigned: dict[str, list[tuple[str, torch.nn.Parameter]]] = {}
    for plan in plans:
        if plan.params is None:
            continue
        chosen = select(named, plan.params, where=plan.where, option="params")
        for name, param in chosen:
            other = owner.get(id(param))
            if other is not None:
                raise ValueError(
                    f"{plan.where}: parameter `{name}` is selected by both `{other}` and `{plan.attribute}`; "
                    "each parameter must be trained by exactly one optimizer. Narrow one of the `params` selectors."
                )
            owner[id(param)] = plan.attribute
        assigned[plan.attribute] = chosen
    rest = [(name, p) for name, p in named.items if id(p) not in owner]
    catch_all = [plan for plan in plans if plan.params is None]
    if catch_all:
        plan = catch_all[0]
        if not rest:
            raise ValueError(
                f"{plan.where}: `params=None` takes the trainable parameters no other optimizer takes, "
                "but none are left."
            )
        assigned[plan.attribute] = rest
    elif rest:
        names = [name for name, _ in rest]
        shown = listing(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        raise ValueError(
            f"{plans[0].where.rsplit('.', 1)[0]}: trainable parameter(s) {shown} are trained by no declared "
            "optimizer. Select them in an optimizer's `params`, declare one optimizer with `params=None`, "
            "or freeze them with `requires_grad_(False)`."
        )
    return assigned


def plan_groups(
    named: NamedParameters, plan: ResolvedOptimizer, parameters: Sequence[tuple[str, torch.nn.Parameter]]
) -> list[GroupPlan]:
    """Split one optimizer's parameters into its declared groups, in order, plus the leftover group."""
    if not plan.groups:
        return [GroupPlan(name=None, parameters=parameters, options={})]
    taken: set[int] = set()
    groups: list[GroupPlan] = []
    for index, group in enumerate(plan.groups):
        remaining = [(n, p) for n, p in parameters if id(p) not in taken]
        chosen = select(
            named, group.select, where=f"{plan.where}.groups[{index}]", option="select", among=remaining
        )
        taken.update(id(p) for _, p in chosen)
        groups.append(
            GroupPlan(name=group.name or f"pg{index + 1}", parameters=chosen, options=group.options)
        )
    leftover = [(n, p) for n, p in parameters if id(p) not in taken]
    if leftover:
        groups.append(GroupPlan(name=LEFTOVER_GROUP, parameters=leftover, options={}))
    return groups


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


def run_length(trainer: Any, scheduler: ResolvedScheduler) -> int:
    """The number of the scheduler's intervals in the whole run (optimizer steps or epochs)."""
    if scheduler.interval == "step":
        total = trainer.estimated_stepping_batches
    else:
        total = trainer.max_epochs if trainer.max_epochs not in (None, -1) else math.inf
    if not math.isfinite(total):
        raise ValueError(
            f"{scheduler.where}: `{scheduler.cls.__name__}` needs `{scheduler.derived_length}`, which is derived "
            f"from the run's length, but the Trainer's run has no known length in {scheduler.interval}s "
            f"(set `max_epochs`{' or `max_steps`' if scheduler.interval == 'step' else ''}), "
            f"or give `{scheduler.derived_length}` explicitly."
        )
    return int(total)


def build_scheduler(
    scheduler: ResolvedScheduler, optimizer: torch.optim.Optimizer, group_names: Sequence[str], trainer: Any
) -> Any:
    """Instantiate a resolved scheduler on a live optimizer, deriving omitted lengths from the run."""
    extra: dict[str, Any] = {
        key: _per_group_value(scheduler.where, key, value, group_names)
        for key, value in scheduler.kwargs.items()
        if key in PER_GROUP_ARGUMENTS
    }
    if scheduler.derived_length is not None:
        extra[scheduler.derived_length] = max(1, run_length(trainer, scheduler))
    try:
        return instantiate_scheduler(scheduler, optimizer, extra)
    except Exception as err:
        error = TypeError if isinstance(err, TypeError) else ValueError
        raise error(
            f"{scheduler.where}: `{scheduler.cls.__name__}` rejected the declared options: {err}"
        ) from err


def _check_capturable(plan: ResolvedOptimizer, optimizer: torch.optim.Optimizer) -> None:
    """``capturable=True`` needs parameters on an accelerator; torch only notices in the first step."""
    supported = _capturable_devices()
    for group in optimizer.param_groups:
        devices = sorted({p.device.type for p in group["params"]} - set(supported))
        if group.get("capturable") and devices:
            raise ValueError(
                f"{plan.where}: Expected the parameters of an optimizer with `capturable=True` to be on one of "
                f"{listing(supported)} but they are on {listing(devices)}. Remove `capturable=True` or train on "
                "one of those devices."
            )


def _capturable_devices() -> list[str]:
    try:
        from torch.optim.optimizer import _get_capturable_supported_devices

        return list(_get_capturable_supported_devices())
    except ImportError:  # pragma: no cover - private torch helper; CUDA is always supported
        return ["cuda"]


def build_all(module: torch.nn.Module, plans: Sequence[ResolvedOptimizer], trainer: Any) -> list[Built]:
    """Select parameters, plan groups, and build every declared optimizer and scheduler, in order."""
    named = NamedParameters.of(module)
    assigned = assign_parameters(named, plans)
    built = []
    for plan in plans:
        groups = plan_groups(named, plan, assigned[plan.attribute])
        torch_groups = [g.as_torch_group(named=len(groups) > 1) for g in groups]
        try:
            optimizer = plan.cls(torch_groups, **plan.kwargs)
        except Exception as err:
            error = TypeError if isinstance(err, TypeError) else ValueError
            raise error(f"{plan.where}: `{plan.cls.__name__}` rejected the declared options: {err}") from err
        _check_capturable(plan, optimizer)
        optimizer.register_step_pre_hook(LearningRateGuard(plan.where, [g.name for g in groups], trainer))
        if isinstance(optimizer, torch.optim.SparseAdam):
            SparseGradientGuard.install(
                plan.where, optimizer, [pair for g in groups for pair in g.parameters]
            )
        scheduler = None
        if plan.scheduler is not None:
            names = [g.name or LEFTOVER_GROUP for g in groups]
            scheduler = build_scheduler(plan.scheduler, optimizer, names, trainer)
        built.append(Built(plan=plan, optimizer=optimizer, scheduler=scheduler, groups=groups))
    return built
