"""``DeclarativeCLI``: declarations overridden from YAML and the command line, checked before any build.

The example scripts run as real subprocesses (both at once, to keep the wall time down); the mechanics and
the error messages are tested in-process with ``run=False``.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import pickle
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
import yaml
from jsonargparse import ActionConfigFile, ArgumentError, ArgumentParser
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser
from torch.optim import SGD, Adam, lr_scheduler

from lightning_optim import (
    ConfigurableOptimizersMixin,
    HParam,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    spec_from_dict,
    spec_to_dict,
    with_declarations,
)
from lightning_optim.cli import DeclarativeCLI
from lightning_optim.training.mixin import declared_specs
from tests.helpers import (
    FAST,
    Classifier,
    LrRecorder,
    TwoNets,
    VitLike,
    assert_same_weights,
    fit,
    fit_resumed,
    loader,
    needs_cli_extra,
    transformers_with_torch,
)

pytestmark = [
    needs_cli_extra,
    pytest.mark.filterwarnings("ignore:LightningCLI's args parameter is intended"),
]

ROOT = Path(__file__).resolve().parents[2]
CREATED: list[str] = []


#: ``ExponentialLR``'s arguments as the message lists them (torch < 2.7 also takes the deprecated ``verbose``)
EXPONENTIAL_ARGUMENTS = ", ".join(
    f"`{name}`"
    for name in inspect.signature(torch.optim.lr_scheduler.ExponentialLR).parameters
    if name != "optimizer"
)
#: ``StepLR``'s arguments as the message lists them (torch < 2.7 also takes the deprecated ``verbose``)
STEPLR_TAKES = ", ".join(
    f"`{name}`"
    for name in inspect.signature(torch.optim.lr_scheduler.StepLR).parameters
    if name != "optimizer"
)
#: What the refusal of a name a scheduler's `init_args` does not take says after its arguments.
SCHEDULER_OPTIONS_GO = (
    " under `init_args`; the SchedulerSpec's own options (`interval`, `frequency`, `monitor`, `strict`, `name`, "
    "`warmup`, `warmup_start_factor`, `unit`, `begin`, `end`, `param`) go next to `class_path` "
    "(`--optim.optimizer.scheduler.interval=step`)."
)


def head_only(name: str, param: torch.nn.Parameter) -> bool:
    return name.startswith("model_gen.layer2")


class Model(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec("step", step_size=1, gamma=0.5))

    def __init__(self) -> None:
        CREATED.append(type(self).__qualname__)
        super().__init__()


class GAN(ConfigurableOptimizersMixin, TwoNets):
    gen_opt = OptimizerSpec(
        Adam, params="model_gen", lr=0.01, scheduler=SchedulerSpec("exponential", gamma=0.99, interval="step")
    )
    dis_opt = OptimizerSpec(
        Adam, params="model_dis", lr=0.02, scheduler=SchedulerSpec("exponential", gamma=0.99)
    )


def cli(model_class: type, *args: str, **kwargs: Any) -> DeclarativeCLI:
    return DeclarativeCLI(model_class, args=list(args), run=False, trainer_defaults=FAST, **kwargs)


def cli_error(capsys: pytest.CaptureFixture[str], model_class: type, *args: str, **kwargs: Any) -> str:
    """The message of the one ``error:`` line the CLI exits with (status 2), as jsonargparse reports its own."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        cli(model_class, *args, **kwargs)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("error: ")]
    return line.removeprefix("error: ")


def jsonargparse_says(*args: str, key: str = "", subcommand: str = "") -> str:
    """What the installed jsonargparse itself says of the unknown command-line ``args``, or of a config setting
    ``key``, to a parser that takes nothing but ``--config`` (under ``subcommand``): the part of an error that
    is jsonargparse's own, which the package's hint follows. Its words differ between the versions the ``cli``
    extra admits (4.39 on: "Unrecognized arguments", "Validation failed: Key '...' is not expected")."""
    parser = target = ArgumentParser(exit_on_error=False)
    if subcommand:
        target = ArgumentParser(exit_on_error=False)
        parser.add_subcommands().add_subcommand(subcommand, target)
    target.add_argument("--config", action=ActionConfigFile)
    if key:
        nested: Any = "step"
        for part in reversed(key.split(".")):
            nested = {part: nested}
        args = (*args, "--config", json.dumps(nested))
    with pytest.raises(ArgumentError) as refused:
        parser.parse_args([subcommand, *args] if subcommand else list(args))
    return str(refused.value)


#: Stands for ``jsonargparse_says(*args)`` in an expected message
REFUSED = "<what jsonargparse says>"


# in-process: what the parser shows and what the model becomes


def test_print_config_shows_the_effective_declarations(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli(
            GAN,
            "--optim.gen_opt.init_args.lr=0.05",
            "--optim.dis_opt.scheduler.interval=step",
            "--print_config",
        )
    assert done.value.code == 0
    optim = yaml.safe_load(capsys.readouterr().out)["optim"]
    scheduler_defaults = {
        "frequency": 1,
        "monitor": None,
        "strict": True,
        "name": None,
        "warmup": None,
        "warmup_start_factor": None,
        "unit": None,
        "begin": None,
        "end": None,
        "param": "lr",
    }
    optimizer_defaults = {
        "no_decay": False,
        "layer_decay": None,
        "layer_decay_blocks": None,
        "layer_decay_rule": "beit",
        "layer_decay_min_scale": 0.0,
        "implementation": "auto",
        "skip_nonfinite": 0,
        "loss": None,
        "every": 1,
    }
    assert optim == {
        "gen_opt": {
            "class_path": "torch.optim.Adam",
            "init_args": {"lr": 0.05},
            "params": "model_gen",
            "groups": [],
            **optimizer_defaults,
            "scheduler": {
                "class_path": "torch.optim.lr_scheduler.ExponentialLR",
                "init_args": {"gamma": 0.99},
                "interval": "step",
                **scheduler_defaults,
            },
        },
        "dis_opt": {
            "class_path": "torch.optim.Adam",
            "init_args": {"lr": 0.02},
            "params": "model_dis",
            "groups": [],
            **optimizer_defaults,
            "scheduler": {
                "class_path": "torch.optim.lr_scheduler.ExponentialLR",
                "init_args": {"gamma": 0.99},
                "interval": "step",
                **scheduler_defaults,
            },
        },
    }


def test_no_override_keeps_the_declared_class() -> None:
    assert type(cli(Model).model) is Model


def test_a_config_dump_writing_a_length_as_null_trains_as_left_out(tmp_path: Path) -> None:
    """LightningCLI's ``--print_config`` writes every init_arg of a scheduler class at its default, a length left
    out as ``null`` (``OneCycleLR``'s ``total_steps: null`` beside ``epochs: null`` and ``steps_per_epoch:
    null``): from a config file it trains as the declaration in code leaving the length to the run, along
    torch's scheduler of the run's length (was: "You must define either total_steps OR (epochs AND
    steps_per_epoch)")."""
    skipped = ("optimizer", "last_epoch", "verbose")
    parameters = inspect.signature(lr_scheduler.OneCycleLR).parameters.items()
    dumped = {name: p.default for name, p in parameters if name not in skipped}
    assert dumped["total_steps"] is dumped["epochs"] is dumped["steps_per_epoch"] is None
    config = tmp_path / "config.yaml"
    scheduler = {
        "class_path": "torch.optim.lr_scheduler.OneCycleLR",
        "init_args": {**dumped, "max_lr": 0.5},
        "interval": "step",
    }
    optimizer = {
        "class_path": "torch.optim.SGD",
        "init_args": {"lr": 0.1, "momentum": 0.9},
        "scheduler": scheduler,
    }
    config.write_text(yaml.safe_dump({"optim": {"optimizer": optimizer}}))
    with pytest.warns(UserWarning, match="no effect: `OneCycleLR`"):
        model = cli(Model, "--config", str(config)).model

        class InCode(ConfigurableOptimizersMixin, Classifier):
            optimizer = OptimizerSpec(
                SGD, lr=0.1, momentum=0.9, scheduler=SchedulerSpec("onecycle", max_lr=0.5, interval="step")
            )

    ours, reference = fit(model, max_epochs=2), fit(InCode(), max_epochs=2)
    assert ours.history == reference.history
    optimizer = SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    torch_scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=0.5, total_steps=8)
    expected = []
    for _ in range(8):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        torch_scheduler.step()
    assert ours.of() == pytest.approx(expected, rel=1e-12)


def test_yaml_and_command_line_overrides_train_like_the_declaration_in_code(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "optim": {
                    "optimizer": {
                        "class_path": "torch.optim.SGD",
                        "init_args": {"lr": 0.3, "momentum": 0.9},
                        "groups": [{"select": "model_gen.layer1", "lr": 0.6, "name": "first"}],
                        "scheduler": {
                            "class_path": "exponential",
                            "init_args": {"gamma": 0.5},
                            "interval": "step",
                        },
                    }
                }
            }
        )
    )
    # the command line changes one argument and keeps the config's others (momentum)
    model = cli(Model, "--config", str(config), "--optim.optimizer.scheduler.frequency=2").model
    assert type(model).__qualname__ == "Model" and isinstance(model, Model)

    class InCode(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(
            SGD,
            lr=0.3,
            momentum=0.9,
            groups=[ParamGroup("model_gen.layer1", lr=0.6, name="first")],
            scheduler=SchedulerSpec("exponential", gamma=0.5, interval="step", frequency=2),
        )

    assert spec_to_dict(type(model).optimizer) == spec_to_dict(InCode.optimizer)
    ours, reference = fit(model, max_epochs=1), fit(InCode(), max_epochs=1)
    # 4 batches; ExponentialLR(0.5) stepped every 2nd optimizer step: group `first` 0.6, 0.6, 0.3, 0.3.
    assert ours.history == reference.history
    assert ours.of(0, 0) == pytest.approx([0.6, 0.6, 0.3, 0.3])
    assert ours.of(0, 1) == pytest.approx([0.3, 0.3, 0.15, 0.15])


def test_scheduler_removed_and_added_from_the_command_line() -> None:
    removed = cli(Model, "--optim.optimizer.scheduler.class_path=null").model
    assert type(removed).optimizer.scheduler is None
    added = cli(
        GAN,
        "--optim.gen_opt.scheduler.class_path=null",
        "--optim.dis_opt.scheduler.class_path=torch.optim.lr_scheduler.StepLR",
        "--optim.dis_opt.scheduler.init_args={step_size: 1, gamma: 0.1}",
    ).model
    assert type(added).gen_opt.scheduler is None
    assert spec_to_dict(type(added).dis_opt.scheduler) == {
        "class_path": "torch.optim.lr_scheduler.StepLR",
        "init_args": {"step_size": 1, "gamma": 0.1},
    }
    assert not added.automatic_optimization  # still two optimizers, still manual optimization


def test_a_removed_scheduler_as_the_cli_writes_it_reads_back_as_no_scheduler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    removed = type(cli(Model, "--optim.optimizer.scheduler.class_path=null").model).optimizer
    with pytest.raises(SystemExit) as done:
        cli(Model, "--optim.optimizer.scheduler.class_path=null", "--print_config")
    assert done.value.code == 0
    section = yaml.safe_load(capsys.readouterr().out)["optim"]["optimizer"]
    assert section["scheduler"]["class_path"] is None  # with the declared values left next to it
    assert spec_from_dict(section) == removed == OptimizerSpec(SGD, lr=0.1)
    assert with_declarations(Model, optimizer=section).optimizer == removed


#: a composite scheduler: its ``schedulers`` are ``{class_path, init_args}`` dicts inside ``init_args``
WARM_THEN_DECAY = SchedulerSpec(
    "sequential",
    schedulers=[
        SchedulerSpec("linear", start_factor=0.5, total_iters=2),
        SchedulerSpec("exponential", gamma=0.9),
    ],
    milestones=[2],
    interval="step",
)
HALVED_AND_DECAYED = SchedulerSpec(
    "chained",
    schedulers=[
        SchedulerSpec("constant", factor=0.5, total_iters=2),
        SchedulerSpec("exponential", gamma=0.9),
    ],
    interval="step",
)


class Sequential(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=WARM_THEN_DECAY)


class Chained(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=HALVED_AND_DECAYED)


class CompositeInAList(ConfigurableOptimizersMixin, Classifier):
    # the StepLR drives the weight decay: on the lr, the SequentialLR's milestone would restart its
    # ExponentialLR from its start, discarding the StepLR's factor (refused, tests/declaring/test_chained.py)
    optimizer = OptimizerSpec(
        SGD,
        lr=0.1,
        weight_decay=0.01,
        scheduler=[WARM_THEN_DECAY, SchedulerSpec("step", step_size=1, gamma=0.5, param="weight_decay")],
    )


class CompositeInTheSecond(ConfigurableOptimizersMixin, TwoNets):
    gen_opt = OptimizerSpec(
        SGD, params="model_gen", lr=0.1, scheduler=SchedulerSpec("exponential", gamma=0.5)
    )
    dis_opt = OptimizerSpec(SGD, params="model_dis", lr=0.2, scheduler=HALVED_AND_DECAYED)


class SequentialByHand(Classifier):
    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=0.1)
        warm = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.5, total_iters=2)
        decay = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
        scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, [warm, decay], milestones=[2])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class ChainedByHand(Classifier):
    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=0.1)
        halved = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=0.5, total_iters=2)
        decay = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
        scheduler = torch.optim.lr_scheduler.ChainedScheduler([halved, decay])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


@pytest.mark.parametrize(
    ("model_class", "by_hand"),
    [
        (Sequential, SequentialByHand),
        (Chained, ChainedByHand),
        (CompositeInAList, None),
        (CompositeInTheSecond, None),
    ],
    ids=["sequential", "chained", "in-a-list", "second-optimizer"],
)
def test_a_composite_scheduler_trains_prints_and_reruns_from_the_printed_config(
    model_class: type, by_hand: type | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # it used to stop with "`LinearLR` got an unexpected argument `optimizer`": jsonargparse took the inner
    # `{class_path, init_args}` for classes of its own and added their defaults (optimizer: null, last_epoch: -1)
    declared = declared_specs(model_class)
    model = cli(model_class).model
    assert type(model) is model_class
    trained = fit(model, max_epochs=2)
    assert trained.history == fit(model_class(), max_epochs=2).history
    if by_hand is not None:
        assert trained.history == fit(by_hand(), max_epochs=2).history
    with pytest.raises(SystemExit) as done:
        cli(model_class, "--print_config")
    assert done.value.code == 0
    printed = capsys.readouterr().out
    for name, spec in declared.items():
        written, expected = (
            yaml.safe_load(printed)["optim"][name]["scheduler"],
            spec_to_dict(spec)["scheduler"],
        )
        if isinstance(
            expected, dict
        ):  # a single scheduler's options are printed next to its class and arguments
            written = {key: written[key] for key in expected}
        assert written == expected  # no `optimizer: null`, `last_epoch: -1` added to the inner schedulers
    config = tmp_path / "config.yaml"
    config.write_text(printed)
    assert declared_specs(type(cli(model_class, "--config", str(config)).model)) == declared


def test_a_transformers_name_is_kept_from_the_declaration_the_command_line_and_the_printed_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    transformers_with_torch()

    class Tuned(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec("transformers/adafactor", lr=0.01)

    assert type(cli(Tuned).model) is Tuned  # nothing overridden: the name is the declared one
    changed = ["--optim.optimizer.class_path=transformers/adamw_torch"]
    expected = OptimizerSpec("transformers/adamw_torch", lr=0.01)
    model = cli(Tuned, *changed).model
    assert type(model).optimizer == expected
    with pytest.raises(SystemExit) as done:
        cli(Tuned, *changed, "--print_config")
    assert done.value.code == 0
    config = tmp_path / "config.yaml"
    config.write_text(capsys.readouterr().out)
    assert (
        yaml.safe_load(config.read_text())["optim"]["optimizer"]["class_path"] == "transformers/adamw_torch"
    )
    assert type(cli(Tuned, "--config", str(config)).model).optimizer == expected
    fit(model, max_steps=0)
    (group,) = model.trainer.optimizers[0].param_groups
    # transformers' arguments (weight_decay 0.0, torch's default implementation), not AdamW's own defaults
    assert (group["lr"], group["weight_decay"], group["fused"], group["foreach"]) == (0.01, 0.0, None, None)


def test_a_config_may_name_functions_the_declarations_use_or_the_cli_allows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Selecting(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(SGD, lr=0.1, groups=[ParamGroup(head_only, lr=0.5)])

    spec = type(cli(Selecting, "--optim.optimizer.init_args.lr=0.2").model).optimizer
    assert spec.groups[0].select is head_only and spec.kwargs == {"lr": 0.2}
    message = cli_error(capsys, Selecting, "--optim.optimizer.params={callable: os.system}")
    assert re.search(
        r"allowed functions \(`tests\.tools\.test_cli\.head_only`\) but got 'os\.system'", message
    )
    allowed = cli(
        Model,
        "--optim.optimizer.groups=[{select: {callable: tests.tools.test_cli.head_only}, lr: 0.5}]",
        allow_callables=[head_only],
    )
    assert type(allowed.model).optimizer.groups[0].select is head_only


def decayed(step: int, rate: float = 0.5) -> float:
    return rate**step


class TwoRates(ConfigurableOptimizersMixin, Classifier):  # API.md's, a lambda per group
    optimizer = OptimizerSpec(
        SGD,
        lr=0.1,
        groups=[ParamGroup("model_gen.layer1", lr=0.5), ParamGroup("model_gen.layer2", lr=0.1)],
        scheduler=SchedulerSpec("lambda", lr_lambda=[lambda e: 0.9**e, lambda e: 0.95**e], interval="step"),
    )


class TwoRatesByHand(Classifier):
    def configure_optimizers(self) -> Any:
        layers = self.model_gen
        optimizer = SGD(
            [{"params": layers.layer1.parameters(), "lr": 0.5}, {"params": layers.layer2.parameters()}],
            lr=0.1,
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, [lambda e: 0.9**e, lambda e: 0.95**e])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class PartialDecay(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(
        SGD, lr=0.1, scheduler=SchedulerSpec("lambda", lr_lambda=functools.partial(decayed, rate=0.9))
    )


class LambdaSelector(ConfigurableOptimizersMixin, Classifier):  # groups.md's PerLayer
    optimizer = OptimizerSpec(SGD, lr=0.1, groups=[ParamGroup(lambda n, p: n.endswith("bias"), lr=0.5)])


class TensorLr(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(SGD, lr=torch.tensor(0.1))


IN_CODE = {
    TwoRates: ("scheduler", "init_args", "lr_lambda", 0),
    PartialDecay: ("scheduler", "init_args", "lr_lambda"),
    LambdaSelector: ("groups", 0, "select"),
    TensorLr: ("init_args", "lr"),
}


@pytest.mark.parametrize("model_class", list(IN_CODE), ids=lambda cls: cls.__name__)
def test_a_value_a_config_cannot_hold_trains_from_code_and_prints_to_a_config_that_reruns(
    model_class: type, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the CLI used to stop at once: "Expected a module-level function (written to a config by its import path)"
    declared = declared_specs(model_class)
    model = cli(model_class).model
    assert type(model) is model_class
    trained = fit(model, max_epochs=2)
    assert trained.history == fit(model_class(), max_epochs=2).history
    if model_class is TwoRates:
        assert trained.history == fit(TwoRatesByHand(), max_epochs=2).history
    # the other values are still offered
    changed = type(cli(model_class, "--optim.optimizer.init_args.weight_decay=0.01").model).optimizer
    assert changed.kwargs["weight_decay"] == 0.01
    assert spec_to_dict(changed, unwritable=lambda value, where: value) == {
        **spec_to_dict(declared["optimizer"], unwritable=lambda value, where: value),
        "init_args": {**declared["optimizer"].kwargs, "weight_decay": 0.01},
    }
    with pytest.raises(SystemExit) as done:
        cli(model_class, "--print_config")
    assert done.value.code == 0
    printed = capsys.readouterr().out
    written = yaml.safe_load(printed)["optim"]["optimizer"]
    for part in IN_CODE[model_class]:
        written = written[part]
    where = f"{model_class.__qualname__}.optimizer." + ".".join(map(str, IN_CODE[model_class])).replace(
        ".0", "[0]"
    )
    assert written == {"in_code": where}
    config = tmp_path / "config.yaml"
    config.write_text(printed)
    rerun = cli(model_class, "--config", str(config)).model
    assert type(rerun) is model_class
    assert fit(rerun, max_epochs=2).history == trained.history


@pytest.mark.parametrize(
    ("model_class", "args", "value"),
    [
        (TwoRates, ["--optim.optimizer.scheduler.init_args.lr_lambda={callable: math.exp}"], "`<lambda>`"),
        (TwoRates, ["--optim.optimizer.scheduler.init_args={}"], "`<lambda>`"),
        (LambdaSelector, ["--optim.optimizer.groups=[{select: model_gen.layer1, lr: 0.5}]"], "`<lambda>`"),
        (TensorLr, ["--optim.optimizer.init_args.lr=0.2"], "tensor(0.1000)"),
    ],
    ids=["lr_lambda", "init_args", "groups", "tensor lr"],
)
def test_a_value_only_the_code_sets_is_refused_as_an_override(
    model_class: type, args: list[str], value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    where = f"{model_class.__qualname__}.optimizer." + ".".join(map(str, IN_CODE[model_class])).replace(
        ".0", "[0]"
    )
    message = cli_error(capsys, model_class, *args)
    assert message.startswith(
        f"{where}: Expected `{{in_code: {where}}}` (the value in code, {value}) but got "
    )
    assert "so this value can only be set in code" in message


def test_a_run_holding_values_in_code_resumes_outside_the_cli_as_cli_md_says(tmp_path: Path) -> None:
    # cli.md's recipe (`yaml.safe_load` the saved config.yaml, `with_declarations`, `load_from_checkpoint`) used
    # to fail on the lambdas the CLI saved as `{in_code: TwoRates.optimizer.scheduler.init_args.lr_lambda[0]}`:
    # "Expected `lr_lambda` of `LambdaLR` to be Callable[[int], float] | ... but got [{'in_code': ...}, ...]"
    recorder = LrRecorder()
    done = DeclarativeCLI(
        TwoRates,
        Data,
        args=["fit", "--optim.optimizer.init_args.lr=0.2", "--trainer.max_epochs=4"],
        trainer_defaults={
            **FAST,
            "default_root_dir": str(tmp_path),
            "enable_checkpointing": True,
            "callbacks": [recorder, ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1)],
        },
    )
    with open(tmp_path / "config.yaml") as file:
        optim = yaml.safe_load(file)["optim"]
    assert optim["optimizer"]["scheduler"]["init_args"]["lr_lambda"][1] == {
        "in_code": "TwoRates.optimizer.scheduler.init_args.lr_lambda[1]"
    }
    trained = with_declarations(TwoRates, **optim)
    assert trained.optimizer == type(done.model).optimizer  # the lambdas themselves, at lr 0.2
    path = str(tmp_path / "ckpt" / "epoch=1-step=8.ckpt")
    resumed = trained.load_from_checkpoint(path)
    rest = fit_resumed(resumed, path, max_epochs=4)
    assert len(recorder.history) == 16
    assert rest.history == recorder.history[8:]
    assert len(set(map(str, recorder.history))) > 1, "the schedule must move for the test to mean anything"
    assert_same_weights(done.model, resumed)


class FromHparams(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(
        SGD,
        lr=HParam("lr"),
        scheduler=SchedulerSpec("step", step_size=1, gamma=HParam("gamma", default=0.5), interval="step"),
    )

    def __init__(self, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--model.lr=0.5", "--optim.optimizer.init_args.lr=0.03"],
            "FromHparams.optimizer.init_args.lr: Expected `{hparam: lr}` as declared (the value is read from "
            "hparam `lr` when fit starts) but got 0.03; set the hparam instead: `--model.lr=0.03`.",
        ),
        (
            ["--optim.optimizer.init_args={momentum: 0.9}"],
            "FromHparams.optimizer.init_args.lr: Expected `{hparam: lr}` as declared (the value is read from "
            "hparam `lr` when fit starts) but got it left out; set the hparam instead: `--model.lr=<value>`.",
        ),
        (
            ["--optim.optimizer.scheduler.init_args.gamma=0.1"],
            "FromHparams.optimizer.scheduler.init_args.gamma: Expected `{hparam: gamma, default: 0.5}` as "
            "declared (the value is read from hparam `gamma` when fit starts) but got 0.1; set the hparam instead: "
            "`gamma` of the module (an attribute or an hparam).",
        ),
    ],
    ids=["next to --model.lr", "init_args without it", "not an init argument"],
)
def test_an_override_of_a_value_read_from_an_hparam_is_refused_naming_the_hparam(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # it used to train at the override while `hparams` (loggers, the checkpoint) held the hparam's value
    assert cli_error(capsys, FromHparams, *args) == expected


def test_the_hparam_is_set_from_the_command_line_and_the_printed_config_reruns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = cli(FromHparams, "--model.lr=0.5").model
    assert type(model) is FromHparams and model.hparams["lr"] == 0.5
    trained = fit(model, max_epochs=1)
    assert trained.history == fit(FromHparams(lr=0.5), max_epochs=1).history
    assert trained.of(0, 0) == pytest.approx([0.5, 0.25, 0.125, 0.0625])
    with pytest.raises(SystemExit) as done:
        cli(FromHparams, "--model.lr=0.5", "--print_config")
    assert done.value.code == 0
    printed = capsys.readouterr().out
    assert yaml.safe_load(printed)["optim"]["optimizer"]["init_args"] == {"lr": {"hparam": "lr"}}
    config = tmp_path / "config.yaml"
    config.write_text(printed)
    rerun = cli(FromHparams, "--config", str(config)).model
    assert type(rerun) is FromHparams and rerun.hparams["lr"] == 0.5
    assert fit(rerun, max_epochs=1).history == trained.history


class TwoSchedulers(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(
        SGD,
        lr=0.1,
        scheduler=[
            SchedulerSpec("step", step_size=1, gamma=0.5),
            SchedulerSpec("exponential", gamma=0.9, interval="step"),
        ],
    )


#: ``TwoSchedulers``'s list as the message shows it
TWO_SCHEDULERS = (
    "[{class_path: torch.optim.lr_scheduler.StepLR, init_args: {step_size: 1, gamma: 0.5}}, "
    "{class_path: torch.optim.lr_scheduler.ExponentialLR, init_args: {gamma: 0.9}, interval: step}]"
)


@pytest.mark.parametrize(
    "arg",
    [
        "--optim.optimizer.scheduler.interval=epoch",
        "--optim.optimizer.scheduler.warmup=3",
        "--optim.optimizer.scheduler.init_args.gamma=0.1",
    ],
)
def test_a_dotted_override_into_a_declared_list_of_schedulers_is_refused(
    arg: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # jsonargparse used to apply it to the last scheduler only (`init_args.gamma`: "go under init_args")
    key = arg.partition("=")[0]
    assert cli_error(capsys, TwoSchedulers, arg) == (
        f"TwoSchedulers.optimizer.scheduler: Expected the list of schedulers set as a whole but got `{key}`, "
        "a key into it, which would change its last scheduler only. Set the whole list: on the command line "
        f"`--optim.optimizer.scheduler='{TWO_SCHEDULERS}'` (changed where needed, after `--config`), in a "
        "config file `scheduler:` under `optim.optimizer` as a list of these (as `--print_config` writes it)."
    )


def test_a_declared_list_of_schedulers_set_as_a_whole_trains_as_declared_in_code(tmp_path: Path) -> None:
    class EpochFirst(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(
            SGD,
            lr=0.1,
            scheduler=[
                SchedulerSpec("step", step_size=1, gamma=0.5, interval="step"),
                SchedulerSpec("exponential", gamma=0.9, interval="step", warmup=2),
            ],
        )

    changed = TWO_SCHEDULERS.replace("gamma: 0.5}}", "gamma: 0.5}, interval: step}").replace(
        "interval: step}]", "interval: step, warmup: 2}]"
    )
    expected = fit(EpochFirst(), max_epochs=1).history
    from_command_line = cli(TwoSchedulers, f"--optim.optimizer.scheduler={changed}").model
    assert spec_to_dict(type(from_command_line).optimizer) == spec_to_dict(EpochFirst.optimizer)
    assert fit(from_command_line, max_epochs=1).history == expected
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"optim": {"optimizer": {"scheduler": yaml.safe_load(changed)}}}))
    from_config = cli(TwoSchedulers, "--config", str(config)).model
    assert fit(from_config, max_epochs=1).history == expected


class NoScheduler(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(SGD, lr=0.1)


class OneExponential(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec("exponential", gamma=0.5, interval="step"))


#: ``OneExponential``'s scheduler, and no scheduler, as a config writes them
ONE_EXPONENTIAL = "{class_path: exponential, init_args: {gamma: 0.5}, interval: step}"
NONE = "{class_path: null}"


def printed_and_rerun(
    capsys: pytest.CaptureFixture[str], model_class: type, tmp_path: Path, *args: str
) -> dict[str, Any]:
    """The declaration the CLI trains for ``args``, after checking that its ``--print_config`` reruns to it."""
    trained = spec_to_dict(type(cli(model_class, *args).model).optimizer)
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        cli(model_class, *args, "--print_config")
    assert done.value.code == 0
    printed = tmp_path / "printed.yaml"
    printed.write_text(capsys.readouterr().out)
    assert spec_to_dict(type(cli(model_class, "--config", str(printed)).model).optimizer) == trained
    return trained


@pytest.mark.parametrize(
    ("scheduler", "expected"), [(NONE, NoScheduler), (ONE_EXPONENTIAL, OneExponential)], ids=["none", "one"]
)
def test_a_declared_list_of_schedulers_is_replaced_by_one_or_none(
    scheduler: str, expected: type, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`scheduler: {class_path: null}` (the guide's way to remove one) and a single scheduler dict, which
    `with_declarations` reads for a module declaring a list, were refused by the parser with jsonargparse's
    "Does not validate against any of the Union subtypes": from a config file and the command line they now
    train as declared in code, and the printed config reruns to the same declaration."""
    reference = fit(expected(), max_epochs=1).history
    config = tmp_path / "config.yaml"
    config.write_text(f"optim:\n  optimizer:\n    scheduler: {scheduler}\n")
    for args in (["--config", str(config)], [f"--optim.optimizer.scheduler={scheduler}"]):
        trained = printed_and_rerun(capsys, TwoSchedulers, tmp_path, *args)
        assert trained == spec_to_dict(expected.optimizer)
        assert fit(cli(TwoSchedulers, *args).model, max_epochs=1).history == reference
    assert spec_to_dict(
        with_declarations(TwoSchedulers, optimizer=spec_to_dict(expected.optimizer)).optimizer
    ) == (spec_to_dict(expected.optimizer))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(TWO_SCHEDULERS, TwoSchedulers), ("null", NoScheduler), (ONE_EXPONENTIAL, OneExponential)],
    ids=["list", "null", "one"],
)
def test_a_declared_scheduler_is_set_whole_on_the_command_line(
    value: str, expected: type, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--optim.optimizer.scheduler='[...]'` (the guide's spelling of a list) and `=null` on a module declaring
    one scheduler got argparse's "ambiguous option: ... could match --optim.optimizer.scheduler.class_path, ...":
    they are read as a config file's `scheduler:`, and train as declared in code, under a subcommand too."""
    reference = fit(expected(), max_epochs=1).history
    for args in ([f"--optim.optimizer.scheduler={value}"], ["--optim.optimizer.scheduler", value]):
        assert printed_and_rerun(capsys, Model, tmp_path, *args) == spec_to_dict(expected.optimizer)
        assert fit(cli(Model, *args).model, max_epochs=1).history == reference
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        DeclarativeCLI(Model, args=["fit", f"--optim.optimizer.scheduler={value}", "--print_config"])
    assert done.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)["optim"]["optimizer"]
    assert spec_to_dict(spec_from_dict(printed)) == spec_to_dict(expected.optimizer)


def test_a_scheduler_given_whole_as_another_value_is_one_error_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli_error(capsys, Model, "--optim.optimizer.scheduler=cosine") == (
        "Model.optimizer.scheduler: Expected `--optim.optimizer.scheduler` to be a list of schedulers "
        "(`[{class_path: ..., init_args: {...}}, ...]`), one scheduler (`{class_path: ..., init_args: {...}}`) or "
        "null but got 'cosine' (did you mean `--optim.optimizer.scheduler.class_path=cosine`?)."
    )


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (
            ["--optim.optimizer.class_path=os.system"],
            TypeError,
            r"^Model\.optimizer: Expected `os\.system` to resolve to a torch\.optim\.Optimizer subclass",
        ),
        (
            ["--optim.optimizer.class_path=builtins.eval"],
            TypeError,
            r"^Model\.optimizer: Expected `builtins\.eval` to resolve to a torch\.optim\.Optimizer subclass",
        ),
        (
            ["--optim.optimizer.scheduler.class_path=torch.optim.SGD"],
            TypeError,
            r"^Model\.optimizer\.scheduler: Expected `torch\.optim\.SGD` to resolve to an LRScheduler",
        ),
        (
            ["--optim.optimizer.scheduler.init_args.lnterval=step"],
            TypeError,
            r"^Model\.optimizer\.scheduler: `StepLR` does not take `lnterval` \(did you mean `interval`\?\), found in "
            r"`init_args`\. `StepLR` takes "
            + re.escape(STEPLR_TAKES)
            + r" under `init_args`; the SchedulerSpec's "
            r"own options \(`interval`, ",
        ),
        (
            ["--optim.optimizer.scheduler.init_args.interval=step"],
            ValueError,
            r"^Model\.optimizer\.scheduler: Expected `interval` next to `class_path` but got it under "
            r"`init_args`: it is an option of the SchedulerSpec, not an argument of `StepLR`\.$",
        ),
        (
            ["--optim.optimizer.scheduler.interval=stp"],
            ValueError,
            r"^Model\.optimizer\.scheduler: Expected `interval` to be one of `step`, `epoch` but got 'stp' "
            r"\(did you mean `step`\?\)",
        ),
        (
            ["--optim.optimizer.scheduler.frequency=two"],
            TypeError,
            r"Expected `frequency` to be a positive int but got 'two'",
        ),
        (
            ["--optim.optimizer.init_args.lr=-1"],
            ValueError,
            r"^Model\.optimizer: `SGD` rejected the declared options: Invalid learning rate: -1",
        ),
        (
            ["--optim.optimizer.groups=[{select: model_gen.layer1, lrr: 0.5}]"],
            ValueError,
            r"^Model\.optimizer\.groups\[0\]: `lrr` is not a per-group option of `SGD` \(did you mean `lr`",
        ),
        (
            ["--optim.optimizer.class_path=null"],
            ValueError,
            r"^Model\.optimizer: Expected `class_path` to name an optimizer class but got None",
        ),
        (
            ["--optim.optimizer.scheduler.class_path=null", "--optim.optimizer.scheduler.interval=step"],
            ValueError,
            r"^Model\.optimizer\.scheduler: Expected `class_path` to name a scheduler class when `interval` "
            r"is set but got None",
        ),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else "",
)
def test_bad_values_fail_with_the_declaration_errors_before_anything_is_built(
    args: list[str], error: type[Exception], match: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The declaration's own message (of a ``TypeError`` or ``ValueError`` in code) as one ``error:`` line."""
    CREATED.clear()
    assert re.search(match, cli_error(capsys, Model, *args))
    assert CREATED == []  # the model was never instantiated


def test_bad_class_path_from_a_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "optim:\n  optimizer:\n    class_path: os.system\n    init_args: {command: 'touch pwned'}\n"
    )
    CREATED.clear()
    message = cli_error(capsys, Model, "--config", str(config))
    assert message.startswith("Model.optimizer: Expected `os.system` to resolve to a torch.optim")
    assert CREATED == [] and not (tmp_path / "pwned").exists()


def test_unknown_key_in_a_config_is_refused_by_the_parser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("optim:\n  optimizer:\n    scheduler:\n      intervl: step\n")
    assert cli_error(capsys, Model, "--config", str(config)) == (
        jsonargparse_says(key="optim.optimizer.scheduler.intervl")
        + " (did you mean `optim.optimizer.scheduler.interval`?)"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (  # a mistyped section
            ["--optim.optimzer.init_args.lr=0.1"],
            f"{REFUSED} (did you mean `--optim.optimizer.init_args.lr`?)",
        ),
        (  # a mistyped option
            ["--optim.optimizer.scheduler.intervl=step"],
            f"{REFUSED} (did you mean `--optim.optimizer.scheduler.interval`?)",
        ),
        (  # Lightning's own flags, in this CLI's spelling
            ["--optimizer=torch.optim.Adam", "--optimizer.lr=0.1", "--lr_scheduler=StepLR"],
            f"{REFUSED} (`--optimizer` is LightningCLI's, for an optimizer without declarations: here "
            "`--optim.optimizer.class_path=torch.optim.Adam`; `--optimizer.lr` is LightningCLI's, for an optimizer "
            "without declarations: here `--optim.optimizer.init_args.lr=0.1`; `--lr_scheduler` is LightningCLI's, "
            "for an optimizer without declarations: here `--optim.optimizer.scheduler.class_path=StepLR`)",
        ),
        (  # a mistyped class name
            ["--optim.optimizer.scheduler.class_path=CosineAnealingLR"],
            "Model.optimizer.scheduler: Expected a known scheduler name or a dotted import path but got "
            "'CosineAnealingLR' (did you mean `CosineAnnealingLR`?). Known names: ",
        ),
        (  # a mistyped class path
            ["--optim.optimizer.scheduler.class_path=torch.optim.lr_scheduler.CosineAnealingLR"],
            "Model.optimizer.scheduler: module `torch.optim.lr_scheduler` has no attribute `CosineAnealingLR` (did "
            "you mean `CosineAnnealingLR`?) (from `torch.optim.lr_scheduler.CosineAnealingLR`)",
        ),
        (  # init_args replaced together with the class: a misspelling of its own, not a leftover
            [
                "--optim.optimizer.scheduler.class_path=exponential",
                "--optim.optimizer.scheduler.init_args={gama: 0.9}",
            ],
            "Model.optimizer.scheduler: `ExponentialLR` does not take `gama` (did you mean `gamma`?), found in "
            f"`init_args`. `ExponentialLR` takes {EXPONENTIAL_ARGUMENTS}{SCHEDULER_OPTIONS_GO}",
        ),
    ],
    ids=["section", "option", "lightning-flags", "class-name", "class-path", "init-args-replaced"],
)
def test_mistakes_are_one_error_line_with_a_near_miss(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    CREATED.clear()
    assert cli_error(capsys, Model, *args).startswith(expected.replace(REFUSED, jsonargparse_says(*args)))
    assert CREATED == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--optim.optimizer.scheduler.init_args.gama=0.9"],
            "Model.optimizer.scheduler: `StepLR` does not take `gama` (did you mean `gamma`?), found in `init_args`. "
            f"`StepLR` takes {STEPLR_TAKES}" + SCHEDULER_OPTIONS_GO,
        ),
        (
            ["--optim.optimizer.init_args.momentun=0.9"],
            "Model.optimizer: `SGD` does not take `momentun` (did you mean `momentum`?), found in `init_args`. `SGD` "
            "takes `lr`, `momentum`, `dampening`, `weight_decay`, `nesterov`, ",
        ),
    ],
    ids=["scheduler", "optimizer"],
)
def test_a_name_the_declared_class_does_not_take_under_init_args_lists_only_what_init_args_takes(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A misspelling under the declared class's ``init_args`` was told "Accepted arguments: ..., `interval`,
    `frequency`, `warmup`, ...", the spec's options too, which are refused under ``init_args``: it lists only
    the class's arguments and says where the spec's options go, and there they are taken."""
    assert cli_error(capsys, Model, *args).startswith(expected)
    if "scheduler" in args[0]:
        assert cli_error(capsys, Model, *args).endswith(SCHEDULER_OPTIONS_GO)
        scheduler = cli(Model, "--optim.optimizer.scheduler.interval=step").model.optimizer.scheduler
        assert (scheduler.interval, scheduler.kwargs) == ("step", {"step_size": 1, "gamma": 0.5})
    else:
        assert cli_error(capsys, Model, *args).endswith(
            "go next to `class_path` (`--optim.optimizer.no_decay=true`)."
        )


def test_a_config_file_gets_the_same_hints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("optimizer:\n  class_path: torch.optim.Adam\n")
    assert cli_error(capsys, GAN, "--config", str(config)) == jsonargparse_says(
        key="optimizer.class_path"
    ) + (
        " (`optimizer.class_path` is LightningCLI's, for an optimizer without declarations: here "
        "`optim.<attribute>.class_path` (<attribute>: one of `gen_opt`, `dis_opt`))"
    )
    # init_args replaced in a config together with the class: no "changing only class_path" advice
    config.write_text(
        "optim:\n  optimizer:\n    scheduler:\n      class_path: exponential\n      init_args: {gama: 0.9}\n"
    )
    assert cli_error(capsys, Model, "--config", str(config)) == (
        "Model.optimizer.scheduler: `ExponentialLR` does not take `gama` (did you mean `gamma`?), found in "
        f"`init_args`. `ExponentialLR` takes {EXPONENTIAL_ARGUMENTS}{SCHEDULER_OPTIONS_GO}"
    )


def test_a_subcommand_reports_the_same_way(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        DeclarativeCLI(Model, args=["fit", "--optim.optimizer.scheduler.intervl=step"], trainer_defaults=FAST)
    err = capsys.readouterr().err
    assert done.value.code == 2 and "Traceback" not in err
    assert err.splitlines()[-1] == (
        f"error: {jsonargparse_says('--optim.optimizer.scheduler.intervl=step', subcommand='fit')} (did you mean "
        "`--optim.optimizer.scheduler.interval`?)"
    )


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (  # a mistyped section
            "optim:\n  optimzer:\n    init_args: {lr: 0.1}\n",
            "'optim.optimzer.init_args.lr' (did you mean `optim.optimizer.init_args.lr`?)",
        ),
        (  # a mistyped top-level section
            "optm:\n  optimizer:\n    init_args: {lr: 0.1}\n",
            "'optm.optimizer.init_args.lr' (did you mean `optim.optimizer.init_args.lr`?)",
        ),
        (  # a mistyped option
            "optim:\n  optimizer:\n    scheduler:\n      intervl: step\n",
            "'optim.optimizer.scheduler.intervl' (did you mean `optim.optimizer.scheduler.interval`?)",
        ),
        (  # a mistyped class
            "optim:\n  optimizer:\n    scheduler:\n      clas_path: cosine\n",
            "'optim.optimizer.scheduler.clas_path' (did you mean `optim.optimizer.scheduler.class_path`?)",
        ),
    ],
    ids=["section", "top-section", "option", "class"],
)
def test_a_subcommand_config_file_gets_the_same_hints(
    config: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # it used to be jsonargparse's bare "Subcommand 'fit' does not accept option '...'", with no near miss
    path = tmp_path / "config.yaml"
    path.write_text(config)
    with pytest.raises(SystemExit) as done:
        DeclarativeCLI(Model, args=["fit", "--config", str(path)], trainer_defaults=FAST)
    err = capsys.readouterr().err
    assert done.value.code == 2 and "Traceback" not in err
    assert err.splitlines()[-1].endswith(expected)


def _arguments_of(cls: type) -> list[str]:
    """What a declaration of ``cls`` may set under ``init_args``: its arguments but the one the mixin fills."""
    return [name for name in inspect.signature(cls).parameters if name not in ("params", "optimizer")]


#: optimizer and scheduler pairs whose every argument is written next to `class_path`, as LightningCLI takes
#: `--optimizer.weight_decay`; a scheduler's own arguments as declared (the ones it needs)
NEXT_TO_CLASS_PATH = [
    (torch.optim.AdamW, SchedulerSpec(lr_scheduler.LinearLR, total_iters=4, interval="step")),
    (torch.optim.SGD, SchedulerSpec(lr_scheduler.OneCycleLR, max_lr=0.1, interval="step")),
]


@pytest.mark.parametrize(
    ("optimizer_class", "scheduler"), NEXT_TO_CLASS_PATH, ids=[o.__name__ for o, _ in NEXT_TO_CLASS_PATH]
)
def test_a_class_argument_next_to_class_path_is_told_its_init_args_spelling(
    optimizer_class: type, scheduler: SchedulerSpec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every argument of the section's class written without `init_args.` is told the `init_args` spelling, on
    the command line and in a config file. It used to be told an option of the package merely spelled close to
    it (`weight_decay` -> `layer_decay`, `start_factor` -> `warmup_start_factor`, `last_epoch` -> `class_path`),
    which trains something else, or nothing (`lr`, `eta_min`)."""

    class Declared(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(optimizer_class, scheduler=scheduler)

    config = tmp_path / "config.yaml"
    for section, cls in (
        ("optim.optimizer", optimizer_class),
        ("optim.optimizer.scheduler", scheduler.scheduler),
    ):
        for name in _arguments_of(cls):
            why = f"`{name}` is an argument of `{cls.__name__}`, which goes under `init_args`: did you mean"
            assert cli_error(capsys, Declared, f"--{section}.{name}=1") == (
                f"{jsonargparse_says(f'--{section}.{name}=1')} ({why} `--{section}.init_args.{name}=1`?)"
            )
            nested: dict[str, Any] = {name: 1}
            for part in reversed(section.split(".")):
                nested = {part: nested}
            config.write_text(yaml.safe_dump(nested))
            assert cli_error(capsys, Declared, "--config", str(config)) == (
                f"{jsonargparse_says(key=f'{section}.{name}')} ({why} `{section}.init_args.{name}`?)"
            )


class LayerDecayed(ConfigurableOptimizersMixin, VitLike):  # the hunter's fine-tuning module
    optimizer = OptimizerSpec(
        "adamw",
        lr=0.01,
        weight_decay=0.05,
        layer_decay=0.75,
        layer_decay_blocks="blocks",
        scheduler=SchedulerSpec("cosine", interval="step"),
    )


class LayerDecayedMore(LayerDecayed):
    optimizer = OptimizerSpec(
        "adamw",
        lr=0.01,
        weight_decay=0.1,
        layer_decay=0.75,
        layer_decay_blocks="blocks",
        scheduler=SchedulerSpec("cosine", interval="step"),
    )


def test_following_the_hint_for_weight_decay_next_to_class_path_trains_that_weight_decay(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--optim.optimizer.weight_decay=0.1` was told `--optim.optimizer.layer_decay`, which the parser takes and
    trains with the earlier blocks at a far lower lr and the weight decay unchanged: the hint is now the
    `init_args` spelling, and following it trains as the weight decay declared in code."""
    message = cli_error(capsys, LayerDecayed, "--optim.optimizer.weight_decay=0.1")
    assert "layer_decay" not in message
    hinted = re.search(r"did you mean `(?P<arg>[^`]+)`\?\)$", message)
    assert hinted is not None and hinted["arg"] == "--optim.optimizer.init_args.weight_decay=0.1"
    followed = cli(LayerDecayed, hinted["arg"]).model
    assert spec_to_dict(type(followed).optimizer) == spec_to_dict(LayerDecayedMore.optimizer)
    expected = LayerDecayedMore()
    assert fit(followed, max_epochs=1).history == fit(expected, max_epochs=1).history
    assert_same_weights(followed, expected)


def test_the_hint_reads_the_arguments_of_the_class_path_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `class_path` given on the command line or in a config file, not the declared one, tells which arguments
    go under `init_args`; a misspelt argument is told the closest one, never an option merely spelled close."""
    why = "`momentum` is an argument of `SGD`, which goes under `init_args`: did you mean"
    assert cli_error(
        capsys, LayerDecayed, "--optim.optimizer.class_path", "sgd", "--optim.optimizer.momentum=0.9"
    ) == (
        f"{jsonargparse_says('--optim.optimizer.momentum=0.9')} ({why} `--optim.optimizer.init_args.momentum=0.9`?)"
    )
    config = tmp_path / "config.yaml"
    config.write_text("optim:\n  optimizer:\n    class_path: sgd\n    momentum: 0.9\n")
    assert cli_error(capsys, LayerDecayed, "--config", str(config)).endswith(
        f"({why} `optim.optimizer.init_args.momentum`?)"
    )
    config.write_text(
        "optim:\n  optimizer:\n    scheduler:\n      class_path: linear\n      start_factr: 0.5\n"
    )
    assert cli_error(capsys, LayerDecayed, "--config", str(config)) == (
        jsonargparse_says(key="optim.optimizer.scheduler.start_factr")
        + " (did you mean `optim.optimizer.scheduler.init_args.start_factor`?)"
    )
    assert cli_error(capsys, LayerDecayed, "--optim.optimizer.weight_decy=0.1").endswith(
        "(did you mean `--optim.optimizer.init_args.weight_decay`?)"
    )
    with pytest.raises(SystemExit):
        DeclarativeCLI(
            LayerDecayed, args=["fit", "--optim.optimizer.scheduler.eta_min=0"], trainer_defaults=FAST
        )
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith(
            "(`eta_min` is an argument of `CosineAnnealingLR`, which goes under `init_args`: did you mean "
            "`--optim.optimizer.scheduler.init_args.eta_min=0`?)"
        )
    )


@pytest.mark.parametrize(
    ("model_class", "kwargs", "error", "match"),
    [
        (
            Classifier,
            {},
            TypeError,
            r"Expected `model_class` to be a ConfigurableOptimizersMixin module class",
        ),
        (Model, {"subclass_mode_model": True}, ValueError, r"Expected `subclass_mode_model` to be False"),
        (
            Model,
            {"auto_configure_optimizers": True},
            ValueError,
            r"`--optimizer` would replace the declarations",
        ),
    ],
    ids=["not a mixin module", "subclass mode", "lightning optimizer args"],
)
def test_cli_construction_errors(
    model_class: type, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        cli(model_class, **kwargs)


def test_a_pytorch_lightning_module_is_refused_naming_the_namespace() -> None:
    pytorch_lightning = pytest.importorskip("pytorch_lightning")

    class Standalone(ConfigurableOptimizersMixin, pytorch_lightning.LightningModule):
        optimizer = OptimizerSpec(Adam, lr=0.1)

    # Lightning's own error says "provide ... a subclass of: Trainer, LightningModule, ..."
    with pytest.raises(
        TypeError,
        match=r"^DeclarativeCLI: Expected `model_class` to be a `lightning.pytorch.LightningModule` but got "
        r"`.*Standalone`, a `pytorch_lightning.LightningModule`: DeclarativeCLI is `lightning.pytorch.cli.LightningCLI`",
    ):
        cli(Standalone)


# the example scripts, as real subprocesses

RUN = [  # after --config: the command line is read in order
    "--trainer.limit_train_batches=2",
    "--trainer.limit_val_batches=0",
    "--trainer.max_epochs=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]


@pytest.fixture(scope="module")
def examples(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, subprocess.CompletedProcess[str]]]:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    commands = {
        "one": [
            "examples/cli.py",
            "fit",
            "--config=examples/config.yaml",
            *RUN,
            f"--trainer.default_root_dir={tmp_path_factory.mktemp('one')}",
            "--trainer.enable_checkpointing=true",
            "--optim.optimizer.init_args.lr=0.02",
            "--optim.optimizer.scheduler.class_path=torch.optim.lr_scheduler.StepLR",
            "--optim.optimizer.scheduler.init_args={step_size: 1, gamma: 0.5}",
            "--optim.optimizer.scheduler.interval=epoch",
        ],
        "two": [
            "examples/cli_two.py",
            "fit",
            "--config=examples/config_two.yaml",
            *RUN,
            f"--trainer.default_root_dir={tmp_path_factory.mktemp('two')}",
            "--optim.head_opt.init_args.lr=0.005",
            "--optim.body_opt.scheduler.frequency=2",
            "--trainer.max_epochs=2",  # a per-epoch `frequency=2` is updated after epoch 1: refused in 1 epoch
        ],
    }
    running = {
        name: subprocess.Popen(
            [sys.executable, *command],
            cwd=ROOT,
            env=environment,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name, command in commands.items()
    }
    done = {}
    for name, process in running.items():
        stdout, stderr = process.communicate(timeout=300)
        done[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    yield done


def effective(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("effective: "))
    return json.loads(line.removeprefix("effective: "))


def test_example_one_optimizer(examples: dict[str, subprocess.CompletedProcess[str]]) -> None:
    run = effective(examples["one"])
    assert run["model_class"] == "DigitsClassifier"
    assert run["global_step"] == 2  # 1 epoch of 2 batches: the command line after --config wins
    assert run["declarations"] == {
        "optimizer": {
            "class_path": "torch.optim.AdamW",
            "init_args": {
                "lr": 0.02,
                "weight_decay": 0.05,
            },  # lr from the command line, weight_decay from YAML
            "groups": [{"select": "*.bias", "weight_decay": 0.0, "name": "no_decay"}],
            "scheduler": {
                "class_path": "torch.optim.lr_scheduler.StepLR",
                "init_args": {"step_size": 1, "gamma": 0.5},
                "interval": "epoch",
            },
        }
    }
    # the checkpoint records them readably (the example's `on_save_checkpoint`)
    root = next(
        arg.split("=", 1)[1] for arg in examples["one"].args if arg.startswith("--trainer.default_root_dir")
    )
    (path,) = Path(root).glob("**/*.ckpt")
    checkpoint = torch.load(path, weights_only=False)
    assert checkpoint["declarations"] == run["declarations"]
    assert checkpoint["hyper_parameters"]["hidden"] == 64
    # what the Trainer really built: group `no_decay` first, then the rest
    assert run["optimizers"] == [{"class": "AdamW", "initial_lr": [0.02, 0.02], "weight_decay": [0.0, 0.05]}]
    assert run["schedulers"] == [{"class": "StepLR", "interval": "epoch", "frequency": 1}]


def test_example_two_optimizers(examples: dict[str, subprocess.CompletedProcess[str]]) -> None:
    run = effective(examples["two"])
    assert run["model_class"] == "TwoOptimizerClassifier"
    assert run["global_step"] == 8  # 2 epochs of 2 batches, each stepping both optimizers
    assert run["declarations"]["head_opt"]["init_args"] == {"lr": 0.005}
    assert run["declarations"]["body_opt"]["scheduler"]["frequency"] == 2
    assert run["optimizers"] == [
        {"class": "SGD", "initial_lr": [0.1], "weight_decay": [0]},
        {"class": "Adam", "initial_lr": [0.005], "weight_decay": [0]},
    ]
    assert run["schedulers"] == [
        {"class": "StepLR", "interval": "epoch", "frequency": 2},
        {"class": "ExponentialLR", "interval": "step", "frequency": 1},
    ]


def test_changing_only_class_path_on_the_command_line_says_to_replace_init_args(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # it used to fail with "`ExponentialLR` got an unexpected argument `step_size`" and no way out
    args = ["--optim.optimizer.scheduler.class_path=exponential"]
    CREATED.clear()
    assert cli_error(capsys, Model, *args) == (
        "Model.optimizer.scheduler: `ExponentialLR` does not take `step_size`, found in `init_args`. Changing only "
        "`class_path` keeps the `init_args` set before (here the declared `StepLR`'s), which belong to the old "
        "class: replace `init_args` too, with `--optim.optimizer.scheduler.init_args={gamma: ...}` on the command "
        "line (after `--config`) or `init_args:` next to `class_path` in the config file."
    )
    assert CREATED == []
    # what the message says works
    fixed = cli(Model, *args, "--optim.optimizer.scheduler.init_args={gamma: 0.9}").model
    assert spec_to_dict(type(fixed).optimizer.scheduler) == {
        "class_path": "torch.optim.lr_scheduler.ExponentialLR",
        "init_args": {"gamma": 0.9},
    }


STEP = functools.partial(SchedulerSpec, "step", step_size=2, gamma=0.5)


class Decayed(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec("adamw", lr=0.003, weight_decay=0.05, betas=(0.9, 0.95), scheduler=STEP())


def first_group(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The settings of ``optimizer``'s first param group, a list as the tuple it is to torch: torch 2.4's
    ``AdamW`` keeps the ``betas`` a config gives as a list, later ones make every ``betas`` a tuple."""
    group = optimizer.param_groups[0]
    return {
        key: tuple(group[key]) if isinstance(group[key], list) else group[key]
        for key in optimizer.defaults
        if key != "params"
    }


def trained_with(model: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The optimizer's first param group and the scheduler's settings after a fit of ``model``."""
    fit(model, max_epochs=1)
    (optimizer,), (config,) = model.trainer.optimizers, model.trainer.lr_scheduler_configs
    group = first_group(optimizer)
    group["class"] = type(optimizer).__name__
    scheduler = config.scheduler
    return group, {
        "class": type(scheduler).__name__,
        **{key: getattr(scheduler, key) for key in ("step_size", "gamma") if hasattr(scheduler, key)},
    }


@pytest.mark.parametrize(
    ("configs", "args", "optimizer"),
    [
        pytest.param(
            ["init_args: {lr: 0.01}\n    scheduler:\n      init_args: {gamma: 0.1}"],
            [],
            OptimizerSpec("adamw", lr=0.01, weight_decay=0.05, betas=(0.9, 0.95), scheduler=STEP(gamma=0.1)),
            id="yaml",
        ),
        pytest.param(
            ["init_args: {lr: 0.01}"],
            [
                "--optim.optimizer.init_args.weight_decay=0.1",
                "--optim.optimizer.scheduler.init_args.gamma=0.1",
            ],
            OptimizerSpec("adamw", lr=0.01, weight_decay=0.1, betas=(0.9, 0.95), scheduler=STEP(gamma=0.1)),
            id="yaml then command line",
        ),
        pytest.param(
            ["init_args: {lr: 0.01}"],
            ["--optim.optimizer.init_args.lr=0.02", "--optim.optimizer.init_args.weight_decay=0.1", "CONFIG"],
            OptimizerSpec("adamw", lr=0.01, weight_decay=0.1, betas=(0.9, 0.95), scheduler=STEP()),
            id="command line then yaml",
        ),
        pytest.param(
            ["init_args: {lr: 0.01, weight_decay: 0.1}", "init_args: {lr: 0.02}"],
            [],
            OptimizerSpec("adamw", lr=0.02, weight_decay=0.1, betas=(0.9, 0.95), scheduler=STEP()),
            id="two yamls",
        ),
        pytest.param(
            ["class_path: torch.optim.AdamW\n    init_args: {lr: 0.01}"],
            [],
            OptimizerSpec("adamw", lr=0.01, weight_decay=0.05, betas=(0.9, 0.95), scheduler=STEP()),
            id="same class_path",
        ),
        pytest.param(
            [
                "class_path: sgd\n    init_args: {momentum: 0.9}\n    scheduler:\n      class_path: exponential\n"
                "      init_args: {gamma: 0.9}"
            ],
            [],
            OptimizerSpec("sgd", momentum=0.9, scheduler=SchedulerSpec("exponential", gamma=0.9)),
            id="other class_path",
        ),
        pytest.param(
            ["class_path: sgd", "init_args: {lr: 0.02}"],
            [],
            OptimizerSpec("sgd", lr=0.02, scheduler=STEP()),
            id="other class_path then its init_args",
        ),
    ],
)
def test_a_config_changes_the_init_args_it_names_and_keeps_the_others(
    configs: list[str],
    args: list[str],
    optimizer: OptimizerSpec,
    tmp_path: Path,
) -> None:
    # a config's `init_args` used to replace the declared ones as a whole (with a UserWarning): AdamW trained
    # with its default weight_decay and betas where the command line kept the declared ones
    paths = []
    for number, text in enumerate(configs):
        path = tmp_path / f"config{number}.yaml"
        path.write_text(f"optim:\n  optimizer:\n    {text}\n")
        paths.append(str(path))
    config_args = [arg for path in paths for arg in ("--config", path)]
    if "CONFIG" in args:
        args = [arg for given in args for arg in (config_args if given == "CONFIG" else [given])]
    else:
        args = [*config_args, *args]
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        model = cli(Decayed, *args).model

    in_code = type("InCode", (ConfigurableOptimizersMixin, Classifier), {"optimizer": optimizer})
    assert trained_with(model) == trained_with(in_code())
    assert not [w for w in recorded if "init_args" in str(w.message) and "sys.argv" not in str(w.message)]


class Data(L.LightningDataModule):
    def train_dataloader(self) -> Any:
        return loader()


@pytest.mark.parametrize("where", ["before the subcommand", "after the subcommand"])
def test_configs_of_a_subcommand_merge_init_args_as_well(where: str, tmp_path: Path) -> None:
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    section = "fit:\n  " if where == "before the subcommand" else ""
    indent = "  " if section else ""
    first.write_text(
        f"{section}optim:\n{indent}  optimizer:\n{indent}    init_args: {{lr: 0.01, weight_decay: 0.1}}\n"
    )
    second.write_text(f"{section}optim:\n{indent}  optimizer:\n{indent}    init_args: {{lr: 0.02}}\n")
    configs = ["--config", str(first), "--config", str(second)]
    args = [*configs, "fit"] if section else ["fit", *configs]
    done = DeclarativeCLI(
        Decayed,
        Data,
        args=[*args, "--trainer.max_epochs=1"],
        trainer_defaults=FAST,
        save_config_callback=None,
    )
    (optimizer,) = done.trainer.optimizers
    in_code = type(
        "InCode",
        (ConfigurableOptimizersMixin, Classifier),
        {"optimizer": OptimizerSpec("adamw", lr=0.02, weight_decay=0.1, betas=(0.9, 0.95), scheduler=STEP())},
    )
    assert trained_with(in_code())[0] == first_group(optimizer) | {"class": "AdamW"}


def test_init_args_given_whole_on_the_command_line_that_leave_declared_ones_out_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # they used to train at AdamW's default weight_decay and betas, with a UserWarning
    CREATED.clear()
    assert cli_error(capsys, Decayed, "--optim.optimizer.init_args={lr: 0.01}") == (
        "Decayed.optimizer: Expected `--optim.optimizer.init_args` to keep the declared `weight_decay`, `betas` "
        "(weight_decay=0.05, betas=[0.9, 0.95]) but got `{lr: 0.01}`, which replaces the declared `init_args` as a "
        "whole, so `weight_decay`, `betas` would train at `AdamW`'s defaults; add them to it to set them (did you mean "
        "`--optim.optimizer.init_args.lr=0.01`, which changes only these?)."
    )
    assert cli_error(capsys, Decayed, "--optim.optimizer.scheduler.init_args", "{gamma: 0.1}").startswith(
        "Decayed.optimizer.scheduler: Expected `--optim.optimizer.scheduler.init_args` to keep the declared "
        "`step_size` (step_size=2) but got `{gamma: 0.1}`, which replaces the declared `init_args` as a whole, so "
        "`step_size` would be missing (`StepLR` has no default); add them"
    )
    assert CREATED == []
    # every declared argument given, or another class, is what was asked for
    whole = cli(
        Decayed, "--optim.optimizer.init_args={lr: 0.01, weight_decay: 0.0, betas: [0.9, 0.999]}"
    ).model
    assert type(whole).optimizer.kwargs == {"lr": 0.01, "weight_decay": 0.0, "betas": [0.9, 0.999]}
    other = cli(Decayed, "--optim.optimizer.class_path=sgd", "--optim.optimizer.init_args={lr: 0.01}").model
    assert type(other).optimizer.kwargs == {"lr": 0.01}


def test_the_readme_lr_override_changes_the_run() -> None:
    # README: `python examples/cli.py fit --config examples/config.yaml --optim.optimizer.init_args.lr=0.01`.
    # The config used to declare OneCycleLR, which sets the lr from `max_lr / div_factor`: the override did nothing.
    from examples.cli import DigitsClassifier, DigitsData

    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        model = DeclarativeCLI(
            DigitsClassifier,
            DigitsData,
            args=["--config", str(ROOT / "examples" / "config.yaml"), "--optim.optimizer.init_args.lr=0.01"],
            run=False,
        ).model
    assert not [w for w in recorded if "has no effect" in str(w.message)]
    (plan,) = type(model)._lightning_optim_declared
    assert plan.kwargs["lr"] == 0.01
    assert [s.info.sets_lr_from for s in plan.schedulers] == [None]


SPAWN_SCRIPT = Path(__file__).with_name("_cli_spawn_script.py")


def spawn_reference(lr: float) -> dict[str, list[Any]]:
    """The script's module after its run, by hand: both ranks take the same batches (no distributed sampler), so
    their averaged gradients are those of one process: plain SGD on the first batches."""
    sys.path.insert(0, str(SPAWN_SCRIPT.parent))
    try:
        import _cli_spawn_script as script
    finally:
        sys.path.remove(str(SPAWN_SCRIPT.parent))
    net = script.Net().net
    x, y = script.dataset().tensors
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    for step in range(script.BATCHES):
        batch = slice(step * script.BATCH_SIZE, (step + 1) * script.BATCH_SIZE)
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(net(x[batch]), y[batch]).backward()
        optimizer.step()
    return {f"net.{name}": value.tolist() for name, value in net.state_dict().items()}


@pytest.mark.xdist_group("ddp")
@pytest.mark.timeout(300)
@pytest.mark.parametrize("args", [[], ["--optim.optimizer.init_args.lr=0.1"]], ids=["declared", "overridden"])
def test_ddp_spawn_pickles_the_cli_and_trains_the_declared_optimizer(args: list[str], tmp_path: Path) -> None:
    """``ddp_spawn`` pickles the trainer with the CLI's ``SaveConfigCallback``, which holds the parser."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, str(SPAWN_SCRIPT), str(tmp_path), *args]
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-4000:]
    trained = json.loads((tmp_path / "weights.json").read_text())
    expected = spawn_reference(0.1 if args else 0.5)
    assert trained.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.tensor(trained[name]) == pytest.approx(torch.tensor(value), abs=1e-6)


class OwnParser(LightningArgumentParser):
    """A user's parser class, which the CLI mixes ``DeclarativeArgumentParser`` into."""


@pytest.mark.parametrize("parser_class", [None, OwnParser], ids=["default", "own"])
def test_the_parser_pickles_back_to_a_parser_of_the_same_class_and_hints(
    parser_class: type | None, capsys: pytest.CaptureFixture[str]
) -> None:
    kwargs = {} if parser_class is None else {"parser_class": parser_class}
    parser = cli(GAN, **kwargs).parser
    copy = pickle.loads(pickle.dumps(parser))
    assert type(copy) is type(parser) and isinstance(copy, parser_class or LightningArgumentParser)
    assert copy.declared_attributes == ("gen_opt", "dis_opt")
    with pytest.raises(SystemExit):
        copy.parse_args(["--optim.gen_opt.init_args.lrr=0.1", "--optimizer.lr=0.1"])
    assert "here `--optim.<attribute>.init_args.lr=0.1` (<attribute>: one of `gen_opt`, `dis_opt`)" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--optim.optimizer.params=model_gn"],
            "Model.optimizer: `params='model_gn'` matches none of the module's trainable parameters (did you mean `model_gen`?)",
        ),
        (
            ["--optim.optimizer.groups=[{select: model_gen.layr2, lr: 0.01}]"],
            "Model.optimizer.groups[0]",
        ),
    ],
    ids=["params", "group-select"],
)
def test_a_mistyped_selector_is_one_error_line_before_anything_runs(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Selectors need the model's parameters: checked on the instantiated model, before the data or the trainer
    run (as ``configure_optimizers`` would select them)."""
    message = cli_error(capsys, Model, *args)
    assert message.startswith(expected), message
    assert "did you mean `model_gen" in message


class BuiltLater(ConfigurableOptimizersMixin, Classifier):
    """Creates the parameters its declaration selects in ``configure_model``: the CLI cannot select them yet."""

    optimizer = OptimizerSpec(SGD, lr=0.1, params="head")

    def __init__(self) -> None:
        super().__init__()
        self.model_gen.requires_grad_(False)

    def configure_model(self) -> None:
        if not hasattr(self, "head"):
            torch.manual_seed(1)
            self.head = torch.nn.Linear(4, 4)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.cross_entropy(self.head(self.model_gen(x)), y)


def test_parameters_made_in_configure_model_are_selected_when_fit_makes_them() -> None:
    model = cli(BuiltLater).model
    fit(model, max_epochs=1)
    reference = BuiltLater()
    reference.configure_model()
    head = reference.head
    optimizer = SGD(head.parameters(), lr=0.1)
    for x, y in loader():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(head(reference.model_gen(x)), y).backward()
        optimizer.step()
    assert torch.equal(model.head.weight, head.weight) and torch.equal(model.head.bias, head.bias)
