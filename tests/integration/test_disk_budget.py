"""Disk budget under overload, and a stopped job's data deleted (issue 10).

Two workers with a small memory budget and sluice.worker.diskBudget=BUDGET
run slow_wordcount (1 ms per 1 KiB line; blocks stored MEMORY_AND_DISK_SER_2:
spilled to disk and replicated) with backpressure OFF, fed for 30 s several times faster
than it processes. Sampled every 0.25 s:

- each worker's blocks and WAL directories never hold more than BUDGET
  (the receiver stops reading instead: its log says so, and the source's
  sends block, TCP backpressure);
- no worker or master exits; every batch is DONE;
- after `sluice stop`, once the batches already received are done, neither
  worker holds a block, shuffle bucket or WAL segment of the job.
"""
import os
import time

from bp_common import ChunkSource, dir_bytes, monitor
from harness import BUILD, Cluster, check, fail, jobs_table, log, run, wait_for

BUDGET = 12 * 2**20
FEED = 12 * 2**20      # bytes/s; the job takes about 1 KiB line / ms / slot
SECONDS = 30


def text_chunk():
    words = [f"word{i:04d}" for i in range(2000)]
    lines = [" ".join(words[(i * 7 + k * 13) % 2000] for k in range(100)) for i in range(500)]
    return ("\n".join(lines) + "\n").encode()


def job_files(c, name, job_id):
    d = os.path.join(c.dir, name)
    mine = (lambda f: f.startswith((f"rcv-{job_id}-", f"shf-{job_id}-")))
    return (dir_bytes(os.path.join(d, "blocks"), mine) +
            dir_bytes(os.path.join(d, "wal", str(job_id))))


def test():
    c = Cluster("diskbudget", conf={"sluice.heartbeat.interval": "200ms"})
    c.start_master()
    for n in ("w1", "w2"):
        c.start_worker(n, slots=2, memory="32m",
                       extra_conf={"sluice.worker.diskBudget": str(BUDGET)})
    c.wait_workers(2)
    src = ChunkSource(FEED, SECONDS, text_chunk())
    out = os.path.join(c.dir, "out", "counts")
    c.client("submit", "--start", os.path.join(BUILD, "tests", "jobs2", "slow_wordcount.so"),
             "--name", "flood", "--batch-interval", "1s",
             "--conf", f"source.port={src.port}", "--conf", f"output.path={out}",
             "--conf", "slow.line_ms=1",
             "--conf", "spark.streaming.backpressure.enabled=false")
    job_id = int(jobs_table(c)["flood"]["id"])
    peak = {n: 0 for n in c.workers}
    t0 = time.monotonic()
    while time.monotonic() - t0 < SECONDS:
        for n in c.workers:
            d = os.path.join(c.dir, n)
            used = dir_bytes(os.path.join(d, "blocks")) + dir_bytes(os.path.join(d, "wal"))
            peak[n] = max(peak[n], used)
        if not all(p.alive() for p in [c.master] + list(c.workers.values())):
            fail("a process exited during the overload")
        time.sleep(0.25)
    log(f"peak bytes under blocks/ and wal/: "
        f"{ {n: f'{v / 2**20:.1f} MiB' for n, v in peak.items()} }; source sent "
        f"{src.sent / 2**20:.0f} MiB in {SECONDS} s")
    check(all(v <= BUDGET for v in peak.values()),
          f"every worker stayed within its disk budget of {BUDGET >> 20} MiB")
    check(max(peak.values()) > BUDGET / 4, "the disk was used (the test overloads it)")
    refused = [n for n in c.workers if "disk budget full: not reading" in
               c.workers[n].log_text()]
    check(refused, "a receiver stopped reading for the disk budget (worker log)")
    check(src.sent < FEED * SECONDS * 0.8,
          f"the source was held back ({src.sent >> 20} of {FEED * SECONDS >> 20} MiB sent)")
    c.client("stop", "flood")
    src.stop()
    # the batches already received run first; then the master tells the
    # workers to drop the job
    wait_for(lambda: all("dropped:" in c.workers[n].log_text() for n in c.workers), 90,
             "both workers to drop the stopped job")
    left = {n: job_files(c, n, job_id) for n in c.workers}
    check(all(v == 0 for v in left.values()),
          f"no block, bucket or WAL segment of the stopped job left on the workers {left}")
    batches = monitor(c, "flood")[0]
    check(batches and all(b["state"] == "DONE" for b in batches),
          f"every batch DONE ({len(batches)})")
    check(all(p.alive() for p in [c.master] + list(c.workers.values())),
          "master and workers still running")
    c.stop()


if __name__ == "__main__":
    run(test)
