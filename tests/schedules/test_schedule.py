"""``Schedule`` (``schedules/schedule.py``): its state in a checkpoint, and what a module's own
``lr_scheduler_step`` may ask of it.

A checkpoint holds Python numbers, as torch's schedulers save them in an eager run: ``implementation="compiled"``
holds the lr as a 0-dim tensor, which torch's schedulers copy into their own state (``base_lrs``, ``_last_lr``);
a checkpoint of it resumes under any implementation.
"""

from __future__ import annotations

import pickle
import re
from copy import deepcopy
from typing import Any

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import BaseFinetuning
from torch.optim import SGD
from torch.optim.lr_scheduler import CosineAnnealingLR, ExponentialLR, LambdaLR, LinearLR, StepLR

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec
from lightning_optim.schedules.schedule import Schedule
from lightning_optim.schedules.shape import Shape
from tests.helpers import Classifier, fit, fit_resumed, scheduler_refuses_an_added_group


def decay(step: int) -> float:
    return 1 / (1 + step)


def scheduled(lr: Any) -> tuple[SGD, Schedule]:
    optimizer = SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    return optimizer, Schedule(optimizer, lambda o, _: LambdaLR(o, decay), shape=Shape())


def tensors_in(value: Any) -> list[Any]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors_in(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensors_in(v)]
    return []


def test_the_state_holds_numbers_where_the_lr_is_a_tensor() -> None:
    optimizer, schedule = scheduled(torch.tensor(0.1))  # as a compiled step holds it
    for _ in range(2):
        optimizer.step()
        schedule.step()
    assert tensors_in(schedule.state_dict()) == []
    assert isinstance(optimizer.param_groups[0]["lr"], torch.Tensor)  # the live lr stays the tensor


def test_a_state_saved_with_tensors_resumes_an_eager_run_with_numbers() -> None:
    # as a compiled run's checkpoint held it before: `base_lrs` and `_last_lr` as tensors
    optimizer, schedule = scheduled(0.1)
    for _ in range(2):
        optimizer.step()
        schedule.step()
    state = schedule.state_dict()
    state["inner"] = {
        **state["inner"],
        **{key: [torch.tensor(v) for v in state["inner"][key]] for key in ("base_lrs", "_last_lr")},
    }
    resumed_optimizer, resumed = scheduled(0.1)
    resumed_optimizer.load_state_dict(optimizer.state_dict())
    resumed.load_state_dict(state)
    lrs = []
    for _ in range(3):
        resumed_optimizer.step()
        resumed.step()
        lrs.append(resumed_optimizer.param_groups[0]["lr"])
    assert [type(lr) for lr in lrs] == [float] * 3  # torch writes a tensor lr in place, so records repeat
    base = torch.tensor(0.1).item()  # the saved tensor's value
    assert lrs == [base * decay(s) for s in (3, 4, 5)]


def with_epoch_step(scheduler: SchedulerSpec) -> Any:
    """The mixin's module whose ``lr_scheduler_step`` passes the epoch, as torch's deprecated ``step(epoch)``
    and Lightning's custom-scheduler example do."""

    class StepsWithEpoch(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(SGD, lr=1.0, scheduler=scheduler)

        def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
            if metric is None:
                scheduler.step(epoch=self.current_epoch)
            else:
                scheduler.step(metric, self.current_epoch)

    return StepsWithEpoch()


@pytest.mark.parametrize(
    "scheduler",
    [
        SchedulerSpec("step", step_size=1, gamma=0.5),
        SchedulerSpec("plateau", monitor="train_loss", patience=0),
    ],
    ids=["StepLR", "plateau"],
)
def test_step_with_an_epoch_is_refused_instead_of_ignored(scheduler: SchedulerSpec) -> None:
    """torch sets the epoch (``StepLR`` at epoch 0 would keep lr 1.0); ignoring it took one more update."""
    with pytest.raises(
        TypeError,
        match=r"Schedule.step: Expected `step\(\)` without an epoch but got `epoch=0`.*"
        r"`lr_scheduler_step`.*`scheduler.step\(\)`",
    ):
        fit(with_epoch_step(scheduler), max_epochs=2)


@pytest.mark.parametrize("warmup", [0, 2])
def test_step_with_a_positional_epoch_is_refused_too(warmup: int) -> None:
    """``scheduler.step(epoch)``, torch's deprecated form given positionally, reached the scheduler as a metric:
    torch jumped ``StepLR`` to an epoch counted from the run's start while the schedule counts after its warmup
    (lr 1.0 -> 0.25 after a warmup of 2, never the declared 0.5)."""

    class StepsWithPositionalEpoch(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(
            SGD, lr=1.0, scheduler=SchedulerSpec("step", step_size=1, gamma=0.5, warmup=warmup)
        )

        def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
            scheduler.step(self.current_epoch)

    with pytest.raises(
        TypeError, match=r"Schedule.step: Expected `step\(\)` without an epoch but got `epoch=0`"
    ):
        fit(StepsWithPositionalEpoch(), max_epochs=4)


class UnfreezeAtEpochOne(BaseFinetuning):
    """Freezes ``model_gen.layer1`` before training and adds it to the optimizer as a group at epoch 1."""

    def freeze_before_training(self, pl_module: Any) -> None:
        self.freeze(pl_module.model_gen.layer1)

    def finetune_function(self, pl_module: Any, epoch: int, optimizer: Any) -> None:
        if epoch == 1:
            self.unfreeze_and_add_param_group(pl_module.model_gen.layer1, optimizer, lr=0.01)


@pytest.mark.parametrize(
    ("scheduler", "torch_class"),
    [
        (SchedulerSpec("onecycle", max_lr=0.1, interval="step"), "OneCycleLR"),
        pytest.param(
            SchedulerSpec("lambda", lr_lambda=decay, interval="step"),
            "LambdaLR",
            marks=scheduler_refuses_an_added_group,
        ),
        pytest.param(
            SchedulerSpec("CosineAnnealingWarmRestarts", T_0=2, interval="step"),
            "CosineAnnealingWarmRestarts",
            marks=scheduler_refuses_an_added_group,
        ),
    ],
    ids=["onecycle", "lambda", "cosine_restarts"],
)
def test_a_group_added_mid_run_that_the_scheduler_cannot_take_is_refused(
    scheduler: SchedulerSpec, torch_class: str
) -> None:
    """torch's scheduler holds per-group values for the groups it was built on (``max_lr``, one ``lr_lambda``
    or ``base_lr`` each) and fails on a group ``BaseFinetuning.unfreeze_and_add_param_group`` adds
    later (what the unfrozen-parameter error recommends) with a bare ``KeyError``/``ValueError`` from inside
    torch; the package's error names the declaration, the scheduler, the added group and what to do."""

    class Declared(ConfigurableOptimizersMixin, Classifier):
        # OneCycleLR sets the lr from its `max_lr`
        optimizer = OptimizerSpec(
            SGD, scheduler=scheduler, **({} if torch_class == "OneCycleLR" else {"lr": 0.1})
        )

    message = (
        f"Declared.optimizer.scheduler: Expected the 1 param group `{torch_class}` was built with but got 2: "
        "group 1 (2 parameters, lr=0.01) was added since"
    )
    with pytest.raises(ValueError, match=re.escape(message) + r"(.|\n)*ParamGroup") as raised:
        fit(Declared(), max_epochs=3, callbacks=[UnfreezeAtEpochOne()])
    assert "BaseFinetuning.unfreeze_and_add_param_group" in str(raised.value)


def test_an_empty_window_leaves_the_lr_alone() -> None:
    """A window ``[0, 0)`` (fractions of a smoke run that round to no update, ``building/length.py``) acts at no
    update, its construction (update 0) included, as mmengine's rule ``begin <= update < end`` says: it is built
    aside, as a window beginning after the run is. It was built in place and set the lr to its start factor."""
    optimizer = SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    linear = Schedule(
        optimizer, lambda o, _: LinearLR(o, start_factor=0.1, total_iters=1), shape=Shape(window=(0, 0))
    )
    lrs = []
    for _ in range(3):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        linear.step()
    assert lrs == [0.1, 0.1, 0.1]


def test_a_plateau_stepped_without_its_metric_names_the_declaration() -> None:
    """An override stepping every scheduler alike (``scheduler.step()``) reached torch's bare ``TypeError:
    ReduceLROnPlateau.step() missing 1 required positional argument: 'metrics'`` from inside the package."""

    class StepsAlike(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(
            SGD, lr=0.1, scheduler=SchedulerSpec("plateau", monitor="train_loss", patience=0, interval="step")
        )

        def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
            scheduler.step()

    message = (
        "StepsAlike.optimizer.scheduler: Expected the metric with each update of the declared `ReduceLROnPlateau` "
        "but got `scheduler.step()` without one"
    )
    with pytest.raises(
        TypeError, match=re.escape(message) + r".*`scheduler.step\(metric\)`.*call `super\(\)"
    ):
        fit(StepsAlike(), max_epochs=1)


class ReadsItsScheduler(Classifier):
    """Records the declared scheduler's settings as ``self.lr_schedulers()`` gives them, at every epoch's end."""

    def __init__(self) -> None:
        super().__init__()
        self.read: list[tuple[Any, ...]] = []

    def on_train_epoch_end(self) -> None:
        scheduler = self.lr_schedulers()
        self.read.append((scheduler.T_max, scheduler.eta_min, scheduler.base_lrs))  # type: ignore[union-attr]


def test_the_declared_schedulers_attributes_are_read_through_its_schedule() -> None:
    """``gamma``, ``T_max``... of the declared scheduler, as a hand-written module reads them from its own: the
    schedule of a ``CosineAnnealingLR`` whose ``T_max`` is derived from the run gives the one derived."""

    class Declared(ConfigurableOptimizersMixin, ReadsItsScheduler):
        optimizer = OptimizerSpec(
            SGD, lr=0.1, scheduler=SchedulerSpec("cosine", eta_min=0.01, interval="step")
        )

    class HandWritten(ReadsItsScheduler):
        def configure_optimizers(self) -> Any:
            optimizer = SGD(self.parameters(), lr=0.1)
            cosine = CosineAnnealingLR(
                optimizer, T_max=int(self.trainer.estimated_stepping_batches), eta_min=0.01
            )
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": cosine, "interval": "step"}}

    declared, hand_written = Declared(), HandWritten()
    fit(declared, max_epochs=2)
    fit(hand_written, max_epochs=2)
    assert declared.read == hand_written.read == [(8, 0.01, [0.1])] * 2


def step_by_3(optimizer: Any, shape: Shape) -> StepLR:
    return StepLR(optimizer, step_size=3, gamma=0.5)


def test_reads_through_leave_private_names_state_and_copies_alone() -> None:
    """Only public names are read through: torch and Lightning ask ``hasattr`` of private ones, and so do
    ``pickle`` and ``deepcopy`` before the schedule's ``inner`` is set. Before the scheduler is built a read says
    so."""
    optimizer = SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    unbuilt = Schedule(optimizer, step_by_3, where="Model.optimizer.scheduler")
    with pytest.raises(
        AttributeError, match=r"Model.optimizer.scheduler: Expected the declared scheduler to be built"
    ):
        unbuilt.gamma  # noqa: B018
    assert not hasattr(unbuilt, "gamma")
    unbuilt.fix(Shape())
    for copy in (unbuilt, deepcopy(unbuilt), pickle.loads(pickle.dumps(unbuilt))):
        assert (copy.gamma, copy.step_size) == (0.5, 3)
        assert hasattr(copy.inner, "_last_lr") and not hasattr(copy, "_last_lr")
        assert not hasattr(copy, "_get_closed_form_lr")
        assert set(copy.state_dict()) == {
            "last_epoch",
            "warmup_targets",
            "warmup_written",
            "start_values",
            "shape",
            "inner",
        }
    with pytest.raises(
        AttributeError, match=r"'Schedule' object has no attribute 'T_max', nor has the `StepLR`"
    ):
        unbuilt.T_max  # noqa: B018


def test_the_declared_schedulers_attributes_are_written_through_its_schedule() -> None:
    """A write of a public attribute the torch scheduler has (``gamma``, ``base_lrs``, as a hand-written
    ``LambdaLR.base_lrs = [...]`` works) reaches it, and its ``state_dict``; ``last_epoch`` moves the schedule's
    count and the scheduler's (the two are one here, without a warmup or window); a name the scheduler lacks
    stays the schedule's. Before the scheduler is built a write of another name says so, rather than being kept
    where nothing reads it."""
    optimizer = SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    schedule = Schedule(optimizer, step_by_3, where="Model.optimizer.scheduler")
    with pytest.raises(
        AttributeError, match=r"Model.optimizer.scheduler: Expected the declared scheduler to be built to set"
    ):
        schedule.gamma = 0.25
    schedule.fix(Shape())
    schedule.gamma, schedule.base_lrs, schedule.last_epoch, schedule.note = 0.25, [0.2], 2, "mine"
    assert (schedule.inner.gamma, schedule.inner.base_lrs, schedule.inner.last_epoch) == (0.25, [0.2], 2)
    assert (schedule.gamma, schedule.base_lrs, schedule.last_epoch) == (0.25, [0.2], 2)
    assert not hasattr(schedule.inner, "note") and schedule.state_dict()["note"] == "mine"
    assert schedule.state_dict()["inner"]["gamma"] == 0.25 and "gamma" not in schedule.state_dict()
    assert schedule.state_dict()["last_epoch"] == schedule.state_dict()["inner"]["last_epoch"] == 2


def test_a_last_epoch_write_moves_the_scheduler_where_it_counts_along_with_the_schedule_and_is_refused_elsewhere() -> (
    None
):
    """After a warmup of 2 updates the schedule's update ``n`` is the ``StepLR``'s ``n - 2``, in a window
    ``[1, 4)`` its ``n - 1``: a write there moves both. In the warmup and outside the window the ``StepLR`` is
    not stepped, and a write that starts or lands there is refused, leaving both counts as they were."""
    optimizer = SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    warm = Schedule(optimizer, step_by_3, shape=Shape(warmup=2), where="Model.optimizer.scheduler")
    refused = (
        r"Model.optimizer.scheduler: Expected `last_epoch` written through the schedule to move it between updates "
        r"at which the declared `StepLR` counts along \(updates 2 or later\) but got {} at update {}: in its warmup "
        r"it is not stepped, .* or declare it without a warmup."
    )
    with pytest.raises(ValueError, match=refused.format(4, 0)):
        warm.last_epoch = 4
    for _ in range(3):
        warm.step()
    warm.last_epoch = 5
    assert (warm.last_epoch, warm.inner.last_epoch) == (5, 3)
    with pytest.raises(ValueError, match=refused.format(1, 5)):
        warm.last_epoch = 1
    assert (warm.last_epoch, warm.inner.last_epoch) == (5, 3)

    window = Schedule(optimizer, step_by_3, shape=Shape(window=(1, 4)), where="Model.optimizer.scheduler")
    window.step()  # built at update 1
    window.last_epoch = 3
    assert (window.last_epoch, window.inner.last_epoch) == (3, 2)
    with pytest.raises(
        ValueError,
        match=r"\(updates from 1 to 3\) but got 4 at update 3: outside its window \(`begin=1`, `end=4`\) it is not "
        r"stepped, .* or declare it without a window\.",
    ):
        window.last_epoch = 4


def test_a_last_epoch_write_of_no_count_or_below_0_is_refused_as_such_and_an_integral_float_moves_as_torchs() -> (
    None
):
    """Without a warmup or window, ``last_epoch = 2.5`` or ``-1`` was refused with a message about a warmup the
    schedule does not have. A float with an integral value moves both counts, as torch's scheduler counts with
    ``2.0`` as with ``2``; anything else that is no int, and a count below 0, is refused as such."""
    optimizer = SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = Schedule(optimizer, step_by_3, shape=Shape(), where="Model.optimizer.scheduler")
    with pytest.raises(
        TypeError,
        match=r"^Model.optimizer.scheduler: Expected `last_epoch` written through the schedule to be an int \(the "
        r"updates it took\) but got 2\.5\.$",
    ):
        schedule.last_epoch = 2.5  # type: ignore[assignment]
    with pytest.raises(
        ValueError,
        match=r"^Model.optimizer.scheduler: Expected `last_epoch` written through the schedule to be 0 or more "
        r"\(the updates it took, 0 at its start\) but got -1: torch's `-1` marks a scheduler not constructed",
    ):
        schedule.last_epoch = -1
    assert (schedule.last_epoch, schedule.inner.last_epoch) == (0, 0)
    schedule.last_epoch = 2.0  # type: ignore[assignment]
    assert (schedule.last_epoch, schedule.inner.last_epoch, schedule.moved_by_writes) == (2, 2, 2)
    assert type(schedule.last_epoch) is int
    by_hand = SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    hand_written = step_by_3(by_hand, Shape())
    hand_written.last_epoch = 2.0  # type: ignore[assignment]
    for stepped in (optimizer, schedule, by_hand, hand_written):
        stepped.step()
    assert (
        optimizer.param_groups[0]["lr"] == by_hand.param_groups[0]["lr"] == 0.5
    )  # decays at its next update


@pytest.mark.parametrize(
    "written", [np.float32(2.0), np.int64(2), torch.tensor(2.0), torch.tensor(2)], ids=repr
)
def test_a_last_epoch_write_of_a_whole_number_of_another_numeric_type_moves_as_torchs(written: Any) -> None:
    # a NumPy float was refused as "not an int" (a Python float was not) and a float tensor failed in torch's
    # `__index__` ("only integer tensors of a single element can be converted to an index"); torch's own
    # scheduler counts with each as with 2
    optimizer = SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = Schedule(optimizer, step_by_3, shape=Shape(), where="Model.optimizer.scheduler")
    schedule.last_epoch = written
    assert (schedule.last_epoch, schedule.inner.last_epoch) == (2, 2)
    assert type(schedule.last_epoch) is int
    by_hand = SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    hand_written = step_by_3(by_hand, Shape())
    hand_written.last_epoch = written
    for stepped in (optimizer, schedule, by_hand, hand_written):
        stepped.step()
    assert optimizer.param_groups[0]["lr"] == by_hand.param_groups[0]["lr"] == 0.5


def test_a_last_epoch_write_before_a_window_begins_is_refused_unless_it_writes_the_count_it_has() -> None:
    """Before its window's ``begin`` the declared scheduler is not built: a write there moved the window (it
    begins at the schedule's count), where the docs say a write outside a window is refused. Writing the count
    it has moves nothing and is left alone, as is the count a trial run (no shape yet) takes."""
    optimizer = SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    window = Schedule(optimizer, step_by_3, shape=Shape(window=(3, 8)), where="Model.optimizer.scheduler")
    window.step()
    for written in (2, 4):
        with pytest.raises(
            ValueError,
            match=r"^Model.optimizer.scheduler: Expected `last_epoch` written through the schedule to move it "
            r"between updates at which the declared scheduler counts along \(updates from 3 to 7\) but got "
            rf"{written} at update 1: outside its window \(`begin=3`, `end=8`; before `begin` it is not built yet\) "
            r"it is not stepped, .* or declare it without a window\.$",
        ):
            window.last_epoch = written
    window.last_epoch = window.last_epoch
    assert (window.last_epoch, window.moved_by_writes, window.inner) == (1, 0, None)

    trial = Schedule(optimizer, step_by_3, derive=lambda: None, where="Model.optimizer.scheduler")
    trial.step()
    trial.last_epoch = 0  # the tuner's restore of the trial's state, before the shape is fixed
    assert (trial.last_epoch, trial.moved_by_writes) == (0, 0)


class HalvesItsDecayAtTheSecondEpoch(Classifier):
    def on_train_epoch_start(self) -> None:
        if self.current_epoch == 1:
            self.lr_schedulers().gamma = 0.5  # type: ignore[union-attr]


def test_a_write_to_the_declared_scheduler_mid_run_changes_training_as_a_hand_written_ones() -> None:
    """``self.lr_schedulers().gamma = 0.5`` landed on the schedule: the declared ``ExponentialLR`` went on
    decaying by 0.9 while the hand-written one decays by 0.5."""

    class Declared(ConfigurableOptimizersMixin, HalvesItsDecayAtTheSecondEpoch):
        optimizer = OptimizerSpec(SGD, lr=1.0, scheduler=SchedulerSpec(ExponentialLR, gamma=0.9))

    class HandWritten(HalvesItsDecayAtTheSecondEpoch):
        def configure_optimizers(self) -> Any:
            optimizer = SGD(self.parameters(), lr=1.0)
            return {"optimizer": optimizer, "lr_scheduler": ExponentialLR(optimizer, gamma=0.9)}

    declared = fit(Declared(), max_epochs=4, limit_train_batches=1).of()
    hand_written = fit(HandWritten(), max_epochs=4, limit_train_batches=1).of()
    assert declared == pytest.approx(hand_written)
    assert hand_written == pytest.approx([1.0, 0.9, 0.45, 0.225])


class MovesItsDecayPoints(Classifier):
    def on_train_epoch_start(self) -> None:
        if self.current_epoch == 1 and not self.trainer.ckpt_path:
            self.lr_schedulers().last_epoch = 2  # type: ignore[union-attr]


def in_manual_optimization(base: type[Any]) -> type[Any]:
    """``base`` trained in manual optimization: one step of its optimizer per batch."""

    class Manual(base):  # type: ignore[valid-type,misc]
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False

        def training_step(self, batch: Any, batch_idx: int) -> None:
            optimizer = self.optimizers()
            optimizer.zero_grad()
            self.manual_backward(super().training_step(batch, batch_idx))
            optimizer.step()

    return Manual


@pytest.mark.parametrize(
    "base", [MovesItsDecayPoints, in_manual_optimization(MovesItsDecayPoints)], ids=["automatic", "manual"]
)
def test_a_last_epoch_write_mid_run_moves_the_declared_schedulers_decay_points_as_a_hand_written_ones(
    base: type[Any], tmp_path: Any
) -> None:
    """``self.lr_schedulers().last_epoch = 2`` at the second epoch was kept on the schedule: the declared
    ``StepLR(step_size=3)`` decayed at its own third step while the hand-written one decays at the next. In
    manual optimization the write is not taken for a step outside the mixin, and a resume from after it goes
    on as the uninterrupted run."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    class Declared(ConfigurableOptimizersMixin, base):  # type: ignore[misc, valid-type]
        optimizer = OptimizerSpec(SGD, lr=1.0, scheduler=SchedulerSpec(StepLR, step_size=3, gamma=0.1))

    class HandWritten(base):  # type: ignore[misc, valid-type]
        def configure_optimizers(self) -> Any:
            optimizer = SGD(self.parameters(), lr=1.0)
            return {"optimizer": optimizer, "lr_scheduler": StepLR(optimizer, step_size=3, gamma=0.1)}

        def on_train_epoch_end(self) -> None:
            if not self.automatic_optimization:
                self.lr_schedulers().step()  # type: ignore[union-attr]

    options = {"max_epochs": 6, "limit_train_batches": 1}
    hand_written = fit(HandWritten(), **options).of()
    save = ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, every_n_epochs=1)
    declared = fit(
        Declared(), callbacks=[save], enable_checkpointing=True, default_root_dir=tmp_path, **options
    )
    assert declared.of() == pytest.approx(hand_written)
    assert hand_written == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.1, 0.01])
    resumed = fit_resumed(Declared(), str(tmp_path / "epoch=2-step=3.ckpt"), **options)
    assert resumed.of() == pytest.approx(hand_written[3:])


def test_get_last_lr_in_a_warmup_is_what_the_warmup_left_as_a_hand_written_linear_lrs() -> None:
    """A warmup of 2 updates before a ``StepLR(1, 0.1)`` of its list reads what its own update left, as a
    hand-written chainable ``LinearLR`` does, not the lr after the ``StepLR``'s update."""
    optimizer = SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    warm = Schedule(optimizer, lambda o, _: ExponentialLR(o, gamma=0.5), shape=Shape(warmup=2))
    then = Schedule(optimizer, lambda o, _: StepLR(o, step_size=1, gamma=0.1), shape=Shape())
    by_hand = SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    linear = LinearLR(by_hand, start_factor=1 / 3, total_iters=2)
    hand_then = StepLR(by_hand, step_size=1, gamma=0.1)
    for _ in range(3):
        assert warm.get_last_lr() == pytest.approx(linear.get_last_lr())
        assert then.get_last_lr() == pytest.approx(hand_then.get_last_lr())
        for schedule in (warm, then, linear, hand_then):
            schedule.optimizer.step()
            schedule.step()


class WritesBeforeItsWindow(Classifier):
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if batch_idx == 1:
            self.lr_schedulers().last_epoch = 2  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "base",
    [WritesBeforeItsWindow, in_manual_optimization(WritesBeforeItsWindow)],
    ids=["automatic", "manual"],
)
def test_a_last_epoch_write_before_the_window_begins_is_refused_alike_in_automatic_and_manual_optimization(
    base: type[Any],
) -> None:
    """A write at update 1 of a window beginning at update 3 moved the window a step early in automatic
    optimization (the docs say it is refused) and was taken for a step outside the mixin in manual optimization:
    both are the one refusal naming the window."""

    class Declared(ConfigurableOptimizersMixin, base):  # type: ignore[misc, valid-type]
        optimizer = OptimizerSpec(
            SGD, lr=1.0, scheduler=SchedulerSpec(StepLR, step_size=1, gamma=0.5, begin=3, interval="step")
        )

    with pytest.raises(
        ValueError,
        match=r"Declared.optimizer.scheduler: Expected `last_epoch` written through the schedule to move it "
        r"between updates at which the declared scheduler counts along \(updates 3 or later\) but got 2 at update "
        r"1: outside its window \(`begin=3`, `end=None`; before `begin` it is not built yet\) it is not stepped",
    ):
        fit(Declared(), max_epochs=1, limit_train_batches=4)
