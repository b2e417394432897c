#!/usr/bin/env python3
"""Backpressure benchmark (not part of the tests; docs/backpressure.md).

slow_wordcount (its splitter sleeps --line-ms per line; one worker, one
slot, so it processes about 1000 / line_ms lines/s) reads a socket source
that sends --feed lines/s, about three times that, for --batches 1 s
batches; once with spark.streaming.backpressure.enabled=true (initialRate
--initial) and once without. Per batch it records the input records, the
scheduling, processing and total delay (`sluice monitor`) and, with
backpressure, the rate the master published after it and the estimate it
came from (rate = sluice.backpressure.targetUtilization x estimate; master
log).

Writes CSV to --out (default bench/out/backpressure.csv) with the columns
mode,batch,records,sched_ms,proc_ms,total_ms,rate,estimate and, with --plot PNG, draws
the total delay and the records per batch of both runs and the published
rate (bench/backpressure_plot.sh installs matplotlib and does both).

Usage: bench/backpressure_bench.py [--build DIR] [--batches N] [--feed N]
       [--line-ms N] [--initial N] [--out CSV] [--plot PNG]
       bench/backpressure_bench.py --from-csv CSV --plot PNG
"""
import argparse
import csv
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
RATE_RE = re.compile(r"job bp: node \d+ rate ([\d.]+) records/s \(estimate ([\d.]+)\) "
                     r"after batch (\d+)")


def one_run(harness, bp, a, backpressure):
    lib = os.path.join(harness.BUILD, "tests", "jobs2", "slow_wordcount.so")
    c = harness.Cluster(f"bpbench-{backpressure}")
    c.start_master()
    c.start_worker("w1", slots=1, memory="256m")
    c.wait_workers(1)
    src = bp.PacedSource(a.feed, a.batches * 3 + 30)
    out = os.path.join(c.dir, "out", "counts")
    c.client("submit", "--start", lib, "--name", "bp", "--batch-interval", "1s",
             "--conf", f"source.port={src.port}", "--conf", f"output.path={out}",
             "--conf", f"slow.line_ms={a.line_ms}", "--conf", "reduce.partitions=1",
             "--conf", "spark.streaming.concurrentJobs=1",
             "--conf", f"spark.streaming.backpressure.enabled={backpressure}",
             "--conf", f"spark.streaming.backpressure.initialRate={a.initial}")
    batches = harness.wait_for(
        lambda: (lambda r: r[0] if len(r[0]) >= a.batches else None)(bp.monitor(c, "bp")),
        a.batches * 4 + 60, f"{a.batches} batches")[:a.batches]
    log = c.master.log_text()
    rates = {int(m.group(3)): float(m.group(1)) for m in RATE_RE.finditer(log)}
    estimates = {int(m.group(3)): float(m.group(2)) for m in RATE_RE.finditer(log)}
    src.stop()
    c.client("stop", "bp")
    c.stop()
    mode = "on" if backpressure == "true" else "off"
    return [{"mode": mode, "batch": i + 1, "records": b["records"], "sched_ms": b["sched"],
             "proc_ms": b["proc"], "total_ms": b["total"], "rate": rates.get(b["time"], ""),
             "estimate": estimates.get(b["time"], "")}
            for i, b in enumerate(batches)]


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    for mode, style in (("on", "-o"), ("off", "--x")):
        r = [x for x in rows if x["mode"] == mode]
        ax1.plot([x["batch"] for x in r], [x["total_ms"] / 1000 for x in r], style,
                 label=f"backpressure {mode}")
        ax2.plot([x["batch"] for x in r], [x["records"] for x in r], style,
                 label=f"records, backpressure {mode}")
    on = [x for x in rows if x["mode"] == "on" and x["rate"] != ""]
    ax2.plot([x["batch"] for x in on], [x["rate"] for x in on], ":s",
             label="rate used = targetUtilization x estimate (records/s)")
    ax2.plot([x["batch"] for x in on], [x["estimate"] for x in on], ":^",
             label="estimate (records/s)")
    ax1.axhline(1.0, color="grey", linewidth=0.8, label="batch interval")
    ax1.set_yscale("log")  # on stays near the interval, off grows to a minute
    ax1.set_ylabel("total delay (s, log scale)")
    ax1.legend()
    ax2.set_xlabel("batch")
    ax2.set_ylabel("records per batch / rate")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--feed", type=int, default=750)
    ap.add_argument("--line-ms", type=int, default=4)
    ap.add_argument("--initial", type=int, default=100)
    ap.add_argument("--out", default=os.path.join(HERE, "out", "backpressure.csv"))
    ap.add_argument("--plot")
    ap.add_argument("--from-csv", help="plot an earlier run's CSV instead of running")
    a = ap.parse_args()
    if a.from_csv:
        with open(a.from_csv) as f:
            rows = [{k: (float(v) if k in ("rate", "estimate") and v else
                         v if k == "mode" or v == "" else int(v)) for k, v in r.items()}
                    for r in csv.DictReader(f)]
        plot(rows, a.plot)
        print(f"plot: {a.plot}")
        return
    os.environ["SLUICE_BUILD"] = os.path.abspath(a.build)
    import bp_common as bp
    import harness
    rows = one_run(harness, bp, a, "true") + one_run(harness, bp, a, "false")
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for mode in ("on", "off"):
        r = [x for x in rows if x["mode"] == mode]
        last = r[len(r) // 2:]
        print(f"backpressure {mode}: batches {len(r)}, total delay of the last "
              f"{len(last)}: mean {sum(x['total_ms'] for x in last) / len(last):.0f} ms, "
              f"max {max(x['total_ms'] for x in last)} ms; records/batch mean "
              f"{sum(x['records'] for x in last) / len(last):.0f}")
    print(f"csv: {a.out}")
    if a.plot:
        plot(rows, a.plot)
        print(f"plot: {a.plot}")


if __name__ == "__main__":
    main()
