#!/usr/bin/env python3
"""Where an empty batch's time goes: per-step timestamps from uprobes.

Benchmark, not a test; standard library only; needs root and perf(1) with
uprobes (Debian: `apt-get install linux-perf`; bench-only, so not in
scripts/setup.sh). Usage, on a Release build (the probed functions are
non-static, or static ones called through a pointer, so never inlined):

    cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-rel
    bench/empty_batch_trace.py --build-dir build-rel --workers 1 --seconds 30

It puts perf uprobes (group `emptyb`, removed at the end) on functions of
sluice-master and sluice-worker, runs `sluice standalone` with
examples/socket_wordcount.so reading a port nobody listens on (every batch
empty; since sched9 an empty batch runs one task, the `top_counts`
transform), records the probes' hits with `perf record -a`, and prints the
median and p90 of each step, in µs, over the batches after --warmup:

  master, cron thread: batch generated (its checkpointer_submit) ->
  checkpointer thread: generation checkpoint written (checkpoint_write and
  its return) -> batch start (ojob_plan, right after batches_start_ojobs
  sets start_wall) -> launch packed under the lock (plan_task_launched) ->
  sender thread: launch sent (rpc_call_async_bytes) -> worker: frame taken
  by the RPC server (srv_ctx_cb) -> handler (wengine_handle) -> slot runs
  the task (ops_run_task .. return) -> status sent (rpc_call_async_bytes) ->
  master: frame taken (srv_ctx_cb) -> sched_handle_status -> status applied
  (plan_task_done) -> batch end (ratecontrol_batch_done, right after
  batch_finish sets end_wall) -> end checkpoint written. It also shows the
  batch-start checkpoint, written by the checkpointer thread while the task
  runs.

--syscalls also traces sendmsg, epoll_wait and readv (all processes;
the script keeps the master's and workers') to split each frame's way into
the sending call, the kernel's wake-up and nng's own thread hops.

"processing" is start -> end, the figure the monitor and REST show in
whole ms. Tasks are matched to their launch and status by order within a
batch. A probe hit costs ~1-3 µs, so the absolute figures are a little above
an unprobed run's.
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
MASTER_FUNCS = ["checkpointer_submit", "checkpoint_write", "checkpoint_write%return",
                "ojob_plan", "plan_task_launched", "rpc_call_async",
                "rpc_call_async_bytes", "srv_ctx_cb", "sched_handle_status",
                "plan_task_done", "ratecontrol_batch_done"]
# --syscalls: when the bytes leave (sendmsg) and arrive (the receiver's
# epoll_wait returns, its readv), to split a frame's way into the kernel's
# wake-up and nng's own thread hops before the RPC callback
SYSCALLS = ["syscalls:sys_enter_sendmsg", "syscalls:sys_exit_epoll_wait",
            "syscalls:sys_enter_readv"]
WORKER_FUNCS = ["srv_ctx_cb", "wengine_handle", "ops_run_task", "ops_run_task%return",
                "rpc_call_async_bytes"]


def probe_name(exe, func):
    """The event name: perf appends "__return" to a return probe's; the
    worker's names get a w_ prefix (both processes have some functions)."""
    return ("w_" if exe == "sluice-worker" else "") + func.split("%")[0]


def add_probes(build):
    for exe, funcs in (("sluice-master", MASTER_FUNCS), ("sluice-worker", WORKER_FUNCS)):
        path = os.path.join(build, "bin", exe)
        for f in funcs:
            spec = f"{GROUP}:{probe_name(exe, f)}={f}"
            r = subprocess.run(["perf", "probe", "-q", "-x", path, "--add", spec],
                               capture_output=True, text=True)
            if r.returncode != 0:
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
    evs = events() + (SYSCALLS if a.syscalls else [])
    subprocess.run(["perf", "record", "-q", "-o", data, "-e", ",".join(evs),
                    "-a", "--"] + cmd, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=a.seconds + 120, check=True)
    r = subprocess.run(["perf", "script", "-i", data, "-F", "pid,tid,time,event"],
                       capture_output=True, text=True, check=True)
    return r.stdout


def parse(text):
    """(µs, pid, tid, name) per hit, in time order."""
    ev = []
    for line in text.splitlines():
        m = re.match(r"\s*(\d+)/(\d+)\s+([\d.]+):\s+(\S+):", line)
        if m and m.group(4).split(":")[0] in (GROUP, "syscalls"):
            ev.append((float(m.group(3)) * 1e6, int(m.group(1)), int(m.group(2)),
                       m.group(4).split(":")[1]))
    ev.sort()
    return ev


class Trace:
    def __init__(self, ev):
        self.ev = ev
        self.master = next(p for _, p, _, e in ev if e == "ojob_plan")

    def first(self, name, after, cond=lambda e: True):
        return next((e for e in self.ev if e[0] > after and e[3] == name and cond(e)),
                    None)

    def last(self, name, before, cond=lambda e: True):
        return next((e for e in reversed(self.ev)
                     if e[0] < before and e[3] == name and cond(e)), None)

    def frame_in(self, handler, name):
        """The RPC server callback that ran this handler (same thread)."""
        return self.last(name, handler[0], lambda e: e[2] == handler[2])

    def launch_sent(self, launched):
        """The send of this launch (by the sender thread, or by whichever
        thread drains the outbox): not rpc_call_async's own send (other
        calls the master starts)."""
        def sender(e):
            if e[1] != self.master:
                return False
            prev = self.last("rpc_call_async", e[0], lambda p: p[2] == e[2])
            return prev is None or e[0] - prev[0] > 50
        return self.first("rpc_call_async_bytes", launched[0], sender)


def batches(t, warmup):
    """(start, end) hits of each batch: ojob_plan .. ratecontrol_batch_done."""
    out, start = [], None
    for e in t.ev:
        if e[3] == "ojob_plan" and start is None:
            start = e
        elif e[3] == "ratecontrol_batch_done" and start is not None:
            out.append((start, e))
            start = None
    return out[warmup:-1]


def wire(t, step, send, cb, add):
    """With --syscalls: a frame's way from the sending call to the
    receiver's RPC callback, split at sendmsg, epoll_wait and readv."""
    sm = t.first("sys_enter_sendmsg", send[0], lambda e: e[2] == send[2])
    if sm is None or sm[0] > cb[0]:
        return
    ep = t.first("sys_exit_epoll_wait", sm[0], lambda e: e[1] == cb[1])
    rd = ep and t.first("sys_enter_readv", ep[0], lambda e: e[1] == cb[1])
    if not (ep and rd) or rd[0] > cb[0]:
        return
    add(f"{step}a call -> sendmsg (sending side)", sm[0] - send[0])
    add(f"{step}b sendmsg -> receiver's epoll_wait returns", ep[0] - sm[0])
    add(f"{step}c epoll_wait -> readv", rd[0] - ep[0])
    add(f"{step}d readv -> RPC callback (nng hops)", cb[0] - rd[0])


def one_batch(t, start, end, add):
    S, E = start[0], end[0]
    m = t.master
    inb = lambda name, c=lambda e: True: [e for e in t.ev if S <= e[0] <= E
                                          and e[3] == name and c(e)]
    cw_ret = t.last("checkpoint_write__return", S)
    cw = cw_ret and t.last("checkpoint_write", cw_ret[0])
    gen = cw and t.last("checkpointer_submit", cw[0],
                        lambda e: e[1] == m and e[2] == m)
    launched = inb("plan_task_launched")
    if not (cw and gen and launched):
        return
    add("01 batch generated -> checkpoint write begins", cw[0] - gen[0])
    add("02 generation checkpoint write (SQLite)", cw_ret[0] - cw[0])
    add("03 checkpoint durable -> batch start", S - cw_ret[0])
    add("04 start -> launch packed (plan, under lock)", launched[0][0] - S)
    whandles = inb("w_wengine_handle")
    runs, rets = inb("w_ops_run_task"), inb("w_ops_run_task__return")
    wsends = inb("w_rpc_call_async_bytes")
    mstatus, applied = inb("sched_handle_status"), inb("plan_task_done")
    n = len(launched)
    if min(len(whandles), len(runs), len(rets), len(wsends), len(mstatus),
           len(applied)) < n:
        return
    for i, L in enumerate(launched):
        sent = t.launch_sent(L)
        wf, mf = t.frame_in(whandles[i], "w_srv_ctx_cb"), t.frame_in(mstatus[i],
                                                                    "srv_ctx_cb")
        if not (sent and wf and mf):
            return
        add("05 launch packed -> sent (sender thread)", sent[0] - L[0])
        add("06 launch sent -> worker RPC callback", wf[0] - sent[0])
        add("07 worker callback -> handler (MAC, unpack)", whandles[i][0] - wf[0])
        add("08 handler -> slot runs task", runs[i][0] - whandles[i][0])
        add("09 task runs (ops_run_task)", rets[i][0] - runs[i][0])
        add("10 task end -> status sent", wsends[i][0] - rets[i][0])
        add("11 status sent -> master RPC callback", mf[0] - wsends[i][0])
        add("12 master callback -> sched_handle_status", mstatus[i][0] - mf[0])
        add("13 sched_handle_status -> applied", applied[i][0] - mstatus[i][0])
        add("L  launch sent -> status sent (worker round)", wsends[i][0] - sent[0])
        wire(t, "06", sent, wf, add)
        wire(t, "11", wsends[i], mf, add)
    add("14 last status applied -> batch end", E - applied[-1][0])
    add("P  processing (start -> end)", E - S)
    sw = t.first("checkpoint_write", S)
    if sw:
        swr = t.first("checkpoint_write__return", sw[0])
        add("S  start -> start checkpoint write begins", sw[0] - S)
        if swr:
            add("S  start checkpoint write (SQLite)", swr[0] - sw[0])
    ew = t.first("checkpoint_write", E)
    ewr = ew and t.first("checkpoint_write__return", ew[0])
    if ewr:
        add("E  batch end -> end checkpoint durable", ewr[0] - E)
    add("T  generated -> batch end", E - gen[0])


def report(ev, warmup):
    steps = {}
    t = Trace(ev)
    bs = batches(t, warmup)
    for s, e in bs:
        one_batch(t, s, e, lambda k, v: steps.setdefault(k, []).append(v))
    print(f"{len(bs)} batches after {warmup} warm-up ones")
    for k in sorted(steps):
        v = sorted(steps[k])
        print(f"{k:48s} n={len(v):5d}  median {statistics.median(v):7.0f} us  "
              f"p90 {v[int(0.9 * len(v))]:7.0f} us")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


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
    ap.add_argument("--syscalls", action="store_true", help="also trace sendmsg, "
                    "epoll_wait and readv (split steps 06 and 11)")
    ap.add_argument("--keep", help="also save the `perf script` output here")
    a = ap.parse_args()
    if a.perf_script:
        with open(a.perf_script) as f:
            report(parse(f.read()), a.warmup)
        return
    print(f"load before: {loadavg()}; {os.cpu_count()} CPUs")
    del_probes()
    add_probes(a.build_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="emptyb-") as d:
            text = record(a, d)
    finally:
        del_probes()
    if a.keep:
        with open(a.keep, "w") as f:
            f.write(text)
    print(f"load after: {loadavg()}")
    report(parse(text), a.warmup)


if __name__ == "__main__":
    main()
