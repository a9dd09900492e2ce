"""Schedules to look at before training (``python -m lightning_optim preview examples.schedules:OneCycle``).

``WarmupCosine`` is the usual fine-tuning schedule: a linear warmup over the first 100 optimizer steps, then
a cosine decay over the next 900, with a backbone trained at a tenth of the head's lr. ``OneCycle`` leaves
``total_steps`` out: it is derived from the run (``--max-epochs``, ``--steps-per-epoch``, ...), exactly as
``fit`` derives it.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, ParamGroup, SchedulerSpec


class Net(L.LightningModule):
    """A small backbone and head; the schedules only need the parameter layout."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(64, 32), nn.ReLU())
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.backbone(x))
        return out


class WarmupCosine(ConfigurableOptimizersMixin, Net):
    optimizer = OptimizerSpec(
        "adamw",
        lr=1e-3,
        weight_decay=0.01,
        groups=[ParamGroup("backbone", lr=1e-4), ParamGroup("head")],
        scheduler=SchedulerSpec(
            "sequential",
            schedulers=[
                SchedulerSpec("linear", start_factor=0.01, total_iters=100),
                SchedulerSpec("cosine", T_max=900, eta_min=1e-6),
            ],
            milestones=[100],
            interval="step",
        ),
    )


class OneCycle(ConfigurableOptimizersMixin, Net):
    optimizer = OptimizerSpec(
        "sgd",
        momentum=0.9,
        groups=[ParamGroup("backbone"), ParamGroup("head")],
        scheduler=SchedulerSpec("onecycle", max_lr={"backbone": 0.05, "head": 0.5}),
    )
