#!/usr/bin/env bash
# Data-parallel communication: the makemoe preset and the Llama-style MoE (bench/llama_moe.toml)
# trained for a few steps on 1 process x 1 thread (grad_accum 2) and on 2 processes x 1 thread
# (grad_accum 1 each: the same global batch): gradients summed after the backward pass
# (dist.bucket_mib=0), in buckets during it (the default, dist.bucket_mib=25), and with ZeRO-1
# (dist.zero=1). From the step records of metrics.jsonl (comm_bytes, comm_ms, comm_hidden_ms:
# DataParallel::comm_totals over the step) it prints per step, averaged over the steps after the
# first: the bytes rank 0 sent against the analytical count, and the step time split into
# compute (forward + backward), communication hidden behind the backward pass and communication
# exposed (comm_ms - comm_hidden_ms: time the step spent in collectives or waiting for buckets).
#
# Analytical count, per rank and step, for N ranks and P parameters (F32, 4 bytes):
#   plain all-reduce (reduce-scatter then all-gather in rank order, src/dist/mpi_communicator.cpp):
#     2 (N - 1) / N x 4 P (on 2 ranks whatever the buckets; on more, each bucket rounds its chunks)
#   ZeRO-1: reduce-scatter of the gradients + all-gather of the weights, shards padded to
#     ceil(P / N): 2 (N - 1) / N x 4 N ceil(P / N)
# The measured figure adds the step's statistics (losses, expert loads, the gradient norm: a few
# hundred F64 values).
#
# usage: bench/comm_bench.sh [--moe PATH] [--steps N] [--record FILE]
# Run from the repository root after building with MPI (mpirun on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
MOE=build/moe
STEPS=6
RECORD=""
die() { echo "error: $*" >&2; exit 1; }
value() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"; echo "$2"; }
while (($#)); do
  case $1 in
    --moe) MOE=$(value "$@"); shift 2 ;;
    --steps) STEPS=$(value "$@"); shift 2 ;;
    --record) RECORD=$(value "$@"); shift 2 ;;
    *) die "unknown option $1 (see the usage in $0)" ;;
  esac
done
[[ -x $MOE ]] || die "$MOE is not an executable (build it, or pass --moe PATH)"
((STEPS >= 2)) || die "--steps must be at least 2 (the first step is left out as warm-up)"
command -v mpirun >/dev/null || die "mpirun not found (apt-get install openmpi-bin)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

COMMON=(--threads 1 --steps "$STEPS" --eval-every 0 --ckpt-every 0 --set train.eval_iters=1 --quiet)
declare -A MODEL=([makemoe]="--preset makemoe" [llama_moe]="--config bench/llama_moe.toml")
for name in makemoe llama_moe; do
  # shellcheck disable=SC2086  # the model options are words
  read -r -a model <<<"${MODEL[$name]}"
  echo "== $name: 1 process" >&2
  "$MOE" train "${model[@]}" "${COMMON[@]}" --set train.grad_accum=2 --out "$WORK/$name-1" >/dev/null
  for run in "0 0" "0 25" "1 25"; do
    read -r zero mib <<<"$run"
    echo "== $name: 2 processes, dist.zero=$zero, dist.bucket_mib=$mib" >&2
    mpirun -np 2 --oversubscribe --quiet "$MOE" train "${model[@]}" "${COMMON[@]}" \
      --set dist.zero=$zero --set dist.bucket_mib=$mib --out "$WORK/$name-2-zero$zero-mib$mib" >/dev/null
  done
done

{
  echo "# Data-parallel communication per step (bench/comm_bench.sh)"
  echo
  echo "Command: \`bench/comm_bench.sh --steps $STEPS\` ($(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(mpirun --version | head -1)"
  echo "Date: $(date -u '+%F %H:%M UTC')"
  echo
  /usr/bin/python3 - "$WORK" "$STEPS" <<'PYEOF'
import json, math, sys
work, steps = sys.argv[1], int(sys.argv[2])
def load(run):
    recs = [json.loads(l) for l in open(f"{work}/{run}/metrics.jsonl")]
    start = next(r for r in recs if r["type"] == "start")
    later = [r for r in recs if r["type"] == "step" and r["step"] > 1]
    mean = lambda f: sum(r[f] for r in later) / len(later)
    tokens = start["config"]["train"]["batch_size"] * start["config"]["model"]["block_size"] * start["config"]["train"]["grad_accum"]
    step_ms = 1000.0 * tokens / mean("tokens_per_s")
    return start, {f: mean(f) for f in ("forward_ms", "backward_ms", "optimizer_ms", "comm_ms", "comm_hidden_ms", "comm_bytes")} | {"step_ms": step_ms}
print(f"Steps 2..{steps} averaged (the first is warm-up). Bytes: sent by rank 0 per step.")
print("Compute: forward + backward (the backward's time includes what the communication thread took from it).")
print("Hidden: comm_hidden_ms, bucket sums the step did not wait for (they ran during the backward pass); exposed: comm_ms - comm_hidden_ms.")
print("Timings are noisy: 2 cores shared with other jobs, and 2 ranks x 1 thread run on both cores while 1 process x 1 thread uses one.")
print()
print("| model | params | run | bytes/step | analytical | step ms | compute ms | comm ms | hidden ms | exposed ms | exposed % |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for name in ("makemoe", "llama_moe"):
    for run, label in ((f"{name}-1", "1 proc x 1 thread, grad_accum 2"),
                       (f"{name}-2-zero0-mib0", "2 procs x 1 thread, all-reduce after backward"),
                       (f"{name}-2-zero0-mib25", "2 procs x 1 thread, 25 MiB buckets during backward"),
                       (f"{name}-2-zero1-mib25", "2 procs x 1 thread, ZeRO-1")):
        start, m = load(run)
        p, n = start["params"], start["processes"]
        if n == 1:
            analytical = 0
        elif "zero1" in run:
            analytical = 2 * (n - 1) / n * 4 * n * math.ceil(p / n)
        else:
            analytical = 2 * (n - 1) / n * 4 * p
        exposed = m["comm_ms"] - m["comm_hidden_ms"]
        print(f"| {name} | {p / 1e6:.2f} M | {label} | {m['comm_bytes']:,.0f} | {analytical:,.0f} | "
              f"{m['step_ms']:.0f} | {m['forward_ms'] + m['backward_ms']:.0f} | {m['comm_ms']:.1f} | "
              f"{m['comm_hidden_ms']:.1f} | {exposed:.1f} | {100 * exposed / m['step_ms']:.1f} |")
print()
print("Memory (start record, rank 0): optimizer state under ZeRO-1 is 1/N of the plain run's.")
print()
print("| model | run | memory_bytes |")
print("|---|---|---|")
for name in ("makemoe", "llama_moe"):
    for run in (f"{name}-1", f"{name}-2-zero0-mib25", f"{name}-2-zero1-mib25"):
        print(f"| {name} | {run.split('-', 1)[1]} | {load(run)[0]['memory_bytes']:,} |")
PYEOF
} | tee "${RECORD:-/dev/null}"
