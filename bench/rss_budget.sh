#!/usr/bin/env bash
# A worker's peak RSS against its memory budget under inputs that stress
# memory (benchmark, not a test): does a worker stay within
# sluice.worker.memory + a margin whatever it reads?
#
#   bench/rss_budget.sh                          # MEMORY=256m, all cases
#   CASES="drain large" MEMORY=128m bench/rss_budget.sh
#
# Cases, each `kafka_wordcount` (1 worker x 2 slots, --memory MEMORY, 1 s
# batches, maxRatePerPartition MAX_RATE, the sink its only output) draining
# its own pre-filled 4-partition topic:
#   drain  DRAIN_LINES lines of ~100 bytes (bench/lib.sh, 10,000-word
#          vocabulary): the Kafka read path, prefetch queues and producers;
#   large  LARGE_LINES records of ~200 KB (words of the same vocabulary):
#          large records through the consumer queue and the split;
#   keys   KEYS_LINES lines of 10 words never seen before (10 x KEYS_LINES
#          distinct keys): the map-side combine and the reduce side's maps.
# For each it prints the worker's and the master's peak RSS (VmHWM, read
# from /proc just before the job is stopped) and the worker's peak minus
# its budget. KEEP=1 keeps each run's master and worker logs (`sluice
# standalone --keep`; the worker logs each combine map spill). Needs a broker (scripts/kafka.sh, KAFKA_PORT, default 23192;
# started and stopped here unless one answers). Logs: bench/out/rss-<time>/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/bench/lib.sh"
BUILD="${BUILD:-$ROOT/build-vs}"
MEMORY="${MEMORY:-256m}"
CASES="${CASES:-drain large keys}"
DRAIN_LINES="${DRAIN_LINES:-2000000}"
LARGE_LINES="${LARGE_LINES:-500}"
KEYS_LINES="${KEYS_LINES:-300000}"
MAX_RATE="${MAX_RATE:-250000}"
RUN_TIMEOUT="${RUN_TIMEOUT:-600}"
export KAFKA_PORT="${KAFKA_PORT:-23192}"
BOOT="127.0.0.1:$KAFKA_PORT"
OUT="$ROOT/bench/out/rss-$(date +%Y%m%d-%H%M%S)"
TAG="$$"
TOOL="$BUILD/bin/sluice-kafka-tool"
mkdir -p "$OUT"
LOAD_BEFORE="$(cut -d" " -f1-3 /proc/loadavg)"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

STARTED_KAFKA=0
: >"$OUT/pids"
: >"$OUT/topics"
trap bench_cleanup EXIT

log "building Sluice (Release) into $BUILD"
bench_build_release "$BUILD" "$OUT/cmake.log" sluice sluice-master sluice-worker \
    sluice-kafka-tool kafka_wordcount
if ! "$ROOT/scripts/kafka.sh" status >/dev/null 2>&1; then
    "$ROOT/scripts/kafka.sh" start >&2
    STARTED_KAFKA=1
fi

# case_input CASE: the case's lines on stdout
case_input() {
    case "$1" in
    drain) bench_lines "$DRAIN_LINES" ;;
    large) python3 -c 'import random, sys
r = random.Random(7)
for i in range(int(sys.argv[1])):
    print(" ".join("w%d" % r.randrange(10000) for _ in range(33000)))' "$LARGE_LINES" ;;
    keys) awk -v n="$KEYS_LINES" 'BEGIN { for (i = 0; i < n; i++) {
              line = ""; for (w = 0; w < 10; w++) line = line (w ? " " : "") "k" (i * 10 + w)
              print line } }' ;;
    *) echo "unknown case '$1' (drain, large, keys)" >&2; return 1 ;;
    esac
}

# peak_rss PID: "worker-MB master-MB", the VmHWM of PID's sluice-worker and
# sluice-master children
peak_rss() {
    python3 - "$1" <<'PYEOF'
import os, sys
root, peak = int(sys.argv[1]), {}
for d in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{d}/stat").read()
        status = open(f"/proc/{d}/status").read()
    except OSError:
        continue
    if int(stat[stat.rindex(")") + 2:].split()[1]) != root:
        continue
    name = stat[stat.index("(") + 1:stat.rindex(")")]
    hwm = [int(l.split()[1]) for l in status.splitlines() if l.startswith("VmHWM:")]
    peak[name] = peak.get(name, 0) + (hwm[0] if hwm else 0)
print(f"{peak.get('sluice-worker', 0) / 1024:.0f} {peak.get('sluice-master', 0) / 1024:.0f}")
PYEOF
}

# run_case CASE: prints "records bytes records/s worker-MB master-MB"
run_case() {
    local c="$1" in="rss-in-$1-$TAG" out="rss-out-$1-$TAG" logf="$OUT/$1.log" pid rc=0
    printf '%s\n%s\n' "$in" "$out" >>"$OUT/topics"
    "$ROOT/scripts/kafka.sh" topic-create "$in" 4 >&2
    "$ROOT/scripts/kafka.sh" topic-create "$out" 4 >&2
    case_input "$c" >"$OUT/$c.input"
    local lines bytes
    lines=$(wc -l <"$OUT/$c.input")
    bytes=$(wc -c <"$OUT/$c.input")
    timeout "$RUN_TIMEOUT" "$TOOL" produce "$BOOT" "$in" "$OUT/$c.input" >"$OUT/$c.produce"
    rm -f "$OUT/$c.input"
    "$BUILD/bin/sluice" standalone "$BUILD/lib/kafka_wordcount.so" --workers 1 --slots 2 \
        --memory "$MEMORY" --batch-interval 1000ms --name "rss-$c-$TAG" \
        --conf "spark.streaming.kafka.maxRatePerPartition=$MAX_RATE" \
        --conf "wordcount.brokers=$BOOT" --conf "wordcount.topics=$in" \
        --conf "wordcount.output=$out" --conf "wordcount.group=rss-$c-$TAG" \
        --conf wordcount.print=0 ${KEEP:+--keep} >"$logf" 2>&1 &
    pid=$!
    echo "$pid" >>"$OUT/pids"
    bench_wait_drained "$logf" "$lines" "$RUN_TIMEOUT" "$pid" >"$OUT/$c.drained" || rc=$?
    local peaks
    peaks=$(peak_rss "$pid")
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" || true
    sed -i "/^$pid\$/d" "$OUT/pids"
    [ "$rc" = 0 ] || { log "case $c failed (see $logf)"; return 1; }
    echo "$lines $bytes $(cut -d' ' -f1 "$OUT/$c.drained") $peaks"
}

budget_mb=$(numfmt --from=iec "${MEMORY^^}" | awk '{ printf "%.0f", $1 / 1048576 }')
: >"$OUT/results.txt"
for c in $CASES; do
    log "case $c"
    echo "$c $(run_case "$c")" | tee -a "$OUT/results.txt" >&2
done

echo
echo "bench/rss_budget.sh: 1 worker x 2 slots, --memory $MEMORY ($budget_mb MB), Sluice" \
    "$(git -C "$ROOT" rev-parse --short HEAD), broker $BOOT"
echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1);" \
    "load before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| case | records | input MB | records/s | worker peak RSS (MB) | worker budget (MB) | peak - budget (MB) | master peak RSS (MB) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
awk -v b="$budget_mb" '{ printf "| %s | %s | %.0f | %s | %s | %s | %+d | %s |\n",
    $1, $2, $3 / 1048576, $4, $5, b, $5 - b, $6 }' "$OUT/results.txt"
