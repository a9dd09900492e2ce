"""``ResolvedOptimizer``: an ``OptimizerSpec`` checked when the declaring class is defined.

Everything that can be checked without the model is checked here, so that a typo fails at import time with
a message naming the attribute: the class name, keyword arguments against the class signature (with a "did
you mean"), group options against the optimizer's per-group options, the recipes' settings, and the values
themselves, by a trial build over stand-in parameters (``trial.py``); then each declared scheduler
(``scheduler.py``), trial-built on the trial optimizer.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lightning_optim.declaring.arguments import (
    accepted_arguments,
    check_arguments,
    check_minimums,
    check_option_clashes,
    check_swallowed,
)
from lightning_optim.declaring.chained import (
    check_chained,
    check_composites,
    check_cycled_momentum,
    check_one_warmup_from_zero,
    driven_option,
)
from lightning_optim.declaring.construct import check_copies
from lightning_optim.declaring.hparam import (
    Occurrence,
    contains_hparam,
    find_hparams,
    python_numbers,
    with_defaults,
)
from lightning_optim.declaring.scheduler import (
    ResolvedScheduler,
    adds_warmup,
    check_one_warmup,
    check_param,
    check_start_factor_applies,
    compiled_schedule_refusal,
    cycles_momentum,
    keeps_zero,
    resolve_scheduler,
    scheduler_where,
)
from lightning_optim.declaring.specs import OptimizerSpec, ParamGroup, Selector, spec_options
from lightning_optim.declaring.training_step import check_training_step
from lightning_optim.declaring.trial import starts_at_zero, trial_optimizer, trial_scheduler, trial_step
from lightning_optim.groups.multipliers import MULTIPLIERS, check_multipliers
from lightning_optim.groups.plan import DeclaredGroup
from lightning_optim.groups.planning import Grouping
from lightning_optim.groups.recipes import RECIPES, Recipe
from lightning_optim.groups.recipes.no_decay import decay_left_out
from lightning_optim.groups.selection import check_callable_selector
from lightning_optim.registry.external import name_arguments
from lightning_optim.registry.implementation import check_implementation, check_passed_on
from lightning_optim.registry.implementation import group_options as options_given
from lightning_optim.registry.lookup import resolve_class
from lightning_optim.registry.optimizers import groups_with_required, optimizer_info
from lightning_optim.registry.precision import option_arguments
from lightning_optim.schedules.param_view import BETA_ALIASES, ParamGroupView
from lightning_optim.utilities.errors import listing, option_meant
from lightning_optim.utilities.frozen import ReadOnlyMapping
from lightning_optim.utilities.numeric import is_int
from lightning_optim.utilities.typecheck import check_type

#: ``OptimizerSpec``'s own options (``params``, ``groups``, ``scheduler``, ...).
_OPTIMIZER_OPTIONS = tuple(spec_options(OptimizerSpec))


@dataclass(frozen=True)
class ResolvedOptimizer:
    """A checked ``OptimizerSpec`` and what its check derived, with the attribute that declared it."""

    attribute: str
    where: str
    #: the ``OptimizerSpec`` assigned to the class attribute (how the live optimizer is found)
    declaration: OptimizerSpec
    #: the declaration as checked: ``declaration`` with the values of its ``HParam``s, when it reads any
    spec: OptimizerSpec
    cls: type[torch.optim.Optimizer]
    #: the optimizer's arguments: those its name stands for (``"transformers/adamw_torch_fused"``), then the
    #: declared ones
    kwargs: Mapping[str, Any]
    groups: tuple[DeclaredGroup, ...]
    #: the declared schedulers, in order (empty: none)
    schedulers: tuple[ResolvedScheduler, ...]
    #: the optimizer's defaults with the declared options applied (``lr``, ``weight_decay``, ...)
    defaults: Mapping[str, Any]
    #: the declared param-group recipes that are on, each with its checked settings, in the order applied
    recipes: tuple[tuple[Recipe, Any], ...]
    #: the ``HParam``s the declaration reads when ``fit`` starts; with any, this resolution (of the declared
    #: defaults) only checks the declaration, and ``fit`` resolves it again with the values read
    hparams: tuple[Occurrence, ...] = ()

    @property
    def params(self) -> Selector | None:
        return self.spec.params

    @property
    def listed(self) -> bool:
        """``scheduler=`` was declared as a list (Lightning then gets the two-list format)."""
        return isinstance(self.spec.scheduler, tuple) and bool(self.spec.scheduler)

    @property
    def prefix_name(self) -> str | None:
        """The explicit metric prefix (``SchedulerSpec(name=...)``) of this optimizer's schedulers, if any."""
        return next((s.spec.name for s in self.schedulers if s.spec.name), None)

    @property
    def grouping(self) -> Grouping:
        """What planning its param groups needs (``groups/planning.py``)."""
        return Grouping(self.attribute, self.where, self.params, self.groups, self.recipes, self.defaults)


def _check_own_warmup(where: str, cls: type, defaults: Mapping[str, Any]) -> None:
    """A schedule-free optimizer (``train_mode`` among its options) that warms up itself takes no schedule:
    a declared scheduler would warm up a second time (the two ramps multiply) and a decay would be ignored
    by its iterate averaging, which follows the largest lr seen."""
    warmup_steps = defaults.get("warmup_steps")
    if "train_mode" in defaults and is_int(warmup_steps) and warmup_steps > 0:
        raise ValueError(
            f"{where}: `{cls.__name__}` warms up itself (`warmup_steps={warmup_steps}`) and schedules nothing "
            "else, but a `scheduler` is declared too: its lr changes would multiply with the built-in warmup. "
            "Remove `scheduler`, or set `warmup_steps=0` and declare the warmup with `SchedulerSpec(..., warmup=)`."
        )


def lr_setters(scheduler: ResolvedScheduler) -> list[ResolvedScheduler]:
    """The schedulers (``scheduler`` or those inside a composite) that set every group's lr when built.

    One that drives another option (``param="weight_decay"``) sets that option, and leaves the lr alone.
    """
    inner = scheduler.kwargs.get("schedulers", ()) if scheduler.info.composite else ()
    found = [scheduler] if scheduler.info.sets_lr_from is not None and scheduler.spec.param == "lr" else []
    return found + [s for item in inner for s in lr_setters(item)]


def _warn_lr_replaced(where: str, spec: OptimizerSpec, schedulers: Sequence[ResolvedScheduler]) -> None:
    """Warn when a declared ``lr`` is replaced by a scheduler that sets the lr itself (``OneCycleLR``)."""
    setters = [found for scheduler in schedulers for found in lr_setters(scheduler)]
    declared = [f"`lr={spec.kwargs['lr']!r}`"] if "lr" in spec.kwargs else []
    # a group's `lr_mult` (and `layer_decay`) scale the schedule's lr arguments instead (`construct.py`)
    declared += [
        f"`groups[{i}]`'s `lr={g.options['lr']!r}`"
        for i, g in enumerate(spec.groups)
        if isinstance(g, ParamGroup) and "lr" in g.options
    ]
    if not setters or not declared:
        return
    setter = setters[0]
    warnings.warn(
        f"{where}: the declared {' and '.join(declared)} {'has' if len(declared) == 1 else 'have'} no effect: "
        f"`{setter.cls.__name__}` "
        f"({setter.where}) sets every param group's lr from {setter.info.sets_lr_from} when it is built. "
        f"Remove {'it' if len(declared) == 1 else 'them'} and set the schedule's arguments instead (one value per group "
        "for per-group rates, e.g. a dict by group name).",
        UserWarning,
        stacklevel=_user_stacklevel(),  # the class statement
    )


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside this package, for a warning issued by the caller."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    current = inspect.currentframe()
    frame, level = (current.f_back if current is not None else None), 1
    while frame is not None and frame.f_back is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _check_recipes(
    where: str, spec: OptimizerSpec, optimizer: str, group_options: frozenset[str]
) -> tuple[tuple[Recipe, Any], ...]:
    """Each recipe's settings, for those the declaration turns on, in the order they are applied."""
    checked = []
    for recipe in RECIPES:
        values = {o: getattr(spec, o) for o in recipe.options}
        if any(contains_hparam(v) for v in values.values()):
            continue  # an HParam without default: checked (and applied) with the value `fit` reads
        settings = recipe.check(where, values, optimizer, group_options)
        if settings is not None:
            checked.append((recipe, settings))
    return tuple(checked)


def resolve_optimizer(owner: str, attribute: str, spec: OptimizerSpec) -> ResolvedOptimizer:
    """Check one ``OptimizerSpec`` declared as ``owner.attribute``.

    A declaration holding ``HParam``s is checked with their defaults (those without one are left out of the
    checks that need their value); the result records them, and ``fit`` resolves the declaration again with
    the values it reads (``building/hparam_values.py``). What only the declaration as written tells is
    checked on it: a ``warmup_start_factor`` beside a literal ``warmup`` of 0 is refused, beside one read from
    an ``HParam`` (0 in one run of a sweep, 5 in another) it is not.
    """
    where = f"{owner}.{attribute}"
    hparams = find_hparams(where, spec)
    if not hparams:
        resolved = check_optimizer(owner, attribute, spec)
    else:
        resolved = check_optimizer(owner, attribute, with_defaults(where, spec))
        resolved = dataclasses.replace(resolved, declaration=spec, hparams=hparams)
    if not decay_read_at_fit(resolved.cls, spec):
        check_decay_left_out(resolved)
        check_decay_mult_scales(resolved)
    check_zero_driven(resolved)
    written = spec.scheduler if isinstance(spec.scheduler, tuple) else (spec.scheduler,)
    for scheduler, declared in zip(resolved.schedulers, written):
        if declared is not None:
            check_start_factor_applies(scheduler.where, declared)
    for scheduler in resolved.schedulers:  # the class-level objects, each copied per scheduler built
        check_copies(scheduler)
    return resolved


def decay_read_at_fit(cls: type, spec: OptimizerSpec) -> bool:
    """Whether an ``HParam`` may decide the weight decay (an argument giving one, a group's, or ``no_decay``)."""
    group_decays = [g.options.get(k) for g in spec.groups for k in ("weight_decay", "decay_mult")]
    arguments = [spec.kwargs.get(name) for name in option_arguments(cls, "weight_decay")]
    return contains_hparam([*arguments, spec.no_decay, *group_decays])


def check_decay_left_out(resolved: ResolvedOptimizer, declaration: OptimizerSpec | None = None) -> None:
    """Refuse ``no_decay`` on an optimizer none of whose groups decays (``decay_left_out``): at class definition
    for a declaration that decides it alone; when ``fit`` starts (``declaration``: the one holding the ``HParam``s)
    a decay its ``HParam`` values read as 0 is a sweep's no-decay run, refused only beside a schedule driving
    ``weight_decay``. Every argument a group may take its decay from counts (``MuonWithAdamW``'s AdamW groups:
    ``adamw_weight_decay``); beside such a schedule the refusal says that the schedule would decay every group."""
    if not any(recipe.options[0] == "no_decay" for recipe, _ in resolved.recipes):
        return
    if "weight_decay" not in resolved.defaults:
        return  # not built (it needs a process group), or its groups take the option its defaults lack
    message = decay_left_out(
        resolved.where,
        resolved.spec.no_decay,
        resolved.cls.__name__,
        [(name, value, name in resolved.kwargs) for name, value in _decay_arguments(resolved).items()],
        [group.options.get("weight_decay", 0) for group in resolved.groups],
        next((s.cls.__name__ for s in resolved.schedulers if s.spec.param == "weight_decay"), None),
        read_at_fit=declaration is not None and decay_read_at_fit(resolved.cls, declaration),
    )
    if message is not None:
        raise ValueError(message)


def _decay_arguments(resolved: ResolvedOptimizer) -> dict[str, Any]:
    """Each argument a group of ``resolved`` may take its weight decay from (``MuonWithAdamW``'s AdamW groups:
    ``adamw_weight_decay``), with the value the optimizer gives it (its default where not declared)."""
    arguments = options_given(resolved.cls, resolved.kwargs, [{}])[0]
    return {
        name: resolved.defaults.get(name, 0) if name == "weight_decay" else arguments.get(name, 0)
        for name in option_arguments(resolved.cls, "weight_decay")
    }


def zero_driven(where: str, schedulers: Sequence[str], param: str, option: str, given: str) -> str:
    """The message refusing the schedules ``schedulers`` of ``param``, each of which keeps a 0 (``keeps_zero``),
    over an ``option`` (as the groups hold it: ``betas[0]`` for ``param="beta1"``) that is 0 in every group, where
    ``given`` says where that 0 comes from.

    Example:
        >>> print(zero_driven("M.optimizer.scheduler", ["LinearLR"], "weight_decay", "weight_decay", "`weight_decay=0` (`SGD`'s default)"))
        M.optimizer.scheduler: Expected a nonzero `weight_decay` for `LinearLR` (`param='weight_decay'`) to schedule but got `weight_decay=0` (`SGD`'s default) in every param group it drives: `LinearLR` scales the value each group starts from, so the `weight_decay` stays 0 at every update and the schedule changes nothing. Declare a nonzero `weight_decay` for it to start from, or remove the schedule.
    """
    names = listing(schedulers)
    verb = "scales" if len(schedulers) == 1 else "scale"
    return (
        f"{where}: Expected a nonzero `{option}` for {names} (`param={param!r}`) to schedule but got {given} in "
        f"every param group it drives: {names} {verb} the value each group starts from, so the `{option}` stays 0 "
        f"at every update and the schedule changes nothing. Declare a nonzero `{option}` for it to start from, "
        "or remove the schedule."
    )


def check_zero_driven(resolved: ResolvedOptimizer) -> None:
    """Refuse the schedules of an option other than the lr (``param="weight_decay"``, ``"momentum"``) that all keep
    a 0 (``keeps_zero``: ``LinearLR``, a cosine to ``eta_min=0``) where the option is 0 in every group they drive
    (SGD's default weight decay and momentum): the run would train without it while it reads as scheduling it.
    Not a schedule that sets values of its own (a cosine to ``eta_min=0.4``, ``CyclicLR``), nor one beside it
    on the same option. Checked on the trial optimizer's groups, one per declared group and the optimizer's
    own, at class definition, or when ``fit`` starts for a declaration whose trial waits for an ``HParam``; a
    value an ``HParam`` may give (a sweep's 0 point) is accepted, as for ``warmup``."""
    driving: dict[str, list[ResolvedScheduler]] = {}
    for scheduler in resolved.schedulers:
        if scheduler.spec.param != "lr":
            driving.setdefault(driven_option(scheduler.spec.param), []).append(scheduler)
    candidates = [
        schedulers
        for schedulers in driving.values()
        if all(keeps_zero(s) for s in schedulers) and not _read_at_fit(resolved, schedulers)
    ]
    groups = _trial_groups(resolved) if candidates else None
    if groups is None:
        return
    for schedulers in candidates:
        param = schedulers[0].spec.param
        views = [ParamGroupView(group, param) for group in groups]
        scales = [g.scales.get(param, 1.0) for g in resolved.groups] + [1.0]
        if any(float(view["lr"]) * scale for view, scale in zip(views, scales)):
            continue
        own = views[-1]  # the optimizer's own group: its arguments
        option = own.key if own.index is None else f"{own.key}[{own.index}]"
        declared = own.key in resolved.kwargs or any(own.key in g.options for g in resolved.groups)
        source = "declared" if declared else f"`{resolved.cls.__name__}`'s default"
        given = f"`{option}={float(own['lr'])!r}` ({source})"
        names = [s.cls.__name__ for s in schedulers]
        raise ValueError(zero_driven(schedulers[0].where, names, param, option, given))


def decay_mult_of_zero(
    where: str, mult: float, given: str, argument: str, schedule: str | None = None
) -> str:
    """The message refusing ``decay_mult=mult`` on a group whose weight decay is 0 (``given``: the ``argument``
    it comes from, and its value), beside the ``schedule`` of the weight decay that sets it from arguments of its
    own, if any.

    Example:
        >>> print(decay_mult_of_zero("M.optimizer.groups[0]", 2.0, "`weight_decay=0.0` (`SGD`'s default)", "weight_decay"))
        M.optimizer.groups[0]: Expected a weight decay for `decay_mult=2.0` to scale but got `weight_decay=0.0` (`SGD`'s default) for this group: `decay_mult` multiplies it, so the group trains without weight decay whatever the factor and `decay_mult` changes nothing. Declare the weight decay it scales (`weight_decay=...`, e.g. `weight_decay=5e-4`), or remove `decay_mult`.
        >>> print(decay_mult_of_zero("M.optimizer.groups[0]", 2.0, "`weight_decay=0.0` (`SGD`'s default)", "weight_decay", "`CosineAnnealingLR` (M.optimizer.scheduler)"))
        M.optimizer.groups[0]: Expected a weight decay for `decay_mult=2.0` to scale but got `weight_decay=0.0` (`SGD`'s default) for this group: `decay_mult` multiplies it, and the schedule of `weight_decay`, `CosineAnnealingLR` (M.optimizer.scheduler), sets the group's weight decay from its own arguments, which `decay_mult` does not scale, so `decay_mult` changes nothing. Declare the weight decay it scales (`weight_decay=...`, e.g. `weight_decay=5e-4`), or remove `decay_mult`.
    """
    why = "so the group trains without weight decay whatever the factor and"
    if schedule is not None:
        why = (
            f"and the schedule of `weight_decay`, {schedule}, sets the group's weight decay from its own arguments, "
            "which `decay_mult` does not scale, so"
        )
    return (
        f"{where}: Expected a weight decay for `decay_mult={mult!r}` to scale but got {given} for this group: "
        f"`decay_mult` multiplies it, {why} `decay_mult` changes nothing. Declare the weight decay it scales "
        f"(`{argument}=...`, e.g. `{argument}=5e-4`), or remove `decay_mult`."
    )


def check_decay_mult_scales(resolved: ResolvedOptimizer) -> None:
    """Refuse a group's ``decay_mult`` where the weight decay it multiplies, the one the optimizer gives the group
    (``weight_decay``, or ``adamw_weight_decay`` for ``MuonWithAdamW``'s AdamW groups), is 0: the group trains
    without weight decay whatever the factor. Not beside a schedule driving the weight decay from arguments of its
    own that the factor scales (``CyclicLR``'s bounds, ``construct.py``). Checked on the trial optimizer's groups,
    for a declaration whose weight decay no ``HParam`` gives (a sweep's 0 point is accepted). ``decay_mult=0.0``
    asks for no weight decay, which such a group gets (accepted), unless a schedule sets the decay from values of
    its own, which it does not scale."""
    setting = [s for s in resolved.schedulers if s.spec.param == "weight_decay" and not keeps_zero(s)]
    scaled = [
        index
        for index, group in enumerate(resolved.groups)
        if "weight_decay" in group.scales and (group.scales["weight_decay"] != 0 or setting)
    ]
    if not scaled or any(
        s.spec.param == "weight_decay" and _scales_arguments(s) for s in resolved.schedulers
    ):
        return
    groups = _trial_groups(resolved)
    if groups is None:
        return
    decays = _decay_arguments(resolved)
    for index in scaled:
        if float(groups[index].get("weight_decay", 0.0)):
            continue
        # the argument at 0 that the group takes its decay from (the last: `MuonWithAdamW`'s AdamW half's)
        name = next((name for name, value in reversed(decays.items()) if not float(value)), "weight_decay")
        source = "declared" if name in resolved.kwargs else f"`{resolved.cls.__name__}`'s default"
        given = f"`{name}={float(decays[name])!r}` ({source})"
        where = f"{resolved.where}.groups[{index}]"
        mult = resolved.spec.groups[index].options["decay_mult"]
        schedule = f"`{setting[0].cls.__name__}` ({setting[0].where})" if setting else None
        raise ValueError(decay_mult_of_zero(where, mult, given, name, schedule))


def _scales_arguments(scheduler: ResolvedScheduler) -> bool:
    """Whether ``scheduler`` (or one inside it) takes arguments times each group's scale of the option it drives."""
    inner = scheduler.kwargs["schedulers"] if scheduler.info.composite else ()
    return bool(scheduler.info.lr_arguments) or any(_scales_arguments(s) for s in inner)


def _read_at_fit(resolved: ResolvedOptimizer, schedulers: Sequence[ResolvedScheduler]) -> bool:
    """Whether an ``HParam`` of the declaration may decide the option ``schedulers`` drive, or how they drive it:
    an argument or group option giving it (``betas`` for ``beta1``, ``decay_mult`` for the weight decay), or an
    argument of theirs."""
    keys = {s.spec.param for s in schedulers}
    if keys & {"momentum", *BETA_ALIASES}:
        keys |= {"momentum", "betas", *BETA_ALIASES}
    if "weight_decay" in keys:
        keys.add("decay_mult")
    arguments = {name for key in keys for name in option_arguments(resolved.cls, key)}
    options = (resolved.where, *(f"{resolved.where}.groups[{i}]" for i in range(len(resolved.groups))))
    for occurrence in resolved.hparams:
        if occurrence.where in options and occurrence.key.partition("[")[0] in arguments:
            return True
        if any(occurrence.where == s.where or occurrence.where.startswith(f"{s.where}.") for s in schedulers):
            return True
    return False


def _trial_groups(resolved: ResolvedOptimizer) -> list[dict[str, Any]] | None:
    """The param groups of the trial optimizer of ``resolved``: one per declared group (its options without the
    multipliers), then the optimizer's own; ``None`` where none is built yet (a required argument waits for an
    ``HParam``, or it needs a process group)."""
    cls: type = resolved.cls
    required = accepted_arguments(cls)[1]
    if any(contains_hparam(resolved.kwargs.get(name)) for name in required):
        return None
    groups = [dict(g.options) for g in resolved.groups] + [{}]
    optimizer = trial_optimizer(resolved.where, resolved.cls, resolved.kwargs, groups)
    return None if optimizer is None else optimizer.param_groups


def check_optimizer(owner: str, attribute: str, spec: OptimizerSpec) -> ResolvedOptimizer:
    """``resolve_optimizer`` for a declaration whose remaining ``HParam``s (if any) have no value yet."""
    where = f"{owner}.{attribute}"
    cls = resolve_class(spec.optimizer, "optimizer", where=where)
    check_option_clashes(where, cls, spec)
    checked = python_numbers(spec)
    # a collection name may stand for arguments too (`"transformers/adamw_torch_fused"`); the declared ones win
    kwargs = {**name_arguments(spec.optimizer, spec.implementation), **spec.kwargs}
    missing = check_arguments(where, cls, kwargs, _OPTIMIZER_OPTIONS)
    check_minimums(where, cls, kwargs)
    if missing:
        raise TypeError(f"{where}: `{cls.__name__}` needs the argument(s) {listing(missing)}.")
    if spec.params is not None:
        check_selector(where, "params", spec.params)
    check_training_step(where, cls, spec)
    if not isinstance(spec.groups, tuple):
        raise TypeError(f"{where}: Expected `groups` to be a list of ParamGroup but got {spec.groups!r}.")
    argument_names, required, _ = accepted_arguments(cls)
    if any(contains_hparam(kwargs.get(name)) for name in required):
        # a required argument waits for its HParam: no trial build; the group options are the arguments
        optimizer, group_options = None, frozenset(argument_names) | {"name"}
    else:
        optimizer = trial_optimizer(where, cls, kwargs, [{}])
        # None: it needs a process group, which `fit` starts; the group options are the arguments
        group_options = frozenset(optimizer.defaults if optimizer is not None else argument_names) | {"name"}
    group_options |= optimizer_info(cls).state_options | optimizer_info(cls).group_options
    check_swallowed(where, cls, kwargs)
    groups = [
        _check_group(f"{where}.groups[{index}]", group, cls, group_options)
        for index, group in enumerate(spec.groups)
    ]
    # an option required in every group (`use_muon`): the declared groups and, without any, the one of all
    labels = [f"`{where}.groups[{i}]`" for i in range(len(groups))] or [
        "every parameter (no ParamGroup declared)"
    ]
    groups_with_required(where, cls, kwargs, [g.options for g in groups] or [{}], labels)
    names = [g.name for g in groups if g.name is not None]
    duplicates = sorted({n for n in names if names.count(n) > 1} | ({"rest"} & set(names)))
    if duplicates:
        raise ValueError(
            f"{where}: param group names must be unique and `rest` is reserved for the leftover group; "
            f"got {listing(duplicates)} more than once or reserved. Give each group a distinct `name=`."
        )
    defaults = ReadOnlyMapping(dict(optimizer.defaults) if optimizer is not None else {})
    recipes = _check_recipes(where, spec, cls.__name__, group_options)
    arguments = check_implementation(where, cls, spec.implementation, kwargs, [g.options for g in groups])
    if optimizer is not None and (groups or arguments):
        trial_kwargs = {**kwargs, **arguments}
        optimizer = trial_optimizer(where, cls, trial_kwargs, [dict(g.options) for g in groups] + [{}])
        if optimizer is not None:
            check_passed_on(where, cls, spec.implementation, optimizer.defaults)
    declared_options = dict(kwargs)
    for resolved in groups:
        declared_options.update((k, v) for k, v in resolved.options.items() if k not in kwargs)
    if optimizer is not None and not contains_hparam(declared_options):  # HParams: stepped once read at fit
        trial_step(where, cls, optimizer, declared_options)
    if spec.scheduler is not None:
        _check_own_warmup(where, cls, defaults)
    schedulers = resolve_schedulers(where, spec.scheduler, optimizer)
    _check_cycled_momentum(cls, defaults, schedulers)
    refusal = compiled_schedule_refusal(cls, schedulers) if spec.implementation == "compiled" else None
    if refusal is not None:
        raise ValueError(refusal)
    _warn_lr_replaced(where, spec, schedulers)
    return ResolvedOptimizer(
        attribute=attribute,
        where=where,
        declaration=spec,
        spec=checked,
        cls=cls,
        kwargs=ReadOnlyMapping(kwargs),
        groups=tuple(groups),
        schedulers=schedulers,
        defaults=defaults,
        recipes=recipes,
    )


def _check_cycled_momentum(
    cls: type, defaults: Mapping[str, Any], schedulers: Sequence[ResolvedScheduler]
) -> None:
    """torch's ``OneCycleLR``/``CyclicLR`` cycle ``betas[0]`` only when the optimizer's ``defaults`` has ``betas``,
    else ``momentum``, in every group: refused for an optimizer whose groups take ``betas`` that its ``defaults``
    does not list (``MuonWithAdamW``'s AdamW groups would get an unused ``momentum`` and keep their ``beta1``)."""
    if "betas" in defaults or "betas" not in optimizer_info(cls).group_options:
        return
    for scheduler in schedulers:
        kwargs = scheduler.spec.kwargs
        if contains_hparam(kwargs.get("cycle_momentum")) or not cycles_momentum(scheduler.cls, kwargs):
            continue
        default = "" if "cycle_momentum" in kwargs else f" (`{scheduler.cls.__name__}`'s default)"
        raise ValueError(
            f"{scheduler.where}: Expected `cycle_momentum=False` with `{cls.__name__}` but got "
            f"`cycle_momentum=True`{default}: torch cycles `betas[0]` only when the optimizer's `defaults` has "
            "`betas`, so it would write an unused `momentum` into the groups that take `betas` (the AdamW groups) "
            "and leave their `betas[0]` as declared. Pass `cycle_momentum=False` and declare a "
            "`SchedulerSpec(..., param='momentum')`, which drives each group's own: `momentum` of the Muon groups, "
            "`betas[0]` of the AdamW groups."
        )


def _check_group(where: str, group: Any, cls: type, group_options: frozenset[str]) -> DeclaredGroup:
    """Check one ``ParamGroup`` of an optimizer of class ``cls`` whose per-group options are ``group_options``."""
    if not isinstance(group, ParamGroup):
        raise TypeError(f"{where}: Expected a ParamGroup but got {group!r}.")
    check_selector(where, "select", group.select)
    accepted = group_options | MULTIPLIERS.keys()
    _check_running_state(where, group, cls)
    for key, value in group.options.items():
        if key not in accepted:
            raise ValueError(
                f"{where}: `{key}` is not a per-group option of `{cls.__name__}`"
                f"{option_meant(key, accepted)}. Accepted: {listing(sorted(accepted))}."
            )
        if key not in MULTIPLIERS and not contains_hparam(value):
            check_type(where, cls, key, value)
    # a multiplier that waits for its HParam is checked when `fit` reads it
    known = {k: v for k, v in group.options.items() if k not in MULTIPLIERS or not contains_hparam(v)}
    scales = check_multipliers(where, known, cls.__name__, group_options)
    name = group.options.get("name", default_group_name(group.select))
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"{where}: Expected `name` to be a non-empty str but got {name!r}.")
    options = {k: v for k, v in group.options.items() if k != "name" and k not in MULTIPLIERS}
    return DeclaredGroup(
        group.select,
        name,
        ReadOnlyMapping(options),
        ReadOnlyMapping(scales),
        explicit_name="name" in group.options,
    )


def _check_running_state(where: str, group: ParamGroup, cls: type) -> None:
    """A key the optimizer keeps in its groups as its own running state is not an option: schedule-free's ``k``
    set in a ``ParamGroup`` would start that group's step count (and its averaging weights) at the value given."""
    running = optimizer_info(cls).running_state
    for key, value in group.options.items():
        if key in running:
            raise ValueError(
                f"{where}: Expected `{key}` to be left out but got {key}={value!r}: `{key}` is `{cls.__name__}`'s "
                f"own running state ({running[key]}), kept in each param group, not an option. Remove it."
            )


def resolve_schedulers(where: str, declared: Any, optimizer: Any) -> tuple[ResolvedScheduler, ...]:
    """Check an optimizer's ``scheduler=``: ``None``, one ``SchedulerSpec`` or a list of them (trial-built
    in order on the stand-in ``optimizer``, so each acts on the lr the previous ones left, as at ``fit``, and
    none that sets an option outright where another drives it: ``chained.py``; ``optimizer`` is ``None`` when
    a required argument of the optimizer waits for an ``HParam``)."""
    if declared is None:
        return ()
    listed = isinstance(declared, (list, tuple))
    specs = list(declared) if listed else [declared]
    resolved = []
    for index, spec in enumerate(specs):
        scheduler = resolve_scheduler(scheduler_where(where, index, listed), spec)
        # told before its trial build, which leaves the values it starts at to the next scheduler of the list
        from_zero = (
            optimizer is not None and adds_warmup(scheduler.spec) and starts_at_zero(scheduler, optimizer)
        )
        if optimizer is not None:
            check_param(scheduler, optimizer)
            trial_scheduler(scheduler, optimizer)
        check_one_warmup(scheduler, bool(from_zero))
        resolved.append(scheduler)
    named = [s for s in resolved if s.spec.name]
    other = next((s for s in named if s.spec.name != named[0].spec.name), None)
    if other is not None:
        raise ValueError(
            f"{where}: Expected at most one metric prefix `name` across the optimizer's schedulers (its "
            f"learning rates are logged once, under one prefix) but got {named[0].spec.name!r} in "
            f"`{named[0].where}` and {other.spec.name!r} in `{other.where}`; keep one `name=`."
        )
    check_cycled_momentum(f"{where}.scheduler", resolved)
    check_one_warmup_from_zero(f"{where}.scheduler", resolved)
    if optimizer is not None:
        check_composites(resolved, optimizer)
        check_chained(f"{where}.scheduler", resolved, optimizer)
    return tuple(resolved)


def check_selector(where: str, option: str, selector: Any) -> None:
    """A selector is a str, a callable ``(name, param) -> bool`` or a non-empty list of those."""
    if isinstance(selector, str):
        if not selector:
            raise ValueError(f"{where}: Expected `{option}` to be a non-empty string but got ''.")
        return
    if callable(selector):
        check_callable_selector(where, option, selector)
        return
    if isinstance(selector, (list, tuple)) and selector:
        for item in selector:
            check_selector(where, option, item)
        return
    raise TypeError(
        f"{where}: Expected `{option}` to be a submodule path, a parameter name, a glob, a callable "
        f"(name, param) -> bool or a list of these but got {selector!r}."
    )


def default_group_name(select: Selector) -> str | None:
    """The name of a group that declares none: its selector string, a function's name, else ``None``."""
    if isinstance(select, str):
        return select
    name = getattr(select, "__name__", None)
    return name if isinstance(name, str) and name.isidentifier() else None


#: The class attribute where ``ConfigurableOptimizersMixin`` keeps a class's resolved declarations.
DECLARED_ATTRIBUTE = "_lightning_optim_declared"


def declared_of(cls_or_module: Any) -> tuple[ResolvedOptimizer, ...]:
    """The resolved declarations of a mixin class or module, in order (empty for anything else)."""
    return getattr(cls_or_module, DECLARED_ATTRIBUTE, ())
