"""Param-group recipes: one file each, applied in the order of ``RECIPES``.

Order: ``layer_decay`` first (it splits every group by block depth and scales its ``lr``), then
``no_decay`` (it splits each of those groups into decayed and not decayed halves), so a group name reads
``<group>/layer_<depth>/no_decay``. Adding a recipe: a file with a class following ``Recipe``
(``base.py``), one entry here, and its option(s) as keyword(s) of ``OptimizerSpec``.
"""

from lightning_optim.groups.recipes.base import Recipe, RecipeContext
from lightning_optim.groups.recipes.layer_decay import LayerDecay
from lightning_optim.groups.recipes.no_decay import NoDecay

#: Every recipe, in the order they are applied.
RECIPES: tuple[Recipe, ...] = (LayerDecay(), NoDecay())

__all__ = ["RECIPES", "Recipe", "RecipeContext"]
