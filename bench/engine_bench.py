#!/usr/bin/env python3
"""Engine benchmark: sustained word-count throughput, batch start to first
task start, and the run time of an empty batch, in standalone mode.

Not part of the tests. Usage (from anywhere; see bench/engine_bench.sh):

    bench/engine_bench.py [--window 60] [--search-window 20] [--workers 1,2] ...

Sustained throughput: for each worker count, the highest generator rate
(lines/s; every line is 8 words) at which every batch's total delay (end of
processing - batch time) stays below the batch interval for --window seconds,
with no FAILED batch, after --warmup batches. The search doubles the rate
until a trial fails, then bisects until the bracket is within --precision; at
most --max-trials trials per configuration. When --search-window is shorter
than --window, the rate found is then confirmed by one --window trial
(stepping down by --precision on failure, at most --confirm-tries times), and
only a rate that passed a full --window trial is reported ("n/a" if none
did; ">=" when no failing rate was found within --max-trials).

Other processes: before each run the script waits (--quiet-wait) until
others use < 10 % of the CPUs, measures the CPU they used during the run
(foreign_share in the JSON), and runs a failed trial once more when that was
above --disturbed-share. cpu_speed_mb_s (zlib on 2 MB, single thread) is
timed before each run as a rough indicator of the VM's speed.

First task: the monitor's "first-task N ms" per batch (batch start, i.e. its
first output job planned on the master, to the first task starting on a
worker), taken from the batches of the reported (passing) trial.

Empty batch: socket_wordcount reading a port nobody listens on (the receiver
keeps retrying, so every batch has no input); the median processing time of
--empty-batches batches after warm-up.

Raw results (every trial, every batch) go to bench/out/engine-<time>.json.
"""
import argparse
import json
import os
import platform
import re
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS_PER_LINE = 8  # sl_gen_lines: a line of 8 words

BATCH_RE = re.compile(
    r"^batch (?P<batch_ms>\d+)\s+(?P<state>\w+)\s+records\s+(?P<records>\d+)\s+"
    r"sched\s+(?P<sched>-?\d+) ms\s+proc\s+(?P<proc>-?\d+) ms\s+total\s+(?P<total>-?\d+) ms\s+"
    r"tasks (?P<tasks>\d+)(?:\s+first-task (?P<first_task>-?\d+) ms)?(?P<rest>.*)$")


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_busy_s():
    """Seconds of CPU time the whole machine has been busy (all CPUs)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK_TCK


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def wait_quiet(max_wait_s, limit=0.10):
    """Waits (at most max_wait_s) until other processes use < limit of the machine."""
    t_end = time.monotonic() + max_wait_s
    while True:
        b0, t0 = cpu_busy_s(), time.monotonic()
        time.sleep(2)
        share = (cpu_busy_s() - b0) / ((time.monotonic() - t0) * (os.cpu_count() or 1))
        if share < limit:
            return share
        if time.monotonic() >= t_end:
            log(f"    machine still {share:.0%} busy after waiting {max_wait_s} s; going on")
            return share
        log(f"    machine {share:.0%} busy with other processes; waiting")
        time.sleep(5)


_CALIB = None


def cpu_speed():
    """MB/s of zlib-compressing 2 MB of generator-like text, best of 3: a
    fixed single-thread workload, to see whether the CPU itself got slower
    (on a VM, host contention may show here but not in the guest's counters)."""
    global _CALIB
    if _CALIB is None:
        rnd = random.Random(1)
        words = [("w%03d" % i).encode() for i in range(1000)]
        _CALIB = b" ".join(rnd.choice(words) for _ in range(400_000))
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        zlib.compress(_CALIB, 6)
        best = max(best, len(_CALIB) / (time.perf_counter() - t) / 1e6)
    return round(best, 2)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except Exception:  # noqa: BLE001 - informational only
        return ""


def machine_info(build_dir):
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    model = ""
    for line in sh("lscpu").splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    build_type = ""
    cache = os.path.join(build_dir, "CMakeCache.txt")
    if os.path.exists(cache):
        with open(cache) as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    build_type = line.split("=", 1)[1].strip()
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "hypervisor": next((l.split(":", 1)[1].strip() for l in sh("lscpu").splitlines()
                            if l.startswith("Hypervisor vendor:")), ""),
        "mem_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": sh(". /etc/os-release 2>/dev/null && echo $PRETTY_NAME"),
        "compiler": sh("cc --version | head -1"),
        "build_type": build_type,
        "build": read_stamp(build_dir),
    }


def stamp_path(build_dir):
    return os.path.join(build_dir, "bench-build.json")


def read_stamp(build_dir):
    """The source the binaries were built from (written by build())."""
    try:
        with open(stamp_path(build_dir)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"git_commit": "unknown (not built by this script)", "git_dirty": None}


def build(build_dir):
    subprocess.run(["cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
                    "-DSLUICE_TESTS=OFF"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build_dir, f"-j{os.cpu_count() or 2}"], check=True,
                   stdout=subprocess.DEVNULL)
    with open(stamp_path(build_dir), "w") as f:
        json.dump({"git_commit": sh(f"git -C {ROOT} rev-parse --short HEAD"),
                   "git_dirty": sh(f"git -C {ROOT} status --porcelain --untracked-files=no -- . ':!bench' ':!docs' ':!tests'") != "",
                   "built": time.strftime("%Y-%m-%dT%H:%M:%S")}, f)


def run_standalone(args, lib, workers, duration_s, conf):
    """Runs one standalone job; returns (batches, exit code, seconds, command)."""
    cmd = [os.path.join(args.build_dir, "bin", "sluice"), "standalone",
           os.path.join(args.build_dir, "lib", lib), "--workers", str(workers),
           "--slots", str(args.slots), "--batch-interval", f"{args.interval_ms}ms",
           "--duration", f"{duration_s}s"]
    for k, v in conf.items():
        cmd += ["--conf", f"{k}={v}"]
    if args.quiet_wait > 0:
        wait_quiet(args.quiet_wait)
    speed = cpu_speed()
    t0, busy0, own0 = time.monotonic(), cpu_busy_s(), children_cpu_s()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 90)
        out, rc = p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        rc = -1
    wall = time.monotonic() - t0
    own = children_cpu_s() - own0
    # CPU used by processes other than this cluster while it ran (the master and
    # workers are reaped by `sluice standalone`, so their time is in `own`).
    foreign = max(0.0, cpu_busy_s() - busy0 - own)
    cpu = {"cpu_speed_mb_s": speed, "own_cpu_s": round(own, 1),
           "foreign_cpu_s": round(foreign, 1),
           "foreign_share": round(foreign / (wall * (os.cpu_count() or 1)), 3)}
    batches = []
    for line in out.splitlines():
        m = BATCH_RE.match(line)
        if not m:
            continue
        d = m.groupdict()
        b = {k: int(d[k]) for k in ("batch_ms", "records", "sched", "proc", "total", "tasks")}
        b["state"] = d["state"]
        b["first_task"] = int(d["first_task"]) if d["first_task"] is not None else None
        b["retries"] = "(with retries)" in d["rest"]
        batches.append(b)
    if rc != 0:
        kept = [l for l in out.splitlines() if "logs kept" in l]
        log(f"    standalone exited {rc}{': ' + kept[0] if kept else ''}")
    return batches, rc, round(wall, 1), cmd, cpu


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return None
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def summarise(batches):
    tot = [b["total"] for b in batches]
    proc = [b["proc"] for b in batches]
    sched = [b["sched"] for b in batches]
    ft = [b["first_task"] for b in batches if b["first_task"] is not None and b["first_task"] >= 0]
    return {
        "batches": len(batches),
        "total_median_ms": statistics.median(tot) if tot else None,
        "total_max_ms": max(tot) if tot else None,
        "proc_median_ms": statistics.median(proc) if proc else None,
        "proc_max_ms": max(proc) if proc else None,
        "sched_median_ms": statistics.median(sched) if sched else None,
        "sched_max_ms": max(sched) if sched else None,
        "first_task_median_ms": statistics.median(ft) if ft else None,
        "first_task_p90_ms": pct(ft, 0.9),
        "first_task_max_ms": max(ft) if ft else None,
    }


def trial(args, workers, rate, window_s):
    """One throughput trial; returns a dict with ok and the reason."""
    parts = workers * args.slots * args.parts_per_slot
    # Warm-up batches, the window, and one interval for the last batch to end.
    iv_s = args.interval_ms / 1000
    duration_s = int(round(window_s + (args.warmup + 1) * iv_s + 1))
    conf = {"gen.rate": rate, "gen.partitions": parts, "print.num": 1}
    batches, rc, secs, cmd, cpu = run_standalone(args, "generator_wordcount.so", workers,
                                                 duration_s, conf)
    measured = batches[args.warmup:]
    need = int(window_s / iv_s)
    reason = ""
    failed = [b for b in batches if b["state"] != "DONE"]
    slow = [b for b in measured if b["total"] >= args.interval_ms]
    if failed:
        reason = f"{len(failed)} batch(es) FAILED"
    elif slow:
        reason = f"{len(slow)} batch(es) with total delay >= {args.interval_ms} ms " \
                 f"(max {max(b['total'] for b in slow)} ms)"
    elif len(measured) < need:
        reason = f"only {len(measured)} of {need} batches completed in time (fell behind)"
    elif rc != 0:
        reason = f"standalone exited {rc}"
    res = {"workers": workers, "rate_lines_s": rate, "window_s": window_s,
           "gen_partitions": parts, "duration_s": duration_s, "wall_s": secs,
           "command": " ".join(cmd), "ok": reason == "", "reason": reason, **cpu,
           "disturbed": cpu["foreign_share"] > args.disturbed_share,
           "summary": summarise(measured), "batches": batches}
    s = res["summary"]
    log(f"  workers={workers} rate={rate:>9} lines/s window={window_s:>3}s: "
        f"{'PASS' if res['ok'] else 'FAIL'}  total med/max {s['total_median_ms']}/"
        f"{s['total_max_ms']} ms  proc med {s['proc_median_ms']} ms  "
        f"other processes {cpu['foreign_share']:.0%} of the CPUs, cluster "
        f"{cpu['own_cpu_s'] / secs:.2f} CPUs, cpu-speed {cpu['cpu_speed_mb_s']}"
        f"{'  (' + reason + ')' if reason else ''}")
    return res


def round_rate(r):
    """Rounds to 3 significant digits (keeps trial rates readable)."""
    if r <= 0:
        return 1
    mag = 10 ** max(0, len(str(int(r))) - 3)
    return max(1, int(round(r / mag)) * mag)


def search(args, workers, trials, save):
    """Appends every trial to `trials` (and calls save() after each)."""
    lo, hi, best = None, None, None
    rate = args.start_rate
    while len(trials) < args.max_trials:
        t = trial(args, workers, rate, args.search_window)
        trials.append(t)
        save()
        if not t["ok"] and t["disturbed"] and len(trials) < args.max_trials:
            log("    failed while other processes were busy: trying this rate again")
            t = trial(args, workers, rate, args.search_window)
            trials.append(t)
            save()
        if t["ok"]:
            lo, best = rate, t
        else:
            hi = rate
        if hi is None:
            rate = round_rate(rate * 2)
        elif lo is None:
            rate = round_rate(rate / 2)
            if rate < 1000:
                break
        else:
            if (hi - lo) / lo <= args.precision:
                break
            rate = round_rate((lo + hi) / 2)
            if rate in (lo, hi):
                break
    found = {"search_trials": len(trials), "bracket_lines_s": [lo, hi]}
    if best is None:
        return None, found, trials
    if args.search_window >= args.window:
        return best, found, trials
    # Confirm with a full-window trial, stepping down on failure.
    rate = lo
    for _ in range(args.confirm_tries):
        t = trial(args, workers, rate, args.window)
        t["confirm"] = True
        trials.append(t)
        save()
        if t["ok"]:
            return t, found, trials
        if t["disturbed"]:
            log("    failed while other processes were busy: trying this rate again")
            t = trial(args, workers, rate, args.window)
            t["confirm"] = True
            trials.append(t)
            save()
            if t["ok"]:
                return t, found, trials
        rate = round_rate(rate * (1 - args.precision))
    return None, found, trials


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def empty_batches(args, workers):
    port = free_port()  # nobody listens: the receiver retries, batches stay empty
    iv_s = args.interval_ms / 1000
    duration_s = int(round((args.empty_batches + args.warmup + 1) * iv_s + 1))
    conf = {"source.port": port, "print.num": 1}
    batches, rc, secs, cmd, cpu = run_standalone(args, "socket_wordcount.so", workers,
                                                 duration_s, conf)
    measured = [b for b in batches[args.warmup:] if b["records"] == 0]
    res = {"workers": workers, "command": " ".join(cmd), "wall_s": secs, "exit": rc, **cpu,
           "summary": summarise(measured), "batches": batches}
    s = res["summary"]
    log(f"  empty batches, workers={workers}: {s['batches']} batches, total delay median "
        f"{s['total_median_ms']} ms (max {s['total_max_ms']}), scheduling delay median "
        f"{s['sched_median_ms']} ms (max {s['sched_max_ms']}), proc median "
        f"{s['proc_median_ms']} ms (max {s['proc_max_ms']}), first-task median "
        f"{s['first_task_median_ms']} ms")
    return res


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return f"{v:,}{unit}" if isinstance(v, int) else f"{v}{unit}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--window", type=int, default=60,
                    help="seconds every batch must stay under the interval (default 60)")
    ap.add_argument("--search-window", type=int, default=None,
                    help="window of the search trials (default: --window); shorter "
                         "values confirm the result with one --window trial")
    ap.add_argument("--workers", default="1,2", help="worker counts (default 1,2)")
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--interval-ms", type=int, default=1000)
    ap.add_argument("--parts-per-slot", type=int, default=2,
                    help="generator partitions per slot (default 2)")
    ap.add_argument("--start-rate", type=int, default=200000, help="lines/s of the first trial")
    ap.add_argument("--precision", type=float, default=0.10)
    ap.add_argument("--max-trials", type=int, default=12)
    ap.add_argument("--confirm-tries", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2, help="batches skipped at the start")
    ap.add_argument("--empty-batches", type=int, default=20)
    ap.add_argument("--quiet-wait", type=int, default=120,
                    help="before each run, wait up to this many seconds for other processes "
                         "to leave the CPUs (< 10%% busy); 0 = don't wait")
    ap.add_argument("--disturbed-share", type=float, default=0.05,
                    help="a run is 'disturbed' when other processes used more than this "
                         "share of the CPUs; a disturbed failure is run again once")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out"))
    args = ap.parse_args()
    if args.search_window is None:
        args.search_window = args.window
    args.build_dir = os.path.abspath(args.build_dir)
    workers_list = [int(x) for x in args.workers.split(",") if x]

    if not args.no_build:
        log(f"building (Release) into {args.build_dir}")
        build(args.build_dir)
    if shutil.which(os.path.join(args.build_dir, "bin", "sluice")) is None:
        sys.exit(f"no sluice binary in {args.build_dir}/bin")

    started = time.strftime("%Y%m%dT%H%M%S")
    results = {"started": started, "argv": sys.argv[1:], "params": vars(args),
               "machine": machine_info(args.build_dir), "configs": []}
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"engine-{started}.json")

    def save():  # after every run, so an interrupted benchmark keeps its data
        with open(path, "w") as f:
            json.dump(results, f, indent=1)

    for w in workers_list:
        cfg = {"workers": w, "slots": args.slots}
        results["configs"].append(cfg)
        if not args.skip_throughput:
            log(f"throughput: {w} worker(s) x {args.slots} slots, interval "
                f"{args.interval_ms} ms, window {args.window} s (search {args.search_window} s)")
            cfg["trials"] = []
            best, found, _ = search(args, w, cfg["trials"], save)
            cfg.update(found)
            cfg["sustained"] = None if best is None else {
                "rate_lines_s": best["rate_lines_s"],
                "rate_words_s": best["rate_lines_s"] * WORDS_PER_LINE,
                "window_s": best["window_s"], "command": best["command"],
                "foreign_share": best["foreign_share"],
                "cpu_speed_mb_s": best["cpu_speed_mb_s"], **best["summary"]}
        cfg["empty"] = empty_batches(args, w)
        save()

    m = results["machine"]
    print(f"\nSluice engine benchmark: generator word count, standalone, "
          f"{args.interval_ms} ms batches, {args.slots} slots/worker, window {args.window} s")
    print(f"machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_gib']} GiB, "
          f"build {m['build_type']} of {m['build']['git_commit']}"
          f"{' (with uncommitted changes)' if m['build']['git_dirty'] else ''}")
    hdr = ["config", "lines/s", "words/s", "total med ms", "total max ms", "proc med ms",
           "first-task med ms", "first-task p90 ms", "empty-batch proc med ms",
           "other procs' CPU"]
    rows = []
    for c in results["configs"]:
        s = c.get("sustained") or {}
        e = c["empty"]["summary"]
        # No failing rate found within --max-trials: the figure is only a lower bound.
        ge = ">=" if s and c.get("bracket_lines_s", [None, None])[1] is None else ""
        rows.append([f"{c['workers']} worker{'s' if c['workers'] > 1 else ''} x {c['slots']}",
                     ge + fmt(s.get("rate_lines_s")), ge + fmt(s.get("rate_words_s")),
                     fmt(s.get("total_median_ms")), fmt(s.get("total_max_ms")),
                     fmt(s.get("proc_median_ms")), fmt(s.get("first_task_median_ms")),
                     fmt(s.get("first_task_p90_ms")), fmt(e["proc_median_ms"]),
                     "n/a" if s.get("foreign_share") is None else f"{s['foreign_share']:.0%}"])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(hdr)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(hdr, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(v.rjust(w) if i else v.ljust(w)
                                for i, (v, w) in enumerate(zip(r, widths))) + " |")
    print(f"raw results: {os.path.relpath(path, os.getcwd())}")


if __name__ == "__main__":
    main()
