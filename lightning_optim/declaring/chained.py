"""Several schedulers on one option: each must scale the value the others left, or act where they do not.

Lightning steps the schedulers a ``configure_optimizers`` returns for one optimizer one after the other on its
param groups, and a torch scheduler either scales the value it finds (``LinearLR``, ``StepLR``, the recursive
``CosineAnnealingLR``: the factors multiply) or sets it outright from its own starting values at every update
(``LambdaLR``, ``OneCycleLR``, ``CyclicLR``, ``CosineAnnealingWarmRestarts``, transformers' and timm's
schedules), which discards the factor another one left: a per-step ``LinearLR`` warmup beside a ``LambdaLR``
trains without its warmup. A list declares a product (API.md: each update applies to the lr the others left),
so a scheduler that sets the option outright beside another one on the same option, over the whole run or in
windows that overlap, is refused when the class is defined. Windows whose overlap depends on the run (float
bounds, windows counted in steps beside windows counted in epochs) are left as declared.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

from lightning_optim.declaring.arguments import is_int
from lightning_optim.declaring.scheduler import ResolvedScheduler
from lightning_optim.declaring.trial import sets_outright

#: A scheduler's window as far as the declaration tells: ``(unit, begin, end)`` in optimizer steps or epochs.
Span = tuple[str, float, float]


def span(scheduler: ResolvedScheduler) -> Span | None:
    """Where ``scheduler`` acts in the run, in optimizer steps or epochs (``end`` ``inf``: to the run's end);
    ``None`` where the run decides it (a fraction of the run, a ``frequency`` given as an ``HParam``).

    A window counts the scheduler's updates, one every ``frequency`` steps or epochs; with ``unit="epoch"`` and
    ``interval="step"`` it counts epochs.

    Example:
        >>> from lightning_optim.declaring.scheduler import resolve_scheduler
        >>> from lightning_optim.declaring.specs import SchedulerSpec
        >>> def spanned(**options):
        ...     return span(resolve_scheduler("M.opt.scheduler", SchedulerSpec("cosine", T_max=9, **options)))
        >>> spanned(), spanned(end=4, interval="step", frequency=2), spanned(begin=3, interval="step", unit="epoch")
        (('epoch', 0, inf), ('step', 0, 8), ('epoch', 3, inf))
        >>> spanned(begin=0.5) is None
        True
    """
    spec = scheduler.spec
    if not scheduler.windowed:
        return (scheduler.interval, 0, math.inf)
    every = 1 if scheduler.converts_epochs else spec.frequency
    bounds = (spec.begin or 0, math.inf if spec.end is None else spec.end)
    if not is_int(every) or not all(is_int(b) or b == math.inf for b in bounds):
        return None
    unit = "epoch" if scheduler.converts_epochs else scheduler.interval
    return (unit, bounds[0] * every, bounds[1] * every)


def _whole(s: Span | None) -> bool:
    return s is not None and s[1:] == (0, math.inf)


def overlap(a: Span | None, b: Span | None) -> bool:
    """Whether two spans share a step or an epoch, as far as the declaration tells: the whole run shares one with
    any window; windows counted alike, when they intersect; the rest is the run's to decide (``False``).

    Example:
        >>> overlap(("step", 0, math.inf), None), overlap(("step", 0, 6), ("step", 6, math.inf))
        (True, False)
        >>> overlap(("step", 0, 6), ("step", 3, 9)), overlap(("step", 0, 6), ("epoch", 3, 9))
        (True, False)
    """
    if _whole(a) or _whole(b):
        return True
    if a is None or b is None or a[0] != b[0]:
        return False
    return max(a[1], b[1]) < min(a[2], b[2])


def together(a: Span | None, b: Span | None) -> str:
    """Where two overlapping spans act together, in words.

    Example:
        >>> together(("step", 0, math.inf), ("epoch", 0, math.inf))
        'over the whole run'
        >>> together(("step", 0, math.inf), ("epoch", 2, math.inf)), together(("step", 0, 6), ("step", 3, 9))
        ('in windows that overlap (the whole run and epochs [2, end))', 'in windows that overlap (steps [0, 6) and steps [3, 9))')
    """
    if _whole(a) and _whole(b):
        return "over the whole run"
    return f"in windows that overlap ({_window(a)} and {_window(b)})"


def _window(s: Span | None) -> str:
    if s is None:
        return "a window the run places"
    if _whole(s):
        return "the whole run"
    unit, begin, end = s
    return f"{unit}s [{int(begin)}, {'end' if end == math.inf else int(end)})"


def check_chained(where: str, schedulers: Sequence[ResolvedScheduler], optimizer: Any) -> None:
    """Refuse a scheduler of ``where``'s list that sets the option it drives outright where another scheduler
    drives the same option (``optimizer``: the trial optimizer the list was built on)."""
    outright: dict[int, bool | None] = {}
    for (i, first), (j, second) in combinations(enumerate(schedulers), 2):
        param = first.spec.param
        if param != second.spec.param or not overlap(span(first), span(second)):
            continue
        for index, scheduler in ((i, first), (j, second)):
            if index not in outright:
                outright[index] = sets_outright(scheduler, optimizer)
        if not (outright[i] or outright[j]):
            continue
        k, other = (j, i) if outright[j] else (i, j)
        setter, kept = schedulers[k], schedulers[other]
        raise ValueError(
            f"{where}: Expected the schedulers of `{param}` in the list to scale the value they find where they act "
            f"together but got `scheduler[{k}]` (`{setter.cls.__name__}`), which sets `{param}` outright from its own "
            f"starting value at every update, beside `scheduler[{other}]` (`{kept.cls.__name__}`) "
            f"{together(span(first), span(second))}: it discards the factor `scheduler[{other}]` leaves at every "
            f"update (as torch and Lightning do with a hand-written list), so `{param}` would not follow the "
            f"product the list declares. Give `scheduler[{k}]` a `warmup=` in place of a warmup scheduler beside it, "
            f"or give the two disjoint windows (`end=` on the earlier, `begin=` at that update on the later)."
        )
