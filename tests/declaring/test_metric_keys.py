"""Two declared optimizers never share an ``LRMonitor`` key: refused when the class is defined."""

from __future__ import annotations

import warnings
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import CSVLogger

from lightning_optim import ConfigurableOptimizersMixin, LRMonitor, OptimizerSpec, ParamGroup, SchedulerSpec
from tests.helpers import FAST, TwoNets, TwoNetsByName, loader


def gan(gen_name: str | None, dis_name: str | None, **gen_options: Any) -> type[Any]:
    def spec(params: str, lr: float, name: str | None, **options: Any) -> OptimizerSpec:
        scheduler = SchedulerSpec("exponential", gamma=0.5, interval="step", name=name)
        return OptimizerSpec("adam", params=params, lr=lr, scheduler=scheduler, **options)

    attributes = {
        "gen_opt": spec("model_gen", 1e-3, gen_name, **gen_options),
        "dis_opt": spec("model_dis", 1e-2, dis_name),
    }
    return type("GAN", (ConfigurableOptimizersMixin, TwoNetsByName), attributes)


class HandWrittenGAN(TwoNets):
    """The same two optimizers and schedulers in Lightning's own format, both configs named ``lr``."""

    def configure_optimizers(self) -> Any:
        optimizers = [Adam(self.model_gen.parameters(), lr=1e-3), Adam(self.model_dis.parameters(), lr=1e-2)]
        schedulers = [
            {
                "scheduler": torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.5),
                "interval": "step",
                "name": "lr",
            }
            for o in optimizers
        ]
        return optimizers, schedulers


Adam = torch.optim.Adam


def test_the_reference_interleaves_two_optimizers_logged_under_one_name(tmp_path: Any) -> None:
    """What the refusal prevents: Lightning's monitor logs both optimizers as one series, silently."""
    monitor = LearningRateMonitor()
    trainer = L.Trainer(
        **{**FAST, "logger": CSVLogger(tmp_path)}, max_epochs=1, callbacks=[monitor], log_every_n_steps=1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(HandWrittenGAN(), loader())
    # (manual optimization: Lightning does not step the schedulers, so the lrs stay; one series for both)
    assert monitor.lrs == {"lr": [1e-3, 1e-2] * 4}


@pytest.mark.parametrize(
    ("gen_name", "dis_name", "clash"),
    [
        ("lr", "lr", "both log under `lr`"),
        ("lr-dis_opt", None, "both log under `lr-dis_opt`"),
        ("lr/gan", "lr", "`lr/gan` is the key of the param group `gan` of the optimizer logged under `lr`"),
        ("lr-momentum", "lr", "`lr-momentum` is the `momentum` key of the optimizer logged under `lr`"),
    ],
)
def test_a_key_collision_is_refused_at_class_definition_naming_both(
    gen_name: str, dis_name: str | None, clash: str
) -> None:
    with pytest.raises(ValueError) as caught:
        gan(gen_name, dis_name)
    dis = (
        f"`GAN.dis_opt.scheduler` (`name={dis_name!r}`)"
        if dis_name
        else "`GAN.dis_opt` (logged as `lr-dis_opt` after its attribute name)"
    )
    assert str(caught.value) == (
        f"GAN: Expected each optimizer to have `LRMonitor` keys of its own but `GAN.gen_opt.scheduler` "
        f"(`name={gen_name!r}`) and {dis} collide: {clash}, so their learning rates would be logged as one "
        "series, interleaved. Give them different scheduler `name=`s, or leave `name` out (each optimizer is "
        "then logged as `lr-<attribute>`)."
    )


def test_a_subclass_renaming_into_a_collision_is_refused() -> None:
    base = gan("gen", "dis")
    with pytest.raises(
        ValueError, match=r"`Sub.gen_opt.scheduler` .* and `Sub.dis_opt.scheduler` .* both log under `dis`"
    ):
        type(
            "Sub",
            (base,),
            {
                "gen_opt": OptimizerSpec(
                    "adam", params="model_gen", scheduler=SchedulerSpec("step", step_size=1, name="dis")
                )
            },
        )


@pytest.mark.filterwarnings(
    "ignore:`LRMonitor` is used with a `Trainer` that has no logger"
)  # expected: no logger here
def test_distinct_keys_train_and_log_one_series_per_optimizer() -> None:
    """Names that only share a beginning (`lr/gen`, `lr/dis`) are not a collision: a real fit logs each apart,
    equal to what Lightning's monitor logs for the hand-written module under distinct names."""
    module = gan("lr/gen", "lr/dis", groups=[ParamGroup("model_gen.layer1", name="first")])()
    ours = LRMonitor()
    L.Trainer(**FAST, max_epochs=1, callbacks=[ours], log_every_n_steps=1).fit(module, loader())
    halving = [1e-3 * 0.5**i for i in range(4)]
    assert {key: list(values) for key, values in ours.lrs.items()} == {
        "lr/gen/first": halving,
        "lr/gen/rest": halving,
        "lr/dis": [1e-2 * 0.5**i for i in range(4)],
    }
