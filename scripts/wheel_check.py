"""Build the wheel and the sdist, check them, install the wheel in a fresh venv and run the README quickstart.

What a user gets from ``pip install lightning-optim``: the wheel, installed with only its runtime
dependencies (plus the CPU build of torch, ``TORCH_PIN``, default ``torch==2.13.0``, which this machine
has on disk), outside the repository, so the quickstart imports the installed package and not the source
tree. Checks, in order:

1. ``python -m build`` makes a wheel and an sdist; ``twine check --strict`` passes on both;
2. the wheel's version is ``lightning_optim.__version__``, it ships ``py.typed``, the ``LICENSE`` and no tests,
   and its requirements are ``pyproject.toml``'s; the sdist has the tests, ``CHANGELOG.md`` and the ``LICENSE``;
3. in a fresh venv: ``pip install <wheel>`` and ``pip check``; the README's quickstart (the ``python`` block
   between ``[start:quickstart]`` and ``[end:quickstart]``, or the first one under ``## Quickstart``) must call
   ``fit`` and runs to the end; ``py.typed`` is installed.

    python scripts/wheel_check.py           # make wheel-check
    python scripts/wheel_check.py --keep    # keep the temporary folder (dist/, venv/) and print it
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def version() -> str:
    match = re.search(
        r'^__version__ = "([^"]+)"', (ROOT / "lightning_optim" / "__init__.py").read_text(), re.M
    )
    if match is None:
        raise SystemExit("lightning_optim/__init__.py has no __version__")
    return match.group(1)


def quickstart(readme: Path) -> str:
    """The README's quickstart code block."""
    text = readme.read_text()
    marked = re.search(r"\[start:quickstart\].*?```python\n(.*?)```.*?\[end:quickstart\]", text, re.S)
    under_heading = re.search(r"^## Quickstart\n(?:(?!^## ).)*?```python\n(.*?)```", text, re.S | re.M)
    found = marked or under_heading
    if found is None:
        raise SystemExit(f"{readme}: no quickstart (a python block after `## Quickstart`)")
    code = found.group(1)
    if ".fit(" not in code:
        raise SystemExit(f"{readme}: the quickstart never calls `fit`, so installing the wheel proves little")
    return code


def run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    print("$", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout[-5000:], done.stderr[-5000:], sep="\n")
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}")
    return done.stdout


def check_wheel(wheel: Path, expected: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    if "lightning_optim/py.typed" not in names:
        raise SystemExit(f"{wheel.name} does not ship lightning_optim/py.typed")
    if not any(name.endswith(".dist-info/licenses/LICENSE") for name in names):
        raise SystemExit(f"{wheel.name} does not ship the LICENSE")
    if any(name.startswith("tests/") for name in names):
        raise SystemExit(f"{wheel.name} ships the tests")
    found = re.search(r"^Version: (.+)$", metadata, re.M)
    if found is None or found.group(1) != expected:
        raise SystemExit(f"{wheel.name}: Version {found and found.group(1)} but __version__ is {expected}")
    requires = sorted(re.findall(r"^Requires-Dist: ([^;\n]+)$", metadata, re.M))
    print(f"  {wheel.name}: {len(names)} files, py.typed, version {expected}, requires {', '.join(requires)}")


def check_sdist(sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    top = names[0].split("/")[0]
    for needed in (
        "tests/conftest.py",
        "CHANGELOG.md",
        "LICENSE",
        "lightning_optim/py.typed",
        "pyproject.toml",
    ):
        if f"{top}/{needed}" not in names:
            raise SystemExit(f"{sdist.name} lacks {needed}")
    print(f"  {sdist.name}: {len(names)} files, with the tests and CHANGELOG.md")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md", help="where the quickstart is")
    args = parser.parse_args()
    start = time.monotonic()
    expected = version()
    code = quickstart(args.readme)
    tmp = Path(tempfile.mkdtemp(prefix="lightning-optim-wheel-"))
    try:
        dist = tmp / "dist"
        run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)])
        wheels, sdists = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
        if len(wheels) != 1 or len(sdists) != 1:
            raise SystemExit(f"expected one wheel and one sdist in {dist}, got {os.listdir(dist)}")
        run([sys.executable, "-m", "twine", "check", "--strict", *map(str, wheels + sdists)])
        check_wheel(wheels[0], expected)
        check_sdist(sdists[0])

        venv = tmp / "venv"
        run([sys.executable, "-m", "venv", str(venv)])
        py = str(venv / "bin" / "python")
        pin = os.environ.get("TORCH_PIN", "torch==2.13.0")
        run(
            [py, "-m", "pip", "install", "-q", pin]
        )  # the CPU build from disk, before the wheel asks for torch
        run([py, "-m", "pip", "install", "-q", str(wheels[0]), pin])
        run([py, "-m", "pip", "check"])
        installed = run([py, "-m", "pip", "freeze"]).split()
        print(f"  installed: {len(installed)} packages: {' '.join(installed)}")
        script = tmp / "quickstart.py"
        script.write_text(
            "import lightning_optim, pathlib\n"
            "package = pathlib.Path(lightning_optim.__file__).parent\n"
            f"assert str(package).startswith({str(venv)!r}), package\n"
            "assert (package / 'py.typed').exists()\n"
            f"assert lightning_optim.__version__ == {expected!r}\n" + code
        )
        output = run([py, "-I", str(script)], cwd=tmp)
        print("  quickstart output:", output.strip()[-500:])
        print(f"wheel check passed in {time.monotonic() - start:.0f} s ({wheels[0].name}, {sdists[0].name})")
        return 0
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
