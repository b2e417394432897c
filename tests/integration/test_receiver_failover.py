"""Replicated receiver blocks survive the loss of the receiver's worker.

slow_wordcount (a socket word count whose splitter sleeps per line) runs on
three one-slot workers with spark.streaming.concurrentJobs=1, so batches
queue up behind the one being processed. Its socket receiver stores every
block with the default level MEMORY_AND_DISK_SER_2: once on its own worker
and once on a replica worker, before reporting it to the master.

- lines are fed over a few seconds, then nothing more; once the master has
  allocated blocks holding every fed line to batches (the batches table of
  its state store), and while at least one of those batches has not started,
  the receiver's worker is killed with SIGKILL;
- every batch then completes (none FAILED) and the saved output counts every
  line fed before the kill exactly once: the blocks of the batches not yet
  computed were read from their replicas;
- the receiver is restarted on another worker (master log), reconnects, and
  lines fed after that are counted exactly once too.

What is and is not guaranteed: a socket source cannot replay, so records the
receiver had read but not yet cut into a block when its worker died would be
lost. The test therefore kills only after every fed line is in an allocated
block, and asserts exactly-once for those lines; it does not claim anything
for data in flight at the moment of the kill.
"""
import collections
import os
import re
import socket
import sqlite3
import threading
import time

from harness import BUILD, Cluster, check, fail, log, run, wait_for
from receiver_common import LineServer, batches, published, receiver_placements, saved_counts

HB = "200ms"
JOB = "failover"
PHASE1_LINES = 240      # fed before the kill, over ~3 s (several batches)
PHASE1_SECONDS = 3.0
PHASE2_LINES = 40       # fed after the receiver restarted
LINE_MS = 100           # slow_wordcount: sleep per line in the splitter




def test():
    lib = os.path.join(BUILD, "tests", "jobs2", "slow_wordcount.so")
    check(os.path.exists(lib), f"test job built: {lib}")
    c = Cluster("rcvfailover", conf={"sluice.heartbeat.interval": HB})
    c.start_master(extra_conf={"sluice.log.level": "debug"})
    for i in range(3):
        c.start_worker(f"w{i}", slots=1)
    c.wait_workers(3)
    names = {wait_for(lambda n=n: c.worker_id(n), 5, f"{n} id"): n for n in c.workers}

    src = LineServer()
    out = os.path.join(c.dir, "out", "counts")
    c.client("submit", "--start", lib, "--name", JOB, "--batch-interval", "1s",
             "--conf", f"source.port={src.port}", "--conf", f"output.path={out}",
             "--conf", f"slow.line_ms={LINE_MS}", "--conf", "reduce.partitions=2",
             "--conf", "spark.streaming.concurrentJobs=1")
    first = wait_for(lambda: receiver_placements(c, JOB), 20, "receiver started")[0]
    check(first in names, f"receiver 0 runs on {first} ({names.get(first)})")
    wait_for(lambda: src.connections() >= 1, 20, "receiver connected to the source")

    # Phase 1: lines spread over several block and batch intervals.
    phase1 = [f"a{i} x{i % 7} common" for i in range(PHASE1_LINES)]
    t0 = time.monotonic()
    src.send_paced(phase1, PHASE1_SECONDS)
    log(f"fed {len(phase1)} lines in {time.monotonic() - t0:.1f}s")
    # Every fed line must be in a block allocated to a batch before the kill.
    wait_for(lambda: sum(n for _, n in batches(c, JOB).values()) == len(phase1), 20,
             "blocks holding every fed line allocated to batches")
    snap = batches(c, JOB)
    done = published(out)
    unstarted = sorted(t for t, (s, n) in snap.items() if n > 0 and s == "QUEUED")
    pending = sorted(t for t, (s, n) in snap.items() if n > 0 and t not in done)
    log(f"at the kill: batches with data {sorted(t for t, (_, n) in snap.items() if n)}, "
        f"not yet saved {pending}, not yet started {unstarted}")
    check(len(unstarted) >= 2,
          f"at least two allocated batches with data have not started ({len(unstarted)})")

    victim = names[first]
    c.workers[victim].kill()
    log(f"killed {victim} ({first}), which ran the receiver")

    # The receiver comes back on another worker and reconnects.
    again = wait_for(lambda: receiver_placements(c, JOB)[1:], 20, "receiver restarted")[0]
    check(again != first and again in names, f"receiver 0 restarted on {again}, not {first}")
    check(re.search(r"receiver 0 lost with " + re.escape(first), c.master.log_text()),
          "master logged the receiver lost with its worker")
    wait_for(lambda: src.connections() >= 2, 20, "restarted receiver connected to the source")
    phase2 = [f"b{i} y{i % 5} common" for i in range(PHASE2_LINES)]
    src.send_paced(phase2, 0.5)
    log(f"fed {len(phase2)} more lines")

    want = collections.Counter()
    for line in phase1 + phase2:
        want.update(line.split())
    wait_for(lambda: sum(n for _, n in batches(c, JOB).values()) == len(phase1) + len(phase2), 20,
             "blocks holding the lines fed after the restart allocated")
    # Every batch with data ends; then the saved output is complete.
    wait_for(lambda: all(s in ("DONE", "FAILED") for s, n in batches(c, JOB).values() if n > 0),
             120, "every batch with data finished", interval=0.5)
    final = batches(c, JOB)
    failed = sorted(t for t, (s, _) in final.items() if s == "FAILED")
    check(not failed, f"no batch FAILED ({failed})")
    got = saved_counts(out)
    lost = [w for w in want if w not in got]
    diff = {w: (got.get(w, 0), n) for w, n in want.items() if got.get(w, 0) != n}
    extra = sorted(set(got) - set(want))
    check(not lost, f"every fed line counted (missing: {lost[:10]})")
    check(not diff and not extra,
          f"each line counted exactly once: {len(want)} words match (diff {list(diff.items())[:10]}, "
          f"extra {extra[:10]})")
    check(got["common"] == len(phase1) + len(phase2),
          f"'common' counted {got['common']} times = {len(phase1)} + {len(phase2)} lines")
    check("had no other copy" not in c.master.log_text(), "no block was lost with the worker")
    src.stop()
    c.stop()


if __name__ == "__main__":
    run(test)
