"""Helpers of the backpressure tests: a paced line source, `sluice monitor`
parsing, worker RSS. Not a test itself (no test_ prefix)."""
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request

from harness import check, log

BATCH_RE = re.compile(r"^batch (\d+)\s+(\w+)\s+records\s+(\d+)\s+sched\s+(-?\d+) ms\s+"
                      r"proc\s+(-?\d+) ms\s+total\s+(-?\d+) ms")
BP_RE = re.compile(r"^\s+backpressure: rate (none|[\d.]+) (?:records/s)?\s*blocked "
                   r"([\d.]+) (OK|LOW|HIGH)(?:\s+estimate ([\d.]+) records/s)?")
RCV_RE = re.compile(r"^\s+receiver (\d+) \(node (\d+)\) on (\S+): rate (unlimited|[\d.]+)"
                    r"(?: records/s)?\s+blocked ([\d.]+) (OK|LOW|HIGH)")


class _Source:
    """A loopback TCP listener that runs self._feed(conn) on its first
    connection (later ones are accepted and left idle)."""

    def __init__(self, rate, seconds):
        self.rate, self.seconds = rate, seconds
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.sent = 0
        self.stopping = threading.Event()
        self.conns = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)
            if len(self.conns) == 1:
                threading.Thread(target=self._feed, args=(conn,), daemon=True).start()

    def stop(self):
        self.stopping.set()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.sock.close()


class PacedSource(_Source):
    """A loopback TCP source sending numbered lines at `rate` lines/s to its
    newest connection, for at most `seconds`, until stopped. sendall blocks
    when the receiver stops reading (TCP backpressure)."""

    def __init__(self, rate, seconds, width=24):
        self.width = width
        _Source.__init__(self, rate, seconds)

    def _feed(self, conn):
        t0 = time.monotonic()
        tick = 0.02
        per_tick = max(1, int(self.rate * tick))
        try:
            while not self.stopping.is_set() and time.monotonic() - t0 < self.seconds:
                lines = "".join(f"w{(self.sent + i) % 97} x{(self.sent + i):0{self.width - 6}d}\n"
                                for i in range(per_tick))
                conn.sendall(lines.encode())
                self.sent += per_tick
                delay = t0 + self.sent / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        except OSError as e:
            log(f"source: send failed after {self.sent} lines: {e}")
        log(f"source: sent {self.sent} lines in {time.monotonic() - t0:.1f} s")


def monitor(c, job, details=None):
    """(batches, rate, blocked share, level) from `sluice monitor`: the
    finished batches as dicts, oldest first; rate None when the job has none.
    When details (a dict) is given, it gets the rate estimate ("estimate",
    None if none) and the last per-receiver rows ("receivers": dicts)."""
    out = c.client("monitor", job, "--duration", "300ms", "--no-output").stdout
    batches, rate, share, level = [], None, None, None
    for line in out.splitlines():
        m = RCV_RE.match(line)
        if m and details is not None:
            details.setdefault("receivers", {})[int(m.group(1))] = {
                "node": int(m.group(2)), "worker": m.group(3),
                "rate": 0.0 if m.group(4) == "unlimited" else float(m.group(4)),
                "share": float(m.group(5)), "level": m.group(6)}
        m = BATCH_RE.match(line)
        if m:
            batches.append({"time": int(m.group(1)), "state": m.group(2),
                            "records": int(m.group(3)), "sched": int(m.group(4)),
                            "proc": int(m.group(5)), "total": int(m.group(6))})
        m = BP_RE.match(line)
        if m:
            rate = None if m.group(1) == "none" else float(m.group(1))
            share, level = float(m.group(2)), m.group(3)
            if details is not None:
                details["estimate"] = None if m.group(4) is None else float(m.group(4))
    return batches, rate, share, level


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


class ChunkSource(_Source):
    """A loopback TCP source sending the same block of text lines, `rate`
    bytes/s, to its first connection for at most `seconds` (a fast source
    for overload tests; sendall blocks while the receiver does not read)."""

    def __init__(self, rate, seconds, chunk):
        self.chunk = chunk
        _Source.__init__(self, rate, seconds)

    def _feed(self, conn):
        t0 = time.monotonic()
        try:
            while not self.stopping.is_set() and time.monotonic() - t0 < self.seconds:
                conn.sendall(self.chunk)
                self.sent += len(self.chunk)
                delay = t0 + self.sent / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        except OSError as e:
            log(f"source: send failed after {self.sent} bytes: {e}")
        log(f"source: sent {self.sent / 2**20:.0f} MiB in {time.monotonic() - t0:.1f} s")


def dir_bytes(path, names=None):
    """Apparent size of the files under path (those whose name passes
    `names`, a predicate, when given); 0 if it does not exist."""
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            if names is None or names(f):
                try:
                    total += os.stat(os.path.join(root, f)).st_size
                except FileNotFoundError:
                    pass
    return total


def scrape(url):
    """The text of a /metrics page."""
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def promtool_check(text, what):
    """Fails unless `promtool check metrics` accepts text (Debian's prometheus
    package, scripts/setup.sh; without it the check FAILS)."""
    promtool = shutil.which("promtool")
    check(promtool is not None, "promtool installed (scripts/setup.sh)")
    r = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                       capture_output=True, timeout=30)
    check(r.returncode == 0, f"promtool check metrics passes on {what} ({r.stdout}{r.stderr})")


def samples(text, name):
    """{label string: value} of every sample of metric name in text."""
    return {m.group(1) or "": float(m.group(2)) for m in
            re.finditer(r"^" + re.escape(name) + r"(\{[^}]*\})? (\S+)$", text, re.M)}
