#!/usr/bin/env bash
# Chaos runs beyond CI (docs/recovery.md): tests/integration/kafka/
# test_kafka_chaos.py once per seed 1..N (a fresh cluster, topics and job
# each: 100,000 records Kafka -> map -> exactly-once Kafka sink, master and
# workers killed 3 times each, the broker restarted once), against a broker
# of its own. Prints one line per seed and a summary; exits 1 if any failed.
#
#   bench/chaos.sh --seeds 50            # seeds 1..50
#   bench/chaos.sh --seeds 5 --first 100 # seeds 100..104
# Environment: BUILD (default build/), KAFKA_PORT (default 19592),
# CHAOS_RECORDS (default 100000). Logs: bench/out/chaos-<time>/seed-N.log.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD:-$ROOT/build}"
SEEDS=3
FIRST=1
while [ $# -gt 0 ]; do
    case "$1" in
        --seeds) SEEDS="$2"; shift 2 ;;
        --first) FIRST="$2"; shift 2 ;;
        *) echo "usage: bench/chaos.sh [--seeds N] [--first S]" >&2; exit 2 ;;
    esac
done
export KAFKA_PORT="${KAFKA_PORT:-19592}"
export KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
export SLUICE_BUILD="$BUILD" SLUICE_SOURCE="$ROOT"
OUT="$ROOT/bench/out/chaos-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
"$ROOT/scripts/kafka.sh" start
trap '"$ROOT/scripts/kafka.sh" stop >/dev/null 2>&1 || true' EXIT
pass=0
fail=0
for ((s = FIRST; s < FIRST + SEEDS; s++)); do
    t0=$(date +%s)
    if CHAOS_SEEDS="$s" timeout 900 python3 "$ROOT/tests/integration/kafka/test_kafka_chaos.py" \
            >"$OUT/seed-$s.log" 2>&1; then
        pass=$((pass + 1))
        echo "seed $s: ok ($(( $(date +%s) - t0 )) s) $(grep -o '[0-9]* records, 0 lost.*' "$OUT/seed-$s.log" | head -1)"
    else
        fail=$((fail + 1))
        echo "seed $s: FAILED ($(( $(date +%s) - t0 )) s): $(grep -m1 'FAIL:' "$OUT/seed-$s.log" || tail -1 "$OUT/seed-$s.log")"
    fi
done
echo "chaos: $pass of $((pass + fail)) seeds passed (logs in $OUT)"
[ "$fail" -eq 0 ]
