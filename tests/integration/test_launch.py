"""The cluster launch scripts (scripts/start-cluster.sh & co.) over real ssh.

Three network namespaces m, a and b joined by a bridge inside m on
10.214.X.0/24, each running Debian's sshd (openssh-server) on its own address
with a host key and a client key made by the test (its own sshd_config, not
the system's). The operator's view: from host a, over ssh, the test runs the
scripts on host m (so they see sshd's clean environment, not the test's),
with a configuration directory whose conf/workers lists a, b and a host that
is down (an address nobody has). Certificates come from scripts/gen-certs.sh.

- start-cluster.sh --push-certs starts the master on m and, over ssh, the
  workers on a and b, reports the down host as unreachable and skips it
  (exit status 3), and copies each host's certificates but never ca.key;
- `sluice workers` (over mutual TLS) lists exactly the two workers, ALIVE,
  at their namespaces' addresses; cluster-status.sh shows the master and both
  workers running (pids from their pid files) and the down host unreachable;
- examples/file_wordcount.so submitted to that cluster counts two files
  dropped into its input directory exactly: per-word totals over the saved
  batches equal a collections.Counter of the text, every line once;
- stop-cluster.sh stops every process it started (no pid file, no recorded
  pid, no process of ours left in any namespace but the sshds), again
  reporting the down host; cluster-status.sh then says nothing runs.

Needs root, `ip netns`, sshd and ssh; without them the test FAILS.
"""
import atexit
import collections
import os
import re
import shutil
import subprocess
import tempfile
import time

from harness import (BIN, LIB, SOURCE, check, counter_diff, fail, line_tokens, log, make_text,
                     parse_workers_table, run, saved_totals, wait_all_lines, wait_for)
from netns import Bridge, alive, die_with_parent, sh

BRIDGE = Bridge("lc", 214)
NET, NS, ADDR = BRIDGE.net, BRIDGE.ns, BRIDGE.addr
DOWN = f"{NET}.9"  # on the subnet, but nobody has it: ssh cannot connect
SCRIPTS = os.path.join(SOURCE, "scripts")
SSHD = "/usr/sbin/sshd"


class Hosts:
    """The namespaces, their sshds and the test's files; teardown kills what
    is left in the namespaces (all of it started by this test) and deletes
    them."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-launch-")
        self.sshd, self.done = {}, False
        atexit.register(self.teardown)

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def preflight(self):
        if os.geteuid() != 0:
            fail("test_launch needs root for network namespaces and sshd; it does not skip")
        for tool in ("ip", "ssh", "ssh-keygen", "openssl", "tar"):
            if shutil.which(tool) is None:
                fail(f"test_launch needs `{tool}` (scripts/setup.sh installs it)")
        if not os.access(SSHD, os.X_OK):
            fail(f"test_launch needs {SSHD} (Debian's openssh-server; scripts/setup.sh)")
        BRIDGE.remove_stale()

    def setup_net(self):
        BRIDGE.create()

    def setup_ssh(self):
        """One host key for the three sshds, one client key, a known_hosts
        naming every address, and an sshd_config per namespace."""
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.path("host_key"))
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.path("client_key"))
        shutil.copy(self.path("client_key.pub"), self.path("authorized_keys"))
        with open(self.path("host_key.pub")) as f:
            hostkey = " ".join(f.read().split()[:2])
        with open(self.path("known_hosts"), "w") as f:
            f.write(f"{','.join(list(ADDR.values()) + [DOWN])} {hostkey}\n")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        for k, ns in NS.items():
            conf = self.path(f"sshd_{k}.conf")
            with open(conf, "w") as f:
                f.write(f"ListenAddress {ADDR[k]}:22\nHostKey {self.path('host_key')}\n"
                        f"AuthorizedKeysFile {self.path('authorized_keys')}\n"
                        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
                        f"PidFile {self.path(f'sshd_{k}.pid')}\nLogLevel VERBOSE\n")
            logf = open(self.path(f"sshd_{k}.log"), "ab")
            self.sshd[k] = subprocess.Popen(["ip", "netns", "exec", ns, SSHD, "-D", "-e",
                                             "-f", conf], stdout=logf, stderr=subprocess.STDOUT,
                                            start_new_session=True,
                                            preexec_fn=die_with_parent)

    def ssh_opts(self):
        return (f"-F /dev/null -i {self.path('client_key')} -o IdentitiesOnly=yes "
                f"-o UserKnownHostsFile={self.path('known_hosts')} "
                "-o StrictHostKeyChecking=yes -o LogLevel=ERROR")

    def ssh(self, src, dst_addr, command, timeout=120):
        """Runs command on dst_addr over ssh from namespace src."""
        argv = ["ip", "netns", "exec", NS[src], "ssh", "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=5"] + self.ssh_opts().split() + [dst_addr, command]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def sshd_pids(self):
        pids = set()
        for k, p in self.sshd.items():
            pids.add(p.pid)
            try:
                with open(self.path(f"sshd_{k}.pid")) as f:
                    pids.add(int(f.read().strip()))
            except (OSError, ValueError):
                pass
        return pids

    def ns_pids(self, k):
        r = sh("ip", "netns", "pids", NS[k], ok=False)
        return {int(p) for p in r.stdout.split()}

    def teardown(self):
        if self.done:
            return
        self.done = True
        BRIDGE.kill_all()
        for p in self.sshd.values():
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        BRIDGE.delete()
        if os.environ.get("SLUICE_KEEP"):
            log(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def write_conf(h):
    conf = h.path("conf")
    os.makedirs(conf)
    with open(os.path.join(conf, "workers"), "w") as f:
        f.write(f"# test cluster\n\n{ADDR['a']}\n   {ADDR['b']}   # worker b\n"
                f"{DOWN}\n# {NET}.77 commented out\n")
    env = {
        "SLUICE_MASTER_HOST": ADDR["m"], "SLUICE_MASTER_PORT": "7077",
        "SLUICE_TLS_DIR": h.path("tls"), "SLUICE_STATE_DIR": h.path("state"),
        "SLUICE_WORKER_DIR": h.path("work"), "SLUICE_PID_DIR": h.path("pids"),
        "SLUICE_LOG_DIR": h.path("logs"), "SLUICE_BIN_DIR": BIN,
        "SLUICE_WORKER_SLOTS": "2", "SLUICE_WORKER_MEMORY": "256m",
        "SLUICE_SSH_TIMEOUT": "3", "SLUICE_STOP_TIMEOUT": "10",
    }
    with open(os.path.join(conf, "sluice-env.sh"), "w") as f:
        f.write("# written by test_launch.py\n")
        f.write("".join(f"{k}={v}\n" for k, v in env.items()))
        f.write(f'SLUICE_SSH_OPTS="{h.ssh_opts()}"\n')
    with open(os.path.join(conf, "sluice-defaults.conf"), "w") as f:
        f.write("sluice.heartbeat.interval 200ms\n")
    return conf


def operator(h, conf, script, *args, timeout=180):
    """Runs a launch script on m as an operator would: over ssh, from a."""
    cmd = f"SLUICE_CONF_DIR={conf} {os.path.join(SCRIPTS, script)} {' '.join(args)}"
    r = h.ssh("a", ADDR["m"], cmd, timeout=timeout)
    log(f"$ {script} {' '.join(args)} -> exit {r.returncode}\n{r.stdout}{r.stderr}")
    return r


def client(h, *args, timeout=30):
    tls = h.path("certs-src")
    argv = ["ip", "netns", "exec", NS["m"], os.path.join(BIN, "sluice"),
            "--master", f"tls+tcp://{ADDR['m']}:7077",
            "--conf", f"sluice.tls.cert={tls}/client.pem", "--conf", f"sluice.tls.key={tls}/client.key",
            "--conf", f"sluice.tls.ca={tls}/ca.pem"] + list(args)
    env = dict(os.environ, SLUICE_SECRET_FILE=h.path("state", "secret"))
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


def pid_files(h):
    d = h.path("pids")
    out = {}
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        with open(os.path.join(d, name)) as f:
            out[name] = int(f.read().strip())
    return out


def start_phase(h, conf):
    t0 = time.monotonic()
    r = operator(h, conf, "start-cluster.sh", "--push-certs", h.path("certs-src"))
    out = r.stdout + r.stderr
    check(r.returncode == 3, f"start-cluster.sh exits 3 (a host skipped): {r.returncode}")
    check(f"{DOWN}: unreachable over ssh: skipped" in out, f"down host {DOWN} reported and skipped")
    check("master listening on tls+tcp://" + ADDR["m"] in out, "master started on m over TLS")
    for k in ("a", "b"):
        check(re.search(rf"^{re.escape(ADDR[k])}: sluice-worker-\S+ started \(pid \d+", out, re.M),
              f"worker started on {k} over ssh")
    tls = os.listdir(h.path("tls"))
    want = {"ca.pem", "master.pem", "master.key"} | {f"{ADDR[k]}.{e}" for k in "ab" for e in
                                                     ("pem", "key")}
    check(want <= set(tls) and "ca.key" not in tls, f"--push-certs copied {sorted(tls)}, no ca.key")
    mode = os.stat(h.path("tls", f"{ADDR['a']}.key")).st_mode & 0o777
    check(mode == 0o600, f"pushed private key is mode 0600 ({mode:o})")

    def both():
        r = client(h, "workers")
        t = parse_workers_table(r.stdout) if r.returncode == 0 else {}
        return t if len([w for w in t.values() if w["state"] == "ALIVE"]) == 2 else None
    table = wait_for(both, 30, "two ALIVE workers in `sluice workers`", interval=0.3)
    addrs = sorted(w["address"].rsplit(":", 1)[0] for w in table.values())
    check(len(table) == 2 and addrs == [f"tls+tcp://{ADDR['a']}", f"tls+tcp://{ADDR['b']}"],
          f"`sluice workers` lists exactly the workers on a and b: {addrs}")
    log(f"cluster up in {time.monotonic() - t0:.1f}s")

    pids = pid_files(h)
    check(sorted(pids) == sorted(["sluice-master.pid", f"sluice-worker-{ADDR['a']}.pid",
                                  f"sluice-worker-{ADDR['b']}.pid"]) and
          all(alive(p) for p in pids.values()), f"one live pid file per process: {pids}")
    check(pids[f"sluice-worker-{ADDR['a']}.pid"] in h.ns_pids("a") and
          pids["sluice-master.pid"] in h.ns_pids("m"), "each process runs on its own host")
    r = sh("ip", "netns", "exec", NS["m"], "env", f"SLUICE_CONF_DIR={conf}",
           os.path.join(SCRIPTS, "cluster-status.sh"), ok=False, timeout=60)
    log(f"cluster-status.sh -> {r.returncode}\n{r.stdout}{r.stderr}")
    check(f"sluice-master running (pid {pids['sluice-master.pid']}" in r.stdout,
          "status shows the master running with its pid")
    for k in ("a", "b"):
        p = pids[f"sluice-worker-{ADDR[k]}.pid"]
        check(f"{ADDR[k]}: sluice-worker-{ADDR[k]} running (pid {p}" in r.stdout,
              f"status shows the worker on {k} with its pid")
    check(f"{DOWN}: unreachable" in r.stdout and r.returncode != 0,
          "status reports the down host and fails")
    return pids


def job_phase(h):
    text1, n1 = make_text(200 << 10, seed=11)
    text2, n2 = make_text(100 << 10, seed=12)
    # distinct line tokens across the two files: renumber the second one
    text2 = "\n".join(re.sub(r"^L(\d+)", lambda m: f"L{int(m.group(1)) + n1}", line)
                      for line in text2.splitlines()) + "\n"
    text, nlines = text1 + text2, n1 + n2
    want = collections.Counter(text.split())
    indir, prefix = h.path("in"), h.path("out", "wc")
    os.makedirs(indir)
    r = client(h, "submit", "--start", os.path.join(LIB, "file_wordcount.so"), "--name", "wc",
               "--batch-interval", "1s", "--conf", f"input.dir={indir}",
               "--conf", f"output.path={prefix}", "--conf", "print.num=3")
    check(r.returncode == 0, f"job submitted: {r.stdout.strip()} {r.stderr.strip()}")
    for i, t in enumerate((text1, text2)):
        tmp = h.path(f"file{i}.tmp")
        with open(tmp, "w") as f:
            f.write(t)
        os.rename(tmp, os.path.join(indir, f"file{i}.txt"))
    wait_all_lines(prefix, nlines, 90)
    got, batches, problems = saved_totals(prefix)
    check(not problems, f"saved output well formed: {problems[:5]}")
    tokens = line_tokens(got)
    check(len(tokens) == nlines and all(v == 1 for v in tokens.values()),
          f"each of the {nlines} lines counted exactly once")
    diff = counter_diff(got, want)
    check(diff == "", f"per-word totals equal an independent count {diff}")
    r = client(h, "jobs")
    row = [line.split() for line in r.stdout.splitlines()[1:] if " wc " in f" {line} "]
    check(row and row[0][2] == "RUNNING" and row[0][5] == "0",
          f"`sluice jobs`: wc RUNNING, no failed batch: {r.stdout.strip()}")
    check(client(h, "stop", "wc").returncode == 0, "job stopped")


def stop_phase(h, conf, pids):
    r = operator(h, conf, "stop-cluster.sh")
    out = r.stdout + r.stderr
    check(r.returncode == 3, f"stop-cluster.sh exits 3 (a host skipped): {r.returncode}")
    check(f"{DOWN}: unreachable over ssh: skipped" in out, "down host reported on stop")
    check("sluice-master stopped" in out and
          all(f"{ADDR[k]}: sluice-worker-{ADDR[k]} stopped" in out for k in "ab"),
          "master and both workers stopped")
    check(pid_files(h) == {}, "no pid file left")
    dead = wait_for(lambda: not any(alive(p) for p in pids.values()), 10,
                    "the stopped processes to be gone")
    check(dead, f"none of the recorded pids {sorted(pids.values())} is alive")
    sshd = h.sshd_pids()

    def leftovers():
        left = {}
        for k in NS:
            procs = [p for p in h.ns_pids(k) if p not in sshd and alive(p)]
            if procs:
                left[k] = procs
        return left
    # ssh sessions of the operator may take a moment to close
    wait_for(lambda: not leftovers() or None, 10, f"no process but sshd left: {leftovers()}",
             interval=0.2)
    check(True, "no process but the sshds left in the three namespaces")
    r = sh("ip", "netns", "exec", NS["m"], "env", f"SLUICE_CONF_DIR={conf}",
           os.path.join(SCRIPTS, "cluster-status.sh"), ok=False, timeout=60)
    check(r.returncode != 0 and "sluice-master not running" in r.stdout and
          f"{ADDR['a']}: sluice-worker-{ADDR['a']} not running" in r.stdout,
          f"status says nothing runs:\n{r.stdout}")


def test():
    h = Hosts()
    h.preflight()
    t0 = time.monotonic()
    h.setup_net()
    h.setup_ssh()
    sh("bash", os.path.join(SCRIPTS, "gen-certs.sh"), h.path("certs-src"),
       f"master:{ADDR['m']}", f"{ADDR['a']}:{ADDR['a']}", f"{ADDR['b']}:{ADDR['b']}", f"{DOWN}:{DOWN}", "client",
       timeout=60)
    conf = write_conf(h)
    for src, dst in (("a", "m"), ("m", "a"), ("m", "b")):
        wait_for(lambda: h.ssh(src, ADDR[dst], "true", timeout=15).returncode == 0, 20,
                 f"sshd on {dst} to accept the test's key from {src}", interval=0.2)
    log(f"namespaces, sshds, keys and certificates ready in {time.monotonic() - t0:.1f}s")
    try:
        pids = start_phase(h, conf)
        job_phase(h)
        stop_phase(h, conf, pids)
    except BaseException:
        for name in sorted(os.listdir(h.path("logs"))) if os.path.isdir(h.path("logs")) else []:
            with open(h.path("logs", name), errors="replace") as f:
                log(f"----- {name} -----\n{f.read()[-4000:]}")
        raise
    finally:
        h.teardown()


if __name__ == "__main__":
    run(test)
