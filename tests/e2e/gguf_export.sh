# moe export --format gguf, checked by its consumers: llama.cpp (node-llama-cpp's prebuilt CPU
# binary, tools/gguf/llama.mjs) loads every exported file, tokenizes WikiText-2 and Tiny
# Shakespeare to moe.cpp's ids, scores a held-out text with the next-token log-likelihood that
# `moe eval` prints and continues a prompt greedily as `moe generate` does; npm's @huggingface/gguf
# parser (tools/gguf/inspect.mjs) reads the metadata and tensor table. Then the refusals and bad
# input: each one `error:` line, exit code 1, and no file (or temporary) left behind.
source "$(dirname "$0")/common.bash"
GGUF_TOOLS="$MOE_ROOT/tools/gguf"
[[ -d $GGUF_TOOLS/node_modules/node-llama-cpp && -d $GGUF_TOOLS/node_modules/@huggingface/gguf ]] ||
  fail "node-llama-cpp and @huggingface/gguf are not installed: run scripts/setup.sh --test" \
    "(npm ci in tools/gguf)"
llama() { node "$GGUF_TOOLS/llama.mjs" "$@"; }
SHAKESPEARE="$MOE_DATA_DIR/tinyshakespeare/input.txt"

# A byte-level BPE of 384 tokens learnt from Tiny Shakespeare's start, and small Llama-style
# models trained a few steps on it. ffn_hidden = 48 is not a multiple of 32, so q8_0 must fall
# back to f16 for the down projections (rows of 48) while quantizing the others (rows of 64).
head -c 200000 "$SHAKESPEARE" >"$WORK/start.txt"
"$MOE_BIN" train-tokenizer --input "$WORK/start.txt" --vocab-size 384 --out "$WORK/bpe" >/dev/null
"$MOE_BIN" prepare --dataset text --input "$SHAKESPEARE" --tokenizer "bpe:$WORK/bpe" \
  --out "$WORK/data" >/dev/null 2>&1
LLAMA=(--preset llama-moe-tiny --data "$WORK/data" --set model.n_layers=2 --set model.n_embed=64
       --set model.n_heads=4 --set model.n_kv_heads=2 --set model.ffn_hidden=48
       --set model.n_experts=4 --set model.top_k=2 --set model.block_size=32
       --set train.batch_size=8 --set train.eval_iters=2 --set train.lr=2e-2 --threads 2 --quiet)
# The MoE: a noisy top-k router, whose noise only acts in training (the export leaves it out);
# 60 steps, so that greedy generation is more than one token repeated.
"$MOE_BIN" train "${LLAMA[@]}" --set model.router=noisy_topk --steps 60 --eval-every 60 \
  --out "$WORK/moe" >/dev/null
# A temperature router (annealed 2 -> 0.5), whose final temperature the export folds into the
# router weights, and a dense model (every layer an FFN).
"$MOE_BIN" train "${LLAMA[@]}" --set model.router=temperature --set model.router_temperature=2 \
  --set model.router_temperature_end=0.5 --steps 4 --eval-every 4 --out "$WORK/temp" >/dev/null
"$MOE_BIN" train "${LLAMA[@]}" --set model.moe_layers=none --steps 4 --eval-every 4 \
  --out "$WORK/dense" >/dev/null

# The held-out text: the last 1,200 bytes of Tiny Shakespeare (inside the validation split).
tail -c 1200 "$SHAKESPEARE" >"$WORK/held.txt"
"$MOE_BIN" tokenize --tokenizer "bpe:$WORK/bpe" "$WORK/held.txt" >"$WORK/held.ids"

# check_file FILE TYPE moe|dense VOCAB: @huggingface/gguf's reading of FILE.
check_file() {
  node "$GGUF_TOOLS/inspect.mjs" "$1" >"$WORK/inspect.json"
  "$PY" - "$WORK/inspect.json" "$2" "$3" "$4" <<'PYEOF'
import json, sys
f = json.load(open(sys.argv[1])); kind = sys.argv[2]; moe = sys.argv[3] == "moe"
vocab = int(sys.argv[4])
m, t = f["metadata"], {x["name"]: x for x in f["tensors"]}
want = {"general.architecture": "llama", "general.alignment": 32, "llama.block_count": 2,
        "llama.context_length": 32, "llama.embedding_length": 64, "llama.feed_forward_length": 48,
        "llama.attention.head_count": 4, "llama.attention.head_count_kv": 2,
        "llama.rope.dimension_count": 16, "llama.rope.freq_base": 10000, "llama.vocab_size": vocab,
        "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2",
        "tokenizer.ggml.bos_token_id": 383, "tokenizer.ggml.eos_token_id": 383,
        "tokenizer.ggml.tokens": {"length": vocab},
        "tokenizer.ggml.token_type": {"length": vocab},
        "tokenizer.ggml.merges": {"length": 127}}
if moe: want.update({"llama.expert_count": 4, "llama.expert_used_count": 2})
for key, value in want.items():
    assert m.get(key) == value, f"{key}: {m.get(key)!r}, expected {value!r}"
assert abs(m["llama.attention.layer_norm_rms_epsilon"] - 1e-5) < 1e-10
assert moe or "llama.expert_count" not in m, "a dense model has no expert_count"
F32, F16, Q8_0, BF16 = 0, 1, 8, 30
w = {"f32": F32, "f16": F16, "bf16": BF16, "q8_0": Q8_0}[kind]
# (shape in ggml order, type): norms and the router stay f32; q8_0 rows of 48 fall back to f16.
expect = {"token_embd.weight": ([64, vocab], w), "output_norm.weight": ([64], F32),
          "output.weight": ([64, vocab], w)}
for b in range(2):
    p = f"blk.{b}."
    expect.update({p + "attn_norm.weight": ([64], F32), p + "ffn_norm.weight": ([64], F32),
                   p + "attn_q.weight": ([64, 64], w), p + "attn_k.weight": ([64, 32], w),
                   p + "attn_v.weight": ([64, 32], w), p + "attn_output.weight": ([64, 64], w)})
    down = F16 if w == Q8_0 else w
    if moe:
        expect.update({p + "ffn_gate_inp.weight": ([64, 4], F32),
                       p + "ffn_gate_exps.weight": ([64, 48, 4], w),
                       p + "ffn_up_exps.weight": ([64, 48, 4], w),
                       p + "ffn_down_exps.weight": ([48, 64, 4], down)})
    else:
        expect.update({p + "ffn_gate.weight": ([64, 48], w), p + "ffn_up.weight": ([64, 48], w),
                       p + "ffn_down.weight": ([48, 64], down)})
assert set(t) == set(expect), f"tensors differ: {sorted(set(t) ^ set(expect))}"
for name, (shape, dtype) in expect.items():
    assert (t[name]["shape"], t[name]["dtype"]) == (shape, dtype), \
        f"{name}: {t[name]['shape']} type {t[name]['dtype']}, expected {shape} type {dtype}"
print(f"ok: @huggingface/gguf reads {len(m)} metadata keys and {len(t)} tensors as expected")
PYEOF
}

# check_nll RUN FILE TOLERANCE: llama.cpp's mean next-token NLL on the held-out text against
# moe eval's (relative difference at most TOLERANCE).
check_nll() {
  local ours theirs
  ours=$("$MOE_BIN" eval --checkpoint "$1" --text "$WORK/held.txt" --contiguous --threads 2)
  theirs=$(llama "$2" nll "$WORK/held.ids" 32)
  "$PY" - "$ours" "$theirs" "$3" "$2" <<'PYEOF'
import json, sys
ours, theirs, tol = json.loads(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3])
assert ours["tokens"] == theirs["tokens"], f"token counts differ: {ours} {theirs}"
rel = abs(theirs["loss"] - ours["loss"]) / ours["loss"]
assert rel <= tol, (f"{sys.argv[4]}: llama.cpp NLL {theirs['loss']} vs moe eval {ours['loss']}: "
                   f"relative {rel:.2e} > {tol}")
print(f"ok: {sys.argv[4].rsplit('/', 1)[-1]}: llama.cpp NLL {theirs['loss']:.6f}, moe eval "
      f"{ours['loss']:.6f} over {ours['tokens']} tokens, relative difference {rel:.2e} <= {tol}")
PYEOF
}

# f32 reproduces moe.cpp up to summation order (the export promises 1e-3; observed ~1e-8). The
# other types round every weight: by at most 2^-11 of its value in f16, 2^-8 in bf16 and, in
# q8_0, half a step of its block's max/127 (~2^-8 of the block's largest). The bounds are 2 to
# 2.5 times that worst rounding of one weight; a loss moves less, since independent rounding errors
# average out in every dot product (observed so far: f16 <= 1e-6, bf16 <= 3e-5, q8_0 <= 2e-4).
declare -A TOLERANCE=([f32]=1e-3 [f16]=1e-3 [bf16]=1e-2 [q8_0]=1e-2)
for type in f32 f16 bf16 q8_0; do
  out="$WORK/moe-$type.gguf"
  "$MOE_BIN" export --checkpoint "$WORK/moe" --format gguf --type "$type" --out "$out" >/dev/null
  check_file "$out" "$type" moe 384
  check_nll "$WORK/moe" "$out" "${TOLERANCE[$type]}"
done
"$MOE_BIN" export --checkpoint "$WORK/temp" --format gguf --out "$WORK/temp.gguf" >/dev/null
check_nll "$WORK/temp" "$WORK/temp.gguf" 1e-3
"$MOE_BIN" export --checkpoint "$WORK/dense" --format gguf --out "$WORK/dense.gguf" >/dev/null
check_file "$WORK/dense.gguf" f32 dense 384
check_nll "$WORK/dense" "$WORK/dense.gguf" 1e-3

# llama.cpp's tokenizer gives moe.cpp's ids on whole files.
for text in "$MOE_DATA_DIR/wikitext-2/wiki.test.tokens" "$SHAKESPEARE"; do
  llama "$WORK/moe-f32.gguf" tokenize "$text" >"$WORK/llama.ids"
  "$MOE_BIN" tokenize --tokenizer "bpe:$WORK/bpe" "$text" >"$WORK/moe.ids"
  cmp -s "$WORK/llama.ids" "$WORK/moe.ids" || fail "$text: llama.cpp's ids differ from moe.cpp's"
  echo "ok: $(basename "$text"): llama.cpp gives moe.cpp's $(wc -l <"$WORK/moe.ids") ids"
done

# Greedy generation: the same first 16 tokens from a prompt (two different characters at least,
# so that the comparison is not one token against itself).
prompt=$'ROMEO:\nI will'
printf '%s' "$prompt" >"$WORK/prompt.txt"
"$MOE_BIN" tokenize --tokenizer "bpe:$WORK/bpe" "$WORK/prompt.txt" >"$WORK/prompt.ids"
theirs=$(llama "$WORK/moe-f32.gguf" greedy "$WORK/prompt.ids" 16)
ours=$("$MOE_BIN" generate --checkpoint "$WORK/moe" --prompt "$prompt" --max-new-tokens 16 \
  --temperature 0 --threads 2 2>/dev/null)
[[ $ours == "$prompt$theirs" ]] ||
  fail "greedy generation differs: moe generate '${ours//$'\n'/\\n}'," \
    "llama.cpp '${theirs//$'\n'/\\n}'"
[[ $(printf '%s' "$theirs" | fold -w1 | sort -u | wc -l) -ge 2 ]] ||
  fail "greedy generation repeats one character ('${theirs//$'\n'/\\n}'): train the model longer"
echo "ok: greedy generation: llama.cpp continues the prompt as moe generate does:" \
  "'${theirs//$'\n'/\\n}'"

# One-step Llama-style runs: GPT-2's tokenizer, then the refusals (settings llama.cpp cannot run
# as moe.cpp does).
TINY_LLAMA=(--preset llama-moe-tiny --set model.n_layers=2 --set model.n_embed=16
            --set model.n_heads=2 --set model.n_kv_heads=1 --set model.ffn_hidden=16
            --set model.block_size=8 --set train.batch_size=2 --set train.eval_iters=1
            --steps 1 --eval-every 1 --threads 2 --quiet)
# GPT-2's own tokenizer (50,257 tokens) in llama.cpp: a one-step model on data prepared with it.
"$MOE_BIN" prepare --dataset text --input "$WORK/start.txt" --tokenizer gpt2 \
  --out "$WORK/data-gpt2" >/dev/null 2>&1
"$MOE_BIN" train "${TINY_LLAMA[@]}" --data "$WORK/data-gpt2" --out "$WORK/gpt2" >/dev/null
"$MOE_BIN" export --checkpoint "$WORK/gpt2" --format gguf --out "$WORK/gpt2.gguf" >/dev/null
for text in "$MOE_DATA_DIR/wikitext-2/wiki.test.tokens" "$SHAKESPEARE"; do
  llama "$WORK/gpt2.gguf" tokenize "$text" >"$WORK/llama.ids"
  "$MOE_BIN" tokenize --tokenizer gpt2 "$text" >"$WORK/moe.ids"
  cmp -s "$WORK/llama.ids" "$WORK/moe.ids" ||
    fail "$text: llama.cpp's GPT-2 ids differ from moe.cpp's"
  echo "ok: $(basename "$text"): llama.cpp's GPT-2 tokenizer gives moe.cpp's" \
    "$(wc -l <"$WORK/moe.ids") ids"
done

refused() {
  local what=$1 fragment=$2 run=$WORK/refused-$RANDOM; shift 2
  "$MOE_BIN" train "$@" --out "$run" >/dev/null
  expect_error "$what" "$fragment" "$MOE_BIN" export --checkpoint "$run" --format gguf \
    --out "$WORK/out/refused.gguf"
}
mkdir "$WORK/out"
refused "GPT-style model" "model.arch = gpt" "${TINY[@]}" --steps 1 --eval-every 1
refused "router noise at inference" "model.router_noise_at_eval = true" "${TINY_LLAMA[@]}" \
  --data "$WORK/data" --set model.router=noisy_topk --set model.router_noise_at_eval=true
refused "shared experts" "model.n_shared_experts = 1" "${TINY_LLAMA[@]}" --data "$WORK/data" \
  --set model.n_shared_experts=1
refused "capacity limit" "model.capacity_factor = 1.25" "${TINY_LLAMA[@]}" --data "$WORK/data" \
  --set model.capacity_factor=1.25
refused "dense and MoE layers mixed" 'model.moe_layers = "every:2"' "${TINY_LLAMA[@]}" \
  --data "$WORK/data" --set model.moe_layers=every:2
refused "character tokenizer" "cannot export a char tokenizer" "${TINY_LLAMA[@]}"

# Bad input.
expect_error "missing checkpoint" "$WORK/none" "$MOE_BIN" export --checkpoint "$WORK/none" \
  --format gguf --out "$WORK/out/x.gguf"
expect_error "unknown format" "--format: onnx not in" "$MOE_BIN" export --checkpoint "$WORK/moe" \
  --format onnx --out "$WORK/out/x.gguf"
expect_error "hf flag with gguf" "--dtype and --max-shard-size are hf options" "$MOE_BIN" export \
  --checkpoint "$WORK/moe" --format gguf --dtype bf16 --out "$WORK/out/x.gguf"
expect_error "gguf flag with hf" "--type is a gguf option" "$MOE_BIN" export \
  --checkpoint "$WORK/moe" --format hf --type f16 --out "$WORK/out/x_hf"
expect_error "unknown type" "--type" "$MOE_BIN" export --checkpoint "$WORK/moe" --format gguf \
  --type q4_0 --out "$WORK/out/x.gguf"
expect_error "--out in a missing directory" "$WORK/out/none/x.gguf" "$MOE_BIN" export \
  --checkpoint "$WORK/moe" --format gguf --out "$WORK/out/none/x.gguf"
touch "$WORK/out/file"
expect_error "--out under a file" "$WORK/out/file/x.gguf" "$MOE_BIN" export \
  --checkpoint "$WORK/moe" --format gguf --out "$WORK/out/file/x.gguf"
expect_error "--out a device" "/dev/full" "$MOE_BIN" export --checkpoint "$WORK/moe" \
  --format gguf --out /dev/full
[[ $(ls -A "$WORK/out") == file ]] || fail "a failed export left files: $(ls -A "$WORK/out")"
echo "ok: no file or temporary left by a failed export"
echo "gguf export: llama.cpp and @huggingface/gguf agree with moe.cpp"
