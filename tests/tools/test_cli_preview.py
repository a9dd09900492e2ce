"""``python -m lightning_optim preview``: real subprocesses for success and failure, ``main()`` per error."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import lightning as L
import pytest
from torch import nn

from lightning_optim import ConfigurableOptimizersMixin, OptimizerSpec, SchedulerSpec
from lightning_optim.tools.preview_cli import main

ROOT = Path(__file__).resolve().parents[2]


class Sized(ConfigurableOptimizersMixin, L.LightningModule):
    """Needs a constructor argument: ``--init-args '{"width": 4}'``."""

    optimizer = OptimizerSpec("sgd", lr=1.0, scheduler=SchedulerSpec("step", step_size=2, gamma=0.5))

    def __init__(self, width: int) -> None:
        super().__init__()
        self.net = nn.Linear(width, 1)


class Plain(L.LightningModule):
    pass


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "lightning_optim", "preview", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_preview_prints_the_regimes_and_writes_the_plot(tmp_path: Path) -> None:
    from matplotlib.image import imread

    png = tmp_path / "schedule.png"
    result = run_cli(
        "examples.schedules:WarmupCosine", "--max-epochs", "20", "--steps-per-epoch", "50", "--png", str(png)
    )
    assert result.returncode == 0, result.stderr
    # a linear warmup over 100 steps to 1e-4 / 1e-3, then a cosine to eta_min=1e-6 over 900 steps
    assert result.stdout.splitlines()[:6] == [
        "WarmupCosine.optimizer.scheduler: SequentialLR(schedulers=[LinearLR(start_factor=0.01, total_iters=100), "
        "CosineAnnealingLR(T_max=900, eta_min=1e-06)], milestones=[100]), every step",
        "1000 optimizer steps, 50 per epoch",
        "step  epoch  lr-optimizer/backbone  lr-optimizer/head",
        "   0      0                  1e-06              1e-05",
        " 100      2                 0.0001              0.001",
        " 999     19             1.0003e-06        1.00304e-06",
    ]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(png)
    assert image.shape[:2] == (450, 800)
    assert image.std() > 0.01  # not blank


def test_a_bad_import_path_is_a_clean_error() -> None:
    result = run_cli("examples.no_such_module:Net", "--max-epochs", "2", "--steps-per-epoch", "3")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "error: cannot import `examples.no_such_module`" in result.stderr


def test_a_declaration_error_at_import_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken_declaration.py").write_text(
        textwrap.dedent(
            """
            import lightning as L
            from lightning_optim import ConfigurableOptimizersMixin
            from lightning_optim import OptimizerSpec
            from lightning_optim import SchedulerSpec

            class Broken(ConfigurableOptimizersMixin, L.LightningModule):
                scheduler = SchedulerSpec("step", step_size=3, lnterval="step")
                optimizer = OptimizerSpec("adam", scheduler=scheduler)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SystemExit) as exit_info:
        main(["preview", "broken_declaration:Broken", "--max-epochs", "2", "--steps-per-epoch", "3"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert (
        "importing `broken_declaration` failed: TypeError: Broken.optimizer.scheduler: `StepLR` got an "
        in error
    )
    assert "(did you mean `interval`?)" in error


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nocolon"], r"Expected MODULE:CLASS \(e.g. `my_package.models:Net`\) but got 'nocolon'"),
        (
            ["tests.tools.test_cli_preview:Missing"],
            r"module `tests.tools.test_cli_preview` has no attribute `Missing`",
        ),
        (["tests.tools.test_cli_preview:Size"], r"has no attribute `Size` .*\(did you mean `Sized`\?\)"),
        (
            ["tests.tools.test_cli_preview:ROOT"],
            r"Expected 'tests.tools.test_cli_preview:ROOT' to be a class but got PosixPath",
        ),
        (["tests.tools.test_cli_preview:Plain"], r"Expected a ConfigurableOptimizersMixin module class but "),
        (["tests.tools.test_cli_preview:Sized"], r"`Sized\(\*\*\{\}\)` failed: .*width.*--init-args"),
        (
            ["tests.tools.test_cli_preview:Sized", "--init-args", "{width: 4}"],
            r"Expected --init-args to be a JSON object",
        ),
        (
            ["tests.tools.test_cli_preview:Sized", "--init-args", "[4]"],
            r"Expected --init-args to be a JSON object but got '\[4\]'",
        ),
        (
            ["tests.tools.test_cli_preview:Sized", "--init-args", '{"widht": 4}'],
            r"unexpected keyword argument 'widht'",
        ),
        (
            ["tests.tools.test_cli_preview:Sized", "--init-args", '{"width": 4}', "--max-steps", "0"],
            r"Expected `max_steps`",
        ),
        (
            ["tests.tools.test_cli_preview:Sized", "--max-rows", "1"],
            r"Expected --max-rows to be at least 2 but got 1",
        ),
    ],
)
def test_usage_errors_exit_with_code_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["preview", *args, "--max-epochs", "2", "--steps-per-epoch", "3"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("python -m lightning_optim preview: error: ")
    assert __import__("re").search(message, error), error


def test_init_args_and_run_options(capsys: pytest.CaptureFixture[str]) -> None:
    # StepLR(step_size=2, gamma=0.5) per epoch; 4 batches with accumulation 2 -> 2 optimizer steps per epoch
    code = main(
        ["preview", "tests.tools.test_cli_preview:Sized", "--init-args", '{"width": 4}', "--max-epochs", "6",
         "--steps-per-epoch", "4", "--accumulate-grad-batches", "2", "--max-steps", "9"]
    )  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "Sized.optimizer.scheduler: StepLR(step_size=2, gamma=0.5), every epoch",
        "9 optimizer steps, 2 per epoch",
        "step  epoch  lr-optimizer",
        "   0      0             1",
        "   4      2           0.5",
        "   8      4          0.25",
    ]


class Phased(ConfigurableOptimizersMixin, L.LightningModule):
    """A warmup window, then a cosine to the end of the run: a composed schedule."""

    optimizer = OptimizerSpec(
        "sgd",
        lr=0.1,
        scheduler=[
            SchedulerSpec("linear", start_factor=0.1, end=4, interval="step"),
            SchedulerSpec("cosine", begin=4, interval="step"),
        ],
    )

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(2, 2)


def test_preview_shows_a_composed_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["preview", "tests.tools.test_cli_preview:Phased", "--max-epochs", "2", "--steps-per-epoch", "6"]
    )
    assert code == 0
    # LinearLR from 0.01 to 0.1 over updates [0, 4) (total_iters = 4 - 0 - 1), then a cosine over [4, 12)
    assert capsys.readouterr().out.splitlines() == [
        "Phased.optimizer.scheduler[0]: LinearLR(start_factor=0.1), every step, window [0, 4), "
        "`total_iters` derived from the run",
        "Phased.optimizer.scheduler[1]: CosineAnnealingLR(), every step, window [4, end of run), "
        "`T_max` derived from the run",
        "12 optimizer steps, 6 per epoch",
        "step  epoch  lr-optimizer",
        "   0      0          0.01",
        "   3      0           0.1",
        "   4      0           0.1",
        "  11      1    0.00380602",
    ]


def test_missing_matplotlib_is_a_clean_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "preview",
                "examples.schedules:OneCycle",
                "--max-epochs",
                "2",
                "--steps-per-epoch",
                "3",
                "--png",
                str(tmp_path / "x.png"),
            ]
        )
    assert exit_info.value.code == 2
    assert "needs matplotlib; install it with `pip install lightning-optim[plot]`" in capsys.readouterr().err
