"""The library-named recipes against the libraries they port: transformers, timm, EVA-CLIP and mmengine.

transformers and mmengine are installed, so their own functions build the reference. timm is not importable
here: its functions are transcribed below from huggingface/pytorch-image-models at commit
aa4b5850c1543fa488abf260f18390eda46cf85d (timm/optim/_param_groups.py, timm/models/_manipulate.py,
timm/models/vision_transformer.py), and EVA-CLIP's from baaivision/EVA at 46b041482a9f1fa4658254d035618f0e2a6b24d4
(EVA-CLIP/rei/training/optim.py). Every comparison maps each parameter name to its ``(lr, weight_decay)``
in the built optimizer on both sides. MAE's fine-tuning recipe, its layer decay under its own schedule, is
trained next to MAE's functions transcribed from facebookresearch/mae at be47fef7a727943547afb0c670cf1b26034c3c89
(util/lr_decay.py, util/lr_sched.py), comparing every parameter's ``(lr, weight_decay)`` before every step, and
BEiT's ``get_parameter_groups`` is transcribed from microsoft/unilm at 768a3c873f598bb9b4d4dfb9267b099e35f8fe56
(beit/optim_factory.py). Each source fills its groups as ``named_parameters()`` meets them, and their order is
compared too: ``clip_grad_norm_`` sums the norms in the optimizer's order, so clipped runs are bit-identical only
in the source's order.

The training scripts of docs/guides/recipes.md are trained next to their optimizer code, transcribed, comparing
every parameter's ``(lr, momentum, weight_decay)`` before every step: transformers' run_glue_no_trainer.py
(its groups, with the installed ``get_scheduler``), torchvision's references/classification/train.py and
utils.py ``set_weight_decay`` (v0.16 to v0.20) and ultralytics 8.0's engine/trainer.py warmup.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
import re
from collections import defaultdict
from collections.abc import Callable, Collection
from itertools import chain
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from torch import nn
from torch.optim import SGD, AdamW, Rprop
from torch.optim.lr_scheduler import CosineAnnealingLR
from torch.utils.data import DataLoader, TensorDataset

from lightning_optim import (
    ConfigurableOptimizersMixin,
    HParam,
    OptimizerSpec,
    ParamGroup,
    SchedulerSpec,
    preview_schedule,
)
from lightning_optim.building.build import build_optimizer
from lightning_optim.groups.planning import apply_scales, as_torch_groups
from lightning_optim.optimizers.muon_adamw import MuonWithAdamW
from tests import helpers
from tests.helpers import VitLike, assert_same_weights, fit
from tests.schedules.test_timm_cosine import TimmCosineReference

LR, WD, DECAY, WIDTH = 1e-3, 0.05, 0.75, 8

Settings = dict[str, tuple[float, float]]


def declared(spec: OptimizerSpec, base: type[L.LightningModule]) -> Any:
    return helpers.declared(spec, base=base)()


def ours(module: Any) -> Settings:
    """Each parameter's ``(lr, weight_decay)`` in the optimizer the declaration builds (one optimizer)."""
    return settings_of(module, built_groups(module))


def built_groups(module: Any) -> list[dict[str, Any]]:
    """The param groups of the optimizer the declaration builds (one optimizer), with their scales applied."""
    ((declared, groups),) = helpers.planned(module)
    optimizer = build_optimizer(declared, as_torch_groups(groups))
    apply_scales(optimizer, groups)
    return optimizer.param_groups


def names_by_group(module: nn.Module, groups: list[dict[str, Any]]) -> list[list[str]]:
    """Each group's parameter names, group by group in order: what ``clip_grad_norm_`` sums its norms along (the
    optimizer's parameter order), so two orders round the total norm differently and clipped weights drift."""
    names = {id(p): name for name, p in module.named_parameters()}
    return [[names[id(p)] for p in g["params"]] for g in groups]


def settings_of(module: nn.Module, groups: list[dict[str, Any]]) -> Settings:
    names = {id(p): name for name, p in module.named_parameters()}
    found = {names[id(p)]: (g["lr"], g.get("weight_decay", 0.0)) for g in groups for p in g["params"]}
    assert sorted(found) == sorted(names.values())  # every parameter exactly once
    return found


def approx(settings: Settings) -> Any:
    return {name: pytest.approx(value, rel=1e-12) for name, value in settings.items()}


# ---- the models --------------------------------------------------------------------------------------


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(WIDTH, 3 * WIDTH)
        self.proj = nn.Linear(WIDTH, WIDTH)


class Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(WIDTH, 2 * WIDTH)
        self.fc2 = nn.Linear(2 * WIDTH, WIDTH)


class VitBlock(nn.Module):
    """timm's ``Block`` layout: ``norm1``, ``attn.qkv``, ``attn.proj``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``."""

    def __init__(self) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(WIDTH)
        self.attn = Attention()
        self.norm2 = nn.LayerNorm(WIDTH)
        self.mlp = Mlp()


class PatchEmbed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, WIDTH, 2, 2)


class TimmVit(L.LightningModule):
    """timm's ``VisionTransformer`` names in miniature, with a pre-norm and an ``fc_norm`` to show where each goes."""

    def __init__(self, depth: int = 3) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, WIDTH))
        self.pos_embed = nn.Parameter(torch.zeros(1, 5, WIDTH))
        self.norm_pre = nn.LayerNorm(WIDTH)
        self.blocks = nn.Sequential(*(VitBlock() for _ in range(depth)))
        self.norm = nn.LayerNorm(WIDTH)
        self.fc_norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, 4)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token"}


class Visual(nn.Module):
    def __init__(self, depth: int) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, WIDTH))
        self.pos_embed = nn.Parameter(torch.zeros(1, 5, WIDTH))
        self.patch_embed = PatchEmbed()
        self.blocks = nn.ModuleList(VitBlock() for _ in range(depth))
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, 4)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token"}


class TextBlock(nn.Module):
    """transformers' ``CLIPEncoderLayer`` layout (EVA-CLIP's text towers may be transformers models):
    ``self_attn``, ``layer_norm1``, ``mlp``, ``layer_norm2``, so a block's first parameter is a decayed weight."""

    def __init__(self) -> None:
        super().__init__()
        self.self_attn = Attention()
        self.layer_norm1 = nn.LayerNorm(WIDTH)
        self.mlp = Mlp()
        self.layer_norm2 = nn.LayerNorm(WIDTH)


class Text(nn.Module):
    def __init__(self, depth: int) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(10, WIDTH)
        self.positional_embedding = nn.Parameter(torch.zeros(6, WIDTH))
        self.blocks = nn.ModuleList(TextBlock() for _ in range(depth))
        self.ln_final = nn.LayerNorm(WIDTH)
        # a module, not a bare ``nn.Parameter``: torch lists a module's own parameters before its submodules,
        # so a bare projection would count as registered before the blocks (layer 0)
        self.text_projection = nn.Linear(WIDTH, 4, bias=False)


class ClipLike(L.LightningModule):
    """A CLIP's shape: a visual tower of 2 blocks, a text tower of 3, and ``logit_scale`` outside both."""

    def __init__(self) -> None:
        super().__init__()
        self.visual = Visual(2)
        self.text = Text(3)
        self.logit_scale = nn.Parameter(torch.ones([]))


class LlamaRMSNorm(nn.Module):
    """A custom norm that subclasses no torch norm (transformers' Llama norm is written like this)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(WIDTH))


class Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(10, WIDTH)
        self.self_attn = nn.MultiheadAttention(WIDTH, 2)  # in_proj_weight, in_proj_bias, out_proj.*
        self.input_layernorm = LlamaRMSNorm()  # spared by name (``layernorm``)
        self.q_norm = LlamaRMSNorm()  # spared by name (``_norm.``)
        self.ln = nn.LayerNorm(WIDTH)  # spared by type
        self.norm_f = LlamaRMSNorm()  # decayed: neither a LayerNorm nor a matching name
        self.bn = nn.BatchNorm1d(WIDTH)  # decayed: transformers spares LayerNorm layers only
        self.lm_head = nn.Linear(WIDTH, 10, bias=False)


class MixedDecoder(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.model = Decoder()


class TinyBert(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        from transformers import BertConfig, BertModel

        config = BertConfig(
            hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, vocab_size=50
        )
        self.model = BertModel(config)


# ---- no_decay="transformers" --------------------------------------------------------------------------


def transformers_settings(module: nn.Module) -> Settings:
    """transformers 5.24 ``Trainer.create_optimizer``'s two groups, with its own ``get_decay_parameter_names``."""
    from transformers import Trainer

    decay = Trainer.get_decay_parameter_names(None, module)  # type: ignore[arg-type]  # self is unused
    return {
        name: (LR, WD if name in decay else 0.0) for name, p in module.named_parameters() if p.requires_grad
    }


@pytest.mark.parametrize("model", [TinyBert, MixedDecoder], ids=["bert", "mha-rmsnorm-batchnorm"])
def test_no_decay_transformers_equals_the_trainers_groups(model: type[L.LightningModule]) -> None:
    helpers.transformers_with_torch()
    module = declared(OptimizerSpec(AdamW, lr=LR, weight_decay=WD, no_decay="transformers"), model)
    expected = transformers_settings(module)
    assert ours(module) == expected
    spared = {name for name, (_, wd) in expected.items() if wd == 0.0}
    assert 0 < len(spared) < len(expected)  # both halves exist: the comparison can fail
    if model is MixedDecoder:
        assert spared == {
            "model.self_attn.in_proj_bias",
            "model.self_attn.out_proj.bias",
            "model.input_layernorm.weight",
            "model.q_norm.weight",
            "model.ln.weight",
            "model.ln.bias",
            "model.bn.bias",
        }


def test_the_bias_kind_spares_in_proj_bias_as_mingpt_does() -> None:
    # the kind is minGPT's `pn.endswith('bias')` (tests/groups/test_recipes.py compares it with minGPT's loop);
    # it took only names ending in `.bias` and decayed `in_proj_bias`, which transformers spares too
    spec = OptimizerSpec(AdamW, lr=LR, weight_decay=WD, no_decay=("bias", "norm"))
    settings = ours(declared(spec, MixedDecoder))
    assert settings["model.self_attn.in_proj_bias"] == settings["model.self_attn.out_proj.bias"] == (LR, 0.0)
    assert settings["model.self_attn.in_proj_weight"] == (LR, WD)


# ---- no_decay="timm" -----------------------------------------------------------------------------------


def timm_param_groups_weight_decay(
    model: nn.Module, weight_decay: float, no_weight_decay_list: Collection[str] = ()
) -> list[dict[str, Any]]:
    """timm/optim/_param_groups.py ``param_groups_weight_decay`` (no fallback list), transcribed."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        matches_pattern = any(fnmatch.fnmatch(name, pattern) for pattern in no_weight_decay_list)
        if (param.ndim <= 1 or name.endswith(".bias")) or matches_pattern:
            no_decay.append(param)
        else:
            decay.append(param)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def timm_create_optimizer_groups(model: nn.Module) -> list[dict[str, Any]]:
    """timm/optim/_optim_factory.py ``OptimizerRegistry.create_optimizer``: the model's ``no_weight_decay()``."""
    no_weight_decay = getattr(model, "no_weight_decay", lambda: set())()
    return [{**g, "lr": LR} for g in timm_param_groups_weight_decay(model, WD, no_weight_decay)]


def test_no_decay_timm_equals_param_groups_weight_decay_with_no_weight_decay() -> None:
    module = declared(OptimizerSpec(AdamW, lr=LR, weight_decay=WD, no_decay="timm"), TimmVit)
    reference = timm_create_optimizer_groups(module)
    expected = settings_of(module, reference)
    assert ours(module) == expected
    # timm's groups are [no_decay, decay]: the no-decay half first (was decay first)
    assert names_by_group(module, built_groups(module)) == names_by_group(module, reference)
    # the 3-d tokens are spared only because no_weight_decay() names them
    assert expected["cls_token"] == expected["pos_embed"] == (LR, 0.0)
    assert expected["blocks.0.attn.qkv.weight"] == (LR, WD)


def test_no_decay_timm_asks_a_wrapped_models_no_weight_decay() -> None:
    class Wrapper(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = TimmVit()

    module = declared(OptimizerSpec(AdamW, lr=LR, weight_decay=WD, no_decay="timm"), Wrapper)
    inner = settings_of(module.model, timm_create_optimizer_groups(module.model))
    assert ours(module) == {f"model.{name}": value for name, value in inner.items()}


# ---- layer_decay_rule="timm" ---------------------------------------------------------------------------

MATCH_PREV_GROUP = (99999,)  # timm/models/_manipulate.py


def timm_group_with_matcher(names: list[str], group_matcher: dict[str, Any]) -> dict[str, int]:
    """timm/models/_manipulate.py ``group_with_matcher(..., reverse=True)`` for a dict matcher, transcribed."""
    compiled: list[tuple[re.Pattern[str], tuple[int], Any]] = []
    for group_ordinal, (_, mspec) in enumerate(group_matcher.items()):
        if mspec is None:
            continue
        if isinstance(mspec, (tuple, list)):
            for sspec in mspec:
                compiled += [(re.compile(sspec[0]), (group_ordinal,), sspec[1])]
        else:
            compiled += [(re.compile(mspec), (group_ordinal,), None)]

    def _get_grouping(name: str) -> tuple[float, ...]:
        for match_fn, prefix, suffix in compiled:
            r = match_fn.match(name)
            if r:
                parts = (prefix, r.groups(), suffix)
                return tuple(map(float, chain.from_iterable(filter(None, parts))))
        return (float("inf"),)

    grouping: dict[tuple[float, ...], list[str]] = defaultdict(list)
    for k in names:
        grouping[_get_grouping(k)].append(k)
    layer_id_to_param: dict[int, list[str]] = defaultdict(list)
    lid = -1
    for key in sorted(grouping):
        if lid < 0 or key[-1] != MATCH_PREV_GROUP[0]:
            lid += 1
        layer_id_to_param[lid].extend(grouping[key])
    return {n: lid for lid, lm in layer_id_to_param.items() for n in lm}


#: timm/models/vision_transformer.py ``VisionTransformer.group_matcher(coarse=False)``
VIT_GROUP_MATCHER = {
    "stem": r"^cls_token|reg_token|pos_embed|patch_embed",
    "blocks": [(r"^blocks\.(\d+)", None), (r"^norm", (99999,))],
}


def timm_param_groups_layer_decay(
    model: nn.Module,
    weight_decay: float,
    no_weight_decay_list: Collection[str],
    layer_decay: float,
    min_scale: float = 0.0,
) -> list[dict[str, Any]]:
    """timm/optim/_param_groups.py ``param_groups_layer_decay`` (no fallback, no ``no_opt_scale``), transcribed.

    timm leaves each group at the base lr and its schedulers set the group's ``lr`` to ``value * lr_scale``
    (timm/scheduler/scheduler.py ``update_groups``): the whole schedule is scaled, its floor and warmup start
    too. Each group's ``lr`` here is ``lr * lr_scale``, the scheduler's peak value;
    ``test_layer_decay_timm_under_timm_cosine_equals_timms_scheduler_on_its_groups`` runs the scheduler.
    """
    layer_map = timm_group_with_matcher([n for n, _ in model.named_parameters()], VIT_GROUP_MATCHER)
    num_layers = max(layer_map.values()) + 1
    layer_max = num_layers - 1
    layer_scales = [max(min_scale, layer_decay ** (layer_max - i)) for i in range(num_layers)]
    param_groups: dict[str, dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim <= 1 or any(fnmatch.fnmatch(name, p) for p in no_weight_decay_list):
            g_decay, this_decay = "no_decay", 0.0
        else:
            g_decay, this_decay = "decay", weight_decay
        layer_id = layer_map.get(name, layer_max)
        this_scale = layer_scales[layer_id]
        group_name = f"layer_{layer_id}_{g_decay}"
        if group_name not in param_groups:
            param_groups[group_name] = {"lr_scale": this_scale, "weight_decay": this_decay, "params": []}
        param_groups[group_name]["params"].append(param)
    return [{**g, "lr": LR * g["lr_scale"]} for g in param_groups.values()]


@pytest.mark.parametrize("min_scale", [0.0, 0.5])
def test_layer_decay_timm_equals_param_groups_layer_decay(min_scale: float) -> None:
    spec = OptimizerSpec(
        AdamW,
        lr=LR,
        weight_decay=WD,
        no_decay="timm",
        layer_decay=DECAY,
        layer_decay_blocks="blocks",
        layer_decay_rule="timm",
        layer_decay_min_scale=min_scale,
    )
    module = declared(spec, TimmVit)
    reference = timm_param_groups_layer_decay(module, WD, module.no_weight_decay(), DECAY, min_scale)
    expected = settings_of(module, reference)
    assert ours(module) == approx(expected)
    # timm's groups come as named_parameters() first meets each (layer, decay): cls_token's no-decay group
    # first, then norm_pre's (it joins the last block) before block 0's (was by layer, decay first)
    order = names_by_group(module, built_groups(module))
    assert order == names_by_group(module, reference)
    assert [names[0] for names in order[:3]] == ["cls_token", "patch_embed.proj.weight", "norm_pre.weight"]
    scale = {name: lr / LR for name, (lr, _) in expected.items()}
    # the final norm (and ViT's norm_pre, by its name) sit with the last block; fc_norm and head get the full lr
    assert scale["norm.weight"] == scale["norm_pre.weight"] == scale["blocks.2.mlp.fc2.weight"] == DECAY
    assert scale["fc_norm.weight"] == scale["head.weight"] == 1.0
    assert scale["cls_token"] == pytest.approx(max(min_scale, DECAY**4))


class TrainedVit(TimmVit):
    """``TimmVit`` trained on 3x4x4 images (4 patches and the class token), attention reduced to ``qkv``'s values."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        super().__init__()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        images, y = batch
        h = self.patch_embed.proj(images).flatten(2).transpose(1, 2)
        h = self.norm_pre(torch.cat([self.cls_token.expand(len(h), -1, -1), h], dim=1) + self.pos_embed)
        for block in self.blocks:
            h = h + block.attn.proj(block.attn.qkv(block.norm1(h))[..., :WIDTH])
            h = h + block.mlp.fc2(nn.functional.gelu(block.mlp.fc1(block.norm2(h))))
        return nn.functional.cross_entropy(self.head(self.fc_norm(self.norm(h)[:, 0])), y)


def images(n: int = 16, batch_size: int = 4) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(
        torch.randn(n, 3, 4, 4, generator=generator), torch.randint(0, 4, (n,), generator=generator)
    )
    return DataLoader(data, batch_size=batch_size)


class LrsByName(L.Callback):
    """Each parameter's lr before every training batch, by name (the two sides order their groups differently)."""

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, *args: Any) -> None:
        names = {id(p): name for name, p in module.named_parameters()}
        groups = trainer.optimizers[0].param_groups
        self.history.append({names[id(p)]: g["lr"] for g in groups for p in g["params"]})


#: timm's ``CosineLRScheduler`` options of a fine-tune: a warmup from a small lr and a floor above 0
TIMM_COSINE = {"warmup_t": 3, "warmup_lr_init": 1e-4, "lr_min": 2e-5}


class TimmFineTune(TrainedVit):
    """timm's ``train.py`` for ``--layer-decay 0.5 --sched cosine``, by hand: ``param_groups_layer_decay``'s groups,
    each at the base lr with its ``lr_scale``, and ``CosineLRScheduler(t_in_epochs=False)`` over the run's 12
    updates (``create_scheduler_v2``), given ``step_update(num_updates)`` after each update."""

    def configure_optimizers(self) -> Any:
        reference = timm_param_groups_layer_decay(self, WD, self.no_weight_decay(), 0.5)
        groups = [{key: value for key, value in g.items() if key != "lr"} for g in reference]
        optimizer = AdamW(groups, lr=LR, weight_decay=WD, foreach=False)
        self.timm_scheduler = TimmCosineReference(optimizer, t_initial=12, t_in_epochs=False, **TIMM_COSINE)
        return optimizer

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.timm_scheduler.step_update(num_updates=self.trainer.global_step)


@pytest.mark.parametrize("clip", [None, 0.05])
def test_layer_decay_timm_under_timm_cosine_equals_timms_scheduler_on_its_groups(clip: float | None) -> None:
    # timm scales the lr its scheduler sets by each group's lr_scale, so the warmup starts at
    # warmup_lr_init * lr_scale and the cosine ends at lr_min * lr_scale (timm/scheduler/scheduler.py
    # update_groups); both were one absolute value for every layer (the lowest layers' lr rose to lr_min).
    # Clipped (timm's --clip-grad), the weights are the same bits only with timm's group order: clip_grad_norm_
    # sums the norms in the optimizer's order (was 2e-7 apart, each layer's groups decay first)
    spec = OptimizerSpec(
        AdamW, lr=LR, weight_decay=WD, no_decay="timm", layer_decay=0.5, layer_decay_blocks="blocks",
        layer_decay_rule="timm", implementation="forloop",
        scheduler=SchedulerSpec("timm/cosine", t_in_epochs=False, **TIMM_COSINE),
    )  # fmt: skip
    module, reference = declared(spec, TrainedVit), TimmFineTune()
    ours_lrs, timm_lrs = LrsByName(), LrsByName()
    fit(module, data=images(), callbacks=[ours_lrs], gradient_clip_val=clip)
    fit(reference, data=images(), callbacks=[timm_lrs], gradient_clip_val=clip)
    assert len(timm_lrs.history) == 12
    assert ours_lrs.history == timm_lrs.history  # layer decay 0.5 scales exactly: the same bits
    first, last = timm_lrs.history[0], timm_lrs.history[-1]
    assert first["cls_token"] == pytest.approx(1e-4 * 0.5**4) and first["head.weight"] == pytest.approx(1e-4)
    assert last["cls_token"] < 2e-5 < last["head.weight"]  # each layer's cosine ends at its own floor
    assert_same_weights(module, reference)
    module_order = names_by_group(module, module.trainer.optimizers[0].param_groups)
    assert module_order == names_by_group(reference, reference.trainer.optimizers[0].param_groups)


class TimmWeightDecay(TrainedVit):
    """timm's ``create_optimizer_v2(model, "adamw", lr, weight_decay)`` without layer decay, by hand: the groups of
    ``param_groups_weight_decay`` with the model's ``no_weight_decay()``, ``[no_decay, decay]``."""

    def configure_optimizers(self) -> Any:
        return AdamW(timm_create_optimizer_groups(self), lr=LR, foreach=False)


def test_no_decay_timm_clipped_trains_as_timms_groups() -> None:
    # clip_grad_norm_ sums the norms in the optimizer's parameter order: with the decayed half first the clipped
    # weights were 1e-7 apart from timm's after 12 steps, the same lrs and decays in another group order
    spec = OptimizerSpec(AdamW, lr=LR, weight_decay=WD, no_decay="timm", implementation="forloop")
    module, reference = declared(spec, TrainedVit), TimmWeightDecay()
    fit(module, data=images(), gradient_clip_val=0.05)
    fit(reference, data=images(), gradient_clip_val=0.05)
    assert_same_weights(module, reference)
    groups, timm_groups = (
        module.trainer.optimizers[0].param_groups,
        reference.trainer.optimizers[0].param_groups,
    )
    assert names_by_group(module, groups) == names_by_group(reference, timm_groups)
    assert [g["weight_decay"] for g in groups] == [0.0, WD]


class HeadlessVit(TimmVit):
    """timm's ``VisionTransformer(num_classes=0, global_pool="token")``: nothing is trained after the final norm."""

    def __init__(self) -> None:
        super().__init__()
        self.fc_norm = nn.Identity()
        self.head = nn.Identity()


class VitAndHead(L.LightningModule):
    """A headless ViT backbone and a head, each trained by its own optimizer."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = HeadlessVit()
        self.head = nn.Linear(WIDTH, 4)
        self.automatic_optimization = False


def test_layer_decay_timm_without_a_head_gives_the_last_block_the_full_lr() -> None:
    # timm's ``layer_max`` is the highest layer id present: with nothing after the blocks, the last block and
    # the final norm get the full lr and everything below one factor of decay less than with a head
    spec = OptimizerSpec(
        AdamW, lr=LR, weight_decay=WD, no_decay="timm", layer_decay=DECAY, layer_decay_blocks="blocks",
        layer_decay_rule="timm",
    )  # fmt: skip
    module = declared(spec, HeadlessVit)
    expected = settings_of(module, timm_param_groups_layer_decay(module, WD, module.no_weight_decay(), DECAY))
    assert ours(module) == approx(expected)
    scale = {name: lr / LR for name, (lr, _) in expected.items()}
    assert scale["norm.weight"] == scale["blocks.2.mlp.fc2.weight"] == 1.0
    assert scale["cls_token"] == pytest.approx(DECAY**3)


def test_layer_decay_timm_with_a_frozen_head_keeps_the_head_at_the_top() -> None:
    # timm's ``layer_max`` counts frozen parameters (it skips them only after): with the head frozen (fine-tuning
    # with a linear-probed head), the last block stays one factor of decay below the full lr. Was 2x timm's lr
    spec = OptimizerSpec(
        AdamW, lr=LR, weight_decay=WD, no_decay="timm", layer_decay=DECAY, layer_decay_blocks="blocks",
        layer_decay_rule="timm",
    )  # fmt: skip
    module = declared(spec, TimmVit)
    module.fc_norm.requires_grad_(False)
    module.head.requires_grad_(False)
    names = {id(p): name for name, p in module.named_parameters()}
    reference = timm_param_groups_layer_decay(module, WD, module.no_weight_decay(), DECAY)
    expected = {names[id(p)]: (g["lr"], g["weight_decay"]) for g in reference for p in g["params"]}
    ((declared_optimizer, groups),) = helpers.planned(module)
    optimizer = build_optimizer(declared_optimizer, as_torch_groups(groups))
    apply_scales(optimizer, groups)
    got = {names[id(p)]: (g["lr"], g["weight_decay"]) for g in optimizer.param_groups for p in g["params"]}
    assert got == approx(expected)
    assert got["norm.weight"][0] == pytest.approx(LR * DECAY)


def test_layer_decay_timm_on_a_backbone_whose_head_another_optimizer_trains() -> None:
    class Module(ConfigurableOptimizersMixin, VitAndHead):
        backbone_opt = OptimizerSpec(
            AdamW, params="backbone", lr=LR, weight_decay=WD, no_decay="timm", layer_decay=DECAY,
            layer_decay_blocks="backbone.blocks", layer_decay_rule="timm",
        )  # fmt: skip
        head_opt = OptimizerSpec(AdamW, params="head", lr=LR, weight_decay=WD)

    module = Module()
    backbone = module.backbone
    reference = timm_param_groups_layer_decay(backbone, WD, backbone.no_weight_decay(), DECAY)
    expected = {f"backbone.{name}": value for name, value in settings_of(backbone, reference).items()}
    (declared_backbone, groups), (_, head_groups) = helpers.planned(module)
    optimizer = build_optimizer(declared_backbone, as_torch_groups(groups))
    apply_scales(optimizer, groups)
    names = {id(p): name for name, p in module.named_parameters()}
    got = {names[id(p)]: (g["lr"], g["weight_decay"]) for g in optimizer.param_groups for p in g["params"]}
    assert got == approx(expected)
    assert got["backbone.norm.weight"][0] == LR
    assert [p for g in head_groups for _, p in g.parameters] == list(module.head.parameters())


class ActivatedVit(L.LightningModule):
    """timm's ViT names over blocks written as one ``nn.Sequential`` of layers and parameterless activations
    (``blocks.1``, ``blocks.3``), with ``frozen`` (a block's position) frozen."""

    def __init__(self, frozen: int | None = None) -> None:
        torch.manual_seed(0)
        super().__init__()
        self.patch_embed = PatchEmbed()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, WIDTH))
        self.blocks = nn.Sequential(*(nn.Linear(WIDTH, WIDTH) if i % 2 == 0 else nn.GELU() for i in range(5)))
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, 4)
        if frozen is not None:
            self.blocks[frozen].requires_grad_(False)

    def no_weight_decay(self) -> set[str]:
        return {"cls_token"}

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        images, y = batch
        h = self.patch_embed.proj(images).flatten(2).transpose(1, 2)
        h = self.blocks(torch.cat([self.cls_token.expand(len(h), -1, -1), h], dim=1))
        return nn.functional.cross_entropy(self.head(self.norm(h)[:, 0]), y)


class TimmActivatedVit(ActivatedVit):
    """timm's ``param_groups_layer_decay`` groups of ``ActivatedVit``, by hand."""

    def configure_optimizers(self) -> Any:
        groups = timm_param_groups_layer_decay(self, WD, self.no_weight_decay(), 0.5)
        return AdamW(groups, lr=LR, weight_decay=WD, foreach=False)


@pytest.mark.parametrize("frozen", [None, 2], ids=["trained", "middle block frozen"])
def test_layer_decay_timm_numbers_only_the_blocks_that_hold_parameters(frozen: int | None) -> None:
    """timm's ``group_with_matcher`` (timm/models/_manipulate.py) numbers the layers consecutively over the
    ordinals its matcher gives the names of ``named_parameters()``: an activation, which has none, takes no layer
    (``blocks.0``, ``blocks.2``, ``blocks.4`` are layers 1, 2, 3), and a frozen block, whose parameters are named
    there too, keeps its layer. Was: the activations counted, ``blocks.0`` at ``lr * 0.5 ** 5`` instead of
    ``lr * 0.5 ** 3``."""
    spec = OptimizerSpec(
        AdamW, lr=LR, weight_decay=WD, no_decay="timm", layer_decay=0.5, layer_decay_blocks="blocks",
        layer_decay_rule="timm", implementation="forloop",
    )  # fmt: skip
    module, reference = helpers.declared(spec, ActivatedVit)(frozen), TimmActivatedVit(frozen)
    ours_lrs, timm_lrs = LrsByName(), LrsByName()
    fit(module, data=images(), max_epochs=1, callbacks=[ours_lrs])
    fit(reference, data=images(), max_epochs=1, callbacks=[timm_lrs])
    assert ours_lrs.history == [pytest.approx(lrs, rel=1e-12) for lrs in timm_lrs.history]
    first = timm_lrs.history[0]
    assert first["blocks.0.weight"] == pytest.approx(LR * 0.5**3) and first["head.weight"] == LR
    assert first["norm.weight"] == first["blocks.4.weight"] == pytest.approx(LR * 0.5)  # with the last block
    assert_same_weights(module, reference)


def test_layer_decay_rules_differ_on_the_final_norm_only() -> None:
    def scales(rule: str) -> dict[str, float]:
        spec = OptimizerSpec(
            SGD, lr=LR, layer_decay=DECAY, layer_decay_blocks="blocks", layer_decay_rule=rule
        )
        return {name: lr / LR for name, (lr, _) in ours(declared(spec, TimmVit)).items()}

    beit, timm = scales("beit"), scales("timm")
    differ = {name for name in beit if beit[name] != pytest.approx(timm[name])}
    assert differ == {"norm.weight", "norm.bias", "norm_pre.weight", "norm_pre.bias"}
    assert beit["norm.weight"] == 1.0 and timm["norm.weight"] == DECAY


def test_layer_decay_group_names() -> None:
    spec = OptimizerSpec(
        AdamW, lr=LR, weight_decay=WD, no_decay="timm", layer_decay=DECAY, layer_decay_blocks="blocks",
        layer_decay_rule="timm",
    )  # fmt: skip
    module = declared(spec, TimmVit)
    ((_, groups),) = helpers.planned(module)
    assert [g.name for g in groups] == [  # as named_parameters() first meets each, timm's order
        "layer_0/no_decay",  # cls_token, pos_embed (no_weight_decay()), patch_embed.proj.bias
        "layer_0",  # patch_embed.proj.weight
        "layer_3/no_decay",  # with blocks.2: norm_pre (registered before the blocks) and norm
        "layer_1/no_decay",
        "layer_1",
        "layer_2/no_decay",
        "layer_2",
        "layer_3",
        "layer_4/no_decay",  # fc_norm, head.bias
        "layer_4",  # head.weight
    ]


# ---- several stacks: EVA-CLIP's two towers ----------------------------------------------------------


def eva_get_num_layer_for_transformer(param_name: str, num_max_layer: int) -> int:
    """EVA-CLIP/rei/training/optim.py ``get_num_layer_for_transformer``, transcribed."""
    layer_0 = {
        "patch_embed",
        "pos_embed",
        "cls_token",
        "mask_token",
        "conv1",
        "positional_embedding",
        "token_embedding",
        "transformer.embeddings.word_embeddings",
        "transformer.embeddings.position_embeddings",
        "transformer.embeddings.token_type_embeddings",
    }
    if any(layer in param_name for layer in layer_0):
        return 0
    match_block = re.compile(r"blocks\.([0-9]+)\.").search(param_name)
    match_layer = re.compile(r"layer\.([0-9]+)\.").search(param_name)
    if match_block is not None:
        return int(match_block.group(1)) + 1
    if match_layer is not None:
        return int(match_layer.group(1)) + 1
    return num_max_layer - 1


def eva_get_all_parameters(model: ClipLike, ld: float) -> list[dict[str, Any]]:
    """EVA-CLIP's ``get_all_parameters``: ``get_assigner``, then ``get_parameters`` for ``visual``, ``text`` and
    ``other``, transcribed: each tower's groups in a dict keyed ``<tower>_layer_<id>_<decay>`` (``other``:
    ``<decay>``) as its ``named_parameters()`` meet them, the towers one after the other.

    Each tower's scales are ``ld ** (num_layers + 1 - i)`` over its own ``num_layers``; ``other`` gets 1. A
    group's ``lr`` is ``lr * lr_scale`` (EVA-CLIP's scheduler multiplies), with one lr and weight decay.
    """
    parameters: list[dict[str, Any]] = []
    for tower in ("visual", "text", "other"):
        if tower == "other":
            filtered = [
                (n, p) for n, p in model.named_parameters() if "visual." not in n and "text." not in n
            ]
            skip = list(getattr(model, "no_weight_decay", lambda: set())())
            values = None
        else:
            sub = getattr(model, tower)
            filtered = [(n, p) for n, p in model.named_parameters() if f"{tower}." in n]
            skip = [f"{tower}." + n for n in getattr(sub, "no_weight_decay", lambda: set())()]
            num_layers = len(sub.blocks)  # the towers' get_num_layers()
            values = [ld ** (num_layers + 1 - i) for i in range(num_layers + 2)]
        groups: dict[str, dict[str, Any]] = {}
        for name, param in filtered:
            if not param.requires_grad:
                continue
            if param.ndim <= 1 or name.endswith(".bias") or name in skip:
                group_name, this_weight_decay = "no_decay", 0.0
            else:
                group_name, this_weight_decay = "decay", WD
            scale = 1.0
            if values is not None:
                layer_id = eva_get_num_layer_for_transformer(name, len(values))
                group_name, scale = f"{tower}_layer_{layer_id}_{group_name}", values[layer_id]
            group = groups.setdefault(
                group_name, {"weight_decay": this_weight_decay, "params": [], "lr": LR * scale}
            )
            group["params"].append(param)
        parameters.extend(groups.values())
    return parameters


def test_two_towers_are_each_scaled_over_their_own_depth_as_eva_clip() -> None:
    spec = OptimizerSpec(
        AdamW,
        lr=LR,
        weight_decay=WD,
        no_decay="timm",
        layer_decay=DECAY,
        layer_decay_blocks=("visual.blocks", "text.blocks"),
    )
    module = declared(spec, ClipLike)
    reference = eva_get_all_parameters(module, DECAY)
    expected = settings_of(module, reference)
    assert ours(module) == approx(expected)
    assert expected["visual.cls_token"][0] == pytest.approx(LR * DECAY**3)  # 2 visual blocks
    assert expected["text.token_embedding.weight"][0] == pytest.approx(LR * DECAY**4)  # 3 text blocks
    # EVA-CLIP's order: tower by tower, each as its named_parameters() first meet the groups (was by layer)
    assert names_by_group(module, built_groups(module)) == names_by_group(module, reference)
    ((_, groups),) = helpers.planned(module)
    assert [g.name for g in groups][:3] == [
        "visual/layer_0/no_decay",
        "visual/layer_0",
        "visual/layer_1/no_decay",
    ]
    assert groups[-1].name == "other/no_decay"  # logit_scale


class TrainedClip(ClipLike):
    """``ClipLike`` trained on 3x4x4 images and 6 tokens made of the label: the visual tower as ``TrainedVit``, the
    text tower's blocks likewise, both towers' logits added and scaled by ``logit_scale``."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        super().__init__()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        images, y = batch
        visual, text = self.visual, self.text
        h = visual.patch_embed.proj(images).flatten(2).transpose(1, 2)
        h = torch.cat([visual.cls_token.expand(len(h), -1, -1), h], dim=1) + visual.pos_embed
        for block in visual.blocks:
            h = h + block.attn.proj(block.attn.qkv(block.norm1(h))[..., :WIDTH])
            h = h + block.mlp.fc2(nn.functional.gelu(block.mlp.fc1(block.norm2(h))))
        image_logits = visual.head(visual.norm(h)[:, 0])
        t = text.token_embedding((y[:, None] + torch.arange(6)) % 10) + text.positional_embedding
        for layer in text.blocks:
            t = t + layer.self_attn.proj(layer.self_attn.qkv(layer.layer_norm1(t))[..., :WIDTH])
            t = t + layer.mlp.fc2(nn.functional.gelu(layer.mlp.fc1(layer.layer_norm2(t))))
        text_logits = text.text_projection(text.ln_final(t)[:, -1])
        return nn.functional.cross_entropy((image_logits + text_logits) * self.logit_scale, y)


class HandWrittenEvaClip(TrainedClip):
    """EVA-CLIP's ``create_optimizer``: AdamW on ``get_all_parameters``' groups, each at ``lr * lr_scale``."""

    def configure_optimizers(self) -> Any:
        return AdamW(eva_get_all_parameters(self, DECAY), lr=LR, foreach=False)


def test_two_towers_clipped_train_as_eva_clips_groups() -> None:
    # clip_grad_norm_ sums the norms in the optimizer's order: with the groups by layer (decayed half first) the
    # clipped weights drifted from EVA-CLIP's by rounding, the same lrs and decays in another group order
    spec = OptimizerSpec(
        AdamW, lr=LR, weight_decay=WD, no_decay="timm", layer_decay=DECAY,
        layer_decay_blocks=("visual.blocks", "text.blocks"), implementation="forloop",
    )  # fmt: skip
    module, reference = declared(spec, TrainedClip), HandWrittenEvaClip()
    fit(module, data=images(), gradient_clip_val=0.05)
    fit(reference, data=images(), gradient_clip_val=0.05)
    assert names_by_group(module, module.trainer.optimizers[0].param_groups) == names_by_group(
        reference, reference.trainer.optimizers[0].param_groups
    )
    assert_same_weights(module, reference)


# ---- scales are relative to each group's own base lr ------------------------------------------------


@helpers.needs_muon
def test_layer_decay_scales_muon_with_adamw_groups_from_their_own_lr() -> None:
    muon_lr, adamw_lr = 0.02, 3e-4
    spec = OptimizerSpec(
        MuonWithAdamW,
        lr=muon_lr,
        adamw_lr=adamw_lr,
        groups=[ParamGroup(lambda n, p: p.ndim != 2 or n.startswith(("embed", "head")), use_muon=False, name="adamw")],
        layer_decay=0.5,
        layer_decay_blocks="blocks",
    )  # fmt: skip
    module = declared(spec, VitLike)
    fit(module, max_steps=1)
    optimizer = module.trainer.optimizers[0]
    got = {(g["name"], g["use_muon"]): g["lr"] for g in optimizer.param_groups}
    # VitLike: embed (depth 0), blocks.0-2 (depths 1-3), norm and head (depth 4); scale 0.5 ** (4 - depth)
    assert got == pytest.approx(
        {
            ("adamw/layer_0", False): adamw_lr * 0.5**4,
            **{(f"adamw/layer_{d}", False): adamw_lr * 0.5 ** (4 - d) for d in (1, 2, 3)},  # norms, biases
            ("adamw/layer_4", False): adamw_lr,
            **{(f"rest/layer_{d}", True): muon_lr * 0.5 ** (4 - d) for d in (1, 2, 3)},  # block matrices
        }
    )


def test_lr_mult_composes_with_layer_decay() -> None:
    spec = OptimizerSpec(
        SGD,
        lr=0.1,
        layer_decay=0.5,
        layer_decay_blocks="blocks",
        groups=[ParamGroup("blocks.0", lr_mult=3.0, name="first")],
    )
    settings = ours(declared(spec, VitLike))
    assert settings["blocks.0.fc.weight"][0] == pytest.approx(0.1 * 3.0 * 0.5**3)
    assert settings["blocks.1.fc.weight"][0] == pytest.approx(0.1 * 0.5**2)


# ---- lr_mult / decay_mult: mmengine's paramwise_cfg -------------------------------------------------


class Detector(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 3))
        self.neck = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)


def mmengine_settings(
    module: nn.Module, custom_keys: dict[str, dict[str, float]], **paramwise: float
) -> Settings:
    """mmengine 0.10.7 ``DefaultOptimWrapperConstructor`` with ``paramwise_cfg=dict(custom_keys=..., **paramwise)``."""
    DefaultOptimWrapperConstructor = pytest.importorskip("mmengine.optim").DefaultOptimWrapperConstructor

    constructor = DefaultOptimWrapperConstructor(
        dict(type="OptimWrapper", optimizer=dict(type="AdamW", lr=LR, weight_decay=WD)),
        paramwise_cfg=dict(custom_keys=custom_keys, **paramwise),
    )
    return settings_of(module, constructor(module).optimizer.param_groups)


def test_lr_mult_and_decay_mult_equal_mmengines_custom_keys() -> None:
    # mmengine takes the longest matching key first: ``backbone.1`` before ``backbone``; ours the first group
    custom_keys = {
        "backbone": dict(lr_mult=0.1, decay_mult=0.0),
        "backbone.1": dict(lr_mult=0.5),
        "head.bias": dict(lr_mult=2.0, decay_mult=0.5),
    }
    spec = OptimizerSpec(
        AdamW,
        lr=LR,
        weight_decay=WD,
        groups=[
            ParamGroup("backbone.1", lr_mult=0.5),
            ParamGroup("backbone", lr_mult=0.1, decay_mult=0.0),
            ParamGroup("head.bias", lr_mult=2.0, decay_mult=0.5),
        ],
    )
    module = declared(spec, Detector)
    expected = mmengine_settings(module, custom_keys)
    assert ours(module) == approx(expected)
    assert len(set(expected.values())) == 4  # backbone, backbone.1, head.bias and the rest differ


class Attended(L.LightningModule):
    """A bias and norms that mmengine's ``bias_decay_mult``/``norm_decay_mult`` and ``no_decay``'s kinds define
    apart: ``in_proj_bias`` (not named ``bias``) and an ``RMSNorm`` (not one of mmengine's norm classes)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)
        self.attn = nn.MultiheadAttention(4, 2)
        self.norm = nn.LayerNorm(4)
        self.rms = nn.RMSNorm(4)


def _guide_table(heading: str) -> dict[str, tuple[float, float]]:
    """The rows of the table under ``heading`` in docs/guides/groups.md: each parameter named in a row's first
    cell with the row's two numbers (a bold one marks a difference)."""
    lines = (Path(__file__).parents[2] / "docs" / "guides" / "groups.md").read_text().splitlines()
    start = lines.index(heading) + 2
    rows: dict[str, tuple[float, float]] = {}
    for line in itertools.takewhile(lambda line: line.startswith("|"), lines[start:]):
        first, *values = [cell.strip().strip("*") for cell in line.strip("|").split("|")]
        for name in re.findall(r"`([\w.]+\.[\w.]+)`", first):
            rows[name] = (float(values[0]), float(values[1]))
    return rows


def test_the_groups_guides_table_is_mmengines_bias_and_norm_decay_against_no_decay() -> None:
    """docs/guides/groups.md said that ``lr_mult``/``decay_mult`` are mmengine's ``paramwise_cfg`` without saying
    that its ``bias_decay_mult``/``norm_decay_mult`` are not ported; its table of the closest declaration,
    ``no_decay=("bias", "norm")``, is each parameter's weight decay in mmengine's optimizer and in ours."""
    module = declared(OptimizerSpec(AdamW, lr=LR, weight_decay=WD, no_decay=("bias", "norm")), Attended)
    table = _guide_table('| parameter | mmengine\'s weight decay | `no_decay=("bias", "norm")` |')
    theirs = mmengine_settings(module, {}, norm_decay_mult=0.0, bias_decay_mult=0.0)
    assert sorted(table) == sorted(theirs)
    assert {name: theirs[name][1] for name in table} == {name: table[name][0] for name in table}
    assert {name: decay for name, (_, decay) in ours(module).items()} == {
        name: table[name][1] for name in table
    }


def test_the_groups_guides_custom_key_and_bias_lr_mult_differences_are_mmengines() -> None:
    """What the guide says besides its table: a ``custom_keys`` match skips mmengine's bias and norm rules (its
    bias keeps the decay beside ``bias_decay_mult=0``), where ``no_decay`` splits the declared group; and
    ``bias_lr_mult`` leaves a norm layer's bias at the base lr."""
    spec = OptimizerSpec(
        AdamW, lr=LR, weight_decay=WD, no_decay=("bias",), groups=[ParamGroup("attn.out_proj", lr_mult=0.1)]
    )
    module = declared(spec, Attended)
    theirs = mmengine_settings(
        module, {"attn.out_proj": dict(lr_mult=0.1)}, bias_decay_mult=0.0, bias_lr_mult=2.0
    )
    assert theirs["attn.out_proj.bias"] == pytest.approx((LR * 0.1, WD))
    assert ours(module)["attn.out_proj.bias"] == pytest.approx((LR * 0.1, 0.0))
    assert (theirs["norm.bias"][0], theirs["proj.bias"][0]) == pytest.approx((LR, LR * 2.0))


@helpers.needs_muon
def test_decay_mult_scales_muon_with_adamws_own_weight_decay() -> None:
    spec = OptimizerSpec(
        MuonWithAdamW,
        adamw_weight_decay=0.2,
        groups=[
            ParamGroup("head", use_muon=False, decay_mult=0.5, lr_mult=0.1),
            ParamGroup("blocks.*.fc.weight", use_muon=True),
        ],
    )
    settings = ours(declared(spec, VitLike))
    assert settings["head.weight"] == pytest.approx((1e-3 * 0.1, 0.2 * 0.5))


DECAY_MULT_OF_ZERO = (
    "Declared.optimizer.groups[0]: Expected a weight decay for `decay_mult=2.0` to scale but got {given} for this "
    "group: `decay_mult` multiplies it, so the group trains without weight decay whatever the factor and "
    "`decay_mult` changes nothing. Declare the weight decay it scales (`{argument}=...`, e.g. `{argument}=5e-4`), "
    "or remove `decay_mult`."
)


@pytest.mark.parametrize(
    ("optimizer", "given", "argument"),
    [
        (("sgd", {}), "`weight_decay=0.0` (`SGD`'s default)", "weight_decay"),
        (("adamw", {"weight_decay": 0.0}), "`weight_decay=0.0` (declared)", "weight_decay"),
    ],
    ids=["sgd-default", "adamw-declared-zero"],
)
def test_decay_mult_on_a_group_without_weight_decay_is_refused_at_class_definition(
    optimizer: tuple[str, dict[str, Any]], given: str, argument: str
) -> None:
    """``decay_mult=2.0`` on SGD (weight decay 0 by default) or ``AdamW(weight_decay=0.0)`` trained the group at
    weight decay 0, without a word (found by the hunt for silent declarations)."""
    spec = OptimizerSpec(
        optimizer[0], lr=0.1, groups=[ParamGroup("model_gen.layer1", decay_mult=2.0)], **optimizer[1]
    )
    message = DECAY_MULT_OF_ZERO.format(given=given, argument=argument)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        helpers.declared(spec)


@helpers.needs_muon
def test_decay_mult_on_an_adamw_group_of_muon_with_adamw_without_its_weight_decay_is_refused() -> None:
    spec = OptimizerSpec(
        MuonWithAdamW,
        weight_decay=0.1,
        adamw_weight_decay=0.0,
        groups=[
            ParamGroup("head", use_muon=False, decay_mult=2.0),
            ParamGroup("blocks.*.fc.weight", use_muon=True),
        ],
    )
    with pytest.raises(
        ValueError, match=re.escape("but got `adamw_weight_decay=0.0` (declared) for this group")
    ):
        declared(spec, VitLike)


class _WeightDecays(L.Callback):
    def __init__(self) -> None:
        self.history: list[list[float]] = []

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self.history.append([float(g["weight_decay"]) for g in trainer.optimizers[0].param_groups])


class SweptDecayMult(helpers.Classifier):
    optimizer = OptimizerSpec(
        SGD,
        lr=0.1,
        weight_decay=HParam("weight_decay"),
        groups=[ParamGroup("model_gen.layer1", decay_mult=2.0)],
    )

    def __init__(self, weight_decay: float) -> None:
        super().__init__()
        self.save_hyperparameters()


class HandWrittenDecayMult(helpers.Classifier):
    def __init__(self, weight_decay: float) -> None:
        super().__init__()
        self.weight_decay = weight_decay

    def configure_optimizers(self) -> Any:
        layer1, layer2 = self.model_gen.layer1, self.model_gen.layer2
        groups = [
            {"params": list(layer1.parameters()), "weight_decay": self.weight_decay * 2.0},
            {"params": list(layer2.parameters())},
        ]
        return SGD(groups, lr=0.1, weight_decay=self.weight_decay)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_decay_mult_over_a_weight_decay_read_from_an_hparam_is_accepted_at_0(weight_decay: float) -> None:
    """The 0 point of a sweep over the weight decay trains without it, as the hand-written module does."""
    module = type("Swept", (ConfigurableOptimizersMixin, SweptDecayMult), {})
    ours_decays, theirs_decays = _WeightDecays(), _WeightDecays()
    mixin, reference = module(weight_decay), HandWrittenDecayMult(weight_decay)
    fit(mixin, max_epochs=1, limit_train_batches=3, callbacks=[ours_decays])
    fit(reference, max_epochs=1, limit_train_batches=3, callbacks=[theirs_decays])
    assert ours_decays.history == theirs_decays.history == [[weight_decay * 2.0, weight_decay]] * 3
    assert_same_weights(mixin, reference)


def test_decay_mult_scaling_a_weight_decay_schedules_own_arguments_is_accepted_at_0() -> None:
    """A ``CyclicLR`` driving the weight decay sets it from its own bounds, times each group's ``decay_mult``
    (tests/building/test_schedules.py): from a weight decay of 0 the factor still halves the group's cycle."""
    cyclic = SchedulerSpec(
        "cyclic", param="weight_decay", base_lr=0.0, max_lr=0.04, step_size_up=2, cycle_momentum=False
    )
    spec = OptimizerSpec(
        SGD, lr=0.1, groups=[ParamGroup("model_gen.layer1", decay_mult=0.5)], scheduler=cyclic
    )
    decays = _WeightDecays()
    fit(helpers.declared(spec)(), max_epochs=1, limit_train_batches=3, callbacks=[decays])
    assert decays.history == [[0.0, 0.0], [0.01, 0.02], [0.02, 0.04]]


class HandWrittenNoDecay(helpers.Classifier):
    def configure_optimizers(self) -> Any:
        layer1, layer2 = self.model_gen.layer1, self.model_gen.layer2
        groups = [
            {"params": list(layer1.parameters()), "weight_decay": 0.0},
            {"params": list(layer2.parameters())},
        ]
        return SGD(groups, lr=0.1)


def test_decay_mult_of_zero_over_a_weight_decay_of_zero_trains_as_the_hand_written_groups() -> None:
    # was refused: "Expected a weight decay for `decay_mult=0.0` to scale", though 0.0 asks for no decay
    spec = OptimizerSpec(SGD, lr=0.1, groups=[ParamGroup("model_gen.layer1", decay_mult=0.0)])
    ours_decays, theirs_decays = _WeightDecays(), _WeightDecays()
    mixin, reference = helpers.declared(spec)(), HandWrittenNoDecay()
    fit(mixin, max_epochs=1, limit_train_batches=3, callbacks=[ours_decays])
    fit(reference, max_epochs=1, limit_train_batches=3, callbacks=[theirs_decays])
    assert ours_decays.history == theirs_decays.history == [[0.0, 0.0]] * 3
    assert_same_weights(mixin, reference)


def test_decay_mult_beside_a_weight_decay_schedule_of_its_own_values_is_refused_saying_the_schedule_sets_it() -> (
    None
):
    """The cosine raises the weight decay from 0 to ``eta_min=0.01`` in every group: ``decay_mult`` scales the 0,
    not ``eta_min``, so the group trains as without it (not "without weight decay", as the message said)."""
    cosine = SchedulerSpec("cosine", T_max=4, eta_min=0.01, param="weight_decay", interval="step")
    spec = OptimizerSpec(
        SGD, lr=0.1, groups=[ParamGroup("model_gen.layer1", decay_mult=2.0)], scheduler=cosine
    )
    message = (
        "Declared.optimizer.groups[0]: Expected a weight decay for `decay_mult=2.0` to scale but got "
        "`weight_decay=0.0` (`SGD`'s default) for this group: `decay_mult` multiplies it, and the schedule of "
        "`weight_decay`, `CosineAnnealingLR` (Declared.optimizer.scheduler), sets the group's weight decay from its "
        "own arguments, which `decay_mult` does not scale, so `decay_mult` changes nothing. Declare the weight decay "
        "it scales (`weight_decay=...`, e.g. `weight_decay=5e-4`), or remove `decay_mult`."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        helpers.declared(spec)
    decays = _WeightDecays()  # what it trained as: the run without decay_mult, which the message says
    without = OptimizerSpec(SGD, lr=0.1, groups=[ParamGroup("model_gen.layer1")], scheduler=cosine)
    fit(helpers.declared(without)(), max_epochs=1, limit_train_batches=3, callbacks=[decays])
    assert decays.history[1] == pytest.approx([0.01 * (1 - math.cos(math.pi / 4)) / 2] * 2)


def test_decay_mult_of_zero_beside_a_weight_decay_schedule_of_its_own_values_is_refused() -> None:
    """``decay_mult=0.0`` asks its group for no weight decay; over a decay of 0 beside a cosine to ``eta_min=0.01``
    the group's decay rose to 0.01 as every group's (the factor scales the 0, not ``eta_min``), without a word.
    Refused as ``decay_mult=2.0`` is there; declaring the decay it scales keeps the group at 0."""
    cosine = SchedulerSpec("cosine", T_max=4, eta_min=0.01, param="weight_decay", interval="step")
    spec = OptimizerSpec(
        SGD, lr=0.1, groups=[ParamGroup("model_gen.layer1", decay_mult=0.0)], scheduler=cosine
    )
    with pytest.raises(
        ValueError, match=r"^Declared\.optimizer\.groups\[0\]: Expected a weight decay for `decay_mult=0\.0`"
    ):
        helpers.declared(spec)
    decays = _WeightDecays()
    declared_decay = OptimizerSpec(
        SGD,
        lr=0.1,
        weight_decay=5e-4,
        groups=[ParamGroup("model_gen.layer1", decay_mult=0.0)],
        scheduler=cosine,
    )
    fit(helpers.declared(declared_decay)(), max_epochs=1, limit_train_batches=3, callbacks=[decays])
    assert [step[0] for step in decays.history] == [0.0, 0.0, 0.0]


# ---- MAE fine-tuning: layer decay under MAE's own schedule -------------------------------------------

MAE_LR, MAE_MIN_LR, MAE_EPOCHS, MAE_WARMUP_EPOCHS = 1e-3, 1e-4, 4, 1


def mae_get_layer_id_for_vit(name: str, num_layers: int) -> int:
    """MAE util/lr_decay.py ``get_layer_id_for_vit``, transcribed."""
    if name in ["cls_token", "pos_embed"] or name.startswith("patch_embed"):
        return 0
    elif name.startswith("blocks"):
        return int(name.split(".")[1]) + 1
    else:
        return num_layers


def mae_param_groups_lrd(
    model: Any, weight_decay: float, no_weight_decay_list: Collection[str], layer_decay: float
) -> list[dict[str, Any]]:
    """MAE util/lr_decay.py ``param_groups_lrd`` (without its list of names), transcribed."""
    param_groups: dict[str, dict[str, Any]] = {}
    num_layers = len(model.blocks) + 1
    layer_scales = list(layer_decay ** (num_layers - i) for i in range(num_layers + 1))
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim == 1 or n in no_weight_decay_list:
            g_decay, this_decay = "no_decay", 0.0
        else:
            g_decay, this_decay = "decay", weight_decay
        layer_id = mae_get_layer_id_for_vit(n, num_layers)
        group_name = f"layer_{layer_id}_{g_decay}"
        if group_name not in param_groups:
            param_groups[group_name] = {
                "lr_scale": layer_scales[layer_id],
                "weight_decay": this_decay,
                "params": [],
            }
        param_groups[group_name]["params"].append(p)
    return list(param_groups.values())


def mae_adjust_learning_rate(optimizer: torch.optim.Optimizer, epoch: float) -> float:
    """MAE util/lr_sched.py ``adjust_learning_rate``, transcribed (``args`` as the constants above)."""
    if epoch < MAE_WARMUP_EPOCHS:
        lr = MAE_LR * epoch / MAE_WARMUP_EPOCHS
    else:
        lr = MAE_MIN_LR + (MAE_LR - MAE_MIN_LR) * 0.5 * (
            1.0 + math.cos(math.pi * (epoch - MAE_WARMUP_EPOCHS) / (MAE_EPOCHS - MAE_WARMUP_EPOCHS))
        )
    for param_group in optimizer.param_groups:
        if "lr_scale" in param_group:
            param_group["lr"] = lr * param_group["lr_scale"]
        else:
            param_group["lr"] = lr
    return lr


class LinearPatchEmbed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(2, WIDTH)


class BeitVit(L.LightningModule):
    """BEiT's fine-tuned ``VisionTransformer`` (beit/modeling_finetune.py, ``use_mean_pooling``) in miniature: the
    tokens, ``patch_embed``, the blocks, ``fc_norm`` on the mean of the patch tokens, then ``head``."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.patch_embed = LinearPatchEmbed()
        self.cls_token = nn.Parameter(torch.randn(1, 1, WIDTH) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, 5, WIDTH) * 0.02)
        self.blocks = nn.ModuleList(VitBlock() for _ in range(3))
        self.fc_norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, 4)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token"}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.patch_embed.proj(x.view(-1, 4, 2))  # 8 features as 4 patches of 2
        h = torch.cat([self.cls_token.expand(len(x), -1, -1), h], 1) + self.pos_embed
        for block in self.blocks:
            h = h + block.attn.proj(block.attn.qkv(block.norm1(h))[..., :WIDTH])
            h = h + block.mlp.fc2(nn.functional.gelu(block.mlp.fc1(block.norm2(h))))
        return self.head(self.fc_norm(h[:, 1:].mean(1)))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)


class MaeVit(BeitVit):
    """MAE's fine-tuned ``models_vit.VisionTransformer`` (timm's, ``global_pool=True``) in miniature: timm's
    ``__init__`` registers ``head``, then MAE's adds ``fc_norm`` (and deletes ``norm``), so ``named_parameters()``
    meets ``head`` before ``fc_norm``, unlike BEiT's."""

    def __init__(self) -> None:
        super().__init__()
        fc_norm = self.fc_norm
        del self.fc_norm
        self.fc_norm = fc_norm

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token", "dist_token"}


def beit_get_num_layer_for_vit(var_name: str, num_max_layer: int) -> int:
    """microsoft/unilm beit/optim_factory.py ``get_num_layer_for_vit``, transcribed."""
    if var_name in ("cls_token", "mask_token", "pos_embed") or var_name.startswith("patch_embed"):
        return 0
    elif var_name.startswith("rel_pos_bias"):
        return num_max_layer - 1
    elif var_name.startswith("blocks"):
        return int(var_name.split(".")[1]) + 1
    else:
        return num_max_layer - 1


def beit_get_parameter_groups(
    model: Any, weight_decay: float, skip_list: Collection[str], layer_decay: float
) -> list[dict[str, Any]]:
    """microsoft/unilm beit/optim_factory.py ``get_parameter_groups`` with run_class_finetuning.py's
    ``LayerDecayValueAssigner(layer_decay ** (num_layers + 1 - i))``, transcribed: a dict of groups keyed
    ``layer_<id>_<decay>`` as ``named_parameters()`` meets them."""
    num_layers = len(model.blocks)  # get_num_layers()
    values = [layer_decay ** (num_layers + 1 - i) for i in range(num_layers + 2)]
    parameter_group_vars: dict[str, dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if len(param.shape) == 1 or name.endswith(".bias") or name in skip_list:
            group_name, this_weight_decay = "no_decay", 0.0
        else:
            group_name, this_weight_decay = "decay", weight_decay
        layer_id = beit_get_num_layer_for_vit(name, len(values))
        group_name = f"layer_{layer_id}_{group_name}"
        if group_name not in parameter_group_vars:
            scale = values[layer_id]
            parameter_group_vars[group_name] = {
                "weight_decay": this_weight_decay,
                "params": [],
                "lr_scale": scale,
            }
        parameter_group_vars[group_name]["params"].append(param)
    return list(parameter_group_vars.values())


def beit_create_optimizer(model: Any) -> AdamW:
    """BEiT's run_class_finetuning.py: ``create_optimizer`` on ``get_parameter_groups``' groups (the optimizer's own
    ``weight_decay`` 0), each at the lr BEiT's engine_for_finetuning.py sets, ``lr * lr_scale``."""
    groups = beit_get_parameter_groups(model, WD, model.no_weight_decay(), DECAY)
    return AdamW([{**g, "lr": LR * g["lr_scale"]} for g in groups], lr=LR, weight_decay=0.0, foreach=False)


@pytest.mark.parametrize("clip", [None, 0.05])
@pytest.mark.parametrize("model", [BeitVit, MaeVit])
def test_the_beit_recipe_gives_beits_groups_in_beits_order(model: type[BeitVit], clip: float | None) -> None:
    # BEiT's get_parameter_groups fills a dict along named_parameters(): cls_token's no-decay group first, and
    # on MAE's ViT (head registered before fc_norm) the last layer's decayed half first (was no-decay half first,
    # as on BEiT's). Clipped (BEiT's --clip_grad), the weights are the same bits only in that order:
    # clip_grad_norm_ sums the norms in the optimizer's order
    spec = OptimizerSpec(
        AdamW, lr=LR, weight_decay=WD, no_decay="timm", layer_decay=DECAY, layer_decay_blocks="blocks",
        implementation="forloop",
    )  # fmt: skip
    module = declared(spec, model)
    reference = type("HandWrittenBeit", (model,), {"configure_optimizers": beit_create_optimizer})()
    groups = reference.configure_optimizers().param_groups
    assert ours(module) == approx(settings_of(reference, groups))
    assert names_by_group(module, built_groups(module)) == names_by_group(reference, groups)
    assert [names[0] for names in names_by_group(reference, groups)][:2] == [
        "cls_token",
        "patch_embed.proj.weight",
    ]
    fit(module, gradient_clip_val=clip)
    fit(reference, gradient_clip_val=clip)
    assert_same_weights(module, reference)


class HandWrittenMae(MaeVit):
    """MAE's main_finetune.py: AdamW on ``param_groups_lrd``; engine_finetune.py sets every group's lr before
    each step with ``adjust_learning_rate(optimizer, data_iter_step / len(data_loader) + epoch, args)``."""

    def configure_optimizers(self) -> Any:
        groups = mae_param_groups_lrd(self, WD, self.no_weight_decay(), DECAY)
        return AdamW(groups, lr=MAE_LR, foreach=False)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        epoch = batch_idx / self.trainer.num_training_batches + self.current_epoch
        mae_adjust_learning_rate(self.trainer.optimizers[0], epoch)


class SettingsRecorder(L.Callback):
    """Each parameter's ``(lr, weight_decay)`` before every optimizer step."""

    def __init__(self) -> None:
        self.steps: list[Settings] = []

    def on_before_optimizer_step(self, trainer: L.Trainer, module: Any, optimizer: Any) -> None:
        self.steps.append(settings_of(module, optimizer.param_groups))


def trained_settings(module: L.LightningModule, clip: float | None = None) -> list[Settings]:
    recorder = SettingsRecorder()
    fit(module, max_epochs=MAE_EPOCHS, callbacks=[recorder], gradient_clip_val=clip)
    return recorder.steps


#: the MAE recipe of the README and docs/guides/groups.md: MAE's floor is ``min_lr * lr_scale``, a ratio of
#: each group's lr, which ``min_lr_rate`` is (torch's ``eta_min`` would be one floor for every group)
MAE = OptimizerSpec(
    "adamw",
    lr=MAE_LR,
    weight_decay=WD,
    no_decay="timm",
    layer_decay=DECAY,
    layer_decay_blocks="blocks",
    scheduler=SchedulerSpec(
        "transformers/cosine_with_min_lr",
        num_warmup_steps=MAE_WARMUP_EPOCHS / MAE_EPOCHS,
        min_lr_rate=MAE_MIN_LR / MAE_LR,
    ),
    implementation="forloop",
)


@pytest.mark.parametrize("clip", [None, 0.05])
def test_the_mae_recipe_trains_as_maes_adjust_learning_rate_with_a_min_lr(clip: float | None) -> None:
    ours, theirs = declared(MAE, MaeVit), HandWrittenMae()
    got, expected = trained_settings(ours, clip), trained_settings(theirs, clip)
    assert len(got) == len(expected) == MAE_EPOCHS * 4  # loader(): 4 batches an epoch
    assert got == [approx(step) for step in expected]
    # param_groups_lrd's dict, as named_parameters() meets the groups: head before fc_norm, so the last layer's
    # decayed half first. Clipped (MAE's --clip_grad), the weights are the same bits only in that order
    order = names_by_group(ours, ours.trainer.optimizers[0].param_groups)
    assert order == names_by_group(theirs, theirs.trainer.optimizers[0].param_groups)
    assert order[-2:] == [["head.weight"], ["head.bias", "fc_norm.weight", "fc_norm.bias"]]
    helpers.assert_same_weights(ours, theirs)
    # MAE's floor is min_lr times each group's scale: the stem ends below min_lr, where torch's eta_min=min_lr
    # would have held it (the head ends above it, as the run stops one step before the floor)
    assert expected[-1]["cls_token"][0] < MAE_MIN_LR < expected[-1]["head.weight"][0]


class VitL(VitLike):
    def __init__(self) -> None:
        super().__init__(num_blocks=24)


@pytest.mark.parametrize(
    ("scheduler", "last"),
    [
        (SchedulerSpec("cosine", interval="step", eta_min=1e-6), pytest.approx(1e-6, rel=1e-4)),
        (
            SchedulerSpec("transformers/cosine_with_min_lr", min_lr_rate=1e-6 / 1e-3),
            pytest.approx(1e-6 * 0.75**25, rel=2e-2),
        ),
        (  # transformers' min_lr is measured against the optimizer's lr: a ratio too
            SchedulerSpec("transformers/cosine_with_min_lr", min_lr=1e-6),
            pytest.approx(1e-6 * 0.75**25, rel=2e-2),
        ),
    ],
    ids=["eta_min", "min_lr_rate", "min_lr"],
)
def test_an_eta_min_is_one_floor_for_every_group_and_min_lr_rate_scales_with_each(
    scheduler: Any, last: Any
) -> None:
    # docs/guides/groups.md, at MAE's ViT-L settings: the stem's lr 7.5e-7 climbs to eta_min=1e-6, as in a
    # hand-written torch module; with min_lr_rate it ends near 1e-6 * 0.75 ** 25, where MAE ends it
    spec = OptimizerSpec(AdamW, lr=1e-3, layer_decay=0.75, layer_decay_blocks="blocks", scheduler=scheduler)
    stem = preview_schedule(helpers.declared(spec, base=VitL), max_epochs=50, steps_per_epoch=10)[
        "lr-optimizer/layer_0"
    ]
    assert stem[0] == pytest.approx(1e-3 * 0.75**25) == pytest.approx(7.525e-7, rel=1e-4)
    assert stem[-1] == last
    if scheduler.scheduler == "cosine":
        hand_written = helpers.torch_lrs(
            lambda o: CosineAnnealingLR(o, T_max=500, eta_min=1e-6), 500, lr=stem[0]
        )
        assert stem == pytest.approx(hand_written, rel=1e-12)


# ---- mistakes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (AdamW, {"groups": [ParamGroup("head", lr_mult=-1.0)]}, "groups[0]: Expected `lr_mult` to be a finite number >= 0"),
        (
            AdamW,
            {"groups": [ParamGroup("head", lr=0.1, lr_mult=2.0)]},
            "groups[0]: `lr_mult` and `lr` both set this group's `lr`; keep one",
        ),
        (Rprop, {"groups": [ParamGroup("head", decay_mult=0.0)]}, "groups[0]: `decay_mult` scales `weight_decay`, but `Rprop`"),
        (AdamW, {"groups": [ParamGroup("head", lr_mul=2.0)]}, "groups[0]: `lr_mul` is not a per-group option of `AdamW` (did you mean `lr_mult`?)"),
        (
            AdamW,
            {"layer_decay": 0.5, "layer_decay_blocks": "blocks", "layer_decay_rule": "tim"},
            "Expected `layer_decay_rule` to be one of `beit`, `timm` but got 'tim' (did you mean `timm`?)",
        ),
        (AdamW, {"layer_decay_rule": "timm"}, "`layer_decay_rule='timm'` only applies with `layer_decay`"),
        (
            AdamW,
            {"layer_decay": 0.5, "layer_decay_blocks": "blocks", "layer_decay_min_scale": 2},
            "Expected `layer_decay_min_scale` to be a float in [0, 1] but got 2",
        ),
        (
            AdamW,
            {"layer_decay": 0.5, "layer_decay_blocks": ("blocks", "blocks.0")},
            "Expected the `layer_decay_blocks` stacks to be distinct and not nested but got 'blocks' and 'blocks.0'",
        ),
    ],
    ids=["negative-mult", "lr-and-mult", "no-weight-decay", "mult-typo", "rule-typo", "rule-alone", "min-scale", "nested"],
)  # fmt: skip
def test_mistakes_fail_at_class_definition(cls: type, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(
        (TypeError, ValueError),
        match=re.escape(f"Declared.optimizer{'.' if message.startswith('groups') else ': '}{message}"),
    ):
        helpers.declared(OptimizerSpec(cls, lr=LR, **kwargs), base=VitLike)


def test_a_bad_no_weight_decay_is_named() -> None:
    class Bad(TimmVit):
        def no_weight_decay(self) -> Any:
            return "pos_embed"

    module = declared(OptimizerSpec(AdamW, lr=LR, weight_decay=WD, no_decay="timm"), Bad)
    with pytest.raises(
        TypeError, match=re.escape("Expected `Declared.no_weight_decay()` to return a collection")
    ):
        ours(module)


# ---- training scripts ported: transformers' no_trainer examples, torchvision's and ultralytics' loops -----


def regression(n: int = 40, batch_size: int = 4) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    return DataLoader(
        TensorDataset(torch.randn(n, 4, generator=generator), torch.randn(n, 1, generator=generator)),
        batch_size=batch_size,
    )


#: regression()'s batches in an epoch
BATCHES = 10

Options = dict[str, tuple[float, float, float]]


class OptionsRecorder(L.Callback):
    """Each parameter's ``(lr, momentum, weight_decay)`` before every optimizer step (momentum 0.0 for Adam)."""

    def __init__(self) -> None:
        self.steps: list[Options] = []

    def on_before_optimizer_step(self, trainer: L.Trainer, module: Any, optimizer: Any) -> None:
        names = {id(p): name for name, p in module.named_parameters()}
        self.steps.append(
            {
                names[id(p)]: (float(g["lr"]), float(g.get("momentum", 0.0)), float(g["weight_decay"]))
                for g in optimizer.param_groups
                for p in g["params"]
            }
        )


def close(steps: list[Options]) -> list[Any]:
    """``steps`` up to float rounding (torch's chainable schedulers multiply each step's factor in)."""
    return [
        {name: pytest.approx(value, rel=1e-12, abs=0.0) for name, value in step.items()} for step in steps
    ]


def trained_options(module: L.LightningModule, **trainer_kwargs: Any) -> list[Options]:
    recorder = OptionsRecorder()
    fit(module, data=regression(), callbacks=[recorder], **trainer_kwargs)
    return recorder.steps


class Regressor(L.LightningModule):
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)


class Gpt2Names(nn.Module):
    """GPT-2 names its norms ``ln_1``, ``ln_2``, ``ln_f``; BERT names them ``LayerNorm``."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, WIDTH)
        self.ln_1 = nn.LayerNorm(WIDTH)
        self.LayerNorm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.LayerNorm(self.ln_1(self.fc(x))))


class NoTrainerModel(Regressor):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = Gpt2Names()


NO_TRAINER_EPOCHS, NO_TRAINER_ACCUMULATE, NO_TRAINER_WARMUP = 3, 3, 2


class NoTrainerScript(NoTrainerModel):
    """transformers' examples/pytorch/text-classification/run_glue_no_trainer.py: AdamW on two groups split by
    name substring, ``get_scheduler`` over ``num_train_epochs * ceil(len(train_dataloader) / accumulation)``
    steps, stepped after every optimizer step."""

    scheduler_type = "linear"

    def configure_optimizers(self) -> Any:
        from transformers import get_scheduler

        no_decay = ["bias", "LayerNorm.weight"]
        optimizer_grouped_parameters = [
            {
                "params": [p for n, p in self.named_parameters() if not any(nd in n for nd in no_decay)],
                "weight_decay": WD,
            },
            {
                "params": [p for n, p in self.named_parameters() if any(nd in n for nd in no_decay)],
                "weight_decay": 0.0,
            },
        ]
        optimizer = AdamW(optimizer_grouped_parameters, lr=LR, foreach=False)
        num_update_steps_per_epoch = math.ceil(BATCHES / NO_TRAINER_ACCUMULATE)
        max_train_steps = NO_TRAINER_EPOCHS * num_update_steps_per_epoch
        lr_scheduler = get_scheduler(
            name=self.scheduler_type,
            optimizer=optimizer,
            num_warmup_steps=NO_TRAINER_WARMUP,
            num_training_steps=max_train_steps,
        )
        return [optimizer], [{"scheduler": lr_scheduler, "interval": "step"}]


#: the script's ``no_decay`` list, matched as substrings of the parameter names
NO_DECAY = ["bias", "LayerNorm.weight"]


def no_trainer_spec(scheduler_type: str) -> OptimizerSpec:
    """The recipe of docs/guides/recipes.md and groups.md: a callable group, not ``no_decay="transformers"``,
    which spares every ``nn.LayerNorm`` (GPT-2's ``ln_1.weight`` too, which the script decays)."""
    return OptimizerSpec(
        "adamw",
        lr=LR,
        weight_decay=WD,
        groups=[
            ParamGroup(lambda name, p: any(nd in name for nd in NO_DECAY), weight_decay=0.0, name="no_decay")
        ],
        scheduler=SchedulerSpec(f"transformers/{scheduler_type}", num_warmup_steps=NO_TRAINER_WARMUP),
        implementation="forloop",
    )


@pytest.mark.parametrize("scheduler_type", ["linear", "cosine"])
def test_the_no_trainer_recipe_trains_as_run_glue_no_trainer(scheduler_type: str) -> None:
    helpers.transformers_with_torch()
    script = type("Script", (NoTrainerScript,), {"scheduler_type": scheduler_type})()
    ours = declared(no_trainer_spec(scheduler_type), NoTrainerModel)
    run = {"max_epochs": NO_TRAINER_EPOCHS, "accumulate_grad_batches": NO_TRAINER_ACCUMULATE}
    got, expected = trained_options(ours, **run), trained_options(script, **run)
    assert len(expected) == NO_TRAINER_EPOCHS * 4  # 10 batches in windows of 3: the last window is partial
    assert got == expected
    assert_same_weights(ours, script)
    # the substring "LayerNorm.weight" leaves GPT-2's ln_1 decayed; "bias" spares every bias
    assert expected[0]["net.ln_1.weight"][2] == WD and expected[0]["net.LayerNorm.weight"][2] == 0.0
    assert expected[0]["net.ln_1.bias"][2] == 0.0


def torchvision_set_weight_decay(
    model: nn.Module,
    weight_decay: float,
    norm_weight_decay: float | None = None,
    custom_keys_weight_decay: list[tuple[str, float]] | None = None,
) -> list[dict[str, Any]]:
    """torchvision references/classification/utils.py ``set_weight_decay`` (v0.16 to v0.20), transcribed."""
    norm_classes = (
        nn.modules.batchnorm._BatchNorm,
        nn.LayerNorm,
        nn.GroupNorm,
        nn.modules.instancenorm._InstanceNorm,
        nn.LocalResponseNorm,
    )
    params: dict[str, list[nn.Parameter]] = {"other": [], "norm": []}
    params_weight_decay = {"other": weight_decay, "norm": norm_weight_decay}
    custom_keys = []
    if custom_keys_weight_decay is not None:
        for key, weight_decay in custom_keys_weight_decay:
            params[key] = []
            params_weight_decay[key] = weight_decay
            custom_keys.append(key)

    def _add_params(module: nn.Module, prefix: str = "") -> None:
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            is_custom_key = False
            for key in custom_keys:
                target_name = f"{prefix}.{name}" if prefix != "" and "." in key else name
                if key == target_name:
                    params[key].append(p)
                    is_custom_key = True
                    break
            if not is_custom_key:
                if norm_weight_decay is not None and isinstance(module, norm_classes):
                    params["norm"].append(p)
                else:
                    params["other"].append(p)
        for child_name, child_module in module.named_children():
            child_prefix = f"{prefix}.{child_name}" if prefix != "" else child_name
            _add_params(child_module, prefix=child_prefix)

    _add_params(model)
    return [
        {"params": params[k], "weight_decay": params_weight_decay[k]} for k in params if len(params[k]) > 0
    ]


class SwinParts(nn.Module):
    """A Swin/ViT's kinds of parameters: norms, attention (``in_proj_bias``), the tokens train.py names."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, WIDTH)
        self.norm = nn.LayerNorm(WIDTH)
        self.bn = nn.BatchNorm1d(WIDTH)
        self.attn = nn.MultiheadAttention(WIDTH, 2, batch_first=True)
        self.relative_position_bias_table = nn.Parameter(torch.randn(3, 2) * 0.02)
        self.class_token = nn.Parameter(torch.randn(1, WIDTH) * 0.02)
        self.head = nn.Linear(WIDTH, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bn(self.norm(self.fc(x))) + self.class_token + self.relative_position_bias_table.sum()
        h, _ = self.attn(h[:, None], h[:, None], h[:, None])
        return self.head(h[:, 0])


class TorchvisionModel(Regressor):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = SwinParts()


#: train.py's keys for ``--bias-weight-decay`` and ``--transformer-embedding-decay``, each compared with a
#: parameter's own name (``in_proj_bias`` is not ``bias``; ViT's ``pos_embedding`` is not ``position_embedding``)
TV_KEYS = ("bias", "class_token", "position_embedding", "relative_position_bias_table")

#: train.py --norm-weight-decay 0.0 --bias-weight-decay 0.0 --transformer-embedding-decay 0.0 (Swin's recipe)
TV_SWIN: dict[str, Any] = {
    "norm_weight_decay": 0.0,
    "custom_keys_weight_decay": [(key, 0.0) for key in TV_KEYS],
}


def torchvision_groups_spec(tv_kwargs: dict[str, Any], **options: Any) -> OptimizerSpec:
    """The recipe of docs/guides/groups.md for these train.py options."""
    if "custom_keys_weight_decay" not in tv_kwargs:
        return OptimizerSpec("adamw", lr=LR, weight_decay=WD, no_decay=("norm",), **options)
    return OptimizerSpec(
        "adamw",
        lr=LR,
        weight_decay=WD,
        **options,
        no_decay=("norm",),  # not "bias", which takes every name ending in bias (in_proj_bias too)
        groups=[
            ParamGroup(lambda name, p: name.rsplit(".", 1)[-1] in TV_KEYS, weight_decay=0.0, name="keys")
        ],
    )


@pytest.mark.parametrize("tv_kwargs", [{"norm_weight_decay": 0.0}, TV_SWIN], ids=["norm", "swin"])
def test_the_torchvision_recipe_equals_set_weight_decay(tv_kwargs: dict[str, Any]) -> None:
    module = declared(torchvision_groups_spec(tv_kwargs), TorchvisionModel)
    groups = torchvision_set_weight_decay(module, WD, **tv_kwargs)
    assert ours(module) == settings_of(module, [{"lr": LR, **g} for g in groups])
    spared = {name for name, (_, wd) in ours(module).items() if wd == 0.0}
    assert "net.attn.in_proj_bias" not in spared and "net.norm.weight" in spared


TV_EPOCHS, TV_WARMUP_EPOCHS, TV_WARMUP_DECAY, TV_LR_MIN, TV_STEP_SIZE, TV_GAMMA = 9, 3, 0.01, 1e-4, 2, 0.5


class TorchvisionScript(TorchvisionModel):
    """torchvision references/classification/train.py (v0.16 to v0.20) with ``--opt adamw`` and the Swin
    recipe's weight decay options: its main scheduler after a warmup, joined by ``SequentialLR``, stepped
    once per epoch."""

    lr_scheduler, lr_warmup_method = "cosineannealinglr", "linear"

    def configure_optimizers(self) -> Any:
        parameters = torchvision_set_weight_decay(self, WD, **TV_SWIN)
        optimizer = AdamW(parameters, lr=LR, weight_decay=WD, foreach=False)
        if self.lr_scheduler == "steplr":
            main_lr_scheduler: Any = torch.optim.lr_scheduler.StepLR(
                optimizer, step_size=TV_STEP_SIZE, gamma=TV_GAMMA
            )
        elif self.lr_scheduler == "cosineannealinglr":
            main_lr_scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=TV_EPOCHS - TV_WARMUP_EPOCHS, eta_min=TV_LR_MIN
            )
        else:
            main_lr_scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=TV_GAMMA)
        if self.lr_warmup_method == "linear":
            warmup_lr_scheduler: Any = torch.optim.lr_scheduler.LinearLR(
                optimizer, start_factor=TV_WARMUP_DECAY, total_iters=TV_WARMUP_EPOCHS
            )
        else:
            warmup_lr_scheduler = torch.optim.lr_scheduler.ConstantLR(
                optimizer, factor=TV_WARMUP_DECAY, total_iters=TV_WARMUP_EPOCHS
            )
        lr_scheduler = torch.optim.lr_scheduler.SequentialLR(
            optimizer, schedulers=[warmup_lr_scheduler, main_lr_scheduler], milestones=[TV_WARMUP_EPOCHS]
        )
        return [optimizer], [lr_scheduler]


def torchvision_schedule(lr_scheduler: str, lr_warmup_method: str) -> list[SchedulerSpec]:
    """The recipe of docs/guides/recipes.md for ``--lr-scheduler`` and ``--lr-warmup-method``."""

    def main(**options: Any) -> SchedulerSpec:
        if lr_scheduler == "steplr":
            return SchedulerSpec("step", step_size=TV_STEP_SIZE, gamma=TV_GAMMA, **options)
        if lr_scheduler == "cosineannealinglr":
            return SchedulerSpec("cosine", eta_min=TV_LR_MIN, **options)
        return SchedulerSpec("exponential", gamma=TV_GAMMA, **options)

    if lr_warmup_method == "linear":
        return [main(warmup=TV_WARMUP_EPOCHS, warmup_start_factor=TV_WARMUP_DECAY)]
    # the window takes one update more than the warmup: ConstantLR's own return to the lr, at update
    # total_iters, which the main schedule's first update then applies to
    return [
        SchedulerSpec(
            "constant", factor=TV_WARMUP_DECAY, total_iters=TV_WARMUP_EPOCHS, end=TV_WARMUP_EPOCHS + 1
        ),
        main(begin=TV_WARMUP_EPOCHS),
    ]


@pytest.mark.parametrize(
    ("lr_scheduler", "lr_warmup_method"),
    [
        ("cosineannealinglr", "linear"),
        ("cosineannealinglr", "constant"),
        ("steplr", "constant"),
        ("exponentiallr", "linear"),
    ],
)
def test_the_torchvision_recipe_trains_as_train_py(lr_scheduler: str, lr_warmup_method: str) -> None:
    script = type(
        "Script", (TorchvisionScript,), {"lr_scheduler": lr_scheduler, "lr_warmup_method": lr_warmup_method}
    )()
    schedule = torchvision_schedule(lr_scheduler, lr_warmup_method)
    ours = declared(
        torchvision_groups_spec(TV_SWIN, scheduler=schedule, implementation="forloop"), TorchvisionModel
    )
    got = trained_options(ours, max_epochs=TV_EPOCHS, limit_train_batches=2)
    expected = trained_options(script, max_epochs=TV_EPOCHS, limit_train_batches=2)
    assert len(expected) == TV_EPOCHS * 2
    assert got == close(expected)
    assert_same_weights(ours, script)
    assert expected[0]["net.fc.weight"][0] == pytest.approx(LR * TV_WARMUP_DECAY)


#: ultralytics' cfg/default.yaml: lr0, lrf, momentum, weight_decay, warmup_epochs, warmup_momentum, warmup_bias_lr
YOLO_LR0, YOLO_LRF, YOLO_MOMENTUM, YOLO_WD = 0.01, 0.01, 0.937, 5e-4
YOLO_WARMUP_EPOCHS, YOLO_WARMUP_MOMENTUM, YOLO_WARMUP_BIAS_LR = 3.0, 0.8, 0.1
YOLO_EPOCHS = 11
#: trainer.py's warmup iterations: at least 100, so 10 of the 11 epochs here
YOLO_NW = max(round(YOLO_WARMUP_EPOCHS * BATCHES), 100)


def yolo_lf(epoch: float) -> float:
    """trainer.py's linear ``self.lf`` (``cos_lr=False``)."""
    return (1 - epoch / YOLO_EPOCHS) * (1.0 - YOLO_LRF) + YOLO_LRF


class YoloNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Linear(4, WIDTH)
        self.bn = nn.BatchNorm1d(WIDTH)
        self.head = nn.Linear(WIDTH, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.bn(self.conv(x))))


class YoloModel(Regressor):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = YoloNet()


class YoloScript(YoloModel):
    """ultralytics 8.0 engine/trainer.py with the batch size at ``nbs`` (no accumulation, no weight decay
    scaling): ``build_optimizer``'s three groups, a per-epoch ``LambdaLR(lf)``, and the warmup that
    ``_do_train`` writes into every group before each of the first ``nw`` iterations."""

    def configure_optimizers(self) -> Any:
        g: tuple[list[nn.Parameter], ...] = [], [], []
        bn = tuple(v for k, v in nn.__dict__.items() if "Norm" in k)
        for module_name, module in self.named_modules():
            for param_name, param in module.named_parameters(recurse=False):
                fullname = f"{module_name}.{param_name}" if module_name else param_name
                if "bias" in fullname:
                    g[2].append(param)
                elif isinstance(module, bn):
                    g[1].append(param)
                else:
                    g[0].append(param)
        optimizer = SGD(g[2], lr=YOLO_LR0, momentum=YOLO_MOMENTUM, nesterov=True, foreach=False)
        optimizer.add_param_group({"params": g[0], "weight_decay": YOLO_WD})
        optimizer.add_param_group({"params": g[1], "weight_decay": 0.0})
        return [optimizer], [torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=yolo_lf)]

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        ni = batch_idx + BATCHES * self.current_epoch
        if ni <= YOLO_NW:
            xi = [0, YOLO_NW]
            for j, x in enumerate(self.trainer.optimizers[0].param_groups):
                # bias lr falls from 0.1 to lr0, all other lrs rise from 0.0 to lr0
                x["lr"] = np.interp(
                    ni,
                    xi,
                    [YOLO_WARMUP_BIAS_LR if j == 0 else 0.0, x["initial_lr"] * yolo_lf(self.current_epoch)],
                )
                if "momentum" in x:
                    x["momentum"] = np.interp(ni, xi, [YOLO_WARMUP_MOMENTUM, YOLO_MOMENTUM])


def yolo_lr(start: float) -> Callable[[int], float]:
    """The recipe's factor of lr0 for a group whose warmup starts at ``start``: trainer.py's
    ``np.interp(ni, [0, nw], [start, lr0 * lf(epoch)])`` over the first ``nw`` iterations, then ``lf(epoch)``."""

    def factor(ni: int) -> float:
        epoch = ni // BATCHES
        if ni <= YOLO_NW:
            return float(np.interp(ni, [0, YOLO_NW], [start, YOLO_LR0 * yolo_lf(epoch)])) / YOLO_LR0
        return yolo_lf(epoch)

    return factor


#: the recipe of docs/guides/recipes.md: one per-step lambda per group (the biases' warmup starts above lr0,
#: the others' at 0), and momentum's warmup a linear schedule of its own
YOLO = OptimizerSpec(
    "sgd",
    lr=YOLO_LR0,
    momentum=YOLO_MOMENTUM,
    nesterov=True,
    weight_decay=YOLO_WD,
    groups=[
        ParamGroup(lambda name, p: "bias" in name, name="bias", weight_decay=0.0),
        ParamGroup("*.bn.weight", name="bn", weight_decay=0.0),
    ],
    scheduler=[
        SchedulerSpec(
            "lambda",
            lr_lambda={"bias": yolo_lr(YOLO_WARMUP_BIAS_LR), "bn": yolo_lr(0.0), "rest": yolo_lr(0.0)},
            interval="step",
        ),
        SchedulerSpec(
            "linear",
            param="momentum",
            start_factor=YOLO_WARMUP_MOMENTUM / YOLO_MOMENTUM,
            end=YOLO_NW + 1,
            interval="step",
        ),
    ],
    implementation="forloop",
)


def test_the_yolo_recipe_trains_as_ultralytics_warmup() -> None:
    ours, script = declared(YOLO, YoloModel), YoloScript()
    got, expected = (
        trained_options(ours, max_epochs=YOLO_EPOCHS),
        trained_options(script, max_epochs=YOLO_EPOCHS),
    )
    assert len(expected) == YOLO_EPOCHS * BATCHES
    assert got == close(expected)
    assert_same_weights(ours, script)
    # the biases fall from warmup_bias_lr while the weights rise from 0; momentum rises from 0.8
    assert expected[0]["net.conv.bias"][:2] == (YOLO_WARMUP_BIAS_LR, YOLO_WARMUP_MOMENTUM)
    assert expected[0]["net.conv.weight"][0] == 0.0 and expected[0]["net.bn.weight"][2] == 0.0
    assert expected[-1]["net.conv.weight"] == pytest.approx(
        (YOLO_LR0 * yolo_lf(YOLO_EPOCHS - 1), YOLO_MOMENTUM, YOLO_WD)
    )
