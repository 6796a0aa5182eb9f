#!/usr/bin/env bash
# The router tutorial's WikiText-2 comparison in one command (from anywhere; paths below are
# relative to the repository root):
#
#   configs/compare-wikitext/run.sh [--out DIR] [--data DIR] [--input FILE]... [--vocab-size N]
#                                   [-- MOE_COMPARE_FLAGS...]
#
# 1. learns a byte-level BPE of N tokens (default 10,000) from the WikiText-2 text, cleaned as
#    `moe prepare` cleans it, into DATA-tokenizer;
# 2. encodes the text into token shards in DATA (default runs/wikitext-2-bpe10k, the configs'
#    data.dir); steps 1 and 2 are skipped when DATA/meta.json exists;
# 3. trains the five configurations with `moe compare` into OUT (default runs/compare-wikitext).
#
# Inputs (default): wiki.train/valid/test.tokens of WikiText-2 from $MOE_DATA_DIR, ./data or
# ../shared/data, the first that has wiki.valid.tokens. Without wiki.train.tokens (the shared copy
# lacks it; scripts/get_data.sh wikitext-2 fetches it) valid and test are split 90/10 by position.
# Flags after `--` go to `moe compare` (e.g. --steps 20 --threads 2). MOE_BIN: the moe binary
# (default build/moe).
set -euo pipefail
cd "$(dirname "$0")/../.."
MOE=${MOE_BIN:-build/moe}
OUT=runs/compare-wikitext
DATA=runs/wikitext-2-bpe10k
VOCAB=10000
INPUTS=()
die() { echo "error: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    --data) DATA=${2:?--data needs a directory}; shift 2 ;;
    --input) INPUTS+=("${2:?--input needs a file}"); shift 2 ;;
    --vocab-size) VOCAB=${2:?--vocab-size needs a number}; shift 2 ;;
    --) shift; break ;;
    *) die "unknown argument '$1' (flags for moe compare go after --)" ;;
  esac
done
[[ -x $MOE ]] || die "no moe binary at $MOE (build it with scripts/build.sh, or set MOE_BIN)"

if [[ ${#INPUTS[@]} -eq 0 ]]; then
  for dir in ${MOE_DATA_DIR:+"$MOE_DATA_DIR"} data ../shared/data; do
    if [[ -f $dir/wikitext-2/wiki.valid.tokens ]]; then
      for split in train valid test; do
        [[ -f $dir/wikitext-2/wiki.$split.tokens ]] && INPUTS+=("$dir/wikitext-2/wiki.$split.tokens")
      done
      break
    fi
  done
  [[ ${#INPUTS[@]} -gt 0 ]] ||
    die "WikiText-2 not found in \$MOE_DATA_DIR, ./data or ../shared/data (fetch it with scripts/get_data.sh wikitext-2)"
fi

if [[ ! -f $DATA/meta.json ]]; then
  # The tokenizer learns from the training text alone when there is a training file.
  TOKENIZER_INPUTS=("${INPUTS[@]}")
  for f in "${INPUTS[@]}"; do
    [[ $(basename "$f") == wiki.train.* ]] && TOKENIZER_INPUTS=("$f")
  done
  rm -rf "$DATA-tokenizer"
  "$MOE" train-tokenizer --dataset wikitext --input "${TOKENIZER_INPUTS[@]}" --vocab-size "$VOCAB" \
    --out "$DATA-tokenizer"
  "$MOE" prepare --dataset wikitext --input "${INPUTS[@]}" --tokenizer "bpe:$DATA-tokenizer" \
    --out "$DATA"
fi

"$MOE" compare --configs configs/compare-wikitext/*.toml --set "data.dir=$DATA" --out "$OUT" "$@"
