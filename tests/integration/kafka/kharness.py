"""Helpers for the Kafka integration tests (tests/integration/kafka/).

These tests run against a real Apache Kafka broker started by the ctest
fixture `kafka.start` (scripts/kafka.sh on a port of its own, see
tests/CMakeLists.txt), which passes KAFKA_BOOTSTRAP and KAFKA_PORT in the
environment. There is no silent skip: without a reachable broker the test
fails, saying why.

To run one by hand:
    KAFKA_PORT=19500 scripts/kafka.sh start
    KAFKA_PORT=19500 KAFKA_BOOTSTRAP=127.0.0.1:19500 SLUICE_BUILD=build \
        python3 tests/integration/kafka/test_kafka_wordcount.py
"""
import collections
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness import BIN, SOURCE, fail, jobs_table, log  # noqa: E402

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "")
KAFKA_PORT = os.environ.get("KAFKA_PORT", BOOTSTRAP.rpartition(":")[2])
TOOL = os.path.join(BIN, "sluice-kafka-tool")
KAFKA_SH = os.path.join(SOURCE, "scripts", "kafka.sh")
# Unique per run: topics, job names, consumer groups and transactional ids
# never meet those of an earlier run against a reused broker.
RUN = f"{os.getpid()}{int(time.time()) % 100000}"


def kafka_env():
    env = dict(os.environ)
    env["KAFKA_PORT"] = KAFKA_PORT
    return env


def require_broker():
    """Fails (never skips) unless the fixture's broker answers."""
    if not BOOTSTRAP or not KAFKA_PORT:
        fail("KAFKA_BOOTSTRAP is not set: run through ctest (fixture kafka.start) or start "
             "a broker with scripts/kafka.sh and set KAFKA_BOOTSTRAP/KAFKA_PORT")
    if not os.access(TOOL, os.X_OK):
        fail(f"{TOOL} is missing: build the tests")
    r = subprocess.run([KAFKA_SH, "status"], capture_output=True, text=True, env=kafka_env(),
                       timeout=60)
    if r.returncode != 0:
        fail(f"no Kafka broker on {BOOTSTRAP}: {r.stdout}{r.stderr}")
    log(f"kafka broker: {r.stdout.strip()}")


def name(base):
    return f"{base}-{RUN}"


def kafka_sh(*args, timeout=120):
    r = subprocess.run([KAFKA_SH] + list(args), capture_output=True, text=True,
                       env=kafka_env(), timeout=timeout)
    if r.returncode != 0:
        fail(f"kafka.sh {' '.join(args)} exited {r.returncode}: {r.stderr}{r.stdout}")
    return r


def topic_create(topic, partitions):
    kafka_sh("topic-create", topic, str(partitions))
    log(f"topic {topic}: {partitions} partitions")


def topic_add_partitions(topic, total):
    kafka_sh("topic-add-partitions", topic, str(total))
    log(f"topic {topic}: now {total} partitions")


def tool(*args, timeout=300, check=True):
    r = subprocess.run([TOOL] + list(args), capture_output=True, text=True, timeout=timeout,
                       errors="replace")
    if check and r.returncode != 0:
        fail(f"sluice-kafka-tool {' '.join(args[:3])} exited {r.returncode}: {r.stderr[-2000:]}")
    return r


def produce(topic, lines, partition=None, timestamps=False):
    """Produces lines (one record each) with sluice-kafka-tool (librdkafka);
    timestamps: each line is "MS<TAB>VALUE", MS the record's timestamp."""
    with tempfile.NamedTemporaryFile("w", prefix="sluice-kafka-", suffix=".txt",
                                     delete=False) as f:
        f.write("".join(line + "\n" for line in lines))
        path = f.name
    try:
        args = ["produce", BOOTSTRAP, topic, path]
        if partition is not None:
            args += ["--partition", str(partition)]
        if timestamps:
            args.append("--timestamps")
        r = tool(*args)
    finally:
        os.unlink(path)
    want = f"produced {len(lines)} records"
    if r.stdout.strip() != want:
        fail(f"sluice-kafka-tool produce: {r.stdout.strip()!r}, expected {want!r}")
    log(f"{topic}: {len(lines)} records produced with sluice-kafka-tool"
        + (f" to partition {partition}" if partition is not None else ""))


def kcat_produce(topic, lines, timeout=120):
    """Produces lines with `kcat -P` (a second, independent producer)."""
    r = subprocess.run(["kcat", "-P", "-b", BOOTSTRAP, "-t", topic, "-X", "acks=all"],
                       input="".join(line + "\n" for line in lines), capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode != 0:
        fail(f"kcat -P exited {r.returncode}: {r.stderr[-2000:]}")
    # (a lost record would also show: the job must consume every one)
    log(f"{topic}: {len(lines)} records produced with kcat -P")


def consume(topic, read_committed=True, timeout_ms=60000):
    """All (key, value) records of a topic (read_committed by default)."""
    args = ["consume", BOOTSTRAP, topic, "--timeout-ms", str(timeout_ms)]
    if read_committed:
        args.append("--read-committed")
    r = tool(*args, timeout=timeout_ms / 1000 + 60)
    out = []
    for line in r.stdout.splitlines():
        k, sep, v = line.partition("\t")
        if not sep:
            fail(f"consume {topic}: malformed line {line!r}")
        out.append((k, v))
    return out


def count_sums(records):
    """Sums the (word, count-as-text) records of the sink: a word's total
    over every batch. Returns (Counter, [problems])."""
    total, problems = collections.Counter(), []
    for k, v in records:
        if not re.fullmatch(r"\d+", v) or not k:
            problems.append(f"malformed record {k!r}={v!r}")
            continue
        total[k] += int(v)
    return total, problems


BATCH_RE = re.compile(r"^batch (\d+)\s+(\S+)\s+records\s+(\d+)\s.*?tasks (\d+)")
OFFSETS_RE = re.compile(r"^    offsets (.+)-(\d+):(\d+)-(\d+)$")


def monitor(c, job, duration="1s"):
    """Finished batches of a job from `sluice monitor JOB --no-output`:
    [{time, state, records, retries, line, ranges: {(topic, p): (from, until)}}]."""
    r = c.client("monitor", job, "--no-output", "--duration", duration, timeout=60)
    batches = []
    for line in r.stdout.splitlines():
        m = BATCH_RE.match(line)
        if m:
            batches.append({"time": int(m.group(1)), "state": m.group(2),
                            "records": int(m.group(3)), "retries": "(with retries)" in line,
                            "line": line, "ranges": {}})
            continue
        m = OFFSETS_RE.match(line)
        if m and batches:
            key = (m.group(1), int(m.group(2)))
            if key in batches[-1]["ranges"]:
                fail(f"batch {batches[-1]['time']}: {key} listed twice")
            batches[-1]["ranges"][key] = (int(m.group(3)), int(m.group(4)))
        elif line.strip() and not line.startswith(("  backpressure: ", "    receiver ", "  state: ",
                                                      "  event time: ")):
            fail(f"unexpected monitor line {line!r}")
    times = [b["time"] for b in batches]
    if times != sorted(set(times)):
        fail(f"monitor batches out of order or repeated: {times}")
    return batches


def wait_taken(c, job, total, timeout):
    """Finished batches of job once they took `total` records; fails if one
    is not DONE."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batches = monitor(c, job, duration="300ms")
        if any(b["state"] != "DONE" for b in batches):
            fail(f"job {job}: a batch is not DONE")
        if consumed(batches) >= total:
            return batches
        time.sleep(0.3)
    fail(f"{job} did not take {total} records in {timeout}s")


def consumed(batches):
    """Records taken over the given batches (sum of range sizes)."""
    return sum(u - f for b in batches for f, u in b["ranges"].values())


def check_contiguous(batches, ends, start=0):
    """Problems with the per-partition ranges over batches: every partition
    in `ends` ({(topic, p): end offset}) must be covered from `start` (an
    offset, or {(topic, p): offset}) to its end, each range starting where
    the previous one ended (no gap, no overlap), in batch order."""
    problems = []
    pos = {}
    for b in batches:
        for key, (f, u) in sorted(b["ranges"].items()):
            if u < f:
                problems.append(f"batch {b['time']}: {key} range {f}-{u} runs backwards")
            if key not in pos:
                first = start.get(key, 0) if isinstance(start, dict) else start
                if f != first:
                    problems.append(f"batch {b['time']}: {key} first range starts at {f}, "
                                    f"not {first}")
            elif f != pos[key]:
                kind = "gap" if f > pos[key] else "overlap"
                problems.append(f"batch {b['time']}: {key} {kind}: range {f}-{u} after "
                                f"{pos[key]}")
            pos[key] = u
    for key, end in ends.items():
        if pos.get(key) != end:
            problems.append(f"{key}: consumed up to {pos.get(key)}, end offset {end}")
    extra = set(pos) - set(ends)
    if extra:
        problems.append(f"unexpected partitions {sorted(extra)}")
    return problems


def wait_consumed(c, job, total, timeout, what=None):
    """Waits until the finished batches of a job took `total` records; returns
    the batches. Fails early if a batch FAILED or the job stopped running."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        batches = monitor(c, job, duration="300ms")
        bad = [b["line"] for b in batches if b["state"] != "DONE"]
        if bad:
            fail(f"job {job}: batch not DONE: {bad[:3]}")
        last = consumed(batches)
        if last >= total:
            return batches
        st = jobs_table(c).get(job, {})
        if st.get("state") not in ("RUNNING", None):
            fail(f"job {job} is {st.get('state')}: {st.get('error')}")
        time.sleep(0.5)
    fail(f"timed out after {timeout}s waiting for {what or job} to consume {total} records "
         f"(consumed {last})")


def make_lines(n, seed=1, vocab=3000, first=0):
    """n deterministic lines of Zipf-ish words, line i starting with the
    unique token "L<first+i>" (as harness.make_text, but by line count and
    fast enough for 10^5-10^6 lines)."""
    import itertools
    import random
    rnd = random.Random(seed)
    words = [f"w{i}" + "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz")
                               for _ in range(rnd.randint(0, 6))) for i in range(vocab)]
    cum = list(itertools.accumulate(1.0 / (i + 1) for i in range(vocab)))
    return [" ".join([f"L{first + i}"] + rnd.choices(words, cum_weights=cum,
                                                     k=rnd.randint(1, 14)))
            for i in range(n)]
