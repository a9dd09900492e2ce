"""``implementation="auto"`` never picks a kernel Lightning refuses: a matrix of real Trainer runs.

Each row trains a tiny module with a real ``Trainer`` (precision x gradient clipping x automatic/manual
optimization x optimizer) and checks that it trains and which implementation ``"auto"`` chose. Lightning
2.6.6's ``MixedPrecision.clip_gradients`` raises "does not allow for gradient clipping because it performs
unscaling of gradients internally" for any optimizer built with ``fused=True`` (torch marks those with
``_step_supports_amp_scaling``); the other precision plugins inherit ``Precision.clip_gradients``, which
clips fused optimizers like any other. So ``"auto"`` keeps the fused kernel everywhere except under mixed
precision when clipping may happen (``gradient_clip_val``, or manual optimization, where ``training_step``
may call ``self.clip_gradients``), and except with a gradient scaler (fp16).

Manual rows declare all four optimizers in one module (the mixin then switches to manual optimization),
one fit per precision and clipping; automatic rows need one fit per optimizer (Lightning's automatic
optimization steps one optimizer).
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.plugins import MixedPrecision
from lightning.pytorch.plugins.precision import DeepSpeedPrecision, FSDPPrecision
from torch import nn
from torch.optim import SGD, Adagrad, Adam, AdamW

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, ParamGroup
from lightning_optim.registry.implementation import _fused_kernel_updates, choose
from tests.helpers import FAST, loader

#: each optimizer trains its own net, ``nets.<name>``; values that bfloat16 parameters keep (``bf16-true``
#: refuses Adam's default ``beta2=0.999``, which bfloat16 makes 1.0, and an ``lr * weight_decay`` below 2**-9:
#: registry/precision.py)
OPTIMIZERS: dict[str, tuple[type, dict[str, Any]]] = {
    "adam": (Adam, {"lr": 0.01, "betas": (0.9, 0.99)}),
    "adamw": (AdamW, {"lr": 0.01, "betas": (0.9, 0.99), "weight_decay": 0.25}),
    "sgd": (SGD, {"lr": 0.1, "momentum": 0.9}),
    "adagrad": (Adagrad, {"lr": 0.1}),
}
PRECISIONS = ("32-true", "bf16-mixed", "bf16-true", "64-true")
#: Trainer/``clip_gradients`` arguments; a small value so that clipping really changes the gradients.
CLIPPINGS: dict[str, dict[str, Any]] = {
    "none": {},
    "norm": {"gradient_clip_val": 0.05},
    "value": {"gradient_clip_val": 0.05, "gradient_clip_algorithm": "value"},
}
REFUSED = "fused kernels unscale internally and Lightning refuses to clip them"


class Tiny(L.LightningModule):
    """One small linear net per declared optimizer; in manual optimization it steps (and clips) each."""

    #: what manual optimization passes to ``self.clip_gradients`` (``{}``: no clipping)
    clipping: dict[str, Any] = {}

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        names = [name for name in OPTIMIZERS if isinstance(getattr(type(self), name, None), OptimizerSpec)]
        self.nets = nn.ModuleDict({name: nn.Linear(8, 4) for name in names})

    def _loss(self, net: nn.Module, batch: Any) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(net(x.to(self.dtype)).float(), y)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        if self.automatic_optimization:
            return sum(self._loss(net, batch) for net in self.nets.values())  # type: ignore[return-value]
        optimizers = self.optimizers()
        for net, opt in zip(self.nets.values(), optimizers if isinstance(optimizers, list) else [optimizers]):
            opt.zero_grad()
            self.manual_backward(self._loss(net, batch))
            if self.clipping:
                self.clip_gradients(opt, **self.clipping)
            opt.step()
        return None


def spec(name: str, **declaration: Any) -> OptimizerSpec:
    cls, kwargs = OPTIMIZERS[name]
    return OptimizerSpec(cls, params=f"nets.{name}", **kwargs, **declaration)


def module_class(names: list[str], clipping: dict[str, Any] | None = None, **specs: OptimizerSpec) -> type:
    """A ``Tiny`` declaring the optimizers ``names`` (two or more: manual optimization)."""
    attributes: dict[str, Any] = {name: specs.get(name, spec(name)) for name in names}
    attributes["clipping"] = clipping or {}
    return type(
        "Tiny" + "".join(n.capitalize() for n in names), (ConfigurableOptimizersMixin, Tiny), attributes
    )


def train(module: L.LightningModule, caplog: pytest.LogCaptureFixture, **trainer_kwargs: Any) -> list[str]:
    """Fit ``module`` for two batches; check every weight trained; return the implementation INFO lines."""
    initial = {name: p.detach().clone() for name, p in module.named_parameters()}
    kwargs = {**FAST, "max_epochs": 1, "limit_train_batches": 2, **trainer_kwargs}
    with caplog.at_level(logging.INFO, logger="lightning_optim"):
        caplog.clear()
        L.Trainer(**kwargs).fit(module, loader(n=16))
    for name, p in module.named_parameters():
        assert torch.isfinite(p).all(), name
        assert not torch.equal(p.detach(), initial[name].to(p)), f"{name} did not train"
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "lightning_optim" and "implementation" in r.getMessage()
    ]


def fused(optimizer: torch.optim.Optimizer) -> bool:
    return bool(optimizer.defaults.get("fused"))


def fused_cpu_kernel_trains(cls: type, dtype: torch.dtype, **kwargs: Any) -> bool:
    """Measured here, independently of the package's probe: does three steps of the fused CPU kernel of
    ``cls`` on 1000 random ``dtype`` parameters change every element the for-loop changes (and stay finite)?
    (The for-loop itself may overflow: fp16 Adam's ``eps=1e-8`` is 0 in fp16; the fused kernel computes in
    fp32.)
    """
    generator = torch.Generator().manual_seed(0)
    initial = (torch.randn(1000, generator=generator) * 0.2).to(dtype)
    grads = [(torch.randn(1000, generator=generator) * 0.1).to(dtype) for _ in range(3)]
    moved = []
    for implementation in ({"fused": True}, {"foreach": False}):
        param = torch.nn.Parameter(initial.clone())
        optimizer = cls([param], lr=0.01, **kwargs, **implementation)
        for grad in grads:
            param.grad = grad.clone()
            optimizer.step()
        if "fused" in implementation and not torch.isfinite(param).all():
            return False
        moved.append(int((param.detach() != initial).sum()))
    return moved[0] >= 0.95 * moved[1]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_the_probe_agrees_with_a_measurement(name: str, dtype: torch.dtype) -> None:
    cls, kwargs = OPTIMIZERS[name]
    options = {k: v for k, v in kwargs.items() if k != "lr"}
    assert _fused_kernel_updates(cls, dtype) is fused_cpu_kernel_trains(cls, dtype, **options)


def lightning_refuses_to_clip(cls: type) -> bool:
    """Lightning's own answer: does ``MixedPrecision`` refuse to clip ``cls`` built with ``fused=True``?
    (Adam, AdamW, SGD: yes; Adagrad: from torch 2.12 on, which marks its fused step as unscaling.)"""
    from lightning.fabric.plugins.precision.amp import _optimizer_handles_unscaling

    return bool(_optimizer_handles_unscaling(cls([nn.Parameter(torch.zeros(1))], lr=0.1, fused=True)))


def expected_reason(name: str, precision: str, clipping: str, manual: bool) -> str | None:
    """Why ``"auto"`` gives up the fused kernel on CPU in this row (``None``: it picks it)."""
    if precision == "bf16-true" and not fused_cpu_kernel_trains(OPTIMIZERS[name][0], torch.bfloat16):
        # torch 2.13: fused CPU SGD leaves bf16 parameters unchanged (but their last numel % 32 elements)
        return f"torch's fused `{OPTIMIZERS[name][0].__name__}` kernel on `cpu` does not update `bfloat16` parameters"
    if precision != "bf16-mixed" or not lightning_refuses_to_clip(OPTIMIZERS[name][0]):
        return None  # `Precision.clip_gradients` clips fused optimizers like any other
    if manual:
        return (
            "bf16-mixed precision with manual optimization, where `training_step` may call "
            f"`self.clip_gradients`: {REFUSED}"
        )
    if clipping != "none":
        return f"bf16-mixed precision with gradient clipping by {clipping}: {REFUSED}"
    return None


def check_choice(line: str, name: str, reason: str | None) -> None:
    cls = OPTIMIZERS[name][0].__name__
    if reason is None:
        assert f"`{cls}` uses the fused implementation (auto: fused kernel is fastest on `cpu`)" in line
    else:
        assert f"`{cls}` uses the forloop implementation (auto: torch's default, {reason})." in line


@pytest.mark.parametrize(
    ("precision", "clipping"), list(itertools.product(PRECISIONS, CLIPPINGS)), ids=lambda v: str(v)
)
def test_automatic_optimization(precision: str, clipping: str, caplog: pytest.LogCaptureFixture) -> None:
    for name in OPTIMIZERS:
        reason = expected_reason(name, precision, clipping, manual=False)
        module = module_class([name])()
        (line,) = train(module, caplog, precision=precision, **CLIPPINGS[clipping])
        assert fused(module.trainer.optimizers[0]) is (reason is None), (name, line)
        check_choice(line, name, reason)


@pytest.mark.parametrize(
    ("precision", "clipping"), list(itertools.product(PRECISIONS, CLIPPINGS)), ids=lambda v: str(v)
)
def test_manual_optimization(precision: str, clipping: str, caplog: pytest.LogCaptureFixture) -> None:
    names = list(OPTIMIZERS)
    module = module_class(names, clipping=CLIPPINGS[clipping])()
    assert module.automatic_optimization is False
    lines = train(module, caplog, precision=precision)
    reasons = [expected_reason(name, precision, clipping, manual=True) for name in names]
    assert [fused(opt) for opt in module.trainer.optimizers] == [r is None for r in reasons], lines
    for name, line, reason in zip(names, lines, reasons, strict=True):
        check_choice(line, name, reason)


def test_overridden_clipping_hook_counts_as_clipping(caplog: pytest.LogCaptureFixture) -> None:
    class Clips(module_class(["adam"])):  # type: ignore[misc]
        def configure_gradient_clipping(self, optimizer: Any, *args: Any, **kwargs: Any) -> None:
            self.clip_gradients(optimizer, gradient_clip_val=0.05)

    module = Clips()
    (line,) = train(module, caplog, precision="bf16-mixed")
    assert not fused(module.trainer.optimizers[0])
    assert "with an overridden `configure_gradient_clipping`, which may call `self.clip_gradients`" in line


# ---- an explicit fused kernel that Lightning would refuse is our error at fit, naming the fix ----


@pytest.mark.parametrize(
    ("declaration", "declared"),
    [({"implementation": "fused"}, "implementation='fused'"), ({"fused": True}, "fused=True")],
    ids=["implementation", "fused"],
)
@pytest.mark.parametrize("clipping", ["norm", "value"])
def test_explicit_fused_with_mixed_precision_clipping_is_our_error(
    declaration: dict[str, Any], declared: str, clipping: str
) -> None:
    module = module_class(["adam"], adam=spec("adam", **declaration))()
    trainer = L.Trainer(
        **FAST, max_epochs=1, limit_train_batches=2, precision="bf16-mixed", **CLIPPINGS[clipping]
    )
    with pytest.raises(ValueError) as error:
        trainer.fit(module, loader(n=16))
    assert str(error.value) == (
        "TinyAdam.adam: Expected no fused kernel with `Trainer(precision='bf16-mixed', gradient_clip_val=0.05)` "
        f"but got `{declared}`: a fused `Adam` unscales gradients inside `step` and Lightning's "
        f"`MixedPrecision` refuses to clip them. Remove `{declared}` (the default `implementation='auto'` then "
        "picks torch's own implementation here) or remove `gradient_clip_val`."
    )


def test_the_error_is_what_lightning_would_raise_otherwise() -> None:
    # the hand-written equivalent: Lightning fails inside the first step
    class HandWritten(Tiny):
        nets: nn.ModuleDict

        def __init__(self) -> None:
            super().__init__()
            self.nets = nn.ModuleDict({"adam": nn.Linear(8, 4)})

        def configure_optimizers(self) -> Any:
            return Adam(self.parameters(), lr=0.01, fused=True)

    trainer = L.Trainer(
        **FAST, max_epochs=1, limit_train_batches=2, precision="bf16-mixed", gradient_clip_val=0.05
    )
    with pytest.raises(
        RuntimeError, match="does not allow for gradient clipping because it performs unscaling"
    ):
        trainer.fit(HandWritten(), loader(n=16))


def test_explicit_fused_without_clipping_trains(caplog: pytest.LogCaptureFixture) -> None:
    module = module_class(["adam"], adam=spec("adam", fused=True))()
    (line,) = train(module, caplog, precision="bf16-mixed")
    assert fused(module.trainer.optimizers[0])
    assert "(declared `fused=`)" in line


def test_fused_in_a_param_group_is_not_refused(caplog: pytest.LogCaptureFixture) -> None:
    # torch marks only optimizers built with `fused=True` as unscaling in `step`; a group's `fused` leaves
    # the mark unset, so Lightning clips as usual and the fused group steps
    module = module_class(["adam"], adam=spec("adam", groups=[ParamGroup("*.weight", fused=True)]))()
    train(module, caplog, precision="bf16-mixed", gradient_clip_val=0.05)
    optimizer = module.trainer.optimizers[0]
    assert [group["fused"] for group in optimizer.param_groups] == [True, None]
    assert not getattr(optimizer, "_step_supports_amp_scaling", False)


def test_explicit_fused_in_manual_optimization_is_left_to_lightning() -> None:
    # manual optimization may never clip, so a declared fused kernel is not refused at fit; clipping it
    # in `training_step` fails with Lightning's own error, which names fused optimizers
    module = module_class(
        ["adam", "sgd"], clipping={"gradient_clip_val": 0.05}, adam=spec("adam", fused=True)
    )()
    trainer = L.Trainer(**FAST, max_epochs=1, limit_train_batches=2, precision="bf16-mixed")
    with pytest.raises(RuntimeError, match="HINT: Are you using a 'fused' optimizer"):
        trainer.fit(module, loader(n=16))


# ---- CUDA: fp16 (a gradient scaler) and bf16 mixed precision ----

GPU_OPTIMIZERS = ("adam", "adamw", "sgd")  # torch's fused Adagrad has no CUDA kernel


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(
    ("precision", "clipping"), list(itertools.product(("16-mixed", "bf16-mixed"), CLIPPINGS)), ids=str
)
def test_cuda_mixed_precision(precision: str, clipping: str, caplog: pytest.LogCaptureFixture) -> None:
    def gpu() -> dict[str, Any]:
        # fp16: Lightning's MixedPrecision with a small initial scale, so that no step is skipped for
        # overflowing gradients and every row trains in its two batches
        if precision == "16-mixed":
            scaler = torch.amp.GradScaler("cuda", init_scale=2.0**8)
            return {
                "accelerator": "gpu",
                "devices": 1,
                "plugins": [MixedPrecision("16-mixed", "cuda", scaler)],
            }
        return {"accelerator": "gpu", "devices": 1, "precision": precision}

    for name in GPU_OPTIMIZERS:
        module = module_class([name])()
        (line,) = train(module, caplog, **gpu(), **CLIPPINGS[clipping])
        # fp16 always has a gradient scaler; bf16 refuses fused kernels only when clipping
        safe = precision == "bf16-mixed" and clipping == "none"
        assert fused(module.trainer.optimizers[0]) is safe, line
    manual = module_class(list(GPU_OPTIMIZERS), clipping=CLIPPINGS[clipping])()
    lines = train(manual, caplog, **gpu())
    assert not any(fused(opt) for opt in manual.trainer.optimizers), lines


# ---- FSDP and DeepSpeed precision plugins: the choice on real Trainers (running them needs GPUs) ----


def choice_with(plugin: Any, implementation: str = "auto", **trainer_kwargs: Any) -> Any:
    """``choose`` for a declared Adam under a real Trainer holding ``plugin`` (a single-device strategy)."""
    trainer = L.Trainer(**{**FAST, "plugins": [plugin], **trainer_kwargs})
    module = module_class(["adam"])()
    groups = [{"params": list(module.parameters())}]
    return choose("TinyAdam.adam", Adam, implementation, {"lr": 0.01}, groups, module, trainer)


def test_deepspeed_keeps_torch_default() -> None:
    # DeepSpeedPrecision.optimizer_step hands the step to DeepSpeed's engine (its own loss scaling and
    # clipping; its `clip_gradients` does nothing), which Lightning does not check for fused optimizers
    choice = choice_with(DeepSpeedPrecision("bf16-mixed"))
    assert choice.implementation == "forloop"
    assert (
        choice.reason
        == "auto: torch's default, DeepSpeed steps the optimizer in its own engine (its own loss scaling and clipping)"
    )


def test_fsdp_precision_without_scaler_keeps_fused() -> None:
    # FSDPPrecision inherits Precision.clip_gradients: no refusal (norm clipping is refused for every optimizer)
    assert choice_with(
        FSDPPrecision("bf16-mixed"), gradient_clip_val=0.05, gradient_clip_algorithm="value"
    ).arguments == {"fused": True}


@pytest.mark.filterwarnings(
    "ignore:torch.cuda.amp.GradScaler is enabled, but CUDA is not available"
)  # on CPU
def test_fsdp_fp16_scaler_rules_fused_out() -> None:
    choice = choice_with(FSDPPrecision("16-mixed"), gradient_clip_val=0.05, gradient_clip_algorithm="value")
    assert choice.reason == "auto: torch's default, fp16 mixed precision uses a gradient scaler"
    # FSDPPrecision.optimizer_step skips `scaler.unscale_` for a fused optimizer: it would clip scaled gradients
    with pytest.raises(
        ValueError, match=r"`FSDPPrecision` would clip them still scaled by its gradient scaler"
    ):
        choice_with(
            FSDPPrecision("16-mixed"), "fused", gradient_clip_val=0.05, gradient_clip_algorithm="value"
        )
