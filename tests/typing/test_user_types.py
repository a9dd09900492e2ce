"""The package's types as a user's ``mypy --strict`` sees them: the user files here and ``examples/`` type-check,
and each line marked ``# E: [code]`` is the error with that code (the types refuse what the runtime refuses).

mypy runs with the project's configuration, whose overrides make these modules strict (pyproject.toml), so it
reuses the cache ``make typecheck`` leaves for torch and Lightning.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy")
tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml")

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
USER_FILES = sorted(HERE.glob("user_*.py"))
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
MARK = re.compile(r"#\s*E:\s*\[([a-z-]+)\]")
REPORTED = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")


def expected_errors(path: Path) -> set[tuple[str, int, str]]:
    relative = str(path.relative_to(ROOT))
    lines = path.read_text().splitlines()
    return {(relative, n, m.group(1)) for n, line in enumerate(lines, 1) for m in [MARK.search(line)] if m}


def test_user_files_and_examples_type_check_as_marked() -> None:
    files = [*USER_FILES, *EXAMPLES]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            "pyproject.toml",
            *(str(f.relative_to(ROOT)) for f in files),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    reported = set()
    for line in result.stdout.splitlines():
        match = REPORTED.match(line)
        if match:
            reported.add((match["path"], int(match["line"]), match["code"]))
    expected = set().union(*map(expected_errors, files))
    assert reported == expected, result.stdout
    assert result.returncode == (1 if expected else 0), result.stdout + result.stderr


def test_the_user_files_and_examples_are_checked_strictly() -> None:
    """Each module checked above is among the strict modules of the mypy configuration."""
    overrides = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["overrides"]
    strict = {
        module
        for override in overrides
        if override.get("disallow_untyped_calls")
        for module in override["module"]
    }
    assert "tests.typing.*" in strict
    assert {path.stem for path in EXAMPLES} <= strict
