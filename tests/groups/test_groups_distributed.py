"""Strategies that wrap the model do not change what a selector means (real multi-process runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

# one multi-process test at a time: the process groups of two would meet on Lightning's default port
pytestmark = pytest.mark.xdist_group("ddp")

SCRIPT = Path(__file__).with_name("groups_distributed_script.py")
ROOT = SCRIPT.parents[2]

#: what every rank must build: the user's selectors on the user's names, split by `no_decay=("bias",)`
EXPECTED = [
    {"name": "layer1", "params": ["model_gen.layer1.weight"], "lr": 0.5, "wd": 0.01},
    {"name": "layer1/no_decay", "params": ["model_gen.layer1.bias"], "lr": 0.5, "wd": 0.0},
    {"name": "rest", "params": ["model_gen.layer2.weight"], "lr": 0.1, "wd": 0.01},
    {"name": "rest/no_decay", "params": ["model_gen.layer2.bias"], "lr": 0.1, "wd": 0.0},
]


def run_ranks(tmp_path: Path, strategy: str, ranks: int) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path), strategy],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(ranks)]


def test_ddp_ranks_build_the_declared_groups_on_the_users_names(tmp_path: Path) -> None:
    reports = run_ranks(tmp_path, "ddp", ranks=2)
    for report in reports:
        assert report["world_size"] == 2
        assert report["wrapper"] == "DistributedDataParallel"
        # the strategy's wrapper prefixes every name; the selectors never saw that prefix
        assert all(name.startswith("module.") for name in report["wrapped_names"])
        assert report["groups"] == EXPECTED


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fsdp_auto_wrapped_module_builds_the_declared_groups(tmp_path: Path) -> None:
    ranks = min(2, torch.cuda.device_count())
    for report in run_ranks(tmp_path, "fsdp", ranks=ranks):
        assert any("_fsdp_wrapped_module" in name for name in report["wrapped_names"])
        assert [(g["name"], g["params"], g["lr"], g["wd"]) for g in report["groups"]] == [
            (g["name"], g["params"], g["lr"], g["wd"]) for g in EXPECTED
        ]
