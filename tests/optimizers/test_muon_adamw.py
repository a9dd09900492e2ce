"""``MuonWithAdamW`` against the real thing: torch's Muon and AdamW stepped by hand, and Lightning itself.

The reference is what users write today: a ``LightningModule`` in manual optimization whose
``configure_optimizers`` returns a ``torch.optim.Muon`` over the hidden matrices and a ``torch.optim.AdamW``
over everything else, each stepped once per (accumulated) batch and each with its own scheduler. The composite is
declared with the mixin and trained in automatic optimization. Runs are CPU, seeded and deterministic, so
weights and learning rates must be *identical* (``torch.equal``, ``==``), not close.
"""

from __future__ import annotations

import copy
import inspect
import pickle
import warnings
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingLR
from torch.utils.data import DataLoader, TensorDataset

from lightning_optim import (
    ConfigurableOptimizersMixin,
    LRMonitor,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    preview_schedule,
)
from lightning_optim.optimizers.muon_adamw import MuonWithAdamW, is_matrix
from tests.helpers import needs_muon

pytestmark = needs_muon

FAST: dict[str, Any] = {
    "accelerator": "cpu",
    "devices": 1,
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
}
VOCAB, WIDTH, BATCHES = 16, 8, 4
#: the recipe's hyperparameters, spelled once for the composite and the hand-written reference
MUON = {"lr": 0.02, "weight_decay": 0.1, "momentum": 0.95, "nesterov": True}
ADAMW = {"lr": 3e-4, "betas": (0.9, 0.95), "eps": 1e-8, "weight_decay": 0.01}


def recipe(scheduler: SchedulerSpec | list[SchedulerSpec] | None = None) -> OptimizerSpec:
    """The recommended declaration (as in the module docstring of ``muon_adamw``), with the test's values."""
    return OptimizerSpec(
        "lightning_optim.optimizers.muon_adamw.MuonWithAdamW",
        lr=MUON["lr"],
        adamw_lr=ADAMW["lr"],
        adamw_betas=ADAMW["betas"],
        adamw_weight_decay=ADAMW["weight_decay"],
        groups=[
            ParamGroup(["embed", "head"], use_muon=False, name="adamw"),
            ParamGroup(is_matrix, use_muon=True, name="muon"),
        ],
        scheduler=scheduler,
    )


def tokens(n: int = BATCHES * 8) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randint(0, VOCAB, (n, 6), generator=generator)), batch_size=8)


class TinyLM(L.LightningModule):
    """Embedding, two hidden matrices with biases, a LayerNorm and a head: every kind of parameter of the recipe."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(VOCAB, WIDTH)
        self.hidden = nn.Sequential(nn.Linear(WIDTH, 2 * WIDTH), nn.ReLU(), nn.Linear(2 * WIDTH, WIDTH))
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, VOCAB)

    def loss(self, batch: Any) -> torch.Tensor:
        (x,) = batch
        logits = self.head(self.norm(self.hidden(self.embed(x[:, :-1]))))
        return nn.functional.cross_entropy(logits.reshape(-1, VOCAB), x[:, 1:].reshape(-1))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.loss(batch)

    def recipe_groups(self) -> list[list[tuple[str, nn.Parameter]]]:
        """The declaration's groups in its order: embeddings and head, the other matrices, the rest."""
        named = list(self.named_parameters())
        adamw = [(n, p) for n, p in named if n.startswith(("embed.", "head."))]
        muon = [(n, p) for n, p in named if not n.startswith(("embed.", "head.")) and p.ndim == 2]
        taken = {n for n, _ in adamw + muon}
        return [adamw, muon, [(n, p) for n, p in named if n not in taken]]


def declared(spec: OptimizerSpec | None = None) -> type[TinyLM]:
    return type("Recipe", (ConfigurableOptimizersMixin, TinyLM), {"optimizer": spec or recipe()})


def cosine(t_max: int) -> SchedulerSpec:
    return SchedulerSpec("cosine", T_max=t_max, interval="step")


class ManualMuonAdamW(TinyLM):
    """What users write without the composite: two torch optimizers, two schedulers, manual optimization.

    ``clip`` clips the global norm over all parameters by hand, in the composite's group order (Lightning's
    ``self.clip_gradients(opt, ...)`` would clip each optimizer's parameters separately, which is not what
    automatic optimization does with one optimizer).
    """

    def __init__(
        self,
        t_max: int | None = None,
        accumulate: int = 1,
        clip: float | None = None,
        muon: dict[str, Any] = MUON,
        adamw: dict[str, Any] = ADAMW,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.t_max, self.accumulate, self.clip = t_max, accumulate, clip
        self.muon, self.adamw = muon, adamw
        self.norms: list[float] = []

    def configure_optimizers(self) -> Any:
        adamw, muon, rest = self.recipe_groups()
        optimizers = [
            torch.optim.Muon([p for _, p in muon], **self.muon),
            torch.optim.AdamW([p for _, p in adamw + rest], **self.adamw),
        ]
        if self.t_max is None:
            return optimizers
        return optimizers, [CosineAnnealingLR(o, T_max=self.t_max) for o in optimizers]

    def training_step(self, batch: Any, batch_idx: int) -> None:
        self.manual_backward(self.loss(batch) / self.accumulate)
        if (batch_idx + 1) % self.accumulate:
            return
        if self.clip is not None:
            ordered = [p for group in self.recipe_groups() for _, p in group]
            self.norms.append(float(torch.nn.utils.clip_grad_norm_(ordered, self.clip)))
        optimizers = self.optimizers()
        for optimizer in optimizers:
            optimizer.step()
            optimizer.zero_grad()
        for scheduler in self.lr_schedulers() or []:
            scheduler.step()


class HandWritten(TinyLM):
    """The composite returned by a hand-written ``configure_optimizers`` (no mixin), automatic optimization."""

    def configure_optimizers(self) -> Any:
        adamw, muon, rest = self.recipe_groups()
        return MuonWithAdamW(
            [
                {"params": [p for _, p in adamw], "use_muon": False},
                {"params": [p for _, p in muon], "use_muon": True},
                {"params": [p for _, p in rest]},
            ],
            lr=MUON["lr"],
            adamw_lr=ADAMW["lr"],
            adamw_betas=ADAMW["betas"],
            adamw_weight_decay=ADAMW["weight_decay"],
        )


class LearningRates(Callback):
    """The lr each parameter (by name) takes every optimizer step with: comparable across optimizer layouts."""

    def __init__(self) -> None:
        self.lrs: dict[str, list[float]] = {}

    def on_before_optimizer_step(
        self, trainer: L.Trainer, module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        names = {id(p): n for n, p in module.named_parameters()}
        for group in optimizer.param_groups:
            for p in group["params"]:
                self.lrs.setdefault(names[id(p)], []).append(group["lr"])


def fit(module: L.LightningModule, epochs: int = 2, **trainer: Any) -> LearningRates:
    recorder = LearningRates()
    options = {**FAST, **trainer}
    options["callbacks"] = [*options.get("callbacks", []), recorder]
    L.Trainer(max_epochs=epochs, **options).fit(module, tokens())
    return recorder


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    left, right = a.state_dict(), b.state_dict()
    assert left.keys() == right.keys()
    different = [k for k in left if not torch.equal(left[k], right[k])]
    assert not different, f"weights differ: {different}"


#: each half's constructor arguments, by the torch class whose defaults it must keep
HALVES = {
    "muon": (lambda: torch.optim.Muon, {name: name for name in ("lr", "weight_decay", "momentum", "nesterov",
             "ns_coefficients", "eps", "ns_steps", "adjust_lr_fn")}),
    "adamw": (lambda: torch.optim.AdamW, {"lr": "adamw_lr", "betas": "adamw_betas", "eps": "adamw_eps",
              "weight_decay": "adamw_weight_decay", "amsgrad": "adamw_amsgrad", "foreach": "adamw_foreach",
              "fused": "adamw_fused"}),
}  # fmt: skip


@pytest.mark.parametrize("half", HALVES)
def test_each_half_defaults_to_its_torch_class(half: str) -> None:
    torch_class, arguments = HALVES[half]
    theirs = inspect.signature(torch_class()).parameters
    ours = inspect.signature(MuonWithAdamW).parameters
    assert {option: ours[argument].default for option, argument in arguments.items()} == {
        option: theirs[option].default for option in arguments
    }


def test_a_port_of_torch_muon_and_adamw_with_their_defaults_trains_to_the_same_weights() -> None:
    """Tried as a new user would: the two torch optimizers with their defaults, declared with no value."""
    port = declared(
        OptimizerSpec(
            "muon_adamw",
            groups=[ParamGroup(["embed", "head"], use_muon=False), ParamGroup(is_matrix, use_muon=True)],
        )
    )()
    reference = ManualMuonAdamW(muon={}, adamw={})
    fit(port, 2)
    fit(reference, 2)
    assert_same_weights(port, reference)
    assert not torch.equal(port.embed.weight, TinyLM().embed.weight)


def test_recommended_declaration_builds_the_recipe_groups() -> None:
    module = declared()()
    fit(module, epochs=1)
    (optimizer,) = module.trainer.optimizers
    assert isinstance(optimizer, MuonWithAdamW)
    names = {id(p): n for n, p in module.named_parameters()}
    got = [
        (g["name"], g["use_muon"], g["lr"], [names[id(p)] for p in g["params"]])
        for g in optimizer.param_groups
    ]
    assert got == [
        ("adamw", False, 3e-4, ["embed.weight", "head.weight", "head.bias"]),
        ("muon", True, 0.02, ["hidden.0.weight", "hidden.2.weight"]),
        ("rest", False, 3e-4, ["hidden.0.bias", "hidden.2.bias", "norm.weight", "norm.bias"]),
    ]


def test_equals_the_manual_two_optimizer_loop_with_a_per_step_scheduler() -> None:
    epochs = 3
    t_max = epochs * BATCHES
    composite = declared(recipe(cosine(t_max)))()
    reference = ManualMuonAdamW(t_max=t_max)
    composite_lrs = fit(composite, epochs).lrs
    reference_lrs = fit(reference, epochs).lrs
    assert_same_weights(composite, reference)
    assert composite_lrs == reference_lrs
    # one schedule on the composite scales both halves, each from its own initial lr
    muon, adamw = composite_lrs["hidden.0.weight"], composite_lrs["embed.weight"]
    assert len(muon) == t_max and (muon[0], adamw[0]) == (0.02, 3e-4)
    assert muon[-1] < 0.001 and adamw[-1] < 3e-4 / 20 and composite_lrs["norm.bias"] == adamw
    # and the run really trained: the weights moved
    assert not torch.equal(composite.hidden[0].weight, TinyLM().hidden[0].weight)


def test_gradient_clipping_and_accumulation_apply_in_automatic_optimization() -> None:
    epochs, clip = 2, 0.5
    automatic = {"gradient_clip_val": clip, "accumulate_grad_batches": 2}
    t_max = epochs * BATCHES // 2
    composite = declared(recipe(cosine(t_max)))()
    composite_lrs = fit(composite, epochs, **automatic).lrs
    reference = ManualMuonAdamW(t_max=t_max, accumulate=2, clip=clip)
    reference_lrs = fit(reference, epochs).lrs
    # clipping really happened in every step of the reference, so the comparison can fail
    assert len(reference.norms) == epochs * BATCHES // 2 and min(reference.norms) > clip
    assert_same_weights(composite, reference)
    assert composite_lrs == reference_lrs
    # the same composite from a hand-written `configure_optimizers` trains identically (no scheduler there)
    plain, hand = declared()(), HandWritten()
    fit(plain, epochs, **automatic)
    fit(hand, epochs, **automatic)
    assert_same_weights(plain, hand)
    unclipped = declared()()
    fit(unclipped, epochs, accumulate_grad_batches=2)
    assert not torch.equal(unclipped.hidden[0].weight, plain.hidden[0].weight)


def test_bf16_mixed_precision_trains_on_cpu() -> None:
    module = declared(recipe(cosine(2 * BATCHES)))()
    before = copy.deepcopy(module.state_dict())
    fit(module, 2, precision="bf16-mixed", gradient_clip_val=1.0)
    for name, value in module.state_dict().items():
        assert torch.isfinite(value).all(), name
        assert not torch.equal(value, before[name]), name


@pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`")
def test_checkpoint_resume_continues_bit_identically(tmp_path: Any) -> None:
    declaration = recipe(cosine(4 * BATCHES))
    uninterrupted = declared(declaration)()
    full_lrs = fit(uninterrupted, 4).lrs

    first = declared(declaration)()
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    fit(first, 2, enable_checkpointing=True, callbacks=[checkpoint])
    resumed = declared(declaration)()
    recorder = LearningRates()
    trainer = L.Trainer(max_epochs=4, **{**FAST, "callbacks": [recorder]})
    trainer.fit(resumed, tokens(), ckpt_path=str(tmp_path / "last.ckpt"))
    assert_same_weights(resumed, uninterrupted)
    assert recorder.lrs == {k: v[2 * BATCHES :] for k, v in full_lrs.items()}


@pytest.mark.parametrize(
    ("monitor", "adamw_momentum"), [(LearningRateMonitor, 0), (LRMonitor, ADAMW["betas"][0])]
)
def test_lr_monitors_log_each_half_with_its_own_lr_momentum_and_weight_decay(
    monitor: type[Callback], adamw_momentum: float, tmp_path: Any
) -> None:
    """Lightning's monitor reads ``betas`` of every group when ``defaults`` has ``betas``, else ``momentum`` (0
    for the AdamW groups); this package's reads each AdamW group's ``beta1``, which it trains with."""
    callback = monitor(log_momentum=True, log_weight_decay=True)
    module = declared(recipe(cosine(BATCHES)))()
    lrs = fit(module, 1, logger=CSVLogger(tmp_path), log_every_n_steps=1, callbacks=[callback]).lrs
    logged = {key: [float(v) for v in values] for key, values in callback.lrs.items()}  # type: ignore[attr-defined]
    assert logged == {
        "lr-optimizer/adamw": lrs["embed.weight"],
        "lr-optimizer/muon": lrs["hidden.0.weight"],
        "lr-optimizer/rest": lrs["norm.bias"],
    }
    assert callback.last_momentum_values == {  # type: ignore[attr-defined]
        "lr-optimizer/adamw-momentum": adamw_momentum,
        "lr-optimizer/muon-momentum": 0.95,
        "lr-optimizer/rest-momentum": adamw_momentum,
    }
    assert callback.last_weight_decay_values == {  # type: ignore[attr-defined]
        "lr-optimizer/adamw-weight_decay": 0.01,
        "lr-optimizer/muon-weight_decay": 0.1,
        "lr-optimizer/rest-weight_decay": 0.01,
    }


class Momenta(Callback):
    """The momentum each group (by name) steps with (``beta1`` for AdamW) and what ``LRMonitor`` shows then."""

    def __init__(self, monitor: LRMonitor) -> None:
        self.monitor = monitor
        self.used: dict[str, list[float]] = {}
        self.logged: dict[str, list[Any]] = {}

    def on_before_optimizer_step(
        self, trainer: L.Trainer, module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        for group in optimizer.param_groups:
            key = f"lr-optimizer/{group['name']}-momentum"
            used = group["momentum"] if group["use_muon"] else group["betas"][0]
            self.used.setdefault(key, []).append(used)
            self.logged.setdefault(key, []).append(self.monitor.last_momentum_values[key])


@pytest.mark.filterwarnings("ignore:`LRMonitor` is used with a `Trainer` that has no logger")
def test_lr_monitor_and_preview_show_the_beta1_a_momentum_schedule_drives_in_the_adamw_groups() -> None:
    """A ``param="momentum"`` schedule drives each group's own option; both show the value it steps with."""
    momentum = SchedulerSpec("linear", param="momentum", start_factor=1.0, end_factor=0.5, interval="step")
    module = declared(recipe([cosine(BATCHES), momentum]))
    monitor = LRMonitor(logging_interval="step", log_momentum=True)
    momenta = Momenta(monitor)
    fit(module(), 1, log_every_n_steps=1, callbacks=[monitor, momenta])
    assert momenta.used["lr-optimizer/adamw-momentum"][:2] == [0.9, 0.9 * (1 - 0.5 / 4)]
    assert momenta.logged == momenta.used
    preview = preview_schedule(module, max_epochs=1, steps_per_epoch=BATCHES, params=("momentum",))
    assert preview == momenta.used


def _stepped(optimizer: MuonWithAdamW, model: nn.Module, steps: int, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        model(torch.randn(4, 4, generator=generator)).square().mean().backward()
        optimizer.step()
        optimizer.zero_grad()


def _model_and_optimizer() -> tuple[nn.Module, MuonWithAdamW]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.Linear(6, 3))
    optimizer = MuonWithAdamW(
        [
            {"params": [model[0].weight]},
            {"params": list(model[2].parameters()), "use_muon": False, "lr": 1e-3},
            {"params": [model[0].bias, *model[1].parameters()]},
        ],
        lr=0.02,
        adamw_lr=3e-4,
    )
    return model, optimizer


def test_state_dict_round_trip_pickle_and_deepcopy_continue_exactly() -> None:
    model, optimizer = _model_and_optimizer()
    _stepped(optimizer, model, 3, seed=1)
    saved = copy.deepcopy(optimizer.state_dict())
    assert [g["use_muon"] for g in saved["param_groups"]] == [True, False, False]
    assert set(saved["state"][0]) == {"momentum_buffer"} and set(saved["state"][1]) >= {"exp_avg", "step"}

    other_model, other = _model_and_optimizer()
    _stepped(other, other_model, 2, seed=3)  # a state of its own, which the loaded one must replace
    other_model.load_state_dict(model.state_dict())
    other.load_state_dict(saved)
    pickled = pickle.loads(pickle.dumps((model, optimizer)))
    copied_model, copied = copy.deepcopy((model, optimizer))
    for m, o in [(model, optimizer), (other_model, other), pickled, (copied_model, copied)]:
        _stepped(o, m, 3, seed=2)
    for m in (other_model, pickled[0], copied_model):
        assert_same_weights(m, model)
    assert other.param_groups[1]["lr"] == 1e-3 and copied.adamw_defaults == optimizer.adamw_defaults


def test_a_scheduler_on_the_composite_scales_each_group_from_its_own_lr() -> None:
    model, optimizer = _model_and_optimizer()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5**step)
    _stepped(optimizer, model, 1, seed=0)
    scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == [0.01, 5e-4, 1.5e-4]


def test_add_param_group_decides_and_fills_per_group() -> None:
    model, optimizer = _model_and_optimizer()
    extra = nn.Linear(3, 3)
    optimizer.add_param_group({"params": [extra.weight], "momentum": 0.9})
    optimizer.add_param_group({"params": extra.bias, "betas": (0.8, 0.9)})
    muon_group, adamw_group = optimizer.param_groups[-2:]
    assert (muon_group["use_muon"], muon_group["lr"], muon_group["momentum"]) == (True, 0.02, 0.9)
    assert (adamw_group["use_muon"], adamw_group["lr"], adamw_group["betas"]) == (False, 3e-4, (0.8, 0.9))
    assert "betas" not in muon_group and "momentum" not in adamw_group
    before = extra.weight.detach().clone()
    (model(torch.randn(2, 4)).sum() + extra(torch.randn(2, 3)).sum()).backward()
    optimizer.step()
    assert not torch.equal(extra.weight, before)


def test_a_non_matrix_in_a_muon_group_is_refused_with_the_group_and_shape() -> None:
    layer = nn.Linear(4, 3)
    with pytest.raises(ValueError) as caught:
        MuonWithAdamW(
            [{"params": [layer.weight]}, {"params": [layer.bias], "use_muon": True, "name": "biases"}]
        )
    assert str(caught.value).startswith(
        "Expected every parameter of MuonWithAdamW param group 1 `biases` (use_muon=True) to be a 2-D matrix "
        "but parameter 0 of the group has shape (3,)."
    )
    with pytest.raises(
        ValueError, match=r"param group 0 \(use_muon=True\).* `conv.weight` has shape \(2, 1, 3, 3\)"
    ):
        MuonWithAdamW([{"params": [("conv.weight", nn.Conv2d(1, 2, 3).weight)]}], use_muon=True)


def test_a_non_matrix_in_a_declared_muon_group_fails_when_fit_starts() -> None:
    spec = OptimizerSpec(MuonWithAdamW, groups=[ParamGroup("*.bias", use_muon=True)])
    with pytest.raises(ValueError) as caught:
        fit(declared(spec)(), epochs=1)
    assert str(caught.value).startswith(
        "Recipe.optimizer: `MuonWithAdamW` rejected the declared options: Expected every parameter of "
        "MuonWithAdamW param group 0 `*.bias` (use_muon=True) to be a 2-D matrix but parameter 0 of the group "
        "has shape (16,)."
    )


class LazyLM(TinyLM):
    """``TinyLM`` whose first hidden layer is an ``nn.LazyLinear``: no shape before the first forward."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden[0] = nn.LazyLinear(2 * WIDTH)


LAZY_FIX = (
    "but it is uninitialized: a lazy module's parameter gets its shape at the module's first forward, after the "
    "optimizers are built. Run a forward pass on a sample batch in `__init__`, build the layer with its sizes "
    "in `configure_model`, or "
)


def test_is_matrix_refuses_a_lazy_modules_parameter_when_fit_starts() -> None:
    # `UninitializedParameter.ndim` reads 1: the LazyLinear's weight (16 x 8 after the first forward) silently
    # went to `rest`, stepped by AdamW at `adamw_lr` instead of Muon
    module = type("Recipe", (ConfigurableOptimizersMixin, LazyLM), {"optimizer": recipe()})()
    with pytest.raises(ValueError) as raised:
        fit(module, epochs=1)
    assert str(raised.value) == (
        "Recipe.optimizer.groups[1]: Expected `hidden.0.weight` to have a shape for `is_matrix`, which reads "
        f"`ndim`, {LAZY_FIX}select the matrices by name (`ParamGroup(['hidden.0.weight', ...], use_muon=True)`)."
    )


class LazyHeadLM(TinyLM):
    """``TinyLM`` whose head is an ``nn.LazyLinear``: the recipe names it, so ``is_matrix`` never decides it."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.LazyLinear(VOCAB)


def test_is_matrix_after_a_group_naming_the_lazy_head_trains_the_recipe() -> None:
    module = type("Recipe", (ConfigurableOptimizersMixin, LazyHeadLM), {"optimizer": recipe()})()
    fit(module, epochs=1)
    names = {id(p): n for n, p in module.named_parameters()}
    groups = [
        (g["name"], [names[id(p)] for p in g["params"]]) for g in module.trainer.optimizers[0].param_groups
    ]
    assert groups == [
        ("adamw", ["embed.weight", "head.weight", "head.bias"]),
        ("muon", ["hidden.0.weight", "hidden.2.weight"]),
        ("rest", ["hidden.0.bias", "hidden.2.bias", "norm.weight", "norm.bias"]),
    ]
    assert module.head.weight.shape == (VOCAB, WIDTH)


def test_a_lazy_parameter_in_a_declared_muon_group_is_checked_when_it_has_a_shape() -> None:
    # torch's "Can't access the shape of an uninitialized parameter" came from the 2-D check's message
    spec = OptimizerSpec(MuonWithAdamW, groups=[ParamGroup("hidden", use_muon=True)])
    module = type("Recipe", (ConfigurableOptimizersMixin, LazyLM), {"optimizer": spec})()
    with pytest.raises(ValueError) as raised:
        fit(module, epochs=1)
    assert str(raised.value).startswith(
        "Recipe.optimizer: `MuonWithAdamW` rejected the declared options: Expected every parameter of "
        "MuonWithAdamW param group 0 `hidden` (use_muon=True) to be a 2-D matrix but parameter 3 of the group "
        "has shape (8,)."
    )


def test_a_lazy_matrix_named_in_a_muon_group_steps_like_torch_muon() -> None:
    # naming the matrix is one of the fixes `is_matrix` suggests: its 2-D check waits for its shape
    torch.manual_seed(0)
    lazy = nn.LazyLinear(3)
    ours = MuonWithAdamW(
        [{"params": [lazy.weight], "use_muon": True}, {"params": [lazy.bias], "use_muon": False}]
    )
    x = torch.randn(5, 4)
    lazy(x)  # the first forward gives the weight its shape (3 x 4)
    weight, bias = (nn.Parameter(p.detach().clone()) for p in (lazy.weight, lazy.bias))
    theirs = [torch.optim.Muon([weight]), torch.optim.AdamW([bias])]  # both with their defaults, as ours
    for _ in range(3):
        lazy(x).square().sum().backward()
        nn.functional.linear(x, weight, bias).square().sum().backward()
        for optimizer in (ours, *theirs):
            optimizer.step()
            optimizer.zero_grad()
    assert torch.equal(lazy.weight, weight) and torch.equal(lazy.bias, bias)


def test_a_lazy_parameter_in_a_muon_group_that_turns_out_not_2d_fails_at_the_first_step() -> None:
    lazy = nn.LazyLinear(3)
    optimizer = MuonWithAdamW([{"params": [lazy.weight, lazy.bias], "use_muon": True, "name": "hidden"}])
    lazy(torch.randn(5, 4)).sum().backward()
    with pytest.raises(ValueError) as raised:
        optimizer.step()
    assert str(raised.value).startswith(
        "Expected every parameter of MuonWithAdamW param group 0 `hidden` (use_muon=True) to be a 2-D matrix "
        "but parameter 1 of the group has shape (3,)."
    )


def test_use_muon_none_refuses_a_group_it_cannot_decide_by_shape() -> None:
    lazy, known = nn.LazyLinear(3), nn.Linear(4, 3)
    with pytest.raises(ValueError) as raised:
        MuonWithAdamW([{"params": [known.weight, lazy.weight]}, {"params": [known.bias], "use_muon": False}])
    assert str(raised.value) == (
        "Expected parameter 1 of MuonWithAdamW param group 0 to have a shape for `use_muon=None`, which uses "
        f"Muon when every parameter is 2-D, {LAZY_FIX}set `use_muon` on the group."
    )
    # a parameter that is not 2-D decides it without the lazy one's shape: AdamW
    optimizer = MuonWithAdamW([{"params": [known.weight]}, {"params": [known.bias, lazy.bias, lazy.weight]}])
    assert [g["use_muon"] for g in optimizer.param_groups] == [True, False]


def test_declared_group_options_are_checked_when_the_class_is_defined() -> None:
    with pytest.raises(
        ValueError,
        match=r"`momentun` is not a per-group option of `MuonWithAdamW` \(did you mean `momentum`\?\)",
    ):
        declared(OptimizerSpec(MuonWithAdamW, groups=[ParamGroup("hidden", momentun=0.9)]))
    with pytest.raises(ValueError) as caught:
        declared(OptimizerSpec(MuonWithAdamW, groups=[ParamGroup("embed", use_muon=False, momentum=0.9)]))
    assert str(caught.value) == (
        "Recipe.optimizer: `MuonWithAdamW` rejected the declared options: Expected the options of MuonWithAdamW "
        "param group 0 (use_muon=False, stepped by AdamW) to be AdamW options but got `momentum`, which only Muon "
        "reads. AdamW options: `lr`, `betas`, `eps`, `weight_decay`, `amsgrad`, `maximize`, `foreach`, `capturable`, "
        "`differentiable`, `fused`, `decoupled_weight_decay`. Remove them or set `use_muon=True`."
    )
    with pytest.raises(
        ValueError, match=r"the Muon option\(s\) `momentum` and the AdamW option\(s\) `amsgrad`"
    ):
        declared(OptimizerSpec(MuonWithAdamW, groups=[ParamGroup("embed", momentum=0.9, amsgrad=True)]))
    with pytest.raises(
        TypeError, match=r"Expected `use_muon` of `MuonWithAdamW` to be bool \| None but got 'yes'"
    ):
        declared(OptimizerSpec(MuonWithAdamW, groups=[ParamGroup("embed", use_muon="yes")]))
    with pytest.raises(
        ValueError, match=r"`adamw_lr` is not a per-group option of `MuonWithAdamW`. Accepted: "
    ):
        declared(OptimizerSpec(MuonWithAdamW, groups=[ParamGroup("embed", adamw_lr=1e-3)]))


@pytest.mark.parametrize(
    ("scheduler", "got"),
    [
        (SchedulerSpec("onecycle", max_lr=0.02), "`cycle_momentum=True` (`OneCycleLR`'s default)"),
        (SchedulerSpec("cyclic", base_lr=1e-3, max_lr=0.02, cycle_momentum=True), "`cycle_momentum=True`"),
    ],
    ids=["onecycle-default", "cyclic"],
)
@pytest.mark.filterwarnings("ignore:.*the declared `lr=0.02` has no effect")
def test_a_momentum_cycle_is_refused_when_the_class_is_defined(scheduler: SchedulerSpec, got: str) -> None:
    """torch would cycle an unused ``momentum`` in the AdamW groups (``defaults`` has no ``betas``), not their
    ``beta1`` as a torch ``AdamW`` with its own ``OneCycleLR`` does; a ``param="momentum"`` schedule drives both
    (``test_lr_monitor_and_preview_show_the_beta1_a_momentum_schedule_drives_in_the_adamw_groups``)."""
    with pytest.raises(ValueError) as caught:
        declared(recipe(scheduler))
    assert str(caught.value) == (
        f"Recipe.optimizer.scheduler: Expected `cycle_momentum=False` with `MuonWithAdamW` but got {got}: torch "
        "cycles `betas[0]` only when the optimizer's `defaults` has `betas`, so it would write an unused `momentum` "
        "into the groups that take `betas` (the AdamW groups) and leave their `betas[0]` as declared. Pass "
        "`cycle_momentum=False` and declare a `SchedulerSpec(..., param='momentum')`, which drives each group's "
        "own: `momentum` of the Muon groups, `betas[0]` of the AdamW groups."
    )
    declared(recipe(SchedulerSpec("onecycle", max_lr=0.02, cycle_momentum=False)))


#: per-group options of torch's AdamW that ``MuonWithAdamW``'s ``defaults`` (its Muon options) does not list
ADAMW_GROUP = {
    "betas": (0.8, 0.9),
    "amsgrad": True,
    "maximize": False,
    "decoupled_weight_decay": True,
    "capturable": False,
}


class ManualWithAdamWGroup(ManualMuonAdamW):
    """``ManualMuonAdamW`` whose AdamW gives the embeddings and head ``ADAMW_GROUP`` in a group of their own."""

    def configure_optimizers(self) -> Any:
        adamw, muon, rest = self.recipe_groups()
        return [
            torch.optim.Muon([p for _, p in muon], **self.muon),
            torch.optim.AdamW(
                [{"params": [p for _, p in adamw], **ADAMW_GROUP}, {"params": [p for _, p in rest]}],
                **self.adamw,
            ),
        ]


def test_a_declared_adamw_group_takes_the_options_of_torch_adamw() -> None:
    spec = recipe()
    spec = OptimizerSpec(
        MuonWithAdamW,
        **spec.kwargs,
        groups=[
            ParamGroup(["embed", "head"], use_muon=False, name="adamw", **ADAMW_GROUP),
            ParamGroup(is_matrix, use_muon=True, name="muon"),
        ],
    )
    composite = declared(spec)()
    reference = ManualWithAdamWGroup()
    fit(composite, 2)
    fit(reference, 2)
    assert_same_weights(composite, reference)
    adamw, muon, rest = composite.trainer.optimizers[0].param_groups
    assert {key: adamw[key] for key in ADAMW_GROUP} == ADAMW_GROUP
    assert (rest["betas"], rest["amsgrad"], "betas" in muon) == (ADAMW["betas"], False, False)


@pytest.mark.parametrize(
    ("group", "message"),
    [
        (
            ParamGroup(is_matrix, use_muon=True, betas=(0.8, 0.9)),
            "param group 0 (use_muon=True, stepped by Muon) to be Muon options but got `betas`, which only AdamW "
            "reads. Muon options: `lr`, `weight_decay`, `momentum`, `nesterov`, `ns_coefficients`, `eps`, "
            "`ns_steps`, `adjust_lr_fn`. Remove them or set `use_muon=False`.",
        ),
        (
            ParamGroup("embed", maximize=True, nesterov=False),
            "param group 0 to be those of one half but got the Muon option(s) `nesterov` and the AdamW option(s) "
            "`maximize`.",
        ),
    ],
)
def test_an_option_of_the_other_half_is_still_refused(group: ParamGroup, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        declared(OptimizerSpec(MuonWithAdamW, groups=[group]))
    assert str(caught.value).startswith("Recipe.optimizer: `MuonWithAdamW` rejected the declared options: ")
    assert message in str(caught.value)


@pytest.mark.filterwarnings(
    "ignore:.*also matches.*which `groups\\[0\\]`"
)  # the overlap is the point of this test
def test_an_option_of_one_half_decides_an_unset_use_muon() -> None:
    """``amsgrad`` on the biases: AdamW, although the class-definition check builds the group over a 2-D stand-in."""
    spec = OptimizerSpec(
        MuonWithAdamW,
        groups=[
            ParamGroup(["embed", "head", "norm"], use_muon=False),
            ParamGroup("*.bias", amsgrad=True),
        ],
    )
    module = declared(spec)()
    fit(module, epochs=1)
    groups = module.trainer.optimizers[0].param_groups
    assert [(g["name"], g["use_muon"]) for g in groups] == [("pg1", False), ("*.bias", False), ("rest", True)]
    assert groups[1]["amsgrad"] is True and "amsgrad" not in groups[2]
    with pytest.raises(
        ValueError, match=r"param group 1 `\*.bias` \(use_muon=True from its option `momentum`\)"
    ):
        fit(
            declared(
                OptimizerSpec(MuonWithAdamW, groups=[ParamGroup("embed"), ParamGroup("*.bias", momentum=0.9)])
            )()
        )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"adamw_betas": (0.9, 1.5)},
            "Expected `adamw_betas` of MuonWithAdamW to be two numbers in [0, 1) but got (0.9, 1.5).",
        ),
        (
            {"lr": -1.0},
            "Expected `lr` of MuonWithAdamW to be a finite number >= 0 or a 1-element tensor but got -1.0.",
        ),
        ({"ns_steps": 100}, "Expected `ns_steps` of MuonWithAdamW to be an int in [1, 100) but got 100."),
        (
            {"adjust_lr_fn": "rms"},
            "Expected `adjust_lr_fn` of MuonWithAdamW to be one of None, 'original', 'match_rms_adamw' but got 'rms'.",
        ),
        (
            {"adamw_fused": True, "adamw_foreach": True},
            "Expected at most one of `adamw_fused` and `adamw_foreach` of MuonWithAdamW to be True.",
        ),
    ],
)
def test_bad_arguments_are_named(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        MuonWithAdamW([nn.Parameter(torch.zeros(2, 2))], **arguments)
    assert str(caught.value) == message


def test_bad_group_values_and_use_muon_are_named() -> None:
    weight = nn.Parameter(torch.zeros(2, 2))
    with pytest.raises(
        ValueError,
        match=r"^Expected `momentum` of MuonWithAdamW param group 0 \(use_muon=True from its option `momentum`\) to be a number in \[0, 1\) but got 1.0.$",
    ):
        MuonWithAdamW([{"params": [weight], "momentum": 1.0}])
    with pytest.raises(
        TypeError,
        match=r"^Expected `use_muon` of MuonWithAdamW param group 0 to be True, False or None but got 1.$",
    ):
        MuonWithAdamW([{"params": [weight], "use_muon": 1}])


def test_a_state_dict_of_another_optimizer_is_refused() -> None:
    weight = nn.Parameter(torch.zeros(2, 2))
    with pytest.raises(
        ValueError,
        match=r"^Expected param group 0 of the state dict loaded into MuonWithAdamW to carry `use_muon`",
    ):
        MuonWithAdamW([weight]).load_state_dict(torch.optim.AdamW([weight]).state_dict())


def test_no_muon_group_warns() -> None:
    with pytest.warns(UserWarning, match="no param group uses Muon"):
        MuonWithAdamW(nn.Linear(2, 2).parameters())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MuonWithAdamW([nn.Parameter(torch.zeros(2, 2))])


def test_preview_schedule_matches_fit() -> None:
    module = declared(recipe(cosine(2 * BATCHES)))
    preview = preview_schedule(module, max_epochs=2, steps_per_epoch=BATCHES)
    logged = fit(module(), 2).lrs
    assert preview == {
        "lr-optimizer/adamw": logged["embed.weight"],
        "lr-optimizer/muon": logged["hidden.0.weight"],
        "lr-optimizer/rest": logged["norm.bias"],
    }
