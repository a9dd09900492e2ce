"""``Warmup``: a linear warmup in front of any scheduler, ``ReduceLROnPlateau`` included.

The wrapper owns the main scheduler. The main scheduler is built first, so its starting lr (the declared
lr for most schedulers, ``max_lr / div_factor`` for ``OneCycleLR``, ``start_factor * lr`` for
``LinearLR``...) is known: that is the lr the warmup climbs to, group by group. During the warmup the main
scheduler is not stepped at all; afterwards every step is delegated to it, so the lr continues exactly as
the main scheduler would from its own start, shifted by the warmup's length. Unlike torch's
``SequentialLR`` this holds a ``ReduceLROnPlateau`` too (its metrics are ignored during the warmup) and
never re-initialises the main scheduler.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau


def default_start_factor(steps: int) -> float:
    """The default first factor of a warmup of ``steps`` steps: ``1 / (steps + 1)``.

    The factors are then ``1/(n+1), 2/(n+1), ..., n/(n+1)``, and the main schedule starts at ``1``: equal
    increments, and no step is wasted at lr 0.

    Example:
        >>> default_start_factor(3)
        0.25
    """
    return 1.0 / (steps + 1)


class Warmup(LRScheduler):
    """Linear warmup over ``steps`` scheduler steps, then ``scheduler``.

    The factor applied to the main scheduler's starting lr goes linearly from ``start_factor`` (during the
    first interval) to ``1`` (reached after ``steps`` steps, when the main scheduler takes over).

    Args:
        optimizer: the optimizer ``scheduler`` was built on.
        scheduler: the main scheduler, freshly built (not stepped yet).
        steps: the warmup's length, in calls of ``step()``.
        start_factor: the factor of the first interval, in ``[0, 1)``; default ``1 / (steps + 1)``.

    Example:
        >>> import torch
        >>> from torch.optim.lr_scheduler import ExponentialLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> warm = Warmup(opt, ExponentialLR(opt, gamma=0.5), steps=3)
        >>> lrs = []
        >>> for _ in range(6):
        ...     lrs.append(opt.param_groups[0]["lr"])
        ...     opt.step()
        ...     warm.step()
        >>> lrs
        [0.25, 0.5, 0.75, 1.0, 0.5, 0.25]
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, scheduler: Any, steps: int, start_factor: float | None = None
    ) -> None:
        # LRScheduler.__init__ is not called: it would take a step and overwrite the main scheduler's lrs.
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.warmup_steps = int(steps)
        self.start_factor = (
            default_start_factor(self.warmup_steps) if start_factor is None else float(start_factor)
        )
        #: the main scheduler's starting lr of each group: what the warmup climbs to
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self._step_count = 1
        self._apply()

    @property
    def is_plateau(self) -> bool:
        """Whether the main scheduler is a ``ReduceLROnPlateau`` (stepped with a metric)."""
        return isinstance(self.scheduler, ReduceLROnPlateau)

    def factor(self, step: int) -> float:
        """The warmup factor ``step`` steps in (``1`` from ``warmup_steps`` on)."""
        if step >= self.warmup_steps:
            return 1.0
        return self.start_factor + (1.0 - self.start_factor) * step / self.warmup_steps

    def _apply(self) -> None:
        factor = self.factor(self.last_epoch)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * factor
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def step(self, metrics: Any = None, epoch: None = None) -> None:  # type: ignore[override]
        """One step: warmup while it lasts, then the main scheduler's (with ``metrics`` for a plateau)."""
        self._step_count += 1
        self.last_epoch += 1
        if self.last_epoch <= self.warmup_steps:
            self._apply()
            return
        if self.is_plateau:
            self.scheduler.step(metrics)
        else:
            self.scheduler.step()
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_lr(self) -> list[float]:  # type: ignore[override]
        return [float(lr) for lr in self._last_lr]

    def state_dict(self) -> dict[str, Any]:
        """The wrapper's counters (and any attribute set on it) plus the main scheduler's state."""
        state = {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "scheduler")}
        state["scheduler"] = self.scheduler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        self.scheduler.load_state_dict(state.pop("scheduler"))
        self.__dict__.update(state)
