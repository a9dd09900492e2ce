"""Lightning's rule for when a scheduler steps, the one place it is written down.

Lightning (``_TrainingEpochLoop._update_learning_rates``) steps a scheduler of ``interval="step"`` after an
optimizer step taken during training batch ``batch_idx`` when ``(batch_idx + 1) % frequency == 0``: the
frequency counts batches within the epoch, and only the batches that step the optimizer are looked at (every
``accumulate_grad_batches``-th, and the epoch's last). The mixin steps the schedulers of manual optimization
by the same rule, the length derivation counts a run's updates with it, and the preview replays it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence


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


def updates_in(batches: int, accumulate: int, frequency: int, steps: int, every: int = 1) -> int:
    """Updates of a per-step scheduler in the first ``steps`` optimizer steps of a run of such epochs.

    In manual optimization ``accumulate`` is 1 (each optimizer stepping once per batch). ``every``: the
    optimizer steps only at the window ends ``b`` with ``steps_at(b, every)`` (``OptimizerSpec(every=)``).

    Example:
        >>> updates_in(batches=5, accumulate=1, frequency=2, steps=15)  # 2 per epoch, not 7
        6
        >>> updates_in(batches=8, accumulate=1, frequency=2, steps=4, every=2)  # steps at 1, 3, 5, 7
        4
    """
    stepping = [steps_at(b, frequency) for b in stepping_batches(batches, accumulate) if steps_at(b, every)]
    full, partial = divmod(steps, len(stepping)) if stepping else (0, 0)
    return full * sum(stepping) + sum(stepping[:partial])


def own_windows(batches: int, accumulate: int, every: int) -> list[int]:
    """The batches of an epoch at which an optimizer with ``OptimizerSpec(every=...)`` steps: the window ends
    ``b`` (``stepping_batches``) with ``(b + 1) % every == 0``.

    Example:
        >>> own_windows(10, 1, 5), own_windows(10, 2, 3)
        ([4, 9], [5])
    """
    return [b for b in stepping_batches(batches, accumulate) if steps_at(b, every)]


def interleaved(windows: Sequence[int], everies: Sequence[int], global_steps: int) -> tuple[list[int], int]:
    """Each optimizer's steps, and the windows taken, when Lightning's ``global_step`` (every optimizer's steps
    together, in manual optimization) first reaches ``global_steps``, in epochs whose window ends are ``windows``
    and where optimizer ``i`` steps at the window ends ``b`` with ``steps_at(b, everies[i])``.

    Example:
        >>> interleaved([0, 1, 2, 3], [1, 2], 5)  # global steps 1, 3, 4, 6 after each batch: 4 batches
        ([4, 2], 4)
        >>> interleaved([0, 1, 2, 3], [1, 2], 12)  # two epochs of 6
        ([8, 4], 8)
    """
    pattern = [[steps_at(b, every) for every in everies] for b in windows]
    per_epoch = sum(map(sum, pattern))
    if not per_epoch:
        return [0] * len(everies), 0
    full, _ = divmod(global_steps, per_epoch)
    if full and full * per_epoch >= global_steps:
        full -= 1  # end inside the last epoch, at the window that reaches it
    steps = [full * sum(row[i] for row in pattern) for i in range(len(everies))]
    done, taken = full * per_epoch, full * len(windows)
    for row in pattern * 2:
        if done >= global_steps:
            break
        done += sum(row)
        taken += 1
        for i, stepped in enumerate(row):
            steps[i] += stepped
    return steps, taken
