"""A ``DeclarativeCLI`` run under ``strategy="ddp_spawn"`` (two CPU processes), run by ``test_cli.py`` as a script.

``ddp_spawn`` pickles the trainer, with the CLI's ``SaveConfigCallback`` and so its parser, into each process,
and the processes import this file to find the module class, so it is a standalone script rather than code in
a test. Usage: ``python _cli_spawn_script.py OUTPUT_DIR [--optim... overrides]``; writes ``weights.json`` with the
weights the run leaves in the main process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningDataModule, LightningModule
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec
from lightning_optim.cli import DeclarativeCLI
from tests.helpers import DestroyProcessGroup

SAMPLES, BATCH_SIZE, BATCHES = 64, 8, 3


def dataset() -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    return TensorDataset(
        torch.randn(SAMPLES, 4, generator=generator), torch.randn(SAMPLES, 1, generator=generator)
    )


class Data(LightningDataModule):
    def train_dataloader(self) -> DataLoader:
        return DataLoader(dataset(), batch_size=BATCH_SIZE)


class Net(LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Linear(4, 1)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)


class Declared(ConfigurableOptimizersMixin, Net):
    optimizer = OptimizerSpec("sgd", lr=0.5)


if __name__ == "__main__":
    out = Path(sys.argv[1])
    args = [
        "fit",
        "--trainer.max_epochs=1",
        f"--trainer.limit_train_batches={BATCHES}",
        "--trainer.strategy=ddp_spawn",
        "--trainer.devices=2",
        "--trainer.accelerator=cpu",
        "--trainer.use_distributed_sampler=false",  # both ranks take the same batches: a known reference
        "--trainer.logger=false",
        "--trainer.enable_checkpointing=false",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        f"--trainer.default_root_dir={out}",
        *sys.argv[2:],
    ]
    cli = DeclarativeCLI(
        Declared,
        Data,
        args=args,
        save_config_kwargs={"overwrite": True},
        trainer_defaults={"callbacks": [DestroyProcessGroup()]},
    )
    weights = {name: value.tolist() for name, value in cli.model.state_dict().items()}
    (out / "weights.json").write_text(json.dumps(weights))
