# Sigmoid gating and auxiliary-loss-free balancing end to end: a run with selection biases
# resumes bit for bit (the biases travel in the checkpoint), its checkpoint evaluates, generates
# and shows its settings with the biases it was trained to, the exports refuse both methods by
# name (GGUF here; the Hugging Face refusals come after the tokenizer's, which these
# character-level runs fail, so tests/unit/test_hf_interop.cpp checks them), and bad settings are
# refused.
source "$(dirname "$0")/common.bash"
M=$MOE_BIN
# gamma 0.01 moves the biases by a visible amount in 40 steps (1e-3, DeepSeek-V3's value, hardly
# changes the routing of so short a run); the updates stop at step 30, so both phases resume.
# The makemoe preset's n_embed**-0.5 attention scale is GPT-style only: Llama-style models take 0.
ARGS=("${TINY[@]}" --set model.arch=llama --set model.attention_scale=0 --set model.router=topk
      --set model.router_score=sigmoid
      --set model.routed_scaling_factor=2 --set model.router_bias=true
      --set train.router_bias_update=0.01 --set train.router_bias_update_until=30
      --set train.grad_accum=2 --steps 40 --eval-every 10 --ckpt-every 5 --seed 5)

"$M" train "${ARGS[@]}" --out "$WORK/full" >/dev/null
run_killed_then_resumed "$WORK/killed" "${ARGS[@]}"
expect_same_metrics "$WORK/full/metrics.jsonl" "$WORK/killed/metrics.jsonl"
cmp "$WORK/full/checkpoint/model.safetensors" "$WORK/killed/checkpoint/model.safetensors" ||
  fail "resumed weights and selection biases differ from the uninterrupted run's"

# The biases moved (multiples of gamma, not all zero) and stayed put after step 30.
"$PY" - "$WORK/full/checkpoint/model.safetensors" <<'PYEOF'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
biases = {k: v for k, v in header.items() if k.endswith("e_score_correction_bias")}
assert len(biases) == 2, f"expected a bias per MoE layer, got {sorted(biases)}"
moved = 0
for name, info in biases.items():
    begin, end = info["data_offsets"]
    values = struct.unpack(f"<{(end - begin) // 4}f", data[8 + n + begin:8 + n + end])
    moved += sum(v != 0 for v in values)
    for v in values:
        assert abs(v / 0.01 - round(v / 0.01)) < 1e-3, f"{name}: {v} is not a multiple of gamma"
assert moved > 0, "no selection bias moved"
print(f"ok: {moved} selection biases moved, all multiples of gamma")
PYEOF

# The checkpoint routes with its biases in eval and generate; info shows the settings.
printf 'ROMEO: But soft, what light through yonder window breaks?\n%.0s' {1..40} >"$WORK/small.txt"
out=$("$M" eval --checkpoint "$WORK/full" --text "$WORK/small.txt" --batches 2)
[[ $out == *loss* ]] || fail "eval of a router_bias checkpoint printed: $out"
"$M" generate --checkpoint "$WORK/full" --prompt "ROMEO:" --max-new-tokens 20 --seed 3 \
  >"$WORK/gen.txt" 2>/dev/null || fail "generate from a router_bias checkpoint failed"
[[ -s "$WORK/gen.txt" ]] || fail "generate printed nothing"
info=$("$M" info --checkpoint "$WORK/full")
[[ $info == *router_score*sigmoid* ]] || fail "info lacks model.router_score: $info"
[[ $info == *router_bias* ]] || fail "info lacks model.router_bias: $info"

expect_error "gguf export of sigmoid gating" "model.router_score = sigmoid" \
  "$M" export --checkpoint "$WORK/full" --format gguf --out "$WORK/m.gguf"
"$M" train "${TINY[@]}" --set model.arch=llama --set model.attention_scale=0 --set model.router=topk \
  --set model.router_bias=true --steps 2 --out "$WORK/softmax_bias" >/dev/null
expect_error "gguf export of selection biases" "model.router_bias = true" \
  "$M" export --checkpoint "$WORK/softmax_bias" --format gguf --out "$WORK/m2.gguf"

expect_error "sigmoid with the noisy router" "model.router_score = sigmoid needs model.router = topk" \
  "$M" train "${TINY[@]}" --set model.router_score=sigmoid --steps 1 --out "$WORK/bad1"
expect_error "sigmoid with the temperature router" "needs model.router = topk, got temperature" \
  "$M" train "${TINY[@]}" --set model.router=temperature --set model.router_score=sigmoid \
  --steps 1 --out "$WORK/bad2"
expect_error "unknown score function" "model.router_score = 'tanh'" \
  "$M" train "${TINY[@]}" --set model.router_score=tanh --steps 1 --out "$WORK/bad3"
expect_error "scaling with softmax scores" "model.routed_scaling_factor = 2 needs model.router_score = sigmoid" \
  "$M" train "${TINY[@]}" --set model.router=topk --set model.routed_scaling_factor=2 --steps 1 \
  --out "$WORK/bad4"
expect_error "non-positive scaling" "model.routed_scaling_factor = 0" \
  "$M" train "${TINY[@]}" --set model.router=topk --set model.router_score=sigmoid \
  --set model.routed_scaling_factor=0 --steps 1 --out "$WORK/bad5"
expect_error "biases with the noisy router" "model.router_bias needs model.router = topk or temperature" \
  "$M" train "${TINY[@]}" --set model.router_bias=true --steps 1 --out "$WORK/bad6"
expect_error "negative gamma" "train.router_bias_update = -0.1" \
  "$M" train "${TINY[@]}" --set model.router=topk --set model.router_bias=true \
  --set train.router_bias_update=-0.1 --steps 1 --out "$WORK/bad7"
