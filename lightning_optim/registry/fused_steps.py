"""Step hooks that keep torch's fused kernels training like torch's default where torch 2.13 would fail.

torch's fused ``SGD`` with momentum takes a step as the first one only when *every* momentum buffer of the
param group is still missing (``torch/optim/sgd.py``, ``_fused_sgd``: ``is_first_step = all(t is None for t
in momentum_buffer_list)``). A parameter that gets its first gradient after the others (an auxiliary loss
switched on later, an MoE expert routed to only later, a layer unfrozen mid-run) hands a missing buffer to
``torch._fused_sgd_``, which raises ``TypeError: expected Tensor as element ... but got NoneType``. torch's
for-loop and ``foreach`` steps start that parameter's buffer at its gradient (the same rule torch states
for SGD: "the momentum gets updated to be the first non-None grad", pytorch #122131).

``FusedSgdFirstMomentum`` gives such a parameter, before the step, a momentum buffer of zeros: the fused
kernel's later-step rule ``buf = momentum * buf + (1 - dampening) * grad`` then yields exactly ``grad`` with
``dampening=0`` (torch's default, and required by ``nesterov``), bit for bit what the kernel's own first step
computes. With ``dampening != 0`` no buffer does that, so that one step of the group runs torch's
default implementation (``fused`` off, restored after the step); under a gradient scaler (fp16 mixed
precision, only with an explicit ``implementation="fused"``: ``"auto"`` avoids fused kernels there) torch's
other implementations cannot take the scaled gradients, so that step is refused. It only reads which gradients and buffers
exist (host-side attributes), so the fused step stays free of host-device synchronisation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch


def after_gradients(args: Any, kwargs: Any, action: Callable[[], None]) -> Any:
    """What a step pre-hook returns so that ``action`` runs once the step's gradients exist.

    In automatic optimization Lightning passes the step a closure that runs the forward and backward inside
    ``step`` (after the pre-hooks), so the hook wraps it: ``action`` runs right after it. Without a closure
    (manual optimization, a gradient scaler's step) the gradients are there already: ``action`` runs now.
    """
    # torch hands a pre-hook the step's own arguments, the optimizer (`self`) first
    closure = kwargs.get("closure", args[1] if len(args) > 1 else None)
    if closure is None:
        action()
        return None

    def closure_then_action() -> Any:
        loss = closure()
        action()
        return loss

    if "closure" in kwargs:
        return args, {**kwargs, "closure": closure_then_action}
    return (args[0], closure_then_action, *args[2:]), kwargs


def _late_parameters(
    optimizer: torch.optim.Optimizer, group: dict[str, Any]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each parameter of ``group`` with a gradient but no momentum buffer yet, with its gradient, when others
    with a gradient have one (``[]`` otherwise: the kernel's own first step is right for all or none)."""
    late, started = [], False
    for param in group["params"]:
        grad = param.grad
        if grad is None:
            continue
        if optimizer.state.get(param, {}).get("momentum_buffer") is None:
            late.append((param, grad))
        else:
            started = True
    return late if started else []


def _fused_momentum_groups(optimizer: torch.optim.Optimizer) -> Iterator[dict[str, Any]]:
    for group in optimizer.param_groups:
        if group.get("fused") and group.get("momentum", 0) != 0:
            yield group


class FusedSgdFirstMomentum:
    """A step pre-hook (with its post-hook) on a fused ``torch.optim.SGD``: see the module docstring.

    Example:
        >>> a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
        >>> sgd = torch.optim.SGD([a, b], lr=0.1, momentum=0.9, fused=True)
        >>> FusedSgdFirstMomentum.install("Model.optimizer", sgd)
        >>> a.grad = torch.ones(2); sgd.step()  # b has no gradient yet
        >>> a.grad = b.grad = torch.ones(2); sgd.step()  # torch alone raises a TypeError here
        >>> b.detach()
        tensor([0.9000, 0.9000])
    """

    def __init__(self, where: str) -> None:
        self.where = where
        #: the param groups whose ``fused`` is off for the step under way
        self.unfused: list[dict[str, Any]] = []

    @classmethod
    def install(cls, where: str, optimizer: torch.optim.Optimizer) -> None:
        hook = cls(where)
        optimizer.register_step_pre_hook(hook.before)
        optimizer.register_step_post_hook(hook.after)

    def before(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> Any:
        self.restore()  # a step that raised never ran `after`
        return after_gradients(args, kwargs, lambda: self.prepare(optimizer))

    def prepare(self, optimizer: torch.optim.Optimizer) -> None:
        """Start the missing momentum buffers, or unfuse the group for this step (see the module docstring)."""
        for group in _fused_momentum_groups(optimizer):
            late = _late_parameters(optimizer, group)
            if not late:
                continue
            if group["dampening"] == 0:
                for param, grad in late:
                    optimizer.state[param]["momentum_buffer"] = torch.zeros_like(
                        grad, memory_format=torch.preserve_format
                    )
            else:
                self._check_unscaled(optimizer, group)
                group["fused"] = False
                self.unfused.append(group)

    def _check_unscaled(self, optimizer: torch.optim.Optimizer, group: dict[str, Any]) -> None:
        if getattr(optimizer, "grad_scale", None) is None:  # set by `GradScaler.step` for a fused optimizer
            return
        raise ValueError(
            f"{self.where}: Expected `dampening=0` for a fused `SGD` under a gradient scaler when a parameter gets "
            f"its first gradient after the others but got dampening={group['dampening']!r}: torch's fused kernel "
            "cannot start that parameter's momentum buffer, and its other implementations do not take scaled "
            "gradients. Use `implementation='auto'` (it picks torch's default under a gradient scaler) or "
            "`dampening=0`."
        )

    def after(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self.restore()

    def restore(self) -> None:
        for group in self.unfused:
            group["fused"] = True
        self.unfused.clear()


def install_fused_step_hooks(where: str, optimizer: torch.optim.Optimizer) -> None:
    """Register the hooks above on ``optimizer`` (declared by ``where``) where some param group of it steps fused."""
    if isinstance(optimizer, torch.optim.SGD) and any(g.get("fused") for g in optimizer.param_groups):
        FusedSgdFirstMomentum.install(where, optimizer)
