"""Per-logging-event overhead of ``LRMonitor`` against Lightning's ``LearningRateMonitor``.

Method: one real ``Trainer.fit`` per configuration, with both monitors attached and a logger whose
``log_metrics`` does nothing (so the logger's own cost is not counted for either). At the first training
batch a timing callback calls each monitor's ``on_train_batch_start`` hook directly, ``--repeats`` times,
interleaved, with the trainer in its real state (``log_every_n_steps=1``, so every call is a logging
event), and reports the median time of one call. Each monitor gets its own ``trainer.callback_metrics``
dict (swapped in outside the timed region), so each sees what it would see alone: both write the same
keys, and sharing one dict would charge one monitor for freeing the other's tensors.

Columns, all but "const" with every param group's ``lr`` changed before each call (as a per-step
scheduler does):

* "theirs": ``LearningRateMonitor``;
* "ours": ``LRMonitor`` in a usual run, where nothing keeps the tensors it published at the previous
  event, so it rewrites them in place;
* "const": ``LRMonitor`` with the values unchanged (epoch schedulers, constant lr);
* "held": ``LRMonitor`` when something keeps a reference to every tensor it published (say
  ``EarlyStopping`` monitoring every lr), so each event must create fresh tensors: its worst case.

Most steps do not log: both hooks then only decide that. A second table times that decision ("skip")
and combines it with the logging event into the average cost per training step at Lightning's default
``log_every_n_steps=50``.

Run: ``python benchmarks/bench_monitor.py [--repeats 200]``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings
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
        connector = trainer._logger_connector
        own_metrics = {id(monitor): dict(connector._callback_metrics) for monitor in self.monitors.values()}
        kept: list[Any] = []
        samples: dict[str, list[float]] = {label: [] for label in self.monitors}
        # interleaved, so that load changes on the machine affect every monitor alike
        for _ in range(self.repeats):
            for label, monitor in self.monitors.items():
                if label != "const":
                    for group in groups:
                        group["lr"] *= 0.999
                connector._callback_metrics = own_metrics[id(monitor)]
                start = time.perf_counter()
                monitor.on_train_batch_start(trainer, pl_module, batch, idx)
                samples[label].append(time.perf_counter() - start)
                if label == "held":
                    kept = list(connector._callback_metrics.values())
        del kept
        self.medians = {label: statistics.median(times) for label, times in samples.items()}
        self.medians.update(self._steps_without_logging(trainer, pl_module, batch, idx))
        trainer.should_stop = True

    def _steps_without_logging(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, idx: int
    ) -> dict[str, float]:
        """The same hooks at a step that does not log (``log_every_n_steps`` not reached)."""
        every, trainer.log_every_n_steps = trainer.log_every_n_steps, 10**9
        samples: dict[str, list[float]] = {"theirs-skip": [], "ours-skip": []}
        for _ in range(self.repeats):
            for label in samples:
                monitor = self.monitors[label.removesuffix("-skip")]
                start = time.perf_counter()
                monitor.on_train_batch_start(trainer, pl_module, batch, idx)
                samples[label].append(time.perf_counter() - start)
        trainer.log_every_n_steps = every
        return {label: statistics.median(times) for label, times in samples.items()}


def measure(groups: int, repeats: int, extras: bool) -> dict[str, float]:
    kwargs = {"log_momentum": extras, "log_weight_decay": extras}
    ours = LRMonitor(**kwargs)
    monitors: dict[str, Callback] = {
        "theirs": LearningRateMonitor(**kwargs),
        "ours": ours,
        # right after "ours": the same monitor, called again with the values it just logged
        "const": ours,
        "held": LRMonitor(**kwargs),
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

    labels = ("theirs", "ours", "const", "held")
    header = f"{'groups':>6} {'momentum+wd':>11} " + " ".join(f"{label + ' µs':>10}" for label in labels)
    header += " " + " ".join(f"{label + '/theirs':>13}" for label in labels[1:])
    print("Per logging event:")
    print(header)
    print("-" * len(header))
    rows = []
    for groups, extras in [(2, False), (200, False), (2, True), (200, True)]:
        medians = measure(groups, args.repeats, extras)
        rows.append((groups, extras, medians))
        times = [medians[label] * 1e6 for label in labels]
        row = f"{groups:>6} {extras!s:>11} " + " ".join(f"{value:>10.1f}" for value in times)
        row += " " + " ".join(f"{value / times[0]:>13.3f}" for value in times[1:])
        print(row)

    every = 50
    print(
        f"\nPer training step at log_every_n_steps={every} (Lightning's default): one logging event"
        f" and {every - 1} steps that only check whether to log, as measured above and below:"
    )
    header = (
        f"{'groups':>6} {'momentum+wd':>11} {'skip theirs':>11} {'skip ours':>9}"
        f" {'theirs µs/step':>14} {'ours µs/step':>12} {'ours/theirs':>11}"
    )
    print(header)
    print("-" * len(header))
    for groups, extras, medians in rows:
        theirs = (medians["theirs"] + (every - 1) * medians["theirs-skip"]) / every * 1e6
        ours = (medians["ours"] + (every - 1) * medians["ours-skip"]) / every * 1e6
        print(
            f"{groups:>6} {extras!s:>11} {medians['theirs-skip'] * 1e6:>11.2f} {medians['ours-skip'] * 1e6:>9.2f}"
            f" {theirs:>14.1f} {ours:>12.1f} {ours / theirs:>11.3f}"
        )


if __name__ == "__main__":
    main()
