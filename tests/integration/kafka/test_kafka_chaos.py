"""Chaos: exactly-once from Kafka to Kafka while processes die (issue 8).

A master and three workers run tests/jobs/kafka_map.so (Kafka direct stream
-> map -> exactly-once Kafka sink: record v becomes key v, value "m:v") over
N = 100,000 distinct records in a 4-partition topic, clamped by
spark.streaming.kafka.maxRatePerPartition so that the work spans the whole
run. While it runs, a seeded schedule (random order and gaps) kills the
master with SIGKILL 3 times and workers 3 times, restarting each after
0.2-1.0 s (same state / work directories), and restarts the broker once
(SIGKILL, then started again on its data: scripts/kafka.sh restart).

When every record's offset is in a finished batch of the master's
checkpoint, the output topic is read with isolation.level=read_committed:
it must be exactly the mapped input set: 0 lost, 0 duplicated, nothing
else. Each seed is a fresh cluster, topics and job. spark.task.maxFailures
is raised to 30 so that tasks ride out the broker's restart instead of
failing the batch (which, with sluice.batch.onFailure=stop, would stop the
job: the test would then fail naming the batch).

Seeds: CHAOS_SEEDS (comma-separated, default 1,2,3); records: CHAOS_RECORDS.
bench/chaos.sh --seeds N runs many seeds against a broker of its own.
"""
import os
import random
import sqlite3
import time

from kharness import (  # first: puts tests/integration on sys.path
    BOOTSTRAP, consume, kafka_sh, name, produce, require_broker, topic_create)
from harness import BUILD, Cluster, check, fail, jobs_table, log, run, wait_for

N = int(os.environ.get("CHAOS_RECORDS", "100000"))
SEEDS = [int(s) for s in os.environ.get("CHAOS_SEEDS", "1,2,3").split(",") if s]
RATE = 600  # records/s per partition: ~40 s of batches for 100,000 records
WORKERS = 3


def progress(c, job_id):
    """(records in finished batches' ranges, unfinished batch rows) from the
    master's checkpoint: next offsets minus the ranges of batches not done."""
    path = os.path.join(c.state, "master.db")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            nxt = db.execute("SELECT COALESCE(SUM(next_offset), 0) FROM kafka_offsets "
                             "WHERE job_id = ?", (job_id,)).fetchone()[0]
            open_ranges = db.execute(
                "SELECT COALESCE(SUM(until_offset - from_offset), 0) FROM kafka_ranges "
                "WHERE job_id = ?", (job_id,)).fetchone()[0]
            unfinished = db.execute("SELECT COUNT(*) FROM batches WHERE job_id = ? AND "
                                    "state IN ('QUEUED', 'RUNNING')", (job_id,)).fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as e:
        log(f"checkpoint not readable yet: {e}")
        return 0, 1
    return nxt - open_ranges, unfinished


def chaos(c, rnd, job):
    events = ["master"] * 3 + ["worker"] * 3 + ["broker"]
    rnd.shuffle(events)
    for ev in events:
        time.sleep(rnd.uniform(1.5, 4.0))
        down = rnd.uniform(0.2, 1.0)
        if ev == "master":
            c.master.kill()
            c.master.p.wait(5)
            time.sleep(down)
            c.start_master()
            log(f"chaos: master killed and restarted after {down:.1f}s")
        elif ev == "worker":
            w = rnd.choice(sorted(c.workers))
            c.workers[w].kill()
            c.workers[w].p.wait(5)
            time.sleep(down)
            c.start_worker(w, slots=2)
            log(f"chaos: worker {w} killed and restarted after {down:.1f}s")
        else:
            t0 = time.monotonic()
            kafka_sh("restart", timeout=180)
            log(f"chaos: broker killed and restarted ({time.monotonic() - t0:.1f}s)")
        state = jobs_table(c).get(job, {})
        if state.get("state") not in ("RUNNING", None):
            fail(f"job {job} is {state.get('state')} after {ev} chaos: {state.get('error')}")


def one_seed(seed):
    log(f"===== seed {seed}: {N} records =====")
    rnd = random.Random(seed)
    src, out, job = name(f"chaos{seed}-in"), name(f"chaos{seed}-out"), name(f"chaos{seed}")
    topic_create(src, 4)
    topic_create(out, 3)
    records = [f"s{seed}-r{i}" for i in range(N)]
    produce(src, records)

    c = Cluster(f"chaos{seed}", conf={"sluice.heartbeat.interval": "200ms"})
    c.start_master()
    for i in range(WORKERS):
        c.start_worker(f"w{i}", slots=2)
    c.wait_workers(WORKERS)
    c.client("submit", os.path.join(BUILD, "tests", "jobs", "kafka_map.so"), "--name", job,
             "--batch-interval", "1s",
             "--conf", f"spark.streaming.kafka.maxRatePerPartition={RATE}",
             "--conf", "spark.task.maxFailures=30",
             "--conf", f"map.brokers={BOOTSTRAP}", "--conf", f"map.input={src}",
             "--conf", f"map.output={out}", "--conf", f"map.group={job}")
    job_id = int(jobs_table(c)[job]["id"])
    t0 = time.monotonic()
    chaos(c, rnd, job)
    log(f"chaos over after {time.monotonic() - t0:.0f}s; progress {progress(c, job_id)}")

    def finished():
        st = jobs_table(c).get(job, {})
        if st.get("state") not in ("RUNNING", None):
            fail(f"job {job} is {st.get('state')}: {st.get('error')}")
        done, unfinished = progress(c, job_id)
        return done >= N and unfinished == 0
    wait_for(finished, 300, f"every record in a finished batch (seed {seed})", interval=1.0)
    log(f"seed {seed}: all {N} records processed in {time.monotonic() - t0:.0f}s")

    got = [v for _, v in consume(out, read_committed=True, timeout_ms=20000)]
    want = {"m:" + r for r in records}
    seen, dups = set(), 0
    for v in got:
        dups += v in seen
        seen.add(v)
    lost = len(want - seen)
    extra = len(seen - want)
    check(lost == 0 and dups == 0 and extra == 0 and len(got) == N,
          f"seed {seed}: read_committed output is exactly the input set: {len(got)} records, "
          f"{lost} lost, {dups} duplicated, {extra} foreign")
    mlog = c.master.log_text()
    check(mlog.count("resumed from its checkpoint") >= 3,
          f"seed {seed}: the job was resumed after each master restart")
    c.client("stop", job)
    c.stop()


def test():
    require_broker()
    for seed in SEEDS:
        one_seed(seed)


if __name__ == "__main__":
    run(test)
