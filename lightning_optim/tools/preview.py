"""``preview_schedule``: the lr curve a declaration will produce, computed without data or training.

The declared optimizers are built over one stand-in parameter per param group (the real module is only
read, to find which parameters each group takes), their ``Schedule``s are the objects ``fit`` builds, shaped
by the same derivation (omitted lengths from the same run length), and the run is replayed by stepping only the
schedulers, at the points where ``fit`` steps them: a per-step scheduler by Lightning's rule
(``utilities/step_rule.py``), a per-epoch one after epoch ``e`` when ``(e + 1) % frequency == 0``. In manual
optimization the mixin follows the same rules (``training/stepping.py``), with every declared optimizer
assumed to step once per batch, so a declaration previews (and trains) the same in both modes; optimizers
declaring ``loss`` (the mixin's training step, ``training/driven.py``) each step at the ends of the accumulation
windows ``b`` with ``(b + 1) % every == 0``, and an entry is a window.

Several schedulers of one optimizer step at their own points; at a point shared by several, the
``interval="step"`` ones step first (Lightning steps them after the batch, the mixin inside the optimizer
step), then the ``interval="epoch"`` ones (at the epoch's end), each in the declared order
(``step_rule.in_run_order``, which a resume with ``resume_changed_setup="continue"`` replays too).

Between two scheduler steps the lrs are constant, so a segment is recorded once and repeated.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain, islice, pairwise, repeat, takewhile
from operator import itemgetter, methodcaller
from typing import Any

import torch

from lightning_optim.building import length as _length
from lightning_optim.building.build import Built, build_over_stand_ins
from lightning_optim.building.hparam_values import (
    MissingHParamError,
    missing_fix,
    missing_hint,
    values_resolved,
)
from lightning_optim.building.length import TrainerStandIn, run_shape
from lightning_optim.building.placed import check_placed
from lightning_optim.declaring.construct import detached
from lightning_optim.declaring.optimizer import ResolvedOptimizer
from lightning_optim.declaring.scheduler import ResolvedScheduler, schedulable_params
from lightning_optim.declaring.training_step import declares_losses
from lightning_optim.monitor.lr_monitor import logs_lr, momentum_at
from lightning_optim.schedules.param_view import target_of
from lightning_optim.tools.configured import fit_plans
from lightning_optim.training.mixin import current_declarations
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import check_count, did_you_mean, listing
from lightning_optim.utilities.keys import group_keys
from lightning_optim.utilities.step_rule import in_run_order, stepping_batches, steps_at

#: What ``metrics`` maps a monitored name to: values by index, or a function of the index.
Metric = Sequence[float] | Callable[[int], float]


@dataclass(frozen=True)
class PreviewRun:
    """The shape of the run being previewed, in batches and optimizer steps of one process."""

    batches_per_epoch: int
    accumulate_grad_batches: int
    manual: bool
    #: logged entries per epoch: optimizer steps (automatic), batches (manual) or accumulation windows (an
    #: optimizer declaring ``loss``)
    entries_per_epoch: int
    #: logged entries in the run; ``max_steps`` counts every optimizer's steps, as Lightning does
    entries: int


@dataclass(frozen=True)
class Preview:
    """A previewed run: the lr history of every key and the run it was computed for."""

    lrs: dict[str, list[float]]
    run: PreviewRun


def takes_argument(cls: type, name: str) -> bool:
    """Whether ``cls(name=...)`` is a call its signature takes (an argument of that name, or ``**kwargs``).

    Example:
        >>> class Module:
        ...     def __init__(self, lr=0.1, **hparams): ...
        >>> class Fixed:
        ...     def __init__(self, lr=0.1, *, step_size=2): ...
        >>> takes_argument(Module, "lrr"), takes_argument(Fixed, "step_size"), takes_argument(Fixed, "lrr")
        (True, True, False)
    """
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):  # no signature to read: suggest no call
        return False
    keywords = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return any(
        p.kind is inspect.Parameter.VAR_KEYWORD or (p.name == name and p.kind in keywords) for p in parameters
    )


def _instance(module_or_class: Any) -> Any:
    from lightning_optim.training.mixin import ConfigurableOptimizersMixin

    module = compat.compiled_original(module_or_class)
    if isinstance(module_or_class, type):
        if not issubclass(module_or_class, ConfigurableOptimizersMixin):
            raise TypeError(
                "preview_schedule: Expected a ConfigurableOptimizersMixin module or class but got the class "
                f"`{module_or_class.__qualname__}`, which does not use the mixin."
            )
        try:
            with torch.random.fork_rng(
                devices=[]
            ):  # a seeded module made after the preview is the one made without
                module = module_or_class()
        except TypeError as err:
            raise TypeError(
                "preview_schedule: Expected a module instance or a class constructible without arguments "
                f"but `{module_or_class.__qualname__}()` failed: {err}. Pass an instance instead."
            ) from err
    if not isinstance(module, ConfigurableOptimizersMixin) or not isinstance(module, torch.nn.Module):
        got = (
            f"an instance of `{type(module).__qualname__}`, which does not use the mixin"
            if isinstance(module, torch.nn.Module)
            else f"{module!r} of type {type(module).__name__}"
        )
        raise TypeError(
            f"preview_schedule: Expected a ConfigurableOptimizersMixin module or class but got {got}."
        )
    return module


def _step_positions(
    run: PreviewRun, scheduler: ResolvedScheduler, every: int = 1
) -> Iterator[tuple[int, int]]:
    """``(entry, index)`` pairs: the scheduler steps after ``entry``, ending epoch or step ``index``; ``every``:
    its optimizer's (``OptimizerSpec(every=)``), which steps only at the window ends it selects."""
    per_epoch, last = run.entries_per_epoch, run.entries - 1
    frequency = scheduler.spec.frequency
    if scheduler.interval == "epoch":
        # after epochs ``frequency - 1``, ``2 * frequency - 1``, ... that end before the run's last entry
        ends = range(frequency - 1, math.ceil(run.entries / per_epoch) - 1, frequency)
        yield from (((epoch + 1) * per_epoch - 1, epoch) for epoch in ends)
    else:
        # Lightning counts batches within the epoch: ``(batch_idx + 1) % frequency``, checked when stepping;
        # the ``i``-th stepping batch of an epoch is its ``i``-th entry
        batches = islice(stepping_batches(run.batches_per_epoch, run.accumulate_grad_batches), last)
        within = [i for i, b in enumerate(batches) if steps_at(b, frequency) and steps_at(b, every)]
        entries = (start + i for start in range(0, last, per_epoch) for i in within)
        yield from ((entry, entry) for entry in takewhile(last.__gt__, entries))


def _grouped_events(
    built: Built, run: PreviewRun, metrics: Mapping[str, Metric] | None
) -> Iterator[tuple[int, Sequence[Callable[[], Any]]]]:
    """The scheduler updates at each entry where one happens, in the order ``fit`` takes them (module
    docstring); one scheduler (the common case) takes a path without merging, as this runs once per step."""
    streams = []
    for live, declared in built.scheduled():
        monitor = declared.spec.monitor
        metric = metrics.get(monitor) if metrics is not None and monitor is not None else None
        if declared.is_plateau and metric is None:
            continue  # without its metric a plateau scheduler never steps
        positions = _step_positions(run, declared, built.declared.spec.every)
        if len(built.schedules) == 1 and metric is None:
            steps = (live.step,)
            return ((entry, steps) for entry, _ in positions)
        streams.append((declared.interval, _stream(positions, live, declared, metric)))
    return in_run_order(streams)


def _stream(
    positions: Iterable[tuple[int, int]], live: Any, scheduler: ResolvedScheduler, metric: Metric | None
) -> Iterator[tuple[int, Callable[[], Any]]]:
    """``(entry, step)`` for every update of ``live``: ``step()``, or ``step(value)`` for a plateau scheduler,
    with the metric's value for the index, read when it steps."""
    for entry, index in positions:
        yield entry, live.step if metric is None else partial(_plateau_step, live, scheduler, metric, index)


def _plateau_step(live: Any, scheduler: ResolvedScheduler, metric: Metric, index: int) -> None:
    if not callable(metric) and index >= len(metric):
        raise ValueError(
            f"preview_schedule: Expected `metrics[{scheduler.spec.monitor!r}]` to hold a value for every "
            f"{scheduler.interval} at which `{scheduler.where}` steps but got {len(metric)} values; "
            f"{scheduler.interval} {index} needs one."
        )
    live.step(float(metric(index) if callable(metric) else metric[index]))


def param_readers(param: str, optimizer: torch.optim.Optimizer) -> list[Callable[[Mapping[str, Any]], Any]]:
    """How the value of ``param`` is read from each param group, as ``LRMonitor`` reads it: ``"momentum"`` is
    the group's ``momentum`` or ``betas[0]`` (``momentum_at``), ``0`` with neither.

    Example:
        >>> sgd = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
        >>> [read(sgd.param_groups[0]) for read in param_readers("momentum", sgd) + param_readers("beta1", sgd)]
        [0.9, 0]
    """
    # C-level readers where they can be: one is called per group at every previewed step
    if param == "lr":
        return [itemgetter("lr")] * len(optimizer.param_groups)
    if param == "momentum":
        return [_reader(key, index) for key, index in momentum_at(optimizer)]
    return [_reader(*target_of(param, group)) for group in optimizer.param_groups]


def _reader(key: str, index: int | None) -> Callable[[Mapping[str, Any]], Any]:
    if index is None:
        return methodcaller("get", key, 0)
    return lambda group: group[key][index] if key in group else 0


#: what ``LRMonitor`` logs of an optimizer whose lr it logs: ``0`` for a group without momentum or weight decay
_MONITORED = frozenset({"lr", "momentum", "weight_decay"})


def _options(optimizer: torch.optim.Optimizer) -> set[str]:
    """The options of ``optimizer`` that a preview can record: those some param group has, as a
    ``SchedulerSpec(param=...)`` could drive them (``momentum`` of a group with ``betas`` is ``beta1``), the lr
    only where ``LRMonitor`` logs it (``logs_lr``)."""
    options = {param for group in optimizer.param_groups for param in schedulable_params(optimizer, group)}
    return (options | {"lr"}) if logs_lr(optimizer) else (options - {"lr"})


def _recorded(params: Sequence[str], options: set[str]) -> list[str]:
    """Which of ``params`` a preview records for an optimizer with these ``_options``: its own, and the momentum
    and weight decay that ``LRMonitor`` logs (as ``0`` where its groups have none) beside an lr it logs.

    Example:
        >>> _recorded(["lr", "eta", "weight_decay"], {"lr", "beta1"}), _recorded(["lr", "weight_decay"], {"eta"})
        (['lr', 'weight_decay'], [])
    """
    return [p for p in params if p in options or ("lr" in options and p in _MONITORED)]


def _check_params(params: Sequence[str], built: Sequence[Built], options: Sequence[set[str]]) -> None:
    """Each of ``params`` is an option that some declared optimizer has (``_options``, aligned with ``built``),
    the default ``lr`` included. An optimizer left without a key although the lr is asked for has none (nor any
    other of ``params``): it is named in a warning, as ``LRMonitor`` names one it logs nothing for."""
    known = set().union(*options)
    for param in params:
        if param not in known:
            without_lr = (
                " Their groups hold no lr (or `lr=None`): `LRMonitor` logs none for them."
                if param == "lr"
                else ""
            )
            offered = "; ".join(
                f"{listing(sorted(own)) or 'none'} of `{b.declared.where}` (`{type(b.optimizer).__name__}`)"
                for b, own in zip(built, options)
            )
            raise ValueError(
                f"preview_schedule: Expected each of `params` to be a numeric param-group option of the declared "
                f"optimizers but got {param!r}{did_you_mean(param, known)}. Options: {offered}.{without_lr}"
            )
    for b, own in zip(built, options):
        if "lr" in params and not _recorded(params, own):
            warnings.warn(
                f"preview_schedule: `{b.declared.where}` (`{type(b.optimizer).__name__}`) has param groups without "
                "an lr, which `LRMonitor` logs nothing for: the preview holds no key for it. Its options, for "
                f"`params=`: {listing(sorted(own)) or 'none'}.",
                UserWarning,
                stacklevel=4,
            )


def param_suffix(param: str) -> str:
    """What a key of ``LRMonitor`` adds for ``param``: nothing for the lr, else ``-<param>``.

    Example:
        >>> param_suffix("lr"), param_suffix("weight_decay")
        ('', '-weight_decay')
    """
    return "" if param == "lr" else f"-{param}"


def _simulate(
    built: Built, run: PreviewRun, metrics: Mapping[str, Metric] | None, params: Sequence[str] = ("lr",)
) -> list[list[float]]:
    """The value of each of ``params`` (param by param, then group by group) of each group of one optimizer
    at every entry of the run."""
    groups = built.optimizer.param_groups
    cells = [
        (read, group)
        for param in params
        for read, group in zip(param_readers(param, built.optimizer), groups)
    ]
    if any(isinstance(read(g), torch.Tensor) for read, g in cells):
        cells = [(partial(_as_float, read), group) for read, group in cells]
    # one flat list of floats per group: floats are not tracked by the garbage collector, lists of rows
    # would be, and collecting them would cost as much as the scheduler steps themselves
    columns: list[list[Any]] = [[read(g)] for read, g in cells]
    record = [(column.append, read, group) for column, (read, group) in zip(columns, cells)]
    ends = [-1]  # of the segments
    for entry, steps in _grouped_events(built, run, metrics):
        for step in steps:
            step()
        ends.append(entry)
        for append, read, group in record:
            append(read(group))
    lengths = [end - before for before, end in pairwise([*ends, run.entries - 1])]
    if len(lengths) == run.entries:
        return columns
    return [list(chain.from_iterable(repeat(v, n) for v, n in zip(column, lengths))) for column in columns]


def _as_float(read: Callable[[Mapping[str, Any]], Any], group: Mapping[str, Any]) -> float:
    return float(read(group))


def _check_metrics(declared_all: Sequence[ResolvedOptimizer], metrics: Mapping[str, Metric] | None) -> None:
    if metrics is not None and not isinstance(metrics, Mapping):
        raise TypeError(
            f"preview_schedule: Expected `metrics` to be a dict by monitored name but got {metrics!r}."
        )
    monitored = [s.spec.monitor for p in declared_all for s in p.schedulers if s.spec.monitor]
    for key, value in (metrics or {}).items():
        if key not in monitored:
            raise ValueError(
                "preview_schedule: Expected the keys of `metrics` to be monitored metric names "
                f"({listing(monitored) or 'none declared'}) but got {key!r}"
                f"{did_you_mean(str(key), monitored)}."
            )
        if not callable(value) and not isinstance(value, Sequence):
            raise TypeError(
                f"preview_schedule: Expected `metrics[{key!r}]` to be a callable index -> value or a "
                f"sequence of values but got {value!r}."
            )


def preview(
    module_or_class: Any,
    *,
    max_epochs: int,
    steps_per_epoch: int,
    accumulate_grad_batches: int,
    max_steps: int,
    devices: int,
    metrics: Mapping[str, Metric] | None,
    params: Sequence[str] = ("lr",),
) -> Preview:
    """``preview_schedule`` with the run it simulated (for plots and tables).

    Every run argument is required (the defaults are those of ``preview_schedule``, ``plot_schedule`` and
    the command line); ``params``, the options recorded, defaults to the lr.
    """
    no_limit = (-1, "-1 (no limit)")
    check_count("preview_schedule", "max_epochs", max_epochs, unlimited=no_limit)
    check_count("preview_schedule", "steps_per_epoch", steps_per_epoch)
    check_count("preview_schedule", "accumulate_grad_batches", accumulate_grad_batches)
    check_count("preview_schedule", "max_steps", max_steps, unlimited=no_limit)
    check_count("preview_schedule", "devices", devices)
    if max_epochs == -1 and max_steps == -1:
        raise ValueError(
            "preview_schedule: Expected a run of known length but got `max_epochs=-1` and `max_steps=-1`; "
            "set one of them."
        )
    if isinstance(params, str) or not isinstance(params, Sequence) or not params:
        raise TypeError(
            "preview_schedule: Expected `params` to be a non-empty list of param-group options (e.g. "
            f"('lr', 'weight_decay')) but got {params!r}."
        )
    for param in params:
        if not isinstance(param, str) or not param:
            raise TypeError(
                f"preview_schedule: Expected each of `params` to be an option name but got {param!r}."
            )
    module = _instance(module_or_class)
    declared_all: Sequence[ResolvedOptimizer] = current_declarations(module)
    if not declared_all:
        raise ValueError(f"preview_schedule: `{type(module).__qualname__}` declares no optimizer.")
    try:
        declared_all = values_resolved(module, declared_all)  # the values of its HParams, as `fit` reads them
    except MissingHParamError as err:
        if not isinstance(module_or_class, type):
            raise
        name, cls = err.occurrence.name, module_or_class.__qualname__
        fix = (
            f". Pass an instance: `preview_schedule({cls}({name}=...), ...)`."
            if takes_argument(module_or_class, name)
            else f", and `{cls}.__init__` takes no `{name}` either. {missing_fix(name)}"
        )
        raise ValueError(
            f"preview_schedule: Expected a module instance to read the hyperparameter `{name}` from but got "
            f"the class `{cls}`, and `{cls}()` has no `{name}`{missing_hint(module, name)}: "
            f"{err.occurrence.where} declares `{err.occurrence.key}` as HParam({name!r}) without default{fix}"
        ) from err
    _check_metrics(declared_all, metrics)
    manual, driven = _length.manual_optimization(module), declares_losses(declared_all)
    if manual and not driven and accumulate_grad_batches != 1:  # the mixin's training step accumulates as 1.x
        raise ValueError(
            f"preview_schedule: Expected `accumulate_grad_batches` to be 1 but got {accumulate_grad_batches}: "
            f"`{type(module).__qualname__}` uses manual optimization, where Lightning refuses gradient "
            "accumulation."
        )
    # a DistributedSampler gives each of the ``devices`` processes ceil(samples / devices) samples, which are
    # ceil(batches / devices) batches where the last partial batch is kept (not with `drop_last=True`)
    batches = math.ceil(steps_per_epoch / devices)
    everies = tuple(d.spec.every for d in declared_all)  # as read from the module, as `fit` reads them
    length = TrainerStandIn(
        max_epochs,
        max_steps,
        batches,
        accumulate_grad_batches,
        lightning_module=module,
        declared_everies=everies,
    )
    # each optimizer's steps per epoch and in the run, as `fit` derives lengths from them; when the mixin writes
    # the training step, an entry is an accumulation window (Lightning's logging step)
    if driven:
        per_epoch, entries = _length.run_windows(length)
    else:
        per_epoch, entries = int(_length.epoch_steps(length, 0)), _length.run_steps(length)
    run = PreviewRun(batches, accumulate_grad_batches, manual, per_epoch, int(entries))
    built = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, plans = fit_plans(
            "preview_schedule",
            module,
            [d.grouping for d in declared_all],
            owned=isinstance(module_or_class, type),
        )
        # over stand-in parameters (only the lrs matter), the schedules shaped by the run `fit` would have
        for declared, groups in zip(declared_all, plans):
            built.append(build_over_stand_ins(_detached(declared), groups))
            for schedule, scheduler in built[-1].scheduled():
                schedule.fix(run_shape(length, scheduler))
            check_placed(length, built[-1])
    options = [_options(b.optimizer) for b in built]
    _check_params(params, built, options)
    lrs: dict[str, list[float]] = {}
    # ``LRMonitor``'s order: with a scheduler first
    for b, own in sorted(zip(built, options), key=lambda pair: not pair[0].schedules):
        recorded = _recorded(params, own)
        if not recorded:
            continue
        keys = group_keys(b.prefix, b.optimizer.param_groups)
        named = [f"{key}{param_suffix(param)}" for param in recorded for key in keys]
        lrs.update(zip(named, _simulate(b, run, metrics, recorded)))
    return Preview(lrs=lrs, run=run)


def _detached(declared: ResolvedOptimizer) -> ResolvedOptimizer:
    """``declared`` with its schedulers holding copies of the user's objects (``construct.detached``): the
    preview leaves them as it found them, for the ``fit`` after it."""
    return dataclasses.replace(declared, schedulers=tuple(map(detached, declared.schedulers)))


def preview_schedule(
    module_or_class: Any,
    *,
    max_epochs: int,
    steps_per_epoch: int,
    accumulate_grad_batches: int = 1,
    max_steps: int = -1,
    devices: int = 1,
    metrics: Mapping[str, Metric] | None = None,
    params: Sequence[str] = ("lr",),
) -> dict[str, list[float]]:
    """The lr of every param group at every optimizer step of a run, computed without data or training.

    The result is keyed like ``LRMonitor`` (``lr-<attribute>``, ``lr-<attribute>/<group name>`` with
    several groups, or the scheduler's explicit ``name``) and holds one value per optimizer step: what a
    real ``fit`` of that length logs with ``LRMonitor(logging_interval="step")`` and
    ``log_every_n_steps=1`` (which, with gradient accumulation, logs every batch of a step; the preview
    keeps one entry per step). Omitted scheduler lengths are derived exactly as ``fit`` derives them.

    The module is only read, to find which parameters each group takes: the optimizers are built over
    stand-in parameters and never stepped. In manual optimization every declared optimizer is assumed to
    step once per batch (``max_steps`` counts the steps of all of them, as Lightning's ``global_step``); when
    the optimizers declare ``loss``, each steps at the accumulation windows its ``every`` selects, and an entry
    is a window (Lightning's logging step).

    A ``ReduceLROnPlateau`` only changes the lr in response to its metric, which a preview does not
    have: without ``metrics`` its lr stays constant.

    The schedulers' callables (``lr_lambda``, ``scale_fn``) are called on copies: a callable object, a bound
    method with its object and a value an ``HParam`` reads are copied (``copy.deepcopy``), so the ``fit`` after
    the preview starts them as it would without it; one ``copy.deepcopy`` refuses is called as it is, as a
    function is (what it keeps outside itself, a global counter, is advanced by the preview as by ``fit``).

    ``HParam`` values are read from the module as ``fit`` reads them (from ``Class()`` when given a class). A
    module that builds its layers in Lightning's ``configure_model`` hook is planned with them: the hook runs on
    a copy sharing its parameters (``tools/configured.py``), and the module given is left for ``fit`` to build.

    Args:
        module_or_class: a ``ConfigurableOptimizersMixin`` module (or that module compiled:
            ``torch.compile(module)``), or its class (built with no arguments).
        max_epochs: ``Trainer(max_epochs=...)``; ``-1`` for no epoch limit (then ``max_steps`` is needed).
        steps_per_epoch: training batches per epoch (``len(train_dataloader)``; of the whole data, which
            ``devices`` splits, or of one process with ``devices=1``).
        accumulate_grad_batches: ``Trainer(accumulate_grad_batches=...)``.
        max_steps: ``Trainer(max_steps=...)``; ``-1`` for no step limit.
        devices: the number of processes (devices times nodes) the samples are split over by the
            ``DistributedSampler`` Lightning gives the train dataloader (``use_distributed_sampler=True``, the
            default): each process runs ``ceil(steps_per_epoch / devices)`` batches per epoch, exact where the
            dataloader keeps its last partial batch (``drop_last=False``, the default). With ``drop_last=True`` a
            process runs ``ceil(samples / devices) // batch_size`` batches, fewer where the split leaves each
            process a partial batch (44 samples in batches of 8 on 2 processes: 2, not ``ceil(5 / 2) = 3``);
            there, and with a sampler of your own (``use_distributed_sampler=False``), pass one process's
            batches (its ``len(train_dataloader)``, ``trainer.num_training_batches`` in the fit) as
            ``steps_per_epoch`` with ``devices=1``.
        metrics: for a ``ReduceLROnPlateau``, by monitored name, the metric's values: a sequence, or a
            callable of the index, where the index is the epoch for ``interval="epoch"`` and the optimizer
            step for ``interval="step"``: the value the scheduler reads when it steps after that epoch or
            step (in manual optimization, a value logged in ``training_step`` before ``opt.step()``).
        params: the param-group options to return (``SchedulerSpec(param=...)`` schedules the others): ``"lr"``
            under the keys above, any other under ``<key>-<param>``, as ``LRMonitor`` logs
            ``<key>-weight_decay`` (``log_weight_decay=True``) and ``<key>-momentum`` (``log_momentum=True``:
            ``betas[0]`` on an optimizer with ``betas``); per optimizer, the lr keys first, then each option's.
            Each must be an option that some param group of a declared optimizer has (``beta1``, ``beta2`` and
            ``momentum`` for a group with ``betas``), the default ``lr`` included. An optimizer gets the keys of
            the options its groups have, and the momentum and weight decay that ``LRMonitor`` logs beside its lr
            (``0`` for groups without); one whose groups have no lr, or ``lr=None`` (transformers' ``Adafactor``
            with ``relative_step=True``), gets no lr key, as ``LRMonitor`` logs nothing for it (with a warning
            when it gets no key at all).

    Returns:
        The history of every param group (lr, and the other ``params``), by ``LRMonitor`` key.

    Raises:
        TypeError: If the module does not use the mixin, its class needs constructor arguments, or an
            argument has the wrong type.
        ValueError: If an argument is out of range, the run has no known length, one of ``params`` is an
            option no declared optimizer's groups have, or a declaration does not fit the module (as ``fit``
            would report).

    Example:
        >>> import lightning as L
        >>> from torch import nn
        >>> from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec
        >>> halve = SchedulerSpec("step", step_size=1, gamma=0.5)  # per epoch
        >>> class Model(ConfigurableOptimizersMixin, L.LightningModule):
        ...     optimizer = OptimizerSpec("sgd", lr=1.0, scheduler=halve)
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.net = nn.Linear(2, 1)
        >>> preview_schedule(Model, max_epochs=3, steps_per_epoch=2)
        {'lr-optimizer': [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]}
        >>> preview_schedule(Model, max_epochs=3, steps_per_epoch=2, max_steps=3)
        {'lr-optimizer': [1.0, 1.0, 0.5]}
    """
    return preview(
        module_or_class,
        max_epochs=max_epochs,
        steps_per_epoch=steps_per_epoch,
        accumulate_grad_batches=accumulate_grad_batches,
        max_steps=max_steps,
        devices=devices,
        metrics=metrics,
        params=params,
    ).lrs
