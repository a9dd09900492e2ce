"""Several schedulers on one option, placed in the run: the class-definition check of ``declaring/chained.py``
again, once the run tells where each scheduler acts.

When the class is defined, windows counted in steps beside windows counted in epochs, float bounds (fractions of
the run) and a ``frequency`` given as an ``HParam`` leave the overlap of two windows to the run. Once every
schedule has its shape (``fit``'s ``on_train_start``, ``preview_schedule``), each span is placed in the run's
optimizer steps and the same rule, with the same message, decides: a per-epoch span ``[b, e)`` (its updates set the
values of epochs ``b`` to ``e - 1``, each at the end of the epoch before) covers the steps of those epochs; a float
bound is the update the run's shape gave it. Spans counted alike keep their order in steps, so they get the verdict
they got when the class was defined. Once per ``fit``, before the first optimizer step; nothing per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from lightning_optim.building.build import Built, build_over_stand_ins
from lightning_optim.building.length import epoch_steps, epoch_steps_total
from lightning_optim.declaring.chained import Span, check_chained, span
from lightning_optim.declaring.scheduler import ResolvedScheduler
from lightning_optim.schedules.shape import Shape


def run_span(scheduler: ResolvedScheduler, shape: Shape | None) -> Span | None:
    """Where ``scheduler`` acts in the run of ``shape``, in its own unit: as declared (``span``), or, for a window
    the run places (float bounds), the updates of the shape's window.

    Example:
        >>> from lightning_optim.declaring.scheduler import resolve_scheduler
        >>> from lightning_optim.declaring.specs import SchedulerSpec
        >>> late = resolve_scheduler("M.opt.scheduler", SchedulerSpec("lambda", lr_lambda=abs, begin=0.5))
        >>> run_span(late, Shape(window=(3, None))), run_span(late, None) is None
        (('epoch', 3, inf), True)
    """
    declared = span(scheduler)
    if declared is not None or shape is None or shape.window is None:
        return declared
    every = 1 if scheduler.converts_epochs else scheduler.spec.frequency
    first, last = shape.window
    return (scheduler.interval, first * every, math.inf if last is None else last * every)


def in_steps(s: Span | None, epoch_start: Callable[[int], float]) -> Span | None:
    """``s`` in optimizer steps, ``epoch_start(k)`` being the step epoch ``k`` starts at.

    Example:
        >>> in_steps(("epoch", 0, 2), lambda k: 4 * k), in_steps(("epoch", 1, math.inf), lambda k: 4 * k)
        (('step', 0, 8), ('step', 4, inf))
        >>> in_steps(("step", 3, 9), lambda k: 4 * k), in_steps(None, lambda k: 4 * k) is None
        (('step', 3, 9), True)
    """
    if s is None or s[0] != "epoch":
        return s
    _, begin, end = s
    return ("step", epoch_start(int(begin)), math.inf if end == math.inf else epoch_start(int(end)))


def check_in_run(
    where: str,
    schedulers: Sequence[ResolvedScheduler],
    optimizer: Any,
    shapes: Sequence[Shape | None],
    epoch_start: Callable[[int], float] | None,
) -> None:
    """``check_chained`` on ``where``'s list, each scheduler placed in a run: by its ``shapes``, its epochs starting
    at the steps ``epoch_start`` gives (``None``: epochs beside steps left as declared). ``optimizer``: a trial
    optimizer of the list's, as at class definition."""
    shaped = {id(scheduler): shape for scheduler, shape in zip(schedulers, shapes)}

    def placed(scheduler: ResolvedScheduler) -> Span | None:
        return run_span(scheduler, shaped.get(id(scheduler)))

    def counted(s: Span | None) -> Span | None:
        return s if epoch_start is None else in_steps(s, epoch_start)

    check_chained(where, schedulers, optimizer, placed=placed, counted=counted)


def check_placed(trainer: Any, built: Built) -> None:
    """Refuse, as ``check_chained`` does when the class is defined, a scheduler of ``built``'s list that sets the
    option it drives outright where another drives it, their spans placed in ``trainer``'s run (every schedule
    shaped). Data of unknown length leaves epochs beside steps as declared: no step starts epoch 1."""
    schedulers = built.declared.schedulers
    if len(schedulers) < 2:
        return
    shapes = [schedule.shape for schedule in built.schedules]
    first = schedulers[0]
    start = next((shape.start[1] for shape in shapes if shape is not None), 0)
    steps = epoch_steps(trainer, start, first)

    def epoch_start(k: int) -> float:
        return epoch_steps_total(trainer, first, start + k) - epoch_steps_total(trainer, first, start)

    # the trial optimizer the list is checked on, as at class definition: stand-ins, the live groups left alone
    optimizer = build_over_stand_ins(built.declared, built.groups).optimizer
    known = math.isfinite(steps) and steps >= 1
    check_in_run(
        f"{built.declared.where}.scheduler", schedulers, optimizer, shapes, epoch_start if known else None
    )
