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


class ReplacedOnFitStart(FrozenFirst):
    """Replaces ``model_gen.layer2`` in ``on_fit_start``, after the optimizers were built (new parameter tensors),
    and with ``unfreeze`` also unfreezes the frozen ``model_gen.layer1`` there."""

    unfreeze = False

    def on_fit_start(self) -> None:
        self.model_gen.layer2 = nn.Linear(16, 4)
        if self.unfreeze:
            self.model_gen.layer1.requires_grad_(True)


def replaced(unfreeze: bool) -> ReplacedOnFitStart:
    attributes = {"optimizer": OptimizerSpec("sgd", lr=0.1), "unfreeze": unfreeze}
    return type("Declared", (ConfigurableOptimizersMixin, ReplacedOnFitStart), attributes)()


def test_a_submodule_replaced_after_the_optimizers_were_built_is_not_told_it_was_unfrozen() -> None:
    """Was: "`model_gen.layer2.weight`, ... made trainable at epoch 0 ... Unfreeze them with Lightning's
    `BackboneFinetuning`", for parameters that never were frozen."""
    module = replaced(unfreeze=False)
    with pytest.raises(ValueError, match=re.escape("Declared: Expected every trainable parameter")) as err:
        fit(module)
    message = str(err.value)
    assert (
        "`model_gen.layer2.weight`, `model_gen.layer2.bias`, which did not exist when the optimizers were built"
        in message
    )
    assert "Build or replace submodules in `__init__`, `setup` or `configure_model`" in message
    assert "made trainable" not in message and "BackboneFinetuning" not in message
    assert module.trainer.global_step == 0


def test_replaced_and_unfrozen_parameters_are_told_apart() -> None:
    with pytest.raises(ValueError) as err:
        fit(replaced(unfreeze=True))
    message = str(err.value)
    assert "`model_gen.layer1.weight`, `model_gen.layer1.bias` made trainable at epoch 0" in message
    assert "BaseFinetuning.unfreeze_and_add_param_group" in message
    assert (
        "`model_gen.layer2.weight`, `model_gen.layer2.bias`, which did not exist when the optimizers"
        in message
    )
