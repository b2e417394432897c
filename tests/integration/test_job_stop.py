"""How a job ends (issue 8, "failure policy" and "graceful stop").

- sluice.batch.onFailure=stop (the default, Spark's behaviour): a batch
  that fails after all task retries stops the job: FAILED, with an error
  naming the batch and the policy, and no batch after it runs. With
  onFailure=continue the same failing job records the failure and goes on.
  (generator_wordcount saving under a path whose parent is a regular file:
  every save task fails.) The halted batch stays in the checkpoint: after
  the master is killed and restarted, and the path repaired, `sluice start`
  runs the job again and that very batch is saved, whole and exact, before
  the job goes on.
- sluice stop --graceful: the receivers stop (their last blocks reported),
  the job shows STOPPING while batches already received are processed, then
  STOPPED; every line fed before the stop is counted exactly once, although
  most batches had not even started when the stop was asked for.
"""
import collections
import os
import re
import socket
import threading
import time

from harness import (BUILD, Cluster, check, jobs_table, log, run, saved_batches, saved_totals,
                     wait_for)

INTERVAL = "500ms"


def failure_policy(c):
    blocker = os.path.join(c.dir, "a-file")
    with open(blocker, "w") as f:
        f.write("not a directory\n")
    lib = os.path.join(BUILD, "lib", "generator_wordcount.so")
    for name, policy in (("failstop", None), ("failgo", "continue")):
        args = ["submit", lib, "--name", name, "--batch-interval", INTERVAL,
                "--conf", "gen.rate=200", "--conf", "print.num=1",
                "--conf", f"output.path={blocker}/out/{name}"]
        if policy:
            args += ["--conf", f"sluice.batch.onFailure={policy}"]
        c.client(*args)
    row = wait_for(lambda: (lambda r: r if r and r["state"] == "FAILED" else None)(
        jobs_table(c).get("failstop")), 60, "failstop to stop with its first failed batch")
    check(row["failed"] == 1, f"exactly one batch failed before the job stopped: {row}")
    check(re.search(r"batch \d+ failed after all retries", row["error"]) and
          "sluice.batch.onFailure=stop" in row["error"],
          f"the error names the batch and the policy: {row['error']!r}")
    time.sleep(1.5)  # three intervals: nothing more runs
    again = jobs_table(c)["failstop"]
    check(again["failed"] == 1 and again["batches"] == row["batches"],
          f"no batch ran after the stop: {again}")
    wait_for(lambda: jobs_table(c)["failgo"]["failed"] >= 3, 60,
             "failgo to go on after failed batches")
    check(jobs_table(c)["failgo"]["state"] == "RUNNING", "failgo is still RUNNING")
    c.client("stop", "failgo")

    # the halted batch survives a master restart and runs at `sluice start`
    halted = int(re.search(r"batch (\d+) failed", row["error"]).group(1))
    c.master.kill()
    c.master.p.wait(5)
    c.start_master()
    check(jobs_table(c)["failstop"]["state"] == "FAILED", "failstop is FAILED after the restart")
    os.unlink(blocker)
    os.makedirs(blocker)
    r = c.client("start", "failstop")
    check("RUNNING" in r.stdout, f"sluice start runs it again: {r.stdout.strip()!r}")
    prefix = os.path.join(blocker, "out", "failstop")
    saved = wait_for(lambda: (lambda b: b if halted in b and len(b) >= 3 else None)(
        saved_batches(prefix)), 60, "the halted batch and two more saved")
    _, batches, problems = saved_totals(prefix)
    words = sum(sum(p.values()) for p in batches[halted].values())
    check(not problems and words == 8 * 100,
          f"the halted batch {halted} was saved whole: {words} words (800) {problems[:3]}")
    check(min(saved) == halted, f"no batch before it was saved: {sorted(saved)[:3]}")
    c.client("stop", "failstop")


class Source:
    """A loopback TCP source that sends lines to the receiver's connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.conn = None
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.conn, _ = self.sock.accept()

    def send(self, lines, seconds):
        t0 = time.monotonic()
        for i, line in enumerate(lines):
            self.conn.sendall((line + "\n").encode())
            delay = t0 + seconds * (i + 1) / len(lines) - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def close(self):
        for s in (self.conn, self.sock):
            if s is not None:
                s.close()


def saved_counts(prefix):
    total = collections.Counter()
    parent, base = os.path.split(prefix)
    for d in os.listdir(parent) if os.path.isdir(parent) else []:
        if re.fullmatch(re.escape(base) + r"-\d+", d):
            for name in os.listdir(os.path.join(parent, d)):
                if name.startswith("part-"):
                    with open(os.path.join(parent, d, name)) as f:
                        for line in f:
                            w, n = line.rstrip("\n").split("\t")
                            total[w] += int(n)
    return total


def graceful_stop(c):
    lib = os.path.join(BUILD, "tests", "jobs2", "slow_wordcount.so")
    src = Source()
    out = os.path.join(c.dir, "out", "graceful")
    c.client("submit", lib, "--name", "graceful", "--batch-interval", INTERVAL,
             "--conf", f"source.port={src.port}", "--conf", f"output.path={out}",
             "--conf", "slow.line_ms=25", "--conf", "reduce.partitions=1",
             "--conf", "spark.streaming.concurrentJobs=1")
    wait_for(lambda: src.conn is not None, 20, "the receiver to connect")
    lines = [f"g{i} common" for i in range(300)]
    src.send(lines, 1.5)
    r = c.client("stop", "--graceful", "graceful")
    check("STOPPING" in r.stdout, f"the job is STOPPING: {r.stdout.strip()!r}")
    t0 = time.monotonic()
    wait_for(lambda: jobs_table(c)["graceful"]["state"] == "STOPPED", 90,
             "the graceful stop to end", interval=0.3)
    log(f"graceful stop took {time.monotonic() - t0:.1f}s")
    got = saved_counts(out)
    want = collections.Counter(w for line in lines for w in line.split())
    diff = {w: (got.get(w, 0), n) for w, n in want.items() if got.get(w, 0) != n}
    check(not diff and set(got) == set(want),
          f"every line fed before the stop counted exactly once: {list(diff.items())[:10]}")
    check("stopped gracefully: everything received was processed" in c.master.log_text(),
          "the master logged the graceful end")
    src.close()


def test():
    c = Cluster("jobstop", conf={"sluice.heartbeat.interval": "200ms"})
    c.start_master()
    c.start_worker("w0", slots=2)
    c.wait_workers(1)
    failure_policy(c)
    graceful_stop(c)
    c.stop()


if __name__ == "__main__":
    run(test)
