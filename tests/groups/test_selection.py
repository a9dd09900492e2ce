"""``params`` selection: which parameters each declared optimizer trains."""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import BackboneFinetuning
from torch import nn
from torch.optim import SGD

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, ParamGroup, with_declarations
from lightning_optim.building.build import build_all
from tests.helpers import Classifier, TwoNets, assert_same_weights, declared, fit


def built_names(**attributes: Any) -> dict[str, list[str]]:
    """Build the declared optimizers without a Trainer; return each one's parameter names."""
    module = type("Model", (ConfigurableOptimizersMixin, TwoNets), attributes)()
    names = {id(p): n for n, p in module.named_parameters()}
    built = build_all(module, module._lightning_optim_declared, None)
    return {
        b.declared.attribute: [names[id(p)] for g in b.optimizer.param_groups for p in g["params"]]
        for b in built
    }


GEN = ["model_gen.layer1.weight", "model_gen.layer1.bias", "model_gen.layer2.weight", "model_gen.layer2.bias"]
DIS = [n.replace("gen", "dis") for n in GEN]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("model_gen", GEN),  # a submodule path
        ("model_gen.layer1", GEN[:2]),  # a nested submodule path
        ("model_gen.layer1.bias", GEN[1:2]),  # an exact parameter name
        ("*.bias", [GEN[1], GEN[3], DIS[1], DIS[3]]),  # a glob over parameter names
        (lambda name, p: p.ndim == 2, [GEN[0], GEN[2], DIS[0], DIS[2]]),  # a callable
        (["model_gen.layer2", "model_dis.layer1"], [*GEN[2:], *DIS[:2]]),  # a list: the union
    ],
)
def test_selector_forms(selector: Any, expected: list[str]) -> None:
    names = built_names(first=OptimizerSpec(SGD, params=selector, lr=0.1), rest=OptimizerSpec(SGD, lr=0.1))
    assert names["first"] == expected
    assert sorted(names["rest"]) == sorted(set(GEN + DIS) - set(expected))


def test_catch_all_takes_what_the_others_leave_in_model_order() -> None:
    names = built_names(rest=OptimizerSpec(SGD, lr=0.1), dis=OptimizerSpec(SGD, params="model_dis", lr=0.1))
    assert names == {"rest": GEN, "dis": DIS}


def test_frozen_parameters_are_skipped() -> None:
    class Frozen(ConfigurableOptimizersMixin, TwoNets):
        optimizer = OptimizerSpec(SGD, lr=0.1)

        def __init__(self) -> None:
            super().__init__()
            self.model_dis.requires_grad_(False)

    module = Frozen()
    (built,) = build_all(module, Frozen._lightning_optim_declared, None)
    assert len(built.optimizer.param_groups[0]["params"]) == 4


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        (
            {
                "gen": OptimizerSpec(SGD, params="model_gn", lr=0.1),
                "dis": OptimizerSpec(SGD, params="model_dis", lr=0.1),
            },
            "Model.gen: `params='model_gn'` matches none of the module's trainable parameters (did you mean `model_gen`?)",
        ),
        (
            {
                "gen": OptimizerSpec(SGD, params="*.weight", lr=0.1),
                "dis": OptimizerSpec(SGD, params="model_dis", lr=0.1),
            },
            "Model.dis: parameter `model_dis.layer1.weight` is selected by both `gen` and `dis`",
        ),
        (
            {"gen": OptimizerSpec(SGD, params="model_gen", lr=0.1)},
            "Model: trainable parameter(s) `model_dis.layer1.weight`, `model_dis.layer1.bias`, "
            "`model_dis.layer2.weight`, `model_dis.layer2.bias` are trained by no declared optimizer",
        ),
        (
            {
                "gen": OptimizerSpec(SGD, params="model_gen", lr=0.1),
                "rest": OptimizerSpec(SGD, params=None, lr=0.1),
                "dis": OptimizerSpec(SGD, params="model_dis", lr=0.1),
            },
            "Model.rest: `params=None` takes the trainable parameters no other optimizer takes, but none are "
            "left: `gen`, `dis` take all of them.",
        ),
        # a misspelt item of a list: the other items select, and `model_dis.layer2` would go to `rest`
        (
            {
                "gen": OptimizerSpec(SGD, params=["model_gen", "model_dis.layr2"], lr=0.1),
                "rest": OptimizerSpec(SGD, lr=0.1),
            },
            "Model.gen: Expected every item of `params=['model_gen', 'model_dis.layr2']` to match a trainable "
            "parameter but the item 'model_dis.layr2' matches none (did you mean `model_dis.layer2`?)",
        ),
        # in a group: `model_gen.layer1.weight` would silently keep the optimizer's weight decay
        (
            {
                "gen": OptimizerSpec(
                    SGD,
                    lr=0.1,
                    weight_decay=0.1,
                    groups=[ParamGroup(["*.bias", "model_gen.layer1.wieght"], weight_decay=0.0)],
                )
            },
            "Model.gen.groups[0]: Expected every item of `select=['*.bias', 'model_gen.layer1.wieght']` to match "
            "a trainable parameter but the item 'model_gen.layer1.wieght' matches none (did you mean "
            "`model_gen.layer1.weight`?)",
        ),
    ],
)
def test_selection_errors(attributes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        built_names(**attributes)


def test_a_callable_selector_must_return_a_bool() -> None:
    with pytest.raises(TypeError, match=re.escape("Expected the `params` callable to return a bool")):
        built_names(optimizer=OptimizerSpec(SGD, params=lambda name, p: name, lr=0.1))


def test_tied_parameters_are_selected_once() -> None:
    class Tied(ConfigurableOptimizersMixin, TwoNets):
        optimizer = OptimizerSpec(SGD, lr=0.1)

        def __init__(self) -> None:
            super().__init__()
            self.extra = nn.Linear(16, 8)
            self.extra.weight = nn.Parameter(self.model_gen.layer1.weight.detach().T.clone())
            self.tied = self.model_gen  # the same module twice

    module = Tied()
    (built,) = build_all(module, Tied._lightning_optim_declared, None)
    params = built.optimizer.param_groups[0]["params"]
    assert len(params) == len({id(p) for p in params}) == len(list(module.parameters()))
    assert all(isinstance(p, torch.nn.Parameter) for p in params)


class TiedHead(TwoNets):
    """GPT-style weight tying: the head's weight is the embedding's, first named `embed.weight`."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.lm_head = nn.Linear(4, 10, bias=False)
        self.lm_head.weight = self.embed.weight


@pytest.mark.parametrize(
    ("selector", "option"),
    [("lm_head", "select"), ("lm_head.weight", "select"), ("lm_head.*", "select"), ("lm_head", "params")],
)
def test_a_tied_parameter_is_selected_by_its_other_names_too(selector: str, option: str) -> None:
    # was "matches none of the trainable parameters": `named_parameters()` names it `embed.weight` only,
    # while a hand-written `model.lm_head.parameters()` yields it
    if option == "select":
        spec = OptimizerSpec(SGD, lr=0.1, groups=[ParamGroup(selector, name="head", lr=0.5)])
        module = type("Model", (ConfigurableOptimizersMixin, TiedHead), {"optimizer": spec})()
        (built,) = build_all(module, module._lightning_optim_declared, None)
        head = built.optimizer.param_groups[0]
        assert (head["name"], head["lr"], head["params"]) == ("head", 0.5, [module.lm_head.weight])
    else:
        attributes = {"head": OptimizerSpec(SGD, lr=0.5, params=selector), "rest": OptimizerSpec(SGD, lr=0.1)}
        module = type("Model", (ConfigurableOptimizersMixin, TiedHead), attributes)()
        head, rest = build_all(module, module._lightning_optim_declared, None)
        assert head.optimizer.param_groups[0]["params"] == [module.lm_head.weight]
        assert all(p is not module.embed.weight for g in rest.optimizer.param_groups for p in g["params"])


def test_a_tied_parameter_two_optimizers_select_is_named_as_each_reached_it() -> None:
    # was "parameter `embed.weight` is selected by both `emb` and `rest`", where `rest` names only `lm_head`
    attributes = {
        "emb": OptimizerSpec(SGD, params="embed", lr=0.1),
        "rest": OptimizerSpec(SGD, params=["model_gen", "model_dis", "lm_head"], lr=0.1),
    }
    module = type("Model", (ConfigurableOptimizersMixin, TiedHead), attributes)()
    with pytest.raises(ValueError) as raised:
        build_all(module, module._lightning_optim_declared, None)
    message = (
        "Model.rest: parameter `embed.weight` is selected by both `emb` (as `embed.weight`) and `rest` (as "
        "`lm_head.weight`): `embed.weight` and `lm_head.weight` are one tied Parameter, and each parameter must "
        "be trained by exactly one optimizer. Narrow one of the `params` selectors."
    )
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("first", "second"),
    [("embed.weight", "lm_head.weight"), ("lm_head.weight", "embed.weight"), ("embed", "lm_head")],
)
def test_two_groups_selecting_a_tied_parameter_by_its_two_names_are_told_it_is_one(
    first: str, second: str
) -> None:
    # was "matches only parameters already taken by the earlier group(s) `embed.weight`; ... Reorder the groups or
    # narrow the earlier selector", where reordering gave the mirrored error
    groups = [ParamGroup(first, lr=0.5), ParamGroup(second, lr=0.01)]
    module = type(
        "Model",
        (ConfigurableOptimizersMixin, TiedHead),
        {"optimizer": OptimizerSpec(SGD, lr=0.1, groups=groups)},
    )()
    with pytest.raises(ValueError) as raised:
        build_all(module, module._lightning_optim_declared, None)
    names = [f"{first}.weight", f"{second}.weight"] if "." not in first else [first, second]
    assert str(raised.value) == (
        f"Model.optimizer.groups[1]: `select={second!r}` matches only parameters an earlier group took under another "
        f"name: `{names[0]}` and `{names[1]}` are one tied Parameter, taken by the earlier group `{first}`. A tied "
        "Parameter is trained once, with one set of options: select it in one group, under either name."
    )


def test_two_groups_selecting_a_tied_parameter_by_one_name_keep_the_overlap_message() -> None:
    groups = [ParamGroup("lm_head.weight", lr=0.5), ParamGroup("lm_head", lr=0.01)]
    module = type(
        "Model",
        (ConfigurableOptimizersMixin, TiedHead),
        {"optimizer": OptimizerSpec(SGD, lr=0.1, groups=groups)},
    )()
    with pytest.raises(ValueError) as raised:
        build_all(module, module._lightning_optim_declared, None)
    assert str(raised.value) == (
        "Model.optimizer.groups[1]: `select='lm_head'` matches only parameters already taken by the earlier group(s) "
        "`lm_head.weight`; a parameter goes to the first group that selects it. Reorder the groups or narrow the "
        "earlier selector."
    )


def _name_only(name: str) -> bool:
    return name.startswith("model_gen")


def _raises(name: str, param: torch.nn.Parameter) -> bool:
    return {"model_gen": True}[name]


@pytest.mark.parametrize("option", ["params", "select"])
def test_a_callable_selector_with_the_wrong_signature_is_refused_at_class_definition(option: str) -> None:
    # it used to escape at fit as "TypeError: _name_only() takes 1 positional argument but 2 were given"
    spec = (
        OptimizerSpec(SGD, params=_name_only, lr=0.1)
        if option == "params"
        else OptimizerSpec(SGD, lr=0.1, groups=[ParamGroup(_name_only, lr=0.5)])
    )
    where = "Model.optimizer" if option == "params" else "Model.optimizer.groups[0]"
    with pytest.raises(TypeError) as raised:
        type("Model", (ConfigurableOptimizersMixin, TwoNets), {"optimizer": spec})
    assert str(raised.value) == (
        f"{where}: Expected the `{option}` callable to take (name, param) -> bool but `_name_only` has the "
        "signature (name: 'str') -> 'bool'; it is called with each trainable parameter's name and the parameter. "
        'Write e.g. `lambda name, param: name.startswith("head")`.'
    )


@pytest.mark.parametrize("option", ["params", "select"])
def test_a_callable_selector_that_raises_is_named_once(option: str) -> None:
    spec = (
        OptimizerSpec(SGD, params=_raises, lr=0.1)
        if option == "params"
        else OptimizerSpec(SGD, lr=0.1, groups=[ParamGroup(_raises, lr=0.5)])
    )
    where = "Model.optimizer" if option == "params" else "Model.optimizer.groups[0]"
    with pytest.raises(ValueError) as raised:
        built_names(optimizer=spec)
    assert str(raised.value).startswith(
        f"{where}: the `{option}` callable `_raises` raised KeyError: 'model_gen.layer1.weight' for "
        "('model_gen.layer1.weight', param);"
    )
    cause = raised.value.__cause__
    # one error: a group's selector used to be called again while the first error was handled, which showed
    # the message twice ("During handling of the above exception, another exception occurred")
    assert isinstance(cause, KeyError) and cause.__context__ is None


def test_a_group_selecting_another_optimizers_parameters_names_that_optimizer() -> None:
    # it used to say "matches none of this optimizer's trainable parameters (did you mean `model_dis`?)"
    with pytest.raises(ValueError) as raised:
        built_names(
            gen=OptimizerSpec(SGD, params="model_gen", lr=0.1, groups=[ParamGroup("model_dis", lr=0.5)]),
            dis=OptimizerSpec(SGD, params="model_dis", lr=0.1),
        )
    assert str(raised.value) == (
        "Model.gen.groups[0]: `select='model_dis'` matches only parameters trained by optimizer `dis` "
        "(`model_dis.layer1.weight`, `model_dis.layer1.bias`, `model_dis.layer2.weight`, `model_dis.layer2.bias`), "
        "not by `gen` (`params='model_gen'`); a param group splits its own optimizer's parameters. Declare the "
        "group in the `groups` of `dis`, or move the parameters to `gen` by changing the `params` selectors."
    )


def test_no_match_suggests_a_near_miss() -> None:
    with pytest.raises(ValueError) as raised:
        built_names(
            gen=OptimizerSpec(
                SGD, params="model_gen", lr=0.1, groups=[ParamGroup("model_gen.layer3", lr=0.5)]
            ),
            dis=OptimizerSpec(SGD, params="model_dis", lr=0.1),
        )
    assert re.search(
        r"matches none of this optimizer's trainable parameters \(did you mean `model_gen\.layer[12]`\?\)",
        str(raised.value),
    )


def test_a_list_shared_by_two_optimizers_groups_trains_as_the_hand_written_groups() -> None:
    """A no-decay list written once and given to both optimizers' groups: the item ``model_dis.layer1.bias`` takes
    nothing in ``gen`` (``dis`` trains it) and is left to ``dis``, whose own group gives it the same options. An
    item that matches a trainable parameter somewhere is not refused; only one that matches none is."""
    no_decay = ["model_gen.layer1.bias", "model_dis.layer1.bias"]
    attributes = {
        "gen": OptimizerSpec(SGD, params="model_gen", lr=0.1, weight_decay=0.01, groups=[ParamGroup(no_decay, weight_decay=0.0)]),
        "dis": OptimizerSpec(SGD, params="model_dis", lr=0.1, weight_decay=0.01, groups=[ParamGroup(no_decay, weight_decay=0.0)]),
    }  # fmt: skip
    ours = type("Model", (ConfigurableOptimizersMixin, TwoNets), attributes)()

    class HandWritten(TwoNets):
        def configure_optimizers(self) -> Any:
            def split(net: Any) -> list[dict[str, Any]]:
                rest = [net.layer1.weight, net.layer2.weight, net.layer2.bias]
                return [{"params": [net.layer1.bias], "weight_decay": 0.0}, {"params": rest}]

            return [SGD(split(self.model_gen), lr=0.1, weight_decay=0.01), SGD(split(self.model_dis), lr=0.1, weight_decay=0.01)]  # fmt: skip

    reference = HandWritten()
    fit(ours, max_epochs=1)
    fit(reference, max_epochs=1)
    assert_same_weights(ours, reference)


def test_a_list_item_left_to_an_optimizer_that_groups_it_nowhere_is_refused() -> None:
    """``model_dis.layer1.bias`` in ``gen``'s list is ``dis``'s, and no group of ``dis`` selects it: it would train
    at ``dis``'s lr 0.1, not at the group's 0.5, without a word (as in 398decc). Beside a group of ``dis`` that
    selects it (a shared list) it is left to that group, as above."""
    group = ParamGroup(["model_gen.layer1.bias", "model_dis.layer1.bias"], lr=0.5, name="biases")
    attributes = {
        "gen": OptimizerSpec(SGD, params="model_gen", lr=0.1, groups=[group]),
        "dis": OptimizerSpec(SGD, params="model_dis", lr=0.1),
    }
    module = type("Model", (ConfigurableOptimizersMixin, TwoNets), attributes)()
    with pytest.raises(ValueError) as raised:
        fit(module, max_steps=1)
    assert str(raised.value) == (
        "Model.gen.groups[0]: Expected every item of `select=['model_gen.layer1.bias', 'model_dis.layer1.bias']` "
        "to select a parameter of `gen` or one a group of another optimizer takes but the item "
        "'model_dis.layer1.bias' matches only parameters trained by optimizer `dis` (`model_dis.layer1.bias`), "
        "which none of its groups selects: they would train at its own options, not at this group's. Move the "
        "item to a group in the `groups` of `dis`, or remove it from the list."
    )
    assert module.trainer.global_step == 0


class NormedCritic(TwoNets):
    """``TwoNets`` whose critic has a ``LayerNorm`` (``model_dis.norm``) and the generator none."""

    def __init__(self) -> None:
        super().__init__()
        layers = {"fc": nn.Linear(8, 16), "norm": nn.LayerNorm(16), "act": nn.ReLU(), "out": nn.Linear(16, 4)}
        self.model_dis = nn.Sequential(OrderedDict(layers))


def test_a_glob_of_a_generic_list_matching_only_another_optimizers_parameters_trains_as_the_hand_written_groups() -> (
    None
):
    """A generic no-decay list (``["*.bias", "*norm.weight"]``) on the generator's optimizer alone, beside a critic
    that has a norm and no groups: its ``*norm.weight`` matches only the critic's norm. It was refused as an item
    left to an optimizer that groups it nowhere; a pattern is a rule over names, not a parameter named for this
    group, so it trains as the hand-written groups (the critic's norm at the critic's own options). An item naming
    a parameter exactly stays refused (``test_a_list_item_left_to_an_optimizer_that_groups_it_nowhere_is_refused``)."""
    no_decay = ParamGroup(["*.bias", "*norm.weight"], weight_decay=0.0)
    attributes = {
        "gen": OptimizerSpec(SGD, params="model_gen", lr=0.1, weight_decay=0.01, groups=[no_decay]),
        "dis": OptimizerSpec(SGD, params="model_dis", lr=0.1),
    }
    ours = type("Model", (ConfigurableOptimizersMixin, NormedCritic), attributes)()

    class HandWritten(NormedCritic):
        def configure_optimizers(self) -> Any:
            gen = self.model_gen
            groups = [
                {"params": [gen.layer1.bias, gen.layer2.bias], "weight_decay": 0.0},
                {"params": [gen.layer1.weight, gen.layer2.weight]},
            ]
            return [SGD(groups, lr=0.1, weight_decay=0.01), SGD(self.model_dis.parameters(), lr=0.1)]

    reference = HandWritten()
    fit(ours, max_epochs=1)
    fit(reference, max_epochs=1)
    assert [[len(g["params"]) for g in o.param_groups] for o in ours.trainer.optimizers] == [[2, 2], [6]]
    assert_same_weights(ours, reference)


@pytest.mark.parametrize(
    ("specific", "general"),
    [("*.bias", ["*.bias", "*.weight"]), ("model_gen.layer1", ["model_gen.layer1", "model_gen.layer2"])],
    ids=["globs", "modules"],
)
def test_a_general_list_after_a_specific_group_trains_as_the_hand_written_groups(
    specific: str, general: list[str]
) -> None:
    """A specific group before a general one (reliability.md): the general list's first item matches only what
    the specific group took first, the rest goes to the list's group, as the same general group written as one
    glob (``"*"``) does. Not refused as an item taking nothing (a review found it so refused)."""
    groups = [ParamGroup(specific, lr=0.5), ParamGroup(general, lr=0.05, name="body")]
    ours = declared(OptimizerSpec(SGD, lr=0.1, groups=groups))()

    class HandWritten(Classifier):
        def configure_optimizers(self) -> Any:
            net = self.model_gen
            first = (
                [net.layer1.bias, net.layer2.bias] if specific == "*.bias" else list(net.layer1.parameters())
            )
            body = [p for p in self.parameters() if all(p is not f for f in first)]
            return SGD([{"params": first, "lr": 0.5}, {"params": body, "lr": 0.05}], lr=0.1)

    reference = HandWritten()
    assert fit(ours, max_epochs=1).history == fit(reference, max_epochs=1).history
    assert_same_weights(ours, reference)


def test_list_items_that_each_take_a_parameter_left_train_as_the_hand_written_groups() -> None:
    """Only an item that takes nothing is refused: ``"*.bias"`` also matches ``model_gen.layer1.bias``, which
    ``groups[0]`` took, and ``"model_gen.layer2.bias"`` is inside ``"model_gen.layer2"``; each takes a parameter
    still left."""
    items = ["*.bias", "model_gen.layer2", "model_gen.layer2.bias"]
    groups = [ParamGroup("model_gen.layer1.bias", lr=0.5), ParamGroup(items, lr=0.01, name="x")]
    ours = declared(OptimizerSpec(SGD, lr=0.1, groups=groups))()

    class HandWritten(Classifier):
        def configure_optimizers(self) -> Any:
            net = self.model_gen
            return SGD(
                [
                    {"params": [net.layer1.bias], "lr": 0.5},
                    {"params": [net.layer2.weight, net.layer2.bias], "lr": 0.01},
                    {"params": [net.layer1.weight]},
                ],
                lr=0.1,
            )

    reference = HandWritten()
    assert fit(ours, max_epochs=2).history == fit(reference, max_epochs=2).history
    assert [g["name"] for g in ours.trainer.optimizers[0].param_groups] == [
        "model_gen.layer1.bias",
        "x",
        "rest",
    ]
    assert_same_weights(ours, reference)


def test_a_near_miss_of_another_optimizers_parameter_says_which_optimizer_trains_it() -> None:
    # it said "(did you mean `model_dis.layer1.bias`?)", which `dis` trains (following it led to another
    # refusal), and listed `dis`'s parameters after "this optimizer's"
    attributes = {
        "gen": OptimizerSpec(
            SGD, params="model_gen", lr=0.1, groups=[ParamGroup("model_dis.layer1.bais", lr=0.5)]
        ),
        "dis": OptimizerSpec(SGD, lr=0.1),
    }
    module = type("Model", (ConfigurableOptimizersMixin, TwoNets), attributes)()
    with pytest.raises(ValueError) as raised:
        fit(module, max_steps=1)
    assert str(raised.value) == (
        "Model.gen.groups[0]: `select='model_dis.layer1.bais'` matches none of this optimizer's trainable "
        "parameters (`model_dis.layer1.bias` is trained by optimizer `dis`). A selector is a submodule path, a "
        "parameter name, a glob over parameter names or a callable; this optimizer's trainable parameters "
        "include: model_gen.layer1.weight, model_gen.layer1.bias, model_gen.layer2.weight, model_gen.layer2.bias."
    )


@pytest.mark.parametrize(
    ("select", "hint"),
    [
        ("model_gen.layer1.bais", "(did you mean `model_gen.layer1.bias`?)"),
        (["model_gen.layer2", "model_dis.layr1"], "(`model_dis.layer1` is trained by optimizer `dis`)"),
    ],
    ids=["own", "item"],
)
def test_a_groups_near_miss_is_among_its_optimizers_parameters(select: Any, hint: str) -> None:
    attributes = {
        "gen": OptimizerSpec(SGD, params="model_gen", lr=0.1, groups=[ParamGroup(select, lr=0.5)]),
        "dis": OptimizerSpec(SGD, lr=0.1),
    }
    module = type("Model", (ConfigurableOptimizersMixin, TwoNets), attributes)()
    with pytest.raises(ValueError) as raised:
        fit(module, max_steps=1)
    message = str(raised.value)
    assert hint in message, message
    if isinstance(select, str):
        assert message.endswith(
            "this optimizer's trainable parameters include: model_gen.layer1.weight, model_gen.layer1.bias, "
            "model_gen.layer2.weight, model_gen.layer2.bias."
        )


class SharedEncoder(Classifier):
    """One submodule registered under two paths (``self.dec = self.enc``), as a weight-shared autoencoder is."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(8, 8)
        self.dec = self.enc

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.model_gen(self.dec(torch.relu(self.enc(x)))), y)


def _shared_groups(self: SharedEncoder) -> list[dict[str, Any]]:
    """The hand-written groups: the decoder's parameters (``self.dec.parameters()``) at lr 0.5, the rest at 0.1."""
    dec = {id(p) for p in self.dec.parameters()}
    return [
        {"params": list(self.dec.parameters()), "lr": 0.5},
        {"params": [p for p in self.parameters() if id(p) not in dec]},
    ]


@pytest.mark.parametrize("selector", ["dec", ["dec"]])
def test_a_submodule_registered_twice_is_selected_by_its_second_path(selector: Any) -> None:
    # was "`select='dec'` matches none of this optimizer's trainable parameters (did you mean `enc`?)":
    # `named_modules()` lists a shared module once, under its first path, while `"dec.weight"` and
    # `"dec.*"` selected it (a shared parameter's other names select it too)
    spec = OptimizerSpec(SGD, lr=0.1, groups=[ParamGroup(selector, lr=0.5, name="dec")])
    ours = type("Model", (ConfigurableOptimizersMixin, SharedEncoder), {"optimizer": spec})()
    configure = {"configure_optimizers": lambda self: SGD(_shared_groups(self), lr=0.1)}
    hand_written = type("HandWritten", (SharedEncoder,), configure)()
    fit(ours, max_epochs=2)
    fit(hand_written, max_epochs=2)
    dec, rest = ours.trainer.optimizers[0].param_groups
    assert (dec["name"], dec["lr"], dec["params"]) == ("dec", 0.5, [ours.enc.weight, ours.enc.bias])
    assert len(rest["params"]) + 2 == len(list(ours.parameters()))  # each parameter in one group, once
    assert_same_weights(ours, hand_written)


@pytest.mark.parametrize("selector", ["dec", ["dec"]])
def test_a_submodule_registered_twice_is_an_optimizers_params_by_its_second_path(selector: Any) -> None:
    attributes = {"dec_opt": OptimizerSpec(SGD, lr=0.5, params=selector), "rest": OptimizerSpec(SGD, lr=0.1)}
    module = type("Model", (ConfigurableOptimizersMixin, SharedEncoder), attributes)()
    dec, rest = build_all(module, module._lightning_optim_declared, None)
    assert dec.optimizer.param_groups[0]["params"] == [module.enc.weight, module.enc.bias]
    assert not {id(module.enc.weight), id(module.enc.bias)} & {
        id(p) for p in rest.optimizer.param_groups[0]["params"]
    }


class FrozenBackbone(L.LightningModule):
    """A backbone (a ``Linear`` then a parameterless ``Tanh``) and a head; the backbone frozen unless
    ``BackboneFinetuning`` freezes it."""

    def __init__(self, freeze: bool = True) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = nn.Sequential(nn.Linear(8, 16), nn.Tanh())
        self.head = nn.Linear(16, 4)
        if freeze:
            self.backbone.requires_grad_(False)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.head(self.backbone(x)), y)


FROZEN = (
    "matches only frozen parameters (`requires_grad=False`): `backbone.0.weight`, `backbone.0.bias`. The "
    "optimizers are built from the parameters trainable when `fit` starts"
)


@pytest.mark.parametrize(
    ("attributes", "start"),
    [
        (
            {"optimizer": OptimizerSpec(SGD, lr=0.1, groups=[ParamGroup("backbone", lr=0.01)])},
            "Model.optimizer.groups[0]: `select='backbone'` ",
        ),
        (
            {
                "backbone_opt": OptimizerSpec(SGD, params="backbone", lr=0.01),
                "head_opt": OptimizerSpec(SGD, params="head", lr=0.1),
            },
            "Model.backbone_opt: `params='backbone'` ",
        ),
        (
            {"optimizer": OptimizerSpec(SGD, params=["head", "backbone.0"], lr=0.1)},
            "Model.optimizer: Expected every item of `params=['head', 'backbone.0']` to match a trainable parameter "
            "but the item 'backbone.0' ",
        ),
    ],
)
@pytest.mark.parametrize("freezer", ["module", "BackboneFinetuning"])
def test_a_selector_of_only_frozen_parameters_says_so_and_how_to_train_them(
    attributes: dict[str, Any], start: str, freezer: str
) -> None:
    """It said "matches none of the module's trainable parameters (did you mean `backbone.1`?)", a parameterless
    ``Tanh`` (or another optimizer's submodule): the frozen parameters are named, with the ways to train them."""
    module = type("Model", (ConfigurableOptimizersMixin, FrozenBackbone), attributes)(
        freeze=freezer == "module"
    )
    callbacks = [BackboneFinetuning(unfreeze_backbone_at_epoch=1)] if freezer == "BackboneFinetuning" else []
    with pytest.raises(ValueError) as raised:
        fit(module, max_epochs=1, callbacks=callbacks)
    message = str(raised.value)
    assert message.startswith(start + FROZEN), message
    assert "BackboneFinetuning" in message and "did you mean" not in message


class ProbedByHand(FrozenBackbone):
    def configure_optimizers(self) -> Any:
        return SGD(self.parameters(), lr=0.1, foreach=False)


def test_a_stage_with_a_declared_group_frozen_names_the_class_that_trains_it() -> None:
    """Staged training of one module (fine-tune, then a linear probe with the backbone frozen) is refused for the
    group of the frozen backbone; the refusal now names the class to fit that stage with, which trains as the
    hand-written module (whose frozen parameters get no gradient)."""
    spec = OptimizerSpec(SGD, lr=0.1, implementation="forloop", groups=[ParamGroup("backbone", lr=0.01)])
    model = type("Model", (ConfigurableOptimizersMixin, FrozenBackbone), {"optimizer": spec})(freeze=False)
    fit(model, max_epochs=1)
    model.backbone.requires_grad_(False)
    with pytest.raises(ValueError) as raised:
        fit(model, max_epochs=1)
    assert str(raised.value).endswith(
        "For a stage of training with them frozen (a linear probe), fit a module of `Probe = with_declarations("
        "Model, optimizer=OptimizerSpec(...))` declaring `optimizer` without them, its weights loaded with "
        "`Probe().load_state_dict(model.state_dict())`."
    )
    probe_class = with_declarations(
        type(model), optimizer=OptimizerSpec(SGD, lr=0.1, implementation="forloop")
    )
    probe, hand = probe_class(freeze=True), ProbedByHand(freeze=True)
    probe.load_state_dict(model.state_dict())
    hand.load_state_dict(model.state_dict())
    assert fit(probe, max_epochs=1).history == fit(hand, max_epochs=1).history
    assert_same_weights(probe, hand)


def test_a_misspelt_selector_suggests_a_submodule_holding_trainable_parameters() -> None:
    class Model(ConfigurableOptimizersMixin, FrozenBackbone):
        optimizer = OptimizerSpec(SGD, lr=0.1, groups=[ParamGroup("backbone.2", lr=0.01)])

    with pytest.raises(
        ValueError,
        match=r"matches none of this optimizer's trainable parameters \(did you mean `backbone\.0`\?\)",
    ):
        fit(Model(freeze=False), max_epochs=1)


class WeightNormed(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.enc = nn.utils.parametrizations.weight_norm(nn.Linear(8, 16))
        self.head = nn.Linear(16, 4)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.head(self.enc(x)), y)


@pytest.mark.parametrize("selector", ["enc.weight", "enc.weight_g"])
def test_a_parametrized_tensor_suggests_its_parametrized_names(selector: str) -> None:
    """``weight_norm`` registers ``enc.weight`` as ``enc.parametrizations.weight.original0``/``original1``: the
    suggestion was `head.weight`. The suggested glob selects them, as a hand-written group of them does."""

    def model(select: str) -> Any:
        spec = OptimizerSpec(SGD, lr=0.1, groups=[ParamGroup(select, lr=0.01)])
        return type("Model", (ConfigurableOptimizersMixin, WeightNormed), {"optimizer": spec})()

    with pytest.raises(ValueError, match=re.escape("(did you mean `enc.parametrizations.weight.*`?)")):
        fit(model(selector), max_epochs=1)

    class HandWritten(WeightNormed):
        def configure_optimizers(self) -> Any:
            weight = [self.enc.parametrizations.weight.original0, self.enc.parametrizations.weight.original1]
            rest = [self.enc.bias, *self.head.parameters()]
            return SGD([{"params": weight, "lr": 0.01}, {"params": rest}], lr=0.1)

    ours, reference = model("enc.parametrizations.weight.*"), HandWritten()
    assert fit(ours, max_epochs=1).history == fit(reference, max_epochs=1).history
    assert_same_weights(ours, reference)


#: torch's older reparametrizations, which rename the parameter beside the layer's tensor: the name each gives
#: ``head.weight`` and the suggestion of a group that selects ``head.weight``
RENAMING = {
    "prune": (lambda head: nn.utils.prune.l1_unstructured(head, "weight", amount=0.5), "head.weight_orig"),
    "old spectral_norm": (lambda head: nn.utils.spectral_norm(head, "weight"), "head.weight_orig"),
    "old weight_norm": (lambda head: nn.utils.weight_norm(head, "weight"), "head.weight_*"),
}


class Renamed(L.LightningModule):
    def __init__(self, how: str) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body, self.head = nn.Linear(8, 16), nn.Linear(16, 4)
        RENAMING[how][0](self.head)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.head(self.body(x)), y)


@pytest.mark.filterwarnings("ignore:.*torch.nn.utils.(weight|spectral)_norm` is deprecated")
@pytest.mark.parametrize("how", list(RENAMING))
def test_a_renamed_tensor_suggests_the_parameters_it_became(how: str) -> None:
    """Pruning (``ModelPruning(make_pruning_permanent=False)``) and the old ``spectral_norm`` train ``head.weight``
    as ``head.weight_orig``, the old ``weight_norm`` as ``head.weight_g`` and ``head.weight_v``: the suggestion was
    another layer's `body.weight`, or `head.weight_v` alone (`head.weight_g` left to `rest`). The suggested
    selector takes what a hand-written group of the renamed parameters holds."""
    suggested = RENAMING[how][1]

    def model(select: str) -> Any:
        spec = OptimizerSpec(SGD, lr=0.1, groups=[ParamGroup(select, lr=0.01)])
        return type("Model", (ConfigurableOptimizersMixin, Renamed), {"optimizer": spec})(how)

    with pytest.raises(ValueError, match=re.escape(f"(did you mean `{suggested}`?)")):
        fit(model("head.weight"), max_epochs=1)

    class HandWritten(Renamed):
        def configure_optimizers(self) -> Any:
            weight = [p for name, p in self.head.named_parameters() if name.startswith("weight_")]
            rest = [*self.body.parameters(), self.head.bias]
            return SGD([{"params": weight, "lr": 0.01}, {"params": rest}], lr=0.1)

    ours, reference = model(suggested), HandWritten(how)
    assert fit(ours, max_epochs=1).history == fit(reference, max_epochs=1).history
    assert_same_weights(ours, reference)
    assert len(ours.trainer.optimizers[0].param_groups[0]["params"]) == (2 if how == "old weight_norm" else 1)


@pytest.mark.parametrize(
    ("spec", "where", "option", "got"),
    [
        (
            OptimizerSpec(SGD, params=nn.Linear(8, 16), lr=0.1),
            "Model.optimizer",
            "params",
            "an `nn.Module`, `Linear(in_features=8, out_features=16, bias=True)`",
        ),
        (
            OptimizerSpec(SGD, lr=0.1, groups=[ParamGroup(nn.Linear, lr=0.5)]),
            "Model.optimizer.groups[0]",
            "select",
            "the `nn.Module` class `Linear`",
        ),
        (
            OptimizerSpec(SGD, params=["model_gen", nn.Sequential(nn.Linear(8, 16))], lr=0.1),
            "Model.optimizer",
            "params",
            "an `nn.Module`, a `Sequential`",
        ),
    ],
)
def test_a_module_as_selector_is_refused_at_class_definition(
    spec: Any, where: str, option: str, got: str
) -> None:
    """It was accepted, and ``fit`` failed with "the `params` callable Linear(...) raised TypeError:
    Linear.forward() takes 2 positional arguments but 3 were given"."""
    with pytest.raises(TypeError) as raised:
        type("Model", (ConfigurableOptimizersMixin, TwoNets), {"optimizer": spec})
    assert str(raised.value).startswith(
        f"{where}: Expected `{option}` to be a submodule path (a string), a parameter name, a glob or a callable "
        f"(name, param) -> bool but got {got}; a selector names the module's parameters, so give the submodule's "
        f'attribute path as a string, e.g. `{option}="encoder"`'
    )


class LazyHead(L.LightningModule):
    """A ``LazyLinear`` (no shape before its first forward) feeding a head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lazy = nn.LazyLinear(8)
        self.head = nn.Linear(8, 4)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        if nn.parameter.is_lazy(self.lazy.weight):  # the same weights whatever ran before the first forward
            torch.manual_seed(1)
        return nn.functional.cross_entropy(self.head(torch.relu(self.lazy(x))), y)


class LazyNanoGPT(ConfigurableOptimizersMixin, LazyHead):
    """nanoGPT's rule by hand: no weight decay for what has fewer than 2 dimensions."""

    optimizer = OptimizerSpec(
        "adamw", lr=0.01, weight_decay=0.1, groups=[ParamGroup(lambda n, p: p.ndim < 2, weight_decay=0.0)]
    )


def test_a_callable_selector_reading_a_lazy_parameters_shape_is_refused_when_fit_starts() -> None:
    # `UninitializedParameter.ndim` reads 1 whatever the layer becomes, so the LazyLinear's weight (8 x 8 after
    # the first forward) silently trained without weight decay
    module = LazyNanoGPT()
    with pytest.raises(ValueError) as raised:
        fit(module, max_steps=1)
    assert str(raised.value) == (
        "LazyNanoGPT.optimizer.groups[0]: Expected `lazy.weight` to have a shape for the `select` callable "
        "`LazyNanoGPT.<lambda>`, which reads `ndim`, but it is uninitialized: a lazy module's parameter gets its shape at the "
        "module's first forward, after the optimizers are built. Run a forward pass on a sample batch in "
        "`__init__`, build the layer with its sizes in `configure_model`, or select it by name (a parameter "
        "name, a glob such as `'*.bias'` or a submodule path)."
    )
    assert module.trainer.global_step == 0
    assert type(module.lazy.weight) is nn.parameter.UninitializedParameter


def test_a_callable_selector_by_name_trains_a_lazy_module_like_the_hand_written_groups() -> None:
    def by_name(name: str, param: nn.Parameter) -> bool:
        return name.endswith("bias")

    class Model(ConfigurableOptimizersMixin, LazyHead):
        optimizer = OptimizerSpec(
            "adamw",
            lr=0.01,
            weight_decay=0.1,
            implementation="forloop",
            groups=[ParamGroup(by_name, weight_decay=0.0)],
        )

    class HandWritten(LazyHead):
        def configure_optimizers(self) -> Any:
            biases = [self.lazy.bias, self.head.bias]
            weights = [self.lazy.weight, self.head.weight]
            groups = [{"params": biases, "weight_decay": 0.0}, {"params": weights}]
            return torch.optim.AdamW(groups, lr=0.01, weight_decay=0.1, foreach=False)

    ours, theirs = Model(), HandWritten()
    fit(ours, max_epochs=2)
    fit(theirs, max_epochs=2)
    names = {id(p): n for n, p in ours.named_parameters()}
    groups = ours.trainer.optimizers[0].param_groups
    assert [([names[id(p)] for p in g["params"]], g["weight_decay"]) for g in groups] == [
        (["lazy.bias", "head.bias"], 0.0),
        (["lazy.weight", "head.weight"], 0.1),
    ]
    assert ours.lazy.weight.shape == (8, 8)
    assert_same_weights(ours, theirs)
