"""Lightning's rule for when a scheduler steps, the one place it is written down.

Lightning (``_TrainingEpochLoop._update_learning_rates``) steps a scheduler of ``interval="step"`` after an
optimizer step taken during training batch ``batch_idx`` when ``(batch_idx + 1) % frequency == 0``: the
frequency counts batches within the epoch, and only the batches that step the optimizer are looked at (every
``accumulate_grad_batches``-th, and the epoch's last). The mixin steps the schedulers of manual optimization
by the same rule, the length derivation counts a run's updates with it, and the preview replays it.
"""

from __future__ import annotations

from collections.abc import Iterator


def steps_at(batch_idx: int, frequency: int) -> bool:
    """Whether an optimizer step during batch ``batch_idx`` of an epoch steps a per-step scheduler.

    Example:
        >>> [b for b in range(7) if steps_at(b, 3)]
        [2, 5]
    """
    return (batch_idx + 1) % frequency == 0


def stepping_batches(batches: int, accumulate: int) -> Iterator[int]:
    """The indices of the batches that step the optimizer in an epoch of ``batches``.

    Every ``accumulate``-th batch steps, and the epoch's last one (its partial accumulation window steps
    too).

    Example:
        >>> list(stepping_batches(10, 4))
        [3, 7, 9]
    """
    yield from range(accumulate - 1, batches, accumulate)
    if batches % accumulate:
        yield batches - 1


def updates_in(batches: int, accumulate: int, frequency: int, steps: int) -> int:
    """Updates of a per-step scheduler in the first ``steps`` optimizer steps of a run of such epochs.

    In manual optimization ``accumulate`` is 1 (each optimizer stepping once per batch).

    Example:
        >>> updates_in(batches=5, accumulate=1, frequency=2, steps=15)  # 2 per epoch, not 7
        6
    """
    stepping = [steps_at(b, frequency) for b in stepping_batches(batches, accumulate)]
    full, partial = divmod(steps, len(stepping)) if stepping else (0, 0)
    return full * sum(stepping) + sum(stepping[:partial])
