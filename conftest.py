"""Doctests of features a torch may lack are skipped there, as their tests are (``compat.TORCH_FEATURES``)."""

from __future__ import annotations

import pytest

from lightning_optim.utilities import compat

#: doctests that need a newer torch than the lowest supported one, by the feature they show
_DOCTESTS_NEEDING = {"lightning_optim.optimizers.muon_adamw.MuonWithAdamW": compat.MUON}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        feature = _DOCTESTS_NEEDING.get(item.name)
        if feature is not None and not compat.torch_at_least(feature.minimum):
            item.add_marker(pytest.mark.skip(reason=f"{feature.name} needs torch >= {feature.minimum}"))
