"""State across batches (issue 11): update_state_by_key running totals
(with an initial state) and map_with_state timeouts, end to end on two
workers, ~30 batches of 200 ms, against a Python reference over the
per-batch counts (state_common.py). The update function fails its first
attempt of every fourth batch after updating some keys: the task is
retried on the worker holding the partition and the totals stay exact
(the failed attempt was undone).
"""
from harness import TextServer, check, jobs_table, run
from state_common import check_all, drain, make_phases, start


def test():
    phases = make_phases(400)
    text = "".join(phases)
    # ~24 batches of input: 800 lines, 20 every 100 ms; then 6 idle ones
    server = TextServer(text, chunk=len(text) // 40 + 1, pause=0.1)
    c, out = start("state", server.port, fail_key="w0")
    per_batch = drain(c, server, out, text.split())
    check_all(out, per_batch)
    check(jobs_table(c)["state"]["failed"] == 0, "no batch failed")
    mlog = c.master.log_text()
    check("update_state_by_key (node" in mlog, "the failing attempts were reported and retried")
    # 2 + 3 partitions, each placed once: their tasks always ran there
    check(mlog.count("placed on worker") == 5, "each state partition placed once")
    c.stop()


if __name__ == "__main__":
    run(test)
