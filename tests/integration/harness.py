"""Shared helpers for Sluice integration tests.

Integration tests start real sluice-master and sluice-worker processes on
loopback (random free ports) and drive them with the real `sluice` client.
Each test file is one ctest test run in its own process; every wait here is
bounded, and Cluster.stop() (also run at exit) kills what the test started.

Environment: SLUICE_BUILD (build directory, set by ctest), SLUICE_SOURCE.
"""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("SLUICE_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
SOURCE = os.environ.get("SLUICE_SOURCE", os.path.join(os.path.dirname(__file__), "../.."))
BIN = os.path.join(BUILD, "bin")
LIB = os.path.join(BUILD, "lib")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fail(msg):
    log("FAIL: " + msg)
    raise AssertionError(msg)


def check(cond, msg):
    if not cond:
        fail(msg)
    log("ok: " + msg)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what, interval=0.1):
    """Polls pred() until it returns a truthy value or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def smtp_server(tmp):
    """A real SMTP server on loopback (Debian's python3-aiosmtpd, run by
    /usr/bin/python3 since the PATH python may not see Debian's modules),
    storing mail in a maildir. Returns (process, port, maildir path)."""
    port = free_port()
    mbox = os.path.join(tmp, "mbox")
    if not os.path.exists("/usr/bin/python3"):
        fail("/usr/bin/python3 missing (aiosmtpd comes from Debian's python3-aiosmtpd)")
    p = subprocess.Popen(["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                          "-c", "aiosmtpd.handlers.Mailbox", mbox],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def up():
        if p.poll() is not None:
            fail("aiosmtpd exited: " + p.stdout.read().decode())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    wait_for(up, 20, "aiosmtpd to listen")
    return p, port, mbox


class Proc:
    def __init__(self, name, argv, logpath, env=None, cwd=None):
        self.name, self.argv, self.logpath = name, argv, logpath
        self.logf = open(logpath, "ab")
        self.p = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                  env=env, cwd=cwd, start_new_session=True)

    def alive(self):
        return self.p.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout=10):
        if self.alive():
            self.kill(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
                self.p.wait(5)
        self.logf.close()

    def log_text(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")


class Cluster:
    """A master and workers in a temporary directory, on loopback."""

    def __init__(self, name="cluster", conf=None, keep=False):
        self.dir = tempfile.mkdtemp(prefix=f"sluice-{name}-")
        self.state = os.path.join(self.dir, "master")
        self.conf = dict(conf or {})
        self.master = None
        self.port = None
        self.workers = {}
        self.keep = keep
        self.env = dict(os.environ)
        self.env["SLUICE_SECRET_FILE"] = os.path.join(self.state, "secret")
        atexit.register(self.stop)

    def conf_args(self, extra=None):
        args = []
        for k, v in {**self.conf, **(extra or {})}.items():
            args += ["--conf", f"{k}={v}"]
        return args

    @property
    def url(self):
        return f"tcp://127.0.0.1:{self.port}"

    def start_master(self, extra_conf=None):
        if self.port is None:
            self.port = free_port()
        # sluice.http.port=0: tests run side by side, never on the default 8080
        argv = [os.path.join(BIN, "sluice-master"), "--state-dir", self.state,
                "--port", str(self.port), "--conf", "sluice.http.port=0"] + \
            self.conf_args(extra_conf)
        self.master = Proc("master", argv, os.path.join(self.dir, "master.log"), env=self.env)
        wait_for(lambda: self.client("workers", check=False).returncode == 0 or
                 (not self.master.alive() and fail("master exited: " + self.master.log_text())),
                 15, "master to answer")
        return self.master

    def start_worker(self, name, slots=2, memory="256m", extra_conf=None, extra_args=None):
        wdir = os.path.join(self.dir, name)
        argv = [os.path.join(BIN, "sluice-worker"), "--master", self.url, "--work-dir", wdir,
                "--slots", str(slots), "--memory", memory] + self.conf_args(extra_conf)
        argv += extra_args or []
        w = Proc(name, argv, os.path.join(self.dir, f"{name}.log"), env=self.env)
        self.workers[name] = w
        return w

    def worker_id(self, name):
        path = os.path.join(self.dir, name, "worker.id")
        try:
            with open(path) as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    def client(self, *args, check=True, timeout=60, input=None):
        argv = [os.path.join(BIN, "sluice"), "--master", self.url] + list(args)
        r = subprocess.run(argv, capture_output=True, text=True, env=self.env,
                           timeout=timeout, input=input)
        if check and r.returncode != 0:
            fail(f"{' '.join(args)} exited {r.returncode}: {r.stderr}{r.stdout}")
        return r

    def workers_table(self):
        """Parses `sluice workers` into {id: {address, slots, state}}."""
        r = self.client("workers", check=False)
        if r.returncode != 0:
            return {}
        rows = {}
        for line in r.stdout.splitlines()[1:]:
            f = line.split()
            if len(f) >= 5:
                rows[f[0]] = {"address": f[1], "slots": int(f[2]), "memory": f[3], "state": f[4]}
        return rows

    def wait_workers(self, n, state="ALIVE", timeout=20):
        return wait_for(lambda: (lambda t: t if sum(1 for r in t.values() if r["state"] == state) >= n
                                 else None)(self.workers_table()),
                        timeout, f"{n} workers {state}")

    def dump_logs(self):
        for p in [self.master] + list(self.workers.values()):
            if p is None:
                continue
            log(f"----- {p.name} log -----")
            sys.stdout.write(p.log_text()[-6000:])

    def stop(self):
        for w in self.workers.values():
            w.stop()
        if self.master:
            self.master.stop()
        if not self.keep and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)


def run(test_fn):
    """Runs a test function with a cluster-dumping failure handler."""
    try:
        test_fn()
    except BaseException:
        import traceback
        traceback.print_exc()
        for c in list(_clusters):
            c.dump_logs()
        print("0 passed, 1 failed")
        sys.exit(1)
    print("1 passed, 0 failed")


_clusters = []
_orig_init = Cluster.__init__


def _tracking_init(self, *a, **kw):
    _orig_init(self, *a, **kw)
    _clusters.append(self)


Cluster.__init__ = _tracking_init


def parse_workers_table(text):
    """Parses the output of `sluice workers` into {id: {address, slots, memory, state}}
    (for tests that run the client themselves, e.g. in another network namespace)."""
    rows = {}
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) >= 5:
            rows[f[0]] = {"address": f[1], "slots": int(f[2]), "memory": f[3], "state": f[4]}
    return rows


# ---- helpers for job tests (word counts over a socket, saved output) ----

import collections
import glob
import random
import re
import threading

JOBS = os.path.join(BUILD, "tests", "jobs")


def make_text(nbytes, seed=1, vocab=3000):
    """A deterministic text of about nbytes: lines of Zipf-ish words from a
    vocabulary, each line starting with a unique token "L<n>" so that line
    counting is checkable from a word count. Returns (text, number of lines)."""
    rnd = random.Random(seed)
    words = [f"w{i}" + "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz")
                               for _ in range(rnd.randint(0, 6))) for i in range(vocab)]
    weights = [1.0 / (i + 1) for i in range(vocab)]
    lines, size, n = [], 0, 0
    while size < nbytes:
        k = rnd.randint(1, 14)
        line = " ".join([f"L{n}"] + rnd.choices(words, weights, k=k))
        lines.append(line)
        size += len(line) + 1
        n += 1
    return "\n".join(lines) + "\n", n


def line_tokens(counts):
    """The per-line tokens ("L<n>") of a word count, with their counts."""
    return {w: c for w, c in counts.items() if re.fullmatch(r"L\d+", w)}


class TextServer:
    """A TCP server on loopback (like `nc -lk`) that feeds a text to the first
    connection, in chunks of `chunk` bytes every `pause` seconds, then keeps it
    open. Later connections (a receiver reconnecting) get nothing more."""

    def __init__(self, data, chunk=32768, pause=0.02):
        self.data = data.encode() if isinstance(data, str) else data
        self.chunk, self.pause = chunk, pause
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.sent = 0
        self.connections = 0
        self.done = threading.Event()
        self.stopping = threading.Event()
        self.conns = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        atexit.register(self.stop)

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            self.conns.append(conn)
            if self.connections > 1:
                log(f"text server: connection {self.connections} (reconnect): sending nothing")
                continue
            try:
                while self.sent < len(self.data) and not self.stopping.is_set():
                    conn.sendall(self.data[self.sent:self.sent + self.chunk])
                    self.sent = min(len(self.data), self.sent + self.chunk)
                    time.sleep(self.pause)
            except OSError as e:
                log(f"text server: send failed after {self.sent} bytes: {e}")
            log(f"text server: sent {self.sent} of {len(self.data)} bytes")
            self.done.set()

    def stop(self):
        self.stopping.set()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        try:
            self.sock.close()
        except OSError:
            pass


def saved_batches(prefix):
    """The published batch directories PREFIX-<batch ms> (not .tmp), by time."""
    out = {}
    for d in glob.glob(glob.escape(prefix) + "-*"):
        m = re.fullmatch(re.escape(prefix) + r"-(\d+)", d)
        if m and os.path.isdir(d):
            out[int(m.group(1))] = d
    return dict(sorted(out.items()))


def batch_counts(prefix):
    """{batch ms: Counter} of the saved "word<TAB>count" batches PREFIX-<ms>;
    a malformed batch fails the test."""
    out = {}
    for t, d in saved_batches(prefix).items():
        parts, problems = read_counts_dir(d)
        if problems:
            check(False, f"{d} well formed: {problems[:3]}")
        out[t] = sum(parts.values(), collections.Counter())
    return out


def read_counts_dir(d):
    """Reads the "word<TAB>count" part files of one saved batch.
    Returns ({part file name: Counter}, [problems])."""
    parts, problems = {}, []
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        if name == "_SUCCESS":
            continue
        if not re.fullmatch(r"part-\d{5}", name):
            problems.append(f"unexpected file {path}")
            continue
        c = collections.Counter()
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split("\t")
                if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
                    problems.append(f"{path}: malformed line {line!r}")
                    continue
                if fields[0] in c:
                    problems.append(f"{path}: word {fields[0]!r} listed twice")
                c[fields[0]] += int(fields[1])
        parts[name] = c
    if not os.path.exists(os.path.join(d, "_SUCCESS")):
        problems.append(f"{d} has no _SUCCESS")
    return parts, problems


def saved_totals(prefix):
    """Sums the word counts over every published batch of PREFIX.
    Returns (Counter, {batch ms: {part: Counter}}, [problems])."""
    total, batches, problems = collections.Counter(), {}, []
    for t, d in saved_batches(prefix).items():
        parts, p = read_counts_dir(d)
        batches[t] = parts
        problems += p
        for c in parts.values():
            total.update(c)
    return total, batches, problems


def wait_all_lines(prefix, nlines, timeout, what="every fed line counted"):
    """Waits until the per-line tokens of the saved output account for nlines
    lines (each at least once); returns saved_totals(prefix)."""
    def counted():
        total, _, _ = saved_totals(prefix)
        return len(line_tokens(total)) >= nlines
    wait_for(counted, timeout, what, interval=0.5)
    return saved_totals(prefix)


def counter_diff(got, want, limit=10):
    """A short description of how two Counters differ ("" when equal)."""
    keys = sorted(set(got) | set(want), key=lambda k: (got.get(k, 0) == want.get(k, 0), k))
    bad = [(k, got.get(k, 0), want.get(k, 0)) for k in keys if got.get(k, 0) != want.get(k, 0)]
    if not bad:
        return ""
    return f"{len(bad)} words differ, e.g. " + ", ".join(
        f"{k!r}: got {g} want {w}" for k, g, w in bad[:limit])


def http_base(c, timeout=15):
    """The master's REST base URL (it writes STATE/master.http once serving)."""
    path = os.path.join(c.state, "master.http")
    return wait_for(lambda: os.path.exists(path) and open(path).read().strip() or None,
                    timeout, "the master's HTTP port")


def jobs_table(c):
    """Parses `sluice jobs` into {name: {id, state, batches, failed, records}}."""
    r = c.client("jobs", check=False)
    rows = {}
    for line in r.stdout.splitlines()[1:]:
        f = line.split()
        if len(f) >= 7:
            rows[f[1]] = {"id": f[0], "state": f[2], "interval": f[3], "batches": int(f[4]),
                          "failed": int(f[5]), "records": int(f[6]),
                          "error": " ".join(f[7:])}
    return rows


def wait_more_batches(prefix, after_ms, n, timeout):
    """Waits until n published batches later than after_ms exist."""
    return wait_for(lambda: len([t for t in saved_batches(prefix) if t > after_ms]) >= n,
                    timeout, f"{n} more saved batches after {after_ms}", interval=0.3)
