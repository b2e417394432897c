"""The master's state directory across restarts: driver recovery (issue 8).

- a job that was RUNNING when the master was killed with SIGKILL is resumed
  by the restarted master from its checkpoint (twice, each kill while a
  batch is in flight): generator_wordcount saving every batch keeps going,
  the batches whose time passed while the master was down are generated
  (one per interval: no batch time is missing between the first and the
  last saved batch), the unfinished batch is re-run or, if it had been
  published, not re-run; every saved batch holds exactly the generated
  words (none lost, none twice), and batch time never goes backwards;
- a stored library whose bytes no longer match the job's hash is refused
  at restart with both hashes named (the job is listed FAILED, the master
  runs);

- one master per state directory: a second sluice-master started on the same
  --state-dir refuses to start, names the pid of the one holding it, and
  leaves the first one's master.url alone;
- after the master is killed with SIGKILL and restarted on the same state
  directory, submitting a job under a name that already exists gives a
  clear error (no crash: the master keeps answering; in the sanitizer build
  ASan would abort it on the old use-after-free);
- a killed master's lock is released by the kernel: the restarted master
  starts without help.
"""
import os
import sqlite3
import subprocess
import time

from harness import (BIN, BUILD, Cluster, check, free_port, jobs_table, log, run,
                     saved_batches, saved_totals, wait_for, wait_more_batches)

RATE = 20000
INTERVAL_MS = 500


def kill_mid_batch(c, prefix):
    """SIGKILLs the master ~60 ms after a batch time (its tasks running)."""
    wait_more_batches(prefix, max(saved_batches(prefix)), 1, 60)
    now_ms = time.time() * 1000
    next_ms = (now_ms // INTERVAL_MS + 1) * INTERVAL_MS
    time.sleep((next_ms - now_ms + 60) / 1000)
    c.master.kill()
    c.master.p.wait(5)
    return next_ms


def restart(c, prefix, killed_at_ms):
    """Restarts the master; returns seconds until a batch later than the
    kill is published (restart -> first batch processed)."""
    t0 = time.monotonic()
    c.start_master()
    wait_for(lambda: any(t > killed_at_ms for t in saved_batches(prefix)), 60,
             "a batch after the restart")
    return time.monotonic() - t0


def test():
    c = Cluster("mrestart", conf={"sluice.heartbeat.interval": "200ms"})
    c.start_master()
    c.start_worker("w0", slots=2)
    c.start_worker("w1", slots=2)
    c.wait_workers(2)
    lib = os.path.join(BUILD, "lib", "generator_wordcount.so")
    prefix = os.path.join(c.dir, "out", "gen")
    c.client("submit", "--start", lib, "--name", "gen", "--batch-interval", f"{INTERVAL_MS}ms",
             "--conf", f"gen.rate={RATE}", "--conf", "print.num=1",
             "--conf", f"output.path={prefix}")
    wait_for(lambda: len(saved_batches(prefix)) >= 3, 60, "three saved batches")

    # a second master on the same state directory
    with open(os.path.join(c.state, "master.url")) as f:
        url_before = f.read()
    r = subprocess.run([os.path.join(BIN, "sluice-master"), "--state-dir", c.state,
                        "--port", str(free_port())], capture_output=True, text=True,
                       env=c.env, timeout=20)
    check(r.returncode != 0, f"a second master on the same state dir exits ({r.returncode})")
    want = f"in use by another sluice-master (pid {c.master.p.pid})"
    check(want in r.stderr, f"its error names the holder's pid: {r.stderr.strip()!r}")
    with open(os.path.join(c.state, "master.url")) as f:
        check(f.read() == url_before, "master.url still names the first master")
    check(c.master.alive(), "the first master still runs")

    # kill -9 mid-batch and restart, twice: the lock goes with the process,
    # the job resumes from its checkpoint
    for k in range(2):
        killed = kill_mid_batch(c, prefix)
        log(f"master killed at batch {killed:.0f}")
        time.sleep(1.0)  # two intervals pass while it is down
        secs = restart(c, prefix, killed)
        log(f"restart {k + 1}: first batch after the kill published {secs:.2f}s after "
            "the master was started again")
        check("job gen (id 1) resumed from its checkpoint" in c.master.log_text(),
              "the restarted master resumed job gen from its checkpoint")
        check(jobs_table(c)["gen"]["state"] == "RUNNING", "gen is RUNNING again")
    wait_more_batches(prefix, max(saved_batches(prefix)), 3, 60)
    r = c.client("submit", "--start", lib, "--name", "gen", "--batch-interval", "500ms",
                 "--conf", "gen.rate=1000", check=False)
    out = r.stderr + r.stdout
    check(r.returncode != 0 and "gen" in out and "already exists" in out,
          f"resubmitting 'gen' after the restart is refused clearly: {out.strip()!r}")
    check(c.master.alive(), "the master survived the resubmission")
    wait_for(lambda: c.client("workers", check=False).returncode == 0, 10,
             "the master to keep answering")

    c.client("stop", "gen")
    time.sleep(1.0)
    per_batch = 8 * RATE * INTERVAL_MS // 1000
    _, batches, problems = saved_totals(prefix)
    check(not problems, f"saved output well formed: {problems[:5]}")
    words = {t: sum(sum(p.values()) for p in parts.values()) for t, parts in batches.items()}
    bad = {t: n for t, n in words.items() if n != per_batch}
    check(not bad, f"each of {len(batches)} saved batches holds exactly {per_batch} words "
          f"(none lost, none counted twice): {dict(list(bad.items())[:5])}")
    # the job's totals are checkpointed: they count every batch since the
    # submission, not only those since the last restart
    row = jobs_table(c)["gen"]
    lines = RATE * INTERVAL_MS // 1000
    check(row["batches"] == len(batches) and row["records"] == lines * len(batches),
          f"sluice jobs counts {row['batches']} batches, {row['records']} records across "
          f"two master restarts; {len(batches)} batches of {lines} lines were saved")
    times = sorted(batches)
    gaps = [(a, b) for a, b in zip(times, times[1:]) if b - a != INTERVAL_MS]
    check(not gaps, f"every batch time from {times[0]} to {times[-1]} was generated and "
          f"saved, including those that passed while the master was down: {gaps[:5]}")

    # a stored library that no longer matches the job's hash
    c.master.kill()
    c.master.p.wait(5)
    db = sqlite3.connect(os.path.join(c.state, "master.db"))
    with db:
        db.execute("UPDATE jobs SET state = 'RUNNING' WHERE name = 'gen'")
        db.execute("UPDATE libraries SET data = x'00'")
    db.close()
    c.start_master()
    err = wait_for(lambda: (lambda j: j.get("gen", {}).get("state") == "FAILED" and j["gen"])(
        jobs_table(c)), 10, "gen listed FAILED")["error"]
    check("does not match" in err and "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
          in err, f"the error names the stored library's hash: {err!r}")
    check(c.master.alive(), "the master runs")
    c.stop()


if __name__ == "__main__":
    run(test)
