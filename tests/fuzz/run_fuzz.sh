#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time and reports what it did.
#
#   run_fuzz.sh FUZZER SECONDS MIN_COVERAGE WORKDIR SEEDS_DIR
#
# WORKDIR/corpus collects new inputs (the committed SEEDS_DIR is only read),
# crash artifacts land in WORKDIR. Prints "fuzz NAME: N executions, C
# coverage counters, F features in S s" and fails when the fuzzer fails (a
# crash, a leak, undefined behaviour) or reaches fewer than MIN_COVERAGE
# counters, which means the code under test lost its instrumentation.
set -euo pipefail
fuzzer=$1 seconds=$2 floor=$3 work=$4 seeds=$5
name=$(basename "$fuzzer")
mkdir -p "$work/corpus"
log=$work/last-run.log
set +e
"$fuzzer" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$seeds" >"$log" 2>&1
rc=$?
set -e
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
echo "fuzz $name: ${execs:-?} executions, ${cov:-?} coverage counters, ${ft:-?} features in ${seconds} s"
if [ $rc -ne 0 ]; then
  tail -60 "$log"
  echo "fuzz $name: FAILED (exit $rc); artifacts in $work"
  exit 1
fi
if [ -z "$cov" ] || [ "$cov" -lt "$floor" ]; then
  tail -20 "$log"
  echo "fuzz $name: only ${cov:-no} coverage counters, expected at least $floor"
  exit 1
fi
