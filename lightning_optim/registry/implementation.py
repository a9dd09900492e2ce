"""Which implementation of an optimizer's step to use: fused kernel, ``foreach`` or the for-loop.

torch never picks its fused kernels by default, and on CPU its default is the for-loop, which is several
times slower than ``fused=True`` for Adam/AdamW (see ``benchmarks/bench_optimizer_step.py``). With
``implementation="auto"`` (the default) the mixin picks the fused kernel where it was measured fastest and
is safe, and otherwise leaves torch's own choice (``foreach`` on CUDA, the for-loop on CPU). An explicit
``fused=``/``foreach=`` in the declaration (or in a ``ParamGroup``) always wins.

``"auto"`` also reads the Trainer, so that it never picks a kernel Lightning would refuse for the run
(verified on Lightning 2.6.6; see ``_trainer_blocker``):

- Mixed precision (``MixedPrecision``: ``16-mixed``, ``bf16-mixed``) refuses to clip an optimizer whose
  ``step`` unscales gradients itself (``MixedPrecision.clip_gradients``: ``clip_val > 0 and
  _optimizer_handles_unscaling(optimizer)`` raises), and torch marks every optimizer built with
  ``fused=True`` so (``self._step_supports_amp_scaling = True``; for Adagrad not on every release:
  ``compat.fused_step_unscales``). So no such fused kernel there when clipping
  may happen: ``Trainer(gradient_clip_val=...)`` > 0, an overridden ``configure_gradient_clipping``, or
  manual optimization, where ``training_step`` may call ``self.clip_gradients`` (we cannot know, so we
  assume it does).
- A gradient scaler (fp16: ``MixedPrecision("16-mixed")``, ``FSDPPrecision("16-mixed")``): the plugin skips
  ``scaler.unscale_`` for such optimizers, so clipping and ``on_before_optimizer_step`` hooks would see
  scaled gradients.
- DeepSpeed (``DeepSpeedPrecision``) steps the optimizer inside its own engine, with its own loss scaling
  and clipping: torch's default there.

An explicit ``implementation="fused"`` or ``fused=True`` that Lightning would certainly refuse (or clip
still scaled) is reported at ``fit`` as a ``ValueError`` (``check_trainer_conflict``).

On CPU, ``"auto"`` also checks once per optimizer and parameter dtype that the fused kernel really updates
the parameters (``_fused_kernel_updates``): torch 2.13's fused CPU ``SGD`` leaves bf16/fp16 parameters
unchanged, which would make a ``bf16-true`` run silently not train. A declared fused kernel that fails the
check is a ``ValueError`` at ``fit`` (``check_fused_kernel_updates``).

What a fused kernel gets wrong only while training (torch 2.13's fused ``SGD`` with a parameter whose first
gradient comes after the others') is mended by step hooks, ``registry/fused_steps.py``.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

import torch

from lightning_optim.registry.optimizers import (
    HELD_AS_TENSORS,
    accepts_argument,
    compiled_refusal,
    optimizer_info,
    tensor_options,
)
from lightning_optim.schedules.param_view import target_of
from lightning_optim.schedules.schedule import numbers_in
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import check_choice, listing

IMPLEMENTATIONS: tuple[str, ...] = ("auto", "fused", "foreach", "forloop", "compiled")

#: The arguments of torch optimizers that choose the implementation; declaring one opts out of ``"auto"``.
IMPLEMENTATION_ARGUMENTS = ("fused", "foreach")

_EXPLICIT: Mapping[str, Mapping[str, bool]] = MappingProxyType(
    {"fused": {"fused": True}, "foreach": {"foreach": True}, "forloop": {"foreach": False}, "compiled": {}}
)

log = logging.getLogger("lightning_optim")


def explicit_arguments(kwargs: Mapping[str, Any], groups: Iterable[Mapping[str, Any]]) -> list[str]:
    """The implementation arguments (``fused``/``foreach``) the declaration sets itself, anywhere."""
    found = [key for key in IMPLEMENTATION_ARGUMENTS if key in kwargs]
    for options in groups:
        found += [key for key in IMPLEMENTATION_ARGUMENTS if key in options and key not in found]
    return found


def check_implementation(
    where: str, cls: type, implementation: Any, kwargs: Mapping[str, Any], groups: Iterable[Mapping[str, Any]]
) -> dict[str, bool]:
    """Check a declared ``implementation``; return the optimizer arguments it stands for (``{}``: auto).

    Example:
        >>> from torch.optim import Adam, RMSprop
        >>> check_implementation("Model.optimizer", Adam, "fused", {}, [])
        {'fused': True}
        >>> check_implementation("Model.optimizer", RMSprop, "fused", {}, [])
        Traceback (most recent call last):
        ...
        ValueError: Model.optimizer: Expected `implementation` to be one of `auto`, `foreach`, `forloop`, `compiled` for `RMSprop` ...
    """
    check_choice(where, "implementation", implementation, IMPLEMENTATIONS)
    if implementation == "auto":
        return {}
    groups = list(groups)
    explicit = explicit_arguments(kwargs, groups)
    if explicit:
        raise ValueError(
            f"{where}: Expected either `implementation` or {listing([f'{k}=' for k in explicit])} but got "
            "both "
            f"(implementation={implementation!r}); they choose the same thing. Keep one."
        )
    if not _supports(cls, implementation):
        supported = [name for name in _EXPLICIT if _supports(cls, name)]
        raise ValueError(
            f"{where}: Expected `implementation` to be one of {listing(['auto', *supported])} for "
            f"`{cls.__name__}` ({_unsupported_because(cls, implementation)}) but got {implementation!r}."
        )
    return dict(_EXPLICIT[implementation])


def _supports(cls: type, implementation: str) -> bool:
    if implementation == "compiled":
        return optimizer_info(cls).compilable
    return all(_takes(cls, argument) for argument in _EXPLICIT[implementation])


def _unsupported_because(cls: type, implementation: str) -> str:
    if implementation == "compiled":
        return compiled_refusal(cls) or ""
    missing = next(a for a in _EXPLICIT[implementation] if not _takes(cls, a))
    return f"it has no `{missing}` option"


def _takes(cls: type, argument: str) -> bool:
    """Whether the constructor of ``cls`` takes ``argument``: by name, or through ``**kwargs`` it may hand on to a
    base that takes it by name (``check_passed_on`` checks at the trial build that it does)."""
    return accepts_argument(cls, argument) or _passed_on_to(cls, argument) is not None


def _passed_on_to(cls: type, argument: str) -> type | None:
    """The optimizer base class of ``cls`` taking ``argument`` by name, where ``cls``'s own constructor takes it only
    through its ``**kwargs``; else ``None``.

    Example:
        >>> from torch.optim import AdamW
        >>> class MyAdamW(AdamW):
        ...     def __init__(self, params, lr=1e-3, extra=0.5, **kwargs):
        ...         super().__init__(params, lr=lr, **kwargs)
        >>> _passed_on_to(MyAdamW, "foreach"), _passed_on_to(AdamW, "foreach"), _passed_on_to(MyAdamW, "nesterov")
        (<class 'torch.optim.adamw.AdamW'>, None, None)
    """
    parameters = _signature_parameters(cls).values()
    if accepts_argument(cls, argument) or not any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    bases = [
        base for base in cls.__mro__[1:] if isinstance(base, type) and issubclass(base, torch.optim.Optimizer)
    ]
    return next((base for base in bases if accepts_argument(base, argument)), None)


def check_passed_on(where: str, cls: type, implementation: str, defaults: Mapping[str, Any]) -> None:
    """Refuse ``implementation`` where ``cls`` takes its argument only through ``**kwargs`` and the optimizer built
    with it (its ``defaults``) does not hold it: the constructor kept it from the base whose step reads it.

    Example:
        >>> from torch.optim import AdamW
        >>> class KeepsOptions(AdamW):
        ...     def __init__(self, params, lr=1e-3, **kwargs):
        ...         self.options = kwargs
        ...         super().__init__(params, lr=lr)
        >>> built = KeepsOptions([torch.zeros(1, requires_grad=True)], foreach=False)
        >>> check_passed_on("M.opt", KeepsOptions, "forloop", built.defaults)
        Traceback (most recent call last):
        ...
        ValueError: M.opt: Expected `KeepsOptions` to hand `foreach=False` on to `AdamW` for `implementation='forloop'` but got ...
    """
    for argument, value in _EXPLICIT.get(implementation, {}).items():
        base = _passed_on_to(cls, argument)
        if base is not None and defaults.get(argument) != value:
            raise ValueError(
                f"{where}: Expected `{cls.__name__}` to hand `{argument}={value!r}` on to `{base.__name__}` for "
                f"`implementation={implementation!r}` but got an optimizer holding `{argument}="
                f"{defaults.get(argument)!r}`: its constructor takes `**kwargs` but does not pass `{argument}` on to "
                f"`{base.__name__}.__init__`. Pass its `**kwargs` on there, or leave `implementation` at 'auto'."
            )


def held_as_tensors(cls: type) -> tuple[str, ...]:
    """The param-group options a compiled step of ``cls`` holds as tensors: ``lr``, and ``betas`` where torch
    takes them so (``Adam``, ``AdamW``).

    Example:
        >>> from torch.optim import SGD, AdamW
        >>> held_as_tensors(AdamW), held_as_tensors(SGD)
        (('lr', 'betas'), ('lr',))
    """
    return tuple(key for key in HELD_AS_TENSORS if key in tensor_options(cls))


def compiled_schedule_problem(cls: type, param: str, cycles_momentum: bool) -> str | None:
    """Why a schedule driving ``param`` (or cycling the momentum) would compile a compiled ``cls`` step again
    at every new value, or ``None``: it must drive an option torch takes as a tensor (``tensor_options``).

    Example:
        >>> from torch.optim import SGD, AdamW
        >>> compiled_schedule_problem(AdamW, "lr", cycles_momentum=True) is None  # the cycle drives betas[0]
        True
        >>> compiled_schedule_problem(SGD, "lr", cycles_momentum=True)
        '`SGD` takes `momentum` as a Python number only, which Dynamo compiles into the step as a constant'
    """
    options = dict.fromkeys(_signature_parameters(cls))  # where each name lives, as in a param group of cls
    tensors = held_as_tensors(cls)
    for name in [param] + (["momentum"] if cycles_momentum else []):
        key, _ = target_of(name, options)
        if key not in tensors:
            return f"`{cls.__name__}` takes `{key}` as a Python number only, which Dynamo compiles into the step as a constant"
    return None


@dataclass(frozen=True)
class Choice:
    """What the mixin passes to the optimizer (``arguments``) and the implementation that results."""

    arguments: Mapping[str, Any]
    implementation: str
    reason: str


def _precision_plugin(trainer: Any) -> Any | None:
    """The Trainer's precision plugin (``Trainer.precision_plugin``, public), or ``None`` without a Trainer."""
    return getattr(trainer, "precision_plugin", None) if trainer is not None else None


def _uses_gradient_scaler(trainer: Any) -> bool:
    return getattr(_precision_plugin(trainer), "scaler", None) is not None


def _refuses_clipping_fused(plugin: Any) -> bool:
    """Whether ``plugin.clip_gradients`` raises for an optimizer that unscales inside ``step`` (a fused one).

    Lightning 2.6.6: ``MixedPrecision.clip_gradients`` (``lightning/pytorch/plugins/precision/amp.py``) raises
    "does not allow for gradient clipping because it performs unscaling of gradients internally" when
    ``clip_val > 0 and _optimizer_handles_unscaling(optimizer)``. ``Precision``, ``HalfPrecision``,
    ``DoublePrecision`` and ``FSDPPrecision`` inherit ``Precision.clip_gradients``, which does not check.
    """
    return isinstance(plugin, compat.lightning_classes("plugins.precision.MixedPrecision"))


def _steps_in_deepspeed(plugin: Any) -> bool:
    return isinstance(plugin, compat.lightning_classes("plugins.precision.DeepSpeedPrecision"))


def _clip_value(trainer: Any) -> float:
    value = getattr(trainer, "gradient_clip_val", None)
    return float(value) if isinstance(value, (int, float)) else 0.0


def _overrides_clipping_hook(module: torch.nn.Module) -> bool:
    lightnings = compat.lightning_classes("LightningModule")
    return isinstance(module, lightnings) and compat.is_overridden("configure_gradient_clipping", module)


def _may_clip(trainer: Any, module: torch.nn.Module) -> str | None:
    """Why gradients may be clipped in this run (for the INFO line), or ``None`` if they never are."""
    if getattr(module, "automatic_optimization", True) is False:
        # `Precision._clip_gradients` skips manual optimization, but `training_step` may call
        # `self.clip_gradients`, which goes to `precision_plugin.clip_gradients` all the same.
        return "manual optimization, where `training_step` may call `self.clip_gradients`"
    if _clip_value(trainer) > 0:
        algorithm = getattr(getattr(trainer, "gradient_clip_algorithm", None), "value", "norm")
        return f"gradient clipping by {algorithm}"
    if _overrides_clipping_hook(module):
        return "an overridden `configure_gradient_clipping`, which may call `self.clip_gradients`"
    return None


def _precision_name(plugin: Any) -> str:
    return str(getattr(plugin, "precision", type(plugin).__name__))


def _trainer_blocker(cls: type, trainer: Any, module: torch.nn.Module) -> str | None:
    """Why the Trainer rules the fused kernel of ``cls`` out for this run, or ``None``."""
    plugin = _precision_plugin(trainer)
    if plugin is None:
        return None
    if _steps_in_deepspeed(plugin):
        return "DeepSpeed steps the optimizer in its own engine (its own loss scaling and clipping)"
    if not compat.fused_step_unscales(cls):
        return None  # Lightning unscales and clips it like a non-fused one (fused Adagrad before torch 2.12)
    clipping = _may_clip(trainer, module)
    if clipping is not None and _refuses_clipping_fused(plugin):
        return (
            f"{_precision_name(plugin)} precision with {clipping}: fused kernels unscale internally and "
            "Lightning refuses to clip them"
        )
    if _uses_gradient_scaler(trainer):
        # With a GradScaler (fp16 AMP) a fused optimizer unscales inside `step`: the plugin skips
        # `scaler.unscale_`, so clipping and hooks that read gradients before the step see them scaled.
        return "fp16 mixed precision uses a gradient scaler"
    return None


def check_trainer_conflict(
    where: str,
    cls: type,
    implementation: str,
    kwargs: Mapping[str, Any],
    trainer: Any,
    module: torch.nn.Module,
    name: str | None = None,
) -> None:
    """Raise if a declared fused kernel certainly fails (or clips scaled gradients) with this Trainer
    (``name``: the declared optimizer name that stands for ``fused=True``, when that is where it comes from).

    torch sets ``_step_supports_amp_scaling`` only for ``fused=True`` given to the constructor (a
    ``ParamGroup(fused=True)`` leaves it unset, and Lightning then unscales and clips as usual), so only
    ``implementation="fused"`` and a top-level ``fused=True`` conflict. Only certain clipping counts:
    ``gradient_clip_val > 0`` in automatic optimization without an overridden ``configure_gradient_clipping``.
    Manual optimization may never clip, so it is left to Lightning's own error.

    Example:
        >>> import lightning as L
        >>> from torch import nn
        >>> from torch.optim import Adam
        >>> trainer = L.Trainer(precision="bf16-mixed", gradient_clip_val=1.0, logger=False)
        >>> check_trainer_conflict("M.opt", Adam, "fused", {}, trainer, nn.Linear(2, 2))
        Traceback (most recent call last):
        ...
        ValueError: M.opt: Expected no fused kernel with `Trainer(precision='bf16-mixed', gradient_clip_val=1.0)` ...
    """
    if implementation == "fused":
        declared = "`implementation='fused'`"
    elif kwargs.get("fused") is True:
        declared = "`fused=True`"
    else:
        return
    if not compat.fused_step_unscales(cls):
        return
    plugin = _precision_plugin(trainer)
    automatic = getattr(module, "automatic_optimization", True) is not False
    if plugin is None or not automatic or _clip_value(trainer) <= 0 or _overrides_clipping_hook(module):
        return
    if _refuses_clipping_fused(plugin):
        why = f"Lightning's `{type(plugin).__name__}` refuses to clip them"
    elif _uses_gradient_scaler(trainer):
        why = f"Lightning's `{type(plugin).__name__}` would clip them still scaled by its gradient scaler"
    else:
        return
    if (
        name is not None
    ):  # the name fixes `fused=True` under "auto": only an explicit implementation replaces it
        declared = f"{name!r}, which stands for `fused=True`"
        fix = "Declare it with `implementation='foreach'` (or 'forloop')"
    else:
        fix = f"Remove {declared} (the default `implementation='auto'` then picks torch's own implementation here)"
    raise ValueError(
        f"{where}: Expected no fused kernel with `Trainer(precision={_precision_name(plugin)!r}, "
        f"gradient_clip_val={trainer.gradient_clip_val!r})` but got {declared}: a fused `{cls.__name__}` "
        f"unscales gradients inside `step` and {why}. {fix} or remove `gradient_clip_val`."
    )


def _fused_by_declaration(
    implementation: str, kwargs: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]
) -> tuple[str, list[torch.Tensor]]:
    """How the declaration asks for a fused kernel, and the parameters it asks it for (none: it does not)."""
    if implementation == "fused":
        return "implementation='fused'", [p for group in groups for p in group["params"]]
    fused = [group for group in groups if {**kwargs, **group}.get("fused") is True]
    return "fused=True", [p for group in fused for p in group["params"]]


def _has_sparse_gradients(module: torch.nn.Module) -> bool:
    return getattr(module, "sparse", False) is True


def tied_to_dense(module: torch.nn.Module) -> dict[int, tuple[str, str]]:
    """The parameters of modules with ``sparse=True`` that a module without it holds too (an embedding tied to a
    dense head, ``head.weight = embedding.weight``), by id, with their name in each: torch sums the sparse gradient
    and the dense one into a dense gradient.

    Example:
        >>> from torch import nn
        >>> net = nn.ModuleDict({"emb": nn.Embedding(4, 2, sparse=True), "head": nn.Linear(2, 4, bias=False)})
        >>> net["head"].weight = net["emb"].weight
        >>> list(tied_to_dense(net).values()), _sparse_parameter_names(net)
        ([('emb.weight', 'head.weight')], {})
    """
    sparse: dict[int, str] = {}
    dense: dict[int, str] = {}
    for prefix, m in module.named_modules():
        names = sparse if _has_sparse_gradients(m) else dense
        for name, p in m.named_parameters(recurse=False):
            names.setdefault(id(p), f"{prefix}.{name}" if prefix else name)
    return {key: (name, dense[key]) for key, name in sparse.items() if key in dense}


def _sparse_parameter_names(module: torch.nn.Module) -> dict[int, str]:
    """The parameters of modules with ``sparse=True`` (``nn.Embedding``, ``nn.EmbeddingBag``) that get sparse
    gradients (none ``tied_to_dense``), by id."""
    tied = tied_to_dense(module)
    return {
        id(p): f"{prefix}.{name}" if prefix else name
        for prefix, m in module.named_modules()
        if _has_sparse_gradients(m)
        for name, p in m.named_parameters(recurse=False)
        if id(p) not in tied
    }


def check_sparse(
    where: str,
    cls: type,
    implementation: str,
    kwargs: Mapping[str, Any],
    groups: Sequence[Mapping[str, Any]],
    module: torch.nn.Module,
) -> None:
    """Raise if parameters of a module with ``sparse=True`` (``nn.Embedding``, ``nn.EmbeddingBag``) go where torch
    refuses their sparse gradients only at the first step, with a ``RuntimeError`` naming neither the parameter
    nor, for ``AdamW``, the optimizer: an optimizer whose step refuses them (its record's ``sparse_gradients`` is
    ``False``: ``Adam``, ``AdamW``, ``RMSprop``, ...), a decay of them by one that takes them (``SGD``,
    ``Adagrad``), or a declared fused kernel. Sparse gradients no module announces are caught at the step
    (``registry/fused_steps.py``).

    Example:
        >>> from torch import nn
        >>> from torch.optim import SGD, AdamW
        >>> net = nn.Embedding(4, 2, sparse=True)
        >>> check_sparse("M.opt", SGD, "auto", {}, [{"params": [net.weight]}], net)
        >>> check_sparse("M.opt", SGD, "auto", {"weight_decay": 0.01}, [{"params": [net.weight]}], net)
        Traceback (most recent call last):
        ...
        ValueError: M.opt: Expected `weight_decay=0` for the parameters of a module with `sparse=True` but got `weight` (`weight_decay=0.01`): ...
        >>> check_sparse("M.opt", AdamW, "auto", {}, [{"params": [net.weight]}], net)
        Traceback (most recent call last):
        ...
        ValueError: M.opt: Expected parameters with dense gradients for `AdamW` but got `weight` of a module with `sparse=True`: ...
        >>> check_sparse("M.opt", SGD, "fused", {}, [{"params": [net.weight]}], net)
        Traceback (most recent call last):
        ...
        ValueError: M.opt: Expected parameters with dense gradients for `implementation='fused'` but got `weight` of a module with `sparse=True`: ...
    """
    names = _sparse_parameter_names(module)
    if not names:
        return
    takes = optimizer_info(cls).sparse_gradients
    if takes:
        decayed = [
            (names[id(p)], decay)
            for group in groups
            if (decay := group.get("weight_decay", kwargs.get("weight_decay", 0))) not in (0, None)
            for p in group["params"]
            if id(p) in names
        ]
        if decayed:
            shown = ", ".join(f"`{name}` (`weight_decay={decay!r}`)" for name, decay in decayed)
            raise ValueError(
                f"{where}: Expected `weight_decay=0` for the parameters of a module with `sparse=True` but got "
                f"{shown}: torch's `{cls.__name__}` adds the decay to their sparse gradients, which it cannot. "
                "Give them a group with `weight_decay=0` (`ParamGroup(..., weight_decay=0.0)`), or build the "
                "module with `sparse=False`."
            )
    elif takes is False:  # None: an optimizer from elsewhere, whose step is not known
        sparse = [names[id(p)] for group in groups for p in group["params"] if id(p) in names]
        if sparse:
            raise ValueError(
                f"{where}: Expected parameters with dense gradients for `{cls.__name__}` but got {listing(sparse)} "
                f"of a module with `sparse=True`: torch's `{cls.__name__}` does not take sparse gradients. Give "
                "them an optimizer of their own that does (`OptimizerSpec('sparseadam', params=...)` beside this "
                "one on the other parameters, or 'sgd', 'adagrad'), or build the module with `sparse=False`."
            )
    declared, params = _fused_by_declaration(implementation, kwargs, groups)
    fused = [names[id(p)] for p in params if id(p) in names]
    if fused:
        raise ValueError(
            f"{where}: Expected parameters with dense gradients for `{declared}` but got {listing(fused)} of a "
            f"module with `sparse=True`: torch's fused `{cls.__name__}` does not take sparse gradients. Use "
            "`implementation='auto'` (torch's default for sparse gradients) or 'foreach'."
        )


def _fused_kernel_takes(param: torch.Tensor) -> bool:
    """Whether torch's fused kernels take ``param``'s dtype: floating point only (its constructor or first step
    raises "`fused=True` requires all the params to be floating point Tensors" for a complex one).

    Example:
        >>> _fused_kernel_takes(torch.zeros(2)), _fused_kernel_takes(torch.zeros(2, dtype=torch.cfloat))
        (True, False)
    """
    return torch.is_floating_point(param)


def check_fused_kernel_updates(
    where: str,
    cls: type,
    implementation: str,
    kwargs: Mapping[str, Any],
    groups: Sequence[Mapping[str, Any]],
    module: torch.nn.Module,
) -> None:
    """Raise if a declared fused kernel does not take a parameter's dtype (``_fused_kernel_takes``: a complex
    one), or on CPU fails ``_fused_kernel_updates`` for it: torch 2.13's fused CPU ``SGD`` leaves bf16/fp16
    weights unchanged, so a ``bf16-true`` run would not train, silently.

    Example:
        >>> from torch.optim import SGD
        >>> net = torch.nn.Linear(2, 2).to(torch.bfloat16)
        >>> check_fused_kernel_updates("M.opt", SGD, "fused", {}, [{"params": list(net.parameters())}], net)
        Traceback (most recent call last):
        ...
        ValueError: M.opt: Expected a fused kernel that updates the parameters for `implementation='fused'` but torch's fused `SGD` on `cpu` leaves `bfloat16` parameters unchanged ...
        >>> net = torch.nn.ParameterDict({"phase": torch.nn.Parameter(torch.zeros(2, dtype=torch.cfloat))})
        >>> check_fused_kernel_updates("M.opt", SGD, "fused", {}, [{"params": list(net.parameters())}], net)
        Traceback (most recent call last):
        ...
        ValueError: M.opt: Expected floating-point parameters for `implementation='fused'` but got `phase` (`complex64`): ...
    """
    declared, params = _fused_by_declaration(implementation, kwargs, groups)
    refused = {id(p): p.dtype for p in params if not _fused_kernel_takes(p)}
    if refused:
        shown = ", ".join(
            f"`{name}` (`{str(refused[id(p)]).removeprefix('torch.')}`)"
            for name, p in module.named_parameters()
            if id(p) in refused
        )
        raise ValueError(
            f"{where}: Expected floating-point parameters for `{declared}` but got {shown}: torch's fused "
            f"`{cls.__name__}` takes floating-point tensors only. Use `implementation='auto'` (torch's default "
            "for them) or 'foreach'."
        )
    dtypes = {p.dtype for p in params if p.device.type == "cpu"}
    broken = sorted((dtype for dtype in dtypes if not _fused_kernel_updates(cls, dtype)), key=str)
    if broken:
        names = listing([str(dtype).removeprefix("torch.") for dtype in broken])
        raise ValueError(
            f"{where}: Expected a fused kernel that updates the parameters for `{declared}` but torch's fused "
            f"`{cls.__name__}` on `cpu` leaves {names} parameters unchanged (a one-step check), so the model "
            "would not train. Use `implementation='auto'` (torch's default here) or 'foreach', or another "
            "precision."
        )


def _torch_default(cls: type, params: Sequence[torch.Tensor], differentiable: bool) -> str:
    if not _takes(cls, "foreach"):
        return "default"
    return "foreach" if compat.torch_default_is_foreach(params, differentiable) else "forloop"


@functools.cache
def _fused_kernel_updates(cls: type, dtype: torch.dtype) -> bool:
    """Whether one step of ``cls``'s fused CPU kernel moves every ``dtype`` parameter like torch's for-loop.

    torch 2.13's fused ``SGD`` on CPU leaves bf16/fp16 parameters untouched except their last
    ``numel % 32`` elements (a ``bf16-true`` run would silently not train), so ``"auto"`` checks each
    optimizer and dtype once, with a one-step probe of 64 elements, instead of trusting a fixed list.

    Example:
        >>> from torch.optim import Adam
        >>> _fused_kernel_updates(Adam, torch.float32)
        True
    """
    results = []
    for arguments in ({"fused": True}, {"foreach": False}):
        param = torch.nn.Parameter(torch.ones(64, dtype=dtype, device="cpu"))
        param.grad = torch.ones_like(param)
        try:
            cls([param], lr=0.1, **arguments).step()
        except (RuntimeError, TypeError, ValueError):
            return False
        results.append(param.detach().double())
    fused, forloop = results
    return bool(torch.isfinite(fused).all() and torch.allclose(fused, forloop, atol=1e-2, rtol=0))


def _fused_blocker(
    cls: type,
    params: Sequence[torch.Tensor],
    module: torch.nn.Module,
    differentiable: bool,
    trainer: Any,
    options: Sequence[Mapping[str, Any]] = (),
) -> str | None:
    """Why ``"auto"`` must not pick the fused kernel here, or ``None`` if it should."""
    devices = optimizer_info(cls).fused_fastest_on
    if not devices:
        return f"`{cls.__name__}` has no fused kernel measured faster"
    if differentiable:
        return "`differentiable=True` has no fused kernel"
    kinds = {p.device.type for p in params}
    supported = devices & compat.fused_kernel_devices()
    if len(kinds) != 1 or not kinds <= supported:
        return f"parameters on {listing(sorted(kinds))}; fused is picked on {listing(sorted(supported))} only"
    if not all(type(p) in (torch.Tensor, torch.nn.Parameter) and _fused_kernel_takes(p) for p in params):
        return "not every parameter is a plain floating-point tensor"
    if kinds == {"cpu"}:  # a probe on CUDA would synchronise with the device
        broken = sorted({p.dtype for p in params if not _fused_kernel_updates(cls, p.dtype)}, key=str)
        if broken:
            names = listing([str(dtype).removeprefix("torch.") for dtype in broken])
            return f"torch's fused `{cls.__name__}` kernel on `cpu` does not update {names} parameters"
    sparse = set(_sparse_parameter_names(module))
    if any(id(p) in sparse for p in params):
        return "a parameter gets sparse gradients"
    rule = optimizer_info(cls).auto_rule(next(iter(kinds)), options)
    if rule is not None and rule.implementation != "fused":
        return f"{rule.implementation} is faster here: {rule.evidence}"
    return _trainer_blocker(cls, trainer, module)


def group_options(
    cls: type, kwargs: Mapping[str, Any], groups: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Each param group's options as the optimizer will hold them: its constructor defaults, then the declared
    arguments, then the group's own (without ``params``).

    Example:
        >>> from torch.optim import SGD
        >>> group_options(SGD, {"lr": 0.1}, [{"params": [], "momentum": 0.9}, {"params": []}])[1]["momentum"]
        0
    """
    defaults = {
        name: parameter.default
        for name, parameter in _signature_parameters(cls).items()
        if parameter.default is not inspect.Parameter.empty
    }
    return [{**defaults, **kwargs, **{k: v for k, v in group.items() if k != "params"}} for group in groups]


def scaled_groups(
    cls: type,
    kwargs: Mapping[str, Any],
    groups: Sequence[Mapping[str, Any]],
    scales: Sequence[Mapping[str, float]],
) -> list[dict[str, Any]]:
    """``groups`` with each option a group's ``scales`` multiply (``lr_mult``, ``decay_mult``, layer decay) at the
    value the built optimizer holds once ``planning.apply_scales`` ran, as ``choose`` must read them: it runs
    before the optimizer is built, since it chooses the arguments that build it.

    Example:
        >>> from torch.optim import SGD
        >>> groups = [{"params": []}, {"params": [], "lr": 0.2}]
        >>> held = scaled_groups(SGD, {"lr": 0.1, "weight_decay": 0.01}, groups, [{"weight_decay": 0.5}, {"lr": 0.5}])
        >>> [{key: value for key, value in group.items() if key != "params"} for group in held]
        [{'weight_decay': 0.005}, {'lr': 0.1}]
    """
    held = group_options(cls, kwargs, groups)
    return [
        {**group, **{key: options[key] * factor for key, factor in scale.items() if key in options}}
        for group, options, scale in zip(groups, held, scales, strict=True)
    ]


@functools.cache
def _signature_parameters(cls: type) -> Mapping[str, inspect.Parameter]:
    try:
        return inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return {}


def _compiled_blocker(params: Sequence[torch.Tensor], module: torch.nn.Module, trainer: Any) -> str | None:
    """Why the step cannot be compiled for these parameters in this run, or ``None``."""
    kinds = sorted({p.device.type for p in params})
    if len(kinds) != 1:
        return f"parameters on {listing(kinds)}; a compiled step takes one device"
    unavailable = compat.compile_unavailable(kinds[0])
    if unavailable is not None:
        return unavailable
    sparse = set(_sparse_parameter_names(module))
    if any(id(p) in sparse for p in params):
        return "a parameter gets sparse gradients, which the compiled step does not take"
    if _steps_in_deepspeed(_precision_plugin(trainer)):
        return "DeepSpeed steps the optimizer in its own engine"
    return None


def _run_steps(trainer: Any) -> float | None:
    """The optimizer steps the run will take (``Trainer.estimated_stepping_batches``), or ``None`` if unknown."""
    try:
        steps = float(trainer.estimated_stepping_batches)
    except Exception:  # no Trainer, no data yet: unknown
        return None
    return steps if math.isfinite(steps) and steps > 0 else None


def _compiled_pays_back(
    cls: type, params: Sequence[torch.Tensor], module: torch.nn.Module, trainer: Any
) -> str | None:
    """Why ``"auto"`` compiles the step of ``cls`` (a row of its ``compiled_gains`` the run repays), or ``None``."""
    if _compiled_blocker(params, module, trainer) is not None:  # also: the parameters are on one device
        return None
    gain = optimizer_info(cls).compiled_gain(params[0].device.type)
    if gain is None:
        return None
    steps = _run_steps(trainer)
    parameters = sum(p.numel() for p in params)
    if steps is None or not gain.pays_back(steps, parameters):
        return None
    return (
        f"auto: {gain.evidence}, repaid twice over by {steps:,.0f} steps at {parameters / 1e6:,.0f}M params"
    )


def choose(
    where: str,
    cls: type,
    implementation: str,
    kwargs: Mapping[str, Any],
    groups: Sequence[Mapping[str, Any]],
    module: torch.nn.Module,
    trainer: Any,
    *,
    compilable_schedules: bool = True,
    fused_by_name: str | None = None,
) -> Choice:
    """The implementation to build with, for these torch param groups; logs it in one INFO line.

    ``implementation`` and ``kwargs`` are the declared (already checked) ones. ``compilable_schedules``: whether
    the declared schedules drive only options a compiled step holds as tensors (``compiled_schedule_problem``).
    ``fused_by_name``: the declared name whose arguments gave ``kwargs`` its ``fused=True``, if one did.

    Example:
        >>> from torch import nn
        >>> from torch.optim import Adam, RMSprop
        >>> net = nn.Linear(2, 2)
        >>> groups = [{"params": list(net.parameters())}]
        >>> choose("M.opt", Adam, "auto", {}, groups, net, None)
        Choice(arguments={'fused': True}, implementation='fused', reason='auto: fused kernel ... on `cpu`')
        >>> choose("M.opt", Adam, "auto", {"foreach": False}, groups, net, None).reason
        'declared `foreach=`'
        >>> choose("M.opt", RMSprop, "auto", {}, groups, net, None).implementation
        'forloop'
    """
    params = [p for group in groups for p in group["params"]]
    differentiable = bool(kwargs.get("differentiable")) or any(g.get("differentiable") for g in groups)
    explicit = explicit_arguments(kwargs, groups)
    check_trainer_conflict(where, cls, implementation, kwargs, trainer, module, fused_by_name)
    check_sparse(where, cls, implementation, kwargs, groups, module)
    check_fused_kernel_updates(where, cls, implementation, kwargs, groups, module)
    if implementation == "compiled":
        blocker = _compiled_blocker(params, module, trainer)
        if blocker is not None:
            raise ValueError(
                f"{where}: Expected a step torch.compile can compile for `implementation='compiled'` but got "
                f"{blocker}. Use another implementation (the default 'auto' picks one that works here)."
            )
    if implementation != "auto":
        choice = Choice(
            dict(_EXPLICIT[implementation]), implementation, f"declared implementation={implementation!r}"
        )
    elif explicit:
        declared = listing([f"{key}=" for key in explicit])
        choice = Choice({}, _declared(cls, kwargs, groups, params, differentiable), f"declared {declared}")
    else:
        options = group_options(cls, kwargs, groups)
        blocker = _fused_blocker(cls, params, module, differentiable, trainer, options)
        may_compile = compilable_schedules and not differentiable and optimizer_info(cls).compilable
        compiled = _compiled_pays_back(cls, params, module, trainer) if blocker and may_compile else None
        if blocker is None:
            kinds = listing(sorted({p.device.type for p in params}))
            choice = Choice({"fused": True}, "fused", f"auto: fused kernel is fastest on {kinds}")
        elif compiled is not None:
            choice = Choice({}, "compiled", compiled)
        else:
            choice = Choice(
                {}, _torch_default(cls, params, differentiable), f"auto: torch's default, {blocker}"
            )
    log.info(
        "%s: `%s` uses the %s implementation (%s).", where, cls.__name__, choice.implementation, choice.reason
    )
    return choice


def keep_implementation(optimizer: torch.optim.Optimizer) -> None:
    """Keep the implementation ``optimizer`` was built with (its groups' ``fused``/``foreach``, and numbers
    where it holds numbers) through every ``load_state_dict``.

    torch's ``Optimizer.load_state_dict`` takes every group option from the state it loads, ``fused`` and
    ``foreach`` included, so a resumed run would step with the checkpoint's implementation instead of the one
    chosen (and logged) for it: a fused checkpoint resumed with ``"forloop"`` declared, under ``bf16-true``
    (where torch's fused CPU ``SGD`` leaves the weights unchanged) or with ``"compiled"`` (which then never
    compiles). A pre hook, not a post hook: torch places each state's ``step`` by the groups it loads (on the
    parameter's device, as float32, for ``fused``), so they must say the implementation that will read it.
    Likewise the 0-dim tensor options of a compiled run's checkpoint from before it saved numbers only
    (``initial_lr``) load as numbers where ``optimizer`` holds numbers (a compiled step's held lr and betas, a
    declared tensor lr keep their kind). The declared group names stay too: the groups of a checkpoint a
    hand-written ``configure_optimizers`` wrote have none (``LRMonitor`` would switch to ``pg1`` keys).

    Example:
        >>> from torch.optim import SGD
        >>> params = [torch.nn.Parameter(torch.zeros(2))]
        >>> fused, forloop = SGD(params, lr=0.1, fused=True), SGD(params, lr=0.1, foreach=False)
        >>> keep_implementation(forloop)
        >>> saved = fused.state_dict()
        >>> saved["param_groups"][0]["initial_lr"] = torch.tensor(0.5)
        >>> forloop.load_state_dict(saved)
        >>> group = forloop.param_groups[0]
        >>> group["fused"], group["foreach"], group["initial_lr"]
        (None, False, 0.5)
    """
    loading_optimizer(optimizer).register_load_state_dict_pre_hook(_as_built)


def loading_optimizer(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """The optimizer that loads ``optimizer``'s state, where its load hooks go: itself, or the one a wrapper that
    never ran ``Optimizer.__init__`` (pytorch_optimizer's ``Magma``) wraps, which holds its groups."""
    if hasattr(optimizer, "_optimizer_load_state_dict_pre_hooks"):
        return optimizer
    return cast(torch.optim.Optimizer, optimizer.optimizer)  # type: ignore[attr-defined]


def _holds_tensor(value: Any) -> bool:
    return isinstance(value, torch.Tensor) or (
        isinstance(value, (tuple, list)) and any(isinstance(v, torch.Tensor) for v in value)
    )


def _as_built(optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> dict[str, Any]:
    """``state_dict`` (torch's shallow copy) with the implementation options and the declared ``name`` of
    ``optimizer``'s groups, and numbers for the tensor options its groups hold as numbers."""
    if len(state_dict.get("param_groups", ())) != len(optimizer.param_groups):
        return state_dict  # torch refuses it with its own message
    state_dict["param_groups"] = [
        {
            **{
                key: value if key == "params" or _holds_tensor(group.get(key)) else numbers_in(value)
                for key, value in saved.items()
            },
            **{key: group[key] for key in (*IMPLEMENTATION_ARGUMENTS, "name") if key in group},
        }
        for saved, group in zip(state_dict["param_groups"], optimizer.param_groups)
    ]
    return state_dict


def _declared(
    cls: type,
    kwargs: Mapping[str, Any],
    groups: Sequence[Mapping[str, Any]],
    params: Sequence[torch.Tensor],
    differentiable: bool,
) -> str:
    """The implementation explicit ``fused=``/``foreach=`` arguments give (per group, they may differ)."""
    chosen = set()
    torch_default = False
    for group in groups:
        options = {**kwargs, **group}
        if options.get("fused"):
            chosen.add("fused")
        elif options.get("foreach") is None:
            torch_default = True
        else:
            chosen.add("foreach" if options["foreach"] else "forloop")
    if torch_default:  # the same for every group that leaves the choice to torch
        chosen.add(_torch_default(cls, params, differentiable))
    return "/".join(sorted(chosen))
