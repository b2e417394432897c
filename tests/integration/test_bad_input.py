"""Bad input on the wire (SPEC §11): a master and one worker on loopback.

sluice-wire-probe sends each kind of bad frame to the master's cluster RPC
URL and to the worker's RPC URL (the ADDRESS column of `sluice workers`):

- random bytes, a truncated envelope, an oversized one (over the cap but
  within nng's slack), an unknown type with a valid MAC, version 99, a wrong
  secret: each is refused with an error reply naming the problem, and the
  process logs a "refused message from" line naming it too;
- a frame over nng's hard cap (cap + 1 MiB) and raw TCP garbage (not SP at
  all): no reply, the connection is dropped, nothing is unpacked or logged;
- after every probe both processes are still running, the master still
  answers `sluice workers` and lists the worker ALIVE, and a valid ping to
  the probed process is still answered.
"""
import os
import subprocess

from harness import BIN, Cluster, check, fail, log, run, wait_for

PROBE = os.path.join(BIN, "sluice-wire-probe")
CAP = 64 << 20  # default sluice.rpc.maxMessageSize
REFUSED = "refused message from"

# mode -> (substrings the probe's output must contain, logged by the server)
CASES = [
    ("random", ["reply: MSG_ERROR SL_E"], True),
    ("truncated", ["reply: MSG_ERROR SL_E"], True),
    ("oversized", ["reply: MSG_ERROR SL_ETOOBIG",
                   f"exceeds the limit of {CAP} bytes"], True),
    ("huge", ["no reply"], False),
    ("unknown-type", ["reply: MSG_ERROR SL_EUNKNOWN_TYPE", "unknown message type 999",
                      "'client-probe'"], True),
    ("bad-version", ["reply: MSG_ERROR SL_EVERSION", "version 99", "version 1"], True),
    ("bad-mac", ["reply: MSG_ERROR SL_EAUTH", "MAC", "'client-probe'"], True),
    ("raw-garbage", ["no reply"], False),
]

# What the refusal of each logged mode must name, in the reply and the log.
NAMES = {
    "random": ("malformed frame", "MAC", "version", "unknown message type"),
    "truncated": ("malformed frame", "MAC"),
    "oversized": ("exceeds",),
    "unknown-type": ("unknown message type 999",),
    "bad-version": ("version 99",),
    "bad-mac": ("MAC",),
}


def probe(c, url, mode):
    r = subprocess.run([PROBE, url, mode], capture_output=True, text=True, env=c.env,
                       timeout=120)
    out = (r.stdout + r.stderr).strip()
    log(f"probe {mode} -> {url}: exit {r.returncode}: {out[:300]}")
    return r.returncode, out


def refused_lines(proc):
    return [l for l in proc.log_text().splitlines() if REFUSED in l]


def check_healthy(c, worker, what):
    check(c.master.alive(), f"master still running after {what}")
    check(worker.alive(), f"worker still running after {what}")
    table = c.workers_table()
    check(len(table) == 1 and all(r["state"] == "ALIVE" for r in table.values()),
          f"`sluice workers` answers with the worker ALIVE after {what}: {table}")


def test():
    c = Cluster("badinput")
    c.start_master()
    worker = c.start_worker("w0")
    table = c.wait_workers(1)
    waddr = next(iter(table.values()))["address"]
    check(waddr.startswith("tcp://127.0.0.1:"), f"worker RPC address listed: {waddr}")
    targets = [("master", c.url, c.master), ("worker", waddr, worker)]

    for name, url, proc in targets:
        # control: the probe's valid frames are accepted, so the refusals
        # below are about the one thing each mode breaks
        rc, out = probe(c, url, "ping")
        check(rc == 0 and f"reply: MSG_PONG SL_OK role={name}" in out,
              f"{name} answers a valid ping from the probe")

        for mode, want, logged in CASES:
            before = len(refused_lines(proc))
            rc, out = probe(c, url, mode)
            check(rc == 0, f"{name}/{mode}: probe got the expected outcome")
            for w in want:
                check(w in out, f"{name}/{mode}: output contains {w!r}")
            if mode in NAMES:
                check(any(n in out for n in NAMES[mode]),
                      f"{name}/{mode}: the error names the problem ({out[:160]})")
            if logged:
                lines = wait_for(lambda: refused_lines(proc)[before:] or None, 5,
                                 f"{name} to log the refused {mode} frame")
                check(len(lines) == 1, f"{name}/{mode}: one refusal logged: {lines}")
                check(any(n in lines[0] for n in NAMES[mode]),
                      f"{name}/{mode}: log line names the problem: {lines[0][:200]}")
                check("127.0.0.1:" in lines[0], f"{name}/{mode}: log line names the peer")
            else:
                check(len(refused_lines(proc)) == before,
                      f"{name}/{mode}: dropped before unpacking, nothing logged")
            check_healthy(c, worker, f"{mode} to the {name}")

        # many random frames in a row
        for i in range(10):
            rc, out = probe(c, url, "random")
            if rc != 0:
                fail(f"{name}: random frame {i} not refused with an error reply: {out}")
        rc, out = probe(c, url, "ping")
        check(rc == 0 and "MSG_PONG" in out, f"{name} still answers a valid ping")
        check_healthy(c, worker, f"every probe to the {name}")

    # the worker is still heartbeating: its registration survives a while
    wait_for(lambda: c.workers_table().get(next(iter(table)), {}).get("state") == "ALIVE",
             10, "worker ALIVE at the end")
    for p in (c.master, worker):
        text = p.log_text()
        for bad in ("AddressSanitizer", "runtime error", "Segmentation", "Aborted"):
            check(bad not in text, f"{p.name} log free of {bad!r}")
    c.stop()


if __name__ == "__main__":
    run(test)
