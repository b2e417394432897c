"""Job lifecycle through the REST API and the CLI (SPEC §8, docs/operations.md):

- `sluice publish` leaves a job PUBLISHED (no batch runs); REST start runs it;
  REST and CLI pause / resume / stop / start each move it, and while PAUSED
  no batch is generated (the batch count stays put for several intervals);
- refusals: pausing a STOPPED job (REST 409 and CLI exit 1, both naming the
  job and its state), stopping a PUBLISHED job, an unknown job (REST 404, CLI
  exit 1), an unknown action;
- every transition is listed with who asked (rest:operator or the client's
  identity) and why, in order;
- after a master restart every job is in the state it was (PAUSED stays
  PAUSED and generates nothing, STOPPED stays STOPPED) and the transitions
  are all still there;
- sluice.pause.maxDuration=1s: a paused job becomes STOPPED by itself, the
  transition saying why.
"""
import json
import os
import time
import urllib.error
import urllib.request

import harness
from harness import check, http_base, jobs_table, wait_for

LIB = os.path.join(harness.BUILD, "lib", "generator_wordcount.so")


class Api:
    def __init__(self, base, token):
        self.base = base
        self.token = token

    def call(self, method, path, body=None, token=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, method=method, data=data)
        req.add_header("Authorization", "Bearer " + (token or self.token))
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def state(self, job):
        status, body = self.call("GET", f"/api/v1/jobs/{job}")
        check(status == 200, f"GET job {job}: {status} {body}")
        return body["state"]

    def action(self, job, action, reason="", want=200):
        status, body = self.call("POST", f"/api/v1/jobs/{job}/{action}", {"reason": reason})
        check(status == want, f"REST {action} {job}: {status} {body} (want {want})")
        return body


def batches(c, job):
    return jobs_table(c)[job]["batches"]


def check_paused_idle(c, job, seconds):
    before = batches(c, job)
    time.sleep(seconds)
    after = batches(c, job)
    check(after == before, f"{job}: no batch while PAUSED ({before} -> {after})")


def test():
    c = harness.Cluster("lifecycle")
    c.start_master()
    c.start_worker("w1")
    c.wait_workers(1)
    token = open(os.path.join(c.state, "operator.token")).read().strip()
    api = Api(http_base(c), token)

    # publish: nothing runs until start
    r = c.client("publish", LIB, "--name", "gen", "--batch-interval", "500ms",
                 "--conf", "gen.rate=200", "--conf", "print.num=1")
    check("submitted job 'gen' (published;" in r.stdout, f"publish says so: {r.stdout}")
    check(api.state("gen") == "PUBLISHED", "a published job is PUBLISHED")
    time.sleep(1.2)
    check(batches(c, "gen") == 0, "a PUBLISHED job runs no batch")
    api.action("gen", "stop", want=409)

    # REST: start, pause, resume
    check(api.action("gen", "start", "go")["state"] == "RUNNING", "REST start -> RUNNING")
    listed = json.loads(c.client("jobs", "--json").stdout)["jobs"]
    check([(j["name"], j["state"]) for j in listed] == [("gen", "RUNNING")],
          f"sluice jobs --json agrees: {listed}")
    wait_for(lambda: batches(c, "gen") >= 2, 20, "batches after the start")
    check(api.action("gen", "pause", "maintenance")["state"] == "PAUSED", "REST pause")
    time.sleep(0.6)  # a batch generated just before the pause may still end
    check_paused_idle(c, "gen", 1.6)
    api.action("gen", "pause", want=409)
    check(api.action("gen", "resume")["state"] == "RUNNING", "REST resume -> RUNNING")
    n = batches(c, "gen")
    wait_for(lambda: batches(c, "gen") >= n + 2, 20, "batches after the resume")

    # CLI: pause, resume, stop, refusals, start again
    r = c.client("pause", "gen", "--reason", "cli pause")
    check("PAUSED" in r.stdout, f"CLI pause: {r.stdout}")
    r = c.client("resume", "--json", "gen")
    check(json.loads(r.stdout) == {"job": "gen", "state": "RUNNING"}, f"CLI resume --json: {r.stdout}")
    r = c.client("stop", "gen", "--reason", "cli stop")
    check("STOPPED" in r.stdout, f"CLI stop: {r.stdout}")
    r = c.client("pause", "gen", check=False)
    check(r.returncode == 1 and "job 'gen' is STOPPED: cannot pause it" in r.stderr,
          f"CLI pause of a STOPPED job refused, naming the state: {r.returncode} {r.stderr}")
    status, body = api.call("POST", "/api/v1/jobs/gen/pause")
    check(status == 409 and "STOPPED" in body["error"], f"REST pause of STOPPED: {status} {body}")
    r = c.client("start", "nosuch", check=False)
    check(r.returncode == 1 and "no job named 'nosuch'" in r.stderr, f"CLI unknown job: {r.stderr}")
    status, body = api.call("POST", "/api/v1/jobs/nosuch/start")
    check(status == 404 and "nosuch" in body["error"], f"REST unknown job: {status} {body}")
    status, body = api.call("POST", "/api/v1/jobs/gen/explode")
    check(status == 404, f"REST unknown action: {status} {body}")
    r = c.client("start", "gen", "--reason", "again")
    check("RUNNING" in r.stdout, f"CLI start of a STOPPED job: {r.stdout}")
    n = batches(c, "gen")
    wait_for(lambda: batches(c, "gen") >= n + 2, 20, "batches after starting again")

    # the record of it all
    status, body = api.call("GET", "/api/v1/jobs/gen/transitions")
    check(status == 200, f"transitions: {status}")
    got = [(t["from"], t["to"]) for t in body["transitions"]]
    want = [("", "PUBLISHED"), ("PUBLISHED", "RUNNING"), ("RUNNING", "PAUSED"),
            ("PAUSED", "RUNNING"), ("RUNNING", "PAUSED"), ("PAUSED", "RUNNING"),
            ("RUNNING", "STOPPED"), ("STOPPED", "RUNNING")]
    check(got == want, f"every transition, in order: {got}")
    t = body["transitions"]
    check(t[1]["who"] == "rest:operator" and t[1]["why"] == "go", f"REST start recorded: {t[1]}")
    check(t[2]["why"] == "maintenance", f"REST pause reason: {t[2]}")
    check(t[4]["who"].startswith("client@") and t[4]["why"] == "cli pause",
          f"CLI pause recorded with the client's identity: {t[4]}")
    check([x["seq"] for x in t] == list(range(1, len(t) + 1)), "seq 1, 2, ...")

    # a second job left PAUSED, the first STOPPED, then the master restarts
    c.client("submit", "--start", LIB, "--name", "gen2", "--batch-interval", "500ms",
             "--conf", "gen.rate=200", "--conf", "print.num=1")
    wait_for(lambda: batches(c, "gen2") >= 1, 20, "gen2 to run")
    api.action("gen2", "pause", "before restart")
    c.client("stop", "gen")
    time.sleep(0.5)  # the checkpointer writes the transitions
    before = api.call("GET", "/api/v1/jobs/gen/transitions")[1]["transitions"]
    c.master.stop()
    os.unlink(os.path.join(c.state, "master.http"))
    c.start_master()
    api = Api(http_base(c), token)
    check(api.state("gen") == "STOPPED", "STOPPED after the restart")
    check(api.state("gen2") == "PAUSED", "PAUSED after the restart")
    after = api.call("GET", "/api/v1/jobs/gen/transitions")[1]["transitions"]
    check(after == before, f"transitions survive the restart ({len(before)} -> {len(after)})")
    c.wait_workers(1)
    check_paused_idle(c, "gen2", 1.6)
    api.action("gen2", "resume", "after restart")
    n = batches(c, "gen2")
    wait_for(lambda: batches(c, "gen2") > n, 20, "gen2 to run again after resume")
    c.client("stop", "gen2")

    # a pause longer than sluice.pause.maxDuration becomes a stop
    c.client("submit", "--start", LIB, "--name", "short", "--batch-interval", "500ms",
             "--conf", "gen.rate=100", "--conf", "sluice.pause.maxDuration=1s")
    wait_for(lambda: batches(c, "short") >= 1, 20, "short to run")
    api.action("short", "pause")
    wait_for(lambda: api.state("short") == "STOPPED", 10, "the long pause to become a stop")
    last = api.call("GET", "/api/v1/jobs/short/transitions")[1]["transitions"][-1]
    check(last["from"] == "PAUSED" and last["to"] == "STOPPED" and last["who"] == "master"
          and "sluice.pause.maxDuration" in last["why"], f"the stop says why: {last}")
    c.stop()


if __name__ == "__main__":
    harness.run(test)
