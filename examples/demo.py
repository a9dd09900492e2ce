"""Train a small digits classifier whose optimizer, param groups and schedule are declared, not written.

Run with ``make demo``. Prints the param group plan, then validation accuracy and the learning rate of
every param group per epoch, checks that ``preview_schedule`` (computed before training) equals what
``LRMonitor`` logged, and plots the learning rates to ``examples/out/demo_lr.png``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import lightning as L
import torch
import torchmetrics
from lightning.pytorch.loggers import CSVLogger
from torch import nn

sys.path.insert(0, os.path.dirname(__file__))
from _digits import digits_loaders

from lightning_optim import (
    ConfigurableOptimizersMixin,
    LRMonitor,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    describe_optimizers,
    preview_schedule,
)


class DigitsClassifier(ConfigurableOptimizersMixin, L.LightningModule):
    # AdamW with a slower lr for the first layer; a one-cycle schedule stepped per batch whose length
    # (total_steps) is derived from the Trainer when fit starts. OneCycleLR sets every group's lr from its
    # per-group `max_lr` (declaring an `lr` too would have no effect, and is warned about).
    optimizer = OptimizerSpec(
        "adamw",
        weight_decay=1e-2,
        groups=[ParamGroup("body.0", name="first_layer")],
        scheduler=SchedulerSpec("onecycle", max_lr={"first_layer": 3e-3, "rest": 1e-2}),
    )

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10)
        )
        self.accuracy = torchmetrics.classification.MulticlassAccuracy(num_classes=10)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.cross_entropy(self.body(x), y)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.accuracy(self.body(x).argmax(dim=1), y)
        self.log("val_acc", self.accuracy, prog_bar=True)


class PrintEpoch(L.Callback):
    """One line per epoch: validation accuracy and the lr of every param group (from LRMonitor)."""

    def __init__(self, monitor: LRMonitor) -> None:
        self.monitor = monitor

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        lrs = "  ".join(f"{key}={values[-1]:.2e}" for key, values in self.monitor.lrs.items() if values)
        print(
            f"epoch {trainer.current_epoch:2d}  val_acc={float(trainer.callback_metrics['val_acc']):.3f}  {lrs}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-epochs", type=int, default=15)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out"))
    args = parser.parse_args()
    L.seed_everything(0, verbose=False)
    train, val = digits_loaders()
    model = DigitsClassifier()
    print(describe_optimizers(model))
    # the schedule this declaration will produce, computed before training (no data, no weights touched)
    preview = preview_schedule(model, max_epochs=args.max_epochs, steps_per_epoch=len(train))
    monitor = LRMonitor(logging_interval="step")
    trainer = L.Trainer(
        max_epochs=args.max_epochs,
        accelerator="cpu",
        logger=CSVLogger(args.out, name="demo"),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
        callbacks=[monitor, PrintEpoch(monitor)],
    )
    trainer.fit(model, train, val)
    final = float(trainer.callback_metrics["val_acc"])
    print(f"final validation accuracy: {final:.3f}")
    same = preview.keys() == monitor.lrs.keys() and all(preview[k] == list(monitor.lrs[k]) for k in preview)
    print(f"preview_schedule before training == LRMonitor during training: {same}")
    path = monitor.plot(os.path.join(args.out, "demo_lr.png"))
    print(f"learning rates plotted to {path}")


if __name__ == "__main__":
    main()
