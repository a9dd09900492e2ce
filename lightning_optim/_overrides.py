"""Override a module class's declarations without touching its code: a checked subclass with new specs.

Declarations are frozen class attributes, so an override is a subclass that assigns new ``OptimizerSpec``s
to the same attribute names. Defining it runs every class-definition check on the overridden declarations,
so a bad value from a config fails before anything is instantiated, with the same message as in code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from lightning_optim._config import spec_from_dict, spec_to_dict
from lightning_optim._errors import did_you_mean, listing
from lightning_optim._mixin import ConfigurableOptimizersMixin, declared_specs
from lightning_optim._specs import OptimizerSpec, ParamGroup, SchedulerSpec

ModuleT = TypeVar("ModuleT", bound=type)


def declarations(module_or_class: Any) -> dict[str, OptimizerSpec]:
    """The ``OptimizerSpec``s a mixin module (or module class) declares, by attribute name, in order."""
    cls = module_or_class if isinstance(module_or_class, type) else type(module_or_class)
    return declared_specs(cls)


def declared_callables(cls: type) -> list[Callable[..., Any]]:
    """Every module-level function used in ``cls``'s declarations (selectors, ``lr_lambda``...).

    A config may name these (they are what the code already runs); lambdas and local functions are left
    out, as they cannot be named by a config anyway.
    """
    found: list[Callable[..., Any]] = []

    def visit(value: Any) -> None:
        if isinstance(value, OptimizerSpec):
            visit(value.params)
            visit(value.kwargs)
            visit(value.groups)
            visit(value.scheduler)
        elif isinstance(value, SchedulerSpec):
            visit(value.kwargs)
        elif isinstance(value, ParamGroup):
            visit(value.select)
            visit(value.options)
        elif isinstance(value, Mapping):
            for item in value.values():
                visit(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)
        elif callable(value) and not isinstance(value, type):
            qualname = getattr(value, "__qualname__", "")
            if isinstance(qualname, str) and qualname.isidentifier():
                found.append(value)

    for spec in declared_specs(cls).values():
        visit(spec)
    return found


def with_declarations(
    cls: ModuleT,
    /,
    *,
    allow_callables: Iterable[Callable[..., Any] | str] = (),
    **overrides: OptimizerSpec | Mapping[str, Any],
) -> ModuleT:
    """``cls`` with some declarations replaced: a checked subclass of the same name (``cls`` if none changes).

    Each override is an ``OptimizerSpec`` or a dict in the ``spec_to_dict`` shape (as read from a config) for
    an attribute ``cls`` declares. The subclass is checked like any declaration, so a mistake fails here with
    a message naming ``Cls.attribute``.

    Args:
        cls: a ``ConfigurableOptimizersMixin`` module class.
        allow_callables: functions a dict may name by ``{"callable": path}``, besides those ``cls``'s own
            declarations already use.
        **overrides: the new declarations, by attribute name.

    Example:
        >>> import lightning as L
        >>> from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec
        >>> class Model(ConfigurableOptimizersMixin, L.LightningModule):
        ...     optimizer = OptimizerSpec("adam", lr=0.01)
        >>> Tuned = with_declarations(Model, optimizer={"class_path": "adam", "init_args": {"lr": 0.1}})
        >>> Tuned.__name__, Tuned.optimizer, issubclass(Tuned, Model)
        ('Model', OptimizerSpec(Adam, lr=0.1), True)
        >>> with_declarations(Model, optimizer={"class_path": "torch.optim.Adam", "init_args": {"lr": -1}})
        Traceback (most recent call last):
        ...
        ValueError: Model.optimizer: `Adam` rejected the declared options: Invalid learning rate: -1
    """
    if not (isinstance(cls, type) and issubclass(cls, ConfigurableOptimizersMixin)):
        raise TypeError(f"Expected a ConfigurableOptimizersMixin module class but got {cls!r}.")
    declared = declared_specs(cls)
    allowed = [*declared_callables(cls), *allow_callables]
    replaced: dict[str, OptimizerSpec] = {}
    for name, override in overrides.items():
        where = f"{cls.__qualname__}.{name}"
        if name not in declared:
            raise ValueError(
                f"{where}: Expected the name of a declared optimizer ({listing(declared)}) but got {name!r}"
                f"{did_you_mean(name, declared)}."
            )
        if isinstance(override, Mapping):
            spec = spec_from_dict(override, OptimizerSpec, allow_callables=allowed, where=where)
        elif isinstance(override, OptimizerSpec):
            spec = override
        else:
            raise TypeError(f"{where}: Expected an OptimizerSpec or a dict but got {override!r}.")
        if _same(spec, declared[name]):
            continue
        replaced[name] = spec
    if not replaced:
        return cls
    namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__}
    subclass: Any = type(cls.__name__, (cls,), {**namespace, **replaced})
    return subclass


def _same(spec: OptimizerSpec, declared: OptimizerSpec) -> bool:
    if spec == declared:
        return True
    try:
        return spec_to_dict(spec) == spec_to_dict(declared)
    except (TypeError, ValueError):
        return False
