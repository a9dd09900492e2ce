"""A given ``OneCycleLR`` length shorter than the run is refused when ``fit`` starts.

torch raises ``Tried to step N times`` once a ``OneCycleLR`` is stepped past its ``total_steps`` (or ``epochs``
x ``steps_per_epoch``), so a hand-written run stops mid-training with torch's message. Every case here is
run twice, with the length the run exactly needs (it trains to the end, which checks the count of steps
against torch itself) and with one step less (refused before any step, the weights untouched). Runs are
3 epochs of 4 batches (``tests.helpers.loader``): 12 optimizer steps. A run whose updates are not known when
``fit`` starts (a train dataloader without a length) is refused before the step past the length instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import lightning as L
import pytest
import torch
from torch import nn
from torch.optim import SGD, lr_scheduler
from torch.utils.data import DataLoader, IterableDataset

from lightning_optim import OptimizerSpec, SchedulerSpec, preview_schedule
from tests import helpers
from tests.helpers import Classifier, fit, weights

#: (declaration options with `{n}` in place of the length, the length the run needs, the run's steps)
CASES: dict[str, tuple[dict[str, Any], int]] = {
    # built at the start, stepped after each of the 12 optimizer steps
    "per step": ({"total_steps": "{n}"}, 12),
    # not stepped in the warmup's 3 updates
    "after a warmup": ({"total_steps": "{n}", "warmup": 3}, 9),
    # stepped every other step: 6 updates
    "every other step": ({"total_steps": "{n}", "frequency": 2}, 6),
    # once per epoch: 3 updates
    "per epoch": ({"total_steps": "{n}", "interval": "epoch"}, 3),
    # built at update 2 (its construction is its first update there), stepped at updates 3..9
    "in a window": ({"total_steps": "{n}", "begin": 2, "end": 10}, 7),
    # built at update 4, stepped at updates 5..12
    "in an open window": ({"total_steps": "{n}", "begin": 4}, 8),
    # `epochs` x `steps_per_epoch` instead of `total_steps`
    "by epochs": ({"epochs": 3, "steps_per_epoch": "{n}"}, 4),
}


def spec(options: dict[str, Any], n: int) -> SchedulerSpec:
    filled = {key: n if value == "{n}" else value for key, value in options.items()}
    return SchedulerSpec("onecycle", max_lr=0.1, **filled)


def declared(scheduler: SchedulerSpec) -> type[Any]:
    return helpers.declared(OptimizerSpec("sgd", scheduler=scheduler))  # the lr is OneCycleLR's


@pytest.mark.filterwarnings("ignore:.*is meant to be stepped after every optimizer step")
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_length_the_run_needs_trains_to_the_end(case: str) -> None:
    options, needed = CASES[case]
    lrs = fit(declared(spec(options, needed))(), max_epochs=3).of()
    assert len(lrs) == 12


@pytest.mark.filterwarnings("ignore:.*is meant to be stepped after every optimizer step")
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_length_one_step_short_is_refused_when_fit_starts(case: str) -> None:
    options, needed = CASES[case]
    module = declared(spec(options, needed - 1))()
    before = weights(module)
    with pytest.raises(
        ValueError, match=r"^Declared\.optimizer\.scheduler: Expected the length of `OneCycleLR`"
    ):
        fit(module, max_epochs=3)
    assert all(torch.equal(before[k], v) for k, v in weights(module).items())


def test_the_message_names_the_length_the_steps_and_the_fixes() -> None:
    message = (
        "Declared.optimizer.scheduler: Expected the length of `OneCycleLR` to cover the 12 steps the run takes "
        "it but got `total_steps=3` (3 steps); torch raises when it is stepped past its length, which would stop "
        "training at its step 4. Leave the length out to derive it from the run, or lengthen it, or shorten "
        "the run."
    )
    cls = declared(SchedulerSpec("onecycle", max_lr=0.1, total_steps=3))
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(cls(), max_epochs=3)
    # the preview of that run says the same
    with pytest.raises(ValueError, match=re.escape("to cover the 12 steps")):
        preview_schedule(cls, max_epochs=3, steps_per_epoch=4)


class HandWritten(Classifier):
    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=0.1)
        schedule = lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=11)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def test_what_the_refusal_prevents() -> None:
    """The hand-written run with one step too few stops at its last batch, with torch's message."""
    with pytest.raises(
        ValueError, match=re.escape("Tried to step 12 times. The specified number of total steps is 11")
    ):
        fit(HandWritten(), max_epochs=3)


# -- a run whose steps are not known when training starts -----------------------------------------------------


class Epochs(IterableDataset):  # type: ignore[type-arg]
    """``helpers.loader``'s batches of 8, ``batches`` of them an epoch, without a length: Lightning knows neither the
    steps of an epoch nor the run's."""

    def __init__(self, batches: int) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[Any]:
        return iter(helpers.loader(n=8 * self.batches))


class Losses(L.LightningModule):
    """``Classifier``'s network with its loss as a method and no training step, for ``OptimizerSpec(loss=...)``."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model_gen = helpers.Net()

    def loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.model_gen(x), y)


#: (scheduler options, optimizer options, Trainer options, batches an epoch, the scheduler updates the run takes);
#: the hand-written module steps its optimizer at the same batches with `accumulate_grad_batches` for `every`
UNKNOWN: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any], int, int]] = {
    # 3 epochs of 4 batches, unknown until they end: 12 steps, an update after each
    "per step": ({}, {}, {"max_epochs": 3}, 4, 12),
    # an update after batches 1 and 3 of each epoch
    "every other step": ({"frequency": 2}, {}, {"max_epochs": 3}, 4, 6),
    # steps at batches 1 and 3 of each epoch, an update after each
    "accumulating": ({}, {}, {"max_epochs": 3, "accumulate_grad_batches": 2}, 4, 6),
    "every": ({}, {"loss": "loss", "every": 2}, {"max_epochs": 3}, 4, 6),
    # `max_steps=12` counted as one endless epoch: windows of 4 batches end at batches 3, 7, 11, ..., and
    # `frequency=3` updates at 11, 23, ...: 4 updates. Epochs of 6 batches step at their batches 3 and 5 (a partial
    # window) and update at 5: 6 updates
    "epochs restarting max_steps": (
        {"frequency": 3},
        {},
        {"max_steps": 12, "max_epochs": -1, "accumulate_grad_batches": 4},
        6,
        6,
    ),
    # `max_steps=10` counted as one endless epoch: `frequency=2` updates after batches 1, 3, ..., 9: 5 updates,
    # more than the run takes. Epochs of 3 batches update at their batch 1 only: 3 updates in 3 epochs and a batch
    "epochs restarting max_steps, fewer updates": (
        {"frequency": 2},
        {},
        {"max_steps": 10, "max_epochs": -1},
        3,
        3,
    ),
}

#: the updates one endless epoch counts for the cases under `max_steps`, which their epochs do not keep to
ENDLESS_COUNT = {"epochs restarting max_steps": 4, "epochs restarting max_steps, fewer updates": 5}


def unknown_run(case: str, n: int) -> tuple[Any, Any, dict[str, Any]]:
    """The module declaring ``UNKNOWN[case]`` with ``total_steps=n``, the hand-written one, and the run's options."""
    scheduler, optimizer, run, batches, _ = UNKNOWN[case]
    declaration = OptimizerSpec("sgd", scheduler=spec({"total_steps": "{n}", **scheduler}, n), **optimizer)
    base = Losses if "loss" in optimizer else Classifier
    frequency = scheduler.get("frequency", 1)

    class HandWrittenCycle(Classifier):
        def configure_optimizers(self) -> Any:
            optimizer = SGD(self.parameters(), lr=0.1)
            schedule = lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=n)
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": schedule, "interval": "step", "frequency": frequency},
            }

    options = {**run, "data": DataLoader(Epochs(batches), batch_size=None)}
    reference = dict(
        options, accumulate_grad_batches=optimizer.get("every", run.get("accumulate_grad_batches", 1))
    )
    return helpers.declared(declaration, base)(), (HandWrittenCycle(), reference), options


@pytest.mark.parametrize("case", sorted(UNKNOWN))
def test_what_a_length_short_of_a_run_of_unknown_length_did(case: str) -> None:
    """The hand-written module with a length one update short: torch stops training at the update past it."""
    updates = UNKNOWN[case][-1]
    _, (reference, options), _ = unknown_run(case, updates - 1)
    message = f"Tried to step {updates} times. The specified number of total steps is {updates - 1}"
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(reference, **options)


@pytest.mark.parametrize("case", sorted(UNKNOWN))
def test_a_length_a_run_of_unknown_length_goes_past_is_refused_before_the_step_past_it(case: str) -> None:
    """Where the run's updates are not known when training starts (no ``max_steps``; or its count of one endless
    epoch, which epochs that restart ``batch_idx`` leave), the length is checked before each step of the scheduler:
    this package's refusal, as for a length the run is known to outgrow, instead of torch's ``Tried to step``."""
    updates = UNKNOWN[case][-1]
    module, _, options = unknown_run(case, updates - 1)
    why = (
        "When training started, one endless epoch of the train dataloader without a length (an `IterableDataset` "
        f"without `__len__`) counted {ENDLESS_COUNT[case]} updates, which the run does not keep to: `batch_idx` "
        "restarts with every epoch"
        if case in ENDLESS_COUNT
        else "The run's length was unknown when training started (the train dataloader has no length, so the steps "
        "of an epoch are unknown: set `max_steps`)."
    )
    message = (
        "Declared.optimizer.scheduler: Expected the length of `OneCycleLR` to cover the steps the run takes it but "
        f"got `total_steps={updates - 1}` ({updates - 1} steps): the run takes it to a step {updates}, and torch "
        f"raises when it is stepped past its length. {why}"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}") as refused:
        fit(module, **options)
    assert refused.value.args[0].endswith("Give a length that covers the run, or shorten the run.")
    (config,) = module.trainer.lr_scheduler_configs
    assert config.scheduler.inner.last_epoch == updates - 1  # refused before the step torch refuses


@pytest.mark.parametrize("case", sorted(UNKNOWN))
def test_a_length_a_run_of_unknown_length_exactly_takes_trains_as_torch(case: str) -> None:
    updates = UNKNOWN[case][-1]
    module, (reference, reference_options), options = unknown_run(case, updates)
    lrs = fit(module, **options).of()
    assert lrs == fit(reference, **reference_options).of()
    # the same value reached twice may differ in its last bits
    assert len({round(lr, 12) for lr in lrs}) == updates


@pytest.mark.parametrize("accumulate", [1, 2])
def test_a_length_short_of_an_exact_count_of_max_steps_is_refused_when_fit_starts(accumulate: int) -> None:
    """On data without a length, ``max_steps`` counts a ``frequency=1`` scheduler's updates exactly wherever the
    epochs end (one after every optimizer step, a partial accumulation window's at an epoch's end included): a
    length short of them is refused when ``fit`` starts, the weights untouched."""
    module = declared(spec({"total_steps": 9}, 9))()
    before = weights(module)
    data = DataLoader(Epochs(3), batch_size=None)
    with pytest.raises(
        ValueError, match=re.escape("to cover the 10 steps the run takes it but got `total_steps=9`")
    ):
        fit(module, data=data, max_steps=10, max_epochs=-1, accumulate_grad_batches=accumulate)
    assert all(torch.equal(before[k], v) for k, v in weights(module).items())
