"""Declarations as plain dicts (``spec_to_dict`` / ``spec_from_dict``) and ``with_declarations`` overrides."""

from __future__ import annotations

import copy
import dataclasses
import functools
import gc
import io
import json
import pickle
import re
import subprocess
import sys
import types
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
import yaml
from lightning.pytorch.callbacks import StochasticWeightAveraging
from torch.optim import SGD, Adam, AdamW, lr_scheduler

from lightning_optim import (
    ConfigurableOptimizersMixin,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    declarations,
    spec_from_dict,
    spec_to_dict,
    with_declarations,
)
from lightning_optim.registry.external import COLLECTIONS, collection_names, name_arguments, named_optimizer
from lightning_optim.registry.lookup import resolve_class
from lightning_optim.registry.optimizers import OPTIMIZERS, REGISTERED_OPTIMIZERS
from lightning_optim.tools.config import spec_options
from lightning_optim.tools.overrides import _SUBCLASSES
from tests.helpers import (
    FAST,
    Classifier,
    DestroyProcessGroup,
    assert_same_weights,
    declared,
    fit,
    loader,
    transformers_with_torch,
    weights,
)

ROOT = Path(__file__).resolve().parents[2]


def is_bias(name: str, param: torch.nn.Parameter) -> bool:
    return name.endswith("bias")


def halve(epoch: int) -> float:
    return 0.5**epoch


def slow(epoch: int) -> float:
    return 0.9**epoch


ROUND_TRIPS = {
    "plain": OptimizerSpec(Adam, lr=0.01),
    "gan": OptimizerSpec(
        Adam,
        params="model_gen",
        lr=0.01,
        scheduler=SchedulerSpec(lr_scheduler.ExponentialLR, gamma=0.99, interval="step"),
    ),
    "groups": OptimizerSpec(
        SGD,
        lr=0.1,
        momentum=0.9,
        groups=[ParamGroup("layer1", lr=0.5), ParamGroup(["layer2.weight", "*.bias"], lr=0.1, name="second")],
        scheduler=SchedulerSpec(lr_scheduler.LambdaLR, lr_lambda=[halve, slow, halve]),
    ),
    "callable selector": OptimizerSpec(AdamW, params=is_bias, weight_decay=0.0),
    "every stepping option": OptimizerSpec(
        SGD,
        lr=0.1,
        scheduler=SchedulerSpec(
            lr_scheduler.ReduceLROnPlateau,
            monitor="val_loss",
            strict=False,
            name="lr-x",
            frequency=2,
            mode="max",
        ),
    ),
    "warmup, derived length": OptimizerSpec(
        Adam, scheduler=SchedulerSpec(lr_scheduler.CosineAnnealingLR, warmup=5, interval="step")
    ),
    "composite": OptimizerSpec(
        SGD,
        lr=0.1,
        scheduler=SchedulerSpec(
            lr_scheduler.SequentialLR,
            schedulers=[
                SchedulerSpec(lr_scheduler.LinearLR, start_factor=0.1, total_iters=2),
                SchedulerSpec(lr_scheduler.StepLR, step_size=3),
            ],
            milestones=[2],
        ),
    ),
}


@pytest.mark.parametrize("spec", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_round_trip_spec_dict_spec(spec: OptimizerSpec) -> None:
    data = spec_to_dict(spec)
    assert json.loads(json.dumps(data)) == data  # plain data: survives JSON (and so YAML, hparams)
    back = spec_from_dict(data, allow_callables=[is_bias, halve, slow])
    assert back == spec
    assert spec_to_dict(back) == data


def optimizer_names() -> list[Any]:
    """Every optimizer name: torch's, the registered ones and those of each collection (a skipped case for a
    collection whose package is missing here)."""
    names: list[Any] = [*OPTIMIZERS, *REGISTERED_OPTIMIZERS]
    for prefix in COLLECTIONS:
        try:
            names += [f"{prefix}/{name}" for name in collection_names(prefix)]
        except ValueError as error:  # not installed, or built for another torch
            names.append(pytest.param(f"{prefix}/*", marks=pytest.mark.skip(reason=str(error))))
    return names


def meaning(spec: OptimizerSpec) -> tuple[Any, ...]:
    """What a declaration builds: its class, the arguments and the step after building its name stands for,
    and the rest of the declaration."""
    record = named_optimizer(spec.optimizer)
    rest = {key: value for key, value in spec_to_dict(spec).items() if key != "class_path"}
    return (
        resolve_class(spec.optimizer, "optimizer", where="meaning"),
        dict(name_arguments(spec.optimizer)),
        None if record is None else record.prepare,
        rest,
    )


@pytest.mark.parametrize("name", optimizer_names())
def test_every_optimizer_name_round_trips_to_the_same_declaration(name: str) -> None:
    if name.startswith("transformers/"):
        transformers_with_torch()
    try:
        record = named_optimizer(name)
        cls = resolve_class(name, "optimizer", where="test")
    except ValueError as error:  # its backend is not installed here, or it cannot build here (CUDA only)
        pytest.skip(str(error))
    step = SchedulerSpec(lr_scheduler.StepLR, step_size=2)
    spec = OptimizerSpec(name, params="model_gen", scheduler=step)
    data = spec_to_dict(spec)
    back = spec_from_dict(data)
    assert meaning(back) == meaning(spec)
    assert spec_to_dict(back) == data
    stands_for_more = record is not None and bool(record.arguments or record.prepare)
    # a name standing for arguments or a step after building is kept; any other reads back as its class
    assert back.optimizer == (name if stands_for_more else cls)
    assert back == (spec if stands_for_more else OptimizerSpec(cls, params="model_gen", scheduler=step))


class WithEmbedding(L.LightningModule):
    """An embedding and a layer of 4096 elements each: 8-bit state under an 8-bit optimizer, unless kept in
    32 bit."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(512, 8)
        self.wide = torch.nn.Linear(8, 512)
        self.head = torch.nn.Linear(512, 4)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        tokens = (x.abs() * 100).long().clamp(max=511)[:, 0]
        hidden = torch.relu(self.wide(x + self.embed(tokens)))
        return torch.nn.functional.cross_entropy(self.head(hidden), y)


def built(module_class: type) -> tuple[type, dict[str, Any], dict[str, Any]]:
    """The optimizer a module trains (one step): its class, its group defaults and its state's dtypes."""
    module = module_class()
    fit(module, max_steps=1)
    optimizer = module.trainer.optimizers[0]
    (group,) = optimizer.param_groups
    state = {
        name: {
            key: value.dtype for key, value in optimizer.state[p].items() if isinstance(value, torch.Tensor)
        }
        for name, p in module.named_parameters()
    }
    return type(optimizer), {k: v for k, v in group.items() if k != "params"}, state


@pytest.mark.parametrize("name", ["transformers/adafactor", "transformers/adamw_bnb_8bit"])
def test_a_transformers_name_read_back_builds_the_declared_optimizer(name: str) -> None:
    transformers_with_torch()
    if "bnb" in name:
        pytest.importorskip("bitsandbytes")
    in_code = declared(OptimizerSpec(name), base=WithEmbedding, name="Model")
    data = spec_to_dict(in_code.optimizer)
    assert data == {"class_path": name, "init_args": {}}
    assert with_declarations(in_code, optimizer=data) is in_code  # the same declaration: nothing overridden
    from_dict = declared(spec_from_dict(data), base=WithEmbedding, name="Model")
    overridden = with_declarations(in_code, optimizer={**data, "init_args": {"lr": 1e-4}})
    reference = built(in_code)
    assert built(from_dict) == reference
    cls, group, state = built(overridden)
    assert (cls, {**group, "lr": reference[1]["lr"]}, state) == reference  # only the lr changed
    if "bnb" in name:  # 8-bit state, but transformers keeps embeddings in 32 bit
        assert reference[2]["embed.weight"]["state1"] == torch.float32
        assert reference[2]["wide.weight"]["state1"] == torch.uint8
    else:  # transformers' own arguments, not Adafactor's defaults
        assert (group["relative_step"], group["scale_parameter"]) == (False, False)


def test_a_removed_scheduler_reads_as_no_scheduler() -> None:
    # `class_path: null` (cli.md's "removes it"), as a DeclarativeCLI saves it: with the keys the scheduler had
    removed = {
        "class_path": "torch.optim.SGD",
        "init_args": {"lr": 0.1},
        "scheduler": {"class_path": None, "init_args": {"step_size": 1, "gamma": 0.5}, "interval": None},
    }
    without = OptimizerSpec(SGD, lr=0.1)
    assert spec_from_dict(removed) == without
    canonical = {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.1}}  # `scheduler` left out
    assert spec_to_dict(spec_from_dict(removed)) == spec_to_dict(without) == canonical
    assert with_declarations(Model, optimizer=removed).optimizer == without
    assert (
        with_declarations(Model, optimizer={**removed, "scheduler": {"class_path": None}}).optimizer
        == without
    )
    with pytest.raises(
        ValueError,
        match=r"^OptimizerSpec\.scheduler: Expected the keys of a SchedulerSpec config .* "
        r"but got 'intervall' \(did you mean `interval`\?\)",
    ):
        spec_from_dict({**removed, "scheduler": {"class_path": None, "intervall": "step"}})


def test_dict_shape_is_lightning_cli_shape() -> None:
    spec = OptimizerSpec(
        Adam,
        params="model_gen",
        lr=0.01,
        groups=[ParamGroup("model_gen.layer1", lr=0.05, name="first")],
        scheduler=SchedulerSpec("exponential", gamma=0.99, interval="step"),
    )
    assert spec_to_dict(spec) == {
        "class_path": "torch.optim.Adam",
        "init_args": {"lr": 0.01},
        "params": "model_gen",
        "groups": [{"select": "model_gen.layer1", "lr": 0.05, "name": "first"}],
        "scheduler": {
            "class_path": "torch.optim.lr_scheduler.ExponentialLR",  # a name is written as its class path
            "init_args": {"gamma": 0.99},
            "interval": "step",  # options left at their default (frequency=1, ...) are omitted
        },
    }
    assert spec_to_dict(ParamGroup(is_bias, weight_decay=0.0)) == {
        "select": {"callable": "tests.tools.test_config.is_bias"},
        "weight_decay": 0.0,
    }


def test_round_trip_dict_spec_dict_with_names_and_tuples() -> None:
    written = {"class_path": "adamw", "init_args": {"lr": 0.001, "betas": (0.8, 0.9)}}
    spec = spec_from_dict(written)
    assert spec.optimizer is AdamW  # resolved when read
    canonical = spec_to_dict(spec)
    assert canonical == {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.001, "betas": [0.8, 0.9]}}
    assert spec_to_dict(spec_from_dict(canonical)) == canonical


def test_a_list_read_from_a_config_trains_like_the_tuple_declared_in_code() -> None:
    in_code = OptimizerSpec(Adam, lr=0.01, betas=(0.8, 0.9))
    from_config = spec_from_dict(spec_to_dict(in_code))
    assert from_config.kwargs["betas"] == [0.8, 0.9]
    histories = []
    for spec in (in_code, from_config):
        module = declared(spec)()
        fit(module, max_epochs=1)
        histories.append([p.detach().clone() for p in module.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*histories))


def not_module_level() -> Any:
    def local(name: str, param: torch.nn.Parameter) -> bool:
        return True

    return local


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (
            OptimizerSpec(Adam, params=lambda n, p: True),
            r"OptimizerSpec\.params: Expected a module-level function .* but got <function <lambda>.*"
            r"a lambda, a local function or a partial cannot be written to a config",
        ),
        (
            OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec("lambda", lr_lambda=[halve, lambda e: 1.0])),
            r"OptimizerSpec\.scheduler\.init_args\.lr_lambda\[1\]: Expected a module-level function",
        ),
        (
            OptimizerSpec(Adam, groups=[ParamGroup(not_module_level())]),
            r"OptimizerSpec\.groups\[0\]\.select: Expected a module-level function .*not_module_level.<loc",
        ),
        (
            OptimizerSpec(Adam, foo=torch.zeros(1)),
            r"OptimizerSpec\.init_args\.foo: Expected a value a config can hold .* but got tensor",
        ),
        (
            OptimizerSpec("adamm"),
            r"OptimizerSpec: Expected a known optimizer name .* but got 'adamm' \(did you mean `adam`\?\)",
        ),
    ],
    ids=["lambda selector", "lambda lr_lambda", "local function", "tensor", "unknown name"],
)
def test_to_dict_errors(spec: OptimizerSpec, match: str) -> None:
    with pytest.raises((TypeError, ValueError), match=match):
        spec_to_dict(spec)


def test_to_dict_names_the_declaring_attribute() -> None:
    with pytest.raises(TypeError, match=r"^GAN\.gen_opt\.params: Expected a module-level function"):
        spec_to_dict(OptimizerSpec(Adam, params=lambda n, p: True), where="GAN.gen_opt")


@pytest.mark.parametrize(
    ("data", "kind", "error", "match"),
    [
        (
            {"class_path": "os.system"},
            OptimizerSpec,
            TypeError,
            r"^OptimizerSpec: Expected `os\.system` to resolve to a torch\.optim\.Optimizer subclass but got "
            r"<built-in function system>",
        ),
        (
            {"class_path": "builtins.eval"},
            OptimizerSpec,
            TypeError,
            r"Expected `builtins\.eval` to resolve to a torch\.optim\.Optimizer subclass",
        ),
        (
            {"class_path": "subprocess.Popen"},
            SchedulerSpec,
            TypeError,
            r"Expected `subprocess\.Popen` to resolve to an LRScheduler subclass or ReduceLROnPlateau",
        ),
        (
            {"class_path": "torch.optim.Adam"},
            SchedulerSpec,
            TypeError,
            r"Expected `torch\.optim\.Adam` to resolve to an LRScheduler subclass",
        ),
        (
            {"class_path": "no_such_module.Optimizer"},
            OptimizerSpec,
            ValueError,
            r"cannot import module `no_such_module` of `no_such_module\.Optimizer`",
        ),
        (
            {"class_path": "sgdd"},
            OptimizerSpec,
            ValueError,
            r"Expected a known optimizer name or a dotted import path but got 'sgdd' \(did you mean `sgd`",
        ),
        (
            {"class_path": 42},
            OptimizerSpec,
            TypeError,
            r"Expected a torch\.optim\.Optimizer subclass, a name or a dotted import path but got 42",
        ),
        (
            {"class_path": "step", "intervl": "step"},
            SchedulerSpec,
            ValueError,
            r"Expected the keys of a SchedulerSpec config to be among .* but got 'intervl' "
            r"\(did you mean `interval`\?\)",
        ),
        (
            {"class_path": "adam", "lr": 0.1},
            OptimizerSpec,
            ValueError,
            r"but got 'lr'\. The optimizer's own arguments go under `init_args`\.",
        ),
        (
            {"init_args": {"lr": 0.1}},
            OptimizerSpec,
            ValueError,
            r"Expected a `class_path` key \(the optimizer class\)",
        ),
        (
            {"class_path": "adam", "init_args": [0.1]},
            OptimizerSpec,
            TypeError,
            r"Expected `init_args` to be a dict of Adam arguments but got \[0\.1\]",
        ),
        (
            {"class_path": "step", "init_args": {"step_size": 2, "interval": "step"}},
            SchedulerSpec,
            ValueError,
            r": Expected `interval` next to `class_path` but got it under `init_args`: it is an option of the "
            r"SchedulerSpec, not an argument of `StepLR`\.$",
        ),
        (
            {"class_path": "adam", "groups": {"select": "layer1"}},
            OptimizerSpec,
            TypeError,
            r"OptimizerSpec\.groups: Expected a list of param group dicts",
        ),
        (
            {"class_path": "adam", "groups": [{"lr": 0.1}]},
            OptimizerSpec,
            ValueError,
            r"OptimizerSpec\.groups\[0\]: Expected a `select` key",
        ),
        (
            {"class_path": "adam", "scheduler": {"class_path": "os.system"}},
            OptimizerSpec,
            TypeError,
            r"^OptimizerSpec\.scheduler: Expected `os\.system` to resolve to an LRScheduler subclass",
        ),
        (
            {"class_path": "adam", "params": {"callable": "os.system"}},
            OptimizerSpec,
            ValueError,
            r"OptimizerSpec\.params: Expected `callable` to be one of the allowed functions "
            r"\(`tests\.tools\.test_config\.halve`\) but got 'os\.system'\. .*calling a function named by a config "
            r"runs arbitrary code",
        ),
        (
            {
                "class_path": "lambda",
                "init_args": {"lr_lambda": {"callable": "tests.tools.test_config.halv"}},
            },
            SchedulerSpec,
            ValueError,
            r"allowed functions \(`tests\.tools\.test_config\.halve`\) but got 'tests\.tools\.test_config\.halv' "
            r"\(did you mean `tests\.tools\.test_config\.halve`\?\)",
        ),
        ([1, 2], OptimizerSpec, TypeError, r"OptimizerSpec: Expected a dict but got \[1, 2\]"),
        # near misses of the keys a config needs: a "did you mean" (was none)
        (
            {"class_path": "adam", "groups": [{"selct": "layer1", "lr": 0.1}]},
            OptimizerSpec,
            ValueError,
            r"Expected a `select` key .* but got \{'selct': 'layer1', 'lr': 0\.1\} \(`selct`: did you mean "
            r"`select`\?\)\.$",
        ),
        (
            {"clas_path": "step"},
            SchedulerSpec,
            ValueError,
            r"but got 'clas_path' \(did you mean `class_path`\?\)",
        ),
        # an HParam with a misspelt `default` was an `lr` dict, refused only by the optimizer's own checks
        (
            {"class_path": "adam", "init_args": {"lr": {"hparam": "lr", "defualt": 0.1}}},
            OptimizerSpec,
            ValueError,
            r"^OptimizerSpec\.init_args\.lr: Expected the keys of an HParam config to be `hparam` and `default` "
            r"but got 'defualt' \(did you mean `default`\?\)\.$",
        ),
    ],
)
def test_from_dict_errors(data: Any, kind: type, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        spec_from_dict(data, kind, allow_callables=[halve])


def test_allowed_callables_by_object_or_by_path() -> None:
    data = {"class_path": "adam", "params": {"callable": "tests.tools.test_config.is_bias"}}
    assert spec_from_dict(data, allow_callables=[is_bias]).params is is_bias
    assert spec_from_dict(data, allow_callables=["tests.tools.test_config.is_bias"]).params is is_bias


def test_a_number_yaml_1_1_reads_as_a_string_trains_as_the_cli_reads_it() -> None:
    # PyYAML's `safe_load` (YAML 1.1; cli.md's recipe for a saved config.yaml) reads `lr: 1e-3` as '1e-3', which
    # DeclarativeCLI reads as 0.001. `spec_from_dict` used to keep the string, and `with_declarations` refused it
    # with no hint at the cause: "Expected `lr` of `AdamW` to be float | Tensor but got '1e-3'"
    data = yaml.safe_load(
        "class_path: adamw\n"
        "init_args: {lr: 1e-3, eps: 1e-8, weight_decay: 5E-2}\n"
        "groups: [{select: model_gen.layer1, lr: 2e-3}]\n"
        "scheduler: {class_path: cosine, init_args: {eta_min: 1e-4}, interval: step}\n"
    )
    assert data["init_args"]["lr"] == "1e-3"
    in_code = OptimizerSpec(
        AdamW,
        lr=0.001,
        eps=1e-8,
        weight_decay=0.05,
        groups=[ParamGroup("model_gen.layer1", lr=0.002)],
        scheduler=SchedulerSpec(lr_scheduler.CosineAnnealingLR, eta_min=1e-4, interval="step"),
    )
    assert spec_to_dict(spec_from_dict(data)) == spec_to_dict(in_code)
    tuned, reference = with_declarations(Model, optimizer=data)(), declared(in_code, name="Model")()
    assert fit(tuned, max_epochs=2).history == fit(reference, max_epochs=2).history
    assert_same_weights(tuned, reference)


# with_declarations: a checked subclass carrying the overrides


class Model(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec("step", step_size=1, gamma=0.5))


def test_override_trains_like_the_same_declaration_written_in_code() -> None:
    tuned = with_declarations(
        Model,
        optimizer={
            "class_path": "torch.optim.SGD",
            "init_args": {"lr": 0.4},
            "scheduler": {"class_path": "step", "init_args": {"step_size": 2, "gamma": 0.1}},
        },
    )
    assert tuned is not Model and issubclass(tuned, Model) and tuned.__qualname__ == "Model"
    assert Model.optimizer.kwargs == {"lr": 0.1}  # the declared class is untouched

    class InCode(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(SGD, lr=0.4, scheduler=SchedulerSpec("step", step_size=2, gamma=0.1))

    ours, reference = fit(tuned(), max_epochs=4), fit(InCode(), max_epochs=4)
    # 4 batches per epoch; StepLR(step_size=2, gamma=0.1) per epoch: 0.4 for epochs 0-1, then 0.04.
    assert ours.of() == reference.of() == pytest.approx([0.4] * 8 + [0.04] * 8)
    assert spec_to_dict(declarations(tuned())["optimizer"]) == spec_to_dict(InCode.optimizer)


def test_declarations_of_a_compiled_module_are_the_module_s() -> None:
    # `torch.compile(model)` wraps the module (Lightning's fit trains it so): its declarations, not none
    model = Model()
    assert list(declarations(torch.compile(model))) == ["optimizer"]
    assert declarations(torch.compile(model)) == declarations(model) == declarations(Model)


def test_no_change_returns_the_declared_class() -> None:
    assert with_declarations(Model) is Model
    assert with_declarations(Model, optimizer=spec_to_dict(Model.optimizer)) is Model


@pytest.mark.parametrize(
    "bad",
    [
        OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec("step", step_size=1, lnterval="step")),
        OptimizerSpec(SGD, lr=-0.1),
        OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec("step", step_size=1, interval="stp")),
        OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec("step", step_size=1, frequency="two")),
        OptimizerSpec(SGD, lr=0.1, groups=[ParamGroup("layer1", lrr=0.5)]),
    ],
    ids=["unknown argument", "bad value", "bad interval", "bad frequency", "bad group option"],
)
def test_override_errors_are_the_errors_of_the_same_declaration_in_code(bad: OptimizerSpec) -> None:
    with pytest.raises((TypeError, ValueError)) as in_code:
        declared(bad, name="Model")
    assert str(in_code.value).startswith("Model.optimizer")
    with pytest.raises(type(in_code.value), match=re.escape(str(in_code.value))):
        with_declarations(Model, optimizer=spec_to_dict(bad))


def test_override_of_an_undeclared_attribute() -> None:
    with pytest.raises(
        ValueError,
        match=r"Model\.optimiser: Expected the name of a declared optimizer \(`optimizer`\) "
        r"but got 'optimiser' \(did you mean `optimizer`\?\)",
    ):
        with_declarations(Model, optimiser={"class_path": "adam"})
    with pytest.raises(
        TypeError, match=r"Expected a ConfigurableOptimizersMixin module class but got <class"
    ):
        with_declarations(Classifier, optimizer={"class_path": "adam"})


class LambdaRates(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(
        SGD,
        lr=0.1,
        groups=[ParamGroup("model_gen.layer1", lr=0.5)],
        scheduler=SchedulerSpec("lambda", lr_lambda=[lambda e: 0.9**e, lambda e: 0.95**e], interval="step"),
    )


#: How DeclarativeCLI saves LambdaRates' lambdas (to its config.yaml, with `--print_config`)
LAMBDAS = "LambdaRates.optimizer.scheduler.init_args.lr_lambda"


def saved_with_lambdas(*references: str) -> dict[str, Any]:
    return {
        "class_path": "sgd",
        "init_args": {"lr": 0.2},
        "groups": [{"select": "model_gen.layer1", "lr": 0.5}],
        "scheduler": {
            "class_path": "lambda",
            "init_args": {"lr_lambda": [{"in_code": where} for where in references]},
            "interval": "step",
        },
    }


def test_a_value_in_code_reads_back_as_the_declared_class_s_own() -> None:
    # `{in_code: ...}` used to reach the class check as a dict: "Expected `lr_lambda` of `LambdaLR` to be
    # Callable[[int], float] | list[Callable[[int], float]] but got [{'in_code': ...}, ...]"
    tuned = with_declarations(LambdaRates, optimizer=saved_with_lambdas(f"{LAMBDAS}[0]", f"{LAMBDAS}[1]"))
    assert (
        tuned.optimizer.scheduler.kwargs["lr_lambda"] == LambdaRates.optimizer.scheduler.kwargs["lr_lambda"]
    )
    assert spec_to_dict(tuned.optimizer, unwritable=kept) == {
        **spec_to_dict(LambdaRates.optimizer, unwritable=kept),
        "init_args": {"lr": 0.2},
    }


def kept(value: Any, where: str) -> Any:
    return value


def test_a_value_in_code_the_class_does_not_declare_is_refused() -> None:
    where = "LambdaRates.optimizer.scheduler.init_args.lr_lambda[1]"
    with pytest.raises(
        ValueError,
        match=rf"^{re.escape(where)}: Expected `in_code` to name a value declared in code \(`{re.escape(LAMBDAS)}"
        rf"\[0\]`, `{re.escape(LAMBDAS)}\[1\]`\) but got \{{'in_code': '{re.escape(LAMBDAS)}\[2\]'\}} "
        rf"\(did you mean `{re.escape(LAMBDAS)}\[.\]`\?\)\.$",
    ):
        with_declarations(LambdaRates, optimizer=saved_with_lambdas(f"{LAMBDAS}[0]", f"{LAMBDAS}[2]"))
    # without the class, `spec_from_dict` cannot read it, and says what can
    with pytest.raises(
        ValueError,
        match=r"^OptimizerSpec\.scheduler\.init_args\.lr_lambda\[0\]: Expected a value but got \{'in_code': .*\}, "
        r"which stands for a value in a module class's code: read it with `with_declarations\(<the module class>",
    ):
        spec_from_dict(saved_with_lambdas(f"{LAMBDAS}[0]"))


@pytest.mark.parametrize("kind", [OptimizerSpec, SchedulerSpec, ParamGroup], ids=lambda k: k.__name__)
def test_every_spec_field_is_a_keyword_option_the_conversion_carries(kind: type) -> None:
    # The conversion reads a spec's options from its signature; a field added any other way would be lost.
    head, rest = {OptimizerSpec: ("optimizer", "kwargs"), SchedulerSpec: ("scheduler", "kwargs")}.get(
        kind, ("select", "options")
    )
    assert {field.name for field in dataclasses.fields(kind)} == {head, rest, *spec_options(kind)}


def test_importing_the_package_does_not_import_the_cli() -> None:
    code = (
        "import sys, lightning_optim; print(sorted(m for m in sys.modules if m.startswith('jsonargparse')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"


def test_the_cli_without_jsonargparse_names_the_extra() -> None:
    # it was a bare "ModuleNotFoundError: No module named 'jsonargparse'" from the module's first lines
    code = (
        "import sys; sys.modules['jsonargparse'] = None  # not installed\n"
        "from lightning_optim.cli import DeclarativeCLI"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "ModuleNotFoundError: `lightning_optim.cli` (`DeclarativeCLI`) needs jsonargparse; install it with "
        "`pip install lightning-optim[cli]`."
    )


def test_overridden_module_pickles_and_copies() -> None:
    tuned = with_declarations(Model, optimizer={"class_path": "adam", "init_args": {"lr": 0.3}})
    assert (
        with_declarations(Model, optimizer={"class_path": "torch.optim.Adam", "init_args": {"lr": 0.3}})
        is tuned
    )
    module = tuned()
    assert type(copy.deepcopy(module)) is tuned
    data = pickle.dumps(module)
    _SUBCLASSES.clear()  # as in another process: the subclass is made again from the pickled overrides
    loaded = pickle.loads(data)
    assert type(loaded) is not tuned and type(loaded).__qualname__ == "Model" and isinstance(loaded, Model)
    assert spec_to_dict(type(loaded).optimizer) == spec_to_dict(tuned.optimizer)
    assert all(torch.equal(a, b) for a, b in zip(module.parameters(), loaded.parameters()))


#: A sweep point as a config gives it, and a project's own subclass of it, defined in code at module level
#: (importable by its own name): Lightning and pickle treat it as any module class.
TUNED = OptimizerSpec(SGD, lr=0.4, scheduler=SchedulerSpec("step", step_size=1, gamma=0.5))
Tuned = with_declarations(Model, optimizer=spec_to_dict(TUNED))


class Experiment(Tuned):  # type: ignore[misc,valid-type]
    def on_train_epoch_end(self) -> None:
        pass


class HandExperiment(Model):
    """``Experiment`` written by hand: the sweep point declared in the class body."""

    optimizer = TUNED

    def on_train_epoch_end(self) -> None:
        pass


def round_trip(obj: Any, how: str) -> Any:
    if how == "torch.save":
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        buffer.seek(0)
        return torch.load(buffer, weights_only=False)
    return pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL if how == "highest" else None))


@pytest.mark.parametrize("how", ["pickle", "highest", "torch.save"])
def test_a_subclass_of_an_overridden_class_pickles_by_its_own_name(how: str) -> None:
    """It was pickled as the ``with_declarations`` call of its base, which it is not: ``KeyError:
    '_lightning_optim_overrides'`` from ``torch.save(model)``, ``pickle`` and ``ddp_spawn``."""
    assert round_trip(Experiment, how) is Experiment
    module = Experiment()
    loaded = round_trip(module, how)
    assert type(loaded) is Experiment and type(copy.deepcopy(module)) is Experiment
    assert_same_weights(loaded, module)
    ours, reference = fit(loaded, max_epochs=2), fit(HandExperiment(), max_epochs=2)
    assert ours.of() == reference.of() == pytest.approx([0.4] * 4 + [0.2] * 4)
    # and overriding it again: made from the user's subclass, in another process too
    again = with_declarations(Experiment, optimizer=OptimizerSpec(SGD, lr=0.3))
    assert again.__mro__[1] is Experiment and round_trip(again, how) is again
    data = pickle.dumps(again())
    _SUBCLASSES.clear()  # as in another process: the subclass is made again from the pickled overrides
    remade = type(pickle.loads(data))
    assert remade is not again and remade.__mro__[1] is Experiment and remade.optimizer.kwargs == {"lr": 0.3}


@pytest.mark.slow  # spawning two processes that import torch and Lightning: 50 s on a shared 2-core CPU
@pytest.mark.xdist_group("ddp")
def test_a_subclass_of_an_overridden_class_trains_under_ddp_spawn() -> None:
    """``ddp_spawn`` pickles the module into each process (it crashed with the ``KeyError`` above). Both CPU
    processes read the same batches (no distributed sampler), so their averaged gradients are each one's: the
    weights that come back are those of the hand-written class trained in one process."""
    model, reference = Experiment(), HandExperiment()
    trainer = L.Trainer(
        **{**FAST, "devices": 2},
        strategy="ddp_spawn",
        use_distributed_sampler=False,
        max_epochs=2,
        limit_train_batches=2,
        callbacks=[DestroyProcessGroup()],
    )
    trainer.fit(model, loader())
    fit(reference, max_epochs=2, limit_train_batches=2)
    assert_same_weights(model, reference)
    assert any(not torch.equal(a, b) for a, b in zip(weights(model).values(), weights(Experiment()).values()))


class Task(ConfigurableOptimizersMixin, Classifier):
    def __init_subclass__(cls, *, task: str = "regression", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.task = task


class Required(ConfigurableOptimizersMixin, Classifier):
    def __init_subclass__(cls, *, task: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.task = task


class Classify(Task, task="classification"):
    optimizer = OptimizerSpec(SGD, lr=0.1)


class ClassifyRequired(Required, task="classification"):
    optimizer = OptimizerSpec(SGD, lr=0.1)


@pytest.mark.parametrize("declared", [Classify, ClassifyRequired], ids=["default", "required"])
def test_a_class_defined_with_class_keywords_is_refused_naming_the_way_out(declared: type) -> None:
    """The subclass is defined without the keywords (Python keeps no record of them): ``task`` silently went back
    to its default ("regression"), or a required one failed with the user's own ``TypeError``."""
    base = declared.__mro__[1].__qualname__
    with pytest.raises(
        TypeError,
        match=re.escape(
            f"{declared.__qualname__}: Expected a class whose `__init_subclass__` methods take no class keywords, "
            "as `with_declarations` defines its subclass without any (Python keeps no record of the keywords a "
            f"class was defined with), but got `{base}.__init_subclass__` taking `task`: it would get its default "
            "instead (or fail, if required). Declare the subclass by hand, with the keywords "
            f"`{declared.__name__}` is defined with: `class Tuned({declared.__name__}, task=...): optimizer = "
            "OptimizerSpec(...)`."
        ),
    ):
        with_declarations(declared, optimizer={"class_path": "sgd", "init_args": {"lr": 0.3}})
    assert with_declarations(declared, optimizer=spec_to_dict(declared.optimizer)) is declared  # nothing made

    class Tuned(declared, task="classification"):  # type: ignore[misc,valid-type,call-arg]
        optimizer = OptimizerSpec(SGD, lr=0.3)

    assert Tuned.task == declared.task == "classification"
    assert fit(Tuned(), max_epochs=1).of() == [0.3] * 4


def test_init_subclass_passing_keywords_on_is_accepted() -> None:
    # `**kwargs` (and Generic's `*args, **kwargs`) only pass keywords on: nothing is lost
    class Passes(ConfigurableOptimizersMixin, Classifier):
        def __init_subclass__(cls, *args: Any, **kwargs: Any) -> None:
            super().__init_subclass__(*args, **kwargs)

    class Declared(Passes):
        optimizer = OptimizerSpec(SGD, lr=0.1)

    tuned = with_declarations(Declared, optimizer=OptimizerSpec(SGD, lr=0.3))
    assert issubclass(tuned, Declared) and tuned.optimizer.kwargs == {"lr": 0.3}


def decay(epoch: int, rate: float) -> float:
    return rate**epoch


def functions_in_overrides() -> dict[str, OptimizerSpec]:
    """Declarations a config cannot hold: a lambda, a partial of a module-level function, a local class."""

    class LocalSGD(SGD):
        pass

    return {
        "lambda": OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec("lambda", lr_lambda=lambda e: 0.5**e)),
        "partial": OptimizerSpec(
            SGD, lr=0.1, scheduler=SchedulerSpec("lambda", lr_lambda=functools.partial(decay, rate=0.5))
        ),
        "local class": OptimizerSpec(
            LocalSGD, lr=0.1, scheduler=SchedulerSpec("step", step_size=1, gamma=0.5)
        ),
    }


#: What ``pickle`` gives a ``ddp_spawn`` worker: the module loaded in a fresh interpreter, then trained there.
LOAD_AND_FIT = """
import pickle, sys
from tests.helpers import fit
module = pickle.load(open(sys.argv[1], "rb"))
print(type(module).__qualname__, fit(module, max_epochs=3, limit_train_batches=1).of())
"""


@pytest.mark.parametrize("kind", ["lambda", "partial", "local class"])
def test_overridden_module_holding_functions_deep_copies_and_pickles(kind: str, tmp_path: Path) -> None:
    spec = functions_in_overrides()[kind]
    overridden = with_declarations(Model, optimizer=spec)
    in_code = type("Model", (Model,), {"optimizer": spec})
    assert type(copy.deepcopy(overridden())) is overridden
    # StochasticWeightAveraging deep-copies the module: the same run as the declaration in a class body
    runs = []
    for cls in (overridden, in_code):
        module = cls()
        swa = StochasticWeightAveraging(swa_lrs=0.05, swa_epoch_start=1)
        runs.append((module, fit(module, max_epochs=2, limit_train_batches=2, callbacks=[swa]).of()))
    (module, lrs), (reference, reference_lrs) = runs
    assert lrs == reference_lrs and lrs[:2] == [0.1, 0.1]
    assert_same_weights(module, reference)
    if kind != "partial":  # pickle's own refusal, as for any object holding a lambda or a local class
        with pytest.raises((pickle.PicklingError, AttributeError), match=r"local|lambda"):
            pickle.dumps(overridden())
        return
    path = tmp_path / "module.pkl"
    path.write_bytes(pickle.dumps(overridden()))
    ran = subprocess.run(
        [sys.executable, "-c", LOAD_AND_FIT, str(path)], capture_output=True, text=True, cwd=ROOT
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.split()[-4:] == ["Model", "[0.1,", "0.05,", "0.025]"]


def test_overriding_an_override_is_one_subclass_of_the_declared_class() -> None:
    first = with_declarations(Model, optimizer={"class_path": "adam", "init_args": {"lr": 0.3}})
    second = with_declarations(first, optimizer={"class_path": "adam", "init_args": {"lr": 0.2}})
    assert second.__mro__[1] is Model and second.optimizer.kwargs == {"lr": 0.2}
    assert type(pickle.loads(pickle.dumps(second()))) is second


# with_declarations made again: a function or class defined anew under its import path, and classes freed


@pytest.fixture
def notebook(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], types.ModuleType]:
    """Runs a notebook cell: its source in one importable module (as ``__main__`` is), each run defining its
    names again as new objects under the same import path, as a cell run again or ``importlib.reload`` does."""
    module = types.ModuleType("notebook_cell")
    monkeypatch.setitem(sys.modules, module.__name__, module)

    def run(source: str) -> types.ModuleType:
        exec(source, vars(module))
        return module

    return run


def made_again(
    notebook: Callable[[str], types.ModuleType],
    cell: str,
    values: tuple[object, object],
    override: Callable[[types.ModuleType], OptimizerSpec],
) -> tuple[type[Any], types.ModuleType]:
    """``with_declarations(Model, optimizer=override(cell))`` after the cell ran with each of ``values`` in
    turn: the class made the second time, and the cell's module."""
    with_declarations(Model, optimizer=override(notebook(cell.format(values[0]))))
    module = notebook(cell.format(values[1]))
    again = with_declarations(Model, optimizer=override(module))
    assert with_declarations(Model, optimizer=override(module)) is again  # the same overrides: the same class
    return again, module


LR_FN_CELL = "def lr_fn(step):\n    return {}**step"


def lambda_on_sgd(lr_lambda: Callable[[int], float]) -> OptimizerSpec:
    return OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec("lambda", lr_lambda=lr_lambda, interval="step"))


class HandLambda(Classifier):
    """``lambda_on_sgd`` written by hand."""

    def __init__(self, lr_lambda: Callable[[int], float]) -> None:
        super().__init__()
        self.lr_lambda = lr_lambda

    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=0.1)
        scheduler = lr_scheduler.LambdaLR(optimizer, self.lr_lambda)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def test_a_function_defined_again_trains_as_defined_again(
    notebook: Callable[[str], types.ModuleType],
) -> None:
    """A dict names a function by its import path, and the cache was keyed by dicts: the class made with the
    first function was returned and trained ``0.5**step`` instead of ``0.9**step``."""
    again, cell = made_again(notebook, LR_FN_CELL, (0.5, 0.9), lambda cell: lambda_on_sgd(cell.lr_fn))
    ours, reference = again(), HandLambda(cell.lr_fn)
    lrs = fit(ours, max_epochs=1).of()
    assert lrs == fit(reference, max_epochs=1).of() == pytest.approx([0.1, 0.09, 0.081, 0.0729])
    assert_same_weights(ours, reference)


SGD_CELL = """
import torch


class CellSGD(torch.optim.SGD):
    def __init__(self, params, lr=0.1, momentum={}):
        super().__init__(params, lr=lr, momentum=momentum)
"""


class HandMomentum(Classifier):
    def configure_optimizers(self) -> Any:
        return SGD(self.parameters(), lr=0.1, momentum=0.9)


def test_an_optimizer_class_defined_again_trains_as_defined_again(
    notebook: Callable[[str], types.ModuleType],
) -> None:
    """The class made with the first ``CellSGD`` (momentum 0.0) was returned and built it."""
    again, cell = made_again(notebook, SGD_CELL, (0.0, 0.9), lambda cell: OptimizerSpec(cell.CellSGD))
    ours, reference = again(), HandMomentum()
    fit(ours, max_epochs=2), fit(reference, max_epochs=2)
    optimizer = ours.trainer.optimizers[0]
    assert type(optimizer) is cell.CellSGD and optimizer.param_groups[0]["momentum"] == 0.9
    assert_same_weights(ours, reference)


PICK_CELL = "def pick(name, param):\n    return name.startswith('model_gen.{}.')"


class HandLayer2(Classifier):
    def configure_optimizers(self) -> Any:
        layer2 = list(self.model_gen.layer2.parameters())
        rest = [p for p in self.parameters() if all(p is not q for q in layer2)]
        return SGD([{"params": layer2, "lr": 0.5}, {"params": rest}], lr=0.1)


def test_a_selector_defined_again_selects_as_defined_again(
    notebook: Callable[[str], types.ModuleType],
) -> None:
    """The class made with the first ``pick`` (``layer1``) was returned: ``layer1`` trained at 0.5 instead of
    ``layer2``."""
    again, _ = made_again(
        notebook,
        PICK_CELL,
        ("layer1", "layer2"),
        lambda cell: OptimizerSpec(
            SGD, lr=0.1, groups=[ParamGroup(cell.pick, lr=0.5)], implementation="forloop"
        ),
    )
    ours, reference = again(), HandLayer2()
    fit(ours, max_epochs=2), fit(reference, max_epochs=2)
    group = ours.trainer.optimizers[0].param_groups[0]
    names = {id(param): name for name, param in ours.named_parameters()}
    assert group["lr"] == 0.5
    assert [names[id(param)] for param in group["params"]] == [
        "model_gen.layer2.weight",
        "model_gen.layer2.bias",
    ]
    assert_same_weights(ours, reference)


def test_a_class_made_again_pickles_as_itself(notebook: Callable[[str], types.ModuleType]) -> None:
    """The class returned after the function was defined again was the first one, whose function pickle refuses
    (not the object at its import path any more): neither the class nor its instances pickled."""
    first = with_declarations(Model, optimizer=lambda_on_sgd(notebook(LR_FN_CELL.format(0.5)).lr_fn))
    older = first()
    again = with_declarations(Model, optimizer=lambda_on_sgd(notebook(LR_FN_CELL.format(0.9)).lr_fn))
    assert round_trip(again, "pickle") is again
    loaded = round_trip(again(), "pickle")
    assert type(loaded) is again and fit(loaded, max_epochs=1).of() == pytest.approx(
        [0.1, 0.09, 0.081, 0.0729]
    )
    # the older instance keeps its class and function, as an instance of a class defined again in a notebook
    copied = copy.deepcopy(older)
    assert type(copied) is first and fit(copied, max_epochs=1).of() == pytest.approx(
        [0.1, 0.05, 0.025, 0.0125]
    )
    with pytest.raises(pickle.PicklingError, match=re.escape("not the same object as notebook_cell.lr_fn")):
        pickle.dumps(older)  # pickle's own refusal of that function, as for any object holding it


def collect() -> None:
    gc.collect()
    # the first collection frees an unused made class; the cache's entry for it, which held the declared class,
    # goes with it, and the second collection frees that
    gc.collect()


def test_a_made_class_is_freed_once_nothing_uses_it() -> None:
    """The cache held every class made, and the class each was made from, for the life of the process: a
    sweep's classes piled up, and a notebook class defined again stayed alive with what its body holds."""

    class Cell(ConfigurableOptimizersMixin, Classifier):  # a notebook cell's class, about to be defined again
        optimizer = OptimizerSpec(SGD, lr=0.1)

    made = with_declarations(Cell, optimizer=OptimizerSpec(SGD, lr=0.2))
    alive = [weakref.ref(Cell), weakref.ref(made)]
    del Cell, made
    collect()
    assert [ref() for ref in alive] == [None, None]


def test_a_made_class_in_use_by_an_instance_pickles_as_itself() -> None:
    module = with_declarations(Model, optimizer=OptimizerSpec(SGD, lr=0.2))()
    collect()  # no name holds the class: its instance keeps it, and its cache entry
    for how in ("pickle", "torch.save"):
        assert type(round_trip(module, how)) is type(module)
    assert with_declarations(Model, optimizer=OptimizerSpec(SGD, lr=0.2)) is type(module)
