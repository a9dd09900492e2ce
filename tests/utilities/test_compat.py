"""Every private API listed in ``utilities/compat.py`` exists in the installed torch and Lightning.

When an upgrade removes one, this test names it; ``compat.py`` says what the package then does.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
import types
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec
from lightning_optim.utilities import compat
from tests.helpers import PRIVATE_APIS_ADDED_LATER


def _trainer() -> L.Trainer:
    return L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, max_epochs=1)


def _module_function(path: str) -> object:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _built(cls: type, **kwargs: bool) -> torch.optim.Optimizer:
    return cls([torch.nn.Parameter(torch.zeros(1))], lr=0.1, **kwargs)


#: the fused optimizers torch marks as unscaling inside ``step`` on every supported release (fused Adagrad is
#: marked on some: 2.4 and 2.12 on, not 2.11)
UNSCALING = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD)


def _fused_optimizers_handle_unscaling() -> bool:
    handles = _module_function("lightning.fabric.plugins.precision.amp._optimizer_handles_unscaling")
    assert callable(handles)
    return all(handles(_built(cls, fused=True)) and not handles(_built(cls)) for cls in UNSCALING)


@pytest.mark.parametrize("cls", [torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD, torch.optim.Adagrad])
def test_fused_step_unscales_agrees_with_lightning(cls: type) -> None:
    handles = _module_function("lightning.fabric.plugins.precision.amp._optimizer_handles_unscaling")
    assert callable(handles)
    assert compat.fused_step_unscales(cls) is bool(handles(_built(cls, fused=True)))
    assert cls not in UNSCALING or compat.fused_step_unscales(cls)
    assert compat.fused_step_unscales(torch.optim.RMSprop) is False  # no fused kernel at all


def _step_counters_in_the_loop_state() -> bool:
    """Both modes' optimizer step counters are where ``compat.carry_global_step`` reads them."""
    state = _trainer().fit_loop.state_dict()
    automatic = state["epoch_loop.automatic_optimization.optim_progress"]["optimizer"]["step"]
    manual = state["epoch_loop.manual_optimization.optim_step_progress"]
    return all({"total", "current"} <= counter.keys() for counter in (automatic, manual))


def _progress_in_the_loop_state() -> bool:
    """The batch and epoch progress are where ``compat.batch_left_unfinished`` and ``epoch_left_unfinished`` read
    them."""
    state = _trainer().fit_loop.state_dict()
    batches, epochs = state["epoch_loop.batch_progress"]["current"], state["epoch_progress"]["current"]
    keys = {"ready", "started", "processed", "completed"}
    return (
        keys <= batches.keys()
        and keys <= epochs.keys()
        and "is_last_batch" in state["epoch_loop.batch_progress"]
    )


def _logged_metrics_keep_sync() -> bool:
    """A metric logged into a fit loop's results keeps whether it is synchronised, whether it was logged with
    ``rank_zero_only`` and whether it is a tensor."""
    results = _trainer().fit_loop.epoch_loop._results
    results.log(
        "training_step", "loss", torch.tensor(1.0), sync_dist=False, batch_size=1, rank_zero_only=True
    )
    (metric,) = results.values()
    sync = metric.meta.sync
    found = sync.should is False and sync.rank_zero_only is True and metric.is_tensor
    found = found and metric.meta.forked_name(True) == "loss"
    return found and hasattr(_trainer().fit_loop.epoch_loop.val_loop, "_results")


def _swa_records_the_runs_epochs() -> bool:
    """SWA records the run's ``max_epochs`` before it adds its BatchNorm epoch, and has the flag that says so."""
    swa = L.pytorch.callbacks.StochasticWeightAveraging
    source = inspect.getsource(swa.on_fit_start)
    flag = vars(swa(swa_lrs=0.1)).get("_model_contains_batch_norm", False)
    return "self._max_epochs = trainer.max_epochs" in source and "max_epochs += 1" in source and flag is None


#: How to find each listed name in the installed versions.
LOOKUPS = {
    "OptimizedModule._orig_mod": lambda: isinstance(
        torch.compile(torch.nn.Linear(1, 1))._orig_mod, torch.nn.Linear
    ),
    "LightningModule._compiler_ctx": lambda: callable(
        _module_function("lightning.pytorch.utilities.compile.from_compiled")(
            torch.compile(L.LightningModule())
        )._compiler_ctx["original_training_step"]
    ),
    "LightningModule._trainer": lambda: L.LightningModule()._trainer is None,
    "Strategy._lightning_optimizers": lambda: _trainer().strategy._lightning_optimizers == [],
    "Trainer._checkpoint_connector._loaded_checkpoint": lambda: hasattr(
        _trainer()._checkpoint_connector, "_loaded_checkpoint"
    ),
    "Trainer.fit_loop.epoch_loop._batches_that_stepped": lambda: hasattr(
        _trainer().fit_loop.epoch_loop, "_batches_that_stepped"
    ),
    "checkpoint['loops']['fit_loop'] optimizer step counters": _step_counters_in_the_loop_state,
    "checkpoint['loops']['fit_loop'] batch and epoch progress": _progress_in_the_loop_state,
    "Trainer.fit_loop epoch and batch progress": lambda: (
        {"started", "processed", "completed"} <= vars(_trainer().fit_loop.epoch_progress.current).keys()
        and isinstance(_trainer().fit_loop.epoch_loop.batch_progress.current.processed, int)
        and isinstance(_trainer().fit_loop.restarting, bool)
        and {"total", "current"} <= compat.batch_progress(_trainer()).keys()
    ),
    "Trainer._logger_connector._first_loop_iter": lambda: (
        _trainer()._logger_connector._first_loop_iter is None
        and "self._first_loop_iter = None"
        in inspect.getsource(type(_trainer()._logger_connector).epoch_end_reached)
    ),
    "_TrainingEpochLoop.reset's count of a restored epoch": lambda: (
        "if self.batch_progress.current.completed >= self.trainer.num_training_batches:"
        in inspect.getsource(
            importlib.import_module("lightning.pytorch.loops.training_epoch_loop")._TrainingEpochLoop
        )
        and isinstance(_trainer().fit_loop.epoch_loop.restarting, bool)
        and isinstance(_trainer().fit_loop.epoch_loop.restarted_on_train_batch_end, bool)
        and isinstance(_trainer().fit_loop.epoch_loop.batch_progress.is_last_batch, bool)
    ),
    "_TrainingEpochLoop._num_ready_batches_reached": lambda: isinstance(
        _trainer().fit_loop.epoch_loop._num_ready_batches_reached(), bool
    ),
    "Trainer._logger_connector.update_train_step_metrics": lambda: (
        "_should_accumulate()"
        in inspect.getsource(type(_trainer()._logger_connector).update_train_step_metrics)
        and callable(_trainer().fit_loop._should_accumulate)
    ),
    "Lightning skips callback hooks that are not callable": lambda: (
        "if callable(fn):"
        in inspect.getsource(importlib.import_module("lightning.pytorch.trainer.call")._call_callback_hooks)
    ),
    # torch's schedulers read it in ``step()`` to warn when the optimizer has not stepped
    "Optimizer._opt_called": lambda: "_opt_called" in Path(torch.optim.lr_scheduler.__file__).read_text(),
    "Optimizer.step._wrapped_by_lr_sched": lambda: (
        "_wrapped_by_lr_sched" in Path(torch.optim.lr_scheduler.__file__).read_text()
    ),
    "LRScheduler._get_closed_form_lr": lambda: (
        "_get_closed_form_lr" in inspect.getsource(torch.optim.lr_scheduler.LRScheduler.step)
    ),
    "Lightning reads a scheduler config's `strict` only when its monitored metric is missing": lambda: (
        "if monitor_val is None:\n                        if config.strict:"
        in inspect.getsource(
            importlib.import_module("lightning.pytorch.loops.training_epoch_loop")._TrainingEpochLoop
        )
    ),
    "lightning.pytorch.cli._InstantiatorFn": lambda: hasattr(
        importlib.import_module("lightning.pytorch.cli"), "_InstantiatorFn"
    ),
    "MixedPrecision.optimizer_step steps as plain precision without a scaler": lambda: all(
        "if self.scaler is None:" in inspect.getsource(plugin.optimizer_step)
        for plugin in (
            *compat.lightning_classes("plugins.MixedPrecision"),
            *compat.lightning_classes("plugins.FSDPPrecision"),
        )
    ),
    "Trainer.save_checkpoint": lambda: inspect.isfunction(L.Trainer.save_checkpoint),
    # the strategy loads with the optimizers it holds, which `around_checkpoint_load`'s caller empties meanwhile
    "Strategy.load_checkpoint": lambda: (
        "enumerate(self.optimizers)"
        in inspect.getsource(compat.lightning_classes("strategies.ModelParallelStrategy")[0].load_checkpoint)
    ),
    "type.__new__ of a declaring class": lambda: L.LightningModule.__new__ is object.__new__,
    # torch sets it for `fused=True` (and only then); Lightning's refusal to clip reads it
    "Optimizer._step_supports_amp_scaling": _fused_optimizers_handle_unscaling,
    "torch._C._storage_Use_Count": lambda: callable(torch._C._storage_Use_Count),
    "torch._amp_foreach_non_finite_check_and_unscale_": lambda: callable(
        torch._amp_foreach_non_finite_check_and_unscale_
    ),
    "torch.nn.modules.batchnorm._NormBase": lambda: all(
        issubclass(cls, torch.nn.modules.batchnorm._NormBase)
        for cls in (
            torch.nn.BatchNorm2d,
            torch.nn.SyncBatchNorm,
            torch.nn.InstanceNorm1d,
            torch.nn.LazyBatchNorm1d,
        )
    ),
    "UntypedStorage._cdata": lambda: isinstance(torch.zeros(1).untyped_storage()._cdata, int),
    "torch.optim.optimizer._get_capturable_supported_devices": lambda: callable(
        _module_function("torch.optim.optimizer._get_capturable_supported_devices")
    ),
    "torch.optim.optimizer._default_to_fused_or_foreach": lambda: callable(
        _module_function("torch.optim.optimizer._default_to_fused_or_foreach")
    ),
    # the hooked step torch installs at a class's first instance keeps the class's own step as `__wrapped__`
    "Optimizer.step.__wrapped__": lambda: (
        torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))]) is not None
        and getattr(torch.optim.Adam.step, "hooked", False)
        and hasattr(torch.optim.Adam.step, "__wrapped__")
    ),
    "torch._dynamo.is_dynamo_supported": lambda: callable(
        _module_function("torch._dynamo.is_dynamo_supported")
    ),
    "torch._inductor.cpp_builder.get_cpp_compiler": lambda: callable(
        _module_function("torch._inductor.cpp_builder.get_cpp_compiler")
    ),
    "_EvaluationLoop._has_run": lambda: _trainer().fit_loop.epoch_loop.val_loop._has_run is False,
    "_EvaluationLoop._data_source": lambda: _trainer().fit_loop.epoch_loop.val_loop._data_source.is_defined(),
    "StochasticWeightAveraging._max_epochs": _swa_records_the_runs_epochs,
    "_ResultCollection of the fit loops (`_results`: `meta.sync.should`, `meta.sync.rank_zero_only`, "
    "`is_tensor`)": _logged_metrics_keep_sync,
    "torch.utils._foreach_utils._get_fused_kernels_supported_devices": lambda: callable(
        _module_function("torch.utils._foreach_utils._get_fused_kernels_supported_devices")
    ),
}


def test_every_listed_api_has_a_lookup() -> None:
    assert {api.name for api in compat.PRIVATE_APIS} == set(LOOKUPS)


def _added_later(api: compat.PrivateApi) -> Any:
    """``api`` as a test parameter, skipped on a torch older than the release that added it."""
    added = PRIVATE_APIS_ADDED_LATER.get(api.name)
    newer = pytest.mark.skipif(
        added is not None and not compat.torch_at_least(added),
        reason=f"torch {torch.__version__} has no {api.name} (added in torch {added}); {api.when_missing}",
    )
    return pytest.param(api, marks=newer)


@pytest.mark.parametrize("api", [_added_later(api) for api in compat.PRIVATE_APIS], ids=lambda api: api.name)
def test_private_api_still_exists(api: compat.PrivateApi) -> None:
    assert LOOKUPS[api.name](), f"{api.name} is gone; when missing: {api.when_missing}"


def test_the_wrappers_work_on_the_installed_versions() -> None:
    trainer = _trainer()
    assert compat.loaded_checkpoint(trainer) == {}
    assert compat.batches_that_stepped(trainer) == 0
    assert "cuda" in compat.capturable_devices()
    assert {"cpu", "cuda"} <= compat.fused_kernel_devices()
    assert compat.torch_default_is_foreach([torch.zeros(1)], differentiable=False) is False
    assert compat.storage_use_count is not None


PACKAGE = Path(compat.__file__).parents[1]


def _names_defined_by_the_package(sources: dict[str, ast.Module], foreign: set[str]) -> set[str]:
    """Every name a module of the package defines (functions, classes, attributes it stores)."""
    defined: set[str] = set()
    for tree in sources.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                defined.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
            elif isinstance(node, ast.arg):
                defined.add(node.arg)
            elif isinstance(node, ast.alias):
                defined.add(node.asname or node.name.split(".")[0])
    return defined - foreign


def test_private_names_of_torch_and_lightning_are_used_only_where_listed() -> None:
    """A private attribute the package does not define itself is torch's or Lightning's: only in compat.py,
    or in the modules its ``PrivateApi`` entry names."""
    sources = {
        str(path.relative_to(PACKAGE)): ast.parse(path.read_text()) for path in sorted(PACKAGE.rglob("*.py"))
    }
    listed = {api.name.rsplit(".", 1)[-1]: api for api in compat.PRIVATE_APIS}
    defined = _names_defined_by_the_package(
        {k: v for k, v in sources.items() if k != "utilities/compat.py"}, set(listed)
    )
    misplaced = []
    for module, tree in sources.items():
        if module == "utilities/compat.py":
            continue
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Attribute):
                names = [node.attr]
            elif isinstance(node, ast.ImportFrom) and not (node.module or "").startswith("lightning_optim"):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.FunctionDef):
                names = [node.name]
            for name in names:
                private = name.startswith("_") and not name.startswith("__")
                foreign = name in listed or name not in defined
                if private and foreign and module not in (listed[name].named_in if name in listed else ()):
                    misplaced.append(f"{module}:{getattr(node, 'lineno', '?')}: {name}")
    assert misplaced == [], "private torch/Lightning names outside utilities/compat.py"


def test_no_private_name_crosses_the_package_modules() -> None:
    """``from lightning_optim.x import _name`` would make ``_name`` part of two modules' contracts."""
    crossing = [
        f"{path.relative_to(PACKAGE)}: {node.module}.{alias.name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lightning_optim")
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert crossing == []


def test_a_feature_of_a_newer_torch_is_refused_at_class_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    # real on the compat rows with torch < 2.9; here, the same check with the version read as 2.8
    if compat.torch_at_least(compat.MUON.minimum):
        monkeypatch.setattr(compat, "TORCH_VERSION", (2, 8, 0))
    with pytest.raises(ValueError) as error:

        class Model(ConfigurableOptimizersMixin, L.LightningModule):
            optimizer = OptimizerSpec("muon_adamw", lr=0.02)

    assert str(error.value).split("<locals>.")[-1] == (
        "Model.optimizer: Expected torch >= 2.9 for `MuonWithAdamW` (it needs `torch.optim.Muon`, added in "
        f"torch 2.9) but got torch {torch.__version__}. Upgrade torch (pip install 'torch>=2.9') or declare "
        "another optimizer."
    )


def test_torch_at_least_reads_release_numbers() -> None:
    assert compat.torch_at_least("2.4") and compat.torch_at_least("2.4.0")
    assert not compat.torch_at_least("99.0")
    assert compat.release("2.10.0") > compat.release("2.9.1")  # numbers, not strings


def test_a_pytorch_lightning_without_a_class_or_blocked_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    # `lightning` does not pin its `pytorch-lightning`: another release may lack a class `lightning.pytorch` has
    monkeypatch.setitem(sys.modules, compat.STANDALONE, types.ModuleType(compat.STANDALONE))
    assert compat.lightning_classes("LightningModule") == (L.LightningModule,)
    assert compat.lightning_base(int) is L.LightningModule
    monkeypatch.setitem(sys.modules, compat.STANDALONE, None)  # an import blocked
    assert compat.lightning_namespaces() == (L.pytorch,)
