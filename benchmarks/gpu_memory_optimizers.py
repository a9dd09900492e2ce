"""Memory-saving optimizers by name on CUDA: optimizer-state bytes and step time against fused AdamW.

The check of issue 24: at about 50M parameters, ``"bnb/adamw8bit"``'s optimizer state must be at most 0.3x
the state of torch's fused ``AdamW`` (8 bytes per parameter: two float32 moments); its step time is recorded
as a ratio to fused AdamW's. The other memory-saving names are measured alongside (not checked).

State bytes are what ``describe_optimizers`` reports for a module declaring the optimizer (measured by one
zero-gradient step, ``lightning_optim/tools/state_size.py``), and, on CUDA, the growth of
``torch.cuda.memory_allocated`` over the first step (state plus any workspace the optimizer keeps). Step
time: the median of ``--steps`` timed ``optimizer.step()`` calls on random gradients, after 3 warm-up steps
(torchao compiles its step in the first one), with ``torch.cuda.synchronize`` around each.

State bytes do not depend on the device, so ``--cpu`` measures them (and CPU step times, for information)
without a GPU. Without CUDA and without ``--cpu`` the script says it skips and exits 0.

Run: ``PYTHONPATH=. python benchmarks/gpu_memory_optimizers.py [--cpu] [--params 50] [--steps 20] [--json out.json]``.
Exit status 1 if the 0.3x check fails (on CUDA, or on CPU with ``--cpu``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from typing import Any

import lightning as L
import torch
from torch import nn

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, describe_optimizers
from lightning_optim.registry.external import name_arguments
from lightning_optim.registry.lookup import resolve_class

BASELINE = ("adamw", {"fused": True})
#: (name, extra arguments, devices it runs on)
CANDIDATES: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("bnb/adamw8bit", {}, ("cuda", "cpu")),
    ("bnb/paged_adamw8bit", {}, ("cuda",)),
    ("transformers/adamw_bnb_8bit", {}, ("cuda", "cpu")),
    ("torchao/adamw8bit", {}, ("cuda", "cpu")),
    ("torchao/adamw4bit", {}, ("cuda",)),
    ("torchao/adamwfp8", {}, ("cuda",)),
]
CHECKED = "bnb/adamw8bit"
LIMIT = 0.3


class Stack(L.LightningModule):
    """``layers`` square ``Linear`` layers of width ``width``: about ``layers * width**2`` parameters."""

    def __init__(self, layers: int, width: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(*(nn.Linear(width, width) for _ in range(layers)))


def module_for(name: str, arguments: dict[str, Any], layers: int, width: int, device: str) -> Any:
    spec = OptimizerSpec(name, lr=1e-4, **arguments)
    cls = type("Measured", (ConfigurableOptimizersMixin, Stack), {"optimizer": spec})
    return cls(layers, width).to(device)


def described_bytes(module: Any) -> int:
    header = describe_optimizers(module).splitlines()[0]
    return int(header.rsplit(", ", 1)[1].split()[0])


def step_times(
    name: str, arguments: dict[str, Any], module: Any, steps: int, device: str
) -> tuple[float, int]:
    """Median ms per ``optimizer.step()`` and the allocation growth over the first step (CUDA; else 0)."""
    cls = resolve_class(name, "optimizer", where="bench")
    optimizer = cls(module.parameters(), **{**name_arguments(name), "lr": 1e-4, **arguments})
    params = list(module.parameters())
    cuda = device == "cuda"
    if cuda:
        torch.cuda.synchronize()
    before = torch.cuda.memory_allocated() if cuda else 0
    times = []
    for index in range(3 + steps):
        for p in params:
            p.grad = torch.randn_like(p) * 1e-3
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        optimizer.step()
        if cuda:
            torch.cuda.synchronize()
        if index == 0 and cuda:
            grown = torch.cuda.memory_allocated() - before
        if index >= 3:
            times.append((time.perf_counter() - start) * 1e3)
    for p in params:
        p.grad = None
    return statistics.median(times), (grown if cuda else 0)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cpu", action="store_true", help="measure on CPU (state bytes are device-independent)"
    )
    parser.add_argument("--params", type=float, default=50.0, help="millions of parameters (default 50)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available() and not args.cpu:
        print("gpu_memory_optimizers: no CUDA device, skipping (use --cpu for state bytes on CPU)")
        return 0
    device = "cpu" if args.cpu else "cuda"
    width = 2048
    layers = max(1, round(args.params * 1e6 / (width * width + width)))
    warnings.filterwarnings("ignore")
    rows = []
    for name, arguments, devices in [(BASELINE[0], BASELINE[1], ("cuda", "cpu")), *CANDIDATES]:
        if device not in devices:
            continue
        try:
            module = module_for(name, arguments, layers, width, device)
        except (ImportError, ValueError) as error:
            print(f"{name}: not measured ({error})")
            continue
        count = sum(p.numel() for p in module.parameters())
        state = described_bytes(module)
        ms, grown = step_times(name, arguments, module, args.steps, device)
        rows.append(
            {"name": name, "parameters": count, "state_bytes": state, "ms_per_step": ms, "cuda_growth": grown}
        )
        del module
        if device == "cuda":
            torch.cuda.empty_cache()
    base = rows[0]
    print(f"device {device}, {base['parameters'] / 1e6:.1f}M parameters, baseline AdamW(fused=True)")
    print(
        f"{'name':<30} {'state bytes':>14} {'x AdamW':>8} {'bytes/param':>11} {'ms/step':>9} {'x AdamW':>8}"
    )
    for row in rows:
        row["state_ratio"] = row["state_bytes"] / base["state_bytes"]
        row["time_ratio"] = row["ms_per_step"] / base["ms_per_step"]
        print(
            f"{row['name']:<30} {row['state_bytes']:>14,} {row['state_ratio']:>8.3f} "
            f"{row['state_bytes'] / row['parameters']:>11.3f} {row['ms_per_step']:>9.2f} {row['time_ratio']:>8.2f}"
        )
    checked = next((row for row in rows if row["name"] == CHECKED), None)
    ok = checked is not None and checked["state_ratio"] <= LIMIT
    print(f"check: {CHECKED} state <= {LIMIT}x fused AdamW: {'PASS' if ok else 'FAIL'}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"device": device, "rows": rows, "passed": ok}, handle, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
