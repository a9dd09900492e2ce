"""``Shape``: what a schedule takes from the run, fixed once and saved with the schedule.

A declaration may leave lengths to the run (an omitted ``T_max``, a fractional warmup, ``unit="epoch"`` with
``interval="step"``, a window given in fractions of the run); the numbers they come to are its shape. The shape
is part of the schedule's ``state_dict``, so a resumed run rebuilds the schedule the checkpoint held, with
no other record of it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
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

    def own_count(self, updates: int) -> int | None:
        """The torch scheduler's own count (its ``last_epoch``) at update ``updates`` of the schedule, where the
        two move one for one: from the warmup's end, or inside the window, from ``begin`` (where it is built);
        ``None`` in the warmup and outside the window, where the scheduler is not stepped.

        Example:
            >>> Shape().own_count(4), Shape(warmup=2).own_count(4), Shape(warmup=2).own_count(1)
            (4, 2, None)
            >>> Shape(window=(3, 8)).own_count(5), Shape(window=(3, 8)).own_count(8), Shape().own_count(-1)
            (2, None, None)
        """
        begin, end = (self.warmup, None) if self.window is None else self.window
        if updates < begin or (end is not None and updates >= end):
            return None
        return updates - begin

    def labelled(self, length_name: str | None) -> dict[str, Any]:
        """Each number by its name in a message (``length_name``: the length argument's)."""
        return {
            "warmup steps": self.warmup,
            length_name or "length": self.length,
            "steps per epoch": self.steps_per_epoch,
            "window": self.window,
            "start (step, epoch)": self.start,
        }

    def changes(self, now: Shape, length_name: str | None) -> list[tuple[str, Any, Any]]:
        """``(what, before, now)`` for each number that differs from ``now``."""
        theirs = now.labelled(length_name)
        return [
            (label, value, theirs[label])
            for label, value in self.labelled(length_name).items()
            if value != theirs[label]
        ]

    def numbers(self) -> list[float]:
        """The shape as ``NUMBERS`` floats (``nan`` for ``None``), as many for every shape, so that the processes
        of a run can gather theirs in one tensor; ``from_numbers`` reads them back.

        Example:
            >>> shape = Shape(warmup=2, length=10, window=(3, None), start=(4, 1))
            >>> shape.numbers()
            [2.0, 10.0, nan, 3.0, nan, 4.0, 1.0]
            >>> Shape.from_numbers(shape.numbers()) == shape, Shape.from_numbers(Shape().numbers()) == Shape()
            (True, True)
        """
        begin, end = (None, None) if self.window is None else self.window
        values = [self.warmup, self.length, self.steps_per_epoch, begin, end, *self.start]
        return [math.nan if value is None else float(value) for value in values]

    @classmethod
    def from_numbers(cls, numbers: Sequence[float]) -> Shape:
        """The shape ``numbers`` gave."""
        warmup, length, per_epoch, begin, end, step, epoch = (
            None if math.isnan(number) else int(number) for number in numbers
        )
        return cls(
            warmup=warmup or 0,
            length=length,
            steps_per_epoch=per_epoch,
            window=None if begin is None else (begin, end),
            start=(step or 0, epoch or 0),
        )


#: how many numbers ``Shape.numbers`` gives
NUMBERS = len(Shape().numbers())
