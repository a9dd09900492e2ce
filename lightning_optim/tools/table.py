"""A compact text table of a previewed schedule: the lrs at the start, at each change of regime, at the end.

A change of regime is where the direction of the lr changes: between rising, falling and constant, with
a relative tolerance. A one-step jump between two constant stretches (a ``StepLR`` drop) is shown once,
at the first step of the new value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lightning_optim.tools.preview import Preview

#: Relative tolerance under which two consecutive lrs count as equal.
RELATIVE_TOLERANCE = 1e-9


def _direction(a: float, b: float) -> int:
    if math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=0.0):
        return 0
    return 1 if b > a else -1


def regime_points(values: Sequence[float]) -> list[int]:
    """The steps where the lr's regime changes, with the first and the last step.

    Example:
        >>> regime_points([1, 1, 1, 0.5, 0.5, 0.5])  # a step-wise drop: shown at its new value
        [0, 3, 5]
        >>> regime_points([0.1, 0.2, 0.3, 0.25, 0.2, 0.2])  # rise, fall, constant
        [0, 2, 4, 5]
    """
    n = len(values)
    if n == 0:
        return []
    directions = [_direction(values[j], values[j + 1]) for j in range(n - 1)]
    points = {0, n - 1}
    for j in range(1, n - 1):
        before, after = directions[j - 1], directions[j]
        if before == after:
            continue
        jump_starts = before == 0 and after != 0 and (j + 1 == n - 1 or directions[j + 1] == 0)
        if not jump_starts:
            points.add(j)
    return sorted(points)


def _lr(value: float) -> str:
    return f"{value:.6g}"


def format_table(result: Preview, *, max_rows: int = 40) -> str:
    """The lr of every key at the regime points of any key, one row per step, with its epoch.

    Example:
        >>> from lightning_optim.tools.preview import Preview, PreviewRun
        >>> run = PreviewRun(batches_per_epoch=3, accumulate_grad_batches=1, manual=False, entries_per_epoch=3,
        ...           entries=6)
        >>> print(format_table(Preview(lrs={"lr-optimizer": [0.1, 0.1, 0.1, 0.01, 0.01, 0.01]}, run=run)))
        step  epoch  lr-optimizer
           0      0           0.1
           3      1          0.01
           5      1          0.01
    """
    points = sorted({p for values in result.lrs.values() for p in regime_points(values)})
    per_epoch = result.run.entries_per_epoch
    keys = list(result.lrs)
    header = ["step", "epoch", *keys]
    rows = [[str(p), str(p // per_epoch), *[_lr(result.lrs[k][p]) for k in keys]] for p in points]
    skipped = 0
    if len(rows) > max_rows:
        half = max_rows // 2
        skipped = len(rows) - 2 * half
        rows = [*rows[:half], *rows[-half:]]
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in [header, *rows]]
    if skipped:
        lines.insert(1 + half, f"{'...':>{widths[0]}}  ({skipped} more rows)")
    return "\n".join(lines)
