"""Bad Kafka input to kafka_wordcount: clear errors, bounded, no crash.

One master and two workers; each case is a separate job:

- a property librdkafka does not know
  (wordcount.source.extra=no.such.property=1) -> `sluice submit` exits 1 with
  a message naming the property; the job is not created;
- a bad value of a known property on the sink
  (wordcount.sink.extra=acks=banana) -> submit exits 1 naming acks;
- a topic that does not exist -> the job is accepted and then FAILED in
  `sluice jobs` within 30 s, the error naming the topic;
- unreachable bootstrap servers (127.0.0.1:1) -> the job is FAILED within
  90 s (three planning attempts of 5 s metadata timeouts plus slack), the
  error naming the brokers;
- a missing output topic -> the job's batches FAIL within seconds (the sink
  checks the topic before writing), `sluice monitor` showing an error that
  names the topic, and `sluice jobs` counting failed batches; batches keep
  being scheduled and failing (six within 60 s: failed batches give their
  task slots back);
- afterwards the master and both workers are alive and ALIVE, and a good job
  on the same cluster still counts its input exactly (the failed jobs left
  nothing behind that breaks the next one).
"""
import collections
import os
import time

from kharness import (  # first: puts tests/integration on sys.path
    BOOTSTRAP, consume, count_sums, make_lines, monitor, name, produce, require_broker,
    topic_create, wait_consumed)
from harness import LIB, Cluster, check, counter_diff, jobs_table, log, run, wait_for

JOB = os.path.join(LIB, "kafka_wordcount.so")


def submit(c, job, *conf):
    args = ["submit", JOB, "--name", job, "--batch-interval", "1s"]
    for kv in conf:
        args += ["--conf", kv]
    return c.client(*args, check=False)


def wait_failed(c, job, timeout):
    t0 = time.monotonic()
    row = wait_for(lambda: (lambda r: r if r and r["state"] != "RUNNING" else None)(
        jobs_table(c).get(job)), timeout, f"job {job} to fail", interval=0.5)
    log(f"job {job}: {row['state']} after {time.monotonic() - t0:.1f}s: {row['error']}")
    return row


def test():
    require_broker()
    src, out = name("bad-in"), name("bad-out")
    topic_create(src, 2)
    topic_create(out, 1)
    c = Cluster("kafka-bad")
    c.start_master()
    for i in range(2):
        c.start_worker(f"w{i}", slots=2)
    c.wait_workers(2)
    good = [f"wordcount.brokers={BOOTSTRAP}", f"wordcount.topics={src}",
            f"wordcount.output={out}"]

    # 1. unknown librdkafka property on the source: refused at submit
    r = submit(c, name("badprop"), *good, "wordcount.source.extra=no.such.property=1")
    log(f"submit: exit {r.returncode}: {r.stderr.strip()}")
    check(r.returncode == 1, "submit with an unknown property exits 1")
    check("no.such.property" in r.stderr, "the message names the property")
    check(name("badprop") not in jobs_table(c), "no job was created")

    # 2. bad value of a known property on the sink: refused at submit
    r = submit(c, name("badval"), *good, "wordcount.sink.extra=acks=banana")
    log(f"submit: exit {r.returncode}: {r.stderr.strip()}")
    check(r.returncode == 1 and "acks" in r.stderr and "banana" in r.stderr,
          "submit with acks=banana exits 1 naming the property and value")
    check(name("badval") not in jobs_table(c), "no job was created")

    # 3. missing topic: FAILED, naming it
    missing = name("no-such-topic")
    job = name("missing")
    r = submit(c, job, f"wordcount.brokers={BOOTSTRAP}", f"wordcount.topics={missing}",
               f"wordcount.output={out}")
    check(r.returncode == 0, f"a job on a missing topic is accepted: {r.stderr.strip()}")
    row = wait_failed(c, job, 30)
    check(row["state"] == "FAILED" and missing in row["error"],
          f"FAILED with an error naming the topic: {row}")

    # 4. unreachable brokers: FAILED, naming them
    job = name("unreach")
    t0 = time.monotonic()
    r = submit(c, job, "wordcount.brokers=127.0.0.1:1", f"wordcount.topics={src}",
               f"wordcount.output={out}")
    check(r.returncode == 0, f"a job with unreachable brokers is accepted: {r.stderr.strip()}")
    row = wait_failed(c, job, 90)
    check(row["state"] == "FAILED" and "127.0.0.1:1" in row["error"],
          f"FAILED with an error naming the brokers: {row}")
    log(f"unreachable brokers detected after {time.monotonic() - t0:.1f}s")

    # 5. missing output topic: the batch FAILED at once (not after the 30 s
    # metadata wait of every record), naming the topic
    early = make_lines(100, seed=51, first=10**6)
    produce(src, early)
    missing_out = name("no-such-output")
    job = name("noout")
    t0 = time.monotonic()
    # onFailure=continue: this part checks that scheduling goes on after failed
    # batches (the default, stop, ends the job at the first one)
    r = submit(c, job, *good[:2], f"wordcount.output={missing_out}",
               "sluice.batch.onFailure=continue")
    check(r.returncode == 0, f"a job with a missing output topic is accepted: {r.stderr}")
    failed = wait_for(lambda: [b for b in monitor(c, job, "300ms") if b["state"] == "FAILED"],
                      30, "a FAILED batch", interval=0.5)[0]
    log(f"first batch FAILED after {time.monotonic() - t0:.1f}s: {failed['line']}")
    check(f"output topic '{missing_out}'" in failed["line"],
          "the failed batch's error names the missing output topic")
    # Failed batches must not keep slots: tasks of a failed output job still
    # running when the batch ended used to leak their slot, and after a few
    # batches nothing could be scheduled any more.
    # (every batch runs the sink tasks, so empty batches fail too)
    wait_for(lambda: jobs_table(c)[job]["failed"] >= 6, 60,
             "six failed batches (scheduling goes on after failed batches)", interval=0.5)
    log(f"{job}: {jobs_table(c)[job]}")
    c.client("stop", job)

    # the cluster is unharmed
    check(c.master.alive() and all(w.alive() for w in c.workers.values()),
          "master and workers still running")
    table = c.wait_workers(2)
    check(all(v["state"] == "ALIVE" for v in table.values()), "both workers ALIVE")
    lines = make_lines(2000, seed=50)
    produce(src, lines)
    lines += early  # the good job reads the topic from its start
    job = name("good")
    r = submit(c, job, *good, f"wordcount.group={job}")
    check(r.returncode == 0, f"a good job is accepted afterwards: {r.stderr.strip()}")
    wait_consumed(c, job, len(lines), 60, "the good job")
    got, problems = count_sums(consume(out))
    want = collections.Counter(w for line in lines for w in line.split())
    check(not problems and counter_diff(got, want) == "",
          f"the good job's output is exact {problems[:3]} {counter_diff(got, want)}")
    jobs = jobs_table(c)
    check(jobs[job]["state"] == "RUNNING" and jobs[job]["failed"] == 0, f"good job: {jobs[job]}")
    c.client("stop", job)
    check(c.master.alive() and all(w.alive() for w in c.workers.values()),
          "master and workers still running at the end")
    c.stop()


if __name__ == "__main__":
    run(test)
