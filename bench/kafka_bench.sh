#!/usr/bin/env bash
# Kafka benchmark (not part of the tests): records/s of examples/kafka_wordcount
# reading a pre-filled topic, beside one librdkafka consumer reading the same
# topic (the ceiling).
#
#   bench/kafka_bench.sh                  # 10M lines, 1 and 2 workers
#   LINES=1000000 bench/kafka_bench.sh    # quick look
#
# Steps:
#   1. a Release build into build-kbench/ (BUILD=...), targets only;
#   2. a broker of its own: scripts/kafka.sh on KAFKA_PORT (default 19392),
#      stopped at the end unless KEEP_KAFKA=1;
#   3. a fresh 4-partition topic filled with LINES short lines (5 words from a
#      1000-word vocabulary, ~24 bytes) by `sluice-kafka-tool produce`;
#   4. `sluice-kafka-tool rate` over that topic, RATE_RUNS times (median);
#   5. per worker count in WORKERS: `sluice standalone kafka_wordcount.so
#      --workers W --slots SLOTS --batch-interval INTERVAL` with
#      maxRatePerPartition=MAX_RATE (bounds a batch; set high enough that it
#      never limits the rate: the batches queue), output to a fresh topic with
#      the exactly-once sink. Throughput = LINES / (end of the batch that
#      consumed the last offset - time of the first batch with records), from
#      the batches and "offsets" lines `sluice standalone` prints (as
#      `sluice monitor`). A FAILED batch or a run longer than RUN_TIMEOUT
#      seconds aborts the benchmark.
# Prints a Markdown table and the machine; raw logs stay in bench/out/kafka-<time>/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/bench/lib.sh"
BUILD="${BUILD:-$ROOT/build-kbench}"
LINES="${LINES:-10000000}"
PARTITIONS=4
WORKERS="${WORKERS:-1 2}"
SLOTS="${SLOTS:-2}"
INTERVAL="${INTERVAL:-2s}"
MAX_RATE="${MAX_RATE:-250000}"
RATE_RUNS="${RATE_RUNS:-3}"
RUN_TIMEOUT="${RUN_TIMEOUT:-1800}"
export KAFKA_PORT="${KAFKA_PORT:-19392}"
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
OUT="$ROOT/bench/out/kafka-$(date +%Y%m%d-%H%M%S)"
TAG="$$"
TOOL="$BUILD/bin/sluice-kafka-tool"

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

mkdir -p "$OUT"
log "building (Release) into $BUILD"
bench_build_release "$BUILD" "$OUT/cmake.log" sluice sluice-master sluice-worker \
    sluice-kafka-tool kafka_wordcount

"$ROOT/scripts/kafka.sh" start >&2
[ "${KEEP_KAFKA:-0}" = 1 ] || trap '"$ROOT/scripts/kafka.sh" stop >&2 || true' EXIT

IN="kbench-in-$TAG"
"$ROOT/scripts/kafka.sh" topic-create "$IN" "$PARTITIONS" >&2
log "producing $LINES lines to $IN ($PARTITIONS partitions)"
t0=$(date +%s.%N)
awk -v n="$LINES" 'BEGIN { srand(42); for (i = 0; i < n; i++)
        printf "w%d w%d w%d w%d w%d\n", int(rand() * 1000), int(rand() * 1000),
               int(rand() * 1000), int(rand() * 1000), int(rand() * 1000) }' |
    "$TOOL" produce "$BOOTSTRAP" "$IN" - >"$OUT/produce.txt" 2>"$OUT/produce.err"
t1=$(date +%s.%N)
grep -qx "produced $LINES records" "$OUT/produce.txt" || { cat "$OUT/produce.err" >&2; exit 1; }
PRODUCE_RATE=$(awk -v a="$t0" -v b="$t1" -v n="$LINES" 'BEGIN { printf "%.0f", n / (b - a) }')
log "produced at $PRODUCE_RATE records/s"

: >"$OUT/rate.txt"
for _ in $(seq "$RATE_RUNS"); do
    "$TOOL" rate "$BOOTSTRAP" "$IN" --timeout-ms 600000 | tee -a "$OUT/rate.txt" >&2
done
CEILING=$(awk '{ print $6 }' "$OUT/rate.txt" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')

# run_job W: prints "records/s seconds batches max-batch-records"
run_job() {
    local w="$1" out="kbench-out-$w-$TAG" job="kbench-$w-$TAG" log="$OUT/standalone-$w.log"
    "$ROOT/scripts/kafka.sh" topic-create "$out" "$PARTITIONS" >&2
    "$BUILD/bin/sluice" standalone "$BUILD/lib/kafka_wordcount.so" --workers "$w" \
        --slots "$SLOTS" --batch-interval "$INTERVAL" --name "$job" \
        --conf "spark.streaming.kafka.maxRatePerPartition=$MAX_RATE" \
        --conf "wordcount.brokers=$BOOTSTRAP" --conf "wordcount.topics=$IN" \
        --conf "wordcount.output=$out" --conf "wordcount.group=$job" \
        >"$log" 2>&1 &
    local pid=$! rc=0
    bench_wait_drained "$log" "$LINES" "$RUN_TIMEOUT" "$pid" >"$OUT/drained-$w.txt" || rc=$?
    [ $rc -ne 0 ] || awk '{ print $1, $2, $3, $6 }' "$OUT/drained-$w.txt"
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" || true
    return $rc
}

declare -A RESULT
for w in $WORKERS; do
    log "kafka_wordcount, $w worker(s) x $SLOTS slots, batch interval $INTERVAL"
    RESULT[$w]="$(run_job "$w")"
    log "  -> ${RESULT[$w]} (records/s, seconds, batches, max records per batch)"
done

CPU="$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo
echo "Kafka word count, $LINES lines (5 words, ~24 bytes each) in $PARTITIONS partitions,"
echo "batch interval $INTERVAL, maxRatePerPartition $MAX_RATE, exactly-once sink; $(nproc) CPUs ($CPU),"
echo "broker on the same host. Logs: $OUT"
echo
echo "| configuration | records/s | seconds | batches |"
echo "|---|---:|---:|---:|"
echo "| sluice-kafka-tool produce (librdkafka producer, fill) | $PRODUCE_RATE | | |"
echo "| sluice-kafka-tool rate (one librdkafka consumer, median of $RATE_RUNS): ceiling | $CEILING | | |"
for w in $WORKERS; do
    read -r rate secs nb _ <<<"${RESULT[$w]}"
    echo "| kafka_wordcount, $w worker(s) x $SLOTS slots | $rate | $secs | $nb |"
done
