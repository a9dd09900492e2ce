"""``GroupPlan``: one torch param group to build, before any optimizer exists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

#: ``(name, parameter)`` pairs, in the module's ``named_parameters()`` order.
Parameters = Sequence[tuple[str, torch.nn.Parameter]]


@dataclass(frozen=True)
class GroupPlan:
    """One torch param group to build: its name, its parameters (by name) and its options."""

    name: str | None
    parameters: Parameters
    options: Mapping[str, Any]

    def as_torch_group(self, named: bool) -> dict[str, Any]:
        group: dict[str, Any] = {"params": [p for _, p in self.parameters], **self.options}
        if named and self.name is not None:
            group["name"] = self.name
        return group


def joined_name(*parts: str | None) -> str:
    """A group name from the parts that are set, joined by ``/``.

    Example:
        >>> joined_name("encoder", "no_decay"), joined_name(None, "layer_2")
        ('encoder/no_decay', 'layer_2')
    """
    return "/".join(p for p in parts if p)
