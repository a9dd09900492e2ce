"""``ConfigurableOptimizersMixin``: ``configure_optimizers`` from class-attribute declarations."""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from lightning.pytorch import LightningModule

from lightning_optim.building.build import Built, build_all
from lightning_optim.building.hparam_values import hparam_values, values_resolved
from lightning_optim.building.length import EVERIES_ATTRIBUTE, run_shape
from lightning_optim.declaring.hparam import HParam
from lightning_optim.declaring.live import LIVE_CACHE, LiveOptimizers
from lightning_optim.declaring.metric_keys import check_metric_keys
from lightning_optim.declaring.optimizer import (
    DECLARED_ATTRIBUTE,
    ResolvedOptimizer,
    declared_of,
    resolve_optimizer,
)
from lightning_optim.declaring.scheduler_hook import refuse_class_tests
from lightning_optim.declaring.specs import OptimizerSpec, ParamGroup, SchedulerSpec, written_in
from lightning_optim.declaring.training_step import declares_losses
from lightning_optim.training import driven as _driven
from lightning_optim.training import hparam_refresh as _hparams
from lightning_optim.training import lifecycle as _lifecycle
from lightning_optim.training import nonfinite as _nonfinite
from lightning_optim.training import outcomes as _outcomes
from lightning_optim.training import resume as _resume
from lightning_optim.training import schedule_free as _schedule_free
from lightning_optim.training import stepping as _stepping
from lightning_optim.training import unfrozen as _unfrozen
from lightning_optim.training.plateau import StrictMonitor, check_stepped_synced
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import did_you_mean, listing, user_class
from lightning_optim.utilities.keys import PREFIXES_ATTRIBUTE

if TYPE_CHECKING:
    from lightning.pytorch.core.optimizer import LightningOptimizer


def declared_specs(cls: type) -> dict[str, OptimizerSpec]:
    """The ``OptimizerSpec`` class attributes of ``cls`` in definition order, base classes first.

    A subclass replaces a base declaration by assigning the same name (it keeps its position) and removes
    it by assigning ``None``; any other value for a declared name is an error, and so is ``None`` for a new
    name that is a near miss of a declared one (the removal meant would not happen).
    """
    specs: dict[str, OptimizerSpec] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, OptimizerSpec):
                specs[name] = value
            elif name in specs:
                if value is not None:
                    raise TypeError(
                        f"{klass.__qualname__}.{name}: Expected an OptimizerSpec (to replace the base class's) or "
                        f"None (to remove it) but got {value!r}: a base class declares `{name}` as an "
                        "OptimizerSpec."
                    )
                del specs[name]
            elif value is None and not any(name in vars(base) for base in klass.__mro__[1:]):
                close = difflib.get_close_matches(name, specs, n=1, cutoff=0.8)
                if close:
                    raise TypeError(
                        f"{klass.__qualname__}.{name}: Expected `None` to remove a declared optimizer but no base "
                        f"class declares `{name}` (did you mean `{close[0]}`?); `{close[0]}` stays declared."
                    )
    return specs


#: Where each kind of spec is declared, and how.
_PLACES: dict[type, tuple[str, str]] = {
    OptimizerSpec: ("a class attribute of its own", "`gen_opt = OptimizerSpec(...)` for each optimizer"),
    SchedulerSpec: (
        "an optimizer's `scheduler`",
        "`OptimizerSpec(..., scheduler=SchedulerSpec(...))` (or a list)",
    ),
    ParamGroup: ("in an optimizer's `groups`", "`OptimizerSpec(..., groups=[ParamGroup(...)])`"),
}


def _items(value: object) -> tuple[object, ...]:
    """What a list, tuple or dict holds (nothing for another value).

    Example:
        >>> _items({"a": 1}), _items([1, 2]), _items("ab")
        ((1,), (1, 2), ())
    """
    if isinstance(value, dict):
        return tuple(value.values())
    return tuple(value) if isinstance(value, (list, tuple)) else ()


def _nested(value: object) -> tuple[object, ...]:
    """``value`` and what it holds, at any depth: the items of a list, tuple or dict, the arguments of a
    ``SchedulerSpec`` (a composite's ``schedulers``).

    Example:
        >>> warmup = SchedulerSpec("linear", total_iters=2)
        >>> warmup in _nested(SchedulerSpec("sequential", schedulers=[warmup, SchedulerSpec("cosine")], milestones=[2]))
        True
    """
    inner = value.kwargs.values() if isinstance(value, SchedulerSpec) else _items(value)
    return (value, *(part for item in inner for part in _nested(item)))


def _parts(spec: OptimizerSpec) -> tuple[object, ...]:
    """``spec``'s schedulers (with those inside a composite's arguments) and groups (as declared: malformed ones
    are for the declaration checks)."""
    groups = spec.groups if isinstance(spec.groups, (list, tuple)) else ()
    return (*_nested(spec.scheduler), *groups)


def _refuse_strays(cls: type, specs: dict[str, OptimizerSpec]) -> None:
    """A spec among ``cls``'s own attributes that no declaration uses would declare nothing, silently: a
    ``SchedulerSpec`` or ``ParamGroup`` as a class attribute of its own (declaring it there and passing it to
    an ``OptimizerSpec``, or to a composite scheduler such as ``"sequential"``'s ``schedulers``, is fine), or
    ``OptimizerSpec``s in a list, tuple or dict. A class declaring no optimizer may hold specs for its
    subclasses: the first of them to declare one must use them (or set the attribute to ``None``), as if it held
    them itself (``_inherited``).

    Example:
        >>> class Module:
        ...     scheduler = SchedulerSpec("cosine")
        >>> _refuse_strays(Module, {"optimizer": OptimizerSpec("sgd", lr=0.1)})
        Traceback (most recent call last):
        TypeError: Module.scheduler: Expected every `SchedulerSpec` to be an optimizer's `scheduler` but got one as a class attribute, which declares nothing. Declare `OptimizerSpec(..., scheduler=SchedulerSpec(...))` (or a list).
    """
    used = {id(part) for spec in specs.values() for part in (spec, *_parts(spec))}
    for name, value, holder in [*((n, v, cls) for n, v in vars(cls).items()), *_inherited(cls, specs)]:
        for stray in (value, *_items(value)):  # an OptimizerSpec attribute is a declaration: among `used`
            kind = next((k for k in _PLACES if isinstance(stray, k)), None)
            if kind is None or id(stray) in used or (kind is not OptimizerSpec and not specs):
                continue
            place, example = _PLACES[kind]
            got = "one as a class attribute" if stray is value else f"one in a {type(value).__name__}"
            fix = ""
            if holder is not cls:
                got += f" of the base class `{holder.__qualname__}`"
                fix = f", e.g. `{name}={holder.__name__}.{name}`, or set `{name} = None` in `{cls.__name__}`"
            raise TypeError(
                f"{cls.__qualname__}.{name}: Expected every `{kind.__name__}` to be {place} but got {got}, "
                f"which declares nothing"
                + (f" (no declaration of `{cls.__name__}` uses it)" if holder is not cls else "")
                + f". Declare {example}{fix}."
            )


def _refuse_stray_hparams(
    cls: type, specs: dict[str, OptimizerSpec], declared: Sequence[ResolvedOptimizer]
) -> None:
    """An ``HParam`` among ``cls``'s own attributes (or inherited as ``_inherited`` says) that no declaration
    holds, under the name of a hyperparameter a declaration reads: a second, dead ``HParam`` for that value
    (``lr = HParam("lr", default=0.3)`` beside ``OptimizerSpec(lr=HParam("lr", default=0.1))`` trains at 0.1).
    One under another name may be kept for subclasses to use (``WARMUP = HParam("warmup", default=0)``), and
    using it in a declaration (``lr = HParam("lr")`` then ``OptimizerSpec(..., lr=lr)``) is fine.

    Example:
        >>> class Module:
        ...     lr = HParam("lr", default=0.3)
        ...     kept = HParam("warmup", default=0)
        >>> _refuse_stray_hparams(Module, {"optimizer": OptimizerSpec("sgd", lr=0.1)}, ())
        >>> declared = resolve_optimizer("Module", "optimizer", OptimizerSpec("sgd", lr=HParam("lr", default=0.1)))
        >>> _refuse_stray_hparams(Module, {"optimizer": declared.spec}, (declared,))
        Traceback (most recent call last):
        TypeError: Module.lr: Expected every `HParam` to be a value in a declaration but got one as a class attribute, which declares nothing, under the name of the hyperparameter `lr` that Module.optimizer reads for `lr` (HParam('lr', default=0.1)): Lightning's lookup (`lightning_getattr`) finds this attribute for `lr` wherever the module's hparams hold none, and it is no value. Use it in Module.optimizer (`lr=lr`), or remove it.
    """
    if not specs:
        return
    used = {id(o.hparam) for d in declared for o in d.hparams}
    for name, value, holder in [*((n, v, cls) for n, v in vars(cls).items()), *_inherited(cls, specs)]:
        stray = next(
            (v for v in (value, *_items(value)) if isinstance(v, HParam) and id(v) not in used), None
        )
        reader = next((o for d in declared for o in d.hparams if o.name == name), None)
        if stray is None or reader is None:
            continue
        got = "one as a class attribute" if stray is value else f"one in a {type(value).__name__}"
        use = name if holder is cls else f"{holder.__name__}.{name}"
        if holder is not cls:
            got += f" of the base class `{holder.__qualname__}`"
        raise TypeError(
            f"{cls.__qualname__}.{name}: Expected every `HParam` to be a value in a declaration but got {got}, "
            f"which declares nothing, under the name of the hyperparameter `{name}` that {reader.where} reads for "
            f"`{reader.key}` ({reader.hparam!r}): Lightning's lookup (`lightning_getattr`) finds this attribute "
            f"for `{name}` wherever the module's hparams hold none, and it is no value. Use it in {reader.where} "
            f"(`{reader.key}={use}`), or remove it."
        )


def _inherited(cls: type, specs: dict[str, OptimizerSpec]) -> list[tuple[str, Any, type]]:
    """``(name, value, base)`` for each attribute ``cls`` inherits from a base, when ``cls`` is the first class
    of its line to declare an optimizer (a base that declares one checked its attributes when defined)."""
    bases = cls.__mro__[1:]
    if not specs or any(isinstance(v, OptimizerSpec) for base in bases for v in vars(base).values()):
        return []
    found: dict[str, tuple[str, Any, type]] = {}
    for base in bases:
        for name, value in vars(base).items():
            if name not in vars(cls) and name not in found:
                found[name] = (name, value, base)
    return list(found.values())


def _check_names(cls: type, specs: dict[str, OptimizerSpec]) -> None:
    for name in specs:
        if hasattr(LightningModule, name) or hasattr(ConfigurableOptimizersMixin, name):
            member = (
                "a LightningModule member"
                if hasattr(LightningModule, name)
                else "ConfigurableOptimizersMixin's own option (what a resume does with a changed setup)"
                if name == _RESUME_ATTRIBUTE
                else "a ConfigurableOptimizersMixin member"
            )
            raise ValueError(
                f"{cls.__qualname__}.{name}: the attribute name `{name}` is {member} and would be "
                "shadowed by the declaration; choose another name (e.g. `optimizer`, `gen_opt`)."
            )
    seen: dict[int, str] = {}
    for name, spec in specs.items():
        if id(spec) in seen:
            raise ValueError(
                f"{cls.__qualname__}.{name}: the same OptimizerSpec object is also assigned to `{seen[id(spec)]}`; "
                "declare a separate OptimizerSpec for each optimizer."
            )
        seen[id(spec)] = name
    writer = next((k for k in cls.__mro__ if "configure_optimizers" in vars(k)), None)
    modules = compat.lightning_classes("LightningModule")
    if specs and writer in modules:
        first = next(b for b in cls.__bases__ if issubclass(b, modules))
        listed = f"`{written_in(cls, [first])[0]}`" + ("" if first in modules else " (a `LightningModule`)")
        others = written_in(cls, [base for base in cls.__bases__ if base is not ConfigurableOptimizersMixin])
        raise TypeError(
            f"{cls.__qualname__}: lists {listed} before `ConfigurableOptimizersMixin` in its bases, so "
            f"Lightning's `configure_optimizers` would ignore the declarations ({', '.join(specs)}). Put the mixin "
            f"first: `class {cls.__name__}(ConfigurableOptimizersMixin, {', '.join(others)})`."
        )
    if specs and writer is not None and writer is not ConfigurableOptimizersMixin and _calls_super(writer):
        raise TypeError(
            f"{writer.__qualname__}.configure_optimizers: Expected no `configure_optimizers` of the module's own "
            "but got one that calls the mixin's (`super().configure_optimizers()`): the mixin writes "
            "`configure_optimizers` from "
            f"the declarations ({', '.join(specs)}) and an override of it is not supported (the mixin's stepping, "
            "resume and scheduler checks are set up with what it returns). Remove it and declare the change: "
            "another `OptimizerSpec` or `SchedulerSpec`, values from `__init__` with `HParam`, a subclass "
            "replacing a declaration; to act on each scheduler step, override `lr_scheduler_step` and call "
            "`super()`."
        )
    if specs and writer is not None and writer is not ConfigurableOptimizersMixin:
        raise TypeError(
            f"{cls.__qualname__}: declares optimizers ({', '.join(specs)}) and also defines "
            f"`configure_optimizers` in `{writer.__qualname__}`; the declarations would be ignored. "
            f"{_ways_out(cls, writer, specs)}."
        )


def _ways_out(cls: type, writer: type, specs: dict[str, OptimizerSpec]) -> str:
    """The fixes of declarations beside ``writer``'s ``configure_optimizers``, with those that need no edit of a
    base the user may not own: the bases reordered when ``writer`` is a base listed before the one bringing the
    mixin; ``None`` for each declaration when all are inherited."""
    ways = []
    bases = cls.__bases__
    via = next((b for b in bases if issubclass(b, ConfigurableOptimizersMixin)), None)
    before = next((b for b in bases if issubclass(b, writer)), None)
    if via is not None and before is not None and bases.index(before) < bases.index(via):
        listed = written_in(cls, [via, *(b for b in bases if b is not via)])
        ways.append(f"put `{listed[0]}` first: `class {cls.__name__}({', '.join(listed)})`")
    if any(name in vars(cls) for name in specs):
        ways.append("remove one of the two")
    else:
        if writer is cls:
            ways.append(f"remove `configure_optimizers` from `{cls.__name__}` (the declarations then train)")
        removals = "; ".join(f"{name} = None" for name in specs)
        ways.append(
            f"to train with `{writer.__qualname__}.configure_optimizers`, remove the inherited declarations in "
            f"`{cls.__name__}`: `{removals}`"
        )
    text = ", or ".join(ways)
    return text[0].upper() + text[1:]


def _calls_super(writer: type) -> bool:
    """Whether ``writer``'s own ``configure_optimizers`` calls the mixin's (to extend it, so the declarations do
    get built): ``super().configure_optimizers()``, or through a class bringing the mixin
    (``ConfigurableOptimizersMixin.configure_optimizers(self)``)."""
    function = vars(writer)["configure_optimizers"]
    code = getattr(function, "__code__", None)
    if code is None or "configure_optimizers" not in code.co_names:
        return False
    named = getattr(function, "__globals__", {})
    return any(
        name == "super"
        or (isinstance(named.get(name), type) and issubclass(named[name], ConfigurableOptimizersMixin))
        for name in code.co_names
    )


def _check_resume_choice(cls: type) -> None:
    """``resume_changed_setup`` is a known choice, and no class attribute is a misspelling of it (which the
    mixin would never read, leaving the default ``"error"`` in force)."""
    choice = cls.resume_changed_setup  # type: ignore[attr-defined]
    if choice not in _resume.RESUME_CHOICES:
        hint = did_you_mean(choice, _resume.RESUME_CHOICES) if isinstance(choice, str) else ""
        raise ValueError(
            f"{cls.__qualname__}.resume_changed_setup: Expected one of "
            f"{', '.join(map(repr, _resume.RESUME_CHOICES))} but got {choice!r}{hint}."
        )
    for name, value in vars(cls).items():
        if name != _RESUME_ATTRIBUTE and difflib.get_close_matches(name, [_RESUME_ATTRIBUTE], cutoff=0.85):
            raise TypeError(
                f"{cls.__qualname__}.{name}: Expected the attribute `{_RESUME_ATTRIBUTE}` but got `{name}` = "
                f"{value!r} (did you mean `{_RESUME_ATTRIBUTE}`?); the mixin reads only `{_RESUME_ATTRIBUTE}`, so "
                "this one would be ignored."
            )


_RESUME_ATTRIBUTE = "resume_changed_setup"


def _declare(cls: type) -> None:
    """Check ``cls``'s declarations and keep them resolved on the class (``DECLARED_ATTRIBUTE``)."""
    specs = declared_specs(cls)
    _refuse_strays(cls, specs)
    _check_names(cls, specs)
    declared = tuple(resolve_optimizer(cls.__qualname__, name, spec) for name, spec in specs.items())
    _refuse_stray_hparams(cls, specs, declared)
    type.__setattr__(cls, DECLARED_ATTRIBUTE, declared)
    check_metric_keys(cls.__qualname__, declared)
    _check_resume_choice(cls)
    driven = _driven.check_class(cls, declared)
    _refuse_automatic_class_attribute(cls, declared, driven)
    if not driven:
        _refuse_optimizer_idx(cls, declared)
    _driven.write_training_step(cls, driven)
    _check_fit_start_first(cls)
    if driven:
        _refuse_uncalled_overrides(cls, "`loss` on its optimizers")
    elif len(declared) > 1:
        _refuse_uncalled_overrides(
            cls, f"{len(declared)} optimizers", ("lr_scheduler_step", *_MANUAL_UNCALLED)
        )
    else:
        _refuse_scheduler_class_tests(cls, declared)
    catch_alls = [d.attribute for d in declared if d.params is None]
    if len(catch_alls) > 1:
        raise ValueError(
            f"{cls.__qualname__}: {', '.join(catch_alls)} all use `params=None` (every parameter no other "
            "optimizer takes); at most one optimizer can. Give the others a `params` selector."
        )


def _automatic_refused(
    owner: str, declared: Sequence[ResolvedOptimizer], driven: bool, holder: str = ""
) -> ValueError:
    """The error for ``automatic_optimization = True`` (in ``__init__``, or a class attribute of ``holder``) on a
    module the mixin trains in manual optimization: several optimizers, or a training step it writes (``loss``).

    Example:
        >>> one = resolve_optimizer("GAN", "optimizer", OptimizerSpec("sgd", lr=0.1, loss="gen_loss"))
        >>> print(_automatic_refused("GAN", (one,), driven=True, holder="Base"))
        GAN: declares `loss` on its optimizer (optimizer) but sets `automatic_optimization = True` (in `Base`); the mixin writes its training step in manual optimization. Remove that line: the mixin switches to manual optimization and steps the schedulers.
    """
    names = ", ".join(d.attribute for d in declared)
    where = f" (in `{holder}`)" if holder else ""
    if len(declared) > 1:
        what = f"declares {len(declared)} optimizers ({names})"
        why = "Lightning's automatic optimization supports one optimizer"
    else:
        what = f"declares `loss` on its optimizer ({names})"
        why = "the mixin writes its training step in manual optimization"
    return ValueError(
        f"{owner}: {what} but sets `automatic_optimization = True`{where}; {why}. Remove that line: the mixin "
        "switches to manual optimization and steps the schedulers."
    )


def _refuse_automatic_class_attribute(cls: type, declared: Sequence[ResolvedOptimizer], driven: bool) -> None:
    """``automatic_optimization = True`` as a class attribute (``cls``'s own or a base's), which Lightning honours as
    it does the assignment in ``__init__``, on a class the mixin trains in manual optimization: the mixin's
    ``__init__`` (several optimizers) or ``write_training_step`` (``loss``) would replace it without a word."""
    if not driven and len(declared) < 2:
        return
    holder = next((k for k in cls.__mro__ if "automatic_optimization" in vars(k)), None)
    if holder is not None and vars(holder)["automatic_optimization"] is True:
        raise _automatic_refused(
            cls.__qualname__, declared, driven, "" if holder is cls else holder.__qualname__
        )


def _changed_declarations(cls: type) -> list[str]:
    """The declarations of ``cls`` assigned, replaced or removed since the mixin declared it (``_declare``)."""
    if DECLARED_ATTRIBUTE not in vars(cls):
        return []
    resolved = {d.attribute: d.declaration for d in vars(cls)[DECLARED_ATTRIBUTE]}
    now = declared_specs(cls)
    return [
        n for n in [*resolved, *(n for n in now if n not in resolved)] if resolved.get(n) is not now.get(n)
    ]


def _refuse_changes_after_definition(cls: type) -> None:
    """Declarations are checked and resolved when the class is defined; one assigned, replaced or removed later
    (``Model.optimizer = ...``) would not be what trains everywhere (a pickled module or a spawned worker imports
    the class as defined, a ``with_declarations`` class records its overrides), so it is refused. One an
    ``__init_subclass__`` assigns after calling ``super().__init_subclass__()`` is part of the class statement
    (``_declaring_after``), except in an ``__init_subclass__`` of a class without the mixin listed before it,
    which the mixin does not see until its first subclass: the message names the way that works there."""
    changed = _changed_declarations(cls)
    if changed:
        name = changed[0]
        hook = _unseen_init_subclass(cls)
        there = (
            f"; in `{hook.__qualname__}.__init_subclass__`, assign it before calling `super().__init_subclass__()`"
            if hook is not None
            else ""
        )
        raise TypeError(
            f"{cls.__qualname__}.{name}: Expected the declarations to stay as the class defines them but got "
            f"{listing(changed)} assigned after the class body (`{cls.__name__}.{name} = ...`): "
            "the mixin checks and resolves declarations when the class is defined, and a module pickled for "
            "spawned workers or a checkpoint reads the class as defined. Declare a subclass instead, e.g. for a "
            f"sweep `with_declarations({cls.__name__}, {name}=OptimizerSpec(...))` (`None` removes one){there}."
        )


#: Marks an ``__init_subclass__`` that declares the class again when it changed a declaration (``_declaring_after``).
_DECLARES_AFTER = "_lightning_optim_declares_after"


def _init_subclass_before_mixin(classes: Sequence[type]) -> type | None:
    """The first of ``classes`` (an MRO) defining ``__init_subclass__``, if it comes before the mixin: the one that
    runs around the mixin's."""
    for klass in classes:
        if klass is ConfigurableOptimizersMixin:
            return None
        if "__init_subclass__" in vars(klass):
            return klass
    return None


def _unseen_init_subclass(cls: type) -> type | None:
    """The class whose ``__init_subclass__`` created ``cls`` around the mixin's without declaring it again after
    (``_declaring_after``): one without the mixin, listed before it, whose code after ``super()`` the mixin cannot
    follow when the first of its subclasses with the mixin is created."""
    definer = _init_subclass_before_mixin(cls.__mro__[1:])
    hook = vars(definer)["__init_subclass__"] if definer is not None else None
    return definer if not getattr(getattr(hook, "__func__", None), _DECLARES_AFTER, False) else None


def _declare_after_init_subclass(cls: type) -> None:
    """Make the ``__init_subclass__`` that runs for ``cls``'s subclasses around the mixin's (``cls``'s own, or one
    of a base listed before the mixin) declare the subclass again if it changed a declaration after calling
    ``super().__init_subclass__()``: still the class statement, which a worker importing the class runs too.

    Example:
        >>> class Auto(ConfigurableOptimizersMixin, LightningModule):
        ...     def __init_subclass__(cls, lr=0.1, **kwargs):
        ...         super().__init_subclass__(**kwargs)
        ...         cls.optimizer = OptimizerSpec("sgd", lr=lr)
        >>> class Model(Auto, lr=0.3):
        ...     pass
        >>> [d.declaration for d in current_declarations(Model)]
        [OptimizerSpec('sgd', lr=0.3)]
    """
    definer = _init_subclass_before_mixin(cls.__mro__)
    hook = vars(definer)["__init_subclass__"] if definer is not None else None
    if not isinstance(hook, classmethod) or getattr(hook.__func__, _DECLARES_AFTER, False):
        return
    own = hook.__func__

    @functools.wraps(own)
    def __init_subclass__(subclass: type, **kwargs: Any) -> None:
        own(subclass, **kwargs)
        if _changed_declarations(subclass):
            _declare(subclass)

    setattr(__init_subclass__, _DECLARES_AFTER, True)
    type.__setattr__(cls, "__init_subclass__", classmethod(__init_subclass__))


def _refuse_instance_specs(module: object) -> None:
    """A spec assigned to the instance (``self.optimizer = OptimizerSpec(...)`` in ``__init__``) is never read:
    the declarations are the class's."""
    for name, value in getattr(module, "__dict__", {}).items():
        if isinstance(value, (OptimizerSpec, SchedulerSpec, ParamGroup)):
            owner = user_class(module).__qualname__
            raise TypeError(
                f"{owner}.{name}: Expected the declaration to be a class attribute but got "
                f"`{type(value).__name__}(...)` assigned to the instance (`self.{name} = ...`), which the mixin never "
                "reads: the declarations are the class's. Declare it on the class (or a subclass, or "
                f"`with_declarations({user_class(module).__name__}, {name}=...)`), and take values from `__init__` "
                f"arguments with `HParam` (`OptimizerSpec('adam', lr=HParam('lr'))`; docs/guides/hparams.md)."
            )


def current_declarations(module_or_class: Any) -> tuple[ResolvedOptimizer, ...]:
    """The resolved declarations of a mixin class or module, for where a run, a preview or a description starts
    (not for every step: ``declared_of``). A class whose own ``__init_subclass__`` skipped the mixin's (a base's
    override without ``super()``) is declared now, with the checks of class definition; a declaration changed on
    the class after its body, or a spec assigned to the instance, is refused."""
    cls = module_or_class if isinstance(module_or_class, type) else user_class(module_or_class)
    if not isinstance(module_or_class, type):
        _refuse_instance_specs(module_or_class)
    if issubclass(cls, ConfigurableOptimizersMixin):
        if DECLARED_ATTRIBUTE not in vars(cls):
            _declare(cls)
        else:
            _refuse_changes_after_definition(cls)
    return declared_of(cls)


def _choose_optimization(module: Any, declared: tuple[ResolvedOptimizer, ...]) -> None:
    """Several declared optimizers train in manual optimization; with ``loss``, manual optimization starts at
    ``configure_optimizers`` (training/driven.py)."""
    if len(declared) > 1 and not declares_losses(declared):
        module.automatic_optimization = False


#: Set by ``ConfigurableOptimizersMixin.__init__``: an ``__init__`` that skips it is told so.
_INITIALIZED = "_lightning_optim_initialized"


def _refuse_shadowed_names(module: Any, declared_all: Sequence[ResolvedOptimizer]) -> None:
    """A declaration's attribute that the instance also holds hides one of the two: a submodule (in ``_modules``)
    is hidden by the declaration (``self.<name>`` is the optimizer: the class attribute wins over ``nn.Module``'s
    submodules; a parameter or buffer of that name is refused by torch itself); any other value (in ``__dict__``:
    a hand-written ``SGD(...)`` left over, an ``__init__`` argument stored under the name) hides the declaration,
    so ``self.<name>`` in a ``training_step`` is that value while the mixin trains the declared optimizer."""
    for declared in declared_all:
        name = declared.attribute
        if name in vars(module).get("_modules", {}):
            raise ValueError(
                f"{declared.where}: Expected `{name}` to name only the declared optimizer but `__init__` also "
                f"assigns a submodule to `self.{name}`, which the declaration hides (`self.{name}` is the "
                f"optimizer, so the submodule cannot be called). Rename the optimizer, e.g. `{name}_opt`."
            )
        if name in vars(module):
            value = vars(module)[name]
            raise ValueError(
                f"{declared.where}: Expected `{name}` to name only the declared optimizer but the instance also "
                f"holds `self.{name} = {_shown_value(value)}` (assigned in `__init__` or a hook), which hides the "
                f"declaration: `self.{name}` would be that value, not the live optimizer the mixin trains. Remove "
                f"the assignment (the declaration builds the optimizer), or store the value under another name, "
                f"e.g. `self.{name}_name`, and take declared values from `__init__` arguments with `HParam`."
            )


def _shown_value(value: object) -> str:
    """A short description of an instance value, for a message.

    Example:
        >>> _shown_value("adam")
        "'adam'"
        >>> _shown_value(object())
        '<object object>'
    """
    text = repr(value)
    if len(text) <= 40 and "\n" not in text and not text.startswith("<"):
        return text
    return f"<{type(value).__name__} object>"


def _check_fit_start(module: Any) -> None:
    """The mixin's checks when ``fit`` starts, before Lightning checks the Trainer: it refuses the Trainer settings
    manual optimization cannot honour in its own words (Lightning's check would advise switching to automatic
    optimization, which several optimizers cannot), and several optimizers without a training step."""
    trainer = compat.attached_trainer(module)
    if trainer is not None and trainer.state.fn == "fit":
        declared = current_declarations(module)
        _check_training_step_written(module, declared)
        if not trainer.lightning_module.automatic_optimization:
            check_manual_trainer_settings(user_class(module).__qualname__, declared, trainer)


#: Marks a ``configure_callbacks`` that runs ``_check_fit_start`` (``_checking_fit_start``).
_CHECKS_FIT_START = "_lightning_optim_checks_fit_start"


def _checking_fit_start(hook: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``hook``, a ``configure_callbacks``, running ``_check_fit_start`` first when it is the module's own (the
    hook Lightning calls), so the checks run once however many overrides call ``super()``."""

    @functools.wraps(hook)
    def configure_callbacks(self: Any) -> Any:
        if type(self).configure_callbacks is configure_callbacks:
            _check_fit_start(self)
        return hook(self)

    setattr(configure_callbacks, _CHECKS_FIT_START, True)
    return configure_callbacks


def _check_fit_start_first(cls: type) -> None:
    """Give ``cls`` a ``configure_callbacks`` that runs the mixin's checks (``_checking_fit_start``) if the one it
    uses would not: Lightning's docs override the hook without ``super()`` (``LightningModule``'s returns
    ``[]``), which would skip the mixin's and leave Lightning's advice to switch to automatic optimization."""
    hook = getattr(cls, "configure_callbacks", None)
    if inspect.isfunction(hook) and not getattr(hook, _CHECKS_FIT_START, False):
        type.__setattr__(cls, "configure_callbacks", _checking_fit_start(hook))


class ConfigurableOptimizersMixin:
    """Supplies ``configure_optimizers`` from ``OptimizerSpec`` class attributes.

    Put it before ``LightningModule`` in the bases. Declarations are checked when the class is defined.
    With one declared optimizer the module keeps automatic optimization and Lightning steps the scheduler
    as declared. With several, the module switches to manual optimization (``training_step`` steps each
    optimizer, reachable by its attribute name or through ``self.optimizers()`` in declaration order) and
    the mixin steps every scheduler itself, honouring its interval and frequency by Lightning's rule (so a
    declaration gives the same lrs in both modes), and stops with an error when the first training batch
    steps nothing or a scheduler is also stepped by the module (see ``training/stepping.py``). It does so
    for a single optimizer in manual optimization too. When every optimizer declares ``loss="<method>"`` the
    mixin writes the ``training_step`` itself (``training/driven.py``). In every mode a per-step schedule
    waits for an applied optimizer step (``training/outcomes.py``).

    Example:
        >>> import lightning as L
        >>> from torch import nn
        >>> from torch.optim.lr_scheduler import StepLR
        >>> from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec
        >>> class Classifier(ConfigurableOptimizersMixin, L.LightningModule):
        ...     optimizer = OptimizerSpec("adam", lr=0.05, scheduler=SchedulerSpec(StepLR, step_size=30))
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.net = nn.Linear(4, 2)
        >>> Classifier.optimizer
        OptimizerSpec('adam', lr=0.05, scheduler=SchedulerSpec(StepLR, step_size=30))
        >>> class Broken(ConfigurableOptimizersMixin, L.LightningModule):
        ...     optimizer = OptimizerSpec("adam", scheduler=SchedulerSpec(StepLR, step_size=30, lnterval="step"))
        Traceback (most recent call last):
        ...
        TypeError: Broken.optimizer.scheduler: `StepLR` got an unexpected argument `lnterval` (did you mean `interval`?). ...
    """

    _lightning_optim_declared: ClassVar[tuple[ResolvedOptimizer, ...]] = ()
    _lightning_optim_declares: ClassVar[bool] = True  # read by ``OptimizerSpec.__set_name__``

    #: What resuming from a checkpoint of a changed setup does (see "Safe resume" in the README):
    #: ``"error"`` refuses it, naming what changed; ``"fresh"`` keeps the weights and the loop's progress and
    #: starts every optimizer and schedule anew; ``"continue"`` also keeps the optimizer state of every group
    #: whose name and parameters match, and evaluates every schedule at the resumed step.
    resume_changed_setup: ClassVar[_resume.ResumeChoice] = "error"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _declare(cls)
        _declare_after_init_subclass(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        object.__setattr__(self, _INITIALIZED, True)
        _choose_optimization(self, current_declarations(type(self)))

    def _lightning_optim_live_optimizer(self, spec: OptimizerSpec) -> OptimizerSpec | LightningOptimizer:
        """The live optimizer declared by ``spec`` while this module trains, else ``spec`` itself.

        ``OptimizerSpec.__get__`` answers from the module's cache while it is valid and calls this otherwise:
        it rebuilds the cache (``declarations/live.py``).
        """
        cached = LiveOptimizers.current_for(self)
        if cached is None:
            trainer = compat.attached_trainer(self)
            if trainer is None:
                self.__dict__.pop(LIVE_CACHE, None)
                return spec
            cached = LiveOptimizers(trainer, [d.declaration for d in self._lightning_optim_declared])
            self.__dict__[LIVE_CACHE] = cached
        return cached.by_spec.get(id(spec), spec)

    def _lightnings_callbacks(self) -> Any:
        return super().configure_callbacks()  # type: ignore[misc]  # a LightningModule follows in the MRO

    #: Lightning's own callbacks hook, which runs before Lightning checks the Trainer: the mixin's checks run
    #: first there (``_check_fit_start``), also in a class that overrides it without ``super()``.
    configure_callbacks = _checking_fit_start(_lightnings_callbacks)

    def __getstate__(self) -> dict[str, Any]:
        # the cache holds Lightning's optimizer wrappers, which cannot be pickled, and the Trainer (dropped by
        # Lightning's own ``__getstate__``)
        state: dict[str, Any] = super().__getstate__()  # type: ignore[assignment]
        state.pop(LIVE_CACHE, None)
        _refuse_changes_after_definition(
            user_class(self)
        )  # a spawned worker would import the class as defined
        return state

    def configure_optimizers(self) -> Any:
        """Build the declared optimizers and schedulers in Lightning's dict format (the two-list format when an
        optimizer declares a list of schedulers)."""
        if not isinstance(self, compat.lightning_classes("LightningModule")):
            raise TypeError(
                f"{user_class(self).__qualname__}: ConfigurableOptimizersMixin must be mixed into a LightningModule "
                "(class Model(ConfigurableOptimizersMixin, L.LightningModule))."
            )
        module: LightningModule = self
        declared_all = current_declarations(module)
        if not declared_all:
            raise ValueError(
                f"{user_class(self).__qualname__}: no optimizer is declared. Assign an OptimizerSpec to a class "
                "attribute, e.g. `optimizer = OptimizerSpec('adam', lr=1e-3)`."
            )
        _refuse_shadowed_names(module, declared_all)
        driven = declares_losses(declared_all)
        manual = driven or not module.automatic_optimization
        if len(declared_all) > 1 and not manual and not vars(module).get(_INITIALIZED, False):
            raise TypeError(
                f"{user_class(self).__qualname__}: Expected `ConfigurableOptimizersMixin.__init__` to run but it did not "
                "(does `__init__` call `L.LightningModule.__init__(self)` directly?); it turns automatic "
                f"optimization off for the {len(declared_all)} declared optimizers. Call `super().__init__()`."
            )
        if (len(declared_all) > 1 and not manual) or (driven and _driven.written_automatic(module)):
            raise _automatic_refused(user_class(self).__qualname__, declared_all, driven)
        if manual:
            _refuse_uncalled_overrides(user_class(self), "`automatic_optimization = False`")
        trainer = compat.attached_trainer(module)
        # declarations reading HParams are resolved again with the module's values (building/hparam_values.py)
        values = hparam_values(module, declared_all) if any(d.hparams for d in declared_all) else None
        if values is not None:
            declared_all = values_resolved(module, declared_all)
        built = build_all(module, declared_all, trainer)
        setattr(self, PREFIXES_ATTRIBUTE, [b.prefix for b in built])
        setattr(self, EVERIES_ATTRIBUTE, tuple(d.spec.every for d in declared_all))
        owner, choice = user_class(self).__qualname__, self.resume_changed_setup
        if trainer is None:
            for b in built:  # no run to wait for: shapes from the declarations alone
                for schedule, scheduler in b.scheduled():
                    schedule.fix(run_shape(None, scheduler))
        else:
            # each install makes its callback the first of the mixin's: the schedule-free modes switch last
            _schedule_free.install(trainer, [b.optimizer for b in built])
            outcomes = _outcomes.install(trainer, built, manual=manual)  # its hooks run before the stepping's
            _nonfinite.install(trainer, built, outcomes)
            if driven:
                _driven.install(module, trainer, built)  # after `skip_nonfinite`: clipping comes first
            stepping = _stepping.install(owner, trainer, built, outcomes) if manual else None
            _unfrozen.install(owner, trainer)
            positions = _resume.install(owner, trainer, built, choice, stepping)
            _lifecycle.install(owner, trainer, built, choice, positions)  # first: before any reader
            _hparams.install(owner, trainer, module, values, built)
        return lightning_configs(built, manual=manual, trainer=trainer)

    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        """Lightning's scheduler step (automatic optimization), except that a declared per-step schedule waits
        for an applied optimizer step: after a step the ``GradScaler`` (``16-mixed``) or ``skip_nonfinite``
        skipped, it does not step (``training/outcomes.py``). An override should call ``super()``."""
        if metric is not None:  # a plateau's
            check_stepped_synced(compat.attached_trainer(self), scheduler)
        _outcomes.scheduler_step(scheduler, partial(super().lr_scheduler_step, scheduler, metric))  # type: ignore[misc]


def _scheduler_configs(built: Built, *, manual: bool, trainer: Any = None) -> list[dict[str, Any]]:
    """Lightning's scheduler config dict of each declared scheduler of ``built``, in the declared order.

    A plateau's ``strict`` is a ``StrictMonitor`` while a Trainer is attached: Lightning reads it only when the
    monitored metric is missing, and this package's error (with a near miss) replaces Lightning's there.

    Each config's ``name`` is unique, as Lightning's ``LearningRateMonitor`` needs to log each once: the
    optimizer's prefix, with ``-1``, ``-2`` for the later schedulers of a list (Lightning's suffix for a
    hand-written module's ``lr-SGD-1``); ``LRMonitor`` logs each optimizer once by its prefix.
    """
    configs = []
    for position, (schedule, scheduler) in enumerate(built.scheduled()):
        lr_scheduler: dict[str, Any] = {
            "scheduler": schedule,
            "interval": scheduler.interval,
            "frequency": scheduler.spec.frequency,
            "name": f"{built.prefix}-{position}" if position else built.prefix,
        }
        if not manual and scheduler.spec.monitor is not None:
            # explicit: the plateau scheduler is inside a ``Schedule``, and Lightning must still pass it the metric
            strict = StrictMonitor(scheduler, trainer) if trainer is not None else scheduler.spec.strict
            lr_scheduler.update(monitor=scheduler.spec.monitor, strict=strict, reduce_on_plateau=True)
        configs.append(lr_scheduler)
    return configs


def lightning_configs(built: Sequence[Built], *, manual: bool, trainer: Any = None) -> Any:
    """What ``configure_optimizers`` returns to Lightning for ``built``.

    Lightning's dict format (one dict, or a list of them), unless an optimizer declares a list of schedulers:
    then the two-list format ``([optimizers], [scheduler configs])``, the configs flattened in declaration
    order (Lightning steps them in that order, each on the lr the previous ones left).
    """
    if any(b.declared.listed for b in built):
        schedulers = [
            config for b in built for config in _scheduler_configs(b, manual=manual, trainer=trainer)
        ]
        return [b.optimizer for b in built], schedulers
    configs = []
    for b in built:  # at most one scheduler each: none declares a list
        scheduler = _scheduler_configs(b, manual=manual, trainer=trainer)
        configs.append({"optimizer": b.optimizer, **({"lr_scheduler": scheduler[0]} if scheduler else {})})
    return configs[0] if len(configs) == 1 else configs


#: The hooks of automatic optimization's step that Lightning never calls in manual optimization, refused where
#: the mixin chose manual optimization for several optimizers and a ``training_step`` of the module's own
#: (``lr_scheduler_step`` is refused in every manual module: the mixin steps the schedulers there, not Lightning)
_MANUAL_UNCALLED = {
    "optimizer_step": "`on_before_optimizer_step` (before each step, the gradients ready) or your "
    "`training_step` (around `opt.step()`); a warm-up is `SchedulerSpec(..., warmup=N)`",
    "optimizer_zero_grad": "your `training_step` (around `opt.zero_grad()`), or `on_before_zero_grad`",
    "configure_gradient_clipping": "`self.clip_gradients(opt, gradient_clip_val=..., gradient_clip_algorithm=...)` "
    "in your `training_step`, before `opt.step()` (or declare `loss=` on every optimizer: the step the mixin "
    "writes calls this hook)",
}


def _refuse_optimizer_idx(cls: type, declared: Sequence[ResolvedOptimizer]) -> None:
    """A ``training_step(self, batch, batch_idx, optimizer_idx)`` is Lightning 1.x's loop over the optimizers,
    which Lightning 2 no longer runs: its error when ``fit`` starts advises ``automatic_optimization = False``,
    which the mixin has already set for several optimizers. Refused now, naming the mixin's way to that loop."""
    try:
        parameters = inspect.signature(cls.training_step).parameters  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):
        return
    if "optimizer_idx" not in parameters:
        return
    way = (
        'declare `loss="<method>"` on every optimizer: the mixin runs that loop (each optimizer\'s loss method, '
        "backward, step and schedules, in declaration order; docs/guides/several-optimizers.md), or write it "
        f"yourself, stepping {listing(f'self.{d.attribute}' for d in declared)} in a `training_step(self, batch, "
        "batch_idx)`"
        if len(declared) > 1
        else "remove `optimizer_idx`: one declared optimizer trains in automatic optimization"
    )
    raise TypeError(
        f"{cls.__qualname__}.training_step: Expected `training_step(self, batch, batch_idx)` but got one taking "
        "`optimizer_idx`, Lightning 1.x's call once per optimizer, which Lightning 2 no longer makes (it refuses "
        f"the argument when `fit` starts). Instead, {way}."
    )


def _check_training_step_written(module: Any, declared: Sequence[ResolvedOptimizer]) -> None:
    """Several optimizers need a ``training_step`` stepping each, or ``loss=`` on every one (the mixin writes
    it); without either, Lightning's error when ``fit`` starts speaks of ``configure_optimizers`` only."""
    if len(declared) < 2 or declares_losses(declared) or compat.is_overridden("training_step", module):
        return
    raise ValueError(
        f"{user_class(module).__qualname__}.training_step: Expected a `training_step` stepping each of the "
        f'{len(declared)} declared optimizers ({listing(d.attribute for d in declared)}), or `loss="<method>"` '
        "on every one of them (the mixin then writes the step: docs/guides/several-optimizers.md), but got "
        "neither, so nothing would train."
    )


def _refuse_scheduler_class_tests(cls: type, declared: Sequence[ResolvedOptimizer]) -> None:
    """Refuse an ``lr_scheduler_step`` override anywhere in ``cls``'s MRO that tests the class of the scheduler it
    gets, which is the mixin's schedule of each declared scheduler (``declaring/scheduler_hook.py``)."""
    schedulers = [scheduler for d in declared for scheduler in d.schedulers]
    if not schedulers:
        return
    lightnings = [
        getattr(base, "lr_scheduler_step", None) for base in compat.lightning_classes("LightningModule")
    ]
    for klass in cls.__mro__:
        hook = vars(klass).get("lr_scheduler_step")
        if klass is not ConfigurableOptimizersMixin and hook is not None and hook not in lightnings:
            refuse_class_tests(cls.__qualname__, klass, hook, schedulers)


def _refuse_uncalled_overrides(cls: type, reason: str, hooks: Sequence[str] = ("lr_scheduler_step",)) -> None:
    """Refuse overrides of ``hooks`` that manual optimization (``reason``) would skip silently, wherever they are
    in the MRO (the mixin's own ``lr_scheduler_step`` calls ``super()``, so a base listed after the mixin
    overrides it too). The mixin steps the declared schedulers itself there (``training/stepping.py``)."""
    lightnings = compat.lightning_classes("LightningModule")
    for hook in hooks:
        own = (None, *(getattr(base, hook, None) for base in lightnings))
        definer = next(
            (k for k in cls.__mro__ if k is not ConfigurableOptimizersMixin and vars(k).get(hook) not in own),
            None,
        )
        if definer is None:
            continue
        if hook == "lr_scheduler_step":
            raise TypeError(
                f"{cls.__qualname__}.lr_scheduler_step: Expected no `lr_scheduler_step` override in manual "
                f"optimization ({reason}) but got one in `{definer.__qualname__}`: the mixin steps every declared "
                "scheduler itself there, never through this hook. Remove it, and declare how each scheduler "
                "steps instead (`SchedulerSpec(..., interval=..., frequency=...)`, or a scheduler class of your own)."
            )
        raise TypeError(
            f"{cls.__qualname__}.{hook}: Expected no `{hook}` override in manual optimization ({reason}, with a "
            f"`training_step` of the module's own) but got one in `{definer.__qualname__}`: Lightning never calls "
            f"it there, so it would be skipped silently. Remove it and use {_MANUAL_UNCALLED[hook]} instead."
        )


def check_manual_trainer_settings(owner: str, declared: Sequence[ResolvedOptimizer], trainer: Any) -> None:
    """Refuse ``gradient_clip_val`` and ``accumulate_grad_batches`` for several optimizers in a hand-written
    training step (the mixin chose manual optimization, where Lightning neither clips nor accumulates)."""
    if len(declared) < 2 or declares_losses(declared):
        return
    names = ", ".join(f"`{d.attribute}`" for d in declared)
    clip, accumulate = trainer.gradient_clip_val, trainer.accumulate_grad_batches
    if clip not in (None, 0):
        found, expected = f"`Trainer(gradient_clip_val={clip!r})`", "no `gradient_clip_val`"
        own = "clip in your `training_step` with `self.clip_gradients(opt, gradient_clip_val=...)`"
    elif accumulate != 1:
        found, expected = f"`Trainer(accumulate_grad_batches={accumulate!r})`", "`accumulate_grad_batches=1`"
        own = "accumulate in your `training_step` (step each optimizer every k batches)"
    else:
        return
    raise ValueError(
        f"{owner}: Expected {expected} with the optimizers {names} but got {found}: several optimizers with a "
        "`training_step` of the module's own train in manual optimization, where Lightning neither clips nor "
        "accumulates. Declare `loss=` on each optimizer (the mixin then writes the training step, with the "
        f"Trainer's clipping and accumulation; docs/guides/several-optimizers.md), or {own} and remove the "
        "setting from the Trainer."
    )
