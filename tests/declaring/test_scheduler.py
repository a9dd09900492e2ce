"""A ``SchedulerSpec`` checked when the class is defined (``declaring/scheduler.py``): one warmup at a time."""

from __future__ import annotations

import re
from typing import Any

import lightning as L
import pytest
from torch.optim import lr_scheduler

from lightning_optim import HParam, OptimizerSpec, SchedulerSpec
from tests import helpers
from tests.helpers import Classifier, fit, torch_lrs

_TWICE = (
    "Expected `warmup={warmup}` on a scheduler that starts at the declared lr but got `{name}`, which warms up "
    "itself from 0 (`{own}`): `warmup=` climbs to the lr the scheduler starts at, 0 here, so the lr would stay 0 "
    "for the whole warmup (training nothing), then `{name}` would warm up again. Keep one warmup: leave `warmup` "
    "out and keep `{own}`, or leave `{argument}` out and keep `warmup={warmup}`."
)


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        pytest.param(
            SchedulerSpec("transformers/linear", num_warmup_steps=0.2, warmup=0.2),
            _TWICE.format(
                warmup=0.2, name="LinearWithWarmupLR", own="num_warmup_steps=0.2", argument="num_warmup_steps"
            ),
            id="transformers-fractions",
        ),
        pytest.param(
            SchedulerSpec("transformers/cosine", num_warmup_steps=4, warmup=4),
            _TWICE.format(
                warmup=4, name="CosineWithWarmupLR", own="num_warmup_steps=4", argument="num_warmup_steps"
            ),
            id="transformers-counts",
        ),
        pytest.param(
            SchedulerSpec("timm/cosine", warmup_t=4, t_in_epochs=False, warmup=4),
            _TWICE.format(warmup=4, name="TimmCosineLR", own="warmup_t=4", argument="warmup_t"),
            id="timm-from-0",
        ),
        pytest.param(
            SchedulerSpec("timm/cosine", warmup_t=4, warmup_lr_init=0.01, t_in_epochs=False, warmup=4),
            "Expected `warmup=4` on a scheduler that starts at the declared lr but got `TimmCosineLR`, which warms up "
            "itself (`warmup_t=4`): `warmup=` climbs to the lr the scheduler starts at, its own warmup's first lr, "
            "so the lr would warm up twice. Keep one warmup: leave `warmup` out and keep `warmup_t=4`, or leave "
            "`warmup_t` out and keep `warmup=4`.",
            id="timm-from-its-init",
        ),
        pytest.param(
            SchedulerSpec("lambda", lr_lambda=lambda step: min(1.0, step / 4), interval="step", warmup=3),
            "Expected `warmup=3` on a scheduler that starts at the declared lr but got `LambdaLR`, which starts the "
            "lr at 0 when it is built: `warmup=` climbs to the lr the scheduler starts at, 0 here, so the lr would "
            "stay 0 for the whole warmup (training nothing). Keep one warmup: leave `warmup` out (`LambdaLR` rises "
            "from 0 itself), or declare a scheduler that starts at the declared lr.",
            id="lambda-from-0",
        ),
    ],
)
def test_a_warmup_on_a_scheduler_that_warms_up_itself_is_refused(
    scheduler: SchedulerSpec, message: str
) -> None:
    """The package's warmup climbs to the lr the scheduler starts at: from a transformers or timm warmup's 0 it
    trained at lr 0.0 for the whole ``warmup`` (``[0.0] * 5``, then the scheduler's own warmup), without a word."""
    with pytest.raises(ValueError, match=f"^{re.escape('Declared.optimizer.scheduler: ' + message)}$"):
        helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=scheduler))


class Warmups(Classifier):
    """A classifier whose hyperparameters give a scheduler's warmups."""

    def __init__(self, warmup: int = 0, warmup_steps: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters()


@pytest.mark.parametrize(
    ("scheduler", "read"),
    [
        pytest.param(
            SchedulerSpec("transformers/linear", num_warmup_steps=4, warmup=HParam("warmup", default=0)),
            "`warmup` from hparam `warmup` = 4",
            id="warmup",
        ),
        pytest.param(
            SchedulerSpec("transformers/linear", num_warmup_steps=HParam("warmup_steps"), warmup=4),
            "`num_warmup_steps` from hparam `warmup_steps` = 4",
            id="num_warmup_steps",
        ),
    ],
)
def test_a_second_warmup_read_from_an_hparam_is_refused_when_fit_starts(
    scheduler: SchedulerSpec, read: str
) -> None:
    """Where only the run's hyperparameters tell the two warmups, the same message when ``fit`` reads them."""
    cls = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=scheduler), base=Warmups)
    message = f"Declared.optimizer.scheduler: {read}: " + _TWICE.format(
        warmup=4, name="LinearWithWarmupLR", own="num_warmup_steps=4", argument="num_warmup_steps"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(cls(warmup=4, warmup_steps=4))
    fit(cls(warmup=0, warmup_steps=0))  # one warmup, or none: trains


def _transformers_linear(warmup_steps: int, training_steps: int, steps: int) -> list[float]:
    transformers = helpers.transformers_with_torch()
    schedule = transformers.optimization.get_linear_schedule_with_warmup
    return torch_lrs(lambda o: schedule(o, warmup_steps, training_steps), steps)


def test_a_warmup_before_a_transformers_schedule_without_its_own_warmup_trains_as_declared() -> None:
    """``num_warmup_steps=0`` starts at the declared lr: the package's warmup climbs to it, then transformers'
    schedule runs from its start over what the run leaves (12 steps - 4), exactly."""
    declared = SchedulerSpec("transformers/linear", num_warmup_steps=0, warmup=4)
    lrs = fit(helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=declared))()).of()
    assert lrs[:4] == pytest.approx([0.1 * k / 5 for k in range(1, 5)], rel=1e-12)
    assert lrs[4:] == _transformers_linear(0, 8, 8)


@pytest.mark.parametrize("warmup", [0, 0.0, None])
def test_no_warmup_beside_a_schedulers_own_trains_as_transformers(warmup: Any) -> None:
    declared = SchedulerSpec("transformers/linear", num_warmup_steps=4, warmup=warmup)
    lrs = fit(helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=declared))()).of()
    assert lrs == _transformers_linear(4, 12, 12)


class WeightDecays(L.Callback):
    """Records the first param group's ``weight_decay`` before every training batch."""

    def __init__(self) -> None:
        self.history: list[float] = []

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self.history.append(float(trainer.optimizers[0].param_groups[0]["weight_decay"]))


def test_a_warmup_on_another_scheduler_of_the_list_than_the_one_warming_up_trains_as_declared() -> None:
    """A list whose transformers schedule warms up the lr and whose step decay of the weight decay has the
    package's warmup: each warmup is its scheduler's only one, and each option follows its hand-computed values."""
    schedulers = [
        SchedulerSpec("transformers/linear", num_warmup_steps=4),
        SchedulerSpec("step", step_size=1, gamma=0.5, interval="step", param="weight_decay", warmup=2),
    ]
    cls = helpers.declared(OptimizerSpec("sgd", lr=0.1, weight_decay=0.1, scheduler=schedulers))
    decays = WeightDecays()
    lrs = fit(cls(), callbacks=[decays]).of()
    assert lrs == _transformers_linear(4, 12, 12)
    expected = [0.1 / 3, 0.2 / 3] + [0.1 * 0.5**k for k in range(10)]
    assert decays.history == pytest.approx(expected, rel=1e-12)


def test_a_warmup_beside_a_listed_scheduler_that_warms_up_itself_is_refused_by_the_list() -> None:
    """``[a cosine with warmup=, a transformers schedule with its own]``: the transformers schedule sets the lr
    outright at every update, discarding the cosine's warmup, which the list check refuses already."""
    schedulers = [
        SchedulerSpec("cosine", interval="step", warmup=4),
        SchedulerSpec("transformers/linear", num_warmup_steps=4),
    ]
    with pytest.raises(
        ValueError, match=r"got `scheduler\[1\]` \(`LinearWithWarmupLR`\), which sets `lr` outright"
    ):
        helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=schedulers))


def test_a_warmup_before_a_cosine_trains_as_torch() -> None:
    declared = SchedulerSpec("cosine", interval="step", warmup=4)
    lrs = fit(helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=declared))()).of()
    assert lrs[:4] == pytest.approx([0.1 * k / 5 for k in range(1, 5)], rel=1e-12)
    assert lrs[4:] == torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=8), 8)
