"""Checks of one param group's values for other libraries' optimizers, which fail only inside a step.

Each is a record's ``check_group`` (``registry/optimizers.py``): called on every group of the trial build when
the class is defined, so that a value the library accepts when building and fails on later (a
``ZeroDivisionError`` when schedule-free switches to evaluation, a ``TypeError`` in transformers' Adafactor's
first step) is this package's ``ValueError`` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightning_optim.utilities.numeric import is_real


def check_schedule_free_momentum(group: Mapping[str, Any]) -> None:
    """schedule-free's ``eval()`` interpolates by ``1 - 1 / beta1`` (``momentum`` for SGD): it must be > 0.

    Its ``train()``/``eval()`` switch (which the mixin calls around validation and at the end of ``fit``)
    divides by it, so ``betas=(0.0, ...)`` trains and then fails with a ``ZeroDivisionError``.

    Example:
        >>> check_schedule_free_momentum({"betas": (0.9, 0.999)})
        >>> check_schedule_free_momentum({"betas": (0.0, 0.999)})
        Traceback (most recent call last):
        ...
        ValueError: Expected `betas[0]` to be > 0 for a schedule-free optimizer (its eval() interpolates by 1 - 1 / betas[0]) but got 0.0.
    """
    if "betas" in group and isinstance(group["betas"], (tuple, list)) and group["betas"]:
        name, value = "betas[0]", group["betas"][0]
    elif "momentum" in group:
        name, value = "momentum", group["momentum"]
    else:
        return
    if is_real(value) and value <= 0:
        raise ValueError(
            f"Expected `{name}` to be > 0 for a schedule-free optimizer (its eval() interpolates by "
            f"1 - 1 / {name}) but got {value!r}."
        )


def check_adafactor_step_size(group: Mapping[str, Any]) -> None:
    """transformers' ``Adafactor`` computes its own step size only with ``relative_step=True``; otherwise
    ``lr`` is the step size and must be a number.

    Example:
        >>> check_adafactor_step_size({"lr": None, "relative_step": True})
        >>> check_adafactor_step_size({"lr": None, "relative_step": False})
        Traceback (most recent call last):
        ...
        ValueError: Expected `lr` to be a number with `relative_step=False` (transformers' Adafactor then uses it as the step size) but got None; give an `lr`, or set `relative_step=True` (with `lr=None`) for Adafactor's own step size.
    """
    if group.get("lr") is None and not group.get("relative_step", True):
        raise ValueError(
            "Expected `lr` to be a number with `relative_step=False` (transformers' Adafactor then uses it as "
            "the step size) but got None; give an `lr`, or set `relative_step=True` (with `lr=None`) for "
            "Adafactor's own step size."
        )
