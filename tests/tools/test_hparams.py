"""``HParam`` in the tools: preview, describe, the preview command line, configs and ``DeclarativeCLI``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import yaml
from torch import nn
from torch.optim.lr_scheduler import ExponentialLR, StepLR

from lightning_optim import (
    ConfigurableOptimizersMixin,
    HParam,
    LRMonitor,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    describe_optimizers,
    preview_schedule,
    spec_from_dict,
    spec_to_dict,
)
from lightning_optim.tools.preview_cli import main
from tests.helpers import FAST, Classifier, fit, loader, needs_cli_extra, no_logger


class Warmed(ConfigurableOptimizersMixin, Classifier):
    """Warmup then halving per epoch, both lengths and the lr from hyperparameters."""

    optimizer = OptimizerSpec(
        "sgd",
        lr=HParam("lr"),
        groups=[ParamGroup("model_gen.layer1", lr=HParam("head_lr", default=0.5))],
        scheduler=SchedulerSpec("step", step_size=1, gamma=0.5, interval="step", warmup=HParam("warmup")),
    )

    def __init__(self, lr: float = 1.0, warmup: int = 2) -> None:
        super().__init__()
        self.save_hyperparameters()


class NoDefault(ConfigurableOptimizersMixin, L.LightningModule):
    optimizer = OptimizerSpec("sgd", lr=HParam("lr"))

    def __init__(self, **hparams: Any) -> None:
        super().__init__()
        self.net = nn.Linear(2, 1)
        self.save_hyperparameters(hparams)


def test_preview_reads_the_instance_and_equals_fit() -> None:
    module = Warmed(lr=0.2, warmup=3)
    previewed = preview_schedule(module, max_epochs=2, steps_per_epoch=4)
    monitor = LRMonitor(logging_interval="step")
    with no_logger():
        fit(Warmed(lr=0.2, warmup=3), max_epochs=2, callbacks=[monitor], log_every_n_steps=1)
    assert previewed.keys() == {"lr-optimizer/model_gen.layer1", "lr-optimizer/rest"}
    assert previewed["lr-optimizer/rest"][:4] == pytest.approx([0.05, 0.1, 0.15, 0.2])  # 3 warmup steps
    assert previewed["lr-optimizer/model_gen.layer1"][3] == pytest.approx(0.5)
    assert previewed == monitor.lrs
    # a class is built with no arguments, and its values read from that instance
    assert preview_schedule(Warmed, max_epochs=1, steps_per_epoch=4) == preview_schedule(
        Warmed(), max_epochs=1, steps_per_epoch=4
    )


def test_preview_of_a_class_without_the_value_asks_for_an_instance() -> None:
    message = (
        "preview_schedule: Expected a module instance to read the hyperparameter `lr` from but got the class "
        "`NoDefault`, and `NoDefault()` has no `lr`: NoDefault.optimizer declares `lr` as HParam('lr') without "
        "default. Pass an instance: `preview_schedule(NoDefault(lr=...), ...)`."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        preview_schedule(NoDefault, max_epochs=1, steps_per_epoch=2)
    assert preview_schedule(NoDefault(lr=0.3), max_epochs=1, steps_per_epoch=2) == {
        "lr-optimizer": [0.3, 0.3]
    }
    with pytest.raises(
        ValueError, match=r"^NoDefault\.optimizer: Expected the module to have the hyperparameter"
    ):
        preview_schedule(NoDefault(), max_epochs=1, steps_per_epoch=2)


class Misspelt(ConfigurableOptimizersMixin, Classifier):
    """Reads `lrr` and `stepsize`, which `__init__` neither takes nor saves (it saves `lr` and `step_size`)."""

    optimizer = OptimizerSpec(
        "sgd", lr=HParam("lrr"), scheduler=SchedulerSpec("step", step_size=HParam("stepsize"))
    )

    def __init__(self, lr: float = 0.1, step_size: int = 2) -> None:
        super().__init__()
        self.save_hyperparameters()


class TakesIt(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec("sgd", lr=HParam("lrr"))

    def __init__(self, lrr: float | None = None) -> None:
        super().__init__()
        if lrr is not None:
            self.save_hyperparameters()


def test_preview_of_a_class_suggests_only_an_init_argument_it_takes_and_fits_near_miss() -> None:
    """It said `Pass an instance: `preview_schedule(Misspelt(lrr=...), ...)``, a call that raises TypeError
    (`__init__` takes no `lrr`), with none of fit's "(did you mean `lr`?)"."""
    with pytest.raises(ValueError, match=r"has none \(did you mean `lr`\?\)"):
        fit(Misspelt(), max_epochs=1)
    message = (
        "preview_schedule: Expected a module instance to read the hyperparameter `lrr` from but got the class "
        "`Misspelt`, and `Misspelt()` has no `lrr` (did you mean `lr`?): Misspelt.optimizer declares `lr` as "
        "HParam('lrr') without default, and `Misspelt.__init__` takes no `lrr` either. Save it with "
        "`self.save_hyperparameters()` in `__init__`, set `self.lrr`, or give HParam('lrr', default=...)."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        preview_schedule(Misspelt, max_epochs=1, steps_per_epoch=2)
    with pytest.raises(
        ValueError,
        match=r"^preview_schedule: .* Pass an instance: `preview_schedule\(TakesIt\(lrr=\.\.\.\), \.\.\.\)`\.$",
    ):
        preview_schedule(TakesIt, max_epochs=1, steps_per_epoch=2)
    assert preview_schedule(TakesIt(lrr=0.3), max_epochs=1, steps_per_epoch=2) == {"lr-optimizer": [0.3, 0.3]}


def test_describe_reads_the_instance() -> None:
    described = describe_optimizers(Warmed(lr=0.25))
    assert described.splitlines()[:4] == [
        "Warmed.optimizer: SGD(lr=0.25), 2 groups, 4 tensors, 212 parameters, 0 bytes of state",
        "  group             tensors  parameters  state bytes  lr",
        "  model_gen.layer1        2         144            0  0.5",
        "  rest                    2          68            0  0.25",
    ]


def test_preview_command_line_reads_init_args(capsys: pytest.CaptureFixture[str]) -> None:
    target = "tests.tools.test_hparams:Warmed"
    code = main(["preview", target, "--init-args", '{"lr": 0.4, "warmup": 1}', "--max-epochs", "1",
                 "--steps-per-epoch", "3"])  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "Warmed.optimizer.scheduler: StepLR(step_size=1, gamma=0.5), every step, warmup=1",  # the instance's
        "3 optimizer steps, 3 per epoch",
        "step  epoch  lr-optimizer/model_gen.layer1  lr-optimizer/rest",
        "   0      0                           0.25                0.2",
        "   1      0                            0.5                0.4",
        "   2      0                           0.25                0.2",
    ]
    with pytest.raises(SystemExit) as exit_info:
        main(["preview", "tests.tools.test_hparams:NoDefault", "--max-epochs", "1", "--steps-per-epoch", "3"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith(
        "python -m lightning_optim preview: error: NoDefault.optimizer: Expected the module"
    )
    assert error.rstrip().endswith("""Or pass it to the module: --init-args '{"lr": ...}'.""")
    # no --init-args that `__init__` does not take (it failed: "got an unexpected keyword argument 'lrr'")
    with pytest.raises(SystemExit):
        main(["preview", "tests.tools.test_hparams:Misspelt", "--max-epochs", "1", "--steps-per-epoch", "3"])
    error = capsys.readouterr().err
    assert "has none (did you mean `lr`?)" in error and "--init-args" not in error


def test_config_round_trip() -> None:
    spec = OptimizerSpec(
        "adamw",
        lr=HParam("lr"),
        betas=(HParam("beta1", default=0.9), 0.999),
        layer_decay=HParam("layer_decay", default=0.75),
        layer_decay_blocks="blocks",
        scheduler=SchedulerSpec("step", step_size=HParam("step_size"), warmup=HParam("warmup", default=None)),
    )
    data = spec_to_dict(spec)
    assert data == {
        "class_path": "torch.optim.AdamW",
        "init_args": {"lr": {"hparam": "lr"}, "betas": [{"hparam": "beta1", "default": 0.9}, 0.999]},
        "layer_decay": {"hparam": "layer_decay", "default": 0.75},
        "layer_decay_blocks": "blocks",
        "scheduler": {
            "class_path": "torch.optim.lr_scheduler.StepLR",
            "init_args": {"step_size": {"hparam": "step_size"}},
            "warmup": {"hparam": "warmup", "default": None},
        },
    }
    back = spec_from_dict(yaml.safe_load(yaml.safe_dump(data)))
    assert spec_to_dict(back) == data
    assert back.kwargs["lr"] == HParam("lr") and back.scheduler is not None
    assert back.scheduler.warmup == HParam("warmup", default=None)
    with pytest.raises(
        ValueError, match=r"^OptimizerSpec\.init_args\.lr: HParam: Expected `name` to be an identifier"
    ):
        spec_from_dict({"class_path": "sgd", "init_args": {"lr": {"hparam": "a b"}}})


class Swept(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(
        "sgd",
        lr=HParam("lr"),
        scheduler=SchedulerSpec("step", step_size=1, gamma=HParam("gamma", default=0.5)),
    )

    def __init__(self, lr: float = 0.1, gamma: float = 0.5) -> None:
        super().__init__()
        self.save_hyperparameters()


@needs_cli_extra
@pytest.mark.filterwarnings("ignore:LightningCLI's args parameter is intended")
def test_declarative_cli_model_init_args_next_to_optim_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    from lightning_optim.cli import DeclarativeCLI

    def cli(*args: str) -> DeclarativeCLI:
        return DeclarativeCLI(Swept, args=list(args), run=False, trainer_defaults=FAST)

    with pytest.raises(SystemExit):
        cli("--print_config")
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"] == {"lr": 0.1, "gamma": 0.5}
    assert printed["optim"]["optimizer"]["init_args"] == {"lr": {"hparam": "lr"}}
    # the module's init args feed the HParams (an --optim override of one is refused: test_cli.py)
    built = cli("--model.lr=0.4", "--model.gamma=0.25")
    assert type(built.model).optimizer.kwargs["lr"] == HParam("lr")
    assert built.model.hparams["gamma"] == 0.25
    recorded = fit(built.model, max_epochs=3)
    assert recorded.of() == pytest.approx([0.4] * 4 + [0.1] * 4 + [0.025] * 4)
    # without an --optim override the class is the declared one, its hparams from --model
    plain = cli("--model.lr=0.2", "--model.gamma=0.1")
    assert type(plain.model) is Swept
    assert fit(plain.model, max_epochs=2).of() == pytest.approx([0.2] * 4 + [0.02] * 4)


#: ``SpecArguments``'s default schedule
STEP = SchedulerSpec("step", step_size=2)


class SpecArguments(ConfigurableOptimizersMixin, Classifier):
    """Specs as annotated ``__init__`` arguments, kept by ``save_hyperparameters()`` (docs/guides/hparams.md)."""

    optimizer = OptimizerSpec("sgd", lr=0.1)

    def __init__(self, schedule: SchedulerSpec = STEP, head: ParamGroup | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()

    def train_dataloader(self) -> Any:
        return loader()


#: Lightning's own LightningCLI in a fresh interpreter that imports the package before the CLI (and so before
#: jsonargparse): `--print_config` with the defaults, with command-line values, then a fit from that config.
SPEC_ARGUMENTS_CLI = """
import contextlib, io, json, sys
from tests.tools.test_hparams import SpecArguments
from lightning.pytorch.cli import LightningCLI

root = sys.argv[1]
trainer = ["--trainer.accelerator=cpu", "--trainer.max_epochs=1", "--trainer.limit_train_batches=2",
           "--trainer.logger=false", "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={root}"]
given = ["--model.schedule={class_path: exponential, init_args: {gamma: 0.5}, interval: step}",
         "--model.head={select: model_gen.layer2, lr: 0.5}"]
for name, args in (("defaults", []), ("given", given)):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.suppress(SystemExit):
        LightningCLI(SpecArguments, args=["fit", *trainer, *args, "--print_config"])
    with open(f"{root}/{name}.yaml", "w") as file:
        file.write(printed.getvalue())
cli = LightningCLI(SpecArguments, args=["fit", "--config", f"{root}/given.yaml"])
print(json.dumps({key: value for key, value in cli.model.hparams.items() if key != "_instantiator"}))
"""


@needs_cli_extra
def test_specs_as_init_arguments_under_lightning_cli(tmp_path: Path) -> None:
    ran = subprocess.run(
        [sys.executable, "-c", SPEC_ARGUMENTS_CLI, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    defaults = yaml.safe_load((tmp_path / "defaults.yaml").read_text())["model"]
    assert defaults == {"schedule": spec_to_dict(SchedulerSpec(StepLR, step_size=2)), "head": None}
    schedule = SchedulerSpec(ExponentialLR, gamma=0.5, interval="step")
    head = ParamGroup("model_gen.layer2", lr=0.5)
    written = {"schedule": spec_to_dict(schedule), "head": spec_to_dict(head)}
    assert yaml.safe_load((tmp_path / "given.yaml").read_text())["model"] == written
    # Lightning's hparams under its CLI are the config's values; the checkpoint builds the module from them
    assert json.loads(ran.stdout.strip().splitlines()[-1]) == written
    (checkpoint,) = (tmp_path / "checkpoints").glob("*.ckpt")
    loaded = SpecArguments.load_from_checkpoint(checkpoint)
    assert (loaded.hparams["schedule"], loaded.hparams["head"]) == (schedule, head)
