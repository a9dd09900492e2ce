"""The callbacks the mixin adds to a ``Trainer`` when ``fit`` starts."""

from __future__ import annotations

from typing import Any, cast

from lightning.pytorch import Callback, Trainer


def put_first(trainer: Trainer, callback: Callback) -> None:
    """Make ``callback`` the first of ``trainer.callbacks``, replacing one of its type from an earlier ``fit``.

    First, so it acts before other callbacks read the learning rates or write a checkpoint in the same hook.
    """
    callbacks: list[Callback] = cast(Any, trainer).callbacks
    callbacks[:] = [c for c in callbacks if type(c) is not type(callback)]
    callbacks.insert(0, callback)
