"""Declarations as plain dicts in LightningCLI's ``class_path``/``init_args`` shape, and back.

An ``OptimizerSpec`` or ``SchedulerSpec`` becomes ``{"class_path": ..., "init_args": {...}, <options>}``: the
class's own arguments go under ``init_args`` and the spec's options (``params``, ``groups``, ``scheduler``,
``interval``, ``warmup``, ...) sit next to ``class_path``; options left at their default are omitted. A
``ParamGroup`` becomes ``{"select": ..., <group options>}``, like a torch param-group dict. The options are
read from each spec's signature, so an option added to a spec needs no change here.

An ``HParam`` is written as ``{"hparam": "lr"}`` (``{"hparam": "lr", "default": 0.01}`` with a default).
A function (a callable selector, a ``LambdaLR`` ``lr_lambda``) is written as ``{"callable": "pkg.mod.fn"}``;
only module-level functions have such a path, so a lambda is an error. Reading one back imports and calls
code named by the config, so ``spec_from_dict`` only accepts functions it is explicitly allowed to.
A value of a module class's declarations that a config cannot hold (a lambda, a tensor) is written by
``DeclarativeCLI`` as ``{"in_code": <where it is declared>}``; ``with_declarations`` reads it back as the value
in that class's code (``resolve_in_code``).

A string YAML 1.1 leaves unread as a number (``lr: 1e-3``, which PyYAML's ``safe_load`` reads as ``"1e-3"``)
is read as the number, as YAML 1.2, ``jsonargparse`` and so ``DeclarativeCLI`` read it (``read_number``).

Once ``jsonargparse`` is imported (``LightningCLI``), the three specs are registered with it as types in this
shape (``register_jsonargparse_types``), so a spec annotated as a module's ``__init__`` argument is read from a
config or the command line and written back by ``--print_config`` like any value.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar, Union

from lightning_optim.declaring.arguments import accepted_arguments
from lightning_optim.declaring.hparam import HParam
from lightning_optim.declaring.specs import OptimizerSpec, ParamGroup, SchedulerSpec, spec_options
from lightning_optim.registry.external import named_optimizer
from lightning_optim.registry.lookup import Kind, import_dotted, resolve_class
from lightning_optim.registry.schedulers import declared_info, is_scheduler_class, scheduler_info
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import did_you_mean, listing, near_miss, prefixed

CLASS_PATH = "class_path"
INIT_ARGS = "init_args"
CALLABLE = "callable"
HPARAM = "hparam"
DEFAULT = "default"
SELECT = "select"

#: The key a value a config cannot hold is written under (``{in_code: Model.optimizer.init_args.lr}``): the value
#: in the declared class's code, which only the code sets.
IN_CODE = "in_code"

#: A number PyYAML's YAML 1.1 reads as a string (``1e-3``: no dot in its mantissa), which YAML 1.2 and
#: jsonargparse read as a number.
_YAML11_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")

Spec = Union[OptimizerSpec, SchedulerSpec, ParamGroup]  # noqa: UP007 (a runtime alias, Python 3.10)
SpecT = TypeVar("SpecT", OptimizerSpec, SchedulerSpec, ParamGroup)

#: Public modules a torch class is written under, instead of its defining submodule (``torch.optim.adam``).
_PUBLIC_MODULES = ("torch.optim", "torch.optim.lr_scheduler")

KINDS: Mapping[type, Kind] = MappingProxyType({OptimizerSpec: "optimizer", SchedulerSpec: "scheduler"})


def _is_default(value: Any, default: Any) -> bool:
    if isinstance(default, tuple) and isinstance(value, (tuple, list)):
        return tuple(value) == default
    return type(value) is type(default) and value == default


def class_path(cls: type) -> str:
    """The import path a config names ``cls`` by: ``torch.optim.Adam`` rather than ``torch.optim.adam.Adam``.

    Example:
        >>> from torch.optim import AdamW, lr_scheduler
        >>> class_path(AdamW), class_path(lr_scheduler.StepLR)
        ('torch.optim.AdamW', 'torch.optim.lr_scheduler.StepLR')
    """
    for module in _PUBLIC_MODULES:
        if getattr(sys.modules[module], cls.__name__, None) is cls:
            return f"{module}.{cls.__name__}"
    path = f"{cls.__module__}.{cls.__qualname__}"
    if "<" in cls.__qualname__ or getattr(sys.modules.get(cls.__module__), cls.__qualname__, None) is not cls:
        raise TypeError(
            f"Expected a class importable by its path to write it to a config but got `{path}`; "
            "define it at module level."
        )
    return path


def function_path(function: Callable[..., Any], where: str) -> str:
    """The import path of a module-level function; a lambda, a local function or a partial is an error."""
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    if (
        isinstance(module, str)
        and isinstance(qualname, str)
        and qualname.isidentifier()
        and getattr(sys.modules.get(module), qualname, None) is function
    ):
        return f"{module}.{qualname}"
    raise TypeError(
        f"{where}: Expected a module-level function (written to a config by its import path) but got "
        f"{function!r}; a lambda, a local function or a partial cannot be written to a config. "
        "Define the function at module level."
    )


#: What ``to_plain`` writes in place of a value a config cannot hold, from the value and where it is
Unwritable = Callable[[Any, str], Any]


def to_plain(value: Any, where: str, unwritable: Unwritable | None = None) -> Any:
    """A declared value as plain data: scalars, lists, str-keyed dicts, specs, ``{"callable": path}`` and
    ``{"hparam": name}``.

    A value a config cannot hold (a lambda, a local function, a partial, a tensor) is an error, or, given
    ``unwritable``, written as ``unwritable(value, where)``.

    Example:
        >>> to_plain(HParam("weight_decay", default=0.01), "Model.optimizer.weight_decay")
        {'hparam': 'weight_decay', 'default': 0.01}
        >>> to_plain({"lr_lambda": lambda step: 1.0}, "Model.scheduler", lambda value, where: f"<{where}>")
        {'lr_lambda': '<Model.scheduler.lr_lambda>'}
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (OptimizerSpec, SchedulerSpec, ParamGroup)):
        return spec_to_dict(value, where=where, unwritable=unwritable)
    if isinstance(value, HParam):
        written = {HPARAM: value.name}
        if value.has_default:
            written[DEFAULT] = to_plain(value.default, f"{where}.{DEFAULT}", unwritable)
        return written
    if isinstance(value, (list, tuple)):
        return [to_plain(item, f"{where}[{index}]", unwritable) for index, item in enumerate(value)]
    try:
        if isinstance(value, Mapping):
            plain: dict[str, Any] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TypeError(
                        f"{where}: Expected str keys to write a dict to a config but got {key!r}."
                    )
                plain[key] = to_plain(item, f"{where}.{key}", unwritable)
            return plain
        if callable(value) and not inspect.isclass(value):
            return {CALLABLE: function_path(value, where)}
        raise TypeError(
            f"{where}: Expected a value a config can hold (None, bool, int, float, str, a list or dict of "
            f"these, a declaration or a module-level function) but got {value!r}."
        )
    except TypeError:
        if unwritable is None:
            raise
        return unwritable(value, where)


def spec_to_dict(
    spec: Spec, *, where: str | None = None, unwritable: Unwritable | None = None
) -> dict[str, Any]:
    """A declaration as a plain dict in LightningCLI's ``class_path``/``init_args`` shape.

    Options left at their default are omitted; a class given by name is written by its full import path.

    Raises:
        TypeError: a value a config cannot hold, e.g. a lambda (the message names where it is), unless
            ``unwritable`` writes it (``to_plain``).

    Example:
        >>> from torch.optim import Adam
        >>> from torch.optim.lr_scheduler import ExponentialLR
        >>> spec = OptimizerSpec(Adam, params="model_gen", lr=0.01,
        ...                      scheduler=SchedulerSpec(ExponentialLR, gamma=0.99, interval="step"))
        >>> spec_to_dict(spec)  # doctest: +NORMALIZE_WHITESPACE
        {'class_path': 'torch.optim.Adam', 'init_args': {'lr': 0.01}, 'params': 'model_gen',
         'scheduler': {'class_path': 'torch.optim.lr_scheduler.ExponentialLR', 'init_args': {'gamma': 0.99},
                       'interval': 'step'}}
        >>> spec_to_dict(ParamGroup("*.bias", weight_decay=0.0))
        {'select': '*.bias', 'weight_decay': 0.0}
    """
    kind = type(spec)
    where = where or kind.__name__
    data: dict[str, Any]
    if isinstance(spec, ParamGroup):
        data = {SELECT: to_plain(spec.select, f"{where}.select", unwritable)}
        data.update(to_plain(spec.options, where, unwritable))
    elif isinstance(spec, (OptimizerSpec, SchedulerSpec)):
        declared = spec.optimizer if isinstance(spec, OptimizerSpec) else spec.scheduler
        cls = resolve_class(declared, KINDS[kind], where=where)
        with prefixed(where):
            path = declared if _names_more_than_its_class(declared, cls) else class_path(cls)
        data = {CLASS_PATH: path, INIT_ARGS: to_plain(spec.kwargs, f"{where}.{INIT_ARGS}", unwritable)}
    else:
        raise TypeError(f"Expected an OptimizerSpec, SchedulerSpec or ParamGroup but got {spec!r}.")
    for option, default in spec_options(kind).items():
        value = getattr(spec, option)
        if not _is_default(value, default):
            data[option] = to_plain(value, f"{where}.{option}", unwritable)
    return data


def _names_more_than_its_class(declared: Any, cls: type) -> bool:
    """Whether ``declared`` is a name standing for more than its class ``cls``: transformers' optimizer names
    stand for arguments (``"transformers/adafactor"``: ``relative_step=False``, ...) and a step after building
    (32-bit state for embeddings under ``"transformers/adamw_bnb_8bit"``); a scheduler name given to
    ``register_scheduler`` for a class with a record of its own stands for its record (``StepLR`` stepped per
    step). Such a name is written to a config as the name and read back as the name; any other name is written
    as its class's import path and read back as the class, which means the same.

    Raises:
        ValueError: a collection name it does not have, or one that cannot be built here.
    """
    if not isinstance(declared, str):
        return False
    if is_scheduler_class(cls):
        return declared_info(declared, cls) is not scheduler_info(cls)
    named = named_optimizer(declared)
    return named is not None and bool(named.arguments or named.prepare)


def _removes_scheduler(value: Any) -> bool:
    """Whether an ``OptimizerSpec``'s ``scheduler`` value is ``{"class_path": None, ...}``: no scheduler, as
    a ``DeclarativeCLI`` writes a removed scheduler (with the keys it had) to the config it saves."""
    return isinstance(value, Mapping) and CLASS_PATH in value and value[CLASS_PATH] is None


def _allowed_functions(allow: Iterable[Callable[..., Any] | str]) -> dict[str, Callable[..., Any] | None]:
    allowed: dict[str, Callable[..., Any] | None] = {}
    for item in allow:
        if isinstance(item, str):
            allowed[item] = None
        else:
            allowed[function_path(item, "allow_callables")] = item
    return allowed


def _function_from_path(path: Any, where: str, allowed: Mapping[str, Callable[..., Any] | None]) -> Any:
    if not isinstance(path, str):
        raise TypeError(f"{where}: Expected `{CALLABLE}` to be an import path (str) but got {path!r}.")
    if path not in allowed:
        shown = listing(sorted(allowed)) if allowed else "none"
        raise ValueError(
            f"{where}: Expected `{CALLABLE}` to be one of the allowed functions ({shown}) but got {path!r}"
            f"{did_you_mean(path, allowed)}. A config can only name functions the code allows "
            "(`allow_callables=`), because calling a function named by a config runs arbitrary code."
        )
    function = allowed[path]
    if function is None:
        try:
            function = import_dotted(path)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        if not callable(function) or inspect.isclass(function):
            raise TypeError(f"{where}: Expected `{path}` to be a function but got {function!r}.")
    return function


def read_number(value: Any) -> Any:
    """``value``, or the number it spells when it is a string that YAML 1.1 leaves unread as one (PyYAML's
    ``safe_load`` reads ``lr: 1e-3`` as ``"1e-3"``), read as YAML 1.2 and ``jsonargparse`` read it.

    Example:
        >>> read_number("1e-3"), read_number("-2E+5"), read_number("1e"), read_number("cosine"), read_number(3)
        (0.001, -200000.0, '1e', 'cosine', 3)
    """
    if isinstance(value, str) and _YAML11_NUMBER.fullmatch(value.strip()):
        return float(value)
    return value


def resolve_in_code(data: Any, in_code: Callable[[], Mapping[str, Any]], where: str) -> Any:
    """``data`` with each ``{in_code: <where it is declared>}`` replaced by that value in code.

    ``in_code()`` gives the values in code by where they are declared; it is called only when ``data`` holds
    such a reference (making it writes every declaration of the class to a dict).

    Raises:
        ValueError: a reference to no value declared in code (with a "did you mean").

    Example:
        >>> values = {"M.opt.init_args.lr": 0.5}
        >>> resolve_in_code({"init_args": {"lr": {"in_code": "M.opt.init_args.lr"}}}, lambda: values, "M.opt")
        {'init_args': {'lr': 0.5}}
        >>> resolve_in_code({"lr": {"in_code": "M.opt.init_args.Lr"}}, lambda: values, "M.opt.init_args")
        Traceback (most recent call last):
        ...
        ValueError: M.opt.init_args.lr: Expected `in_code` to name a value declared in code (`M.opt.init_args.lr`) ...
    """
    if isinstance(data, Mapping):
        if IN_CODE not in data:
            return {key: resolve_in_code(item, in_code, f"{where}.{key}") for key, item in data.items()}
        values, declared = in_code(), data[IN_CODE]
        if set(data) != {IN_CODE} or not isinstance(declared, str) or declared not in values:
            raise ValueError(
                f"{where}: Expected `{IN_CODE}` to name a value declared in code "
                f"({listing(sorted(values)) or 'none'}) but got {dict(data)!r}{did_you_mean(str(declared), values)}."
            )
        return values[declared]
    if isinstance(data, list):
        return [resolve_in_code(item, in_code, f"{where}[{index}]") for index, item in enumerate(data)]
    return data


def from_plain(value: Any, where: str, allowed: Mapping[str, Callable[..., Any] | None]) -> Any:
    """Undo ``to_plain`` for values: ``{"callable": path}`` becomes the allowed function, ``{"hparam": name}``
    an ``HParam``, a number YAML 1.1 left a string (``"1e-3"``) the number."""
    if isinstance(value, Mapping):
        if IN_CODE in value:
            raise ValueError(
                f"{where}: Expected a value but got {dict(value)!r}, which stands for a value in a module "
                f"class's code: read it with `with_declarations(<the module class>, ...)`, which puts it back."
            )
        if set(value) == {CALLABLE}:
            return _function_from_path(value[CALLABLE], where, allowed)
        if HPARAM in value and not set(value) <= {HPARAM, DEFAULT}:
            unknown = next(str(key) for key in value if key not in (HPARAM, DEFAULT))
            raise ValueError(
                f"{where}: Expected the keys of an HParam config to be `{HPARAM}` and `{DEFAULT}` but got "
                f"{unknown!r}{did_you_mean(unknown, [HPARAM, DEFAULT])}."
            )
        if set(value) in ({HPARAM}, {HPARAM, DEFAULT}):
            with prefixed(where):
                if DEFAULT not in value:
                    return HParam(value[HPARAM])
                return HParam(
                    value[HPARAM], default=from_plain(value[DEFAULT], f"{where}.{DEFAULT}", allowed)
                )
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"{where}: Expected str keys but got {key!r}.")
        return {key: from_plain(item, f"{where}.{key}", allowed) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [from_plain(item, f"{where}[{index}]", allowed) for index, item in enumerate(value)]
    return read_number(value)


def _check_keys(where: str, kind: type, data: Mapping[str, Any], accepted: list[str], hint: str) -> None:
    for key in data:
        if key not in accepted:
            raise ValueError(
                f"{where}: Expected the keys of a {kind.__name__} config to be among {listing(accepted)} "
                f"but got {key!r}{did_you_mean(str(key), accepted)}.{hint}"
            )


def spec_from_dict(
    data: Mapping[str, Any],
    kind: type[SpecT] = OptimizerSpec,  # type: ignore[assignment]
    *,
    allow_callables: Iterable[Callable[..., Any] | str] = (),
    where: str | None = None,
) -> SpecT:
    """Read a declaration written by ``spec_to_dict`` (or by hand, or from a YAML config).

    ``class_path`` is resolved at once and must name an ``Optimizer`` subclass (for an ``OptimizerSpec``) or
    an ``LRScheduler`` subclass / ``ReduceLROnPlateau`` (for a ``SchedulerSpec``): a registered name
    (``"adamw"``, ``"cosine"``) or a dotted import path. Anything else is rejected before anything is built.
    A name is read back as its class, except a name standing for more than its class (transformers'
    ``"transformers/adafactor"`` stands for arguments, ``"transformers/adamw_bnb_8bit"`` also for 32-bit state
    for embeddings): that one is kept, as ``spec_to_dict`` writes it, so that it builds what was declared.
    A string YAML 1.1 leaves unread as a number (``lr: 1e-3`` after ``yaml.safe_load``) is read as the number,
    as ``DeclarativeCLI`` reads it. ``scheduler: {"class_path": None, ...}`` means no scheduler
    (``DeclarativeCLI`` saves a removed scheduler so, with the values it had); ``spec_to_dict`` leaves
    ``scheduler`` out.
    The values themselves are checked, as for any declaration, when the spec is assigned to a module class.

    Args:
        data: the dict.
        kind: ``OptimizerSpec``, ``SchedulerSpec`` or ``ParamGroup``.
        allow_callables: the functions (or their import paths) a ``{"callable": path}`` value may name.
        where: what to call the dict in messages (default: the kind's name).

    Raises:
        ValueError: an unknown key (with a "did you mean"), an unknown name, a function not allowed.
        TypeError: a value of the wrong type, a class path that is not an optimizer/scheduler class.

    Example:
        >>> spec_from_dict({"class_path": "torch.optim.SGD", "init_args": {"lr": 0.1},
        ...                 "groups": [{"select": "layer1", "lr": 0.5}]})
        OptimizerSpec(SGD, groups=[ParamGroup('layer1', lr=0.5)], lr=0.1)
        >>> spec_from_dict({"class_path": "os.system"})
        Traceback (most recent call last):
        ...
        TypeError: OptimizerSpec: Expected `os.system` to resolve to a torch.optim.Optimizer subclass ...
    """
    return _from_dict(data, kind, _allowed_functions(allow_callables), where or kind.__name__)


def _from_dict(
    data: Any, kind: type[SpecT], allowed: Mapping[str, Callable[..., Any] | None], where: str
) -> SpecT:
    if not isinstance(data, Mapping):
        raise TypeError(f"{where}: Expected a dict but got {data!r}.")
    options: dict[str, Any] = spec_options(kind)
    if kind is ParamGroup:
        if SELECT not in data:
            raise ValueError(
                f"{where}: Expected a `{SELECT}` key (the parameters the group takes) but got {dict(data)!r}"
                f"{near_miss(data, SELECT)}."
            )
        rest = {
            key: from_plain(value, f"{where}.{key}", allowed) for key, value in data.items() if key != SELECT
        }
        return ParamGroup(from_plain(data[SELECT], f"{where}.{SELECT}", allowed), **rest)  # type: ignore[return-value]
    if kind not in KINDS:
        raise TypeError(f"Expected `kind` to be OptimizerSpec, SchedulerSpec or ParamGroup but got {kind!r}.")
    name = KINDS[kind]
    hint = (
        f" The {name}'s own arguments go under `{INIT_ARGS}`." if any(k not in options for k in data) else ""
    )
    _check_keys(where, kind, data, [CLASS_PATH, INIT_ARGS, *options], hint)
    if CLASS_PATH not in data:
        raise ValueError(
            f"{where}: Expected a `{CLASS_PATH}` key (the {name} class) but got {dict(data)!r}"
            f"{near_miss(data, CLASS_PATH)}."
        )
    path = data[CLASS_PATH]
    cls = resolve_class(path, name, where=where)
    init_args = data.get(INIT_ARGS)
    if init_args is None:
        init_args = {}
    if not isinstance(init_args, Mapping):
        raise TypeError(
            f"{where}: Expected `{INIT_ARGS}` to be a dict of {cls.__name__} arguments but got {init_args!r}."
        )
    # an argument named like an option is the class's when the class takes it (`kwargs=` in code)
    misplaced = [key for key in init_args if key in options and key not in accepted_arguments(cls)[0]]
    if misplaced:
        one = len(misplaced) == 1
        raise ValueError(
            f"{where}: Expected {listing(misplaced)} next to `{CLASS_PATH}` but got {'it' if one else 'them'} under "
            f"`{INIT_ARGS}`: {'it is an option' if one else 'they are options'} of the {kind.__name__}, not "
            f"{'an argument' if one else 'arguments'} of `{cls.__name__}`."
        )
    kwargs = from_plain(init_args, f"{where}.{INIT_ARGS}", allowed)
    if kind is SchedulerSpec and isinstance(kwargs.get("schedulers"), list):
        kwargs["schedulers"] = [
            _from_dict(item, SchedulerSpec, allowed, f"{where}.{INIT_ARGS}.schedulers[{i}]")
            if isinstance(item, Mapping) and CLASS_PATH in item
            else item
            for i, item in enumerate(kwargs["schedulers"])
        ]
    values: dict[str, Any] = {}
    for option in options:
        if option not in data:
            continue
        value, option_where = data[option], f"{where}.{option}"
        if option == "scheduler" and isinstance(value, (list, tuple)):
            values[option] = [
                _from_dict(item, SchedulerSpec, allowed, f"{option_where}[{index}]")
                for index, item in enumerate(value)
            ]
        elif option == "scheduler" and _removes_scheduler(value):
            # no scheduler: the class it named is gone, so the values left with it are not read (the canonical
            # form, which `spec_to_dict` writes, leaves `scheduler` out)
            accepted: list[str] = [CLASS_PATH, INIT_ARGS, *spec_options(SchedulerSpec)]
            _check_keys(option_where, SchedulerSpec, value, accepted, "")
        elif option == "scheduler" and value is not None:
            values[option] = _from_dict(value, SchedulerSpec, allowed, option_where)
        elif option == "groups" and value is not None:
            if not isinstance(value, (list, tuple)):
                raise TypeError(f"{option_where}: Expected a list of param group dicts but got {value!r}.")
            values[option] = [
                _from_dict(group, ParamGroup, allowed, f"{option_where}[{index}]")
                for index, group in enumerate(value)
            ]
        else:
            values[option] = from_plain(value, option_where, allowed)
    with prefixed(where):
        # a name standing for more than its class is kept, as `spec_to_dict` writes it
        declared = path if _names_more_than_its_class(path, cls) else cls
    return kind(declared, **values, kwargs=kwargs)


def _converted_spec(value: Any) -> type | None:
    """The spec class of jsonargparse's conversion of a spec (``{"class_path": "lightning_optim.SchedulerSpec",
    ...}``), or ``None``."""
    path = value.get(CLASS_PATH) if isinstance(value, Mapping) else None
    if not isinstance(path, str) or not path.startswith("lightning_optim."):
        return None
    try:
        found = import_dotted(path)
    except ValueError:
        return None
    return found if found in (OptimizerSpec, SchedulerSpec, ParamGroup) else None


def _from_jsonargparse(value: Any, kind: type) -> Any:
    """A spec from a value jsonargparse parsed for an argument annotated ``kind``: a ``spec_to_dict`` dict, or
    jsonargparse's own conversion of a spec default (a dataclass, converted by its fields:
    ``{"class_path": <the spec class>, "init_args": {<field>: <value>}}``, a nested spec alike). A config may
    name no function here (``allow_callables``): declare those on the class."""
    cls = _converted_spec(value)
    if cls is None:
        return spec_from_dict(value, kind)
    values = value[INIT_ARGS]
    head, rest = dataclasses.fields(cls)[0].name, "options" if cls is ParamGroup else "kwargs"
    options = {
        key: _from_jsonargparse(item, SchedulerSpec) if _converted_spec(item) else item
        for key, item in values.items()
        if key in spec_options(cls)
    }
    return cls(values[head], **values.get(rest, {}), **options)


def register_jsonargparse_types() -> None:
    """Register ``OptimizerSpec``, ``SchedulerSpec`` and ``ParamGroup`` as jsonargparse types, written with
    ``spec_to_dict`` and read with ``spec_from_dict``."""
    from jsonargparse.typing import register_type

    for kind in (OptimizerSpec, SchedulerSpec, ParamGroup):
        register_type(kind, spec_to_dict, functools.partial(_from_jsonargparse, kind=kind))


compat.when_imported("jsonargparse", register_jsonargparse_types)
