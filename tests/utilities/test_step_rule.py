"""Lightning's stepping rule counted over an epoch (``utilities/step_rule.py``): the counts taken from where the
windows end equal going through the windows one by one, as they were computed before, for any epoch length,
accumulation (a partial last window or none), ``every`` values and point in the run; and an epoch of ten million
batches is counted without going through it (fit and every epoch start count with them: it took 35 s of CPU at a
million batches)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightning_optim.utilities import step_rule
from lightning_optim.utilities.step_rule import (
    interleaved,
    stepping_batches,
    steps_at,
    steps_in,
    updates_in,
    windows_ending_before,
    windows_in,
)

batches = st.integers(0, 70)
accumulates = st.integers(1, 7)
everies = st.integers(1, 13)


def walked_interleaved(
    windows: Sequence[int], everies: Sequence[int], global_steps: int
) -> tuple[list[int], int]:
    """``interleaved`` as it went through every window of the epoch (over the epoch's window ends)."""
    pattern = [[steps_at(b, every) for every in everies] for b in windows]
    per_epoch = sum(map(sum, pattern))
    if not per_epoch:
        return [0] * len(everies), 0
    full, _ = divmod(global_steps, per_epoch)
    if full and full * per_epoch >= global_steps:
        full -= 1
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


def walked_updates_in(batches: int, accumulate: int, frequency: int, steps: int, every: int = 1) -> int:
    """``updates_in`` as it went through every window of the epoch."""
    stepping = [steps_at(b, frequency) for b in stepping_batches(batches, accumulate) if steps_at(b, every)]
    full, partial = divmod(steps, len(stepping)) if stepping else (0, 0)
    return full * sum(stepping) + sum(stepping[:partial])


@given(batches, accumulates, everies)
def test_steps_in_counts_the_window_ends_every_selects(batches: int, accumulate: int, every: int) -> None:
    ends = list(stepping_batches(batches, accumulate))
    assert windows_in(batches, accumulate) == len(ends)
    assert steps_in(batches, accumulate, every) == sum(steps_at(b, every) for b in ends)
    for windows in range(-1, len(ends) + 3):
        walked = sum(steps_at(b, every) for b in islice(ends, max(windows, 0)))
        assert steps_in(batches, accumulate, every, windows) == walked, windows


@given(batches, accumulates)
def test_windows_ending_before_counts_the_windows_done(batches: int, accumulate: int) -> None:
    ends = list(stepping_batches(batches, accumulate))
    for batch_idx in range(-1, batches + 3):
        assert windows_ending_before(batches, accumulate, batch_idx) == sum(end < batch_idx for end in ends)


@given(batches, accumulates, st.lists(everies, min_size=1, max_size=4))
def test_interleaved_counts_as_going_through_the_windows(
    batches: int, accumulate: int, everies: list[int]
) -> None:
    ends = list(stepping_batches(batches, accumulate))
    per_epoch = sum(steps_at(b, every) for b in ends for every in everies)
    for global_steps in range(-2 * per_epoch - 2, 3 * per_epoch + 3):
        walked = walked_interleaved(ends, everies, global_steps)
        assert interleaved(batches, accumulate, everies, global_steps) == walked, global_steps


@given(batches, accumulates, st.integers(1, 9), everies)
def test_updates_in_counts_as_going_through_the_windows(
    batches: int, accumulate: int, frequency: int, every: int
) -> None:
    for steps in range(-3, 3 * batches + 4):
        walked = walked_updates_in(batches, accumulate, frequency, steps, every)
        assert updates_in(batches, accumulate, frequency, steps, every) == walked, steps


def test_an_epoch_of_ten_million_batches_is_counted_without_going_through_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The walk would ask ``steps_at`` of each of the 10**7 windows; the counts ask it of the last one at most, by
    hand: every=3 steps at batches 2, 5, ..., 9_999_998 (3_333_333 steps), every=1 at each."""
    calls = []

    def counted(batch_idx: int, frequency: int) -> bool:
        calls.append(batch_idx)
        return (batch_idx + 1) % frequency == 0

    monkeypatch.setattr(step_rule, "steps_at", counted)
    epoch = 10**7
    assert steps_in(epoch, 1, 3) == 3_333_333
    assert interleaved(epoch, 1, [1, 3], 2 * (epoch + 3_333_333) + 5) == (
        [2 * epoch + 4, 6_666_667],
        2 * epoch + 4,
    )
    assert (
        updates_in(epoch, 2, 4, 5_000_000 + 3) == 2_500_000 + 1
    )  # windows end at odd batches: every other one
    assert len(calls) < 100
