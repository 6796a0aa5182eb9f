#!/usr/bin/env bash
# Configures and builds moe.cpp (Release) into build/: the library, the `moe` binary and, unless
# --no-tests is given, the tests and benchmarks (which need GoogleTest and Google Benchmark).
set -euo pipefail
cd "$(dirname "$0")/.."
TESTS=ON
case ${1:-} in
  "") ;;
  --no-tests) TESTS=OFF ;;
  *) echo "error: unknown option $1 (usage: scripts/build.sh [--no-tests])" >&2; exit 1 ;;
esac
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOE_BUILD_TESTS=$TESTS >/dev/null
cmake --build build -j "$(nproc)"
