"""Error messages in one voice: who declared it, what was expected, what was given, and a near miss."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


def did_you_mean(value: str, candidates: Iterable[str]) -> str:
    """A ``" (did you mean `x`?)"`` suffix for the closest candidate, or ``""`` when none is close."""
    matches = difflib.get_close_matches(value, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean `{matches[0]}`?)" if matches else ""


def listing(names: Iterable[str]) -> str:
    """``a, b, c`` with each name in backticks, in the given order."""
    return ", ".join(f"`{name}`" for name in names)


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
