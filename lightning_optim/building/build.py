"""Build the declared optimizers and their schedules for a module when ``fit`` starts.

Each optimizer is built over its planned groups (``groups/planning.py``) with the implementation
``registry/implementation.py`` chooses; each declared scheduler becomes a ``Schedule`` whose shape is not
fixed yet: the run is known only when training starts (``training/lifecycle.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_warn

from lightning_optim.building.compiled import install_compiled_step
from lightning_optim.declaring.arguments import own_values
from lightning_optim.declaring.construct import driven_scales, new_schedule, per_group_value, scaled_lrs
from lightning_optim.declaring.optimizer import ResolvedOptimizer, lr_setters
from lightning_optim.declaring.scheduler import ResolvedScheduler, compiled_schedule_refusal
from lightning_optim.groups.multipliers import MULTIPLIERS
from lightning_optim.groups.plan import LEFTOVER_GROUP, GroupPlan
from lightning_optim.groups.planning import Overlap, apply_scales, as_torch_groups, plan_all
from lightning_optim.registry.deque_state import keep_deques
from lightning_optim.registry.external import prepare_optimizer
from lightning_optim.registry.fused_steps import install_fused_step_hooks
from lightning_optim.registry.guards import LearningRateGuard, SparseGradientGuard
from lightning_optim.registry.implementation import (
    IMPLEMENTATION_ARGUMENTS,
    choose,
    keep_implementation,
    scaled_groups,
    tied_to_dense,
)
from lightning_optim.registry.optimizers import groups_with_required
from lightning_optim.registry.precision import Origins, PeakLrs, check_low_precision, roundings
from lightning_optim.schedules.schedule import Schedule
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import listing, torch_rejects
from lightning_optim.utilities.keys import default_prefix
from lightning_optim.utilities.numeric import is_real


@dataclass(frozen=True)
class Built:
    """A live optimizer with its schedules and the names it is logged under."""

    declared: ResolvedOptimizer
    optimizer: torch.optim.Optimizer
    #: one per declared scheduler, in the declared order
    schedules: tuple[Schedule, ...]
    groups: Sequence[GroupPlan]

    @property
    def prefix(self) -> str:
        return self.declared.prefix_name or default_prefix(self.declared.attribute)

    @property
    def group_names(self) -> list[str]:
        return [g.name or LEFTOVER_GROUP for g in self.groups]

    @property
    def scales(self) -> list[Mapping[str, float]]:
        """Each group's scales (``GroupPlan.scales``), which a scheduler's arguments are multiplied by."""
        return [g.scales for g in self.groups]

    def scheduled(self) -> list[tuple[Schedule, ResolvedScheduler]]:
        """Each schedule with its declaration, in the declared order."""
        return list(zip(self.schedules, self.declared.schedulers))


def build_optimizer(
    declared: ResolvedOptimizer, torch_groups: list[dict[str, Any]], **arguments: Any
) -> torch.optim.Optimizer:
    """The declared optimizer over ``torch_groups`` (``arguments``: the chosen implementation), holding its own
    copies of the declared tensors (``own_values``): a scheduler writing one in place changes this fit only."""
    labels = [
        "the parameters no ParamGroup selects"
        if g.get("name", LEFTOVER_GROUP) == LEFTOVER_GROUP
        else f"{g['name']!r}"
        for g in torch_groups
    ]
    torch_groups = groups_with_required(declared.where, declared.cls, declared.kwargs, torch_groups, labels)
    with torch_rejects(declared.where, declared.cls):
        return declared.cls(list(map(own_values, torch_groups)), **own_values(declared.kwargs), **arguments)


def schedules_of(
    declared: ResolvedOptimizer, optimizer: torch.optim.Optimizer, groups: Sequence[GroupPlan]
) -> tuple[Schedule, ...]:
    """A ``Schedule`` per declared scheduler on ``optimizer``, shapes not fixed yet, each knowing the others that
    warm up from 0 (``Schedule._on_unwarmed``)."""
    names, scales = [g.name or LEFTOVER_GROUP for g in groups], [g.scales for g in groups]
    schedules = tuple(
        new_schedule(scheduler, optimizer, names, scales=scales) for scheduler in declared.schedulers
    )
    for schedule in schedules:
        schedule.beside_zero_warmups = tuple(
            other for other in schedules if other is not schedule and other.warmup_start_factor == 0
        )
    return schedules


def peak_lrs(declared: ResolvedOptimizer, groups: Sequence[GroupPlan]) -> PeakLrs | None:
    """Each group's largest lr where a declared scheduler sets the lrs when it is built (``OneCycleLR``,
    ``CyclicLR``: their ``max_lr``, times the group's lr scale), else ``None``: the declared lrs are."""
    names = [g.name or LEFTOVER_GROUP for g in groups]
    for setter in (found for scheduler in declared.schedulers for found in lr_setters(scheduler)):
        value = setter.kwargs.get("max_lr")
        if value is None:
            continue
        scales = driven_scales("lr", [g.scales for g in groups])
        peaks = scaled_lrs(per_group_value(setter.where, "max_lr", value, names), scales)
        if all(is_real(v) for v in peaks):
            return PeakLrs(peaks, setter.cls.__name__, "max_lr")
    return None


def value_origins(declared: ResolvedOptimizer, groups: Sequence[GroupPlan]) -> list[Origins]:
    """Where each planned group's values come from, for a check's message: the ``HParam`` an argument or group
    option was read from (the optimizer's apply where the group does not set the option), and the factors
    (``lr_mult``, ``decay_mult``, ``layer_decay``) its options were multiplied by."""
    multiplier = {key: option for option, key in MULTIPLIERS.items()}
    origins = []
    for group in groups:
        hparams = {
            o.key: o.name
            for o in declared.hparams
            if o.where == declared.where and o.key.partition("[")[0] not in group.options
        }
        multipliers: dict[str, float] = {}
        if group.declared is not None:
            where = f"{declared.where}.groups[{group.declared}]"
            hparams.update((o.key, o.name) for o in declared.hparams if o.where == where)
            multipliers.update(declared.groups[group.declared].scales)
        scaled = {}
        for key, factor in group.scales.items():
            mult = multipliers.get(key)
            named = f"`{multiplier.get(key, key)}={mult!r}`"
            if mult == factor:
                scaled[key] = (factor, named)
            elif factor != 1.0:
                by = f"{named} and `layer_decay`" if mult is not None else "`layer_decay`"
                scaled[key] = (factor, f"scale {factor:.3g} ({by})")
        origins.append(Origins(hparams, scaled))
    return origins


def build_over_stand_ins(declared: ResolvedOptimizer, groups: Sequence[GroupPlan]) -> Built:
    """``declared`` built over stand-ins of its planned ``groups``: its options and lrs, never stepped.

    Each group gets one 1-element stand-in per parameter rank it has: optimizers that route by shape (Muon
    takes matrices only) see the same kinds of parameters, at no cost.
    """
    stand_ins = []
    for group in groups:
        ranks = dict.fromkeys(p.ndim for _, p in group.parameters)
        parameters = [("stand-in", torch.nn.Parameter(torch.zeros((1,) * ndim))) for ndim in ranks]
        stand_ins.append(dataclasses.replace(group, parameters=parameters))
    optimizer = build_optimizer(declared, as_torch_groups(stand_ins))
    apply_scales(optimizer, stand_ins)
    compat.mark_stepped(optimizer)  # schedulers warn when stepped before their optimizer; it never steps
    return Built(declared, optimizer, schedules_of(declared, optimizer, groups), groups)


def reset_groups(built: Built) -> None:
    """Give the live groups of ``built`` the options a fresh build of its declaration gives them, keeping the
    implementation chosen (``fused``/``foreach``): a fresh start, or new ``HParam`` values. Groups added after
    the build (``BaseFinetuning.unfreeze_and_add_param_group``) were never declared: they are left as they are."""
    fresh = build_over_stand_ins(built.declared, built.groups).optimizer
    declared_groups = built.optimizer.param_groups[: len(built.groups)]
    for group, options in zip(declared_groups, fresh.param_groups, strict=True):
        kept = {key: group[key] for key in ("params", *IMPLEMENTATION_ARGUMENTS) if key in group}
        group.clear()
        group.update({**options, **kept})


def build_all(
    module: torch.nn.Module, declared_all: Sequence[ResolvedOptimizer], trainer: Any
) -> list[Built]:
    """Select parameters, plan groups, and build every declared optimizer and its schedules, in order."""
    built = []
    overlaps: list[Overlap] = []
    plans = plan_all(module, [declared.grouping for declared in declared_all], overlaps)
    for overlap in overlaps:
        rank_zero_warn(overlap.message(), category=UserWarning)
    for declared, groups in zip(declared_all, plans):
        torch_groups = as_torch_groups(groups)
        choice = choose(
            declared.where,
            declared.cls,
            declared.spec.implementation,
            declared.kwargs,
            scaled_groups(declared.cls, declared.kwargs, torch_groups, [g.scales for g in groups]),
            module,
            trainer,
            compilable_schedules=compiled_schedule_refusal(declared.cls, declared.schedulers) is None,
            # a name's own arguments (`"transformers/adamw_torch_fused"`) are those the declaration does not give
            fused_by_name=str(declared.spec.optimizer)
            if "fused" in declared.kwargs and "fused" not in declared.spec.kwargs
            else None,
        )
        optimizer = build_optimizer(declared, torch_groups, **choice.arguments)
        prepare_optimizer(declared.where, declared.spec.optimizer, optimizer, module)
        apply_scales(optimizer, groups)
        names = {id(p): name for g in groups for name, p in g.parameters}
        keep_implementation(optimizer)  # a checkpoint's groups would bring the implementation that wrote it
        keep_deques(optimizer)  # AdaShift's queue: refused by a weights_only load, unbounded by torch's
        # before the compiled step holds the options as tensors
        check_low_precision(
            declared.where,
            optimizer,
            [g.name or LEFTOVER_GROUP for g in groups],
            frozenset(declared.kwargs),
            [frozenset(g.options) for g in groups],
            getattr(trainer, "precision", None),
            peak_lrs(declared, groups),
            compiled=choice.implementation == "compiled",
            origins=value_origins(declared, groups),
        )
        if choice.implementation == "compiled":
            install_compiled_step(optimizer, declared.where, names)
        auto = declared.spec.implementation == "auto" and choice.arguments.get("fused") is True
        install_fused_step_hooks(declared.where, optimizer, names, auto=auto)
        # `capturable=True` needs parameters on an accelerator; torch only notices in the first step
        supported = compat.capturable_devices()
        for group in optimizer.param_groups:
            devices = sorted({p.device.type for p in group["params"]} - set(supported))
            if group.get("capturable") and devices:
                raise ValueError(
                    f"{declared.where}: Expected the parameters of an optimizer with `capturable=True` to be on "
                    f"one of {listing(supported)} but they are on {listing(devices)}. Remove `capturable=True` or "
                    "train on one of those devices."
                )
        driven = dict.fromkeys(s.spec.param for s in declared.schedulers if s.spec.param != "lr")
        guard = LearningRateGuard(
            declared.where,
            [g.name for g in groups],
            trainer,
            params=tuple(driven),
            roundings=roundings(optimizer, compiled=choice.implementation == "compiled"),
        )
        optimizer.register_step_pre_hook(guard)
        if isinstance(optimizer, torch.optim.SparseAdam):
            SparseGradientGuard.install(
                declared.where,
                optimizer,
                [pair for g in groups for pair in g.parameters],
                tied_to_dense(module),
            )
        built.append(Built(declared, optimizer, schedules_of(declared, optimizer, groups), groups))
    return built
