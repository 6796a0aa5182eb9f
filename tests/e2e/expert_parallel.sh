#!/usr/bin/env bash
# Expert parallelism (train/expert_parallel.h) under mpirun: tests/tools/expert_parallel_check
# runs a dispatch -> combine round trip with identity experts, then compares every rank's
# logits, losses, routing statistics, every gradient and the gradient norm of an expert-parallel
# model with a single-process model on the same micro-batches (within 1e-5 relative), for
# SwiGLU and GPT experts, a shared expert with noisy top-k, a capacity limit and expert choice:
# on 2 ranks (expert parallel 2), 4 ranks (2 x 2: two data-parallel replicas of a 2-rank group)
# and 4 ranks (expert parallel 4). Skipped (exit 77, with the reason) without MPI or mpirun.
source "$(dirname "$0")/common.bash"
CHECK=$MOE_BUILD/tests/expert_parallel_check
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
