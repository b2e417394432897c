"""State across batches (issue 11): update_state_by_key running totals
(with an initial state) and map_with_state timeouts, end to end on two
workers, ~30 batches of 200 ms, against a Python reference over the
per-batch counts (state_common.py). The update function fails its first
attempt of every fourth batch after updating some keys: the task is
retried on the worker holding the partition and the totals stay exact
(the failed attempt was undone).
"""
import json
import os
import urllib.request

from harness import TextServer, check, http_base, jobs_table, run, saved_batches
from state_common import check_all, counts, drain, make_phases, start


def check_state_size(c, out):
    """The REST job view, /metrics and `sluice monitor` show the keys held:
    every word's total (update_state_by_key) and no idle word left
    (map_with_state timed them all out)."""
    last = counts(os.path.join(out, "totals"))[max(saved_batches(os.path.join(out, "totals")))]
    token = open(os.path.join(c.state, "reader.token")).read().strip()
    base = http_base(c)
    req = urllib.request.Request(base + "/api/v1/jobs/state",
                                 headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=10) as r:
        view = json.loads(r.read())
    check(view["state_keys"] == len(last) and view["state_bytes"] > 0,
          f"the job view holds {view['state_keys']} state keys, {view['state_bytes']} "
          f"bytes (totals list {len(last)} words)")
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        metrics = r.read().decode()
    check(f'sluice_job_state_keys{{job="state"}} {len(last)}' in metrics,
          "/metrics shows the state keys")
    mon = c.client("monitor", "state", "--duration", "1s", "--no-output").stdout
    check(f"state: {len(last)} keys" in mon, "sluice monitor shows the state size")


def test():
    phases = make_phases(400)
    text = "".join(phases)
    # ~24 batches of input: 800 lines, 20 every 100 ms; then 6 idle ones
    server = TextServer(text, chunk=len(text) // 40 + 1, pause=0.1)
    c, out = start("state", server.port, fail_key="w0")
    per_batch = drain(c, server, out, text.split())
    check_all(out, per_batch)
    check_state_size(c, out)
    check(jobs_table(c)["state"]["failed"] == 0, "no batch failed")
    mlog = c.master.log_text()
    check("update_state_by_key (node" in mlog, "the failing attempts were reported and retried")
    # 2 + 3 partitions, each placed once: their tasks always ran there
    check(mlog.count("placed on worker") == 5, "each state partition placed once")
    c.stop()


if __name__ == "__main__":
    run(test)
