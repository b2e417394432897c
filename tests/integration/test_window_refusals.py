"""Windows, state and event time refused at submit (issue 11): the real
`sluice submit` loads tests/jobs/windows_cases.so with --conf case=NAME and
must exit 1 with a message naming the node and the numbers:

- a window length, or a slide, that is not a multiple of the batch interval;
- a slide longer than the window;
- a negative allowed lateness, a zero window length, a negative state timeout.

The master lists no job afterwards. A well-formed graph of every new kind
("valid", its event-time windows not multiples of the interval) is then
accepted: every kind is planned, so the refusals are about the numbers and
not the library.
"""
import os

from harness import JOBS, Cluster, check, jobs_table, log, run

LIB = os.path.join(JOBS, "windows_cases.so")

CASES = [
    ("length_not_multiple", "1s",
     ["node 3 'clicks' (window)", "length 2500 ms", "slide 1000 ms",
      "multiples of the batch interval 1000 ms"]),
    ("slide_not_multiple", "1s",
     ["node 3 (reduce_by_key_and_window)", "length 4000 ms", "slide 1500 ms",
      "batch interval 1000 ms"]),
    ("slide_gt_length", "1s",
     ["node 3 (count_by_value_and_window)", "slide 4000 ms", "window length 2000 ms"]),
    ("negative_lateness", "1s",
     ["node 3 (event_time_window)", "allowed lateness must be >= 0 ms, got -5"]),
    ("zero_length", "1s",
     ["node 3 (count_by_window)", "must be > 0 ms, got 0 and 1000"]),
    ("negative_timeout", "1s",
     ["node 3 (map_with_state)", "timeout must be >= 0 ms", "-1000"]),
]


def test():
    c = Cluster("winrefuse")
    c.start_master()
    check(os.path.exists(LIB), f"{LIB} exists")
    for case, interval, needles in CASES:
        r = c.client("submit", "--start", LIB, "--name", "win", "--batch-interval", interval,
                     "--conf", f"case={case}", check=False)
        err = r.stderr.strip()
        log(f"{case} @ {interval}: exit {r.returncode}: {err}")
        check(r.returncode == 1, f"{case}: refused with exit code 1 (got {r.returncode})")
        missing = [n for n in needles if n not in err]
        check(not missing, f"{case}: stderr names the node and numbers (missing {missing})")
        check("submitted" not in r.stdout, f"{case}: nothing reported as submitted")
    check(jobs_table(c) == {}, "the master lists no job")
    # every kind is planned now (event_time_window as a stateful node): the
    # valid graph, with windows not multiples of 500 ms only on event time
    r = c.client("submit", LIB, "--name", "winok", "--batch-interval", "500ms",
                 "--conf", "case=valid", check=False)
    check(r.returncode == 0, f"valid: submitted (exit {r.returncode}: {r.stderr.strip()})")
    check(list(jobs_table(c)) == ["winok"], "the master lists the valid job only")
    c.stop()


if __name__ == "__main__":
    run(test)
