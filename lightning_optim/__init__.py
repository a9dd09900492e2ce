"""Declarative optimizers, param groups and LR schedulers for PyTorch Lightning."""

from lightning_optim.declaring.hparam import HParam
from lightning_optim.declaring.specs import OptimizerSpec, ParamGroup, SchedulerSpec
from lightning_optim.monitor.lr_monitor import LRMonitor
from lightning_optim.registry.external import register_optimizer, register_scheduler
from lightning_optim.tools.config import spec_from_dict, spec_to_dict
from lightning_optim.tools.describe import describe_optimizers
from lightning_optim.tools.overrides import declarations, with_declarations
from lightning_optim.tools.plot import plot_schedule
from lightning_optim.tools.preview import preview_schedule
from lightning_optim.training.mixin import ConfigurableOptimizersMixin

__all__ = [
    "ConfigurableOptimizersMixin",
    "HParam",
    "LRMonitor",
    "OptimizerSpec",
    "ParamGroup",
    "SchedulerSpec",
    "declarations",
    "describe_optimizers",
    "plot_schedule",
    "preview_schedule",
    "register_optimizer",
    "register_scheduler",
    "spec_from_dict",
    "spec_to_dict",
    "with_declarations",
]
__version__ = "0.1.0.dev0"
