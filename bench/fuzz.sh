#!/usr/bin/env bash
# Longer fuzzing runs of every libFuzzer target, reporting executions and
# coverage counters per target (tests/fuzz/run_fuzz.sh prints one line each).
#
#   bench/fuzz.sh [SECONDS_PER_TARGET] [BUILD_DIR] [JOBS]
#
# Defaults: 600 s per target, build-asan (configured with -DSLUICE_FUZZ=ON,
# CC=clang), 2 targets at a time. New inputs accumulate in
# BUILD_DIR/tests/fuzz/TARGET/corpus and persist between runs (and ctest's
# short runs start from them); the committed seeds in tests/fuzz/corpus are
# only read. Crash artifacts land in BUILD_DIR/tests/fuzz/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
build=${2:-build-asan}
jobs=${3:-2}
if [ ! -x "$build/fuzz/fuzz_envelope" ]; then
  echo "bench/fuzz.sh: no fuzz targets in $build: build with" \
       "CC=clang scripts/build.sh $build -DSLUICE_SANITIZE=ON -DSLUICE_FUZZ=ON" >&2
  exit 2
fi
echo "fuzz: $seconds s per target, $jobs at a time, $(nproc) cores, $(uname -m)," \
     "$(clang --version | head -1)"
status=0
run_one() {
  local t=$1
  tests/fuzz/run_fuzz.sh "$build/fuzz/fuzz_$t" "$seconds" 1 \
    "$build/tests/fuzz/$t" "tests/fuzz/corpus/$t"
}
pids=()
for t in envelope job config blocks; do
  run_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do
  wait "$p" || status=1
done
exit $status
