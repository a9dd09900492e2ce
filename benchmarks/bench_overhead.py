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

Each fit is timed as a whole (``trainer.fit`` only; the ``Trainer`` and the module are made outside the
timer) on this process's CPU clock (``time.process_time``: with one torch thread and no data workers that
is all the work, and other processes on a shared machine do not inflate it; ``--clock wall`` for elapsed
time), so the per-step figure (fit time / steps) includes the one-time setup of ``fit`` (for the mixin:
resolving and building the declarations) spread over the steps. Runs are interleaved (hand-written, mixin,
then mixin, hand-written, ...) so that load from other processes hits both alike, after one unmeasured
warm-up fit of each; the ratio reported is the median over rounds of (mixin / hand-written) of that round.
After every round the two modules' weights must be equal (same optimizer, same kernels, same lrs): the
comparison is only fair if they train identically, and the script exits 1 if they do not.

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

import argparse
import cProfile
import gc
import logging
import pstats
import statistics
import sys
import time
import timeit
import warnings
from collections.abc import Callable
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


def trainer() -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


#: the clock fits are timed with; ``--clock`` sets it
CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]


def timed_fit(
    cls: type[L.LightningModule], data: DataLoader, wrap: Callable[[Callable[[], None]], None]
) -> tuple[float, L.LightningModule]:
    """Seconds of one ``trainer.fit`` of a fresh ``cls()`` (``wrap`` runs the call, e.g. under a profiler)."""
    module, fitter = cls(), trainer()
    gc.collect()
    start = clock()
    wrap(lambda: fitter.fit(module, data))
    return clock() - start, module


def plain(call: Callable[[], None]) -> None:
    call()


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def interleaved(
    classes: dict[str, type[L.LightningModule]], data: DataLoader, repeats: int
) -> tuple[dict[str, list[float]], bool]:
    """Seconds of ``repeats`` fits of each class, one of each per round, the order rotating every round.

    Also whether every fit of a round ended with the same weights as the first class's.
    """
    for cls in classes.values():  # warm-up: imports, caches, the allocator
        timed_fit(cls, data, plain)
    labels = list(classes)
    times: dict[str, list[float]] = {label: [] for label in labels}
    identical = True
    for round_ in range(repeats):
        shift = round_ % len(labels)
        fitted = {}
        for label in labels[shift:] + labels[:shift]:
            seconds, fitted[label] = timed_fit(classes[label], data, plain)
            times[label].append(seconds)
        identical &= all(same_weights(fitted[labels[0]], fitted[label]) for label in labels[1:])
    return times, identical


def ratio_summary(times: dict[str, list[float]], label: str, steps: int) -> dict[str, float]:
    """Median time per step of ``label`` and the median over rounds of its ratio to ``"hand"``."""
    ratios = [t / h for t, h in zip(times[label], times["hand"])]
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return {
        "us": 1e6 * statistics.median(times[label]) / steps,
        "ratio": statistics.median(ratios),
        "q1": quartiles[0],
        "q3": quartiles[2],
        "min_ratio": min(times[label]) / min(times["hand"]),
    }


def measure(mode: str, implementation: str, steps: int, repeats: int) -> dict[str, Any]:
    hand, mixin = modules(mode, implementation)
    times, identical = interleaved({"hand": hand, "mixin": mixin}, loader(steps), repeats)
    summary = ratio_summary(times, "mixin", steps)
    return {
        "hand_us": 1e6 * statistics.median(times["hand"]) / steps,
        "mixin_us": summary["us"],
        "ratio": summary["ratio"],
        "q1": summary["q1"],
        "q3": summary["q3"],
        "min_ratio": summary["min_ratio"],
        "identical": identical,
    }


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
    times, identical = interleaved(classes, loader(steps), repeats)
    hand_us = 1e6 * statistics.median(times["hand"]) / steps
    print(
        f"\n{mode}: the mixin with parts of its per-step machinery removed ({repeats} rounds, rotating order)"
    )
    print(f"{'variant':<20} {'µs/step':>9} {'vs hand':>8} {'(quartiles)':>13} {'extra µs/step':>13}")
    for label in classes:
        if label == "hand":
            print(f"{label:<20} {hand_us:>9.1f}")
            continue
        r = ratio_summary(times, label, steps)
        extra = (r["ratio"] - 1) * hand_us
        print(
            f"{label:<20} {r['us']:>9.1f} {r['ratio']:>8.3f} {r['q1']:>6.3f}-{r['q3']:<6.3f} {extra:>+13.1f}"
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
        "--access", action="store_true", help="also time one `self.gen_opt` against one `self.optimizers()`"
    )
    parser.add_argument("--top", type=int, default=25, help="rows per profile table")
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

    print(
        f"torch {torch.__version__}, lightning {L.__version__}, {torch.get_num_threads()} CPU thread(s); "
        f"{steps} steps per fit, {repeats} interleaved rounds, Adam({IMPLEMENTATIONS[args.implementation]}) "
        f"on both sides (attribute mode: AdamW(fused=True)), {args.clock} clock"
    )
    header = (
        f"{'mode':<10} {'hand-written µs/step':>20} {'mixin µs/step':>14} {'mixin/hand':>10} "
        f"{'(quartiles)':>13} {'min/min':>8} {'same weights':>12}"
    )
    print(header)
    print("-" * len(header))
    fair = True
    too_slow = []
    for mode in args.mode:
        r = measure(mode, args.implementation, steps, repeats)
        fair &= r["identical"]
        if args.max_ratio is not None and r["ratio"] > args.max_ratio:
            too_slow.append(f"{mode} {r['ratio']:.3f}")
        print(
            f"{mode:<10} {r['hand_us']:>20.1f} {r['mixin_us']:>14.1f} {r['ratio']:>10.3f} "
            f"{r['q1']:>6.3f}-{r['q3']:<6.3f} {r['min_ratio']:>8.3f} {'yes' if r['identical'] else 'NO':>12}",
            flush=True,
        )
    print(
        "\nmixin/hand: median over rounds of the ratio of whole-fit times; min/min: the fastest mixin fit over "
        "the fastest hand-written one; target <= 1.02 in every mode."
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
