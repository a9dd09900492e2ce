"""Several schedulers on one option: each must scale the value the others left, or act where they do not.

Lightning steps the schedulers a ``configure_optimizers`` returns for one optimizer one after the other on its
param groups, and a torch scheduler either scales the value it finds (``LinearLR``, ``StepLR``, the recursive
``CosineAnnealingLR``: the factors multiply) or sets it outright from its own starting values at every update
(``LambdaLR``, ``OneCycleLR``, ``CyclicLR``, ``CosineAnnealingWarmRestarts``, transformers' and timm's
schedules), which discards the factor another one left: a per-step ``LinearLR`` warmup beside a ``LambdaLR``
trains without its warmup. A list declares a product (API.md: each update applies to the lr the others left),
so a scheduler that sets the option outright beside another one on the same option, over the whole run or in
windows that overlap, is refused when the class is defined. Windows whose overlap depends on the run (float
bounds, a ``frequency`` given as an ``HParam``, windows counted in steps beside windows counted in epochs) are
checked by the same rule when ``fit`` starts, and by ``preview_schedule``, placed in the run's optimizer steps
(``building/placed.py``), each update at its instant: a per-epoch ``LinearLR`` warmup's last update, at an
epoch's end, would multiply the value of a per-step ``LambdaLR`` that began in that epoch. Windows counted alike get the verdict they got
when the class was defined: the steps keep their order.

Composites too: torch's ``ChainedScheduler`` steps its schedulers together at every update (a list of its own,
over the whole run), and ``SequentialLR``, whose schedulers run in disjoint phases, starts the next one from its
own start at each milestone (``step(0)``), which discards another scheduler's factor as a ``LambdaLR`` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import combinations
from typing import Any

from torch.optim.lr_scheduler import ConstantLR, LinearLR, PolynomialLR, SequentialLR

from lightning_optim.declaring.hparam import contains_hparam
from lightning_optim.declaring.scheduler import ResolvedScheduler, adds_warmup, cycles_momentum
from lightning_optim.declaring.trial import sets_outright
from lightning_optim.utilities.numeric import is_int, is_real

#: A scheduler's window as far as the declaration tells: ``(unit, begin, end)`` in optimizer steps or epochs.
Span = tuple[str, float, float]

#: Where a scheduler acts (``span``: as the declaration tells), and how spans are put in one unit to compare them
Placed = Callable[[ResolvedScheduler], "Span | None"]
Counted = Callable[["Span | None"], "Span | None"]


def as_declared(s: Span | None) -> Span | None:
    """A span in the unit it was declared in: how the class-definition check compares them."""
    return s


def updates_every(scheduler: ResolvedScheduler) -> Any:
    """How many steps or epochs one update of ``scheduler`` counts (epochs with ``unit="epoch"``)."""
    return 1 if scheduler.converts_epochs else scheduler.spec.frequency


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
        >>> span(resolve_scheduler("M.opt.scheduler", SchedulerSpec("linear", total_iters=5, interval="step")))
        ('step', 0, 6)
    """
    spec = scheduler.spec
    if not scheduler.windowed:
        return (scheduler.interval, 0, _last_update(scheduler))
    every = updates_every(scheduler)
    bounds = (spec.begin or 0, math.inf if spec.end is None else spec.end)
    if not is_int(every) or not all(is_int(b) or b == math.inf for b in bounds):
        return None
    unit = "epoch" if scheduler.converts_epochs else scheduler.interval
    return (unit, bounds[0] * every, bounds[1] * every)


#: Schedulers that change nothing after their update ``total_iters`` (a warmup's ``LinearLR``, ``ConstantLR``)
_STOP_AFTER_TOTAL_ITERS = (LinearLR, ConstantLR, PolynomialLR)


def _last_update(scheduler: ResolvedScheduler) -> float:
    """The end of the span of a scheduler without a window: after its update ``total_iters`` for one that changes
    nothing after it, given as an int, with no ``warmup`` before it; else the run's end."""
    total: Any = scheduler.kwargs.get("total_iters")
    if not issubclass(scheduler.cls, _STOP_AFTER_TOTAL_ITERS) or not is_int(total) or scheduler.spec.warmup:
        return math.inf
    every = updates_every(scheduler)
    return (total + 1) * every if is_int(every) else math.inf


def driven_option(param: str) -> str:
    """The option a ``SchedulerSpec(param=...)`` drives: ``"momentum"`` and ``"beta1"`` name one (``betas[0]``
    where the optimizer has no ``momentum``).

    Example:
        >>> driven_option("beta1"), driven_option("weight_decay")
        ('momentum', 'weight_decay')
    """
    return "momentum" if param in MOMENTUM_OPTIONS else param


def _whole(s: Span | None) -> bool:
    return s is not None and s[1:] == (0, math.inf)


def overlap(a: Span | None, b: Span | None) -> bool:
    """Whether two spans share a step or an epoch, as far as the declaration tells: the whole run shares one with
    any window; windows counted alike, when they intersect; the rest is the run's to decide (``False``). A window
    of no update (one that Lightning's ``fast_dev_run`` leaves idle, ``building/length.py``) shares none.

    Example:
        >>> overlap(("step", 0, math.inf), None), overlap(("step", 0, 6), ("step", 6, math.inf))
        (True, False)
        >>> overlap(("step", 0, 6), ("step", 3, 9)), overlap(("step", 0, 6), ("epoch", 3, 9))
        (True, False)
        >>> overlap(("step", 0, 0), ("step", 0, math.inf))
        False
    """
    if any(s is not None and s[1] >= s[2] for s in (a, b)):
        return False
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
    unit, begin, end = s  # a span placed in the run ends half a step after its last update (placed.in_steps)
    return f"{unit}s [{math.ceil(begin)}, {'end' if end == math.inf else math.ceil(end)})"


#: Where a scheduler sets the option outright: how, and the span in which it does.
Part = tuple[str, "Span | None"]

_EVERY_UPDATE = "from its own starting value at every update"


def outright_parts(scheduler: ResolvedScheduler, optimizer: Any, placed: Placed = span) -> list[Part]:
    """Where ``scheduler`` sets the option it drives outright, each with how: over its span, for one that does at
    every update (a ``ChainedScheduler`` holding one too); for a ``SequentialLR``, over the phase of each of its
    schedulers that does, and at each other milestone where the next one restarts from its own start (``step(0)``:
    torch's with a closed form). A milestone the run decides (an ``HParam``, a window the run places) is placed by the run;
    ``placed`` places ``scheduler``'s span."""
    whole = placed(scheduler)
    if not issubclass(scheduler.cls, SequentialLR):
        return [(_EVERY_UPDATE, whole)] if sets_outright(scheduler, optimizer) else []
    inner = scheduler.kwargs["schedulers"]
    milestones = scheduler.kwargs.get("milestones")
    if not isinstance(milestones, (list, tuple)):  # an HParam: the run places the phases
        milestones = [None] * (len(inner) - 1)
    bounds = [0, *milestones, math.inf]
    parts: list[Part] = []
    for k, phase in enumerate(inner):
        named = f"its `schedulers[{k}]` (`{phase.cls.__name__}`)"
        lo, hi = bounds[k], bounds[k + 1] if k + 1 < len(bounds) else math.inf
        if sets_outright(phase, optimizer):
            how, at = f"{_EVERY_UPDATE} of {named}", phase_span(whole, updates_every(scheduler), lo, hi)
        elif k > 0 and sets_outright(phase, optimizer, restarted=True):
            milestone = phase_span(whole, updates_every(scheduler), lo, None if lo is None else lo + 1)
            how, at = f"from the start of {named} at its milestone {lo}", milestone
        else:
            continue
        if at is None or at[1] < at[2]:  # not a phase its window ends before
            parts.append((how, at))
    return parts


def phase_span(whole: Span | None, every: Any, lo: Any, hi: Any) -> Span | None:
    """The span of a composite's updates ``[lo, hi)`` inside its span ``whole`` (one update every ``every``);
    empty (``start == end``) where the window ends before; ``None`` where the run places them.

    Example:
        >>> phase_span(("step", 2, math.inf), 1, 4, math.inf), phase_span(("epoch", 0, math.inf), 2, 3, 4)
        (('step', 6, inf), ('epoch', 6, 8))
        >>> phase_span(("step", 0, 5), 1, 6, 7), phase_span(None, 1, 0, 3) is None
        (('step', 5, 5), True)
    """
    if whole is None or not all(is_int(v) or v == math.inf for v in (every, lo, hi)):
        return None
    unit, begin, end = whole
    start, stop = begin + lo * every, min(end, begin + hi * every)
    return (unit, min(start, stop), stop)


def check_composites(schedulers: Sequence[ResolvedScheduler], optimizer: Any) -> None:
    """Refuse a ``ChainedScheduler`` (in ``schedulers`` or nested in a composite) one of whose schedulers sets
    the option outright beside another: it steps them all together at every update. A ``SequentialLR``'s act
    in disjoint phases."""
    for scheduler in schedulers:
        if not scheduler.info.composite:
            continue
        inner = scheduler.kwargs["schedulers"]
        check_composites(inner, optimizer)
        if not issubclass(scheduler.cls, SequentialLR):
            check_chained(
                scheduler.where, inner, optimizer, param=scheduler.spec.param, holder=scheduler.cls.__name__
            )


def check_chained(
    where: str,
    schedulers: Sequence[ResolvedScheduler],
    optimizer: Any,
    *,
    param: str | None = None,
    holder: str | None = None,
    placed: Placed = span,
    counted: Counted = as_declared,
) -> None:
    """Refuse a scheduler of ``where``'s list that sets the option it drives outright where another scheduler
    drives the same option (``optimizer``: the trial optimizer the list was built on); ``holder``: the composite
    whose ``schedulers`` they are (all driving its ``param``), which steps them together. ``placed`` and
    ``counted``: where each scheduler acts and in which unit spans are compared, as declared when the class is
    defined, in the run's optimizer steps when ``fit`` starts (``building/placed.py``)."""
    parts: dict[int, list[Part]] = {}
    label = "scheduler" if holder is None else "schedulers"

    def spanned(scheduler: ResolvedScheduler) -> Span | None:
        # a composite starts all its schedulers at its first update: each acts beside every other one there
        return counted(placed(scheduler)) if holder is None else (scheduler.interval, 0, math.inf)

    for (i, first), (j, second) in combinations(enumerate(schedulers), 2):
        driven = param or first.spec.param
        same = driven_option(first.spec.param) == driven_option(second.spec.param)
        if not same or not overlap(spanned(first), spanned(second)):
            continue
        for index, scheduler in ((i, first), (j, second)):
            if index not in parts:
                parts[index] = [(how, counted(p)) for how, p in outright_parts(scheduler, optimizer, placed)]
        for k, other in ((j, i), (i, j)):
            kept = spanned(schedulers[other])
            how, part = next(((h, p) for h, p in parts[k] if overlap(p, kept)), ("", None))
            if how:
                break
        else:
            continue
        setter, left = schedulers[k], schedulers[other]
        where_together = together(part, kept) if k < other else together(kept, part)
        if holder is None:
            among, acting, declares = (
                "in the list",
                "as torch and Lightning do with a hand-written list",
                "the list",
            )
        else:
            among, acting, declares = f"in `{holder}`", f"as torch's `{holder}` does", f"the `{holder}`"
        own = warmup_argument(setter)
        if holder is not None:
            ways = (
                "Declare them as a list, `scheduler=[SchedulerSpec(...), ...]`, with "
                f"`{label}[{k}]`'s {'' if own == 'warmup' else 'own '}`{own}=` in place of a warmup scheduler "
                "beside it, or the two in disjoint windows"
            )
        elif issubclass(setter.cls, SequentialLR):
            ways = (
                f"Declare the phases of `{label}[{k}]` as schedulers of the list, each in its window (`begin=` at "
                "the milestone before, `end=` at the one after), or give the two disjoint windows"
            )
        else:
            ways = (
                f"Give `{label}[{k}]` {'a' if own == 'warmup' else 'its own'} `{own}=` in place of a warmup "
                "scheduler beside it, or give the two disjoint windows"
            )
        raise ValueError(
            f"{where}: Expected the schedulers of `{driven}` {among} to scale the value they find where they act "
            f"together but got `{label}[{k}]` (`{setter.cls.__name__}`), which sets `{driven}` outright {how}, "
            f"beside `{label}[{other}]` (`{left.cls.__name__}`) {where_together}: it discards the factor "
            f"`{label}[{other}]` leaves at every update ({acting}), so `{driven}` would not follow the product "
            f"{declares} declares. {ways} (`end=` on the earlier, `begin=` at that update on the later)."
        )


def check_one_warmup_from_zero(where: str, schedulers: Sequence[ResolvedScheduler]) -> None:
    """Refuse two warmups from ``warmup_start_factor=0`` on one option in ``where``'s list: each multiplies the 0
    the other holds the value at, so it would stay 0 for the whole run (one is tracked: ``Schedule._on_unwarmed``).

    Example:
        >>> from lightning_optim.declaring.scheduler import resolve_scheduler
        >>> from lightning_optim.declaring.specs import SchedulerSpec
        >>> zero = resolve_scheduler("M.opt.scheduler[0]", SchedulerSpec("step", step_size=9, warmup=2, warmup_start_factor=0.0))
        >>> check_one_warmup_from_zero("M.opt.scheduler", [zero, zero])
        Traceback (most recent call last):
        ...
        ValueError: M.opt.scheduler: Expected at most one warmup from `warmup_start_factor=0.0` among the schedulers of `lr` in the list but got `scheduler[0]` and `scheduler[1]`: each would multiply the 0 the other holds `lr` at, which would stay 0 for the whole run. Give one a `warmup_start_factor` above 0 (`1e-12` starts as near 0), leave it out (its warmup then starts at 1 / (warmup + 1)), or keep one warmup.
    """
    for (i, first), (j, second) in combinations(enumerate(schedulers), 2):
        if driven_option(first.spec.param) != driven_option(second.spec.param):
            continue
        if all(
            adds_warmup(s.spec) and is_real(s.spec.warmup_start_factor) and s.spec.warmup_start_factor == 0
            for s in (first, second)
        ):
            param = first.spec.param
            raise ValueError(
                f"{where}: Expected at most one warmup from `warmup_start_factor=0.0` among the schedulers of "
                f"`{param}` in the list but got `scheduler[{i}]` and `scheduler[{j}]`: each would multiply the 0 "
                f"the other holds `{param}` at, which would stay 0 for the whole run. Give one a "
                "`warmup_start_factor` above 0 (`1e-12` starts as near 0), leave it out (its warmup then starts "
                "at 1 / (warmup + 1)), or keep one warmup."
            )


def warmup_argument(scheduler: ResolvedScheduler) -> str:
    """The argument that gives ``scheduler`` a warmup in place of a warmup scheduler beside it: its own
    (``SchedulerInfo.own_warmup``: transformers' ``num_warmup_steps``, timm's ``warmup_t``), beside a positive one
    of which a ``warmup=`` is refused (it would warm up twice), else the package's ``warmup``.

    Example:
        >>> from lightning_optim.declaring.scheduler import resolve_scheduler
        >>> from lightning_optim.declaring.specs import SchedulerSpec
        >>> def argument(name, **options):
        ...     return warmup_argument(resolve_scheduler("M.opt.scheduler", SchedulerSpec(name, **options)))
        >>> argument("lambda", lr_lambda=abs), argument("transformers/linear", num_warmup_steps=2)
        ('warmup', 'num_warmup_steps')
    """
    return scheduler.info.own_warmup or "warmup"


#: The options a ``SchedulerSpec(param=...)`` names for what torch's cycles write as the momentum (``betas[0]``)
MOMENTUM_OPTIONS = ("momentum", "beta1")


def cycled_momentum(scheduler: ResolvedScheduler) -> str | None:
    """How ``scheduler`` cycles the momentum beside the lr (``OneCycleLR``, ``CyclicLR`` with
    ``cycle_momentum=True``, their default; a composite holding one), in words, or ``None`` (an ``HParam`` waits
    for its value).

    Example:
        >>> from lightning_optim.declaring.scheduler import resolve_scheduler
        >>> from lightning_optim.declaring.specs import SchedulerSpec
        >>> def cycled(spec):
        ...     return cycled_momentum(resolve_scheduler("M.opt.scheduler", spec))
        >>> cycled(SchedulerSpec("onecycle", max_lr=1.0)), cycled(SchedulerSpec("cyclic", base_lr=0.1, max_lr=1.0))
        ('`cycle_momentum=True`, its default', '`cycle_momentum=True`, its default')
        >>> cycled(SchedulerSpec("onecycle", max_lr=1.0, cycle_momentum=False)) is None
        True
    """
    if scheduler.info.composite:
        return next(filter(None, map(cycled_momentum, scheduler.kwargs["schedulers"])), None)
    declared = scheduler.spec.kwargs.get("cycle_momentum")
    if contains_hparam(declared) or not cycles_momentum(scheduler.cls, scheduler.spec.kwargs):
        return None
    return (
        "`cycle_momentum=True`"
        if "cycle_momentum" in scheduler.spec.kwargs
        else "`cycle_momentum=True`, its default"
    )


def check_cycled_momentum(
    where: str,
    schedulers: Sequence[ResolvedScheduler],
    *,
    placed: Placed = span,
    counted: Counted = as_declared,
) -> None:
    """Refuse a scheduler of ``where``'s list that cycles the momentum beside the lr where another scheduler of the
    list drives the momentum: the cycle sets it outright at every update, as a ``LambdaLR`` the lr. ``placed`` and
    ``counted`` as for ``check_chained``: as declared when the class is defined, in the run's steps at ``fit``."""
    for (i, first), (j, second) in combinations(enumerate(schedulers), 2):
        spans = counted(placed(first)), counted(placed(second))
        for k, other in ((i, j), (j, i)):
            cycler, driver = schedulers[k], schedulers[other]
            how = cycled_momentum(cycler) if cycler.spec.param == "lr" else None
            param = driver.spec.param
            if how is None or param not in MOMENTUM_OPTIONS or not overlap(*spans):
                continue
            raise ValueError(
                f"{where}: Expected the schedulers of `{param}` in the list to scale the value they find where they "
                f"act together but got `scheduler[{k}]` (`{cycler.cls.__name__}`), which also cycles `{param}` "
                f"({how}), setting it outright from its own `base_momentum` and `max_momentum` at every update, "
                f"beside `scheduler[{other}]` (`{driver.cls.__name__}`) {together(*spans)}: it "
                f"discards the factor `scheduler[{other}]` leaves at every update (as torch and Lightning do with a "
                f"hand-written list), so `{param}` would not follow the product the list declares. Pass "
                f"`cycle_momentum=False` to `scheduler[{k}]` (its lr keeps its cycle), or give the two disjoint "
                "windows (`end=` on the earlier, `begin=` at that update on the later)."
            )
