"""Which implementation of an optimizer's step to use: fused kernel, ``foreach`` or the for-loop.

torch never picks its fused kernels by default, and on CPU its default is the for-loop, which is several
times slower than ``fused=True`` for Adam/AdamW (see ``benchmarks/bench_optimizer_step.py``). With
``implementation="auto"`` (the default) the mixin picks the fused kernel where it was measured fastest and
is safe, and otherwise leaves torch's own choice (``foreach`` on CUDA, the for-loop on CPU). An explicit
``fused=``/``foreach=`` in the declaration (or in a ``ParamGroup``) always wins.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch

from lightning_optim.registry.optimizers import accepts_argument, optimizer_info
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import check_choice, listing

IMPLEMENTATIONS: tuple[str, ...] = ("auto", "fused", "foreach", "forloop")

#: The arguments of torch optimizers that choose the implementation; declaring one opts out of ``"auto"``.
IMPLEMENTATION_ARGUMENTS = ("fused", "foreach")

_EXPLICIT: Mapping[str, Mapping[str, bool]] = MappingProxyType(
    {"fused": {"fused": True}, "foreach": {"foreach": True}, "forloop": {"foreach": False}}
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
        ValueError: Model.optimizer: Expected `implementation` to be one of `auto`, `foreach`, `forloop` ...
    """
    check_choice(where, "implementation", implementation, IMPLEMENTATIONS)
    if implementation == "auto":
        return {}
    explicit = explicit_arguments(kwargs, groups)
    if explicit:
        raise ValueError(
            f"{where}: Expected either `implementation` or {listing([f'{k}=' for k in explicit])} but got "
            "both "
            f"(implementation={implementation!r}); they choose the same thing. Keep one."
        )
    arguments = dict(_EXPLICIT[implementation])
    supported = [name for name, args in _EXPLICIT.items() if all(accepts_argument(cls, a) for a in args)]
    if not all(accepts_argument(cls, a) for a in arguments):
        raise ValueError(
            f"{where}: Expected `implementation` to be one of {listing(['auto', *supported])} for "
            f"`{cls.__name__}` (it has no `{next(a for a in arguments if not accepts_argument(cls, a))}` option) "
            f"but got {implementation!r}."
        )
    return arguments


@dataclass(frozen=True)
class Choice:
    """What the mixin passes to the optimizer (``arguments``) and the implementation that results."""

    arguments: Mapping[str, Any]
    implementation: str
    reason: str


def _uses_gradient_scaler(trainer: Any) -> bool:
    plugin = getattr(trainer, "precision_plugin", None) if trainer is not None else None
    return getattr(plugin, "scaler", None) is not None


def _sparse_parameter_ids(module: torch.nn.Module) -> set[int]:
    return {
        id(p)
        for m in module.modules()
        if getattr(m, "sparse", False) is True
        for p in m.parameters(recurse=False)
    }


def _torch_default(cls: type, params: Sequence[torch.Tensor], differentiable: bool) -> str:
    if not accepts_argument(cls, "foreach"):
        return "default"
    return "foreach" if compat.torch_default_is_foreach(params, differentiable) else "forloop"


def _fused_blocker(
    cls: type, params: Sequence[torch.Tensor], sparse: set[int], differentiable: bool, trainer: Any
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
    if not all(type(p) in (torch.Tensor, torch.nn.Parameter) and torch.is_floating_point(p) for p in params):
        return "not every parameter is a plain floating-point tensor"
    if any(id(p) in sparse for p in params):
        return "a parameter gets sparse gradients"
    if _uses_gradient_scaler(trainer):
        # With a GradScaler (fp16 AMP) a fused optimizer unscales inside `step`: Lightning then refuses
        # gradient clipping, and hooks that read gradients before the step would see them still scaled.
        return "fp16 mixed precision uses a gradient scaler"
    return None


def choose(
    where: str,
    cls: type,
    implementation: str,
    kwargs: Mapping[str, Any],
    groups: Sequence[Mapping[str, Any]],
    module: torch.nn.Module,
    trainer: Any,
) -> Choice:
    """The implementation to build with, for these torch param groups; logs it in one INFO line.

    ``implementation`` and ``kwargs`` are the declared (already checked) ones.

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
    if implementation != "auto":
        choice = Choice(
            dict(_EXPLICIT[implementation]), implementation, f"declared implementation={implementation!r}"
        )
    elif explicit:
        declared = listing([f"{key}=" for key in explicit])
        choice = Choice({}, _declared(cls, kwargs, groups, params, differentiable), f"declared {declared}")
    else:
        blocker = _fused_blocker(cls, params, _sparse_parameter_ids(module), differentiable, trainer)
        if blocker is None:
            kinds = listing(sorted({p.device.type for p in params}))
            choice = Choice({"fused": True}, "fused", f"auto: fused kernel is fastest on {kinds}")
        else:
            choice = Choice(
                {}, _torch_default(cls, params, differentiable), f"auto: torch's default, {blocker}"
            )
    log.info(
        "%s: `%s` uses the %s implementation (%s).", where, cls.__name__, choice.implementation, choice.reason
    )
    return choice


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
