"""An ``lr_scheduler_step`` override that tests its scheduler's class (``declaring/scheduler_hook.py``) is refused
when the class is defined: the hook receives the mixin's schedule of each declared scheduler, never the declared
class, so ``if isinstance(scheduler, StepLR): scheduler.step()`` never stepped the declared ``StepLR`` (lr 0.1
throughout, a hand-written module's halves every 2 steps) and the plateau dispatch stepped the plateau without its
metric (torch's bare ``TypeError`` from inside the package). A test answered for the schedule as for the scheduler
a hand-written module holds (the plateau dispatch of a shared base on a module declaring no plateau, a test of
``SWALR``, which Lightning's ``StochasticWeightAveraging`` hands the hook, a tuple holding ``LRScheduler``), overrides
that test no class, a module training with its own ``configure_optimizers`` and overrides without source are left
alone.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from lightning.pytorch.callbacks import StochasticWeightAveraging
from torch.optim import SGD
from torch.optim.lr_scheduler import (
    ExponentialLR,
    LambdaLR,
    LRScheduler,
    MultiStepLR,
    ReduceLROnPlateau,
    StepLR,
)
from torch.optim.swa_utils import SWALR

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec
from tests.helpers import Classifier, fit

STEP = SchedulerSpec(StepLR, step_size=2, gamma=0.5, interval="step")
PLATEAU = SchedulerSpec(ReduceLROnPlateau, monitor="train_loss", patience=0, factor=0.5, interval="step")
PLATEAUS = (ReduceLROnPlateau,)


class OnlyStepLR:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if isinstance(scheduler, StepLR):
            scheduler.step()


class PlateauDispatch:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(metric)
        else:
            scheduler.step()


class ByAttributeChain:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if isinstance(scheduler, (torch.optim.lr_scheduler.ReduceLROnPlateau, int)):
            scheduler.step(metric)


class ByTypeIs:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if type(scheduler) is not StepLR:
            return
        scheduler.step()


class ByTypeIn:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if type(scheduler) in PLATEAUS:
            scheduler.step(metric)


class ByLocalImport:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        from torch.optim.lr_scheduler import StepLR as Step

        if isinstance(scheduler, Step):
            scheduler.step()


class ByClassAttribute:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if scheduler.__class__ is StepLR:
            scheduler.step()


class ByIssubclassOfType:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if issubclass(type(scheduler), StepLR):
            scheduler.step()


class ByIssubclassOfClassAttribute:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if not issubclass(scheduler.__class__, ReduceLROnPlateau):
            scheduler.step()


class ByClassName:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if type(scheduler).__name__ == "StepLR":
            scheduler.step()


class ByClassNameIn:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if scheduler.__class__.__name__ in ("ReduceLROnPlateau", "ExponentialLR"):
            scheduler.step(metric)
        else:
            scheduler.step()


EPOCH_SCHEDULERS = [StepLR, MultiStepLR]
STEPPED_BY_HAND = {ExponentialLR, StepLR}


class ByTypeInList:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if type(scheduler) in EPOCH_SCHEDULERS:
            scheduler.step()


class ByTypeInSet:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if scheduler.__class__ not in STEPPED_BY_HAND:
            return
        scheduler.step()


class ByLowerCaseName:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if type(scheduler).__name__.lower() == "steplr":
            scheduler.step()


def _class_testing_overrides() -> list[Any]:
    return [
        pytest.param(OnlyStepLR, STEP, "isinstance(scheduler, StepLR)", False, id="isinstance"),
        pytest.param(
            PlateauDispatch,
            PLATEAU,
            "isinstance(scheduler, ReduceLROnPlateau)",
            False,
            id="plateau-dispatch",
        ),
        pytest.param(
            ByAttributeChain,
            PLATEAU,
            "isinstance(scheduler, (torch.optim.lr_scheduler.ReduceLROnPlateau, int))",
            False,
            id="attribute-chain",
        ),
        pytest.param(ByTypeIs, STEP, "type(scheduler) is not StepLR", True, id="type-is-not"),
        pytest.param(ByTypeIn, PLATEAU, "type(scheduler) in PLATEAUS", False, id="type-in"),
        pytest.param(ByTypeInList, STEP, "type(scheduler) in EPOCH_SCHEDULERS", False, id="type-in-list"),
        pytest.param(ByTypeInSet, STEP, "scheduler.__class__ not in STEPPED_BY_HAND", True, id="type-in-set"),
        pytest.param(ByLocalImport, STEP, "isinstance(scheduler, Step)", False, id="local-import"),
        pytest.param(ByClassAttribute, STEP, "scheduler.__class__ is StepLR", False, id="class-attribute"),
        pytest.param(
            ByIssubclassOfType, STEP, "issubclass(type(scheduler), StepLR)", False, id="issubclass-type"
        ),
        pytest.param(
            ByIssubclassOfClassAttribute,
            PLATEAU,
            "issubclass(scheduler.__class__, ReduceLROnPlateau)",
            False,
            id="issubclass-class-attribute",
        ),
        pytest.param(ByClassName, STEP, "type(scheduler).__name__ == 'StepLR'", False, id="class-name"),
        pytest.param(
            ByLowerCaseName,
            STEP,
            "type(scheduler).__name__.lower() == 'steplr'",
            False,
            id="class-name-lower",
        ),
        pytest.param(
            ByClassNameIn,
            PLATEAU,
            "scheduler.__class__.__name__ in ('ReduceLROnPlateau', 'ExponentialLR')",
            False,
            id="class-name-in",
        ),
    ]


@pytest.mark.parametrize(("hooks", "scheduler", "test", "answer"), _class_testing_overrides())
def test_a_test_of_the_schedulers_class_is_refused_at_class_definition(
    hooks: type, scheduler: SchedulerSpec, test: str, answer: bool
) -> None:
    declared = scheduler.scheduler.__name__  # type: ignore[union-attr]
    message = (
        f"Model.lr_scheduler_step: Expected no test of the scheduler's class but got `{test}` (in "
        f"`{hooks.__qualname__}`): the scheduler this hook receives is the mixin's schedule (a torch `LRScheduler`) "
        f"of each declared scheduler, so the test is {answer} for the schedule of `Model.optimizer.scheduler`'s "
        f"`{declared}` but {not answer} for the `{declared}` a hand-written module holds."
    )
    with pytest.raises(TypeError) as raised:

        class Model(hooks, ConfigurableOptimizersMixin, Classifier):  # type: ignore[misc, valid-type]
            optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=scheduler)

    text = str(raised.value).replace(
        f"{test_a_test_of_the_schedulers_class_is_refused_at_class_definition.__name__}.<locals>.", ""
    )
    assert text.startswith(message), text
    assert text.endswith("remove the override, or call `super().lr_scheduler_step(scheduler, metric)` in it.")


def test_a_base_listed_after_the_mixin_is_checked_too() -> None:
    """The mixin's own ``lr_scheduler_step`` calls ``super()``, which reaches a base listed after it."""
    with pytest.raises(TypeError, match=r"Model.lr_scheduler_step: .* \(in `OnlyStepLR`\)"):

        class Model(ConfigurableOptimizersMixin, OnlyStepLR, Classifier):
            optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=STEP)


def test_the_refused_override_steps_the_declared_class_in_a_hand_written_module() -> None:
    """What the refusal prevents: beside a hand-written ``configure_optimizers`` the same override halves the lr
    every 2 steps; the mixin's schedule, which it never stepped, held 0.1."""

    class HandWritten(OnlyStepLR, Classifier):
        def configure_optimizers(self) -> Any:
            optimizer = SGD(self.parameters(), lr=0.1)
            scheduler = {"scheduler": StepLR(optimizer, 2, 0.5), "interval": "step"}
            return {"optimizer": optimizer, "lr_scheduler": scheduler}

    assert fit(HandWritten(), max_epochs=1).of() == [0.1, 0.1, 0.05, 0.05]


def test_a_dispatch_right_for_every_declared_scheduler_trains_as_hand_written() -> None:
    """A shared base's plateau dispatch on a module declaring only a ``StepLR``: ``isinstance(scheduler,
    ReduceLROnPlateau)`` is False for it as for its schedule, so the module trains as the hand-written one."""

    class HandWritten(PlateauDispatch, Classifier):
        def configure_optimizers(self) -> Any:
            optimizer = SGD(self.parameters(), lr=0.1)
            scheduler = {"scheduler": StepLR(optimizer, 2, 0.5), "interval": "step"}
            return {"optimizer": optimizer, "lr_scheduler": scheduler}

    class Model(PlateauDispatch, ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=STEP)

    assert fit(Model(), max_epochs=1).of() == fit(HandWritten(), max_epochs=1).of() == [0.1, 0.1, 0.05, 0.05]


class HoldsSwaLr:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if isinstance(scheduler, SWALR):
            return
        super().lr_scheduler_step(scheduler, metric)  # type: ignore[misc]


def test_a_test_of_swalr_which_lightning_hands_in_trains_as_hand_written() -> None:
    """Lightning's ``StochasticWeightAveraging`` hands the hook its ``SWALR`` in place of the configured scheduler
    from its start epoch on; no declared scheduler is one, so the test is right and the module trains as the
    hand-written one, holding the lr the ``SWALR`` starts at."""

    def swa() -> StochasticWeightAveraging:
        return StochasticWeightAveraging(swa_lrs=0.01, swa_epoch_start=2, annealing_epochs=3)

    class HandWritten(HoldsSwaLr, Classifier):
        def configure_optimizers(self) -> Any:
            optimizer = SGD(self.parameters(), lr=0.1)
            return {"optimizer": optimizer, "lr_scheduler": StepLR(optimizer, 1, 0.5)}

    class Model(HoldsSwaLr, ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=SchedulerSpec(StepLR, step_size=1, gamma=0.5))

    declared = fit(Model(), max_epochs=5, limit_train_batches=1, callbacks=[swa()]).of()
    assert declared == fit(HandWritten(), max_epochs=5, limit_train_batches=1, callbacks=[swa()]).of()
    assert declared == [0.1, 0.05, 0.05, 0.05, 0.05]  # held at its start; stepped, it anneals to 0.01


class CallsSuper:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if isinstance(metric, torch.Tensor) and not torch.isfinite(metric):
            return
        super().lr_scheduler_step(scheduler, metric)  # type: ignore[misc]


class StepsEach:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if isinstance(scheduler, LRScheduler) and metric is None:
            scheduler.step()
        else:
            scheduler.step(metric)


class NamesAnUndeclaredClass:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if type(scheduler).__name__ == "ReduceLROnPlateau":
            scheduler.step(metric)
        else:
            scheduler.step()


@pytest.mark.parametrize("hooks", [CallsSuper, StepsEach, NamesAnUndeclaredClass])
def test_an_override_testing_no_scheduler_class_it_could_be_trains_as_declared(hooks: type) -> None:
    """A test of the metric, of torch's base ``LRScheduler`` (which the schedule is), or of the name of a class no
    declared scheduler has (right for every one of them), is left alone."""

    class Model(hooks, ConfigurableOptimizersMixin, Classifier):  # type: ignore[misc, valid-type]
        optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=STEP)

    assert fit(Model(), max_epochs=1).of() == [0.1, 0.1, 0.05, 0.05]


def test_an_override_without_source_or_scheduler_is_left_alone() -> None:
    """No source to read (``exec``), as the package's other reads of source; no declared scheduler: the hook is
    never called."""
    namespace: dict[str, Any] = {"StepLR": StepLR}
    exec(
        "def lr_scheduler_step(self, scheduler, metric):\n"
        "    if isinstance(scheduler, StepLR):\n"
        "        scheduler.step()\n",
        namespace,
    )

    class Unread(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=STEP)
        lr_scheduler_step = namespace["lr_scheduler_step"]

    class Unscheduled(OnlyStepLR, ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(SGD, lr=0.1)

    assert Unread.lr_scheduler_step is namespace["lr_scheduler_step"]
    assert fit(Unscheduled(), max_epochs=1).of() == [0.1] * 4


class StepsAnyTorchScheduler:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if isinstance(scheduler, (LRScheduler, ReduceLROnPlateau)):
            scheduler.step(metric) if metric is not None else scheduler.step()
        else:
            raise TypeError("not a torch scheduler")


def test_a_tuple_test_true_for_the_schedule_too_trains_as_hand_written() -> None:
    """``isinstance(scheduler, (LRScheduler, ReduceLROnPlateau))`` is True for a hand-written plateau and for its
    schedule, an ``LRScheduler``: judged as a whole, not by the classes the schedule is not."""

    class HandWritten(StepsAnyTorchScheduler, Classifier):
        def configure_optimizers(self) -> Any:
            optimizer = SGD(self.parameters(), lr=0.1)
            plateau = ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
            scheduler = {"scheduler": plateau, "monitor": "train_loss", "interval": "step"}
            return {"optimizer": optimizer, "lr_scheduler": scheduler}

    class Model(StepsAnyTorchScheduler, ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=PLATEAU)

    assert fit(Model(), max_epochs=2).of() == fit(HandWritten(), max_epochs=2).of()


class StepsLambdaLR:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if isinstance(scheduler, LambdaLR):
            scheduler.step()


def test_a_test_of_the_class_transformers_builds_is_refused_beside_its_port() -> None:
    """transformers' ``get_cosine_schedule_with_warmup`` returns a ``LambdaLR``, which the hand-written module's test
    steps; the declared ``"transformers/cosine"``'s schedule is no ``LambdaLR``, and was never stepped (lr 0)."""
    transformers = pytest.importorskip("transformers")

    class HandWritten(StepsLambdaLR, Classifier):
        def configure_optimizers(self) -> Any:
            optimizer = SGD(self.parameters(), lr=0.1)
            cosine = transformers.get_cosine_schedule_with_warmup(optimizer, 2, 4)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": cosine, "interval": "step"}}

    assert fit(HandWritten(), max_epochs=1).of() == pytest.approx([0.0, 0.05, 0.1, 0.05])
    cosine = SchedulerSpec("transformers/cosine", num_warmup_steps=2, num_training_steps=4)
    with pytest.raises(TypeError) as raised:

        class Model(StepsLambdaLR, ConfigurableOptimizersMixin, Classifier):
            optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=cosine)

    assert (
        ".Model.optimizer.scheduler`'s `CosineWithWarmupLR` but True for the `LambdaLR` a hand-written module holds."
    ) in str(raised.value)


class LogsPlateau:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        super().lr_scheduler_step(scheduler, metric)  # type: ignore[misc]
        if isinstance(scheduler, ReduceLROnPlateau):
            self.bad = [*getattr(self, "bad", []), scheduler.num_bad_epochs]


class LogsWithoutTest:
    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        super().lr_scheduler_step(scheduler, metric)  # type: ignore[misc]
        self.bad = [*getattr(self, "bad", []), scheduler.num_bad_epochs]


def test_an_override_calling_super_is_told_to_remove_the_test_and_then_trains_as_hand_written() -> None:
    """An override that steps through ``super()`` already and tests the class only to log is told to remove the
    test (it was told to call ``super()``); without it, it trains and logs as the hand-written module."""
    with pytest.raises(TypeError) as raised:

        class Refused(LogsPlateau, ConfigurableOptimizersMixin, Classifier):
            optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=PLATEAU)

    assert str(raised.value).endswith(
        "(a plateau with its `monitor` metric), and this override calls `super().lr_scheduler_step(scheduler, "
        "metric)` already: remove the test (the schedule passes reads of the declared scheduler's attributes "
        "through to it)."
    )

    class HandWritten(LogsPlateau, Classifier):
        def configure_optimizers(self) -> Any:
            optimizer = SGD(self.parameters(), lr=0.1)
            plateau = ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
            scheduler = {"scheduler": plateau, "monitor": "train_loss", "interval": "step"}
            return {"optimizer": optimizer, "lr_scheduler": scheduler}

    class Model(LogsWithoutTest, ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(SGD, lr=0.1, scheduler=PLATEAU)

    hand_written, declared = HandWritten(), Model()
    assert fit(declared, max_epochs=2).of() == fit(hand_written, max_epochs=2).of()
    assert declared.bad == hand_written.bad
