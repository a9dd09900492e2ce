"""A ``torch.compile``'d optimizer step against torch's eager implementations: is compiling worth it?

Figures for the decision whether ``implementation="auto"`` should pick a compiled step for optimizers
without a fused kernel (Adagrad on CUDA, RMSprop, NAdam, RAdam, Adamax, Adadelta, ASGD, Rprop), and after
how many steps the compile time pays back. Pure torch: no Lightning, no mixin, so the figures hold for
whatever wraps the step.

Method: ``--params`` million float32 values in ``--tensors`` equal tensors with fixed random gradients.
Each implementation steps its own copy of the same parameters: torch's default (the for-loop on CPU,
``foreach`` on CUDA), ``foreach=True``, ``fused=True`` where torch has the kernel, and ``compiled``: the
optimizer built with ``lr`` as a 0-dim tensor (so that a schedule writes it in place and never recompiles)
and its ``step`` under ``torch.compile`` (inductor). ``compile s`` is the wall time of the first compiled
step (tracing and code generation) less one warm step. After a warm-up, the implementations are timed in
interleaved rounds (median over rounds of the mean step time). ``break-even`` is the number of steps after
which the compiled step has saved its compile time against the best eager implementation; ``never`` when it
is not faster. After the timing, every implementation has taken the same number of steps, and the compiled
copy's parameters are compared with torch's default copy (``max |diff|``; float rounding only).

Run: ``python benchmarks/bench_compiled_step.py [--quick] [--device cpu|cuda] [--params 10] [--tensors 50]
[--cases Adagrad RMSprop ...] [--rounds 5]``. ``--quick``: 2M values, three optimizers, 3 rounds. On CPU,
inductor compiles with the system C++ compiler and takes seconds to tens of seconds per optimizer.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch

#: optimizer name -> constructor arguments (besides ``lr``) and the float lr
CASES: dict[str, tuple[dict[str, Any], float]] = {
    "Adagrad": ({}, 1e-2),
    "RMSprop": ({}, 1e-3),
    "NAdam": ({}, 1e-3),
    "RAdam": ({}, 1e-3),
    "Adamax": ({}, 1e-3),
    "Adadelta": ({}, 1.0),
    "ASGD": ({}, 1e-2),
    "Rprop": ({}, 1e-2),
    "Adam": ({}, 1e-3),  # the reference: fused exists, compiled should not beat it
}
QUICK_CASES = ("Adagrad", "RMSprop", "Adam")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def parameters(values: int, tensors: int, device: torch.device, seed: int) -> list[torch.nn.Parameter]:
    # drawn on the device: a CPU draw of 100M values per implementation would take longer than the timing
    generator = torch.Generator(device=device).manual_seed(seed)
    size = max(1, values // tensors)
    params = []
    for _ in range(tensors):
        p = torch.nn.Parameter(torch.randn(size, generator=generator, device=device))
        p.grad = torch.randn(size, generator=generator, device=device) * 1e-2
        params.append(p)
    return params


def eager_variants(cls: type, kwargs: dict[str, Any], lr: float, device: torch.device) -> dict[str, dict]:
    variants: dict[str, dict[str, Any]] = {
        "default": {},
        "foreach": {"foreach": True},
        "fused": {"fused": True},
    }
    usable = {}
    for name, extra in variants.items():
        try:
            probe = torch.nn.Parameter(torch.zeros(4, device=device))
            probe.grad = torch.zeros_like(probe)
            cls([probe], lr=lr, **kwargs, **extra).step()
        except (RuntimeError, TypeError, ValueError):
            continue
        usable[name] = extra
    return usable


def build(
    name: str, device: torch.device, values: int, tensors: int
) -> tuple[dict[str, Callable[[], Any]], dict[str, list[torch.nn.Parameter]], float]:
    """The step callable and parameters of each implementation of ``name``, and the compile seconds."""
    cls = getattr(torch.optim, name)
    kwargs, lr = CASES[name]
    steps: dict[str, Callable[[], Any]] = {}
    params: dict[str, list[torch.nn.Parameter]] = {}
    for label, extra in eager_variants(cls, kwargs, lr, device).items():
        params[label] = parameters(values, tensors, device, seed=0)
        steps[label] = cls(params[label], lr=lr, **kwargs, **extra).step
    params["compiled"] = parameters(values, tensors, device, seed=0)
    optimizer = cls(params["compiled"], lr=torch.tensor(lr, device=device), **kwargs)
    compiled = torch.compile(optimizer.step)
    steps["compiled"] = compiled
    for label, step in steps.items():  # the first (state-allocating) step, outside the compile timing
        if label != "compiled":
            step()
    synchronize(device)
    start = time.perf_counter()
    compiled()  # traces and generates code
    synchronize(device)
    first = time.perf_counter() - start
    start = time.perf_counter()
    compiled()
    synchronize(device)
    warm = time.perf_counter() - start
    for label, step in steps.items():  # the same number of steps everywhere (2)
        if label != "compiled":
            step()
    return steps, params, max(0.0, first - warm)


def time_steps(step: Callable[[], Any], count: int, device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    for _ in range(count):
        step()
    synchronize(device)
    return (time.perf_counter() - start) / count


def measure(name: str, device: torch.device, values: int, tensors: int, rounds: int) -> dict[str, Any]:
    torch._dynamo.reset()  # each optimizer compiles from scratch: its compile time is its own
    steps, params, compile_s = build(name, device, values, tensors)
    per_round = 20 if device.type == "cuda" else 2
    for step in steps.values():  # warm-up
        time_steps(step, per_round, device)
    times: dict[str, list[float]] = {label: [] for label in steps}
    for round_ in range(rounds):
        labels = list(steps)
        shift = round_ % len(labels)
        for label in labels[shift:] + labels[:shift]:
            times[label].append(time_steps(steps[label], per_round, device))
    ms = {label: 1e3 * statistics.median(t) for label, t in times.items()}
    eager_best = min((v, k) for k, v in ms.items() if k != "compiled")
    saved_ms = eager_best[0] - ms["compiled"]
    diff = max((a - b).abs().max().item() for a, b in zip(params["compiled"], params["default"], strict=True))
    return {
        "ms": ms,
        "compile_s": compile_s,
        "best_eager": eager_best[1],
        "break_even": (compile_s * 1e3 / saved_ms) if saved_ms > 0 else None,
        "max_diff": diff,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--params", type=float, help="million float32 values (default 10, quick 2)")
    parser.add_argument("--tensors", type=int, default=50)
    parser.add_argument("--cases", nargs="+", choices=tuple(CASES))
    parser.add_argument("--rounds", type=int, help="interleaved timing rounds (default 5, quick 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    values = int(1e6 * (args.params or (2 if args.quick else 10)))
    cases = args.cases or (QUICK_CASES if args.quick else tuple(CASES))
    rounds = args.rounds or (3 if args.quick else 5)
    print(
        f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} CPU thread(s); "
        f"{values / 1e6:g}M float32 values in {args.tensors} tensors; median of {rounds} interleaved rounds"
    )
    header = (
        f"{'optimizer':<9} {'default ms':>10} {'foreach ms':>10} {'fused ms':>9} {'compiled ms':>11} "
        f"{'vs best eager':>13} {'compile s':>9} {'break-even':>11} {'max |diff|':>10}"
    )
    print(header)
    print("-" * len(header))
    failed = 0
    for name in cases:
        try:
            r = measure(name, device, values, args.tensors, rounds)
        except Exception as error:  # one optimizer's failure must not hide the others' figures
            print(f"{name:<9} FAILED: {type(error).__name__}: {str(error).splitlines()[0][:200]}", flush=True)
            failed += 1
            continue
        ms = r["ms"]
        cell = {k: f"{ms[k]:.2f}" if k in ms else "n/a" for k in ("default", "foreach", "fused", "compiled")}
        speed = ms[r["best_eager"]] / ms["compiled"]
        even = "never" if r["break_even"] is None else f"{r['break_even']:,.0f} steps"
        print(
            f"{name:<9} {cell['default']:>10} {cell['foreach']:>10} {cell['fused']:>9} {cell['compiled']:>11} "
            f"{speed:>12.2f}x {r['compile_s']:>9.1f} {even:>11} {r['max_diff']:>10.1e}",
            flush=True,
        )
    print(
        "\nvs best eager: the fastest eager implementation's ms over compiled's (>1: compiled is faster); "
        "break-even: steps until the compile time is paid back."
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
