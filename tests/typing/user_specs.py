"""A declaration's attributes, a varied copy of one, and values the types refuse as the runtime does."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import lightning as L
from torch import nn
from torch.optim import AdamW
from typing_extensions import assert_type

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, ParamGroup, SchedulerSpec


class Model(ConfigurableOptimizersMixin, L.LightningModule):
    optimizer = OptimizerSpec(
        AdamW, lr=3e-4, layer_decay=0.75, layer_decay_blocks="blocks", layer_decay_rule="timm"
    )


def varied() -> None:
    assert_type(Model.optimizer.kwargs, Mapping[str, Any])
    assert_type(dataclasses.replace(Model.optimizer, scheduler=SchedulerSpec("cosine")), OptimizerSpec)
    assert_type(dataclasses.replace(SchedulerSpec("cosine"), interval="step"), SchedulerSpec)
    assert_type(dataclasses.replace(ParamGroup("body", lr=0.1), select="head"), ParamGroup)


def refused() -> None:
    print(Model.optimizer.schedular)  # E: [attr-defined]
    print(Model.optimizer.lr)  # E: [attr-defined]
    OptimizerSpec("adamw", layer_decay=0.7, layer_decay_rule="vit")  # E: [arg-type]
    OptimizerSpec(nn.Linear, lr=1e-3)  # E: [arg-type]
