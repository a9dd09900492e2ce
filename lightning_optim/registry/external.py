"""Names for optimizers and schedulers from other packages: registered ones and installed collections.

``register_optimizer("lion", Lion)`` and ``register_scheduler("wsd", MySchedule, length="total_steps")``
add a name (the scheduler with its record, as the built-in ones in ``schedulers.py``). Installed collections
are reached under a prefix, imported on first use:

- ``"pytorch_optimizer/<name>"``: every optimizer of the ``pytorch_optimizer`` package
  (``pytorch_optimizer.get_supported_optimizers()``), e.g. ``"pytorch_optimizer/lion"``, but those taking the
  model instead of param groups (``LOMO``, ``AdaLOMO``, ``AdamMini``), which ``resolve_class`` refuses;
- ``"schedulefree/<name>"``: the ``schedulefree`` package's optimizers by lower-case class name
  (``"schedulefree/adamwschedulefree"``) or short name (``"schedulefree/adamw"``, ``"sgd"``, ``"radam"``);
- ``"bnb/<name>"``: bitsandbytes' optimizers (``bnb.py``); ``"torchao/<name>"``: torchao's (``torchao.py``);
- ``"transformers/<name>"``: transformers' ``TrainingArguments(optim=...)`` names (``transformers_optim.py``).

Each name has a ``NamedOptimizer`` record: its class, and the arguments and preparation the name adds.
Declaration checks work from each class's real signature, as for torch's own.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from lightning_optim.registry import bnb, torchao, transformers_optim
from lightning_optim.registry.implementation import IMPLEMENTATION_ARGUMENTS
from lightning_optim.registry.named import NamedOptimizer
from lightning_optim.registry.optimizers import (
    OPTIMIZERS,
    REGISTERED_OPTIMIZERS,
    OptimizerInfo,
    is_optimizer_class,
    optimizer_info,
)
from lightning_optim.registry.schedulers import (
    REGISTERED_SCHEDULERS,
    SCHEDULERS,
    SchedulerInfo,
    is_scheduler_class,
)
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import check_keywords, did_you_mean, prefixed


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

    A name stays registered for the rest of the process (registering it again replaces its class).

    Example:
        >>> import lightning as L
        >>> import torch
        >>> from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, describe_optimizers
        >>> class MySGD(torch.optim.SGD): ...
        >>> register_optimizer("my_sgd", MySGD)
        >>> class Model(ConfigurableOptimizersMixin, L.LightningModule):
        ...     optimizer = OptimizerSpec("my_sgd", lr=0.1)  # checked against MySGD's arguments
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.layer = torch.nn.Linear(2, 1)
        >>> print(describe_optimizers(Model()).splitlines()[0])
        Model.optimizer: MySGD(lr=0.1), 1 group, 2 tensors, 3 parameters, 0 bytes of state
    """
    _check_name(name, OPTIMIZERS, "optimizer")
    if not is_optimizer_class(cls):
        raise TypeError(f"register_optimizer: Expected a torch.optim.Optimizer subclass but got {cls!r}.")
    if isinstance(fused_fastest_on, str) or not all(isinstance(d, str) for d in fused_fastest_on):
        raise TypeError(
            "register_optimizer: Expected `fused_fastest_on` to be a set of device types (`{'cuda'}`) but got "
            f"{fused_fastest_on!r}."
        )
    REGISTERED_OPTIMIZERS[name] = OptimizerInfo(cls, (name,), fused_fastest_on=frozenset(fused_fastest_on))


def register_scheduler(name: str, cls: type, **record: Any) -> None:
    """Make ``SchedulerSpec(name, ...)`` mean ``cls``; ``record`` takes ``SchedulerInfo``'s fields
    (``default_interval``, ``length``, ``epoch_arguments``, ``per_group_arguments``, ...)."""
    _check_name(name, SCHEDULERS, "scheduler")
    if not is_scheduler_class(cls):
        raise TypeError(
            f"register_scheduler: Expected an LRScheduler subclass or ReduceLROnPlateau but got {cls!r}."
        )
    fields = [f.name for f in dataclasses.fields(SchedulerInfo) if f.name not in ("cls", "names")]
    check_keywords("register_scheduler", record, fields)
    info = SchedulerInfo(cls, (name,), **record)
    _check_record(name, info)
    REGISTERED_SCHEDULERS[name] = info


def _check_record(name: str, info: SchedulerInfo) -> None:
    """The record's interval is one Lightning knows and the arguments it names are ``cls``'s own."""
    where = f"register_scheduler({name!r})"
    if isinstance(info.default_interval, str) and info.default_interval not in ("step", "epoch"):
        raise ValueError(
            f"{where}: Expected `default_interval` to be 'step', 'epoch' or a function of the declared arguments "
            f"but got {info.default_interval!r}{did_you_mean(info.default_interval, ['step', 'epoch'])}."
        )
    accepted = list(inspect.signature(info.cls).parameters)
    named = {
        "length": [info.length] if info.length else [],
        "window_argument": [info.window_argument] if info.window_argument else [],
        "length_given_by": list(info.length_given_by),
        "per_epoch_argument": [info.per_epoch_argument] if info.per_epoch_argument else [],
        "epoch_arguments": list(info.epoch_arguments),
        "per_group_arguments": sorted(info.per_group_arguments),
        "kept_elsewhere": list(info.kept_elsewhere),
        "own_warmup": [info.own_warmup] if info.own_warmup else [],
    }
    for field_name, arguments in named.items():
        for argument in arguments:
            if argument not in accepted:
                raise ValueError(
                    f"{where}: Expected `{field_name}` to name arguments of `{info.cls.__name__}` but got "
                    f"{argument!r}{did_you_mean(argument, accepted)}; it takes {', '.join(accepted)}."
                )


def unregister(name: str) -> None:
    """Remove a name added with ``register_optimizer`` or ``register_scheduler``."""
    REGISTERED_OPTIMIZERS.pop(name, None)
    REGISTERED_SCHEDULERS.pop(name, None)


#: A name's record, or a function giving it on first use (raising ``ValueError`` where it cannot be built).
Entry = NamedOptimizer | Callable[[], NamedOptimizer]


@dataclass(frozen=True)
class Collection:
    """Optimizers of an installed package, by name under a prefix."""

    package: str
    #: the names it offers, given the imported package
    names: Callable[[Any], Mapping[str, Entry]]
    #: what to install for it, for the error when it is missing
    install: str
    #: the torch release the versions ``install`` admits need ("": any supported torch), for the error when the
    #: package is installed but does not import with an older torch
    needs_torch: str = ""


def _classes(classes: Mapping[str, type]) -> dict[str, Entry]:
    return {name: NamedOptimizer(cls) for name, cls in classes.items()}


#: pytorch_optimizer's optimizers that estimate the Hessian from the gradient's graph
_NEEDS_GRAPH = frozenset({"adahessian", "sophiah"})


def _estimates_hessian(cls: type) -> bool:
    """Whether ``cls`` is, or derives from, one of pytorch_optimizer's ``_NEEDS_GRAPH`` classes: keyed on the
    class, so a declaration by class is checked as its name is.

    Example:
        >>> _estimates_hessian(torch.optim.Adam)
        False
    """
    return any(
        k.__module__.split(".")[0] == "pytorch_optimizer" and k.__name__.lower() in _NEEDS_GRAPH
        for k in cls.__mro__
    )


def _needs_graph(optimizer: torch.optim.Optimizer, module: Any) -> None:
    """Refuse automatic optimization for a ``_NEEDS_GRAPH`` optimizer, whose backward keeps no graph of the
    gradient, when ``fit`` builds it (``describe_optimizers``, without a Trainer, shows it)."""
    if (
        _estimates_hessian(type(optimizer))
        and getattr(module, "automatic_optimization", True)
        and compat.attached_trainer(module) is not None
    ):
        raise ValueError(
            f"`{type(optimizer).__name__}` estimates the Hessian from the gradient's graph: Expected manual "
            "optimization, with `self.manual_backward(loss, create_graph=True)`, but got automatic optimization, "
            "whose backward keeps no graph (torch fails in the first step). Set `automatic_optimization = False` "
            "in `__init__` and write the step (docs/guides/optimizers.md)."
        )


def _pytorch_optimizer(module: Any) -> Mapping[str, Entry]:
    def entry(name: str) -> NamedOptimizer:
        return NamedOptimizer(module.load_optimizer(name))

    return {name: functools.partial(entry, name) for name in module.get_supported_optimizers()}


_SCHEDULEFREE_SHORT = {"adamw": "AdamWScheduleFree", "sgd": "SGDScheduleFree", "radam": "RAdamScheduleFree"}


def _schedulefree(module: Any) -> Mapping[str, Entry]:
    classes = {n.lower(): c for n, c in vars(module).items() if is_optimizer_class(c)}
    return _classes(
        {**classes, **{short: getattr(module, full) for short, full in _SCHEDULEFREE_SHORT.items()}}
    )


COLLECTIONS: Mapping[str, Collection] = {
    "pytorch_optimizer": Collection("pytorch_optimizer", _pytorch_optimizer, "pytorch-optimizer"),
    "schedulefree": Collection("schedulefree", _schedulefree, "schedulefree"),
    "bnb": Collection("bitsandbytes.optim", bnb.names, "lightning-optim[bnb]"),
    # torchao 0.18, the extra's lowest, is built for torch 2.11 (its `__init__` says so; on torch 2.4 it fails
    # to import: no `torch.int1`)
    "torchao": Collection("torchao.optim", torchao.names, "lightning-optim[torchao]", needs_torch="2.11"),
    "transformers": Collection("transformers", transformers_optim.names, "transformers"),
}

_LOADED: dict[str, Mapping[str, Entry]] = {}


def import_failure_hint(collection: Collection) -> str:
    """What to do when ``collection``'s package is installed but does not import with the installed torch.

    Example:
        >>> import_failure_hint(Collection("warp", dict, "lightning-optim[warp]", needs_torch="99.0"))
        "upgrade torch (pip install 'torch>=99.0'): the warp that `pip install lightning-optim[warp]` installs needs torch >= 99.0"
        >>> import_failure_hint(Collection("warp", dict, "warp"))
        'install a version of it built for this torch'
    """
    if collection.needs_torch and not compat.torch_at_least(collection.needs_torch):
        return (
            f"upgrade torch (pip install 'torch>={collection.needs_torch}'): the {collection.package.split('.')[0]} "
            f"that `pip install {collection.install}` installs needs torch >= {collection.needs_torch}"
        )
    return "install a version of it built for this torch"


def collection_names(prefix: str) -> Mapping[str, Entry]:
    """The names of the collection ``prefix``, importing its package on first use."""
    if prefix not in _LOADED:
        collection = COLLECTIONS[prefix]
        try:
            module = importlib.import_module(collection.package)
        except ImportError as error:
            raise ValueError(
                f"Expected the `{collection.package.split('.')[0]}` package for `{prefix}/...` optimizer names but "
                f"it is not installed ({error}); `pip install {collection.install}`."
            ) from None
        except Exception as error:  # installed, but built for another torch (torchao's `torch.int1` on 2.4)
            raise ValueError(
                f"Expected the `{collection.package.split('.')[0]}` package for `{prefix}/...` optimizer names to "
                f"import with torch {torch.__version__} but it failed ({type(error).__name__}: {error}); "
                f"{import_failure_hint(collection)}."
            ) from None
        _LOADED[prefix] = collection.names(module)
    return _LOADED[prefix]


def named_optimizer(name: Any) -> NamedOptimizer | None:
    """The record of a collection name (``"bnb/adamw8bit"``), ``None`` for anything else.

    Raises:
        ValueError: a collection prefix with a name it does not have, or one that cannot be built here.
    """
    if not isinstance(name, str):
        return None
    prefix, slash, rest = name.lower().partition("/")
    if not slash or prefix not in COLLECTIONS:
        return None
    names = collection_names(prefix)
    if rest not in names:
        raise ValueError(
            f"Expected a `{prefix}` optimizer name but got {name!r}{did_you_mean(rest, names)}. "
            f"Its names: {', '.join(sorted(names))}."
        )
    entry = names[rest]
    return entry if isinstance(entry, NamedOptimizer) else entry()


def lookup_optimizer(name: str) -> type | None:
    """The class a registered or collection name means, ``None`` for a name of neither kind.

    Raises:
        ValueError: a collection prefix with a name it does not have, or one that cannot be built here.
    """
    if name in REGISTERED_OPTIMIZERS:
        return REGISTERED_OPTIMIZERS[name].cls
    record = named_optimizer(name)
    return None if record is None else record.cls


def name_arguments(declared: Any, implementation: str = "auto") -> Mapping[str, Any]:
    """The constructor arguments a declared name stands for (``{}`` for a class or a plain name); with an
    explicit ``implementation``, without the ``fused``/``foreach`` the name fixes (the declaration wins).

    Example:
        >>> import torch
        >>> name_arguments("adamw"), name_arguments(torch.optim.AdamW)
        ({}, {})
    """
    record = named_optimizer(declared)
    if record is None:
        return {}
    if implementation == "auto":
        return record.arguments
    return {k: v for k, v in record.arguments.items() if k not in IMPLEMENTATION_ARGUMENTS}


def prepare_optimizer(where: str, declared: Any, optimizer: Any, module: Any) -> None:
    """What the optimizer's record and its declared name do to a built optimizer before it trains, and the
    refusal of a ``_NEEDS_GRAPH`` optimizer in automatic optimization (declared by name or by class)."""
    with prefixed(where):
        prepare = optimizer_info(type(optimizer)).prepare
        if prepare is not None:
            prepare(optimizer)
        _needs_graph(optimizer, module)
        record = named_optimizer(declared)
        if record is not None and record.prepare is not None:
            record.prepare(optimizer, module)
