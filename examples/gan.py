"""A small GAN on the digits data, declared with the seed notes' learning rates and schedulers.

The generator's ExponentialLR(0.99) is stepped after each of its optimizer steps, the discriminator's
once per epoch. Two optimizers switch the module to manual optimization; the mixin steps both
schedulers (Lightning itself never steps schedulers in manual optimization). Prints both learning rates
per epoch and saves a grid of generated digits to ``examples/out/gan_digits.png``.
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


class DigitsGAN(ConfigurableOptimizersMixin, L.LightningModule):
    gen_opt = OptimizerSpec(
        Adam,
        params="model_gen",
        lr=0.01,
        betas=(0.5, 0.999),
        scheduler=SchedulerSpec("exponential", gamma=0.99, interval="step"),
    )
    dis_opt = OptimizerSpec(
        Adam,
        params="model_dis",
        lr=0.02,
        betas=(0.5, 0.999),
        scheduler=SchedulerSpec("exponential", gamma=0.99),
    )

    def __init__(self) -> None:
        super().__init__()
        self.model_gen = nn.Sequential(
            nn.Linear(LATENT, 128), nn.LeakyReLU(0.2), nn.Linear(128, 64), nn.Sigmoid()
        )
        self.model_dis = nn.Sequential(nn.Linear(64, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1))

    def training_step(self, batch: Any, batch_idx: int) -> None:
        real, _ = batch
        noise = torch.randn(len(real), LATENT)
        bce = nn.functional.binary_cross_entropy_with_logits
        ones, zeros = torch.ones(len(real), 1), torch.zeros(len(real), 1)

        fake = self.model_gen(noise)
        dis_loss = bce(self.model_dis(real), ones) + bce(self.model_dis(fake.detach()), zeros)
        self.dis_opt.zero_grad()
        self.manual_backward(dis_loss)
        self.dis_opt.step()

        gen_loss = bce(self.model_dis(fake), ones)
        self.gen_opt.zero_grad()
        self.manual_backward(gen_loss)
        self.gen_opt.step()
        self.log_dict({"gen_loss": gen_loss, "dis_loss": dis_loss}, prog_bar=True)


class PrintLearningRates(L.Callback):
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        gen, dis = trainer.optimizers
        metrics = trainer.callback_metrics
        print(
            f"epoch {trainer.current_epoch:2d}  gen lr={gen.param_groups[0]['lr']:.5f}  "
            f"dis lr={dis.param_groups[0]['lr']:.5f}  gen_loss={float(metrics['gen_loss']):.3f}  "
            f"dis_loss={float(metrics['dis_loss']):.3f}"
        )


def save_grid(module: DigitsGAN, path: str) -> None:
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
    args = parser.parse_args()
    L.seed_everything(0, verbose=False)
    train, _ = digits_loaders()
    module = DigitsGAN()
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
