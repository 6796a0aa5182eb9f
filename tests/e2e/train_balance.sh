# Sequence-wise balance loss and global-batch balancing: a run killed after a checkpoint and
# resumed prints the same losses, bit for bit, as the uninterrupted one (the step's expert
# fractions are recounted from its micro-batches, so nothing about them is saved); both losses
# are logged; the checkpoint evaluates and generates; bad settings are refused.
source "$(dirname "$0")/common.bash"
STEPS=30
ARGS=("${TINY[@]}" --set model.seq_aux_loss_coef=0.05 --set model.aux_loss_coef=0.05
      --set model.aux_loss_scope=global_batch --set train.grad_accum=3 --steps $STEPS
      --eval-every 15 --ckpt-every 5 --seed 3)

"$MOE_BIN" train "${ARGS[@]}" --out "$WORK/full" >/dev/null
run_killed_then_resumed "$WORK/killed" "${ARGS[@]}"
expect_same_metrics "$WORK/full/metrics.jsonl" "$WORK/killed/metrics.jsonl"

"$PY" - "$WORK/full/metrics.jsonl" <<'PYEOF'
import json, sys
steps = evals = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["type"] == "step":
        steps += 1
        # f_i P_i summed over experts is about 1 per layer when balanced; 2 MoE layers.
        assert 0.5 < r["seq_aux_loss"] < 10, r
        assert 0.5 < r["aux_loss"] < 10, r
    if r["type"] == "eval":
        evals += 1
        assert all(layer["seq_aux_loss"] > 0 for layer in r["moe"]), r["moe"]
assert steps == 30 and evals == 2, (steps, evals)
print(f"metrics: {steps} steps and {evals} evals log seq_aux_loss")
PYEOF
grep -q 'chart-seq-aux' "$WORK/full/report.html" || fail "report.html has no sequence-wise loss chart"

printf 'First Citizen:\nBefore we proceed any further, hear me speak.\n' >"$WORK/held.txt"
"$MOE_BIN" eval --checkpoint "$WORK/full" --text "$WORK/held.txt" --threads 2 >/dev/null
"$MOE_BIN" generate --checkpoint "$WORK/full" --prompt "Fir" --max-new-tokens 8 --threads 2 >/dev/null

expect_error "an unknown scope" "model.aux_loss_scope" \
  "$MOE_BIN" train "${TINY[@]}" --set model.aux_loss_scope=global --steps 1 --out "$WORK/bad1"
expect_error "global scope without the Switch loss" "needs model.aux_loss_coef > 0" \
  "$MOE_BIN" train "${TINY[@]}" --set model.aux_loss_scope=global_batch \
  --set model.aux_loss_coef=0 --steps 1 --out "$WORK/bad2"
expect_error "a negative weight" "model.seq_aux_loss_coef" \
  "$MOE_BIN" train "${TINY[@]}" --set model.seq_aux_loss_coef=-1 --steps 1 --out "$WORK/bad3"
echo "PASS"
