"""Declared arguments a scheduler builds without reading, because of another argument.

Torch's ``CyclicLR`` reads ``gamma`` only for ``mode="exp_range"``, its ``OneCycleLR`` reads ``epochs`` only
without ``total_steps``: such a declaration would train as if the argument were left out, so a record's
``unread`` (``schedulers.py``) lists them, each an ``Unread`` with its condition defined here, and the
declaration is refused. These rules never import the records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple


class Unread(NamedTuple):
    """Declared arguments that a scheduler builds without reading, because of another declared argument (or its
    default): torch's ``CyclicLR`` reads ``gamma`` only for ``mode="exp_range"``, its ``OneCycleLR`` reads
    ``epochs`` only without ``total_steps``. Such a declaration would train as if the argument were left out, so it
    is refused. ``unread_by`` says, from the declared arguments, what leaves ``arguments`` unread (a phrase after
    "with"), or ``None`` when they are read; ``read_with`` says when they are, ``instead`` the way out (``{it}``
    stands for "it" or "them", as many as were declared). It is
    decided only once the arguments of ``decided_by`` are known (an ``HParam`` is checked with the value ``fit``
    reads)."""

    arguments: tuple[str, ...]
    read_with: str
    unread_by: Callable[[Mapping[str, Any]], str | None]
    instead: str
    decided_by: tuple[str, ...]
    #: an argument spelled out at the signature's default (a per-group one: in every group) is taken as left out
    #: (a config dump writes every argument); ``False`` where that default is not what the scheduler uses
    #: (``unread_by`` then decides alone)
    default_is_left_out: bool = True


def _absent(key: str, kwargs: Mapping[str, Any]) -> bool:
    return kwargs.get(key) is None


def scale_fn_given(kwargs: Mapping[str, Any]) -> str | None:
    """``CyclicLR`` reads neither ``mode`` nor ``gamma`` when it has a ``scale_fn`` (its ``_init_scale_fn``).

    Example:
        >>> scale_fn_given({"scale_fn": abs}), scale_fn_given({"scale_fn": None})
        ('a `scale_fn` (which shapes the cycles in their place)', None)
    """
    return None if _absent("scale_fn", kwargs) else "a `scale_fn` (which shapes the cycles in their place)"


def mode_without_gamma(kwargs: Mapping[str, Any]) -> str | None:
    """``CyclicLR`` reads ``gamma`` only for ``mode="exp_range"`` (without a ``scale_fn``, which reads neither).

    Example:
        >>> mode_without_gamma({}), mode_without_gamma({"mode": "triangular2"})
        ("`mode` left out (its default 'triangular')", "`mode='triangular2'`")
        >>> mode_without_gamma({"mode": "exp_range"}), mode_without_gamma({"scale_fn": abs})
        (None, None)
    """
    mode = kwargs.get("mode", "triangular")
    if mode == "exp_range" or not _absent("scale_fn", kwargs):
        return None
    return f"`mode={mode!r}`" if "mode" in kwargs else f"`mode` left out (its default {mode!r})"


def no_scale_fn(kwargs: Mapping[str, Any]) -> str | None:
    """``CyclicLR`` reads ``scale_mode`` only for a ``scale_fn``: each ``mode`` sets its own (its
    ``_init_scale_fn``), so a ``scale_mode`` other than the one its ``mode`` uses is not what it trains with; the
    one it uses (a config dump's) trains as left out.

    Example:
        >>> no_scale_fn({"scale_mode": "iterations"}), no_scale_fn({"scale_fn": abs, "scale_mode": "iterations"})
        ("no `scale_fn` (each `mode` sets what its scaling counts: 'cycle', 'iterations' for 'exp_range')", None)
        >>> no_scale_fn({"mode": "exp_range", "scale_mode": "iterations"}) is None
        True
        >>> no_scale_fn({"mode": "exp_range", "scale_mode": "cycle"}) is None
        False
    """
    own = "iterations" if kwargs.get("mode", "triangular") == "exp_range" else "cycle"
    if not _absent("scale_fn", kwargs) or kwargs.get("scale_mode", own) == own:
        return None
    return "no `scale_fn` (each `mode` sets what its scaling counts: 'cycle', 'iterations' for 'exp_range')"


def momentum_not_cycled(kwargs: Mapping[str, Any]) -> str | None:
    """``CyclicLR`` and ``OneCycleLR`` read ``base_momentum`` and ``max_momentum`` only when they cycle it.

    Example:
        >>> momentum_not_cycled({"cycle_momentum": False}), momentum_not_cycled({})
        ('`cycle_momentum=False`', None)
    """
    cycle = kwargs.get("cycle_momentum", True)
    return None if cycle else f"`cycle_momentum={cycle!r}`"


def total_steps_given(kwargs: Mapping[str, Any]) -> str | None:
    """``OneCycleLR`` reads ``epochs`` and ``steps_per_epoch`` only without ``total_steps``.

    Example:
        >>> total_steps_given({"total_steps": 10}), total_steps_given({"epochs": 5})
        ('`total_steps=10` (the length torch takes)', None)
    """
    return (
        None
        if _absent("total_steps", kwargs)
        else f"`total_steps={kwargs['total_steps']!r}` (the length torch takes)"
    )


def steps_per_epoch_alone(kwargs: Mapping[str, Any]) -> str | None:
    """``OneCycleLR``'s ``steps_per_epoch`` counts only beside ``epochs``: without both (or ``total_steps``) the
    length ``total_steps`` is derived from the run.

    Example:
        >>> steps_per_epoch_alone({}), steps_per_epoch_alone({"epochs": 2}), steps_per_epoch_alone({"total_steps": 8})
        ('neither `epochs` nor `total_steps` (`total_steps` is then derived from the run)', None, None)
    """
    if not (_absent("epochs", kwargs) and _absent("total_steps", kwargs)):
        return None
    return "neither `epochs` nor `total_steps` (`total_steps` is then derived from the run)"
