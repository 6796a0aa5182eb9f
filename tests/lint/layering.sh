#!/usr/bin/env bash
# Checks the dependency rule of docs/ARCHITECTURE.md ("Layers" section): every `#include "X/..."`
# in src/F/ must name a folder X that the rule lets F use, and the rule itself must list each
# folder after everything it uses (so no cycle can be allowed). Prints every violation.
set -euo pipefail
ROOT=${MOE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
DOC=$ROOT/docs/ARCHITECTURE.md

declare -A allowed=()
declare -A position=()
n=0
# Rule lines look like: "- `nn` → ops, config, core" (or "→ nothing").
while IFS= read -r line; do
  folder=$(sed -E 's/^- `([a-z_]+)` →.*/\1/' <<<"$line")
  uses=$(sed -E 's/^- `[a-z_]+` → *//; s/[`.]//g; s/,/ /g' <<<"$line")
  [[ $uses == nothing* ]] && uses=""
  for u in $uses; do
    [[ -n ${position[$u]:-} ]] || { echo "layering: rule for '$folder' uses '$u', which is not listed before it"; exit 1; }
  done
  allowed[$folder]=" $uses "
  position[$folder]=$n
  n=$((n + 1))
done < <(sed -n '/^## Layers/,/^## /p' "$DOC" | grep -E '^- `[a-z_]+` →')
((n > 0)) || { echo "layering: no rule found in $DOC (section '## Layers')"; exit 1; }

bad=0
for dir in "$ROOT"/src/*/; do
  folder=$(basename "$dir")
  if [[ -z ${position[$folder]:-} ]]; then
    echo "layering: src/$folder has no rule in docs/ARCHITECTURE.md"
    bad=1
    continue
  fi
  while IFS=: read -r file _ target; do
    [[ $target == "$folder" ]] && continue
    if [[ ${allowed[$folder]} != *" $target "* ]]; then
      echo "layering: ${file#"$ROOT"/} includes $target/ (src/$folder may use: $(echo ${allowed[$folder]:-nothing}))"
      bad=1
    fi
  done < <(grep -rHn -o -E '#include "[a-z_]+/' "$dir" | sed -E 's/#include "([a-z_]+)\//\1/')
done
((bad == 0)) && echo "layering: $n folders, every include follows the rule"
exit $bad
