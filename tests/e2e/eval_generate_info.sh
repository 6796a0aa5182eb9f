# A trained checkpoint can be evaluated (random and contiguous windows), sampled from, and shown.
source "$(dirname "$0")/common.bash"
M="$MOE_BIN"
TEXT="$MOE_DATA_DIR/tinyshakespeare/input.txt"
out=$("$M" train "${TINY[@]}" --steps 30 --out "$WORK/run" | tail -n 1)
"$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); assert all(k in r for k in ["params","active_params","steps","tokens_per_s","train_loss","val_loss","seconds"]), r; assert r["steps"]==30' "$out"
head -c 20000 "$TEXT" >"$WORK/small.txt"

r=$("$M" eval --checkpoint "$WORK/run" --text "$WORK/small.txt" --batches 3)
"$PY" -c 'import json,sys,math; r=json.loads(sys.argv[1]); assert r["tokens"]==3*4*16, r; assert abs(r["ppl"]-math.exp(r["loss"]))<1e-6*r["ppl"], r' "$r"
# Contiguous: (n - 1) // block windows, every token of them scored once.
r=$("$M" eval --checkpoint "$WORK/run" --text "$WORK/small.txt" --contiguous)
"$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); assert r["tokens"]==((20000-1)//16)*16, r' "$r"
# Router noise at evaluation: the run's setting (off) unless --router-noise says otherwise; the
# same seed gives the same noise.
clean=$("$M" eval --checkpoint "$WORK/run" --text "$WORK/small.txt" --batches 3)
[[ $clean == "$("$M" eval --checkpoint "$WORK/run" --text "$WORK/small.txt" --batches 3 \
  --router-noise false)" ]] || fail "--router-noise false changed the loss"
noisy=$("$M" eval --checkpoint "$WORK/run" --text "$WORK/small.txt" --batches 3 --router-noise true)
[[ $noisy != "$clean" ]] || fail "--router-noise true gave the noiseless loss: $noisy"
[[ $noisy == "$("$M" eval --checkpoint "$WORK/run" --text "$WORK/small.txt" --batches 3 \
  --router-noise true)" ]] || fail "router noise at eval is not deterministic"

gen=$("$M" generate --checkpoint "$WORK/run" --prompt "ROMEO:" --max-new-tokens 50 --seed 3 2>"$WORK/gen.err")
[[ ${#gen} -ge 50 ]] || fail "generated text too short: $gen"
grep -q "tokens/s" "$WORK/gen.err" || fail "no decode speed reported"
gen2=$("$M" generate --checkpoint "$WORK/run" --prompt "ROMEO:" --max-new-tokens 50 --seed 3 2>/dev/null)
[[ "$gen" == "$gen2" ]] || fail "same seed gave different text"
# --threads caps OpenBLAS as well as OpenMP (the tests run with OMP_NUM_THREADS=2).
"$M" generate --checkpoint "$WORK/run" --prompt "ROMEO:" --max-new-tokens 5 --threads 1 \
  2>"$WORK/gen1.err" >/dev/null
grep -q "threads: OpenMP 1, OpenBLAS 1)" "$WORK/gen1.err" ||
  fail "generate --threads 1 did not cap the threads: $(cat "$WORK/gen1.err")"

info=$("$M" info --checkpoint "$WORK/run")
grep -q "transformer.h.1.block_sparse_moe.experts.7.w2.weight" <<<"$info" || fail "info lacks the expert tensors"
grep -q "active per token" <<<"$info" || fail "info lacks parameter counts"
echo "eval/generate/info: ok"
