"""One batch's data is computed once for all its outputs (issue 8, "model").

generator_wordcount with output.path has two outputs over one upstream: a
print of the top words (reduce_by_key -> transform -> print) and a save of
the counts (reduce_by_key -> save). With 4 generator partitions and 4
reducers (two 2-slot workers) the map stage of reduce_by_key (4 tasks) is
planned by the first output job and only read by the second, so a batch
runs 4 + 4 + 1 (print) + 4 (save) = 13 tasks, not 17 as when each output
recomputed its upstream. `sluice monitor` shows the task count per batch;
the saved counts stay exact (8 words per generated line) and the printed
top word's count agrees with the saved count of that word.
"""
import os
import re

from harness import (BUILD, Cluster, check, run, saved_batches, saved_totals, wait_for)

RATE = 4000
INTERVAL_MS = 1000


def test():
    c = Cluster("shared", conf={"sluice.heartbeat.interval": "200ms"})
    c.start_master()
    c.start_worker("w0", slots=2)
    c.start_worker("w1", slots=2)
    c.wait_workers(2)
    prefix = os.path.join(c.dir, "out", "gen")
    c.client("submit", os.path.join(BUILD, "lib", "generator_wordcount.so"), "--name", "gen",
             "--batch-interval", f"{INTERVAL_MS}ms", "--conf", f"gen.rate={RATE}",
             "--conf", "gen.partitions=4", "--conf", f"output.path={prefix}",
             "--conf", "print.num=1")
    wait_for(lambda: len(saved_batches(prefix)) >= 3, 60, "three saved batches")
    mon = c.client("monitor", "gen", "--duration", "1s").stdout
    done = re.findall(r"batch (\d+)\s+DONE .* tasks (\d+) ", mon)
    check(len(done) >= 3, f"monitor lists finished batches: {mon[:300]!r}")
    counts = {int(n) for _, n in done}
    check(counts == {13}, f"every batch ran 13 tasks (upstream once): {sorted(counts)}")

    _, batches, problems = saved_totals(prefix)
    check(not problems, f"saved output well formed: {problems[:5]}")
    per_batch = 8 * RATE * INTERVAL_MS // 1000
    words = {t: sum(sum(p.values()) for p in parts.values()) for t, parts in batches.items()}
    check(all(n == per_batch for n in words.values()),
          f"each saved batch holds {per_batch} words: {words}")
    # the printed top word of a saved batch matches its saved count
    shown = re.findall(r"batch (\d+)\s+DONE[^\n]*\n\s+(\S+)\t(\d+)", mon)
    check(shown, f"monitor shows the printed top words: {mon[:300]!r}")
    agree = 0
    for t, word, n in shown:
        if int(t) in batches:
            saved = sum(p.get(word, 0) for p in batches[int(t)].values())
            check(saved == int(n), f"batch {t}: top word {word} printed {n}, saved {saved}")
            agree += 1
    check(agree > 0, "at least one printed batch was compared with its saved counts")
    c.client("stop", "gen")
    c.stop()


if __name__ == "__main__":
    run(test)
