"""The task timeout (issue 8, "worker identity"): a task RUNNING on a worker
whose heartbeat no longer lists it is re-queued, so no task stays "running"
on a process that lost it.

A wire-level fake worker (tests/tools/fake_worker.c) registers beside one
real worker, accepts every task it is sent, lists it in its next two
heartbeats and then drops it without ever reporting its end. The worker
timeout is long (20 s) and the fake keeps heartbeating, so the master can
only notice through the heartbeat's task list:

- the master logs each such task as "no longer on <fake>; re-queued" and
  never marks the fake LOST;
- the job never stalls: batches keep being saved while the fake loses tasks;
- results are exact: every saved batch of generator_wordcount holds exactly
  8 words x records per batch, and no batch failed or is missing.
"""
import os
import re
import subprocess
import time

from harness import (BIN, BUILD, Cluster, check, jobs_table, log, run, saved_batches,
                     saved_totals, wait_for, wait_more_batches)

RATE = 20000          # generated lines per second
INTERVAL_MS = 1000


def test():
    c = Cluster("tasktimeout", conf={"sluice.heartbeat.interval": "200ms",
                                     "sluice.worker.timeout": "20s"})
    c.start_master()
    c.start_worker("w1", slots=2)
    c.wait_workers(1)
    fake_log = open(os.path.join(c.dir, "fake.log"), "w")
    fake = subprocess.Popen([os.path.join(BIN, "sluice-fake-worker"), c.url, "--slots", "1",
                             "--hold", "2", "--seconds", "120"],
                            stdout=fake_log, stderr=subprocess.STDOUT, env=c.env)
    try:
        run_job(c, fake)
    finally:
        fake.terminate()
        fake.wait(10)
        fake_log.close()
    c.stop()


def fake_text(c):
    with open(os.path.join(c.dir, "fake.log")) as f:
        return f.read()


def run_job(c, fake):
    fid = wait_for(lambda: (re.search(r"registered as (\S+)", fake_text(c)) or [None, None])[1],
                   10, "the fake worker registered")
    c.wait_workers(2)
    prefix = os.path.join(c.dir, "out", "gen")
    c.client("submit", "--start", os.path.join(BUILD, "lib", "generator_wordcount.so"),
             "--name", "gen", "--batch-interval", f"{INTERVAL_MS}ms",
             "--conf", f"gen.rate={RATE}", "--conf", "gen.partitions=4",
             "--conf", f"output.path={prefix}", "--conf", "print.num=1")
    requeue = re.compile(rf"task \d+ of stage \d+ is no longer on {re.escape(fid)} "
                         r"\(its end was never reported\); re-queued")
    wait_for(lambda: len(requeue.findall(c.master.log_text())) >= 3, 60,
             "three tasks the fake dropped re-queued by the master")
    dropped = len(re.findall(r"dropped task \d+", fake_text(c)))
    log(f"fake dropped {dropped} tasks; master re-queued "
        f"{len(requeue.findall(c.master.log_text()))}")
    check(fake.poll() is None, "the fake worker is still running (heartbeating)")
    # never stalls: batches keep coming while the fake loses tasks
    last = max(saved_batches(prefix), default=0)
    wait_more_batches(prefix, last, 3, 60)
    c.client("stop", "gen")
    time.sleep(1.0)
    check(f"worker {fid} lost" not in c.master.log_text(),
          "the fake was never marked LOST: the heartbeat's task list re-queued its tasks")
    per_batch = 8 * RATE * INTERVAL_MS // 1000
    _, batches, problems = saved_totals(prefix)
    check(not problems, f"saved output well formed: {problems[:5]}")
    bad = {t: sum(sum(p.values()) for p in parts.values()) for t, parts in batches.items()}
    bad = {t: n for t, n in bad.items() if n != per_batch}
    check(not bad, f"every one of {len(batches)} saved batches holds exactly {per_batch} "
          f"words: {dict(list(bad.items())[:5])}")
    check(jobs_table(c)["gen"]["failed"] == 0, "no batch failed")
    times = sorted(batches)
    gaps = [b - a for a, b in zip(times, times[1:]) if b - a != INTERVAL_MS]
    check(not gaps, f"no batch missing between {times[0]} and {times[-1]}: gaps {gaps[:5]}")


if __name__ == "__main__":
    run(test)
