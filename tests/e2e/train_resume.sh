# A run killed with SIGKILL after a checkpoint and resumed prints the same losses, bit for bit,
# as the uninterrupted run.
source "$(dirname "$0")/common.bash"
STEPS=120
ARGS=("${TINY[@]}" --set train.lr_schedule=cosine --set train.warmup_steps=10 --set train.grad_clip=1
      --set train.grad_accum=2 --steps $STEPS --eval-every 30 --ckpt-every 10 --seed 7)

"$MOE_BIN" train "${ARGS[@]}" --out "$WORK/full" >/dev/null

run_killed_then_resumed "$WORK/killed" "${ARGS[@]}"
expect_same_metrics "$WORK/full/metrics.jsonl" "$WORK/killed/metrics.jsonl"

# Fine-grained routed experts of their own hidden size plus a shared one (makemoe-fine's layout,
# small): resume is exact too, expert loads included, and the checkpoint evaluates, generates and
# shows its counts.
FINE=("${TINY[@]}" --set model.expert_hidden=16 --set model.n_experts=7 --set model.top_k=3
      --set model.n_shared_experts=1 --set train.log_every=5 --steps 40 --eval-every 20
      --ckpt-every 10 --seed 7)
"$MOE_BIN" train "${FINE[@]}" --out "$WORK/fine_full" >/dev/null
run_killed_then_resumed "$WORK/fine_killed" "${FINE[@]}"
expect_same_metrics "$WORK/fine_full/metrics.jsonl" "$WORK/fine_killed/metrics.jsonl"
grep -q '"expert_load"' "$WORK/fine_full/metrics.jsonl" || fail "no expert_load records"
"$MOE_BIN" eval --checkpoint "$WORK/fine_full" --text "$MOE_DATA_DIR/tinyshakespeare/input.txt" \
  --batches 2 --threads 2 >"$WORK/fine_eval.out" || fail "eval of the fine-grained checkpoint"
"$MOE_BIN" generate --checkpoint "$WORK/fine_full" --prompt "The " --max-new-tokens 8 --threads 2 \
  >"$WORK/fine_gen.out" || fail "generate from the fine-grained checkpoint"
"$MOE_BIN" info --checkpoint "$WORK/fine_full" >"$WORK/fine_info.out" || fail "info"
grep -q '"expert_hidden": 16' "$WORK/fine_info.out" || fail "info lacks expert_hidden: $(cat "$WORK/fine_info.out")"
echo "ok: fine-grained experts resume exactly, evaluate, generate: $(tr -d '\n' <"$WORK/fine_gen.out" | head -c 40)"
