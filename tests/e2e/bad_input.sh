# Bad input: each case is one clear "error: ..." line, a non-zero exit, and an existing
# checkpoint is never damaged.
source "$(dirname "$0")/common.bash"
M="$MOE_BIN"
"$M" train "${TINY[@]}" --steps 4 --out "$WORK/good" >/dev/null
ckpt_sum() { (cd "$WORK/good/checkpoint" && sha256sum ./* | sha256sum); }
before=$(ckpt_sum)

expect_error "missing config" "File does not exist" "$M" train --config "$WORK/nope.toml" --out "$WORK/x"
expect_error "unknown preset" "unknown preset 'nope'" "$M" train --preset nope --out "$WORK/x"
expect_error "unknown key" "unknown config key 'model.n_embd'" "$M" train --preset makemoe --set model.n_embd=3 --out "$WORK/x"
printf '[model]\nn_layers = "four"\n' >"$WORK/bad.toml"
expect_error "bad value in TOML" "model.n_layers" "$M" train --config "$WORK/bad.toml" --out "$WORK/x"
printf '[modle]\nn_layers = 4\n' >"$WORK/typo.toml"
expect_error "unknown key in TOML" "unknown config key 'modle.n_layers'" "$M" train --config "$WORK/typo.toml" --out "$WORK/x"
expect_error "top_k > n_experts" "model.top_k = 9" "$M" train --preset makemoe --set model.top_k=9 --out "$WORK/x"
expect_error "GQA divisibility" "divisible by model.n_kv_heads" "$M" train --preset llama-moe-tiny --set model.n_kv_heads=3 --out "$WORK/x"
expect_error "dropout range" "model.dropout" "$M" train --preset makemoe --set model.dropout=1.5 --out "$WORK/x"
expect_error "not a boolean" "expects true or false, got 'yes'" "$M" train --preset makemoe --set model.router_noise_at_eval=yes --out "$WORK/x"
expect_error "noise at eval without noise" "needs model.router = noisy_topk" "$M" train --preset makemoe --set model.router=topk --set model.router_noise_at_eval=true --out "$WORK/x"
# Optimizer values that make NaN weights certain.
expect_error "adam_eps 0" "train.adam_eps = 0 must be in (0, 1]" "$M" train "${TINY[@]}" --set train.adam_eps=0 --steps 1 --out "$WORK/x"
expect_error "beta2 1" "train.beta2 = 1 must be in [0, 1)" "$M" train "${TINY[@]}" --set train.beta2=1 --steps 1 --out "$WORK/x"
expect_error "negative weight decay" "train.weight_decay = -0.1 is out of range" "$M" train "${TINY[@]}" --set train.weight_decay=-0.1 --steps 1 --out "$WORK/x"
[[ ! -e "$WORK/x" ]] || fail "a refused config wrote $WORK/x"
: >"$WORK/empty.txt"
expect_error "empty corpus" "is empty" "$M" train "${TINY[@]}" --set data.source=text --set data.path="$WORK/empty.txt" --out "$WORK/x"
expect_error "missing corpus" "$WORK/none.txt" "$M" train "${TINY[@]}" --set data.source=text --set data.path="$WORK/none.txt" --out "$WORK/x"
printf 'abc' >"$WORK/short.txt"
expect_error "corpus shorter than a block" "block" "$M" train "${TINY[@]}" --set data.source=text --set data.path="$WORK/short.txt" --out "$WORK/x"
expect_error "new run over a checkpoint" "already holds a checkpoint" "$M" train "${TINY[@]}" --steps 4 --out "$WORK/good"
expect_error "resume a finished run" "already done 4 steps" "$M" train --resume "$WORK/good"
expect_error "missing checkpoint" "does not exist" "$M" info --checkpoint "$WORK/nothing"
"$M" train "${TINY[@]}" --set model.router=topk --steps 1 --out "$WORK/topk" >/dev/null
expect_error "router noise for a topk router" "needs a noisy_topk router" "$M" eval --checkpoint "$WORK/topk" --text "$MOE_DATA_DIR/tinyshakespeare/input.txt" --router-noise true

# Damaged copies of the good checkpoint. Its manifest.json names any file whose bytes changed;
# without the manifest (a checkpoint from before checksums) the readers' own checks apply.
damaged() { rm -rf "$WORK/$1"; cp -r "$WORK/good/checkpoint" "$WORK/$1"; echo "$WORK/$1"; }
d=$(damaged truncated); truncate -s -100 "$d/model.safetensors"
expect_error "truncated weights" "model.safetensors has" "$M" info --checkpoint "$d"
rm "$d/manifest.json"
expect_error "truncated weights, no manifest" "truncated" "$M" info --checkpoint "$d"
d=$(damaged corrupt); printf 'XXXXXXXX' | dd of="$d/model.safetensors" bs=1 seek=8 conv=notrunc status=none
expect_error "corrupt header" "model.safetensors does not match its SHA-256" "$M" generate --checkpoint "$d" --max-new-tokens 5
rm "$d/manifest.json"
expect_error "corrupt header, no manifest" "model.safetensors is truncated or corrupt" "$M" generate --checkpoint "$d" --max-new-tokens 5
d=$(damaged otherconfig); sed -i 's/"n_layers": 2/"n_layers": 3/' "$d/config.json"
expect_error "edited config.json" "config.json does not match its SHA-256" "$M" info --checkpoint "$d"
rm "$d/manifest.json"
expect_error "weights from another config" "lacks tensor transformer.h.2" "$M" eval --checkpoint "$d" --text "$MOE_DATA_DIR/tinyshakespeare/input.txt"
d=$(damaged badjson); printf '{"model": ' >"$d/config.json"; rm "$d/manifest.json"
expect_error "corrupt config.json" "not valid JSON" "$M" info --checkpoint "$d"
d=$(damaged nostate); rm "$d/train_state.safetensors"; mkdir -p "$WORK/nostate_run"; mv "$d" "$WORK/nostate_run/checkpoint"
expect_error "resume without state" "cannot be resumed" "$M" train --resume "$WORK/nostate_run" --steps 8
"$M" info --checkpoint "$WORK/nostate_run" >/dev/null || fail "weights without train_state no longer load"

# A flipped byte in the data region (not the header) of either safetensors file is named.
data_offset() {  # FILE TENSOR: byte offset of the tensor's data in the file
  "$PY" - "$1" "$2" <<'PYEOF'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
print(8 + n + json.loads(data[8:8 + n])[sys.argv[2]]["data_offsets"][0])
PYEOF
}
flip_byte() { "$PY" -c 'import sys; p, o = sys.argv[1], int(sys.argv[2]); b = bytearray(open(p, "rb").read()); b[o] ^= 1; open(p, "wb").write(b)' "$1" "$2"; }
d=$(damaged flipped_weights); flip_byte "$d/model.safetensors" $(( $(data_offset "$d/model.safetensors" lm_head.weight) + 5 ))
expect_error "flipped weight byte" "$d/model.safetensors does not match its SHA-256 in manifest.json" "$M" eval --checkpoint "$d" --text "$MOE_DATA_DIR/tinyshakespeare/input.txt"
mkdir -p "$WORK/flipped_state_run"; d=$(damaged flipped_state_run/checkpoint)
flip_byte "$d/train_state.safetensors" $(( $(data_offset "$d/train_state.safetensors" adam.v) + 2 ))
expect_error "flipped state byte" "train_state.safetensors does not match its SHA-256" "$M" train --resume "$WORK/flipped_state_run" --steps 8

# Non-finite or impossible values are refused on load, naming the tensor (checkpoints without a
# manifest, as an older version could have written them).
set_floats() {  # FILE TENSOR VALUE COUNT: sets the tensor's first COUNT floats
  "$PY" - "$@" <<'PYEOF'
import json, struct, sys
path, name, value, count = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
data = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", data[:8])[0]
begin, end = json.loads(data[8:8 + n])[name]["data_offsets"]
count = min(count, (end - begin) // 4)
data[8 + n + begin:8 + n + begin + 4 * count] = struct.pack("<%df" % count, *[value] * count)
open(path, "wb").write(data)
PYEOF
}
mkdir -p "$WORK/nanw_run"; d=$(damaged nanw_run/checkpoint); rm "$d/manifest.json"
set_floats "$d/model.safetensors" lm_head.weight nan 1
expect_error "NaN weights on load" "weight lm_head.weight holds nan (element 0)" "$M" train --resume "$WORK/nanw_run" --steps 8
expect_error "NaN weights in eval" "weight lm_head.weight holds nan" "$M" eval --checkpoint "$WORK/nanw_run" --text "$MOE_DATA_DIR/tinyshakespeare/input.txt"
mkdir -p "$WORK/negv_run"; d=$(damaged negv_run/checkpoint); rm "$d/manifest.json"
set_floats "$d/train_state.safetensors" adam.v -1 1
expect_error "negative second moment" "adam.v holds the negative second moment -1 (element 0, parameter transformer.wte.weight); it cannot be resumed" "$M" train --resume "$WORK/negv_run" --steps 8
# Finite weights whose outputs overflow: eval refuses to print a loss of NaN.
d=$(damaged overflow); rm "$d/manifest.json"
set_floats "$d/model.safetensors" lm_head.weight 3e38 100000000
expect_error "non-finite eval loss" "the model's outputs are not finite" "$M" eval --checkpoint "$d" --text "$MOE_DATA_DIR/tinyshakespeare/input.txt"

# A diverging run (lr 10, no clipping: the gradient norm is NaN after a few steps) stops with a message
# that says which checkpoint is usable, or that none is, and leaves that checkpoint as it was.
DIVERGE=("${TINY[@]}" --set train.lr=10 --set train.min_lr=0 --set train.weight_decay=10 --eval-every 0 --steps 20)
expect_error "divergence before any checkpoint" "; training stopped; no checkpoint of this run has been saved yet" "$M" train "${DIVERGE[@]}" --ckpt-every 0 --out "$WORK/diverge0"
run_has_ckpt() { [[ -e "$1/checkpoint" || -e "$1/.checkpoint.old" || -e "$1/.checkpoint.tmp" ]]; }
run_has_ckpt "$WORK/diverge0" && fail "a diverged run saved a checkpoint"
expect_error "divergence after a checkpoint" "training stopped; the last checkpoint (step 2) in $WORK/diverge4 is intact" "$M" train "${DIVERGE[@]}" --ckpt-every 2 --out "$WORK/diverge4"
diverge_sum=$(sha256sum "$WORK/diverge4/checkpoint/"* | sha256sum)
"$M" eval --checkpoint "$WORK/diverge4" --text "$MOE_DATA_DIR/tinyshakespeare/input.txt" --batches 1 >/dev/null || fail "the step-2 checkpoint does not load"
expect_error "divergence on resume" "training stopped; the last checkpoint (step 2) in $WORK/diverge4 is intact" "$M" train --resume "$WORK/diverge4"
[[ $(sha256sum "$WORK/diverge4/checkpoint/"* | sha256sum) == "$diverge_sum" ]] || fail "a diverged run rewrote its checkpoint"

[[ $(ckpt_sum) == "$before" ]] || fail "the good checkpoint changed"
echo "bad input: all cases passed"
