"""A callable with state as a scheduler argument (``LambdaLR``'s ``lr_lambda``) trains as hand-written.

Torch's ``LambdaLR`` and ``MultiplicativeLR`` keep a callable object's ``__dict__`` as part of their state (saved and
restored by ``state_dict``), and call it when built. A callable object written in the declaration is shared by
every preview and every fit of every instance; each builds from its own copy, so that a fit trains as a
hand-written module building ``LambdaLR(optimizer, Decay(0.9))`` in ``configure_optimizers`` does. State that lives
outside the declaration (a bound method's object, a value an ``HParam`` reads from the instance, what a function
reads from outside itself) is the user's, used as it is as a hand-written module uses it; the class definition
never calls it, and the preview calls copies.
"""

from __future__ import annotations

import functools
import re
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.optim import SGD, lr_scheduler

from lightning_optim import (
    ConfigurableOptimizersMixin,
    HParam,
    LRMonitor,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    preview_schedule,
)
from tests.helpers import Classifier, assert_same_weights, declared, fit, fit_resumed, loader

pytestmark = pytest.mark.filterwarnings("ignore:.*no logger.*")


class Decay:
    """A factor that depends on how often it was called: ``0.9 ** calls`` (a callable caching or logging per update)."""

    def __init__(self, gamma: float = 0.9) -> None:
        self.gamma = gamma
        self.calls = 0

    def __call__(self, epoch: int) -> float:
        self.calls += 1
        return self.gamma**self.calls


def _in_epochs(function: Any, step: int) -> float:
    return float(function(step / 4))  # 4 batches per epoch


def _first_half(epoch: int) -> float:
    return 1.0


# each case: the declaration of the scheduler, given fresh objects; the hand-written scheduler on an optimizer
CASES: dict[str, Any] = {
    "lambda": (
        lambda fn: SchedulerSpec(lr_scheduler.LambdaLR, lr_lambda=fn(), interval="step"),
        lambda o, fn: lr_scheduler.LambdaLR(o, fn()),
    ),
    "lambda_per_group": (
        lambda fn: SchedulerSpec("lambda", lr_lambda=[fn(), fn(0.8)], interval="step"),
        lambda o, fn: lr_scheduler.LambdaLR(o, [fn(), fn(0.8)]),
    ),
    # one object for both groups: torch calls it for each group, so each group's factor is one call further
    "lambda_shared_by_groups": (
        lambda fn: SchedulerSpec("lambda", lr_lambda=[fn()] * 2, interval="step"),
        lambda o, fn: lr_scheduler.LambdaLR(o, [fn()] * 2),
    ),
    # counted in epochs, updated every step: the package wraps the object in a partial of fractional epochs
    "unit_epoch": (
        lambda fn: SchedulerSpec("lambda", lr_lambda=fn(), interval="step", unit="epoch"),
        lambda o, fn: lr_scheduler.LambdaLR(o, functools.partial(_in_epochs, fn())),
    ),
    "multiplicative": (
        lambda fn: SchedulerSpec(lr_scheduler.MultiplicativeLR, lr_lambda=fn(0.99), interval="step"),
        lambda o, fn: lr_scheduler.MultiplicativeLR(o, fn(0.99)),
    ),
    "sequential": (
        lambda fn: SchedulerSpec(
            "sequential",
            schedulers=[
                SchedulerSpec("lambda", lr_lambda=_first_half),
                SchedulerSpec("lambda", lr_lambda=fn()),
            ],
            milestones=[3],
            interval="step",
        ),
        lambda o, fn: lr_scheduler.SequentialLR(
            o, [lr_scheduler.LambdaLR(o, _first_half), lr_scheduler.LambdaLR(o, fn())], milestones=[3]
        ),
    ),
    # a list: a LambdaLR beside another scheduler is refused (it sets the lr outright), a MultiplicativeLR scales
    "list": (
        lambda fn: [
            SchedulerSpec("exponential", gamma=0.95),
            SchedulerSpec("multiplicative", lr_lambda=fn(0.99), interval="step"),
        ],
        lambda o, fn: [
            (lr_scheduler.ExponentialLR(o, 0.95), "epoch"),
            (lr_scheduler.MultiplicativeLR(o, fn(0.99)), "step"),
        ],
    ),
}


_TWO_GROUPS = ("lambda_per_group", "lambda_shared_by_groups")


def _declared(case: str) -> type[Any]:
    groups = [ParamGroup("model_gen.layer1", lr=0.05)] if case in _TWO_GROUPS else ()
    spec = OptimizerSpec(
        "sgd", lr=0.1, groups=groups, implementation="forloop", scheduler=CASES[case][0](Decay)
    )
    return declared(spec)


class HandWritten(Classifier):
    """The reference: the case's torch scheduler built in ``configure_optimizers``, with a fresh object each time."""

    case = "lambda"

    def configure_optimizers(self) -> Any:
        if self.case in _TWO_GROUPS:
            layer1 = list(self.model_gen.layer1.parameters())
            rest = [p for p in self.parameters() if all(p is not q for q in layer1)]
            optimizer = SGD([{"params": layer1, "lr": 0.05}, {"params": rest}], lr=0.1, foreach=False)
        else:
            optimizer = SGD(self.parameters(), lr=0.1, foreach=False)
        built = CASES[self.case][1](optimizer, Decay)
        if isinstance(built, list):
            return [optimizer], [{"scheduler": s, "interval": interval} for s, interval in built]
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": built, "interval": "step"}}


def hand_written(case: str) -> HandWritten:
    module = HandWritten()
    module.case = case
    return module


@pytest.mark.parametrize("case", list(CASES))
def test_fits_of_two_instances_train_as_hand_written(case: str) -> None:
    # the class's trial build, a preview, then two instances fitted one after another in this process: each as
    # the hand-written module with its own fresh object (before: 0.9**3 at the first step, and further on)
    module = _declared(case)
    preview_schedule(module, max_epochs=2, steps_per_epoch=4)
    expected = fit(hand_written(case), max_epochs=2).history
    for ours in (module(), module()):
        got = fit(ours, max_epochs=2).history
        assert got == expected
    assert len({lr for step in expected for opt in step for lr in opt}) > 2  # the lambda really moved the lr


def test_weights_equal_the_hand_written_module() -> None:
    ours, theirs = _declared("lambda")(), hand_written("lambda")
    fit(ours, max_epochs=2)
    fit(theirs, max_epochs=2)
    assert_same_weights(ours, theirs)


def test_declared_object_is_left_as_declared() -> None:
    decay = Decay()
    module = declared(OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec("lambda", lr_lambda=decay)))
    preview_schedule(module, max_epochs=2, steps_per_epoch=4)
    fit(module(), max_epochs=2)
    assert decay.calls == 0


@pytest.mark.parametrize("case", ["lambda", "sequential", "list"])
def test_preview_equals_lr_monitor(case: str) -> None:
    module = _declared(case)
    monitor = LRMonitor(logging_interval="step")
    fit(module(), data=loader(40), max_epochs=2, callbacks=[monitor], log_every_n_steps=1)
    preview = preview_schedule(module, max_epochs=2, steps_per_epoch=5)
    assert preview == {key: values for key, values in monitor.lrs.items()}
    assert len(set(preview["lr-optimizer"])) > 2


@pytest.mark.parametrize("case", ["lambda", "multiplicative", "sequential"])
def test_resume_continues_as_the_full_run(case: str, tmp_path: Path) -> None:
    # the object's state comes from the checkpoint (torch's `LambdaLR.load_state_dict`), not from the
    # declaration nor from the fits before in this process
    module = _declared(case)
    options = {"max_epochs": 3, "enable_checkpointing": True, "default_root_dir": tmp_path}
    saving = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, save_last=False, every_n_epochs=1)
    whole = fit_resumed(module(), None, callbacks=[saving], **options).history
    rest = fit_resumed(module(), str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt"), **options).history
    assert rest == whole[4:]
    assert whole == fit(hand_written(case), max_epochs=3).history


class Locked(Decay):
    """A callable object ``copy.deepcopy`` refuses (it holds a lock)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()


def test_uncopyable_object_is_refused_at_class_definition() -> None:
    with pytest.raises(
        TypeError,
        match=r"^Declared.optimizer.scheduler: Expected `lr_lambda` to be a callable "
        r"object that `copy.deepcopy` copies .* but got <.*Locked object at .*>, which it refuses: "
        r".*Give its class a `__deepcopy__`",
    ):
        declared(OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec("lambda", lr_lambda=Locked())))


class SharedLocked(Locked):
    def __deepcopy__(self, memo: dict[int, Any]) -> SharedLocked:
        return self


def test_deepcopy_returning_self_shares_the_object() -> None:
    # the way out the error names: one object for every fit, as a hand-written module holding it as a class
    # attribute has (each fit calls it further)
    shared = SharedLocked()
    module = declared(OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec("lambda", lr_lambda=shared)))
    assert shared.calls == 0  # the class definition calls no code of the user's
    fit(module(), max_epochs=1)
    first = shared.calls
    fit(module(), max_epochs=1)
    assert shared.calls > first > 0


class Knob:
    """An lr factor the run changes from outside the scheduler, read by a bound method."""

    def __init__(self, locked: bool = False) -> None:
        self.scale = 1.0
        if locked:  # an object `copy.deepcopy` refuses
            self.lock = threading.Lock()

    def factor(self, step: int) -> float:
        return self.scale


SHARED, LOCKED = Knob(), Knob(locked=True)  # module-level objects a declaration's bound method reads
OUTSIDE = Decay()  # the state of a function declared as `lr_lambda`, outside it


class Gate(nn.Module):
    """A submodule whose buffer scales the lr (``ByGate``)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(1.0))


class ByGate(lr_scheduler.LRScheduler):
    """A scheduler of one's own reading the lr factor from a submodule."""

    def __init__(self, optimizer: Any, gate: Gate, last_epoch: int = -1) -> None:
        self.gate = gate
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * float(self.gate.scale) for base in self.base_lrs]


class Knobbed(Classifier):
    """Halves its knobs after every batch: the module-level ones and its own (``gate``, read by ``factor``)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = Gate()
        self.lr_fn = self.factor  # the way to hand a method of the module itself to a declaration

    def factor(self, step: int) -> float:
        return float(self.gate.scale)

    def on_train_batch_end(self, *args: Any) -> None:
        SHARED.scale *= 0.5
        LOCKED.scale *= 0.5
        self.gate.scale.mul_(0.5)


class KnobbedByHand(Knobbed):
    """The reference: the case's scheduler built in ``configure_optimizers`` on the same objects."""

    case = "bound_method"

    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=0.1, foreach=False)
        scheduler = {
            "bound_method": lambda: lr_scheduler.LambdaLR(optimizer, SHARED.factor),
            "bound_method_uncopyable": lambda: lr_scheduler.LambdaLR(optimizer, LOCKED.factor),
            "hparam_bound_method": lambda: lr_scheduler.LambdaLR(optimizer, self.factor),
            "hparam_submodule": lambda: ByGate(optimizer, self.gate),
            "function_with_outside_state": lambda: lr_scheduler.LambdaLR(optimizer, Decay()),
        }[self.case]()
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


# each case: the declared scheduler, over the state the run (or the function) keeps outside the declaration
OUTSIDE_CASES: dict[str, Any] = {
    # before: the bound method's object was deep-copied with it, so the halving was ignored (0.1 at every step)
    "bound_method": lambda: SchedulerSpec("lambda", lr_lambda=SHARED.factor, interval="step"),
    # before: refused at class definition (`copy.deepcopy` refuses the lock of the method's object)
    "bound_method_uncopyable": lambda: SchedulerSpec("lambda", lr_lambda=LOCKED.factor, interval="step"),
    # before: a copy of the whole module was the scheduler's, so the module's halving was ignored
    "hparam_bound_method": lambda: SchedulerSpec("lambda", lr_lambda=HParam("lr_fn"), interval="step"),
    "hparam_submodule": lambda: SchedulerSpec(ByGate, gate=HParam("gate"), interval="step"),
    # before: the class definition's trial build called it twice, so the fit started at 0.9 ** 3
    "function_with_outside_state": lambda: SchedulerSpec(
        "lambda", lr_lambda=lambda step: OUTSIDE(step), interval="step"
    ),
}


def _knobs_reset() -> None:
    SHARED.scale = LOCKED.scale = 1.0
    OUTSIDE.calls = 0


@pytest.mark.parametrize(
    ("case", "previewed"),
    [(case, False) for case in OUTSIDE_CASES]
    # a preview calls copies (refused for an object `copy.deepcopy` refuses: `test_preview_never_changes_the_fit`);
    # a function is called as it is (what it keeps outside itself is advanced)
    + [
        (case, True)
        for case in OUTSIDE_CASES
        if case not in ("function_with_outside_state", "bound_method_uncopyable")
    ],
)
def test_state_outside_the_declaration_trains_as_hand_written(case: str, previewed: bool) -> None:
    hand = KnobbedByHand()
    hand.case = case
    _knobs_reset()
    expected = fit(hand, max_epochs=1).history
    _knobs_reset()
    ours = declared(
        OptimizerSpec("sgd", lr=0.1, implementation="forloop", scheduler=OUTSIDE_CASES[case]()), Knobbed
    )()
    assert OUTSIDE.calls == 0  # the class definition calls no code of the user's
    if previewed:
        preview_schedule(ours, max_epochs=1, steps_per_epoch=4)
    assert fit(ours, max_epochs=1).history == expected
    assert len({lr for step in expected for opt in step for lr in opt}) > 2  # the run really moved the lr


class WithDecay(Classifier):
    """Holds a callable object of its own, for ``HParam("decay")``."""

    def __init__(self) -> None:
        super().__init__()
        self.decay = Decay()


class Controller:
    """Halves the lr at each of its calls (a controller counting its updates), holding a lock ``copy.deepcopy``
    refuses."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0

    def factor(self, step: int) -> float:
        with self.lock:
            self.calls += 1
            return 0.5 ** (self.calls - 1)


class CopiedController(Controller):
    """The way out the preview's refusal names: a ``__deepcopy__`` copying the state the schedule reads."""

    def __deepcopy__(self, memo: dict[int, Any]) -> CopiedController:
        copied = CopiedController()
        copied.calls = self.calls
        return copied


@pytest.mark.parametrize("controller", [Controller, CopiedController])
def test_preview_never_changes_the_fit(controller: type[Controller]) -> None:
    # before: the preview called the real object of a bound method `copy.deepcopy` refuses, so the fit after it
    # started at 0.5**4 (the docs said the preview calls copies, so the fit after it starts as without it)
    def declaring(used: Controller) -> type[Any]:
        scheduler = SchedulerSpec("lambda", lr_lambda=used.factor, interval="step")
        return declared(OptimizerSpec("sgd", lr=0.1, implementation="forloop", scheduler=scheduler))

    expected = fit(declaring(controller())(), max_epochs=1).history
    used = controller()
    module = declaring(used)
    try:
        preview_schedule(module, max_epochs=1, steps_per_epoch=4)
    except TypeError as err:
        refused: str | None = str(err)
    else:
        refused = None
    assert used.calls == 0
    assert fit(module(), max_epochs=1).history == expected
    if controller is CopiedController:
        assert refused is None
    else:
        assert refused is not None
        assert re.match(
            r"Declared.optimizer.scheduler: Expected `lr_lambda` to be a callable object that `copy.deepcopy` copies "
            r"\(`preview_schedule` .* call copies .* so that the fit after them starts as without them\) but got "
            r"<bound method Controller.factor of .*>, which it refuses: .*lock.* Give the class of the object it "
            r"refuses a `__deepcopy__`",
            refused,
        ), refused


@pytest.mark.parametrize("read", ["bound_method", "hparam"])
def test_preview_leaves_the_users_objects_as_it_found_them(read: str) -> None:
    # used as they are by `fit`, so the preview before it (the documented workflow) calls copies
    decay = Decay()
    lr_lambda = decay.__call__ if read == "bound_method" else HParam("decay")
    spec = OptimizerSpec(
        "sgd", lr=0.1, scheduler=SchedulerSpec("lambda", lr_lambda=lr_lambda, interval="step")
    )
    module = declared(spec, WithDecay)()
    preview = preview_schedule(module, max_epochs=1, steps_per_epoch=4)
    assert decay.calls == module.decay.calls == 0
    assert preview["lr-optimizer"] == pytest.approx([0.1 * 0.9**k for k in range(1, 5)])


class HalvedByHand(Classifier):
    """The reference for a ``staticmethod`` in the class body: torch's ``LambdaLR`` takes the object as it is."""

    @staticmethod
    def halve(step: int) -> float:
        return 0.5**step

    wrapped: Any = None  # the staticmethod object each test hands it

    def configure_optimizers(self) -> Any:
        optimizer = SGD(self.parameters(), lr=0.1, foreach=False)
        # `self.decay` of a class-level `decay = staticmethod(...)` reads what it wraps
        scheduler = lr_scheduler.LambdaLR(optimizer, self.wrapped.__func__)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


@pytest.mark.parametrize("wrapped", ["function", "callable_object"])
def test_staticmethod_in_the_class_body_trains_as_hand_written(wrapped: str) -> None:
    # `lr_lambda=halve` below `@staticmethod def halve` hands over the `staticmethod` object (callable since Python
    # 3.10), which `copy.deepcopy` refuses; before: refused at class definition, told to give it a `__deepcopy__`
    def make() -> Any:
        return staticmethod(HalvedByHand.halve) if wrapped == "function" else staticmethod(Decay(0.5))

    hand = HalvedByHand()
    hand.wrapped = make()
    expected = fit(hand, max_epochs=1).history
    declaration = make()

    class Halved(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(
            "sgd",
            lr=0.1,
            implementation="forloop",
            scheduler=SchedulerSpec("lambda", lr_lambda=declaration, interval="step"),
        )

    module = Halved()
    assert fit(module, max_epochs=1).history == expected
    assert len({lr for step in expected for opt in step for lr in opt}) > 2
    # what a checkpoint keeps: `LambdaLR` saves the `__dict__` of a callable object (its state, resumed), nothing of
    # a function; before: the wrapper's (`{'__module__': ..., '__doc__': None}`), so a resume lost the object's state
    saved = [module.trainer.lr_scheduler_configs[0].scheduler, hand.trainer.lr_scheduler_configs[0].scheduler]
    assert saved[0].inner.state_dict()["lr_lambdas"] == saved[1].state_dict()["lr_lambdas"]
    if wrapped == "callable_object":
        assert declaration.__func__.calls == 0  # the fit called a copy
        assert saved[1].state_dict()["lr_lambdas"] == [{"gamma": 0.5, "calls": 5}]  # construction and 4 steps
