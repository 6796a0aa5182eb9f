# moe report on a run directory, moe train refreshing report.html at each eval, and bad input for
# report and compare: one "error: ..." line, a non-zero exit, nothing lost.
source "$(dirname "$0")/common.bash"
M="$MOE_BIN"

# has FILE TEXT...: every TEXT occurs in FILE.
has() {
  local file=$1; shift
  for text in "$@"; do grep -qF -- "$text" "$file" || fail "$file lacks '$text'"; done
}

# moe train writes report.html at each eval: after the run it shows the last eval's step.
"$M" train "${TINY[@]}" --steps 8 --eval-every 4 --set train.log_every=2 --out "$WORK/run" >/dev/null
has "$WORK/run/report.html" 'id="summary-table"' 'id="chart-loss"' 'id="heatmap-usage-0"' \
  'id="chart-entropy-0"' 'id="chart-aux"' 'id="chart-throughput"' 'at step 8 ' 'max ln(8) = 2.079' \
  'id="chart-imbalance-0"' 'id="chart-load-0-layer0"' 'id="chart-load-0-layer1"' \
  'id="table-top-tokens-0-layer1"' 'uniform 1/8' 'max / mean'
# Expert loads every log interval (steps 2, 4, 6, 8), each layer's shares summing to 1; top tokens
# per expert in the eval records, counted over the val batches: 4 batches x 4 x 16 tokens x top-2.
"$PY" - "$WORK/run/metrics.jsonl" <<'PYEOF'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
loads = [r for r in records if r["type"] == "step" and "expert_load" in r]
assert [r["step"] for r in loads] == [2, 4, 6, 8], [r["step"] for r in loads]
for r in loads:
    assert [l["layer"] for l in r["expert_load"]] == [0, 1]
    for l in r["expert_load"]:
        assert len(l["fractions"]) == 8 and abs(sum(l["fractions"]) - 1) < 1e-6, l
ev = [r for r in records if r["type"] == "eval"][-1]
for layer in ev["moe"]:
    top = layer["top_tokens"]
    assert len(top) == 8 and all(len(t) <= 8 for t in top), top
    assert all(isinstance(s, str) and isinstance(c, int) for t in top for s, c in t)
    counts = [[c for _, c in t] for t in top]
    assert all(c == sorted(c, reverse=True) for c in counts), counts
    assert 0 < sum(map(sum, counts)) <= 4 * 4 * 16 * 2, counts
print("ok: expert_load and top_tokens records")
PYEOF
echo "ok: moe train wrote report.html"

# ... and while the run goes on: the page exists after the first eval, before the run ends.
"$M" train "${TINY[@]}" --steps 100000 --eval-every 20 --set train.ckpt_every=0 --out "$WORK/live" >/dev/null &
pid=$!
for _ in $(seq 1 600); do
  [[ -f "$WORK/live/report.html" ]] && break
  sleep 0.05
done
kill -0 $pid 2>/dev/null || fail "the long run ended before its first report"
has "$WORK/live/report.html" 'id="chart-loss"'
step=''; [[ $(<"$WORK/live/report.html") =~ at\ step\ ([0-9]+)\  ]] && step=${BASH_REMATCH[1]}
kill -9 $pid; wait $pid 2>/dev/null || true
((step >= 20 && step < 100000)) || fail "live report shows step '$step'"
echo "ok: report.html refreshed during the run (step $step)"

# moe report renders the same page from metrics.jsonl, at the default place or with --out.
cp "$WORK/run/report.html" "$WORK/from_train.html"
rm "$WORK/run/report.html"
"$M" report "$WORK/run" >/dev/null
cmp -s "$WORK/run/report.html" "$WORK/from_train.html" || fail "moe report differs from the page moe train wrote"
"$M" report "$WORK/run" --out "$WORK/elsewhere.html" >/dev/null
cmp -s "$WORK/elsewhere.html" "$WORK/from_train.html" || fail "--out page differs"
echo "ok: moe report"

# A killed run's torn last line is skipped with a note.
cp -r "$WORK/run" "$WORK/torn"
printf '{"type":"step","step":9,"loss":' >>"$WORK/torn/metrics.jsonl"
"$M" report "$WORK/torn" >/dev/null
has "$WORK/torn/report.html" "the last line of metrics.jsonl is incomplete"
echo "ok: torn last line"

# A dense run has no MoE charts, and says so.
"$M" train "${TINY[@]}" --set model.moe_layers=none --steps 4 --eval-every 2 --out "$WORK/dense" >/dev/null
has "$WORK/dense/report.html" 'id="chart-loss"' 'dense model (no MoE layers)'
! grep -q 'heatmap-usage' "$WORK/dense/report.html" || fail "dense report has a usage heat map"
echo "ok: dense report"

# A report that cannot be written is a warning; training goes on and finishes.
mkdir -p "$WORK/blocked/report.html/x"
"$M" train "${TINY[@]}" --steps 4 --eval-every 2 --out "$WORK/blocked" >/dev/null 2>"$WORK/blocked.err" \
  || fail "training stopped because report.html could not be written"
grep -q '^warning: report.html not updated: cannot write' "$WORK/blocked.err" || fail "no warning: $(cat "$WORK/blocked.err")"
[[ -f "$WORK/blocked/checkpoint/model.safetensors" ]] || fail "no checkpoint after a report failure"
echo "ok: report failure is a warning"

expect_error "report: missing run dir" "run directory $WORK/none does not exist" "$M" report "$WORK/none"
mkdir -p "$WORK/empty_run"
expect_error "report: no metrics.jsonl" "no metrics.jsonl in $WORK/empty_run" "$M" report "$WORK/empty_run"
printf '{"type":"step"}\n' >"$WORK/empty_run/metrics.jsonl"
expect_error "report: malformed record" "line 1: record lacks the integer 'step'" "$M" report "$WORK/empty_run"

# compare: bad input is rejected before anything is trained.
cfg() {  # cfg NAME EXTRA_MODEL_LINES: a tiny configuration file
  printf '[model]\narch = "gpt"\nn_layers = 2\nn_embed = 32\nn_heads = 4\nffn_hidden = 64\nblock_size = 16\n%b\n[train]\nbatch_size = 4\nsteps = 4\neval_every = 2\neval_iters = 2\nckpt_every = 0\n' "$2" >"$WORK/$1.toml"
  echo "$WORK/$1.toml"
}
A=$(cfg dense 'moe_layers = "none"'); B=$(cfg moe 'top_k = 1')
expect_error "compare: unknown config file" "config file $WORK/nope.toml does not exist" \
  "$M" compare --configs "$A" "$WORK/nope.toml" --quiet --out "$WORK/cmp_x"
[[ ! -e "$WORK/cmp_x" ]] || fail "compare created its output for a bad config list"
C=$(cfg longer 'top_k = 1'); sed -i 's/^steps = 4/steps = 6/' "$C"
expect_error "compare: different budgets" "configuration longer has train.steps = 6 but dense has 4" \
  "$M" compare --configs "$A" "$C" --quiet --out "$WORK/cmp_x"
printf '[model]\nn_layers = "two"\n' >"$WORK/badvalue.toml"
expect_error "compare: bad value" "model.n_layers" "$M" compare --configs "$A" "$WORK/badvalue.toml" --out "$WORK/cmp_x"

# compare: a configuration that fails in training is reported; the others' results are kept.
mkdir -p "$WORK/cmp"; echo "in the way" >"$WORK/cmp/moe"
expect_error "compare: failing configuration" "1 of 2 configurations failed (moe: cannot create directory" \
  "$M" compare --configs "$A" "$B" --steps 4 --threads 2 --quiet --out "$WORK/cmp"
has "$WORK/cmp/summary.md" "| dense |" "| moe | - |" "failed: cannot create directory"
has "$WORK/cmp/summary.csv" "dense," "moe,-"
has "$WORK/cmp/report.html" 'id="summary-table"' 'moe failed: cannot create directory'
[[ -f "$WORK/cmp/dense/checkpoint/model.safetensors" ]] || fail "the dense run's results were lost"
echo "report and compare: all cases passed"
