"""``describe_optimizers``: what it shows where the declared values are not the ones training starts from."""

from __future__ import annotations

import re
from itertools import chain
from typing import Any

import lightning as L
import pytest
import torch
from torch import nn

from lightning_optim import OptimizerSpec, ParamGroup, SchedulerSpec, describe_optimizers, preview_schedule
from lightning_optim.utilities.lazy import is_uninitialized
from tests.helpers import FAST, declared, fit, loader, lr_replaced


def test_onecycle_shows_the_lr_it_starts_every_group_from() -> None:
    """OneCycleLR sets each group's lr to ``max_lr / div_factor`` (25): the table shows that, not the declared
    lrs, with a group's ``lr_mult`` applied; and it is the lr the first step trains at."""
    spec = OptimizerSpec(
        "sgd",
        lr=0.5,
        groups=[ParamGroup("model_gen.layer1", lr_mult=0.5)],
        scheduler=SchedulerSpec("onecycle", max_lr=0.1),
    )
    with lr_replaced():
        module_class = declared(spec)
    rows = describe_optimizers(module_class()).splitlines()[2:4]
    assert [row.split()[0] for row in rows] == ["model_gen.layer1", "rest"]
    assert [float(row.split()[-1]) for row in rows] == [0.002, 0.004]
    assert fit(module_class(), max_epochs=1).history[0][0] == pytest.approx([0.002, 0.004], rel=1e-12)


class Lazy(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.LazyLinear(4)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.body(x), y)


def test_a_lazy_module_before_its_first_forward_has_unknown_sizes() -> None:
    text = describe_optimizers(declared(OptimizerSpec("adam", lr=0.1), Lazy)())
    assert text.splitlines()[:3] == [
        "Declared.optimizer: Adam(lr=0.1), 1 group, 2 tensors, ? parameters, state size unknown",
        "  group  tensors  parameters  state bytes  lr",
        "  all          2           ?            ?  0.1",
    ]


class OneTensor(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3))


def test_one_tensor_is_counted_in_the_singular() -> None:
    text = describe_optimizers(declared(OptimizerSpec("sgd", lr=0.1), OneTensor)())
    assert (
        text.splitlines()[0]
        == "Declared.optimizer: SGD(lr=0.1), 1 group, 1 tensor, 3 parameters, 0 bytes of state"
    )


def test_the_declared_lr_is_shown_under_any_other_scheduler() -> None:
    text = describe_optimizers(declared(OptimizerSpec("sgd", lr=0.5, scheduler=SchedulerSpec("cosine")))())
    assert text.splitlines()[2].split()[-1] == "0.5"


def test_max_names_lists_that_many_names_per_group() -> None:
    module = declared(OptimizerSpec("sgd", lr=0.1, groups=[ParamGroup("model_gen.layer1", lr=0.5)]))()
    lines = describe_optimizers(module, max_names=1).splitlines()[-2:]
    assert lines == [
        "  model_gen.layer1: model_gen.layer1.weight, ... (1 more)",
        "  rest: model_gen.layer2.weight, ... (1 more)",
    ]
    assert describe_optimizers(module, max_names=None).splitlines()[-1].endswith("model_gen.layer2.bias")


@pytest.mark.parametrize(
    ("max_names", "error"),
    [("3", TypeError), (2.5, TypeError), (True, TypeError), (0, ValueError), (-1, ValueError)],
)
def test_a_max_names_that_is_no_count_of_names_is_refused(max_names: Any, error: type[Exception]) -> None:
    module = declared(OptimizerSpec("sgd", lr=0.1, groups=[ParamGroup("model_gen.layer1", lr=0.5)]))()
    message = f"describe_optimizers: Expected `max_names` to be an int >= 1 or None (all of them) but got {max_names!r}."
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        describe_optimizers(module, max_names=max_names)


class Scaled(torch.optim.SGD):
    """An optimizer with a constructor argument that is no param-group option."""

    def __init__(self, params: Any, lr: float = 0.1, scale: float = 2.0) -> None:
        self.scale = scale
        super().__init__(params, lr=lr)


def test_an_argument_only_the_constructor_keeps_is_in_the_header_not_a_column() -> None:
    lines = describe_optimizers(declared(OptimizerSpec(Scaled, lr=0.5, scale=3.0))()).splitlines()
    assert lines[0].startswith("Declared.optimizer: Scaled(lr=0.5, scale=3.0), 1 group")
    assert lines[1].split() == ["group", "tensors", "parameters", "state", "bytes", "lr"]


class BuiltInConfigureModel(L.LightningModule):
    """Builds its layers in Lightning's ``configure_model`` hook (idempotent, as Lightning documents it)."""

    def configure_model(self) -> None:
        if hasattr(self, "body"):
            return
        torch.manual_seed(0)
        self.body, self.head = nn.Linear(8, 16), nn.Linear(16, 4)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.head(self.body(x)), y)


def test_a_module_building_its_layers_in_configure_model_is_described_as_fit_builds_it() -> None:
    """Was: "`params=None` takes the trainable parameters no other optimizer takes, but none are left"; now the
    groups of a copy that ran the hook, the user's module left without layers for `fit` to build them."""
    spec = OptimizerSpec(
        "adamw", lr=0.1, weight_decay=0.1, no_decay="timm", groups=[ParamGroup("head", lr=0.5)]
    )
    module_class = declared(spec, BuiltInConfigureModel)
    module = module_class()
    text = describe_optimizers(module)
    assert list(module.parameters()) == []
    trained = module_class()
    trainer = L.Trainer(max_epochs=1, **FAST)
    trainer.fit(trained, loader())
    names = {id(p): name for name, p in trained.named_parameters()}
    built = [
        (g["name"], g["lr"], [names[id(p)] for p in g["params"]]) for g in trainer.optimizers[0].param_groups
    ]
    lines = text.splitlines()
    assert lines[0].startswith(
        "Declared.optimizer: AdamW(lr=0.1, weight_decay=0.1), 4 groups, 4 tensors, 212"
    )
    assert lines[6:] == [  # no_decay="timm": timm's no-decay half first
        "  head/no_decay: head.bias",
        "  head: head.weight",
        "  rest/no_decay: body.bias",
        "  rest: body.weight",
    ]
    assert [f"  {name}: {', '.join(params)}" for name, _, params in built] == lines[6:]
    assert [(name, lr) for name, lr, _ in built] == [
        (line.split()[0], float(line.split()[4])) for line in lines[2:6]
    ]


def test_describing_a_configure_model_module_leaves_torchs_random_state_as_it_was() -> None:
    """Was: the hook, run on a copy, drew from torch's global random state, so the layers a seeded `fit` then
    built got other weights."""
    module = declared(OptimizerSpec("sgd", lr=0.1), BuiltInConfigureModel)()
    torch.manual_seed(7)  # not the state the hook's own seeding leaves
    state = torch.get_rng_state()
    describe_optimizers(module)
    assert torch.equal(torch.get_rng_state(), state)


class LazyInConfigureModel(L.LightningModule):
    """Holds a lazy layer from ``__init__`` that ``configure_model`` materializes by a forward (a no-op once it is)."""

    def __init__(self) -> None:
        super().__init__()
        self.body, self.head = nn.LazyLinear(16), nn.Linear(16, 4)

    def configure_model(self) -> None:
        self.body(torch.zeros(1, 8))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.head(self.body(x)), y)


class ProbedInConfigureModel(L.LightningModule):
    """Runs a probing forward (in training mode) through a ``BatchNorm1d`` held since ``__init__`` while
    ``configure_model`` builds the last layer."""

    def __init__(self) -> None:
        super().__init__()
        self.norm, self.body = nn.BatchNorm1d(8), nn.Linear(8, 4)

    def configure_model(self) -> None:
        if not hasattr(self, "head"):
            self.head = nn.Linear(4, 4)
            self.norm(torch.randn(4, 8) + 3)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.head(self.body(self.norm(x))), y)


TOOLS = {
    "describe_optimizers": describe_optimizers,
    "preview_schedule": lambda module: preview_schedule(module, max_epochs=1, steps_per_epoch=2),
}


def assert_same_tensors(a: nn.Module, b: nn.Module) -> None:
    """``a`` and ``b`` hold parameters and buffers of the same names, classes and values (lazy ones: no values)."""

    def tensors(module: nn.Module) -> list[tuple[str, type, torch.Tensor | None]]:
        named = chain(module.named_parameters(), module.named_buffers())
        return [(name, type(t), None if is_uninitialized(t) else t.detach()) for name, t in named]

    assert [(name, kind) for name, kind, _ in tensors(a)] == [(name, kind) for name, kind, _ in tensors(b)]
    for (name, _, x), (_, _, y) in zip(tensors(a), tensors(b)):
        assert (x is None and y is None) or torch.equal(x, y), name


@pytest.mark.parametrize("base", [LazyInConfigureModel, ProbedInConfigureModel])
@pytest.mark.parametrize("tool", TOOLS)
def test_a_configure_model_forward_leaves_the_module_and_its_seeded_fit_as_they_were(
    tool: str, base: type[L.LightningModule]
) -> None:
    """Was: the hook ran on a copy sharing every tensor of the module, so its forward materialized the module's
    own lazy layer (a seeded `fit` after the tool then trained other weights) or moved its BatchNorm's running
    statistics."""
    module_class = declared(OptimizerSpec("sgd", lr=0.1), base)
    torch.manual_seed(0)
    module = module_class()
    torch.manual_seed(0)
    untouched = module_class()
    TOOLS[tool](module)
    assert_same_tensors(module, untouched)
    for trained in (module, untouched):
        torch.manual_seed(1)
        fit(trained, max_epochs=1)
    assert_same_tensors(module, untouched)


class BuiltInSetup(L.LightningModule):
    """Builds its layers in Lightning's ``setup`` hook, which ``fit`` calls with a stage and the Trainer attached."""

    def setup(self, stage: str) -> None:
        if hasattr(self, "body"):
            return
        torch.manual_seed(0)
        self.body, self.head = nn.Linear(8, 16), nn.Linear(16, 4)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.head(self.body(x)), y)


@pytest.mark.parametrize("tool", TOOLS)
def test_a_module_building_its_layers_in_setup_is_told_the_tools_do_not_call_it(tool: str) -> None:
    """Was: "the module has no parameters yet. Build its layers in `__init__`, `setup` or `configure_model`",
    for a module whose layers `setup` builds (and `fit` trains)."""
    module = declared(OptimizerSpec("sgd", lr=0.1, groups=[ParamGroup("head", lr=0.5)]), BuiltInSetup)()
    with pytest.raises(ValueError) as raised:
        TOOLS[tool](module)
    assert str(raised.value) == (
        f"{tool}: Expected the layers `fit` plans the optimizers over but `Declared` has no parameters yet: it "
        f"overrides `setup`, which `{tool}` does not call (Lightning calls it inside `fit`, with the Trainer "
        f"attached and a stage). Build the layers in `__init__` or in `configure_model` (which `{tool}` calls "
        f"as `fit` does), or call `{tool}` once they are built: after `trainer.fit`, or after "
        "`model.setup('fit')` where `setup` builds them only once."
    )
    module.setup("fit")  # as the message says; `fit` then finds them built
    lines = describe_optimizers(module).splitlines()
    trainer = L.Trainer(max_epochs=1, **FAST)
    trainer.fit(module, loader())
    names = {id(p): name for name, p in module.named_parameters()}
    built = [
        f"  {g['name']}: {', '.join(names[id(p)] for p in g['params'])}"
        for g in trainer.optimizers[0].param_groups
    ]
    assert lines[-2:] == built == ["  head: head.weight, head.bias", "  rest: body.weight, body.bias"]


class HeadInSetup(L.LightningModule):
    """Builds its body in ``__init__`` and its head in ``setup`` (once), which ``fit`` calls before it builds the
    optimizers."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(8, 16)

    def setup(self, stage: str) -> None:
        if not hasattr(self, "head"):
            self.head = nn.Linear(16, 4)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.head(self.body(x)), y)


class LazyInSetup(LazyInConfigureModel):
    """Materializes its lazy layer by a forward in ``setup``: its shape is known when ``fit`` builds the
    optimizers."""

    def configure_model(self) -> None:
        pass

    def setup(self, stage: str) -> None:
        self.body(torch.zeros(1, 8))


def setup_note(tool: str) -> str:
    return (
        f"`Declared` overrides `setup`, which `{tool}` does not call: layers it builds are planned only once it has "
        f"run (call `{tool}` after `model.setup('fit')` or after `trainer.fit`, or build them in `configure_model`, "
        f"which `{tool}` calls as `fit` does)."
    )


@pytest.mark.parametrize(
    ("base", "spec", "refusal"),
    [
        (
            HeadInSetup,
            OptimizerSpec("sgd", lr=0.1, groups=[ParamGroup("head", lr=0.5)]),
            "Declared.optimizer.groups[0]: `select='head'` matches none of this optimizer's trainable parameters",
        ),
        (
            LazyInSetup,
            OptimizerSpec("adamw", lr=0.01, weight_decay=0.1, no_decay="nanogpt"),
            "Declared.optimizer: Expected `body.weight` to have a shape for the `no_decay` rule 'nanogpt', which "
            "reads `ndim`, but it is uninitialized",
        ),
    ],
    ids=["head_in_setup", "lazy_forward_in_setup"],
)
@pytest.mark.parametrize("tool", TOOLS)
def test_a_refused_plan_of_a_module_overriding_setup_says_the_tools_do_not_call_it(
    tool: str, base: type[L.LightningModule], spec: OptimizerSpec, refusal: str
) -> None:
    """Was: "`select='head'` matches none ..." for a head `setup` builds, and "... gets its shape at the module's
    first forward, after the optimizers are built" for a lazy layer `setup` runs a forward through, with no word
    of `setup`, which `fit` calls before it builds the optimizers (and accepts both)."""
    module = declared(spec, base)()
    with pytest.raises(ValueError) as raised:
        TOOLS[tool](module)
    assert str(raised.value).startswith(refusal)
    assert str(raised.value).endswith(f". {setup_note(tool)}")
    module.setup("fit")  # as the message says
    TOOLS[tool](module)


def test_a_module_overriding_setup_is_described_over_the_layers_built_so_far() -> None:
    """Was: "1 group, 2 tensors, 144 parameters" and the body's names only, for a module whose `fit` trains the
    head `setup` builds too, with no word of `setup`."""
    lines = describe_optimizers(declared(OptimizerSpec("sgd", lr=0.1), HeadInSetup)()).splitlines()
    assert lines[0] == f"Planned over the layers built so far: {setup_note('describe_optimizers')}"
    assert lines[1] == "Declared.optimizer: SGD(lr=0.1), 1 group, 2 tensors, 144 parameters, 0 bytes of state"


class NoLayers(L.LightningModule):
    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return batch[0].sum()


class AllFrozen(NoLayers):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(2, 2).requires_grad_(False)


@pytest.mark.parametrize(
    ("base", "why"),
    [
        (NoLayers, "the module has no parameters yet. Build its layers in `__init__`, `setup` or"),
        (AllFrozen, "all 2 parameter tensors of the module are frozen (`requires_grad=False`)"),
    ],
)
def test_a_module_without_trainable_parameters_is_not_told_other_optimizers_took_them(
    base: type[L.LightningModule], why: str
) -> None:
    """Was: "`params=None` takes the trainable parameters no other optimizer takes, but none are left" with
    this one optimizer declared."""
    with pytest.raises(
        ValueError, match=re.escape("Declared.optimizer: Expected trainable parameters")
    ) as raised:
        describe_optimizers(declared(OptimizerSpec("sgd", lr=0.1), base)())
    assert why in str(raised.value)
    assert "no other optimizer" not in str(raised.value)
    with pytest.raises(ValueError, match=re.escape(why)):
        fit(declared(OptimizerSpec("sgd", lr=0.1), base)(), max_epochs=1)


def test_a_compiled_module_is_described_as_the_module_it_wraps() -> None:
    """Was: "Expected a ConfigurableOptimizersMixin module or class but got an instance of OptimizedModule",
    though `fit` trains the compiled module (compiling it wraps it; nothing compiles before its first call)."""
    module = declared(OptimizerSpec("sgd", lr=0.1, groups=[ParamGroup("model_gen.layer1", lr=0.5)]))()
    assert describe_optimizers(torch.compile(module)) == describe_optimizers(module)
