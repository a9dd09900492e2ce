"""How a mixin module names its live optimizers, shared by the mixin, ``LRMonitor`` and ``preview_schedule``.

The mixin records, after ``configure_optimizers``, one metric prefix per live optimizer in
``trainer.optimizers`` order (``"lr-gen_opt"`` or an explicit ``SchedulerSpec(name=...)``), and writes each
param group's name into the torch param group under the ``"name"`` key (as Lightning's own
``LearningRateMonitor`` expects).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

PREFIXES_ATTRIBUTE = "_lightning_optim_prefixes"


def declared_prefixes(pl_module: Any) -> list[str] | None:
    """The metric prefix of each live optimizer of a mixin module, or ``None`` for any other module."""
    prefixes = getattr(pl_module, PREFIXES_ATTRIBUTE, None)
    return list(prefixes) if prefixes is not None else None


def default_prefix(attribute_name: str) -> str:
    """The metric prefix of an optimizer declared as ``attribute_name``: ``"lr-" + attribute_name``."""
    return f"lr-{attribute_name}"


def group_keys(prefix: str, groups: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ``LRMonitor`` keys of a mixin optimizer's torch param groups: ``<prefix>/<group name>``, a group
    without ``"name"`` being ``pg1``, ``pg2``, ... by position; a single group without ``"name"`` is the prefix
    alone (a single named group, one declared with ``ParamGroup(name=...)``, keeps its name, as in Lightning's).

    Example:
        >>> group_keys("lr-optimizer", [{"name": "backbone"}, {}])
        ['lr-optimizer/backbone', 'lr-optimizer/pg2']
        >>> group_keys("lr-optimizer", [{}]), group_keys("lr-optimizer", [{"name": "head"}])
        (['lr-optimizer'], ['lr-optimizer/head'])
    """
    if len(groups) == 1 and not groups[0].get("name"):
        return [prefix]
    return [f"{prefix}/{group.get('name', f'pg{i}')}" for i, group in enumerate(groups, start=1)]
