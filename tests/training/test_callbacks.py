"""``MixinCallbacks``: the mixin's callbacks as one entry of ``trainer.callbacks``, in real fits."""

from __future__ import annotations

from typing import Any

import lightning as L
import pytest
from torch.optim import Adam

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec
from lightning_optim.training.callbacks import MixinCallback, MixinCallbacks, add, installed
from lightning_optim.training.lifecycle import ScheduleLifecycle
from lightning_optim.training.outcomes import SettleOutcomes
from lightning_optim.training.resume import ResumeGuard
from lightning_optim.training.stepping import ManualSchedulerStepping
from lightning_optim.training.unfrozen import UnfrozenGuard
from tests.helpers import FAST, TwoNetsByName, loader


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
