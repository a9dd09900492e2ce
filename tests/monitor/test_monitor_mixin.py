"""``LRMonitor`` (and Lightning's own ``LearningRateMonitor``) on modules built by the mixin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import BackboneFinetuning, LearningRateMonitor
from lightning.pytorch.loggers import CSVLogger
from torch.optim import SGD

from lightning_optim import ConfigurableOptimizersMixin, LRMonitor, OptimizerSpec, ParamGroup, SchedulerSpec
from tests.helpers import Classifier, fit, no_logger
from tests.training.test_multi_optimizer import GAN

# both publishing paths of ``PublishedScalars`` (see conftest.py)
pytestmark = pytest.mark.usefixtures("publish_path")


def test_gan_keys_are_attribute_names() -> None:
    monitor = LRMonitor(logging_interval="step")
    with no_logger():
        fit(GAN(), max_epochs=2, callbacks=[monitor], log_every_n_steps=1)
    assert set(monitor.lrs) == {"lr-gen_opt", "lr-dis_opt"}
    # manual optimization: each batch is two optimizer steps, logged at every step of a 4-batch epoch
    assert monitor.lrs["lr-gen_opt"][:2] == pytest.approx([0.01, 0.0099])
    assert monitor.lrs["lr-dis_opt"][-1] == pytest.approx(0.02 * 0.99)


def test_group_names_and_lightnings_monitor_agree(tmp_path: Path) -> None:
    class TwoRates(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(
            SGD,
            lr=0.1,
            groups=[
                ParamGroup("model_gen.layer1", lr=0.5, name="layer1"),
                ParamGroup("model_gen.layer2", name="layer2"),
            ],
            scheduler=SchedulerSpec(
                "lambda", lr_lambda={"layer1": lambda e: 0.9**e, "layer2": lambda e: 0.95**e}
            ),
        )

    ours, theirs = LRMonitor(), LearningRateMonitor()
    fit(TwoRates(), max_epochs=3, callbacks=[ours, theirs], logger=CSVLogger(tmp_path))
    assert set(ours.lrs) == {"lr-optimizer/layer1", "lr-optimizer/layer2"}
    assert ours.lrs == {key: [float(v) for v in values] for key, values in theirs.lrs.items()}
    assert ours.lrs["lr-optimizer/layer1"] == pytest.approx([0.5, 0.45, 0.405])


class WithHead(Classifier):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = self.model_gen.layer1  # what ``BackboneFinetuning`` freezes, then trains


class NamedHead(ConfigurableOptimizersMixin, WithHead):
    optimizer = OptimizerSpec(
        SGD,
        lr=0.1,
        groups=[ParamGroup("model_gen.layer2", name="head")],
        scheduler=SchedulerSpec("step", step_size=1, gamma=0.5),
    )


class NamedHeadReference(WithHead):
    """``NamedHead`` written by hand: the head's group named, the scheduler config named as the mixin names it."""

    def configure_optimizers(self) -> Any:
        optimizer = SGD([{"params": self.model_gen.layer2.parameters(), "name": "head"}], lr=0.1)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "name": "lr-optimizer"}}


def test_an_explicitly_named_only_group_keeps_its_key_as_lightnings_monitor(tmp_path: Path) -> None:
    # the frozen backbone leaves the head the optimizer's only group until BackboneFinetuning adds the backbone's
    def run(module: L.LightningModule, monitor: L.Callback, directory: str) -> dict[str, list[float]]:
        callbacks = [BackboneFinetuning(unfreeze_backbone_at_epoch=1), monitor]
        fit(module, max_epochs=3, callbacks=callbacks, logger=CSVLogger(tmp_path / directory))
        return {key: [float(v) for v in values] for key, values in monitor.lrs.items()}

    theirs = run(NamedHeadReference(), LearningRateMonitor(), "reference")
    assert list(theirs) == ["lr-optimizer/head", "lr-optimizer/pg2"]
    assert run(NamedHead(), LRMonitor(), "ours") == theirs
    assert run(NamedHead(), LearningRateMonitor(), "lightning") == theirs
    assert theirs["lr-optimizer/head"] == pytest.approx([0.1, 0.05, 0.025])
