"""Socket word count (SPEC §3-4): a master and three workers with two slots
each run examples/socket_wordcount.so over a ~3 MB text fed on a socket by
the test, saving every batch with save_as_text_files.

- every published batch directory PREFIX-<batch ms> has _SUCCESS and one
  part file per reducer (default: the 6 slots), of "word<TAB>count" lines,
  each word once per part file;
- once every fed line is accounted for (bounded wait) and two more batches
  have been published, the per-word totals over all saved batches equal the
  counts Python's collections.Counter computes from the same text;
- every line is counted exactly once: each line's unique token L<n> has a
  total of exactly 1 and no other L-token appears;
- `sluice jobs` shows the job RUNNING with no failed batch and as many input
  records as lines fed.
"""
import collections
import os
import time

from harness import (LIB, Cluster, TextServer, check, counter_diff, jobs_table, line_tokens,
                     log, make_text, run, saved_batches, saved_totals, wait_all_lines,
                     wait_for, wait_more_batches)


def test():
    text, nlines = make_text(3 << 20, seed=7)
    want = collections.Counter(text.split())
    log(f"text: {len(text)} bytes, {nlines} lines, {len(want)} distinct words")

    c = Cluster("wordcount")
    c.start_master()
    for i in range(3):
        c.start_worker(f"w{i}", slots=2)
    c.wait_workers(3)

    server = TextServer(text, chunk=32768, pause=0.03)
    prefix = os.path.join(c.dir, "out", "wc")
    t0 = time.monotonic()
    r = c.client("submit", "--start", os.path.join(LIB, "socket_wordcount.so"), "--name", "wc",
                 "--batch-interval", "1s", "--conf", f"source.port={server.port}",
                 "--conf", f"output.path={prefix}", "--conf", "print.num=5")
    log(r.stdout.strip())

    wait_for(lambda: server.done.is_set(), 60, "the text to be sent")
    check(server.sent == len(text.encode()), f"all {server.sent} bytes sent")
    wait_all_lines(prefix, nlines, 120)
    last = max(saved_batches(prefix))
    wait_more_batches(prefix, last, 2, 30)
    took = time.monotonic() - t0
    log(f"all {nlines} lines counted {took:.1f}s after submit")

    got, batches, problems = saved_totals(prefix)
    check(not problems, f"saved output well formed: {problems[:5]}")
    check(len(batches) >= 3, f"{len(batches)} batches saved")
    nonempty = [t for t, parts in batches.items() if any(parts.values())]
    check(len(nonempty) >= 2, f"the text spans several batches: {len(nonempty)} non-empty")
    bad_parts = {t: sorted(p) for t, p in batches.items()
                 if sorted(p) != [f"part-{i:05d}" for i in range(6)]}
    check(not bad_parts, f"each batch has part-00000..part-00005 (6 reducers): {bad_parts}")

    tokens = line_tokens(got)
    check(len(tokens) == nlines and all(f"L{i}" in tokens for i in range(nlines)),
          f"every one of the {nlines} lines was counted ({len(tokens)} line tokens)")
    dup = {k: v for k, v in tokens.items() if v != 1}
    check(not dup, f"every line counted exactly once (duplicates: {list(dup.items())[:5]})")
    diff = counter_diff(got, want)
    check(diff == "", f"per-word totals equal an independent count {diff}")
    check(sum(got.values()) == sum(want.values()), f"{sum(want.values())} words in total")

    jobs = jobs_table(c)
    check(jobs.get("wc", {}).get("state") == "RUNNING", f"job listed RUNNING: {jobs}")
    check(jobs["wc"]["failed"] == 0, "no failed batch")
    check(jobs["wc"]["records"] == nlines, f"job counted {jobs['wc']['records']} input "
          f"records = {nlines} lines")
    out = c.master.log_text()
    check("Time: " in out, "the print() output went to the master's log")

    c.client("stop", "wc")
    server.stop()
    c.stop()


if __name__ == "__main__":
    run(test)
