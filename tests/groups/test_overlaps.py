"""Overlapping param groups: a later group that also selects parameters an earlier group took warns once, when
``fit`` starts, naming the parameters and the options they keep; training is the first-match rule's, as
hand-written."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from torch import nn
from torch.optim import AdamW

from lightning_optim import OptimizerSpec, ParamGroup, describe_optimizers, preview_schedule
from tests.helpers import Classifier, assert_same_weights, declared, fit, loader


class Encoded(Classifier):
    """An ``encoder`` in front of the classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(8, 8)

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        return nn.functional.cross_entropy(self.model_gen(self.encoder(x)), y)


class HandWritten(Encoded):
    """The groups the declaration builds, by the first-match rule: the encoder's weight in the weights' group."""

    def configure_optimizers(self) -> Any:
        named = dict(self.named_parameters())
        weights = [p for n, p in named.items() if n.endswith(".weight")]
        encoder_bias = [named["encoder.bias"]]
        rest = [p for n, p in named.items() if not n.endswith(".weight") and n != "encoder.bias"]
        return AdamW(
            [
                {"params": weights, "weight_decay": 0.1},
                {"params": encoder_bias, "lr": 1e-5},
                {"params": rest},
            ],
            lr=1e-3,
            foreach=False,
        )


def issue_case(**second: Any) -> type[Any]:
    """The issue's declaration: weights decayed first, then the encoder at a lower lr."""
    groups = [ParamGroup("*.weight", weight_decay=0.1), ParamGroup("encoder", **(second or {"lr": 1e-5}))]
    return declared(OptimizerSpec("adamw", lr=1e-3, groups=groups, implementation="forloop"), base=Encoded)


def overlap_warnings(run: Any) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
    return [str(w.message) for w in caught if "also matches" in str(w.message)]


def test_the_issue_case_warns_once_at_fit_and_trains_as_the_first_match_rule() -> None:
    module = issue_case()()
    messages = overlap_warnings(lambda: fit(module, max_epochs=2))
    assert messages == [
        "Declared.optimizer.groups[1]: `select='encoder'` also matches `encoder.weight`, which `groups[0]` "
        "(`select='*.weight'`) took first: a parameter goes to the first group that selects it, so they keep "
        "`groups[0]`'s options (`weight_decay=0.1`) and do not get `lr=1e-05` from this group. Reorder the "
        "groups, narrow a selector, or set the option on the earlier group too if that is not what you meant."
    ]
    reference = HandWritten()
    fit(reference, max_epochs=2)
    assert_same_weights(module, reference)


def test_a_missed_multiplier_is_named_and_the_parameters_listed() -> None:
    groups = [ParamGroup("model_gen.*", weight_decay=0.0), ParamGroup("*.weight", lr_mult=0.1)]
    module = declared(OptimizerSpec("adamw", lr=1e-3, groups=groups), base=Encoded)()
    (message,) = overlap_warnings(lambda: fit(module, max_steps=1))
    assert "also matches `model_gen.layer1.weight`, `model_gen.layer2.weight`, which `groups[0]`" in message
    assert (
        "keep `groups[0]`'s options (`weight_decay=0.0`) and do not get `lr` scaled by 0.1 from this group"
        in message
    )


@pytest.mark.parametrize(
    "groups",
    [
        # specific first, general after, the same option on both (the Muon recipe's order): deliberate
        [ParamGroup(["encoder"], weight_decay=0.0), ParamGroup("*.weight", weight_decay=0.1)],
        # no parameter in both
        [ParamGroup("encoder", lr=1e-5), ParamGroup("model_gen", weight_decay=0.1)],
    ],
    ids=["specific-first", "disjoint"],
)
def test_no_warning_without_a_missed_option(groups: list[ParamGroup]) -> None:
    module = declared(OptimizerSpec("adamw", lr=1e-3, groups=groups), base=Encoded)()
    assert overlap_warnings(lambda: fit(module, max_steps=1)) == []


def test_previews_and_descriptions_do_not_warn() -> None:
    """Only ``fit`` warns: a preview or a description is asked for on purpose, and may be asked often."""
    model_class = issue_case()
    assert overlap_warnings(lambda: preview_schedule(model_class, max_epochs=1, steps_per_epoch=4)) == []
    assert overlap_warnings(lambda: describe_optimizers(model_class())) == []
    assert len(overlap_warnings(lambda: fit(model_class(), data=loader(), max_steps=1))) == 1
