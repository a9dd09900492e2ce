"""``LRMonitor`` (and Lightning's own ``LearningRateMonitor``) on modules built by the mixin."""

from __future__ import annotations

from pathlib import Path

import pytest
from lightning.pytorch.callbacks import LearningRateMonitor
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
