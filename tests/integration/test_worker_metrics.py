"""Worker /metrics: Prometheus text that promtool accepts, with figures that
match the worker's configuration, JSON errors for other paths and methods,
and no crash on malformed or oversized HTTP requests.

Needs promtool (Debian's prometheus package, installed by scripts/setup.sh);
without it the test FAILS.
"""
import json
import os
import shutil
import socket
import subprocess
import urllib.error
import urllib.request

import harness
from harness import check, fail, free_port, wait_for


def get(url, method="GET", data=None):
    req = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def parse(text):
    """{(name, labels-string): value} of the samples of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, value = line.rsplit(" ", 1)
        out[name_labels] = float(value)
    return out


def test():
    promtool = shutil.which("promtool")
    if promtool is None:
        fail("promtool not found (install Debian's prometheus package: scripts/setup.sh)")
    c = harness.Cluster("metrics")
    c.start_master()
    port = free_port()
    c.start_worker("w1", slots=3, memory="256m",
                   extra_conf={"sluice.worker.http.port": str(port)})
    c.wait_workers(1)
    base = f"http://127.0.0.1:{port}"
    status, ctype, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
        get(base + "/metrics")), 10, "/metrics to answer")
    check(ctype.startswith("text/plain; version=0.0.4"), f"content type {ctype}")
    r = subprocess.run([promtool, "check", "metrics"], input=body, text=True,
                       capture_output=True, timeout=30)
    check(r.returncode == 0, f"promtool check metrics passes ({r.stdout}{r.stderr})")
    m = parse(body)
    check(m["sluice_worker_slots"] == 3, "slots = 3")
    check(m["sluice_worker_slots_busy"] == 0, "no slot busy when idle")
    check(m["sluice_worker_memory_budget_bytes"] == 256 * 2**20, "memory budget 256 MiB")
    want = int(256 * 2**20 * 0.6 * 0.5)
    check(abs(m["sluice_worker_storage_budget_bytes"] - want) <= 1,
          f"storage budget = memory x 0.6 x 0.5 ({want})")
    wid = c.worker_id("w1")
    check(m.get(f'sluice_worker_info{{worker="{wid}"}}') == 1, f"info names {wid}")
    rss = m["process_resident_memory_bytes"]
    check(0 < rss < 256 * 2**20, f"idle RSS {rss / 2**20:.1f} MiB within the budget")

    status, ctype, body = get(base + "/nope")
    check(status == 404 and "/nope" in json.loads(body)["error"], "404 names the path")
    status, ctype, body = get(base + "/metrics", method="POST", data=b"x")
    check(status == 405 and "POST" in json.loads(body)["error"], "405 names the method")
    # nng answers 400 and closes; the client may see the close (broken pipe,
    # reset) before it has sent the whole body: either way it is refused
    try:
        status, _, _ = get(base + "/metrics", method="POST", data=b"x" * (2 * 2**20))
    except (urllib.error.URLError, ConnectionError) as e:
        status = f"connection closed: {e}"
    check(status in (400, 413) or str(status).startswith("connection closed"),
          f"2 MiB body refused ({status})")
    for junk in [b"\x00\xff garbage\r\n\r\n", b"GET " + b"A" * 70000 + b" HTTP/1.1\r\n\r\n",
                 b"GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n"]:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            try:
                s.sendall(junk)
                s.shutdown(socket.SHUT_WR)
                s.recv(4096)
            except OSError:
                pass
    status, _, body = get(base + "/metrics")
    check(status == 200 and "sluice_worker_slots 3" in body,
          "still serving after malformed requests")
    check(c.workers["w1"].alive(), "worker alive")
    c.stop()


if __name__ == "__main__":
    harness.run(test)
