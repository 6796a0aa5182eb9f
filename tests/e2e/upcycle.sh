# Sparse upcycling and runs started from a checkpoint: a dense run upcycled to a MoE scores the
# dense loss; `train --init-from` continues it, and a killed init-from run resumes bit for bit;
# bad input is refused with one line and leaves nothing behind.
source "$(dirname "$0")/common.bash"
M="$MOE_BIN"
TEXT="$MOE_DATA_DIR/tinyshakespeare/input.txt"
head -c 20000 "$TEXT" >"$WORK/small.txt"

"$M" train "${TINY[@]}" --set model.moe_layers=none --steps 30 --eval-every 0 --out "$WORK/dense" \
  >/dev/null
up=$("$M" upcycle --checkpoint "$WORK/dense" --experts 4 --top-k 2 --out "$WORK/moe" | tail -n 1)
"$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); assert r["n_experts"]==4 and r["top_k"]==2 and r["router"]=="topk" and r["moe_layers"]=="all", r' "$up"
info=$("$M" info --checkpoint "$WORK/moe")
grep -q "transformer.h.1.block_sparse_moe.experts.3.w2.weight" <<<"$info" ||
  fail "the upcycled checkpoint lacks expert tensors"
dense_eval=$("$M" eval --checkpoint "$WORK/dense" --text "$WORK/small.txt" --batches 3)
moe_eval=$("$M" eval --checkpoint "$WORK/moe" --text "$WORK/small.txt" --batches 3)
"$PY" -c 'import json,sys; a=json.loads(sys.argv[1])["loss"]; b=json.loads(sys.argv[2])["loss"]; assert abs(a-b) <= 1e-5*a, (a, b); print(f"upcycled loss {b} = dense loss {a}")' "$dense_eval" "$moe_eval"

# Continue the upcycled model; a run killed after a checkpoint resumes exactly.
ARGS=("${TINY[@]}" --set model.n_experts=4 --set model.router=topk --init-from "$WORK/moe"
      --steps 120 --eval-every 30 --ckpt-every 10 --seed 7)
"$M" train "${ARGS[@]}" --out "$WORK/full" >/dev/null
run_killed_then_resumed "$WORK/killed" "${ARGS[@]}"
expect_same_metrics "$WORK/full/metrics.jsonl" "$WORK/killed/metrics.jsonl"
head -n 1 "$WORK/full/metrics.jsonl" | "$PY" -c 'import json,sys; r=json.loads(sys.stdin.read()); assert r["config"]["train"]["init_from"].endswith("/moe"), r["config"]["train"]'

# Refusals: one error line each, and no output directory.
expect_error "--resume with --init-from" "drop --init-from" \
  "$M" train --resume "$WORK/full" --init-from "$WORK/moe"
expect_error "another model" "has model.n_experts = 4 but this run sets 8" \
  "$M" train "${TINY[@]}" --set model.router=topk --init-from "$WORK/moe" --steps 1 --out "$WORK/x"
printf 'to be or not to be\n%.0s' $(seq 1 400) >"$WORK/other.txt"
"$M" prepare --quiet --dataset text --input "$WORK/other.txt" --tokenizer char --out "$WORK/other" \
  >/dev/null
expect_error "another vocabulary" "tokenizer" \
  "$M" train "${TINY[@]}" --set model.moe_layers=none --init-from "$WORK/dense" --data "$WORK/other" \
  --steps 1 --out "$WORK/x"
expect_error "a MoE checkpoint" "already a MoE model" \
  "$M" upcycle --checkpoint "$WORK/moe" --experts 4 --top-k 2 --out "$WORK/x"
expect_error "one expert" "--experts" \
  "$M" upcycle --checkpoint "$WORK/dense" --experts 1 --top-k 1 --out "$WORK/x"
expect_error "top-k above the experts" "top-k must be in [1, 4]" \
  "$M" upcycle --checkpoint "$WORK/dense" --experts 4 --top-k 5 --out "$WORK/x"
expect_error "top-k 0" "--top-k" \
  "$M" upcycle --checkpoint "$WORK/dense" --experts 4 --top-k 0 --out "$WORK/x"
expect_error "no checkpoint" "$WORK/none" \
  "$M" upcycle --checkpoint "$WORK/none" --experts 4 --top-k 2 --out "$WORK/x"
expect_error "output exists" "already exists" \
  "$M" upcycle --checkpoint "$WORK/dense" --experts 4 --top-k 2 --out "$WORK/moe"
[[ ! -e "$WORK/x" ]] || fail "a refused command left $WORK/x"
"$M" upcycle --checkpoint "$WORK/dense" --experts 2 --top-k 1 --out "$WORK/slash/" >/dev/null
info=$("$M" info --checkpoint "$WORK/slash")
grep -q "experts.1.w1.weight" <<<"$info" || fail "--out DIR/ was not written"
[[ -z $(find "$WORK" -maxdepth 1 -name '*.upcycle.tmp') ]] || fail "a staging directory was left behind"
echo "upcycle / init-from: ok"
