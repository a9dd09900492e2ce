"""``MixinCallbacks``: the mixin's callbacks as one entry of ``trainer.callbacks``, in real fits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch import nn
from torch.optim import SGD, Adam
from torch.optim.lr_scheduler import CosineAnnealingLR, StepLR

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec
from lightning_optim.training.callbacks import MixinCallback, MixinCallbacks, add, installed
from lightning_optim.training.lifecycle import ScheduleLifecycle
from lightning_optim.training.outcomes import SettleOutcomes
from lightning_optim.training.resume import ResumeGuard
from lightning_optim.training.stepping import ManualSchedulerStepping
from lightning_optim.training.unfrozen import UnfrozenGuard
from tests.helpers import FAST, Classifier, LrRecorder, TwoNetsByName, loader


class GAN(ConfigurableOptimizersMixin, TwoNetsByName):
    gen_opt = OptimizerSpec(
        Adam, params="model_gen", lr=0.01, scheduler=SchedulerSpec("exponential", gamma=0.9, interval="step")
    )
    dis_opt = OptimizerSpec(
        Adam, params="model_dis", lr=0.02, scheduler=SchedulerSpec("exponential", gamma=0.9)
    )


class Seen(L.Callback):
    """What Lightning's own dispatch would call on the entry during the second batch and at the end."""

    def __init__(self) -> None:
        self.per_batch: dict[str, Any] = {}
        self.parts: list[type] = []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        entry = trainer.callbacks[0]
        if batch_idx == 1:
            self.per_batch = {
                name: getattr(entry, name)
                for name in (
                    "on_train_batch_start",
                    "on_train_batch_end",
                    "on_before_backward",
                    "on_after_backward",
                )
            }
        self.parts = [type(part) for part in entry.parts]


def test_one_entry_first_with_every_part_in_order_and_no_per_batch_hooks_after_the_first_batch() -> None:
    seen = Seen()
    trainer = L.Trainer(max_epochs=2, limit_train_batches=3, callbacks=[seen], **FAST)
    trainer.fit(GAN(), loader())
    entries = [c for c in trainer.callbacks if isinstance(c, MixinCallbacks)]
    assert len(entries) == 1 and trainer.callbacks[0] is entries[0]
    # the order the separate callbacks had: the lifecycle first (before any reader), the outcomes last
    assert seen.parts == [
        ScheduleLifecycle,
        ResumeGuard,
        UnfrozenGuard,
        ManualSchedulerStepping,
        SettleOutcomes,
    ]
    # after the first batch's checks, Lightning finds no per-batch hook to call on the entry
    assert seen.per_batch == dict.fromkeys(seen.per_batch, None) and len(seen.per_batch) == 4


def test_a_second_fit_replaces_the_parts_of_the_first() -> None:
    trainer = L.Trainer(max_epochs=1, limit_train_batches=2, **FAST)
    trainer.fit(GAN(), loader())
    first = list(trainer.callbacks[0].parts)
    trainer.fit(GAN(), loader())  # configures the optimizers again (the run is already done)
    entries = [c for c in trainer.callbacks if isinstance(c, MixinCallbacks)]
    assert len(entries) == 1
    assert [type(p) for p in entries[0].parts] == [type(p) for p in first]
    assert not any(p in entries[0].parts for p in first)


class Recorder(MixinCallback):
    def __init__(self, log: list[str], label: str) -> None:
        super().__init__()
        self.log, self.label = log, label

    def on_train_batch_start(self, *args: Any) -> None:
        self.log.append(f"{self.label} batch")

    def on_train_epoch_end(self, *args: Any) -> None:
        self.log.append(f"{self.label} epoch")

    def state_dict(self) -> dict[str, Any]:
        return {"label": self.label}


class Other(Recorder):
    pass


def test_the_entry_calls_its_parts_in_order_and_follows_their_switches() -> None:
    trainer = L.Trainer(**FAST)
    log: list[str] = []
    first, second = Recorder(log, "recorder"), Other(log, "other")
    entry = add(trainer, first)
    assert entry.on_train_batch_start == first.on_train_batch_start  # one part: its own method, no loop
    assert entry.on_before_backward is None  # no part uses it: Lightning skips it
    assert add(trainer, second) is entry and trainer.callbacks[0] is entry
    entry.on_train_epoch_end(trainer, None)  # Lightning's call; the part added last runs first
    assert log == ["other epoch", "recorder epoch"]
    second.disable_hook("on_train_batch_start")
    assert entry.on_train_batch_start == first.on_train_batch_start
    first.disable_hook("on_train_batch_start")
    assert entry.on_train_batch_start is None
    second.enable_hook("on_train_batch_start")
    assert entry.on_train_batch_start == second.on_train_batch_start
    assert entry.state_dict() == {"Other": {"label": "other"}, "Recorder": {"label": "recorder"}}
    assert installed(trainer, first) and not installed(L.Trainer(**FAST), first)
    replacement = Recorder(log, "again")
    add(trainer, replacement)
    assert entry.parts == [replacement, second] and not installed(trainer, first)


@pytest.mark.parametrize("hook", ["on_save_checkpoint", "on_load_checkpoint", "setup", "on_fit_start"])
def test_hooks_lightning_calls_without_asking_are_always_callable(hook: str) -> None:
    """Lightning calls ``on_save_checkpoint``/``on_load_checkpoint`` directly: never ``None`` on the entry."""
    entry = add(L.Trainer(**FAST), Recorder([], "recorder"))
    assert callable(getattr(entry, hook))


# --- a Trainer reused for another module --------------------------------------------------------------------


class Cosine(ConfigurableOptimizersMixin, Classifier):
    """A schedule whose length the run gives (``T_max``), which its lifecycle checks when training starts."""

    optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec(CosineAnnealingLR, interval="step"))


class Stepped(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec(StepLR, step_size=1, gamma=0.5))


class Hand(Classifier):
    """A hand-written module: what runs on a Trainer that ran a mixin module, and its reference's first."""

    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=0.1)
        return {"optimizer": optimizer, "lr_scheduler": StepLR(optimizer, step_size=1, gamma=0.5)}

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", nn.functional.cross_entropy(self.model_gen(x), y))


class HandFirst(Hand):
    pass


def _saved(trainer: L.Trainer, path: Path) -> tuple[list[str], list[str]]:
    """The keys of a checkpoint ``trainer`` saves now, and of its callbacks' states."""
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=False)
    return sorted(checkpoint), sorted(checkpoint.get("callbacks", {}))


def _second_fit(first: L.LightningModule, second: L.LightningModule) -> tuple[L.Trainer, LrRecorder]:
    """``second`` fitted for two more epochs on the Trainer that fitted ``first``; the lrs of its batches."""
    trainer = L.Trainer(max_epochs=2, limit_train_batches=2, **FAST)
    trainer.fit(first, loader())
    trainer.fit_loop.max_epochs = 4
    recorder = LrRecorder()
    trainer.callbacks.append(recorder)
    trainer.fit(second, loader())
    return trainer, recorder


def test_a_hand_written_module_fits_on_the_trainer_of_a_mixin_module_as_after_a_hand_written_one(
    tmp_path: Path,
) -> None:
    # was: the mixin module's schedule lifecycle checked its own schedule against the second run and refused it
    # as a changed checkpoint being resumed (`T_max` 4 "in the checkpoint", 8 now)
    trainer, recorder = _second_fit(Cosine(), Hand())
    reference_trainer, reference = _second_fit(HandFirst(), Hand())
    assert recorder.history == reference.history == [[[0.1]], [[0.1]], [[0.05]], [[0.05]]]
    assert _saved(trainer, tmp_path / "mixin.ckpt") == _saved(reference_trainer, tmp_path / "hand.ckpt")


def test_a_hand_written_module_validated_on_the_trainer_of_a_mixin_module_saves_as_after_a_hand_written_one(
    tmp_path: Path,
) -> None:
    """Its checkpoint holds nothing of the mixin module's (its fingerprint would make a port of the module that
    resumes it compare the wrong declarations)."""

    def saved_after_validate(first: L.LightningModule) -> tuple[list[str], list[str]]:
        trainer = L.Trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=2, **FAST)
        trainer.fit(first, loader())
        trainer.validate(Hand(), loader(), verbose=False)
        return _saved(trainer, tmp_path / f"{type(first).__name__}.ckpt")

    assert saved_after_validate(Cosine()) == saved_after_validate(HandFirst())


def test_a_mixin_module_fits_on_the_trainer_of_another_mixin_class_with_its_own_parts_only() -> None:
    trainer = L.Trainer(max_epochs=2, limit_train_batches=2, **FAST)
    trainer.fit(GAN(), loader())
    schedules = [config.scheduler for config in trainer.lr_scheduler_configs]
    steps = [schedule.last_epoch for schedule in schedules]
    trainer.fit_loop.max_epochs = 4
    recorder = LrRecorder()
    trainer.callbacks.append(recorder)
    trainer.fit(Stepped(), loader())
    _, reference = _second_fit(HandFirst(), Stepped())
    fresh = L.Trainer(max_epochs=1, limit_train_batches=2, **FAST)
    fresh.fit(Stepped(), loader())
    assert recorder.history == reference.history == [[[0.1]], [[0.1]], [[0.05]], [[0.05]]]
    # was: the GAN's manual stepping and step outcomes stayed among the parts, and the stepping went on
    # stepping the GAN's per-epoch schedule at the second module's epoch ends
    assert [type(p) for p in trainer.callbacks[0].parts] == [type(p) for p in fresh.callbacks[0].parts]
    assert [schedule.last_epoch for schedule in schedules] == steps == [4, 2]
