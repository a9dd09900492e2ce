"""Lightning's step hooks with ``loss=`` (``training/driven.py``): called where Lightning's automatic loop calls
them, or refused at class definition where the mixin's training step cannot honour them; never skipped silently.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import pytest
import torch
from torch import nn
from torch.optim import SGD

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec
from tests.helpers import Classifier, Net, TwoLosses, TwoNets, TwoNetsByName, assert_same_weights, fit

EXPONENTIAL = SchedulerSpec("exponential", gamma=0.5, interval="step")


class Calls(L.Callback):
    """Records each ``on_before_zero_grad`` (callback and module), with the batch and the optimizer's index."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, int]] = []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self.batch_idx = batch_idx

    def record(self, who: str, trainer: L.Trainer, optimizer: Any) -> None:
        index = next(
            i for i, o in enumerate(trainer.optimizers) if o is optimizer
        )  # the torch optimizer itself
        self.events.append((who, self.batch_idx, index))

    def on_before_zero_grad(self, trainer: L.Trainer, pl_module: Any, optimizer: Any) -> None:
        self.record("callback", trainer, optimizer)


class RecordsZeroGrad:
    calls: Calls

    def on_before_zero_grad(self, optimizer: Any) -> None:
        self.calls.record("module", self.trainer, optimizer)  # type: ignore[attr-defined]


class Hand(RecordsZeroGrad, Classifier):
    def configure_optimizers(self) -> Any:
        return SGD(self.parameters(), lr=0.1)


class Single(RecordsZeroGrad, ConfigurableOptimizersMixin, L.LightningModule):
    optimizer = OptimizerSpec(SGD, lr=0.1, loss="classify")

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model_gen = Net()

    def classify(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.model_gen(x), y)


class Gan(Single):
    optimizer = None  # type: ignore[assignment]
    gen_opt = OptimizerSpec(SGD, params="model_gen", lr=0.1, loss="classify")
    dis_opt = OptimizerSpec(SGD, params="model_dis", lr=0.1, loss="critic")

    def __init__(self) -> None:
        super().__init__()
        self.model_dis = Net()

    def critic(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.model_dis(x), y)


def zero_grad_calls(module: Any, accumulate: int) -> list[tuple[str, int, int]]:
    calls = module.calls = Calls()
    fit(module, callbacks=[calls], max_epochs=1, accumulate_grad_batches=accumulate)
    return calls.events


@pytest.mark.parametrize("accumulate", [1, 3])
def test_on_before_zero_grad_runs_as_in_automatic_optimization(accumulate: int) -> None:
    """Callbacks first, then the module, with the torch optimizer, at the first batch of each window (4
    batches: with 3 a window, batches 0 and 3); with two optimizers, for each in declaration order."""
    expected = zero_grad_calls(Hand(), accumulate)
    assert expected  # the reference calls it
    assert zero_grad_calls(Single(), accumulate) == expected
    pairs = [(who, batch, index) for who, batch, _ in expected for index in (0, 1)]
    assert sorted(zero_grad_calls(Gan(), accumulate), key=lambda e: (e[1], e[2])) == sorted(
        pairs, key=lambda e: (e[1], e[2])
    )


def warm_up(self: Any, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None) -> None:
    optimizer.step(closure=optimizer_closure)


def zero_grad(self: Any, epoch: int, batch_idx: int, optimizer: Any) -> None:
    optimizer.zero_grad()


@pytest.mark.parametrize(
    ("hook", "body", "instead"),
    [
        ("optimizer_step", warm_up, "on_before_optimizer_step"),
        ("optimizer_zero_grad", zero_grad, "on_before_zero_grad"),
    ],
)
def test_a_step_override_with_loss_is_refused_at_class_definition(hook: str, body: Any, instead: str) -> None:
    with pytest.raises(TypeError, match=rf"Gan.{hook}: Expected no `{hook}` override .*`loss`.*`{instead}`"):
        type("Gan", (Single,), {hook: body})
    base = type("Base", (L.LightningModule,), {hook: body})  # inherited from the module's base class too
    with pytest.raises(TypeError, match=rf"`{hook}` override .* got one in `Base`"):
        type("Gan", (ConfigurableOptimizersMixin, base), {"optimizer": OptimizerSpec(SGD, loss="classify")})


def scheduler_step(self: Any, scheduler: Any, metric: Any) -> None:
    scheduler.step()


def test_lr_scheduler_step_is_refused_where_the_mixin_steps_the_schedulers() -> None:
    """In manual optimization (``loss=``, several optimizers) the mixin steps the schedulers, never through it."""
    message = (
        r"Expected no `lr_scheduler_step` override .* manual optimization .* steps every declared scheduler"
    )
    with pytest.raises(TypeError, match=rf"Gan.lr_scheduler_step: {message}"):
        type("Gan", (Single,), {"lr_scheduler_step": scheduler_step})
    pair = {
        "gen_opt": OptimizerSpec(SGD, params="model_gen", scheduler=EXPONENTIAL),
        "dis_opt": OptimizerSpec(SGD, params="model_dis"),
        "lr_scheduler_step": scheduler_step,
    }
    with pytest.raises(TypeError, match=message):
        type("Pair", (ConfigurableOptimizersMixin, TwoNetsByName), pair)
    # one optimizer: manual only if the module says so, when `fit` starts
    manual = {"optimizer": OptimizerSpec(SGD, scheduler=EXPONENTIAL), "lr_scheduler_step": scheduler_step}
    module = type("Manual", (ConfigurableOptimizersMixin, TwoNetsByName), manual)()
    with pytest.raises(TypeError, match=rf"Manual.lr_scheduler_step: {message}"):
        fit(module, max_epochs=1)


def clip_by_value(
    self: Any, optimizer: Any, gradient_clip_val: Any = None, gradient_clip_algorithm: Any = None
) -> None:
    self.clip_gradients(optimizer, gradient_clip_val=0.001, gradient_clip_algorithm="value")


STEP_HOOKS = [
    ("optimizer_step", warm_up),
    ("optimizer_zero_grad", zero_grad),
    ("configure_gradient_clipping", clip_by_value),
]


@pytest.mark.parametrize(("hook", "body"), STEP_HOOKS)
def test_lightning_never_calls_the_step_hooks_in_a_hand_written_manual_step(hook: str, body: Any) -> None:
    """Why the mixin refuses them below: in Lightning's own manual optimization the override is never called."""
    called: list[int] = []

    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        called.append(1)
        body(self, *args, **kwargs)

    def configure_optimizers(self: Any) -> Any:
        return SGD(self.model_gen.parameters(), lr=0.1), SGD(self.model_dis.parameters(), lr=0.1)

    hand = type("Hand", (TwoNets,), {hook: counted, "configure_optimizers": configure_optimizers})
    fit(hand(), max_epochs=1, gradient_clip_val=None)
    assert called == []


@pytest.mark.parametrize(("hook", "body"), STEP_HOOKS)
def test_a_step_hook_override_is_refused_where_the_mixin_chose_manual_optimization(
    hook: str, body: Any
) -> None:
    """Several optimizers and a ``training_step`` of the module's own: the mixin chose manual optimization, where
    Lightning never calls these hooks, so an override (in the class or in a base after the mixin) is refused."""
    pair = {
        "gen_opt": OptimizerSpec(SGD, params="model_gen", scheduler=EXPONENTIAL),
        "dis_opt": OptimizerSpec(SGD, params="model_dis"),
    }
    with pytest.raises(
        TypeError,
        match=rf"Pair.{hook}: Expected no `{hook}` override in manual optimization \(2 "
        rf"optimizers, .* got one in `Pair`: Lightning never calls it there",
    ):
        type("Pair", (ConfigurableOptimizersMixin, TwoNetsByName), {**pair, hook: body})
    base = type("Base", (TwoNetsByName,), {hook: body})
    with pytest.raises(TypeError, match=rf"`{hook}` override .* got one in `Base`"):
        type("Pair", (ConfigurableOptimizersMixin, base), pair)

    # `automatic_optimization = False` written by the user: Lightning's manual optimization, as without the mixin
    def training_step(self: Any, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.optimizer.zero_grad()
        self.manual_backward(nn.functional.cross_entropy(self.model_gen(x) + self.model_dis(x), y))
        self.optimizer.step()

    single = {
        "optimizer": OptimizerSpec(SGD, scheduler=EXPONENTIAL),
        "training_step": training_step,
        hook: body,
    }
    fit(type("Manual", (ConfigurableOptimizersMixin, TwoNets), single)(), max_epochs=1)


def test_lr_scheduler_step_stays_allowed_in_automatic_optimization() -> None:
    called: list[int] = []

    def counted(self: Any, scheduler: Any, metric: Any) -> None:
        called.append(1)
        super(Automatic, self).lr_scheduler_step(scheduler, metric)

    attributes = {"optimizer": OptimizerSpec(SGD, scheduler=EXPONENTIAL), "lr_scheduler_step": counted}
    Automatic = type("Automatic", (ConfigurableOptimizersMixin, Classifier), attributes)
    fit(Automatic(), max_epochs=1)
    assert len(called) == 4


def test_lr_scheduler_step_of_a_base_listed_after_the_mixin_is_refused_too() -> None:
    """``class GAN(ConfigurableOptimizersMixin, ProjectBase)``, the documented order: the base's override comes
    after the mixin's in the MRO, and was never called in manual optimization, without a word."""

    class ProjectBase(TwoNetsByName):
        lr_scheduler_step = scheduler_step

    pair = {
        "gen_opt": OptimizerSpec(SGD, params="model_gen", scheduler=EXPONENTIAL),
        "dis_opt": OptimizerSpec(SGD, params="model_dis"),
    }
    with pytest.raises(TypeError, match=r"Pair.lr_scheduler_step: .* got one in `.*ProjectBase`"):
        type("Pair", (ConfigurableOptimizersMixin, ProjectBase), pair)


class LibraryModule(TwoNets):
    """A library's module: its ``training_step`` (not the user's to edit) and its loss methods (``TwoLosses``')."""

    gen_loss = TwoLosses.gen_loss
    dis_loss = TwoLosses.dis_loss

    def training_step(self, batch: Any, batch_idx: int) -> None:
        raise RuntimeError("the library's own loop ran")


def test_loss_beside_a_training_step_of_a_base_is_told_the_step_to_write_which_trains_as_by_hand() -> None:
    """``loss=`` on a subclass of a module whose base defines ``training_step`` was told "Remove one of the two",
    which a user cannot do for a library's class. It names the base and the step to write in the subclass;
    written as told, it trains as the hand-written loop (``TwoNets``: the generator, then the discriminator)."""
    with pytest.raises(
        TypeError,
        match=r"^Tuned: Expected no `training_step` beside `loss` on the optimizers \(`gen_opt`, `dis_opt`\) but got "
        r"one in the base `LibraryModule`: the mixin's training step would replace it without a word\. Remove "
        r"`loss=` and write `training_step` in `Tuned`, stepping each optimizer in turn \(the mixin trains several "
        r"in manual optimization\): `self\.gen_opt\.zero_grad\(\); self\.manual_backward\(self\.gen_loss\(batch, "
        r"batch_idx\)\); self\.gen_opt\.step\(\)`, then `self\.dis_opt\.zero_grad\(\); "
        r"self\.manual_backward\(self\.dis_loss\(batch, batch_idx\)\); self\.dis_opt\.step\(\)`\.$",
    ):
        type(
            "Tuned",
            (ConfigurableOptimizersMixin, LibraryModule),
            {
                "gen_opt": OptimizerSpec(SGD, params="model_gen", lr=0.1, loss="gen_loss"),
                "dis_opt": OptimizerSpec(SGD, params="model_dis", lr=0.2, loss="dis_loss"),
            },
        )

    class Tuned(ConfigurableOptimizersMixin, LibraryModule):
        gen_opt = OptimizerSpec(SGD, params="model_gen", lr=0.1)
        dis_opt = OptimizerSpec(SGD, params="model_dis", lr=0.2)

        def training_step(self, batch: Any, batch_idx: int) -> None:
            self.gen_opt.zero_grad()
            self.manual_backward(self.gen_loss(batch, batch_idx))
            self.gen_opt.step()
            self.dis_opt.zero_grad()
            self.manual_backward(self.dis_loss(batch, batch_idx))
            self.dis_opt.step()

    class HandWritten(TwoNets):
        def configure_optimizers(self) -> Any:
            return [SGD(self.model_gen.parameters(), lr=0.1), SGD(self.model_dis.parameters(), lr=0.2)]

    tuned, reference = Tuned(), HandWritten()
    fit(tuned, max_epochs=2)
    fit(reference, max_epochs=2)
    assert_same_weights(tuned, reference)
