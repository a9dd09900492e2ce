"""``describe_optimizers``: what it shows where the declared values are not the ones training starts from."""

from __future__ import annotations

from typing import Any

import lightning as L
import pytest
import torch
from torch import nn

from lightning_optim import OptimizerSpec, ParamGroup, SchedulerSpec, describe_optimizers
from tests.helpers import declared, fit, lr_replaced


def test_onecycle_shows_the_lr_it_starts_every_group_from() -> None:
    """OneCycleLR sets each group's lr to ``max_lr / div_factor`` (25): the table shows that, not the declared
    lrs, with a group's ``lr_mult`` applied; and it is the lr the first step trains at."""
    spec = OptimizerSpec(
        "sgd",
        lr=0.5,
        groups=[ParamGroup("model_gen.layer1", lr_mult=0.5)],
        scheduler=SchedulerSpec("onecycle", max_lr=0.1),
    )
    with lr_replaced():
        module_class = declared(spec)
    rows = describe_optimizers(module_class()).splitlines()[2:4]
    assert [row.split()[0] for row in rows] == ["model_gen.layer1", "rest"]
    assert [float(row.split()[-1]) for row in rows] == [0.002, 0.004]
    assert fit(module_class(), max_epochs=1).history[0][0] == pytest.approx([0.002, 0.004], rel=1e-12)


class Lazy(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.LazyLinear(4)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.body(x), y)


def test_a_lazy_module_before_its_first_forward_has_unknown_sizes() -> None:
    text = describe_optimizers(declared(OptimizerSpec("adam", lr=0.1), Lazy)())
    assert text.splitlines()[:3] == [
        "Declared.optimizer: Adam(lr=0.1), 1 group, 2 tensors, ? parameters, state size unknown",
        "  group  tensors  parameters  state bytes  lr",
        "  all          2           ?            ?  0.1",
    ]


def test_the_declared_lr_is_shown_under_any_other_scheduler() -> None:
    text = describe_optimizers(declared(OptimizerSpec("sgd", lr=0.5, scheduler=SchedulerSpec("cosine")))())
    assert text.splitlines()[2].split()[-1] == "0.5"


class Scaled(torch.optim.SGD):
    """An optimizer with a constructor argument that is no param-group option."""

    def __init__(self, params: Any, lr: float = 0.1, scale: float = 2.0) -> None:
        self.scale = scale
        super().__init__(params, lr=lr)


def test_an_argument_only_the_constructor_keeps_is_in_the_header_not_a_column() -> None:
    lines = describe_optimizers(declared(OptimizerSpec(Scaled, lr=0.5, scale=3.0))()).splitlines()
    assert lines[0].startswith("Declared.optimizer: Scaled(lr=0.5, scale=3.0), 1 group")
    assert lines[1].split() == ["group", "tensors", "parameters", "state", "bytes", "lr"]
