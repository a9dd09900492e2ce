"""Trial builds at class definition, over stand-in parameters, against the optimizer built by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch.optim import Adam
from torch.optim.lr_scheduler import LambdaLR

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, ParamGroup, SchedulerSpec
from tests.helpers import Classifier, assert_same_weights, distributed_muon_steps, fit

pytorch_optimizer = pytest.importorskip("pytorch_optimizer")


@distributed_muon_steps
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


def _halving(epoch: int) -> float:
    return 0.5 ** (epoch + 1)


def test_the_trial_build_leaves_a_declared_tensor_lr_as_it_is() -> None:
    """The trial build at class definition schedules a copy of a tensor lr: a ``LambdaLR`` whose first factor is
    0.5 wrote 0.005 into the declared tensor (torch writes a tensor lr in place), and the fit then started at
    0.0025 instead of the hand-written module's 0.005."""
    lr = torch.tensor(0.01)

    class Declared(ConfigurableOptimizersMixin, Classifier):
        optimizer = OptimizerSpec(
            "adam", lr=lr, scheduler=SchedulerSpec("lambda", lr_lambda=_halving), implementation="forloop"
        )

    assert torch.equal(lr, torch.tensor(0.01))

    class HandWritten(Classifier):
        def configure_optimizers(self) -> Any:
            optimizer = Adam(self.parameters(), lr=torch.tensor(0.01), foreach=False)
            return {"optimizer": optimizer, "lr_scheduler": LambdaLR(optimizer, _halving)}

    ours, theirs = Declared(), HandWritten()
    assert fit(ours, max_epochs=3).history == fit(theirs, max_epochs=3).history
    assert_same_weights(ours, theirs)
    assert torch.equal(lr, torch.tensor(0.01))
