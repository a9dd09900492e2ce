"""The checks of the ``OptimizerSpec`` options that change the training step: ``skip_nonfinite``, ``loss`` and
``every``, made when the class is defined (an ``HParam`` without default: when ``fit`` reads its value).

Checked per declaration here; what needs the whole class (``loss`` on all the optimizers or none, the method
exists, no ``training_step`` of the module's own next to it) is checked by the mixin
(``training/driven.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lightning_optim.declaring.hparam import HParam
from lightning_optim.registry.optimizers import evaluates_closure
from lightning_optim.utilities.numeric import is_int


def _count(where: str, option: str, value: Any, minimum: int, meaning: str) -> None:
    if (is_int(value) and value >= minimum) or isinstance(value, HParam):  # an HParam: checked when read
        return
    error = ValueError if is_int(value) else TypeError
    raise error(f"{where}: Expected `{option}` to be an int >= {minimum} ({meaning}) but got {value!r}.")


def check_training_step(where: str, cls: type, spec: Any) -> None:
    """Check ``skip_nonfinite``, ``loss`` and ``every`` of the ``OptimizerSpec`` ``spec`` of class ``cls``.

    Example:
        >>> import torch
        >>> from lightning_optim import OptimizerSpec
        >>> check_training_step("Model.optimizer", torch.optim.SGD, OptimizerSpec("sgd", every=2))
        Traceback (most recent call last):
        ...
        ValueError: Model.optimizer: `every=2` steps the optimizer in the training step the mixin writes from `loss`; ...
    """
    _count(where, "skip_nonfinite", spec.skip_nonfinite, 0, "consecutive non-finite updates skipped; 0: off")
    if spec.skip_nonfinite and not isinstance(spec.skip_nonfinite, HParam) and evaluates_closure(cls):
        raise ValueError(
            f"{where}: Expected an optimizer whose step uses the gradients once for `skip_nonfinite` but got "
            f"`{cls.__name__}`, which evaluates its closure again inside the step; remove `skip_nonfinite`."
        )
    _count(where, "every", spec.every, 1, "step on the batches where (batch_idx + 1) % every == 0")
    loss = spec.loss
    if loss is not None and (not isinstance(loss, str) or not loss.isidentifier()):
        raise TypeError(
            f"{where}: Expected `loss` to be the name of a method of the module, "
            f'`method(batch, batch_idx) -> loss` (e.g. `loss="generator_loss"`), but got {loss!r}.'
        )
    if loss == "training_step":
        raise ValueError(
            f"{where}: Expected `loss` to name a method other than `training_step` (the mixin writes the "
            "training step from the declared losses) but got 'training_step'."
        )
    if spec.every != 1 and not isinstance(spec.every, HParam) and loss is None:
        raise ValueError(
            f"{where}: `every={spec.every}` steps the optimizer in the training step the mixin writes from "
            f'`loss`; declare the method that computes its loss too (`loss="<method>"`), or step it yourself '
            "in `training_step` and remove `every`."
        )


def declares_losses(declared: Sequence[Any]) -> bool:
    """Whether resolved declarations make the mixin write the training step: every optimizer declares ``loss``."""
    return bool(declared) and all(d.spec.loss is not None for d in declared)
