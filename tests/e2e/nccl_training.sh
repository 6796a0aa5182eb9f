#!/usr/bin/env bash
# CUDA training under mpirun goes through NCCL (dist/nccl_communicator.h): one process per GPU.
# With one GPU, a 1-process job (NCCL set up, every collective a copy) repeats the plain CUDA run
# bit for bit; with two or more, 2 processes give the losses of one process with grad_accum 2
# within 1e-5 (NCCL adds the ranks' gradients in its own order, not rank order). Skipped (exit 77,
# with the reason) on a build without NCCL, without mpirun, or a machine without a GPU.
source "$(dirname "$0")/common.bash"
M=$MOE_BIN
[[ ${MOE_NCCL:-OFF} == ON ]] || { echo "skip: no NCCL training check: this build has no NCCL transport (needs MOE_CUDA, MOE_MPI and NCCL)"; exit 77; }
command -v mpirun >/dev/null || { echo "skip: no NCCL training check: mpirun not found (scripts/setup.sh --test installs openmpi-bin)"; exit 77; }
SYNTHETIC=(--set data.source=synthetic --set model.vocab_size=65)
RUN=("${TINY[@]}" "${SYNTHETIC[@]}" --eval-every 6 --seed 3 --device cuda)
if ! err=$("$M" train "${RUN[@]}" --steps 1 --out "$WORK/probe" 2>&1 >/dev/null); then
  [[ $err == *"cannot run on cuda: "* ]] || fail "train --device cuda: unexpected failure: $err"
  echo "skip: no NCCL training check: ${err#error: }"
  exit 77
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(timeout 180 mpirun --oversubscribe --quiet)

"$M" train "${RUN[@]}" --steps 6 --set train.grad_accum=2 --out "$WORK/one" >/dev/null
"${MPIRUN[@]}" -np 1 "$M" train "${RUN[@]}" --steps 6 --set train.grad_accum=2 --out "$WORK/nccl1" >/dev/null
expect_same_metrics "$WORK/one/metrics.jsonl" "$WORK/nccl1/metrics.jsonl"
echo "ok: 1 process over NCCL repeats the single-process CUDA run bit for bit"

gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if ((gpus < 2)); then
  echo "skip: 2 processes over NCCL: $gpus GPU(s) here, NCCL needs one per process"
else
  "${MPIRUN[@]}" -np 2 "$M" train "${RUN[@]}" --steps 6 --out "$WORK/nccl2" >/dev/null
  "$PY" - "$WORK/one/metrics.jsonl" "$WORK/nccl2/metrics.jsonl" <<'PYEOF'
import json, sys
def steps(path):
    return {r["step"]: r for r in map(json.loads, open(path)) if r["type"] == "step"}
one, two = steps(sys.argv[1]), steps(sys.argv[2])
assert sorted(one) == sorted(two), (sorted(one), sorted(two))
assert one[1]["loss"] == two[1]["loss"], "step 1: the same weights and batches"
worst = max(abs(one[s]["loss"] - two[s]["loss"]) / one[s]["loss"] for s in one)
assert worst <= 1e-5, f"losses differ by {worst:.2e}"
print(f"ok: 2 processes over NCCL vs 1 process with grad_accum 2: losses within {worst:.2e}")
PYEOF
fi
echo "nccl_training: ok"
