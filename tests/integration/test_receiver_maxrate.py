"""spark.streaming.receiver.maxRate caps a receiver (SPEC §6): effective
rate = min(published rate, maxRate).

socket_wordcount (fast: the job keeps up with far more than the cap) runs
with backpressure on, so the estimator publishes rates well above the cap;
the source sends 1000 lines/s and receiver.maxRate=200. Over ten
consecutive 1 s batches after the first two, the receiver took 200 lines/s
within 5% (the token bucket's burst is a tenth of a second's worth, once),
and `sluice monitor` shows the receiver blocked on its rate limiter.
"""
import os

from bp_common import PacedSource, monitor
from harness import LIB, Cluster, check, log, run, wait_for

MAX_RATE = 200
FEED = 1000


def test():
    c = Cluster("maxrate")
    c.start_master()
    c.start_worker("w1", slots=2)
    c.wait_workers(1)
    src = PacedSource(FEED, 60)
    out = os.path.join(c.dir, "out", "counts")
    c.client("submit", "--start", os.path.join(LIB, "socket_wordcount.so"), "--name", "cap",
             "--batch-interval", "1s",
             "--conf", f"source.port={src.port}", "--conf", f"output.path={out}",
             "--conf", "spark.streaming.backpressure.enabled=true",
             "--conf", f"spark.streaming.receiver.maxRate={MAX_RATE}")
    # from the first batch with records on: 2 to settle, then 10 measured
    batches, rate, share, level = wait_for(
        lambda: (lambda r: r if len([b for b in r[0] if b["records"]]) >= 13 else None)(
            monitor(c, "cap")), 60, "13 batches with records")
    src.stop()
    busy = [b for b in batches if b["records"]]
    window = busy[2:12]
    got = sum(b["records"] for b in window) / len(window)
    log(f"records per 1 s batch: {[b['records'] for b in busy]}; mean over 10: {got:.1f}; "
        f"published stream rate {rate}, blocked {share} {level}")
    check(all(b["state"] == "DONE" for b in batches), "every batch DONE")
    check(abs(got - MAX_RATE) <= 0.05 * MAX_RATE,
          f"the receiver took {got:.1f} lines/s over 10 s: within 5% of maxRate {MAX_RATE}")
    check(rate is not None and rate > 1.5 * MAX_RATE,
          f"the estimator publishes more than the cap ({rate}): the cap is what holds")
    check(level == "HIGH", f"the receiver waits on its rate limiter most of the time "
          f"({share} {level})")
    c.client("stop", "cap")
    c.stop()


if __name__ == "__main__":
    run(test)
