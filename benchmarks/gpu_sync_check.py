"""No host-device synchronization at training steps that do not log, on CUDA, with the mixin and LRMonitor.

A host-device synchronization (``.item()``, ``float(tensor)``, ``.tolist()``, a blocking copy) stalls the
CPU until the GPU has caught up, so the next kernels cannot be queued while the current ones run. A
training step should have none. This script fits tiny modules with a real ``Trainer`` on CUDA, with
``ConfigurableOptimizersMixin`` declarations and ``LRMonitor`` attached, and runs the middle steps of each
fit under ``torch.cuda.set_sync_debug_mode("error")``, which makes every synchronizing CUDA call raise.
The first steps (setup, the first optimizer step allocating state) and the last ones (teardown) are left
out. Each check has a hand-written twin (``configure_optimizers`` returning the same optimizer and
scheduler, ``LRMonitor`` attached too): if the twin synchronizes as well, the cause is torch or Lightning,
not the mixin, and the report says so.

Checks (steps that do not log: ``log_every_n_steps`` larger than the run):

* ``a-auto-fused``: ``OptimizerSpec(AdamW)`` with ``implementation="auto"``, which picks the fused kernel
  on CUDA (asserted);
* ``b-tensor-lr``: ``OptimizerSpec(Adam, lr=torch.tensor(..., device="cuda"), capturable=True)``;
* ``c-per-step-cosine``: a per-step cosine schedule with warmup, its length derived from the run;
* ``c-per-step-tensor-lr``: tensor lrs (capturable) with a per-step ``ExponentialLR``, whose updates are
  ``fill_`` on the lr tensors;
* ``e-manual-two-optimizers``: manual optimization, two optimizers, per-step schedulers that the mixin
  steps from its post-step hooks.
* ``f-16-mixed-skipped-steps``: ``precision="16-mixed"``, a fused AdamW to which the ``GradScaler`` hands
  ``found_inf``, the loss inf at three guarded batches, and a per-step schedule that waits for an applied
  step (``training/outcomes.py``): the mixin reads each step's ``found_inf`` from a non-blocking copy before
  the next step, which must not synchronize. (A non-fused optimizer needs no check: the ``GradScaler`` reads
  ``found_inf`` itself, with a synchronization of its own, and the mixin only sees whether the step ran.)

* ``h-skip-nonfinite-fused``: ``OptimizerSpec(skip_nonfinite=3)`` on a fused AdamW in float32 with non-finite
  gradients at three guarded batches: the check runs on the device and the kernel takes its flag as
  ``found_inf`` (``training/nonfinite.py``); nothing synchronizes.

What reading ``found_inf`` costs (``g-found-inf-read-cost``, reported, not asserted): a loop of stand-in
training steps (a matmul workload, then a fused AdamW step of 10M parameters) without reading it, reading it
the mixin's way (a non-blocking copy to pinned memory and an event after the step, the event's wait and a
host read before the next step, after the next workload is queued), and with a plain ``.item()`` after the
step. Expected: the mixin's way costs the host a few microseconds per step (the copy's launch, an event
record, a wait on an event that has long completed) and no GPU idle time; ``.item()`` stalls the host until
the GPU has finished the step, so the next workload is queued late: one bubble per step.

And the cost of one logging event (``d-logging-event-200-groups``): 200 param groups with tensor lrs
(capturable Adam, a per-step ``ExponentialLR``), ``log_every_n_steps=10``; every step outside the
monitor's hook runs under ``"error"``; each call of ``LRMonitor.on_train_batch_start`` that logs runs
under the torch profiler and with the sync debug mode at ``"warn"``, and must make exactly one
device-to-host transfer (``LRMonitor`` stacks every tensor lr and reads them with one ``.tolist()``),
independent of the number of groups. See ``measure_logging_events`` for how the transfers are counted.

Without CUDA the script prints that it skips and exits 0; ``--cpu-dry-run`` runs the same fits on CPU
without the sync checks (to test the script itself). Results also go to ``--json``.

Run: ``PYTHONPATH=. python benchmarks/gpu_sync_check.py [--json out.json]``; exit status 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import linecache
import sys
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch import Callback
from torch import nn
from torch.optim import Adam, AdamW
from torch.optim.lr_scheduler import CosineAnnealingLR, ExponentialLR, LinearLR, SequentialLR
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lightning_optim import (
    ConfigurableOptimizersMixin,
    LRMonitor,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
)

SYNC_MESSAGE = "synchronizing CUDA operation"  # torch's text (c10/cuda/CUDAFunctions.cpp) in both modes
STEPS = 40  # batches per fit (one epoch)
FIRST_GUARDED, LAST_GUARDED = 3, STEPS - 3  # batch indices whose steps run under "error"
WIDTH = 16


def sync_mode(mode: str | int) -> None:
    """``torch.cuda.set_sync_debug_mode``, a no-op without CUDA (``--cpu-dry-run``)."""
    if torch.cuda.is_available():
        torch.cuda.set_sync_debug_mode(mode)


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


# ---------------------------------------------------------------------------------------------- modules


def loader() -> DataLoader:
    """Batches that are Python ints: nothing is copied to the device (a host-to-device copy of a batch
    from pageable memory is a synchronization of its own, and the data pipeline is not under test)."""
    return DataLoader(list(range(STEPS)), batch_size=1, collate_fn=lambda items: items[0])  # type: ignore[arg-type]


class Tiny(L.LightningModule):
    """A linear layer plus ``scales`` extra parameters (one param group each in the 200-group check).

    Inputs and targets are buffers, so they live on the device and a batch only picks one by index.
    """

    inputs: torch.Tensor
    targets: torch.Tensor

    def __init__(self, scales: int = 0, manual: bool = False) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        torch.manual_seed(0)
        self.net = nn.Linear(WIDTH, WIDTH)
        self.scales = nn.ParameterList([nn.Parameter(torch.zeros(WIDTH)) for _ in range(scales)])
        self.register_buffer("inputs", torch.randn(8, 4, WIDTH, generator=generator))
        self.register_buffer("targets", torch.randn(8, 4, WIDTH, generator=generator))
        if manual:
            self.automatic_optimization = False

    def loss(self, batch: int) -> torch.Tensor:
        out = self.net(self.inputs[batch % 8])
        if len(self.scales):
            out = out + torch.stack(list(self.scales)).sum(0)
        return (out - self.targets[batch % 8]).pow(2).mean()

    def training_step(self, batch: int, batch_idx: int) -> torch.Tensor | None:
        if self.automatic_optimization:
            return self.loss(batch)
        for optimizer in self.optimizers():  # type: ignore[union-attr]
            optimizer.zero_grad()
            self.manual_backward(self.loss(batch))
            optimizer.step()
        self.after_manual_steps()
        return None

    def after_manual_steps(self) -> None:
        """The hand-written twins step their schedulers here; the mixin steps them itself."""


class TwoHeads(Tiny):
    """Manual optimization with two optimizers: ``net`` and ``head``."""

    def __init__(self) -> None:
        super().__init__(manual=True)
        self.head = nn.Linear(WIDTH, WIDTH)

    def loss(self, batch: int) -> torch.Tensor:
        return (self.head(self.net(self.inputs[batch % 8])) - self.targets[batch % 8]).pow(2).mean()


def device_tensor(value: float, device: torch.device) -> torch.Tensor:
    return torch.tensor(value, device=device)


def capturable(device: torch.device) -> dict[str, Any]:
    """``capturable=True`` on CUDA; nothing on CPU (``--cpu-dry-run``), where the mixin refuses it."""
    return {"capturable": True} if device.type == "cuda" else {}


@dataclass
class Check:
    name: str
    what: str
    mixin: Callable[[torch.device], type[L.LightningModule]]
    twin: Callable[[torch.device], type[L.LightningModule]]
    #: the implementation the mixin must have picked on CUDA (``None``: not checked)
    implementation: str | None = None
    results: dict[str, Any] = field(default_factory=dict)
    #: ``Trainer(precision=...)``; ``None``: the default (32-true)
    precision: str | None = None


def _hand(
    base: type[Tiny], configure: Callable[[Any], Any], after: Callable[[Any], None] | None = None
) -> type:
    attributes: dict[str, Any] = {"configure_optimizers": configure}
    if after is not None:
        attributes["after_manual_steps"] = after
    return type(f"Hand{base.__name__}", (base,), attributes)


def _mixin(base: type[Tiny], **declarations: OptimizerSpec) -> type:
    return type(f"Mixin{base.__name__}", (ConfigurableOptimizersMixin, base), dict(declarations))


def check_a() -> Check:
    def twin(device: torch.device) -> type:
        return _hand(Tiny, lambda self: AdamW(self.parameters(), lr=1e-3, weight_decay=0.01, fused=True))

    def mixin(device: torch.device) -> type:
        return _mixin(Tiny, optimizer=OptimizerSpec(AdamW, lr=1e-3, weight_decay=0.01))

    return Check("a-auto-fused", 'AdamW, implementation="auto" (picks fused on CUDA)', mixin, twin, "fused")


def check_b() -> Check:
    def twin(device: torch.device) -> type:
        return _hand(
            Tiny, lambda self: Adam(self.parameters(), lr=device_tensor(1e-3, device), **capturable(device))
        )

    def mixin(device: torch.device) -> type:
        spec = OptimizerSpec(Adam, lr=device_tensor(1e-3, device), **capturable(device))
        return _mixin(Tiny, optimizer=spec)

    return Check("b-tensor-lr", "Adam, capturable=True, lr=torch.tensor(1e-3) on the device", mixin, twin)


def check_c_cosine() -> Check:
    def configure(self: Any) -> Any:
        optimizer = AdamW(self.parameters(), lr=1e-3, fused=True)
        warmup = LinearLR(optimizer, start_factor=0.2, total_iters=5)
        cosine = CosineAnnealingLR(optimizer, T_max=STEPS - 5)
        scheduler = SequentialLR(optimizer, [warmup, cosine], milestones=[5])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def mixin(device: torch.device) -> type:
        schedule = SchedulerSpec("cosine", interval="step", warmup=5)
        return _mixin(Tiny, optimizer=OptimizerSpec(AdamW, lr=1e-3, scheduler=schedule))

    return Check(
        "c-per-step-cosine",
        "AdamW (auto), per-step cosine with warmup=5, T_max derived from the run",
        mixin,
        lambda device: _hand(Tiny, configure),
        "fused",
    )


def check_c_tensor() -> Check:
    def twin(device: torch.device) -> type:
        def configure(self: Any) -> Any:
            optimizer = Adam(self.parameters(), lr=device_tensor(1e-3, device), **capturable(device))
            scheduler = ExponentialLR(optimizer, gamma=0.99)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

        return _hand(Tiny, configure)

    def mixin(device: torch.device) -> type:
        schedule = SchedulerSpec("exponential", gamma=0.99, interval="step")
        spec = OptimizerSpec(Adam, lr=device_tensor(1e-3, device), scheduler=schedule, **capturable(device))
        return _mixin(Tiny, optimizer=spec)

    return Check("c-per-step-tensor-lr", "Adam, capturable, tensor lr, per-step ExponentialLR", mixin, twin)


def check_e_manual() -> Check:
    def twin(device: torch.device) -> type:
        def configure(self: Any) -> Any:
            first = AdamW(self.net.parameters(), lr=1e-3, fused=True)
            second = AdamW(self.head.parameters(), lr=1e-3, fused=True)
            schedulers = [ExponentialLR(first, gamma=0.99), ExponentialLR(second, gamma=0.99)]
            return [first, second], [{"scheduler": s, "interval": "step"} for s in schedulers]

        def after(self: Any) -> None:
            for scheduler in self.lr_schedulers():
                scheduler.step()

        return _hand(TwoHeads, configure, after)

    def mixin(device: torch.device) -> type:
        schedule = SchedulerSpec("exponential", gamma=0.99, interval="step")
        return _mixin(
            TwoHeads,
            net_opt=OptimizerSpec(AdamW, params="net", lr=1e-3, scheduler=schedule),
            head_opt=OptimizerSpec(AdamW, params="head", lr=1e-3, scheduler=schedule),
        )

    return Check(
        "e-manual-two-optimizers",
        "manual optimization, two AdamW (auto), per-step schedulers stepped by the mixin",
        mixin,
        twin,
        "fused",
    )


#: batches whose loss is made inf in check f: the GradScaler skips their steps (inside the guarded steps)
OVERFLOWS = (6, 7, 15)


class Overflowing(Tiny):
    """``Tiny`` whose loss overflows at ``OVERFLOWS`` (decided on the host: the batch is a Python int)."""

    def loss(self, batch: int) -> torch.Tensor:
        loss = super().loss(batch)
        return loss * float("inf") if batch in OVERFLOWS else loss


def check_f_skipped() -> Check:
    """16-mixed, a fused AdamW (the GradScaler hands it ``found_inf``), a per-step schedule that waits for the
    applied steps: the mixin copies ``found_inf`` to the host without blocking after each step and reads it
    before the next one, so no step synchronizes (the hand-written twin steps its schedule regardless)."""

    def twin(device: torch.device) -> type:
        def configure(self: Any) -> Any:
            optimizer = AdamW(self.parameters(), lr=1e-3, fused=True)
            scheduler = ExponentialLR(optimizer, gamma=0.99)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

        return _hand(Overflowing, configure)

    def mixin(device: torch.device) -> type:
        schedule = SchedulerSpec("exponential", gamma=0.99, interval="step")
        return _mixin(Overflowing, optimizer=OptimizerSpec(AdamW, lr=1e-3, scheduler=schedule, fused=True))

    return Check(
        "f-16-mixed-skipped-steps",
        "16-mixed, fused AdamW, per-step schedule waiting for applied steps, overflow at 3 batches",
        mixin,
        twin,
        "fused",
        precision="16-mixed",
    )


def check_h_skip_nonfinite() -> Check:
    """``skip_nonfinite`` on a fused AdamW in float32: the gradients are checked on the device and the flag
    handed to the kernel as ``found_inf``; the outcome is read from a non-blocking copy before the next step."""

    def twin(device: torch.device) -> type:
        def configure(self: Any) -> Any:
            optimizer = AdamW(self.parameters(), lr=1e-3, fused=True)
            scheduler = ExponentialLR(optimizer, gamma=0.99)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

        return _hand(Overflowing, configure)

    def mixin(device: torch.device) -> type:
        schedule = SchedulerSpec("exponential", gamma=0.99, interval="step")
        spec = OptimizerSpec(AdamW, lr=1e-3, scheduler=schedule, fused=True, skip_nonfinite=3)
        return _mixin(Overflowing, optimizer=spec)

    return Check(
        "h-skip-nonfinite-fused",
        "float32, fused AdamW with skip_nonfinite=3, non-finite gradients at 3 batches",
        mixin,
        twin,
        "fused",
    )


def measure_found_inf_read(device: torch.device, steps: int = 200, size: int = 10_000_000) -> dict[str, Any]:
    """What reading a fused step's ``found_inf`` costs, by the pattern ``training/outcomes.py`` uses.

    One loop of ``steps`` iterations of a stand-in training step (a matmul workload standing for forward and
    backward, then a fused AdamW step of ``size`` parameters under a ``GradScaler``), three ways: (1) not
    reading ``found_inf`` (the hand-written run, whose scheduler steps regardless); (2) the mixin's way: after
    the step, a non-blocking copy to pinned memory and an event, and before the next step (after the next
    workload is queued) the event's wait and the host read; (3) a plain ``found_inf.item()`` right after the
    step (a synchronization: what a naive reader costs). Reported: wall µs per iteration (the GPU's queue
    kept full or not) and the host's µs spent in the read itself.
    """
    import time

    param = torch.nn.Parameter(torch.zeros(size, device=device))
    optimizer = AdamW([param], lr=1e-3, fused=True)
    scaler = torch.amp.GradScaler(device.type)
    a = torch.randn(2048, 2048, device=device)

    def workload() -> None:
        b = a
        for _ in range(4):
            b = b @ a
        param.grad = torch.full_like(param, 1e-3) * b[0, 0].clamp(-1, 1)
        scaler.scale(param.grad.sum())  # keep the scaler's state in use

    def run(mode: str) -> tuple[float, float]:
        read_time = 0.0
        pending: Any = None
        synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            workload()
            if pending is not None:
                t0 = time.perf_counter()
                host, event = pending
                event.synchronize()
                bool(host.item())
                read_time += time.perf_counter() - t0
                pending = None
            optimizer.found_inf = torch.zeros((), device=device)  # type: ignore[attr-defined]
            optimizer.grad_scale = None  # type: ignore[attr-defined]
            optimizer.step()
            t0 = time.perf_counter()
            if mode == "mixin":
                host = optimizer.found_inf.to("cpu", non_blocking=True)  # type: ignore[attr-defined]
                event = torch.cuda.Event()
                event.record()
                pending = (host, event)
            elif mode == "item":
                bool(optimizer.found_inf.item())  # type: ignore[attr-defined]
            read_time += time.perf_counter() - t0
            del optimizer.found_inf  # type: ignore[attr-defined]
        synchronize()
        return 1e6 * (time.perf_counter() - start) / steps, 1e6 * read_time / steps

    results: dict[str, tuple[float, float]] = {}
    for mode in ("none", "mixin", "item") * 2:  # the first round warms up; the second is kept
        results[mode] = run(mode)
    return {mode: {"us_per_step": wall, "us_reading": read} for mode, (wall, read) in results.items()}


# ---------------------------------------------------------------------------------------------- guards


class SyncGuard(Callback):
    """Runs the steps of batches ``first``..``last`` under the sync debug mode ``mode``."""

    def __init__(self, mode: str = "error", first: int = FIRST_GUARDED, last: int = LAST_GUARDED) -> None:
        self.mode = mode
        self.first = first
        self.last = last
        self.guarded_steps = 0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if batch_idx == self.first:
            synchronize()  # explicit, before the mode is set: whatever was queued so far is done
            sync_mode(self.mode)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.first <= batch_idx <= self.last:
            self.guarded_steps += 1
        if batch_idx == self.last:
            sync_mode(0)

    def on_exception(self, trainer: L.Trainer, pl_module: Any, exception: BaseException) -> None:
        sync_mode(0)  # so that Lightning's teardown does not raise again; the exception propagates


@dataclass
class SyncRecord:
    where: str
    #: the source line that made the call
    line: str
    stack: list[str]

    @property
    def reads_to_host(self) -> bool:
        """Whether the line reads a device value on the host (a device-to-host copy)."""
        return any(call in self.line for call in (".tolist(", ".item(", ".cpu(", "float(", "int(", "bool("))


@contextmanager
def recording_syncs() -> Iterator[list[SyncRecord]]:
    """Collect the warnings of ``set_sync_debug_mode("warn")``, each with where it was raised.

    torch emits one Python warning per synchronizing call, from the Python line that made the call; the
    filter is set to "always" so that repeated calls from one line are all counted.
    """
    records: list[SyncRecord] = []
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        original = warnings.showwarning

        def show(message: Any, category: Any, filename: str, lineno: int, *args: Any, **kwargs: Any) -> None:
            if SYNC_MESSAGE in str(message):
                stack = [f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_stack()[-12:-1]]
                line = linecache.getline(filename, lineno).strip()
                records.append(SyncRecord(f"{filename}:{lineno}", line, stack))
            elif "lightning_optim" in filename or "torch" in filename:
                pass  # other warnings during the run are not this check's business
            else:
                original(message, category, filename, lineno, *args, **kwargs)

        warnings.showwarning = show
        yield records


def make_trainer(
    device: torch.device, callbacks: list[Callback], log_every_n_steps: int, precision: str | None = None
) -> L.Trainer:
    return L.Trainer(
        precision=precision,  # type: ignore[arg-type]
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        max_epochs=1,
        logger=False,
        log_every_n_steps=log_every_n_steps,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )


def implementation_of(optimizer: Any) -> str:
    optimizer = getattr(optimizer, "optimizer", optimizer)
    if optimizer.defaults.get("fused"):
        return "fused"
    foreach = optimizer.defaults.get("foreach")
    return "default" if foreach is None else ("foreach" if foreach else "forloop")


def fit_guarded(
    cls: type[L.LightningModule], device: torch.device, dry: bool, precision: str | None = None
) -> dict[str, Any]:
    """One fit under ``SyncGuard("error")``; on a sync error, the same fit again under "warn" to list them."""
    guard = SyncGuard("error")
    module = cls()
    trainer = make_trainer(device, [guard, LRMonitor()], log_every_n_steps=10**6, precision=precision)
    result: dict[str, Any] = {"guarded_steps": 0, "syncs": [], "error": None}
    try:
        trainer.fit(module, loader())
    except RuntimeError as error:
        sync_mode(0)
        if SYNC_MESSAGE not in str(error):
            raise
        result["error"] = f"{type(error).__name__}: {error}".splitlines()[0]
        again = SyncGuard("warn")
        with recording_syncs() as records:
            make_trainer(device, [again, LRMonitor()], 10**6, precision).fit(cls(), loader())
        by_place = Counter(r.where for r in records)
        result["syncs"] = [
            {"where": where, "count": count, "stack": next(r.stack for r in records if r.where == where)}
            for where, count in by_place.most_common()
        ]
    finally:
        sync_mode(0)
    result["guarded_steps"] = guard.guarded_steps
    result["implementations"] = [implementation_of(o) for o in trainer.optimizers]
    result["clean"] = result["error"] is None and (
        dry or guard.guarded_steps == LAST_GUARDED - FIRST_GUARDED + 1
    )
    return result


def run_check(check: Check, device: torch.device, dry: bool) -> bool:
    precision = None if dry else check.precision  # 16-mixed on the CPU: a GradScaler("cpu") works, but slowly
    mixin = fit_guarded(check.mixin(device), device, dry, precision)
    twin = fit_guarded(check.twin(device), device, dry, precision)
    check.results = {"mixin": mixin, "hand-written": twin}
    ok = mixin["clean"]
    implementation_ok = (
        dry
        or check.implementation is None
        or all(impl == check.implementation for impl in mixin["implementations"])
    )
    verdict = "ok" if ok and implementation_ok else "FAIL"
    note = ""
    if not ok:
        note = (
            " (the hand-written twin syncs too: torch/Lightning, not the mixin)" if not twin["clean"] else ""
        )
    if not implementation_ok:
        note += f" (expected the {check.implementation} implementation, got {mixin['implementations']})"
    print(
        f"{verdict:<5} {check.name:<26} mixin: {'no sync' if ok else 'SYNCS'} in {mixin['guarded_steps']} "
        f"steps [{'/'.join(mixin['implementations'])}]; hand-written: "
        f"{'no sync' if twin['clean'] else 'SYNCS'}{note}",
        flush=True,
    )
    for label, result in (("mixin", mixin), ("hand-written", twin)):
        for sync in result["syncs"][:5]:
            print(f"      {label}: {sync['count']} x {sync['where']}")
            for line in sync["stack"][-6:]:
                print(f"          {line}")
    return ok and implementation_ok


# ---------------------------------------------------------------------------------------------- (d)

GROUPS = 200
LOG_EVERY = 10


def many_groups(device: torch.device) -> type:
    """200 scalar-vector parameters, one named param group each, tensor lrs, a per-step ExponentialLR."""

    def selects(index: int) -> Callable[[str, Any], bool]:
        return lambda name, param: name == f"scales.{index}"

    groups = [
        ParamGroup(
            selects(i),
            name=f"s{i}",
            lr=device_tensor(0.01 * (1 + i / 1000), device),
        )
        for i in range(GROUPS)
    ]
    spec = OptimizerSpec(
        Adam,
        lr=device_tensor(0.01, device),
        groups=groups,
        scheduler=SchedulerSpec("exponential", gamma=0.99, interval="step"),
        **capturable(device),
    )
    base = type("ManyGroups", (Tiny,), {"__init__": lambda self: Tiny.__init__(self, scales=GROUPS)})
    return _mixin(base, optimizer=spec)


class CountedMonitor(LRMonitor):
    """``LRMonitor`` whose logging events are each run under the profiler and the sync debug mode "warn".

    Counting, per event (both counts are made; the first is asserted where the profiler sees CUDA):

    * the profiler's device activity: kernels named ``Memcpy DtoH (...)`` are device-to-host copies,
      ``Memcpy HtoD (...)`` host-to-device ones (the runtime calls are ``cudaMemcpyAsync``);
    * the sync debug mode at "warn": one warning per synchronizing call (a blocking copy in either
      direction, ``.item()``, a stream synchronization), each with the Python line that made it.

    The mode is "default" while the profiler starts and stops (its own synchronizations are not the
    monitor's), and an explicit ``torch.cuda.synchronize()`` (never flagged) drains the queue first.
    Outside the events the ``SyncGuard`` keeps "error".
    """

    def __init__(self) -> None:
        super().__init__(logging_interval="step")
        self.events: list[dict[str, Any]] = []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        # Lightning's rule (``should_update_logs``) before the step, as ``LRMonitor`` applies it
        stepped = trainer.fit_loop.epoch_loop._batches_that_stepped
        if (stepped + 1) % trainer.log_every_n_steps:  # type: ignore[attr-defined]
            super().on_train_batch_start(trainer, pl_module, batch, batch_idx)
            return
        sync_mode(0)
        synchronize()
        activities = [torch.profiler.ProfilerActivity.CPU]
        if torch.cuda.is_available():
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        with torch.profiler.profile(activities=activities) as profiler:
            sync_mode("warn")
            with recording_syncs() as records:
                super().on_train_batch_start(trainer, pl_module, batch, batch_idx)
            sync_mode(0)
            synchronize()
        names = Counter(event.name for event in profiler.events())
        self.events.append(
            {
                "batch_idx": batch_idx,
                "memcpy_dtoh": sum(c for n, c in names.items() if n.startswith("Memcpy DtoH")),
                "memcpy_htod": sum(c for n, c in names.items() if n.startswith("Memcpy HtoD")),
                "cuda_memcpy_calls": sum(c for n, c in names.items() if n.startswith("cudaMemcpy")),
                "stream_syncs": sum(
                    c for n, c in names.items() if "Synchronize" in n and n.startswith("cuda")
                ),
                "device_events": sum(
                    c for n, c in names.items() if n.startswith(("Memcpy", "Memset")) or "kernel" in n.lower()
                ),
                "sync_warnings": len(records),
                "host_reads": sum(r.reads_to_host for r in records),
                "sync_places": dict(Counter(f"{r.where} `{r.line}`" for r in records)),
            }
        )
        guard = next((c for c in trainer.callbacks if isinstance(c, SyncGuard)), None)  # type: ignore[attr-defined]
        if guard is not None and guard.first <= batch_idx <= guard.last:
            sync_mode(guard.mode)


def measure_logging_events(device: torch.device, dry: bool) -> tuple[bool, dict[str, Any]]:
    monitor = CountedMonitor()
    guard = SyncGuard("error")
    trainer = make_trainer(device, [guard, monitor], log_every_n_steps=LOG_EVERY)
    error = None
    try:
        trainer.fit(many_groups(device)(), loader())
    except RuntimeError as exc:
        if SYNC_MESSAGE not in str(exc):
            raise
        error = str(exc).splitlines()[0]
    finally:
        sync_mode(0)
    groups = len(trainer.optimizers[0].param_groups)
    keys = len(monitor.lrs)
    events = monitor.events
    profiled = any(e["device_events"] for e in events)
    print(
        f"      {groups} param groups, {keys} logged keys, {len(events)} logging events "
        f"(profiler saw device activity: {profiled})"
    )
    for e in events:
        print(
            f"      batch {e['batch_idx']:>2}: Memcpy DtoH {e['memcpy_dtoh']}, Memcpy HtoD {e['memcpy_htod']}, "
            f"cudaMemcpy* calls {e['cuda_memcpy_calls']}, stream/device syncs {e['stream_syncs']}, "
            f"sync-mode warnings {e['sync_warnings']} (host reads {e['host_reads']}) {e['sync_places']}"
        )
    if dry:
        ok = error is None and len(events) == STEPS // LOG_EVERY and keys == groups
    else:
        # the assertion: one device-to-host transfer per event, for all 200 groups together; counted by the
        # profiler when it records device activity, else by the synchronizing calls that read to the host
        transfers = [e["memcpy_dtoh"] if profiled else e["host_reads"] for e in events]
        ok = (
            error is None
            and len(events) == STEPS // LOG_EVERY
            and keys == groups == GROUPS + 1
            and all(t == 1 for t in transfers)
        )
        if error is not None:
            print(f"      a step outside the logging events synchronized: {error}")
    summary = {"groups": groups, "keys": keys, "events": events, "error": error, "profiled": profiled}
    return ok, summary


# ---------------------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--cpu-dry-run",
        action="store_true",
        help="run the fits on CPU without sync checks (tests the script)",
    )
    args = parser.parse_args()
    if not torch.cuda.is_available() and not args.cpu_dry_run:
        print("SKIPPED: no CUDA device (gpu_sync_check needs one; --cpu-dry-run tests the script on CPU)")
        return 0
    dry = args.cpu_dry_run
    device = torch.device("cpu") if dry else torch.device("cuda", torch.cuda.current_device())
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*no logger.*")
    warnings.filterwarnings("ignore", ".*To copy construct from a tensor.*")
    label = "CPU dry run (no sync checks)" if dry else torch.cuda.get_device_name(device)
    print(f"torch {torch.__version__}, lightning {L.__version__}, {label}")
    print(f"steps {FIRST_GUARDED}..{LAST_GUARDED} of {STEPS} under set_sync_debug_mode('error'):")

    results: dict[str, Any] = {"device": label, "torch": torch.__version__, "lightning": L.__version__}
    all_ok = True
    checks = (
        check_a(),
        check_b(),
        check_c_cosine(),
        check_c_tensor(),
        check_e_manual(),
        check_f_skipped(),
        check_h_skip_nonfinite(),
    )
    for check in checks:
        try:
            ok = run_check(check, device, dry)
        except Exception:
            ok = False
            check.results = {"exception": traceback.format_exc()}
            print(f"FAIL  {check.name:<26} raised:\n{traceback.format_exc()}", flush=True)
        all_ok &= ok
        results[check.name] = {"ok": ok, **check.results}

    print(f"\nd-logging-event-{GROUPS}-groups: one device-to-host transfer per logging event")
    try:
        ok, summary = measure_logging_events(device, dry)
    except Exception:
        ok, summary = False, {"exception": traceback.format_exc()}
        print(traceback.format_exc())
    print(f"{'ok' if ok else 'FAIL':<5} d-logging-event-{GROUPS}-groups", flush=True)
    all_ok &= ok
    results[f"d-logging-event-{GROUPS}-groups"] = {"ok": ok, **summary}

    if not dry:
        print(
            "\ng-found-inf-read-cost: what reading a fused step's found_inf costs (fused AdamW, 10M params)"
        )
        cost = measure_found_inf_read(device)
        for mode, row in cost.items():
            print(
                f"      {mode:<6} {row['us_per_step']:>9.1f} µs/step, {row['us_reading']:>7.1f} µs of it reading"
            )
        results["g-found-inf-read-cost"] = cost

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
    print("\nall checks passed" if all_ok else "\nSOME CHECKS FAILED")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
