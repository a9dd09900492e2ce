"""A small GAN on the digits data, declared with the seed notes' learning rates and schedulers.

The generator's ExponentialLR(0.99) is stepped after each of its optimizer steps, the discriminator's
once per epoch. Each optimizer declares the method computing its loss (``loss=``), so the mixin writes the
training step: the discriminator steps first, then the generator's loss is computed against the updated
discriminator and it steps (Lightning 1.x's loop over ``optimizer_idx``), each with its schedulers.
``--manual`` trains the same GAN with the hand-written manual loop instead (``ManualDigitsGAN``), which gives
the same weights. Prints both learning rates per epoch and saves a grid of generated digits to
``examples/out/gan_digits.png``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.optim import Adam

sys.path.insert(0, os.path.dirname(__file__))
from _digits import digits_loaders

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec

LATENT = 16


class Digits(L.LightningModule):
    """The networks and the two losses."""

    def __init__(self) -> None:
        super().__init__()
        self.model_gen = nn.Sequential(
            nn.Linear(LATENT, 128), nn.LeakyReLU(0.2), nn.Linear(128, 64), nn.Sigmoid()
        )
        self.model_dis = nn.Sequential(nn.Linear(64, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1))

    def fake(self, real: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model_gen(torch.randn(len(real), LATENT))
        return out

    def dis_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        real, _ = batch
        bce = nn.functional.binary_cross_entropy_with_logits
        real_score, fake_score = self.model_dis(real), self.model_dis(self.fake(real).detach())
        return bce(real_score, torch.ones_like(real_score)) + bce(fake_score, torch.zeros_like(fake_score))

    def gen_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        real, _ = batch
        score = self.model_dis(self.fake(real))
        return nn.functional.binary_cross_entropy_with_logits(score, torch.ones_like(score))


class DigitsGAN(ConfigurableOptimizersMixin, Digits):
    # declaration order is stepping order: the generator's loss sees the updated discriminator
    dis_opt = OptimizerSpec(
        Adam,
        params="model_dis",
        lr=0.02,
        betas=(0.5, 0.999),
        loss="dis_loss",
        scheduler=SchedulerSpec("exponential", gamma=0.99),
    )
    gen_opt = OptimizerSpec(
        Adam,
        params="model_gen",
        lr=0.01,
        betas=(0.5, 0.999),
        loss="gen_loss",
        scheduler=SchedulerSpec("exponential", gamma=0.99, interval="step"),
    )


class ManualDigitsGAN(ConfigurableOptimizersMixin, Digits):
    """The alternative: the same optimizers without ``loss=``, and the manual loop written by hand."""

    dis_opt = OptimizerSpec(
        Adam,
        params="model_dis",
        lr=0.02,
        betas=(0.5, 0.999),
        scheduler=SchedulerSpec("exponential", gamma=0.99),
    )
    gen_opt = OptimizerSpec(
        Adam,
        params="model_gen",
        lr=0.01,
        betas=(0.5, 0.999),
        scheduler=SchedulerSpec("exponential", gamma=0.99, interval="step"),
    )

    def training_step(self, batch: Any, batch_idx: int) -> None:
        for opt, loss_of, name in (
            (self.dis_opt, self.dis_loss, "dis_opt"),
            (self.gen_opt, self.gen_loss, "gen_opt"),
        ):
            self.toggle_optimizer(opt)
            opt.zero_grad()
            loss = loss_of(batch, batch_idx)
            self.manual_backward(loss)
            opt.step()
            self.untoggle_optimizer(opt)
            self.log(f"loss/{name}", loss.detach(), prog_bar=True)


class PrintLearningRates(L.Callback):
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dis, gen = trainer.optimizers
        metrics = trainer.callback_metrics
        print(
            f"epoch {trainer.current_epoch:2d}  gen lr={gen.param_groups[0]['lr']:.5f}  "
            f"dis lr={dis.param_groups[0]['lr']:.5f}  gen_loss={float(metrics['loss/gen_opt']):.3f}  "
            f"dis_loss={float(metrics['loss/dis_opt']):.3f}"
        )


def save_grid(module: Digits, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with torch.no_grad():
        images = module.model_gen(torch.randn(64, LATENT)).reshape(-1, 8, 8)
    figure, axes = plt.subplots(8, 8, figsize=(4, 4))
    for image, axis in zip(images, axes.flat):
        axis.imshow(image, cmap="gray_r")
        axis.axis("off")
    figure.savefig(path, dpi=80)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out", "gan_digits.png"))
    parser.add_argument(
        "--manual", action="store_true", help="train with the hand-written manual loop instead"
    )
    args = parser.parse_args()
    L.seed_everything(0, verbose=False)
    train, _ = digits_loaders()
    module = ManualDigitsGAN() if args.manual else DigitsGAN()
    trainer = L.Trainer(
        max_epochs=args.max_epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[PrintLearningRates()],
    )
    trainer.fit(module, train)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_grid(module, args.out)
    print(f"saved generated digits to {args.out}")


if __name__ == "__main__":
    main()
