#!/usr/bin/env bash
# The checks and benchmarks of the CUDA backend, for a machine with an NVIDIA GPU: under 8 minutes
# on an H200 with 16 cores (nvcc, PyTorch 2.x, no network). Steps, in order:
#   configure, build   moe.cpp with the CUDA backend (Release) into $BUILD (default build-gpu)
#   backend_ops        the op harness, which must check every op on CUDA (a CUDA skip fails)
#   model_check        a small GPT-style and a Llama-style MoE on CUDA against the CPU's fp32 path:
#                      logits, losses and every gradient within 1e-4 (tests/unit/test_cuda_model.cpp)
#   cuda_training      10-step loss trajectories, CUDA against CPU, and the exact resume of a CUDA
#                      run killed after a checkpoint (tests/e2e/cuda_training.sh)
#   nccl               the NCCL transport: its unit tests (a job of one process on one GPU, every
#                      collective; NCCL refuses two ranks on one GPU, so one GPU checks the calls,
#                      not sums over ranks) and tests/e2e/nccl_training.sh (mpirun -np 1 over NCCL
#                      against the plain CUDA run, bit for bit; -np 2 where there are two GPUs)
#   bench              tokens/s, MFU and peak GPU memory of the makemoe preset and of
#                      bench/gpt2_moe.toml, moe.cpp against PyTorch on the same GPU
#                      (bench/gpu_vs_pytorch.py), in $BENCH_SECONDS (default 240)
#   ctest              the rest of the CTest suite, cut at the time left of $TOTAL_SECONDS (default
#                      460; none left: a skip, said in the summary); its end-to-end tests need
#                      the data files in ../shared/data or $MOE_DATA_DIR, which a bare GPU
#                      machine lacks (the steps above do not)
# Everything goes to $OUT (default ./gpu-check-logs): summary.txt (the date, nvidia-smi, one line
# per step, then the figures) and one log per step. Exits 1 when any step fails.
#
# usage: scripts/gpu_check.sh [--cpu] [--prebuilt]
#   --prebuilt  no configure or build: runs the binaries that scripts/gpu_pack.sh packed into
#          .device/prebuilt.tar.xz on the build machine (for a GPU machine whose image lacks the
#          build dependencies: OpenBLAS, toml++, PCRE2, nlohmann-json, CLI11, GoogleTest); also
#          taken when configure fails and that file is there. No CTest tree then: ctest is skipped.
#   --cpu  on a machine without a GPU: every step runs and the CUDA ones must report themselves
#          skipped with their reason; the benchmark runs moe.cpp's makemoe on the CPU for 36 s of
#          its 180 (its PyTorch runs skip) and ctest only the CUDA tests. This checks the
#          script's plumbing.
# Each step has a time limit (timeout), so that a hung step cannot hold the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cpu_only=false
prebuilt=false
for arg in "$@"; do
  case "$arg" in
    --cpu) cpu_only=true ;;
    --prebuilt) prebuilt=true ;;
    *) echo "error: usage: scripts/gpu_check.sh [--cpu] [--prebuilt]" >&2 && exit 1 ;;
  esac
done
PACKED=.device/prebuilt.tar.xz
OUT=${OUT:-gpu-check-logs}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BUILD=${BUILD:-build-gpu}
JOBS=$(nproc)
BENCH_SECONDS=${BENCH_SECONDS:-240}
TOTAL_SECONDS=${TOTAL_SECONDS:-460}
PYTHON=${PYTHON:-python3}
summary=$OUT/summary.txt
{
  date -u
  git log -1 --format='commit %h %s' 2>/dev/null || true
  nvidia-smi 2>&1 || echo "nvidia-smi failed"
  echo
} >"$summary"

if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi
launchers=()
if command -v ccache >/dev/null; then
  launchers=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
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

# A CUDA check that skipped passes only with --cpu; there it must have skipped, saying why.
# expect_ran LOG RAN_PATTERN SKIP_PATTERN
expect_ran() {
  local log=$1 ran=$2 skipped=$3
  if $cpu_only; then
    grep -E "$skipped" "$log" || { echo "error: --cpu, but $log shows no skip" >&2 && return 1; }
    return 0
  fi
  if grep -E "$skipped" "$log"; then
    echo "error: skipped on a machine that should run CUDA" >&2
    return 1
  fi
  grep -E "$ran" "$log" || { echo "error: $log shows no CUDA result" >&2 && return 1; }
}

backend_ops() {
  timeout 180 "$BUILD/tests/backend_ops"
}

model_check() {
  timeout 180 "$BUILD/tests/moe_tests" --gtest_filter='CudaModel.*' --gtest_color=no
}

cuda_training() {
  MOE_BIN=$BUILD/moe MOE_BUILD=$BUILD MOE_ROOT=$PWD OMP_NUM_THREADS=2 \
    timeout 300 bash tests/e2e/cuda_training.sh || { local rc=$?; [[ $rc -eq 77 ]] || return $rc; }
}

nccl() {
  timeout 120 "$BUILD/tests/moe_tests" --gtest_filter='NcclCommunicator.*' --gtest_color=no
  local bin=$BUILD/moe
  if $prebuilt; then bin=$(dirname "$BUILD")/real/moe; fi
  local built=OFF
  if ldd "$bin" | grep -q libnccl; then built=ON; fi
  MOE_BIN=$BUILD/moe MOE_BUILD=$BUILD MOE_ROOT=$PWD MOE_NCCL=$built OMP_NUM_THREADS=2 \
    timeout 400 bash tests/e2e/nccl_training.sh || { local rc=$?; [[ $rc -eq 77 ]] || return $rc; }
}

bench() {
  if $cpu_only; then
    "$PYTHON" bench/gpu_vs_pytorch.py --moe "$BUILD/moe" --out "$OUT/bench" --device cpu \
      --only makemoe --seconds 180
  else
    timeout $((BENCH_SECONDS + 60)) "$PYTHON" bench/gpu_vs_pytorch.py --moe "$BUILD/moe" \
      --out "$OUT/bench" --seconds "$BENCH_SECONDS"
  fi
}

# Unpacks scripts/gpu_pack.sh's binaries and libraries; BUILD becomes their folder. Each binary
# is replaced by a wrapper that gives it (and nothing else: not PyTorch) the packed libraries.
use_prebuilt() {
  [[ -f $PACKED ]] || { echo "error: $PACKED not found: run scripts/gpu_pack.sh on the build machine" >&2 && return 1; }
  local root=$PWD/.device/prebuilt
  rm -rf "$root"
  mkdir -p "$root/real"
  tar -C "$root" -xJf "$PACKED"
  local cuda_libs
  cuda_libs=$(dirname "$(find /usr/local/cuda/ /usr/local/cuda*/ /opt -name 'libcublas.so.13*' \
    2>/dev/null | head -1)" 2>/dev/null || true)
  # NCCL too: the machine's, beside cuBLAS or on its own (libnccl is too large to pack).
  local nccl_libs
  nccl_libs=$(dirname "$(find /usr/local/cuda/ /usr/local/cuda*/ /usr/lib /opt -name 'libnccl.so.2*' \
    2>/dev/null | head -1)" 2>/dev/null || true)
  local path=$root/lib${cuda_libs:+:$cuda_libs}${nccl_libs:+:$nccl_libs}
  echo "libraries: $path"
  for b in moe tests/moe_tests tests/backend_ops; do
    mv "$root/build/$b" "$root/real/"
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s "$@"\n' \
      "$path" "$root/real/${b##*/}" >"$root/build/$b"
    chmod +x "$root/build/$b"
  done
  LD_LIBRARY_PATH=$path ldd "$root/real/moe"
  ! LD_LIBRARY_PATH=$path ldd "$root/real/moe" | grep 'not found'
}

rest_of_ctest() {
  local left=$((TOTAL_SECONDS - SECONDS))
  if $prebuilt; then
    echo "skip: ctest: prebuilt binaries, no CTest tree"
  elif $cpu_only; then
    ctest --test-dir "$BUILD" --output-on-failure -R 'CudaModel|NcclCommunicator|cuda_training|nccl_training|e2e.device'
  elif ((left < 30)); then
    echo "skip: ctest: ${left} s left of TOTAL_SECONDS=${TOTAL_SECONDS}"
  else
    echo "ctest, cut after ${left} s"
    timeout -s INT "$left" bash -c "cmake --build '$BUILD' -j $JOBS &&
      ctest --test-dir '$BUILD' --output-on-failure -j $JOBS -E 'CudaModel|NcclCommunicator|cuda_training|nccl_training|ops.backend_ops'"
  fi
}

# The CUDA checks need three targets; the rest of the build waits for the ctest step.
if ! $prebuilt; then
  if ! step configure cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOE_CUDA=ON \
    -DMOE_BUILD_BENCH=OFF "${launchers[@]}"; then
    [[ -f $PACKED ]] || exit 1
    echo "configure failed: using $PACKED" | tee -a "$summary"
    prebuilt=true
    failed=0
  else
    step build timeout 420 cmake --build "$BUILD" -j "$JOBS" --target moe moe_tests backend_ops ||
      exit 1
  fi
fi
if $prebuilt; then
  step unpack_prebuilt use_prebuilt || exit 1
  BUILD=.device/prebuilt/build
fi
step backend_ops backend_ops || true
step backend_ops_ran_cuda expect_ran "$OUT/backend_ops.log" '^backend-ops: .*cuda F32: [0-9]+' \
  '^skip +cuda +every op' || true
step model_check model_check || true
step model_check_ran_cuda expect_ran "$OUT/model_check.log" '^cuda vs cpu fp32: ' \
  'no CUDA check: ' || true
step cuda_training cuda_training || true
step cuda_training_ran_cuda expect_ran "$OUT/cuda_training.log" '^cuda_training: ok' \
  '^skip: no CUDA training check' || true
step nccl nccl || true
step nccl_ran_cuda expect_ran "$OUT/nccl.log" '^\[       OK \] NcclCommunicator\.' \
  'no NCCL check: ' || true
step bench bench || true
step ctest rest_of_ctest || true

{
  echo
  grep -E '^backend-ops: ' "$OUT/backend_ops.log" || true
  grep -E '^cuda vs cpu fp32: |no CUDA check: ' "$OUT/model_check.log" || true
  grep -E 'largest relative difference|resume exact|^skip: ' "$OUT/cuda_training.log" || true
  grep -E '^ok: |^skip: |no NCCL check: ' "$OUT/nccl.log" | sort -u || true
  cat "$OUT/bench/results.md" 2>/dev/null || true
  grep -E 'tests passed|tests failed|^skip: ctest|^ctest, cut' "$OUT/ctest.log" || true
  echo "total $SECONDS s"
} >>"$summary"
cat "$summary"
exit "$failed"
