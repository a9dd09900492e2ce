"""The checks ``ScheduleLifecycle`` makes after training started: at every epoch start, and when the run ends.

A schedule fixed when training started takes steps of that run; a run that turns out another (a reloaded train
dataloader of another length, a last epoch ending before its last batch) is refused with this package's message
where the change shows, instead of training past a given ``OneCycleLR`` length into torch's own error, or ending
short of a length derived from the run without a word. A run stopped on purpose (``trainer.should_stop``,
``EarlyStopping``, ``max_time``, ``max_steps``) is not refused. Each case is compared with the hand-written module
or torch's scheduler it stands for.
"""

from __future__ import annotations

import datetime
import itertools
import re
import time
from typing import Any

import lightning as L
import pytest
from lightning.pytorch.callbacks import EarlyStopping
from torch import nn
from torch.optim import SGD, lr_scheduler
from torch.utils.data import DataLoader, IterableDataset

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec
from tests import helpers
from tests.helpers import FAST, Classifier, LrRecorder, fit, loader, torch_lrs

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


# -- a last epoch ending before its last batch ------------------------------------------------------------


class TwoBatches(IterableDataset):  # type: ignore[type-arg]
    """The first 2 batches of ``loader()``, without a length: Lightning plans the ``limit_train_batches`` it is
    given, 3."""

    def __iter__(self) -> Any:
        return itertools.islice(iter(loader()), 2)


def end_last_epoch_after_2_batches(self: Any, batch: Any, batch_idx: int) -> int | None:
    """An ``on_train_batch_start`` ending the run's last epoch after its first 2 batches (Lightning's -1)."""
    return -1 if self.current_epoch == self.trainer.max_epochs - 1 and batch_idx == 2 else None


class _Manual(Classifier):
    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        opt: Any = self.optimizers()
        self.manual_backward(nn.functional.cross_entropy(self.model_gen(x), y))
        opt.step()
        opt.zero_grad()


COSINE = SchedulerSpec("cosine", interval="step")


def cosine(base: type[Any] = Classifier, **attributes: Any) -> type[Any]:
    attributes["optimizer"] = OptimizerSpec(SGD, lr=0.1, scheduler=COSINE)
    return type("CutShort", (ConfigurableOptimizersMixin, base), attributes)


def refusal(length: int, steps: int, epoch: int, trained: int, batches: int) -> str:
    return (
        f"CutShort.optimizer.scheduler: `CosineAnnealingLR` was built with `T_max={length}`, derived from the run "
        f"when training started, but the run ended with its optimizer at step {steps} by Lightning's "
        f"`global_step` where that length counted {length}, though nothing in the run changed (training batches "
        "per epoch, `max_epochs`, `max_steps`, `accumulate_grad_batches` as when training started): epoch "
        f"{epoch} ended after {trained} of its {batches} training batches (an `on_train_batch_start` hook "
        "returned -1, or the train dataloader ran out), where a length derived from the run counts every batch "
        "of every epoch. The run ended after fewer steps than the schedule was derived from, so it stopped short "
        "of its end. Fix: give `T_max` explicitly."
    )


def test_a_data_stream_shorter_than_its_planned_last_epoch_is_refused_when_the_run_ends() -> None:
    # was silent: T_max=3 counted the 3 planned batches, the stream gave 2, and the cosine stopped at half its
    # amplitude ([0.1, 0.075]); with more epochs the same shortfall was refused at the next epoch start
    data = DataLoader(TwoBatches(), batch_size=None)
    expected = refusal(length=3, steps=2, epoch=0, trained=2, batches=3)
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        fit(cosine()(), data=data, max_epochs=1, limit_train_batches=3)


@pytest.mark.parametrize("base", [_Manual, Classifier], ids=["manual", "automatic"])
def test_a_last_epoch_ended_by_its_batch_start_hook_is_refused_when_the_run_ends(base: type[Any]) -> None:
    expected = refusal(length=8, steps=6, epoch=1, trained=2, batches=4)
    module = cosine(base, on_train_batch_start=end_last_epoch_after_2_batches)()
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        fit(module, max_epochs=2)


class Validated(Classifier):
    def val_dataloader(self) -> Any:
        return loader()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", nn.functional.cross_entropy(self.model_gen(x), y))


def stop_after_batch_1(self: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
    if batch_idx == 1:
        self.trainer.should_stop = True


def slow_batch_1(self: Any, batch: Any, batch_idx: int) -> None:
    if batch_idx == 1:
        time.sleep(0.3)  # past `max_time` by the end of the batch (or earlier, on a slow machine)


#: runs of one epoch of 4 batches stopped after its first 2 on purpose, and the `T_max` derived for them
STOPPED: dict[str, tuple[dict[str, Any], dict[str, Any], int]] = {
    "should_stop": ({"on_train_batch_end": stop_after_batch_1}, {}, 4),
    "EarlyStopping": (
        {},
        {
            "callbacks": [EarlyStopping(monitor="val_loss", stopping_threshold=float("inf"))],
            "val_check_interval": 2,
            "limit_val_batches": 1,
            "num_sanity_val_steps": 0,
        },
        4,
    ),
    "max_time": ({"on_train_batch_start": slow_batch_1}, {"max_time": datetime.timedelta(seconds=0.2)}, 4),
    "max_steps": ({}, {"max_steps": 2}, 2),
}


@pytest.mark.parametrize("how", sorted(STOPPED))
def test_a_run_stopped_on_purpose_before_its_last_batch_is_not_refused(how: str) -> None:
    attributes, trainer_kwargs, length = STOPPED[how]
    lrs = fit(cosine(Validated, **attributes)(), data=loader(), max_epochs=1, **trainer_kwargs).of()
    expected = torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=length), 4)
    assert lrs == pytest.approx(expected[: len(lrs)], rel=1e-12)
    assert 1 <= len(lrs) <= 2


# -- a schedule declared in epochs (`unit="epoch"`) in a run whose epoch ended short ------------------------

#: per-step schedules declared in epochs whose length is derived from the run, and that length by torch
IN_EPOCHS: dict[str, tuple[SchedulerSpec, Any]] = {
    "linear": (
        SchedulerSpec(lr_scheduler.LinearLR, start_factor=0.1, end_factor=0.5),
        lambda steps: lambda o: lr_scheduler.LinearLR(o, start_factor=0.1, end_factor=0.5, total_iters=steps),
    ),
    "cosine": (
        SchedulerSpec("cosine"),
        lambda steps: lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=steps),
    ),
}


def in_epochs(
    name: str, base: type[Any] = Classifier, warmup: float | None = None, **attributes: Any
) -> type[Any]:
    spec = IN_EPOCHS[name][0]
    scheduler = SchedulerSpec(spec.scheduler, interval="step", unit="epoch", warmup=warmup, **spec.kwargs)
    attributes["optimizer"] = OptimizerSpec(SGD, lr=0.1, scheduler=scheduler)
    return type("InEpochs", (ConfigurableOptimizersMixin, base), attributes)


def in_steps(name: str, steps: int) -> list[float]:
    """The lrs of ``IN_EPOCHS[name]`` over a run of ``steps`` steps, by torch."""
    return torch_lrs(IN_EPOCHS[name][1](steps), steps)


@pytest.mark.parametrize("max_steps", [2, 6], ids=["in_epoch_0", "in_epoch_1"])
@pytest.mark.parametrize("base", [_Manual, Classifier], ids=["manual", "automatic"])
@pytest.mark.parametrize("name", list(IN_EPOCHS))
def test_a_schedule_in_epochs_of_a_run_max_steps_ends_mid_epoch_trains_to_its_end(
    name: str, base: type[Any], max_steps: int
) -> None:
    # was: refused when training ended, after every step trained, as if the epoch `max_steps` cut were a change
    # of the steps per epoch ("the run ended with its optimizer at step 2 ... where that length counted 4")
    lrs = fit(in_epochs(name, base)(), max_epochs=3, max_steps=max_steps).of()
    assert lrs == pytest.approx(in_steps(name, max_steps), rel=1e-12)


@pytest.mark.parametrize("max_steps", [2, 6], ids=["in_epoch_0", "in_epoch_1"])
def test_a_fractional_warmup_in_epochs_of_a_run_max_steps_ends_mid_epoch_trains_every_step(
    max_steps: int,
) -> None:
    # was: refused when training ended ("was built with a warmup of 1 updates and 4 steps per epoch ...")
    lrs = fit(in_epochs("cosine", warmup=0.3)(), max_epochs=3, max_steps=max_steps).of()
    assert len(lrs) == max_steps


def test_a_schedule_in_epochs_of_two_optimizers_max_steps_ends_mid_epoch_trains_to_its_end() -> None:
    """Manual optimization of two optimizers: ``max_steps=12`` counts both, 6 batches, 2 of them in epoch 1."""
    gen = OptimizerSpec(
        SGD, lr=0.1, params="model_gen", scheduler=SchedulerSpec("cosine", interval="step", unit="epoch")
    )
    dis = OptimizerSpec(
        SGD, lr=0.1, params="model_dis", scheduler=SchedulerSpec("exponential", gamma=0.5, interval="step")
    )
    module = type("TwoInEpochs", (ConfigurableOptimizersMixin, helpers.TwoNets), {"gen": gen, "dis": dis})()
    recorder = fit(module, max_epochs=3, max_steps=12)
    assert recorder.of(0) == pytest.approx(torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=6), 6))
    assert recorder.of(1) == pytest.approx(torch_lrs(lambda o: lr_scheduler.ExponentialLR(o, gamma=0.5), 6))


def test_a_second_fit_with_a_raised_max_steps_goes_on_after_an_epoch_max_steps_ended() -> None:
    recorder = LrRecorder()
    trainer = L.Trainer(callbacks=[recorder], **FAST, max_epochs=3, max_steps=2)
    module = in_epochs("cosine")()
    trainer.fit(module, loader())
    trainer.fit_loop.epoch_loop.max_steps = 6
    trainer.fit(module, loader())  # a fresh schedule over the 4 steps of this fit
    cosine = [torch_lrs(lambda o, n=n: lr_scheduler.CosineAnnealingLR(o, T_max=n), n) for n in (2, 4)]
    assert recorder.of() == pytest.approx(cosine[0] + cosine[1], rel=1e-12)


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_a_schedule_in_epochs_resumed_after_an_epoch_max_steps_ended_goes_on_at_its_step(
    name: str, tmp_path: Any
) -> None:
    """Resumed with a raised ``max_steps`` at the steps per epoch it was written with: the run of 6 steps from
    the start. The epoch ``max_steps`` ended was taken for a change of the steps per epoch: "continue" built the
    schedule for 10 steps and went on at its step 6, "error" said the length was 10 now."""
    trainer = L.Trainer(**FAST, max_epochs=3, max_steps=2)
    trainer.fit(in_epochs(name)(), loader())
    trainer.save_checkpoint(tmp_path / "stopped.ckpt")

    resumed = in_epochs(name, resume_changed_setup="continue")()
    rest = helpers.fit_resumed(resumed, str(tmp_path / "stopped.ckpt"), max_steps=6).of()
    assert rest == pytest.approx(in_steps(name, 6)[2:], rel=1e-12)

    derived = "total_iters" if name == "linear" else "T_max"
    with pytest.raises(ValueError, match=re.escape(f"{derived} (derived): 2 in the checkpoint, 6 now")):
        helpers.fit_resumed(in_epochs(name)(), str(tmp_path / "stopped.ckpt"), max_steps=6)


def end_epoch_0_after_2_batches(self: Any, batch: Any, batch_idx: int) -> int | None:
    return -1 if self.current_epoch == 0 and batch_idx == 2 else None


@pytest.mark.parametrize(
    ("hook", "where"),
    [
        (end_epoch_0_after_2_batches, "at epoch 1 its optimizer stands"),
        (end_last_epoch_after_2_batches, "the run ended with its optimizer"),
    ],
    ids=["epoch_0", "last_epoch"],
)
@pytest.mark.parametrize("base", [_Manual, Classifier], ids=["manual", "automatic"])
def test_a_schedule_in_epochs_of_a_run_whose_epoch_ended_short_is_refused_as_one_in_steps(
    base: type[Any], hook: Any, where: str
) -> None:
    # was silent: the 2 batches the hook left out were taken for a change of the steps per epoch, and the cosine
    # of T_max=8 stopped at its step 6, short of its end, where the same cosine in steps was refused
    module = in_epochs("cosine", base, on_train_batch_start=hook)()
    epoch = 0 if hook is end_epoch_0_after_2_batches else 1
    expected = (
        "InEpochs.optimizer.scheduler: `CosineAnnealingLR` was built with `T_max=8` and 4 steps per epoch, derived "
        f"from the run when training started, but {where} at step {2 if epoch == 0 else 6} by Lightning's "
        f"`global_step` where that length counted {4 if epoch == 0 else 8}"
    )
    with pytest.raises(
        ValueError, match=f"^{re.escape(expected)}.* epoch {epoch} ended after 2 of its 4 training"
    ):
        fit(module, max_epochs=2)
