#!/usr/bin/env bash
# Packs what `scripts/gpu_check.sh --prebuilt` runs on a GPU machine whose image lacks this
# project's build dependencies (OpenBLAS, toml++, PCRE2, nlohmann-json, CLI11, GoogleTest) and has
# no network: the CUDA build's `moe`, op harness and unit tests, stripped, with the shared
# libraries they load beyond glibc, the GCC runtime and CUDA's own (the machine's CUDA 13 provides
# cudart, cuBLAS and NCCL, whose 200 MB library would not fit the carry), into
# .device/prebuilt.tar.xz (ignored by git; carry `.device` to the machine). Build first with CUDA,
# e.g. into build-gpu/ or build-cuda/.
#
# usage: scripts/gpu_pack.sh [BUILD]   (default build-gpu)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-gpu}
binaries=("$BUILD/moe" "$BUILD/tests/moe_tests" "$BUILD/tests/backend_ops")
for b in "${binaries[@]}"; do
  [[ -x $b ]] || { echo "error: $b not found: build with -DMOE_CUDA=ON into $BUILD first" >&2 && exit 1; }
done
[[ $(ldd "$BUILD/moe") == *libcublas* ]] ||
  { echo "error: $BUILD/moe has no CUDA backend (configure with -DMOE_CUDA=ON)" >&2 && exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/build/tests" "$stage/lib"
cp "$BUILD/moe" "$stage/build/"
cp "$BUILD/tests/moe_tests" "$BUILD/tests/backend_ops" "$stage/build/tests/"
strip "$stage/build/moe" "$stage/build/tests/"*
# The system's own (glibc, the GCC runtime) and CUDA's stay the machine's.
system='/(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libcublasLt|libnccl)\.so'
ldd "${binaries[@]}" | awk '/=> \// {print $3}' | sort -u | grep -v -E "$system" |
  while read -r lib; do cp -L "$lib" "$stage/lib/"; done
mkdir -p .device
tar -C "$stage" -cJf .device/prebuilt.tar.xz build lib
echo "packed $(ls "$stage/lib" | wc -l) libraries and ${#binaries[@]} binaries:" \
  "$(du -h .device/prebuilt.tar.xz | cut -f1) in .device/prebuilt.tar.xz"
