"""One process under ``ModelParallelStrategy`` (FSDP2 ``fully_shard`` in ``configure_model``), for
``test_model_parallel.py``: ``names`` fits without a batch to train and prints the group names of the live optimizer,
of its ``state_dict()`` and of a checkpoint saved after (the names are left out of ``state_dict()`` only while the
strategy loads a checkpoint); ``refusal`` prints the message of a group selecting nothing (it names the user's
class, not ``FSDP<Name>``)."""

from __future__ import annotations

import json
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.strategies import ModelParallelStrategy
from torch import nn
from torch.optim import Adam
from torch.utils.data import DataLoader, TensorDataset

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, ParamGroup


class Sharded(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = nn.Linear(3, 1), nn.Linear(3, 1)

    def configure_model(self) -> None:
        from torch.distributed.fsdp import fully_shard

        mesh = self.device_mesh["data_parallel"]
        for module in (self.a, self.b, self):
            fully_shard(module, mesh=mesh)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return ((self.a(batch[0]) + self.b(batch[0]) - batch[1]) ** 2).mean()


class Named(ConfigurableOptimizersMixin, Sharded):
    optimizer = OptimizerSpec(Adam, lr=0.1, groups=[ParamGroup("a", lr=0.01)])


class SelectsNothing(ConfigurableOptimizersMixin, Sharded):
    optimizer = OptimizerSpec(Adam, lr=0.1, groups=[ParamGroup("a.", lr=0.01)])


def main(run: str) -> dict[str, Any]:
    warnings.filterwarnings("ignore")
    data = DataLoader(TensorDataset(torch.randn(8, 3), torch.randn(8, 1)), batch_size=2)
    strategy = ModelParallelStrategy(
        data_parallel_size=1, tensor_parallel_size=1, save_distributed_checkpoint=False
    )
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        strategy=strategy,
        limit_train_batches=0,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    if run == "refusal":
        try:
            trainer.fit(SelectsNothing(), data)
        except ValueError as err:
            return {"message": str(err)}
        return {"message": None}
    trainer.fit(Named(), data)
    path = Path(tempfile.mkdtemp()) / "saved.ckpt"
    trainer.save_checkpoint(path)
    optimizer = trainer.optimizers[0]
    return {
        "live": [g.get("name") for g in optimizer.param_groups],
        "state_dict": [g.get("name") for g in optimizer.state_dict()["param_groups"]],
        "checkpoint": [
            g.get("name") for g in torch.load(path, weights_only=False)["optimizer_states"][0]["param_groups"]
        ],
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
