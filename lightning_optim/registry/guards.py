"""Stop training at the step where a learning rate becomes NaN, infinite or negative.

A schedule can drive an lr out of range long after ``fit`` starts (a ``LambdaLR`` whose lambda divides by
zero at epoch 3, ``lambda e: 1 - 0.1 * e`` past epoch 10). Torch then trains on with NaN weights, or
ascends the loss, without a word. The mixin registers ``LearningRateGuard`` as a step pre-hook on every
optimizer it builds, so such an lr fails before the step that would use it, in automatic and manual
optimization alike.

Only Python-number learning rates are checked: reading a tensor lr (``lr=torch.tensor(...)``, e.g. for
capturable/fused optimizers on GPU) would force a device sync on every step, so those are skipped.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import Any


def bad_learning_rate(optimizer: Any) -> tuple[int, float] | None:
    """The first (group index, lr) whose Python-number lr is NaN, infinite or negative, else ``None``.

    Example:
        >>> import torch
        >>> sgd = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        >>> bad_learning_rate(sgd) is None
        True
        >>> sgd.param_groups[0]["lr"] = float("nan")
        >>> bad_learning_rate(sgd)
        (0, nan)
    """
    for index, group in enumerate(optimizer.param_groups):
        lr = group.get("lr")
        if isinstance(lr, (int, float)) and not isinstance(lr, bool) and not (math.isfinite(lr) and lr >= 0):
            return index, float(lr)
    return None


class LearningRateGuard:
    """A torch step pre-hook raising a ``ValueError`` that names the optimizer, group, lr and step.

    Args:
        where: the declaring attribute (``Model.optimizer``), which starts the message.
        group_names: the name of each param group, in order (``None``: reported by its index).
        trainer: the ``Trainer`` whose position (global step, epoch, batch) the message reports, if any.
    """

    def __init__(self, where: str, group_names: Sequence[str | None], trainer: Any = None) -> None:
        self.where = where
        self.group_names = list(group_names)
        self.trainer = trainer
        self.steps = 0

    def __call__(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        bad = bad_learning_rate(optimizer)
        self.steps += 1
        if bad is None:
            return
        index, lr = bad
        name = self.group_names[index] if index < len(self.group_names) else None
        group = f"`{name}`" if name else str(index)
        position = f"this optimizer's step {self.steps}"
        if self.trainer is not None:
            position += (
                f" (global step {self.trainer.global_step}, epoch {self.trainer.current_epoch}, "
                f"batch {self.trainer.fit_loop.epoch_loop.batch_idx})"
            )
        raise ValueError(
            f"{self.where}: Expected the lr of param group {group} to be a finite number >= 0 but got {lr!r} "
            f"before {position}. The lr schedule produced it; check the scheduler's arguments "
            "(e.g. a `lr_lambda` that reaches 0/0 or goes negative)."
        )


class SparseGradientGuard:
    """``SparseAdam`` needs sparse gradients: a dense one fails as it is accumulated, naming the parameter.

    Torch raises a bare ``RuntimeError`` from inside the step, and in automatic optimization the gradients
    only exist inside the step (Lightning's closure runs the backward there), so the check is a
    post-accumulate-grad hook on each parameter. It holds the optimizer weakly and stays silent once the
    optimizer is gone, so a parameter later trained by another optimizer is not affected.
    """

    def __init__(self, where: str, optimizer: Any, name: str) -> None:
        self.where = where
        self.optimizer = weakref.ref(optimizer)
        self.name = name

    @classmethod
    def install(cls, where: str, optimizer: Any, named: Sequence[tuple[str, Any]]) -> None:
        for name, param in named:
            param.register_post_accumulate_grad_hook(cls(where, optimizer, name))

    def __call__(self, param: Any) -> None:
        optimizer = self.optimizer()
        if optimizer is not None and param.grad is not None and not param.grad.is_sparse:
            raise ValueError(
                f"{self.where}: Expected sparse gradients for `{type(optimizer).__name__}` but parameter "
                f"`{self.name}` got a dense one. Select only parameters of `nn.Embedding(..., sparse=True)` "
                "for it, or use another optimizer (e.g. `adam`)."
            )
