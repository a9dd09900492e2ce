"""``Shape``: what a schedule takes from the run, fixed once and saved with the schedule.

A declaration may leave lengths to the run (an omitted ``T_max``, a fractional warmup, ``unit="epoch"`` with
``interval="step"``, a window given in fractions of the run); the numbers they come to are its shape. The shape
is part of the schedule's ``state_dict``, so a resumed run rebuilds the schedule the checkpoint held, with
no other record of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Shape:
    """The numbers a schedule is built with.

    Example:
        >>> shape = Shape(warmup=5, length=95)
        >>> Shape.from_state(shape.to_state()) == shape
        True
        >>> shape.changes(Shape(warmup=5, length=195), "T_max")
        [('T_max', 95, 195)]
    """

    #: the warmup's length in scheduler updates (0: none)
    warmup: int = 0
    #: the value of the length argument left out of the declaration, if any
    length: int | None = None
    #: optimizer steps per epoch, for a schedule declared in epochs and updated per step
    steps_per_epoch: int | None = None
    #: the window ``[begin, end)`` of its updates it acts in (``end=None``: to the end), if any
    window: tuple[int, int | None] | None = None
    #: where in the run the schedule starts: ``(optimizer steps, epochs)`` already behind it
    start: tuple[int, int] = (0, 0)

    def to_state(self) -> dict[str, Any]:
        """Plain values (ints, lists, ``None``) for a checkpoint."""
        window = None if self.window is None else list(self.window)
        return {**dataclasses.asdict(self), "window": window, "start": list(self.start)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> Shape | None:
        """The shape ``to_state`` saved (``None`` for a schedule saved before it had one)."""
        if state is None:
            return None
        window = state["window"]
        step, epoch = state["start"]
        return cls(
            warmup=int(state["warmup"]),
            length=state["length"],
            steps_per_epoch=state["steps_per_epoch"],
            window=None if window is None else (int(window[0]), window[1]),
            start=(int(step), int(epoch)),
        )

    def scheduler_steps(self, updates: int) -> int:
        """The steps the torch scheduler takes after its construction in ``updates`` updates of the schedule:
        none in the warmup; in a window, those after ``begin`` (where it is built) and before ``end``.

        Example:
            >>> Shape(warmup=2).scheduler_steps(10), Shape(window=(3, 8)).scheduler_steps(10)
            (8, 4)
            >>> Shape(window=(3, None)).scheduler_steps(10), Shape(window=(0, 5)).scheduler_steps(10)
            (7, 4)
        """
        if self.window is None:
            return max(0, updates - self.warmup)
        begin, end = self.window
        return max(0, min(updates, updates if end is None else end - 1) - begin)

    def changes(self, now: Shape, length_name: str | None) -> list[tuple[str, Any, Any]]:
        """``(what, before, now)`` for each number that differs from ``now``."""
        names = {
            "warmup": "warmup steps",
            "length": length_name or "length",
            "steps_per_epoch": "steps per epoch",
            "window": "window",
            "start": "start (step, epoch)",
        }
        return [
            (label, getattr(self, key), getattr(now, key))
            for key, label in names.items()
            if getattr(self, key) != getattr(now, key)
        ]
