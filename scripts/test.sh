#!/usr/bin/env bash
# Sets up, builds and runs every test: the unit tests, the PyTorch reference checks and the
# end-to-end CLI tests on the Release build; the same tests on an AddressSanitizer +
# UndefinedBehaviorSanitizer build (scripts/sanitize.sh); then each fuzz target for FUZZ_SECONDS
# (default 30) seconds (scripts/fuzz.sh). Tiny Shakespeare is read from $MOE_DATA_DIR (default
# ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)"
scripts/sanitize.sh
scripts/fuzz.sh
