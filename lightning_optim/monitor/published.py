"""Scalar tensors published to ``trainer.callback_metrics``, rewritten in place only when nobody else sees them."""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import MutableMapping
from typing import Any

import torch
from torch import Tensor

from lightning_optim.utilities import compat

# Reuse needs exact reference counts: CPython with the GIL (free-threaded builds count references
# lazily) and torch's storage use count (private; without it every event creates fresh tensors).
#: Whether published tensors are rewritten in place when nothing else holds them (else fresh at every event).
REUSE_TENSORS = compat.storage_use_count is not None and getattr(sys, "_is_gil_enabled", lambda: True)()

# host buffers that CPU tensors can share, for the dtype ``torch.tensor(value)`` gives a Python float
_ARRAY_CODES = {torch.float32: "f", torch.float64: "d"}


def _references(tensors: list[Any]) -> int:
    """The tensors' reference counts, summed."""
    return sum(map(sys.getrefcount, tensors))


def _private_references() -> int:
    """What ``_references`` counts for one object held only by the list passed in and a metrics dict."""
    tensor = object()
    metrics = {"key": tensor}
    count = _references([tensor]) - 1  # less the local name ``tensor``
    del metrics
    return count


# no object counts less when both hold it, so a sum of ``n * _PRIVATE`` means nothing else holds any
_PRIVATE = _private_references()


class PublishedScalars:
    """The 0-d tensors that one set of keys has in ``trainer.callback_metrics``.

    Lightning's contract is one 0-d tensor per key on the root device, in the dtype ``torch.tensor`` gives
    a Python float, as ``LearningRateMonitor`` writes them, so that ``EarlyStopping`` and
    ``ModelCheckpoint`` can monitor a learning rate. Creating a tensor costs about a microsecond, which
    with hundreds of param groups is most of a monitor's cost. So the tensors are views of one buffer
    (on CPU sharing memory with a Python ``array``), and new values are written into that buffer at once
    when nothing outside can observe it: no Python reference to a tensor besides ours and the metrics
    dict's, no reference to the buffer and no other view of its storage (``EarlyStopping`` keeps a
    ``squeeze()`` view of the value it found best). Otherwise the values get fresh tensors, exactly as
    without reuse: a tensor that anyone holds never changes.

    Example:
        >>> metrics = {}
        >>> scalars = PublishedScalars(["lr-a", "lr-b"])
        >>> scalars.publish(metrics, [0.1, 0.2], torch.device("cpu"))
        >>> first = metrics["lr-a"]
        >>> scalars.publish(metrics, [0.05, 0.2], torch.device("cpu"))
        >>> round(first.item(), 6), round(metrics["lr-a"].item(), 6)  # held, so not rewritten
        (0.1, 0.05)
        >>> del first
        >>> before = id(metrics["lr-a"])
        >>> scalars.publish(metrics, [0.025, 0.2], torch.device("cpu"))
        >>> id(metrics["lr-a"]) == before, round(metrics["lr-a"].item(), 6)  # rewritten in place
        (True, 0.025)

    """

    __slots__ = (
        "_buffer",
        "_buffer_references",
        "_host",
        "_storage",
        "_storage_uses",
        "keys",
        "tensors",
        "values",
    )

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self.values: list[float] = []
        self.tensors: list[Tensor] = []
        self._buffer: Tensor | None = None
        # the ``array`` a CPU buffer shares its memory with
        self._host: array[float] | None = None
        self._buffer_references = 0
        self._storage = 0
        self._storage_uses = 0

    def publish(
        self, metrics: MutableMapping[str, Tensor], values: list[float], device: torch.device
    ) -> None:
        """Make ``metrics[key]`` a tensor holding each value, aligned with ``keys``."""
        if not self.keys:
            return
        # first, so that the dict holds each of the current tensors once, whatever was there before
        metrics.update(zip(self.keys, self.tensors))
        if (
            values != self.values
            or self._buffer is None
            or self._buffer.dtype is not torch.get_default_dtype()
        ):
            if self._unobserved(device):
                self._rewrite(values)
            else:
                self._replace(values, device)
                metrics.update(zip(self.keys, self.tensors))
                if REUSE_TENSORS:
                    self._record_references()
            self.values = values

    def _unobserved(self, device: torch.device) -> bool:
        # no local name for the buffer: the count must be taken as ``_record_references`` takes it
        if (
            not REUSE_TENSORS
            or self._buffer is None
            or self._buffer.device != device
            or self._buffer.dtype is not torch.get_default_dtype()
            or len(self.values) != len(self.keys)
        ):
            return False
        if self._buffer_count() != self._buffer_references or self._storage_count() != self._storage_uses:
            return False
        return _references(self.tensors) == _PRIVATE * len(self.tensors)

    def _rewrite(self, values: list[float]) -> None:
        host = self._host
        if host is not None:
            try:
                struct.pack_into(f"={len(values)}{host.typecode}", host, 0, *values)
                return
            except OverflowError:  # beyond float32's range, where ``array`` gives inf as torch does
                host[:] = array(host.typecode, values)
                return
        dtype = torch.get_default_dtype()
        self._buffer.copy_(torch.tensor(values, dtype=dtype))  # type: ignore[union-attr]

    def _replace(self, values: list[float], device: torch.device) -> None:
        dtype = torch.get_default_dtype()
        code = _ARRAY_CODES.get(dtype)
        if device.type == "cpu" and code is not None:
            self._host = array(code, values)
            self._install(torch.frombuffer(self._host, dtype=dtype))
        else:
            self._host = None
            self._install(torch.tensor(values, dtype=dtype).to(device))

    def _install(self, buffer: Tensor) -> None:
        self._buffer = buffer
        self.tensors = list(buffer.unbind())
        if REUSE_TENSORS:
            self._storage = compat.storage_handle(buffer)

    def _record_references(self) -> None:
        """What ``_unobserved`` compares with: the references to the buffer and its storage once ``publish``
        has installed it, counted by the same calls (how many references views and calls add varies with
        torch and Python: views keep the buffer's Python object alive from torch 2.5 on)."""
        self._buffer_references = self._buffer_count()
        self._storage_uses = self._storage_count()

    def _buffer_count(self) -> int:
        return sys.getrefcount(self._buffer)

    def _storage_count(self) -> int:
        return compat.storage_use_count(self._storage)  # type: ignore[misc]
