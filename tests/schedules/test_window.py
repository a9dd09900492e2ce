"""Phases (``begin``/``end`` windows) against mmengine's ``param_scheduler`` lists (installed reference).

mmengine's schedulers are driven by hand on a plain torch optimizer as its ``ParamSchedulerHook`` does
(mmengine/runner/hooks/param_scheduler_hook.py: ``after_train_iter`` steps every ``by_epoch=False``
scheduler, ``after_train_epoch`` every ``by_epoch=True`` one, each in list order); the window semantics are
``_ParamScheduler.step`` in mmengine/optim/scheduler/param_scheduler.py. Ours run in a real Lightning fit and
are read by ``LRMonitor(logging_interval="step")``: the lr of every iteration.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch.optim import SGD
from torch.optim.lr_scheduler import ConstantLR, CosineAnnealingLR, LinearLR

from lightning_optim import (
    ConfigurableOptimizersMixin,
    LRMonitor,
    OptimizerSpec,
    SchedulerSpec,
    preview_schedule,
)
from lightning_optim.schedules.schedule import Schedule
from lightning_optim.schedules.shape import Shape
from tests.helpers import FAST, Classifier, fit_resumed, loader

mm = pytest.importorskip("mmengine.optim.scheduler")

STEPS_PER_EPOCH = 4  # tests.helpers.loader(): 32 samples in batches of 8


def mmengine_lrs(
    build: Callable[[torch.optim.Optimizer], Sequence[Any]], epochs: int, lr: float = 1.0
) -> list[float]:
    """The lr of every iteration of ``epochs`` epochs under mmengine's schedulers, stepped as its hook does."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schedulers = build(optimizer)
        lrs = []
        for _ in range(epochs):
            for _ in range(STEPS_PER_EPOCH):
                lrs.append(optimizer.param_groups[0]["lr"])
                optimizer.step()
                for scheduler in schedulers:
                    if not scheduler.by_epoch:
                        scheduler.step()
            for scheduler in schedulers:
                if scheduler.by_epoch:
                    scheduler.step()
    return lrs


def declared(schedulers: list[SchedulerSpec]) -> type[L.LightningModule]:
    optimizer = OptimizerSpec(SGD, lr=1.0, implementation="forloop", scheduler=schedulers)
    return type("Phases", (ConfigurableOptimizersMixin, Classifier), {"optimizer": optimizer})


def fitted_lrs(module: type[L.LightningModule], epochs: int, tmp_path: Path) -> list[float]:
    monitor = LRMonitor(logging_interval="step")
    trainer = L.Trainer(callbacks=[monitor], **{**FAST, "max_epochs": epochs, "log_every_n_steps": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no logger
        trainer.fit(module(), loader())
    return list(monitor.lrs["lr-optimizer"])


# (a) a linear warmup over the first 5 iterations, then a cosine over the next 15
WARMUP_COSINE = (
    lambda o: [
        mm.LinearLR(o, start_factor=0.1, begin=0, end=5, by_epoch=False),
        mm.CosineAnnealingLR(o, begin=5, end=20, T_max=15, by_epoch=False),
    ],
    [
        SchedulerSpec("linear", start_factor=0.1, begin=0, end=5, interval="step"),
        SchedulerSpec("cosine", begin=5, end=20, T_max=15, interval="step"),
    ],
)
# (b) an epoch-based MultiStepLR after an iteration-based warmup
WARMUP_MULTISTEP = (
    lambda o: [
        mm.LinearLR(o, start_factor=0.25, by_epoch=False, begin=0, end=4),
        mm.MultiStepLR(o, by_epoch=True, milestones=[2, 3], begin=0, end=5),
    ],
    [
        SchedulerSpec("linear", start_factor=0.25, begin=0, end=4, interval="step"),
        SchedulerSpec("multistep", milestones=[2, 3], begin=0, end=5),
    ],
)
# (c) a ConstantLR window in the middle of a warmup-then-exponential run
CONSTANT_WINDOW = (
    lambda o: [
        mm.LinearLR(o, start_factor=0.2, begin=0, end=4, by_epoch=False),
        mm.ConstantLR(o, factor=0.5, begin=6, end=11, by_epoch=False),
        mm.ExponentialLR(o, gamma=0.9, begin=2, by_epoch=True),
    ],
    [
        SchedulerSpec("linear", start_factor=0.2, begin=0, end=4, interval="step"),
        SchedulerSpec("constant", factor=0.5, begin=6, end=11, interval="step"),
        SchedulerSpec("exponential", gamma=0.9, begin=2),
    ],
)


@pytest.mark.parametrize(
    ("reference", "epochs"),
    [(WARMUP_COSINE, 6), (WARMUP_MULTISTEP, 6), (CONSTANT_WINDOW, 6)],
    ids=["warmup-cosine", "warmup-multistep", "constant-window"],
)
def test_fit_equals_mmengine(reference: Any, epochs: int, tmp_path: Path) -> None:
    build, specs = reference
    expected = mmengine_lrs(build, epochs)
    assert len(set(expected)) > 3, "the schedule must move for the test to mean anything"
    assert fitted_lrs(declared(specs), epochs, tmp_path) == pytest.approx(expected, rel=1e-12, abs=0.0)
    assert preview_schedule(declared(specs), max_epochs=epochs, steps_per_epoch=STEPS_PER_EPOCH)[
        "lr-optimizer"
    ] == pytest.approx(expected, rel=1e-12, abs=0.0)


def test_lengths_left_out_are_derived_from_the_window(tmp_path: Path) -> None:
    # mmengine: LinearLR total_iters = end - begin - 1, CosineAnnealingLR T_max = end - begin
    build, _ = WARMUP_COSINE
    expected = mmengine_lrs(build, 5)
    derived = [
        SchedulerSpec("linear", start_factor=0.1, end=5, interval="step"),
        SchedulerSpec("cosine", begin=5, interval="step"),  # to the end of the run: 20 - 5
    ]
    assert fitted_lrs(declared(derived), 5, tmp_path) == pytest.approx(expected, rel=1e-12, abs=0.0)
    fractions = [
        SchedulerSpec("linear", start_factor=0.1, end=0.25, interval="step"),
        SchedulerSpec("cosine", begin=0.25, end=1.0, interval="step"),
    ]
    assert fitted_lrs(declared(fractions), 5, tmp_path) == pytest.approx(expected, rel=1e-12, abs=0.0)


def test_a_window_beginning_at_0_0_begins_at_the_first_update(tmp_path: Path) -> None:
    # a fraction 0.0 of the run is its first update, as `begin=0`
    build, _ = WARMUP_COSINE
    expected = mmengine_lrs(build, 5)
    fractions = [
        SchedulerSpec("linear", start_factor=0.1, begin=0.0, end=0.25, interval="step"),
        SchedulerSpec("cosine", begin=0.25, end=1.0, interval="step"),
    ]
    assert fitted_lrs(declared(fractions), 5, tmp_path) == pytest.approx(expected, rel=1e-12, abs=0.0)
    counted = [SchedulerSpec("linear", start_factor=0.1, begin=0, end=0.25, interval="step"), fractions[1]]
    assert fitted_lrs(declared(fractions), 5, tmp_path) == fitted_lrs(declared(counted), 5, tmp_path)


def test_window_resumes_before_and_inside_its_window(tmp_path: Path) -> None:
    from lightning.pytorch.callbacks import ModelCheckpoint

    module = declared(CONSTANT_WINDOW[1])
    options = {"max_epochs": 5, "enable_checkpointing": True, "default_root_dir": tmp_path}
    save = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    whole = fit_resumed(module(), None, callbacks=[save], **options)
    for done, name in ((4, "epoch=0-step=4.ckpt"), (8, "epoch=1-step=8.ckpt")):  # before / inside [6, 11)
        rest = fit_resumed(module(), str(tmp_path / "ckpt" / name), **options)
        assert rest.history == whole.history[done:]


def test_window_state_dict_round_trip() -> None:
    def fresh() -> tuple[torch.optim.Optimizer, Schedule]:
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        cosine = lambda o, _: CosineAnnealingLR(o, T_max=6)  # noqa: E731
        return optimizer, Schedule(optimizer, cosine, shape=Shape(window=(3, 9)))

    def run(resume_at: int | None) -> list[float]:
        optimizer, window = fresh()
        lrs = []
        for i in range(12):
            if i == resume_at:
                state, opt_state = window.state_dict(), optimizer.state_dict()
                optimizer, window = fresh()
                optimizer.load_state_dict(opt_state)
                window.load_state_dict(state)
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            window.step()
        return lrs

    whole = run(None)
    assert run(2) == whole and run(5) == whole


def test_window_wrapper_equals_mmengine_by_hand() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    windows = [
        Schedule(
            optimizer, lambda o, _: LinearLR(o, start_factor=0.2, total_iters=3), shape=Shape(window=(0, 4))
        ),
        Schedule(
            optimizer, lambda o, _: ConstantLR(o, factor=0.5, total_iters=4), shape=Shape(window=(6, 11))
        ),
    ]
    ours = []
    for _ in range(16):
        ours.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        for window in windows:
            window.step()
    reference = mmengine_lrs(lambda o: CONSTANT_WINDOW[0](o)[:2], 4)
    assert ours == pytest.approx(reference, rel=1e-12, abs=0.0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"begin": -1}, r"Expected `begin` to be None, an int >= 0 .* but got -1"),
        (
            {"begin": 1.0},
            r"Expected `begin` to be None, an int >= 0 \(the scheduler's updates\) or a float in \[0, 1\) "
            r"\(fraction of the run; 0\.0 is its start\) but got 1\.0\.$",
        ),
        # a window ending at 0.0 of the run would be empty: `end` stays > 0
        (
            {"end": 0.0},
            r"Expected `end` to be None \(the end of the run\), .* float in \(0, 1\] .* but got 0\.0",
        ),
        ({"end": 1.5}, r"Expected `end` to be None \(the end of the run\), an int >= 1 .* but got 1\.5"),
        ({"begin": 5, "end": 5}, r"Expected `end` to be after `begin` but got begin=5, end=5"),
        ({"end": 5, "warmup": 2}, r"`warmup` cannot be combined with a window"),
    ],
)
def test_bad_windows_are_refused_at_class_definition(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=r"Phases\.optimizer\.scheduler\[0\]: " + message):
        declared([SchedulerSpec("cosine", interval="step", **options)])


def test_manual_optimization_steps_windows_as_mmengine(tmp_path: Path) -> None:
    from tests.helpers import TwoNets

    class GAN(ConfigurableOptimizersMixin, TwoNets):
        gen_opt = OptimizerSpec(SGD, params="model_gen", lr=1.0, scheduler=list(WARMUP_MULTISTEP[1]))
        dis_opt = OptimizerSpec(SGD, params="model_dis", lr=1.0, scheduler=list(CONSTANT_WINDOW[1]))

    monitor = LRMonitor(logging_interval="step")
    trainer = L.Trainer(callbacks=[monitor], **{**FAST, "max_epochs": 6, "log_every_n_steps": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(GAN(), loader())
    # the mixin steps each optimizer's windows after its own steps (per step) and at the epoch's end
    for key, (build, _) in (("lr-gen_opt", WARMUP_MULTISTEP), ("lr-dis_opt", CONSTANT_WINDOW)):
        assert list(monitor.lrs[key]) == pytest.approx(mmengine_lrs(build, 6), rel=1e-12, abs=0.0)


@pytest.mark.parametrize(
    ("window", "message"),
    [
        # 5 epochs of 4 steps: the run has 20 step updates, the window would begin at 40
        ({"begin": 40, "interval": "step"}, "begins at its update 40, but the run has only 20 step updates"),
        # `unit="epoch"`: epoch 10 is step 40
        (
            {"begin": 10, "interval": "step", "unit": "epoch"},
            "begins at its update 40, but the run has only 20",
        ),
        # it begins exactly where the run ends
        ({"begin": 5, "end": 8}, "begins at its update 5, but the run has only 5 epoch updates"),
    ],
)
def test_a_window_beginning_after_the_run_is_refused(
    window: dict[str, Any], message: str, tmp_path: Path
) -> None:
    """It would never act (mmengine's scheduler would stay silent): refused when training starts, and by the
    preview, as an empty window is."""
    specs = [SchedulerSpec("cosine", interval="step"), SchedulerSpec("exponential", gamma=0.5, **window)]
    with pytest.raises(
        ValueError, match=r"Phases\.optimizer\.scheduler\[1\]: the window of `ExponentialLR` " + message
    ):
        fitted_lrs(declared(specs), 5, tmp_path)
    with pytest.raises(ValueError, match=message):
        preview_schedule(declared(specs), max_epochs=5, steps_per_epoch=STEPS_PER_EPOCH)
    # the same window in a run long enough acts
    fitted_lrs(declared(specs), 11, tmp_path)
