"""reduce_by_key_and_window with the inverse function (issue 11, Spark's
incremental form): windows of 3 and 5 batches sliding by 1 and 2, against
test_windows.py's reference over the same per-batch counts.

window_job.c with window.inverse=1 adds four incremental windows (sum,
inverse sl_sub_i64): i3s1 and i5s2 without a filter, whose words keep a 0
once their count went back to 0 (as in Spark: the reference then lists
every word of an earlier batch), and f3s1 and f5s2 with filter
sl_nonzero_i64, which drops them (the reference is the recomputed sum).
The recomputed windows of the same job are checked as in test_windows.py.
The input ends some batches before the job stops, so every word's count
goes back to 0 and the filter has zero keys to drop.
"""
import os

from harness import TextServer, check, run
from test_windows import WINDOWS, finish_and_check, make_lines, raw_counts, start

INVERSE = {"i3s1": (3, 1), "i5s2": (5, 2), "f3s1": (3, 1), "f5s2": (5, 2)}


def test():
    text = make_lines(1500)
    # ~6 batches of input: 1500 lines in 75 chunks every 33 ms
    server = TextServer(text, chunk=len(text) // 75 + 1, pause=0.033)
    c, out = start("windows-inv", server, inverse=True)
    finish_and_check(c, server, out, text, dict(WINDOWS, **INVERSE))
    for name in INVERSE:
        zeros = sum(1 for cnt in raw_counts(os.path.join(out, name)).values()
                    for n in cnt.values() if n == 0)
        check((zeros > 0) == name.startswith("i"),
              f"{name}: {zeros} words at 0 (kept without a filter, dropped with one)")
    c.stop()


if __name__ == "__main__":
    run(test)
