"""Import time of ``lightning_optim`` on top of ``import lightning``.

Method: each measurement is a fresh interpreter (``sys.executable``) that times, with ``perf_counter``
inside the process (so interpreter start-up is not counted), either ``import lightning`` alone (the
baseline) or ``import lightning`` followed by ``import lightning_optim`` (timed separately: the extra).
Both kinds run alternately, ``--repeats`` times each, and the medians are reported with the ratio
extra / baseline. The operating system's file cache is warm after the first runs, as it is in practice.

Run: ``python benchmarks/bench_import.py [--repeats 7]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys, time
start = time.perf_counter()
import lightning
middle = time.perf_counter()
if sys.argv[1] == "with":
    import lightning_optim
end = time.perf_counter()
print(json.dumps({"lightning": middle - start, "extra": end - middle}))
"""


def probe(kind: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, kind], check=True, capture_output=True, text=True, cwd=ROOT, env=env
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 repeats")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats

    probe("with")  # warm the file cache and byte-code caches
    baseline, extra = [], []
    for _ in range(repeats):
        baseline.append(probe("without")["lightning"])
        extra.append(probe("with")["extra"])
    base, add = statistics.median(baseline), statistics.median(extra)
    print(f"median of {repeats} fresh interpreters each")
    print(f"import lightning                     {1e3 * base:8.1f} ms  (baseline)")
    print(f"+ import lightning_optim (extra)     {1e3 * add:8.1f} ms  ({add / base:.1%} of the baseline)")


if __name__ == "__main__":
    main()
