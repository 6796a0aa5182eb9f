# Runs that need more memory than the machine has are refused before they allocate, with the
# estimate in the message; checkpoints are checked against their config.json before the model is
# built. The commands run under a 3 GB address-space limit (ulimit -v), so any large allocation
# would fail there with a different message. An AddressSanitizer build reserves terabytes of
# address space for its shadow memory, so there the limit is ASan's own: any single allocation
# above 3 GB aborts with a report.
source "$(dirname "$0")/common.bash"
M="$MOE_BIN"
TOOLS="$MOE_BUILD/tests"
TEXT="$MOE_DATA_DIR/tinyshakespeare/input.txt"
if [[ $(ldd "$M") == *libasan* ]]; then
  limited() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}max_allocation_size_mb=3000:allocator_may_return_null=0" "$@"; }
else
  limited() { (ulimit -v 3000000; "$@"); }
fi

# The start of a run states its memory.
LOUD=(); for a in "${TINY[@]}"; do [[ $a == --quiet ]] || LOUD+=("$a"); done
"$M" train "${LOUD[@]}" --steps 1 --out "$WORK/small" >"$WORK/small.out"
grep -Eq '^moe train: memory [0-9.]+ MiB \(weights and gradients [0-9.]+ MiB, optimizer state [0-9.]+ (KiB|MiB), activations [0-9.]+ (KiB|MiB)\), of [0-9.]+ GiB available$' "$WORK/small.out" \
  || fail "no memory line: $(cat "$WORK/small.out")"

# Training that would need terabytes: refused at once, nothing written.
HUGE=(--preset makemoe --set model.n_embed=8192 --set model.n_heads=16 --set model.ffn_hidden=32768
      --set model.n_layers=64 --set model.n_experts=64 --steps 1 --threads 2)
expect_error "training larger than memory" "this run needs about" limited "$M" train "${HUGE[@]}" --out "$WORK/huge"
expect_error "training larger than memory, fix" "TiB (weights and gradients" limited "$M" train "${HUGE[@]}" --out "$WORK/huge"
[[ ! -e "$WORK/huge" ]] || fail "a refused run created its directory"

# moe eval with a batch size whose activations would not fit (the largest --batch-size accepted,
# rows of 256 tokens: about 70 GB of logits alone).
"$M" train "${TINY[@]}" --set model.block_size=256 --steps 1 --out "$WORK/long" >/dev/null
expect_error "eval batch larger than memory" "evaluating with batches of 1048576 rows needs about" \
  limited "$M" eval --checkpoint "$WORK/long" --text "$TEXT" --batch-size 1048576
"$M" train "${TINY[@]}" --steps 2 --out "$WORK/good" >/dev/null
limited "$M" eval --checkpoint "$WORK/good" --text "$TEXT" --batches 1 >/dev/null || fail "a small eval failed"

# A checkpoint of 9.1 G parameters (34 GiB of weights in a sparse file: no disk space): info reads its header only;
# generate, eval and a resume are refused before the model is built.
"$TOOLS/sparse_checkpoint" "$WORK/big" model.n_embed=4096 model.n_heads=16 model.ffn_hidden=16384 >/dev/null
limited "$M" info --checkpoint "$WORK/big" >"$WORK/big.info" || fail "info of a large checkpoint failed"
grep -q "parameters: 9129476289 total" "$WORK/big.info" || fail "info: $(grep parameters "$WORK/big.info")"
expect_error "generate larger than memory" "generating from checkpoint $WORK/big needs about" limited "$M" generate --checkpoint "$WORK/big" --prompt a --max-new-tokens 1
expect_error "eval larger than memory" "use a smaller --batch-size" limited "$M" eval --checkpoint "$WORK/big" --text "$TEXT"
mkdir -p "$WORK/big_run"; mv "$WORK/big" "$WORK/big_run/checkpoint"
expect_error "resume larger than memory" "this run needs about" limited "$M" train --resume "$WORK/big_run"

# config.json is checked against the weights' header before anything is allocated: a vocabulary
# of 16 M would otherwise take 8 GB (past the limit) before the mismatch showed.
rm -rf "$WORK/vocab"; cp -r "$WORK/good/checkpoint" "$WORK/vocab"; rm "$WORK/vocab/manifest.json"
sed -i 's/"vocab_size": 65/"vocab_size": 16000000/' "$WORK/vocab/config.json"
for cmd in info eval; do
  args=(--checkpoint "$WORK/vocab"); [[ $cmd == eval ]] && args+=(--text "$TEXT")
  expect_error "$cmd: vocabulary of config.json against the header" \
    "transformer.wte.weight in checkpoint $WORK/vocab/model.safetensors is F32 (65, 32) but its config.json defines F32 (16000000, 32)" \
    limited "$M" "$cmd" "${args[@]}"
done
echo "memory limits: all cases passed"
