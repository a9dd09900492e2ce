"""Run by ``tests/groups/test_groups_distributed.py``: a multi-process fit whose ranks report their param groups.

``python tests/groups/groups_distributed_script.py OUT_DIR ddp`` trains on CPU with 2 processes (DDP, gloo);
``... OUT_DIR fsdp`` trains on the CUDA devices with FSDP, auto-wrapping every ``Linear`` (which puts
``_fsdp_wrapped_module`` into the parameter names). Each rank writes ``rank<N>.json`` to OUT_DIR.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests.helpers` in every launched rank

import lightning as L
from torch import nn
from torch.optim import SGD

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, ParamGroup, SchedulerSpec


def half(epoch: int) -> float:
    return 0.5**epoch


def keep(epoch: int) -> float:
    return 1.0


class Report(L.Callback):
    def __init__(self, out: Path) -> None:
        self.out = out

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # names as the user's module has them (wrapper segments dropped), to compare with the selectors
        from lightning_optim.groups.selection import user_name

        names = {id(p): user_name(n) for n, p in pl_module.named_parameters()}
        groups = [
            {
                "name": g["name"],
                "params": [names[id(p)] for p in g["params"]],
                "lr": g["lr"],
                "wd": g["weight_decay"],
            }
            for g in trainer.optimizers[0].param_groups
        ]
        wrapped = trainer.strategy.model
        report = {
            "world_size": trainer.world_size,
            "wrapper": type(wrapped).__name__,
            "wrapped_names": [n for n, _ in wrapped.named_parameters()],
            "groups": groups,
        }
        (self.out / f"rank{trainer.global_rank}.json").write_text(json.dumps(report))


def main(out: Path, strategy: str) -> None:
    from tests.helpers import Classifier, DestroyProcessGroup, loader

    class Model(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(
            SGD,
            lr=0.1,
            weight_decay=0.01,
            no_decay=("bias",),
            groups=[ParamGroup("model_gen.layer1", lr=0.5, name="layer1")],
            scheduler=SchedulerSpec(
                "lambda",
                lr_lambda={"layer1": half, "layer1/no_decay": half, "rest": keep, "rest/no_decay": keep},
            ),
        )

    if strategy == "ddp":
        options: dict[str, Any] = {"accelerator": "cpu", "devices": 2, "strategy": "ddp"}
    else:
        import torch
        from lightning.pytorch.strategies import FSDPStrategy

        options = {
            "accelerator": "cuda",
            "devices": min(2, torch.cuda.device_count()),
            "strategy": FSDPStrategy(auto_wrap_policy={nn.Linear}),
        }
    trainer = L.Trainer(
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Report(out), DestroyProcessGroup()],
        **options,
    )
    trainer.fit(Model(), loader())


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
