"""``DeclarativeCLI``: a ``LightningCLI`` whose config and command line can override every declaration.

Importing this module imports ``lightning.pytorch.cli`` and ``jsonargparse`` (the ``cli`` extra; without it,
a ``ModuleNotFoundError`` says to ``pip install lightning-optim[cli]``); ``import lightning_optim`` does not.

For a module class that declares ``gen_opt = OptimizerSpec(...)``, the parser gets an ``optim.gen_opt``
section in the ``spec_to_dict`` shape, whose defaults are the declarations::

    optim:
      gen_opt:
        class_path: torch.optim.Adam
        init_args: {lr: 0.01}
        params: model_gen
        groups: []
        scheduler:
          class_path: torch.optim.lr_scheduler.ExponentialLR
          init_args: {gamma: 0.99}
          interval: step
          frequency: 1
          ...

so ``--print_config`` shows the effective declarations, a YAML config overrides any key, and the command
line sets single values: ``--optim.gen_opt.init_args.lr=0.1``, ``--optim.gen_opt.scheduler.interval=epoch``,
``--optim.gen_opt.scheduler.class_path=null`` (no scheduler); a declared list of schedulers is set as a whole
(jsonargparse would apply a dotted key into it to its last item only, so that is refused), and may be replaced
by one scheduler or null; a declared scheduler may be given whole on the command line too
(``--optim.gen_opt.scheduler='[...]'`` or ``=null``, read as a config file's). Before anything is
instantiated the values are read back with ``spec_from_dict`` (class paths must name optimizer / scheduler
classes) and applied with ``with_declarations``: the model is an instance of a subclass of the same name carrying the overridden
declarations, checked exactly as declarations in code are.

A value a config cannot hold (a lambda, a local function, a partial, a tensor) is the code's only: it is written
``{in_code: <where it is declared>}``, read back as the value in code, and a config that changes it is refused.

Mistakes are reported as jsonargparse reports its own: the usage and one ``error:`` line, exit status 2, no
Python traceback. An unknown key gets the closest accepted one (``--optim.optimzer.init_args.lr`` ->
``optim.optimizer``), an argument of the section's class written next to ``class_path``
(``--optim.optimizer.weight_decay``, as LightningCLI takes ``--optimizer.weight_decay``) its ``init_args``
spelling, and Lightning's ``--optimizer``/``--lr_scheduler`` (which a ``DeclarativeCLI`` does not have) the
``--optim.<attribute>...`` spelling of the same value.

A config file's ``init_args`` merge key by key into those set before it (declared, an earlier config, the
command line), as jsonargparse's ``class_path``/``init_args`` do (it would replace a plain dict as a whole):
``init_args: {lr: 0.1}`` changes only ``lr``, as ``--optim.gen_opt.init_args.lr=0.1`` does. A config file
naming another ``class_path`` starts from that class's defaults. On the command line, ``init_args`` given as
a whole (``--optim.gen_opt.init_args={lr: 0.1}``) replace them, so leaving declared ones out for the declared
class is refused; changing only ``class_path`` keeps the ``init_args`` already set, which belong to the old
class: when the new class does not take them, the error says to replace ``init_args`` too.
"""

from __future__ import annotations

import copyreg
import inspect
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, NoReturn

import lightning.pytorch
import yaml
from typing_extensions import override

from lightning_optim.declaring.arguments import accepted_arguments
from lightning_optim.declaring.optimizer import declared_of
from lightning_optim.declaring.specs import OptimizerSpec, SchedulerSpec, spec_options
from lightning_optim.groups.planning import plan_all
from lightning_optim.registry.lookup import resolve_class
from lightning_optim.tools.config import (
    CALLABLE,
    CLASS_PATH,
    HPARAM,
    IN_CODE,
    INIT_ARGS,
    KINDS,
    read_number,
    resolve_in_code,
    to_plain,
)
from lightning_optim.tools.overrides import declared_callables, declared_dicts, with_declarations
from lightning_optim.training.mixin import ConfigurableOptimizersMixin, declared_specs
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import did_you_mean, listing, missing_extra, option_meant
from lightning_optim.utilities.lazy import is_uninitialized

try:
    from jsonargparse import ActionConfigFile
    from jsonargparse.typing import get_registered_type, register_type
except ImportError as error:
    raise missing_extra("`lightning_optim.cli` (`DeclarativeCLI`)", "jsonargparse", "cli") from error

# after jsonargparse: where Lightning's metadata says it is installed but it does not import, this module's
# message comes first
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

__all__ = ["OPTIM_KEY", "DeclarativeCLI", "add_declaration_arguments", "overrides_from_config"]

#: The config section holding the declarations: ``optim.<attribute>``.
OPTIM_KEY = "optim"

_SCHEDULER = "scheduler"

#: The arguments the mixin passes itself (an optimizer's parameters, a scheduler's optimizer).
_SUPPLIED = ("params", "optimizer")


class _ConfigValue:
    """The type of a value in ``init_args`` (and in a declared list of schedulers): any value, kept as written.

    Typed ``Any``, a nested ``{class_path, init_args}`` (a ``sequential``/``chained`` scheduler's
    ``schedulers``) is taken by jsonargparse for a class of its own: it adds that class's defaults
    (``optimizer: null``, ``last_epoch: -1``), which ``spec_from_dict`` then refuses, and would instantiate it.
    The values are ``spec_from_dict``'s to read; only a string from the command line is read as a value.
    """


def _config_value(value: str) -> Any:
    """A string given for a ``_ConfigValue``, read as jsonargparse reads one for ``Any``: a number,
    ``true``/``false``/``null``, a YAML list or dict, or else the string itself.

    Example:
        >>> _config_value("1e-3"), _config_value("[0.9, 0.99]"), _config_value("null"), _config_value("cosine")
        (0.001, [0.9, 0.99], None, 'cosine')
        >>> _config_value("{class_path: linear, init_args: {total_iters: 2}}")
        {'class_path': 'linear', 'init_args': {'total_iters': 2}}
    """
    text = value.strip()
    if isinstance(number := read_number(text), float):
        return number
    try:
        loaded = yaml.safe_load(text) if text else value
    except yaml.YAMLError:
        return value
    return value if isinstance(loaded, str) else loaded


def _kept(value: Any) -> Any:
    return value


def _given(value: Any, _: type) -> bool:
    """Whether ``value`` is already a value (from a config file, or a dict jsonargparse read), not a string."""
    return not isinstance(value, str)


if get_registered_type(_ConfigValue) is None:
    register_type(_ConfigValue, serializer=_kept, deserializer=_config_value, type_check=_given)


class _Earlier(dict[str, Any]):
    """Marks the ``init_args`` set before a config file is read: still of this class after it when the file
    left them (only the class tells: jsonargparse's copies of the namespace do not keep its items)."""


class _EarlierPath(str):
    """Marks the ``class_path`` set before a config file is read: still of this class after it when the file
    left it."""

    __slots__ = ()


#: A value a config file left as it was (``_merged``).
_LEFT = object()


def _merged(earlier_args: Any, earlier_path: Any, args: Any, path: Any, kind: type) -> Any:
    """The ``init_args`` after a config file: its own merged key by key into those set before, as the command
    line and jsonargparse's ``class_path``/``init_args`` do; a file naming another class starts from that
    class's defaults (the earlier ones belong to the old class).

    ``args``/``path``: the file's, ``_LEFT`` where it sets none.

    Example:
        >>> _merged({"lr": 0.1, "weight_decay": 0.05}, "adamw", {"lr": 0.01}, _LEFT, OptimizerSpec)
        {'lr': 0.01, 'weight_decay': 0.05}
        >>> _merged({"lr": 0.1}, "adamw", {"lr": 0.01}, "torch.optim.AdamW", OptimizerSpec)
        {'lr': 0.01}
        >>> _merged({"lr": 0.1, "betas": [0.9, 0.95]}, "adamw", _LEFT, "sgd", OptimizerSpec)
        {}
        >>> _merged({"lr": 0.1}, "adamw", {"momentum": 0.9}, "torch.optim.SGD", OptimizerSpec)
        {'momentum': 0.9}
    """
    if (
        path is not _LEFT
        and path != earlier_path
        and _resolved(path, kind) is not _resolved(earlier_path, kind)
    ):
        return {} if args is _LEFT else args
    if args is _LEFT:
        return earlier_args
    if isinstance(args, Mapping) and isinstance(earlier_args, Mapping):
        return {**earlier_args, **args}
    return args


class _ConfigFile(ActionConfigFile):
    """``--config``, whose ``init_args`` merge key by key into those set before (declared, an earlier config,
    the command line), as jsonargparse does for ``class_path``/``init_args`` (a plain ``dict`` argument it
    replaces as a whole); a file naming another class starts from that class's defaults."""

    def __call__(self, parser: Any, cfg: Any, values: Any, option_string: str | None = None) -> None:
        # A config given before the subcommand (`--config c.yaml fit`, its values under `fit:`) is read before
        # the subcommand's defaults, the declarations: what it leaves out of a section is the declared value.
        declared = getattr(parser, "declared_sections", {})
        earlier: dict[str, tuple[Any, Any]] = {}
        for section, _ in _spec_sections(cfg):
            path, args = declared.get(_unprefixed(section), (None, {}))
            args, path = cfg.get(f"{section}.{INIT_ARGS}", args), cfg.get(f"{section}.{CLASS_PATH}", path)
            earlier[section] = (args, path)
            if f"{section}.{INIT_ARGS}" in cfg:
                cfg[f"{section}.{INIT_ARGS}"] = _Earlier()
            if isinstance(cfg.get(f"{section}.{CLASS_PATH}"), str):
                cfg[f"{section}.{CLASS_PATH}"] = _EarlierPath(path)
        try:
            super().__call__(parser, cfg, values, option_string)
        finally:
            for section, kind in _spec_sections(cfg):
                if section not in earlier and _unprefixed(section) not in declared:
                    continue
                earlier_path, earlier_args = declared.get(_unprefixed(section), (None, {}))
                earlier_args, earlier_path = earlier.get(section, (earlier_args, earlier_path))
                args = cfg.get(f"{section}.{INIT_ARGS}", _LEFT)
                path = cfg.get(f"{section}.{CLASS_PATH}", _LEFT)
                args = _LEFT if isinstance(args, _Earlier) else args
                if isinstance(path, _EarlierPath):
                    cfg[f"{section}.{CLASS_PATH}"] = str(path)
                    path = _LEFT
                given = getattr(parser, "given_class_paths", None)
                if isinstance(given, dict) and isinstance(path, str):
                    given.setdefault(_unprefixed(section), []).append(path)
                if args is not _LEFT or path is not _LEFT or f"{section}.{INIT_ARGS}" in cfg:
                    cfg[f"{section}.{INIT_ARGS}"] = _merged(earlier_args, earlier_path, args, path, kind)


def _unprefixed(section: str) -> str:
    """``section`` without the subcommand it is under.

    Example:
        >>> _unprefixed("fit.optim.opt"), _unprefixed("optim.opt.scheduler")
        ('optim.opt', 'optim.opt.scheduler')
    """
    return section if section.startswith(f"{OPTIM_KEY}.") else section.partition(".")[2]


def _declared_sections(declared: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The keys of the sections holding ``class_path``/``init_args`` for the declared dicts:
    ``optim.<attribute>``, and ``optim.<attribute>.scheduler`` for a declared single scheduler.

    Example:
        >>> _declared_sections({"opt": {"class_path": "sgd", "scheduler": {"class_path": "step"}}, "b": {}})
        ['optim.opt', 'optim.opt.scheduler', 'optim.b']
    """
    sections = []
    for name, data in declared.items():
        sections.append(f"{OPTIM_KEY}.{name}")
        if isinstance(data.get(_SCHEDULER), Mapping):
            sections.append(f"{OPTIM_KEY}.{name}.{_SCHEDULER}")
    return sections


def _declared_values(model_class: type) -> dict[str, tuple[Any, Any]]:
    """The declared ``(class_path, init_args)`` of each section of ``model_class``'s declarations, by key."""
    declared = declared_dicts(model_class)[0]
    values = {}
    for section in _declared_sections(declared):
        _, name, *scheduler = section.split(".")
        data = declared[name][_SCHEDULER] if scheduler else declared[name]
        values[section] = (data.get(CLASS_PATH), data.get(INIT_ARGS) or {})
    return values


def _spec_sections(cfg: Any) -> list[tuple[str, type]]:
    """The declared sections (``optim.<attribute>`` and its ``.scheduler``, or those under a subcommand:
    ``fit.optim.<attribute>``) a parsed ``cfg`` sets, with their kind.

    Example:
        >>> from jsonargparse import Namespace
        >>> _spec_sections(Namespace({"optim.o.class_path": "sgd", "fit.optim.o.scheduler.init_args": {}}))
        [('optim.o', <class '...OptimizerSpec'>), ('fit.optim.o.scheduler', <class '...SchedulerSpec'>)]
    """
    sections: dict[str, type] = {}
    for key in cfg.keys():  # noqa: SIM118 (a jsonargparse Namespace: its keys, flattened)
        section, _, leaf = key.rpartition(".")
        parts = _unprefixed(section).split(".")
        if leaf in (INIT_ARGS, CLASS_PATH) and parts[0] == OPTIM_KEY and len(parts) in (2, 3):
            scheduler = len(parts) == 3 and parts[2] == _SCHEDULER
            if len(parts) == 2 or scheduler:
                sections[section] = SchedulerSpec if scheduler else OptimizerSpec
    return list(sections.items())


def _add_spec_arguments(
    parser: LightningArgumentParser, key: str, kind: type, data: Mapping[str, Any], title: str
) -> None:
    parser.add_argument(
        f"--{key}.{CLASS_PATH}",
        type=str | None,
        default=data.get(CLASS_PATH),
        help=f"{title}: the class (registered name or import path)"
        + (" or null for none." if kind is SchedulerSpec else "."),
    )
    parser.add_argument(
        f"--{key}.{INIT_ARGS}",
        type=dict[str, _ConfigValue] | None,
        default=data.get(INIT_ARGS, {}),
        help=f"{title}: the class's arguments.",
    )
    for option, default in spec_options(kind).items():
        if option == _SCHEDULER and isinstance(data.get(option), list):
            # a declared list of schedulers is set as a whole: a list of scheduler dicts, one, or null
            # (`spec_from_dict` reads each shape; one with `class_path: null` is none)
            parser.add_argument(
                f"--{key}.{option}",
                type=list[dict[str, _ConfigValue]] | dict[str, _ConfigValue] | None,
                default=data[option],
                help=f"{title}: the list of schedulers (class_path/init_args dicts), one such dict, or null for "
                "none.",
            )
            continue
        if option == _SCHEDULER:
            _add_spec_arguments(
                parser, f"{key}.{option}", SchedulerSpec, data.get(option) or {}, f"{title} scheduler"
            )
            continue
        parser.add_argument(
            f"--{key}.{option}",
            type=Any,
            default=data.get(option, to_plain(default, f"{title}.{option}")),
            help=f"{title}: `{option}` of the {kind.__name__}.",
        )


def add_declaration_arguments(
    parser: LightningArgumentParser, model_class: type, key: str = OPTIM_KEY
) -> None:
    """Add a ``<key>.<attribute>`` section per declared optimizer, whose defaults are the declarations.

    ``DeclarativeCLI`` calls it; call it yourself in ``add_arguments_to_parser`` of another ``LightningCLI``
    subclass and apply the values with ``overrides_from_config`` and ``with_declarations``.
    """
    for name, data in declared_dicts(model_class)[0].items():
        where = f"{model_class.__qualname__}.{name}"
        _add_spec_arguments(parser, f"{key}.{name}", OptimizerSpec, data, where)


def _resolved(path: Any, kind: type) -> type | None:
    """The class a config's ``class_path`` names, or ``None`` when it names none (reported later)."""
    try:
        return resolve_class(path, KINDS[kind], where="")
    except (TypeError, ValueError):
        return None


def _check_init_args(
    data: Mapping[str, Any], kind: type, declared: Mapping[str, Any] | None, where: str, key: str
) -> None:
    """Explain ``init_args`` the class does not take.

    A ``class_path`` changed on the command line keeps the ``init_args`` already there (declared, or from a
    config), which belong to the old class (a config file naming another class starts from its defaults). A
    name the new class does not take is left over from the old class when it has the declared value or the old
    class takes it; any other is a mistake of its own (a misspelling in ``init_args`` given together with the
    new class, or under the declared class's): told with only what ``init_args`` takes, and where the spec's own
    options go, which ``init_args`` refuses (the declaration's check would list them with the class's arguments).
    """
    cls = _resolved(data[CLASS_PATH], kind)
    init_args = data[INIT_ARGS]
    if cls is None or not isinstance(init_args, Mapping):
        return
    before = _resolved(declared.get(CLASS_PATH), kind) if declared else None
    parameters = inspect.signature(cls).parameters.values()
    if not any(p.kind is p.VAR_KEYWORD for p in parameters):
        accepted = {p.name for p in parameters}
        # a spec's own option under `init_args` is told where it goes by `spec_from_dict`
        stale = [name for name in init_args if name not in accepted and name not in spec_options(kind)]
        if stale:
            declared_args = (declared or {}).get(INIT_ARGS) or {}
            old = set(inspect.signature(before).parameters) if before is not None else set()
            from_declaration = [n for n in stale if n in declared_args and declared_args[n] == init_args[n]]
            left_over = [n for n in stale if n in from_declaration or n in old] if cls is not before else []
            # a misspelt option of the spec (`lnterval`) is meant next to `class_path`, as the message says
            near = did_you_mean(stale[0], accepted) or did_you_mean(stale[0], spec_options(kind))
            hint = near if len(stale) == 1 else ""
            message = (
                f"{where}: `{cls.__name__}` does not take {listing(stale)}{hint}, found in `{INIT_ARGS}`."
            )
            if left_over:
                required = [p.name for p in parameters if p.default is p.empty and p.name not in _SUPPLIED]
                example = "{" + ", ".join(f"{name}: ..." for name in required or ["<name>"]) + "}"
                previous = (
                    f"here the declared `{before.__name__}`'s"
                    if before is not None and from_declaration == left_over
                    else "the previous class's"
                )
                message += (
                    f" Changing only `{CLASS_PATH}` keeps the `{INIT_ARGS}` set before ({previous}), which belong "
                    f"to the old class: replace `{INIT_ARGS}` too, with `--{key}.{INIT_ARGS}={example}` on the "
                    f"command line (after `--config`) or `{INIT_ARGS}:` next to `{CLASS_PATH}` in the config file."
                )
            else:
                takes = [p.name for p in parameters if p.name not in _SUPPLIED]
                options = list(spec_options(kind))
                example = {SchedulerSpec: "interval=step", OptimizerSpec: "no_decay=true"}.get(
                    kind, f"{options[0]}=..."
                )
                message += (
                    f" `{cls.__name__}` takes {listing(takes)} under `{INIT_ARGS}`; the {kind.__name__}'s own options "
                    f"({listing(options)}) go next to `{CLASS_PATH}` (`--{key}.{example}`)."
                )
            raise TypeError(message)


def _spec_dict(
    values: Mapping[str, Any], kind: type, declared: Mapping[str, Any] | None, where: str, key: str
) -> dict[str, Any] | None:
    """One parsed spec section as a ``spec_to_dict``-shaped dict; ``None`` for a scheduler set to null.

    ``key`` is the section's key in the config (``optim.<attribute>``), for messages.
    """
    options = spec_options(kind)
    data: dict[str, Any] = {CLASS_PATH: values.get(CLASS_PATH), INIT_ARGS: values.get(INIT_ARGS) or {}}
    for option in options:
        if option == _SCHEDULER and isinstance(values.get(option), list):
            data[option] = list(values[option]) or None  # each dict is read by `spec_from_dict`
        elif option == _SCHEDULER:
            scheduler = values.get(option)
            declared_scheduler = (declared or {}).get(option)
            # a declared list replaced by one scheduler: no declared values of that one to compare with
            declared_scheduler = declared_scheduler if isinstance(declared_scheduler, Mapping) else None
            data[option] = (
                _spec_dict(
                    scheduler, SchedulerSpec, declared_scheduler, f"{where}.{option}", f"{key}.{option}"
                )
                if scheduler
                else None
            )
        elif option in values:
            data[option] = values[option]
    if data[CLASS_PATH] is not None:
        _check_init_args(data, kind, declared, where, key)
        return data
    if kind is OptimizerSpec:
        raise ValueError(f"{where}: Expected `{CLASS_PATH}` to name an optimizer class but got None.")
    # `class_path: null` removes the scheduler; anything set besides the declared values would be lost.
    declared = declared or {}
    defaults = {INIT_ARGS: {}, **{key: to_plain(value, where) for key, value in options.items()}}
    stray = [
        key
        for key in (INIT_ARGS, *options)
        if key in data and data[key] != defaults[key] and data[key] != declared.get(key, defaults[key])
    ]
    if stray:
        raise ValueError(
            f"{where}: Expected `{CLASS_PATH}` to name a scheduler class when {listing(stray)} is set "
            f"but got None; set `{CLASS_PATH}` or remove them."
        )
    return None


def _fixed(data: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """The values of a declared section that only the code (``{in_code: ...}``) or an hparam (``{hparam: ...}``)
    sets, with their paths in it.

    Example:
        >>> list(_fixed({"init_args": {"lr": {"hparam": "lr"}}, "groups": [{"select": {"in_code": "M.o.s"}}]}))
        [(('init_args', 'lr'), {'hparam': 'lr'}), (('groups', 0, 'select'), {'in_code': 'M.o.s'})]
    """
    if isinstance(data, Mapping):
        if IN_CODE in data or HPARAM in data:
            yield path, data
            return
        for key, item in data.items():
            yield from _fixed(item, (*path, key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _fixed(item, (*path, index))


def _at(data: Any, path: tuple[str | int, ...]) -> Any:
    """The value at ``path`` in ``data``, or ``_MISSING``.

    Example:
        >>> _at({"groups": [{"select": "head"}]}, ("groups", 0, "select")), _at({}, ("init_args", "lr")) is _MISSING
        ('head', True)
    """
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return data


_MISSING = object()


def _check_fixed(
    values: Mapping[str, Any],
    declared: Mapping[str, Any],
    in_code: Mapping[str, Any],
    where: str,
    config: Any,
) -> None:
    """Refuse a config or command line that changes a value only the code or an hparam sets (``_fixed``): an
    hparam's value would train while ``hparams`` (loggers, the checkpoint) hold another."""
    for path, written in _fixed(declared):
        given = _at(values, path)
        if given == written:
            continue
        got = "it left out" if given is _MISSING else repr(given)
        if HPARAM in written:
            name = written[HPARAM]
            section = _init_argument(config, name)
            setting = (
                f"`--{section}.{name}={given if isinstance(given, (int, float, str)) else '<value>'}`"
                if section
                else f"`{name}` of the module (an attribute or an hparam)"
            )
            shown = yaml.safe_dump(written, default_flow_style=True, sort_keys=False).strip()
            raise ValueError(
                f"{where}{_dotted(path)}: Expected `{shown}` as declared (the value is read from hparam `{name}` "
                f"when fit starts) but got {got}; set the hparam instead: {setting}."
            )
        value = in_code[written[IN_CODE]]
        raise ValueError(
            f"{written[IN_CODE]}: Expected `{{{IN_CODE}: {written[IN_CODE]}}}` (the value in code, "
            f"{_described(value)}) but got {got}: a config cannot hold a lambda, a local function, a partial "
            "or a tensor, so this value can only be set in code (a module-level function can be named in a "
            f"config: {{{CALLABLE}: pkg.module.function}})."
        )


def _dotted(path: tuple[str | int, ...]) -> str:
    """``path`` as the end of a ``where``.

    Example:
        >>> _dotted(("groups", 0, "lr"))
        '.groups[0].lr'
    """
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def _init_argument(config: Any, name: str) -> str | None:
    """The section (``model``, ``data``) whose argument ``name`` the parsed ``config`` has, or ``None``."""
    for section in ("model", "data"):
        values: Any = config.get(section) if config is not None else None
        if values is not None and name in values:
            return section
    return None


def _described(value: Any) -> str:
    """A function by its name, anything else by its repr.

    Example:
        >>> _described(lambda step: 1.0), _described(0.5)
        ('`<lambda>`', '0.5')
    """
    name = getattr(value, "__qualname__", None)
    return f"`{name.rsplit('.', 1)[-1]}`" if isinstance(name, str) else repr(value)


def overrides_from_config(config: Any, model_class: type, key: str = OPTIM_KEY) -> dict[str, dict[str, Any]]:
    """The ``<key>`` section of a parsed config as ``{attribute: spec dict}`` for ``with_declarations``.

    A value only the code sets (``{in_code: <where>}``) or an hparam (``{hparam: <name>}``) must be left as
    written; one in code is read back as the value in code.
    """
    section = config.get(key) if config is not None else None
    if section is None:
        return {}
    values = section.as_dict() if hasattr(section, "as_dict") else dict(section)
    declared, in_code = declared_dicts(model_class)
    overrides: dict[str, dict[str, Any]] = {}
    for name, spec_values in values.items():
        where = f"{model_class.__qualname__}.{name}"
        declared_dict = declared.get(name)
        if declared_dict is not None:
            _check_fixed(spec_values or {}, declared_dict, in_code, where, config)
        data = _spec_dict(spec_values or {}, OptimizerSpec, declared_dict, where, f"{key}.{name}")
        if data is not None:
            overrides[name] = resolve_in_code(data, lambda: in_code, where)
    return overrides


#: Lightning's own optimizer arguments, which a ``DeclarativeCLI`` does not add, with where each part goes
_LIGHTNING_OPTIONS = {"optimizer": "", "lr_scheduler": f".{_SCHEDULER}"}


def _class_arguments(paths: Mapping[str, Iterable[Any]]) -> dict[str, dict[str, str]]:
    """The arguments of the classes each section's ``class_path``s name (declared, then given), by section: each
    argument with the name of the last of those classes that takes it; a path that names no class is skipped.

    Example:
        >>> arguments = _class_arguments({"optim.o": ["sgd", "adamw"], "optim.o.scheduler": ["linear", "nothing"]})
        >>> arguments["optim.o"]["momentum"], arguments["optim.o"]["betas"], arguments["optim.o.scheduler"]["start_factor"]
        ('SGD', 'AdamW', 'LinearLR')
        >>> "params" in arguments["optim.o"], "optimizer" in arguments["optim.o.scheduler"]
        (False, False)
    """
    arguments: dict[str, dict[str, str]] = {}
    for section, section_paths in paths.items():
        kind = SchedulerSpec if section.endswith(f".{_SCHEDULER}") else OptimizerSpec
        for path in section_paths:
            cls = _resolved(path, kind) if isinstance(path, str) else None
            if cls is not None:
                names = accepted_arguments(cls)[0]
                arguments.setdefault(section, {}).update(dict.fromkeys(names, cls.__name__))
    return arguments


def _given_class_paths(tokens: Iterable[str]) -> dict[str, list[str]]:
    """The ``class_path`` each section gets on the command line, by section, in order.

    Example:
        >>> _given_class_paths(["fit", "--optim.o.class_path=sgd", "--optim.o.scheduler.class_path", "linear"])
        {'optim.o': ['sgd'], 'optim.o.scheduler': ['linear']}
    """
    tokens = list(tokens)
    given: dict[str, list[str]] = {}
    for position, token in enumerate(tokens):
        key, equals, value = str(token).partition("=")
        section, _, leaf = key.removeprefix("--").rpartition(".")
        if not (token.startswith(f"--{OPTIM_KEY}.") and leaf == CLASS_PATH):
            continue
        if not equals and position + 1 < len(tokens):
            value = tokens[position + 1]
        given.setdefault(section, []).append(value)
    return given


def _key_hint(
    key: str,
    known: Iterable[str],
    attributes: Iterable[str],
    value: str | None,
    dashes: str,
    arguments: Mapping[str, Mapping[str, str]] = MappingProxyType({}),
) -> str:
    """What to write instead of the unknown ``key`` (``dashes``: ``"--"`` on the command line, ``""`` in a
    config): Lightning's ``optimizer``/``lr_scheduler`` in this CLI's spelling, or the closest accepted key,
    one dotted part at a time.

    In a section (``optim.<attribute>`` or its ``.scheduler``), an argument of its class (``arguments``: by
    section, with the class's name) given next to ``class_path``, as LightningCLI takes ``--optimizer.lr``, is
    told its ``init_args`` spelling; a misspelt name there is told the closest option or class argument that it
    may misspell (``option_meant``), never an option merely spelled close to an argument (``layer_decay`` for
    ``weight_decay``).

    Example:
        >>> known = ["optim.optimizer.class_path", "optim.optimizer.init_args", "optim.optimizer.scheduler.interval"]
        >>> _key_hint("optim.optimzer.init_args.lr", known, ["optimizer"], None, "--")
        'did you mean `--optim.optimizer.init_args.lr`?'
        >>> _key_hint("optimizer.lr", known, ["optimizer"], "0.1", "--")
        "`--optimizer.lr` is LightningCLI's, for an optimizer without declarations: here `--optim.optimizer.init_args.lr=0.1`"
        >>> known += ["optim.optimizer.layer_decay"]
        >>> arguments = {"optim.optimizer": {"lr": "AdamW", "weight_decay": "AdamW"}}
        >>> _key_hint("optim.optimizer.weight_decay", known, ["optimizer"], "0.1", "--", arguments)
        '`weight_decay` is an argument of `AdamW`, which goes under `init_args`: did you mean `--optim.optimizer.init_args.weight_decay=0.1`?'
        >>> _key_hint("optim.optimizer.weight_decy", known, ["optimizer"], None, "", arguments)
        'did you mean `optim.optimizer.init_args.weight_decay`?'
    """
    head, _, rest = key.partition(".")
    if head in _LIGHTNING_OPTIONS:
        names = list(attributes)
        attribute = names[0] if len(names) == 1 else "<attribute>"
        part = rest if rest == CLASS_PATH or rest.startswith(INIT_ARGS + ".") else f"{INIT_ARGS}.{rest}"
        spelled = f"{dashes}{OPTIM_KEY}.{attribute}{_LIGHTNING_OPTIONS[head]}.{part if rest else CLASS_PATH}"
        spelled += f"={value}" if value and dashes else ""
        among = "" if len(names) == 1 else f" (<attribute>: one of {listing(names)})"
        return f"`{dashes}{key}` is LightningCLI's, for an optimizer without declarations: here `{spelled}`{among}"
    parts = key.split(".")
    known_parts = [k.split(".") for k in known]
    for depth, part in enumerate(parts):
        level = [k for k in known_parts if k[:depth] == parts[:depth]]
        if any(len(k) == depth for k in level):
            return ""  # a dict's own key (`init_args.lr`): not the parser's to know
        children = [k[depth] for k in level if len(k) > depth]
        if part not in children:
            section = ".".join(parts[:depth])
            taken = arguments.get(_unprefixed(section), {}) if depth == len(parts) - 1 else {}
            if part in taken:
                spelled = f"{dashes}{section}.{INIT_ARGS}.{part}" + (f"={value}" if value and dashes else "")
                return (
                    f"`{part}` is an argument of `{taken[part]}`, which goes under `{INIT_ARGS}`: did you mean "
                    f"`{spelled}`?"
                )
            hint = option_meant(part, [*children, *taken]) if taken else did_you_mean(part, children)
            if not hint:
                return ""
            closest = hint[len(" (did you mean `") : -len("`?)")]
            closest = closest if closest in children else f"{INIT_ARGS}.{closest}"
            return f"did you mean `{dashes}{'.'.join([*parts[:depth], closest, *parts[depth + 1 :]])}`?"
    return ""


def _key_into_a_list(tokens: Iterable[str], lists: Mapping[str, list[Any]], where: Mapping[str, str]) -> str:
    """The message for the first command-line key into a declared list of schedulers, or ``""``: jsonargparse
    applies ``--<list>.interval=epoch`` to the list's last item only.

    ``lists``: each declared list of schedulers by its key; ``where``: what to call it in messages.

    Example:
        >>> lists = {"optim.opt.scheduler": [{"class_path": "step", "init_args": {"step_size": 1}}]}
        >>> message = _key_into_a_list(
        ...     ["fit", "--optim.opt.scheduler.interval", "epoch"], lists, {"optim.opt.scheduler": "M.opt.scheduler"}
        ... )
        >>> message[:100]
        'M.opt.scheduler: Expected the list of schedulers set as a whole but got `--optim.opt.scheduler.inter'
        >>> _key_into_a_list(["--optim.opt.scheduler=[]", "--optim.opt.params=head"], lists, {})
        ''
    """
    for token in tokens:
        key = token.partition("=")[0].removeprefix("--")
        for list_key, declared in lists.items():
            if token.startswith("--") and key.startswith(f"{list_key}."):
                flow = yaml.safe_dump(declared, default_flow_style=True, sort_keys=False, width=float("inf"))
                section, _, option = list_key.rpartition(".")
                return (
                    f"{where[list_key]}: Expected the list of schedulers set as a whole but got `--{key}`, a key "
                    "into it, which would change its last scheduler only. Set the whole list: on the command "
                    f"line `--{list_key}='{flow.strip()}'` (changed where needed, after `--config`), in a config "
                    f"file `{option}:` under `{section}` as a list of these (as `--print_config` writes it)."
                )
    return ""


def _scheduler_as_config(
    tokens: list[str], sections: Iterable[str], where: Mapping[str, str]
) -> tuple[list[str], str]:
    """``tokens`` with each scheduler section that the parser holds key by key (a declared scheduler, or none)
    given whole, ``--optim.<attribute>.scheduler=<a list, one scheduler or null>``, passed as the config it
    stands for (``--config={optim: {<attribute>: {scheduler: ...}}}``, read as a config file's ``scheduler:``);
    argparse would take it for an abbreviation of ``.scheduler.class_path`` and its siblings ("ambiguous
    option"). Another value gets the message saying how to write it (with ``tokens`` unchanged).

    ``sections``: those scheduler sections; ``where``: what to call each in messages.

    Example:
        >>> _scheduler_as_config(["fit", "--optim.o.scheduler=null", "--optim.o.params=head"], ["optim.o.scheduler"], {})
        (['fit', '--config={optim: {o: {scheduler: null}}}', '--optim.o.params=head'], '')
        >>> _scheduler_as_config(["--optim.o.scheduler", "[{class_path: step}]"], ["optim.o.scheduler"], {})[0]
        ['--config={optim: {o: {scheduler: [{class_path: step}]}}}']
        >>> _scheduler_as_config(["--optim.o.scheduler=cosine"], ["optim.o.scheduler"], {"optim.o.scheduler": "M.o"})[1]
        "M.o: Expected `--optim.o.scheduler` to be a list of schedulers ...
    """
    sections = set(sections)
    rewritten: list[str] = []
    position = 0
    while position < len(tokens):
        token = tokens[position]
        key, equals, value = str(token).partition("=")
        section = key.removeprefix("--")
        position += 1
        if not (key.startswith("--") and section in sections and (equals or position < len(tokens))):
            rewritten.append(token)
            continue
        if not equals:
            value, position = tokens[position], position + 1
        given = _config_value(value)
        if given is not None and not isinstance(given, (list, Mapping)):
            return tokens, (
                f"{where.get(section, section)}: Expected `--{section}` to be a list of schedulers "
                f"(`[{{{CLASS_PATH}: ..., {INIT_ARGS}: {{...}}}}, ...]`), one scheduler "
                f"(`{{{CLASS_PATH}: ..., {INIT_ARGS}: {{...}}}}`) or null but got {given!r} (did you mean "
                f"`--{section}.{CLASS_PATH}={value}`?)."
            )
        nested: Any = given
        for part in reversed(section.split(".")):
            nested = {part: nested}
        flow = yaml.safe_dump(nested, default_flow_style=True, sort_keys=False, width=float("inf")).strip()
        rewritten.append(f"--config={flow}")
    return rewritten, ""


def _given_whole(tokens: Iterable[str], sections: Iterable[str]) -> list[str]:
    """The ``sections`` whose ``init_args`` the command line gives whole: ``--<section>.init_args=<dict>``.

    Example:
        >>> _given_whole(["--optim.opt.init_args={lr: 0.1}", "--optim.opt.init_args.lr=0.1"], ["optim.opt"])
        ['optim.opt']
        >>> _given_whole(["fit", "--optim.o.scheduler.init_args", "{gamma: 1}"], ["optim.o", "optim.o.scheduler"])
        ['optim.o.scheduler']
    """
    given = {str(token).partition("=")[0] for token in tokens}
    return [section for section in sections if f"--{section}.{INIT_ARGS}" in given]


def _check_whole(config: Any, section: str, declared: Mapping[str, Any], kind: type, where: str) -> None:
    """Refuse ``init_args`` given as a whole on the command line for the declared class that leave declared
    ones out: jsonargparse replaces such a dict, so those would train at the class's defaults. A config file's
    merge key by key (``_ConfigFile``)."""
    path, given = config.get(f"{section}.{CLASS_PATH}"), config.get(f"{section}.{INIT_ARGS}")
    cls = _resolved(path, kind)
    if cls is None or cls is not _resolved(declared.get(CLASS_PATH), kind) or not isinstance(given, Mapping):
        return
    declared_args = declared.get(INIT_ARGS) or {}
    dropped = [name for name in declared_args if name not in given]
    if not dropped:
        return
    flow = yaml.safe_dump(to_plain(dict(given), where), default_flow_style=True, width=float("inf")).strip()
    single = " ".join(f"`--{section}.{INIT_ARGS}.{name}={value}`" for name, value in given.items())
    values = ", ".join(f"{name}={declared_args[name]!r}" for name in dropped)
    single = single or f"`--{section}.{INIT_ARGS}.<name>=<value>`"
    parameters = inspect.signature(cls).parameters
    required = [n for n in dropped if n in parameters and parameters[n].default is inspect.Parameter.empty]
    defaulted = [name for name in dropped if name not in required]
    effects = ([f"{listing(defaulted)} would train at `{cls.__name__}`'s defaults"] if defaulted else []) + (
        [f"{listing(required)} would be missing (`{cls.__name__}` has no default)"] if required else []
    )
    raise ValueError(
        f"{where}: Expected `--{section}.{INIT_ARGS}` to keep the declared {listing(dropped)} ({values}) "
        f"but got `{flow}`, which replaces the declared `{INIT_ARGS}` as a whole, so {' and '.join(effects)}; add "
        f"them to it to set them (did you mean {single}, which changes only these?)."
    )


class DeclarativeArgumentParser(LightningArgumentParser):
    """``LightningArgumentParser`` whose messages about unknown keys say what to write instead."""

    #: the declared attributes, set on each parser by ``DeclarativeCLI.init_parser`` (an instance attribute, so
    #: that the class stays the module-level one that pickle finds)
    declared_attributes: tuple[str, ...] = ()
    #: the declared ``(class_path, init_args)`` by section (``_declared_values``), set there too
    declared_sections: Mapping[str, tuple[Any, Any]] = MappingProxyType({})
    #: the class paths the command line and the config files name, by section (``_given_class_paths``): one
    #: dict shared by the parsers of a ``DeclarativeCLI``, set there too
    given_class_paths: Mapping[str, list[str]] = MappingProxyType({})

    #: the subcommands' parsers by name, set by ``add_subcommands``
    subcommand_parsers: Mapping[str, Any] = MappingProxyType({})

    def add_subcommands(self, *args: Any, **kwargs: Any) -> Any:
        """jsonargparse's ``add_subcommands``, keeping its parsers by name (its action's ``choices``)."""
        action = super().add_subcommands(*args, **kwargs)
        self.subcommand_parsers = action.choices
        return action

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        """jsonargparse's ``error``, with a near miss for each unknown key."""
        paths = {section: [path] for section, (path, _) in self.declared_sections.items()}
        for section, given in self.given_class_paths.items():
            paths[section] = [*paths.get(section, []), *given]
        hint = _unknown_keys_hint(message, self, ex, self.declared_attributes, _class_arguments(paths))
        super().error(message + hint, ex)


class _MixedParserType(type):
    """The class of the parser classes ``declarative_parser_class`` makes: pickled as that call.

    ``ddp_spawn`` pickles the trainer, whose ``SaveConfigCallback`` holds the parser (and its subcommands'
    parsers hold their class). A class made at runtime is not found by its name where it is unpickled, so it
    is rebuilt from the ``parser_class`` it was made for.
    """

    mixed_into: type


def _reduce_parser_class(cls: Any) -> Any:
    return declarative_parser_class, (cls.mixed_into,)


copyreg.pickle(_MixedParserType, _reduce_parser_class)

_MIXED_PARSERS: dict[type, type[DeclarativeArgumentParser]] = {}


def declarative_parser_class(parser_class: type) -> type[DeclarativeArgumentParser]:
    """``parser_class`` with ``DeclarativeArgumentParser``'s messages: itself when it has them, else one class
    per ``parser_class`` (the same class each time, as pickle needs)."""
    if issubclass(parser_class, DeclarativeArgumentParser):
        return parser_class
    if parser_class is LightningArgumentParser:
        return DeclarativeArgumentParser
    if parser_class not in _MIXED_PARSERS:
        # a parser class with a metaclass of its own keeps it (and is not picklable, as before)
        metaclass: Any = _MixedParserType if type(parser_class) is type else type(parser_class)
        _MIXED_PARSERS[parser_class] = metaclass(
            "DeclarativeArgumentParser",
            (DeclarativeArgumentParser, parser_class),
            {"mixed_into": parser_class, "__module__": __name__},
        )
    return _MIXED_PARSERS[parser_class]


def _unknown_keys_hint(
    message: str,
    parser: DeclarativeArgumentParser,
    ex: Exception | None,
    attributes: tuple[str, ...],
    arguments: Mapping[str, Mapping[str, str]],
) -> str:
    """`` (hint; hint)`` for the unknown keys a jsonargparse message names, or ``""``.

    ``parser``/``ex``: the parser reporting ``message`` and the error it reports; ``arguments``: the arguments of
    each section's class (``_class_arguments``).
    """
    unrecognized = compat.unrecognized_arguments(message)
    in_config = compat.unknown_config_key(message)
    if unrecognized is not None:
        tokens = unrecognized.split()
    elif in_config is not None:
        key, subcommand = in_config
        tokens = [key]
        if subcommand is not None:
            # the key is relative to the subcommand's parser, which jsonargparse's error carries from 4.44 on
            parser = getattr(ex, "subcommand_parser", None) or parser.subcommand_parsers.get(
                subcommand, parser
            )
    else:
        return ""
    try:
        known = list(parser.get_defaults().keys())
    except Exception:
        known = []
    from_command_line = unrecognized is not None
    hints = []
    for position, token in enumerate(tokens):
        if from_command_line and not token.startswith("--"):
            continue  # a value
        key, _, value = token.lstrip("-").partition("=")
        following = tokens[position + 1] if position + 1 < len(tokens) else ""
        if from_command_line and not value and following and not following.startswith("-"):
            value = following
        hint = _key_hint(key, known, attributes, value or None, "--" if from_command_line else "", arguments)
        if hint:
            hints.append(hint)
    return f" ({'; '.join(hints)})" if hints else ""


class DeclarativeCLI(LightningCLI):
    """A ``LightningCLI`` for a ``ConfigurableOptimizersMixin`` module: ``--optim.<attribute>...`` overrides.

    Use it exactly like ``LightningCLI`` with a fixed ``model_class``. Lightning's own ``--optimizer`` /
    ``--lr_scheduler`` arguments are not added (they would replace the declarations with a single optimizer).

    Args:
        model_class: the module class; it must use ``ConfigurableOptimizersMixin``.
        *args: ``LightningCLI``'s positional arguments after ``model_class``.
        allow_callables: functions a config may name by ``{"callable": "pkg.mod.fn"}`` (selectors,
            ``lr_lambda``s), besides the module-level functions the declarations already use.
        **kwargs: ``LightningCLI``'s keyword arguments.

    Example::

        if __name__ == "__main__":
            DeclarativeCLI(DigitsClassifier, DigitsData)

        # python train.py fit --config config.yaml --optim.optimizer.init_args.lr=0.01
    """

    #: the sections whose ``init_args`` the command line gives as a whole, set by ``parse_arguments``
    _given_whole: tuple[str, ...] = ()

    def __init__(
        self,
        model_class: type,
        *args: Any,
        allow_callables: Iterable[Callable[..., Any] | str] = (),
        **kwargs: Any,
    ) -> None:
        if not (isinstance(model_class, type) and issubclass(model_class, ConfigurableOptimizersMixin)):
            raise TypeError(
                f"DeclarativeCLI: Expected `model_class` to be a ConfigurableOptimizersMixin module class "
                f"but got {model_class!r}."
            )
        base = compat.lightning_base(model_class)
        if issubclass(model_class, base) and base is not lightning.pytorch.LightningModule:
            raise TypeError(
                "DeclarativeCLI: Expected `model_class` to be a `lightning.pytorch.LightningModule` but got "
                f"`{model_class.__qualname__}`, a `{compat.STANDALONE}.LightningModule`: DeclarativeCLI is "
                "`lightning.pytorch.cli.LightningCLI`, whose Trainer fits `lightning.pytorch` modules only. Base the "
                "class on `lightning.pytorch.LightningModule` (`import lightning.pytorch as pl`: the mixin trains it "
                f"the same), or fit it with a `{compat.STANDALONE}.Trainer` of your own."
            )
        for option in ("subclass_mode_model", "auto_configure_optimizers"):
            if kwargs.get(option):
                raise ValueError(
                    f"DeclarativeCLI: Expected `{option}` to be False but got True; "
                    + (
                        "another class's declarations would not match `optim`. Use one CLI per module class."
                        if option == "subclass_mode_model"
                        else "Lightning's `--optimizer` would replace the declarations; use `--optim.<name>`."
                    )
                )
        kwargs["auto_configure_optimizers"] = False
        # our parser through `init_parser`: LightningCLI takes `parser_class` only from Lightning 2.5.1 on
        self.declarative_parser_class: type[DeclarativeArgumentParser] = declarative_parser_class(
            kwargs.pop("parser_class", LightningArgumentParser)
        )
        self.declared_model_class = model_class
        self.given_class_paths: dict[str, list[str]] = {}
        self.allow_callables: tuple[Callable[..., Any] | str, ...] = (
            *declared_callables(model_class),
            *allow_callables,
        )
        self._load_from_checkpoint_support = kwargs.get("load_from_checkpoint_support", True)
        super().__init__(model_class, *args, **kwargs)  # type: ignore[arg-type]

    @override
    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        """LightningCLI's parser, of the declarative class (for the main command and every subcommand)."""
        kwargs.setdefault("dump_header", [f"lightning.pytorch=={lightning.pytorch.__version__}"])
        parser = self.declarative_parser_class(**kwargs)
        parser.declared_attributes = tuple(declared_specs(self.declared_model_class))
        parser.declared_sections = _declared_values(self.declared_model_class)
        parser.given_class_paths = self.given_class_paths
        parser.add_argument(
            "-c",
            "--config",
            action=_ConfigFile,
            help="Path to a configuration file in json or yaml format.",
        )
        return parser

    @override
    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """LightningCLI's, after refusing a command-line key into a declared list of schedulers, which
        jsonargparse would apply to its last scheduler only."""
        tokens = sys.argv[1:] if args is None else args
        self._given_whole = ()
        if isinstance(tokens, (list, tuple)):
            declared = declared_dicts(self.declared_model_class)[0]
            for section, paths in _given_class_paths(tokens).items():
                self.given_class_paths.setdefault(section, []).extend(paths)
            self._given_whole = tuple(_given_whole(tokens, _declared_sections(declared)))
            lists = {
                f"{OPTIM_KEY}.{name}.{_SCHEDULER}": data[_SCHEDULER]
                for name, data in declared.items()
                if isinstance(data.get(_SCHEDULER), list)
            }
            where = {
                f"{OPTIM_KEY}.{name}.{_SCHEDULER}": f"{self.declared_model_class.__qualname__}.{name}.{_SCHEDULER}"
                for name in declared
            }
            message = _key_into_a_list(tokens, lists, where)
            if message:
                parser.error(message)
            keyed = [section for section in where if section not in lists]
            rewritten, message = _scheduler_as_config(list(tokens), keyed, where)
            if message:
                parser.error(message)
            if rewritten != list(tokens):
                with warnings.catch_warnings():
                    if args is None:  # the command line passed on rewritten, not args given besides it
                        warnings.filterwarnings("ignore", "LightningCLI's args parameter is intended")
                    super().parse_arguments(parser, rewritten)
                return
        super().parse_arguments(parser, args)

    def add_core_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        super().add_core_arguments_to_parser(parser)
        add_declaration_arguments(parser, self.declared_model_class)

    def effective_model_class(self) -> type:
        """The model class with the configured declarations (the declared class when nothing changes)."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        overrides = overrides_from_config(config, self.declared_model_class)
        declared = declared_dicts(self.declared_model_class)[0]
        for section in self._given_whole:
            name, _, scheduler = section.removeprefix(f"{OPTIM_KEY}.").partition(".")
            where = f"{self.declared_model_class.__qualname__}.{name}"
            if scheduler:
                _check_whole(
                    config, section, declared[name][_SCHEDULER], SchedulerSpec, f"{where}.{_SCHEDULER}"
                )
            else:
                _check_whole(config, section, declared[name], OptimizerSpec, where)
        return with_declarations(self.declared_model_class, allow_callables=self.allow_callables, **overrides)

    def instantiate_classes(self) -> None:
        # Everything is read and checked here, before any class of the config is instantiated; a mistake is
        # reported as jsonargparse reports its own (one `error:` line, exit status 2).
        try:
            effective = self.effective_model_class()
        except (TypeError, ValueError) as err:
            self.parser.error(str(err), err)
        self.model_class = effective
        if effective is not self.declared_model_class:
            self.parser.add_instantiator(
                self._instantiator(effective), self.declared_model_class, subclasses=False, prepend=True
            )
        super().instantiate_classes()
        self._check_selection()

    def _check_selection(self) -> None:
        """Select the parameters as ``configure_optimizers`` will, so that a mistyped selector (``params``, a
        group's ``select``) is reported like any other mistake, before the data is set up or a step is run.

        Only once the model's parameters are those ``fit`` optimizes: a module with lazy parameters, or one
        that makes them in ``setup``/``configure_model``, is checked by ``fit`` as without the CLI.
        """
        if not _parameters_are_final(self.model):
            return
        try:
            plan_all(self.model, [declared.grouping for declared in declared_of(self.model)])
        except (TypeError, ValueError) as err:
            self.parser.error(str(err), err)

    def _instantiator(self, effective: type) -> Callable[..., Any]:
        return _ModelInstantiator(self, effective)


#: The hooks in which a module may still make parameters after it is instantiated.
_MAKES_PARAMETERS_LATER = ("setup", "configure_model", "configure_sharded_model")


def _parameters_are_final(model: Any) -> bool:
    """Whether ``model`` has its parameters already: some, none lazy, and no hook of its own to make more."""
    parameters = list(model.parameters())
    if not parameters or any(is_uninitialized(p) for p in parameters):
        return False
    base = lightning.pytorch.LightningModule
    return all(
        getattr(type(model), hook, None) is getattr(base, hook, None) for hook in _MAKES_PARAMETERS_LATER
    )


class _ModelInstantiator:
    """Instantiates the effective model class where the config names the declared one.

    A module-level class rather than a function, as Lightning's own instantiator: ``ddp_spawn`` pickles the
    parser, which holds it, with ``SaveConfigCallback``.
    """

    def __init__(self, cli: DeclarativeCLI, effective: type) -> None:
        self.cli = cli
        self.effective = effective

    def __call__(
        self,
        class_type: type,
        *args: Any,
        applied_instantiation_links: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        # Lightning's own instantiator records the model's config as its hparams
        lightning = (
            compat.lightning_cli_instantiator(self.cli, "model")
            if self.cli._load_from_checkpoint_support
            else None
        )
        if lightning is not None:
            return lightning(
                self.effective, *args, applied_instantiation_links=applied_instantiation_links, **kwargs
            )
        return self.effective(*args, **kwargs)
