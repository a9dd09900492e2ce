"""Layer 1, pure torch: learning-rate schedules of this package as ``LRScheduler`` classes built on small pure functions of the step."""

from lightning_optim.schedules.schedule import Schedule
from lightning_optim.schedules.shape import Shape
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

__all__ = [
    "ConstantScheduleLR",
    "ConstantWithWarmupLR",
    "CosineWarmupWithMinLR",
    "CosineWithHardRestartsLR",
    "CosineWithMinLR",
    "CosineWithWarmupLR",
    "InverseSqrtLR",
    "LinearWithWarmupLR",
    "PolynomialDecayWithWarmupLR",
    "Schedule",
    "Shape",
    "TimmCosineLR",
    "WarmupStableDecayLR",
]
