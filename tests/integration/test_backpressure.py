"""Backpressure on a socket source fed three times faster than the job can
process it (SPEC §6).

slow_wordcount (its splitter sleeps LINE_MS per line) runs on one worker
with one slot, so it processes about 1000 / LINE_MS lines/s; the source
sends FEED lines/s, about three times that.

- backpressure on (initialRate below the job's capacity, as Spark users set
  it): from the 10th batch on every batch's total delay is below the
  interval (the receiver is fed sluice.backpressure.targetUtilization = 0.9
  of the estimated processing rate, so processing takes about 0.9 interval:
  docs/backpressure.md); the worker's RSS stays flat; the rate `sluice
  monitor` shows converges within 20% of the measured processing rate
  (records / processing time of the recent batches); the receiver reports
  being blocked on its rate limiter (level LOW or HIGH);
- backpressure off: the receiver takes all it is sent and the total delay
  grows batch after batch.
"""
import os
import time

from bp_common import PacedSource, monitor, rss_mib
from harness import BUILD, Cluster, check, log, run, wait_for

LINE_MS = 4
FEED = 750          # lines/s: about 3x the job's 1000 / LINE_MS
INTERVAL_MS = 1000
ON_BATCHES = 24
OFF_BATCHES = 12


def start(name, backpressure):
    lib = os.path.join(BUILD, "tests", "jobs2", "slow_wordcount.so")
    check(os.path.exists(lib), f"test job built: {lib}")
    c = Cluster(name)
    c.start_master()
    w = c.start_worker("w1", slots=1, memory="256m")
    c.wait_workers(1)
    src = PacedSource(FEED, 120)
    out = os.path.join(c.dir, "out", "counts")
    c.client("submit", "--start", lib, "--name", "bp", "--batch-interval", f"{INTERVAL_MS}ms",
             "--conf", f"source.port={src.port}", "--conf", f"output.path={out}",
             "--conf", f"slow.line_ms={LINE_MS}", "--conf", "reduce.partitions=1",
             "--conf", "spark.streaming.concurrentJobs=1",
             "--conf", f"spark.streaming.backpressure.enabled={backpressure}",
             "--conf", "spark.streaming.backpressure.initialRate=100")
    return c, w, src


def wait_batches(c, n, timeout):
    return wait_for(lambda: (lambda r: r if len(r[0]) >= n else None)(monitor(c, "bp")),
                    timeout, f"{n} finished batches")


def show(batches):
    for b in batches:
        log(f"  batch {b['time']}: {b['records']} records, sched {b['sched']} ms, "
            f"proc {b['proc']} ms, total {b['total']} ms")


def with_backpressure():
    c, w, src = start("bp-on", "true")
    wait_batches(c, 10, 60)
    rss_mid = rss_mib(w.p.pid)
    batches, rate, share, level = wait_batches(c, ON_BATCHES, 90)
    rss_end = rss_mib(w.p.pid)
    show(batches)
    src.stop()
    later = batches[9:ON_BATCHES]
    check(all(b["state"] == "DONE" for b in batches), "every batch DONE")
    # The estimator settles where its rate equals the processing rate; the
    # receiver is fed targetUtilization (0.9) of it, so a batch takes about
    # 0.9 interval to process and the total delay settles below the interval
    # (docs/backpressure.md).
    check(all(b["total"] < INTERVAL_MS for b in later),
          f"from batch 10 on every total delay < the interval ({INTERVAL_MS} ms): "
          f"{[b['total'] for b in later]}")
    recent = batches[ON_BATCHES - 8:ON_BATCHES]
    proc_rate = sum(b["records"] for b in recent) * 1000.0 / sum(b["proc"] for b in recent)
    log(f"backpressure on: published rate {rate}, measured processing rate "
        f"{proc_rate:.0f} records/s, blocked {share} {level}, RSS {rss_mid:.1f} -> "
        f"{rss_end:.1f} MiB")
    check(FEED >= 2.5 * proc_rate, f"the source ({FEED}/s) outpaces the job "
          f"({proc_rate:.0f}/s) about threefold")
    check(rate is not None and abs(rate - proc_rate) <= 0.2 * proc_rate,
          f"published rate {rate} within 20% of the processing rate {proc_rate:.0f}")
    check(level in ("LOW", "HIGH") and share > 0.10,
          f"the receiver is shown blocked on its rate limiter ({share} {level})")
    check(rss_end <= rss_mid * 1.15 + 8, f"worker RSS flat: {rss_mid:.1f} -> {rss_end:.1f} MiB")
    c.client("stop", "bp")
    c.stop()


def without_backpressure():
    c, w, src = start("bp-off", "false")
    batches, rate, share, level = wait_batches(c, OFF_BATCHES, 120)
    show(batches)
    src.stop()
    check(rate is None, f"no rate limit without backpressure (shown: {rate})")
    totals = [b["total"] for b in batches[:OFF_BATCHES]]
    check(totals[-1] > 3 * INTERVAL_MS and totals[-1] > totals[4] + INTERVAL_MS,
          f"without backpressure the total delay grows: {totals}")
    check(all(totals[i + 1] >= totals[i] for i in range(4, len(totals) - 1)),
          f"... batch after batch: {totals}")
    c.client("stop", "bp")
    c.stop()


def test():
    t0 = time.monotonic()
    with_backpressure()
    without_backpressure()
    log(f"both runs in {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    run(test)
