"""Shuffle across workers (SPEC §4): the same ~1.5 MB text is fed over a
socket to examples/socket_wordcount.so in two clusters:

  A: one worker with one slot, reduce.partitions=1 (no data crosses workers),
     its combine maps limited to 96 KiB (sluice.shuffle.spillThreshold) so
     that the map-side combine and the reduce spill sorted runs to disk and
     merge them back (worker/spill.c);
  B: three workers with two slots each, reduce.partitions=7 (more reducers
     than workers, so reduce tasks fetch buckets from other workers).

- both runs count every fed line exactly once, and their per-word totals
  are equal to each other and to an independent collections.Counter count;
- in B every published batch has exactly part-00000..part-00006, and every
  word of part-0000k hashes to reducer k (FNV-1a 64-bit of the key, mod 7:
  the workers' hash partitioning), so each word is in one part file only;
- in B all three workers ran tasks of the job (each logged loading it);
- in A both the map side and the reduce side spilled (the worker logged it),
  so A's totals check the spilled path and B's the in-memory one.
"""
import collections
import os
import time

from harness import (LIB, Cluster, TextServer, check, counter_diff, line_tokens, log,
                     make_text, run, saved_batches, saved_totals, wait_all_lines, wait_for,
                     wait_more_batches)


def fnv1a64(b):
    h = 1469598103934665603
    for x in b:
        h = ((h ^ x) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def count_in_cluster(name, text, nlines, workers, slots, reducers, worker_conf=None):
    c = Cluster(name)
    c.start_master()
    for i in range(workers):
        c.start_worker(f"w{i}", slots=slots, extra_conf=worker_conf)
    c.wait_workers(workers)
    server = TextServer(text, chunk=16384, pause=0.02)
    prefix = os.path.join(c.dir, "out", "wc")
    t0 = time.monotonic()
    c.client("submit", "--start", os.path.join(LIB, "socket_wordcount.so"), "--name", "wc",
             "--batch-interval", "1s", "--conf", f"source.port={server.port}",
             "--conf", f"output.path={prefix}", "--conf", f"reduce.partitions={reducers}")
    wait_for(lambda: server.done.is_set(), 60, f"{name}: the text to be sent")
    check(server.sent == len(text.encode()), f"{name}: all {server.sent} bytes sent")
    wait_all_lines(prefix, nlines, 120, f"{name}: every fed line counted")
    wait_more_batches(prefix, max(saved_batches(prefix)), 2, 30)
    log(f"{name}: counted in {time.monotonic() - t0:.1f}s")
    got, batches, problems = saved_totals(prefix)
    check(not problems, f"{name}: saved output well formed: {problems[:5]}")
    tokens = line_tokens(got)
    check(len(tokens) == nlines and all(v == 1 for v in tokens.values()),
          f"{name}: each of the {nlines} lines counted exactly once")
    loaded = [w for w, p in c.workers.items() if "loaded job wc" in p.log_text()]
    logs = "".join(p.log_text() for p in c.workers.values())
    spilled = {side for side, line in (("map", "map-side combine spilled"),
                                       ("reduce", "reduce spilled")) if line in logs}
    c.client("stop", "wc")
    server.stop()
    c.stop()
    return got, batches, loaded, spilled


def test():
    text, nlines = make_text(3 << 19, seed=11)
    want = collections.Counter(text.split())
    log(f"text: {len(text)} bytes, {nlines} lines, {len(want)} distinct words")

    single, _, _, spilled = count_in_cluster(
        "shuffle1", text, nlines, workers=1, slots=1, reducers=1,
        worker_conf={"sluice.shuffle.spillThreshold": "96k"})
    diff = counter_diff(single, want)
    check(diff == "", f"single worker, 1 reducer: totals equal an independent count {diff}")
    check(spilled == {"map", "reduce"}, f"single worker: both sides spilled: {spilled}")

    multi, batches, loaded, _ = count_in_cluster("shuffle3", text, nlines, workers=3, slots=2,
                                              reducers=7)
    diff = counter_diff(multi, single)
    check(diff == "", f"3 workers, 7 reducers: totals equal the single-worker run {diff}")
    diff = counter_diff(multi, want)
    check(diff == "", f"3 workers, 7 reducers: totals equal an independent count {diff}")

    names = [f"part-{i:05d}" for i in range(7)]
    bad = {t: sorted(p) for t, p in batches.items() if sorted(p) != names}
    check(not bad, f"every batch has exactly 7 part files: {bad}")
    misplaced = [(t, part, w) for t, parts in batches.items() for part, cnt in parts.items()
                 for w in cnt if fnv1a64(w.encode()) % 7 != int(part[5:])]
    check(not misplaced, f"every word is in the part file of its hash partition: "
          f"{misplaced[:5]}")
    check(len(loaded) == 3, f"all three workers ran tasks of the job: {loaded}")


if __name__ == "__main__":
    run(test)
