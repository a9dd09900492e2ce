"""Safe resume: a resumed run continues the exact lr trajectory and weights; a changed setup is refused.

Every run here is 4 epochs of 4 batches. The uninterrupted run saves a checkpoint at the end of every
epoch; resuming from the one written after epoch 1 (8 optimizer steps) must reproduce the last 8 batches'
learning rates and the final weights exactly.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import (
    BaseFinetuning,
    BatchSizeFinder,
    GradientAccumulationScheduler,
    LearningRateFinder,
    ModelCheckpoint,
    OnExceptionCheckpoint,
)

from lightning_optim import ConfigurableOptimizersMixin, HParam, OptimizerSpec, ParamGroup, SchedulerSpec
from tests import helpers
from tests.helpers import (
    FAST,
    POWER_TRIALS,
    Classifier,
    LrRecorder,
    TwoNets,
    assert_same_weights,
    fit_resumed,
    loader,
    needs_lr_finder_fix,
)


class Logged(Classifier):
    """Logs a constant ``metric``: a ``ReduceLROnPlateau`` watching it reduces after every patience."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        self.log("metric", 1.0)
        return super().training_step(batch, batch_idx)


def declared(scheduler: SchedulerSpec, **optimizer_kwargs: Any) -> type[Logged]:
    spec = OptimizerSpec("sgd", lr=0.1, momentum=0.9, scheduler=scheduler, **optimizer_kwargs)
    return helpers.declared(spec, base=Logged)


def decay(epoch: int) -> float:
    return 0.9**epoch


#: One declaration per registered scheduler name (and two with a warmup, one in epochs); lengths left out
#: are derived from the run.
SCHEDULERS: dict[str, dict[str, Any]] = {
    "step": {"scheduler": "step", "step_size": 2, "gamma": 0.5},
    "multistep": {"scheduler": "multistep", "milestones": [1, 3], "gamma": 0.5},
    "exponential": {"scheduler": "exponential", "gamma": 0.8},
    "lambda": {"scheduler": "lambda", "lr_lambda": decay},
    "cosine": {"scheduler": "cosine"},
    "onecycle": {"scheduler": "onecycle", "max_lr": 0.5},
    "linear": {"scheduler": "linear", "start_factor": 0.25},
    "polynomial": {"scheduler": "polynomial", "power": 2.0},
    "plateau": {"scheduler": "plateau", "monitor": "metric", "patience": 0, "factor": 0.5},
    "cyclic": {"scheduler": "cyclic", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3},
    "constant": {"scheduler": "constant", "factor": 0.5, "total_iters": 2},
    "cosine_restarts": {"scheduler": "cosine_restarts", "T_0": 3},
    "multiplicative": {"scheduler": "multiplicative", "lr_lambda": decay},
    "cosine_warmup": {"scheduler": "cosine", "warmup": 2},
    "plateau_warmup": {
        "scheduler": "plateau",
        "monitor": "metric",
        "patience": 0,
        "factor": 0.5,
        "warmup": 1,
    },
    # per step: the function of fractional epochs (a partial in LambdaLR's state); per epoch: unchanged
    "lambda_in_epochs": {"scheduler": "lambda", "lr_lambda": decay, "unit": "epoch"},
    # this package's own LRSchedulers: transformers' and timm's schedules (lengths derived from the run)
    "transformers/cosine": {"scheduler": "transformers/cosine", "num_warmup_steps": 2},
    "transformers/warmup_stable_decay": {
        "scheduler": "transformers/warmup_stable_decay",
        "num_warmup_steps": 1,
        "num_decay_steps": 2,
    },
    "timm/cosine": {"scheduler": "timm/cosine", "warmup_t": 1, "warmup_lr_init": 0.001, "lr_min": 0.01},
}


def spec(name: str, interval: str) -> SchedulerSpec:
    kwargs = dict(SCHEDULERS[name])
    if name == "timm/cosine":
        kwargs["t_in_epochs"] = interval == "epoch"
    return SchedulerSpec(kwargs.pop("scheduler"), interval=interval, **kwargs)  # type: ignore[arg-type]


def checkpoints(tmp_path: Path, **kwargs: Any) -> ModelCheckpoint:
    return ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, save_last=False, **kwargs)


def run(module: L.LightningModule, tmp_path: Path, ckpt_path: str | None = None, **kwargs: Any) -> Any:
    options = {"max_epochs": 4, "enable_checkpointing": True, "default_root_dir": tmp_path, **kwargs}
    return fit_resumed(module, ckpt_path, **options)


@pytest.mark.filterwarnings(helpers.LIGHTNING_ONECYCLE_PER_EPOCH)
@pytest.mark.parametrize("interval", ["step", "epoch"])
@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_resume_continues_exactly(name: str, interval: str, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # onecycle/cyclic per epoch: warned at definition
        cls = declared(spec(name, interval))
    full = cls()
    whole = run(full, tmp_path, callbacks=[checkpoints(tmp_path / "ckpt", every_n_epochs=1)])
    resumed = cls()
    rest = run(resumed, tmp_path, ckpt_path=str(tmp_path / "ckpt" / "epoch=1-step=8.ckpt"))
    assert len(whole.history) == 16
    assert rest.history == whole.history[8:]
    assert len(set(map(str, whole.history))) > 1, "the schedule must move for the test to mean anything"
    assert_same_weights(full, resumed)


class Gan(ConfigurableOptimizersMixin, TwoNets):
    """Two optimizers in manual optimization: the mixin steps both schedulers itself."""

    gen_opt = OptimizerSpec(
        "sgd",
        params="model_gen",
        lr=0.1,
        scheduler=SchedulerSpec("exponential", gamma=0.9, interval="step", warmup=3),
    )
    dis_opt = OptimizerSpec(
        "sgd", params="model_dis", lr=0.2, scheduler=SchedulerSpec("cosine", warmup=1, frequency=1)
    )


class Resumable:
    """The batches of ``tests.helpers.loader()`` with a ``state_dict``, so Lightning can resume mid-epoch.

    A plain DataLoader restarts from its first batch after a mid-epoch resume (Lightning warns about it);
    with this one, the resumed run sees the same batches as the uninterrupted one.
    """

    def __init__(self) -> None:
        self.loader = loader()
        self.consumed = 0
        self.skip = 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        skip, self.skip = self.skip, 0
        self.consumed = skip
        for index, batch in enumerate(self.loader):
            if index >= skip:
                self.consumed = index + 1
                yield batch

    def state_dict(self) -> dict[str, int]:
        return {"consumed": self.consumed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.skip = state["consumed"]


@pytest.mark.parametrize(
    ("save", "checkpoint", "done"),
    [
        # Lightning counts each optimizer's step in manual optimization: 2 global steps per batch
        ({"every_n_train_steps": 10}, "epoch=1-step=10.ckpt", 5),  # mid-epoch: after batch 0 of epoch 1
        ({"every_n_epochs": 1}, "epoch=1-step=16.ckpt", 8),  # at the end of epoch 1
    ],
    ids=["mid_epoch", "epoch_end"],
)
def test_resume_manual_optimization(save: dict[str, int], checkpoint: str, done: int, tmp_path: Path) -> None:
    full = Gan()
    whole = run(full, tmp_path, data=Resumable(), callbacks=[checkpoints(tmp_path / "ckpt", **save)])
    resumed = Gan()
    rest = run(resumed, tmp_path, data=Resumable(), ckpt_path=str(tmp_path / "ckpt" / checkpoint))
    assert rest.history == whole.history[done:]
    assert len(set(map(str, whole.history))) > 8
    assert_same_weights(full, resumed)


BASE = {
    "lr": 0.1,
    "groups": [ParamGroup("model_gen.layer1", lr=0.5)],
    "scheduler": SchedulerSpec("cosine", warmup=1),
}


def grouped(**changes: Any) -> type[Logged]:
    options = {**BASE, **changes}
    return helpers.declared(OptimizerSpec("sgd", **options), base=Logged, name="Grouped")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of ``grouped()`` after epoch 0 of a 3-epoch run."""
    root = tmp_path_factory.mktemp("saved")
    run(grouped()(), root, max_epochs=3, callbacks=[checkpoints(root, every_n_epochs=1)])
    return root / "epoch=0-step=4.ckpt"


@pytest.mark.parametrize(
    ("changes", "trainer_kwargs", "changed"),
    [
        (
            {"lr": 0.2},
            {},
            r"optimizers\[0 'optimizer'\]\.options: 'lr=0\.1' in the checkpoint, 'lr=0\.2' now",
        ),
        (
            {"groups": [ParamGroup("model_gen.layer2", lr=0.5)]},
            {},
            r"groups\[0\]\.name: 'model_gen.layer1' in the checkpoint, 'model_gen.layer2' now",
        ),
        ({"groups": []}, {}, r"groups \(count\): 2 in the checkpoint, 1 now"),
        # the same lr (0.1 * 5.0), declared as a multiple: the scale is part of the setup
        (
            {"groups": [ParamGroup("model_gen.layer1", lr_mult=5.0)]},
            {},
            r"groups\[0\]\.scales: absent in the checkpoint, 'lr=5\.0' now",
        ),
        (
            {"scheduler": SchedulerSpec("linear", warmup=1)},
            {},
            r"scheduler\.class: 'torch\.optim\.lr_scheduler\.Cos",
        ),
        (
            {"scheduler": SchedulerSpec("cosine", warmup=2)},
            {},
            r"scheduler\.warmup: 1 in the checkpoint, 2 now",
        ),
        (
            {"scheduler": SchedulerSpec("cosine", interval="step", warmup=1)},
            {},
            r"scheduler\.interval: 'epoch'",
        ),
        ({"scheduler": None}, {}, r"scheduler: 'declared' in the checkpoint, None now\n"),
        # the derived T_max changes with the run's length; torch would restore the old one silently
        ({}, {"max_epochs": 4}, r"scheduler\.T_max \(derived\): 2 in the checkpoint, 3 now"),
    ],
    ids=[
        "lr",
        "group_selection",
        "group_count",
        "lr_mult",
        "scheduler_class",
        "warmup",
        "interval",
        "no_scheduler",
        "length",
    ],
)
def test_resume_refuses_a_changed_setup(
    saved: Path, tmp_path: Path, changes: dict[str, Any], trainer_kwargs: dict[str, Any], changed: str
) -> None:
    module = grouped(**changes)()
    with pytest.raises(
        ValueError, match=r"Grouped: Expected the checkpoint being resumed to come from the same"
    ) as err:
        run(module, tmp_path, ckpt_path=str(saved), **{"max_epochs": 3, **trainer_kwargs})
    assert re.search(changed, str(err.value)), str(err.value)
    assert "resume_changed_setup = 'fresh'" in str(err.value)
    # nothing was trained after the restore of the weights: the error comes before any step
    restored = torch.load(saved, weights_only=False)["state_dict"]
    assert all(torch.equal(restored[n], p) for n, p in module.named_parameters())


def test_resume_fresh_starts_the_schedules_anew(saved: Path, tmp_path: Path) -> None:
    cls = type("Fresh", (grouped(lr=0.2),), {"resume_changed_setup": "fresh"})
    rest = run(cls(), tmp_path, ckpt_path=str(saved), max_epochs=3)
    # epochs 1 and 2 (epoch 0 was restored): a fresh warmup of 1 epoch at 1/2 of each group's lr, then the
    # fresh cosine's first epoch at the full lr (the groups: layer1 at 0.5, the rest at the new 0.2)
    assert rest.history == [[[0.25, 0.1]]] * 4 + [[[0.5, 0.2]]] * 4


def test_resume_same_setup_without_fingerprint_checks_the_structure(saved: Path, tmp_path: Path) -> None:
    checkpoint = torch.load(saved, weights_only=False)
    del checkpoint["lightning_optim"]
    path = tmp_path / "foreign.ckpt"
    torch.save(checkpoint, path)
    rest = run(grouped()(), tmp_path, ckpt_path=str(path), max_epochs=3)
    # warmup over: epoch 1 trains at the declared lrs, epoch 2 at the cosine's end (T_max = 3 - 1 = 2): 1/2
    assert rest.history == [[[0.5, 0.1]]] * 4 + [[[0.25, 0.05]]] * 4
    with pytest.raises(
        ValueError, match=r"parameters per group: \[\[2, 2\]\] in the checkpoint, \[\[4\]\] now"
    ):
        run(grouped(groups=[])(), tmp_path, ckpt_path=str(path), max_epochs=3)


def reused_trainer(tmp_path: Path) -> L.Trainer:
    """A ``Trainer`` that already ran ``fit`` on another setup (Adam), so it holds that fit's callbacks."""
    trainer = L.Trainer(**{**FAST, "max_epochs": 1, "default_root_dir": tmp_path})
    other = helpers.declared(OptimizerSpec("adam", lr=1e-3), base=Logged, name="Other")
    trainer.fit(other(), loader())
    trainer.fit_loop.max_epochs = 3
    return trainer


def test_resume_on_a_reused_trainer_checks_against_the_new_setup(saved: Path, tmp_path: Path) -> None:
    """The first fit's guard must neither vouch for the new setup nor judge it by its old one."""
    with pytest.raises(
        ValueError, match=r"(?s)^Grouped: Expected the checkpoint.*'lr=0\.1' in the checkpoint, 'lr=0\.2' now"
    ):
        reused_trainer(tmp_path).fit(grouped(lr=0.2)(), loader(), ckpt_path=str(saved))

    recorder = LrRecorder()
    trainer = reused_trainer(tmp_path)
    trainer.callbacks.append(recorder)
    trainer.fit(grouped()(), loader(), ckpt_path=str(saved))
    # as the same resume on a fresh Trainer (test_resume_same_setup_without_fingerprint_checks_the_structure)
    assert recorder.history == [[[0.5, 0.1]]] * 4 + [[[0.25, 0.05]]] * 4


def test_resume_changed_setup_must_be_a_known_choice() -> None:
    with pytest.raises(
        ValueError,
        match=r"Bad\.resume_changed_setup: Expected one of 'error', 'fresh', 'continue' but got 'keep'",
    ):
        type("Bad", (ConfigurableOptimizersMixin, Logged), {"resume_changed_setup": "keep"})
    with pytest.raises(ValueError, match=r"but got 'fres' \(did you mean `fresh`\?\)\.$"):
        type("Bad", (ConfigurableOptimizersMixin, Logged), {"resume_changed_setup": "fres"})


@pytest.mark.parametrize("name", ["resume_changed_setpu", "resume_change_setup", "resumed_changed_setup"])
def test_a_misspelt_resume_changed_setup_attribute_is_refused(name: str) -> None:
    # was ignored: the default "error" applied, and the resume the user opted into was refused
    message = (
        f"Bad.{name}: Expected the attribute `resume_changed_setup` but got `{name}` = 'fresh' (did you mean "
        "`resume_changed_setup`?); the mixin reads only `resume_changed_setup`, so this one would be ignored."
    )
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        type("Bad", (ConfigurableOptimizersMixin, Logged), {name: "fresh"})
    type("Fine", (ConfigurableOptimizersMixin, Logged), {"resume_from": "fresh"})  # not a near miss


class LoggedPair(ConfigurableOptimizersMixin, TwoNets):
    """Two optimizers (manual optimization) logging the constant ``metric`` a plateau scheduler watches."""

    def training_step(self, batch: Any, batch_idx: int) -> None:
        self.log("metric", 1.0)
        super().training_step(batch, batch_idx)


def declared_pair(scheduler: SchedulerSpec) -> type[LoggedPair]:
    return type(
        "DeclaredPair",
        (LoggedPair,),
        {
            "gen_opt": OptimizerSpec("sgd", params="model_gen", lr=0.1, momentum=0.9, scheduler=scheduler),
            "dis_opt": OptimizerSpec("sgd", params="model_dis", lr=0.2, scheduler=scheduler),
        },
    )


#: (how ModelCheckpoint saves, the file to resume from, batches done before it) for one and two optimizers.
#: Manual optimization counts each optimizer's step in Lightning's global step: 2 per batch.
SAVE_POINTS = {
    (1, "epoch_end"): ({"every_n_epochs": 1}, "epoch=1-step=8.ckpt", 8),
    (1, "mid_epoch"): ({"every_n_train_steps": 5}, "epoch=1-step=5.ckpt", 5),
    (2, "epoch_end"): ({"every_n_epochs": 1}, "epoch=1-step=16.ckpt", 8),
    (2, "mid_epoch"): ({"every_n_train_steps": 10}, "epoch=1-step=10.ckpt", 5),
}


@pytest.mark.parametrize(
    ("optimizers", "save_point"),
    [(1, "mid_epoch"), (2, "epoch_end"), (2, "mid_epoch")],  # (1, "epoch_end"): test_resume_continues_exactly
)
@pytest.mark.filterwarnings(helpers.LIGHTNING_ONECYCLE_PER_EPOCH)
@pytest.mark.parametrize("interval", ["step", "epoch"])
@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_resume_matrix(name: str, interval: str, optimizers: int, save_point: str, tmp_path: Path) -> None:
    """Every scheduler x interval x one or two optimizers x a checkpoint at an epoch end or mid-epoch.

    Mid-epoch resumes use a loader with a ``state_dict`` (``Resumable``), so the resumed run sees the same
    batches, and the weights are compared too. Two fixes make every case pass: the train-data setup that
    derived lengths trigger inside ``configure_optimizers`` is undone on resume (else Lightning never loads
    the loader's state), and the per-step ``ReduceLROnPlateau`` update Lightning takes after a mid-epoch
    checkpoint is written is replayed from the saved metric.
    """
    save, checkpoint, done = SAVE_POINTS[(optimizers, save_point)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # onecycle/cyclic per epoch: warned at definition
        cls = declared(spec(name, interval)) if optimizers == 1 else declared_pair(spec(name, interval))
    full = cls()
    whole = run(full, tmp_path, data=Resumable(), callbacks=[checkpoints(tmp_path / "ckpt", **save)])
    resumed = cls()
    rest = run(resumed, tmp_path, data=Resumable(), ckpt_path=str(tmp_path / "ckpt" / checkpoint))
    assert len(whole.history) == 16
    assert rest.history == whole.history[done:]
    assert len(set(map(str, whole.history))) > 1, "the schedule must move for the test to mean anything"
    assert_same_weights(full, resumed)


class Interrupted(Exception):
    """A transient failure in the middle of training."""


def crashing(choice: str) -> type[Logged]:
    """A derived per-step cosine whose training step fails at global step 5 (batch 1 of epoch 1) when told to."""

    class Crashing(declared(spec("cosine", "step"))):  # type: ignore[misc,valid-type]
        resume_changed_setup = choice
        crash = False

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            if self.crash and self.trainer.global_step == 5:
                raise Interrupted
            return super().training_step(batch, batch_idx)

    return Crashing


@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
@pytest.mark.parametrize("choice", ["error", "fresh", "continue"])
def test_resume_from_an_exception_checkpoint_continues_exactly(choice: str, tmp_path: Path) -> None:
    """``OnExceptionCheckpoint`` saves the batch progress of the failed batch as ready but not processed, and
    Lightning replays that batch. Counting it as done derived a cosine one step shorter: "error" refused the
    unchanged setup as changed, "fresh" and "continue" stopped at the next epoch's start ("the run changed")."""
    whole = run(crashing(choice)(), tmp_path, max_epochs=3)
    failing = crashing(choice)()
    failing.crash = True
    with pytest.raises(Interrupted):
        run(failing, tmp_path, max_epochs=3, callbacks=[OnExceptionCheckpoint(tmp_path, "failed")])
    module = crashing(choice)()
    rest = run(module, tmp_path, ckpt_path=str(tmp_path / "failed.ckpt"), max_epochs=3)
    assert rest.history == whole.history[5:]
    assert module.trainer.lr_scheduler_configs[0].scheduler.shape.length == 12


class StopAt(L.Callback):
    """Stops the fit after global step ``step``, as Lightning's ``Timer`` (``max_time``) or an ``EarlyStopping``
    checked on a step does: ``trainer.should_stop`` mid-epoch."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step:
            trainer.should_stop = True


class HandCosine(Logged):
    """The hand-written module: SGD with a per-step cosine over the 12 steps of 3 epochs."""

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=12)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": cosine, "interval": "step"}}


def stopped_and_resumed(
    module: Callable[[], L.LightningModule], stop: int, tmp_path: Path, **resumed: Any
) -> list[float]:
    """The lrs of the fit resumed from the checkpoint of a fit of 3 epochs stopped at step ``stop``; Lightning
    counts the stopped epoch as done, so the resumed fit trains the epochs after it."""
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    run(module(), tmp_path, max_epochs=3, callbacks=[StopAt(stop), saving])
    return run(module(), tmp_path, ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"), max_epochs=3).of(0)


@pytest.mark.parametrize(("stop", "left"), [(2, 8), (6, 4)], ids=["epoch 0", "epoch 1"])
@pytest.mark.parametrize("choice", ["error", "fresh", "continue"])
def test_a_run_stopped_mid_epoch_resumes_unchanged_as_the_hand_written_module(
    choice: str, stop: int, left: int, tmp_path: Path
) -> None:
    """The stopped run's remaining steps are fewer than its plan (the cosine was derived for 12 steps; stopped
    at step 6, 10 are trained), but nothing changed: the schedule keeps the shape it was saved with, as the
    hand-written module's scheduler keeps its ``T_max``. It was refused as a changed setup (`T_max (derived): 12
    in the checkpoint, 10 now`) with advice to change the declarations; "fresh" and "continue" rebuilt the
    cosine for the shorter run. Stopped in epoch 0, the resumed fit crosses an epoch start, whose check of the
    run must not take the kept shape for a change."""
    cls = type("Stopped", (declared(spec("cosine", "step")),), {"resume_changed_setup": choice})
    rest = stopped_and_resumed(cls, stop, tmp_path / "mixin")
    hand = stopped_and_resumed(HandCosine, stop, tmp_path / "hand")
    assert len(hand) == left
    assert rest == pytest.approx(hand, rel=1e-12)


def test_a_run_stopped_mid_epoch_and_resumed_longer_is_still_a_changed_setup(tmp_path: Path) -> None:
    cls = declared(spec("cosine", "step"))
    run(
        cls(),
        tmp_path,
        max_epochs=3,
        callbacks=[StopAt(6), ModelCheckpoint(dirpath=tmp_path, save_last=True)],
    )
    with pytest.raises(ValueError, match=re.escape("T_max (derived): 12 in the checkpoint, 14 now")):
        run(cls(), tmp_path, ckpt_path=str(tmp_path / "last.ckpt"), max_epochs=4)


class Stream(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """Batches without a length: Lightning counts ``inf`` batches per epoch."""

    def __iter__(self) -> Iterator[Any]:
        generator = torch.Generator().manual_seed(0)
        while True:
            yield torch.randn(8, 8, generator=generator), torch.randint(0, 4, (8,), generator=generator)


@pytest.mark.filterwarnings("ignore:.*does not have many workers")
@pytest.mark.parametrize(
    ("frequency", "accumulate", "save_every"),
    [
        (2, 1, 4),  # the checkpoint's batch (3) updated the plateau: the resumed run takes that update
        (2, 1, 5),  # it did not (batch 4): nothing to take
        (1, 2, 3),  # batch 5 ended an accumulation window and updated
    ],
)
def test_resume_mid_epoch_of_unknown_length_takes_the_missing_per_step_plateau_update(
    frequency: int, accumulate: int, save_every: int, tmp_path: Path
) -> None:
    # Was an OverflowError (`int(inf)`) at the resumed run's first batch.
    cls = declared(
        SchedulerSpec(
            "plateau", monitor="metric", patience=0, factor=0.5, interval="step", frequency=frequency
        )
    )
    data = torch.utils.data.DataLoader(Stream(), batch_size=None)
    options = {"max_steps": 12, "accumulate_grad_batches": accumulate}
    whole = run(
        cls(),
        tmp_path,
        data=data,
        callbacks=[checkpoints(tmp_path / "ckpt", every_n_train_steps=save_every)],
        **options,
    )
    (checkpoint,) = (tmp_path / "ckpt").glob(f"*step={save_every}.ckpt")
    rest = run(cls(), tmp_path, data=data, ckpt_path=str(checkpoint), **options)
    done = save_every * accumulate
    assert rest.history == whole.history[done:]
    assert len(set(map(str, whole.history[done:]))) > 1, "the schedule must move after the checkpoint"


def sequences_as(kind: type) -> type[Logged]:
    """Adam with ``betas`` and a ``multistep`` scheduler with ``milestones`` as ``kind``: a list is what a config
    (``DeclarativeCLI``, ``with_declarations`` of a dict) gives, a tuple what code usually declares."""
    spec = OptimizerSpec(
        "adamw",
        lr=0.05,
        betas=kind([0.9, 0.95]),
        scheduler=SchedulerSpec("multistep", milestones=kind([1, 3]), gamma=0.5),
    )
    return helpers.declared(spec, base=Logged)


@pytest.mark.parametrize(
    ("saved_as", "resumed_as"), [(list, tuple), (tuple, list)], ids=["list-tuple", "tuple-list"]
)
def test_resume_takes_a_list_and_a_tuple_of_the_same_values_as_the_same_setup(
    saved_as: type, resumed_as: type, tmp_path: Path
) -> None:
    full = sequences_as(saved_as)()
    whole = run(full, tmp_path, callbacks=[checkpoints(tmp_path / "ckpt", every_n_epochs=1)])
    resumed = sequences_as(resumed_as)()
    rest = run(resumed, tmp_path, ckpt_path=str(tmp_path / "ckpt" / "epoch=1-step=8.ckpt"))
    assert rest.history == whole.history[8:]
    assert len(set(map(str, whole.history))) > 1
    assert_same_weights(full, resumed)


# -- a group the module added itself, resumed --------------------------------------------------------------


class AddsItsGroup(ConfigurableOptimizersMixin, Classifier):
    """``model_gen.layer1`` frozen until epoch 1 starts, where the module adds it to its optimizer itself (the
    ``UnfrozenGuard``'s advice; with ``plain``, unfrozen by hand and given to ``add_param_group``); with
    ``readds`` it puts the group back when a resumed run starts."""

    optimizer = OptimizerSpec(
        "sgd",
        lr=0.1,
        momentum=0.9,
        implementation="forloop",
        scheduler=SchedulerSpec("exponential", gamma=0.9, interval="step"),
    )
    readds = False
    plain = False

    def __init__(self) -> None:
        super().__init__()
        self.model_gen.layer1.requires_grad_(False)
        self.resumed_epoch = -1

    def add_layer1(self) -> None:
        optimizer = self.optimizers().optimizer
        if self.plain:
            self.model_gen.layer1.requires_grad_(True)
            optimizer.add_param_group({"params": list(self.model_gen.layer1.parameters()), "lr": 0.05})
        else:
            BaseFinetuning.unfreeze_and_add_param_group(self.model_gen.layer1, optimizer, lr=0.05)

    def on_train_epoch_start(self) -> None:
        if self.current_epoch == 1:
            self.add_layer1()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.resumed_epoch = checkpoint["epoch"]

    def on_fit_start(self) -> None:  # before Lightning loads the optimizer state
        if self.readds and self.resumed_epoch >= 1:
            self.add_layer1()


ADDED_NOT_BACK = (
    "AddsItsGroup.optimizer: Expected the param group added to the optimizer during training that the "
    "checkpoint holds (group 1: 2 parameter tensors) to be back in it before Lightning loads its state, but "
    "nothing put it back: the optimizer has 1 param group, the checkpoint 2. A group added in the module's "
    "own hook (`optimizer.add_param_group`, `BaseFinetuning.unfreeze_and_add_param_group`) is no "
    "declaration: a resumed run does not add it again, and `resume_changed_setup` 'fresh' or 'continue' "
    "rewrites the optimizer state from the declarations. Add it again in the module's `on_fit_start`, which "
    "runs before the state loads (`on_load_checkpoint` runs earlier and can tell from the checkpoint whether "
    "it holds the group, e.g. by its `epoch`), or declare its parameters in a `ParamGroup` (a changed setup, "
    "which 'fresh' and 'continue' resume), or unfreeze with Lightning's `BackboneFinetuning` callback, which "
    "puts back the groups it added."
)


def test_a_group_the_module_added_itself_and_did_not_put_back_is_refused_before_the_state_loads(
    tmp_path: Path,
) -> None:
    """Was: torch's "loaded state dict has a different number of parameter groups" from Lightning's
    `restore_optimizers`, naming neither the group nor the fix."""
    run(AddsItsGroup(), tmp_path, max_epochs=2, callbacks=[checkpoints(tmp_path / "ckpt", every_n_epochs=1)])
    with pytest.raises(ValueError) as raised:
        run(AddsItsGroup(), tmp_path, ckpt_path=str(tmp_path / "ckpt" / "epoch=1-step=8.ckpt"))
    assert str(raised.value) == ADDED_NOT_BACK


def test_a_group_the_module_puts_back_in_on_fit_start_resumes_as_the_run_went_on(tmp_path: Path) -> None:
    full = type("AddsItsGroup", (AddsItsGroup,), {"readds": True})()
    whole = run(full, tmp_path, callbacks=[checkpoints(tmp_path / "ckpt", every_n_epochs=1)])
    resumed = type("AddsItsGroup", (AddsItsGroup,), {"readds": True})()
    rest = run(resumed, tmp_path, ckpt_path=str(tmp_path / "ckpt" / "epoch=1-step=8.ckpt"))
    assert rest.history == whole.history[8:]
    assert [len(step[0]) for step in whole.history] == [1] * 4 + [2] * 12
    assert_same_weights(full, resumed)


def changed_adds_its_group(choice: str, **attributes: Any) -> type[AddsItsGroup]:
    """``AddsItsGroup`` with another declared lr (a changed setup) resumed under ``choice``."""
    optimizer = OptimizerSpec(
        "sgd",
        lr=0.2,
        momentum=0.9,
        implementation="forloop",
        scheduler=SchedulerSpec("exponential", gamma=0.9, interval="step"),
    )
    return type(
        "AddsItsGroup",
        (AddsItsGroup,),
        {"optimizer": optimizer, "resume_changed_setup": choice, **attributes},
    )


@pytest.mark.parametrize("adds", ["add_param_group", "unfreeze_and_add_param_group"])
@pytest.mark.parametrize("choice", ["fresh", "continue"])
def test_a_changed_setup_resumed_without_the_group_the_module_added_itself_is_refused(
    choice: str, adds: str, tmp_path: Path
) -> None:
    """Was silent: "fresh" and "continue" rewrite the optimizer state from the declarations, which hold no such
    group, so the resumed run trained without it (``layer1`` kept its checkpoint values) and nothing said so."""
    plain = adds == "add_param_group"
    writer = type("AddsItsGroup", (AddsItsGroup,), {"plain": plain})()
    run(writer, tmp_path, max_epochs=2, callbacks=[checkpoints(tmp_path / "ckpt", every_n_epochs=1)])
    with pytest.raises(ValueError) as raised:
        run(
            changed_adds_its_group(choice, plain=plain)(),
            tmp_path,
            ckpt_path=str(tmp_path / "ckpt" / "epoch=1-step=8.ckpt"),
        )
    assert str(raised.value) == ADDED_NOT_BACK


@pytest.mark.parametrize("choice", ["fresh", "continue"])
def test_a_changed_setup_resumes_with_the_group_the_module_puts_back_in_on_fit_start(
    choice: str, tmp_path: Path
) -> None:
    """The way out the refusal names: put back in ``on_fit_start``, the group resumes as ``BaseFinetuning``'s do.
    Its lr joined at 0.05 at step 4 (epoch 1) and decays with the declared ``ExponentialLR``: "continue" goes
    on from the checkpoint's (``0.05 * 0.9**(s - 4)``) beside the new declared lr at its step (``0.2 * 0.9**s``);
    "fresh" starts both again at the resumed step 8, the added group as it was added."""
    writer = type("AddsItsGroup", (AddsItsGroup,), {"readds": True})()
    run(writer, tmp_path, max_epochs=2, callbacks=[checkpoints(tmp_path / "ckpt", every_n_epochs=1)])
    path = tmp_path / "ckpt" / "epoch=1-step=8.ckpt"
    module = changed_adds_its_group(choice, readds=True)()
    rest = run(module, tmp_path, ckpt_path=str(path))
    if choice == "continue":
        expected = [[[0.2 * 0.9**s, 0.05 * 0.9 ** (s - 4)]] for s in range(8, 16)]
    else:
        expected = [[[0.2 * 0.9 ** (s - 8), 0.05 * 0.9 ** (s - 8)]] for s in range(8, 16)]
    assert [lr for step in rest.history for lr in step[0]] == pytest.approx(
        [lr for step in expected for lr in step[0]], rel=1e-12
    )
    saved = torch.load(path, weights_only=False)["state_dict"]
    assert all(
        not torch.equal(p, saved[f"model_gen.layer1.{k}"])
        for k, p in module.model_gen.layer1.named_parameters()
    )


class DeclaresLayer1(AddsItsGroup):
    """``AddsItsGroup`` with ``model_gen.layer1`` trainable from the start, in a declared ``ParamGroup``."""

    optimizer = OptimizerSpec(
        "sgd",
        lr=0.1,
        momentum=0.9,
        implementation="forloop",
        groups=[ParamGroup("model_gen.layer1", lr=0.05)],
        scheduler=SchedulerSpec("exponential", gamma=0.9, interval="step"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.model_gen.layer1.requires_grad_(True)


@pytest.mark.parametrize("choice", ["fresh", "continue"])
def test_a_changed_setup_declaring_the_parameters_of_the_group_the_module_added_resumes(
    choice: str, tmp_path: Path
) -> None:
    """The refusal's other way out: ``layer1``, which the module added itself, declared in a ``ParamGroup`` is a
    changed setup, which "fresh" and "continue" resume with ``layer1`` trained in its declared group (the
    optimizer holds as many parameter tensors as the checkpoint's)."""
    run(AddsItsGroup(), tmp_path, max_epochs=2, callbacks=[checkpoints(tmp_path / "ckpt", every_n_epochs=1)])
    path = tmp_path / "ckpt" / "epoch=1-step=8.ckpt"
    module = type("DeclaresLayer1", (DeclaresLayer1,), {"resume_changed_setup": choice})()
    rest = run(module, tmp_path, ckpt_path=str(path))
    done = 8 if choice == "continue" else 0
    expected = [lr * 0.9 ** (s - 8 + done) for s in range(8, 16) for lr in (0.05, 0.1)]
    assert [lr for step in rest.history for lr in step[0]] == pytest.approx(expected, rel=1e-12)
    saved = torch.load(path, weights_only=False)["state_dict"]
    assert all(
        not torch.equal(p, saved[f"model_gen.layer1.{k}"])
        for k, p in module.model_gen.layer1.named_parameters()
    )


# -- a group BaseFinetuning added, resumed as a changed setup ------------------------------------------------


class Unfreeze(BaseFinetuning):
    """Adds ``model_gen.layer1`` (frozen before training) to the optimizer at epoch 1 at lr 0.05; a run resumed
    later makes it trainable again (``BaseFinetuning`` restores the group, not ``requires_grad``)."""

    def freeze_before_training(self, pl_module: Any) -> None:
        self.freeze(pl_module.model_gen.layer1)

    def finetune_function(self, pl_module: Any, epoch: int, optimizer: Any) -> None:
        if epoch == 1:
            self.unfreeze_and_add_param_group(pl_module.model_gen.layer1, optimizer, lr=0.05)
        elif epoch > 1:
            self.make_trainable(pl_module.model_gen.layer1)


class Finetuned(ConfigurableOptimizersMixin, Classifier):
    """SGD on the head (``layer1`` is frozen), a per-step cosine whose ``T_max`` is the run's."""

    optimizer = OptimizerSpec(
        "sgd",
        lr=HParam("lr"),
        momentum=0.9,
        implementation="forloop",
        scheduler=SchedulerSpec("cosine", interval="step"),
    )

    def __init__(self, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()


class StateAtStart(L.Callback):
    """The momentum buffers of the first optimizer when training starts (after the restore), by parameter."""

    def __init__(self) -> None:
        self.buffers: dict[int, torch.Tensor] = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        state = trainer.optimizers[0].state_dict()["state"]
        self.buffers = {i: s["momentum_buffer"].clone() for i, s in state.items()}


def torch_cosine(lrs: list[float], t_max: int, steps: int, *, done: int = 0, added: float = 0.0) -> list[Any]:
    """The lrs before each of ``steps`` batches of torch's ``CosineAnnealingLR(T_max=t_max)`` over groups at
    ``lrs``, taken ``done`` steps in first; a group at lr ``added`` joins then (``added=0``: none joins)."""
    optimizer = torch.optim.SGD([{"params": [torch.zeros(1)], "lr": lr} for lr in lrs])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t_max)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stepped without an optimizer step
        for _ in range(done):
            scheduler.step()
        if added:
            optimizer.add_param_group({"params": [torch.zeros(1)], "lr": added})
        history = []
        for _ in range(steps):
            history.append([[float(g["lr"]) for g in optimizer.param_groups]])
            scheduler.step()
    return history


@pytest.mark.parametrize("choice", ["fresh", "continue"])
@pytest.mark.parametrize("change", ["run_length", "declared_lr"])
def test_a_changed_setup_resumes_with_the_group_base_finetuning_added(
    change: str, choice: str, tmp_path: Path
) -> None:
    """The checkpoint after epoch 1 holds the declared group and the one ``BaseFinetuning`` added, which it
    restores when the resumed fit starts. A longer run (the derived ``T_max`` changes, checked when training
    starts) and a changed ``lr`` (the fingerprint, checked in ``configure_optimizers``) crashed there with
    torch's errors (``zip()`` / ``different number of parameter groups``).

    ``"fresh"`` starts the added group again as it was added (lr 0.05, no momentum), on the fresh cosine with
    the declared group, as torch's scheduler built over both; ``"continue"`` keeps its lr and momentum from the
    checkpoint, and the cosine re-evaluated for the whole run scales it from there as torch's cosine scales a
    group added at the resumed step."""
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1)
    run(Finetuned(), tmp_path, max_epochs=3, callbacks=[Unfreeze(), saving], enable_checkpointing=True)
    path = next((tmp_path / "ckpt").glob("epoch=1-*.ckpt"))
    saved = torch.load(path, weights_only=False)["optimizer_states"][0]
    assert len(saved["param_groups"]) == 2
    lr, epochs = (0.1, 5) if change == "run_length" else (0.2, 3)
    module = type("Finetuned", (Finetuned,), {"resume_changed_setup": choice})(lr=lr)
    restored = StateAtStart()
    rest = run(module, tmp_path, ckpt_path=str(path), max_epochs=epochs, callbacks=[Unfreeze(), restored])
    steps = 4 * (epochs - 2)
    state = saved["state"]
    if choice == "fresh":
        assert rest.history == torch_cosine([lr, 0.05], t_max=steps, steps=steps)
        assert restored.buffers == {}
    else:
        added = saved["param_groups"][1]["lr"]
        assert rest.history == torch_cosine([lr], t_max=4 * epochs, steps=steps, done=8, added=added)
        # the momentum of every parameter, the added group's included, is the checkpoint's
        assert restored.buffers.keys() == state.keys() and len(state) == 4
        assert all(torch.equal(restored.buffers[i], state[i]["momentum_buffer"]) for i in state)
    assert all(p.requires_grad for p in module.parameters())


class LateLogged(Classifier):
    """Logs the constant ``metric`` from global step 1 on (a metric of a warm-up phase, say), and has a
    validation loop: a per-step plateau with ``strict=False`` watching it skips the update after batch 0."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if self.global_step >= 1:
            self.log("metric", 1.0)
        return super().training_step(batch, batch_idx)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val_loss", torch.nn.functional.cross_entropy(self.model_gen(batch[0]), batch[1]))

    def val_dataloader(self) -> Any:
        return loader()


@pytest.mark.filterwarnings("ignore:.*monitors `metric`.*:RuntimeWarning")  # skipped before it is logged
@pytest.mark.filterwarnings("ignore:ReduceLROnPlateau conditioned on metric metric:RuntimeWarning")
@pytest.mark.parametrize(
    ("save", "checkpoint", "done"),
    [
        ({"every_n_train_steps": 3}, "epoch=0-step=3.ckpt", 3),  # written in on_train_batch_end of batch 2
        ({"every_n_epochs": 1}, "epoch=0-step=2.ckpt", 2),  # at the validation run after batch 1
    ],
    ids=["batch_end", "validation_end"],
)
def test_resume_takes_the_per_step_plateau_update_owed_after_skipped_ones(
    save: dict[str, int], checkpoint: str, done: int, tmp_path: Path
) -> None:
    """The update Lightning owed at the checkpoint's batch was replayed only when the scheduler had taken every
    update due so far: one skipped earlier (``strict=False``, the metric not yet logged) left it untaken, and the
    resumed run trained one plateau update behind the uninterrupted one."""
    plateau = SchedulerSpec(
        "plateau", monitor="metric", patience=0, factor=0.5, interval="step", strict=False
    )
    cls = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=plateau), base=LateLogged)
    options = {"max_epochs": 2, "val_check_interval": 0.5, "limit_val_batches": 1, "data": Resumable()}
    full = cls()
    whole = run(full, tmp_path, callbacks=[checkpoints(tmp_path / "ckpt", **save)], **options)
    resumed = cls()
    options["data"] = Resumable()
    rest = run(resumed, tmp_path, ckpt_path=str(tmp_path / "ckpt" / checkpoint), **options)
    assert rest.history == whole.history[done:]
    assert len(set(map(str, whole.history[done:]))) > 2, "the schedule must move after the checkpoint"
    assert_same_weights(full, resumed)


class EpochLateLogged(LateLogged):
    """Logs the constant ``metric`` from epoch 1 on: a per-epoch plateau with ``strict=False`` watching it
    skips the update after epoch 0."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if self.current_epoch >= 1:
            self.log("metric", 1.0)
        return Classifier.training_step(self, batch, batch_idx)


def manual(base: type[Any]) -> type[Any]:
    """``base`` in manual optimization, its one optimizer stepped in ``training_step``: the mixin steps the
    per-epoch plateau itself."""

    class Manual(base):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            optimizer = self.optimizers()
            loss = super().training_step(batch, batch_idx)
            optimizer.zero_grad()
            self.manual_backward(loss)
            optimizer.step()
            return loss.detach()

    Manual.__name__ = Manual.__qualname__ = f"Manual{base.__name__}"
    return Manual


ManualEpochLateLogged = manual(EpochLateLogged)


@pytest.mark.filterwarnings("ignore:.*monitors `metric`.*:RuntimeWarning")  # skipped before it is logged
@pytest.mark.filterwarnings("ignore:ReduceLROnPlateau conditioned on metric metric:RuntimeWarning")
@pytest.mark.parametrize("max_steps", [-1, 20], ids=["max_epochs", "max_steps"])
@pytest.mark.parametrize(
    ("base", "save", "checkpoint", "done"),
    [
        # in on_train_epoch_end
        (EpochLateLogged, {"every_n_epochs": 1, "save_on_train_epoch_end": True}, "epoch=1-step=8.ckpt", 8),
        (
            ManualEpochLateLogged,
            {"every_n_epochs": 1, "save_on_train_epoch_end": True},
            "epoch=1-step=8.ckpt",
            8,
        ),
        # at the validation run after the epoch's last batch
        (EpochLateLogged, {"every_n_epochs": 1, "save_on_train_epoch_end": False}, "epoch=1-step=8.ckpt", 8),
        # mid-epoch: after batch 1 of epoch 1
        (EpochLateLogged, {"every_n_train_steps": 6}, "epoch=1-step=6.ckpt", 6),
        (ManualEpochLateLogged, {"every_n_train_steps": 6}, "epoch=1-step=6.ckpt", 6),
    ],
    ids=["epoch_end", "epoch_end_manual", "validation_end", "mid_epoch", "mid_epoch_manual"],
)
def test_resume_takes_the_per_epoch_plateau_update_owed_after_a_skipped_one(
    base: type[Any], save: dict[str, Any], checkpoint: str, done: int, max_steps: int, tmp_path: Path
) -> None:
    """The update of epoch 1 Lightning owed at the checkpoint was replayed only when the scheduler had taken
    every update due so far: the one of epoch 0, skipped (``strict=False``, the metric not yet logged), left it
    untaken, and the resumed run trained one plateau update behind the uninterrupted one. Taken once: a
    mid-epoch checkpoint's epoch is not updated twice."""
    plateau = SchedulerSpec(
        "plateau", monitor="metric", patience=0, factor=0.5, interval="epoch", strict=False
    )
    cls = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=plateau), base=base)
    # 5 epochs of 4 batches either way; with `max_steps`, Lightning restarts an epoch-end checkpoint at that
    # epoch's end and counts the epoch twice, so `max_epochs` is left out of the way
    options = {"max_epochs": 5 if max_steps < 0 else 10, "max_steps": max_steps, "limit_val_batches": 1}
    data = Resumable if "every_n_train_steps" in save else loader
    full = cls()
    whole = run(full, tmp_path, callbacks=[checkpoints(tmp_path / "ckpt", **save)], data=data(), **options)
    resumed = cls()
    rest = run(resumed, tmp_path, ckpt_path=str(tmp_path / "ckpt" / checkpoint), data=data(), **options)
    assert rest.history == whole.history[done:]
    assert len(set(map(str, whole.history[done:]))) > 2, "the schedule must move after the checkpoint"
    assert_same_weights(full, resumed)


class EpochLogged(LateLogged):
    """Logs the constant ``metric`` in every ``training_step``, and has a validation loop."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        self.log("metric", 1.0)
        return Classifier.training_step(self, batch, batch_idx)


ManualEpochLogged = manual(EpochLogged)


class ValidatedPair(LoggedPair):
    """``LoggedPair`` with a validation loop."""

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val_loss", torch.nn.functional.cross_entropy(self.model_gen(batch[0]), batch[1]))

    def val_dataloader(self) -> Any:
        return loader()


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "not_strict"])
@pytest.mark.parametrize(
    "base", [EpochLogged, ManualEpochLogged, ValidatedPair], ids=["automatic", "manual", "two_optimizers"]
)
def test_resume_at_the_validation_after_an_epoch_s_last_batch_takes_its_plateau_update_with_the_saved_metric(
    base: type[Any], strict: bool, tmp_path: Path
) -> None:
    """A checkpoint written at the validation run after epoch 1's last batch: in manual optimization the mixin
    took that epoch's update on resume itself, but the metric ``training_step`` logged before the checkpoint was
    not logged again, so the resumed run stopped with a false "not logged by the end of epoch 1"
    (``strict=True``) or skipped the update (``strict=False``). It takes it with the metric saved in the
    checkpoint, as automatic optimization does."""
    plateau = SchedulerSpec(
        "plateau", monitor="metric", patience=0, factor=0.5, interval="epoch", strict=strict
    )
    if base is ValidatedPair:  # the plateau on the first of two optimizers: the mixin switches to manual
        pair = {
            "gen_opt": OptimizerSpec("sgd", params="model_gen", lr=0.1, scheduler=plateau),
            "dis_opt": OptimizerSpec("sgd", params="model_dis", lr=0.2),
        }
        cls = type("DeclaredPair", (base,), pair)
    else:
        cls = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=plateau), base=base)
    options = {"max_epochs": 5, "limit_val_batches": 1}
    save = checkpoints(tmp_path / "ckpt", every_n_epochs=1, save_on_train_epoch_end=False)
    full = cls()
    whole = run(full, tmp_path, callbacks=[save], **options)
    resumed = cls()
    checkpoint = next((tmp_path / "ckpt").glob("epoch=1-*.ckpt"))  # two optimizers: step=16
    rest = run(resumed, tmp_path, ckpt_path=str(checkpoint), **options)
    assert rest.history == whole.history[8:]
    assert len(set(map(str, whole.history[8:]))) > 2, "the schedule must move after the checkpoint"
    assert_same_weights(full, resumed)


class RisingAtEpochEnd(Classifier):
    """Logs ``metric`` 1, 1, 1, 10 in the batches of epoch 0 and 5 in every later one: the per-epoch plateau
    (``patience=0``) takes 10 after epoch 0, so 5 improves after epoch 1 and reduces after epoch 2 only."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        self.log("metric", (10.0 if batch_idx == 3 else 1.0) if self.current_epoch == 0 else 5.0)
        return super().training_step(batch, batch_idx)


@pytest.mark.parametrize("base", [RisingAtEpochEnd, manual(RisingAtEpochEnd)], ids=["automatic", "manual"])
def test_resume_mid_epoch_takes_the_epoch_s_plateau_update_with_the_metric_logged_after_the_checkpoint(
    base: type[Any], tmp_path: Path
) -> None:
    """A checkpoint after batch 1 of epoch 0: Lightning does not take the epoch's plateau update in the resumed
    run, and the mixin took it with the value the checkpoint saved (1, logged at batch 1) instead of the one the
    resumed epoch logged after it (10, at batch 3), as the uninterrupted run does: 5 then made no improvement
    after epoch 1 and the lr halved an epoch early (0.05 in epoch 2, 0.025 in epoch 3)."""
    plateau = SchedulerSpec("plateau", monitor="metric", patience=0, factor=0.5)
    cls = helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=plateau), base=base)
    full = cls()
    save = checkpoints(tmp_path / "ckpt", every_n_train_steps=2)
    whole = run(full, tmp_path, callbacks=[save], data=Resumable())
    assert whole.of(0) == [0.1] * 12 + [0.05] * 4
    resumed = cls()
    rest = run(resumed, tmp_path, ckpt_path=str(tmp_path / "ckpt" / "epoch=0-step=2.ckpt"), data=Resumable())
    assert rest.history == whole.history[2:]
    assert_same_weights(full, resumed)


class SparselyLogged(ConfigurableOptimizersMixin, helpers.TwoLosses):
    """Two optimizers with ``loss=`` (the mixin steps them and the per-step plateau): ``gen_loss``, run every
    third batch (``every=3``), logs the constant ``metric`` the plateau on ``dis_opt`` watches."""

    gen_opt = OptimizerSpec("sgd", params="model_gen", lr=0.1, loss="gen_loss", every=3)
    dis_opt = OptimizerSpec(
        "sgd",
        params="model_dis",
        lr=0.1,
        loss="dis_loss",
        scheduler=SchedulerSpec("plateau", monitor="metric", patience=0, factor=0.5, interval="step"),
    )

    def gen_loss(self, batch: Any, batch_idx: int) -> torch.Tensor:
        self.log("metric", 1.0)
        return super().gen_loss(batch, batch_idx)


def test_resume_steps_a_per_step_plateau_on_the_saved_metric_until_the_metric_is_logged_again(
    tmp_path: Path,
) -> None:
    """The uninterrupted run updates the plateau after every batch with the last logged value (held in
    ``callback_metrics``); the resumed run had none until ``gen_loss`` logged it again, and skipped the
    updates in between without a word (``strict=True``): two updates behind from epoch 1's second batch on."""
    full = SparselyLogged()
    whole = run(full, tmp_path, callbacks=[checkpoints(tmp_path / "ckpt", every_n_epochs=1)], max_epochs=3)
    resumed = SparselyLogged()
    (checkpoint,) = (tmp_path / "ckpt").glob("epoch=0-*.ckpt")
    rest = run(resumed, tmp_path, ckpt_path=str(checkpoint), max_epochs=3)
    assert len(set(whole.of(1)[4:])) == 8, "the plateau must reduce at every batch after the checkpoint"
    assert rest.history == whole.history[4:]
    assert_same_weights(full, resumed)


def cosine_per_step(choice: str = "error") -> type[Logged]:
    """The mixin's ``HandCosine``."""
    cls = declared(SchedulerSpec("cosine", interval="step"))
    return type("Cosine", (cls,), {"resume_changed_setup": choice})


def weights_only(module: L.LightningModule, tmp_path: Path) -> str:
    """The ``ModelCheckpoint(save_weights_only=True)`` checkpoint after epoch 0 of a 3-epoch run of ``module``."""
    run(module, tmp_path, max_epochs=3, callbacks=[checkpoints(tmp_path / "ckpt", save_weights_only=True)])
    return str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt")


def test_a_weights_only_checkpoint_is_refused_as_one_without_optimizer_state(tmp_path: Path) -> None:
    """Was: "a changed setup ... optimizers: 0 in the checkpoint, 1 now", with the declarations unchanged."""
    hand = weights_only(HandCosine(), tmp_path / "hand")
    with pytest.raises(KeyError, match="checkpoint contains only the model"):
        run(HandCosine(), tmp_path, ckpt_path=hand, max_epochs=3)
    path = weights_only(cosine_per_step()(), tmp_path / "mixin")
    with pytest.raises(
        ValueError, match=r"Cosine: Expected a checkpoint holding the optimizer and sch"
    ) as err:
        run(cosine_per_step()(), tmp_path, ckpt_path=path, max_epochs=3)
    message = str(err.value)
    assert "weights-only checkpoint (`ModelCheckpoint(save_weights_only=True)`" in message
    assert "`Cosine.load_from_checkpoint(path)` and `fit` without `ckpt_path`" in message
    assert "resume_changed_setup = 'fresh'" in message
    assert "changed setup" not in message and "0 in the checkpoint" not in message


def emptied(module: L.LightningModule, tmp_path: Path) -> str:
    """The checkpoint after epoch 0 of a 3-epoch run of ``module``, its ``optimizer_states`` and ``lr_schedulers``
    emptied (as ``trainer.save_checkpoint`` writes them outside ``fit``, or a user strips them)."""
    run(module, tmp_path, max_epochs=3, callbacks=[checkpoints(tmp_path / "ckpt")])
    checkpoint = torch.load(tmp_path / "ckpt" / "epoch=0-step=4.ckpt", weights_only=False)
    checkpoint.update(optimizer_states=[], lr_schedulers=[])
    torch.save(checkpoint, tmp_path / "emptied.ckpt")
    return str(tmp_path / "emptied.ckpt")


#: The checkpoints after epoch 0 holding no optimizer or scheduler state, of a ``cosine_per_step`` module
NO_STATE: dict[str, Callable[[Path], str]] = {
    "weights_only": lambda tmp_path: weights_only(cosine_per_step()(), tmp_path),
    "emptied": lambda tmp_path: emptied(cosine_per_step()(), tmp_path),
    "emptied_hand_written": lambda tmp_path: emptied(HandCosine(), tmp_path),
}


@pytest.mark.parametrize("written", ["emptied", "emptied_hand_written"])
def test_a_checkpoint_with_emptied_states_of_a_begun_fit_is_refused_as_one_without_optimizer_state(
    written: str, tmp_path: Path
) -> None:
    """Was: resumed without a word with a fresh optimizer and the cosine started over at step 4 (with the mixin's
    fingerprint), or refused as "a changed setup ... optimizers: 0 in the checkpoint, 1 now" (without it)."""
    path = NO_STATE[written](tmp_path)
    with pytest.raises(
        ValueError, match=r"Cosine: Expected a checkpoint holding the optimizer and sch"
    ) as err:
        run(cosine_per_step()(), tmp_path, ckpt_path=path, max_epochs=3)
    message = str(err.value)
    assert "checkpoint with empty `optimizer_states` and `lr_schedulers` (saved outside `fit`" in message
    assert "(global step 4), no optimizer or scheduler state" in message
    assert "resume_changed_setup = 'fresh'" in message
    assert "changed setup" not in message and "0 in the checkpoint" not in message


def saved_outside_fit(cls: type[L.LightningModule], path: Path, how: str) -> str:
    """A ``cls`` module's checkpoint as ``trainer.save_checkpoint`` writes it outside ``fit``, after ``validate``
    (``how="validate"``) or with the module only connected; its weights moved off ``cls``'s initial ones."""
    validated = type("Validated", (cls,), {"validation_step": lambda self, batch, batch_idx: None})
    module = validated()
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(0.5)
    trainer = L.Trainer(**FAST)
    if how == "validate":
        trainer.validate(module, loader(), verbose=False)
    else:
        trainer.strategy.connect(module)
    trainer.save_checkpoint(path)
    return str(path)


@pytest.mark.parametrize("how", ["validate", "connect"])
def test_a_checkpoint_saved_outside_fit_resumes_as_a_new_run_like_the_hand_written_module(
    how: str, tmp_path: Path
) -> None:
    """Was: refused as "a changed setup ... optimizers: 0 in the checkpoint, 1 now", advising to "resume with the
    original declarations", the class unchanged. The checkpoint holds empty ``optimizer_states`` and
    ``lr_schedulers`` and a fit loop that never ran: Lightning resumes a hand-written module from it as a new run
    from its weights (a fresh optimizer, the schedule from its start), and the mixin does the same."""
    hand, mixin = HandCosine(), cosine_per_step()()
    hand_path = saved_outside_fit(HandCosine, tmp_path / "hand.ckpt", how)
    path = saved_outside_fit(cosine_per_step(), tmp_path / "mixin.ckpt", how)
    assert torch.load(path, weights_only=False)["optimizer_states"] == []
    hand_lrs = run(hand, tmp_path, ckpt_path=hand_path, max_epochs=3).history
    lrs = run(mixin, tmp_path, ckpt_path=path, max_epochs=3).history
    assert lrs == hand_lrs
    expected = [step[0][0] for step in torch_cosine([0.1], 12, 12)]
    assert [step[0][0] for step in lrs] == pytest.approx(expected, rel=1e-12)
    for p, q in zip(hand.parameters(), mixin.parameters()):  # torch's forloop SGD, the mixin's fused one
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-6)
    new_run = cosine_per_step()()  # `load_from_checkpoint(path)` and `fit` without `ckpt_path`
    new_run.load_state_dict(torch.load(path, weights_only=False)["state_dict"])
    assert run(new_run, tmp_path, max_epochs=3).history == lrs
    assert_same_weights(new_run, mixin)


@pytest.mark.parametrize("written", sorted(NO_STATE))
@pytest.mark.parametrize("choice", ["fresh", "continue"])
def test_a_weights_only_checkpoint_resumes_with_fresh_optimizer_state(
    choice: str, written: str, tmp_path: Path
) -> None:
    """What the docs say: ``"fresh"`` starts the schedule anew at the checkpoint's step (a cosine over the 8 steps
    left), ``"continue"`` evaluates it there (step 4 of 12); the optimizer state starts empty in both, the
    weights are the checkpoint's. Alike for one with its states emptied (was, with the mixin's fingerprint: the
    cosine started over at step 4)."""
    path = NO_STATE[written](tmp_path)
    state = StateAtStart()
    module = cosine_per_step(choice)()
    lrs = run(module, tmp_path, ckpt_path=path, max_epochs=3, callbacks=[state]).of(0)
    expected = torch_cosine([0.1], 8, 8) if choice == "fresh" else torch_cosine([0.1], 12, 8, done=4)
    assert lrs == pytest.approx([step[0][0] for step in expected], rel=1e-12)
    assert state.buffers == {}
    saved = cosine_per_step()()
    saved.load_state_dict(torch.load(path, weights_only=True)["state_dict"])
    assert not all(
        torch.equal(p, q) for p, q in zip(saved.parameters(), module.parameters())
    )  # it trained on


class NaNAtBatch1(Classifier):
    """The loss is NaN at batch 1 of epoch 0: with ``skip_nonfinite`` the update is skipped, so the optimizer has
    applied one step fewer than the batches ran (its schedule, per step, waits for it)."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = super().training_step(batch, batch_idx)
        return loss * float("nan") if self.current_epoch == 0 and batch_idx == 1 else loss


def adam(**options: Any) -> OptimizerSpec:
    per_step = SchedulerSpec("exponential", gamma=0.9, interval="step")
    return OptimizerSpec("adam", lr=0.01, implementation="forloop", scheduler=per_step, **options)


#: Each module as saved, and resumed with one optimizer's attribute renamed, its declaration unchanged.
RENAMED: dict[str, tuple[type[L.LightningModule], dict[str, OptimizerSpec], dict[str, str]]] = {
    "one_optimizer": (NaNAtBatch1, {"optimizer": adam(skip_nonfinite=1)}, {"optimizer": "opt"}),
    "gan": (
        TwoNets,
        {"gen_opt": adam(params="model_gen"), "dis_opt": adam(params="model_dis")},
        {"gen_opt": "generator_opt"},
    ),
}


def renamed(kind: str, rename: bool, choice: str = "error") -> L.LightningModule:
    base, specs, names = RENAMED[kind]
    declarations = {names.get(a, a) if rename else a: s for a, s in specs.items()}
    return type(
        "Renamed", (ConfigurableOptimizersMixin, base), {**declarations, "resume_changed_setup": choice}
    )()


def saved_run(kind: str, tmp_path: Path) -> tuple[L.LightningModule, Any, str]:
    """The module of ``kind`` as saved, trained for 3 epochs; its lrs; its checkpoint after epoch 0."""
    full = renamed(kind, rename=False)
    whole = run(full, tmp_path, max_epochs=3, callbacks=[checkpoints(tmp_path / "ckpt", every_n_epochs=1)])
    (saved,) = (tmp_path / "ckpt").glob("epoch=0-*.ckpt")
    return full, whole, str(saved)


@pytest.mark.parametrize("kind", sorted(RENAMED))
def test_a_renamed_optimizer_is_told_in_the_refusal(kind: str, tmp_path: Path) -> None:
    """Was: the old attribute 'declared' in the checkpoint, absent now, and the new one absent in the checkpoint,
    with no hint that it is the same optimizer, which ``"continue"`` keeps."""
    _, _, saved = saved_run(kind, tmp_path)
    old, new = next(iter(RENAMED[kind][2].items()))
    with pytest.raises(ValueError, match=r"Renamed: Expected the checkpoint being resumed") as err:
        run(renamed(kind, rename=True), tmp_path, ckpt_path=saved, max_epochs=3)
    message = str(err.value)
    assert (
        f"optimizers[0 {new!r}]: {old!r} of the checkpoint renamed? (the same class, options and param groups; "
        "`resume_changed_setup = 'continue'` keeps its optimizer state and where it stands)"
    ) in message
    assert f"optimizers[0 {old!r}]: 'declared' in the checkpoint, absent now" in message


@pytest.mark.parametrize("kind", sorted(RENAMED))
def test_a_renamed_optimizer_continues_as_the_run_went_on(kind: str, tmp_path: Path) -> None:
    """Was: ``"continue"`` started the renamed optimizer's Adam state empty (a hand-written module, resuming by
    position, kept it) and its per-step schedule where the batches stand, past the update skipped before."""
    full, whole, saved = saved_run(kind, tmp_path)
    resumed = renamed(kind, rename=True, choice="continue")
    rest = run(resumed, tmp_path, ckpt_path=saved, max_epochs=3)
    assert rest.history == whole.history[4:]
    assert len(set(map(str, rest.history))) > 4, "the schedule must move after the checkpoint"
    assert_same_weights(full, resumed)


def cosine(**kwargs: Any) -> type[Logged]:
    """A cosine per step: over the run's 16 steps, unless ``kwargs`` give ``T_max``."""
    return declared(SchedulerSpec("cosine", interval="step", **kwargs))


@pytest.mark.parametrize(
    ("saved", "now"), [({}, {"T_max": 16}), ({"T_max": 16}, {})], ids=["written_out", "left_to_the_run"]
)
def test_a_length_left_to_the_run_and_written_out_at_its_value_are_the_same_setup(
    saved: dict[str, Any], now: dict[str, Any], tmp_path: Path
) -> None:
    """``T_max`` left to the run (16 steps) and ``T_max=16`` are one schedule, in either direction: the resumed run
    continues the checkpoint's exactly (was: refused, "scheduler.arguments: '' in the checkpoint, 'T_max=16'
    now")."""
    full = cosine(**saved)()
    whole = run(full, tmp_path, callbacks=[checkpoints(tmp_path / "ckpt", every_n_epochs=1)])
    resumed = cosine(**now)()
    rest = run(resumed, tmp_path, ckpt_path=str(tmp_path / "ckpt" / "epoch=1-step=8.ckpt"))
    assert rest.history == whole.history[8:]
    assert len(set(map(str, whole.history[8:]))) > 2
    assert_same_weights(full, resumed)


@pytest.mark.parametrize(
    ("saved", "now", "changed"),
    [
        (
            {},
            {"T_max": 20},
            "scheduler.arguments: 'T_max=16 (derived from the run)' in the checkpoint, 'T_max=20' now",
        ),
        (
            {"warmup": 2, "eta_min": 0.01},
            {"warmup": 2, "eta_min": 0.01, "T_max": 20},
            "scheduler.arguments: 'T_max=14 (derived from the run), eta_min=0.01' in the checkpoint, "
            "'T_max=20, eta_min=0.01' now",
        ),
        (
            {"T_max": 20},
            {},
            "scheduler.T_max (derived now, given in the checkpoint): 20 in the checkpoint, 16 now",
        ),
    ],
    ids=["written_out", "written_out_after_a_warmup", "left_to_the_run"],
)
def test_a_length_left_to_the_run_and_written_out_at_another_value_are_a_changed_setup(
    saved: dict[str, Any], now: dict[str, Any], changed: str, tmp_path: Path
) -> None:
    """The checkpoint's length left to the run is told at the value it came to (was: "scheduler.arguments: '' in
    the checkpoint, 'T_max=20' now", as if the checkpoint's cosine had no ``T_max``)."""
    run(cosine(**saved)(), tmp_path, callbacks=[checkpoints(tmp_path / "ckpt", every_n_epochs=1)])
    with pytest.raises(ValueError, match=r"^Declared: Expected the checkpoint being resumed") as err:
        run(cosine(**now)(), tmp_path, ckpt_path=str(tmp_path / "ckpt" / "epoch=1-step=8.ckpt"))
    assert changed in str(err.value), str(err.value)


#: schedules with a length written as ``None`` (a config dump's), beside the options they take, with their lrs
#: over a run of ``steps`` computed by torch (``OneCycleLR``) or by hand (transformers' linear schedule after a
#: 2-step warmup), or none for a length the schedule runs without (``inverse_sqrt``: ``None`` is no length)
WRITTEN_NONES: dict[str, tuple[dict[str, Any], dict[str, Any], Callable[[int], list[float]]]] = {
    "onecycle": (
        {"scheduler": "onecycle", "max_lr": 0.5},
        {"total_steps": None, "epochs": None, "steps_per_epoch": None},
        lambda steps: helpers.torch_lrs(
            lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=steps), steps
        ),
    ),
    "transformers/linear": (
        {"scheduler": "transformers/linear", "num_warmup_steps": 2},
        {"num_training_steps": None},
        lambda steps: [0.1 * (s / 2 if s < 2 else (steps - s) / (steps - 2)) for s in range(steps)],
    ),
    "transformers/inverse_sqrt": (
        {"scheduler": "transformers/inverse_sqrt", "num_warmup_steps": 2},
        {"num_training_steps": None},
        lambda steps: [0.1 * ((s / 2) if s < 2 else (2 / s) ** 0.5) for s in range(steps)],
    ),
}
DERIVED_NONES = ["onecycle", "transformers/linear"]


def written_nones(name: str, written: bool, choice: str = "error") -> type[Logged]:
    options, nones, _ = WRITTEN_NONES[name]
    kwargs = {**options, **(nones if written else {})}
    scheduler = SchedulerSpec(kwargs.pop("scheduler"), interval="step", **kwargs)
    with helpers.lr_replaced(name == "onecycle"):
        return type(
            "Declared",
            (ConfigurableOptimizersMixin, Logged),
            {
                "optimizer": OptimizerSpec("sgd", lr=0.1, momentum=0.9, scheduler=scheduler),
                "resume_changed_setup": choice,
            },
        )


@pytest.mark.parametrize(
    ("saved", "now"), [(True, True), (True, False), (False, True)], ids=["written", "left_out_now", "then"]
)
@pytest.mark.parametrize("name", DERIVED_NONES)
def test_a_required_length_written_as_none_resumes_as_left_out(
    name: str, saved: bool, now: bool, tmp_path: Path
) -> None:
    """``total_steps=None`` (``num_training_steps=None`` of a decaying schedule) is the length left to the run: a
    checkpoint of either writing resumes with either one as the uninterrupted run goes on, along torch's schedule
    (was: refused when the class was defined)."""
    full = written_nones(name, saved)()
    whole = run(full, tmp_path, callbacks=[checkpoints(tmp_path / "ckpt", every_n_epochs=1)])
    resumed = written_nones(name, now)()
    rest = run(resumed, tmp_path, ckpt_path=str(tmp_path / "ckpt" / "epoch=1-step=8.ckpt"))
    assert whole.of() == pytest.approx(WRITTEN_NONES[name][2](16), rel=1e-12)
    assert rest.history == whole.history[8:]
    assert_same_weights(full, resumed)


@pytest.mark.parametrize("name", DERIVED_NONES)
def test_a_required_length_written_as_none_in_a_longer_run(name: str, tmp_path: Path) -> None:
    """Resumed in a 6-epoch run (24 steps), the checkpoint's 16 derived steps are refused under ``"error"``,
    naming the length; under ``"continue"`` the schedule is the longer run's, at the resumed step."""
    run(written_nones(name, True)(), tmp_path, callbacks=[checkpoints(tmp_path / "ckpt", every_n_epochs=1)])
    path = str(tmp_path / "ckpt" / "epoch=1-step=8.ckpt")
    length = "total_steps" if name == "onecycle" else "num_training_steps"
    with pytest.raises(ValueError, match=rf"scheduler\.{length} \(derived\): 16 in the checkpoint, 24 now"):
        run(written_nones(name, True)(), tmp_path, ckpt_path=path, max_epochs=6)
    rest = run(written_nones(name, True, "continue")(), tmp_path, ckpt_path=path, max_epochs=6)
    assert rest.of() == pytest.approx(WRITTEN_NONES[name][2](24)[8:], rel=1e-12)


def test_an_optional_length_written_as_none_resumes_into_a_longer_run(tmp_path: Path) -> None:
    """``inverse_sqrt`` runs without a length: its ``num_training_steps=None`` is no length, not one derived
    from the run, so a checkpoint of a 4-epoch run resumes into a 6-epoch one under ``"error"`` and goes on along
    the unbounded schedule."""
    name = "transformers/inverse_sqrt"
    run(written_nones(name, True)(), tmp_path, callbacks=[checkpoints(tmp_path / "ckpt", every_n_epochs=1)])
    rest = run(
        written_nones(name, True)(),
        tmp_path,
        ckpt_path=str(tmp_path / "ckpt" / "epoch=1-step=8.ckpt"),
        max_epochs=6,
    )
    assert rest.of() == pytest.approx(WRITTEN_NONES[name][2](24)[8:], rel=1e-12)


#: schedules whose length, left out, changes nothing they set: each declaration with the hand-written scheduler
#: it ports (transformers' ``get_*_schedule`` functions, which take no length or ignore it, and torch's), stepped
#: per optimizer step
UNREAD_LENGTHS: dict[str, tuple[SchedulerSpec, Callable[[torch.optim.Optimizer], Any]]] = {
    "inverse_sqrt": (
        SchedulerSpec("transformers/inverse_sqrt", num_warmup_steps=3, interval="step"),
        lambda o: helpers.transformers_with_torch().get_inverse_sqrt_schedule(o, num_warmup_steps=3),
    ),
    "constant_with_warmup": (
        SchedulerSpec("transformers/constant_with_warmup", num_warmup_steps=3, interval="step"),
        lambda o: helpers.transformers_with_torch().get_constant_schedule_with_warmup(o, num_warmup_steps=3),
    ),
    "wsd-stable": (
        SchedulerSpec(
            "transformers/warmup_stable_decay",
            num_warmup_steps=2,
            num_decay_steps=4,
            num_stable_steps=3,
            interval="step",
        ),
        lambda o: helpers.transformers_with_torch().get_wsd_schedule(
            o, num_warmup_steps=2, num_decay_steps=4, num_stable_steps=3
        ),
    ),
    "constant": (
        SchedulerSpec("constant", factor=0.5, total_iters=6, interval="step"),
        lambda o: torch.optim.lr_scheduler.ConstantLR(o, factor=0.5, total_iters=6),
    ),
}


def hand_written(make: Callable[[torch.optim.Optimizer], Any]) -> type[Logged]:
    """The module a user writes without the mixin: SGD (torch's default for-loop) with the scheduler ``make``
    builds, stepped per optimizer step."""

    def configure_optimizers(self: Logged) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": make(optimizer), "interval": "step"}}

    return type("HandWritten", (Logged,), {"configure_optimizers": configure_optimizers})


def resumed_longer(cls: type[Logged], tmp_path: Path) -> tuple[Logged, list[float]]:
    """A 1-epoch fit of ``cls`` (4 steps), then its checkpoint resumed in a 3-epoch one (8 steps more): the
    resumed module and the lrs of the 12 steps."""
    first = run(cls(), tmp_path, max_epochs=1, callbacks=[checkpoints(tmp_path / "ckpt")])
    resumed = cls()
    rest = run(resumed, tmp_path, ckpt_path=str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt"), max_epochs=3)
    return resumed, first.of() + rest.of()


@pytest.mark.parametrize("name", sorted(UNREAD_LENGTHS))
def test_a_schedule_that_reads_no_length_resumes_into_a_longer_run_as_the_hand_written_one(
    name: str, tmp_path: Path
) -> None:
    """A schedule whose lr does not depend on the run's length (transformers' ``inverse_sqrt`` takes none; the
    others ignore it beside a whole warmup) resumed from a 1-epoch run into a 3-epoch one goes on as the
    hand-written module resumed the same way, lr and weights at every step (was: refused as a changed setup,
    "scheduler.num_training_steps (derived): 4 in the checkpoint, 12 now", for a length it never read)."""
    spec, make = UNREAD_LENGTHS[name]
    mixin, lrs = resumed_longer(declared(spec, implementation="forloop"), tmp_path / "mixin")
    hand, expected = resumed_longer(hand_written(make), tmp_path / "hand")  # skipped without transformers
    assert len(expected) == 12 and len(set(expected)) > 1, (
        "the schedule must move for the test to mean anything"
    )
    assert lrs == pytest.approx(expected, rel=1e-12)
    assert_same_weights(mixin, hand)


@pytest.mark.parametrize(
    ("name", "warmup"), [("inverse_sqrt", 0.25), ("cosine", 2)], ids=["fractional_inverse_sqrt", "cosine"]
)
def test_a_schedule_reading_its_derived_length_resumed_into_a_longer_run_is_a_changed_setup(
    name: str, warmup: float, tmp_path: Path
) -> None:
    """A schedule whose lr reads the length left out is still refused in a longer run: ``inverse_sqrt``'s
    ``num_warmup_steps=0.25`` is a quarter of it, and transformers' cosine decays to its end."""
    scheduler = SchedulerSpec(f"transformers/{name}", num_warmup_steps=warmup, interval="step")
    cls = declared(scheduler)
    run(cls(), tmp_path, max_epochs=1, callbacks=[checkpoints(tmp_path / "ckpt")])
    with pytest.raises(
        ValueError, match=r"scheduler\.num_training_steps \(derived\): 4 in the checkpoint, 12 now"
    ):
        run(cls(), tmp_path, ckpt_path=str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt"), max_epochs=3)


def as_recorded_before(path: Path, scheduler: SchedulerSpec) -> None:
    """Rewrite the scheduler's fingerprint of the checkpoint at ``path`` as the release before a required length
    written as ``None`` counted as left out recorded it: every argument as declared, the ``None``s included."""
    checkpoint = torch.load(path, weights_only=False)
    record = checkpoint["lightning_optim"]["optimizers"][0]["scheduler"]
    previous = ", ".join(f"{key}={value!r}" for key, value in sorted(scheduler.kwargs.items()))
    assert record["arguments"] != previous, "the new record must differ for the test to mean anything"
    record["arguments"] = previous
    torch.save(checkpoint, path)


#: ``OneCycleLR`` declarations that trained before as now, writing ``None`` for what describes the length
ONE_CYCLE_NONES = {
    "total_steps": {"total_steps": 16, "epochs": None, "steps_per_epoch": None},
    "epochs": {"total_steps": None, "epochs": 4, "steps_per_epoch": 4},
}


@pytest.mark.parametrize("written", [True, False], ids=["written", "left_out_now"])
@pytest.mark.parametrize("given", sorted(ONE_CYCLE_NONES))
def test_a_checkpoint_of_the_previous_release_recording_a_length_as_none_resumes(
    given: str, written: bool, tmp_path: Path
) -> None:
    """A checkpoint of ``OneCycleLR(total_steps=16, epochs=None, steps_per_epoch=None)`` (or ``total_steps=None``
    beside ``epochs`` and ``steps_per_epoch``) written by the previous release recorded the ``None``s; resumed by
    this one, with them written again or left out, the run goes on as the uninterrupted one."""
    arguments = ONE_CYCLE_NONES[given]

    def declare(**kwargs: Any) -> type[Logged]:
        with helpers.lr_replaced():
            return declared(SchedulerSpec("onecycle", max_lr=0.5, interval="step", **kwargs))

    saving = declare(**arguments)
    full = saving()
    whole = run(full, tmp_path, callbacks=[checkpoints(tmp_path / "ckpt", every_n_epochs=1)])
    path = tmp_path / "ckpt" / "epoch=1-step=8.ckpt"
    as_recorded_before(path, saving.optimizer.scheduler)
    resumed = declare(**(arguments if written else {k: v for k, v in arguments.items() if v is not None}))()
    rest = run(resumed, tmp_path, ckpt_path=str(path))
    assert rest.history == whole.history[8:]
    assert_same_weights(full, resumed)


#: the GAN's optimizers declared again in another order, ``dis_opt`` unchanged: one renamed, or one declared anew
#: with the generator's parameters and the other under a new name
MOVED = {
    "renamed": (
        {"dis_opt": "model_dis", "generator_opt": "model_gen"},
        ["'gen_opt' of the checkpoint renamed?"],
    ),
    "changed": (
        {"dis_opt": "model_gen", "x": "model_dis"},
        ["optimizers[0 'dis_opt'].groups[0].parameter names (digest): '", "optimizers[1 'x']: absent in the"],
    ),
}


@pytest.mark.parametrize("kind", sorted(MOVED))
def test_an_optimizer_declared_at_another_position_is_compared_with_its_namesake(
    kind: str, tmp_path: Path
) -> None:
    """Was: ``dis_opt``, declared in both, listed as 'declared' in the checkpoint and absent now at its old
    position, and absent in the checkpoint at its new one; the order line said the declared order changed (a
    changed setup of its own: Lightning restores the optimizer states by position) only when no optimizer was
    renamed, added or removed."""
    _, _, saved = saved_run("gan", tmp_path)
    declarations, told = MOVED[kind]
    module = type(
        "Renamed",
        (ConfigurableOptimizersMixin, TwoNets),
        {attribute: adam(params=params) for attribute, params in declarations.items()},
    )
    with pytest.raises(ValueError, match=r"Renamed: Expected the checkpoint being resumed") as err:
        run(module(), tmp_path, ckpt_path=saved, max_epochs=3)
    message = str(err.value)
    assert all(line in message for line in told), message
    assert "'dis_opt']: 'declared' in the checkpoint" not in message, message
    assert "'dis_opt']: absent in the checkpoint" not in message, message
    moved = "optimizers (order): ['gen_opt', 'dis_opt'] in the checkpoint, ['dis_opt', 'generator_opt'] now"
    assert (moved in message) == (kind == "renamed"), message


class ResumesAccumulation(GradientAccumulationScheduler):
    """Sets its factor when a fit starts too: a fit resumed inside an epoch (or at its last batch) gets no
    ``on_train_epoch_start`` from Lightning for the epoch it resumes in (the way out the refusal gives)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self.on_train_epoch_start(trainer, pl_module)


def accumulated(tmp_path: Path, data: Resumable | None) -> tuple[L.LightningModule, Any]:
    """A per-step linear warmup over the run's 12 steps (4, 4, 2 and 2 a epoch: 1 batch a step, then 2 from epoch
    2), run uninterrupted on ``data`` with a checkpoint at every step and at every epoch's end."""
    module = declared(SchedulerSpec("linear", start_factor=0.5, interval="step"))()
    callbacks = [
        GradientAccumulationScheduler({0: 1, 2: 2}),
        checkpoints(tmp_path / "steps", every_n_train_steps=1),
        checkpoints(tmp_path / "epochs", every_n_epochs=1),
    ]
    return module, run(module, tmp_path, data=data, callbacks=callbacks)


#: checkpoints written inside epoch 2 (after its first step) and at epoch 1's last batch: the resumed fit trains
#: epoch 2 without Lightning's `on_train_epoch_start`, where the callback sets the factor
INSIDE = {"mid_epoch": "steps/epoch=2-step=9.ckpt", "last_batch": "steps/epoch=1-step=8.ckpt"}


def resumed_data(checkpoint: str) -> Resumable | None:
    """The loader a fit resumed from ``checkpoint``, and the run that wrote it, need for the resumed fit to see the
    uninterrupted run's batches: one that resumes inside an epoch; after an epoch's last batch, a plain one (the
    resumed fit starts the next epoch, which a resumed ``Resumable`` would start as done)."""
    return Resumable() if checkpoint == INSIDE["mid_epoch"] else None


@pytest.mark.parametrize("checkpoint", sorted(INSIDE))
def test_a_resumed_fit_whose_accumulation_lightning_does_not_set_again_is_refused(
    checkpoint: str, tmp_path: Path
) -> None:
    """Was: resumed inside epoch 2, the epoch's rest trained at 1 batch a step without a word (as a hand-written
    module does); resumed at epoch 1's last batch, the whole epoch 2 did, and epoch 3 was refused saying that nothing
    in the run changed ("... `accumulate_grad_batches` as when training started") and to give `total_iters`
    explicitly, which trained on at the wrong accumulation."""
    accumulated(tmp_path, resumed_data(INSIDE[checkpoint]))
    with pytest.raises(ValueError) as err:
        run(
            declared(SchedulerSpec("linear", start_factor=0.5, interval="step"))(),
            tmp_path,
            data=resumed_data(INSIDE[checkpoint]),
            ckpt_path=str(tmp_path / INSIDE[checkpoint]),
            callbacks=[GradientAccumulationScheduler({0: 1, 2: 2})],
        )
    message = str(err.value)
    assert message.startswith(
        "Declared: Expected `trainer.accumulate_grad_batches` to be 2 in epoch 2, as "
        "`GradientAccumulationScheduler({0: 1, 2: 2})` schedules it, but got 1: Lightning does not call the "
        "callback's `on_train_epoch_start`, which sets the factor, for the epoch a fit resumes in from a checkpoint "
        "written inside it or at the last batch of the one before"
    ), message
    assert "Resume from a checkpoint written at an epoch's end" in message, message
    assert "`super().on_train_start(trainer, pl_module)` and then `self.on_train_epoch_start(" in message, (
        message
    )


@pytest.mark.parametrize(
    ("checkpoint", "batches", "callback"),
    [
        (INSIDE["mid_epoch"], 10, ResumesAccumulation),
        (INSIDE["last_batch"], 8, ResumesAccumulation),
        ("epochs/epoch=1-step=8.ckpt", 8, GradientAccumulationScheduler),
    ],
    ids=["mid_epoch_callback_sets_it", "last_batch_callback_sets_it", "epoch_end"],
)
def test_a_resumed_fit_at_the_scheduled_accumulation_continues_exactly(
    checkpoint: str, batches: int, callback: type[GradientAccumulationScheduler], tmp_path: Path
) -> None:
    """The ways out the refusal gives train as the uninterrupted run did."""
    full, whole = accumulated(tmp_path, resumed_data(checkpoint))
    resumed = declared(SchedulerSpec("linear", start_factor=0.5, interval="step"))()
    callbacks = [callback({0: 1, 2: 2})]
    data = resumed_data(checkpoint)
    rest = run(resumed, tmp_path, data=data, ckpt_path=str(tmp_path / checkpoint), callbacks=callbacks)
    assert len(whole.history) == 16
    assert rest.history == whole.history[batches:]
    assert len(set(map(str, whole.history[batches:]))) > 2
    assert_same_weights(full, resumed)


SEEDED = Path(__file__).with_name("_seeded_resume_script.py")
ROOT = Path(__file__).resolve().parents[2]


def in_a_process(mode: str, directory: Path, hash_seed: int) -> dict[str, Any]:
    """What ``_seeded_resume_script.py`` recorded of its run in ``mode``, in a process of that ``hash_seed``."""
    env = {
        **os.environ,
        "PYTHONHASHSEED": str(hash_seed),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, str(SEEDED), mode, str(directory)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    recorded: dict[str, Any] = torch.load(directory / f"{mode}.pt", weights_only=False)
    return recorded


@pytest.fixture(scope="module")
def sequential_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("seeded")
    return directory, in_a_process("full", directory, hash_seed=1)


@pytest.mark.parametrize("record", ["now", "previous"])
def test_a_composite_scheduler_resumes_in_a_process_of_another_hash_seed(
    record: str, sequential_run: tuple[Path, dict[str, Any]]
) -> None:
    """A checkpoint of a ``SequentialLR`` holding a ``CyclicLR``, written in one process, resumes in another (with
    another hash seed, as every real resume) as the run went on; also one whose record the release before wrote
    (was: refused as a changed setup, "scheduler.arguments: 'milestones=[2], schedulers=(ResolvedScheduler(...
    per_group_arguments=frozenset({'max_lr', 'base_lr', ...})...' in the checkpoint, '...' now", the set in another
    order)."""
    directory, full = sequential_run
    torch_sequential = helpers.torch_lrs(
        lambda o: torch.optim.lr_scheduler.SequentialLR(
            o,
            [
                torch.optim.lr_scheduler.LinearLR(o, start_factor=0.5, total_iters=2),
                torch.optim.lr_scheduler.CyclicLR(
                    o, base_lr=0.01, max_lr=0.1, step_size_up=3, cycle_momentum=False
                ),
            ],
            milestones=[2],
        ),
        16,
    )
    assert [step[0][0] for step in full["lrs"]] == torch_sequential
    rest = in_a_process(record, directory, hash_seed=2)
    assert rest["lrs"] == full["lrs"][8:]
    assert rest["weights"].keys() == full["weights"].keys()
    for name, weight in full["weights"].items():
        assert torch.equal(rest["weights"][name], weight), name


def sequential(linear: SchedulerSpec, cyclic_steps: int = 3, milestone: int = 2) -> type[Logged]:
    cyclic = SchedulerSpec(
        "cyclic", base_lr=0.01, max_lr=0.1, step_size_up=cyclic_steps, cycle_momentum=False
    )
    return declared(
        SchedulerSpec("sequential", schedulers=[linear, cyclic], milestones=[milestone], interval="step")
    )


LINEAR = SchedulerSpec("linear", start_factor=0.5, total_iters=2)
AT = "optimizers[0 'optimizer'].scheduler"


@pytest.mark.parametrize(
    ("changed", "line"),
    [
        (
            {"cyclic_steps": 4},
            f"{AT}.schedulers[1].arguments: 'base_lr=0.01, cycle_momentum=False, max_lr=0.1, step_size_up=3' in "
            "the checkpoint, 'base_lr=0.01, cycle_momentum=False, max_lr=0.1, step_size_up=4' now",
        ),
        (
            {"linear": SchedulerSpec("constant", factor=0.5, total_iters=2)},
            f"{AT}.schedulers[0].class: 'torch.optim.lr_scheduler.LinearLR' in the checkpoint, "
            "'torch.optim.lr_scheduler.ConstantLR' now",
        ),
        ({"milestone": 3}, f"{AT}.arguments: 'milestones=[2]' in the checkpoint, 'milestones=[3]' now"),
    ],
    ids=["inner_argument", "inner_class", "milestone"],
)
def test_a_changed_scheduler_inside_a_composite_is_refused_naming_it(
    changed: dict[str, Any], line: str, tmp_path: Path
) -> None:
    """Each inner scheduler of a composite is recorded as its own class and arguments: the refusal names the
    one that changed and how (was: one line holding the reprs of all of them)."""
    run(sequential(LINEAR)(), tmp_path, callbacks=[checkpoints(tmp_path / "ckpt", every_n_epochs=1)])
    with pytest.raises(ValueError, match=r"^Declared: Expected the checkpoint being resumed") as err:
        run(
            sequential(**{"linear": LINEAR, **changed})(),
            tmp_path,
            ckpt_path=str(tmp_path / "ckpt" / "epoch=1-step=8.ckpt"),
        )
    assert line in str(err.value), str(err.value)
    assert "ResolvedScheduler" not in str(err.value), str(err.value)


class Tuned(ConfigurableOptimizersMixin, Classifier):
    """Its own data at ``batch_size``, which ``BatchSizeFinder`` tunes."""

    optimizer = OptimizerSpec(
        "sgd", lr=0.1, momentum=0.9, scheduler=SchedulerSpec("exponential", gamma=0.9, interval="step")
    )

    def __init__(self) -> None:
        super().__init__()
        self.batch_size = 8

    def train_dataloader(self) -> Any:
        return loader(batch_size=self.batch_size)


FINDERS = {
    "LearningRateFinder": lambda: LearningRateFinder(
        num_training_steps=5, update_attr=False, early_stop_threshold=None
    ),
    "BatchSizeFinder": lambda: BatchSizeFinder(mode="power", max_trials=POWER_TRIALS),
}


@pytest.mark.parametrize(
    "finder",
    # before Lightning 2.5.3 the fit after a LearningRateFinder ends its first epoch early (Lightning #21056)
    [pytest.param("LearningRateFinder", marks=needs_lr_finder_fix), "BatchSizeFinder"],
)
def test_a_resumed_fit_whose_checkpoint_a_finder_restored_its_own_in_place_of_is_refused_before_training(
    finder: str, tmp_path: Path
) -> None:
    # Lightning restores the training state after `on_fit_start`, where the finder restores the checkpoint it saved
    # before its trials: that ends the restore of `ckpt_path`, and a hand-written module trains on from step 0
    saving = ModelCheckpoint(dirpath=tmp_path, save_last=True, save_top_k=0)
    options = {**FAST, "default_root_dir": str(tmp_path)}
    first = L.Trainer(
        **{**options, "enable_checkpointing": True}, max_epochs=1, callbacks=[FINDERS[finder](), saving]
    )
    first.fit(Tuned())  # a finder in a fit without `ckpt_path`: as ever
    last = str(tmp_path / "last.ckpt")
    recorder = LrRecorder()
    trainer = L.Trainer(**options, max_epochs=2, callbacks=[recorder, FINDERS[finder]()])
    with pytest.raises(
        ValueError,
        match=rf"^Tuned: Expected the training state of the checkpoint being resumed \(`ckpt_path='{re.escape(last)}'`"
        rf".* but got none of it restored: the `{finder}` callback restored its own checkpoint \(`.*\.ckpt`\) in its "
        r"place in `on_fit_start`.* Run the finder in a fit without `ckpt_path`, or remove it from the callbacks",
    ):
        trainer.fit(Tuned(), ckpt_path=last)
    assert recorder.history == []  # refused before the first step
    # without the finder the same checkpoint resumes: the second epoch, its schedule going on
    resumed = L.Trainer(**options, max_epochs=2, callbacks=[recorder])
    resumed.fit(Tuned(), ckpt_path=last)
    assert resumed.global_step == first.global_step + 4
    assert recorder.of() == pytest.approx([0.1 * 0.9 ** (first.global_step + i) for i in range(4)])
