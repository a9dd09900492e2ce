"""Error messages in one voice: who declared it, what was expected, what was given, and a near miss."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any


def did_you_mean(value: str, candidates: Iterable[str]) -> str:
    """A ``" (did you mean `x`?)"`` suffix for the closest candidate, or ``""`` when none is close."""
    matches = difflib.get_close_matches(value, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean `{matches[0]}`?)" if matches else ""


def listing(names: Iterable[str]) -> str:
    """``a, b, c`` with each name in backticks, in the given order."""
    return ", ".join(f"`{name}`" for name in names)


def check_choice(where: str, option: str, value: Any, choices: tuple[str, ...]) -> None:
    """Raise a ``ValueError`` naming ``where`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        raise ValueError(
            f"{where}: Expected `{option}` to be one of {listing(choices)} but got {value!r}{hint}."
        )


@contextmanager
def prefixed(where: str) -> Iterator[None]:
    """Re-raise a ``TypeError`` or ``ValueError`` with ``where: `` in front of its message."""
    try:
        yield
    except (TypeError, ValueError) as err:
        raise type(err)(f"{where}: {err}") from None


@contextmanager
def torch_rejects(where: str, cls: type) -> Iterator[None]:
    """Re-raise what torch raises while building ``cls`` as this package's error naming the declaration."""
    try:
        yield
    except Exception as err:
        error = TypeError if isinstance(err, TypeError) else ValueError
        raise error(f"{where}: `{cls.__name__}` rejected the declared options: {err}") from err
