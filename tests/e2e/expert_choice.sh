# Expert-choice routing (model.router = expert_choice) end to end: invalid combinations are
# refused, training and evaluation say that the model is not causal (stdout, the start record,
# report.html), routing statistics are logged, resume is exact, and generate and export refuse it.
source "$(dirname "$0")/common.bash"
EC=(--set model.router=expert_choice --set model.aux_loss_coef=0)
LOUD_TINY=()
for a in "${TINY[@]}"; do [[ $a == --quiet ]] || LOUD_TINY+=("$a"); done

expect_error "an aux loss with expert choice" "model.aux_loss_coef = 0.01 has no meaning" \
  "$MOE_BIN" train "${TINY[@]}" --set model.router=expert_choice --set model.aux_loss_coef=0.01 \
  --steps 1 --out "$WORK/bad"
expect_error "a capacity factor with expert choice" "model.capacity_factor = 1.25 has no meaning" \
  "$MOE_BIN" train "${TINY[@]}" "${EC[@]}" --set model.capacity_factor=1.25 --steps 1 \
  --out "$WORK/bad"
[[ ! -e "$WORK/bad" ]] || fail "a refused run wrote $WORK/bad"

# Training: the first line says the routing is not causal; the start record says so too.
"$MOE_BIN" train "${LOUD_TINY[@]}" "${EC[@]}" --steps 6 --eval-every 3 --out "$WORK/run" \
  >"$WORK/train.out"
first=$(head -1 "$WORK/train.out")
[[ $first == "moe train: not causal: model.router = expert_choice"* ]] ||
  fail "train's first line is not the causality note: $first"
"$PY" - "$WORK/run/metrics.jsonl" <<'PYEOF'
import json, sys
recs = [json.loads(line) for line in open(sys.argv[1])]
start = recs[0]
assert start["type"] == "start" and start["causal"] is False, start.get("causal")
assert "later ones included" in start["non_causal_reason"], start["non_causal_reason"]
evals = [r for r in recs if r["type"] == "eval"]
assert evals, "no eval record"
for r in evals:
    for layer in r["moe"]:
        usage = layer["expert_usage"]
        # Every expert takes exactly C tokens, so each has 1/E of the assignments.
        assert all(abs(u - 1 / len(usage)) < 1e-6 for u in usage), usage
        assert 0.0 <= layer["dropped_fraction"] < 1.0, layer
print(f"start record: causal false; {len(evals)} eval records with balanced usage")
PYEOF
grep -q 'class="warning">Not causal: model.router = expert_choice' "$WORK/run/report.html" ||
  fail "report.html has no causality note"
"$MOE_BIN" report "$WORK/run" --out "$WORK/report.html" >/dev/null
grep -q 'Not causal: model.router = expert_choice' "$WORK/report.html" ||
  fail "moe report's page has no causality note"

# Evaluation works, with the note on stderr and causal: false in its JSON.
"$MOE_BIN" eval --checkpoint "$WORK/run" --text "$MOE_DATA_DIR/tinyshakespeare/input.txt" \
  --batches 2 --threads 2 >"$WORK/eval.out" 2>"$WORK/eval.err"
first=$(head -1 "$WORK/eval.err")
[[ $first == "moe eval: not causal: model.router = expert_choice"* ]] ||
  fail "eval's first stderr line is not the causality note: $first"
"$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["causal"] is False and r["loss"] > 0' \
  "$WORK/eval.out"

expect_error "generate from an expert-choice checkpoint" \
  "cannot generate from this model, which decodes one token at a time: model.router = expert_choice" \
  "$MOE_BIN" generate --checkpoint "$WORK/run" --prompt "ROMEO:" --max-new-tokens 5

# Export refuses it by name (a Llama-style model, so the architecture is not what is refused).
"$MOE_BIN" train --preset llama-moe-tiny "${EC[@]}" --set model.n_layers=1 --set model.n_embed=32 \
  --set model.ffn_hidden=32 --set model.block_size=16 --set train.batch_size=2 --threads 2 \
  --steps 1 --quiet --out "$WORK/llama" >/dev/null
expect_error "hf export of expert choice" "cannot export model.router = expert_choice" \
  "$MOE_BIN" export --checkpoint "$WORK/llama" --format hf --out "$WORK/hf"
expect_error "gguf export of expert choice" "cannot export model.router = expert_choice to GGUF" \
  "$MOE_BIN" export --checkpoint "$WORK/llama" --format gguf --out "$WORK/m.gguf"

# Exact resume: killed after a checkpoint and resumed, the same losses bit for bit.
ARGS=("${TINY[@]}" "${EC[@]}" --set train.grad_accum=2 --set model.z_loss_coef=0.001
      --steps 40 --eval-every 20 --ckpt-every 10 --seed 3)
"$MOE_BIN" train "${ARGS[@]}" --out "$WORK/full" >/dev/null
run_killed_then_resumed "$WORK/killed" "${ARGS[@]}"
expect_same_metrics "$WORK/full/metrics.jsonl" "$WORK/killed/metrics.jsonl"
