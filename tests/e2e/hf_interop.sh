# Hugging Face export and import (moe export --format hf, moe import --format hf): round trips
# (fp32 bit-identical, bf16/fp16 within their rounding), sharding, the PyTorch reference rebuilt
# from the exported folder by Hugging Face's names and config.json alone (logits to 1e-4, MoE and
# dense), a reference-written bf16 Mixtral imported and scored by moe eval (loss to 1e-4), the
# real transformers when this Python has it, and every refusal with one clear line.
source "$(dirname "$0")/common.bash"
M="$MOE_BIN"
REF="$MOE_ROOT/tools/reference/moe_reference.py"
LOGITS="$MOE_BUILD/tests/hf_logits"
WIKI="$MOE_DATA_DIR/wikitext-2/wiki.valid.tokens"

# A byte-level BPE trained here, data prepared with it, and small Llama-style models.
"$M" train-tokenizer --input "$WIKI" --vocab-size 300 --out "$WORK/bpe" >/dev/null
head -c 100000 "$WIKI" >"$WORK/wiki.txt"
"$M" prepare --dataset text --input "$WORK/wiki.txt" --tokenizer "bpe:$WORK/bpe" --out "$WORK/data" --quiet >/dev/null
# The makemoe preset's n_embed**-0.5 attention scale is GPT-style only: Llama-style models take 0.
LLAMA=("${TINY[@]}" --data "$WORK/data" --set model.arch=llama --set model.attention_scale=0
       --set model.router=topk --set model.n_kv_heads=2 --set model.n_experts=4 --set model.aux_loss_coef=0.02
       --set model.rope_theta=5000 --set model.norm_eps=1e-6)
"$M" train "${LLAMA[@]}" --steps 3 --out "$WORK/moe" >/dev/null
"$M" train "${LLAMA[@]}" --set model.moe_layers=none --steps 3 --out "$WORK/dense" >/dev/null

# compare_weights A B MODE: the tensors of two checkpoints (or folders) are the same set, equal
# (exact) or within bf16's or fp16's rounding of A (bf16, fp16), and some differ when rounded.
compare_weights() {
  "$PY" - "$REF" "$@" <<'PYEOF'
import importlib.util, sys, torch
spec = importlib.util.spec_from_file_location("ref", sys.argv[1]); ref = importlib.util.module_from_spec(spec); spec.loader.exec_module(ref)
a, b = ref.read_hf_weights(sys.argv[2]), ref.read_hf_weights(sys.argv[3])
mode = sys.argv[4]
assert a.keys() == b.keys(), sorted(set(a) ^ set(b))[:5]
changed = 0
for n in a:
    x, y = a[n].float(), b[n].float()
    assert x.shape == y.shape, n
    if mode == "exact":
        assert torch.equal(x.view(torch.int32), y.view(torch.int32)), f"{n} differs"
        continue
    rel, floor = {"bf16": (2.0**-8, 0.0), "fp16": (2.0**-11, 2.0**-25)}[mode]
    bound = rel * x.abs() + floor
    assert ((x - y).abs() <= bound).all(), f"{n}: off by more than {mode} rounding"
    changed += int((x != y).any())
assert mode == "exact" or changed > 0, "nothing was rounded"
print(f"weights {mode}: {len(a)} tensors ok")
PYEOF
}

# --- fp32 round trip: bit-identical tensors, the same model settings, tokenizer files.
out=$("$M" export --checkpoint "$WORK/moe" --format hf --out "$WORK/hf_moe")
for f in config.json generation_config.json model.safetensors vocab.json merges.txt \
  tokenizer.json tokenizer_config.json; do
  [[ -f "$WORK/hf_moe/$f" ]] || fail "export lacks $f: $out"
done
! compgen -G "$WORK/hf_moe.tmp*" >/dev/null || fail "export left its temporary folder"
"$PY" - "$WORK/hf_moe/config.json" "$WORK/hf_moe/tokenizer.json" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1]))
want = {"architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 32,
        "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "num_local_experts": 4, "num_experts_per_tok": 2,
        "rms_norm_eps": 1e-6, "rope_theta": 5000.0, "max_position_embeddings": 16,
        "vocab_size": 300, "tie_word_embeddings": False, "torch_dtype": "float32",
        "router_aux_loss_coef": 0.02, "hidden_act": "silu", "bos_token_id": 299, "eos_token_id": 299}
bad = {k: (c.get(k), v) for k, v in want.items() if c.get(k) != v}
assert not bad, bad
t = json.load(open(sys.argv[2]))
assert t["model"]["type"] == "BPE" and t["pre_tokenizer"]["type"] == "ByteLevel", t.keys()
assert len(t["model"]["vocab"]) == 300 and len(t["model"]["merges"]) == 300 - 257
assert t["added_tokens"][0]["content"] == "<|endoftext|>"
print("config.json and tokenizer.json: ok")
PYEOF
"$M" import --format hf "$WORK/hf_moe" --out "$WORK/moe_back" >/dev/null
compare_weights "$WORK/moe/checkpoint" "$WORK/moe_back/checkpoint" exact
"$PY" - "$WORK/moe/checkpoint/config.json" "$WORK/moe_back/checkpoint/config.json" <<'PYEOF'
import json, sys
a, b = (json.load(open(p))["model"] for p in sys.argv[1:3])
keys = ["arch", "vocab_size", "block_size", "n_embed", "n_layers", "n_heads", "n_kv_heads",
        "ffn_hidden", "n_experts", "top_k", "moe_layers", "router", "n_shared_experts",
        "capacity_factor", "aux_loss_coef", "norm_eps", "rope_theta", "init_std"]
bad = {k: (a[k], b[k]) for k in keys if a[k] != b[k]}
assert not bad, bad
print("model config round trip: ok")
PYEOF
cmp "$WORK/moe/checkpoint/encoder.json" "$WORK/moe_back/checkpoint/encoder.json" ||
  fail "the tokenizer's vocabulary changed in the round trip"
cmp "$WORK/moe/checkpoint/vocab.bpe" "$WORK/moe_back/checkpoint/vocab.bpe" ||
  fail "the tokenizer's merges changed in the round trip"
e1=$("$M" eval --checkpoint "$WORK/moe" --text "$WORK/wiki.txt" --batches 2 --batch-size 4)
e2=$("$M" eval --checkpoint "$WORK/moe_back" --text "$WORK/wiki.txt" --batches 2 --batch-size 4)
[[ $e1 == "$e2" ]] || fail "the imported model scores differently: $e1 vs $e2"
echo "ok: fp32 round trip ($e2)"
# The imported model fine-tunes: its weights start a new run (it carries no dropout; the run's
# own applies).
"$M" train "${LLAMA[@]}" --init-from "$WORK/moe_back" --steps 2 --out "$WORK/finetune" >/dev/null ||
  fail "train --init-from the imported model failed"
echo "ok: the imported model fine-tunes"

# --- bf16 and fp16 exports re-import within their rounding; sharded output.
for dt in bf16 fp16; do
  "$M" export --checkpoint "$WORK/moe" --format hf --dtype $dt --out "$WORK/hf_$dt" >/dev/null
  grep -q "\"torch_dtype\": \"$([[ $dt == bf16 ]] && echo bfloat16 || echo float16)\"" \
    "$WORK/hf_$dt/config.json" || fail "$dt export: wrong torch_dtype"
  "$M" import --format hf "$WORK/hf_$dt" --out "$WORK/back_$dt" >/dev/null
  compare_weights "$WORK/moe/checkpoint" "$WORK/back_$dt/checkpoint" $dt
done
"$M" export --checkpoint "$WORK/moe" --format hf --max-shard-size 40KB --out "$WORK/hf_sharded" >/dev/null
n=$(ls "$WORK/hf_sharded" | grep -c '^model-000[0-9][0-9]-of-000[0-9][0-9]\.safetensors$')
((n > 2)) || fail "--max-shard-size 40KB wrote $n shards"
[[ -f "$WORK/hf_sharded/model.safetensors.index.json" && ! -f "$WORK/hf_sharded/model.safetensors" ]] ||
  fail "sharded export: index or single file wrong"
for s in "$WORK"/hf_sharded/model-*.safetensors; do
  # A shard holds one tensor beyond the limit only when that tensor alone is larger.
  "$PY" -c 'import os,struct,json,sys; p=sys.argv[1]; h=json.loads(open(p,"rb").read()[8:8+struct.unpack("<Q",open(p,"rb").read(8))[0]]); h.pop("__metadata__",None); sizes=[v["data_offsets"][1]-v["data_offsets"][0] for v in h.values()]; assert sum(sizes)<=40000 or len(sizes)==1, (p,sizes)' "$s"
done
"$M" import --format hf "$WORK/hf_sharded" --out "$WORK/back_sharded" >/dev/null
compare_weights "$WORK/moe/checkpoint" "$WORK/back_sharded/checkpoint" exact
echo "ok: bf16, fp16 and $n shards"

# --- the PyTorch reference, built from the exported folders alone, matches our logits.
"$M" export --checkpoint "$WORK/dense" --format hf --out "$WORK/hf_dense" >/dev/null
grep -q '"LlamaForCausalLM"' "$WORK/hf_dense/config.json" || fail "dense export is not Llama"
for m in moe dense; do
  "$LOGITS" "$WORK/$m" "$WORK/logits_$m.safetensors"
  hf_dir="$WORK/hf_$m"
  "$PY" "$REF" hf-check "$hf_dir" "$WORK/logits_$m.safetensors" || fail "reference mismatch ($m)"
done
"$PY" "$REF" hf-check "$WORK/hf_sharded" "$WORK/logits_moe.safetensors" || fail "reference mismatch (sharded)"
# The check can fail: a perturbed weight gives a mismatch.
cp -r "$WORK/hf_dense" "$WORK/hf_dense_bad"
"$PY" - "$REF" "$WORK/hf_dense_bad/model.safetensors" <<'PYEOF'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("ref", sys.argv[1]); ref = importlib.util.module_from_spec(spec); spec.loader.exec_module(ref)
w = ref.read_safetensors(sys.argv[2]); w["model.norm.weight"] = w["model.norm.weight"] * 1.01
ref.write_safetensors(sys.argv[2], w)
PYEOF
if "$PY" "$REF" hf-check "$WORK/hf_dense_bad" "$WORK/logits_dense.safetensors" >/dev/null; then
  fail "hf-check passed a perturbed model"
fi
head -c 1500 "$WORK/wiki.txt" >"$WORK/small.txt"
"$M" tokenize --tokenizer "bpe:$WORK/bpe" "$WORK/small.txt" >"$WORK/ids.txt"
# The real transformers, where this Python has it (tools/reference/hf_check.py).
if "$PY" -c 'import transformers' 2>/dev/null; then
  for m in moe dense; do
    "$PY" "$MOE_ROOT/tools/reference/hf_check.py" "$WORK/hf_$m" "$WORK/logits_$m.safetensors" \
      --text "$WORK/small.txt" --ids "$WORK/ids.txt" ||
      fail "transformers disagrees ($m)"
  done
else
  echo "note: $PY has no transformers; tools/reference/hf_check.py not run"
fi
echo "ok: reference logits"

# --- a bf16 Mixtral written by the reference in Hugging Face's layout imports, and moe eval
# scores it as the reference does; generate runs on it.
for arch in mixtral llama; do
  ref_loss=$("$PY" "$REF" hf-write "$WORK/ref_$arch" --arch $arch --dtype bf16 \
    --tokenizer "$WORK/bpe" --tokens "$WORK/ids.txt")
  "$M" import --format hf "$WORK/ref_$arch" --out "$WORK/ref_${arch}_run" >/dev/null
  ours=$("$M" eval --checkpoint "$WORK/ref_${arch}_run" --text "$WORK/small.txt" --contiguous \
    --batch-size 64)
  "$PY" -c 'import json,sys; a=json.loads(sys.argv[1])["loss"]; b=json.loads(sys.argv[2])["loss"]; e=abs(a-b)/abs(b); print(f"{sys.argv[3]}: moe eval {a:.6f}, reference {b:.6f}, rel err {e:.2e}"); assert e<=1e-4' \
    "$ours" "$ref_loss" "$arch" || fail "imported $arch scores differently from the reference"
done
"$M" generate --checkpoint "$WORK/ref_mixtral_run" --prompt "The" --max-new-tokens 8 --seed 1 \
  >/dev/null 2>&1 || fail "generate on the imported model failed"
echo "ok: reference-written folders import"

# --- refusals: one clear line each, and nothing written.
train_variant() {  # NAME SETTINGS...: a 1-step run with these settings
  local name=$1; shift
  "$M" train "${LLAMA[@]}" "$@" --steps 1 --out "$WORK/v_$name" >/dev/null
}
train_variant noisy --set model.router=noisy_topk
train_variant temperature --set model.router=temperature --set model.router_temperature=2
train_variant shared --set model.n_shared_experts=1
train_variant capacity --set model.capacity_factor=1.25
train_variant mixed --set model.moe_layers=1
"$M" train "${TINY[@]}" --steps 1 --out "$WORK/v_gpt" >/dev/null
"$M" train "${TINY[@]}" --set model.arch=llama --set model.attention_scale=0 --set model.router=topk \
  --steps 1 --out "$WORK/v_char" >/dev/null
export_refused() {  # WHAT FRAGMENT RUN
  expect_error "$1" "$2" "$M" export --checkpoint "$3" --format hf --out "$WORK/refused"
  [[ ! -e "$WORK/refused" ]] && ! compgen -G "$WORK/refused.tmp*" >/dev/null || fail "$1 left files"
}
export_refused "noisy router" "model.router = noisy_topk" "$WORK/v_noisy"
export_refused "temperature router" "model.router = temperature" "$WORK/v_temperature"
export_refused "shared experts" "model.n_shared_experts = 1" "$WORK/v_shared"
export_refused "capacity" "model.capacity_factor = 1.25" "$WORK/v_capacity"
export_refused "mixed layers" "model.moe_layers = \"1\"" "$WORK/v_mixed"
export_refused "gpt" "model.arch = gpt" "$WORK/v_gpt"
export_refused "char tokenizer" "char tokenizer" "$WORK/v_char"
# fp16 cannot hold a weight beyond 65,504: refused (bf16 can).
cp -r "$WORK/hf_moe" "$WORK/hf_big"
"$PY" - "$REF" "$WORK/hf_big/model.safetensors" <<'PYEOF'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("ref", sys.argv[1]); ref = importlib.util.module_from_spec(spec); spec.loader.exec_module(ref)
w = ref.read_safetensors(sys.argv[2]); w["model.norm.weight"][3] = 1e5
ref.write_safetensors(sys.argv[2], w)
PYEOF
"$M" import --format hf "$WORK/hf_big" --out "$WORK/big" >/dev/null
expect_error "fp16 range" "weight model.norm.weight holds 100000" \
  "$M" export --checkpoint "$WORK/big" --format hf --dtype fp16 --out "$WORK/refused"
[[ ! -e "$WORK/refused" ]] || fail "the refused fp16 export left files"
"$M" export --checkpoint "$WORK/big" --format hf --dtype bf16 --out "$WORK/big_bf16" >/dev/null
expect_error "existing out" "already exists" "$M" export --checkpoint "$WORK/moe" --format hf --out "$WORK/hf_moe"
expect_error "bad dtype" "--dtype" "$M" export --checkpoint "$WORK/moe" --format hf --dtype fp8 --out "$WORK/x"
expect_error "bad shard size" "--max-shard-size" "$M" export --checkpoint "$WORK/moe" --format hf --max-shard-size 5XB --out "$WORK/x"
expect_error "unknown format" "--format" "$M" export --checkpoint "$WORK/moe" --format onnx --out "$WORK/x"

# Import: config.json fields, weights and tokenizers our model cannot take.
bad_import() {  # WHAT FRAGMENT PYTHON-EDIT (of the folder $d)
  local d="$WORK/bad_$RANDOM"
  cp -r "$WORK/hf_moe" "$d"
  "$PY" - "$d" "$3" <<'PYEOF'
import json, os, sys
d = sys.argv[1]
def edit_config(**kv):
    p = os.path.join(d, "config.json"); c = json.load(open(p)); c.update(kv); json.dump(c, open(p, "w"))
exec(sys.argv[2])
PYEOF
  expect_error "$1" "$2" "$M" import --format hf "$d" --out "$d.run"
  [[ ! -e "$d.run/checkpoint" ]] || fail "$1: a checkpoint was written"
}
bad_import "rope_scaling" "rope_scaling" 'edit_config(rope_scaling={"type": "linear", "factor": 2.0})'
bad_import "attention_bias" "attention_bias = true" 'edit_config(attention_bias=True)'
bad_import "mlp_bias" "mlp_bias = true" 'edit_config(mlp_bias=True)'
bad_import "hidden_act" "hidden_act = gelu" 'edit_config(hidden_act="gelu")'
bad_import "sliding_window" "sliding_window = 8" 'edit_config(sliding_window=8)'
bad_import "tied embeddings" "tie_word_embeddings = true" 'edit_config(tie_word_embeddings=True)'
bad_import "architecture" "GPT2LMHeadModel is not supported" 'edit_config(architectures=["GPT2LMHeadModel"])'
bad_import "head_dim" "head_dim = 16" 'edit_config(head_dim=16)'
bad_import "jitter" "router_jitter_noise" 'edit_config(router_jitter_noise=0.1)'
bad_import "quantized" "quantization_config" 'edit_config(quantization_config={"quant_method": "gptq"})'
bad_import "shape" "model.embed_tokens.weight" 'edit_config(vocab_size=301)'
bad_import "truncated" "truncated or corrupt" 'p = os.path.join(d, "model.safetensors"); os.truncate(p, os.path.getsize(p) - 100)'
bad_import "garbage header" "truncated or corrupt" 'open(os.path.join(d, "model.safetensors"), "r+b").write(b"\xff" * 8)'
bad_import "no weights" "neither model.safetensors" 'os.remove(os.path.join(d, "model.safetensors"))'
bad_import "no tokenizer" "has no tokenizer" '[os.remove(os.path.join(d, f)) for f in ("tokenizer.json", "vocab.json", "merges.txt")]'
bad_import "sentencepiece tokenizer" "pre_tokenizer type Metaspace" \
  'p = os.path.join(d, "tokenizer.json"); t = json.load(open(p)); t["pre_tokenizer"] = {"type": "Metaspace"}; json.dump(t, open(p, "w"))'
# Sharded folders: a truncated shard, an index naming a missing shard.
sharded_bad() {  # WHAT FRAGMENT EDIT
  local d="$WORK/sbad_$RANDOM"
  cp -r "$WORK/hf_sharded" "$d"
  (cd "$d" && eval "$3")
  expect_error "$1" "$2" "$M" import --format hf "$d" --out "$d.run"
  [[ ! -e "$d.run/checkpoint" ]] || fail "$1: a checkpoint was written"
}
sharded_bad "truncated shard" "model-00002-of-" 'truncate -s -64 model-00002-of-*.safetensors'
sharded_bad "missing shard" "which is missing" 'rm model-00002-of-*.safetensors'
sharded_bad "index names a missing shard" "model-00099-of-00099.safetensors, which is missing" \
  "sed -i 's/model-00001-of-[0-9]*\\.safetensors/model-00099-of-00099.safetensors/' model.safetensors.index.json"
expect_error "existing run" "already holds a checkpoint" "$M" import --format hf "$WORK/hf_moe" --out "$WORK/moe_back"
echo "hf interop: ok"
