"""``OptimizerSpec(loss="method", every=n)``: several optimizers trained without a hand-written loop.

Lightning 2.0 removed automatic optimization with several optimizers (#16539; #20094 asks for it back). A
module whose optimizers all declare ``loss`` gets a ``training_step`` from the mixin that does what Lightning
1.x's loop over ``optimizer_idx`` did. For each declared optimizer, in declaration order:

1. its other optimizers' parameters are frozen while it runs (``toggle_optimizer``, as 1.x did), so its
   backward leaves no gradients on them;
2. at the first batch of an accumulation window, ``zero_grad()``;
3. ``module.<method>(batch, batch_idx)``: the loss, computed after the previous optimizer stepped (a
   generator's loss sees the updated discriminator); ``None`` skips this optimizer's backward for the batch,
   a dict gives its ``"loss"``; the loss is logged as ``loss/<attribute>`` (on the step, in the progress bar),
   and the method may call ``self.log`` as a ``training_step`` does;
4. ``manual_backward(loss / accumulate_grad_batches)``, through the precision plugin (the ``GradScaler`` of
   ``16-mixed`` scales it), normalized as Lightning's automatic optimization does;
5. at the last batch of the window: the step, through Lightning (``on_before_optimizer_step``, the
   precision plugin's unscaling and skipping), with the Trainer's ``gradient_clip_val`` and
   ``gradient_clip_algorithm`` applied as automatic optimization does: by the module's
   ``configure_gradient_clipping`` hook, after the ``on_before_optimizer_step`` hooks and right before the
   update; then the optimizer's per-step schedules (``stepping.py``). A window whose every loss was ``None``
   steps too, without gradients, as 1.x's ``None`` did (torch's optimizers leave a parameter without a
   gradient as it is): ``global_step``, ``max_steps``, the lengths derived from the run and ``preview_schedule``
   count every window, and the schedules step after it. Under ``16-mixed`` that step runs without the
   ``GradScaler``, whose ``step`` refuses an optimizer without gradients; automatic optimization leaves the
   scaler out for a ``None`` too. Nor is it clipped: there is nothing to clip, and torch's
   ``clip_grad_value_`` fails on no gradients (automatic optimization's ``None`` fails there), so
   ``configure_gradient_clipping`` is not called for it.

The written step returns the losses as they were backpropagated, which Lightning hands ``on_train_batch_end``
as ``outputs`` (and the LR finder records): one optimizer's loss (``outputs["loss"]``, as automatic optimization
hands it; for an optimizer whose step evaluates the closure, such as LBFGS, the first evaluation's, before the
step, as a hand-written manual module's ``opt.step(closure)`` returns it, where automatic optimization hands the
last evaluation's); with several, a dict of each one's by its attribute, those whose method returned one at the
batch (there is no one loss of the batch); ``None`` when none did.

Accumulation (Lightning refuses ``accumulate_grad_batches`` in manual optimization; here it means what it meant
in Lightning 1.x): the windows are automatic optimization's, every ``accumulate_grad_batches`` batches and the
epoch's last (a partial window steps too). ``every=n`` steps an optimizer at the window ends ``e`` with
``(e + 1) % n == 0`` (Lightning's rule for a scheduler's ``frequency``; ``utilities/step_rule.py``), and its loss
and backward run on every batch of those windows only. Without accumulation that is WGAN's ``n_critic``: the
generator with ``every=5`` steps on batches 4, 9, 14, ... and computes its loss only there. On data of unknown
length an epoch's partial last window is known only at its last batch (Lightning looks one batch ahead), too late
to decide ``every`` for its earlier batches: ``every > 1`` beside accumulation is refused there when ``fit``
starts (``building/length.py``).

The module is in automatic optimization until ``configure_optimizers`` runs, then in manual optimization
(``manual``): Lightning checks the Trainer's clipping and accumulation against manual optimization before
that, and here the mixin applies them itself. ``trainer.global_step`` counts every optimizer's steps, as in any manual
optimization; the logging step (``log_every_n_steps``) counts windows, and the loggers get what a window logged
(``loss/<attribute>`` and the loss methods' own ``self.log``) once, at its last batch, as in automatic
optimization (``compat.log_at_window_ends``).
A ``GradientAccumulationScheduler`` is refused when ``fit`` starts.

Under ``fit(torch.compile(module))`` Lightning compiles the module's ``training_step`` as well as its ``forward``:
the written step runs outside dynamo, which cannot trace its ``self.log``, and the ``forward`` the loss methods
call stays compiled (``compat.training_step_outside_compile``, at ``install``; an uncompiled module's step is
left as it is).

An optimizer whose step evaluates the closure itself (``LBFGS``; the registry's ``evaluates_closure``) would
get no loss from ``optimizer.step()``, and a loss computed once before the step would be stale at every point
its line search tries: it steps with a closure running steps 2 to 4, as a hand-written module and automatic
optimization do (``Driver.closure_step``). Its loss is logged once, the first evaluation's. An accumulation
beside it is refused when ``fit`` starts (each evaluation would add gradients it does not evaluate again), and
a ``None`` loss at its batch (nothing to evaluate).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import MethodType
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn, TrainerStatus
from typing_extensions import override

from lightning_optim.building.build import Built
from lightning_optim.building.length import check_every_steps
from lightning_optim.declaring.optimizer import ResolvedOptimizer
from lightning_optim.declaring.specs import DECLARES_OPTIMIZERS
from lightning_optim.registry.optimizers import evaluates_closure
from lightning_optim.training import callbacks as mixin_callbacks
from lightning_optim.training.callbacks import MixinCallback
from lightning_optim.utilities import compat
from lightning_optim.utilities.errors import did_you_mean, listing, user_class
from lightning_optim.utilities.step_rule import steps_at
from lightning_optim.utilities.weak import WeakLinks


@dataclass(frozen=True)
class Driven:
    """One optimizer of a module whose training step the mixin writes."""

    attribute: str
    method: str
    every: int
    #: its position in ``trainer.optimizers``
    index: int
    #: its step evaluates the closure itself (``LBFGS``): it steps with one (``Driver.closure_step``)
    closure: bool = False

    @property
    def log_key(self) -> str:
        return f"loss/{self.attribute}"


#: Lightning's hooks of automatic optimization's step that the training step written from ``loss`` cannot call
#: (it steps and zeroes each optimizer itself, as Lightning 1.x's loop did), with what does the same job
UNHONOURED = {
    "optimizer_step": "`on_before_optimizer_step` (before each step, the gradients ready) or `on_train_batch_end` "
    "(after it); a warm-up is `SchedulerSpec(..., warmup=N)`",
    "optimizer_zero_grad": "`on_before_zero_grad` (called before each `zero_grad()`, as in automatic optimization)",
}


def overrider(cls: type, name: str, *own: Any) -> type | None:
    """The class whose ``name`` ``cls`` uses, unless that is Lightning's own (either namespace's, or one of
    ``own``)."""
    definer = next((k for k in cls.__mro__ if name in vars(k)), None)
    lightnings = (getattr(base, name, None) for base in compat.lightning_classes("LightningModule"))
    if definer is None or vars(definer)[name] in (*lightnings, *own):
        return None
    return definer


def _methods(cls: type, losses: Collection[str | None] = ()) -> list[str]:
    """The methods a ``loss`` may have meant: those the user's classes in ``cls``'s MRO define, not Lightning's
    hooks, ``nn.Module``'s or the mixin's (a name close to ``predict_step`` is not a misspelt hook: the hook is
    no loss), nor another optimizer's ``loss`` method (``losses``).

    Example:
        >>> import lightning as L
        >>> class Base(L.LightningModule):
        ...     def shared_step(self, batch, batch_idx): ...
        ...     def dis_loss(self, batch, batch_idx): ...
        >>> class Model(Base):
        ...     def helper(self): ...
        >>> _methods(Model), _methods(Model, ["dis_loss"])
        (['dis_loss', 'helper', 'shared_step'], ['helper', 'shared_step'])
    """
    theirs = {k for base in compat.lightning_classes("LightningModule") for k in base.__mro__}
    names = {
        name
        for k in cls.__mro__
        if k not in theirs and DECLARES_OPTIMIZERS not in vars(k)
        for name, value in vars(k).items()
        if not name.startswith("__") and value is not training_step
    }
    return sorted(n for n in names if n not in losses and callable(getattr(cls, n, None)))


def missing_method(
    cls: type, declared: ResolvedOptimizer, losses: Collection[str | None], *, defining: bool = False
) -> ValueError | None:
    """The error for a ``loss`` naming no method of ``cls`` (``None`` if it names one), ``losses`` being every
    declared optimizer's. While ``cls`` is being defined (``defining``) only a near miss of a method of the
    user's classes is an error: a name with none may be a method a subclass defines, checked when ``fit``
    starts."""
    method = declared.spec.loss
    if method is None or callable(getattr(cls, method, None)):
        return None
    hint = did_you_mean(method, _methods(cls, losses))
    if defining and not hint:
        return None
    found = "" if getattr(cls, method, None) is None else f" (`{method}` is {getattr(cls, method)!r})"
    define = "" if hint else f" Define `{method}(self, batch, batch_idx)` in `{cls.__qualname__}` or a base."
    return ValueError(
        f"{declared.where}: Expected `loss` to name a method of `{cls.__qualname__}`, "
        f"`{method}(batch, batch_idx) -> loss`, but got {method!r}{hint}{found}.{define}"
    )


def based_training_step(owner: str, base: str, declared: Sequence[ResolvedOptimizer]) -> str:
    """The refusal of ``loss`` on a class whose base (a library's module) defines ``training_step``: the mixin's
    step would replace it without a word, and a base is not the user's to edit, so the way out is the step
    written in the class itself, calling the declared loss methods (an override beside ``loss`` is refused too).

    Example:
        >>> from types import SimpleNamespace as Declared
        >>> one = [Declared(attribute="optimizer", spec=Declared(loss="compute_loss"))]
        >>> print(based_training_step("Tuned", "Library", one))
        Tuned: Expected no `training_step` beside `loss` on the optimizers (`optimizer`) but got one in the base `Library`: the mixin's training step would replace it without a word. Remove `loss=` and write `training_step` in `Tuned`, calling the loss method: `return self.compute_loss(batch, batch_idx)`.
    """
    if len(declared) == 1:
        how = f"calling the loss method: `return self.{declared[0].spec.loss}(batch, batch_idx)`"
    else:
        steps = [
            f"`self.{d.attribute}.zero_grad(); self.manual_backward(self.{d.spec.loss}(batch, batch_idx)); "
            f"self.{d.attribute}.step()`"
            for d in declared
        ]
        how = (
            "stepping each optimizer in turn (the mixin trains several in manual optimization): "
            + ", then ".join(steps)
        )
    return (
        f"{owner}: Expected no `training_step` beside `loss` on the optimizers ({listing(d.attribute for d in declared)}) "
        f"but got one in the base `{base}`: the mixin's training step would replace it without a word. Remove "
        f"`loss=` and write `training_step` in `{owner}`, {how}."
    )


def check_class(cls: type, declared: Sequence[ResolvedOptimizer]) -> bool:
    """The class-wide checks of ``loss``: on every optimizer or none, no ``training_step`` of the class's own,
    and no near miss of a method of the user's classes for a method name (``missing_method``; a name with no
    near miss may be a method a subclass defines: checked when ``fit`` starts). Whether the mixin writes the
    training step."""
    with_loss = [d.attribute for d in declared if d.spec.loss is not None]
    if not with_loss:
        return False
    if len(with_loss) < len(declared):
        without = [d.attribute for d in declared if d.spec.loss is None]
        raise ValueError(
            f"{cls.__qualname__}: Expected `loss` on every declared optimizer or on none but got it on "
            f"{listing(with_loss)} and not on {listing(without)}. With `loss` the mixin writes the training step "
            f"for all of them: declare `loss=` on {listing(without)} too, or remove it and write "
            "`training_step` yourself."
        )
    lightnings = compat.lightning_classes("LightningModule")
    writer = next((k for k in cls.__mro__ if "training_step" in vars(k)), lightnings[0])
    if writer not in lightnings and vars(writer)["training_step"] is not training_step:
        if writer is cls:
            raise TypeError(
                f"{cls.__qualname__}: declares `loss` on its optimizers ({listing(with_loss)}), so the mixin writes "
                f"the training step, but `{writer.__qualname__}` defines `training_step` too. Remove one of the two."
            )
        raise TypeError(based_training_step(cls.__qualname__, writer.__qualname__, declared))
    for hook, instead in UNHONOURED.items():
        definer = overrider(cls, hook)
        if definer is not None:
            raise TypeError(
                f"{cls.__qualname__}.{hook}: Expected no `{hook}` override on a class whose optimizers declare "
                f"`loss` ({listing(with_loss)}) but got one in `{definer.__qualname__}`: the mixin writes the "
                "training step and steps and zeroes each optimizer itself, so Lightning would never call it. "
                f"Remove it and use {instead} instead."
            )
    losses = [d.spec.loss for d in declared]
    for d in declared:
        error = missing_method(cls, d, losses, defining=True)
        if error is not None:
            raise error
    return True


class Driver(MixinCallback):
    """The training step of one ``fit`` of a module whose optimizers declare ``loss``; as a part of the mixin's
    callbacks, it marks itself finished when the ``fit`` ends (normally or with an error)."""

    def __init__(self, module: LightningModule, trainer: Trainer, built: Sequence[Built]) -> None:
        super().__init__()
        self.module = module
        self.trainer = trainer
        #: from ``configure_optimizers`` to the end of the ``fit``
        self.active = True
        self.driven = [
            Driven(
                b.declared.attribute,
                b.declared.spec.loss or "",
                b.declared.spec.every,
                index,
                evaluates_closure(b.declared.cls),
            )
            for index, b in enumerate(built)
        ]
        self.several = len(built) > 1
        self.backwards = [0] * len(self.driven)  # backward passes in the current window, per optimizer
        #: during the step of a window whose every loss was None: nothing to clip
        self.without_gradients = False
        #: the loggers get a window's logged values at its last batch, as in automatic optimization
        self.logging_restored = (
            compat.log_at_window_ends(trainer) if trainer.accumulate_grad_batches > 1 else None
        )
        self.before_zero_grad: list[Callable[[Any], Any]] = []
        clip = trainer.gradient_clip_val
        if clip or compat.is_overridden("configure_gradient_clipping", module):
            for b, d in zip(built, self.driven, strict=True):
                _clip_before_step(
                    module, b.optimizer, clip, trainer.gradient_clip_algorithm, d.closure, self.has_gradients
                )

    def has_gradients(self) -> bool:
        return not self.without_gradients

    def _finish(self, *hook_args: Any, **hook_kwargs: Any) -> None:
        self.active = False
        if self.logging_restored is not None:
            self.logging_restored()
            self.logging_restored = None

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Collect the ``on_before_zero_grad`` hooks to call; refuse an ``every`` that would never step."""
        self.before_zero_grad = _zero_grad_hooks(trainer, pl_module)
        check_every_steps(trainer)  # also checked by the schedules' lengths, whichever callback runs first

    teardown = on_exception = _finish

    def step(self, batch: Any, batch_idx: int) -> torch.Tensor | dict[str, torch.Tensor] | None:
        """Train the declared optimizers on ``batch``; what the training step returns (``training_step``)."""
        module, trainer = self.module, self.trainer
        accumulate = trainer.accumulate_grad_batches
        # the last batch of the accumulation window ``batch_idx`` is in (automatic optimization's windows)
        end = (batch_idx // accumulate + 1) * accumulate - 1
        batches = float(trainer.num_training_batches)
        if math.isfinite(batches):
            end = min(end, int(batches) - 1)
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            end = batch_idx  # data of unknown length ended inside a window: it steps now
        first = batch_idx % accumulate == 0
        optimizers = module.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        losses: dict[str, torch.Tensor] = {}
        for d in self.driven:
            if not steps_at(end, d.every):
                continue
            optimizer = optimizers[d.index]
            if self.several:
                module.toggle_optimizer(optimizer)
            try:
                if d.closure:  # no accumulation (`install`): every batch is a window of its own
                    if (evaluated := self.closure_step(optimizer, d, batch, batch_idx)) is not None:
                        losses[d.attribute] = evaluated
                    continue
                if first:
                    self.zero_grad(optimizer, d)
                    self.backwards[d.index] = 0
                loss = self.loss(d, batch, batch_idx)
                if loss is not None:
                    module.log(d.log_key, loss.detach(), prog_bar=True)
                    loss = loss / accumulate if accumulate > 1 else loss
                    module.manual_backward(loss)
                    losses[d.attribute] = loss.detach()
                    self.backwards[d.index] += 1
                if batch_idx == end:
                    if self.backwards[d.index]:
                        optimizer.step()
                    else:  # every loss of the window was None: a step with nothing to apply (Lightning 1.x's)
                        self.without_gradients = True
                        try:
                            with compat.without_scaler(trainer):
                                optimizer.step()
                        finally:
                            self.without_gradients = False
            finally:
                if self.several:
                    module.untoggle_optimizer(optimizer)
        if self.several:
            return losses or None
        return losses.popitem()[1] if losses else None

    def zero_grad(self, optimizer: Any, d: Driven) -> None:
        for hook in self.before_zero_grad:
            hook(self.trainer.optimizers[d.index])
        optimizer.zero_grad()

    def loss(self, d: Driven, batch: Any, batch_idx: int) -> torch.Tensor | None:
        """The loss ``d``'s method returns for the batch (a dict's ``"loss"``), checked."""
        module = self.module
        loss = getattr(module, d.method)(batch, batch_idx)
        if loss is not None and not isinstance(loss, torch.Tensor):
            if not (isinstance(loss, Mapping) and isinstance(loss.get("loss"), torch.Tensor)):
                raise TypeError(
                    f"{user_class(module).__qualname__}.{d.method}: Expected the loss of `{d.attribute}` as a "
                    f'tensor, a dict with a "loss" tensor or None (skip this batch) but got {loss!r}.'
                )
            loss = loss["loss"]
        if loss is not None:
            _check_loss(module, d, loss)
        return loss

    def closure_step(self, optimizer: Any, d: Driven, batch: Any, batch_idx: int) -> torch.Tensor | None:
        """The step of an optimizer that evaluates the closure itself (``LBFGS``), as a hand-written module
        writes it: ``optimizer.step(closure=...)`` through Lightning (the precision plugin calls the
        ``on_before_optimizer_step`` hooks and the clipping after each evaluation, as in automatic
        optimization), the closure zeroing the gradients (after the ``on_before_zero_grad`` hooks, as automatic
        optimization's closure does), computing the loss and its backward. The loss is logged once: the first
        evaluation's, the batch's before the step, which it returns (as ``optimizer.step`` does)."""
        module = self.module
        losses: list[torch.Tensor] = []

        def closure() -> torch.Tensor:
            self.zero_grad(optimizer, d)
            loss = self.loss(d, batch, batch_idx)
            if loss is None:
                name = type(self.trainer.optimizers[d.index]).__name__
                raise ValueError(
                    f"{user_class(module).__qualname__}.{d.method}: Expected the loss of `{d.attribute}` as a tensor at "
                    f"every batch of `{name}`, whose step evaluates the loss again (a closure), but got None at "
                    f"batch {batch_idx}: such a step has no loss to evaluate. Return a loss at every batch, or "
                    "leave the optimizer out of some batches with `every=n`."
                )
            module.manual_backward(loss)
            losses.append(loss.detach())
            return loss

        optimizer.step(closure=closure)
        if not losses:
            return None
        module.log(d.log_key, losses[0], prog_bar=True)
        return losses[0]


def _zero_grad_hooks(trainer: Trainer, module: LightningModule) -> list[Callable[[Any], Any]]:
    """The ``on_before_zero_grad`` hooks that do something, in the order automatic optimization calls them before
    each ``zero_grad()``: the callbacks' (those Lightning calls: callable), then the module's."""
    hooks: list[Callable[[Any], Any]] = []
    empty = {base.on_before_zero_grad for base in compat.lightning_classes("Callback")}
    for callback in trainer.callbacks:  # type: ignore[attr-defined]
        hook = getattr(callback, "on_before_zero_grad", None)
        if callable(hook) and getattr(hook, "__func__", None) not in empty:
            hooks.append(partial(hook, trainer, module))
    if overrider(user_class(module), "on_before_zero_grad") is not None:
        hooks.append(module.on_before_zero_grad)
    return hooks


def _check_loss(module: LightningModule, driven: Any, loss: torch.Tensor) -> None:
    """The loss a ``loss=`` method returned must be a scalar that depends on its optimizer's parameters."""
    where = f"{user_class(module).__qualname__}.{driven.method}"
    if loss.numel() != 1:
        raise TypeError(
            f"{where}: Expected the loss of `{driven.attribute}` to be a scalar tensor but got one of shape "
            f"{tuple(loss.shape)}; reduce it (e.g. `.mean()`)."
        )
    if not loss.requires_grad:
        raise ValueError(
            f"{where}: Expected the loss of `{driven.attribute}` to depend on the parameters it trains but got a "
            "loss without a gradient: detached, computed under `torch.no_grad()`, or from the parameters of "
            "another optimizer (those are frozen while it runs, `toggle_optimizer`; were two `loss=` methods "
            f"swapped?). Return the loss of the parameters `{driven.attribute}` trains."
        )


def _clip_before_step(
    module: LightningModule,
    optimizer: torch.optim.Optimizer,
    clip: Any,
    algorithm: Any,
    again: bool,
    has_gradients: Callable[[], bool],
) -> None:
    """Replace ``optimizer.step`` on the instance: Lightning's closure (the ``on_before_optimizer_step`` hooks),
    then the module's ``configure_gradient_clipping`` with the Trainer's settings, then the update: automatic
    optimization's order, which manual optimization does not follow (Lightning skips its clipping there). An
    optimizer that evaluates the closure ``again`` (``LBFGS``) gets a closure that clips after each evaluation,
    as automatic optimization's does. A step without gradients (``has_gradients()`` false: a window whose every
    loss was ``None``) is not clipped."""
    inner = optimizer.step

    def step(opt: Any, closure: Any = None, *args: Any, **kwargs: Any) -> Any:
        if again and closure is not None:

            def clipped() -> Any:
                loss = closure()
                module.configure_gradient_clipping(
                    opt, gradient_clip_val=clip, gradient_clip_algorithm=algorithm
                )
                return loss

            return inner(clipped, *args, **kwargs)
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if has_gradients():
            module.configure_gradient_clipping(opt, gradient_clip_val=clip, gradient_clip_algorithm=algorithm)
        result = inner(*args, **kwargs)
        return loss if closure is not None else result

    optimizer.step = MethodType(step, optimizer)  # type: ignore[method-assign]


#: The driver of each module while it trains (weakly: a copied module does not share it), kept by the ``Trainer``'s
#: callbacks (weakly both ways: the driver refers to the module and the ``Trainer``).
_DRIVERS: WeakLinks[LightningModule, Driver] = WeakLinks()


def training_step(
    self: LightningModule, batch: Any, batch_idx: int
) -> torch.Tensor | dict[str, torch.Tensor] | None:
    """The training step the mixin writes from the optimizers' declared ``loss`` methods (``training/driven.py``):
    returns the batch's loss (``Driver.step``)."""
    driver = _DRIVERS.get(self)
    if driver is None:
        raise RuntimeError(
            f"{user_class(self).__qualname__}.training_step: written by the mixin from the declared `loss` methods; it runs "
            "inside `trainer.fit` (after `configure_optimizers`)."
        )
    return driver.step(batch, batch_idx)


def manual(module: LightningModule) -> bool:
    """Whether the module is in manual optimization because the mixin drives (or drove) its training step.

    From ``configure_optimizers`` to the end of the ``fit``, and after it (``trainer.global_step`` reads the
    manual loop's count), except when another ``fit`` starts: Lightning's checks of the Trainer's clipping and
    accumulation, made before ``configure_optimizers``, then see automatic optimization.
    """
    driver = _DRIVERS.get(module)
    if driver is None:
        return False
    if driver.active:
        return True
    state = getattr(compat.attached_trainer(module), "state", None)
    fitting = state is not None and state.fn == TrainerFn.FITTING and state.status == TrainerStatus.RUNNING
    return not fitting


def _automatic_optimization(self: LightningModule) -> bool:
    return not manual(self) and bool(LIGHTNINGS_FLAG.fget(self))  # type: ignore[misc]


def _set_automatic_optimization(self: LightningModule, value: bool) -> None:
    # Lightning's own `__init__` writes the flag's field directly: this is the user's `self.automatic_optimization =`
    self.__dict__[_WRITTEN_AUTOMATIC] = bool(value)
    LIGHTNINGS_FLAG.fset(self, value)  # type: ignore[misc]


def written_automatic(module: LightningModule) -> bool:
    """Whether the module's own code set ``automatic_optimization = True`` (last), which the flag of a class whose
    training step the mixin writes cannot tell from Lightning's default: ``fit`` refuses it."""
    return bool(vars(module).get(_WRITTEN_AUTOMATIC, False))


_WRITTEN_AUTOMATIC = "_lightning_optim_written_automatic"
LIGHTNINGS_FLAG: property = LightningModule.automatic_optimization  # type: ignore[assignment]
#: ``automatic_optimization`` of a class whose training step the mixin writes: ``False`` from
#: ``configure_optimizers`` on (``manual``)
DRIVEN_FLAG = property(_automatic_optimization, _set_automatic_optimization, doc=LIGHTNINGS_FLAG.__doc__)


def write_training_step(cls: type, driven: bool) -> None:
    """Give a class whose optimizers declare ``loss`` the mixin's ``training_step`` and its
    ``automatic_optimization``; take them back from a subclass that no longer declares ``loss``."""
    if driven:
        cls.training_step = training_step  # type: ignore[attr-defined]
        cls.automatic_optimization = DRIVEN_FLAG  # type: ignore[attr-defined]
    elif getattr(cls, "training_step", None) is training_step:
        lightning = compat.lightning_base(cls)  # its namespace's: `lightning.pytorch` or `pytorch_lightning`
        cls.training_step = lightning.training_step  # type: ignore[attr-defined]
        cls.automatic_optimization = vars(lightning)["automatic_optimization"]  # type: ignore[attr-defined]


def closure_accumulation(where: str, optimizer: str, accumulate: int) -> str:
    """The refusal of ``accumulate_grad_batches`` beside an optimizer that evaluates the closure itself: each
    evaluation at the window's last batch would add that batch's gradients to the window's others, taken at
    the weights before the step, so the line search would follow none of the losses.

    Example:
        >>> print(closure_accumulation("Model.optimizer", "LBFGS", 2))
        Model.optimizer: Expected `accumulate_grad_batches=1` beside `LBFGS`, whose step evaluates the loss again (a closure), but got 2: each evaluation at a window's last batch would add that batch's gradients to the window's earlier ones, which the step does not evaluate again. Remove `accumulate_grad_batches`, or train on larger batches.
    """
    return (
        f"{where}: Expected `accumulate_grad_batches=1` beside `{optimizer}`, whose step evaluates the loss again "
        f"(a closure), but got {accumulate}: each evaluation at a window's last batch would add that batch's "
        "gradients to the window's earlier ones, which the step does not evaluate again. Remove "
        "`accumulate_grad_batches`, or train on larger batches."
    )


def install(module: LightningModule, trainer: Trainer, built: Sequence[Built]) -> None:
    """Drive the module's training step for this ``fit``: it is in manual optimization from now on."""
    losses = [b.declared.spec.loss for b in built]
    for d in (b.declared for b in built):  # every `loss` names a method taking `(batch, batch_idx)`
        error = missing_method(user_class(module), d, losses)
        if error is not None:
            raise error
        method = getattr(module, d.spec.loss or "")
        try:
            inspect.signature(method).bind(None, 0)
        except TypeError as err:
            raise TypeError(
                f"{d.where}: Expected `{d.spec.loss}` to take `(batch, batch_idx)` (as `training_step` does) but "
                f"its signature is {inspect.signature(method)}: {err}."
            ) from None
        except ValueError:  # no signature (a builtin): called as it is
            continue
    callbacks = getattr(trainer, "callbacks", None) or ()
    schedulers = compat.lightning_classes("callbacks.GradientAccumulationScheduler")
    if any(isinstance(c, schedulers) for c in callbacks):
        raise ValueError(
            f"{user_class(module).__qualname__}: Expected no `GradientAccumulationScheduler` (an accumulation that "
            "changes from epoch to epoch) but got one: the mixin writes the training step from the declared "
            "`loss` methods, with the Trainer's fixed `accumulate_grad_batches`. Remove it and set "
            "`Trainer(accumulate_grad_batches=...)`."
        )
    accumulate = trainer.accumulate_grad_batches
    for d in (b.declared for b in built):
        if accumulate > 1 and evaluates_closure(d.cls):
            raise ValueError(closure_accumulation(d.where, d.cls.__name__, accumulate))
    compat.training_step_outside_compile(module)
    driver = Driver(module, trainer, built)
    _DRIVERS[module] = driver
    mixin_callbacks.add(trainer, driver)
