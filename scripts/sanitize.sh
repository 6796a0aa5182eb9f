#!/usr/bin/env bash
# Builds the library, the `moe` binary and the tests with AddressSanitizer and
# UndefinedBehaviorSanitizer (MOE_SANITIZE: -O1 -g, any report aborts) into build-asan/, and runs
# the unit, corpus and end-to-end tests against it. Host code only (-DMOE_CUDA=OFF): the sanitizers
# do not instrument device code. One process (-DMOE_MPI=OFF): Open MPI keeps allocations until the
# process exits, which LeakSanitizer would report as leaks. Extra arguments go to ctest (e.g. -R unit).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMOE_SANITIZE=ON -DMOE_BUILD_BENCH=OFF \
  -DMOE_CUDA=OFF -DMOE_MPI=OFF >/dev/null
cmake --build build-asan -j "$(nproc)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
ctest --test-dir build-asan --output-on-failure -j "$(nproc)" "$@"
