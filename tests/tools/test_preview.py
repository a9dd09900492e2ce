"""``preview_schedule`` equals, key for key and step for step, what a real ``fit`` logs with ``LRMonitor``.

Every scheduler of the registry is run in a real ``Trainer`` on tiny data (5 batches per epoch) with a
two-group SGD, under three run shapes: per-epoch stepping, per-step stepping with ``frequency=2`` and
gradient accumulation (Lightning then counts batches within the epoch), and a ``max_steps`` that stops
mid-epoch (omitted lengths are then derived from ``max_steps``). Manual optimization is covered with two
optimizers (``TwoNets``), where ``max_steps`` counts both optimizers' steps.
"""

from __future__ import annotations

import csv
import math
import re
import sys
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger
from torch.optim import lr_scheduler
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from lightning_optim import (
    ConfigurableOptimizersMixin,
    LRMonitor,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    plot_schedule,
    preview_schedule,
)
from lightning_optim.building.length import optimizer_steps
from lightning_optim.registry.lookup import SCHEDULERS
from lightning_optim.registry.schedulers import SCHEDULER_INFO
from lightning_optim.schedules import transformers as hf
from lightning_optim.schedules.timm_cosine import TimmCosineLR
from tests import helpers
from tests.helpers import FAST, Classifier, TwoNets, TwoNetsByName, fit, loader, transformers_with_torch

pytestmark = pytest.mark.filterwarnings("ignore:.*no logger.*", "ignore:.*optimizer.step.*")

BATCHES = 5  # loader(40) with batch size 8


class LogsConstant(Classifier):
    """Logs a constant metric for ``ReduceLROnPlateau`` to watch (it never improves: the lr drops)."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        self.log("const", 1.0)
        return super().training_step(batch, batch_idx)


class TwoNetsLogging(TwoNets):
    def training_step(self, batch: Any, batch_idx: int) -> None:
        self.log("const", 1.0)
        super().training_step(batch, batch_idx)


def halve_every_two(epoch: int) -> float:
    return 0.5 ** (epoch // 2)


def ninety_percent(epoch: int) -> float:
    return 0.9


# Per scheduler class, arguments for the two groups `model_gen.layer1` (lr 0.5) and `rest` (lr 0.1).
# Omitted lengths (CosineAnnealingLR, LinearLR, OneCycleLR, PolynomialLR) are derived from the run.
KWARGS: dict[type, dict[str, Any]] = {
    lr_scheduler.ChainedScheduler: {
        "schedulers": [SchedulerSpec("exponential", gamma=0.9), SchedulerSpec("step", step_size=2, gamma=0.5)]
    },
    lr_scheduler.ConstantLR: {"factor": 0.5, "total_iters": 3},
    lr_scheduler.CosineAnnealingLR: {"eta_min": 0.001},
    lr_scheduler.CosineAnnealingWarmRestarts: {"T_0": 3, "T_mult": 2},
    lr_scheduler.CyclicLR: {"base_lr": 0.01, "max_lr": [0.5, 0.2], "step_size_up": 2},
    lr_scheduler.ExponentialLR: {"gamma": 0.8},
    lr_scheduler.LambdaLR: {"lr_lambda": [halve_every_two, lambda e: 0.9**e]},
    lr_scheduler.LinearLR: {"start_factor": 0.25},
    lr_scheduler.MultiplicativeLR: {"lr_lambda": ninety_percent},
    lr_scheduler.MultiStepLR: {"milestones": [2, 5], "gamma": 0.5},
    lr_scheduler.OneCycleLR: {"max_lr": {"model_gen.layer1": 1.0, "rest": 0.2}},
    lr_scheduler.PolynomialLR: {"power": 2.0},
    lr_scheduler.ReduceLROnPlateau: {"monitor": "const", "patience": 0, "factor": 0.5},
    lr_scheduler.SequentialLR: {
        "schedulers": [
            SchedulerSpec("linear", start_factor=0.1, total_iters=3),
            SchedulerSpec("exponential", gamma=0.8),
        ],
        "milestones": [3],
    },
    lr_scheduler.StepLR: {"step_size": 2, "gamma": 0.5},
    # transformers' schedules (num_training_steps derived from the run) and timm's cosine (t_initial derived)
    hf.ConstantScheduleLR: {},
    hf.ConstantWithWarmupLR: {"num_warmup_steps": 2},
    hf.LinearWithWarmupLR: {"num_warmup_steps": 2},
    hf.CosineWithWarmupLR: {"num_warmup_steps": 0.2},
    hf.CosineWithHardRestartsLR: {"num_warmup_steps": 1, "num_cycles": 2},
    hf.PolynomialDecayWithWarmupLR: {"num_warmup_steps": 1, "lr_end": 1e-3, "power": 2.0},
    hf.InverseSqrtLR: {"num_warmup_steps": 2},
    hf.CosineWithMinLR: {"num_warmup_steps": 1, "min_lr_rate": 0.1},
    hf.CosineWarmupWithMinLR: {"num_warmup_steps": 1, "min_lr_rate": 0.1},
    hf.WarmupStableDecayLR: {"num_warmup_steps": 1, "num_decay_steps": 2},
    TimmCosineLR: {"lr_min": 0.01, "warmup_t": 1, "warmup_lr_init": 0.001},
}

#: (id, stepping options, Trainer options)
RUNS = [
    ("epoch", {"interval": "epoch"}, {"max_epochs": 4}),
    (
        "step_frequency_accumulate",
        {"interval": "step", "frequency": 2},
        {"max_epochs": 3, "accumulate_grad_batches": 2},
    ),
    ("step_max_steps", {"interval": "step"}, {"max_epochs": 3, "max_steps": 7}),
]

CONSTANT = {"const": lambda index: 1.0}


def _name(cls: type) -> str:
    return cls.__name__


def _cases() -> list[Any]:
    cases = []
    for cls in sorted(set(SCHEDULERS.values()), key=_name):
        for run_id, stepping, trainer in RUNS:
            if cls is TimmCosineLR:  # ``t_in_epochs`` must agree with the interval
                stepping = {**stepping, "t_in_epochs": stepping["interval"] == "epoch"}
            if SCHEDULER_INFO[cls].default_interval == "step" and stepping["interval"] == "epoch":
                continue  # meant per step only (declaring them per epoch warns)
            if (
                run_id == "step_max_steps"
                and SCHEDULER_INFO[cls].length is None
                and cls is not lr_scheduler.ReduceLROnPlateau
            ):
                continue  # max_steps matters most where it changes a derived length; keeps the suite short
            cases.append(pytest.param(cls, stepping, trainer, id=f"{cls.__name__}-{run_id}"))
    return cases


def logged(module: Any, **trainer_kwargs: Any) -> dict[str, list[float]]:
    """What ``LRMonitor(logging_interval="step")`` logs in a real fit, one entry per optimizer step.

    With gradient accumulation Lightning logs every batch; the batches of one optimizer step share its
    global step and lr, which is checked before keeping one entry per step.
    """
    monitor = LRMonitor(logging_interval="step")
    fit(module, data=loader(40), callbacks=[monitor], log_every_n_steps=1, **trainer_kwargs)
    per_step: dict[str, list[float]] = {}
    for key, values in monitor.lrs.items():
        by_step: dict[int, float] = {}
        for step, value in zip(monitor.lr_steps[key], values):
            assert by_step.setdefault(step, value) == value, (key, step)
        assert list(by_step) == list(range(len(by_step)))
        per_step[key] = list(by_step.values())
    return per_step


def declared(spec: OptimizerSpec, base: type = LogsConstant) -> type:
    return helpers.declared(spec, base=base)


def two_groups(scheduler: SchedulerSpec) -> OptimizerSpec:
    return OptimizerSpec(
        "sgd", lr=0.1, momentum=0.9, groups=[ParamGroup("model_gen.layer1", lr=0.5)], scheduler=scheduler
    )


@pytest.mark.parametrize(("cls", "stepping", "trainer"), _cases())
def test_every_scheduler_matches_a_real_fit(
    cls: type, stepping: dict[str, Any], trainer: dict[str, Any]
) -> None:
    with helpers.lr_replaced(cls in (lr_scheduler.OneCycleLR, lr_scheduler.CyclicLR)):
        module = declared(two_groups(SchedulerSpec(cls, **stepping, **KWARGS[cls])))
    expected = logged(module(), **trainer)
    preview = preview_schedule(
        module, steps_per_epoch=BATCHES, metrics=CONSTANT if "monitor" in KWARGS[cls] else None, **trainer
    )
    assert list(expected) == ["lr-optimizer/model_gen.layer1", "lr-optimizer/rest"]
    assert preview == expected
    if cls is not hf.ConstantScheduleLR:  # the schedule does change the lr in this run
        assert len(set(preview["lr-optimizer/rest"])) > 1


def test_run_shapes_have_the_expected_lengths() -> None:
    # 4 epochs x 5 steps; 3 epochs x ceil(5 / 2) steps; max_steps=7 stops in the second epoch
    module = declared(two_groups(SchedulerSpec("step", step_size=1)))
    lengths = [
        len(preview_schedule(module, steps_per_epoch=BATCHES, **trainer)["lr-optimizer/rest"])
        for *_, trainer in RUNS
    ]
    assert lengths == [20, 9, 7]


class GAN(ConfigurableOptimizersMixin, TwoNetsLogging):
    gen_opt = OptimizerSpec(
        "adam",
        params="model_gen",
        lr=0.01,
        scheduler=SchedulerSpec("exponential", gamma=0.9, interval="step", frequency=3),
    )
    dis_opt = OptimizerSpec(
        "sgd",
        params="model_dis",
        lr=0.02,
        groups=[ParamGroup("model_dis.layer1", lr=0.1, name="first")],
        scheduler=SchedulerSpec("cosine", interval="step", name="lr-dis"),
    )


class GANEpochAndConstant(ConfigurableOptimizersMixin, TwoNetsLogging):
    gen_opt = OptimizerSpec(
        "adam", params="model_gen", lr=0.01, scheduler=SchedulerSpec("step", step_size=1, frequency=2)
    )
    dis_opt = OptimizerSpec("sgd", params="model_dis", lr=0.02)


class GANPlateau(ConfigurableOptimizersMixin, TwoNetsLogging):
    gen_opt = OptimizerSpec(
        "adam",
        params="model_gen",
        lr=0.01,
        scheduler=SchedulerSpec("plateau", monitor="const", patience=0, interval="step"),
    )
    dis_opt = OptimizerSpec(
        "sgd",
        params="model_dis",
        lr=0.02,
        scheduler=SchedulerSpec("plateau", monitor="const", patience=1, factor=0.5),
    )


@pytest.mark.parametrize(
    ("module", "trainer", "keys"),
    [
        # every optimizer step counts for `frequency`, over the whole run; derived T_max = 3 epochs x 5
        (GAN, {"max_epochs": 3}, ["lr-gen_opt", "lr-dis/first", "lr-dis/rest"]),
        # max_steps counts both optimizers' steps: 4 batches; Lightning's estimate (T_max) is still 7
        (GAN, {"max_epochs": 3, "max_steps": 7}, ["lr-gen_opt", "lr-dis/first", "lr-dis/rest"]),
        # an epoch scheduler every 2 epochs, and an optimizer without scheduler (logged after, constant)
        (GANEpochAndConstant, {"max_epochs": 5}, ["lr-gen_opt", "lr-dis_opt"]),
        # per-step plateau reading the metric logged before the step; per-epoch plateau with patience 1
        (GANPlateau, {"max_epochs": 4}, ["lr-gen_opt", "lr-dis_opt"]),
    ],
    ids=["step", "max_steps", "epoch_and_constant", "plateau"],
)
def test_two_optimizers_in_manual_optimization_match_a_real_fit(
    module: type, trainer: dict[str, Any], keys: list[str]
) -> None:
    expected = logged(module(), **trainer)
    preview = preview_schedule(
        module, steps_per_epoch=BATCHES, metrics=CONSTANT if module is GANPlateau else None, **trainer
    )
    assert list(expected) == keys
    assert list(preview) == keys
    assert preview == expected


class ManualOne(ConfigurableOptimizersMixin, Classifier):
    """One optimizer in manual optimization: the mixin steps its scheduler every 2 optimizer steps."""

    optimizer = OptimizerSpec(
        "sgd", lr=0.1, scheduler=SchedulerSpec("exponential", gamma=0.5, interval="step", frequency=2)
    )

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.model_gen(x), y)
        self.optimizer.zero_grad()
        self.manual_backward(loss)
        self.optimizer.step()


def test_one_optimizer_in_manual_optimization_matches_a_real_fit() -> None:
    # Lightning's rule, as in automatic optimization: halvings after batches 1 and 3 of each 5-batch epoch
    # ((batch_idx + 1) % 2 == 0, counted within the epoch), not after every 2nd step of the whole run
    expected = logged(ManualOne(), max_epochs=2)
    assert preview_schedule(ManualOne, max_epochs=2, steps_per_epoch=BATCHES) == expected
    halvings = [2 * (step // 5) + min(step % 5 // 2, 2) for step in range(10)]
    assert expected == {"lr-optimizer": [0.1 * 0.5**k for k in halvings]}


def test_plateau_without_metrics_keeps_its_lr() -> None:
    module = declared(two_groups(SchedulerSpec("plateau", monitor="const", patience=0)))
    assert preview_schedule(module, max_epochs=3, steps_per_epoch=2) == {
        "lr-optimizer/model_gen.layer1": [0.5] * 6,
        "lr-optimizer/rest": [0.1] * 6,
    }


def test_plateau_metrics_as_a_sequence() -> None:
    # patience 0, mode min: epoch 0 sets the best (3.0), epoch 1 improves (2.0), epoch 2 does not: halve
    module = declared(
        OptimizerSpec("sgd", lr=1.0, scheduler=SchedulerSpec("plateau", monitor="val", patience=0))
    )
    lrs = preview_schedule(module, max_epochs=4, steps_per_epoch=1, metrics={"val": [3.0, 2.0, 2.5]})
    assert lrs == {"lr-optimizer": [1.0, 1.0, 1.0, 0.1]}


def test_the_module_is_only_read() -> None:
    with helpers.lr_replaced():
        module = declared(two_groups(SchedulerSpec("onecycle", max_lr=1.0)))()
    before = {name: p.detach().clone() for name, p in module.named_parameters()}
    preview_schedule(module, max_epochs=2, steps_per_epoch=3)
    for name, p in module.named_parameters():
        assert torch.equal(p, before[name]), name
        assert p.grad is None
    assert module._trainer is None


class BuiltInConfigureModel(Classifier):
    """Builds its layers in Lightning's ``configure_model`` hook (idempotent, as Lightning documents it)."""

    def __init__(self) -> None:
        L.LightningModule.__init__(self)

    def configure_model(self) -> None:
        if hasattr(self, "model_gen"):
            return
        torch.manual_seed(0)
        self.model_gen = helpers.Net()


@pytest.mark.parametrize("given", ["instance", "class"])
def test_a_module_building_its_layers_in_configure_model_matches_a_real_fit(given: str) -> None:
    """Was: "`params=None` takes the trainable parameters no other optimizer takes, but none are left"; the
    module given stays without layers, for `fit` to build them under its strategy's contexts."""
    module_class = declared(two_groups(SchedulerSpec("cosine", interval="step")), BuiltInConfigureModel)
    module = module_class()
    preview = preview_schedule(
        module if given == "instance" else module_class, max_epochs=2, steps_per_epoch=BATCHES
    )
    assert list(module.parameters()) == []
    expected = logged(module_class(), max_epochs=2)
    assert list(expected) == ["lr-optimizer/model_gen.layer1", "lr-optimizer/rest"]
    assert preview == expected


@pytest.mark.parametrize("given", ["instance", "class"])
def test_torchs_random_state_is_left_as_it_was(given: str) -> None:
    """Was: the hook (run on a copy) and the class's constructor drew from torch's global random state, so a
    seeded module made, or a `configure_model` run by `fit`, after the preview got other weights."""
    module_class = declared(two_groups(SchedulerSpec("cosine", interval="step")), BuiltInConfigureModel)
    module = module_class()
    torch.manual_seed(7)  # not the state the hook's own seeding leaves
    state = torch.get_rng_state()
    preview_schedule(module if given == "instance" else module_class, max_epochs=1, steps_per_epoch=BATCHES)
    assert torch.equal(torch.get_rng_state(), state)


def test_a_compiled_module_previews_as_the_module_it_wraps() -> None:
    """Was: "Expected a ConfigurableOptimizersMixin module or class but got an instance of OptimizedModule",
    though `fit` trains the compiled module (compiling it wraps it; nothing compiles before its first call)."""
    module_class = declared(two_groups(SchedulerSpec("cosine", interval="step")))
    preview = preview_schedule(torch.compile(module_class()), max_epochs=2, steps_per_epoch=BATCHES)
    assert preview == logged(module_class(), max_epochs=2)


@pytest.mark.parametrize(
    ("samples", "batch_size", "devices"), [(40, 8, 2), (41, 8, 3), (100, 7, 4), (5, 8, 2)]
)
def test_devices_split_the_batches_like_a_distributed_sampler(
    samples: int, batch_size: int, devices: int
) -> None:
    dataset = TensorDataset(torch.zeros(samples))
    sampler = DistributedSampler(dataset, num_replicas=devices, rank=0, shuffle=False)
    per_process = len(DataLoader(dataset, batch_size=batch_size, sampler=sampler))
    module = declared(OptimizerSpec("sgd", lr=0.1))
    lrs = preview_schedule(
        module, max_epochs=2, steps_per_epoch=math.ceil(samples / batch_size), devices=devices
    )
    assert len(lrs["lr-optimizer"]) == 2 * per_process


@pytest.mark.parametrize(("samples", "batch_size", "devices"), [(44, 8, 2), (41, 8, 3), (100, 7, 4)])
def test_with_drop_last_one_processs_batches_and_devices_1_preview_the_split(
    samples: int, batch_size: int, devices: int
) -> None:
    """``devices=`` splits the whole data's batches, exact where the last partial batch is kept: with
    ``drop_last=True`` each process runs ``ceil(samples / devices) // batch_size`` batches (the docstring's formula),
    which ``devices`` does not give (44 samples, batches of 8, 2 processes: 2, not ``ceil(5 / 2) = 3``), and which
    the preview takes as ``steps_per_epoch`` with ``devices=1``."""
    dataset = TensorDataset(torch.zeros(samples))
    sampler = DistributedSampler(dataset, num_replicas=devices, rank=0, shuffle=False)
    per_process = len(DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=True))
    assert per_process == math.ceil(samples / devices) // batch_size
    assert per_process < math.ceil(samples // batch_size / devices)  # what `devices` would give
    module = declared(OptimizerSpec("sgd", lr=0.1))
    lrs = preview_schedule(module, max_epochs=2, steps_per_epoch=per_process)
    assert len(lrs["lr-optimizer"]) == 2 * per_process


def test_tensor_learning_rates_are_read_as_floats() -> None:
    module = declared(
        OptimizerSpec("adam", lr=torch.tensor(0.01), scheduler=SchedulerSpec("exponential", gamma=0.5))
    )
    lrs = preview_schedule(module, max_epochs=3, steps_per_epoch=1)["lr-optimizer"]
    assert lrs == pytest.approx([0.01, 0.005, 0.0025])
    assert all(type(v) is float for v in lrs)


class NeedsArguments(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec("sgd", lr=0.1)

    def __init__(self, width: int) -> None:
        super().__init__()


class NotDeclared(ConfigurableOptimizersMixin, Classifier):
    pass


STEP = declared(OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec("plateau", monitor="val_loss")))


@pytest.mark.parametrize(
    ("target", "kwargs", "error", "match"),
    [
        (
            Classifier,
            {},
            TypeError,
            r"Expected a ConfigurableOptimizersMixin module or class but got the class `Classifier`",
        ),
        (
            Classifier(),
            {},
            TypeError,
            r"Expected a ConfigurableOptimizersMixin module or class but got an instance of `Classifier`, "
            r"which does not use the mixin",
        ),
        (NeedsArguments, {}, TypeError, r"`NeedsArguments\(\)` failed: .*width.*Pass an instance"),
        (NotDeclared, {}, ValueError, r"`NotDeclared` declares no optimizer"),
        (
            STEP,
            {"max_epochs": 0},
            ValueError,
            r"Expected `max_epochs` to be an int >= 1 or -1 \(no limit\) but got 0",
        ),
        (
            STEP,
            {"max_epochs": "3"},
            TypeError,
            r"Expected `max_epochs` to be an int >= 1 or -1 \(no limit\) but got '3'",
        ),
        (
            STEP,
            {"steps_per_epoch": True},
            TypeError,
            r"Expected `steps_per_epoch` to be an int >= 1 but got True",
        ),
        (
            STEP,
            {"accumulate_grad_batches": 0},
            ValueError,
            r"Expected `accumulate_grad_batches` to be an int >= 1",
        ),
        (
            STEP,
            {"max_epochs": -1},
            ValueError,
            r"Expected a run of known length but got `max_epochs=-1` and `max_steps=-1`",
        ),
        (
            STEP,
            {"metrics": {"val_los": [1.0]}},
            ValueError,
            r"monitored metric names \(`val_loss`\) but got 'val_los' \(did you mean `val_loss`\?\)",
        ),
        (
            STEP,
            {"metrics": {"val_loss": 1.0}},
            TypeError,
            r"Expected `metrics\['val_loss'\]` to be a callable index -> value or a sequence",
        ),
        (
            STEP,
            {"metrics": {"val_loss": [1.0]}},
            ValueError,
            r"to hold a value for every epoch .* got 1 values; epoch 1 needs one",
        ),
        (
            GAN,
            {"accumulate_grad_batches": 2},
            ValueError,
            r"^preview_schedule: Expected `accumulate_grad_batches` to be 1 but got 2: `GAN` uses manual "
            r"optimization, where Lightning refuses gradient accumulation\.$",
        ),
    ],
)
def test_bad_input_is_reported(
    target: Any, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    arguments = {"max_epochs": 3, "steps_per_epoch": 2, **kwargs}
    with pytest.raises(error, match=match):
        preview_schedule(target, **arguments)


def test_declaration_errors_are_those_of_fit() -> None:
    module = declared(two_groups(SchedulerSpec("lambda", lr_lambda=[halve_every_two])))
    with pytest.raises(
        ValueError, match=r"Declared.optimizer.scheduler: `lr_lambda` has 1 entries but the optimizer has 2"
    ):
        preview_schedule(module, max_epochs=3, steps_per_epoch=2)


def test_plot_schedule_writes_a_png(tmp_path: Any) -> None:
    from matplotlib.image import imread

    with helpers.lr_replaced():
        module = declared(two_groups(SchedulerSpec("onecycle", max_lr=1.0)))
    path = plot_schedule(
        module, tmp_path / "lr.png", max_epochs=3, steps_per_epoch=10, log_scale=True, title="t"
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(path)
    assert image.shape[:2] == (450, 800)
    assert image.std() > 0.01


def test_plot_schedule_without_matplotlib(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(
        ModuleNotFoundError, match=r"needs matplotlib; install it with `pip install lightning-optim\[plot\]`"
    ):
        plot_schedule(
            declared(OptimizerSpec("sgd", lr=0.1)), tmp_path / "lr.png", max_epochs=1, steps_per_epoch=1
        )
    assert not (tmp_path / "lr.png").exists()


class _Stop(Exception):
    pass


class RecordsStepEstimate(Classifier):
    """Records ``trainer.estimated_stepping_batches`` where ``configure_optimizers`` reads it, then stops."""

    estimate: float = 0

    def configure_optimizers(self) -> Any:
        type(self).estimate = self.trainer.estimated_stepping_batches
        raise _Stop


@pytest.mark.parametrize(
    ("max_epochs", "accumulate_grad_batches", "max_steps"),
    [(3, 1, -1), (3, 2, -1), (4, 4, -1), (3, 3, 4), (2, 1, 100), (-1, 1, 12)],
)
def test_optimizer_steps_is_lightnings_estimate(
    max_epochs: int, accumulate_grad_batches: int, max_steps: int
) -> None:
    options = {
        "max_epochs": max_epochs,
        "accumulate_grad_batches": accumulate_grad_batches,
        "max_steps": max_steps,
    }
    with pytest.raises(_Stop):
        fit(RecordsStepEstimate(), data=loader(40), **options)
    assert (
        optimizer_steps(max_epochs, BATCHES, accumulate_grad_batches, max_steps)
        == RecordsStepEstimate.estimate
    )


class EtaSGD(torch.optim.Optimizer):
    """An optimizer whose step size is `eta`: its groups have no `lr`."""

    def __init__(self, params: Any, eta: float = 0.05) -> None:
        super().__init__(params, {"eta": eta})

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        with torch.enable_grad():
            loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["eta"])
        return loss


class EtaNet(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(
        EtaSGD,
        eta=0.03,
        scheduler=SchedulerSpec(lr_scheduler.StepLR, step_size=1, gamma=0.5, param="eta", interval="step"),
    )


def test_the_default_lr_of_an_optimizer_without_one_is_refused_naming_its_options() -> None:
    """The default ``params=("lr",)`` was not checked as an explicit one: a bare ``KeyError: 'lr'``."""
    message = (
        r"Expected each of `params` .* but got 'lr'\. Options: `eta` of `EtaNet\.optimizer` \(`EtaSGD`\)\. "
    )
    with pytest.raises(ValueError, match=message):
        preview_schedule(EtaNet, max_epochs=1, steps_per_epoch=3)
    assert preview_schedule(EtaNet, max_epochs=1, steps_per_epoch=3, params=("eta",)) == {
        "lr-optimizer-eta": pytest.approx([0.03, 0.015, 0.0075], rel=1e-12)
    }


ADAMW = OptimizerSpec(
    "adamw",
    params="model_gen",
    lr=0.01,
    weight_decay=0.1,
    scheduler=SchedulerSpec("exponential", gamma=0.5, interval="step"),
)
ETA_SCHEDULED = OptimizerSpec(
    EtaSGD,
    params="model_dis",
    eta=0.03,
    scheduler=SchedulerSpec(lr_scheduler.StepLR, step_size=2, gamma=0.5, param="eta", interval="step"),
)
ETA_CONSTANT = OptimizerSpec(EtaSGD, params="model_dis", eta=0.03)


def gan_with(first: str, gen_opt: OptimizerSpec, dis_opt: OptimizerSpec) -> type:
    """A two-optimizer module (manual optimization) declaring ``first`` of ``gen_opt``, ``dis_opt`` first."""
    declared = {"gen_opt": gen_opt, "dis_opt": dis_opt}
    second = "dis_opt" if first == "gen_opt" else "gen_opt"
    attributes = {first: declared[first], second: declared[second]}
    return type("EtaGAN", (ConfigurableOptimizersMixin, TwoNetsByName), attributes)


class StepSizes(Callback):
    """Before every batch, the step size each optimizer trains with, by class: its lr, or its ``eta``."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        for optimizer in trainer.optimizers:
            (group,) = optimizer.param_groups
            size = group["lr"] if "lr" in group else group["eta"]
            self.history.setdefault(type(optimizer).__name__, []).append(size)


def csv_logged(path: Path) -> dict[str, list[float]]:
    """Every key a real fit's ``CSVLogger`` wrote, with its values in order."""
    with open(next(path.rglob("metrics.csv"))) as file:
        rows = list(csv.DictReader(file))
    return {
        key: [float(r[key]) for r in rows if r.get(key)] for key in rows[0] if key not in ("step", "epoch")
    }


@pytest.mark.filterwarnings("ignore:You have set log_")  # LRMonitor's, for the EtaSGD it does not log
@pytest.mark.parametrize("eta", [ETA_SCHEDULED, ETA_CONSTANT], ids=["eta_scheduled", "eta_constant"])
@pytest.mark.parametrize("first", ["gen_opt", "dis_opt"])
def test_an_optimizer_without_lr_beside_one_with_previews_what_lr_monitor_logs(
    first: str, eta: OptimizerSpec, tmp_path: Path
) -> None:
    """Was a bare ``KeyError: 'lr'`` for the default ``params``, and ``0`` for every option that only the other
    optimizer has (AdamW's ``eta``; EtaSGD's momentum and weight decay, which ``LRMonitor`` does not log)."""
    module = gan_with(first, ADAMW, eta)
    monitor = LRMonitor(logging_interval="step", log_momentum=True, log_weight_decay=True)
    sizes = StepSizes()
    options = {**FAST, "logger": CSVLogger(tmp_path), "max_epochs": 2, "log_every_n_steps": 1}
    with pytest.warns(UserWarning, match=r"`LRMonitor`: `EtaSGD` .* nothing is logged for it"):
        L.Trainer(callbacks=[monitor, sizes], **options).fit(module(), loader(40))
    steps = 2 * BATCHES
    adamw = [0.01 * 0.5**step for step in range(steps)]
    etas = [0.03 * 0.5 ** (step // 2) for step in range(steps)] if eta.scheduler else [0.03] * steps
    assert sizes.history == {
        "AdamW": pytest.approx(adamw, rel=1e-12),
        "EtaSGD": pytest.approx(etas, rel=1e-12),
    }

    told = r"`EtaGAN\.dis_opt` \(`EtaSGD`\) has param groups without an lr.* Its options, for `params=`: `eta`\.$"
    with pytest.warns(UserWarning, match=told):
        previewed = preview_schedule(module, max_epochs=2, steps_per_epoch=BATCHES)
    assert previewed == monitor.lrs == {"lr-gen_opt": sizes.history["AdamW"]}

    params = ("lr", "eta", "momentum", "weight_decay")
    previewed = preview_schedule(module, max_epochs=2, steps_per_epoch=BATCHES, params=params)
    logged = csv_logged(tmp_path)
    assert set(logged) == {"lr-gen_opt", "lr-gen_opt-momentum", "lr-gen_opt-weight_decay"}
    # what LRMonitor logs, and EtaSGD's own step size as it trained: the one option only it has
    assert previewed == {**logged, "lr-dis_opt-eta": sizes.history["EtaSGD"]}


def test_an_option_only_one_optimizer_has_is_previewed_for_that_one() -> None:
    """``params=("eta",)`` gave AdamW a key of zeros, ``("weight_decay",)`` EtaSGD one."""
    module = gan_with("gen_opt", ADAMW, ETA_SCHEDULED)
    assert preview_schedule(module, max_epochs=1, steps_per_epoch=4, params=("eta",)) == {
        "lr-dis_opt-eta": pytest.approx([0.03, 0.03, 0.015, 0.015], rel=1e-12)
    }
    assert preview_schedule(module, max_epochs=1, steps_per_epoch=4, params=("weight_decay",)) == {
        "lr-gen_opt-weight_decay": [0.1] * 4
    }


def test_optimizers_without_lr_are_refused_the_lr_naming_each_and_its_options() -> None:
    module = gan_with("gen_opt", OptimizerSpec(EtaSGD, params="model_gen", eta=0.05), ETA_CONSTANT)
    message = (
        "preview_schedule: Expected each of `params` to be a numeric param-group option of the declared optimizers "
        "but got 'lr'. Options: `eta` of `EtaGAN.gen_opt` (`EtaSGD`); `eta` of `EtaGAN.dis_opt` (`EtaSGD`). Their "
        "groups hold no lr (or `lr=None`): `LRMonitor` logs none for them."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        preview_schedule(module, max_epochs=1, steps_per_epoch=4)
    assert preview_schedule(module, max_epochs=1, steps_per_epoch=2, params=("eta",)) == {
        "lr-gen_opt-eta": [0.05] * 2,
        "lr-dis_opt-eta": [0.03] * 2,
    }


def test_an_adafactor_with_lr_none_gets_no_lr_key_as_lr_monitor_logs_none() -> None:
    """transformers' Adafactor computing its own step size (``lr=None``) was previewed as ``[None, None, ...]``."""
    transformers_with_torch()
    options = {"lr": None, "relative_step": True, "warmup_init": True}
    module = gan_with(
        "dis_opt", ADAMW, OptimizerSpec("transformers/adafactor", params="model_dis", **options)
    )
    monitor = LRMonitor(logging_interval="step")
    with pytest.warns(UserWarning, match=r"`LRMonitor`: `Adafactor` has param groups with `lr=None`"):
        L.Trainer(callbacks=[monitor], **FAST, max_epochs=1, log_every_n_steps=1).fit(module(), loader(16))
    assert list(monitor.lrs) == ["lr-gen_opt"]
    with pytest.warns(UserWarning, match=r"`EtaGAN\.dis_opt` \(`Adafactor`\) has param groups without an lr"):
        assert preview_schedule(module, max_epochs=1, steps_per_epoch=2) == monitor.lrs
    alone = declared(OptimizerSpec("transformers/adafactor", **options))
    refused = r"but got 'lr'\. Options: .* of `\w+\.optimizer` \(`Adafactor`\)\. Their groups hold no lr \(or `lr=None`\)"
    with pytest.raises(ValueError, match=refused):
        preview_schedule(alone, max_epochs=1, steps_per_epoch=2)


def test_lr_monitor_says_what_it_does_for_an_optimizer_without_an_lr_option(tmp_path: Path) -> None:
    """``EtaSGD``'s groups have no ``lr`` key: the warning blamed ``lr=None`` (Adafactor), and with
    ``log_weight_decay=True`` (and ``log_momentum=True``) another said a weight decay (a momentum) of 0 would be
    logged for it, though nothing is."""
    monitor = LRMonitor(logging_interval="step", log_weight_decay=True, log_momentum=True)
    options = {**FAST, "logger": CSVLogger(tmp_path), "max_epochs": 1, "log_every_n_steps": 1}
    told = r"`LRMonitor`: `EtaSGD` has param groups without an `lr` option: nothing is logged for it\.$"
    with pytest.warns(UserWarning, match=told) as record:
        L.Trainer(callbacks=[monitor], **options).fit(EtaNet(), loader(40))
    assert not [w for w in record if re.search("log_weight_decay|log_momentum", str(w.message))]
    assert monitor.lrs == {}
