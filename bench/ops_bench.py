#!/usr/bin/env python3
"""Operations API latency (benchmark, not a test; standard library only).

  bench/ops_bench.py [--build-dir build] [--requests 50] [--workers 2]

Starts a master and --workers workers (2 slots each) on loopback in a
temporary directory, runs examples/generator_wordcount.so (200 ms batches,
2,000 records/s) for a few seconds, then times, --requests times each:

- GET /api/v1/jobs/{job}/summary (read under the master's lock);
- GET /api/v1/jobs/{job}/logs (the master's lines plus one MSG_LOG_QUERY
  per worker on a fresh connection, after the lock is let go);
- `sluice summary --json JOB` (process start, the RPC handshake and
  MSG_API_CALL: what an operator's command costs end to end).

Prints median / p95 / max in milliseconds. Every process is stopped at the
end; the run is bounded by the request count and each call's timeout.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(fn, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    out.sort()
    return statistics.median(out), out[int(len(out) * 0.95) - 1], out[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    os.environ["SLUICE_BUILD"] = os.path.abspath(os.path.join(ROOT, a.build_dir))
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    from harness import LIB, Cluster, http_base, wait_for  # noqa: E402

    c = Cluster("opsbench")
    try:
        c.start_master()
        for i in range(a.workers):
            c.start_worker(f"w{i}", slots=2)
        c.wait_workers(a.workers)
        c.client("submit", "--start", os.path.join(LIB, "generator_wordcount.so"), "--name",
                 "gen", "--batch-interval", "200ms", "--conf", "gen.rate=2000")
        base = http_base(c)
        token = open(os.path.join(c.state, "reader.token")).read().strip()

        def get(path):
            req = urllib.request.Request(base + path)
            req.add_header("Authorization", "Bearer " + token)
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())

        wait_for(lambda: get("/api/v1/jobs/gen")["batches_done"] >= 10, 30, "ten batches")
        lines = len(get("/api/v1/jobs/gen/logs")["lines"])
        rows = [("GET summary", timed(lambda: get("/api/v1/jobs/gen/summary"), a.requests)),
                (f"GET logs ({lines} lines, {a.workers} workers)",
                 timed(lambda: get("/api/v1/jobs/gen/logs"), a.requests)),
                ("sluice summary --json (CLI)",
                 timed(lambda: c.client("summary", "--json", "gen"), a.requests))]
        print(f"{'call':42} {'median':>8} {'p95':>8} {'max':>8}  (ms, {a.requests} each)")
        for name, (med, p95, mx) in rows:
            print(f"{name:42} {med:8.2f} {p95:8.2f} {mx:8.2f}")
    finally:
        c.stop()


if __name__ == "__main__":
    main()
