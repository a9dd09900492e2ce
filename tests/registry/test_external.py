"""Optimizers and schedulers from other packages: registered names and installed collections."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_optim import (
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    register_optimizer,
    register_scheduler,
    spec_from_dict,
    spec_to_dict,
)
from lightning_optim.registry.external import unregister
from lightning_optim.registry.lookup import resolve_class
from lightning_optim.training.schedule_free import ScheduleFreeModes
from tests.declaring import test_fuzz as fuzz
from tests.helpers import (
    FAST,
    Classifier,
    assert_same_weights,
    declared,
    loader,
    needs_muon,
    subnormals_representable,
)

pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
schedulefree = pytest.importorskip("schedulefree")


def fit(module: L.LightningModule, **options: Any) -> L.Trainer:
    trainer = L.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **options,
    )
    trainer.fit(module, loader(), loader())
    return trainer


@pytest.fixture
def registered() -> Iterator[None]:
    yield
    unregister("my_sgd")
    unregister("halving")
    unregister("step_each_batch")


class MySGD(torch.optim.SGD):
    pass


class Halving(torch.optim.lr_scheduler.StepLR):
    """StepLR halving every ``step_size``; its length ``total`` is derived from the run when left out."""

    def __init__(self, optimizer: Any, step_size: int = 1, total: int | None = None, last_epoch: int = -1):
        self.total = total
        super().__init__(optimizer, step_size=step_size, gamma=0.5, last_epoch=last_epoch)


def test_a_registered_optimizer_is_declared_by_name(registered: None) -> None:
    register_optimizer("my_sgd", MySGD)
    module = declared(OptimizerSpec("my_sgd", lr=0.1))()
    trainer = fit(module, max_epochs=1)
    assert type(trainer.optimizers[0]) is MySGD


def test_a_registered_scheduler_gets_its_record(registered: None) -> None:
    register_scheduler("halving", Halving, default_interval="step", length="total")
    module = declared(OptimizerSpec("sgd", lr=0.1, scheduler=SchedulerSpec("halving")))()
    trainer = fit(module, max_epochs=2)
    (config,) = trainer.lr_scheduler_configs
    assert config.interval == "step"
    assert config.scheduler.inner.total == trainer.estimated_stepping_batches  # derived from the run


def test_a_name_registered_for_a_class_with_a_record_of_its_own_keeps_its_record(registered: None) -> None:
    """``StepLR`` has a built-in record (per epoch); the name registered with ``default_interval="step"``
    steps it every batch: halving after each of the 4 batches of an epoch."""
    register_scheduler("step_each_batch", torch.optim.lr_scheduler.StepLR, default_interval="step")
    spec = OptimizerSpec("sgd", lr=1.0, scheduler=SchedulerSpec("step_each_batch", step_size=1, gamma=0.5))
    (config,) = fit(declared(spec)(), max_epochs=1).lr_scheduler_configs
    assert config.interval == "step"
    assert config.scheduler.get_last_lr() == [0.5**4]
    # a config keeps the name (the class's path would read back as StepLR's own record: per epoch)
    data = spec_to_dict(spec)
    assert data["scheduler"]["class_path"] == "step_each_batch"
    assert spec_from_dict(data, OptimizerSpec).scheduler == spec.scheduler


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: register_optimizer("adam", MySGD), ValueError, "is a built-in optimizer name"),
        (lambda: register_optimizer("My", MySGD), ValueError, "lower-case name"),
        (lambda: register_optimizer("a.b", MySGD), ValueError, "an import path"),
        (lambda: register_optimizer("x", Halving), TypeError, "Optimizer subclass"),
        (lambda: register_scheduler("pytorch_optimizer/x", Halving), ValueError, "built-in scheduler name"),
        (
            lambda: register_scheduler("h", Halving, lenght="total"),
            TypeError,
            r"^register_scheduler: Expected keywords among `default_interval`, `length`, .* but got `lenght` "
            r"\(did you mean `length`\?\)\.$",
        ),
        (
            lambda: register_optimizer("x", MySGD, fused_fastest_on="cuda"),  # type: ignore[arg-type]
            TypeError,
            r"^register_optimizer: Expected `fused_fastest_on` to be a set of device types",
        ),
        (
            lambda: register_scheduler("h", Halving, default_interval="stp"),
            ValueError,
            r"register_scheduler\('h'\): Expected `default_interval` to be 'step', 'epoch' or a function of the "
            r"declared arguments but got 'stp' \(did you mean `step`\?\)",
        ),
        (
            lambda: register_scheduler("h", Halving, length="totl"),
            ValueError,
            r"Expected `length` to name arguments of `Halving` but got 'totl' \(did you mean `total`\?\)",
        ),
        (
            lambda: register_scheduler("h", Halving, epoch_arguments={"step_sise": lambda v, n: v * n}),
            ValueError,
            r"Expected `epoch_arguments` to name arguments of `Halving` but got 'step_sise'",
        ),
    ],
)
def test_bad_registrations(call: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("name", ["lion", "adopt", "adan", "lamb"])
def test_pytorch_optimizer_collection_trains(name: str) -> None:
    module = declared(OptimizerSpec(f"pytorch_optimizer/{name}", lr=1e-3))()
    trainer = fit(module, max_epochs=1)
    assert type(trainer.optimizers[0]) is pytorch_optimizer.load_optimizer(name)


def _is_matrix(name: str, param: torch.nn.Parameter) -> bool:
    return param.ndim == 2


@pytest.mark.parametrize("name", ["muon", "adamuon", "normuon", "adago", "muonclip"])
def test_pytorch_optimizer_muon_family_trains_as_written_by_hand(name: str) -> None:
    """The Muon family needs `use_muon` in every param group: set per ParamGroup, or on the OptimizerSpec for the
    groups that do not set it, it trains as the hand-written optimizer; missing for some parameters, it is refused.
    A subclass (`MuonClip`) has the group options of its base (`Muon`)."""
    cls = pytorch_optimizer.load_optimizer(name)

    class Hand(Classifier):
        def configure_optimizers(self) -> Any:
            matrices = [p for p in self.parameters() if p.ndim == 2]
            rest = [p for p in self.parameters() if p.ndim != 2]
            return cls(
                [{"params": matrices, "use_muon": True, "lr": 0.05}, {"params": rest, "use_muon": False}]
            )

    hand = Hand()
    fit(hand, max_epochs=1, limit_train_batches=3)
    for spec in (
        OptimizerSpec(
            f"pytorch_optimizer/{name}",
            groups=[
                ParamGroup(_is_matrix, use_muon=True, lr=0.05),
                ParamGroup(lambda n, p: p.ndim != 2, use_muon=False),
            ],
        ),
        OptimizerSpec(
            f"pytorch_optimizer/{name}",
            use_muon=False,
            groups=[ParamGroup(_is_matrix, use_muon=True, lr=0.05)],
        ),
    ):
        module = declared(spec)()
        fit(module, max_epochs=1, limit_train_batches=3)
        assert_same_weights(hand, module)
    with pytest.raises(
        ValueError,
        match=rf"Declared\.optimizer: Expected `use_muon` to be set for every parameter \(no ParamGroup declared\) "
        rf"but got none: `{cls.__name__}` requires it in every param group",
    ):
        declared(OptimizerSpec(f"pytorch_optimizer/{name}"))
    with pytest.raises(
        ValueError, match=r"Expected `use_muon` to be set for `Declared\.optimizer\.groups\[1\]`"
    ):
        declared(
            OptimizerSpec(
                f"pytorch_optimizer/{name}", groups=[ParamGroup(_is_matrix, use_muon=True), ParamGroup("*")]
            )
        )
    lacking = declared(
        OptimizerSpec(f"pytorch_optimizer/{name}", groups=[ParamGroup(_is_matrix, use_muon=True)])
    )()
    with pytest.raises(
        ValueError, match=r"Expected `use_muon` to be set for the parameters no ParamGroup selects"
    ):
        fit(lacking, max_epochs=1, limit_train_batches=1)


def test_pytorch_optimizer_galore_takes_its_projection_per_param_group() -> None:
    """GaLore reads its projection (`rank`, `update_proj_gap`, `scale`, `projection_type`) from a group, not its
    `defaults`: a ParamGroup setting it trains as the hand-written GaLore."""
    projection = {"rank": 2, "update_proj_gap": 2, "scale": 0.25, "projection_type": "std"}

    class Hand(Classifier):
        def configure_optimizers(self) -> Any:
            weight = self.model_gen.layer1.weight
            rest = [p for p in self.parameters() if p is not weight]
            return pytorch_optimizer.GaLore([{"params": [weight], **projection}, {"params": rest}], lr=0.01)

    hand = Hand()
    fit(hand, max_epochs=1, limit_train_batches=3)
    spec = OptimizerSpec(
        "pytorch_optimizer/galore", lr=0.01, groups=[ParamGroup("model_gen.layer1.weight", **projection)]
    )
    module = declared(spec)()
    fit(module, max_epochs=1, limit_train_batches=3)
    assert_same_weights(hand, module)
    assert "projector" in module.optimizer.state[module.model_gen.layer1.weight]


def test_pytorch_optimizer_magma_a_wrapper_without_optimizer_init_trains_and_resumes(tmp_path: Any) -> None:
    """`Magma` wraps an AdamW it builds and never runs `Optimizer.__init__`: declared, it trains as the
    hand-written one (with a scheduler), and a checkpoint of it resumes."""

    class Hand(Classifier):
        def configure_optimizers(self) -> Any:
            optimizer = pytorch_optimizer.Magma(self.parameters(), lr=0.01)
            return {
                "optimizer": optimizer,
                "lr_scheduler": torch.optim.lr_scheduler.StepLR(optimizer, 1, 0.5),
            }

    hand = Hand()
    fit(hand, max_epochs=2, limit_train_batches=3)
    spec = OptimizerSpec(
        "pytorch_optimizer/magma", lr=0.01, scheduler=SchedulerSpec("step", step_size=1, gamma=0.5)
    )
    module = declared(spec)()
    trainer = fit(module, max_epochs=2, limit_train_batches=3)
    assert_same_weights(hand, module)
    trainer.save_checkpoint(tmp_path / "magma.ckpt")
    resumed = declared(spec)()
    L.Trainer(**FAST, max_epochs=3, limit_train_batches=3).fit(
        resumed, loader(), ckpt_path=tmp_path / "magma.ckpt"
    )
    assert resumed.trainer.global_step == 9
    assert resumed.optimizer.param_groups[0]["lr"] == 0.01 * 0.5**3


def test_collection_checks_use_the_real_signature() -> None:
    with pytest.raises(
        TypeError, match=r"`Lion` got an unexpected argument `betaz` \(did you mean `betas`\?\)"
    ):
        declared(OptimizerSpec("pytorch_optimizer/lion", betaz=(0.9, 0.99)))
    with pytest.raises(
        ValueError,
        match=r"Expected a `pytorch_optimizer` optimizer name but got .*lino.* \(did you mean `lion`\?\)",
    ):
        declared(OptimizerSpec("pytorch_optimizer/lino"))


def test_schedulefree_by_name_switches_modes() -> None:
    module = declared(OptimizerSpec("schedulefree/adamw", lr=1e-2, warmup_steps=2))()
    trainer = fit(module, max_epochs=1)
    assert type(trainer.optimizers[0]) is schedulefree.AdamWScheduleFree
    # among the mixin's callbacks (first in `trainer.callbacks`), which sleep while the Trainer runs another module
    assert any(isinstance(part, ScheduleFreeModes) for part in trainer.callbacks[0].parts)
    assert trainer.optimizers[0].param_groups[0]["train_mode"] is False  # eval weights after fit


@pytest.mark.parametrize("kind", [np.int64, np.int32])
def test_schedulefree_own_warmup_from_a_sweep_grid_and_a_scheduler_is_an_error(kind: Any) -> None:
    """A numpy ``warmup_steps`` warms up as the int does: refused beside a scheduler, instead of warming up twice."""
    with pytest.raises(ValueError, match=r"warms up itself \(`warmup_steps=5`\).*Remove `scheduler`"):
        declared(
            OptimizerSpec(
                "schedulefree/adamw", lr=1e-2, warmup_steps=kind(5), scheduler=SchedulerSpec("cosine")
            )
        )


def test_schedulefree_own_warmup_and_a_scheduler_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"warms up itself \(`warmup_steps=5`\).*Remove `scheduler`"):
        declared(
            OptimizerSpec("schedulefree/adamw", lr=1e-2, warmup_steps=5, scheduler=SchedulerSpec("cosine"))
        )
    declared(
        OptimizerSpec(
            "schedulefree/adamw", lr=1e-2, warmup_steps=0, scheduler=SchedulerSpec("cosine", warmup=2)
        )
    )


@needs_muon
def test_muon_adamw_by_name() -> None:
    assert (
        declared(OptimizerSpec("muon_adamw", lr=0.02))._lightning_optim_declared[0].cls.__name__
        == "MuonWithAdamW"
    )


def test_unknown_collection_package_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from lightning_optim.registry import external

    monkeypatch.setitem(sys.modules, "schedulefree", None)
    monkeypatch.setattr(external, "_LOADED", {})
    with pytest.raises(ValueError, match=r"Expected the `schedulefree` package .* not installed"):
        declared(OptimizerSpec("schedulefree/adamw"))


def test_torchao_too_new_for_this_torch_says_to_upgrade_torch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # torchao 0.18 (the `torchao` extra's lowest) on torch 2.4 fails to import with "module 'torch' has no
    # attribute 'int1'"; the message said "install a version of it built for this torch", which the extra's pin
    # rules out: a torchao failing that way on a torch older than the extra's torchao needs, as on torch 2.4
    import sys

    from lightning_optim.registry import external
    from lightning_optim.utilities import compat

    for name in [m for m in sys.modules if m == "torchao" or m.startswith("torchao.")]:
        monkeypatch.delitem(sys.modules, name)
    (tmp_path / "torchao").mkdir()
    (tmp_path / "torchao" / "__init__.py").write_text(
        "raise AttributeError(\"module 'torch' has no attribute 'int1'\")\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(external, "_LOADED", {})
    monkeypatch.setattr(compat, "TORCH_VERSION", (2, 4, 0))
    with pytest.raises(ValueError) as raised:
        declared(OptimizerSpec("torchao/adamw8bit"))
    assert str(raised.value).endswith(
        "but it failed (AttributeError: module 'torch' has no attribute 'int1'); upgrade torch "
        "(pip install 'torch>=2.11'): the torchao that `pip install lightning-optim[torchao]` installs needs "
        "torch >= 2.11."
    )


# ---- fuzzing a sample of the collections with the declaration fuzzer's strategies and checks ----------------

#: A sample across pytorch_optimizer's families (sign, adaptive, Lookahead-style, second-order-free) and schedulefree.
EXTERNAL_SAMPLE = [
    "pytorch_optimizer/lion",
    "pytorch_optimizer/adopt",
    "pytorch_optimizer/adan",
    "pytorch_optimizer/lamb",
    "pytorch_optimizer/madgrad",
    "pytorch_optimizer/adabelief",
    "schedulefree/sgd",
    "schedulefree/adamw",
    "bnb/adamw8bit",
    "bnb/lion8bit",
    "bnb/ademamix8bit",
    "bnb/sgd8bit",
    "bnb/pytorchlars",
]


@st.composite
def external_declarations(draw: st.DrawFn) -> Any:
    name = draw(st.sampled_from(EXTERNAL_SAMPLE))
    cls = resolve_class(name, "optimizer", where="sample")
    kwargs = draw(fuzz.kwargs_for(cls, extra=(), wild=False))
    kwargs.pop(
        "warmup_steps", None
    )  # a schedule-free warmup next to a drawn scheduler is refused (tested above)
    scheduler = draw(st.one_of(st.none(), fuzz.scheduler_specs(wild=False)))
    return OptimizerSpec(name, scheduler=scheduler, **kwargs)


#: pytorch_optimizer's optimizers built from the model (their first argument), not from param groups
TAKES_MODEL = ["lomo", "adalomo", "adammini"]


@pytest.mark.parametrize("name", TAKES_MODEL)
def test_a_pytorch_optimizer_optimizer_taking_the_model_is_refused_at_class_definition(name: str) -> None:
    """``LOMO``, ``AdaLOMO`` and ``AdamMini`` read the model's (named) parameters to build their own groups:
    declared by name or by class they are refused saying so, instead of the trial build's ``'list' object has
    no attribute 'parameters'``. Built from the model by hand, as the message advises, they train."""
    cls = pytorch_optimizer.load_optimizer(name)
    for declaration in (f"pytorch_optimizer/{name}", cls):
        with pytest.raises(
            ValueError,
            match=rf"Declared\.optimizer: Expected an optimizer built from param groups but got `{cls.__name__}`"
            rf"(, which `pytorch_optimizer/{name}` names,)? whose first argument is the model: .*"
            rf"`{cls.__name__}\(self, \.\.\.\)` in a `configure_optimizers` of your own",
        ):
            declared(OptimizerSpec(declaration, lr=1e-3))
    with pytest.raises(AttributeError, match="parameters"):  # what the mixin would give it
        cls([torch.nn.Parameter(torch.zeros(2, 2))], lr=1e-3)

    class ByHand(Classifier):
        def configure_optimizers(self) -> Any:
            return cls(self, lr=1e-3)

    module = ByHand()
    if name != "adammini":  # LOMO and AdaLOMO step inside a backward of their own (`fused_backward`)
        module.configure_optimizers()
        return
    before = module.model_gen.layer1.weight.detach().clone()
    fit(module, max_epochs=1, limit_train_batches=2, limit_val_batches=0)
    assert not torch.equal(before, module.model_gen.layer1.weight)


def test_the_refused_pytorch_optimizer_optimizers_are_those_taking_the_model() -> None:
    """Every other name of ``get_supported_optimizers()`` resolves (docs/guides/optimizers.md names these)."""
    refused = []
    for name in pytorch_optimizer.get_supported_optimizers():
        try:
            resolve_class(f"pytorch_optimizer/{name}", "optimizer", where="test")
        except ValueError as error:
            assert "first argument is the model" in str(error), (name, error)
            refused.append(name)
    assert sorted(refused) == sorted(TAKES_MODEL)


@subnormals_representable
@settings(max_examples=25, deadline=None)
@given(external_declarations())
def test_external_declarations_train_or_fail_clearly(spec: Any) -> None:
    fuzz.check(spec, train=True)


@pytest.mark.filterwarnings("ignore:Using backward.. with create_graph=True")
@pytest.mark.parametrize("name", ["adahessian", "sophiah"])
@pytest.mark.parametrize("by_class", [False, True], ids=["by name", "by class"])
def test_hessian_optimizers_need_manual_optimization_with_the_gradients_graph(
    name: str, by_class: bool
) -> None:
    """They estimate the Hessian from the gradient's graph: automatic optimization (whose backward keeps no
    graph) is refused when fit starts, before torch fails in the first step, whether declared by name or by
    class (which once crashed in torch); a manual step with ``create_graph=True`` trains."""
    declared_as = pytorch_optimizer.load_optimizer(name) if by_class else f"pytorch_optimizer/{name}"
    spec = OptimizerSpec(declared_as, lr=0.1)
    with pytest.raises(
        ValueError, match=r"Declared\.optimizer: `\w+` estimates the Hessian .* create_graph=True"
    ):
        fit(declared(spec)(), max_epochs=1)

    class Manual(declared(spec)):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False

        def training_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.optimizer.zero_grad()
            self.manual_backward(torch.nn.functional.cross_entropy(self.model_gen(x), y), create_graph=True)
            self.optimizer.step()

    module = Manual()
    before = module.model_gen.layer1.weight.detach().clone()
    fit(module, max_epochs=1)
    assert not torch.equal(before, module.model_gen.layer1.weight)


@pytest.mark.parametrize(
    ("name", "meant"),
    [("bnbb/adamw8bit", "bnb/adamw8bit"), ("pytorch-optimizer/lion", "pytorch_optimizer/lion")],
)
def test_a_misspelt_collection_gets_the_name_it_meant(name: str, meant: str) -> None:
    with pytest.raises(ValueError, match=rf"got '{name}' \(did you mean `{meant}`\?\)"):
        declared(OptimizerSpec(name, lr=0.1))
