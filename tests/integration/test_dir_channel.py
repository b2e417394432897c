#!/usr/bin/env python3
"""A directory (offline) channel end to end, no Kafka: `sluice channels
create CH --dir D --source socket:HOST:PORT` makes CH.write (the socket ->
save_as_text_files(D/landing/batch)) and CH.read (text_file_stream(D/landing)
-> save_as_text_files(D/data/batch)). A user job (tests/jobs3/ops_job.so,
whose "again" output saves its text_file_stream(input.dir) as it is) reads
D/data, so it reads the channel:

- bad specs are refused naming the problem (a relative dir; an unknown
  kind; a topic on a dir channel; a second channel on the same dir);
- the channel shows kind dir, its landing and data directories, both system
  jobs PUBLISHED, NOT_READY, and the user job as its reader;
- the user job cannot start (CLI exit 1, REST 409) while CH.read is STOPPED:
  the message names the job, the channel, its data directory and CH.read;
- with both system jobs and the reader running, N distinct lines sent by a
  Python line server arrive in the reader's saved output exactly once each
  (a Counter), also after three more batches;
- delete needs the reader and both system jobs stopped; then no channel is
  left (the directory and its data stay).
"""
import collections
import json
import os
import urllib.error
import urllib.request

from harness import (BUILD, Cluster, check, http_base, jobs_table, log, run, saved_batches,
                     wait_for)
from receiver_common import LineServer

JOBS3 = os.path.join(BUILD, "tests", "jobs3")
N = 400


def call(base, method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def channel(c, ch):
    return json.loads(c.client("channels", "show", ch, "--json").stdout)


def saved_lines(prefix):
    got = collections.Counter()
    for d in saved_batches(prefix).values():
        for name in os.listdir(d):
            if name != "_SUCCESS":
                with open(os.path.join(d, name)) as f:
                    got.update(f.read().splitlines())
    return got


def refused_start(c, base, op, job, ch, data):
    r = c.client("start", job, check=False)
    want = f"job '{job}' reads channel '{ch}' (directory {data}), whose data read system " \
           f"job '{ch}.read' is STOPPED: start it first"
    check(r.returncode == 1 and want in r.stderr,
          f"CLI start refused naming the channel, its directory and {ch}.read: "
          f"{r.returncode} {r.stderr.strip()}")
    status, body = call(base, "POST", f"/api/v1/jobs/{job}/start", op, {"reason": "test"})
    check(status == 409 and want in body["error"], f"REST start refused: {status} {body}")
    check(jobs_table(c)[job]["state"] in ("PUBLISHED", "STOPPED"), "the reader did not start")


def test():
    src = LineServer()
    c = Cluster("dirchan")
    c.start_master()
    for i in range(2):
        c.start_worker(f"w{i}", slots=3)
    c.wait_workers(2)
    base = http_base(c)
    op = open(os.path.join(c.state, "operator.token")).read().strip()
    d, out, fe = (os.path.join(c.dir, x) for x in ("chan", "out", "foreach"))
    for x in (d, out, fe):
        os.makedirs(x)
    ch, user = "logs", "rdr"

    r = c.client("channels", "create", ch, "--dir", "rel/path", "--source", "dir:/x",
                 check=False)
    check(r.returncode != 0 and "dir as an absolute path" in r.stderr,
          f"a relative dir is refused: {r.stderr.strip()}")
    status, body = call(base, "POST", "/api/v1/channels", op,
                        {"name": ch, "kind": "tape", "source": "dir:/x"})
    check(status == 400 and "kind" in body["error"], f"an unknown kind: {status} {body}")
    status, body = call(base, "POST", "/api/v1/channels", op,
                        {"name": ch, "kind": "dir", "dir": "/x", "topic": "t",
                         "source": "dir:/y"})
    check(status == 400 and "no topic" in body["error"], f"a topic on a dir channel: {body}")

    r = c.client("channels", "create", ch, "--dir", d, "--source",
                 f"socket:127.0.0.1:{src.port}", "--batch-interval", "500ms")
    check(ch in r.stdout and "NOT_READY" in r.stdout and d in r.stdout,
          f"channel created: {r.stdout}")
    info = channel(c, ch)
    data = os.path.join(d, "data")
    check(info["kind"] == "dir" and info["dir"] == d and info["data_dir"] == data and
          info["landing_dir"] == os.path.join(d, "landing") and info["topic"] == "" and
          info["write_job"] == {"name": f"{ch}.write", "state": "PUBLISHED"} and
          info["read_job"] == {"name": f"{ch}.read", "state": "PUBLISHED"},
          f"a dir channel with two PUBLISHED system jobs: {info}")
    status, body = call(base, "POST", "/api/v1/channels", op,
                        {"name": "other", "kind": "dir", "dir": d, "source": "dir:/x"})
    check(status == 409 and d in body["error"], f"a second channel on {d}: {status} {body}")

    c.client("publish", os.path.join(JOBS3, "ops_job.so"), "--name", user,
             "--batch-interval", "500ms", "--conf", f"input.dir={data}/", "--conf",
             f"output.path={out}", "--conf", f"foreach.dir={fe}")
    check(channel(c, ch)["readers"] == [user], "the user job is listed as a reader")

    c.client("start", f"{ch}.write")
    c.client("start", f"{ch}.read")
    c.client("stop", f"{ch}.read")
    wait_for(lambda: jobs_table(c)[f"{ch}.read"]["state"] == "STOPPED", 30, "read STOPPED")
    refused_start(c, base, op, user, ch, data)
    c.client("start", f"{ch}.read")
    check(channel(c, ch)["state"] == "READY", "both system jobs RUNNING: READY")
    c.client("start", user)

    wait_for(lambda: src.connections() >= 1, 30, "the write job's receiver connected")
    lines = [f"line-{i:05d}-{'x' * (i % 37)}" for i in range(N)]
    src.send_paced(lines, 2.0)
    want = collections.Counter(lines)
    prefix = os.path.join(out, "again")
    wait_for(lambda: saved_lines(prefix) == want, 90, "every line in the reader's output")
    seen = len(saved_batches(prefix))
    wait_for(lambda: len(saved_batches(prefix)) >= seen + 3, 30, "three more batches")
    got = saved_lines(prefix)
    check(got == want, f"each of the {N} lines exactly once in the reader's saved output "
          f"({sum(got.values())} lines, {len(got)} distinct)")
    check(saved_batches(os.path.join(d, "landing", "batch")) and
          saved_batches(os.path.join(data, "batch")), "batches in landing/ and data/")

    status, body = call(base, "DELETE", f"/api/v1/channels/{ch}", op)
    check(status == 409 and user in body["error"], f"delete while read: {status} {body}")
    for j in (user, f"{ch}.read", f"{ch}.write"):
        c.client("stop", j)
    wait_for(lambda: c.client("channels", "delete", ch, check=False).returncode == 0, 30,
             "the channel deleted once its system jobs stopped")
    status, body = call(base, "GET", "/api/v1/channels", op)
    check(status == 200 and body["channels"] == [], f"no channel left: {body}")
    check(os.path.isdir(data), "the channel's directory stays")
    log(f"dir channel: gate, {N} lines exactly once, deletion checked")
    src.stop()
    c.stop()


if __name__ == "__main__":
    run(test)
