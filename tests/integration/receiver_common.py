"""Shared by the receiver tests (test_receiver_failover.py, test_wal_replay.py):
a loopback line source for a socket receiver, and readers of the saved
counts, published batches and the master's batch and receiver records."""
import collections
import os
import re
import socket
import sqlite3
import threading
import time

from harness import log


class LineServer:
    """A loopback TCP source: accepts the receiver's connections and sends
    lines to the newest one when asked."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.lock = threading.Lock()
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with self.lock:
                self.conns.append(conn)
            log(f"source: connection {len(self.conns)} accepted")

    def connections(self):
        with self.lock:
            return len(self.conns)

    def send_paced(self, lines, seconds):
        """Sends lines to the newest connection, spread evenly over seconds."""
        with self.lock:
            conn = self.conns[-1]
        t0 = time.monotonic()
        for i, line in enumerate(lines):
            conn.sendall((line + "\n").encode())
            delay = t0 + seconds * (i + 1) / len(lines) - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def stop(self):
        self.stopping = True
        for c in self.conns + [self.sock]:
            try:
                c.close()
            except OSError:
                pass


def saved_counts(prefix):
    """Sums "word<TAB>count" lines over every published batch PREFIX-<ms>."""
    total = collections.Counter()
    parent, base = os.path.split(prefix)
    if not os.path.isdir(parent):
        return total
    for d in os.listdir(parent):
        if not re.fullmatch(re.escape(base) + r"-\d+", d):
            continue
        for name in os.listdir(os.path.join(parent, d)):
            if not name.startswith("part-"):
                continue
            with open(os.path.join(parent, d, name)) as f:
                for line in f:
                    word, n = line.rstrip("\n").split("\t")
                    total[word] += int(n)
    return total


def published(prefix):
    parent, base = os.path.split(prefix)
    if not os.path.isdir(parent):
        return set()
    return {int(d.rsplit("-", 1)[1]) for d in os.listdir(parent)
            if re.fullmatch(re.escape(base) + r"-\d+", d)}


def batches(c, job):
    """The master's batch checkpoint rows: {batch ms: (state, input records)}."""
    db = sqlite3.connect(f"file:{os.path.join(c.state, 'master.db')}?mode=ro", uri=True,
                         timeout=5)
    try:
        rows = db.execute("SELECT b.batch_ms, b.state, b.input_records FROM batches b "
                          "JOIN jobs j ON j.id = b.job_id WHERE j.name = ?", (job,)).fetchall()
    finally:
        db.close()
    return {t: (s, n) for t, s, n in rows}


def receiver_placements(c, job):
    return re.findall(r"job " + re.escape(job) + r": receiver 0 running on (\S+)", c.master.log_text())
