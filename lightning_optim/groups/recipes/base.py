"""The protocol every param-group recipe follows.

A recipe owns one or more keyword options of ``OptimizerSpec`` (``no_decay``; ``layer_decay`` with
``layer_decay_blocks``, ``layer_decay_rule`` and ``layer_decay_min_scale``). A recipe sets options outright
(``weight_decay=0.0``) or records a factor in ``GroupPlan.scales`` (``lr`` times a layer's scale), which
multiplies the value the built optimizer gives the group, so it is relative to that group's own base. When the declaring class is defined, ``check`` validates them and returns the
recipe's settings (``None``: the recipe is off). When ``fit`` starts, ``apply`` splits each planned group of
that optimizer, after the declared ``ParamGroup``s are matched. Recipes run in the order of ``RECIPES``
(``groups/recipes/__init__.py``), each on the groups the previous one produced; a recipe porting a source that
numbers its groups as it meets the parameters (BEiT's and timm's layer decay) has them put in that order at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lightning_optim.groups.plan import GroupPlan, Parameters
from lightning_optim.groups.selection import NamedParameters


@dataclass(frozen=True)
class RecipeContext:
    """What a recipe may read when it splits one optimizer's groups."""

    #: where messages point (``Model.optimizer``)
    where: str
    #: the module's trainable parameters and submodules
    named: NamedParameters
    #: the optimizer's defaults with the declared options applied (``lr``, ``weight_decay``, ...)
    defaults: Mapping[str, Any]
    #: the module the optimizer trains (for ``no_weight_decay()``-style methods)
    module: Any
    #: every parameter this optimizer trains, in the module's order
    parameters: Parameters


class Recipe(Protocol):
    """One param-group recipe."""

    @property
    def options(self) -> tuple[str, ...]:
        """The ``OptimizerSpec`` keyword options this recipe owns, the first one naming it."""
        ...

    def check(
        self, where: str, values: Mapping[str, Any], optimizer: str, group_options: frozenset[str]
    ) -> Any:
        """Validate the declared values of ``options``; return the settings, or ``None`` when off."""
        ...

    def apply(self, settings: Any, context: RecipeContext, groups: Sequence[GroupPlan]) -> list[GroupPlan]:
        """Split ``groups`` (in order); names stay unique and no parameter is lost."""
        ...

    def first_parameter_order(self, settings: Any, context: RecipeContext) -> Mapping[int, int] | None:
        """``None`` where the groups stay in the order the recipes split them; else the source these settings
        port orders its groups, once every recipe has split them, as it first meets their parameters
        (``plan.in_first_parameter_order``), within scopes: ``id(param)`` to its scope's rank (``{}``: one)."""
        ...
