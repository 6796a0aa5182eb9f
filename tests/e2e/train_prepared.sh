# Training on prepared data: moe train --data DIR (memory-mapped shards, the directory's
# tokenizer and vocabulary), shuffled-chunk batches, exact resume after kill -9, generation from
# the checkpoint, and a damaged shard rejected with one clear line.
source "$(dirname "$0")/common.bash"
M="$MOE_BIN"
"$M" prepare --dataset wikitext --input "$MOE_DATA_DIR/wikitext-2/wiki.valid.tokens" \
  --tokenizer char --out "$WORK/data" --quiet >/dev/null
vocab=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["vocab_size"])' "$WORK/data/meta.json")

ARGS=("${TINY[@]}" --data "$WORK/data" --set data.sampling=chunks --set train.grad_accum=2
      --steps 40 --eval-every 20 --ckpt-every 10 --seed 3)
"$M" train "${ARGS[@]}" --out "$WORK/full" >/dev/null
run_killed_then_resumed "$WORK/killed" "${ARGS[@]}"
expect_same_metrics "$WORK/full/metrics.jsonl" "$WORK/killed/metrics.jsonl"

# The run took its vocabulary and tokenizer from the directory and saved the tokenizer.
cmp "$WORK/data/tokenizer.json" "$WORK/full/checkpoint/tokenizer.json" || fail "checkpoint tokenizer differs"
"$PY" - "$WORK/full" "$vocab" <<'PYEOF'
import json, sys
run, vocab = sys.argv[1], int(sys.argv[2])
cfg = json.load(open(f"{run}/checkpoint/config.json"))
cfg = cfg.get("config", cfg)
assert cfg["model"]["vocab_size"] == vocab, cfg["model"]
assert cfg["data"]["source"] == "prepared" and cfg["data"]["sampling"] == "chunks", cfg["data"]
start = json.loads(open(f"{run}/metrics.jsonl").readline())
assert start["type"] == "start" and start["train_tokens"] > 900000, start
# The start record names the OpenBLAS kernel family, the one OPENBLAS_CORETYPE asks for if set.
import os
asked = os.environ.get("OPENBLAS_CORETYPE", "")
assert start["blas"] and (not asked or start["blas"].lower() == asked.lower()), (start["blas"], asked)
print(f"ok: vocab {vocab}, {start['train_tokens']} train tokens")
PYEOF

# Random windows (the default sampling) also train on the mapped shards.
"$M" train "${TINY[@]}" --data "$WORK/data" --steps 3 --out "$WORK/random" | tail -n 1 |
  "$PY" -c 'import json, sys; r = json.load(sys.stdin); assert r["steps"] == 3, r'

# The wikitext-moe preset (Llama-style, block 128, chunks) trains on any prepared directory.
"$M" train --preset wikitext-moe --data "$WORK/data" --set train.batch_size=2 --set model.n_layers=1 \
  --set train.eval_iters=1 --steps 2 --threads 2 --quiet --out "$WORK/preset" | tail -n 1 |
  "$PY" -c 'import json, sys; r = json.load(sys.stdin); assert r["steps"] == 2, r'

# Generation decodes through the saved tokenizer.
text=$("$M" generate --checkpoint "$WORK/killed" --prompt "The " --max-new-tokens 30 --seed 1)
[[ $text == "The "* && ${#text} -ge 20 ]] || fail "generate printed: $text"
echo "ok: generated: $text"

# Evaluation on a prepared split reads the shard directly.
"$M" eval --checkpoint "$WORK/full" --data "$WORK/data" --contiguous --batches 5 |
  "$PY" -c 'import json, math, sys; r = json.load(sys.stdin); assert r["tokens"] == 5 * 4 * 16 and math.isfinite(r["loss"]), r'
expect_error "eval on a split not prepared" "$WORK/data/test.bin" "$M" eval --checkpoint "$WORK/full" --data "$WORK/data" --split test
expect_error "eval with text and data" "exactly one of --text FILE or --data DIR" "$M" eval --checkpoint "$WORK/full" --data "$WORK/data" --text "$WORK/data/meta.json"

# A truncated shard: one line naming the file, and the run's checkpoint untouched.
cp -r "$WORK/data" "$WORK/cut"
truncate -s -1 "$WORK/cut/train.bin"
expect_error "truncated shard" "$WORK/cut/train.bin" "$M" train "${TINY[@]}" --data "$WORK/cut" --steps 2 --out "$WORK/x"
expect_error "missing data dir" "does not exist" "$M" train "${TINY[@]}" --data "$WORK/nothing" --steps 2 --out "$WORK/x"
expect_error "not a prepared dir" "no meta.json" "$M" train "${TINY[@]}" --data "$WORK" --steps 2 --out "$WORK/x"
expect_error "prepared without dir" "data.dir is required" "$M" train "${TINY[@]}" --set data.source=prepared --steps 2 --out "$WORK/x"
expect_error "unknown sampling" "data.sampling" "$M" train "${TINY[@]}" --set data.sampling=sliding --steps 2 --out "$WORK/x"
expect_error "--data with --resume" "drop --config/--preset/--data" "$M" train --resume "$WORK/full" --data "$WORK/data"
echo "train on prepared data: all cases passed"
