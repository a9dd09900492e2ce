"""Stop training at the step where a learning rate becomes NaN, infinite or negative.

A schedule can drive an lr out of range long after ``fit`` starts (a ``LambdaLR`` whose lambda divides by
zero at epoch 3, ``lambda e: 1 - 0.1 * e`` past epoch 10). Torch then trains on with NaN weights, or
ascends the loss, without a word. The mixin registers ``LearningRateGuard`` as a step pre-hook on every
optimizer it builds, so such an lr fails before the step that would use it, in automatic and manual
optimization alike.

The options a ``SchedulerSpec(param=...)`` schedule drives are checked the same way, against what torch's
constructors accept for them (a finite ``weight_decay``/``momentum`` >= 0, a beta in [0, 1)): a cosine to
``eta_min=1.5`` on ``beta1`` would otherwise train on ``betas=(1.5, 0.999)``, which torch refuses to build.
Where the parameters are float16 or bfloat16 (decided once, when ``fit`` starts), they are also checked
against what that dtype keeps, by the rules ``registry/precision.py`` applies to the declared values: a
cosine of ``beta2`` from 0.99 to 0.999 reaches values bfloat16 makes 1.0 (``Rounding.loss``).

Python numbers and 0-dim tensors on the CPU are checked: ``implementation="compiled"`` holds the lr and the
betas as CPU tensors (``building/compiled.py``), and reading one costs no transfer. A tensor on an accelerator
(``lr=torch.tensor(..., device="cuda")`` for a capturable or fused optimizer) is skipped: reading it would
force a device sync on every step.
"""

from __future__ import annotations

import math
import numbers
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch

from lightning_optim.registry.precision import Rounding, way_out
from lightning_optim.schedules.param_view import target_of


def number_in(value: Any) -> float | None:
    """``value`` as a Python float where reading it costs no device sync (a number, a 0-dim CPU tensor), else
    ``None`` (a bool, a tensor on an accelerator, anything else).

    Example:
        >>> number_in(0.1), number_in(torch.tensor(2.0)), number_in(True), number_in(torch.zeros(2))
        (0.1, 2.0, None, None)
        >>> number_in(torch.tensor(2.0, device="meta")) is None  # as one on an accelerator
        True
    """
    if isinstance(value, torch.Tensor):
        return float(value.item()) if value.ndim == 0 and value.device.type == "cpu" else None
    return float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else None


def shown(value: Any) -> float:
    """``value`` for a message: a tensor's as the shortest decimal its dtype reads back the same (the compiled
    step's float32 lr ``-0.005`` is not ``-0.004999999888241291``).

    Example:
        >>> shown(torch.tensor(-0.005)), shown(torch.tensor(1.2, dtype=torch.float64)), shown(0.1)
        (-0.005, 1.2, 0.1)
    """
    if not isinstance(value, torch.Tensor):
        return float(value)
    number = float(value.item())
    for digits in range(1, 18):
        short = float(f"{number:.{digits}g}")
        if torch.tensor(short, dtype=value.dtype) == value:
            return short
    return number


def bad_learning_rate(optimizer: Any) -> tuple[int, float] | None:
    """The first (group index, lr) whose lr (read without a device sync, ``number_in``) is NaN, infinite or
    negative, else ``None``.

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
        if type(lr) is not float:  # read here, once a step for every group: a float needs no call
            lr = number_in(lr)
        if lr is not None and not (math.isfinite(lr) and lr >= 0):
            return index, shown(group["lr"])
    return None


def _accepted(key: str, value: float) -> str | None:
    """What torch's constructors accept for option ``key``, when ``value`` is not that."""
    if key == "betas":
        return None if 0.0 <= value < 1.0 else "a number in [0, 1)"
    if key in ("weight_decay", "momentum"):
        return None if math.isfinite(value) and value >= 0 else "a finite number >= 0"
    return None if math.isfinite(value) else "a finite number"


def bad_option(optimizer: Any, params: Sequence[str]) -> tuple[int, str, float, str] | None:
    """The first (group index, option, value, what is accepted) of the options ``params`` (``SchedulerSpec``'s
    ``param`` names) whose value (read without a device sync, ``number_in``) torch would not accept, else
    ``None``.

    Example:
        >>> import torch
        >>> adam = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], betas=(0.9, 0.999))
        >>> bad_option(adam, ["beta1"]) is None
        True
        >>> adam.param_groups[0]["betas"] = (1.5, 0.999)
        >>> bad_option(adam, ["beta1"])
        (0, 'beta1', 1.5, 'a number in [0, 1)')
    """
    for index, param, where, value in option_values(optimizer.param_groups, params):
        key = where.partition("[")[0]
        number = number_in(value)
        if number is not None and (accepted := _accepted(key, number)) is not None:
            return index, param, shown(value), accepted
    return None


def lost_option(
    optimizer: Any, params: Sequence[str], roundings: Sequence[Rounding | None]
) -> tuple[int, str, float, str, str] | None:
    """The first (group index, option, value, dtype, what the dtype makes of it and why that matters) of the
    options ``params`` names whose value a group's low-precision dtype loses (``Rounding.loss``), else ``None``.

    Example:
        >>> import torch
        >>> from lightning_optim.registry.precision import ARITHMETIC
        >>> adam = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], betas=(0.9, 0.99))
        >>> roundings = [Rounding(ARITHMETIC[torch.optim.Adam], (torch.bfloat16,), floors_in_float32=False)]
        >>> lost_option(adam, ["beta2"], roundings) is None
        True
        >>> adam.param_groups[0]["betas"] = (0.9, 0.999)
        >>> lost_option(adam, ["beta2"], roundings)[:4]
        (0, 'beta2', 0.999, 'bfloat16')
    """
    for index, param, where, value in option_values(optimizer.param_groups, params):
        rounding = roundings[index] if index < len(roundings) else None
        number = number_in(value)
        if rounding is None or number is None:
            continue
        if (lost := rounding.loss(where.partition("[")[0], number)) is not None:
            dtype, becomes, why = lost
            return index, param, shown(value), dtype, f"{becomes}; {why}"
    return None


def option_values(
    groups: Iterable[Mapping[str, Any]], params: Iterable[str]
) -> Iterator[tuple[int, str, str, Any]]:
    """Each group's value of each option ``params`` names (``SchedulerSpec``'s ``param``): the group's index, the
    name, where the value lives (``"betas[0]"`` for a ``beta1``) and the value (``None`` where it is missing).

    Example:
        >>> list(option_values([{"betas": (0.9, 0.99), "weight_decay": 0.1}], ["beta1", "weight_decay"]))
        [(0, 'beta1', 'betas[0]', 0.9), (0, 'weight_decay', 'weight_decay', 0.1)]
    """
    params = list(params)
    for index, group in enumerate(groups):
        for param in params:
            key, position = target_of(param, group)
            value = group.get(key)
            if position is not None:
                value = (
                    value[position] if isinstance(value, (tuple, list)) and len(value) > position else None
                )
            yield index, param, key if position is None else f"{key}[{position}]", value


class LearningRateGuard:
    """A torch step pre-hook raising a ``ValueError`` that names the optimizer, group, lr and step.

    Args:
        where: the declaring attribute (``Model.optimizer``), which starts the message.
        group_names: the name of each param group, in order (``None``: reported by its index).
        trainer: the ``Trainer`` whose position (global step, epoch, batch) the message reports, if any.
        params: the other options ``param=`` schedules drive (``"weight_decay"``, ``"beta1"``, ...).
        roundings: each group's ``Rounding`` where the parameters are float16 or bfloat16
            (``precision.roundings``), whose losses of the driven options are refused too; ``None``: none.
    """

    def __init__(
        self,
        where: str,
        group_names: Sequence[str | None],
        trainer: Any = None,
        params: Sequence[str] = (),
        roundings: Sequence[Rounding | None] | None = None,
    ) -> None:
        self.where = where
        self.group_names = list(group_names)
        self.trainer = trainer
        self.params = tuple(params)
        self.roundings = roundings if self.params else None
        self.steps = 0

    def __call__(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        bad = bad_learning_rate(optimizer)
        self.steps += 1
        if bad is not None:
            index, lr = bad
            self._refuse(
                index,
                "lr",
                lr,
                "a finite number >= 0",
                "The lr schedule produced it; check the "
                "scheduler's arguments (e.g. a `lr_lambda` that reaches 0/0 or goes negative).",
            )
        if self.params and (option := bad_option(optimizer, self.params)) is not None:
            index, param, value, accepted = option
            self._refuse(
                index,
                param,
                value,
                accepted,
                f"The `param={param!r}` schedule produced it (torch "
                "refuses that value when the optimizer is built); check the scheduler's arguments.",
            )
        if self.roundings is not None and (lost := lost_option(optimizer, self.params, self.roundings)):
            index, param, value, dtype, why = lost
            self._refuse(
                index,
                param,
                value,
                f"a value {dtype} parameters keep",
                f"{why}. The `param={param!r}` schedule produced it; check the scheduler's arguments, or "
                f"{way_out(getattr(self.trainer, 'precision', None), [dtype])}.",
            )

    def _refuse(self, index: int, option: str, value: float, accepted: str, cause: str) -> None:
        name = self.group_names[index] if index < len(self.group_names) else None
        group = f"`{name}`" if name else str(index)
        position = f"this optimizer's step {self.steps}"
        if self.trainer is not None:
            position += (
                f" (global step {self.trainer.global_step}, epoch {self.trainer.current_epoch}, "
                f"batch {self.trainer.fit_loop.epoch_loop.batch_idx})"
            )
        raise ValueError(
            f"{self.where}: Expected the {option} of param group {group} to be {accepted} but got {value!r} "
            f"before {position}. {cause}"
        )


class SparseGradientGuard:
    """``SparseAdam`` needs sparse gradients: a dense one fails as it is accumulated, naming the parameter.

    Torch raises a bare ``RuntimeError`` from inside the step, and in automatic optimization the gradients
    only exist inside the step (Lightning's closure runs the backward there), so the check is a
    post-accumulate-grad hook on each parameter. It holds the optimizer weakly and stays silent once the
    optimizer is gone, so a parameter later trained by another optimizer is not affected.
    """

    def __init__(self, where: str, optimizer: Any, name: str, tied: tuple[str, str] | None = None) -> None:
        self.where = where
        self.optimizer = weakref.ref(optimizer)
        self.name = name
        #: its names in a module with ``sparse=True`` and in one without that holds it too
        #: (``implementation.tied_to_dense``)
        self.tied = tied

    @classmethod
    def install(
        cls, where: str, optimizer: Any, named: Sequence[tuple[str, Any]], tied: Mapping[int, tuple[str, str]]
    ) -> None:
        for name, param in named:
            param.register_post_accumulate_grad_hook(cls(where, optimizer, name, tied.get(id(param))))

    def __call__(self, param: Any) -> None:
        optimizer = self.optimizer()
        if optimizer is None or param.grad is None or param.grad.is_sparse:
            return
        expected = (
            f"{self.where}: Expected sparse gradients for `{type(optimizer).__name__}` but parameter "
            f"`{self.name}` got a dense one"
        )
        if self.tied is not None:
            sparse, dense = self.tied
            raise ValueError(
                f"{expected}: it is `{sparse}` of a module with `sparse=True` and `{dense}` of one without, and "
                "torch sums their gradients into a dense one. Give it an optimizer that takes dense gradients (e.g. "
                "`adam`), or untie them."
            )
        raise ValueError(
            f"{expected}. Select only parameters of `nn.Embedding(..., sparse=True)` for it, or use another "
            "optimizer (e.g. `adam`)."
        )
