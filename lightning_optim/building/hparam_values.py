"""The values of a declaration's ``HParam``s, read from the module when ``fit`` starts.

A class whose declarations hold no ``HParam`` is resolved once, when it is defined, and ``fit`` uses that
resolution as it is. For an optimizer declared with ``HParam``s, the class keeps the resolution of its
defaults (a check); ``values_resolved`` reads each name once with Lightning's own lookup
(``lightning_getattr``: a module attribute, then ``module.hparams``, then the datamodule's hparams),
substitutes the values and runs the same resolution again, so a value read is checked exactly as the same
literal would be when the class is defined (a trial build over one stand-in parameter per group: about
0.3-0.6 ms per optimizer on a CPU for AdamW with a StepLR; nothing for declarations without ``HParam``s).
An error names the hyperparameter it came from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from lightning.pytorch.utilities.parsing import lightning_getattr

from lightning_optim.declaring.hparam import HParam, Occurrence, contains_hparam, substitute
from lightning_optim.declaring.optimizer import (
    ResolvedOptimizer,
    check_decay_left_out,
    check_decay_mult_scales,
    check_optimizer,
    check_zero_driven,
    decay_read_at_fit,
)
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import did_you_mean, user_class


class MissingHParamError(ValueError):
    """An ``HParam`` without default whose name the module does not have."""

    def __init__(self, message: str, occurrence: Occurrence) -> None:
        super().__init__(message)
        self.occurrence = occurrence


_MISSING = object()


def read_hparam(module: Any, name: str) -> Any:
    """``lightning_getattr(module, name)``, or a private marker when the module has no such value.

    An ``HParam`` the class holds under the name (``lr = HParam("lr")`` in the class body, used in a
    declaration as ``lr=lr``) is what the lookup finds wherever the hparams hold no ``lr``: no value either.
    """
    try:
        value = lightning_getattr(module, name)
    except AttributeError:
        return _MISSING
    if isinstance(value, HParam) and name not in vars(module) and getattr(type(module), name, None) is value:
        return _MISSING
    return value


def missing_hint(module: Any, name: str) -> str:
    """The "did you mean" for a hyperparameter ``name`` the module lacks, among those it has (its hparams and
    the datamodule's)."""
    trainer = compat.attached_trainer(module)
    datamodule = getattr(trainer, "datamodule", None) if trainer is not None else None
    known = [*(getattr(module, "hparams", {}) or {}), *(getattr(datamodule, "hparams", {}) or {})]
    return did_you_mean(name, known)


def missing_fix(name: str) -> str:
    """The ways to give a module the hyperparameter ``name``.

    Example:
        >>> missing_fix("lr")
        "Save it with `self.save_hyperparameters()` in `__init__`, set `self.lr`, or give HParam('lr', default=...)."
    """
    return (
        f"Save it with `self.save_hyperparameters()` in `__init__`, set `self.{name}`, or give "
        f"HParam({name!r}, default=...)."
    )


def _missing(module: Any, occurrence: Occurrence) -> MissingHParamError:
    name = occurrence.name
    return MissingHParamError(
        f"{occurrence.where}: Expected the module to have the hyperparameter `{name}` for `{occurrence.key}` "
        f"(declared as HParam({name!r}), without default) but `{user_class(module).__qualname__}` has none"
        f"{missing_hint(module, name)}: Lightning's lookup (`lightning_getattr`) finds no "
        f"attribute `{name}` of the module, no `{name}` in `module.hparams` and none in the datamodule's "
        f"hparams. {missing_fix(name)}",
        occurrence,
    )


def _owner(declared: ResolvedOptimizer) -> str:
    return declared.where[: -len(declared.attribute) - 1]


def _shown(occurrence: Occurrence, where: str, root: str) -> str:
    """Where ``occurrence`` stands, relative to the ``where`` of a message if inside it, else to ``root``.

    Example:
        >>> from lightning_optim.declaring.hparam import HParam
        >>> o = Occurrence(HParam("g"), "M.optimizer.scheduler", "gamma")
        >>> _shown(o, "M.optimizer.scheduler", "M.optimizer"), _shown(o, "M.optimizer", "M.optimizer")
        ('gamma', 'scheduler.gamma')
    """
    full = f"{occurrence.where}.{occurrence.key}"
    return full[len(where) + 1 :] if full.startswith(where + ".") else occurrence.path(root)


def _blamed(err: TypeError | ValueError, declared: ResolvedOptimizer, values: Mapping[str, Any]) -> Exception:
    """``err`` (raised for the values read) with the hyperparameter it comes from named in its message.

    Each name is tried alone (the others left unchecked, as for an HParam without default): the first that
    fails alone is the culprit, and its error is reported. A failure that needs several values together is
    reported with all of them.
    """
    owner = _owner(declared)
    for name, value in values.items():

        def only(occurrence: Occurrence, name: str = name, value: Any = value) -> Any:
            return value if occurrence.name == name else occurrence.hparam

        alone = substitute(declared.where, declared.declaration, only)
        try:
            check_optimizer(owner, declared.attribute, alone)
        except (TypeError, ValueError) as single:
            where, _, rest = str(single).partition(": ")
            paths = [f"`{_shown(o, where, declared.where)}`" for o in declared.hparams if o.name == name]
            return type(single)(f"{where}: {', '.join(paths)} from hparam `{name}` = {value!r}: {rest}")
    read = ", ".join(
        f"`{o.path(declared.where)}` from hparam `{o.name}` = {values[o.name]!r}"
        for o in declared.hparams
        if o.name in values
    )
    return type(err)(f"{err} (values read when `fit` started: {read})")


def with_values(module: Any, declared: ResolvedOptimizer) -> ResolvedOptimizer:
    """``declared`` resolved again with the values of its ``HParam``s read from ``module``."""
    if not declared.hparams:
        return declared
    read: dict[str, Any] = {}  # each name read once
    for occurrence in declared.hparams:
        name = occurrence.name
        if name not in read:
            read[name] = read_hparam(module, name)
        if read[name] is _MISSING and not occurrence.hparam.has_default:
            raise _missing(module, occurrence)
        if contains_hparam(read[name]):
            raise TypeError(
                f"{occurrence.where}: Expected the hyperparameter `{name}` for `{occurrence.key}` to be a "
                f"value but got {read[name]!r}."
            )
    values = {name: value for name, value in read.items() if value is not _MISSING}
    spec = substitute(declared.where, declared.declaration, lambda o: values.get(o.name, o.hparam.default))
    try:
        resolved = check_optimizer(_owner(declared), declared.attribute, spec)
    except (TypeError, ValueError) as err:
        raise _blamed(err, declared, values) from None
    try:
        check_decay_left_out(resolved, declared.declaration)
    except ValueError as err:
        raise _blamed(err, declared, values) from None
    if not decay_read_at_fit(resolved.cls, declared.declaration):  # a decay read at 0 is a sweep's point
        check_decay_mult_scales(resolved)
    # the HParams it reads are those of the declaration: one that gives the driven option is accepted at 0
    check_zero_driven(dataclasses.replace(resolved, hparams=declared.hparams))
    # the values read are the instance's own: each scheduler built uses them as they are (`own_callables`)
    instance_values = tuple(values.values())
    schedulers = tuple(dataclasses.replace(s, instance_values=instance_values) for s in resolved.schedulers)
    # the declaration stays the declared one: it is how the live optimizer is found by its attribute
    return dataclasses.replace(
        resolved, declaration=declared.declaration, hparams=declared.hparams, schedulers=schedulers
    )


def values_resolved(module: Any, declared_all: Sequence[ResolvedOptimizer]) -> tuple[ResolvedOptimizer, ...]:
    """``plans`` with every declaration that holds ``HParam``s resolved with the values ``module`` has."""
    return tuple(with_values(module, declared) for declared in declared_all)


def value_used(module: Any, hparam: HParam) -> Any:
    """The value a build from ``module`` uses for ``hparam``: the module's, else its default (``NO_DEFAULT`` if
    none)."""
    value = read_hparam(module, hparam.name)
    return hparam.default if value is _MISSING else value


def hparam_values(module: Any, declared_all: Sequence[ResolvedOptimizer]) -> dict[str, Any]:
    """Every ``HParam`` name the declared_all use with the value the module has now (a marker when it has none)."""
    return {o.name: read_hparam(module, o.name) for declared in declared_all for o in declared.hparams}


def same_values(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two readings of ``hparam_values`` agree (values that cannot be compared count as changed)."""
    if a.keys() != b.keys():
        return False
    try:
        return all(a[k] is b[k] or (type(a[k]) is type(b[k]) and bool(a[k] == b[k])) for k in a)
    except Exception:
        return False
