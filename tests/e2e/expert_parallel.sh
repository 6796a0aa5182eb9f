#!/usr/bin/env bash
# Expert parallelism (train/expert_parallel.h) under mpirun: tests/tools/expert_parallel_check
# runs a dispatch -> combine round trip with identity experts, then compares every rank's
# logits, losses, routing statistics, every gradient and the gradient norm of an expert-parallel
# model with a single-process model on the same micro-batches (within 1e-5 relative), for
# SwiGLU and GPT experts, a shared expert with noisy top-k, a capacity limit and expert choice:
# on 2 ranks (expert parallel 2), 4 ranks (2 x 2: two data-parallel replicas of a 2-rank group)
# and 4 ranks (expert parallel 4). Then `moe train --set dist.expert_parallel=E` on the same
# layouts gives the losses, weights and optimizer moments of one process with the same global
# batch (with global-batch balancing too), its checkpoints resume on one process and the reverse, and settings that do not fit are
# refused. Skipped (exit 77, with the reason) without MPI or mpirun.
source "$(dirname "$0")/common.bash"
CHECK=$MOE_BUILD/tests/expert_parallel_check
M=$MOE_BIN
# One process: the exchange is the identity and the model holds every expert.
"$CHECK" 1 >"$WORK/one.out" || fail "expert parallel check on one process: $(cat "$WORK/one.out")"
cat "$WORK/one.out"
[[ ${MOE_MPI:-OFF} == ON ]] || { echo "skipped: this build has no MPI (configure with -DMOE_MPI=ON)"; exit 77; }
command -v mpirun >/dev/null || { echo "skipped: mpirun not found (scripts/setup.sh --test installs openmpi-bin)"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
MPIRUN=(timeout 300 mpirun --oversubscribe --quiet)

for run in "2 2" "4 2" "4 4"; do
  read -r n ep <<<"$run"
  "${MPIRUN[@]}" -np "$n" "$CHECK" "$ep" >"$WORK/check.out" ||
    fail "expert parallel $ep on $n processes: $(cat "$WORK/check.out")"
  cat "$WORK/check.out"
  [[ $(grep -c '^ok:' "$WORK/check.out") -eq 6 ]] || fail "expected 6 checks: $(cat "$WORK/check.out")"
done

# moe train: N processes, each with one micro-batch of 4 rows per step, give the steps of one
# process with grad_accum N, whatever the expert-parallel size. Within 1e-5 relative: the
# experts multiply the rows of every rank of a group in one GEMM, so sums may round differently.
# A constant learning rate, so that a run of 3 steps continues as one of 6.
EP=("${ONE_THREAD[@]}" --eval-every 3 --ckpt-every 3 --set train.lr_schedule=constant)
"$M" train "${EP[@]}" --steps 6 --set train.grad_accum=2 --out "$WORK/one2" >/dev/null
"$M" train "${EP[@]}" --steps 6 --set train.grad_accum=4 --out "$WORK/one4" >/dev/null
"${MPIRUN[@]}" -np 2 "$M" train "${EP[@]}" --steps 6 --set dist.expert_parallel=2 --out "$WORK/ep2" >/dev/null
echo "moe train, expert parallel 2 on 2 processes vs 1 process with grad_accum 2:"
compare_losses "$WORK/one2/metrics.jsonl" "$WORK/ep2/metrics.jsonl" 1e-5 none
for ep in 2 4; do
  "${MPIRUN[@]}" -np 4 "$M" train "${EP[@]}" --steps 6 --set dist.expert_parallel=$ep --out "$WORK/ep${ep}_of4" >/dev/null
  echo "moe train, expert parallel $ep on 4 processes vs 1 process with grad_accum 4:"
  compare_losses "$WORK/one4/metrics.jsonl" "$WORK/ep${ep}_of4/metrics.jsonl" 1e-5 none
done

# Global-batch balancing: each rank runs the routing pass of its own micro-batch (the exchanges of
# the MoE layers before the last run in it as in training) and one sum over all ranks gathers the
# step's expert fractions. With a rank's own fractions only, the aux loss would differ by far more.
GLOBAL=(--set model.aux_loss_scope=global_batch --set model.aux_loss_coef=0.05)
"$M" train "${EP[@]}" "${GLOBAL[@]}" --steps 6 --set train.grad_accum=2 --out "$WORK/one2_global" >/dev/null
"${MPIRUN[@]}" -np 2 "$M" train "${EP[@]}" "${GLOBAL[@]}" --steps 6 --set dist.expert_parallel=2 \
  --out "$WORK/ep2_global" >/dev/null
echo "global-batch balancing, expert parallel 2 on 2 processes vs 1 process with grad_accum 2:"
compare_losses "$WORK/one2_global/metrics.jsonl" "$WORK/ep2_global/metrics.jsonl" 1e-5 none

# The start record counts the whole model's parameters; the memory, each process's slice.
"$PY" - "$WORK/one2/metrics.jsonl" "$WORK/ep2/metrics.jsonl" <<'PYEOF'
import json, sys
one, ep = (json.loads(open(p).readline()) for p in sys.argv[1:3])
for f in ("params", "active_params", "flops_per_token"):
    assert one[f] == ep[f], f"{f}: {one[f]} vs {ep[f]}"
assert ep["expert_parallel"] == 2 and one["expert_parallel"] == 1
assert ep["memory_bytes"] < one["memory_bytes"], f"memory {one['memory_bytes']} vs {ep['memory_bytes']}"
print(f"  start record: {ep['params']} parameters in both; memory_bytes {one['memory_bytes']} -> {ep['memory_bytes']} per process")
PYEOF

# same_tensors A B: two safetensors files hold the same tensors, each within 1e-5 of its largest
# magnitude. Prints the worst.
same_tensors() {
  "$PY" - "$1" "$2" <<'PYEOF'
import array, json, struct, sys
def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    return {k: array.array("f", data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
            for k, v in header.items() if k != "__metadata__"}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert a.keys() == b.keys(), f"different tensors: {sorted(set(a) ^ set(b))[:5]}"
worst = 0.0
for k in a:
    scale = max(max(map(abs, b[k]), default=0.0), 1e-30)
    diff = max((abs(x - y) for x, y in zip(a[k], b[k])), default=0.0) / scale
    assert diff <= 1e-5, f"{k} differs by {diff:.2e} of its largest magnitude"
    worst = max(worst, diff)
print(f"  {sys.argv[1].split('/')[-1]}: {len(a)} tensors, worst difference {worst:.2e} of the largest magnitude")
PYEOF
}
# Rank 0 writes the files of a single-process checkpoint: every expert's weights and moments.
[[ $(cd "$WORK/ep2/checkpoint" && ls) == $(cd "$WORK/one2/checkpoint" && ls) ]] || fail "checkpoint files differ"
echo "expert parallel 2 checkpoint vs 1 process:"
for f in model.safetensors train_state.safetensors; do
  same_tensors "$WORK/one2/checkpoint/$f" "$WORK/ep2/checkpoint/$f"
done

# Checkpoints move between layouts: 3 steps expert parallel on 2 processes, 3 more on one; and 3
# steps on one process, 3 more expert parallel on 2 processes, and on 4 (2 x 2).
"${MPIRUN[@]}" -np 2 "$M" train "${EP[@]}" --steps 3 --set dist.expert_parallel=2 --out "$WORK/ep2to1" >/dev/null
"$M" train --resume "$WORK/ep2to1" --set dist.expert_parallel=1 --steps 6 --quiet >/dev/null
"$M" train "${EP[@]}" --steps 3 --set train.grad_accum=2 --out "$WORK/one2toep2" >/dev/null
"${MPIRUN[@]}" -np 2 "$M" train --resume "$WORK/one2toep2" --set dist.expert_parallel=2 --steps 6 --quiet >/dev/null
"$M" train "${EP[@]}" --steps 3 --set train.grad_accum=4 --out "$WORK/one4toep2x2" >/dev/null
"${MPIRUN[@]}" -np 4 "$M" train --resume "$WORK/one4toep2x2" --set dist.expert_parallel=2 --steps 6 --quiet >/dev/null
grep -q '"expert_parallel": *2' "$WORK/one2toep2/checkpoint/config.json" || fail "config.json lacks dist.expert_parallel 2 after resuming with it"
for run in ep2to1:one2 one2toep2:one2 one4toep2x2:one4; do
  echo "${run%%:*} vs 1 process, uninterrupted:"
  compare_losses "$WORK/${run#*:}/metrics.jsonl" "$WORK/${run%%:*}/metrics.jsonl" 1e-5 none
done

# Settings that do not fit the job or the model are refused, naming the setting.
expect_error "dist.expert_parallel=0" "dist.expert_parallel = 0 must be at least 1" \
  "$M" train "${EP[@]}" --set dist.expert_parallel=0 --out "$WORK/bad0"
expect_error "expert parallel 2 on 1 process" "dist.expert_parallel = 2 must divide the job's 1 processes" \
  "$M" train "${EP[@]}" --set dist.expert_parallel=2 --out "$WORK/bad1"
expect_error "expert parallel with ZeRO-1" "dist.expert_parallel = 2 and dist.zero = 1 cannot be combined" \
  "$M" train "${EP[@]}" --set dist.expert_parallel=2 --set dist.zero=1 --out "$WORK/badz"
expect_error "an expert-parallel checkpoint resumed on 1 process as it was" \
  "resume it with --set dist.expert_parallel=N" "$M" train --resume "$WORK/ep2" --steps 9
out=$("${MPIRUN[@]}" -np 3 "$M" train "${EP[@]}" --set dist.expert_parallel=3 --out "$WORK/bad3" 2>&1) && fail "expert parallel 3 of 8 experts was not refused"
[[ $out == *"error: rank "*"dist.expert_parallel = 3 must divide model.n_experts = 8"* ]] || fail "no clear error for 3 of 8 experts: $out"
echo "ok: expert parallel 3 of 8 experts refused: $(grep -m1 '^error:' <<<"$out")"
echo "expert parallel: all cases passed"
