"""`sluice logs JOB` (docs/operations.md "Logs"): the job's log lines from
the master and every worker, merged in time order.

- a generator job on two workers: its lines come from the master (its
  submission and every transition) and from both workers (each loads the
  job: "loaded job gen (id 1, ..."), tagged with their source, in time
  order; a second job's lines are not among them;
- --since 2s shows only what happened in the last two seconds (not the
  submission);
- --follow prints the lines that arrive while it runs: a pause made during
  it shows up, once;
- --json prints one object per line; the REST API answers the same lines
  and refuses a malformed since, naming it;
- the master's log file is bounded: with sluice.log.maxSize=64k it is
  rotated to FILE.1 and neither file exceeds the limit by more than a line.
"""
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

from harness import BIN, LIB, Cluster, check, http_base, log, run, wait_for

LINE_MAX = 2048


def rest(base, token, path):
    req = urllib.request.Request(base + path)
    req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def follow_with_pause(c):
    """--follow for 8 s; the job is paused 1.5 s in."""
    argv = [os.path.join(BIN, "sluice"), "--master", c.url, "logs", "--follow", "--duration",
            "8s", "--since", "1s", "gen"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=c.env)
    time.sleep(1.5)
    c.client("pause", "gen", "--reason", "follow test")
    out, err = p.communicate(timeout=30)
    check(p.returncode == 0, f"logs --follow exits 0 after --duration: {err}")
    paused = [l for l in out.splitlines() if "RUNNING -> PAUSED" in l]
    check(len(paused) == 1 and paused[0].startswith("master "),
          f"the pause made while following shows up once: {out}")
    c.client("resume", "gen")


def test():
    c = Cluster("joblogs", conf={"sluice.heartbeat.interval": "200ms"})
    mlog = os.path.join(c.dir, "master-file.log")
    c.start_master(extra_conf={"sluice.log.file": mlog, "sluice.log.maxSize": "64k",
                               "sluice.log.level": "debug"})
    c.start_worker("w0", slots=2)
    c.start_worker("w1", slots=2)
    c.wait_workers(2)
    wids = {c.worker_id("w0"), c.worker_id("w1")}
    gen = os.path.join(LIB, "generator_wordcount.so")
    c.client("submit", "--start", gen, "--name", "gen", "--batch-interval", "200ms",
             "--conf", "gen.rate=200", "--conf", "gen.partitions=4")
    c.client("submit", gen, "--name", "other", "--conf", "gen.rate=10")
    lines = wait_for(lambda: (lambda ls: ls if {l["source"] for l in ls} >= wids else None)(
        [json.loads(x) for x in c.client("logs", "--json", "gen").stdout.splitlines()]),
        20, "lines from both workers")
    sources = {l["source"] for l in lines}
    check(sources == wids | {"master"}, f"sources: master and both workers: {sources}")
    check(any("job gen (id 1) submitted" in l["line"] for l in lines if l["source"] == "master"),
          "the master's submission line")
    check(all(any(l["source"] == w and "loaded job gen (id 1," in l["line"] for l in lines)
              for w in wids), "each worker's 'loaded job gen' line")
    stamps = [l["line"][:23] for l in lines]
    check(stamps == sorted(stamps), "in time order")
    check(not any("other" in l["line"] for l in lines), "no line of the other job")
    table = c.client("logs", "gen").stdout.splitlines()
    check(len(table) >= len(lines) and table[0].split()[0] in sources,
          "the table: one line each, after its source")

    time.sleep(3)
    recent = c.client("logs", "--since", "2s", "gen").stdout
    check("submitted" not in recent, "--since 2s leaves out the submission")
    follow_with_pause(c)

    base = http_base(c)
    token = open(os.path.join(c.state, "reader.token")).read().strip()
    status, body = rest(base, token, "/api/v1/jobs/gen/logs?limit=5")
    check(status == 200 and len(body["lines"]) == 5 and
          all(s["ok"] for s in body["sources"]), f"REST: the latest 5 lines: {body}")
    status, body = rest(base, token, "/api/v1/jobs/gen/logs?since=yesterday")
    check(status == 400 and "since" in body["error"], f"a bad since is named: {body}")

    wait_for(lambda: os.path.exists(mlog + ".1"), 60, "the master's log rotated")
    for f in (mlog, mlog + ".1"):
        check(os.path.getsize(f) <= 64 * 1024 + LINE_MAX,
              f"{f}: {os.path.getsize(f)} bytes, within sluice.log.maxSize")
    log("job logs checked")
    c.stop()


if __name__ == "__main__":
    run(test)
