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

# TINY on one thread per process (the ranks of an mpirun job share the cores).
ONE_THREAD=()
for ((i = 0; i < ${#TINY[@]}; i++)); do
  if [[ ${TINY[i]} == --threads ]]; then ONE_THREAD+=(--threads 1); i=$((i + 1)); else ONE_THREAD+=("${TINY[i]}"); fi
done

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

# compare_losses A B TOLERANCE EXACT [GRAD_NORM_TOLERANCE]: two metrics.jsonl files hold the same
# step and eval records, whose loss, objective, aux_loss, train_loss and val_loss agree within
# TOLERANCE relative and grad_norm within GRAD_NORM_TOLERANCE (default TOLERANCE), and exactly as
# EXACT says: "step1" (step 1's loss), "losses" (every loss; grad_norm alone within its
# tolerance) or "none". Prints each step's figures and the worst differences.
compare_losses() {
  "$PY" - "$@" <<'PYEOF'
import json, sys
def load(path):
    return {(r["type"], r["step"]): r for r in map(json.loads, open(path)) if r["type"] in ("step", "eval")}
a, b = load(sys.argv[1]), load(sys.argv[2])
tolerance, exact = float(sys.argv[3]), sys.argv[4]
grad_norm_tolerance = float(sys.argv[5]) if len(sys.argv) > 5 else tolerance
assert exact in ("step1", "losses", "none"), f"compare_losses: EXACT is step1, losses or none, not {exact}"
assert a.keys() == b.keys(), f"different records: {sorted(set(a) ^ set(b))[:5]}"
worst, worst_grad_norm = 0.0, 0.0
for k in sorted(a, key=lambda k: (k[1], k[0])):
    for f in {"step": ["loss", "objective", "aux_loss", "grad_norm"], "eval": ["train_loss", "val_loss"]}[k[0]]:
        x, y = a[k][f], b[k][f]
        if exact == "losses" and f != "grad_norm":
            assert x == y, f"{k} {f}: {x!r} != {y!r}"
            continue
        rel = abs(x - y) / max(abs(x), 1e-30)
        if f == "grad_norm":
            worst_grad_norm = max(worst_grad_norm, rel)
            assert rel <= grad_norm_tolerance, f"{k} {f}: {x} vs {y} (relative {rel:.2e})"
        else:
            worst = max(worst, rel)
            assert rel <= tolerance, f"{k} {f}: {x} vs {y} (relative {rel:.2e})"
    if k[0] == "step":
        print(f"  step {k[1]}: loss {a[k]['loss']:.9f} vs {b[k]['loss']:.9f}, grad_norm {a[k]['grad_norm']:.9g} vs {b[k]['grad_norm']:.9g}")
    if exact == "step1" and k == ("step", 1):
        assert a[k]["loss"] == b[k]["loss"], f"step 1 loss {a[k]['loss']} != {b[k]['loss']}"
print(f"  {len(a)} records{', losses identical' if exact == 'losses' else ''}, worst relative difference {worst:.2e} (grad_norm {worst_grad_norm:.2e})")
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
