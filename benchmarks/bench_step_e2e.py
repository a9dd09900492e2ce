"""End-to-end training step: the mixin against the hand-written fused AdamW, ``LRMonitor`` on both sides.

Issue 23 measured on an H200 (bf16-mixed) that a small module cost 1.052x the hand-written fused AdamW per
step with the mixin, and that at 100M parameters the mixin was *faster* (0.915x), unexplained. This script is
the measurement to explain both: the same module (an MLP) fitted by a real ``Trainer`` with
``OptimizerSpec(AdamW, lr=..., scheduler=per-step cosine)`` and with a hand-written ``configure_optimizers``
returning ``AdamW(fused=True)`` and the same scheduler; ``LRMonitor(logging_interval="step")`` attached to
both, ``log_every_n_steps`` larger than the run (no per-step sync). Before timing it checks that both sides
built the same implementation (fused) and prints it; a difference there, not the mixin, would explain a ratio
far from 1.

Timing: a callback notes the time at the start of batch ``--warmup`` and at the end of the last batch
(``torch.cuda.synchronize`` at both points only), so setup, the first steps (state allocation, autotuning)
and teardown are left out. Rounds alternate the sides (hand, mixin, mixin, hand, ...); the figure per side is
the minimum over rounds of ms per step, and the ratio is mixin / hand of those minima.

Sizes: ``small`` (256-wide MLP, 3 layers, batch 32, as in the issue) and ``100m`` (4 layers of 5000 x 5000,
about 100M parameters, batch 32). Run: ``python benchmarks/bench_step_e2e.py [--device cuda]
[--precision bf16-mixed] [--sizes small 100m] [--steps 200] [--rounds 3]``. ``--cpu-dry-run`` runs tiny
versions on CPU to test the script.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torch.optim import AdamW
from torch.optim.lr_scheduler import CosineAnnealingLR
from torch.utils.data import DataLoader, TensorDataset

from lightning_optim import ConfigurableOptimizersMixin, LRMonitor, OptimizerSpec, SchedulerSpec

LR = 1e-3
#: size name -> (width, layers, batch)
SIZES = {"small": (256, 3, 32), "100m": (5000, 4, 32), "tiny": (16, 2, 8)}


class MLP(L.LightningModule):
    def __init__(self, width: int, layers: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(*[nn.Linear(width, width) for _ in range(layers)])

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(self.net(x), y)


def classes(steps: int) -> dict[str, type[MLP]]:
    class Hand(MLP):
        def configure_optimizers(self) -> Any:
            optimizer = AdamW(self.parameters(), lr=LR, fused=True)
            scheduler = CosineAnnealingLR(optimizer, T_max=steps)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    class Mixin(ConfigurableOptimizersMixin, MLP):
        optimizer = OptimizerSpec(
            AdamW, lr=LR, scheduler=SchedulerSpec(CosineAnnealingLR, T_max=steps, interval="step")
        )

    return {"hand": Hand, "mixin": Mixin}


class StepClock(L.Callback):
    """Seconds from the start of batch ``first`` to the end of the last batch, synchronized at both ends."""

    def __init__(self, first: int, device: torch.device) -> None:
        self.first, self.device = first, device
        self.start = self.end = 0.0
        self.batches = 0
        self.implementation = ""

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def on_train_batch_start(self, trainer: L.Trainer, module: Any, batch: Any, batch_idx: int) -> None:
        if batch_idx == self.first:
            defaults = trainer.optimizers[0].defaults
            self.implementation = "fused" if defaults.get("fused") else f"foreach={defaults.get('foreach')}"
            self._sync()
            self.start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.batches = batch_idx + 1 - self.first
        self._sync()
        self.end = time.perf_counter()


def data(width: int, batch: int, steps: int, device: torch.device) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(steps * batch, width, generator=generator)
    y = torch.randn(steps * batch, width, generator=generator)
    return DataLoader(TensorDataset(x, y), batch_size=batch, pin_memory=device.type == "cuda")


def fit_once(
    cls: type[MLP], size: str, steps: int, warmup: int, device: torch.device, precision: str
) -> tuple[float, str]:
    width, layers, batch = SIZES[size]
    clock = StepClock(warmup, device)
    trainer = L.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        max_epochs=1,
        precision=precision,  # type: ignore[arg-type]
        logger=False,
        log_every_n_steps=10 * steps,
        callbacks=[LRMonitor(logging_interval="step"), clock],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(cls(width, layers), data(width, batch, steps, device))
    return 1e3 * (clock.end - clock.start) / max(1, clock.batches), clock.implementation


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--precision", default="bf16-mixed")
    parser.add_argument("--sizes", nargs="+", choices=tuple(SIZES), default=["small", "100m"])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--cpu-dry-run", action="store_true", help="tiny sizes on CPU, 32-true: tests the script"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    for name in ("lightning.pytorch", "lightning.fabric", "lightning_optim"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if args.cpu_dry_run:
        args.device, args.precision, args.sizes, args.steps, args.warmup, args.rounds = (
            "cpu",
            "32-true",
            ["tiny"],
            20,
            5,
            2,
        )
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: skipped (use --cpu-dry-run to test the script)")
        return 0
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"torch {torch.__version__}, lightning {L.__version__}, {name}, precision {args.precision}; "
        f"{args.steps} steps per fit, timed from step {args.warmup}; min of {args.rounds} alternating rounds"
    )
    header = f"{'size':<6} {'params':>8} {'hand ms/step':>12} {'mixin ms/step':>13} {'mixin/hand':>10}  implementations"
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        sides = classes(args.steps)
        width, layers, _ = SIZES[size]
        params = layers * (width * width + width)
        times: dict[str, list[float]] = {label: [] for label in sides}
        impls: dict[str, str] = {}
        for round_ in range(args.rounds):
            order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
            for label in order:
                ms, impls[label] = fit_once(
                    sides[label], size, args.steps, args.warmup, device, args.precision
                )
                times[label].append(ms)
        hand, mixin = min(times["hand"]), min(times["mixin"])
        print(
            f"{size:<6} {params / 1e6:>7.1f}M {hand:>12.3f} {mixin:>13.3f} {mixin / hand:>10.3f}  "
            f"hand {impls['hand']}, mixin {impls['mixin']}",
            flush=True,
        )
    print(
        "\nmixin/hand: min over rounds of ms/step, mixin over hand-written; target <= 1.01 for the small module."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
