"""Kafka lag: monitoring and the lag alert (SPEC §8, master/joblag.c):

- a job reads a 2-partition topic at most 300 records/s per partition
  (1 s batches); 12,000 records arrive at once, so the lag rises far above
  sluice.alerts.lag.total=3000 and then drains;
- GET /api/v1/jobs/{job}/lag and /metrics show per partition the end
  offset (6,000 each), the next offset and their difference, consistently;
- the webhook gets exactly one FIRING lag alert while the lag is above the
  threshold (evaluated every sluice.alerts.interval = 1 s: no storm), then
  exactly one RESOLVED once it drained, both recorded as sent;
- the master is restarted while the lag incident is open (the restarted
  master sees the lag still above the threshold): the incident was stored
  with the alert (alert_incidents), so no second FIRING is sent for it;
- every record is taken once the lag is 0 (next offsets sum to 12,000).
"""
import http.server
import json
import os
import re
import threading
import time
import urllib.request

from kharness import (  # first: puts tests/integration on sys.path
    BOOTSTRAP, make_lines, name, produce, require_broker, topic_create)
from harness import LIB, Cluster, check, http_base, jobs_table, run, wait_for

N = 12_000


class Hook(http.server.BaseHTTPRequestHandler):
    bodies = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Hook.bodies.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


def get(base, token, path):
    req = urllib.request.Request(base + path)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read().decode()
        return json.loads(body) if path.startswith("/api") else body


def restart_master(c, token, job):
    """Restarts the master once the firing alert is recorded; returns the new
    REST base once it sees the lag, still above the threshold."""
    wait_for(lambda: get(http_base(c), token, f"/api/v1/jobs/{job}/alerts")["alerts"], 10,
             "the alert recorded")
    c.master.stop()
    os.remove(os.path.join(c.state, "master.http"))
    c.start_master(extra_conf={"sluice.alerts.interval": "1s"})
    base = http_base(c)
    lag = wait_for(lambda: (lambda l: l if l["partitions"] and all(
        p["end_offset"] >= 0 for p in l["partitions"]) else None)(
        get(base, token, f"/api/v1/jobs/{job}/lag")), 30, "the restarted master's lag")
    check(lag["total"] > 3000, f"after the restart the lag is still above 3000: {lag}")
    return base


def test():
    require_broker()
    src, out, job = name("lag-in"), name("lag-out"), name("klag")
    topic_create(src, 2)
    topic_create(out, 2)
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    c = Cluster("kafka-lag")
    c.start_master(extra_conf={"sluice.alerts.interval": "1s"})
    c.start_worker("w1", slots=3)
    c.wait_workers(1)
    token = open(os.path.join(c.state, "operator.token")).read().strip()
    base = http_base(c)
    c.client("submit", "--start", os.path.join(LIB, "kafka_wordcount.so"), "--name", job,
             "--batch-interval", "1s",
             "--conf", "spark.streaming.kafka.maxRatePerPartition=300",
             "--conf", f"wordcount.brokers={BOOTSTRAP}",
             "--conf", f"wordcount.topics={src}",
             "--conf", f"wordcount.output={out}",
             "--conf", f"wordcount.group={job}",
             "--conf", "sluice.alerts.lag.total=3000",
             "--conf", f"sluice.alerts.webhook.url=http://127.0.0.1:{hook.server_address[1]}/h")
    wait_for(lambda: jobs_table(c)[job]["batches"] >= 1, 30, "the first batch")
    produce(src, make_lines(N, seed=7))

    # (end offsets are refreshed at each plan: wait for one after the produce)
    lag = wait_for(lambda: (lambda l: l if l["total"] > 3000 and sum(
        p["end_offset"] for p in l["partitions"]) == N else None)(
        get(base, token, f"/api/v1/jobs/{job}/lag")), 30, "the lag to show")
    parts = lag["partitions"]
    check(len(parts) == 2 and sum(p["end_offset"] for p in parts) == N and
          all(p["lag"] == p["end_offset"] - p["next_offset"] for p in parts),
          f"per partition: end - next = lag: {parts}")
    metrics = get(base, None, "/metrics")
    ends = [float(v) for v in re.findall(r'^sluice_job_kafka_end_offset\{job="%s",[^}]*\} (\S+)$'
                                         % re.escape(job), metrics, re.M)]
    check(sum(ends) == N, f"/metrics end offsets sum to {N}: {ends}")
    check(re.search(r'^sluice_job_kafka_lag_records\{job="%s",' % re.escape(job), metrics,
                    re.M), "/metrics has the lag per partition")

    wait_for(lambda: any(b["status"] == "firing" for b in Hook.bodies), 10, "the lag alert")
    base = restart_master(c, token, job)
    wait_for(lambda: get(base, token, f"/api/v1/jobs/{job}/lag")["total"] == 0, 60,
             "the lag to drain")
    wait_for(lambda: any(b["status"] == "resolved" for b in Hook.bodies), 10, "resolved")
    time.sleep(2)  # two more evaluations: nothing more
    got = [(b["status"], b["message"].split(":")[0]) for b in Hook.bodies]
    check(got == [("firing", "FIRING"), ("resolved", "RESOLVED")],
          f"one alert, then one resolved: {Hook.bodies}")
    check("Kafka lag total" in Hook.bodies[0]["message"] and
          "3000" in Hook.bodies[0]["message"], f"the alert names the threshold: {Hook.bodies[0]}")
    hist = get(base, token, f"/api/v1/jobs/{job}/alerts")["alerts"]
    check([(a["event"], a["outcome"]) for a in hist] == [("firing", "sent"), ("resolved", "sent")],
          f"both recorded: {hist}")
    parts = get(base, token, f"/api/v1/jobs/{job}/lag")["partitions"]
    check(sum(p["next_offset"] for p in parts) == N,
          f"every record taken across the restart: {parts}")
    c.client("stop", job)
    hook.shutdown()
    c.stop()


if __name__ == "__main__":
    run(test)
