# Shared helpers of the bench/ scripts (sourced, not run).

# bench_lines N: N lines of about 100 bytes (18 words "w<0..9999>" drawn from a
# skewed distribution, as natural text is), deterministic (seed 42).
bench_lines() {
    awk -v n="$1" 'BEGIN { srand(42); for (i = 0; i < n; i++) {
        line = ""
        for (w = 0; w < 18; w++) { r = rand(); line = line (w ? " " : "") "w" int(r * r * 10000) }
        print line } }'
}

# bench_wait_drained LOG LINES TIMEOUT PID: waits until the batches and
# "offsets" lines `sluice standalone` printed into LOG account for LINES
# records, then prints "records/s seconds batches first-batch-time-ms
# first-batch-end-ms max-records-per-batch" (the rate from the time of the first batch with records to the end of the batch
# that took the last offset). Fails on a FAILED batch, a dead PID or TIMEOUT s.
bench_wait_drained() {
    python3 - "$@" <<'PYEOF'
import re, sys, time, os
path, total, timeout, pid = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
batch_re = re.compile(r"^batch (\d+)\s+(\S+)\s+records\s+(\d+)\s+sched\s+(-?\d+) ms\s+"
                      r"proc\s+(-?\d+) ms\s+total\s+(-?\d+) ms")
off_re = re.compile(r"^    offsets (.+)-(\d+):(\d+)-(\d+)$")
deadline = time.monotonic() + timeout
while True:
    batches = []
    with open(path, errors="replace") as f:
        for line in f:
            m = batch_re.match(line)
            if m:
                batches.append({"t": int(m[1]), "state": m[2], "total": int(m[6]), "taken": 0})
            m = off_re.match(line)
            if m and batches:
                batches[-1]["taken"] += int(m[4]) - int(m[3])
    bad = [b for b in batches if b["state"] != "DONE"]
    if bad:
        sys.exit(f"batch {bad[0]['t']} {bad[0]['state']} (see {path})")
    done, first, last = 0, None, None
    for b in batches:
        if b["taken"] and first is None:
            first = b
        done += b["taken"]
        if done >= total:
            last = b
            break
    if last is not None:
        secs = (last["t"] + last["total"] - first["t"]) / 1000
        busy = [b for b in batches if b["taken"]]
        print(f"{total / secs:.0f} {secs:.2f} {len(busy)} {first['t']} {first['t'] + first['total']} "
              f"{max(b['taken'] for b in busy)}")
        break
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(f"sluice standalone exited early (see {path})")
    if time.monotonic() > deadline:
        sys.exit(f"not done after {timeout}s: {done} of {total} records (see {path})")
    time.sleep(0.5)
PYEOF
}

# bench_cleanup: the EXIT trap of the Kafka benchmarks. Stops the processes
# listed in $OUT/pids (SIGINT, then SIGKILL a second later), deletes the
# topics listed in $OUT/topics, and stops the broker if the script started
# it (STARTED_KAFKA=1).
bench_cleanup() {
    local p
    while read -r p; do kill -INT "$p" 2>/dev/null || true; done <"$OUT/pids"
    sleep 1
    while read -r p; do kill -KILL "$p" 2>/dev/null || true; done <"$OUT/pids"
    while read -r p; do "$ROOT/scripts/kafka.sh" topic-delete "$p" >/dev/null 2>&1 || true; done \
        <"$OUT/topics"
    [ "${STARTED_KAFKA:-0}" = 0 ] || "$ROOT/scripts/kafka.sh" stop >&2 || true
}

# bench_build_release BUILD LOG TARGET...: configures BUILD as a Release
# build (plus the words of CMAKE_ARGS) and builds TARGETs, output into LOG.
bench_build_release() {
    local build="$1" logf="$2"
    shift 2
    # shellcheck disable=SC2086 # CMAKE_ARGS: extra words for cmake
    cmake -S "$ROOT" -B "$build" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >"$logf" 2>&1
    cmake --build "$build" -j2 --target "$@" >>"$logf" 2>&1
}
