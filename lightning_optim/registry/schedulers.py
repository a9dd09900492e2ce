"""One record per scheduler: everything this package knows about it, in one place.

A ``SchedulerInfo`` holds a scheduler's short names, its default ``interval``, the length argument that
``fit`` derives from the run when it is left out (and how; written as ``None``, a length the scheduler cannot run
without counts as left out), the arguments that count epochs (and how each
converts to optimizer steps for ``unit="epoch"`` with ``interval="step"``), the arguments that may hold one
value per param group, whether it holds other schedulers, the lower bounds of the arguments that torch
does not check and that turn the lr negative or undefined only late in the run, and how it can drive the
value it schedules to 0 (which an option the optimizer divides by must never reach: schedule-free's
``eval()`` divides by its momentum at every validation), and where torch keeps the arguments it does not keep
under their own name in its state (a hand-written module's checkpoint restores them), and the arguments it
builds without reading because of others (``CyclicLR``'s ``gamma`` outside ``mode="exp_range"``: nothing declared
is silently ignored). Adding a scheduler, or changing a default,
is one entry in ``_RECORDS``; every torch scheduler without an entry gets a plain record.

The rules the records point to live beside this module, one concept each, and never import it: what a
scheduler counts in and how epochs become steps (``scheduler_epochs.py``), its length against the run
(``scheduler_lengths.py``), its arguments read back from its state (``scheduler_state.py``), the values its
arguments may take and its ways to 0 (``scheduler_bounds.py``), and the arguments it builds without reading
(``scheduler_unread.py``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from torch.optim import lr_scheduler

from lightning_optim.registry.scheduler_bounds import (
    LowerBound,
    ZeroWhen,
    all_zero,
    always,
    given_positive,
    warmup_from,
)
from lightning_optim.registry.scheduler_epochs import (
    Converter,
    Interval,
    check_timm_stepping,
    fractional_epochs,
    per_step_rate,
    scale,
    scale_each,
    timm_interval,
)
from lightning_optim.registry.scheduler_lengths import (
    EmptyPhase,
    one_cycle_empty_phase,
    one_cycle_steps,
    timm_cycle,
    transformers_peak_missed,
    whole_run,
)
from lightning_optim.registry.scheduler_state import (
    ArgumentReader,
    cyclic_steps,
    groups_ratio,
    in_groups,
    in_state,
    one_cycle_pct_start,
    one_cycle_three_phase,
    sequence_in_state,
)
from lightning_optim.registry.scheduler_unread import (
    Unread,
    mode_without_gamma,
    momentum_not_cycled,
    no_scale_fn,
    scale_fn_given,
    steps_per_epoch_alone,
    total_steps_given,
)
from lightning_optim.schedules.timm_cosine import PER_GROUP, TimmCosineLR
from lightning_optim.schedules.transformers import TRANSFORMERS_SCHEDULES
from lightning_optim.utilities.frozen import ReadOnlyMapping

PLATEAU = lr_scheduler.ReduceLROnPlateau


_UNREAD_MOMENTUM = Unread(
    ("base_momentum", "max_momentum"),
    "with `cycle_momentum=True` (its default)",
    momentum_not_cycled,
    "remove {it} (the optimizer's own momentum then holds), or remove `cycle_momentum=False` to cycle the momentum",
    ("cycle_momentum",),
)


#: transformers' warmups rise linearly from 0 (``_get_linear_schedule_with_warmup_lr_lambda``: ``step /
#: num_warmup_steps``), while the package's own ``warmup=`` starts at ``1 / (warmup + 1)``
_TRANSFORMERS_WARMUP_FROM_ZERO = ZeroWhen(
    "starts it at 0 with `num_warmup_steps > 0` (its warmup rises from 0)",
    "leave `num_warmup_steps` out and give the SchedulerSpec a `warmup=`, which starts at 1 / (warmup + 1)",
    functools.partial(given_positive, "num_warmup_steps"),
)
_TRANSFORMERS_DECAY_TO_ZERO = "use `transformers/cosine_with_min_lr` with `min_lr_rate > 0`"

#: ``transformers.TrainingArguments``' names for the warmup, as a transformers schedule here takes it (a
#: ``warmup_ratio`` is a fraction of ``num_training_steps``, see ``resolve_warmup_steps``)
_TRANSFORMERS_ARGUMENTS = ReadOnlyMapping(
    {"warmup_ratio": "num_warmup_steps=<fraction>", "warmup_steps": "num_warmup_steps"}
)

#: transformers' schedules by name: how each reaches 0 (the warmup from 0 of those that have one)
_TRANSFORMERS_ZERO: Mapping[str, tuple[ZeroWhen, ...]] = {
    "linear": (ZeroWhen("decays it to 0 at `num_training_steps`", _TRANSFORMERS_DECAY_TO_ZERO),),
    "cosine": (ZeroWhen("anneals it to 0 at `num_training_steps`", _TRANSFORMERS_DECAY_TO_ZERO),),
    "cosine_with_restarts": (
        ZeroWhen("anneals it to 0 at the end of each cycle", _TRANSFORMERS_DECAY_TO_ZERO),
    ),
    **{
        name: (_TRANSFORMERS_WARMUP_FROM_ZERO,)
        for name in ("polynomial", "constant_with_warmup", "inverse_sqrt", "cosine_with_min_lr")
    },
}
_MIN_LR = {
    "min_lr": LowerBound(0, strict=True, meaning="the value it anneals to"),
    "min_lr_rate": LowerBound(0, strict=True, meaning="the fraction of the first value it anneals to"),
}
_TRANSFORMERS_FLOORS: Mapping[str, Mapping[str, LowerBound]] = {
    # its default `lr_end=1e-7` is transformers' "decay to 0": the momentum would end at 1e-7, and
    # schedule-free's eval() would move the weights by 1 - 1 / 1e-7
    "polynomial": {
        "lr_end": LowerBound(
            1e-7, strict=True, meaning="the value it decays to; the default 1e-7 stands for 0"
        )
    },
    "cosine_with_min_lr": _MIN_LR,
    "cosine_warmup_with_min_lr": {
        **_MIN_LR,
        "warmup_lr_rate": LowerBound(0, strict=True, meaning="the fraction its warmup starts at"),
    },
    "warmup_stable_decay": {
        "min_lr_ratio": LowerBound(0, strict=True, meaning="the fraction it warms up from and decays to")
    },
}


@dataclass(frozen=True)
class SchedulerInfo:
    """What this package knows about one scheduler class."""

    cls: type
    #: names besides the lower-case class name (``"cosine"`` for ``CosineAnnealingLR``)
    names: tuple[str, ...] = ()
    #: the ``interval`` used when the declaration gives none; a function of the declared arguments when it
    #: depends on them
    default_interval: Interval | Callable[[Mapping[str, Any]], Interval] = "epoch"
    #: the length argument ``fit`` derives from the run when it is left out
    length: str | None = None
    #: arguments that, when given, describe the length instead (``OneCycleLR``'s ``epochs``)
    length_given_by: tuple[str, ...] = ()
    #: the argument giving the steps per epoch of a length described in epochs (``OneCycleLR``'s
    #: ``steps_per_epoch``, beside its ``epochs``): left out, ``fit`` derives it as the run's updates per epoch
    per_epoch_argument: str | None = None
    #: whether the scheduler runs without its length, taking it written as ``None`` for "no length" (an unbounded
    #: run: transformers' ``inverse_sqrt``); a function of the declared arguments where it depends on them
    #: (``warmup_stable_decay`` given ``num_stable_steps``). Where it does not, the length is required: written as
    #: ``None`` (as a config dump writes an argument left out), it and what describes it count as left out
    #: (``declared_lengths``). ``None`` (the default): as the signature says, optional only where the length's
    #: default is ``None`` (torch's ``T_max`` has none, ``total_iters`` defaults to 5: required)
    length_optional: bool | Callable[[Mapping[str, Any]], bool] | None = None
    #: whether a declaration with these arguments reads its length, a function of them: one it does not read (a
    #: value would change nothing it sets: transformers' ``inverse_sqrt`` beside a whole ``num_warmup_steps``)
    #: is not derived from the run when left out, so neither a run of no known length nor a resume into a
    #: longer run is refused for it. ``None`` (the default): read
    length_read: Callable[[Mapping[str, Any]], bool] | None = None
    #: the derived length from the scheduler's updates after the warmup, and the declared arguments (those of
    #: ``epoch_arguments`` in steps, as the updates are, for ``unit="epoch"`` updated per step)
    derive_length: Callable[[int, Mapping[str, Any]], int] = whole_run
    #: the arguments that count epochs, each with its conversion to optimizer steps
    epoch_arguments: Mapping[str, Converter] = field(default_factory=dict)
    #: arguments that may hold one value per param group (a list in group order, or a dict by group name)
    per_group_arguments: frozenset[str] = frozenset()
    #: its ``schedulers`` argument holds other schedulers, declared as ``SchedulerSpec``s
    composite: bool = False
    #: a check of the declared arguments against the effective interval and unit (raises ``ValueError``)
    check_stepping: Callable[[Mapping[str, Any], str, str], None] | None = None
    #: in a window (``begin``/``end``), the length argument derived from it when left out (default:
    #: ``length``), as ``end - begin + window_offset`` (mmengine's rule for the same scheduler)
    window_argument: str | None = None
    window_offset: int = 0

    #: the arguments torch keeps elsewhere than under their own name in the scheduler's state (in each param
    #: group: ``OneCycleLR``'s ``max_lr``, its ``div_factor`` as the groups' ``initial_lr``; under another name:
    #: ``CyclicLR``'s ``max_lrs``), each with its reader: a hand-written module's checkpoint restores them over
    #: the declared ones, so they are compared with the declaration's (``training/foreign.py``)
    kept_elsewhere: Mapping[str, ArgumentReader] = field(default_factory=dict)

    #: the steps it can take after its construction, from the declared arguments, for a scheduler that raises
    #: when stepped past its length (``OneCycleLR``): a given length must then cover the run
    steps_limit: Callable[[Mapping[str, Any]], tuple[str, int] | None] | None = None
    #: why it never trains at its peak (the declared lr) in a run that trains it with so many values (in words
    #: last: how many, what one update is, what took the rest of the run), from the arguments (its length filled
    #: in) and whether that length was derived, as the message that refuses it; ``None`` when it does
    peak_missed: Callable[[Mapping[str, Any], int, bool, str], str | None] | None = None
    #: what of the arguments (its length filled in) makes torch divide by zero, in words (``OneCycleLR``'s phase
    #: that ends where it starts); ``None`` when nothing does: refused where the length is known, or at once where
    #: the phase is empty whatever the length
    empty_phase: Callable[[Mapping[str, Any]], EmptyPhase | None] | None = None
    #: the argument that counts its own warmup (transformers' ``num_warmup_steps``, timm's ``warmup_t``): a
    #: ``SchedulerSpec(warmup=)`` beside a positive one would warm up a second time, and is refused
    own_warmup: str | None = None

    #: where the lr it starts from comes from, for a scheduler that sets every group's lr when it is built
    #: (so a declared optimizer or group ``lr`` has no effect)
    sets_lr_from: str | None = None
    #: its per-group lr arguments: multiplied by each group's scale of the option it drives (the lr's
    #: ``layer_decay`` and ``lr_mult``, the weight decay's ``decay_mult``), as a scheduler that scales the
    #: values it starts from keeps those ratios
    lr_arguments: tuple[str, ...] = ()

    #: arguments a value below whose bound makes the lr negative or undefined only late in the run (torch
    #: checks none of them, and a trial update at class definition sees only the first lr): refused when the
    #: class is defined, or when ``fit`` reads an ``HParam`` for them
    lower_bounds: Mapping[str, LowerBound] = field(default_factory=dict)
    #: arguments that set the value it ends at (a declared one, or its default), which must stay above their
    #: bound on an option the optimizer divides by (``OptimizerInfo.positive_options``)
    floor_bounds: Mapping[str, LowerBound] = field(default_factory=dict)
    #: the ways its shape reaches 0 whatever the ``floor_bounds`` (a decay to 0, a warmup from 0), refused
    #: likewise on an option the optimizer divides by
    zero_when: tuple[ZeroWhen, ...] = ()
    #: declared arguments it builds without reading because of others (``CyclicLR``'s ``gamma`` outside
    #: ``mode="exp_range"``): refused when the class is defined, or when ``fit`` reads an ``HParam`` deciding them
    unread: tuple[Unread, ...] = ()
    #: whether, with these arguments (the declared ones, its defaults for the rest), every value it sets is the
    #: value the group starts from times a factor (``LambdaLR``, ``StepLR``, ``LinearLR``, transformers'
    #: schedules; a cosine to ``eta_min=0``), so that a group starting at 0 stays at 0 at every update; ``None``
    #: where nothing says so (one that sets values of its own: ``OneCycleLR``, ``CyclicLR``; one from
    #: elsewhere). A schedule of an option that is 0 in every group it drives then changes nothing, and is
    #: refused (``declaring/optimizer.py``)
    keeps_zero: Callable[[Mapping[str, Any]], bool] | None = None
    #: another library's names for its arguments, each with how to write it here: suggested for that name
    #: before any spelling is (transformers' ``warmup_ratio`` is spelled like ``warmup``, a count of updates)
    known_as: Mapping[str, str] = field(default_factory=dict)
    #: the class its library builds for a hand-written module where this package's class ports it (transformers'
    #: ``get_*_schedule*`` functions return a ``LambdaLR``): an ``lr_scheduler_step`` override's test of the
    #: scheduler's class is judged against it too (``declaring/scheduler_hook.py``)
    hand_written_class: type | None = None

    @property
    def window_length(self) -> str | None:
        """The argument a window derives when it is left out.

        Example:
            >>> from torch.optim.lr_scheduler import ConstantLR, CosineAnnealingLR
            >>> SCHEDULER_INFO[ConstantLR].window_length, SCHEDULER_INFO[CosineAnnealingLR].window_length
            ('total_iters', 'T_max')
        """
        return self.window_argument or self.length

    def optional_length(self, kwargs: Mapping[str, Any]) -> bool:
        """Whether a declaration with the arguments ``kwargs`` runs without its length (``length_optional``).

        Example:
            >>> from torch.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR
            >>> SCHEDULER_INFO[CosineAnnealingLR].optional_length({}), SCHEDULER_INFO[OneCycleLR].optional_length({})
            (False, False)
            >>> wsd = scheduler_info(TRANSFORMERS_SCHEDULES["warmup_stable_decay"])
            >>> wsd.optional_length({"num_decay_steps": 2}), wsd.optional_length({"num_stable_steps": 4})
            (False, True)
        """
        optional = self.length_optional
        if callable(optional):
            return bool(optional(kwargs))
        if optional is not None:
            return optional
        parameter = inspect.signature(self.cls).parameters.get(self.length or self.window_argument or "")
        return parameter is not None and parameter.default is None

    def declared_lengths(self, kwargs: Mapping[str, Any], *, windowed: bool) -> dict[str, Any]:
        """``kwargs`` without the length (a window's, ``windowed``) and what describes it (``length_given_by``,
        ``per_epoch_argument``) written as ``None`` where the length is required (``optional_length``): a config
        dump writes every argument, one left out as ``None``, and so it counts as left out (derived from the run).
        A ``None`` of an optional length is "no length", as declared.

        Example:
            >>> from torch.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR
            >>> SCHEDULER_INFO[CosineAnnealingLR].declared_lengths({"T_max": None, "eta_min": None}, windowed=False)
            {'eta_min': None}
            >>> onecycle = {"max_lr": 0.1, "total_steps": None, "epochs": 2, "steps_per_epoch": None}
            >>> SCHEDULER_INFO[OneCycleLR].declared_lengths(onecycle, windowed=False)
            {'max_lr': 0.1, 'epochs': 2}
            >>> inverse_sqrt = scheduler_info(TRANSFORMERS_SCHEDULES["inverse_sqrt"])
            >>> inverse_sqrt.declared_lengths({"num_training_steps": None}, windowed=False)
            {'num_training_steps': None}
        """
        length = self.window_length if windowed else self.length
        if length is None or self.optional_length(kwargs):
            return dict(kwargs)
        lengths = {length, *self.length_given_by, self.per_epoch_argument}
        return {key: value for key, value in kwargs.items() if not (value is None and key in lengths)}

    def derived_length(self, kwargs: Mapping[str, Any], *, windowed: bool) -> str | None:
        """The length argument a declaration with the arguments ``kwargs`` leaves to the run, if any: the length
        (a window's, ``windowed``) unless it or what gives it is declared, or the updates per epoch
        (``per_epoch_argument``) where only the epochs are. A required length written as ``None`` is left out
        (``declared_lengths``).

        Example:
            >>> from torch.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR
            >>> SCHEDULER_INFO[CosineAnnealingLR].derived_length({"eta_min": 0.0}, windowed=False)
            'T_max'
            >>> cosine = SCHEDULER_INFO[CosineAnnealingLR]
            >>> cosine.derived_length({"T_max": 4}, windowed=False), cosine.derived_length({"T_max": None}, windowed=False)
            (None, 'T_max')
            >>> onecycle = SCHEDULER_INFO[OneCycleLR]
            >>> onecycle.derived_length({"max_lr": 0.1}, windowed=False), onecycle.derived_length({"epochs": 2}, windowed=False)
            ('total_steps', 'steps_per_epoch')

            A length the declaration does not read (``length_read``) is not derived:

            >>> inverse_sqrt = scheduler_info(TRANSFORMERS_SCHEDULES["inverse_sqrt"])
            >>> inverse_sqrt.derived_length({"num_warmup_steps": 3}, windowed=False)
            >>> inverse_sqrt.derived_length({"num_warmup_steps": 0.1}, windowed=False)
            'num_training_steps'
        """
        given = self.declared_lengths(kwargs, windowed=windowed)
        length = self.window_length if windowed else self.length
        described = length in given or any(key in given for key in self.length_given_by)
        unread = self.length_read is not None and not self.length_read(given)
        derived = None if length is None or described or unread else length
        per_epoch = self.per_epoch_argument
        if not windowed and per_epoch is not None and length not in given and per_epoch not in given:
            # a length given in epochs (`epochs`) counts the run's updates per epoch
            derived = per_epoch if described else derived
        return derived

    @property
    def is_plateau(self) -> bool:
        return issubclass(self.cls, PLATEAU)

    def interval_for(self, kwargs: Mapping[str, Any]) -> Interval:
        """The default interval of a declaration with these arguments."""
        default = self.default_interval
        return default if isinstance(default, str) else default(kwargs)

    def epochs_to_steps(self, kwargs: Mapping[str, Any], steps_per_epoch: int) -> dict[str, Any]:
        """``kwargs`` with every epoch-valued argument (given or defaulted) converted to steps.

        Example:
            >>> from torch.optim.lr_scheduler import MultiStepLR, StepLR
            >>> SCHEDULER_INFO[StepLR].epochs_to_steps({"step_size": 2, "gamma": 0.1}, steps_per_epoch=4)
            {'step_size': 8, 'gamma': 0.1}
            >>> SCHEDULER_INFO[MultiStepLR].epochs_to_steps({"milestones": [1, 3]}, steps_per_epoch=5)
            {'milestones': [5, 15]}
        """
        converted = dict(kwargs)
        defaults = inspect.signature(self.cls).parameters
        for key, convert in self.epoch_arguments.items():
            value = converted.get(key)
            if key not in converted and key in defaults:
                value = defaults[key].default
                if value is inspect.Parameter.empty:
                    continue
            if value is not None:
                converted[key] = convert(value, steps_per_epoch)
        return converted


_PER_GROUP = frozenset({"lr_lambda", "max_lr", "base_lr", "min_lr", "base_momentum", "max_momentum"})

_GAMMA = {"gamma": LowerBound(0, strict=True, meaning="the factor of each decay")}

_RECORDS: tuple[SchedulerInfo, ...] = (
    SchedulerInfo(
        lr_scheduler.StepLR,
        ("step",),
        epoch_arguments={"step_size": scale},
        floor_bounds=_GAMMA,
        keeps_zero=always,
    ),
    SchedulerInfo(
        lr_scheduler.MultiStepLR,
        ("multistep",),
        epoch_arguments={"milestones": scale_each},
        floor_bounds=_GAMMA,
        keeps_zero=always,
    ),
    # in a window, mmengine's ConstantLR, LinearLR and PolyLR take ``total_iters = end - begin - 1``
    # (mmengine/optim/scheduler/param_scheduler.py); its CosineAnnealingLR and OneCycleLR the whole window
    SchedulerInfo(
        lr_scheduler.ConstantLR,
        ("constant",),
        epoch_arguments={"total_iters": scale},
        window_argument="total_iters",
        window_offset=-1,
        # torch takes `factor=0` and divides by it at `total_iters`
        lower_bounds={
            "factor": LowerBound(
                0,
                strict=True,
                meaning="the factor it holds until `total_iters`, where torch divides by it",
                every_param=True,
            )
        },
        floor_bounds={
            "factor": LowerBound(0, strict=True, meaning="the factor it holds until `total_iters`")
        },
        keeps_zero=always,
    ),
    SchedulerInfo(
        lr_scheduler.LinearLR,
        ("linear",),
        length="total_iters",
        epoch_arguments={"total_iters": scale},
        window_offset=-1,
        floor_bounds={
            "end_factor": LowerBound(0, strict=True, meaning="the factor of the declared value it ends at")
        },
        keeps_zero=always,
    ),
    SchedulerInfo(
        lr_scheduler.PolynomialLR,
        ("polynomial",),
        length="total_iters",
        epoch_arguments={"total_iters": scale},
        window_offset=-1,
        # a negative power grows the lr, then divides by zero at `total_iters`
        lower_bounds={"power": LowerBound(0, strict=False, meaning="the exponent of the decay to 0")},
        zero_when=(
            ZeroWhen(
                "decays it to 0 at `total_iters` (for any `power` > 0)",
                "use `linear` with `end_factor > 0`, or `cosine` with `eta_min > 0`",
                functools.partial(given_positive, "power"),
            ),
        ),
        keeps_zero=always,
    ),
    SchedulerInfo(
        lr_scheduler.CosineAnnealingLR,
        ("cosine",),
        length="T_max",
        epoch_arguments={"T_max": scale},
        lower_bounds={"eta_min": LowerBound(0, strict=False, meaning="the lr it anneals to")},
        floor_bounds={"eta_min": LowerBound(0, strict=True, meaning="the value it anneals to")},
        # from 0 it anneals towards `eta_min`
        keeps_zero=functools.partial(all_zero, ("eta_min",)),
    ),
    SchedulerInfo(
        lr_scheduler.CosineAnnealingWarmRestarts,
        ("cosine_restarts",),
        epoch_arguments={"T_0": scale},
        lower_bounds={"eta_min": LowerBound(0, strict=False, meaning="the lr each cycle anneals to")},
        floor_bounds={"eta_min": LowerBound(0, strict=True, meaning="the value each cycle anneals to")},
        keeps_zero=functools.partial(all_zero, ("eta_min",)),
    ),
    SchedulerInfo(
        lr_scheduler.OneCycleLR,
        ("onecycle",),
        default_interval="step",
        length="total_steps",
        length_optional=False,  # its default `None` stands for `epochs` x `steps_per_epoch`
        length_given_by=("epochs",),
        per_epoch_argument="steps_per_epoch",
        epoch_arguments={"total_steps": scale},
        steps_limit=one_cycle_steps,
        empty_phase=one_cycle_empty_phase,
        per_group_arguments=frozenset({"max_lr", "base_momentum", "max_momentum"}),
        sets_lr_from="`max_lr / div_factor`",
        lr_arguments=("max_lr",),
        kept_elsewhere={
            "max_lr": functools.partial(in_groups, "max_lr"),
            "div_factor": functools.partial(groups_ratio, "max_lr", "initial_lr"),
            "final_div_factor": functools.partial(groups_ratio, "initial_lr", "min_lr"),
            "max_momentum": functools.partial(in_groups, "max_momentum"),
            "base_momentum": functools.partial(in_groups, "base_momentum"),
            "pct_start": one_cycle_pct_start,
            "three_phase": one_cycle_three_phase,
            "anneal_strategy": functools.partial(in_state, "_anneal_func_type"),
        },
        lower_bounds={
            "final_div_factor": LowerBound(
                0, strict=True, meaning="the last lr is `max_lr / div_factor / final_div_factor`"
            )
        },
        unread=(
            Unread(
                ("epochs", "steps_per_epoch"),
                "without `total_steps`",
                total_steps_given,
                "remove {it}, or remove `total_steps` to give the length as `epochs * steps_per_epoch`",
                ("total_steps",),
            ),
            Unread(
                ("steps_per_epoch",),
                "with `epochs`",
                steps_per_epoch_alone,
                "remove {it}, or give `epochs` beside it (the length is then `epochs * steps_per_epoch`)",
                ("epochs", "total_steps"),
            ),
            _UNREAD_MOMENTUM,
        ),
    ),
    SchedulerInfo(
        lr_scheduler.CyclicLR,
        ("cyclic",),
        default_interval="step",
        epoch_arguments={"step_size_up": scale, "step_size_down": scale},
        per_group_arguments=frozenset({"base_lr", "max_lr", "base_momentum", "max_momentum"}),
        sets_lr_from="`base_lr`",
        lr_arguments=("base_lr", "max_lr"),
        kept_elsewhere={
            "base_lr": functools.partial(in_state, "base_lrs"),
            "max_lr": functools.partial(in_state, "max_lrs"),
            "base_momentum": functools.partial(in_state, "base_momentums"),
            "max_momentum": functools.partial(in_state, "max_momentums"),
            "step_size_up": functools.partial(cyclic_steps, True),
            "step_size_down": functools.partial(cyclic_steps, False),
        },
        unread=(
            Unread(
                ("mode", "gamma"),
                "without a `scale_fn`",
                scale_fn_given,
                "remove {it}, or remove `scale_fn` to shape the cycles by `mode`",
                ("scale_fn",),
            ),
            Unread(
                ("gamma",),
                "with `mode='exp_range'` (which scales the cycles by `gamma ** iterations`)",
                mode_without_gamma,
                "remove {it}, or declare `mode='exp_range'`",
                ("mode", "scale_fn"),
            ),
            Unread(
                ("scale_mode",),
                "with a `scale_fn`",
                no_scale_fn,
                "remove {it}, or give the `scale_fn` it is for",
                ("scale_fn", "mode"),
                default_is_left_out=False,
            ),
            _UNREAD_MOMENTUM,
        ),
    ),
    SchedulerInfo(
        lr_scheduler.ExponentialLR,
        ("exponential",),
        epoch_arguments={"gamma": per_step_rate},
        floor_bounds={"gamma": LowerBound(0, strict=True, meaning="the factor of each update")},
        keeps_zero=always,
    ),
    SchedulerInfo(
        lr_scheduler.LambdaLR,
        ("lambda",),
        epoch_arguments={"lr_lambda": fractional_epochs},
        per_group_arguments=frozenset({"lr_lambda"}),
        keeps_zero=always,
    ),
    SchedulerInfo(
        lr_scheduler.MultiplicativeLR,
        ("multiplicative",),
        per_group_arguments=frozenset({"lr_lambda"}),
        keeps_zero=always,
    ),
    SchedulerInfo(
        PLATEAU,
        ("plateau", "transformers/reduce_lr_on_plateau"),
        per_group_arguments=frozenset({"min_lr"}),
        kept_elsewhere={"min_lr": functools.partial(in_state, "min_lrs")},
        # it only lowers a value (to `min_lr` at the least): a 0 stays
        keeps_zero=always,
    ),
    SchedulerInfo(
        lr_scheduler.SequentialLR,
        ("sequential",),
        composite=True,
        kept_elsewhere={"milestones": functools.partial(sequence_in_state, "_milestones")},
    ),
    SchedulerInfo(lr_scheduler.ChainedScheduler, ("chained",), composite=True),
    # transformers' ``get_scheduler`` schedules, stepped once per optimizer step as in its ``Trainer``
    *(
        SchedulerInfo(
            cls,
            (f"transformers/{name}",),
            default_interval="step",
            length="num_training_steps"
            if "num_training_steps" in inspect.signature(cls).parameters
            else None,
            length_optional=cls.runs_without_length,
            length_read=cls.reads_length,
            floor_bounds=_TRANSFORMERS_FLOORS.get(name, {}),
            zero_when=_TRANSFORMERS_ZERO.get(name, ()),
            peak_missed=functools.partial(transformers_peak_missed, name),
            known_as=_TRANSFORMERS_ARGUMENTS,
            hand_written_class=lr_scheduler.LambdaLR,
            own_warmup="num_warmup_steps",
            keeps_zero=always,  # `base_lr * factor(step)`, as `LambdaLR`
        )
        for name, cls in TRANSFORMERS_SCHEDULES.items()
    ),
    SchedulerInfo(
        TimmCosineLR,
        ("timm/cosine",),
        default_interval=timm_interval,
        length="t_initial",
        derive_length=timm_cycle,
        epoch_arguments={"t_initial": scale, "warmup_t": scale},
        # timm scales every lr its scheduler sets by the group's lr_scale (``Scheduler.update_groups``), the
        # floor and the warmup start too; this package's groups start from their scaled lr instead
        per_group_arguments=frozenset(PER_GROUP),
        lr_arguments=PER_GROUP,
        check_stepping=check_timm_stepping,
        own_warmup="warmup_t",
        floor_bounds={"lr_min": LowerBound(0, strict=True, meaning="the value each cycle anneals to")},
        zero_when=(
            ZeroWhen(
                "starts its `warmup_t` warmup at `warmup_lr_init` (0 by default)",
                "give `warmup_lr_init > 0`",
                functools.partial(warmup_from, "warmup_t", "warmup_lr_init"),
            ),
        ),
        # its warmup starts at `warmup_lr_init`, its cycles anneal to `lr_min`
        keeps_zero=functools.partial(all_zero, ("lr_min", "warmup_lr_init")),
    ),
)


def is_scheduler_class(cls: Any) -> bool:
    """Whether ``cls`` is an ``LRScheduler`` subclass or ``ReduceLROnPlateau``."""
    return inspect.isclass(cls) and (
        (issubclass(cls, lr_scheduler.LRScheduler) and cls is not lr_scheduler.LRScheduler)
        or issubclass(cls, PLATEAU)
    )


def _torch_schedulers() -> list[type]:
    return [
        cls
        for name, cls in sorted(vars(lr_scheduler).items())
        if not name.startswith("_") and is_scheduler_class(cls)
    ]


#: Every known scheduler class -> its record (torch's, then this package's).
SCHEDULER_INFO: Mapping[type, SchedulerInfo] = MappingProxyType(
    {
        **{cls: SchedulerInfo(cls) for cls in _torch_schedulers()},
        **{record.cls: record for record in _RECORDS},
    }
)

#: Every scheduler name (lower-case class names and short names) -> its class.
SCHEDULERS: Mapping[str, type] = MappingProxyType(
    dict(
        sorted(
            {
                **{cls.__name__.lower(): cls for cls in SCHEDULER_INFO},
                **{name: record.cls for record in SCHEDULER_INFO.values() for name in record.names},
            }.items()
        )
    )
)


#: Names added with ``register_scheduler`` (``external.py``) -> their records.
REGISTERED_SCHEDULERS: dict[str, SchedulerInfo] = {}


def declared_info(declared: Any, cls: type) -> SchedulerInfo:
    """The record of a scheduler declared as ``declared`` (a name or a class) resolving to ``cls``: a name given
    to ``register_scheduler`` keeps its own record, also for a class that has one built in.

    Example:
        >>> from torch.optim.lr_scheduler import StepLR
        >>> declared_info("step", StepLR).default_interval
        'epoch'
    """
    if isinstance(declared, str) and (record := REGISTERED_SCHEDULERS.get(declared)) is not None:
        return record
    return scheduler_info(cls)


def scheduler_info(cls: type) -> SchedulerInfo:
    """The record of ``cls``; a scheduler from elsewhere (a dotted path) gets a plain record whose
    per-group arguments are those of the known names it accepts.

    Example:
        >>> from torch.optim.lr_scheduler import OneCycleLR
        >>> scheduler_info(OneCycleLR).length, scheduler_info(OneCycleLR).default_interval
        ('total_steps', 'step')
    """
    record = SCHEDULER_INFO.get(cls) or next(
        (i for i in REGISTERED_SCHEDULERS.values() if i.cls is cls), None
    )
    if record is not None:
        return record
    parameters = set(inspect.signature(cls).parameters)
    return SchedulerInfo(cls, per_group_arguments=_PER_GROUP & parameters)
