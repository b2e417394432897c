"""Kafka direct stream with backpressure (SPEC §5, §6): initialRate bounds
the first batches (SPARK-18580), the estimator's rate bounds the later ones,
and each batch's budget is shared between partitions by lag.

A 3-partition topic holds a backlog of 1,000,000 records with unequal lag
(600,000 / 300,000 / 100,000), then kafka_wordcount runs with a 1 s batch
interval, backpressure on and initialRate=10000. From `sluice monitor` (the
"offsets topic-P:from-until" lines) and the master log ("rate R records/s
after batch T", one line per published rate):

- the first batch takes at most 10,000 x 1 s records, exactly 6000 / 3000 /
  1000 from the three partitions (R x lag_p / sum of lags);
- every batch planned before the first published rate takes at most 10,000;
- every later batch takes what one of the published rates allows
  (floor(R x lag_p / sum lag) per partition), and at least one differs from
  10,000: the batches follow the estimator, not the initial rate;
- in every batch each partition's share is its lag's share of the batch
  (within the per-partition rounding);
- no batch takes more than twice the largest batch before it (the growth
  bound: a small batch processed in a few ms yields a huge estimate that
  would otherwise take most of the backlog at once);
- every batch DONE, the ranges contiguous from offset 0.
"""
import os
import re
import time

from kharness import (  # first: puts tests/integration on sys.path
    BOOTSTRAP, check_contiguous, consumed, monitor, name, produce, require_broker,
    topic_create)
from harness import LIB, Cluster, check, log, run, wait_for

FILL = [600000, 300000, 100000]
INITIAL = 10000
BATCHES = 8
# the rate the clamp uses (targetUtilization x the estimate), then the estimate
RATE_RE = re.compile(r"job (\S+): node \d+ rate ([\d.]+) records/s \(estimate ([\d.]+)\) "
                     r"after batch (\d+)")


def published(c, job):
    """[(batch time, rate)] in the order the master published them."""
    return [(int(m.group(4)), float(m.group(2))) for m in RATE_RE.finditer(c.master.log_text())
            if m.group(1) == job]


def takes(rate, lags):
    """What ratectl_clamp gives each partition for a stream rate over 1 s."""
    total = sum(lags.values())
    return {k: min(lag, max(1, int(rate * lag / total))) if lag else 0
            for k, lag in lags.items()}


def test():
    require_broker()
    src, out, job = name("bp-in"), name("bp-out"), name("kbp")
    topic_create(src, 3)
    topic_create(out, 1)
    for p, n in enumerate(FILL):
        produce(src, [f"w{i % 50} p{p}" for i in range(n)], partition=p)
    ends = {(src, p): n for p, n in enumerate(FILL)}

    c = Cluster("kafka-bp")
    c.start_master()
    for i in range(2):
        c.start_worker(f"w{i}", slots=2)
    c.wait_workers(2)
    c.client("submit", "--start", os.path.join(LIB, "kafka_wordcount.so"), "--name", job,
             "--batch-interval", "1s",
             "--conf", "spark.streaming.backpressure.enabled=true",
             "--conf", f"spark.streaming.backpressure.initialRate={INITIAL}",
             "--conf", f"wordcount.brokers={BOOTSTRAP}",
             "--conf", f"wordcount.topics={src}",
             "--conf", f"wordcount.output={out}",
             "--conf", f"wordcount.group={job}")
    # BATCHES batches with records, or fewer when the estimator's rates let
    # the job take the whole backlog sooner
    batches = wait_for(lambda: (lambda b: b if len([x for x in b if x["records"]]) >= BATCHES
                                or consumed(b) == sum(FILL) else None)(
        monitor(c, job, "300ms")), 80, f"{BATCHES} batches or the whole backlog")
    rates = published(c, job)
    c.client("stop", job)
    busy = [b for b in batches if b["records"] > 0]
    for b in busy:
        log(f"{b['line']}: " +
            ", ".join(f"p{k[1]} {u - f}" for k, (f, u) in sorted(b["ranges"].items())))
    log(f"published rates: {rates}")
    check(all(b["state"] == "DONE" for b in batches), "every batch DONE")
    check(not check_contiguous(batches, {k: max(u for b in batches for kk, (f, u)
                                                 in b["ranges"].items() if kk == k)
                                         for k in ends}),
          "ranges contiguous per partition from offset 0")
    first = busy[0]
    check(first["records"] <= INITIAL, f"first batch takes <= {INITIAL} records: "
          f"{first['records']}")
    got = {k: u - f for k, (f, u) in first["ranges"].items()}
    check(got == {(src, 0): 6000, (src, 1): 3000, (src, 2): 1000},
          f"first batch split by lag 6000/3000/1000: {got}")
    check(rates, "the estimator published rates")
    first_pub = rates[0][0] if rates else 0
    # A batch is planned at its time; rates published by then may bound it.
    allowed = [INITIAL] + [r for _, r in rates]
    followed = 0
    for b in busy:
        lags = {k: ends[k] - b["ranges"][k][0] for k in ends}
        got = {k: u - f for k, (f, u) in b["ranges"].items()}
        if b["time"] <= first_pub:
            check(b["records"] <= INITIAL, f"batch {b['time']} before the first estimate "
                  f"takes <= {INITIAL}: {b['records']}")
        match = [r for r in allowed if takes(r, lags) == got]
        check(match, f"batch {b['time']} takes what a published rate allows, split by "
              f"lag: {got} (lags {lags})")
        followed += match[0] != INITIAL
    # the growth bound (ratectl.h): a batch takes at most twice the largest
    # earlier one, so a tiny batch's huge estimate does not swallow the backlog
    for i in range(1, len(busy)):
        most = max(b["records"] for b in busy[:i])
        check(busy[i]["records"] <= 2 * most + len(ends),
              f"batch {busy[i]['time']} takes at most twice the largest earlier batch "
              f"({busy[i]['records']} vs {most})")
    check(len(busy) >= 4, f"at least 4 batches took records ({len(busy)})")
    check(followed > 0, "later batches follow the estimator's rates, not initialRate")
    c.stop()


if __name__ == "__main__":
    run(test)
