"""Alert delivery (master/notify.c) to real receivers on loopback: an SMTP
server (Debian's python3-aiosmtpd, writing a maildir), an HTTP webhook
receiver, and a command. Checks what arrives, retries with backoff, bounded
failures (unreachable server, hanging webhook, failing or hanging command),
header injection, and refusals of unusable alerts.

Drives the delivery module through tests/tools/notify_probe.c. Needs
/usr/bin/python3 with aiosmtpd (scripts/setup.sh); without it the test FAILS.
"""
import http.server
import json
import mailbox
import os
import shutil
import subprocess
import tempfile
import threading
import time

import harness
from harness import check, fail, free_port, smtp_server, wait_for

PROBE = os.path.join(harness.BIN, "sluice-notify-probe")
ALERT = {"job": "wc", "status": "firing", "state": "FAILED", "message": "job wc is FAILED"}


def probe(kind, target, subject, recipients=(), conf=None, timeout=60):
    argv = [PROBE]
    for k, v in (conf or {}).items():
        argv += ["--conf", f"{k}={v}"]
    argv += [kind, target, subject, json.dumps(ALERT)] + list(recipients)
    t0 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr, time.monotonic() - t0


class Hook(http.server.BaseHTTPRequestHandler):
    bodies, fail_first, hang = [], [0], [False]

    def do_POST(self):
        if Hook.hang[0]:
            time.sleep(3)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if Hook.fail_first[0] > 0:
            Hook.fail_first[0] -= 1
            self.send_response(500)
            self.end_headers()
            return
        Hook.bodies.append((self.headers.get("Content-Type"), body.decode()))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass



def test():
    tmp = tempfile.mkdtemp(prefix="sluice-alerts-")
    smtp, sport, mbox = smtp_server(tmp)
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    hurl = f"http://127.0.0.1:{hook.server_port}/alerts"
    fast = {"sluice.alerts.backoff": "100ms", "sluice.alerts.retries": "2",
            "sluice.alerts.timeout": "1s"}
    try:
        # email: two recipients, a subject trying to inject a header
        rc, out, _ = probe("email", "-", "FIRING: job wc\r\nBcc: evil@example.org",
                           ["ops@example.org", "oncall@example.org"],
                           {"sluice.alerts.smtp.port": str(sport),
                            "sluice.alerts.smtp.from": "sluice@example.org"})
        check(rc == 0 and "attempts=1" in out, f"email delivered ({out.strip()})")
        msgs = wait_for(lambda: list(mailbox.Maildir(mbox, create=False)),
                        10, "the mail in the maildir")
        m = msgs[0]
        check(m["Subject"] == "FIRING: job wc  Bcc: evil@example.org",
              f"subject kept on one line ({m['Subject']!r})")
        check(m["Bcc"] is None, "no injected Bcc header")
        check("ops@example.org" in m["To"] and "oncall@example.org" in m["To"], "To lists both")
        check(m["From"] == "sluice@example.org", "From is sluice.alerts.smtp.from")
        payload = m.get_payload()
        check(json.loads(payload[payload.index("{"):payload.rindex("}") + 1]) == ALERT,
              "the body carries the alert JSON")

        # webhook: first POST answered 500, retried after the backoff
        Hook.fail_first[0] = 1
        rc, out, _ = probe("webhook", hurl, "s", conf=fast)
        check(rc == 0 and "attempts=2" in out, f"webhook delivered on the retry ({out.strip()})")
        check(len(Hook.bodies) == 1 and Hook.bodies[0][0] == "application/json" and
              json.loads(Hook.bodies[0][1]) == ALERT, "webhook got the JSON once")

        # exec: once per recipient, recipient as argument, JSON on stdin
        script = os.path.join(tmp, "sms.sh")
        got = os.path.join(tmp, "sms.out")
        with open(script, "w") as f:
            f.write(f"#!/bin/sh\necho \"to=$1 $(cat)\" >> {got}\n")
        os.chmod(script, 0o755)
        rc, out, _ = probe("exec", script, "s", ["+15550001", "+15550002"])
        check(rc == 0, f"exec delivered ({out.strip()})")
        lines = open(got).read().splitlines()
        check(len(lines) == 2 and lines[0].startswith("to=+15550001 {") and
              lines[1].startswith("to=+15550002 {") and
              json.loads(lines[0].split(" ", 1)[1]) == ALERT, "command ran per recipient with JSON")

        # failures are bounded, retried, and name the problem
        dead = free_port()
        rc, out, took = probe("email", "-", "s", ["a@example.org"],
                              {**fast, "sluice.alerts.smtp.port": str(dead)})
        check(rc == 1 and "attempts=3" in out and f"smtp://127.0.0.1:{dead}" in out,
              f"unreachable SMTP fails after 2 retries naming it ({out.strip()})")
        check(took < 15, f"and gives up in bounded time ({took:.1f} s)")
        rc, out, _ = probe("email", "-", "s", ["a@example.org"],
                           {"sluice.alerts.smtp.port": str(sport), "sluice.alerts.retries": "0",
                            "sluice.alerts.smtp.starttls": "required"})
        check(rc == 1 and "SMTP" in out, f"STARTTLS required but not offered: refused ({out.strip()})")
        Hook.hang[0] = True
        rc, out, took = probe("webhook", hurl, "s",
                              conf={**fast, "sluice.alerts.retries": "0",
                                    "sluice.alerts.timeout": "500ms"})
        Hook.hang[0] = False
        check(rc == 1 and "webhook" in out and took < 10,
              f"hanging webhook times out ({out.strip()}, {took:.1f} s)")
        bad = os.path.join(tmp, "bad.sh")
        with open(bad, "w") as f:
            f.write("#!/bin/sh\nexit 3\n")
        os.chmod(bad, 0o755)
        rc, out, _ = probe("exec", bad, "s", ["x"], {**fast, "sluice.alerts.retries": "0"})
        check(rc == 1 and "exit status 3" in out, f"failing command reported ({out.strip()})")
        slow = os.path.join(tmp, "slow.sh")
        with open(slow, "w") as f:
            f.write("#!/bin/sh\nsleep 30\n")
        os.chmod(slow, 0o755)
        rc, out, took = probe("exec", slow, "s", ["x"],
                              {"sluice.alerts.retries": "0", "sluice.alerts.timeout": "300ms"})
        check(rc == 1 and "killed after 300 ms" in out and took < 10,
              f"hanging command killed ({out.strip()})")

        # unusable alerts are refused with a message
        for kind, target, rcpt, want in [
                ("email", "-", ["not-an-address"], "bad email address"),
                ("email", "-", [], "without recipients"),
                ("webhook", "ftp://x/", [], "http:// or https://"),
                ("exec", "relative/cmd", ["x"], "absolute path")]:
            rc, out, _ = probe(kind, target, "s", rcpt)
            check(rc == 1 and "refused" in out and want in out, f"refused: {want}")
        rc, out, _ = probe("email", "-", "s", ["a@example.org"],
                           {"sluice.alerts.smtp.from": "nobody"})
        check(rc == 2 and "sluice.alerts.smtp.from" in out, "bad sender address names the key")
    finally:
        smtp.kill()
        smtp.wait()
        hook.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    harness.run(test)
