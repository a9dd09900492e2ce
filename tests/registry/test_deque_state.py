"""Per-parameter optimizer state held in a ``collections.deque`` through a checkpoint (pytorch_optimizer's
``AdaShift``: its last ``keep_num`` gradients, ``grad_queue``): a run resumed as Lightning loads a checkpoint by
default (``weights_only``), or with ``weights_only=False``, trains as the uninterrupted run, its deques bounded as
they were."""

from __future__ import annotations

import warnings
from collections import deque
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec
from lightning_optim.registry.implementation import loading_optimizer
from lightning_optim.registry.lookup import resolve_class
from tests.helpers import FAST, Classifier, LrRecorder, assert_same_weights, fit_takes_weights_only, loader
from tests.registry.test_optimizers import NOT_STEPPED, lora_optimizer

pytorch_optimizer = pytest.importorskip("pytorch_optimizer")

#: every registry optimizer whose per-parameter state holds a deque, with options under which it fills up within
#: the first epoch (4 steps) and trains on full afterwards
DEQUE_STATE: dict[str, dict[str, Any]] = {"pytorch_optimizer/adashift": {"keep_num": 3}}


class EndState(L.Callback):
    """The optimizer's per-parameter state when training ends."""

    def __init__(self) -> None:
        self.state: list[dict[str, Any]] = []

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        optimizer = trainer.optimizers[0]
        self.state = [dict(optimizer.state[p]) for g in optimizer.param_groups for p in g["params"]]


def declaring(name: str) -> type[Classifier]:
    spec = OptimizerSpec(name, lr=0.01, **DEQUE_STATE[name])
    return type("Declared", (ConfigurableOptimizersMixin, Classifier), {"optimizer": spec})


def run(module: L.LightningModule, ckpt: str | None, weights_only: bool | None = None, **kwargs: Any) -> None:
    callbacks = [LrRecorder(), *kwargs.pop("callbacks", [])]
    trainer = L.Trainer(callbacks=callbacks, **{**FAST, "max_epochs": 3, **kwargs})
    trainer.fit(module, loader(), ckpt_path=ckpt, weights_only=weights_only)


def assert_same_state(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    assert len(a) == len(b)
    for left, right in zip(a, b):
        assert left.keys() == right.keys()
        for key in left:
            assert type(left[key]) is type(right[key]), key
            if isinstance(left[key], deque):
                assert left[key].maxlen == right[key].maxlen, key
                assert len(left[key]) == len(right[key]), key
                assert all(torch.equal(x, y) for x, y in zip(left[key], right[key])), key
            elif isinstance(left[key], torch.Tensor):
                assert torch.equal(left[key], right[key]), key
            else:
                assert left[key] == right[key], key


@pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`")
@fit_takes_weights_only
@pytest.mark.parametrize("weights_only", [None, False], ids=["default", "weights_only=False"])
@pytest.mark.parametrize("name", sorted(DEQUE_STATE))
def test_a_resumed_run_trains_as_the_uninterrupted_one(
    name: str, weights_only: bool | None, tmp_path: Path
) -> None:
    """Lightning's default load refused the checkpoint with an ``UnpicklingError`` (a deque is no type
    ``weights_only`` loads); loaded with ``weights_only=False``, ``AdaShift``'s ``grad_queue`` came back without its
    ``maxlen`` (torch's ``load_state_dict`` and Lightning's move of the state to the device rebuild the deque from its
    items), grew past ``keep_num`` and never took another update. Resumed after the first of 3 epochs, the weights
    and the state are the uninterrupted run's, each deque of the same ``maxlen``."""
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    whole, whole_state = declaring(name)(), EndState()
    run(whole, None, callbacks=[saving, whole_state], enable_checkpointing=True)
    resumed, resumed_state = declaring(name)(), EndState()
    run(resumed, str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt"), weights_only, callbacks=[resumed_state])
    assert_same_weights(resumed, whole)
    assert_same_state(resumed_state.state, whole_state.state)
    assert any(isinstance(v, deque) and len(v) == v.maxlen for s in whole_state.state for v in s.values())


def _holds_deque(name: str) -> bool:
    """Whether pytorch_optimizer's ``name`` holds a deque in its per-parameter state after 8 steps on a LoRA-like
    pair of matrices (as ``test_optimizers`` steps them)."""
    optimizer, closure = lora_optimizer(resolve_class(f"pytorch_optimizer/{name}", "optimizer", where="test"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if hasattr(optimizer, "train"):
            optimizer.train()
        for _ in range(8):
            closure()
            optimizer.step(closure)
    return any(
        isinstance(value, deque)
        for state in loading_optimizer(optimizer).state.values()
        for value in (state.values() if isinstance(state, dict) else ())
    )


def test_every_pytorch_optimizer_optimizer_whose_state_holds_a_deque_is_resumed_above() -> None:
    """``DEQUE_STATE`` lists each of pytorch_optimizer's optimizers that keeps a deque (``AdaShift``; ``Conda`` and
    ``ScalableShampoo`` keep none)."""
    names = [
        name
        for name in pytorch_optimizer.get_supported_optimizers()
        if name not in NOT_STEPPED and not (name == "demo" and not _has("einops"))
    ]
    assert {f"pytorch_optimizer/{name}" for name in names if _holds_deque(name)} == set(DEQUE_STATE)


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True
