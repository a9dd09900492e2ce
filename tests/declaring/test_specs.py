"""The declarations as values: immutable, and copied, pickled and hashed like any other value."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import re
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.optim import SGD, Adam

from lightning_optim import ConfigurableOptimizersMixin, HParam, OptimizerSpec, ParamGroup, SchedulerSpec
from tests.helpers import FAST, Classifier, loader


def specs() -> list[Any]:
    """One of each declaration, with mapping options nested in each other, built anew at each call."""
    head = ParamGroup("model_gen.layer2", lr=0.5, betas=[0.8, 0.9])
    scheduler = SchedulerSpec("multistep", milestones=[1, 2], interval="step", warmup=2)
    return [
        head,
        scheduler,
        OptimizerSpec(
            "adam", lr=HParam("lr", default=0.1), groups=[head], scheduler=[scheduler], betas=(0.8, 0.9)
        ),
    ]


@pytest.mark.parametrize("index", range(3), ids=["ParamGroup", "SchedulerSpec", "OptimizerSpec"])
def test_a_spec_deep_copies_pickles_and_hashes_as_an_equal_value(index: int) -> None:
    spec, same = specs()[index], specs()[index]
    assert spec == same and hash(spec) == hash(same)
    for copied in (copy.deepcopy(spec), copy.copy(spec), pickle.loads(pickle.dumps(spec))):
        assert copied == spec and hash(copied) == hash(spec) and repr(copied) == repr(spec)
    assert len({spec, same, *specs()}) == 3


def test_a_copied_spec_stays_immutable() -> None:
    for spec in map(copy.deepcopy, specs()):
        mapping = spec.options if isinstance(spec, ParamGroup) else spec.kwargs
        with pytest.raises(TypeError):
            mapping["lr"] = 1.0
        with pytest.raises(AttributeError):
            spec.name = "other"


def test_unequal_specs_differ() -> None:
    assert SchedulerSpec("step", step_size=1) != SchedulerSpec("step", step_size=2)
    assert OptimizerSpec("sgd", lr=0.1) != OptimizerSpec("sgd", lr=0.2)
    assert ParamGroup("head", lr=0.1) != ParamGroup("head", lr=0.1, name="h")


@pytest.mark.parametrize(
    ("spec", "changes", "expected"),
    [
        (
            OptimizerSpec(Adam, lr=0.1, scheduler=SchedulerSpec("cosine")),
            {"scheduler": SchedulerSpec("step", step_size=1)},
            OptimizerSpec(Adam, lr=0.1, scheduler=SchedulerSpec("step", step_size=1)),
        ),
        (
            OptimizerSpec(Adam, lr=0.1),
            {"optimizer": SGD, "params": "head"},
            OptimizerSpec(SGD, params="head", lr=0.1),
        ),
        (OptimizerSpec(Adam, lr=0.1, betas=(0.8, 0.9)), {"kwargs": {"lr": 0.2}}, OptimizerSpec(Adam, lr=0.2)),
        # not a field: an optimizer argument, as a sweep varies it (the types of `dataclasses.replace` refuse it)
        (
            OptimizerSpec(Adam, lr=0.1, betas=(0.8, 0.9)),
            {"lr": 0.2},
            OptimizerSpec(Adam, lr=0.2, betas=(0.8, 0.9)),
        ),
        (
            SchedulerSpec("cosine", T_max=4),
            {"interval": "step"},
            SchedulerSpec("cosine", T_max=4, interval="step"),
        ),
        (
            SchedulerSpec("cosine", T_max=4, warmup=2),
            {"kwargs": {"T_max": 8}},
            SchedulerSpec("cosine", T_max=8, warmup=2),
        ),
        (ParamGroup("body", lr=0.1), {"select": "head"}, ParamGroup("head", lr=0.1)),
        (ParamGroup("body", lr=0.1, name="b"), {"options": {"lr": 0.2}}, ParamGroup("body", lr=0.2)),
    ],
)
def test_dataclasses_replace_gives_the_spec_with_the_changed_fields(
    spec: Any, changes: dict[str, Any], expected: Any
) -> None:
    """The specs are frozen dataclasses, so a sweep varies one with `dataclasses.replace` (`copy.replace` on
    Python 3.13), which passes every field by name: it crashed for `OptimizerSpec`/`SchedulerSpec` (the first
    argument was positional-only) and took a `ParamGroup`'s `options` as one option named `options`."""
    replaced = dataclasses.replace(spec, **changes)
    assert replaced == expected and repr(replaced) == repr(expected) and hash(replaced) == hash(expected)
    assert dataclasses.replace(spec) == spec
    if sys.version_info >= (3, 13):
        assert copy.replace(spec, **changes) == expected


@pytest.mark.parametrize("spec", specs(), ids=["ParamGroup", "SchedulerSpec", "OptimizerSpec"])
def test_replacing_the_mapping_of_a_specs_arguments_with_no_mapping_is_refused(spec: Any) -> None:
    field = "options" if isinstance(spec, ParamGroup) else "kwargs"
    message = (
        f"{type(spec).__name__}: Expected `{field}` (the mapping of the spec's own arguments, as `dataclasses.replace` "
        f"takes it) to be a mapping but got None; e.g. `dataclasses.replace(spec, {field}={{...}})`, or give the "
        "arguments by keyword."
    )
    with pytest.raises(TypeError, match=re.escape(message)):
        dataclasses.replace(spec, **{field: None})


def test_a_group_varied_by_dataclasses_replace_trains_as_the_group_written_out() -> None:
    """Against a hand-written `configure_optimizers`: the replaced group takes `layer2` at its own lr."""
    varied = dataclasses.replace(ParamGroup("model_gen.layer1", lr=0.5), select="model_gen.layer2")

    class Declared(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(SGD, lr=0.1, groups=[varied], implementation="forloop")

    class HandWritten(Classifier):
        def configure_optimizers(self) -> Any:
            net = self.model_gen
            groups = [
                {"params": list(net.layer2.parameters()), "lr": 0.5},
                {"params": list(net.layer1.parameters())},
            ]
            return SGD(groups, lr=0.1)

    weights = []
    for module in (Declared(), HandWritten()):
        trainer = L.Trainer(max_epochs=1, **FAST)
        trainer.fit(module, loader())
        assert [group["lr"] for group in trainer.optimizers[0].param_groups] == [0.5, 0.1]
        weights.append([p.detach().clone() for p in module.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights))


#: ``__init__`` defaults (what ``save_hyperparameters()`` saves when the caller passes none)
STEP = SchedulerSpec("step", step_size=1, gamma=0.5)
HEAD = ParamGroup("model_gen.layer2", lr=0.5)


class SavesSpecs(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec("sgd", lr=0.1)

    def __init__(
        self,
        scheduler: SchedulerSpec = STEP,
        head: ParamGroup = HEAD,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()


def test_specs_among_saved_hyperparameters_survive_a_checkpoint(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(dirpath=tmp_path)
    module = SavesSpecs(head=ParamGroup("model_gen.layer2", lr=0.25))
    trainer = L.Trainer(**{**FAST, "enable_checkpointing": True, "max_steps": 2}, callbacks=[checkpoint])
    trainer.fit(module, loader())
    # torch >= 2.6 loads only allow-listed classes by default: specs are hyperparameters of the user's own
    loaded = SavesSpecs.load_from_checkpoint(checkpoint.best_model_path, weights_only=False)
    assert loaded.hparams["scheduler"] == SchedulerSpec("step", step_size=1, gamma=0.5)
    assert loaded.hparams["head"] == ParamGroup("model_gen.layer2", lr=0.25)
    assert dict(loaded.hparams) == dict(module.hparams)


@pytest.mark.parametrize(
    ("keywords", "hint"),
    [
        ({"selct": "model_gen.layer1"}, "(`selct`: did you mean `select`?)"),
        (
            {"params": "model_gen.layer1"},
            "(`params`: a torch param-group key; a `ParamGroup` takes its selector first",
        ),
    ],
)
def test_a_param_group_given_its_selector_under_another_keyword_names_it(
    keywords: dict[str, Any], hint: str
) -> None:
    """It said "Expected a selector ... but got none" without naming the keyword the user wrote it under; the
    optimizer's and the scheduler's own misspelt keywords already got a "did you mean"."""
    expected = (
        "ParamGroup: Expected a selector, the parameters the group takes (a submodule path, a parameter name, a glob "
        f"or a callable (name, param) -> bool), but got none {hint}"
    )
    with pytest.raises(TypeError) as raised:
        ParamGroup(**keywords, lr=0.5)
    assert str(raised.value).startswith(expected)
    with pytest.raises(TypeError, match=r"got an unexpected argument `parms` \(did you mean `params`\?\)"):
        type(
            "Model",
            (ConfigurableOptimizersMixin, Classifier),
            {"optimizer": OptimizerSpec("sgd", lr=0.1, parms="x")},
        )
    with pytest.raises(
        TypeError, match=r"got an unexpected argument `intervl` \(did you mean `interval`\?\)"
    ):
        spec = OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec("step", step_size=1, intervl="step"))
        type("Model", (ConfigurableOptimizersMixin, Classifier), {"optimizer": spec})


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: OptimizerSpec(Adam, 0.01), "write `OptimizerSpec(Adam, lr=0.01)`."),
        (
            lambda: OptimizerSpec(SGD, 0.1, 0.9),
            "0.1, 0.9 by position; write `OptimizerSpec(SGD, lr=0.1, momentum=0.9)`.",
        ),
        (lambda: OptimizerSpec("adam", 0.01), "write `OptimizerSpec('adam', lr=0.01)`."),
    ],
)
def test_options_given_by_position_are_refused_naming_their_keywords(make: Any, message: str) -> None:
    # torch's `Adam(params, 0.01)` takes the lr by position; a declaration names it
    with pytest.raises(
        TypeError,
        match=f"^OptimizerSpec: Expected the options of .* by keyword but got .*{re.escape(message)}$",
    ):
        make()


def refused(define: Callable[[], type]) -> TypeError:
    """The refusal of a class ``define`` defines: raised by the class statement from Python 3.12 on, before by
    the class's first instance."""
    with pytest.raises(TypeError) as raised:
        if sys.version_info >= (3, 12):
            define()
        else:
            define()()
    return raised.value


class Logged(nn.Module):
    """A second base of the user's own."""


def test_a_declaration_without_the_mixin_suggests_the_class_line_with_the_classes_own_bases() -> None:
    """It suggested `class Mine(ConfigurableOptimizersMixin, L.LightningModule)`, dropping `Classifier`, where
    `training_step` lives; the class line suggested now trains as the hand-written module."""

    def define() -> type:
        class Mine(Classifier, Logged):
            optimizer = OptimizerSpec(SGD, lr=0.1)

        return Mine

    assert str(refused(define)).endswith(
        ".Mine.optimizer: an OptimizerSpec on a LightningModule that does not inherit ConfigurableOptimizersMixin "
        "is never used. Declare the class as `class Mine(ConfigurableOptimizersMixin, Classifier, Logged)`."
    )

    class Mine(ConfigurableOptimizersMixin, Classifier, Logged):
        optimizer = OptimizerSpec(SGD, lr=0.1)

    class HandWritten(Classifier, Logged):
        def configure_optimizers(self) -> Any:
            return SGD(self.parameters(), lr=0.1)

    ours, reference = Mine(), HandWritten()
    for module in (ours, reference):
        L.Trainer(**FAST, max_steps=3).fit(module, loader())
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), reference.parameters()))


def nested_spec() -> OptimizerSpec:
    """An optimizer declaring groups and schedulers, one of them a composite holding specs in its arguments."""
    warmup = SchedulerSpec("linear", start_factor=0.5, total_iters=2)
    composite = SchedulerSpec(
        "sequential", schedulers=[warmup, SchedulerSpec("step", step_size=1)], milestones=[2]
    )
    return OptimizerSpec(
        "sgd", lr=0.1, momentum=0.9, groups=[ParamGroup("model_gen.layer2", lr=0.5)], scheduler=[composite]
    )


HPARAM_SPECS = [
    pytest.param(SchedulerSpec("step", step_size=1, gamma=0.5), id="SchedulerSpec"),
    pytest.param(OptimizerSpec("sgd", lr=0.1, momentum=0.9), id="OptimizerSpec"),
    pytest.param(ParamGroup("model_gen.layer2", lr=0.5), id="ParamGroup"),
    pytest.param(nested_spec(), id="nested"),
]


DICT_LIKE = {
    "copy()": lambda mapping: mapping.copy(),
    "| dict": lambda mapping: mapping | {"lr": 0.2, "eps": 1e-8},
    "dict |": lambda mapping: {"eps": 1e-8, "lr": 0.2} | mapping,
    "reversed": lambda mapping: list(reversed(mapping)),
}


@pytest.mark.parametrize("operation", list(DICT_LIKE))
@pytest.mark.parametrize("spec", HPARAM_SPECS)
def test_a_specs_mapping_offers_what_a_read_only_view_of_its_dict_offers(spec: Any, operation: str) -> None:
    """A variant built from a declared spec (``OptimizerSpec("adamw", **(spec.kwargs | {"lr": 0.2}))``, as a sweep
    does) worked while the mappings were ``MappingProxyType`` views; the copyable mapping that replaced them
    lacked ``copy()``, ``|`` and ``reversed`` (AttributeError/TypeError). Each gives what the view gives."""
    mapping = spec.options if isinstance(spec, ParamGroup) else spec.kwargs
    given, viewed = DICT_LIKE[operation](mapping), DICT_LIKE[operation](types.MappingProxyType(dict(mapping)))
    assert given == viewed and type(given) is type(viewed)


@pytest.mark.parametrize("spec", HPARAM_SPECS)
def test_a_spec_converts_with_dataclasses_asdict_and_astuple(spec: Any) -> None:
    """`dataclasses.asdict` (what Lightning's loggers call on a dataclass hyperparameter) deep-copied each field's
    value, and the read-only option mappings could not be copied: "cannot pickle 'mappingproxy' object". Now the
    spec converts (a nested spec too), and its mapping copies and pickles to an equal, still read-only mapping."""
    field = "options" if isinstance(spec, ParamGroup) else "kwargs"
    mapping = getattr(spec, field)
    converted = dataclasses.asdict(spec)
    assert converted[field] == dict(mapping) and repr(converted[field]) == repr(dict(mapping))
    assert dataclasses.astuple(spec)[[f.name for f in dataclasses.fields(spec)].index(field)] == dict(mapping)
    if isinstance(spec, OptimizerSpec) and spec.groups:
        assert converted["groups"] == ({"select": "model_gen.layer2", "options": {"lr": 0.5}},)
        assert converted["scheduler"][0]["kwargs"] == spec.scheduler[0].kwargs  # type: ignore[index]
    for copied in (copy.deepcopy(mapping), copy.copy(mapping), pickle.loads(pickle.dumps(mapping))):
        assert copied == mapping and hash(copied) == hash(mapping) and repr(copied) == repr(dict(mapping))
        with pytest.raises(TypeError):
            copied["lr"] = 1.0


def logged_arguments(spec: Any) -> dict[str, Any]:
    """What a logger that flattens hyperparameters writes for ``spec`` kept as ``spec``: its fields, each under a
    key of its own, its own arguments written as the dict they are."""
    field = "options" if isinstance(spec, ParamGroup) else "kwargs"
    head = dataclasses.fields(spec)[0].name
    return {f"spec/{head}": getattr(spec, head), f"spec/{field}": repr(dict(getattr(spec, field)))}


@pytest.mark.parametrize("spec", HPARAM_SPECS)
def test_lightnings_flattening_of_hyperparameters_writes_the_specs_fields(spec: Any) -> None:
    """What TensorBoard's, MLflow's, WandB's and Comet's loggers do with hyperparameters before writing them
    (`_flatten_dict`, then `_sanitize_params`): it crashed on a spec; now each field is a key of its own."""
    from lightning.fabric.utilities.logger import _flatten_dict, _sanitize_params

    flat = _sanitize_params(_flatten_dict({"spec": spec}))
    assert logged_arguments(spec).items() <= flat.items()
    if isinstance(spec, OptimizerSpec) and spec.groups:
        assert flat["spec/groups"] == "({'select': 'model_gen.layer2', 'options': {'lr': 0.5}},)"


class KeepsASpec(ConfigurableOptimizersMixin, Classifier):
    """A spec kept as a hyperparameter (docs/guides/hparams.md, "Specs as hyperparameters"): it declares nothing."""

    optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec("step", step_size=1, gamma=0.5))

    def __init__(self, spec: Any) -> None:
        super().__init__()
        self.save_hyperparameters()


class KeepsAPlainValue(Classifier):
    """The hand-written twin: its hyperparameter is a plain frozen dataclass, its optimizer written out."""

    def __init__(self, spec: Any) -> None:
        super().__init__()
        self.save_hyperparameters()

    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=0.1)
        return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)]


@dataclasses.dataclass(frozen=True)
class PlainValue:
    step_size: int = 1
    gamma: float = 0.5


class RecordsLr(L.Callback):
    """The first group's lr at each training batch."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self.seen.append(trainer.optimizers[0].param_groups[0]["lr"])


def tensorboard_hparams(log_dir: str) -> dict[str, Any]:
    """The hyperparameters a TensorBoard event file in ``log_dir`` holds, as TensorBoard's HParams tab reads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    events = EventAccumulator(log_dir)
    events.Reload()
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    values = HParamsPluginData.FromString(content).session_start_info.hparams
    return {key: getattr(value, value.WhichOneof("kind")) for key, value in values.items()}


@pytest.mark.parametrize("spec", HPARAM_SPECS)
def test_a_spec_kept_as_a_hyperparameter_trains_under_the_tensorboard_logger(
    spec: Any, tmp_path: Path
) -> None:
    """`TensorBoardLogger` is Lightning's default logger where tensorboard is installed: `fit` crashed when it
    logged the hyperparameters ("cannot pickle 'mappingproxy' object", from `dataclasses.asdict`). Now the module
    trains as the hand-written twin keeping a plain dataclass, TensorBoard holds the spec's fields each under a key
    of its own, and the checkpoint gives back an equal spec."""
    pytest.importorskip("tensorboard")
    from lightning.pytorch.loggers import TensorBoardLogger

    runs = []
    for module in (KeepsASpec(spec), KeepsAPlainValue(PlainValue())):
        logger = TensorBoardLogger(tmp_path, name=type(module).__name__)
        checkpoint = ModelCheckpoint(dirpath=tmp_path / type(module).__name__)
        lrs = RecordsLr()
        trainer = L.Trainer(
            **{**FAST, "logger": logger, "enable_checkpointing": True},
            max_epochs=2,
            limit_train_batches=2,
            callbacks=[checkpoint, lrs],
        )
        trainer.fit(module, loader())
        runs.append(([p.detach().clone() for p in module.parameters()], lrs.seen, logger.log_dir, checkpoint))
    (ours, our_lrs, log_dir, checkpoint), (reference, reference_lrs, _, _) = runs
    assert our_lrs == reference_lrs == [0.1, 0.1, 0.05, 0.05]
    assert all(torch.equal(a, b) for a, b in zip(ours, reference))
    assert logged_arguments(spec).items() <= tensorboard_hparams(log_dir).items()
    loaded = KeepsASpec.load_from_checkpoint(checkpoint.best_model_path, weights_only=False)
    assert loaded.hparams["spec"] == spec and repr(loaded.hparams["spec"]) == repr(spec)
