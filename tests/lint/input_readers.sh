#!/usr/bin/env bash
# Input from files goes through two helpers, so a check made there holds for every reader:
# core/fs opens files (read_file, MappedFile, ReadableFile refuse FIFOs, devices and directories)
# and core/json parses JSON (parse_json bounds nesting, so a deeply nested file cannot overflow the
# stack). Prints every read or parse in src/ or apps/ that bypasses them.
set -euo pipefail
ROOT=${MOE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bad=0
check() {
  local what=$1 pattern=$2 allowed=$3 hits
  hits=$(grep -rnE "$pattern" "$ROOT/src" "$ROOT/apps" --include='*.cpp' --include='*.h' |
         grep -v "^$ROOT/$allowed:" || true)
  if [[ -n $hits ]]; then
    echo "input_readers: $what outside $allowed:"
    echo "${hits//"$ROOT/"/}"
    bad=1
  fi
}
check "a JSON parse" '(json|ordered_json)::(parse|sax_parse|accept|from_(bson|cbor|msgpack|ubjson|bjdata))\b' \
  src/core/json.cpp
check "a file read" '\bifstream\b|std::fstream\b|\bfopen\(|toml::parse_file|\bmmap\(|[^a-z_]::open\(' \
  src/core/fs.cpp
((bad == 0)) && echo "input_readers: every file read goes through core/fs and every JSON parse through core/json"
exit $bad
