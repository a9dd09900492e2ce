"""Every use of a private Lightning or torch API, every monkeypatch, every difference between the supported
versions, and the lookups of Lightning's classes in either namespace (``lightning.pytorch``, ``pytorch_lightning``),
in one place.

Each function below wraps one private name and says what happens when it disappears: a documented
fallback that changes nothing the user can see, or a ``RuntimeError`` at ``fit`` that names the API,
never a silent change of behaviour. ``PRIVATE_APIS`` lists them, with the private names this package's own
classes implement or forward for torch (``_opt_called`` on a proxy optimizer, ``_get_closed_form_lr`` on a
schedule) and the objects it patches; ``tests/utilities/test_compat.py`` fails as soon as one of them no
longer exists in the installed versions, and ``tests/test_layering.py`` fails when a private name is used
outside the places listed here.

A feature that needs a newer torch than the lowest supported one is a ``TorchFeature`` (``TORCH_FEATURES``);
``requires_torch`` refuses it when the class declaring it is defined, naming the version, instead of an
``AttributeError`` deep in torch.

Supported: torch >= 2.4, Lightning >= 2.5, Python >= 3.10 (``docs/compat.md`` has the measured table,
``scripts/compat.py`` reruns it). Verified private APIs on torch 2.4.0 to 2.13.0, Lightning 2.5.0 to 2.6.6 (the supported range).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.abc
import importlib.util
import inspect
import operator
import re
import shutil
import sys
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import torch

#: jsonargparse: the releases whose error wording ``unknown_config_key`` and ``unrecognized_arguments`` read, each
#: run with the CLI tests (the lower end is the ``cli`` extra's bound, ``tests/test_packaging.py``)
VERIFIED_ON = {"torch": "2.4.0 to 2.13.0", "lightning": "2.5.0 to 2.6.6", "jsonargparse": "4.39.0 to 4.53.0"}


def release(version: str) -> tuple[int, ...]:
    """The release numbers of a version string; a pre-release or local build counts as its release.

    Example:
        >>> release("2.9.0a0+git1234"), release("2.13.0+cpu"), release("2.4")
        ((2, 9, 0), (2, 13, 0), (2, 4))
    """
    match = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


#: The installed torch's release numbers, e.g. ``(2, 13, 0)``.
TORCH_VERSION: tuple[int, ...] = release(torch.__version__)


def torch_at_least(minimum: str) -> bool:
    """Whether the installed torch is release ``minimum`` or newer (a nightly counts as its release)."""
    return release(minimum) <= TORCH_VERSION


@dataclass(frozen=True)
class TorchFeature:
    """Something this package offers only with a torch newer than its lowest supported one."""

    #: what the user declares, as a message names it
    name: str
    #: the first torch release that has it
    minimum: str
    #: what torch added in that release
    needs: str
    #: what to do instead on an older torch
    instead: str


#: ``MuonWithAdamW`` (``"muon_adamw"``) steps its Muon groups with torch's own Muon.
MUON = TorchFeature("`MuonWithAdamW`", "2.9", "`torch.optim.Muon`", "declare another optimizer")

#: Every feature that needs a newer torch than the lowest supported one.
TORCH_FEATURES: tuple[TorchFeature, ...] = (MUON,)


def requires_torch(feature: TorchFeature, where: str) -> None:
    """Refuse ``feature`` with a ``ValueError`` naming the torch release it needs, if the installed torch is older.

    Example:
        >>> future = TorchFeature("`implementation='warp'`", "99.0", "warp kernels", "use 'auto'")
        >>> requires_torch(future, "Model.optimizer")
        Traceback (most recent call last):
        ...
        ValueError: Model.optimizer: Expected torch >= 99.0 for `implementation='warp'` (it needs warp kernels, added in torch 99.0) but got torch ... Upgrade torch (pip install 'torch>=99.0') or use 'auto'.
    """
    if not torch_at_least(feature.minimum):
        raise _too_old(feature, where)


def _too_old(feature: TorchFeature, where: str) -> ValueError:
    return ValueError(
        f"{where}: Expected torch >= {feature.minimum} for {feature.name} (it needs {feature.needs}, "
        f"added in torch {feature.minimum}) but got torch {torch.__version__}. Upgrade torch "
        f"(pip install 'torch>={feature.minimum}') or {feature.instead}."
    )


def torch_optimizer_class(name: str) -> type[torch.optim.Optimizer] | None:
    """``torch.optim.<name>``, or ``None`` on a torch without it (``Muon`` before 2.9, ``Adafactor`` before 2.5).

    Example:
        >>> torch_optimizer_class("AdamW") is torch.optim.AdamW, torch_optimizer_class("Warp")
        (True, None)
    """
    cls: type[torch.optim.Optimizer] | None = getattr(torch.optim, name, None)
    return cls


def torch_muon(where: str) -> type[torch.optim.Optimizer]:
    """``torch.optim.Muon``; on a torch without it, the ``ValueError`` of ``requires_torch(MUON, where)``."""
    muon: type[torch.optim.Optimizer] | None = getattr(torch.optim, "Muon", None)
    if muon is None:
        raise _too_old(MUON, where)
    return muon


#: The standalone distribution ``pytorch-lightning``, which ``lightning`` 2.x installs: the code of
#: ``lightning.pytorch`` under this name, with classes of its own (``pytorch_lightning.LightningModule`` is not
#: ``lightning.pytorch.LightningModule``). A module, Trainer or callback comes from either namespace.
STANDALONE = "pytorch_lightning"


def lightning_namespaces() -> tuple[ModuleType, ...]:
    """``lightning.pytorch``, and ``pytorch_lightning`` once it is imported.

    Never imports ``pytorch_lightning``: until the user does, none of its objects can reach this package (and a
    Lightning without it, or one whose ``pytorch_lightning`` is another version, costs nothing).
    """
    import lightning.pytorch

    standalone = sys.modules.get(STANDALONE)
    return (lightning.pytorch,) if standalone is None else (lightning.pytorch, standalone)


@functools.cache
def _class(namespace: ModuleType, path: str) -> type[Any] | None:
    """The class ``path`` of ``namespace``; ``None`` where it has none (``lightning`` does not pin its
    ``pytorch-lightning``, which may be another release)."""
    module, _, name = path.rpartition(".")
    try:
        found = getattr(
            importlib.import_module(".".join(filter(None, (namespace.__name__, module)))), name, None
        )
    except ImportError:
        return None
    return found if isinstance(found, type) else None


def lightning_classes(path: str) -> tuple[type[Any], ...]:
    """The class ``path`` (relative to ``lightning.pytorch``) of each namespace imported, for ``isinstance``.

    Example:
        >>> import lightning.pytorch
        >>> lightning.pytorch.strategies.FSDPStrategy in lightning_classes("strategies.FSDPStrategy")
        True
    """
    return tuple(cls for cls in (_class(n, path) for n in lightning_namespaces()) if cls is not None)


def lightning_base(cls: type, path: str = "LightningModule") -> type[Any]:
    """The class ``path`` of the namespace ``cls`` derives from (``lightning.pytorch``'s if neither).

    Example:
        >>> import lightning.pytorch
        >>> class Model(lightning.pytorch.LightningModule): ...
        >>> lightning_base(Model) is lightning.pytorch.LightningModule, lightning_base(int, "Callback").__module__
        (True, 'lightning.pytorch.callbacks.callback')
    """
    return namespace_class(cls, path, path)


def namespace_class(cls: type, path: str, base: str) -> type[Any]:
    """The class ``path`` of the namespace whose class ``base`` ``cls`` derives from (``lightning.pytorch``'s if
    neither), e.g. the ``MisconfigurationException`` a Trainer's own callbacks raise.

    Example:
        >>> import lightning.pytorch
        >>> namespace_class(lightning.pytorch.Trainer, "utilities.exceptions.MisconfigurationException", "Trainer")
        <class 'lightning.fabric.utilities.exceptions.MisconfigurationException'>
    """
    for namespace in lightning_namespaces():
        owner, found = _class(namespace, base), _class(namespace, path)
        if owner is not None and found is not None and issubclass(cls, owner):
            return found
    return lightning_classes(path)[0]


def is_overridden(name: str, instance: Any) -> bool:
    """Whether ``instance`` overrides the method ``name`` of its namespace's ``LightningModule`` (Lightning's
    ``is_overridden``, which finds the parent in its own namespace only)."""
    from lightning.pytorch.utilities.model_helpers import is_overridden as lightnings

    return lightnings(name, instance, lightning_base(type(instance), "LightningModule"))


@dataclass(frozen=True)
class PrivateApi:
    """One private name this package relies on."""

    name: str
    used_for: str
    when_missing: str
    #: modules besides this one that name it (a class implementing or forwarding it for torch)
    named_in: tuple[str, ...] = ()


PRIVATE_APIS: tuple[PrivateApi, ...] = (
    PrivateApi(
        "OptimizedModule._orig_mod",
        "`describe_optimizers` and `preview_schedule` read the module `torch.compile` wrapped, as `fit` trains it",
        "fallback: a compiled module is refused as a module without the mixin (describe the module before "
        "compiling it)",
    ),
    PrivateApi(
        "LightningModule._compiler_ctx",
        "under `Trainer.fit(torch.compile(module))` the training step the mixin writes from `loss=` runs outside "
        "dynamo (`training_step_outside_compile`: Lightning compiles the module's `training_step` too, and dynamo "
        "cannot trace the step's `self.log`); its `forward` stays compiled",
        "fallback: the written step is compiled as Lightning compiles it (dynamo's own error in the first step)",
    ),
    PrivateApi(
        "LightningModule._trainer",
        "the Trainer a module is attached to, without the `trainer` property's error when there is none",
        "error at fit",
    ),
    PrivateApi(
        "Strategy._lightning_optimizers",
        "the live optimizer behind `self.<attribute>` is cached until Lightning replaces this list "
        "(`module.optimizers()` reads the same list)",
        "error at the first `self.<attribute>` access during fit",
    ),
    PrivateApi(
        "Trainer._checkpoint_connector._loaded_checkpoint",
        "the checkpoint being resumed, for strategies that load it after `configure_optimizers`",
        "error at fit when resuming",
    ),
    PrivateApi(
        "Trainer.fit_loop.epoch_loop._batches_that_stepped",
        "LRMonitor's logging step, and its copy of `_LoggerConnector.should_update_logs`",
        "error when LRMonitor starts",
    ),
    PrivateApi(
        "checkpoint['loops']['fit_loop'] batch and epoch progress",
        "whether a checkpoint was written at a batch's end before Lightning's per-step `ReduceLROnPlateau` update "
        "of that batch (`batch_left_unfinished`), or inside an epoch before its per-epoch one "
        "(`epoch_left_unfinished`: also `completed` and `is_last_batch`), which the resumed run then takes with "
        "the saved metric; whether a checkpoint without optimizer state comes from a fit that had begun "
        "(`fit_progressed`: `total` counts), which the mixin then refuses instead of resuming it as a new run; the "
        "batch progress restoring it sets the loop's to (`saved_batch_progress`)",
        "fallback: that update is not taken on resume (Lightning's own behaviour); `fit_progressed` reads the "
        "checkpoint's `epoch` and `global_step` alone",
    ),
    PrivateApi(
        "Trainer._logger_connector.update_train_step_metrics",
        "monkeypatch: wrapped on the Trainer's connector while a `loss=` module accumulates, to write the "
        "logged values at each window's last batch only (`log_at_window_ends`: also `_FitLoop._should_accumulate`), "
        "as Lightning does in automatic optimization",
        "fallback: a row per batch of a window (Lightning's own behaviour in manual optimization)",
    ),
    PrivateApi(
        "Trainer.fit_loop epoch and batch progress",
        "where a resumed fit stands inside an epoch, to count the steps left at a changed rate "
        "(`batches_into_epoch`: `epoch_progress.current`, `epoch_loop.batch_progress.current.processed`), and "
        "whether it restarts at an epoch's end (`restarted_on_epoch_end`: `fit_loop.restarting`); the batches of "
        "the run done (`batches_trained`: `batch_progress.total.processed`) and of an epoch that ended "
        "(`batches_started`: `batch_progress.current.started`); whether a resumed checkpoint's training state was "
        "restored, which a tuner's own restore in `on_fit_start` ends (`batch_progress`: its `state_dict()`)",
        "error at fit",
    ),
    PrivateApi(
        "Trainer._logger_connector._first_loop_iter",
        "whether the epoch in progress has begun its training batches (`batches_into_epoch`): set at a training "
        "batch's start, cleared at each run's start and epoch's end; before, the epoch loop's counts are those "
        "of the last epoch, or of a fit of the same Trainer that raised mid-epoch, which its `reset` zeroes",
        "fallback: the counts of an epoch the fit loop started (a fit again after one that raised mid-epoch "
        "counts the batches the raised fit trained as done)",
    ),
    PrivateApi(
        "_TrainingEpochLoop.reset's count of a restored epoch",
        "the batches of the resumed epoch a fit with other batches per epoch counts as done (`batches_into_epoch`, "
        "`resumed_batches`): Lightning's rule, read from `epoch_loop.restarting`, "
        "`epoch_loop.restarted_on_train_batch_end` and `batch_progress.is_last_batch` (the same in 2.5.0 to 2.6.6)",
        "error at fit",
    ),
    PrivateApi(
        "_TrainingEpochLoop._num_ready_batches_reached",
        "manual optimization steps per-epoch schedulers only after an epoch that ran all its batches, Lightning's "
        "own condition (`epoch_ran_to_end`), not after one cut short by `max_steps` or `trainer.should_stop`",
        "error at the end of the first epoch in manual optimization with a per-epoch scheduler",
    ),
    PrivateApi(
        "checkpoint['loops']['fit_loop'] optimizer step counters",
        "a changed setup resumed in the other optimization mode (`resume_changed_setup`) goes on at the "
        "checkpoint's global step (`carry_global_step`)",
        "fallback: the global step restarts at 0 after such a switch (Lightning's own behaviour)",
    ),
    PrivateApi(
        "Lightning skips callback hooks that are not callable",
        "the mixin's callbacks cost nothing on the per-batch hooks they do not use (`_call_callback_hooks` "
        "checks `callable(fn)`; each dispatch otherwise costs a profiler context and a `state_key` string)",
        "error at fit: a disabled hook would be called",
    ),
    PrivateApi(
        "Optimizer._opt_called",
        "silence torch's 'scheduler stepped before optimizer' warning in previews and fast-forwards, where no "
        "optimizer steps; a proxy optimizer (schedules/param_view.py) forwards it to the real one",
        "fallback: the warning is shown",
        named_in=("schedules/param_view.py",),
    ),
    PrivateApi(
        "Optimizer.step._wrapped_by_lr_sched",
        "monkeypatch: `track_steps` wraps an optimizer's `step` as torch's LRScheduler does, so a scheduler "
        "built on a proxy of it sees it step",
        "fallback: torch warns once that a scheduler stepped before its optimizer",
    ),
    PrivateApi(
        "LRScheduler._get_closed_form_lr",
        "the closed form torch's `step(epoch)` uses, implemented by schedules/transformers.py and "
        "schedules/timm_cosine.py",
        "nothing fails: `step()` without an epoch never reads it",
        named_in=("schedules/transformers.py", "schedules/timm_cosine.py"),
    ),
    PrivateApi(
        "Lightning reads a scheduler config's `strict` only when its monitored metric is missing",
        "a plateau's `strict` is `training/plateau.py`'s `StrictMonitor`, which raises this package's error with "
        "a near miss where `_TrainingEpochLoop._update_learning_rates` would raise its own",
        "Lightning's MisconfigurationException for a missing monitor (or our error before any metric is missing: "
        "the test fails first)",
    ),
    PrivateApi(
        "lightning.pytorch.cli._InstantiatorFn",
        "DeclarativeCLI instantiates the model as LightningCLI does, so `load_from_checkpoint` finds its config",
        "fallback: the model is instantiated directly (its config is not saved as hparams)",
    ),
    PrivateApi(
        "MixedPrecision.optimizer_step steps as plain precision without a scaler",
        "a `loss=` window whose every loss was `None` steps without gradients under `16-mixed` (`without_scaler`: "
        "`scaler` set to `None` for that step, as for `bf16-mixed`), where `GradScaler.step` refuses an optimizer "
        "without gradients",
        "error at fit: the scaler's own error at the first such step (the test fails first)",
    ),
    PrivateApi(
        "Strategy.load_checkpoint",
        "monkeypatch: wrapped on a `ModelParallelStrategy` instance between `on_fit_start` and `on_train_start` "
        "(`around_checkpoint_load`), so that a checkpoint without optimizer states (weights-only) loads without "
        "them and meets the resume guard, which Lightning does not call for it",
        "error at fit: the wrapper would not run",
    ),
    PrivateApi(
        "Trainer.save_checkpoint",
        "monkeypatch: wrapped on the Trainer instance while a schedule-free optimizer trains "
        "(training/schedule_free.py), so checkpoints hold the evaluation weights",
        "error at fit: the wrapper would not run",
    ),
    PrivateApi(
        "type.__new__ of a declaring class",
        "monkeypatch: on Python < 3.12 a LightningModule that declares OptimizerSpecs without the mixin gets a "
        "`__new__` refusing instances (declarations/specs.py), since `__set_name__` errors are re-raised there",
        "nothing fails: Python 3.12+ raises at class definition",
    ),
    PrivateApi(
        "Optimizer._step_supports_amp_scaling",
        "know which fused optimizers unscale gradients inside `step` and take `found_inf`: Lightning's mixed "
        "precision refuses to clip them and skips the scaler's `unscale_` (`fused_step_unscales`), and "
        "`skip_nonfinite` hands them its flag so the kernel skips on the device (`takes_found_inf`). torch sets "
        "it for `fused=True`: Adam, AdamW and SGD on every supported torch, Adagrad on some releases (not 2.11)",
        "fallback: every fused kernel is taken to unscale (auto avoids fused where clipping may happen); "
        "`skip_nonfinite` reads its flag on the host (a synchronization per step on a GPU)",
    ),
    PrivateApi(
        "torch._amp_foreach_non_finite_check_and_unscale_",
        "`skip_nonfinite` checks every gradient with GradScaler's own kernel (one launch per device and dtype, "
        "no synchronization)",
        "fallback: `torch.isfinite` per gradient (one kernel each)",
    ),
    PrivateApi(
        "torch.nn.modules.batchnorm._NormBase",
        "the `norm` kind of `no_decay`: BatchNorm*, their Lazy forms, SyncBatchNorm and InstanceNorm* in one class",
        "fallback: those classes listed one by one",
    ),
    PrivateApi(
        "Optimizer.step.__wrapped__",
        "`implementation='compiled'` compiles the optimizer class's own update, the function torch's hooked "
        "`step` (`Optimizer.profile_hook_step`, which runs the step hooks) and its grad-mode decorator wrap, "
        "so that the hooks and the grad mode stay outside the compiled graph",
        "error at fit for `implementation='compiled'`",
    ),
    PrivateApi(
        "torch._dynamo.is_dynamo_supported",
        "`implementation='compiled'` is refused at fit on a Python that torch.compile does not support",
        "fallback: taken as supported (torch.compile then raises its own error in the first step)",
    ),
    PrivateApi(
        "torch._inductor.cpp_builder.get_cpp_compiler",
        "`implementation='compiled'` on the CPU needs the C++ compiler inductor uses; refused at fit without one",
        "fallback: a `g++`, `c++` or `clang++` on the PATH",
    ),
    PrivateApi(
        "UntypedStorage._cdata",
        "the handle `torch._C._storage_Use_Count` counts the users of (LRMonitor's published tensors)",
        "fallback: fresh tensors at every logging event (slower, same values)",
    ),
    PrivateApi(
        "torch._C._storage_Use_Count",
        "LRMonitor rewrites its published tensors in place only when nothing else holds them",
        "fallback: fresh tensors at every logging event (slower, same values)",
    ),
    PrivateApi(
        "torch.optim.optimizer._get_capturable_supported_devices",
        "refuse `capturable=True` on devices torch only rejects inside the first step",
        "fallback: CUDA only",
    ),
    PrivateApi(
        "torch.optim.optimizer._default_to_fused_or_foreach",
        "name torch's own default implementation in the INFO line",
        "fallback: foreach on CUDA, the for-loop elsewhere (torch's documented rule)",
    ),
    PrivateApi(
        "torch.utils._foreach_utils._get_fused_kernels_supported_devices",
        "pick a fused kernel only where torch has one",
        "fallback: CPU and CUDA",
    ),
    PrivateApi(
        "_EvaluationLoop._has_run",
        "a plateau's metric missing before the fit's validation has run (the sanity check aside) is refused saying "
        "so, naming the Trainer's validation settings, instead of suggesting a training metric "
        "(`validation_ran`)",
        "fallback: validation is taken to have run (the refusal names the closest logged metric, as before)",
    ),
    PrivateApi(
        "_EvaluationLoop._data_source",
        "a plateau's metric missing in a fit without validation data (none given to `fit`, no `val_dataloader`) "
        "is refused saying that validation never runs, as Lightning's own check reads it to skip the val loop "
        "(`has_validation_data`)",
        "fallback: the fit is taken to have validation data (the refusal says validation has not run yet)",
    ),
    PrivateApi(
        "StochasticWeightAveraging._max_epochs",
        "the run's own `max_epochs` while SWA holds the epoch it adds to the fit loop for a model with BatchNorm "
        "(`swa_batch_norm_epoch`: also `_model_contains_batch_norm`), which a derived length leaves out as the "
        "hand-written `estimated_stepping_batches` in `configure_optimizers` does",
        "error at fit with `StochasticWeightAveraging`",
    ),
    PrivateApi(
        "_ResultCollection of the fit loops (`_results`: `meta.sync.should`, `meta.sync.rank_zero_only`, "
        "`is_tensor`)",
        "a plateau's metric logged without `sync_dist` under several processes is compared across them, and "
        "refused where it differs or was logged with `rank_zero_only=True` (`logged_unsynced`)",
        "fallback: not checked (Lightning's own behaviour: each process steps on its own value)",
    ),
)


@functools.cache
def fused_step_unscales(cls: type) -> bool:
    """Whether ``cls(..., fused=True)`` unscales gradients inside ``step`` (torch's
    ``_step_supports_amp_scaling``, read by ``GradScaler`` and Lightning's ``_optimizer_handles_unscaling``).

    torch marks fused Adam, AdamW and SGD so; fused Adagrad on some releases only (2.4 and 2.12 on, not 2.8 or
    2.11, where the scaler unscales it first and Lightning clips it like any other optimizer). A missing mark
    is read as ``False``, as ``GradScaler`` and Lightning read it.

    Example:
        >>> fused_step_unscales(torch.optim.Adam), fused_step_unscales(torch.optim.RMSprop)
        (True, False)
    """
    try:
        optimizer = cls([torch.nn.Parameter(torch.zeros(1))], fused=True)
    except (RuntimeError, TypeError, ValueError):
        return False  # no fused kernel (here): nothing to unscale
    return bool(
        getattr(optimizer, "_step_supports_amp_scaling", False)
    )  # as GradScaler and Lightning read it


@functools.cache
def _missing(name: str, what: str) -> RuntimeError:
    return RuntimeError(
        f"lightning_optim needs the private API `{name}` to {what}, but the installed versions do not have "
        f"it (verified on torch {VERIFIED_ON['torch']} and Lightning {VERIFIED_ON['lightning']}). Please "
        "report this with your torch and Lightning versions."
    )


def compiled_original(module: Any) -> Any:
    """The module ``torch.compile`` wrapped (an ``OptimizedModule``'s ``_orig_mod``, which Lightning's ``fit`` also
    trains), or ``module`` itself.

    Example:
        >>> net = torch.nn.Linear(2, 1)
        >>> compiled_original(torch.compile(net)) is net, compiled_original(net) is net
        (True, True)
    """
    if not isinstance(module, torch.nn.Module):
        return module
    original = vars(module).get("_modules", {}).get("_orig_mod")
    return original if isinstance(original, torch.nn.Module) else module


def training_step_outside_compile(module: Any) -> None:
    """Run ``module``'s ``training_step`` outside dynamo when ``fit`` was given ``torch.compile(module)``.

    Lightning's ``fit`` then compiles the module's ``training_step`` as well as its ``forward``
    (``lightning.pytorch.utilities.compile.from_compiled``, keeping the originals in ``_compiler_ctx``). The step
    the mixin writes from ``loss=`` logs (``self.log``, which dynamo cannot trace under Lightning) and steps the
    optimizers: it runs eagerly, and the ``forward`` the loss methods call stays compiled. A module that was not
    compiled is left as it is (nothing is added to its steps).
    """
    context = getattr(module, "_compiler_ctx", None)
    original = context.get("original_training_step") if isinstance(context, dict) else None
    if original is not None:
        module.training_step = torch.compiler.disable(original)


@contextlib.contextmanager
def without_scaler(trainer: Any) -> Iterator[None]:
    """Lightning's precision plugin steps without its enabled gradient scaler (``16-mixed``) meanwhile:
    ``MixedPrecision`` and ``FSDPPrecision`` step as plain precision when their ``scaler`` is ``None``.

    For a step without gradients, which ``GradScaler.step`` refuses ("No inf checks were recorded for this
    optimizer") and which automatic optimization takes without the scaler (no ``unscale_``, ``step`` or
    ``update``) after a ``training_step`` that returned ``None``. A disabled scaler steps as it is.

    Example:
        >>> from types import SimpleNamespace
        >>> trainer = SimpleNamespace(precision_plugin=SimpleNamespace(scaler=torch.amp.GradScaler("cpu")))
        >>> with without_scaler(trainer):
        ...     print(trainer.precision_plugin.scaler)
        None
        >>> trainer.precision_plugin.scaler is not None
        True
    """
    plugin = trainer.precision_plugin
    scaler = getattr(plugin, "scaler", None)
    if scaler is None or not scaler.is_enabled():
        yield
        return
    plugin.scaler = None
    try:
        yield
    finally:
        plugin.scaler = scaler


def attached_trainer(module: Any) -> Any | None:
    """The Trainer ``module`` is attached to, or ``None`` (``module.trainer`` raises instead)."""
    return getattr(module, "_trainer", None)


def lightning_optimizers(trainer: Any) -> list[Any]:
    """The ``LightningOptimizer`` wrappers that ``module.optimizers()`` returns: one list object, replaced (never
    changed in place) whenever Lightning sets the strategy's optimizers, so its identity tells that they changed."""
    try:
        wrappers: list[Any] = trainer.strategy._lightning_optimizers
    except AttributeError:
        raise _missing(
            "Strategy._lightning_optimizers", "find the live optimizer of `self.<attribute>`"
        ) from None
    return wrappers


#: ``module._trainer`` and ``strategy._lightning_optimizers`` as C calls (no Python frame, no default): for the
#: per-access check of ``self.<attribute>``, after ``attached_trainer`` and ``lightning_optimizers`` found both
module_trainer: Callable[[Any], Any] = operator.attrgetter("_trainer")
strategy_wrappers: Callable[[Any], list[Any]] = operator.attrgetter("_lightning_optimizers")


def around_checkpoint_load(
    strategy: Any, around: Callable[[Callable[[], dict[str, Any]], Any, bool | None], dict[str, Any]]
) -> Callable[[], None]:
    """Route ``strategy.load_checkpoint(path, weights_only)`` through ``around(load, path, weights_only)``, ``load``
    the strategy's own call; on the instance, until what it returns undoes it. A wrapper left by an earlier fit is
    replaced, not wrapped again."""
    if hasattr(vars(strategy).get("load_checkpoint"), "around"):
        del strategy.load_checkpoint
    original = strategy.load_checkpoint

    def load_checkpoint(checkpoint_path: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        # Lightning before 2.5.1 passes no `weights_only`
        weights_only = kwargs.get("weights_only", args[0] if args else None)
        return around(lambda: original(checkpoint_path, *args, **kwargs), checkpoint_path, weights_only)

    load_checkpoint.around = around  # type: ignore[attr-defined]
    strategy.load_checkpoint = load_checkpoint

    def undo() -> None:
        if vars(strategy).get("load_checkpoint") is load_checkpoint:
            del strategy.load_checkpoint

    return undo


def loaded_checkpoint(trainer: Any) -> dict[str, Any]:
    """The checkpoint Lightning is resuming from, when it is already loaded (empty otherwise)."""
    if not hasattr(trainer, "_checkpoint_connector") or not hasattr(
        trainer._checkpoint_connector, "_loaded_checkpoint"
    ):
        raise _missing("Trainer._checkpoint_connector._loaded_checkpoint", "check the resumed checkpoint")
    checkpoint = trainer._checkpoint_connector._loaded_checkpoint
    return checkpoint if isinstance(checkpoint, dict) else {}


def logged_unsynced(trainer: Any, name: str) -> Literal["rank_zero_only", "unsynced"] | None:
    """How this fit's training or validation loop logged the tensor metric ``name`` (or its ``_step`` /
    ``_epoch`` form) with ``sync_dist`` off, under several processes each one's own value: ``"rank_zero_only"``
    with ``rank_zero_only=True`` (by Lightning's contract, perhaps on rank 0 alone), else ``"unsynced"``;
    ``None`` when synchronised or not logged there."""
    epoch_loop = getattr(getattr(trainer, "fit_loop", None), "epoch_loop", None)
    collections = (
        getattr(epoch_loop, "_results", None),
        getattr(getattr(epoch_loop, "val_loop", None), "_results", None),
    )
    for results in collections:
        for metric in (results or {}).values():
            meta = getattr(metric, "meta", None)  # none on a logged dict's collection
            if meta is None or name not in (meta.name, meta.forked_name(True), meta.forked_name(False)):
                continue
            if not metric.is_tensor or meta.sync.should:
                return None
            return "rank_zero_only" if meta.sync.rank_zero_only else "unsynced"
    return None


def batches_that_stepped(trainer: Any) -> int:
    """Lightning's logging step: the batches whose optimizer step ran, in this fit."""
    return int(trainer.fit_loop.epoch_loop._batches_that_stepped)


def log_at_window_ends(trainer: Any) -> Callable[[], None]:
    """Write a training step's logged values to the loggers at each accumulation window's last batch only, as
    Lightning does in automatic optimization (``_LoggerConnector.update_train_step_metrics`` returns while
    ``fit_loop._should_accumulate()``), for a module in manual optimization that accumulates as automatic
    optimization does (``loss=``, ``training/driven.py``): that method is wrapped on the Trainer's connector,
    the rest of its rule (``log_every_n_steps``, ``fast_dev_run``) kept. Returns what undoes it; without those
    names, nothing is wrapped (a row per batch, Lightning's own behaviour in manual optimization)."""
    connector: Any = getattr(trainer, "_logger_connector", None)
    write = getattr(connector, "update_train_step_metrics", None)
    if write is None or not callable(getattr(trainer.fit_loop, "_should_accumulate", None)):
        return lambda: None

    def at_window_ends() -> None:
        if not trainer.fit_loop._should_accumulate():
            write()

    connector.update_train_step_metrics = at_window_ends

    def undo() -> None:
        if vars(connector).get("update_train_step_metrics") is at_window_ends:
            del connector.update_train_step_metrics

    return undo


def batches_trained(trainer: Any) -> int:
    """The training batches of the run the loops have done, a restored checkpoint's run included: those processed,
    as ``batches_into_epoch`` counts an epoch's (a batch counts from its ``on_train_batch_end`` on, and the batch
    an ``OnExceptionCheckpoint`` saved unfinished does not); 0 for a stand-in."""
    loop = getattr(trainer, "fit_loop", None)
    return 0 if loop is None else int(loop.epoch_loop.batch_progress.total.processed)


def batches_started(trainer: Any) -> int:
    """The training batches of the epoch in progress whose training step started: at its end, those it trained on
    (not the batch whose ``on_train_batch_start`` returned -1 to end it, which Lightning counts as processed)."""
    return int(trainer.fit_loop.epoch_loop.batch_progress.current.started)


def batches_into_epoch(trainer: Any) -> int:
    """The batches of an epoch in progress the loops have done (0 between epochs): when training starts, those a
    checkpoint written mid-epoch (or at an epoch's last batch) restored, as Lightning counts them on in this fit
    (``resumed_batches``); none after a fit of the same Trainer that raised mid-epoch, whose epoch Lightning
    trains again from its first batch (``_training_batches_begun``).

    The batches *processed* (trained on): a checkpoint written in ``on_train_batch_end`` has processed its batch
    but not completed it (Lightning completes it on restart), and one written by ``OnExceptionCheckpoint`` holds
    the failed batch as ready and started but not processed (Lightning trains on it again)."""
    loop = getattr(trainer, "fit_loop", None)
    if loop is None or restarted_on_epoch_end(trainer):
        return 0  # a stand-in for previews; an epoch whose end the checkpoint saw is done
    epoch_loop = loop.epoch_loop
    processed = int(epoch_loop.batch_progress.current.processed)
    if epoch_loop.restarting:  # restored, and Lightning's `_TrainingEpochLoop.reset` has not run yet
        return resumed_batches(
            processed,
            float(trainer.num_training_batches),
            batch_end=bool(epoch_loop.restarted_on_train_batch_end),
            last=bool(epoch_loop.batch_progress.is_last_batch),
        )
    epochs = loop.epoch_progress.current
    if epochs.started <= epochs.completed:
        return 0
    # at the epoch's end hooks every batch of it is done
    return processed if epochs.processed > epochs.completed or _training_batches_begun(trainer) else 0


def _training_batches_begun(trainer: Any) -> bool:
    """Whether the epoch in progress has begun its training batches, or runs its validation between them: only
    then are the epoch loop's counts its own. Before, at training's start or an epoch's start, they are those of
    the last epoch, or of a fit of this Trainer that raised mid-epoch (whose epoch Lightning counts as started
    on), which the epoch loop's ``reset`` zeroes when the epoch begins (a restart is read before this).

    Lightning's logger connector marks those batches: ``_first_loop_iter`` is set at a training batch's start
    and cleared at each run's start and each epoch's end (the training epoch loop keeps it across its
    validation runs, whose own batches set it while they run)."""
    connector: Any = getattr(trainer, "_logger_connector", None)
    if not hasattr(connector, "_first_loop_iter"):
        return True  # Lightning's epoch progress alone: the counts of an epoch the fit loop started
    return connector._first_loop_iter is not None or bool(getattr(trainer, "validating", False))


def resumed_batches(processed: int, batches: float, *, batch_end: bool, last: bool) -> int:
    """The batches of the resumed epoch done, by Lightning's rule for a checkpoint's ``processed`` batches of its
    epoch in a fit of ``batches`` per epoch (another ``limit_train_batches``, batch size or device count than the
    checkpoint's): the count carries on while it is below ``batches``. Past it, a checkpoint written in
    ``on_train_batch_end`` (``batch_end``) starts the epoch over (when its batch was the epoch's ``last``, the
    fit loop has already counted the epoch as done); any other (``on_validation_end``, ``OnExceptionCheckpoint``)
    keeps the count, and the data fetcher, counting those batches as fetched, ends the epoch after one more batch,
    or at once when the checkpoint's batch was its epoch's last.

    Example:
        >>> resumed_batches(6, 8, batch_end=True, last=False), resumed_batches(8, 16, batch_end=True, last=True)
        (6, 8)
        >>> resumed_batches(12, 8, batch_end=True, last=False), resumed_batches(16, 8, batch_end=True, last=True)
        (0, 0)
        >>> resumed_batches(12, 8, batch_end=False, last=False), resumed_batches(16, 8, batch_end=False, last=True)
        (7, 16)
    """
    if processed < batches:
        return processed
    if batch_end:
        return 0
    return processed if last else int(batches) - 1


def validation_ran(trainer: Any) -> bool:
    """Whether the fit's validation loop has run in this fit (not counting the sanity check): Lightning's
    ``_has_run``, set at the end of a validation batch outside the sanity check and cleared when a run starts,
    so true between runs once one has run."""
    loop = getattr(getattr(getattr(trainer, "fit_loop", None), "epoch_loop", None), "val_loop", None)
    return bool(getattr(loop, "_has_run", True))


def has_validation_data(trainer: Any) -> bool:
    """Whether the fit has validation data: dataloaders given to ``fit`` or a ``val_dataloader`` of the module or
    datamodule (the fit's validation loop's ``_data_source.is_defined()``, which Lightning's configuration check
    reads to skip the val loop)."""
    loop = getattr(getattr(getattr(trainer, "fit_loop", None), "epoch_loop", None), "val_loop", None)
    source = getattr(loop, "_data_source", None)
    return source is None or bool(source.is_defined())


def swa_batch_norm_epoch(callback: Any, trainer: Any) -> bool:
    """Whether Lightning's ``StochasticWeightAveraging`` ``callback`` holds the epoch it adds to the fit loop's
    ``max_epochs`` for a model with BatchNorm, to update the averaged model's statistics: added in its
    ``on_fit_start`` (which records the run's own ``max_epochs``), removed in its ``on_train_end``."""
    if not hasattr(callback, "_model_contains_batch_norm"):
        raise _missing(
            "StochasticWeightAveraging._max_epochs", "tell the run's epochs from SWA's BatchNorm epoch"
        )
    own = getattr(callback, "_max_epochs", None)  # set in `on_fit_start`
    return (
        bool(callback._model_contains_batch_norm) and own not in (None, -1) and trainer.max_epochs == own + 1
    )


def epochs_done(trainer: Any) -> int:
    """The epochs the loops have finished: ``current_epoch``, and the epoch a checkpoint written at its end (in
    ``on_train_epoch_end``) restored, which Lightning counts as not done when ``max_steps`` is set (it replays
    the epoch's end, and ``current_epoch`` stays at that epoch until then)."""
    epoch = int(getattr(trainer, "current_epoch", 0) or 0)
    return epoch + 1 if restarted_on_epoch_end(trainer) else epoch


def epoch_ran_to_end(trainer: Any) -> bool:
    """Whether the epoch ending now ran all its batches: Lightning steps per-epoch schedulers only then, not after
    an epoch cut short by ``max_steps`` or ``trainer.should_stop`` (``Timer``, ``EarlyStopping``)."""
    return bool(trainer.fit_loop.epoch_loop._num_ready_batches_reached())


def restarted_on_epoch_end(trainer: Any) -> bool:
    """Whether the fit loop restarts at the end of an epoch whose end hooks ran before the checkpoint: its epoch
    is processed but not completed. Lightning only restarts there when ``max_steps`` is set; without it, the
    epoch counts as completed when training starts."""
    loop = getattr(trainer, "fit_loop", None)
    if loop is None or not loop.restarting:
        return False
    epochs = loop.epoch_progress.current
    return bool(epochs.started == epochs.processed == epochs.completed + 1)


def _fit_loop_state(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The state of the fit loop a checkpoint saved (empty without one)."""
    state = (checkpoint.get("loops") or {}).get("fit_loop")
    return state if isinstance(state, dict) else {}


def _saved_progress(
    checkpoint: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
    """The batch progress a checkpoint saved, with its ``current`` counts, and the epoch progress's ``current``
    counts; ``None`` without them."""
    state = _fit_loop_state(checkpoint)
    progress = state.get("epoch_loop.batch_progress") or {}
    batches, epochs = progress.get("current"), (state.get("epoch_progress") or {}).get("current")
    if not isinstance(batches, dict) or not isinstance(epochs, dict):
        return None
    return progress, batches, epochs


#: The fit loop progress counters whose ``total`` counts what a fit started
_STARTED = ("epoch_progress", "epoch_loop.batch_progress")


def saved_batch_progress(checkpoint: Mapping[str, Any]) -> dict[str, Any] | None:
    """The batch progress of the fit loop ``checkpoint`` saved (``None`` without one): what restoring its training
    state sets the loop's to (``batch_progress``)."""
    progress = _fit_loop_state(checkpoint).get("epoch_loop.batch_progress")
    return progress if isinstance(progress, dict) else None


def batch_progress(trainer: Any) -> dict[str, Any]:
    """The batch progress of the fit loop as it stands: until the first epoch starts, the one a restored
    checkpoint saved (``saved_batch_progress``); nothing in Lightning touches it between the restore and
    ``on_train_start``."""
    return dict(trainer.fit_loop.epoch_loop.batch_progress.state_dict())


def fit_progressed(checkpoint: Mapping[str, Any]) -> bool:
    """Whether the fit loop ``checkpoint`` saved had started an epoch or a batch, or taken an optimizer step: a fit
    resumed from it goes on from there, not from a new run's start (``trainer.save_checkpoint`` after ``validate``
    writes a fit loop that never ran).

    Example:
        >>> fit_progressed({"epoch": 0, "global_step": 0}), fit_progressed({"epoch": 1, "global_step": 0})
        (False, True)
        >>> batches = {"epoch_loop.batch_progress": {"total": {"started": 2}}}  # inside epoch 0, no step taken
        >>> fit_progressed({"epoch": 0, "global_step": 0, "loops": {"fit_loop": batches}})
        True
    """
    state = _fit_loop_state(checkpoint)
    started = [(state.get(key) or {}).get("total", {}).get("started", 0) for key in _STARTED]
    begun = any(int(count) for count in started)
    return begun or bool(checkpoint.get("epoch") or checkpoint.get("global_step"))


def batch_left_unfinished(checkpoint: Mapping[str, Any]) -> int | None:
    """The batch (its index in the epoch) at whose end ``checkpoint`` was written before Lightning's loop left it:
    in ``on_train_batch_end`` or the validation run after the batch, where Lightning has yet to step the batch's
    per-step ``ReduceLROnPlateau``; ``None`` for a checkpoint written anywhere else (at an epoch's end, in a
    failed batch) or without the loop state.

    The checkpoint's batch progress tells: the batch is processed (not one that failed, ready and started only)
    and no next batch is ready, in an epoch not yet processed (``on_train_epoch_end`` comes after that).

    Example:
        >>> def written(batches, epochs):
        ...     keys = ("ready", "started", "processed", "completed")
        ...     progress = {"epoch_loop.batch_progress": {"current": dict(zip(keys, batches))},
        ...                 "epoch_progress": {"current": dict(zip(keys, epochs))}}
        ...     return batch_left_unfinished({"loops": {"fit_loop": progress}})
        >>> written((3, 3, 3, 2), (1, 1, 0, 0)), written((4, 4, 4, 4), (1, 1, 0, 0))  # batch end, validation
        (2, 3)
        >>> written((4, 4, 4, 4), (1, 1, 1, 0)), written((5, 5, 4, 4), (1, 1, 0, 0))  # epoch end, failed batch
        (None, None)
    """
    saved = _saved_progress(checkpoint)
    if saved is None:
        return None
    _, batches, epochs = saved
    processed = int(batches.get("processed", 0))
    finished = processed < int(batches.get("ready", 0)) or epochs.get("processed") == epochs.get("started")
    return None if finished or processed < 1 else processed - 1


def epoch_left_unfinished(checkpoint: Mapping[str, Any]) -> int | None:
    """The epoch ``checkpoint`` was written in before Lightning stepped the epoch's per-epoch ``ReduceLROnPlateau``
    (after ``on_train_epoch_end``), which a run resumed from it never steps; ``None`` for a checkpoint written
    between epochs, without the loop state, or in ``on_train_batch_end`` of the epoch's last batch.

    A resumed run restarts inside that epoch (its remaining batches, or its end hooks again with ``max_steps``)
    with the loop restarting, where Lightning takes no plateau update, or, after its end hooks, starts the next
    epoch. The checkpoint's epoch progress tells: the epoch is started and not completed. A checkpoint of the
    last batch's end is resumed into the next epoch without the epoch's validation and end hooks, so the
    metric of its update is not logged yet (the batch is processed, not completed, and the epoch not processed).

    Example:
        >>> def written(batches, epochs, last=False):
        ...     keys = ("ready", "started", "processed", "completed")
        ...     progress = {"epoch_loop.batch_progress": {"current": dict(zip(keys, batches)), "is_last_batch": last},
        ...                 "epoch_progress": {"current": dict(zip(keys, epochs))}}
        ...     return epoch_left_unfinished({"loops": {"fit_loop": progress}})
        >>> written((4, 4, 4, 4), (2, 2, 2, 1), True), written((4, 4, 4, 4), (2, 2, 1, 1), True)  # end, validation
        (1, 1)
        >>> written((2, 2, 2, 1), (2, 2, 1, 1)), written((4, 4, 4, 3), (2, 2, 1, 1), True)  # mid-epoch, last batch
        (1, None)
        >>> written((0, 0, 0, 0), (2, 1, 1, 1)), written((4, 4, 4, 4), (2, 2, 2, 2), True)  # epoch start, between
        (None, None)
    """
    state = _epoch_in_progress(checkpoint)
    return None if state is None or state[1] else state[0]


def epoch_ended_at_last_batch(checkpoint: Mapping[str, Any]) -> int | None:
    """The epoch at whose last batch's end (``on_train_batch_end``) ``checkpoint`` was written, which a run
    resumed from it leaves without the epoch's validation and end hooks, where Lightning steps a per-epoch
    ``ReduceLROnPlateau``; ``None`` for a checkpoint written anywhere else (``epoch_left_unfinished``'s cases).

    Example:
        >>> def written(batches, epochs, last=True):
        ...     keys = ("ready", "started", "processed", "completed")
        ...     progress = {"epoch_loop.batch_progress": {"current": dict(zip(keys, batches)), "is_last_batch": last},
        ...                 "epoch_progress": {"current": dict(zip(keys, epochs))}}
        ...     return epoch_ended_at_last_batch({"loops": {"fit_loop": progress}})
        >>> written((4, 4, 4, 3), (2, 2, 1, 1)), written((4, 4, 4, 4), (2, 2, 1, 1))  # last batch, validation
        (1, None)
        >>> written((2, 2, 2, 1), (2, 2, 1, 1), last=False), written((4, 4, 4, 4), (2, 2, 2, 1))  # mid, end
        (None, None)
    """
    state = _epoch_in_progress(checkpoint)
    return state[0] if state is not None and state[1] else None


def _epoch_in_progress(checkpoint: Mapping[str, Any]) -> tuple[int, bool] | None:
    """The epoch ``checkpoint`` was written in (started, not completed) and whether at its last batch's end, before
    its validation and end hooks (the batch processed, not completed, and the epoch not processed); ``None``
    between epochs or without the loop state."""
    saved = _saved_progress(checkpoint)
    if saved is None:
        return None
    progress, batches, epochs = saved
    started, completed = int(epochs.get("started", 0)), int(epochs.get("completed", 0))
    if int(epochs.get("ready", 0)) != started or completed != started - 1:
        return None
    processed = int(batches.get("processed", 0))
    last_batch_end = bool(progress.get("is_last_batch")) and int(batches.get("completed", 0)) < processed
    return completed, last_batch_end and epochs.get("processed") == completed


#: Where a checkpoint's fit loop state keeps the optimizer step counters of automatic and of manual optimization;
#: Lightning's ``global_step`` is the one of the mode it trains in
_STEP_COUNTERS = {
    False: ("epoch_loop.automatic_optimization.optim_progress", "optimizer", "step"),
    True: ("epoch_loop.manual_optimization.optim_step_progress",),
}


def _step_counter(checkpoint: dict[str, Any], manual: bool) -> dict[str, Any] | None:
    state: Any = _fit_loop_state(checkpoint)
    for key in _STEP_COUNTERS[manual]:
        state = state.get(key) if isinstance(state, dict) else None
    return state if isinstance(state, dict) and isinstance(state.get("total"), dict) else None


def carry_global_step(checkpoint: dict[str, Any], manual: bool) -> None:
    """Let Lightning's global step go on from a checkpoint written in the other optimization mode (``manual``:
    this fit's) instead of restarting at 0: the modes count their optimizer steps apart."""
    counter, other = _step_counter(checkpoint, manual), _step_counter(checkpoint, not manual)
    if (
        counter is None
        or other is None
        or counter["total"].get("completed")
        or not other["total"].get("completed")
    ):
        return
    counter["total"] = {**counter["total"], **{k: other["total"][k] for k in ("ready", "completed")}}
    counter["current"] = {
        **counter.get("current", {}),
        **{k: other["current"][k] for k in ("ready", "completed")},
    }


#: The per-batch callback hooks Lightning calls at every training, validation, test or predict batch.
PER_BATCH_HOOKS = (
    "on_train_batch_start",
    "on_train_batch_end",
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "on_before_zero_grad",
    "on_validation_batch_start",
    "on_validation_batch_end",
    "on_test_batch_start",
    "on_test_batch_end",
    "on_predict_batch_start",
    "on_predict_batch_end",
)


def disable_unused_batch_hooks(callback: Any) -> None:
    """Make Lightning skip the per-batch hooks ``callback`` does not override (it skips non-callables)."""
    from lightning.pytorch import Callback

    for name in PER_BATCH_HOOKS:
        if getattr(type(callback), name) is getattr(Callback, name):
            setattr(callback, name, None)


def disable_hook(callback: Any, name: str) -> None:
    """Make Lightning skip ``callback``'s hook ``name`` from now on."""
    setattr(callback, name, None)


def when_imported(name: str, callback: Callable[[], None]) -> None:
    """Call ``callback`` once the top-level module ``name`` is imported: now if it already is, else right after
    its import (a one-shot finder on ``sys.meta_path``), so that an optional dependency is never imported for it.
    A ``None`` in ``sys.modules`` (an import blocked) is not imported.
    """
    if sys.modules.get(name) is not None:
        callback()
    else:
        sys.meta_path.insert(0, _AfterImport(name, callback))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds ``name`` as the other finders do, with a loader that calls ``callback`` after executing it; then
    leaves ``sys.meta_path`` and the module's loader as they were."""

    def __init__(self, name: str, callback: Callable[[], None]) -> None:
        self.name = name
        self.callback = callback

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenCall(spec.loader, self.callback)
        return spec


class _ThenCall(importlib.abc.Loader):
    def __init__(self, loader: Any, callback: Callable[[], None]) -> None:
        self.loader = loader
        self.callback = callback

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__spec__.loader = module.__loader__ = self.loader
        self.loader.exec_module(module)
        self.callback()


def lightning_cli_instantiator(cli: Any, key: str) -> Callable[..., Any] | None:
    """Lightning's ``_InstantiatorFn`` for ``key`` (it records the model's config as its hparams), called as the
    installed Lightning calls it (``applied_instantiation_links`` from Lightning 2.5.1 on); ``None`` without it."""
    from lightning.pytorch import cli as lightning_cli

    instantiator = getattr(lightning_cli, "_InstantiatorFn", None)
    if instantiator is None:
        return None
    function = instantiator(cli=cli, key=key)
    takes_links = "applied_instantiation_links" in inspect.signature(instantiator.__call__).parameters

    def instantiate(cls: type, *args: Any, applied_instantiation_links: Any = None, **kwargs: Any) -> Any:
        if takes_links:
            kwargs["applied_instantiation_links"] = applied_instantiation_links or {}
        return function(cls, *args, **kwargs)

    return instantiate


#: How jsonargparse says that no argument takes a key of a config, in each version of the ``cli`` extra's range
#: (4.39, which Lightning 2.6's ``LightningCLI`` needs, on). Under a subcommand the key is relative to that
#: subcommand's parser, named in the message (``subcommand``); the error carries the parser as
#: ``subcommand_parser`` from 4.44 on.
_UNKNOWN_CONFIG_KEY = (
    # 4.44 on
    re.compile(r"^Subcommand '(?P<subcommand>[^']+)' does not accept option '(?P<key>[^']+)'"),
    re.compile(r"^Option '(?P<key>[^']+)' is not accepted"),
    # 4.39 to 4.43, after "Validation failed: "
    re.compile(
        r"^Validation failed: Subcommand '(?P<subcommand>[^']+)' does not accept nested key '(?P<key>[^']+)'"
    ),
    re.compile(r"^Validation failed: Key '(?P<key>[^']+)' is not expected"),
)

#: How jsonargparse says that no argument takes some command-line arguments: argparse's own wording from 4.48 on,
#: capitalized from 4.39 to 4.47.
_UNRECOGNIZED_ARGUMENTS = re.compile(r"^[uU]nrecognized arguments: (?P<arguments>.+)$", re.DOTALL)


def unknown_config_key(message: str) -> tuple[str, str | None] | None:
    """The key of a config that a jsonargparse ``message`` says no argument takes, with the subcommand it is
    relative to (``None``: the parser's own); ``None`` for another message.

    Example:
        >>> unknown_config_key("Subcommand 'fit' does not accept option 'optim.optimzer.init_args.lr'")
        ('optim.optimzer.init_args.lr', 'fit')
        >>> unknown_config_key("Option 'optimizer.class_path' is not accepted before subcommand 'fit'")
        ('optimizer.class_path', None)
        >>> unknown_config_key("Validation failed: Subcommand 'fit' does not accept nested key 'optm.optimizer'")
        ('optm.optimizer', 'fit')
        >>> unknown_config_key("Validation failed: Key 'optm.optimizer' is not expected")
        ('optm.optimizer', None)
        >>> unknown_config_key("unrecognized arguments: --x") is None
        True
    """
    match = next((found for pattern in _UNKNOWN_CONFIG_KEY if (found := pattern.match(message))), None)
    if match is None:
        return None
    return match["key"], match.groupdict().get("subcommand")


def unrecognized_arguments(message: str) -> str | None:
    """The command-line arguments that a jsonargparse ``message`` says no argument takes, as it lists them;
    ``None`` for another message.

    Example:
        >>> unrecognized_arguments("unrecognized arguments: --optim.optimzer.lr=0.1 --x 1")
        '--optim.optimzer.lr=0.1 --x 1'
        >>> unrecognized_arguments("Unrecognized arguments: --x"), unrecognized_arguments("Key 'x' is not expected")
        ('--x', None)
    """
    match = _UNRECOGNIZED_ARGUMENTS.match(message)
    return match["arguments"] if match else None


def mark_stepped(optimizer: torch.optim.Optimizer, value: bool = True) -> None:
    """Tell schedulers whether the optimizer stepped (previews and fast-forwards step only the schedulers)."""
    optimizer._opt_called = value  # type: ignore[attr-defined]


def has_stepped(optimizer: torch.optim.Optimizer) -> bool:
    """Whether torch's step tracking saw ``optimizer`` step (what its schedulers warn about)."""
    return bool(getattr(optimizer, "_opt_called", False))


@contextlib.contextmanager
def stepped_meanwhile(optimizer: torch.optim.Optimizer) -> Iterator[None]:
    """Schedulers stepped inside take the optimizer as stepped (they catch up on steps it took before, so torch
    must not warn that they step first); its mark is put back afterwards."""
    stepped = has_stepped(optimizer)
    mark_stepped(optimizer)
    try:
        yield
    finally:
        mark_stepped(optimizer, stepped)


def track_steps(optimizer: torch.optim.Optimizer) -> None:
    """Mark ``optimizer`` when it steps, as torch's ``LRScheduler`` does when built on it, so that a scheduler
    built on a proxy of it (which reads the mark through the proxy) does not warn that it stepped first."""
    if hasattr(optimizer.step, "_wrapped_by_lr_sched"):
        return
    step = optimizer.step.__func__  # type: ignore[attr-defined]
    optimizer_ref = weakref.ref(optimizer)

    @functools.wraps(step)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        opt = optimizer_ref()
        opt._opt_called = True  # type: ignore[union-attr]
        return step.__get__(opt, opt.__class__)(*args, **kwargs)

    wrapper._wrapped_by_lr_sched = True  # type: ignore[attr-defined]
    optimizer.step = wrapper  # type: ignore[method-assign]


#: ``torch._C._storage_Use_Count``, or ``None`` (then published tensors are never reused).
storage_use_count: Callable[[int], int] | None = (
    getattr(torch._C, "_storage_Use_Count", None) if hasattr(torch.UntypedStorage, "_cdata") else None
)


def storage_handle(tensor: torch.Tensor) -> int:
    """The handle of ``tensor``'s storage that ``storage_use_count`` takes (set only where both exist)."""
    return int(tensor.untyped_storage()._cdata)


def norm_base_classes() -> tuple[type[torch.nn.Module], ...]:
    """The classes of torch's batch and instance norms (``_NormBase``, or each of them)."""
    base = getattr(torch.nn.modules.batchnorm, "_NormBase", None)
    if base is not None:
        return (base,)
    nn = torch.nn
    return (
        nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LazyBatchNorm1d, nn.LazyBatchNorm2d,
        nn.LazyBatchNorm3d, nn.SyncBatchNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d,
    )  # fmt: skip


def capturable_devices() -> list[str]:
    """The device types where torch's ``capturable=True`` works."""
    try:
        from torch.optim.optimizer import _get_capturable_supported_devices
    except ImportError:  # pragma: no cover - CUDA is always supported
        return ["cuda"]
    return list(_get_capturable_supported_devices())


def torch_default_is_foreach(params: Sequence[torch.Tensor], differentiable: bool) -> bool:
    """Whether torch's default for these parameters is the ``foreach`` implementation."""
    try:
        from torch.optim.optimizer import _default_to_fused_or_foreach
    except ImportError:  # pragma: no cover
        return not differentiable and all(p.is_cuda for p in params)
    _, foreach = _default_to_fused_or_foreach(list(params), differentiable, use_fused=False)
    return bool(foreach)


def takes_found_inf(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.step()`` reads ``optimizer.found_inf`` and skips on the device when it is nonzero (the
    fused kernels, which ``GradScaler`` hands it to)."""
    return bool(getattr(optimizer, "_step_supports_amp_scaling", False))


def nonfinite_flag(tensors: Sequence[torch.Tensor], flag: torch.Tensor) -> None:
    """Set ``flag`` (a float32 scalar on the tensors' device) to nonzero if any element of ``tensors`` (all on
    that device, of one dtype) is inf or NaN; the tensors are left as they are."""
    check = getattr(torch, "_amp_foreach_non_finite_check_and_unscale_", None)
    if check is not None:
        check(list(tensors), flag, torch.ones((), dtype=torch.float32, device=flag.device))
        return
    for tensor in tensors:  # the kernel above exists in every supported torch
        flag.add_((~torch.isfinite(tensor)).any())


def fused_kernel_devices() -> set[str]:
    """The device types torch has fused optimizer kernels for."""
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    except ImportError:  # pragma: no cover
        return {"cpu", "cuda"}
    return set(_get_fused_kernels_supported_devices())


def class_update(cls: type[torch.optim.Optimizer]) -> Callable[..., Any]:
    """The update of ``cls.step`` without what wraps it: torch's hooked ``step`` (``Optimizer.profile_hook_step``,
    installed on the class at its first instance, runs the step hooks) and the grad-mode decorator
    (``_use_grad_for_differentiable`` or ``torch.no_grad()``), each of which keeps ``__wrapped__``.

    Example:
        >>> _ = torch.optim.RMSprop([torch.nn.Parameter(torch.zeros(1))])
        >>> update = class_update(torch.optim.RMSprop)
        >>> update.__qualname__, hasattr(update, "__wrapped__")
        ('RMSprop.step', False)
    """
    step = cls.step
    if getattr(step, "hooked", False) and not hasattr(step, "__wrapped__"):
        raise _missing("Optimizer.step.__wrapped__", "compile an optimizer's update without its step hooks")
    return inspect.unwrap(step)


def compile_unavailable(device_type: str) -> str | None:
    """Why ``torch.compile`` cannot compile an optimizer step on ``device_type`` here, or ``None``.

    Dynamo must support this Python; inductor needs a C++ compiler on the CPU and triton on CUDA.

    Example:
        >>> compile_unavailable("cpu") is None  # this project's machines have g++
        True
    """
    dynamo = getattr(torch, "_dynamo", None)
    supported = getattr(dynamo, "is_dynamo_supported", None)
    if supported is not None and not supported():
        return f"torch.compile does not support Python {sys.version_info.major}.{sys.version_info.minor}"
    if device_type == "cpu":
        try:
            from torch._inductor.cpp_builder import get_cpp_compiler

            found = bool(shutil.which(get_cpp_compiler()))
        except Exception:  # no such API, or no compiler configured
            found = any(shutil.which(name) for name in ("g++", "c++", "clang++"))
        return None if found else "inductor finds no C++ compiler for the CPU (install g++ or set CXX)"
    if device_type == "cuda":
        return (
            None
            if importlib.util.find_spec("triton")
            else "inductor needs triton for CUDA (pip install triton)"
        )
    return f"this package compiles optimizer steps on cpu and cuda only, not {device_type}"
