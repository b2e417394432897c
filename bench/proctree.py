#!/usr/bin/env python3
"""Samples a process tree for the bench/ scripts (standard library only).

  proctree.py sample PID OUT [--every S]
      Until PID exits, every S seconds (default 0.25) appends to OUT a line
        <epoch ms> <RSS kB of PID and all its descendants> \
        <CPU ticks used by the tree so far> <machine busy ticks> <machine ticks>
      A process that exits keeps counting with the last CPU time seen.

  proctree.py window OUT START_MS END_MS
      Prints "peak-rss-mb P cores C machine-cores M": the largest summed RSS
      of the whole run, and between START_MS and END_MS (epoch ms) the CPUs
      the tree kept busy on average, and those the whole machine did (the
      broker and any other process included).
"""
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def proc_table():
    """pid -> (ppid, cpu ticks, rss kB) for every process readable now."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        # fields after "(comm)": state ppid ... utime(12) stime(13) ... rss(22)
        out[int(d)] = (int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[21]) * PAGE_KB)
    return out


def machine_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def sample(pid, out, every):
    seen = {}  # pid -> last cpu ticks (kept after exit)
    with open(out, "a") as f:
        while os.path.exists(f"/proc/{pid}"):
            t = proc_table()
            tree, pending = set(), [pid]
            while pending:
                p = pending.pop()
                tree.add(p)
                pending.extend(c for c, v in t.items() if v[0] == p and c not in tree)
            rss = 0
            for p in tree:
                if p in t:
                    seen[p] = max(seen.get(p, 0), t[p][1])
                    rss += t[p][2]
            busy, total = machine_ticks()
            f.write(f"{int(time.time() * 1000)} {rss} {sum(seen.values())} {busy} {total}\n")
            f.flush()
            time.sleep(every)


def window(out, start, end):
    rows = []
    with open(out) as f:
        for line in f:
            p = line.split()
            if len(p) == 5:
                rows.append([int(x) for x in p])
    if not rows:
        sys.exit(f"{out}: no samples")
    peak = max(r[1] for r in rows)

    def at(ms):  # the sample nearest to ms
        return min(rows, key=lambda r: abs(r[0] - ms))

    a, b = at(start), at(end)
    secs = (b[0] - a[0]) / 1000 or 1e-9
    cores = (b[2] - a[2]) / TICK / secs
    mtot = (b[4] - a[4]) or 1
    mcores = (b[3] - a[3]) / mtot * os.cpu_count()
    print(f"peak-rss-mb {peak / 1024:.0f} cores {cores:.2f} machine-cores {mcores:.2f}")


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "sample":
        every = float(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[4] == "--every" else 0.25
        sample(int(sys.argv[2]), sys.argv[3], every)
    elif len(sys.argv) == 5 and sys.argv[1] == "window":
        window(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
