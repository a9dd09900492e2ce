"""A ``SchedulerSpec`` checked when the class is defined (``declaring/scheduler.py``): one warmup at a time."""

from __future__ import annotations

import re
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler

from lightning_optim import HParam, OptimizerSpec, ParamGroup, SchedulerSpec
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


def _frozen_then(step: int) -> float:
    return 0.0 if step < 2 else 1.0


def test_a_warmup_before_a_lambda_holding_one_group_at_0_trains_as_torch() -> None:
    """Freezing the backbone: a per-group ``LambdaLR`` that holds one group at 0 for its first 2 updates, with a
    ``warmup=2`` for the head. The warmup climbs each group to the value its lambda starts at (0 for the backbone,
    0.1 for the head): the head trains, as a hand-written two-group ``LambdaLR`` (it was refused, as if the lr of
    every group stayed 0 for the whole warmup)."""
    groups = [ParamGroup("model_gen.layer1", name="backbone")]
    declared = SchedulerSpec(
        lr_scheduler.LambdaLR, lr_lambda=[_frozen_then, lambda step: 1.0], interval="step", warmup=2
    )
    lrs = fit(helpers.declared(OptimizerSpec("sgd", lr=0.1, groups=groups, scheduler=declared))())
    optimizer = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))]} for _ in range(2)], lr=0.1)
    reference = lr_scheduler.LambdaLR(
        optimizer, [lambda step: 0.0 if step < 4 else 1.0, lambda step: min(1.0, (step + 1) / 3)]
    )
    expected = []
    for _ in range(12):
        expected.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        reference.step()
    assert [step[0] for step in lrs.history] == [pytest.approx(e, rel=1e-12) for e in expected]


@pytest.mark.parametrize(
    "scheduler",
    [
        pytest.param(
            SchedulerSpec(
                lr_scheduler.LambdaLR, lr_lambda=[_frozen_then, lambda step: min(1.0, step / 4)], warmup=2
            ),
            id="lambda-each-group-from-0",
        ),
        pytest.param(
            SchedulerSpec(
                lr_scheduler.CyclicLR, base_lr=0.0, max_lr=0.1, step_size_up=2, interval="step", warmup=2
            ),
            id="cyclic-from-0",
        ),
    ],
)
def test_a_warmup_before_a_scheduler_starting_every_group_at_0_is_refused(scheduler: SchedulerSpec) -> None:
    """Where every group starts at 0, the warmup trains nothing: still refused, beside declared groups too."""
    groups = [ParamGroup("model_gen.layer1", name="backbone")]
    name = getattr(scheduler.scheduler, "__name__", "")
    with pytest.raises(
        ValueError, match=re.escape(f"got `{name}`, which starts the lr at 0 when it is built")
    ):
        helpers.declared(OptimizerSpec("sgd", lr=0.1, groups=groups, scheduler=scheduler))


@pytest.mark.parametrize(("param", "declared"), [("weight_decay", 0.01), ("momentum", 0.9)])
def test_a_warmup_before_an_option_schedule_from_0_says_what_it_would_do(param: str, declared: float) -> None:
    """A weight decay or momentum at 0 still trains: the warmup would hold the option at 0, then the scheduler
    ramp it again (it said 'training nothing', as for the lr)."""
    scheduler = SchedulerSpec("lambda", lr_lambda=lambda step: min(1.0, step / 4), param=param, warmup=2)
    message = (
        f"Expected `warmup=2` on a scheduler that starts at the declared `{param}` but got `LambdaLR`, which starts "
        f"the `{param}` at 0 when it is built: `warmup=` climbs to the `{param}` the scheduler starts at, 0 here, so "
        f"it would hold the `{param}` at 0 for the whole warmup, then `LambdaLR` would ramp it again. Keep one "
        f"warmup: leave `warmup` out (`LambdaLR` rises from 0 itself), or declare a scheduler that starts at the "
        f"declared `{param}`."
    )
    with pytest.raises(ValueError, match=f"^{re.escape('Declared.optimizer.scheduler: ' + message)}$"):
        helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=scheduler, **{param: declared}))


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


def _numpy_declared(option: str, value: Any) -> SchedulerSpec:
    """A scheduler whose ``option`` is ``value``, over the 12 steps of ``fit``'s default run."""
    if option == "frequency":
        return SchedulerSpec("step", step_size=1, gamma=0.5, interval="step", frequency=value)
    if option == "begin":
        return SchedulerSpec("linear", start_factor=0.5, total_iters=2, interval="step", begin=value)
    if option == "end":
        return SchedulerSpec("cosine", interval="step", end=value)
    if option == "warmup_start_factor":
        return SchedulerSpec("cosine", interval="step", warmup=2, warmup_start_factor=value)
    return SchedulerSpec("cosine", interval="step", warmup=value)


_NUMPY_OPTIONS = [
    pytest.param(option, value, kind, id=f"{option}={kind.__name__}({value})")
    for option, value, kinds in [
        ("warmup", 2, (np.int64, np.int32)),
        ("warmup", 0.25, (np.float32, np.float64)),
        ("frequency", 2, (np.int64, np.int32)),
        ("begin", 1, (np.int64, np.int32)),
        ("end", 0.5, (np.float32, np.float64)),
        ("warmup_start_factor", 0.5, (np.float32, np.float64)),
    ]
    for kind in kinds
]


@pytest.mark.parametrize(("option", "value", "kind"), _NUMPY_OPTIONS)
def test_a_numpy_scheduler_option_trains_as_the_python_number(option: str, value: Any, kind: Any) -> None:
    """A sweep's grid gives its values as numpy scalars (``np.random.choice([2, 4])`` is an ``np.int64``): as
    a literal and read from an ``HParam`` at ``fit``, each trains the lrs and weights of the Python number (a
    count stays a count, a fraction a fraction), instead of being refused as no int or float."""
    reference_module = helpers.declared(
        OptimizerSpec("sgd", lr=0.1, scheduler=_numpy_declared(option, value))
    )()
    reference = fit(reference_module).of()
    literal_module = helpers.declared(
        OptimizerSpec("sgd", lr=0.1, scheduler=_numpy_declared(option, kind(value)))
    )()
    assert fit(literal_module).of() == reference
    helpers.assert_same_weights(literal_module, reference_module)

    class Swept(
        helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=_numpy_declared(option, HParam("v"))))
    ):
        def __init__(self, v: Any) -> None:
            super().__init__()
            self.save_hyperparameters()

    swept = Swept(kind(value))
    assert fit(swept).of() == reference
    helpers.assert_same_weights(swept, reference_module)


def test_a_numpy_scheduler_option_is_checked_by_the_python_numbers_range() -> None:
    """A numpy value out of range is refused as the same Python number is, quoting it as given."""
    with pytest.raises(
        ValueError, match=re.escape("Expected `warmup` to be None, an int >= 0") + ".*np.int64\\(-1\\)"
    ):
        helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec("cosine", warmup=np.int64(-1))))
    with pytest.raises(
        ValueError, match=re.escape("Expected `frequency` to be a positive int but got np.int64(0).")
    ):
        helpers.declared(
            OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec("cosine", frequency=np.int64(0)))
        )
    with pytest.raises(
        ValueError,
        match=re.escape("a float in [0, 1) (fraction of the run; 0.0 is none) but got np.float32(1.5)."),
    ):
        helpers.declared(
            OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec("cosine", warmup=np.float32(1.5)))
        )
