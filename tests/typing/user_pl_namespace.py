"""The same step on ``pytorch_lightning`` (docs/compat.md#both-namespaces): its own ``LightningOptimizer``."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.core.optimizer import LightningOptimizer
from torch import nn
from typing_extensions import assert_type

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec


class GAN(ConfigurableOptimizersMixin, pl.LightningModule):
    gen_opt = OptimizerSpec("adam", params="gen", lr=0.01)
    dis_opt = OptimizerSpec("adam", params="dis", lr=0.02)

    def __init__(self) -> None:
        super().__init__()
        self.gen = nn.Linear(4, 4)
        self.dis = nn.Linear(4, 1)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        (x,) = batch
        assert_type(self.gen_opt, LightningOptimizer)
        self.toggle_optimizer(self.gen_opt)
        self.gen_opt.zero_grad()
        self.manual_backward(-self.dis(self.gen(x)).mean())
        self.gen_opt.step()
        self.untoggle_optimizer(self.gen_opt)


assert_type(GAN.gen_opt, OptimizerSpec)
