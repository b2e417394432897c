"""Channels and their system jobs (docs/operations.md, "Channels and system
jobs") against a real broker:

- `sluice channels create` makes channel CH on topic T with source
  kafka:EXT: two system jobs, CH.write (EXT -> T.in) and CH.read
  (T.in -> T), both PUBLISHED; the channel is NOT_READY.
- a user job reading T (kafka_copy T -> OUT) cannot start while a system
  job is not RUNNING: the CLI (exit 1) and the REST API (409) name the
  channel and the system job (CH.write, then CH.read); the refusal changes
  nothing.
- with both RUNNING the channel is READY and the user job starts; records
  produced to EXT arrive in OUT exactly once (read_committed, every line
  once), through both system jobs.
- after CH.read is stopped, the user job stopped and started again is
  refused naming CH.read.
- delete is refused (409) while a system job runs, then removes both
  system jobs; the REST API needs the operator token to create or delete
  (reader: 403, none: 401) and lists channels with the reader token.
"""
import collections
import json
import os
import time
import urllib.error
import urllib.request

from kharness import (  # first: puts tests/integration on sys.path
    BOOTSTRAP, consume, name, produce, require_broker, topic_create)
from harness import LIB, Cluster, check, fail, http_base, jobs_table, log, run, wait_for

N = 3000


def call(base, method, path, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def channel(c, ch):
    r = c.client("channels", "show", ch, "--json")
    return json.loads(r.stdout)


def refused_start(c, base, op, job, ch, sysjob, state):
    r = c.client("start", job, check=False)
    want = f"reads channel '{ch}'"
    check(r.returncode == 1 and want in r.stderr and f"'{sysjob}' is {state}" in r.stderr,
          f"CLI start of {job} refused naming {ch} and {sysjob} {state}: {r.returncode} "
          f"{r.stderr.strip()}")
    status, body = call(base, "POST", f"/api/v1/jobs/{job}/start", op, {"reason": "test"})
    check(status == 409 and want in body["error"] and sysjob in body["error"],
          f"REST start of {job} refused with 409 naming {sysjob}: {status} {body}")
    check(jobs_table(c)[job]["state"] in ("PUBLISHED", "STOPPED"),
          f"the refused job {job} did not start")


def wait_output(out, want, timeout):
    deadline = time.monotonic() + timeout
    got = []
    while time.monotonic() < deadline:
        got = [v for _, v in consume(out, read_committed=True, timeout_ms=3000)]
        if len(got) >= len(want):
            break
        time.sleep(1)
    check(collections.Counter(got) == collections.Counter(want),
          f"{out}: every produced record exactly once ({len(got)} of {len(want)})")


def create_and_gate(c, base, op, ch, ext, topic, user, out):
    r = c.client("channels", "create", ch, "--brokers", BOOTSTRAP, "--source", f"kafka:{ext}",
                 "--topic", topic, "--batch-interval", "500ms")
    check(ch in r.stdout and "NOT_READY" in r.stdout, f"channel created: {r.stdout}")
    info = channel(c, ch)
    check(info["write_job"] == {"name": f"{ch}.write", "state": "PUBLISHED"} and
          info["read_job"] == {"name": f"{ch}.read", "state": "PUBLISHED"} and
          info["landing_topic"] == f"{topic}.in", f"two PUBLISHED system jobs: {info}")
    c.client("publish", os.path.join(LIB, "kafka_copy.so"), "--name", user,
             "--batch-interval", "500ms", "--conf", f"copy.brokers={BOOTSTRAP}",
             "--conf", f"copy.input={topic}", "--conf", f"copy.output={out}",
             "--conf", f"copy.group={user}")
    check(channel(c, ch)["readers"] == [user], "the user job is listed as a reader")
    refused_start(c, base, op, user, ch, f"{ch}.write", "PUBLISHED")
    c.client("start", f"{ch}.write")
    refused_start(c, base, op, user, ch, f"{ch}.read", "PUBLISHED")
    c.client("start", f"{ch}.read")
    check(channel(c, ch)["state"] == "READY", "both system jobs RUNNING: READY")


def test():
    require_broker()
    ch, ext, topic = name("orders"), name("ext"), name("orders-t")
    user, out = name("reader"), name("reader-out")
    for t in (ext, topic, f"{topic}.in", out):
        topic_create(t, 2)
    c = Cluster("channels", conf={"sluice.heartbeat.interval": "200ms"})
    c.start_master()
    c.start_worker("w0", slots=4)
    c.start_worker("w1", slots=4)
    c.wait_workers(2)
    base = http_base(c)
    op = open(os.path.join(c.state, "operator.token")).read().strip()
    reader = open(os.path.join(c.state, "reader.token")).read().strip()

    create_and_gate(c, base, op, ch, ext, topic, user, out)
    c.client("start", user)
    lines = [f"record-{i} {i % 7}" for i in range(N)]
    produce(ext, lines)
    wait_output(out, lines, 120)

    c.client("stop", f"{ch}.read", "--reason", "maintenance")
    c.client("stop", user)
    refused_start(c, base, op, user, ch, f"{ch}.read", "STOPPED")

    status, body = call(base, "DELETE", f"/api/v1/channels/{ch}", op)
    check(status == 409 and f"'{ch}.write' is running" in body["error"],
          f"delete refused while the data write job runs: {status} {body}")
    status, body = call(base, "GET", "/api/v1/channels", reader)
    check(status == 200 and [x["name"] for x in body["channels"]] == [ch],
          f"the reader token lists channels: {status} {body}")
    for token, want in ((reader, 403), (None, 401)):
        status, body = call(base, "DELETE", f"/api/v1/channels/{ch}", token)
        check(status == want, f"delete with token {token and 'reader'}: {want} ({status})")
        status, body = call(base, "POST", "/api/v1/channels", token,
                            {"name": "x", "brokers": BOOTSTRAP, "source": "kafka:x"})
        check(status == want, f"create with token {token and 'reader'}: {want} ({status})")
    c.client("stop", f"{ch}.write")
    wait_for(lambda: c.client("channels", "delete", ch, check=False).returncode == 0, 30,
             "the stopped channel deleted")
    jobs = jobs_table(c)
    check(f"{ch}.write" not in jobs and f"{ch}.read" not in jobs and user in jobs,
          f"the system jobs are gone, the user job stays: {sorted(jobs)}")
    status, body = call(base, "GET", "/api/v1/channels", op)
    check(status == 200 and body["channels"] == [], f"no channel left: {body}")
    if c.client("channels", "show", ch, check=False).returncode != 1:
        fail("show of a deleted channel fails")
    log("channels: gate, data path and deletion checked")
    c.stop()


if __name__ == "__main__":
    run(test)
