"""Shared partitioning of joins (issue 11): a join of two reduce_by_key
outputs with the same partition count reads their partitions directly
instead of shuffling both sides again; the plan's task count shows it and
the results equal a Python reference.

Two jobs of tests/jobs3/join_job.c with join.mode=shared run side by side
on the same texts (each from its own socket servers), batches of 500 ms:
  rl = reduce_by_key(left, join_concat, 3), rr = the same of right
  sjoin = join(rl, rr, P), sfo = full_outer_join(rl, rr, P or 0)
  (plus left, right, rl, rr saved)
job "shared": P = 3 (0 for sfo: take the sides' count), so both joins
read rl's and rr's shuffles; job "reshuffled": P = 4, so each join hashes
both reduced sides again into 4 partitions.

Tasks of a batch without input records (the map stages over blocks have
no task), from `sluice monitor --json`:
  shared:     rl 3 + rr 3 reduce tasks, sjoin 3, sfo 3            = 12
  reshuffled: rl 3 + rr 3, and per join 4 reduce tasks: 2 x 4      = 14
              (the joins' map stages over rl and rr have no task: rl's
              and rr's reduce tasks read nothing, so the master plans
              none of them as map input, plan.c: parts_drop_empty; the
              saves of rl, rr and the joins still run every partition)
Every batch with records adds the same map and save tasks over blocks to
both. Then, per batch and job: rl / rr equal the reduction of the saved
sides computed here (each key's values sorted, joined by '+'), and
sjoin / sfo equal the join of those (matches and nulls both present).
"""
import collections
import os
import random
import time

from harness import BUILD, Cluster, TextServer, check, jobs_table, run, saved_batches, wait_for
from join_ref import (batch_tasks, check_join_output, check_saved_sides, fed_count, read_lines,
                      reduced)

UNIT_MS = 500
N = 600
EMPTY_BATCH_TASKS = {"shared": 12, "reshuffled": 14}


def make_side(tag, keys, n, seed):
    rnd = random.Random(seed)
    return [f"k{rnd.randrange(*keys)} {tag}{i}" for i in range(n)]


def check_job(out, job, lrecs, rrecs, last):
    left, right = check_saved_sides(out, (lrecs, rrecs))
    times = [t for t in left if t <= last]
    for name, side in (("rl", left), ("rr", right)):
        got = saved_batches(os.path.join(out, name))
        bad = [t for t in times if t not in got or collections.Counter(read_lines(got[t])) !=
               collections.Counter(f"{k}\t{v}" for k, v in reduced(side.get(t, [])))]
        check(not bad, f"{job} {name}: every batch equals the reduction of its side ({bad[:3]})")

    def sides_at(t):
        return reduced(left.get(t, [])), reduced(right.get(t, []))
    check_join_output(out, "sjoin", "join", times, sides_at, False)
    check_join_output(out, "sfo", "fo", times, sides_at, True)


def test():
    lrecs, rrecs = make_side("a", (0, 20), N, 61), make_side("b", (10, 30), N, 62)
    ltext, rtext = "".join(x + "\n" for x in lrecs), "".join(x + "\n" for x in rrecs)
    c = Cluster("sjoins", conf={"sluice.heartbeat.interval": "200ms"})
    c.start_master()
    c.start_worker("w0", slots=4)
    c.start_worker("w1", slots=4)
    c.wait_workers(2)
    outs = {}
    for job in EMPTY_BATCH_TASKS:
        lsrv = TextServer(ltext, chunk=len(ltext) // 40 + 1, pause=0.05)
        rsrv = TextServer(rtext, chunk=len(rtext) // 40 + 1, pause=0.05)
        outs[job] = os.path.join(c.dir, job)
        c.client("submit", "--start", os.path.join(BUILD, "tests", "jobs3", "join_job.so"),
                 "--name", job, "--batch-interval", f"{UNIT_MS}ms",
                 "--conf", "join.mode=shared", "--conf", "join.partitions=3",
                 "--conf", f"join.reshuffle={int(job == 'reshuffled')}",
                 "--conf", f"left.port={lsrv.port}", "--conf", f"right.port={rsrv.port}",
                 "--conf", f"output.path={outs[job]}")
    for job, out in outs.items():
        wait_for(lambda: fed_count(out, "left") >= N and fed_count(out, "right") >= N, 90,
                 f"{job}: every record saved by its side")
    lasts = {job: max(saved_batches(os.path.join(out, "left"))) for job, out in outs.items()}
    # two more batches, without records: their task counts are the plan's
    for job, out in outs.items():
        wait_for(lambda: all(max(saved_batches(os.path.join(out, n)), default=0) >=
                             lasts[job] + 2 * UNIT_MS for n in ("sjoin", "sfo", "rl", "rr")),
                 60, f"{job}: two batches after the last records")
    tasks = {job: batch_tasks(c, job) for job in outs}
    for job in outs:
        c.client("stop", job)
    time.sleep(0.5)

    for job, per in tasks.items():
        empty = {t: n for t, (recs, n, _) in per.items() if recs == 0 and t > lasts[job]}
        check(len(empty) >= 2 and set(empty.values()) == {EMPTY_BATCH_TASKS[job]},
              f"{job}: each batch without records runs {EMPTY_BATCH_TASKS[job]} tasks {empty}")
        check(not any(f for _, _, f in per.values()), f"{job}: no task failed")
        check(sum(1 for recs, _, _ in per.values() if recs) >= 3,
              f"{job}: the records span 3+ batches")
        check_job(outs[job], job, lrecs, rrecs, lasts[job])
    jobs = jobs_table(c)
    check(all(jobs[job]["failed"] == 0 for job in outs), "no batch failed")
    c.stop()


if __name__ == "__main__":
    run(test)
