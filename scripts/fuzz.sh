#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz: one per parser of the files moe reads) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer into build-fuzz/, and runs each for
# FUZZ_SECONDS seconds (default 30), starting from its committed corpus, with libFuzzer's random
# seed FUZZ_SEED (default 1, so that a run of the test command explores the same inputs each time;
# give another seed, or 0 for a random one, to explore further).
#
#   scripts/fuzz.sh [TARGET...]       (default: every target)
#
# Fails on the first target that crashes: a sanitizer report, an exception other than moe::Error,
# a violated property, a leak, an input that takes over 10 s, or more than 2 GB of memory. The
# input is kept in build-fuzz/artifacts/TARGET/ (add it to tests/fuzz/corpus/TARGET/ once fixed);
# new inputs found go to build-fuzz/corpus/TARGET/, never into the committed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-30}
SEED=${FUZZ_SEED:-1}
OUT=build-fuzz

targets=("$@")
if ((${#targets[@]} == 0)); then
  for src in tests/fuzz/*.cpp; do
    name=$(basename "$src" .cpp)
    [[ $name == replay_main ]] || targets+=("$name")
  done
fi
for t in "${targets[@]}"; do
  [[ -f tests/fuzz/$t.cpp ]] || { echo "error: no fuzz target $t (tests/fuzz/$t.cpp)" >&2; exit 1; }
done

# No OpenMP: the parsers do not use it, and clang's would be a second OpenMP runtime beside the
# one OpenBLAS brings. No CUDA or MPI: the parsers do not use them either.
cmake -S . -B "$OUT" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ -DMOE_FUZZ=ON \
  -DMOE_BUILD_TESTS=OFF -DMOE_OPENMP=OFF -DMOE_CUDA=OFF -DMOE_MPI=OFF >/dev/null
cmake --build "$OUT" --target fuzzers -j "$(nproc)"

mkdir -p "$OUT/logs"
for t in "${targets[@]}"; do
  mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t"
  log=$OUT/logs/$t.log
  if ! "$OUT/tests/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -seed="$SEED" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t/" \
      "$OUT/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "error: fuzz target $t failed (log $log; input in $OUT/artifacts/$t/)" >&2
    exit 1
  fi
  # The last status line: executions, coverage (cov: edges, ft: features) and corpus size.
  echo "fuzz $t: $(grep -E '^#[0-9]+' "$log" | tail -n 1)"
done
