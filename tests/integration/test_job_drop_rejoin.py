"""A stopped job's files on a worker that was down when the job was dropped,
and the drop across a master restart (issue 10).

Two workers; slow_wordcount with its receiver's blocks written to the
write-ahead log and replicated (MEMORY_AND_DISK_SER_2), fed faster than it
processes so batches queue. The receiver's worker is killed with SIGKILL
(its WAL segments stay on its disk), the job is stopped, the queued batches
run from the replicas on the other worker, and the master drops the job on
the one live worker. Then:

- the killed worker is restarted on the same work directory: it replays its
  WAL, registers, is told the job is stopped and deletes the job's WAL
  segments and blocks;
- the master is killed with SIGKILL and restarted: the job is still STOPPED,
  every worker that registers again is told to drop it once more, which
  deletes nothing and breaks nothing (the drop is idempotent).
"""
import os
import re
import time

from bp_common import PacedSource, dir_bytes
from harness import BUILD, Cluster, check, jobs_table, log, run, wait_for
from receiver_common import receiver_placements

JOB = "dropme"


def job_files(c, name, job_id):
    d = os.path.join(c.dir, name)
    mine = (lambda f: f.startswith((f"rcv-{job_id}-", f"shf-{job_id}-")))
    return (dir_bytes(os.path.join(d, "blocks"), mine) +
            dir_bytes(os.path.join(d, "wal", str(job_id))))


def drops(w, job_id):
    return len(re.findall(rf"job {job_id} dropped: ", w.log_text()))


def test():
    c = Cluster("droprejoin", conf={"sluice.heartbeat.interval": "200ms"})
    c.start_master()
    for n in ("w1", "w2"):
        c.start_worker(n, slots=1)
    c.wait_workers(2)
    names = {wait_for(lambda n=n: c.worker_id(n), 5, f"{n} id"): n for n in c.workers}
    src = PacedSource(600, 6)
    out = os.path.join(c.dir, "out", "counts")
    c.client("submit", "--start", os.path.join(BUILD, "tests", "jobs2", "slow_wordcount.so"),
             "--name", JOB, "--batch-interval", "1s",
             "--conf", f"source.port={src.port}", "--conf", f"output.path={out}",
             "--conf", "slow.line_ms=2", "--conf", "reduce.partitions=1",
             "--conf", "spark.streaming.concurrentJobs=1",
             "--conf", "sluice.storage.level=MEMORY_AND_DISK_SER_2",
             "--conf", "spark.streaming.receiver.writeAheadLog.enable=true")
    job_id = int(jobs_table(c)[JOB]["id"])
    victim = names[wait_for(lambda: receiver_placements(c, JOB), 20, "receiver started")[0]]
    other = "w2" if victim == "w1" else "w1"
    wait_for(lambda: job_files(c, victim, job_id) > 0, 20,
             f"{victim} holds WAL segments of the job")
    time.sleep(2)  # a few batches queue behind the slow map
    c.workers[victim].kill()
    c.workers[victim].p.wait(5)
    held = job_files(c, victim, job_id)
    log(f"{victim} killed holding {held} bytes of the job")
    check(held > 0, f"the killed worker {victim} left files of the job on its disk")
    # the master must know it is gone (heartbeat timeout) before the stop
    vid = c.worker_id(victim)
    wait_for(lambda: c.workers_table().get(vid, {}).get("state") not in (None, "ALIVE"), 20,
             f"the master to see {victim} lost")
    c.client("stop", JOB)
    src.stop()
    wait_for(lambda: "stopped and drained: its data dropped on 1 workers" in
             c.master.log_text(), 120, "the job dropped on the one live worker")
    check(drops(c.workers[other], job_id) == 1, f"{other} dropped the job")
    check(job_files(c, victim, job_id) == held,
          f"{victim}, down, still holds its files ({job_files(c, victim, job_id)} bytes)")

    c.start_worker(victim, slots=1)
    wait_for(lambda: drops(c.workers[victim], job_id) >= 1, 20,
             f"the restarted {victim} told to drop the stopped job")
    check(job_files(c, victim, job_id) == 0,
          f"{victim} deleted the job's files when it came back "
          f"({job_files(c, victim, job_id)} bytes left)")

    before = {n: drops(c.workers[n], job_id) for n in c.workers}
    c.master.kill()
    c.master.p.wait(5)
    c.start_master()
    c.wait_workers(2)
    wait_for(lambda: all(drops(c.workers[n], job_id) > before[n] for n in c.workers), 20,
             "every worker told again to drop the job after the master restart")
    check(jobs_table(c)[JOB]["state"] == "STOPPED", "the job is still STOPPED")
    check(all(job_files(c, n, job_id) == 0 for n in c.workers),
          "no worker holds anything of the job")
    check(all(p.alive() for p in [c.master] + list(c.workers.values())),
          "master and workers still running")
    c.stop()


if __name__ == "__main__":
    run(test)
