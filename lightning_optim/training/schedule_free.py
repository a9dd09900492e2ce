"""Schedule-free optimizers under Lightning: switch them between train and eval mode so the user writes nothing.

Why: a schedule-free optimizer (``schedulefree.AdamWScheduleFree``, ``SGDScheduleFree``, ``RAdamScheduleFree``,
their ``...Reference``/``...Paper`` forms, ``ScheduleFreeWrapper``; the same classes of ``pytorch_optimizer``)
keeps two points in the module's parameters. In train mode the parameters hold ``y``, where gradients are
taken; in eval mode they hold the average ``x``, the weights to evaluate and to save. ``optimizer.eval()``
moves them ``y -> x``, ``optimizer.train()`` moves them back, and ``step()`` raises unless the optimizer is in
train mode. The schedulefree README asks for ``optimizer.train()`` where the code calls ``model.train()``,
``optimizer.eval()`` where it calls ``model.eval()``, and eval mode "when storing checkpoints". In a
Lightning program those places are inside the ``Trainer``; :class:`ScheduleFreeModes` is the callback that
makes the calls there.

When it switches (only optimizers that :func:`is_schedule_free` accepts; all others are left alone):

* **train mode** at ``on_train_epoch_start`` and at every ``on_train_batch_start``. The switch is a no-op
  when the optimizer is already in train mode (a flag check per param group), so checking at every batch is
  what makes training after a mid-epoch validation (``val_check_interval``) and after a resume correct.
* **eval mode** at ``on_validation_start`` (the sanity check included), ``on_test_start``,
  ``on_predict_start``, ``on_train_end`` (so the module holds ``x`` after ``fit``) and ``on_exception``
  (where an ``eval()`` that fails is a warning, never an error over the run's own). An optimizer that has
  not stepped yet (no state) is not switched: there is no average yet, and ``pytorch_optimizer``'s ``SPlus``
  fails in ``eval()`` then.
  An optimizer whose ``eval()`` divides by an option (``OptimizerInfo.positive_options``: schedule-free's
  ``momentum``/``beta1``) is refused when a group holds it at <= 0 (a ``LambdaLR`` schedule of it, which
  cannot be checked when the class is defined, brought it there): a ``ValueError`` naming the option, the
  group and the global step, instead of torch's ``ZeroDivisionError`` (or NaN weights) from ``eval()``.
  Nothing switches back at the end of an evaluation: the next training batch does. This is the fewest
  switches, and it means that a checkpoint written at ``on_validation_end`` (where ``ModelCheckpoint`` writes
  by default) is already in eval mode.
* **around every checkpoint save**: while a ``Trainer`` runs, its ``save_checkpoint`` is wrapped so that the
  schedule-free optimizers that are in train mode go to eval mode, the checkpoint is built, and they return
  to train mode. Lightning 2.6 builds the checkpoint in ``Trainer.save_checkpoint`` ->
  ``_CheckpointConnector.dump_checkpoint``, which reads ``state_dict`` (the weights) first and calls the
  ``on_save_checkpoint`` hooks last, so no hook runs before the weights are read. ``ModelCheckpoint`` saves
  from ``on_train_batch_end`` (``every_n_train_steps``, ``train_time_interval``), ``on_train_epoch_end``,
  ``on_validation_end``, ``on_train_end`` and ``on_exception``, always through ``trainer.save_checkpoint``;
  switching to eval in all those hooks would cost two passes over the weights at every training batch, so the
  save itself is wrapped instead. The wrapper is an instance attribute installed at ``setup`` and removed at
  ``teardown`` and ``on_exception``. Both the weights and the optimizer state (whose ``train_mode`` flag says
  which point the weights hold) are read in eval mode, so a checkpoint holds ``x`` and a flag that says so.

Resuming needs nothing more: Lightning restores the weights (``x``) and the optimizer state (``z``, the flag
``train_mode=False``), and the first training batch switches to train mode, which recomputes ``y`` exactly as
the uninterrupted run did after writing that checkpoint. ``validate``/``test``/``predict`` without a ``fit``
have no optimizer (``trainer.optimizers`` is empty) and work unchanged on the module's weights.

The ``...Closure`` classes are not schedule-free in this sense: their ``step`` moves the parameters to ``y``,
evaluates the closure and moves them back to ``x``, so the parameters always hold ``x`` between steps; they
have no ``train``/``eval`` (schedulefree README: the closure forms "do not require the .train() and .eval()
calls").

BatchNorm: nothing is done automatically. Running statistics are buffers that training forward passes update
at ``y``; after the switch to ``x`` they are stale. The schedulefree README recommends recomputing them right
before evaluation: in the module's own ``on_validation_start`` (it runs after this callback has switched to
``x``), put the module in train mode, run some training batches forward under ``torch.no_grad()``, and put it
back in eval mode (or use precise BN). Doing that automatically would cost forward passes over training data
and change the random state, so it is left to the user.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeGuard, cast

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn

from lightning_optim.registry.guards import option_values
from lightning_optim.registry.optimizers import optimizer_info
from lightning_optim.training import callbacks
from lightning_optim.training.callbacks import MixinCallback
from lightning_optim.utilities.numeric import is_real

_ABSENT = object()  # "no instance attribute `save_checkpoint` before we wrapped it"

__all__ = ["ScheduleFreeModes", "ScheduleFreeOptimizer", "is_schedule_free", "to_eval_mode", "to_train_mode"]


class ScheduleFreeOptimizer(Protocol):
    """What :func:`is_schedule_free` checks for: ``train()``/``eval()`` methods and a ``train_mode`` marker."""

    def train(self) -> None:
        """Move the parameters to the point gradients are taken at (``y``)."""

    def eval(self) -> None:
        """Move the parameters to the point to evaluate and save (``x``)."""


def is_schedule_free(optimizer: object) -> TypeGuard[ScheduleFreeOptimizer]:
    """Whether ``optimizer`` swaps its parameters between a train and an eval point (duck-typed).

    Accepted: an object with callable ``train`` and ``eval`` attributes and a ``train_mode`` marker, either a
    ``train_mode`` key in every param group (``schedulefree`` 1.4: ``AdamWScheduleFree``, ``SGDScheduleFree``,
    ``RAdamScheduleFree`` and the ``...Reference``/``...Paper`` forms put ``train_mode`` in their ``defaults``,
    e.g. ``adamw_schedulefree.py`` ``defaults = dict(..., train_mode=False, ...)``; ``pytorch_optimizer``'s
    ``ScheduleFreeAdamW``/``SGD``/``RAdam`` and ``SPlus`` do the same) or a boolean ``train_mode`` attribute
    (``schedulefree.ScheduleFreeWrapper``: ``self.train_mode = False``; ``pytorch_optimizer.ScheduleFreeWrapper``).
    Both halves are needed: ``torch.nn.Module`` has ``train``/``eval`` but no marker, and the ``...Closure``
    classes have ``train_mode``-free groups and no ``train``/``eval`` (they need no switching).

    Args:
        optimizer: Any object, usually an entry of ``trainer.optimizers``.

    Returns:
        ``True`` when :class:`ScheduleFreeModes` should switch its modes.

    Examples:
        >>> import torch
        >>> param = torch.nn.Parameter(torch.zeros(2))
        >>> is_schedule_free(torch.optim.SGD([param], lr=0.1))
        False
        >>> class TwoPoint(torch.optim.SGD):
        ...     def __init__(self, params):
        ...         super().__init__(params, lr=0.1)
        ...         self.defaults["train_mode"] = False
        ...         for group in self.param_groups:
        ...             group["train_mode"] = False
        ...     def train(self): ...
        ...     def eval(self): ...
        >>> is_schedule_free(TwoPoint([param]))
        True
        >>> is_schedule_free(torch.nn.Linear(2, 2))
        False
    """
    if not (callable(getattr(optimizer, "train", None)) and callable(getattr(optimizer, "eval", None))):
        return False
    if isinstance(getattr(optimizer, "train_mode", None), bool):
        return True
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or not groups:
        return False
    return all(isinstance(group, Mapping) and "train_mode" in group for group in groups)


def _train_mode_flags(optimizer: ScheduleFreeOptimizer) -> list[bool]:
    """The ``train_mode`` flag of the optimizer (wrapper form) or of each of its param groups."""
    flag = getattr(optimizer, "train_mode", None)
    if isinstance(flag, bool):
        return [flag]
    groups: list[Mapping[str, Any]] = getattr(optimizer, "param_groups", [])
    return [bool(group.get("train_mode", False)) for group in groups]


def _has_stepped(optimizer: ScheduleFreeOptimizer) -> bool:
    """Whether the optimizer holds any state (a step made it). Before its first step there is no average to
    move to, and ``pytorch_optimizer``'s ``SPlus`` (which starts in train mode) fails in ``eval()``, reading
    the average its first step creates."""
    state = getattr(optimizer, "state", None)
    if not isinstance(state, Mapping):
        return True  # no torch state to tell: switch it
    return any(state.values())


def nonpositive_option(
    options: Iterable[str], groups: Iterable[Mapping[str, Any]]
) -> tuple[int, Mapping[str, Any], str, Any] | None:
    """The first param group holding one of ``options`` at a number <= 0: its index, the group, where the
    option lives (``"betas[0]"`` for a ``beta1``) and the value; ``None`` when all are > 0.

    Example:
        >>> groups = [{"betas": (0.9, 0.99)}, {"betas": (0.0, 0.99)}]
        >>> index, _, name, value = nonpositive_option(["beta1", "momentum"], groups)
        >>> index, name, value
        (1, 'betas[0]', 0.0)
        >>> nonpositive_option(["momentum"], [{"momentum": 0.9}]) is None
        True
    """
    groups = list(groups)
    for index, _, where, value in option_values(groups, sorted(options)):
        if is_real(value) and value <= 0:
            return index, groups[index], where, value
    return None


def _check_positive_options(optimizer: ScheduleFreeOptimizer, step: int | None) -> None:
    """Refuse to switch ``optimizer`` to eval mode while an option its ``eval()`` divides by is <= 0."""
    options = optimizer_info(type(optimizer)).positive_options
    groups = getattr(optimizer, "param_groups", None)
    found = nonpositive_option(options, groups) if options and isinstance(groups, list) else None
    if found is None:
        return
    index, group, name, value = found
    label = f" ({group['name']!r})" if isinstance(group.get("name"), str) else ""
    at = "" if step is None else f" at global step {step}"
    raise ValueError(
        f"ScheduleFreeModes: Expected `{name}` of param group {index}{label} to be > 0 to switch "
        f"`{type(optimizer).__name__}` to eval mode (its eval() interpolates by 1 - 1 / {name}) but got "
        f"{value!r}{at}. A schedule of it reached 0 (a `lambda`/`multiplicative` one is known only as it "
        "runs): keep its factor > 0."
    )


def to_eval_mode(optimizers: Iterable[object], step: int | None = None) -> list[ScheduleFreeOptimizer]:
    """Put every schedule-free optimizer that has a param group in train mode and has stepped into eval mode.

    Before its first step an optimizer's two points are the same weights: it is left as it is. An optimizer
    whose ``eval()`` would divide by an option <= 0 is refused before any is switched.

    Args:
        optimizers: Usually ``trainer.optimizers``; entries that are not schedule-free are skipped.
        step: The global step, for the message refusing an option <= 0.

    Returns:
        The optimizers that were switched, so that a caller can switch exactly those back.

    Raises:
        ValueError: An option the optimizer's ``eval()`` divides by (``momentum``/``beta1``) is <= 0.
    """
    switched = [
        o for o in optimizers if is_schedule_free(o) and any(_train_mode_flags(o)) and _has_stepped(o)
    ]
    for optimizer in switched:
        _check_positive_options(optimizer, step)
    for optimizer in switched:
        optimizer.eval()
    return switched


def to_train_mode(optimizers: Iterable[object]) -> None:
    """Put every schedule-free optimizer that has a param group in eval mode into train mode.

    Args:
        optimizers: Usually ``trainer.optimizers``; entries that are not schedule-free are skipped.
    """
    for optimizer in optimizers:
        if is_schedule_free(optimizer) and not all(_train_mode_flags(optimizer)):
            optimizer.train()


class ScheduleFreeModes(MixinCallback):
    """Switch the schedule-free optimizers of ``trainer.optimizers`` between train and eval mode.

    Train mode before every training batch; eval mode for validation, test, predict, at the end of ``fit``
    and whenever ``trainer.save_checkpoint`` builds a checkpoint (see the module docstring for the exact
    points and why). Put it first in ``trainer.callbacks`` so that other callbacks see the right weights in
    the same hook; ``ModelCheckpoint`` is moved last by Lightning anyway, and saves are covered wherever they
    happen.

    Examples:
        >>> from lightning.pytorch import Trainer
        >>> trainer = Trainer(callbacks=[ScheduleFreeModes()], logger=False, enable_progress_bar=False)
    """

    def __init__(self) -> None:
        super().__init__()
        self._wrapped: tuple[Trainer, Callable[..., Any], object] | None = None

    # --- training: train mode (a no-op when already there) -----------------------------------------------

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Train mode before the epoch's first batch (and before the module's own epoch-start hook)."""
        to_train_mode(trainer.optimizers)

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Train mode before every batch: after a mid-epoch validation or a resume this is the switch."""
        to_train_mode(trainer.optimizers)

    # --- evaluation and the end of fit: eval mode -----------------------------------------------------------

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Eval mode for validation (and the sanity check), ``trainer.test`` and ``trainer.predict`` (the next
        training batch switches back), and at the end of ``fit``: the module the user keeps holds the averaged
        weights ``x``."""
        to_eval_mode(trainer.optimizers, trainer.global_step)

    on_test_start = on_predict_start = on_train_end = on_validation_start

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        """Eval mode after a failed run (checkpoints saved on exception come later); remove the save wrapper.

        Lightning calls no ``teardown`` hook when a run raises, so the wrapper is removed here. An optimizer
        whose ``eval()`` fails is left in train mode with a warning: an error here would hide the run's own.
        """
        self._unwrap()
        try:
            to_eval_mode(trainer.optimizers, trainer.global_step)
        except Exception as error:
            rank_zero_warn(
                f"ScheduleFreeModes: Expected the schedule-free optimizers to switch to eval mode after the run "
                f"failed but got {type(error).__name__}: {error} from `eval()`; the weights may not all hold "
                "the average `x`. The run's own error follows.",
                category=RuntimeWarning,
            )

    # --- checkpoint saving: eval mode while the checkpoint is built ----------------------------------------

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Wrap ``trainer.save_checkpoint`` for the duration of the run."""
        if self._wrapped is not None:
            if self._wrapped[0] is trainer and trainer.__dict__.get("save_checkpoint") is self._wrapped[1]:
                return
            self._unwrap()
        previous = trainer.__dict__.get("save_checkpoint", _ABSENT)
        original: Callable[..., Any] = trainer.save_checkpoint

        @functools.wraps(original)
        def save_checkpoint(*args: Any, **kwargs: Any) -> Any:
            switched = to_eval_mode(trainer.optimizers, trainer.global_step)
            try:
                return original(*args, **kwargs)
            finally:
                to_train_mode(switched)

        setattr(trainer, "save_checkpoint", save_checkpoint)  # noqa: B010 (mypy: assigning to a method)
        self._wrapped = (trainer, save_checkpoint, previous)

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Restore ``trainer.save_checkpoint``."""
        self._unwrap()

    def _unwrap(self) -> None:
        if self._wrapped is None:
            return
        trainer, wrapper, previous = self._wrapped
        self._wrapped = None
        if trainer.__dict__.get("save_checkpoint") is not wrapper:
            return  # someone wrapped it after us: leave theirs (ours inside it stays harmless)
        if previous is _ABSENT:
            del trainer.__dict__["save_checkpoint"]
        else:
            setattr(trainer, "save_checkpoint", previous)  # noqa: B010


def install(trainer: Trainer, optimizers: Iterable[object]) -> None:
    """With a schedule-free optimizer among ``optimizers``, a fresh ``ScheduleFreeModes`` among the mixin's
    callbacks (first in ``trainer.callbacks``, ``callbacks.py``), replacing the one of an earlier ``fit`` and
    one in ``trainer.callbacks``: first, so it acts before other callbacks read the learning rates or write a
    checkpoint in the same hook; among the mixin's, so it sleeps while the Trainer runs another module."""
    optimizers = list(optimizers)
    if any(is_schedule_free(o) for o in optimizers):
        listed: list[Any] = cast(Any, trainer).callbacks
        entry = callbacks.entry_of(trainer)
        earlier = [*listed, *(entry.parts if entry else ())]
        for replaced in [c for c in earlier if type(c) is ScheduleFreeModes]:
            replaced._unwrap()  # no `teardown` reaches a callback taken out of the list
        listed[:] = [c for c in listed if type(c) is not ScheduleFreeModes]
        modes = ScheduleFreeModes()
        callbacks.add(trainer, modes)
        # the callbacks' `setup` has run already: wrap the saves now (its `teardown` unwraps them)
        modes.setup(trainer, trainer.lightning_module, "fit")
        # a tuner's trial run (`lr_find`) steps them with its own callbacks in place of these: in train mode
        to_train_mode(optimizers)
