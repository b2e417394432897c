"""Job alerts end to end (master/alerts.c on master/notify.c), to a real SMTP
server on loopback (Debian's python3-aiosmtpd) and a webhook receiver:

- a job configured with sluice.alerts.email.to and sluice.alerts.webhook.url
  that FAILS gives exactly one email and one webhook (no storm while it stays
  FAILED), within one evaluation interval, and both are listed as sent by
  GET /api/v1/jobs/{job}/alerts;
- a pause longer than sluice.pause.maxDuration becomes a stop, and the
  STOPPED alert says why;
- an SMTP server that accepts connections but never answers does not slow
  batches: while its alerts time out and are retried, another job's batches
  are generated every interval, and the alerts end up recorded as failed.
"""
import email
import http.server
import json
import mailbox
import os
import socket
import threading
import time
import urllib.request

import harness
from harness import check, fail, free_port, http_base, jobs_table, smtp_server, wait_for

LIB = os.path.join(harness.BUILD, "lib", "generator_wordcount.so")
INTERVAL_S = 3  # sluice.alerts.interval


class Hook(http.server.BaseHTTPRequestHandler):
    bodies = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Hook.bodies.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass



def mails(mbox):
    if not os.path.exists(mbox):
        return []
    return [m for m in mailbox.Maildir(mbox, factory=None, create=False)]


def rest(base, token, path):
    req = urllib.request.Request(base + path)
    req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test():
    c = harness.Cluster("jobalerts")
    smtp, sport, mbox = smtp_server(c.dir)
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    try:
        run(c, sport, mbox, hook_url)
    finally:
        smtp.kill()
        hook.shutdown()


def run(c, sport, mbox, hook_url):
    c.start_master(extra_conf={"sluice.alerts.smtp.port": str(sport),
                               "sluice.alerts.smtp.starttls": "off",
                               "sluice.alerts.interval": f"{INTERVAL_S}s"})
    c.start_worker("w1")
    c.wait_workers(1)
    token = open(os.path.join(c.state, "operator.token")).read().strip()
    base = http_base(c)
    blocker = os.path.join(c.dir, "a-file")
    with open(blocker, "w") as f:
        f.write("not a directory\n")

    # FAILED -> one email and one webhook
    c.client("submit", "--start", LIB, "--name", "doomed", "--batch-interval", "500ms",
             "--conf", "gen.rate=100", "--conf", f"output.path={blocker}/out/x",
             "--conf", "sluice.alerts.email.to=ops@example.com,oncall@example.com",
             "--conf", f"sluice.alerts.webhook.url={hook_url}")
    wait_for(lambda: jobs_table(c)["doomed"]["state"] == "FAILED", 60, "the job to fail")
    wait_for(lambda: len(mails(mbox)) >= 1 and len(Hook.bodies) >= 1, INTERVAL_S,
             "the email and the webhook within one evaluation interval")
    time.sleep(2)  # the job stays FAILED: nothing more may arrive
    got = mails(mbox)
    check(len(got) == 1 and len(Hook.bodies) == 1,
          f"exactly one email and one webhook ({len(got)}, {Hook.bodies})")
    msg = got[0]
    check("doomed" in msg["Subject"] and "FAILED" in msg["Subject"] and
          "ops@example.com" in msg["To"], f"the email names job and state: {msg['Subject']}")
    body = Hook.bodies[0]
    check(body["job"] == "doomed" and body["state"] == "FAILED" and body["status"] == "firing"
          and "failed" in body["why"], f"the webhook's JSON: {body}")
    hist = wait_for(lambda: (lambda h: h if len(h) == 2 else None)(
        rest(base, token, "/api/v1/jobs/doomed/alerts")["alerts"]), 10, "two alerts recorded")
    check(sorted(a["channel"] for a in hist) == ["email", "webhook"] and
          all(a["outcome"] == "sent" and a["event"] == "firing" for a in hist),
          f"both recorded as sent: {hist}")

    # a pause longer than sluice.pause.maxDuration -> STOPPED, with an alert
    c.client("submit", "--start", LIB, "--name", "napper", "--batch-interval", "500ms",
             "--conf", "gen.rate=100", "--conf", "sluice.pause.maxDuration=1s",
             "--conf", "sluice.alerts.states=STOPPED",
             "--conf", f"sluice.alerts.webhook.url={hook_url}")
    wait_for(lambda: jobs_table(c)["napper"]["batches"] >= 1, 20, "napper to run")
    c.client("pause", "napper")
    wait_for(lambda: any(b["job"] == "napper" for b in Hook.bodies), 15,
             "the STOPPED alert of the long pause")
    nap = [b for b in Hook.bodies if b["job"] == "napper"]
    check(len(nap) == 1 and nap[0]["state"] == "STOPPED" and
          "sluice.pause.maxDuration" in nap[0]["why"], f"the alert says why: {nap}")
    check(jobs_table(c)["napper"]["state"] == "STOPPED", "the job is STOPPED")

    # an SMTP server that never answers does not slow batches
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)  # never accepted: connections hang until the timeout
    c.master.stop()
    os.unlink(os.path.join(c.state, "master.http"))
    c.start_master(extra_conf={"sluice.alerts.smtp.port": str(hole.getsockname()[1]),
                               "sluice.alerts.smtp.starttls": "off",
                               "sluice.alerts.timeout": "2s", "sluice.alerts.retries": "1",
                               "sluice.alerts.backoff": "100ms"})
    c.wait_workers(1)
    c.client("submit", "--start", LIB, "--name", "steady", "--batch-interval", "500ms",
             "--conf", "gen.rate=100")
    c.client("submit", "--start", LIB, "--name", "noisy", "--batch-interval", "500ms",
             "--conf", "gen.rate=100", "--conf", "sluice.alerts.states=PAUSED,RUNNING",
             "--conf", "sluice.alerts.email.to=ops@example.com")
    wait_for(lambda: jobs_table(c)["steady"]["batches"] >= 1, 20, "steady to run")
    c.client("pause", "noisy")
    c.client("resume", "noisy")  # five alerts: RUNNING, then two per change
    start = jobs_table(c)["steady"]["batches"]
    time.sleep(4)  # eight intervals while the alerts hang on the SMTP server
    ran = jobs_table(c)["steady"]["batches"] - start
    check(ran >= 6, f"steady kept its pace while the SMTP server hung: {ran} batches in 4 s")
    base = http_base(c)
    hist = wait_for(lambda: (lambda h: h if len(h) >= 4 else None)(
        rest(base, token, "/api/v1/jobs/noisy/alerts")["alerts"]), 60,
        "the hanging alerts to be recorded")
    check(all(a["outcome"] == "failed" and a["attempts"] == 2 and a["error"] for a in hist),
          f"recorded failed after 2 attempts, with the error: {hist[:2]}")
    hole.close()
    c.stop()


if __name__ == "__main__":
    harness.run(test)
