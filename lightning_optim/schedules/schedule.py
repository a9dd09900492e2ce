"""``Schedule``: one declared schedule on a live optimizer, built once, when the run it covers is known.

A declaration's lengths may come from the run (an omitted ``T_max``, a fractional warmup, ``unit="epoch"``
with ``interval="step"``, a window in fractions of the run), and under Lightning the run is known for sure
only when training starts: after ``BatchSizeFinder`` and ``LearningRateFinder`` ran, after a checkpoint was
restored. So the object Lightning receives from ``configure_optimizers`` holds a recipe (``make``) and builds
the torch scheduler once, when its ``Shape`` is fixed: from its own ``state_dict`` when a checkpoint is
restored, by the mixin when training starts, or at its first step (``derive``). Nothing rebuilds it.

Around the torch scheduler it owns what timm's and mmengine's schedulers own:

* a linear **warmup** to the scheduler's starting lr, during which the scheduler is not stepped at all, so
  afterwards it continues exactly as from its own start (a ``ReduceLROnPlateau`` too; its metrics are
  ignored during the warmup);
* a **window** ``[begin, end)`` of its updates (mmengine's ``begin``/``end``): construction counts as update
  0, the scheduler is built at ``begin`` (its construction is its first update, applied to the lr the other
  schedules left by one that scales the lr it finds; one that sets it outright, such as ``LambdaLR``, starts
  from its own starting lr, ``declaring/chained.py``) and acts only inside the window;
* the **option it drives**: the lr, or another numeric option through a view of the param groups where that
  option is the lr (``param_view.py``).

A group added to the optimizer after the schedule was made (``BaseFinetuning.unfreeze_and_add_param_group``,
which the unfrozen-parameter error recommends) is scheduled as torch's scheduler takes it: one that scales the
lr each group has (``StepLR``, ``ExponentialLR``, ``CosineAnnealingLR``) goes on with it, as a hand-written
module's does; one that holds a value per group it was built on (``OneCycleLR``'s ``max_lr``, ``LambdaLR``'s
``lr_lambda``s, ``CosineAnnealingWarmRestarts``'s ``base_lrs``) fails inside torch at its next step, and that
failure becomes this package's error naming the declaration, the scheduler and the added groups
(``added_groups_refusal``); torch 2.4's ``LambdaLR`` and ``CosineAnnealingWarmRestarts`` do not fail (they zip
the groups with their values loosely) and leave the added group at its lr, as a hand-written module's.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import operator
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from lightning_optim.schedules.param_view import ProxyOptimizer, set_value, target_of
from lightning_optim.schedules.shape import Shape
from lightning_optim.utilities import compat

#: Builds the torch scheduler on an optimizer (the real one, or a view driving another option) for a shape.
Make = Callable[[torch.optim.Optimizer, Shape], Any]


def default_start_factor(steps: int) -> float:
    """The default first factor of a warmup of ``steps`` steps: ``1 / (steps + 1)``.

    The factors are then ``1/(n+1), 2/(n+1), ..., n/(n+1)``, and the schedule proper starts at ``1``: equal
    increments, and no step is wasted at lr 0.

    Example:
        >>> default_start_factor(3)
        0.25
    """
    return 1.0 / (steps + 1)


def warmup_factor(step: int, steps: int, start_factor: float) -> float:
    """The warmup's factor ``step`` updates in: linear from ``start_factor`` to ``1`` (reached at ``steps``).

    Example:
        >>> [warmup_factor(s, 4, 0.2) for s in range(6)]
        [0.2, 0.4, 0.6000000000000001, 0.8, 1.0, 1.0]
    """
    if step >= steps:
        return 1.0
    return start_factor + (1.0 - start_factor) * step / steps


def in_window(count: int, begin: int, end: int | None) -> bool:
    """Whether update number ``count`` (construction is 0) falls in ``[begin, end)``; ``end=None``: no end.

    Example:
        >>> [in_window(i, 2, 4) for i in range(5)]
        [False, False, True, True, False]
    """
    return begin <= count and (end is None or count < end)


def numbers_in(value: Any) -> Any:
    """``value`` with every 0-dim floating-point tensor in it (through dicts, lists and tuples) as a Python number.

    A compiled step holds the lr as such a tensor, and torch's schedulers copy it into their state (``base_lrs``,
    ``_last_lr``); a state of numbers resumes under any implementation (an eager run given tensors there gets
    a tensor lr, written in place, which records that keep the object show at its last value).

    Example:
        >>> numbers_in({"base_lrs": [torch.tensor(0.5)], "betas": (torch.tensor(0.5), 0.9), "v": torch.ones(2)})
        {'base_lrs': [0.5], 'betas': (0.5, 0.9), 'v': tensor([1., 1.])}
    """
    if isinstance(value, torch.Tensor):
        return value.item() if value.ndim == 0 and value.is_floating_point() else value
    if type(value) in (list, tuple):
        return type(value)(numbers_in(v) for v in value)
    if type(value) is dict:
        return {key: numbers_in(v) for key, v in value.items()}
    return value


def _copy_option(value: Any) -> Any:
    """A copy of a tensor option (a 0-dim ``lr``, a tuple of ``betas``) that in-place writes do not reach."""
    if isinstance(value, torch.Tensor) and value.ndim == 0:
        return value.clone()
    if isinstance(value, tuple):
        return tuple(_copy_option(v) for v in value)
    return value


def _written_back(current: Any, saved: Any) -> Any:
    """``saved``, written into ``current``'s tensors where both are tensors: a tensor option keeps its identity."""
    if isinstance(current, torch.Tensor) and isinstance(saved, torch.Tensor) and current.ndim == 0:
        current.copy_(saved)
        return current
    if isinstance(current, tuple) and isinstance(saved, tuple) and len(current) == len(saved):
        return tuple(_written_back(c, v) for c, v in zip(current, saved))
    return saved


def snapshot_groups(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The param groups' settings, to put back with ``restore_groups``.

    Example:
        >>> groups = [{"lr": torch.tensor(0.1), "momentum": 0.9}]
        >>> saved = snapshot_groups(groups)
        >>> lr = groups[0]["lr"]; lr.fill_(0.5); groups[0]["initial_lr"] = 0.5
        tensor(0.5000)
        >>> restore_groups(groups, saved); groups[0]["lr"] is lr, groups[0]
        (True, {'lr': tensor(0.1000), 'momentum': 0.9})
    """
    return [{key: _copy_option(value) for key, value in group.items()} for group in groups]


def restore_groups(groups: list[dict[str, Any]], saved: list[dict[str, Any]]) -> None:
    """Give ``groups`` the settings ``snapshot_groups`` saved, tensor options written back in place."""
    for group, settings in zip(groups, saved):
        current = dict(group)
        group.clear()
        group.update({key: _written_back(current.get(key), value) for key, value in settings.items()})


#: Attributes that are the schedule's wiring or declaration, not its progress, and the run's bookkeeping of it
#: (left out of ``state_dict``).
_NOT_STATE = frozenset(
    {
        "moved_by_writes",
        "optimizer",
        "make",
        "derive",
        "target",
        "inner",
        "shape",
        "param",
        "warmup_start_factor",
        "where",
        "made_for",
        "beside_zero_warmups",
        "before_step",
    }
)


#: The attributes ``Schedule.__init__`` sets: its own, never written through to the torch scheduler.
_OWN = _NOT_STATE | {"last_epoch", "warmup_targets", "warmup_written", "start_values"}


def added_groups(groups: list[dict[str, Any]], made_for: int) -> str:
    """The groups after the first ``made_for``, in words.

    Example:
        >>> groups = [{"params": [1, 2], "lr": 0.1}, {"params": [3], "lr": 0.01}]
        >>> added_groups(groups, 1)
        'group 1 (1 parameters, lr=0.01) was'
    """
    added = [
        f"group {i} ({len(g['params'])} parameters, lr={g['lr']!r})"
        for i, g in enumerate(groups[made_for:], start=made_for)
    ]
    return " and ".join(added) + (" were" if len(added) > 1 else " was")


def added_groups_refusal(
    where: str, scheduler: Any, groups: list[dict[str, Any]], made_for: int
) -> ValueError:
    """The error for a torch ``scheduler`` made for ``made_for`` param groups that failed on ``groups`` (more)."""
    name = type(scheduler).__name__
    return ValueError(
        f"{where}: Expected the {made_for} param group{'s' if made_for > 1 else ''} `{name}` was built with but "
        f"got {len(groups)}: {added_groups(groups, made_for)} added since (`BaseFinetuning."
        f"unfreeze_and_add_param_group` adds one). `{name}` holds a value per group it was built with and cannot "
        "schedule a group added later. Declare a schedule that scales the lr each group has (`StepLR`, "
        "`MultiStepLR`, `ExponentialLR`, `CosineAnnealingLR`, `LinearLR`), which takes the "
        "added group as a hand-written module's does, or train those parameters from the start in a declared "
        "group (`ParamGroup('backbone', lr_mult=0.1)`) instead of unfreezing them later."
    )


def _epoch_refused(epoch: Any) -> TypeError:
    return TypeError(
        f"Schedule.step: Expected `step()` without an epoch but got `epoch={epoch!r}` (a module's "
        "`lr_scheduler_step` override calling `scheduler.step(epoch=...)`, as torch's deprecated form does?): a "
        "declared schedule counts its own updates, and the package steps it at the declared interval and "
        "frequency. Call `scheduler.step()` (with the metric for a plateau: `scheduler.step(metric)`), or remove "
        "the override."
    )


def _metric_missing(where: str, plateau: Any) -> TypeError:
    name = type(plateau).__name__
    return TypeError(
        f"{where}: Expected the metric with each update of the declared `{name}` but got `scheduler.step()` "
        "without one (a module's `lr_scheduler_step` override stepping every scheduler alike?): a plateau reduces "
        "the lr on its `monitor` metric. Call `scheduler.step(metric)` for it, or let the mixin step it: remove the "
        "override, or call `super().lr_scheduler_step(scheduler, metric)` in it."
    )


def _count_of(value: Any) -> int | None:
    """``value`` as a count of updates: an int (a NumPy int too), or a float with an integral value, which torch's
    schedulers count with as with the int; ``None`` for anything else.

    Example:
        >>> _count_of(2), _count_of(2.0), _count_of(2.5), _count_of("2"), _count_of(torch.tensor(2.0))
        (2, 2, None, None, 2)
    """
    if isinstance(value, torch.Tensor):  # every tensor has `__index__`, which a float one refuses
        value = value.item() if value.numel() == 1 else None
    if hasattr(type(value), "__index__"):
        return operator.index(value)
    if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        return int(float(value))  # a NumPy float too
    return None


def _not_a_count(where: str, updates: Any) -> ValueError | TypeError:
    """The error for a write of ``last_epoch = updates`` that is no count of updates, or one below 0."""
    if _count_of(updates) is None:
        return TypeError(
            f"{where}: Expected `last_epoch` written through the schedule to be an int (the updates it took) but "
            f"got {updates!r}."
        )
    return ValueError(
        f"{where}: Expected `last_epoch` written through the schedule to be 0 or more (the updates it took, 0 at "
        f"its start) but got {updates!r}: torch's `-1` marks a scheduler not constructed yet, which the declared "
        "one never is. Write 0 to count from its start."
    )


def _not_movable(where: str, scheduler: Any, shape: Shape, now: int, updates: int) -> ValueError:
    """The error for a write of ``last_epoch = updates`` (the schedule at update ``now``) that the torch
    ``scheduler`` (``None``: not built yet, before its window) cannot follow: in the warmup or outside the window,
    where it is not stepped."""
    declared = "the declared scheduler" if scheduler is None else f"the declared `{type(scheduler).__name__}`"
    if shape.window is None:
        span, apart, way = f"{shape.warmup} or later", "in its warmup", "without a warmup"
    else:
        begin, end = shape.window
        span = f"{begin} or later" if end is None else f"from {begin} to {end - 1}"
        built = "; before `begin` it is not built yet" if scheduler is None else ""
        apart, way = f"outside its window (`begin={begin}`, `end={end}`{built})", "without a window"
    return ValueError(
        f"{where}: Expected `last_epoch` written through the schedule to move it between updates at which "
        f"{declared} counts along (updates {span}) but got {updates!r} at update {now}: {apart} it is not stepped, "
        "so there it cannot follow the write as a hand-written scheduler does. Write it within updates "
        f"{span}, or declare it {way}."
    )


def _not_built(where: str, access: str, name: str) -> AttributeError:
    """The error for an ``access`` (``"read"``, ``"set"``) of the declared scheduler's ``name`` before it is built."""
    through = "read" if access == "read" else "written"
    return AttributeError(
        f"{where}: Expected the declared scheduler to be built to {access} its `{name}` but it is not yet: the "
        "schedule builds it when training starts (a window's scheduler at its `begin`), and its attributes are "
        f"{through} through the schedule from then on."
    )


class Schedule(LRScheduler):
    """A torch scheduler built once from ``make`` when its ``Shape`` is fixed, with warmup, window and driven option.

    Args:
        optimizer: the optimizer it schedules (Lightning checks it is one of the module's).
        make: builds the torch scheduler on the optimizer it is given (the real one, or a view where
            ``param`` is the lr) for a shape.
        param: the param-group option it drives: ``"lr"``, any numeric option (``"weight_decay"``), or
            ``"beta1"``/``"beta2"`` (``"momentum"`` is ``betas[0]`` on an optimizer with ``betas``).
        warmup_start_factor: the warmup's first factor (default ``1 / (warmup + 1)``).
        shape: fix the shape now.
        derive: the shape to fix at the first step if none is fixed by then; ``None`` from it means the run is
            not known yet (a tuner's trial run, whose state is restored afterwards): the step is only counted.
        where: the declaration it comes from, which its errors name.

    Example:
        >>> from torch.optim.lr_scheduler import ExponentialLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> warm = Schedule(opt, lambda o, shape: ExponentialLR(o, gamma=0.5), shape=Shape(warmup=3))
        >>> lrs = []
        >>> for _ in range(6):
        ...     lrs.append(opt.param_groups[0]["lr"])
        ...     opt.step()
        ...     warm.step()
        >>> lrs
        [0.25, 0.5, 0.75, 1.0, 0.5, 0.25]
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        make: Make,
        *,
        param: str = "lr",
        warmup_start_factor: float | None = None,
        shape: Shape | None = None,
        derive: Callable[[], Shape | None] | None = None,
        where: str = "Schedule",
    ) -> None:
        # LRScheduler.__init__ is not called: it would take a step of its own; the torch scheduler takes it
        self.optimizer = optimizer
        self.where = where
        #: the number of param groups it was made for; a group added later may be one torch cannot schedule
        self.made_for: int = len(optimizer.param_groups)
        self.make = make
        self.param = param
        self.warmup_start_factor = warmup_start_factor
        self.derive = derive
        #: called with the updates taken (``last_epoch``) before each step of the torch scheduler: where the run's
        #: length was not known in advance, the mixin's check of a length torch refuses to step past
        self.before_step: Callable[[int], None] | None = None
        self.target: Any = optimizer if param == "lr" else ProxyOptimizer(optimizer, param)
        self.shape: Shape | None = None
        self.inner: Any = None
        #: updates taken (construction is 0)
        self.last_epoch: int = 0
        #: how far writes of ``last_epoch`` moved it in this run: not updates taken (``training/stepping.py``)
        self.moved_by_writes: int = 0
        #: the values the warmup climbs to: the scheduler's starting values, moved by the other schedules of a list
        self.warmup_targets: list[Any] = []
        #: the values the warmup's last update left (empty before its first)
        self.warmup_written: list[Any] = []
        #: the driven values when the shape was fixed (what a plateau's reductions are measured from)
        self.start_values: list[Any] = []
        #: the other schedules of its list on the optimizer that warm up from ``warmup_start_factor=0`` (set by
        #: ``building/build.py:schedules_of``), the only warmups that hold a value at 0 (``_on_unwarmed``)
        self.beside_zero_warmups: tuple[Schedule, ...] = ()
        if shape is not None:
            self.fix(shape)

    if not TYPE_CHECKING:  # mypy keeps checking the package's own reads of a schedule

        def __getattr__(self, name: str) -> Any:
            """A public attribute of the built torch scheduler that the schedule lacks (``gamma``, ``step_size``,
            ``T_max``), read through: a module's ``lr_scheduler_step`` and ``self.lr_schedulers()`` get the
            schedule, not the declared scheduler. Private names are not forwarded: torch and Lightning ask
            ``hasattr`` of those (``_get_closed_form_lr``), and so do unpickling and ``deepcopy`` before ``inner``
            is set."""
            if name.startswith("_") or "inner" not in vars(self):
                raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
            if self.inner is None:
                raise _not_built(self.where, "read", name)
            try:
                return getattr(self.inner, name)
            except AttributeError:
                raise AttributeError(
                    f"'{type(self).__name__}' object has no attribute '{name}', nor has the "
                    f"`{type(self.inner).__name__}` it schedules"
                ) from None

        def __setattr__(self, name: str, value: Any) -> None:
            """A public attribute of the built torch scheduler (``gamma``, ``base_lrs``) written through, as
            ``__getattr__`` reads it: a module writing ``self.lr_schedulers().gamma = 0.5`` changes the declared
            scheduler, as a hand-written module's write changes its own, rather than an attribute of the schedule
            that nothing reads. The schedule's own attributes, private names and its methods stay its own; before
            the scheduler is built, a write of another name is refused rather than kept where it is ignored.
            ``last_epoch`` once the shape is fixed moves both counts (``_move_to``)."""
            if name == "last_epoch" and self.__dict__.get("shape") is not None:
                self._move_to(value)
                return
            if name in self.__dict__ or name.startswith("_") or name in _OWN:
                object.__setattr__(self, name, value)
                return
            if callable(getattr(Schedule, name, None)):  # a method replaced on the schedule
                object.__setattr__(self, name, value)
                return
            inner = self.__dict__.get("inner")
            if inner is None:
                raise _not_built(self.where, "set", name)
            if hasattr(inner, name):
                setattr(inner, name, value)
            else:  # a new attribute, kept (and saved) as a hand-written scheduler keeps one
                object.__setattr__(self, name, value)

    def _move_to(self, updates: Any) -> None:
        """``last_epoch = updates`` written once the shape is fixed: the schedule's count and the torch
        scheduler's (``Shape.own_count``) moved together, as a hand-written scheduler's write moves its own, where
        the two count one for one; refused in the warmup or outside the window (before it, the scheduler is not
        built yet), where the torch scheduler would ignore it. A write of the count it has moves nothing."""
        now, count = self.last_epoch, _count_of(updates)
        if count is None or count < 0:
            raise _not_a_count(self.where, updates)
        if count == now:
            return
        own = self.shape.own_count(count)  # type: ignore[union-attr]
        if self.inner is None or own is None or self.shape.own_count(now) is None:  # type: ignore[union-attr]
            raise _not_movable(self.where, self.inner, self.shape, now, count)  # type: ignore[arg-type]
        self.inner.last_epoch = own
        self.__dict__["last_epoch"] = count
        self.__dict__["moved_by_writes"] += count - now

    def __repr__(self) -> str:
        inner = "not built yet" if self.inner is None else type(self.inner).__name__
        driven = "" if self.param == "lr" else f", param={self.param!r}"
        return f"Schedule({inner}, shape={self.shape}{driven})"

    def values(self) -> list[Any]:
        """The driven option of every param group, now."""
        return [group["lr"] for group in self.target.param_groups]

    @property
    def base_lrs(self) -> list[Any]:  # type: ignore[override]
        """The built scheduler's ``base_lrs`` (which a module may set through the schedule), else each group's
        starting value (torch's ``initial_lr``, set when the scheduler is built)."""
        built = getattr(self.inner, "base_lrs", None)
        if built is not None:
            return built
        return [group.get("initial_lr", group["lr"]) for group in self.target.param_groups]

    def get_last_lr(self) -> list[float]:  # type: ignore[override]
        """The values this schedule's last update left, as a hand-written scheduler's: in a list, before the
        schedules after it changed them. The warmup's while it lasts, then the torch scheduler's own; the groups'
        values now before the scheduler is built (a window not begun yet)."""
        shape, inner = self.shape, self.inner
        if self.warmup_written and self.last_epoch <= shape.warmup:  # type: ignore[union-attr]
            return [float(v) for v in self.warmup_written]
        own = getattr(inner, "get_last_lr", None)
        return [float(v) for v in (self.values() if own is None else own())]

    def get_lr(self) -> list[float]:  # type: ignore[override]
        return self.get_last_lr()

    # -- the shape, fixed once -------------------------------------------------------------------------------

    def fix(self, shape: Shape, *, keep_groups: bool = False) -> None:
        """Build the torch scheduler for ``shape``.

        With ``keep_groups`` (a restore) the param groups keep the settings they have, which are the
        checkpoint's: the construction's changes to them (torch's initial step) are undone.
        """
        if self.shape is not None:
            raise RuntimeError(
                f"Schedule: the shape is fixed already ({self.shape}); a schedule is built once."
            )
        kept = snapshot_groups(self.optimizer.param_groups) if keep_groups else None
        self.shape = shape
        self.start_values = [numbers_in(v) for v in self.values()]
        if shape.window is not None:
            for group in self.target.param_groups:
                group.setdefault("initial_lr", _copy_option(group["lr"]))  # as torch and mmengine do
        if shape.window is not None and not in_window(0, *shape.window):
            self._build_aside()  # checks the arguments now rather than at ``begin`` (or never, an empty window)
        else:
            # a restore puts the groups back afterwards: the others' warmups keep the targets they restored
            with contextlib.nullcontext() if keep_groups else self._on_unwarmed():
                self.inner = self.make(self.target, shape)
                if shape.warmup:
                    self.warmup_targets = [numbers_in(v) for v in self.values()]
                    self._apply_warmup()
        if kept is not None:
            restore_groups(self.optimizer.param_groups, kept)

    def _build_aside(self) -> Any:
        """Build the torch scheduler without letting its construction change the groups."""
        kept = snapshot_groups(self.optimizer.param_groups)
        built = self.make(self.target, self.shape)  # type: ignore[arg-type]
        restore_groups(self.optimizer.param_groups, kept)
        return built

    def _warmup_factor(self, step: int) -> float:
        """The warmup's factor ``step`` updates in."""
        steps = self.shape.warmup  # type: ignore[union-attr]
        start = default_start_factor(steps) if self.warmup_start_factor is None else self.warmup_start_factor
        return warmup_factor(step, steps, float(start))

    def holds_zero(self) -> bool:
        """Whether its warmup holds the values at 0 now: from ``warmup_start_factor=0``, until its first update."""
        return (
            bool(self.warmup_written)
            and self.last_epoch < self.shape.warmup  # type: ignore[union-attr]
            and self._warmup_factor(self.last_epoch) == 0
        )

    @contextlib.contextmanager
    def _on_unwarmed(self) -> Iterator[None]:
        """Let an update of this schedule act on the values another schedule's warmup holds at 0, not on the 0.

        A factor applied to 0 leaves 0, so while a warmup from ``warmup_start_factor=0`` holds a value there,
        the update of another schedule of its list (of the same option) could not be seen: the warmup would go
        on from its old target and lose that factor for the whole run, but only when declared after it. So the
        update acts on the warmup's target (the value without its factor), which becomes the new target, and
        the value is the target times 0 again: the warmup's next factor multiplies what the others made of it,
        as the product of the schedules, in either order.
        """
        groups = self.target.param_groups
        option = target_of(self.param, self.optimizer.param_groups[0])
        lenders = [
            other
            for other in self.beside_zero_warmups
            if other.shape is not None
            and target_of(other.param, self.optimizer.param_groups[0]) == option
            and other.holds_zero()
        ]
        lent = [
            (lender, index)
            for lender in lenders
            for index, (group, written) in enumerate(zip(groups, lender.warmup_written))
            if numbers_in(group["lr"]) == written
        ]
        for lender, index in lent:
            set_value(groups[index], "lr", lender.warmup_targets[index])
        try:
            yield
        finally:
            for lender, index in lent:
                lender.warmup_targets[index] = numbers_in(groups[index]["lr"])
                set_value(
                    groups[index],
                    "lr",
                    lender.warmup_targets[index] * lender._warmup_factor(lender.last_epoch),
                )
                lender.warmup_written[index] = numbers_in(groups[index]["lr"])

    def _apply_warmup(self) -> None:
        """Set each group's value to its target times the warmup's factor now.

        Another schedule of a list may have changed a value since the last update: its target changes by the
        same ratio, so the warmup multiplies the value the others left, as torch's chainable ``LinearLR`` does.
        From a first factor of 0 there is no ratio to take: the others' updates meanwhile acted on the target
        itself (``_on_unwarmed``). The scheduler it warms up is not stepped meanwhile; after it, one that sets
        the value outright (``LambdaLR``) sets it from its own start, discarding the others' factors, which is
        why a list refuses such a scheduler beside another one (``declaring/chained.py``).
        """
        before = self._warmup_factor(self.last_epoch - 1)
        if self.warmup_written and before > 0:
            self.warmup_targets = [
                target if value == written else value / before
                for target, value, written in zip(
                    self.warmup_targets, map(numbers_in, self.values()), self.warmup_written
                )
            ]
        factor = self._warmup_factor(self.last_epoch)
        for group, target in zip(self.target.param_groups, self.warmup_targets):
            set_value(group, "lr", target * factor)
        self.warmup_written = [numbers_in(v) for v in self.values()]

    # -- stepping --------------------------------------------------------------------------------------------

    def step(self, metrics: Any = None, epoch: None = None) -> None:  # type: ignore[override]
        """One update: the warmup's while it lasts, else the scheduler's (with ``metrics`` for a plateau).

        ``epoch`` (torch's deprecated ``step(epoch)``, by keyword or, for a scheduler that takes no metric, by
        position) is refused rather than ignored: torch jumps the schedule to that epoch, which warmups, windows
        and the counts resume and the mixin keep cannot follow.
        """
        if epoch is not None:
            raise _epoch_refused(epoch)
        if self.shape is None:
            if self.derive is None:
                raise RuntimeError("Schedule: stepped before its shape is fixed; give `shape=` or `derive=`.")
            shape = self.derive()
            if shape is None:  # a trial run before the run is known; its state is restored afterwards
                self.__dict__["last_epoch"] += 1
                return
            self.fix(shape)
        if metrics is not None and self.inner is not None and not isinstance(self.inner, ReduceLROnPlateau):
            raise _epoch_refused(metrics)  # `step(epoch)`, the deprecated form given positionally
        self.__dict__["last_epoch"] += 1  # each step's write, at a dict's cost rather than `__setattr__`'s
        shape = self.shape
        if shape.window is not None and not in_window(self.last_epoch, *shape.window):  # type: ignore[union-attr]
            return
        if not self.beside_zero_warmups:  # as most are: entering `_on_unwarmed` costs as much as the update
            self._update(metrics)
            return
        with self._on_unwarmed():
            self._update(metrics)

    def _update(self, metrics: Any) -> None:
        """The update ``step`` counted: the construction at a window's ``begin``, the warmup's or the scheduler's."""
        shape = self.shape
        if shape.window is not None:  # type: ignore[union-attr]
            if self.inner is None:
                self.inner = self.make(self.target, shape)  # type: ignore[arg-type]
                return  # its construction is its first update
        elif self.last_epoch <= shape.warmup:  # type: ignore[union-attr]
            self._apply_warmup()
            return
        if self.before_step is not None:
            self.before_step(self.last_epoch)
        if metrics is None and isinstance(self.inner, ReduceLROnPlateau):
            raise _metric_missing(self.where, self.inner)
        try:
            if metrics is None:
                self.inner.step()
            else:
                self.inner.step(metrics)
        except Exception as err:
            groups = self.optimizer.param_groups
            if len(groups) <= self.made_for:
                raise
            raise added_groups_refusal(self.where, self.inner, groups, self.made_for) from err

    def advance(self, updates: int) -> None:
        """Take ``updates`` updates at once: the schedule evaluated that far into the run (no metrics: a
        ``ReduceLROnPlateau`` only counts them).

        A group added after the schedule was made keeps its settings: it was not there for those updates, and
        the schedule takes it from where it stands at its next one, as in the run it joined.
        """
        if isinstance(self.inner, ReduceLROnPlateau):
            self.__dict__["last_epoch"] += updates  # counted, not a write that moves the plateau's own count
            return
        added = self.optimizer.param_groups[self.made_for :]
        kept = snapshot_groups(added)
        with compat.stepped_meanwhile(self.optimizer):
            for _ in range(updates):
                self.step()
        restore_groups(added, kept)

    # -- checkpoints -----------------------------------------------------------------------------------------

    @staticmethod
    def unshaped_state() -> dict[str, Any]:
        """The state of a schedule whose shape is not fixed yet: loaded, it starts again from its recipe."""
        return {
            "last_epoch": 0,
            "warmup_targets": [],
            "warmup_written": [],
            "start_values": [],
            "shape": None,
            "inner": None,
        }

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (``torch.save(model)`` of a module keeping its schedule, ``copy.deepcopy``) without its ties to
        the run, as a hand-written scheduler holds only its optimizer: ``derive`` and ``before_step`` are bound to
        the ``Trainer`` that fits it. A copy is not stepped by that run; one copied before its shape was fixed is
        given one (``fix``, or ``load_state_dict``)."""
        return {**vars(self), "derive": None, "before_step": None}

    def state_dict(self) -> dict[str, Any]:
        """The progress (and any attribute set on the schedule), the shape, and the torch scheduler's state
        (its lrs as Python numbers, also where the optimizer holds them as tensors: ``numbers_in``)."""
        state = {key: value for key, value in vars(self).items() if key not in _NOT_STATE}
        state["shape"] = None if self.shape is None else self.shape.to_state()
        state["inner"] = None if self.inner is None else numbers_in(self.inner.state_dict())
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Become the schedule that was saved: built for its shape (the groups keep the restored settings)."""
        state = dict(state_dict)
        if "shape" not in state or "inner" not in state:
            raise ValueError(
                "Schedule: Expected a state saved by a `Schedule` (with `shape` and `inner`) but got the keys "
                f"{sorted(state)}, a torch scheduler's own state? A checkpoint a module without the mixin wrote "
                "(a hand-written `configure_optimizers`) is resumed by `trainer.fit(model, ckpt_path=...)`, which "
                "takes its scheduler states over when training starts (docs/guides/resume.md)."
            )
        shape, inner = Shape.from_state(state.pop("shape")), state.pop("inner")
        self.shape, self.inner = None, None  # a state from before the shape was fixed leaves it open
        if shape is not None:
            self.fix(shape, keep_groups=True)
            if inner is not None and self.inner is None:  # restored inside a window that began later
                self.inner = self._build_aside()
        self.__dict__.update(state)
        if inner is not None:  # a compiled run's state from before numbers_in: numbers here too
            self.inner.load_state_dict(numbers_in(inner))
