"""A hand-written manual step (docs/guides/several-optimizers.md): ``self.<attribute>`` is the live optimizer."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import nn
from typing_extensions import assert_type

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec


class GAN(ConfigurableOptimizersMixin, L.LightningModule):
    dis_opt = OptimizerSpec(
        "adam", params="model_dis", lr=0.02, scheduler=SchedulerSpec("exponential", gamma=0.99)
    )
    gen_opt = OptimizerSpec("adam", params="model_gen", lr=0.01)

    def __init__(self) -> None:
        super().__init__()
        self.model_gen = nn.Linear(4, 4)
        self.model_dis = nn.Linear(4, 1)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        (x,) = batch
        assert_type(self.dis_opt, LightningOptimizer)
        self.toggle_optimizer(self.dis_opt)
        self.dis_opt.zero_grad()
        self.manual_backward(self.model_dis(self.model_gen(x).detach()).mean())
        self.dis_opt.step()
        self.untoggle_optimizer(self.dis_opt)

        opt: LightningOptimizer = self.gen_opt
        opt.zero_grad()
        self.manual_backward(-self.model_dis(self.model_gen(x)).mean())
        opt.step()


assert_type(GAN.gen_opt, OptimizerSpec)
assert_type(GAN.dis_opt.scheduler, SchedulerSpec | tuple[SchedulerSpec, ...] | None)


class OneOptimizer(GAN):
    """A subclass removes a declaration with ``None`` (docs/index.md), telling mypy so."""

    gen_opt = OptimizerSpec("adam", params=None, lr=0.01)
    dis_opt = None  # type: ignore[assignment]
