"""Porting a hand-written module to the mixin: its checkpoints (written without the mixin) resume.

A hand-written ``configure_optimizers`` returns an optimizer and a torch scheduler; its checkpoint holds the
torch scheduler's own state, not a ``Schedule``'s. Resumed by the ported module (the same optimizer and
scheduler declared), the hand-written trajectory continues exactly; a declared schedule the saved state is
not that of (another class, other arguments, another interval, a warmup) is refused under ``"error"``, and
``"continue"``/``"fresh"`` resume it as they resume any changed setup.

Every run is 4 epochs of 4 batches of ``test_resume.py``'s ``Resumable`` loader.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, StochasticWeightAveraging
from torch.optim import SGD
from torch.optim.lr_scheduler import (
    ConstantLR,
    CosineAnnealingLR,
    CyclicLR,
    ExponentialLR,
    LambdaLR,
    OneCycleLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)

from lightning_optim import ConfigurableOptimizersMixin, LRMonitor, OptimizerSpec, ParamGroup, SchedulerSpec
from lightning_optim.utilities import compat
from tests import helpers
from tests.helpers import Classifier, TwoNets, assert_same_weights, fit_resumed, torch_lrs
from tests.training.test_resume import Resumable

LR = 0.1


def hand_written(cls: type, interval: str, **kwargs: Any) -> type[Classifier]:
    """A module as written before the mixin: SGD with momentum and a torch scheduler stepped per ``interval``."""

    def configure_optimizers(self: Classifier) -> Any:
        optimizer = SGD(self.parameters(), lr=LR, momentum=0.9)
        scheduler = {"scheduler": cls(optimizer, **kwargs), "interval": interval}
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    return type("HandWritten", (Classifier,), {"configure_optimizers": configure_optimizers})


def ported(
    cls: type, interval: str, choice: str = "error", optimizer: dict[str, Any] | None = None, **kwargs: Any
) -> type[Any]:
    """The hand-written module ported to the mixin (the same optimizer; ``kwargs`` declare the scheduler)."""
    spec = OptimizerSpec(
        SGD,
        implementation="forloop",  # as the hand-written SGD steps on the CPU
        scheduler=SchedulerSpec(cls, interval=interval, **kwargs),
        # `OneCycleLR` and `CyclicLR` set the lr from their arguments: a declared one would have no effect
        **{**({} if cls in (OneCycleLR, CyclicLR) else {"lr": LR}), "momentum": 0.9, **(optimizer or {})},
    )
    module = helpers.declared(spec, name="Ported")
    module.resume_changed_setup = choice
    return module


#: where the checkpoint is written: after epoch 1 (8 steps), or in epoch 1 after 6 steps
SAVE_POINTS = {
    "epoch_end": ({"every_n_epochs": 1}, "epoch=1-step=8.ckpt", 8),
    "mid_epoch": ({"every_n_train_steps": 6}, "epoch=1-step=6.ckpt", 6),
}

#: (scheduler class, interval, its arguments): each the same in the hand-written module and the ported one
SCHEDULERS = {
    "step_per_epoch": (StepLR, "epoch", {"step_size": 1, "gamma": 0.5}),
    "step_per_step": (StepLR, "step", {"step_size": 3, "gamma": 0.5}),
    "cosine_per_epoch": (CosineAnnealingLR, "epoch", {"T_max": 4}),
    "cosine_per_step": (CosineAnnealingLR, "step", {"T_max": 16, "eta_min": 0.01}),
    # arguments torch keeps in the param groups (and its state under other names), compared with the declared
    "onecycle_per_step": (OneCycleLR, "step", {"max_lr": 0.1, "total_steps": 16}),
    "cyclic_per_step": (CyclicLR, "step", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3}),
}


def run(module: L.LightningModule, tmp_path: Path, ckpt_path: str | None = None, **kwargs: Any) -> Any:
    options = {"max_epochs": 4, "enable_checkpointing": True, "default_root_dir": tmp_path, **kwargs}
    return fit_resumed(module, ckpt_path, data=Resumable(), **options)  # mid-epoch: the same batches


def written(tmp_path: Path, module: type, save_point: str = "epoch_end") -> tuple[Any, Any, str]:
    """The uninterrupted run of ``module`` (lr history, module) and the path of its checkpoint at ``save_point``."""
    every, name, _ = SAVE_POINTS[save_point]
    saver = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, save_last=False, **every)
    full = module()
    whole = run(full, tmp_path, callbacks=[saver])
    assert len(whole.history) == 16
    return whole, full, str(tmp_path / "ckpt" / name)


@pytest.mark.parametrize("save_point", sorted(SAVE_POINTS))
@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_ported_module_continues_a_hand_written_checkpoint_exactly(
    name: str, save_point: str, tmp_path: Path
) -> None:
    cls, interval, kwargs = SCHEDULERS[name]
    whole, full, path = written(tmp_path, hand_written(cls, interval, **kwargs), save_point)
    assert "lightning_optim" not in torch.load(path, weights_only=False)
    resumed = ported(cls, interval, **kwargs)()
    rest = run(resumed, tmp_path, ckpt_path=path)
    done = SAVE_POINTS[save_point][2]
    assert rest.history == whole.history[done:]
    assert len(set(map(str, whole.history))) > 2, "the schedule must move for the test to mean anything"
    assert_same_weights(full, resumed)


def halving(epoch: int) -> float:
    return 0.5**epoch


#: ``SCHEDULERS`` and a ``LambdaLR``, whose state torch reads by a key of its own (``lr_lambdas``)
LEFT = {**SCHEDULERS, "lambda_per_epoch": (LambdaLR, "epoch", {"lr_lambda": halving})}


def leaving(module: type[Classifier]) -> type[Classifier]:
    """``module`` resuming a checkpoint the mixin wrote as docs/guides/resume.md's "Leaving the mixin" shows."""

    def on_load_checkpoint(self: Classifier, checkpoint: dict[str, Any]) -> None:
        if "lightning_optim" in checkpoint:
            checkpoint["lr_schedulers"] = [state["inner"] for state in checkpoint["lr_schedulers"]]

    return type("LeftTheMixin", (module,), {"on_load_checkpoint": on_load_checkpoint})


@pytest.mark.parametrize("save_point", sorted(SAVE_POINTS))
@pytest.mark.parametrize("name", sorted(LEFT))
def test_a_mixin_checkpoint_resumes_in_the_hand_written_module_given_the_torch_scheduler_states(
    name: str, save_point: str, tmp_path: Path
) -> None:
    """Leaving the mixin: the README said checkpoints work unchanged, and the hand-written module resuming one
    failed in torch (``KeyError: 'lr_lambdas'``) or took the schedule's attributes (``inner``, ``shape``) as the
    scheduler's; each schedule's ``"inner"`` state is the torch scheduler's own, and resumes it exactly."""
    cls, interval, kwargs = LEFT[name]
    whole, full, path = written(tmp_path, ported(cls, interval, **kwargs), save_point)
    resumed = leaving(hand_written(cls, interval, **kwargs))()
    rest = run(resumed, tmp_path, ckpt_path=path)
    done = SAVE_POINTS[save_point][2]
    assert rest.history == whole.history[done:]
    assert len(set(map(str, whole.history))) > 2, "the schedule must move for the test to mean anything"
    assert_same_weights(full, resumed)


def test_a_mixin_checkpoint_holds_the_schedule_s_state_around_the_torch_scheduler_s(tmp_path: Path) -> None:
    """What the docs say the way back is for: the state Lightning gives the hand-written scheduler as it is."""
    _, _, path = written(tmp_path, ported(LambdaLR, "epoch", lr_lambda=halving))
    with pytest.raises(KeyError, match="lr_lambdas"):
        run(hand_written(LambdaLR, "epoch", lr_lambda=halving)(), tmp_path, ckpt_path=path)


class HandWrittenProdigy(Classifier):
    def configure_optimizers(self) -> Any:
        return pytest.importorskip("pytorch_optimizer").Prodigy(self.parameters())


def test_the_step_size_prodigy_learned_is_no_option_that_changed(tmp_path: Path) -> None:
    """Prodigy keeps the step size it learns (``d``, ``d_max``, ``d_hat``, ...) in its param group: the
    checkpoint's ``d`` is no changed option, and the ported module continues the hand-written run exactly."""
    pytest.importorskip("pytorch_optimizer")
    _, full, path = written(tmp_path, HandWrittenProdigy)
    resumed = helpers.declared(OptimizerSpec("pytorch_optimizer/prodigy"), name="Ported")()
    run(resumed, tmp_path, ckpt_path=path)
    assert_same_weights(full, resumed)


def test_a_length_left_to_the_run_continues_a_hand_written_one_equal_to_it(tmp_path: Path) -> None:
    """``T_max`` omitted is the run's 16 steps: the hand-written ``T_max=16`` is that schedule."""
    whole, full, path = written(tmp_path, hand_written(CosineAnnealingLR, "step", T_max=16), "mid_epoch")
    resumed = ported(CosineAnnealingLR, "step")()
    rest = run(resumed, tmp_path, ckpt_path=path)
    assert rest.history == whole.history[6:]
    assert_same_weights(full, resumed)


def test_the_ported_modules_own_checkpoint_resumes_after_a_hand_written_one(tmp_path: Path) -> None:
    """Resumed from the hand-written checkpoint, the ported module writes its own, which resumes exactly."""
    whole, full, path = written(tmp_path, hand_written(StepLR, "epoch", step_size=1, gamma=0.5))
    saver = ModelCheckpoint(dirpath=tmp_path / "ported", save_top_k=-1, save_last=False, every_n_epochs=1)
    module = ported(StepLR, "epoch", step_size=1, gamma=0.5)
    run(module(), tmp_path, ckpt_path=path, callbacks=[saver])
    resumed = module()
    rest = run(resumed, tmp_path, ckpt_path=str(tmp_path / "ported" / "epoch=2-step=12.ckpt"))
    assert rest.history == whole.history[12:]
    assert_same_weights(full, resumed)


#: a ported declaration the hand-written ``StepLR(step_size=1, gamma=0.5)`` per epoch is not, and what the
#: refusal names
MISMATCHES = {
    "class": (
        (CosineAnnealingLR, "epoch", {"T_max": 4}),
        r"`CosineAnnealingLR` but got the state of another scheduler class \(`gamma`, `step_size`\)",
    ),
    "class_with_a_subset_of_its_keys": (
        (ExponentialLR, "epoch", {"gamma": 0.5}),
        r"`ExponentialLR` but got the state of another scheduler class \(`gamma`, `step_size`\)",
    ),
    "argument": (
        (StepLR, "epoch", {"step_size": 2, "gamma": 0.5}),
        r"`step_size`: 1 in the checkpoint, 2 now",
    ),
    "interval": (
        (StepLR, "step", {"step_size": 1, "gamma": 0.5}),
        r"2 updates in the checkpoint, but `interval='step'` takes 8 by the resumed step",
    ),
    "warmup": (
        (StepLR, "epoch", {"step_size": 1, "gamma": 0.5, "warmup": 1}),
        r"a warmup of 1 update, which a scheduler written without lightning_optim did not take",
    ),
}


@pytest.mark.parametrize("mismatch", sorted(MISMATCHES))
def test_a_hand_written_checkpoint_of_another_scheduler_is_refused(mismatch: str, tmp_path: Path) -> None:
    _, _, path = written(tmp_path, hand_written(StepLR, "epoch", step_size=1, gamma=0.5))
    (cls, interval, kwargs), named = MISMATCHES[mismatch]
    module = ported(cls, interval, **kwargs)()
    with pytest.raises(
        ValueError, match=r"^Ported: Expected the scheduler states of a checkpoint written"
    ) as err:
        run(module, tmp_path, ckpt_path=path)
    message = str(err.value)
    assert "Ported.optimizer.scheduler" in message, message
    assert re.search(named, message), message
    assert "resume_changed_setup = 'continue'" in message and "'fresh'" in message, message
    # nothing was trained after the restore of the weights: the error comes before any step
    restored = torch.load(path, weights_only=False)["state_dict"]
    assert all(torch.equal(restored[n], p) for n, p in module.named_parameters())


#: ``SCHEDULERS``' hand-written ``OneCycleLR`` and ``CyclicLR`` per step, a ported declaration changing arguments
#: torch keeps in the param groups or under another name in its state, and the lines of the refusal
KEPT_ELSEWHERE = {
    "onecycle_max_lr": ("onecycle_per_step", {"max_lr": 0.2}, ["`max_lr`: 0.1 in the checkpoint, 0.2 now"]),
    "onecycle_div_factor": (
        "onecycle_per_step",
        {"div_factor": 10.0},
        ["`div_factor`: 25.0 in the checkpoint, 10.0 now"],
    ),
    "onecycle_final_div_factor": (
        "onecycle_per_step",
        {"final_div_factor": 100.0},
        ["`final_div_factor`: 10000.0 in the checkpoint, 100.0 now"],
    ),
    "onecycle_momentum": (
        "onecycle_per_step",
        {"max_momentum": 0.8, "base_momentum": 0.7},
        [
            "`max_momentum`: 0.95 in the checkpoint, 0.8 now",
            "`base_momentum`: 0.85 in the checkpoint, 0.7 now",
        ],
    ),
    "onecycle_pct_start": (
        "onecycle_per_step",
        {"pct_start": 0.5},
        ["`pct_start`: 0.3 in the checkpoint, 0.5 now"],
    ),
    "onecycle_anneal_strategy": (
        "onecycle_per_step",
        {"anneal_strategy": "linear"},
        ["`anneal_strategy`: 'cos' in the checkpoint, 'linear' now"],
    ),
    "onecycle_three_phase": (
        "onecycle_per_step",
        {"three_phase": True},
        ["`three_phase`: False in the checkpoint, True now"],
    ),
    "cyclic_base_lr": ("cyclic_per_step", {"base_lr": 0.02}, ["`base_lr`: 0.01 in the checkpoint, 0.02 now"]),
    "cyclic_max_lr": ("cyclic_per_step", {"max_lr": 0.2}, ["`max_lr`: 0.1 in the checkpoint, 0.2 now"]),
    "cyclic_step_size_up": (
        "cyclic_per_step",
        {"step_size_up": 2},
        [
            "`step_size_up`: 3.0 in the checkpoint, 2.0 now",
            "`step_size_down`: 3.0 in the checkpoint, 2.0 now",
        ],
    ),
    "cyclic_momentum": (
        "cyclic_per_step",
        {"max_momentum": 0.95},
        ["`max_momentum`: 0.9 in the checkpoint, 0.95 now"],
    ),
}


@pytest.fixture(scope="module")
def cycles_written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The mid-epoch checkpoints of the hand-written ``OneCycleLR`` and ``CyclicLR``, by ``SCHEDULERS`` name."""
    paths = {}
    for name in ("onecycle_per_step", "cyclic_per_step"):
        cls, interval, kwargs = SCHEDULERS[name]
        paths[name] = written(
            tmp_path_factory.mktemp(name), hand_written(cls, interval, **kwargs), "mid_epoch"
        )[2]
    return paths


@pytest.mark.parametrize("change", sorted(KEPT_ELSEWHERE))
def test_a_hand_written_checkpoint_of_other_arguments_torch_keeps_in_the_groups_is_refused(
    change: str, cycles_written: dict[str, str], tmp_path: Path
) -> None:
    """torch restores them from the checkpoint's param groups (``OneCycleLR``'s ``max_lr``, ``initial_lr`` and
    ``min_lr``, its momentum bounds) or its state under another name (``CyclicLR``'s ``max_lrs``, ``total_size``):
    the run went on at the hand-written values, ignoring the declared ones."""
    name, kwargs, lines = KEPT_ELSEWHERE[change]
    cls, interval, written_kwargs = SCHEDULERS[name]
    module = ported(cls, interval, **{**written_kwargs, **kwargs})()
    with pytest.raises(
        ValueError, match=r"^Ported: Expected the scheduler states of a checkpoint written"
    ) as err:
        run(module, tmp_path, ckpt_path=cycles_written[name])
    message = str(err.value)
    named = [line.split("\n")[0] for line in message.split("\n  ")[1:]]
    assert named == [f"Ported.optimizer.scheduler: `{cls.__name__}`'s {line}" for line in lines], message


@pytest.mark.parametrize("choice", ["continue", "fresh"])
def test_a_changed_one_cycle_resumes_on_request_at_the_declared_arguments(
    choice: str, cycles_written: dict[str, str], tmp_path: Path
) -> None:
    """``"continue"`` evaluates the declared ``OneCycleLR`` at the resumed step (its lr and momentum as a run of
    the declaration from the start has them), ``"fresh"`` starts it anew there."""
    declared = {"max_lr": 0.2, "total_steps": 16, "final_div_factor": 100.0, "max_momentum": 0.8}
    reference_module = ported(OneCycleLR, "step", **declared)()
    reference = run(reference_module, tmp_path / "reference")
    resumed = ported(OneCycleLR, "step", choice, **declared)()
    rest = run(resumed, tmp_path, ckpt_path=cycles_written["onecycle_per_step"])
    group = resumed.trainer.optimizers[0].param_groups[0]
    assert (group["max_lr"], group["max_momentum"]) == (0.2, 0.8)
    if choice == "continue":
        assert rest.history == reference.history[6:]
        assert group["momentum"] == reference_module.trainer.optimizers[0].param_groups[0]["momentum"]
    else:
        assert rest.history == reference.history[:10]


class HandWrittenGroups(Classifier):
    """SGD with a group of its own for ``model_gen.layer1``, written before the mixin."""

    def configure_optimizers(self) -> Any:
        layer1, layer2 = self.model_gen.layer1.parameters(), self.model_gen.layer2.parameters()
        return SGD([{"params": layer1, "lr": 0.05}, {"params": layer2}], lr=LR, momentum=0.9)


def ported_groups(choice: str = "error", **options: Any) -> type[Any]:
    """``HandWrittenGroups`` ported: the same groups in the same order, unless ``options`` change them."""
    groups = [ParamGroup("model_gen.layer1", lr=0.05), ParamGroup("model_gen.layer2")]
    spec = OptimizerSpec(
        SGD, **{"lr": LR, "momentum": 0.9, "groups": groups, **options}, implementation="forloop"
    )
    module = helpers.declared(spec, name="Ported")
    module.resume_changed_setup = choice
    return module


@pytest.mark.filterwarnings("ignore:`LRMonitor` is used with a `Trainer` that has no logger")
def test_a_ported_module_keeps_its_group_names(tmp_path: Path) -> None:
    """torch's ``load_state_dict`` replaces the param groups with the checkpoint's, which have no ``name``: the
    declared names stay, and ``LRMonitor`` logs the keys of a run of the ported module from its start."""
    whole, full, path = written(tmp_path, HandWrittenGroups)
    from_start, monitor = LRMonitor(logging_interval="step"), LRMonitor(logging_interval="step")
    run(ported_groups()(), tmp_path / "from_start", callbacks=[from_start], log_every_n_steps=1)
    resumed = ported_groups()()
    rest = run(resumed, tmp_path, ckpt_path=path, callbacks=[monitor], log_every_n_steps=1)
    assert (
        list(monitor.lrs)
        == list(from_start.lrs)
        == ["lr-optimizer/model_gen.layer1", "lr-optimizer/model_gen.layer2"]
    )
    assert [g["name"] for g in resumed.trainer.optimizers[0].param_groups] == [
        "model_gen.layer1",
        "model_gen.layer2",
    ]
    assert rest.history == whole.history[8:]
    assert_same_weights(full, resumed)


#: A declaration that differs from the hand-written optimizer (``SGD(lr=0.1, momentum=0.9)`` with a ``StepLR``
#: per epoch) in what its checkpoint's optimizer state tells, and a line naming the difference.
OPTIMIZER_MISMATCHES = {
    "option": (
        {"momentum": 0.5},
        r"groups\[0 'rest'\]\.options\.momentum: '0\.9' in the checkpoint, '0\.5' now",
    ),
    "new option": ({"nesterov": True}, r"options\.nesterov: 'False' in the checkpoint, 'True' now"),
    "lr": ({"lr": 0.2}, r"groups\[0 'rest'\]\.lr: '0\.1' in the checkpoint, '0\.2' now"),
    "class": ({"optimizer": "adam"}, r"options\.momentum: '0\.9' in the checkpoint, absent now"),
}


@pytest.mark.parametrize("mismatch", sorted(OPTIMIZER_MISMATCHES))
def test_a_hand_written_checkpoint_of_another_optimizer_setup_is_refused(
    mismatch: str, tmp_path: Path
) -> None:
    """torch's ``load_state_dict`` takes every group option from the checkpoint: the declared options would be
    silently replaced by the hand-written ones (Adam's steps would fail on SGD's groups, deep in torch)."""
    _, _, path = written(tmp_path, hand_written(StepLR, "epoch", step_size=1, gamma=0.5))
    options, named = OPTIMIZER_MISMATCHES[mismatch]
    if "optimizer" in options:
        spec = OptimizerSpec(
            options["optimizer"], lr=LR, scheduler=SchedulerSpec(StepLR, step_size=1, gamma=0.5)
        )
        module = helpers.declared(spec, name="Ported")()
    else:
        module = ported(StepLR, "epoch", optimizer=options, step_size=1, gamma=0.5)()
    with pytest.raises(
        ValueError, match=r"^Ported: Expected the checkpoint being resumed to come from"
    ) as err:
        run(module, tmp_path, ckpt_path=path)
    assert re.search(named, str(err.value)), str(err.value)
    restored = torch.load(path, weights_only=False)["state_dict"]
    assert all(torch.equal(restored[n], p) for n, p in module.named_parameters())


def test_hand_written_groups_declared_in_another_order_resume_in_the_declared_order(tmp_path: Path) -> None:
    """The checkpoint's groups are the declared ones in another order, told apart by their lrs: each takes its
    own group's state (torch keys the per-parameter state by position), and the run goes on as the hand-written
    module resuming its own checkpoint (it was refused as a changed setup, whose ``"continue"`` kept the momentum
    buffers by position, here none)."""
    _, _, path = written(tmp_path, HandWrittenGroups)
    reordered = ported_groups(
        groups=[ParamGroup("model_gen.layer2"), ParamGroup("model_gen.layer1", lr=0.05)]
    )()
    own = HandWrittenGroups()
    expected = run(own, tmp_path, ckpt_path=path).history
    assert [
        [lrs[::-1] for lrs in step] for step in run(reordered, tmp_path, ckpt_path=path).history
    ] == expected
    assert_same_weights(own, reordered)


class ScheduledGroups(HandWrittenGroups):
    """``HandWrittenGroups`` with a ``LambdaLR`` per epoch, whose state holds each group's ``base_lrs``."""

    def configure_optimizers(self) -> Any:
        optimizer = super().configure_optimizers()
        return {"optimizer": optimizer, "lr_scheduler": LambdaLR(optimizer, halving)}


def test_hand_written_groups_in_another_order_with_a_scheduler_state_are_refused(tmp_path: Path) -> None:
    """The scheduler's state holds values per group in the checkpoint's order (``base_lrs``): taken over into the
    declared groups in theirs, the resumed run gave layer1 layer2's lr from its second epoch (and the weights
    differed), so the refusal says the order differs and how to declare it."""
    _, _, path = written(tmp_path, ScheduledGroups)
    groups = [ParamGroup("model_gen.layer2"), ParamGroup("model_gen.layer1", lr=0.05)]
    spec = OptimizerSpec(
        SGD,
        lr=LR,
        momentum=0.9,
        groups=groups,
        scheduler=SchedulerSpec(LambdaLR, lr_lambda=halving),
        implementation="forloop",
    )
    with pytest.raises(ValueError, match=r"^Ported: Expected the checkpoint being resumed") as err:
        run(helpers.declared(spec, name="Ported")(), tmp_path, ckpt_path=path)
    assert (
        "optimizers[0 'optimizer'].groups: the checkpoint's are the declared ones in another order (its groups "
        "1, 0, in turn), and its scheduler states hold their values per group in that order; declare the groups "
        "in the hand-written module's order"
    ) in str(err.value), str(err.value)


class NoDecayFirst(Classifier):
    """AdamW with the parameters that do not decay (the biases) in the first group, as timm's
    ``param_groups_weight_decay`` orders them; the ported ``no_decay=True`` declares the decayed ones first."""

    def configure_optimizers(self) -> Any:
        named = list(self.named_parameters())
        biases, weights = ([p for n, p in named if n.endswith("bias") == bias] for bias in (True, False))
        groups = [{"params": biases, "weight_decay": 0.0}, {"params": weights, "weight_decay": 0.05}]
        return torch.optim.AdamW(groups, lr=LR)


@pytest.mark.parametrize("choice", ["error", "continue"])
def test_hand_written_groups_of_other_options_in_another_order_keep_their_moments(
    choice: str, tmp_path: Path
) -> None:
    """Groups of as many parameters told apart by their options: the port resumes with each group's Adam moments
    (``"continue"``, whose groups all match, too), as the hand-written module resumes its own checkpoint."""
    _, _, path = written(tmp_path, NoDecayFirst)
    spec = OptimizerSpec("adamw", lr=LR, weight_decay=0.05, no_decay=True, implementation="forloop")
    ported = helpers.declared(spec, name="Ported")
    ported.resume_changed_setup = choice
    own, resumed = NoDecayFirst(), ported()
    run(own, tmp_path, ckpt_path=path)
    run(resumed, tmp_path, ckpt_path=path)
    assert [g["weight_decay"] for g in resumed.trainer.optimizers[0].param_groups] == [0.05, 0.0]
    assert_same_weights(own, resumed)


class Groups(L.Callback):
    """Records, when training starts, each group's momentum and how many of its parameters have a state."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        optimizer = trainer.optimizers[0]
        self.seen = [
            (g.get("momentum"), sum(p in optimizer.state for p in g["params"]))
            for g in optimizer.param_groups
        ]


@pytest.mark.parametrize("choice", ["continue", "fresh"])
def test_another_optimizer_setup_resumes_on_request(choice: str, tmp_path: Path) -> None:
    """``"continue"`` keeps the momentum buffers of the groups that match by position and shapes (under the
    options now declared), ``"fresh"`` none."""
    _, _, path = written(tmp_path, HandWrittenGroups)
    kept = Groups()
    run(ported_groups(choice, momentum=0.5)(), tmp_path, ckpt_path=path, callbacks=[kept])
    assert kept.seen == ([(0.5, 2), (0.5, 2)] if choice == "continue" else [(0.5, 0), (0.5, 0)])
    reordered = ported_groups(choice, groups=[ParamGroup("model_gen.layer2"), ParamGroup("model_gen.layer1")])
    run(reordered(), tmp_path, ckpt_path=path, callbacks=[kept])
    assert kept.seen == [(0.9, 0), (0.9, 0)]  # the shapes differ: no group matches
    groups = [ParamGroup("model_gen.layer1", lr=0.05), ParamGroup("model_gen.layer2")]
    adam = helpers.declared(OptimizerSpec("adam", lr=LR, groups=groups), name="Ported")
    adam.resume_changed_setup = choice
    run(adam(), tmp_path, ckpt_path=path, callbacks=[kept])
    assert kept.seen == [(None, 0), (None, 0)]  # SGD's momentum buffers are no state of Adam's


class OptimizerState(L.Callback):
    """Records, when training starts, how many parameters have an optimizer state (momentum buffers)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.kept = len(trainer.optimizers[0].state)


@pytest.mark.parametrize("choice", ["continue", "fresh"])
def test_a_hand_written_checkpoint_of_another_scheduler_resumes_on_request(
    choice: str, tmp_path: Path
) -> None:
    _, _, path = written(tmp_path, hand_written(StepLR, "epoch", step_size=1, gamma=0.5))
    reference = run(ported(CosineAnnealingLR, "epoch", T_max=4)(), tmp_path / "reference")
    state = OptimizerState()
    rest = run(
        ported(CosineAnnealingLR, "epoch", choice, T_max=4)(), tmp_path, ckpt_path=path, callbacks=[state]
    )
    if choice == "continue":
        # the declared cosine evaluated at the resumed epoch, with the checkpoint's momentum buffers
        assert rest.history == reference.history[8:]
        assert state.kept == 4
    else:
        # the declared cosine from its start at the resumed epoch, the optimizer anew
        assert rest.history == reference.history[:8]
        assert state.kept == 0


class HandWrittenAdamW(Classifier):
    """AdamW without a scheduler, written before the mixin."""

    def configure_optimizers(self) -> Any:
        return torch.optim.AdamW(self.parameters(), lr=0.01)


def adamw_ported(choice: str = "error", scheduler: SchedulerSpec | None = None) -> type[Any]:
    """``HandWrittenAdamW`` ported, with ``scheduler`` added."""
    spec = OptimizerSpec(
        torch.optim.AdamW,
        lr=0.01,
        implementation="forloop",
        **({"scheduler": scheduler} if scheduler else {}),
    )
    module = helpers.declared(spec, name="Ported")
    module.resume_changed_setup = choice
    return module


class States(L.Callback):
    """Records, when training starts, the per-parameter state of the optimizer."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        state = trainer.optimizers[0].state_dict()["state"]
        self.state = {i: {key: value.clone() for key, value in s.items()} for i, s in state.items()}


def test_a_scheduler_added_to_a_hand_written_optimizer_continues_its_state(tmp_path: Path) -> None:
    """``"continue"`` keeps the state of each group whose class and shapes match at its position, whatever changed
    in the schedulers: AdamW's moments go on under the cosine added, evaluated at the resumed step (8 of 16), as
    from the ported module's own checkpoint. All of them were dropped, as the structure (0 schedulers, 1 now) was
    taken for another order of the groups."""
    whole, full, path = written(tmp_path, HandWrittenAdamW)
    cosine = SchedulerSpec("cosine", interval="step")
    states, resumed = States(), adamw_ported("continue", cosine)()
    rest = run(resumed, tmp_path, ckpt_path=path, callbacks=[states])
    saved = torch.load(path, weights_only=False)["optimizer_states"][0]["state"]
    assert saved.keys() == states.state.keys() and len(saved) == 4
    for index, kept in states.state.items():
        assert kept.keys() == saved[index].keys()
        assert all(torch.equal(kept[key], saved[index][key]) for key in kept), index
    assert rest.of(0) == torch_lrs(lambda o: CosineAnnealingLR(o, T_max=16), 16, lr=0.01)[8:]
    # the ported module's own checkpoint of the same run, continued alike
    own_whole, own_full, own_path = written(tmp_path / "own", adamw_ported())
    assert own_whole.history == whole.history
    assert_same_weights(full, own_full)
    from_own = adamw_ported("continue", cosine)()
    assert run(from_own, tmp_path / "own", ckpt_path=own_path).history == rest.history
    assert_same_weights(resumed, from_own)


class Logged(Classifier):
    """Logs a constant ``metric``: a ``ReduceLROnPlateau`` watching it halves the lr at every update."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        self.log("metric", 1.0)
        return super().training_step(batch, batch_idx)


@pytest.mark.parametrize(("interval", "save_point"), [("epoch", "epoch_end"), ("step", "mid_epoch")])
def test_a_hand_written_plateau_resumes_as_the_hand_written_module_resumes_it(
    interval: str, save_point: str, tmp_path: Path
) -> None:
    """Its counters continue; the update Lightning took after the checkpoint was written is not taken again,
    as the hand-written module resuming its own checkpoint does not (the metric is not in it)."""

    def configure_optimizers(self: Classifier) -> Any:
        optimizer = SGD(self.parameters(), lr=LR, momentum=0.9)
        plateau = ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
        scheduler = {"scheduler": plateau, "monitor": "metric", "interval": interval}
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    module = type("HandWritten", (Logged,), {"configure_optimizers": configure_optimizers})
    _, _, path = written(tmp_path, module, save_point)
    own = run(module(), tmp_path, ckpt_path=path)
    scheduler = SchedulerSpec(ReduceLROnPlateau, interval=interval, monitor="metric", patience=0, factor=0.5)
    spec = OptimizerSpec(SGD, lr=LR, momentum=0.9, implementation="forloop", scheduler=scheduler)
    rest = run(helpers.declared(spec, base=Logged, name="Ported")(), tmp_path, ckpt_path=path)
    assert rest.history == own.history
    assert len(set(map(str, rest.history))) > 1


def weights_then_biases(cls: type, **options: Any) -> type[Logged]:
    """A hand-written module with its weights and its biases in groups of their own, in this order, at lrs 0.05
    and 0.1, and a ``ReduceLROnPlateau`` (which moves the lrs: they tell nothing of the order)."""

    def configure_optimizers(self: Classifier) -> Any:
        named = list(self.named_parameters())
        weights, biases = ([p for n, p in named if n.endswith(end)] for end in ("weight", "bias"))
        optimizer = cls([{"params": weights, "lr": 0.05}, {"params": biases, "lr": 0.1}], **options)
        plateau = ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": plateau, "monitor": "metric"}}

    return type("HandWritten", (Logged,), {"configure_optimizers": configure_optimizers})


def split_ported(cls: type, first: str, choice: str = "error", **options: Any) -> type[Any]:
    """``weights_then_biases`` ported: the ``first`` parameters (``"weight"``, ``"bias"``) declared in a group,
    the rest after it, each at its lr; as many parameters in each group (2) as the hand-written module's."""
    lrs = {"weight": 0.05, "bias": 0.1}
    (rest,) = set(lrs) - {first}
    plateau = SchedulerSpec(ReduceLROnPlateau, monitor="metric", patience=0, factor=0.5)
    spec = OptimizerSpec(
        cls,
        lr=lrs[rest],
        groups=[ParamGroup(f"*.{first}", lr=lrs[first])],
        scheduler=plateau,
        implementation="forloop",
        **options,
    )
    module = helpers.declared(spec, base=Logged, name="Ported")
    module.resume_changed_setup = choice
    return module


#: optimizers without state (SGD: the lrs tell the order) and with a state that tells each parameter's shape
SPLIT = {"sgd": (SGD, {}), "sgd_momentum": (SGD, {"momentum": 0.9}), "adamw": (torch.optim.AdamW, {})}


@pytest.mark.parametrize("optimizer", sorted(SPLIT))
def test_hand_written_weights_and_biases_declared_the_other_way_round_are_refused(
    optimizer: str, tmp_path: Path
) -> None:
    """SGD resumed silently with each group's lr in the other group (biases at 0.05, weights at 0.1), as did SGD
    with momentum with the weights' momentum buffers at the biases' positions, and AdamW failed its first step in
    torch (``The size of tensor a (8) must match the size of tensor b (16)``). The states of 2-D weights now at
    the positions of 1-D biases tell other shapes, and the lrs, which a plateau scales alike, other ratios."""
    cls, options = SPLIT[optimizer]
    _, _, path = written(tmp_path, weights_then_biases(cls, **options))
    module = split_ported(cls, "bias", **options)()
    with pytest.raises(ValueError, match=r"^Ported: Expected the checkpoint being resumed") as err:
        run(module, tmp_path, ckpt_path=path)
    message = str(err.value)
    assert "groups[1 'rest'].lr (relative to '*.bias'): '2' in the checkpoint, '0.5' now" in message, message
    # nothing the checkpoint holds tells its groups apart (as many parameters, the same options, the lrs moved)
    assert (
        "optimizers[0 'optimizer'].groups: the checkpoint's may be the declared ones in another order, which their "
        "parameter counts, lrs and options do not tell apart; declare them in the hand-written module's order"
        in message
    ), message
    if optimizer != "sgd":
        assert (
            "groups[0 '*.bias'].parameter shapes: '[(16, 8), (4, 16)]' in the checkpoint, '[(16,), (4,)]' now"
            in message
        ), message
        assert "groups[1 'rest'].parameter shapes: '[(16,), (4,)]' in the checkpoint" in message, message
    restored = torch.load(path, weights_only=False)["state_dict"]
    assert all(torch.equal(restored[n], p) for n, p in module.named_parameters())


@pytest.mark.parametrize("optimizer", sorted(SPLIT))
def test_hand_written_groups_of_other_shapes_continue_with_their_state_anew(
    optimizer: str, tmp_path: Path
) -> None:
    """``"continue"`` keeps no group's state (none has the shapes at its position): the run trains as ``"fresh"``
    does, at the declared lrs (biases at 0.1, weights at 0.05)."""
    cls, options = SPLIT[optimizer]
    _, _, path = written(tmp_path, weights_then_biases(cls, **options))
    kept, continued = Groups(), split_ported(cls, "bias", "continue", **options)()
    rest = run(continued, tmp_path, ckpt_path=path, callbacks=[kept])
    assert [count for _, count in kept.seen] == [0, 0]
    fresh = split_ported(cls, "bias", "fresh", **options)()
    assert rest.history == run(fresh, tmp_path, ckpt_path=path).history
    assert rest.history[0] == [[0.1, 0.05]]
    assert_same_weights(continued, fresh)


@pytest.mark.parametrize("optimizer", sorted(SPLIT))
def test_hand_written_groups_a_plateau_reduced_resume_in_their_order(optimizer: str, tmp_path: Path) -> None:
    """The same groups in the same order, from a checkpoint after the plateau halved both lrs (at the end of
    epoch 1): no changed setup, the run goes on as the hand-written module resuming its own checkpoint."""
    cls, options = SPLIT[optimizer]
    hand = weights_then_biases(cls, **options)
    written(tmp_path, hand)
    path = str(tmp_path / "ckpt" / "epoch=2-step=12.ckpt")
    assert [g["lr"] for g in torch.load(path, weights_only=False)["optimizer_states"][0]["param_groups"]] == [
        0.025,
        0.05,
    ]
    own, resumed = hand(), split_ported(cls, "weight", **options)()
    expected = run(own, tmp_path, ckpt_path=path).history
    assert run(resumed, tmp_path, ckpt_path=path).history == expected
    assert_same_weights(own, resumed)


class Unused(Classifier):
    """A parameter that takes no part in the loss: it has no gradient, and no optimizer state in the checkpoint."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(3, 2))


class HandWrittenUnused(Unused):
    def configure_optimizers(self) -> Any:
        return torch.optim.AdamW([{"params": self.model_gen.parameters()}, {"params": [self.unused]}], lr=LR)


def test_a_parameter_without_state_in_a_hand_written_checkpoint_tells_no_shape(tmp_path: Path) -> None:
    """The unused parameter has no state in the checkpoint, so the state tells no shape of it: resumed exactly."""
    whole, full, path = written(tmp_path, HandWrittenUnused)
    groups = [ParamGroup("model_gen"), ParamGroup("unused")]
    spec = OptimizerSpec(torch.optim.AdamW, lr=LR, groups=groups, implementation="forloop")
    resumed = helpers.declared(spec, base=Unused, name="Ported")()
    rest = run(resumed, tmp_path, ckpt_path=path)
    assert rest.history == whole.history[8:]
    assert_same_weights(full, resumed)


def _hand_written_sequential(self: Classifier) -> Any:
    optimizer = SGD(self.parameters(), lr=LR, momentum=0.9)
    phases = [ConstantLR(optimizer, factor=0.5, total_iters=2), ExponentialLR(optimizer, gamma=0.9)]
    scheduler = SequentialLR(optimizer, phases, milestones=[2])
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


def _hand_written_plateau(self: Classifier) -> Any:
    optimizer = SGD(self.parameters(), lr=LR, momentum=0.9)
    plateau = ReduceLROnPlateau(optimizer, patience=0, factor=0.5, min_lr=0.01)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": plateau, "monitor": "metric"}}


def _sequential(milestone: int = 2, gamma: float = 0.9) -> SchedulerSpec:
    phases = [SchedulerSpec(ConstantLR, factor=0.5, total_iters=2), SchedulerSpec(ExponentialLR, gamma=gamma)]
    return SchedulerSpec(SequentialLR, interval="epoch", schedulers=phases, milestones=[milestone])


#: a hand-written scheduler keeping an argument under another name in its state, its ported declaration
#: (the same, or that argument changed), and the line refusing the changed one
UNDER_OTHER_NAMES = {
    "sequential_milestones": (
        _hand_written_sequential,
        _sequential,
        (2, 3),
        "`SequentialLR`'s `milestones`: [2] in the checkpoint, [3] now",
    ),
    # a composite's schedulers keep theirs in its state, each in its own
    "sequential_inner_gamma": (
        _hand_written_sequential,
        lambda gamma: _sequential(gamma=gamma),
        (0.9, 0.5),
        "`SequentialLR`'s `schedulers[1]` (`ExponentialLR`)'s `gamma`: 0.9 in the checkpoint, 0.5 now",
    ),
    "plateau_min_lr": (
        _hand_written_plateau,
        lambda min_lr: SchedulerSpec(
            ReduceLROnPlateau, monitor="metric", patience=0, factor=0.5, min_lr=min_lr
        ),
        (0.01, 0.02),
        "`ReduceLROnPlateau`'s `min_lr`: 0.01 in the checkpoint, 0.02 now",
    ),
}


@pytest.mark.parametrize("case", sorted(UNDER_OTHER_NAMES))
def test_a_hand_written_checkpoint_of_another_argument_kept_under_another_name_is_refused(
    case: str, tmp_path: Path
) -> None:
    """torch restores ``SequentialLR``'s ``_milestones`` (and its schedulers' states) and ``ReduceLROnPlateau``'s
    ``min_lrs`` from the checkpoint: the declaration that is the hand-written one resumes as the hand-written module resumes it,
    another is refused."""
    configure, scheduler, (same, changed), line = UNDER_OTHER_NAMES[case]
    hand = type("HandWritten", (Logged,), {"configure_optimizers": configure})
    _, _, path = written(tmp_path, hand)
    own = run(hand(), tmp_path / "own", ckpt_path=path)  # a plateau does not take its update again
    for value in (same, changed):
        spec = OptimizerSpec(SGD, lr=LR, momentum=0.9, implementation="forloop", scheduler=scheduler(value))
        module = helpers.declared(spec, base=Logged, name="Ported")()
        if value == same:
            assert run(module, tmp_path / "same", ckpt_path=path).history == own.history
            continue
        with pytest.raises(ValueError, match=r"^Ported: Expected the scheduler states") as err:
            run(module, tmp_path, ckpt_path=path)
        assert f"\n  Ported.optimizer.scheduler: {line}\n" in str(err.value), str(err.value)


class NormFirst(Classifier):
    """A ``LayerNorm`` before the net: the first parameter is 1-D (8,), where ``LBFGS`` keeps its flat state."""

    def __init__(self) -> None:
        super().__init__()
        self.model_gen = torch.nn.Sequential(torch.nn.LayerNorm(8), self.model_gen)


#: torch's Adafactor, ``None`` before torch 2.5 (its cases are skipped there: ``needs_adafactor``)
ADAFACTOR = compat.torch_optimizer_class("Adafactor")

#: Adafactor as another library's: no trial step tells which of its state is in the parameter's shape
LibraryAdafactor = None if ADAFACTOR is None else type("LibraryAdafactor", (ADAFACTOR,), {})


class LibraryLBFGS(torch.optim.LBFGS):
    """LBFGS as another library's."""


#: optimizers whose state tells no parameter's shape: Adafactor's factored second moment of a (16, 8) weight is
#: (16, 1) and (1, 8); LBFGS keeps flat vectors of all the parameters on the first, here (8,)
UNSHAPED = {
    "adafactor": (Classifier, ADAFACTOR, {"lr": 0.01}),
    "lbfgs": (NormFirst, torch.optim.LBFGS, {"lr": 0.1, "max_iter": 2}),
    "library_adafactor": (Classifier, LibraryAdafactor, {"lr": 0.01}),
    "library_lbfgs": (NormFirst, LibraryLBFGS, {"lr": 0.1, "max_iter": 2}),
}


@pytest.mark.parametrize("choice", ["error", "continue"])
@pytest.mark.parametrize(
    "optimizer",
    [
        pytest.param(name, marks=helpers.needs_adafactor) if "adafactor" in name else name
        for name in sorted(UNSHAPED)
    ],
)
def test_a_hand_written_state_of_no_parameter_shape_resumes_exactly(
    optimizer: str, choice: str, tmp_path: Path
) -> None:
    """Adafactor's hand-written checkpoint was refused ("parameter shapes: '[(16, 1), (16,), (4, 1), (4,)]' in the
    checkpoint"), as was LBFGS's ('[(228,), (8,), ...]'), and ``"continue"`` started every state afresh: a state
    of as many dimensions as the parameter was taken for its shape, where the trial step finds none in its shape.
    Another library's (no trial step) takes only the shape of a parameter of the optimizer for it."""
    base, cls, options = UNSHAPED[optimizer]

    def configure_optimizers(self: Classifier) -> Any:
        return cls(self.parameters(), **options)

    hand = type("HandWritten", (base,), {"configure_optimizers": configure_optimizers})
    whole, full, path = written(tmp_path, hand)
    module = helpers.declared(OptimizerSpec(cls, **options), base=base, name="Ported")
    module.resume_changed_setup = choice
    kept, resumed = Groups(), module()
    rest = run(resumed, tmp_path, ckpt_path=path, callbacks=[kept])
    assert kept.seen[0][1] > 0  # the state is kept
    assert rest.history == whole.history[8:]
    assert_same_weights(full, resumed)


class HandWrittenPair(TwoNets):
    """Two optimizers in manual optimization, written before the mixin: the module steps its schedulers."""

    interval = "epoch"

    def configure_optimizers(self) -> Any:
        gen = SGD(self.model_gen.parameters(), lr=LR, momentum=0.9)
        dis = SGD(self.model_dis.parameters(), lr=0.2)
        return [gen, dis], [StepLR(gen, step_size=3, gamma=0.5), ExponentialLR(dis, gamma=0.8)]

    def training_step(self, batch: Any, batch_idx: int) -> None:
        super().training_step(batch, batch_idx)
        if self.interval == "step":
            for scheduler in self.lr_schedulers():  # type: ignore[union-attr]
                scheduler.step()

    def on_train_epoch_end(self) -> None:
        if self.interval == "epoch":
            for scheduler in self.lr_schedulers():  # type: ignore[union-attr]
                scheduler.step()


@pytest.mark.parametrize("save_point", sorted(SAVE_POINTS))
@pytest.mark.parametrize("interval", ["epoch", "step"])
def test_a_hand_written_manual_optimization_checkpoint_continues_exactly(
    interval: str, save_point: str, tmp_path: Path
) -> None:
    """Lightning counts both optimizers' steps: the checkpoints are written after 16 steps (8 batches), or 12."""
    hand = type("HandWritten", (HandWrittenPair,), {"interval": interval})
    every, name, done = {
        "epoch_end": ({"every_n_epochs": 1}, "epoch=1-step=16.ckpt", 8),
        "mid_epoch": ({"every_n_train_steps": 12}, "epoch=1-step=12.ckpt", 6),
    }[save_point]
    saver = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, save_last=False, **every)
    full = hand()
    whole = run(full, tmp_path, callbacks=[saver])
    step, exponential = (
        SchedulerSpec(cls, interval=interval, **kwargs)
        for cls, kwargs in ((StepLR, {"step_size": 3, "gamma": 0.5}), (ExponentialLR, {"gamma": 0.8}))
    )
    forloop = {"implementation": "forloop"}
    ported_pair = type(
        "PortedPair",
        (ConfigurableOptimizersMixin, TwoNets),
        {
            "gen_opt": OptimizerSpec(SGD, params="model_gen", lr=LR, momentum=0.9, scheduler=step, **forloop),
            "dis_opt": OptimizerSpec(SGD, params="model_dis", lr=0.2, scheduler=exponential, **forloop),
        },
    )
    resumed = ported_pair()
    rest = run(resumed, tmp_path, ckpt_path=str(tmp_path / "ckpt" / name))
    assert rest.history == whole.history[done:]
    assert len(set(map(str, whole.history))) > 2
    assert_same_weights(full, resumed)


def averaging() -> list[L.Callback]:
    """SWA from epoch 1 (``swa_epoch_start=2``, 1-based), whose ``SWALR`` displaces the scheduler."""
    return [StochasticWeightAveraging(swa_lrs=0.01, swa_epoch_start=2, annealing_epochs=2)]


@pytest.mark.parametrize("choice", ["error", "continue"])
def test_a_hand_written_checkpoint_written_during_swa_resumes_as_the_hand_written_module(
    choice: str, tmp_path: Path
) -> None:
    """``StochasticWeightAveraging`` wrote its ``swa_lrs`` into the groups' ``initial_lr`` and ``SWALR`` its
    ``swa_lr``: neither tells a changed setup (the checkpoint was refused, ``lr: '0.01' in the checkpoint, '0.1'
    now``, and ``"continue"`` trained at the declared lr where ``SWALR`` anneals from the checkpoint's). The port
    keeps the checkpoint's lrs, as it does resuming its own checkpoint during SWA."""
    hand = hand_written(StepLR, "epoch", step_size=1, gamma=0.5)
    saver = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, save_last=False, every_n_epochs=1)
    run(hand(), tmp_path, callbacks=[saver, *averaging()])
    path = str(tmp_path / "ckpt" / "epoch=1-step=8.ckpt")
    assert "swa_lr" in torch.load(path, weights_only=False)["optimizer_states"][0]["param_groups"][0]
    own, resumed = hand(), ported(StepLR, "epoch", choice, step_size=1, gamma=0.5)()
    expected = run(own, tmp_path, ckpt_path=path, callbacks=averaging()).history
    assert run(resumed, tmp_path, ckpt_path=path, callbacks=averaging()).history == expected
    assert len(set(map(str, expected))) > 1, "SWALR must anneal for the test to mean anything"
    assert_same_weights(own, resumed)


class Twins(Classifier):
    """``Classifier`` with two towers of the same shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.twin_a, self.twin_b = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        twins = self.twin_b(self.twin_a(torch.ones(1, 4))).sum()
        return super().training_step(batch, batch_idx) + 1e-3 * twins


class TwinGroups(Twins):
    """``Twins`` with a group for each tower, at lrs 0.05 and 0.02, written before the mixin."""

    def configure_optimizers(self) -> Any:
        twin_a, twin_b = self.twin_a.parameters(), self.twin_b.parameters()
        groups = [
            {"params": self.model_gen.parameters()},
            {"params": twin_a, "lr": 0.05},
            {"params": twin_b, "lr": 0.02},
        ]
        return SGD(groups, lr=LR, momentum=0.9)


def test_hand_written_twin_groups_whose_lrs_were_swapped_are_refused(tmp_path: Path) -> None:
    """Groups alike in their parameters' shapes, told apart only by their lrs, are no reorder: lrs swapped between
    the towers are a changed setup, refused as by position (a reorder by lr would give each tower the other's
    momentum buffers)."""
    _, _, path = written(tmp_path, TwinGroups)
    groups = [ParamGroup("twin_a", lr=0.02), ParamGroup("twin_b", lr=0.05)]
    spec = OptimizerSpec(SGD, lr=LR, momentum=0.9, groups=groups, implementation="forloop")
    swapped = helpers.declared(spec, base=Twins, name="Ported")()
    with pytest.raises(
        ValueError, match=r"^Ported: Expected the checkpoint being resumed to come from"
    ) as err:
        run(swapped, tmp_path, ckpt_path=path)
    assert "groups alike in their parameters' shapes would change places" in str(err.value)


def test_hand_written_twin_groups_in_another_order_keeping_theirs_resume_in_the_declared_order(
    tmp_path: Path,
) -> None:
    """The twins come before the rest in the port, after it in the checkpoint, but in their own order in both:
    each told apart by its lr, no twin takes the other's place, so the groups are taken in the declared order."""
    _, _, path = written(tmp_path, TwinGroups)
    groups = [ParamGroup("twin_a", lr=0.05), ParamGroup("twin_b", lr=0.02)]
    spec = OptimizerSpec(SGD, lr=LR, momentum=0.9, groups=groups, implementation="forloop")
    reordered, own = helpers.declared(spec, base=Twins, name="Ported")(), TwinGroups()
    expected = run(own, tmp_path, ckpt_path=path).history
    assert [
        [[*lrs[2:], *lrs[:2]] for lrs in step] for step in run(reordered, tmp_path, ckpt_path=path).history
    ] == expected
    assert_same_weights(own, reordered)
