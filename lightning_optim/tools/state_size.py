"""The bytes of optimizer state each param group holds: what a user compares when choosing an 8-bit optimizer.

Optimizers create their state in their first step, so the size is measured: one step on zero gradients.

Most optimizers keep, for each parameter, a state that follows from the parameter's shape, dtype, device and
its group's options alone (torch's own, ``MuonWithAdamW``, schedule-free's and torchao's low-bit ones; 8-bit
codes only above a size, Adafactor's factored moments: all decided by the shape). For these the real parameters
are never touched: one zero stand-in per distinct (group, shape, dtype, device) is stepped alone, in a copy of
its group, its state measured and dropped, and counted once per parameter it stands for. That takes, at its
peak, about the memory of the largest parameter, its gradient and its state, whatever the model's size.

Any other optimizer (bitsandbytes', whose state precision is set per parameter outside its groups and whose
quantization maps are shared; another library's class or a subclass, whose step may couple parameters), and one
whose stand-in step fails or leaves state keyed by anything but the stand-in, is stepped over the real
parameters, which are put back bit for bit afterwards (values and gradients), and the optimizer is thrown away.
That counts exactly what the run will hold, for any such optimizer: bitsandbytes' 8-bit codes and block
scales, the parameters a ``ParamGroup(optim_bits=32)`` or transformers' embedding rule keeps in 32 bits, each
storage counted once, in the first group that holds it (bitsandbytes shares its quantization maps).
It needs memory for a copy of the parameters, their gradients and the whole state while it runs.

Tensor subclasses (torchao's ``OptimState8bit``) are counted by their inner tensors.

``LBFGS``'s size is unknown (``None``): on zero gradients its step returns before it keeps anything, and a real
first step keeps a pair of flat vectors for each of its ``max_iter`` inner iterations that the loss lets run and
that passes its curvature test, up to ``history_size`` pairs, which no step without the run's loss can tell.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import torch

from lightning_optim.optimizers.muon_adamw import MuonWithAdamW
from lightning_optim.utilities.lazy import is_uninitialized

#: the packages whose optimizer classes (the classes themselves, not subclasses) keep per-parameter state
_PER_PARAMETER_PACKAGES = ("torch.optim.", "schedulefree.", "torchao.optim.")
#: their classes that do not: ``LBFGS``'s one flat state, torchao's offload wrapper's inner optimizers
_NOT_PER_PARAMETER = ("LBFGS", "CPUOffloadOptimizer")


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


def keeps_state_per_parameter(cls: type) -> bool:
    """Whether ``cls`` is known to keep a state per parameter that only its shape, dtype, device and group
    options decide, so that a stand-in's state is the parameter's: torch's optimizers but ``LBFGS``,
    ``MuonWithAdamW``, schedule-free's and torchao's; not a subclass, whose step may do otherwise.

    Example:
        >>> keeps_state_per_parameter(torch.optim.AdamW), keeps_state_per_parameter(torch.optim.LBFGS)
        (True, False)
        >>> class MyAdam(torch.optim.Adam): ...
        >>> keeps_state_per_parameter(MyAdam)
        False
    """
    if cls.__name__ in _NOT_PER_PARAMETER:
        return False
    return cls is MuonWithAdamW or cls.__module__.startswith(_PER_PARAMETER_PACKAGES)


def _stand_in_key(param: torch.Tensor) -> tuple[Any, ...]:
    """What a per-parameter state depends on besides its group's options."""
    return (tuple(param.shape), param.stride(), param.dtype, param.device, param.layout, param.requires_grad)


def _step(optimizer: torch.optim.Optimizer) -> None:
    train = getattr(optimizer, "train", None)
    if callable(train):  # schedule-free optimizers step in train mode only
        train()
    optimizer.step(lambda: 0.0)


def _stand_in_bytes(optimizer: torch.optim.Optimizer, groups: list[list[torch.Tensor]]) -> list[int] | None:
    """Each group's state bytes from one stepped stand-in per distinct parameter kind, ``None`` where a step
    fails or keeps state for anything but its stand-in. The optimizer's groups and state are put back."""
    real_groups, real_state = optimizer.param_groups, optimizer.state
    sizes = []
    try:
        for index, params in enumerate(groups):
            counts: dict[tuple[Any, ...], tuple[torch.Tensor, int]] = {}
            for param in params:
                kind = _stand_in_key(param)
                first, count = counts.get(kind, (param, 0))
                counts[kind] = (first, count + 1)
            size = 0
            for like, count in counts.values():
                stand_in = torch.nn.Parameter(torch.zeros_like(like), requires_grad=like.requires_grad)
                stand_in.grad = _zero_gradient(optimizer, stand_in)
                # a copy of the group: the step's running values (schedule-free's `k`) stay out of the real one
                optimizer.param_groups = [{**real_groups[index], "params": [stand_in]}]
                optimizer.state = defaultdict(dict)
                _step(optimizer)
                if any(key is not stand_in for key in optimizer.state):
                    return None
                size += count * tensor_bytes(optimizer.state.get(stand_in, {}), set())
            sizes.append(size)
    except Exception:  # measured over the real parameters instead, as any other optimizer
        return None
    finally:
        optimizer.param_groups, optimizer.state = real_groups, real_state
    return sizes


def _real_bytes(optimizer: torch.optim.Optimizer, params: list[torch.Tensor]) -> list[int] | None:
    """Each group's state bytes after one step over the real ``params``, which are put back bit for bit."""
    saved = [(p, p.detach().clone(), p.grad) for p in params]
    try:
        for param in params:
            param.grad = _zero_gradient(optimizer, param)
        _step(optimizer)
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


def state_bytes(optimizer: torch.optim.Optimizer) -> Sequence[int] | None:
    """The state bytes of each param group after one step on zero gradients; ``None`` if that step fails,
    a parameter is uninitialized (``nn.LazyLinear`` before its first forward) or ``optimizer`` is an ``LBFGS``.

    Example:
        >>> net = torch.nn.Linear(4, 2)
        >>> before = net.weight.detach().clone()
        >>> optimizer = torch.optim.Adam(net.parameters(), weight_decay=0.1)
        >>> state_bytes(optimizer)  # exp_avg, exp_avg_sq, step
        [88]
        >>> torch.equal(net.weight, before), net.weight.grad is None, len(optimizer.state)
        (True, True, 0)
    """
    if isinstance(optimizer, torch.optim.LBFGS):
        return None  # its state depends on the run's loss (the module docstring)
    params = list({id(p): p for g in optimizer.param_groups for p in g["params"]}.values())
    if any(is_uninitialized(p) for p in params):
        return None  # a lazy module's parameters have no shape before its first forward
    if keeps_state_per_parameter(type(optimizer)):
        sizes = _stand_in_bytes(optimizer, [list(g["params"]) for g in optimizer.param_groups])
        if sizes is not None:
            return sizes
    return _real_bytes(optimizer, params)
