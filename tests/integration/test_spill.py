"""A batch larger than the storage memory budget spills and stays correct.

Two workers with --memory 64m (storage budget 64 MiB x 0.6 x 0.5 = 19.2 MiB
each) run socket_wordcount (storage level MEMORY_AND_DISK_SER_2, so each
worker holds a copy of every block). About 94 MB of text (90 MiB, ~127 MiB
as records) is fed as fast as the receiver takes it, right after a batch
boundary, so that one 10 s batch holds it.

- the batch completes (no batch FAILED) and the saved counts equal the
  counts of the text exactly;
- the data went to disk: while the batch was pending each worker had at
  least (batch bytes - budget) / max block size receiver blocks in its
  blocks directory at once;
- each worker's peak RSS (VmHWM from /proc, also sampled as VmRSS) stays
  within the storage budget plus the margin documented in docs/storage.md
  ("Memory and RSS"): 16 MiB + (2 x slots + 8) x max block size, where the
  max block size is budget / 8 = 2.4 MiB; 64 MiB here. In the sanitizer
  build (whose allocator is ASan's, not the product's), the workers run with
  a 16 MiB quarantine and the bound is 9/8 of that (shadow memory) plus the
  quarantine plus 16 MiB of ASan runtime.
"""
import collections
import os
import re
import socket
import threading
import time

from harness import BUILD, LIB, Cluster, check, log, run, wait_for

MiB = 1 << 20
MEMORY = 64 * MiB
SLOTS = 2
BUDGET = int(MEMORY * 0.6 * 0.5)                       # storage budget, as the worker computes it
MAX_BLOCK = min(max(BUDGET // 8, 256 * 1024), 8 * MiB)  # receiver's early-cut size
MARGIN = 16 * MiB + (2 * SLOTS + 8) * MAX_BLOCK
FEED = 90 * MiB
INTERVAL_S = 10
RECORD_HEADER = 16


def asan_build():
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            return re.search(r"^SLUICE_SANITIZE:BOOL=(ON|TRUE|1)$", f.read(), re.M) is not None
    except OSError:
        return False


def make_chunk():
    """1000 lines of 8 words from a 1000-word vocabulary with uneven counts."""
    words = [f"word{i:04d}" for i in range(1000)]
    lines = [" ".join(words[(i * i + 31 * k * k + 7 * k) % 1000] for k in range(8))
             for i in range(1000)]
    counts = collections.Counter(w for line in lines for w in line.split())
    return ("\n".join(lines) + "\n").encode(), counts, len(lines)


def status(pid):
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":")
                vals[k] = int(v.split()[0]) * 1024
    return vals


class Sampler(threading.Thread):
    """Samples each worker's VmRSS and its receiver blocks on disk."""

    def __init__(self, c):
        super().__init__(daemon=True)
        self.c = c
        self.pids = {n: w.p.pid for n, w in c.workers.items()}
        self.peak_rss = dict.fromkeys(self.pids, 0)
        self.max_disk_blocks = dict.fromkeys(self.pids, 0)
        self.stopping = False

    def run(self):
        while not self.stopping:
            for n, pid in self.pids.items():
                try:
                    self.peak_rss[n] = max(self.peak_rss[n], status(pid)["VmRSS"])
                    blocks = os.listdir(os.path.join(self.c.dir, n, "blocks"))
                except (OSError, KeyError):
                    continue
                nblk = sum(1 for b in blocks if b.startswith("rcv-") and b.endswith(".blk"))
                self.max_disk_blocks[n] = max(self.max_disk_blocks[n], nblk)
            time.sleep(0.05)


def saved_counts(prefix):
    total = collections.Counter()
    parent, base = os.path.split(prefix)
    if not os.path.isdir(parent):
        return total
    for d in os.listdir(parent):
        if not re.fullmatch(re.escape(base) + r"-\d+", d):
            continue
        for name in os.listdir(os.path.join(parent, d)):
            if name.startswith("part-"):
                with open(os.path.join(parent, d, name)) as f:
                    for line in f:
                        word, n = line.rstrip("\n").split("\t")
                        total[word] += int(n)
    return total


def test():
    asan = asan_build()
    c = Cluster("spill")
    bound = BUDGET + MARGIN
    if asan:
        c.env["ASAN_OPTIONS"] = ":".join(
            filter(None, [os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=16"]))
        bound = bound * 9 // 8 + 16 * MiB + 16 * MiB
    log(f"storage budget {BUDGET / MiB:.1f} MiB, max block {MAX_BLOCK / MiB:.2f} MiB, "
        f"margin {MARGIN / MiB:.1f} MiB, RSS bound {bound / MiB:.1f} MiB"
        f"{' (sanitizer build)' if asan else ''}")
    c.start_master()
    for i in range(2):
        c.start_worker(f"w{i}", slots=SLOTS, memory="64m")
    c.wait_workers(2)
    for n, w in c.workers.items():
        wait_for(lambda n=n: c.worker_id(n), 5, f"{n} id")
        log(f"{n} idle: VmRSS {status(w.p.pid)['VmRSS'] / MiB:.1f} MiB")

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(30)
    out = os.path.join(c.dir, "out", "wc")
    c.client("submit", "--start", os.path.join(LIB, "socket_wordcount.so"), "--name", "spill",
             "--batch-interval", f"{INTERVAL_S}s", "--conf", f"source.port={srv.getsockname()[1]}",
             "--conf", f"output.path={out}", "--conf", "print.num=0")
    conn, _ = srv.accept()
    sampler = Sampler(c)
    sampler.start()

    chunk, chunk_counts, chunk_lines = make_chunk()
    reps = FEED // len(chunk)
    want = collections.Counter({w: n * reps for w, n in chunk_counts.items()})
    nlines = reps * chunk_lines
    # Start right after a batch boundary so that one batch gets all of it.
    wait_for(lambda: 300 <= time.time() * 1000 % (INTERVAL_S * 1000) < 1500, INTERVAL_S + 1,
             "a batch boundary", interval=0.02)
    t0 = time.monotonic()
    for _ in range(reps):
        conn.sendall(chunk)
    fed = time.monotonic() - t0
    log(f"fed {reps * len(chunk) / MiB:.1f} MiB ({nlines} lines) in {fed:.1f}s")

    wait_for(lambda: sum(saved_counts(out).values()) >= sum(want.values()), 150,
             "every word counted", interval=1)
    sampler.stopping = True
    sampler.join()
    got = saved_counts(out)
    mlog = c.master.log_text()
    done = [int(n) for n in re.findall(r"job spill batch \d+ done: (\d+) records", mlog)]
    check(not re.search(r"batch \d+ FAILED", mlog), "no batch FAILED")
    diff = {w: (got.get(w, 0), n) for w, n in want.items() if got.get(w, 0) != n}
    check(not diff and set(got) == set(want),
          f"counts exact for {len(want)} words, {sum(want.values())} in all "
          f"(diff {list(diff.items())[:5]})")
    biggest = max(done)
    batch_bytes = biggest * RECORD_HEADER + (len(chunk) - chunk_lines) * biggest // chunk_lines
    log(f"records per batch: {[n for n in done if n]}; biggest batch {biggest} records, "
        f"{batch_bytes / MiB:.1f} MiB as records")
    check(batch_bytes >= 3 * BUDGET,
          f"one batch ({batch_bytes / MiB:.1f} MiB) is over 3x the storage budget")
    need = (batch_bytes - BUDGET) // MAX_BLOCK
    for n in c.workers:
        check(sampler.max_disk_blocks[n] >= need,
              f"{n} held {sampler.max_disk_blocks[n]} receiver blocks on disk at once "
              f"(at least {need} must have spilled)")
    for n, w in c.workers.items():
        st = status(w.p.pid)
        log(f"{n}: peak RSS {st['VmHWM'] / MiB:.1f} MiB (sampled VmRSS peak "
            f"{sampler.peak_rss[n] / MiB:.1f} MiB), now {st['VmRSS'] / MiB:.1f} MiB")
        check(st["VmHWM"] <= bound,
              f"{n} peak RSS {st['VmHWM'] / MiB:.1f} MiB <= budget + margin "
              f"{bound / MiB:.1f} MiB")
        errors = [l for l in w.log_text().splitlines() if " ERROR " in l]
        check(not errors, f"{n} logged no errors ({errors[:3]})")
    conn.close()
    srv.close()
    c.stop()


if __name__ == "__main__":
    run(test)
