"""bitsandbytes' optimizers by name (``"bnb/<name>"``), and their per-parameter state precision.

Every optimizer class of ``bitsandbytes.optim`` is offered by its lower-case class name (``"bnb/adamw8bit"``,
``"bnb/lion32bit"``, ``"bnb/ademamix8bit"``, ``"bnb/pagedadamw8bit"``); a paged one also as
``"bnb/paged_<rest>"`` (``"bnb/paged_adamw8bit"``).

bitsandbytes keeps the precision of an optimizer's state outside its param groups: ``optim_bits`` and
``min_8bit_size`` are constructor arguments, and a parameter gets other values only through the process-wide
``GlobalOptimManager.override_config``, keyed by ``id(param)``. So ``ParamGroup("embed", optim_bits=32)``
is applied here, after the optimizer is built (``prepare``), through ``override_config``. The overrides
this package sets are its own: they are set again at every build (a second ``fit`` with another
declaration does not inherit them) and dropped when their parameter is freed, so a later tensor that reuses
its ``id`` does not inherit them either. Overrides set by hand are kept.
"""

from __future__ import annotations

import inspect
import re
import sys
import warnings
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from lightning_optim.registry.named import NamedOptimizer
from lightning_optim.utilities.numeric import is_int, is_real

#: the per-parameter options a ``ParamGroup`` of a bitsandbytes optimizer may set, and their checks' words
STATE_OPTIONS: Mapping[str, str] = {
    "optim_bits": "8 or 32 (bitsandbytes' state precisions)",
    "min_8bit_size": "an int >= 0 (tensors with fewer elements keep 32-bit state)",
}

#: ``id(param)`` -> (the config this package set in ``pid2config``, the one it replaced)
_OURS: dict[int, tuple[dict[str, Any], dict[str, Any] | None]] = {}


def names(module: Any) -> dict[str, NamedOptimizer]:
    """``bitsandbytes.optim``'s optimizers by lower-case class name, paged ones also as ``paged_<rest>``."""
    found: dict[str, NamedOptimizer] = {}
    for class_name, cls in sorted(vars(module).items()):
        if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
            continue
        record = NamedOptimizer(cls, meaning=f"`bitsandbytes.optim.{class_name}`")
        found[class_name.lower()] = record
        if class_name.startswith("Paged"):
            found["paged_" + class_name.removeprefix("Paged").lower()] = record
    return found


def uses_override_config(cls: type) -> bool:
    """Whether ``cls`` reads its state precision through ``GlobalOptimManager`` (all but ``PytorchLARS``)."""
    from bitsandbytes.optim.optimizer import Optimizer8bit

    return issubclass(cls, Optimizer8bit)


def _valid(option: str, value: Any) -> bool:
    if not is_int(value):
        return False
    return value in (8, 32) if option == "optim_bits" else value >= 0


def check_state_options(group: Mapping[str, Any]) -> None:
    """``optim_bits`` is 8 or 32 and ``min_8bit_size`` an int >= 0 (bitsandbytes raises in the first step).

    Example:
        >>> check_state_options({"lr": 1e-3, "optim_bits": 32})
        >>> check_state_options({"optim_bits": 16})
        Traceback (most recent call last):
        ...
        ValueError: Expected `optim_bits` to be 8 or 32 (bitsandbytes' state precisions) but got 16.
    """
    for option, expected in STATE_OPTIONS.items():
        if option in group and not _valid(option, group[option]):
            raise ValueError(f"Expected `{option}` to be {expected} but got {group[option]!r}.")


#: bitsandbytes' classes without a momentum-free form (their default): SGD and LARS raise
#: ``NotImplementedError`` in ``__init__``, ``PytorchLARS`` an ``UnboundLocalError`` in its first step
_NEED_MOMENTUM = ("SGD", "LARS", "PytorchLARS")


def check_arguments(cls: type, arguments: Mapping[str, Any]) -> None:
    """bitsandbytes' SGD and LARS have no momentum-free form: ``momentum`` (default 0) must be > 0; a declared
    ``optim_bits`` must be one the class keeps (``check_kept_precision``).

    Example:
        >>> import torch
        >>> class SGD8bit(torch.optim.SGD): ...
        >>> check_arguments(SGD8bit, {"lr": 0.1})
        Traceback (most recent call last):
        ...
        ValueError: Expected `momentum` of `SGD8bit` to be > 0 (bitsandbytes' SGD and LARS have no momentum-free form) but got 0 (its default).
    """
    check_kept_precision(cls, arguments)
    check_betas(cls, arguments)
    if not cls.__name__.startswith(_NEED_MOMENTUM):
        return
    declared = "momentum" in arguments
    momentum = arguments["momentum"] if declared else inspect.signature(cls).parameters["momentum"].default
    if is_real(momentum) and momentum == 0:
        raise ValueError(
            f"Expected `momentum` of `{cls.__name__}` to be > 0 (bitsandbytes' SGD and LARS have no momentum-free "
            f"form) but got {momentum!r}{'' if declared else ' (its default)'}."
        )


def betas_length(cls: type) -> int | None:
    """How many ``betas`` ``cls`` reads: as many as its default holds (AdEMAMix 3, the others 2), or ``None``
    without a ``betas`` argument. bitsandbytes checks only that each is in [0, 1) and reads the ones it uses.

    Example:
        >>> class Lion8bit(torch.optim.Optimizer):
        ...     def __init__(self, params, lr=1e-4, betas=(0.9, 0.99)): ...
        >>> betas_length(Lion8bit), betas_length(torch.optim.SGD)
        (2, None)
    """
    parameter = inspect.signature(cls).parameters.get("betas")
    default = None if parameter is None else parameter.default
    return len(default) if isinstance(default, tuple) else None


def check_betas(cls: type, options: Mapping[str, Any]) -> None:
    """``betas`` of the length ``cls`` reads: bitsandbytes accepts any length and drops a value its optimizer
    does not read (Lion8bit's third) or reads 0.0 for a missing one (AdEMAMix8bit's third).

    Example:
        >>> class Lion8bit(torch.optim.Optimizer):
        ...     def __init__(self, params, lr=1e-4, betas=(0.9, 0.99)): ...
        >>> check_betas(Lion8bit, {"betas": (0.9, 0.99, 0.999)})
        Traceback (most recent call last):
        ...
        ValueError: Expected `betas` of `Lion8bit` to hold 2 values (as its default (0.9, 0.99): bitsandbytes reads no more and drops the rest) but got 3: (0.9, 0.99, 0.999).
    """
    expected, betas = betas_length(cls), options.get("betas")
    if expected is None or not isinstance(betas, (tuple, list)) or len(betas) == expected:
        return
    default = inspect.signature(cls).parameters["betas"].default
    outcome = "drops the rest" if len(betas) > expected else "reads 0.0 or fails for a missing one"
    raise ValueError(
        f"Expected `betas` of `{cls.__name__}` to hold {expected} values (as its default {default!r}: "
        f"bitsandbytes reads no more and {outcome}) but got {len(betas)}: {betas!r}."
    )


def check_group(cls: type, group: Mapping[str, Any]) -> None:
    """A param group's checks: its state options (``check_state_options``) and its ``betas``
    (``check_betas``)."""
    check_state_options(group)
    check_betas(cls, group)


def check_kept_precision(cls: type, arguments: Mapping[str, Any]) -> None:
    """A declared ``optim_bits`` the class keeps: bitsandbytes' ``AdamW8bit`` takes ``optim_bits=32`` "for
    compatibility" and trains with 8-bit state all the same, while the same value on a ``ParamGroup`` gives
    32-bit state. Read from the class itself, built over a stand-in with the declared arguments (a build that
    fails is left to the trial build, which reports bitsandbytes' own error)."""
    declared = arguments.get("optim_bits")
    if declared is None or "optim_bits" not in inspect.signature(cls).parameters:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            built = cls([torch.nn.Parameter(torch.zeros(1))], **arguments)
    except Exception:
        return
    kept = getattr(getattr(built, "args", None), "optim_bits", declared)
    if kept != declared:
        raise ValueError(
            f"Expected `optim_bits` of `{cls.__name__}` to be left out (its state is {kept}-bit whatever it is "
            f"given: bitsandbytes keeps the argument only for compatibility) but got {declared!r}"
            f"{_precision_hint(cls, declared)}."
        )


def _precision_hint(cls: type, bits: Any) -> str:
    """Where a declared precision takes effect: the class of the same name without its fixed precision, and a
    ``ParamGroup``."""
    family = re.sub(r"(8|32)bit$", "", cls.__name__)
    module = sys.modules.get(cls.__module__.split(".")[0] + ".optim")
    general = getattr(module, family, None) if family != cls.__name__ else None
    takes = isinstance(general, type) and "optim_bits" in inspect.signature(general).parameters
    by_name = f"`bnb/{family.lower()}` with `optim_bits={bits!r}`, or " if takes else ""
    return f" (did you mean {by_name}`ParamGroup(..., optim_bits={bits!r})` for some parameters?)"


def state_values(optimizer: torch.optim.Optimizer, group: Mapping[str, Any]) -> dict[str, Any]:
    """The state options the parameters of ``group`` are built with, which the group itself does not hold:
    an override of the parameter (a ``ParamGroup``'s, transformers' 32-bit embeddings, one set by hand),
    else the optimizer's own (``AdamW8bit``: 8). Parameters that differ give the sorted values.

    Example:
        >>> import bitsandbytes as bnb
        >>> optimizer = bnb.optim.AdamW8bit([torch.nn.Parameter(torch.zeros(8))])
        >>> state_values(optimizer, optimizer.param_groups[0])
        {'optim_bits': 8, 'min_8bit_size': 4096}
    """
    configs = [_manager().pid2config.get(id(param), {}) for param in group["params"]]
    values: dict[str, Any] = {}
    for key in STATE_OPTIONS:
        own = getattr(optimizer.args, key)  # type: ignore[attr-defined]
        found = sorted({config.get(key, own) for config in configs} or {own})
        values[key] = found[0] if len(found) == 1 else tuple(found)
    return values


def precision_misfit(
    optimizer: torch.optim.Optimizer, param: torch.Tensor, state: Mapping[str, Any]
) -> str | None:
    """How the precision of ``param``'s kept ``state`` differs from the one its state options give it now (8-bit
    where ``optim_bits`` is 8 and the tensor has ``min_8bit_size`` elements, else 32-bit), ``None`` where it does
    not: bitsandbytes goes on with the state it finds, and quantizes only a state it starts.

    Example:
        >>> import bitsandbytes as bnb
        >>> param = torch.nn.Parameter(torch.zeros(4096))
        >>> optimizer = bnb.optim.AdamW8bit([param])
        >>> precision_misfit(optimizer, param, {"state1": torch.zeros(4096, dtype=torch.uint8)})
        >>> precision_misfit(optimizer, param, {"__bnb_optimizer_quant_state__": {"state1": torch.zeros(4096)}})
        '32-bit in the checkpoint, 8-bit now'
    """
    # a saved state holds its quantization state apart (bitsandbytes' `_FSDP_WRAPPED_QUANT_STATE_KEY`)
    kept = state.get("state1", (state.get("__bnb_optimizer_quant_state__") or {}).get("state1"))
    if not isinstance(kept, torch.Tensor):
        return None
    override = _manager().pid2config.get(id(param), {})
    config = {key: override.get(key, getattr(optimizer.args, key)) for key in STATE_OPTIONS}  # type: ignore[attr-defined]
    bits = 8 if config["optim_bits"] == 8 and param.numel() >= config["min_8bit_size"] else 32
    was = 8 if kept.dtype == torch.uint8 else 32
    return None if was == bits else f"{was}-bit in the checkpoint, {bits}-bit now"


def _manager() -> Any:
    from bitsandbytes.optim import GlobalOptimManager

    return GlobalOptimManager.get_instance()


def _forget(key: int, config: dict[str, Any]) -> None:
    """The parameter ``key`` was freed: drop the override this package set for it."""
    entry = _OURS.get(key)
    if entry is None or entry[0] is not config:
        return
    del _OURS[key]
    manager = _manager()
    if manager.pid2config.get(key) is config:
        del manager.pid2config[key]


def _release(manager: Any, param: torch.Tensor) -> None:
    """Undo the override this package set for ``param`` (restoring one set by hand before it)."""
    entry = _OURS.pop(id(param), None)
    if entry is None:
        return
    ours, replaced = entry
    if manager.pid2config.get(id(param)) is ours:
        if replaced is None:
            del manager.pid2config[id(param)]
        else:
            manager.pid2config[id(param)] = replaced


def _override(manager: Any, param: torch.Tensor, options: Mapping[str, Any]) -> None:
    key = id(param)
    entry = _OURS.get(key)
    if entry is not None and manager.pid2config.get(key) is entry[0]:
        entry[0].update(options)
        return
    replaced = manager.pid2config.pop(key, None)
    config = {**(replaced or {}), **options}
    manager.override_config(param, key_value_dict=config)
    _OURS[key] = (config, replaced)
    weakref.finalize(param, _forget, key, config)


def prepare(optimizer: torch.optim.Optimizer) -> None:
    """Check the constructor's ``optim_bits`` and apply each group's state options to its parameters."""
    bits = getattr(getattr(optimizer, "args", None), "optim_bits", None)
    if bits is not None:
        check_state_options({"optim_bits": bits})
    manager = _manager()
    for group in optimizer.param_groups:
        options = {key: group[key] for key in STATE_OPTIONS if key in group}
        check_state_options(options)
        for param in group["params"]:
            _release(manager, param)
            if options:
                _override(manager, param, options)


def keep_32bit(optimizer: torch.optim.Optimizer, params: Iterable[torch.Tensor]) -> None:
    """32-bit state for ``params`` (transformers' rule for embeddings), except in a group that sets
    ``optim_bits`` itself."""
    wanted = {id(p) for p in params}
    manager = _manager()
    for group in optimizer.param_groups:
        if "optim_bits" in group:
            continue
        for param in group["params"]:
            if id(param) in wanted:
                _override(manager, param, {"optim_bits": 32})
