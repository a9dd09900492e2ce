"""torchao's optimizers by name (``"torchao/<name>"``): its low-bit Adam/AdamW and its CPU-offload wrapper.

The low-bit optimizers (``"torchao/adamw8bit"``, ``"torchao/adamw4bit"``, ``"torchao/adamwfp8"``, and the
``adam*`` ones) are offered by lower-case class name, wherever they import. They compile their step with
``torch.compile`` on first use (on CPU too: tens of seconds the first time, cached after that).

``CPUOffloadOptimizer`` (``"torchao/cpu_offload"``) moves the optimizer state of a CUDA or XPU model to the
CPU. It is refused with the reason: without such a device it cannot be built at all (torchao asserts one),
and where there is one it splits the declared param groups into one group per offloaded tensor (its
``param_groups`` is rebuilt from them at every access), which the declared groups' names, multipliers,
schedules and ``LRMonitor`` keys cannot follow yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lightning_optim.registry.named import NamedOptimizer

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
