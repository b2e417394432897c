"""Joins of windowed streams (issue 11): join and cogroup of two windowed
socket streams, and a full outer join of a windowed stream with a plain
one, against a Python reference.

tests/jobs3/join_job.c with join.mode=window, batches of 500 ms, windows of
1500 ms (3 batches) sliding by 1000 ms (2 batches):
  wjoin = join(window(left), window(right))
  wfo   = full_outer_join(window(left), right)
  wcg   = cogroup(window(left), window(right))
and each side saved per batch (the batch of every record). The windows are
planned over the retained batches (master/plan.c): each join side reads the
records of every batch of its window.

Checks: the saved sides hold every fed record once; an output exists at
every batch time that is a multiple of the slide and at no other; at each,
the output equals the join (computed here) of the left records of the
window's batches (T - 1000, T - 500, T) with the right ones of the same
batches (wjoin, wcg) or of batch T alone (wfo); matches and nulls both show;
no batch failed.
"""
import os
import random
import time

from harness import BUILD, Cluster, TextServer, check, jobs_table, run, saved_batches, wait_for
from join_ref import check_join_output, check_saved_sides, fed_count

UNIT_MS, LENGTH_MS, SLIDE_MS = 500, 1500, 1000
N = 900
OUTS = {"wjoin": "join", "wfo": "fo", "wcg": "cg"}


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
    c = Cluster("wjoins", conf={"sluice.heartbeat.interval": "200ms"})
    c.start_master()
    c.start_worker("w0", slots=3)
    c.start_worker("w1", slots=3)
    c.wait_workers(2)
    out = os.path.join(c.dir, "out")
    c.client("submit", "--start", os.path.join(BUILD, "tests", "jobs3", "join_job.so"),
             "--name", "wjoins", "--batch-interval", f"{UNIT_MS}ms",
             "--conf", "join.mode=window", "--conf", f"window.ms={LENGTH_MS}",
             "--conf", f"slide.ms={SLIDE_MS}",
             "--conf", f"left.port={lsrv.port}", "--conf", f"right.port={rsrv.port}",
             "--conf", f"output.path={out}")
    wait_for(lambda: fed_count(out, "left") >= N and fed_count(out, "right") >= N, 90,
             "every record saved by its side")
    # the windows that still hold the last records: up to two slides on
    last = max(saved_batches(os.path.join(out, "left"))) + 2 * SLIDE_MS
    last -= last % SLIDE_MS
    wait_for(lambda: all(max(saved_batches(os.path.join(out, n)), default=0) >= last
                         for n in list(OUTS) + ["left", "right"]),
             60, "the windows over the last records")
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
        other = (lambda t: right.get(t, [])) if name == "wfo" else (lambda t: window(right, t))
        check_join_output(out, name, kind, times, lambda t: (window(left, t), other(t)),
                          kind != "join")
    check(jobs_table(c)["wjoins"]["failed"] == 0, "no batch failed")
    c.stop()


if __name__ == "__main__":
    run(test)
