"""Doctests of features a torch may lack are skipped there, as their tests are (``compat.TORCH_FEATURES``), and so
are doctests whose output an older torch words otherwise or a peer that does not import there cannot show."""

from __future__ import annotations

import pytest
import torch

from lightning_optim.registry.optimizers import tensor_options
from lightning_optim.utilities import compat

#: doctests that need a newer torch than the lowest supported one, by the feature they show
_DOCTESTS_NEEDING = {"lightning_optim.optimizers.muon_adamw.MuonWithAdamW": compat.MUON}


#: doctests showing what ``implementation="compiled"`` holds as tensors: torch 2.4 types SGD's and RMSprop's
#: ``lr`` and Adam's ``betas`` as Python numbers, so there they print other options (as ``tests.helpers``'
#: ``compiled_holds_sgd_lr_and_adam_betas`` skips their tests)
_DOCTESTS_OF_TENSOR_OPTIONS = {
    "lightning_optim.registry.implementation.check_implementation",
    "lightning_optim.registry.implementation.compiled_schedule_problem",
    "lightning_optim.registry.implementation.held_as_tensors",
    "lightning_optim.registry.optimizers.tensor_options",
}


def _tensor_options_skipped() -> str | None:
    if "lr" in tensor_options(torch.optim.SGD) and "betas" in tensor_options(torch.optim.Adam):
        return None
    return f"torch {torch.__version__} types SGD's lr and Adam's betas as Python numbers (torch 2.4)"


def _torchao_skipped() -> str | None:
    try:
        import torchao.optim  # noqa: F401
    except Exception as error:  # missing, or built for another torch (it needs torch.int1 from 2.5 on)
        return f"torchao does not import here: {error}"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        feature = _DOCTESTS_NEEDING.get(item.name)
        if feature is not None and not compat.torch_at_least(feature.minimum):
            item.add_marker(pytest.mark.skip(reason=f"{feature.name} needs torch >= {feature.minimum}"))
        reason = None
        if item.name in _DOCTESTS_OF_TENSOR_OPTIONS:
            reason = _tensor_options_skipped()
        elif item.name.startswith("lightning_optim.registry.torchao."):
            reason = _torchao_skipped()
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))
