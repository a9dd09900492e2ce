"""Values other libraries' optimizers accept when built and fail on inside a step, refused when the class is
defined (found by fuzzing the declarations); the accepted neighbours train with a real Trainer."""

from __future__ import annotations

import inspect
import re
import warnings

import lightning as L
import pytest
from torch.optim.lr_scheduler import CosineAnnealingLR

from lightning_optim import LRMonitor, OptimizerSpec, ParamGroup, SchedulerSpec
from tests.helpers import FAST, declared, loader, transformers_with_torch

#: the default ``eta_min`` a refusal quotes, as torch declares it (torch 2.4: ``0``, later ``0.0``)
COSINE_ETA_MIN = repr(inspect.signature(CosineAnnealingLR).parameters["eta_min"].default)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        # schedule-free's eval() raised ZeroDivisionError after the first epoch
        (
            OptimizerSpec("schedulefree/adamw", betas=(0.0, 0.999)),
            r"^Declared\.optimizer: Expected `betas\[0\]` to be > 0 for a schedule-free optimizer .* but got 0\.0\.$",
        ),
        (
            OptimizerSpec("schedulefree/sgd", lr=0.1, groups=[ParamGroup("0", momentum=0.0)]),
            r"^Declared\.optimizer\.groups\[0\]: Expected `momentum` to be > 0 for a schedule-free optimizer",
        ),
        # a schedule driving schedule-free's momentum (or beta1) to 0 trained, then eval() raised ZeroDivisionError
        (
            OptimizerSpec(
                "schedulefree/sgd", lr=0.1, momentum=0.9, scheduler=SchedulerSpec("cosine", param="momentum")
            ),
            r"^Declared\.optimizer\.scheduler: Expected `eta_min` of `CosineAnnealingLR` to be > 0 \(the value it "
            r"anneals to\) but got "
            + re.escape(COSINE_ETA_MIN)
            + r" \(a schedule of `momentum`, which `SGDScheduleFree` divides by, must keep it > 0\)\.$",
        ),
        (
            OptimizerSpec(
                "schedulefree/adamw",
                scheduler=[SchedulerSpec("linear", param="beta1", end_factor=0.0, interval="step")],
            ),
            r"^Declared\.optimizer\.scheduler\[0\]: Expected `end_factor` of `LinearLR` to be > 0 .* but got 0\.0 "
            r"\(a schedule of `beta1`, which `AdamWScheduleFree` divides by",
        ),
        # transformers' Adafactor raised TypeError (float * None) in its first step
        (
            OptimizerSpec("transformers/adafactor", lr=None),
            r"^Declared\.optimizer: Expected `lr` to be a number with `relative_step=False` .* but got None",
        ),
    ],
)
def test_a_value_that_fails_inside_a_step_is_refused_at_class_definition(
    spec: OptimizerSpec, message: str
) -> None:
    if "schedulefree" in str(spec):
        pytest.importorskip("schedulefree")
    else:
        transformers_with_torch()
    with pytest.raises(ValueError, match=message):
        declared(spec)


@pytest.mark.parametrize(
    "spec",
    [
        OptimizerSpec("schedulefree/adamw", betas=(0.5, 0.999)),
        OptimizerSpec(
            "schedulefree/sgd",
            lr=0.1,
            momentum=0.9,
            scheduler=SchedulerSpec("cosine", param="momentum", eta_min=0.5, interval="step"),
        ),
        OptimizerSpec(
            "schedulefree/adamw",
            scheduler=SchedulerSpec("linear", param="beta1", end_factor=0.5, interval="step"),
        ),
        OptimizerSpec(
            "transformers/adafactor", lr=None, relative_step=True, scale_parameter=True, warmup_init=True
        ),
    ],
)
def test_the_accepted_neighbour_trains(spec: OptimizerSpec) -> None:
    if "schedulefree" in str(spec):
        pytest.importorskip("schedulefree")
    else:
        transformers_with_torch()
    module = declared(spec)()
    monitor = LRMonitor()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        L.Trainer(**FAST, max_epochs=2, callbacks=[monitor], log_every_n_steps=1).fit(module, loader())
    assert module.trainer.global_step > 0
    told = [str(w.message) for w in caught if "`LRMonitor`: `Adafactor`" in str(w.message)]
    if "adafactor" in str(spec):  # no lr to log: said once, and the run trains
        assert len(told) == 1 and "lr=None" in told[0] and monitor.lrs == {}
    else:
        assert not told and monitor.lrs["lr-optimizer"]
