"""TLS on the master's HTTP port (docs/operations.md "REST API",
sluice.http.tls.cert / sluice.http.tls.key):

- with a certificate and key from scripts/gen-certs.sh the master serves
  the REST API and /metrics over HTTPS only (STATE/master.http says
  https://): Python's ssl with the cluster CA verifies the certificate and
  the API answers (bearer tokens as before: none gets 401); curl --cacert
  does too; a plain-HTTP request to the port gets no HTTP answer, and a
  client that does not trust the CA is refused by the handshake;
- a key file that is missing makes the master log the error naming the
  file and serve no API at all (never plain HTTP instead), and keep running.
"""
import http.client
import json
import os
import socket
import ssl
import subprocess

from harness import SOURCE, Cluster, check, http_base, log, run, wait_for


def get(url, ctx, token=None):
    """One HTTPS GET that the client closes: http.client, not urllib, whose
    "Connection: close" makes nng 1.5.2's server close the TLS stream right
    after the response, which rarely (about 1 in 200 under ASan) cuts the
    body off (docs/operations.md, "REST API")."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=15)
    try:
        conn.request("GET", path, headers={"Authorization": "Bearer " + token} if token else {})
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def plain_http_fails(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(100)
        except (ConnectionResetError, socket.timeout):
            data = b""
    return not data.startswith(b"HTTP/")


def test():
    c = Cluster("resttls")
    certs = os.path.join(c.dir, "certs")
    subprocess.run(["bash", os.path.join(SOURCE, "scripts", "gen-certs.sh"), certs,
                    "master:127.0.0.1"], check=True, capture_output=True, timeout=60)
    c.conf.update({"sluice.http.tls.cert": os.path.join(certs, "master.pem"),
                   "sluice.http.tls.key": os.path.join(certs, "master.key")})
    c.start_master()
    base = http_base(c)
    check(base.startswith("https://127.0.0.1:"), f"master.http names https: {base}")
    reader = open(os.path.join(c.state, "reader.token")).read().strip()
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    status, body = get(base + "/api/v1/jobs", ctx, reader)
    check(status == 200 and json.loads(body) == {"jobs": []}, f"HTTPS API: {status} {body}")
    status, body = get(base + "/api/v1/jobs", ctx)
    check(status == 401, f"no token over HTTPS: 401 ({status})")
    status, body = get(base + "/metrics", ctx)
    check(status == 200 and "sluice_master_workers" in body, "/metrics over HTTPS")
    r = subprocess.run(["curl", "-sS", "--cacert", os.path.join(certs, "ca.pem"), "-H",
                        f"Authorization: Bearer {reader}", base + "/api/v1/workers"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and json.loads(r.stdout) == {"workers": []},
          f"curl --cacert: {r.returncode} {r.stdout} {r.stderr}")
    port = int(base.rsplit(":", 1)[1])
    check(plain_http_fails(port), "plain HTTP gets no HTTP answer")
    try:
        get(base + "/metrics", ssl.create_default_context())
        check(False, "a client without the cluster CA must fail the handshake")
    except ssl.SSLCertVerificationError as e:
        check("CERTIFICATE_VERIFY_FAILED" in str(e), f"untrusted: {e}")
    bad = Cluster("resttls-bad", conf={"sluice.http.tls.cert": os.path.join(certs, "master.pem"),
                                       "sluice.http.tls.key": os.path.join(certs, "nosuch.key")})
    bad.start_master()
    wait_for(lambda: "no REST API or /metrics" in bad.master.log_text(), 10, "the error logged")
    logtext = bad.master.log_text()
    check("nosuch.key" in logtext and "cannot read" in logtext,
          "the log names the unreadable key file")
    check(not os.path.exists(os.path.join(bad.state, "master.http")),
          "no API served at all (no plain-HTTP fallback)")
    check(bad.client("workers", check=False).returncode == 0, "the master runs on")
    log("REST over TLS checked")
    bad.stop()
    c.stop()


if __name__ == "__main__":
    run(test)
