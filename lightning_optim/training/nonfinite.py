"""``OptimizerSpec(skip_nonfinite=N)``: skip an update whose gradients are not all finite, stop at the N+1-th in a row.

optax's ``apply_if_finite``, stricter: optax applies the update anyway after its maximum; here training stops
with an error naming the optimizer and the step, since N updates in a row without a finite gradient mean the
run has diverged. Lightning #4956 and #5152 and torchtitan #916 ask for it.

A skipped update leaves the weights, the optimizer's state (Adam's moments and step count) and the schedules
(``outcomes.py``) as they were, so in float32 a run with a NaN at batch ``k`` ends with the same weights as the
same run without batch ``k`` (with gradient accumulation, the whole window's update is skipped).

How the gradients are checked, where the optimizer's step is called (``SkipNonFinite`` replaces
``optimizer.step`` on the instance, so it sees Lightning's closure run first: the backward, the
``on_before_optimizer_step`` hooks and clipping):

* the check is ``GradScaler``'s own kernel over every gradient (one launch per device and dtype), into a flag
  on the device. It runs in the mixin's ``on_before_optimizer_step`` (``CheckBeforeClipping``), after the
  backward and before the Trainer clips, as a ``GradScaler`` checks (when it unscales): clipping by value
  would turn an ``inf`` gradient into a finite update. The module's own ``on_before_optimizer_step`` and the
  other callbacks' run after it. A step called without that hook is checked when it is called;
* an optimizer that takes ``found_inf`` (the fused kernels) gets the flag and skips on the device: no host
  sync per step on a GPU. The outcome is read later, from a non-blocking copy, as for a ``GradScaler``'s
  ``found_inf`` (``outcomes.py``): the schedules' updates wait for it, and the error for too many skips in a
  row comes at the next step (naming the step that made it);
* any other optimizer reads the flag on the host and does not call ``step()`` at all: free on the CPU, one
  synchronization per step on a GPU (use the fused implementation there, which ``implementation="auto"``
  picks for Adam, AdamW, SGD and Adagrad on CUDA).

With sharded gradients (FSDP, ``ModelParallelStrategy``) the flag is summed over the processes on the device,
so that all of them skip alike; under DeepSpeed, which steps through its engine, the option is refused.

Under an enabled ``GradScaler`` (``precision="16-mixed"``) the scaler already checks every gradient and skips
those steps (its scale halves); its skips are this option's skips (they count toward ``N``), noticed when the
next step is asked for (``on_before_optimizer_step``) or when the optimizer's fused kernel got its
``found_inf``. The scaler's calibration at the start of a run can skip a few steps in a row; ``N`` must leave
room for them. A disabled one (``GradScaler(enabled=False)``) checks nothing: the option checks as without it.
A batch whose ``training_step`` returns ``None``, after which Lightning does not step under a scaler, is no
skip (``SettleOutcomes``), as in ``32-true``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MethodType
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from typing_extensions import override

from lightning_optim.building.build import Built
from lightning_optim.training import callbacks
from lightning_optim.training.callbacks import MixinCallback
from lightning_optim.training.outcomes import SettleOutcomes, StepOutcomes, outcomes_of
from lightning_optim.utilities import compat


def nonfinite(tensors: Sequence[torch.Tensor]) -> torch.Tensor | None:
    """A float32 flag on the first tensor's device, nonzero when any element of ``tensors`` is inf or NaN
    (``None`` for no tensors). No synchronization: the flag stays on the device.

    A complex tensor is checked as its real and imaginary parts (``torch.view_as_real``, no copy): the check
    kernel takes real dtypes only.

    Example:
        >>> nonfinite([torch.ones(2), torch.tensor([1.0, float("nan")])])
        tensor(1.)
        >>> nonfinite([torch.ones(2, dtype=torch.float16)])
        tensor(0.)
        >>> nonfinite([torch.ones(2), torch.tensor([1 + 1j, complex(0, float("inf"))])])
        tensor(1.)
    """
    by_kind: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
    for tensor in tensors:
        if tensor.is_sparse:
            tensor = tensor.coalesce().values()
        if tensor.is_complex():
            tensor = torch.view_as_real(tensor.resolve_conj())
        by_kind.setdefault((tensor.device, tensor.dtype), []).append(tensor)
    total: torch.Tensor | None = None
    for (device, _), group in by_kind.items():
        flag = torch.zeros((), dtype=torch.float32, device=device)
        compat.nonfinite_flag(group, flag)
        total = flag if total is None else total.add_(flag.to(total.device, non_blocking=True))
    return total


class SkipNonFinite:
    """Replaces ``optimizer.step`` on the instance: runs the closure (whose ``on_before_optimizer_step`` checks
    the gradients before clipping, ``CheckBeforeClipping``), and steps only if they are all finite (or lets a
    fused kernel decide on the device).

    ``shared``: the gradients are sharded across processes (FSDP): the flag is summed over them (on the
    device, no host sync) so that every process decides alike.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, outcomes: StepOutcomes, shared: bool = False
    ) -> None:
        self.optimizer = optimizer
        self.outcomes = outcomes
        self.step = optimizer.step  # the bound step, with torch's hooks
        self.on_device = compat.takes_found_inf(optimizer)
        self.shared = shared
        #: the flag of the step being asked for, from before clipping (``CheckBeforeClipping``)
        self.checked: tuple[torch.Tensor | None] | None = None

    def check(self) -> torch.Tensor | None:
        """The flag of the optimizer's gradients as they are now (on the device, summed over the processes
        when they are sharded); ``None`` without gradients."""
        found = nonfinite(
            [p.grad for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
        )
        if self.shared:
            if found is None:  # this process holds no gradient: it still takes part in the sum
                found = torch.zeros(
                    (), dtype=torch.float32, device=self.optimizer.param_groups[0]["params"][0].device
                )
            torch.distributed.all_reduce(found)
        return found

    def check_before_clipping(self) -> None:
        """Check the gradients of the step being asked for now, before the Trainer clips them
        (``on_before_optimizer_step``): clipping by value would make an ``inf`` finite."""
        self.checked = (self.check(),)

    def __call__(self, closure: Any = None, *args: Any, **kwargs: Any) -> Any:
        loss = None
        if closure is not None:
            self.checked = None  # the closure's `on_before_optimizer_step` checks this step's gradients
            with torch.enable_grad():
                loss = closure()  # Lightning's: forward and backward (automatic), hooks and clipping
        self.outcomes.settle()  # earlier outcomes first: the schedules' held updates, the count
        # checked before clipping; without that hook (a step not asked for through Lightning), now
        found = self.checked[0] if self.checked is not None else self.check()
        self.checked = None
        if found is None:
            result = self.step(*args, **kwargs)
        elif self.on_device and (found.device.type != "cpu" or StepOutcomes.defer_on_cpu):
            self.optimizer.found_inf = found  # type: ignore[attr-defined]
            try:
                result = self.step(*args, **kwargs)
            finally:
                del self.optimizer.found_inf  # type: ignore[attr-defined]
        elif found.item():
            self.outcomes.skip()
            return loss
        else:
            result = self.step(*args, **kwargs)
        return loss if closure is not None else result


class CheckBeforeClipping(MixinCallback):
    """Checks the gradients of each step of the optimizers whose ``SkipNonFinite`` it holds in
    ``on_before_optimizer_step``, which Lightning calls after the backward and before it clips (automatic
    optimization and ``loss=``), as a ``GradScaler`` checks before clipping: clipping by value would turn an
    ``inf`` gradient into a finite update of ``gradient_clip_val``. The flag stays on the device."""

    def __init__(self, skippers: Sequence[SkipNonFinite]) -> None:
        super().__init__()
        self.skippers = {id(s.optimizer): s for s in skippers}

    @override
    def on_before_optimizer_step(
        self, trainer: Trainer, pl_module: LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        skipper = self.skippers.get(id(getattr(optimizer, "optimizer", optimizer)))
        if skipper is not None:
            skipper.check_before_clipping()


def install(trainer: Trainer, built: Sequence[Built], outcomes: Mapping[int, StepOutcomes]) -> None:
    """Skip non-finite updates of every optimizer declaring ``skip_nonfinite``: through the ``GradScaler``'s own
    decision when there is one and it is enabled, else by replacing its ``step`` (a disabled scaler calls it)."""
    skipping = [outcomes[id(b.optimizer)] for b in built if b.declared.spec.skip_nonfinite]
    if not skipping:
        return
    strategy = type(trainer.strategy).__name__
    if strategy.startswith("DeepSpeed"):
        raise ValueError(
            f"{skipping[0].where}: Expected a strategy that calls the optimizer's own `step` for `skip_nonfinite` "
            f"but got `{strategy}`, which steps through its engine and skips overflowing steps itself; remove "
            "`skip_nonfinite`."
        )
    scaler = getattr(trainer.precision_plugin, "scaler", None)
    if scaler is not None and scaler.is_enabled():  # a disabled one checks nothing and steps every update
        # the outcomes' callback (it replaces the one `outcomes.install` added) counts the scaler's skips
        callbacks.add(trainer, SettleOutcomes(list(outcomes.values()), scaled=skipping))
        return
    # each process holds a shard of the gradients (FSDP, model parallelism) rather than all of them
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    sharding = (
        *compat.lightning_classes("strategies.FSDPStrategy"),
        *compat.lightning_classes("strategies.ModelParallelStrategy"),
    )
    shared = distributed and isinstance(trainer.strategy, sharding)
    skippers = []
    for skips in skipping:
        skipper = SkipNonFinite(skips.optimizer, skips, shared)
        skippers.append(skipper)

        def step(
            optimizer: Any, closure: Any = None, *args: Any, skipper: SkipNonFinite = skipper, **kwargs: Any
        ) -> Any:
            return skipper(closure, *args, **kwargs)

        # a bound method, as torch's schedulers expect when they wrap ``step`` to notice it was called
        skips.optimizer.step = MethodType(step, skips.optimizer)  # type: ignore[method-assign]
    callbacks.add(trainer, CheckBeforeClipping(skippers))


def skipped_updates(optimizer: Any) -> int | None:
    """Updates of ``optimizer`` skipped so far for non-finite gradients, if it declares ``skip_nonfinite``."""
    outcomes = outcomes_of(optimizer)
    return outcomes.skipped if outcomes is not None and outcomes.limit else None
