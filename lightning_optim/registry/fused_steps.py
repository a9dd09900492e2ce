"""Step hooks that keep torch's fused kernels training like torch's default where torch 2.13 would fail.

Two cases: sparse gradients no module announces (``FusedSparseGradients``), and the first momentum of a
fused ``SGD`` parameter whose first gradient comes after the others' (``FusedSgdFirstMomentum``).

torch's fused ``SGD`` with momentum takes a step as the first one only when *every* momentum buffer of the
param group is still missing (``torch/optim/sgd.py``, ``_fused_sgd``: ``is_first_step = all(t is None for t
in momentum_buffer_list)``). A parameter that gets its first gradient after the others (an auxiliary loss
switched on later, an MoE expert routed to only later, a layer unfrozen mid-run) hands a missing buffer to
``torch._fused_sgd_``, which raises ``TypeError: expected Tensor as element ... but got NoneType``. torch's
for-loop and ``foreach`` steps start that parameter's buffer at its gradient, on the step it gets its first
one (the rule torch's maintainers keep for a parameter frozen at first, pytorch #122131's review).

``FusedSgdFirstMomentum`` gives such a parameter, before the step, a momentum buffer of zeros: the fused
kernel's later-step rule ``buf = momentum * buf + (1 - dampening) * grad`` then yields exactly ``grad`` with
``dampening=0`` (torch's default, and required by ``nesterov``), bit for bit what the kernel's own first step
computes. With ``dampening != 0`` no buffer does that, so that one step of the group runs torch's
default implementation (``fused`` off, restored after the step); under a gradient scaler (fp16 mixed
precision, only with an explicit ``implementation="fused"``: ``"auto"`` avoids fused kernels there) torch's
other implementations cannot take the scaled gradients, so that step is refused. The hooks only read which
gradients and buffers exist (host-side attributes), so the fused step stays free of host-device
synchronisation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

log = logging.getLogger("lightning_optim")


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
        #: every parameter has its momentum buffer: no later step can need the hook (it then costs one check)
        self.done = False

    @classmethod
    def install(cls, where: str, optimizer: torch.optim.Optimizer) -> None:
        hook = cls(where)
        optimizer.register_step_pre_hook(hook.before)
        optimizer.register_step_post_hook(hook.after)

    def before(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> Any:
        if self.done:
            return None
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
        if self.done:
            return
        self.restore()
        self.done = all(
            "momentum_buffer" in optimizer.state.get(param, {})
            for group in _fused_momentum_groups(optimizer)
            for param in group["params"]
        )

    def restore(self) -> None:
        for group in self.unfused:
            group["fused"] = True
        self.unfused.clear()


class FusedSparseGradients:
    """A step pre-hook on an optimizer with fused param groups for the sparse gradients no module announces.

    torch's fused kernels refuse sparse gradients with a ``RuntimeError`` from inside the step. A module with
    ``sparse=True`` is seen when the optimizer is built (``"auto"`` keeps torch's default for it, a declared
    fused kernel is refused: ``implementation.check_sparse``), but ``F.embedding(..., sparse=True)`` on a plain
    parameter only shows in the gradient. Where ``"auto"`` chose the kernel (``fallback``), the optimizer then
    takes torch's default (``fused=None``, the constructor's default) from that step on, as ``"auto"`` would
    have chosen had it known, with one INFO line; a declared fused kernel is refused, naming the parameter.
    """

    def __init__(
        self, where: str, names: Mapping[int, str], fallback: bool, params: list[torch.Tensor]
    ) -> None:
        self.where = where
        self.names = names
        self.fallback = fallback
        self.steps = 0
        #: the parameters of fused groups whose gradient was not seen yet: a parameter's gradient is sparse or
        #: dense from its first on (the op that makes it decides), so once all were seen the hook costs a check
        self.unseen = params

    def before(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> Any:
        self.steps += 1
        if not self.unseen:
            return None
        return after_gradients(args, kwargs, lambda: self.check(optimizer))

    def check(self, optimizer: torch.optim.Optimizer) -> None:
        param = next((p for p in self.unseen if p.grad is not None and p.grad.is_sparse), None)
        self.unseen = [p for p in self.unseen if p.grad is None]
        if param is None:
            return
        self.unseen = []  # refused, or torch's default from now on
        name = self.names.get(id(param), "?")
        cls = type(optimizer).__name__
        if not self.fallback:
            raise ValueError(
                f"{self.where}: Expected dense gradients for a declared fused kernel but parameter `{name}` got "
                f"a sparse one at this optimizer's step {self.steps}: torch's fused `{cls}` does not take them. "
                "Use `implementation='auto'` (torch's default for sparse gradients) or 'foreach'."
            )
        for group in [*optimizer.param_groups, optimizer.defaults]:
            if group.get("fused"):
                group["fused"] = None
        log.info(
            "%s: `%s` falls back to torch's default implementation from this optimizer's step %d on: parameter "
            "`%s` got a sparse gradient, which torch's fused kernel does not take.",
            self.where,
            cls,
            self.steps,
            name,
        )


def install_fused_step_hooks(
    where: str, optimizer: torch.optim.Optimizer, names: Mapping[int, str], *, auto: bool
) -> None:
    """Register the hooks above on ``optimizer`` (declared by ``where``) where some param group of it steps
    fused. ``names``: each parameter's name by id; ``auto``: whether ``implementation="auto"`` chose fused."""
    if not any(g.get("fused") for g in optimizer.param_groups):
        return
    # registered first, checked first: a sparse gradient must not get a momentum buffer started below
    fused = [p for g in optimizer.param_groups if g.get("fused") for p in g["params"]]
    optimizer.register_step_pre_hook(FusedSparseGradients(where, names, fallback=auto, params=fused).before)
    if isinstance(optimizer, torch.optim.SGD):
        FusedSgdFirstMomentum.install(where, optimizer)
