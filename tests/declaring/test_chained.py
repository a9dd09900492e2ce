"""A list of schedulers on one option: one that sets the option outright beside another is refused where they act
together (it discards the other's factor at every update, as torch and Lightning do with a hand-written list);
lists whose schedulers scale the value they find, disjoint windows and another option train as declared."""

from __future__ import annotations

from typing import Any

import lightning as L
import pytest
import torch
from torch.optim import SGD
from torch.optim.lr_scheduler import LRScheduler

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec, preview_schedule
from lightning_optim.building.placed import check_in_run
from lightning_optim.declaring.scheduler import resolve_scheduler
from tests.helpers import (
    Classifier,
    fit,
    loader,
    sequential_takes_chained,
    torch_lrs,
    transformers_with_torch,
)

WARMUP = SchedulerSpec("linear", start_factor=0.1, total_iters=6, interval="step")


def halving(epoch: int) -> float:
    return float(0.5**epoch)


class HalvingFromBase(LRScheduler):
    """A scheduler of one's own that computes the lr from its base lrs, as ``LambdaLR`` does."""

    def get_lr(self) -> list[float]:
        return [base * 0.5**self.last_epoch for base in self.base_lrs]


def _declare(scheduler: Any) -> type:
    optimizer = OptimizerSpec(SGD, lr=1.0, momentum=0.9, scheduler=scheduler)
    return type("Model", (ConfigurableOptimizersMixin, Classifier), {"optimizer": optimizer})


def test_a_lambda_beside_a_warmup_is_refused_when_the_class_is_defined() -> None:
    """The hunter's list: it trained at [1.0, 2.5, 0.5, 0.6875, ...] (no warmup at step 0, 2.5x the lr at step 1),
    as a hand-written module returning the two schedulers does, while the docs read it as warmup x lambda."""
    with pytest.raises(ValueError) as refused:
        _declare([WARMUP, SchedulerSpec("lambda", lr_lambda=halving)])
    assert str(refused.value) == (
        "Model.optimizer.scheduler: Expected the schedulers of `lr` in the list to scale the value they find where "
        "they act together but got `scheduler[1]` (`LambdaLR`), which sets `lr` outright from its own starting "
        "value at every update, beside `scheduler[0]` (`LinearLR`) in windows that overlap (steps [0, 7) and the "
        "whole run): it discards the factor "
        "`scheduler[0]` leaves at every update (as torch and Lightning do with a hand-written list), so `lr` would "
        "not follow the product the list declares. Give `scheduler[1]` a `warmup=` in place of a warmup scheduler "
        "beside it, or give the two disjoint windows (`end=` on the earlier, `begin=` at that update on the later)."
    )


@pytest.mark.parametrize(
    "setting",
    [
        SchedulerSpec("lambda", lr_lambda=[halving]),
        SchedulerSpec("cosine_restarts", T_0=3),
        SchedulerSpec("onecycle", max_lr=1.0),
        SchedulerSpec("cyclic", base_lr=0.1, max_lr=1.0),
        SchedulerSpec("transformers/linear", num_warmup_steps=2),
        SchedulerSpec("transformers/cosine"),
        SchedulerSpec("timm/cosine", lr_min=0.01),
        SchedulerSpec(HalvingFromBase),
    ],
    ids=lambda spec: str(spec.scheduler).rsplit(".", 1)[-1].strip("'>"),
)
@pytest.mark.parametrize("first", [True, False], ids=["setting-first", "setting-last"])
def test_every_scheduler_that_sets_the_lr_outright_is_refused_beside_another(
    setting: SchedulerSpec, first: bool
) -> None:
    decay = SchedulerSpec("step", step_size=1, gamma=0.5)
    schedulers, index = ([setting, decay], 0) if first else ([decay, setting], 1)
    with pytest.raises(ValueError, match=rf"got `scheduler\[{index}\]` \(`\w+`\), which sets `lr` outright"):
        _declare(schedulers)


def test_overlapping_windows_are_refused_with_both_windows() -> None:
    schedulers = [
        SchedulerSpec("linear", start_factor=0.1, end=6, interval="step"),
        SchedulerSpec("lambda", lr_lambda=halving, begin=3, interval="step"),
    ]
    with pytest.raises(ValueError, match=r"in windows that overlap \(steps \[0, 6\) and steps \[3, end\)\)"):
        _declare(schedulers)
    # a window in epochs converted to steps, beside the whole run of a per-epoch scheduler
    epochs = [SchedulerSpec("multistep", milestones=[2]), SchedulerSpec("lambda", lr_lambda=halving, begin=1)]
    with pytest.raises(ValueError, match=r"in windows that overlap \(the whole run and epochs \[1, end\)\)"):
        _declare(epochs)


@pytest.mark.parametrize(
    "schedulers",
    [
        # every scheduler scales the lr it finds (a plateau's reductions too)
        [WARMUP, SchedulerSpec("multistep", milestones=[2], gamma=0.1), SchedulerSpec("cosine", T_max=9)],
        [WARMUP, SchedulerSpec("plateau", monitor="train_loss")],
        # disjoint windows: the warmup, then the lambda from its own start
        [
            SchedulerSpec("linear", start_factor=0.1, end=4, interval="step"),
            SchedulerSpec("lambda", lr_lambda=halving, begin=4, interval="step"),
        ],
        # another option
        [
            SchedulerSpec("lambda", lr_lambda=halving),
            SchedulerSpec("linear", param="momentum", end_factor=0.5),
        ],
        # the warmup the lambda's own
        [SchedulerSpec("lambda", lr_lambda=halving, warmup=3), SchedulerSpec("linear", param="momentum")],
    ],
    ids=["chainable", "plateau", "disjoint-windows", "other-param", "own-warmup"],
)
def test_lists_whose_schedulers_do_not_discard_each_other_are_accepted(schedulers: list[Any]) -> None:
    _declare(schedulers)


def _lrs_and_momenta(scheduler: Any) -> tuple[list[float], list[float]]:
    momenta: list[float] = []

    class Recorded(_declare(scheduler)):  # type: ignore[misc]
        def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
            momenta.append(float(self.trainer.optimizers[0].param_groups[0]["momentum"]))

    recorder = fit(Recorded(), data=loader(n=16, batch_size=2), max_epochs=1)
    return recorder.of(), momenta


def test_disjoint_windows_and_another_option_train_as_declared() -> None:
    """The warmup over steps [0, 4) (`total_iters = end - begin - 1`), then the lambda from its own start at step
    4, each update a function of the steps since; the momentum's linear decay acts throughout."""
    lrs, momenta = _lrs_and_momenta(
        [
            SchedulerSpec("linear", start_factor=0.1, end=4, interval="step"),
            SchedulerSpec("lambda", lr_lambda=halving, begin=4, interval="step"),
            SchedulerSpec("linear", param="momentum", start_factor=0.5, total_iters=4, interval="step"),
        ]
    )
    assert lrs == pytest.approx([0.1, 0.4, 0.7, 1.0, 1.0, 0.5, 0.25, 0.125])
    assert momenta == pytest.approx([0.45, 0.5625, 0.675, 0.7875, 0.9, 0.9, 0.9, 0.9])


def _warmup_then_halving() -> list[float]:
    """torch's `SequentialLR([LinearLR(start_factor=0.25, total_iters=3), LambdaLR(halving)], milestones=[3])`,
    stepped by hand: the lr of each of 8 steps."""
    optimizer = SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.25, total_iters=3)
    lam = torch.optim.lr_scheduler.LambdaLR(optimizer, halving)
    reference = torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, lam], milestones=[3])
    lrs = []
    for _ in range(8):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        reference.step()
    return lrs


def test_a_warmup_on_the_lambda_itself_trains_as_the_hand_written_warmup_then_lambda() -> None:
    """What the refusal says to write instead of a warmup beside a lambda: the lambda's own `warmup=`, after which
    it starts from its own start, as torch's `SequentialLR([LinearLR, LambdaLR])` does."""
    lrs, _ = _lrs_and_momenta(SchedulerSpec("lambda", lr_lambda=halving, warmup=3, interval="step"))
    assert lrs == pytest.approx(_warmup_then_halving())
    assert lrs == pytest.approx([0.25, 0.5, 0.75, 1.0, 0.5, 0.25, 0.125, 0.0625])


def test_a_scheduler_with_its_own_warmup_is_told_that_warmup_in_place_of_a_warmup_scheduler() -> None:
    """A transformers schedule warming up itself beside a scheduler with `warmup=` was told to take a `warmup=`,
    which is refused beside its `num_warmup_steps > 0` (it would warm up twice), and elsewhere warms up from
    1 / (warmup + 1) where transformers' warmup rises from 0: it is told its own `num_warmup_steps=` (timm's
    `warmup_t=`), and the schedule that follows it trains as transformers' `get_linear_schedule_with_warmup`."""
    transformers = transformers_with_torch()
    schedulers = [
        SchedulerSpec("cosine", T_max=8, warmup=3, interval="step"),
        SchedulerSpec("transformers/linear", num_warmup_steps=2),
    ]
    with pytest.raises(ValueError) as refused:
        _declare(schedulers)
    assert str(refused.value) == (
        "Model.optimizer.scheduler: Expected the schedulers of `lr` in the list to scale the value they find where "
        "they act together but got `scheduler[1]` (`LinearWithWarmupLR`), which sets `lr` outright from its own "
        "starting value at every update, beside `scheduler[0]` (`CosineAnnealingLR`) over the whole run: it "
        "discards the factor `scheduler[0]` leaves at every update (as torch and Lightning do with a hand-written "
        "list), so `lr` would not follow the product the list declares. Give `scheduler[1]` its own "
        "`num_warmup_steps=` in place of a warmup scheduler beside it, or give the two disjoint windows (`end=` on "
        "the earlier, `begin=` at that update on the later)."
    )
    with pytest.raises(ValueError, match=r"which warms up itself from 0 \(`num_warmup_steps=2`\)"):
        _declare(SchedulerSpec("transformers/linear", num_warmup_steps=2, warmup=3))  # what it was told
    # timm's own warmup, and a composite's schedulers declared as a list
    warmup = SchedulerSpec("linear", start_factor=0.1, total_iters=4)
    timm = SchedulerSpec("timm/cosine", t_in_epochs=False)
    own = r"its own `warmup_t=` in place of a warmup scheduler"
    with pytest.raises(ValueError, match=own):
        _declare([warmup, timm])
    chained = SchedulerSpec(
        "chained",
        schedulers=[warmup, SchedulerSpec("transformers/linear", num_training_steps=8)],
        interval="step",
    )
    with pytest.raises(
        ValueError, match=r"with `schedulers\[1\]`'s own `num_warmup_steps=` in place of a warmup"
    ):
        _declare(chained)
    # following it: the transformers schedule alone, with its own warmup
    module = _declare(SchedulerSpec("transformers/linear", num_warmup_steps=4))()
    lrs = fit(module, data=loader(n=16, batch_size=2)).of()
    expected = torch_lrs(lambda opt: transformers.get_linear_schedule_with_warmup(opt, 4, 24), 24, lr=1.0)
    assert lrs == pytest.approx(expected)


def _warmup_and_lambda() -> list[SchedulerSpec]:
    return [
        SchedulerSpec("linear", start_factor=0.1, total_iters=6),
        SchedulerSpec("lambda", lr_lambda=halving),
    ]


def test_a_chained_scheduler_of_a_warmup_and_a_lambda_is_refused_when_the_class_is_defined() -> None:
    """torch's `ChainedScheduler` steps its schedulers together at every update: the lambda discards the warmup's
    factor, so it trained at the lambda's lrs alone ([1.0, 0.5, 0.25, ...], no warmup) while it reads as
    warmup x lambda ([0.1, 0.125, 0.1, ...])."""
    chained = SchedulerSpec("chained", schedulers=_warmup_and_lambda(), interval="step")
    with pytest.raises(ValueError) as refused:
        _declare(chained)
    assert str(refused.value) == (
        "Model.optimizer.scheduler: Expected the schedulers of `lr` in `ChainedScheduler` to scale the value they "
        "find where they act together but got `schedulers[1]` (`LambdaLR`), which sets `lr` outright from its own "
        "starting value at every update, beside `schedulers[0]` (`LinearLR`) over the whole run: it discards the "
        "factor `schedulers[0]` leaves at every update (as torch's `ChainedScheduler` does), so `lr` would not "
        "follow the product the `ChainedScheduler` declares. Declare them as a list, `scheduler=[SchedulerSpec(...), "
        "...]`, with `schedulers[1]`'s `warmup=` in place of a warmup scheduler beside it, or the two in disjoint "
        "windows (`end=` on the earlier, `begin=` at that update on the later)."
    )
    # in a list beside another scheduler (the lambda acts with the chained)
    with pytest.raises(ValueError, match=r"^Model\.optimizer\.scheduler\[1\]: .* in `ChainedScheduler`"):
        _declare([SchedulerSpec("step", step_size=1), chained])


@sequential_takes_chained
def test_a_chained_scheduler_of_a_warmup_and_a_lambda_in_a_sequential_phase_is_refused() -> None:
    inner = SchedulerSpec("chained", schedulers=_warmup_and_lambda())
    with pytest.raises(
        ValueError, match=r"^Model\.optimizer\.scheduler\.schedulers\[1\]: .* in `ChainedScheduler`"
    ):
        _declare(
            SchedulerSpec(
                "sequential", schedulers=[SchedulerSpec("constant", total_iters=2), inner], milestones=[2]
            )
        )


def test_a_sequential_scheduler_beside_another_is_refused_where_it_sets_the_lr_outright() -> None:
    """At each milestone torch's `SequentialLR` starts the next scheduler from its own start (`step(0)`), which
    discards the factor another scheduler of the list left: beside a step decay (x0.1 every 2 steps) it trained at
    [0.25, 0.5, 0.075, 1.0, 0.05, ...] (10x the declared product 0.1 from step 3 on)."""
    sequential = SchedulerSpec(
        "sequential",
        schedulers=[
            SchedulerSpec("linear", start_factor=0.25, total_iters=3),
            SchedulerSpec("exponential", gamma=0.5),
        ],
        milestones=[3],
        interval="step",
    )
    decay = SchedulerSpec("step", step_size=2, gamma=0.1, interval="step")
    with pytest.raises(ValueError) as refused:
        _declare([sequential, decay])
    assert str(refused.value) == (
        "Model.optimizer.scheduler: Expected the schedulers of `lr` in the list to scale the value they find where "
        "they act together but got `scheduler[0]` (`SequentialLR`), which sets `lr` outright from the start of its "
        "`schedulers[1]` (`ExponentialLR`) at its milestone 3, beside `scheduler[1]` (`StepLR`) in windows that "
        "overlap (steps [3, 4) and the whole run): it discards the factor `scheduler[1]` leaves at every update (as "
        "torch and Lightning do with a hand-written list), so `lr` would not follow the product the list declares. "
        "Declare the phases of `scheduler[0]` as schedulers of the list, each in its window (`begin=` at the "
        "milestone before, `end=` at the one after), or give the two disjoint windows (`end=` on the earlier, "
        "`begin=` at that update on the later)."
    )
    # a phase that sets the lr outright at every update, in windows
    lambda_phase = SchedulerSpec(
        "sequential",
        schedulers=[SchedulerSpec("exponential", gamma=0.5), SchedulerSpec("lambda", lr_lambda=halving)],
        milestones=[4],
        interval="step",
        begin=2,
    )
    with pytest.raises(
        ValueError,
        match=r"at every update of its `schedulers\[1\]` \(`LambdaLR`\), beside `scheduler\[1\]` \(`StepLR`\) in windows that overlap \(steps \[6, end\) and steps \[0, 7\)\)",
    ):
        _declare([lambda_phase, SchedulerSpec("step", step_size=2, interval="step", end=7)])


@pytest.mark.parametrize(
    "scheduler",
    [
        # a SequentialLR's schedulers act in disjoint phases
        SchedulerSpec(
            "sequential",
            schedulers=[
                SchedulerSpec("linear", start_factor=0.1, total_iters=3),
                SchedulerSpec("lambda", lr_lambda=halving),
            ],
            milestones=[3],
        ),
        # a ChainedScheduler of schedulers that scale the lr they find
        SchedulerSpec(
            "chained",
            schedulers=[
                SchedulerSpec("linear", start_factor=0.1, total_iters=3),
                SchedulerSpec("exponential", gamma=0.9),
            ],
        ),
        # beside a scheduler whose window ends before the SequentialLR's milestone
        [
            SchedulerSpec("linear", start_factor=0.1, end=3, interval="step"),
            SchedulerSpec(
                "sequential",
                schedulers=[
                    SchedulerSpec("constant", factor=0.5, total_iters=2),
                    SchedulerSpec("exponential", gamma=0.9),
                ],
                milestones=[2],
                begin=3,
                interval="step",
            ),
        ],
        # beside a scheduler of another option
        [
            SchedulerSpec(
                "sequential",
                schedulers=[
                    SchedulerSpec("linear", start_factor=0.1, total_iters=3),
                    SchedulerSpec("lambda", lr_lambda=halving),
                ],
                milestones=[3],
            ),
            SchedulerSpec("linear", param="momentum", end_factor=0.5),
        ],
        # beside another: a next scheduler that scales the lr it finds at its milestone (no closed form to restart)
        [
            SchedulerSpec(
                "sequential",
                schedulers=[
                    SchedulerSpec("linear", start_factor=0.25, total_iters=3),
                    SchedulerSpec("multiplicative", lr_lambda=halving),
                ],
                milestones=[3],
                interval="step",
            ),
            SchedulerSpec("step", step_size=2, gamma=0.1, interval="step"),
        ],
    ],
    ids=["sequential-phases", "chained-scaling", "disjoint-windows", "other-param", "multiplicative-phase"],
)
def test_composites_whose_schedulers_do_not_discard_each_other_are_accepted(scheduler: Any) -> None:
    _declare(scheduler)


def test_a_sequential_warmup_then_lambda_trains_as_torchs() -> None:
    """The accepted composite trains as its hand-written twin: the warmup, then the lambda from its own start."""
    lrs, _ = _lrs_and_momenta(
        SchedulerSpec(
            "sequential",
            schedulers=[
                SchedulerSpec("linear", start_factor=0.25, total_iters=3),
                SchedulerSpec("lambda", lr_lambda=halving),
            ],
            milestones=[3],
            interval="step",
        )
    )
    assert lrs == pytest.approx(_warmup_then_halving())


ONECYCLE = SchedulerSpec("onecycle", max_lr=1.0, total_steps=8, interval="step")
MOMENTUM_DECAY = SchedulerSpec("linear", param="momentum", start_factor=0.5, total_iters=4, interval="step")


def test_a_cycle_of_the_momentum_beside_a_schedule_of_the_momentum_is_refused_when_the_class_is_defined() -> (
    None
):
    """`OneCycleLR` cycles the momentum too (`cycle_momentum=True`, its default), setting it outright at every
    update: beside a linear momentum schedule it trained at momenta [0.475, 1.086, 1.023, ...] (above 1), neither
    the cycle's [0.95, 0.869, ...] nor the declared product."""
    with pytest.raises(ValueError) as refused:
        _declare([ONECYCLE, MOMENTUM_DECAY])
    assert str(refused.value) == (
        "Model.optimizer.scheduler: Expected the schedulers of `momentum` in the list to scale the value they find "
        "where they act together but got `scheduler[0]` (`OneCycleLR`), which also cycles `momentum` "
        "(`cycle_momentum=True`, its default), setting it outright from its own `base_momentum` and `max_momentum` "
        "at every update, beside `scheduler[1]` (`LinearLR`) in windows that overlap (the whole run and steps [0, 5)): "
        "it discards the factor "
        "`scheduler[1]` leaves at every update (as torch and Lightning do with a hand-written list), so `momentum` "
        "would not follow the product the list declares. Pass `cycle_momentum=False` to `scheduler[0]` (its lr "
        "keeps its cycle), or give the two disjoint windows (`end=` on the earlier, `begin=` at that update on the "
        "later)."
    )
    # either order, a cyclic lr declared to cycle it, inside a composite, and Adam's betas[0] as `beta1`
    cyclic = SchedulerSpec("cyclic", base_lr=0.1, max_lr=1.0, cycle_momentum=True, interval="step")
    with pytest.raises(
        ValueError,
        match=r"got `scheduler\[1\]` \(`CyclicLR`\), which also cycles `momentum` \(`cycle_momentum=True`\),",
    ):
        _declare([MOMENTUM_DECAY, cyclic])
    chained = SchedulerSpec(
        "chained", schedulers=[SchedulerSpec("onecycle", max_lr=1.0, total_steps=8)], interval="step"
    )
    with pytest.raises(
        ValueError, match=r"got `scheduler\[0\]` \(`ChainedScheduler`\), which also cycles `momentum`"
    ):
        _declare([chained, MOMENTUM_DECAY])
    adam = OptimizerSpec(
        "adam", lr=1.0, scheduler=[ONECYCLE, SchedulerSpec("cosine", param="beta1", T_max=8)]
    )
    with pytest.raises(ValueError, match=r"which also cycles `beta1` \(`cycle_momentum=True`, its default\)"):
        type("Model", (ConfigurableOptimizersMixin, Classifier), {"optimizer": adam})


@pytest.mark.parametrize(
    "schedulers",
    [
        [
            SchedulerSpec("onecycle", max_lr=1.0, total_steps=8, interval="step", cycle_momentum=False),
            MOMENTUM_DECAY,
        ],
        # from SGD's weight decay of 0 to `eta_min` (a `LinearLR` of that 0 changes nothing, and is refused)
        [ONECYCLE, SchedulerSpec("cosine", param="weight_decay", eta_min=0.01)],
        [
            SchedulerSpec("onecycle", max_lr=1.0, end=4, interval="step"),
            SchedulerSpec("linear", param="momentum", start_factor=0.5, begin=4, interval="step"),
        ],
    ],
    ids=["cycle_momentum-false", "other-param", "disjoint-windows"],
)
def test_a_cycle_of_the_lr_alone_beside_a_schedule_of_the_momentum_is_accepted(schedulers: list[Any]) -> None:
    _declare(schedulers)


def test_cycle_momentum_false_beside_a_momentum_schedule_trains_both_as_declared() -> None:
    """The way out the refusal names: the lr follows torch's `OneCycleLR` and the momentum the linear schedule."""
    lrs, momenta = _lrs_and_momenta(
        [
            SchedulerSpec("onecycle", max_lr=1.0, total_steps=8, interval="step", cycle_momentum=False),
            MOMENTUM_DECAY,
        ]
    )
    optimizer = SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    reference = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=1.0, total_steps=8, cycle_momentum=False
    )
    expected = []
    for _ in range(8):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        reference.step()
    assert lrs == pytest.approx(expected)
    assert momenta == pytest.approx([0.45, 0.5625, 0.675, 0.7875, 0.9, 0.9, 0.9, 0.9])


class _Momenta(L.Callback):
    """Records, before every training batch, the momentum of the first param group."""

    def __init__(self) -> None:
        self.momenta: list[float] = []

    def on_train_batch_start(self, trainer: Any, *args: Any) -> None:
        self.momenta.append(float(trainer.optimizers[0].param_groups[0]["momentum"]))


#: from epoch 1, a per-epoch linear schedule of the momentum: beside a per-step cycle over the run's first steps,
#: counted in steps beside epochs, where the run places the epochs decides whether they overlap
EPOCH_MOMENTUM = SchedulerSpec("linear", param="momentum", start_factor=0.5, total_iters=2, begin=1)


def _cycle_beside_epoch_momentum(end: int) -> type:
    return _declare([SchedulerSpec("onecycle", max_lr=1.0, end=end, interval="step"), EPOCH_MOMENTUM])


def test_a_cycle_of_the_momentum_past_the_epoch_a_momentum_schedule_begins_after_is_refused_when_fit_starts() -> (
    None
):
    """A per-step `OneCycleLR` over steps [0, 6) beside a per-epoch momentum schedule from epoch 1, 4 batches an
    epoch: at epoch 0's end the momentum schedule halved the cycle's momentum and the cycle's last update (step 5)
    set it again, after which the schedule multiplied the cycle's 0.95 on ([..., 0.468, 0.95, 0.95, 0.95, 1.425,
    ...], above 1), accepted when the class was defined (steps beside epochs) and when fit started. Refused before
    the first step, placing both in the run's steps, with the class-definition message; so does the preview."""
    model = _cycle_beside_epoch_momentum(end=6)()  # accepted when the class is defined: the run decides
    message = (
        "Model.optimizer.scheduler: Expected the schedulers of `momentum` in the list to scale the value they find "
        "where they act together but got `scheduler[0]` (`OneCycleLR`), which also cycles `momentum` "
        "(`cycle_momentum=True`, its default), setting it outright from its own `base_momentum` and `max_momentum` "
        "at every update, beside `scheduler[1]` (`LinearLR`) in windows that overlap (steps [0, 6) and steps "
        "[5, end)): it discards the factor `scheduler[1]` leaves at every update (as torch and Lightning do with a "
        "hand-written list), so `momentum` would not follow the product the list declares. Pass "
        "`cycle_momentum=False` to `scheduler[0]` (its lr keeps its cycle), or give the two disjoint windows (`end=` "
        "on the earlier, `begin=` at that update on the later)."
    )
    recorded = _Momenta()
    with pytest.raises(ValueError) as refused:
        fit(model, data=loader(n=16, batch_size=4), max_epochs=3, callbacks=[recorded])
    assert str(refused.value) == message
    assert recorded.momenta == []
    with pytest.raises(ValueError) as previewed:
        preview_schedule(type(model), max_epochs=3, steps_per_epoch=4)
    assert str(previewed.value) == message


def _cycle_then_epoch_momentum(epochs: int, steps_per_epoch: int) -> tuple[list[float], list[float]]:
    """A hand-written Lightning-order loop: torch's `OneCycleLR(max_lr=1.0, total_steps=5)` stepped after each of
    the first 4 steps (its 5 values), then at epoch 0's end (after that step's cycle update) a per-epoch
    `LinearLR(start_factor=0.5, total_iters=2)` of the momentum, built there on a stand-in SGD whose lr is the
    momentum (torch schedules the lr alone) and stepped at each epoch's end after, its value copied into the
    optimizer: the lr and the momentum of each step."""
    optimizer = SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0, momentum=0.9)
    cycle = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1.0, total_steps=5)
    group = optimizer.param_groups[0]
    decay = None
    lrs, momenta = [], []
    for step in range(epochs * steps_per_epoch):
        lrs.append(group["lr"])
        momenta.append(group["momentum"])
        optimizer.step()
        if step < 4:
            cycle.step()
        if (step + 1) % steps_per_epoch == 0:
            if decay is None:
                shadow = SGD([torch.nn.Parameter(torch.zeros(1))], lr=group["momentum"])
                decay = torch.optim.lr_scheduler.LinearLR(shadow, start_factor=0.5, total_iters=2)
            else:
                decay.optimizer.step()
                decay.step()
            group["momentum"] = decay.get_last_lr()[0]
    return lrs, momenta


def test_a_cycle_of_the_momentum_ending_before_an_epoch_schedule_of_it_trains_as_a_hand_written_loop() -> (
    None
):
    """Disjoint in the run: the cycle's last update (step 4, after epoch 0's last step) comes before the momentum
    schedule's first (at that epoch's end), which scales the momentum the cycle left."""
    recorded = _Momenta()
    model = _cycle_beside_epoch_momentum(end=5)()
    lrs = fit(model, data=loader(n=16, batch_size=4), callbacks=[recorded]).of()
    hand_lrs, hand_momenta = _cycle_then_epoch_momentum(epochs=3, steps_per_epoch=4)
    assert lrs == pytest.approx(hand_lrs)
    assert recorded.momenta == pytest.approx(hand_momenta)
    assert hand_momenta[4:] == pytest.approx([0.475] * 4 + [0.7125] * 4)
    previewed = preview_schedule(type(model), max_epochs=3, steps_per_epoch=4)
    assert previewed["lr-optimizer"] == pytest.approx(lrs)


def test_a_warmup_ended_by_its_total_iters_before_a_lambda_begins_trains_as_its_window() -> None:
    """A `LinearLR` changes nothing after its update `total_iters`: written in torch's style, without `end=`, it
    meets a lambda beginning after it as the windowed form does (it was refused as acting over the whole run)."""
    by_total = [
        SchedulerSpec("linear", start_factor=0.1, total_iters=5, interval="step"),
        SchedulerSpec("lambda", lr_lambda=halving, begin=6, interval="step"),
    ]
    by_window = [
        SchedulerSpec("linear", start_factor=0.1, total_iters=5, end=6, interval="step"),
        SchedulerSpec("lambda", lr_lambda=halving, begin=6, interval="step"),
    ]
    lrs = _lrs_and_momenta(by_total)[0]
    assert lrs == _lrs_and_momenta(by_window)[0]
    assert lrs == pytest.approx([0.1, 0.28, 0.46, 0.64, 0.82, 1.0, 1.0, 0.5])
    # still acting when the lambda begins: refused
    with pytest.raises(ValueError, match=r"in windows that overlap \(steps \[0, 6\) and steps \[5, end\)\)"):
        _declare([by_total[0], SchedulerSpec("lambda", lr_lambda=halving, begin=5, interval="step")])


def test_momentum_and_beta1_are_one_option() -> None:
    """Adam's `betas[0]` driven as `momentum` by one scheduler and as `beta1` by another: one option, whose
    StepLR factor the lambda discarded at every step ([0.9, 0.9, 0.45, 0.9, 0.45, ...]) while they were accepted."""
    schedulers = [
        SchedulerSpec("lambda", param="momentum", lr_lambda=halving, interval="step"),
        SchedulerSpec("step", param="beta1", step_size=2, gamma=0.5, interval="step"),
    ]
    optimizer = OptimizerSpec("adam", lr=0.1, scheduler=schedulers)
    with pytest.raises(ValueError, match=r"Expected the schedulers of `momentum` in the list to scale"):
        type("Model", (ConfigurableOptimizersMixin, Classifier), {"optimizer": optimizer})


class _Recorded(Classifier):
    """Records the lr of every optimizer step, and whether one was taken."""

    def __init__(self) -> None:
        super().__init__()
        self.stepped: list[float] = []

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        self.stepped.append(float(optimizer.param_groups[0]["lr"]))


def _declare_sgd(scheduler: Any) -> type:
    optimizer = OptimizerSpec("sgd", lr=0.1, scheduler=scheduler)
    return type("Model", (ConfigurableOptimizersMixin, _Recorded), {"optimizer": optimizer})


#: a warmup over epoch 0 (per epoch), then a per-step lambda from the first step of epoch 1 (4 batches an epoch)
EPOCH_WARMUP = SchedulerSpec("linear", start_factor=0.25, total_iters=1)
IN_ITS_LAST_EPOCH = [EPOCH_WARMUP, SchedulerSpec("lambda", lr_lambda=halving, begin=4, interval="step")]


def test_an_epoch_warmup_beside_a_step_lambda_beginning_inside_it_is_refused_when_fit_starts() -> None:
    """The hunter's list: at the end of epoch 0 the lambda set the lr to 0.1 and the per-epoch `LinearLR` multiplied
    it by 4, so it trained at [0.025] * 4 + [0.4, 0.05, 0.025, 0.0125] (4x the declared lr), accepted when the class
    was defined (steps beside epochs) and when fit started. Refused before the first optimizer step, placing the
    warmup's updates (epochs [0, 2): at the start and at epoch 0's end, after step 4) in the run's steps, with the
    class-definition message; so does the preview."""
    model = _declare_sgd(IN_ITS_LAST_EPOCH)()  # accepted when the class is defined: the run decides
    message = (
        "Model.optimizer.scheduler: Expected the schedulers of `lr` in the list to scale the value they find where "
        "they act together but got `scheduler[1]` (`LambdaLR`), which sets `lr` outright from its own starting "
        "value at every update, beside `scheduler[0]` (`LinearLR`) in windows that overlap (steps [0, 5) and "
        "steps [4, end)): it discards the factor `scheduler[0]` leaves at every update (as torch and Lightning do "
        "with a hand-written list), so `lr` would not follow the product the list declares. Give `scheduler[1]` "
        "a `warmup=` in place of a warmup scheduler beside it, or give the two disjoint windows (`end=` on the "
        "earlier, `begin=` at that update on the later)."
    )
    with pytest.raises(ValueError) as refused:
        fit(model, data=loader(n=16, batch_size=4), max_epochs=2)
    assert str(refused.value) == message
    assert model.stepped == []
    with pytest.raises(ValueError) as previewed:
        preview_schedule(type(model), max_epochs=2, steps_per_epoch=4)
    assert str(previewed.value) == message


def _warmup_epoch_then_halving(epochs: int, steps_per_epoch: int, begin: int) -> list[float]:
    """A hand-written torch loop: a per-epoch `LinearLR(start_factor=0.25, total_iters=1)` stepped at each epoch's
    end, and from step `begin` on a `LambdaLR(halving)` built there (from the lr the optimizer was declared with,
    its `initial_lr`) and stepped at each step after: the lr of each step."""
    optimizer = SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.25, total_iters=1)
    lam = None
    lrs = []
    for step in range(epochs * steps_per_epoch):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if step + 1 == begin:
            lam = torch.optim.lr_scheduler.LambdaLR(optimizer, halving)
        elif lam is not None:
            lam.step()
        if (step + 1) % steps_per_epoch == 0:
            warmup.step()
    return lrs


@pytest.mark.parametrize("begin", [5, 8])
def test_an_epoch_warmup_beside_a_step_lambda_beginning_after_it_trains_as_a_hand_written_loop(
    begin: int,
) -> None:
    """Steps beside epochs in disjoint windows in the run: the warmup's last update (at epoch 0's end, after step
    4) comes before the lambda's first (step 5, or step 8). A review found `begin=5` refused by the first version
    of the fit-time check, which placed the warmup's epochs [0, 2) at all of their steps [0, 8)."""
    schedulers = [EPOCH_WARMUP, SchedulerSpec("lambda", lr_lambda=halving, begin=begin, interval="step")]
    model = _declare_sgd(schedulers)()
    lrs = fit(model, data=loader(n=16, batch_size=4), max_epochs=3).of()
    assert lrs == pytest.approx(_warmup_epoch_then_halving(epochs=3, steps_per_epoch=4, begin=begin))
    if begin == 8:
        assert lrs == pytest.approx([0.025] * 4 + [0.1] * 4 + [0.1, 0.05, 0.025, 0.0125])
    assert model.stepped == pytest.approx(lrs)
    previewed = preview_schedule(type(model), max_epochs=3, steps_per_epoch=4)["lr-optimizer"]
    assert previewed == pytest.approx(lrs)


def _step_warmup_then_epoch_halving(
    total_iters: int, begin: int, epochs: int, steps_per_epoch: int
) -> list[float]:
    """A hand-written Lightning-order loop: a per-step `LinearLR(start_factor=0.5, total_iters)` stepped after each
    step, and from epoch `begin` a per-epoch `LambdaLR(halving)` built at the end of the epoch before (after that
    step's warmup update) and stepped at each epoch's end after: the lr of each step."""
    optimizer = SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.5, total_iters=total_iters)
    lam = None
    lrs = []
    for step in range(epochs * steps_per_epoch):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        warmup.step()
        if (step + 1) % steps_per_epoch == 0:
            if lam is not None:
                lam.step()
            elif (step + 1) // steps_per_epoch == begin:
                lam = torch.optim.lr_scheduler.LambdaLR(optimizer, halving)
    return lrs


@pytest.mark.parametrize(("total_iters", "begin"), [(4, 1), (8, 2)])
def test_a_step_warmup_over_whole_epochs_beside_an_epoch_lambda_after_them_trains_as_a_hand_written_loop(
    total_iters: int, begin: int
) -> None:
    """The common recipe a review found refused by the first version of the fit-time check: a per-step warmup over
    exactly the first epoch(s), then a per-epoch lambda. Lightning takes the warmup's last update (after the
    epoch's last step) before the lambda's first (at that epoch's end), so the lambda sets the lr after the warmup
    is done, as a hand-written module does."""
    schedulers = [
        SchedulerSpec("linear", start_factor=0.5, total_iters=total_iters, interval="step"),
        SchedulerSpec("lambda", lr_lambda=halving, begin=begin),
    ]
    model = _declare_sgd(schedulers)()
    lrs = fit(model, data=loader(n=16, batch_size=4), max_epochs=begin + 2).of()
    hand = _step_warmup_then_epoch_halving(total_iters, begin, epochs=begin + 2, steps_per_epoch=4)
    assert lrs == pytest.approx(hand[: len(lrs)])
    if begin == 1:
        assert lrs == pytest.approx([0.05, 0.0625, 0.075, 0.0875] + [0.1] * 4 + [0.05] * 4)


def test_a_step_warmup_past_the_epoch_an_epoch_lambda_begins_after_is_refused_when_fit_starts() -> None:
    """One warmup update more (step 5, after the lambda set the lr at epoch 0's end) would scale the lambda's
    value: refused."""
    schedulers = [
        SchedulerSpec("linear", start_factor=0.5, total_iters=5, interval="step"),
        SchedulerSpec("lambda", lr_lambda=halving, begin=1),
    ]
    with pytest.raises(ValueError, match=r"in windows that overlap \(steps \[0, 6\) and steps \[5, end\)\)"):
        fit(_declare_sgd(schedulers)(), data=loader(n=16, batch_size=4), max_epochs=3)


def test_windows_of_fractions_of_the_run_are_refused_where_they_overlap_in_it() -> None:
    """Float bounds place the windows in the run's 12 steps: a warmup over its first half beside a lambda from its
    quarter, accepted when the class is defined, is refused when fit starts; from its half, they train in turn."""
    overlapping = [
        SchedulerSpec("linear", start_factor=0.25, end=0.5, interval="step"),
        SchedulerSpec("lambda", lr_lambda=halving, begin=0.25, interval="step"),
    ]
    model = _declare_sgd(overlapping)()
    with pytest.raises(ValueError, match=r"in windows that overlap \(steps \[0, 6\) and steps \[3, end\)\)"):
        fit(model, data=loader(n=16, batch_size=4), max_epochs=3)
    assert model.stepped == []
    disjoint = [overlapping[0], SchedulerSpec("lambda", lr_lambda=halving, begin=0.5, interval="step")]
    lrs = fit(_declare_sgd(disjoint)(), data=loader(n=16, batch_size=4), max_epochs=3).of()
    assert lrs == pytest.approx(
        [0.025, 0.04, 0.055, 0.07, 0.085, 0.1, 0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125]
    )


@pytest.mark.parametrize(
    ("interval", "fast_dev_run", "counted", "lrs"),
    [
        # 1 step: the warmup's window [0, int(0.5 * 1)) is empty, left idle; the lambda's is the whole run
        ("step", True, [SchedulerSpec("lambda", lr_lambda=halving, interval="step")], [0.1]),
        # 3 steps: the warmup's window is [0, 1), the lambda's [1, end)
        (
            "step",
            3,
            [
                SchedulerSpec("linear", start_factor=0.25, end=1, total_iters=1, interval="step"),
                SchedulerSpec("lambda", lr_lambda=halving, begin=1, interval="step"),
            ],
            [0.025, 0.1, 0.05],
        ),
        # per epoch, the smoke run is epoch 0: the warmup's window [0, int(0.5 * 1)) is empty, placed at no step
        ("epoch", 3, [SchedulerSpec("lambda", lr_lambda=halving)], [0.1] * 3),
    ],
)
def test_a_window_of_fractions_that_a_smoke_run_leaves_empty_overlaps_no_other(
    interval: str, fast_dev_run: bool | int, counted: list[SchedulerSpec], lrs: list[float]
) -> None:
    """Lightning's ``fast_dev_run`` leaves a window that rounds to no update idle (``building/length.py``): it
    acts nowhere, so it shares no update with the lambda that sets the lr outright over the whole run. Such an
    empty window was taken as one overlapping the whole run, and the list refused as acting together."""
    disjoint = [
        SchedulerSpec("linear", start_factor=0.25, end=0.5, interval=interval),
        SchedulerSpec("lambda", lr_lambda=halving, begin=0.5, interval=interval),
    ]
    smoke = fit(_declare_sgd(disjoint)(), data=loader(n=16, batch_size=4), fast_dev_run=fast_dev_run).of()
    assert (
        smoke == fit(_declare_sgd(counted)(), data=loader(n=16, batch_size=4), fast_dev_run=fast_dev_run).of()
    )
    assert smoke == pytest.approx(lrs, rel=1e-12, abs=0.0)


#: lists counted in one unit: the verdict when the class is defined is the verdict in any run
ONE_UNIT = {
    "steps-overlap": [
        SchedulerSpec("linear", start_factor=0.1, total_iters=5, interval="step"),
        SchedulerSpec("lambda", lr_lambda=halving, begin=5, interval="step"),
    ],
    "steps-after-total-iters": [
        SchedulerSpec("linear", start_factor=0.1, total_iters=5, interval="step"),
        SchedulerSpec("lambda", lr_lambda=halving, begin=6, interval="step"),
    ],
    "steps-windows-meet": [
        SchedulerSpec("linear", start_factor=0.1, end=4, interval="step"),
        SchedulerSpec("lambda", lr_lambda=halving, begin=4, interval="step"),
    ],
    "steps-frequency": [
        SchedulerSpec("linear", start_factor=0.1, end=2, interval="step", frequency=2),
        SchedulerSpec("lambda", lr_lambda=halving, begin=3, interval="step"),
    ],
    "steps-frequency-after": [
        SchedulerSpec("linear", start_factor=0.1, end=2, interval="step", frequency=2),
        SchedulerSpec("lambda", lr_lambda=halving, begin=4, interval="step"),
    ],
    "epochs-overlap": [EPOCH_WARMUP, SchedulerSpec("lambda", lr_lambda=halving, begin=1)],
    "epochs-after": [EPOCH_WARMUP, SchedulerSpec("lambda", lr_lambda=halving, begin=2)],
    "epochs-whole-run": [
        SchedulerSpec("multistep", milestones=[2]),
        SchedulerSpec("lambda", lr_lambda=halving, begin=3),
    ],
    "epochs-lambda-first": [
        SchedulerSpec("lambda", lr_lambda=halving, end=2),
        SchedulerSpec("step", step_size=1, begin=2),
    ],
    "epochs-lambda-first-overlap": [
        SchedulerSpec("lambda", lr_lambda=halving, end=3),
        SchedulerSpec("step", step_size=1, begin=2),
    ],
    "epochs-converted-to-steps": [
        SchedulerSpec("linear", start_factor=0.1, end=1, interval="step", unit="epoch"),
        SchedulerSpec("lambda", lr_lambda=halving, begin=1, interval="step", unit="epoch"),
    ],
    "epochs-converted-overlap": [
        SchedulerSpec("linear", start_factor=0.1, end=2, interval="step", unit="epoch"),
        SchedulerSpec("lambda", lr_lambda=halving, begin=1, interval="step", unit="epoch"),
    ],
    "epochs-converted-beside-epochs": [
        SchedulerSpec("linear", start_factor=0.1, end=1, interval="step", unit="epoch"),
        SchedulerSpec("lambda", lr_lambda=halving, begin=1),
    ],
    "epochs-converted-beside-epochs-overlap": [
        SchedulerSpec("linear", start_factor=0.1, end=2, interval="step", unit="epoch"),
        SchedulerSpec("lambda", lr_lambda=halving, begin=1),
    ],
    "cycled-momentum-steps-overlap": [
        SchedulerSpec("onecycle", max_lr=1.0, end=6, interval="step"),
        SchedulerSpec("linear", param="momentum", start_factor=0.5, begin=5, interval="step"),
    ],
    "cycled-momentum-steps-after": [
        SchedulerSpec("onecycle", max_lr=1.0, end=6, interval="step"),
        SchedulerSpec("linear", param="momentum", start_factor=0.5, begin=6, interval="step"),
    ],
    "cycled-momentum-epochs-converted-overlap": [
        SchedulerSpec("linear", param="momentum", start_factor=0.5, end=2, interval="step", unit="epoch"),
        SchedulerSpec("cyclic", base_lr=0.1, max_lr=1.0, begin=1, interval="step", unit="epoch"),
    ],
    "sequential-epochs": [
        SchedulerSpec("step", step_size=1, end=3),
        SchedulerSpec(
            "sequential",
            schedulers=[SchedulerSpec("constant", total_iters=1), SchedulerSpec("lambda", lr_lambda=halving)],
            milestones=[1],
            begin=1,
        ),
    ],
    "sequential-epochs-after": [
        SchedulerSpec("step", step_size=1, end=2),
        SchedulerSpec(
            "sequential",
            schedulers=[SchedulerSpec("constant", total_iters=1), SchedulerSpec("lambda", lr_lambda=halving)],
            milestones=[1],
            begin=0,
            end=1,
        ),
    ],
}


@pytest.mark.parametrize("steps_per_epoch", [1, 3])
@pytest.mark.parametrize("where_kind", ONE_UNIT)
def test_lists_in_one_unit_get_the_same_verdict_when_fit_starts(
    where_kind: str, steps_per_epoch: int
) -> None:
    """The fit-time check on such a list (placed in a run of `steps_per_epoch` steps an epoch) refuses it exactly
    where the class-definition check does."""
    schedulers = ONE_UNIT[where_kind]
    where = "Model.optimizer.scheduler"
    resolved = [resolve_scheduler(f"{where}[{i}]", spec) for i, spec in enumerate(schedulers)]
    optimizer = SGD([torch.nn.Parameter(torch.zeros(1, 1))], lr=1.0, momentum=0.9)
    try:
        _declare(schedulers)
    except ValueError as err:
        defined: str | None = str(err)
    else:
        defined = None
    try:
        check_in_run(where, resolved, optimizer, [None] * len(resolved), lambda k: k * steps_per_epoch)
    except ValueError as err:
        at_fit: str | None = str(err)
    else:
        at_fit = None
    if "beside-epochs" in where_kind and defined is not None and at_fit is None:
        # a per-step scheduler whose window counts epochs acts after each step of its epochs, a per-epoch one at
        # their ends: counted alike in epochs when the class is defined (refused there, never reaching fit), the
        # run may put their updates apart (one step an epoch: the per-step one's last comes before the other's first)
        assert steps_per_epoch == 1
        return
    assert (defined is None) == (at_fit is None), (defined, at_fit)
    if defined is not None and at_fit is not None:  # the same message but for the windows, counted in steps
        assert defined.split(" in windows that overlap")[0] == at_fit.split(" in windows that overlap")[0]
