"""Run the test suite against the torch, Lightning and Python versions this package claims to support.

Too heavy for CI (each row is a fresh virtual environment with its own torch, several GB for the CUDA builds
the registry serves, then the suite): run it by hand, ``make compat`` for every row or
``make compat ROWS=lowest`` for one. Each row is written into the table of ``docs/compat.md`` (the other
rows are kept), with the versions that really got installed, the counts, the duration, the date and the
commit.

Each row tests the committed tree (``git archive HEAD``, so the table's commit is exactly what ran;
``--worktree`` tests the working tree as it is instead, recorded as ``<commit>-dirty`` when it differs).
Virtual environments, sources and downloaded wheels live outside the repository, in ``$COMPAT_DIR`` (default
``~/.cache/lightning-optim-compat``): ``wheels/`` is reused by every later run, so a rerun downloads nothing
new; ``venvs/<row>`` is reused while its pins and requirements stay the same (``--fresh`` rebuilds it) and
``src/<row>`` is copied anew each time. Each row pins its versions with its own constraint file, which
replaces the machine's pip constraints for that venv alone. The runner itself needs Python >= 3.11.

    python scripts/compat.py --list             # the rows
    python scripts/compat.py                    # every row, one after the other
    python scripts/compat.py --row lowest       # one row (repeat --row for more)
    python scripts/compat.py --row lowest -- -k resume   # extra pytest arguments
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
TABLE_FILE = ROOT / "docs" / "compat.md"
START, END = "<!-- compat-table:start -->", "<!-- compat-table:end -->"
FAIL_START, FAIL_END = "<!-- compat-failures:start -->", "<!-- compat-failures:end -->"

#: What the ``core`` rows run: the tests of the code that meets torch and Lightning (the private APIs, the
#: registry and implementation choice, MuonWithAdamW, the training loop with resume and callbacks, the
#: monitor, building) and every doctest, without the slow corners (ddp_spawn and torch.compile, marked
#: ``slow``). Left out: the declarations' checks and their fuzzing, the schedules' and recipes' parity with
#: transformers, timm and mmengine, previews and the CLI, whose results do not depend on the versions.
#: About 40% of the suite.
CORE_ARGS = (
    "-m",
    "not slow",
    "lightning_optim",
    "tests/utilities",
    "tests/registry",
    "tests/optimizers",
    "tests/training",
    "tests/monitor",
    "tests/building",
    "tests/test_packaging.py",
)


@dataclass(frozen=True)
class Row:
    """One combination of versions."""

    name: str
    python: str
    torch: str
    lightning: str
    #: "full" (the whole suite) or "core" (``CORE_ARGS``)
    tests: str = "full"
    why: str = ""


ROWS: tuple[Row, ...] = (
    Row(
        "lowest",
        "3.10",
        "2.4.0",
        "2.4.0",
        "core",
        why="Lightning 2.4, below the bound: its mid-epoch resume fails (Lightning #20379)",
    ),
    Row(
        "torch2.4-L2.5",
        "3.10",
        "2.4.0",
        "2.5.0",
        "full",
        why="the lower bounds: python, torch and Lightning",
    ),
    Row("torch2.6", "3.12", "2.6.0", "2.5.6", "core", why="torch 2.6, the last Lightning 2.5"),
    Row("torch2.8", "3.13", "2.8.0", "2.6.0", "core", why="torch 2.8, Python 3.13, the first Lightning 2.6"),
    Row("torch2.11", "3.12", "2.11.0", "2.6.6", "core", why="torch 2.11"),
    Row("torch2.13-py3.13", "3.13", "2.13.0", "2.6.6", "core", why="the newest Python with the dev torch"),
    Row("dev", "3.11", "2.13.0", "2.6.6", why="the dev setup and CI (CPU build of torch from local disk)"),
)
BY_NAME = {row.name: row for row in ROWS}


def compat_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lightning-optim-compat"
    return Path(os.environ.get("COMPAT_DIR", default))


def find_python(version: str) -> str:
    """The interpreter for ``version``: pyenv's newest ``version.*``, else ``python<version>`` on PATH."""
    root = os.environ.get("PYENV_ROOT") or _pyenv_root()
    if root:
        found = sorted(
            (p for p in (Path(root) / "versions").glob(f"{version}.*") if (p / "bin" / "python").exists()),
            key=lambda p: [int(x) for x in re.findall(r"\d+", p.name)],
        )
        if found:
            return str(found[-1] / "bin" / "python")
    exe = shutil.which(f"python{version}")
    if exe is None:
        raise SystemExit(
            f"No Python {version}: install it (pyenv install {version}) or put python{version} on PATH"
        )
    return exe


def _pyenv_root() -> str | None:
    try:
        return subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def test_requirements(src: Path) -> list[str]:
    """The ``dev`` extra without the linters and packaging tools, with the other extras it names expanded."""
    project = tomllib.loads((src / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    reqs: list[str] = []
    for req in extras["dev"]:
        match = re.fullmatch(r"lightning-optim\[(.*)\]", req)
        if match:
            for extra in match.group(1).split(","):
                reqs += extras[extra.strip()]
        elif not re.match(r"(ruff|mypy|build|twine)\b", req):
            reqs.append(req)
    return list(dict.fromkeys(reqs))


def run(
    cmd: list[str], log: Path, env: dict[str, str] | None = None, check: bool = True, cwd: Path = ROOT
) -> int:
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        code = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    if check and code != 0:
        raise SystemExit(f"failed ({code}): {' '.join(cmd)}; see {log}")
    return code


def snapshot(row: Row, worktree: bool) -> Path:
    """The tree to test: the repository itself (``worktree``) or a copy of ``HEAD``."""
    if worktree:
        return ROOT
    src = compat_dir() / "src" / row.name
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    return src


def install(row: Row, venv: Path, src: Path, log: Path, fresh: bool) -> dict[str, str]:
    """A venv with the row's versions, the test requirements and this package (editable, from ``src``).

    The venv of an earlier run with the same pins and requirements is reused unless ``fresh`` (installing
    a CUDA build of torch takes minutes on a shared machine); this package is always installed anew.
    """
    wheels = compat_dir() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    py = str(venv / "bin" / "python")
    pins = [f"torch=={row.torch}", f"lightning=={row.lightning}"]
    reqs = [*pins, *test_requirements(src), "hatchling", "editables"]
    constraints = venv / "constraints.txt"
    # the row's own constraints replace the machine's (which cap torch) for this venv alone
    env = {**os.environ, "PIP_CONSTRAINT": str(constraints), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    offline = [py, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels)]
    stamp = venv / "installed.txt"
    if fresh or not stamp.exists() or stamp.read_text() != "\n".join(reqs):
        if venv.exists():
            shutil.rmtree(venv)
        run([find_python(row.python), "-m", "venv", str(venv)], log)
        constraints.write_text("\n".join(pins) + "\n")
        # download once into wheels/ (a file already there is not downloaded again), then install from it only
        run([py, "-m", "pip", "download", "-q", "-d", str(wheels), *reqs], log, env)
        run([*offline, *reqs], log, env)
        stamp.write_text("\n".join(reqs))
    run([*offline, "--no-deps", "--no-build-isolation", "--force-reinstall", "-e", str(src)], log, env)
    run([py, "-m", "pip", "check"], log, env)
    probe = "import sys, torch, lightning; print(sys.version.split()[0], torch.__version__, lightning.__version__)"
    out = subprocess.run([py, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    return {"python": out[0], "torch": out[1], "lightning": out[2]}


def commit(worktree: bool) -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    return head.stdout.strip() + ("-dirty" if worktree and dirty.strip() else "")


def counts(junit: Path) -> tuple[dict[str, int], list[str]]:
    """passed/failed/skipped/errors from pytest's JUnit XML, and the ids of what failed."""
    totals = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    failed: list[str] = []
    if not junit.exists():
        return totals, ["pytest wrote no report"]
    for case in ET.parse(junit).iter("testcase"):
        tags = {child.tag for child in case}
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        if "failure" in tags:
            totals["failed"] += 1
            failed.append(name)
        elif "error" in tags:
            totals["errors"] += 1
            failed.append(name + " (error)")
        elif "skipped" in tags:
            totals["skipped"] += 1
        else:
            totals["passed"] += 1
    return totals, failed


def run_row(row: Row, pytest_args: list[str], workers: str, worktree: bool, fresh: bool) -> dict[str, object]:
    venv = compat_dir() / "venvs" / row.name
    log = compat_dir() / "logs" / f"{row.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"{row}\n")
    print(
        f"[{row.name}] installing python {row.python}, torch {row.torch}, lightning {row.lightning} (log: {log})"
    )
    start = time.monotonic()
    tested = commit(worktree)
    src = snapshot(row, worktree)
    versions = install(row, venv, src, log, fresh)
    installed = time.monotonic()
    junit = venv / "junit.xml"
    args = ["-n", workers, "--dist", "loadgroup"] if workers != "0" else ["-p", "no:xdist"]
    if row.tests == "core":
        args += list(CORE_ARGS)
    cmd = [
        "nice",
        "-n",
        "19",
        str(venv / "bin" / "python"),
        "-m",
        "pytest",
        "-q",
        *args,
        f"--junitxml={junit}",
    ]
    print(f"[{row.name}] {versions}: pytest {' '.join(args + pytest_args)}")
    run([*cmd, *pytest_args], log, check=False, cwd=src)
    done = time.monotonic()
    totals, failed = counts(junit)
    result: dict[str, object] = {
        **versions,
        **totals,
        "name": row.name,
        "tests": row.tests + (" " + " ".join(pytest_args) if pytest_args else ""),
        "install_s": round(installed - start),
        "tests_s": round(done - installed),
        "date": dt.date.today().isoformat(),
        "commit": tested,
        "failures": failed,
    }
    print(f"[{row.name}] " + ", ".join(f"{k} {result[k]}" for k in ("passed", "failed", "skipped", "errors")))
    print(f"[{row.name}] install {result['install_s']} s, tests {result['tests_s']} s")
    for name in failed:
        print(f"[{row.name}]   FAILED {name}")
    return result


HEADER = (
    "| Row | Python | torch | Lightning | Tests | Passed | Failed | Skipped | Errors | Install | Tests time "
    "| Date | Commit |\n"
    "| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
)


def table_line(r: dict[str, object]) -> str:
    cells = [
        f"`{r['name']}`",
        r["python"],
        r["torch"],
        r["lightning"],
        r["tests"],
        r["passed"],
        r["failed"],
        r["skipped"],
        r["errors"],
        f"{r['install_s']} s",
        f"{r['tests_s']} s",
        r["date"],
        f"`{r['commit']}`",
    ]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _section(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0] if start in text else ""


def write_results(results: list[dict[str, object]]) -> None:
    """Replace the rows just run in ``docs/compat.md``'s table (and their failures), keep the others."""
    text = TABLE_FILE.read_text()
    old_lines = {
        m.group(1): line
        for line in _section(text, START, END).splitlines()
        if (m := re.match(r"\| `([^`]+)` \|", line))
    }
    old_failures = {
        m.group(1): block
        for block in re.split(r"\n(?=- `)", _section(text, FAIL_START, FAIL_END).strip())
        if (m := re.match(r"- `([^`]+)`", block))
    }
    for r in results:
        old_lines[str(r["name"])] = table_line(r)
        old_failures.pop(str(r["name"]), None)
        failures = list(r["failures"])  # type: ignore[call-overload]
        if failures:
            shown = "".join(f"\n  - `{f}`" for f in failures[:30])
            more = f"\n  - ... and {len(failures) - 30} more" if len(failures) > 30 else ""
            old_failures[str(r["name"])] = f"- `{r['name']}`:{shown}{more}"
    order = [row.name for row in ROWS]
    key = lambda name: (order.index(name) if name in order else len(order), name)  # noqa: E731
    table = "\n".join([HEADER, *(old_lines[n] for n in sorted(old_lines, key=key))])
    failures = "\n".join(old_failures[n] for n in sorted(old_failures, key=key)) or "None."
    text = text.replace(START + _section(text, START, END) + END, f"{START}\n{table}\n{END}")
    text = text.replace(
        FAIL_START + _section(text, FAIL_START, FAIL_END) + FAIL_END, f"{FAIL_START}\n{failures}\n{FAIL_END}"
    )
    TABLE_FILE.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--row", action="append", choices=list(BY_NAME), help="run only this row (repeatable)"
    )
    parser.add_argument("--list", action="store_true", help="list the rows and exit")
    parser.add_argument("--fresh", action="store_true", help="rebuild the venvs even if their pins match")
    parser.add_argument("--worktree", action="store_true", help="test the working tree, not a copy of HEAD")
    parser.add_argument("--workers", default="2", help="pytest-xdist workers (0: no xdist); default 2")
    parser.add_argument(
        "--no-write", action="store_true", help=f"do not update {TABLE_FILE.relative_to(ROOT)}"
    )
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    args = parser.parse_args(argv)
    if args.list:
        for row in ROWS:
            print(
                f"{row.name:18} python {row.python:5} torch {row.torch:7} lightning {row.lightning:6} "
                f"{row.tests:6} {row.why}"
            )
        return 0
    rows = [BY_NAME[name] for name in args.row] if args.row else list(ROWS)
    started = time.monotonic()
    results = []
    for row in rows:
        results.append(run_row(row, args.pytest_args, args.workers, args.worktree, args.fresh))
        if not args.no_write:
            write_results(results)
    minutes = (time.monotonic() - started) / 60
    print(f"{len(rows)} row(s) in {minutes:.1f} min")
    return 1 if any(r["failed"] or r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
