"""The checks ``ScheduleLifecycle`` makes after training started, at every epoch start.

A schedule fixed when training started takes steps of that run; a run that turns out longer (a reloaded train
dataloader of another length) is refused with this package's message at the epoch start where the change shows,
instead of training past a given ``OneCycleLR`` length into torch's own error. Each case is compared with the
hand-written module or torch's scheduler it stands for.
"""

from __future__ import annotations

import re
from typing import Any

import lightning as L
import pytest
from torch.optim import SGD, lr_scheduler

from lightning_optim import OptimizerSpec, SchedulerSpec
from tests import helpers
from tests.helpers import FAST, Classifier, LrRecorder, loader, torch_lrs

# -- a given length the run outgrows ----------------------------------------------------------------------


class Growing(Classifier):
    """The train dataloader of epoch ``e`` has ``4 + 2e`` batches (reloaded every epoch): 4, 6 and 8, 18 steps
    in 3 epochs, 12 as the run stands when training starts, 16 at epoch 1's start."""

    def train_dataloader(self) -> Any:
        return loader(n=8 * (4 + 2 * self.trainer.current_epoch))


class HandWrittenGrowing(Growing):
    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=0.1)
        schedule = lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=14)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def onecycle(total_steps: int) -> type[Any]:
    scheduler = SchedulerSpec("onecycle", max_lr=0.1, total_steps=total_steps, interval="step")
    return helpers.declared(OptimizerSpec("sgd", scheduler=scheduler), Growing)  # the lr is OneCycleLR's


def reloading(recorder: L.Callback | None = None) -> L.Trainer:
    callbacks = [recorder] if recorder is not None else []
    return L.Trainer(callbacks=callbacks, **FAST, max_epochs=3, reload_dataloaders_every_n_epochs=1)


def test_what_a_given_length_the_run_outgrows_did() -> None:
    """The hand-written module: 12 steps planned when training starts, 18 run; torch stops it in epoch 2."""
    with pytest.raises(
        ValueError, match=re.escape("Tried to step 15 times. The specified number of total steps is 14")
    ):
        reloading().fit(HandWrittenGrowing())


def test_a_given_length_the_reloaded_run_outgrows_is_refused_at_the_epoch_start_that_shows_it() -> None:
    # was: the length was checked only when fit started (12 steps), and torch stopped training in epoch 2
    message = (
        "Declared.optimizer.scheduler: Expected the length of `OneCycleLR` to cover the 16 steps the run takes it "
        "but got `total_steps=14` (14 steps); torch raises when it is stepped past its length, which would stop "
        "training at its step 15. The run changed at epoch 1: training batches per epoch 4 -> 6 "
        "(`reload_dataloaders_every_n_epochs=1` reloaded the train dataloader), after the length was checked when "
        "training started. Give a length that covers the run as it changes (a length left to the run cannot "
        "follow a change), or shorten the run."
    )
    trainer = reloading()
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        trainer.fit(onecycle(14)())
    assert trainer.global_step == 4  # stopped before any step of epoch 1


def test_a_given_length_that_covers_the_reloaded_run_trains_as_torch() -> None:
    recorder = LrRecorder()
    reloading(recorder).fit(onecycle(18)())
    expected = torch_lrs(lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=18), 18)
    assert recorder.of() == pytest.approx(expected, rel=1e-12)
