"""The declared values checked against torch's annotations: what torch takes trains, what it cannot is refused.

Every accepted case trains as the hand-written ``configure_optimizers`` given the same values, lr for lr.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.optim import SGD
from torch.optim.lr_scheduler import CyclicLR, LRScheduler, MultiStepLR, ReduceLROnPlateau, StepLR

from lightning_optim import HParam, OptimizerSpec, SchedulerSpec, describe_optimizers, preview_schedule
from lightning_optim.utilities.numeric import python_number
from tests.helpers import (
    FAST,
    Classifier,
    LrRecorder,
    assert_same_weights,
    declared,
    fit,
    fit_resumed,
    loader,
)

#: Values torch takes that are not Python's own types: numpy scalars (a sweep's grid), a range, a set, an array.
TAKEN: dict[str, tuple[dict[str, Any], type[LRScheduler], dict[str, Any]]] = {
    "lr np.float32": ({"lr": np.float32(0.1)}, StepLR, {"step_size": 1}),
    "step_size np.int64, gamma np.float32": (
        {"lr": 0.1},
        StepLR,
        {"step_size": np.int64(2), "gamma": np.float32(0.5)},
    ),
    "milestones range": ({"lr": 0.1}, MultiStepLR, {"milestones": range(1, 3)}),
    "milestones np.array": ({"lr": 0.1}, MultiStepLR, {"milestones": np.array([1, 2])}),
    "milestones set": ({"lr": 0.1}, MultiStepLR, {"milestones": {1, 2}}),
}


def hand_written(
    options: dict[str, Any], scheduler: type[LRScheduler], arguments: dict[str, Any]
) -> Classifier:
    class HandWritten(Classifier):
        def configure_optimizers(self) -> Any:
            optimizer = SGD(self.parameters(), **options)
            return {"optimizer": optimizer, "lr_scheduler": scheduler(optimizer, **arguments)}

    return HandWritten()


def _python(values: dict[str, Any]) -> dict[str, Any]:
    return {key: python_number(value) for key, value in values.items()}


@pytest.mark.parametrize("case", sorted(TAKEN))
def test_values_torch_takes_train_as_the_hand_written_module(case: str) -> None:
    """A numpy number trains as the Python number it stands for (``np.float32(0.5)`` as ``float(...)``, not in
    float32 arithmetic), as the checks read it."""
    options, scheduler, arguments = TAKEN[case]
    module = declared(OptimizerSpec(SGD, **options, scheduler=SchedulerSpec(scheduler, **arguments)))()
    reference = hand_written(_python(options), scheduler, _python(arguments))
    lrs, expected = fit(module), fit(reference)
    assert lrs.history == expected.history
    assert len(set(lrs.of())) > 1, "the schedule must move for the test to mean anything"
    assert_same_weights(module, reference)


class Swept(Classifier):
    """Takes its step size from a hyperparameter, as a sweep over a numpy grid sets it."""

    def __init__(self, step_size: Any = 1) -> None:
        super().__init__()
        self.save_hyperparameters()


def test_a_numpy_hparam_trains_as_the_hand_written_module() -> None:
    spec = OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec(StepLR, step_size=HParam("step_size")))
    module = declared(spec, base=Swept)(step_size=np.int64(2))
    assert fit(module).history == fit(hand_written({"lr": 0.1}, StepLR, {"step_size": 2})).history


def test_describe_and_preview_read_numpy_values() -> None:
    cls = declared(
        OptimizerSpec(SGD, lr=np.float32(0.1), scheduler=SchedulerSpec(StepLR, step_size=np.int64(1)))
    )
    assert "np.float32(0.1)" in describe_optimizers(cls())
    preview = preview_schedule(cls, max_epochs=3, steps_per_epoch=4)
    assert preview["lr-optimizer"] == pytest.approx(fit(cls()).of(), rel=1e-6)


def test_a_resume_with_numpy_values_continues_exactly(tmp_path: Path) -> None:
    cls = declared(
        OptimizerSpec(
            SGD, lr=np.float32(0.1), scheduler=SchedulerSpec(StepLR, step_size=np.int64(1), gamma=0.5)
        )
    )
    full = cls()
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    whole = fit_resumed(full, None, enable_checkpointing=True, default_root_dir=tmp_path, callbacks=[saving])
    resumed, rest = cls(), LrRecorder()
    trainer = L.Trainer(**{**FAST, "max_epochs": 3, "default_root_dir": tmp_path}, callbacks=[rest])
    # torch's SGD keeps the numpy lr in its param groups, as it does for a hand-written module: the checkpoint
    # holds numpy scalars, which torch.load's weights_only=True (Lightning's default since 2.6) refuses
    weights_only = (
        {"weights_only": False} if "weights_only" in inspect.signature(trainer.fit).parameters else {}
    )
    trainer.fit(resumed, loader(), ckpt_path=str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt"), **weights_only)
    assert rest.history == whole.history[4:]
    assert_same_weights(full, resumed)


def generator() -> Any:
    return (m for m in (1, 2))


REFUSED: list[tuple[Callable[[], SchedulerSpec], str]] = [
    # a generator is used up by the first build: a resumed or second fit would have no milestones
    (
        lambda: SchedulerSpec(MultiStepLR, milestones=generator()),
        "Expected `milestones` of `MultiStepLR` to be",
    ),
    # a tensor's items hash by identity: MultiStepLR's Counter of them never matches an epoch
    (
        lambda: SchedulerSpec(MultiStepLR, milestones=torch.tensor([1, 2])),
        "Expected `milestones` of `MultiStepLR`",
    ),
    # a dict's Counter counts its values: {1: 2} would be milestone 1 twice
    (
        lambda: SchedulerSpec(MultiStepLR, milestones={1: 2}),
        "Expected `milestones` of `MultiStepLR` to be Iterable[int] but got {1: 2}.",
    ),
    (
        lambda: SchedulerSpec(MultiStepLR, milestones=np.array([1.5, 2.0])),
        "Expected `milestones` of `MultiStepLR`",
    ),
    (lambda: SchedulerSpec(StepLR, step_size=np.float64(2.0)), "Expected `step_size` of `StepLR` to be int"),
    (
        lambda: SchedulerSpec(StepLR, step_size=True),
        "Expected `step_size` of `StepLR` to be int but got True",
    ),
]


@pytest.mark.parametrize(("scheduler", "message"), REFUSED)
def test_values_torch_would_misread_are_still_refused(
    scheduler: Callable[[], SchedulerSpec], message: str
) -> None:
    with pytest.raises(TypeError, match=re.escape(f"Declared.optimizer.scheduler: {message}")):
        declared(OptimizerSpec(SGD, lr=0.1, scheduler=scheduler()))


MISSPELT_CHOICES = [
    (
        SchedulerSpec(ReduceLROnPlateau, monitor="train_loss", mode="minn"),
        "Expected `mode` of `ReduceLROnPlateau` to be one of `min`, `max` but got 'minn' (did you mean `min`?).",
    ),
    (
        SchedulerSpec(ReduceLROnPlateau, monitor="train_loss", threshold_mode="rell"),
        "Expected `threshold_mode` of `ReduceLROnPlateau` to be one of `rel`, `abs` but got 'rell' "
        "(did you mean `rel`?).",
    ),
    (
        SchedulerSpec(CyclicLR, base_lr=0.01, max_lr=0.1, mode="triangle"),
        "Expected `mode` of `CyclicLR` to be one of `triangular`, `triangular2`, `exp_range` but got 'triangle' "
        "(did you mean `triangular`?).",
    ),
]


@pytest.mark.parametrize(("scheduler", "message"), MISSPELT_CHOICES)
def test_a_misspelt_choice_is_a_value_error_naming_the_choices(
    scheduler: SchedulerSpec, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(f"Declared.optimizer.scheduler: {message}")):
        declared(OptimizerSpec(SGD, lr=0.1, scheduler=scheduler))


class Tuned(Classifier):
    """Takes its plateau's mode from a hyperparameter."""

    def __init__(self, mode: str = "min") -> None:
        super().__init__()
        self.save_hyperparameters()


def test_a_misspelt_choice_from_an_hparam_is_refused_when_fit_starts() -> None:
    spec = OptimizerSpec(
        SGD, lr=0.1, scheduler=SchedulerSpec(ReduceLROnPlateau, monitor="train_loss", mode=HParam("mode"))
    )
    with pytest.raises(
        ValueError, match=re.escape("one of `min`, `max` but got 'minn' (did you mean `min`?)")
    ):
        fit(declared(spec, base=Tuned)(mode="minn"))
