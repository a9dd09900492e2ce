"""How long ``preview_schedule`` takes for 100,000 optimizer steps of a three-group schedule.

The baseline is the least any step-by-step preview must cost: a bare Python loop calling
``scheduler.step()`` 99,999 times on a torch optimizer with the same groups and scheduler (the lr of the
first step needs no scheduler step). Both are measured in this process (CPU time), best of ``REPEATS``;
the ratio is what this script claims, the absolute times depend on the machine and its load.

Run from the repository root: ``python benchmarks/bench_preview.py``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lightning as L
import torch
from torch import nn
from torch.optim import lr_scheduler

from lightning_optim import (
    ConfigurableOptimizersMixin,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    preview_schedule,
)

STEPS = 100_000
EPOCHS, STEPS_PER_EPOCH = 100, 1_000
REPEATS = 3
#: CPU time of this process: on a shared machine it depends less on other processes than wall time does
CLOCK = time.process_time
LRS = [0.5, 0.1, 0.01]


class Net(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4)


def module(scheduler: SchedulerSpec) -> type:
    spec = OptimizerSpec(
        "sgd",
        lr=LRS[2],
        momentum=0.9,
        groups=[ParamGroup("a", lr=LRS[0]), ParamGroup("b", lr=LRS[1])],
        scheduler=scheduler,
    )
    return type("Bench", (ConfigurableOptimizersMixin, Net), {"optimizer": spec})


CASES: dict[str, tuple[SchedulerSpec, Callable[[torch.optim.Optimizer], Any]]] = {
    "OneCycleLR (derived total_steps)": (
        SchedulerSpec("onecycle", max_lr=[1.0, 0.5, 0.1]),
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=[1.0, 0.5, 0.1], total_steps=STEPS),
    ),
    "CosineAnnealingLR per step (derived T_max)": (
        SchedulerSpec("cosine", interval="step"),
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=STEPS),
    ),
}


def baseline(make: Callable[[torch.optim.Optimizer], Any]) -> float:
    optimizer = torch.optim.SGD(
        [{"params": [torch.zeros(1)], "lr": lr} for lr in LRS], lr=LRS[2], momentum=0.9
    )
    scheduler = make(optimizer)
    optimizer._opt_called = True  # type: ignore[attr-defined]
    step = scheduler.step
    start = CLOCK()
    for _ in range(STEPS - 1):
        step()
    return CLOCK() - start


def preview(cls: type) -> float:
    start = CLOCK()
    lrs = preview_schedule(cls, max_epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH)
    elapsed = CLOCK() - start
    if [len(v) for v in lrs.values()] != [STEPS] * 3:
        raise RuntimeError("preview returned the wrong number of steps")
    return elapsed


def main() -> None:
    print(f"{STEPS:,} optimizer steps, 3 param groups, best of {REPEATS}, process CPU time")
    for name, (spec, make) in CASES.items():
        cls = module(spec)
        base = min(baseline(make) for _ in range(REPEATS))
        ours = min(preview(cls) for _ in range(REPEATS))
        print(
            f"{name:45s} preview {ours:6.3f} s   bare scheduler.step() loop {base:6.3f} s   "
            f"ratio {ours / base:5.2f}x"
        )


if __name__ == "__main__":
    main()
