"""Two declared optimizers never share an ``LRMonitor`` key: checked when the class is defined.

Every optimizer is logged under a prefix: ``lr-<attribute>``, or its schedulers' ``name=``. Its keys are the
prefix alone (one param group) or ``<prefix>/<group name>``, each with ``-momentum`` and ``-weight_decay``
variants. Two optimizers whose keys can meet would be logged as one series, their values interleaved
(``[0.001, 0.01, 0.0009, 0.005, ...]``) in the loggers, ``LRMonitor.lrs`` and ``trainer.callback_metrics``,
with no error anywhere. The group names are only known when ``fit`` plans the groups, so a prefix that is
another's followed by ``/`` is refused already: it is one group name away from a collision.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from lightning_optim.declaring.optimizer import ResolvedOptimizer
from lightning_optim.utilities.keys import default_prefix

#: what ``LRMonitor`` appends to a learning-rate key for the other values it logs
_VALUE_SUFFIXES = ("-momentum", "-weight_decay")


def _prefix(declared: ResolvedOptimizer) -> str:
    return declared.prefix_name or default_prefix(declared.attribute)


def _source(declared: ResolvedOptimizer) -> str:
    """Where a prefix comes from: the scheduler that names it, or the attribute."""
    named = next((s for s in declared.schedulers if s.spec.name), None)
    if named is not None:
        return f"`{named.where}` (`name={named.spec.name!r}`)"
    return f"`{declared.where}` (logged as `{default_prefix(declared.attribute)}` after its attribute name)"


def _clash(first: str, second: str) -> str | None:
    """How keys of optimizers logged under ``first`` and ``second`` can be equal, or ``None``.

    Example:
        >>> _clash("lr", "lr")
        'both log under `lr`'
        >>> _clash("lr-gen", "lr-gen/head")
        '`lr-gen/head` is the key of the param group `head` of the optimizer logged under `lr-gen`'
        >>> _clash("lr-gen", "lr-dis") is None
        True
    """
    if first == second:
        return f"both log under `{first}`"
    for short, long in ((first, second), (second, first)):
        if long.startswith(short + "/"):
            group = long[len(short) + 1 :]
            return f"`{long}` is the key of the param group `{group}` of the optimizer logged under `{short}`"
        suffix = next((s for s in _VALUE_SUFFIXES if long == short + s), None)
        if suffix is not None:
            return f"`{long}` is the `{suffix[1:]}` key of the optimizer logged under `{short}`"
    return None


def check_metric_keys(owner: str, declared_all: Sequence[ResolvedOptimizer]) -> None:
    """Refuse two declared optimizers whose ``LRMonitor`` keys can be the same, naming both declarations."""
    for first, second in combinations(declared_all, 2):
        clash = _clash(_prefix(first), _prefix(second))
        if clash is None:
            continue
        raise ValueError(
            f"{owner}: Expected each optimizer to have `LRMonitor` keys of its own but {_source(first)} and "
            f"{_source(second)} collide: {clash}, so their learning rates would be logged as one series, "
            "interleaved. Give them different scheduler `name=`s, or leave `name` out (each optimizer is then "
            "logged as `lr-<attribute>`)."
        )
