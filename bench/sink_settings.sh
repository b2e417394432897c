#!/usr/bin/env bash
# Kafka sink producer settings, measured (benchmark, not a test).
#
#   bench/sink_settings.sh            # LINES=1000000 lines of ~100 bytes
#
# examples/kafka_copy.so copies a pre-loaded 4-partition topic into a fresh
# one through the sink (1 worker x 2 slots, 1 s batches, maxRatePerPartition
# MAX_RATE), once per producer setting below (`copy.sink.extra`, passed to
# librdkafka), and prints records/s (LINES / (end of the batch that took the
# last record - time of the first batch with records)) and the output topic's
# size on the broker's disk. Uses BUILD (default build-vs/, built if needed)
# and a broker on KAFKA_PORT (default 23192; started when none answers and
# then stopped). Logs in bench/out/sink-<time>/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/bench/lib.sh"
BUILD="${BUILD:-$ROOT/build-vs}"
LINES="${LINES:-1000000}"
MAX_RATE="${MAX_RATE:-250000}"
RUN_TIMEOUT="${RUN_TIMEOUT:-600}"
export KAFKA_PORT="${KAFKA_PORT:-23192}"
BOOT="127.0.0.1:$KAFKA_PORT"
OUT="$ROOT/bench/out/sink-$(date +%Y%m%d-%H%M%S)"
TAG="$$"
IN="sink-in-$TAG"
mkdir -p "$OUT"
SETTINGS=(
    "compression.type=none (librdkafka's defaults: linger.ms=5, batch.size=1000000)|compression.type=none"
    "linger.ms=50, no compression|linger.ms=50;compression.type=none"
    "compression.type=lz4 (the sink's default since 2026-11-30)|"
    "compression.type=zstd|compression.type=zstd"
    "linger.ms=50 + compression.type=lz4 + batch.size=4000000|linger.ms=50;batch.size=4000000"
)
STARTED=0
TOPICS=("$IN")
cleanup() {
    for t in "${TOPICS[@]}"; do "$ROOT/scripts/kafka.sh" topic-delete "$t" >/dev/null 2>&1 || true; done
    [ "$STARTED" = 0 ] || "$ROOT/scripts/kafka.sh" stop >&2 || true
}
trap cleanup EXIT
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$OUT/cmake.log" 2>&1
cmake --build "$BUILD" -j2 --target sluice sluice-master sluice-worker sluice-kafka-tool \
    kafka_copy >>"$OUT/cmake.log" 2>&1
if ! "$ROOT/scripts/kafka.sh" status >/dev/null 2>&1; then
    "$ROOT/scripts/kafka.sh" start >&2
    STARTED=1
fi
KDIR="${KAFKA_DIR:-${TMPDIR:-/tmp}/sluice-kafka-$KAFKA_PORT}"
"$ROOT/scripts/kafka.sh" topic-create "$IN" 4 >&2
bench_lines "$LINES" | "$BUILD/bin/sluice-kafka-tool" produce "$BOOT" "$IN" - >"$OUT/produce.txt"
echo "| sink setting (copy.sink.extra) | records/s | output on disk (MB) |"
echo "|---|---:|---:|"
i=0
for s in "${SETTINGS[@]}"; do
    i=$((i + 1))
    name="${s%%|*}" extra="${s#*|}" out="sink-out-$i-$TAG" logf="$OUT/run-$i.log"
    TOPICS+=("$out")
    "$ROOT/scripts/kafka.sh" topic-create "$out" 4 >&2
    "$BUILD/bin/sluice" standalone "$BUILD/lib/kafka_copy.so" --workers 1 --slots 2 \
        --batch-interval 1000ms --name "sink$i-$TAG" \
        --conf "spark.streaming.kafka.maxRatePerPartition=$MAX_RATE" \
        --conf "copy.brokers=$BOOT" --conf "copy.input=$IN" --conf "copy.output=$out" \
        --conf "copy.group=sink-$i-$TAG" --conf "copy.sink.extra=$extra" >"$logf" 2>&1 &
    pid=$!
    rc=0
    bench_wait_drained "$logf" "$LINES" "$RUN_TIMEOUT" "$pid" >"$OUT/run-$i.drained" || rc=$?
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" || true
    [ "$rc" = 0 ] || { echo "run $i failed (see $logf)" >&2; exit 1; }
    sleep 2 # the log segments reach the disk
    mb=$(du -sk "$KDIR"/data/"$out"-* 2>/dev/null | awk '{ s += $1 } END { printf "%.1f", s / 1024 }')
    echo "| $name | $(awk '{ print $1 }' "$OUT/run-$i.drained") | $mb |"
done
echo
echo "$LINES lines of ~$(($(bench_lines 1000 | wc -c) / 1000)) bytes; exactly-once sink; Sluice $(git -C "$ROOT" rev-parse --short HEAD);" \
    "$(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
