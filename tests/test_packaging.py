"""The package's metadata follows its rules: one version, the CHANGELOG agreeing with it, ``py.typed``, and
lower bounds equal to the lowest row of the compatibility table that passed.

``make wheel-check`` (``scripts/wheel_check.py``) builds and installs the real wheel; these checks are the
fast part, run with every ``make test``.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import lightning_optim
from lightning_optim.utilities import compat
from tests.helpers import CLI_EXTRA

tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml (the checks do not vary)")

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_lives_in_one_place() -> None:
    assert "version" not in PYPROJECT["project"]
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["hatch"]["version"]["path"] == "lightning_optim/__init__.py"
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+|rc\d+)?", lightning_optim.__version__)


def top_changelog_heading(text: str) -> str:
    """The first ``## [...]`` heading of a Keep a Changelog file: ``Unreleased`` or a version."""
    match = re.search(r"^## \[([^\]]+)\]", text, re.M)
    if match is None:
        raise ValueError("CHANGELOG.md has no `## [...]` section")
    return match.group(1)


def changelog_agrees(version: str, text: str) -> bool:
    """The rule: a development version (``X.Y.Z.devN``) is unreleased, so the top section is
    ``[Unreleased]``; a release ``X.Y.Z`` (or ``X.Y.ZrcN``) has its own dated section on top."""
    top = top_changelog_heading(text)
    if ".dev" in version:
        return top == "Unreleased"
    return top == version and re.search(
        rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", text, re.M
    )


def test_the_changelog_agrees_with_the_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert changelog_agrees(lightning_optim.__version__, text), (
        f"__version__ is {lightning_optim.__version__} but CHANGELOG.md's top section is "
        f"[{top_changelog_heading(text)}]: a .devN version goes with [Unreleased] on top, a release X.Y.Z "
        "with `## [X.Y.Z] - YYYY-MM-DD` on top"
    )


def test_the_changelog_rule_can_fail() -> None:
    unreleased = "# Changelog\n\n## [Unreleased]\n\n## [0.1.0] - 2026-01-02\n"
    released = "# Changelog\n\n## [0.2.0] - 2026-03-04\n\n## [0.1.0] - 2026-01-02\n"
    assert changelog_agrees("0.2.0.dev0", unreleased)
    assert not changelog_agrees("0.2.0", unreleased)  # released, but still listed as unreleased
    assert changelog_agrees("0.2.0", released)
    assert not changelog_agrees("0.3.0", released)  # a new version with no section
    assert not changelog_agrees("0.2.0.dev0", released)


def test_py_typed_ships() -> None:
    assert (ROOT / "lightning_optim" / "py.typed").is_file()
    assert PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["lightning_optim"]


def test_the_licence_ships() -> None:
    # there was none: pyproject said Apache-2.0, whose section 4(a) asks to give recipients a copy, and hatchling
    # ships the files `license-files` names (in the wheel's .dist-info/licenses/ and the sdist)
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License\n                           Version 2.0, January 2004")
    assert "END OF TERMS AND CONDITIONS" in text


def lowest_passing_row(table: str) -> dict[str, str]:
    """The row of ``docs/compat.md``'s table with the lowest versions among those that ran their tests (the
    whole suite or its ``core``) with nothing failed."""
    if "| Row |" not in table:
        pytest.skip("docs/compat.md has no results yet: run `make compat`")
    results = table.split("| Row |", 1)[1]  # the results table, not the features table above it
    header = [cell.strip() for cell in results.split("\n", 1)[0].split("|")][:-1]
    lines = [line for line in results.splitlines() if line.startswith("| `")]
    rows = []
    for line in lines:
        cells = dict(zip(["Row", *header], [cell.strip() for cell in line.strip("|").split("|")]))
        if (
            cells["Tests"] in ("full", "core")
            and int(cells["Passed"]) > 0
            and cells["Failed"] == "0"
            and cells["Errors"] == "0"
        ):
            rows.append(cells)
    if not rows:
        pytest.skip("docs/compat.md has no passing row yet: run `make compat`")
    key = lambda r: (compat.release(r["Python"]), compat.release(r["torch"]), compat.release(r["Lightning"]))  # noqa: E731
    return min(rows, key=key)


def test_lower_bounds_are_the_lowest_passing_row() -> None:
    row = lowest_passing_row((ROOT / "docs" / "compat.md").read_text())
    bounds = dict(
        re.fullmatch(r"([a-z]+)>=([\d.]+)", req).groups() for req in PYPROJECT["project"]["dependencies"]
    )  # type: ignore[union-attr]
    assert bounds == {
        "torch": ".".join(row["torch"].split(".")[:2]),
        "lightning": ".".join(row["Lightning"].split(".")[:2]),
    }
    assert PYPROJECT["project"]["requires-python"] == ">=" + ".".join(row["Python"].split(".")[:2])
    # and the lowest row ran the lowest patch release of each bound
    assert row["torch"].split("+")[0].endswith(".0") and row["Lightning"].endswith(".0")


def lowest_admitted(requirement: Requirement) -> Version:
    """The lowest version a requirement's ``>=`` bounds admit (``0`` without one)."""
    bounds = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
    return max(bounds, default=Version("0"))


def test_the_cli_extra_admits_no_jsonargparse_the_installed_lightning_cli_crashes_with() -> None:
    # `jsonargparse[signatures]>=4.27` let pip keep 4.27 to 4.38, with which Lightning 2.6's LightningCLI (and so
    # DeclarativeCLI) crashes at start (4.38: "set_parsing_settings() got an unexpected keyword argument"); the
    # installed Lightning's own extras give the jsonargparse its LightningCLI needs
    (ours,) = [Requirement(req) for req in PYPROJECT["project"]["optional-dependencies"]["cli"]]
    lightnings = [
        Requirement(req)
        for req in metadata.requires("lightning") or []
        if Requirement(req).name == "jsonargparse"
    ]
    assert ours.name == "jsonargparse" and "signatures" in ours.extras
    assert lightnings, "the installed Lightning names no jsonargparse in its extras"
    needed = max(lowest_admitted(req) for req in lightnings)
    assert lowest_admitted(ours) >= needed, (
        f"the `cli` extra admits jsonargparse {lowest_admitted(ours)}, Lightning {metadata.version('lightning')} "
        f"needs >= {needed}"
    )
    assert str(ours) == CLI_EXTRA  # the CLI tests skip below the same bound


def test_the_cli_extra_admits_only_jsonargparse_releases_whose_wording_the_cli_reads() -> None:
    # The CLI's near misses read jsonargparse's error wording (`compat.unknown_config_key`,
    # `compat.unrecognized_arguments`), verified from the extra's bound on: a lower bound needs that reading checked
    # against the releases it admits (docs/compat.md, "jsonargparse")
    (ours,) = [Requirement(req) for req in PYPROJECT["project"]["optional-dependencies"]["cli"]]
    assert lowest_admitted(ours) == Version(compat.VERIFIED_ON["jsonargparse"].split(" to ")[0])


def test_the_sdist_has_what_its_tests_read() -> None:
    # it shipped `tests/` without the root conftest.py, docs/ and examples/ they read, so `pytest` in an unpacked
    # sdist failed (FileNotFoundError: .../docs/compat.md)
    read = {
        match.group(1).split("/")[0]
        for path in (ROOT / "tests").rglob("*.py")
        for match in re.finditer(r'(?:ROOT|parents\[\d\]) / "([^"]+)"', path.read_text())
    }
    include = PYPROJECT["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    assert {"docs", "examples", "README.md"} <= read
    assert sorted((read | {"tests", "conftest.py"}) - set(include)) == []
