# Mixed precision (train.precision = bf16) end to end: a bf16 run's loss trajectory stays within
# a stated tolerance of the fp32 run's with the same seed (both printed) without being identical
# to it; a bf16 run with stochastic rounding, killed and resumed, reproduces the uninterrupted
# run bit for bit (metrics and weights); its fp32 checkpoint evaluates and generates; the start
# record and `moe info` name the precision; bad settings are refused.
source "$(dirname "$0")/common.bash"
M=$MOE_BIN
ARGS=("${TINY[@]}" --steps 40 --eval-every 10 --ckpt-every 5 --seed 11)

"$M" train "${ARGS[@]}" --out "$WORK/fp32" >/dev/null
"$M" train "${ARGS[@]}" --set train.precision=bf16 --out "$WORK/bf16" >/dev/null

# The tolerance: the mean of loss_bf16 - loss_fp32 over each 10 steps is
# within 0.03 nats, and no single step is off by more than 0.15. bf16 keeps 8 significant bits (at
# most 2^-8 relative rounding per GEMM input), so one step's loss moves by about 1e-3 relative;
# over 40 steps the weights drift apart, and one 64-token batch's loss then scatters by a few
# hundredths either way (largest single step 0.079, largest 10-step mean 0.014 with the makemoe
# preset's expert dropout, on x86-64 with OpenBLAS), while the mean stays put. A broken bf16 path
# (garbage or stale weights, wrong scaling, lost gradient terms) is off by far more.
"$PY" - "$WORK/fp32/metrics.jsonl" "$WORK/bf16/metrics.jsonl" <<'PYEOF'
import json, sys
def steps(path):
    recs = [json.loads(l) for l in open(path)]
    return {r["step"]: r["loss"] for r in recs if r["type"] == "step"}, recs[0]
fp32, start32 = steps(sys.argv[1])
bf16, start16 = steps(sys.argv[2])
assert start32["precision"] == "fp32" and start16["precision"] == "bf16", (start32, start16)
assert fp32.keys() == bf16.keys()
print("step  fp32 loss  bf16 loss  difference")
worst, windows = 0.0, {}
for s in sorted(fp32):
    a, b = fp32[s], bf16[s]
    print(f"{s:4d}  {a:9.5f}  {b:9.5f}  {b - a:+.5f}")
    assert abs(b - a) <= 0.15, f"step {s}: bf16 loss {b} is not within 0.15 of fp32 loss {a}"
    worst = max(worst, abs(b - a))
    windows.setdefault((s - 1) // 10, []).append(b - a)
for w, diffs in sorted(windows.items()):
    mean = sum(diffs) / len(diffs)
    print(f"steps {10 * w + 1}-{10 * w + len(diffs)}: mean difference {mean:+.5f}")
    assert abs(mean) <= 0.03, f"steps {10 * w + 1}-{10 * w + len(diffs)}: bf16 mean loss is {mean:+.5f} off fp32's"
assert any(fp32[s] != bf16[s] for s in fp32), "the bf16 run computed exactly what the fp32 run did"
assert fp32[max(fp32)] < fp32[min(fp32)] - 0.3 and bf16[max(bf16)] < bf16[min(bf16)] - 0.3, "no learning"
print(f"ok: bf16 within tolerance of fp32 over {len(fp32)} steps (largest difference {worst:.5f})")
PYEOF

# Stochastic rounding, killed and resumed: the same bits as the uninterrupted run.
SR=("${ARGS[@]}" --set train.precision=bf16 --set train.stochastic_rounding=true)
"$M" train "${SR[@]}" --out "$WORK/sr_full" >/dev/null
run_killed_then_resumed "$WORK/sr_killed" "${SR[@]}"
expect_same_metrics "$WORK/sr_full/metrics.jsonl" "$WORK/sr_killed/metrics.jsonl"
cmp "$WORK/sr_full/checkpoint/model.safetensors" "$WORK/sr_killed/checkpoint/model.safetensors" ||
  fail "resumed bf16 weights differ from the uninterrupted run's"
# Stochastic rounding changes the run (it is not round-to-nearest under another name).
! cmp -s "$WORK/bf16/checkpoint/model.safetensors" "$WORK/sr_full/checkpoint/model.safetensors" ||
  fail "stochastic rounding trained the very weights of round-to-nearest"

# The checkpoint is fp32 weights: eval and generate run it; info names the precision.
printf 'ROMEO: But soft, what light through yonder window breaks?\n%.0s' {1..40} >"$WORK/small.txt"
out=$("$M" eval --checkpoint "$WORK/sr_full" --text "$WORK/small.txt" --batches 2)
[[ $out == *loss* ]] || fail "eval of a bf16-trained checkpoint printed: $out"
"$M" generate --checkpoint "$WORK/sr_full" --prompt "ROMEO:" --max-new-tokens 20 --seed 3 \
  >"$WORK/gen.txt" 2>/dev/null || fail "generate from a bf16-trained checkpoint failed"
[[ -s "$WORK/gen.txt" ]] || fail "generate printed nothing"
info=$("$M" info --checkpoint "$WORK/sr_full")
[[ $info == *precision*bf16* ]] || fail "info lacks train.precision: $info"
grep -q '"F32"' "$WORK/sr_full/checkpoint/model.safetensors" || fail "checkpoint is not fp32"
! grep -q '"BF16"' "$WORK/sr_full/checkpoint/model.safetensors" || fail "checkpoint holds bf16"

expect_error "unknown precision" "train.precision = 'fp16' is not one of: fp32, bf16" \
  "$M" train "${TINY[@]}" --set train.precision=fp16 --steps 1 --out "$WORK/bad1"
expect_error "stochastic rounding in fp32" "train.stochastic_rounding = true needs train.precision = bf16" \
  "$M" train "${TINY[@]}" --set train.stochastic_rounding=true --steps 1 --out "$WORK/bad2"
