"""Parameters of lazy modules (``nn.LazyLinear``, ...), which have no shape before the module's first forward.

The optimizers are built when ``fit`` starts, before any forward. A rule that decides by shape
(``no_decay="timm"``, ``is_matrix``, ``MuonWithAdamW``'s ``use_muon=None``) cannot decide for such a parameter,
and reading its shape anyway is wrong without a word: an ``UninitializedParameter`` reads ``ndim == 1``
whatever the layer becomes. So these rules refuse it with ``refuse_unknown_shape``; rules by name or module
type take it as any other parameter.
"""

from __future__ import annotations

from typing import Any

import torch


class ShapeUnknownError(ValueError):
    """A rule that decides by shape met a parameter that has none yet (a lazy module's, before its first forward).

    A ``ValueError``; its own class lets a caller that adds where the rule was declared (a selector's
    declaration) tell it from other errors.
    """


def is_uninitialized(param: Any) -> bool:
    """Whether ``param`` is a lazy module's parameter before its first forward, so that it has no shape yet.

    Example:
        >>> is_uninitialized(torch.nn.LazyLinear(2).weight), is_uninitialized(torch.nn.Linear(2, 2).weight)
        (True, False)
    """
    return torch.nn.parameter.is_lazy(param)


def refuse_unknown_shape(param: Any, what: str, rule: str, instead: str) -> None:
    """Raise a ``ShapeUnknownError`` if ``param`` has no shape yet, naming it (``what``), the ``rule`` that reads
    its shape (with what it reads) and the ways out: give it its shape before the optimizers are built, or
    decide ``instead``.

    Example:
        >>> rule = "`is_matrix`, which reads `ndim`"
        >>> refuse_unknown_shape(torch.nn.Linear(2, 2).weight, "`fc.weight`", rule, "name it")
        >>> refuse_unknown_shape(torch.nn.LazyLinear(2).weight, "`fc.weight`", rule, "name it")
        Traceback (most recent call last):
        ...
        lightning_optim.utilities.lazy.ShapeUnknownError: Expected `fc.weight` to have a shape for `is_matrix`, which reads `ndim`, but it is uninitialized: ...
    """
    if is_uninitialized(param):
        raise ShapeUnknownError(
            f"Expected {what} to have a shape for {rule}, but it is uninitialized: a lazy module's parameter gets "
            "its shape at the module's first forward, after the optimizers are built. Run a forward pass on a "
            "sample batch in `__init__`, build the layer with its sizes in `configure_model`, or "
            f"{instead}."
        )
