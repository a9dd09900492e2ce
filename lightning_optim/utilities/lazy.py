"""Parameters of lazy modules (``nn.LazyLinear``, ...), which have no shape before the module's first forward.

The optimizers are built when ``fit`` starts, before any forward. A rule that decides by shape
(``no_decay="timm"``, ``is_matrix``, ``MuonWithAdamW``'s ``use_muon=None``) cannot decide for such a parameter,
and reading its shape anyway is wrong without a word: an ``UninitializedParameter`` reads ``ndim == 1``
whatever the layer becomes. So these rules refuse it with ``refuse_unknown_shape``; rules by name or module
type take it as any other parameter. A user's callable selector (``lambda name, p: p.ndim < 2``) is called with
such a parameter by ``call_refusing_shape``: reading its shape there is refused the same way, while a callable that
decides by name decides as for any other parameter.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import torch

T = TypeVar("T")


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


class _ShapeRead(BaseException):
    """Raised by ``_shapeless``'s accessors; a ``BaseException`` so that a callable's own ``except Exception``
    does not take it for a failure of its own and decide without the shape."""


@functools.cache
def _shapeless(cls: type) -> type:
    """A subclass of the lazy parameter class ``cls`` whose shape accessors raise ``_ShapeRead`` (naming what was
    read) instead of answering for the empty placeholder (``ndim`` reads 1, ``size()`` reads ``(0,)``)."""

    def reader(what: str) -> Callable[..., Any]:
        def read(self: Any, *args: Any, **kwargs: Any) -> Any:
            raise _ShapeRead(what)

        return read

    namespace: dict[str, Any] = {name: property(reader(name)) for name in ("ndim", "shape")}
    namespace.update({name: reader(f"{name}()") for name in ("size", "dim", "numel", "nelement", "__len__")})
    return type(f"Shapeless{cls.__name__}", (cls,), namespace)


def call_refusing_shape(
    function: Callable[[str, Any], T], name: str, param: Any, rule: str, instead: str
) -> T:
    """``function(name, param)``; where ``param`` has no shape yet and ``function`` reads it, a
    ``ShapeUnknownError`` naming ``name``, the ``rule`` and what it read (``refuse_unknown_shape``).

    For the call, the lazy parameter's class is a subclass whose shape accessors raise (torch itself switches the
    class of a lazy parameter, to ``Parameter``, at its first forward), so the callable gets the parameter itself:
    a callable by name, or by identity, decides as it would for any other parameter.

    Example:
        >>> weight = torch.nn.LazyLinear(2).weight
        >>> call_refusing_shape(lambda n, p: n.endswith("bias"), "fc.weight", weight, "`select`", "name it")
        False
        >>> call_refusing_shape(lambda n, p: p.ndim < 2, "fc.weight", weight, "`select`", "name it")
        Traceback (most recent call last):
        ...
        lightning_optim.utilities.lazy.ShapeUnknownError: Expected `fc.weight` to have a shape for `select`, which reads `ndim`, but it is uninitialized: ...
        >>> type(weight).__name__
        'UninitializedParameter'
    """
    if not is_uninitialized(param):
        return function(name, param)
    cls: type = type(param)
    param.__class__ = _shapeless(cls)
    try:
        return function(name, param)
    except _ShapeRead as read:
        param.__class__ = cls
        refuse_unknown_shape(param, f"`{name}`", f"{rule}, which reads `{read}`", instead)
        raise  # unreachable: the parameter has no shape
    finally:
        param.__class__ = cls
