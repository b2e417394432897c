"""Batch-time windows (issue 11): reduce_by_key_and_window (without the
inverse) and window() followed by reduce_by_key, for windows of 3 and 5
batches sliding by 1 and 2, against a reference computed from the batches.

tests/jobs3/window_job.c counts the words of a socket stream per batch
(OUT/batch-T: the batch assignment of every record) and over each window
(OUT/r3s1, r5s2, w3s1, w5s2). The test feeds lines for ~10 batches on two
workers, then checks:

- a window output exists exactly at the batch times that are multiples of
  its slide (every such batch while the job ran; none at the others);
- each window's counts equal the sum of the per-batch counts of the batches
  it covers, (T - length, T] (Python's Counter over the saved batches);
- no batch failed.
"""
import collections
import os
import random
import time

from harness import (Cluster, TextServer, check, counter_diff, jobs_table, log,
                     batch_counts, read_counts_dir, run, saved_batches, wait_for, BUILD)

UNIT_MS = 500
WINDOWS = {"r3s1": (3, 1), "r5s2": (5, 2), "w3s1": (3, 1), "w5s2": (5, 2)}


def make_lines(n, seed=11):
    rnd = random.Random(seed)
    return "".join(" ".join(f"w{rnd.randrange(40)}" for _ in range(rnd.randrange(1, 8)))
                   + "\n" for _ in range(n))


counts = batch_counts  # {batch ms: Counter} of the saved batches of a prefix


def raw_counts(prefix):
    """{batch ms: {word: count}} of the saved batches of prefix, zeros kept."""
    out = {}
    for t, d in saved_batches(prefix).items():
        parts, problems = read_counts_dir(d)
        check(not problems, f"{d} well formed: {problems[:3]}")
        out[t] = {w: n for c in parts.values() for w, n in c.items()}
    return out


def start(name, server, inverse=False):
    """A master, two workers and window_job reading server's lines (with
    inverse, also its incremental windows); returns (cluster, output
    directory)."""
    c = Cluster(name, conf={"sluice.heartbeat.interval": "200ms"})
    c.start_master()
    c.start_worker("w0", slots=2)
    c.start_worker("w1", slots=2)
    c.wait_workers(2)
    out = os.path.join(c.dir, "out")
    c.client("submit", "--start", os.path.join(BUILD, "tests", "jobs3", "window_job.so"),
             "--name", "win", "--batch-interval", f"{UNIT_MS}ms",
             "--conf", f"source.port={server.port}", "--conf", f"output.path={out}",
             "--conf", f"window.unit_ms={UNIT_MS}",
             "--conf", f"window.inverse={int(inverse)}")
    return c, out


def drain(c, server, out, text, job, windows):
    """Waits for every word and for the windows past it, stops the job and
    returns the per-batch counts, checked to hold every fed word once."""
    wait_for(lambda: server.done.is_set(), 60, "the text to be sent")
    wait_for(lambda: sum(counts(os.path.join(out, "batch")).values(),
                         collections.Counter()).total() >= len(text.split()),
             60, "every word counted in the per-batch output")
    last = max(saved_batches(os.path.join(out, "batch")))
    wait_for(lambda: all(max(saved_batches(os.path.join(out, n)), default=0) >= last +
                         5 * UNIT_MS for n in windows), 60, "windows past the last word")
    c.client("stop", job)
    time.sleep(0.5)
    per_batch = counts(os.path.join(out, "batch"))
    total = sum(per_batch.values(), collections.Counter())
    check(total == collections.Counter(text.split()),
          f"the per-batch outputs hold every fed word once ({total.total()} words)")
    return per_batch


def window_want(per_batch, name, t, length):
    """The reference of window name at t: the sum of its batches' counts;
    for the incremental form without a filter (i*), also 0 for every word
    of an earlier batch (Spark keeps a key whose value went back to 0)."""
    want = collections.Counter()
    for b in range(t - (length - 1) * UNIT_MS, t + 1, UNIT_MS):
        want.update(per_batch.get(b, {}))
    want = dict(want)
    if name.startswith("i"):
        for b, cnt in per_batch.items():
            for w in cnt if b <= t else ():
                want.setdefault(w, 0)
    return want


def finish_and_check(c, server, out, text, windows=WINDOWS):
    """Waits for every word and the windows past it, stops the job, checks
    every window against the per-batch outputs."""
    per_batch = drain(c, server, out, text, "win", windows)
    nonempty = [t for t, cnt in per_batch.items() if cnt]
    check(len(nonempty) >= 5, f"the words span {len(nonempty)} batches")
    first, final = min(per_batch), max(per_batch)
    for name, (length, slide) in windows.items():
        got = raw_counts(os.path.join(out, name))
        want_times = [t for t in range(first, final + 1, UNIT_MS) if t % (slide * UNIT_MS) == 0]
        missing = [t for t in want_times if t not in got]
        extra = [t for t in got if t % (slide * UNIT_MS) != 0]
        check(not missing and not extra,
              f"{name}: a window at each of {len(want_times)} multiples of the slide "
              f"(missing {missing[:3]}, off-slide {extra[:3]})")
        bad = []
        for t, cnt in got.items():
            want = window_want(per_batch, name, t, length)
            if cnt != want:
                bad.append(f"{t}: {counter_diff(cnt, want, 3)} (words only in the "
                           f"output: {sorted(set(cnt) - set(want))[:3]}, only in the "
                           f"reference: {sorted(set(want) - set(cnt))[:3]})")
        nonzero = sum(1 for cnt in got.values() if cnt)
        check(not bad, f"{name}: {len(got)} windows ({nonzero} non-empty) equal the sum of "
              f"their {length} batches: {bad[:3]}")
    check(jobs_table(c)["win"]["failed"] == 0, "no batch failed")


def test():
    text = make_lines(3000)
    # ~10 batches of input: 3000 lines in 150 chunks of 20 lines every 33 ms
    server = TextServer(text, chunk=len(text) // 150 + 1, pause=0.033)
    c, out = start("windows", server)
    finish_and_check(c, server, out, text)
    c.stop()


if __name__ == "__main__":
    run(test)
