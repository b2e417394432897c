"""Exactly-once Kafka sink across task retries (SPEC §5).

kafka_wordcount runs with the sink parameter inject.fail_after=3
(--conf wordcount.sink.extra=inject.fail_after=3): attempt 0 of every sink
task sends 3 records (flushed to the broker), then dies with its transaction
left open; the retry's init_transactions fences that producer and aborts the
transaction, and writes the task's output again. 40,000 lines in a
4-partition topic, maxRatePerPartition=4000 with 1 s batches (several
batches), three workers. Asserts:

- the master log shows the injected failures ("injected failure after 3
  records") as first failures of sink tasks, and no task failing twice;
  `sluice monitor` marks the non-empty batches "(with retries)", every batch
  DONE, the job has no failed batch;
- read back with read_committed, the per-word sums equal an independent count
  and each line's token L<n> totals exactly 1: every count exactly once, the
  failed attempts' records not among them;
- read_uncommitted shows exactly 3 more records per injected failure (the
  aborted partial output is really in the topic, and only it).
"""
import collections
import os
import re

from kharness import (  # first: puts tests/integration on sys.path
    BOOTSTRAP, check_contiguous, consume, count_sums, make_lines, name, produce,
    require_broker, topic_create, wait_consumed)
from harness import LIB, Cluster, check, counter_diff, jobs_table, line_tokens, log, run

N = 40_000
FAIL_AFTER = 3


def test():
    require_broker()
    src, out, job = name("eo-in"), name("eo-out"), name("keo")
    topic_create(src, 4)
    topic_create(out, 3)
    lines = make_lines(N, seed=40)
    produce(src, lines)
    want = collections.Counter(w for line in lines for w in line.split())

    c = Cluster("kafka-eo")
    c.start_master()
    for i in range(3):
        c.start_worker(f"w{i}", slots=2)
    c.wait_workers(3)
    c.client("submit", "--start", os.path.join(LIB, "kafka_wordcount.so"), "--name", job,
             "--batch-interval", "1s",
             "--conf", "spark.streaming.kafka.maxRatePerPartition=4000",
             "--conf", f"wordcount.brokers={BOOTSTRAP}",
             "--conf", f"wordcount.topics={src}",
             "--conf", f"wordcount.output={out}",
             "--conf", f"wordcount.group={job}",
             "--conf", f"wordcount.sink.extra=inject.fail_after={FAIL_AFTER}")
    batches = wait_consumed(c, job, N, 240, "every line")
    busy = [b for b in batches if b["records"] > 0]
    log(f"{len(busy)} non-empty batches: {[b['line'] for b in busy]}")
    check(len(busy) >= 3, "the input spans several batches")
    ends = {}
    for b in batches:
        for key, (_, u) in b["ranges"].items():
            ends[key] = max(ends.get(key, 0), u)
    problems = check_contiguous(batches, ends)
    check(not problems and sum(ends.values()) == N, f"ranges contiguous, {N} records {problems}")
    check(all(b["state"] == "DONE" for b in batches), "every batch DONE")
    check(all(b["retries"] for b in busy), "every non-empty batch ran with retries")

    mlog = c.master.log_text()
    failures = [line for line in mlog.splitlines() if "failed on" in line]
    injected = [line for line in failures if f"injected failure after {FAIL_AFTER} records "
                "(inject.fail_after)" in line]
    log(f"{len(injected)} injected sink failures, e.g. {injected[:1]}")
    check(len(injected) >= len(busy), f"the master log shows injected failures "
          f"({len(injected)}), at least one per non-empty batch")
    check(len(injected) == len(failures),
          f"no other task failure {[f for f in failures if f not in injected][:3]}")
    check(all(re.search(r"\(failure 1 of \d+\)", line) for line in injected),
          "each injected failure is the task's first; the retry succeeded")
    jobs = jobs_table(c)
    check(jobs[job]["state"] == "RUNNING" and jobs[job]["failed"] == 0
          and jobs[job]["records"] == N, f"job RUNNING, no failed batch: {jobs[job]}")

    committed = consume(out, read_committed=True)
    got, problems = count_sums(committed)
    check(not problems, f"output well formed {problems[:5]}")
    tokens = line_tokens(got)
    check(len(tokens) == N, f"every line's token present ({len(tokens)})")
    dup = {k: v for k, v in tokens.items() if v != 1}
    check(not dup, f"every line counted exactly once {list(dup.items())[:5]}")
    diff = counter_diff(got, want)
    check(diff == "", f"per-word sums (read_committed) equal an independent count {diff}")
    uncommitted = consume(out, read_committed=False)
    extra = len(uncommitted) - len(committed)
    check(extra == FAIL_AFTER * len(injected),
          f"read_uncommitted has {extra} more records = {FAIL_AFTER} per injected failure "
          f"({len(injected)}): the aborted partial output")
    raw, _ = count_sums(uncommitted)
    check(raw != got, "without read_committed the sums would be wrong (the test bites)")
    c.client("stop", job)
    c.stop()


if __name__ == "__main__":
    run(test)
