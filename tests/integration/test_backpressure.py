"""Backpressure on a socket source fed three times faster than the job can
process it (SPEC §6).

slow_wordcount (its splitter sleeps LINE_MS per line) runs on one worker
with one slot, so it processes about 1000 / LINE_MS lines/s; the source
sends FEED lines/s, about three times that.

- backpressure on (initialRate below the job's capacity, as Spark users set
  it): from the 10th batch on every batch's total delay is below the
  interval (the receiver is fed sluice.backpressure.targetUtilization =
  UTILIZATION of the estimated processing rate, so processing takes about
  that share of the interval: docs/backpressure.md); the worker's RSS stays flat; the estimator's rate
  (`sluice monitor`'s estimate) converges within 20% of the measured
  processing rate (records / processing time of the recent batches), the
  rate used is targetUtilization x that; the receiver reports
  being blocked on its rate limiter: HIGH in the job's line and the
  receiver's row of `sluice monitor`, in the worker's /metrics (blocked
  ratio > 0.5) and the master's (level HIGH), both pages passing promtool;
- backpressure off: the receiver takes all it is sent (level OK in all
  three places) and the total delay grows batch after batch;
- a submit with an invalid targetUtilization, gain or minRate is refused,
  naming the key.
"""
import os
import time

from bp_common import PacedSource, monitor, promtool_check, rss_mib, samples, scrape
from harness import BUILD, Cluster, check, free_port, http_base, log, run, wait_for

# The job sleeps LINE_MS per line: on a loaded machine each sleep overshoots
# by the scheduler's wakeup latency, so few, long sleeps per batch keep its
# processing time steady (with 4 ms, a batch of ~200 lines on a machine at
# load 5-7 on 2 cores now and then took 20-25% longer than the one before).
# minRate is lowered below the job's rate accordingly.
LINE_MS = 20
FEED = 150          # lines/s: about 3x the job's 1000 / LINE_MS
MIN_RATE = 10
INTERVAL_MS = 1000
ON_BATCHES = 24
OFF_BATCHES = 12
# sluice.backpressure.targetUtilization (default 0.85): this machine runs
# several test suites at once (load average 5-13 on 2 cores), and there the
# same ~40-line batch took 760-1050 ms and the scheduling delay varied
# 12-138 ms from one batch to the next; 0.7 leaves the headroom for that
# (docs/backpressure.md). The assertion is the issue's, unchanged.
UTILIZATION = 0.7


def start(name, backpressure):
    lib = os.path.join(BUILD, "tests", "jobs2", "slow_wordcount.so")
    check(os.path.exists(lib), f"test job built: {lib}")
    c = Cluster(name)
    c.start_master()
    c.wport = free_port()
    w = c.start_worker("w1", slots=1, memory="256m",
                       extra_conf={"sluice.worker.http.port": str(c.wport)})
    c.wait_workers(1)
    src = PacedSource(FEED, 120)
    out = os.path.join(c.dir, "out", "counts")
    c.client("submit", "--start", lib, "--name", "bp", "--batch-interval", f"{INTERVAL_MS}ms",
             "--conf", f"source.port={src.port}", "--conf", f"output.path={out}",
             "--conf", f"slow.line_ms={LINE_MS}", "--conf", "reduce.partitions=1",
             "--conf", "spark.streaming.concurrentJobs=1",
             "--conf", f"spark.streaming.backpressure.enabled={backpressure}",
             "--conf", f"spark.streaming.backpressure.pid.minRate={MIN_RATE}",
             "--conf", f"sluice.backpressure.targetUtilization={UTILIZATION}",
             "--conf", "spark.streaming.backpressure.initialRate=20")
    return c, w, src


def wait_batches(c, n, timeout):
    return wait_for(lambda: (lambda r: r if len(r[0]) >= n else None)(monitor(c, "bp")),
                    timeout, f"{n} finished batches")


def show(batches):
    for b in batches:
        log(f"  batch {b['time']}: {b['records']} records, sched {b['sched']} ms, "
            f"proc {b['proc']} ms, total {b['total']} ms")


def blocked_shown(c, proc_rate, level):
    """The receiver's row in `sluice monitor`, the worker's and the master's
    /metrics agree on the blocked level (and, with backpressure, on the rate:
    the limit is targetUtilization x the estimate, the estimate within 20% of
    the measured processing rate). Both pages pass promtool."""
    d = {}
    _, rate, _, _ = monitor(c, "bp", d)
    rows = d.get("receivers", {})
    log(f"monitor: rate {rate}, estimate {d.get('estimate')}, receivers {rows}")
    check(len(rows) == 1 and rows[0]["level"] == level,
          f"the receiver's row in sluice monitor shows {level}: {rows}")
    wtext = scrape(f"http://127.0.0.1:{c.wport}/metrics")
    mtext = scrape(http_base(c) + "/metrics")
    promtool_check(wtext, "the worker's /metrics")
    promtool_check(mtext, "the master's /metrics")
    ratio = samples(wtext, "sluice_worker_receiver_blocked_ratio")
    blocked_s = samples(wtext, "sluice_worker_receiver_blocked_seconds_total")
    log(f"worker /metrics: blocked ratio {ratio}, blocked seconds {blocked_s}")
    check(len(ratio) == 1 and (list(ratio.values())[0] > 0.5) == (level == "HIGH") and
          (list(ratio.values())[0] <= 0.10) == (level == "OK"),
          f"the worker's /metrics shows the receiver's blocked ratio at {level}: {ratio}")
    lv = samples(mtext, "sluice_job_backpressure_level")
    check(lv.get(f'{{job="bp",level="{level}"}}') == 1 and sum(lv.values()) == 1,
          f"the master's /metrics shows the job's level {level}: {lv}")
    limit = samples(mtext, "sluice_job_rate_limit_records_per_second")
    if proc_rate is None:
        check(limit == {}, f"no rate limit in the master's /metrics: {limit}")
        return
    est = d.get("estimate")
    check(est is not None and abs(est - proc_rate) <= 0.2 * proc_rate,
          f"the estimator's published rate {est} is within 20% of the processing rate "
          f"{proc_rate:.0f}")
    check(abs(rate - UTILIZATION * est) <= 2,
          f"the rate limit {rate} is {UTILIZATION} x the estimate {est}")
    check(rows[0]["rate"] > 0 and abs(rows[0]["rate"] - rate) <= 0.1 * rate,
          f"the receiver runs at the job's rate ({rows[0]['rate']} vs {rate})")
    check(len(limit) == 1 and abs(limit['{job="bp"}'] - rate) <= 0.1 * rate,
          f"the master's /metrics shows the rate limit {limit} (monitor: {rate})")


def bad_values_refused(c):
    """Invalid rate-control values are refused at submit, naming the key."""
    lib = os.path.join(BUILD, "tests", "jobs2", "slow_wordcount.so")
    for key, value in (("sluice.backpressure.targetUtilization", "0"),
                       ("sluice.backpressure.targetUtilization", "1.5"),
                       ("spark.streaming.backpressure.pid.integral", "-0.2"),
                       ("spark.streaming.backpressure.pid.minRate", "0")):
        r = c.client("submit", lib, "--name", "bad", "--conf", "source.port=1",
                     "--conf", "output.path=/nonexistent", "--conf", f"{key}={value}",
                     check=False)
        check(r.returncode != 0 and key in r.stderr + r.stdout,
              f"submit with {key}={value} refused naming the key: "
              f"{(r.stderr + r.stdout).strip()[:200]}")


def with_backpressure():
    c, w, src = start("bp-on", "true")
    bad_values_refused(c)
    wait_batches(c, 10, 60)
    rss_mid = rss_mib(w.p.pid)
    batches, rate, share, level = wait_batches(c, ON_BATCHES, 90)
    rss_end = rss_mib(w.p.pid)
    show(batches)
    src.stop()
    later = batches[9:ON_BATCHES]
    check(all(b["state"] == "DONE" for b in batches), "every batch DONE")
    # The estimator settles where its rate equals the processing rate; the
    # receiver is fed targetUtilization (UTILIZATION) of it, so a batch takes
    # about that share of the interval and the total delay settles below it
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
    check(level == "HIGH", f"the job is shown blocked on its rate limiter ({share} {level})")
    blocked_shown(c, proc_rate, "HIGH")
    check(rss_end <= rss_mid * 1.15 + 8, f"worker RSS flat: {rss_mid:.1f} -> {rss_end:.1f} MiB")
    c.client("stop", "bp")
    c.stop()


def without_backpressure():
    c, w, src = start("bp-off", "false")
    batches, rate, share, level = wait_batches(c, OFF_BATCHES, 120)
    show(batches)
    src.stop()
    check(rate is None, f"no rate limit without backpressure (shown: {rate})")
    check(level == "OK", f"the receiver takes all it is sent: not blocked ({share} {level})")
    blocked_shown(c, None, "OK")
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
