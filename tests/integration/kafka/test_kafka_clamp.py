"""Kafka rate clamp (SPEC §5): spark.streaming.kafka.maxRatePerPartition.

A 4-partition topic is pre-filled unevenly (3,500 / 2,000 / 1,000 / 0
records, explicit partitions), then kafka_wordcount runs with a 1 s batch
interval, maxRatePerPartition=1000 and backpressure off, and its consumers'
prefetch queue set to 200 messages (queued.min.messages), so every
1000-record range is larger than the queue: while a partition has a
backlog its consumer stays assigned between batches, its fetcher stops at
200 queued messages and the reader has to wake it several times per range
(worker/kafka_io.c fetcher_wake). Asserts, from
`sluice monitor JOB --no-output` ("offsets topic-P:from-until" lines):

- no batch takes more than 1000 records (1000/s x 1 s) from any partition;
- with nothing produced during the run, the clamp is exact:
  until = min(from + 1000, end offset) for every range (so partition 0
  takes 1000, 1000, 1000, 500 over four batches);
- the ranges are contiguous per partition across batches, from offset 0
  (the start offset, earliest) to the end offset: no gap, no overlap; the
  empty partition is listed with empty ranges 0-0;
- every batch DONE, its input records = the sum of its ranges;
- the output (read_committed) counts every line exactly once and equals an
  independent count.
"""
import collections
import os

from kharness import (  # first: puts tests/integration on sys.path
    BOOTSTRAP, check_contiguous, consume, consumed, count_sums, make_lines, monitor, name,
    produce, require_broker, topic_create, wait_consumed)
from harness import LIB, Cluster, check, counter_diff, jobs_table, line_tokens, log, run

FILL = [3500, 2000, 1000, 0]
RATE = 1000


def test():
    require_broker()
    src, out, job = name("clamp-in"), name("clamp-out"), name("kclamp")
    topic_create(src, 4)
    topic_create(out, 2)
    lines, first = [], 0
    for p, n in enumerate(FILL):
        part = make_lines(n, seed=20 + p, first=first)
        first += n
        lines += part
        if n:
            produce(src, part, partition=p)
    total = sum(FILL)
    want = collections.Counter(w for line in lines for w in line.split())

    c = Cluster("kafka-clamp")
    c.start_master()
    for i in range(2):
        c.start_worker(f"w{i}", slots=2)
    c.wait_workers(2)
    r = c.client("submit", "--start", os.path.join(LIB, "kafka_wordcount.so"), "--name", job,
                 "--batch-interval", "1s",
                 "--conf", f"spark.streaming.kafka.maxRatePerPartition={RATE}",
                 "--conf", "spark.streaming.backpressure.enabled=false",
                 "--conf", f"wordcount.brokers={BOOTSTRAP}",
                 "--conf", f"wordcount.topics={src}",
                 "--conf", f"wordcount.output={out}",
                 "--conf", f"wordcount.group={job}",
                 "--conf", "wordcount.source.extra=queued.min.messages=200")
    log(r.stdout.strip())
    batches = wait_consumed(c, job, total, 180, "the pre-filled records")
    for b in batches:
        log(f"batch {b['time']}: " + ", ".join(f"p{k[1]} {f}-{u}"
                                               for k, (f, u) in sorted(b["ranges"].items())))

    ends = {(src, p): n for p, n in enumerate(FILL)}
    over = [(b["time"], k, f, u) for b in batches for k, (f, u) in b["ranges"].items()
            if u - f > RATE]
    check(not over, f"no batch takes more than {RATE} records from a partition {over[:5]}")
    inexact = [(b["time"], k, f, u) for b in batches for k, (f, u) in b["ranges"].items()
               if u != min(f + RATE, ends.get(k, -1))]
    check(not inexact, f"every range is [from, min(from + {RATE}, end)) {inexact[:5]}")
    problems = check_contiguous(batches, ends)
    check(not problems, f"ranges contiguous per partition from 0 to the end {problems[:5]}")
    check(all(len(b["ranges"]) == 4 for b in batches), "every batch lists all 4 partitions")
    check(all(b["state"] == "DONE" and b["records"] == sum(u - f for f, u in b["ranges"].values())
              for b in batches), "every batch DONE, input records = sum of its ranges")
    busy = [b for b in batches if b["records"] > 0]
    check([b["records"] for b in busy] == [3000, 2000, 1000, 500],
          f"records per batch 3000, 2000, 1000, 500: {[b['records'] for b in busy]}")

    got, problems = count_sums(consume(out))
    check(not problems, f"output well formed {problems[:5]}")
    tokens = line_tokens(got)
    check(len(tokens) == total and all(v == 1 for v in tokens.values()),
          f"each of the {total} lines counted exactly once")
    diff = counter_diff(got, want)
    check(diff == "", f"per-word sums equal an independent count {diff}")
    jobs = jobs_table(c)
    check(jobs[job]["state"] == "RUNNING" and jobs[job]["failed"] == 0
          and jobs[job]["records"] == total, f"job RUNNING, no failed batch: {jobs[job]}")
    check(consumed(monitor(c, job)) == total, "nothing taken past the end")
    c.client("stop", job)
    c.stop()


if __name__ == "__main__":
    run(test)
