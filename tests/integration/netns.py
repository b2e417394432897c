"""Three network namespaces on one bridge, for the tests that need hosts
(test_multihost, test_launch): namespace m holds the bridge br0 and
address .1, namespaces a and b hang off it by veth pairs with .2 and .3.
The host's own network is never touched.

Names carry the test's pid (PREFIX<pid>m/a/b), so namespaces left by an
earlier run that was killed are recognised (its pid is gone) and removed
with whatever still runs in them (started by that run). Needs root.
"""
import ctypes
import os
import re
import signal
import subprocess
import time

from harness import fail, log

_libc = ctypes.CDLL(None, use_errno=True)


def sh(*argv, timeout=30, ok=True, input=None):
    """Runs a command (not through a shell), bounded; fails on error unless ok=False."""
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=input)
    if ok and r.returncode != 0:
        fail(f"`{' '.join(argv)}` exited {r.returncode}: {r.stderr.strip()} {r.stdout.strip()}")
    return r


def die_with_parent():
    """preexec_fn: PR_SET_PDEATHSIG (1) = SIGKILL, so a process started in a
    namespace dies with the test (e.g. a ctest timeout) instead of lingering."""
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)


def alive(pid):
    """pid runs (a zombie does not count: it waits for init to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def kill_inside(ns):
    """SIGKILLs every process in namespace ns."""
    for pid in sh("ip", "netns", "pids", ns, ok=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


class Bridge:
    """ns[k] and addr[k] for k in m, a, b on net (e.g. "10.213.7") .0/24."""

    def __init__(self, prefix, second_octet):
        pid = os.getpid()
        self.net = f"10.{second_octet}.{pid % 250 + 1}"
        self.ns = {k: f"{prefix}{pid}{k}" for k in "mab"}
        self.addr = {"m": f"{self.net}.1", "a": f"{self.net}.2", "b": f"{self.net}.3"}
        self.stale = re.compile(rf"^{prefix}(\d+)[mab]$")
        self.created = []

    def remove_stale(self):
        """Namespaces of an earlier run of the same test that was killed."""
        r = sh("ip", "netns", "list", ok=False)
        if r.returncode != 0:
            fail(f"`ip netns list` failed: {r.stderr.strip()}")
        for line in r.stdout.splitlines():
            m = self.stale.match(line.split()[0] if line.split() else "")
            if not m or int(m.group(1)) == os.getpid() or alive(int(m.group(1))):
                continue
            log(f"removing stale namespace {m.group(0)} of an earlier, killed run")
            kill_inside(m.group(0))
            sh("ip", "netns", "del", m.group(0), ok=False)

    def create(self):
        t0 = time.monotonic()
        for ns in self.ns.values():
            r = sh("ip", "netns", "add", ns, ok=False)
            if r.returncode != 0:
                fail(f"cannot create network namespace {ns}: {r.stderr.strip()} "
                     "(needs root / CAP_SYS_ADMIN and a mountable /run/netns)")
            self.created.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        m = self.ns["m"]
        sh("ip", "-n", m, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", m, "addr", "add", f"{self.addr['m']}/24", "dev", "br0")
        sh("ip", "-n", m, "link", "set", "br0", "up")
        for k in ("a", "b"):
            # created inside m; the far end moves straight into a or b
            sh("ip", "-n", m, "link", "add", f"v{k}", "type", "veth", "peer", "name", "eth0",
               "netns", self.ns[k])
            sh("ip", "-n", m, "link", "set", f"v{k}", "master", "br0")
            sh("ip", "-n", m, "link", "set", f"v{k}", "up")
            sh("ip", "-n", self.ns[k], "addr", "add", f"{self.addr[k]}/24", "dev", "eth0")
            sh("ip", "-n", self.ns[k], "link", "set", "eth0", "up")
        log(f"namespaces {', '.join(self.ns.values())} on {self.net}.0/24 "
            f"({time.monotonic() - t0:.2f}s)")

    def kill_all(self):
        """Everything still inside the namespaces (all of it started by the test)."""
        for ns in self.created:
            kill_inside(ns)

    def delete(self):
        for ns in self.created:
            r = sh("ip", "netns", "del", ns, ok=False)
            if r.returncode != 0:
                log(f"warning: cannot delete namespace {ns}: {r.stderr.strip()}")
        self.created = []
