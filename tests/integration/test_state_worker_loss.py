"""State across the loss of a worker (issue 11): a worker holding state
partitions is killed with SIGKILL mid-stream. Each partition's state is
copied after every batch to a replica worker (a full checkpoint every
checkpoint interval, the batch's delta otherwise: worker/stateops.c); the
master moves the lost worker's partitions to their replicas, which rebuild
them from the checkpoint and the deltas since, and gives the partitions a
new replica.

Three workers; the one killed holds state partitions but not the socket
receiver (a socket cannot replay what a receiver had read). The same job
and checks as test_state.py (state_common.py): every batch's running totals
equal the initial state plus the cumulative per-batch counts, and each idle
word is reported once, on time; the rebuild is seen in the logs.
"""
import os
import re

from harness import TextServer, check, log, run, saved_batches, wait_for
from state_common import check_all, drain, make_phases, start

NAMES = ("w0", "w1", "w2")


def pick_victim(c):
    """A worker that holds state partitions and not the receiver, one with
    a partition of update_state_by_key (the job's first state node) if
    there is one."""
    ids = {n: c.worker_id(n) for n in NAMES}
    receiver = [n for n in NAMES if "receiving from" in c.workers[n].log_text()]
    found = re.findall(r"of node (\d+) placed on worker (\S+)", c.master.log_text())
    placed = [w for _, w in found]
    first = [w for node, w in found if int(node) == min(int(x) for x, _ in found)]
    victims = sorted((n for n in NAMES if n not in receiver and ids[n] in placed),
                     key=lambda n: ids[n] not in first)
    check(len(receiver) == 1 and victims, f"a worker to kill (receiver on {receiver}, "
          f"partitions on {sorted(set(placed))})")
    return victims[0]


def test():
    phases = make_phases(400, seed=13)
    text = "".join(phases)
    server = TextServer(text, chunk=len(text) // 40 + 1, pause=0.1)
    c, out = start("stateloss", server.port, workers=3,
                   conf={"sluice.worker.timeout": "1s"})
    totals = os.path.join(out, "totals")
    wait_for(lambda: len(saved_batches(totals)) >= 8, 30, "8 batches of running totals")
    victim = pick_victim(c)
    c.workers[victim].kill()
    c.workers[victim].p.wait(5)
    log(f"killed {victim} ({c.worker_id(victim)})")
    per_batch = drain(c, server, out, text.split())
    # the receiver's block replica may be the worker killed: its blocks
    # wait for the replica's timeout, so fewer batches get words
    check_all(out, per_batch, min_batches=5)
    check("takes it over from its checkpoint" in c.master.log_text(),
          "the lost partitions moved to their replicas")
    rebuilt = [n for n in NAMES if n != victim and "rebuilt from checkpoint" in
               c.workers[n].log_text()]
    check(rebuilt, f"a replica rebuilt the state ({rebuilt})")
    c.stop()


if __name__ == "__main__":
    run(test)
