"""Master /metrics: `promtool check metrics` passes on the master's page and
on a worker's, and the master's figures are the ones `sluice monitor` and
`sluice jobs` show: batches done, records, the last batch's input and its
scheduling delay, processing time and total delay, jobs by state, workers
and slots.

Needs promtool (Debian's prometheus package, scripts/setup.sh); without it
the test FAILS.
"""
import os
import re
import shutil
import subprocess
import time
import urllib.request

import harness
from harness import check, fail, free_port, http_base, jobs_table, wait_for

LIB = os.path.join(harness.BUILD, "lib", "generator_wordcount.so")


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        check(r.headers.get("Content-Type").startswith("text/plain; version=0.0.4"),
              f"{url}: Prometheus text")
        return r.read().decode()


def promtool_ok(promtool, text, what):
    r = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                       capture_output=True, timeout=30)
    check(r.returncode == 0, f"promtool check metrics passes on {what} ({r.stdout}{r.stderr})")


def sample(text, name, labels=""):
    m = re.search(r"^" + re.escape(name + labels) + r" (\S+)$", text, re.M)
    if m is None:
        fail(f"no sample {name}{labels} in:\n{text}")
    return float(m.group(1))


def test():
    promtool = shutil.which("promtool")
    if promtool is None:
        fail("promtool not found (install Debian's prometheus package: scripts/setup.sh)")
    c = harness.Cluster("mmetrics")
    c.start_master()
    wport = free_port()
    c.start_worker("w1", slots=3, extra_conf={"sluice.worker.http.port": str(wport)})
    c.wait_workers(1)
    base = http_base(c)
    c.client("submit", "--start", LIB, "--name", "gen", "--batch-interval", "500ms",
             "--conf", "gen.rate=300", "--conf", "print.num=1")
    c.client("publish", LIB, "--name", "idle", "--conf", "gen.rate=10")
    wait_for(lambda: jobs_table(c)["gen"]["batches"] >= 4, 30, "four batches")
    c.client("stop", "gen")
    time.sleep(1.0)  # batches generated before the stop end

    text = scrape(base + "/metrics")
    promtool_ok(promtool, text, "the master's /metrics")
    promtool_ok(promtool, scrape(f"http://127.0.0.1:{wport}/metrics"), "the worker's /metrics")

    r = c.client("monitor", "gen", "--duration", "2s", "--no-output")
    rows = [dict(zip(("t", "state", "records", "sched", "proc", "total"), m.groups()))
            for m in re.finditer(r"^batch (\d+)\s+(\w+)\s+records\s+(\d+)\s+sched\s+(-?\d+) ms"
                                 r"\s+proc\s+(-?\d+) ms\s+total\s+(-?\d+) ms", r.stdout, re.M)]
    check(len(rows) >= 4, f"sluice monitor lists the batches: {r.stdout[-500:]}")
    done = [x for x in rows if x["state"] == "DONE"]
    job = jobs_table(c)["gen"]
    gen = '{job="gen"}'
    check(sample(text, "sluice_job_batches_total", '{job="gen",result="done"}') == len(done)
          == job["batches"], f"batches done: metrics = monitor ({len(done)}) = jobs ({job})")
    check(sample(text, "sluice_job_records_total", gen) == sum(int(x["records"]) for x in done)
          == job["records"], f"records: metrics = sum over monitor = jobs ({job['records']})")
    last = rows[-1]
    for name, key in (("sluice_job_last_batch_input_records", "records"),):
        check(sample(text, name, gen) == int(last[key]), f"{name} = monitor's last batch")
    for name, key in (("sluice_job_last_batch_scheduling_delay_seconds", "sched"),
                      ("sluice_job_last_batch_processing_seconds", "proc"),
                      ("sluice_job_last_batch_total_delay_seconds", "total")):
        check(abs(sample(text, name, gen) - int(last[key]) / 1000.0) < 1e-9,
              f"{name} = monitor's last batch ({last[key]} ms)")
    check(sample(text, "sluice_jobs", '{state="STOPPED"}') == 1 and
          sample(text, "sluice_jobs", '{state="PUBLISHED"}') == 1 and
          sample(text, "sluice_jobs", '{state="RUNNING"}') == 0, "jobs by state")
    check(sample(text, "sluice_job_state", '{job="idle",state="PUBLISHED"}') == 1,
          "the idle job's state")
    check(sample(text, "sluice_master_workers", '{state="ALIVE"}') == 1 and
          sample(text, "sluice_master_slots") == 3, "one alive worker with 3 slots")
    c.stop()


if __name__ == "__main__":
    harness.run(test)
