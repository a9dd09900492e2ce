"""``resume_changed_setup = "continue"``: a changed setup resumes with the optimizer state kept and every
schedule evaluated at the resumed step (Megatron's ``override_opt_param_scheduler``).

The issue's example, run for real: 48 steps of a per-step cosine (``T_max=200``) at lr 0.01, resumed as a
cosine with ``T_max=300`` at lr 0.02, trains step ``s >= 48`` at ``0.02 * (1 + cos(pi * s / 300)) / 2``, with
Adam's ``exp_avg``/``exp_avg_sq`` exactly the checkpoint's. 16 batches per epoch: the checkpoint after epoch
2 holds 48 steps (an epoch end); one written every 40 steps holds 40 (mid-epoch, batch 8 of epoch 2).
"""

from __future__ import annotations

import copy
import inspect
import math
from collections import deque
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, OnExceptionCheckpoint
from lightning.pytorch.plugins import MixedPrecision
from torch import nn

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, ParamGroup, SchedulerSpec
from lightning_optim.registry.deque_state import DEQUE_KEY
from lightning_optim.registry.lookup import resolve_class
from lightning_optim.registry.optimizers import optimizer_info, takes_model
from lightning_optim.training.outcomes import StepOutcomes
from tests.helpers import (
    FAST,
    Classifier,
    LrRecorder,
    Net,
    TwoNetsByName,
    assert_same_weights,
    fit_resumed,
    loader,
    torch_lrs,
)


def cosine(t_max: int, **kwargs: Any) -> SchedulerSpec:
    return SchedulerSpec("cosine", T_max=t_max, interval="step", **kwargs)


def single(lr: float, t_max: int, choice: str = "error", **kwargs: Any) -> type[L.LightningModule]:
    spec = OptimizerSpec("adam", lr=lr, scheduler=cosine(t_max), **kwargs)
    return type(
        "Single",
        (ConfigurableOptimizersMixin, Classifier),
        {"optimizer": spec, "resume_changed_setup": choice},
    )


def pair(lr: float, t_max: int, choice: str = "error") -> type[L.LightningModule]:
    attributes = {
        "gen_opt": OptimizerSpec("adam", params="model_gen", lr=lr, scheduler=cosine(t_max)),
        "dis_opt": OptimizerSpec("adam", params="model_dis", lr=lr / 2, scheduler=cosine(t_max)),
        "resume_changed_setup": choice,
    }
    return type("Pair", (ConfigurableOptimizersMixin, TwoNetsByName), attributes)


class RestoredState(L.Callback):
    """The optimizers' per-parameter state right after the restore, when training starts."""

    def __init__(self) -> None:
        self.states: list[dict[int, dict[str, torch.Tensor]]] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        self.states = [
            {
                i: {k: v.clone() for k, v in o.state_dict()["state"][i].items()}
                for i in o.state_dict()["state"]
            }
            for o in trainer.optimizers
        ]


class GlobalSteps(L.Callback):
    """Lightning's global step when training starts and when it ends."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        self.seen.append(trainer.global_step)

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        self.seen.append(trainer.global_step)


def train(module: L.LightningModule, tmp_path: Path, ckpt: str | None = None, **kwargs: Any) -> LrRecorder:
    recorder = LrRecorder()
    callbacks = [recorder, *kwargs.pop("callbacks", [])]
    options = {**FAST, "max_epochs": 4, "default_root_dir": tmp_path, "enable_checkpointing": True, **kwargs}
    L.Trainer(callbacks=callbacks, **options).fit(module, loader(n=128), ckpt_path=ckpt)
    return recorder


#: (how ModelCheckpoint saves, steps of each optimizer before the checkpoint) by optimizers and save point;
#: manual optimization counts both optimizers' steps in Lightning's global step
SAVES = {
    (1, "epoch_end"): ({"every_n_epochs": 1}, 48),
    (1, "mid_epoch"): ({"every_n_train_steps": 40}, 40),
    (2, "epoch_end"): ({"every_n_epochs": 1}, 48),
    (2, "mid_epoch"): ({"every_n_train_steps": 80}, 40),
}


# the mid-epoch resume replays the epoch's data from its start (the loader keeps no state): the lrs are checked
@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
@pytest.mark.parametrize("save_point", ["epoch_end", "mid_epoch"])
@pytest.mark.parametrize("optimizers", [1, 2], ids=["automatic", "manual"])
def test_a_changed_schedule_continues_at_the_resumed_step(
    optimizers: int, save_point: str, tmp_path: Path
) -> None:
    declare = single if optimizers == 1 else pair
    save, done = SAVES[(optimizers, save_point)]
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, **save)
    train(declare(0.01, 200)(), tmp_path, callbacks=[saving], max_epochs=3)
    path = str(next(p for p in (tmp_path / "ckpt").iterdir() if f"step={done * optimizers}.ckpt" in p.name))

    restored = RestoredState()
    rest = train(declare(0.02, 300, "continue")(), tmp_path, path, callbacks=[restored], max_epochs=5)
    # each step s >= done trains at the new cosine's value at s: no second warmup, no restart at the new lr
    for index in range(optimizers):
        lr = 0.02 / (index + 1)
        expected = [lr * (1 + math.cos(math.pi * s / 300)) / 2 for s in range(done, 80)]
        assert rest.of(index) == pytest.approx(expected, rel=1e-9)
    # Adam's moments are the checkpoint's, for every parameter
    saved = torch.load(path, weights_only=False)["optimizer_states"]
    for state, checkpoint in zip(restored.states, saved, strict=True):
        assert state.keys() == checkpoint["state"].keys() and state
        for i in state:
            for key in ("exp_avg", "exp_avg_sq", "step"):
                assert torch.equal(state[i][key], checkpoint["state"][i][key]), (i, key)


def chain() -> list[SchedulerSpec]:
    """A list whose updates do not commute: the cosine's pull to ``eta_min`` acts on the lr the others left."""
    return [
        SchedulerSpec("exponential", gamma=0.97, frequency=2, interval="step"),
        cosine_to_floor(),
        SchedulerSpec("multistep", milestones=[1, 3], gamma=0.5),  # per epoch
    ]


def cosine_to_floor() -> SchedulerSpec:
    return SchedulerSpec("cosine", eta_min=0.004, interval="step")  # `T_max` derived from the run


def chained(lr: float, optimizers: int, choice: str = "error") -> type[L.LightningModule]:
    if optimizers == 1:
        attributes: dict[str, Any] = {"optimizer": OptimizerSpec("sgd", lr=lr, scheduler=chain())}
        return type(
            "Chained",
            (ConfigurableOptimizersMixin, Classifier),
            {**attributes, "resume_changed_setup": choice},
        )
    attributes = {
        "gen_opt": OptimizerSpec("sgd", params="model_gen", lr=lr, scheduler=chain()),
        "dis_opt": OptimizerSpec("sgd", params="model_dis", lr=lr / 2, scheduler=chain()),
    }
    return type(
        "ChainedPair",
        (ConfigurableOptimizersMixin, TwoNetsByName),
        {**attributes, "resume_changed_setup": choice},
    )


def chained_by_hand(lr: float, steps: int = 80, per_epoch: int = 16) -> list[float]:
    """``chain()``'s lrs computed with torch alone, stepped as Lightning steps them: the per-step schedulers
    after the optimizer step (the exponential after every second batch of an epoch), then at an epoch's end
    the per-epoch one."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    exponential = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.97)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps, eta_min=0.004)
    multistep = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[1, 3], gamma=0.5)
    lrs = []
    for step in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if (step % per_epoch + 1) % 2 == 0:
            exponential.step()
        cosine.step()
        if (step + 1) % per_epoch == 0:
            multistep.step()
    return lrs


@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
@pytest.mark.parametrize("save_point", ["epoch_end", "mid_epoch"])
@pytest.mark.parametrize("optimizers", [1, 2], ids=["automatic", "manual"])
def test_a_continued_list_takes_its_schedules_updates_interleaved_as_the_run_does(
    optimizers: int, save_point: str, tmp_path: Path
) -> None:
    """Each update of a list acts on the lr the others left: a continued list replays them in the run's order,
    not all of one schedule's and then the next one's (which resumed step 48 at 0.00149 for 0.00192, and
    step 40 at 0.00372 for 0.00436)."""
    save, done = SAVES[(optimizers, save_point)]
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, **save)
    train(chained(0.01, optimizers)(), tmp_path, callbacks=[saving], max_epochs=3)
    path = str(next(p for p in (tmp_path / "ckpt").iterdir() if f"step={done * optimizers}.ckpt" in p.name))

    rest = train(chained(0.02, optimizers, "continue")(), tmp_path / "rest", path, max_epochs=5)
    whole = train(chained(0.02, optimizers)(), tmp_path / "whole", max_epochs=5)
    for index in range(optimizers):
        expected = chained_by_hand(0.02 / (index + 1))
        assert whole.of(index) == pytest.approx(expected, rel=1e-12)  # the new declaration, uninterrupted
        assert rest.of(index) == pytest.approx(expected[done:], rel=1e-12)


def test_a_new_group_starts_with_empty_state_and_matching_groups_keep_theirs(tmp_path: Path) -> None:
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    train(
        single(0.01, 200, groups=[ParamGroup("model_gen.layer1")])(),
        tmp_path,
        callbacks=[saving],
        max_epochs=1,
    )
    path = str(tmp_path / "ckpt" / "epoch=0-step=16.ckpt")
    checkpoint = torch.load(path, weights_only=False)["optimizer_states"][0]

    # `model_gen.layer1` keeps its name and parameters; the rest becomes a group of another name
    groups = [ParamGroup("model_gen.layer1"), ParamGroup("model_gen.layer2", name="head", lr=0.001)]
    restored = RestoredState()
    module = single(0.02, 300, "continue", groups=groups)()
    train(module, tmp_path, path, callbacks=[restored], max_epochs=2)
    (state,) = restored.states
    assert sorted(state) == [0, 1]  # layer1's weight and bias: indices 0 and 1 in both checkpoints
    for i in (0, 1):
        assert torch.equal(state[i]["exp_avg"], checkpoint["state"][i]["exp_avg"])
    optimizer = module.trainer.optimizers[0]
    assert [g["name"] for g in optimizer.param_groups] == ["model_gen.layer1", "head"]
    assert optimizer.param_groups[1]["initial_lr"] == 0.001  # the new declaration's options


def test_an_unchanged_setup_in_a_longer_run_continues_with_the_longer_schedule(tmp_path: Path) -> None:
    """Only the run changed (a derived ``T_max`` grows from 64 to 96 steps): the state is kept whole, and the
    schedule is the one of the longer run, at the resumed step."""
    spec = OptimizerSpec("adam", lr=0.01, scheduler=SchedulerSpec("cosine", interval="step"))
    module = type(
        "Longer",
        (ConfigurableOptimizersMixin, Classifier),
        {"optimizer": spec, "resume_changed_setup": "continue"},
    )
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    train(module(), tmp_path, callbacks=[saving], max_epochs=4)
    rest = train(module(), tmp_path, str(tmp_path / "ckpt" / "epoch=2-step=48.ckpt"), max_epochs=6)
    expected = [0.01 * (1 + math.cos(math.pi * s / 96)) / 2 for s in range(48, 96)]
    assert rest.of() == pytest.approx(expected, rel=1e-9)


def test_error_still_refuses_a_longer_run_naming_the_length(tmp_path: Path) -> None:
    spec = OptimizerSpec("adam", lr=0.01, scheduler=SchedulerSpec("cosine", interval="step"))
    module = type("Longer", (ConfigurableOptimizersMixin, Classifier), {"optimizer": spec})
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    train(module(), tmp_path, callbacks=[saving], max_epochs=4)
    with pytest.raises(
        ValueError, match=r"Longer\.optimizer\.scheduler\.T_max \(derived\): 64 in the checkpoint, 96 now"
    ):
        train(module(), tmp_path, str(tmp_path / "ckpt" / "epoch=2-step=48.ckpt"), max_epochs=6)


@pytest.mark.parametrize(
    ("choice", "factors"), [("continue", [0.64, 0.512, 0.4096]), ("fresh", [1, 0.8, 0.64])]
)
def test_a_restarted_per_epoch_schedule_in_manual_optimization_steps_at_the_end_of_a_resumed_epoch(
    choice: str, factors: list[float], tmp_path: Path
) -> None:
    """Resumed mid-epoch 2 (Lightning runs no epoch start then), the schedule steps at that epoch's end."""

    def step_pair(gamma: float, choice: str = "error") -> type[L.LightningModule]:
        step = SchedulerSpec("step", step_size=1, gamma=gamma, interval="epoch")
        attributes = {
            "gen_opt": OptimizerSpec("sgd", params="model_gen", lr=0.1, scheduler=step),
            "dis_opt": OptimizerSpec("sgd", params="model_dis", lr=0.2, scheduler=step),
            "resume_changed_setup": choice,
        }
        return type("Pair", (ConfigurableOptimizersMixin, TwoNetsByName), attributes)

    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_train_steps=80)
    train(step_pair(0.5)(), tmp_path, callbacks=[saving], max_epochs=3)
    rest = train(
        step_pair(0.8, choice)(), tmp_path, str(tmp_path / "ckpt" / "epoch=2-step=80.ckpt"), max_epochs=5
    )
    # 40 steps of each optimizer done: batches 8-15 of epoch 2, then epochs 3 and 4
    for index, lr in enumerate((0.1, 0.2)):
        expected = [lr * f for f in factors[:1]] * 8 + [lr * f for f in factors[1:] for _ in range(16)]
        assert rest.of(index) == pytest.approx(expected, rel=1e-12)


class Flat(Classifier):
    """Logs a metric that never improves: a plateau scheduler halves the lr after every epoch but the first."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        self.log("flat", 1.0)
        return super().training_step(batch, batch_idx)


def flat(patience: int, choice: str = "error", **options: Any) -> type[L.LightningModule]:
    plateau = SchedulerSpec("plateau", monitor="flat", factor=0.5, patience=patience)
    spec = OptimizerSpec("sgd", **{"lr": 0.1, **options}, scheduler=plateau)
    return type(
        "Flat", (ConfigurableOptimizersMixin, Flat), {"optimizer": spec, "resume_changed_setup": choice}
    )


@pytest.mark.parametrize(
    ("changed", "epochs"),
    [
        # fresh counters: the first resumed epoch sets the best value, `patience=1` waits two epochs more
        ({"patience": 1}, [0.05, 0.05, 0.05]),
        # the plateau untouched, another option changed: its counters start anew all the same
        ({"weight_decay": 1e-4}, [0.05, 0.05, 0.025]),
        # the declared lr doubled: the plateau's one reduction so far (0.05 of 0.1) applies to the new lr
        ({"lr": 0.2}, [0.1, 0.1, 0.05]),
    ],
)
def test_a_plateau_continues_from_its_group_lr(
    changed: dict[str, Any], epochs: list[float], tmp_path: Path
) -> None:
    """The checkpoint after epoch 2 holds the lr 0.05 (0.1 halved after epoch 1; the update after epoch 2 is
    taken after the checkpoint is written). A ``ReduceLROnPlateau`` has no value at a step: under
    ``"continue"`` it goes on from its group's lr, with its counters anew."""
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    first = train(flat(0)(), tmp_path, callbacks=[saving], max_epochs=3)
    assert first.of() == [0.1] * 32 + [0.05] * 16
    patience = changed.get("patience", 0)
    options = {k: v for k, v in changed.items() if k != "patience"}
    rest = train(
        flat(patience, "continue", **options)(),
        tmp_path,
        str(tmp_path / "ckpt" / "epoch=2-step=48.ckpt"),
        max_epochs=6,
    )
    assert rest.of() == pytest.approx([lr for lr in epochs for _ in range(16)], rel=1e-12)


@pytest.mark.parametrize(
    "name", ["schedulefree/adamw", "pytorch_optimizer/schedulefreeadamw", "pytorch_optimizer/adan", "adamw"]
)
def test_the_running_state_an_optimizer_keeps_in_its_groups_is_kept(name: str, tmp_path: Path) -> None:
    """Schedule-free's ``k``, ``weight_sum`` and ``lr_max``, pytorch_optimizer's group ``step``: a matching
    group keeps them, as its per-parameter state. Only a ``StepLR`` that never steps down is added, so the
    continued run trains exactly as the uninterrupted one (torch's AdamW, with no such state, the control)."""
    if "/" in name:
        pytest.importorskip(name.split("/")[0])

    def declared(choice: str = "error", **options: Any) -> L.LightningModule:
        spec = OptimizerSpec(name, lr=0.01, **options)
        return type(
            "Running",
            (ConfigurableOptimizersMixin, Classifier),
            {"optimizer": spec, "resume_changed_setup": choice},
        )()

    uninterrupted = declared()
    train(uninterrupted, tmp_path, max_epochs=2)
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    train(declared(), tmp_path, callbacks=[saving], max_epochs=1)
    continued = declared("continue", scheduler=SchedulerSpec("step", step_size=100))
    train(continued, tmp_path, str(tmp_path / "ckpt" / "epoch=0-step=16.ckpt"), max_epochs=2)
    assert_same_weights(continued, uninterrupted)


class StepSizes(L.Callback):
    """The step size a D-Adaptation/Prodigy optimizer has learned (its first group's ``d``) after every batch."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.seen.append(float(trainer.optimizers[0].param_groups[0]["d"]))


class HandWritten(Classifier):
    """``cls`` at its defaults, resumed by Lightning (every group key restored), then ``options`` set on each group."""

    def __init__(self, cls: type, options: dict[str, Any]) -> None:
        super().__init__()
        self.cls, self.options = cls, options

    def configure_optimizers(self) -> Any:
        return self.cls(self.parameters())

    def on_train_start(self) -> None:
        for group in self.trainer.optimizers[0].param_groups:
            group.update(self.options)


@pytest.mark.parametrize("name", ["pytorch_optimizer/prodigy", "pytorch_optimizer/dadaptadam"])
def test_a_learned_step_size_continues_when_an_option_changes(name: str, tmp_path: Path) -> None:
    """Prodigy's and D-Adaptation's ``d`` (with ``d_max``, ``d_numerator``, ...) is learned state kept in each
    group: continued with another ``weight_decay``, the run trains as Lightning's plain resume of the same
    checkpoint with only ``weight_decay`` set anew, not with ``d`` back at ``d0`` (a second warmup of ``d``)."""
    pytest.importorskip("pytorch_optimizer")

    def declared(choice: str = "error", **options: Any) -> L.LightningModule:
        return type(
            "Adaptive",
            (ConfigurableOptimizersMixin, Classifier),
            {"optimizer": OptimizerSpec(name, **options), "resume_changed_setup": choice},
        )()

    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    train(declared(), tmp_path, callbacks=[saving], max_epochs=1)
    path = str(tmp_path / "ckpt" / "epoch=0-step=16.ckpt")
    cls = resolve_class(name, "optimizer", where="test")
    start = cls([nn.Parameter(torch.zeros(1))]).param_groups[0]["d"]

    continued, learned = declared("continue", weight_decay=0.1), StepSizes()
    train(continued, tmp_path, path, max_epochs=2, callbacks=[learned])
    reference, expected = HandWritten(cls, {"weight_decay": 0.1}), StepSizes()
    train(reference, tmp_path, path, max_epochs=2, callbacks=[expected])
    assert expected.seen[0] > 10 * start  # learned in the first epoch, far from where it starts
    assert learned.seen == expected.seen
    assert_same_weights(continued, reference)


# -- where each optimizer stands: the optimizer count changed, steps were skipped ------------------------------

#: 16 batches per epoch (``loader(n=128)``); the checkpoint after epoch 0 holds 16 steps of each optimizer, the one
#: written at each optimizer's step 24 (batch 8 of epoch 1) holds 24: Lightning's global step counts every
#: optimizer's steps in manual optimization, so that checkpoint is written at step `24 * optimizers`
COUNT_SAVES = {"epoch_end": 16, "mid_epoch": 24}
#: the nets each declaration of ``nets`` trains: its optimizers by attribute, each with the nets it trains
DECLARED_NETS: dict[int, dict[str, list[str]]] = {
    1: {"gen_opt": ["model_gen"]},
    2: {"gen_opt": ["model_gen"], "dis_opt": ["model_dis", "model_aux"]},
    3: {"gen_opt": ["model_gen"], "dis_opt": ["model_dis"], "aux_opt": ["model_aux"]},
}


class ThreeNets(L.LightningModule):
    """Three nets summed into one loss. One optimizer trains in automatic optimization (``model_gen``, the others
    frozen); several are stepped once per batch each by a manual loop (the mixin switches to manual
    optimization for them)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model_gen, self.model_dis, self.model_aux = Net(), Net(), Net()
        trained = {name for names in declared_nets(self).values() for name in names}
        for name in ("model_dis", "model_aux"):
            getattr(self, name).requires_grad_(name in trained)

    def loss(self, batch: Any) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.model_gen(x) + self.model_dis(x) + self.model_aux(x), y)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        if self.automatic_optimization:
            return self.loss(batch)
        for opt in self.optimizers():
            opt.zero_grad()
            self.manual_backward(self.loss(batch))
            opt.step()
        return None


def declared_nets(module: Any) -> dict[str, list[str]]:
    return DECLARED_NETS[module.optimizer_count]


def nets(count: int, choice: str = "error") -> type[L.LightningModule]:
    """``count`` optimizers, each Adam at lr 0.01 with a per-step cosine ``T_max=100``; ``gen_opt`` is the same in
    every declaration."""
    attributes: dict[str, Any] = {"optimizer_count": count, "resume_changed_setup": choice}
    for attribute, params in DECLARED_NETS[count].items():
        attributes[attribute] = OptimizerSpec("adam", params=params, lr=0.01, scheduler=cosine(100))
    return type(f"Nets{count}", (ConfigurableOptimizersMixin, ThreeNets), attributes)


@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
@pytest.mark.parametrize("save_point", ["epoch_end", "mid_epoch"])
@pytest.mark.parametrize(("before", "after"), [(1, 2), (2, 1), (2, 3)], ids=["1to2", "2to1", "2to3"])
def test_a_continued_schedule_goes_on_from_its_optimizers_steps_when_the_optimizer_count_changes(
    before: int, after: int, save_point: str, tmp_path: Path
) -> None:
    """One optimizer in automatic optimization resumed as two in manual optimization and back, two resumed as
    three: each optimizer stepped once per batch before the checkpoint, so each trains step ``s >= done`` at
    the cosine's value at ``s``. Lightning's global step read ``0`` after the switch between automatic and
    manual optimization (the other mode's counter), and divided by the new optimizer count ``32 // 3 = 10``."""
    done = COUNT_SAVES[save_point]
    save = {"every_n_epochs": 1} if save_point == "epoch_end" else {"every_n_train_steps": done * before}
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, **save)
    train(nets(before)(), tmp_path, callbacks=[saving], max_epochs=2)
    path = str(next(p for p in (tmp_path / "ckpt").iterdir() if f"step={done * before}.ckpt" in p.name))

    steps = GlobalSteps()
    rest = train(nets(after, "continue")(), tmp_path, path, max_epochs=3, callbacks=[steps])
    # 48 steps of each optimizer in 3 epochs; a new optimizer (`dis_opt` from one, `aux_opt` from two) stands
    # where the batches stand, as if it had been declared from the start
    expected = [0.01 * (1 + math.cos(math.pi * s / 100)) / 2 for s in range(done, 48)]
    for index in range(after):
        assert rest.of(index) == pytest.approx(expected, rel=1e-9), index
    # Lightning's global step goes on from the checkpoint's (it restarted at 0 after a switch between automatic
    # and manual optimization, which count their steps apart), then counts every optimizer's steps
    assert steps.seen == [done * before, done * before + (48 - done) * after]


class DrivenNets(L.LightningModule):
    """``ThreeNets`` without a training step: its optimizers declare ``loss="summed"`` and the mixin writes it."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model_gen, self.model_dis, self.model_aux = Net(), Net(), Net()

    def summed(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return ThreeNets.loss(self, batch)  # type: ignore[arg-type]


def driven(every: int, choice: str = "error") -> type[L.LightningModule]:
    """``gen_opt`` and ``dis_opt`` of ``nets(2)`` with ``loss="summed"``, ``dis_opt`` stepping with ``every``."""
    attributes: dict[str, Any] = {"optimizer_count": 2, "resume_changed_setup": choice}
    for attribute, params in DECLARED_NETS[2].items():
        attributes[attribute] = OptimizerSpec(
            "adam",
            params=params,
            lr=0.01,
            scheduler=cosine(100),
            loss="summed",
            every=every if attribute == "dis_opt" else 1,
        )
    return type("Driven", (ConfigurableOptimizersMixin, DrivenNets), attributes)


@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
@pytest.mark.parametrize("save_point", ["epoch_end", "mid_epoch"])
@pytest.mark.parametrize("every", [1, 2])
def test_an_optimizer_added_under_the_mixins_training_step_stands_where_it_would_from_the_start(
    every: int, save_point: str, tmp_path: Path
) -> None:
    """One optimizer (automatic) resumed as two whose training step the mixin writes (``loss=``): ``dis_opt``,
    added since, stands where it would stand had it been declared from the start, as the uninterrupted run of
    the two shows; it started at Lightning's global step shared out (``24 // 2``, or by ``every``)."""
    done = COUNT_SAVES[save_point]
    save = {"every_n_epochs": 1} if save_point == "epoch_end" else {"every_n_train_steps": done}
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, **save)
    train(nets(1)(), tmp_path, callbacks=[saving], max_epochs=2)
    path = str(next(p for p in (tmp_path / "ckpt").iterdir() if f"step={done}.ckpt" in p.name))

    whole = train(driven(every)(), tmp_path / "whole", max_epochs=3)
    rest = train(driven(every, "continue")(), tmp_path, path, max_epochs=3)
    for index in range(2):
        assert rest.of(index) == pytest.approx(whole.of(index)[done:], rel=1e-12), index
    # `dis_opt` took `done // every` steps before the checkpoint's batch
    assert rest.of(1)[0] == pytest.approx(0.01 * (1 + math.cos(math.pi * (done // every) / 100)) / 2)


#: (epoch, batch_idx) whose loss is NaN: ``skip_nonfinite`` skips those updates of ``gen_opt``
NAN_BATCHES = {(0, 2), (0, 3), (1, 5)}


def nan_at(loss: torch.Tensor, module: L.LightningModule, batch_idx: int) -> torch.Tensor:
    return loss * float("nan") if (module.current_epoch, batch_idx) in NAN_BATCHES else loss


class NanClassifier(Classifier):
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return nan_at(super().training_step(batch, batch_idx), self, batch_idx)


class NanPair(TwoNetsByName):
    """``TwoNetsByName`` whose ``gen_opt`` loss is NaN at ``NAN_BATCHES``."""

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        for net, opt in ((self.model_gen, self.gen_opt), (self.model_dis, self.dis_opt)):
            loss = nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            self.manual_backward(nan_at(loss, self, batch_idx) if opt is self.gen_opt else loss)
            opt.step()


def skipping(optimizers: int, t_max: int, choice: str = "error") -> type[L.LightningModule]:
    """``gen_opt`` (the only optimizer, or with ``dis_opt``) skips its non-finite updates."""
    gen = OptimizerSpec("adam", params="model_gen", lr=0.01, skip_nonfinite=5, scheduler=cosine(t_max))
    attributes: dict[str, Any] = {"gen_opt": gen, "resume_changed_setup": choice}
    if optimizers == 2:
        attributes["dis_opt"] = OptimizerSpec("adam", params="model_dis", lr=0.01, scheduler=cosine(t_max))
    return type(
        "Skipping", (ConfigurableOptimizersMixin, NanPair if optimizers == 2 else NanClassifier), attributes
    )


@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
@pytest.mark.parametrize("save_point", ["epoch_end", "mid_epoch"])
@pytest.mark.parametrize("optimizers", [1, 2], ids=["automatic", "manual"])
def test_a_continued_schedule_goes_on_from_the_applied_steps(
    optimizers: int, save_point: str, tmp_path: Path
) -> None:
    """A per-step schedule waits for an applied step: 3 of ``gen_opt``'s updates before the checkpoint were
    skipped (``NAN_BATCHES``), so its cosine, continued as ``T_max=80``, goes on at ``done - 3``, as a plain
    resume does; ``dis_opt`` skipped none."""
    done = COUNT_SAVES[save_point] + 16  # after epoch 1, or at batch 8 of epoch 2
    save = {"every_n_epochs": 1} if save_point == "epoch_end" else {"every_n_train_steps": done * optimizers}
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, **save)
    train(skipping(optimizers, 100)(), tmp_path, callbacks=[saving], max_epochs=3)
    path = str(next(p for p in (tmp_path / "ckpt").iterdir() if f"step={done * optimizers}.ckpt" in p.name))

    rest = train(skipping(optimizers, 80, "continue")(), tmp_path, path, max_epochs=3)
    # no NaN after the checkpoint: every resumed step is applied, up to the run's 48 batches
    for index, applied in enumerate((done - 3, done)[:optimizers]):
        expected = [0.01 * (1 + math.cos(math.pi * s / 80)) / 2 for s in range(applied, applied + 48 - done)]
        assert rest.of(index) == pytest.approx(expected, rel=1e-9), index


def test_skips_before_a_plain_resume_count_when_a_later_resume_continues(tmp_path: Path) -> None:
    """The checkpoint carries the skips across resumes: 2 skipped in epoch 0, resumed unchanged from its end,
    1 more in epoch 1; continued from the end of epoch 1, the cosine goes on at ``32 - 3 = 29``."""
    first = ModelCheckpoint(dirpath=tmp_path / "first", save_top_k=-1, every_n_epochs=1)
    train(skipping(1, 100)(), tmp_path, callbacks=[first], max_epochs=1)
    second = ModelCheckpoint(dirpath=tmp_path / "second", save_top_k=-1, every_n_epochs=1)
    train(
        skipping(1, 100)(),
        tmp_path,
        str(tmp_path / "first" / "epoch=0-step=16.ckpt"),
        callbacks=[second],
        max_epochs=2,
    )

    rest = train(
        skipping(1, 80, "continue")(),
        tmp_path,
        str(tmp_path / "second" / "epoch=1-step=32.ckpt"),
        max_epochs=3,
    )
    assert rest.of() == pytest.approx(
        [0.01 * (1 + math.cos(math.pi * s / 80)) / 2 for s in range(29, 45)], rel=1e-9
    )


class Critic(TwoNetsByName):
    """A WGAN's manual loop: ``dis_opt`` steps every batch, ``gen_opt`` every 2nd (``n_critic=2``). ``gen_opt``'s
    update of batch 5 of epoch 0 fails: its loss is NaN (``skip_nonfinite`` skips it on the host, or the fused
    kernel given ``found_inf`` on the device path) or inf under a ``GradScaler`` (which does not step)."""

    fails = False

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        for net, opt in ((self.model_dis, self.dis_opt), (self.model_gen, self.gen_opt)):
            if opt is self.gen_opt and batch_idx % 2 == 0:
                continue
            loss = nn.functional.cross_entropy(net(x), y)
            if self.fails and opt is self.gen_opt and (self.current_epoch, batch_idx) == (0, 5):
                loss = loss * float("nan" if self.fails == "nan" else "inf")
            opt.zero_grad()
            self.manual_backward(loss)
            opt.step()


#: how ``gen_opt``'s update fails: the options it declares and ``Critic.fails``
FAILURES: dict[str, tuple[dict[str, Any], str | bool]] = {
    "none": ({}, False),
    "host": ({"skip_nonfinite": 1}, "nan"),
    "device": ({"skip_nonfinite": 1, "implementation": "fused"}, "nan"),
    "scaler": ({}, "inf"),
}


def critic(dis_t_max: int, failure: str, choice: str = "error") -> type[L.LightningModule]:
    options, fails = FAILURES[failure]
    attributes: dict[str, Any] = {
        "gen_opt": OptimizerSpec("sgd", params="model_gen", lr=0.1, scheduler=cosine(30), **options),
        "dis_opt": OptimizerSpec("sgd", params="model_dis", lr=0.1, scheduler=cosine(dis_t_max)),
        "resume_changed_setup": choice,
        "fails": fails,
    }
    return type("Critic", (ConfigurableOptimizersMixin, Critic), attributes)


@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
@pytest.mark.parametrize("written_by", ["uninterrupted", "resumed"])
@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_a_continued_schedule_goes_on_from_its_optimizers_own_steps_when_they_step_at_other_rates(
    failure: str, written_by: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint after 24 batches (batch 8 of epoch 1) holds 24 steps of ``dis_opt`` and 12 of ``gen_opt``
    (11 applied when one failed), 36 global steps. Continued into another ``dis_opt`` cosine, ``gen_opt``'s
    unchanged cosine goes on at the lrs of the uninterrupted run; it went on at 24 (the batches), as if
    ``gen_opt`` had stepped every batch. The checkpoint is the uninterrupted run's, or that of a run resumed
    unchanged from batch 8 of epoch 0, which goes on as the uninterrupted run too."""
    monkeypatch.setattr(StepOutcomes, "defer_on_cpu", failure == "device")
    kwargs: dict[str, Any] = {"max_epochs": 3}
    if failure == "scaler":
        kwargs["plugins"] = [MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))]
    saving = ModelCheckpoint(dirpath=tmp_path / "whole", save_top_k=-1, every_n_train_steps=12)
    whole = train(critic(60, failure, "continue")(), tmp_path, callbacks=[saving], **kwargs)
    path = str(tmp_path / "whole" / "epoch=1-step=36.ckpt")
    if written_by == "resumed":  # the same setup resumed from batch 8 of epoch 0: a plain resume
        saving = ModelCheckpoint(dirpath=tmp_path / "resumed", save_top_k=-1, every_n_train_steps=12)
        first = str(tmp_path / "whole" / "epoch=0-step=12.ckpt")
        again = train(critic(60, failure, "continue")(), tmp_path, first, callbacks=[saving], **kwargs)
        assert again.history == whole.history[8:]
        path = str(tmp_path / "resumed" / "epoch=1-step=36.ckpt")

    # saving as the uninterrupted run does: on the device path a checkpoint reads the outcome an lr read at a
    # batch start still waits for (outcomes.py)
    saving = ModelCheckpoint(dirpath=tmp_path / "rest", save_top_k=-1, every_n_train_steps=12)
    rest = train(critic(80, failure, "continue")(), tmp_path, path, callbacks=[saving], **kwargs)
    assert rest.of(0) == pytest.approx(whole.of(0)[24:], rel=1e-12)
    applied = 11 if failure != "none" else 12
    assert rest.of(0)[0] == pytest.approx(0.1 * (1 + math.cos(math.pi * applied / 30)) / 2, rel=1e-12)
    expected = [0.1 * (1 + math.cos(math.pi * s / 80)) / 2 for s in range(24, 48)]
    assert rest.of(1) == pytest.approx(expected, rel=1e-9)


# -- the run's steps per epoch changed: its length counts the steps taken and those left at the new rate --------


def derived(
    choice: str, interval: str = "step", base: type[L.LightningModule] = Classifier
) -> type[L.LightningModule]:
    """Adam at lr 0.01 with a cosine whose ``T_max`` is derived from the run."""
    spec = OptimizerSpec("adam", lr=0.01, scheduler=SchedulerSpec("cosine", interval=interval))
    return type(
        "Derived",
        (ConfigurableOptimizersMixin, base),
        {"optimizer": spec, "resume_changed_setup": choice},
    )


@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
@pytest.mark.parametrize("choice", ["continue", "fresh"])
@pytest.mark.parametrize(
    ("save", "done", "change", "end"),
    [
        # after epoch 0 (16 steps), 2 epochs left accumulating 2 batches: 8 steps each, the run ends at step 32
        ({"every_n_epochs": 1}, 16, {"accumulate_grad_batches": 2}, 32),
        # after epoch 0, 2 epochs left of 12 batches: the run ends at step 16 + 24 = 40
        ({"every_n_epochs": 1}, 16, {"limit_train_batches": 12}, 40),
        # at batch 8 of epoch 0: its 8 batches left give 4 steps, epochs 1 and 2 give 8 each: step 8 + 20 = 28
        ({"every_n_train_steps": 8}, 8, {"accumulate_grad_batches": 2}, 28),
    ],
    ids=["accumulate", "limit_train_batches", "mid_epoch_accumulate"],
)
def test_a_derived_length_counts_the_steps_taken_and_those_left_at_the_new_rate(
    choice: str, save: dict[str, int], done: int, change: dict[str, int], end: int, tmp_path: Path
) -> None:
    """The run's length was this fit's steps per epoch times ``max_epochs``, as if the steps taken at the old rate
    had been taken at the new one: "continue" sat at lr 0 and climbed back up (or never reached its end), "fresh"
    bounced back up past 0, and ``OneCycleLR`` failed inside torch."""
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, **save)
    train(derived("error")(), tmp_path, callbacks=[saving], max_epochs=1)
    path = str(next(p for p in (tmp_path / "ckpt").iterdir() if f"step={done}.ckpt" in p.name))

    rest = train(derived(choice)(), tmp_path, path, max_epochs=3, **change)
    lrs = [lr for lr in rest.of(0)]
    if change.get("accumulate_grad_batches"):
        lrs = lrs[
            :: change["accumulate_grad_batches"]
        ]  # the recorder sees every batch, the schedule every step
    if choice == "continue":  # the whole run's cosine, where the run stands
        expected = [0.01 * (1 + math.cos(math.pi * s / end)) / 2 for s in range(done, end)]
    else:  # a cosine over the steps left
        expected = [0.01 * (1 + math.cos(math.pi * s / (end - done))) / 2 for s in range(end - done)]
    assert lrs == pytest.approx(expected, rel=1e-9)


def test_max_steps_counts_the_steps_taken_for_a_per_epoch_length(tmp_path: Path) -> None:
    """``max_steps=40`` after epoch 0 (16 steps) and 8 steps per epoch since (accumulating 2): the run ends in
    epoch 3, so a continued per-epoch cosine is built for 4 epochs; ``max_steps`` was converted at the new rate
    from epoch 0 (5 epochs)."""
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    train(derived("error", "epoch")(), tmp_path, callbacks=[saving], max_epochs=1)
    path = str(next((tmp_path / "ckpt").iterdir()))

    module = derived("continue", "epoch")()
    train(module, tmp_path, path, max_epochs=10, max_steps=40, accumulate_grad_batches=2)
    assert module.trainer.global_step == 40
    assert module.trainer.lr_scheduler_configs[0].scheduler.inner.T_max == 4


class HandCosine(Classifier):
    """The hand-written module: Adam at lr 0.01 with a per-epoch cosine over 4 epochs."""

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.parameters(), lr=0.01)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": cosine, "interval": "epoch"}}


@pytest.mark.parametrize("choice", ["continue", "fresh"])
def test_an_epoch_end_checkpoint_resumed_with_max_steps_counts_its_epoch_as_done(
    choice: str, tmp_path: Path
) -> None:
    """With ``max_steps`` set, Lightning restores an epoch-end checkpoint as restarting on that epoch's end:
    ``current_epoch`` is still 0 when training starts, it trains one more batch in epoch 0 and replays the epoch's
    end (stepping per-epoch schedulers), then epochs 1 to 3 run to step 64. A changed setup's schedule counted the
    finished epoch as not done: "continue" trained one update behind the hand-written module, "fresh" was built
    for 4 epochs where 3 were left."""
    run = {"max_epochs": 10, "max_steps": 64}
    hand_saving = ModelCheckpoint(dirpath=tmp_path / "hand", save_top_k=-1, every_n_epochs=1)
    train(HandCosine(), tmp_path, callbacks=[hand_saving], **run)
    hand = train(HandCosine(), tmp_path, str(sorted((tmp_path / "hand").iterdir())[0]), **run).of(0)

    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    train(derived("error", "epoch")(), tmp_path, callbacks=[saving], max_epochs=1)
    rest = train(derived(choice, "epoch")(), tmp_path, str(next((tmp_path / "ckpt").iterdir())), **run).of(0)

    def cosine(t_max: int, epoch: int) -> float:
        return 0.01 * (1 + math.cos(math.pi * epoch / t_max)) / 2

    # the replayed batch, then epochs 1 and 2 (16 batches each) and epoch 3 up to step 64 (15 batches)
    batches = [1, 16, 16, 15]
    first, t_max = (1, 4) if choice == "continue" else (0, 3)
    expected = [cosine(t_max, first + e) for e, n in enumerate(batches) for _ in range(n)]
    assert rest == pytest.approx(expected, rel=1e-9)
    if choice == "continue":  # the hand-written module whose scheduler was built for the 4 epochs
        assert hand == pytest.approx(expected, rel=1e-9)


# -- an option now declared needs per-parameter state the checkpoint's optimizer did not keep --------------------

#: (optimizer, its options in the checkpoint, the options now, the per-parameter state keys a fresh optimizer with
#: the options now starts as zeros and the checkpoint lacks): torch initialises a parameter's state only when it
#: is empty, so the taken-over state is completed with those zeros, as a fresh optimizer starts them
NEEDS_STATE = {
    "adam_amsgrad": (torch.optim.Adam, {}, {"amsgrad": True}, ["max_exp_avg_sq"]),
    "adamw_amsgrad": (torch.optim.AdamW, {}, {"amsgrad": True}, ["max_exp_avg_sq"]),
    "rmsprop_centered": (torch.optim.RMSprop, {}, {"centered": True}, ["grad_avg"]),
    "rmsprop_momentum": (torch.optim.RMSprop, {}, {"momentum": 0.9}, ["momentum_buffer"]),
    # the saved state is all the options now need: taken over as it is
    "adam_amsgrad_off": (torch.optim.Adam, {"amsgrad": True}, {"amsgrad": False}, []),
    "sgd_momentum": (torch.optim.SGD, {}, {"momentum": 0.9}, []),  # SGD without momentum keeps no state
    "nadam_decoupled": (torch.optim.NAdam, {}, {"decoupled_weight_decay": True, "weight_decay": 0.01}, []),
}


def completed(cls: type, options: dict[str, Any], zeros: list[str]) -> type[Classifier]:
    """The reference: a hand-written ``cls`` with ``options`` that resumes a checkpoint of another setup with the
    options now declared (torch loads the saved ones over them) and the state ``zeros`` started as zeros of the
    parameter's shape, as a fresh ``cls`` starts them."""

    class Completed(Classifier):
        def configure_optimizers(self) -> Any:
            return cls(self.parameters(), lr=0.01, **options)

        def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            (state,) = checkpoint["optimizer_states"]
            for group in state["param_groups"]:
                group.update(options)
            for index, param in enumerate(self.parameters()):  # SGD without momentum keeps none
                state["state"].get(index, {}).update({key: torch.zeros_like(param) for key in zeros})

    return Completed


def hand_written_with(cls: type, options: dict[str, Any]) -> type[Classifier]:
    """A module written without the mixin: ``cls`` with ``options`` at lr 0.01."""

    def configure_optimizers(self: Classifier) -> Any:
        return cls(self.parameters(), lr=0.01, **options)

    return type("HandWritten", (Classifier,), {"configure_optimizers": configure_optimizers})


def declaring(cls: type, options: dict[str, Any], choice: str = "error") -> type[Any]:
    # the forloop implementation, as the hand-written optimizers step on the CPU
    implementation = "forloop" if "foreach" in inspect.signature(cls).parameters else "auto"
    spec = OptimizerSpec(cls, lr=0.01, implementation=implementation, **options)
    return type(
        "Changed",
        (ConfigurableOptimizersMixin, Classifier),
        {"optimizer": spec, "resume_changed_setup": choice},
    )


@pytest.mark.parametrize("writer", ["mixin", "hand-written"])
@pytest.mark.parametrize("case", sorted(NEEDS_STATE))
def test_an_option_that_needs_more_state_completes_the_kept_state_as_a_fresh_optimizer_starts_it(
    case: str, writer: str, tmp_path: Path
) -> None:
    """Adam resumed with ``amsgrad=True`` failed at its first step with ``KeyError: 'max_exp_avg_sq'`` (RMSprop
    with ``centered``/``momentum``: ``grad_avg``/``momentum_buffer``): the checkpoint's moments were kept under
    options that make torch expect more state. They are kept, with the missing state started as a fresh optimizer
    starts it (zeros), so the run trains exactly as torch with the new options and the completed state does."""
    cls, before, after, zeros = NEEDS_STATE[case]
    first = declaring(cls, before) if writer == "mixin" else hand_written_with(cls, before)
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    fit_resumed(first(), None, callbacks=[saving], max_epochs=1, enable_checkpointing=True)
    path = str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt")

    reference = completed(cls, after, zeros)()
    fit_resumed(reference, path)
    restored = RestoredState()
    continued = declaring(cls, after, "continue")()
    fit_resumed(continued, path, callbacks=[restored])
    assert_same_weights(continued, reference)
    saved = torch.load(path, weights_only=False)["optimizer_states"][0]["state"]
    (state,) = restored.states
    for index, param_state in saved.items():  # the checkpoint's state kept, the missing state started at zero
        assert sorted(state[index]) == sorted({*param_state, *zeros})
        assert all(torch.equal(state[index][key], value) for key, value in param_state.items())
        assert all(not state[index][key].any() for key in zeros)


class Tracking(torch.optim.Optimizer):
    """Plain SGD that with ``track=True`` steps along the mean of the gradient and the previous one, kept as
    ``last`` and started from the first gradient (as SGD's momentum buffer), not from zeros. In torch's module
    (the resume only asks torch's own optimizers which state they start), written in torch's way: the state is
    started when it is empty."""

    __module__ = "torch.optim.sgd"

    def __init__(self, params: Any, lr: float = 0.1, track: bool = False) -> None:
        super().__init__(params, {"lr": lr, "track": track})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:
        if closure is not None:
            with torch.enable_grad():
                closure()
        for group in self.param_groups:
            for param in group["params"]:
                state = self.state[param]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    if group["track"]:
                        state["last"] = param.grad.clone()
                state["step"] += 1
                update = (param.grad + state["last"]) / 2 if group["track"] else param.grad
                param.add_(update, alpha=-group["lr"])
                if group["track"]:
                    state["last"] = param.grad.clone()


def test_an_option_whose_state_torch_does_not_start_from_zeros_starts_the_group_afresh_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Zeros would not be how a fresh optimizer starts ``last``: the group's state starts afresh, as a fresh
    ``Tracking`` with ``track=True`` starts it, and an info names the optimizer, the group and the option."""
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    fit_resumed(declaring(Tracking, {})(), None, callbacks=[saving], max_epochs=1, enable_checkpointing=True)
    path = str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt")

    class Afresh(Classifier):
        def configure_optimizers(self) -> Any:
            return Tracking(self.parameters(), lr=0.01, track=True)

        def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            (state,) = checkpoint["optimizer_states"]
            state["param_groups"][0]["track"] = True
            state["state"] = {}

    reference = Afresh()
    fit_resumed(reference, path)
    continued = declaring(Tracking, {"track": True}, "continue")()
    with caplog.at_level("INFO"):
        fit_resumed(continued, path)
    assert_same_weights(continued, reference)
    said = [r.getMessage() for r in caplog.records if "afresh" in r.getMessage()]
    assert said == [
        "Changed.optimizer: param group 'rest' starts its optimizer state afresh "
        "(resume_changed_setup='continue'): `Tracking` with its options now (track: False in the checkpoint, True "
        "now) needs per-parameter state the checkpoint lacks (last), which it does not start from zeros."
    ]


# -- an option sets the length of a kept state --------------------------------------------------------------------

#: the lists LBFGS keeps of its last ``history_size`` steps, oldest first
LBFGS_HISTORY = ("old_dirs", "old_stps", "ro")


class LbfgsState(L.Callback):
    """LBFGS's state (kept under its first parameter) right after the restore, and when training ends."""

    def __init__(self) -> None:
        self.restored: dict[str, Any] = {}
        self.ended: dict[str, Any] = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        self.restored = copy.deepcopy(trainer.optimizers[0].state_dict()["state"][0])

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        self.ended = copy.deepcopy(trainer.optimizers[0].state_dict()["state"][0])


def trimmed_lbfgs(history_size: int) -> type[Classifier]:
    """The reference: a hand-written LBFGS with ``history_size`` that resumes a checkpoint of another one with its
    history trimmed by hand to the most recent ``history_size`` entries (torch drops the oldest first) and the
    scratch ``al`` as torch starts it, ``history_size`` long."""

    class Trimmed(Classifier):
        def configure_optimizers(self) -> Any:
            return torch.optim.LBFGS(self.parameters(), lr=0.01, history_size=history_size)

        def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            (state,) = checkpoint["optimizer_states"]
            state["param_groups"][0]["history_size"] = history_size
            kept = state["state"][0]
            kept.update({key: kept[key][-history_size:] for key in LBFGS_HISTORY})
            kept["al"] = [None] * history_size

    return Trimmed


@pytest.mark.parametrize("writer", ["mixin", "hand-written"])
@pytest.mark.parametrize(("before", "after"), [(10, 3), (3, 10)], ids=["lower", "higher"])
def test_a_changed_lbfgs_history_size_keeps_the_most_recent_history(
    before: int, after: int, writer: str, tmp_path: Path
) -> None:
    """LBFGS resumed with another ``history_size`` failed at its first step with a bare ``IndexError`` inside torch:
    its history and its scratch ``al`` (which torch sizes once, when it is missing) held the checkpoint's
    ``history_size``. The most recent ``history_size`` entries of the history are kept and ``al`` is started anew
    at the new size, so the run trains as a hand-written LBFGS whose state is trimmed the same way by hand."""
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    options = {"history_size": before}
    first = (
        declaring(torch.optim.LBFGS, options)
        if writer == "mixin"
        else hand_written_with(torch.optim.LBFGS, options)
    )
    fit_resumed(first(), None, callbacks=[saving], max_epochs=1, enable_checkpointing=True)
    path = str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt")
    saved = torch.load(path, weights_only=False)["optimizer_states"][0]["state"][0]
    assert len(saved["old_dirs"]) == before  # 4 steps of up to 20 iterations filled it

    reference = trimmed_lbfgs(after)()
    fit_resumed(reference, path)
    state = LbfgsState()
    continued = declaring(torch.optim.LBFGS, {"history_size": after}, "continue")()
    fit_resumed(continued, path, callbacks=[state])
    assert_same_weights(continued, reference)
    kept = min(before, after)
    for key in LBFGS_HISTORY:
        assert len(state.restored[key]) == kept
        assert all(torch.equal(a, b) for a, b in zip(state.restored[key], saved[key][-kept:])), key
        assert len(state.ended[key]) == after  # the history filled up to the new size, no further
    assert len(state.ended["al"]) == after


#: AdaShift's queue of its last ``keep_num`` gradients, oldest first: it updates only once the queue is full
ADASHIFT_QUEUE = "grad_queue"


class AdaShiftQueues(L.Callback):
    """AdaShift's queues, one per parameter, when training ends."""

    def __init__(self) -> None:
        self.ended: list[Any] = []

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        optimizer = trainer.optimizers[0]
        self.ended = [
            copy.deepcopy(optimizer.state[p][ADASHIFT_QUEUE]) for p in optimizer.param_groups[0]["params"]
        ]


def fitted_adashift(keep_num: int) -> type[Classifier]:
    """The reference: a hand-written AdaShift with ``keep_num`` that resumes a checkpoint of another one with each
    queue fitted by hand as a fresh one holds it: its most recent ``keep_num`` gradients, in a deque of that
    ``maxlen`` (the checkpoint holds it as the mixin saves a deque, and Lightning's move to the device rebuilds it
    without its ``maxlen``: given back at train start)."""
    cls = resolve_class("pytorch_optimizer/adashift", "optimizer", where="test")

    class Fitted(Classifier):
        def configure_optimizers(self) -> Any:
            return cls(self.parameters(), lr=0.01, keep_num=keep_num)

        def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            (state,) = checkpoint["optimizer_states"]
            state["param_groups"][0]["keep_num"] = keep_num
            for kept in state["state"].values():
                kept[ADASHIFT_QUEUE] = deque(kept[ADASHIFT_QUEUE][DEQUE_KEY][-keep_num:], maxlen=keep_num)

        def on_train_start(self) -> None:
            optimizer = self.trainer.optimizers[0]
            for kept in optimizer.state.values():
                kept[ADASHIFT_QUEUE] = deque(kept[ADASHIFT_QUEUE], maxlen=keep_num)

    return Fitted


@pytest.mark.parametrize(("before", "after"), [(3, 2), (3, 5)], ids=["lower", "higher"])
def test_a_changed_adashift_keep_num_keeps_the_most_recent_gradients(
    before: int, after: int, tmp_path: Path
) -> None:
    """pytorch_optimizer's AdaShift resumed with another ``keep_num`` kept the checkpoint's queue with its old
    ``maxlen``: AdaShift updates only when the queue holds exactly ``keep_num`` gradients, so a lower ``keep_num``
    (a queue longer) or a higher one (a queue capped below it) silently stopped training. The queue keeps its most
    recent ``keep_num`` gradients in a deque of ``maxlen=keep_num``, as a fresh AdaShift holds it, so the run
    trains as a hand-written AdaShift whose queue is fitted the same way by hand."""
    pytest.importorskip("pytorch_optimizer")
    cls = resolve_class("pytorch_optimizer/adashift", "optimizer", where="test")
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    fit_resumed(
        declaring(cls, {"keep_num": before})(),
        None,
        callbacks=[saving],
        max_epochs=1,
        enable_checkpointing=True,
    )
    path = str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt")
    saved_queues = torch.load(path)["optimizer_states"][0]["state"].values()
    assert all(len(kept[ADASHIFT_QUEUE][DEQUE_KEY]) == before for kept in saved_queues)  # 4 steps filled them

    reference = fitted_adashift(after)()
    fit_resumed(reference, path)
    queues = AdaShiftQueues()
    continued = declaring(cls, {"keep_num": after}, "continue")()
    fit_resumed(continued, path, callbacks=[queues])
    assert_same_weights(continued, reference)
    saved = torch.load(path, weights_only=False)["state_dict"]
    assert any(
        not torch.equal(value, saved[key]) for key, value in continued.state_dict().items()
    )  # it trained
    for queue in queues.ended:  # 8 more steps filled it up to the new keep_num, no further
        assert isinstance(queue, deque)
        assert (queue.maxlen, len(queue)) == (after, after)


#: (a pytorch_optimizer optimizer, its options in the checkpoint, an option now that shapes its per-parameter state):
#: ``DASH``'s step failed on the kept state, the others went on with its shapes, as if the option had not changed
SHAPED = {
    "dash_smaller_blocks": ("dash", {"block_size": 16}, {"block_size": 4}),
    "dash_larger_blocks": ("dash", {"block_size": 4}, {"block_size": 16}),
    "kron_diagonal": ("kron", {"memory_save_mode": None}, {"memory_save_mode": "one_diag"}),
    "kron_max_size": ("kron", {"max_size_triangular": 8192}, {"max_size_triangular": 4}),
    "kron_min_ndim": ("kron", {"min_ndim_triangular": 2}, {"min_ndim_triangular": 3}),
    "soap_max_dim": ("soap", {"max_precondition_dim": 10000}, {"max_precondition_dim": 8}),
    "soap_1d": ("soap", {"precondition_1d": False}, {"precondition_1d": True}),
    "splus_max_dim": ("splus", {"max_dim": 10000}, {"max_dim": 8}),
    "alice_rank": ("alice", {"rank": 4, "leading_basis": 1}, {"rank": 2, "leading_basis": 1}),
}


class Seeded(L.Callback):
    """Seeds every generator as training starts: ``Kron`` draws from numpy's and torch's as it steps."""

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        L.seed_everything(0, verbose=False)


@pytest.mark.parametrize("case", sorted(SHAPED))
def test_an_option_that_shapes_the_state_starts_the_group_afresh_said_once(
    case: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """pytorch_optimizer's ``DASH`` keeps a preconditioner per ``block_size`` block of each parameter: resumed with
    another ``block_size`` it failed at its first step with a bare shape ``RuntimeError`` inside its step; ``Kron``,
    ``SOAP``, ``SPlus`` and ``Alice`` went on with the checkpoint's preconditioners, of the shapes the option had
    before. None of the saved state fits the new shapes, so the group starts afresh (its group ``step`` too), as a
    hand-written optimizer with the options now and no state trains, said in an info naming the option."""
    pytest.importorskip("pytorch_optimizer")
    name, before, after = SHAPED[case]
    cls = resolve_class(f"pytorch_optimizer/{name}", "optimizer", where="test")
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    fit_resumed(declaring(cls, before)(), None, callbacks=[saving], max_epochs=1, enable_checkpointing=True)
    path = str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt")

    class Afresh(Classifier):
        def configure_optimizers(self) -> Any:
            return cls(self.parameters(), lr=0.01, **after)

        def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            (state,) = checkpoint["optimizer_states"]
            group = state["param_groups"][0]
            group.update(after)
            group.pop("step", None)  # a fresh one counts its steps from its first
            group.update({"train_mode": True} if "train_mode" in group else {})  # SPlus starts in train mode
            state["state"] = {}

        def on_train_end(self) -> None:
            if "train_mode" in self.trainer.optimizers[0].param_groups[0]:  # SPlus: its average, as the mixin
                self.trainer.optimizers[0].eval()

    reference = Afresh()
    fit_resumed(reference, path, callbacks=[Seeded()])
    continued = declaring(cls, after, "continue")()
    with caplog.at_level("INFO"):
        fit_resumed(continued, path, callbacks=[Seeded()])
    assert_same_weights(continued, reference)
    (option,) = [key for key in after if after[key] != before[key]]
    said = [r.getMessage() for r in caplog.records if "afresh" in r.getMessage()]
    assert said == [
        "Changed.optimizer: param group 'rest' starts its optimizer state afresh (resume_changed_setup='continue'): "
        f"`{cls.__name__}` with its options now ({option}: {before[option]!r} in the checkpoint, {after[option]!r} "
        f"now) shapes its per-parameter state by {option}, so the checkpoint's does not fit it."
    ]


def test_every_option_the_records_say_shapes_a_state_is_resumed_above() -> None:
    """``SHAPED`` changes each ``shaping_options`` entry of pytorch_optimizer's records, and nothing else."""
    pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
    changed = {
        (resolve_class(f"pytorch_optimizer/{name}", "optimizer", where="test").__name__, option)
        for name, before, after in SHAPED.values()
        for option in after
        if after[option] != before[option]
    }
    classes = [
        resolve_class(f"pytorch_optimizer/{name}", "optimizer", where="test")
        for name in pytorch_optimizer.get_supported_optimizers()
        if not takes_model(pytorch_optimizer.load_optimizer(name))  # refused: they cannot be declared
    ]
    assert changed == {
        (cls.__name__, option) for cls in classes for option in optimizer_info(cls).shaping_options
    }


# -- a state option changed: the per-parameter state bitsandbytes keeps in another precision -----------------------

#: (the embedding's group in the checkpoint, the group now) of ``bnb/adamw8bit``: 8-bit state, as the optimizer's
#: own, turned 32-bit by the group's ``optim_bits``, and back
PRECISIONS = {"8to32": ({}, {"optim_bits": 32}), "32to8": ({"optim_bits": 32}, {})}


@pytest.mark.parametrize("case", sorted(PRECISIONS))
def test_a_changed_state_precision_starts_the_group_afresh_said_once(
    case: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """bitsandbytes keeps ``optim_bits`` outside the param groups and goes on with the state it finds: resumed with
    the embedding's ``optim_bits`` turned 32, it kept the checkpoint's 8-bit (uint8) state, and turned 8, the
    fp32 one, as if the option had not changed. The group's state starts afresh, in the precision now, as a
    hand-written ``AdamW8bit`` with that precision whose group's state is emptied trains; the other group keeps
    its state; an info names the group and the option."""
    bnb = pytest.importorskip("bitsandbytes")
    from tests.registry.test_bnb import Wide, state_dtypes  # bitsandbytes' tests: its 8-bit state is real

    before, after = PRECISIONS[case]

    def spec(options: dict[str, Any], choice: str = "error") -> type[Any]:
        declaration = OptimizerSpec("bnb/adamw8bit", lr=0.01, groups=[ParamGroup("embed", **options)])
        return type(
            "Changed",
            (ConfigurableOptimizersMixin, Wide),
            {"optimizer": declaration, "resume_changed_setup": choice},
        )

    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    fit_resumed(spec(before)(), None, callbacks=[saving], max_epochs=1, enable_checkpointing=True)
    path = str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt")
    manager = bnb.optim.GlobalOptimManager.get_instance()

    class Afresh(Wide):
        def configure_optimizers(self) -> Any:
            if after:
                manager.override_config(self.embed.weight, key_value_dict=dict(after))
            rest = [p for n, p in self.named_parameters() if n != "embed.weight"]
            return bnb.optim.AdamW8bit([{"params": [self.embed.weight]}, {"params": rest}], lr=0.01)

        def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            (state,) = checkpoint["optimizer_states"]
            for index in state["param_groups"][0]["params"]:
                state["state"].pop(index, None)

    reference = Afresh()
    try:
        fit_resumed(reference, path)
    finally:
        manager.pid2config.pop(id(reference.embed.weight), None)
    continued = spec(after, "continue")()
    with caplog.at_level("INFO"):
        fit_resumed(continued, path)
    assert_same_weights(continued, reference)
    dtypes = state_dtypes(continued.trainer, continued)
    assert dtypes["embed.weight"] == (torch.float32 if after else torch.uint8)
    assert dtypes["hidden.weight"] == torch.uint8
    said = [r.getMessage() for r in caplog.records if "afresh" in r.getMessage()]
    was, now = (8, 32) if after else (32, 8)
    assert said == [
        "Changed.optimizer: param group 'embed' starts its optimizer state afresh (resume_changed_setup='continue'): "
        f"`AdamW8bit` with its options now (optim_bits: {before.get('optim_bits')!r} in the checkpoint, "
        f"{after.get('optim_bits')!r} now) keeps its per-parameter state in another precision by its state options "
        f"(min_8bit_size, optim_bits: {was}-bit in the checkpoint, {now}-bit now), so the checkpoint's does not fit it."
    ]


# -- a resumed epoch's batch count follows Lightning's rule when the batches per epoch changed ---------------------


class FailsAt(L.Callback):
    """Raises before the batch of ``step`` (``OnExceptionCheckpoint`` then saves the run)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError("interrupted")


class Validated(Classifier):
    """A classifier validated on a batch."""

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        pass

    def val_dataloader(self) -> Any:
        return loader(n=8)


#: a validation on one batch, with no sanity check
VALIDATING = {"limit_val_batches": 1, "num_sanity_val_steps": 0}


@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
# Lightning's own warnings for a first fit with `OnExceptionCheckpoint`, which it resumes from "last"
@pytest.mark.filterwarnings("ignore:`.fit\\(ckpt_path=None\\)` was called without a model")
@pytest.mark.filterwarnings('ignore:.fit\\(ckpt_path="last"\\) is set, but there is no last checkpoint')
@pytest.mark.parametrize("choice", ["continue", "fresh"])
@pytest.mark.parametrize(
    ("before", "save", "done", "after", "taken"),
    [
        # the old epoch's last batch (8 of 8), resumed with 16 per epoch: Lightning counts epoch 0 as done but carries
        # its 8 batches into epoch 1, which trains batches 8-15; then epoch 2
        ({"limit_train_batches": 8}, 8, 8, {}, 8 + 16),
        # the same in a run of 2 epochs: epoch 1 trains batches 8-15, the run's last
        ({"limit_train_batches": 8}, 8, 8, {"max_epochs": 2}, 8),
        # batch 12 of 16, resumed with 8 per epoch: 12 >= 8, so Lightning trains epoch 0 again from its start
        ({}, 12, 12, {"limit_train_batches": 8}, 8 + 8 + 8),
        # batch 6 of 16, resumed with 8 per epoch: the count carries on, epoch 0 trains batches 6 and 7
        ({}, 6, 6, {"limit_train_batches": 8}, 2 + 8 + 8),
        # batch 4 of 8, resumed with 16 per epoch: epoch 0 trains batches 4-15
        ({"limit_train_batches": 8}, 4, 4, {}, 12 + 16 + 16),
        # the epoch's last batch (16 of 16), resumed with 8 per epoch: epochs 1 and 2
        ({}, 16, 16, {"limit_train_batches": 8}, 8 + 8),
        # OnExceptionCheckpoint before batch 12 of 16, resumed with 8 per epoch: no batch end was saved, so Lightning
        # keeps the count; its data fetcher counts the 12 batches as fetched and ends epoch 0 after one more batch
        ({}, "exception", 12, {"limit_train_batches": 8}, 1 + 8 + 8),
        # ModelCheckpoint at the validation after batch 12 of 16 (`on_validation_end`): the same as an exception's
        ({}, "validation", 12, {"limit_train_batches": 8}, 1 + 8 + 8),
    ],
    ids=[
        "more_at_the_last_batch",
        "more_at_the_last_batch_of_the_run",
        "fewer_past_the_new_epoch",
        "fewer_mid_epoch",
        "more_mid_epoch",
        "fewer_at_the_last_batch",
        "exception_past_the_new_epoch",
        "validation_past_the_new_epoch",
    ],
)
def test_a_derived_length_follows_lightnings_batch_count_of_the_resumed_epoch(
    choice: str,
    before: dict[str, int],
    save: int | str,
    done: int,
    after: dict[str, int],
    taken: int,
    tmp_path: Path,
) -> None:
    """The checkpoint's batches into its epoch were taken as the resumed epoch's, whatever this fit's batches per
    epoch: at the old epoch's last batch resumed with more batches (2 devices to 1 doubles them) the schedule was
    built for 8 steps too many, ending the run at lr 0.0025 ("continue") or stopping training at the next epoch
    start ("the run changed"), and past the new epoch's length resumed with fewer (1 device to 2) the run looked
    shorter and training stopped at epoch 1 ("the run changed")."""
    path = tmp_path / "ckpt" / f"epoch=0-step={done}.ckpt"
    base, validating = (Validated, VALIDATING) if save == "validation" else (Classifier, {})
    if save == "exception":
        path = tmp_path / "ckpt" / "on_exception.ckpt"
        saving: L.Callback = OnExceptionCheckpoint(tmp_path / "ckpt")
        with pytest.raises(RuntimeError, match="interrupted"):
            train(derived("error")(), tmp_path, callbacks=[saving, FailsAt(done)], max_epochs=1, **before)
    elif save == "validation":
        saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, save_on_train_epoch_end=False)
        first = {"max_epochs": 1, "val_check_interval": done, **VALIDATING, **before}
        train(derived("error", base=base)(), tmp_path, callbacks=[saving], **first)
    else:
        saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_train_steps=save)
        train(derived("error")(), tmp_path, callbacks=[saving], max_epochs=1, **before)

    resumed = {"max_epochs": 3, **validating, **after}
    rest = train(derived(choice, base=base)(), tmp_path, str(path), **resumed).of(0)
    assert len(rest) == taken  # the steps the resumed fit took, one a batch

    # the schedule reaches its end exactly at the run's last step, as a torch scheduler over the run's steps does
    def cosine(t_max: int) -> list[float]:
        return torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=t_max), t_max, lr=0.01)

    expected = cosine(done + taken)[done:] if choice == "continue" else cosine(taken)
    assert rest == pytest.approx(expected, rel=1e-9)


def test_error_names_the_changed_batches_per_epoch(tmp_path: Path) -> None:
    """A derived length refused under "error" says which of the run's facts changed: here the batches per epoch
    (another ``limit_train_batches``, or other devices), not only the length they gave, and its headline speaks
    of the run as well as of the declarations."""
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    train(derived("error")(), tmp_path, callbacks=[saving], max_epochs=2)
    path = str(tmp_path / "ckpt" / "epoch=0-step=16.ckpt")
    with pytest.raises(
        ValueError, match="the run's training batches per epoch: 16 in the checkpoint, 8 now"
    ) as err:
        train(derived("error")(), tmp_path, path, limit_train_batches=8)
    # the headline says a run changed too, not only the declarations (they are the same here)
    assert "the same optimizer and scheduler declarations, in a run of the same shape" in str(err.value)


# -- a schedule declared in epochs (`unit="epoch"`) goes on at the epoch the run is in --------------------------

#: per-step schedules declared in epochs: each converter of an epoch-valued argument, an int warmup and a window
IN_EPOCHS = {
    "multistep": SchedulerSpec("multistep", milestones=[1, 2], gamma=0.1),
    "step": SchedulerSpec("step", step_size=1, gamma=0.5),
    "cosine": SchedulerSpec("cosine", T_max=3),
    "exponential": SchedulerSpec("exponential", gamma=0.5),
    "lambda": SchedulerSpec("lambda", lr_lambda=lambda epoch: 1 / (1 + epoch)),
    "warmup": SchedulerSpec("cosine", T_max=1, warmup=2),
    "window": SchedulerSpec("linear", start_factor=1.0, end_factor=0.25, begin=1, end=3),
}


def in_epochs(name: str, choice: str = "error") -> type[L.LightningModule]:
    """SGD at lr 0.1 with ``IN_EPOCHS[name]`` updated every step."""
    spec = IN_EPOCHS[name]
    scheduler = SchedulerSpec(spec.scheduler, interval="step", unit="epoch", **spec.kwargs)
    return type(
        "InEpochs",
        (ConfigurableOptimizersMixin, Classifier),
        {"optimizer": OptimizerSpec("sgd", lr=0.1, scheduler=scheduler), "resume_changed_setup": choice},
    )


@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
@pytest.mark.parametrize(
    ("save", "done", "change", "replayed"),
    [
        # after epoch 0 (16 steps), epochs of 12 batches: epochs 1 and 2 start at steps 16 and 28
        ({"every_n_epochs": 1}, 16, {"limit_train_batches": 12}, 12),
        # at batch 8 of epoch 0 (8 steps), accumulating 2: its 8 batches left give 4 steps, epoch 1 starts at 12
        ({"every_n_train_steps": 8}, 8, {"accumulate_grad_batches": 2}, 8),
    ],
    ids=["limit_train_batches", "mid_epoch_accumulate"],
)
@pytest.mark.parametrize("name", list(IN_EPOCHS))
def test_a_schedule_in_epochs_goes_on_at_the_epoch_the_run_is_in(
    name: str, save: dict[str, int], done: int, change: dict[str, Any], replayed: int, tmp_path: Path
) -> None:
    """Each epoch's value is reached at that epoch's first step, also after the steps per epoch changed: the
    resumed run trains every batch at the lr the run of the new steps per epoch from the start trains it at
    (its first ``replayed`` batches are those before the resume). The epoch-valued arguments were converted at
    the new rate from step 0, as if the steps taken at the old rate had been taken at the new one: a milestone at
    epoch 2 decayed 4 batches before epoch 2, and the mid-epoch resume decayed at once, in epoch 0."""
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, **save)
    train(in_epochs(name)(), tmp_path, callbacks=[saving], max_epochs=1)
    path = str(next(p for p in (tmp_path / "ckpt").iterdir() if f"step={done}.ckpt" in p.name))

    rest = train(in_epochs(name, "continue")(), tmp_path, path, max_epochs=3, **change).of(0)
    whole = train(in_epochs(name)(), tmp_path / "whole", max_epochs=3, **change).of(0)
    assert rest == pytest.approx(whole[replayed:], rel=1e-9)


class HandMultiStep(Classifier):
    """The hand-written module: SGD at lr 0.1, decayed 10x per step at the starts of epochs 1 and 2 of a run of
    16 steps, then epochs of 12 batches."""

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        decay = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[16, 28], gamma=0.1)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": decay, "interval": "step"}}


def test_milestones_in_epochs_land_on_the_epoch_starts_after_the_steps_per_epoch_changed(
    tmp_path: Path,
) -> None:
    """``milestones=[1, 2]`` after an epoch of 16 steps, resumed with epochs of 12 batches: the decays at steps 16
    and 28 (the first steps of epochs 1 and 2), as torch's ``MultiStepLR`` with those milestones trains; they
    were at steps 12 and 24, converted with 12 steps for epoch 0 too, so epoch 2's came 4 batches early."""
    hand_saving = ModelCheckpoint(dirpath=tmp_path / "hand", save_top_k=-1, every_n_epochs=1)
    train(HandMultiStep(), tmp_path, callbacks=[hand_saving], max_epochs=1)
    hand_path = str(next((tmp_path / "hand").iterdir()))
    hand_module = HandMultiStep()
    hand = train(hand_module, tmp_path, hand_path, max_epochs=3, limit_train_batches=12)

    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    train(in_epochs("multistep")(), tmp_path, callbacks=[saving], max_epochs=1)
    module = in_epochs("multistep", "continue")()
    rest = train(
        module, tmp_path, str(next((tmp_path / "ckpt").iterdir())), max_epochs=3, limit_train_batches=12
    )

    expected = [0.01] * 12 + [0.001] * 12
    assert rest.of(0) == pytest.approx(expected, rel=1e-9)
    assert hand.of(0) == pytest.approx(expected, rel=1e-9)
    assert_same_weights(module, hand_module)
