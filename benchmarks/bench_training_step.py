"""What the training-step options cost per step: whole fits against their equivalents, in the same process.

Pairs (the same tiny networks and data as ``bench_overhead.py``: ``nn.Linear(32, 32)`` per network, batches of
16 rows, one epoch of ``--steps`` batches, no logger, checkpointing, progress bar or model summary):

* ``skip_nonfinite``: one Adam (for-loop) with a per-step ``ExponentialLR``, declared with
  ``skip_nonfinite=3`` against the same declaration without it: the cost of checking every gradient (one
  kernel per device and dtype, a host read of the flag on the CPU) and of the wrapper around ``step``.
* ``loss=``: a GAN-shaped module (``gen`` and ``dis``, two Adams with per-step schedules) whose optimizers
  declare ``loss=``, so that the mixin writes the training step, against the hand-written manual loop it
  stands for (``toggle_optimizer``, ``zero_grad``, ``manual_backward``, ``step``, the schedulers stepped by
  hand).

No data is non-finite, so both sides of a pair train identically; the script checks the weights after every
round and exits 1 if they differ. Fits are timed on this process's CPU clock, interleaved (the order rotates
every round) after one warm-up fit of each; the ratio is the median over rounds of (option / equivalent).

Run: ``python benchmarks/bench_training_step.py [--steps 300] [--repeats 11]``.
"""

from __future__ import annotations

import argparse
import gc
import logging
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torch.optim import Adam
from torch.optim.lr_scheduler import ExponentialLR
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec

FEATURES, BATCH, LR, GAMMA = 32, 16, 1e-3, 0.999
PER_STEP = SchedulerSpec(ExponentialLR, gamma=GAMMA, interval="step")


def loader(steps: int) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(steps * BATCH, FEATURES, generator=generator)
    return DataLoader(
        TensorDataset(x, torch.randn(steps * BATCH, FEATURES, generator=generator)), batch_size=BATCH
    )


class OneNet(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Linear(FEATURES, FEATURES)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(self.net(x), y)


class Checked(ConfigurableOptimizersMixin, OneNet):
    optimizer = OptimizerSpec(Adam, lr=LR, foreach=False, scheduler=PER_STEP, skip_nonfinite=3)


class Unchecked(ConfigurableOptimizersMixin, OneNet):
    optimizer = OptimizerSpec(Adam, lr=LR, foreach=False, scheduler=PER_STEP)


class TwoNets(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.gen = nn.Linear(FEATURES, FEATURES)
        self.dis = nn.Linear(FEATURES, FEATURES)

    def gen_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(self.dis(self.gen(x)), y)

    def dis_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(self.dis(x), y)


class Declared(ConfigurableOptimizersMixin, TwoNets):
    dis_opt = OptimizerSpec(Adam, params="dis", lr=LR, foreach=False, scheduler=PER_STEP, loss="dis_loss")
    gen_opt = OptimizerSpec(Adam, params="gen", lr=LR, foreach=False, scheduler=PER_STEP, loss="gen_loss")


class HandWritten(TwoNets):
    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def configure_optimizers(self) -> Any:
        dis = Adam(self.dis.parameters(), lr=LR, foreach=False)
        gen = Adam(self.gen.parameters(), lr=LR, foreach=False)
        return [dis, gen], [{"scheduler": ExponentialLR(o, GAMMA), "interval": "step"} for o in (dis, gen)]

    def training_step(self, batch: Any, batch_idx: int) -> None:
        losses = (("loss/dis_opt", self.dis_loss), ("loss/gen_opt", self.gen_loss))
        for opt, sch, (key, loss_of) in zip(self.optimizers(), self.lr_schedulers(), losses):
            self.toggle_optimizer(opt)
            opt.zero_grad()
            loss = loss_of(batch, batch_idx)
            self.manual_backward(loss)
            opt.step()
            sch.step()
            self.untoggle_optimizer(opt)
            self.log(key, loss.detach(), prog_bar=True)  # the mixin logs each loss too


PAIRS = {"skip_nonfinite": (Checked, Unchecked), "loss=": (Declared, HandWritten)}


def timed_fit(cls: type[L.LightningModule], data: DataLoader) -> tuple[float, L.LightningModule]:
    module = cls()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    gc.collect()
    start = time.process_time()
    trainer.fit(module, data)
    return time.process_time() - start, module


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def measure(option: type, equivalent: type, steps: int, repeats: int) -> tuple[float, float, float, bool]:
    data = loader(steps)
    timed_fit(option, data), timed_fit(equivalent, data)  # warm-up
    ratios, times, identical = [], [], True
    for round_ in range(repeats):
        order = [option, equivalent] if round_ % 2 == 0 else [equivalent, option]
        result = {cls: timed_fit(cls, data) for cls in order}
        ratios.append(result[option][0] / result[equivalent][0])
        times.append((result[option][0], result[equivalent][0]))
        identical &= same_weights(result[option][1], result[equivalent][1])
    per_step = [1e6 * statistics.median(t[i] for t in times) / steps for i in (0, 1)]
    return per_step[0], per_step[1], statistics.median(ratios), identical


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    for name in ("lightning.pytorch", "lightning.fabric", "lightning_optim"):
        logging.getLogger(name).setLevel(logging.ERROR)
    print(
        f"torch {torch.__version__}, lightning {L.__version__}, 1 CPU thread; {args.steps} steps per fit, "
        f"{args.repeats} interleaved rounds, cpu clock"
    )
    print(f"{'option':<16} {'µs/step':>9} {'equivalent µs/step':>19} {'ratio':>7} {'same weights':>13}")
    fair = True
    for label, (option, equivalent) in PAIRS.items():
        ours, theirs, ratio, identical = measure(option, equivalent, args.steps, args.repeats)
        fair &= identical
        print(
            f"{label:<16} {ours:>9.1f} {theirs:>19.1f} {ratio:>7.3f} {'yes' if identical else 'NO':>13}",
            flush=True,
        )
    return 0 if fair else 1


if __name__ == "__main__":
    sys.exit(main())
