"""From a ``ResolvedScheduler`` to the torch scheduler: the arguments a shape gives it, and its ``Schedule``.

The one place a declared scheduler is constructed: by the trial build when the class is defined, by the
mixin when ``fit`` starts (``Schedule`` then builds it once its shape is fixed), and by the preview.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import torch

from lightning_optim.schedules.schedule import Make, Schedule
from lightning_optim.schedules.shape import Shape
from lightning_optim.utilities.errors import listing, torch_rejects

if TYPE_CHECKING:
    from lightning_optim.declaring.scheduler import ResolvedScheduler


def instantiate_scheduler(scheduler: ResolvedScheduler, optimizer: Any, extra: Mapping[str, Any]) -> Any:
    """Build a resolved scheduler (and any nested ones) on ``optimizer``, with ``extra`` arguments."""
    kwargs = {**scheduler.kwargs, **extra}
    if scheduler.info.composite:
        kwargs["schedulers"] = [instantiate_scheduler(inner, optimizer, {}) for inner in kwargs["schedulers"]]
    return scheduler.cls(**kwargs, optimizer=optimizer)


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


def shaped_arguments(
    scheduler: ResolvedScheduler, shape: Shape, group_names: Sequence[str] | None
) -> dict[str, Any]:
    """The arguments ``shape`` adds or changes: per-group values in group order (``group_names``; ``None``
    leaves them as declared), epoch-valued arguments in steps, and the derived length."""
    extra: dict[str, Any] = {}
    if group_names is not None:
        extra = {
            key: per_group_value(scheduler.where, key, value, group_names)
            for key, value in scheduler.kwargs.items()
            if key in scheduler.info.per_group_arguments
        }
    if shape.steps_per_epoch is not None:
        extra = scheduler.info.epochs_to_steps({**scheduler.kwargs, **extra}, shape.steps_per_epoch)
    if scheduler.derived_length is not None:
        extra[scheduler.derived_length] = shape.length
    return extra


def _make(
    scheduler: ResolvedScheduler,
    group_names: Sequence[str] | None,
    optimizer: torch.optim.Optimizer,
    shape: Shape,
) -> Any:
    with torch_rejects(scheduler.where, scheduler.cls):
        return instantiate_scheduler(scheduler, optimizer, shaped_arguments(scheduler, shape, group_names))


def recipe(scheduler: ResolvedScheduler, group_names: Sequence[str] | None) -> Make:
    """How a ``Schedule`` builds ``scheduler`` on an optimizer for a shape."""
    return partial(_make, scheduler, group_names)


def new_schedule(
    scheduler: ResolvedScheduler,
    optimizer: torch.optim.Optimizer,
    group_names: Sequence[str] | None,
    *,
    shape: Shape | None = None,
    derive: Callable[[], Shape | None] | None = None,
) -> Schedule:
    """The ``Schedule`` of a resolved scheduler on ``optimizer`` (built now with ``shape``, or later)."""
    with torch_rejects(scheduler.where, scheduler.cls):
        return Schedule(
            optimizer,
            recipe(scheduler, group_names),
            param=scheduler.spec.param,
            warmup_start_factor=scheduler.spec.warmup_start_factor,
            shape=shape,
            derive=derive,
        )
