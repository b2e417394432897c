"""Joins of two Kafka topics (direct streams, issue 11): join,
left_outer_join, right_outer_join, full_outer_join and cogroup against a
Python reference, including the outer joins' nulls.

Two 2-partition topics get "KEY VALUE" records: left keys k0..k19, right
keys k10..k29 (overlapping k10..k19, disjoint elsewhere). Half of each is
produced before the job starts, half while it runs; maxRatePerPartition
spreads the records over several batches. tests/jobs3/join_job.c (kafka
sources, join.mode=plain) saves each side per batch and each join per batch.

The check is per batch: a join of two streams joins the records of the same
batch, and which batch a Kafka record lands in depends on the rate clamp
and on when it was produced, so the reference of batch T is the join of
the sides' records that the job saved for T (each side checked to hold
every produced record exactly once). Comparing against one join over the
whole input would be wrong whenever a key's records span batches, which the
clamp makes certain here.
"""
import os
import random
import time

from kharness import BOOTSTRAP, name, produce, require_broker, topic_create  # first
from harness import check, jobs_table, run, saved_batches, wait_for
from join_ref import check_join_output, check_saved_sides, fed_count, join_cluster

UNIT_MS = 500
N = 800  # records per side
JOINS = ("join", "lo", "ro", "fo", "cg")


def make_side(tag, keys, n, seed):
    rnd = random.Random(seed)
    return [f"k{rnd.randrange(*keys)} {tag}{i}" for i in range(n)]


def test():
    require_broker()
    ltopic, rtopic, job = name("join-l"), name("join-r"), name("kjoin")
    lrecs, rrecs = make_side("a", (0, 20), N, 41), make_side("b", (10, 30), N, 42)
    topic_create(ltopic, 2)
    topic_create(rtopic, 2)
    produce(ltopic, lrecs[:N // 2])
    produce(rtopic, rrecs[:N // 2])

    c, out = join_cluster("kafka-joins", job, UNIT_MS, f"source.brokers={BOOTSTRAP}",
                          f"source.group={job}", f"left.topic={ltopic}",
                          f"right.topic={rtopic}",
                          "spark.streaming.kafka.maxRatePerPartition=200")
    wait_for(lambda: fed_count(out, "left") > 0, 60, "the first batch with records")
    produce(ltopic, lrecs[N // 2:])
    produce(rtopic, rrecs[N // 2:])
    wait_for(lambda: fed_count(out, "left") >= N and fed_count(out, "right") >= N, 90,
             "every record saved by its side")
    last = max(saved_batches(os.path.join(out, "left")))
    wait_for(lambda: all(max(saved_batches(os.path.join(out, n)), default=0) >= last
                         for n in JOINS + ("right",)), 60, "the joins of the last batch")
    c.client("stop", job)
    time.sleep(0.5)

    left, right = check_saved_sides(out, (lrecs, rrecs))
    both = sum(1 for t in left if left[t] and right.get(t))
    check(both >= 3, f"both sides have records in 3+ common batches ({both})")
    check(sum(1 for t in left if left[t]) >= 4, "the left side spans 4+ batches")
    times = [t for t in left if t <= last]
    for kind in JOINS:
        check_join_output(out, kind, kind, times,
                          lambda t: (left.get(t, []), right.get(t, [])), kind != "join")
    check(jobs_table(c)[job]["failed"] == 0, "no batch failed")
    c.stop()


if __name__ == "__main__":
    run(test)
