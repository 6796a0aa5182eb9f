#!/usr/bin/env bash
# The checks for a machine with an NVIDIA GPU (a few minutes on 16 cores): builds moe.cpp with the
# CUDA backend (Release) into build-gpu/, runs the backend-ops harness, which must run every op
# on CUDA (a CUDA skip fails the check), then the whole CTest suite. Everything it prints goes to
# $OUT (default ./gpu-check-logs): summary.txt (the date, nvidia-smi, then one line per step)
# and one log per step. Exits 1 when any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check-logs}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BUILD=build-gpu
JOBS=$(nproc)
summary=$OUT/summary.txt
{
  date -u
  nvidia-smi 2>&1 || echo "nvidia-smi failed"
  echo
} >"$summary"

if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi

failed=0
# step NAME COMMAND...: runs COMMAND with its output in $OUT/NAME.log and notes the result.
step() {
  local name=$1 start=$SECONDS
  shift
  if "$@" >"$OUT/$name.log" 2>&1; then
    echo "ok   $name ($((SECONDS - start)) s)" | tee -a "$summary"
  else
    echo "FAIL $name ($((SECONDS - start)) s; log $OUT/$name.log)" | tee -a "$summary"
    failed=1
    return 1
  fi
}

# The harness exits 0 when it only skipped CUDA, so its log must show ops checked on CUDA.
cuda_was_checked() {
  if grep -E '^skip +cuda +every op' "$OUT/backend_ops.log"; then
    echo "error: the harness skipped CUDA" >&2
    return 1
  fi
  grep -E '^backend-ops: .*cuda F32: [0-9]+' "$OUT/backend_ops.log" ||
    { echo "error: the harness checked no op on CUDA" >&2 && return 1; }
}

step configure cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOE_CUDA=ON -DMOE_BUILD_BENCH=OFF ||
  exit 1
step build cmake --build "$BUILD" -j "$JOBS" || exit 1
step backend_ops "$BUILD/tests/backend_ops" || true
step backend_ops_ran_cuda cuda_was_checked || true
step ctest ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" || true

grep -E '^backend-ops: ' "$OUT/backend_ops.log" >>"$summary" || true
grep -E 'tests passed|tests failed' "$OUT/ctest.log" >>"$summary" || true
exit "$failed"
