"""Multi-host transport security: master and workers on separate "hosts".

Three network namespaces (master m, workers a and b) joined by a bridge inside
namespace m on a private subnet 10.213.X.0/24; nothing outside those
namespaces is touched. Certificates come from scripts/gen-certs.sh.

- the master listens on tls+tcp://10.213.X.1:7077; workers in a and b register
  over mutual TLS and `sluice workers` (run in m) lists both ALIVE with their
  namespace addresses; the master saw them connect from those addresses;
- a client that dials a worker directly gets the worker's own answer, so the
  worker's certificate verifies under the name the URL uses;
- (a) a worker whose certificate comes from another, untrusted CA (but which
  holds the cluster secret and trusts the real CA) never appears in the
  listing and never gets an id, and the master keeps serving; a client with
  such a certificate, or one that does not trust the cluster CA, is refused;
- (b) plain tcp:// to the master's non-loopback address is refused at start
  (worker, client, and a master listening on it) with a message naming
  "refused" and "tls+tcp"; with sluice.transport.insecure=true on every side
  a second master on plain tcp:// accepts a worker.

Needs root and `ip netns`; without them the test FAILS (it does not skip).
"""
import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from harness import BIN, SOURCE, Proc, check, fail, log, parse_workers_table, run, wait_for
from netns import Bridge, die_with_parent, sh

BRIDGE = Bridge("sl", 213)
NET, NS, ADDR = BRIDGE.net, BRIDGE.ns, BRIDGE.addr
MASTER_URL = f"tls+tcp://{ADDR['m']}:7077"
HB = "200ms"


class NsProc(Proc):
    """A harness Proc run inside a network namespace."""

    def __init__(self, name, ns, argv, logpath, env):
        self.name, self.argv, self.logpath = name, ["ip", "netns", "exec", ns] + argv, logpath
        self.logf = open(logpath, "ab")
        self.p = subprocess.Popen(self.argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                  env=env, start_new_session=True,
                                  preexec_fn=die_with_parent)


class Net:
    """The three namespaces, the bridge, and every process started in them."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-multihost-")
        self.certs = os.path.join(self.dir, "certs")
        self.procs = []
        self.done = False
        atexit.register(self.teardown)

    # ---- network ----

    def preflight(self):
        if os.geteuid() != 0:
            fail("test_multihost needs root to create network namespaces (ip netns); "
                 f"running as uid {os.geteuid()}. Run ctest as root (e.g. in the CI "
                 "container) — this test does not skip.")
        if shutil.which("ip") is None:
            fail("test_multihost needs the `ip` command (iproute2) for ip netns")
        if shutil.which("openssl") is None:
            fail("test_multihost needs openssl for scripts/gen-certs.sh")
        BRIDGE.remove_stale()

    def setup(self):
        BRIDGE.create()

    def teardown(self):
        if self.done:
            return
        self.done = True
        for p in reversed(self.procs):
            try:
                p.stop(timeout=5)
            except Exception as e:  # keep cleaning up
                log(f"stopping {p.name}: {e}")
        BRIDGE.kill_all()  # anything still inside was started by this test
        BRIDGE.delete()
        if os.environ.get("SLUICE_KEEP"):
            log(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- certificates and configuration ----

    def gen_certs(self):
        t0 = time.monotonic()
        script = os.path.join(SOURCE, "scripts", "gen-certs.sh")
        sh("bash", script, self.certs, f"master:{ADDR['m']}", f"worker-a:{ADDR['a']}",
           f"worker-b:{ADDR['b']}", "client", timeout=60)
        sh("bash", script, "--untrusted", self.certs, f"rogue:{ADDR['b']}", "rogue-client",
           timeout=60)
        # Running it again keeps everything (idempotent).
        r = sh("bash", script, self.certs, f"master:{ADDR['m']}", f"worker-a:{ADDR['a']}",
               f"worker-b:{ADDR['b']}", "client", timeout=60)
        check("issued" not in r.stdout and "reusing CA" in r.stdout,
              "gen-certs.sh run twice reuses the CA and keeps valid certificates")
        mode = os.stat(os.path.join(self.certs, "worker-a.key")).st_mode & 0o777
        check(mode == 0o600, f"private keys are mode 0600 (worker-a.key: {mode:o})")
        log(f"certificates made ({time.monotonic() - t0:.2f}s)")

    def tls(self, name, untrusted=False, ca_untrusted=False):
        d = os.path.join(self.certs, "untrusted") if untrusted else self.certs
        ca = os.path.join(self.certs, "untrusted" if ca_untrusted else "", "ca.pem")
        return {"sluice.tls.cert": os.path.join(d, f"{name}.pem"),
                "sluice.tls.key": os.path.join(d, f"{name}.key"),
                "sluice.tls.ca": ca}

    @staticmethod
    def conf_args(conf):
        args = []
        for k, v in conf.items():
            args += ["--conf", f"{k}={v}"]
        return args

    def env(self, state):
        e = dict(os.environ)
        e["SLUICE_SECRET_FILE"] = os.path.join(state, "secret")
        return e

    # ---- processes ----

    def start(self, name, ns, argv, state):
        p = NsProc(name, NS[ns], argv, os.path.join(self.dir, f"{name}.log"), self.env(state))
        self.procs.append(p)
        return p

    def master(self, name, url, state, conf):
        argv = [os.path.join(BIN, "sluice-master"), "--state-dir", state, "--url", url]
        return self.start(name, "m", argv + self.conf_args(conf), state)

    def worker(self, name, ns, master_url, url, state, conf):
        argv = [os.path.join(BIN, "sluice-worker"), "--master", master_url, "--url", url,
                "--host", ADDR[ns], "--work-dir", os.path.join(self.dir, name),
                "--slots", "2", "--memory", "256m"]
        return self.start(name, ns, argv + self.conf_args(conf), state)

    def client(self, url, conf, *args, state, ns="m", timeout=30):
        argv = ["ip", "netns", "exec", NS[ns], os.path.join(BIN, "sluice"), "--master", url]
        argv += self.conf_args(conf) + list(args)
        return subprocess.run(argv, capture_output=True, text=True, env=self.env(state),
                              timeout=timeout)

    def run_once(self, name, ns, argv, state, timeout=15):
        """Runs a Sluice binary in a namespace to completion (for start refusals)."""
        full = ["ip", "netns", "exec", NS[ns]] + argv
        try:
            return subprocess.run(full, capture_output=True, text=True, env=self.env(state),
                                  timeout=timeout, preexec_fn=die_with_parent)
        except subprocess.TimeoutExpired:
            fail(f"{name} did not exit within {timeout}s: it should refuse to start")

    def worker_id(self, name):
        try:
            with open(os.path.join(self.dir, name, "worker.id")) as f:
                return f.read().strip() or None
        except FileNotFoundError:
            return None

    def dump_logs(self):
        for p in self.procs:
            log(f"----- {p.name} log ({' '.join(p.argv[4:6])}) -----")
            try:
                sys.stdout.write(p.log_text()[-6000:])
            except OSError:
                pass
        sys.stdout.flush()


def workers(net, url, conf, state):
    r = net.client(url, conf, "workers", state=state)
    return parse_workers_table(r.stdout) if r.returncode == 0 else {}


def phase_tls(net, timings):
    state = os.path.join(net.dir, "master")
    mconf = {**net.tls("master"), "sluice.heartbeat.interval": HB}
    cconf = net.tls("client")
    wconf = {"sluice.heartbeat.interval": HB}

    t0 = time.monotonic()
    master = net.master("master", MASTER_URL, state, mconf)
    wait_for(lambda: net.client(MASTER_URL, cconf, "workers", state=state).returncode == 0 or
             (not master.alive() and fail("master exited: " + master.log_text())),
             20, "the master to answer over tls+tcp")
    timings["master up (tls)"] = time.monotonic() - t0
    check(os.stat(os.path.join(state, "secret")).st_mode & 0o777 == 0o600,
          "cluster secret created with mode 0600")

    t0 = time.monotonic()
    wa = net.worker("wa", "a", MASTER_URL, f"tls+tcp://{ADDR['a']}:0", state,
                    {**net.tls("worker-a"), **wconf})
    wb = net.worker("wb", "b", MASTER_URL, f"tls+tcp://{ADDR['b']}:0", state,
                    {**net.tls("worker-b"), **wconf})

    def both_alive():
        t = workers(net, MASTER_URL, cconf, state)
        alive = [r for r in t.values() if r["state"] == "ALIVE"]
        if not (wa.alive() and wb.alive()):
            fail("a worker exited: " + wa.log_text() + wb.log_text())
        return t if len(alive) >= 2 else None

    table = wait_for(both_alive, 30, "workers in namespaces a and b to be ALIVE", interval=0.2)
    timings["2 workers ALIVE over mutual TLS"] = time.monotonic() - t0
    ids = {n: wait_for(lambda n=n: net.worker_id(n), 5, f"{n} id") for n in ("wa", "wb")}
    check(len(table) == 2 and sorted(table) == sorted(ids.values()),
          f"exactly the two workers are listed: {sorted(table)}")
    for n, ns in (("wa", "a"), ("wb", "b")):
        row = table[ids[n]]
        check(row["state"] == "ALIVE" and
              row["address"].startswith(f"tls+tcp://{ADDR[ns]}:"),
              f"{ids[n]} ALIVE at its namespace address ({row['address']})")
        check(f"registered from {ADDR[ns]}:" in master.log_text(),
              f"master saw {ids[n]} connect from {ADDR[ns]} (not loopback)")

    # The worker's certificate verifies under the URL's host: dialling the
    # worker directly reaches its handler (which refuses the message type).
    t0 = time.monotonic()
    r = net.client(table[ids["wa"]]["address"], {**cconf, "sluice.rpc.timeout": "5s"},
                   "workers", state=state)
    check(r.returncode != 0 and "does not serve" in r.stderr,
          f"client reaches worker-a over TLS by IP and gets its answer: {r.stderr.strip()}")
    timings["direct TLS call to a worker"] = time.monotonic() - t0

    # ---- (a) untrusted certificates ----
    t0 = time.monotonic()
    rogue = net.worker("rogue", "b", MASTER_URL, f"tls+tcp://{ADDR['b']}:0", state,
                       {**net.tls("rogue", untrusted=True), **wconf,
                        "sluice.rpc.timeout": "1s"})
    wait_for(lambda: "registration with" in rogue.log_text() or
             (not rogue.alive() and fail("rogue worker exited: " + rogue.log_text())),
             10, "the rogue worker to try to register")
    window = 4.0
    deadline = time.monotonic() + window
    polls = 0
    while time.monotonic() < deadline:
        t = workers(net, MASTER_URL, cconf, state)
        if not master.alive():
            fail("master exited while the rogue worker was knocking: " + master.log_text())
        if len(t) != 2 or any(not r["address"].startswith(f"tls+tcp://{ADDR[ns]}:")
                              for r, ns in ((t.get(ids["wa"], {"address": ""}), "a"),
                                            (t.get(ids["wb"], {"address": ""}), "b"))):
            fail(f"listing changed while the untrusted worker tried to join: {t}")
        polls += 1
        time.sleep(0.25)
    fails = rogue.log_text().count("registration with")
    check(polls >= 8, f"listing polled {polls} times over {window:.0f}s, always the 2 workers")
    check(fails >= 2 and net.worker_id("rogue") is None,
          f"untrusted worker refused: {fails} failed registrations, no id assigned")
    t = workers(net, MASTER_URL, cconf, state)
    check(master.alive() and len(t) == 2 and
          all(r["state"] == "ALIVE" for r in t.values()),
          "master keeps serving and both trusted workers stay ALIVE")
    rogue.stop()
    timings["untrusted worker refused (window)"] = time.monotonic() - t0

    t0 = time.monotonic()
    r = net.client(MASTER_URL, {**net.tls("rogue-client", untrusted=True),
                                "sluice.rpc.timeout": "2s"}, "workers", state=state)
    check(r.returncode != 0 and "ID" not in r.stdout,
          f"client with an untrusted certificate refused ({r.stderr.strip()})")
    r = net.client(MASTER_URL, {**net.tls("client", ca_untrusted=True),
                                "sluice.rpc.timeout": "2s"}, "workers", state=state)
    check(r.returncode != 0 and "ID" not in r.stdout,
          f"client that does not trust the master's CA refuses it ({r.stderr.strip()})")
    timings["untrusted clients refused"] = time.monotonic() - t0

    # ---- (b) plain tcp:// to a non-loopback address is refused at start ----
    t0 = time.monotonic()
    plain = f"tcp://{ADDR['m']}:7077"

    def refused(what, r):
        out = r.stderr + r.stdout
        check(r.returncode != 0 and "refused" in out and "tls+tcp" in out,
              f"{what} refused at start, exit {r.returncode}: {out.strip().splitlines()[-1:]}")

    refused("worker dialling tcp:// master",
            net.run_once("w-plain", "a", [os.path.join(BIN, "sluice-worker"), "--master", plain,
                                          "--url", f"tls+tcp://{ADDR['a']}:0", "--work-dir",
                                          os.path.join(net.dir, "w-plain"),
                                          *net.conf_args(net.tls("worker-a"))], state))
    refused("worker listening on tcp:// non-loopback",
            net.run_once("w-plain2", "a", [os.path.join(BIN, "sluice-worker"), "--master",
                                           MASTER_URL, "--url", f"tcp://{ADDR['a']}:0",
                                           "--work-dir", os.path.join(net.dir, "w-plain2"),
                                           *net.conf_args(net.tls("worker-a"))], state))
    refused("client dialling tcp:// master", net.client(plain, cconf, "workers", state=state))
    state2 = os.path.join(net.dir, "master-plain")
    refused("master listening on tcp:// non-loopback",
            net.run_once("m-plain", "m", [os.path.join(BIN, "sluice-master"), "--state-dir",
                                          state2, "--url", f"tcp://{ADDR['m']}:7078"], state2))
    check(master.alive() and len(workers(net, MASTER_URL, cconf, state)) == 2,
          "TLS master unaffected")
    timings["plain tcp refusals"] = time.monotonic() - t0


def phase_insecure(net, timings):
    """A second master on plain tcp:// with the explicit insecure flag everywhere."""
    t0 = time.monotonic()
    state = os.path.join(net.dir, "master-insecure")
    url = f"tcp://{ADDR['m']}:7078"
    insecure = {"sluice.transport.insecure": "true"}
    m2 = net.master("master-insecure", url, state,
                    {**insecure, "sluice.heartbeat.interval": HB})
    wait_for(lambda: net.client(url, insecure, "workers", state=state).returncode == 0 or
             (not m2.alive() and fail("insecure master exited: " + m2.log_text())),
             20, "the insecure master to answer over plain tcp")
    w = net.worker("wa-insecure", "a", url, f"tcp://{ADDR['a']}:0", state,
                   {**insecure, "sluice.heartbeat.interval": HB})
    t = wait_for(lambda: (lambda t: t if any(r["state"] == "ALIVE" for r in t.values())
                          else None)(workers(net, url, insecure, state)) or
                 (not w.alive() and fail("insecure worker exited: " + w.log_text())),
                 30, "the insecure worker to be ALIVE", interval=0.2)
    (wid, row), = t.items()
    check(row["address"].startswith(f"tcp://{ADDR['a']}:"),
          f"with sluice.transport.insecure=true a plain tcp worker joins: {wid} {row['address']}")
    r = net.client(url, {}, "workers", state=state)
    check(r.returncode != 0 and "refused" in r.stderr,
          "a client without the insecure flag still refuses plain tcp to that master")
    timings["insecure plain-tcp phase"] = time.monotonic() - t0


def test():
    net = Net()
    old_term = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    timings = {}
    t_all = time.monotonic()
    try:
        net.preflight()
        net.setup()
        net.gen_certs()
        phase_tls(net, timings)
        phase_insecure(net, timings)
    except BaseException:
        net.dump_logs()
        raise
    finally:
        t0 = time.monotonic()
        net.teardown()
        timings["teardown"] = time.monotonic() - t0
        signal.signal(signal.SIGTERM, old_term)
        left = [ns for ns in NS.values()
                if ns in sh("ip", "netns", "list", ok=False).stdout.split()]
        if left:
            log(f"warning: namespaces left behind: {left}")
    for k, v in timings.items():
        log(f"timing: {k}: {v:.2f}s")
    log(f"timing: total {time.monotonic() - t_all:.2f}s")
    check(not left, "all namespaces removed")


if __name__ == "__main__":
    run(test)
