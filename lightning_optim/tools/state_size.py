"""The bytes of optimizer state each param group holds: what a user compares when choosing an 8-bit optimizer.

Optimizers create their state in their first step, so the size is measured: one step of the optimizer on
zero gradients over the real parameters, which are put back bit for bit afterwards (values and gradients),
and the optimizer is thrown away. That counts exactly what the run will hold, for any optimizer: bitsandbytes'
8-bit codes and block scales, torchao's quantized tensor subclasses (counted by their inner tensors), the
parameters a ``ParamGroup(optim_bits=32)`` or transformers' embedding rule keeps in 32 bits. Each storage is
counted once, in the first group that holds it (bitsandbytes shares its quantization maps). It needs memory
for a copy of the parameters while it runs. State that grows over the run (``LBFGS``'s history) is counted
as it is after that first step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from lightning_optim.utilities.lazy import is_uninitialized


def tensor_bytes(value: Any, seen: set[tuple[str, int]]) -> int:
    """The bytes of the storages behind ``value`` (a tensor, a tensor subclass or a container of them) that
    are not in ``seen``, which it extends.

    Example:
        >>> tensor_bytes({"exp_avg": torch.zeros(10), "step": torch.tensor(1.0), "n": 3}, set())
        44
    """
    if isinstance(value, torch.Tensor):
        if type(value) not in (torch.Tensor, torch.nn.Parameter) and hasattr(value, "__tensor_flatten__"):
            inner, _ = value.__tensor_flatten__()  # torchao's OptimState8bit: codes, scale, qmap
            return sum(tensor_bytes(getattr(value, name), seen) for name in inner)
        storage = value.untyped_storage()
        key = (str(value.device), storage.data_ptr())
        if storage.data_ptr() != 0 and key in seen:
            return 0
        seen.add(key)
        return int(storage.nbytes())
    if isinstance(value, dict):
        return sum(tensor_bytes(item, seen) for item in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(item, seen) for item in value)
    return 0


def _zero_gradient(optimizer: torch.optim.Optimizer, param: torch.Tensor) -> torch.Tensor:
    gradient = torch.zeros_like(param)
    return gradient.to_sparse() if isinstance(optimizer, torch.optim.SparseAdam) else gradient


def state_bytes(optimizer: torch.optim.Optimizer) -> Sequence[int] | None:
    """The state bytes of each param group after one step on zero gradients; ``None`` if that step fails
    or a parameter is uninitialized (``nn.LazyLinear`` before its first forward).

    Example:
        >>> net = torch.nn.Linear(4, 2)
        >>> before = net.weight.detach().clone()
        >>> state_bytes(torch.optim.Adam(net.parameters(), weight_decay=0.1))  # exp_avg, exp_avg_sq, step
        [88]
        >>> torch.equal(net.weight, before), net.weight.grad is None
        (True, True)
    """
    params = list({id(p): p for g in optimizer.param_groups for p in g["params"]}.values())
    if any(is_uninitialized(p) for p in params):
        return None  # a lazy module's parameters have no shape before its first forward
    saved = [(p, p.detach().clone(), p.grad) for p in params]
    try:
        for param in params:
            param.grad = _zero_gradient(optimizer, param)
        train = getattr(optimizer, "train", None)
        if callable(train):  # schedule-free optimizers step in train mode only
            train()
        optimizer.step(lambda: 0.0)
    except Exception:  # an optimizer that cannot step here (a closure of its own, ...): unknown size
        return None
    finally:
        with torch.no_grad():
            for param, value, gradient in saved:
                param.copy_(value)
                param.grad = gradient
    seen: set[tuple[str, int]] = set()
    return [
        sum(tensor_bytes(optimizer.state.get(p, {}), seen) for p in group["params"])
        for group in optimizer.param_groups
    ]
