#!/usr/bin/env bash
# Installs what moe.cpp needs from Debian's archive.
#
#   scripts/setup.sh          the build only (scripts/demo.sh): compiler, CMake, Ninja, OpenBLAS,
#                             CLI11, nlohmann-json, toml++, PCRE2, OpenSSL (libcrypto), Open MPI
#   scripts/setup.sh --test   also everything the tests use (scripts/test.sh): GoogleTest, Google
#                             Benchmark, clang-format, PyTorch, Chromium, Node.js + js-tiktoken
#                             + node-llama-cpp (llama.cpp's CPU build) + @huggingface/gguf,
#                             clang with its sanitizer and libFuzzer runtimes, curl and unzip
#
# Idempotent: packages already present are left alone, and apt-get update runs only when needed.
set -euo pipefail

BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config   # g++ brings the ASan/UBSan runtimes too
  libopenblas-openmp-dev   # BLAS (sgemm) with OpenMP threading
  libcli11-dev             # command-line parsing
  nlohmann-json3-dev       # config.json, metrics.jsonl, safetensors headers
  libtomlplusplus-dev      # TOML configuration files
  libpcre2-dev             # Unicode regular expressions for GPT-2 pre-tokenisation
  libssl-dev               # SHA-256 (libcrypto) for checkpoint checksums
  libopenmpi-dev openmpi-bin  # multi-process training (MPI; mpirun)
)
TEST_PACKAGES=(
  libgtest-dev libgmock-dev     # unit tests
  libbenchmark-dev              # bench/
  clang-format                  # formats the C++ sources (.clang-format)
  clang libclang-rt-dev         # libFuzzer and its sanitizer runtimes (scripts/fuzz.sh)
  curl unzip                    # scripts/get_data.sh
  python3-torch python3-numpy   # the PyTorch reference (tools/reference), run with /usr/bin/python3
  chromium                      # headless browser that renders report.html in the report test
  nodejs npm                    # js-tiktoken (tools/tiktoken), llama.cpp and a GGUF parser (tools/gguf)
  libopenmpi-dev openmpi-bin    # the multi-process tests (e2e.data_parallel) run mpirun
)

case ${1:-} in
  "") PACKAGES=("${BUILD_PACKAGES[@]}"); TESTS=0 ;;
  --test) PACKAGES=("${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"); TESTS=1 ;;
  *) echo "error: unknown option $1 (usage: scripts/setup.sh [--test])" >&2; exit 1 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
done
# A nodejs from elsewhere (e.g. NodeSource) bundles its own npm; Debian's would conflict with it.
if command -v npm >/dev/null; then
  kept=()
  for p in "${missing[@]}"; do [[ $p == npm ]] || kept+=("$p"); done
  missing=("${kept[@]}")
fi

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# js-tiktoken at the version package-lock.json pins, from the npm registry.
if ((TESTS)) && [[ ! -d "$(dirname "$0")/../tools/tiktoken/node_modules" ]]; then
  echo "setup: installing js-tiktoken (tools/tiktoken)"
  (cd "$(dirname "$0")/../tools/tiktoken" && npm ci --no-audit --no-fund --loglevel=error)
fi
# node-llama-cpp (llama.cpp with its prebuilt linux-x64 CPU binary) and @huggingface/gguf, the
# consumers of the GGUF export tests, at the versions package-lock.json pins. --omit=optional
# leaves out node-llama-cpp's optional prebuilt binaries for other platforms and for GPUs (CUDA,
# Vulkan); package.json names the linux-x64 CPU binary as a dependency of its own (89 MB in all).
if ((TESTS)) && [[ ! -d "$(dirname "$0")/../tools/gguf/node_modules" ]]; then
  echo "setup: installing node-llama-cpp and @huggingface/gguf (tools/gguf)"
  (cd "$(dirname "$0")/../tools/gguf" && npm ci --omit=optional --no-audit --no-fund --loglevel=error)
fi
echo "setup: dependencies present"
