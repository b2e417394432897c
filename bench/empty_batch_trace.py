#!/usr/bin/env python3
"""Where an empty batch's time goes: per-step timestamps from uprobes.

Benchmark, not a test; standard library only; needs root and perf(1) with
uprobes. Usage, on a Release build (symbols of the non-static functions):

    cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel
    bench/empty_batch_trace.py --build-dir build-rel --workers 1 --seconds 30

It puts perf uprobes (group `emptyb`, removed at the end) on functions of
sluice-master and sluice-worker, runs `sluice standalone` with
examples/socket_wordcount.so reading a port nobody listens on (every batch
empty: its reduce stage reads an empty shuffle, then the `top_counts`
transform's stage), records the probes' hits with `perf record -a`, and
prints the median and p90 of each step over the batches after --warmup:

  master: batch generated (checkpointer_submit from the cron thread) ->
  checkpoint written (checkpoint_write returns) = batch start ->
  launch sent (rpc_call_async) -> worker: handler (wengine_handle) ->
  slot runs the task (ops_run_task) -> task returns -> status sent
  (rpc_call_async_bytes, or rpc_call before 3d29d8b) -> master: status
  applied (sched_handle_status) -> next stage launched -> batch end
  (checkpointer_submit) -> end checkpoint written.

Tasks are matched to their launch and status by order (exact with one
worker; with two, the per-task steps pair tasks of different workers and are
approximate, the stage-level C0..C2 and processing stay exact). A probe hit
costs ~1-3 us, so the absolute figures are a little above an unprobed run's.
"""
import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile

GROUP = "emptyb"
MASTER_FUNCS = ["batches_generate", "checkpointer_submit", "checkpoint_write",
                "checkpoint_write%return", "batches_start_ojobs", "rpc_call_async",
                "sched_handle_status"]
WORKER_FUNCS = ["wengine_handle", "ops_run_task", "ops_run_task%return", "rpc_call",
                "rpc_call_async_bytes"]


def probe_name(func):
    """The event name to give: perf appends "__return" to a return probe's."""
    return func.split("%")[0]


def add_probes(build):
    for exe, funcs in (("sluice-master", MASTER_FUNCS), ("sluice-worker", WORKER_FUNCS)):
        path = os.path.join(build, "bin", exe)
        for f in funcs:
            name = probe_name(f)
            spec = f"{GROUP}:{name}={f}"
            r = subprocess.run(["perf", "probe", "-q", "-x", path, "--add", spec],
                               capture_output=True, text=True)
            if r.returncode != 0 and f != "rpc_call_async_bytes":  # absent before 3d29d8b
                sys.exit(f"perf probe {spec} on {path} failed: {r.stderr.strip()}")


def del_probes():
    subprocess.run(["perf", "probe", "-q", "-d", f"{GROUP}:*"], capture_output=True)


def events():
    r = subprocess.run(["perf", "probe", "-l"], capture_output=True, text=True)
    return [line.split()[0] for line in r.stdout.splitlines()
            if line.strip().startswith(GROUP + ":")]


def record(a, out_dir):
    with socket.socket() as s:  # a port nobody listens on: every batch is empty
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = os.path.join(out_dir, "perf.data")
    cmd = [os.path.join(a.build_dir, "bin", "sluice"), "standalone",
           os.path.join(a.build_dir, "lib", "socket_wordcount.so"), "--workers",
           str(a.workers), "--slots", str(a.slots), "--batch-interval",
           f"{a.interval_ms}ms", "--duration", f"{a.seconds}s", "--conf",
           f"source.port={port}", "--conf", "print.num=1"]
    print("run:", " ".join(cmd))
    subprocess.run(["perf", "record", "-q", "-o", data, "-e", ",".join(events()),
                    "-a", "--"] + cmd, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=a.seconds + 120, check=True)
    r = subprocess.run(["perf", "script", "-i", data, "-F", "pid,tid,time,event"],
                       capture_output=True, text=True, check=True)
    return r.stdout


def parse(text):
    ev = []
    for line in text.splitlines():
        m = re.match(r"\s*(\d+)/(\d+)\s+([\d.]+):\s+(\S+):", line)
        if m and m.group(4).startswith(GROUP + ":"):
            ev.append((float(m.group(3)) * 1e6, int(m.group(1)), int(m.group(2)),
                       m.group(4).split(":")[1]))
    return ev


def batch_windows(ev, warmup):
    """The events from one batch's generation to the next one's."""
    master = next(p for _, p, _, e in ev if e == "batches_generate")
    wins, cur = [], None
    for e in ev:
        if e[3] == "checkpointer_submit" and e[1] == e[2] == master:
            cur = []
            wins.append(cur)
        if cur is not None:
            cur.append(e)
    return master, wins[warmup:-1]


def of(w, name, cond=lambda e: True):
    return [e for e in w if e[3] == name and cond(e)]


def one_batch(master, w, add):
    gen = w[0][0]
    ck = of(w, "checkpoint_write__return")
    start = of(w, "batches_start_ojobs", lambda e: e[2] != master)
    launches = of(w, "rpc_call_async", lambda e: e[1] == master)
    status = of(w, "sched_handle_status")
    if not ck or not start or len(launches) < 2 or not status:
        return
    start = start[0][0]
    s1 = [e for e in launches if e[0] < status[0][0]]
    s2 = [e for e in launches if status[0][0] < e[0] < status[-1][0]]
    end = [e for e in of(w, "checkpointer_submit") if e[0] > status[-1][0]]
    if not s2 or not end:
        return
    end = end[0][0]
    handles, runs = of(w, "wengine_handle"), of(w, "ops_run_task")
    rets = of(w, "ops_run_task__return")
    sends = [e for e in w if e[3] == "rpc_call_async_bytes" or
             (e[3] == "rpc_call" and e[1] != e[2])]  # not the main thread's heartbeat
    n = len(s1) + len(s2)
    if min(len(handles), len(runs), len(rets), len(sends), len(status)) < n:
        return
    add("1 generated -> checkpoint durable = start", ck[0][0] - gen)
    add("2 start -> first launch sent", s1[0][0] - start)
    for i, L in enumerate(s1 + s2):
        add("3 launch sent -> worker handler", handles[i][0] - L[0])
        add("4 handler -> slot runs task", runs[i][0] - handles[i][0])
        add("5 task runs", rets[i][0] - runs[i][0])
        add("6 task end -> status sent", sends[i][0] - rets[i][0])
        add("7 status sent -> master applies it", status[i][0] - sends[i][0])
    for x, y in zip(s1, s1[1:]):
        add("8 launch -> next launch (stage 1)", y[0] - x[0])
    s1_status = [e for e in status if e[0] < s2[0][0]]
    add("9 stage 1 last status -> stage 2 launch", s2[0][0] - s1_status[-1][0])
    add("10 last status -> batch end", end - status[-1][0])
    r1 = [e for e in rets if e[0] < s2[0][0]]
    r2 = [e for e in rets if e[0] > s2[0][0]]
    add("C0 start -> stage 1 last task end", r1[-1][0] - start)
    add("C1 stage 1 last task end -> stage 2 launch", s2[0][0] - r1[-1][0])
    if r2:
        add("C2 stage 2 task end -> batch end", end - r2[-1][0])
    add("P processing (start -> end)", end - start)
    cke = [e for e in ck if e[0] > end]
    if cke:
        add("E batch end -> end checkpoint durable", cke[0][0] - end)


def report(ev, warmup):
    steps = {}
    master, wins = batch_windows(ev, warmup)
    for w in wins:
        one_batch(master, w, lambda k, v: steps.setdefault(k, []).append(v))
    key = lambda k: (not k[0].isdigit(), int(k.split()[0]) if k[0].isdigit() else k)
    for k in sorted(steps, key=key):
        v = sorted(steps[k])
        print(f"{k:46s} n={len(v):5d}  median {statistics.median(v):6.0f} us  "
              f"p90 {v[int(0.9 * len(v))]:6.0f} us")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default="build-rel")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--interval-ms", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--perf-script", help="analyse this `perf script -F "
                    "pid,tid,time,event` output instead of running")
    a = ap.parse_args()
    if a.perf_script:
        with open(a.perf_script) as f:
            report(parse(f.read()), a.warmup)
        return
    with open("/proc/loadavg") as f:
        print(f"load before: {' '.join(f.read().split()[:3])}; {os.cpu_count()} CPUs")
    del_probes()
    add_probes(a.build_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="emptyb-") as d:
            text = record(a, d)
    finally:
        del_probes()
    report(parse(text), a.warmup)
    with open("/proc/loadavg") as f:
        print(f"load after: {' '.join(f.read().split()[:3])}")


if __name__ == "__main__":
    main()
