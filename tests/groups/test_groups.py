"""Param groups: matching in declared order, names, per-group scheduler values, validation, the declared.

Group contents are read back from the optimizer a real ``Trainer`` built (one step of ``fit``).
"""

from __future__ import annotations

import re
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.optim import SGD, Adam, lr_scheduler

from lightning_optim import (
    ConfigurableOptimizersMixin,
    LRMonitor,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    describe_optimizers,
)
from tests.helpers import Classifier, assert_same_weights, declared, fit


def live_groups(module: L.LightningModule, **trainer_kwargs: Any) -> list[dict[str, Any]]:
    """The param groups of the optimizer a real one-step ``fit`` built, with parameter names for params."""
    fit(module, max_steps=1, **trainer_kwargs)
    names = {id(p): name for name, p in module.named_parameters()}
    return [
        {**group, "params": [names[id(p)] for p in group["params"]]}
        for group in module.trainer.optimizers[0].param_groups
    ]


def in_layer1(name: str, param: torch.nn.Parameter) -> bool:
    return name.startswith("model_gen.layer1.")


LAYER1 = ["model_gen.layer1.weight", "model_gen.layer1.bias"]
LAYER2 = ["model_gen.layer2.weight", "model_gen.layer2.bias"]


@pytest.mark.parametrize(
    ("select", "name"),
    [
        ("model_gen.layer1", "model_gen.layer1"),  # a submodule path
        ("model_gen.layer1.*", "model_gen.layer1.*"),  # a glob over parameter names
        (in_layer1, "in_layer1"),  # a callable: named after the function
        (lambda name, p: name.startswith("model_gen.layer1."), "pg1"),  # a lambda has no usable name
        (["model_gen.layer1.weight", "model_gen.layer1.bias"], "pg1"),  # a list: the union
    ],
    ids=["path", "glob", "function", "lambda", "list"],
)
def test_selector_forms_take_the_same_parameters(select: Any, name: str) -> None:
    groups = live_groups(declared(OptimizerSpec(SGD, lr=0.1, groups=[ParamGroup(select, lr=0.5)]))())
    assert [(g["name"], g["params"], g["lr"]) for g in groups] == [(name, LAYER1, 0.5), ("rest", LAYER2, 0.1)]


def test_first_matching_group_wins_and_rest_keeps_the_optimizer_options() -> None:
    spec = OptimizerSpec(
        SGD,
        lr=0.1,
        momentum=0.9,
        groups=[
            ParamGroup("model_gen.layer1.bias", lr=0.3, name="bias1"),
            ParamGroup("model_gen.layer1", lr=0.5),  # its bias is already taken by `bias1`
        ],
    )
    groups = live_groups(declared(spec)())
    assert [(g["name"], g["params"], g["lr"], g["momentum"]) for g in groups] == [
        ("bias1", ["model_gen.layer1.bias"], 0.3, 0.9),
        ("model_gen.layer1", ["model_gen.layer1.weight"], 0.5, 0.9),
        ("rest", LAYER2, 0.1, 0.9),
    ]


def test_no_rest_group_when_the_groups_take_everything() -> None:
    spec = OptimizerSpec(SGD, lr=0.1, groups=[ParamGroup("model_gen.layer1"), ParamGroup("model_gen.layer2")])
    assert [g["name"] for g in live_groups(declared(spec)())] == ["model_gen.layer1", "model_gen.layer2"]


@pytest.mark.parametrize(
    ("group", "name"),
    [(ParamGroup("*", lr=0.5, name="everything"), "everything"), (ParamGroup("*", lr=0.5), None)],
    ids=["named", "unnamed"],
)
def test_an_only_group_carries_its_name_when_given_one(group: ParamGroup, name: str | None) -> None:
    # a hand-written {"params": ..., "name": "everything"} keeps its name alone; a selector's default name does not
    (built,) = live_groups(declared(OptimizerSpec(SGD, lr=0.1, groups=[group]))())
    assert built.get("name") == name
    assert built["lr"] == 0.5


def test_group_names_are_the_logged_metric_keys(tmp_path: Any) -> None:
    # Lightning's own LearningRateMonitor reads the torch group's "name" key and the scheduler's name.
    spec = OptimizerSpec(
        SGD,
        lr=0.1,
        groups=[ParamGroup("model_gen.layer1", lr=0.5, name="layer1")],
        scheduler=SchedulerSpec("step", step_size=1, gamma=0.5),
    )
    lightning_monitor, ours = LearningRateMonitor(), LRMonitor()
    fit(
        declared(spec)(),
        max_epochs=2,
        logger=CSVLogger(tmp_path),
        callbacks=[lightning_monitor, ours],
    )
    expected = {"lr-optimizer/layer1": [0.5, 0.25], "lr-optimizer/rest": [0.1, 0.05]}
    assert {k: pytest.approx(v) for k, v in lightning_monitor.lrs.items()} == expected
    assert set(ours.lrs) == set(expected)


# ---- per-group scheduler values --------------------------------------------------------------------


def half(epoch: int) -> float:
    return 0.5**epoch


def keep(epoch: int) -> float:
    return 1.0


def test_per_group_lambdas_by_group_name_equal_the_list_in_group_order() -> None:
    groups = [ParamGroup("model_gen.layer1", lr=0.5, name="layer1")]
    by_list = declared(
        OptimizerSpec(SGD, lr=0.1, groups=groups, scheduler=SchedulerSpec("lambda", lr_lambda=[half, keep]))
    )()
    by_name = declared(
        OptimizerSpec(
            SGD,
            lr=0.1,
            groups=groups,
            scheduler=SchedulerSpec("lambda", lr_lambda={"rest": keep, "layer1": half}),
        )
    )()
    got, expected = fit(by_name, max_epochs=3), fit(by_list, max_epochs=3)
    assert got.history == expected.history
    # 4 batches per epoch: layer1 halves every epoch, rest stays at 0.1
    assert got.of(group=0) == pytest.approx([0.5] * 4 + [0.25] * 4 + [0.125] * 4)
    assert got.of(group=1) == pytest.approx([0.1] * 12)
    assert_same_weights(by_name, by_list)


@pytest.mark.parametrize(
    ("lr_lambda", "message"),
    [
        (
            [half],
            "Declared.optimizer.scheduler: `lr_lambda` has 1 entries but the optimizer has 2 param groups, "
            "in order: `layer1`, `rest`",
        ),
        (
            [half, keep, keep],
            "`lr_lambda` has 3 entries but the optimizer has 2 param groups, in order: `layer1`, `rest`",
        ),
        (
            {"layer1": half, "rets": keep},
            "`lr_lambda` given by group name must name each group exactly once; groups in order: `layer1`, "
            "`rest`; unknown `rets`, missing `rest`",
        ),
    ],
    ids=["short", "long", "dict"],
)
def test_per_group_value_that_does_not_fit_the_groups_lists_them_in_order(
    lr_lambda: Any, message: str
) -> None:
    spec = OptimizerSpec(
        SGD,
        lr=0.1,
        groups=[ParamGroup("model_gen.layer1", name="layer1")],
        scheduler=SchedulerSpec("lambda", lr_lambda=lr_lambda),
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(declared(spec)(), max_steps=1)


# ---- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        (
            [ParamGroup("model_gen.layr1")],
            "Declared.optimizer.groups[0]: `select='model_gen.layr1'` matches none of this optimizer's "
            "trainable parameters (did you mean `model_gen.layer1`?)",
        ),
        (
            [ParamGroup("*.gamma")],
            "Declared.optimizer.groups[0]: `select='*.gamma'` matches none of this optimizer's "
            "trainable parameters",
        ),
        (
            [ParamGroup("model_gen", lr=0.5), ParamGroup("*.bias", lr=0.1)],
            "Declared.optimizer.groups[1]: `select='*.bias'` matches only parameters already taken by the "
            "earlier group(s) `model_gen`; a parameter goes to the first group that selects it",
        ),
    ],
    ids=["typo", "glob", "taken"],
)
def test_selector_matching_no_parameter_left_is_an_error_naming_it(
    groups: list[ParamGroup], message: str
) -> None:
    module = declared(OptimizerSpec(SGD, lr=0.1, groups=groups))()
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(module, max_steps=1)
    with pytest.raises(ValueError, match=re.escape(message)):  # the plan fails the same way, before training
        describe_optimizers(module)


@pytest.mark.parametrize(
    ("optimizer", "group", "message"),
    [
        (
            SGD,
            ParamGroup("model_gen.layer1", betas=(0.9, 0.99)),
            "Declared.optimizer.groups[0]: `betas` is not a per-group option of `SGD`. "
            "Accepted: `dampening`, ",
        ),
        (
            Adam,
            ParamGroup("model_gen.layer1", weight_decy=0.1),
            "Declared.optimizer.groups[0]: `weight_decy` is not a per-group option of `Adam` "
            "(did you mean `weight_decay`?). Accepted: `amsgrad`, `betas`, ",
        ),
    ],
    ids=["betas-for-sgd", "typo"],
)
def test_group_option_the_optimizer_lacks_is_an_error_at_class_definition(
    optimizer: type, group: ParamGroup, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        declared(OptimizerSpec(optimizer, lr=0.1, groups=[group]))
    assert "`lr`" in str(info.value) and "`name`" in str(info.value)  # the accepted options are listed


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        (
            [ParamGroup("model_gen.layer1", name="a"), ParamGroup("model_gen.layer2", name="a")],
            "Declared.optimizer: param group names must be unique and `rest` is reserved for the leftover "
            "group; got `a`",
        ),
        ([ParamGroup("model_gen.layer1", name="rest")], "got `rest` more than once or reserved"),
        (
            # an explicit name that collides with the default `pg<n>` of an unnamed group
            [ParamGroup(in_layer1, name="pg2"), ParamGroup(lambda n, p: True)],
            "Declared.optimizer: Expected unique param group names but `pg2` name more than one group "
            "(groups in order: `pg2`, `pg2`)",
        ),
    ],
    ids=["duplicate", "reserved", "default-collision"],
)
def test_group_names_must_be_unique(groups: list[ParamGroup], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(declared(OptimizerSpec(SGD, lr=0.1, groups=groups))(), max_steps=1)


# ---- wrappers do not change what a selector means --------------------------------------------------


def checkpointed(module: L.LightningModule) -> L.LightningModule:
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper

    module.model_gen.layer1 = checkpoint_wrapper(module.model_gen.layer1)
    return module


def test_selectors_match_through_in_place_wrappers() -> None:
    # Activation checkpointing (like FSDP's auto-wrap) renames `model_gen.layer1.weight` to
    # `model_gen.layer1._checkpoint_wrapped_module.weight`; the user's selector still means the same.
    spec = OptimizerSpec(
        SGD, lr=0.1, groups=[ParamGroup("model_gen.layer1", lr=0.5), ParamGroup("*.layer2.bias")]
    )
    plain, wrapped = declared(spec)(), checkpointed(declared(spec)())
    assert "model_gen.layer1._checkpoint_wrapped_module.weight" in dict(wrapped.named_parameters())
    plain_lrs, wrapped_lrs = fit(plain, max_epochs=2), fit(wrapped, max_epochs=2)
    assert wrapped_lrs.history == plain_lrs.history
    assert [len(g["params"]) for g in wrapped.trainer.optimizers[0].param_groups] == [2, 1, 1]
    for (_, a), (_, b) in zip(plain.named_parameters(), wrapped.named_parameters()):
        assert torch.equal(a, b)
    assert describe_optimizers(wrapped) == describe_optimizers(plain)


# ---- the seed notes' per-layer recipe --------------------------------------------------------------


def test_seed_per_layer_recipe_trains_like_the_hand_written_groups() -> None:
    # The notes' last block, on `model_gen`: SGD with layer1 at 0.5 and layer2 at 0.1 (no optimizer-level
    # lr), LambdaLR with [epoch // 30, 0.95 ** epoch]; 30 is shrunk to 2. Kept faithful: `epoch // 2` is 0
    # for the first two epochs, so layer1 does not move at first, then its lr grows (0.5, 1.0, ...).
    def lambda1(epoch: int) -> float:
        return epoch // 2

    def lambda2(epoch: int) -> float:
        return 0.95**epoch

    class Declared(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(
            SGD,
            groups=[ParamGroup("model_gen.layer1", lr=0.5), ParamGroup("model_gen.layer2", lr=0.1)],
            scheduler=SchedulerSpec(lr_scheduler.LambdaLR, lr_lambda=[lambda1, lambda2]),
        )

    class HandWritten(Classifier):
        def configure_optimizers(self) -> Any:
            optimizer = SGD(
                [
                    {"params": list(self.model_gen.layer1.parameters()), "lr": 0.5},
                    {"params": list(self.model_gen.layer2.parameters()), "lr": 0.1},
                ]
            )
            return [optimizer], [lr_scheduler.LambdaLR(optimizer, lr_lambda=[lambda1, lambda2])]

    ours, theirs = Declared(), HandWritten()
    initial = ours.model_gen.layer1.weight.detach().clone()
    got, expected = fit(ours, max_epochs=5), fit(theirs, max_epochs=5)
    assert got.history == expected.history
    # 4 batches per epoch; layer1: 0.5 * (epoch // 2), layer2: 0.1 * 0.95 ** epoch
    assert got.of(group=0) == pytest.approx([0.0] * 8 + [0.5] * 8 + [1.0] * 4)
    assert got.of(group=1) == pytest.approx([0.1 * 0.95**e for e in range(5) for _ in range(4)])
    assert_same_weights(ours, theirs)
    assert not torch.equal(ours.model_gen.layer1.weight, initial)  # it moved once its lr became non-zero


# ---- the readable plan -----------------------------------------------------------------------------


class Wide(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(*(nn.Linear(2, 2) for _ in range(6)))
        self.norm = nn.LayerNorm(2)
        self.head = nn.Linear(2, 3)


def test_describe_lists_every_group_its_options_counts_and_the_leftover_parameters() -> None:
    spec = OptimizerSpec(
        "adamw",
        lr=1e-3,
        weight_decay=0.05,
        no_decay=True,
        groups=[ParamGroup("head", lr=1e-2)],
    )
    text = describe_optimizers(declared(spec, Wide)(), max_names=3)
    assert text.splitlines() == [
        "Declared.optimizer: AdamW(lr=0.001, weight_decay=0.05), 4 groups, 16 tensors, 49 parameters, 456 bytes of state",
        "  group          tensors  parameters  state bytes  lr     weight_decay",
        "  head                 1           6           52  0.01   0.05",
        "  head/no_decay        1           3           28  0.01   0",
        "  rest                 6          24          216  0.001  0.05",
        "  rest/no_decay        8          16          160  0.001  0",
        "  head: head.weight",
        "  head/no_decay: head.bias",
        "  rest: encoder.0.weight, encoder.1.weight, encoder.2.weight, ... (3 more)",
        "  rest/no_decay: encoder.0.bias, encoder.1.bias, encoder.2.bias, ... (5 more)",
    ]
    full = describe_optimizers(declared(spec, Wide)(), max_names=None)
    assert "norm.weight, norm.bias" in full.splitlines()[-1]


def test_describe_matches_the_groups_fit_builds() -> None:
    spec = OptimizerSpec(
        SGD, lr=0.1, momentum=0.9, groups=[ParamGroup("model_gen.layer1", lr=0.5, name="layer1")]
    )
    module = declared(spec)()
    text = describe_optimizers(module)
    groups = live_groups(module)
    for group in groups:
        row = next(line for line in text.splitlines() if line.split()[0] == group["name"])
        count = sum(dict(module.named_parameters())[n].numel() for n in group["params"])
        assert row.split()[1:] == [
            str(len(group["params"])),
            str(count),
            str(4 * count),  # a float32 momentum buffer per parameter
            f"{group['lr']:g}",
            f"{group['momentum']:g}",
        ]
        assert f"  {group['name']}: {', '.join(group['params'])}" in text


def test_describe_needs_a_declaring_module() -> None:
    with pytest.raises(
        TypeError, match="describe_optimizers: Expected an instance of a ConfigurableOptimizersMixin"
    ):
        describe_optimizers(Classifier())
