"""The README's examples run end to end (shortened to one epoch)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.xdist_group("examples")
def test_demo_prints_accuracy_and_learning_rates(tmp_path: Path) -> None:
    out = run("demo.py", "--max-epochs", "2", "--out", str(tmp_path))
    assert "epoch  0  val_acc=" in out
    assert "lr-optimizer/first_layer=" in out and "lr-optimizer/rest=" in out
    assert "final validation accuracy" in out
    # the group declared: 2 tensors, 8320 parameters, AdamW's two float32 moments and a step each, and the lr
    # OneCycleLR starts it from: its max_lr / div_factor = 3e-3 / 25
    assert ["first_layer", "2", "8320", str(2 * 8320 * 4 + 2 * 4), "0.00012"] in [
        line.split()[:5] for line in out.splitlines()
    ]
    assert "preview_schedule before training == LRMonitor during training: True" in out
    assert (tmp_path / "demo_lr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.xdist_group("examples")
def test_gan_prints_both_learning_rates_and_saves_a_grid(tmp_path: Path) -> None:
    png = tmp_path / "grid.png"
    out = run("gan.py", "--max-epochs", "1", "--out", str(png))
    # one epoch of 23 batches: the generator decayed 23 times, the discriminator once
    assert f"gen lr={0.01 * 0.99**23:.5f}" in out
    assert f"dis lr={0.02 * 0.99:.5f}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the hand-written manual loop it replaces trains the same GAN: the same losses and learning rates
    manual = run("gan.py", "--max-epochs", "1", "--manual", "--out", str(tmp_path / "manual.png"))
    epochs = [line for line in out.splitlines() if line.startswith("epoch")]
    assert epochs and epochs == [line for line in manual.splitlines() if line.startswith("epoch")]
