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

# expect_error "what" "message fragment" cmd...: the command must exit non-zero with a one-line
# "error: ..." message containing the fragment.
expect_error() {
  local what=$1 fragment=$2; shift 2
  local out rc=0
  out=$("$@" 2>&1 >/dev/null) || rc=$?
  [[ $rc -ne 0 ]] || fail "$what: exit code 0"
  [[ $(printf '%s\n' "$out" | grep -c .) -eq 1 ]] || fail "$what: expected one line, got: $out"
  [[ $out == error:* ]] || fail "$what: message does not start with 'error:': $out"
  [[ $out == *"$fragment"* ]] || fail "$what: message lacks '$fragment': $out"
  echo "ok: $what -> $out"
}
