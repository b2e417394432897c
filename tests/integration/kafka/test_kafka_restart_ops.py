"""The lifecycle across a master restart (SPEC §8, docs/operations.md), with
kafka_wordcount's exactly-once sink and a real broker:

- stop, restart, start: a job stopped in the middle of a preloaded topic
  (16,000 lines) keeps STOPPED across a master restart; started again by
  the restarted master it continues from its committed offsets: the first
  batch after the restart starts each partition where the first run ended,
  the ranges are contiguous, and across the two runs every line's token is
  counted exactly once (none lost, none twice) with per-word totals equal
  to an independent count.
- run-config's Kafka cap (spark.streaming.kafka.maxRatePerPartition=50)
  set on the resumed RUNNING job bounds every partition's range from its
  second batch after the change on (live, no restart of the job).
- every state survives the restart, through the REST API and the CLI:
  PUBLISHED, PAUSED (and resumed afterwards), STOPPED with its recorded
  reason, and a channel's system jobs (data write RUNNING, data read
  PUBLISHED); the channel gate still refuses a job that reads it, naming
  the data read job.
"""
import collections
import json
import os
import time
import urllib.request

from kharness import (  # first: puts tests/integration on sys.path
    BOOTSTRAP, check_contiguous, consume, consumed, count_sums, make_lines, monitor, name,
    produce, require_broker, topic_create, wait_taken)
from harness import (LIB, Cluster, check, counter_diff, http_base, jobs_table,
                     line_tokens, log, run, wait_for)

N = 16_000


def submit(c, job, src, out, start=True):
    c.client("submit", *(["--start"] if start else []),
             os.path.join(LIB, "kafka_wordcount.so"), "--name", job, "--batch-interval", "1s",
             "--conf", "spark.streaming.kafka.maxRatePerPartition=2000",
             "--conf", f"wordcount.brokers={BOOTSTRAP}", "--conf", f"wordcount.topics={src}",
             "--conf", f"wordcount.output={out}", "--conf", f"wordcount.group={job}")


def rest_states(c):
    base = http_base(c)
    token = open(os.path.join(c.state, "reader.token")).read().strip()
    req = urllib.request.Request(base + "/api/v1/jobs")
    req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as r:
        return {j["name"]: j["state"] for j in json.loads(r.read())["jobs"]}


def ends_of(batches):
    ends = {}
    for b in batches:
        for key, (_, u) in b["ranges"].items():
            ends[key] = max(ends.get(key, 0), u)
    return ends


def before_restart(c, src, names):
    stop_job, pub, paused, ch = names
    submit(c, stop_job, src, name("stop-out"))
    submit(c, paused, src, name("paused-out"))
    submit(c, pub, src, name("pub-out"), start=False)
    wait_taken(c, stop_job, 1, 60)
    c.client("stop", stop_job, "--reason", "before the restart")
    c.client("pause", paused, "--reason", "across the restart")
    time.sleep(1.5)  # batches generated before the stop finish
    first = monitor(c, stop_job, duration="300ms")
    check(0 < consumed(first) < N, f"stopped in the middle ({consumed(first)} of {N})")
    c.client("channels", "create", ch, "--brokers", BOOTSTRAP, "--source",
             f"kafka:{name('ch-src')}", "--topic", name("ch-topic"))
    c.client("start", f"{ch}.write")
    return first


def check_states(c, names):
    stop_job, pub, paused, ch = names
    want = {stop_job: "STOPPED", pub: "PUBLISHED", paused: "PAUSED",
            f"{ch}.write": "RUNNING", f"{ch}.read": "PUBLISHED"}
    got = rest_states(c)
    check({k: got.get(k) for k in want} == want, f"REST states after the restart: {got}")
    table = jobs_table(c)
    check({k: table[k]["state"] for k in want} == want, f"CLI states after the restart")
    t = json.loads(c.client("transitions", "--json", stop_job).stdout)["transitions"]
    check(t[-1]["to"] == "STOPPED" and t[-1]["why"] == "before the restart",
          f"the stop and its reason survive: {t[-1]}")
    info = json.loads(c.client("channels", "show", ch, "--json").stdout)
    check(info["write_job"]["state"] == "RUNNING" and info["read_job"]["state"] == "PUBLISHED",
          f"the channel's system jobs survive: {info}")


def gate_after_restart(c, ch):
    user = name("ch-user")
    c.client("publish", os.path.join(LIB, "kafka_copy.so"), "--name", user,
             "--conf", f"copy.brokers={BOOTSTRAP}", "--conf", f"copy.input={name('ch-topic')}")
    r = c.client("start", user, check=False)
    check(r.returncode == 1 and f"'{ch}.read' is PUBLISHED" in r.stderr,
          f"the gate refuses a reader after the restart: {r.stderr.strip()}")


def live_kafka_cap(c, job):
    """run-config's Kafka cap on a RUNNING job: live, from its next plans on."""
    r = c.client("run-config", job, "set", "spark.streaming.kafka.maxRatePerPartition=50")
    check("takes effect now (live)" in r.stdout, f"the Kafka cap is live: {r.stdout}")
    n0 = len(monitor(c, job, duration="300ms"))
    later = wait_for(lambda: (lambda b: b if len(b) >= n0 + 4 else None)(
        monitor(c, job, duration="300ms")), 30, "four more batches")[n0 + 2:]
    sizes = [u - f for b in later for f, u in b["ranges"].values()]
    check(sizes and max(sizes) <= 50 and sum(sizes) > 0,
          f"each partition's range per 1 s batch is at most 50 records now: {sizes}")


def test():
    require_broker()
    src = name("rs-in")
    for t in (src, name("stop-out"), name("paused-out"), name("pub-out"), name("ch-src"),
              name("ch-topic"), name("ch-topic") + ".in"):
        topic_create(t, 2)
    lines = make_lines(N, seed=21)
    produce(src, lines)
    want = collections.Counter(w for line in lines for w in line.split())
    names = (name("rstop"), name("rpub"), name("rpaused"), name("rch"))
    c = Cluster("kafka-restart-ops")
    c.start_master()
    for i in range(2):
        c.start_worker(f"w{i}", slots=3)
    c.wait_workers(2)
    first = before_restart(c, src, names)
    c.master.stop()
    c.start_master()
    c.wait_workers(2)
    check_states(c, names)
    gate_after_restart(c, names[3])
    c.client("resume", names[2])
    check(jobs_table(c)[names[2]]["state"] == "RUNNING", "the paused job resumes")
    live_kafka_cap(c, names[2])

    c.client("start", names[0], "--reason", "after the restart")
    after = wait_taken(c, names[0], N - consumed(first), 180)
    problems = check_contiguous(after, ends_of(after), start=ends_of(first))
    check(not problems and consumed(first) + consumed(after) == N,
          f"the second run starts at the first's committed offsets, contiguous "
          f"({consumed(first)} + {consumed(after)} of {N}) {problems}")
    got, bad = count_sums(consume(name("stop-out"), read_committed=True))
    tokens = line_tokens(got)
    dup = {k: v for k, v in tokens.items() if v != 1}
    check(not bad and len(tokens) == N and not dup,
          f"every line counted exactly once across the restart ({len(tokens)} tokens, "
          f"{list(dup.items())[:5]})")
    check(counter_diff(got, want) == "", "per-word totals equal an independent count")
    log("lifecycle across a master restart checked")
    c.stop()


if __name__ == "__main__":
    run(test)
