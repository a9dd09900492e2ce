"""What the README says Lightning itself does, checked against the installed Lightning.

The README's opening example contrasts a misspelled ``lnterval`` in a declaration (an error at class
definition) with the same key in a hand-written ``configure_optimizers``: Lightning warns, drops the key and
steps the schedule at its default interval, once per epoch.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.optim.lr_scheduler import StepLR

from tests.helpers import Classifier, fit


class Misspelled(Classifier):
    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.parameters(), lr=0.05)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": StepLR(optimizer, step_size=1), "lnterval": "step"},
        }


def test_lightning_warns_about_a_misspelled_key_drops_it_and_steps_per_epoch() -> None:
    with pytest.warns(
        RuntimeWarning, match=r"Found unsupported keys in the lr scheduler dict: \{'lnterval'\}"
    ):
        history = fit(Misspelled(), max_epochs=2).of()  # 4 batches per epoch
    assert history == pytest.approx([0.05] * 4 + [0.005] * 4)  # stepped once per epoch, not per step
