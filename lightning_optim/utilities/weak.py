"""State the package keeps about objects it does not own (an optimizer, a schedule, a module), without keeping them.

A ``weakref.WeakKeyDictionary`` holds its values strongly: a value that refers back to its key (an optimizer's step
outcomes hold the optimizer and the ``Trainer``) keeps the key alive through the dictionary, a module-level one for
the rest of the process, and with it everything the key refers to (a fit's module, ``Trainer``, dataloaders and
optimizer state). ``WeakLinks`` holds both sides weakly: the value is kept by what owns it (the hooks it registered
on the key, the ``Trainer``'s callbacks), and the entry goes with either side.
"""

from __future__ import annotations

import weakref
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class WeakLinks(Generic[K, V]):
    """A mapping from objects to objects that keeps neither alive: an entry lasts while both are.

    Example:
        >>> class Thing: ...
        >>> links: WeakLinks[Thing, Thing] = WeakLinks()
        >>> key, value = Thing(), Thing()
        >>> links[key] = value
        >>> links.get(key) is value
        True
        >>> del value  # nothing else held it: the entry went with it
        >>> links.get(key) is None, len(links)
        (True, 0)
    """

    def __init__(self) -> None:
        self._refs: weakref.WeakKeyDictionary[K, weakref.ref[V]] = weakref.WeakKeyDictionary()

    def __setitem__(self, key: K, value: V) -> None:
        self._refs[key] = weakref.ref(value)

    def get(self, key: K) -> V | None:
        """The value linked to ``key``, ``None`` if there is none (a ``TypeError`` for a key that cannot be
        weakly referenced, as ``WeakKeyDictionary`` raises)."""
        ref = self._refs.get(key)
        return None if ref is None else ref()

    def __len__(self) -> int:
        """The entries whose key and value are both alive."""
        return sum(ref() is not None for ref in self._refs.values())
