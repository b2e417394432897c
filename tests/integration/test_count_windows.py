"""Windowed counts (issue 11): count_by_window and count_by_value_and_window
for windows of 3 and 5 batches sliding by 1 and 2, against a reference
computed from the batches.

tests/jobs3/count_window_job.c counts the words of a socket stream per batch
(OUT/batch-T: the batch assignment of every word) and over each window
(OUT/c3s1, c5s2: the number of words, one line; OUT/v3s1, v5s2: per word).
The test feeds lines for ~10 batches on two workers, then checks:

- a window output exists exactly at the batch times that are multiples of
  its slide (every such batch while the job ran; none at the others);
- each count_by_value_and_window equals the sum of the per-batch counts of
  the batches it covers, (T - length, T] (Python's Counter);
- each count_by_window is one line holding the number of words of those
  batches, 0 for a window with none;
- no batch failed.
"""
import collections
import os

from harness import (Cluster, TextServer, check, counter_diff, jobs_table, run,
                     saved_batches, BUILD)
from test_windows import counts, drain, make_lines

UNIT_MS = 500
WINDOWS = {"c3s1": (3, 1), "c5s2": (5, 2), "v3s1": (3, 1), "v5s2": (5, 2)}


def window_totals(prefix):
    """{batch ms: the number in the window's one line, or a problem string}."""
    out = {}
    for t, d in saved_batches(prefix).items():
        lines = []
        for name in sorted(os.listdir(d)):
            if name.startswith("part-"):
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    lines += [ln.rstrip("\n") for ln in f]
        ok = len(lines) == 1 and lines[0].isdigit()
        out[t] = int(lines[0]) if ok else f"not one number: {lines[:3]}"
    return out


def window_want(per_batch, t, length):
    want = collections.Counter()
    for b in range(t - (length - 1) * UNIT_MS, t + 1, UNIT_MS):
        want.update(per_batch.get(b, {}))
    return want


def check_times(name, got, slide, first, final):
    want_times = [t for t in range(first, final + 1, UNIT_MS) if t % (slide * UNIT_MS) == 0]
    missing = [t for t in want_times if t not in got]
    extra = [t for t in got if t % (slide * UNIT_MS) != 0]
    check(not missing and not extra,
          f"{name}: a window at each of {len(want_times)} multiples of the slide "
          f"(missing {missing[:3]}, off-slide {extra[:3]})")


def test():
    text = make_lines(3000, seed=23)
    server = TextServer(text, chunk=len(text) // 150 + 1, pause=0.033)
    c = Cluster("cwindows", conf={"sluice.heartbeat.interval": "200ms"})
    c.start_master()
    c.start_worker("w0", slots=2)
    c.start_worker("w1", slots=2)
    c.wait_workers(2)
    out = os.path.join(c.dir, "out")
    c.client("submit", "--start",
             os.path.join(BUILD, "tests", "jobs3", "count_window_job.so"),
             "--name", "cwin", "--batch-interval", f"{UNIT_MS}ms",
             "--conf", f"source.port={server.port}", "--conf", f"output.path={out}",
             "--conf", f"window.unit_ms={UNIT_MS}")
    per_batch = drain(c, server, out, text, "cwin", WINDOWS)
    check(sum(1 for cnt in per_batch.values() if cnt) >= 5, "the words span 5+ batches")
    first, final = min(per_batch), max(per_batch)
    for name, (length, slide) in WINDOWS.items():
        prefix = os.path.join(out, name)
        got = window_totals(prefix) if name.startswith("c") else counts(prefix)
        check_times(name, got, slide, first, final)
        bad = []
        for t, val in got.items():
            want = window_want(per_batch, t, length)
            if name.startswith("c") and val != want.total():
                bad.append(f"{t}: got {val}, want {want.total()}")
            elif name.startswith("v") and val != want:
                bad.append(f"{t}: {counter_diff(val, want, 3)}")
        zeros = sum(1 for v in got.values() if v in (0, collections.Counter()))
        check(zeros > 0, f"{name}: the windows after the last word count 0 ({zeros})")
        check(not bad, f"{name}: {len(got)} windows equal the counts of their "
              f"{length} batches: {bad[:3]}")
    check(jobs_table(c)["cwin"]["failed"] == 0, "no batch failed")
    c.stop()


if __name__ == "__main__":
    run(test)
