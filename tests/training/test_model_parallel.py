"""Resuming under ``ModelParallelStrategy`` (FSDP2 ``fully_shard`` in ``configure_model``, two CPU processes),
which loads the optimizer states itself before the mixin sees the checkpoint: ``"fresh"`` and ``"continue"`` do
what they do where Lightning restores them, a hand-written module's distributed checkpoint resumes exactly, a
weights-only checkpoint is refused or resumed as under DDP, and messages name the user's class, not the one
``fully_shard`` swapped in."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.helpers import needs_fsdp2_on_cpu

# one multi-process test at a time: the process groups of two would meet on Lightning's default port
pytestmark = [pytest.mark.xdist_group("ddp"), pytest.mark.slow, pytest.mark.timeout(900), needs_fsdp2_on_cpu]

SCRIPT = Path(__file__).with_name("_model_parallel_script.py")
ROOT = SCRIPT.parents[2]
FORMATS = ["distributed", "file"]


def launch(args: list[str]) -> str:
    """Run the Python script ``args`` (its path, then its arguments) in processes of its own, on a free port; its
    standard output."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    result = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, "MASTER_PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def run(names: list[str], form: str, out: Path) -> None:
    """Run each of ``names`` (``_model_parallel_script.RUNS``) in its own processes, on a free port."""
    for name in names:
        launch([str(SCRIPT), name, form, str(out)])


def report(out: Path, name: str) -> dict[str, Any]:
    return json.loads((out / f"{name}.json").read_text())


def flat(history: list[list[list[float]]]) -> list[float]:
    return [lr for step in history for groups in step for lr in groups]


def step_lr(lrs: list[float], steps: int, start: int = 0) -> list[list[list[float]]]:
    """The groups' lrs before each of ``steps`` steps from ``start`` of a torch ``StepLR(2, 0.5)`` from ``lrs``."""
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    optimizer = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)])
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 2, 0.5)
    history = []
    for _ in range(start + steps):
        history.append([[g["lr"] for g in optimizer.param_groups]])
        optimizer.step()
        scheduler.step()
    return history[start:]


@pytest.mark.parametrize("form", FORMATS)
def test_changed_setup_resumes_fresh_or_continues_as_where_lightning_restores_the_states(
    form: str, tmp_path: Path
) -> None:
    run(["mixin_first", "fresh", "continue"], form, tmp_path)
    declared = [0.02, 0.02, 0.1, 0.1]  # group `a` (and its no_decay half) now at 0.02, the rest at 0.1

    fresh = report(tmp_path, "fresh")
    # every optimizer and schedule anew: the schedule from its start, Adam's moments from the resumed step
    assert flat(fresh["lrs"]) == pytest.approx(flat(step_lr(declared, 4)))
    assert fresh["steps"] == [4.0] * 4

    kept = report(tmp_path, "continue")
    # the moments kept, the schedule as now declared evaluated at the resumed step
    assert flat(kept["lrs"]) == pytest.approx(flat(step_lr(declared, 4, start=4)))
    assert kept["steps"] == [8.0] * 4


def test_refusal_names_the_users_class_not_the_one_fully_shard_swapped_in(tmp_path: Path) -> None:
    run(["mixin_first", "error"], "distributed", tmp_path)
    message = (tmp_path / "error.txt").read_text()
    assert message.startswith("Changed: Expected the checkpoint being resumed to come from the same"), message


def test_a_group_declared_since_the_distributed_checkpoint_resumes_as_where_lightning_restores_the_states(
    tmp_path: Path,
) -> None:
    # torch's distributed checkpoint asks for the options of every live group: the added one's are not in it
    run(["fewer_first", "added_error", "added_fresh", "added_continue"], "distributed", tmp_path)
    message = (tmp_path / "added_error.txt").read_text()
    assert message.startswith("Added: Expected the checkpoint being resumed to come from the same"), message
    declared = [
        0.02,
        0.05,
        0.1,
    ]  # `b.bias` in a group of its own, declared before `a`; the rest is `b.weight`

    fresh = report(tmp_path, "added_fresh")
    assert flat(fresh["lrs"]) == pytest.approx(flat(step_lr(declared, 4)))
    assert fresh["steps"] == [4.0] * 4

    kept = report(tmp_path, "added_continue")
    assert flat(kept["lrs"]) == pytest.approx(flat(step_lr(declared, 4, start=4)))
    # group `a` (now the second) keeps its moments; `b`'s parameters are in changed groups and start afresh
    assert sorted(kept["steps"]) == [4.0, 4.0, 8.0, 8.0]


def test_a_group_added_during_training_that_is_not_back_is_refused(tmp_path: Path) -> None:
    # the strategy loads the state by the live groups and would leave the added one out, `b` untrained
    run(["unfreezes_first", "unfreezes_resumed"], "distributed", tmp_path)
    message = (tmp_path / "unfreezes_resumed.txt").read_text()
    assert message.startswith(
        "Unfreezes.optimizer: Expected the param group added to the optimizer during training that the checkpoint "
        "holds (group 1: 2 parameter tensors) to be back in it"
    ), message


def test_a_ddp_checkpoint_whose_optimizer_holds_the_parameters_in_another_order_is_refused(
    tmp_path: Path,
) -> None:
    # Lightning maps its positions to the parameters by `module.parameters()`: `b.bias`'s moments would go to `a.weight`
    run(["added_ddp_first", "added_from_ddp"], "file", tmp_path)
    message = (tmp_path / "added_from_ddp.txt").read_text()
    assert message.startswith(
        "Added.optimizer: Expected a checkpoint whose optimizer state is keyed by parameter name to resume under "
        "`ModelParallelStrategy`"
    ), message
    assert "(b.bias, a.weight, a.bias, ... out of place)" in message, message


def test_hand_written_distributed_checkpoint_resumes_exactly(tmp_path: Path) -> None:
    # torch's distributed checkpoint asks for every key of the live optimizer's state: the group names too
    run(["hand_full", "hand_first", "mixin_resumed"], "distributed", tmp_path)
    uninterrupted, first = report(tmp_path, "hand_full"), report(tmp_path, "hand_first")
    resumed = report(tmp_path, "mixin_resumed")

    assert first["lrs"] + resumed["lrs"] == uninterrupted["lrs"]
    assert resumed["weights"] == uninterrupted["weights"]


@pytest.mark.parametrize("form", FORMATS)
def test_a_weights_only_checkpoint_is_refused_or_resumed_with_fresh_optimizers_as_under_ddp(
    form: str, tmp_path: Path
) -> None:
    """Was: the strategy's load asked the checkpoint for the optimizer states it does not hold (Lightning's
    `KeyError: 'optimizer_states'` from one file, torch's "Missing key in checkpoint state_dict: optimizer_0..."
    from a distributed checkpoint) under every `resume_changed_setup`, and Lightning calls no callback's
    `on_load_checkpoint` for a weights-only checkpoint."""
    run(
        ["weights_first", "weights_error", "weights_fresh", "weights_continue", "hand_weights"],
        form,
        tmp_path,
    )
    message = (tmp_path / "weights_error.txt").read_text()
    assert message.startswith(
        "Mixin: Expected a checkpoint holding the optimizer and scheduler states to resume from but got a "
        "weights-only checkpoint"
    ), message
    declared = [0.05, 0.05, 0.1, 0.1]

    # every optimizer and schedule anew from the checkpoint's weights: the hand-written module given those weights
    # before a new fit
    fresh, hand = report(tmp_path, "weights_fresh"), report(tmp_path, "hand_weights")
    assert flat(fresh["lrs"]) == pytest.approx(flat(step_lr(declared, 4)))
    assert fresh["steps"] == hand["steps"] == [4.0] * 4
    assert fresh["lrs"] == hand["lrs"]
    assert fresh["weights"] == hand["weights"]

    # the optimizers anew (no state to keep), the schedule evaluated at the checkpoint's step
    kept = report(tmp_path, "weights_continue")
    assert flat(kept["lrs"]) == pytest.approx(flat(step_lr(declared, 4, start=4)))
    assert kept["steps"] == [4.0] * 4


def one_process(run: str) -> dict[str, Any]:
    """``_model_parallel_one_process.py``'s ``run`` in a process of its own, on a free port."""
    stdout = launch([str(SCRIPT.with_name("_model_parallel_one_process.py")), run])
    return json.loads(stdout.strip().splitlines()[-1])


def test_a_fit_without_a_checkpoint_or_a_batch_keeps_the_group_names_in_the_saved_state() -> None:
    # the names are left out of `state_dict()` only while the strategy loads a checkpoint; before, every fit set
    # that on, and one that never reached `on_train_start` (no batch to train) left it on: saved names [None, None]
    names = one_process("names")
    assert names["live"] == names["state_dict"] == names["checkpoint"] == ["a", "rest"]


def test_a_refusal_when_fit_starts_names_the_users_class() -> None:
    # `fully_shard(self)` swaps the module's class for `FSDPSelectsNothing`; the declarations are read from the
    # user's class, and messages name it
    message = one_process("refusal")["message"]
    assert message is not None and message.startswith("SelectsNothing.optimizer.groups[0]"), message
