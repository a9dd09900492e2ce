"""How long a run is, in optimizer steps, from its numbers alone (without a ``Trainer`` or data).

``fit`` derives omitted scheduler lengths (``T_max``, ``total_steps``, ...) from
``trainer.estimated_stepping_batches`` and ``trainer.max_epochs`` (see ``_build.run_length``).
``preview_schedule`` has no Trainer, so it computes the same two numbers here and hands them to the same
``_build`` code as a ``RunLength`` in place of the Trainer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def optimizer_steps(
    max_epochs: int, steps_per_epoch: int | float, accumulate_grad_batches: int = 1, max_steps: int = -1
) -> int | float:
    """Lightning's ``Trainer.estimated_stepping_batches`` for a run of these numbers.

    Args:
        max_epochs: ``Trainer(max_epochs=...)``; ``-1`` for no epoch limit.
        steps_per_epoch: training batches per epoch on one process (``trainer.num_training_batches``),
            ``math.inf`` for an iterable dataset without length.
        accumulate_grad_batches: ``Trainer(accumulate_grad_batches=...)``; an epoch's last batch always steps.
        max_steps: ``Trainer(max_steps=...)``; ``-1`` for no step limit.

    Returns:
        The number of optimizer steps of the run, ``math.inf`` when it has no limit.

    Example:
        >>> optimizer_steps(max_epochs=3, steps_per_epoch=10)
        30
        >>> optimizer_steps(max_epochs=3, steps_per_epoch=10, accumulate_grad_batches=4)  # 4+4+2 per epoch
        9
        >>> optimizer_steps(max_epochs=3, steps_per_epoch=10, max_steps=25)
        25
        >>> optimizer_steps(max_epochs=-1, steps_per_epoch=10)
        inf
    """
    if max_epochs == -1:
        return math.inf if max_steps == -1 else max_steps
    if steps_per_epoch == math.inf:
        return max_steps if max_steps != -1 else math.inf
    total = math.ceil(steps_per_epoch / accumulate_grad_batches) * max(max_epochs, 1)
    return min(total, max_steps) if max_steps != -1 else total


@dataclass(frozen=True)
class RunLength:
    """The two numbers ``_build.run_length`` reads from a ``Trainer``, for building without one."""

    max_epochs: int
    estimated_stepping_batches: int | float
