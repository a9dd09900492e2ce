"""The ``OptimizerSpec`` options that change the training step are checked when the class is defined."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lightning_optim import OptimizerSpec
from tests.helpers import declared


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"skip_nonfinite": -1}, ValueError, "Expected `skip_nonfinite` to be an int >= 0 .* but got -1"),
        ({"skip_nonfinite": True}, TypeError, "Expected `skip_nonfinite` to be an int >= 0 .* but got True"),
        ({"skip_nonfinite": 1.5}, TypeError, "Expected `skip_nonfinite` to be an int >= 0 .* but got 1.5"),
        ({"every": 0, "loss": "x"}, ValueError, r"Expected `every` to be an int >= 1 .* but got 0"),
        ({"every": "2", "loss": "x"}, TypeError, r"Expected `every` to be an int >= 1 .* but got '2'"),
        ({"every": 2}, ValueError, r"`every=2` steps the optimizer in the training step the mixin writes"),
        ({"loss": "my loss"}, TypeError, "Expected `loss` to be the name of a method .* but got 'my loss'"),
        ({"loss": 3}, TypeError, "Expected `loss` to be the name of a method .* but got 3"),
        (
            {"loss": "training_step"},
            ValueError,
            "Expected `loss` to name a method other than `training_step`",
        ),
    ],
)
def test_bad_values_are_refused_at_class_definition(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=rf"^Declared\.optimizer: {message}"):
        declared(OptimizerSpec("sgd", lr=0.1, **options))


@pytest.mark.parametrize("kind", [np.int64, np.int32])
def test_numpy_counts_are_accepted_and_checked_as_ints(kind: Any) -> None:
    """A sweep's ``skip_nonfinite``/``every`` as a numpy int is the count the Python int is: accepted in range,
    refused out of it, instead of refused as no int."""
    declared(OptimizerSpec("sgd", lr=0.1, skip_nonfinite=kind(2)))
    with pytest.raises(
        ValueError, match=r"Expected `skip_nonfinite` to be an int >= 0 .* but got np.int(64|32)\(-1\)"
    ):
        declared(OptimizerSpec("sgd", lr=0.1, skip_nonfinite=kind(-1)))
    with pytest.raises(ValueError, match=r"Expected `every` to be an int >= 1 .* but got np.int(64|32)\(0\)"):
        declared(OptimizerSpec("sgd", lr=0.1, every=kind(0), loss="x"))


def test_lbfgs_cannot_skip() -> None:
    with pytest.raises(
        ValueError, match=r"Declared\.optimizer: .* but got `LBFGS`, which evaluates its closure"
    ):
        declared(OptimizerSpec("lbfgs", skip_nonfinite=2))


def test_the_options_repr_and_defaults() -> None:
    assert (
        repr(OptimizerSpec("sgd", lr=0.1, skip_nonfinite=3))
        == "OptimizerSpec('sgd', lr=0.1, skip_nonfinite=3)"
    )
    assert repr(OptimizerSpec("sgd", lr=0.1)) == "OptimizerSpec('sgd', lr=0.1)"
