"""Two-process CPU DDP runs of declared modules, run by ``test_ddp.py`` as a script.

``strategy="ddp"`` relaunches this file once per extra rank, so it is a standalone script rather than code in
a test. Usage: ``python _ddp_script.py CASE OUTPUT_DIR`` with CASE one of

- ``single``: one optimizer with two param groups and a per-step scheduler (automatic optimization);
- ``gan``: two optimizers (manual optimization), a per-step and a per-epoch scheduler stepped by the mixin;
- ``fault``: like ``single``, but rank 1 raises in ``training_step`` at batch 2;
- ``plateau_synced`` / ``plateau_unsynced``: a per-step ``ReduceLROnPlateau`` on the training loss, logged with
  and without ``sync_dist`` (automatic optimization); ``gan_unsynced``: the same plateau on ``gan``'s
  ``gen_opt`` (manual optimization); ``hand_unsynced``: ``plateau_unsynced`` written by hand (no mixin);
- ``plateau_gathered`` / ``gan_gathered`` / ``hand_gathered`` / ``hand_gan_gathered``: those plateaus on a
  loss logged without ``sync_dist`` but the same on every rank (``all_gather``'d, then averaged);
- ``plateau_rank0`` / ``gan_rank0``: that loss logged on rank 0 only, the second with ``rank_zero_only=True``
  (a per-step plateau in automatic, a per-epoch one in manual optimization).
- ``uneven``: a per-step cosine declared in epochs on per-rank data of different lengths
  (``use_distributed_sampler=False``), which converts its epochs to each rank's own steps;
  ``uneven_limited``: the same with ``limit_train_batches`` giving every rank as many batches;
  ``uneven_milestones``: a per-step ``MultiStepLR`` with its milestones (a list) declared in epochs on that data.

Each rank writes ``rank<N>.json`` with the lr of every group of every optimizer before every batch; rank
zero's ``CSVLogger`` (fed by ``LRMonitor``) writes ``ddp/version_0/metrics.csv``. A rank whose fit fails
writes its error to ``error<N>.txt``; rank 0 waits for the others' before Lightning ends them.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests.helpers` in every launched rank

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_optim import ConfigurableOptimizersMixin, LRMonitor, OptimizerSpec, ParamGroup, SchedulerSpec
from tests.helpers import DestroyProcessGroup, LrRecorder

BATCHES_PER_RANK = 4
EPOCHS = 2
FAILING_RANK, FAILING_BATCH = 1, 2
UNEVEN_BATCHES = BATCHES_PER_RANK + 2


class Net(LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Linear(4, 4)
        self.head = nn.Linear(4, 1)

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(0)
        n = 2 * BATCHES_PER_RANK * 4
        data = TensorDataset(torch.randn(n, 4, generator=generator), torch.randn(n, 1, generator=generator))
        return DataLoader(data, batch_size=4)

    def loss(self, batch: Any) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.head(torch.relu(self.body(x))), y)


class Single(ConfigurableOptimizersMixin, Net):
    optimizer = OptimizerSpec(
        "sgd",
        lr=0.1,
        momentum=0.9,
        groups=[ParamGroup("head", lr=0.05)],
        scheduler=SchedulerSpec("exponential", gamma=0.5, interval="step"),
    )

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.loss(batch)


class Faulty(Single):
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if self.global_rank == FAILING_RANK and batch_idx == FAILING_BATCH:
            raise RuntimeError(f"rank {FAILING_RANK} fails at batch {FAILING_BATCH}")
        return self.loss(batch)


class GAN(ConfigurableOptimizersMixin, Net):
    gen_opt = OptimizerSpec(
        "adam", params="body", lr=0.01, scheduler=SchedulerSpec("exponential", gamma=0.5, interval="step")
    )
    dis_opt = OptimizerSpec(
        "sgd", params="head", lr=0.02, scheduler=SchedulerSpec("step", step_size=1, gamma=0.1)
    )

    def training_step(self, batch: Any, batch_idx: int) -> None:
        for opt in (self.gen_opt, self.dis_opt):
            opt.zero_grad()
            self.manual_backward(self.loss(batch))
            opt.step()


PLATEAU = SchedulerSpec("plateau", monitor="train_loss", patience=0, factor=0.5, interval="step")


class Plateau(ConfigurableOptimizersMixin, Net):
    optimizer = OptimizerSpec("sgd", lr=0.1, scheduler=PLATEAU)
    sync_dist = True

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)  # each rank's own batches: a different value on each rank
        self.log("train_loss", loss, sync_dist=self.sync_dist)
        return loss


class PlateauUnsynced(Plateau):
    sync_dist = False


class HandUnsynced(Net):
    sync_dist = False

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": plateau, "monitor": "train_loss", "interval": "step"},
        }

    training_step = PlateauUnsynced.training_step


class GANUnsynced(GAN):
    gen_opt = OptimizerSpec("adam", params="body", lr=0.01, scheduler=PLATEAU)

    def training_step(self, batch: Any, batch_idx: int) -> None:
        self.log("train_loss", self.loss(batch))  # without `sync_dist`
        super().training_step(batch, batch_idx)


class PlateauGathered(PlateauUnsynced):
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        # without `sync_dist`, but the same on every rank
        self.log("train_loss", self.all_gather(loss.detach()).mean())
        return loss


class HandGathered(HandUnsynced):
    training_step = PlateauGathered.training_step


class PlateauRank0(Plateau):
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        mean = self.all_gather(loss.detach()).mean()
        if self.trainer.is_global_zero:
            self.log("train_loss", mean)
        return loss


class PlateauRank0Lenient(PlateauRank0):
    optimizer = OptimizerSpec(
        "sgd",
        lr=0.1,
        scheduler=SchedulerSpec("plateau", monitor="train_loss", patience=0, factor=0.5, strict=False),
    )


class GANGathered(GAN):
    gen_opt = OptimizerSpec("adam", params="body", lr=0.01, scheduler=PLATEAU)

    def training_step(self, batch: Any, batch_idx: int) -> None:
        self.log("train_loss", self.all_gather(self.loss(batch).detach()).mean())  # without `sync_dist`
        super().training_step(batch, batch_idx)


class HandGANGathered(Net):
    """``GANGathered`` written by hand: the plateau stepped on the logged loss after each ``gen_opt`` step."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def configure_optimizers(self) -> Any:
        gen_opt = torch.optim.Adam(self.body.parameters(), lr=0.01)
        dis_opt = torch.optim.SGD(self.head.parameters(), lr=0.02)
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(gen_opt, patience=0, factor=0.5)
        return [gen_opt, dis_opt], [plateau, torch.optim.lr_scheduler.StepLR(dis_opt, step_size=1, gamma=0.1)]

    def training_step(self, batch: Any, batch_idx: int) -> None:
        loss = self.all_gather(self.loss(batch).detach()).mean()
        for opt in self.optimizers():
            opt.zero_grad()
            self.manual_backward(self.loss(batch))
            opt.step()
        self.lr_schedulers()[0].step(loss)

    def on_train_epoch_end(self) -> None:
        self.lr_schedulers()[1].step()


class GANRank0(GAN):
    gen_opt = OptimizerSpec(
        "adam", params="body", lr=0.01, scheduler=SchedulerSpec("plateau", monitor="train_loss", patience=0)
    )

    def training_step(self, batch: Any, batch_idx: int) -> None:
        mean = self.all_gather(self.loss(batch).detach()).mean()
        if self.trainer.is_global_zero:
            self.log("train_loss", mean, rank_zero_only=True, on_epoch=True)
        super().training_step(batch, batch_idx)


class Uneven(ConfigurableOptimizersMixin, Net):
    """A per-step cosine over ``EPOCHS`` epochs on per-rank data of different lengths (the distributed sampler
    off): ``UNEVEN_BATCHES`` per epoch on rank 0, ``BATCHES_PER_RANK`` on rank 1."""

    optimizer = OptimizerSpec(
        "sgd", lr=0.1, scheduler=SchedulerSpec("cosine", T_max=EPOCHS, unit="epoch", interval="step")
    )

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(self.global_rank)
        n = 4 * (UNEVEN_BATCHES if self.global_rank == 0 else BATCHES_PER_RANK)
        data = TensorDataset(torch.randn(n, 4, generator=generator), torch.randn(n, 1, generator=generator))
        return DataLoader(data, batch_size=4)

    training_step = Single.training_step


class UnevenMilestones(Uneven):
    """``Uneven`` with a per-step ``MultiStepLR`` whose milestones, a list, are declared in epochs."""

    optimizer = OptimizerSpec(
        "sgd", lr=0.1, scheduler=SchedulerSpec("multistep", milestones=[1], unit="epoch", interval="step")
    )


class Errors(Callback):
    """Writes this rank's error; rank 0 waits (20 s at most) for the others' before Lightning ends them."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        error = f"{type(exception).__name__}: {exception}"
        Path(self.out, f"error{trainer.global_rank}.txt").write_text(error)
        if trainer.global_rank == 0:
            others = [Path(self.out, f"error{rank}.txt") for rank in range(1, trainer.world_size)]
            deadline = time.monotonic() + 20
            while not all(p.exists() for p in others) and time.monotonic() < deadline:
                time.sleep(0.1)


CASES = {
    "single": Single,
    "gan": GAN,
    "fault": Faulty,
    "plateau_synced": Plateau,
    "plateau_unsynced": PlateauUnsynced,
    "gan_unsynced": GANUnsynced,
    "hand_unsynced": HandUnsynced,
    "plateau_gathered": PlateauGathered,
    "hand_gathered": HandGathered,
    "gan_gathered": GANGathered,
    "hand_gan_gathered": HandGANGathered,
    "plateau_rank0": PlateauRank0,
    "plateau_rank0_lenient": PlateauRank0Lenient,
    "gan_rank0": GANRank0,
    "uneven": Uneven,
    "uneven_limited": Uneven,
    "uneven_milestones": UnevenMilestones,
}
#: the Trainer's options of a case, beside those of every case: ``uneven`` trains every batch of each rank's data
#: (``max_steps``: the steps of the shorter rank, which both take, so DDP never waits for a rank that stopped)
OPTIONS: dict[str, dict[str, Any]] = {
    "uneven": {
        "use_distributed_sampler": False,
        "limit_train_batches": None,
        "max_steps": BATCHES_PER_RANK * EPOCHS,
    },
    "uneven_limited": {"use_distributed_sampler": False},
}
OPTIONS["uneven_milestones"] = OPTIONS["uneven"]


def main(case: str, out: Path) -> None:
    module = CASES[case]()
    history = LrRecorder()
    trainer = Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        log_every_n_steps=1,
        logger=CSVLogger(out, name="ddp", version=0),
        callbacks=[LRMonitor(logging_interval="step"), history, Errors(out), DestroyProcessGroup()],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **{"max_epochs": EPOCHS, "limit_train_batches": BATCHES_PER_RANK, **OPTIONS.get(case, {})},
    )
    trainer.fit(module)
    weights = {name: p.detach().flatten().tolist() for name, p in module.named_parameters()}
    report = {
        "history": history.history,
        "global_step": trainer.global_step,
        "weights": weights,
        "process_group": torch.distributed.is_initialized(),
    }
    Path(out, f"rank{trainer.global_rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
