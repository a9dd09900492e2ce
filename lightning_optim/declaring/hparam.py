"""``HParam``: a declared value read from the module instance (its hyperparameters) when ``fit`` starts.

Declarations are class attributes, but learning rates are what sweeps, ``LightningCLI``'s ``--model.lr`` and
Lightning's LR finder change, and those write to the module (``module.lr`` or ``module.hparams.lr``). An
``HParam`` in a declaration stands for such a value: it is read with Lightning's own lookup when ``fit``
starts, so every tool that writes there works with no extra code.

Where an ``HParam`` may stand: any argument of the optimizer or of a scheduler (nested ``SchedulerSpec``s of
a composite scheduler included), any option of a ``ParamGroup`` but its ``name``, and the numeric options of
the declarations (``NUMERIC_OPTIONS``: ``layer_decay``, ``layer_decay_min_scale``, ``skip_nonfinite``,
``every``, ``warmup``, ``warmup_start_factor``, ``frequency``, the window's ``begin`` and ``end``),
also inside a list, tuple or dict value (``betas=(HParam("beta1"), 0.999)``). Everything that decides which
parameters train, how they are named or when Lightning steps a scheduler (``params``, ``select``, ``name``,
``interval``, ``unit``, ``monitor``, ``param``, ``no_decay``, ``implementation``, ...) stays literal: those shape the
run (metric keys, checkpoints) and are checked against each other when the class is defined.

This module only finds and substitutes ``HParam``s in a declaration; ``declarations/optimizer.py`` checks a
declaration with its defaults when the class is defined, and ``building/hparams.py`` reads the values from
a module when ``fit`` starts.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from lightning_optim.declaring.specs import OptimizerSpec, ParamGroup, SchedulerSpec, spec_options
from lightning_optim.utilities.errors import listing
from lightning_optim.utilities.numeric import python_number


class _NoDefault:
    """The ``default`` of an ``HParam`` that has none (``None`` is a valid default)."""

    def __repr__(self) -> str:
        return "<no default>"

    def __reduce__(self) -> str:  # pickle and copy give back the module's one instance
        return "NO_DEFAULT"


#: The ``default`` of an ``HParam`` declared without one.
NO_DEFAULT: Final = _NoDefault()


@dataclass(frozen=True, repr=False)
class HParam:
    """A value read from the module instance when ``fit`` starts, by Lightning's lookup.

    The value is ``lightning.pytorch.utilities.parsing.lightning_getattr(module, name)``: an attribute of the
    module, else ``module.hparams[name]``, else the datamodule's (the lookup the LR finder writes through).
    A ``default`` is used when the module has no such value; it is checked like a literal when the class is
    defined, and the value read at ``fit`` is checked with the same checks.

    Args:
        name: the hyperparameter's name, an identifier (``"lr"``, ``"weight_decay"``).
        default: the value when the module has none; without it a missing value is an error at ``fit``.

    Example:
        >>> HParam("lr")
        HParam('lr')
        >>> HParam("weight_decay", default=0.01)
        HParam('weight_decay', default=0.01)
        >>> HParam("learning rate")
        Traceback (most recent call last):
        ...
        ValueError: HParam: Expected `name` to be an identifier such as 'lr' or 'weight_decay' but got 'learning rate'.
    """

    name: str
    default: Any = NO_DEFAULT

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(
                f"HParam: Expected `name` to be a str (the hyperparameter's name) but got {self.name!r}."
            )
        if not self.name.isidentifier():
            raise ValueError(
                "HParam: Expected `name` to be an identifier such as 'lr' or 'weight_decay' but got "
                f"{self.name!r}."
            )
        if contains_hparam(self.default):
            raise TypeError(
                f"HParam({self.name!r}): Expected `default` to be a value but got {self.default!r}; "
                "an HParam cannot default to another HParam."
            )

    @property
    def has_default(self) -> bool:
        """Whether a default was given."""
        return self.default is not NO_DEFAULT

    def __repr__(self) -> str:
        if not self.has_default:
            return f"HParam({self.name!r})"
        return f"HParam({self.name!r}, default={self.default!r})"


def _hparam_options(kind: type) -> tuple[str, ...]:
    """The options of the spec class ``kind`` whose annotation admits an ``HParam``: its signature is the one
    list, so what a type checker accepts is what ``fit`` reads.

    Example:
        >>> _hparam_options(OptimizerSpec)
        ('layer_decay', 'layer_decay_min_scale', 'skip_nonfinite', 'every')
    """
    parameters = inspect.signature(kind).parameters.values()
    return tuple(
        p.name
        for p in parameters
        if p.kind is p.KEYWORD_ONLY and HParam.__name__ in str(p.annotation).replace(" ", "").split("|")
    )


#: The declaration options (besides the optimizers' and schedulers' own arguments) that may be an ``HParam``.
NUMERIC_OPTIONS: Mapping[type, tuple[str, ...]] = {
    kind: _hparam_options(kind) for kind in (OptimizerSpec, SchedulerSpec)
}


@dataclass(frozen=True)
class Occurrence:
    """Where one ``HParam`` stands in a declaration: ``where`` (``Model.optimizer.scheduler``) and ``key``
    (``step_size``, ``betas[0]``)."""

    hparam: HParam
    where: str
    key: str

    @property
    def name(self) -> str:
        return self.hparam.name

    def path(self, root: str) -> str:
        """``key`` relative to ``root`` (the optimizer's ``where``): ``scheduler.step_size``, ``lr``.

        Example:
            >>> Occurrence(HParam("s"), "M.optimizer.scheduler", "step_size").path("M.optimizer")
            'scheduler.step_size'
        """
        inner = self.where[len(root) + 1 :] if self.where.startswith(root + ".") else ""
        return f"{inner}.{self.key}" if inner else self.key


def contains_hparam(value: Any) -> bool:
    """Whether ``value`` is an ``HParam`` or a list, tuple or dict holding one (at any depth).

    Example:
        >>> contains_hparam((HParam("beta1"), 0.999)), contains_hparam([0.9, 0.999])
        (True, False)
    """
    return _holds(value, (HParam,))


def without_hparams(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without the entries that hold an ``HParam`` (their value is not known yet).

    Example:
        >>> without_hparams({"lr": HParam("lr"), "momentum": 0.9})
        {'momentum': 0.9}
    """
    return {key: value for key, value in values.items() if not contains_hparam(value)}


#: What a substitution does with each ``HParam`` it meets: returns the value to put in its place.
ValueOf = Callable[[Occurrence], Any]


def _value(value: Any, where: str, key: str, value_of: ValueOf) -> Any:
    if isinstance(value, HParam):
        return value_of(Occurrence(value, where, key))
    if isinstance(value, SchedulerSpec):
        return _scheduler(value, f"{where}.{key}", value_of)
    if isinstance(value, (list, tuple)) and _holds(value):
        items = [_value(v, where, f"{key}[{i}]", value_of) for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, Mapping) and _holds(value):
        return {k: _value(v, where, f"{key}[{k!r}]", value_of) for k, v in value.items()}
    return value


def _holds(value: Any, kinds: tuple[type, ...] = (HParam, SchedulerSpec)) -> bool:
    """Whether ``value`` is or holds (in lists, tuples and dicts, at any depth) one of ``kinds``: by default
    an ``HParam`` or a ``SchedulerSpec`` (a composite's ``schedulers``)."""
    if isinstance(value, kinds):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds(v, kinds) for v in value)
    if isinstance(value, Mapping):
        return any(_holds(v, kinds) for v in value.values())
    return False


def _refuse(where: str, option: str | None, value: Any, kind: type) -> None:
    """Refuse an ``HParam`` in ``option`` of a ``kind`` (``None``: its first argument, the class or name)."""
    if contains_hparam(value):
        numeric = listing(option for options in NUMERIC_OPTIONS.values() for option in options)
        chooses = option is None or (kind is OptimizerSpec and option == "scheduler")
        named = (
            f"the first argument of the {kind.__name__}"
            if option is None
            else f"`{option}` of the {kind.__name__}"
        )
        raise TypeError(
            f"{where}: Expected {named} to be a literal value but got {value!r}; "
            "an HParam may stand for an argument of the optimizer or of a scheduler, a ParamGroup option "
            f"other than `name`, and the numeric options {numeric}.{chosen_per_class(where) if chooses else ''}"
        )


def chosen_per_class(where: str) -> str:
    """How a sweep or a config chooses the optimizer or a scheduler of the declaration at ``where``: a
    declaration belongs to its class, so another one is another class (an ``__init__`` argument holding a
    spec is recorded in ``hparams`` but declares nothing).

    Example:
        >>> print(chosen_per_class("Model.optimizer.scheduler").strip())
        A declaration is chosen per class, not per instance: `with_declarations(Model, optimizer=OptimizerSpec(...))` returns the subclass declaring it, and `DeclarativeCLI` reads it from the config or command line (`--optim.optimizer.scheduler.class_path=...`, `--optim.optimizer.class_path=...`).
    """
    names = where.split(".")
    # the attribute is the name before the scheduler part (`Model.optimizer.scheduler[0]`), else the last one
    at = next((i for i in range(2, len(names)) if names[i].startswith("scheduler")), len(names))
    owner, attribute = names[at - 2], names[at - 1]
    return (
        " A declaration is chosen per class, not per instance: "
        f"`with_declarations({owner}, {attribute}=OptimizerSpec(...))` returns the subclass declaring it, and "
        "`DeclarativeCLI` reads it from the config or command line "
        f"(`--optim.{attribute}.scheduler.class_path=...`, `--optim.{attribute}.class_path=...`)."
    )


def _options(spec: Any, kind: type, where: str, value_of: ValueOf) -> dict[str, Any]:
    """``kind``'s options of ``spec``: numeric ones substituted, the others refused if they hold an HParam."""
    values = {}
    for option in spec_options(kind):
        value = getattr(spec, option)
        if option in NUMERIC_OPTIONS.get(kind, ()):
            value = _value(value, where, option, value_of)
        elif option not in ("groups", "scheduler"):
            _refuse(where, option, value, kind)
        values[option] = value
    return values


def python_numbers(spec: OptimizerSpec | SchedulerSpec) -> Any:
    """``spec`` with the ``NUMERIC_OPTIONS`` given as numpy scalars (a sweep's grid) written as the Python
    numbers they are, once, where the declaration is checked: what reads them later tells a count from a
    fraction by ``isinstance(value, float)``, and a checkpoint records them as the same literal would be. The
    optimizer's and schedulers' own arguments stay as given; torch gets them as Python numbers too, when they
    are built (``own_values``).

    Example:
        >>> import numpy as np
        >>> python_numbers(SchedulerSpec("cosine", warmup=np.float32(0.25), frequency=np.int64(2), T_max=np.int64(4)))
        SchedulerSpec('cosine', T_max=np.int64(4), frequency=2, warmup=0.25)
    """
    kind = type(spec)
    numbers = {option: python_number(getattr(spec, option)) for option in NUMERIC_OPTIONS[kind]}
    if all(numbers[option] is getattr(spec, option) for option in numbers):
        return spec
    return dataclasses.replace(spec, **numbers)


def _scheduler(spec: SchedulerSpec, where: str, value_of: ValueOf) -> SchedulerSpec:
    _refuse(where, None, spec.scheduler, SchedulerSpec)
    kwargs = {key: _value(value, where, key, value_of) for key, value in spec.kwargs.items()}
    options = _options(spec, SchedulerSpec, where, value_of)
    return dataclasses.replace(spec, kwargs=kwargs, **options)


def _group(group: ParamGroup, where: str, value_of: ValueOf) -> ParamGroup:
    _refuse(where, "select", group.select, ParamGroup)
    _refuse(where, "name", group.options.get("name"), ParamGroup)
    options = {key: _value(value, where, key, value_of) for key, value in group.options.items()}
    return ParamGroup(group.select, **options)


def substitute(where: str, spec: OptimizerSpec, value_of: ValueOf) -> OptimizerSpec:
    """``spec`` (declared as ``where``) with every ``HParam`` replaced by ``value_of(occurrence)``.

    An ``HParam`` where none may stand is a ``TypeError``. Parts that are not well-formed declarations (a
    ``groups`` that is not a list, a scheduler that is not a ``SchedulerSpec``) are kept as they are, for
    the checks to report.

    Example:
        >>> spec = OptimizerSpec("sgd", lr=HParam("lr"), momentum=0.9)
        >>> substitute("Model.optimizer", spec, lambda o: 0.5)
        OptimizerSpec('sgd', lr=0.5, momentum=0.9)
    """
    _refuse(where, None, spec.optimizer, OptimizerSpec)
    kwargs = {key: _value(value, where, key, value_of) for key, value in spec.kwargs.items()}
    options = _options(spec, OptimizerSpec, where, value_of)
    groups = spec.groups
    if isinstance(groups, tuple):
        options["groups"] = tuple(
            _group(g, f"{where}.groups[{i}]", value_of) if isinstance(g, ParamGroup) else g
            for i, g in enumerate(groups)
        )
    else:
        _refuse(where, "groups", groups, OptimizerSpec)
    scheduler = spec.scheduler
    if isinstance(scheduler, SchedulerSpec):
        options["scheduler"] = _scheduler(scheduler, f"{where}.scheduler", value_of)
    elif isinstance(scheduler, tuple):  # several schedulers on one optimizer
        options["scheduler"] = tuple(
            _scheduler(s, f"{where}.scheduler[{i}]", value_of) if isinstance(s, SchedulerSpec) else s
            for i, s in enumerate(scheduler)
        )
    else:
        _refuse(where, "scheduler", scheduler, OptimizerSpec)
    return dataclasses.replace(spec, kwargs=kwargs, **options)


def find_hparams(where: str, spec: OptimizerSpec) -> tuple[Occurrence, ...]:
    """Every ``HParam`` of ``spec`` (declared as ``where``), in declaration order; misplaced ones refused.

    Example:
        >>> spec = OptimizerSpec("sgd", lr=HParam("lr"), scheduler=SchedulerSpec("step", step_size=HParam("s")))
        >>> [(o.where, o.key, o.name) for o in find_hparams("Model.optimizer", spec)]
        [('Model.optimizer', 'lr', 'lr'), ('Model.optimizer.scheduler', 'step_size', 's')]
    """
    found: list[Occurrence] = []

    def record(occurrence: Occurrence) -> HParam:
        found.append(occurrence)
        return occurrence.hparam

    substitute(where, spec, record)
    return tuple(found)


def with_defaults(where: str, spec: OptimizerSpec) -> OptimizerSpec:
    """``spec`` with each ``HParam`` that has a default replaced by it (those without one are kept)."""
    return substitute(where, spec, lambda o: o.hparam.default if o.hparam.has_default else o.hparam)
