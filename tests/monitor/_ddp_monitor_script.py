"""Two-process CPU DDP training with ``LRMonitor``, run by ``test_monitor_ddp.py`` as a script.

``strategy="ddp"`` relaunches this file once per extra rank, which is why it is a standalone script rather
than code inside a test. Usage: ``python _ddp_monitor_script.py OUTPUT_DIR``. Each rank writes
``rank<N>.json`` with what its monitor saw; rank zero's ``CSVLogger`` writes ``ddp/version_0/metrics.csv``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.loggers import CSVLogger, Logger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_optim import LRMonitor
from tests.helpers import DestroyProcessGroup

BATCHES_PER_RANK = 4
EPOCHS = 2


class CountingLogger(Logger):
    """Counts ``log_metrics`` calls on every rank (unlike most loggers it is not rank-zero-only)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    @property
    def name(self) -> str:
        return "counting"

    @property
    def version(self) -> int:
        return 0

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        self.calls += 1

    def log_hyperparams(self, *args: Any, **kwargs: Any) -> None:
        pass


class Net(LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.head = nn.Linear(4, 1)

    def train_dataloader(self) -> DataLoader:
        n = 2 * BATCHES_PER_RANK * 4
        return DataLoader(TensorDataset(torch.randn(n, 4), torch.randn(n, 1)), batch_size=4)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.head(torch.relu(self.body(x))), y)

    def configure_optimizers(self) -> Any:
        groups = [
            {"params": list(self.body.parameters()), "name": "body"},
            {"params": list(self.head.parameters()), "name": "head", "lr": 0.05},
        ]
        optimizer = torch.optim.SGD(groups, lr=0.1, momentum=0.9)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
        return [optimizer], [{"scheduler": scheduler, "interval": "step"}]


def main(out: Path) -> None:
    monitor = LRMonitor(logging_interval="step", log_momentum=True)
    counter = CountingLogger()
    # EarlyStopping decides on every rank, so every rank needs the lr in its callback metrics
    stopper = EarlyStopping(monitor="lr-SGD/body", mode="min", patience=100, check_on_train_epoch_end=True)
    trainer = Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=EPOCHS,
        limit_train_batches=BATCHES_PER_RANK,
        log_every_n_steps=1,
        logger=[CSVLogger(out, name="ddp", version=0), counter],
        callbacks=[monitor, stopper, DestroyProcessGroup()],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Net())
    report = {
        "lrs": {key: list(values) for key, values in monitor.lrs.items()},
        "callback_metrics": {key: float(value) for key, value in trainer.callback_metrics.items()},
        "logger_calls": counter.calls,
        "process_group": torch.distributed.is_initialized(),
    }
    Path(out, f"rank{trainer.global_rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
