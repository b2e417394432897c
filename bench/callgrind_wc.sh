#!/usr/bin/env bash
# Instructions per input record of the word count on a worker, counted by
# callgrind (repeatable on a noisy shared machine, unlike wall time). Not a test.
#
#   bench/callgrind_wc.sh gen   [BUILD_DIR]   # examples/generator_wordcount
#   bench/callgrind_wc.sh kafka [BUILD_DIR]   # examples/kafka_wordcount (broker needed)
#
# Runs `sluice standalone` (1 worker x 2 slots) from a private bin/ whose
# sluice-worker runs the real worker under `valgrind --tool=callgrind`, then
# reads the worker's profile with bench/cg_summary.py and prints:
#   task Ir/line  inclusive instructions of ops_run_task (every task the
#                 worker ran: map, reduce, output) / input lines
#   worker Ir/line  every instruction of the worker process (all threads:
#                 librdkafka's, RPC, heartbeats, start-up) / input lines
#   task Ir/line split  task instructions / lines split (a job with two
#                 outputs reads and splits every line twice)
# Input lines: gen = calls of sl_gen_lines; kafka = the LINES pre-loaded in
# the topic (all consumed). BUILD_DIR defaults to build-cg, built Release
# with -g (symbols; same code as Release). The profile and a
# callgrind_annotate listing stay in bench/out/cg-<mode>-<time>/.
#
# Environment: RATE (gen lines/s, default 20000), DURATION (gen seconds, 12),
# PRINT (kafka: wordcount.print, default 5 = the example's two outputs; 0 =
# the sink alone, as bench/vs_spark.sh runs it),
# LINES (kafka, default 200000), MAX_RATE (kafka maxRatePerPartition,
# default 100000: LINES in one batch; smaller spreads them over several batches), KTOOL (the sluice-kafka-tool that fills the
# topic; default BUILD_DIR's, which a build without tests lacks), KAFKA_PORT (default 23192; the broker is
# started with scripts/kafka.sh if none answers, and left running).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/bench/lib.sh"
MODE="${1:?usage: bench/callgrind_wc.sh gen|kafka [BUILD_DIR]}"
BUILD="$(cd "${2:-$ROOT/build-cg}" && pwd)"
RATE="${RATE:-20000}"
DURATION="${DURATION:-12}"
LINES="${LINES:-200000}"
MAX_RATE="${MAX_RATE:-100000}"
export KAFKA_PORT="${KAFKA_PORT:-23192}"
OUT="$ROOT/bench/out/cg-$MODE-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT/bin"
cp "$BUILD/bin/sluice" "$OUT/bin/sluice"
ln -s "$BUILD/bin/sluice-master" "$OUT/bin/sluice-master"
cat >"$OUT/bin/sluice-worker" <<WEOF
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.%p" \
    "$BUILD/bin/sluice-worker" "\$@"
WEOF
chmod +x "$OUT/bin/sluice-worker"

case "$MODE" in
gen)
    "$OUT/bin/sluice" standalone "$BUILD/lib/generator_wordcount.so" --workers 1 --slots 2 \
        --batch-interval 1000ms --duration "${DURATION}s" --conf "gen.rate=$RATE" \
        --conf gen.partitions=4 --conf print.num=1 >"$OUT/standalone.log" 2>&1
    ;;
kafka)
    BOOT="127.0.0.1:$KAFKA_PORT"
    "$ROOT/scripts/kafka.sh" status >/dev/null 2>&1 || "$ROOT/scripts/kafka.sh" start >&2
    IN="cg-in-$$" OUTT="cg-out-$$"
    "$ROOT/scripts/kafka.sh" topic-create "$IN" 4 >&2
    "$ROOT/scripts/kafka.sh" topic-create "$OUTT" 4 >&2
    bench_lines "$LINES" | "${KTOOL:-$BUILD/bin/sluice-kafka-tool}" produce "$BOOT" "$IN" - >&2
    "$OUT/bin/sluice" standalone "$BUILD/lib/kafka_wordcount.so" --workers 1 --slots 2 \
        --batch-interval 2s --name "cg$$" \
        --conf "spark.streaming.kafka.maxRatePerPartition=$MAX_RATE" \
        --conf "wordcount.brokers=$BOOT" --conf "wordcount.topics=$IN" \
        --conf "wordcount.output=$OUTT" --conf "wordcount.group=cg$$" \
        --conf "wordcount.print=${PRINT:-5}" \
        >"$OUT/standalone.log" 2>&1 &
    pid=$!
    bench_wait_drained "$OUT/standalone.log" "$LINES" 1800 "$pid" >"$OUT/drained.txt" || true
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" || true
    "$ROOT/scripts/kafka.sh" topic-delete "$IN" >/dev/null 2>&1 || true
    "$ROOT/scripts/kafka.sh" topic-delete "$OUTT" >/dev/null 2>&1 || true
    ;;
*) echo "mode must be gen or kafka" >&2; exit 2 ;;
esac

prof="$(ls "$OUT"/callgrind.out.* | head -1)"
[ -s "$prof" ] || { echo "no callgrind profile in $OUT (worker killed?)" >&2; exit 1; }
python3 "$ROOT/bench/cg_summary.py" "$prof" --incl ops_run_task --calls sl_gen_lines \
    --calls sl_split_words --calls builtin_split_count >"$OUT/summary.txt"
callgrind_annotate --inclusive=no "$prof" 2>/dev/null | head -60 >"$OUT/annotate.txt" || true
total=$(awk '$1 == "total" { print $2 }' "$OUT/summary.txt")
task=$(awk '$1 == "incl:ops_run_task" { print $2 }' "$OUT/summary.txt")
# lines split (each output job of a batch re-reads its input: a line may be
# split more than once); the fused word count calls builtin_split_count
split=$(awk '$1 == "calls:sl_split_words" || $1 == "calls:builtin_split_count" { s += $2 }
    END { print s }' "$OUT/summary.txt")
if [ "$MODE" = gen ]; then
    lines=$(awk '$1 == "calls:sl_gen_lines" { print $2 }' "$OUT/summary.txt")
else
    lines="$LINES"
fi
echo "mode $MODE build $BUILD ($(git -C "$ROOT" rev-parse --short HEAD))"
echo "input lines $lines, lines split $split"
awk -v t="$task" -v a="$total" -v n="$lines" -v s="$split" 'BEGIN {
    printf "task Ir/line %.0f\nworker Ir/line %.0f\ntask Ir/line split %.0f\n", t / n, a / n, t / s }'
echo "profile: $prof"
