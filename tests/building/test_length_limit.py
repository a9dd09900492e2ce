"""A given ``OneCycleLR`` length shorter than the run is refused when ``fit`` starts.

torch raises ``Tried to step N times`` once a ``OneCycleLR`` is stepped past its ``total_steps`` (or ``epochs``
x ``steps_per_epoch``), so a hand-written run stops mid-training with torch's message. Every case here is
run twice, with the length the run exactly needs (it trains to the end, which checks the count of steps
against torch itself) and with one step less (refused before any step, the weights untouched). Runs are
3 epochs of 4 batches (``tests.helpers.loader``): 12 optimizer steps.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch
from torch.optim import SGD, lr_scheduler

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
