"""A warmup as long as the run, or longer, is refused when ``fit`` starts: the whole run would train in warmup.

With an explicit length (``T_max=10``) nothing else catches it; with a derived length the same mistake is an
error already (nothing is left for the schedule). Runs are 4 batches per epoch (``tests.helpers.loader``).
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import lightning as L
import pytest
import torch
from torch.optim import SGD, lr_scheduler

from lightning_optim import OptimizerSpec, SchedulerSpec, preview_schedule
from tests import helpers
from tests.helpers import Classifier, fit, weights


def declared(scheduler: SchedulerSpec) -> type[Any]:
    return helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=scheduler))


class HandWrittenWarmup(Classifier):
    """The hand-written equivalent of ``SchedulerSpec("cosine", T_max=10, warmup=100, interval="step")``."""

    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=0.1)
        warmup = lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=100)
        cosine = lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
        schedule = lr_scheduler.SequentialLR(optimizer, [warmup, cosine], milestones=[100])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def test_the_hand_written_run_trains_entirely_in_warmup() -> None:
    """What the refusal prevents: 12 steps of a 100-step warmup, the cosine never starts."""
    lrs = fit(HandWrittenWarmup(), max_epochs=3).of()
    assert len(lrs) == 12 and all(a < b < 0.1 * 0.15 for a, b in itertools.pairwise(lrs))


def test_the_issue_case_is_refused_when_fit_starts_naming_both_numbers() -> None:
    module = declared(SchedulerSpec("cosine", T_max=10, warmup=100, interval="step"))()
    before = weights(module)
    message = (
        "Declared.optimizer.scheduler: Expected `warmup` to be shorter than the run but got `warmup=100` (steps) "
        "in a run of 12 steps: the whole run would train in warmup and `CosineAnnealingLR` would never act. "
        "Shorten the warmup (a float such as `warmup=0.1` is a fraction of the run) or lengthen the run."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(module, max_epochs=3)
    assert all(torch.equal(before[k], v) for k, v in weights(module).items())
    # the preview of that run says the same
    with pytest.raises(ValueError, match=re.escape("in a run of 12 steps")):
        preview_schedule(type(module), max_epochs=3, steps_per_epoch=4)


@pytest.mark.parametrize(
    ("scheduler", "trainer_kwargs", "counted"),
    [
        # as long as the run: the last step is still in warmup
        (
            SchedulerSpec("cosine", T_max=10, warmup=12, interval="step"),
            {},
            "`warmup=12` (steps) in a run of 12 steps",
        ),
        # frequency 2: 6 updates in 12 steps
        (
            SchedulerSpec("cosine", T_max=10, warmup=6, interval="step", frequency=2),
            {},
            "`warmup=6` (scheduler updates) in a run of 6 scheduler updates",
        ),
        # per epoch
        (SchedulerSpec("step", step_size=1, warmup=3), {}, "`warmup=3` (epochs) in a run of 3 epochs"),
        # epochs converted to steps (unit="epoch", stepped per step)
        (
            SchedulerSpec("step", step_size=1, warmup=3, interval="step", unit="epoch"),
            {},
            "`warmup=3` (3 epochs, 12 steps) in a run of 12 steps",
        ),
        # max_steps ends the run first
        (
            SchedulerSpec("cosine", T_max=10, warmup=5, interval="step"),
            {"max_steps": 5},
            "in a run of 5 steps",
        ),
    ],
)
def test_a_warmup_as_long_as_the_run_is_refused(
    scheduler: SchedulerSpec, trainer_kwargs: dict[str, Any], counted: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(counted)):
        fit(declared(scheduler)(), max_epochs=3, **trainer_kwargs)


def test_a_warmup_one_update_shorter_than_the_run_trains_as_hand_written() -> None:
    module = declared(SchedulerSpec("exponential", gamma=0.5, warmup=11, interval="step"))()
    lrs = fit(module, max_epochs=3).of()
    # a linear warmup from 0.1 * 1/11 ... reaching 0.1 at step 11, the last step
    assert lrs[-1] == pytest.approx(0.1) and lrs[0] < lrs[-2] < 0.1


class StopAfter(L.Callback):
    def __init__(self, batches: int) -> None:
        self.batches = batches

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.batches -= 1
        trainer.should_stop = self.batches <= 0


@pytest.mark.filterwarnings("ignore:`max_epochs` was not set")
def test_an_unknown_run_length_is_not_refused() -> None:
    """A run without a known length cannot be compared with the warmup: it trains (here stopped by hand)."""
    module = declared(SchedulerSpec("cosine", T_max=10, warmup=100, interval="step"))()
    lrs = fit(module, max_epochs=-1, callbacks=[StopAfter(3)]).of()
    assert len(lrs) == 3 and lrs[0] < lrs[1] < lrs[2] < 0.01


@pytest.mark.parametrize(
    ("scheduler", "fast_dev_run", "lrs"),
    [
        # 100 warmup steps in a 3-step smoke run: 2 of warmup (0.1/3, 0.2/3), then the cosine (T_max=1) starts
        (SchedulerSpec("cosine", warmup=100, interval="step"), 3, [0.1 / 3, 0.2 / 3, 0.1]),
        # a fraction rounds up to 1 update, the whole of a 1-step run: none is left, the schedule starts at once
        (SchedulerSpec("cosine", warmup=0.05, interval="step"), True, [0.1]),
        # 2 epochs of warmup, the smoke run is 1 epoch
        (SchedulerSpec("cosine", warmup=2), True, [0.1]),
        # with an explicit length nothing else is derived: the warmup alone is shortened
        (SchedulerSpec("exponential", gamma=0.5, warmup=10, interval="step"), 3, [0.1 / 3, 0.2 / 3, 0.1]),
    ],
    ids=["steps", "fraction", "epochs", "explicit-length"],
)
def test_a_fast_dev_run_shortens_the_warmup_to_leave_the_schedule_an_update(
    scheduler: SchedulerSpec, fast_dev_run: int | bool, lrs: list[float]
) -> None:
    """Lightning's smoke test (`fast_dev_run`) of a declaration meant for a long run: refused before."""
    assert fit(declared(scheduler)(), fast_dev_run=fast_dev_run).of() == pytest.approx(lrs)
