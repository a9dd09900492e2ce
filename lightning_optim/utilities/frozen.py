"""Read-only mappings that frozen records hold and that copy and pickle.

``types.MappingProxyType`` is read-only but neither deep-copies nor pickles (``cannot pickle 'mappingproxy'
object``). The records of a declaration (a spec's options, a resolved scheduler's arguments, a group's scales, a
scheduler's registry entry) are held by what a fit builds: a module keeping its schedule
(``self.sched = self.lr_schedulers()``) is saved whole by ``torch.save(model)`` and deep-copied by
``StochasticWeightAveraging`` as a hand-written one is only if every mapping those records hold is a
``ReadOnlyMapping``. Module-level tables that no record holds may stay ``MappingProxyType``s.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def hashable(value: Any) -> Any:
    """``value`` as a hashable value that equal values share: mappings (in any order) and lists and tuples item
    by item; an unhashable leaf counts by its type alone (equal values still hash equal)."""
    if isinstance(value, Mapping):
        return frozenset((key, hashable(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(map(hashable, value))
    try:
        hash(value)
    except TypeError:
        return type(value)
    return value


class ReadOnlyMapping(Mapping[str, Any]):
    """The mappings of the frozen records (a spec's ``kwargs``, a group's ``options`` and scales): read-only,
    equal to the dict it holds and shown as it. Unlike a read-only view (``MappingProxyType``) it copies,
    deep-copies and pickles (to an equal read-only mapping) and hashes, so ``dataclasses.asdict``/``astuple`` of a
    spec, which deep-copy each field's value (as Lightning's loggers do with a dataclass hyperparameter), work.
    Not a ``dict``: libraries that rebuild dicts in place (jsonargparse's defaults) keep it whole.

    Example:
        >>> import copy, pickle
        >>> options = ReadOnlyMapping({"lr": 0.1})
        >>> options == {"lr": 0.1} == copy.deepcopy(options) == pickle.loads(pickle.dumps(options))
        True
        >>> hash(options) == hash(ReadOnlyMapping({"lr": 0.1})), options
        (True, {'lr': 0.1})

        What a read-only view offers besides, as plain dicts: ``copy()``, ``|`` on either side, ``reversed``.

        >>> options.copy(), options | {"lr": 0.2, "momentum": 0.9}, {"momentum": 0.9} | options
        ({'lr': 0.1}, {'lr': 0.2, 'momentum': 0.9}, {'momentum': 0.9, 'lr': 0.1})
        >>> list(reversed(ReadOnlyMapping({"lr": 0.1, "momentum": 0.9})))
        ['momentum', 'lr']
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any]) -> None:
        self._items = dict(items)

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return repr(self._items)

    def __reversed__(self) -> Iterator[str]:
        return reversed(self._items)

    def __or__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        return self._items | dict(other) if isinstance(other, Mapping) else NotImplemented

    def __ror__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        return dict(other) | self._items if isinstance(other, Mapping) else NotImplemented

    def copy(self) -> dict[str, Any]:
        return self._items.copy()

    def __hash__(self) -> int:
        return hash(hashable(self))

    def __reduce__(self) -> tuple[type[ReadOnlyMapping], tuple[dict[str, Any]]]:
        return type(self), (self._items,)
