"""Kafka partition discovery (SPEC §5): partitions added to a subscribed
topic while the job runs are found at the next batch and read from their
first offset.

The topic starts with 2 partitions holding 300 + 200 records; kafka_wordcount
starts with wordcount.start=latest (1 s batches), so those are skipped. Then
1,000 records go to partition 0, the topic grows to 4 partitions
(scripts/kafka.sh topic-add-partitions, which returns once every partition
has a leader), and 1,500 / 700 / 400 records go to partitions 2 / 3 / 1
(explicit partitions). Asserts, from `sluice monitor JOB --no-output`:

- the first batch starts partitions 0 and 1 at their end (300, 200: latest);
- partitions 2 and 3 appear no later than the second batch after
  topic-add-partitions returned, their first range starting at offset 0 (the
  partition's first offset, although the job started at latest), and every
  record produced to them is taken within the first two batches after the
  producer finished;
- ranges are contiguous per partition, from the start to the end offset;
- the master logs the new partitions;
- read_committed output: the per-word sums equal an independent count of
  exactly the lines produced after the start (the 500 skipped lines count 0).
"""
import collections
import os
import time

from kharness import (  # first: puts tests/integration on sys.path
    BOOTSTRAP, check_contiguous, consume, count_sums, make_lines, monitor, name,
    produce, require_broker, topic_add_partitions, topic_create, wait_consumed)
from harness import LIB, Cluster, check, counter_diff, jobs_table, line_tokens, log, run, wait_for


def test():
    require_broker()
    src, out, job = name("disc-in"), name("disc-out"), name("kdisc")
    topic_create(src, 2)
    topic_create(out, 2)
    skipped = make_lines(500, seed=30, first=0)
    produce(src, skipped[:300], partition=0)
    produce(src, skipped[300:], partition=1)

    c = Cluster("kafka-disc")
    c.start_master()
    for i in range(2):
        c.start_worker(f"w{i}", slots=2)
    c.wait_workers(2)
    c.client("submit", "--start", os.path.join(LIB, "kafka_wordcount.so"), "--name", job,
             "--batch-interval", "1s",
             "--conf", f"wordcount.brokers={BOOTSTRAP}",
             "--conf", f"wordcount.topics={src}",
             "--conf", f"wordcount.output={out}",
             "--conf", f"wordcount.group={job}",
             "--conf", "wordcount.start=latest")
    first = wait_for(lambda: monitor(c, job, "300ms"), 60, "the first batch", interval=0.3)[0]
    check(first["ranges"] == {(src, 0): (300, 300), (src, 1): (200, 200)},
          f"the first batch starts at the end of partitions 0 and 1: {first['ranges']}")

    p0 = make_lines(1000, seed=31, first=500)
    produce(src, p0, partition=0)
    topic_add_partitions(src, 4)
    t_added = time.time() * 1000
    p2 = make_lines(1500, seed=32, first=1500)
    p3 = make_lines(700, seed=33, first=3000)
    p1 = make_lines(400, seed=34, first=3700)
    produce(src, p2, partition=2)
    produce(src, p3, partition=3)
    produce(src, p1, partition=1)
    t_produced = time.time() * 1000
    total = len(p0) + len(p1) + len(p2) + len(p3)
    wait_consumed(c, job, total, 120, "every record after the start")
    batches = wait_for(lambda: (lambda bs: bs if sum(b["time"] > t_produced for b in bs) >= 2
                                else None)(monitor(c, job, "300ms")),
                       30, "two batches after the producers finished", interval=0.3)
    for b in batches:
        log(f"batch {b['time']}: " + ", ".join(f"p{k[1]} {f}-{u}"
                                               for k, (f, u) in sorted(b["ranges"].items())))

    after_add = [b for b in batches if b["time"] > t_added]
    check(len(after_add) >= 2, f"{len(after_add)} batches after the partitions were added")
    for p in (2, 3):
        seen = [b for b in batches if (src, p) in b["ranges"]]
        # (it may show up before topic-add-partitions returns: the script
        # waits for the new partitions' leaders after the change)
        check(seen and seen[0]["time"] <= after_add[1]["time"],
              f"partition {p} appears by the second batch after it was added")
        check(seen[0]["ranges"][(src, p)][0] == 0,
              f"partition {p} is read from offset 0: first range {seen[0]['ranges'][(src, p)]}")
    after_prod = [b for b in batches if b["time"] > t_produced][:2]
    check(len(after_prod) == 2, "two batches after the producers finished")
    reached = {p: max(b["ranges"][(src, p)][1] for b in batches
                      if b["time"] <= after_prod[-1]["time"] and (src, p) in b["ranges"])
               for p in (2, 3)}
    check(reached == {2: len(p2), 3: len(p3)},
          f"the new partitions are consumed to their end within two batches: {reached}")
    ends = {(src, 0): 300 + len(p0), (src, 1): 200 + len(p1), (src, 2): len(p2),
            (src, 3): len(p3)}
    problems = check_contiguous(batches, ends, start={(src, 0): 300, (src, 1): 200})
    check(not problems, f"ranges contiguous per partition, start to end {problems[:5]}")
    check(all(b["state"] == "DONE" for b in batches), "every batch DONE")
    mlog = c.master.log_text()
    check(all(f"new Kafka partition {src}-{p}" in mlog for p in (2, 3)),
          "the master logged both new partitions")

    got, problems = count_sums(consume(out))
    check(not problems, f"output well formed {problems[:5]}")
    want = collections.Counter(w for line in p0 + p1 + p2 + p3 for w in line.split())
    diff = counter_diff(got, want)
    check(diff == "", f"per-word sums equal an independent count of the lines after the "
          f"start {diff}")
    tokens = line_tokens(got)
    check(not any(f"L{i}" in tokens for i in range(500)), "the 500 lines before the start "
          "(latest) are not counted")
    jobs = jobs_table(c)
    check(jobs[job]["state"] == "RUNNING" and jobs[job]["failed"] == 0
          and jobs[job]["records"] == total, f"job RUNNING, no failed batch: {jobs[job]}")
    c.client("stop", job)
    c.stop()


if __name__ == "__main__":
    run(test)
