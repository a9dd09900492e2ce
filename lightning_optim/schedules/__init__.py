"""Layer 1, pure torch: learning-rate schedules of this package as ``LRScheduler`` classes built on small pure functions of the step."""

from lightning_optim.schedules.param_schedule import ParamSchedule
from lightning_optim.schedules.timm_cosine import TimmCosineLR
from lightning_optim.schedules.transformers import (
    ConstantScheduleLR,
    ConstantWithWarmupLR,
    CosineWarmupWithMinLR,
    CosineWithHardRestartsLR,
    CosineWithMinLR,
    CosineWithWarmupLR,
    InverseSqrtLR,
    LinearWithWarmupLR,
    PolynomialDecayWithWarmupLR,
    WarmupStableDecayLR,
)
from lightning_optim.schedules.warmup import Warmup
from lightning_optim.schedules.window import Window

__all__ = [
    "ConstantScheduleLR",
    "ConstantWithWarmupLR",
    "CosineWarmupWithMinLR",
    "CosineWithHardRestartsLR",
    "CosineWithMinLR",
    "CosineWithWarmupLR",
    "InverseSqrtLR",
    "LinearWithWarmupLR",
    "ParamSchedule",
    "PolynomialDecayWithWarmupLR",
    "TimmCosineLR",
    "Warmup",
    "WarmupStableDecayLR",
    "Window",
]
