"""State across the loss of a worker (issue 11), in two phases of words.

First a worker holding state partitions is killed with SIGKILL mid-stream.
Each partition's state is copied after every batch to a replica worker (a
full checkpoint every checkpoint interval, the batch's delta otherwise:
worker/stateops.c); the master moves the lost worker's partitions to their
replicas, which rebuild them from the checkpoint and the deltas since, and
gives the partitions a new replica.

Then, once the first phase is counted, the master is killed, the other
worker holding partitions is killed while the master is down, and the
master is restarted; that worker never comes back. The restarted master
declares it lost one worker timeout after its start, as any worker that
does not register again, and its partitions move to their replicas and are
rebuilt the same way (before, the master waited for it forever and the job
stalled). The feed pauses over the master's restart, as in
test_state_restart.py.

Three workers; the ones killed hold state partitions but not the socket
receiver (a socket cannot replay what a receiver had read). The same job
and checks as test_state.py (state_common.py): every batch's running totals
equal the initial state plus the cumulative per-batch counts, and each idle
word is reported once, on time; the rebuilds are seen in the logs.
"""
import collections
import os
import re

from harness import check, log, run, saved_batches, wait_for
from state_common import (FeedServer, check_all, counts, drain, kill_master, make_phases,
                          start)

NAMES = ("w0", "w1", "w2")


def receiver_of(c):
    receiver = [n for n in NAMES if "receiving from" in c.workers[n].log_text()]
    check(len(receiver) == 1, f"one receiver ({receiver})")
    return receiver[0]


def pick_victim(c):
    """A worker that holds state partitions and not the receiver, one with
    a partition of update_state_by_key (the job's first state node) if
    there is one."""
    ids = {n: c.worker_id(n) for n in NAMES}
    receiver = receiver_of(c)
    found = re.findall(r"of node (\d+) placed on worker (\S+)", c.master.log_text())
    placed = [w for _, w in found]
    first = [w for node, w in found if int(node) == min(int(x) for x, _ in found)]
    victims = sorted((n for n in NAMES if n != receiver and ids[n] in placed),
                     key=lambda n: ids[n] not in first)
    check(victims, f"a worker to kill (receiver on {receiver}, "
          f"partitions on {sorted(set(placed))})")
    return victims[0]


def lose_while_master_down(c, out, receiver, victim):
    """Kills the master, then victim (which holds partitions: each worker
    got some at placement), restarts the master without it; returns the
    master log since the restart."""
    kill_master(c)
    c.workers[victim].kill()
    c.workers[victim].p.wait(5)
    before = len(c.master.log_text())
    rebuilt = c.workers[receiver].log_text().count("rebuilt from checkpoint")
    c.start_master()
    wait_for(lambda: c.workers[receiver].log_text().count("rebuilt from checkpoint") >
             rebuilt, 20, f"{receiver} to rebuild the partitions of {victim}, killed "
             f"while the master was down")
    log(f"killed the master and {victim} ({c.worker_id(victim)}), restarted the master")
    return c.master.log_text()[before:]


def test():
    phases = make_phases(400, seed=13)
    server = FeedServer(phases, pause=0.1)  # 2 s a phase
    server.gates[0].set()
    c, out = start("stateloss", server.port, workers=3,
                   conf={"sluice.worker.timeout": "1s"})
    totals = os.path.join(out, "totals")
    wait_for(lambda: len(saved_batches(totals)) >= 8, 30, "8 batches of running totals")
    victim = pick_victim(c)
    c.workers[victim].kill()
    c.workers[victim].p.wait(5)
    log(f"killed {victim} ({c.worker_id(victim)})")
    wait_for(lambda: "takes it over from its checkpoint" in c.master.log_text(), 20,
             "the lost partitions to move to their replicas")
    receiver = receiver_of(c)
    wait_for(lambda: any("rebuilt from checkpoint" in c.workers[n].log_text()
                         for n in NAMES if n != victim), 20, "a replica to rebuild the state")
    batch = os.path.join(out, "batch")
    want = len(phases[0].split())
    wait_for(lambda: sum(counts(batch).values(), collections.Counter()).total() >= want,
             60, "the first phase counted")
    other = next(n for n in NAMES if n not in (victim, receiver))
    mlog = lose_while_master_down(c, out, receiver, other)
    check(f"worker {c.worker_id(other)}" in mlog and "did not register again" in mlog and
          "takes it over from its checkpoint" in mlog,
          f"the restarted master declared {other} lost and moved its partitions")
    server.gates[1].set()
    per_batch = drain(c, server, out, "".join(phases).split())
    # the receiver's block replica may be a worker killed: its blocks
    # wait for the replica's timeout, so fewer batches get words
    check_all(out, per_batch, min_batches=5)
    c.stop()


if __name__ == "__main__":
    run(test)
