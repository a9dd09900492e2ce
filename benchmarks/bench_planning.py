"""Param group planning is linear in the number of parameter tensors.

Plans the groups of a model with 1,000 and then 10,000 parameter tensors (what ``fit`` does before it
builds the optimizer: read the names, assign parameters to optimizers, match the declared groups, apply the
``no_decay`` and ``layer_decay`` recipes) and prints, measured in this process:

- each planning time and the 10k / 1k ratio (about 10 means linear; 100 would mean quadratic);
- each planning time against the cost of merely listing ``named_parameters()`` on the same model.

Run: ``python benchmarks/bench_planning.py`` from the repository root.
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

import lightning as L
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, ParamGroup
from lightning_optim.building.build import assign_parameters, plan_groups
from lightning_optim.groups.selection import NamedParameters


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(2)
        self.fc = nn.Linear(2, 2)


class Stack(L.LightningModule):
    """An embedding, ``num_blocks`` blocks of 4 tensors each, and a head: ``4 * num_blocks + 3`` tensors."""

    def __init__(self, num_blocks: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(4, 2)
        self.blocks = nn.ModuleList(Block() for _ in range(num_blocks))
        self.head = nn.Linear(2, 2)


def is_head(name: str, param: nn.Parameter) -> bool:
    return name.startswith("head.")


class Declared(ConfigurableOptimizersMixin, Stack):
    optimizer = OptimizerSpec(
        "adamw",
        lr=1e-3,
        weight_decay=0.05,
        groups=[
            ParamGroup("blocks.0", lr=1e-4),
            ParamGroup("*.norm.weight", lr=2e-3),
            ParamGroup(is_head, lr=1e-2),
        ],
        no_decay=True,
        layer_decay=0.9,
        layer_decay_blocks="blocks",
    )


def plan(module: L.LightningModule) -> int:
    named = NamedParameters.of(module)
    declared_all = type(module)._lightning_optim_declared
    assigned = assign_parameters(named, declared_all)
    return sum(len(plan_groups(named, p, assigned[p.attribute])) for p in declared_all)


def best(function: object, repeat: int) -> float:
    return min(timeit.repeat(function, number=1, repeat=repeat))  # type: ignore[arg-type]


def main() -> None:
    results = {}
    for tensors in (1_000, 10_000):
        module = Declared((tensors - 3) // 4)
        count = sum(1 for _ in module.parameters())
        listing = best(lambda m=module: list(m.named_parameters()), repeat=7)
        planning = best(lambda m=module: plan(m), repeat=7)
        groups = plan(module)
        results[tensors] = planning
        print(
            f"{count:>6} tensors, {groups:>5} groups: planning {planning * 1e3:8.2f} ms, "
            f"listing named_parameters() {listing * 1e3:7.2f} ms, "
            f"planning / listing = {planning / listing:5.1f}"
        )
    print(f"planning time 10k / 1k = {results[10_000] / results[1_000]:.1f} (10 is linear, 100 quadratic)")


if __name__ == "__main__":
    main()
