#!/usr/bin/env bash
# GPU checks for lightning_optim, as one prepared run on a machine with one NVIDIA GPU (written for an
# H200: Python 3.12, a CUDA build of torch, lightning 2.6.x, pytest, hypothesis; no network needed).
#
# Run from anywhere in a copy of the repository:  bash benchmarks/gpu_check.sh
# Logs and JSON results go to $OUT if set, else ./gpu_out. Every step runs even if an earlier one fails;
# each step has its own time limit and the whole run stops starting steps after $BUDGET seconds (default
# 450), so it finishes in about 8 minutes at most (expected: 5-6 with the speed steps 4c/4d). The summary at the end (also in
# $OUT/summary.txt) lists each step's exit status; the script exits 1 if any required step failed.
#
# Steps:
#   1 pytest-gpu      every test marked `gpu` (files found by grep, so new ones are picked up; among them
#                     CUDA 16-mixed skipped steps and skip_nonfinite on the device, tests/training/)
#   2 sync-check      benchmarks/gpu_sync_check.py: no host-device sync at steps that do not log
#                     (auto-fused AdamW, tensor lrs, per-step schedulers, manual optimization, 16-mixed
#                     with overflowing steps and a schedule that waits for them (f), skip_nonfinite on a
#                     fused AdamW (h)), one device-to-host transfer per LRMonitor logging event with 200
#                     param groups, and what reading a fused step's found_inf costs (g, reported)
#   3 precision       benchmarks/gpu_precision_matrix.py, 16-mixed and bf16-mixed rows: clipping
#                     none/norm/value x automatic/manual x Adam/AdamW/SGD-momentum/Adagrad. The clipped
#                     bf16-mixed cells are EXPECTED TO FAIL until implementation="auto" respects the
#                     Trainer (Lightning refuses clipping with a fused optimizer under MixedPrecision)
#   4 optimizer-step  benchmarks/bench_optimizer_step.py CUDA rows: fused vs foreach at 10M/100M/1B
#                     parameters, ms per step and fraction of a device copy's bandwidth
#   4b memory-optimizers benchmarks/gpu_memory_optimizers.py: "bnb/adamw8bit" state <= 0.3x fused AdamW's
#                     at 50M parameters, step times of the bnb/torchao/transformers 8-bit names (needs the
#                     bnb and torchao extras)
#   4c compiled-step  (informational) benchmarks/bench_compiled_step.py at 100M params in 50 tensors: a
#                     torch.compile'd step with tensor lrs against foreach for Adagrad, RMSprop, NAdam, with
#                     compile seconds and break-even steps (the figures for implementation="compiled"/"auto")
#   4d step-e2e       (informational) benchmarks/bench_step_e2e.py, bf16-mixed: a whole training step of a
#                     256-wide MLP and of a 100M-parameter MLP, mixin vs hand-written fused AdamW, LRMonitor on
#                     both sides (issue 23: 1.052x small, 0.915x at 100M, to be explained), implementations shown
#   5 cpu-subset      (optional, informs pyproject's lower bounds) a CPU subset of the suite on this
#                     machine's torch/lightning versions
set -u

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
ROOT="$PWD"
OUT_DIR="${OUT:-$ROOT/gpu_out}"
mkdir -p "$OUT_DIR" || exit 2
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export PYTHONDONTWRITEBYTECODE=1
PY="${PYTHON:-python}"
BUDGET="${BUDGET:-450}"
START=$(date +%s)

NAMES=()
STATUSES=()
SECONDS_TAKEN=()
NOTES=()
FAILED=0

remaining() { echo $((BUDGET - ($(date +%s) - START))); }

# step NAME LIMIT REQUIRED NOTE -- COMMAND...: run COMMAND with its output in $OUT_DIR/NAME.log, at most
# LIMIT seconds (less if the budget is nearly spent), record its exit status, print the log's tail.
step() {
    local name="$1" limit="$2" required="$3" note="$4"
    shift 5
    if [[ "$HAVE_CUDA" == no && "$name" != cpu-subset ]]; then
        echo "=== $name: SKIPPED (no CUDA device)"
        NAMES+=("$name"); STATUSES+=("skipped"); SECONDS_TAKEN+=(0); NOTES+=("no CUDA device")
        FAILED=1
        return
    fi
    local left
    left=$(remaining)
    if ((left < 20)); then
        echo "=== $name: SKIPPED (budget of ${BUDGET}s spent)"
        NAMES+=("$name"); STATUSES+=("skipped"); SECONDS_TAKEN+=(0); NOTES+=("budget spent")
        [[ "$required" == yes ]] && FAILED=1
        return
    fi
    ((limit > left)) && limit=$left
    local log="$OUT_DIR/$name.log"
    echo "=== $name (limit ${limit}s): $*"
    local t0 rc
    t0=$(date +%s)
    timeout --kill-after=15 "$limit" "$@" >"$log" 2>&1
    rc=$?
    local took=$(($(date +%s) - t0))
    local status="ok"
    if ((rc == 124 || rc == 137)); then
        status="TIMEOUT"
    elif ((rc != 0)); then
        status="FAIL($rc)"
    fi
    tail -n 60 "$log"
    echo "--- $name: $status in ${took}s (log: $log)"
    NAMES+=("$name"); STATUSES+=("$status"); SECONDS_TAKEN+=("$took"); NOTES+=("$note")
    if [[ "$status" != ok && "$required" == yes ]]; then
        FAILED=1
    fi
}

# ----------------------------------------------------------------------------------------- environment
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo 'unknown (no .git in this copy)')"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 || echo "nvidia-smi failed"
    "$PY" - <<'EOF' 2>&1
import platform, torch, lightning
print("python", platform.python_version(), "| torch", torch.__version__, "| cuda", torch.version.cuda,
      "| lightning", lightning.__version__)
print("cuda available:", torch.cuda.is_available(),
      "|", torch.cuda.get_device_name() if torch.cuda.is_available() else "no device")
for name in ("torchmetrics", "transformers", "timm", "hypothesis", "xdist", "matplotlib"):
    try:
        module = __import__(name)
        print(f"{name} {getattr(module, '__version__', '?')}")
    except ImportError:
        print(f"{name}: not installed")
EOF
} | tee "$OUT_DIR/environment.txt"

HAVE_CUDA=yes
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    HAVE_CUDA=no
    echo "WARNING: no CUDA device visible: steps 1-4 are recorded as skipped and the run exits 1."
fi

XDIST=()
if "$PY" -c "import xdist" 2>/dev/null; then
    XDIST=(-n 8)
fi

# ----------------------------------------------------------------------------------------- 1 pytest -m gpu
mapfile -t GPU_FILES < <(grep -rl "pytest.mark.gpu" tests --include="test_*.py")
# addopts="" drops --doctest-modules (not GPU tests); -p no:cacheprovider keeps the copy clean
step pytest-gpu 240 yes "pytest -m gpu over ${GPU_FILES[*]}" -- \
    "$PY" -m pytest -m gpu -o addopts="" -p no:cacheprovider -rA -v \
    --junitxml="$OUT_DIR/pytest-gpu.xml" "${GPU_FILES[@]}"

# ----------------------------------------------------------------------------------------- 2 sync check
step sync-check 150 yes "no sync at non-logging steps; 1 DtoH per logging event (200 groups)" -- \
    "$PY" benchmarks/gpu_sync_check.py --json "$OUT_DIR/sync-check.json"

# ----------------------------------------------------------------------------------------- 3 precision
step precision-matrix 180 yes "16-mixed/bf16-mixed x clipping x automatic/manual x 4 optimizers (auto reads the Trainer: every cell should train)" -- \
    "$PY" benchmarks/gpu_precision_matrix.py --device cuda --precision 16-mixed bf16-mixed \
    --json "$OUT_DIR/precision-matrix.json"

# ----------------------------------------------------------------------------------------- 4 optimizer step
step optimizer-step 150 yes "CUDA rows: fused vs foreach, 10M/100M/1B params, fraction of copy bandwidth" -- \
    "$PY" benchmarks/bench_optimizer_step.py --device cuda --sizes 10 100 1000 --rounds 7

# ----------------------------------------------------------------------------------------- 4b memory-saving
step memory-optimizers 150 yes "bnb/adamw8bit state <= 0.3x fused AdamW at 50M params; 8-bit step times" -- \
    "$PY" benchmarks/gpu_memory_optimizers.py --params 50 --json "$OUT_DIR/memory-optimizers.json"

# ----------------------------------------------------------------------------------------- 4c/4d speed
step compiled-step 100 no "compiled step (tensor lr) vs foreach at 100M params: ms, compile s, break-even" -- \
    "$PY" benchmarks/bench_compiled_step.py --device cuda --params 100 --tensors 50 \
    --cases Adagrad RMSprop NAdam --rounds 3

step step-e2e 100 no "whole step, mixin vs hand-written fused AdamW, LRMonitor both sides, small and 100M" -- \
    "$PY" benchmarks/bench_step_e2e.py --device cuda --precision bf16-mixed --sizes small 100m \
    --steps 150 --rounds 3

# ----------------------------------------------------------------------------------------- 5 optional
# CUDA_VISIBLE_DEVICES= : the CPU behaviour the suite expects (its GPU tests ran in step 1)
step cpu-subset 120 no "CPU subset on this torch/lightning (evidence for pyproject's lower bounds)" -- \
    env CUDA_VISIBLE_DEVICES= "$PY" -m pytest -q -o addopts="" -p no:cacheprovider ${XDIST[@]+"${XDIST[@]}"} -k "not plot" \
    tests/declarations/test_declarations.py tests/training/test_multi_optimizer.py tests/monitor/test_monitor.py tests/training/test_resume.py \
    tests/registry/test_implementation.py tests/schedules/test_warmup.py

# ----------------------------------------------------------------------------------------- summary
{
    echo
    echo "=== summary ($(($(date +%s) - START))s of a ${BUDGET}s budget; logs in $OUT_DIR)"
    for i in "${!NAMES[@]}"; do
        printf '%-18s %-10s %5ss  %s\n' "${NAMES[$i]}" "${STATUSES[$i]}" "${SECONDS_TAKEN[$i]}" "${NOTES[$i]}"
    done
    if ((FAILED)); then
        echo "RESULT: some required step failed (see above; precision-matrix is expected to fail until the fix)"
    else
        echo "RESULT: all required steps passed"
    fi
} | tee "$OUT_DIR/summary.txt"
exit "$FAILED"
