"""Declared keyword arguments against the class's signature and, for a class taking ``**kwargs``, its source."""

from __future__ import annotations

import pytest

from lightning_optim import OptimizerSpec
from tests.helpers import declared

pytorch_optimizer = pytest.importorskip("pytorch_optimizer")


def test_a_misspelt_option_the_constructor_reads_from_its_kwargs_gets_it_suggested_and_listed() -> None:
    """``ScheduleFreeAdamW`` reads ``use_palm`` from its ``**kwargs`` (``kwargs.get('use_palm', False)``): a
    misspelling is told the name meant, and the accepted arguments list it with the signature's."""
    with pytest.raises(
        TypeError,
        match=r"Declared\.optimizer: `ScheduleFreeAdamW` got an unexpected argument `use_plam` "
        r"\(did you mean `use_palm`\?\) \(it takes `\*\*kwargs` but never reads `use_plam`\)\. "
        r"Accepted arguments: `lr`, .*, `use_palm`\.$",
    ):
        declared(OptimizerSpec("pytorch_optimizer/schedulefreeadamw", lr=1e-2, use_plam=True))
    module = declared(OptimizerSpec("pytorch_optimizer/schedulefreeadamw", lr=1e-2, use_palm=True))()
    (group,) = module.configure_optimizers()["optimizer"].param_groups
    assert group["use_palm"] is True
