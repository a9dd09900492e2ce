"""Every monitor test runs over both ways ``PublishedScalars`` can publish: tensors rewritten in place when
nothing else holds them (the default where CPython and torch allow it), and fresh tensors at every event
(the fallback without torch's storage use count, or on a free-threaded Python)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lightning_optim.monitor import published


@pytest.fixture(params=["reuse", "fresh"])
def publish_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "reuse" and not published.REUSE_TENSORS:
        pytest.skip("this interpreter or torch cannot rewrite tensors in place")
    monkeypatch.setattr(published, "REUSE_TENSORS", request.param == "reuse")
    yield request.param
