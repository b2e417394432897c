"""The master's state directory across restarts (issue 8).

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
import subprocess

from harness import BIN, BUILD, Cluster, check, free_port, run, wait_for


def test():
    c = Cluster("mrestart", conf={"sluice.heartbeat.interval": "200ms"})
    c.start_master()
    c.start_worker("w0", slots=2)
    c.wait_workers(1)
    lib = os.path.join(BUILD, "lib", "generator_wordcount.so")
    c.client("submit", lib, "--name", "gen", "--batch-interval", "500ms",
             "--conf", "gen.rate=1000", "--conf", "print.num=1")

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

    # kill -9 and restart: the lock goes with the process
    c.master.kill()
    c.master.p.wait(5)
    c.start_master()
    c.wait_workers(1)
    r = c.client("submit", lib, "--name", "gen", "--batch-interval", "500ms",
                 "--conf", "gen.rate=1000", check=False)
    out = r.stderr + r.stdout
    check(r.returncode != 0 and "gen" in out and "already exists" in out,
          f"resubmitting 'gen' after the restart is refused clearly: {out.strip()!r}")
    check(c.master.alive(), "the master survived the resubmission")
    wait_for(lambda: c.client("workers", check=False).returncode == 0, 10,
             "the master to keep answering")
    c.stop()


if __name__ == "__main__":
    run(test)
