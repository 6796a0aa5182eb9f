#!/usr/bin/env bash
# Configures and builds moe.cpp (Release) into build/: the library (with the CUDA backend where
# nvcc exists), the `moe` binary and, unless --no-tests is given, the tests and benchmarks (which
# need GoogleTest and Google Benchmark).
set -euo pipefail
cd "$(dirname "$0")/.."
TESTS=ON
case ${1:-} in
  "") ;;
  --no-tests) TESTS=OFF ;;
  *) echo "error: unknown option $1 (usage: scripts/build.sh [--no-tests])" >&2; exit 1 ;;
esac
# The CUDA backend is built wherever the CUDA toolkit is installed (CMake's MOE_CUDA default when
# it finds nvcc), GPU or not, so that its kernels always compile; its tests run on a GPU machine
# (scripts/gpu_check.sh).
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOE_BUILD_TESTS=$TESTS >/dev/null
cmake --build build -j "$(nproc)"
