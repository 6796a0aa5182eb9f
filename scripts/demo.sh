#!/usr/bin/env bash
# The main job: sets up, builds, trains a small MoE (the makeMoE model) on Tiny Shakespeare for a
# few minutes on 2 cores, then prints generated text. Extra arguments go to `moe train`. It
# installs and builds only what this needs (no test dependencies, no tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh --no-tests
STEPS=${STEPS:-1500}
./build/moe train --preset makemoe --steps "$STEPS" --eval-every 500 --overwrite --out runs/demo "$@"
echo
echo "--- generated text ---"
./build/moe generate --checkpoint runs/demo --prompt "ROMEO:" --max-new-tokens 500 --temperature 0.8
