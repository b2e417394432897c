#!/usr/bin/env python3
"""Small-batch and idle figures (benchmark, not a test; standard library only).

  bench/small_batches.py [--build-dir build-vs] [--seconds 60]

Three `sluice standalone` runs, each with 1 worker x 2 slots unless told:

1. idle + empty batches: examples/socket_wordcount.so reading a port nobody
   listens on, 1 s interval: every batch is empty. Prints the master's and
   the worker's RSS (VmRSS) after the run settled, and the median / p90 /
   max processing time (batch start to end, as the master measures it) and
   total delay of the empty batches after --warmup.
2. a 50 ms interval at 100,000 lines/s: examples/generator_wordcount.so
   (8-word lines) with --interval-ms 50 and gen.rate 100000 for --seconds:
   prints the batches completed against those due, and how many had a total
   delay (end of processing - batch time) under the interval.

Every process is stopped at the end (sluice standalone stops its master and
workers); each run is bounded by its duration plus a margin.
"""
import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH_RE = re.compile(r"^batch (\d+)\s+(\w+)\s+records\s+(\d+)\s+sched\s+(-?\d+) ms\s+"
                      r"proc\s+(-?\d+) ms\s+total\s+(-?\d+) ms")


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_roles(pid):
    """{'master': [pids], 'worker': [pids]} among pid's children."""
    roles = {"master": [], "worker": []}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
            ppid = int(s[s.rindex(")") + 2:].split()[1])
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if ppid == pid:
            for role in roles:
                if argv0.endswith("sluice-" + role):
                    roles[role].append(int(d))
    return roles


def standalone(a, job, seconds, interval_ms, conf, on_running=None):
    """Runs a job; returns its batch tuples. on_running(pid) runs mid-way."""
    argv = [os.path.join(a.build_dir, "bin", "sluice"), "standalone",
            os.path.join(a.build_dir, "lib", job), "--workers", str(a.workers),
            "--slots", str(a.slots), "--batch-interval", f"{interval_ms}ms",
            "--duration", f"{seconds}s"]
    for c in conf:
        argv += ["--conf", c]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if on_running:
        t = threading.Timer(seconds * 0.8, on_running, [p.pid])
        t.start()
    try:
        out, _ = p.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        sys.exit("sluice standalone did not end in time")
    batches = [tuple(int(x) if x.lstrip("-").isdigit() else x for x in m.groups())
               for m in map(BATCH_RE.match, out.splitlines()) if m]
    return batches


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def idle_and_empty(a):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rss = {}

    def measure(pid):
        for role, pids in tree_roles(pid).items():
            rss[role] = [rss_kb(p) for p in pids]

    b = standalone(a, "socket_wordcount.so", a.seconds, 1000,
                   [f"source.port={port}", "print.num=1"], measure)
    b = [x for x in b if x[1] == "DONE" and x[2] == 0][a.warmup:]
    proc = [x[4] for x in b]
    total = [x[5] for x in b]
    print(f"idle RSS: master {rss.get('master')} kB, worker(s) {rss.get('worker')} kB")
    if not proc:
        sys.exit("no empty batch completed")
    print(f"empty batches: {len(proc)}; processing median {statistics.median(proc)} ms, "
          f"p90 {pct(proc, 0.9)} ms, max {max(proc)} ms; total delay median "
          f"{statistics.median(total)} ms, max {max(total)} ms")


def small_interval(a):
    b = standalone(a, "generator_wordcount.so", a.seconds, a.interval_ms,
                   [f"gen.rate={a.rate}", f"gen.partitions={2 * a.slots * a.workers}",
                    "print.num=1"])
    due = a.seconds * 1000 // a.interval_ms
    b = b[a.warmup * 20:]  # the first second: workers load the job
    done = [x for x in b if x[1] == "DONE"]
    ok = [x for x in done if x[5] < a.interval_ms]
    total = [x[5] for x in done]
    recs = sum(x[2] for x in done)
    sched = [x[3] for x in done]
    proc = [x[4] for x in done]
    print(f"{a.interval_ms} ms interval at {a.rate} lines/s for {a.seconds} s: "
          f"{len(done)} batches done of ~{due} due, {len(ok)} with total delay < "
          f"{a.interval_ms} ms ({100 * len(ok) / max(1, len(done)):.1f} %); total delay "
          f"median {statistics.median(total) if total else 'n/a'} ms, p99 "
          f"{pct(total, 0.99) if total else 'n/a'} ms, max {max(total, default=0)} ms "
          f"(scheduling delay median {statistics.median(sched) if sched else 'n/a'} ms, "
          f"processing median {statistics.median(proc) if proc else 'n/a'} ms, p99 "
          f"{pct(proc, 0.99) if proc else 'n/a'} ms); {recs} lines")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-vs"))
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--interval-ms", type=int, default=50)
    ap.add_argument("--rate", type=int, default=100000)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--only", choices=["idle", "interval"])
    a = ap.parse_args()
    with open("/proc/loadavg") as f:
        print(f"load before: {' '.join(f.read().split()[:3])}; {os.cpu_count()} CPUs")
    if a.only != "interval":
        idle_and_empty(a)
    if a.only != "idle":
        small_interval(a)
    with open("/proc/loadavg") as f:
        print(f"load after: {' '.join(f.read().split()[:3])}")


if __name__ == "__main__":
    main()
