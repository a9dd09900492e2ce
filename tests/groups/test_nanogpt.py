"""``no_decay="nanogpt"`` against nanoGPT's own ``configure_optimizers``, on a tiny GPT with tied embeddings.

The reference is nanoGPT's rule written out (karpathy/nanoGPT, model.py, ``GPT.configure_optimizers``): the
trainable parameters of ``named_parameters()`` (which lists a tied tensor once, under its first name) split
into ``p.dim() >= 2`` with the run's weight decay and ``p.dim() < 2`` with none, given in that order to
``torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas)``, with ``fused=True`` only on CUDA, so
torch's default (for-loop) implementation on CPU, which the declaration names to compare weights bit for bit.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec
from tests.helpers import assert_same_weights, fit

LR, WD, BETAS = 6e-4, 0.1, (0.9, 0.95)
VOCAB, BLOCK, WIDTH, HEADS, LAYERS = 32, 8, 16, 2, 2


class LayerNorm(nn.Module):
    """nanoGPT's ``LayerNorm`` with an optional bias (its own class, not ``nn.LayerNorm``)."""

    def __init__(self, ndim: int, bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ln_1, self.ln_2 = LayerNorm(WIDTH, bias=True), LayerNorm(WIDTH, bias=True)
        self.c_attn = nn.Linear(WIDTH, 3 * WIDTH)
        self.attn_proj = nn.Linear(WIDTH, WIDTH)
        self.c_fc, self.mlp_proj = nn.Linear(WIDTH, 4 * WIDTH), nn.Linear(4 * WIDTH, WIDTH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = (
            part.view(b, t, HEADS, c // HEADS).transpose(1, 2)
            for part in self.c_attn(self.ln_1(x)).split(WIDTH, dim=2)
        )
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, c)
        x = x + self.attn_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    """nanoGPT's ``GPT`` layout, shrunk: the token embedding is tied to ``lm_head``."""

    def __init__(self) -> None:
        super().__init__()
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(VOCAB, WIDTH),
                "wpe": nn.Embedding(BLOCK, WIDTH),
                "h": nn.ModuleList(Block() for _ in range(LAYERS)),
                "ln_f": LayerNorm(WIDTH, bias=True),
            }
        )
        self.lm_head = nn.Linear(WIDTH, VOCAB, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying, as nanoGPT does
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * LAYERS))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[1])
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


class Language(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model = GPT()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.model(x).flatten(0, 1), y.flatten())


class NanoGPT(Language):
    """The hand-written port: nanoGPT's ``configure_optimizers`` rule over the wrapped model."""

    def configure_optimizers(self) -> torch.optim.Optimizer:
        param_dict = {name: p for name, p in self.model.named_parameters() if p.requires_grad}
        decay_params = [p for p in param_dict.values() if p.dim() >= 2]
        nodecay_params = [p for p in param_dict.values() if p.dim() < 2]
        optim_groups = [
            {"params": decay_params, "weight_decay": WD},
            {"params": nodecay_params, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(optim_groups, lr=LR, betas=BETAS)  # no fused=True off CUDA


def declared(no_decay: Any = "nanogpt") -> Language:
    spec = OptimizerSpec(
        "adamw", lr=LR, betas=BETAS, weight_decay=WD, no_decay=no_decay, implementation="forloop"
    )
    return type("Declared", (ConfigurableOptimizersMixin, Language), {"optimizer": spec})()


def tokens(n: int = 16, batch_size: int = 4) -> DataLoader:
    sequences = torch.randint(0, VOCAB, (n, BLOCK + 1), generator=torch.Generator().manual_seed(0))
    return DataLoader(TensorDataset(sequences[:, :-1], sequences[:, 1:]), batch_size=batch_size)


def groups_by_name(module: L.LightningModule) -> list[tuple[list[str], float, float, tuple[float, float]]]:
    """The built optimizer's groups, in order: (parameter names in order, weight decay, lr, betas)."""
    names = {id(p): name for name, p in module.named_parameters()}
    return [
        ([names[id(p)] for p in g["params"]], g["weight_decay"], g["lr"], tuple(g["betas"]))
        for g in module.trainer.optimizers[0].param_groups
    ]


def test_the_groups_equal_nanogpts() -> None:
    ours, theirs = declared(), NanoGPT()
    fit(ours, data=tokens(), max_steps=1)
    fit(theirs, data=tokens(), max_steps=1)
    assert groups_by_name(ours) == groups_by_name(theirs)
    decay, no_decay = groups_by_name(ours)
    # the tied matrix is listed once, under its first name, and decays; so does the position embedding
    assert "model.transformer.wte.weight" in decay[0] and "model.lm_head.weight" not in decay[0] + no_decay[0]
    assert "model.transformer.wpe.weight" in decay[0]
    assert all(name.endswith(("bias", "ln_1.weight", "ln_2.weight", "ln_f.weight")) for name in no_decay[0])
    assert [g["name"] for g in ours.trainer.optimizers[0].param_groups] == ["decay", "no_decay"]


def test_training_equals_nanogpts_weights() -> None:
    ours, theirs = declared(), NanoGPT()
    ours_lrs = fit(ours, data=tokens(), max_epochs=2)  # 8 AdamW steps with weight decay
    theirs_lrs = fit(theirs, data=tokens(), max_epochs=2)
    assert ours_lrs.history == theirs_lrs.history
    assert ours.model.transformer.wte.weight is ours.model.lm_head.weight  # still tied
    assert_same_weights(ours, theirs)
    assert not torch.equal(ours.model.lm_head.weight, Language().model.lm_head.weight)  # it trained


def test_the_default_rule_leaves_the_tied_embedding_undecayed_unlike_nanogpt() -> None:
    """Why the named recipe exists: ``no_decay=True`` spares ``Embedding`` weights, the tied matrix too."""
    ours, theirs = declared(no_decay=True), NanoGPT()
    fit(ours, data=tokens(), max_steps=1)
    fit(theirs, data=tokens(), max_steps=1)
    ours_undecayed = [names for names, wd, *_ in groups_by_name(ours) if wd == 0.0]
    theirs_undecayed = [names for names, wd, *_ in groups_by_name(theirs) if wd == 0.0]
    assert "model.transformer.wte.weight" in ours_undecayed[0]
    assert "model.transformer.wte.weight" not in theirs_undecayed[0]
