"""Several schedulers on one optimizer (``scheduler=[...]``) against hand-written Lightning references.

The references return the same schedulers from a hand-written ``configure_optimizers`` in Lightning's
two-list format (automatic optimization: Lightning steps them) or step them by hand in a manual loop (after
``opt.step()`` per step, at the epoch's end per epoch). Lightning's own ``LearningRateMonitor`` logs the
reference's lrs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
import yaml
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.optim import SGD, Adam
from torch.optim.lr_scheduler import ExponentialLR, LambdaLR, LinearLR, MultiStepLR, StepLR

from lightning_optim import (
    ConfigurableOptimizersMixin,
    HParam,
    LRMonitor,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    preview_schedule,
)
from lightning_optim.tools.config import spec_from_dict, spec_to_dict
from lightning_optim.tools.describe import describe_optimizers
from tests.helpers import (
    FAST,
    Classifier,
    TwoNets,
    TwoNetsByName,
    assert_same_weights,
    fit,
    fit_resumed,
    loader,
)
from tests.training.test_resume import Resumable

#: a per-step warmup and a per-epoch decay on one optimizer (the issue's example)
MIXED = [
    SchedulerSpec("linear", start_factor=0.1, total_iters=5, interval="step"),
    SchedulerSpec("multistep", milestones=[2], gamma=0.1),
]


class Declared(ConfigurableOptimizersMixin, Classifier):
    optimizer = OptimizerSpec(
        SGD,
        lr=0.1,
        momentum=0.9,
        implementation="forloop",
        groups=[ParamGroup("model_gen.layer1", lr=0.5)],
        scheduler=MIXED,
    )


class HandWritten(Classifier):
    def configure_optimizers(self) -> Any:
        layer1 = list(self.model_gen.layer1.parameters())
        rest = list(self.model_gen.layer2.parameters())
        optimizer = SGD(
            [
                {"params": layer1, "lr": 0.5, "name": "model_gen.layer1"},
                {"params": rest, "name": "rest"},
            ],
            lr=0.1,
            momentum=0.9,
        )
        warmup = LinearLR(optimizer, start_factor=0.1, total_iters=5)
        decay = MultiStepLR(optimizer, milestones=[2], gamma=0.1)
        return [optimizer], [
            {"scheduler": warmup, "interval": "step"},
            {"scheduler": decay, "interval": "epoch"},
        ]


def _monitored_fit(module: L.LightningModule, monitor: L.Callback, tmp_path: Path, **kwargs: Any) -> Any:
    options = {**FAST, "max_epochs": 4, "log_every_n_steps": 1, **kwargs}
    options["logger"] = CSVLogger(tmp_path)
    trainer = L.Trainer(callbacks=[monitor], **options)
    trainer.fit(module, loader())
    return monitor


def test_list_matches_a_hand_written_two_list_configure_optimizers(tmp_path: Path) -> None:
    ours, theirs = Declared(), HandWritten()
    mine = _monitored_fit(ours, LRMonitor(logging_interval="step"), tmp_path / "a")
    lightning = _monitored_fit(theirs, LearningRateMonitor(logging_interval="step"), tmp_path / "b")
    # one key per group (Lightning's monitor logs the optimizer once per scheduler config: lr-SGD, lr-SGD-1)
    assert list(mine.lrs) == ["lr-optimizer/model_gen.layer1", "lr-optimizer/rest"]
    for group in ("model_gen.layer1", "rest"):
        assert list(mine.lrs[f"lr-optimizer/{group}"]) == lightning.lrs[f"lr-SGD/{group}"]
        assert lightning.lrs[f"lr-SGD/{group}"] == lightning.lrs[f"lr-SGD-1/{group}"]
    assert_same_weights(ours, theirs)
    # the warmup's five steps, then the epoch-2 milestone: 0.1 * [0.1, 0.28, 0.46, 0.64, 0.82, 1, 1, 1] ...
    rest = list(mine.lrs["lr-optimizer/rest"])
    assert rest[:6] == pytest.approx([0.01, 0.028, 0.046, 0.064, 0.082, 0.1])
    assert rest[8:] == pytest.approx([0.01] * 8)


@pytest.mark.parametrize("logging_interval", ["step", None])
def test_lightnings_own_monitor_logs_a_list_as_a_hand_written_module(
    logging_interval: str | None, tmp_path: Path
) -> None:
    # every scheduler config was named `lr-optimizer`, so Lightning's monitor logged each value twice under one
    # key (two points per step); the second is `lr-optimizer-1`, as Lightning names a hand-written `lr-SGD-1`
    mine = _monitored_fit(Declared(), LearningRateMonitor(logging_interval), tmp_path / "a")
    lightning = _monitored_fit(HandWritten(), LearningRateMonitor(logging_interval), tmp_path / "b")
    renamed = {key.replace("lr-SGD", "lr-optimizer"): list(lrs) for key, lrs in lightning.lrs.items()}
    assert {key: list(lrs) for key, lrs in mine.lrs.items()} == renamed
    assert list(renamed) == [
        "lr-optimizer/model_gen.layer1",
        "lr-optimizer/rest",
        "lr-optimizer-1/model_gen.layer1",
        "lr-optimizer-1/rest",
    ]


class DeclaredWarmup(ConfigurableOptimizersMixin, Classifier):
    """A per-step warmup of 6 steps on a constant ``StepLR`` next to a per-epoch decay at epoch 1, inside it."""

    optimizer = OptimizerSpec(
        SGD,
        lr=0.1,
        implementation="forloop",
        scheduler=[
            SchedulerSpec("step", step_size=1000, interval="step", warmup=6),
            SchedulerSpec("multistep", milestones=[1], gamma=0.1),
        ],
    )


class HandWrittenWarmup(Classifier):
    """The warmup as torch's chainable ``LinearLR`` from the same first factor ``1 / 7``."""

    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=0.1)
        warmup = LinearLR(optimizer, start_factor=1 / 7, total_iters=6)
        return [optimizer], [
            {"scheduler": warmup, "interval": "step"},
            {"scheduler": MultiStepLR(optimizer, milestones=[1], gamma=0.1), "interval": "epoch"},
        ]


def test_a_warmup_in_a_list_multiplies_the_lr_the_others_left(tmp_path: Path) -> None:
    """The warmup set ``target * factor`` outright, so the decay at epoch 1 (step 4) was undone at the next step
    and lost for the rest of the run."""
    ours, theirs = DeclaredWarmup(), HandWrittenWarmup()
    mine = _monitored_fit(ours, LRMonitor(logging_interval="step"), tmp_path / "a", max_epochs=3)
    lightning = _monitored_fit(
        theirs, LearningRateMonitor(logging_interval="step"), tmp_path / "b", max_epochs=3
    )
    lrs = list(mine.lrs["lr-optimizer"])
    assert lrs == pytest.approx(lightning.lrs["lr-SGD"], rel=1e-12)
    # 0.1 * k/7 for steps 0-3, then a tenth of it from epoch 1, up to 0.01 at step 6 and after
    assert lrs == pytest.approx(
        [0.1 * k / 7 for k in (1, 2, 3, 4)] + [0.01 * k / 7 for k in (5, 6)] + [0.01] * 6
    )


#: a warmup "from 0" (``0, 1/3, 2/3``, then 1) on a constant ``StepLR``, per epoch
FROM_ZERO = SchedulerSpec("step", step_size=1000, warmup=3, warmup_start_factor=0.0)


def from_zero(*scheduler: SchedulerSpec) -> type[Classifier]:
    optimizer = OptimizerSpec(SGD, lr=0.1, implementation="forloop", scheduler=list(scheduler))
    return type("FromZero", (ConfigurableOptimizersMixin, Classifier), {"optimizer": optimizer})


class HandWrittenFromZero(Classifier):
    """The product the list of an ``ExponentialLR(gamma=0.5)`` and the warmup from 0 trains at, as one
    ``LambdaLR``: ``0.5 ** updates`` times the warmup's ``0, 1/3, 2/3``, then 1 (per epoch; 4 steps each)."""

    interval = "epoch"

    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=0.1)
        if self.interval == "step":
            product = LambdaLR(optimizer, lambda step: 0.5**step * min(step // 4 / 3, 1.0))
        else:
            product = LambdaLR(optimizer, lambda epoch: 0.5**epoch * min(epoch / 3, 1.0))
        return [optimizer], [{"scheduler": product, "interval": self.interval}]


class HandWrittenFromZeroPerStep(HandWrittenFromZero):
    interval = "step"


@pytest.mark.parametrize("interval", ["epoch", "step"])
@pytest.mark.parametrize("warmup_first", [False, True], ids=["decay-first", "warmup-first"])
def test_a_warmup_from_0_multiplies_the_others_factors_in_either_order(
    interval: str, warmup_first: bool
) -> None:
    """While the warmup held the lr at 0, the decay's factors multiplied that 0 and were not seen: the warmup
    went on from its old target, and the run trained at 2x (one epoch decay lost) or 16x (a first epoch of step
    decays lost) the product, depending on the order (found by a numerics hunt)."""
    decay = SchedulerSpec("exponential", gamma=0.5, interval=interval)
    ours = from_zero(*([FROM_ZERO, decay] if warmup_first else [decay, FROM_ZERO]))()
    theirs = HandWrittenFromZeroPerStep() if interval == "step" else HandWrittenFromZero()
    mine = fit(ours, max_epochs=5)
    assert mine.history == fit(theirs, max_epochs=5).history  # bit for bit: the factors are powers of 2
    assert_same_weights(ours, theirs)
    assert preview_schedule(type(ours), max_epochs=5, steps_per_epoch=4) == {"lr-optimizer": mine.of()}
    if interval == "epoch":
        assert mine.of()[::4] == pytest.approx([0.0, 0.1 * 0.5 / 3, 0.1 * 0.25 * 2 / 3, 0.1 / 8, 0.1 / 16])


def test_a_warmup_from_0_takes_the_start_of_a_scheduler_built_after_it() -> None:
    """``LinearLR``'s construction multiplies the lr it finds by its ``start_factor``: built on the warmup's 0,
    that factor was lost, and its later updates (ratios of its factors) took the lr to twice the product."""
    ours = from_zero(FROM_ZERO, SchedulerSpec("linear", start_factor=0.5, total_iters=2))()
    linear = [0.5, 0.75, 1.0, 1.0, 1.0]
    warmup = [0.0, 1 / 3, 2 / 3, 1.0, 1.0]
    assert fit(ours, max_epochs=5).of()[::4] == pytest.approx(
        [0.1 * a * b for a, b in zip(linear, warmup)], rel=1e-12
    )


@pytest.mark.parametrize(("checkpoint", "done"), [("epoch=0-step=2.ckpt", 2), ("epoch=1-step=6.ckpt", 6)])
def test_a_warmup_from_0_resumes_exactly(checkpoint: str, done: int, tmp_path: Path) -> None:
    """At step 2 the warmup holds the lr at 0 and has taken in two step decays; at step 6, at 1/3 of it."""
    options = {"max_epochs": 4, "enable_checkpointing": True, "default_root_dir": tmp_path}
    declared = from_zero(SchedulerSpec("exponential", gamma=0.5, interval="step"), FROM_ZERO)
    full, resumed = declared(), declared()
    saver = _checkpoints(tmp_path / "ckpt", every_n_train_steps=2)
    whole = fit_resumed(full, None, data=Resumable(), callbacks=[saver], **options)
    assert whole.history == fit(HandWrittenFromZeroPerStep(), data=Resumable(), max_epochs=4).history
    rest = fit_resumed(resumed, str(tmp_path / "ckpt" / checkpoint), data=Resumable(), **options)
    assert rest.history == whole.history[done:]
    assert_same_weights(full, resumed)


TWO_FROM_ZERO = (
    r"FromZero\.optimizer\.scheduler: Expected at most one warmup from `warmup_start_factor=0\.0` among the "
    r"schedulers of `lr` in the list but got `scheduler\[0\]` and `scheduler\[1\]`: each would multiply the 0 "
)


def test_two_warmups_from_0_of_one_option_are_refused_and_one_from_above_0_trains_at_the_product() -> None:
    """Each multiplied the 0 the other held the lr at, and the run trained at lr 0 throughout."""
    second = {"gamma": 1.0, "warmup": 2}
    with pytest.raises(ValueError, match=TWO_FROM_ZERO):
        from_zero(FROM_ZERO, SchedulerSpec("exponential", warmup_start_factor=0.0, **second))
    read = from_zero(FROM_ZERO, SchedulerSpec("exponential", warmup_start_factor=HParam("start"), **second))
    module = read()
    module.start = 0.0
    read_at_fit = (
        r"`scheduler\[1\]\.warmup_start_factor` from hparam `start` = 0\.0: Expected at most one warmup"
    )
    with pytest.raises(ValueError, match=read_at_fit):
        fit(module, max_epochs=4)
    near = from_zero(FROM_ZERO, SchedulerSpec("exponential", warmup_start_factor=1e-12, **second))
    warmups = [min(epoch / 3, 1.0) * min(epoch / 2 + 1e-12 * (1 - epoch / 2), 1.0) for epoch in range(4)]
    assert fit(near(), max_epochs=4).of()[::4] == pytest.approx([0.1 * w for w in warmups], rel=1e-9)


def test_lists_in_the_fit_configuration_are_flattened_in_declaration_order() -> None:
    seen: dict[str, Any] = {}

    class Probe(L.Callback):
        def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            seen["configs"] = [
                (type(c.scheduler.inner), c.interval, c.name) for c in trainer.lr_scheduler_configs
            ]

    fit(Declared(), max_epochs=1, limit_train_batches=1, callbacks=[Probe()])
    assert seen["configs"] == [(LinearLR, "step", "lr-optimizer"), (MultiStepLR, "epoch", "lr-optimizer-1")]


def test_monitor_logs_an_optimizer_with_mixed_intervals_once_per_step(tmp_path: Path) -> None:
    monitor = _monitored_fit(Declared(), LRMonitor(), tmp_path, max_epochs=2)
    # logging_interval=None: a step scheduler among the list -> every step, one entry per step (not two)
    assert len(monitor.lrs["lr-optimizer/rest"]) == 8
    assert list(monitor.lr_steps["lr-optimizer/rest"]) == list(range(8))


def _checkpoints(tmp_path: Path, **kwargs: Any) -> ModelCheckpoint:
    return ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, save_last=False, **kwargs)


@pytest.mark.parametrize(
    ("save", "checkpoint", "done"),
    [
        ({"every_n_epochs": 1}, "epoch=1-step=8.ckpt", 8),
        ({"every_n_train_steps": 6}, "epoch=1-step=6.ckpt", 6),
    ],
)
def test_list_resumes_exactly(save: dict[str, int], checkpoint: str, done: int, tmp_path: Path) -> None:
    options = {"max_epochs": 4, "enable_checkpointing": True, "default_root_dir": tmp_path}
    full, resumed, reference = Declared(), Declared(), HandWritten()
    path = str(tmp_path / "ckpt" / checkpoint)
    whole = fit_resumed(
        full, None, data=Resumable(), callbacks=[_checkpoints(tmp_path / "ckpt", **save)], **options
    )
    rest = fit_resumed(resumed, path, data=Resumable(), **options)
    assert rest.history == whole.history[done:]
    assert_same_weights(full, resumed)
    # Lightning restores the same states into the hand-written schedulers, by position
    assert fit_resumed(reference, path, data=Resumable(), **options).history == rest.history
    assert_same_weights(reference, resumed)


def test_resume_refuses_a_changed_list_element(tmp_path: Path) -> None:
    options = {"max_epochs": 2, "enable_checkpointing": True, "default_root_dir": tmp_path}
    fit_resumed(Declared(), None, callbacks=[_checkpoints(tmp_path / "ckpt", every_n_epochs=1)], **options)
    changed = type(
        "Model",
        (Declared,),
        {
            "optimizer": OptimizerSpec(
                SGD,
                lr=0.1,
                momentum=0.9,
                groups=[ParamGroup("model_gen.layer1", lr=0.5)],
                implementation="forloop",
                scheduler=[MIXED[0], SchedulerSpec("multistep", milestones=[3], gamma=0.1)],
            )
        },
    )
    with pytest.raises(
        ValueError,
        match=r"optimizers\[0 'optimizer'\]\.schedulers\[1\]\.arguments: "
        r"'gamma=0\.1, milestones=\[2\]' in the checkpoint, 'gamma=0\.1, milestones=\[3\]' now",
    ):
        fit_resumed(changed(), str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt"), **options)


def test_resume_fresh_restarts_every_scheduler_of_a_list(tmp_path: Path) -> None:
    options = {"max_epochs": 2, "enable_checkpointing": True, "default_root_dir": tmp_path}
    fit_resumed(Declared(), None, callbacks=[_checkpoints(tmp_path / "ckpt", every_n_epochs=1)], **options)
    fresh = type(
        "Fresh",
        (Declared,),
        {
            "resume_changed_setup": "fresh",
            "optimizer": OptimizerSpec(SGD, lr=0.2, scheduler=[MIXED[0], SchedulerSpec("step", step_size=1)]),
        },
    )
    rest = fit_resumed(fresh(), str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt"), **options)
    # both schedulers start anew at the resumed step: the warmup from 0.1 x, StepLR from its first epoch
    assert rest.of() == pytest.approx([0.02, 0.056, 0.092, 0.128])


class GAN(ConfigurableOptimizersMixin, TwoNetsByName):
    gen_opt = OptimizerSpec(Adam, params="model_gen", lr=0.01, implementation="forloop", scheduler=MIXED)
    dis_opt = OptimizerSpec(
        Adam,
        params="model_dis",
        lr=0.02,
        implementation="forloop",
        scheduler=[
            SchedulerSpec("exponential", gamma=0.9, interval="step"),
            SchedulerSpec("step", step_size=1, gamma=0.5),
        ],
    )


class HandWrittenGAN(TwoNets):
    def configure_optimizers(self) -> Any:
        gen = Adam(self.model_gen.parameters(), lr=0.01)
        dis = Adam(self.model_dis.parameters(), lr=0.02)
        self.per_step = [[LinearLR(gen, start_factor=0.1, total_iters=5)], [ExponentialLR(dis, gamma=0.9)]]
        self.per_epoch = [MultiStepLR(gen, milestones=[2], gamma=0.1), StepLR(dis, step_size=1, gamma=0.5)]
        return [gen, dis], [self.per_step[0][0], self.per_epoch[0], self.per_step[1][0], self.per_epoch[1]]

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        for net, opt, schedulers in zip((self.model_gen, self.model_dis), self.optimizers(), self.per_step):
            loss = nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()
            for scheduler in schedulers:
                scheduler.step()

    def on_train_epoch_end(self) -> None:
        for scheduler in self.per_epoch:
            scheduler.step()


def test_manual_lists_match_a_hand_written_manual_loop() -> None:
    ours, theirs = GAN(), HandWrittenGAN()
    mine, reference = fit(ours, max_epochs=3), fit(theirs, max_epochs=3)
    assert mine.history == reference.history
    assert_same_weights(ours, theirs)
    assert mine.of(1) == pytest.approx([0.02 * 0.9**i * 0.5 ** (i // 4) for i in range(12)])


@pytest.mark.parametrize("module", [Declared, GAN])
def test_preview_equals_fit(module: type[L.LightningModule], tmp_path: Path) -> None:
    monitor = _monitored_fit(module(), LRMonitor(logging_interval="step"), tmp_path, max_epochs=3)
    preview = preview_schedule(module, max_epochs=3, steps_per_epoch=4)
    assert preview == {key: list(values) for key, values in monitor.lrs.items()}


def test_describe_lists_the_schedulers_in_order() -> None:
    lines = describe_optimizers(Declared()).splitlines()
    assert lines[-2:] == [
        "  scheduler[0]: LinearLR(start_factor=0.1, total_iters=5), every step",
        "  scheduler[1]: MultiStepLR(milestones=[2], gamma=0.1), every epoch",
    ]


def test_yaml_round_trip_keeps_the_list() -> None:
    spec = Declared.optimizer
    data = yaml.safe_load(yaml.safe_dump(spec_to_dict(spec)))
    assert [s["class_path"] for s in data["scheduler"]] == [
        "torch.optim.lr_scheduler.LinearLR",
        "torch.optim.lr_scheduler.MultiStepLR",
    ]
    read = spec_from_dict(data)
    assert isinstance(read.scheduler, tuple)
    assert [s.scheduler for s in read.scheduler] == [LinearLR, MultiStepLR]
    assert spec_to_dict(read) == spec_to_dict(spec)


def test_at_most_one_metric_prefix_per_list() -> None:
    with pytest.raises(
        ValueError,
        match=r"Model\.optimizer: Expected at most one metric prefix `name` across the optimizer's schedulers "
        r".* but got 'lr-a' in `Model\.optimizer\.scheduler\[0\]` and 'lr-b' in `Model\.optimizer\.scheduler\[2\]`",
    ):
        type(
            "Model",
            (ConfigurableOptimizersMixin, Classifier),
            {
                "optimizer": OptimizerSpec(
                    "sgd",
                    lr=0.1,
                    scheduler=[
                        SchedulerSpec("step", step_size=1, name="lr-a"),
                        SchedulerSpec("step", step_size=1),
                        SchedulerSpec("step", step_size=1, name="lr-b"),
                    ],
                )
            },
        )


def test_messages_name_the_list_element() -> None:
    with pytest.raises(
        TypeError, match=r"Model\.optimizer\.scheduler\[1\]: `StepLR` got an unexpected argument"
    ):
        type(
            "Model",
            (ConfigurableOptimizersMixin, Classifier),
            {
                "optimizer": OptimizerSpec(
                    "sgd", lr=0.1, scheduler=[MIXED[0], SchedulerSpec("step", step_size=1, lnterval="step")]
                )
            },
        )


def test_plateau_in_a_list_gets_its_metric() -> None:
    class Plateau(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(
            "sgd",
            lr=0.1,
            scheduler=[MIXED[0], SchedulerSpec("plateau", monitor="flat", patience=0, factor=0.5)],
        )

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            self.log("flat", 1.0)
            return super().training_step(batch, batch_idx)

    lrs = fit(Plateau(), max_epochs=3, limit_train_batches=2).of()
    # warmup per step (0.1 x -> +0.18 per step); the plateau halves the lr after epoch 1 (epoch 0 is the best)
    assert lrs == pytest.approx([0.01, 0.028, 0.046, 0.064, 0.041, 0.05])


def test_cli_sets_a_declared_list_from_a_config(tmp_path: Path) -> None:
    pytest.importorskip("jsonargparse")
    from lightning_optim.cli import DeclarativeCLI

    config = tmp_path / "config.yaml"
    changed = [
        {"class_path": "linear", "init_args": {"start_factor": 0.5, "total_iters": 2}, "interval": "step"},
        {"class_path": "step", "init_args": {"step_size": 1, "gamma": 0.5}, "begin": 1},
    ]
    config.write_text(yaml.safe_dump({"optim": {"optimizer": {"scheduler": changed}}}))
    model = DeclarativeCLI(Declared, args=["--config", str(config)], run=False, trainer_defaults=FAST).model
    scheduler = type(model).optimizer.scheduler
    assert isinstance(scheduler, tuple)
    assert [spec_to_dict(s) for s in scheduler] == [
        {**changed[0], "class_path": "torch.optim.lr_scheduler.LinearLR"},
        {**changed[1], "class_path": "torch.optim.lr_scheduler.StepLR"},
    ]


class ReadsEachLastLr(Classifier):
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self.read = [*getattr(self, "read", []), [s.get_last_lr() for s in self.lr_schedulers()]]  # type: ignore[union-attr]


def test_get_last_lr_of_each_scheduler_of_a_list_is_its_own_as_a_hand_written_modules() -> None:
    """``get_last_lr()`` of the first scheduler of a list gave the lr after every scheduler of the list had stepped
    (0.05 after ExponentialLR(0.5) then StepLR(1, 0.1)), where a hand-written one gives the lr its own step left
    (0.5); the same for a per-step warmup beside a per-epoch decay (``MIXED``)."""

    class DecaysThenSteps(ConfigurableOptimizersMixin, ReadsEachLastLr):
        optimizer = OptimizerSpec(
            SGD,
            lr=1.0,
            scheduler=[
                SchedulerSpec(ExponentialLR, gamma=0.5),
                SchedulerSpec(StepLR, step_size=1, gamma=0.1),
            ],
        )

    class HandDecaysThenSteps(ReadsEachLastLr):
        def configure_optimizers(self) -> Any:
            optimizer = SGD(self.parameters(), lr=1.0)
            return [optimizer], [
                ExponentialLR(optimizer, gamma=0.5),
                StepLR(optimizer, step_size=1, gamma=0.1),
            ]

    class Mixed(ConfigurableOptimizersMixin, ReadsEachLastLr):
        optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=MIXED)

    class HandMixed(ReadsEachLastLr):
        def configure_optimizers(self) -> Any:
            optimizer = SGD(self.parameters(), lr=0.1)
            warmup = LinearLR(optimizer, start_factor=0.1, total_iters=5)
            decay = MultiStepLR(optimizer, milestones=[2], gamma=0.1)
            return [optimizer], [
                {"scheduler": warmup, "interval": "step"},
                {"scheduler": decay, "interval": "epoch"},
            ]

    for declared, hand_written, options in (
        (DecaysThenSteps(), HandDecaysThenSteps(), {"max_epochs": 3, "limit_train_batches": 1}),
        (Mixed(), HandMixed(), {"max_epochs": 4}),
    ):
        fit(declared, **options)
        fit(hand_written, **options)
        flat = [[lr for lrs in read for lr in lrs] for read in hand_written.read]
        assert [[lr for lrs in read for lr in lrs] for read in declared.read] == [
            pytest.approx(f) for f in flat
        ]
