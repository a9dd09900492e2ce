"""``LRMonitor`` under two-process CPU DDP: rank zero logs each step once, every rank can monitor an lr."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("_ddp_monitor_script.py")
ROOT = Path(__file__).resolve().parents[2]
STEPS = 2 * 4  # EPOCHS * BATCHES_PER_RANK in the script


@pytest.mark.xdist_group("ddp")
@pytest.mark.timeout(180)
def test_ddp_logs_each_step_once_from_rank_zero(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert result.returncode == 0, result.stderr[-4000:]

    with Path(tmp_path, "ddp", "version_0", "metrics.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    steps = [int(row["step"]) for row in rows]
    assert sorted(steps) == list(range(STEPS)), "each step must be logged exactly once"
    for row in rows:
        step = int(row["step"])
        assert float(row["lr-SGD/body"]) == pytest.approx(0.1 * 0.5**step)
        assert float(row["lr-SGD/head"]) == pytest.approx(0.05 * 0.5**step)
        assert float(row["lr-SGD/body-momentum"]) == 0.9

    reports = [json.loads(Path(tmp_path, f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [report["logger_calls"] for report in reports] == [STEPS, 0]
    assert [report["process_group"] for report in reports] == [False, False], "destroyed before exit"
    for report in reports:
        assert report["lrs"]["lr-SGD/body"] == pytest.approx([0.1 * 0.5**s for s in range(STEPS)])
        assert report["callback_metrics"]["lr-SGD/body"] == pytest.approx(0.1 * 0.5 ** (STEPS - 1))
