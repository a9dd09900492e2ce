"""Run every benchmark script in this folder (``bench_*.py``), one after another, each in its own process.

Each script prints its own ratios against a baseline measured in the same process. Arguments after the
script options are passed on; ``--quick`` is passed to the scripts that accept it.

Run: ``python benchmarks/run_all.py [--quick] [--only NAME ...]`` (``make bench`` runs it without options).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="pass --quick to the scripts that accept it")
    parser.add_argument("--only", nargs="+", default=(), help="run only these scripts (e.g. bench_import)")
    args = parser.parse_args()

    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        wanted = {name.removesuffix(".py") for name in args.only}
        scripts = [s for s in scripts if s.stem in wanted]
    if not scripts:
        print("no benchmark scripts found", file=sys.stderr)
        return 1
    # the checkout's package first, so an editable install elsewhere does not shadow it
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    summary = []
    for script in scripts:
        command = [sys.executable, str(script)]
        if args.quick and "--quick" in script.read_text():
            command.append("--quick")
        print(f"\n=== {script.name} {' '.join(command[2:])}".rstrip(), flush=True)
        start = time.perf_counter()
        code = subprocess.call(command, cwd=ROOT, env=env)
        summary.append((script.name, code, time.perf_counter() - start))
    print("\n=== summary")
    for name, code, seconds in summary:
        print(f"{name:<28} {'ok' if code == 0 else f'FAILED (exit {code})':<16} {seconds:7.1f} s")
    return 0 if all(code == 0 for _, code, _ in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
