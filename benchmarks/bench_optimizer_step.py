"""Optimizer step time: the mixin-built optimizer against torch's default, and against memory bandwidth.

Method: for each optimizer and size, the parameters are a handful of tensors shaped like a small
transformer (an embedding and two blocks of attention/MLP weights, biases and norms) holding about
1M/10M/50M float32 values, with fixed random gradients. Every implementation steps the *same* parameters
(each has its own state): torch's default (``Adam(params)``: the for-loop on CPU, ``foreach`` on CUDA),
explicit ``foreach=True`` and ``fused=True``, and the optimizer ``ConfigurableOptimizersMixin`` builds from
``OptimizerSpec(Adam)`` (through ``configure_optimizers``, so the automatic implementation choice is
exercised). After a warm-up (state allocation, and the allocator settling: the first for-loop steps on CPU
are slow while glibc raises its mmap threshold), the implementations are timed in interleaved rounds so
that load from other processes hits all of them alike; each figure is the median over rounds.

Bandwidth: the bytes a step must move (Adam/AdamW read param, grad, exp_avg, exp_avg_sq and write param,
exp_avg, exp_avg_sq: 7 x 4 bytes per parameter; SGD with momentum and Adagrad: 5 x; plain SGD: 3 x),
divided by the step time, as a fraction of a plain ``dst.copy_(src)`` over the same number of floats
(which reads and writes 2 x 4 bytes per value), measured in the same rounds.

Run: ``python benchmarks/bench_optimizer_step.py [--quick] [--device cpu|cuda|all]``. ``--quick`` runs
Adam/AdamW/SGD at 1M and 10M parameters with fewer rounds. On CUDA the same table compares fused against
foreach (torch's CUDA default), with three more columns: the fraction of the copy's bandwidth that foreach
and fused each reach, and fused's speedup over foreach. There the parameters are drawn on the device (the
values do not matter for timing, and a CPU draw of 1B values would take longer than the measurement), each
timing covers more steps (a CUDA step of 10M parameters takes well under a millisecond), and an
implementation torch has no kernel for (fused Adagrad) shows ``n/a``. For the HBM figures on a large GPU:
``--device cuda --sizes 10 100 1000``. ``--cases`` picks optimizers by name.
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.optim import SGD, Adagrad, Adam, AdamW

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec


@dataclass(frozen=True)
class Case:
    name: str
    cls: Any  # a torch.optim.Optimizer subclass that accepts fused= and foreach=
    kwargs: dict[str, Any]
    #: 4-byte values read plus written per parameter by one step
    traffic: int


CASES = [
    Case("Adam", Adam, {"lr": 1e-3}, 7),
    Case("AdamW", AdamW, {"lr": 1e-3, "weight_decay": 0.01}, 7),
    Case("SGD(momentum=0.9)", SGD, {"lr": 1e-2, "momentum": 0.9}, 5),
    Case("SGD", SGD, {"lr": 1e-2}, 3),
    Case("Adagrad", Adagrad, {"lr": 1e-2}, 5),
]
QUICK_CASES = ("Adam", "AdamW", "SGD(momentum=0.9)")


def shapes(total: int) -> list[tuple[int, ...]]:
    """An embedding plus two transformer blocks (d x 3d attention in, d x d out, d x 4d MLP) ~ ``total``."""
    d = max(8, int(math.sqrt(total / 28)))
    block = [
        (3 * d, d),
        (3 * d,),
        (d, d),
        (d,),
        (4 * d, d),
        (4 * d,),
        (d, 4 * d),
        (d,),
        (d,),
        (d,),
        (d,),
        (d,),
    ]
    return [(4 * d, d), *block, *block]


def make_parameters(total: int, device: torch.device) -> list[nn.Parameter]:
    if device.type == "cuda":  # drawn on the device: a CPU draw of 1B values takes longer than the timing
        generator = torch.Generator(device=device).manual_seed(0)
        return [
            nn.Parameter(torch.randn(shape, generator=generator, device=device) * 0.02)
            for shape in shapes(total)
        ]
    generator = torch.Generator().manual_seed(0)
    params = []
    for shape in shapes(total):
        p = nn.Parameter((torch.randn(shape, generator=generator) * 0.02).to(device))
        p.grad = (torch.randn(shape, generator=generator) * 1e-3).to(device)
        params.append(p)
    return params


def add_gradients(params: list[nn.Parameter], device: torch.device) -> None:
    """Fixed random gradients for CUDA parameters (CPU ones get theirs in ``make_parameters``)."""
    if device.type == "cuda":
        generator = torch.Generator(device=device).manual_seed(1)
        for p in params:
            p.grad = torch.randn(p.shape, generator=generator, device=device) * 1e-3


class Holder(L.LightningModule):
    def __init__(self, params: list[nn.Parameter]) -> None:
        super().__init__()
        self.weights = nn.ParameterList(params)  # the same Parameter objects, not copies


def mixin_built(case: Case, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer ``ConfigurableOptimizersMixin`` builds for ``OptimizerSpec(case.cls, **case.kwargs)``."""
    module_cls = type(
        "Bench", (ConfigurableOptimizersMixin, Holder), {"optimizer": OptimizerSpec(case.cls, **case.kwargs)}
    )
    config = module_cls(params).configure_optimizers()
    return config["optimizer"]


def implementation(optimizer: torch.optim.Optimizer) -> str:
    defaults = optimizer.defaults
    if defaults.get("fused"):
        return "fused"
    foreach = defaults.get("foreach")
    if foreach is None:
        device = next(p for g in optimizer.param_groups for p in g["params"]).device
        return "foreach" if device.type == "cuda" else "forloop"
    return "foreach" if foreach else "forloop"


def timer(device: torch.device, work: Callable[[], Any], steps: int) -> float:
    """Seconds per call of ``work`` over ``steps`` calls (synchronizing the device around them)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        work()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def supported(
    device: torch.device, make: Callable[[], torch.optim.Optimizer]
) -> torch.optim.Optimizer | None:
    """The optimizer ``make`` builds, or ``None`` where torch has no kernel for it (fused Adagrad on CUDA).

    Only on CUDA: on CPU every implementation here exists, and an error should stop the benchmark.
    """
    if device.type != "cuda":
        return make()
    try:
        optimizer = make()
        optimizer.step()  # torch checks the devices of a fused kernel at the first step
    except (RuntimeError, ValueError):
        return None
    return optimizer


def measure(case: Case, total: int, device: torch.device, rounds: int, warmup: int) -> dict[str, Any]:
    params = make_parameters(total, device)
    add_gradients(params, device)
    numel = sum(p.numel() for p in params)
    candidates = {
        "default": supported(device, lambda: case.cls(params, **case.kwargs)),
        "foreach": supported(device, lambda: case.cls(params, **case.kwargs, foreach=True)),
        "fused": supported(device, lambda: case.cls(params, **case.kwargs, fused=True)),
        "mixin": supported(device, lambda: mixin_built(case, params)),
    }
    optimizers = {name: opt for name, opt in candidates.items() if opt is not None}
    src = torch.randn(numel, device=device)
    dst = torch.empty_like(src)
    work: dict[str, Callable[[], Any]] = {name: opt.step for name, opt in optimizers.items()}
    work["copy"] = lambda: dst.copy_(src)
    for name in work:
        timer(device, work[name], warmup)
    steps = 1 if numel >= 20_000_000 else 3 if numel >= 5_000_000 else 5
    if device.type == "cuda":  # enough steps per timing that launch latency and the syncs do not dominate
        steps = 2 if numel >= 500_000_000 else 5 if numel >= 50_000_000 else 20
    times: dict[str, list[float]] = {name: [] for name in work}
    for _ in range(rounds):
        for name in work:
            times[name].append(timer(device, work[name], steps))
    median = {name: statistics.median(values) for name, values in times.items()}
    copy_bandwidth = 2 * 4 * numel / median["copy"]
    step_bytes = case.traffic * 4 * numel
    nan = float("nan")
    return {
        "numel": numel,
        "ms": {name: 1e3 * median[name] if name in median else nan for name in candidates},
        "mixin_impl": implementation(optimizers["mixin"]),
        "default_impl": implementation(optimizers["default"]),
        "copy_gbs": copy_bandwidth / 1e9,
        "fraction": {
            name: step_bytes / median[name] / copy_bandwidth if name in median else nan for name in candidates
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="Adam/AdamW/SGD at 1M and 10M, fewer rounds")
    parser.add_argument(
        "--device", choices=("cpu", "cuda", "all"), default="all", help="'all': cpu, and cuda if present"
    )
    parser.add_argument(
        "--sizes", type=float, nargs="+", help="parameter counts in millions (default 1 10 50)"
    )
    parser.add_argument("--rounds", type=int, help="timed rounds per implementation (median taken)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own)")
    parser.add_argument(
        "--cases", nargs="+", choices=[c.name for c in CASES], help="optimizers to run (default: all)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("lightning_optim").setLevel(logging.WARNING)  # the choice is printed in the table

    sizes = [int(s * 1e6) for s in (args.sizes or ([1, 10] if args.quick else [1, 10, 50]))]
    cases = [c for c in CASES if not args.quick or c.name in QUICK_CASES]
    if args.cases:
        cases = [c for c in cases if c.name in args.cases]
    rounds = args.rounds or (5 if args.quick else 7)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    if args.device == "cuda" and not devices:
        raise SystemExit("--device cuda: no CUDA device available")

    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} CPU threads; ms per step, median of {rounds} rounds")
    for name in devices:
        device = torch.device(name)
        label = torch.cuda.get_device_name(device) if name == "cuda" else "cpu"
        print(f"\n## {label}")
        header = (
            f"{'optimizer':<18} {'params':>7} {'default':>9} {'foreach':>9} {'fused':>9} {'mixin':>9} "
            f"{'mixin is':>9} {'speedup':>8} {'copy GB/s':>9} {'of copy bw':>10}"
        )
        if name == "cuda":
            header += f" {'foreach bw':>10} {'fused bw':>9} {'fused/foreach':>13}"
        print(header)
        for case in cases:
            for total in sizes:
                r = measure(case, total, device, rounds=rounds, warmup=2 if total >= 20_000_000 else 5)
                ms = r["ms"]
                speedup, fraction = ms["default"] / ms["mixin"], r["fraction"]["mixin"]
                row = (
                    f"{case.name:<18} {r['numel'] / 1e6:>6.1f}M {ms['default']:>9.2f} {ms['foreach']:>9.2f} "
                    f"{ms['fused']:>9.2f} {ms['mixin']:>9.2f} {r['mixin_impl']:>9} "
                    f"{speedup:>7.2f}x {r['copy_gbs']:>9.1f} {fraction:>10.2f}"
                )
                if name == "cuda":
                    fused_over_foreach = ms["foreach"] / ms["fused"]
                    row += f" {r['fraction']['foreach']:>10.2f} {r['fraction']['fused']:>9.2f} " + (
                        f"{fused_over_foreach:>12.2f}x"
                        if math.isfinite(fused_over_foreach)
                        else f"{'n/a':>13}"
                    )
                print(row.replace(" nan", " n/a"), flush=True)
                if name == "cuda":
                    torch.cuda.empty_cache()
    print(
        "\ndefault: torch's own choice (for-loop on CPU, foreach on CUDA); mixin: what OptimizerSpec builds; "
        "speedup = default / mixin; of copy bw = achieved bytes/s of the mixin's step over copy_'s."
    )
    if "cuda" in devices:
        print(
            "CUDA: foreach bw / fused bw = the same fraction for foreach and fused; fused/foreach = foreach's "
            "time over fused's; n/a: torch has no such kernel on CUDA."
        )


if __name__ == "__main__":
    main()
