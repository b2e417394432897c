"""Task retry (SPEC §4: "a failed task is retried elsewhere"): three workers
with two slots run tests/jobs/fail_once.so, a socket word count whose
flat_map fails exactly once in the whole run (attempt 0 of partition 0 of
the first batch with data; a marker file makes it once only).

- the master logs that task 0 of stage 0 failed on worker X (failure 1 of
  4) with the user function's error, then that it succeeded on a different
  worker Y at attempt 1;
- the job's own markers agree: the failing attempt ran in X's process and
  the successful retry of the same batch and partition in Y's;
- no batch failed, and the saved word counts are still exact: every fed line
  counted exactly once and per-word totals equal an independent count.
"""
import collections
import os
import re
import time

from harness import (JOBS, Cluster, TextServer, check, counter_diff, jobs_table,
                     line_tokens, log, make_text, run, saved_batches, saved_totals,
                     wait_all_lines, wait_for, wait_more_batches)


def test():
    text, nlines = make_text(1 << 20, seed=5)
    want = collections.Counter(text.split())
    log(f"text: {len(text)} bytes, {nlines} lines")

    c = Cluster("retry")
    c.start_master()
    for i in range(3):
        c.start_worker(f"w{i}", slots=2)
    c.wait_workers(3)
    ids = {n: wait_for(lambda n=n: c.worker_id(n), 5, f"{n} id") for n in c.workers}
    by_pid = {p.p.pid: ids[n] for n, p in c.workers.items()}

    server = TextServer(text, chunk=16384, pause=0.02)
    prefix = os.path.join(c.dir, "out", "wc")
    marks = os.path.join(c.dir, "marks")
    os.makedirs(marks)
    t0 = time.monotonic()
    c.client("submit", "--start", os.path.join(JOBS, "fail_once.so"), "--name", "failonce",
             "--batch-interval", "1s", "--conf", f"source.port={server.port}",
             "--conf", f"output.path={prefix}", "--conf", f"fail.dir={marks}")
    wait_for(lambda: server.done.is_set(), 60, "the text to be sent")
    wait_all_lines(prefix, nlines, 120)
    wait_more_batches(prefix, max(saved_batches(prefix)), 2, 30)
    log(f"counted in {time.monotonic() - t0:.1f}s")

    # what the job itself recorded
    with open(os.path.join(marks, "failed")) as f:
        pid, batch = (int(x) for x in f.read().split())
    failed_on = by_pid.get(pid)
    check(failed_on is not None, f"the failing attempt ran in a worker process ({pid})")
    retries = [n for n in os.listdir(marks) if n.startswith(f"retry-{batch}-")]
    check(retries == [f"retry-{batch}-1"], f"partition 0 of batch {batch} was retried once "
          f"as attempt 1: {sorted(os.listdir(marks))}")
    with open(os.path.join(marks, retries[0])) as f:
        retried_on = by_pid.get(int(f.read()))
    check(retried_on is not None and retried_on != failed_on,
          f"the retry ran on another worker ({failed_on} -> {retried_on})")

    # what the master logged
    mlog = c.master.log_text()
    fails = re.findall(r"job failonce batch (\d+): task 0 of stage 0 failed on (\S+) "
                       r"\(failure 1 of 4\): (.*)", mlog)
    check(len(fails) == 1 and fails[0][:2] == (str(batch), failed_on),
          f"master logged the failure on {failed_on}: {fails}")
    check("fail_once_split" in fails[0][2] and "returned -1" in fails[0][2],
          f"the failure names the user function: {fails[0][2]!r}")
    ok = re.findall(rf"job failonce batch {batch}: task 0 of stage 0 succeeded on (\S+) "
                    r"at attempt (\d+) after 1 failure", mlog)
    check(ok == [(retried_on, "1")], f"master logged the retry's success on {retried_on}: {ok}")
    check(f"job failonce batch {batch} done" in mlog, f"batch {batch} done")

    got, batches, problems = saved_totals(prefix)
    check(not problems, f"saved output well formed: {problems[:5]}")
    check(batch in batches, f"the batch with the failure ({batch}) was saved")
    tokens = line_tokens(got)
    check(len(tokens) == nlines and all(v == 1 for v in tokens.values()),
          f"each of the {nlines} lines counted exactly once")
    diff = counter_diff(got, want)
    check(diff == "", f"per-word totals equal an independent count {diff}")
    jobs = jobs_table(c)
    check(jobs["failonce"]["failed"] == 0 and jobs["failonce"]["state"] == "RUNNING",
          f"no batch failed: {jobs}")

    c.client("stop", "failonce")
    server.stop()
    c.stop()


if __name__ == "__main__":
    run(test)
