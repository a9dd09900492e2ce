"""``LRMonitor``: a drop-in, faster ``LearningRateMonitor`` that names optimizers after their declarations."""

from __future__ import annotations

import copy
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Sequence
from itertools import repeat
from operator import delitem, itemgetter, methodcaller
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks.callback import Callback
from lightning.pytorch.utilities.rank_zero import rank_zero_warn
from torch import Tensor
from torch.optim import Optimizer
from typing_extensions import override

from lightning_optim.monitor.published import PublishedScalars
from lightning_optim.schedules.param_view import target_of
from lightning_optim.training.nonfinite import skipped_updates
from lightning_optim.training.outcomes import settle
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import did_you_mean
from lightning_optim.utilities.keys import declared_prefixes, group_keys
from lightning_optim.utilities.numeric import is_int, python_number

_Interval = Literal["step", "epoch", "any"]
_INTERVALS: tuple[_Interval, ...] = ("step", "epoch", "any")
_HOST_TYPES = {float, int}
_LR, _WEIGHT_DECAY = itemgetter("lr"), itemgetter("weight_decay")
#: for an optimizer with groups that have no weight decay (``Rprop``, ``LBFGS``, ``SparseAdam``): 0
_WEIGHT_DECAY_OR_0 = methodcaller("get", "weight_decay", 0)


class _Block:
    """One optimizer's share of a logging event: the optimizer to read and the keys of its groups."""

    __slots__ = ("interval", "lr_keys", "momentum_at", "optimizer", "skip_key", "use_betas", "weight_decay")

    def __init__(
        self, optimizer: Optimizer, interval: str | None, lr_keys: list[str], skip_key: str | None = None
    ) -> None:
        self.optimizer = optimizer
        # ``None``: an optimizer without scheduler, logged at every event (as Lightning's monitor does)
        self.interval = interval
        self.lr_keys = lr_keys
        at = momentum_at(optimizer)
        uniform = len(set(at)) <= 1
        self.use_betas = uniform and bool(at) and at[0][0] == "betas"
        #: where each group's momentum is, when the groups differ (``MuonWithAdamW``); ``None`` when they agree
        self.momentum_at = None if uniform else at
        self.weight_decay = _WEIGHT_DECAY if _all_have("weight_decay", optimizer) else _WEIGHT_DECAY_OR_0
        #: a mixin optimizer with ``skip_nonfinite``: the key of its count of skipped updates
        self.skip_key = skip_key


class _Event:
    """Everything one kind of logging event needs, computed once per optimizer layout.

    Values are read in ``keys`` order: every lr of the event, then every momentum, then every weight decay.
    """

    __slots__ = ("blocks", "histories", "keys", "lr_keys", "published", "skip_blocks", "step_histories")

    def __init__(self, blocks: list[_Block], log_momentum: bool, log_weight_decay: bool) -> None:
        self.blocks = blocks
        self.lr_keys = [key for block in blocks for key in block.lr_keys]
        self.keys = list(self.lr_keys)
        if log_momentum:
            self.keys += [f"{key}-momentum" for key in self.lr_keys]
        if log_weight_decay:
            self.keys += [f"{key}-weight_decay" for key in self.lr_keys]
        self.skip_blocks = [block for block in blocks if block.skip_key is not None]
        self.keys += [block.skip_key for block in self.skip_blocks if block.skip_key is not None]
        # aligned with ``lr_keys``; bound by ``LRMonitor._bind_histories``
        self.histories: list[list[Any]] = []
        self.step_histories: list[list[int]] = []
        self.published = PublishedScalars(self.keys)


def momentum_at(optimizer: Optimizer) -> list[tuple[str, int | None]]:
    """Where each param group's momentum is read: ``("betas", 0)`` (``beta1``) or ``("momentum", None)``.

    Lightning's rule, decided for the whole optimizer: ``betas[0]`` when its ``defaults`` has ``betas``, else
    ``momentum`` (``0`` without one). A group without the key that rule reads takes its own, as a
    ``param="momentum"`` schedule drives it: ``MuonWithAdamW``'s ``defaults`` are the Muon ones, while its AdamW
    groups have ``betas`` and no ``momentum``.

    Example:
        >>> adam = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
        >>> adam.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))]})
        >>> momentum_at(adam)
        [('betas', 0), ('betas', 0)]
    """
    rule: tuple[str, int | None] = ("betas", 0) if "betas" in optimizer.defaults else ("momentum", None)
    return [rule if rule[0] in group else target_of("momentum", group) for group in optimizer.param_groups]


def logs_lr(optimizer: Optimizer) -> bool:
    """Whether ``LRMonitor`` logs ``optimizer``: only where every param group has an lr. transformers' ``Adafactor``
    with ``relative_step=True`` keeps ``lr=None`` (it computes its step size itself), and an optimizer whose step
    size is another option (``eta``) has none: nothing is logged for them.

    Example:
        >>> sgd = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        >>> logs_lr(sgd), logs_lr(torch.optim.Optimizer([torch.nn.Parameter(torch.zeros(1))], {"eta": 0.1}))
        (True, False)
    """
    return all(group.get("lr") is not None for group in optimizer.param_groups)


def why_no_lr(optimizer: Optimizer) -> str:
    """Why ``logs_lr(optimizer)`` is false, for ``LRMonitor``'s warning: no ``lr`` option, or ``lr=None``.

    Example:
        >>> why_no_lr(torch.optim.Optimizer([torch.nn.Parameter(torch.zeros(1))], {"eta": 0.1}))
        'has param groups without an `lr` option'
    """
    if any("lr" not in group for group in optimizer.param_groups):
        return "has param groups without an `lr` option"
    return (
        "has param groups with `lr=None` (transformers' Adafactor with `relative_step=True` computes its step size"
        " itself)"
    )


def _all_have(key: str, optimizer: Optimizer) -> bool:
    return all(key in group for group in optimizer.param_groups)


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"Expected `{name}` to be a bool but got {value!r} of type {type(value).__name__}")


def _unwrap(optimizer: Any) -> Optimizer:
    # DeepSpeed and LightningOptimizer wrap the torch optimizer
    return optimizer.optimizer if hasattr(optimizer, "optimizer") else optimizer


def _layout(trainer: pl.Trainer) -> tuple[Any, ...]:
    """What the keys depend on: the optimizers, the scheduler configs and each optimizer's group count."""
    optimizers = tuple(trainer.optimizers)
    counts = tuple(len(_unwrap(optimizer).param_groups) for optimizer in optimizers)
    return optimizers, tuple(trainer.lr_scheduler_configs), counts


def _to_floats(values: list[Any]) -> list[Any]:
    """Replace tensor values by host floats with one device-to-host copy per device for all of them."""
    if set(map(type, values)) <= _HOST_TYPES:
        return values
    by_device: dict[torch.device, list[int]] = {}
    for i, value in enumerate(values):
        if isinstance(value, Tensor):
            by_device.setdefault(value.device, []).append(i)
    values = list(values)
    for indices in by_device.values():
        # float64 holds any float dtype exactly, so the host floats equal ``tensor.item()``
        stacked = torch.stack([values[i].detach().reshape(()).to(torch.float64) for i in indices])
        for i, value in zip(indices, stacked.tolist()):
            values[i] = value
    return values


def _logs_at_this_batch(trainer: pl.Trainer) -> bool:
    """``trainer._logger_connector.should_update_logs`` at ``on_train_batch_start``, where the fit loop runs.

    The same rule without the property chain that finds the active loop: this runs at every step, and
    that chain was most of the monitor's cost at steps that do not log.
    """
    every = trainer.log_every_n_steps  # type: ignore[attr-defined]  # set by the logger connector
    if every == 0:
        return False
    # ``+ 1``: the step about to run, as Lightning counts it before the step
    return (compat.batches_that_stepped(trainer) + 1) % every == 0 or trainer.should_stop


def finer_interval(first: str | None, second: str | None) -> str | None:
    """When an optimizer with schedulers at ``first`` and ``second`` intervals is logged: ``"step"`` if
    either is, so every change shows at the step it takes effect (an epoch's change shows at its first
    logged step); ``None`` (every event) only for an optimizer without scheduler.

    Example:
        >>> finer_interval("epoch", "step"), finer_interval("epoch", "epoch")
        ('step', 'epoch')
    """
    if first is None or second is None:
        return None
    return "step" if "step" in (first, second) else "epoch"


def _consume(iterator: Iterable[Any]) -> None:
    deque(iterator, maxlen=0)


def _keep_last(count: int, *histories: Iterable[list[Any]]) -> None:
    """Delete the entries before the last ``count`` of each list (a list held twice is trimmed once).

    Example:
        >>> lrs, steps = [0.1, 0.2, 0.3], [0, 1, 2]
        >>> _keep_last(2, [lrs], [steps, steps])
        >>> lrs, steps
        ([0.2, 0.3], [1, 2])
    """
    before_last = repeat(slice(None, -count))
    for lists in histories:
        _consume(map(delitem, lists, before_last))


class LRMonitor(Callback):
    r"""Log the learning rate (and optionally momentum and weight decay) of every optimizer during training.

    A drop-in replacement for Lightning's :class:`~lightning.pytorch.callbacks.LearningRateMonitor`: same
    arguments, same keys, same steps, same values, same ``lrs``, ``last_momentum_values`` and
    ``last_weight_decay_values`` attributes and the same values in ``trainer.callback_metrics`` (so
    ``EarlyStopping`` or ``ModelCheckpoint`` can monitor a learning rate), as float32 tensors where Lightning's
    are int64 for an int option (momentum ``0``, SGD's default ``weight_decay=0``). Keys are computed once per
    optimizer layout instead of at every logging event, and the tensors in ``trainer.callback_metrics``
    are rewritten in place, all at once, whenever nothing but the dict holds them (a tensor that anything
    else holds, such as ``EarlyStopping``'s best score, is never changed: new values then get new
    tensors), which makes it an order of magnitude cheaper with many param groups.

    Logged keys, for a module that does not use the declarative mixin (as Lightning's monitor):

    * ``lr-<OptimizerClass>`` (``lr-Adam``), or the ``name`` of its scheduler config when one is given;
      further optimizers of the same class get ``-1``, ``-2``, ... (``lr-Adam-1``);
    * with several param groups, ``/<group name>`` per group, where a group's name is its ``"name"``
      key or ``pg1``, ``pg2``, ... (``lr-Adam/pg1``, ``lr-SGD/backbone``); a single named group also
      gets the suffix;
    * ``<key>-momentum`` with ``log_momentum=True``: the group's ``momentum``, or ``beta1`` (the first of
      ``betas``) for Adam-like optimizers, ``0`` when it has neither; in an optimizer whose groups differ
      (``MuonWithAdamW``), each group's own (``beta1`` of the AdamW groups, where Lightning's monitor logs 0);
    * ``<key>-weight_decay`` with ``log_weight_decay=True``: ``0``, with one warning when training starts, for
      groups without weight decay (``Rprop``, ``LBFGS``, ``SparseAdam``; Lightning's monitor raises a
      ``KeyError``), as for momentum.

    For a module using the mixin, the optimizer part of a key is the attribute it was declared as (or its
    scheduler's explicit name): ``lr-gen_opt``, ``lr-optimizer/backbone``; a single param group gets no
    suffix unless declared with ``ParamGroup(name=...)`` (``lr-optimizer/head``, as Lightning's monitor keys a
    single named group).

    With ``log_key_prefix``, as in Lightning's newest monitor, every key above starts with it, momentum and
    weight-decay keys included: ``log_key_prefix="optim/"`` logs ``optim/lr-Adam`` and
    ``optim/lr-Adam-momentum``, and ``lrs``, the last values, ``trainer.callback_metrics`` and the progress bar
    use the same keys. ``None`` or ``""`` adds nothing.

    When values are logged: with ``logging_interval=None`` an optimizer is logged at the interval of its
    scheduler (``"step"``: every ``log_every_n_steps`` steps, ``"epoch"``: at each epoch start), and an
    optimizer without scheduler at both; ``"step"`` or ``"epoch"`` logs all optimizers at that interval.
    A mixin optimizer with several schedulers (``scheduler=[...]``) is logged once per event under one key
    per group: at steps when any of its schedulers has ``interval="step"``, else at epoch starts (Lightning's
    monitor logs it once per scheduler config, under ``lr-SGD``, ``lr-SGD-1``, ...).
    This also holds under manual optimization, where the ``interval`` of the scheduler configs returned
    by ``configure_optimizers`` decides.

    Beyond Lightning's monitor:

    * without a logger it warns once and keeps the history in ``lrs`` (Lightning's raises);
    * on several devices only global rank zero calls the loggers, nothing is reduced across ranks, and
      every rank updates its own ``trainer.callback_metrics`` so monitoring callbacks agree;
    * tensor learning rates (capturable or fused optimizers) are read as host floats, with one
      device-to-host copy per event for all groups together, so histories never alias a live tensor;
    * ``max_history`` bounds the history kept per key, ``prog_bar`` shows the learning rates in the
      progress bar and :meth:`plot` draws the history;
    * a mixin optimizer declaring ``skip_nonfinite`` also gets ``<key>-skipped``: the updates it skipped so
      far for non-finite gradients (in ``trainer.callback_metrics``, the loggers and, with ``prog_bar``, the
      progress bar; not in ``lrs``).

    Args:
        logging_interval: ``"step"`` or ``"epoch"`` to log every optimizer at that interval, ``None`` to
            log each at the ``interval`` of its scheduler.
        log_momentum: also log momentum (``beta1`` for optimizers with ``betas``).
        log_weight_decay: also log weight decay.
        log_key_prefix: a string put in front of every logged key (``"optim/"`` groups them in TensorBoard);
            ``""`` (default) or ``None`` for none.
        max_history: keep the last this many entries per key in ``lrs`` (lists, as Lightning's), ``None`` for
            all. While training, a history is trimmed back to them whenever it reaches twice as many (which
            keeps a logging event cheap: removing a list's oldest entry moves all the others), and at the end of
            training; ``lrs[key][-n:]`` reads the last ``n`` at any time. A numpy int is taken as the Python int
            it stands for.
        prog_bar: also show the learning rates in the progress bar.

    Raises:
        ValueError: If ``logging_interval`` is not ``"step"``, ``"epoch"`` or ``None``, or ``max_history``
            is not positive.
        TypeError: If a flag is not a bool, ``log_key_prefix`` not a str or None, or ``max_history`` not an
            int.

    Example::

        >>> import torch
        >>> from lightning.pytorch import LightningModule, Trainer
        >>> from lightning_optim import LRMonitor
        >>> class Net(LightningModule):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.layer = torch.nn.Linear(2, 1)
        ...     def training_step(self, batch, batch_idx):
        ...         return self.layer(batch).sum()
        ...     def train_dataloader(self):
        ...         return torch.utils.data.DataLoader(torch.ones(4, 2), batch_size=2)
        ...     def configure_optimizers(self):
        ...         return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)
        >>> monitor = LRMonitor(logging_interval="step", log_momentum=True)
        >>> trainer = Trainer(max_epochs=1, logger=False, callbacks=[monitor], log_every_n_steps=1,
        ...                   enable_checkpointing=False, enable_progress_bar=False,
        ...                   enable_model_summary=False)
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     trainer.fit(Net())
        >>> [str(w.message)[:55] for w in caught if "logger" in str(w.message)]
        ['`LRMonitor` is used with a `Trainer` that has no logger']
        >>> monitor.lrs
        {'lr-SGD': [0.1, 0.1]}
        >>> monitor.last_momentum_values
        {'lr-SGD-momentum': 0.9}
        >>> round(float(trainer.callback_metrics["lr-SGD"]), 6)
        0.1
        >>> LRMonitor(logging_interval="stp")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        ValueError: Expected `logging_interval` to be one of 'step', 'epoch' or None but got 'stp'...

    """

    def __init__(
        self,
        logging_interval: Literal["step", "epoch"] | None = None,
        log_momentum: bool = False,
        log_weight_decay: bool = False,
        log_key_prefix: str | None = "",
        max_history: int | None = None,
        prog_bar: bool = False,
    ) -> None:
        if logging_interval is not None and not isinstance(logging_interval, str):
            raise TypeError(
                "Expected `logging_interval` to be one of 'step', 'epoch' or None but got"
                f" {logging_interval!r} of type {type(logging_interval).__name__}"
            )
        if logging_interval not in (None, "step", "epoch"):
            raise ValueError(
                "Expected `logging_interval` to be one of 'step', 'epoch' or None but got"
                f" {logging_interval!r}{did_you_mean(logging_interval, ('step', 'epoch'))}"
            )
        _check_bool("log_momentum", log_momentum)
        _check_bool("log_weight_decay", log_weight_decay)
        _check_bool("prog_bar", prog_bar)
        if log_key_prefix is not None and not isinstance(log_key_prefix, str):
            raise TypeError(
                f"Expected `log_key_prefix` to be a str or None but got {log_key_prefix!r} of type "
                f"{type(log_key_prefix).__name__}"
            )
        if max_history is not None:
            if not is_int(max_history):  # a numpy int too (a sweep's grid), as the declarations take it
                raise TypeError(f"Expected `max_history` to be an int or None but got {max_history!r}")
            if max_history < 1:
                raise ValueError(f"Expected `max_history` to be a positive int or None but got {max_history}")

        self.logging_interval = logging_interval
        self.log_momentum = log_momentum
        self.log_weight_decay = log_weight_decay
        # as Lightning's: ``None`` is stored as ``""``
        self.log_key_prefix: str = log_key_prefix or ""
        self.max_history = python_number(max_history)
        self.prog_bar = prog_bar

        # lists, as Lightning's (``max_history`` trims their oldest entries: ``_keep_last``)
        self.lrs: dict[str, list[float]] = {}
        self.last_momentum_values: dict[str, float | None] = {}
        self.last_weight_decay_values: dict[str, float | None] = {}
        # the global step of each entry of ``lrs``, for plotting; keys logged at the same events share one
        # list (copy an entry before changing it)
        self.lr_steps: dict[str, list[int]] = {}

        self._events: dict[str, _Event] = {}
        self._layout: tuple[Any, ...] = ()
        # whether this object was pickled or copied: how ``ddp_spawn`` sends it to the worker processes
        self._sent_away = False

    def __getstate__(self) -> dict[str, Any]:
        """Copies and pickles leave out the per-layout caches (optimizers, published tensors).

        They are rebuilt at the next logging event, as after a change of the optimizers. The original
        remembers that it was sent away: after a ``ddp_spawn`` fit its own histories stay empty, and ``plot``
        says so.
        """
        self._sent_away = True
        state = self.__dict__.copy()
        state["_events"] = {}
        state["_layout"] = ()
        return state

    # ------------------------------------------------------------------ hooks

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Check the setup and compute the keys of every optimizer."""
        if not trainer.loggers:
            rank_zero_warn(
                "`LRMonitor` is used with a `Trainer` that has no logger: learning rates are only kept in"
                " `LRMonitor.lrs` (and `trainer.callback_metrics`).",
                category=UserWarning,
            )
        if (
            self.log_momentum
            and self._some_without("momentum", trainer)
            and self._some_without("betas", trainer)
        ):
            rank_zero_warn(
                "You have set log_momentum=True, but some optimizers do not"
                " have momentum. This will log a value 0 for the momentum.",
                category=RuntimeWarning,
            )
        optimizers = [_unwrap(optimizer) for optimizer in trainer.optimizers]
        # an optimizer without an lr is not logged at all: no 0 is logged for its weight decay
        without = {
            type(o).__name__: None for o in optimizers if logs_lr(o) and not _all_have("weight_decay", o)
        }
        if self.log_weight_decay and without:
            rank_zero_warn(
                "You have set log_weight_decay=True, but some optimizers do not have weight_decay"
                f" ({', '.join(f'`{name}`' for name in without)}). This will log a value 0 for the weight decay.",
                category=RuntimeWarning,
            )
        self._update_layout(trainer, pl_module)
        keys = [key for block in self._events["any"].blocks for key in block.lr_keys]
        self.lrs = {key: [] for key in keys}
        self.lr_steps = {key: [] for key in keys}
        self.last_momentum_values = {f"{key}-momentum": None for key in keys}
        self.last_weight_decay_values = {f"{key}-weight_decay": None for key in keys}
        self._bind_histories()

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Trim each history to its last ``max_history`` entries (while training it may hold up to twice as many)."""
        if self.max_history is not None:
            _keep_last(self.max_history, self.lrs.values(), self.lr_steps.values())

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Log at step intervals when the trainer updates its logs."""
        if self.logging_interval != "epoch" and _logs_at_this_batch(trainer):
            self._log(trainer, pl_module, "step" if self.logging_interval is None else "any")

    @override
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Log at epoch intervals."""
        if self.logging_interval != "step":
            self._log(trainer, pl_module, "epoch" if self.logging_interval is None else "any")

    # ------------------------------------------------------------------ logging

    def _log(self, trainer: pl.Trainer, pl_module: pl.LightningModule, interval: str) -> None:
        if _layout(trainer) != self._layout:
            self._update_layout(trainer, pl_module)
            self._remap_histories()
        event = self._events[interval]
        if not event.keys:
            return

        settle(
            [block.optimizer for block in event.blocks]
        )  # the mixin's held schedule updates (a skipped step)
        values = self._read(event)
        step = compat.batches_that_stepped(trainer)
        n = len(event.lr_keys)
        lr_values = values if len(values) == n else values[:n]
        # ``map`` over unbound ``append`` keeps the per-key loop in C
        _consume(map(list.append, event.histories, lr_values))
        _consume(map(list.append, event.step_histories, repeat(step)))
        bound = self.max_history
        # trimmed in batches: deleting a list's first entry moves all the others
        if bound is not None and max(map(len, event.histories), default=0) >= 2 * bound:
            _keep_last(bound, event.histories, event.step_histories)
        if self.log_momentum:
            self.last_momentum_values.update(zip(event.keys[n : 2 * n], values[n : 2 * n]))
        if self.log_weight_decay:
            start = 2 * n if self.log_momentum else n
            self.last_weight_decay_values.update(
                zip(event.keys[start : start + n], values[start : start + n])
            )

        event.published.publish(trainer.callback_metrics, values, trainer.strategy.root_device)
        if self.prog_bar:
            trainer.progress_bar_metrics.update(zip(event.lr_keys, lr_values))
            if event.skip_blocks:
                skips = len(event.skip_blocks)
                trainer.progress_bar_metrics.update(zip(event.keys[-skips:], values[-skips:]))
        if trainer.loggers and trainer.is_global_zero:
            stats = dict(zip(event.keys, values))
            for logger in trainer.loggers:
                logger.log_metrics(stats, step=step)

    def _read(self, event: _Event) -> list[Any]:
        """The raw values of one event in ``event.keys`` order: floats, or tensors for tensor values."""
        values: list[Any] = []
        for block in event.blocks:
            values += map(_LR, block.optimizer.param_groups)
        if self.log_momentum:
            for block in event.blocks:
                groups = block.optimizer.param_groups
                if block.momentum_at is not None:
                    values += [
                        group.get(key, 0) if index is None else group[key][index]
                        for group, (key, index) in zip(groups, block.momentum_at)
                    ]
                elif block.use_betas:
                    values += [group["betas"][0] for group in groups]
                else:
                    values += [group.get("momentum", 0) for group in groups]
        if self.log_weight_decay:
            for block in event.blocks:
                values += map(block.weight_decay, block.optimizer.param_groups)
        values = _to_floats(values)
        values += [skipped_updates(block.optimizer) or 0 for block in event.skip_blocks]
        return values

    # ------------------------------------------------------------------ layout

    def _update_layout(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        blocks = self._blocks(trainer, pl_module)
        self._events = {
            interval: _Event(
                [b for b in blocks if interval in (b.interval, "any") or b.interval is None],
                self.log_momentum,
                self.log_weight_decay,
            )
            for interval in _INTERVALS
        }
        self._layout = _layout(trainer)

    def _blocks(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> list[_Block]:
        """One block per scheduler config, then one per optimizer without scheduler (Lightning's order)."""
        optimizers = [_unwrap(optimizer) for optimizer in trainer.optimizers]
        prefixes = declared_prefixes(pl_module)
        # raised as the Trainer's own `LearningRateMonitor` raises it (either namespace's)
        misconfigured = compat.namespace_class(
            type(trainer), "utilities.exceptions.MisconfigurationException", "Trainer"
        )
        if prefixes is not None and len(prefixes) != len(optimizers):
            rank_zero_warn(
                f"`LRMonitor`: the module declares {len(prefixes)} optimizer names for"
                f" {len(optimizers)} optimizers; falling back to Lightning's names."
            )
            prefixes = None

        seen: list[Optimizer] = []
        seen_types: defaultdict[type[Optimizer], int] = defaultdict(int)
        blocks: list[_Block] = []

        def add(optimizer: Optimizer, interval: str | None, explicit_name: str | None) -> None:
            index = next((i for i, o in enumerate(optimizers) if o is optimizer), None)
            if prefixes is not None and index is not None and any(optimizer is other for other in seen):
                # another scheduler of a mixin optimizer: one key per group, logged at the finer interval
                block = next(b for b in blocks if b.optimizer is optimizer)
                block.interval = finer_interval(block.interval, interval)
                return
            seen.append(optimizer)
            if not logs_lr(optimizer):
                rank_zero_warn(
                    f"`LRMonitor`: `{type(optimizer).__name__}` {why_no_lr(optimizer)}: nothing is logged for it."
                )
                return
            if explicit_name is None:
                seen_types[type(optimizer)] += 1
            groups = optimizer.param_groups
            skip_key = None
            if prefixes is not None and index is not None:
                lr_keys = self._declared_keys(prefixes[index], groups, misconfigured)
                if skipped_updates(optimizer) is not None:
                    skip_key = f"{prefixes[index]}-skipped"
            else:
                name = explicit_name if explicit_name is not None else f"lr-{type(optimizer).__name__}"
                lr_keys = self._lightning_keys(name, optimizer, groups, seen_types, misconfigured)
            if self.log_key_prefix:
                lr_keys = [self.log_key_prefix + key for key in lr_keys]
                skip_key = None if skip_key is None else self.log_key_prefix + skip_key
            blocks.append(_Block(optimizer, interval, lr_keys, skip_key))

        for config in trainer.lr_scheduler_configs:
            add(config.scheduler.optimizer, config.interval, config.name)
        for optimizer in optimizers:
            if all(optimizer is not other for other in seen):
                add(optimizer, None, None)
        return blocks

    @staticmethod
    def _group_names(
        name: str, groups: Sequence[dict[str, Any]], misconfigured: type[Exception]
    ) -> list[str]:
        names = [group.get("name", f"pg{i}") for i, group in enumerate(groups, start=1)]
        duplicates = {n for n, count in Counter(names).items() if count > 1}
        if duplicates:
            raise misconfigured(
                "A single `Optimizer` cannot have multiple parameter groups with identical "
                f"`name` values. {name} has duplicated parameter group names {duplicates}"
            )
        return names

    def _lightning_keys(
        self,
        name: str,
        optimizer: Optimizer,
        groups: Sequence[dict[str, Any]],
        seen_types: defaultdict[type[Optimizer], int],
        misconfigured: type[Exception],
    ) -> list[str]:
        """Lightning's ``LearningRateMonitor`` naming, for modules without the mixin."""
        names = self._group_names(name, groups, misconfigured)
        count = seen_types.get(type(optimizer), 0)
        if count > 1:
            name = f"{name}-{count - 1}"
        if len(groups) > 1:
            return [f"{name}/{group_name}" for group_name in names]
        return [f"{name}/{groups[0]['name']}" if groups and groups[0].get("name") else name for _ in groups]

    def _declared_keys(
        self, prefix: str, groups: Sequence[dict[str, Any]], misconfigured: type[Exception]
    ) -> list[str]:
        """Mixin naming: the declared prefix, and ``/<group name>`` only with several groups."""
        # refuses duplicate group names, as Lightning's monitor does
        self._group_names(prefix, groups, misconfigured)
        return group_keys(prefix, groups)

    def _remap_histories(self, token: str = "/pg1") -> None:
        """Move histories to their new key when an optimizer gains groups: ``lr-Adam`` to ``lr-Adam/pg1``."""
        for key in self._events["any"].lr_keys:
            old_key = key.replace(token, "")
            if token in key and old_key in self.lrs:
                self.lrs[key] = self.lrs.pop(old_key)
                self.lr_steps[key] = self.lr_steps.pop(old_key, [])
            elif key not in self.lrs:
                self.lrs[key] = []
                self.lr_steps[key] = []
        self._bind_histories()

    def _bind_histories(self) -> None:
        self._share_step_histories()
        for event in self._events.values():
            event.histories = [self.lrs[key] for key in event.lr_keys]
            # each shared step history once, so that it gets one entry per event
            shared = {id(steps): steps for steps in map(self.lr_steps.__getitem__, event.lr_keys)}
            event.step_histories = list(shared.values())

    def _share_step_histories(self) -> None:
        """Give keys that hold the same steps and are logged at the same events one step history.

        They stay equal, so one append per event serves them all instead of one per param group (at 200
        groups that is a seventh of a logging event's time). Built anew, copying, at each layout change,
        as keys may then join or leave an event.
        """
        events = {key: frozenset(i for i, p in self._events.items() if key in p.lr_keys) for key in self.lrs}
        by_events: defaultdict[frozenset[str], list[list[int]]] = defaultdict(list)
        for key, steps in self.lr_steps.items():
            candidates = by_events[events.get(key, frozenset())]
            shared = next((candidate for candidate in candidates if candidate == steps), None)
            if shared is None:
                shared = copy.copy(steps)
                candidates.append(shared)
            self.lr_steps[key] = shared

    @staticmethod
    def _some_without(key: str, trainer: pl.Trainer) -> bool:
        """Whether an optimizer it logs lacks ``key`` (of the scheduled ones where there are schedulers, as
        Lightning's monitor looks); one without an lr is not logged, so no 0 is logged for it either."""
        if trainer.lr_scheduler_configs:
            optimizers = [config.scheduler.optimizer for config in trainer.lr_scheduler_configs]
        else:
            optimizers = [_unwrap(optimizer) for optimizer in trainer.optimizers]
        return any(key not in optimizer.defaults for optimizer in optimizers if logs_lr(optimizer))

    # ------------------------------------------------------------------ plotting

    def plot(self, path: str | Path, log_scale: bool = False) -> Path:
        """Draw the learning-rate history, one line per key against the global step, as a PNG.

        Args:
            path: Where to write the image.
            log_scale: Use a logarithmic y axis.

        Returns:
            The path written.

        Raises:
            ModuleNotFoundError: If matplotlib is not installed (``pip install lightning-optim[plot]``).
            ValueError: If nothing has been logged in this process: before ``fit``, or after a fit whose
                workers received copies of the monitor (``strategy="ddp_spawn"``).

        """
        from lightning_optim.utilities.figures import lr_axes, save_lr_figure

        figure, axes = lr_axes("`LRMonitor.plot`")
        histories = {key: values for key, values in self.lrs.items() if values}
        if not histories and getattr(self, "_sent_away", False):
            raise ValueError(
                "`LRMonitor.plot`: no learning rate was logged in this process. This monitor was pickled since it "
                'was created, which is how `strategy="ddp_spawn"` sends the Trainer and its callbacks to the worker '
                "processes: the copies there logged the learning rates, and their histories stay in those "
                "processes (only the last values come back, in `trainer.callback_metrics`). Plot on global rank "
                "zero before the workers exit, e.g. from a callback's `on_train_end` with "
                "`if trainer.is_global_zero:` on the LRMonitor in `trainer.callbacks` (the worker's copy), or "
                'train with `strategy="ddp"`, which runs rank zero in this process.'
            )
        if not histories:
            raise ValueError(
                "`LRMonitor.plot`: no learning rate has been logged yet; call it after `trainer.fit`"
            )
        for key, values in histories.items():
            steps = self.lr_steps.get(key)
            x = list(steps) if steps is not None and len(steps) == len(values) else list(range(len(values)))
            axes.plot(x, list(values), label=key, drawstyle="steps-post")
        return save_lr_figure(figure, axes, path, xlabel="step", log_scale=log_scale)
