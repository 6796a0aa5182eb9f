# A run killed with SIGKILL after a checkpoint and resumed prints the same losses, bit for bit,
# as the uninterrupted run.
source "$(dirname "$0")/common.bash"
STEPS=120
ARGS=("${TINY[@]}" --set train.lr_schedule=cosine --set train.warmup_steps=10 --set train.grad_clip=1
      --set train.grad_accum=2 --steps $STEPS --eval-every 30 --ckpt-every 10 --seed 7)

"$MOE_BIN" train "${ARGS[@]}" --out "$WORK/full" >/dev/null

"$MOE_BIN" train "${ARGS[@]}" --out "$WORK/killed" >/dev/null &
pid=$!
# Kill as soon as a checkpoint exists (mid-run), so the resume has work left to do.
for _ in $(seq 1 600); do
  [[ -f "$WORK/killed/checkpoint/train_state.safetensors" ]] && break
  sleep 0.05
done
kill -9 $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
[[ -f "$WORK/killed/checkpoint/train_state.safetensors" ]] || fail "no checkpoint before the kill"
"$MOE_BIN" train --resume "$WORK/killed" --quiet >/dev/null

"$PY" - "$WORK/full/metrics.jsonl" "$WORK/killed/metrics.jsonl" <<'PYEOF'
import json, sys
def load(path):
    recs = {}
    for line in open(path):
        r = json.loads(line)
        if r["type"] in ("step", "eval"):
            recs[(r["type"], r["step"])] = r
    return recs
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a.keys() == b.keys(), f"different records: {sorted(set(a) ^ set(b))[:5]}"
keys = {"step": ["loss", "objective", "aux_loss", "z_loss", "lr", "grad_norm"],
        "eval": ["train_loss", "val_loss", "moe"]}
for k in sorted(a):
    for f in keys[k[0]]:
        assert a[k][f] == b[k][f], f"{k} {f}: {a[k][f]} != {b[k][f]}"
print(f"resume exact: {len(a)} records identical")
PYEOF
