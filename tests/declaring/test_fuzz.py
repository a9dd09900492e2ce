"""Property-based tests: any declaration either trains exactly as written or stops at once, clearly.

Hypothesis generates declarations: every registered optimizer and scheduler (by name, by class, or a
near-miss name), keyword arguments drawn from the class's real signature, near-miss typos and random
names, with values of every kind (floats including negative, NaN and inf, ints, bools, strings, None,
tuples, lists), param groups over a tiny model's submodules and globs, intervals, frequencies, monitors and
warmups. Each declaration must either

- be rejected by this package with a ``TypeError``/``ValueError`` whose message starts with the declaring
  attribute (``Model.optimizer...``) and names something that was declared, at class definition or when
  ``fit`` starts; or
- train a real ``Trainer`` with the declared values in effect: the optimizer class, every declared option
  in its param groups (group options over optimizer options), the scheduler class, interval and frequency.

Anything else (a raw torch error, a ``KeyError``, an error not naming the attribute, an option silently
dropped) fails. ``HYPOTHESIS_PROFILE=long`` runs many more cases; ``--hypothesis-show-statistics`` prints
how many were tried and how they ended.
"""

from __future__ import annotations

import inspect
import logging
import math
import warnings
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler

from lightning_optim import OptimizerSpec, ParamGroup, SchedulerSpec
from lightning_optim.optimizers.muon_adamw import MuonWithAdamW
from lightning_optim.registry.lookup import OPTIMIZERS, SCHEDULERS
from lightning_optim.utilities import compat
from tests.helpers import FAST, Classifier, declared, loader, subnormals_representable

#: the optimizers the fuzz declares: every registered one, without ``MuonWithAdamW`` on a torch before 2.9
#: (it needs ``torch.optim.Muon``; ``tests/utilities/test_compat.py`` checks its refusal there)
FUZZED = {
    name: cls
    for name, cls in OPTIMIZERS.items()
    if cls is not MuonWithAdamW or compat.torch_at_least(compat.MUON.minimum)
}

logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

STEPPING = ("interval", "frequency", "monitor", "strict", "name", "warmup")
#: Schedulers that rewrite lr and momentum themselves: their optimizer's declared lr/momentum are not kept.
CYCLING = (lr_scheduler.OneCycleLR, lr_scheduler.CyclicLR)
SELECTORS = [
    "model_gen",
    "model_gen.layer1",
    "model_gen.layer2",
    "*.bias",
    "*.weight",
    "model_gen.layer1.weight",
]
BAD_SELECTORS = ["nope", "model_gen.layer3", "", "*.gamma"]


def _nan_from_1(e: int) -> float:
    return math.nan if e >= 1 else 1.0


def _one_minus(e: int) -> float:
    return 1.0 - e


def _decay(e: int) -> float:
    return 0.9**e


def _inverse(e: int) -> float:
    return 1.0 / e  # ZeroDivisionError when the scheduler is built


LAMBDAS = [_decay, _one_minus, _nan_from_1, _inverse, lambda e: 1.0]


def _arguments(cls: type | None) -> dict[str, Any]:
    """The keyword arguments of ``cls`` (first parameter skipped) with their defaults."""
    if cls is None:
        return {}
    parameters = list(inspect.signature(cls).parameters.values())[1:]
    return {
        p.name: (None if p.default is p.empty else p.default)
        for p in parameters
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def _typo(name: str) -> st.SearchStrategy[str]:
    options = {name + "s", name.upper(), name[:-1] or "x", name[1:] or "y"}
    if len(name) > 2:
        options.add(name[1] + name[0] + name[2:])
    return st.sampled_from(sorted(options))


finite = st.floats(min_value=1e-4, max_value=1.0)
anything = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-5, max_value=200),
    st.booleans(),
    st.text(max_size=4),
    st.none(),
    st.tuples(finite, finite),
    st.lists(st.floats(allow_nan=True), max_size=3),
)


def _near(value: float) -> st.SearchStrategy[float]:
    """Floats between 0 and twice ``value`` (kept below 1 for values in [0, 1), such as betas)."""
    low, high = sorted((0.0, 2 * value))
    if 0.0 <= value < 1.0:
        high = min(high, 0.999)
    return st.floats(min_value=low, max_value=max(high, 1e-3))


def _plausible(default: Any) -> st.SearchStrategy[Any]:
    """Values near a parameter's default, so that many declarations are valid and get trained."""
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, int):
        return st.integers(min_value=min(0, default), max_value=max(2 * default, 5))
    if isinstance(default, float):
        return _near(default)
    if isinstance(default, tuple) and all(isinstance(v, float) for v in default):
        return st.tuples(*[_near(v) for v in default])
    return st.just(default)


@st.composite
def kwargs_for(
    draw: st.DrawFn, cls: type | None, extra: tuple[str, ...] = (), wild: bool = True
) -> dict[str, Any]:
    """Keyword arguments: real names with plausible values, and (``wild``) typos, random names and values."""
    real = _arguments(cls)
    names = sorted(real) + list(extra)
    kwargs: dict[str, Any] = {}
    if names:
        for name in draw(st.lists(st.sampled_from(names), max_size=3, unique=True)):
            kwargs[name] = draw(
                _plausible(real.get(name)) if not wild else st.one_of(_plausible(real.get(name)), anything)
            )
    if wild and draw(st.integers(0, 3)) == 0:
        random_name = st.text(alphabet="abcdefghilmnoprstu_", min_size=1, max_size=8)
        name = draw(st.one_of(_typo(draw(st.sampled_from(names))), random_name) if names else random_name)
        kwargs[name] = draw(anything)
    return kwargs


def _named(cls: type, registry: Mapping[str, type]) -> st.SearchStrategy[Any]:
    names = [name for name, value in registry.items() if value is cls]
    return st.sampled_from([cls, *names])


@st.composite
def scheduler_specs(draw: st.DrawFn, wild: bool, nested: bool = False) -> Any:
    if wild and draw(st.integers(0, 15)) == 0:
        return draw(st.one_of(anything, _typo(draw(st.sampled_from(sorted(SCHEDULERS))))))
    cls = draw(st.sampled_from(sorted(set(SCHEDULERS.values()), key=lambda c: c.__name__)))
    if nested and cls in (
        lr_scheduler.SequentialLR,
        lr_scheduler.ChainedScheduler,
        lr_scheduler.ReduceLROnPlateau,
    ):
        cls = lr_scheduler.StepLR
    kwargs = draw(kwargs_for(cls, wild=wild))
    kwargs.pop("schedulers", None)
    if cls in (lr_scheduler.LambdaLR, lr_scheduler.MultiplicativeLR) and draw(st.booleans()):
        kwargs["lr_lambda"] = draw(st.sampled_from(LAMBDAS))
    if cls in (lr_scheduler.StepLR,) and "step_size" not in kwargs:
        kwargs["step_size"] = draw(st.integers(1, 3))
    if cls is lr_scheduler.MultiStepLR and "milestones" not in kwargs:
        kwargs["milestones"] = draw(st.lists(st.integers(1, 4), max_size=3))
    if cls is lr_scheduler.ExponentialLR and "gamma" not in kwargs:
        kwargs["gamma"] = draw(st.floats(0.5, 1.0))
    if cls is lr_scheduler.CosineAnnealingWarmRestarts and "T_0" not in kwargs:
        kwargs["T_0"] = draw(st.integers(1, 3))
    if cls in CYCLING:
        kwargs.setdefault("max_lr", draw(finite))
        if cls is lr_scheduler.CyclicLR:
            kwargs.setdefault("base_lr", draw(finite))
            kwargs.setdefault("cycle_momentum", False)  # only momentum optimizers can cycle it
    if cls in (lr_scheduler.SequentialLR, lr_scheduler.ChainedScheduler):
        inner = draw(st.lists(scheduler_specs(wild=wild, nested=True), min_size=1, max_size=2))
        kwargs["schedulers"] = inner
        if cls is lr_scheduler.SequentialLR:
            kwargs.setdefault("milestones", list(range(1, len(inner))))
    stepping: dict[str, Any] = {}
    if not nested:
        if cls is lr_scheduler.ReduceLROnPlateau:
            stepping["monitor"] = "train_loss"
        if draw(st.booleans()):
            stepping["interval"] = draw(
                st.sampled_from(["step", "epoch", None, *(["Step", "epochs", "batch"] if wild else [])])
            )
        if draw(st.integers(0, 3)) == 0:
            stepping["frequency"] = draw(
                st.integers(1, 3) if not wild else st.one_of(st.integers(-1, 3), anything)
            )
        if draw(st.integers(0, 3)) == 0:
            stepping["warmup"] = draw(
                st.one_of(st.integers(0, 3), st.floats(0.01, 0.99))
                if not wild
                else st.one_of(st.integers(-2, 3), anything)
            )
    if wild and draw(st.integers(0, 7)) == 0:
        stepping[draw(st.sampled_from(STEPPING))] = draw(anything)
    return SchedulerSpec(draw(_named(cls, SCHEDULERS)), **stepping, **kwargs)


@st.composite
def declarations(draw: st.DrawFn, wild: bool) -> Any:
    """An ``OptimizerSpec`` (or, rarely, something else assigned in its place)."""
    if wild and draw(st.integers(0, 20)) == 0:
        return OptimizerSpec(draw(st.one_of(_typo(draw(st.sampled_from(sorted(FUZZED)))), anything)))
    cls = draw(st.sampled_from(sorted(set(FUZZED.values()), key=lambda c: c.__name__)))
    kwargs = draw(kwargs_for(cls, extra=("params",) if wild else (), wild=wild))
    if "lr" not in kwargs and draw(st.booleans()):
        kwargs["lr"] = draw(finite)
    if "params" in kwargs and draw(st.booleans()):
        kwargs["params"] = draw(st.sampled_from(SELECTORS + BAD_SELECTORS))
    defaults = _arguments(cls)
    group_option_names = [n for n in ("lr", "weight_decay", "momentum", "betas", "eps") if n in defaults] + [
        "name"
    ]
    groups = []
    for _ in range(draw(st.integers(0, 2))):
        select = draw(st.sampled_from(SELECTORS + (BAD_SELECTORS if wild else [])))
        options = {}
        for name in draw(st.lists(st.sampled_from(group_option_names), max_size=2, unique=True)):
            options[name] = draw(
                finite
                if name not in ("betas", "name")
                else (st.tuples(finite, finite) if name == "betas" else st.text(min_size=1, max_size=5))
            )
        if wild and draw(st.integers(0, 3)) == 0:
            options[draw(st.one_of(_typo("lr"), st.sampled_from(sorted(defaults) or ["lr"])))] = draw(
                anything
            )
        groups.append(ParamGroup(select, **options))
    scheduler = draw(st.one_of(st.none(), scheduler_specs(wild=wild)))
    return OptimizerSpec(draw(_named(cls, FUZZED)), groups=groups, scheduler=scheduler, **kwargs)


def _tokens(spec: Any) -> set[str]:
    """What an error message may name: declared keys, options, names, selectors and value reprs."""
    tokens = {"params", "groups", "scheduler", "schedulers", "select", "lr", *STEPPING}
    if not isinstance(spec, (OptimizerSpec, SchedulerSpec, ParamGroup)):
        return tokens | {repr(spec)}
    if isinstance(spec, ParamGroup):
        return tokens | {repr(spec.select), *spec.options, *(repr(v) for v in spec.options.values())}
    name = spec.optimizer if isinstance(spec, OptimizerSpec) else spec.scheduler
    tokens |= {repr(name), getattr(name, "__name__", str(name)), *spec.kwargs}
    if isinstance(name, str):  # a collection's name is its class's lower-case name ("bnb/sgd8bit": `SGD8bit`)
        tokens.add(name.rsplit("/", 1)[-1])
    tokens |= {repr(v) for v in spec.kwargs.values()}
    for value in spec.kwargs.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, (SchedulerSpec, ParamGroup)):
                tokens |= _tokens(item)
    if isinstance(spec, OptimizerSpec):
        tokens |= {repr(spec.params)} | set().union(
            *(_tokens(g) for g in spec.groups), _tokens(spec.scheduler)
        )
    else:
        tokens |= {repr(getattr(spec, option)) for option in STEPPING}
    return tokens


def assert_ours(err: BaseException, spec: Any, stage: str) -> None:
    """A clear error of this package: the right type, starting with the attribute, naming what was declared."""
    message = str(err)
    assert isinstance(err, (TypeError, ValueError)), f"{stage}: raw {type(err).__name__} escaped: {err!r}"
    assert message.startswith(("Model.optimizer", "Model:")), (
        f"{stage}: message does not name the attribute: {message}"
    )
    lowered = message.lower()
    named = any(token.lower() in lowered for token in _tokens(spec))
    assert named, f"{stage}: message names nothing declared: {message}"
    event(f"rejected at {stage}: {type(err).__name__}")


def define(spec: Any) -> type[Classifier] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return declared(spec, name="Model")
    except Exception as err:
        assert_ours(err, spec, "class definition")
        return None


def _same(declared: Any, actual: Any) -> bool:
    if isinstance(declared, (list, tuple)) and isinstance(actual, (list, tuple)):
        return len(declared) == len(actual) and all(_same(d, a) for d, a in zip(declared, actual))
    if isinstance(declared, float) and isinstance(actual, float) and math.isnan(declared):
        return math.isnan(actual)
    return bool(declared == actual)


def assert_trained_as_declared(model: Classifier, trainer: L.Trainer) -> None:
    (declared,) = type(model)._lightning_optim_declared
    (optimizer,) = trainer.optimizers
    assert type(optimizer) is declared.cls
    scheduler = declared.schedulers[0] if declared.schedulers else None
    skip = set()
    if scheduler is not None:
        skip.add("lr")  # the schedule moves it; its starting value is checked through `initial_lr`
        if issubclass(scheduler.cls, CYCLING):
            skip |= {"momentum", "betas", "initial_lr"}
    declared_options = [dict(group.options) for group in declared.groups]
    if len(optimizer.param_groups) == len(declared_options) + 1:
        declared_options.append({})  # the leftover group takes the optimizer's own options
    assert len(optimizer.param_groups) == len(declared_options)
    for options, group in zip(declared_options, optimizer.param_groups):
        # torch resolves some values itself (LBFGS: max_eval=None -> max_iter * 5 // 4), and some optimizers
        # by the parameters' shapes (MuonWithAdamW: a group of matrices takes the Muon values, any other the
        # AdamW ones): the expected group is the one built by hand from the same options over parameters of
        # the same shapes
        stand_ins = [torch.nn.Parameter(torch.zeros_like(p)) for p in group["params"]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (expected,) = declared.cls([{"params": stand_ins, **options}], **declared.kwargs).param_groups
        for key, value in {**declared.kwargs, **options}.items():
            if key in optimizer.defaults and key not in skip:
                assert (key in expected) == (key in group), f"`{key}` declared: in the group {key in group}"
                assert key not in expected or _same(expected[key], group[key]), (
                    f"`{key}`={value!r} declared (torch makes it {expected[key]!r}) but the group has {group[key]!r}"
                )
            if key == "lr" and "initial_lr" in group and "initial_lr" not in skip:
                assert _same(expected["lr"], group["initial_lr"]), (
                    f"lr={value!r} declared (torch makes it {expected['lr']!r}), initial_lr {group['initial_lr']!r}"
                )
    configs = trainer.lr_scheduler_configs
    if scheduler is None:
        assert configs == []
        return
    (config,) = configs
    assert isinstance(config.scheduler.inner, scheduler.cls)
    assert (config.interval, config.frequency) == (scheduler.interval, scheduler.spec.frequency)


def check(spec: Any, *, train: bool) -> None:
    model_class = define(spec)
    if model_class is None or not train:
        if model_class is not None:
            event("accepted at class definition")
        return
    model = model_class()
    trainer = L.Trainer(**{**FAST, "max_epochs": 2, "limit_train_batches": 2, "num_sanity_val_steps": 0})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(model, loader(n=16))
    except Exception as err:
        assert_ours(err, spec, "fit")
        return
    assert_trained_as_declared(model, trainer)
    event("trained as declared")


@subnormals_representable
@given(declarations(wild=True))
def test_any_declaration_is_accepted_or_rejected_clearly(spec: Any) -> None:
    check(spec, train=False)


@subnormals_representable
@settings(max_examples=max(10, settings.default.max_examples // 5))
@given(st.one_of(*[declarations(wild=False)] * 3, declarations(wild=True)))
def test_accepted_declarations_train_as_declared(spec: Any) -> None:
    check(spec, train=True)
