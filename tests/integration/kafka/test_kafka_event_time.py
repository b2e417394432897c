"""Event-time windows over a Kafka topic (issue 11): event_time_window
counts per key, windows of 1000 ms sliding by 500 ms (each record in two
windows), allowed lateness 1000 ms, against a Python reference.

The records' event time is their Kafka timestamp, set explicitly
(sluice-kafka-tool produce --timestamps) and out of order: phase 1 covers
[T0, T0+3000) shuffled; phases 2 and 3 each move on 3 s and mix in records
a little older than the watermark (their later window still open: counted)
and records far older (every window already emitted: dropped, counted as
late); a last record far ahead pushes the watermark past every window, and
the batch after it emits them. Each phase is produced once the previous
one was taken, so the watermark moves between them.

tests/jobs3/evtime_job.so saves each batch's input ("KEY@TS") and the
windows it emitted ("KEY@END"). The reference replays the rule over the
batches as the job saw them: batch t runs with watermark = the largest
event time of the batches before it - lateness; a record adds to each of
its windows whose end is after the watermark, and is late when there is
none; every window whose end is at or before the watermark is emitted.
Checked: each (key, window) emitted once, in the batch the reference says,
with its count; the late count (records that missed a window: dropped
from it) in the REST job view, /metrics and `sluice monitor` equals the
reference's; some records were late and some out-of-order ones counted
(the ooo count is of records older than an earlier batch's largest event
time), so both paths ran.
"""
import collections
import glob
import json
import os
import random
import time
import urllib.request

from kharness import BOOTSTRAP, name, produce, require_broker, topic_create  # first
from harness import (BUILD, Cluster, check, http_base, jobs_table, log, run, saved_batches,
                     wait_for)

UNIT_MS = 300
LENGTH, SLIDE, LATENESS = 1000, 500, 1000
# a minute ago, a multiple of SLIDE: the broker keeps records by timestamp
T0 = (int(time.time() * 1000) - 60000) // SLIDE * SLIDE
KEYS = ("a", "b", "c")


def lines_of(d):
    out = []
    for path in sorted(glob.glob(os.path.join(d, "part-*"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("\t")
                key, _, t = k.rpartition("@")
                out.append((key, int(t), int(v)))
    return out


def saved(out, what):
    return {t: lines_of(d) for t, d in saved_batches(os.path.join(out, what)).items()}


def phases():
    rnd = random.Random(7)
    p1 = [(T0 + rnd.randrange(0, 3000), rnd.choice(KEYS)) for _ in range(60)]
    p2 = [(T0 + rnd.randrange(3000, 6000), rnd.choice(KEYS)) for _ in range(60)]
    # after phase 1 the watermark is about T0+2000: windows ending after it
    # are open (2500..3000 counts in [2500,3500)); those ending by T0+1500 not
    p2 += [(T0 + rnd.randrange(2500, 3000), k) for k in KEYS]
    p2 += [(T0 + rnd.randrange(0, 500), k) for k in KEYS]
    p3 = [(T0 + rnd.randrange(6000, 9000), rnd.choice(KEYS)) for _ in range(60)]
    p3 += [(T0 + rnd.randrange(5500, 6000), k) for k in KEYS]
    p3 += [(T0 + rnd.randrange(1000, 3000), k) for k in KEYS]
    p4 = [(T0 + 30000, "z")]  # moves the watermark past every window above
    for p in (p1, p2, p3):
        rnd.shuffle(p)
    return [p1, p2, p3, p4]


def windows_of(ts):
    """The window ends of [s, s + LENGTH), s a multiple of SLIDE, holding ts."""
    return [s + LENGTH for s in range((ts - LENGTH) // SLIDE * SLIDE, ts + 1, SLIDE)
            if s <= ts < s + LENGTH]


def reference(inputs):
    """{batch: {(key, end): count}} emitted, the late count (records that
    missed a window), and how many out-of-order records were counted."""
    open_w, emitted, late, ooo, max_ts = collections.Counter(), {}, 0, 0, None
    for t in sorted(inputs):
        wm = None if max_ts is None else max_ts - LATENESS
        batch_max = max_ts
        for key, ts, _ in inputs[t]:
            ends = [e for e in windows_of(ts) if wm is None or e > wm]
            late += len(ends) < len(windows_of(ts))
            ooo += bool(ends) and max_ts is not None and ts < max_ts
            for e in ends:
                open_w[(key, e)] += 1
            batch_max = ts if batch_max is None else max(batch_max, ts)
        fired = {w: n for w, n in open_w.items() if wm is not None and w[1] <= wm}
        for w in fired:
            del open_w[w]
        emitted[t] = fired
        max_ts = batch_max
    return emitted, late, ooo


def job_view(c, job):
    token = open(os.path.join(c.state, "reader.token")).read().strip()
    req = urllib.request.Request(http_base(c) + "/api/v1/jobs/" + job,
                                 headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def taken(out):
    return sum(len(v) for v in saved(out, "in").values())


def restart_master(c, out):
    """kill -9 of the master, a new one on the same state store: the
    watermark and the late count must come back from its checkpoint."""
    killed = max(saved_batches(os.path.join(out, "win")))
    c.master.kill()
    c.master.p.wait(5)
    c.start_master()
    wait_for(lambda: max(saved_batches(os.path.join(out, "win"))) > killed + 2 * UNIT_MS, 60,
             "batches after the master restart")
    log(f"master killed after batch {killed}, restarted")


def test(restart=False):
    require_broker()
    topic, job = name("evtime"), name("evt")
    topic_create(topic, 1)
    c = Cluster("kafka-evtime", conf={"sluice.heartbeat.interval": "200ms"})
    c.start_master()
    c.start_worker("w0", slots=3)
    c.start_worker("w1", slots=3)
    c.wait_workers(2)
    out = os.path.join(c.dir, "out")
    c.client("submit", "--start", os.path.join(BUILD, "tests", "jobs3", "evtime_job.so"),
             "--name", job, "--batch-interval", f"{UNIT_MS}ms",
             "--conf", f"source.brokers={BOOTSTRAP}", "--conf", f"source.group={job}",
             "--conf", f"source.topic={topic}", "--conf", f"output.path={out}",
             "--conf", f"win.length_ms={LENGTH}", "--conf", f"win.slide_ms={SLIDE}",
             "--conf", f"win.lateness_ms={LATENESS}")
    total = 0
    for i, p in enumerate(phases()):
        produce(topic, [f"{ts}\t{k}" for ts, k in p], timestamps=True)
        total += len(p)
        wait_for(lambda: taken(out) >= total, 60, f"phase {i + 1} taken by the job")
        if restart and i == 1:
            restart_master(c, out)
    last_in = max(t for t, v in saved(out, "in").items() if v)
    # the batch after the last record's emits what it closes
    wait_for(lambda: max(saved_batches(os.path.join(out, "win")), default=0) > last_in,
             30, "the windows the last record closes")
    c.client("stop", job)
    time.sleep(0.5)
    inputs, got = saved(out, "in"), saved(out, "win")
    check(taken(out) == total, f"every record taken once ({taken(out)} of {total})")
    want, late, ooo = reference(inputs)
    n_windows = sum(len(w) for w in want.values())
    seen = collections.Counter((k, e) for v in got.values() for k, e, _ in v)
    dup = [w for w, n in seen.items() if n > 1]
    check(not dup, f"each window emitted once (twice: {dup[:5]})")
    log("batches (time: input records, windows emitted, the reference's): " + ", ".join(
        f"{t}: {len(inputs.get(t, []))} {len(got[t])} {len(want.get(t, {}))}"
        for t in sorted(got) if inputs.get(t) or got[t] or want.get(t)))
    for t in sorted(got):
        g = {(k, e): n for k, e, n in got[t]}
        w = want.get(t, {})
        check(g == w, f"batch {t}: emitted {sorted(g.items())[:6]}, the reference "
                      f"{sorted(w.items())[:6]}")
    check(n_windows >= 20, f"the reference emits 20+ windows ({n_windows})")
    check(late >= 3, f"some records were late beyond the lateness ({late})")
    check(ooo >= 3, f"out-of-order records within the lateness were counted ({ooo})")
    view = job_view(c, job)
    check(view["late_records"] == late,
          f"the job view counts {view['late_records']} late records, the reference {late}")
    check(view["watermark_ms"] == T0 + 30000 - LATENESS,
          f"the job view's watermark {view.get('watermark_ms')}")
    with urllib.request.urlopen(http_base(c) + "/metrics", timeout=10) as r:
        metrics = r.read().decode()
    check(f'sluice_job_late_records_total{{job="{job}"}} {late}' in metrics,
          "/metrics shows the late records")
    mon = c.client("monitor", job, "--duration", "1s", "--no-output").stdout
    check(f"{late} late records dropped" in mon, "sluice monitor shows the late records")
    check(jobs_table(c)[job]["failed"] == 0, "no batch failed")
    c.stop()


if __name__ == "__main__":
    run(test)
