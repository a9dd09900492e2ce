"""``describe_optimizers``: the param group plan of a module, readable before training."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from lightning_optim.building.build import build_optimizer
from lightning_optim.building.hparam_values import values_resolved
from lightning_optim.declaring.construct import detached, new_schedule
from lightning_optim.declaring.optimizer import ResolvedOptimizer
from lightning_optim.declaring.scheduler import ResolvedScheduler, scheduler_where
from lightning_optim.groups.plan import LEFTOVER_GROUP, GroupPlan
from lightning_optim.groups.planning import apply_scales, as_torch_groups
from lightning_optim.registry.external import prepare_optimizer
from lightning_optim.registry.optimizers import optimizer_info
from lightning_optim.schedules.shape import Shape
from lightning_optim.tools.configured import fit_plans, setup_note
from lightning_optim.tools.state_size import state_bytes
from lightning_optim.training.mixin import current_declarations
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import check_count
from lightning_optim.utilities.lazy import is_uninitialized


def describe_optimizers(module: torch.nn.Module, *, max_names: int | None = 8) -> str:
    """Every param group each declared optimizer of ``module`` will get, as ``fit`` will build them.

    For each optimizer: its groups in order, with their names (the metric key suffix; ``all`` for an
    optimizer with a single, unnamed group), how many tensors and scalar parameters each holds, the bytes of
    optimizer state each will hold (``state bytes``: measured by one step on zero gradients, over a stand-in
    per distinct parameter shape where the optimizer keeps its state per parameter, see ``state_size.py``;
    ``?`` where that step fails), the options torch will use for
    them (every option declared anywhere in the ``OptimizerSpec``, read back from a real optimizer over the
    module's parameters, so recipe scales and ``weight_decay=0.0`` halves show; bitsandbytes' ``optim_bits``,
    kept outside the groups, as the group's parameters get it), and which parameters each
    group holds, the leftover ``rest`` group included; then its schedulers, in the order they act on it
    (``scheduler[i]`` for a declared list).

    A module that builds its layers in Lightning's ``configure_model`` hook is described with them: the hook runs
    on a copy sharing its parameters (``tools/configured.py``), and ``module`` is left for ``fit`` to build. One
    that overrides ``setup``, which Lightning calls inside ``fit`` and this does not, is described over the layers
    built so far, under a first line saying so.

    Args:
        module: an instance of a ``ConfigurableOptimizersMixin`` module (its parameters decide the groups), or
            that module compiled (``torch.compile(module)``).
        max_names: list at most this many parameter names per group (``None``: all of them).

    Raises:
        TypeError: ``module`` declares no optimizers, or ``max_names`` is neither an int nor ``None``.
        ValueError: ``max_names`` is below 1; what ``fit`` would raise for this module's parameters (a selector matching nothing, ...).

    Example:
        >>> import lightning as L
        >>> from torch import nn
        >>> from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, ParamGroup
        >>> class Model(ConfigurableOptimizersMixin, L.LightningModule):
        ...     optimizer = OptimizerSpec("sgd", lr=0.1, groups=[ParamGroup("layer1", lr=0.5)])
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.layer1, self.layer2 = nn.Linear(8, 16), nn.Linear(16, 4)
        >>> print(describe_optimizers(Model()))
        Model.optimizer: SGD(lr=0.1), 2 groups, 4 tensors, 212 parameters, 0 bytes of state
          group   tensors  parameters  state bytes  lr
          layer1        2         144            0  0.5
          rest          2          68            0  0.1
          layer1: layer1.weight, layer1.bias
          rest: layer2.weight, layer2.bias
    """
    check_count("describe_optimizers", "max_names", max_names, unlimited=(None, "None (all of them)"))
    module = compat.compiled_original(module)  # `fit` trains the module `torch.compile` wrapped
    declared_all: Sequence[ResolvedOptimizer] = current_declarations(module)
    if not isinstance(module, torch.nn.Module) or not declared_all:
        raise TypeError(
            "describe_optimizers: Expected an instance of a ConfigurableOptimizersMixin module that declares "
            f"optimizers but got {module!r:.80}."
        )
    declared_all = values_resolved(module, declared_all)  # the values of its HParams, as `fit` reads them
    module, plans = fit_plans("describe_optimizers", module, [d.grouping for d in declared_all])
    note = setup_note("describe_optimizers", module)
    described = [
        _describe(module, declared, groups, max_names) for declared, groups in zip(declared_all, plans)
    ]
    first = [] if note is None else [f"Planned over the layers built so far: {note}"]
    return "\n".join([*first, *described])


def _describe(
    module: torch.nn.Module, declared: ResolvedOptimizer, groups: Sequence[GroupPlan], max_names: int | None
) -> str:
    optimizer = build_optimizer(declared, as_torch_groups(groups))
    prepare_optimizer(declared.where, declared.spec.optimizer, optimizer, module)
    apply_scales(optimizer, groups)
    sizes = state_bytes(optimizer)
    for scheduler in declared.schedulers:  # OneCycleLR, CyclicLR: the lr every group starts from is theirs
        if scheduler.info.sets_lr_from is not None and scheduler.spec.param == "lr":
            group_names = [g.name or LEFTOVER_GROUP for g in groups]
            new_schedule(
                detached(scheduler),
                optimizer,
                group_names,
                scales=[g.scales for g in groups],
                shape=Shape(length=100),
            )
    state_values = optimizer_info(type(optimizer)).state_values  # bitsandbytes' `optim_bits`: kept outside
    live = [
        {**group, **(state_values(optimizer, group) if state_values else {})}
        for group in optimizer.param_groups
    ]
    keys = list(dict.fromkeys(["lr", *declared.kwargs, *(k for g in groups for k in g.options)]))
    # an argument only the constructor keeps (not a group option) is in the header, not a column of `None`s
    keys = [k for k in keys if any(k in options for options in live)]
    names = [g.name or "all" for g in groups]
    rows = [["group", "tensors", "parameters", "state bytes", *keys]]
    for index, (name, group, options) in enumerate(zip(names, groups, live)):
        count = _count(p for _, p in group.parameters)
        size = "?" if sizes is None else str(sizes[index])
        rows.append([name, str(len(group.parameters)), count, size, *(_value(options.get(k)) for k in keys)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(keys) + 4)]
    # counts are right-aligned, names and options left-aligned
    table = [
        "  " + "  ".join(_cell(cell, width, i) for i, (cell, width) in enumerate(zip(row, widths)))
        for row in rows
    ]
    kwargs = ", ".join(f"{k}={v!r}" for k, v in declared.kwargs.items())
    tensors = sum(len(g.parameters) for g in groups)
    total = _count(p for g in groups for _, p in g.parameters)
    state = "state size unknown" if sizes is None else f"{sum(sizes)} bytes of state"
    header = (
        f"{declared.where}: {declared.cls.__name__}({kwargs}), {len(groups)} group{'s' * (len(groups) != 1)}, "
        f"{tensors} tensor{'s' * (tensors != 1)}, {total} parameters, {state}"
    )
    listed = [f"  {name}: {_names(group, max_names)}" for name, group in zip(names, groups)]
    schedulers = [
        f"  {_scheduler_line(scheduler, scheduler_where('', index, declared.listed).lstrip('.'))}"
        for index, scheduler in enumerate(declared.schedulers)
    ]
    return "\n".join([header, *(line.rstrip() for line in table), *listed, *schedulers])


def schedule_lines(module_or_class: Any) -> list[str]:
    """One line per declared scheduler of every optimizer, in the order they act (``where: line``); with an
    instance, its ``HParam`` values."""
    declared_all: Sequence[ResolvedOptimizer] = current_declarations(module_or_class)
    if not isinstance(module_or_class, type):
        declared_all = values_resolved(module_or_class, declared_all)
    return [
        _scheduler_line(scheduler, scheduler.where)
        for declared in declared_all
        for scheduler in declared.schedulers
    ]


def _scheduler_line(scheduler: ResolvedScheduler, label: str) -> str:
    """One declared scheduler: its class and arguments, when it steps, its warmup and derived length.

    Example:
        >>> from lightning_optim.declaring.scheduler import resolve_scheduler
        >>> from lightning_optim.declaring.specs import SchedulerSpec
        >>> spec = SchedulerSpec("linear", start_factor=0.1, total_iters=5, interval="step")
        >>> _scheduler_line(resolve_scheduler("Model.optimizer.scheduler[0]", spec), "scheduler[0]")
        'scheduler[0]: LinearLR(start_factor=0.1, total_iters=5), every step'
        >>> spec = SchedulerSpec("cosine", param="weight_decay", eta_min=0.4, interval="step")
        >>> _scheduler_line(resolve_scheduler("Model.optimizer.scheduler[1]", spec), "scheduler[1]")
        'scheduler[1]: CosineAnnealingLR(eta_min=0.4) on weight_decay, every step, `T_max` derived from the run'
    """
    spec = scheduler.spec
    every = scheduler.interval if spec.frequency == 1 else f"{spec.frequency} {scheduler.interval}s"
    driven = "" if spec.param == "lr" else f" on {spec.param}"
    parts = [f"{label}: {_call(scheduler)}{driven}", f"every {every}"]
    if scheduler.unit != scheduler.interval:
        parts.append(f"unit={scheduler.unit}")
    if spec.warmup:
        parts.append(f"warmup={spec.warmup!r}")
    if scheduler.windowed:
        end = "end of run" if spec.end is None else repr(spec.end)
        parts.append(f"window [{spec.begin or 0!r}, {end})")
    if scheduler.derived_length:
        parts.append(f"`{scheduler.derived_length}` derived from the run")
    if spec.monitor:
        parts.append(f"monitors {spec.monitor!r}")
    return ", ".join(parts)


def _call(scheduler: ResolvedScheduler) -> str:
    """``Cls(arguments)``, with the schedulers inside a composite written the same way."""

    def value(v: Any) -> str:
        if isinstance(v, ResolvedScheduler):
            return _call(v)
        if isinstance(v, (list, tuple)) and v and all(isinstance(i, ResolvedScheduler) for i in v):
            return f"[{', '.join(_call(i) for i in v)}]"
        return repr(v)

    return f"{scheduler.cls.__name__}({', '.join(f'{k}={value(v)}' for k, v in scheduler.kwargs.items())})"


def _count(parameters: Any) -> str:
    """The scalars in ``parameters``; ``?`` when one is uninitialized (a lazy module before its first forward)."""
    parameters = list(parameters)
    if any(is_uninitialized(p) for p in parameters):
        return "?"
    return str(sum(p.numel() for p in parameters))


def _cell(cell: str, width: int, column: int) -> str:
    return cell.rjust(width) if column in (1, 2, 3) else cell.ljust(width)


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return f"{value.item():.6g}"
    return repr(value)


def _names(group: GroupPlan, max_names: int | None) -> str:
    names = [name for name, _ in group.parameters]
    if max_names is None or len(names) <= max_names:
        return ", ".join(names)
    return ", ".join(names[:max_names]) + f", ... ({len(names) - max_names} more)"
