"""The optimizer records: the param-group keys an optimizer keeps as its own running state (schedule-free's
step counter, D-Adaptation's and Prodigy's learned step size ``d``), checked against what every
pytorch_optimizer optimizer writes into its groups as it steps."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch

from lightning_optim import OptimizerSpec, ParamGroup, SchedulerSpec
from lightning_optim.registry.lookup import resolve_class
from lightning_optim.registry.optimizers import optimizer_info
from tests.helpers import declared

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
