"""``Window``: a scheduler active only in a window of its updates, as mmengine's ``begin``/``end``.

mmengine's ``param_scheduler`` lists put several schedulers one after another (a linear warmup over the
first 500 iterations, then a cosine to the end) by giving each a window ``[begin, end)`` of its updates
(mmengine/optim/scheduler/param_scheduler.py, ``_ParamScheduler.step``): the scheduler counts every
``step()`` call, construction included as call 0, and only updates the lr while the count is inside the
window. Its first update in the window is its initial value (``LinearLR``'s ``start_factor``), applied
to the lr the others left; outside the window the lr is left to the other schedulers.

``Window`` gives a torch scheduler the same behaviour. A window that starts later builds the torch scheduler
at its start (``factory``), so that its construction (torch's initial step) happens there; it is built once
right away as well, to check its arguments, and the lrs are put back. Its state, and whether it was built,
are in ``state_dict()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau


def in_window(count: int, begin: int, end: int | None) -> bool:
    """Whether update number ``count`` (construction is 0) falls in ``[begin, end)``; ``end=None``: no end.

    Example:
        >>> [in_window(i, 2, 4) for i in range(5)]
        [False, False, True, True, False]
    """
    return begin <= count and (end is None or count < end)


class Window(LRScheduler):
    """Run the scheduler ``factory`` builds only while this wrapper's update count is in ``[begin, end)``.

    Args:
        optimizer: the optimizer the scheduler acts on.
        factory: builds the scheduler on ``optimizer`` (called at ``begin``; also once now, to check it).
        begin: the first update (``0``: at construction) the scheduler acts at.
        end: the update it stops at (not included); ``None``: never.

    Example:
        >>> import torch
        >>> from torch.optim.lr_scheduler import ConstantLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> window = Window(opt, lambda: ConstantLR(opt, factor=0.5, total_iters=2), begin=2, end=5)
        >>> lrs = []
        >>> for _ in range(6):
        ...     lrs.append(opt.param_groups[0]["lr"])
        ...     opt.step()
        ...     window.step()
        >>> lrs
        [1.0, 1.0, 0.5, 0.5, 1.0, 1.0]
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        factory: Callable[[], Any],
        begin: int = 0,
        end: int | None = None,
    ) -> None:
        # LRScheduler.__init__ is not called: it would take a step of its own.
        if begin < 0 or (end is not None and end <= begin):
            raise ValueError(f"Expected 0 <= begin < end but got begin={begin!r}, end={end!r}.")
        self.optimizer = optimizer
        self.factory = factory
        self.begin = int(begin)
        self.end = None if end is None else int(end)
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])  # as mmengine and torch do at construction
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self._step_count = 1
        self.scheduler: Any | None = None
        if in_window(0, self.begin, self.end):
            self.scheduler = factory()
        else:
            self._build_aside()  # checks the arguments now rather than at ``begin``
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def _build_aside(self) -> Any:
        """Build the scheduler without letting its construction change the lrs."""
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        scheduler = self.factory()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        return scheduler

    def step(self, metrics: Any = None, epoch: None = None) -> None:  # type: ignore[override]
        """Count one update; inside the window, the scheduler's (built here at ``begin``)."""
        self._step_count += 1
        self.last_epoch += 1
        if in_window(self.last_epoch, self.begin, self.end):
            if self.scheduler is None:
                self.scheduler = self.factory()  # its construction is its first update
            elif isinstance(self.scheduler, ReduceLROnPlateau):
                self.scheduler.step(metrics)
            else:
                self.scheduler.step()
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_lr(self) -> list[float]:  # type: ignore[override]
        return [float(lr) for lr in self._last_lr]

    def state_dict(self) -> dict[str, Any]:
        """The wrapper's counters (and any attribute set on it) plus the scheduler's state once built."""
        skip = ("optimizer", "scheduler", "factory")
        state = {key: value for key, value in self.__dict__.items() if key not in skip}
        state["scheduler"] = None if self.scheduler is None else self.scheduler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        inner = state.pop("scheduler")
        if inner is not None:
            if self.scheduler is None:
                self.scheduler = self._build_aside()
            self.scheduler.load_state_dict(inner)
        else:
            self.scheduler = None  # a state from before the window began (a finder's restore after its trial)
        self.__dict__.update(state)


def window_bounds(begin: int | float, end: int | float | None, updates: float) -> tuple[int, int | None]:
    """A window in updates: ints as they are, fractions of the run's ``updates`` rounded down.

    Example:
        >>> window_bounds(0.1, None, 100), window_bounds(5, 0.5, 100), window_bounds(0, 1.0, 30)
        ((10, None), (5, 50), (0, 30))
    """

    def resolve(value: int | float) -> int:
        if isinstance(value, float):
            if not math.isfinite(updates):
                raise ValueError(
                    f"a window bound given as a fraction of the run ({value!r}) needs a run of known length"
                )
            return int(value * updates)
        return int(value)

    return resolve(begin), None if end is None else resolve(end)
