"""Override a module class's declarations without touching its code: a checked subclass with new specs.

Declarations are frozen class attributes, so an override is a subclass that assigns new ``OptimizerSpec``s
to the same attribute names. Defining it runs every class-definition check on the overridden declarations,
so a bad value from a config fails before anything is instantiated, with the same message as in code.
"""

from __future__ import annotations

import copyreg
import inspect
import json
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, SupportsIndex, TypeVar

from lightning_optim.declaring.specs import OptimizerSpec, ParamGroup, SchedulerSpec
from lightning_optim.tools.config import IN_CODE, resolve_in_code, spec_from_dict, spec_to_dict
from lightning_optim.training.mixin import ConfigurableOptimizersMixin, declared_specs
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import did_you_mean, listing

ModuleT = TypeVar("ModuleT", bound=type)


def declarations(module_or_class: Any) -> dict[str, OptimizerSpec]:
    """The ``OptimizerSpec``s a mixin module (or module class, or ``torch.compile`` of a module) declares, by
    attribute name, in order."""
    module_or_class = compat.compiled_original(module_or_class)
    cls = module_or_class if isinstance(module_or_class, type) else type(module_or_class)
    return declared_specs(cls)


def declared_dicts(cls: type) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """``cls``'s declarations as ``spec_to_dict`` dicts by attribute, and the values in them that a config
    cannot hold (a lambda, a local function, a partial, a tensor) by where they are declared: each written
    ``{in_code: <where>}``, read back as the value in code (``with_declarations``)."""
    in_code: dict[str, Any] = {}

    def written(value: Any, where: str) -> dict[str, str]:
        in_code[where] = value
        return {IN_CODE: where}

    dicts = {
        name: spec_to_dict(spec, where=f"{cls.__qualname__}.{name}", unwritable=written)
        for name, spec in declared_specs(cls).items()
    }
    return dicts, in_code


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
    **overrides: OptimizerSpec | Mapping[str, Any] | None,
) -> ModuleT:
    """``cls`` with some declarations replaced: a checked subclass of the same name (``cls`` if none changes).

    Each override is an ``OptimizerSpec`` or a dict in the ``spec_to_dict`` shape (as read from a config) for
    an attribute ``cls`` declares, or ``None`` to remove that declaration (as a subclass assigning ``None``
    does). In a dict, ``{in_code: <where it is declared>}`` (how ``DeclarativeCLI`` saves a value a config
    cannot hold, such as a lambda) is read as that value in ``cls``'s code. The subclass is checked like any
    declaration, so a mistake fails here with a message naming ``Cls.attribute``. The same overrides give the same
    class while it (or an instance of it) is in use; a function or class in them defined again under its name (a
    notebook cell run again, ``importlib.reload``) gives a new class, holding the new one.

    Defining the subclass runs the bases' ``__init_subclass__`` as for any subclass, under ``cls``'s name and
    without class keywords (Python keeps no record of those ``cls`` was defined with). A registry a base fills
    by ``cls.__name__`` gets the subclass under that name: skip a subclass of the class already registered
    under its name (docs/guides/hparams.md). A class whose bases' ``__init_subclass__`` take class keywords
    (``class Model(Task, task="classification")``) is refused with a ``TypeError``, as each would silently take
    its default: declare that subclass by hand, with the keywords.

    Args:
        cls: a ``ConfigurableOptimizersMixin`` module class.
        allow_callables: functions a dict may name by ``{"callable": path}``, besides those ``cls``'s own
            declarations already use.
        **overrides: the new declarations, by attribute name (``None`` removes one).

    Example:
        >>> import lightning as L
        >>> from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec
        >>> class Model(ConfigurableOptimizersMixin, L.LightningModule):
        ...     optimizer = OptimizerSpec("adam", lr=0.01)
        >>> Tuned = with_declarations(Model, optimizer={"class_path": "adam", "init_args": {"lr": 0.1}})
        >>> Tuned.__name__, Tuned.optimizer, issubclass(Tuned, Model)
        ('Model', OptimizerSpec(Adam, lr=0.1), True)
        >>> class GAN(ConfigurableOptimizersMixin, L.LightningModule):
        ...     gen_opt = OptimizerSpec("adam", params="gen", lr=0.01)
        ...     dis_opt = OptimizerSpec("adam", params="dis", lr=0.02)
        >>> list(declarations(with_declarations(GAN, dis_opt=None)))
        ['gen_opt']
        >>> with_declarations(Model, optimizer={"class_path": "torch.optim.Adam", "init_args": {"lr": -1}})
        Traceback (most recent call last):
        ...
        ValueError: Model.optimizer: `Adam` rejected the declared options: Invalid learning rate: -1
    """
    if not (isinstance(cls, type) and issubclass(cls, ConfigurableOptimizersMixin)):
        raise TypeError(f"Expected a ConfigurableOptimizersMixin module class but got {cls!r}.")
    allowed = [*declared_callables(cls), *allow_callables]
    declared = declared_specs(cls)
    for name in overrides:
        if name not in declared:  # of ``cls`` itself: an override may have removed one its base declares
            raise ValueError(
                f"{cls.__qualname__}.{name}: Expected the name of a declared optimizer ({listing(declared)}) but "
                f"got {name!r}{did_you_mean(name, declared)}."
            )
    if _made(cls):  # overriding an override: one subclass of the declared class, as if at once
        base, earlier = vars(cls)[_OVERRIDES]
        return with_declarations(base, allow_callables=allowed, **{**earlier, **overrides})
    replaced: dict[str, OptimizerSpec | None] = {}
    for name, override in overrides.items():
        where = f"{cls.__qualname__}.{name}"
        spec: OptimizerSpec | None
        if isinstance(override, Mapping):
            override = resolve_in_code(override, lambda: declared_dicts(cls)[1], where)
            spec = spec_from_dict(override, OptimizerSpec, allow_callables=allowed, where=where)
        elif isinstance(override, OptimizerSpec) or override is None:
            spec = override
        else:
            raise TypeError(
                f"{where}: Expected an OptimizerSpec, a dict or None (to remove it) but got {override!r}."
            )
        if spec is not None and _same(spec, declared[name]):
            continue
        replaced[name] = spec
    if not replaced:
        return cls
    _refuse_class_keywords(cls, next(iter(replaced)))
    key = _cache_key(cls, replaced)
    made = _made_for(key)
    if made is not None:
        return made  # type: ignore[return-value]
    namespace = {
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
        "__reduce_ex__": _reduce_ex,
        _OVERRIDES: (cls, replaced),
    }
    # a module class with a metaclass of its own keeps it (its overridden classes are then not picklable)
    metaclass: Any = _OverriddenType if type(cls) is type else type(cls)
    subclass: Any = metaclass(cls.__name__, (cls,), {**namespace, **replaced})
    if key is not None:
        _SUBCLASSES[key] = subclass
    return subclass


def _class_keywords(cls: type) -> tuple[type, list[str]] | None:
    """The first class of ``cls``'s MRO whose own ``__init_subclass__`` takes named class keywords, and their
    names (``*args``/``**kwargs`` only pass keywords on).

    >>> class Task:
    ...     def __init_subclass__(cls, *, task="regression", **kwargs): ...
    >>> class Model(Task, task="classification"): ...
    >>> class Passes:
    ...     def __init_subclass__(cls, **kwargs): ...
    >>> _class_keywords(Model), _class_keywords(Passes)
    ((<class '...Task'>, ['task']), None)
    """
    for base in cls.__mro__[:-1]:  # object's takes none
        hook = vars(base).get("__init_subclass__")
        if hook is None:
            continue
        try:
            parameters = list(inspect.signature(getattr(hook, "__func__", hook)).parameters.values())[1:]
        except (TypeError, ValueError):  # one without a Python signature
            continue
        named = [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if named:
            return base, named
    return None


def _refuse_class_keywords(cls: type, attribute: str) -> None:
    # Python keeps no record of the keywords a class was defined with, and the subclass made here is defined
    # without any: each would take its default (a required one fails with the user's own TypeError).
    found = _class_keywords(cls)
    if found is None:
        return
    base, named = found
    raise TypeError(
        f"{cls.__qualname__}: Expected a class whose `__init_subclass__` methods take no class keywords, as "
        "`with_declarations` defines its subclass without any (Python keeps no record of the keywords a class "
        f"was defined with), but got `{base.__qualname__}.__init_subclass__` taking {listing(named)}: "
        f"{'it' if len(named) == 1 else 'each'} would get its default instead (or fail, if required). Declare the "
        f"subclass by hand, with the keywords `{cls.__name__}` is defined with: "
        f"`class Tuned({cls.__name__}, {named[0]}=...): "
        f"{attribute} = OptimizerSpec(...)`."
    )


#: The subclasses made and still in use (by an instance, or held by name), by declared class and overrides
#: written as dicts: the same overrides give the same class, so a pickled instance or class loads as its own
#: class within a process (a deep copy always does). Weak, so that a sweep's classes (and a notebook class
#: defined again, with what its body holds) are freed once nothing uses them.
_SUBCLASSES: weakref.WeakValueDictionary[tuple[type, str], type] = weakref.WeakValueDictionary()


def _cache_key(cls: type, replaced: Mapping[str, OptimizerSpec | None]) -> tuple[type, str] | None:
    try:
        written = {name: None if spec is None else spec_to_dict(spec) for name, spec in replaced.items()}
        return cls, json.dumps(written, sort_keys=True)
    except (TypeError, ValueError):
        return None  # e.g. a lambda: not written as a dict, so never made again from one


def _made_for(key: tuple[type, str] | None) -> type | None:
    """The subclass made for ``key``, if its overrides still write as ``key``.

    A dict names a function or class by its import path, and only the object now at that path is written so
    (``function_path``, ``class_path``): once a notebook cell or ``importlib.reload`` defines it again, the
    class made with the old object writes otherwise (or not at all) and a new class is made with the new one.
    """
    made = None if key is None else _SUBCLASSES.get(key)
    if made is None or _cache_key(*vars(made)[_OVERRIDES]) != key:
        return None
    return made


_OVERRIDES = "_lightning_optim_overrides"


def _made(cls: type) -> bool:
    """Whether ``with_declarations`` made ``cls`` itself: a subclass of such a class (a user's, importable by
    its own name) inherits its metaclass and ``__reduce_ex__``, not this reduction.

    >>> import lightning as L
    >>> class Model(ConfigurableOptimizersMixin, L.LightningModule):
    ...     optimizer = OptimizerSpec("sgd", lr=0.1)
    >>> Tuned = with_declarations(Model, optimizer=OptimizerSpec("sgd", lr=0.2))
    >>> class Experiment(Tuned): ...
    >>> _made(Tuned), _made(Experiment), _made(Model)
    (True, False, False)
    """
    return _OVERRIDES in vars(cls)


def _reduce_ex(self: Any, protocol: SupportsIndex) -> Any:
    # The subclass is not importable by its name (that is the declared class), so an instance is reduced with
    # its class as a `_DeclaredClass`: itself to `copy.deepcopy`, and pickled as the `with_declarations` call
    # that makes it.
    cls = type(self)
    if not _made(cls):  # a subclass of a made class: reduced as if the made class defined no __reduce_ex__
        made: type[Any] = next(base for base in cls.__mro__ if _made(base))
        return super(made, self).__reduce_ex__(protocol)
    reduced: Any = object.__reduce_ex__(self, protocol)
    return (_new_overridden, (_DeclaredClass(cls),), *reduced[2:])


class _OverriddenType(type):
    """The class of the subclasses ``with_declarations`` makes, so that the subclass itself pickles.

    ``ddp_spawn`` pickles the class too (``DeclarativeCLI`` holds it), and pickle finds a class by its name,
    which here is the declared class's: the subclass is pickled as the ``with_declarations`` call that makes it.
    A class derived from it in code inherits this metaclass but has a name of its own, so it is pickled by that
    name, as any class.
    """


class _DeclaredClass:
    """A ``with_declarations`` class, in its instances' reduction. ``copy.deepcopy`` keeps it (a class copies as
    itself), so a copy has the same class, whatever the overrides hold; ``pickle`` writes the declared class and
    the override specs themselves (not as config dicts, which a lambda, a partial or a local class could not
    be), so the subclass is made again from them, in another process too, whenever pickle can write them (a
    class with a metaclass of its own included, which cannot be pickled itself)."""

    def __init__(self, cls: Any) -> None:
        self.cls = cls

    def __deepcopy__(self, memo: dict[int, Any]) -> _DeclaredClass:
        return self

    def __reduce__(self) -> Any:
        return _declared_class, vars(self.cls)[_OVERRIDES]


def _overridden_class(base: type, specs: dict[str, OptimizerSpec | None]) -> Any:
    # ``allow_callables`` given, so that mypy does not take a spec or ``None`` in ``specs`` for it
    return with_declarations(base, allow_callables=(), **specs)


def _declared_class(base: type, specs: dict[str, OptimizerSpec | None]) -> _DeclaredClass:
    return _DeclaredClass(_overridden_class(base, specs))


def _new_overridden(declared: _DeclaredClass) -> Any:
    return declared.cls.__new__(declared.cls)


def _reduce_class(cls: Any) -> Any:
    if not _made(cls):
        return cls.__qualname__  # pickled by reference, as pickle writes any class
    return _overridden_class, vars(cls)[_OVERRIDES]


copyreg.pickle(_OverriddenType, _reduce_class)


def _same(spec: OptimizerSpec, declared: OptimizerSpec) -> bool:
    if spec == declared:
        return True
    try:
        # a value a config cannot hold (a lambda, a tensor) is the same only as itself
        return spec_to_dict(spec, unwritable=_identity) == spec_to_dict(declared, unwritable=_identity)
    except (TypeError, ValueError):
        return False


def _identity(value: Any, where: str) -> tuple[str, int]:
    return ("the value itself", id(value))
