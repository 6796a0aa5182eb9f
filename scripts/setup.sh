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
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: dependencies present"
