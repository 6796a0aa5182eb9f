#!/usr/bin/env bash
# GPT-2 encoding speed, moe.cpp vs js-tiktoken (tools/tiktoken), on the same text: WikiText-2
# valid + test concatenated and repeated to about 8 MB. js-tiktoken runs on one thread (node);
# moe.cpp runs on one thread (Tokenizer::encode) and on all cores (encode_parallel). Both must
# produce the same number of tokens. Prints a Markdown table with MB/s (10^6 bytes/s) and ratios.
# Run after scripts/setup.sh and scripts/build.sh: bench/tokenizer_vs_tiktoken.sh [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${1:-3}
DATA=${MOE_DATA_DIR:-../shared/data}
export MOE_DATA_DIR=$DATA
BENCH=build/bench/tokenizer_throughput
[[ -x $BENCH ]] || { echo "error: $BENCH not built (run scripts/build.sh)" >&2; exit 1; }
[[ -d tools/tiktoken/node_modules ]] || { echo "error: run scripts/setup.sh for js-tiktoken" >&2; exit 1; }

TEXT=$(mktemp)
trap 'rm -f "$TEXT"' EXIT
while (($(stat -c %s "$TEXT") < 8000000)); do
  cat "$DATA/wikitext-2/wiki.valid.tokens" "$DATA/wikitext-2/wiki.test.tokens" >>"$TEXT"
done
CORES=$(nproc)

field() { sed -E "s/.*\"$1\": ?([0-9.]+).*/\1/" <<<"$2"; }
js=$(node tools/tiktoken/bench.mjs "$TEXT" "$REPEATS")
one=$("$BENCH" --tokenizer gpt2 "$TEXT" --threads 1 --repeats "$REPEATS")
all=$("$BENCH" --tokenizer gpt2 "$TEXT" --threads "$CORES" --repeats "$REPEATS")
for r in "$one" "$all"; do
  [[ $(field tokens "$r") == $(field tokens "$js") ]] ||
    { echo "error: token counts differ: js-tiktoken $(field tokens "$js"), moe.cpp $(field tokens "$r")" >&2; exit 1; }
done

js_mbs=$(field mb_per_s "$js")
echo "# GPT-2 tokenizer: moe.cpp vs js-tiktoken"
echo
echo "- date: $(date -u +%Y-%m-%d), machine: $(uname -m), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
echo "- text: WikiText-2 valid + test repeated, $(field bytes "$js") bytes, $(field tokens "$js") tokens (equal counts)"
echo "- node $(node --version), js-tiktoken $(node -p 'require("./tools/tiktoken/node_modules/js-tiktoken/package.json").version'); best of $REPEATS passes after a warm-up"
echo
echo "| implementation | threads | MB/s | MB/s per thread | vs js-tiktoken |"
echo "|---|---:|---:|---:|---:|"
row() { awk -v n="$1" -v t="$2" -v m="$3" -v j="$js_mbs" 'BEGIN { printf "| %s | %d | %.2f | %.2f | %.2fx |\n", n, t, m, m / t, m / j }'; }
row "js-tiktoken $(node -p 'require("./tools/tiktoken/node_modules/js-tiktoken/package.json").version')" 1 "$js_mbs"
row "moe.cpp" 1 "$(field mb_per_s "$one")"
row "moe.cpp (encode_parallel)" "$CORES" "$(field mb_per_s "$all")"
