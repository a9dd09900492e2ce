"""The optimizer records: the param-group keys a schedule-free optimizer (or pytorch_optimizer's step counter)
keeps as its own running state."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch

from lightning_optim import OptimizerSpec, ParamGroup, SchedulerSpec
from lightning_optim.registry.lookup import resolve_class
from lightning_optim.registry.optimizers import optimizer_info
from tests.helpers import declared

pytest.importorskip("schedulefree")
pytest.importorskip("pytorch_optimizer")

SCHEDULE_FREE = [
    "schedulefree/adamw",
    "schedulefree/sgd",
    "schedulefree/radam",
    "pytorch_optimizer/schedulefreeadamw",
    "pytorch_optimizer/schedulefreesgd",
    "pytorch_optimizer/schedulefreeradam",
    "pytorch_optimizer/splus",
]


def _written_keys(cls: type) -> set[str]:
    """The group keys whose value ``cls`` changes through ``train()``, eight steps (RAdam's forms skip the first
    ones) and ``eval()`` (those it has)."""
    param = torch.nn.Parameter(torch.ones(2, 2))
    optimizer = cls([param], lr=0.1)
    group = optimizer.param_groups[0]
    seen: list[dict[str, Any]] = [dict(group)]
    switches = hasattr(optimizer, "train")  # schedule-free's forms
    if switches:
        optimizer.train()
    seen.append(dict(group))
    for _ in range(8):
        param.grad = torch.ones_like(param)
        optimizer.step()
        seen.append(dict(group))
    if switches:
        optimizer.eval()
    seen.append(dict(group))
    keys = {key for values in seen for key in values} - {"params"}
    return {key for key in keys if len({repr(values.get(key)) for values in seen}) > 1}


@pytest.mark.parametrize("name", [*SCHEDULE_FREE, "pytorch_optimizer/adan", "pytorch_optimizer/lion"])
def test_the_running_state_is_what_the_optimizer_writes_into_its_groups(name: str) -> None:
    cls = resolve_class(name, "optimizer", where="test")
    assert set(optimizer_info(cls).running_state) == _written_keys(cls)


@pytest.mark.parametrize(
    ("name", "key", "value", "what"),
    [
        ("schedulefree/adamw", "k", 100, "its step counter"),
        ("schedulefree/sgd", "weight_sum", 1.0, "the sum of its averaging weights"),
        ("schedulefree/radam", "lr_max", 0.5, "the largest lr it has stepped with"),
        ("schedulefree/adamw", "scheduled_lr", 5.0, "the warmed-up lr of its last step"),
        (
            "schedulefree/adamw",
            "train_mode",
            True,
            "whether the weights are at the training point, switched by `train()`/`eval()`, which the mixin calls",
        ),
        ("pytorch_optimizer/schedulefreeadamw", "weight_sum", 1.0, "the sum of its averaging weights"),
    ],
)
def test_a_param_group_setting_running_state_is_refused(name: str, key: str, value: Any, what: str) -> None:
    cls = resolve_class(name, "optimizer", where="test")
    message = (
        f"Model.optimizer.groups[0]: Expected `{key}` to be left out but got {key}={value!r}: `{key}` is "
        f"`{cls.__name__}`'s own running state ({what}), kept in each param group, not an option. Remove it."
    )
    spec = OptimizerSpec(name, lr=0.01, groups=[ParamGroup("model_gen.layer2", **{key: value})])
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        declared(spec, name="Model")
    # a real option of the same optimizer stays one
    declared(OptimizerSpec(name, lr=0.01, groups=[ParamGroup("model_gen.layer2", lr=0.5)]))


@pytest.mark.parametrize("key", ["k", "weight_sum", "lr_max", "scheduled_lr"])
def test_a_schedule_does_not_drive_the_running_state(key: str) -> None:
    """``param="k"`` was accepted as a numeric option: the schedule would have rewritten the step counter."""
    scheduler = SchedulerSpec("cosine", T_max=10, param=key)
    with pytest.raises(
        ValueError, match=rf"Expected `param` to be a numeric per-group option .* but got '{key}'"
    ):
        declared(OptimizerSpec("schedulefree/adamw", lr=0.01, scheduler=scheduler))
