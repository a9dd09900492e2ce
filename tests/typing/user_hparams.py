"""An ``HParam`` in each numeric declaration option (docs/guides/hparams.md), and where it may not stand."""

from __future__ import annotations

import lightning as L
import torch

from lightning_optim import ConfigurableOptimizersMixin, HParam, OptimizerSpec, SchedulerSpec


class FineTune(ConfigurableOptimizersMixin, L.LightningModule):
    optimizer = OptimizerSpec(
        "adamw",
        lr=HParam("lr", default=1e-3),
        layer_decay=HParam("layer_decay", default=0.75),
        layer_decay_blocks="blocks",
        layer_decay_min_scale=HParam("min_scale", default=0.0),
        skip_nonfinite=HParam("skip", default=0),
        scheduler=SchedulerSpec(
            "cosine",
            warmup=HParam("warmup", default=2),
            warmup_start_factor=HParam("start_factor", default=0.1),
            frequency=HParam("frequency", default=1),
        ),
    )


class Windowed(ConfigurableOptimizersMixin, L.LightningModule):
    optimizer = OptimizerSpec(
        "sgd",
        lr=0.1,
        scheduler=[
            SchedulerSpec("linear", start_factor=0.25, end=HParam("ramp", default=3), interval="step"),
            SchedulerSpec("cosine", eta_min=0.01, begin=HParam("ramp", default=3), interval="step"),
        ],
    )


class Critic(ConfigurableOptimizersMixin, L.LightningModule):
    gen_opt = OptimizerSpec(
        "adam", params="gen", lr=1e-3, loss="gen_loss", every=HParam("n_critic", default=2)
    )
    dis_opt = OptimizerSpec("adam", params="dis", lr=1e-3, loss="dis_loss")

    def gen_loss(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return batch.sum()

    def dis_loss(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return batch.sum()


def refused() -> None:
    # what decides how Lightning steps a scheduler stays literal
    SchedulerSpec("cosine", interval=HParam("interval"))  # E: [arg-type]
