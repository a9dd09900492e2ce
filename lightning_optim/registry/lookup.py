"""Looking up what a declaration names: a class, a registered name (from the records in ``optimizers.py``
and ``schedulers.py``) or a dotted import path."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from lightning_optim.registry.external import COLLECTIONS, lookup_optimizer
from lightning_optim.registry.optimizers import (
    OPTIMIZERS,
    REGISTERED_OPTIMIZERS,
    is_optimizer_class,
    optimizer_info,
    takes_model,
)
from lightning_optim.registry.schedulers import REGISTERED_SCHEDULERS, SCHEDULERS, is_scheduler_class
from lightning_optim.schedules.transformers import TRANSFORMERS_FUNCTIONS, UNPORTED_SCHEDULES
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import did_you_mean, prefixed

#: The kinds of class a declaration names.
Kind = Literal["optimizer", "scheduler"]


@dataclass(frozen=True)
class KindTable:
    """What a class of one kind is looked up in and checked with, and how messages describe it."""

    registry: Mapping[str, type]
    accepts: Callable[[Any], bool]
    expected: str


KINDS: Mapping[Kind, KindTable] = MappingProxyType(
    {
        "optimizer": KindTable(OPTIMIZERS, is_optimizer_class, "a torch.optim.Optimizer subclass"),
        "scheduler": KindTable(
            SCHEDULERS, is_scheduler_class, "an LRScheduler subclass or ReduceLROnPlateau"
        ),
    }
)


def import_dotted(path: str) -> Any:
    module_name, _, attribute = path.replace(":", ".").rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"cannot import module `{module_name}` of `{path}` ({err})") from err
    try:
        return getattr(module, attribute)
    except AttributeError:
        public = [name for name in dir(module) if not name.startswith("_")]
        hint = did_you_mean(attribute, public)
        raise ValueError(
            f"module `{module_name}` has no attribute `{attribute}`{hint} (from `{path}`)"
        ) from None


def _external(kind: Kind, key: str) -> type | None:
    """A name registered by the user, or from an installed collection (``pytorch_optimizer/lion``)."""
    if kind == "optimizer":
        return lookup_optimizer(key)
    info = REGISTERED_SCHEDULERS.get(key)
    return None if info is None else info.cls


def _registered(kind: Kind) -> list[str]:
    return list(REGISTERED_OPTIMIZERS if kind == "optimizer" else REGISTERED_SCHEDULERS)


def resolve_class(value: Any, kind: Kind, *, where: str) -> type:
    """``resolve`` against ``kind``'s registry and predicate; error messages start with ``where: ``."""
    table = KINDS[kind]
    with prefixed(where):
        cls = resolve(value, kind=kind, registry=table.registry, accepts=table.accepts)
    if kind == "optimizer" and takes_model(cls):
        named = f", which `{value}` names," if isinstance(value, str) and value != cls.__name__ else ""
        raise ValueError(
            f"{where}: Expected an optimizer built from param groups but got `{cls.__name__}`{named} whose first "
            "argument is the model: it builds its own groups from the model's parameters, so it cannot be "
            f"declared. Use its class directly: `{cls.__name__}(self, ...)` in a `configure_optimizers` of your own."
        )
    needs = optimizer_info(cls).needs if kind == "optimizer" else None
    if needs is not None:
        compat.requires_torch(needs, where)
    return cls


def resolve(value: Any, *, kind: Kind, registry: Mapping[str, type], accepts: Callable[[Any], bool]) -> type:
    """Turn a class, a registered name or a dotted path into a class of the expected kind.

    Args:
        value: what the user declared.
        kind: ``"optimizer"`` or ``"scheduler"``, for messages.
        registry: the names known for that kind.
        accepts: predicate telling whether a class is of that kind.

    Raises:
        ValueError: an unknown name or an import path that does not import.
        TypeError: anything that does not resolve to a class of the expected kind.
    """
    expected = KINDS[kind].expected
    if isinstance(value, str):
        key = value.lower()
        if key in registry:
            return registry[key]
        external = _external(kind, key)
        if external is not None:
            return external
        unported = (
            UNPORTED_SCHEDULES.get(key.removeprefix("transformers/"))
            if key.startswith("transformers/")
            else None
        )
        if kind == "scheduler" and unported is not None:
            raise ValueError(
                f"Expected a known scheduler name but got {value!r}, which is not ported: {unported}"
            )
        if "." not in value and ":" not in value:
            # a class name (`CosineAnealingLR`) is compared with the class names, a short name with the names
            class_names = [c.__name__ for c in registry.values()] if value != key else []
            hint = (
                _meant_instead(value, registry)
                or did_you_mean(value, class_names)
                or did_you_mean(key, [*registry, *_registered(kind)])
            )
            prefix, slash, rest = key.partition("/")
            if slash and kind == "optimizer" and not hint:  # a misspelt collection: `bnbb/adamw8bit`
                hint = did_you_mean(prefix, COLLECTIONS).replace("`?)", f"/{rest}`?)")
            raise ValueError(
                f"Expected a known {kind} name or a dotted import path but got {value!r}"
                f"{hint}. Known names: "
                f"{', '.join([*registry, *_registered(kind)])}"
                f"{'; and the collections ' + ', '.join(f'`{c}/<name>`' for c in COLLECTIONS) if kind == 'optimizer' else ''}."
            )
        value_from_path = import_dotted(value)
        if not accepts(value_from_path):
            raise TypeError(
                f"Expected `{value}` to resolve to {expected} but got {value_from_path!r}"
                f"{_meant_instead(value_from_path, registry)}"
            )
        return value_from_path
    if not accepts(value):
        if is_built(value):
            # a built optimizer or scheduler: its repr lists every param group (or is the default object one)
            raise TypeError(
                f"Expected {expected}, a name or a dotted import path but got {built_instance(value, kind)}"
            )
        raise TypeError(
            f"Expected {expected}, a name or a dotted import path but got {value!r}{_meant_instead(value, registry)}"
        )
    return value


def is_built(value: Any) -> bool:
    """Whether ``value`` is an optimizer or a scheduler instance (not its class)."""
    return any(table.accepts(type(value)) for table in KINDS.values())


def built_instance(value: Any, kind: Kind) -> str:
    """The refusal's end for an optimizer or scheduler instance: its class, and the declaration of the class.

    Example:
        >>> import torch
        >>> print(built_instance(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), "optimizer"))
        an instance of `SGD`, built already; pass the class and its arguments: `OptimizerSpec(torch.optim.SGD, lr=...)`.
    """
    cls = type(value)
    spec = "OptimizerSpec" if KINDS["optimizer"].accepts(cls) else "SchedulerSpec"
    namespace = "torch.optim" if spec == "OptimizerSpec" else "torch.optim.lr_scheduler"
    public = namespace if getattr(import_dotted(namespace), cls.__name__, None) is cls else None
    path = f"{public}.{cls.__name__}" if public else cls.__name__
    arguments = "lr=..." if spec == "OptimizerSpec" else "..."
    where = (
        "" if (spec == "OptimizerSpec") == (kind == "optimizer") else f" (a {kind.lower()} was expected here)"
    )
    return (
        f"an instance of `{cls.__name__}`, built already{where}; pass the class and its arguments: "
        f"`{spec}({path}, {arguments})`."
    )


def _meant_instead(value: Any, registry: Mapping[str, type]) -> str:
    """A ``" (did you mean ...?)"`` for transformers' schedule function, by name (``get_linear_schedule_with_warmup``,
    also as ``transformers/<name>``) or the function itself: its registry name, ``transformers/<type>``.
    ``get_scheduler`` takes that type as its first argument, so it is told the names. A function of another
    package is told nothing, whatever its name: pytorch_optimizer's ``get_wsd_schedule`` decays otherwise than
    ``transformers/warmup_stable_decay``.

    Example:
        >>> from lightning_optim.registry.schedulers import SCHEDULERS
        >>> _meant_instead("transformers/get_linear_schedule_with_warmup", SCHEDULERS)
        ' (did you mean `transformers/linear`?)'
        >>> _meant_instead("get_constant_schedule_with_warmup", SCHEDULERS), _meant_instead("cosine", SCHEDULERS)
        (' (did you mean `transformers/constant_with_warmup`?)', '')
        >>> _meant_instead("get_scheduler", SCHEDULERS)
        ' (did you mean `transformers/<name>` with the name `get_scheduler` takes, e.g. `transformers/linear`?)'
    """
    if not isinstance(value, str) and str(getattr(value, "__module__", "")).split(".")[0] != "transformers":
        return ""
    name = (
        value.rpartition("/")[2].rpartition(".")[2]
        if isinstance(value, str)
        else getattr(value, "__name__", "")
    )
    if name == "get_scheduler" and "transformers/linear" in registry:
        return " (did you mean `transformers/<name>` with the name `get_scheduler` takes, e.g. `transformers/linear`?)"
    meant = f"transformers/{TRANSFORMERS_FUNCTIONS.get(name)}"
    return f" (did you mean `{meant}`?)" if meant in registry else ""
