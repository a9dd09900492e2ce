"""``describe_optimizers`` measures the optimizer state without a copy of the model.

It reports each group's state bytes by stepping the optimizer once on zero gradients. For an optimizer that
keeps its state per parameter (torch's own, schedule-free's, torchao's) it steps one stand-in per distinct
shape of a group, so the memory it takes is about one parameter's, its gradient's and its state's, whatever
the model's size (it used to step a copy of every parameter: about 4x the parameters' memory at its peak).

Builds a module of 48 layers of 1024 x 1024 weights (about 50M parameters, 192 MiB in float32) declaring
AdamW with ``no_decay``, and prints, measured in this process:

- the peak memory ``describe_optimizers`` adds (the process's maximum resident size before and after), as a
  ratio to the parameters' own memory (about 4 before the stand-ins; a small fraction now);
- its time against one hand-written ``torch.optim.AdamW`` step over the same parameters (its first: the state
  is created), run after it so that its state does not hide describe's peak.

Run: ``python benchmarks/bench_describe_memory.py`` from the repository root (Linux: ``ru_maxrss`` in KiB).
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import lightning as L
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, describe_optimizers

LAYERS, WIDTH = 48, 1024


class Wide(ConfigurableOptimizersMixin, L.LightningModule):
    optimizer = OptimizerSpec("adamw", lr=1e-3, weight_decay=0.05, no_decay=True)

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(WIDTH, WIDTH) for _ in range(LAYERS))


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    torch.manual_seed(0)
    module = Wide()
    parameters = sum(p.numel() * p.element_size() for p in module.parameters()) / 2**20
    before = peak_mib()
    start = time.perf_counter()
    header = describe_optimizers(module).splitlines()[0]
    described = time.perf_counter() - start
    added = peak_mib() - before

    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3)
    for p in module.parameters():
        p.grad = torch.zeros_like(p)
    start = time.perf_counter()
    optimizer.step()
    stepped = time.perf_counter() - start

    print(header)
    print(f"parameters: {parameters:.0f} MiB float32 ({LAYERS} layers of {WIDTH} x {WIDTH})")
    print(f"describe_optimizers added {added:.0f} MiB at its peak: {added / parameters:.2f}x the parameters")
    print(
        f"describe_optimizers took {described:.3f} s: {described / stepped:.2f}x one hand-written AdamW step "
        f"({stepped:.3f} s)"
    )


if __name__ == "__main__":
    main()
