#!/usr/bin/env bash
# Sets up, builds and runs every test (unit tests, the PyTorch reference checks, end-to-end CLI
# tests). Tiny Shakespeare is read from $MOE_DATA_DIR (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)"
