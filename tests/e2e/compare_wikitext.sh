# The WikiText-2 comparison set (configs/compare-wikitext) parses and trains: its run.sh learns a
# tokenizer, prepares shards and runs every configuration for 2 steps through `moe compare`, on a
# slice of WikiText-2, so a broken configuration or script fails here.
source "$(dirname "$0")/common.bash"
M="$MOE_BIN"
SHORT=(--steps 2 --set train.eval_iters=1 --threads 2 --quiet)

# rows_ok SUMMARY_CSV N: the summary holds N runs, each of 2 steps and status ok.
rows_ok() {
  "$PY" - "$1" "$2" <<'PYEOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == int(sys.argv[2]), rows
for r in rows:
    assert r["status"] == "ok" and r["steps"] == "2", r
print("ok: " + ", ".join(f"{r['model']} {r['params']} ({r['active params']})" for r in rows))
PYEOF
}

# WikiText-2 with a 300-token BPE learned from its first 400 lines (the set's model at a small
# vocabulary; one sequence a batch).
head -n 400 "$MOE_DATA_DIR/wikitext-2/wiki.valid.tokens" >"$WORK/slice.tokens"
RUN=("$MOE_ROOT/configs/compare-wikitext/run.sh" --input "$WORK/slice.tokens" --vocab-size 300
     --data "$WORK/wt2")
"${RUN[@]}" --out "$WORK/compare-wikitext" -- "${SHORT[@]}" --set train.batch_size=1 >/dev/null 2>&1 ||
  fail "configs/compare-wikitext/run.sh failed"
rows_ok "$WORK/compare-wikitext/summary.csv" 5
"$PY" - "$WORK" <<'PYEOF'
import csv, json, sys
work = sys.argv[1]
meta = json.load(open(f"{work}/wt2/meta.json"))
assert meta["vocab_size"] == 300 and meta["tokenizer_type"] == "bpe", meta
rows = {r["model"]: r for r in csv.DictReader(open(f"{work}/compare-wikitext/summary.csv"))}
dense, top1, top2 = (int(rows[n]["active params"]) for n in ("1_dense", "2_moe_top1", "3_moe_top2"))
assert int(rows["1_dense"]["params"]) == dense < int(rows["2_moe_top1"]["params"]), rows
assert top1 < top2, rows  # top-2 computes a second expert in the MoE layers
summary = open(f"{work}/compare-wikitext/summary.md").read()
assert f"data prepared {work}/wt2" in summary, summary[:400]
print("ok: compare-wikitext on", meta["splits"]["train"]["tokens"], "train tokens")
PYEOF

# A second run reuses the prepared shards; its own mistakes are one error line.
"${RUN[@]}" --out "$WORK/again" -- "${SHORT[@]}" --set train.batch_size=1 --set model.block_size=32 >"$WORK/again.log" 2>&1 ||
  fail "run.sh on prepared shards failed: $(cat "$WORK/again.log")"
grep -q "\"merges\"\|moe-prepared" "$WORK/again.log" && fail "run.sh prepared the shards again"
rows_ok "$WORK/again/summary.csv" 5
expect_error "unknown run.sh flag" "unknown argument '--step'" "${RUN[@]}" --step 2
expect_error "no moe binary" "no moe binary" env MOE_BIN="$WORK/none" "${RUN[@]}"
echo "compare-wikitext: all cases passed"
