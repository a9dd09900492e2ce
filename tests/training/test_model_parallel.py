"""Under ``ModelParallelStrategy`` (FSDP2 ``fully_shard`` in ``configure_model``, two CPU processes) messages name
the user's class, not the one ``fully_shard`` swapped in."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

# one multi-process test at a time: the process groups of two would meet on Lightning's default port
pytestmark = [pytest.mark.xdist_group("ddp"), pytest.mark.slow, pytest.mark.timeout(900)]

SCRIPT = Path(__file__).with_name("_model_parallel_script.py")
ROOT = SCRIPT.parents[2]


def run(names: list[str], form: str, out: Path) -> None:
    """Run each of ``names`` (``_model_parallel_script.RUNS``) in its own processes, on a free port."""
    for name in names:
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(SCRIPT), name, form, str(out)],
            cwd=ROOT,
            env={**os.environ, "MASTER_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stderr[-4000:]


def test_refusal_names_the_users_class_not_the_one_fully_shard_swapped_in(tmp_path: Path) -> None:
    run(["mixin_first", "error"], "distributed", tmp_path)
    message = (tmp_path / "error.txt").read_text()
    assert message.startswith("Changed: Expected the checkpoint being resumed to come from the same"), message
