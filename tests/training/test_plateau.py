"""A mistyped plateau ``monitor`` (``val_los``): this package's error, with a near miss from the logged metrics,
at the first point the metric is missing, in automatic optimization (where Lightning raised its own) and in
manual optimization (where a per-step plateau waited silently)."""

from __future__ import annotations

import re
import warnings
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch import nn
from torch.optim import SGD

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec
from lightning_optim.utilities import compat
from tests.helpers import FAST, Classifier, LrRecorder, TwoNetsByName, declared, loader


class Validated(Classifier):
    """Logs ``val_loss`` in validation."""

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", nn.functional.cross_entropy(self.model_gen(x), y))


class HandWritten(Validated):
    """Lightning's own plateau config with the same monitor."""

    monitor, interval, strict = "val_los", "epoch", True

    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
        config = {
            "scheduler": scheduler,
            "monitor": self.monitor,
            "interval": self.interval,
            "strict": self.strict,
        }
        return {"optimizer": optimizer, "lr_scheduler": config}


def trainer(**kwargs: Any) -> L.Trainer:
    return L.Trainer(**{**FAST, "max_epochs": 2, "limit_train_batches": 2, "limit_val_batches": 1, **kwargs})


def failure(module: L.LightningModule) -> tuple[BaseException, int, int]:
    """The error ``fit`` stops with, and where: (global step, epoch)."""
    run = trainer()
    with pytest.raises(Exception) as caught:
        run.fit(module, loader(), loader())
    return caught.value, run.global_step, run.current_epoch


def plateau(monitor: str, interval: str = "epoch", strict: bool = True) -> type[Any]:
    spec = SchedulerSpec("plateau", monitor=monitor, interval=interval, strict=strict)
    return declared(OptimizerSpec(SGD, lr=0.1, scheduler=spec), base=Validated)


@pytest.mark.parametrize("interval", ["epoch", "step"])
def test_automatic_optimization_raises_ours_where_lightning_raised_its_own(interval: str) -> None:
    reference = type("Reference", (HandWritten,), {"interval": interval})()
    theirs, *their_place = failure(reference)
    assert type(theirs) is MisconfigurationException
    assert "ReduceLROnPlateau conditioned on metric val_los which is not available" in str(theirs)

    ours, *our_place = failure(plateau("val_los", interval)())
    assert type(ours) is ValueError
    assert our_place == their_place
    if interval == "epoch":
        assert str(ours) == (
            "Declared.optimizer.scheduler: `ReduceLROnPlateau` monitors `val_los` (did you mean `val_loss`?), which "
            "was not logged by the end of epoch 0. Logged metrics: `train_loss`, `val_loss`. Log it with "
            "`self.log(...)`, correct `monitor`, or pass `strict=False` to skip such steps."
        )
    else:  # before the epoch's validation: no metric of it logged yet
        assert str(ours).startswith(
            "Declared.optimizer.scheduler: `ReduceLROnPlateau` monitors `val_los`, which was not logged by global "
            "step 1 (epoch 0): validation has not run yet in this fit (`val_check_interval=1.0`: its first run "
            "comes after a later training batch). Logged metrics: `train_loss`."
        )


#: validation every 6 training batches counted across epochs of 4
ACROSS_EPOCHS = {"val_check_interval": 6, "check_val_every_n_epoch": None, "limit_train_batches": 4}
AFTER_6_BATCHES = (
    "`val_check_interval=6` with `check_val_every_n_epoch=None`: its first run comes after 6 training batches, "
    "and an epoch has 4"
)
EVERY_EPOCH = "validation every epoch (`check_val_every_n_epoch=1`)"
EACH_EPOCH = (
    "validation in each epoch: a `val_check_interval` of at most 4, the training batches of an epoch (counted "
    "across epochs as now, or within each with `check_val_every_n_epoch=1`)"
)


@pytest.mark.parametrize(
    ("interval", "schedule", "when", "pending", "advice"),
    [
        (
            "epoch",
            {"check_val_every_n_epoch": 2},
            "by the end of epoch 0",
            "`check_val_every_n_epoch=2` skips epoch 0",
            "or validation every epoch (`check_val_every_n_epoch=1`)",
        ),
        (
            "step",
            {"val_check_interval": 0.5, "limit_train_batches": 4},
            "by global step 1 (epoch 0)",
            "`val_check_interval=0.5`: its first run comes after a later training batch",
            "or `interval='epoch'` (updated after the epoch's validation)",
        ),
        (
            "step",
            {"check_val_every_n_epoch": 2},
            "by global step 1 (epoch 0)",
            "`check_val_every_n_epoch=2` skips epoch 0",
            f"or `interval='epoch'` (updated after the epoch's validation) with {EVERY_EPOCH}",
        ),
        (
            "epoch",
            ACROSS_EPOCHS,
            "by the end of epoch 0",
            AFTER_6_BATCHES,
            f"or {EACH_EPOCH}",
        ),
        (
            "step",
            ACROSS_EPOCHS,
            "by global step 1 (epoch 0)",
            AFTER_6_BATCHES,
            f"or `interval='epoch'` (updated after the epoch's validation) with {EACH_EPOCH}",
        ),
    ],
    ids=[
        "every_2_epochs",
        "within_the_epoch",
        "every_2_epochs_per_step",
        "across_epochs",
        "across_epochs_per_step",
    ],
)
def test_a_validation_metric_missing_before_validation_ran_is_named_so(
    interval: str, schedule: dict[str, Any], when: str, pending: str, advice: str
) -> None:
    """A strict plateau on ``val_loss`` stops where Lightning's hand-written config stops, saying that validation
    has not run yet instead of suggesting ``train_loss``, the only metric logged so far."""

    class Right(HandWritten):
        monitor = "val_loss"

    reference = type("Reference", (Right,), {"interval": interval})()
    run = trainer(**schedule)
    with pytest.raises(MisconfigurationException, match=r"metric val_loss which is not available") as theirs:
        run.fit(reference, loader(), loader())
    their_place = run.global_step, run.current_epoch
    run = trainer(**schedule)
    with pytest.raises(ValueError) as ours:
        run.fit(plateau("val_loss", interval)(), loader(), loader())
    assert (run.global_step, run.current_epoch) == their_place
    assert "Available metrics are: ['train_loss']" in str(theirs.value)
    assert str(ours.value) == (
        f"Declared.optimizer.scheduler: `ReduceLROnPlateau` monitors `val_loss`, which was not logged {when}: "
        f"validation has not run yet in this fit ({pending}). Logged metrics: `train_loss`. A plateau on a "
        f"validation metric wants `strict=False` (it skips its updates until validation logs the metric) {advice}."
    )


#: the ways out the refusals above offer, applied: (id, the plateau's interval and Trainer settings refused,
#: what the refusal offers, the interval and Trainer settings of that way out, its ``strict``)
WAYS_OUT = [
    (
        "every_2_epochs",
        "epoch",
        {"check_val_every_n_epoch": 2},
        f"or {EVERY_EPOCH}.",
        "epoch",
        {"check_val_every_n_epoch": 1},
        True,
    ),
    (
        "every_2_epochs_per_step",
        "step",
        {"check_val_every_n_epoch": 2},
        f"or `interval='epoch'` (updated after the epoch's validation) with {EVERY_EPOCH}.",
        "epoch",
        {"check_val_every_n_epoch": 1},
        True,
    ),
    (
        "across_epochs_at_most_4",
        "epoch",
        ACROSS_EPOCHS,
        f"or {EACH_EPOCH}.",
        "epoch",
        {**ACROSS_EPOCHS, "val_check_interval": 4},
        True,
    ),
    (
        "across_epochs_within_each",
        "epoch",
        ACROSS_EPOCHS,
        f"or {EACH_EPOCH}.",
        "epoch",
        {**ACROSS_EPOCHS, "val_check_interval": 4, "check_val_every_n_epoch": 1},
        True,
    ),
    (
        "across_epochs_per_step",
        "step",
        ACROSS_EPOCHS,
        f"or `interval='epoch'` (updated after the epoch's validation) with {EACH_EPOCH}.",
        "epoch",
        {**ACROSS_EPOCHS, "val_check_interval": 3},
        True,
    ),
    (
        "across_epochs_not_strict",
        "epoch",
        ACROSS_EPOCHS,
        "wants `strict=False` (it skips its updates until validation logs the metric)",
        "epoch",
        ACROSS_EPOCHS,
        False,
    ),
]


@pytest.mark.parametrize(
    ("interval", "settings", "offered", "way_interval", "way", "strict"),
    [case[1:] for case in WAYS_OUT],
    ids=[case[0] for case in WAYS_OUT],
)
def test_each_way_out_of_a_validation_not_run_yet_trains_as_lightning(
    interval: str,
    settings: dict[str, Any],
    offered: str,
    way_interval: str,
    way: dict[str, Any],
    strict: bool,
) -> None:
    """Each way out the refusal offers trains, with the lrs of Lightning's hand-written config under it, instead
    of being refused by the package again or by Lightning (``check_val_every_n_epoch=1`` beside
    ``val_check_interval=6`` in epochs of 4 batches)."""
    with pytest.raises(ValueError, match="validation has not run yet") as refused:
        trainer(**settings).fit(plateau("val_loss", interval)(), loader(), loader())
    assert offered in str(refused.value)

    class Right(HandWritten):
        monitor = "val_loss"

    reference = type("Reference", (Right,), {"interval": way_interval, "strict": strict})()
    lrs = []
    for module in (reference, plateau("val_loss", way_interval, strict)()):
        recorder = LrRecorder()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # strict=False: the skipped update's warning
            trainer(max_epochs=3, callbacks=[recorder], **way).fit(module, loader(), loader())
        lrs.append(recorder.of())
    assert lrs[0] == lrs[1]
    assert len(lrs[1]) == 3 * way.get("limit_train_batches", 2)


#: validation once a minute has passed (Lightning 2.6's time-based ``val_check_interval``), which no epoch of
#: these tests lasts
BY_TIME = {"val_check_interval": "00:00:01:00"}
AT_EPOCH_END = (
    "validation at each epoch's end (`val_check_interval=1.0`, the default, with `check_val_every_n_epoch=1`, "
    "instead of a time)"
)


@pytest.mark.skipif(
    compat.release(L.__version__) < (2, 6), reason="a time-based `val_check_interval` needs Lightning 2.6"
)
@pytest.mark.parametrize(
    ("interval", "every", "when", "pending", "advice"),
    [
        (
            "epoch",
            1,
            "by the end of epoch 0",
            "a `val_check_interval` of a time: its first run comes once that time has passed",
            f"or {AT_EPOCH_END}",
        ),
        (
            "step",
            None,
            "by global step 1 (epoch 0)",
            "a `val_check_interval` of a time: its first run comes once that time has passed",
            f"or `interval='epoch'` (updated after the epoch's validation) with {AT_EPOCH_END}",
        ),
        (
            "epoch",
            2,
            "by the end of epoch 0",
            "`check_val_every_n_epoch=2` skips epoch 0",
            f"or {AT_EPOCH_END}",
        ),
    ],
    ids=["per_epoch", "per_step_across_epochs", "every_2_epochs"],
)
def test_a_time_based_validation_not_run_yet_is_named_so_with_a_way_out_that_trains(
    interval: str, every: int | None, when: str, pending: str, advice: str
) -> None:
    """A time-based ``val_check_interval`` (a string): the refusal of a strict plateau before its first
    validation names it and a way out that trains, instead of an ``AttributeError`` (Lightning keeps no
    ``Trainer.val_check_interval`` for it)."""
    run = trainer(**BY_TIME, check_val_every_n_epoch=every)
    with pytest.raises(ValueError) as ours:
        run.fit(plateau("val_loss", interval)(), loader(), loader())
    assert str(ours.value) == (
        f"Declared.optimizer.scheduler: `ReduceLROnPlateau` monitors `val_loss`, which was not logged {when}: "
        f"validation has not run yet in this fit ({pending}). Logged metrics: `train_loss`. A plateau on a "
        f"validation metric wants `strict=False` (it skips its updates until validation logs the metric) {advice}."
    )
    recorder = LrRecorder()
    trainer(max_epochs=3, callbacks=[recorder], val_check_interval=1.0, check_val_every_n_epoch=1).fit(
        plateau("val_loss", "epoch")(), loader(), loader()
    )
    assert recorder.of() == [0.1] * 6


@pytest.mark.skipif(
    compat.release(L.__version__) < (2, 6), reason="a time-based `val_check_interval` needs Lightning 2.6"
)
@pytest.mark.parametrize("interval", ["epoch", "step"])
def test_a_not_strict_plateau_waiting_for_a_time_based_validation_trains_as_lightning(interval: str) -> None:
    """``strict=False`` beside a time-based ``val_check_interval``: the updates before the first validation are
    skipped with a warning, the lrs of Lightning's hand-written config, instead of an ``AttributeError`` at the
    first update."""

    class Right(HandWritten):
        monitor = "val_loss"

    reference = type("Reference", (Right,), {"interval": interval, "strict": False})()
    lrs = []
    for module in (reference, plateau("val_loss", interval, strict=False)()):
        recorder = LrRecorder()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer(max_epochs=3, callbacks=[recorder], **BY_TIME).fit(module, loader(), loader())
        lrs.append(recorder.of())
    assert lrs[0] == lrs[1] == [0.1] * 6


def staged(train_metric: str, val_metric: str, manual: bool = False) -> type[Classifier]:
    """A classifier logging its loss as ``train_metric`` in ``training_step`` and ``val_metric`` in validation,
    stepping its optimizer itself where ``manual``."""

    class Staged(Classifier):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = not manual

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            loss = nn.functional.cross_entropy(self.model_gen(x), y)
            if manual:
                self.optimizers().zero_grad()
                self.manual_backward(loss)
                self.optimizers().step()
            self.log(train_metric, loss)
            return None if manual else loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log(val_metric, nn.functional.cross_entropy(self.model_gen(x), y))

    return Staged


def not_run_yet(monitor: str, logged: str) -> str:
    """The refusal of a strict per-epoch plateau on ``monitor`` under ``check_val_every_n_epoch=2`` at the end of
    epoch 0, where ``training_step`` logged ``logged``."""
    return (
        f"Declared.optimizer.scheduler: `ReduceLROnPlateau` monitors `{monitor}`, which was not logged by the end of "
        "epoch 0: validation has not run yet in this fit (`check_val_every_n_epoch=2` skips epoch 0). Logged "
        f"metrics: `{logged}`. A plateau on a validation metric wants `strict=False` (it skips its updates until "
        "validation logs the metric) or validation every epoch (`check_val_every_n_epoch=1`)."
    )


@pytest.mark.parametrize(
    ("logged", "monitor"), [("loss", "val_loss"), ("acc", "val_acc"), ("loss", "val/loss")]
)
def test_a_bare_training_metric_is_no_near_miss_before_validation_ran(logged: str, monitor: str) -> None:
    """``loss`` logged in ``training_step`` is the training twin of ``val_loss``, as ``train_loss`` is: where
    Lightning refuses its own config for want of validation, the refusal says that validation has not run yet
    instead of 'did you mean `loss`?'."""
    written = {"configure_optimizers": HandWritten.configure_optimizers, "interval": "epoch", "strict": True}
    reference = type("Reference", (staged(logged, monitor),), {**written, "monitor": monitor})()
    run = trainer(check_val_every_n_epoch=2)
    with pytest.raises(MisconfigurationException, match=rf"Available metrics are: \['{logged}'\]"):
        run.fit(reference, loader(), loader())
    their_place = run.global_step, run.current_epoch
    run = trainer(check_val_every_n_epoch=2)
    module = declared(
        OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec("plateau", monitor=monitor)),
        staged(logged, monitor),
    )
    with pytest.raises(ValueError) as ours:
        run.fit(module(), loader(), loader())
    assert (run.global_step, run.current_epoch) == their_place
    assert str(ours.value) == not_run_yet(monitor, logged)


@pytest.mark.parametrize("logged", ["train_loss", "loss"])
def test_manual_strict_plateau_is_refused_before_validation_ran_as_in_automatic(logged: str) -> None:
    """A strict per-epoch plateau on ``val_loss`` under ``check_val_every_n_epoch=2`` stepped by the mixin in
    manual optimization is refused with automatic optimization's message, for the update of epoch 0 (taken at
    the start of epoch 1, after the epoch-end hooks), instead of waiting for validation and training on."""
    spec = OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec("plateau", monitor="val_loss"))
    places = []
    for manual in (False, True):
        run = trainer(check_val_every_n_epoch=2, max_epochs=4)
        with pytest.raises(ValueError) as caught:
            run.fit(declared(spec, staged(logged, "val_loss", manual))(), loader(), loader())
        assert str(caught.value) == not_run_yet("val_loss", logged)
        places.append((run.global_step, run.current_epoch))
    assert places == [(2, 0), (2, 1)]  # manual: before any batch of epoch 1


def test_manual_not_strict_plateau_waits_for_validation_as_in_automatic() -> None:
    """``strict=False``: the updates before the first validation are skipped in both modes, the same lrs."""
    scheduler = SchedulerSpec("plateau", monitor="val_loss", strict=False, patience=0)
    lrs = {}
    for manual in (False, True):
        recorder = LrRecorder()
        module = declared(
            OptimizerSpec(SGD, lr=0.1, scheduler=scheduler), staged("loss", "val_loss", manual)
        )()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer(check_val_every_n_epoch=2, max_epochs=6, callbacks=[recorder]).fit(
                module, loader(), loader()
            )
        lrs[manual] = recorder.of()
    assert lrs[True] == lrs[False]
    assert len(set(lrs[False])) > 1  # the plateau stepped once validation ran


#: the ways a fit never validates: (id, Trainer arguments, the validation samples given to fit (``None``: no
#: validation data), validation_step defined, the setting the refusal names, what would run validation)
NEVER_VALIDATED = [
    (
        "limit_val_batches_0",
        {"limit_val_batches": 0},
        32,
        True,
        "`limit_val_batches=0`",
        "Run validation (a `limit_val_batches` above 0)",
    ),
    (
        "no_val_dataloaders",
        {},
        None,
        True,
        "`fit` has no validation data",
        "Give `fit` validation data (`val_dataloaders`, or a `val_dataloader` of the module or datamodule)",
    ),
    (
        "no_validation_step",
        {},
        32,
        False,
        "the module has no `validation_step`",
        "Log it in a `validation_step`",
    ),
    (
        "no_validation_batches",
        {},
        0,
        True,
        "its validation data has no batches (`num_val_batches=[0]`)",
        "Give `fit` validation data with batches",
    ),
]


def unvalidated(logged: str, has_step: bool, manual: bool = False) -> type[Classifier]:
    """``staged(logged, "val_loss", manual)``, without its ``validation_step`` unless ``has_step``."""
    base = staged(logged, "val_loss", manual)
    return (
        base
        if has_step
        else type("NoValidationStep", (base,), {"validation_step": L.LightningModule.validation_step})
    )


def validation(batches: int | None) -> Any:
    """Validation data of ``batches`` samples, or ``None``."""
    return None if batches is None else loader(n=batches)


def never_runs(logged: str, setting: str, enable: str) -> str:
    """The refusal of a strict per-epoch plateau on ``val_loss`` at the end of epoch 0 of a fit whose validation
    never runs (``setting``), where ``training_step`` logged ``logged``."""
    return (
        f"Declared.optimizer.scheduler: `ReduceLROnPlateau` monitors `val_loss` (did you mean `{logged}`?), which "
        f"was not logged by the end of epoch 0: validation never runs in this fit ({setting}). Logged metrics: "
        f"`{logged}`. {enable}, or monitor a metric the training step logs."
    )


@pytest.mark.parametrize("logged", ["train_loss", "loss"])
@pytest.mark.parametrize(
    ("settings", "data", "has_step", "setting", "enable"),
    [case[1:] for case in NEVER_VALIDATED],
    ids=[case[0] for case in NEVER_VALIDATED],
)
def test_a_validation_metric_in_a_fit_that_never_validates_is_refused_saying_so(
    settings: dict[str, Any], data: int | None, has_step: bool, setting: str, enable: str, logged: str
) -> None:
    """Where validation cannot run in the fit at all, a strict plateau on ``val_loss`` stops where Lightning's
    hand-written config stops (listing the metrics logged), in both modes, saying that validation never runs and
    naming the training twin, instead of that it has not run yet with ``strict=False`` (which would never
    update the lr) or ``check_val_every_n_epoch=1`` (already so) as the ways out."""
    written = {"configure_optimizers": HandWritten.configure_optimizers, "interval": "epoch", "strict": True}
    reference = type("Reference", (unvalidated(logged, has_step),), {**written, "monitor": "val_loss"})()
    run = trainer(**settings)
    with pytest.raises(MisconfigurationException, match=rf"Available metrics are: \['{logged}'\]"):
        run.fit(reference, loader(), validation(data))
    assert (run.global_step, run.current_epoch) == (2, 0)
    spec = OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec("plateau", monitor="val_loss"))
    places = []
    for manual in (False, True):
        run = trainer(**settings)
        with pytest.raises(ValueError) as caught:
            run.fit(
                declared(spec, unvalidated(logged, has_step, manual))(),
                loader(),
                validation(data),
            )
        assert str(caught.value) == never_runs(logged, setting, enable)
        places.append((run.global_step, run.current_epoch))
    assert places == [(2, 0), (2, 1)]  # manual: the epoch-0 update, taken at the start of epoch 1


@pytest.mark.parametrize(
    ("settings", "data", "has_step", "setting"),
    [case[1:5] for case in NEVER_VALIDATED],
    ids=[case[0] for case in NEVER_VALIDATED],
)
def test_not_strict_plateau_in_a_fit_that_never_validates_warns_without_promising_validation(
    settings: dict[str, Any], data: int | None, has_step: bool, setting: str
) -> None:
    """``strict=False`` where validation never runs: the updates are skipped in both modes, the lrs of Lightning's
    hand-written config, and the warning says that validation never runs, not that it will log the metric."""
    written = {"configure_optimizers": HandWritten.configure_optimizers, "interval": "epoch", "strict": False}
    reference = type("Reference", (unvalidated("loss", has_step),), {**written, "monitor": "val_loss"})()
    recorder = LrRecorder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer(max_epochs=3, callbacks=[recorder], **settings).fit(reference, loader(), validation(data))
    expected = recorder.of()
    scheduler = SchedulerSpec("plateau", monitor="val_loss", strict=False, patience=0)
    for manual in (False, True):
        recorder = LrRecorder()
        module = declared(
            OptimizerSpec(SGD, lr=0.1, scheduler=scheduler), unvalidated("loss", has_step, manual)
        )()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer(max_epochs=3, callbacks=[recorder], **settings).fit(module, loader(), validation(data))
        assert recorder.of() == expected == [0.1] * 6
        # automatic: once; manual: at each epoch's update
        ours = {
            re.sub(r"epoch \d", "epoch N", str(w.message)) for w in caught if "Declared." in str(w.message)
        }
        assert ours == {
            "Declared.optimizer.scheduler: `ReduceLROnPlateau` monitors `val_loss` (did you mean `loss`?), which "
            f"was not logged by the end of epoch N: validation never runs in this fit ({setting}). Logged "
            "metrics: `loss`. Skipping this step because `strict=False`."
        }


def test_automatic_not_strict_warns_once_with_the_near_miss_and_trains_as_lightning() -> None:
    reference = type("Reference", (HandWritten,), {"strict": False})()
    module = plateau("val_los", strict=False)()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer().fit(reference, loader(), loader())
        trainer(max_epochs=3).fit(module, loader(), loader())
    ours = [str(w.message) for w in caught if "did you mean `val_loss`" in str(w.message)]
    assert ours == [
        "Declared.optimizer.scheduler: `ReduceLROnPlateau` monitors `val_los` (did you mean `val_loss`?), which "
        "was not logged by the end of epoch 0. Logged metrics: `train_loss`, `val_loss`. Skipping this step "
        "because `strict=False`."
    ]
    assert module.trainer.optimizers[0].param_groups[0]["lr"] == 0.1
    assert module.trainer.lr_scheduler_configs[0].strict is not True  # ours, answering False
    assert not module.trainer.lr_scheduler_configs[0].strict


def test_the_right_monitor_steps_as_lightning() -> None:
    class Right(HandWritten):
        monitor = "val_loss"

    module, reference = plateau("val_loss")(), Right()
    trainer(max_epochs=3).fit(module, loader(), loader())
    trainer(max_epochs=3).fit(reference, loader(), loader())
    for ours, theirs in zip(module.parameters(), reference.parameters()):
        assert torch.equal(ours, theirs)


class GAN(ConfigurableOptimizersMixin, TwoNetsByName):
    gen_opt = OptimizerSpec("adam", params="model_gen", lr=0.01)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", nn.functional.cross_entropy(self.model_gen(x), y))


def gan(interval: str, strict: bool = True) -> type[Any]:
    spec = SchedulerSpec("plateau", monitor="val_los", interval=interval, strict=strict)
    return type(
        "Manual", (GAN,), {"dis_opt": OptimizerSpec("adam", params="model_dis", lr=0.02, scheduler=spec)}
    )


@pytest.mark.parametrize(("interval", "epoch"), [("epoch", 1), ("step", 1)])
def test_manual_optimization_names_the_near_miss(interval: str, epoch: int) -> None:
    """Per epoch: where the epoch's update is taken, after the epoch-end hooks (the module's may log the
    metric), at the start of the next epoch. Per step (which waits for a metric logged later): once an epoch
    whose validation ran has ended, at the start of the next one."""
    error, _, stopped_in = failure(gan(interval)())
    assert type(error) is ValueError
    assert re.match(
        r"Manual\.dis_opt\.scheduler: `ReduceLROnPlateau` monitors `val_los` \(did you mean `val_loss`\?\), which "
        r"was not logged by the end of epoch 0\.",
        str(error),
    )
    assert stopped_in == epoch


def test_manual_per_step_plateau_in_a_one_epoch_run_is_checked_at_the_end() -> None:
    run = trainer(max_epochs=1)
    with pytest.raises(ValueError, match=r"`val_los` \(did you mean `val_loss`\?\)"):
        run.fit(gan("step")(), loader(), loader())


def test_manual_per_step_plateau_not_strict_warns_and_trains_on() -> None:
    with pytest.warns(RuntimeWarning, match=r"did you mean `val_loss`.*strict=False"):
        trainer(max_epochs=2).fit(gan("step", strict=False)(), loader(), loader())
