"""Train a digits classifier with ``DeclarativeCLI``; change its optimizer from YAML or the command line.

The module declares its optimizer as a class attribute; the CLI exposes it as ``optim.optimizer``::

    python examples/cli.py fit --print_config                      # the effective declarations, as YAML
    python examples/cli.py fit --config examples/config.yaml       # the config's optimizer and schedule
    python examples/cli.py fit --config examples/config.yaml --optim.optimizer.init_args.lr=0.01

``examples/cli_two.py`` is the two-optimizer variant. After training, the script prints one line
``effective: {json}`` with the declarations the run used and what the live optimizers and schedulers were.
"""

from __future__ import annotations

import json
from typing import Any

import lightning as L
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_optim import (
    ConfigurableOptimizersMixin,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    declarations,
    spec_to_dict,
)
from lightning_optim.cli import DeclarativeCLI
from lightning_optim.schedules import Schedule


class DigitsData(L.LightningDataModule):
    """scikit-learn's 8x8 digits (1797 images, bundled with scikit-learn), 80% train / 20% validation."""

    def __init__(self, batch_size: int = 64) -> None:
        super().__init__()
        self.batch_size = batch_size

    def setup(self, stage: str) -> None:
        x, y = load_digits(return_X_y=True)
        inputs = torch.tensor(x, dtype=torch.float32) / 16.0
        targets = torch.tensor(y)
        order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(0))
        split = int(0.8 * len(order))
        self.train_set = TensorDataset(inputs[order[:split]], targets[order[:split]])
        self.val_set = TensorDataset(inputs[order[split:]], targets[order[split:]])

    def train_dataloader(self) -> DataLoader[tuple[torch.Tensor, ...]]:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader[tuple[torch.Tensor, ...]]:
        return DataLoader(self.val_set, batch_size=256)


class DigitsModule(L.LightningModule):
    """A two-layer perceptron: ``body`` (64 -> hidden) and ``head`` (hidden -> 10)."""

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.body = nn.Sequential(nn.Linear(64, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.body(x))
        return out

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The declarations the run used, readable without this code: torch.load(path)["declarations"].
        checkpoint["declarations"] = {name: spec_to_dict(spec) for name, spec in declarations(self).items()}

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_acc", (self(x).argmax(dim=1) == y).float().mean(), prog_bar=True)


class DigitsClassifier(ConfigurableOptimizersMixin, DigitsModule):
    """One optimizer: AdamW without weight decay on biases, a cosine schedule stepped every batch."""

    optimizer = OptimizerSpec(
        "adamw",
        lr=3e-3,
        weight_decay=0.01,
        groups=[ParamGroup("*.bias", weight_decay=0.0, name="no_decay")],
        scheduler=SchedulerSpec("cosine", interval="step"),  # T_max: the run's length, derived at fit
    )

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss


class TwoOptimizerClassifier(ConfigurableOptimizersMixin, DigitsModule):
    """Two optimizers (manual optimization): SGD for the body, Adam for the head, each with its schedule."""

    body_opt = OptimizerSpec(
        "sgd", params="body", lr=0.05, momentum=0.9, scheduler=SchedulerSpec("step", step_size=1)
    )
    head_opt = OptimizerSpec(
        "adam", params="head", lr=1e-3, scheduler=SchedulerSpec("exponential", gamma=0.99, interval="step")
    )

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.body_opt.zero_grad()
        self.head_opt.zero_grad()
        self.manual_backward(loss)
        self.body_opt.step()
        self.head_opt.step()
        self.log("train_loss", loss)


def effective(cli: DeclarativeCLI) -> dict[str, Any]:
    """The declarations the run used and what the Trainer built from them."""
    return {
        "model_class": type(cli.model).__qualname__,
        "global_step": cli.trainer.global_step,
        "declarations": {name: spec_to_dict(spec) for name, spec in declarations(cli.model).items()},
        "optimizers": [
            {
                "class": type(optimizer).__name__,
                "initial_lr": [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups],
                "weight_decay": [group.get("weight_decay") for group in optimizer.param_groups],
            }
            for optimizer in cli.trainer.optimizers
        ],
        "schedulers": [
            {"class": type(c.scheduler.inner).__name__, "interval": c.interval, "frequency": c.frequency}
            for c in cli.trainer.lr_scheduler_configs
            if isinstance(c.scheduler, Schedule)  # the mixin's wrapper around each declared scheduler
        ],
    }


def main(model_class: type[L.LightningModule]) -> None:
    cli = DeclarativeCLI(
        model_class, DigitsData, seed_everything_default=0, save_config_kwargs={"overwrite": True}
    )
    if cli.subcommand == "fit":
        print("effective:", json.dumps(effective(cli)))


if __name__ == "__main__":
    main(DigitsClassifier)
