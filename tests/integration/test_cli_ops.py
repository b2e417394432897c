"""The operations CLI shows what the REST API shows (client/cmd_ops.c over
MSG_JOB_QUERY): `sluice transitions`, `sluice alerts` and `sluice config
export` print tables (or pretty JSON for config) by default and, with
--json, exactly the API's JSON for the same job; `sluice jobs --json` lists
the API's job fields, `sluice workers --json` the API's workers and
`sluice monitor --json` one line per batch with the API's Batch fields. The reader token may run them; an unknown job is
refused naming it (exit 1), a missing job argument is a usage error (exit 2).
"""
import json
import os
import urllib.request

import harness
from harness import check, http_base, wait_for

LIB = os.path.join(harness.BUILD, "lib", "generator_wordcount.so")


def rest(base, token, path):
    req = urllib.request.Request(base + path)
    req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test():
    c = harness.Cluster("cliops")
    c.start_master()
    c.start_worker("w1")
    c.wait_workers(1)
    token = open(os.path.join(c.state, "operator.token")).read().strip()
    base = http_base(c)
    c.client("submit", "--start", LIB, "--name", "gen", "--batch-interval", "500ms",
             "--conf", "gen.rate=50", "--conf", "sluice.alerts.states=PAUSED",
             "--conf", "sluice.alerts.exec.command=/bin/true",
             "--conf", "sluice.alerts.exec.to=+15550100")
    c.client("pause", "gen", "--reason", "look")
    c.client("resume", "gen")

    r = c.client("transitions", "gen")
    rows = r.stdout.splitlines()
    check(rows[0].split()[:4] == ["SEQ", "AT_MS", "FROM", "TO"] and len(rows) == 5 and
          "PAUSED" in rows[3] and "look" in rows[3], f"transitions table: {r.stdout}")
    cli = json.loads(c.client("transitions", "--json", "gen").stdout)
    check(cli == rest(base, token, "/api/v1/jobs/gen/transitions"),
          "transitions --json = GET /api/v1/jobs/gen/transitions")

    api = wait_for(lambda: (lambda a: a if len(a["alerts"]) == 2 else None)(
        rest(base, token, "/api/v1/jobs/gen/alerts")), 20, "the two exec alerts recorded")
    cli = json.loads(c.client("alerts", "gen", "--json").stdout)
    check(cli == api, "alerts --json = GET /api/v1/jobs/gen/alerts")
    r = c.client("alerts", "gen")
    check(r.stdout.splitlines()[0].split()[:4] == ["ID", "AT_MS", "CHANNEL", "EVENT"] and
          r.stdout.count("exec") == 2 and "FIRING: job gen is PAUSED" in r.stdout and
          "RESOLVED" in r.stdout, f"alerts table: {r.stdout}")

    pretty = c.client("config", "export", "gen").stdout
    exported = json.loads(pretty)
    check("\n" in pretty.strip() and exported == rest(base, token, "/api/v1/jobs/gen/config"),
          "config export = GET /api/v1/jobs/gen/config")
    check(exported["conf"]["sluice.alerts.exec.to"] == "+15550100" and
          len(exported["library_hash"]) == 64, f"the full configuration: {exported}")
    jobs = json.loads(c.client("jobs", "--json").stdout)["jobs"]
    api_jobs = rest(base, token, "/api/v1/jobs")["jobs"]
    for k in ("id", "name", "state", "batch_interval_ms", "library_hash"):
        check(jobs[0][k] == api_jobs[0][k], f"jobs --json {k} = the API's")

    workers = json.loads(c.client("workers", "--json").stdout)["workers"]
    api_workers = rest(base, token, "/api/v1/workers")["workers"]
    check([{k: w[k] for k in ("id", "address", "slots", "memory", "state")} for w in workers]
          == api_workers, f"workers --json = GET /api/v1/workers: {workers}")
    lines = c.client("monitor", "gen", "--json", "--duration", "1s").stdout.splitlines()
    batches = [json.loads(line) for line in lines]
    api_batches = rest(base, token, "/api/v1/jobs/gen/batches?limit=512")["batches"]
    done = {b["batch_ms"]: b for b in api_batches if b["state"] == "DONE"}
    check(batches and all(done.get(b["batch_ms"]) == b for b in batches),
          f"monitor --json lines = the API's batches ({len(batches)} batches)")

    c.env["SLUICE_SECRET_FILE"] = os.path.join(c.state, "reader.token")
    check(json.loads(c.client("transitions", "--json", "gen").stdout) ==
          rest(base, token, "/api/v1/jobs/gen/transitions"), "the reader token reads them")
    r = c.client("alerts", "nosuch", check=False)
    check(r.returncode == 1 and "no job named 'nosuch'" in r.stderr, f"unknown job: {r.stderr}")
    r = c.client("config", "export", check=False)
    check(r.returncode == 2 and "exactly one job" in r.stderr, f"usage: {r.stderr}")
    r = c.client("config", "import", "x", check=False)
    check(r.returncode == 1 and "x: cannot read it" in r.stderr, f"import names the file: {r.stderr}")
    r = c.client("config", "frobnicate", "x", check=False)
    check(r.returncode == 2 and "'export' or 'import'" in r.stderr, f"unknown subcommand: {r.stderr}")
    c.env["SLUICE_SECRET_FILE"] = os.path.join(c.state, "secret")
    c.client("stop", "gen")
    c.stop()


if __name__ == "__main__":
    harness.run(test)
