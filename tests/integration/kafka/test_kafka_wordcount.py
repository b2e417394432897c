"""Kafka word count end to end (SPEC §5), against a real broker.

200,000 lines are produced to a 4-partition topic with sluice-kafka-tool
(librdkafka) before the job starts, and 20,000 more with `kcat -P` while it
runs. examples/kafka_wordcount.so on three workers counts the words of each
batch and writes (word, count as text) to a 3-partition output topic with the
exactly-once sink. Asserts:

- the job consumes exactly the produced records: the finished batches' offset
  ranges cover every input partition contiguously from 0 to its end offset
  (no gap, no overlap), every batch DONE, no task retried;
- read back with read_committed, the per-word sums over all batches equal an
  independent count (collections.Counter over the produced lines), so every
  word of every line counted exactly once; each line's unique token L<n> has
  a total of exactly 1;
- nothing was aborted on the way: read_uncommitted shows exactly the
  records read_committed shows;
- `sluice jobs` shows the job RUNNING, no failed batch, records = lines.
"""
import collections
import os

from kharness import (  # first: puts tests/integration on sys.path
    BOOTSTRAP, check_contiguous, consume, consumed, count_sums, kcat_produce, make_lines, monitor,
    name, produce, require_broker, topic_create, wait_consumed)
from harness import LIB, Cluster, check, counter_diff, jobs_table, line_tokens, log, run

N1 = 200_000
N2 = 20_000


def test():
    require_broker()
    src, out, job = name("wc-in"), name("wc-out"), name("kwc")
    first = make_lines(N1, seed=11, vocab=5000)
    second = make_lines(N2, seed=12, vocab=5000, first=N1)
    want = collections.Counter(w for line in first + second for w in line.split())
    log(f"{len(first)} + {len(second)} lines, {sum(want.values())} words, {len(want)} distinct")

    topic_create(src, 4)
    topic_create(out, 3)
    produce(src, first)

    c = Cluster("kafka-wc")
    c.start_master()
    for i in range(3):
        c.start_worker(f"w{i}", slots=2)
    c.wait_workers(3)
    r = c.client("submit", "--start", os.path.join(LIB, "kafka_wordcount.so"), "--name", job,
                 "--batch-interval", "1s",
                 "--conf", f"wordcount.brokers={BOOTSTRAP}",
                 "--conf", f"wordcount.topics={src}",
                 "--conf", f"wordcount.output={out}",
                 "--conf", f"wordcount.group={job}",
                 "--conf", "wordcount.start=earliest")
    log(r.stdout.strip())

    # the pre-filled lines first, then a second producer while the job runs
    wait_consumed(c, job, N1, 240, "the librdkafka-produced lines")
    kcat_produce(src, second)
    batches = wait_consumed(c, job, N1 + N2, 120, "the kcat-produced lines")
    for b in batches:
        log(b["line"])

    ends = {}
    for b in batches:
        for key, (_, u) in b["ranges"].items():
            ends[key] = max(ends.get(key, 0), u)
    check(sorted(ends) == [(src, p) for p in range(4)], f"ranges cover partitions 0-3 of {src}")
    check(sum(ends.values()) == N1 + N2, f"end offsets sum to {N1 + N2} records: {ends}")
    problems = check_contiguous(batches, ends)
    check(not problems, f"offset ranges contiguous from 0 to the end per partition {problems[:5]}")
    check(all(b["records"] == sum(u - f for f, u in b["ranges"].values()) for b in batches),
          "each batch's input records = the sum of its offset ranges")
    check(sum(1 for b in batches if b["records"] > 0) >= 2,
          "the input spans several batches")
    check(not any(b["retries"] for b in batches), "no task retried")

    records = consume(out, read_committed=True)
    got, problems = count_sums(records)
    check(not problems, f"output records well formed {problems[:5]}")
    tokens = line_tokens(got)
    check(len(tokens) == N1 + N2, f"every line's token counted ({len(tokens)})")
    dup = {k: v for k, v in tokens.items() if v != 1}
    check(not dup, f"every line counted exactly once {list(dup.items())[:5]}")
    diff = counter_diff(got, want)
    check(diff == "", f"per-word sums over the batches equal an independent count {diff}")
    uncommitted = consume(out, read_committed=False)
    check(len(uncommitted) == len(records),
          f"nothing aborted: read_uncommitted shows the same {len(records)} records")

    jobs = jobs_table(c)
    check(jobs.get(job, {}).get("state") == "RUNNING", f"job RUNNING: {jobs.get(job)}")
    check(jobs[job]["failed"] == 0, "no failed batch")
    check(jobs[job]["records"] == N1 + N2, f"job input records {jobs[job]['records']}")
    late = monitor(c, job)
    check(consumed(late) == N1 + N2, "no record taken after the end")
    c.client("stop", job)
    c.stop()


if __name__ == "__main__":
    run(test)
