#!/usr/bin/env bash
# Installs everything moe.cpp needs to build, test and benchmark, from Debian's archive.
# Idempotent: packages already present are left alone, and apt-get update runs only when needed.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libopenblas-openmp-dev   # BLAS (sgemm) with OpenMP threading
  libcli11-dev             # command-line parsing
  nlohmann-json3-dev       # config.json, metrics.jsonl, safetensors headers
  libtomlplusplus-dev      # TOML configuration files
  libgtest-dev libgmock-dev
  libbenchmark-dev
  clang-format
  curl unzip               # scripts/get_data.sh
  python3-torch python3-numpy   # the PyTorch reference (tools/reference), run with /usr/bin/python3
  chromium                 # headless browser that renders report.html in the report test
  libpcre2-dev             # Unicode regular expressions for GPT-2 pre-tokenisation
  libssl-dev               # SHA-256 (libcrypto) for checkpoint checksums
  nodejs npm               # js-tiktoken, the reference for the GPT-2 tokenizer (tools/tiktoken)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
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
if [[ ! -d "$(dirname "$0")/../tools/tiktoken/node_modules" ]]; then
  echo "setup: installing js-tiktoken (tools/tiktoken)"
  (cd "$(dirname "$0")/../tools/tiktoken" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "setup: dependencies present"
