"""Run configuration (SPEC §8, master/runconf.c):

- a job whose CUs (sluice.run.cus) exceed the free capacity is refused at
  start, by the CLI and by the REST API, with the numbers (needed, free,
  total, held by other jobs, what a CU is); the refused job stays PUBLISHED;
- one that fits starts, and the CUs it holds are no longer free: a second
  job that would fit an empty cluster is refused; once the first stops it
  starts;
- sluice.run.mode=standalone needs its CUs on one worker, and its tasks
  all run on that worker (a cluster job of the same shape uses both);
- `submit --start` runs the same check;
- an unknown spark.* key, or a bad value of a run key, is refused naming it.
"""
import json
import os
import urllib.error
import urllib.request

import harness
from harness import check, http_base, jobs_table

LIB = os.path.join(harness.BUILD, "lib", "generator_wordcount.so")


def publish(c, name, *conf, check_rc=True):
    args = ["publish", LIB, "--name", name, "--conf", "gen.rate=10"]
    for kv in conf:
        args += ["--conf", kv]
    return c.client(*args, check=check_rc)


def standalone_on_one_worker(c):
    """A standalone job's tasks (4 generator partitions, then 4 reducers,
    2 slots a worker) all run on one worker: only one worker ever loads it,
    while a cluster job of the same shape runs on both."""
    publish(c, "one", "sluice.run.mode=standalone", "sluice.run.cus=2")
    publish(c, "spread")
    for job in ("one", "spread"):
        c.client("start", job)
    def loaders(job):
        lines = [json.loads(x) for x in c.client("logs", "--json", job).stdout.splitlines()]
        return {l["source"] for l in lines if f"loaded job {job} (id" in l["line"]}
    harness.wait_for(lambda: len(loaders("spread")) == 2 and
                     json.loads(c.client("summary", "--json", "one").stdout)["batches_done"] >= 4,
                     30, "the cluster job on both workers, four batches of the standalone one")
    check(len(loaders("one")) == 1, f"the standalone job ran on one worker: {loaders('one')}")
    for job in ("one", "spread"):
        c.client("stop", job)


def import_and_summary(c, job):
    """config export | import --name --start runs the same job again (same
    library hash, same keys); its summary adds up."""
    exported = c.client("config", "export", job).stdout
    path = os.path.join(c.dir, "export.json")
    with open(path, "w") as f:
        f.write(exported)
    r = c.client("config", "import", path, "--name", "copy", "--json")
    copy = json.loads(r.stdout)
    check(copy["state"] == "PUBLISHED" and copy["library_hash"] ==
          json.loads(exported)["library_hash"], f"imported by hash, PUBLISHED: {copy}")
    conf = json.loads(c.client("config", "export", "--json", "copy").stdout)
    check(conf["conf"] == json.loads(exported)["conf"], "with the same keys")
    r = c.client("config", "import", path, check=False)
    check(r.returncode == 1 and "already exists" in r.stderr, f"a taken name: {r.stderr}")
    c.client("run-config", "copy", "set", "sluice.run.cus=0")
    c.client("start", "copy")
    s = harness.wait_for(lambda: (lambda x: x if x["batches_done"] >= 3 else None)(
        json.loads(c.client("summary", "--json", "copy").stdout)), 30, "three batches")
    check(s["total_records"] > 0 and s["total_records"] ==
          sum(b["records"] for b in s["per_minute"]) == sum(b["records"] for b in s["per_hour"]),
          f"summary: totals = per-minute = per-hour records: {s}")
    check("per minute:" in c.client("summary", "copy").stdout, "the summary table")
    c.client("stop", "copy")


def test():
    c = harness.Cluster("runconf")
    # 1 CU = 1 slot + 64 MiB: each worker (2 slots, 256 MiB) offers 2 CUs
    c.start_master(extra_conf={"sluice.cu.memory": "64m"})
    c.start_worker("w1", slots=2, memory="256m")
    c.start_worker("w2", slots=2, memory="256m")
    c.wait_workers(2)
    token = open(os.path.join(c.state, "operator.token")).read().strip()
    base = http_base(c)

    publish(c, "big", "sluice.run.cus=5")
    r = c.client("start", "big", check=False)
    check(r.returncode == 1 and "job 'big' needs 5 CUs but the cluster has 4 CU free" in r.stderr
          and "4 CU on 2 alive workers" in r.stderr and "1 CU = 1 task slot + 64 MiB" in r.stderr,
          f"CLI start refused with the numbers: {r.stderr}")
    req = urllib.request.Request(base + "/api/v1/jobs/big/start", method="POST")
    req.add_header("Authorization", "Bearer " + token)
    try:
        urllib.request.urlopen(req, timeout=10)
        check(False, "REST start of a job beyond capacity must be refused")
    except urllib.error.HTTPError as e:
        body = json.loads(e.read())
        check(e.code == 409 and "needs 5 CUs" in body["error"], f"REST 409: {body}")
    check(jobs_table(c)["big"]["state"] == "PUBLISHED", "the refused job stays PUBLISHED")

    publish(c, "three", "sluice.run.cus=3")
    check("RUNNING" in c.client("start", "three").stdout, "3 of 4 CUs: starts")
    publish(c, "two", "sluice.run.cus=2")
    r = c.client("start", "two", check=False)
    check(r.returncode == 1 and "has 1 CU free" in r.stderr and "3 held by running or paused"
          in r.stderr, f"the running job's CUs are held: {r.stderr}")
    c.client("stop", "three")
    check("RUNNING" in c.client("start", "two").stdout, "after the stop the CUs are free again")
    c.client("stop", "two")

    publish(c, "solo", "sluice.run.cus=3", "sluice.run.mode=standalone")
    r = c.client("start", "solo", check=False)
    check(r.returncode == 1 and "needs 3 CUs on one worker (sluice.run.mode=standalone)"
          in r.stderr and "the largest 2" in r.stderr, f"standalone: one worker: {r.stderr}")

    r = c.client("run-config", "solo", "set", "sluice.run.mode=cluster")
    check("sluice.run.mode: takes effect at the next start" in r.stdout, f"set: {r.stdout}")
    check("RUNNING" in c.client("start", "solo").stdout,
          "run-config's change applies at the start: 3 CUs fit the cluster")
    r = c.client("run-config", "solo", "set", "spark.executor.memoryOverhed=1g", check=False)
    check(r.returncode == 1 and "spark.executor.memoryOverhed" in r.stderr,
          f"run-config refuses an unknown key, named: {r.stderr}")
    r = c.client("run-config", "solo", "set", "gen.rate=5", check=False)
    check(r.returncode == 1 and "gen.rate: not a run configuration key" in r.stderr,
          f"run-config changes run keys only: {r.stderr}")
    show = c.client("run-config", "solo").stdout
    check("mode cluster, 3 CUs" in show and "sluice.run.mode=cluster" in show, show)
    import_and_summary(c, "solo")
    c.client("stop", "solo")

    standalone_on_one_worker(c)

    r = c.client("submit", "--start", LIB, "--name", "eager", "--conf", "sluice.run.cus=9",
                 check=False)
    check(r.returncode == 1 and "needs 9 CUs" in r.stderr, f"submit --start checks: {r.stderr}")
    check("eager" not in jobs_table(c), "and stores nothing")

    r = publish(c, "typo", "spark.executor.memoryOverhed=1g", check_rc=False)
    check(r.returncode != 0 and "spark.executor.memoryOverhed" in r.stderr and
          "unknown configuration key" in r.stderr, f"unknown spark key named: {r.stderr}")
    r = publish(c, "badmode", "sluice.run.mode=everywhere", check_rc=False)
    check(r.returncode != 0 and "sluice.run.mode" in r.stderr, f"bad mode named: {r.stderr}")
    r = publish(c, "badcus", "sluice.run.cus=-1", check_rc=False)
    check(r.returncode != 0 and "sluice.run.cus" in r.stderr, f"bad CUs named: {r.stderr}")
    c.stop()


if __name__ == "__main__":
    harness.run(test)
