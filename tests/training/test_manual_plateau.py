"""A ``ReduceLROnPlateau`` in manual optimization steps where Lightning steps it in automatic optimization.

Lightning steps a per-step plateau after the batch's ``on_train_batch_end`` hooks and its validation
(``val_check_interval``), and a per-epoch one after the module's ``on_train_epoch_end`` and the epoch-end
checkpoint. The mixin, stepping the schedulers itself in manual optimization, took those steps earlier (inside
``opt.step()``, from the first callback's ``on_train_epoch_end``) and read the metric one batch or one epoch
late, or not at all (a false "not logged" error for ``strict=True``). Every run here logs metrics whose
sequence alone decides the learning rates, so a hand-written Lightning config, the mixin in automatic
optimization, one optimizer in manual optimization and two optimizers must all give the same lrs, log the
same lrs and write the same checkpoints, and a resumed manual run must continue exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers.logger import Logger
from torch import nn
from torch.optim import SGD

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec
from tests.helpers import FAST, Classifier, LrRecorder, TwoNetsByName, loader
from tests.training.test_resume import Resumable

#: Never improving after the second value: with ``patience=0`` every later plateau step halves the lr.
SEQUENCE = [10.0, 9.0] + [9.0] * 40
#: Per epoch: improves, then worse from epoch 2.
EPOCH_SEQUENCE = [10.0, 9.0, 100.0, 100.0, 100.0, 100.0]


class Logs(L.LightningModule):
    """Logs ``val_loss`` in validation and ``batch_metric``/``epoch_metric`` in the module's own
    ``on_train_batch_end``/``on_train_epoch_end``, each from its own count of calls."""

    def __init__(self) -> None:
        super().__init__()
        self.validations = 0
        self.batches = 0

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val_loss", SEQUENCE[self.validations])

    def on_validation_epoch_end(self) -> None:
        self.validations += 1

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.log("batch_metric", SEQUENCE[self.batches])
        self.batches += 1

    def on_train_epoch_end(self) -> None:
        self.log("epoch_metric", EPOCH_SEQUENCE[self.current_epoch])


class Single(Logs, Classifier):
    """One optimizer, in automatic optimization unless ``manual``."""

    manual = False

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = not self.manual

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        loss = super().training_step(batch, batch_idx)
        if self.automatic_optimization:
            return loss
        optimizer = self.optimizers()
        optimizer.zero_grad()
        self.manual_backward(loss)
        optimizer.step()
        return None


class Pair(Logs, TwoNetsByName):
    """Two optimizers: the mixin switches to manual optimization."""


class Driven(Logs, L.LightningModule):
    """Two optimizers declared with ``loss=``: the mixin writes the training step."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.first = nn.Linear(8, 4)
        self.second = nn.Linear(8, 4)

    def classification_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.first(x) + self.second(x), y)


def lightning_reference(monitor: str, interval: str, frequency: int, strict: bool) -> type[Single]:
    """Lightning's own config, written by hand."""

    class Reference(Single):
        def configure_optimizers(self) -> Any:
            optimizer = SGD(self.parameters(), lr=0.1)
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
            config = {
                "scheduler": scheduler,
                "monitor": monitor,
                "interval": interval,
                "frequency": frequency,
                "strict": strict,
            }
            return {"optimizer": optimizer, "lr_scheduler": config}

    return Reference


def module(kind: str, monitor: str, interval: str = "step", frequency: int = 1, strict: bool = True) -> Any:
    """``kind``: ``lightning`` (hand-written), ``automatic``/``manual`` (the mixin, one optimizer), ``pair``
    (the mixin, two optimizers, the plateau on the first) or ``driven`` (``pair`` declared with ``loss=``)."""
    if kind == "lightning":
        return lightning_reference(monitor, interval, frequency, strict)()
    spec = SchedulerSpec(
        "plateau",
        monitor=monitor,
        interval=interval,
        frequency=frequency,
        strict=strict,
        patience=0,
        factor=0.5,
    )
    if kind == "pair":
        attributes = {
            "gen_opt": OptimizerSpec(SGD, params="model_gen", lr=0.1, scheduler=spec),
            "dis_opt": OptimizerSpec(SGD, params="model_dis", lr=0.2),
        }
        return type("DeclaredPair", (ConfigurableOptimizersMixin, Pair), attributes)()
    if kind == "driven":
        loss = "classification_loss"
        attributes = {
            "first_opt": OptimizerSpec(SGD, params="first", lr=0.1, loss=loss, scheduler=spec),
            "second_opt": OptimizerSpec(SGD, params="second", lr=0.2, loss=loss),
        }
        return type("DeclaredDriven", (ConfigurableOptimizersMixin, Driven), attributes)()
    attributes = {"optimizer": OptimizerSpec(SGD, lr=0.1, scheduler=spec), "manual": kind == "manual"}
    return type("Declared", (ConfigurableOptimizersMixin, Single), attributes)()


KINDS = ["lightning", "automatic", "manual", "pair", "driven"]


def lrs(
    kind: str, monitor: str, interval: str = "step", frequency: int = 1, **trainer_kwargs: Any
) -> list[float]:
    """The plateau optimizer's lr before every batch and after the last one."""
    strict = trainer_kwargs.pop("strict", True)
    trained = module(kind, monitor, interval, frequency, strict)
    recorder = LrRecorder()
    options = {**FAST, "max_epochs": 3, "num_sanity_val_steps": 0, **trainer_kwargs}
    trainer = L.Trainer(callbacks=[recorder], **options)
    trainer.fit(trained, loader(), loader(n=8))
    return [*recorder.of(0), trainer.optimizers[0].param_groups[0]["lr"]]


@pytest.mark.parametrize("frequency", [1, 2])
def test_per_step_plateau_on_the_metric_of_the_batch_validation(frequency: int) -> None:
    # the usual recipe: validate every `frequency` batches, step the plateau after each validation
    expected = lrs("lightning", "val_loss", frequency=frequency, val_check_interval=frequency)
    assert len(set(expected)) > 2, "the lr must move for the test to mean anything"
    for kind in KINDS[1:]:
        assert lrs(kind, "val_loss", frequency=frequency, val_check_interval=frequency) == expected, kind


def test_per_step_plateau_on_a_metric_logged_in_on_train_batch_end() -> None:
    expected = lrs("lightning", "batch_metric", max_epochs=2)
    assert expected[:4] == [0.1, 0.1, 0.1, 0.05]  # batch 2 is the first not to improve
    for kind in KINDS[1:]:
        assert lrs(kind, "batch_metric", max_epochs=2) == expected, kind


@pytest.mark.parametrize("strict", [True, False])
def test_per_epoch_plateau_on_a_metric_logged_in_the_modules_on_train_epoch_end(strict: bool) -> None:
    # was, in manual optimization: "`epoch_metric`, which was not logged by the end of epoch 0" (strict), or
    # every decision one epoch late
    options = {"max_epochs": 5, "limit_train_batches": 1, "strict": strict}
    expected = lrs("lightning", "epoch_metric", "epoch", **options)
    assert expected == [0.1, 0.1, 0.1, 0.05, 0.025, 0.0125]
    for kind in KINDS[1:]:
        assert lrs(kind, "epoch_metric", "epoch", **options) == expected, kind


class Memory(Logger):
    """Keeps what is logged."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[int | None, dict[str, float]]] = []

    @property
    def name(self) -> str:
        return "memory"

    @property
    def version(self) -> int:
        return 0

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.rows.append((step, dict(metrics)))

    def log_hyperparams(self, *args: Any, **kwargs: Any) -> None:
        pass


@pytest.mark.parametrize(
    ("monitor", "interval", "logging_interval", "options"),
    [
        ("val_loss", "step", "step", {"val_check_interval": 2}),
        ("epoch_metric", "epoch", "epoch", {"limit_train_batches": 1, "max_epochs": 5}),
    ],
    ids=["per_step", "per_epoch"],
)
def test_lr_monitor_logs_the_same_lrs(
    monitor: str, interval: str, logging_interval: str, options: dict[str, Any]
) -> None:
    frequency = 2 if monitor == "val_loss" else 1  # a plateau on `val_loss` steps after each validation
    logged = {}
    for kind in ("automatic", "manual"):
        logger = Memory()
        monitor_lr = LearningRateMonitor(logging_interval=logging_interval)  # type: ignore[arg-type]
        trainer = L.Trainer(
            **{
                **FAST,
                "logger": logger,
                "log_every_n_steps": 1,
                "max_epochs": 3,
                "num_sanity_val_steps": 0,
                **options,
            },
            callbacks=[monitor_lr],
        )
        trainer.fit(module(kind, monitor, interval, frequency), loader(), loader(n=8))
        logged[kind] = [
            (step, value) for step, row in logger.rows for key, value in row.items() if "lr" in key
        ]
    assert len({value for _, value in logged["automatic"]}) > 2
    assert logged["manual"] == logged["automatic"]


def saved_plateaus(directory: Path) -> dict[str, tuple[float, Any, int, int]]:
    """Each checkpoint's lr and plateau state (best, bad epochs, steps), by file name."""
    found = {}
    for path in sorted(directory.glob("*.ckpt")):
        checkpoint = torch.load(path, weights_only=False)
        (state,) = checkpoint["lr_schedulers"]
        plateau = state.get("inner", state)  # the mixin's Schedule keeps the plateau's state inside
        found[path.name] = (
            checkpoint["optimizer_states"][0]["param_groups"][0]["lr"],
            plateau["best"],
            plateau["num_bad_epochs"],
            plateau["last_epoch"],
        )
    return found


@pytest.mark.parametrize(
    ("monitor", "interval", "save", "options"),
    [
        ("val_loss", "step", {}, {"val_check_interval": 2}),  # at each validation's end
        ("batch_metric", "step", {"every_n_train_steps": 1}, {}),  # at every batch's end
        # at each epoch's end
        ("epoch_metric", "epoch", {"every_n_epochs": 1}, {"limit_val_batches": 0, "max_epochs": 4}),
    ],
    ids=["validation_end", "batch_end", "epoch_end"],
)
def test_checkpoints_hold_the_same_plateau_states(
    monitor: str, interval: str, save: dict[str, int], options: dict[str, Any], tmp_path: Path
) -> None:
    saved = {}
    frequency = 2 if monitor == "val_loss" else 1  # a plateau on `val_loss` steps after each validation
    for kind in ("lightning", "automatic", "manual"):
        checkpoints = ModelCheckpoint(dirpath=tmp_path / kind, save_top_k=-1, **save)  # type: ignore[arg-type]
        trainer = L.Trainer(
            **{**FAST, "enable_checkpointing": True, "max_epochs": 3, "num_sanity_val_steps": 0, **options},
            callbacks=[checkpoints],
        )
        trainer.fit(module(kind, monitor, interval, frequency), loader(), loader(n=8))
        saved[kind] = saved_plateaus(tmp_path / kind)
    assert len({lr for lr, *_ in saved["lightning"].values()}) > 1, "the lr must move"
    assert saved["automatic"] == saved["lightning"]
    assert saved["manual"] == saved["lightning"]


def fit(trained: Any, checkpoint: Path | None, **trainer_kwargs: Any) -> LrRecorder:
    """Fit on ``Resumable`` batches with validation on ``loader(n=8)``, resuming from ``checkpoint``."""
    recorder = LrRecorder()
    callbacks = [recorder, *trainer_kwargs.pop("callbacks", [])]
    trainer = L.Trainer(**{**FAST, "enable_checkpointing": True, **trainer_kwargs}, callbacks=callbacks)
    trainer.fit(trained, Resumable(), loader(n=8), ckpt_path=checkpoint)
    return recorder


@pytest.mark.parametrize(
    ("kind", "monitor", "interval", "save", "checkpoint", "done", "options"),
    [
        # the checkpoint written by the validation after batch 1 of epoch 1, before the plateau's update
        ("manual", "val_loss", "step", {}, "epoch=1-step=6.ckpt", 6, {"val_check_interval": 2}),
        ("pair", "val_loss", "step", {}, "epoch=1-step=12.ckpt", 6, {"val_check_interval": 2}),
        # at the end of epoch 1, before the update on the metric of the module's `on_train_epoch_end`
        ("manual", "epoch_metric", "epoch", {"every_n_epochs": 1}, "epoch=1-step=8.ckpt", 8, {}),
        ("pair", "epoch_metric", "epoch", {"every_n_epochs": 1}, "epoch=1-step=16.ckpt", 8, {}),
    ],
    ids=["step_manual", "step_pair", "epoch_manual", "epoch_pair"],
)
@pytest.mark.filterwarnings("ignore:.*does not have many workers")
def test_resume_continues_exactly(
    kind: str,
    monitor: str,
    interval: str,
    save: dict[str, int],
    checkpoint: str,
    done: int,
    options: dict[str, Any],
    tmp_path: Path,
) -> None:
    frequency = 2 if monitor == "val_loss" else 1  # a plateau on `val_loss` steps after each validation
    run_options = {
        "max_epochs": 5,
        "default_root_dir": tmp_path,  # the resumed run's default checkpoints, not the working directory's
        "num_sanity_val_steps": 0,
        "limit_val_batches": 0 if interval == "epoch" else 1.0,
        **options,
    }
    checkpoints = ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, **save)  # type: ignore[arg-type]
    whole = fit(module(kind, monitor, interval, frequency), None, callbacks=[checkpoints], **run_options)
    resumed = module(kind, monitor, interval, frequency)
    # the module's counters (not in the checkpoint) as they stood: a validation after every 2 batches
    resumed.validations, resumed.batches = done // 2, done
    rest = fit(resumed, tmp_path / checkpoint, **run_options)
    assert len(set(map(str, whole.history))) > 2
    assert rest.history == whole.history[done:]
