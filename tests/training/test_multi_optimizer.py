"""Several optimizers: parameter selection, manual optimization and the mixin stepping every scheduler."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.optim import SGD, Adam

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec
from tests.helpers import (
    FAST,
    Classifier,
    Net,
    TwoLosses,
    TwoNets,
    TwoNetsByName,
    assert_same_weights,
    fit,
    fit_resumed,
    loader,
)


class GAN(ConfigurableOptimizersMixin, TwoNetsByName):
    """The seed notes' GAN recipe: generator lr 0.01 decayed per step, discriminator 0.02 per epoch."""

    gen_opt = OptimizerSpec(
        Adam,
        params="model_gen",
        lr=0.01,
        implementation="forloop",
        scheduler=SchedulerSpec("exponential", gamma=0.99, interval="step"),
    )
    dis_opt = OptimizerSpec(
        Adam,
        params="model_dis",
        lr=0.02,
        implementation="forloop",
        scheduler=SchedulerSpec("exponential", gamma=0.99),
    )


def gan(**attributes: Any) -> GAN:
    return type("Custom", (GAN,), attributes)()


def test_gan_switches_to_manual_and_steps_both_schedulers() -> None:
    module = GAN()
    assert module.automatic_optimization is False
    recorder = fit(module, max_epochs=2)  # 4 batches per epoch
    # generator: one ExponentialLR step after each of its optimizer steps
    assert recorder.of(0) == pytest.approx([0.01 * 0.99**i for i in range(8)])
    # discriminator: one step per epoch
    assert recorder.of(1) == pytest.approx([0.02] * 4 + [0.02 * 0.99] * 4)


def test_matches_a_hand_written_manual_reference() -> None:
    class HandWritten(TwoNets):
        def configure_optimizers(self) -> Any:
            gen = Adam(self.model_gen.parameters(), lr=0.01)
            dis = Adam(self.model_dis.parameters(), lr=0.02)
            return [gen, dis], [
                torch.optim.lr_scheduler.ExponentialLR(gen, 0.99),
                torch.optim.lr_scheduler.ExponentialLR(dis, 0.99),
            ]

        def training_step(self, batch: Any, batch_idx: int) -> None:
            super().training_step(batch, batch_idx)
            gen_sch, dis_sch = self.lr_schedulers()
            gen_sch.step()
            if self.trainer.is_last_batch:
                dis_sch.step()

    ours, theirs = GAN(), HandWritten()
    assert fit(ours, max_epochs=3).history == fit(theirs, max_epochs=3).history
    assert_same_weights(ours, theirs)


def test_live_optimizers_by_attribute_and_in_declaration_order() -> None:
    seen: dict[str, Any] = {}

    class Probe(GAN):
        def training_step(self, batch: Any, batch_idx: int) -> None:
            seen["by_name"] = (self.gen_opt, self.dis_opt)
            seen["ordered"] = tuple(self.optimizers())
            super().training_step(batch, batch_idx)

    module = Probe()
    assert isinstance(Probe.gen_opt, OptimizerSpec)  # on the class the attribute is the declaration
    assert isinstance(module.gen_opt, OptimizerSpec)  # and on an instance before a fit
    fit(module, max_epochs=1, limit_train_batches=1)
    assert seen["by_name"] == seen["ordered"]
    # after fit, as `self.optimizers()`: Lightning keeps the module attached to its Trainer (docs/index.md)
    assert (module.gen_opt, module.dis_opt) == tuple(module.optimizers())
    gen, dis = seen["by_name"]
    assert {id(p) for p in gen.optimizer.param_groups[0]["params"]} == {
        id(p) for p in module.model_gen.parameters()
    }
    assert {id(p) for p in dis.optimizer.param_groups[0]["params"]} == {
        id(p) for p in module.model_dis.parameters()
    }


def test_live_optimizer_by_attribute_follows_every_rebuild(tmp_path: Path) -> None:
    """``self.gen_opt`` is cached for speed (training/mixin.py): it must still be the optimizer Lightning steps
    after each event that replaces the optimizers: a second fit of the same module, a resume, a new Trainer,
    and be the declaration again once the module leaves its Trainer; the module still copies."""
    seen: list[tuple[Any, ...]] = []

    class Probe(GAN):
        def training_step(self, batch: Any, batch_idx: int) -> None:
            seen.append((self.gen_opt, self.dis_opt, *self.optimizers(), *self.trainer.optimizers))
            super().training_step(batch, batch_idx)

    def check_last() -> None:
        gen, dis, gen_live, dis_live, gen_raw, dis_raw = seen[-1]
        assert (gen, dis) == (gen_live, dis_live)
        assert (gen.optimizer, dis.optimizer) == (gen_raw, dis_raw)

    module = Probe()
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    fit(module, max_epochs=1, limit_train_batches=2, enable_checkpointing=True, callbacks=[checkpoint])
    check_last()
    first = seen[-1]
    fit(module, max_epochs=1, limit_train_batches=2)  # same module, new Trainer
    check_last()
    assert seen[-1][2].optimizer is not first[2].optimizer
    second = seen[-1]
    fit_resumed(module, str(tmp_path / "last.ckpt"), max_epochs=2, limit_train_batches=2)
    check_last()
    assert seen[-1][2].optimizer is not second[2].optimizer
    # a second `fit` on the same Trainer rebuilds the optimizers with it
    trainer = L.Trainer(**{**FAST, "max_epochs": 1, "limit_train_batches": 1})
    trainer.fit(module, loader())
    third = seen[-1]
    trainer.fit_loop.max_epochs = 2
    trainer.fit(module, loader())
    check_last()
    assert seen[-1][2].optimizer is not third[2].optimizer
    restored = copy.deepcopy(module)  # through `__getstate__`, as pickling
    assert restored.gen_opt is Probe.gen_opt  # no Trainer: the declaration
    module.trainer = None
    assert module.gen_opt is Probe.gen_opt


@pytest.mark.parametrize(
    ("interval", "frequency", "expected"),
    [
        # per step, Lightning's rule: after the steps of batches 2 (batch_idx + 1 = 3) of each 4-batch epoch
        ("step", 3, [0.01] * 3 + [0.005] * 4 + [0.0025]),
        # per epoch, every 2nd epoch (4 batches each): 0.01 for epochs 0-1, then 0.005
        ("epoch", 2, [0.01] * 8),
    ],
)
def test_frequency(interval: str, frequency: int, expected: list[float]) -> None:
    spec = SchedulerSpec("exponential", gamma=0.5, interval=interval, frequency=frequency)
    module = gan(gen_opt=OptimizerSpec(Adam, params="model_gen", lr=0.01, scheduler=spec))
    assert fit(module, max_epochs=2).of(0) == pytest.approx(expected)


def test_epoch_frequency_steps_on_the_right_epoch() -> None:
    spec = SchedulerSpec("exponential", gamma=0.5, frequency=2)
    module = gan(gen_opt=OptimizerSpec(Adam, params="model_gen", lr=0.01, scheduler=spec))
    lrs = fit(module, max_epochs=5, limit_train_batches=1).of(0)
    assert lrs == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025])


def test_plateau_steps_with_its_monitored_metric() -> None:
    class Plateau(GAN):
        dis_opt = OptimizerSpec(
            Adam, params="model_dis", lr=0.02, scheduler=SchedulerSpec("plateau", monitor="flat", patience=1)
        )

        def training_step(self, batch: Any, batch_idx: int) -> None:
            super().training_step(batch, batch_idx)
            self.log("flat", 1.0)  # never improves: reduce by 10x after `patience` + 1 bad epochs

    lrs = fit(Plateau(), max_epochs=5, limit_train_batches=1).of(1)
    # epoch 0 sets the best value; epochs 1 and 2 are bad -> reduced after epoch 2; cooldown 0 -> again after 4
    assert lrs == pytest.approx([0.02, 0.02, 0.02, 0.002, 0.002])


def test_plateau_missing_metric_is_an_error_naming_it() -> None:
    module = gan(
        dis_opt=OptimizerSpec(
            Adam, params="model_dis", lr=0.02, scheduler=SchedulerSpec("plateau", monitor="val_los")
        )
    )
    with pytest.raises(
        ValueError, match=r"Custom\.dis_opt\.scheduler: `ReduceLROnPlateau` monitors `val_los`"
    ):
        fit(module, max_epochs=1, limit_train_batches=1)


def test_plateau_not_strict_warns_and_trains_on() -> None:
    spec = SchedulerSpec("plateau", monitor="missing", strict=False)
    module = gan(dis_opt=OptimizerSpec(Adam, params="model_dis", lr=0.02, scheduler=spec))
    with pytest.warns(RuntimeWarning, match="strict=False"):
        assert fit(module, max_epochs=2, limit_train_batches=1).of(1) == [0.02, 0.02]


def test_user_hooks_without_super_do_not_stop_stepping() -> None:
    class OwnHooks(GAN):
        def on_train_epoch_end(self) -> None:  # no super()
            pass

        def on_train_batch_end(self, *args: Any) -> None:  # no super()
            pass

    recorder = fit(OwnHooks(), max_epochs=2)
    assert recorder.of(0) == pytest.approx([0.01 * 0.99**i for i in range(8)])
    assert recorder.of(1) == pytest.approx([0.02] * 4 + [0.02 * 0.99] * 4)


def test_accumulation_counts_optimizer_steps_not_batches() -> None:
    class Accumulating(GAN):
        def training_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            for net, opt in ((self.model_gen, self.gen_opt), (self.model_dis, self.dis_opt)):
                self.manual_backward(nn.functional.cross_entropy(net(x), y))
                if (batch_idx + 1) % 2 == 0:  # step every 2 batches
                    opt.step()
                    opt.zero_grad()

    lrs = fit(Accumulating(), max_epochs=1).of(0)
    # 4 batches, 2 optimizer steps (after batches 1 and 3): lr changes only after those
    assert lrs == pytest.approx([0.01, 0.01, 0.01 * 0.99, 0.01 * 0.99])


@pytest.mark.parametrize("every_n_train_steps", [None, 6], ids=["epoch_end", "mid_epoch"])
# Lightning warns that the mid-epoch checkpoint's dataloader is not resumable; the test resumes it on purpose
@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
def test_resume_continues_the_exact_trajectory(tmp_path: Path, every_n_train_steps: int | None) -> None:
    # manual optimization: global_step counts both optimizers' steps (8 per epoch of 4 batches).
    # Lightning replays a plain DataLoader from its start after a mid-epoch resume, so every batch is the
    # same here and the weights can be compared too.
    x, y = next(iter(loader(n=8)))
    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x.repeat(4, 1), y.repeat(4)), batch_size=8
    )
    uninterrupted = GAN()
    full = fit(uninterrupted, max_epochs=3, data=data)

    first = GAN()
    checkpoint = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=every_n_train_steps, save_top_k=-1)
    fit(first, max_epochs=2, enable_checkpointing=True, callbacks=[checkpoint], data=data)
    path = sorted(tmp_path.glob("*.ckpt"))[0 if every_n_train_steps else -1]

    resumed = GAN()
    recorder = fit_resumed(resumed, path, data=data, max_epochs=3)
    done = len(full.history) - len(recorder.history)
    assert done > 0
    assert recorder.history == full.history[done:]
    assert_same_weights(resumed, uninterrupted)


def test_single_optimizer_keeps_automatic_optimization() -> None:
    class Single(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(
            SGD, lr=0.1, scheduler=SchedulerSpec("exponential", gamma=0.5, interval="step")
        )

    module = Single()
    assert module.automatic_optimization is True
    assert fit(module, max_epochs=1).of() == pytest.approx([0.1, 0.05, 0.025, 0.0125])


def test_single_optimizer_in_manual_optimization_is_stepped_by_the_mixin() -> None:
    class ManualSingle(ConfigurableOptimizersMixin, TwoNets):
        optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec("exponential", gamma=0.5))

        def training_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            loss = nn.functional.cross_entropy(self.model_gen(x) + self.model_dis(x), y)
            self.optimizer.zero_grad()
            self.manual_backward(loss)
            self.optimizer.step()

    assert fit(ManualSingle(), max_epochs=2, limit_train_batches=2).of() == pytest.approx(
        [0.1, 0.1, 0.05, 0.05]
    )


def test_explicit_automatic_optimization_with_two_optimizers_is_an_error() -> None:
    class Automatic(GAN):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = True

    with pytest.raises(
        ValueError,
        match=r"declares 2 optimizers \(gen_opt, dis_opt\) but sets `automatic_optimization = True`",
    ):
        fit(Automatic(), max_epochs=1)


#: The message for `automatic_optimization = True` on a module the mixin trains in manual optimization.
AUTOMATIC_REFUSED = r"declares 2 optimizers \(gen_opt, dis_opt\) but sets `automatic_optimization = True`"


LOSSES = {
    "gen_opt": OptimizerSpec(SGD, params="model_gen", lr=0.1, loss="gen_loss"),
    "dis_opt": OptimizerSpec(SGD, params="model_dis", lr=0.1, loss="dis_loss"),
}


class AutomaticBase(TwoNetsByName):
    automatic_optimization = True


@pytest.mark.parametrize(
    ("bases", "attributes", "message"),
    [
        ((GAN,), {"automatic_optimization": True}, r"Custom: " + AUTOMATIC_REFUSED),
        (
            (ConfigurableOptimizersMixin, AutomaticBase),
            {"gen_opt": GAN.gen_opt, "dis_opt": GAN.dis_opt},
            r"Custom: " + AUTOMATIC_REFUSED + r" \(in `AutomaticBase`\)",
        ),
        (
            (ConfigurableOptimizersMixin, TwoLosses),
            {**LOSSES, "automatic_optimization": True},
            r"Custom: " + AUTOMATIC_REFUSED,
        ),
        (
            (ConfigurableOptimizersMixin, TwoLosses),
            {"optimizer": OptimizerSpec(SGD, lr=0.1, loss="gen_loss"), "automatic_optimization": True},
            r"Custom: declares `loss` on its optimizer \(optimizer\) but sets `automatic_optimization = True`; "
            r"the mixin writes its training step in manual optimization",
        ),
    ],
    ids=["own", "a-base's", "loss", "one-loss"],
)
def test_automatic_optimization_true_as_a_class_attribute_is_refused_when_the_class_is_defined(
    bases: tuple[type, ...], attributes: dict[str, Any], message: str
) -> None:
    """Lightning honours the class attribute as it does the assignment in ``__init__``: it was hidden by the
    mixin's own (``self.automatic_optimization = False``), and the module trained in manual optimization."""
    with pytest.raises(ValueError, match=message):
        type("Custom", bases, attributes)


def test_automatic_optimization_true_in_init_with_loss_is_an_error() -> None:
    """As for a training step of the module's own (above): the mixin's training step trained in manual
    optimization without a word."""

    class Driven(ConfigurableOptimizersMixin, TwoLosses):
        gen_opt = LOSSES["gen_opt"]
        dis_opt = LOSSES["dis_opt"]

        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = True

    with pytest.raises(ValueError, match=r"Driven: " + AUTOMATIC_REFUSED):
        fit(Driven(), max_epochs=1)

    class Toggled(Driven):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False  # the last word: manual optimization, as the mixin trains

    module = Toggled()
    fit(module, max_epochs=1)
    assert module.trainer.global_step == 8  # 4 batches, both optimizers in each


def test_automatic_optimization_as_a_class_attribute_is_honoured_where_it_can_be() -> None:
    """``True`` beside one optimizer is automatic optimization, as without the mixin; ``False`` (in a base that
    does not write it in ``__init__``) beside two is the manual optimization the mixin chooses."""

    class Single(ConfigurableOptimizersMixin, Classifier):
        automatic_optimization = True
        optimizer = OptimizerSpec(
            SGD, lr=0.1, scheduler=SchedulerSpec("exponential", gamma=0.5, interval="step")
        )

    class HandWritten(Classifier):
        automatic_optimization = True

        def configure_optimizers(self) -> Any:
            optimizer = SGD(self.parameters(), lr=0.1)
            scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.5)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    class SingleAgain(Single):  # a subclass keeps it
        pass

    for ours in (Single(), SingleAgain()):
        theirs = HandWritten()
        assert fit(ours, max_epochs=1).history == fit(theirs, max_epochs=1).history
        assert ours.automatic_optimization is True
        assert_same_weights(ours, theirs)

    class ManualBase(TwoNetsByName):
        automatic_optimization = False

        def __init__(self) -> None:
            L.LightningModule.__init__(self)
            torch.manual_seed(0)
            self.model_gen = Net()
            self.model_dis = Net()

    pair = type(
        "Pair", (ConfigurableOptimizersMixin, ManualBase), {"gen_opt": GAN.gen_opt, "dis_opt": GAN.dis_opt}
    )()
    reference = (
        GAN()
    )  # trained as the hand-written manual loop (test_matches_a_hand_written_manual_reference)
    assert fit(pair, max_epochs=2).history == fit(reference, max_epochs=2).history
    assert_same_weights(pair, reference)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            {"gradient_clip_val": 1.0},
            r"Expected no `gradient_clip_val` .* but got `Trainer\(gradient_clip_val=1\.0\)`",
        ),
        (
            {"accumulate_grad_batches": 2},
            r"Expected `accumulate_grad_batches=1` .* but got `Trainer\(accumulate_grad_batches=2\)`",
        ),
    ],
    ids=["clip", "accumulate"],
)
def test_trainer_settings_manual_optimization_cannot_honour_are_refused_in_the_mixins_words(
    setting: dict[str, Any], message: str
) -> None:
    """Lightning refuses them too, advising a switch to automatic optimization, which the mixin refuses for two
    optimizers; the mixin's message names the optimizers and the two ways that work."""
    with pytest.raises(ValueError, match=r"Custom: " + message + r".*Declare `loss=` on each optimizer"):
        fit(gan(), max_epochs=1, **setting)


class Started(L.Callback):
    """A callback a module returns from ``configure_callbacks``; counts the fits it saw start."""

    def __init__(self) -> None:
        self.fits = 0

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.fits += 1


def own_callbacks(base: type, calls_super: bool) -> type:
    """``base`` with ``configure_callbacks`` overridden as Lightning's docs write it (no ``super()``: Lightning's
    returns ``[]``), or extending the mixin's."""

    def configure_callbacks(self: Any) -> list[L.Callback]:
        extra = super(subclass, self).configure_callbacks() if calls_super else []
        self.started = Started()
        return [*extra, self.started]

    subclass = type("Custom", (base,), {"configure_callbacks": configure_callbacks})
    return subclass


@pytest.mark.parametrize("calls_super", [False, True], ids=["own", "super"])
@pytest.mark.parametrize(
    "setting", [{"gradient_clip_val": 1.0}, {"accumulate_grad_batches": 2}], ids=["clip", "accumulate"]
)
def test_the_mixins_checks_run_beside_a_configure_callbacks_of_the_modules_own(
    setting: dict[str, Any], calls_super: bool
) -> None:
    """An override without ``super()`` switched the mixin's checks off: Lightning's "switch to automatic
    optimization" came instead, which the mixin refuses for two optimizers. The callbacks returned still run."""
    cls = own_callbacks(GAN, calls_super)
    with pytest.raises(ValueError, match=r"^Custom: Expected .*Declare `loss=` on each optimizer"):
        fit(cls(), max_epochs=1, **setting)
    ours, theirs = cls(), GAN()
    assert fit(ours, max_epochs=2).history == fit(theirs, max_epochs=2).history
    assert ours.started.fits == 1
    assert_same_weights(ours, theirs)


def test_validate_with_a_clipping_trainer_is_not_refused() -> None:
    """Lightning checks clipping and accumulation only when fitting; so does the mixin."""
    module = gan()
    module.validation_step = lambda batch, batch_idx: None  # type: ignore[method-assign]
    L.Trainer(**{**FAST, "gradient_clip_val": 1.0}).validate(module, loader())


# -- a Lightning 1.x step, or none ------------------------------------------------------------------------


class OneXStep(L.LightningModule):
    """Lightning 1.x's GAN step: called once per optimizer with its index."""

    def __init__(self) -> None:
        super().__init__()
        self.model_gen, self.model_dis = nn.Linear(8, 4), nn.Linear(8, 4)

    def training_step(self, batch: Any, batch_idx: int, optimizer_idx: int) -> torch.Tensor:
        x, y = batch
        net = self.model_gen if optimizer_idx == 0 else self.model_dis
        return nn.functional.cross_entropy(net(x), y)


def test_a_lightning_1x_step_taking_optimizer_idx_is_refused_at_class_definition() -> None:
    # was Lightning's error when fit started, advising `automatic_optimization = False`, which the mixin had set
    with pytest.raises(TypeError) as two:
        type(
            "Gan",
            (ConfigurableOptimizersMixin, OneXStep),
            {
                "gen_opt": OptimizerSpec(SGD, params="model_gen"),
                "dis_opt": OptimizerSpec(SGD, params="model_dis"),
            },
        )
    assert str(two.value) == (
        "Gan.training_step: Expected `training_step(self, batch, batch_idx)` but got one taking `optimizer_idx`, "
        "Lightning 1.x's call once per optimizer, which Lightning 2 no longer makes (it refuses the argument when "
        '`fit` starts). Instead, declare `loss="<method>"` on every optimizer: the mixin runs that loop (each '
        "optimizer's loss method, backward, step and schedules, in declaration order; "
        "docs/guides/several-optimizers.md), or write it yourself, stepping `self.gen_opt`, `self.dis_opt` in a "
        "`training_step(self, batch, batch_idx)`."
    )
    with pytest.raises(
        TypeError, match=r"Instead, remove `optimizer_idx`: one declared optimizer trains in "
    ):
        type("One", (ConfigurableOptimizersMixin, OneXStep), {"optimizer": OptimizerSpec(SGD, lr=0.1)})


class TwoLinears(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.model_gen, self.model_dis = nn.Linear(8, 4), nn.Linear(8, 4)


class Unstepped(ConfigurableOptimizersMixin, TwoLinears):
    """Two optimizers, no ``training_step`` and no ``loss=``."""

    gen_opt = OptimizerSpec(SGD, params="model_gen", lr=0.1)
    dis_opt = OptimizerSpec(SGD, params="model_dis", lr=0.1)


def test_several_optimizers_without_a_training_step_or_loss_are_refused_when_fit_starts() -> None:
    # was Lightning's "No `training_step()` method defined ... expects ... `configure_optimizers()`"
    message = (
        "Unstepped.training_step: Expected a `training_step` stepping each of the 2 declared optimizers "
        '(`gen_opt`, `dis_opt`), or `loss="<method>"` on every one of them (the mixin then writes the step: '
        "docs/guides/several-optimizers.md), but got neither, so nothing would train."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(Unstepped(), max_epochs=1)
    with pytest.raises(ValueError, match=f"^{re.escape(message.replace('Unstepped', 'Custom'))}$"):
        fit(own_callbacks(Unstepped, calls_super=False)(), max_epochs=1)
