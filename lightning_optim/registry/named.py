"""What one optimizer name of an installed collection stands for: a class, and what the name adds to it.

Most names only name a class (``"bnb/adamw8bit"`` is ``bitsandbytes.optim.AdamW8bit``). transformers' ``optim=``
names also stand for arguments (``"transformers/adamw_torch_fused"`` is ``AdamW`` with transformers' betas,
eps and ``fused=True``) and for a step transformers takes after building (32-bit state for embeddings
under 8-bit bitsandbytes optimizers). One ``NamedOptimizer`` holds all of it, so every layer that builds an
optimizer from a name (``fit``, ``describe_optimizers``, ``preview_schedule``) gets the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from lightning_optim.utilities.frozen import ReadOnlyMapping


@dataclass(frozen=True)
class NamedOptimizer:
    """One name of a collection."""

    cls: type[torch.optim.Optimizer]
    #: constructor arguments the name stands for; the declaration's own arguments win
    arguments: Mapping[str, Any] = field(default_factory=lambda: ReadOnlyMapping({}))
    #: called with the built optimizer and the module it trains, after the class's own ``prepare``
    prepare: Callable[[torch.optim.Optimizer, torch.nn.Module], None] | None = None
    #: what the name means in words, for the README table and messages (``"bitsandbytes' AdamW8bit"``)
    meaning: str = ""
