"""The callbacks the mixin adds to a ``Trainer`` when ``fit`` starts."""

from __future__ import annotations

from typing import Any, cast

from lightning.pytorch import Callback, Trainer

from lightning_optim.utilities import compat


class MixinCallback(Callback):
    """A callback the mixin installs. It leaves the per-batch hooks its class does not override unset, so
    Lightning skips them at every batch (each dispatch costs a profiler context and a ``state_key`` string;
    ``benchmarks/bench_overhead.py``)."""

    def __init__(self) -> None:
        super().__init__()
        compat.disable_unused_batch_hooks(self)


def put_first(trainer: Trainer, callback: Callback) -> None:
    """Make ``callback`` the first of ``trainer.callbacks``, replacing one of its type from an earlier ``fit``.

    First, so it acts before other callbacks read the learning rates or write a checkpoint in the same hook.
    """
    callbacks: list[Callback] = cast(Any, trainer).callbacks
    callbacks[:] = [c for c in callbacks if type(c) is not type(callback)]
    callbacks.insert(0, callback)
