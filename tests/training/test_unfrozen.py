"""A parameter frozen when ``fit`` starts is in no optimizer; unfrozen later, it is refused, not left untrained.

A hand-written ``SGD(self.parameters())`` holds frozen parameters too, so a module that unfreezes its encoder at
epoch 1 trains it from then on. The declarations take the parameters trainable when ``fit`` starts (API.md), so
the same module would silently keep the encoder's values: it stops instead, naming the parameters and the fix
(``BaseFinetuning.unfreeze_and_add_param_group``), which then trains exactly as the hand-written module does.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch
from lightning.pytorch.callbacks import BaseFinetuning
from torch import nn

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec
from tests.helpers import Classifier, assert_same_weights, fit, weights


class FrozenFirst(Classifier):
    """``model_gen.layer1`` frozen until epoch 1 starts, where the module unfreezes it itself."""

    add_group = False

    def __init__(self) -> None:
        super().__init__()
        self.model_gen.layer1.requires_grad_(False)

    def on_train_epoch_start(self) -> None:
        if self.current_epoch == 1:
            if self.add_group:
                BaseFinetuning.unfreeze_and_add_param_group(
                    self.model_gen.layer1, self.optimizers().optimizer
                )
            else:
                self.model_gen.layer1.requires_grad_(True)


def declared(add_group: bool) -> FrozenFirst:
    step = SchedulerSpec("step", step_size=1, gamma=0.5)
    spec = OptimizerSpec("sgd", lr=0.1, scheduler=step, implementation="forloop")
    attributes = {"optimizer": spec, "add_group": add_group}
    return type("Declared", (ConfigurableOptimizersMixin, FrozenFirst), attributes)()


def test_a_parameter_unfrozen_out_of_every_optimizer_is_refused_before_it_would_train() -> None:
    module = declared(add_group=False)
    frozen = {k: v.clone() for k, v in weights(module).items() if k.startswith("model_gen.layer1")}
    message = (
        "Declared: Expected every trainable parameter to be trained by an optimizer but got "
        "`model_gen.layer1.weight`, `model_gen.layer1.bias` made trainable at epoch 1"
    )
    with pytest.raises(
        ValueError, match=re.escape(message) + ".*BaseFinetuning.unfreeze_and_add_param_group"
    ):
        fit(module)
    assert module.trainer.global_step == 4  # epoch 0's four steps: not one step of epoch 1
    assert all(torch.equal(weights(module)[k], v) for k, v in frozen.items())


def test_unfreezing_with_a_param_group_trains_as_the_hand_written_module() -> None:
    class HandWritten(FrozenFirst):
        add_group = True

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.SGD(
                [p for p in self.parameters() if p.requires_grad], lr=0.1, foreach=False
            )
            return {
                "optimizer": optimizer,
                "lr_scheduler": torch.optim.lr_scheduler.StepLR(optimizer, 1, 0.5),
            }

    module, reference = declared(add_group=True), HandWritten()
    lrs, reference_lrs = fit(module), fit(reference)
    assert lrs.history == reference_lrs.history
    assert_same_weights(module, reference)
    assert not torch.equal(module.model_gen.layer1.weight, FrozenFirst().model_gen.layer1.weight)


def test_a_parameter_unfrozen_mid_epoch_is_refused_at_the_epoch_end() -> None:
    class MidEpoch(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec("sgd", lr=0.1)

        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Linear(4, 4).requires_grad_(False)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            if batch_idx == 2:
                self.head.requires_grad_(True)
            x, y = batch
            return nn.functional.cross_entropy(self.head(self.model_gen(x)), y)

    with pytest.raises(ValueError, match=r"got `head\.weight`, `head\.bias` made trainable at epoch 0"):
        fit(MidEpoch(), max_epochs=1)
