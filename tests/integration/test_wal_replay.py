"""Receiver WAL replay (issue 8, "worker recovery"): with the write-ahead log
on and a NON-replicated storage level (MEMORY_AND_DISK_SER, one copy in the
receiver's worker), the blocks a receiver stored survive the loss of that
worker's process or of the master, and their WAL segments go once their
batches are done.

slow_wordcount (a socket word count whose splitter sleeps per line) runs on
two one-slot workers with spark.streaming.concurrentJobs=1, so batches queue
up behind the one being processed. Three runs, each on a fresh cluster:

  fast    the receiver's worker is killed with SIGKILL and restarted 0.3 s
          later (same work directory): a new process, which replays its WAL
          before it registers; the master re-adds it as the blocks' holder;
  slow    the same, restarted after 6 s: the master has marked it LOST by
          then and restarted the receiver on the other worker; the batches
          whose blocks only that WAL has wait for it (never skipped);
  master  the master is killed with SIGKILL and restarted 0.3 s later; it
          resumes the job from its checkpoint (the blocks, allocated or not,
          with their holders) while the receiver keeps running.

In each run the kill comes after every line of phase 1 is in a block
allocated to a batch, while at least two such batches have not started; a
second phase of lines is fed after the failure. Every line of both phases
is counted exactly once (socket sources cannot replay: lines read but not
yet stored at a kill would be lost, so the test kills only once phase 1 is
stored; it claims nothing for data in flight), no batch fails, and once
every batch is done no WAL segment (*.blk) is left on any worker.
"""
import collections
import glob
import os
import re
import socket
import sqlite3
import sys
import threading
import time

from harness import BUILD, Cluster, check, fail, log, run, wait_for
from receiver_common import LineServer, batches, published, receiver_placements, saved_counts

HB = "200ms"
JOB = "walreplay"
PHASE1_LINES = 200
PHASE1_SECONDS = 3.2
PHASE2_LINES = 30
LINE_MS = 60




def wal_segments(c):
    return glob.glob(os.path.join(c.dir, "w*", "wal", "*", "*.blk"))


def scenario(mode):
    log(f"===== run '{mode}' =====")
    lib = os.path.join(BUILD, "tests", "jobs2", "slow_wordcount.so")
    c = Cluster(f"wal-{mode}", conf={"sluice.heartbeat.interval": HB})
    c.start_master()
    for i in range(2):
        c.start_worker(f"w{i}", slots=1)
    c.wait_workers(2)
    names = {wait_for(lambda n=n: c.worker_id(n), 5, f"{n} id"): n for n in c.workers}
    src = LineServer()
    out = os.path.join(c.dir, "out", "counts")
    c.client("submit", "--start", lib, "--name", JOB, "--batch-interval", "1s",
             "--conf", f"source.port={src.port}", "--conf", f"output.path={out}",
             "--conf", f"slow.line_ms={LINE_MS}", "--conf", "reduce.partitions=1",
             "--conf", "spark.streaming.concurrentJobs=1",
             "--conf", "sluice.storage.level=MEMORY_AND_DISK_SER",
             "--conf", "spark.streaming.receiver.writeAheadLog.enable=true")
    first = wait_for(lambda: receiver_placements(c, JOB), 20, "receiver started")[0]
    wait_for(lambda: src.connections() >= 1, 20, "receiver connected to the source")

    phase1 = [f"a{i} x{i % 7} common" for i in range(PHASE1_LINES)]
    src.send_paced(phase1, PHASE1_SECONDS)
    wait_for(lambda: sum(n for _, n in batches(c, JOB).values()) == len(phase1), 20,
             "blocks holding every fed line allocated to batches")
    snap = batches(c, JOB)
    unstarted = sorted(t for t, (s, n) in snap.items() if n > 0 and s == "QUEUED")
    check(len(unstarted) >= 2, f"at least two allocated batches with data have not "
          f"started ({len(unstarted)})")
    check(len(wal_segments(c)) > 0, f"the receiver logged its blocks "
          f"({len(wal_segments(c))} WAL segments)")

    if mode == "master":
        c.master.kill()
        c.master.p.wait(5)
        time.sleep(0.3)
        c.start_master()
        wait_for(lambda: "job walreplay (id 1) resumed from its checkpoint" in
                 c.master.log_text(), 10, "the job resumed")
    else:
        victim = names[first]
        c.workers[victim].kill()
        c.workers[victim].p.wait(5)
        time.sleep(0.3 if mode == "fast" else 6.0)
        c.start_worker(victim, slots=1)
        wait_for(lambda: re.search(r"WAL: replayed \d+ receiver blocks",
                                   c.workers[victim].log_text()), 20,
                 "the restarted worker replayed its WAL")
        wait_for(lambda: "served again by " + first + " from its WAL" in
                 c.master.log_text(), 20, "master re-added the worker as holder")
        wait_for(lambda: src.connections() >= 2, 20, "receiver reconnected")

    phase2 = [f"b{i} y{i % 5} common" for i in range(PHASE2_LINES)]
    src.send_paced(phase2, 0.5)
    want = collections.Counter()
    for line in phase1 + phase2:
        want.update(line.split())
    wait_for(lambda: sum(n for _, n in batches(c, JOB).values()) >= len(phase1) + len(phase2), 30,
             "blocks holding the lines fed after the failure allocated")
    wait_for(lambda: all(s in ("DONE", "FAILED") for s, n in batches(c, JOB).values() if n > 0),
             150, "every batch with data finished", interval=0.5)
    failed = sorted(t for t, (s, _) in batches(c, JOB).items() if s == "FAILED")
    check(not failed, f"no batch FAILED ({failed})")
    got = saved_counts(out)
    diff = {w: (got.get(w, 0), n) for w, n in want.items() if got.get(w, 0) != n}
    extra = sorted(set(got) - set(want))
    check(not diff and not extra, f"{mode}: every stored line counted exactly once "
          f"(diff {list(diff.items())[:10]}, extra {extra[:10]})")
    wait_for(lambda: not wal_segments(c), 20, "every WAL segment deleted once its batch "
             "was done")
    log(f"ok: {mode}: no WAL segment left")
    src.stop()
    c.stop()


def test():
    modes = sys.argv[1:] or ["fast", "slow", "master"]
    for mode in modes:
        scenario(mode)


if __name__ == "__main__":
    run(test)
