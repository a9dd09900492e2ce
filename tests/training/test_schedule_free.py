"""``ScheduleFreeModes`` against a LightningModule that switches the schedule-free modes by hand.

The reference (``HandSwitched``) follows the schedulefree README (``schedulefree-1.4.1.dist-info/METADATA``,
"optimizer.train() at the same place you call model.train() and optimizer.eval() at the same place you call
model.eval() ... eval mode when storing checkpoints"), written out in its own Lightning hooks: ``train()``
before every training batch, ``eval()`` when validation/test/predict start and when ``fit`` ends. With
``ModelCheckpoint`` writing at ``on_validation_end`` the reference is in eval mode at every save without more
code. The module under test (``Plain``) has no mode code at all; the callback does the switching. Both
return the same schedule-free optimizer from a hand-written ``configure_optimizers``, so every validation
value, every checkpoint and the final weights must be bit-identical (``torch.equal``), not merely close.

Controls show the comparisons can fail: a module that never calls ``eval()`` validates and saves ``y``
and differs from the reference, and a module with no mode switching at all cannot take a step.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.tuner import Tuner
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_optim import (
    ConfigurableOptimizersMixin,
    HParam,
    LRMonitor,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    preview_schedule,
)
from lightning_optim.training.schedule_free import (
    ScheduleFreeModes,
    is_schedule_free,
    to_eval_mode,
    to_train_mode,
)
from tests.helpers import POWER_TRIALS

schedulefree = pytest.importorskip("schedulefree")

OptimizerFactory = Callable[[Iterator[nn.Parameter]], torch.optim.Optimizer]

OPTIMIZERS: dict[str, OptimizerFactory] = {
    "adamw-warmup": lambda params: schedulefree.AdamWScheduleFree(params, lr=2e-2, warmup_steps=3),
    "sgd": lambda params: schedulefree.SGDScheduleFree(params, lr=0.2, momentum=0.9),
}

TRAINER: dict[str, Any] = {
    "accelerator": "cpu",
    "devices": 1,
    "logger": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "max_epochs": 4,
    "val_check_interval": 0.5,  # validation after batches 2 and 4 of each 4-batch epoch
}


def _data(n: int, seed: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    y = torch.sin(x.sum(dim=1, keepdim=True)) + 0.1 * torch.randn(n, 1, generator=generator)
    return TensorDataset(x, y)


class Regressor(L.LightningModule):
    """A tiny regressor that records every validation value; no schedule-free mode code, no optimizer."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
        self.val_history: list[tuple[int, torch.Tensor]] = []
        self._val_losses: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _loss(self, batch: Any) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self(x), y)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._loss(batch)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._val_losses.append(self._loss(batch).detach())

    def on_validation_epoch_end(self) -> None:
        value = torch.stack(self._val_losses).mean()
        self._val_losses.clear()
        self.log("val_loss", value)
        self.val_history.append((self.trainer.global_step, value))

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.log("test_loss", self._loss(batch))

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self(batch[0])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_data(16, seed=1), batch_size=4)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(_data(12, seed=2), batch_size=6)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(_data(12, seed=3), batch_size=6)

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(_data(8, seed=4), batch_size=4)


class Plain(Regressor):
    """The regressor with a hand-written ``configure_optimizers`` returning one of ``OPTIMIZERS``."""

    def __init__(self, optimizer: str) -> None:
        super().__init__()
        self.make_optimizer = OPTIMIZERS[optimizer]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.make_optimizer(self.parameters())


class HandSwitched(Plain):
    """The reference: explicit ``train()``/``eval()`` calls in the module's own hooks (schedulefree README)."""

    def _eval(self) -> None:
        for optimizer in self.trainer.optimizers:
            optimizer.eval()  # type: ignore[attr-defined]

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        for optimizer in self.trainer.optimizers:
            optimizer.train()  # type: ignore[attr-defined]

    def on_validation_start(self) -> None:
        self._eval()

    def on_test_start(self) -> None:
        self._eval()

    def on_predict_start(self) -> None:
        self._eval()

    def on_train_end(self) -> None:
        self._eval()


class TrainOnly(Plain):
    """Control: switches to train mode for steps but never to eval mode (evaluates and saves ``y``)."""

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        for optimizer in self.trainer.optimizers:
            optimizer.train()  # type: ignore[attr-defined]


def _fit(
    model: Plain, ckpt_dir: Path, *, callback: bool, ckpt_path: str | None = None, **kw: Any
) -> L.Trainer:
    checkpoint = kw.pop("checkpoint", None)
    if checkpoint is None:
        checkpoint = ModelCheckpoint(dirpath=ckpt_dir, filename="{epoch}-{step}", save_top_k=-1)
    checkpoints = checkpoint if isinstance(checkpoint, list) else [checkpoint]
    callbacks: list[Any] = [ScheduleFreeModes()] if callback else []
    trainer = L.Trainer(callbacks=[*callbacks, *checkpoints], default_root_dir=ckpt_dir, **{**TRAINER, **kw})
    trainer.fit(model, ckpt_path=ckpt_path)
    return trainer


def _load(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=False)


def _same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _same_history(a: list[tuple[int, torch.Tensor]], b: list[tuple[int, torch.Tensor]]) -> bool:
    return len(a) == len(b) and all(sa == sb and torch.equal(va, vb) for (sa, va), (sb, vb) in zip(a, b))


def _train_point(checkpoint: dict[str, Any], name: str, beta1: float) -> torch.Tensor:
    """``y`` from a checkpoint written in eval mode: schedulefree's ``train()``, ``x.lerp(z, 1 - beta1)``."""
    state = checkpoint["optimizer_states"][0]["state"]
    index = list(checkpoint["state_dict"]).index(name)
    return checkpoint["state_dict"][name].lerp(state[index]["z"], 1 - beta1)


# --- the predicate ----------------------------------------------------------------------------------------


def _param() -> list[nn.Parameter]:
    return [nn.Parameter(torch.zeros(3))]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: schedulefree.AdamWScheduleFree(_param()), True),
        (lambda: schedulefree.AdamWScheduleFreeReference(_param()), True),
        (lambda: schedulefree.AdamWScheduleFreePaper(_param()), True),
        (lambda: schedulefree.SGDScheduleFree(_param()), True),
        (lambda: schedulefree.SGDScheduleFreeReference(_param()), True),
        (lambda: schedulefree.RAdamScheduleFree(_param()), True),
        (lambda: schedulefree.ScheduleFreeWrapper(torch.optim.SGD(_param(), lr=0.1)), True),
        (lambda: schedulefree.ScheduleFreeWrapperReference(torch.optim.SGD(_param(), lr=0.1)), True),
        # the closure forms keep x in the parameters between steps: nothing to switch
        (lambda: schedulefree.AdamWScheduleFreeClosure(_param()), False),
        (lambda: schedulefree.SGDScheduleFreeClosure(_param()), False),
        (lambda: schedulefree.RAdamScheduleFreeClosure(_param()), False),
        (lambda: torch.optim.AdamW(_param()), False),
        (lambda: nn.Linear(2, 2), False),  # train/eval but no train_mode marker
        (lambda: None, False),
    ],
)
def test_is_schedule_free_on_schedulefree_and_torch(make: Callable[[], object], expected: bool) -> None:
    assert is_schedule_free(make()) is expected


def test_is_schedule_free_on_pytorch_optimizer() -> None:
    po = pytest.importorskip("pytorch_optimizer")
    for optimizer in (
        po.ScheduleFreeAdamW(_param()),
        po.ScheduleFreeSGD(_param()),
        po.ScheduleFreeRAdam(_param()),
        po.ScheduleFreeWrapper(torch.optim.SGD(_param(), lr=0.1)),
    ):
        assert is_schedule_free(optimizer), type(optimizer).__name__


def test_mode_helpers_switch_only_what_needs_switching() -> None:
    param = nn.Parameter(torch.ones(3))
    optimizer = schedulefree.SGDScheduleFree([param], lr=0.5)
    plain = torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1)
    to_train_mode([optimizer, plain])
    for grad in (1.0, -3.0):  # after one step x = y = z; two steps separate them
        param.grad = torch.full((3,), grad)
        optimizer.step()
    y = param.detach().clone()
    switched = to_eval_mode([plain, optimizer])
    assert switched == [optimizer] and not optimizer.param_groups[0]["train_mode"]
    assert not torch.equal(param, y)  # x differs from y after a step
    assert to_eval_mode([optimizer]) == []  # already in eval mode: untouched
    to_train_mode(switched)
    assert optimizer.param_groups[0]["train_mode"]
    torch.testing.assert_close(param.detach(), y)  # back at y up to one lerp round trip


# --- fit: callback vs hand-switched reference -----------------------------------------------------------


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_fit_matches_hand_switched_reference(optimizer: str, tmp_path: Path) -> None:
    reference, under_test = HandSwitched(optimizer), Plain(optimizer)
    ref_trainer = _fit(reference, tmp_path / "ref", callback=False)
    cb_trainer = _fit(under_test, tmp_path / "cb", callback=True)

    # every validation (sanity check, mid-epoch and end of epoch) saw the same weights
    assert [step for step, _ in under_test.val_history] == [0, 2, 4, 6, 8, 10, 12, 14, 16]
    assert _same_history(under_test.val_history, reference.val_history)

    # every checkpoint holds the same weights and optimizer state, written in eval mode
    names = sorted(p.name for p in (tmp_path / "ref").glob("*.ckpt"))
    assert names == sorted(p.name for p in (tmp_path / "cb").glob("*.ckpt"))
    assert len(names) == 8
    for name in names:
        ref_ckpt, cb_ckpt = _load(tmp_path / "ref" / name), _load(tmp_path / "cb" / name)
        assert _same_tensors(ref_ckpt["state_dict"], cb_ckpt["state_dict"]), name
        groups = cb_ckpt["optimizer_states"][0]["param_groups"]
        assert [g["train_mode"] for g in groups] == [False], name
        ref_state, cb_state = (
            ref_ckpt["optimizer_states"][0]["state"],
            cb_ckpt["optimizer_states"][0]["state"],
        )
        assert all(_same_tensors(ref_state[i], cb_state[i]) for i in ref_state), name

    # the final weights are the averaged x, the same as the reference's and as the last checkpoint's
    assert _same_tensors(reference.state_dict(), under_test.state_dict())
    last = _load(tmp_path / "cb" / "epoch=3-step=16.ckpt")
    assert _same_tensors(last["state_dict"], under_test.state_dict())
    assert not cb_trainer.optimizers[0].param_groups[0]["train_mode"]
    assert "save_checkpoint" not in cb_trainer.__dict__  # the save wrapper is gone after fit

    # test / predict / validate after fit run on x: equal to the reference, and x is not y
    ref_test = ref_trainer.test(reference, verbose=False)
    assert cb_trainer.test(under_test, verbose=False) == ref_test
    to_train_mode(cb_trainer.optimizers)  # as if something left it in train mode: test switches to eval
    assert cb_trainer.test(under_test, verbose=False) == ref_test
    to_train_mode(cb_trainer.optimizers)
    cb_pred = torch.cat(cb_trainer.predict(under_test))  # type: ignore[arg-type]
    ref_pred = torch.cat(ref_trainer.predict(reference))  # type: ignore[arg-type]
    assert torch.equal(cb_pred, ref_pred)
    to_train_mode(cb_trainer.optimizers)
    [metrics] = cb_trainer.validate(under_test, verbose=False)
    assert metrics["val_loss"] == pytest.approx(float(under_test.val_history[-2][1]), abs=0)
    beta1 = schedulefree_beta1(cb_trainer.optimizers[0])
    y = _train_point(last, "net.0.weight", beta1)
    assert not torch.allclose(y, last["state_dict"]["net.0.weight"])


def schedulefree_beta1(optimizer: torch.optim.Optimizer) -> float:
    group = optimizer.param_groups[0]
    return float(group["betas"][0] if "betas" in group else group["momentum"])


def test_never_switching_to_eval_differs_from_the_reference(tmp_path: Path) -> None:
    """Control: the comparisons above detect a run that evaluates and saves y."""
    reference, train_only = HandSwitched("adamw-warmup"), TrainOnly("adamw-warmup")
    _fit(reference, tmp_path / "ref", callback=False)
    _fit(train_only, tmp_path / "bad", callback=False)
    assert not _same_history(train_only.val_history, reference.val_history)
    ref_ckpt, bad_ckpt = (
        _load(tmp_path / "ref" / "epoch=1-step=8.ckpt"),
        _load(tmp_path / "bad" / "epoch=1-step=8.ckpt"),
    )
    assert not _same_tensors(ref_ckpt["state_dict"], bad_ckpt["state_dict"])


def test_without_switching_schedule_free_cannot_step(tmp_path: Path) -> None:
    """Control: the optimizer starts in eval mode (``train_mode=False``) and ``step`` refuses to run."""
    with pytest.raises(Exception, match="not in train mode"):
        _fit(Plain("adamw-warmup"), tmp_path, callback=False, max_epochs=1)


# --- checkpoints written in train mode (every_n_train_steps) ---------------------------------------------


class HandSwitchedStepSaves(HandSwitched):
    """Reference for saves at ``on_train_batch_end``: eval right after the step that precedes a save,
    train again in the module's ``on_train_batch_end`` (it runs after ``ModelCheckpoint``'s)."""

    every = 3

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)
        # Lightning counts the step as completed only after this hook returns (``increment_completed``)
        if (self.trainer.global_step + 1) % self.every == 0:
            self._eval()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        for optimizer in self.trainer.optimizers:
            optimizer.train()  # type: ignore[attr-defined]


def _step_saves_match(
    reference: Plain, under_test: L.LightningModule, *, callback: bool, tmp_path: Path
) -> L.Trainer:
    """Both fitted with a checkpoint every 3 steps: the same files of ``x`` in eval mode, validation values and
    final weights; the trainer that fitted ``under_test``."""

    def every_3_steps(where: str) -> ModelCheckpoint:
        return ModelCheckpoint(
            dirpath=tmp_path / where, filename="{epoch}-{step}", save_top_k=-1, every_n_train_steps=3
        )

    kw: dict[str, Any] = {"max_epochs": 2, "val_check_interval": 1.0}
    _fit(reference, tmp_path / "ref", callback=False, checkpoint=every_3_steps("ref"), **kw)
    trainer = _fit(under_test, tmp_path / "cb", callback=callback, checkpoint=every_3_steps("cb"), **kw)

    names = sorted(p.name for p in (tmp_path / "cb").glob("*.ckpt"))
    assert names == ["epoch=0-step=3.ckpt", "epoch=1-step=6.ckpt"]
    for name in names:
        ref_ckpt, cb_ckpt = _load(tmp_path / "ref" / name), _load(tmp_path / "cb" / name)
        assert _same_tensors(ref_ckpt["state_dict"], cb_ckpt["state_dict"]), name
        assert not cb_ckpt["optimizer_states"][0]["param_groups"][0]["train_mode"], name
    assert _same_history(under_test.val_history, reference.val_history)
    assert _same_tensors(reference.state_dict(), under_test.state_dict())
    return trainer


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_step_checkpoints_hold_x_and_training_continues_at_y(optimizer: str, tmp_path: Path) -> None:
    reference, under_test = HandSwitchedStepSaves(optimizer), Plain(optimizer)
    trainer = _step_saves_match(reference, under_test, callback=True, tmp_path=tmp_path)
    assert not trainer.optimizers[0].param_groups[0]["train_mode"]


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_without_validation_epoch_end_checkpoints_and_final_weights_hold_x(
    optimizer: str, tmp_path: Path
) -> None:
    """No validation: ``ModelCheckpoint`` saves at ``on_train_epoch_end`` in train mode, and nothing but
    ``on_train_end`` puts the final weights at x."""
    reference, under_test = HandSwitchedEpochSaves(optimizer), Plain(optimizer)
    kw: dict[str, Any] = {"max_epochs": 2, "limit_val_batches": 0}
    _fit(reference, tmp_path / "ref", callback=False, **kw)
    trainer = _fit(under_test, tmp_path / "cb", callback=True, **kw)

    names = sorted(p.name for p in (tmp_path / "cb").glob("*.ckpt"))
    assert names == ["epoch=0-step=4.ckpt", "epoch=1-step=8.ckpt"]
    for name in names:
        ref_ckpt, cb_ckpt = _load(tmp_path / "ref" / name), _load(tmp_path / "cb" / name)
        assert _same_tensors(ref_ckpt["state_dict"], cb_ckpt["state_dict"]), name
        assert not cb_ckpt["optimizer_states"][0]["param_groups"][0]["train_mode"], name
    # The reference stays in eval mode from the last save to the end; the callback returns to train mode
    # after the save and to eval mode at ``on_train_end``: one more y -> x round trip, which changes a few
    # elements in the last bit (lerp is not exactly invertible). x and y themselves are far apart.
    last = _load(tmp_path / "cb" / names[-1])
    for name, value in under_test.state_dict().items():
        torch.testing.assert_close(value, reference.state_dict()[name], rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(value, last["state_dict"][name], rtol=1e-6, atol=1e-7)
    y = _train_point(last, "net.0.weight", schedulefree_beta1(trainer.optimizers[0]))
    assert (y - under_test.state_dict()["net.0.weight"]).abs().max() > 1e-4
    assert not trainer.optimizers[0].param_groups[0]["train_mode"]


class HandSwitchedEpochSaves(HandSwitched):
    """Reference for saves at ``on_train_epoch_end`` (no validation): Lightning calls the module's
    ``on_train_epoch_end`` before the monitoring callbacks' (``ModelCheckpoint``), see ``fit_loop.py``."""

    def on_train_epoch_end(self) -> None:
        self._eval()


class SavesInTrainingStep(Plain):
    """Calls ``trainer.save_checkpoint`` inside ``training_step`` (before the forward pass) at step 5."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if self.trainer.global_step == 5:
            self._save()
        return super().training_step(batch, batch_idx)

    def _save(self) -> None:
        self.trainer.save_checkpoint(Path(self.trainer.default_root_dir) / "in-step.ckpt")


class HandSwitchedSavesInTrainingStep(HandSwitched, SavesInTrainingStep):
    def _save(self) -> None:
        self._eval()
        super()._save()
        for optimizer in self.trainer.optimizers:
            optimizer.train()  # type: ignore[attr-defined]


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_save_inside_training_step_returns_to_train_mode(optimizer: str, tmp_path: Path) -> None:
    """A save in the middle of a training step puts x in the file and y back for the step's forward pass."""
    reference, under_test = HandSwitchedSavesInTrainingStep(optimizer), SavesInTrainingStep(optimizer)
    kw: dict[str, Any] = {"max_epochs": 2, "enable_checkpointing": False, "checkpoint": []}
    _fit(reference, tmp_path / "ref", callback=False, **kw)
    _fit(under_test, tmp_path / "cb", callback=True, **kw)
    ref_ckpt, cb_ckpt = _load(tmp_path / "ref" / "in-step.ckpt"), _load(tmp_path / "cb" / "in-step.ckpt")
    assert _same_tensors(ref_ckpt["state_dict"], cb_ckpt["state_dict"])
    assert not cb_ckpt["optimizer_states"][0]["param_groups"][0]["train_mode"]
    assert _same_history(under_test.val_history, reference.val_history)
    assert _same_tensors(reference.state_dict(), under_test.state_dict())


# --- resume ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_resume_continues_like_the_uninterrupted_run(optimizer: str, tmp_path: Path) -> None:
    uninterrupted = Plain(optimizer)
    _fit(uninterrupted, tmp_path / "full", callback=True)
    resumed = Plain(optimizer)
    _fit(
        resumed, tmp_path / "resumed", callback=True, ckpt_path=str(tmp_path / "full" / "epoch=1-step=8.ckpt")
    )

    after = [(step, value) for step, value in resumed.val_history if step > 8]
    assert [step for step, _ in after] == [10, 12, 14, 16]
    assert _same_history(after, [(s, v) for s, v in uninterrupted.val_history if s > 8])
    assert _same_tensors(uninterrupted.state_dict(), resumed.state_dict())
    for step in (10, 12, 14, 16):
        name = f"epoch={(step - 1) // 4}-step={step}.ckpt"
        a, b = _load(tmp_path / "full" / name), _load(tmp_path / "resumed" / name)
        assert _same_tensors(a["state_dict"], b["state_dict"]), name


# --- no fit, failures, optimizers that need no switching ----------------------------------------------------


def test_validate_test_predict_without_fit(tmp_path: Path) -> None:
    model = Plain("adamw-warmup")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = L.Trainer(
        callbacks=[ScheduleFreeModes()], default_root_dir=tmp_path, **{**TRAINER, "logger": False}
    )
    trainer.validate(model, verbose=False)
    trainer.test(model, verbose=False)
    assert len(trainer.predict(model)) == 2  # type: ignore[arg-type]
    assert trainer.optimizers == []
    assert _same_tensors(before, model.state_dict())
    assert "save_checkpoint" not in trainer.__dict__


class FailsInEpochTwo(Plain):
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if self.current_epoch == 1 and batch_idx == 1:
            raise RuntimeError("boom")
        return super().training_step(batch, batch_idx)


def test_failed_fit_leaves_eval_mode_and_no_wrapper(tmp_path: Path) -> None:
    model = FailsInEpochTwo("sgd")
    trainer = L.Trainer(
        callbacks=[ScheduleFreeModes()], default_root_dir=tmp_path, enable_checkpointing=False, **TRAINER
    )
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(model)
    assert not trainer.optimizers[0].param_groups[0]["train_mode"]
    assert "save_checkpoint" not in trainer.__dict__


class TwoOptimizers(Plain):
    """Manual optimization with a schedule-free and a plain optimizer on different layers."""

    def __init__(self) -> None:
        super().__init__("sgd")
        self.automatic_optimization = False

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.manual_backward(loss)
        for optimizer in self.optimizers():  # type: ignore[union-attr]
            optimizer.step()
            optimizer.zero_grad()
        return loss.detach()

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:  # type: ignore[override]
        return [
            schedulefree.SGDScheduleFree(self.net[0].parameters(), lr=0.2),
            torch.optim.SGD(self.net[2].parameters(), lr=0.1),
        ]


def test_manual_optimization_with_a_plain_optimizer_alongside(tmp_path: Path) -> None:
    model = TwoOptimizers()
    trainer = _fit(model, tmp_path, callback=True, max_epochs=2)
    free, plain = trainer.optimizers
    assert not free.param_groups[0]["train_mode"]
    assert "train_mode" not in plain.param_groups[0]
    assert len(model.val_history) == 5


def test_closure_form_is_left_alone(tmp_path: Path) -> None:
    OPTIMIZERS["adamw-closure"] = lambda params: schedulefree.AdamWScheduleFreeClosure(params, lr=1e-2)
    try:
        model = Plain("adamw-closure")
        trainer = _fit(model, tmp_path, callback=True, max_epochs=1)
    finally:
        del OPTIMIZERS["adamw-closure"]
    assert not is_schedule_free(trainer.optimizers[0])
    assert trainer.global_step == 4


def test_an_earlier_save_checkpoint_override_is_kept_and_wrapped(tmp_path: Path) -> None:
    trainer = L.Trainer(
        callbacks=[
            ScheduleFreeModes(),
            ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, every_n_train_steps=3),
        ],
        default_root_dir=tmp_path,
        **{**TRAINER, "max_epochs": 1, "val_check_interval": 1.0},
    )
    original = trainer.save_checkpoint
    modes: list[bool] = []

    def mine(*args: Any, **kwargs: Any) -> None:
        modes.append(trainer.optimizers[0].param_groups[0]["train_mode"])
        original(*args, **kwargs)

    trainer.save_checkpoint = mine  # type: ignore[method-assign]
    trainer.fit(Plain("sgd"))
    assert trainer.__dict__["save_checkpoint"] is mine
    assert modes == [False]  # the save at step 3 (in train mode) went through ours first, then the user's


# --- through the mixin, which puts the callback in place itself --------------------------------------------


class Declared(ConfigurableOptimizersMixin, Regressor):
    """``OPTIMIZERS["adamw-warmup"]`` declared: the mixin inserts ``ScheduleFreeModes`` while it builds it,
    after the callbacks' ``setup`` has run."""

    optimizer = OptimizerSpec("schedulefree/adamw", lr=2e-2, warmup_steps=3)


def test_through_the_mixin_step_checkpoints_hold_x(tmp_path: Path) -> None:
    # was y in train mode: the save wrapper was installed at `setup`, which had run before the mixin inserted
    # the callback
    reference, under_test = HandSwitchedStepSaves("adamw-warmup"), Declared()
    trainer = _step_saves_match(reference, under_test, callback=False, tmp_path=tmp_path)
    assert "save_checkpoint" not in trainer.__dict__  # unwrapped when `fit` ends


def test_a_hand_written_module_fitted_after_a_declared_one_is_left_as_after_a_hand_written_one(
    tmp_path: Path,
) -> None:
    """The Trainer that fitted ``Declared`` fits a module that never switches to eval mode (``TrainOnly``): it
    validates and ends on ``y``, as on a Trainer that fitted a hand-written module first."""

    def second(first: L.LightningModule) -> Plain:
        trainer = L.Trainer(
            default_root_dir=tmp_path, enable_checkpointing=False, **{**TRAINER, "max_epochs": 1}
        )
        trainer.fit(first)
        trainer.fit_loop.max_epochs = 2
        module = TrainOnly("adamw-warmup")
        trainer.fit(module)
        assert trainer.optimizers[0].param_groups[0]["train_mode"] is True
        return module

    # was: the `ScheduleFreeModes` the mixin added switched it to eval mode at every validation and at the end
    after_declared, reference = second(Declared()), second(TrainOnly("adamw-warmup"))
    assert _same_history(after_declared.val_history, reference.val_history)
    assert _same_tensors(after_declared.state_dict(), reference.state_dict())


class ScheduledLr(L.Callback):
    """The rate the optimizer steps with (schedulefree's ``scheduled_lr``) and ``LRMonitor``'s last lr then."""

    def __init__(self, monitor: LRMonitor) -> None:
        self.monitor = monitor
        self.stepped: list[float] = []
        self.logged: list[float] = []

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.stepped.append(trainer.optimizers[0].param_groups[0]["scheduled_lr"])
        self.logged.append(self.monitor.lrs["lr-optimizer"][-1])


@pytest.mark.filterwarnings("ignore:`LRMonitor` is used with a `Trainer` that has no logger")
def test_lr_monitor_and_preview_show_the_declared_lr_through_the_optimizers_own_warmup(
    tmp_path: Path,
) -> None:
    """What docs/guides/monitor.md says: ``warmup_steps`` ramps ``scheduled_lr``, the monitors show ``lr``."""
    monitor = LRMonitor(logging_interval="step")
    recorder = ScheduledLr(monitor)
    L.Trainer(
        callbacks=[monitor, recorder],
        default_root_dir=tmp_path,
        log_every_n_steps=1,
        **{**TRAINER, "max_epochs": 1},
    ).fit(Declared())
    assert recorder.stepped == pytest.approx([2e-2 / 3, 2 * 2e-2 / 3, 2e-2, 2e-2])
    assert recorder.logged == [2e-2] * 4
    assert preview_schedule(Declared, max_epochs=1, steps_per_epoch=4) == {"lr-optimizer": [2e-2] * 4}


class HandSwitchedLr(HandSwitched):
    """The reference with its lr in ``hparams``, as ``lr_find`` writes it."""

    def __init__(self, lr: float = 1e-3) -> None:
        super().__init__("adamw-warmup")
        self.save_hyperparameters()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return schedulefree.AdamWScheduleFree(self.parameters(), lr=self.hparams.lr)


class DeclaredLr(ConfigurableOptimizersMixin, Regressor):
    optimizer = OptimizerSpec("schedulefree/adamw", lr=HParam("lr"))

    def __init__(self, lr: float = 1e-3) -> None:
        super().__init__()
        self.save_hyperparameters()


def test_through_the_mixin_the_lr_finder_runs_and_suggests_what_the_hand_switched_module_does(
    tmp_path: Path,
) -> None:
    # was "Optimizer was not in train mode when step is called": the finder's trial runs with its own
    # callbacks, and the optimizer was built in eval mode
    suggestions = []
    for module in (HandSwitchedLr(), DeclaredLr()):
        options = {**TRAINER, "max_epochs": 10, "val_check_interval": 1.0, "enable_checkpointing": False}
        trainer = L.Trainer(default_root_dir=tmp_path, **options)
        found = Tuner(trainer).lr_find(module, num_training=30, early_stop_threshold=None)
        assert found is not None
        suggestions.append(found.suggestion())
    assert suggestions[0] is not None and suggestions[1] == suggestions[0]


class DeclaredBatch(DeclaredLr):
    """Reads its batch size from ``hparams``, as ``scale_batch_size`` writes it."""

    def __init__(self, lr: float = 1e-3, batch_size: int = 2) -> None:
        super().__init__(lr)
        self.save_hyperparameters()

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_data(64, seed=1), batch_size=self.hparams.batch_size)


def test_through_the_mixin_the_batch_size_finder_runs(tmp_path: Path) -> None:
    # failed as the lr finder did: its trials run with their own callbacks
    trainer = L.Trainer(
        default_root_dir=tmp_path, **{**TRAINER, "max_epochs": 1, "enable_checkpointing": False}
    )
    # "power" from 2 to 8: three trials, 2, 4, 8 all trained (before Lightning 2.6, two: `POWER_TRIALS`)
    trials = POWER_TRIALS + 1
    found = Tuner(trainer).scale_batch_size(
        DeclaredBatch(), mode="power", max_trials=trials, steps_per_trial=2
    )
    assert found == 8


# --- an optimizer whose eval() needs a step first (pytorch_optimizer's SPlus) -----------------------------


def splus(params: Iterator[nn.Parameter]) -> torch.optim.Optimizer:
    po = pytest.importorskip("pytorch_optimizer")
    return po.SPlus(params, lr=1e-2)  # type: ignore[no-any-return]


class PlainSPlus(Plain):
    def __init__(self) -> None:
        super().__init__("sgd")
        self.make_optimizer = splus


class HandSwitchedSPlus(HandSwitched, PlainSPlus):
    """The reference, without the sanity check: SPlus's ``eval()`` reads averages its first step makes."""


class DeclaredSPlus(ConfigurableOptimizersMixin, Regressor):
    optimizer = OptimizerSpec("pytorch_optimizer/splus", lr=1e-2)


@pytest.mark.parametrize("through", ["callback", "mixin"])
def test_an_optimizer_without_state_is_not_switched(through: str, tmp_path: Path) -> None:
    """SPlus starts in train mode and its ``eval()`` reads state its first step creates: before that there is
    nothing to average, so the sanity check evaluates the weights as they are; then as hand-switched."""
    reference = HandSwitchedSPlus()
    _fit(reference, tmp_path / "ref", callback=False, num_sanity_val_steps=0)
    under_test = PlainSPlus() if through == "callback" else DeclaredSPlus()
    _fit(under_test, tmp_path / "cb", callback=through == "callback")
    initial = Regressor()
    sanity = torch.stack([initial._loss(batch) for batch in initial.val_dataloader()]).mean()
    assert under_test.val_history[0] == (0, sanity)
    assert _same_history(under_test.val_history[1:], reference.val_history)
    assert _same_tensors(reference.state_dict(), under_test.state_dict())


class FailsAt(PlainSPlus):
    """Raises in ``training_step`` at batch ``at``; ``unused`` gets no gradient (SPlus's ``eval()`` then fails)."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at
        self.unused = nn.Linear(2, 2)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if batch_idx == self.at:
            raise RuntimeError("boom")
        return super().training_step(batch, batch_idx)


@pytest.mark.parametrize("at", [0, 2], ids=["before-the-first-step", "eval-fails"])
def test_on_exception_never_raises_over_the_users_exception(at: int, tmp_path: Path) -> None:
    model = FailsAt(at)
    trainer = L.Trainer(
        callbacks=[ScheduleFreeModes()],
        default_root_dir=tmp_path,
        enable_checkpointing=False,
        **{**TRAINER, "num_sanity_val_steps": 0, "limit_val_batches": 0},
    )
    failing_eval = re.escape("KeyError: 'ema' from `eval()`")
    with (
        pytest.warns(RuntimeWarning, match=failing_eval) if at else contextlib.nullcontext(),
        pytest.raises(RuntimeError, match="boom") as error,
    ):
        trainer.fit(model)
    assert error.value.__context__ is None
    assert "save_checkpoint" not in trainer.__dict__


# --- an option eval() divides by, driven to 0 by a schedule that only the run tells (a lambda) ------------------


def _declaring(optimizer: OptimizerSpec) -> type[Regressor]:
    return type("Model", (ConfigurableOptimizersMixin, Regressor), {"optimizer": optimizer})


@pytest.mark.parametrize(
    ("optimizer", "message"),
    [
        pytest.param(
            # momentum 0.9, 0.6, 0.3, then 0 from the third step on: the validation after step 4 divided by it
            OptimizerSpec(
                "schedulefree/sgd",
                lr=0.2,
                momentum=0.9,
                scheduler=SchedulerSpec(
                    "lambda", param="momentum", interval="step", lr_lambda=lambda step: max(0.0, 1 - step / 3)
                ),
            ),
            r"^ScheduleFreeModes: Expected `momentum` of param group 0 to be > 0 to switch `SGDScheduleFree` to "
            r"eval mode \(its eval\(\) interpolates by 1 - 1 / momentum\) but got 0\.0 at global step 4\. A "
            r"schedule of it reached 0 \(a `lambda`/`multiplicative` one is known only as it runs\): keep its "
            r"factor > 0\.$",
            id="sgd-lambda",
        ),
        pytest.param(
            # beta1 0.9 until the multiplier 0 of the second step: the validation after step 2 divided by it
            OptimizerSpec(
                "schedulefree/adamw",
                lr=2e-2,
                groups=[ParamGroup("net.0"), ParamGroup("net.2", lr=1e-2)],
                scheduler=SchedulerSpec(
                    "multiplicative",
                    param="beta1",
                    interval="step",
                    lr_lambda=lambda step: 0.0 if step == 2 else 1.0,
                ),
            ),
            r"^ScheduleFreeModes: Expected `betas\[0\]` of param group 0 \('net\.0'\) to be > 0 to switch "
            r"`AdamWScheduleFree` to eval mode .* but got 0\.0 at global step 2\.",
            id="adamw-multiplicative",
        ),
    ],
)
def test_an_option_eval_divides_by_at_zero_is_refused_where_eval_mode_is_entered(
    optimizer: OptimizerSpec, message: str, tmp_path: Path
) -> None:
    """It was torch's ``ZeroDivisionError`` from schedulefree's ``eval()``, at the first validation after the
    lambda reached 0 (the sanity check before the first step switches nothing)."""
    model = _declaring(optimizer)()
    trainer = L.Trainer(default_root_dir=tmp_path, enable_checkpointing=False, **{**TRAINER, "max_epochs": 2})
    with (
        pytest.warns(RuntimeWarning, match="switch to eval mode after the run failed"),
        pytest.raises(ValueError, match=message),
    ):
        trainer.fit(model)
    refused_at = int(re.findall(r"global step (\d+)", message)[0])
    assert [step for step, _ in model.val_history] == list(range(0, refused_at, 2))


class HandScheduledMomentum(HandSwitched):
    """The reference for a cosine of SGDScheduleFree's momentum: torch's ``CosineAnnealingLR`` on a stand-in
    SGD whose lr is the momentum, copied into the optimizer after every step (where Lightning steps a
    ``interval="step"`` scheduler, before the validation that follows)."""

    def __init__(self) -> None:
        super().__init__("sgd")
        shadow = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.9)
        self.cosine = torch.optim.lr_scheduler.CosineAnnealingLR(shadow, T_max=8, eta_min=0.5)
        self.momenta: list[float] = []

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        super().on_train_batch_start(batch, batch_idx)
        self.momenta.append(self.trainer.optimizers[0].param_groups[0]["momentum"])

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.cosine.optimizer.step()
        self.cosine.step()
        self.trainer.optimizers[0].param_groups[0]["momentum"] = self.cosine.get_last_lr()[0]


class MomentumRecorder(L.Callback):
    """The momentum each step takes."""

    def __init__(self) -> None:
        self.momenta: list[float] = []

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self.momenta.append(trainer.optimizers[0].param_groups[0]["momentum"])


def test_a_schedule_of_the_momentum_kept_above_zero_trains_and_validates_as_by_hand(tmp_path: Path) -> None:
    reference = HandScheduledMomentum()
    _fit(reference, tmp_path / "ref", callback=False, checkpoint=[], enable_checkpointing=False, max_epochs=2)
    cosine = SchedulerSpec("cosine", param="momentum", interval="step", T_max=8, eta_min=0.5)
    model = _declaring(OptimizerSpec("schedulefree/sgd", lr=0.2, momentum=0.9, scheduler=cosine))()
    recorder = MomentumRecorder()
    _fit(
        model,
        tmp_path / "cb",
        callback=False,
        checkpoint=[recorder],
        enable_checkpointing=False,
        max_epochs=2,
    )
    assert recorder.momenta == reference.momenta and min(recorder.momenta) == pytest.approx(
        0.5 + 0.4 * 0.5 * (1 + math.cos(math.pi * 7 / 8))
    )
    assert [step for step, _ in model.val_history] == [0, 2, 4, 6, 8]
    assert _same_history(model.val_history, reference.val_history)
    assert _same_tensors(reference.state_dict(), model.state_dict())
