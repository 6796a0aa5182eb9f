#!/usr/bin/env bash
# Gradient sums in buckets during the backward pass (dist.bucket_mib): on 2 and 3 processes, buckets
# of one parameter each, the default 25 MiB (one bucket for this small model) and no buckets (the
# sum after the backward pass) give the same losses and gradient norms bit for bit, every step
# record splits its communication time (comm_hidden_ms), and a bad bucket size is refused.
# Skipped (exit 77, with the reason) on a build without MPI or without mpirun.
source "$(dirname "$0")/common.bash"
M=$MOE_BIN
expect_error "negative bucket size" "dist.bucket_mib = -1 must be in [0, 1024]" \
  "$M" train "${TINY[@]}" --steps 1 --set dist.bucket_mib=-1 --out "$WORK/bad"
expect_error "bucket size too large" "dist.bucket_mib = 2048 must be in [0, 1024]" \
  "$M" train "${TINY[@]}" --steps 1 --set dist.bucket_mib=2048 --out "$WORK/bad"
expect_error "bucket size not a number" "config key 'dist.bucket_mib'" \
  "$M" train "${TINY[@]}" --steps 1 --set dist.bucket_mib=lots --out "$WORK/bad"
[[ ! -e $WORK/bad ]] || fail "a refused run wrote $WORK/bad"
[[ ${MOE_MPI:-OFF} == ON ]] || { echo "skipped: this build has no MPI (configure with -DMOE_MPI=ON)"; exit 77; }
command -v mpirun >/dev/null || { echo "skipped: mpirun not found (scripts/setup.sh --test installs openmpi-bin)"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(timeout 120 mpirun --oversubscribe --quiet)

ONE_THREAD=()
for ((i = 0; i < ${#TINY[@]}; i++)); do
  if [[ ${TINY[i]} == --threads ]]; then ONE_THREAD+=(--threads 1); i=$((i + 1)); else ONE_THREAD+=("${TINY[i]}"); fi
done
# grad_accum 2 per process: the hook runs on the second micro-batch only.
RUN=("${ONE_THREAD[@]}" --steps 6 --eval-every 3 --ckpt-every 0 --set train.grad_accum=2)

# same_bits A B: identical step and eval losses and gradient norms; the same bytes sent per step
# (on 2 processes an all-reduce of n elements sends n whatever the buckets, so every gradient was
# sent exactly once); B's steps record comm_hidden_ms within [0, comm_ms].
same_bits() {
  "$PY" - "$1" "$2" "$3" <<'PYEOF'
import json, sys
def load(path):
    return {(r["type"], r["step"]): r for r in map(json.loads, open(path)) if r["type"] in ("step", "eval")}
a, b, ranks = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
assert a.keys() == b.keys(), f"different records: {sorted(set(a) ^ set(b))[:5]}"
for k in sorted(a, key=lambda k: (k[1], k[0])):
    for f in {"step": ["loss", "objective", "aux_loss", "grad_norm"], "eval": ["train_loss", "val_loss"]}[k[0]]:
        assert a[k][f] == b[k][f], f"{k} {f}: {a[k][f]!r} != {b[k][f]!r}"
    if k[0] == "step":
        if ranks == 2:
            assert a[k]["comm_bytes"] == b[k]["comm_bytes"], f"{k} comm_bytes {a[k]['comm_bytes']} != {b[k]['comm_bytes']}"
        assert 0 <= b[k]["comm_hidden_ms"] <= b[k]["comm_ms"], f"{k}: comm_hidden_ms {b[k]['comm_hidden_ms']} outside [0, {b[k]['comm_ms']}]"
print(f"  {len(a)} records identical; comm_hidden_ms of the last step {b[max(b)]['comm_hidden_ms']:.2f} of comm_ms {b[max(b)]['comm_ms']:.2f}")
PYEOF
}

for n in 2 3; do
  for mib in 0 0.000001 25; do
    "${MPIRUN[@]}" -np $n "$M" train "${RUN[@]}" --set dist.bucket_mib=$mib --out "$WORK/dp${n}_$mib" >/dev/null
  done
  # After the backward pass, no time overlaps it.
  "$PY" -c "
import json, sys
steps = [r for r in map(json.loads, open('$WORK/dp${n}_0/metrics.jsonl')) if r['type'] == 'step']
assert steps and all(r['comm_hidden_ms'] == 0 for r in steps), 'hidden time without buckets'"
  for mib in 0.000001 25; do
    echo "$n processes, dist.bucket_mib=$mib vs the sum after the backward pass:"
    same_bits "$WORK/dp${n}_0/metrics.jsonl" "$WORK/dp${n}_$mib/metrics.jsonl" $n
  done
done
echo "ok: gradient buckets"
