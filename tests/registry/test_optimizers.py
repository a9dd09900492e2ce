"""The optimizer records: the param-group keys an optimizer keeps as its own running state (schedule-free's
step counter, D-Adaptation's and Prodigy's learned step size ``d``), checked against what every
pytorch_optimizer optimizer writes into its groups as it steps; the ranges of torch's options that its
constructors do not check, against what torch's step makes of a value out of them."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch

from lightning_optim import HParam, OptimizerSpec, ParamGroup, SchedulerSpec
from lightning_optim.registry.lookup import resolve_class
from lightning_optim.registry.optimizers import compiled_refusal, optimizer_info
from lightning_optim.utilities import compat
from lightning_optim.utilities.numeric import python_number
from tests.helpers import FAST, Classifier, declared, fit, loader, weights

pytest.importorskip("schedulefree")
pytorch_optimizer = pytest.importorskip("pytorch_optimizer")

SCHEDULE_FREE = [
    "schedulefree/adamw",
    "schedulefree/sgd",
    "schedulefree/radam",
    "pytorch_optimizer/schedulefreeadamw",
    "pytorch_optimizer/schedulefreesgd",
    "pytorch_optimizer/schedulefreeradam",
    "pytorch_optimizer/splus",
]


#: what a ``groups`` entry of these needs besides its parameters: which half trains it
MUON_FAMILY = frozenset({"Muon", "AdaMuon", "NorMuon", "AdaGO", "MuonClip"})
#: constructor arguments without a default, and a ``matrix_eps`` under which Shampoo's SVD converges on the
#: stand-ins
ARGUMENTS: dict[str, dict[str, Any]] = {
    "BSAM": {"num_data": 1},
    "Ranger21": {"num_iterations": 10},
    "Shampoo": {"matrix_eps": 1e-2},
}
#: what a step rewrites that stays an option (``_PYTORCH_OPTIMIZER_STATE`` says why)
REWRITTEN_OPTIONS: dict[str, set[str]] = {"ASGD": {"lr", "theta"}, "SWATS": {"lr", "phase"}}
#: pytorch_optimizer's optimizers the stand-ins cannot step, and why
NOT_STEPPED = {
    "adalomo": "built from the model, not parameters",
    "lomo": "built from the model, not parameters",
    "adammini": "built from the model, not parameters",
    "distributedmuon": "steps in an initialized process group only",
}


def lora_optimizer(cls: type, **kwargs: Any) -> tuple[Any, Callable[[], torch.Tensor]]:
    """``cls`` (with ``ARGUMENTS``' and ``kwargs``) over a LoRA-like pair of matrices (``LoRARite`` takes them in
    pairs), one group each for the Muon family, and the closure of its loss."""
    torch.manual_seed(0)
    lora_a, lora_b = torch.nn.Parameter(torch.randn(2, 3)), torch.nn.Parameter(torch.randn(4, 2))
    if cls.__name__ in MUON_FAMILY:
        groups = [{"params": [lora_a], "use_muon": True}, {"params": [lora_b], "use_muon": False}]
    else:
        groups = [{"params": [lora_a, lora_b]}]
    optimizer = cls(groups, **{**ARGUMENTS.get(cls.__name__, {}), **kwargs})
    graph = cls.__name__ in ("AdaHessian", "SophiaH")  # they differentiate the gradient

    @torch.enable_grad()  # AliG calls it inside its step, under no_grad
    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = ((lora_b @ lora_a - 1) ** 2).sum()
        loss.backward(create_graph=graph)
        return loss

    return optimizer, closure


def _written_keys(cls: type, **kwargs: Any) -> set[str]:
    """The group keys whose value ``cls`` changes, or adds, through ``train()``, eight steps (RAdam's forms skip
    the first ones) and ``eval()`` (those it has), on a LoRA-like pair of matrices (``LoRARite`` takes them in
    pairs), one group each for the Muon family."""
    optimizer, closure = lora_optimizer(cls, **kwargs)

    def snapshot() -> list[dict[str, str]]:
        return [{k: repr(v) for k, v in group.items() if k != "params"} for group in optimizer.param_groups]

    seen = [snapshot()]
    switches = hasattr(optimizer, "train")  # schedule-free's forms
    if switches:
        optimizer.train()
    seen.append(snapshot())
    with warnings.catch_warnings():  # AdaHessian's graph of the gradient, deprecations in pytorch_optimizer
        warnings.simplefilter("ignore")
        for _ in range(8):
            closure()
            optimizer.step(closure)
            seen.append(snapshot())
    if switches:
        optimizer.eval()
    seen.append(snapshot())
    return {
        key
        for index in range(len(optimizer.param_groups))
        for key in set().union(*(groups[index] for groups in seen))
        if len({groups[index].get(key) for groups in seen}) > 1
    }


@pytest.mark.parametrize("name", [*SCHEDULE_FREE, "pytorch_optimizer/adan", "pytorch_optimizer/lion"])
def test_the_running_state_is_what_the_optimizer_writes_into_its_groups(name: str) -> None:
    cls = resolve_class(name, "optimizer", where="test")
    assert set(optimizer_info(cls).running_state) == _written_keys(cls, lr=0.1)


@pytest.mark.parametrize("name", pytorch_optimizer.get_supported_optimizers())
def test_the_running_state_lists_every_group_key_a_pytorch_optimizer_step_writes(name: str) -> None:
    """Prodigy's and D-Adaptation's ``d`` (and what they estimate it from), AvaGrad's ``gamma``, Kron's
    ``update_counter``, ...: ``resume_changed_setup="continue"`` takes over what ``running_state`` lists. It
    lists nothing a step does not write, but the step count it gives every pytorch_optimizer optimizer (a wrapper,
    ``Magma``, counts in the optimizer it wraps)."""
    if name in NOT_STEPPED:
        pytest.skip(NOT_STEPPED[name])
    if name == "demo":
        pytest.importorskip("einops")
    cls = resolve_class(f"pytorch_optimizer/{name}", "optimizer", where="test")
    written, kept = _written_keys(cls), set(optimizer_info(cls).running_state)
    options = REWRITTEN_OPTIONS.get(cls.__name__, set())
    assert written - options <= kept
    assert not kept & options
    assert kept - written <= {"step"}


@pytest.mark.parametrize(
    ("name", "key", "value", "what"),
    [
        ("schedulefree/adamw", "k", 100, "its step counter"),
        ("schedulefree/sgd", "weight_sum", 1.0, "the sum of its averaging weights"),
        ("schedulefree/radam", "lr_max", 0.5, "the largest lr it has stepped with"),
        ("schedulefree/adamw", "scheduled_lr", 5.0, "the warmed-up lr of its last step"),
        (
            "schedulefree/adamw",
            "train_mode",
            True,
            "whether the weights are at the training point, switched by `train()`/`eval()`, which the mixin calls",
        ),
        ("pytorch_optimizer/schedulefreeadamw", "weight_sum", 1.0, "the sum of its averaging weights"),
        ("pytorch_optimizer/prodigy", "d", 0.01, "the step size it has learned"),
    ],
)
def test_a_param_group_setting_running_state_is_refused(name: str, key: str, value: Any, what: str) -> None:
    cls = resolve_class(name, "optimizer", where="test")
    message = (
        f"Model.optimizer.groups[0]: Expected `{key}` to be left out but got {key}={value!r}: `{key}` is "
        f"`{cls.__name__}`'s own running state ({what}), kept in each param group, not an option. Remove it."
    )
    spec = OptimizerSpec(name, lr=0.01, groups=[ParamGroup("model_gen.layer2", **{key: value})])
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        declared(spec, name="Model")
    # a real option of the same optimizer stays one
    declared(OptimizerSpec(name, lr=0.01, groups=[ParamGroup("model_gen.layer2", lr=0.5)]))


@pytest.mark.parametrize(
    ("name", "key"),
    [
        *(("schedulefree/adamw", key) for key in ["k", "weight_sum", "lr_max", "scheduled_lr"]),
        ("pytorch_optimizer/prodigy", "d"),
        ("pytorch_optimizer/dadaptadam", "d"),
    ],
)
def test_a_schedule_does_not_drive_the_running_state(name: str, key: str) -> None:
    """``param="k"`` was accepted as a numeric option: the schedule would have rewritten the step counter (and
    ``param="d"`` the step size Prodigy learns)."""
    scheduler = SchedulerSpec("cosine", T_max=10, param=key)
    with pytest.raises(
        ValueError, match=rf"Expected `param` to be a numeric per-group option .* but got '{key}'"
    ):
        declared(OptimizerSpec(name, lr=0.01, scheduler=scheduler))


def hand_written(make: Callable[[Any], torch.optim.Optimizer]) -> L.LightningModule:
    """The module with a hand-written ``configure_optimizers`` returning ``make(parameters)``."""
    return type(
        "HandWritten", (Classifier,), {"configure_optimizers": lambda self: make(self.parameters())}
    )()


def _loss(module: L.LightningModule) -> float:
    x, y = next(iter(loader(n=32, batch_size=32)))
    with torch.no_grad():
        return float(torch.nn.functional.cross_entropy(module.model_gen(x), y))


def _nan(module: L.LightningModule, untrained: L.LightningModule) -> bool:
    return any(torch.isnan(w).any() for w in weights(module).values())


def _worse_than_untrained(module: L.LightningModule, untrained: L.LightningModule) -> bool:
    return _loss(module) > _loss(untrained)


def _unchanged(module: L.LightningModule, untrained: L.LightningModule) -> bool:
    return all(torch.equal(a, b) for a, b in zip(weights(module).values(), weights(untrained).values()))


def _clamped_to_the_largest(module: L.LightningModule, untrained: L.LightningModule) -> bool:
    state = module.trainer.optimizers[0].state.values()
    return all(bool((s["step_size"] == 0.1).all()) for s in state)


#: Values torch's constructors accept and its step trains wrongly with: what a hand-written module makes of each.
OUT_OF_RANGE = [
    pytest.param(
        "rmsprop",
        {"lr": 0.01, "alpha": 1.5},
        _nan,
        "Expected `alpha` of `RMSprop` to be in [0, 1) but got 1.5: it weighs the running average of the squared "
        "gradients (v = alpha * v + (1 - alpha) * grad**2), which above 1 turns negative (NaN weights) and at 1 "
        "stays 0 (each update is then lr * grad / eps). Declare a value such as `RMSprop`'s default 0.99.",
        id="rmsprop-alpha-above-1",
    ),
    pytest.param(
        "rmsprop",
        {"lr": 0.01, "alpha": 1.0},
        _nan,  # steps of lr * grad / 1e-8, to inf
        "Expected `alpha` of `RMSprop` to be in [0, 1) but got 1.0: ",
        id="rmsprop-alpha-1",
    ),
    pytest.param(
        "sgd",
        {"lr": 0.1, "momentum": 0.9, "dampening": 2.0},
        _worse_than_untrained,  # 2.80 after 3 epochs from 1.37 (1.02 with dampening=0)
        "Expected `dampening` of `SGD` to be in [0, 1) but got 2.0: the momentum buffer takes 1 - dampening of "
        "each gradient (buf = momentum * buf + (1 - dampening) * grad), which at 1 ignores every gradient after "
        "the first, above 1 steps against them and below 0 multiplies them (without a momentum it is unread, until "
        "a schedule cycling the momentum gives one). Declare a value such as `SGD`'s default 0, or leave it out.",
        id="sgd-dampening-above-1",
    ),
    pytest.param(
        "lbfgs",
        {"lr": 0.5, "max_iter": 0},
        _unchanged,
        "Expected `max_iter` of `LBFGS` to be an int >= 1 but got 0.",
        id="lbfgs-max-iter-0",
    ),
    pytest.param(
        "rprop",
        {"lr": 0.01, "step_sizes": (1.0, 0.1)},
        _clamped_to_the_largest,
        "Expected `step_sizes` of `Rprop` to be (smallest, largest) with 0 < smallest <= largest but got (1.0, "
        "0.1): each step size is clamped to them at every step, so a smallest above the largest makes every step "
        "size the largest, and a smallest of 0 or less lets a step size reach 0, where it stays (it grows by "
        "multiplying). Declare values such as `Rprop`'s default (1e-06, 50).",
        id="rprop-step-sizes-reversed",
    ),
]


@pytest.mark.parametrize(("name", "options", "broken", "message"), OUT_OF_RANGE)
def test_an_option_out_of_the_range_torch_does_not_check_is_refused_at_class_definition(
    name: str, options: dict[str, Any], broken: Callable[..., bool], message: str
) -> None:
    cls = resolve_class(name, "optimizer", where="test")
    reference = hand_written(lambda params: cls(params, **options))
    L.Trainer(**{**FAST, "max_epochs": 3}).fit(reference, loader())
    assert broken(reference, hand_written(lambda params: cls(params, **options)))
    with pytest.raises(ValueError) as caught:
        declared(OptimizerSpec(name, **options), name="Model")
    assert str(caught.value).startswith(f"Model.optimizer: {message}")


def _as_numpy(value: Any, integer: type, real: type) -> Any:
    """``value`` as a sweep's grid gives it: its ints as ``integer``, its floats as ``real``, item by item."""
    if isinstance(value, tuple):
        return tuple(_as_numpy(v, integer, real) for v in value)
    return integer(value) if isinstance(value, int) else real(value)


def _as_python(value: Any) -> Any:
    return tuple(map(python_number, value)) if isinstance(value, tuple) else python_number(value)


@pytest.mark.parametrize(("integer", "real"), [(np.int64, np.float32), (np.int32, np.float64)])
@pytest.mark.parametrize(("name", "options", "broken", "message"), OUT_OF_RANGE)
def test_a_numpy_option_out_of_range_is_refused_as_the_python_number(
    name: str, options: dict[str, Any], broken: Callable[..., bool], message: str, integer: type, real: type
) -> None:
    """The same values from a sweep's grid (numpy scalars) train as wrongly in a hand-written module, and are
    refused as the Python numbers are (named as them), as literals when the class is defined and read from an
    ``HParam`` when ``fit`` starts, instead of passing the range checks unchecked."""
    options = {
        key: value if key == "lr" else _as_numpy(value, integer, real) for key, value in options.items()
    }
    cls = resolve_class(name, "optimizer", where="test")
    reference = hand_written(lambda params: cls(params, **options))
    L.Trainer(**{**FAST, "max_epochs": 3}).fit(reference, loader())
    assert broken(reference, hand_written(lambda params: cls(params, **options)))
    (key, value), expected = list(options.items())[-1], message.split(" but got ")[0]
    with pytest.raises(ValueError) as caught:
        declared(OptimizerSpec(name, **options), name="Model")
    # named as declared, or as the Python number torch got (the checks of a built optimizer's groups)
    got = [repr(value), repr(_as_python(value))]
    assert str(caught.value).startswith(tuple(f"Model.optimizer: {expected} but got {g}" for g in got))

    swept_spec = OptimizerSpec(name, **{**options, key: HParam("swept")})

    class Swept(declared(swept_spec, name="Swept")):
        def __init__(self, swept: Any) -> None:
            super().__init__()
            self.save_hyperparameters()

    with pytest.raises(ValueError, match=f"{re.escape(expected)} but got ({'|'.join(map(re.escape, got))})"):
        fit(Swept(value), max_epochs=1)


@pytest.mark.parametrize(
    ("name", "option", "value"),
    [("rmsprop", "alpha", 1.5), ("sgd", "dampening", -1.0), ("rprop", "step_sizes", (0.0, 50.0))],
)
def test_an_option_out_of_range_in_a_param_group_is_refused_naming_the_group(
    name: str, option: str, value: Any
) -> None:
    spec = OptimizerSpec(name, lr=0.01, groups=[ParamGroup("model_gen.layer2", **{option: value})])
    with pytest.raises(
        ValueError, match=rf"^Model\.optimizer\.groups\[0\]: Expected `{option}` of `\w+` to be "
    ):
        declared(spec, name="Model")


def test_a_dampening_out_of_range_without_a_momentum_is_refused_as_a_cycled_momentum_reads_it() -> None:
    """Without a momentum torch does not read the dampening, but ``OneCycleLR`` cycles one in (0.85 to 0.95): with
    ``dampening=1.0`` the buffer then ignores every gradient after the first (review: accepting it when the
    declared momentum is 0 trained so)."""
    spec = OptimizerSpec("sgd", lr=0.1, dampening=1.0, scheduler=SchedulerSpec("onecycle", max_lr=0.1))
    with pytest.raises(
        ValueError, match=r"^Model\.optimizer: Expected `dampening` of `SGD` to be in \[0, 1\) but"
    ):
        declared(spec, name="Model")


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (torch.optim.RMSprop, {"lr": 0.01, "alpha": 0.0}),
        (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}),
        (torch.optim.Rprop, {"lr": 0.01, "step_sizes": (0.01, 0.01)}),
        (torch.optim.LBFGS, {"lr": 0.5, "max_iter": 1}),
    ],
    ids=[
        "rmsprop-alpha-0",
        "sgd-dampening-0.5",
        "rprop-one-step-size",
        "lbfgs-max-iter-1",
    ],
)
def test_the_edges_of_the_checked_ranges_train_as_hand_written(cls: type, options: dict[str, Any]) -> None:
    loops = {} if cls is torch.optim.LBFGS else {"foreach": False}
    implementation = {} if cls is torch.optim.LBFGS else {"implementation": "forloop"}
    module = declared(OptimizerSpec(cls, **implementation, **options))()
    reference = hand_written(lambda params: cls(params, **loops, **options))
    fit(module, max_epochs=2)
    fit(reference, max_epochs=2)
    assert _loss(module) < _loss(hand_written(lambda params: cls(params, **options)))
    for name, weight in weights(reference).items():
        assert torch.equal(weights(module)[name], weight), name


@pytest.mark.parametrize(
    ("name", "refusal"),
    [
        (
            "Adafactor",
            "its step reads the step count and the norms of each parameter and update as Python numbers",
        ),
        ("Muon", "its `lr` cannot be a tensor, so every new lr would compile the step again"),
    ],
    ids=["Adafactor", "Muon"],
)
def test_torchs_optimizers_exported_by_torch_optim_itself_are_torchs_own(name: str, refusal: str) -> None:
    """torch's ``Adafactor`` and ``Muon`` say ``__module__ == "torch.optim"`` (the others
    ``"torch.optim.<file>"``): ``implementation="compiled"`` refuses them for what their step does
    (``tests/building/test_compiled.py`` shows Adafactor's does not compile; Muon's lr cannot be a tensor), as
    torch's other optimizers, instead of as another library's, whose step is not known to compile."""
    cls = compat.torch_optimizer_class(name)
    if cls is None:
        pytest.skip(f"torch {torch.__version__} has no torch.optim.{name}")
    assert cls.__module__ == "torch.optim"
    assert (compiled_refusal(cls) or "").startswith(refusal)
