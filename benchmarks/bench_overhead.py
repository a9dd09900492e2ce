"""The abstraction costs nothing: a whole ``fit`` with the mixin against the hand-written equivalent.

Method: a tiny model (``nn.Linear(32, 32)`` per network, batches of 16 rows from an in-memory tensor, one
epoch of ``--steps`` batches, ``logger=False`` and no checkpointing, progress bar or model summary, so
that Lightning's own per-step work and the optimizer dominate) is fitted twice per round: once with a
``ConfigurableOptimizersMixin`` declaration and once with the hand-written ``configure_optimizers`` it
replaces, both building the *same* optimizer with the *same* implementation (an explicit
``foreach=False``, or what ``--implementation`` says, on both sides, so that the kernels are identical) and
the same per-step scheduler. Two modes:

* ``automatic``: one ``Adam`` with an ``ExponentialLR`` stepped per step; the hand-written module returns
  ``{"optimizer": ..., "lr_scheduler": {"scheduler": ..., "interval": "step"}}`` and Lightning steps it.
* ``manual``: two ``Adam`` optimizers (a GAN's shape: ``gen`` and ``dis``), each with a per-step
  ``ExponentialLR``; the hand-written ``training_step`` calls ``sch.step()`` for both after the optimizer
  steps, the mixin steps them itself (a post-step hook on each optimizer).
* ``attribute``: the manual case as the README writes it and a new user tries it: two ``AdamW(fused=True)``
  (whatever ``--implementation`` says), per-step ``ExponentialLR``s, and a ``training_step`` that reaches
  the optimizers by attribute (``self.gen_opt.zero_grad()`` ... ``self.gen_opt.step()``, four accesses per
  step), against the hand-written module calling ``self.optimizers()`` and ``sch.step()``.

Each fit is timed twice over (``trainer.fit`` only; the ``Trainer`` and the module are made outside the
timer) on this process's CPU clock (``time.process_time``: with one torch thread and no data workers that
is all the work, and other processes on a shared machine do not add to it; ``--clock wall`` for elapsed
time): step by step, from one training batch's start to the next (a callback both sides carry), and as a
whole. The per-step cost, which the target is about, is the ratio of the two fits' *median* steps: a step
hit by a burst of another process's work (on a shared 2-core machine, a whole fit's time varies by +-15%
from that alone) does not move a median of hundreds of steps. The whole-fit ratio also holds the one-time
setup of ``fit`` (for the mixin: resolving and building the declarations) and every burst. Runs are
interleaved (hand-written, mixin, then mixin, hand-written, ...) so that slow phases of the machine hit both
alike, after one unmeasured warm-up fit of each; each ratio reported is the median over rounds of (mixin /
hand-written) of that round, with a 90% bootstrap interval of that median; ``--calibrate`` adds a copy of
the hand-written module to every round, whose ratio to the original is what the machine's noise alone gives. After every round the two modules' weights must be equal
(same optimizer, same kernels, same lrs): the comparison is only fair if they train identically, and the
script exits 1 if they do not.

``--processes N`` splits the rounds over N fresh interpreters run one after another, each with its own hash
seed and environment size: within one process, identical code can run a few percent faster or slower than
its copy for the life of the process (where its objects landed in memory), a bias more rounds do not shrink;
the median of the processes' ratios, with a bootstrap interval over processes, cancels it.

``--access`` times one ``self.gen_opt`` against one ``self.optimizers()`` inside a real fit (``timeit``,
alternating, min of the rounds): the per-access cost the ``attribute`` mode adds four times per step, free of
the whole-fit noise of a shared machine.

``--attribute`` also times the mixin with its per-step machinery taken out after setup (its Trainer
callbacks, its learning-rate guard step pre-hooks, both), interleaved with the others: how much of the
difference each costs. ``--profile`` also runs each side under ``cProfile`` and prints where the mixin's
extra time per step goes (the functions whose own time, or time including callees, differs the most per
step). cProfile slows Python-heavy code, so its microseconds are larger than the timed ones; use it to
attribute, not to measure.

Run: ``python benchmarks/bench_overhead.py [--quick] [--steps 300] [--repeats 15] [--mode automatic manual]
[--implementation forloop|foreach|fused] [--max-ratio 1.02] [--attribute] [--profile]``. The target is a ratio <= 1.02 in every mode.
"""

from __future__ import annotations

import os

# One thread for every BLAS and OpenMP pool, set before numpy and torch load them: numpy's OpenBLAS otherwise
# keeps a worker thread that spins for a while after each call, and its CPU time lands in the process clock
# and in the instruction counts, differently in every fit (seen in callgrind as ``blas_thread_server``).
for _pool in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_pool, "1")

import argparse
import cProfile
import gc
import json
import logging
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import warnings
from collections.abc import Callable
from itertools import count
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torch.optim import Adam, AdamW
from torch.optim.lr_scheduler import ExponentialLR
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec

FEATURES, BATCH = 32, 16
LR, GAMMA = 1e-3, 0.999
#: the torch arguments each ``--implementation`` passes, identically, to both sides
IMPLEMENTATIONS: dict[str, dict[str, Any]] = {
    "forloop": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
}
MODES = ("automatic", "manual", "attribute")


def loader(steps: int) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(steps * BATCH, FEATURES, generator=generator)
    y = torch.randn(steps * BATCH, FEATURES, generator=generator)
    return DataLoader(TensorDataset(x, y), batch_size=BATCH)


class OneNet(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Linear(FEATURES, FEATURES)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(self.net(x), y)


class TwoNets(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.gen = nn.Linear(FEATURES, FEATURES)
        self.dis = nn.Linear(FEATURES, FEATURES)
        self.automatic_optimization = False

    def step_both(self, batch: Any) -> None:
        x, y = batch
        gen_opt, dis_opt = self.optimizers()  # type: ignore[attr-defined]
        loss = F.mse_loss(self.gen(x), y)
        gen_opt.zero_grad()
        self.manual_backward(loss)
        gen_opt.step()
        loss = F.mse_loss(self.dis(x), y)
        dis_opt.zero_grad()
        self.manual_backward(loss)
        dis_opt.step()


def modules(mode: str, implementation: str) -> tuple[type[L.LightningModule], type[L.LightningModule]]:
    """The hand-written module class and the mixin module class of ``mode``."""
    impl = IMPLEMENTATIONS[implementation]
    per_step = SchedulerSpec(ExponentialLR, gamma=GAMMA, interval="step")

    if mode == "automatic":

        class HandAutomatic(OneNet):
            def configure_optimizers(self) -> Any:
                optimizer = Adam(self.parameters(), lr=LR, **impl)
                scheduler = ExponentialLR(optimizer, gamma=GAMMA)
                return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

        class MixinAutomatic(ConfigurableOptimizersMixin, OneNet):
            optimizer = OptimizerSpec(Adam, lr=LR, scheduler=per_step, **impl)

        return HandAutomatic, MixinAutomatic

    if mode == "attribute":  # two fused AdamWs, reached by attribute on the mixin side
        return two_optimizer_modules(AdamW, IMPLEMENTATIONS["fused"], by_attribute=True)
    return two_optimizer_modules(Adam, impl, by_attribute=False)


def two_optimizer_modules(
    optimizer: type[torch.optim.Optimizer], impl: dict[str, Any], *, by_attribute: bool
) -> tuple[type[L.LightningModule], type[L.LightningModule]]:
    """``manual`` and ``attribute`` modes: two optimizers with per-step schedulers; the hand-written side
    reaches them through ``self.optimizers()`` and steps ``self.lr_schedulers()``, the mixin side through
    ``self.optimizers()`` (manual) or its attributes (attribute)."""
    per_step = SchedulerSpec(ExponentialLR, gamma=GAMMA, interval="step")

    class Hand(TwoNets):
        def configure_optimizers(self) -> Any:
            gen_opt = optimizer(self.gen.parameters(), lr=LR, **impl)
            dis_opt = optimizer(self.dis.parameters(), lr=LR, **impl)
            schedulers = [ExponentialLR(gen_opt, gamma=GAMMA), ExponentialLR(dis_opt, gamma=GAMMA)]
            return [gen_opt, dis_opt], [{"scheduler": s, "interval": "step"} for s in schedulers]

        def training_step(self, batch: Any, batch_idx: int) -> None:
            self.step_both(batch)
            gen_sch, dis_sch = self.lr_schedulers()  # type: ignore[misc]
            gen_sch.step()
            dis_sch.step()

    class Mixin(ConfigurableOptimizersMixin, TwoNets):
        gen_opt = OptimizerSpec(optimizer, params="gen", lr=LR, scheduler=per_step, **impl)
        dis_opt = OptimizerSpec(optimizer, params="dis", lr=LR, scheduler=per_step, **impl)

        def training_step(self, batch: Any, batch_idx: int) -> None:
            if not by_attribute:
                self.step_both(batch)
                return
            x, y = batch
            loss = F.mse_loss(self.gen(x), y)
            self.gen_opt.zero_grad()
            self.manual_backward(loss)
            self.gen_opt.step()
            loss = F.mse_loss(self.dis(x), y)
            self.dis_opt.zero_grad()
            self.manual_backward(loss)
            self.dis_opt.step()

    kind = "Attribute" if by_attribute else "Manual"
    Hand.__name__, Mixin.__name__ = f"Hand{kind}", f"Mixin{kind}"
    return Hand, Mixin


def trainer(*callbacks: L.Callback) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=list(callbacks),
    )


#: the clock fits are timed with; ``--clock`` sets it
CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]


class StepClock(L.Callback):
    """The time from one training batch's start to the next one's: a whole step (data, forward, backward,
    optimizer and scheduler steps, every hook). Both sides carry it, so its own cost is in both."""

    def __init__(self) -> None:
        self.starts: list[float] = []

    def on_train_batch_start(self, *args: Any) -> None:
        self.starts.append(clock())

    def median_step(self) -> float:
        return statistics.median(b - a for a, b in zip(self.starts, self.starts[1:]))


class Fit:
    """One timed ``trainer.fit``: the whole call and the median step."""

    def __init__(self, seconds: float, step: float, module: Any) -> None:
        self.seconds, self.step, self.module = seconds, step, module


def timed_fit(
    cls: type[L.LightningModule], data: DataLoader, wrap: Callable[[Callable[[], None]], None]
) -> Fit:
    """One ``trainer.fit`` of a fresh ``cls()``, timed (``wrap`` runs the call, e.g. under a profiler)."""
    steps = StepClock()
    module, fitter = cls(), trainer(steps)
    gc.collect()
    start = clock()
    wrap(lambda: fitter.fit(module, data))
    return Fit(clock() - start, steps.median_step(), module)


def plain(call: Callable[[], None]) -> None:
    call()


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def interleaved(
    classes: dict[str, type[L.LightningModule]], data: DataLoader, repeats: int
) -> tuple[dict[str, list[Fit]], bool]:
    """``repeats`` timed fits of each class, one of each per round, the order rotating every round.

    Also whether every fit of a round ended with the same weights as the first class's.
    """
    for cls in classes.values():  # warm-up: imports, caches, the allocator
        timed_fit(cls, data, plain)
    labels = list(classes)
    fits: dict[str, list[Fit]] = {label: [] for label in labels}
    identical = True
    for round_ in range(repeats):
        shift = round_ % len(labels)
        for label in labels[shift:] + labels[:shift]:
            fits[label].append(timed_fit(classes[label], data, plain))
        first = fits[labels[0]][-1].module
        identical &= all(same_weights(first, fits[label][-1].module) for label in labels[1:])
    return fits, identical


def _median_and_interval(ratios: list[float], resamples: int = 2000) -> tuple[float, float, float]:
    """The median of ``ratios`` and a 90% bootstrap interval of it (percentile method, fixed seed)."""
    draw = random.Random(0).choices
    medians = sorted(statistics.median(draw(ratios, k=len(ratios))) for _ in range(resamples))
    return statistics.median(ratios), medians[int(0.05 * resamples)], medians[int(0.95 * resamples) - 1]


def ratio_summary(fits: dict[str, list[Fit]], label: str, steps: int) -> dict[str, float]:
    """``label`` against ``"hand"``: the median step of each, and the median over rounds (with its 90%
    interval) of the ratio of the two fits' median steps (``ratio``) and of their whole-fit times
    (``fit_ratio``)."""
    mine, hand = fits[label], fits["hand"]
    ratio, lo, hi = _median_and_interval([m.step / h.step for m, h in zip(mine, hand)])
    fit_ratio, fit_lo, fit_hi = _median_and_interval([m.seconds / h.seconds for m, h in zip(mine, hand)])
    return {
        "hand_us": 1e6 * statistics.median(h.step for h in hand),
        "us": 1e6 * statistics.median(m.step for m in mine),
        "ratio": ratio,
        "lo": lo,
        "hi": hi,
        "fit_ratio": fit_ratio,
        "fit_lo": fit_lo,
        "fit_hi": fit_hi,
    }


def measured_fits(
    mode: str, implementation: str, steps: int, repeats: int, calibrate: bool
) -> tuple[dict[str, list[Fit]], bool]:
    """``repeats`` interleaved rounds of the hand-written module, the mixin and (with ``calibrate``) a copy of
    the hand-written module, and whether every round trained identically."""
    hand, mixin = modules(mode, implementation)
    classes = {"hand": hand, "mixin": mixin}
    if calibrate:
        classes["hand again"] = type(f"{hand.__name__}Again", (hand,), {})
    return interleaved(classes, loader(steps), repeats)


def measure(mode: str, implementation: str, steps: int, repeats: int, calibrate: bool) -> dict[str, Any]:
    """The mixin against the hand-written module; with ``calibrate`` also a copy of the hand-written module
    against itself (``"calibration"``): what the machine's noise alone gives."""
    fits, identical = measured_fits(mode, implementation, steps, repeats, calibrate)
    result: dict[str, Any] = {**ratio_summary(fits, "mixin", steps), "identical": identical}
    if calibrate:
        result["calibration"] = ratio_summary(fits, "hand again", steps)
    return result


def processes_summary(runs: list[dict[str, list[Fit]]], label: str) -> dict[str, Any]:
    """``label`` against ``"hand"`` over fresh processes: each process's ratio is the median over its rounds
    (as ``ratio_summary``); the result is the median of the processes' ratios with a 90% bootstrap interval
    over processes, and their range (``spread``)."""
    steps = [statistics.median(m.step / h.step for m, h in zip(r[label], r["hand"])) for r in runs]
    fits = [statistics.median(m.seconds / h.seconds for m, h in zip(r[label], r["hand"])) for r in runs]
    ratio, lo, hi = _median_and_interval(steps)
    fit_ratio, fit_lo, fit_hi = _median_and_interval(fits)
    return {
        "hand_us": 1e6 * statistics.median(h.step for r in runs for h in r["hand"]),
        "us": 1e6 * statistics.median(m.step for r in runs for m in r[label]),
        "ratio": ratio,
        "lo": lo,
        "hi": hi,
        "fit_ratio": fit_ratio,
        "fit_lo": fit_lo,
        "fit_hi": fit_hi,
        "spread": (min(steps), max(steps)),
    }


def measure_in_processes(
    mode: str, args: argparse.Namespace, steps: int, repeats: int, processes: int
) -> dict[str, Any]:
    """``measure`` with the rounds split over ``processes`` fresh interpreters, run one after another.

    Within one process the same code can run a few percent faster or slower than an identical copy for as
    long as the process lives (where its objects and code landed in memory; an A/A pair of one run measured
    1.020): a bias that more rounds do not shrink. Each process gets its own hash seed and environment size
    (which moves the stack), so these biases vary between processes and their median cancels them.
    """
    rounds = max(1, -(-repeats // processes))
    runs: list[dict[str, list[Fit]]] = []
    identical = True
    with tempfile.TemporaryDirectory() as folder:
        for index in range(processes):
            out = Path(folder) / f"{index}.json"
            command = [
                sys.executable, str(Path(__file__).resolve()), "--mode", mode, "--steps", str(steps),
                "--repeats", str(rounds), "--implementation", args.implementation, "--threads", str(args.threads),
                "--clock", args.clock, "--fits-json", str(out),
            ] + (["--calibrate"] if args.calibrate else [])  # fmt: skip
            env = {**os.environ, "PYTHONHASHSEED": str(index), "BENCH_OVERHEAD_PADDING": "x" * (97 * index)}
            subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
            saved = json.loads(out.read_text())
            identical &= saved["identical"]
            runs.append(
                {label: [Fit(s, step, None) for s, step in pairs] for label, pairs in saved["fits"].items()}
            )
    result: dict[str, Any] = {**processes_summary(runs, "mixin"), "identical": identical}
    if args.calibrate:
        result["calibration"] = processes_summary(runs, "hand again")
    return result


def _ours(obj: object) -> bool:
    return type(obj).__module__.startswith("lightning_optim")


def without(mixin: type[L.LightningModule], callbacks: bool, pre_hooks: bool) -> type[L.LightningModule]:
    """``mixin`` with, once ``fit`` has set it up, the mixin's Trainer callbacks and/or its optimizer step
    pre-hooks (the learning-rate guard) taken out again: what the run costs without them.

    Done in the module's ``on_train_start``, which Lightning calls after the callbacks' (so no callback
    list is being iterated) and only once; the per-step scheduler hooks (manual optimization) stay, since
    they do the work the hand-written ``training_step`` does with ``sch.step()``.
    """

    def on_train_start(self: Any) -> None:
        trainer = self.trainer
        if callbacks:
            trainer.callbacks[:] = [c for c in trainer.callbacks if not _ours(c)]
        if pre_hooks:
            for optimizer in trainer.optimizers:
                hooks = optimizer._optimizer_step_pre_hooks
                for key in [key for key, hook in hooks.items() if _ours(hook)]:
                    del hooks[key]

    name = f"{mixin.__name__}Without{'Callbacks' if callbacks else ''}{'PreHooks' if pre_hooks else ''}"
    return type(name, (mixin,), {"on_train_start": on_train_start})


def attribute(mode: str, implementation: str, steps: int, repeats: int) -> None:
    """Time the mixin with its per-step machinery taken out piece by piece, against the hand-written run."""
    hand, mixin = modules(mode, implementation)
    classes = {
        "hand": hand,
        "mixin": mixin,
        "mixin - callbacks": without(mixin, callbacks=True, pre_hooks=False),
        "mixin - lr guard": without(mixin, callbacks=False, pre_hooks=True),
        "mixin - both": without(mixin, callbacks=True, pre_hooks=True),
    }
    fits, identical = interleaved(classes, loader(steps), repeats)
    hand_us = 1e6 * statistics.median(h.step for h in fits["hand"])
    print(
        f"\n{mode}: the mixin with parts of its per-step machinery removed ({repeats} rounds, rotating order)"
    )
    print(f"{'variant':<20} {'µs/step':>9} {'vs hand':>8} {'(90% interval)':>14} {'extra µs/step':>13}")
    for label in classes:
        if label == "hand":
            print(f"{label:<20} {hand_us:>9.1f}")
            continue
        r = ratio_summary(fits, label, steps)
        extra = (r["ratio"] - 1) * hand_us
        print(
            f"{label:<20} {r['us']:>9.1f} {r['ratio']:>8.3f} {r['lo']:>6.3f}-{r['hi']:<6.3f} {extra:>+13.1f}"
        )
    if not identical:
        print("the variants did not all train identically to the hand-written module", file=sys.stderr)


def profile(mode: str, implementation: str, steps: int, repeats: int, top: int) -> None:
    """Print the functions whose time per step differs most between the mixin and the hand-written side."""
    hand, mixin = modules(mode, implementation)
    data = loader(steps)
    stats: dict[str, pstats.Stats] = {}
    for label, cls in (("hand", hand), ("mixin", mixin)):
        timed_fit(cls, data, plain)
        profiler = cProfile.Profile()
        for _ in range(repeats):
            timed_fit(cls, data, lambda call, p=profiler: p.runcall(call))  # type: ignore[misc]
        stats[label] = pstats.Stats(profiler)
    per_step = 1e6 / (steps * repeats)

    def table(label: str) -> dict[tuple[str, int, str], tuple[int, float, float]]:
        raw = stats[label].stats  # type: ignore[attr-defined]
        return {key: (calls, own, cumulative) for key, (_, calls, own, cumulative, _) in raw.items()}

    hand_table, mixin_table = table("hand"), table("mixin")
    keys = set(hand_table) | set(mixin_table)
    zero = (0, 0.0, 0.0)

    def name(key: tuple[str, int, str]) -> str:
        filename, line, function = key
        short = "/".join(Path(filename).parts[-2:]) if filename != "~" else ""
        return f"{short}:{line}({function})" if short else function

    for column, title in ((2, "time including callees"), (1, "own time")):
        rows = sorted(
            keys,
            key=lambda k: abs(mixin_table.get(k, zero)[column] - hand_table.get(k, zero)[column]),
            reverse=True,
        )[:top]
        print(
            f"\n{mode}: functions by the difference in {title}, µs per step (cProfile, {repeats} fits each)"
        )
        print(f"{'mixin':>9} {'hand':>9} {'diff':>9} {'calls/step m/h':>15}  function")
        for key in rows:
            m, h = mixin_table.get(key, zero), hand_table.get(key, zero)
            calls = f"{m[0] / (steps * repeats):.2f}/{h[0] / (steps * repeats):.2f}"
            print(
                f"{m[column] * per_step:>9.2f} {h[column] * per_step:>9.2f} "
                f"{(m[column] - h[column]) * per_step:>+9.2f} {calls:>15}  {name(key)}"
            )
    totals = {label: sum(v[1] for v in table(label).values()) * per_step for label in stats}
    print(
        f"total profiled time per step: mixin {totals['mixin']:.1f} µs, hand-written {totals['hand']:.1f} µs "
        f"({totals['mixin'] / totals['hand']:.3f}x)"
    )


def access(rounds: int, number: int = 20_000) -> dict[str, float]:
    """Nanoseconds of one ``self.gen_opt`` and one ``self.optimizers()`` during ``training_step`` (min of
    ``rounds`` alternating ``timeit`` runs of ``number`` calls each)."""
    _, mixin = modules("attribute", "fused")
    results: dict[str, list[float]] = {"self.gen_opt": [], "self.optimizers()": []}

    class Probe(mixin):  # type: ignore[misc, valid-type]
        def training_step(self, batch: Any, batch_idx: int) -> None:
            if batch_idx == 0:
                for _ in range(rounds):
                    results["self.gen_opt"].append(timeit.timeit(lambda: self.gen_opt, number=number))
                    results["self.optimizers()"].append(
                        timeit.timeit(lambda: self.optimizers(), number=number)
                    )
                if self.gen_opt is not self.optimizers()[0]:
                    raise RuntimeError("self.gen_opt is not the live optimizer")
            super().training_step(batch, batch_idx)

    trainer().fit(Probe(), loader(2))
    return {label: 1e9 * min(times) / number for label, times in results.items()}


#: Fits (in steps) whose instruction counts give the per-step count by their difference: everything a fit does
#: once (setup, the first and last batch, the epoch's end) cancels.
INSTRUCTION_FITS = (40, 240)


def mark() -> None:
    """A boundary between measured parts under callgrind (run with ``--dump-before=getppid``): its counters
    are written to a new file at every call."""
    os.getppid()


def instructions_child(mode: str) -> None:
    """Under callgrind: warm both sides up, then fit each side at both ``INSTRUCTION_FITS`` lengths between
    marks."""
    hand, mixin = modules(mode, "fused" if mode == "attribute" else "forloop")
    for cls in (hand, mixin):
        timed_fit(cls, loader(5), plain)
    mark()
    for cls in (hand, mixin):
        for steps in INSTRUCTION_FITS:
            data = loader(steps)
            timed_fit(cls, data, plain)
            mark()


def _dumped_counts(prefix: Path) -> list[int]:
    """The instruction counts of callgrind's numbered dumps ``<prefix>.1``, ``<prefix>.2``, ..., in order."""
    counts: list[int] = []
    for index in count(1):
        dump = prefix.with_name(f"{prefix.name}.{index}")
        if not dump.exists():
            return counts
        summary = next(line for line in dump.read_text().splitlines() if line.startswith("summary:"))
        counts.append(int(summary.split()[1]))
    return counts


def instructions(modes: list[str], jobs: int) -> dict[str, dict[str, float]]:
    """Instructions per step of each side in each of ``modes``, counted by callgrind (deterministic: the
    machine's load does not change them). Each mode runs this script in a process of its own under
    callgrind (several minutes: the imports run under it too), ``jobs`` at a time."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (apt install valgrind)")
    here = Path(__file__).resolve()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        running: dict[str, subprocess.Popen[bytes]] = {}
        pending = list(modes)
        while pending or running:
            while pending and len(running) < jobs:
                mode = pending.pop(0)
                command = [
                    "valgrind", "--tool=callgrind", "--dump-before=getppid",
                    f"--callgrind-out-file={folder}/{mode}.out",
                    sys.executable, str(here), "--instructions-child", mode,
                ]  # fmt: skip
                env = {**os.environ, "PYTHONHASHSEED": "0"}
                running[mode] = subprocess.Popen(
                    command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            time.sleep(1)
            for mode, process in list(running.items()):
                if process.poll() is not None:
                    del running[mode]
                    if process.returncode:
                        raise SystemExit(f"callgrind run of mode {mode} failed ({process.returncode})")
                    # dump 1: up to the first mark; then hand short, hand long, mixin short, mixin long
                    counts = _dumped_counts(Path(folder) / f"{mode}.out")
                    if len(counts) != 5:  # something else called getppid
                        raise SystemExit(f"mode {mode}: expected 5 callgrind dumps but got {len(counts)}")
                    counts = counts[1:]
                    short, long = INSTRUCTION_FITS
                    hand = (counts[1] - counts[0]) / (long - short)
                    mixin = (counts[3] - counts[2]) / (long - short)
                    results[mode] = {"hand": hand, "mixin": mixin, "ratio": mixin / hand}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds (5) of fewer steps (200)")
    parser.add_argument("--steps", type=int, help="training steps (batches) per fit (default 300)")
    parser.add_argument(
        "--repeats", type=int, help="timed rounds, one fit of each side per round (default 15)"
    )
    parser.add_argument("--mode", choices=MODES, nargs="+", default=list(MODES))
    parser.add_argument(
        "--implementation",
        choices=tuple(IMPLEMENTATIONS),
        default="forloop",
        help="the optimizer implementation both sides declare explicitly (default forloop: foreach=False)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument(
        "--clock",
        choices=tuple(CLOCKS),
        default="cpu",
        help="cpu: this process's CPU time (default; robust to other processes' load), wall: elapsed time",
    )
    parser.add_argument("--profile", action="store_true", help="also attribute the difference with cProfile")
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="also fit a copy of the hand-written module in every round: the ratio noise alone gives",
    )
    parser.add_argument(
        "--access", action="store_true", help="also time one `self.gen_opt` against one `self.optimizers()`"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="split the rounds over this many fresh processes, one after another, and report the median of "
        "their ratios (cancels the bias one process's memory layout gives; see measure_in_processes)",
    )
    parser.add_argument("--fits-json", help=argparse.SUPPRESS)
    parser.add_argument("--top", type=int, default=25, help="rows per profile table")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per step under callgrind instead of timing (deterministic; needs valgrind, "
        "takes minutes per mode)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="--instructions: modes counted at a time")
    parser.add_argument("--instructions-child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument(
        "--max-ratio",
        type=float,
        help="exit 1 if a mode's mixin/hand ratio exceeds this (e.g. 1.02, the target); default: report only",
    )
    parser.add_argument(
        "--attribute",
        action="store_true",
        help="also time the mixin without its Trainer callbacks and/or its lr-guard step pre-hooks",
    )
    args = parser.parse_args()
    steps = args.steps or (200 if args.quick else 300)
    repeats = args.repeats or (5 if args.quick else 15)
    torch.set_num_threads(args.threads)
    global clock
    clock = CLOCKS[args.clock]
    warnings.filterwarnings("ignore")
    for name in ("lightning.pytorch", "lightning.fabric", "lightning_optim"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if args.instructions_child:
        instructions_child(args.instructions_child)
        return 0
    if args.fits_json:  # a child of --processes: one mode's rounds, as numbers
        fits, identical = measured_fits(args.mode[0], args.implementation, steps, repeats, args.calibrate)
        pairs = {label: [[f.seconds, f.step] for f in series] for label, series in fits.items()}
        Path(args.fits_json).write_text(json.dumps({"fits": pairs, "identical": identical}))
        return 0
    if args.instructions:
        print(f"torch {torch.__version__}, lightning {L.__version__}; instructions per step (callgrind), "
              f"from fits of {' and '.join(map(str, INSTRUCTION_FITS))} steps")  # fmt: skip
        print(f"{'mode':<10} {'hand-written':>14} {'mixin':>14} {'extra':>10} {'mixin/hand':>10}")
        for mode, r in instructions(args.mode, args.jobs).items():
            print(
                f"{mode:<10} {r['hand']:>14,.0f} {r['mixin']:>14,.0f} {r['mixin'] - r['hand']:>+10,.0f} "
                f"{r['ratio']:>10.4f}"
            )
        return 0

    print(
        f"torch {torch.__version__}, lightning {L.__version__}, {torch.get_num_threads()} CPU thread(s); "
        f"{steps} steps per fit, {repeats} interleaved rounds, Adam({IMPLEMENTATIONS[args.implementation]}) "
        f"on both sides (attribute mode: AdamW(fused=True)), {args.clock} clock"
    )
    header = (
        f"{'mode':<10} {'hand-written µs/step':>20} {'mixin µs/step':>14} {'mixin/hand':>10} "
        f"{'(90% interval)':>14} {'whole fit':>10} {'(90% interval)':>14} {'same weights':>12}"
    )
    print(header)
    print("-" * len(header))
    fair = True
    too_slow = []
    for mode in args.mode:
        result: dict[str, Any] = (
            measure_in_processes(mode, args, steps, repeats, args.processes)
            if args.processes > 1
            else measure(mode, args.implementation, steps, repeats, args.calibrate)
        )
        fair &= result["identical"]
        if args.max_ratio is not None and result["ratio"] > args.max_ratio:
            too_slow.append(f"{mode} {result['ratio']:.3f}")
        rows = [(mode, result)] + (
            [("  hand/hand", result["calibration"])] if "calibration" in result else []
        )
        for label, row in rows:
            print(
                f"{label:<10} {row['hand_us']:>20.1f} {row['us']:>14.1f} {row['ratio']:>10.3f} "
                f"{row['lo']:>6.3f}-{row['hi']:<6.3f} {row['fit_ratio']:>10.3f} "
                f"{row['fit_lo']:>6.3f}-{row['fit_hi']:<6.3f} {'yes' if result['identical'] else 'NO':>12}",
                flush=True,
            )
            if "spread" in row:
                print(f"{'':<10} processes' ratios {row['spread'][0]:.3f}-{row['spread'][1]:.3f}", flush=True)
    print(
        "\nµs/step: the median step (one batch start to the next) over the fits; mixin/hand: the median over "
        "rounds of the ratio of the two fits' median steps (the per-step cost; target <= 1.02 in every mode), "
        "with its 90% bootstrap interval; whole fit: the same for whole-fit times (setup included, and every "
        "burst of another process's load); hand/hand (--calibrate): a copy of the hand-written module against "
        "it, in the same rounds: the noise floor."
    )
    if args.access:
        ns = access(max(3, repeats))
        print(
            f"\nper access during training_step (min of {max(3, repeats)} timeit runs, lambda call included): "
            + ", ".join(f"{label} {value:.0f} ns" for label, value in ns.items())
            + f"; ratio {ns['self.gen_opt'] / ns['self.optimizers()']:.3f}"
        )
    if args.attribute:
        for mode in args.mode:
            attribute(mode, args.implementation, steps, repeats)
    if args.profile:
        for mode in args.mode:
            profile(mode, args.implementation, steps, max(2, repeats // 3), args.top)
    if not fair:
        print("the two sides did not train identically: the comparison is not like for like", file=sys.stderr)
        return 1
    if too_slow:
        print(f"mixin/hand above --max-ratio {args.max_ratio}: {', '.join(too_slow)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
