"""Names for optimizers and schedulers from other packages: registered ones and installed collections.

``register_optimizer("lion", Lion)`` and ``register_scheduler("wsd", MySchedule, length="total_steps")``
add a name (the scheduler with its record, as the built-in ones in ``schedulers.py``). Installed collections
are reached under a prefix, imported on first use:

- ``"pytorch_optimizer/<name>"``: every optimizer of the ``pytorch_optimizer`` package
  (``pytorch_optimizer.get_supported_optimizers()``), e.g. ``"pytorch_optimizer/lion"``;
- ``"schedulefree/<name>"``: the ``schedulefree`` package's optimizers by lower-case class name
  (``"schedulefree/adamwschedulefree"``) or short name (``"schedulefree/adamw"``, ``"sgd"``, ``"radam"``).

Declaration checks work from each class's real signature, as for torch's own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lightning_optim.registry.optimizers import (
    OPTIMIZERS,
    REGISTERED_OPTIMIZERS,
    OptimizerInfo,
    is_optimizer_class,
)
from lightning_optim.registry.schedulers import (
    REGISTERED_SCHEDULERS,
    SCHEDULERS,
    SchedulerInfo,
    is_scheduler_class,
)
from lightning_optim.utilities.errors import did_you_mean


def _check_name(name: Any, builtin: Mapping[str, type], kind: str) -> None:
    if not isinstance(name, str) or not name or name != name.lower() or "." in name or ":" in name:
        raise ValueError(
            f"register_{kind}: Expected `name` to be a non-empty lower-case name without `.` or `:` (those "
            f"mean an import path) but got {name!r}."
        )
    if name in builtin or name.split("/", 1)[0] in COLLECTIONS:
        raise ValueError(f"register_{kind}: Expected a new name but {name!r} is a built-in {kind} name.")


def register_optimizer(name: str, cls: type, *, fused_fastest_on: frozenset[str] = frozenset()) -> None:
    """Make ``OptimizerSpec(name, ...)`` mean ``cls``.

    Example:
        >>> import torch
        >>> class MySGD(torch.optim.SGD): ...
        >>> register_optimizer("my_sgd", MySGD)
        >>> lookup_optimizer("my_sgd") is MySGD
        True
        >>> unregister("my_sgd")
    """
    _check_name(name, OPTIMIZERS, "optimizer")
    if not is_optimizer_class(cls):
        raise TypeError(f"register_optimizer: Expected a torch.optim.Optimizer subclass but got {cls!r}.")
    REGISTERED_OPTIMIZERS[name] = OptimizerInfo(cls, (name,), fused_fastest_on=frozenset(fused_fastest_on))


def register_scheduler(name: str, cls: type, **record: Any) -> None:
    """Make ``SchedulerSpec(name, ...)`` mean ``cls``; ``record`` takes ``SchedulerInfo``'s fields
    (``default_interval``, ``length``, ``epoch_arguments``, ``per_group_arguments``, ...)."""
    _check_name(name, SCHEDULERS, "scheduler")
    if not is_scheduler_class(cls):
        raise TypeError(
            f"register_scheduler: Expected an LRScheduler subclass or ReduceLROnPlateau but got {cls!r}."
        )
    try:
        info = SchedulerInfo(cls, (name,), **record)
    except TypeError as error:
        raise TypeError(f"register_scheduler: {error}") from None
    REGISTERED_SCHEDULERS[name] = info


def unregister(name: str) -> None:
    """Remove a name added with ``register_optimizer`` or ``register_scheduler``."""
    REGISTERED_OPTIMIZERS.pop(name, None)
    REGISTERED_SCHEDULERS.pop(name, None)


@dataclass(frozen=True)
class Collection:
    """Optimizers of an installed package, by name under a prefix."""

    package: str
    #: the names it offers, given the imported package
    names: Callable[[Any], Mapping[str, type]]


def _pytorch_optimizer(module: Any) -> Mapping[str, type]:
    return {name: module.load_optimizer(name) for name in module.get_supported_optimizers()}


_SCHEDULEFREE_SHORT = {"adamw": "AdamWScheduleFree", "sgd": "SGDScheduleFree", "radam": "RAdamScheduleFree"}


def _schedulefree(module: Any) -> Mapping[str, type]:
    classes = {n.lower(): c for n, c in vars(module).items() if is_optimizer_class(c)}
    return {**classes, **{short: getattr(module, full) for short, full in _SCHEDULEFREE_SHORT.items()}}


COLLECTIONS: Mapping[str, Collection] = {
    "pytorch_optimizer": Collection("pytorch_optimizer", _pytorch_optimizer),
    "schedulefree": Collection("schedulefree", _schedulefree),
}

_LOADED: dict[str, Mapping[str, type]] = {}


def collection_names(prefix: str) -> Mapping[str, type]:
    """The optimizers of the collection ``prefix``, importing its package on first use."""
    if prefix not in _LOADED:
        collection = COLLECTIONS[prefix]
        try:
            module = importlib.import_module(collection.package)
        except ImportError as error:
            raise ValueError(
                f"Expected the `{collection.package}` package for `{prefix}/...` optimizer names but it is not "
                f"installed ({error}); `pip install {collection.package.replace('_', '-')}`."
            ) from None
        _LOADED[prefix] = collection.names(module)
    return _LOADED[prefix]


def lookup_optimizer(name: str) -> type | None:
    """The class a registered or collection name means, ``None`` for a name of neither kind.

    Raises:
        ValueError: a collection prefix with a name it does not have.
    """
    if name in REGISTERED_OPTIMIZERS:
        return REGISTERED_OPTIMIZERS[name].cls
    prefix, slash, rest = name.partition("/")
    if not slash or prefix not in COLLECTIONS:
        return None
    names = collection_names(prefix)
    if rest not in names:
        raise ValueError(
            f"Expected a `{prefix}` optimizer name but got {name!r}{did_you_mean(rest, names)}. "
            f"Its names: {', '.join(sorted(names))}."
        )
    return names[rest]
