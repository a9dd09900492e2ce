"""The built-in recipes against the hand-written recipes they copy (transformers, timm, minGPT, BEiT).

Group contents are read back from the optimizer a real ``Trainer`` built; training runs compare lr
sequences and weights with a hand-written ``configure_optimizers`` using the reference groups.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import parametrizations, parametrize
from torch.optim import SGD, AdamW, Rprop, lr_scheduler

from lightning_optim import (
    ConfigurableOptimizersMixin,
    HParam,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    describe_optimizers,
)
from lightning_optim.groups.planning import plan_groups
from lightning_optim.groups.selection import NamedParameters
from tests import helpers
from tests.helpers import VitLike, assert_same_weights, fit

LR, WD, DECAY = 1e-3, 0.05, 0.75


def declared(spec: OptimizerSpec, base: type[L.LightningModule] = VitLike) -> type[Any]:
    return helpers.declared(spec, base=base)


def handwritten(
    make_groups: Callable[[nn.Module], list[dict[str, Any]]], make_scheduler: Any = None
) -> type[Any]:
    def configure_optimizers(self: Any) -> Any:
        optimizer = AdamW(make_groups(self), lr=LR, weight_decay=WD)
        if make_scheduler is None:
            return optimizer
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": make_scheduler(optimizer), "interval": "step"},
        }

    return type("HandWritten", (VitLike,), {"configure_optimizers": configure_optimizers})


def partition(
    module: nn.Module, groups: Sequence[dict[str, Any]]
) -> dict[frozenset[str], tuple[float, float]]:
    """Each group as {its parameter names: (lr, weight_decay)}: comparable whatever the group order."""
    names = {id(p): name for name, p in module.named_parameters()}
    return {
        frozenset(names[id(p)] for p in g["params"]): (
            pytest.approx(g.get("lr", LR)),
            g.get("weight_decay", WD),
        )
        for g in groups
    }


def built_groups(module: L.LightningModule) -> list[dict[str, Any]]:
    fit(module, max_steps=1)
    return module.trainer.optimizers[0].param_groups


# ---- the reference recipes, as their projects write them -----------------------------------------


def get_parameter_names(model: nn.Module, forbidden_layer_types: Sequence[type]) -> list[str]:
    """transformers.trainer_pt_utils.get_parameter_names: parameters not inside the forbidden layer types."""
    result = []
    for name, child in model.named_children():
        result += [
            f"{name}.{n}"
            for n in get_parameter_names(child, forbidden_layer_types)
            if not isinstance(child, tuple(forbidden_layer_types))
        ]
    result += list(model._parameters.keys())
    return result


def transformers_groups(forbidden: Sequence[type]) -> Callable[[nn.Module], list[dict[str, Any]]]:
    """transformers' ``Trainer.create_optimizer`` (with ``forbidden`` for ``ALL_LAYERNORM_LAYERS``)."""

    def make(model: nn.Module) -> list[dict[str, Any]]:
        decay_parameters = get_parameter_names(model, forbidden)
        decay_parameters = [name for name in decay_parameters if "bias" not in name]
        return [
            {
                "params": [
                    p for n, p in model.named_parameters() if n in decay_parameters and p.requires_grad
                ],
                "weight_decay": WD,
            },
            {
                "params": [
                    p for n, p in model.named_parameters() if n not in decay_parameters and p.requires_grad
                ],
                "weight_decay": 0.0,
            },
        ]

    return make


def timm_param_groups_weight_decay(model: nn.Module) -> list[dict[str, Any]]:
    """timm.optim._param_groups.param_groups_weight_decay (empty ``no_weight_decay_list``)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim <= 1 or name.endswith(".bias"):
            no_decay.append(param)
        else:
            decay.append(param)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": WD}]


def beit_param_groups(model: nn.Module) -> list[dict[str, Any]]:
    """BEiT's ``get_parameter_groups`` with ``LayerDecayValueAssigner`` and ``get_num_layer_for_vit``.

    BEiT stores ``lr_scale`` in each group and its scheduler multiplies; here the scale is applied to ``lr``.
    """
    num_layers = len(model.blocks)
    scales = [DECAY ** (num_layers + 1 - i) for i in range(num_layers + 2)]
    groups: dict[str, dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if name.startswith("embed"):  # get_num_layer_for_vit: cls_token, pos_embed, patch_embed -> 0
            layer_id = 0
        elif name.startswith("blocks"):
            layer_id = int(name.split(".")[1]) + 1
        else:  # final norm, head
            layer_id = num_layers + 1
        if len(param.shape) == 1 or name.endswith(".bias"):
            group_name, weight_decay = f"layer_{layer_id}_no_decay", 0.0
        else:
            group_name, weight_decay = f"layer_{layer_id}_decay", WD
        group = groups.setdefault(
            group_name, {"params": [], "weight_decay": weight_decay, "lr": LR * scales[layer_id]}
        )
        group["params"].append(param)
    return list(groups.values())


# ---- no weight decay -------------------------------------------------------------------------------

NORMS = [nn.LayerNorm, nn.BatchNorm1d]


@pytest.mark.parametrize(
    ("no_decay", "reference"),
    [
        # transformers: LayerNorm layers (by type) and every bias; here all norm types
        (("bias", "norm"), transformers_groups(NORMS)),
        # the default also spares embeddings (minGPT's blacklist: LayerNorm and Embedding weights)
        (True, transformers_groups([*NORMS, nn.Embedding])),
        # timm: ndim <= 1 or a name ending in ".bias"
        (("1d",), timm_param_groups_weight_decay),
    ],
    ids=["transformers", "default", "timm"],
)
def test_no_decay_groups_equal_the_reference_recipe(no_decay: Any, reference: Any) -> None:
    module = declared(OptimizerSpec(AdamW, lr=LR, weight_decay=WD, no_decay=no_decay))()
    groups = built_groups(module)
    assert [g["name"] for g in groups] == ["decay", "no_decay"]
    assert partition(module, groups) == partition(module, reference(module))


def test_no_decay_trains_like_the_hand_written_transformers_recipe() -> None:
    ours = declared(
        OptimizerSpec(AdamW, lr=LR, weight_decay=WD, no_decay=("bias", "norm"), implementation="forloop")
    )()
    theirs = handwritten(transformers_groups(NORMS))()
    assert fit(ours, max_epochs=2).history == fit(theirs, max_epochs=2).history
    assert_same_weights(ours, theirs)


class MiniGPT(L.LightningModule):
    """minGPT's layout in miniature, with torch's ``nn.MultiheadAttention`` (``in_proj_weight``/``in_proj_bias``)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.tok_emb = nn.Embedding(10, 8)
        self.block = nn.TransformerEncoderLayer(8, nhead=2, dim_feedforward=16, dropout=0.0, batch_first=True)
        self.ln_f = nn.LayerNorm(8)
        self.head = nn.Linear(8, 4)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        h = self.ln_f(self.block(self.tok_emb((x.abs() * 3).long().clamp(max=9))))
        return nn.functional.cross_entropy(self.head(h.mean(1)), y)


def mingpt_groups(model: nn.Module) -> list[dict[str, Any]]:
    """minGPT's ``GPT.configure_optimizers`` (karpathy/minGPT, mingpt/model.py), its loop as written.

    minGPT asserts that every parameter lands in one of the two sets; its own attention is ``nn.Linear``s, so
    ``nn.MultiheadAttention``'s ``in_proj_weight`` is classified by adding that class to the whitelist.
    """
    decay, no_decay = set(), set()
    whitelist_weight_modules = (nn.Linear, nn.MultiheadAttention)
    blacklist_weight_modules = (nn.LayerNorm, nn.Embedding)
    for mn, m in model.named_modules():
        for pn, _ in m.named_parameters():
            fpn = f"{mn}.{pn}" if mn else pn  # full param name
            if pn.endswith("bias"):
                no_decay.add(fpn)
            elif pn.endswith("weight") and isinstance(m, whitelist_weight_modules):
                decay.add(fpn)
            elif pn.endswith("weight") and isinstance(m, blacklist_weight_modules):
                no_decay.add(fpn)
    param_dict = dict(model.named_parameters())
    assert not decay & no_decay and not param_dict.keys() - (decay | no_decay)
    return [
        {"params": [param_dict[pn] for pn in sorted(decay)], "weight_decay": WD},
        {"params": [param_dict[pn] for pn in sorted(no_decay)], "weight_decay": 0.0},
    ]


def test_no_decay_true_spares_every_bias_as_mingpt_does() -> None:
    # `in_proj_bias` decayed: the rule took only parameters named exactly `bias`; minGPT spares every name
    # ending in `bias`
    spec = OptimizerSpec(AdamW, lr=LR, weight_decay=WD, no_decay=True, implementation="forloop")
    ours = declared(spec, MiniGPT)()
    assert "block.self_attn.in_proj_bias" in describe_optimizers(ours).splitlines()[-1]  # the no_decay line
    hand_written = {"configure_optimizers": lambda self: AdamW(mingpt_groups(self), lr=LR)}
    theirs = type("HandWritten", (MiniGPT,), hand_written)()
    fit(ours, max_epochs=2)
    fit(theirs, max_epochs=2)
    groups = ours.trainer.optimizers[0].param_groups
    assert partition(ours, groups) == partition(theirs, mingpt_groups(theirs))
    assert_same_weights(ours, theirs)


class LazyNet(L.LightningModule):
    """A ``LazyLinear`` (its parameters have no shape before the first forward), a LayerNorm and a head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lazy = nn.LazyLinear(8)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 4)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        if nn.parameter.is_lazy(self.lazy.weight):  # the same weights whatever ran before the first forward
            torch.manual_seed(1)
        return nn.functional.cross_entropy(self.head(self.norm(self.lazy(x))), y)


@pytest.mark.parametrize("no_decay", ["timm", ("1d",), "nanogpt", ("bias", "1d")])
def test_a_shape_rule_refuses_a_lazy_modules_parameter_when_fit_starts(no_decay: Any) -> None:
    # `UninitializedParameter.ndim` reads 1 whatever the layer becomes: the LazyLinear's weight (8 x 8 after
    # the first forward) silently got no weight decay ("timm", "1d"), or torch raised from `dim()` ("nanogpt")
    rule = no_decay if isinstance(no_decay, str) else "1d"
    module = declared(OptimizerSpec(AdamW, lr=LR, weight_decay=WD, no_decay=no_decay), LazyNet)()
    with pytest.raises(ValueError) as raised:
        fit(module, max_steps=1)
    assert str(raised.value) == (
        f"Declared.optimizer: Expected `lazy.weight` to have a shape for the `no_decay` rule {rule!r}, which "
        "reads `ndim`, but it is uninitialized: a lazy module's parameter gets its shape at the module's first "
        "forward, after the optimizers are built. Run a forward pass on a sample batch in `__init__`, build "
        "the layer with its sizes in `configure_model`, or choose by names and types (`no_decay=True`, or a "
        "`ParamGroup` with `weight_decay=0.0`)."
    )


@pytest.mark.parametrize(
    ("no_decay", "reference"),
    [(("bias", "norm"), transformers_groups(NORMS)), (True, transformers_groups([*NORMS, nn.Embedding]))],
    ids=["bias-norm", "default"],
)
def test_rules_by_name_and_type_train_a_lazy_module_like_the_hand_written_recipe(
    no_decay: Any, reference: Any
) -> None:
    spec = OptimizerSpec(AdamW, lr=LR, weight_decay=WD, no_decay=no_decay, implementation="forloop")
    ours = declared(spec, LazyNet)()
    theirs = type(
        "HandWritten", (LazyNet,), {"configure_optimizers": lambda self: AdamW(reference(self), lr=LR)}
    )()
    fit(ours, max_epochs=2)
    fit(theirs, max_epochs=2)
    assert partition(ours, ours.trainer.optimizers[0].param_groups) == partition(theirs, reference(theirs))
    assert ours.lazy.weight.shape == (8, 8)
    assert_same_weights(ours, theirs)


@pytest.mark.parametrize(
    "norm", [nn.BatchNorm1d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d, nn.RMSNorm, nn.SyncBatchNorm]
)
def test_every_torch_norm_layer_is_spared_by_type_not_by_name(norm: type) -> None:
    class Model(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4, bias=False)
            self.mixer = norm(2, 4, affine=True) if norm is nn.GroupNorm else _norm(norm)

    module = declared(OptimizerSpec(AdamW, lr=LR, weight_decay=WD, no_decay=("norm",)), Model)()
    no_decay = ", ".join(name for name, _ in module.mixer.named_parameters(prefix="mixer"))
    assert describe_optimizers(module).splitlines()[-2:] == ["  decay: fc.weight", f"  no_decay: {no_decay}"]


def _norm(cls: type) -> nn.Module:
    return cls(4, affine=True) if cls is nn.InstanceNorm1d else cls(4)


def test_no_decay_splits_each_declared_group_in_two() -> None:
    spec = OptimizerSpec(
        AdamW, lr=LR, weight_decay=WD, no_decay=True, groups=[ParamGroup("head", lr=1e-2, weight_decay=0.1)]
    )
    module = declared(spec)()
    groups = built_groups(module)
    assert [(g["name"], g["lr"], g["weight_decay"]) for g in groups] == [
        ("head", 1e-2, 0.1),
        ("head/no_decay", 1e-2, 0.0),  # keeps the group's lr, drops its decay
        ("rest", LR, WD),
        ("rest/no_decay", LR, 0.0),
    ]
    names = {id(p): n for n, p in module.named_parameters()}
    assert [names[id(p)] for p in groups[1]["params"]] == ["head.bias"]
    assert sorted(names[id(p)] for p in groups[2]["params"]) == sorted(
        f"blocks.{i}.fc.weight" for i in range(3)
    )


class PrunedVitLike(VitLike):
    """``VitLike`` pruned by torch (as ``ModelPruning(make_pruning_permanent=False)`` leaves it, or a lottery
    ticket's setup): each pruned ``weight``/``bias`` is the parameter ``weight_orig``/``bias_orig`` with a
    ``<name>_mask`` buffer beside it."""

    def __init__(self) -> None:
        super().__init__()
        for module in (*(block.fc for block in self.blocks), self.norm, self.head):
            for name in ("weight", "bias"):
                torch.nn.utils.prune.l1_unstructured(module, name, amount=0.5)


def test_no_decay_judges_a_pruned_parameter_by_its_original_name() -> None:
    """The ``"bias"`` kind spares ``head.bias_orig`` as the unpruned ``head.bias``; norm layers go by type."""
    spec = OptimizerSpec(AdamW, lr=LR, weight_decay=WD, no_decay=True, implementation="forloop")
    pruned, unpruned = declared(spec, PrunedVitLike)(), declared(spec)()
    groups = built_groups(pruned)
    names = {id(p): n for n, p in pruned.named_parameters()}
    assert [g["name"] for g in groups] == ["decay", "no_decay"]
    assert "head.bias_orig" in [names[id(p)] for p in groups[1]["params"]]
    original = {
        frozenset(name.removesuffix("_orig") for name in names): values
        for names, values in partition(pruned, groups).items()
    }
    assert original == partition(unpruned, built_groups(unpruned))


def _positive(module: nn.Module, name: str) -> Any:
    return parametrize.register_parametrization(module, name, Positive())


class Positive(nn.Module):
    """A parametrization of one's own: the tensor's absolute value."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()


#: torch's ways of computing a layer's tensor from others, each renaming the parameter the optimizer gets:
#: ``parametrizations.<name>.original`` (``original0``/``original1`` for weight_norm's g and v), the old API's
#: ``<name>_orig`` beside ``<name>_u``/``<name>_v`` buffers, and its ``<name>_g``/``<name>_v``
REPARAMETRIZATIONS: dict[str, Callable[[nn.Module, str], Any]] = {
    "spectral_norm": lambda module, name: parametrizations.spectral_norm(module, name),
    "weight_norm": lambda module, name: parametrizations.weight_norm(module, name),
    "weight_norm over the whole tensor": lambda module, name: parametrizations.weight_norm(
        module, name, dim=None
    ),
    "register_parametrization": _positive,
    "old spectral_norm": lambda module, name: torch.nn.utils.spectral_norm(module, name),
    "old weight_norm": lambda module, name: torch.nn.utils.weight_norm(module, name),
}


def reparametrized(how: str) -> type[VitLike]:
    """``VitLike`` with the Embedding's weight, a LayerNorm's, the BatchNorm's and a Linear's weight and bias,
    and the head's bias reparametrized ``how`` (spectral norm on the embedding: a projection discriminator's)."""

    def __init__(self: VitLike) -> None:
        VitLike.__init__(self)
        block = self.blocks[0]
        nn.init.constant_(block.norm.bias, 0.1)  # a norm of the zeros it starts at would train NaN
        for module, name in [
            (self.embed, "weight"),
            (block.norm, "weight"),
            (block.norm, "bias"),
            (self.blocks[1].fc, "weight"),
            (self.blocks[1].fc, "bias"),
            (self.norm, "weight"),
            (self.head, "bias"),
        ]:
            REPARAMETRIZATIONS[how](module, name)

    with warnings.catch_warnings():  # torch.nn.utils.weight_norm is deprecated, not removed
        warnings.simplefilter("ignore", FutureWarning)
        return type(f"Reparametrized_{how.replace(' ', '_')}", (VitLike,), {"__init__": __init__})


def layer_name(name: str) -> str:
    """The name a parameter had before its reparametrization (``head.bias`` for ``head.bias_orig``)."""
    name = re.sub(r"parametrizations\.(\w+)\.original\d*$", r"\1", name)
    return re.sub(r"_(?:orig|g|v)$", "", name)


def planned(module: nn.Module, spec: OptimizerSpec) -> dict[frozenset[str], tuple[Any, ...]]:
    """The groups ``spec`` plans for ``module``, each by the names its parameters had before reparametrizing."""
    named = NamedParameters.of(module)
    grouping = declared(spec, type(module))._lightning_optim_declared[0].grouping
    return {
        frozenset(layer_name(name) for name, _ in group.parameters): (
            group.name,
            group.options.get("weight_decay"),
            dict(group.scales),
        )
        for group in plan_groups(named, grouping, named.items)
    }


@pytest.mark.parametrize("how", list(REPARAMETRIZATIONS))
@pytest.mark.parametrize(
    "recipe",
    [
        {"no_decay": True},
        {"no_decay": ("bias",)},
        {"no_decay": ("norm",)},
        {"no_decay": ("embedding",)},
        {"no_decay": ("1d",)},
        {"no_decay": "nanogpt"},
        {"no_decay": "timm"},
        {"no_decay": "transformers"},
        {"no_decay": True, "layer_decay": DECAY, "layer_decay_blocks": "blocks"},
        {
            "no_decay": "timm",
            "layer_decay": DECAY,
            "layer_decay_blocks": "blocks",
            "layer_decay_rule": "timm",
        },
    ],
    ids=[
        *("True", "bias", "norm", "embedding", "1d", "nanogpt", "timm", "transformers"),
        "beit",
        "timm-timm",
    ],
)
def test_a_reparametrized_layer_is_grouped_as_the_layer_it_computes(how: str, recipe: dict[str, Any]) -> None:
    """Every rule groups a reparametrized tensor as the layer's own: spectral_norm or a parametrization on an
    Embedding, a LayerNorm's weight, a bias."""
    spec = OptimizerSpec(AdamW, lr=LR, weight_decay=WD, **recipe)
    assert planned(reparametrized(how)(), spec) == planned(VitLike(), spec)


def parametrized_groups(model: nn.Module) -> list[dict[str, Any]]:
    """The hand-made groups: the blocks' and the head's Linear weights decay, the embedding, the norms and the
    biases do not, however torch renamed them."""
    decay = {"head.weight", *(f"blocks.{i}.fc.weight" for i in range(3))}
    named = [(layer_name(name), p) for name, p in model.named_parameters()]
    return [
        {"params": [p for name, p in named if name in decay], "weight_decay": WD},
        {"params": [p for name, p in named if name not in decay], "weight_decay": 0.0},
    ]


@pytest.mark.parametrize("how", list(REPARAMETRIZATIONS))
def test_no_decay_trains_a_reparametrized_model_as_the_hand_made_groups(how: str) -> None:
    """``no_decay=True`` spares a spectral-normed Embedding, a parametrized LayerNorm weight and bias as it
    spares the plain ones, in the optimizer ``fit`` builds."""
    model = reparametrized(how)
    spec = OptimizerSpec(AdamW, lr=LR, weight_decay=WD, no_decay=True, implementation="forloop")
    ours = declared(spec, model)()
    theirs = type(
        "HandWritten",
        (model,),
        {"configure_optimizers": lambda self: AdamW(parametrized_groups(self), lr=LR)},
    )()
    fit(ours, max_epochs=1)
    fit(theirs, max_epochs=1)
    assert partition(ours, ours.trainer.optimizers[0].param_groups) == partition(
        theirs, parametrized_groups(theirs)
    )
    assert all(p.isfinite().all() for p in ours.parameters())
    assert_same_weights(ours, theirs)


# ---- layer-wise lr decay ---------------------------------------------------------------------------

BEIT = OptimizerSpec(
    AdamW, lr=LR, weight_decay=WD, no_decay=("1d",), layer_decay=DECAY, layer_decay_blocks="blocks"
)
#: the index of the decayed group of each depth 0..4 in BEiT's group order (see the test below)
DEPTHS = [0, 2, 4, 6, 8]


def test_layer_decay_groups_equal_beits_recipe() -> None:
    module = declared(BEIT)()
    groups = built_groups(module)
    reference = beit_param_groups(module)
    assert partition(module, groups) == partition(module, reference)
    # embeddings at depth 0, block i at depth i + 1, BatchNorm and head after the blocks at depth 4, in BEiT's
    # order: as named_parameters() first meets each group (each block's norm first)
    assert [[id(p) for p in g["params"]] for g in groups] == [[id(p) for p in g["params"]] for g in reference]
    assert [g["name"] for g in groups] == [
        "layer_0",
        *(name for i in (1, 2, 3, 4) for name in (f"layer_{i}/no_decay", f"layer_{i}")),
    ]
    assert [groups[i]["lr"] for i in DEPTHS] == pytest.approx(
        [LR * DECAY ** (4 - depth) for depth in range(5)]
    )


@pytest.mark.parametrize(
    "scheduler",
    [
        (
            SchedulerSpec("step", step_size=3, gamma=0.5, interval="step"),
            lambda o: lr_scheduler.StepLR(o, 3, 0.5),
        ),
        (
            SchedulerSpec("cosine", T_max=8, interval="step"),
            lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=8),
        ),
    ],
    ids=["step", "cosine"],
)
def test_layer_decay_ratios_survive_a_scheduler_and_training_matches_beit(scheduler: Any) -> None:
    spec, make = scheduler
    ours = declared(
        OptimizerSpec(
            AdamW,
            lr=LR,
            weight_decay=WD,
            no_decay=("1d",),
            layer_decay=DECAY,
            layer_decay_blocks="blocks",
            scheduler=spec,
            implementation="forloop",  # as the hand-written reference, so the weights compare exactly
        )
    )()
    theirs = handwritten(beit_param_groups, make)()
    got, expected = fit(ours, max_epochs=2), fit(theirs, max_epochs=2)
    assert_same_weights(ours, theirs)
    # BEiT's groups in BEiT's order: the same lrs group by group at every step
    assert [step[0] for step in got.history] == [
        pytest.approx(step[0], rel=1e-12) for step in expected.history
    ]
    head = DEPTHS[-1]
    assert len({round(lr, 12) for lr in got.of(group=head)}) > 2  # the schedule really moved
    for step in got.history:
        lrs = step[0]
        # relative to the head, the depth scales stay put at every step
        assert [lrs[i] / lrs[head] for i in DEPTHS] == pytest.approx([DECAY ** (4 - d) for d in range(5)])


def test_layer_decay_multiplies_a_declared_groups_own_lr() -> None:
    spec = OptimizerSpec(
        SGD, lr=0.1, layer_decay=0.5, layer_decay_blocks="blocks", groups=[ParamGroup("blocks.0", lr=1.0)]
    )
    groups = built_groups(declared(spec)())
    assert [(g["name"], g["lr"]) for g in groups] == [
        ("blocks.0/layer_1", 1.0 * 0.5**3),
        ("rest/layer_0", 0.1 * 0.5**4),
        ("rest/layer_2", 0.1 * 0.5**2),
        ("rest/layer_3", 0.1 * 0.5),
        ("rest/layer_4", 0.1),
    ]


@pytest.mark.parametrize("kind", [np.float32, np.float64])
def test_numpy_layer_decay_and_multipliers_build_the_python_numbers_groups(kind: Any) -> None:
    """``layer_decay``, ``layer_decay_min_scale`` and a group's ``lr_mult``/``decay_mult`` from a sweep's grid
    (numpy scalars) build the groups the Python numbers build, instead of being refused as no float."""

    def spec(number: Any) -> OptimizerSpec:
        return OptimizerSpec(
            SGD,
            lr=0.1,
            weight_decay=0.01,
            layer_decay=number(0.5),
            layer_decay_blocks="blocks",
            layer_decay_min_scale=number(0.25),
            groups=[ParamGroup("head.*", lr_mult=number(2.0), decay_mult=number(0.5))],
        )

    expected = [(g["name"], g["lr"], g["weight_decay"]) for g in built_groups(declared(spec(float))())]
    assert [(g["name"], g["lr"], g["weight_decay"]) for g in built_groups(declared(spec(kind))())] == expected


# ---- recipe validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"no_decay": "bias"},
            ValueError,
            "Declared.optimizer: Expected `no_decay` to be True, False, `transformers`, `timm`, `nanogpt` or a "
            "non-empty tuple of `bias`, `norm`, `embedding`, `1d`, `transformers`, `timm`, `nanogpt` but got "
            "'bias' (did you mean `('bias',)`?)",
        ),
        (
            {"no_decay": "tranformers"},
            ValueError,
            "but got 'tranformers' (did you mean `transformers`?)",
        ),
        (
            {"no_decay": "nanoGPT"},
            ValueError,
            "but got 'nanoGPT' (did you mean `nanogpt`?)",
        ),
        (
            {"no_decay": 1},
            TypeError,
            "Declared.optimizer: Expected `no_decay` to be True, False, `transformers`, `timm`, `nanogpt` or a "
            "non-empty",
        ),
        (
            {"no_decay": ("bais",)},
            ValueError,
            "Declared.optimizer: Expected each `no_decay` entry to be one of `bias`, `norm`, `embedding`, "
            "`1d`, `transformers`, `timm`, `nanogpt` but got 'bais' (did you mean `bias`?)",
        ),
        (
            {"no_decy": True},
            TypeError,
            "`AdamW` got an unexpected argument `no_decy` (did you mean `no_decay`?)",
        ),
        (
            {"layer_decay": 1.5, "layer_decay_blocks": "blocks"},
            ValueError,
            "Expected `layer_decay` to be a float in (0, 1] but got 1.5",
        ),
        ({"layer_decay": 0.75}, ValueError, "`layer_decay` needs `layer_decay_blocks`, the submodule path"),
        (
            {"layer_decay_blocks": "blocks"},
            ValueError,
            "`layer_decay_blocks='blocks'` only applies with `layer_decay`",
        ),
    ],
    ids=[
        "str",
        "rule-typo",
        "rule-case",
        "int",
        "typo",
        "argument-typo",
        "decay-range",
        "no-blocks",
        "blocks-alone",
    ],
)
def test_recipe_mistakes_fail_at_class_definition(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        declared(OptimizerSpec(AdamW, lr=LR, **kwargs))


def test_no_decay_needs_an_optimizer_with_weight_decay() -> None:
    with pytest.raises(
        ValueError, match=re.escape("`no_decay` sets `weight_decay=0.0` on some groups, but `Rprop` has no")
    ):
        declared(OptimizerSpec(Rprop, no_decay=True))


#: The refusal of a ``no_decay`` that leaves out no decay (after ``where: ``), ``{given}`` filled in.
NO_DECAY_WITHOUT_DECAY = (
    "Expected a weight decay for `no_decay=True` to leave out but got `weight_decay={value}` ({given}) and no group "
    "giving one: `no_decay` changes nothing and every parameter trains without weight decay. Give the decay the "
    "other parameters get (`weight_decay=...`, e.g. `weight_decay=5e-4`), or remove `no_decay`."
)


@pytest.mark.parametrize(
    ("kwargs", "value", "given"),
    [
        ({}, 0, "`SGD`'s default"),
        ({"weight_decay": 0.0}, 0.0, "declared"),
        ({"groups": [ParamGroup("head", lr=0.5)]}, 0, "`SGD`'s default"),
    ],
)
def test_no_decay_without_any_weight_decay_is_refused_at_class_definition(
    kwargs: dict[str, Any], value: Any, given: str
) -> None:
    """``OptimizerSpec("sgd", lr=0.1, no_decay=True)`` (a forgotten ``weight_decay=5e-4``: ``SGD``'s default is
    0) built a ``decay`` group with ``weight_decay`` 0 without a word, and trained with no decay at all."""
    with pytest.raises(
        ValueError,
        match="^Declared\\.optimizer: "
        + re.escape(NO_DECAY_WITHOUT_DECAY.format(value=value, given=given))
        + "$",
    ):
        declared(OptimizerSpec(SGD, lr=0.1, no_decay=True, **kwargs))


def test_no_decay_beside_a_group_that_decays_trains_as_the_hand_written_groups() -> None:
    """A group that gives a decay of its own is what ``no_decay`` leaves out in it: accepted, and trained as the
    hand-written param groups (the head's biases without decay)."""
    spec = OptimizerSpec(SGD, lr=0.1, no_decay=("bias",), groups=[ParamGroup("head", weight_decay=WD)])
    module = declared(spec)()

    def groups(self: Any) -> list[dict[str, Any]]:
        head = dict(self.head.named_parameters())
        rest = [(n, p) for n, p in self.named_parameters() if not n.startswith("head.")]
        return [
            {"params": [head["weight"]], "lr": 0.1, "weight_decay": WD},
            {"params": [head["bias"]], "lr": 0.1, "weight_decay": 0.0},
            {"params": [p for n, p in rest if not n.endswith("bias")], "lr": 0.1, "weight_decay": 0.0},
            {"params": [p for n, p in rest if n.endswith("bias")], "lr": 0.1, "weight_decay": 0.0},
        ]

    reference = type(
        "HandWritten", (VitLike,), {"configure_optimizers": lambda self: SGD(groups(self), lr=0.1)}
    )()
    assert partition(module, built_groups(module)) == partition(reference, groups(reference))
    module, reference = declared(spec)(), reference.__class__()
    fit(module, max_steps=3)
    fit(reference, max_steps=3)
    assert_same_weights(module, reference)


@helpers.needs_muon
def test_no_decay_on_muon_adamw_reads_the_decay_of_its_adamw_groups() -> None:
    """``MuonWithAdamW``'s AdamW groups decay by ``adamw_weight_decay``, not by ``weight_decay`` (the Muon
    groups'): ``weight_decay=0.0`` beside ``adamw_weight_decay=0.05`` was refused as leaving out no decay. It trains
    as the hand-written groups: the head's weight at 0.05, the biases, norms and embedding at 0."""
    from lightning_optim.optimizers.muon_adamw import MuonWithAdamW

    spec = OptimizerSpec(
        MuonWithAdamW,
        lr=0.02,
        weight_decay=0.0,
        adamw_weight_decay=WD,
        use_muon=False,
        no_decay=True,
        groups=[ParamGroup("blocks.*.fc.weight", use_muon=True)],
    )

    def groups(self: Any) -> list[dict[str, Any]]:
        named = dict(self.named_parameters())
        muon = [n for n in named if n.startswith("blocks.") and n.endswith("fc.weight")]
        spared = [n for n in named if n not in muon and (n.endswith("bias") or "norm" in n or "embed" in n)]
        rest = [n for n in named if n not in muon and n not in spared]
        return [
            {"params": [named[n] for n in muon], "use_muon": True},
            {"params": [named[n] for n in rest], "use_muon": False},
            {"params": [named[n] for n in spared], "use_muon": False, "weight_decay": 0.0},
        ]

    def configure_optimizers(self: Any) -> Any:
        return MuonWithAdamW(groups(self), lr=0.02, weight_decay=0.0, adamw_weight_decay=WD)

    reference = type("HandWritten", (VitLike,), {"configure_optimizers": configure_optimizers})
    module = declared(spec)()
    built = built_groups(module)
    assert {g["weight_decay"] for g in built} == {0.0, WD}
    twin = reference()
    assert partition(module, built) == partition(twin, built_groups(twin))
    module, twin = declared(spec)(), reference()
    fit(module, max_steps=3)
    fit(twin, max_steps=3)
    assert_same_weights(module, twin)


@helpers.needs_muon
def test_no_decay_on_muon_adamw_without_any_decay_names_both_halves() -> None:
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Expected a weight decay for `no_decay=True` to leave out but got `weight_decay=0.0` (declared), "
            "`adamw_weight_decay=0.0` (declared) and no group giving one"
        ),
    ):
        declared(
            OptimizerSpec(
                "lightning_optim.optimizers.muon_adamw.MuonWithAdamW",
                lr=0.02,
                weight_decay=0.0,
                adamw_weight_decay=0.0,
                no_decay=True,
                groups=[ParamGroup("blocks.*.fc.weight", use_muon=True)],
            )
        )


def _cyclic_decay(weight_decay: float | HParam) -> OptimizerSpec:
    """SGD with ``no_decay`` and a cyclic weight decay (0 -> 0.04 -> 0 over 4 steps) that sets it outright."""
    return OptimizerSpec(
        SGD,
        lr=0.1,
        weight_decay=weight_decay,
        no_decay=True,
        scheduler=SchedulerSpec(
            "cyclic",
            base_lr=0.0,
            max_lr=0.04,
            step_size_up=2,
            cycle_momentum=False,
            param="weight_decay",
            interval="step",
        ),
    )


def test_no_decay_beside_a_weight_decay_schedule_from_zero_is_refused_naming_the_schedule() -> None:
    """``weight_decay=0.0`` beside a schedule driving it (0.02, 0.04, ...): no group tells the ones ``no_decay``
    leaves out from the others, so the schedule decayed them too; the refusal said no parameter decays."""
    with pytest.raises(
        ValueError,
        match="^Declared\\.optimizer: "
        + re.escape(
            "Expected a weight decay for `no_decay=True` to leave out but got `weight_decay=0.0` (declared) and no "
            "group giving one, beside `CyclicLR` driving `param='weight_decay'`: every group holds 0, so the "
            "schedule cannot tell the groups `no_decay` leaves out from the others and would decay them too. Give "
            "the optimizer a decay (`weight_decay=...`, e.g. `weight_decay=5e-4`; the schedule drives it) and the "
            "groups `no_decay` leaves out stay at 0, or remove `no_decay`."
        )
        + "$",
    ):
        declared(_cyclic_decay(0.0))


def test_no_decay_beside_a_weight_decay_schedule_keeps_its_groups_at_zero() -> None:
    """With a declared decay the schedule sets the decayed groups outright (torch's ``CyclicLR`` values) and
    leaves the groups ``no_decay`` made at 0."""
    seen: list[list[float]] = []

    class Recorded(ConfigurableOptimizersMixin, VitLike):
        optimizer = _cyclic_decay(5e-4)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            seen.append([g["weight_decay"] for g in self.trainer.optimizers[0].param_groups])
            return super().training_step(batch, batch_idx)

    module = Recorded()
    fit(module, max_steps=4)
    reference = SGD([nn.Parameter(torch.zeros(1))], lr=0.0)
    cyclic = lr_scheduler.CyclicLR(reference, base_lr=0.0, max_lr=0.04, step_size_up=2, cycle_momentum=False)
    expected = []
    for _ in range(4):
        expected.append(reference.param_groups[0]["lr"])
        reference.step()
        cyclic.step()
    names = [g["name"] for g in module.trainer.optimizers[0].param_groups]
    assert names == ["decay", "no_decay"]
    assert seen == [[pytest.approx(value), 0.0] for value in expected]


class _Swept(ConfigurableOptimizersMixin, VitLike):
    """A weight-decay sweep over AdamW with ``no_decay``: the decay is the ``wd`` hyperparameter."""

    optimizer = OptimizerSpec(
        AdamW, lr=LR, weight_decay=HParam("wd"), no_decay=True, implementation="forloop"
    )

    def __init__(self, wd: float = WD) -> None:
        super().__init__()
        self.save_hyperparameters()


def _swept_by_hand(wd: float) -> L.LightningModule:
    """The hand-written two-group AdamW of the sweep point ``wd``: biases, norms and the embedding at 0."""

    def configure_optimizers(self: Any) -> Any:
        named = dict(self.named_parameters())
        spared = [
            n for n in named if n.endswith("bias") or n.startswith(("embed.", "norm.")) or ".norm." in n
        ]
        decayed = [n for n in named if n not in spared]
        return AdamW(
            [
                {"params": [named[n] for n in decayed], "weight_decay": wd},
                {"params": [named[n] for n in spared], "weight_decay": 0.0},
            ],
            lr=LR,
            foreach=False,
        )

    return type("HandWritten", (VitLike,), {"configure_optimizers": configure_optimizers})()


@pytest.mark.parametrize("wd", [WD, 0.0], ids=["decay", "zero"])
def test_no_decay_whose_weight_decay_an_hparam_reads_as_zero_trains_as_the_hand_written_sweep_point(
    wd: float,
) -> None:
    """An ``HParam`` deciding the decay reads 0.0 in the no-decay run of a sweep: that run was refused ("Expected a
    weight decay for `no_decay=True` to leave out"), its way out another class per sweep point. It trains as the
    hand-written two-group AdamW of every point, as a ``warmup`` read as 0 does; a literal 0 stays refused
    (``test_no_decay_without_any_weight_decay_is_refused_at_class_definition``)."""
    module, reference = _Swept(wd=wd), _swept_by_hand(wd)
    fit(module, max_steps=3)
    fit(reference, max_steps=3)
    assert [len(g["params"]) for g in module.trainer.optimizers[0].param_groups] == [
        len(g["params"]) for g in reference.trainer.optimizers[0].param_groups
    ]
    assert [g["weight_decay"] for g in module.trainer.optimizers[0].param_groups] == [wd, 0.0]
    assert_same_weights(module, reference)


def test_no_decay_whose_weight_decay_an_hparam_reads_as_zero_beside_a_decay_schedule_is_refused() -> None:
    """Beside a schedule driving ``weight_decay`` every group holding 0 would be decayed by it, the ones
    ``no_decay`` leaves out too: refused when ``fit`` reads 0, as the literal 0 is at class definition."""

    class Swept(ConfigurableOptimizersMixin, VitLike):
        optimizer = _cyclic_decay(HParam("wd"))

        def __init__(self, wd: float = 0.0) -> None:
            super().__init__()
            self.save_hyperparameters()

    with pytest.raises(
        ValueError,
        match=re.escape("no group giving one, beside `CyclicLR` driving `param='weight_decay'`")
        + ".*"
        + re.escape("(values read when `fit` started: `weight_decay` from hparam `wd` = 0.0)"),
    ):
        fit(Swept(), max_steps=1)


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        (
            "blokcs",
            "Expected `layer_decay_blocks` to be a submodule path but got 'blokcs', which is not a submodule "
            "(did you mean `blocks`?)",
        ),
        (
            "head",
            "Expected `layer_decay_blocks='head'` to be a non-empty ModuleList or Sequential of blocks "
            "but got Linear",
        ),
    ],
    ids=["typo", "not-a-list"],
)
def test_layer_decay_blocks_are_checked_when_fit_starts(blocks: str, message: str) -> None:
    module = declared(OptimizerSpec(AdamW, lr=LR, layer_decay=DECAY, layer_decay_blocks=blocks))()
    with pytest.raises(ValueError, match=re.escape(f"Declared.optimizer: {message}")):
        fit(module, max_steps=1)


def test_layer_decay_blocks_by_a_second_path_of_a_shared_submodule_name_the_first() -> None:
    # the blocks' parameters are named under the first path only: the second path would place none of them
    class Shared(VitLike):
        def __init__(self) -> None:
            super().__init__()
            self.tied_blocks = self.blocks

    spec = OptimizerSpec(AdamW, lr=LR, layer_decay=DECAY, layer_decay_blocks="tied_blocks")
    with pytest.raises(ValueError) as raised:
        describe_optimizers(declared(spec, Shared)())
    assert str(raised.value) == (
        "Declared.optimizer: Expected `layer_decay_blocks` to be the first path of its submodule but got "
        "'tied_blocks', a second path of the submodule registered first as `blocks` (did you mean `blocks`?)."
    )


class EarlierBlocks(L.LightningModule):
    """``VitLike``'s network with its first ``earlier`` blocks registered before ``blocks`` under names of their own
    (``block0``, ...): their parameters are first named there, ``blocks.<i>.*`` is their second name."""

    def __init__(self, earlier: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(10, 8)
        blocks = [helpers.Block() for _ in range(3)]
        for i in range(earlier):
            setattr(self, f"block{i}", blocks[i])
        self.pos = nn.Parameter(torch.zeros(8))  # registered between them and the blocks: before the blocks
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.BatchNorm1d(8)
        self.head = nn.Linear(8, 4)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        h = self.embed((x.abs() * 3).long().clamp(max=9)).mean(1) + self.pos
        for block in self.blocks:
            h = block(h)
        return nn.functional.cross_entropy(self.head(self.norm(h)), y)


class HandWrittenEarlierBlocks(EarlierBlocks):
    """BEiT's layer decay by hand: block ``i`` of 3 at ``lr * DECAY ** (3 - i)``."""

    def configure_optimizers(self) -> Any:
        groups = [
            {"params": [self.embed.weight, self.pos], "lr": LR * DECAY**4},
            *(
                {"params": list(b.parameters()), "lr": LR * DECAY ** (3 - i)}
                for i, b in enumerate(self.blocks)
            ),
            {"params": [*self.norm.parameters(), *self.head.parameters()], "lr": LR},
        ]
        return AdamW(groups, lr=LR, weight_decay=WD, foreach=False)


@pytest.mark.parametrize("earlier", [1, 3], ids=["first block", "every block"])
def test_layer_decay_places_a_block_registered_earlier_under_another_name_as_its_block(earlier: int) -> None:
    """A parameter is placed by any of its names, as a selector takes it: ``blocks[0]``, registered first as
    ``block0``, is block 0 of 3 (``lr * DECAY ** 3``), as the hand-written groups give it. Was: placed by its first
    name only, before the blocks at the embedding's ``lr * DECAY ** 4``, and with every block registered earlier
    refused as holding none of the optimizer's parameters."""
    spec = OptimizerSpec(
        AdamW,
        lr=LR,
        weight_decay=WD,
        layer_decay=DECAY,
        layer_decay_blocks="blocks",
        implementation="forloop",
    )
    module, reference = declared(spec, EarlierBlocks)(earlier), HandWrittenEarlierBlocks(earlier)
    fit(module, max_epochs=1)
    fit(reference, max_epochs=1)

    def lrs(trained: L.LightningModule) -> dict[str, float]:
        names = {id(p): name for name, p in trained.named_parameters()}
        return {
            names[id(p)]: g["lr"] for g in trained.trainer.optimizers[0].param_groups for p in g["params"]
        }

    assert lrs(module) == pytest.approx(lrs(reference), rel=1e-12)
    assert lrs(module)["block0.fc.weight"] == pytest.approx(LR * DECAY**3)
    assert lrs(module)["pos"] == pytest.approx(LR * DECAY**4)
    assert_same_weights(module, reference)


class OneWeightBlocks(L.LightningModule):
    """One block holding one weight, and nothing else: the whole model is its top layer."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(8, 4, bias=False)])

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return nn.functional.cross_entropy(self.blocks[0](batch[0]), batch[1])


@pytest.mark.parametrize(("rule", "scale"), [("beit", DECAY), ("timm", 1.0)])
def test_layer_decay_over_a_single_weight_trains_it_at_its_rules_lr(rule: str, scale: float) -> None:
    """A model of one block with one weight: BEiT's top is always ``L + 1`` (the head's layer, here absent), so
    the block's weight gets ``lr * decay``; timm's ``layer_max`` is the highest layer id among the parameters, the
    block's own, so it trains at the full lr. Was (timm): its top taken as ``max(<one id>)``, a
    ``TypeError: 'int' object is not iterable`` when fit started."""
    spec = OptimizerSpec(SGD, lr=LR, layer_decay=DECAY, layer_decay_blocks="blocks", layer_decay_rule=rule)
    module = declared(spec, OneWeightBlocks)()
    fit(module, max_epochs=1)
    assert [g["lr"] for g in module.trainer.optimizers[0].param_groups] == [pytest.approx(LR * scale)]


class TwoOptimizerVit(VitLike):
    """``VitLike`` in manual optimization, for two optimizers that share its blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        optimizers = self.optimizers()
        for optimizer in optimizers:
            optimizer.zero_grad()
        self.manual_backward(loss)
        for optimizer in optimizers:
            optimizer.step()


def test_layer_decay_timm_numbers_the_blocks_another_optimizer_trains() -> None:
    """timm's ``param_groups_layer_decay`` numbers the layers over the whole model's ``named_parameters()``:
    blocks 0 and 1, which another optimizer trains, keep their layers, so the embedding is at ``lr * d ** 4`` and
    block 2 at ``lr * d``. Was (found by review): only this optimizer's blocks were numbered, the embedding at
    ``lr * d ** 2``, four times timm's lr."""
    spec = OptimizerSpec(SGD, lr=LR, layer_decay=0.5, layer_decay_blocks="blocks", layer_decay_rule="timm")
    low = OptimizerSpec(SGD, lr=LR, params=["blocks.0", "blocks.1"])
    module = type("Model", (ConfigurableOptimizersMixin, TwoOptimizerVit), {"low": low, "optimizer": spec})()
    fit(module, max_epochs=1)
    names = {id(p): n for n, p in module.named_parameters()}
    lrs = {names[id(p)]: g["lr"] for g in module.trainer.optimizers[1].param_groups for p in g["params"]}
    assert lrs["embed.weight"] == pytest.approx(LR * 0.5**4)
    assert lrs["blocks.2.fc.weight"] == lrs["norm.weight"] == pytest.approx(LR * 0.5)
    assert lrs["head.weight"] == LR


def test_layer_decay_blocks_outside_the_optimizer_are_an_error() -> None:
    spec = OptimizerSpec(AdamW, params="head", lr=LR, layer_decay=DECAY, layer_decay_blocks="blocks")
    module = type(
        "Declared",
        (ConfigurableOptimizersMixin, VitLike),
        {"optimizer": spec, "rest": OptimizerSpec(SGD, lr=0.1)},
    )()
    with pytest.raises(
        ValueError, match=re.escape("`layer_decay_blocks='blocks'` holds none of this optimizer's")
    ):
        describe_optimizers(module)


# ---- every declared is a partition ---------------------------------------------------------------------

SELECTORS = ["blocks.0", "blocks", "*.bias", "head", "embed", "*.norm.*", "blocks.1.fc.weight", "norm"]


@settings(max_examples=60, deadline=None)
@given(
    selects=st.lists(st.sampled_from(SELECTORS), max_size=4, unique=True),
    no_decay=st.booleans(),
    layer_decay=st.booleans(),
)
def test_every_plan_puts_each_trainable_parameter_in_exactly_one_group(
    selects: list[str], no_decay: bool, layer_decay: bool
) -> None:
    recipes: dict[str, Any] = {"layer_decay": 0.5, "layer_decay_blocks": "blocks"} if layer_decay else {}
    spec = OptimizerSpec(
        AdamW, lr=LR, weight_decay=WD, no_decay=no_decay, groups=[ParamGroup(s) for s in selects], **recipes
    )
    module = declared(spec)()
    named = NamedParameters.of(module)
    try:
        groups = plan_groups(named, type(module)._lightning_optim_declared[0].grouping, named.items)
    except ValueError as err:  # a later selector found nothing left: named in the message
        assert re.search(r"groups\[\d\]: `select=.*` matches (none|only parameters already taken)", str(err))
        return
    order = [name for name, _ in module.named_parameters()]
    planned = [name for g in groups for name, _ in g.parameters]
    assert sorted(planned) == sorted(order)  # every parameter once
    for group in groups:
        names = [name for name, _ in group.parameters]
        assert names == sorted(names, key=order.index)  # named_parameters() order within a group
        assert (group.options.get("weight_decay") == 0.0) == str(group.name).endswith("no_decay")
    assert len({g.name for g in groups}) == len(groups)
