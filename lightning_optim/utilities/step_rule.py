"""Lightning's rule for when a scheduler steps, the one place it is written down.

Lightning (``_TrainingEpochLoop._update_learning_rates``) steps a scheduler of ``interval="step"`` after an
optimizer step taken during training batch ``batch_idx`` when ``(batch_idx + 1) % frequency == 0``: the
frequency counts batches within the epoch, and only the batches that step the optimizer are looked at (every
``accumulate_grad_batches``-th, and the epoch's last). The mixin steps the schedulers of manual optimization
by the same rule, the length derivation counts a run's updates with it, and the preview replays it. Several
schedulers of one optimizer take their updates at one point in one order (``in_run_order``), which the preview
and a resume with ``resume_changed_setup="continue"`` replay.

The counts over an epoch are taken from where its windows end (batch ``m * accumulate - 1``, and the last),
not by going through them: they run when training and every epoch start, and an epoch of streamed data under
``max_steps`` can have millions of batches.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any, TypeVar

T = TypeVar("T")


def steps_at(batch_idx: int, frequency: int) -> bool:
    """Whether an optimizer step during batch ``batch_idx`` of an epoch steps a per-step scheduler.

    Example:
        >>> [b for b in range(7) if steps_at(b, 3)]
        [2, 5]
    """
    return (batch_idx + 1) % frequency == 0


def in_run_order(
    updates: Sequence[tuple[str, Iterable[tuple[Any, T]]]],
) -> Iterator[tuple[Any, list[T]]]:
    """The updates of several schedulers of one optimizer in the order a run takes them, and where.

    ``updates`` holds, for each scheduler in the declared order, its ``interval`` and its ``(point, update)``
    pairs, the points ascending (an entry, an optimizer step: any one timeline for all of them). At a point
    shared by several, the ``interval="step"`` ones come first (Lightning steps them after the batch, the mixin
    inside the optimizer step), then the ``interval="epoch"`` ones (at the epoch's end), each in the declared
    order: each update acts on the values the others left, so the order decides what a chain gives.

    Example:
        >>> per_epoch = ("epoch", [(2, "e0"), (4, "e1")])  # after the 2nd and the 4th step
        >>> per_step = ("step", [(1, "s1"), (2, "s2"), (3, "s3"), (4, "s4")])
        >>> list(in_run_order([per_epoch, per_step]))
        [(1, ['s1']), (2, ['s2', 'e0']), (3, ['s3']), (4, ['s4', 'e1'])]
    """
    # `(point, kind, order)` differs between streams, so the merge never compares two updates
    streams = [_keyed(points, interval != "step", order) for order, (interval, points) in enumerate(updates)]
    merged = heapq.merge(*streams)
    return ((point, [keyed[-1] for keyed in group]) for point, group in groupby(merged, itemgetter(0)))


def _keyed(points: Iterable[tuple[Any, T]], kind: bool, order: int) -> Iterator[tuple[Any, bool, int, T]]:
    for point, update in points:
        yield point, kind, order, update


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


def windows_in(batches: int, accumulate: int) -> int:
    """The accumulation windows of an epoch of ``batches``: as many as ``stepping_batches`` gives.

    Example:
        >>> windows_in(10, 4), len(list(stepping_batches(10, 4)))
        (3, 3)
    """
    return -(-batches // accumulate)


def steps_in(batches: int, accumulate: int, every: int, windows: int | None = None) -> int:
    """How many of the first ``windows`` window ends ``b`` of an epoch (all by default) step an optimizer with
    ``OptimizerSpec(every=...)``: ``steps_at(b, every)``, counted without going through them.

    Window ``m`` (from 1) ends at batch ``m * accumulate - 1``, which every ``every / gcd(every, accumulate)``-th
    window's end matches; the partial last window ends at the epoch's last batch.

    Example:
        >>> steps_in(10, 1, 5), steps_in(10, 2, 3), steps_in(10, 4, 5), steps_in(10, 4, 5, windows=2)
        (2, 1, 1, 0)
    """
    total = windows_in(batches, accumulate)
    windows = total if windows is None else max(0, min(windows, total))
    full = min(windows, batches // accumulate)
    steps = full // (every // math.gcd(every, accumulate))
    if windows > full:  # the partial last window
        steps += steps_at(batches - 1, every)
    return steps


def windows_ending_before(batches: int, accumulate: int, batch_idx: int) -> int:
    """The windows of an epoch of ``batches`` whose last batch comes before ``batch_idx``.

    Example:
        >>> windows_ending_before(10, 4, 8), windows_ending_before(10, 4, 10)  # windows end at 3, 7, 9
        (2, 3)
    """
    full = min(max(batch_idx, 0) // accumulate, batches // accumulate)
    return full + (batches % accumulate != 0 and batch_idx >= batches)


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
    per_epoch = steps_in(batches, accumulate, every)
    if not per_epoch:
        return 0
    full, partial = divmod(steps, per_epoch)
    both = math.lcm(every, frequency)  # the window ends where the optimizer steps and the scheduler with it
    # the optimizer's `partial`-th step of an epoch (not its last) ends window `partial * stride`
    stride = every // math.gcd(every, accumulate)
    return full * steps_in(batches, accumulate, both) + steps_in(batches, accumulate, both, partial * stride)


def interleaved(
    batches: int, accumulate: int, everies: Sequence[int], global_steps: int
) -> tuple[list[int], int]:
    """Each optimizer's steps, and the windows taken, when Lightning's ``global_step`` (every optimizer's steps
    together, in manual optimization) first reaches ``global_steps``, in epochs of ``batches`` accumulated by
    ``accumulate`` where optimizer ``i`` steps at the window ends ``b`` with ``steps_at(b, everies[i])``.

    Counted, not walked: whole epochs, then the first window of the last one where the steps reach it (a
    search over the window counts, as the steps grow with them), so an epoch of millions of batches (streamed
    data under ``max_steps``) costs no more than one of ten.

    Example:
        >>> interleaved(4, 1, [1, 2], 5)  # global steps 1, 3, 4, 6 after each batch: 4 batches
        ([4, 2], 4)
        >>> interleaved(4, 1, [1, 2], 12)  # two epochs of 6
        ([8, 4], 8)
    """

    def together(windows: int) -> int:
        return sum(steps_in(batches, accumulate, every, windows) for every in everies)

    windows = windows_in(batches, accumulate)
    per_epoch = together(windows)
    if not per_epoch:
        return [0] * len(everies), 0
    full = global_steps // per_epoch
    if full and full * per_epoch >= global_steps:
        full -= 1  # end inside the last epoch, at the window that reaches it
    last = bisect_left(range(windows + 1), global_steps - full * per_epoch, key=together)
    steps = [
        full * steps_in(batches, accumulate, every) + steps_in(batches, accumulate, every, last)
        for every in everies
    ]
    return steps, full * windows + last
