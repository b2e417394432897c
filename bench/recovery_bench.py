#!/usr/bin/env python3
"""Driver-recovery benchmark (not part of the tests; docs/performance.md).

1. Restart -> first batch processed: generator_wordcount (2 workers x 2
   slots, 1 s batches, every batch saved) runs; the master is killed with
   SIGKILL RESTARTS times, ~100 ms into a batch, and started again at once.
   (gen.rate --rate, default 1,500,000 lines/s: a batch runs a few hundred
   ms, so the kill falls inside it; a sample where it had already ended is
   not counted. 150,000 was enough while batches started at the master's
   next 50 ms tick.)
   Measured: from starting the new master process to the batch that was
   running at the kill being published (its output directory renamed into
   place),
   which includes process start, workers re-registering, the job resumed
   from the checkpoint, the batches missed while down generated, and the
   unfinished batch re-run.
2. Checkpoint cost: the same job with debug logging for WINDOW seconds; the
   checkpointer logs each commit's duration (one SQLite transaction,
   synchronous=FULL, on its own thread: not under the master's lock).
   Reported: checkpoints per batch and the commit time distribution.

Usage: bench/recovery_bench.py [--build DIR] [--restarts N] [--window S]
"""
import argparse
import os
import re
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--restarts", type=int, default=10)
    ap.add_argument("--window", type=int, default=30)
    ap.add_argument("--rate", type=int, default=1500000,
                    help="gen.rate, lines/s: large enough that a batch still runs 100 ms in")
    a = ap.parse_args()
    os.environ["SLUICE_BUILD"] = os.path.abspath(a.build)
    import harness
    from harness import Cluster, saved_batches, wait_for, wait_more_batches

    lib = os.path.join(harness.BUILD, "lib", "generator_wordcount.so")
    c = Cluster("rbench", conf={"sluice.heartbeat.interval": "200ms"})
    c.start_master(extra_conf={"sluice.log.level": "debug"})
    for i in range(2):
        c.start_worker(f"w{i}", slots=2)
    c.wait_workers(2)
    prefix = os.path.join(c.dir, "out", "gen")
    c.client("submit", "--start", lib, "--name", "gen", "--batch-interval", "1s",
             "--conf", f"gen.rate={a.rate}", "--conf", "print.num=1",
             "--conf", f"output.path={prefix}")
    wait_for(lambda: len(saved_batches(prefix)) >= 2, 60, "first batches")

    # checkpoint cost over a window
    start = len(c.master.log_text())
    t_first = max(saved_batches(prefix))
    time.sleep(a.window)
    text = c.master.log_text()[start:]
    us = [int(x) for x in re.findall(r"checkpoint \d+ of job \d+ written in (\d+) us", text)]
    nbatches = len([t for t in saved_batches(prefix) if t > t_first])
    us.sort()
    print(f"checkpoint cost: {len(us)} checkpoints over {nbatches} batches "
          f"({len(us) / max(nbatches, 1):.1f} per batch); commit time median "
          f"{statistics.median(us) / 1000:.2f} ms, p90 {us[int(len(us) * 0.9)] / 1000:.2f} ms, "
          f"max {us[-1] / 1000:.2f} ms")

    # restart -> first batch processed
    secs = []
    k = 0
    while len(secs) < a.restarts and k < 3 * a.restarts:
        k += 1
        wait_more_batches(prefix, max(saved_batches(prefix)), 1, 60)
        now = time.time() * 1000
        nxt = (now // 1000 + 1) * 1000
        time.sleep((nxt - now + 100) / 1000)
        c.master.kill()
        c.master.p.wait(5)
        killed = nxt
        # decided before the new master starts: a fast restart can re-run and
        # publish the cut batch before start_master() returns
        ended_before = killed in saved_batches(prefix)
        t0 = time.monotonic()
        c.start_master()
        if ended_before:
            print(f"restart {k}: the batch had ended before the kill; not counted")
            continue
        # the batch that was running at the kill, re-run by the new master
        wait_for(lambda: any(t >= killed for t in saved_batches(prefix)), 60, "a batch",
                 interval=0.02)
        secs.append(time.monotonic() - t0)
        print(f"restart {k}: the batch cut short by the kill published "
              f"{secs[-1]:.2f} s after the master was started")
    print(f"restart -> first batch processed: median {statistics.median(secs):.2f} s, "
          f"max {max(secs):.2f} s over {len(secs)} restarts")
    c.stop()


if __name__ == "__main__":
    main()
