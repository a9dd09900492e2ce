"""Several schedulers on one option, placed in the run: the class-definition check of ``declaring/chained.py``
again, once the run tells where each scheduler acts.

When the class is defined, windows counted in steps beside windows counted in epochs, float bounds (fractions of
the run) and a ``frequency`` given as an ``HParam`` leave the overlap of two windows to the run. Once every
schedule has its shape (``fit``'s ``on_train_start``, ``preview_schedule``), each span is placed in the run's
optimizer steps and the same rule, with the same message, decides: each span is the instants its updates happen
at, a per-step update after its step, a per-epoch update at its epoch's end, after the per-step update of that
epoch's last step (as Lightning takes them), so a warmup over the first epoch's steps ends before a per-epoch
scheduler's first update at that epoch's end; a float bound is the update the run's shape gave it. The same for
a ``OneCycleLR``/``CyclicLR`` cycling the momentum beside a schedule of the momentum (``check_cycled_momentum``).
Spans counted alike keep their order in steps, so they get the verdict they got when the class was defined. Once
per ``fit``, before the first optimizer step; nothing per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from lightning_optim.building.build import Built, build_over_stand_ins
from lightning_optim.building.length import epoch_steps, epoch_steps_total
from lightning_optim.declaring.chained import Span, check_chained, check_cycled_momentum, span, updates_every
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
    every = updates_every(scheduler)
    first, last = shape.window
    return (scheduler.interval, first * every, math.inf if last is None else last * every)


#: The unit of a per-step scheduler whose window counts epochs (``unit="epoch"``, ``interval="step"``): it acts at
#: every step of its epochs, where a per-epoch scheduler acts at their ends.
EPOCH_STEPS = "epoch of steps"


def in_steps(s: Span | None, epoch_start: Callable[[int], float]) -> Span | None:
    """``s`` as the instants its updates happen at, in optimizer steps (``epoch_start(k)``: the step epoch ``k``
    starts at), closed at its last update (``end - 0.5`` for a span of whole steps): a per-step update ``k``
    happens at step ``k``; a per-epoch update ``k`` at the end of epoch ``k - 1``, after that step's per-step
    update (Lightning steps per-step schedulers first), so at ``epoch_start(k) + 0.5``. Spans that share no
    instant share no update, whatever the order in which Lightning takes updates of one instant.

    Example:
        >>> four = lambda k: 4 * k
        >>> in_steps(("step", 0, 5), four), in_steps(("epoch", 1, math.inf), four)  # a warmup, then epochs
        (('step', 0, 4.5), ('step', 4.5, inf))
        >>> in_steps(("epoch", 0, 2), four), in_steps((EPOCH_STEPS, 1, 2), four), in_steps(None, four) is None
        (('step', 0, 5), ('step', 4, 7.5), True)
        >>> in_steps(("epoch", 0, 0), four)  # a window of no update, left idle in a smoke run: none
        ('epoch', 0, 0)
    """
    if s is None or s[1] >= s[2]:
        return s
    unit, begin, end = s
    if unit == "step":
        return ("step", begin, end - 0.5)
    if unit == EPOCH_STEPS:
        return ("step", epoch_start(int(begin)), end if end == math.inf else epoch_start(int(end)) - 0.5)
    first = 0 if begin == 0 else epoch_start(int(begin)) + 0.5
    return ("step", first, end if end == math.inf else epoch_start(int(end) - 1) + 1)


def check_in_run(
    where: str,
    schedulers: Sequence[ResolvedScheduler],
    optimizer: Any,
    shapes: Sequence[Shape | None],
    epoch_start: Callable[[int], float] | None,
) -> None:
    """``check_cycled_momentum`` and ``check_chained`` on ``where``'s list, in the order of the class-definition
    check, each scheduler placed in a run: by its ``shapes``, its epochs starting at the steps ``epoch_start`` gives
    (``None``: epochs beside steps left as declared). ``optimizer``: a trial optimizer of the list's, as at class
    definition."""
    shaped = {id(scheduler): shape for scheduler, shape in zip(schedulers, shapes)}

    def placed(scheduler: ResolvedScheduler) -> Span | None:
        s = run_span(scheduler, shaped.get(id(scheduler)))
        if s is not None and s[0] == "epoch" and scheduler.converts_epochs and epoch_start is not None:
            return (EPOCH_STEPS, s[1], s[2])
        return s

    def counted(s: Span | None) -> Span | None:
        return s if epoch_start is None else in_steps(s, epoch_start)

    check_cycled_momentum(where, schedulers, placed=placed, counted=counted)
    check_chained(where, schedulers, optimizer, placed=placed, counted=counted)


def check_placed(trainer: Any, built: Built) -> None:
    """Refuse, as ``check_chained`` and ``check_cycled_momentum`` do when the class is defined, a scheduler of
    ``built``'s list that sets an option it drives (or the momentum it cycles) outright where another drives it,
    their spans placed in ``trainer``'s run (every schedule shaped). Data of unknown length leaves epochs beside
    steps as declared: no step starts epoch 1."""
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
