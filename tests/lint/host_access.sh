#!/usr/bin/env bash
# Layers, model, trainer and generator reach tensor memory only through ops (docs/ARCHITECTURE.md,
# "Host reads"), so they run unchanged on a device whose memory the host cannot read. Prints
# every direct access (.f32(), .f64(), .i32(), .ptr, memcpy) in src/nn, src/model, src/train and
# src/generate outside the checkpoint files, which read and write host memory by design.
set -euo pipefail
ROOT=${MOE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
allowed='^src/(model/safetensors|model/checkpoint|train/train_state)\.cpp:'
hits=$(cd "$ROOT" && grep -rnE '\.(f32|f64|i32)\(\)|\.ptr\b|memcpy\(' src/nn src/model src/train \
         src/generate --include='*.cpp' --include='*.h' | grep -Ev "$allowed" || true)
if [[ -n $hits ]]; then
  echo "host_access: tensor memory read or written outside ops:"
  echo "$hits"
  exit 1
fi
echo "host_access: src/nn, src/model, src/train and src/generate reach tensor memory through ops"
