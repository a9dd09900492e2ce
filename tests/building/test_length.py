"""Lengths derived from the run (``building/length.py``), against what a hand-written module's schedulers do in
the same run."""

from __future__ import annotations

import re
from collections.abc import Iterator
from math import cos, pi
from typing import Any

import pytest
import torch
from lightning.pytorch.callbacks import GradientAccumulationScheduler
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingLR
from torch.utils.data import DataLoader, Dataset, IterableDataset

from lightning_optim import (
    ConfigurableOptimizersMixin,
    HParam,
    OptimizerSpec,
    SchedulerSpec,
    preview_schedule,
)
from lightning_optim.schedules.timm_cosine import TimmCosineLR
from lightning_optim.utilities import step_rule
from tests import helpers
from tests.helpers import Classifier, fit, torch_lrs


class Stream(IterableDataset):  # type: ignore[type-arg]
    """Batches without a length: one endless epoch."""

    def __iter__(self) -> Iterator[Any]:
        generator = torch.Generator().manual_seed(0)
        while True:
            yield torch.randn(8, 8, generator=generator), torch.randint(0, 4, (8,), generator=generator)


def stream() -> DataLoader:
    return DataLoader(Stream(), batch_size=None)


class HandWritten(Classifier):
    """``torch_scheduler(optimizer)`` stepped per step (or per ``interval``) with ``frequency``."""

    def __init__(self, torch_scheduler: Any, frequency: int, interval: str = "step") -> None:
        super().__init__()
        self.torch_scheduler, self.frequency, self.interval = torch_scheduler, frequency, interval

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        scheduler = {
            "scheduler": self.torch_scheduler(optimizer),
            "interval": self.interval,
            "frequency": self.frequency,
        }
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


@pytest.mark.filterwarnings("ignore:.*does not have many workers")
@pytest.mark.parametrize(
    ("accumulate", "frequency", "updates"),
    [
        (2, 2, 12),  # every stepping batch (1, 3, 5, ...) has (batch_idx + 1) % 2 == 0: every step updates
        (2, 4, 6),  # every other step
        (3, 2, 6),  # batches 2, 5, 8, 11, ...: every other step
        (1, 3, 4),  # every third step
    ],
)
@pytest.mark.parametrize("name", ["cosine", "onecycle"])
def test_data_of_unknown_length_counts_the_updates_by_lightnings_rule(
    name: str, accumulate: int, frequency: int, updates: int
) -> None:
    """In one endless epoch Lightning updates a per-step scheduler after the optimizer steps at batches
    ``(batch_idx + 1) % frequency == 0``, and with accumulation only every ``accumulate``-th batch steps: with
    ``accumulate_grad_batches=2, frequency=2`` every step updates. The length was ``steps // frequency``, half
    the updates: the cosine went back up in the run's second half and ``OneCycleLR`` failed inside torch."""
    if name == "cosine":
        declared = SchedulerSpec("cosine", interval="step", frequency=frequency)

        def torch_scheduler(o: Any) -> Any:
            return torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=updates)
    else:
        declared = SchedulerSpec("onecycle", max_lr=0.1, interval="step", frequency=frequency)

        def torch_scheduler(o: Any) -> Any:
            return torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=updates)

    run = {"max_steps": 12, "max_epochs": -1, "accumulate_grad_batches": accumulate, "data": stream()}
    with helpers.lr_replaced(False):
        mixin = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=declared))()
    lrs = fit(mixin, **run).of()
    assert lrs == fit(HandWritten(torch_scheduler, frequency), **run).of()
    assert len(lrs) == 12 * accumulate


class Epochs(IterableDataset):  # type: ignore[type-arg]
    """``helpers.loader``'s batches of 8, ``batches`` of them an epoch, without a length: epochs that end and restart
    where Lightning does not know they will."""

    def __init__(self, batches: int) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[Any]:
        return iter(helpers.loader(n=8 * self.batches))


@pytest.mark.parametrize(
    ("name", "frequency", "accumulate", "batches", "max_steps", "period"),
    [
        # updates after batches 1 and 3 of each epoch: steps 2, 4, 7, 9, 12, 14, not the 2, 4, 6, ... counted
        ("cosine", 2, 1, 5, 15, 2),
        # windows end at batches 3 and 5 (a partial one), the update after batch 5 of each epoch: one every 2 steps
        ("onecycle", 3, 4, 6, 8, 12),
    ],
)
def test_data_of_unknown_length_whose_epochs_restart_the_count_is_refused_at_the_next_epoch(
    name: str, frequency: int, accumulate: int, batches: int, max_steps: int, period: int
) -> None:
    """A per-step schedule with ``frequency > 1`` on data of unknown length counts its updates as one endless epoch,
    which is Lightning's rule only while the epochs end at a multiple of ``frequency`` (and of the accumulation):
    ``batch_idx`` restarts with every epoch. Was a cosine one update too long, trained silently, and torch's
    ``Tried to step 4 times. The specified number of total steps is 3`` from ``OneCycleLR`` mid-run; refused where
    the run leaves the count, at the next epoch's start (epoch 0 went as counted)."""
    kwargs = {"max_lr": 0.1} if name == "onecycle" else {}
    declared = SchedulerSpec(name, interval="step", frequency=frequency, **kwargs)
    mixin = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=declared))()
    length = "T_max` of `CosineAnnealingLR" if name == "cosine" else "total_steps` of `OneCycleLR"
    message = (
        "Declared.optimizer.scheduler: Expected the epochs of a train dataloader without a length (an "
        f"`IterableDataset` without `__len__`) to end at a multiple of {period} training batches but got {batches} "
        f"batches before epoch 1: `{length}` was counted as one endless epoch by `frequency={frequency}` "
    )
    data = DataLoader(Epochs(batches), batch_size=None)
    run = {"max_steps": max_steps, "max_epochs": -1, "accumulate_grad_batches": accumulate}
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        fit(mixin, data=data, **run)
    # stopped as epoch 1 started: no batch of it trained
    assert (
        mixin.trainer.current_epoch == 1
        and mixin.trainer.fit_loop.epoch_loop.batch_progress.total.started == batches
    )


def test_data_of_unknown_length_whose_epochs_keep_the_count_trains_as_the_data_with_a_length() -> None:
    """Epochs of 6 batches, ``frequency=2``: each restarts where the endless count is at an update's start, so the
    count is Lightning's, and the run is the hand-written module's on the same data with a length (15 steps over 3
    epochs, updated after steps 2, 4, ..., 14: ``T_max=8``, the values the run trains with, as the same run derives on
    data with a length)."""
    declared = SchedulerSpec("cosine", interval="step", frequency=2)
    run = {"max_steps": 15, "max_epochs": -1}
    mixin = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=declared))()
    lrs = fit(mixin, data=DataLoader(Epochs(6), batch_size=None), **run).of()

    def torch_scheduler(o: Any) -> Any:
        return torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=8)

    assert lrs == fit(HandWritten(torch_scheduler, 2), data=helpers.loader(n=48), **run).of()
    assert len(lrs) == 15 and len(set(lrs)) == 8


GAS_REFUSED = (
    "Declared.optimizer.scheduler: Expected the `GradientAccumulationScheduler` on a train dataloader without a "
    "length (an `IterableDataset` without `__len__`) to keep updating the scheduler every {counted} optimizer steps, "
    "as `accumulate_grad_batches={first}` of epoch 0 does, but got `accumulate_grad_batches={then}` from epoch 1, "
    "which updates it every {now}: `{length}` was counted as one endless epoch by `frequency=2` "
)
PERIOD_REFUSED = (
    "Declared.optimizer.scheduler: Expected the epochs of a train dataloader without a length (an `IterableDataset` "
    "without `__len__`) to end at a multiple of 6 training batches but got 16 batches before epoch 2: `{length}` was "
    "counted as one endless epoch by `frequency=2` "
)


@pytest.mark.parametrize(
    ("name", "scheduling", "max_steps", "refused", "epoch"),
    [
        # epoch 0 updates every other step, epochs 1 on (windows end at batches 1, 3, 5, 7) every step: 4 + 4 + 3
        # updates before the 16th step, T_max=12 by hand, counted 8: the cosine reached 0 and climbed back
        (
            "cosine",
            {0: 1, 1: 2},
            16,
            GAS_REFUSED.format(counted=2, first=1, then=2, now=1, length="{length}"),
            1,
        ),
        # the same count of 8: torch's `Tried to step 9 times. The specified number of total steps is 8` at step 13
        (
            "onecycle",
            {0: 1, 1: 2},
            16,
            GAS_REFUSED.format(counted=2, first=1, then=2, now=1, length="{length}"),
            1,
        ),
        # the other way: 4 + 3 updates before the 12th step by hand, counted 11: the cosine ended at 0.025, not 0
        (
            "cosine",
            {0: 2, 1: 1},
            12,
            GAS_REFUSED.format(counted=1, first=2, then=1, now=2, length="{length}"),
            1,
        ),
        # the same update every other step with accumulate 3, but its windows end at batches 2, 5 and 7 of 8 (an
        # update after 5 and 7): 4 + 4 + 2 + 1 updates before the 22nd step by hand, counted 10
        ("cosine", {0: 1, 2: 3}, 22, PERIOD_REFUSED, 2),
    ],
)
def test_data_of_unknown_length_whose_accumulation_scheduler_changes_the_count_is_refused_at_that_epoch(
    name: str, scheduling: dict[int, int], max_steps: int, refused: str, epoch: int
) -> None:
    """A ``GradientAccumulationScheduler`` on data of unknown length (epochs of 8 batches), ``frequency=2``: the
    count of the run as one endless epoch took epoch 0's accumulation for every epoch, so a later accumulation that
    updates the scheduler at another rate, or whose windows end elsewhere in the epochs, trained a silently wrong
    cosine and stopped ``OneCycleLR`` inside torch. Refused as the epoch that leaves the count starts, before any
    step of it (the epochs before went as counted)."""
    kwargs = {"max_lr": 0.1} if name == "onecycle" else {}
    declared = SchedulerSpec(name, interval="step", frequency=2, **kwargs)
    mixin = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=declared))()
    length = "T_max` of `CosineAnnealingLR" if name == "cosine" else "total_steps` of `OneCycleLR"
    run = {"max_steps": max_steps, "max_epochs": -1, "callbacks": [GradientAccumulationScheduler(scheduling)]}
    with pytest.raises(ValueError, match=f"^{re.escape(refused.format(length=length))}"):
        fit(mixin, data=DataLoader(Epochs(8), batch_size=None), **run)
    assert (
        mixin.trainer.current_epoch == epoch
        and mixin.trainer.fit_loop.epoch_loop.batch_progress.total.started == 8 * epoch
    )


@pytest.mark.parametrize(
    ("scheduling", "frequency", "max_steps", "t_max"),
    [
        ({0: 1, 3: 2}, 2, 16, 8),  # the change falls after the run's 2 epochs: an update every other step
        ({0: 2, 1: 4}, 2, 12, 12),  # windows end at odd batches at either accumulation: an update every step
        ({0: 1, 1: 2}, 1, 12, 12),  # `frequency=1` counts steps, whatever the accumulation
    ],
)
def test_data_of_unknown_length_whose_accumulation_scheduler_keeps_the_count_trains_as_the_hand_written_module(
    scheduling: dict[int, int], frequency: int, max_steps: int, t_max: int
) -> None:
    """A ``GradientAccumulationScheduler`` on data of unknown length that leaves the count of the run as one
    endless epoch as it is trains: the lrs of the hand-written module with the true ``T_max`` on the same run."""
    declared = SchedulerSpec("cosine", interval="step", frequency=frequency)
    mixin = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=declared))()

    def run(module: Any) -> list[float]:
        callbacks = [GradientAccumulationScheduler(scheduling)]
        data = DataLoader(Epochs(8), batch_size=None)
        return fit(module, data=data, max_steps=max_steps, max_epochs=-1, callbacks=callbacks).of()

    def torch_scheduler(o: Any) -> Any:
        return torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=t_max)

    lrs = run(mixin)
    assert lrs == run(HandWritten(torch_scheduler, frequency))
    assert len(set(lrs)) == t_max


@pytest.mark.parametrize("accumulate", [1, 3])
def test_a_derived_length_counts_each_epochs_updates_by_lightnings_rule(accumulate: int) -> None:
    """docs/guides/schedules.md's worked example: 8 batches an epoch, 2 epochs, ``frequency=3``. Each epoch
    updates after the steps at batches 2 and 5 (with ``accumulate_grad_batches=3`` the windows end at 2, 5 and
    7), since ``batch_idx`` restarts every epoch: 4 updates before the last step and the value it starts with,
    ``T_max=5``, not the run's 16 batches divided by ``frequency`` and rounded up (6)."""
    declared = SchedulerSpec("cosine", interval="step", frequency=3)
    run = {"max_epochs": 2, "accumulate_grad_batches": accumulate, "data": helpers.loader(n=64)}
    lrs = fit(helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=declared))(), **run).of()

    def torch_scheduler(o: Any) -> Any:
        return torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=5)

    assert lrs == fit(HandWritten(torch_scheduler, 3), **run).of()
    assert len(set(lrs)) == 5 and len(lrs) == 16


def phases(t_max: int | None = None) -> type[Any]:
    """The schedules guide's ``Phases`` recipe: a linear warmup to update 500, then a cosine from there (its
    ``T_max`` derived from the run when ``t_max`` is ``None``)."""
    cosine = {} if t_max is None else {"T_max": t_max}
    scheduler = [
        SchedulerSpec("linear", start_factor=0.01, end=500, interval="step"),
        SchedulerSpec("cosine", begin=500, interval="step", **cosine),
    ]
    return helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=scheduler), name="Phases")


def test_a_window_past_the_run_is_refused_before_its_length_is_derived() -> None:
    """A window beginning after the run's end never acts. With ``T_max`` given that was refused so; derived, the
    length was computed first and the error was about a window of -488 updates."""
    message = (
        "Phases.optimizer.scheduler[1]: the window of `CosineAnnealingLR` begins at its update 500, but the run "
        "has only 12 step updates, so it would never act; move `begin` into the run or lengthen the run."
    )
    for cls in (phases(), phases(t_max=1000)):
        with pytest.raises(ValueError, match=re.escape(message)):
            fit(cls(), max_epochs=3)


@pytest.mark.parametrize("fast_dev_run", [True, 3])
def test_a_window_past_a_smoke_run_trains_with_a_derived_length(fast_dev_run: bool | int) -> None:
    """``fast_dev_run`` runs a declaration meant for a long run as it is; a window past its end was exempt from
    the check above with ``T_max`` given, but failed with a derived one (a window of -499 updates)."""
    derived = fit(phases()(), fast_dev_run=fast_dev_run).of()
    assert derived == fit(phases(t_max=1000)(), fast_dev_run=fast_dev_run).of()
    assert len(derived) == fast_dev_run


#: the ``Phases`` recipe in fractions of the run (a linear warmup over its first half, then the cosine), and a
#: warmup window alone: a long run's declarations, which train in a run of a step or two
FRACTION_PHASES = [
    SchedulerSpec("linear", start_factor=0.1, end=0.5, interval="step"),
    SchedulerSpec("cosine", begin=0.5, interval="step"),
]
FRACTION_WARMUP = [SchedulerSpec("linear", start_factor=0.01, end=0.1, interval="step")]
#: timm's cosine behind a prefix warmup of 3 optimizer steps (``t_initial`` derived after it), and of 2 epochs
TIMM_PREFIX = SchedulerSpec("timm/cosine", warmup_t=3, warmup_prefix=True, t_in_epochs=False)
TIMM_PREFIX_EPOCHS = SchedulerSpec("timm/cosine", warmup_t=2, warmup_prefix=True)


def mmengine_lrs(build: Any, steps: int) -> list[float]:
    """The lr of each of ``steps`` iterations under mmengine's per-iteration schedulers ``build(mm, optimizer)``
    (mmengine, the reference for windows: tests/schedules/test_window.py)."""
    mm = pytest.importorskip("mmengine.optim.scheduler")
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    schedulers, lrs = build(mm, optimizer), []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    return lrs


@pytest.mark.parametrize(
    ("scheduler", "fast_dev_run", "reference", "lrs"),
    [
        # 1 update: the warmup's window [0, int(0.5 * 1)) is empty and left idle; the cosine's is the run
        (
            FRACTION_PHASES,
            True,
            lambda mm, o: [mm.CosineAnnealingLR(o, T_max=1, begin=0, end=1, by_epoch=False)],
            [0.1],
        ),
        # 3 updates: the warmup's window is [0, 1), whose `total_iters` (end - begin - 1 = 0) is 1; its one
        # update is its construction, then the cosine's [1, 3) goes on from the lr it left
        (
            FRACTION_PHASES,
            3,
            lambda mm, o: [
                mm.LinearLR(o, start_factor=0.1, begin=0, end=1, by_epoch=False),
                mm.CosineAnnealingLR(o, T_max=2, begin=1, end=3, by_epoch=False),
            ],
            [0.01, 0.01, 0.005],
        ),
        # [0, int(0.1 * 1)) and [0, int(0.1 * 3)) are empty: the lr stays as declared
        (FRACTION_WARMUP, True, lambda mm, o: [], [0.1]),
        (FRACTION_WARMUP, 3, lambda mm, o: [], [0.1] * 3),
    ],
    ids=["phases-1", "phases-3", "warmup-1", "warmup-3"],
)
def test_a_smoke_run_trains_windows_in_fractions_that_round_to_no_update(
    scheduler: list[SchedulerSpec], fast_dev_run: bool | int, reference: Any, lrs: list[float]
) -> None:
    """Lightning's ``fast_dev_run`` runs a declaration meant for a long run as it is; a window in fractions of the
    run that rounds to no update was refused there ("empty for this run; widen it or lengthen the run"), and one
    of a single update for the 0 ``total_iters`` derived from it, where the smoke run sets the length."""
    cls = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=scheduler))
    fitted = fit(cls(), fast_dev_run=fast_dev_run).of()
    assert fitted == pytest.approx(mmengine_lrs(reference, int(fast_dev_run)), rel=1e-12, abs=0.0)
    assert fitted == pytest.approx(lrs, rel=1e-12, abs=0.0)


@pytest.mark.parametrize(
    ("scheduler", "fast_dev_run", "lrs"),
    [
        # timm's warmup from `warmup_lr_init=0` over 3 steps: a smoke run of 1 or 3 steps trains inside it
        (TIMM_PREFIX, True, [0.0]),
        (TIMM_PREFIX, 3, [0.0, 0.1 / 3, 0.2 / 3]),
        # per epoch: the smoke run is epoch 0, at the warmup's first lr
        (TIMM_PREFIX_EPOCHS, True, [0.0]),
        (TIMM_PREFIX_EPOCHS, 3, [0.0] * 3),
    ],
    ids=["steps-1", "steps-3", "epochs-1", "epochs-3"],
)
def test_a_smoke_run_trains_a_timm_cosine_whose_prefix_warmup_outlasts_it(
    scheduler: SchedulerSpec, fast_dev_run: bool | int, lrs: list[float]
) -> None:
    """``t_initial`` derived after a prefix ``warmup_t`` longer than the smoke run was refused there ("that gives
    -2; lengthen the run or give `t_initial`"): it is 1, and the run trains in timm's warmup as declared."""
    options = {k: scheduler.kwargs[k] for k in ("warmup_t", "warmup_prefix")}
    per_step = scheduler.kwargs.get("t_in_epochs") is False
    mixin = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=scheduler))
    fitted = fit(mixin(), fast_dev_run=fast_dev_run).of()

    def timm(o: Any) -> Any:
        return TimmCosineLR(o, t_initial=1, t_in_epochs=not per_step, **options)

    hand_written = HandWritten(timm, 1, "step" if per_step else "epoch")
    assert fitted == fit(hand_written, fast_dev_run=fast_dev_run).of()
    assert fitted == pytest.approx(lrs, rel=1e-12, abs=0.0)


@pytest.mark.parametrize(
    ("scheduler", "steps", "message"),
    [
        (
            FRACTION_PHASES,
            1,
            "Declared.optimizer.scheduler[0]: the window of `LinearLR` is [0, 0) in scheduler updates, but it is "
            "empty for this run; widen it or lengthen the run.",
        ),
        (
            FRACTION_PHASES,
            3,
            "Declared.optimizer.scheduler[0]: `total_iters` of `LinearLR` is derived from its window of 1 updates, "
            "but that gives 0; lengthen the run or give `total_iters`.",
        ),
        (
            FRACTION_WARMUP,
            3,
            "Declared.optimizer.scheduler[0]: the window of `LinearLR` is [0, 0) in scheduler updates, but it is "
            "empty for this run; widen it or lengthen the run.",
        ),
        (
            TIMM_PREFIX,
            1,
            "Declared.optimizer.scheduler: `t_initial` of `TimmCosineLR` is derived from the run's 1 scheduler "
            "updates, but that gives -2; lengthen the run or give `t_initial`.",
        ),
        (
            TIMM_PREFIX,
            3,
            "Declared.optimizer.scheduler: `t_initial` of `TimmCosineLR` is derived from the run's 3 scheduler "
            "updates, but that gives 0; lengthen the run or give `t_initial`.",
        ),
        (
            TIMM_PREFIX_EPOCHS,
            3,
            "Declared.optimizer.scheduler: `t_initial` of `TimmCosineLR` is derived from the run's 1 scheduler "
            "updates, but that gives -1; lengthen the run or give `t_initial`.",
        ),
    ],
    ids=["phases-1", "phases-3", "warmup-3", "timm-steps-1", "timm-steps-3", "timm-epochs"],
)
def test_the_declarations_a_smoke_run_trains_are_refused_in_a_real_run_of_its_length(
    scheduler: Any, steps: int, message: str
) -> None:
    """Outside ``fast_dev_run`` the same run (one epoch of ``steps`` batches) is refused, when training starts
    and by the preview: a window of no update never acts, a length of 0 is no schedule."""
    cls = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=scheduler))
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(cls(), max_epochs=1, limit_train_batches=steps)
    with pytest.raises(ValueError, match=re.escape(message)):
        preview_schedule(cls, max_epochs=1, steps_per_epoch=steps)


@pytest.mark.parametrize(
    "scheduler",
    [
        [SchedulerSpec("linear", start_factor=0.1, end=1, interval="step"), SchedulerSpec("cosine", begin=1, interval="step")],
        [SchedulerSpec("cosine", end=3, interval="step"), SchedulerSpec("linear", start_factor=0.1, begin=3, end=4, interval="step")],
    ],
    ids=["end-1", "begin-3-end-4"],
)  # fmt: skip
def test_a_smoke_run_refuses_a_window_in_updates_every_run_refuses(scheduler: Any) -> None:
    """A window whose ``begin``/``end`` are updates has the same span in every run: a ``LinearLR`` over one update
    (``total_iters`` 0) is refused by ``fast_dev_run`` as by the real run, so the smoke run catches it. Was
    (found by review): the smoke run's 1 for a length below 1 applied to it too, training it at ``[0.01, 0.01]``."""
    cls = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=scheduler))
    message = "`total_iters` of `LinearLR` is derived from its window of 1 updates, but that gives 0"
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(cls(), max_epochs=3)
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(cls(), fast_dev_run=2)


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        (
            "transformers/linear",
            {"num_warmup_steps": 100},
            "Declared.optimizer.scheduler: Expected the warmup of `LinearWithWarmupLR` to end within the run but "
            "got `num_warmup_steps=100` (100 updates) in the run's 8 updates (one per optimizer step): the lr would "
            "stay in its warmup for the whole run and never reach its declared value. Shorten the warmup to at most "
            "7 updates (`num_warmup_steps=7`; a fraction of `num_training_steps` is rounded up) or lengthen the run.",
        ),
        (
            "transformers/cosine",
            {"num_warmup_steps": 8, "num_training_steps": 1000},
            "Declared.optimizer.scheduler: Expected the warmup of `CosineWithWarmupLR` to end within the run but "
            "got `num_warmup_steps=8` (8 updates) in the run's 8 updates (one per optimizer step)",
        ),
        (
            "transformers/warmup_stable_decay",
            {"num_warmup_steps": 4, "num_decay_steps": 6},
            "Declared.optimizer.scheduler: Expected `num_warmup_steps` and `num_decay_steps` of "
            "`WarmupStableDecayLR` to fit in `num_training_steps`, derived as the run's 8 updates (one per optimizer "
            "step), but got 4 + 6 = 10: the stable phase would be -2 updates long, so the decay would start 2 "
            "updates in and the lr never reach its declared value. Shorten the warmup or the decay, give "
            "`num_stable_steps`, or lengthen the run.",
        ),
    ],
)
def test_a_transformers_warmup_that_never_ends_within_the_run_is_refused(
    name: str, arguments: dict[str, Any], message: str
) -> None:
    """A transformers schedule whose warmup (or, for ``warmup_stable_decay``, warmup and decay) does not fit in
    the run never reaches the declared lr: the run trained with lrs rising from 0 to a twelfth of it (or peaking
    at 3/4 of it), with only the class's ``UserWarning``, while the package's own ``warmup=100`` is refused."""
    cls = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec(name, **arguments)))
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(cls(), max_epochs=2)


@pytest.mark.parametrize(
    ("arguments", "max_epochs", "message"),
    [
        pytest.param(
            {"num_warmup_steps": 0.06, "interval": "epoch"},
            1,
            "Expected the warmup of `LinearWithWarmupLR` to end within the run but got `num_warmup_steps=0.06` (1 "
            "update, rounded up from 0.06 of `num_training_steps`=1) in the run's 1 update (one per epoch): the lr "
            "would stay in its warmup for the whole run and never reach its declared value. The run is too short for "
            "a warmup (a fraction of `num_training_steps` is at least 1 update): give `num_warmup_steps=0` or "
            "lengthen the run.",
            id="no-warmup-fits",
        ),
        pytest.param(
            {"num_warmup_steps": 4, "interval": "step", "frequency": 2},
            2,
            "Expected the warmup of `LinearWithWarmupLR` to end within the run but got `num_warmup_steps=4` (4 "
            "updates) in the run's 4 updates (one every 2 optimizer steps): the lr would stay in its warmup for the "
            "whole run and never reach its declared value. Shorten the warmup to at most 3 updates "
            "(`num_warmup_steps=3`; a fraction of `num_training_steps` is rounded up) or lengthen the run.",
            id="every-2-steps",
        ),
        pytest.param(
            {"num_warmup_steps": 0, "num_decay_steps": 6, "warmup": 4},
            2,
            "Expected `num_warmup_steps` and `num_decay_steps` of `WarmupStableDecayLR` to fit in "
            "`num_training_steps`, derived as the 4 updates (one per optimizer step) the run leaves after the 4 of "
            "`warmup=4`, but got 0 + 6 = 6: the stable phase would be -2 updates long, so the decay would start 2 "
            "updates in and the lr never reach its declared value.",
            id="after-the-packages-warmup",
        ),
    ],
)
@pytest.mark.filterwarnings("ignore:.*is meant to be stepped after every optimizer step:UserWarning")
def test_a_transformers_warmup_refusal_counts_the_schedulers_updates_and_offers_a_fix_that_fits(
    arguments: dict[str, Any], max_epochs: int, message: str
) -> None:
    """Counts were in transformers' "steps" beside a run of "epoch updates" (``1 steps`` in a run of ``1 epoch
    updates``), the run's length left out the updates a ``warmup=`` took, and the hint offered a fraction (``a float
    such as num_warmup_steps=0.1``) where every fraction rounds up to the 1 update the run has."""
    name = "transformers/warmup_stable_decay" if "num_decay_steps" in arguments else "transformers/linear"
    cls = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec(name, **arguments)))
    with pytest.raises(ValueError, match=re.escape(f"Declared.optimizer.scheduler: {message}")):
        fit(cls(), max_epochs=max_epochs)


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        pytest.param(
            SchedulerSpec("transformers/linear", warmup=0.5, interval="epoch"),
            "`num_training_steps` of `LinearWithWarmupLR` is derived as the run's 1 scheduler update minus the 1 of "
            "`warmup=0.5`, but that leaves 0; the run is too short for a warmup (a fraction of the run is at least 1 "
            "update): leave `warmup` out or lengthen the run.",
            id="derived-length",
        ),
        pytest.param(
            SchedulerSpec("cosine", T_max=10, warmup=1),
            "Expected `warmup` to be shorter than the run but got `warmup=1` (epochs) in a run of 1 epoch: the whole "
            "run would train in warmup and `CosineAnnealingLR` would never act. The run is too short for a warmup (a "
            "fraction of the run is at least 1 update): leave `warmup` out or lengthen the run.",
            id="given-length",
        ),
        pytest.param(
            SchedulerSpec("transformers/linear", warmup=4, interval="step"),
            "`num_training_steps` of `LinearWithWarmupLR` is derived as the run's 4 scheduler updates minus the 4 of "
            "`warmup=4`, but that leaves 0; shorten the warmup (a float such as `warmup=0.1` is a fraction of the "
            "run) or lengthen the run.",
            id="a-shorter-one-fits",
        ),
    ],
)
@pytest.mark.filterwarnings("ignore:.*is meant to be stepped after every optimizer step:UserWarning")
def test_a_warmup_that_fills_the_run_before_a_scheduler_without_its_own_is_refused_with_a_fix_that_fits(
    scheduler: SchedulerSpec, message: str
) -> None:
    """A run of one update has no room for a warmup: ``warmup=0.1``, which the message offered, is at least one
    update too."""
    cls = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=scheduler))
    with pytest.raises(ValueError, match=f"^{re.escape(f'Declared.optimizer.scheduler: {message}')}$"):
        fit(cls(), max_epochs=1)


@pytest.mark.parametrize(
    ("name", "arguments", "factory"),
    [
        ("linear", {"num_warmup_steps": 3, "num_training_steps": 5}, "get_linear_schedule_with_warmup"),
        ("linear", {"num_warmup_steps": 3, "num_training_steps": 20}, "get_linear_schedule_with_warmup"),
        ("cosine", {"num_warmup_steps": 7, "num_training_steps": 8}, "get_cosine_schedule_with_warmup"),
        ("warmup_stable_decay", {"num_warmup_steps": 2, "num_decay_steps": 6}, "get_wsd_schedule"),
    ],
)
def test_a_transformers_schedule_whose_warmup_ends_within_the_run_trains_as_transformers(
    name: str, arguments: dict[str, Any], factory: str
) -> None:
    """What the check above leaves alone: a length given shorter (lr 0 after it) or longer than the run, and a
    warmup ending at the run's last step, train exactly as transformers' own function with the same arguments."""
    transformers = helpers.transformers_with_torch()
    make = getattr(transformers.optimization, factory)
    declared = SchedulerSpec(f"transformers/{name}", **arguments)
    lrs = fit(helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=declared))(), max_epochs=2).of()
    reference = {"num_training_steps": 8, **arguments}

    def torch_scheduler(o: Any) -> Any:
        return make(o, **reference)

    assert lrs == fit(HandWritten(torch_scheduler, 1), max_epochs=2).of()
    assert len(lrs) == 8


def cosine_after(milestone: int) -> SchedulerSpec:
    """A linear warmup of 2 updates, then from ``milestone`` a cosine of 6, as one ``SequentialLR``."""
    inner = [SchedulerSpec("linear", start_factor=0.1, total_iters=2), SchedulerSpec("cosine", T_max=6)]
    return SchedulerSpec("sequential", interval="step", milestones=[milestone], schedulers=inner)


@pytest.mark.parametrize("milestone", [8, 100])
def test_a_composites_milestone_past_the_run_is_refused(milestone: int) -> None:
    """A scheduler of a ``SequentialLR`` that takes over at or after the run's end never acts, as a window that
    begins there (``begin=100``, refused): the run trained the warmup's lr to its end, with no error."""
    message = (
        f"Declared.optimizer.scheduler: `schedulers[1]` (`CosineAnnealingLR`) of `SequentialLR` takes over at its "
        f"milestone {milestone}, but the run has only 8 step updates, so it would never act; move "
        "`milestones[0]` into the run or lengthen the run."
    )
    cls = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=cosine_after(milestone)))
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(cls(), max_epochs=2)


def test_a_composites_milestone_within_the_run_trains_as_torch() -> None:
    """A milestone at the run's last update is left alone: the cosine acts there, as torch's ``SequentialLR``."""
    declared = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=cosine_after(7)))
    lrs = fit(declared(), max_epochs=2).of()

    def torch_scheduler(o: Any) -> Any:
        schedulers = [
            torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=2),
            torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=6),
        ]
        return torch.optim.lr_scheduler.SequentialLR(o, schedulers, milestones=[7])

    assert lrs == fit(HandWritten(torch_scheduler, 1), max_epochs=2).of()
    assert len(lrs) == 8


@pytest.mark.parametrize("max_epochs", [1, 2])
def test_a_onecycle_given_its_epochs_derives_its_steps_per_epoch(max_epochs: int) -> None:
    """``OneCycleLR(max_lr=0.1, epochs=2)`` failed inside torch ("You must define either total_steps OR (epochs AND
    steps_per_epoch)") while ``steps_per_epoch=4`` alone derived the length: ``steps_per_epoch`` is now the run's
    updates per epoch, as torch's with both given, also in a run shorter than the cycle."""
    declared = SchedulerSpec("onecycle", max_lr=0.1, epochs=2)
    with helpers.lr_replaced(False):
        mixin = helpers.declared(OptimizerSpec("sgd", scheduler=declared))()
    lrs = fit(mixin, max_epochs=max_epochs).of()

    def torch_scheduler(o: Any) -> Any:
        return torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, epochs=2, steps_per_epoch=4)

    assert lrs == fit(HandWritten(torch_scheduler, 1), max_epochs=max_epochs).of()
    assert len(lrs) == 4 * max_epochs


def test_a_onecycle_given_fewer_epochs_than_the_run_is_refused() -> None:
    """With ``steps_per_epoch`` derived, ``epochs=2`` in a run of 3 would stop training inside torch at step 9."""
    declared = SchedulerSpec("onecycle", max_lr=0.1, epochs=2)
    message = (
        "Declared.optimizer.scheduler: Expected the length of `OneCycleLR` to cover the 12 steps the run takes it "
        "but got `epochs=2` x `steps_per_epoch=4` (8 steps; `steps_per_epoch` derived from the run's updates per "
        "epoch); torch raises when it is stepped past its length, which would stop training at its step 9. Leave "
        "`epochs` out to derive the whole length from the run, or raise `epochs`, or shorten the run."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(helpers.declared(OptimizerSpec("sgd", scheduler=declared))(), max_epochs=3)


def one_cycle(**options: Any) -> type[Any]:
    """A mixin module declaring ``OneCycleLR(max_lr=0.1, ...)`` on SGD."""
    declared = SchedulerSpec("onecycle", max_lr=0.1, **options)
    return helpers.declared(OptimizerSpec("sgd", scheduler=declared))


@pytest.mark.parametrize(
    ("accumulate", "frequency", "per_epoch"),
    [
        (1, 2, 2),  # 4 batches: updates after batches 1 and 3
        (1, 4, 1),  # after batch 3, the epoch's last
        (2, 2, 2),  # windows end at batches 1 and 3, both updating: every step
    ],
)
def test_a_onecycle_given_its_epochs_counts_the_updates_its_frequency_makes(
    accumulate: int, frequency: int, per_epoch: int
) -> None:
    """``steps_per_epoch`` derived beside ``epochs`` is the scheduler's updates per epoch by Lightning's rule
    (``frequency`` and the accumulation counted), so the cycle ends with the run, as torch's with both given."""
    mixin = one_cycle(epochs=3, frequency=frequency)
    run = {"max_epochs": 3, "accumulate_grad_batches": accumulate}
    lrs = fit(mixin(), **run).of()

    def torch_scheduler(o: Any) -> Any:
        return torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, epochs=3, steps_per_epoch=per_epoch)

    assert lrs == fit(HandWritten(torch_scheduler, frequency), **run).of()
    preview = preview_schedule(mixin, max_epochs=3, steps_per_epoch=4, accumulate_grad_batches=accumulate)
    assert lrs[::accumulate] == preview["lr-optimizer"]  # one lr per batch, one per step
    assert len(set(lrs)) == 3 * per_epoch and len(lrs) == 12


def test_a_onecycle_given_its_epochs_refuses_a_frequency_missing_an_epochs_last_step() -> None:
    """With 3 batches an epoch and ``frequency=2`` Lightning updates after batch 1 of each epoch only: each
    epoch's last step trains with the value the next one starts with, so 3 epochs train with 4 values. The
    derived ``steps_per_epoch=1`` gave ``total_steps=3``, and the run's last step trained past the cycle's
    end, its lr swung from 0 back up to 0.046. Refused when ``fit`` starts, and by the preview."""
    mixin = one_cycle(epochs=3, frequency=2)
    message = (
        "Declared.optimizer.scheduler: Expected an update of `OneCycleLR` after the last step of every epoch "
        "beside `epochs=3` but got `frequency=2` with 3 optimizer steps per epoch: `steps_per_epoch` is derived "
        "as the updates per epoch, which Lightning makes when `(batch_idx + 1) % frequency == 0` (1 per epoch, "
        "none after its last step), so an epoch's last step trains with the value the next epoch starts with and "
        "`epochs` x `steps_per_epoch` falls short of the values the run trains with. Leave `epochs` out to derive "
        "`total_steps` from the run, or give `total_steps`, or make the batches per epoch a multiple of "
        "`frequency`."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(mixin(), max_epochs=3, data=helpers.loader(n=24))
    with pytest.raises(ValueError, match=re.escape(message)):
        preview_schedule(mixin, max_epochs=3, steps_per_epoch=3)


def test_a_onecycle_given_its_epochs_refuses_updates_per_epoch_that_vary() -> None:
    """A ``GradientAccumulationScheduler`` halving the steps from epoch 1: the derived ``steps_per_epoch`` was
    epoch 0's 4, ``total_steps=12`` over the run's 8 steps, and the cycle ended at 0.046, never annealed."""
    message = (
        "Declared.optimizer.scheduler: Expected the same updates of `OneCycleLR` in every epoch beside `epochs=3` "
        "but got 4 from epoch 0, 2 from epoch 1: `steps_per_epoch` is derived as the updates per epoch, and the "
        "`GradientAccumulationScheduler` changes them, so no `steps_per_epoch` fits. Leave `epochs` out to derive "
        "`total_steps` from the run, or give `total_steps`."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(one_cycle(epochs=3)(), max_epochs=3, callbacks=[GradientAccumulationScheduler({1: 2})])


@pytest.mark.filterwarnings("ignore:.*meant to be stepped after every optimizer step:UserWarning")
def test_a_onecycle_given_its_epochs_per_epoch_refuses_a_frequency_at_class_definition() -> None:
    """Updated every 2 epochs, ``OneCycleLR(epochs=4)`` has half an update per epoch, but the derived
    ``steps_per_epoch`` was 1: ``total_steps=4`` over the run's 2 values, which ended near the peak and never
    annealed."""
    message = (
        "Declared.optimizer.scheduler: Expected `frequency=1` beside `epochs=4` with `interval='epoch'` but got "
        "`frequency=2`: `steps_per_epoch` is derived as the updates per epoch, and one update every 2 epochs is "
        "1/2 of an update per epoch, which no `steps_per_epoch` (an int) gives. Leave `epochs` out to derive "
        "`total_steps` from the run, or give `total_steps` (2 updates in 4 epochs)."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        one_cycle(epochs=4, interval="epoch", frequency=2)
    module = one_cycle(epochs=4, interval="epoch", frequency=HParam("frequency"))()
    module.frequency = 2  # read when `fit` starts
    with pytest.raises(ValueError, match=re.escape(message.removeprefix("Declared.optimizer.scheduler: "))):
        fit(module, max_epochs=4)


@pytest.mark.parametrize("window", [{"end": 4}, {"begin": 1}, {"begin": 0.25, "end": None}])
def test_a_onecycle_given_its_epochs_in_a_window_is_refused_at_class_definition(
    window: dict[str, Any],
) -> None:
    """In a window ``steps_per_epoch`` was not derived: torch's "You must define either total_steps OR (epochs
    AND steps_per_epoch)" came through, though the guide says it is derived."""
    message = (
        "Declared.optimizer.scheduler: Expected the length of `OneCycleLR` in a window (`begin`/`end`) to be "
        "`total_steps` or left out but got `epochs=3` without `steps_per_epoch`: a window counts the scheduler's "
        "updates, and a length left out is its span (`total_steps = end - begin`), not a count of epochs. Leave "
        "`epochs` out (the length then spans the window), or give `total_steps`, or `steps_per_epoch` beside `epochs`."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        one_cycle(epochs=3, **window)


def test_a_onecycle_given_its_epochs_and_steps_per_epoch_in_a_window_trains_as_torch() -> None:
    """Both given, a window takes them as declared: ``OneCycleLR(epochs=2, steps_per_epoch=3)`` from update 2,
    after two steps at SGD's default lr."""
    mixin = one_cycle(epochs=2, steps_per_epoch=3, begin=2)
    lrs = fit(mixin(), max_epochs=2).of()
    cycle = torch_lrs(
        lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, epochs=2, steps_per_epoch=3), 6
    )
    assert lrs == [1e-3, 1e-3, *cycle]
    assert lrs == preview_schedule(mixin, max_epochs=2, steps_per_epoch=4)["lr-optimizer"]


#: timm's cosine declared in epochs, with a warmup of 1 epoch in front of its cycle, updated every step
TIMM_IN_EPOCHS = {"warmup_t": 1, "warmup_prefix": True, "warmup_lr_init": 1e-3, "lr_min": 1e-3}


def timm_in_steps(t_initial: int) -> Any:
    """The hand-written ``TimmCosineLR`` in steps: the warmup's epoch is the run's 4 steps per epoch, as timm's
    ``create_scheduler_v2(step_on_epochs=False)`` multiplies ``warmup_t`` by the updates per epoch."""
    options = {**TIMM_IN_EPOCHS, "warmup_t": 4}
    return lambda o: TimmCosineLR(o, t_initial=t_initial, t_in_epochs=False, **options)


def test_a_timm_cosine_in_epochs_derives_t_initial_after_its_prefix_warmup_in_steps() -> None:
    """4 epochs of 4 steps, the warmup's epoch in front: ``t_initial`` is the 16 - 4 = 12 steps after it (the
    run split into cycles after a prefix warmup). Was 16 - 1, the warmup's epochs taken for steps: the cosine
    ended 3 steps after the run, above its ``lr_min``."""
    declared = SchedulerSpec("timm/cosine", unit="epoch", interval="step", **TIMM_IN_EPOCHS)
    mixin = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=declared))
    lrs = fit(mixin(), max_epochs=4).of()
    assert lrs == fit(HandWritten(timm_in_steps(12), 1), max_epochs=4).of()
    assert lrs == preview_schedule(mixin, max_epochs=4, steps_per_epoch=4)["lr-optimizer"]
    assert (
        len(lrs) == 16
        and lrs[4] == 0.1
        and lrs[-1] == pytest.approx(1e-3 + 0.5 * (0.1 - 1e-3) * (1 + cos(pi * 11 / 12)))
    )


def test_a_timm_cosine_in_epochs_derives_t_initial_from_its_window_in_steps() -> None:
    """A window from epoch 1 to the run's end is 12 steps; after the warmup's 4, ``t_initial`` is 8 (was 11)."""
    declared = SchedulerSpec("timm/cosine", begin=1, unit="epoch", interval="step", **TIMM_IN_EPOCHS)
    mixin = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=declared))
    lrs = fit(mixin(), max_epochs=4).of()
    assert lrs == [0.1] * 4 + torch_lrs(timm_in_steps(8), 12)
    assert lrs == preview_schedule(mixin, max_epochs=4, steps_per_epoch=4)["lr-optimizer"]


class Batches(Dataset):  # type: ignore[type-arg]
    """``batches`` batches of 8 made when asked for (streamed data with a length)."""

    def __init__(self, batches: int) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return self.batches * 8

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(index)
        return torch.randn(8, generator=generator), torch.randint(0, 4, (), generator=generator)


class DrivenGan(ConfigurableOptimizersMixin, helpers.TwoLosses):
    """Two optimizers the mixin steps (``loss=``), the critic every other batch, each with a derived cosine."""

    gen_opt = OptimizerSpec(
        "sgd", params="model_gen", lr=0.1, loss="gen_loss", scheduler=SchedulerSpec("cosine", interval="step")
    )
    dis_opt = OptimizerSpec(
        "sgd",
        params="model_dis",
        lr=0.1,
        loss="dis_loss",
        every=2,
        scheduler=SchedulerSpec("cosine", interval="step"),
    )


class HandGan(helpers.TwoNets):
    """``DrivenGan`` written by hand: the critic steps after batches 1, 3, 5; ``max_steps=8`` ends the run
    after batch 5 (global steps 1, 3, 4, 6, 7, 9), the generator's sixth step and the critic's third."""

    def configure_optimizers(self) -> Any:
        gen = torch.optim.SGD(self.model_gen.parameters(), lr=0.1)
        dis = torch.optim.SGD(self.model_dis.parameters(), lr=0.1)
        self.cosines = [CosineAnnealingLR(gen, T_max=6), CosineAnnealingLR(dis, T_max=3)]
        return [gen, dis]

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        for index, (net, opt) in enumerate(zip((self.model_gen, self.model_dis), self.optimizers())):
            if index == 1 and (batch_idx + 1) % 2:
                continue
            opt.zero_grad()
            self.manual_backward(nn.functional.cross_entropy(net(x), y))
            opt.step()
            self.cosines[index].step()


def test_a_loss_driven_run_of_ten_million_batches_an_epoch_counts_its_length_without_going_through_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``loss=``, training and every epoch start counted each optimizer's steps under ``max_steps`` by
    going through every accumulation window of the epoch: 35 s of CPU at a million batches (streamed data under
    ``max_steps``, as LLM pretraining runs), ten minutes at ten million. They are counted, not walked: the rule
    is asked of a few batches, and the run trains as the hand-written module."""
    asked = []

    def counted(batch_idx: int, frequency: int) -> bool:
        asked.append(batch_idx)
        if len(asked) > 10_000:
            raise RuntimeError("went through the epoch's windows one by one")
        return (batch_idx + 1) % frequency == 0

    monkeypatch.setattr(step_rule, "steps_at", counted)
    data = DataLoader(Batches(10**7), batch_size=8)
    driven = fit(DrivenGan(), data=data, max_steps=8)
    assert driven.history == fit(HandGan(), data=data, max_steps=8).history
    assert len(driven.history) == 6 and len(asked) < 1_000


def constant_lr_by_hand(frequency: int, interval: str = "step", **run: Any) -> None:
    """The hand-written module with ``frequency`` is never updated by Lightning in this run: its lr stays 0.1."""

    def torch_scheduler(o: Any) -> Any:
        return torch.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.5)

    lrs = fit(HandWritten(torch_scheduler, frequency, interval), **run).of()
    assert lrs and set(lrs) == {0.1}


@pytest.mark.parametrize(
    ("frequency", "accumulate", "expected"),
    [
        (5, 1, "to be at most the 4 training batches of an epoch"),
        # windows of 2 end at batches 1 and 3: `batch_idx + 1` is 2 or 4, never a multiple of 3
        (3, 2, "to divide `batch_idx + 1` at a batch that steps the optimizer (`batch_idx` [1, 3])"),
    ],
)
@pytest.mark.parametrize("scheduler", ["onecycle", "cosine", "step"])
def test_a_step_frequency_that_no_stepping_batch_matches_is_refused_when_fit_starts(
    frequency: int, accumulate: int, expected: str, scheduler: str
) -> None:
    """Lightning's rule ``(batch_idx + 1) % frequency == 0`` restarts with every epoch, so a ``frequency`` that no
    batch stepping the optimizer matches never updates the scheduler, however long the run (the hand-written
    module's lr stays constant). Was accepted: a derived ``OneCycleLR`` got ``total_steps=1`` and trained the whole
    run at its final lr (4e-07 for ``max_lr=0.1``), a derived cosine never annealed, a ``StepLR`` never stepped."""
    options = {"onecycle": {"max_lr": 0.1}, "cosine": {}, "step": {"step_size": 1}}[scheduler]
    declared = SchedulerSpec(scheduler, interval="step", frequency=frequency, **options)
    run = {"max_epochs": 3, "accumulate_grad_batches": accumulate, "data": helpers.loader()}  # 4 batches
    name = {"onecycle": "OneCycleLR", "cosine": "CosineAnnealingLR", "step": "StepLR"}[scheduler]
    message = (
        f"Declared.optimizer.scheduler: Expected `frequency` {expected} but got `frequency={frequency}`: Lightning "
        "updates a per-step scheduler when `(batch_idx + 1) % frequency == 0`, which restarts with every epoch, so "
        f"`{name}` would never be updated. Lower `frequency`, or train on more batches per epoch."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=declared))(), **run)
    constant_lr_by_hand(frequency, **run)


def test_a_run_that_ends_before_a_step_schedulers_first_update_is_refused() -> None:
    """``frequency=3`` updates after the step at ``batch_idx`` 2; ``max_steps=2`` ends the run before it."""
    declared = SchedulerSpec("cosine", interval="step", frequency=3)
    run = {"max_steps": 2, "data": helpers.loader()}
    message = (
        "Declared.optimizer.scheduler: Expected the run to reach an update of `CosineAnnealingLR` (with "
        "`frequency=3` the first comes after the optimizer step at `batch_idx` 2) but got a run of 2 optimizer "
        "steps, so `CosineAnnealingLR` would never be updated. Lower `frequency`, or lengthen the run."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=declared))(), **run)
    constant_lr_by_hand(3, **run)


@pytest.mark.parametrize(("max_epochs", "max_steps"), [(2, -1), (5, 8)])  # 8 steps: 2 epochs of 4
def test_a_run_of_fewer_epochs_than_an_epoch_schedulers_frequency_is_refused(
    max_epochs: int, max_steps: int
) -> None:
    """Lightning updates a per-epoch scheduler after epoch ``e`` when ``(e + 1) % frequency == 0``: in 2 epochs,
    ``frequency=3`` never. Was accepted: a ``StepLR`` never stepped, a derived cosine got ``T_max=1``."""
    declared = SchedulerSpec("step", step_size=1, gamma=0.5, frequency=3)
    run = {"max_epochs": max_epochs, "max_steps": max_steps, "data": helpers.loader()}
    message = (
        "Declared.optimizer.scheduler: Expected a run of at least 3 epochs beside `interval='epoch'` and "
        "`frequency=3` but got a run of 2 epochs: Lightning updates a per-epoch scheduler after epoch `e` when "
        "`(e + 1) % frequency == 0`, so `StepLR` would never be updated. Lower `frequency`, or lengthen the run."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=declared))(), **run)
    constant_lr_by_hand(3, "epoch", **run)


@pytest.mark.parametrize("interval", ["step", "epoch"])
def test_a_frequency_past_a_smoke_run_trains(interval: str) -> None:
    """Lightning's ``fast_dev_run`` runs a declaration meant for a long run as it is, never updating it there."""
    declared = SchedulerSpec("cosine", interval=interval, frequency=5)
    lrs = fit(helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=declared))(), fast_dev_run=True).of()
    assert lrs == [0.1]


@pytest.mark.parametrize(("interval", "frequency"), [("step", 4), ("epoch", 2)])
def test_a_frequency_the_run_just_reaches_trains_as_lightning(interval: str, frequency: int) -> None:
    """Once per epoch at its last batch, or once after the run's last epoch: accepted, as the hand-written."""
    declared = SchedulerSpec("step", step_size=1, gamma=0.5, interval=interval, frequency=frequency)
    run = {"max_epochs": 2, "data": helpers.loader()}
    lrs = fit(helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=declared))(), **run).of()

    def torch_scheduler(o: Any) -> Any:
        return torch.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.5)

    assert lrs == fit(HandWritten(torch_scheduler, frequency, interval), **run).of()
    assert lrs == [0.1] * 4 + ([0.05] * 4 if interval == "step" else [0.1] * 4)
