"""Hyperparameters float16/bfloat16 parameters cannot hold are refused when ``fit`` starts, against what the
hand-written module does with them under the same ``Trainer(precision=...)``."""

from __future__ import annotations

import inspect
import math
import re
from typing import Any

import lightning as L
import pytest
import torch
from torch.optim import ASGD, LBFGS, SGD, Adagrad, Adam, AdamW, Rprop

from lightning_optim import HParam, OptimizerSpec, ParamGroup, SchedulerSpec
from lightning_optim.optimizers.muon_adamw import MuonWithAdamW
from lightning_optim.registry.optimizers import OPTIMIZERS
from lightning_optim.registry.precision import (
    ARITHMETIC,
    Arithmetic,
    PeakLrs,
    low_precision_losses,
    roundings,
)
from lightning_optim.utilities import compat
from tests.helpers import FAST, Classifier, declared, loader, needs_muon, weights

TINY = 2**-24  # the smallest positive float16
#: torch's crash on a number float16 cannot hold (torch 2.4 names the type ``at::Half``, later ``c10::Half``)
HALF_OVERFLOW = r"cannot be converted to type (c10|at)::Half without overflow"


def fit(module: L.LightningModule, precision: str, **kwargs: Any) -> L.Trainer:
    trainer = L.Trainer(
        **{**FAST, "max_epochs": 1, "limit_train_batches": 2, "precision": precision, **kwargs}
    )
    trainer.fit(module, loader(n=16))
    return trainer


def hand_written(make: Any) -> L.LightningModule:
    """The module with a hand-written ``configure_optimizers`` returning ``make(parameters)``."""
    return type(
        "HandWritten", (Classifier,), {"configure_optimizers": lambda self: make(self.parameters())}
    )()


def assert_same(a: L.LightningModule, b: L.LightningModule) -> None:
    wa, wb = weights(a), weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa), "weights differ"


def refusal(spec: OptimizerSpec, precision: str) -> str:
    module = declared(spec)()
    before = weights(module)
    with pytest.raises(ValueError) as caught:
        fit(module, precision)
    assert all(torch.equal(before[k].to(v.dtype), v) for k, v in weights(module).items()), "it trained"
    return str(caught.value)


def test_adams_default_eps_is_refused_where_the_hand_written_module_turns_nan() -> None:
    """Lightning #20619: under 16-true Adam's ``eps=1e-8`` is 0, and the first step makes weights NaN."""
    reference = hand_written(lambda params: Adam(params, lr=1e-3))
    fit(reference, "16-true")
    assert any(torch.isnan(p).any() for p in reference.parameters())

    message = refusal(OptimizerSpec("adam", lr=1e-3, implementation="forloop"), "16-true")
    assert message == (
        "Declared.optimizer: Expected options that float16 parameters (precision='16-true') keep but got "
        "`eps=1e-08` (`Adam`'s default): float16 makes it 0.0; it is added to a float16 tensor to keep a "
        "denominator from 0, so an update divides 0 by 0 (NaN) where a gradient is 0; any eps float16 keeps (from "
        "5.96e-08, 2**-24) still makes an update lr * grad / eps where a small gradient's square underflows in "
        "float16 (a gradient of 1e-3 under Adam's eps=1e-7 moves a weight by thousands of times the lr): declare "
        "an eps near the gradients' size, such as 1e-4 to 1e-3, or implementation='fused' or 'compiled', which "
        "add it in float32. Declare values that survive, or train with precision='16-mixed' or 'bf16-mixed', "
        "which keep the weights and the optimizer state in float32."
    )


@pytest.mark.parametrize("implementation", ["forloop", "foreach"])
def test_the_smallest_value_that_survives_trains_as_hand_written(implementation: str) -> None:
    module = declared(OptimizerSpec("adam", lr=1e-3, eps=TINY, implementation=implementation))()
    foreach = implementation == "foreach"
    reference = hand_written(lambda params: Adam(params, lr=1e-3, eps=TINY, foreach=foreach))
    fit(module, "16-true")
    fit(reference, "16-true")
    assert all(torch.isfinite(p).all() for p in module.parameters())
    assert_same(module, reference)


def test_a_fused_kernel_computes_in_float32_and_is_not_refused() -> None:
    module = declared(OptimizerSpec("adam", lr=1e-3, implementation="fused"))()
    reference = hand_written(lambda params: Adam(params, lr=1e-3, fused=True))
    fit(module, "16-true")
    fit(reference, "16-true")
    assert all(torch.isfinite(p).all() for p in module.parameters())
    assert_same(module, reference)


def test_adamws_default_weight_decay_is_refused_where_it_does_nothing() -> None:
    """In float16, ``1 - 1e-3 * 0.01`` is 1.0: the hand-written AdamW trains as with ``weight_decay=0``."""
    decayed = hand_written(lambda params: AdamW(params, lr=1e-3, eps=1e-4))
    undecayed = hand_written(lambda params: AdamW(params, lr=1e-3, eps=1e-4, weight_decay=0.0))
    fit(decayed, "16-true")
    fit(undecayed, "16-true")
    assert_same(decayed, undecayed)

    message = refusal(OptimizerSpec("adamw", lr=1e-3, eps=1e-4), "16-true")
    assert (
        "`weight_decay=0.01` (`AdamW`'s default): each step multiplies the weights by 1 - lr * weight_decay = "
        "0.99999 (at lr=0.001), which float16 makes 1.0; the weights never decay; float16 keeps the factor from "
        "lr * weight_decay > 0.000244 on, here weight_decay > 0.244." in message
    )
    # a weight decay that survives is not refused, and decays as hand-written
    module = declared(OptimizerSpec("adamw", lr=1e-3, eps=1e-4, weight_decay=0.5, implementation="forloop"))()
    reference = hand_written(lambda params: AdamW(params, lr=1e-3, eps=1e-4, weight_decay=0.5))
    fit(module, "16-true")
    fit(reference, "16-true")
    assert_same(module, reference)


def test_bfloat16_refuses_adams_default_beta2_which_it_makes_one() -> None:
    message = refusal(OptimizerSpec("adam", lr=1e-3), "bf16-true")
    assert message.startswith(
        "Declared.optimizer: Expected options that bfloat16 parameters (precision='bf16-true') keep but got "
        "`betas[1]=0.999` (`Adam`'s default): bfloat16 makes it 1.0; it multiplies a bfloat16 moving average at "
        "every step, which then never forgets; the largest value below 1 that bfloat16 keeps is 0.99609375."
    )
    # eps=1e-8 is fine in bfloat16 (float32's range): a surviving beta2 trains
    fit(declared(OptimizerSpec("adam", lr=1e-3, betas=(0.9, 0.99)))(), "bf16-true")


@pytest.mark.parametrize("implementation", [{"foreach": False}, {"fused": True}])
def test_the_reference_second_moment_never_decays_in_bfloat16(implementation: dict[str, bool]) -> None:
    """What a beta2 of 1.0 means: after one large gradient, bfloat16's second moment stays where float32's
    decays (here after 20 steps of zero gradients, float32's is 2% lower)."""
    moments = {}
    for dtype in (torch.float32, torch.bfloat16):
        param = torch.nn.Parameter(torch.zeros(4, dtype=dtype))
        optimizer = Adam([param], lr=1e-3, eps=1e-4, **implementation)
        for step in range(21):
            param.grad = torch.full_like(param, 1.0 if step == 0 else 0.0)
            optimizer.step()
        moments[dtype] = float(optimizer.state[param]["exp_avg_sq"][0])
    assert moments[torch.float32] == pytest.approx(1e-3 * 0.999**20)
    assert moments[torch.bfloat16] == float(torch.tensor(1e-3, dtype=torch.bfloat16))


def test_mixed_precision_keeps_float32_parameters_and_is_not_refused() -> None:
    module = declared(OptimizerSpec("adamw", lr=1e-3, implementation="forloop"))()
    fit(module, "bf16-mixed")
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in module.parameters())


class CastByHand(Classifier):
    """A classifier its ``__init__`` makes float16 (``self.half()``), which no Trainer precision converts back."""

    def __init__(self) -> None:
        super().__init__()
        self.half()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.cross_entropy(self.model_gen(x.half()).float(), y)


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_a_module_cast_by_hand_is_told_to_remove_the_cast_not_to_train_in_mixed_precision(
    precision: str,
) -> None:
    # the refusal advised precision='16-mixed' or 'bf16-mixed', under which the module cast by hand stays float16
    # and the same refusal came back
    spec = OptimizerSpec("adam", lr=1e-3, implementation="forloop")
    with pytest.raises(ValueError) as caught:
        fit(declared(spec, base=CastByHand)(), precision)
    assert str(caught.value).startswith(
        f"Declared.optimizer: Expected options that float16 parameters (precision={precision!r}) keep but got "
        "`eps=1e-08` (`Adam`'s default): float16 makes it 0.0;"
    )
    assert str(caught.value).endswith(
        "Declare values that survive, or remove the cast that made the parameters float16 (`self.half()`, "
        f"`.bfloat16()`, `.to(dtype)`): precision={precision!r} does not, and no precision converts them back. "
        "With float32 parameters, precision='16-mixed' or 'bf16-mixed' keep the weights and the optimizer state "
        "in float32."
    )
    # following it: without the cast, mixed precision trains the same declaration
    module = declared(spec)()
    fit(module, "bf16-mixed")
    assert module.trainer.global_step == 2
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in module.parameters())


def test_a_schedule_a_module_cast_by_hand_loses_is_told_to_remove_the_cast() -> None:
    # a cosine of beta2 to 0.99999, which float16 makes 1.0 before the run's end: the refusal at that step gave
    # the same mixed-precision advice, which does not convert the module back
    spec = OptimizerSpec(
        "adam",
        lr=1e-3,
        betas=(0.9, 0.99),
        eps=1e-3,
        implementation="forloop",
        scheduler=SchedulerSpec("cosine", param="beta2", eta_min=0.99999, interval="step"),
    )
    module = declared(spec, base=CastByHand)()
    with pytest.raises(ValueError, match=r"float16 makes it 1\.0") as caught:
        fit(module, "32-true", max_epochs=6)
    assert str(caught.value).endswith(
        "The `param='beta2'` schedule produced it; check the scheduler's arguments, or remove the cast that made "
        "the parameters float16 (`self.half()`, `.bfloat16()`, `.to(dtype)`): precision='32-true' does not, and "
        "no precision converts them back. With float32 parameters, precision='16-mixed' or 'bf16-mixed' keep the "
        "weights and the optimizer state in float32."
    )
    assert 0 < module.trainer.global_step < 12


def test_each_loss_once_with_the_groups_it_is_in_and_the_declared_spelling() -> None:
    groups = [
        ParamGroup("model_gen.layer1", eps=1e-9, name="head"),
        ParamGroup("model_gen.layer2", name="tail"),
    ]
    message = refusal(
        OptimizerSpec("adam", lr=1e-3, eps=1e-3, groups=groups, implementation="forloop"), "16-true"
    )
    assert "`eps=1e-09` in param group(s) `head`: float16 makes it 0.0" in message
    assert "default" not in message and "tail" not in message


@needs_muon
def test_each_loss_once_in_muon_with_adamw() -> None:
    muon = OptimizerSpec(
        "muon_adamw", adamw_eps=1e-9, groups=[ParamGroup("model_gen.layer1.weight", use_muon=True)]
    )
    message = refusal(muon, "16-true")
    assert re.search(r"`adamw_eps=1e-09` in param group\(s\) `rest`: float16 makes it 0.0", message)
    # the Muon group: torch's Muon defaults, lr=1e-3 and weight_decay=0.1, decay nothing in float16
    assert (
        "`weight_decay=0.1` (`MuonWithAdamW`'s default) in param group(s) `model_gen.layer1.weight`"
        in message
    )


def test_sgd_momentum_that_float16_makes_one_is_refused() -> None:
    message = refusal(OptimizerSpec(SGD, lr=0.1, momentum=0.9999), "16-true")
    assert "`momentum=0.9999`: float16 makes it 1.0" in message
    assert "the largest value below 1 that float16 keeps is 0.99951171875" in message


def test_an_optimizer_whose_arithmetic_is_not_known_is_not_checked() -> None:
    class MasterWeightsAdam(Adam):
        """A subclass may keep float32 state: not in the table."""

    fit(declared(OptimizerSpec(MasterWeightsAdam, lr=1e-3, eps=1e-4))(), "16-true")


def cosine_beta2_at(step: int, total: int = 12, start: float = 0.99, end: float = 0.999) -> float:
    """``CosineAnnealingLR``'s value of a ``param="beta2"`` schedule from ``start`` to ``end`` in ``total`` steps."""
    return end + (start - end) * (1 + math.cos(math.pi * step / total)) / 2


def test_a_schedule_driving_beta2_to_what_bfloat16_makes_one_stops_at_that_step() -> None:
    """The declared ``betas=(0.9, 0.99)`` survive bfloat16, but a cosine of beta2 to 0.999 reaches 0.9984 at step
    10 of 12, which bfloat16 makes 1.0 (the second moment never forgets, as a declared 0.999 would)."""
    to_one = [step for step in range(12) if float(torch.tensor(cosine_beta2_at(step)).bfloat16()) == 1.0]
    assert to_one[0] == 10
    spec = OptimizerSpec(
        "adam",
        lr=1e-3,
        betas=(0.9, 0.99),
        eps=1e-3,
        implementation="forloop",
        scheduler=SchedulerSpec("cosine", param="beta2", eta_min=0.999, interval="step"),
    )
    module = declared(spec)()
    with pytest.raises(ValueError) as caught:
        fit(module, "bf16-true", max_epochs=6)
    # torch's cosine is recursive: its value agrees with the closed form to rounding
    value = re.search(r"got (\S+) before", str(caught.value))
    assert value is not None and float(value.group(1)) == pytest.approx(cosine_beta2_at(10))
    assert str(caught.value).replace(value.group(1), "VALUE", 1) == (
        "Declared.optimizer: Expected the beta2 of param group 0 to be a value bfloat16 parameters keep but got "
        "VALUE before this optimizer's step 11 (global step 10, epoch 5, batch 0). bfloat16 "
        "makes it 1.0; it multiplies a bfloat16 moving average at every step, which then never forgets; the "
        "largest value below 1 that bfloat16 keeps is 0.99609375. The `param='beta2'` schedule produced it; check "
        "the scheduler's arguments, or train with precision='16-mixed' or 'bf16-mixed', which keep the weights "
        "and the optimizer state in float32."
    )
    assert module.trainer.global_step == 10
    # in float32 nothing is lost: the same schedule trains to its end
    full = declared(spec)()
    fit(full, "32-true", max_epochs=6)
    assert full.trainer.global_step == 12


def test_onecycle_is_checked_at_its_max_lr_not_the_declared_lr() -> None:
    """``OneCycleLR`` sets the lrs from ``max_lr``, which the run peaks at: AdamW's decoupled decay survives
    bfloat16 at ``max_lr=0.1`` (``1 - 0.1 * 0.05``), though not at AdamW's default ``lr=1e-3`` the run never
    uses, and is lost for the whole run at ``max_lr=2e-3``."""
    assert float(torch.tensor(1 - 0.1 * 0.05).bfloat16()) < 1.0
    assert float(torch.tensor(1 - 2e-3 * 0.05).bfloat16()) == 1.0

    def spec(max_lr: float) -> OptimizerSpec:
        scheduler = SchedulerSpec("onecycle", max_lr=max_lr, interval="step")
        return OptimizerSpec("adamw", betas=(0.9, 0.99), weight_decay=0.05, scheduler=scheduler)

    module = declared(spec(0.1))()
    fit(module, "bf16-true")
    assert all(torch.isfinite(p).all() for p in module.parameters())

    message = refusal(spec(2e-3), "bf16-true")
    assert (
        "`weight_decay=0.05`: each step multiplies the weights by 1 - lr * weight_decay = 0.9999 (at lr=0.002, "
        "`OneCycleLR`'s `max_lr`), which bfloat16 makes 1.0; the weights never decay" in message
    )


def _needs(cls: type) -> Any:
    """``cls`` as a parameter, skipped where the installed torch lacks it or an option the table names."""
    if cls is MuonWithAdamW:
        return pytest.param(cls, marks=needs_muon)
    if cls is Adam and "decoupled_weight_decay" not in inspect.signature(Adam).parameters:
        reason = f"torch {torch.__version__}'s Adam has no `decoupled_weight_decay` (torch 2.4 lacks it)"
        return pytest.param(cls, marks=pytest.mark.skip(reason=reason))
    return cls


@pytest.mark.parametrize("cls", [_needs(cls) for cls in ARITHMETIC], ids=lambda cls: cls.__name__)
def test_the_table_names_real_options(cls: type) -> None:
    entry = ARITHMETIC[cls]
    parameter = torch.nn.Parameter(torch.zeros(2, 2))
    optimizer = cls([parameter])
    group = optimizer.param_groups[0]
    arithmetic = entry(group) if not isinstance(entry, Arithmetic) else entry
    named = [
        *arithmetic.floors,
        *arithmetic.decays,
        *arithmetic.scales,
        *arithmetic.factors,
        *arithmetic.bounds,
    ]
    if isinstance(arithmetic.decoupled, str):
        named.append(arithmetic.decoupled)
    assert set(named) <= set(group), sorted(set(named) - set(group))


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@CUDA
@pytest.mark.parametrize(("implementation", "finite"), [("foreach", False), ("fused", True)])
def test_on_cuda_the_check_agrees_with_the_kernels(implementation: str, finite: bool) -> None:
    """torch's CUDA default (foreach) loses float16's ``eps`` and turns NaN; the fused kernel computes in
    float32 and does not. The check refuses the first and accepts the second."""
    reference = hand_written(lambda params: Adam(params, lr=1e-3, **{implementation: True}))
    fit(reference, "16-true", accelerator="cuda")
    assert all(bool(torch.isfinite(p).all()) for p in reference.parameters()) == finite
    module = declared(OptimizerSpec("adam", lr=1e-3, implementation=implementation))()
    if finite:
        fit(module, "16-true", accelerator="cuda")
    else:
        with pytest.raises(ValueError, match=r"`eps=1e-08` \(`Adam`'s default\): float16 makes it 0\.0"):
            fit(module, "16-true", accelerator="cuda")


@pytest.mark.gpu
@CUDA
@pytest.mark.parametrize("implementation", [{"foreach": True}, {"fused": True}])
def test_on_cuda_the_second_moment_never_decays_in_bfloat16(implementation: dict[str, bool]) -> None:
    param = torch.nn.Parameter(torch.zeros(4, dtype=torch.bfloat16, device="cuda"))
    optimizer = Adam([param], lr=1e-3, eps=1e-4, **implementation)
    for step in range(21):
        param.grad = torch.full_like(param, 1.0 if step == 0 else 0.0)
        optimizer.step()
    assert float(optimizer.state[param]["exp_avg_sq"][0]) == float(torch.tensor(1e-3, dtype=torch.bfloat16))


COMPILE = pytest.mark.skipif(
    compat.compile_unavailable("cpu") is not None, reason="torch.compile unavailable here"
)


@COMPILE
def test_compiled_is_checked_as_the_eager_step() -> None:
    """``implementation="compiled"`` holds ``lr`` and ``betas`` as tensors: the check sees the values before,
    so AdamW's defaults under bf16-true (``beta2`` and the decoupled decay lost) are refused as under forloop."""
    eager = refusal(OptimizerSpec("adamw", implementation="forloop"), "bf16-true")
    assert "`betas[1]=0.999` (`AdamW`'s default): bfloat16 makes it 1.0" in eager
    assert "`weight_decay=0.01` (`AdamW`'s default): each step multiplies the weights" in eager
    assert refusal(OptimizerSpec("adamw", implementation="compiled"), "bf16-true") == eager


@COMPILE
@pytest.mark.slow
def test_compiled_computes_in_float32_and_its_eps_is_not_refused() -> None:
    """Inductor computes each kernel of the compiled step in float32 and rounds only what it stores: Adam's
    ``eps=1e-8`` is kept, as by the fused kernel (where forloop turns NaN)."""
    module = declared(OptimizerSpec("adam", lr=1e-3, implementation="compiled"))()
    reference = hand_written(lambda params: Adam(params, lr=1e-3, fused=True))
    fit(module, "16-true")
    fit(reference, "16-true")
    assert all(torch.isfinite(p).all() for p in module.parameters())
    for (name, p), q in zip(module.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-3, msg=name)


@pytest.mark.parametrize(
    ("cls", "implementation", "compiled", "lost"),
    [
        (Adam, {"foreach": False}, False, True),
        (Adam, {}, True, False),
        (Adam, {"fused": True}, False, False),
        (Adagrad, {"fused": True}, False, True),
    ],
    ids=["forloop", "compiled", "fused", "fused-adagrad"],
)
def test_a_scheduled_eps_is_checked_at_each_step_as_when_fit_starts(
    cls: type, implementation: dict[str, Any], compiled: bool, lost: bool
) -> None:
    """The per-step check of a ``param="eps"`` schedule (``roundings``) applies the same rules: an eps float16
    makes 0 is lost where the step adds it in float16 (fused Adagrad's CPU kernel too), not where it adds it in
    float32; inf is lost anywhere."""
    optimizer = cls([torch.nn.Parameter(torch.zeros(2, dtype=torch.float16))], **implementation)
    found = roundings(optimizer, compiled=compiled)
    assert found is not None and found[0] is not None
    lost_eps = found[0].loss("eps", 1e-8)
    assert (lost_eps is not None) == lost
    # the advice of the refusal when fit starts: an eps near the gradients' size, not the smallest kept
    assert lost_eps is None or "declare an eps near the gradients' size, such as 1e-4 to 1e-3" in lost_eps[2]
    assert found[0].loss("eps", 1e6) is not None


#: the optimizers of the table that have a fused kernel on this torch
FUSED = [cls for cls in ARITHMETIC if "fused" in inspect.signature(cls).parameters]


@pytest.mark.parametrize("cls", FUSED, ids=lambda cls: cls.__name__)
def test_the_check_of_a_fused_kernel_agrees_with_the_kernel(cls: type) -> None:
    """Each fused kernel at its defaults on float16 parameters (vectorized lengths, gradients 0 and tiny):
    refused exactly where it turns NaN. Fused Adam and AdamW add the ``eps`` in float32; fused Adagrad's CPU
    kernel computes its vector lanes in float16, where its ``eps=1e-10`` is 0."""
    generator = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(n, generator=generator).half()) for n in (1, 64, 1000)]
    optimizer = cls(params, lr=1e-3, weight_decay=0.0, fused=True)
    losses = low_precision_losses(optimizer, ["group"], frozenset(), [frozenset()])
    for _ in range(3):
        for p in params:
            grad = torch.randn(p.shape, generator=generator)
            grad[::3] = 0.0
            grad[1::3] *= 1e-6
            p.grad = grad.half()
        optimizer.step()
    finite = all(bool(torch.isfinite(p).all()) for p in params)
    assert finite == (not losses), losses


def test_adagrads_default_eps_is_refused_under_auto_where_its_fused_kernel_turns_nan() -> None:
    """``"auto"`` picks fused Adagrad on the CPU; its ``eps=1e-10`` is 0 in float16 there as in the for-loop."""
    for implementation in ({"fused": True}, {"foreach": False}):
        reference = hand_written(lambda params, kind=implementation: Adagrad(params, lr=0.1, **kind))
        fit(reference, "16-true")
        assert not all(torch.isfinite(p).all() for p in reference.parameters()), implementation

    message = refusal(OptimizerSpec("adagrad", lr=0.1), "16-true")
    assert "`eps=1e-10` (`Adagrad`'s default): float16 makes it 0.0" in message
    module = declared(OptimizerSpec("adagrad", lr=0.1, eps=1e-4))()
    reference = hand_written(lambda params: Adagrad(params, lr=0.1, eps=1e-4, fused=True))
    fit(module, "16-true")
    fit(reference, "16-true")
    assert all(torch.isfinite(p).all() for p in module.parameters())
    assert_same(module, reference)


@pytest.mark.parametrize("cls", [_needs(cls) for cls in ARITHMETIC], ids=lambda cls: cls.__name__)
def test_an_lr_that_float16_makes_inf_is_refused_for_every_optimizer_of_the_table(cls: type) -> None:
    optimizer = cls([torch.nn.Parameter(torch.zeros(2, 2, dtype=torch.float16))])
    optimizer.param_groups[0]["lr"] = 1e5
    losses = low_precision_losses(optimizer, ["group"], frozenset(), [frozenset()])
    assert any(re.match(r"`(adamw_)?lr=100000\.0`[^:]*: float16 makes it inf", loss) for loss in losses), (
        losses
    )


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        # adds `grad` with `alpha=-lr`, which it converts to float16: above 65504 it raises
        (SGD, {"momentum": 0.9}),
        # adds `grad` with `alpha=-eta` (`eta` starts at `lr`), converted to float16
        (ASGD, {}),
        # fills its float16 step sizes with `lr`
        (Rprop, {}),
        # adds its direction to the weights with `alpha` a multiple of `lr`, converted to float16
        (LBFGS, {}),
    ],
    ids=["SGD", "ASGD", "Rprop", "LBFGS"],
)
def test_an_lr_that_float16_makes_inf_is_refused_where_torch_crashes(
    cls: type, options: dict[str, Any]
) -> None:
    reference = hand_written(lambda params: cls(params, lr=70000.0, **options))
    with pytest.raises(RuntimeError, match=HALF_OVERFLOW):
        fit(reference, "16-true")

    message = refusal(OptimizerSpec(cls, lr=70000.0, **options), "16-true")
    assert (
        "`lr=70000.0`: float16 makes it inf; the largest value float16 keeps is 65504. Declare values that "
        "survive" in message
    )


def test_an_rprop_minimum_step_size_that_float16_makes_zero_is_refused_where_weights_never_move() -> None:
    """A step size that reaches a minimum float16 makes 0 stays 0 (``0 * etaplus``): with ``lr=1e-8`` every step
    size is 0 from the start, and the hand-written module never moves a weight (it does in float32)."""
    make = lambda params: Rprop(params, lr=1e-8, step_sizes=(1e-8, 50.0))  # noqa: E731
    in_float32 = hand_written(make)
    before = weights(in_float32)
    fit(in_float32, "32-true")
    assert any(not torch.equal(before[k], v) for k, v in weights(in_float32).items())
    reference = hand_written(make)
    before = weights(reference)
    fit(reference, "16-true")
    assert all(torch.equal(before[k].half(), v) for k, v in weights(reference).items())

    message = refusal(OptimizerSpec(Rprop, lr=1e-8, step_sizes=(1e-8, 50.0)), "16-true")
    assert "`step_sizes[0]=1e-08`: float16 makes it 0.0; a step size that reaches it is then 0" in message
    assert "`lr=1e-08`" not in message  # a step size made 0 is raised to the minimum at the first step


def test_an_rprop_maximum_step_size_that_float16_makes_inf_is_refused_where_torch_crashes() -> None:
    reference = hand_written(lambda params: Rprop(params, step_sizes=(1e-6, 1e5)))
    with pytest.raises(RuntimeError, match=HALF_OVERFLOW):
        fit(reference, "16-true")

    message = refusal(OptimizerSpec(Rprop, step_sizes=(1e-6, 1e5)), "16-true")
    assert (
        "`step_sizes[1]=100000.0`: float16 makes it inf; the largest value float16 keeps is 65504" in message
    )


def test_an_sgd_max_lr_that_float16_makes_inf_is_refused() -> None:
    """The run's largest lr is checked where a scheduler sets it (``OneCycleLR``'s ``max_lr``), SGD's too."""
    optimizer = SGD([torch.nn.Parameter(torch.zeros(2, dtype=torch.float16))], lr=0.1)
    peak = PeakLrs([70000.0], "OneCycleLR", "max_lr")
    assert low_precision_losses(optimizer, ["group"], frozenset({"lr"}), [frozenset()], peak) == [
        "`max_lr=70000.0`: float16 makes it inf; the largest value float16 keeps is 65504"
    ]


class WithHParams(Classifier):
    def __init__(self, **hparams: Any) -> None:
        super().__init__()
        self.save_hyperparameters(hparams)


@pytest.mark.parametrize(
    ("spec", "hparams", "shown"),
    [
        (
            OptimizerSpec("adam", eps=HParam("eps"), implementation="forloop"),
            {"eps": 1e-8},
            "`eps` from hparam `eps` = 1e-08: float16 makes it 0.0",
        ),
        (
            OptimizerSpec("adam", lr=HParam("learning_rate"), eps=1e-4),
            {"learning_rate": 1e-8},
            "`lr` from hparam `learning_rate` = 1e-08: float16 makes it 0.0",
        ),
        (
            OptimizerSpec(
                "adam",
                eps=1e-4,
                groups=[ParamGroup("model_gen.layer1", eps=HParam("head_eps"))],
                implementation="forloop",
            ),
            {"head_eps": 1e-9},
            "`eps` from hparam `head_eps` = 1e-09 in param group(s) `model_gen.layer1`: float16",
        ),
        (
            OptimizerSpec("adam", lr=1e-3, eps=1e-4, groups=[ParamGroup("model_gen.layer1", lr_mult=1e-5)]),
            {},
            "`lr=1e-08` (`lr=0.001` times the group's `lr_mult=1e-05`) in param group(s) `model_gen.layer1`: "
            "float16 makes it 0.0",
        ),
        (
            OptimizerSpec(
                "adam", lr=HParam("lr"), eps=1e-4, groups=[ParamGroup("model_gen.layer1", lr_mult=1e-5)]
            ),
            {"lr": 1e-3},
            "`lr=1e-08` (`lr` from hparam `lr` = 0.001 times the group's `lr_mult=1e-05`) in param group(s) "
            "`model_gen.layer1`: float16 makes it 0.0",
        ),
        (
            OptimizerSpec(
                "adam",
                eps=1e-4,
                groups=[ParamGroup("model_gen.layer1", lr_mult=1e-5)],
                scheduler=SchedulerSpec("onecycle", max_lr=1e-3, interval="step"),
            ),
            {},
            "`max_lr=1e-08` (`max_lr=0.001` times the group's `lr_mult=1e-05`) in param group(s) "
            "`model_gen.layer1`: float16 makes it 0.0",
        ),
    ],
    ids=["hparam", "hparam-lr", "group-hparam", "lr_mult", "hparam-lr_mult", "max_lr-lr_mult"],
)
def test_a_refusal_says_where_the_value_comes_from(
    spec: OptimizerSpec, hparams: dict[str, Any], shown: str
) -> None:
    """As every refusal of a value read at ``fit``: the hparam it was read from, and a group's scale."""
    module = declared(spec, WithHParams)(**hparams)
    with pytest.raises(ValueError) as caught:
        fit(module, "16-true")
    assert shown in str(caught.value)


def test_the_eps_refusal_does_not_advise_the_smallest_value_float16_keeps() -> None:
    """float16 keeps ``eps=1e-7``, but Adam's second moment of a gradient of 1e-3 (``1e-3 * g**2 = 1e-9``)
    underflows to 0, so the first update is ``lr * grad / eps``: thousands of times the lr, not about the lr."""
    for eps in (1e-7, 1e-3):
        param = torch.nn.Parameter(torch.tensor([0.5], dtype=torch.float16))
        optimizer = Adam([param], lr=1e-3, eps=eps, foreach=False)
        param.grad = torch.tensor([1e-3], dtype=torch.float16)
        optimizer.step()
        moved = abs(float(param.detach()) - 0.5)
        assert moved > 1000 * 1e-3 if eps == 1e-7 else moved < 2e-3, (eps, moved)

    message = refusal(OptimizerSpec("adam", lr=1e-3, implementation="forloop"), "16-true")
    assert "the smallest value float16 keeps above 0" not in message
    assert (
        "any eps float16 keeps (from 5.96e-08, 2**-24) still makes an update lr * grad / eps where a small "
        "gradient's square underflows in float16 (a gradient of 1e-3 under Adam's eps=1e-7 moves a weight by "
        "thousands of times the lr): declare an eps near the gradients' size, such as 1e-4 to 1e-3, or "
        "implementation='fused' or 'compiled', which add it in float32." in message
    )


def test_a_schedule_driving_eps_to_what_float16_makes_zero_stops_with_the_same_advice() -> None:
    """A ``param="eps"`` cosine from a kept 1e-6 to 1e-12 reaches values float16 makes 0 (below 2**-25) at
    step 11 of 12: it stops before the step that would use one, with the advice of the refusal when ``fit``
    starts."""
    spec = OptimizerSpec(
        "adam",
        lr=1e-3,
        eps=1e-6,
        implementation="forloop",
        scheduler=SchedulerSpec("cosine", param="eps", eta_min=1e-12, interval="step"),
    )
    with pytest.raises(ValueError) as caught:
        fit(declared(spec)(), "16-true", max_epochs=6)
    message = str(caught.value)
    assert "Expected the eps of param group 0 to be a value float16 parameters keep but got" in message
    assert "before this optimizer's step 12 (global step 11," in message
    assert (
        "float16 makes it 0.0; it is added to a float16 tensor to keep a denominator from 0, so an update divides "
        "0 by 0 (NaN) where a gradient is 0; any eps float16 keeps" in message
    )
    assert (
        "or implementation='fused' or 'compiled', which add it in float32. The `param='eps'` schedule"
        in message
    )


class WithUnused(Classifier):
    """A classifier with a parameter whose gradient is always 0 (an unused embedding row, a frozen branch)."""

    def __init__(self, **hparams: Any) -> None:
        super().__init__()
        self.save_hyperparameters(hparams)
        self.unused = torch.nn.Parameter(torch.zeros(3))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return super().training_step(batch, batch_idx) + 0.0 * self.unused.sum()


#: Each torch optimizer that adds an ``eps`` to a denominator (``ARITHMETIC``'s ``floors``), by name.
ZERO_EPS = ["adam", "adamw", "nadam", "radam", "adamax", "adagrad", "adadelta", "rmsprop"]


@pytest.mark.parametrize("name", ZERO_EPS)
def test_an_eps_of_zero_is_refused_at_class_definition_where_torch_turns_the_unused_weights_nan(
    name: str,
) -> None:
    """In float32 (and any precision): torch's step divides 0 by 0 where a gradient has been 0 (RAdam's once it
    rectifies, at its sixth step)."""
    cls = OPTIMIZERS[name]
    reference = type(
        "HandWritten",
        (WithUnused,),
        {"configure_optimizers": lambda self: cls(self.parameters(), eps=0.0)},
    )()
    fit(reference, "32-true", max_epochs=4)  # 8 steps
    assert torch.isnan(reference.unused).all()
    with pytest.raises(ValueError) as caught:
        declared(OptimizerSpec(name, eps=0.0), base=WithUnused, name="Model")
    default = inspect.signature(cls).parameters["eps"].default
    assert str(caught.value) == (
        f"Model.optimizer: Expected `eps` of `{cls.__name__}` to be > 0 but got 0.0: it is added to a denominator "
        "that stays 0 where a parameter's gradient has been 0 (an unused embedding row, a frozen branch), so the "
        f"update divides 0 by 0 and makes those weights NaN. Declare a small `eps` > 0, such as `{cls.__name__}`'s "
        f"default {default!r}" + (", or give `initial_accumulator_value` > 0." if cls is Adagrad else ".")
    )


def test_an_eps_of_zero_is_refused_under_16_true_as_in_float32() -> None:
    """Under ``precision="16-true"`` ``eps=1e-8`` was refused (float16 makes it 0) and ``eps=0.0`` trained to NaN."""
    with pytest.raises(
        ValueError, match=r"^Model.optimizer: Expected `eps` of `Adam` to be > 0 but got 0\.0: "
    ):
        declared(OptimizerSpec("adam", eps=0.0, implementation="forloop"), base=WithUnused, name="Model")


def test_an_eps_of_zero_in_a_param_group_is_refused_naming_the_group() -> None:
    spec = OptimizerSpec("adam", groups=[ParamGroup("model_gen.layer1", eps=0.0)])
    with pytest.raises(
        ValueError, match=r"^Model.optimizer.groups\[0\]: Expected `eps` of `Adam` to be > 0 but got 0\.0: "
    ):
        declared(spec, base=WithUnused, name="Model")


def test_an_eps_of_zero_read_from_an_hparam_is_refused_when_fit_starts() -> None:
    module = declared(OptimizerSpec("rmsprop", eps=HParam("eps")), base=WithUnused)(eps=0.0)
    with pytest.raises(ValueError, match=r"Expected `eps` of `RMSprop` to be > 0 but got 0\.0: it is added"):
        fit(module, "32-true")
    assert not torch.isnan(module.unused).any()


@pytest.mark.parametrize("from_hparam", [False, True], ids=["declared", "hparam"])
def test_adagrad_with_a_zero_eps_above_a_positive_initial_accumulator_trains_as_hand_written(
    from_hparam: bool,
) -> None:
    """Its denominator starts at sqrt(initial_accumulator_value): an eps of 0 never divides by 0 there. An
    ``HParam`` giving it is read when ``fit`` starts (review: it was refused at class definition, as 0)."""
    options = {"lr": 0.1, "eps": 0.0, "initial_accumulator_value": 0.1}
    declared_options = {**options, "initial_accumulator_value": HParam("iav")} if from_hparam else options
    values = {"iav": 0.1} if from_hparam else {}
    module = declared(
        OptimizerSpec("adagrad", implementation="forloop", **declared_options), base=WithUnused
    )(**values)
    reference = type(
        "HandWritten",
        (WithUnused,),
        {"configure_optimizers": lambda self: Adagrad(self.parameters(), foreach=False, **options)},
    )()
    fit(module, "32-true")
    fit(reference, "32-true")
    assert not torch.isnan(reference.unused).any()
    assert_same(module, reference)


@needs_muon
def test_muon_with_adamws_adamw_eps_of_zero_is_refused() -> None:
    """The stand-in group of the class-definition trial is a Muon group: the AdamW half's eps is read from the
    argument that gives it."""
    with pytest.raises(ValueError) as caught:
        declared(OptimizerSpec("muon_adamw", adamw_eps=0.0), name="Model")
    assert str(caught.value).startswith(
        "Model.optimizer: Expected `adamw_eps` of `MuonWithAdamW` to be > 0 but got 0.0: it is added to a "
    )
    assert str(caught.value).endswith(
        "Declare a small `adamw_eps` > 0, such as `MuonWithAdamW`'s default 1e-08."
    )
