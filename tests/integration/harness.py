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
        argv = [os.path.join(BIN, "sluice-master"), "--state-dir", self.state,
                "--port", str(self.port)] + self.conf_args(extra_conf)
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
