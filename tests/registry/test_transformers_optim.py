"""``"transformers/<name>"``: every ``TrainingArguments(optim=...)`` name equals what transformers builds.

The reference is transformers itself: ``Trainer.get_optimizer_cls_and_kwargs`` on a real ``TrainingArguments``
with the same ``learning_rate`` and ``weight_decay``, built as ``Trainer.create_optimizer`` builds it (the
weight decay in the param group), and ``Trainer.create_optimizer`` for the 32-bit embeddings rule.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch import nn

from lightning_optim import OptimizerSpec, spec_from_dict, spec_to_dict
from lightning_optim.registry.optimizers import accepts_argument
from tests.helpers import (
    FAST,
    Classifier,
    assert_same_weights,
    declared,
    fit,
    loader,
    transformers_with_torch,
)
from tests.registry.test_bnb import Wide

transformers = transformers_with_torch(module_level=True)
pytest.importorskip("accelerate")  # transformers' TrainingArguments needs it
from transformers import Trainer, TrainingArguments  # noqa: E402
from transformers.training_args import OptimizerNames  # noqa: E402

LR = 3e-3
WD = 0.05


def arguments(name: str, tmp_path: Path) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(tmp_path), optim=name, learning_rate=LR, weight_decay=WD, report_to=[], use_cpu=True
    )


def same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("name", [name.value for name in OptimizerNames])
def test_every_name_equals_get_optimizer_cls_and_kwargs(name: str, tmp_path: Path) -> None:
    spec = OptimizerSpec(f"transformers/{name}", lr=LR, weight_decay=WD)
    try:
        cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(arguments(name, tmp_path))
    except (
        ImportError,
        ValueError,
    ) as error:  # its backend is not installed here: our error quotes transformers'
        with pytest.raises(
            ValueError, match=rf"^Declared\.optimizer: Expected `transformers/{name}` to build here"
        ):
            declared(spec)
        with pytest.raises(ValueError, match=re.escape(str(error))):
            declared(spec)
        return
    module = declared(spec)()
    fit(module, max_steps=0)  # builds the optimizer, takes no step
    optimizer = module.trainer.optimizers[0]
    assert type(optimizer) is cls
    params = [nn.Parameter(p.detach().clone()) for p in module.parameters()]
    group: dict[str, Any] = {"params": params}
    if accepts_argument(cls, "weight_decay") and "weight_decay" not in kwargs:
        group["weight_decay"] = WD  # Trainer.create_optimizer's decayed group
    (expected,) = cls([group], **kwargs).param_groups
    (built,) = optimizer.param_groups
    assert built.keys() == expected.keys()
    # `train_mode` is a schedule-free optimizer's mode, not an option: the mixin builds it in train mode
    different = {
        k: (built[k], expected[k])
        for k in expected
        if k not in ("params", "train_mode") and not same(built[k], expected[k])
    }
    assert not different


def test_defaults_are_transformers_defaults() -> None:
    module = declared(OptimizerSpec("transformers/adamw_torch"))()
    fit(module, max_steps=0)
    (group,) = module.trainer.optimizers[0].param_groups
    assert (group["lr"], group["weight_decay"]) == (
        5e-5,
        0.0,
    )  # TrainingArguments', not torch's 1e-3 and 1e-2
    assert group["fused"] is None and group["foreach"] is None  # torch's default: "auto" does not pick fused


@pytest.fixture
def bitsandbytes_manager() -> Iterator[Any]:
    """bitsandbytes' process-wide override registry, put back afterwards: transformers' module overrides
    stay in it for good and apply by group/parameter position to later optimizers."""
    bnb = pytest.importorskip("bitsandbytes")
    manager = bnb.optim.GlobalOptimManager.get_instance()
    saved = (dict(manager.pid2config), dict(manager.index2config), list(manager.module_weight_config_triple))
    yield manager
    manager.pid2config, manager.index2config, manager.module_weight_config_triple = (
        saved[0],
        saved[1],
        saved[2],
    )


class Plain(Wide):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = (x.abs() * 40).long().clamp(max=127)[:, 0]
        return self.out(torch.relu(self.hidden(torch.relu(self.inp(x) + self.embed(tokens)))))


def test_8bit_names_keep_embeddings_in_32_bit_like_create_optimizer(
    tmp_path: Path, bitsandbytes_manager: Any
) -> None:
    spec = OptimizerSpec("transformers/adamw_bnb_8bit", lr=LR, weight_decay=WD, no_decay="transformers")
    module = declared(spec, base=Plain)()
    fit(module, max_steps=0)
    ours = module.trainer.optimizers[0]
    model = copy.deepcopy(Plain())
    theirs = Trainer(model=model, args=arguments("adamw_bnb_8bit", tmp_path)).create_optimizer()
    assert [len(g["params"]) for g in ours.param_groups] == [len(g["params"]) for g in theirs.param_groups]
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        x = torch.randn(8, 8, generator=generator)
        for net, optimizer in ((module, ours), (model, theirs)):
            net.zero_grad()
            net(x).square().mean().backward()
            optimizer.step()
    for (name, p), q in zip(module.named_parameters(), model.parameters()):
        assert torch.equal(p, q), name
        assert ours.state[p]["state1"].dtype == theirs.state[q]["state1"].dtype, name
    assert ours.state[module.embed.weight]["state1"].dtype == torch.float32
    assert ours.state[module.hidden.weight]["state1"].dtype == torch.uint8


@pytest.mark.parametrize(
    ("name", "implementation", "fused", "foreach"),
    [("adamw_torch", "fused", True, None), ("adamw_torch_fused", "forloop", None, False)],
)
def test_an_explicit_implementation_replaces_the_names(
    name: str, implementation: str, fused: bool | None, foreach: bool | None
) -> None:
    module = declared(OptimizerSpec(f"transformers/{name}", implementation=implementation))()
    fit(module, max_steps=0)
    (group,) = module.trainer.optimizers[0].param_groups
    assert (group["fused"], group["foreach"], group["betas"]) == (fused, foreach, (0.9, 0.999))


def test_a_fused_name_under_clipped_mixed_precision_is_told_the_implementation_that_trains() -> None:
    """`"adamw_torch_fused"` stands for `fused=True`, which bf16-mixed clipping refuses: the error names the
    name (no `fused=True` was written, and "auto" keeps the name's kernel), and the implementation it advises
    trains as a hand-written foreach `AdamW`."""
    bf16_clipped = {
        **FAST,
        "max_epochs": 1,
        "limit_train_batches": 3,
        "precision": "bf16-mixed",
        "gradient_clip_val": 0.05,
    }
    for options in ({}, {"implementation": "auto"}):
        module = declared(OptimizerSpec("transformers/adamw_torch_fused", lr=LR, **options))()
        with pytest.raises(ValueError) as error:
            L.Trainer(**bf16_clipped).fit(module, loader())
        assert str(error.value) == (
            "Declared.optimizer: Expected no fused kernel with `Trainer(precision='bf16-mixed', "
            "gradient_clip_val=0.05)` but got 'transformers/adamw_torch_fused', which stands for `fused=True`: a "
            "fused `AdamW` unscales gradients inside `step` and Lightning's `MixedPrecision` refuses to clip them. "
            "Declare it with `implementation='foreach'` (or 'forloop') or remove `gradient_clip_val`."
        )

    class Hand(Classifier):
        def configure_optimizers(self) -> Any:
            return torch.optim.AdamW(
                self.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, foreach=True
            )

    hand = Hand()
    L.Trainer(**bf16_clipped).fit(hand, loader())
    module = declared(OptimizerSpec("transformers/adamw_torch_fused", lr=LR, implementation="foreach"))()
    L.Trainer(**bf16_clipped).fit(module, loader())
    assert_same_weights(hand, module)


def test_a_name_standing_for_arguments_round_trips_through_a_config() -> None:
    spec = OptimizerSpec("transformers/adamw_torch_fused", lr=LR)
    data = spec_to_dict(spec)
    assert data == {"class_path": "transformers/adamw_torch_fused", "init_args": {"lr": LR}}
    module = declared(spec_from_dict(data))()
    fit(module, max_steps=0)
    (group,) = module.trainer.optimizers[0].param_groups
    assert group["fused"] is True and group["betas"] == (0.9, 0.999)


def test_an_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(
        ValueError, match=r"got 'transformers/adamw_torch_fuse' \(did you mean `adamw_torch_fused`\?\)"
    ):
        declared(OptimizerSpec("transformers/adamw_torch_fuse"))
