"""The master's REST API against its contract, docs/openapi.yaml:

- every endpoint of the spec answered with what it documents (each path is
  called below and checked against the spec's list, so a new endpoint
  without a test fails here);
- authentication: no token and a wrong token get 401 on reads and on
  mutations, the reader token reads but gets 403 on a mutation, and the
  master logs each refusal with the path; the job did not change;
- errors are JSON naming the problem (unknown job, bad query, bad body);
- schemathesis (PyPI, installed by scripts/setup.sh into /opt/sluice-venv)
  runs property-based tests against the spec for a bounded time and finds no
  5xx, no response outside the spec and no schema violation.
"""
import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request

import harness
from harness import check, fail, http_base, wait_for

LIB = os.path.join(harness.BUILD, "lib", "generator_wordcount.so")
SPEC = os.path.join(harness.SOURCE, "docs", "openapi.yaml")
ST = os.environ.get("SLUICE_SCHEMATHESIS", "/opt/sluice-venv/bin/st")
ST_SECONDS = 30


def call(base, method, path, token=None, body=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, method=method, data=data)
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def spec_paths():
    """(METHOD, path) of every operation in docs/openapi.yaml (no YAML library:
    paths are the two-space keys under `paths:`, methods the four-space ones)."""
    ops, path, inside = [], None, False
    for line in open(SPEC):
        if line.startswith("paths:"):
            inside = True
        elif inside and re.match(r"^\S", line):
            break
        elif inside and re.match(r"^  /", line):
            path = line.strip().rstrip(":")
        elif inside and re.match(r"^    (get|post|put|delete|patch):", line):
            ops.append((line.strip().rstrip(":").upper(), path))
    return ops


def test():
    c = harness.Cluster("rest")
    c.start_master()
    c.start_worker("w1")
    c.wait_workers(1)
    op = open(os.path.join(c.state, "operator.token")).read().strip()
    reader = open(os.path.join(c.state, "reader.token")).read().strip()
    base = http_base(c)
    c.client("submit", "--start", LIB, "--name", "gen", "--batch-interval", "500ms",
             "--conf", "gen.rate=100", "--conf", "print.num=1")
    wait_for(lambda: json.loads(call(base, "GET", "/api/v1/jobs/gen", op)[2])["batches_done"] >= 2,
             20, "two batches")

    # authentication
    for method, path in (("GET", "/api/v1/jobs"), ("POST", "/api/v1/jobs/gen/stop")):
        for token in (None, "sluice-operator:" + "0" * 64, "wrong"):
            status, ctype, body = call(base, method, path, token)
            check(status == 401 and ctype.startswith("application/json") and
                  "bearer token" in json.loads(body)["error"],
                  f"{method} {path} with token {token!r}: 401 JSON ({status} {body})")
    status, _, body = call(base, "POST", "/api/v1/jobs/gen/stop", reader)
    check(status == 403 and "reader token" in json.loads(body)["error"],
          f"reader token cannot stop: {status} {body}")
    status, _, body = call(base, "GET", "/api/v1/jobs/gen", reader)
    check(status == 200 and json.loads(body)["state"] == "RUNNING",
          f"reader token reads; the refused calls changed nothing: {status} {body}")
    log = c.master.log_text()
    check("REST: refused POST /api/v1/jobs/gen/stop: no valid bearer token" in log and
          "REST: refused POST /api/v1/jobs/gen/stop: the reader token cannot change state" in log,
          "the master logged the refused mutations")

    # every endpoint of the spec
    done = set()

    def ok(method, spec_path, path, want=200, body=None):
        status, ctype, text = call(base, method, path, op, body)
        check(status == want, f"{method} {path}: {status} {text[:300]}")
        done.add((method, spec_path))
        return json.loads(text) if ctype.startswith("application/json") else text

    jobs = ok("GET", "/api/v1/jobs", "/api/v1/jobs")["jobs"]
    check([j["name"] for j in jobs][:1] == ["gen"] and jobs[0]["records"] > 0, f"jobs: {jobs}")
    j = ok("GET", "/api/v1/jobs/{job}", f"/api/v1/jobs/{jobs[0]['id']}")
    check(j["name"] == "gen", "a job by its numeric id")
    conf = ok("GET", "/api/v1/jobs/{job}/config", "/api/v1/jobs/gen/config")
    check(conf["conf"].get("gen.rate") == "100" and conf["batch_interval_ms"] == 500 and
          len(conf["library_hash"]) == 64, f"config: {conf}")
    b = ok("GET", "/api/v1/jobs/{job}/batches", "/api/v1/jobs/gen/batches?limit=2")["batches"]
    check(len(b) == 2 and all(k in b[0] for k in ("scheduling_delay_ms", "processing_ms",
                                                   "total_delay_ms", "input_records")),
          f"batches with their delays: {b}")
    w = ok("GET", "/api/v1/workers", "/api/v1/workers")["workers"]
    check(len(w) == 1 and w[0]["state"] == "ALIVE" and w[0]["slots"] == 2, f"workers: {w}")
    for action, state in (("pause", "PAUSED"), ("resume", "RUNNING"), ("stop", "STOPPED"),
                          ("start", "RUNNING")):
        r = ok("POST", "/api/v1/jobs/{job}/" + action, f"/api/v1/jobs/gen/{action}",
               body={"reason": "test"})
        check(r == {"job": "gen", "state": state}, f"{action}: {r}")
    t = ok("GET", "/api/v1/jobs/{job}/transitions", "/api/v1/jobs/gen/transitions")
    check([x["to"] for x in t["transitions"]][-4:] == ["PAUSED", "RUNNING", "STOPPED", "RUNNING"],
          f"transitions: {t}")
    lag = ok("GET", "/api/v1/jobs/{job}/lag", "/api/v1/jobs/gen/lag")
    check(lag == {"partitions": [], "total": 0}, f"no Kafka source, no lag: {lag}")
    al = ok("GET", "/api/v1/jobs/{job}/alerts", "/api/v1/jobs/gen/alerts")
    check(al == {"alerts": []}, f"no alert configured, none recorded: {al}")
    spec = {"name": "ch", "brokers": "127.0.0.1:1", "source": "kafka:ext"}
    ch = ok("POST", "/api/v1/channels", "/api/v1/channels", want=201, body=spec)
    check(ch["state"] == "NOT_READY" and ch["write_job"] == {"name": "ch.write",
                                                             "state": "PUBLISHED"},
          f"channel created with two PUBLISHED system jobs: {ch}")
    chs = ok("GET", "/api/v1/channels", "/api/v1/channels")["channels"]
    check([x["name"] for x in chs] == ["ch"], f"channels: {chs}")
    check(ok("GET", "/api/v1/channels/{channel}", "/api/v1/channels/ch") == ch, "one channel")
    # a channel whose publication is not checkpointed yet is refused 409 ("retry")
    answer = wait_for(lambda: (lambda r: r if r[0] != 409 else None)(
        call(base, "DELETE", "/api/v1/channels/ch", op)), 10, "the new channel's checkpoint")
    check(answer[0] == 200, f"DELETE /api/v1/channels/ch: {answer}")
    done.add(("DELETE", "/api/v1/channels/{channel}"))
    d = json.loads(answer[2])
    check(d == {"deleted": "ch"} and "ch.write" not in
          [x["name"] for x in ok("GET", "/api/v1/jobs", "/api/v1/jobs")["jobs"]],
          f"deleted with its system jobs: {d}")
    status, _, text = call(base, "POST", "/api/v1/channels", op,
                           body=dict(spec, source="ftp:x"))
    check(status == 400 and "kafka:TOPIC" in json.loads(text)["error"], f"bad source: {text}")
    sm = ok("GET", "/api/v1/jobs/{job}/summary", "/api/v1/jobs/gen/summary")
    check(sm["total_records"] == sum(x["records"] for x in sm["per_minute"]) ==
          sum(x["records"] for x in sm["per_hour"]) and sm["history_batches"] ==
          sm["batches_done"] + sm["batches_failed"],
          f"summary: per-minute and per-hour records add up to the total: {sm}")
    rc = ok("GET", "/api/v1/jobs/{job}/run-config", "/api/v1/jobs/gen/run-config")
    check(rc["mode"] == "cluster" and rc["cus"] == 0, f"run-config: {rc}")
    r = ok("POST", "/api/v1/jobs/{job}/run-config", "/api/v1/jobs/gen/run-config",
           body={"set": {"spark.streaming.receiver.maxRate": "500", "sluice.run.cus": "1"}})
    check(r["applied"] == {"spark.streaming.receiver.maxRate": "live",
                           "sluice.run.cus": "next start"}, f"run-config set: {r}")
    status, _, text = call(base, "POST", "/api/v1/jobs/gen/run-config", op,
                           body={"set": {"spark.nosuch.key": "1"}})
    check(status == 400 and "spark.nosuch.key" in json.loads(text)["error"],
          f"an unknown spark key is refused, named: {text}")
    exp = ok("GET", "/api/v1/jobs/{job}/config", "/api/v1/jobs/gen/config")
    imp = ok("POST", "/api/v1/jobs", "/api/v1/jobs", want=201, body=dict(exp, name="gen2"))
    check(imp["state"] == "PUBLISHED" and imp["library_hash"] == exp["library_hash"],
          f"imported by library hash: {imp}")
    status, _, text = call(base, "POST", "/api/v1/jobs", op,
                           body=dict(exp, name="gen3", library_hash="ab" * 32))
    check(status == 404 and "no library" in json.loads(text)["error"], f"unknown hash: {text}")
    lg = ok("GET", "/api/v1/jobs/{job}/logs", "/api/v1/jobs/gen/logs?limit=10")
    check(len(lg["lines"]) == 10 and {x["source"] for x in lg["sources"]} ==
          {"master", w[0]["id"]}, f"logs from the master and the worker: {lg['sources']}")
    m = ok("GET", "/metrics", "/metrics")
    check('sluice_job_state{job="gen",state="RUNNING"} 1' in m, "metrics name the job's state")
    missing = set(spec_paths()) - done
    check(not missing, f"every operation of docs/openapi.yaml exercised (missing: {missing})")

    # errors name the problem
    for path, body, raw, want in (
            ("/api/v1/jobs/nosuch", None, None, "no job named 'nosuch'"),
            ("/api/v1/jobs/gen/batches?limit=0", None, None, "limit"),
            ("/api/v1/nothing", None, None, "no such path"),):
        status, ctype, text = call(base, "GET", path, op)
        check(status in (400, 404) and want in json.loads(text)["error"], f"{path}: {text}")
    status, _, text = call(base, "POST", "/api/v1/jobs/gen/pause", op, raw=b"{not json")
    check(status == 400 and "JSON object" in json.loads(text)["error"], f"bad body: {text}")
    status, _, text = call(base, "POST", "/api/v1/jobs/gen/pause", op, body={"graceful": "yes"})
    check(status == 400 and "graceful" in json.loads(text)["error"], f"bad field: {text}")

    # property-based: no 5xx, nothing outside the spec
    if not os.path.exists(ST) and shutil.which("st") is None:
        fail(f"schemathesis not found at {ST} (scripts/setup.sh installs it)")
    st = ST if os.path.exists(ST) else shutil.which("st")
    r = subprocess.run(
        [st, "run", SPEC, "--url", base, "-H", f"Authorization: Bearer {op}",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
         "response_schema_conformance,ignored_auth",
         "--max-time", str(ST_SECONDS), "--workers", "1", "--no-color",
         "--suppress-health-check", "all", "--phases", "examples,coverage,fuzzing"],
        capture_output=True, text=True, timeout=ST_SECONDS + 120)
    out = r.stdout + r.stderr
    harness.log(out[-3000:])
    check(r.returncode == 0, f"schemathesis found no failure (exit {r.returncode})")
    check(c.master.alive(), "the master is still up")
    c.stop()


if __name__ == "__main__":
    harness.run(test)
