"""Every private API listed in ``utilities/compat.py`` exists in the installed torch and Lightning.

When an upgrade removes one, this test names it; ``compat.py`` says what the package then does.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import lightning as L
import pytest
import torch

from lightning_optim.utilities import compat


def _trainer() -> L.Trainer:
    return L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, max_epochs=1)


def _module_function(path: str) -> object:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _fused_optimizers_handle_unscaling() -> bool:
    handles = _module_function("lightning.fabric.plugins.precision.amp._optimizer_handles_unscaling")
    assert callable(handles)

    def built(cls: type, **kwargs: bool) -> torch.optim.Optimizer:
        return cls([torch.nn.Parameter(torch.zeros(1))], lr=0.1, **kwargs)

    optimizers = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD, torch.optim.Adagrad)
    return all(handles(built(cls, fused=True)) and not handles(built(cls)) for cls in optimizers)


#: How to find each listed name in the installed versions.
LOOKUPS = {
    "LightningModule._trainer": lambda: L.LightningModule()._trainer is None,
    "Trainer.fit_loop._combined_loader": lambda: hasattr(_trainer().fit_loop, "_combined_loader"),
    "Trainer._checkpoint_connector._loaded_checkpoint": lambda: hasattr(
        _trainer()._checkpoint_connector, "_loaded_checkpoint"
    ),
    "Trainer.fit_loop.epoch_loop._batches_that_stepped": lambda: hasattr(
        _trainer().fit_loop.epoch_loop, "_batches_that_stepped"
    ),
    "Lightning skips callback hooks that are not callable": lambda: (
        "if callable(fn):"
        in inspect.getsource(importlib.import_module("lightning.pytorch.trainer.call")._call_callback_hooks)
    ),
    # torch's schedulers read it in ``step()`` to warn when the optimizer has not stepped
    "Optimizer._opt_called": lambda: "_opt_called" in Path(torch.optim.lr_scheduler.__file__).read_text(),
    # torch sets it for `fused=True` (and only then); Lightning's refusal to clip reads it
    "Optimizer._step_supports_amp_scaling": _fused_optimizers_handle_unscaling,
    "torch._C._storage_Use_Count": lambda: callable(torch._C._storage_Use_Count),
    "torch.optim.optimizer._get_capturable_supported_devices": lambda: callable(
        _module_function("torch.optim.optimizer._get_capturable_supported_devices")
    ),
    "torch.optim.optimizer._default_to_fused_or_foreach": lambda: callable(
        _module_function("torch.optim.optimizer._default_to_fused_or_foreach")
    ),
    "torch.utils._foreach_utils._get_fused_kernels_supported_devices": lambda: callable(
        _module_function("torch.utils._foreach_utils._get_fused_kernels_supported_devices")
    ),
}


def test_every_listed_api_has_a_lookup() -> None:
    assert {api.name for api in compat.PRIVATE_APIS} == set(LOOKUPS)


@pytest.mark.parametrize("api", compat.PRIVATE_APIS, ids=lambda api: api.name)
def test_private_api_still_exists(api: compat.PrivateApi) -> None:
    assert LOOKUPS[api.name](), f"{api.name} is gone; when missing: {api.when_missing}"


def test_the_wrappers_work_on_the_installed_versions() -> None:
    trainer = _trainer()
    assert compat.loaded_checkpoint(trainer) == {}
    assert compat.train_data_set_up(trainer) is False
    compat.check_batches_that_stepped(trainer)
    assert compat.batches_that_stepped(trainer) == 0
    assert "cuda" in compat.capturable_devices()
    assert {"cpu", "cuda"} <= compat.fused_kernel_devices()
    assert compat.torch_default_is_foreach([torch.zeros(1)], differentiable=False) is False
    assert compat.storage_use_count is not None
