"""Run configuration's input rate changes while the job runs (SPEC §8,
docs/operations.md "Run configuration"):

socket_wordcount reads a source sending 1000 lines/s with no rate cap:
its 1 s batches take about 1000 records. `sluice run-config cap set
spark.streaming.receiver.maxRate=200` on the RUNNING job says the key took
effect live, and from the second batch after it on, the receiver takes
200 lines/s within 5% over four batches (the token bucket's burst is a
tenth of a second's worth, once) — without a stop or a restart: the job
stays RUNNING with the same receiver. A key that is not live (CUs) is
reported for the next start, and `run-config` shows the new values.
"""
import json
import os

from bp_common import PacedSource, monitor
from harness import LIB, Cluster, check, jobs_table, log, run, wait_for

FEED = 1000
CAP = 200


def busy(c):
    return [b for b in monitor(c, "cap")[0] if b["records"]]


def test():
    c = Cluster("liverate")
    c.start_master()
    c.start_worker("w1", slots=2)
    c.wait_workers(1)
    src = PacedSource(FEED, 60)
    out = os.path.join(c.dir, "out", "counts")
    c.client("submit", "--start", os.path.join(LIB, "socket_wordcount.so"), "--name", "cap",
             "--batch-interval", "1s", "--conf", f"source.port={src.port}",
             "--conf", f"output.path={out}")
    before = wait_for(lambda: (lambda b: b if len(b) >= 3 else None)(busy(c)), 30,
                      "three batches with records")
    uncapped = before[1]["records"]
    check(uncapped > 3 * CAP, f"uncapped, a batch takes ~{FEED} records ({uncapped})")
    r = c.client("run-config", "cap", "set", f"spark.streaming.receiver.maxRate={CAP}",
                 "sluice.run.cus=1")
    check("spark.streaming.receiver.maxRate: takes effect now (live)" in r.stdout and
          "sluice.run.cus: takes effect at the next start" in r.stdout,
          f"the rate is live, the CUs for the next start: {r.stdout}")
    n0 = len(busy(c))
    after = wait_for(lambda: (lambda b: b if len(b) >= n0 + 6 else None)(busy(c)), 30,
                     "six more batches")
    src.stop()
    window = after[n0 + 2:n0 + 6]
    got = sum(b["records"] for b in window) / len(window)
    log(f"records per batch: {[b['records'] for b in after]}; capped mean {got:.1f}")
    check(abs(got - CAP) <= 0.05 * CAP, f"the new cap holds: {got:.1f} records/s vs {CAP}")
    check(jobs_table(c)["cap"]["state"] == "RUNNING", "no stop, no restart")
    rc = json.loads(c.client("run-config", "--json", "cap").stdout)
    check(rc["input_rate"]["receiver_max_rate"] == CAP and
          rc["conf"]["sluice.run.cus"] == "1", f"run-config shows the new values: {rc}")
    c.stop()


if __name__ == "__main__":
    run(test)
