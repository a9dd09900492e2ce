"""Two-process CPU ``ModelParallelStrategy`` runs (FSDP2 ``fully_shard`` in ``configure_model``), run by
``test_model_parallel.py`` as a script.

The strategy relaunches this file once per extra rank, so it is a standalone script rather than code in a test.
Usage: ``python _model_parallel_script.py RUN FORMAT OUTPUT_DIR`` with FORMAT ``distributed`` (a checkpoint
directory, the strategy's default) or ``file`` (``save_distributed_checkpoint=False``) and RUN one of ``RUNS``:

- ``mixin_first``: a mixin module (AdamW, group ``a`` at lr 0.05, ``StepLR(2, 0.5)`` per step) trains 4 steps and
  is checkpointed; ``fresh``, ``continue``, ``error``: ``Changed`` (group ``a`` at lr 0.02) resumes it to step 8
  with that ``resume_changed_setup`` (its error message recorded in ``error.txt``);
- ``fewer_first``: ``Fewer`` (AdamW, group ``a`` at lr 0.05, the rest in one group, ``StepLR(2, 0.5)`` per step) trains 4
  steps and is checkpointed; ``added_fresh``, ``added_continue``, ``added_error``: ``Added`` (a group of ``b.bias``
  declared before ``a``: one group more) resumes it to step 8 (its error message recorded in ``added_error.txt``);
- ``unfreezes_first``: ``Unfreezes`` trains ``a`` and adds ``b`` in a group of its own when epoch 1 starts
  (``BaseFinetuning.unfreeze_and_add_param_group``), checkpointed at step 6; ``unfreezes_resumed`` resumes it without
  that group (its error message recorded in ``unfreezes_resumed.txt``);
- ``added_ddp_first``: ``Added`` trains 4 steps under DDP and is checkpointed (a file, its optimizer state keyed by
  position); ``added_from_ddp`` resumes it under ``ModelParallelStrategy`` (its error message recorded in
  ``added_from_ddp.txt``);
- ``hand_full``, ``hand_first``: a hand-written ``configure_optimizers`` module with the same groups trains 8
  steps, or 4 steps and is checkpointed; ``mixin_resumed``: the mixin module resumes that checkpoint to step 8;
- ``weights_first``: the mixin module trains 4 steps and is checkpointed weights-only
  (``ModelCheckpoint(save_weights_only=True)``); ``weights_error``, ``weights_fresh``, ``weights_continue``: it
  resumes that checkpoint to step 8 with that ``resume_changed_setup``; ``hand_weights``: the hand-written module,
  given the weights ``weights_first`` ended with (``load_state_dict``), trains 4 steps without ``ckpt_path``.

Rank 0 writes ``<run>.json``: the lr of every group before every batch, the Adam ``step`` of every
parameter at the end, and the full weights.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests.helpers` in every launched rank

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import BaseFinetuning, ModelCheckpoint
from lightning.pytorch.strategies import ModelParallelStrategy
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, ParamGroup, SchedulerSpec
from tests.helpers import DestroyProcessGroup, LrRecorder


class Net(LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Linear(4, 8)
        self.b = nn.Linear(8, 4)

    def configure_model(self) -> None:
        from torch.distributed.fsdp import fully_shard

        if self.device_mesh is None:  # a DDP run's
            return
        mesh = self.device_mesh["data_parallel"]
        fully_shard(self.a, mesh=mesh)
        fully_shard(self.b, mesh=mesh)
        fully_shard(self, mesh=mesh)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.b(torch.relu(self.a(x))), y)


def declared(lr: float) -> OptimizerSpec:
    return OptimizerSpec(
        torch.optim.AdamW,
        lr=0.1,
        weight_decay=0.01,
        no_decay=("bias",),
        implementation="forloop",
        groups=[ParamGroup("a", lr=lr)],
        scheduler=SchedulerSpec("step", step_size=2, gamma=0.5, interval="step"),
    )


class Mixin(ConfigurableOptimizersMixin, Net):
    optimizer = declared(0.05)


class Changed(Mixin):
    optimizer = declared(0.02)


class Fresh(Changed):
    resume_changed_setup = "fresh"


class Continue(Changed):
    resume_changed_setup = "continue"


class WeightsFresh(Mixin):
    resume_changed_setup = "fresh"


class WeightsContinue(Mixin):
    resume_changed_setup = "continue"


def fewer_or_added(*groups: ParamGroup) -> OptimizerSpec:
    return OptimizerSpec(
        torch.optim.AdamW,
        lr=0.1,
        weight_decay=0.01,
        implementation="forloop",
        groups=[*groups, ParamGroup("a", lr=0.05, name="a")],
        scheduler=SchedulerSpec("step", step_size=2, gamma=0.5, interval="step"),
    )


class Fewer(ConfigurableOptimizersMixin, Net):
    optimizer = fewer_or_added()


class Added(Fewer):
    optimizer = fewer_or_added(ParamGroup("b.bias", lr=0.02, name="b_bias"))


class AddedFresh(Added):
    resume_changed_setup = "fresh"


class AddedContinue(Added):
    resume_changed_setup = "continue"


class Unfreezes(ConfigurableOptimizersMixin, Net):
    optimizer = OptimizerSpec(torch.optim.Adam, lr=0.01, implementation="forloop")

    def __init__(self) -> None:
        super().__init__()
        self.b.requires_grad_(False)

    def on_train_epoch_start(self) -> None:
        if self.current_epoch == 1:
            BaseFinetuning.unfreeze_and_add_param_group(self.b, self.trainer.optimizers[0], lr=0.005)


class Hand(Net):
    """``Mixin`` written by hand."""

    def configure_optimizers(self) -> Any:
        a, b = self.a, self.b
        groups = [
            {"params": [a.weight], "lr": 0.05, "weight_decay": 0.01},
            {"params": [a.bias], "lr": 0.05, "weight_decay": 0.0},
            {"params": [b.weight], "weight_decay": 0.01},
            {"params": [b.bias], "weight_decay": 0.0},
        ]
        optimizer = torch.optim.AdamW(groups, lr=0.1, foreach=False)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 2, 0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class Report(Callback):
    """Writes rank 0's record of the run at its end, while the process group is alive (the weights are gathered)."""

    def __init__(self, path: Path, recorder: LrRecorder) -> None:
        self.path, self.recorder = path, recorder

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        state = trainer.optimizers[0].state.values()
        tensors = pl_module.state_dict().items()  # DTensors, or a DDP run's tensors
        weights = {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).tolist() for k, v in tensors}
        if trainer.global_rank == 0:
            steps = [float(s["step"]) for s in state]
            report = {"lrs": self.recorder.history, "steps": steps, "weights": weights}
            self.path.write_text(json.dumps(report))


def data() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(32, 4, generator=generator)
    return DataLoader(TensorDataset(inputs, torch.randint(0, 4, (32,), generator=generator)), batch_size=4)


def run(out: Path, name: str, module: LightningModule, steps: int, form: str, ckpt_path: str | None) -> None:
    recorder = LrRecorder()
    callbacks = [recorder, Report(out / f"{name}.json", recorder), DestroyProcessGroup()]
    if name.endswith("first"):
        weights_only = name.startswith("weights")
        callbacks.append(
            ModelCheckpoint(
                dirpath=out, filename=name, every_n_train_steps=steps, save_weights_only=weights_only
            )
        )
    strategy: Any = ModelParallelStrategy(
        data_parallel_size=2, tensor_parallel_size=1, save_distributed_checkpoint=form == "distributed"
    )
    if name.endswith("ddp_first"):
        strategy = "ddp"
    # the weights-only runs train on the same 4 batches every epoch: resumed at step 4, the next epoch trains on
    # those a new run starts with
    same_batches = "weights" in name
    trainer = Trainer(
        accelerator="cpu",
        devices=2,
        strategy=strategy,
        max_steps=steps,
        use_distributed_sampler=not same_batches,
        limit_train_batches=4 if same_batches else None,
        logger=False,
        enable_checkpointing=name.endswith("first"),
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )
    trainer.fit(module, data(), ckpt_path=ckpt_path)


#: each run: its module, its steps, and the checkpoint it resumes (one fit a process: a launched rank's second fit
#: may wait forever on a process group of the first)
RUNS: dict[str, tuple[type[LightningModule], int, str | None]] = {
    "mixin_first": (Mixin, 4, None),
    "fresh": (Fresh, 8, "mixin_first"),
    "continue": (Continue, 8, "mixin_first"),
    "error": (Changed, 8, "mixin_first"),
    "fewer_first": (Fewer, 4, None),
    "added_fresh": (AddedFresh, 8, "fewer_first"),
    "added_continue": (AddedContinue, 8, "fewer_first"),
    "added_error": (Added, 8, "fewer_first"),
    "added_ddp_first": (Added, 4, None),
    "added_from_ddp": (Added, 8, "added_ddp_first"),
    "unfreezes_first": (Unfreezes, 6, None),
    "unfreezes_resumed": (Unfreezes, 8, "unfreezes_first"),
    "hand_full": (Hand, 8, None),
    "hand_first": (Hand, 4, None),
    "mixin_resumed": (Mixin, 8, "hand_first"),
    "weights_first": (Mixin, 4, None),
    "weights_error": (Mixin, 8, "weights_first"),
    "weights_fresh": (WeightsFresh, 8, "weights_first"),
    "weights_continue": (WeightsContinue, 8, "weights_first"),
    "hand_weights": (Hand, 4, None),
}


def main(name: str, form: str, out: Path) -> None:
    cls, steps, resumed = RUNS[name]
    checkpoint = None if resumed is None else str(out / f"{resumed}.ckpt")
    module = cls()
    if name == "hand_weights":  # the weights loaded into the module before `fit`, which then starts a new run
        saved = json.loads((out / "weights_first.json").read_text())["weights"]
        module.load_state_dict({key: torch.tensor(value) for key, value in saved.items()})
    try:
        run(out, name, module, steps, form, ckpt_path=checkpoint)
    except ValueError as error:  # Lightning then ends the other rank
        (out / f"{name}.txt").write_text(str(error))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
