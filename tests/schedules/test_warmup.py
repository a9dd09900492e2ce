"""``warmup``: a linear climb to the main scheduler's starting lr, then the main scheduler from its start.

The data is 4 batches per epoch. Golden sequences are written out with the arithmetic that produces them.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch
from torch.optim import SGD, lr_scheduler

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, ParamGroup, SchedulerSpec
from lightning_optim.schedules.schedule import Schedule
from lightning_optim.schedules.shape import Shape
from tests import helpers
from tests.helpers import Classifier, TwoNets, fit


def declared(scheduler: SchedulerSpec, **optimizer_kwargs: Any) -> type[Classifier]:
    spec = OptimizerSpec("sgd", scheduler=scheduler, **{"lr": 0.1, **optimizer_kwargs})
    return helpers.declared(spec)


def torch_lrs(make: Any, steps: int, lrs: tuple[float, ...] = (0.1,)) -> list[list[float]]:
    """Each group's lr before each of ``steps`` steps of a scheduler, computed with torch alone."""
    optimizer = SGD([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs])
    scheduler = make(optimizer)
    history = []
    for _ in range(steps):
        history.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return history


def test_warmup_in_epochs_then_step_lr() -> None:
    history = fit(declared(SchedulerSpec("step", step_size=2, gamma=0.5, warmup=2))(), max_epochs=6).of()
    # warmup of 2 epochs at 1/3 and 2/3 of 0.1, then StepLR from its start: 0.1, 0.1, 0.05, 0.05
    per_epoch = [0.1 / 3, 0.2 / 3, 0.1, 0.1, 0.05, 0.05]
    assert history == pytest.approx([lr for lr in per_epoch for _ in range(4)], rel=1e-12)


def test_warmup_per_step_with_group_lrs_continues_the_main_schedule_exactly() -> None:
    groups = [ParamGroup("model_gen.layer1", lr=0.4)]
    with helpers.lr_replaced():
        cls = declared(SchedulerSpec("onecycle", max_lr=[1.0, 0.5], warmup=3), groups=groups)
    recorder = fit(cls(), max_epochs=2)
    # 8 steps - 3 of warmup: OneCycleLR(total_steps=5), which starts at max_lr / 25 in each group
    main = torch_lrs(lambda o: lr_scheduler.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=5), 5, (0.4, 0.1))
    starts = main[0]
    warmup = [[start * (k + 1) / 4 for start in starts] for k in range(3)]  # 1/4, 2/4, 3/4 of the start
    assert [step[0] for step in recorder.history[3:]] == main  # exactly, not approximately
    for got, want in zip([step[0] for step in recorder.history[:3]], warmup):
        assert got == pytest.approx(want, rel=1e-12)


def test_fractional_warmup_and_start_factor() -> None:
    spec = SchedulerSpec("cosine", interval="step", warmup=0.25, warmup_start_factor=0.0)
    history = fit(declared(spec)(), max_epochs=4).of()
    # 16 steps: warmup 0.25 x 16 = 4 steps from 0 (0, 1/4, 2/4, 3/4 of 0.1), then CosineAnnealingLR(T_max=12)
    expected = [0.0, 0.025, 0.05, 0.075] + [
        lrs[0] for lrs in torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, 12), 12)
    ]
    assert history == pytest.approx(expected, rel=1e-12)


def test_a_warmup_of_0_0_trains_as_no_warmup() -> None:
    # a fraction 0.0 of the run (Hugging Face's `warmup_ratio` default) is no warmup, as `warmup=0` and none
    ours, *same = (
        fit(declared(SchedulerSpec("cosine", interval="step", warmup=warmup))(), max_epochs=4).of()
        for warmup in (0.0, 0, None)
    )
    assert ours == same[0] == same[1]
    expected = [lrs[0] for lrs in torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, 16), 16)]
    assert ours == pytest.approx(expected, rel=1e-12)


class Plateau(Classifier):
    """Logs a constant ``val_loss`` every step, so a plateau scheduler reduces after each ``patience``."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        self.log("val_loss", 1.0)
        return super().training_step(batch, batch_idx)


@pytest.mark.parametrize("manual", [False, True], ids=["automatic", "manual"])
def test_warmup_then_plateau(manual: bool) -> None:
    spec = OptimizerSpec(
        "sgd",
        lr=0.1,
        scheduler=SchedulerSpec("plateau", monitor="val_loss", patience=1, factor=0.5, warmup=2),
    )
    attributes: dict[str, Any] = {"optimizer": spec}
    if manual:

        def training_step(self: Any, batch: Any, batch_idx: int) -> None:
            loss = Plateau.training_step(self, batch, batch_idx)
            self.optimizer.zero_grad()
            self.manual_backward(loss)
            self.optimizer.step()

        def init(self: Any) -> None:
            Plateau.__init__(self)
            self.automatic_optimization = False

        attributes.update(training_step=training_step, __init__=init)
    history = fit(type("Warm", (ConfigurableOptimizersMixin, Plateau), attributes)(), max_epochs=8).of()
    # epochs 0-1: warmup at 1/3, 2/3 of 0.1 (the metric is ignored). Epoch 2 at 0.1; the plateau then sees
    # 1.0 after epochs 2 (best), 3 (1 bad epoch, patience 1: wait), 4 (2 bad: halve, reset), 5 (1 bad),
    # 6 (2 bad: halve).
    per_epoch = [0.1 / 3, 0.2 / 3, 0.1, 0.1, 0.1, 0.05, 0.05, 0.025]
    assert history == pytest.approx([lr for lr in per_epoch for _ in range(4)], rel=1e-12)


class Gan(ConfigurableOptimizersMixin, TwoNets):
    gen_opt = OptimizerSpec(
        "sgd",
        params="model_gen",
        lr=0.1,
        scheduler=SchedulerSpec("exponential", gamma=0.5, interval="step", warmup=3),
    )
    dis_opt = OptimizerSpec(
        "sgd", params="model_dis", lr=0.2, scheduler=SchedulerSpec("step", step_size=1, warmup=1)
    )


def test_warmup_in_manual_optimization() -> None:
    recorder = fit(Gan(), max_epochs=2)
    # gen: 3 steps at 1/4, 2/4, 3/4 of 0.1, then 0.1 halved every step
    gen = [0.025, 0.05, 0.075, 0.1, 0.05, 0.025, 0.0125, 0.00625]
    # dis: 1 epoch at 1/2 of 0.2, then StepLR(step_size=1, gamma=0.1) from its start
    dis = [0.1] * 4 + [0.2] * 4
    assert recorder.of(0) == pytest.approx(gen, rel=1e-12)
    assert recorder.of(1) == pytest.approx(dis, rel=1e-12)


def test_warmup_state_dict_round_trips() -> None:
    def make() -> tuple[SGD, Schedule]:
        optimizer = SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        decay = lambda o, _: lr_scheduler.LambdaLR(o, lambda s: 0.9**s)  # noqa: E731
        return optimizer, Schedule(optimizer, decay, shape=Shape(warmup=4))

    optimizer, warmup = make()
    for _ in range(3):
        optimizer.step()
        warmup.step()
    buffer = io.BytesIO()
    torch.save({"scheduler": warmup.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=False)
    other_optimizer, other = make()
    other_optimizer.load_state_dict(saved["optimizer"])
    other.load_state_dict(saved["scheduler"])
    lrs: list[list[float]] = [[], []]
    for opt, sched, out in ((optimizer, warmup, lrs[0]), (other_optimizer, other, lrs[1])):
        for _ in range(4):
            opt.step()
            sched.step()
            out.append(opt.param_groups[0]["lr"])
    assert lrs[0] == lrs[1] == pytest.approx([1.0, 0.9, 0.81, 0.729], rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"warmup_start_factor": 0.1},
            r"`warmup_start_factor` only applies with a `warmup`, but `warmup` is None",
        ),
        (
            {"warmup": 2, "warmup_start_factor": 1.0},
            r"Expected `warmup_start_factor` to be a float in \[0, 1\) but got 1\.0",
        ),
        (
            {"warmup": 0.0, "warmup_start_factor": 0.1},
            r"`warmup_start_factor` only applies with a `warmup`, but `warmup` is 0\.0",
        ),
        (
            {"warmup": 1.5},
            r"Expected `warmup` to be None, an int >= 0 \(intervals\) or a float in \[0, 1\) \(fraction of the "
            r"run; 0\.0 is none\) but got 1\.5\.$",
        ),
        ({"warmup": -0.1}, r"Expected `warmup` to be None, .* a float in \[0, 1\) .* but got -0\.1\.$"),
        (
            {"warmup": 2, "warmup_strat_factor": 0.1},
            r"unexpected argument `warmup_strat_factor` \(did you mean `warmup_start_factor`\?\)",
        ),
    ],
    ids=[
        "without_warmup",
        "start_factor_range",
        "without_warmup_0.0",
        "warmup_range",
        "warmup_negative",
        "typo",
    ],
)
def test_warmup_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=r"Declared\.optimizer\.scheduler: .*" + message):
        declared(SchedulerSpec("exponential", gamma=0.9, **kwargs))


def test_fractional_warmup_needs_a_known_run_length() -> None:
    module = declared(SchedulerSpec("exponential", gamma=0.9, warmup=0.1))()
    with pytest.raises(
        ValueError,
        match=r"\(`warmup=0\.1`\), but the Trainer's run has no known length .* or give `warmup` as an int",
    ):
        fit(module, max_epochs=-1)


def test_a_torch_scheduler_state_is_refused_naming_how_to_resume_it() -> None:
    optimizer = SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    torch_state = lr_scheduler.StepLR(optimizer, step_size=1).state_dict()
    schedule = Schedule(optimizer, lambda o, shape: lr_scheduler.StepLR(o, step_size=1))
    with pytest.raises(
        ValueError, match=r"a torch scheduler's own state\? .*trainer\.fit\(model, ckpt_path="
    ):
        schedule.load_state_dict(torch_state)
