"""Every process's numbers, gathered: how the processes of a multi-process run tell that they agree.

Under DDP each process holds its own run (its own data, its own logged metrics), and a value it derives from
that run may differ from the other processes' without any of them noticing: each would train with its own lr,
and the replicas drift apart. Checking agreement takes the values of all, so every process sends its own in
one ``all_gather`` of a fixed-size float64 tensor (the same size on every process, as the collective needs),
and each gets the same table back to refuse from alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def gathered(trainer: Any, numbers: Sequence[float]) -> list[list[float]]:
    """Every process's ``numbers``, by rank (each process must call it at the same point, with as many).

    Example:
        >>> from types import SimpleNamespace
        >>> alone = SimpleNamespace(root_device=torch.device("cpu"), all_gather=lambda tensor: tensor)
        >>> gathered(SimpleNamespace(strategy=alone), [1, 2.5])
        [[1.0, 2.5]]
    """
    mine = torch.tensor(list(numbers), dtype=torch.float64, device=trainer.strategy.root_device)
    return trainer.strategy.all_gather(mine).reshape(-1, len(numbers)).tolist()


def on_ranks(values: Sequence[tuple[int, Any]]) -> str:
    """Each ``(rank, value)`` in words, a float as short as still tells the values apart (the values compared by
    their full ``repr``, as they may be lists: an epoch-valued argument's milestones).

    Example:
        >>> on_ranks([(0, 0.3100000023841858), (1, 0.27)])
        '0.31 on rank 0, 0.27 on rank 1'
        >>> on_ranks([(0, 1.0000001), (1, 1.0)])
        '1.0000001 on rank 0, 1.0 on rank 1'
        >>> on_ranks([(0, 16), (1, None)])
        '16 on rank 0, None on rank 1'
        >>> on_ranks([(0, [8, 24]), (1, [6, 18])])
        '[8, 24] on rank 0, [6, 18] on rank 1'
    """
    short = [f"{value:.6g}" if isinstance(value, float) else str(value) for _, value in values]
    if len(set(short)) < len({repr(value) for _, value in values}):
        short = [repr(value) for _, value in values]
    return ", ".join(f"{text} on rank {rank}" for (rank, _), text in zip(values, short))
