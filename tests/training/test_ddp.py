"""Declared modules under two-process CPU DDP: identical schedules on both ranks, each step logged once, and
a rank that fails ends the run with its error instead of hanging."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).with_name("_ddp_script.py")
ROOT = Path(__file__).resolve().parents[2]
BATCHES, EPOCHS = 4, 2  # BATCHES_PER_RANK and EPOCHS in the script
STEPS = BATCHES * EPOCHS
TIMEOUT = 240


def run(case: str, out: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(SCRIPT), case, str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    return result, time.monotonic() - start


def flat(history: list[list[list[float]]]) -> list[float]:
    return [lr for step in history for groups in step for lr in groups]


def reports(out: Path) -> list[dict[str, Any]]:
    return [json.loads(Path(out, f"rank{rank}.json").read_text()) for rank in (0, 1)]


def errors(out: Path) -> list[str]:
    """Each rank's error, as the script's ``Errors`` callback wrote it."""
    return [Path(out, f"error{rank}.txt").read_text() for rank in (0, 1)]


def logged(out: Path) -> list[dict[str, Any]]:
    with Path(out, "ddp", "version_0", "metrics.csv").open(newline="") as file:
        return list(csv.DictReader(file))


# the lr of every group of every optimizer before each batch, the same on both ranks
GOLDEN = {
    # one SGD, groups [head (0.05), rest (0.1)], ExponentialLR(0.5) stepped after every optimizer step
    "single": [[[0.05 * 0.5**s, 0.1 * 0.5**s]] for s in range(STEPS)],
    # gen_opt: ExponentialLR(0.5) per step; dis_opt: StepLR(1, 0.1) per epoch, stepped by the mixin
    "gan": [[[0.01 * 0.5**s], [0.02 * 0.1 ** (s // BATCHES)]] for s in range(STEPS)],
}
KEYS = {"single": ["lr-optimizer/head", "lr-optimizer/rest"], "gan": ["lr-gen_opt", "lr-dis_opt"]}


@pytest.mark.xdist_group("ddp")
@pytest.mark.timeout(TIMEOUT + 30)
@pytest.mark.parametrize("case", ["single", "gan"])
def test_schedules_step_identically_on_both_ranks_and_log_once(case: str, tmp_path: Path) -> None:
    result, _ = run(case, tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]

    ranks = [json.loads(Path(tmp_path, f"rank{rank}.json").read_text()) for rank in (0, 1)]
    for report in ranks:
        assert flat(report["history"]) == pytest.approx(flat(GOLDEN[case]))
        assert not report["process_group"], "each rank exits without its gloo group (tests.helpers)"
    assert ranks[0]["history"] == ranks[1]["history"]
    assert ranks[0]["weights"] == ranks[1]["weights"], "DDP keeps the replicas identical"

    rows = logged(tmp_path)
    assert sorted(int(row["step"]) for row in rows) == list(range(STEPS)), "each step logged exactly once"
    for row in rows:
        lrs = [float(row[key]) for key in KEYS[case]]
        assert lrs == pytest.approx(flat([GOLDEN[case][int(row["step"])]]))


@pytest.mark.xdist_group("ddp")
@pytest.mark.timeout(TIMEOUT + 30)
def test_a_failing_rank_ends_the_run_with_its_error(tmp_path: Path) -> None:
    result, seconds = run("fault", tmp_path)
    assert result.returncode != 0
    assert "RuntimeError: rank 1 fails at batch 2" in result.stderr
    assert not list(tmp_path.glob("rank*.json")), "no rank may finish training"
    # a hang would be cut by the timeout; finishing well within it shows the other rank was released
    assert seconds < TIMEOUT / 2


@pytest.mark.xdist_group("ddp")
@pytest.mark.timeout(2 * TIMEOUT + 30)
def test_a_plateau_metric_logged_per_rank_drifts_the_replicas_apart_by_hand_and_is_refused(
    tmp_path: Path,
) -> None:
    """Logged without ``sync_dist``, each rank steps the plateau on its own loss: a hand-written module trains
    the replicas apart without a word (Lightning warns only for metrics logged per epoch). The mixin refuses it
    at the first plateau step, in automatic and manual optimization; with ``sync_dist=True`` the ranks agree."""
    result, _ = run("hand_unsynced", tmp_path / "hand")
    assert result.returncode == 0, result.stderr[-4000:]
    hand = [json.loads(Path(tmp_path, "hand", f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert hand[0]["history"] != hand[1]["history"], "each rank reduced its lr on its own loss"
    assert hand[0]["weights"] != hand[1]["weights"]

    for case, where in (
        ("plateau_unsynced", "PlateauUnsynced.optimizer"),
        ("gan_unsynced", "GANUnsynced.gen_opt"),
    ):
        result, _ = run(case, tmp_path / case)
        assert result.returncode != 0
        first, second = errors(tmp_path / case)
        assert first == second, "every rank refuses it alike, with the values of all"
        assert first.startswith(
            f"ValueError: {where}.scheduler: Expected `train_loss`, which `ReduceLROnPlateau` monitors, to have "
            "the same value on all 2 processes (log it with `self.log('train_loss', ..., sync_dist=True)`) but "
            "got "
        ), first
        assert re.search(r"but got \S+ on rank 0, \S+ on rank 1, logged without `sync_dist`", first), first

    result, _ = run("plateau_synced", tmp_path / "synced")
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = [json.loads(Path(tmp_path, "synced", f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert ranks[0]["history"] == ranks[1]["history"]
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert flat(ranks[0]["history"])[-1] < 0.1, "the plateau reduced the lr"


@pytest.mark.xdist_group("ddp")
@pytest.mark.timeout(4 * TIMEOUT + 30)
def test_a_plateau_metric_the_same_on_every_rank_without_sync_dist_trains_as_by_hand(tmp_path: Path) -> None:
    """A metric logged without ``sync_dist`` but the same on every rank (an ``all_gather``'d mean) steps the
    plateau alike everywhere: the mixin trains as the hand-written module does, in automatic and manual
    optimization, instead of refusing it as a metric each rank holds its own of."""
    ranks = {}
    for case in ("hand_gathered", "plateau_gathered", "hand_gan_gathered", "gan_gathered"):
        result, _ = run(case, tmp_path / case)
        assert result.returncode == 0, result.stderr[-4000:]
        ranks[case] = reports(tmp_path / case)
        assert ranks[case][0]["history"] == ranks[case][1]["history"]
        assert ranks[case][0]["weights"] == ranks[case][1]["weights"]

    for hand, mixin in (("hand_gathered", "plateau_gathered"), ("hand_gan_gathered", "gan_gathered")):
        assert ranks[mixin][0]["history"] == ranks[hand][0]["history"]
        for name, weights in ranks[hand][0]["weights"].items():  # Adam's update here may differ by an ulp
            assert ranks[mixin][0]["weights"][name] == pytest.approx(weights, rel=1e-6, abs=1e-7)
        lrs = [step[0][0] for step in ranks[mixin][0]["history"]]
        assert lrs[-1] < lrs[0], "the plateau reduced the lr"


@pytest.mark.xdist_group("ddp")
@pytest.mark.timeout(TIMEOUT + 30)
def test_a_plateau_metric_logged_with_rank_zero_only_is_refused_by_rank_0_at_once(tmp_path: Path) -> None:
    """Logged with ``rank_zero_only=True`` (here on rank 0 only, manual optimization), the metric steps the
    plateau on rank 0 alone: rank 0 refuses it without waiting for the others, which may never log it."""
    result, _ = run("gan_rank0", tmp_path)
    assert result.returncode != 0
    error = Path(tmp_path, "error0.txt").read_text()
    assert error.startswith(
        "ValueError: GANRank0.gen_opt.scheduler: Expected `train_loss`, which `ReduceLROnPlateau` monitors, to "
        "have the same value on all 2 processes (log it with `self.log('train_loss', ..., sync_dist=True)`) but "
        "got it logged with `rank_zero_only=True`, which tells Lightning it is logged on rank 0 only"
    ), error


@pytest.mark.xdist_group("ddp")
@pytest.mark.timeout(TIMEOUT + 30)
def test_a_plateau_metric_logged_on_rank_0_only_is_refused_alike_on_every_rank(tmp_path: Path) -> None:
    """Logged on rank 0 only (without ``rank_zero_only``), the metric steps the plateau there alone: every rank
    refuses it with the same error, which says so (rank 1 said "not logged ... Logged metrics: none", rank 0
    "log it with `sync_dist=True`")."""
    result, _ = run("plateau_rank0", tmp_path)
    assert result.returncode != 0
    first, second = errors(tmp_path)
    assert first == second, (first, second)
    assert first.startswith(
        "ValueError: PlateauRank0.optimizer.scheduler: Expected `train_loss`, which `ReduceLROnPlateau` monitors, "
        "to have the same value on all 2 processes (log it with `self.log('train_loss', ..., sync_dist=True)`) "
        "but got it logged on rank 0 only ("
    ), first
    assert "Log it on every process (not only under `if self.trainer.is_global_zero:`)" in first


@pytest.mark.xdist_group("ddp")
@pytest.mark.timeout(TIMEOUT + 30)
def test_a_per_epoch_lenient_plateau_metric_logged_on_rank_0_only_is_refused_alike_on_every_rank(
    tmp_path: Path,
) -> None:
    """With ``strict=False`` the process missing the metric would skip the update and leave rank 0 waiting
    in its gather for ever; per epoch it joins the gather, and every rank refuses alike."""
    result, _ = run("plateau_rank0_lenient", tmp_path)
    assert result.returncode != 0
    first, second = errors(tmp_path)
    assert first == second, (first, second)
    assert "but got it logged on rank 0 only (" in first, first


@pytest.mark.xdist_group("ddp")
@pytest.mark.timeout(2 * TIMEOUT + 30)
def test_a_shape_derived_from_per_rank_data_of_different_lengths_is_refused_alike_on_every_rank(
    tmp_path: Path,
) -> None:
    """With the distributed sampler off and per-rank data of different lengths (6 batches per epoch on rank 0,
    4 on rank 1), a cosine over 2 epochs stepped per step converts them with each rank's own batches: `T_max` 12
    steps on rank 0, 8 on rank 1, and the replicas would train apart (as a hand-written module's do). Every rank
    refuses it when training starts, with each rank's numbers; with `limit_train_batches` giving every rank as
    many batches, the ranks agree and train the cosine over 8 steps."""
    result, _ = run("uneven", tmp_path / "uneven")
    trained = list(Path(tmp_path, "uneven").glob("rank*.json"))
    assert result.returncode != 0, f"trained without a word: {[p.read_text()[:300] for p in trained]}"
    first, second = errors(tmp_path / "uneven")
    assert first == second, (first, second)
    assert first.startswith(
        "ValueError: Uneven.optimizer.scheduler: Expected the shape `CosineAnnealingLR` takes from the run to be the "
        "same on all 2 processes but got steps per epoch: 6 on rank 0, 4 on rank 1; `T_max`: 12 on rank 0, 8 on "
        "rank 1 (from `T_max=2` in epochs). Each process derives it from its own run, and theirs have different numbers of training batches "
        "per epoch (6 on rank 0, 4 on rank 1), as per-rank data of different lengths under "
        "`use_distributed_sampler=False` gives"
    ), first
    assert "(`limit_train_batches`), or declare the schedule in steps." in first, first
    assert not trained, "no rank took a step"

    result, _ = run("uneven_limited", tmp_path / "limited")
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = reports(tmp_path / "limited")
    cosine = [[[0.1 * (1 + math.cos(math.pi * s / STEPS)) / 2]] for s in range(STEPS)]
    for report in ranks:
        assert flat(report["history"]) == pytest.approx(flat(cosine))
    assert ranks[0]["weights"] == ranks[1]["weights"]


@pytest.mark.xdist_group("ddp")
@pytest.mark.timeout(TIMEOUT + 30)
def test_epoch_valued_milestones_derived_from_per_rank_data_of_different_lengths_are_refused_with_each_rank_s(
    tmp_path: Path,
) -> None:
    """MultiStepLR's milestones, a list, declared in epochs and stepped per step on per-rank data of different
    lengths: every rank refuses it with each rank's milestones in steps (the values of the refusal are lists,
    told apart without hashing them)."""
    result, _ = run("uneven_milestones", tmp_path)
    assert result.returncode != 0, "trained without a word"
    first, second = errors(tmp_path)
    assert first == second, (first, second)
    assert first.startswith(
        "ValueError: UnevenMilestones.optimizer.scheduler: Expected the shape `MultiStepLR` takes from the run to be "
        "the same on all 2 processes but got steps per epoch: 6 on rank 0, 4 on rank 1; `milestones`: [6] on rank 0, "
        "[4] on rank 1 (from `milestones=[1]` in epochs)."
    ), first
    assert not list(tmp_path.glob("rank*.json")), "no rank took a step"
