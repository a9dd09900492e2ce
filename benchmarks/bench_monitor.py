"""Per-logging-event overhead of ``LRMonitor`` against Lightning's ``LearningRateMonitor``.

Method: one real ``Trainer.fit`` per configuration, with both monitors attached and a logger whose
``log_metrics`` does nothing (so the logger's own cost is not counted for either). At the first training
batch a timing callback calls each monitor's ``on_train_batch_start`` hook directly, ``--repeats`` times,
with the trainer in its real state (``log_every_n_steps=1``, so every call is a logging event), and
reports the median time of one call. Between calls (outside the timed region) every param group's ``lr``
is changed, as a per-step scheduler would, so no cached value can be reused; the "const" column keeps the
values unchanged (epoch schedulers, constant lr). Both callbacks run in the same process on the same data.

"floor" is what any monitor with Lightning's contract must pay at least: creating one tensor per key for
``trainer.callback_metrics`` (a single buffer split with ``unbind``) and replacing, hence freeing, the
previous ones. It is about one microsecond per key, which bounds the achievable ratio from below.

Run: ``python benchmarks/bench_monitor.py [--repeats 200]``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings
from array import array
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import Logger
from torch import nn
from torch.utils.data import DataLoader

from lightning_optim import LRMonitor


class NullLogger(Logger):
    @property
    def name(self) -> str:
        return "null"

    @property
    def version(self) -> int:
        return 0

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        pass

    def log_hyperparams(self, *args: Any, **kwargs: Any) -> None:
        pass


class ManyGroups(LightningModule):
    """One scalar parameter per param group, an ExponentialLR per step."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(torch.zeros(())) for _ in range(groups)])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(torch.ones(4, 1), batch_size=1)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return sum(w * batch.sum() for w in self.weights)  # type: ignore[return-value]

    def configure_optimizers(self) -> Any:
        groups = [{"params": [w], "lr": 0.01 * (1 + i / 1000)} for i, w in enumerate(self.weights)]
        optimizer = torch.optim.SGD(groups, lr=0.01, momentum=0.9, weight_decay=1e-4)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.99)
        return [optimizer], [{"scheduler": scheduler, "interval": "step"}]


class HookTimer(Callback):
    """Times each monitor's ``on_train_batch_start`` at the first batch."""

    def __init__(self, monitors: dict[str, Callback], repeats: int) -> None:
        self.monitors = monitors
        self.repeats = repeats
        self.medians: dict[str, float] = {}

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, idx: int
    ) -> None:
        if self.medians:
            return
        groups = trainer.optimizers[0].param_groups
        samples: dict[str, list[float]] = {label: [] for label in self.monitors}
        # interleaved, so that load changes on the machine affect every monitor alike
        for _ in range(self.repeats):
            for label, monitor in self.monitors.items():
                if not label.endswith("const"):
                    for group in groups:
                        group["lr"] *= 0.999
                start = time.perf_counter()
                monitor.on_train_batch_start(trainer, pl_module, batch, idx)
                samples[label].append(time.perf_counter() - start)
        self.medians = {label: statistics.median(times) for label, times in samples.items()}
        self.medians["floor"] = self._floor(len(groups))
        trainer.should_stop = True

    def _floor(self, n: int) -> float:
        keys = [f"lr-{i}" for i in range(n)]
        metrics: dict[str, torch.Tensor] = {}
        values = [0.01 * (1 + i / 1000) for i in range(n)]
        samples = []
        for _ in range(self.repeats):
            values = [value * 0.999 for value in values]
            start = time.perf_counter()
            metrics.update(zip(keys, torch.frombuffer(array("f", values), dtype=torch.float32).unbind()))
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)


def measure(groups: int, repeats: int, extras: bool) -> dict[str, float]:
    kwargs = {"log_momentum": extras, "log_weight_decay": extras}
    ours = LRMonitor(**kwargs)
    monitors: dict[str, Callback] = {
        "theirs": LearningRateMonitor(**kwargs),
        "ours": ours,
        "ours-const": ours,
    }
    timer = HookTimer(monitors, repeats)
    trainer = Trainer(
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=2,
        log_every_n_steps=1,
        logger=NullLogger(),
        callbacks=[*dict.fromkeys(monitors.values()), timer],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(ManyGroups(groups))
    return timer.medians


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per monitor and configuration")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    header = (
        f"{'groups':>6} {'momentum+wd':>11} {'theirs µs':>10} {'ours µs':>8} {'const µs':>9}"
        f" {'floor µs':>9} {'ours/theirs':>11} {'const/theirs':>12}"
    )
    print(header)
    print("-" * len(header))
    for groups, extras in [(2, False), (200, False), (2, True), (200, True)]:
        medians = measure(groups, args.repeats, extras)
        theirs, ours, const, floor = (medians[key] * 1e6 for key in ("theirs", "ours", "ours-const", "floor"))
        print(
            f"{groups:>6} {extras!s:>11} {theirs:>10.1f} {ours:>8.1f} {const:>9.1f} {floor:>9.1f}"
            f" {ours / theirs:>11.3f} {const / theirs:>12.3f}"
        )


if __name__ == "__main__":
    main()
