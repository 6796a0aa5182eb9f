# Shared by the end-to-end tests (sourced, not run). ctest sets MOE_BIN, MOE_BUILD, MOE_ROOT.
set -euo pipefail
: "${MOE_BIN:?run through ctest}" "${MOE_ROOT:?}" "${MOE_BUILD:?}"
export MOE_DATA_DIR="${MOE_DATA_DIR:-$MOE_ROOT/../shared/data}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PY=/usr/bin/python3

# A small GPT-style MoE that trains in seconds on Tiny Shakespeare.
TINY=(--preset makemoe --set model.n_layers=2 --set model.n_embed=32 --set model.n_heads=4
      --set model.ffn_hidden=64 --set model.block_size=16 --set train.batch_size=4
      --set train.eval_iters=4 --threads 2 --quiet)

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_error "what" "message fragment" cmd...: the command must exit with code 1 and a one-line
# "error: ..." message containing the fragment.
expect_error() {
  local what=$1 fragment=$2; shift 2
  local out rc=0
  out=$("$@" 2>&1 >/dev/null) || rc=$?
  [[ $rc -eq 1 ]] || fail "$what: exit code $rc, expected 1: $out"
  [[ $(printf '%s\n' "$out" | grep -c .) -eq 1 ]] || fail "$what: expected one line, got: $out"
  [[ $out == error:* ]] || fail "$what: message does not start with 'error:': $out"
  [[ $out == *"$fragment"* ]] || fail "$what: message lacks '$fragment': $out"
  echo "ok: $what -> $out"
}

# expect_same_metrics A B: two metrics.jsonl files hold the same step and eval records with
# bit-identical losses (an interrupted and resumed run against an uninterrupted one).
expect_same_metrics() {
  "$PY" - "$1" "$2" <<'PYEOF'
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
keys = {"step": ["loss", "objective", "aux_loss", "z_loss", "seq_aux_loss", "lr", "grad_norm"],
        "eval": ["train_loss", "val_loss", "moe"]}
for k in sorted(a):
    for f in keys[k[0]] + (["expert_load"] if k[0] == "step" else []):
        assert a[k].get(f) == b[k].get(f), f"{k} {f}: {a[k].get(f)} != {b[k].get(f)}"
print(f"resume exact: {len(a)} records identical")
PYEOF
}

# run_killed_then_resumed DIR ARGS...: starts `moe train ARGS --out DIR`, kills it with SIGKILL as
# soon as a checkpoint exists, then resumes it to the end. The kill may land inside a later save,
# between its renames latest -> backup and staging -> latest (docs/ARCHITECTURE.md,
# "Checkpoints"); the backup then holds the checkpoint, and --resume must load it.
run_killed_then_resumed() {
  local dir=$1; shift
  "$MOE_BIN" train "$@" --out "$dir" >/dev/null &
  local pid=$!
  for _ in $(seq 1 600); do
    [[ -f "$dir/checkpoint/train_state.safetensors" ]] && break
    sleep 0.05
  done
  kill -9 $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  [[ -f "$dir/checkpoint/train_state.safetensors" || -f "$dir/.checkpoint.old/train_state.safetensors" ]] ||
    fail "no checkpoint before the kill"
  "$MOE_BIN" train --resume "$dir" --quiet >/dev/null
}
