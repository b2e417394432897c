#!/usr/bin/env python3
"""State end to end: per-batch cost of map_with_state against keys held and
keys touched (benchmark, not a test; standard library only; issue 11).

  bench/state_e2e.py [--build-dir build-rel] [--workers 1,2] [--batches 30]

Each case is one `sluice standalone` run (a real master and --workers worker
processes x --slots slots on loopback) of bench/state_e2e_job.so
(build-dir/bench/): the initial state seeds HELD keys, then a generator
touches TOUCHED distinct held keys per batch for --batches batches of
--interval-ms (the map_with_state timeout, 1 h, never fires). Cases:

  mws   1K touched of 1K held     map_with_state
  mws   1K touched of 1M held     map_with_state
  mws   10K touched of 10K held   map_with_state (what 10K touched costs
                                  without 1M held)
  mws   10K touched of 1M held    map_with_state
  usbk  1K touched of 1M held     update_state_by_key (visits every key
                                  each batch, Spark's semantics)

Per case: the median / p90 / max processing time per batch (batch start to
end, as the master measures it; the monitor lines `sluice standalone`
prints) after --warmup batches (the first batch seeds the state), the peak
RSS of the worker(s) sampled every 0.2 s, and the state size the monitor
reports (checked against HELD: a run that did not hold its keys is an
error, not a figure). With more than one worker each state partition is
replicated: a delta per batch and the whole partition every checkpoint
interval (10 batches, at batch times that are multiples of 10 intervals):
those batches are left out of median / p90 / max and listed apart
("ckpt batches ms"; with one worker they are ordinary batches). Load average is printed
before and after. Every run is bounded (its duration + 60 s).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time

from proctree import proc_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH_RE = re.compile(r"^batch (\d+)\s+(\w+)\s+records\s+(\d+)\s+sched\s+(-?\d+) ms\s+"
                      r"proc\s+(-?\d+) ms\s+total\s+(-?\d+) ms")
STATE_RE = re.compile(r"^\s+state: (\d+) keys, (\d+) bytes")
CASES = [("mws", 1000, 1000), ("mws", 1000000, 1000), ("mws", 10000, 10000),
         ("mws", 1000000, 10000), ("usbk", 1000000, 1000)]


def worker_rss(pid):
    """{pid: RSS kB} of the sluice-worker children of pid."""
    out = {}
    for child, (ppid, _, rss) in proc_table().items():
        if ppid != pid:
            continue
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if argv0.endswith("sluice-worker"):
            out[child] = rss
    return out


def sample_rss(pid, peak, stop):
    """peak[worker pid] = its highest RSS (kB) until stop is set."""
    while not stop.wait(0.2):
        for w, rss in worker_rss(pid).items():
            peak[w] = max(peak.get(w, 0), rss)


def run_case(a, workers, op, held, touched):
    seconds = -(-a.batches * a.interval_ms // 1000) + 1
    rate = touched * 1000 // a.interval_ms
    argv = [os.path.join(a.build_dir, "bin", "sluice"), "standalone",
            os.path.join(a.build_dir, "bench", "state_e2e_job.so"),
            "--workers", str(workers), "--slots", str(a.slots),
            "--batch-interval", f"{a.interval_ms}ms", "--duration", f"{seconds}s"]
    for c in (f"bench.op={op}", f"bench.keys={held}", f"bench.touch={touched}",
              f"bench.interval_ms={a.interval_ms}", f"gen.rate={rate}",
              f"gen.partitions={a.slots}", f"bench.partitions={a.partitions}"):
        argv += ["--conf", c]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak, stop = {}, threading.Event()
    t = threading.Thread(target=sample_rss, args=(p.pid, peak, stop))
    t.start()
    try:
        out, _ = p.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        sys.exit(f"{op} {held}/{touched}: sluice standalone did not end in time")
    finally:
        stop.set()
        t.join()
    return parse(a, out, op, held, touched), sorted(peak.values())


def parse(a, out, op, held, touched):
    lines = out.splitlines()
    batches = [m.groups() for m in map(BATCH_RE.match, lines) if m]
    keys = [int(m.group(1)) for m in map(STATE_RE.match, lines) if m]
    failed = [b for b in batches if b[1] != "DONE"]
    done = [b for b in batches if b[1] == "DONE"][a.warmup:]
    if failed or not done or not keys or max(keys) != held:
        sys.exit(f"{op} {held}/{touched}: failed batches {len(failed)}, done {len(done)}, "
                 f"state keys {keys[-1:]} (want {held}):\n" + "\n".join(lines[-20:]))
    bad = [b for b in done if int(b[2]) != touched]
    if bad:
        sys.exit(f"{op} {held}/{touched}: batches with other than {touched} records: {bad[:3]}")
    ckpt = a.ckpt_batches * a.interval_ms
    return ([int(b[4]) for b in done if int(b[0]) % ckpt != 0],
            [int(b[4]) for b in done if int(b[0]) % ckpt == 0])


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-rel"))
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--partitions", type=int, default=2, help="state partitions")
    ap.add_argument("--interval-ms", type=int, default=500)
    ap.add_argument("--batches", type=int, default=22)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--ckpt-batches", type=int, default=10,
                    help="checkpoint interval in batches (the default rule: 10)")
    ap.add_argument("--only", help="one case, e.g. mws:1000000:1000")
    a = ap.parse_args()
    cases = CASES
    if a.only:
        op, held, touched = a.only.split(":")
        cases = [(op, int(held), int(touched))]
    print(f"load before: {loadavg()}; {os.cpu_count()} CPUs; {a.interval_ms} ms batches, "
          f"{a.batches} per case, {a.slots} slots per worker, {a.partitions} state partitions")
    print(f"{'workers':>7} {'op':<5} {'held':>9} {'touched':>8} {'batches':>7} "
          f"{'median ms':>9} {'p90 ms':>6} {'max ms':>6}  {'ckpt batches ms':<16} "
          "worker peak RSS MB")
    for workers in (int(w) for w in a.workers.split(",")):
        for op, held, touched in cases:
            (proc, ck), rss = run_case(a, workers, op, held, touched)
            print(f"{workers:>7} {op:<5} {held:>9} {touched:>8} {len(proc):>7} "
                  f"{statistics.median(proc):>9g} {pct(proc, 0.9):>6} {max(proc):>6}  "
                  f"{' '.join(map(str, ck)):<16} "
                  f"{' '.join(f'{r / 1024:.0f}' for r in rss)}", flush=True)
            time.sleep(0.5)
    print(f"load after: {loadavg()}")


if __name__ == "__main__":
    main()
