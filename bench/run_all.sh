#!/usr/bin/env bash
# Every training benchmark against one moe binary, in sequence: makemoe vs the PyTorch tutorial
# code (train_vs_pytorch.py), the Llama-style MoE vs efficient PyTorch (llama_vs_pytorch.py), MoE
# vs dense at equal active parameters (moe_vs_dense.py) and long context (long_context.py).
# With --record-dir DIR each writes DIR/DATE-cpu-NAME.md and its figures go to DIR/summary.jsonl
# (one JSON object per benchmark), so that two binaries measured into two directories give a
# before/after table: bench/before_after.py OLD_DIR NEW_DIR. --smoke runs a few steps of each
# (checks that everything runs; the figures mean nothing). --native-kernels unsets
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for the benchmarks alone, so that OpenBLAS picks the
# kernels of this processor itself; some machines pin an older family there for the sake of older
# OpenBLAS builds (tests and CI keep whatever the machine sets). Every run names the kernels it
# used, and moe.cpp, the PyTorch peers and sgemm_peak always run with the same ones. --rounds N
# runs each of the two PyTorch comparisons N times alternately and reports the median ratio.
#
# usage: bench/run_all.sh [--moe PATH] [--build DIR] [--threads 2] [--record-dir DIR] [--smoke]
#                         [--native-kernels] [--rounds 1]
# Run from the repository root after scripts/build.sh, e.g.
#   bench/run_all.sh --moe build-old/moe --record-dir runs/bench-old
#   bench/run_all.sh --moe build/moe --record-dir runs/bench-new
#   bench/before_after.py runs/bench-old runs/bench-new
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build
MOE=""
THREADS=2  # the README's figures and the PyTorch peers' setting
RECORD_DIR=""
SMOKE=0
ROUNDS=1
die() { echo "error: $*" >&2; exit 1; }
value() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"; echo "$2"; }
while (($#)); do
  case $1 in
    --moe) MOE=$(value "$@"); shift 2 ;;
    --build) BUILD=$(value "$@"); shift 2 ;;
    --threads) THREADS=$(value "$@"); shift 2 ;;
    --record-dir) RECORD_DIR=$(value "$@"); shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    --rounds) ROUNDS=$(value "$@"); shift 2 ;;
    --native-kernels) unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; shift ;;
    *) die "unknown option $1 (see the usage in $0)" ;;
  esac
done
MOE=${MOE:-$BUILD/moe}
[[ -x $MOE ]] || die "$MOE is not an executable (build it, or pass --moe PATH)"
[[ -x $BUILD/bench/sgemm_peak ]] || die "$BUILD/bench/sgemm_peak not built (scripts/build.sh)"
if [[ -n $RECORD_DIR ]]; then
  mkdir -p "$RECORD_DIR"
  : >"$RECORD_DIR/summary.jsonl"
fi
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

# name, script, its options for a full and for a smoke run
run() {
  local name=$1 script=$2 full=$3 smoke=$4 options
  options=$([[ $SMOKE == 1 ]] && echo "$smoke" || echo "$full")
  local record=()
  [[ -n $RECORD_DIR ]] && record=(--record "$RECORD_DIR/$(date +%F)-cpu-$name.md")
  echo "== $name" >&2
  # shellcheck disable=SC2086  # the options are words
  /usr/bin/python3 "bench/$script" --moe "$MOE" --build "$BUILD" --threads "$THREADS" \
    $options "${record[@]}" | tee "$LOG"
  [[ -z $RECORD_DIR ]] || tail -n 1 "$LOG" >>"$RECORD_DIR/summary.jsonl"
}

run makemoe train_vs_pytorch.py "--steps 1000 --eval-every 250 --rounds $ROUNDS" \
  "--steps 10 --eval-every 5 --eval-iters 2 --rounds $ROUNDS"
run llama-vs-pytorch llama_vs_pytorch.py "--steps 300 --eval-every 100 --rounds $ROUNDS" \
  "--steps 8 --eval-every 4 --eval-iters 2 --rounds $ROUNDS"
run moe-vs-dense moe_vs_dense.py "--steps 100 --eval-every 50" \
  "--steps 8 --eval-every 4 --eval-iters 2"
run long-context long_context.py "--steps 20" "--steps 6"
