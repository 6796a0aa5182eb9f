#!/usr/bin/env bash
# Dense vs upcycled vs from-scratch MoE on Tiny Shakespeare (docs/results/upcycling/summary.md).
# Run from the repository root after building; one thread, a few minutes.
set -euo pipefail
D=docs/results/upcycling
M=${MOE_BIN:-build/moe}
rm -rf runs/upcycling
"$M" train --config $D/dense.toml --quiet --out runs/upcycling/dense
"$M" upcycle --checkpoint runs/upcycling/dense --experts 4 --top-k 2 --out runs/upcycling/upcycled
"$M" compare --configs $D/dense_continued.toml $D/upcycled_continued.toml --threads 1 \
  --out runs/upcycling/compare
"$M" train --config $D/moe_scratch.toml --quiet --out runs/upcycling/moe_scratch
