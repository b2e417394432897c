"""Joins of windowed streams (issue 11): join and cogroup of two windowed
socket streams, and a full outer join of a windowed stream with a plain
one, against a Python reference.

tests/jobs3/join_job.c with join.mode=window, batches of 500 ms, windows of
1500 ms (3 batches) sliding by 1000 ms (2 batches):
  wjoin = join(window(left), window(right))
  wfo   = full_outer_join(window(left), right)
  wcg   = cogroup(window(left), window(right))
  swfo  = full_outer_join(rl, rr) of rl / rr = reduce_by_key_and_window of
          left / right (values sorted, joined by '+'), 3 partitions each:
          partitioned alike, so the join reads their final shuffles
and each side saved per batch (the batch of every record). The windows are
planned over the retained batches (master/plan.c): each join side reads the
records of every batch of its window.

Checks: the saved sides hold every fed record once; an output exists at
every batch time that is a multiple of the slide and at no other; at each,
the output equals the join (computed here) of the left records of the
window's batches (T - 1000, T - 500, T) with the right ones of the same
batches (wjoin, wcg) or of batch T alone (wfo), for swfo the join of the
reductions of the window's records; matches and nulls both show; a window
without records runs the tasks counted at EMPTY_WINDOW_TASKS (swfo shares
the partitioning); no batch or task failed.
"""
import os
import random
import time

from harness import TextServer, check, jobs_table, log, run, saved_batches, wait_for
from join_ref import (batch_tasks, check_join_output, check_saved_sides, fed_count, join_cluster,
                      reduced)

UNIT_MS, LENGTH_MS, SLIDE_MS = 500, 1500, 1000
N = 900
# A slide batch whose window holds no records: no task over blocks; wjoin 2,
# wfo 3 and wcg 6 (0 partitions: the 6 slots) reduce tasks; rl and rr each a
# final map stage over their 3 batches' 3 partitions (9 tasks); swfo 3 reduce
# tasks reading both. Reshuffling rl, rr would add 3 + 3 map tasks (38).
EMPTY_WINDOW_TASKS = 2 + 3 + 6 + 9 + 9 + 3
OUTS = {"wjoin": "join", "wfo": "fo", "wcg": "cg", "swfo": "fo"}


def make_side(tag, keys, n, seed):
    rnd = random.Random(seed)
    return [f"k{rnd.randrange(*keys)} {tag}{i}" for i in range(n)]


def window(side, t):
    return [r for u in range(t - LENGTH_MS + UNIT_MS, t + 1, UNIT_MS) for r in side.get(u, [])]


def test():
    lrecs, rrecs = make_side("a", (0, 20), N, 51), make_side("b", (10, 30), N, 52)
    ltext, rtext = "".join(x + "\n" for x in lrecs), "".join(x + "\n" for x in rrecs)
    lsrv = TextServer(ltext, chunk=len(ltext) // 60 + 1, pause=0.05)
    rsrv = TextServer(rtext, chunk=len(rtext) // 60 + 1, pause=0.05)
    c, out = join_cluster("wjoins", "wjoins", UNIT_MS, "join.mode=window",
                          f"window.ms={LENGTH_MS}", f"slide.ms={SLIDE_MS}",
                          f"left.port={lsrv.port}", f"right.port={rsrv.port}")
    wait_for(lambda: fed_count(out, "left") >= N and fed_count(out, "right") >= N, 90,
             "every record saved by its side")
    # past the windows that hold the last records: a window without records
    final = max(saved_batches(os.path.join(out, "left")))
    last = final + LENGTH_MS + SLIDE_MS - (final + LENGTH_MS) % SLIDE_MS
    wait_for(lambda: all(max(saved_batches(os.path.join(out, n)), default=0) >= last
                         for n in list(OUTS) + ["left", "right"]),
             60, "the windows over the last records")
    tasks = batch_tasks(c, "wjoins")
    c.client("stop", "wjoins")
    time.sleep(0.5)

    left, right = check_saved_sides(out, (lrecs, rrecs))
    check(sum(1 for t in left if left[t]) >= 4, "the records span 4+ batches")
    first = min(t for t in left if left[t] or right.get(t))
    times = [t for t in left if first <= t <= last and t % SLIDE_MS == 0]
    spans = sum(1 for t in times if len({u for u in left if left[u] and t - LENGTH_MS < u <= t}) > 1)
    check(spans >= 2, f"2+ windows hold records of several batches ({spans})")
    for name, kind in OUTS.items():
        got = saved_batches(os.path.join(out, name))
        off = [t for t in got if t % SLIDE_MS != 0]
        check(not off, f"{name}: no output between slides ({off[:3]})")
        if name == "swfo":
            def sides_at(t):
                return reduced(window(left, t)), reduced(window(right, t))
        elif name == "wfo":
            def sides_at(t):
                return window(left, t), right.get(t, [])
        else:
            def sides_at(t):
                return window(left, t), window(right, t)
        check_join_output(out, name, kind, times, sides_at, kind != "join")
    empty = {t: n for t, (_, n, _) in tasks.items() if t % SLIDE_MS == 0 and t > final + LENGTH_MS}
    log(f"tasks of the slide batches after the records: {empty}")
    check(empty and set(empty.values()) == {EMPTY_WINDOW_TASKS},
          f"a window without records runs {EMPTY_WINDOW_TASKS} tasks: {empty}")
    check(not any(f for _, _, f in tasks.values()), "no task failed")
    check(jobs_table(c)["wjoins"]["failed"] == 0, "no batch failed")
    c.stop()


if __name__ == "__main__":
    run(test)
