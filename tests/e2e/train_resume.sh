# A run killed with SIGKILL after a checkpoint and resumed prints the same losses, bit for bit,
# as the uninterrupted run.
source "$(dirname "$0")/common.bash"
STEPS=120
ARGS=("${TINY[@]}" --set train.lr_schedule=cosine --set train.warmup_steps=10 --set train.grad_clip=1
      --set train.grad_accum=2 --steps $STEPS --eval-every 30 --ckpt-every 10 --seed 7)

"$MOE_BIN" train "${ARGS[@]}" --out "$WORK/full" >/dev/null

run_killed_then_resumed "$WORK/killed" "${ARGS[@]}"
expect_same_metrics "$WORK/full/metrics.jsonl" "$WORK/killed/metrics.jsonl"
