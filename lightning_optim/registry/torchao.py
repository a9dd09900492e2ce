"""torchao's optimizers by name (``"torchao/<name>"``): its low-bit Adam/AdamW and its CPU-offload wrapper.

The low-bit optimizers (``"torchao/adamw8bit"``, ``"torchao/adamw4bit"``, ``"torchao/adamwfp8"``, and the
``adam*`` ones) are offered by lower-case class name, wherever they import. They compile their step with
``torch.compile`` on first use (on CPU too: tens of seconds the first time, cached after that).

``CPUOffloadOptimizer`` (``"torchao/cpu_offload"``) moves the optimizer state of a CUDA or XPU model to the
CPU. It is refused with the reason: without such a device it cannot be built at all (torchao asserts one),
and where there is one it splits the declared param groups into one group per offloaded tensor (its
``param_groups`` is rebuilt from them at every access), which the declared groups' names, multipliers,
schedules and ``LRMonitor`` keys cannot follow yet.

The low-bit optimizers keep their state in tensor subclasses (``OptimState8bit``, ...), which ``torch.load``
cannot rebuild under the callable ``map_location`` Lightning loads every checkpoint with, so a checkpoint
holding them could not be resumed. The built optimizer (``prepare``) saves each as the plain tensors and
attributes of its ``__tensor_flatten__`` (``flat_state``), and rebuilds it with ``__tensor_unflatten__`` before
torch loads the state (``rebuilt_state``): Lightning's own save and load need nothing else, and the rebuilt
state is the saved one bit for bit.

Their step also needs each group's ``lr`` to be a tensor and raises where it finds a number, which Lightning's
LR finder writes (and a user may): before each step a number becomes the tensor torchao makes of it
(``tensor_lr``), an ``isinstance`` per group for these optimizers only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch

from lightning_optim.registry.named import NamedOptimizer

#: the key of a saved tensor subclass's entry that names its class (``flat_state``)
SUBCLASS_KEY = "torchao_tensor_subclass"

#: the names of ``CPUOffloadOptimizer``
OFFLOAD_NAMES = ("cpu_offload", "cpuoffloadoptimizer")


def offload_refusal() -> str:
    """Why ``"torchao/cpu_offload"`` cannot be declared on this machine."""
    if not (torch.cuda.is_available() or torch.xpu.is_available()):
        return (
            "Expected a CUDA or XPU device for `torchao/cpu_offload` (torchao's `CPUOffloadOptimizer` moves an "
            "accelerator's optimizer state to the CPU and refuses to build without one) but this machine has "
            "neither. On CPU, save state memory with `torchao/adamw8bit` or `bnb/adamw8bit` instead."
        )
    return (
        "Expected an optimizer that keeps the declared param groups but got `torchao/cpu_offload`: torchao's "
        "`CPUOffloadOptimizer` splits them into one group per offloaded tensor, which the groups' names, "
        "multipliers, schedules and `LRMonitor` keys cannot follow yet. Use `torchao/adamw8bit` or "
        "`bnb/paged_adamw8bit` to save state memory on the device."
    )


def _refuse() -> NamedOptimizer:
    raise ValueError(offload_refusal())


def names(module: Any) -> dict[str, NamedOptimizer | Callable[[], NamedOptimizer]]:
    """``torchao.optim``'s optimizers by lower-case class name, the offload wrapper refused with its reason."""
    found: dict[str, NamedOptimizer | Callable[[], NamedOptimizer]] = {}
    for class_name, cls in sorted(vars(module).items()):
        if class_name.startswith("_") or not (
            isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)
        ):
            continue
        if class_name == "CPUOffloadOptimizer":
            found.update(dict.fromkeys(OFFLOAD_NAMES, _refuse))
            continue
        found[class_name.lower()] = NamedOptimizer(cls, meaning=f"`torchao.optim.{class_name}`")
    return found


def _is_subclass_state(value: Any) -> bool:
    return (
        isinstance(value, torch.Tensor)
        and type(value).__module__.startswith("torchao.")
        and hasattr(value, "__tensor_flatten__")
    )


def _flat(value: torch.Tensor) -> dict[str, Any]:
    names, attributes = value.__tensor_flatten__()  # type: ignore[attr-defined]
    return {
        SUBCLASS_KEY: f"{type(value).__module__}.{type(value).__qualname__}",
        "tensors": {name: getattr(value, name) for name in names},
        "attributes": list(attributes),
    }


def _rebuilt(value: Any) -> Any:
    if not (isinstance(value, dict) and SUBCLASS_KEY in value):
        return value
    path = value[SUBCLASS_KEY]
    module_name, _, class_name = str(path).rpartition(".")
    try:
        cls = (
            getattr(importlib.import_module(module_name), class_name)
            if module_name.startswith("torchao.")
            else None
        )
    except (ImportError, AttributeError):
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, torch.Tensor) and hasattr(cls, "__tensor_unflatten__")):
        raise ValueError(
            f"Expected the saved optimizer state to name a torchao tensor subclass but got {path!r}, which this "
            "torchao does not define (a checkpoint of another torchao version?)."
        )
    return cls.__tensor_unflatten__(dict(value["tensors"]), list(value["attributes"]), None, None)


def flat_state(optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> dict[str, Any]:
    """``Optimizer.state_dict`` post hook: each torchao tensor subclass of the state as its plain tensors and
    attributes, which ``torch.load`` loads under any ``map_location`` (new dicts: torch's state dict shares the
    optimizer's own per-parameter ones).

    Example:
        >>> from torchao.optim import AdamW8bit
        >>> param = torch.nn.Parameter(torch.ones(4096))
        >>> optimizer = AdamW8bit([param]); param.grad = torch.ones(4096); optimizer.step()
        >>> saved = flat_state(optimizer, optimizer.state_dict())["state"][0]
        >>> saved["exp_avg"][SUBCLASS_KEY], sorted(saved["exp_avg"]["tensors"])
        ('torchao.optim.subclass_8bit.OptimState8bit', ['codes', 'qmap', 'scale'])
        >>> type(optimizer.state[param]["exp_avg"]).__name__  # the optimizer's own state is untouched
        'OptimState8bit'
    """
    state_dict["state"] = {
        index: {key: _flat(value) if _is_subclass_state(value) else value for key, value in state.items()}
        for index, state in state_dict["state"].items()
    }
    return state_dict


def rebuilt_state(optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> dict[str, Any]:
    """``Optimizer.load_state_dict`` pre hook: the tensor subclasses ``flat_state`` saved, rebuilt with their
    class's ``__tensor_unflatten__`` (a state saved as subclasses, by torchao alone, loads as it is).

    Example:
        >>> from torchao.optim import AdamW8bit
        >>> param = torch.nn.Parameter(torch.ones(4096))
        >>> optimizer = AdamW8bit([param]); param.grad = torch.ones(4096); optimizer.step()
        >>> saved = flat_state(optimizer, optimizer.state_dict())
        >>> again = rebuilt_state(optimizer, saved)["state"][0]["exp_avg"]
        >>> type(again).__name__, torch.equal(again.codes, optimizer.state[param]["exp_avg"].codes)
        ('OptimState8bit', True)
    """
    state = {
        index: {key: _rebuilt(value) for key, value in saved.items()}
        for index, saved in state_dict["state"].items()
    }
    return {**state_dict, "state": state}


def tensor_lr(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    """``Optimizer.step`` pre hook: a number written into a group's ``lr`` becomes the float32 tensor torchao's
    ``add_param_group`` makes of it, which torch's schedulers then fill in place.

    Example:
        >>> from torchao.optim import AdamW8bit
        >>> optimizer = AdamW8bit([torch.nn.Parameter(torch.ones(4))], lr=0.1)
        >>> optimizer.param_groups[0]["lr"] = 0.05  # as Lightning's LR finder writes it
        >>> tensor_lr(optimizer, (), {}); optimizer.param_groups[0]["lr"]
        tensor(0.0500)
    """
    for group in optimizer.param_groups:
        if not isinstance(group["lr"], torch.Tensor):
            group["lr"] = torch.tensor(float(group["lr"]), dtype=torch.float32)


def prepare(optimizer: torch.optim.Optimizer) -> None:
    """Save the low-bit state as plain tensors and rebuild it on load (``flat_state``, ``rebuilt_state``); step
    with a tensor lr whatever was written into it (``tensor_lr``)."""
    optimizer.register_state_dict_post_hook(flat_state)
    optimizer.register_load_state_dict_pre_hook(rebuilt_state)
    optimizer.register_step_pre_hook(tensor_lr)
