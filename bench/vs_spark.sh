#!/usr/bin/env bash
# Sluice vs Apache Spark Streaming on the same Kafka word count, same broker,
# same pre-loaded topic, same 2 cores (benchmark, not a test).
#
#   bench/vs_spark.sh                       # 5M lines of ~100 bytes, 2 rounds A B A B
#   LINES=1000000 ROUNDS=1 bench/vs_spark.sh   # quick look
#   SYSTEMS=sluice LINES=2000000 bench/vs_spark.sh   # Sluice only (no ratios)
#   SYSTEMS=sluice VARIANTS="|queued.min.messages=20000" bench/vs_spark.sh
#       # Sluice once per variant per round (labels sluice0, sluice1, ...): a
#       # variant is extra source parameters (wordcount.source.extra), '|'
#       # between variants; one fill of the topic serves them all
# CMAKE_ARGS adds words to the cmake configure command of step 1.
#
# Steps (every run bounded by RUN_TIMEOUT seconds; everything started is
# stopped and the topics deleted at exit):
#   1. a Release build of Sluice into BUILD (default build-vs/);
#   2. Spark: `mvn dependency:build-classpath` on bench/spark/pom.xml (Apache
#      Spark Streaming + spark-streaming-kafka-0-10 from Maven Central, cached
#      in ~/.m2), javac of bench/spark/.../DirectKafkaWordCount.java;
#   3. a broker (scripts/kafka.sh, KAFKA_PORT, default 23192) unless one
#      answers there; a fresh 4-partition topic filled with LINES lines of
#      ~100 bytes (17 words, bench/lib.sh);
#   4. one bare librdkafka consumer (`sluice-kafka-tool rate`) reads the topic;
#   5. ROUNDS x (A = Spark local[2], B = Sluice WORKERS x SLOTS), each from the
#      topic's start with its own consumer group and output topic: split,
#      pair, reduceByKey, counts written to the output topic every batch
#      (the only output on both: examples/kafka_wordcount.c runs with
#      wordcount.print=0);
#      batch interval INTERVAL_MS, maxRatePerPartition MAX_RATE on both
#      (default 1,000,000: with 4 partitions and 1 s batches the former
#      default, 250,000, capped a run at 1M records/s, which Sluice reached).
# Per run it prints records/s (LINES / (end of the batch that took the last
# record - time of the first batch with records)), first-batch time (end of
# the first batch with records - process start), peak RSS (summed over the
# process tree, sampled every 0.25 s) and the CPUs the job kept busy during
# the drain (its process tree; "machine" = every process, broker included),
# and from those the CPU time per record, the figure least disturbed by other
# processes sharing the machine.
# Logs: bench/out/vs-spark-<time>/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/bench/lib.sh"
BUILD="${BUILD:-$ROOT/build-vs}"
LINES="${LINES:-5000000}"
ROUNDS="${ROUNDS:-2}"
WORKERS="${WORKERS:-1}"
SLOTS="${SLOTS:-2}"
INTERVAL_MS="${INTERVAL_MS:-1000}"
MAX_RATE="${MAX_RATE:-1000000}"
RUN_TIMEOUT="${RUN_TIMEOUT:-900}"
SYSTEMS="${SYSTEMS:-spark sluice}"
VARIANTS="${VARIANTS:-}"
export KAFKA_PORT="${KAFKA_PORT:-23192}"
BOOT="127.0.0.1:$KAFKA_PORT"
OUT="$ROOT/bench/out/vs-spark-$(date +%Y%m%d-%H%M%S)"
TAG="$$"
TOOL="$BUILD/bin/sluice-kafka-tool"
IN="vs-in-$TAG"
mkdir -p "$OUT"
LOAD_BEFORE="$(cut -d" " -f1-3 /proc/loadavg)"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

STARTED_KAFKA=0
# The runs execute in $(...) subshells: the processes they start and the
# topics they create are recorded in files, for cleanup to find.
: >"$OUT/pids"
echo "$IN" >"$OUT/topics"
trap bench_cleanup EXIT

log "building Sluice (Release) into $BUILD"
bench_build_release "$BUILD" "$OUT/cmake.log" sluice sluice-master sluice-worker \
    sluice-kafka-tool kafka_wordcount

case " $SYSTEMS " in *" spark "*) WITH_SPARK=1 ;; *) WITH_SPARK=0 ;; esac
[ "$WITH_SPARK" = 0 ] || {
log "resolving Spark with Maven (bench/spark/pom.xml) and compiling the Spark job"
(cd "$ROOT/bench/spark" && timeout 1200 mvn -q -B dependency:build-classpath \
    -Dmdep.outputFile="$OUT/spark.cp") >"$OUT/mvn.log" 2>&1 || { cat "$OUT/mvn.log" >&2; exit 1; }
SPARK_VERSION=$(sed -n 's:.*<spark.version>\(.*\)</spark.version>.*:\1:p' "$ROOT/bench/spark/pom.xml")
javac -nowarn -cp "$(cat "$OUT/spark.cp")" -d "$OUT/classes" \
    "$ROOT/bench/spark/src/main/java/sluicebench/DirectKafkaWordCount.java" 2>"$OUT/javac.log"
}
# What spark-submit would add on Java 17 (Spark's JavaModuleOptions), and
# spark.driver.memory's default heap.
JAVA_OPTS=(-Xmx1g -XX:+IgnoreUnrecognizedVMOptions -Djdk.reflect.useDirectMethodHandle=false
    -Dio.netty.tryReflectionSetAccessible=true)
for m in java.lang java.lang.invoke java.lang.reflect java.io java.net java.nio java.util \
    java.util.concurrent java.util.concurrent.atomic jdk.internal.ref sun.nio.ch sun.nio.cs \
    sun.security.action sun.util.calendar; do
    JAVA_OPTS+=("--add-opens=java.base/$m=ALL-UNNAMED")
done

if ! "$ROOT/scripts/kafka.sh" status >/dev/null 2>&1; then
    "$ROOT/scripts/kafka.sh" start >&2
    STARTED_KAFKA=1
fi
"$ROOT/scripts/kafka.sh" topic-create "$IN" 4 >&2
log "filling $IN with $LINES lines of ~100 bytes"
bench_lines "$LINES" | timeout "$RUN_TIMEOUT" "$TOOL" produce "$BOOT" "$IN" - >"$OUT/produce.txt"
grep -qx "produced $LINES records" "$OUT/produce.txt"
BYTES=$(bench_lines 1000 | wc -c)

log "one bare librdkafka consumer"
"$TOOL" rate "$BOOT" "$IN" --timeout-ms $((RUN_TIMEOUT * 1000)) | tee "$OUT/rate.txt" >&2
BARE=$(awk '{ print $6 }' "$OUT/rate.txt")

# start_sampler PID NAME: samples PID's tree into $OUT/NAME.samples
start_sampler() {
    python3 "$ROOT/bench/proctree.py" sample "$1" "$OUT/$2.samples" &
}

# run_spark N: prints "records/s first-batch-s peak-rss-mb cores machine-cores"
run_spark() {
    local n="$1"
    local out="vs-out-spark-$n-$TAG" logf="$OUT/spark-$n.log"
    echo "$out" >>"$OUT/topics"
    "$ROOT/scripts/kafka.sh" topic-create "$out" 4 >&2
    timeout "$RUN_TIMEOUT" java "${JAVA_OPTS[@]}" -cp "$OUT/classes:$(cat "$OUT/spark.cp")" \
        sluicebench.DirectKafkaWordCount "$BOOT" "$IN" "$out" "vs-spark-$n-$TAG" "$LINES" \
        "$INTERVAL_MS" "$MAX_RATE" >"$logf" 2>"$OUT/spark-$n.err" &
    local pid=$!
    echo "$pid" >>"$OUT/pids"
    start_sampler "$pid" "spark-$n"
    local rc=0
    wait "$pid" || rc=$?
    sed -i "/^$pid\$/d" "$OUT/pids" # ended: its pid may be reused, never signal it
    [ "$rc" = 0 ] || { log "Spark run $n failed (see $logf, $OUT/spark-$n.err)"; return 1; }
    python3 - "$logf" "$LINES" <<'PYEOF' >"$OUT/spark-$n.window"
import sys
total, taken, first = int(sys.argv[2]), 0, None
for line in open(sys.argv[1]):
    p = line.split()
    # batch <time> records <n> sched <ms> proc <ms> end <epoch ms>
    if p and p[0] == "batch" and int(p[3]) > 0:
        first = first if first is not None else int(p[1])
        taken += int(p[3])
        if taken >= total:
            print(first, p[9])
            break
PYEOF
    local rate fb
    rate=$(awk '$1 == "result" { print $7 }' "$logf")
    fb=$(awk '$1 == "first-batch-ms" { printf "%.1f", $2 / 1000 }' "$logf")
    read -r ws we <"$OUT/spark-$n.window"
    echo "$rate $fb $(python3 "$ROOT/bench/proctree.py" window "$OUT/spark-$n.samples" "$ws" "$we" |
        awk '{ print $2, $4, $6 }')"
}

# run_sluice N [SOURCE_EXTRA]: same output as run_spark
run_sluice() {
    local n="$1" extra="${2:-}"
    local out="vs-out-sluice-$n-$TAG" logf="$OUT/sluice-$n.log" t0 pid rc=0
    echo "$out" >>"$OUT/topics"
    "$ROOT/scripts/kafka.sh" topic-create "$out" 4 >&2
    t0=$(date +%s%3N)
    "$BUILD/bin/sluice" standalone "$BUILD/lib/kafka_wordcount.so" --workers "$WORKERS" \
        --slots "$SLOTS" --batch-interval "${INTERVAL_MS}ms" --name "vs$n-$TAG" \
        --conf "spark.streaming.kafka.maxRatePerPartition=$MAX_RATE" \
        --conf "wordcount.brokers=$BOOT" --conf "wordcount.topics=$IN" \
        --conf "wordcount.output=$out" --conf "wordcount.group=vs-sluice-$n-$TAG" \
        --conf wordcount.print=0 --conf "wordcount.source.extra=$extra" \
        >"$logf" 2>&1 &
    pid=$!
    echo "$pid" >>"$OUT/pids"
    start_sampler "$pid" "sluice-$n"
    bench_wait_drained "$logf" "$LINES" "$RUN_TIMEOUT" "$pid" >"$OUT/sluice-$n.drained" || rc=$?
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" || true
    sed -i "/^$pid\$/d" "$OUT/pids"
    [ "$rc" = 0 ] || { log "Sluice run $n failed (see $logf)"; return 1; }
    local rate secs nb ft fe
    read -r rate secs nb ft fe _ <"$OUT/sluice-$n.drained"
    local we
    we=$(awk -v a="$ft" -v s="$secs" 'BEGIN { printf "%.0f", a + s * 1000 }')
    echo "$rate $(awk -v a="$fe" -v b="$t0" 'BEGIN { printf "%.1f", (a - b) / 1000 }') $(
        python3 "$ROOT/bench/proctree.py" window "$OUT/sluice-$n.samples" "$ft" "$we" |
            awk '{ print $2, $4, $6 }')"
}

: >"$OUT/results.txt"
for r in $(seq "$ROUNDS"); do
    if [ "$WITH_SPARK" = 1 ]; then
        log "round $r: A = Spark $SPARK_VERSION local[2]"
        echo "spark $r $(run_spark "$r")" | tee -a "$OUT/results.txt" >&2
    fi
    if [ -z "$VARIANTS" ]; then
        log "round $r: B = Sluice $WORKERS worker(s) x $SLOTS slots"
        echo "sluice $r $(run_sluice "$r")" | tee -a "$OUT/results.txt" >&2
        continue
    fi
    IFS='|' read -r -a vs <<<"$VARIANTS"
    for i in "${!vs[@]}"; do
        log "round $r: sluice$i = Sluice $WORKERS worker(s) x $SLOTS slots, source '${vs[$i]}'"
        echo "sluice$i $r $(run_sluice "$r-$i" "${vs[$i]}")" | tee -a "$OUT/results.txt" >&2
    done
done

echo
echo "bench/vs_spark.sh: $LINES lines (~$((BYTES / 1000)) bytes each), 4 partitions, batch ${INTERVAL_MS} ms,"
echo "maxRatePerPartition $MAX_RATE; Spark ${SPARK_VERSION:-not run} local[2]; Sluice $(git -C "$ROOT" rev-parse --short HEAD)," \
    "$WORKERS worker(s) x $SLOTS slots; broker 127.0.0.1:$KAFKA_PORT"
echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1); load before: $LOAD_BEFORE"
[ -z "$VARIANTS" ] || echo "variants (source parameters, sluice0 sluice1 ...): $VARIANTS"
echo "bare librdkafka consumer: $BARE records/s"
echo
echo "| run | system | records/s | first batch (s) | peak RSS (MB) | CPUs busy (job) | CPU µs per record (job) | CPUs busy (machine) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
awk '{ printf "| %s | %s | %s | %s | %s | %s | %.2f | %s |\n", $2, $1, $3, $4, $5, $6, $6 / $3 * 1e6, $7 }' \
    "$OUT/results.txt"
python3 - "$OUT/results.txt" "$BARE" <<'PYEOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 7]
def med(name, f):
    return statistics.median(f(r) for r in rows if r[0] == name)
rate = lambda r: float(r[2])
rss = lambda r: float(r[4])
cpu = lambda r: float(r[5]) / float(r[2]) * 1e6
print()
labels = sorted({r[0] for r in rows if r[0].startswith("sluice") and r[0] != "sluice"})
for v in labels:
    print(f"{v}: median records/s {med(v, rate):.0f}; peak RSS {med(v, rss):.0f} MB;"
          f" CPU per record {med(v, cpu):.2f} us; / bare consumer {med(v, rate) / float(sys.argv[2]):.2f}")
if labels:
    sys.exit(0)
s = med("sluice", rate)
if not any(r[0] == "spark" for r in rows):
    print(f"median records/s: Sluice {s:.0f}; peak RSS {med('sluice', rss):.0f} MB;"
          f" CPU per record {med('sluice', cpu):.2f} us")
    print(f"Sluice / bare consumer = {s / float(sys.argv[2]):.2f}")
    sys.exit(0)
k = med("spark", rate)
print(f"median records/s: Sluice {s:.0f}, Spark {k:.0f}; Sluice/Spark = {s / k:.2f}x")
print(f"median peak RSS: Sluice {med('sluice', rss):.0f} MB, Spark {med('spark', rss):.0f} MB;"
      f" Sluice/Spark = {med('sluice', rss) / med('spark', rss):.2f}")
print(f"median CPU per record: Sluice {med('sluice', cpu):.2f} us, Spark {med('spark', cpu):.2f} us;"
      f" Spark/Sluice = {med('spark', cpu) / med('sluice', cpu):.1f}x")
print(f"Sluice / bare consumer = {s / float(sys.argv[2]):.2f}")
PYEOF
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
