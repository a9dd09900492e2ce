"""``LRMonitor`` against Lightning's ``LearningRateMonitor`` on real ``Trainer`` runs, and its extras."""

from __future__ import annotations

import copy
import inspect
import pickle
import sys
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor
from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_optim import LRMonitor
from lightning_optim.monitor.lr_monitor import _logs_at_this_batch, _to_floats

BATCHES = 4


# both publishing paths of ``PublishedScalars`` (see conftest.py)
pytestmark = pytest.mark.usefixtures("publish_path")


class RecordingLogger(Logger):
    """Records every ``log_metrics`` call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int | None, dict[str, Any]]] = []

    @property
    def name(self) -> str:
        return "recording"

    @property
    def version(self) -> int:
        return 0

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        self.calls.append((step, dict(metrics)))

    def log_hyperparams(self, *args: Any, **kwargs: Any) -> None:
        pass


class CallbackMetricsProbe(Callback):
    """Snapshots, then removes, the callback metrics the monitor before it just wrote (``Net`` logs none)."""

    def __init__(self) -> None:
        self.snapshots: list[dict[str, tuple[float, torch.device]]] = []

    def _snapshot(self, trainer: Trainer) -> None:
        metrics = trainer.callback_metrics
        self.snapshots.append({key: (value.item(), value.device) for key, value in metrics.items()})
        metrics.clear()

    def on_train_batch_start(self, trainer: Trainer, *args: Any) -> None:
        self._snapshot(trainer)

    def on_train_epoch_start(self, trainer: Trainer, *args: Any) -> None:
        self._snapshot(trainer)


class Net(LightningModule):
    """A tiny regression model whose optimizers are chosen by arguments."""

    def __init__(
        self,
        optimizer: str = "sgd",
        groups: int = 1,
        named: bool = False,
        scheduler: str | None = None,
        n_optimizers: int = 1,
        scheduler_name: str | None = None,
        grow: bool = False,
        tensor_lr: bool = False,
        prefixes: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.head = nn.Linear(4, 1)
        self.optimizer_kind = optimizer
        self.groups = groups
        self.named = named
        self.scheduler_kind = scheduler
        self.n_optimizers = n_optimizers
        self.scheduler_name = scheduler_name
        self.grow = grow
        self.tensor_lr = tensor_lr
        self.prefixes = prefixes
        self.automatic_optimization = n_optimizers == 1

    def train_dataloader(self) -> DataLoader:
        data = TensorDataset(torch.randn(BATCHES * 4, 4), torch.randn(BATCHES * 4, 1))
        return DataLoader(data, batch_size=4)

    def _loss(self, batch: Any) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.head(torch.relu(self.body(x))), y)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        if self.automatic_optimization:
            return self._loss(batch)
        optimizers = self.optimizers()
        for optimizer in optimizers:
            optimizer.zero_grad()
        self.manual_backward(self._loss(batch))
        for optimizer in optimizers:
            optimizer.step()
        if self.scheduler_kind == "step":
            for scheduler in self.lr_schedulers():
                scheduler.step()
        return None

    def on_train_epoch_end(self) -> None:
        if not self.automatic_optimization and self.scheduler_kind == "epoch":
            for scheduler in self.lr_schedulers():
                scheduler.step()
        if self.grow and self.current_epoch == 0:
            # as BackboneFinetuning does: unfreeze a module by adding a param group mid-training
            self.trainer.optimizers[0].add_param_group({"params": list(self.head.parameters()), "lr": 0.02})

    def _param_groups(self) -> list[dict[str, Any]]:
        if self.grow:
            return [{"params": list(self.body.parameters())}]
        if self.groups == 1:
            groups: list[dict[str, Any]] = [{"params": list(self.parameters())}]
        else:
            groups = [
                {"params": list(self.body.parameters())},
                {"params": list(self.head.parameters()), "lr": 0.05, "weight_decay": 0.0},
            ]
        if self.named:
            for group, name in zip(groups, ["body", "head"]):
                group["name"] = name
        return groups

    def _optimizer(self) -> torch.optim.Optimizer:
        lr: Any = torch.tensor(0.01) if self.tensor_lr else 0.01
        if self.optimizer_kind == "sgd":
            return torch.optim.SGD(self._param_groups(), lr=0.1, momentum=0.9, weight_decay=1e-3)
        if self.optimizer_kind == "adam":
            return torch.optim.Adam(self._param_groups(), lr=lr, betas=(0.8, 0.99), weight_decay=1e-4)
        if self.optimizer_kind == "rprop":
            return torch.optim.Rprop(self._param_groups(), lr=0.01)
        return torch.optim.Adagrad(self._param_groups(), lr=0.1)

    def configure_optimizers(self) -> Any:
        optimizers = [self._optimizer() for _ in range(self.n_optimizers)]
        if self.prefixes is not None:
            self._lightning_optim_prefixes = self.prefixes
        if self.scheduler_kind is None:
            return optimizers
        configs = []
        for optimizer in optimizers:
            if self.scheduler_kind == "epoch":
                scheduler: Any = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
            else:
                scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
            config = {"scheduler": scheduler, "interval": self.scheduler_kind}
            if self.scheduler_name is not None:
                config["name"] = self.scheduler_name
            configs.append(config)
        return optimizers, configs


def make_trainer(callbacks: list[Callback], logger: Any, epochs: int = 2, **kwargs: Any) -> Trainer:
    return Trainer(
        accelerator="cpu",
        max_epochs=epochs,
        limit_train_batches=BATCHES,
        logger=logger,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **{"log_every_n_steps": 1, **kwargs},
    )


# (module kwargs, monitor kwargs, trainer kwargs, keys both monitors must log)
CASES = {
    "sgd-no-scheduler": ({}, {}, {}, ["lr-SGD"]),
    "sgd-steplr-epoch": ({"scheduler": "epoch"}, {}, {}, ["lr-SGD"]),
    "sgd-explr-step": ({"scheduler": "step"}, {}, {}, ["lr-SGD"]),
    "adam-explr-step-log-epoch": (
        {"optimizer": "adam", "scheduler": "step"},
        {"logging_interval": "epoch"},
        {},
        ["lr-Adam"],
    ),
    "adam-steplr-log-step-every-2": (
        {"optimizer": "adam", "scheduler": "epoch"},
        {"logging_interval": "step"},
        {"log_every_n_steps": 2},
        ["lr-Adam"],
    ),
    "sgd-every-3-no-scheduler": ({}, {"logging_interval": None}, {"log_every_n_steps": 3}, ["lr-SGD"]),
    "sgd-groups-unnamed-momentum-wd": (
        {"groups": 2, "scheduler": "step"},
        {"log_momentum": True, "log_weight_decay": True},
        {},
        ["lr-SGD/pg1", "lr-SGD/pg2"],
    ),
    "adam-groups-named-betas-wd": (
        {"optimizer": "adam", "groups": 2, "named": True, "scheduler": "epoch"},
        {"log_momentum": True, "log_weight_decay": True, "logging_interval": "step"},
        {},
        ["lr-Adam/body", "lr-Adam/head"],
    ),
    "adam-one-named-group": ({"optimizer": "adam", "named": True}, {}, {}, ["lr-Adam/body"]),
    "named-scheduler": (
        {"scheduler": "step", "scheduler_name": "my-lr"},
        {"log_momentum": True},
        {},
        ["my-lr"],
    ),
    "adagrad-no-momentum": ({"optimizer": "adagrad"}, {"log_momentum": True}, {}, ["lr-Adagrad"]),
    "manual-two-adam": ({"optimizer": "adam", "n_optimizers": 2}, {}, {}, ["lr-Adam", "lr-Adam-1"]),
    "manual-two-adam-step-schedulers": (
        {"optimizer": "adam", "n_optimizers": 2, "scheduler": "step", "groups": 2},
        {"log_momentum": True},
        {"log_every_n_steps": 2},
        ["lr-Adam/pg1", "lr-Adam/pg2", "lr-Adam-1/pg1", "lr-Adam-1/pg2"],
    ),
    "manual-two-sgd-epoch-schedulers": (
        {"n_optimizers": 2, "scheduler": "epoch"},
        {"logging_interval": "epoch", "log_weight_decay": True},
        {},
        ["lr-SGD", "lr-SGD-1"],
    ),
    "param-group-added-mid-training": (
        {"grow": True, "scheduler": "epoch"},
        {"log_momentum": True},
        {},
        ["lr-SGD/pg1", "lr-SGD/pg2"],
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_matches_lightning_monitor(case: tuple[dict, dict, dict, list[str]]) -> None:
    """Both monitors on one Trainer: same logged calls, histories, last values and callback metrics."""
    module_kwargs, monitor_kwargs, trainer_kwargs, expected_keys = case
    theirs, ours = LearningRateMonitor(**monitor_kwargs), LRMonitor(**monitor_kwargs)
    their_probe, our_probe = CallbackMetricsProbe(), CallbackMetricsProbe()
    logger = RecordingLogger()
    trainer = make_trainer([theirs, their_probe, ours, our_probe], logger, **trainer_kwargs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "You have set log_momentum=True")
        trainer.fit(Net(**module_kwargs))

    # callbacks run in list order, so each event is a call by theirs followed by the same call by ours
    assert logger.calls, "nothing was logged"
    assert len(logger.calls) % 2 == 0
    assert logger.calls[1::2] == logger.calls[0::2]
    assert sorted(ours.lrs) == sorted(expected_keys)
    assert {key: list(values) for key, values in ours.lrs.items()} == theirs.lrs
    assert ours.last_momentum_values == theirs.last_momentum_values
    assert ours.last_weight_decay_values == theirs.last_weight_decay_values
    assert our_probe.snapshots == their_probe.snapshots
    assert any(snapshot for snapshot in our_probe.snapshots)
    # our histories carry the steps they were logged at (a key gaining "/pg1" keeps its history, as Lightning)
    for key, steps in ours.lr_steps.items():
        old_key = key.replace("/pg1", "")
        logged_at = [step for step, metrics in logger.calls[1::2] if key in metrics or old_key in metrics]
        assert list(steps) == logged_at


PREFIX = "optim/"
#: Lightning's newest ``LearningRateMonitor`` (#21612) takes ``log_key_prefix``; 2.6.6 does not yet
LIGHTNING_HAS_PREFIX = "log_key_prefix" in inspect.signature(LearningRateMonitor).parameters


def _prefixed(metrics: dict[str, Any]) -> dict[str, Any]:
    return {PREFIX + key: value for key, value in metrics.items()}


@pytest.mark.parametrize(
    "case",
    [
        "sgd-explr-step",
        "adam-groups-named-betas-wd",
        "manual-two-adam-step-schedulers",
        "param-group-added-mid-training",
    ],
)
def test_log_key_prefix_prefixes_every_key_as_lightning_does(case: str) -> None:
    """``log_key_prefix`` puts the prefix in front of every key Lightning's monitor logs, and changes nothing
    else: histories, momentum and weight-decay keys, logged calls and callback metrics."""
    module_kwargs, monitor_kwargs, trainer_kwargs, expected_keys = CASES[case]
    reference_kwargs = (
        {**monitor_kwargs, "log_key_prefix": PREFIX} if LIGHTNING_HAS_PREFIX else monitor_kwargs
    )
    theirs, ours = LearningRateMonitor(**reference_kwargs), LRMonitor(**monitor_kwargs, log_key_prefix=PREFIX)
    # Lightning's prefixed keys equal its unprefixed ones with the prefix in front (its tests, #21612)
    expected = (lambda metrics: metrics) if LIGHTNING_HAS_PREFIX else _prefixed
    their_probe, our_probe = CallbackMetricsProbe(), CallbackMetricsProbe()
    logger = RecordingLogger()
    trainer = make_trainer([theirs, their_probe, ours, our_probe], logger, **trainer_kwargs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "You have set log_momentum=True")
        trainer.fit(Net(**module_kwargs))

    assert sorted(ours.lrs) == sorted(PREFIX + key for key in expected_keys)
    assert logger.calls[1::2] == [(step, expected(metrics)) for step, metrics in logger.calls[0::2]]
    assert any(PREFIX + "lr-" in key for _, metrics in logger.calls[1::2] for key in metrics)
    assert {key: list(values) for key, values in ours.lrs.items()} == expected(theirs.lrs)
    assert ours.last_momentum_values == expected(theirs.last_momentum_values)
    assert ours.last_weight_decay_values == expected(theirs.last_weight_decay_values)
    assert our_probe.snapshots == [expected(snapshot) for snapshot in their_probe.snapshots]
    assert set(ours.lr_steps) == set(ours.lrs)


@pytest.mark.parametrize("prefix", [None, ""])
def test_no_log_key_prefix_logs_lightnings_keys(prefix: str | None) -> None:
    ours = LRMonitor(log_key_prefix=prefix, log_momentum=True)
    make_trainer([ours], RecordingLogger(), epochs=1).fit(Net(optimizer="adam"))
    assert ours.log_key_prefix == ""
    assert list(ours.lrs) == ["lr-Adam"] and list(ours.last_momentum_values) == ["lr-Adam-momentum"]


def test_log_key_prefix_on_a_mixin_module_and_in_the_progress_bar() -> None:
    module = Net(optimizer="adam", n_optimizers=2, prefixes=["lr-gen_opt", "lr-dis_opt"])
    ours = LRMonitor(log_key_prefix="train/", log_weight_decay=True, prog_bar=True)
    trainer = make_trainer([ours], RecordingLogger(), epochs=1)
    trainer.fit(module)
    assert list(ours.lrs) == ["train/lr-gen_opt", "train/lr-dis_opt"]
    assert list(ours.last_weight_decay_values) == [
        "train/lr-gen_opt-weight_decay",
        "train/lr-dis_opt-weight_decay",
    ]
    assert {"train/lr-gen_opt", "train/lr-dis_opt"} <= set(trainer.progress_bar_metrics)
    assert {"train/lr-gen_opt", "train/lr-dis_opt-weight_decay"} <= set(trainer.callback_metrics)


@pytest.mark.parametrize(
    "case", ["sgd-explr-step", "adam-groups-named-betas-wd", "manual-two-adam-step-schedulers"]
)
def test_csv_logger_output_matches_lightning_monitor(case: str, tmp_path: Path) -> None:
    """Separate runs, one per monitor, write byte-identical ``metrics.csv`` files."""
    module_kwargs, monitor_kwargs, trainer_kwargs, _ = CASES[case]
    written = []
    for monitor_cls in (LearningRateMonitor, LRMonitor):
        logger = CSVLogger(tmp_path, name=monitor_cls.__name__)
        make_trainer([monitor_cls(**monitor_kwargs)], logger, **trainer_kwargs).fit(Net(**module_kwargs))
        written.append(Path(logger.log_dir, "metrics.csv").read_text())
    assert written[0] == written[1]
    assert written[1].count("\n") > 2


def test_mixin_module_keys_use_declared_names() -> None:
    """The optimizer part of a key is the declared prefix; one group gets no suffix unless it has a name (the
    mixin names a lone group only when declared with ``ParamGroup(name=...)``), as in Lightning's monitor."""
    module = Net(optimizer="adam", n_optimizers=2, prefixes=["lr-gen_opt", "lr-dis_opt"])
    ours = LRMonitor(log_momentum=True)
    logger = RecordingLogger()
    make_trainer([ours], logger, epochs=1).fit(module)
    assert list(ours.lrs) == ["lr-gen_opt", "lr-dis_opt"]
    assert set(logger.calls[0][1]) == {
        "lr-gen_opt",
        "lr-gen_opt-momentum",
        "lr-dis_opt",
        "lr-dis_opt-momentum",
    }

    named = Net(optimizer="adam", n_optimizers=2, named=True, prefixes=["lr-gen_opt", "lr-dis_opt"])
    ours = LRMonitor()
    make_trainer([ours], RecordingLogger(), epochs=1).fit(named)
    assert list(ours.lrs) == ["lr-gen_opt/body", "lr-dis_opt/body"]

    grouped = Net(groups=2, named=True, scheduler="epoch", prefixes=["lr-optimizer"])
    ours = LRMonitor()
    make_trainer([ours], RecordingLogger(), epochs=1).fit(grouped)
    assert list(ours.lrs) == ["lr-optimizer/body", "lr-optimizer/head"]


def test_tensor_lr_history_does_not_alias_the_live_tensor() -> None:
    """Lightning's history holds the live lr tensor, so it collapses to its last value; ours does not."""
    theirs, ours = LearningRateMonitor(logging_interval="step"), LRMonitor(logging_interval="step")
    trainer = make_trainer([theirs, ours], RecordingLogger())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "To copy construct from a tensor")
        trainer.fit(Net(optimizer="adam", scheduler="step", tensor_lr=True))

    their_history = [float(value) for value in theirs.lrs["lr-Adam"]]
    our_history = list(ours.lrs["lr-Adam"])
    assert len(set(their_history)) == 1
    assert all(type(value) is float for value in our_history)
    expected = [torch.tensor(0.01 * 0.9**step).item() for step in range(len(our_history))]
    assert our_history == pytest.approx(expected, rel=1e-6)
    # every entry of theirs is the live tensor, which holds the lr after the last scheduler step
    assert their_history[0] == pytest.approx(0.01 * 0.9 ** (2 * BATCHES), rel=1e-6)
    assert len(set(our_history)) == len(our_history) == 2 * BATCHES


def test_tensor_values_are_read_with_one_transfer(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"tolist": 0, "item": 0}
    original_tolist, original_item = torch.Tensor.tolist, torch.Tensor.item

    def tolist(self: torch.Tensor) -> Any:
        calls["tolist"] += 1
        return original_tolist(self)

    def item(self: torch.Tensor) -> Any:
        calls["item"] += 1
        return original_item(self)

    monkeypatch.setattr(torch.Tensor, "tolist", tolist)
    monkeypatch.setattr(torch.Tensor, "item", item)
    values = [torch.tensor(0.5), 0.25, torch.tensor(0.125, dtype=torch.float64), torch.tensor([2.0])]
    assert _to_floats(values) == [0.5, 0.25, 0.125, 2.0]
    assert calls == {"tolist": 1, "item": 0}


def test_without_logger_warns_once_and_keeps_history() -> None:
    ours = LRMonitor(logging_interval="step")
    trainer = make_trainer([ours], logger=False)
    with pytest.warns(UserWarning, match="no logger") as record:
        trainer.fit(Net(scheduler="step"))
    assert len([w for w in record if "no logger" in str(w.message)]) == 1
    assert len(ours.lrs["lr-SGD"]) == 2 * BATCHES
    assert trainer.callback_metrics["lr-SGD"].item() == pytest.approx(0.1 * 0.9 ** (2 * BATCHES - 1))

    with pytest.raises(MisconfigurationException, match="has no logger"):
        make_trainer([LearningRateMonitor()], logger=False).fit(Net())


def test_log_weight_decay_without_weight_decay_warns_once_and_logs_zero() -> None:
    """Rprop's groups have no ``weight_decay``: Lightning's monitor raises a bare ``KeyError`` at its first event;
    this one warns once when training starts and logs 0, as both do for ``log_momentum`` without momentum."""
    ours = LRMonitor(log_weight_decay=True)
    logger = RecordingLogger()
    with pytest.warns(RuntimeWarning, match="weight_decay") as record:
        make_trainer([ours], logger).fit(Net(optimizer="rprop", groups=2))
    assert [str(w.message) for w in record if "weight_decay" in str(w.message)] == [
        "You have set log_weight_decay=True, but some optimizers do not have weight_decay (`Rprop`). This will "
        "log a value 0 for the weight decay."
    ]
    assert ours.last_weight_decay_values == {"lr-Rprop/pg1-weight_decay": 0, "lr-Rprop/pg2-weight_decay": 0}
    assert len(logger.calls) == 2 * BATCHES + 2
    assert all(metrics["lr-Rprop/pg2-weight_decay"] == 0 for _, metrics in logger.calls)

    with pytest.raises(KeyError, match="weight_decay"):
        make_trainer([LearningRateMonitor(log_weight_decay=True)], RecordingLogger()).fit(
            Net(optimizer="rprop")
        )


def test_callback_metrics_hold_lightnings_values_as_float32() -> None:
    """What docs/guides/monitor.md says: the same values, float32 where Lightning's are int64 (an int option)."""
    metrics = {}
    for monitor in (LearningRateMonitor, LRMonitor):
        trainer = make_trainer(
            [monitor(log_momentum=True, log_weight_decay=True)], RecordingLogger(), epochs=1
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "You have set log_momentum=True")
            trainer.fit(Net(optimizer="adagrad"))  # no momentum: 0; Adagrad's default weight_decay=0
        metrics[monitor] = {
            key: (value.item(), value.dtype) for key, value in trainer.callback_metrics.items()
        }
    assert metrics[LearningRateMonitor] == {
        "lr-Adagrad": (pytest.approx(0.1), torch.float32),
        "lr-Adagrad-momentum": (0, torch.int64),
        "lr-Adagrad-weight_decay": (0, torch.int64),
    }
    assert metrics[LRMonitor] == {
        key: (value, torch.float32) for key, (value, _) in metrics[LearningRateMonitor].items()
    }


def last_three(lrs: dict[str, list[float]]) -> dict[str, list[float]]:
    """Code typed for ``LearningRateMonitor.lrs``."""
    return {key: values[-3:] for key, values in lrs.items()}


@pytest.mark.parametrize("max_history", [None, 3, 1])
def test_lrs_are_lightnings_lists_also_bounded_by_max_history(max_history: int | None) -> None:
    """``lrs`` holds lists, as ``LearningRateMonitor.lrs`` (``dict[str, list[float]]``), with or without
    ``max_history``, which keeps each one's last entries (after the fit exactly, while training up to twice as
    many): a slice of a bounded history (``lrs[key][-3:]``) was a ``TypeError``, as it was a deque."""
    theirs, ours = LearningRateMonitor(), LRMonitor(max_history=max_history)
    longest: list[int] = []

    class Lengths(Callback):
        def on_train_batch_start(self, *args: Any) -> None:
            longest.append(max(map(len, [*ours.lrs.values(), *ours.lr_steps.values()])))

    make_trainer([theirs, ours, Lengths()], RecordingLogger()).fit(Net(scheduler="step", groups=2))
    assert len(theirs.lrs["lr-SGD/pg1"]) == 8  # 2 epochs of 4 steps, each logged
    keep = slice(None) if max_history is None else slice(-max_history, None)
    assert last_three(ours.lrs) == {key: values[-3:][keep] for key, values in theirs.lrs.items()}
    assert ours.lrs == {key: values[keep] for key, values in theirs.lrs.items()}
    assert all(type(values) is list for values in [*ours.lrs.values(), *ours.lr_steps.values()])
    assert ours.lr_steps == {key: list(range(8))[keep] for key in theirs.lrs}
    # while training, trimmed back to the last `max_history` whenever one reaches twice as many
    assert longest == {None: [1, 2, 3, 4, 5, 6, 7, 8], 3: [1, 2, 3, 4, 5, 3, 4, 5], 1: [1] * 8}[max_history]


@pytest.mark.parametrize("integer", [np.int64, np.int32])
def test_a_numpy_max_history_keeps_the_last_entries_as_the_python_int(integer: type) -> None:
    # was: "TypeError: Expected `max_history` to be an int or None but got np.int64(3)"
    numpy_bounded, bounded = LRMonitor(max_history=integer(3)), LRMonitor(max_history=3)
    make_trainer([numpy_bounded, bounded], RecordingLogger()).fit(Net(scheduler="step", groups=2))
    assert numpy_bounded.lrs == bounded.lrs
    assert numpy_bounded.lr_steps == bounded.lr_steps
    assert type(numpy_bounded.max_history) is int
    assert len(bounded.lrs["lr-SGD/pg1"]) == 3


def test_prog_bar_shows_current_lr() -> None:
    ours = LRMonitor(prog_bar=True)
    trainer = make_trainer([ours], RecordingLogger())
    trainer.fit(Net(scheduler="step", groups=2, named=True))
    assert trainer.progress_bar_metrics["lr-SGD/body"] == ours.lrs["lr-SGD/body"][-1]
    assert trainer.progress_bar_metrics["lr-SGD/head"] == ours.lrs["lr-SGD/head"][-1]

    quiet = make_trainer([LRMonitor()], RecordingLogger())
    quiet.fit(Net(scheduler="step"))
    assert not any(key.startswith("lr-") for key in quiet.progress_bar_metrics)


def test_early_stopping_can_monitor_an_lr() -> None:
    stopper = EarlyStopping(
        monitor="lr-SGD", mode="min", stopping_threshold=0.05, check_on_train_epoch_end=True
    )
    trainer = make_trainer([LRMonitor(), stopper], RecordingLogger(), epochs=5)
    trainer.fit(Net(scheduler="epoch"))
    # StepLR halves 0.1 each epoch: 0.025 < 0.05 at the third epoch, which is the last one run
    assert trainer.current_epoch == 3
    assert trainer.should_stop


@pytest.mark.parametrize(
    ("every", "accumulate", "stop_at"), [(0, 1, None), (1, 1, None), (3, 2, None), (50, 1, 5), (4, 3, 9)]
)
def test_batches_that_log_follow_lightnings_rule(every: int, accumulate: int, stop_at: int | None) -> None:
    """The monitor's own check agrees with ``should_update_logs`` at every batch, ``should_stop`` included."""

    class Probe(Callback):
        def __init__(self) -> None:
            self.decisions: list[tuple[bool, bool]] = []

        def on_train_batch_start(self, trainer: Trainer, *args: Any) -> None:
            if stop_at is not None and len(self.decisions) == stop_at:
                trainer.should_stop = True
            self.decisions.append(
                (_logs_at_this_batch(trainer), trainer._logger_connector.should_update_logs)
            )

    probe = Probe()
    trainer = make_trainer(
        [probe], RecordingLogger(), epochs=3, log_every_n_steps=every, accumulate_grad_batches=accumulate
    )
    trainer.fit(Net(scheduler="step"))
    ours, lightnings = zip(*probe.decisions)
    assert ours == lightnings
    assert any(ours) is (every > 0)
    assert len(ours) > 4


def test_early_stopping_best_score_is_not_rewritten_by_later_events() -> None:
    """EarlyStopping keeps a view of the best lr it saw; ours must leave it as Lightning's monitor does."""

    def run(monitor: Callback) -> tuple[float, float]:
        stopper = EarlyStopping(monitor="lr-SGD", mode="max", patience=100, check_on_train_epoch_end=True)
        trainer = make_trainer([monitor, stopper], RecordingLogger(), epochs=3)
        trainer.fit(Net(scheduler="step"))
        return stopper.best_score.item(), trainer.callback_metrics["lr-SGD"].item()

    best, last = run(LRMonitor())
    # ExponentialLR lowers the lr at every step: the best is the last value logged in the first epoch
    assert best == pytest.approx(0.1 * 0.9 ** (BATCHES - 1))
    assert last == pytest.approx(0.1 * 0.9 ** (3 * BATCHES - 1))
    assert (best, last) == run(LearningRateMonitor())


@pytest.mark.parametrize("publish_path", ["reuse"], indirect=True)  # about the in-place path itself
def test_published_tensors_are_rewritten_when_nothing_keeps_them(publish_path: str) -> None:
    """The speed-up is real: one tensor object per key for the whole run, holding each logged value."""

    class Probe(Callback):
        def __init__(self) -> None:
            self.first: weakref.ref[torch.Tensor] | None = None
            self.values: list[float] = []

        def on_train_batch_end(self, trainer: Trainer, *args: Any) -> None:
            value = trainer.callback_metrics["lr-SGD/pg2"]
            self.first = self.first or weakref.ref(value)
            assert self.first() is value
            self.values.append(value.item())

    probe, ours = Probe(), LRMonitor()
    make_trainer([ours, probe], RecordingLogger()).fit(Net(scheduler="step", groups=2))
    expected = [torch.tensor(value).item() for value in ours.lrs["lr-SGD/pg2"]]
    assert probe.values == expected
    assert len(expected) == 2 * BATCHES


@pytest.mark.parametrize("duplicate", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))])
def test_a_used_monitor_can_be_copied_and_pickled(duplicate: Callable[[LRMonitor], LRMonitor]) -> None:
    """Its history travels; the caches with optimizers and published tensors do not, and are rebuilt."""
    ours = LRMonitor()
    make_trainer([ours], RecordingLogger()).fit(Net(scheduler="step", groups=2))
    twin = duplicate(ours)
    assert twin.lrs == ours.lrs
    assert twin.lr_steps == ours.lr_steps
    assert twin._events == {}

    trainer = make_trainer([twin], RecordingLogger(), epochs=3)
    trainer.fit(Net(scheduler="step", groups=2))
    # a new fit starts a new history, as with LearningRateMonitor
    assert len(twin.lrs["lr-SGD/pg1"]) == 3 * BATCHES
    assert twin.lrs["lr-SGD/pg1"][-1] == pytest.approx(0.1 * 0.9 ** (3 * BATCHES - 1))
    assert trainer.callback_metrics["lr-SGD/pg1"].item() == pytest.approx(twin.lrs["lr-SGD/pg1"][-1])


def test_plot_writes_a_png(tmp_path: Path) -> None:
    ours = LRMonitor()
    make_trainer([ours], RecordingLogger()).fit(Net(scheduler="step", groups=2))
    path = ours.plot(tmp_path / "lr.png", log_scale=True)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000

    from matplotlib.image import imread

    pixels = imread(path)
    assert pixels.std() > 0.01


def test_plot_without_history_or_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        ValueError, match=r"no learning rate has been logged yet; call it after `trainer\.fit`$"
    ):
        LRMonitor().plot(tmp_path / "lr.png")
    sent = LRMonitor()
    pickle.dumps(sent)  # as ddp_spawn sends it to its workers (tests/training: a real ddp_spawn fit)
    with pytest.raises(
        ValueError, match=r"no learning rate was logged in this process\. This monitor was pickled"
    ):
        sent.plot(tmp_path / "lr.png")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install lightning-optim\[plot\]"):
        LRMonitor().plot(tmp_path / "lr.png")


def test_duplicate_group_names_raise_as_lightning() -> None:
    module = Net(groups=2, named=True)
    module._param_groups = lambda: [  # type: ignore[method-assign]
        {"params": list(module.body.parameters()), "name": "same"},
        {"params": list(module.head.parameters()), "name": "same"},
    ]
    with pytest.raises(MisconfigurationException, match="duplicated parameter group names"):
        make_trainer([LRMonitor()], RecordingLogger()).fit(module)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"logging_interval": "stp"}, ValueError, "did you mean `step`"),
        # Lightning's word for an optimizer step: no spelling is close, a known synonym is
        ({"logging_interval": "batch"}, ValueError, r"but got 'batch' \(did you mean `step`\?\)$"),
        ({"logging_interval": "iteration"}, ValueError, r"but got 'iteration' \(did you mean `step`\?\)$"),
        ({"logging_interval": "epochs"}, ValueError, "one of 'step', 'epoch' or None but got 'epochs'"),
        ({"logging_interval": "hourly"}, ValueError, r"but got 'hourly'$"),
        ({"logging_interval": 1}, TypeError, "of type int"),
        ({"log_momentum": "yes"}, TypeError, "`log_momentum` to be a bool"),
        ({"log_weight_decay": 1}, TypeError, "`log_weight_decay` to be a bool"),
        ({"prog_bar": None}, TypeError, "`prog_bar` to be a bool"),
        ({"max_history": 0}, ValueError, "positive"),
        ({"max_history": 2.5}, TypeError, "int or None"),
        ({"max_history": True}, TypeError, "int or None"),
        ({"max_history": np.int64(0)}, ValueError, "positive int or None but got 0"),
        ({"max_history": np.float32(2.0)}, TypeError, "int or None"),
        ({"max_history": np.bool_(True)}, TypeError, "int or None"),
        ({"log_key_prefix": 1}, TypeError, "`log_key_prefix` to be a str or None but got 1 of type int"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        LRMonitor(**kwargs)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensor_lrs_need_no_sync_beyond_one_transfer() -> None:
    """Capturable Adam on CUDA holds tensor lrs; a logging event reads all groups with one transfer."""
    params = [nn.Parameter(torch.zeros(2, device="cuda")) for _ in range(3)]
    optimizer = torch.optim.Adam(
        [{"params": [p], "lr": torch.tensor(0.01 * (i + 1), device="cuda")} for i, p in enumerate(params)],
        capturable=True,
    )
    values = [group["lr"] for group in optimizer.param_groups]
    torch.cuda.synchronize()
    calls = {"tolist": 0}
    original_tolist = torch.Tensor.tolist

    def tolist(self: torch.Tensor) -> Any:
        calls["tolist"] += 1
        torch.cuda.set_sync_debug_mode(0)  # the one intended transfer
        try:
            return original_tolist(self)
        finally:
            torch.cuda.set_sync_debug_mode("error")

    torch.Tensor.tolist = tolist  # type: ignore[method-assign]
    torch.cuda.set_sync_debug_mode("error")
    try:
        floats = _to_floats(values)
    finally:
        torch.cuda.set_sync_debug_mode(0)
        torch.Tensor.tolist = original_tolist  # type: ignore[method-assign]
    assert calls["tolist"] == 1
    assert floats == pytest.approx([0.01, 0.02, 0.03])


class _MetricDevices(Callback):
    """The device of ``trainer.callback_metrics[key]`` after each training batch (while ``fit`` runs)."""

    def __init__(self, key: str) -> None:
        self.key, self.devices = key, set()

    def on_train_batch_end(self, trainer: Trainer, *args: Any) -> None:
        self.devices.add(trainer.callback_metrics[self.key].device.type)


def _cuda_fit(monitor: Callback) -> tuple[Trainer, set[str]]:
    devices = _MetricDevices("lr-Adam")
    trainer = Trainer(
        accelerator="gpu",
        devices=1,
        max_epochs=1,
        limit_train_batches=BATCHES,
        logger=RecordingLogger(),
        callbacks=[monitor, devices],
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "To copy construct from a tensor")
        trainer.fit(Net(optimizer="adam", scheduler="step", tensor_lr=True))
    return trainer, devices.devices


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fit_with_tensor_lr_matches_schedule() -> None:
    ours = LRMonitor(logging_interval="step")
    trainer, devices = _cuda_fit(ours)
    assert list(ours.lrs["lr-Adam"]) == pytest.approx([0.01 * 0.9**s for s in range(BATCHES)], rel=1e-6)
    # Where the value lives is Lightning's rule, checked against its own LearningRateMonitor: while `fit`
    # runs, the monitor's tensors are on the root device (`torch.tensor(value, device=root_device)` in
    # lightning/pytorch/callbacks/lr_monitor.py), and when `fit` ends the Trainer's teardown moves every
    # callback metric to the CPU (`_LoggerConnector.teardown`: `self.log` values alike). The earlier
    # expectation of `cuda` after `fit` was wrong; the code already did what Lightning does.
    theirs_trainer, theirs_devices = _cuda_fit(LearningRateMonitor(logging_interval="step"))
    assert devices == theirs_devices == {"cuda"}
    assert trainer.callback_metrics["lr-Adam"].device.type == "cpu"
    assert theirs_trainer.callback_metrics["lr-Adam"].device == trainer.callback_metrics["lr-Adam"].device
