"""Schedules that know the run: lengths from the Trainer, epoch-defined schedules stepped per step, and
the per-step default of OneCycleLR/CyclicLR.

The data is 4 batches per epoch (``tests.helpers.loader``). Each derived length is checked against a
hand-written ``configure_optimizers`` that wires the length by hand, run on the same Trainer settings.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import lightning as L
import pytest
import torch
from torch.optim import SGD, lr_scheduler

from lightning_optim import (
    ConfigurableOptimizersMixin,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    preview_schedule,
)
from lightning_optim.schedules.timm_cosine import TimmCosineLR
from tests import helpers
from tests.helpers import Classifier, TwoNets, assert_same_weights, fit, torch_lrs


def declared(scheduler: SchedulerSpec) -> type[Classifier]:
    # the same implementation as the hand-written reference, so the weights compare exactly
    spec = OptimizerSpec("sgd", lr=0.1, scheduler=scheduler, implementation="forloop")
    return helpers.declared(spec)


def handwritten(make: Callable[[torch.optim.Optimizer], Any], interval: str) -> type[Classifier]:
    def configure_optimizers(self: Any) -> Any:
        optimizer = SGD(self.parameters(), lr=0.1)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": make(optimizer), "interval": interval}}

    return type("HandWritten", (Classifier,), {"configure_optimizers": configure_optimizers})


@pytest.mark.parametrize(
    ("scheduler", "make", "trainer_kwargs"),
    [
        # 4 batches, accumulating 2 -> 2 optimizer steps per epoch, 4 epochs -> T_max = 8
        (
            SchedulerSpec("cosine", interval="step"),
            lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=8),
            {"accumulate_grad_batches": 2},
        ),
        # max_steps ends the run after 6 of the 16 steps: T_max = 6
        (
            SchedulerSpec("cosine", interval="step"),
            lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=6),
            {"max_steps": 6},
        ),
        # 3 of the 4 batches per epoch, 4 epochs: total_steps = 12
        (
            SchedulerSpec("onecycle", max_lr=0.5),
            lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=12),
            {"limit_train_batches": 3},
        ),
        # frequency 2: the scheduler is stepped every other step, 16 steps -> total_iters = 8
        (
            SchedulerSpec("polynomial", interval="step", frequency=2, power=2.0),
            lambda o: lr_scheduler.PolynomialLR(o, total_iters=8, power=2.0),
            {"frequency": 2},
        ),
        # frequency 3 over 4 batches: stepped after batch 3 of each epoch (Lightning counts `batch_idx + 1`), so
        # the 16 steps train with 5 values, the 5th in the last batch: total_steps = 5 (4, the updates, put that
        # batch past OneCycleLR's end, where it swings back up)
        (
            SchedulerSpec("onecycle", max_lr=0.5, frequency=3),
            lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=5),
            {"frequency": 3},
        ),
        # per epoch with frequency 2 over 5 epochs: updated after epochs 2 and 4, the 5th trains with a 3rd value
        (
            SchedulerSpec("linear", start_factor=0.2, frequency=2),
            lambda o: lr_scheduler.LinearLR(o, start_factor=0.2, total_iters=3),
            {"frequency": 2, "max_epochs": 5},
        ),
        # per epoch: 4 epochs -> total_iters = 4
        (
            SchedulerSpec("linear", start_factor=0.2),
            lambda o: lr_scheduler.LinearLR(o, start_factor=0.2, total_iters=4),
            {},
        ),
        # per epoch with max_steps=9 (4 steps per epoch): the run has ceil(9 / 4) = 3 epochs -> T_max = 3
        (
            SchedulerSpec("cosine"),
            lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=3),
            {"max_steps": 9, "max_epochs": 10},
        ),
    ],
    ids=[
        "accumulation",
        "max_steps",
        "limit_train_batches",
        "frequency",
        "frequency_partial",
        "epoch_frequency_partial",
        "epochs",
        "epochs_max_steps",
    ],
)
def test_length_derived_from_the_run(
    scheduler: SchedulerSpec, make: Any, trainer_kwargs: dict[str, Any]
) -> None:
    kwargs = {"max_epochs": 4, **trainer_kwargs}
    frequency = kwargs.pop("frequency", 1)
    with helpers.lr_replaced(scheduler.scheduler == "onecycle"):  # SGD(lr=0.1) as the reference has it
        ours = declared(scheduler)()
    reference = handwritten(
        make, scheduler.interval or ("step" if scheduler.scheduler == "onecycle" else "epoch")
    )
    if frequency != 1:
        base = reference.configure_optimizers

        def with_frequency(self: Any) -> Any:
            config = base(self)
            config["lr_scheduler"]["frequency"] = frequency
            return config

        reference = type("HandWritten", (reference,), {"configure_optimizers": with_frequency})
    theirs = reference()
    history = fit(ours, **kwargs).history
    assert history == fit(theirs, **kwargs).history
    assert len(set(map(str, history))) > 2
    assert_same_weights(ours, theirs)


class Gan(ConfigurableOptimizersMixin, TwoNets):
    gen_opt = OptimizerSpec(
        "sgd", params="model_gen", lr=0.1, scheduler=SchedulerSpec("cosine", interval="step")
    )
    dis_opt = OptimizerSpec("sgd", params="model_dis", lr=0.2)


@pytest.mark.parametrize(
    ("trainer_kwargs", "t_max"),
    [
        ({"max_epochs": 2}, 8),  # one step of each optimizer per batch: 2 epochs of 4 batches
        # Lightning's max_steps counts the steps of both optimizers: 10 -> 5 batches, 5 steps of each
        ({"max_epochs": 4, "max_steps": 10}, 5),
    ],
    ids=["epochs", "max_steps"],
)
def test_length_in_manual_optimization(trainer_kwargs: dict[str, Any], t_max: int) -> None:
    history = fit(Gan(), **trainer_kwargs).of(0)
    assert history == torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=t_max), t_max)


def unknown_length(interval: str, why: str) -> str:
    """The refusal of a derived ``T_max`` in a run of no known length, as a regex matching it whole."""
    return re.escape(
        f"Declared.optimizer.scheduler: `CosineAnnealingLR` is derived from the run's length in {interval}s "
        f"(`T_max`), but the Trainer's run has no known length ({why}), or give `T_max` explicitly."
    )


@pytest.mark.parametrize("interval", ["step", "epoch"])
@pytest.mark.parametrize(
    ("trainer_kwargs", "why"),
    [
        ({"max_epochs": -1}, "`max_epochs=-1` and no `max_steps`: set `max_epochs` or `max_steps`"),
        (
            {"max_epochs": None, "max_time": {"minutes": 5}},
            "only `max_time` ends it (`max_epochs=-1` and no `max_steps`): set `max_epochs` or `max_steps`",
        ),
    ],
    ids=["endless", "max_time"],
)
def test_unknown_run_length_is_a_clear_error(interval: str, trainer_kwargs: dict[str, Any], why: str) -> None:
    module = declared(SchedulerSpec("cosine", interval=interval))()
    with pytest.raises(ValueError, match=f"^{unknown_length(interval, why)}$"):
        fit(module, **trainer_kwargs)


class _Batches(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """4 batches per epoch, without a length: Lightning knows the run's epochs but not its steps."""

    def __iter__(self) -> Any:
        return iter(helpers.loader())


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        (SchedulerSpec("cosine", interval="step"), r"derived from the run's length in steps \(`T_max`\)"),
        (SchedulerSpec("step", step_size=2, interval="step", warmup=0.2), r"\(`warmup=0.2`\)"),
        (SchedulerSpec("step", step_size=2, interval="step", begin=0.5), r"\(`begin=0.5`\)"),
    ],
    ids=["derived_length", "warmup_fraction", "window_fraction"],
)
def test_unsized_data_without_max_steps_has_no_known_length(scheduler: SchedulerSpec, message: str) -> None:
    """Lightning's ``estimated_stepping_batches`` is ``max_steps`` for unsized data: -1 when unset, which was
    taken as a run of -1 steps (a 1-step warmup for ``warmup=0.2``, ``T_max=-1`` refused as too short). The
    hint names `max_steps`, which this run lacks (it has `max_epochs`, which was named)."""
    data = torch.utils.data.DataLoader(_Batches(), batch_size=None)
    why = "the train dataloader has no length, so the steps of an epoch are unknown: set `max_steps`"
    with pytest.raises(
        ValueError, match=message + rf", but the Trainer's run has no known length \({why}\), or "
    ):
        fit(declared(scheduler)(), data=data, max_epochs=2)


def test_unsized_data_ended_by_max_steps_has_no_known_epochs() -> None:
    data = torch.utils.data.DataLoader(_Batches(), batch_size=None)
    why = "the train dataloader has no length, so the epochs `max_steps` takes are unknown: set `max_epochs`"
    with pytest.raises(ValueError, match=f"^{unknown_length('epoch', why)}$"):
        fit(declared(SchedulerSpec("cosine", interval="epoch"))(), data=data, max_epochs=-1, max_steps=10)


@pytest.mark.parametrize(
    ("scheduler", "limits", "counted", "fix"),
    [
        # 4 batches an epoch: `max_epochs` ends the run after 8 steps, where the cosine was derived over 20
        (
            SchedulerSpec("cosine", interval="step"),
            (2, 20),
            "`T_max` of `CosineAnnealingLR`",
            "give `T_max` explicitly",
        ),
        (
            SchedulerSpec("step", step_size=2, interval="step", warmup=0.2),
            (2, 20),
            "`warmup=0.2` of `StepLR`",
            "give `warmup` as an int",
        ),
        # `max_steps` ends the run in epoch 1, where the cosine was derived over 3 epochs
        (SchedulerSpec("cosine"), (3, 6), "`T_max` of `CosineAnnealingLR`", "give `T_max` explicitly"),
    ],
    ids=["steps", "warmup_fraction", "epochs"],
)
def test_unsized_data_with_max_epochs_and_max_steps_has_no_known_length(
    scheduler: SchedulerSpec, limits: tuple[int, int], counted: str, fix: str
) -> None:
    """Which of ``max_epochs`` and ``max_steps`` ends a run on unsized data is unknown when ``fit`` starts.
    Lightning's ``estimated_stepping_batches`` is ``max_steps`` there, and a run that ``max_epochs`` ended first
    trained the schedule to its middle without an error (a cosine at 0.06 where it ends at 0); so did a per-epoch
    length of ``max_epochs`` in a run ``max_steps`` ended. Refused when ``fit`` starts, naming both limits."""
    data = torch.utils.data.DataLoader(_Batches(), batch_size=None)
    epochs, steps = limits
    counts, other = (
        ("max_steps", "max_epochs") if "interval='step'" in str(scheduler) else ("max_epochs", "max_steps")
    )
    message = (
        "Declared.optimizer.scheduler: Expected one of `max_epochs` and `max_steps` to end a run on a train "
        "dataloader without a length (an `IterableDataset` without `__len__`) but got "
        f"`max_epochs={epochs}` and `max_steps={steps}`: its steps per epoch are unknown, so which of them ends the "
        f"run first is too, and {counted} would count `{counts}` where `{other}` may end the run sooner. Leave "
        f"`{other}` out (`{other}=-1`), give the dataset a `__len__`, set "
        f"`Trainer(limit_train_batches=<batches per epoch>)`, or {fix}."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(declared(scheduler)(), data=data, max_epochs=epochs, max_steps=steps)


def test_unsized_data_trains_a_schedule_that_needs_no_length() -> None:
    """An int warmup and window need no run length: 8 steps of a 2-step warmup, then ``StepLR`` from step 3."""
    data = torch.utils.data.DataLoader(_Batches(), batch_size=None)
    scheduler = SchedulerSpec("step", step_size=2, gamma=0.5, interval="step", warmup=2)
    history = fit(declared(scheduler)(), data=data, max_epochs=2).of(0)
    # warmup factors 1/3, 2/3, then StepLR's 0.1 halved every 2 updates
    assert history == pytest.approx([0.1 / 3, 0.2 / 3, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025], rel=1e-12)


def test_warmup_longer_than_the_run_is_a_clear_error() -> None:
    module = declared(SchedulerSpec("cosine", warmup=3))()
    with pytest.raises(
        ValueError, match=r"`T_max` of `CosineAnnealingLR` is derived as the run's 3 scheduler updates"
    ):
        fit(module, max_epochs=3)


@pytest.mark.parametrize("name", ["onecycle", "cyclic"])
def test_step_schedulers_default_to_per_step(name: str) -> None:
    kwargs = {"max_lr": 0.5} if name == "onecycle" else {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2}
    with helpers.lr_replaced():
        cls = declared(SchedulerSpec(name, **kwargs))
    history = fit(cls(), max_epochs=1).of()
    assert len(set(history)) >= 3  # the lr moves within the (only) epoch: stepped after every batch


@pytest.mark.parametrize("name", ["onecycle", "cyclic"])
@pytest.mark.filterwarnings(helpers.LIGHTNING_ONECYCLE_PER_EPOCH)
def test_step_schedulers_per_epoch_warn_and_step_per_epoch(name: str) -> None:
    kwargs = {"max_lr": 0.5} if name == "onecycle" else {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2}
    with (
        helpers.lr_replaced(),
        pytest.warns(
            UserWarning, match=r"Declared\.optimizer\.scheduler: `.*` is meant to be stepped after every"
        ),
    ):
        cls = declared(SchedulerSpec(name, interval="epoch", **kwargs))
    history = fit(cls(), max_epochs=2).of()
    assert len(set(history[:4])) == 1 and history[4] != history[3]  # constant within an epoch


# ---- epoch-defined schedules updated every step (unit="epoch") -------------------------------------------


@pytest.mark.parametrize(
    ("scheduler", "make", "trainer_kwargs"),
    [
        # step_size 1 epoch = 4 steps
        (
            SchedulerSpec("step", step_size=1, gamma=0.5),
            lambda o: lr_scheduler.StepLR(o, step_size=4, gamma=0.5),
            {},
        ),
        # with accumulation 2, an epoch is 2 optimizer steps: milestones [1, 2] epochs -> [2, 4] steps
        (
            SchedulerSpec("multistep", milestones=[1, 2], gamma=0.5),
            lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, 4], gamma=0.5),
            {"accumulate_grad_batches": 2},
        ),
        # T_max 3 epochs = 12 steps
        (SchedulerSpec("cosine", T_max=3), lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=12), {}),
    ],
    ids=["step", "multistep_accumulation", "cosine"],
)
def test_epoch_unit_matches_the_converted_schedule(
    scheduler: SchedulerSpec, make: Any, trainer_kwargs: dict[str, Any]
) -> None:
    spec = SchedulerSpec(scheduler.scheduler, interval="step", unit="epoch", **scheduler.kwargs)
    ours, theirs = declared(spec)(), handwritten(make, "step")()
    history = fit(ours, **trainer_kwargs).of()
    assert history == fit(theirs, **trainer_kwargs).of()
    assert len(set(history)) > 2
    assert_same_weights(ours, theirs)


def test_epoch_unit_with_warmup_and_derived_length() -> None:
    # an omitted length is already in steps: 3 epochs x 4 steps - 4 steps of warmup (1 epoch) = 8; the
    # warmup climbs in 4 steps to the LinearLR's own start, 0.5 x lr, by 1/5 of it per step
    spec = SchedulerSpec("linear", start_factor=0.5, interval="step", unit="epoch", warmup=1)
    history = fit(declared(spec)()).of()
    expected = [0.1 * 0.5 * (s + 1) / 5 for s in range(4)] + torch_lrs(
        lambda o: lr_scheduler.LinearLR(o, start_factor=0.5, total_iters=8), 8
    )
    assert history == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("scheduler", "per_epoch"),
    [
        (SchedulerSpec("exponential", gamma=0.5), [0.1, 0.05, 0.025]),
        (SchedulerSpec("lambda", lr_lambda=lambda epoch: 1 / (1 + epoch)), [0.1, 0.05, 0.1 / 3]),
    ],
    ids=["exponential", "lambda"],
)
def test_epoch_unit_rates_reach_each_epoch_value_at_its_start(
    scheduler: SchedulerSpec, per_epoch: list[float]
) -> None:
    spec = SchedulerSpec(scheduler.scheduler, interval="step", unit="epoch", **scheduler.kwargs)
    history = fit(declared(spec)()).of()
    assert history[::4] == pytest.approx(per_epoch, rel=1e-12)
    assert all(a > b for a, b in itertools.pairwise(history))  # and decays smoothly, step by step


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"scheduler": "plateau", "monitor": "loss", "interval": "step", "unit": "epoch"},
            r"Expected a scheduler whose epoch-valued arguments are known for `unit='epoch'`.* "
            r"but got `ReduceLROnPlateau`",
        ),
        (
            {"scheduler": "step", "step_size": 1, "interval": "step", "unit": "epoch", "frequency": 2},
            r"Expected `frequency` to be 1 with `unit='epoch'` and `interval='step'` "
            r"but got 2: such a schedule updates the lr after every optimizer step\.$",
        ),
        (
            {"scheduler": "step", "step_size": 1, "interval": "epoch", "unit": "step"},
            r"`unit='step'` declares the schedule in optimizer steps, but `interval='epoch'`",
        ),
        (
            {"scheduler": "step", "step_size": 1, "interval": "step", "unit": "epochs"},
            r"Expected `unit` to be one of `step`, `epoch` but got 'epochs' \(did you mean `epoch`\?\)",
        ),
    ],
    ids=["plateau", "frequency", "step_unit_per_epoch", "typo"],
)
def test_epoch_unit_errors(kwargs: dict[str, Any], message: str) -> None:
    kwargs = dict(kwargs)
    with pytest.raises(ValueError, match=r"Declared\.optimizer\.scheduler: " + message):
        declared(SchedulerSpec(kwargs.pop("scheduler"), **kwargs))


def test_epoch_unit_needs_a_sized_dataloader() -> None:
    data = torch.utils.data.DataLoader(_Stream(), batch_size=None)
    module = declared(SchedulerSpec("step", step_size=1, interval="step", unit="epoch"))()
    with pytest.raises(ValueError, match=r"the number of steps per epoch is unknown"):
        fit(module, data=data, max_steps=4)


class _Stream(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        generator = torch.Generator().manual_seed(0)
        while True:
            yield torch.randn(8, 8, generator=generator), torch.randint(0, 4, (8,), generator=generator)


def _two_groups(optimizer_of: Callable[[list[dict[str, Any]]], torch.optim.Optimizer], module: Any) -> Any:
    layer1, layer2 = module.model_gen.layer1, module.model_gen.layer2
    return optimizer_of([{"params": list(layer1.parameters())}, {"params": list(layer2.parameters())}])


#: timm's cosine over the 9 steps with a floor and a warmup from above 0
TIMM_COSINE = {"t_initial": 9, "lr_min": 4e-4, "warmup_t": 2, "warmup_lr_init": 2e-4}


def _timm_lr_scale(optimizer: torch.optim.Optimizer) -> TimmCosineLR:
    """timm's way of a scaled group: the group at the base lr with an ``lr_scale``, by which its scheduler
    multiplies every lr it sets (timm/scheduler/scheduler.py ``update_groups``; ``TimmCosineLR`` does it as
    timm, tests/schedules/test_timm_cosine.py)."""
    optimizer.param_groups[0]["lr_scale"] = 0.25
    return TimmCosineLR(optimizer, t_in_epochs=False, **TIMM_COSINE)


@pytest.mark.parametrize(
    ("scheduler", "make"),
    [
        # 3 batches, 3 epochs: 9 steps; the hand-written module gives OneCycleLR one max_lr per group, layer1's a
        # quarter of layer2's
        (
            SchedulerSpec("onecycle", max_lr=0.4),
            lambda o: lr_scheduler.OneCycleLR(o, [0.1, 0.4], total_steps=9),
        ),
        # per-group values by name are scaled too
        (
            SchedulerSpec("onecycle", max_lr={"model_gen.layer1": 0.8, "rest": 0.4}),
            lambda o: lr_scheduler.OneCycleLR(o, [0.2, 0.4], total_steps=9),
        ),
        (
            SchedulerSpec("cyclic", base_lr=0.04, max_lr=0.4, step_size_up=2),
            lambda o: lr_scheduler.CyclicLR(o, [0.01, 0.04], [0.1, 0.4], step_size_up=2),
        ),
        # inside a SequentialLR
        (
            SchedulerSpec(
                "sequential",
                schedulers=[
                    SchedulerSpec("constant", factor=0.5, total_iters=2),
                    SchedulerSpec("onecycle", max_lr=0.4, total_steps=10),
                ],
                milestones=[2],
                interval="step",
            ),
            lambda o: lr_scheduler.SequentialLR(
                o,
                [
                    lr_scheduler.ConstantLR(o, factor=0.5, total_iters=2),
                    lr_scheduler.OneCycleLR(o, [0.1, 0.4], total_steps=10),
                ],
                milestones=[2],
            ),
        ),
        # timm's lr_scale scales the floor and the warmup start too: lr_min and warmup_lr_init per group
        (SchedulerSpec("timm/cosine", t_in_epochs=False, **TIMM_COSINE), _timm_lr_scale),
    ],
    ids=["onecycle", "onecycle by group", "cyclic", "inside sequential", "timm"],
)
def test_lr_arguments_keep_the_group_scales(scheduler: SchedulerSpec, make: Callable[..., Any]) -> None:
    """A scheduler that sets every group's lr from its own arguments (``max_lr``, ``base_lr``) keeps the
    groups' ``lr_mult`` (and ``layer_decay``) ratios, as a hand-written module gives it one value per group."""
    spec = OptimizerSpec(
        "sgd",
        groups=[ParamGroup("model_gen.layer1", lr_mult=0.25)],
        scheduler=scheduler,
        implementation="forloop",
    )
    mixin = helpers.declared(spec)()

    def configure_optimizers(self: Any) -> Any:
        optimizer = _two_groups(lambda groups: SGD(groups, lr=1e-3), self)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": make(optimizer), "interval": "step"}}

    reference = type("HandWritten", (Classifier,), {"configure_optimizers": configure_optimizers})()
    declared_lrs, reference_lrs = fit(mixin, limit_train_batches=3), fit(reference, limit_train_batches=3)
    for group in (0, 1):
        assert declared_lrs.of(0, group) == pytest.approx(reference_lrs.of(0, group), rel=1e-12)
    assert declared_lrs.of(0, 0) != pytest.approx(declared_lrs.of(0, 1))  # the scale made a difference
    assert_same_weights(mixin, reference)


class _WeightDecays(L.Callback):
    """Records, before every optimizer step, the weight decay of every param group it steps with."""

    def __init__(self) -> None:
        self.history: list[list[float]] = []

    def on_before_optimizer_step(self, trainer: L.Trainer, module: Any, optimizer: Any) -> None:
        self.history.append([float(g["weight_decay"]) for g in optimizer.param_groups])


@pytest.mark.parametrize(
    ("scheduler", "make"),
    [
        # 3 batches, 3 epochs: 9 steps; the hand-written module gives torch's scheduler one value per group,
        # layer1's half the rest's
        (
            SchedulerSpec(
                "cyclic", param="weight_decay", base_lr=0.0, max_lr=0.04, step_size_up=2, cycle_momentum=False
            ),
            lambda o: lr_scheduler.CyclicLR(
                o, [0.0, 0.0], [0.02, 0.04], step_size_up=2, cycle_momentum=False
            ),
        ),
        (
            SchedulerSpec("onecycle", param="weight_decay", max_lr=0.04, cycle_momentum=False),
            lambda o: lr_scheduler.OneCycleLR(o, [0.02, 0.04], total_steps=9, cycle_momentum=False),
        ),
    ],
    ids=["cyclic", "onecycle"],
)
def test_weight_decay_arguments_keep_the_group_decay_scales(
    scheduler: SchedulerSpec, make: Callable[..., Any]
) -> None:
    """A scheduler that sets every group's weight decay from its own arguments (``param="weight_decay"``)
    gets them times each group's ``decay_mult``, as its lr arguments are times ``lr_mult`` (above): the
    hand-written module sets each group's weight decay from torch's scheduler given one value per group. Was:
    ``decay_mult=0.5`` was dropped, both groups cycled 0 -> 0.04."""
    spec = OptimizerSpec(
        "sgd",
        lr=0.1,
        weight_decay=0.04,
        groups=[ParamGroup("model_gen.layer1", decay_mult=0.5)],
        scheduler=scheduler,
        implementation="forloop",
    )
    mixin = helpers.declared(spec)()
    shadow = SGD([{"params": [torch.nn.Parameter(torch.zeros(1))]} for _ in range(2)], lr=0.1)
    stepped = make(shadow)
    expected = []
    for _ in range(9):
        expected.append([g["lr"] for g in shadow.param_groups])
        shadow.step()
        stepped.step()

    class HandWritten(Classifier):
        def configure_optimizers(self) -> Any:
            layer1, layer2 = self.model_gen.layer1, self.model_gen.layer2
            return SGD([{"params": list(layer1.parameters())}, {"params": list(layer2.parameters())}], lr=0.1)

        def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
            for group, value in zip(self.optimizers().param_groups, expected[self.global_step]):
                group["weight_decay"] = value

    declared_decays, reference_decays = _WeightDecays(), _WeightDecays()
    reference = HandWritten()
    fit(mixin, limit_train_batches=3, callbacks=[declared_decays])
    fit(reference, limit_train_batches=3, callbacks=[reference_decays])
    assert reference_decays.history == expected
    assert declared_decays.history == [pytest.approx(values, rel=1e-12) for values in expected]
    assert max(body for body, _ in expected) > 0  # layer1 decays, at half the rest's
    assert [body for body, _ in expected] == pytest.approx([rest / 2 for _, rest in expected], rel=1e-12)
    torch.testing.assert_close(dict(mixin.named_parameters()), dict(reference.named_parameters()))
    # and the preview says the same
    previewed = preview_schedule(type(mixin), max_epochs=3, steps_per_epoch=3, params=("weight_decay",))
    assert list(zip(*previewed.values())) == [pytest.approx(values, rel=1e-12) for values in expected]


@pytest.mark.parametrize(
    ("scheduler", "make", "ratio_kept"),
    [
        (
            SchedulerSpec("exponential", gamma=0.7, interval="step"),
            lambda o: lr_scheduler.ExponentialLR(o, gamma=0.7),
            True,
        ),
        (
            SchedulerSpec("cosine", T_max=9, eta_min=0.02, interval="step"),
            lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=9, eta_min=0.02),
            False,
        ),
        (
            SchedulerSpec("cosine_restarts", T_0=4, eta_min=0.02, interval="step"),
            lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=4, eta_min=0.02),
            False,
        ),
    ],
    ids=["exponential", "cosine eta_min", "cosine_restarts eta_min"],
)
def test_a_multiplicative_schedule_keeps_the_group_scales_an_absolute_floor_is_every_groups(
    scheduler: SchedulerSpec, make: Callable[..., Any], ratio_kept: bool
) -> None:
    """What docs/guides/groups.md says of scales under a schedule: ``lr_mult`` (as ``layer_decay``) keeps its
    ratio under a multiplicative schedule; ``eta_min`` is one lr for every group, as in the hand-written module
    given the scaled lrs, so the ratio shrinks towards it."""
    spec = OptimizerSpec(
        "sgd",
        lr=0.1,
        groups=[ParamGroup("model_gen.layer1", lr_mult=0.25)],
        scheduler=scheduler,
        implementation="forloop",
    )
    mixin = helpers.declared(spec)()

    def configure_optimizers(self: Any) -> Any:
        layer1, layer2 = self.model_gen.layer1, self.model_gen.layer2
        groups = [{"params": list(layer1.parameters()), "lr": 0.025}, {"params": list(layer2.parameters())}]
        optimizer = SGD(groups, lr=0.1)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": make(optimizer), "interval": "step"}}

    reference = type("HandWritten", (Classifier,), {"configure_optimizers": configure_optimizers})()
    declared_lrs, reference_lrs = fit(mixin, limit_train_batches=3), fit(reference, limit_train_batches=3)
    for group in (0, 1):
        assert declared_lrs.of(0, group) == pytest.approx(reference_lrs.of(0, group), rel=1e-12)
    ratios = [a / b for a, b in zip(declared_lrs.of(0, 0), declared_lrs.of(0, 1))]
    assert (ratios == pytest.approx([0.25] * len(ratios), rel=1e-9)) is ratio_kept
    assert_same_weights(mixin, reference)


def test_a_layer_decay_keeps_its_ratios_under_onecycle() -> None:
    """Each layer's lr is the OneCycle value times its layer-decay scale at every step (the scales read from
    the same declaration built with a constant lr of 1)."""

    def spec(**scheduler: Any) -> OptimizerSpec:
        return OptimizerSpec("adamw", layer_decay=0.5, layer_decay_blocks="blocks", **scheduler)

    scales = fit(helpers.declared(spec(lr=1.0), helpers.VitLike)(), max_epochs=1).history[0][0]
    assert len(set(scales)) == len(scales) > 2
    module = helpers.declared(spec(scheduler=SchedulerSpec("onecycle", max_lr=0.01)), helpers.VitLike)()
    recorded = fit(module, limit_train_batches=3)
    for lrs in recorded.history:
        assert [lr / lrs[0][-1] for lr in lrs[0]] == pytest.approx([s / scales[-1] for s in scales], rel=1e-9)
