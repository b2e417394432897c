"""A worker killed and restarted at once (as a supervisor would) is a lost
worker for everything it ran, even though it is back before
sluice.worker.timeout (issue 8, "worker identity").

generator_wordcount (deterministic generator input, so every batch's exact
word total is known: 8 words per generated line) runs on two workers with a
long worker timeout (20 s), so the master cannot notice the deaths by missed
heartbeats. Five times in a row, while the master has tasks running on it,
worker w0 is killed with SIGKILL and restarted within 0.5 s (same work
directory, so the same worker id, a new process).

- the master logs each comeback as a new process and re-queues the tasks the
  dead process was running;
- the job never stalls: after the last restart new batches keep being saved;
- results are exact: every saved batch holds exactly 8 x records-per-batch
  words, each word once per part file, and no batch failed.
"""
import os
import re
import time

from harness import (BUILD, Cluster, check, jobs_table, log, run, saved_batches,
                     saved_totals, wait_for, wait_more_batches)

RATE = 150000          # generated lines per second
INTERVAL_MS = 1000
KILLS = 5


def test():
    c = Cluster("wrestart", conf={"sluice.heartbeat.interval": "200ms",
                                  "sluice.worker.timeout": "20s"})
    c.start_master()
    c.start_worker("w0", slots=2)
    c.start_worker("w1", slots=2)
    c.wait_workers(2)
    w0 = wait_for(lambda: c.worker_id("w0"), 5, "w0 id")
    prefix = os.path.join(c.dir, "out", "gen")
    c.client("submit", os.path.join(BUILD, "lib", "generator_wordcount.so"), "--name", "gen",
             "--batch-interval", f"{INTERVAL_MS}ms", "--conf", f"gen.rate={RATE}",
             "--conf", "gen.partitions=4", "--conf", f"output.path={prefix}",
             "--conf", "print.num=1")
    wait_for(lambda: len(saved_batches(prefix)) >= 2, 60, "two saved batches")

    requeued = 0
    for k in range(KILLS):
        # kill while the master has a batch in flight: batches start at
        # multiples of the interval (wall clock) and take ~200 ms here
        last = max(saved_batches(prefix))
        wait_more_batches(prefix, last, 1, 60)
        now_ms = time.time() * 1000
        next_ms = (now_ms // INTERVAL_MS + 1) * INTERVAL_MS
        time.sleep((next_ms - now_ms + 90) / 1000)
        before = c.master.log_text().count(f"worker {w0} came back as a new process")
        c.workers["w0"].kill()
        c.workers["w0"].p.wait(5)
        time.sleep(0.1 + 0.3 * (k % 2))
        c.start_worker("w0", slots=2)
        wait_for(lambda: c.master.log_text().count(
            f"worker {w0} came back as a new process") > before, 20,
            f"restart {k + 1}: master saw the new process")
        m = re.findall(rf"worker {w0} lost: (\d+) running tasks re-queued",
                       c.master.log_text())
        requeued = sum(int(x) for x in m)
        log(f"restart {k + 1}: {requeued} tasks re-queued so far")
    check(requeued > 0, f"tasks running on the dead processes were re-queued ({requeued})")

    # never stalls: batches keep coming after the last restart
    last = max(saved_batches(prefix))
    wait_more_batches(prefix, last, 3, 60)
    c.client("stop", "gen")
    time.sleep(1.0)

    per_batch = 8 * RATE * INTERVAL_MS // 1000
    _, batches, problems = saved_totals(prefix)
    check(not problems, f"saved output well formed: {problems[:5]}")
    bad = {t: sum(sum(p.values()) for p in parts.values()) for t, parts in batches.items()}
    bad = {t: n for t, n in bad.items() if n != per_batch}
    check(not bad, f"every one of {len(batches)} saved batches holds exactly {per_batch} "
          f"words: {dict(list(bad.items())[:5])}")
    jobs = jobs_table(c)
    check(jobs["gen"]["failed"] == 0, f"no batch failed: {jobs['gen']}")
    times = sorted(batches)
    gaps = [b - a for a, b in zip(times, times[1:]) if b - a != INTERVAL_MS]
    check(not gaps, f"no batch missing between {times[0]} and {times[-1]}: gaps {gaps[:5]}")
    c.stop()


if __name__ == "__main__":
    run(test)
