"""Check declared values against the simple annotations of a torch class's signature.

Torch validates some values when an optimizer or scheduler is built, but a wrong type often only fails
later, deep inside a step (``ExponentialLR(gamma="0.9")`` builds, then breaks at its first ``step()``).
Annotations such as ``float``, ``int``, ``bool``, ``str``, ``Literal[...]``, ``list[float]``,
``tuple[float, float]``, ``Callable`` and unions of these are checked; anything else is left to torch.

A value is refused only where torch would go wrong with it: numbers by ``numbers.Real``/``numbers.Integral``, as
torch computes with them (numpy's scalars, from a sweep's grid, register there), and an ``Iterable[...]`` argument
as any collection of fitting items (a ``range``, a ``set``, a numpy array), as torch iterates it. A ``list[...]``
argument stays a list or a tuple: torch tells a list from one value by ``isinstance(x, (list, tuple))``.
"""

from __future__ import annotations

import collections.abc
import inspect
import sys
import types
import typing
from functools import cache
from typing import Any

import torch

from lightning_optim.utilities.errors import did_you_mean, listing
from lightning_optim.utilities.numeric import is_int, is_real

_UNKNOWN = object()


@cache
def annotations_of(cls: type) -> dict[str, Any]:
    """The evaluable annotations of ``cls.__init__``'s parameters (one failure does not drop the rest)."""
    # a class defined by `exec` (a docs page, a notebook tool) may name a module that is not imported
    module = vars(sys.modules[cls.__module__]) if cls.__module__ in sys.modules else {}
    namespace = {**vars(typing), **vars(collections.abc), **module, "torch": torch}
    hints = {}
    for parameter in inspect.signature(cls).parameters.values():
        annotation = parameter.annotation
        if annotation is parameter.empty:
            continue
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace)  # the class's own annotation text, not user input
            except Exception:
                continue
        hints[parameter.name] = annotation
    return hints


def _matches(value: Any, annotation: Any) -> Any:
    """True/False when the annotation is understood, ``_UNKNOWN`` otherwise."""
    if annotation is Any:
        return True
    if annotation is float:
        return is_real(value) or isinstance(value, torch.Tensor)
    if annotation is int:
        return is_int(value)
    if annotation in (bool, str):
        return isinstance(value, annotation)
    if annotation is type(None):
        return value is None
    if isinstance(annotation, type) and typing.get_origin(annotation) is None:
        return isinstance(value, annotation)
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Literal:
        return value in arguments
    if origin in (typing.Union, types.UnionType):
        results = [_matches(value, a) for a in arguments]
        if any(r is True for r in results):
            return True
        return _UNKNOWN if any(r is _UNKNOWN for r in results) else False
    if origin is collections.abc.Callable or annotation is collections.abc.Callable:
        return callable(value)
    if origin in (list, collections.abc.Sequence, collections.abc.Iterable) and len(arguments) == 1:
        if not (
            is_collection(value) if origin is collections.abc.Iterable else isinstance(value, (list, tuple))
        ):
            return False
        results = [_matches(v, arguments[0]) for v in value]
        return _UNKNOWN if any(r is _UNKNOWN for r in results) else all(results)
    if origin is tuple and arguments and arguments[-1] is not Ellipsis:
        if not isinstance(value, (list, tuple)) or len(value) != len(arguments):
            return False
        results = [_matches(v, a) for v, a in zip(value, arguments)]
        return _UNKNOWN if any(r is _UNKNOWN for r in results) else all(results)
    return _UNKNOWN


def is_collection(value: Any) -> bool:
    """Whether torch can iterate ``value`` as the items of an ``Iterable[...]`` argument, more than once (a
    generator would be used up by the first build), not as characters, and not as a mapping (``MultiStepLR``'s
    ``Counter`` of a dict counts its values).

    Example:
        >>> [is_collection(v) for v in ([1, 2], range(3), {1, 2}, "12", iter([1, 2]), {1: 1})]
        [True, True, True, False, False, False]
    """
    return isinstance(value, collections.abc.Collection) and not isinstance(
        value, (str, bytes, collections.abc.Mapping)
    )


def literal_choices(annotation: Any) -> tuple[Any, ...]:
    """The choices of a ``Literal[...]`` annotation, also inside a union (``Literal["a", "b"] | None``).

    Example:
        >>> literal_choices(typing.Literal["min", "max"]), literal_choices(typing.Optional[typing.Literal["a"]])
        (('min', 'max'), ('a',))
        >>> literal_choices(int)
        ()
    """
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return tuple(c for a in typing.get_args(annotation) for c in literal_choices(a))
    return ()


def check_type(where: str, cls: type, name: str, value: Any) -> None:
    """Raise a ``TypeError`` naming ``where`` when ``value`` does not fit ``cls``'s annotation for ``name``.

    A value of the type of a ``Literal``'s choices that is none of them (``mode="minn"``) is a ``ValueError``
    listing the choices, with the nearest one: a misspelt choice, as torch reports it, not a wrong type.
    """
    expected = type_mismatch(cls, name, value)
    if expected is None:
        return
    annotation = annotations_of(cls)[name]
    choices = literal_choices(annotation)
    if any(type(choice) is type(value) for choice in choices):
        union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
        others = [
            a for a in typing.get_args(annotation) if union and typing.get_origin(a) is not typing.Literal
        ]
        other = "".join(f" or {_readable(a)}" for a in others)
        hint = (
            did_you_mean(value, [c for c in choices if isinstance(c, str)]) if isinstance(value, str) else ""
        )
        raise ValueError(
            f"{where}: Expected `{name}` of `{cls.__name__}` to be one of {listing(map(str, choices))}{other} "
            f"but got {value!r}{hint}."
        )
    raise TypeError(f"{where}: Expected `{name}` of `{cls.__name__}` to be {expected} but got {value!r}.")


def type_mismatch(cls: type, name: str, value: Any) -> str | None:
    """A readable expected type when ``value`` does not fit ``cls``'s annotation for ``name``, else ``None``."""
    annotation = annotations_of(cls).get(name)
    if annotation is None or _matches(value, annotation) is not False:
        return None
    return _readable(annotation)


def _readable(annotation: Any) -> str:
    """An annotation as a user reads it: ``float | Tensor``, ``Literal['min', 'max']``, ``None``."""
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type) and typing.get_origin(annotation) is None:
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("collections.abc.", "").replace("torch.", "")
