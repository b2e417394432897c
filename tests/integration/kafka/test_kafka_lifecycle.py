"""Pause / resume and stop / start on Kafka (SPEC §8, docs/operations.md),
with kafka_wordcount's exactly-once sink:

- pause equivalence: two jobs read the same preloaded 2-partition topic
  (16,000 lines, maxRatePerPartition=2000 with 1 s batches: several
  batches); one runs uninterrupted, the other is paused after its first
  non-empty batch for three intervals (no batch generated meanwhile, nothing
  taken from Kafka) and resumed. Both outputs' per-word totals
  (read_committed) are identical, and equal an independent count; the
  paused job's offset ranges are contiguous from 0 to the end.
- stop then start: a third job is stopped in the middle and started again;
  across the two runs every line's token is counted exactly once (no record
  lost or processed twice) and the ranges are contiguous.
"""
import collections
import os
import time

from kharness import (  # first: puts tests/integration on sys.path
    BOOTSTRAP, check_contiguous, consume, consumed, count_sums, make_lines, monitor, name,
    produce, require_broker, topic_create, wait_taken)
from harness import LIB, Cluster, check, counter_diff, jobs_table, line_tokens, log, run

N = 16_000


def submit(c, job, src, out):
    c.client("submit", "--start", os.path.join(LIB, "kafka_wordcount.so"), "--name", job,
             "--batch-interval", "1s",
             "--conf", "spark.streaming.kafka.maxRatePerPartition=2000",
             "--conf", f"wordcount.brokers={BOOTSTRAP}",
             "--conf", f"wordcount.topics={src}",
             "--conf", f"wordcount.output={out}",
             "--conf", f"wordcount.group={job}")


def ranges_ok(batches):
    ends = {}
    for b in batches:
        for key, (_, u) in b["ranges"].items():
            ends[key] = max(ends.get(key, 0), u)
    problems = check_contiguous(batches, ends)
    check(not problems and sum(ends.values()) == N, f"ranges contiguous over {N} records "
          f"{problems}")


def output_counts(out):
    got, problems = count_sums(consume(out, read_committed=True))
    check(not problems, f"{out}: output well formed {problems[:5]}")
    return got


def pause_equivalence(c, src, want):
    plain, paused = name("kplain"), name("kpaused")
    submit(c, plain, src, name("plain-out"))
    submit(c, paused, src, name("paused-out"))
    wait_taken(c, paused, 1, 60)
    c.client("pause", paused, "--reason", "equivalence test")
    time.sleep(1.5)  # a batch generated before the pause finishes
    before = monitor(c, paused, duration="300ms")
    time.sleep(3.5)
    during = monitor(c, paused, duration="300ms")
    check(len(during) == len(before) and consumed(during) == consumed(before) < N,
          f"nothing generated or taken while PAUSED ({len(before)} -> {len(during)} batches, "
          f"{consumed(before)} -> {consumed(during)} records)")
    check(jobs_table(c)[paused]["state"] == "PAUSED", "the job is PAUSED")
    c.client("resume", paused)
    ranges_ok(wait_taken(c, paused, N, 180))
    wait_taken(c, plain, N, 180)
    got_plain, got_paused = output_counts(name("plain-out")), output_counts(name("paused-out"))
    check(got_paused == got_plain, f"paused run = uninterrupted run "
          f"{counter_diff(got_paused, got_plain)}")
    check(counter_diff(got_paused, want) == "", "both equal an independent count")
    for job in (plain, paused):
        c.client("stop", job)


def stop_start(c, src, want):
    job, out = name("kstop"), name("stop-out")
    submit(c, job, src, out)
    wait_taken(c, job, 1, 60)
    c.client("stop", job, "--reason", "mid-run")
    time.sleep(1.5)  # batches generated before the stop finish
    first = consumed(monitor(c, job, duration="300ms"))
    check(0 < first < N, f"stopped in the middle ({first} of {N} taken)")
    check(jobs_table(c)[job]["state"] == "STOPPED", "STOPPED")
    c.client("start", job, "--reason", "continue")
    batches = wait_taken(c, job, N, 180)
    ranges_ok(batches)
    got = output_counts(out)
    tokens = line_tokens(got)
    dup = {k: v for k, v in tokens.items() if v != 1}
    check(len(tokens) == N and not dup, f"every line counted exactly once across the two runs "
          f"({len(tokens)} tokens, {list(dup.items())[:5]})")
    check(counter_diff(got, want) == "", "per-word totals equal an independent count")
    c.client("stop", job)


def test():
    require_broker()
    src = name("life-in")
    topic_create(src, 2)
    for o in ("plain-out", "paused-out", "stop-out"):
        topic_create(name(o), 2)
    lines = make_lines(N, seed=12)
    produce(src, lines)
    want = collections.Counter(w for line in lines for w in line.split())
    c = Cluster("kafka-life")
    c.start_master()
    for i in range(2):
        c.start_worker(f"w{i}", slots=3)
    c.wait_workers(2)
    pause_equivalence(c, src, want)
    log("pause equivalence done")
    stop_start(c, src, want)
    c.stop()


if __name__ == "__main__":
    run(test)
