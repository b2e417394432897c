"""Shared by the state tests (issue 11): tests/jobs3/state_job.c on a
cluster, a feed of two phases of words, and the checks of its three
outputs against a Python reference over the per-batch counts:

- OUT/batch-T (each batch's counts) holds every fed word once: the batch
  assignment the reference uses;
- OUT/totals-T (update_state_by_key) equals, at every batch, the initial
  state plus the cumulative counts of the batches up to T;
- OUT/idle-T (map_with_state, timeout D = 3 batches) reports each idle
  word once, at the first batch >= its last batch + D (+- one batch), with
  the number of its records since it was last reported.
"""
import collections
import os
import random
import socket
import threading
import time

from harness import (Cluster, batch_counts, check, counter_diff, log,
                     saved_batches, wait_for, BUILD)

UNIT_MS = 200
TIMEOUT_MS = 3 * UNIT_MS
INITIAL = collections.Counter({"w0": 1000, "seed": 7})


def make_phases(n, seed=5):
    """Two phases of n lines: words a0..a11 then b0..b11, each line with w0
    (the word the initial state and the failing attempts name)."""
    rnd = random.Random(seed)
    return ["".join("w0 " + " ".join(f"{p}{rnd.randrange(12)}" for _ in range(rnd.randrange(1, 6)))
                    + "\n" for _ in range(n)) for p in "ab"]


class FeedServer:
    """Feeds part i of a text, once gates[i] is set, 20 lines every pause
    seconds, to the receiver's latest connection (a stopped job's receiver
    closes its connection; started again, it connects anew); done once all
    is sent."""

    def __init__(self, parts, pause=0.033):
        self.parts = [p.encode() for p in parts]
        self.pause = pause
        self.gates = [threading.Event() for _ in parts]
        self.done = threading.Event()
        self.conns = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        threading.Thread(target=self._feed, daemon=True).start()

    def _accept(self):
        while True:
            self.conns.append(self.sock.accept()[0])

    def _feed(self):
        for part, gate in zip(self.parts, self.gates):
            gate.wait(120)
            while not self.conns:
                time.sleep(0.01)
            lines = part.splitlines(keepends=True)
            for i in range(0, len(lines), 20):
                self.conns[-1].sendall(b"".join(lines[i:i + 20]))
                time.sleep(self.pause)
        self.done.set()


def kill_master(c):
    c.master.kill()
    c.master.p.wait(5)


def restart_master(c):
    kill_master(c)
    time.sleep(0.3)
    c.start_master()


counts = batch_counts  # {batch ms: Counter} of the saved batches of a prefix


def start(name, port, workers=2, fail_key="", conf=None):
    """A master, workers w0.. and state_job reading 127.0.0.1:port."""
    c = Cluster(name, conf={"sluice.heartbeat.interval": "200ms", **(conf or {})})
    c.start_master()
    for i in range(workers):
        c.start_worker(f"w{i}", slots=2)
    c.wait_workers(workers)
    out = os.path.join(c.dir, "out")
    args = ["submit", "--start", os.path.join(BUILD, "tests", "jobs3", "state_job.so"),
            "--name", "state", "--batch-interval", f"{UNIT_MS}ms",
            "--conf", f"source.port={port}", "--conf", f"output.path={out}",
            "--conf", f"state.unit_ms={UNIT_MS}"]
    if fail_key:
        args += ["--conf", f"state.fail_key={fail_key}"]
    c.client(*args)
    return c, out


def drain(c, server, out, words):
    """Waits for every fed word and for the idle reports past the last one,
    stops the job; returns the per-batch counts."""
    wait_for(lambda: server.done.is_set(), 60, "the text to be sent")
    batch = os.path.join(out, "batch")
    wait_for(lambda: sum(counts(batch).values(), collections.Counter()).total() >= len(words),
             60, "every word counted in the per-batch output")
    last = max(t for t, cnt in counts(batch).items() if cnt)
    for name in ("totals", "idle"):
        wait_for(lambda: max(saved_batches(os.path.join(out, name)), default=0) >=
                 last + TIMEOUT_MS + 2 * UNIT_MS, 30, f"{name} past the last word's timeout")
    c.client("stop", "state")
    time.sleep(0.3)
    per_batch = counts(batch)
    total = sum(per_batch.values(), collections.Counter())
    check(total == collections.Counter(words),
          f"the per-batch outputs hold every fed word once ({total.total()} words)")
    return per_batch


def check_totals(out, per_batch):
    totals = counts(os.path.join(out, "totals"))
    both = sorted(set(totals) & set(per_batch))
    missing = [t for t in per_batch if t not in totals]
    check(len(both) >= 20 and not missing,
          f"a running total at each of {len(both)} batches (missing {missing[:3]})")
    running, bad = collections.Counter(INITIAL), []
    for t in sorted(per_batch):
        running.update(per_batch[t])
        if t in totals and totals[t] != running:
            bad.append(f"{t}: {counter_diff(totals[t], running, 3)}")
    check(not bad, f"every batch's totals equal the initial state plus the cumulative "
          f"counts ({running.total()} at the end): {bad[:3]}")


def expected_idle(per_batch, final):
    """[(word, batch ms of its timeout, records since its last report)]."""
    want, seen, since = [], {}, collections.Counter()
    for t in sorted(per_batch):
        for w, n in per_batch[t].items():
            if w in seen and t > seen[w] + TIMEOUT_MS:
                want.append((w, seen[w] + TIMEOUT_MS, since.pop(w)))
            seen[w] = t
            since[w] += n
    want += [(w, seen[w] + TIMEOUT_MS, n) for w, n in since.items()
             if seen[w] + TIMEOUT_MS <= final]
    return want


def check_idle(out, per_batch):
    idle = counts(os.path.join(out, "idle"))
    final = max(idle) - UNIT_MS  # the last batch may have been cut by the stop
    want = expected_idle(per_batch, final)
    got = [(w, t, n) for t, cnt in idle.items() for w, n in cnt.items()]
    unmatched = list(got)
    bad = []
    for w, t, n in want:
        hit = [g for g in unmatched if g[0] == w and g[2] == n and abs(g[1] - t) <= UNIT_MS]
        if len(hit) != 1:
            bad.append(f"{w} at {t} ({n} records): reported {len(hit)} times")
        else:
            unmatched.remove(hit[0])
    extra = [g for g in unmatched if g[1] <= final]
    check(len(want) >= 12, f"{len(want)} idle words expected (both phases' words)")
    check(not bad and not extra, f"each idle word reported once, on time, with its count "
          f"({len(want)}): {bad[:3]}, unexpected {extra[:3]}")


def check_all(out, per_batch, min_batches=10):
    """min_batches: how many batches the words must span at least (fewer
    when a test stalls the receiver, e.g. its block replica is killed)."""
    nonempty = [t for t, cnt in per_batch.items() if cnt]
    check(len(nonempty) >= min_batches, f"the words span {len(nonempty)} batches")
    check_totals(out, per_batch)
    check_idle(out, per_batch)
    log("state outputs checked")
