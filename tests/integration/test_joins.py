"""Joins of two socket streams in the same batch (issue 11): join,
left_outer_join, right_outer_join, full_outer_join and cogroup against a
Python reference, including the outer joins' nulls.

tests/jobs3/join_job.c reads "KEY VALUE" lines from two sockets, saves each
side per batch (OUT/left-T, OUT/right-T: the batch of every record) and each
join (OUT/join, lo, ro, fo, cg). Left keys are k0..k19, right keys k10..k29,
so each batch has matching keys and keys on one side only. The test feeds
both sides for ~10 batches on two workers, then checks:

- the saved sides hold every fed record once;
- at each batch time, each join's lines equal the join of that batch's
  saved sides computed here (a multiset of "KEY<TAB>[a,b]" lines, "null" for
  an outer join's missing side); cogroup's lines are one per key of either
  side with both value lists (compared as sorted lists);
- the outputs hold both matches and nulls (the check can tell them apart);
- no batch failed.
"""
import os
import random
import time

from harness import TextServer, check, jobs_table, run, saved_batches, wait_for
from join_ref import check_join_output, check_saved_sides, fed_count, join_cluster

UNIT_MS = 500
JOINS = ("join", "lo", "ro", "fo", "cg")


def make_side(name, keys, n, seed):
    rnd = random.Random(seed)
    return "".join(f"k{rnd.randrange(*keys)} {name}{i}\n" for i in range(n))


def test():
    ltext = make_side("a", (0, 20), 1500, 31)
    rtext = make_side("b", (10, 30), 1500, 32)
    lsrv = TextServer(ltext, chunk=len(ltext) // 100 + 1, pause=0.05)
    rsrv = TextServer(rtext, chunk=len(rtext) // 100 + 1, pause=0.05)
    c, out = join_cluster("joins", "joins", UNIT_MS, f"left.port={lsrv.port}",
                          f"right.port={rsrv.port}")
    wait_for(lambda: lsrv.done.is_set() and rsrv.done.is_set(), 60, "both texts sent")

    wait_for(lambda: fed_count(out, "left") >= 1500 and fed_count(out, "right") >= 1500, 60,
             "every record saved by its side")
    last = max(saved_batches(os.path.join(out, "left")))
    wait_for(lambda: all(max(saved_batches(os.path.join(out, n)), default=0) >= last
                         for n in JOINS), 60, "the joins of the last batch")
    c.client("stop", "joins")
    time.sleep(0.5)

    left, right = check_saved_sides(out, (ltext.splitlines(), rtext.splitlines()))
    check(sum(1 for t in left if left[t] and right.get(t)) >= 5,
          "both sides have records in 5+ common batches")
    times = [t for t in left if t <= last]
    for kind in JOINS:
        check_join_output(out, kind, kind, times,
                          lambda t: (left.get(t, []), right.get(t, [])), kind != "join")
    check(jobs_table(c)["joins"]["failed"] == 0, "no batch failed")
    c.stop()


if __name__ == "__main__":
    run(test)
