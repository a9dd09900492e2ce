"""The three immutable declarations: ``OptimizerSpec``, ``SchedulerSpec`` and ``ParamGroup``.

They hold exactly what the user wrote. Checking happens when a ``ConfigurableOptimizersMixin`` subclass is
defined (see ``optimizer.py`` and ``scheduler.py``), so every message can name the attribute that declared the mistake.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any, Literal, NoReturn, overload

from lightning_optim.declaring.live import LIVE_CACHE
from lightning_optim.groups.selection import Selector
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import near_miss
from lightning_optim.utilities.frozen import ReadOnlyMapping, hashable

if TYPE_CHECKING:
    import pytorch_lightning
    from lightning.pytorch import LightningModule
    from lightning.pytorch.core.optimizer import LightningOptimizer
    from pytorch_lightning.core.optimizer import LightningOptimizer as StandaloneLightningOptimizer
    from torch.optim import Optimizer

    # hparam.py imports this module; its annotations here are what a type checker reads
    from lightning_optim.declaring.hparam import HParam
    from lightning_optim.groups.recipes.layer_decay import LayerDecayRule

Interval = Literal["step", "epoch"]

#: How an optimizer's step is computed; ``"auto"`` picks the fastest safe one (see ``registry/implementation.py``).
Implementation = Literal["auto", "fused", "foreach", "forloop", "compiled"]


def _class_repr(value: Any) -> str:
    return value.__name__ if isinstance(value, type) else repr(value)


def _kwargs_repr(kwargs: Mapping[str, Any], options: Iterable[str] = ()) -> list[str]:
    """``key=value`` for each of a spec's own arguments; those named like one of the spec's ``options`` inside
    ``kwargs={...}``, where a keyword would be that option, so that the repr builds the same spec.

    Example:
        >>> _kwargs_repr({"max_iters": 12, "warmup": 4}, ("warmup", "interval"))
        ['max_iters=12', "kwargs={'warmup': 4}"]
    """
    clashing = {key: value for key, value in kwargs.items() if key in options}
    parts = [f"{key}={value!r}" for key, value in kwargs.items() if key not in clashing]
    return [*parts, f"kwargs={clashing!r}"] if clashing else parts


def _own_arguments(kind: str, field: str, given: dict[str, Any]) -> dict[str, Any]:
    """The arguments a spec holds in its mapping ``field`` (an optimizer's or a scheduler's ``kwargs``, a
    group's ``options``): ``given``, with ``field`` itself given by name (as ``dataclasses.replace`` and
    ``copy.replace`` pass every field of the spec) taken as that mapping, under the arguments given beside it.

    Example:
        >>> _own_arguments("OptimizerSpec", "kwargs", {"kwargs": {"lr": 0.1, "momentum": 0.9}, "lr": 0.5})
        {'lr': 0.5, 'momentum': 0.9}
        >>> _own_arguments("OptimizerSpec", "kwargs", {"lr": 0.5})
        {'lr': 0.5}
        >>> _own_arguments("ParamGroup", "options", {"options": None})
        Traceback (most recent call last):
        ...
        TypeError: ParamGroup: Expected `options` (the mapping of the spec's own arguments, as `dataclasses.replace` takes it) to be a mapping but got None; e.g. `dataclasses.replace(spec, options={...})`, or give the arguments by keyword.
    """
    if field not in given:
        return given
    held = given.pop(field)
    if not isinstance(held, Mapping):
        raise TypeError(
            f"{kind}: Expected `{field}` (the mapping of the spec's own arguments, as `dataclasses.replace` takes "
            f"it) to be a mapping but got {held!r}; e.g. `dataclasses.replace(spec, {field}={{...}})`, or give the "
            "arguments by keyword."
        )
    return {**held, **given}


@functools.cache
def _spec_options(kind: type) -> tuple[tuple[str, Any], ...]:
    parameters = inspect.signature(kind).parameters.values()
    return tuple((p.name, p.default) for p in parameters if p.kind is p.KEYWORD_ONLY)


def spec_options(kind: type) -> dict[str, Any]:
    """The keyword-only options of a spec class with their defaults, read from its signature.

    Example:
        >>> list(spec_options(OptimizerSpec))  # doctest: +NORMALIZE_WHITESPACE
        ['params', 'groups', 'scheduler', 'no_decay', 'layer_decay', 'layer_decay_blocks', 'layer_decay_rule',
         'layer_decay_min_scale', 'implementation', 'skip_nonfinite', 'loss', 'every']
    """
    return dict(_spec_options(kind))


def _options_repr(spec: Any, kind: type, options: Iterable[str] | None = None) -> list[str]:
    """``key=value`` for each option of ``kind`` (or each of ``options``) that ``spec`` sets to a non-default."""
    defaults = spec_options(kind)
    names = defaults if options is None else options
    return [f"{key}={getattr(spec, key)!r}" for key in names if getattr(spec, key) != defaults[key]]


class _FrozenValue:
    """What the frozen specs share: a hash of the fields' values (``hashable``), so equal specs hash equal, and a
    pickled state holding the option mappings (``ReadOnlyMapping``) as plain dicts, each made read-only again when
    loaded: the state checkpoints have held since the mappings were read-only views, which pickled nothing."""

    def __getstate__(self) -> tuple[dict[str, Any], tuple[str, ...]]:
        state = vars(self)
        viewed = tuple(key for key, value in state.items() if isinstance(value, ReadOnlyMapping))
        return {key: dict(value) if key in viewed else value for key, value in state.items()}, viewed

    def __setstate__(self, state: tuple[dict[str, Any], tuple[str, ...]]) -> None:
        values, viewed = state
        for key, value in values.items():
            object.__setattr__(self, key, ReadOnlyMapping(value) if key in viewed else value)

    def _hash(self) -> int:
        return hash((type(self).__name__, *(hashable(getattr(self, f.name)) for f in fields(self))))  # type: ignore[arg-type]


class _NoSelect:
    """The default of ``ParamGroup``'s positional selector: given by keyword or missing."""

    def __repr__(self) -> str:
        return "<no selector>"


_NO_SELECT: Any = _NoSelect()


def _selector_miss(options: Mapping[str, Any]) -> str:
    """The keyword among a ``ParamGroup``'s options that was meant as its selector, if one looks like it: a
    misspelt ``select``, or ``params`` (a torch param-group dict's key).

    Example:
        >>> _selector_miss({"selct": "head", "lr": 0.5})
        ' (`selct`: did you mean `select`?)'
        >>> _selector_miss({"params": "head"})
        ' (`params`: a torch param-group key; a `ParamGroup` takes its selector first, or as `select=`)'
        >>> _selector_miss({"lr": 0.5})
        ''
    """
    if "params" in options:
        return (
            " (`params`: a torch param-group key; a `ParamGroup` takes its selector first, or as `select=`)"
        )
    return near_miss(options, "select")


@dataclass(frozen=True, init=False, repr=False)
class ParamGroup(_FrozenValue):
    """One param group of an ``OptimizerSpec``: the parameters ``select`` takes, with their own options.

    Groups are matched in declared order and a parameter taken by an earlier group is not taken again
    (so ``ParamGroup("head.bias")`` before ``ParamGroup("head")`` gives the bias its own options); a group
    whose selector matches no parameter left is an error. Trainable parameters that no group takes form a
    last group (named ``"rest"``) with the optimizer's own options. ``options`` are per-group options of the
    optimizer (``lr``, ``weight_decay``, ``momentum``, ``betas``, ...) plus ``name``, used in logged metric
    keys (``lr-optimizer/<name>``); it defaults to ``select`` when that is a string (else to a callable's
    name, else ``pg<n>``). Names are unique within an optimizer and ``rest`` is reserved. ``lr_mult`` and
    ``decay_mult`` set the group's ``lr`` and ``weight_decay`` as multiples of the optimizer's (mmengine's
    ``paramwise_cfg`` ``custom_keys``); each excludes the absolute option it scales.

    The selector is the first argument; ``select=`` as a keyword means the same.

    Example:
        >>> ParamGroup("layer1", lr=0.5)
        ParamGroup('layer1', lr=0.5)
        >>> ParamGroup("backbone", lr_mult=0.1, decay_mult=0.0)
        ParamGroup('backbone', lr_mult=0.1, decay_mult=0.0)
        >>> ParamGroup(select="layer1", lr=0.5)
        ParamGroup('layer1', lr=0.5)
    """

    select: Selector
    options: Mapping[str, Any]

    __hash__ = _FrozenValue._hash  # explicit: the dataclass would hash the unhashable mappings

    def __init__(self, select: Selector = _NO_SELECT, /, **options: Any) -> None:
        if "select" in options:  # `ParamGroup(select="head")`: the selector by keyword
            if select is not _NO_SELECT:
                raise TypeError(
                    f"ParamGroup: Expected the selector once but got it both positionally ({select!r}) and as "
                    f"`select={options['select']!r}`; write `ParamGroup({select!r}, ...)`."
                )
            select = options.pop("select")
        options = _own_arguments("ParamGroup", "options", options)
        if select is _NO_SELECT:
            raise TypeError(
                "ParamGroup: Expected a selector, the parameters the group takes (a submodule path, a parameter "
                f"name, a glob or a callable (name, param) -> bool), but got none{_selector_miss(options)}; "
                'e.g. `ParamGroup("head", lr=0.1)`.'
            )
        object.__setattr__(self, "select", select)
        object.__setattr__(self, "options", ReadOnlyMapping(options))

    @property
    def name(self) -> str | None:
        """The explicit ``name`` option, if any."""
        name = self.options.get("name")
        return name if isinstance(name, str) else None

    def __repr__(self) -> str:
        return f"ParamGroup({', '.join([repr(self.select), *_kwargs_repr(self.options)])})"


@dataclass(frozen=True, init=False, repr=False)
class SchedulerSpec(_FrozenValue):
    """An LR scheduler and how it is stepped.

    Args:
        scheduler: an ``LRScheduler`` subclass, ``ReduceLROnPlateau``, a registered name (``"step"``,
            ``"cosine"``, ``"onecycle"``, ``"plateau"``, ..., or any lower-case class name) or a dotted
            import path.
        interval: ``"step"`` (after each optimizer step) or ``"epoch"``. ``None`` means ``"epoch"``, except
            for schedulers that only make sense per batch (``OneCycleLR``, ``CyclicLR``): ``"step"``.
        frequency: step the scheduler every ``frequency`` intervals.
        monitor: the metric a ``ReduceLROnPlateau`` watches (required for it, refused for others).
        strict: with ``monitor`` (``ReduceLROnPlateau`` only), stop training when the metric is missing (else
            warn and skip).
        name: the metric prefix this optimizer's learning rates are logged under (default ``lr-<attribute>``).
        warmup: a linear warmup to the declared lr before the schedule: an int counts the scheduler's own
            updates (intervals when ``frequency=1``; epochs with ``unit="epoch"``), a float in [0, 1) is a
            fraction of the run's updates (0.0, as 0 and ``None``, is none: Hugging Face's ``warmup_ratio``).
        warmup_start_factor: the fraction of the lr used during the warmup's first interval, in ``[0, 1)``;
            default ``1 / (warmup + 1)`` (equal increments, no interval at lr 0).
        unit: what the scheduler's own arguments count (``step_size``, ``milestones``, ``T_max``, ...):
            ``"epoch"`` with ``interval="step"`` declares an epoch-based schedule that is updated after every
            optimizer step with the same shape. ``None`` means ``interval``.
        begin: the first of the scheduler's updates it acts at (mmengine's ``begin``): before it the lr is
            left to the optimizer's other schedulers. An int counts the scheduler's updates (its intervals, or
            epochs with ``unit="epoch"``); a float in [0, 1) is a fraction of the run's updates (0.0 is 0).
            ``None``: 0.
        end: the update it stops acting at (not included; mmengine's ``end``), an int or a float in (0, 1];
            ``None``: the end of the run. With ``begin`` or ``end``, a length argument left out is derived from
            the window, as mmengine does (``T_max = end - begin``; ``total_iters = end - begin - 1``, so a
            ``LinearLR`` reaches its ``end_factor`` at the window's last update).
        param: the param-group option the scheduler drives (mmengine's ``param_name``): ``"lr"``, or any
            numeric per-group option of the optimizer (``"weight_decay"``, ``"momentum"``, ...), or ``"beta1"``
            (``betas[0]``; ``"momentum"`` means it too on an optimizer with ``betas``). The schedule starts from
            each group's declared value: ``SchedulerSpec("cosine", param="weight_decay", eta_min=0.4)`` takes
            the weight decay from its declared value to 0.4. Declare it next to the lr schedule in a list. A
            group without weight decay in an optimizer that has one (``no_decay``, ``decay_mult=0``) keeps none.
        **kwargs: the scheduler's own arguments (``optimizer`` excluded). One named like an option above (a
            class's own ``warmup``, ``name`` or ``end``) goes in the mapping ``kwargs={"warmup": 4}``: an argument
            there always goes to the class. Given by keyword, a name that is both an option and an argument of
            the class is refused as ambiguous.

    Example:
        >>> from torch.optim.lr_scheduler import StepLR
        >>> SchedulerSpec(StepLR, step_size=30, gamma=0.1)
        SchedulerSpec(StepLR, step_size=30, gamma=0.1)
        >>> SchedulerSpec("exponential", gamma=0.99, interval="step")
        SchedulerSpec('exponential', gamma=0.99, interval='step')
    """

    # the fields' types are those of a declaration checked and resolved for `fit`; `__init__`'s admit an `HParam`
    # in the numeric options (`NUMERIC_OPTIONS`, hparam.py), which `fit` replaces by the value it reads
    scheduler: type | str
    kwargs: Mapping[str, Any]
    interval: Interval | None
    frequency: int
    monitor: str | None
    strict: bool
    name: str | None
    warmup: int | float | None
    warmup_start_factor: float | None
    unit: Interval | None
    begin: int | float | None
    end: int | float | None
    param: str

    __hash__ = _FrozenValue._hash  # explicit: the dataclass would hash the unhashable mappings

    def __init__(
        self,
        scheduler: type | str,  # also by keyword: `dataclasses.replace` gives every field by name
        *,
        interval: Interval | None = None,
        frequency: int | HParam = 1,
        monitor: str | None = None,
        strict: bool = True,
        name: str | None = None,
        warmup: int | float | HParam | None = None,
        warmup_start_factor: float | HParam | None = None,
        unit: Interval | None = None,
        begin: int | float | HParam | None = None,
        end: int | float | HParam | None = None,
        param: str = "lr",
        **kwargs: Any,
    ) -> None:
        values = locals()
        object.__setattr__(self, "scheduler", scheduler)
        object.__setattr__(self, "kwargs", ReadOnlyMapping(_own_arguments("SchedulerSpec", "kwargs", kwargs)))
        for option in spec_options(SchedulerSpec):  # the signature is the one list of options
            object.__setattr__(self, option, values[option])

    def __repr__(self) -> str:
        arguments = _kwargs_repr(self.kwargs, spec_options(SchedulerSpec))
        parts = [_class_repr(self.scheduler), *arguments, *_options_repr(self, SchedulerSpec)]
        return f"SchedulerSpec({', '.join(parts)})"


#: What each option of ``SchedulerSpec`` and ``OptimizerSpec`` does, in a few words, for the message refusing one
#: given by keyword where the declared class has an argument of the same name (``check_option_clashes``).
OPTION_MEANINGS: Mapping[str, str] = MappingProxyType(
    {
        "interval": "when Lightning steps the scheduler",
        "frequency": "how many intervals between two scheduler steps",
        "monitor": "the metric a `ReduceLROnPlateau` watches",
        "strict": "whether a missing `monitor` metric stops training",
        "name": "the prefix of the logged learning rates",
        "warmup": "a linear warmup this package adds before the schedule",
        "warmup_start_factor": "the lr fraction the added warmup starts at",
        "unit": "what the scheduler's arguments count",
        "begin": "the update the scheduler starts acting at",
        "end": "the update the scheduler stops acting at",
        "param": "the param-group option the scheduler drives",
        "params": "the parameters the optimizer trains",
        "groups": "the optimizer's param groups",
        "scheduler": "the optimizer's schedulers",
        "no_decay": "the parameters given no weight decay",
        "layer_decay": "layer-wise lr decay",
        "layer_decay_blocks": "the blocks of `layer_decay`",
        "layer_decay_rule": "where `layer_decay` puts the final norm",
        "layer_decay_min_scale": "the smallest scale of `layer_decay`",
        "implementation": "how the optimizer's step is computed",
        "skip_nonfinite": "how many non-finite updates in a row are skipped",
        "loss": "the module method computing the optimizer's loss",
        "every": "the batches the mixin steps the optimizer on",
    }
)

#: ``SchedulerSpec`` options that do not change the learning rates (left out of the resume fingerprint).
TRAJECTORY_NEUTRAL_OPTIONS = frozenset({"strict", "name"})

#: The ``OptimizerSpec`` options given as a list or tuple, stored as a tuple (``params`` is kept as given).
_SEQUENCE_OPTIONS = frozenset({"groups", "scheduler", "no_decay", "layer_decay_blocks"})


def _positional_options(optimizer: Any, values: tuple[Any, ...]) -> str:
    """The error for options given to ``OptimizerSpec`` by position, naming each with the keyword it takes (from
    the optimizer class's signature; ``lr``, torch's second argument, for a name).

    Example:
        >>> import torch
        >>> print(_positional_options(torch.optim.SGD, (0.1, 0.9)))
        OptimizerSpec: Expected the options of `SGD` by keyword but got 0.1, 0.9 by position; write `OptimizerSpec(SGD, lr=0.1, momentum=0.9)`.
    """
    names = list(inspect.signature(optimizer).parameters)[1:] if isinstance(optimizer, type) else ["lr"]
    shown = optimizer.__name__ if isinstance(optimizer, type) else repr(optimizer)
    given = ", ".join(map(repr, values))
    if len(names) < len(values):
        return f"OptimizerSpec: Expected the options of `{shown}` by keyword but got {given} by position."
    keywords = ", ".join(f"{name}={value!r}" for name, value in zip(names, values))
    return (
        f"OptimizerSpec: Expected the options of `{shown}` by keyword but got {given} by position; write "
        f"`OptimizerSpec({shown}, {keywords})`."
    )


@dataclass(frozen=True, init=False, repr=False)
class OptimizerSpec(_FrozenValue):
    """One optimizer: which parameters it trains, its param groups, its options and its scheduler.

    Assign it to a class attribute of a ``ConfigurableOptimizersMixin`` module; the attribute name is the
    optimizer's name. Once ``fit`` has started the attribute gives the live (Lightning-wrapped) optimizer, so a
    manual ``training_step`` can write ``self.gen_opt.step()`` (also after ``fit``, while Lightning keeps the
    module attached to its Trainer); on the class, and before a fit, it gives the declaration.

    The three specs are frozen dataclasses: ``dataclasses.replace(spec, scheduler=...)`` (``copy.replace`` on
    Python 3.13) gives a spec with those fields changed; ``kwargs=`` (``options=`` for a ``ParamGroup``) replaces
    the whole mapping of the class's own arguments, and one of them given by name (``lr=0.01``) changes it alone.

    Args:
        optimizer: a ``torch.optim.Optimizer`` subclass, a lower-case ``torch.optim`` class name (``"adamw"``)
            or a dotted import path.
        params: what this optimizer trains (see ``Selector``); ``None`` takes every trainable parameter that
            no other declared optimizer takes.
        groups: ``ParamGroup`` declarations, matched in order.
        scheduler: an optional ``SchedulerSpec``, or a list of them: all act on this optimizer in the declared
            order, each with its own ``interval``, ``frequency`` and ``warmup`` (each update applies to the lr
            the others left, as Lightning steps several schedulers returned for one optimizer). A scheduler
            that sets the lr outright from its own start at every update (``lambda``, ``cosine_restarts``,
            ``onecycle``, ``cyclic``, ``transformers/*``, ``timm/cosine``) would discard the others' factors:
            one acting beside another on the same ``param`` (the whole run, overlapping windows) is refused;
            give it a ``warmup=`` or disjoint windows (docs/guides/schedules.md).
        no_decay: which parameters get ``weight_decay=0.0``: a library's rule, ``"transformers"`` (the
            ``Trainer``'s: names containing ``bias``, ``layernorm``, ``rmsnorm`` or a ``norm`` segment, and
            every ``nn.LayerNorm`` parameter), ``"timm"`` (``param_groups_weight_decay``'s: ``ndim <= 1``,
            names ending in ``.bias``, and the names the model's ``no_weight_decay()`` lists) or
            ``"nanogpt"`` (nanoGPT's ``configure_optimizers``: every tensor with ``dim() < 2``, so matrices
            and embeddings decay, a token embedding tied to the output layer included); ``True``
            (meaning ``("bias", "norm", "embedding")``); or a tuple of kinds and rules: ``"bias"`` (names
            ending in ``bias``, as minGPT's, so also ``in_proj_bias``), ``"norm"`` (every parameter of a normalization layer: ``BatchNorm*``, ``SyncBatchNorm``,
            ``InstanceNorm*``, ``LayerNorm``, ``GroupNorm``, ``RMSNorm``, or any module class whose name ends
            in ``Norm``), ``"embedding"`` (``Embedding``/``EmbeddingBag`` weights) and ``"1d"`` (every
            parameter with ``ndim <= 1``). Each group is split in two: ``<group>`` keeps its decay,
            ``<group>/no_decay`` gets none.
        layer_decay: layer-wise lr decay for stacked blocks (BEiT/ViT fine-tuning): block ``i`` of ``L``
            gets ``lr * layer_decay ** (L - i)``, parameters registered before the blocks (embeddings) get
            ``lr * layer_decay ** (L + 1)`` and those after them (final norm, head) the full ``lr``
            (``layer_decay_rule`` says where the final norm goes). The scale multiplies each built group's
            ``lr``, so it is relative to the group's own lr and a multiplicative schedule keeps the ratios;
            an absolute floor (``eta_min``) is the same for every group (docs/guides/groups.md).
        layer_decay_blocks: with ``layer_decay``, the submodule path of the blocks (a ``ModuleList`` or
            ``Sequential``), e.g. ``"blocks"`` or ``"encoder.layers"``; or a tuple of paths for several
            stacks (``("visual.blocks", "text.blocks")``), each scaled over its own depth.
        layer_decay_rule: ``"beit"`` (default: BEiT's layer ids, the final norm gets the full ``lr``) or
            ``"timm"`` (timm's ``param_groups_layer_decay`` with ViT's ``group_matcher``: the parameters
            named ``norm*`` next to the blocks join the last block, ``lr * layer_decay``).
        layer_decay_min_scale: the smallest scale a layer gets (timm's ``layer_decay_min_scale``).
        implementation: ``"auto"`` (default: the fused kernel where it is fastest and safe, else torch's
            default; on CUDA a compiled step where measured faster and the run repays the compile time),
            ``"fused"``, ``"foreach"``, ``"forloop"`` or ``"compiled"`` (the step under ``torch.compile``, its
            lr and Adam's betas held as tensors so that no schedule recompiles it; a schedule of an option
            torch takes as a number only is refused; see ``building/compiled.py``). An explicit ``fused=``/``foreach=`` among
            the optimizer's arguments always wins over ``"auto"``. The implementations round differently, so
            to compare a port with its original bit for bit, declare the one the original ran (torch's
            default: ``"forloop"`` on CPU, ``"foreach"`` on CUDA).
        skip_nonfinite: ``N > 0`` skips an update whose gradients are not all finite (weights, optimizer
            state and schedules stay as they were) and stops training at the ``N + 1``-th such update in a
            row, naming the optimizer and the step; ``0`` (default): off. Skips are counted (``LRMonitor``
            logs ``<key>-skipped``). See ``training/nonfinite.py``.
        loss: the name of a module method ``method(batch, batch_idx) -> loss``: the mixin then writes the
            training step: for each declared optimizer in declaration order it calls its method (after the
            previous optimizer stepped), runs the backward, accumulation, clipping, the step, ``zero_grad``
            and the schedules (Lightning 1.x's loop over ``optimizer_idx``). Declare it on every optimizer or
            on none. See ``training/driven.py``.
        every: with ``loss``, step this optimizer on the batches where ``(batch_idx + 1) % every == 0``
            (WGAN's ``n_critic`` on the other optimizer); ``1`` (default): every batch.
        **kwargs: the optimizer's own arguments (``params`` excluded); one named like an option above (a
            class's own ``every``) goes in the mapping ``kwargs={"every": 2}``, as for ``SchedulerSpec``.

    Example:
        >>> from torch.optim import Adam, AdamW
        >>> OptimizerSpec(Adam, params="model_gen", lr=0.01)
        OptimizerSpec(Adam, params='model_gen', lr=0.01)
        >>> OptimizerSpec(AdamW, lr=1e-3, weight_decay=0.05, no_decay=True)
        OptimizerSpec(AdamW, lr=0.001, weight_decay=0.05, no_decay=True)
        >>> OptimizerSpec(AdamW, lr=1e-3, layer_decay=0.75, layer_decay_blocks="blocks")
        OptimizerSpec(AdamW, lr=0.001, layer_decay=0.75, layer_decay_blocks='blocks')
    """

    # as `SchedulerSpec`'s: `__init__` also takes an `HParam` for the `NUMERIC_OPTIONS`
    optimizer: type[Optimizer] | str
    params: Selector | None
    groups: tuple[ParamGroup, ...]
    scheduler: SchedulerSpec | tuple[SchedulerSpec, ...] | None
    kwargs: Mapping[str, Any]
    no_decay: bool | Sequence[str]
    layer_decay: float | None
    layer_decay_blocks: str | Sequence[str] | None
    layer_decay_rule: LayerDecayRule
    layer_decay_min_scale: float
    implementation: Implementation
    skip_nonfinite: int
    loss: str | None
    every: int

    __hash__ = _FrozenValue._hash  # explicit: the dataclass would hash the unhashable mappings

    def __init__(
        self,
        optimizer: type[Optimizer] | str,  # also by keyword, as for `SchedulerSpec`
        *positional: NoReturn,  # refused: torch's `Adam(params, 0.01)` habit, named with its keyword below
        params: Selector | None = None,
        groups: Sequence[ParamGroup] = (),
        scheduler: SchedulerSpec | Sequence[SchedulerSpec] | None = None,
        no_decay: bool | Sequence[str] = False,
        layer_decay: float | HParam | None = None,
        layer_decay_blocks: str | Sequence[str] | None = None,
        layer_decay_rule: LayerDecayRule = "beit",
        layer_decay_min_scale: float | HParam = 0.0,
        implementation: Implementation = "auto",
        skip_nonfinite: int | HParam = 0,
        loss: str | None = None,
        every: int | HParam = 1,
        **kwargs: Any,
    ) -> None:
        if positional:
            raise TypeError(_positional_options(optimizer, positional))
        values = locals()
        object.__setattr__(self, "optimizer", optimizer)
        object.__setattr__(self, "kwargs", ReadOnlyMapping(_own_arguments("OptimizerSpec", "kwargs", kwargs)))
        for option in spec_options(OptimizerSpec):  # the signature is the one list of options
            value = values[option]
            if option in _SEQUENCE_OPTIONS and isinstance(value, (list, tuple)):
                value = tuple(value)
            object.__setattr__(self, option, value)

    def __repr__(self) -> str:
        parts = [_class_repr(self.optimizer)]
        if self.params is not None:
            parts.append(f"params={self.params!r}")
        if self.groups:
            parts.append(f"groups={list(self.groups)!r}")
        parts += _kwargs_repr(self.kwargs, spec_options(OptimizerSpec))
        recipes = (
            "no_decay",
            "layer_decay",
            "layer_decay_blocks",
            "layer_decay_rule",
            "layer_decay_min_scale",
        )
        parts += _options_repr(self, OptimizerSpec, recipes)
        if isinstance(self.scheduler, tuple):
            parts.append(f"scheduler={list(self.scheduler)!r}")
        elif self.scheduler is not None:
            parts.append(f"scheduler={self.scheduler!r}")
        parts += _options_repr(self, OptimizerSpec, ("implementation", "skip_nonfinite", "loss", "every"))
        return f"OptimizerSpec({', '.join(parts)})"

    def __set_name__(self, owner: type, name: str) -> None:
        declared = f"{owner.__qualname__}.{name}"
        earlier = self.__dict__.get("_declared_as", declared)
        if earlier != declared and earlier.rsplit(".", 1)[-1] == name:
            declared = name  # one spec in several classes (a project's constant): not one class's
        object.__setattr__(self, "_declared_as", declared)
        error = misdeclared(owner, name)
        if error is None:
            return
        if sys.version_info >= (3, 12):
            raise error
        # Python < 3.12 re-raises anything raised here as "RuntimeError: Error calling __set_name__" (ours
        # only as its cause), and no other hook of ours runs when a plain LightningModule is defined: the class
        # is refused when it is instantiated instead, with this error itself.
        _refuse_instances(owner, error)

    # a `__getattr__` a type checker saw would make every attribute `Any`, typos included
    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            # only reached for names the declaration lacks: `self.optimizer.step()` before a fit
            if not name.startswith("__") and name in _optimizer_members():
                declared = self.__dict__.get("_declared_as", type(self).__name__)
                raise AttributeError(
                    f"{declared}: `{name}` belongs to the live optimizer, but before a fit `{declared}` is the "
                    f"declaration ({self!r}). The live optimizer exists once `trainer.fit` has started: use "
                    f"`self.{declared.rsplit('.', 1)[-1]}.{name}` inside `training_step` (or another hook called "
                    "during fit), or `self.optimizers()`.",
                    name=name,
                    obj=self,
                )
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self
            )

    # The types of `self.<attribute>` where a module uses it, in the hooks `fit` calls: the live optimizer, of
    # the module's own Lightning namespace (two unrelated classes); `Model.<attribute>` is the declaration.
    @overload
    def __get__(self, instance: None, owner: type) -> OptimizerSpec: ...

    @overload
    def __get__(
        self, instance: pytorch_lightning.LightningModule, owner: type
    ) -> StandaloneLightningOptimizer: ...

    @overload
    def __get__(self, instance: LightningModule, owner: type) -> LightningOptimizer: ...

    @overload
    def __get__(
        self, instance: object, owner: type
    ) -> OptimizerSpec | LightningOptimizer | StandaloneLightningOptimizer: ...

    def __get__(
        self, instance: object | None, owner: type
    ) -> OptimizerSpec | LightningOptimizer | StandaloneLightningOptimizer:
        # the mixin answers with the live optimizer while its module trains; anything else gets the declaration
        # ``self.gen_opt`` runs several times a training step: the module's valid cache answers first, without
        # a call into the mixin (declarations/live.py); the mixin's method is looked up on the class (no bound
        # method per access)
        if instance is None:
            return self
        # `LiveOptimizers.current_for`, inlined: a call frame is a sixth of the access
        cached = getattr(instance, "__dict__", _NO_CACHE).get(LIVE_CACHE)
        if (
            cached is not None
            and compat.module_trainer(instance) is cached.trainer
            and compat.strategy_wrappers(cached.strategy) is cached.wrappers
        ):
            return cached.by_spec.get(id(self), self)
        live = getattr(type(instance), LIVE_OPTIMIZER, None)
        return self if live is None else live(instance, self)


_NO_CACHE: Mapping[str, Any] = MappingProxyType({})

#: The class attribute a ``ConfigurableOptimizersMixin`` sets to ``True``: the declarations are used.
DECLARES_OPTIMIZERS = "_lightning_optim_declares"
#: The mixin's method mapping an ``OptimizerSpec`` to its live optimizer during a run.
LIVE_OPTIMIZER = "_lightning_optim_live_optimizer"


def misdeclared(owner: type, name: str) -> TypeError | None:
    """An ``OptimizerSpec`` on a ``LightningModule`` without the mixin would never be used: the error, if so."""
    if issubclass(owner, compat.lightning_classes("LightningModule")) and not getattr(
        owner, DECLARES_OPTIMIZERS, False
    ):
        bases = ", ".join(written_in(owner, owner.__bases__))
        return TypeError(
            f"{owner.__qualname__}.{name}: an OptimizerSpec on a LightningModule that does not inherit "
            f"ConfigurableOptimizersMixin is never used. Declare the class as "
            f"`class {owner.__name__}(ConfigurableOptimizersMixin, {bases})`."
        )
    return None


def written_name(cls: type, names: Mapping[str, Any]) -> str:
    """How a module whose globals are ``names`` writes ``cls``, for a class line to suggest: a name bound to it,
    else ``alias.Name`` through a module it imported (``L.LightningModule``, ``pl.LightningModule``), else
    ``cls.__name__`` (Lightning's ``LightningModule`` as its namespace is usually imported).

    Example:
        >>> import lightning as L
        >>> class Base(L.LightningModule): ...
        >>> written_name(Base, {"Base": Base}), written_name(L.LightningModule, {"L": L}), written_name(Base, {})
        ('Base', 'L.LightningModule', 'Base')
        >>> written_name(L.LightningModule, {})
        'L.LightningModule'
    """
    bound = [name for name, value in names.items() if value is cls]
    if bound:
        return bound[0]
    through = [
        name
        for name, value in names.items()
        if isinstance(value, ModuleType) and getattr(value, cls.__name__, None) is cls
    ]
    if through:
        return f"{through[0]}.{cls.__name__}"
    if cls in compat.lightning_classes("LightningModule"):
        return f"{'pl' if cls.__module__.startswith(compat.STANDALONE) else 'L'}.{cls.__name__}"
    return cls.__name__


def written_in(owner: type, classes: Iterable[type]) -> list[str]:
    """How the module that defines ``owner`` writes each of ``classes`` (``written_name``)."""
    names = vars(sys.modules[owner.__module__]) if owner.__module__ in sys.modules else {}
    return [written_name(cls, names) for cls in classes]


#: The class attribute holding the errors that refuse instances of a class (see ``_refuse_instances``).
_REFUSED = "_lightning_optim_refused"


def _refuse_instances(owner: type, error: TypeError) -> None:
    """Make instantiating ``owner`` (or a subclass that still lacks the mixin) raise ``error``.

    Used where Python cannot let ``__set_name__``'s own error through (< 3.12). ``owner`` is the class being
    defined, never a base class: a ``__new__`` on it raises while the class (or a subclass) does not declare
    optimizers, and otherwise creates the instance as its bases would.
    """
    refused = [*vars(owner).get(_REFUSED, ()), str(error)]
    type.__setattr__(owner, _REFUSED, tuple(refused))
    if "__new__" in vars(owner):
        return
    base_new = super(owner, owner).__new__  # type: ignore[arg-type]

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        errors = getattr(cls, _REFUSED, ())
        if errors and not getattr(cls, DECLARES_OPTIMIZERS, False):
            raise TypeError(errors[0])
        if base_new is object.__new__:
            return object.__new__(cls)
        return base_new(cls, *args, **kwargs)

    type.__setattr__(owner, "__new__", staticmethod(__new__))


@functools.cache
def _optimizer_members() -> frozenset[str]:
    """The public attributes of a torch optimizer and of Lightning's wrapper around it."""
    from lightning.pytorch.core.optimizer import LightningOptimizer
    from torch.optim import Optimizer

    names = {*dir(Optimizer), *dir(LightningOptimizer), "param_groups", "defaults", "state"}
    return frozenset(n for n in names if not n.startswith("_"))
