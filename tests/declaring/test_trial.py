"""Trial builds at class definition, over stand-in parameters, against the optimizer built by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, ParamGroup
from tests.helpers import Classifier, assert_same_weights, fit

pytorch_optimizer = pytest.importorskip("pytorch_optimizer")


def test_an_optimizer_needing_a_process_group_is_built_when_fit_starts(tmp_path: Path) -> None:
    """``DistributedMuon`` asks for the world size when built, and under DDP a module's class is defined before
    Lightning starts the process group: the class definition is accepted (was: "Default process group has not
    been initialized"), and in a process group (gloo, one process) it trains as the hand-written module; without
    one, ``fit`` refuses it in torch's words."""

    class Declared(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(
            "pytorch_optimizer/distributedmuon",
            lr=0.02,
            use_muon=False,
            groups=[ParamGroup("*.weight", use_muon=True)],
        )

    class HandWritten(Classifier):
        def configure_optimizers(self) -> Any:
            named = list(self.named_parameters())
            return pytorch_optimizer.load_optimizer("distributedmuon")(
                [
                    {"params": [p for n, p in named if n.endswith(".weight")], "use_muon": True},
                    {"params": [p for n, p in named if not n.endswith(".weight")], "use_muon": False},
                ],
                lr=0.02,
            )

    with pytest.raises(
        ValueError,
        match=r"Declared\.optimizer: `DistributedMuon` rejected the declared options: Default process group has "
        "not been initialized",
    ):
        fit(Declared(), max_epochs=1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0, world_size=1)
    try:
        ours, theirs = Declared(), HandWritten()
        assert fit(ours, max_epochs=2).history == fit(theirs, max_epochs=2).history
        assert_same_weights(ours, theirs)
    finally:
        torch.distributed.destroy_process_group()
