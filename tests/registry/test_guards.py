"""A learning rate that becomes NaN, infinite or negative stops training at the step where it appears."""

from __future__ import annotations

import math
import re

import pytest
import torch

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, ParamGroup, SchedulerSpec
from lightning_optim.utilities import compat
from tests.helpers import (
    Classifier,
    LrRecorder,
    TwoNets,
    compiled_holds_sgd_lr_and_adam_betas,
    declared,
    fit,
)

NAN, INF = float("nan"), float("inf")


def classifier(spec: OptimizerSpec) -> Classifier:
    return declared(spec, name="Model")()


def nan_from_epoch_2(epoch: int) -> float:
    return NAN if epoch >= 2 else 1.0


def one_minus(step: int) -> float:
    return 1.0 - step


def inf_from_step_2(step: int) -> float:
    return INF if step >= 2 else 1.0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        # per epoch, 4 batches an epoch: the lr is NaN from epoch 2, i.e. before the 9th optimizer step
        (
            OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec("lambda", lr_lambda=nan_from_epoch_2)),
            "Model.optimizer: Expected the lr of param group 0 to be a finite number >= 0 but got nan "
            "before this optimizer's step 9 (global step 8, epoch 2, batch 0)",
        ),
        # per step: 0.1 * (1 - k) is 0.1, 0.0, then -0.1 before the third step
        (
            OptimizerSpec(
                "adam", lr=0.1, scheduler=SchedulerSpec("lambda", lr_lambda=one_minus, interval="step")
            ),
            "Model.optimizer: Expected the lr of param group 0 to be a finite number >= 0 but got -0.1 "
            "before this optimizer's step 3 (global step 2, epoch 0, batch 2)",
        ),
        # named groups: the message names the first group whose lr is out of range
        (
            OptimizerSpec(
                "sgd",
                lr=0.1,
                groups=[ParamGroup("model_gen.layer2", name="head", lr=0.5)],
                scheduler=SchedulerSpec("lambda", lr_lambda=inf_from_step_2, interval="step"),
            ),
            # (from its second update: a bad lr at the first is refused when the class is defined)
            "Model.optimizer: Expected the lr of param group `head` to be a finite number >= 0 but got inf "
            "before this optimizer's step 3 (global step 2, epoch 0, batch 2)",
        ),
    ],
    ids=["nan-per-epoch", "negative-per-step", "inf-named-group"],
)
def test_automatic_optimization_stops_at_the_bad_step(spec: OptimizerSpec, message: str) -> None:
    module = classifier(spec)
    recorder = LrRecorder()
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        fit(module, max_epochs=4, callbacks=[recorder])
    # every step before the bad one ran with a valid lr, and the weights never saw the bad one
    assert all(math.isfinite(lr) and lr >= 0 for step in recorder.history[:-1] for lr in step[0])
    assert all(torch.isfinite(p).all() for p in module.parameters())


class GAN(ConfigurableOptimizersMixin, TwoNets):
    gen_opt = OptimizerSpec("adam", params="model_gen", lr=0.01)
    dis_opt = OptimizerSpec(
        "sgd",
        params="model_dis",
        lr=0.02,
        scheduler=SchedulerSpec("lambda", lr_lambda=nan_from_epoch_2),
    )


def test_manual_optimization_stops_at_the_bad_step() -> None:
    module = GAN()
    # the mixin steps `dis_opt`'s per-epoch scheduler itself; its lr is NaN from epoch 2. In manual
    # optimization the global step counts both optimizers' steps: 2 per batch, 8 per epoch.
    with pytest.raises(
        ValueError,
        match=r"^GAN.dis_opt: Expected the lr of param group 0 to be a finite number >= 0 but got nan "
        r"before this optimizer's step 9 \(global step 17, epoch 2, batch 0\)",
    ):
        fit(module, max_epochs=4)
    assert all(torch.isfinite(p).all() for p in module.parameters())


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            OptimizerSpec("sgd", lr=NAN),
            r"^Model.optimizer: Expected `lr` to be a finite number >= 0 but got nan\.$",
        ),
        (
            OptimizerSpec("adam", lr=INF),
            r"^Model.optimizer: Expected `lr` to be a finite number >= 0 but got inf\.$",
        ),
        (
            OptimizerSpec("sgd", lr=0.1, groups=[ParamGroup("*.bias"), ParamGroup("*.weight", lr=INF)]),
            r"^Model.optimizer.groups\[1\]: Expected `lr` to be a finite number >= 0 but got inf\.$",
        ),
    ],
    ids=["sgd-nan", "adam-inf", "group-inf"],
)
def test_non_finite_declared_lr_fails_at_class_definition(spec: OptimizerSpec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        declared(spec, name="Model")


def test_tensor_learning_rates_train() -> None:
    # a 0-dim CPU tensor lr is read (no device sync); one on an accelerator is left to torch (`number_in`)
    module = classifier(OptimizerSpec("sgd", lr=torch.tensor(0.1)))
    recorder = fit(module, max_epochs=1)
    assert recorder.of() == pytest.approx([0.1] * 4)


def cosine_beta1_at(step: int, total: int = 4, start: float = 0.9, end: float = 1.5) -> float:
    """``CosineAnnealingLR``'s value of a ``param="beta1"`` schedule from ``start`` to ``end`` in ``total`` steps."""
    return end + (start - end) * (1 + math.cos(math.pi * step / total)) / 2


@pytest.mark.slow
@pytest.mark.skipif(compat.compile_unavailable("cpu") is not None, reason="torch.compile unavailable here")
@pytest.mark.parametrize("implementation", ["forloop", "compiled"])
@pytest.mark.parametrize(
    ("scheduler", "option", "accepted", "bad"),
    [
        # 0.1 * (1 - k): 0.1, 0.0, then -0.1 before the third step
        (SchedulerSpec("lambda", lr_lambda=one_minus, interval="step"), "lr", "a finite number >= 0", -0.1),
        # a cosine from 0.9 to 1.5 over the run's 4 steps: 1.2 before the third step
        pytest.param(
            SchedulerSpec("cosine", param="beta1", eta_min=1.5, interval="step"),
            "beta1",
            r"a number in \[0, 1\)",
            cosine_beta1_at(2),
            marks=compiled_holds_sgd_lr_and_adam_betas,
        ),
    ],
    ids=["negative-lr", "beta1-above-1"],
)
def test_compiled_step_stops_at_the_bad_step_as_the_eager_one(
    implementation: str, scheduler: SchedulerSpec, option: str, accepted: str, bad: float
) -> None:
    # the compiled step holds lr and betas as 0-dim CPU tensors: read without a device sync, they are guarded too
    module = classifier(OptimizerSpec("adam", lr=0.1, implementation=implementation, scheduler=scheduler))
    with pytest.raises(ValueError) as raised:
        fit(module, max_epochs=1)
    found = re.match(
        rf"^Model.optimizer: Expected the {option} of param group 0 to be {accepted} but got (\S+) "
        r"before this optimizer's step 3 \(global step 2, epoch 0, batch 2\)",
        str(raised.value),
    )
    assert found is not None, str(raised.value)
    # the compiled step's tensors are float32: shown as the shortest decimal float32 reads back the same
    assert float(found.group(1)) == pytest.approx(bad, rel=1e-7)
    assert all(torch.isfinite(p).all() for p in module.parameters())
