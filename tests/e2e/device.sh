# --device on train, eval, generate and compare: runs on the CPU given explicitly, a run that moves
# to another device on resume (checkpoints do not depend on the device), a device this build or
# machine cannot run refused with one error line before anything is written, and a bad name.
source "$(dirname "$0")/common.bash"
M="$MOE_BIN"
TEXT="$MOE_DATA_DIR/tinyshakespeare/input.txt"
head -c 20000 "$TEXT" >"$WORK/small.txt"

# Training on the CPU, asked for explicitly: the start record and the saved config name it.
"$M" train "${TINY[@]}" --steps 12 --eval-every 6 --ckpt-every 6 --device cpu --out "$WORK/run" \
  >/dev/null
"$PY" - "$WORK/run" <<'PYEOF'
import json, sys
start = json.loads(open(sys.argv[1] + "/metrics.jsonl").readline())
assert start["type"] == "start" and start["device"] == "cpu", start
assert start["config"]["train"]["device"] == "cpu", start["config"]["train"]
saved = json.load(open(sys.argv[1] + "/checkpoint/config.json"))
assert saved["train"]["device"] == "cpu", saved["train"]
PYEOF

# eval and generate on the CPU, explicitly, give what the default gives.
[[ $("$M" eval --checkpoint "$WORK/run" --text "$WORK/small.txt" --batches 2 --device cpu) == \
   $("$M" eval --checkpoint "$WORK/run" --text "$WORK/small.txt" --batches 2) ]] ||
  fail "eval --device cpu differs from the default"
[[ $("$M" generate --checkpoint "$WORK/run" --prompt "ROMEO:" --max-new-tokens 20 --seed 4 \
       --device cpu 2>/dev/null) == \
   $("$M" generate --checkpoint "$WORK/run" --prompt "ROMEO:" --max-new-tokens 20 --seed 4 \
       2>/dev/null) ]] || fail "generate --device cpu differs from the default"

# Whether this build and machine can run CUDA: the refusal is the test where they cannot.
cuda_usable=true
if err=$("$M" eval --checkpoint "$WORK/run" --text "$WORK/small.txt" --batches 1 --device cuda \
           2>&1 >/dev/null); then :; else
  [[ $err == *"cannot run on cuda: "* ]] || fail "eval --device cuda: unexpected failure: $err"
  cuda_usable=false
fi

# The learning rate must not depend on train.steps for a 6-step run resumed to 12 to repeat a
# 12-step run.
CONSTANT_LR=(--set train.lr_schedule=constant --eval-every 6 --ckpt-every 6)
# A run trained on one device resumes on another. The checkpoint here says cuda (config.json
# edited, its manifest entry updated): without a CUDA backend --resume alone is refused and
# changes nothing; --resume --device cpu continues it, bit for bit as an uninterrupted CPU run.
"$M" train "${TINY[@]}" "${CONSTANT_LR[@]}" --steps 12 --device cpu --out "$WORK/full" \
  >/dev/null
"$M" train "${TINY[@]}" "${CONSTANT_LR[@]}" --steps 6 --device cpu --out "$WORK/moved" \
  >/dev/null
"$PY" - "$WORK/moved/checkpoint" <<'PYEOF'
import hashlib, json, os, sys
d = sys.argv[1]
config = json.load(open(d + "/config.json"))
config["train"]["device"] = "cuda"
text = json.dumps(config, indent=2) + "\n"
open(d + "/config.json", "w").write(text)
manifest = json.load(open(d + "/manifest.json"))
manifest["files"]["config.json"] = {"bytes": len(text.encode()),
                                    "sha256": hashlib.sha256(text.encode()).hexdigest()}
open(d + "/manifest.json", "w").write(json.dumps(manifest, indent=2) + "\n")
PYEOF
if ! $cuda_usable; then
  before=$(cd "$WORK/moved" && find . -type f | sort | xargs sha256sum)
  expect_error "resume of a cuda run without cuda" \
    "; the run trained on cuda: continue it on the CPU with moe train --resume $WORK/moved --device cpu" \
    "$M" train --resume "$WORK/moved" --steps 12 --quiet
  [[ $(cd "$WORK/moved" && find . -type f | sort | xargs sha256sum) == "$before" ]] ||
    fail "a refused resume changed the run directory"
fi
"$M" train --resume "$WORK/moved" --steps 12 --device cpu --quiet >/dev/null
expect_same_metrics "$WORK/full/metrics.jsonl" "$WORK/moved/metrics.jsonl"
"$PY" -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["train"]["device"]=="cpu", c' \
  "$WORK/moved/checkpoint/config.json"

printf '[train]\nsteps = 4\nbatch_size = 4\neval_iters = 2\n[model]\nn_layers = 1\nn_embed = 32\nn_heads = 4\nffn_hidden = 32\nblock_size = 16\n' \
  >"$WORK/a.toml"

# compare --device cpu: every run on the CPU, as the summary and each run's start record say.
"$M" compare --configs "$WORK/a.toml" --device cpu --threads 2 --quiet --out "$WORK/cmp" >/dev/null
grep -q ", on cpu," "$WORK/cmp/summary.md" || fail "summary.md does not name the device"
"$PY" -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline()); assert r["device"]=="cpu", r' \
  "$WORK/cmp/a/metrics.jsonl"

if $cuda_usable; then
  # Everything on the GPU: train, resume on the CPU, evaluate and generate on the GPU.
  "$M" train "${TINY[@]}" --steps 6 --ckpt-every 3 --device cuda --out "$WORK/gpu" >/dev/null
  "$M" train --resume "$WORK/gpu" --steps 9 --device cpu --quiet >/dev/null
  "$M" eval --checkpoint "$WORK/gpu" --text "$WORK/small.txt" --batches 2 --device cuda >/dev/null
  "$M" generate --checkpoint "$WORK/gpu" --prompt "A" --max-new-tokens 10 --device cuda \
    >/dev/null 2>&1
  "$M" compare --configs "$WORK/a.toml" --device cuda --quiet --out "$WORK/gpu_compare" >/dev/null
  echo "device: cuda usable; cpu and cuda runs ok"
  exit 0
fi

# No usable CUDA: every command refuses --device cuda in one line, before it writes anything.
expect_error "train --device cuda" "cannot run on cuda: " \
  "$M" train "${TINY[@]}" --steps 2 --device cuda --out "$WORK/cuda_run"
[[ ! -e "$WORK/cuda_run" ]] || fail "train --device cuda wrote $WORK/cuda_run"
expect_error "train.device = cuda" "cannot run on cuda: " \
  "$M" train "${TINY[@]}" --steps 2 --set train.device=cuda --out "$WORK/cuda_set"
[[ ! -e "$WORK/cuda_set" ]] || fail "train.device = cuda wrote $WORK/cuda_set"
expect_error "eval --device cuda" "cannot run on cuda: " \
  "$M" eval --checkpoint "$WORK/run" --text "$WORK/small.txt" --device cuda
expect_error "generate --device cuda" "cannot run on cuda: " \
  "$M" generate --checkpoint "$WORK/run" --prompt "A" --device cuda
expect_error "compare --device cuda" "cannot run on cuda: " \
  "$M" compare --configs "$WORK/a.toml" --device cuda --out "$WORK/cuda_compare"
[[ ! -e "$WORK/cuda_compare" ]] || fail "compare --device cuda wrote $WORK/cuda_compare"

# A name that is no device lists the accepted ones.
for cmd in "train ${TINY[*]} --out $WORK/tpu" "eval --checkpoint $WORK/run --text $WORK/small.txt" \
           "generate --checkpoint $WORK/run" "compare --configs $WORK/a.toml --out $WORK/tpu"; do
  # shellcheck disable=SC2086
  expect_error "${cmd%% *} --device tpu" "--device: expects one of cpu, cuda, got 'tpu'" \
    "$M" $cmd --device tpu
done
expect_error "train.device = tpu" "config value train.device = 'tpu' is not one of: cpu, cuda" \
  "$M" train "${TINY[@]}" --set train.device=tpu --out "$WORK/tpu"
[[ ! -e "$WORK/tpu" ]] || fail "a bad device wrote $WORK/tpu"
echo "device: ok"
