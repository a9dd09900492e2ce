"""A class argument named like a ``SchedulerSpec``/``OptimizerSpec`` option (a research scheduler's ``warmup``, a
user optimizer's ``every``): given in ``kwargs={...}`` it goes to the class, everywhere a spec is rebuilt or
written; given by keyword it is refused as ambiguous (``declaring/arguments.py::check_option_clashes``)."""

from __future__ import annotations

import dataclasses
import math
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch.optim import lr_scheduler

from lightning_optim import (
    HParam,
    OptimizerSpec,
    SchedulerSpec,
    register_scheduler,
    spec_from_dict,
    spec_to_dict,
    with_declarations,
)
from lightning_optim.declaring.arguments import accepted_arguments
from lightning_optim.declaring.specs import OPTION_MEANINGS, spec_options
from lightning_optim.registry.external import COLLECTIONS, collection_names, named_optimizer, unregister
from lightning_optim.registry.optimizers import OPTIMIZERS
from lightning_optim.registry.schedulers import SCHEDULERS
from tests import helpers
from tests.helpers import Classifier, assert_same_weights, fit


class CosineWarmupScheduler(lr_scheduler.LRScheduler):
    """The scheduler of Lightning's UvA tutorial "Transformers and Multi-Head Attention" (its ``warmup`` is the
    class's own), with ``math`` for ``numpy``."""

    def __init__(self, optimizer: torch.optim.Optimizer, warmup: int, max_iters: int) -> None:
        self.warmup = warmup
        self.max_num_iters = max_iters
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        lr_factor = self.get_lr_factor(epoch=self.last_epoch)
        return [base_lr * lr_factor for base_lr in self.base_lrs]

    def get_lr_factor(self, epoch: int) -> float:
        lr_factor = 0.5 * (1 + math.cos(math.pi * epoch / self.max_num_iters))
        if epoch <= self.warmup:
            lr_factor *= epoch * 1.0 / self.warmup
        return lr_factor


class Decay(lr_scheduler.LRScheduler):
    """``name`` chooses the decay, ``end`` is the lowest factor: both named like ``SchedulerSpec`` options."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, name: str = "constant", end: float = 0.0, gamma: float = 0.9
    ) -> None:
        self.kind, self.end, self.gamma = name, end, gamma
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        factor = max(self.end, self.gamma**self.last_epoch) if self.kind == "exponential" else 1.0
        return [base_lr * factor for base_lr in self.base_lrs]


class LazySGD(torch.optim.SGD):
    """SGD applying an update every ``every`` steps: a user optimizer's own ``every``."""

    def __init__(self, params: Any, lr: float = 0.1, every: int = 1) -> None:
        super().__init__(params, lr=lr, foreach=False)
        self.every, self.calls = every, 0

    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:  # Lightning's closure runs the training step and the backward
            with torch.enable_grad():
                loss = closure()
        self.calls += 1
        if self.calls % self.every == 0:
            super().step()
        return loss


def hand_written(make: Any) -> type[Classifier]:
    """A module whose own ``configure_optimizers`` builds an ``SGD`` at 0.1 and ``make(optimizer, module)``'s
    scheduler, stepped per step."""

    class HandWritten(Classifier):
        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.SGD(self.parameters(), lr=0.1, foreach=False)
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": make(optimizer, self), "interval": "step"},
            }

    return HandWritten


def declared_scheduler(scheduler: SchedulerSpec) -> OptimizerSpec:
    return OptimizerSpec("sgd", lr=0.1, implementation="forloop", scheduler=scheduler)


def assert_trains_as(spec: OptimizerSpec, reference: type[Classifier]) -> None:
    ours, theirs = helpers.declared(spec)(), reference()
    lrs, expected = fit(ours), fit(theirs)
    assert lrs.history == expected.history
    assert_same_weights(ours, theirs)


TUTORIAL = SchedulerSpec(CosineWarmupScheduler, interval="step", kwargs={"warmup": 4, "max_iters": 12})


def test_tutorial_warmup_in_kwargs_trains_as_hand_written() -> None:
    reference = hand_written(lambda optimizer, _: CosineWarmupScheduler(optimizer, warmup=4, max_iters=12))
    assert_trains_as(declared_scheduler(TUTORIAL), reference)


def test_name_and_end_in_kwargs_go_to_the_class() -> None:
    declared = SchedulerSpec(Decay, interval="step", kwargs={"name": "exponential", "end": 0.5})
    reference = hand_written(lambda optimizer, _: Decay(optimizer, name="exponential", end=0.5))
    assert_trains_as(declared_scheduler(declared), reference)


class RenamedDecay(Decay):
    """``Decay`` with its arguments named ``kind`` and ``floor``: the reference for the options beside them."""

    def __init__(self, optimizer: torch.optim.Optimizer, kind: str, floor: float) -> None:
        super().__init__(optimizer, name=kind, end=floor)


def test_the_option_beside_the_class_argument_means_both() -> None:
    # the window's end (the option) and the class's own floor `end`: as a class whose argument has another name
    both = SchedulerSpec(Decay, interval="step", end=8, kwargs={"name": "exponential", "end": 0.3})
    renamed = SchedulerSpec(RenamedDecay, interval="step", end=8, kind="exponential", floor=0.3)
    ours = helpers.declared(declared_scheduler(both))()
    reference = helpers.declared(declared_scheduler(renamed))()
    lrs = fit(ours).of()
    assert lrs == fit(reference).of()
    assert lrs[1] == pytest.approx(0.09)  # the class's exponential decay
    assert len(set(lrs[8:])) == 1  # held after the window's 8 updates
    assert_same_weights(ours, reference)


@pytest.fixture
def cwarm() -> Iterator[str]:
    register_scheduler(
        "cwarm", CosineWarmupScheduler, default_interval="step", length="max_iters", own_warmup="warmup"
    )
    yield "cwarm"
    unregister("cwarm")


def test_registered_class_takes_its_warmup_from_kwargs(cwarm: str) -> None:
    def make(optimizer: torch.optim.Optimizer, module: Classifier) -> Any:
        return CosineWarmupScheduler(optimizer, warmup=4, max_iters=module.trainer.estimated_stepping_batches)

    assert_trains_as(declared_scheduler(SchedulerSpec(cwarm, kwargs={"warmup": 4})), hand_written(make))


def test_optimizer_argument_named_every_in_kwargs() -> None:
    class HandWritten(Classifier):
        def configure_optimizers(self) -> Any:
            return LazySGD(self.parameters(), lr=0.1, every=2)

    ours, theirs = helpers.declared(OptimizerSpec(LazySGD, kwargs={"every": 2}))(), HandWritten()
    fit(ours), fit(theirs)
    assert_same_weights(ours, theirs)


def test_hparam_in_kwargs_is_read_for_the_class() -> None:
    class FromHparams(Classifier):
        def __init__(self, warmup: int = 4) -> None:
            super().__init__()
            self.save_hyperparameters()

    spec = SchedulerSpec(
        CosineWarmupScheduler, interval="step", kwargs={"warmup": HParam("warmup"), "max_iters": 12}
    )
    ours = helpers.declared(declared_scheduler(spec), base=FromHparams)()
    reference = hand_written(lambda optimizer, _: CosineWarmupScheduler(optimizer, warmup=4, max_iters=12))()
    assert fit(ours).history == fit(reference).history


_CLASH = (
    "Expected `{written}` to name either an argument of `{cls}` or an option of the {kind} but got a name that is "
    "both (`{option}`: {meaning}) (did you mean `kwargs={{'{option}': {value!r}}}`? An argument in the mapping "
    "`kwargs=` always goes to `{cls}`; to use the {kind} option too, give the argument beside it: "
    "`{option}=..., kwargs={{'{option}': ...}}`)."
)


def _clash(cls: str, option: str, value: Any, meaning: str, kind: str = "SchedulerSpec") -> str:
    return _CLASH.format(
        written=f"{option}={value!r}", cls=cls, kind=kind, option=option, value=value, meaning=meaning
    )


_WARMUP = "a linear warmup this package adds before the schedule"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            declared_scheduler(SchedulerSpec(CosineWarmupScheduler, warmup=4, max_iters=12)),
            _clash("CosineWarmupScheduler", "warmup", 4, _WARMUP),
            id="required-warmup",
        ),
        pytest.param(
            declared_scheduler(SchedulerSpec(Decay, name="exponential")),
            _clash("Decay", "name", "exponential", "the prefix of the logged learning rates"),
            id="name",
        ),
        pytest.param(
            declared_scheduler(SchedulerSpec(Decay, end=0.5)),
            _clash("Decay", "end", 0.5, "the update the scheduler stops acting at"),
            id="end",
        ),
        pytest.param(
            declared_scheduler(SchedulerSpec(Decay, end=0.5, kwargs={"name": "exponential"})),
            _clash("Decay", "end", 0.5, "the update the scheduler stops acting at"),
            id="one-in-kwargs-the-other-not",
        ),
        pytest.param(
            OptimizerSpec(LazySGD, every=2),
            _clash("LazySGD", "every", 2, "the batches the mixin steps the optimizer on", "OptimizerSpec"),
            id="optimizer-every",
        ),
    ],
)
def test_an_option_that_is_also_a_class_argument_is_refused(spec: OptimizerSpec, message: str) -> None:
    with pytest.raises(TypeError) as error:
        helpers.declared(spec)
    assert str(error.value).endswith(message)
    assert str(error.value).startswith("Declared.optimizer")


def test_registered_name_is_checked_against_its_class(cwarm: str) -> None:
    with pytest.raises(
        TypeError, match=r"Declared\.optimizer\.scheduler: Expected `warmup=4` .*`CosineWarmupSch"
    ):
        helpers.declared(declared_scheduler(SchedulerSpec(cwarm, warmup=4)))


def test_two_clashes_are_named_together() -> None:
    with pytest.raises(TypeError) as error:
        helpers.declared(declared_scheduler(SchedulerSpec(Decay, name="exponential", end=0.5)))
    assert "Expected `name='exponential', end=0.5` to name" in str(error.value)
    assert "names that are both (`name`: the prefix of the logged learning rates; `end`: the update" in str(
        error.value
    )
    assert "`kwargs={'name': 'exponential', 'end': 0.5}`" in str(error.value)


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(TUTORIAL, id="scheduler"),
        pytest.param(
            SchedulerSpec(Decay, name="d", kwargs={"name": "exponential"}), id="option-and-argument"
        ),
        pytest.param(OptimizerSpec(LazySGD, lr=0.1, kwargs={"every": 2}), id="optimizer"),
        pytest.param(declared_scheduler(TUTORIAL), id="nested"),
    ],
)
def test_a_clashing_argument_stays_in_kwargs(spec: Any) -> None:
    namespace = {
        "SchedulerSpec": SchedulerSpec,
        "OptimizerSpec": OptimizerSpec,
        "CosineWarmupScheduler": CosineWarmupScheduler,
        "Decay": Decay,
        "LazySGD": LazySGD,
    }
    assert "kwargs={" in repr(spec)
    assert eval(repr(spec), namespace) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert dataclasses.replace(spec) == spec
    replaced = dataclasses.replace(spec, kwargs={**spec.kwargs, "extra": 1})
    assert replaced.kwargs == {**spec.kwargs, "extra": 1}
    assert all(getattr(replaced, o) == getattr(spec, o) for o in spec_options(type(spec)))
    read = spec_from_dict(spec_to_dict(spec), type(spec))  # a user class is read back as its import path
    assert read.kwargs == spec.kwargs
    assert spec_to_dict(read) == spec_to_dict(spec)


def test_replace_of_the_option_leaves_the_class_argument() -> None:
    replaced = dataclasses.replace(TUTORIAL, warmup=2)
    assert (replaced.warmup, replaced.kwargs["warmup"]) == (2, 4)


def test_with_declarations_keeps_the_class_argument() -> None:
    cls = helpers.declared(declared_scheduler(TUTORIAL))
    written = spec_to_dict(cls.optimizer)
    assert written["scheduler"]["init_args"] == {"warmup": 4, "max_iters": 12}
    written["init_args"]["lr"] = 0.2  # a config changing the lr: the scheduler is read back from the dict
    changed = with_declarations(cls, optimizer=written)
    assert changed.optimizer.kwargs == {"lr": 0.2}
    assert changed.optimizer.scheduler == dataclasses.replace(
        TUTORIAL, scheduler=f"{__name__}.CosineWarmupScheduler"
    )


def test_an_option_under_init_args_of_a_class_without_it_is_still_misplaced() -> None:
    data = {"class_path": "torch.optim.lr_scheduler.StepLR", "init_args": {"step_size": 2, "warmup": 3}}
    with pytest.raises(
        ValueError, match="Expected `warmup` next to `class_path` but got it under `init_args`"
    ):
        spec_from_dict(data, SchedulerSpec)


def _classes() -> Iterator[Any]:
    for name, cls in SCHEDULERS.items():
        yield pytest.param(cls, SchedulerSpec, id=f"scheduler-{name}")
    for name, cls in OPTIMIZERS.items():
        yield pytest.param(cls, OptimizerSpec, id=f"optimizer-{name}")
    for prefix in COLLECTIONS:
        try:
            names = list(collection_names(prefix))
        except ValueError:  # not installed here
            continue
        for name in names:
            yield pytest.param(f"{prefix}/{name}", OptimizerSpec, id=f"optimizer-{prefix}/{name}")


@pytest.mark.parametrize(("declared", "kind"), list(_classes()))
def test_no_known_class_has_an_argument_named_like_an_option(declared: Any, kind: type) -> None:
    """A name or class this package knows that took an option's name would be refused by keyword: noticed here."""
    if isinstance(declared, str):
        try:
            record = named_optimizer(declared)
        except ValueError as error:  # a name that cannot be built here (another torch, no CUDA build)
            pytest.skip(str(error))
        assert record is not None
        declared = record.cls
    assert not set(accepted_arguments(declared)[0]) & set(spec_options(kind))


def test_every_option_has_a_meaning_for_the_message() -> None:
    options = {*spec_options(SchedulerSpec), *spec_options(OptimizerSpec)}
    assert set(OPTION_MEANINGS) == options
