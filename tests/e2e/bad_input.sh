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

# Damaged copies of the good checkpoint.
damaged() { rm -rf "$WORK/$1"; cp -r "$WORK/good/checkpoint" "$WORK/$1"; echo "$WORK/$1"; }
d=$(damaged truncated); truncate -s -100 "$d/model.safetensors"
expect_error "truncated weights" "truncated" "$M" info --checkpoint "$d"
d=$(damaged corrupt); printf 'XXXXXXXX' | dd of="$d/model.safetensors" bs=1 seek=8 conv=notrunc status=none
expect_error "corrupt header" "model.safetensors" "$M" generate --checkpoint "$d" --max-new-tokens 5
d=$(damaged otherconfig); sed -i 's/"n_layers": 2/"n_layers": 3/' "$d/config.json"
expect_error "weights from another config" "lacks tensor transformer.h.2" "$M" eval --checkpoint "$d" --text "$MOE_DATA_DIR/tinyshakespeare/input.txt"
d=$(damaged badjson); printf '{"model": ' >"$d/config.json"
expect_error "corrupt config.json" "not valid JSON" "$M" info --checkpoint "$d"
d=$(damaged nostate); rm "$d/train_state.safetensors"; mkdir -p "$WORK/nostate_run"; mv "$d" "$WORK/nostate_run/checkpoint"
expect_error "resume without state" "cannot be resumed" "$M" train --resume "$WORK/nostate_run" --steps 8

# A NaN loss stops training with a clear message and leaves the run's checkpoint as it was:
# resume a copy whose weights hold a NaN.
rm -rf "$WORK/nanrun"; mkdir -p "$WORK/nanrun"; cp -r "$WORK/good/checkpoint" "$WORK/nanrun/"
"$PY" - "$WORK/nanrun/checkpoint/model.safetensors" <<'PYEOF'
import json, struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", data[:8])[0]
begin = json.loads(data[8:8 + n])["lm_head.weight"]["data_offsets"][0]
data[8 + n + begin:8 + n + begin + 4] = struct.pack("<f", float("nan"))
open(path, "wb").write(data)
PYEOF
nan_sum=$(sha256sum "$WORK/nanrun/checkpoint/"* | sha256sum)
expect_error "NaN loss" "loss is nan at step 5" "$M" train --resume "$WORK/nanrun" --steps 8
[[ $(sha256sum "$WORK/nanrun/checkpoint/"* | sha256sum) == "$nan_sum" ]] || fail "NaN run rewrote its checkpoint"

[[ $(ckpt_sum) == "$before" ]] || fail "the good checkpoint changed"
echo "bad input: all cases passed"
