"""State across a master restart (issue 11): the master is killed with
SIGKILL while a job with update_state_by_key and map_with_state runs, and
restarted on its state directory. The workers keep the state in memory;
the restarted master sends each partition's tasks to the same worker (the
placement is in its checkpoint) and re-runs the batch in flight, which the
state store rolls back first, so no batch is counted twice.

The same job and checks as test_state.py (state_common.py): every batch's
running totals equal the initial state plus the cumulative per-batch
counts, and each idle word is reported once, on time. The first phase of
words is fed and counted, the master is killed and restarted, then the
second phase is fed. The feed pauses over the kill, as in
test_windows_restart.py (a block reported in the instant before the kill,
between its acknowledgement and the next checkpoint, is not covered:
recovery.md).
"""
import collections
import os
import time

from harness import check, log, run, saved_batches, wait_for
from state_common import check_all, counts, drain, make_phases, start
from test_windows_restart import GatedServer


def test():
    phases = make_phases(1000, seed=9)  # 50 chunks a phase, 33 ms apart
    server = GatedServer(phases)
    server.gates[0].set()
    c, out = start("staterestart", server.port)
    batch = os.path.join(out, "batch")
    want = len(phases[0].split())
    wait_for(lambda: sum(counts(batch).values(), collections.Counter()).total() >= want,
             60, "the first phase counted")
    killed = max(saved_batches(batch))
    c.master.kill()
    c.master.p.wait(5)
    time.sleep(0.3)
    c.start_master()
    wait_for(lambda: max(saved_batches(os.path.join(out, "totals"))) > killed + 200, 60,
             "running totals after the restart")
    log(f"master killed after batch {killed}, restarted")
    server.gates[1].set()
    per_batch = drain(c, server, out, "".join(phases).split())
    check_all(out, per_batch)
    mlog = c.master.log_text()
    check(mlog.count("placed on worker") == 5,
          "no state partition placed again after the restart")
    c.stop()


if __name__ == "__main__":
    run(test)
