"""``TimmCosineLR`` against a line-by-line transcription of timm's ``CosineLRScheduler``.

timm itself cannot be imported here (its torchvision wheel does not load with the local CPU torch), so the
reference below is timm's code, copied from huggingface/pytorch-image-models at commit
``aa4b5850c1543fa488abf260f18390eda46cf85d``: ``timm/scheduler/cosine_lr.py`` (``CosineLRScheduler.__init__``,
``_get_lr``, ``get_cycle_length``) and ``timm/scheduler/scheduler.py`` (``Scheduler.__init__``,
``update_groups``, ``step``/``step_update``), with ``self.`` kept and only the noise code left out (noise is
off by default and not supported). The comparisons are exact (``==``): the same float operations in the
same order give the same bits.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import lightning as L
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_optim.schedules.timm_cosine import TimmCosineLR, cycle_length, timm_cosine_lr

TIMM_COMMIT = "aa4b5850c1543fa488abf260f18390eda46cf85d"


class TimmCosineReference:
    """timm's ``CosineLRScheduler`` on a torch optimizer, transcribed (see the module docstring)."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        t_initial: int,
        lr_min: float = 0.0,
        cycle_mul: float = 1.0,
        cycle_decay: float = 1.0,
        cycle_limit: int = 1,
        warmup_t: int = 0,
        warmup_lr_init: float = 0.0,
        warmup_prefix: bool = False,
        t_in_epochs: bool = True,
        k_decay: float = 1.0,
    ) -> None:
        # --- timm/scheduler/scheduler.py, Scheduler.__init__ (param_group_field="lr", initialize=True) ---
        self.optimizer = optimizer
        self.param_group_field = "lr"
        self._initial_param_group_field = "initial_lr"
        for i, group in enumerate(self.optimizer.param_groups):
            if self.param_group_field not in group:
                raise KeyError(f"{self.param_group_field} missing from param_groups[{i}]")
            group.setdefault(self._initial_param_group_field, group[self.param_group_field])
        self.base_values = [group[self._initial_param_group_field] for group in self.optimizer.param_groups]
        self.t_in_epochs = t_in_epochs
        self.update_groups(self.base_values)
        # --- timm/scheduler/cosine_lr.py, CosineLRScheduler.__init__ ---
        assert t_initial > 0
        assert lr_min >= 0
        self.t_initial = t_initial
        self.lr_min = lr_min
        self.cycle_mul = cycle_mul
        self.cycle_decay = cycle_decay
        self.cycle_limit = cycle_limit
        self.warmup_t = warmup_t
        self.warmup_lr_init = warmup_lr_init
        self.warmup_prefix = warmup_prefix
        self.k_decay = k_decay
        if self.warmup_t:
            self.warmup_steps = [(v - warmup_lr_init) / self.warmup_t for v in self.base_values]
            self.update_groups(self.warmup_lr_init)
        else:
            self.warmup_steps = [1 for _ in self.base_values]

    # --- timm/scheduler/cosine_lr.py, CosineLRScheduler._get_lr, verbatim ---
    def _get_lr(self, t: int) -> list[float]:
        if t < self.warmup_t:
            lrs = [self.warmup_lr_init + t * s for s in self.warmup_steps]
        else:
            if self.warmup_prefix:
                t = t - self.warmup_t

            if self.cycle_mul != 1:
                i = math.floor(math.log(1 - t / self.t_initial * (1 - self.cycle_mul), self.cycle_mul))
                t_i = self.cycle_mul**i * self.t_initial
                t_curr = t - (1 - self.cycle_mul**i) / (1 - self.cycle_mul) * self.t_initial
            else:
                i = t // self.t_initial
                t_i = self.t_initial
                t_curr = t - (self.t_initial * i)

            gamma = self.cycle_decay**i
            lr_max_values = [v * gamma for v in self.base_values]
            k = self.k_decay

            if i < self.cycle_limit:
                lrs = [
                    self.lr_min + 0.5 * (lr_max - self.lr_min) * (1 + math.cos(math.pi * t_curr**k / t_i**k))
                    for lr_max in lr_max_values
                ]
            else:
                lrs = [self.lr_min for _ in self.base_values]

        return lrs

    # --- timm/scheduler/cosine_lr.py, CosineLRScheduler.get_cycle_length, verbatim ---
    def get_cycle_length(self, cycles: int = 0) -> int:
        cycles = max(1, cycles or self.cycle_limit)
        if self.cycle_mul == 1.0:
            t = self.t_initial * cycles
        else:
            t = int(math.floor(-self.t_initial * (self.cycle_mul**cycles - 1) / (1 - self.cycle_mul)))  # noqa: RUF046
        return t + self.warmup_t if self.warmup_prefix else t

    # --- timm/scheduler/scheduler.py, Scheduler.step / step_update / _get_values (noise left out) ---
    def step(self, epoch: int) -> None:
        if self.t_in_epochs:
            self.update_groups(self._get_lr(epoch))

    def step_update(self, num_updates: int) -> None:
        if not self.t_in_epochs:
            self.update_groups(self._get_lr(num_updates))

    # --- timm/scheduler/scheduler.py, Scheduler.update_groups, verbatim ---
    def update_groups(self, values: float | list[float]) -> None:
        if not isinstance(values, (list, tuple)):
            values = [values] * len(self.optimizer.param_groups)
        for param_group, value in zip(self.optimizer.param_groups, values):
            if "lr_scale" in param_group:
                param_group[self.param_group_field] = value * param_group["lr_scale"]
            else:
                param_group[self.param_group_field] = value


LRS = (0.1, 0.03, 1e-3)


def optimizer_with_groups(lrs: tuple[float, ...] = LRS, **extra: Any) -> torch.optim.Optimizer:
    groups = [{"params": [nn.Parameter(torch.zeros(1))], "lr": lr, **extra} for lr in lrs]
    return torch.optim.SGD(groups, lr=1.0)


def reference_sequence(steps: int, lrs: tuple[float, ...] = LRS, **options: Any) -> list[list[float]]:
    """The group lrs timm's scheduler sets at t = 0 (construction), 1, ..., steps - 1 (``step_update(t)``)."""
    optimizer = optimizer_with_groups(lrs)
    timm = TimmCosineReference(optimizer, **{**options, "t_in_epochs": False})
    sequence = []
    for t in range(steps):
        if t > 0:
            timm.step_update(num_updates=t)
        sequence.append([group["lr"] for group in optimizer.param_groups])
    return sequence


def our_sequence(steps: int, lrs: tuple[float, ...] = LRS, **options: Any) -> list[list[float]]:
    optimizer = optimizer_with_groups(lrs)
    scheduler = TimmCosineLR(optimizer, **options)
    sequence: list[list[float]] = []
    for _ in range(steps):
        sequence.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return sequence


GRID = [
    {
        "t_initial": 5,
        "lr_min": 1e-4,
        "cycle_mul": cycle_mul,
        "cycle_decay": cycle_decay,
        "cycle_limit": cycle_limit,
        "k_decay": k_decay,
        "warmup_t": warmup_t,
        "warmup_lr_init": 1e-5,
        "warmup_prefix": warmup_prefix,
    }
    for cycle_mul, cycle_decay, cycle_limit, k_decay, warmup_t, warmup_prefix in itertools.product(
        (1.0, 2.0), (1.0, 0.5), (1, 3), (1.0, 2.0), (0, 3), (False, True)
    )
]


@pytest.mark.parametrize("options", GRID, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_every_step_equals_timm(options: dict[str, Any]) -> None:
    # the longest configuration (cycle_mul 2, 3 cycles, prefixed warmup) ends at 5 + 10 + 20 + 3 = 38
    steps = cycle_length(
        options["t_initial"],
        cycle_mul=options["cycle_mul"],
        cycle_limit=options["cycle_limit"],
        warmup_t=options["warmup_t"],
        warmup_prefix=True,
    )
    steps += 12
    expected = reference_sequence(steps, **options)
    assert our_sequence(steps, **options) == expected
    # the pure function, group by group
    for t, lrs in enumerate(expected):
        assert [timm_cosine_lr(t, base, **options) for base in LRS] == lrs
    # the run went past the cycles: the last lrs are lr_min, and the groups kept different lrs before
    assert expected[-1] == [options["lr_min"]] * len(LRS)
    assert len(set(expected[options["warmup_t"] + 1])) == len(LRS)


@pytest.mark.parametrize("options", GRID[::5], ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("cycles", [0, 1, 2, 4])
def test_cycle_length_equals_timm(options: dict[str, Any], cycles: int) -> None:
    timm = TimmCosineReference(optimizer_with_groups(), **options)
    ours = TimmCosineLR(optimizer_with_groups(), **options)
    expected = timm.get_cycle_length(cycles)
    assert ours.get_cycle_length(cycles) == expected
    keys = ("cycle_mul", "cycle_limit", "warmup_t", "warmup_prefix")
    assert cycle_length(options["t_initial"], cycles=cycles, **{k: options[k] for k in keys}) == expected


def test_per_epoch_timm_ignores_step_update_and_matches() -> None:
    """``t_in_epochs=True`` (timm's default): timm moves only on ``step(epoch)``; ours on each ``step()``."""
    options: dict[str, Any] = {
        "t_initial": 4,
        "lr_min": 0.001,
        "cycle_limit": 2,
        "cycle_decay": 0.5,
        "warmup_t": 2,
    }
    optimizer = optimizer_with_groups()
    timm = TimmCosineReference(optimizer, t_in_epochs=True, **options)
    ours_optimizer = optimizer_with_groups()
    ours = TimmCosineLR(ours_optimizer, t_in_epochs=True, **options)
    assert ours.t_in_epochs is True
    for epoch in range(12):
        assert [g["lr"] for g in ours_optimizer.param_groups] == [g["lr"] for g in optimizer.param_groups]
        for update in range(3):
            timm.step_update(num_updates=epoch * 3 + update + 1)  # ignored by timm when t_in_epochs
        timm.step(epoch + 1)
        ours_optimizer.step()
        ours.step()


def test_lr_scale_is_applied_like_timm_update_groups() -> None:
    options: dict[str, Any] = {"t_initial": 3, "warmup_t": 2, "warmup_lr_init": 0.01, "cycle_limit": 2}
    optimizer = optimizer_with_groups((0.1, 0.1))
    optimizer.param_groups[0]["lr_scale"] = 0.25
    timm = TimmCosineReference(optimizer, t_in_epochs=False, **options)
    ours_optimizer = optimizer_with_groups((0.1, 0.1))
    ours_optimizer.param_groups[0]["lr_scale"] = 0.25
    ours = TimmCosineLR(ours_optimizer, **options)
    for t in range(10):
        if t > 0:
            timm.step_update(t)
            ours_optimizer.step()
            ours.step()
        assert [g["lr"] for g in ours_optimizer.param_groups] == [g["lr"] for g in optimizer.param_groups]
    assert ours_optimizer.param_groups[0]["initial_lr"] == 0.1


def test_one_floor_and_warmup_start_per_group_equal_timms_lr_scale() -> None:
    # the package passes groups it scaled (layer_decay, lr_mult) at their scaled lr, with lr_min and
    # warmup_lr_init scaled alike: timm's lr_scale (update_groups scales every value it sets). Scales of 2**-k
    # scale every float operation exactly, so the bits agree
    options: dict[str, Any] = {
        "t_initial": 4,
        "warmup_t": 2,
        "cycle_limit": 2,
        "cycle_decay": 0.5,
        "k_decay": 1.5,
    }
    scales = (0.25, 0.5, 1.0)
    optimizer = optimizer_with_groups((0.1,) * 3)
    for group, scale in zip(optimizer.param_groups, scales):
        group["lr_scale"] = scale
    timm = TimmCosineReference(optimizer, t_in_epochs=False, lr_min=0.01, warmup_lr_init=0.02, **options)
    expected = []
    for t in range(12):
        if t > 0:
            timm.step_update(t)
        expected.append([group["lr"] for group in optimizer.param_groups])
    got = our_sequence(
        12,
        lrs=tuple(0.1 * s for s in scales),
        lr_min=[0.01 * s for s in scales],
        warmup_lr_init=tuple(0.02 * s for s in scales),
        **options,
    )
    assert got == expected
    assert expected[0] == [0.005, 0.01, 0.02] and expected[-1] == [0.0025, 0.005, 0.01]


def test_golden_values_computed_by_hand() -> None:
    # base lr 1.0, t_initial=4, cycle_limit=2, cycle_decay=0.5, lr_min=0, warmup_t=2 from 0.1, prefixed.
    #   t=0, 1: warmup 0.1 + t * (1.0 - 0.1) / 2             -> 0.1, 0.55
    #   t=2..5 (cycle 0, t_curr 0..3, peak 1.0): 0.5 * (1 + cos(pi * t_curr / 4))
    #                                                        -> 1, (1 + sqrt(2)/2) / 2, 0.5, (1 - sqrt(2)/2) / 2
    #   t=6..9 (cycle 1, peak 0.5): half of those            -> 0.5, (1 + sqrt(2)/2) / 4, 0.25, (1 - sqrt(2)/2) / 4
    #   t>=10: cycle index 2 == cycle_limit                  -> lr_min = 0
    half_root2 = 0.7071067811865476  # sqrt(2) / 2
    golden = [0.1, 0.55, 1.0, (1 + half_root2) / 2, 0.5, (1 - half_root2) / 2]
    golden += [0.5, (1 + half_root2) / 4, 0.25, (1 - half_root2) / 4, 0.0, 0.0]
    options: dict[str, Any] = {
        "t_initial": 4,
        "cycle_limit": 2,
        "cycle_decay": 0.5,
        "warmup_t": 2,
        "warmup_lr_init": 0.1,
    }
    got = [lrs[0] for lrs in our_sequence(12, lrs=(1.0,), warmup_prefix=True, **options)]
    assert got == pytest.approx(golden, abs=1e-12)
    # cycle_mul=2 from t_initial=2: cycles [0, 2), [2, 6), [6, 14); the log-based index gives
    # log2(1 + t/2): t=2 -> 1, t=6 -> 2; t_curr = t - (2**i - 1) * 2.
    #   t=0..1: 1, 0.5;  t=2..5 (t_i 4): 1, (1 + sqrt(2)/2) / 2, 0.5, (1 - sqrt(2)/2) / 2;  t=6: start of cycle 2
    golden = [1.0, 0.5, 1.0, (1 + half_root2) / 2, 0.5, (1 - half_root2) / 2, 1.0]
    got = [timm_cosine_lr(t, 1.0, t_initial=2, cycle_mul=2.0, cycle_limit=3) for t in range(7)]
    assert got == pytest.approx(golden, abs=1e-12)


# no subnormal draws: hypothesis refuses them where the process flushes them to zero, as it does on torch 2.4
# once a test compiled a CPU kernel (inductor built it with -ffast-math)
@given(
    t_initial=st.integers(1, 30),
    cycle_mul=st.sampled_from([1.0, 0.5, 0.8, 1.5, 2.0, 3.0, 10.0]),
    cycle_decay=st.floats(0.0, 1.0, allow_subnormal=False),
    cycle_limit=st.integers(1, 6),
    warmup_t=st.integers(0, 10),
    warmup_lr_init=st.floats(0.0, 1e-2, allow_subnormal=False),
    warmup_prefix=st.booleans(),
    k_decay=st.floats(0.25, 4.0),
    lr_min=st.floats(0.0, 1e-3, allow_subnormal=False),
    base_lr=st.floats(1e-4, 10.0),
    t=st.integers(0, 3000),
)
def test_pure_function_equals_timm_anywhere(t: int, base_lr: float, **options: Any) -> None:
    timm = TimmCosineReference(optimizer_with_groups((base_lr,)), **options)
    try:
        expected = timm._get_lr(t)[0]
    except ValueError:  # math domain error: cycle_mul < 1, past every (shrinking) cycle
        assert options["cycle_mul"] < 1
        expected = options["lr_min"]
    assert timm_cosine_lr(t, base_lr, **options) == expected


def test_known_timm_boundary_quirk_is_reproduced() -> None:
    # cycle_mul=3, t_initial=10: cycle 5 starts at t = 10 * (3**5 - 1) / 2 = 1210, but
    # math.log(1 + 1210 / 10 * 2, 3) == 4.999999999999999, so timm's index is 4 and t_curr == t_i: lr_min.
    assert math.log(1 + 1210 / 10 * 2, 3) < 5
    options: dict[str, Any] = {"t_initial": 10, "cycle_mul": 3.0, "cycle_limit": 6, "lr_min": 0.0}
    timm = TimmCosineReference(optimizer_with_groups((1.0,)), **options)
    assert timm_cosine_lr(1210, 1.0, **options) == timm._get_lr(1210)[0] == 0.0


def test_state_dict_round_trip_resumes_the_same_sequence() -> None:
    options: dict[str, Any] = {
        "t_initial": 3,
        "cycle_mul": 2.0,
        "cycle_limit": 3,
        "warmup_t": 2,
        "warmup_lr_init": 1e-4,
    }
    expected = our_sequence(25, **options)
    optimizer = optimizer_with_groups()
    scheduler = TimmCosineLR(optimizer, **options)
    for _ in range(9):
        optimizer.step()
        scheduler.step()
    optimizer_state, scheduler_state = optimizer.state_dict(), scheduler.state_dict()
    assert scheduler_state["last_epoch"] == 9 and scheduler_state["t_initial"] == 3

    resumed_optimizer = optimizer_with_groups()
    resumed = TimmCosineLR(resumed_optimizer, t_initial=100)  # options come back from the state dict
    resumed_optimizer.load_state_dict(optimizer_state)
    resumed.load_state_dict(scheduler_state)
    assert resumed.t_initial == 3 and resumed.cycle_mul == 2.0
    got = []
    for _ in range(9, 25):
        got.append([group["lr"] for group in resumed_optimizer.param_groups])
        resumed_optimizer.step()
        resumed.step()
    assert got == expected[9:]


def test_last_epoch_resumes_from_initial_lr() -> None:
    options: dict[str, Any] = {"t_initial": 4, "warmup_t": 2, "cycle_limit": 2}
    expected = our_sequence(10, **options)
    optimizer = optimizer_with_groups()
    for group, lr in zip(optimizer.param_groups, LRS):
        group["initial_lr"] = lr
        group["lr"] = 123.0  # whatever the optimizer was left at
    TimmCosineLR(optimizer, last_epoch=4, **options)
    assert [group["lr"] for group in optimizer.param_groups] == expected[5]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"t_initial": 0}, ValueError, "TimmCosineLR: Expected `t_initial` to be an int >= 1 but got 0."),
        (
            {"t_initial": 10.0},
            TypeError,
            "TimmCosineLR: Expected `t_initial` to be an int >= 1 but got 10.0 (did you mean `10`?).",
        ),
        (
            {"lr_min": -1e-6},
            ValueError,
            "TimmCosineLR: Expected `lr_min` to be a finite float >= 0 but got -1e-06.",
        ),
        (
            {"lr_min": "1e-5"},
            TypeError,
            "TimmCosineLR: Expected `lr_min` to be a float >= 0 but got '1e-5' (did you mean `1e-05`?).",
        ),
        (
            {"lr_min": [0.1, 0.2]},
            ValueError,
            "TimmCosineLR: Expected `lr_min` to be a float or one per param group (3) but got 2: [0.1, 0.2].",
        ),
        (
            {"warmup_lr_init": (0.0, -1.0, 0.0)},
            ValueError,
            "TimmCosineLR: Expected `warmup_lr_init[1]` to be a finite float >= 0 but got -1.0.",
        ),
        (
            {"cycle_mul": 0},
            ValueError,
            "TimmCosineLR: Expected `cycle_mul` to be a finite float > 0 but got 0.",
        ),
        (
            {"cycle_decay": float("nan")},
            ValueError,
            "TimmCosineLR: Expected `cycle_decay` to be a finite float >= 0 but got nan.",
        ),
        (
            {"cycle_limit": 0},
            ValueError,
            "TimmCosineLR: Expected `cycle_limit` to be an int >= 1 but got 0.",
        ),
        (
            {"warmup_t": -1},
            ValueError,
            "TimmCosineLR: Expected `warmup_t` to be an int >= 0 but got -1.",
        ),
        (
            {"warmup_t": "5"},
            TypeError,
            "TimmCosineLR: Expected `warmup_t` to be an int >= 0 but got '5' (did you mean `5`?).",
        ),
        (
            {"warmup_lr_init": None},
            TypeError,
            "TimmCosineLR: Expected `warmup_lr_init` to be a float >= 0 but got None.",
        ),
        (
            {"warmup_prefix": 1},
            TypeError,
            "TimmCosineLR: Expected `warmup_prefix` to be a bool but got 1 (did you mean `True`?).",
        ),
        (
            {"t_in_epochs": "false"},
            TypeError,
            "TimmCosineLR: Expected `t_in_epochs` to be a bool but got 'false' (did you mean `False`?).",
        ),
        (
            {"k_decay": 0.0},
            ValueError,
            "TimmCosineLR: Expected `k_decay` to be a finite float > 0 but got 0.0.",
        ),
        (
            {"last_epoch": -2},
            ValueError,
            "TimmCosineLR: Expected `last_epoch` to be an int >= -1 but got -2.",
        ),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    optimizer = optimizer_with_groups()
    options: dict[str, Any] = {"t_initial": 10, **kwargs}
    with pytest.raises(error) as info:
        TimmCosineLR(optimizer, **options)
    assert str(info.value) == message
    assert all("initial_lr" not in group for group in optimizer.param_groups)  # nothing touched


def test_bad_arguments_of_the_helpers() -> None:
    with pytest.raises(ValueError, match=r"^timm_cosine_lr: Expected `t` to be an int >= 0 but got -1\.$"):
        timm_cosine_lr(-1, 0.1, t_initial=5)
    with pytest.raises(TypeError, match=r"^timm_cosine_lr: Expected `t_initial` to be an int >= 1"):
        timm_cosine_lr(0, 0.1, t_initial=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^cycle_length: Expected `cycles` to be an int >= 0 but got -1\.$"):
        cycle_length(5, cycles=-1)


# --- a real Lightning run ---------------------------------------------------------------------------------


class _TinyModule(L.LightningModule):
    def __init__(self, interval: str, options: dict[str, Any]) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.first = nn.Linear(4, 8)
        self.second = nn.Linear(8, 1)
        self.interval = interval
        self.options = options
        self.seen: list[list[float]] = []

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.second(torch.relu(self.first(x))), y)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        self.seen.append([group["lr"] for group in optimizer.param_groups])  # the lrs this update uses

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(
            [
                {"params": self.first.parameters(), "lr": 0.1},
                {"params": self.second.parameters(), "lr": 0.02},
            ]
        )
        scheduler = TimmCosineLR(optimizer, **self.options)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": self.interval}}


def _fit(module: _TinyModule, epochs: int, **trainer: Any) -> None:
    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(20, 4, generator=generator), torch.randn(20, 1, generator=generator))
    L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **trainer,
    ).fit(module, DataLoader(data, batch_size=4))


def test_lightning_per_step_run_sees_timm_lrs_at_every_update() -> None:
    # 5 batches an epoch, 2 accumulated per update: Lightning updates after batches 2, 4 and 5, so 3 updates
    # an epoch, as timm's train.py counts them: (len(loader) + grad_accum_steps - 1) // grad_accum_steps.
    options: dict[str, Any] = {
        "t_initial": 2,
        "cycle_mul": 2.0,
        "cycle_decay": 0.5,
        "cycle_limit": 3,
        "warmup_t": 2,
        "warmup_lr_init": 1e-3,
        "warmup_prefix": True,
        "k_decay": 1.5,
        "lr_min": 1e-4,
        "t_in_epochs": False,
    }
    module = _TinyModule("step", options)
    _fit(module, epochs=6, accumulate_grad_batches=2)
    assert len(module.seen) == 18  # 2 + 4 + 8 cycles after a 2-update warmup end at 16: past the cycles
    assert module.seen == reference_sequence(18, lrs=(0.1, 0.02), **options)


def test_lightning_per_epoch_run_sees_timm_lrs_every_epoch() -> None:
    options: dict[str, Any] = {
        "t_initial": 2,
        "cycle_limit": 2,
        "cycle_decay": 0.5,
        "warmup_t": 1,
        "warmup_lr_init": 0.01,
    }
    module = _TinyModule("epoch", options)
    _fit(module, epochs=6, limit_train_batches=2)
    expected = reference_sequence(6, lrs=(0.1, 0.02), **options)
    assert module.seen == [lrs for lrs in expected for _ in range(2)]
