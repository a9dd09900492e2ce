"""Nothing silent: manual optimization stops on a step that trains nothing or a schedule stepped twice, and
one scheduler declaration gives one lr trajectory in automatic and manual optimization."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins import MixedPrecision
from torch import nn
from torch.optim import SGD, Adam

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec, preview_schedule
from tests.helpers import Classifier, TwoNets, assert_same_weights, fit, fit_resumed, loader, torch_lrs

# -- one declaration, one trajectory -----------------------------------------------------------------

BATCHES = 5  # odd, so epochs end inside an accumulation window and between frequency multiples
EPOCHS = 3


def automatic(spec: SchedulerSpec) -> type[Any]:
    return type(
        "Automatic",
        (ConfigurableOptimizersMixin, Classifier),
        {"optimizer": OptimizerSpec(SGD, lr=1.0, scheduler=spec)},
    )


class _ManualBase(Classifier):
    """One optimizer stepped by hand; accumulating over ``accumulate`` batches as Lightning does (the
    epoch's last batch steps too)."""

    accumulate = 1

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        opt: Any = self.optimizers()
        self.manual_backward(nn.functional.cross_entropy(self.model_gen(x), y) / self.accumulate)
        if (batch_idx + 1) % self.accumulate == 0 or self.trainer.is_last_batch:
            opt.step()
            opt.zero_grad()


def manual(spec: SchedulerSpec, accumulate: int) -> type[Any]:
    attributes = {"optimizer": OptimizerSpec(SGD, lr=1.0, scheduler=spec), "accumulate": accumulate}
    return type("Manual", (ConfigurableOptimizersMixin, _ManualBase), attributes)


def stepping_lrs(history: list[float], accumulate: int) -> list[float]:
    """The lr of each optimizer step: the one recorded at the start of the window's last batch."""
    steps = [b for b in range(BATCHES) if (b + 1) % accumulate == 0 or b == BATCHES - 1]
    return [history[epoch * BATCHES + b] for epoch in range(EPOCHS) for b in steps]


CASES = [
    # frequency 3 with accumulate 2 matches no stepping batch (1, 3, 4): refused, below
    *[("exponential", f, a) for f in (1, 2, 3) for a in (1, 2) if (f, a) != (3, 2)],
    # a derived length (T_max) counts scheduler updates by the same rule; manual assumes a step per batch
    *[("cosine", f, 1) for f in (1, 2, 3)],
]


@pytest.mark.parametrize(("scheduler", "frequency", "accumulate"), CASES)
def test_automatic_manual_and_preview_agree(scheduler: str, frequency: int, accumulate: int) -> None:
    kwargs: dict[str, Any] = {"gamma": 0.5} if scheduler == "exponential" else {}
    spec = SchedulerSpec(scheduler, interval="step", frequency=frequency, **kwargs)
    data = loader(n=8 * BATCHES)
    auto = fit(automatic(spec)(), data=data, max_epochs=EPOCHS, accumulate_grad_batches=accumulate).of()
    hand = fit(manual(spec, accumulate)(), data=data, max_epochs=EPOCHS).of()
    assert len(auto) == len(hand) == BATCHES * EPOCHS
    assert hand == auto
    previewed = preview_schedule(
        automatic(spec), max_epochs=EPOCHS, steps_per_epoch=BATCHES, accumulate_grad_batches=accumulate
    )["lr-optimizer"]
    assert stepping_lrs(auto, accumulate) == previewed
    if accumulate == 1:
        assert preview_schedule(manual(spec, 1), max_epochs=EPOCHS, steps_per_epoch=BATCHES) == {
            "lr-optimizer": hand
        }


def test_a_frequency_matching_no_stepping_batch_is_refused_when_fit_starts() -> None:
    # Lightning updates when `(batch_idx + 1) % 3 == 0`; with accumulation 2 of 5 batches the optimizer steps at
    # batch_idx 1, 3 and 4, so it would never update the scheduler (the lr would stay 1.0 for the whole run)
    spec = SchedulerSpec("exponential", gamma=0.5, interval="step", frequency=3)
    with pytest.raises(ValueError, match=r"`ExponentialLR` would never be updated"):
        fit(automatic(spec)(), data=loader(n=8 * BATCHES), max_epochs=EPOCHS, accumulate_grad_batches=2)


# -- two optimizers, a loss returned, nothing stepped ------------------------------------------------


class GAN(ConfigurableOptimizersMixin, TwoNets):
    gen_opt = OptimizerSpec(
        Adam, params="model_gen", lr=0.01, scheduler=SchedulerSpec("exponential", gamma=0.5, interval="step")
    )
    dis_opt = OptimizerSpec(
        Adam, params="model_dis", lr=0.02, scheduler=SchedulerSpec("exponential", gamma=0.5)
    )

    def loss(self, net: nn.Module, batch: Any) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(net(x), y)


def test_a_step_written_for_automatic_optimization_is_an_error() -> None:
    class Automatic(GAN):
        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            return self.loss(self.model_gen, batch) + self.loss(self.model_dis, batch)

    with pytest.raises(ValueError) as error:
        fit(Automatic(), max_epochs=1)
    message = re.sub(r"[\w.]*<locals>\.", "", str(error.value))  # the class is local to this test
    assert message.startswith(
        "Automatic.training_step: returned a loss, but in the first training batch no declared optimizer "
        "(`gen_opt`, `dis_opt`) stepped and no backward ran, so nothing would train."
    )
    assert "Automatic declares 2 optimizers, so the mixin switched to manual optimization" in message
    assert "opt = self.gen_opt\n        opt.zero_grad()\n        self.manual_backward(loss)\n" in message
    assert message.endswith("        opt.step()\nand likewise for `dis_opt`.")


def test_a_single_optimizer_in_manual_optimization_returning_a_loss_is_an_error() -> None:
    class Forgot(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(SGD, lr=0.1)

        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False

    with pytest.raises(ValueError, match=r"Forgot sets `automatic_optimization = False`"):
        fit(Forgot(), max_epochs=1)


class Alternating(GAN):
    """Discriminator every batch, generator every 2nd batch (not the first); returns the loss to log it."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self.loss(self.model_dis, batch)
        self.dis_opt.zero_grad()
        self.manual_backward(loss)
        self.dis_opt.step()
        if batch_idx % 2 == 1:
            gen_loss = self.loss(self.model_gen, batch)
            self.gen_opt.zero_grad()
            self.manual_backward(gen_loss)
            self.gen_opt.step()
        return loss


class Accumulating(GAN):
    """Both optimizers step every 2nd batch only, so nothing steps in the first batch."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self.loss(self.model_gen, batch) + self.loss(self.model_dis, batch)
        self.manual_backward(loss)
        if batch_idx % 2 == 1:
            for opt in (self.gen_opt, self.dis_opt):
                opt.step()
                opt.zero_grad()
        return loss


@pytest.mark.parametrize("module", [Alternating, Accumulating])
def test_legitimate_manual_steps_are_not_refused(module: type[GAN]) -> None:
    model = module()
    before = [p.detach().clone() for p in model.parameters()]
    recorder = fit(model, max_epochs=1)
    # the generator steps after batches 1 and 3: its per-step scheduler follows those steps only
    assert recorder.of(0) == pytest.approx([0.01, 0.01, 0.005, 0.005])
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


# -- a scheduler stepped by the module as well as by the mixin ---------------------------------------


class Stepping(GAN):
    def training_step(self, batch: Any, batch_idx: int) -> None:
        for net, opt in ((self.model_gen, self.gen_opt), (self.model_dis, self.dis_opt)):
            opt.zero_grad()
            self.manual_backward(self.loss(net, batch))
            opt.step()


def test_a_per_step_scheduler_stepped_by_the_module_is_an_error() -> None:
    class AlsoSteps(Stepping):
        def training_step(self, batch: Any, batch_idx: int) -> None:
            super().training_step(batch, batch_idx)
            self.lr_schedulers()[0].step()  # type: ignore[index]

    with pytest.raises(ValueError) as error:
        fit(AlsoSteps(), max_epochs=1)
    assert (
        str(error.value)
        .split("<locals>.")[-1]
        .startswith(
            "AlsoSteps.gen_opt.scheduler: `ExponentialLR` was stepped 1 time(s) outside the mixin (noticed at the "
            "end of training batch 0). In manual optimization the mixin steps every declared scheduler itself "
            "(interval='step', frequency=1: after every `gen_opt` step on a batch with (batch_idx + 1) % 1 == 0)"
        )
    )


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before:UserWarning")
def test_a_scheduler_stepped_before_the_optimizer_is_noticed_before_the_mixin_steps() -> None:
    class StepsFirst(Stepping):
        def training_step(self, batch: Any, batch_idx: int) -> None:
            self.lr_schedulers()[0].step()  # type: ignore[index]
            super().training_step(batch, batch_idx)

    with pytest.raises(
        ValueError, match=r"StepsFirst.gen_opt.scheduler: .* \(noticed before the mixin's own"
    ):
        fit(StepsFirst(), max_epochs=1)


def test_a_per_epoch_scheduler_stepped_in_on_train_epoch_end_is_an_error() -> None:
    class EpochEnd(Stepping):
        def on_train_epoch_end(self) -> None:
            self.lr_schedulers()[1].step()  # type: ignore[index]

    with pytest.raises(ValueError, match=r"EpochEnd.dis_opt.scheduler: `ExponentialLR` was stepped 1 time"):
        fit(EpochEnd(), max_epochs=1)


def test_the_mixin_alone_is_not_refused() -> None:
    recorder = fit(Stepping(), max_epochs=2)
    assert recorder.of(0) == pytest.approx([0.01 * 0.5**i for i in range(8)])
    assert recorder.of(1) == pytest.approx([0.02] * 4 + [0.01] * 4)


# -- an optimizer stepped more than once a batch, with a length derived from the run -------------------


#: how the refusal of an optimizer stepped other than once a batch under a derived length ends
LET_THE_MIXIN_STEP = (
    "or declare `loss=` on the optimizers, so the mixin steps them and counts their steps (with `every=` or "
    "`Trainer(accumulate_grad_batches=...)`, see docs/guides/several-optimizers.md)."
)


class Critic(_ManualBase):
    """Manual optimization stepping its optimizer ``steps`` times a batch (a critic's inner iterations)."""

    steps = 2

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        opt: Any = self.optimizers()
        for _ in range(self.steps):
            opt.zero_grad()
            self.manual_backward(nn.functional.cross_entropy(self.model_gen(x), y))
            opt.step()


def critic(scheduler: SchedulerSpec, steps: int = 2) -> type[Any]:
    attributes = {"optimizer": OptimizerSpec(SGD, lr=0.1, scheduler=scheduler), "steps": steps}
    return type("Critic", (ConfigurableOptimizersMixin, Critic), attributes)


def test_more_steps_a_batch_than_a_derived_length_counts_is_an_error() -> None:
    # was silent: `T_max` counts the run's 8 batches, the loop steps 16 times, the cosine climbs back to 0.1
    message = (
        "Critic.optimizer.scheduler: Expected `optimizer` to step once per training batch, as the run's length "
        "derived for `CosineAnnealingLR` counts in manual optimization, but got 2 steps in training batch 0: the "
        "schedule would end after 1/2 of the run. Give `T_max` explicitly, " + LET_THE_MIXIN_STEP
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(critic(SchedulerSpec("cosine", interval="step"))(), max_epochs=2)


@pytest.mark.parametrize(
    ("scheduler", "steps"),
    [
        (SchedulerSpec("cosine", interval="step", T_max=16), 2),  # the length given: the user counted
        (SchedulerSpec("cosine", interval="epoch"), 2),  # per epoch: the epochs are counted
        (SchedulerSpec("cosine", interval="step"), 1),  # once a batch: as derived
    ],
    ids=["given", "per-epoch", "once"],
)
def test_what_the_steps_a_batch_check_leaves_alone(scheduler: SchedulerSpec, steps: int) -> None:
    lrs = fit(critic(scheduler, steps)(), max_epochs=2).of()
    assert len(lrs) == 8 and lrs[-1] < lrs[0]


# -- an optimizer stepped other than once a batch, at any batch -------------------------------------------


def test_accumulating_by_hand_under_a_derived_length_is_an_error_at_the_first_batch_without_a_step() -> None:
    # was silent with max_epochs=1 (a `T_max` of 4 batches over 2 steps: the cosine never annealed), and with
    # max_epochs=2 an error at epoch 1 saying that the run changed
    message = (
        "Manual.optimizer.scheduler: Expected `optimizer` to step once per training batch, as the run's length "
        "derived for `CosineAnnealingLR` counts in manual optimization, but got 0 steps in training batch 0: "
        "the schedule would still be short of its end when the run ends. Give `T_max` explicitly, "
        + LET_THE_MIXIN_STEP
    )
    for epochs in (1, 2):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            fit(manual(SchedulerSpec("cosine", interval="step"), 2)(), max_epochs=epochs)


def test_a_generator_stepped_every_second_batch_under_a_derived_length_is_an_error() -> None:
    cosine = SchedulerSpec("cosine", interval="step", warmup=0.25)
    cls = type(
        "EveryOther", (Alternating,), {"gen_opt": OptimizerSpec(Adam, params="model_gen", scheduler=cosine)}
    )
    message = (
        "EveryOther.gen_opt.scheduler: Expected `gen_opt` to step once per training batch, as the run's length "
        "derived for `CosineAnnealingLR` counts in manual optimization, but got 0 steps in training batch 0: "
        "the schedule would still be short of its end when the run ends. Give `T_max` explicitly and give "
        "`warmup` as an int, " + LET_THE_MIXIN_STEP
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(cls(), max_epochs=2)


class ExtraStep(Critic):
    """Steps once a batch, twice at batch 2 (a second critic iteration now and then)."""

    def training_step(self, batch: Any, batch_idx: int) -> None:
        self.steps = 2 if batch_idx == 2 else 1
        super().training_step(batch, batch_idx)


def test_an_extra_step_after_the_first_batch_under_a_derived_length_is_an_error() -> None:
    cls = type(
        "ExtraStep",
        (ConfigurableOptimizersMixin, ExtraStep),
        {"optimizer": OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec("cosine", interval="step"))},
    )
    message = (
        "ExtraStep.optimizer.scheduler: Expected `optimizer` to step once per training batch, as the run's "
        "length derived for `CosineAnnealingLR` counts in manual optimization, but got 4 steps in the 3 "
        "training batches of this fit up to batch 2 of epoch 0: the schedule would end after 3/4 of the run. "
        "Give `T_max` explicitly, " + LET_THE_MIXIN_STEP
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(cls(), max_epochs=2)


class OverflowingCritic(Alternating):
    """The generator every 2nd batch, the discriminator every batch with a loss that overflows in the run's first
    two batches: steps the ``GradScaler`` skips, which may be the generator's as far as the steps asked for tell."""

    def loss(self, net: nn.Module, batch: Any) -> torch.Tensor:
        loss = super().loss(net, batch)
        first = self.current_epoch == 0 and self.trainer.fit_loop.epoch_loop.batch_idx < 2
        return loss * float("inf") if net is self.model_dis and first else loss


def test_steps_skipped_by_the_scaler_make_up_no_more_than_their_count() -> None:
    # the two skipped steps may be the generator's in the first 4 batches; at the 5th they cannot make up its 3
    # missing steps. Was an error at epoch 1 start, by `global_step` shared out evenly between the optimizers
    cosine = SchedulerSpec("cosine", interval="step")
    cls = type(
        "Critic", (OverflowingCritic,), {"gen_opt": OptimizerSpec(SGD, params="model_gen", scheduler=cosine)}
    )
    scaler = MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))
    message = (
        "Critic.gen_opt.scheduler: Expected `gen_opt` to step once per training batch, as the run's length "
        "derived for `CosineAnnealingLR` counts in manual optimization, but got 4 steps in the 5 training "
        "batches of this fit up to batch 0 of epoch 1: the schedule would still be short of its end when the run "
        "ends. Give `T_max` explicitly, " + LET_THE_MIXIN_STEP
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(cls(), max_epochs=2, plugins=[scaler])


def n_critic() -> type[Any]:
    """The discriminator stepped every batch under a cosine whose length the run gives, the generator every 2nd
    batch without a schedule (a WGAN's ``n_critic=2``)."""
    cosine = SchedulerSpec("cosine", interval="step")
    return type(
        "NCritic",
        (Alternating,),
        {
            "gen_opt": OptimizerSpec(Adam, params="model_gen", lr=0.01),
            "dis_opt": OptimizerSpec(Adam, params="model_dis", lr=0.02, scheduler=cosine),
        },
    )


def test_an_optimizer_stepped_every_batch_beside_one_stepped_every_second_follows_its_derived_length() -> (
    None
):
    # was an error at epoch 1: its steps were Lightning's `global_step` (4 + 2 an epoch) shared out evenly, 3
    lrs = fit(n_critic()(), max_epochs=3)
    cosine = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=12), 12, lr=0.02)
    assert lrs.of(1) == pytest.approx(cosine, abs=1e-12)  # 4 batches x 3 epochs
    assert lrs.of(0) == [0.01] * 12


@pytest.mark.parametrize(
    ("every_n_train_steps", "checkpoint"),
    [(9, "epoch=1-step=9.ckpt"), (None, "epoch=0-step=6.ckpt")],  # after batch 1 of epoch 1; epoch 0's end
    ids=["mid-epoch", "epoch-end"],
)
# Lightning warns that the mid-epoch checkpoint's dataloader is not resumable; the test resumes it on purpose
@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
def test_such_a_run_resumed_goes_on_as_the_uninterrupted_one(
    every_n_train_steps: int | None, checkpoint: str, tmp_path: Path
) -> None:
    # Lightning replays a plain DataLoader from its start after a mid-epoch resume: every batch is the same here,
    # so the weights can be compared too
    x, y = next(iter(loader(n=8)))
    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x.repeat(4, 1), y.repeat(4)), batch_size=8
    )
    whole = n_critic()()
    saving = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=every_n_train_steps, save_top_k=-1)
    uninterrupted = fit(whole, data=data, max_epochs=3, callbacks=[saving], enable_checkpointing=True)
    resumed_module = n_critic()()
    resumed = fit_resumed(resumed_module, str(tmp_path / checkpoint), data=data, max_epochs=3)
    assert 0 < len(resumed.history) < len(uninterrupted.history)
    assert uninterrupted.history[-len(resumed.history) :] == resumed.history
    assert_same_weights(whole, resumed_module)


def test_such_a_run_under_max_steps_is_an_error_at_the_first_batch_short_of_its_steps() -> None:
    # was silent: `T_max` counted max_steps=12 shared out as 6 batches, but with the generator every 2nd batch
    # the run takes 8, and the discriminator's cosine passed its end and climbed back
    message = (
        "NCritic.dis_opt.scheduler: Expected each of the 2 declared optimizers (`gen_opt`, `dis_opt`) to step once "
        "per training batch, as the run's length derived for `CosineAnnealingLR` counts under `max_steps=12` "
        "(Lightning's `global_step` counts every optimizer's steps together, so the run ends after 6 batches by "
        "that count), but got 1 step of them all in the 1 training batches of this fit up to batch 0 of epoch 0: "
        "the run would go on past the schedule's end. Give `T_max` explicitly, or end the run with `max_epochs`, "
        "or declare `loss=` and `every=` on the optimizers, so the mixin counts each one's steps "
        "(docs/guides/several-optimizers.md)."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(n_critic()(), max_epochs=5, max_steps=12)
    # `max_epochs` ending the run first: the derived length counts the batches, and it trains
    assert len(fit(n_critic()(), max_epochs=2, max_steps=100).of(1)) == 8


def end_epoch_0_after_2_batches(self: Any, batch: Any, batch_idx: int) -> int | None:
    """An ``on_train_batch_start`` ending epoch 0 after its first 2 batches, as Lightning allows (-1)."""
    return -1 if self.current_epoch == 0 and batch_idx == 2 else None


@pytest.mark.parametrize("base", [_ManualBase, Classifier], ids=["manual", "automatic"])
def test_an_epoch_cut_short_is_named_at_the_next_epoch_start(base: type[Any]) -> None:
    # the error blamed a `GradScaler` or `skip_nonfinite` the run does not have
    cosine = SchedulerSpec("cosine", interval="step")
    attributes = {
        "optimizer": OptimizerSpec(SGD, lr=0.1, scheduler=cosine),
        "on_train_batch_start": end_epoch_0_after_2_batches,
    }
    cls = type("CutShort", (ConfigurableOptimizersMixin, base), attributes)
    message = (
        "CutShort.optimizer.scheduler: `CosineAnnealingLR` was built with `T_max=8`, derived from the run when "
        "training started, but at epoch 1 its optimizer stands at step 2 by Lightning's `global_step` where that "
        "length counted 4, though nothing in the run changed (training batches per epoch, `max_epochs`, "
        "`max_steps`, `accumulate_grad_batches` as when training started): epoch 0 ended after 2 of its 4 "
        "training batches (an `on_train_batch_start` hook returned -1, or the train dataloader ran out), where a "
        "length derived from the run counts every batch of every epoch. The schedule has already taken steps of "
        "the counted length, so it cannot follow. Fix: give `T_max` explicitly."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        fit(cls(), max_epochs=2)


class HandWrittenAccumulating(_ManualBase):
    """The reference: torch's cosine with the length given, stepped after each step of a loop accumulating
    over 2 batches (the epoch's last batch steps too)."""

    accumulate = 2

    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=1.0)
        self.cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=9)
        return optimizer

    def training_step(self, batch: Any, batch_idx: int) -> None:
        stepped = (batch_idx + 1) % 2 == 0 or self.trainer.is_last_batch
        super().training_step(batch, batch_idx)
        if stepped:
            self.cosine.step()


def test_accumulating_by_hand_with_the_length_given_trains_as_the_hand_written_loop() -> None:
    data = loader(n=8 * BATCHES)  # 5 batches: steps after batches 1, 3 and 4, 9 in 3 epochs
    ours = manual(SchedulerSpec("cosine", interval="step", T_max=9), 2)()
    reference = HandWrittenAccumulating()
    mine = fit(ours, data=data, max_epochs=EPOCHS).of()
    theirs = fit(reference, data=data, max_epochs=EPOCHS).of()
    assert mine == theirs and len(set(mine)) == 9
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), reference.parameters()))


# -- the module's own members ----------------------------------------------------------------------------


def test_a_declaration_hiding_a_submodule_of_the_same_name_is_refused() -> None:
    """``self.generator = nn.Linear(...)`` under a declared ``generator`` optimizer: the class attribute wins,
    so ``self.generator(x)`` would call the optimizer (a parameter or buffer of that name torch refuses)."""

    class Hidden(ConfigurableOptimizersMixin, Classifier):
        generator = OptimizerSpec(SGD, lr=0.1)

        def __init__(self) -> None:
            super().__init__()
            self.generator = nn.Linear(2, 2)

    message = (
        "Hidden.generator: Expected `generator` to name only the declared optimizer but `__init__` also "
        "assigns a submodule to `self.generator`"
    )
    with pytest.raises(ValueError, match=re.escape(message) + r".*e\.g\. `generator_opt`"):
        fit(Hidden())


def test_an_init_that_skips_the_mixins_is_named_not_blamed_on_automatic_optimization() -> None:
    class Skips(ConfigurableOptimizersMixin, TwoNets):
        gen_opt = OptimizerSpec(SGD, params="model_gen", lr=0.1)
        dis_opt = OptimizerSpec(SGD, params="model_dis", lr=0.1)

        def __init__(self) -> None:
            TwoNets.__init__(self)  # an older style: the mixin's `__init__` does not run
            self.automatic_optimization = True

    with pytest.raises(TypeError, match=r"Skips: Expected `ConfigurableOptimizersMixin.__init__` to run"):
        fit(Skips())
