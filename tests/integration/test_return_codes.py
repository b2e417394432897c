"""The job API's return-value contract (include/sluice/sluice.h): a user
function's non-zero return fails the task even when it is POSITIVE, and the
task is retried; a filter's positive return keeps the record. Also the
narrow assign_event_time operator, end to end.

One worker with two slots runs tests/jobs/return_codes.so (a generator of
200 words/s in 2 partitions, 500 ms batches: 50 records per task) whose map
returns +1 once in the whole run, whose filter returns 7 for every record,
and whose assign_event_time sets event time = 1000 x the word's number; a
foreach_partition writes every record with its event time.

- the master logs the failure naming the map, its node and "returned 1",
  then the retry's success at attempt 1; no batch failed;
- every (batch, partition) file of the first batches holds exactly 50
  records (none dropped by the filter's 7, none lost or doubled by the
  retry), each with event time 1000 x its word's number.
"""
import os
import re

from harness import JOBS, Cluster, check, jobs_table, log, run, wait_for


def test():
    c = Cluster("retcodes")
    c.start_master()
    c.start_worker("w0", slots=2)
    c.wait_workers(1)
    rc = os.path.join(c.dir, "rc")
    out = os.path.join(rc, "out")
    os.makedirs(out)
    c.client("submit", "--start", os.path.join(JOBS, "return_codes.so"), "--name", "rc",
             "--batch-interval", "500ms", "--conf", f"rc.dir={rc}", "--conf", "rc.value=1")

    def batches():
        done = {}
        for n in os.listdir(out):
            if ".tmp" not in n:
                b, p = n.split("-")
                done.setdefault(int(b), set()).add(int(p))
        return sorted(b for b, ps in done.items() if ps == {0, 1})

    wait_for(lambda: len(batches()) >= 4, 60, "four batches written")
    c.client("stop", "rc")
    mlog = c.master.log_text()
    fails = re.findall(r"job rc batch (\d+): task 0 of stage 0 failed on \S+ "
                       r"\(failure 1 of 4\): (.*)", mlog)
    log(f"failures: {fails}")
    check(len(fails) == 1, f"one task failure logged: {fails}")
    check("user function 'rc_map' (map, node 1) returned 1" in fails[0][1],
          f"the failure names the map, its node and the positive value: {fails[0][1]!r}")
    batch = fails[0][0]
    check(re.search(rf"job rc batch {batch}: task 0 of stage 0 succeeded on \S+ at "
                    r"attempt 1 after 1 failure", mlog) is not None,
          f"batch {batch}'s task succeeded at attempt 1")
    check(os.path.exists(os.path.join(out, f"{batch}-0")),
          f"the failed batch {batch} was written by its retry")
    for b in batches()[:4] + [int(batch)]:
        for p in (0, 1):
            with open(os.path.join(out, f"{b}-{p}")) as f:
                lines = f.read().split("\n")[:-1]
            check(len(lines) == 50, f"batch {b} partition {p}: 50 records ({len(lines)})")
            bad = [ln for ln in lines
                   if int(ln.split()[1]) != 1000 * int(ln.split()[0][1:])]
            check(not bad, f"batch {b} partition {p}: event times assigned ({bad[:3]})")
    check(jobs_table(c)["rc"]["failed"] == 0, "no batch failed")
    c.stop()


if __name__ == "__main__":
    run(test)
