"""The transformers schedules against the real ``transformers.get_scheduler``, step by step.

Every reference sequence here comes from the installed ``transformers`` (``get_scheduler`` driving a real
torch optimizer, and ``TrainingArguments.get_warmup_steps`` for fractional warmups), run side by side with
this package's class on an identical optimizer; the lrs must be equal, not close.
"""

from __future__ import annotations

import inspect
import io
import pickle
import warnings
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import lightning as L
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.optim.lr_scheduler import ChainedScheduler, ExponentialLR, LRScheduler
from torch.utils.data import DataLoader, TensorDataset

from lightning_optim import OptimizerSpec, SchedulerSpec
from lightning_optim.schedules.transformers import (
    TRANSFORMERS_SCHEDULES,
    UNPORTED_SCHEDULES,
    ConstantScheduleLR,
    ConstantWithWarmupLR,
    CosineWarmupWithMinLR,
    CosineWithMinLR,
    CosineWithWarmupLR,
    InverseSqrtLR,
    LinearWithWarmupLR,
    PolynomialDecayWithWarmupLR,
    WarmupStableDecayLR,
)
from tests import helpers

#: Three param groups: two with their own lr, one with the optimizer's default (0.05), so that the schedules
#: that read ``optimizer.defaults["lr"]`` (polynomial, min_lr) are checked against groups that differ from it.
GROUP_LRS = (0.1, 0.02, None)
DEFAULT_LR = 0.05

#: (transformers name, scheduler_specific_kwargs) pairs: each schedule with its defaults and with its options.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("linear", {}),
    ("cosine", {}),
    ("cosine", {"num_cycles": 1.5}),
    ("cosine_with_restarts", {}),
    ("cosine_with_restarts", {"num_cycles": 3}),
    ("polynomial", {}),
    ("polynomial", {"lr_end": 1e-3, "power": 2.0}),
    ("constant", {}),
    ("constant_with_warmup", {}),
    ("inverse_sqrt", {}),
    ("inverse_sqrt", {"timescale": 7}),
    ("cosine_with_min_lr", {"min_lr_rate": 0.1}),
    ("cosine_with_min_lr", {"min_lr": 1e-3, "num_cycles": 0.75}),
    ("cosine_warmup_with_min_lr", {"min_lr_rate": 0.1}),
    ("cosine_warmup_with_min_lr", {"min_lr": 1e-3, "warmup_lr_rate": 0.2}),
    ("warmup_stable_decay", {"num_decay_steps": 20}),
    (
        "warmup_stable_decay",
        {
            "num_decay_steps": 10,
            "num_stable_steps": 15,
            "warmup_type": "cosine",
            "decay_type": "1-sqrt",
            "min_lr_ratio": 0.1,
        },
    ),
    ("warmup_stable_decay", {"num_decay_steps": 30, "warmup_type": "1-sqrt", "decay_type": "linear"}),
]

#: (num_warmup_steps, num_training_steps): none, whole steps, and fractions (100 * 0.07 rounds up to 8 in
#: transformers, 37 * 0.25 = 9.25 to 10).
LENGTHS = [(0, 100), (10, 100), (0.07, 100), (0.25, 37)]


@pytest.fixture(scope="module")
def hf() -> SimpleNamespace:
    """The installed transformers' scheduler factory, ``TrainingArguments`` and ``SchedulerType``."""
    transformers = pytest.importorskip("transformers")
    if not transformers.utils.is_torch_available():  # transformers 5 refuses torch < 2.6
        pytest.skip("the installed transformers does not run with this torch")
    from transformers import TrainingArguments, get_scheduler
    from transformers.optimization import TYPE_TO_SCHEDULER_FUNCTION
    from transformers.trainer_utils import SchedulerType

    return SimpleNamespace(
        get_scheduler=get_scheduler,
        SchedulerType=SchedulerType,
        functions={kind.value: fn for kind, fn in TYPE_TO_SCHEDULER_FUNCTION.items()},
        # the real method, on the one attribute it reads
        warmup_steps=lambda warmup, total: TrainingArguments.get_warmup_steps(
            SimpleNamespace(warmup_steps=warmup), total
        ),
    )


def make_optimizer(group_lrs: tuple[float | None, ...] = GROUP_LRS) -> torch.optim.SGD:
    groups: list[dict[str, Any]] = []
    for lr in group_lrs:
        group: dict[str, Any] = {"params": [nn.Parameter(torch.zeros(2))]}
        if lr is not None:
            group["lr"] = lr
        groups.append(group)
    return torch.optim.SGD(groups, lr=DEFAULT_LR)


def lr_sequence(optimizer: torch.optim.Optimizer, scheduler: Any, steps: int) -> list[list[float]]:
    """The lr of every group in use at each of ``steps`` optimizer steps (then the one after them)."""
    seen = []
    for _ in range(steps):
        seen.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    seen.append([group["lr"] for group in optimizer.param_groups])
    return seen


def ours(
    name: str, optimizer: torch.optim.Optimizer, warmup: float, total: int, kwargs: dict[str, Any]
) -> Any:
    cls = TRANSFORMERS_SCHEDULES[name]
    if cls is ConstantScheduleLR:
        return cls(optimizer)  # transformers' "constant" ignores the warmup
    return cls(optimizer, num_warmup_steps=warmup, num_training_steps=total, **kwargs)


def theirs(
    hf: SimpleNamespace, name: str, optimizer: torch.optim.Optimizer, warmup: float, total: int, kwargs: dict
) -> Any:
    # as transformers.Trainer.create_scheduler calls it: the warmup resolved by TrainingArguments
    return hf.get_scheduler(
        name,
        optimizer,
        num_warmup_steps=hf.warmup_steps(warmup, total),
        num_training_steps=total,
        scheduler_specific_kwargs=dict(kwargs),
    )


#: transformers warns when given both (``get_scheduler`` always passes ``num_training_steps``)
HF_WSD_WARNING = "ignore:Both num_training_steps and num_stable_steps"


@pytest.mark.parametrize(("warmup", "total"), LENGTHS)
@pytest.mark.parametrize(("name", "kwargs"), CASES)
@pytest.mark.filterwarnings(HF_WSD_WARNING)
@pytest.mark.filterwarnings("ignore:.*add up to more than `num_training_steps`")  # one LENGTHS case
def test_lr_equals_transformers_at_every_step(
    hf: SimpleNamespace, name: str, kwargs: dict[str, Any], warmup: float, total: int
) -> None:
    opt_theirs, opt_ours = make_optimizer(), make_optimizer()
    expected = lr_sequence(opt_theirs, theirs(hf, name, opt_theirs, warmup, total, kwargs), total + 5)
    scheduler = ours(name, opt_ours, warmup, total, kwargs)
    assert isinstance(scheduler, LRScheduler)
    assert lr_sequence(opt_ours, scheduler, total + 5) == expected
    assert len({tuple(lrs) for lrs in expected}) > 1 or name.startswith("constant")  # it has teeth


@pytest.mark.parametrize(("name", "kwargs"), CASES[::3])
def test_composed_with_another_scheduler_equals_transformers(
    hf: SimpleNamespace, name: str, kwargs: dict[str, Any]
) -> None:
    """Closed form like LambdaLR: another scheduler on the same optimizer sees the same lrs."""
    opt_theirs, opt_ours = make_optimizer(), make_optimizer()
    chain_theirs = ChainedScheduler(
        [theirs(hf, name, opt_theirs, 5, 40, kwargs), ExponentialLR(opt_theirs, gamma=0.97)]
    )
    chain_ours = ChainedScheduler([ours(name, opt_ours, 5, 40, kwargs), ExponentialLR(opt_ours, gamma=0.97)])
    assert lr_sequence(opt_ours, chain_ours, 45) == lr_sequence(opt_theirs, chain_theirs, 45)


@pytest.mark.filterwarnings(HF_WSD_WARNING)
@settings(max_examples=60)
@given(
    case=st.sampled_from(CASES),
    warmup=st.one_of(st.integers(0, 30), st.floats(0.01, 0.99)),
    total=st.integers(1, 60),
    lr=st.floats(1e-4, 1.0),
)
def test_lr_equals_transformers_for_drawn_lengths(
    hf: SimpleNamespace, case: tuple[str, dict[str, Any]], warmup: float, total: int, lr: float
) -> None:
    name, kwargs = case
    resolved = hf.warmup_steps(warmup, total)
    if name == "polynomial":
        assume(resolved != total)  # transformers divides by zero there; refused here (see the error tests)
    opt_theirs, opt_ours = make_optimizer((lr, None)), make_optimizer((lr, None))
    expected = lr_sequence(opt_theirs, theirs(hf, name, opt_theirs, warmup, total, kwargs), total + 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a warmup longer than the run, accepted as transformers does
        scheduler = ours(name, opt_ours, warmup, total, kwargs)
    assert lr_sequence(opt_ours, scheduler, total + 5) == expected


def test_step_with_an_epoch_jumps_to_the_closed_form(hf: SimpleNamespace) -> None:
    opt_theirs, opt_ours = make_optimizer(), make_optimizer()
    scheduler_theirs = theirs(hf, "cosine", opt_theirs, 5, 40, {})
    scheduler_ours = ours("cosine", opt_ours, 5, 40, {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates step(epoch)
        for epoch in (7, 3, 39):
            scheduler_theirs.step(epoch)
            scheduler_ours.step(epoch)
            assert scheduler_ours.get_last_lr() == scheduler_theirs.get_last_lr()


# -- state_dict --------------------------------------------------------------------------------------------

#: one argument set per schedule, with a warmup, for the resume tests
ONE_PER_SCHEDULE = {name: kwargs for name, kwargs in reversed(CASES)}


def build(name: str, **lengths: Any) -> tuple[torch.optim.SGD, Any]:
    optimizer = make_optimizer()
    return optimizer, ours(
        name, optimizer, lengths.get("warmup", 10), lengths.get("total", 60), ONE_PER_SCHEDULE[name]
    )


def checkpoint(optimizer: torch.optim.Optimizer, scheduler: Any) -> dict[str, Any]:
    """Through ``torch.save`` and ``torch.load(weights_only=True)``, as a Lightning checkpoint travels."""
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.filterwarnings(HF_WSD_WARNING)
@pytest.mark.parametrize("name", sorted(TRANSFORMERS_SCHEDULES))
def test_state_dict_round_trip_mid_run_continues_identically(name: str) -> None:
    optimizer, scheduler = build(name)
    uninterrupted = lr_sequence(optimizer, scheduler, 65)

    optimizer, scheduler = build(name)
    first = lr_sequence(optimizer, scheduler, 25)
    saved = checkpoint(optimizer, scheduler)
    optimizer, scheduler = build(name)  # a fresh process: built anew, then the checkpoint loaded
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    assert first[:-1] + lr_sequence(optimizer, scheduler, 40) == uninterrupted


@pytest.mark.parametrize("name", sorted(TRANSFORMERS_SCHEDULES))
def test_state_dict_is_plain_and_pickles(name: str) -> None:
    optimizer, scheduler = build(name)
    lr_sequence(optimizer, scheduler, 3)
    state = scheduler.state_dict()

    def plain(value: Any) -> bool:
        if isinstance(value, (list, tuple)):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (bool, int, float, str))

    assert {key for key, value in state.items() if not plain(value)} == set()
    assert pickle.loads(pickle.dumps(state)) == state
    assert state["last_epoch"] == 3
    # the arguments are part of the state (a LambdaLR's partial would not be)
    assert state["num_warmup_steps"] == (0 if name == "constant" else 10)


@pytest.mark.parametrize(
    "name",
    sorted(
        n for n, cls in TRANSFORMERS_SCHEDULES.items() if "num_cycles" in inspect.signature(cls).parameters
    ),
)
def test_num_cycles_is_stored_as_a_float_whatever_number_was_given(name: str) -> None:
    # an int stayed an int in two classes only, so their state dicts read differently from the others'
    scheduler = ours(name, make_optimizer(), 10, 60, {**ONE_PER_SCHEDULE[name], "num_cycles": 2})
    assert type(scheduler.state_dict()["num_cycles"]) is float


def test_the_checkpoints_arguments_win_over_the_rebuilt_ones() -> None:
    """As for every torch scheduler: ``load_state_dict`` restores the attributes, arguments included."""
    optimizer, scheduler = build("linear")
    uninterrupted = lr_sequence(optimizer, scheduler, 65)
    optimizer, scheduler = build("linear")
    first = lr_sequence(optimizer, scheduler, 25)
    saved = checkpoint(optimizer, scheduler)
    optimizer, scheduler = build("linear", warmup=3, total=999)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    assert (scheduler.num_warmup_steps, scheduler.num_training_steps) == (10, 60)
    assert first[:-1] + lr_sequence(optimizer, scheduler, 40) == uninterrupted


def test_polynomial_keeps_the_initial_lr_it_was_built_with() -> None:
    optimizer, scheduler = build("polynomial")
    assert scheduler.lr_init == DEFAULT_LR  # optimizer.defaults["lr"], as transformers reads it
    optimizer.defaults["lr"] = 123.0  # not read again after __init__
    assert lr_sequence(optimizer, scheduler, 65) == lr_sequence(*build("polynomial"), 65)


# -- the mapping and the signatures ------------------------------------------------------------------------


def test_every_scheduler_type_is_mapped_or_explained(hf: SimpleNamespace) -> None:
    names = {kind.value for kind in hf.SchedulerType}
    assert set(TRANSFORMERS_SCHEDULES) | set(UNPORTED_SCHEDULES) == names
    assert set(TRANSFORMERS_SCHEDULES) & set(UNPORTED_SCHEDULES) == set()
    assert set(UNPORTED_SCHEDULES) == {"reduce_lr_on_plateau", "greedy"}


def test_an_unported_name_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError) as raised:
        helpers.declared(OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec("transformers/greedy")))
    assert str(raised.value) == (
        "Declared.optimizer.scheduler: Expected a known scheduler name but got 'transformers/greedy', which is "
        f"not ported: {UNPORTED_SCHEDULES['greedy']}"
    )


@pytest.mark.parametrize("name", sorted(TRANSFORMERS_SCHEDULES))
def test_classes_are_lr_schedulers_that_shadow_no_torch_name(name: str) -> None:
    cls = TRANSFORMERS_SCHEDULES[name]
    assert issubclass(cls, LRScheduler)
    assert not hasattr(torch.optim.lr_scheduler, cls.__name__)
    assert cls.__module__ == "lightning_optim.schedules.transformers"


@pytest.mark.parametrize("name", sorted(TRANSFORMERS_SCHEDULES))
def test_positional_order_and_defaults_are_transformers(hf: SimpleNamespace, name: str) -> None:
    """A ``get_..._schedule(...)`` call keeps its meaning with the class in its place."""
    function = inspect.signature(hf.functions[name]).parameters
    ours_ = inspect.signature(TRANSFORMERS_SCHEDULES[name]).parameters
    positional = [p.name for p in ours_.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == list(function)
    for parameter in function.values():
        default = ours_[parameter.name].default
        if parameter.default is not parameter.empty:
            assert default == parameter.default, parameter.name
        else:  # required there: a default here only where an earlier argument has one
            assert default in (
                (0,) if parameter.name == "num_warmup_steps" else (None, ours_["optimizer"].empty)
            )


# -- bad arguments -----------------------------------------------------------------------------------------


def _opt() -> torch.optim.SGD:
    return make_optimizer()


ERRORS: list[tuple[Callable[[], Any], type[Exception], str]] = [
    (
        lambda: LinearWithWarmupLR(_opt(), 10),
        TypeError,
        "LinearWithWarmupLR: Expected `num_training_steps` to be a whole number of steps >= 1 but got None.",
    ),
    (
        lambda: CosineWithWarmupLR(_opt(), 10, 0),
        ValueError,
        "CosineWithWarmupLR: Expected `num_training_steps` to be a whole number of steps >= 1 but got 0.",
    ),
    (
        lambda: LinearWithWarmupLR(_opt(), 2.5, 100),
        ValueError,
        "LinearWithWarmupLR: Expected `num_warmup_steps` to be a whole number of steps >= 0 or a fraction of "
        "`num_training_steps` in (0, 1) but got 2.5.",
    ),
    (
        lambda: LinearWithWarmupLR(_opt(), -1, 100),
        ValueError,
        "LinearWithWarmupLR: Expected `num_warmup_steps` to be a whole number of steps >= 0 or a fraction of "
        "`num_training_steps` in (0, 1) but got -1.",
    ),
    (
        lambda: LinearWithWarmupLR(_opt(), "10", 100),
        TypeError,
        "LinearWithWarmupLR: Expected `num_warmup_steps` to be a whole number of steps >= 0 or a fraction of "
        "`num_training_steps` in (0, 1) but got '10'.",
    ),
    (
        lambda: InverseSqrtLR(_opt(), 0.1),
        ValueError,
        "InverseSqrtLR: `num_warmup_steps` 0.1 is a fraction of `num_training_steps`, so expected "
        "`num_training_steps` to be a whole number of steps but got None.",
    ),
    (
        lambda: InverseSqrtLR(_opt(), 10, timescale=0),
        ValueError,
        "InverseSqrtLR: Expected `timescale` to be a whole number of steps >= 1 but got 0.",
    ),
    (
        lambda: ConstantScheduleLR(_opt(), num_warmup_steps=10),
        ValueError,
        'ConstantScheduleLR: Expected `num_warmup_steps` to be 0 (transformers\' "constant" schedule has no '
        'warmup) but got 10 (did you mean `ConstantWithWarmupLR`, "constant_with_warmup"?).',
    ),
    (
        lambda: ConstantWithWarmupLR("sgd", 10),  # type: ignore[arg-type]
        TypeError,
        "ConstantWithWarmupLR: Expected `optimizer` to be a torch.optim.Optimizer but got 'sgd'.",
    ),
    (
        lambda: CosineWithWarmupLR(_opt(), 10, 100, num_cycles=0),
        ValueError,
        "CosineWithWarmupLR: Expected `num_cycles` to be a number > 0 but got 0.",
    ),
    (
        lambda: CosineWithWarmupLR(_opt(), 10, 100, last_epoch=-2),
        ValueError,
        "CosineWithWarmupLR: Expected `last_epoch` to be a whole number of steps >= -1 but got -2.",
    ),
    (
        lambda: PolynomialDecayWithWarmupLR(_opt(), 10, 100, lr_end=0.05),
        ValueError,
        "PolynomialDecayWithWarmupLR: Expected `lr_end` to be a number >= 0 below the optimizer's lr 0.05 "
        "(`optimizer.defaults['lr']`, where the decay starts) but got 0.05.",
    ),
    (
        lambda: PolynomialDecayWithWarmupLR(_opt(), 0.99, 20),
        ValueError,
        "PolynomialDecayWithWarmupLR: Expected `num_warmup_steps` to differ from `num_training_steps` (20): "
        "the polynomial decay divides by their difference, but got 0.99 (20 steps).",
    ),
    (
        lambda: CosineWithMinLR(_opt(), 10, 100),
        TypeError,
        "CosineWithMinLR: Expected `min_lr` (an lr) or `min_lr_rate` (a fraction of the initial lr) but got "
        "neither (transformers requires one of them too).",
    ),
    (
        lambda: CosineWithMinLR(_opt(), 10, 100, min_lr=1e-3, min_lr_rate=0.1),
        ValueError,
        "CosineWithMinLR: Expected one of `min_lr` and `min_lr_rate` but got both (min_lr=0.001, min_lr_rate=0.1).",
    ),
    (
        lambda: CosineWarmupWithMinLR(_opt(), 10, 100, min_lr=0.5),
        ValueError,
        "CosineWarmupWithMinLR: Expected `min_lr` to be a number >= 0 at most the optimizer's lr 0.05 but got 0.5.",
    ),
    (
        lambda: CosineWarmupWithMinLR(_opt(), 10, 100, min_lr_rate=1.5),
        ValueError,
        "CosineWarmupWithMinLR: Expected `min_lr_rate` to be a number in [0, 1] but got 1.5.",
    ),
    (
        lambda: CosineWarmupWithMinLR(_opt(), 10, 100, min_lr_rate=0.1, warmup_lr_rate=-0.1),
        ValueError,
        "CosineWarmupWithMinLR: Expected `warmup_lr_rate` to be a number in [0, 1] or None but got -0.1.",
    ),
    (
        lambda: WarmupStableDecayLR(_opt(), 10, num_training_steps=100),
        TypeError,
        "WarmupStableDecayLR: Expected `num_decay_steps` to be a whole number of steps >= 0 but got None.",
    ),
    (
        lambda: WarmupStableDecayLR(_opt(), 10, 20),
        TypeError,
        "WarmupStableDecayLR: Expected `num_training_steps` or `num_stable_steps` to be a whole number of "
        "steps but got neither (the stable phase's length comes from one of them).",
    ),
    (
        lambda: WarmupStableDecayLR(_opt(), 10, 20, 100, decay_type="cosin"),
        ValueError,
        "WarmupStableDecayLR: Expected `decay_type` to be one of `linear`, `cosine`, `1-sqrt` but got 'cosin' "
        "(did you mean `cosine`?).",
    ),
    (
        lambda: WarmupStableDecayLR(_opt(), 10, 20, 100, min_lr_ratio=2),
        ValueError,
        "WarmupStableDecayLR: Expected `min_lr_ratio` to be a number in [0, 1] but got 2.",
    ),
]


@pytest.mark.parametrize(("make", "error", "message"), ERRORS)
def test_bad_arguments_are_named(make: Callable[[], Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as raised:
        make()
    assert str(raised.value) == message


def test_booleans_are_not_step_counts() -> None:
    with pytest.raises(TypeError, match="`num_warmup_steps` to be a whole number of steps"):
        LinearWithWarmupLR(_opt(), True, 100)
    with pytest.raises(TypeError, match="`num_training_steps` to be a whole number of steps"):
        LinearWithWarmupLR(_opt(), 0, True)


def test_whole_float_lengths_are_accepted_as_steps() -> None:
    scheduler = LinearWithWarmupLR(_opt(), 10.0, 100.0)  # type: ignore[arg-type]
    assert (scheduler.num_warmup_steps, scheduler.num_training_steps) == (10, 100)
    assert isinstance(scheduler.num_training_steps, int)


def test_a_warmup_longer_than_the_run_is_accepted_with_a_warning(hf: SimpleNamespace) -> None:
    with pytest.warns(
        UserWarning, match=r"`num_warmup_steps` \(30\) is longer than `num_training_steps` \(20\)"
    ) as warned:
        scheduler = LinearWithWarmupLR(opt_ours := make_optimizer(), 30, 20)
    assert warned[0].filename == __file__  # the user's line, not the class's `__init__`
    opt_theirs = make_optimizer()
    expected = lr_sequence(opt_theirs, theirs(hf, "linear", opt_theirs, 30, 20, {}), 35)
    assert lr_sequence(opt_ours, scheduler, 35) == expected


def test_a_decay_that_does_not_fit_is_accepted_with_a_warning(hf: SimpleNamespace) -> None:
    with pytest.warns(
        UserWarning, match=r"the stable phase is -5 steps long, so the decay's first 5 steps"
    ) as warned:
        scheduler = WarmupStableDecayLR(opt_ours := make_optimizer(), 10, 15, 20)
    assert warned[0].filename == __file__
    opt_theirs = make_optimizer()
    expected = lr_sequence(
        opt_theirs, theirs(hf, "warmup_stable_decay", opt_theirs, 10, 20, {"num_decay_steps": 15}), 25
    )
    assert lr_sequence(opt_ours, scheduler, 25) == expected


def test_wsd_with_stable_steps_needs_no_run_length(hf: SimpleNamespace) -> None:
    kwargs = {"num_decay_steps": 7, "num_stable_steps": 9}
    opt_theirs, opt_ours = make_optimizer(), make_optimizer()
    scheduler_theirs = hf.get_scheduler(
        "warmup_stable_decay", opt_theirs, num_warmup_steps=4, scheduler_specific_kwargs=kwargs
    )
    expected = lr_sequence(opt_theirs, scheduler_theirs, 25)
    assert lr_sequence(opt_ours, WarmupStableDecayLR(opt_ours, 4, **kwargs), 25) == expected


# -- a real Lightning run ----------------------------------------------------------------------------------


class Tiny(L.LightningModule):
    """Two param groups; ``configure_optimizers`` hand-written as a user would, stepping per batch."""

    def __init__(self, stop_after_first_epoch: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.encoder = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)
        self.seen: list[list[float]] = []
        self.stop_after_first_epoch = stop_after_first_epoch

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.head(torch.relu(self.encoder(x))).squeeze(-1), y)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self.seen.append([group["lr"] for group in self.trainer.optimizers[0].param_groups])

    def on_train_epoch_end(self) -> None:
        if self.stop_after_first_epoch:
            self.trainer.should_stop = True  # an interrupted run: its length is still two epochs

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(
            [{"params": self.encoder.parameters(), "lr": 0.1}, {"params": self.head.parameters()}], lr=0.05
        )
        scheduler = WarmupStableDecayLR(
            optimizer,
            num_warmup_steps=0.25,
            num_decay_steps=4,
            num_training_steps=int(self.trainer.estimated_stepping_batches),
            decay_type="linear",
            min_lr_ratio=0.1,
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def fit(model: Tiny, max_epochs: int, **kwargs: Any) -> L.Trainer:
    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(24, 4, generator=generator), torch.randn(24, generator=generator))
    trainer = L.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, DataLoader(data, batch_size=4), **kwargs)
    return trainer


@pytest.mark.filterwarnings("ignore:.*does not have many workers")
def test_lightning_run_and_resume_follow_transformers(hf: SimpleNamespace, tmp_path: Any) -> None:
    # transformers' sequence for the same run: 2 epochs of 6 batches, 12 optimizer steps, warmup 0.25 -> 3
    optimizer = torch.optim.SGD(
        [{"params": [nn.Parameter(torch.zeros(1))], "lr": 0.1}, {"params": [nn.Parameter(torch.zeros(1))]}],
        lr=0.05,
    )
    scheduler = hf.get_scheduler(
        "warmup_stable_decay",
        optimizer,
        num_warmup_steps=hf.warmup_steps(0.25, 12),
        num_training_steps=12,
        scheduler_specific_kwargs={"num_decay_steps": 4, "decay_type": "linear", "min_lr_ratio": 0.1},
    )
    expected = lr_sequence(optimizer, scheduler, 12)[:-1]

    model = Tiny()
    fit(model, 2)
    assert model.seen == expected
    assert len({tuple(lrs) for lrs in expected}) > 5

    # resumed from a Lightning checkpoint saved after the first epoch: the second epoch continues exactly
    first = Tiny(stop_after_first_epoch=True)
    trainer = fit(first, 2)
    trainer.save_checkpoint(tmp_path / "epoch1.ckpt")
    resumed = Tiny()
    fit(resumed, 2, ckpt_path=tmp_path / "epoch1.ckpt")
    assert (len(first.seen), len(resumed.seen)) == (6, 6)
    assert first.seen + resumed.seen == expected
