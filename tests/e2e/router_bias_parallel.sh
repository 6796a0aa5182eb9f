#!/usr/bin/env bash
# Auxiliary-loss-free balancing (model.router_bias) on several processes: the bias update follows
# the expert loads of the step's whole batch, every rank's counts summed, so 2 processes give the
# losses and the selection biases of one process with the same global batch, with softmax and
# sigmoid scores, data parallel and expert parallel; and a run moves between 2 processes and one
# through its checkpoint as if uninterrupted. Skipped (exit 77, with the reason) without MPI or
# mpirun.
source "$(dirname "$0")/common.bash"
M=$MOE_BIN
[[ ${MOE_MPI:-OFF} == ON ]] || { echo "skipped: this build has no MPI (configure with -DMOE_MPI=ON)"; exit 77; }
command -v mpirun >/dev/null || { echo "skipped: mpirun not found (scripts/setup.sh --test installs openmpi-bin)"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
MPIRUN=(timeout 120 mpirun --oversubscribe --quiet)

# gamma 0.01 moves the biases by a visible amount in a few steps (router_bias.sh); a constant
# learning rate, so that a run of 4 steps continues as one of 8.
BIAS=("${ONE_THREAD[@]}" --set model.router=topk --set model.router_bias=true
      --set train.router_bias_update=0.01 --set train.lr_schedule=constant
      --eval-every 4 --ckpt-every 4 --seed 5)
SIGMOID=(--set model.router_score=sigmoid --set model.routed_scaling_factor=2)

# same_biases A B: the selection biases of two checkpoints are the same bits (each is a sum of
# +-gamma steps whose signs come from whole-number loads, so equal loads give equal bits), and
# some of them moved. Prints how many.
same_biases() {
  "$PY" - "$1/checkpoint/model.safetensors" "$2/checkpoint/model.safetensors" <<'PYEOF'
import json, struct, sys
def biases(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    return {k: struct.unpack(f"<{(v['data_offsets'][1] - v['data_offsets'][0]) // 4}f",
                             data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
            for k, v in header.items() if k.endswith("e_score_correction_bias")}
a, b = biases(sys.argv[1]), biases(sys.argv[2])
assert a and a.keys() == b.keys(), f"bias tensors {sorted(a)} vs {sorted(b)}"
for k in a:
    assert a[k] == b[k], f"{k}: {a[k]} vs {b[k]}"
moved = sum(v != 0 for values in a.values() for v in values)
assert moved > 0, "no selection bias moved"
print(f"  selection biases identical: {len(a)} layers, {moved} biases moved")
PYEOF
}

# Data parallel: 2 processes x 1 micro-batch against 1 process with grad_accum 2. Step 1 exactly,
# later steps within 1e-6 and grad_norm within 1e-4, as data_parallel.sh says why. Were each rank
# to move the biases by the loads of its own micro-batch, the biases would differ (and with them
# the routing and the losses).
for score in softmax sigmoid; do
  extra=()
  [[ $score == sigmoid ]] && extra=("${SIGMOID[@]}")
  "$M" train "${BIAS[@]}" "${extra[@]}" --steps 8 --set train.grad_accum=2 --out "$WORK/one_$score" >/dev/null
  "${MPIRUN[@]}" -np 2 "$M" train "${BIAS[@]}" "${extra[@]}" --steps 8 --out "$WORK/dp2_$score" >/dev/null
  echo "router_bias ($score scores), 2 processes vs 1 process with grad_accum 2:"
  compare_losses "$WORK/one_$score/metrics.jsonl" "$WORK/dp2_$score/metrics.jsonl" 1e-6 step1 1e-4
  same_biases "$WORK/one_$score" "$WORK/dp2_$score"
done

# Expert parallel: each rank routes its own tokens over all experts, so the sum runs over all
# ranks too. Within 1e-5, as expert_parallel.sh says why.
"${MPIRUN[@]}" -np 2 "$M" train "${BIAS[@]}" "${SIGMOID[@]}" --steps 8 --set dist.expert_parallel=2 \
  --out "$WORK/ep2" >/dev/null
echo "router_bias, expert parallel 2 on 2 processes vs 1 process with grad_accum 2:"
compare_losses "$WORK/one_sigmoid/metrics.jsonl" "$WORK/ep2/metrics.jsonl" 1e-5 none
same_biases "$WORK/one_sigmoid" "$WORK/ep2"

# N -> M: 4 steps on 2 processes, 4 more on one; 4 steps on one, 4 more expert parallel on 2.
"${MPIRUN[@]}" -np 2 "$M" train "${BIAS[@]}" "${SIGMOID[@]}" --steps 4 --out "$WORK/dp2to1" >/dev/null
"$M" train --resume "$WORK/dp2to1" --steps 8 --quiet >/dev/null
"$M" train "${BIAS[@]}" "${SIGMOID[@]}" --steps 4 --set train.grad_accum=2 --out "$WORK/one2toep2" >/dev/null
"${MPIRUN[@]}" -np 2 "$M" train --resume "$WORK/one2toep2" --set dist.expert_parallel=2 --steps 8 \
  --quiet >/dev/null
for run in dp2to1 one2toep2; do
  echo "$run vs 1 process, uninterrupted:"
  compare_losses "$WORK/one_sigmoid/metrics.jsonl" "$WORK/$run/metrics.jsonl" 1e-5 none
  same_biases "$WORK/one_sigmoid" "$WORK/$run"
done
echo "router_bias on several processes: all cases passed"
