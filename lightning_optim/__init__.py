"""Declarative optimizers, param groups and LR schedulers for PyTorch Lightning."""

from lightning_optim._config import spec_from_dict, spec_to_dict
from lightning_optim._describe import describe_optimizers
from lightning_optim._mixin import ConfigurableOptimizersMixin
from lightning_optim._monitor import LRMonitor
from lightning_optim._overrides import declarations, with_declarations
from lightning_optim._plot import plot_schedule
from lightning_optim._preview import preview_schedule
from lightning_optim._specs import OptimizerSpec, ParamGroup, SchedulerSpec

__all__ = [
    "ConfigurableOptimizersMixin",
    "LRMonitor",
    "OptimizerSpec",
    "ParamGroup",
    "SchedulerSpec",
    "declarations",
    "describe_optimizers",
    "plot_schedule",
    "preview_schedule",
    "spec_from_dict",
    "spec_to_dict",
    "with_declarations",
]
__version__ = "0.1.0.dev0"
