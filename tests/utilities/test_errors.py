"""Near-miss suggestions: the candidate a user meant, as the declaration errors show it."""

from __future__ import annotations

import re

import pytest

from lightning_optim import OptimizerSpec
from tests.helpers import declared


@pytest.mark.parametrize(
    ("name", "message"),
    [
        # a swap of two neighbouring letters is one edit: `adam`, not `adamax` (difflib's pick)
        (
            "adma",
            "Expected a known optimizer name or a dotted import path but got 'adma' (did you mean `adam`?).",
        ),
        # the attribute that differs only in case, as Python's own AttributeError suggests
        ("torch.optim.adamw", "module `torch.optim` has no attribute `adamw` (did you mean `AdamW`?)"),
        ("torch.optim.SDG", "module `torch.optim` has no attribute `SDG` (did you mean `SGD`?)"),
    ],
)
def test_a_misspelt_optimizer_name_suggests_the_one_meant(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"Declared.optimizer: {message}")):
        declared(OptimizerSpec(name, lr=0.1))
