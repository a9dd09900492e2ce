"""``PublishedScalars``: tensors are rewritten in place only when nothing outside can observe them.

The reference is Lightning's own way, a fresh ``torch.tensor(value, device=...)`` per key per event:
whatever a caller holds must read exactly what it would read then, and the metrics dict must hold the
same values, dtype and device.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor

from lightning_optim.monitor.published import PublishedScalars
from tests.helpers import subnormals_representable

CPU = torch.device("cpu")
KEYS = ["lr-a", "lr-b", "lr-c"]


def lightning_tensor(value: float, device: torch.device = CPU) -> Tensor:
    """What Lightning's ``LearningRateMonitor`` writes for one value."""
    return torch.tensor(value, device=device)


def assert_published(metrics: dict[str, Tensor], values: list[float], device: torch.device = CPU) -> None:
    for key, value in zip(KEYS, values):
        expected = lightning_tensor(value, device)
        assert metrics[key].shape == expected.shape == ()
        assert metrics[key].dtype == expected.dtype
        assert metrics[key].device == expected.device
        assert torch.equal(metrics[key], expected), (key, metrics[key], expected)


@contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def test_unobserved_tensors_are_rewritten_in_place() -> None:
    metrics: dict[str, Tensor] = {}
    scalars = PublishedScalars(KEYS)
    scalars.publish(metrics, [0.1, 0.2, 0.3], CPU)
    ids = [id(metrics[key]) for key in KEYS]
    for step in range(1, 5):
        values = [0.1 * 0.9**step, 0.2, 0.3 / step]
        scalars.publish(metrics, values, CPU)
        assert [id(metrics[key]) for key in KEYS] == ids
        assert_published(metrics, values)


def test_values_taken_from_another_writer_are_replaced() -> None:
    """Lightning's monitor writing the same keys in between (as in the differential tests)."""
    metrics: dict[str, Tensor] = {}
    scalars = PublishedScalars(KEYS)
    for step in range(4):
        values = [0.1 * step, 0.2, 0.3]
        metrics.update({key: torch.tensor(-1.0) for key in KEYS})
        scalars.publish(metrics, values, CPU)
        assert_published(metrics, values)


# every way a caller can keep a published value, as ``(name, how to keep it, how to read it)``
HOLDERS: list[tuple[str, Callable[[dict[str, Tensor]], Any], Callable[[Any], float]]] = [
    ("tensor", lambda metrics: metrics["lr-b"], lambda held: held.item()),
    # EarlyStopping keeps ``callback_metrics[monitor].squeeze()`` as its best score
    ("squeeze view", lambda metrics: metrics["lr-b"].squeeze(), lambda held: held.item()),
    ("reshape view", lambda metrics: metrics["lr-b"].reshape(1), lambda held: held[0].item()),
    ("buffer", lambda metrics: metrics["lr-b"]._base, lambda held: held[1].item()),
    ("numpy", lambda metrics: metrics["lr-b"].numpy(), lambda held: float(held)),
    ("shallow dict copy", lambda metrics: dict(metrics), lambda held: held["lr-b"].item()),
    ("list of values", lambda metrics: list(metrics.values()), lambda held: held[1].item()),
    ("another key", lambda metrics: metrics.__setitem__("best", metrics["lr-b"]), lambda _: None),
]


@pytest.mark.parametrize(("name", "keep", "read"), HOLDERS, ids=[holder[0] for holder in HOLDERS])
def test_a_held_value_never_changes(
    name: str, keep: Callable[[dict[str, Tensor]], Any], read: Callable[[Any], float]
) -> None:
    metrics: dict[str, Tensor] = {}
    scalars = PublishedScalars(KEYS)
    scalars.publish(metrics, [0.1, 0.2, 0.3], CPU)
    scalars.publish(metrics, [0.1, 0.25, 0.3], CPU)
    held = keep(metrics)
    before = lightning_tensor(0.25).item()
    scalars.publish(metrics, [0.1, 0.5, 0.3], CPU)
    scalars.publish(metrics, [0.1, 0.75, 0.3], CPU)
    if name == "another key":
        assert metrics["best"].item() == before
    else:
        assert read(held) == before
    assert_published(metrics, [0.1, 0.75, 0.3])
    del held


def test_values_outside_float32_become_inf_as_with_torch_tensor() -> None:
    metrics: dict[str, Tensor] = {}
    scalars = PublishedScalars(KEYS)
    scalars.publish(metrics, [0.1, 0.2, 0.3], CPU)
    for values in ([1e39, -1e39, 0], [float("nan"), 1e-50, 2]):
        scalars.publish(metrics, values, CPU)
        for key, value in zip(KEYS, values):
            assert metrics[key].item() == pytest.approx(lightning_tensor(value).item(), nan_ok=True)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_default_dtype_is_followed_as_by_torch_tensor(dtype: torch.dtype) -> None:
    metrics: dict[str, Tensor] = {}
    scalars = PublishedScalars(KEYS)
    scalars.publish(metrics, [0.1, 0.2, 0.3], CPU)
    with default_dtype(dtype):
        for step in range(1, 4):
            values = [0.1 / step, 0.2, 0.3 * step]
            scalars.publish(metrics, values, CPU)
            assert_published(metrics, values)
    scalars.publish(metrics, [0.5, 0.2, 0.3], CPU)
    assert_published(metrics, [0.5, 0.2, 0.3])


ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("publish"), st.lists(st.floats(-1e40, 1e40), min_size=3, max_size=3)),
        st.tuples(st.just("keep"), st.sampled_from(range(len(HOLDERS) - 1))),
        st.tuples(st.just("release"), st.integers(0, 10)),
    ),
    max_size=30,
)


@subnormals_representable
@given(ACTIONS)
def test_any_sequence_of_events_reads_as_fresh_tensors(actions: list[tuple[str, Any]]) -> None:
    """Random publishing, keeping and releasing: every kept value and the dict read as Lightning's would."""
    metrics: dict[str, Tensor] = {}
    scalars = PublishedScalars(KEYS)
    values = [0.1, 0.2, 0.3]
    scalars.publish(metrics, values, CPU)
    kept: list[tuple[Any, Callable[[Any], float], float]] = []
    for action, argument in actions:
        if action == "publish":
            values = argument
            scalars.publish(metrics, values, CPU)
        elif action == "keep":
            _, keep, read = HOLDERS[argument]
            kept.append((keep(metrics), read, lightning_tensor(values[1]).item()))
        elif kept:
            kept.pop(argument % len(kept))
        for held, read, expected in kept:
            assert read(held) == pytest.approx(expected, nan_ok=True)
        assert_published(metrics, values)


def test_deepcopy_of_metrics_is_independent() -> None:
    """``ModelCheckpoint`` deep-copies ``callback_metrics``; the copy must not follow later values."""
    metrics: dict[str, Tensor] = {}
    scalars = PublishedScalars(KEYS)
    scalars.publish(metrics, [0.1, 0.2, 0.3], CPU)
    snapshot = copy.deepcopy(metrics)
    scalars.publish(metrics, [0.4, 0.5, 0.6], CPU)
    assert_published(snapshot, [0.1, 0.2, 0.3])
    assert_published(metrics, [0.4, 0.5, 0.6])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_values_are_rewritten_and_held_ones_kept() -> None:
    cuda = torch.device("cuda", torch.cuda.current_device())
    metrics: dict[str, Tensor] = {}
    scalars = PublishedScalars(KEYS)
    scalars.publish(metrics, [0.1, 0.2, 0.3], cuda)
    ids = [id(metrics[key]) for key in KEYS]
    scalars.publish(metrics, [0.4, 0.5, 0.6], cuda)
    assert [id(metrics[key]) for key in KEYS] == ids
    assert_published(metrics, [0.4, 0.5, 0.6], cuda)
    held = metrics["lr-b"].squeeze()
    scalars.publish(metrics, [0.7, 0.8, 0.9], cuda)
    assert held.item() == lightning_tensor(0.5).item()
    assert_published(metrics, [0.7, 0.8, 0.9], cuda)
