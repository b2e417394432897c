"""Joins of two socket streams in the same batch (issue 11): join,
left_outer_join, right_outer_join, full_outer_join and cogroup against a
Python reference, including the outer joins' nulls.

tests/jobs3/join_job.c reads "KEY VALUE" lines from two sockets, saves each
side per batch (OUT/left-T, OUT/right-T: the batch of every record) and each
join (OUT/join, lo, ro, fo, cg). Left keys are k0..k19, right keys k10..k29,
so each batch has matching keys and keys on one side only. The test feeds
both sides for ~10 batches on two workers, then checks:

- the saved sides hold every fed record once;
- at each batch time, each join's lines equal the join of that batch's
  saved sides computed here (a multiset of "KEY<TAB>[a,b]" lines, "null" for
  an outer join's missing side); cogroup's lines are one per key of either
  side with both value lists (compared as sorted lists);
- the outputs hold both matches and nulls (the check can tell them apart);
- no batch failed.
"""
import collections
import os
import random
import time

from harness import (Cluster, TextServer, check, jobs_table, log, run, saved_batches,
                     wait_for, BUILD)

UNIT_MS = 500
JOINS = ("join", "lo", "ro", "fo", "cg")


def make_side(name, keys, n, seed):
    rnd = random.Random(seed)
    return "".join(f"k{rnd.randrange(*keys)} {name}{i}\n" for i in range(n))


def read_lines(d):
    lines = []
    for name in sorted(os.listdir(d)):
        if name.startswith("part-"):
            with open(os.path.join(d, name), encoding="utf-8") as f:
                lines += [ln.rstrip("\n") for ln in f]
    return lines


def side_records(prefix):
    """{batch ms: [(key, value)]} of one side's saved batches."""
    return {t: [tuple(ln.split("\t", 1)) for ln in read_lines(d)]
            for t, d in saved_batches(prefix).items()}


def reference(kind, left, right):
    """The expected lines of one join kind over one batch's sides."""
    lg, rg = collections.defaultdict(list), collections.defaultdict(list)
    for k, v in left:
        lg[k].append(v)
    for k, v in right:
        rg[k].append(v)
    if kind == "cg":
        return collections.Counter(
            f"{k}\t{sorted(lg.get(k, []))}|{sorted(rg.get(k, []))}"
            for k in set(lg) | set(rg))
    keys = {"join": set(lg) & set(rg), "lo": set(lg), "ro": set(rg),
            "fo": set(lg) | set(rg)}[kind]
    out = collections.Counter()
    for k in keys:
        for a in lg.get(k, ["null"]):
            for b in rg.get(k, ["null"]):
                out[f"{k}\t[{a},{b}]"] += 1
    return out


def cogroup_line(ln):
    """"k<TAB>[[a,b],[c]]" -> "k<TAB>['a', 'b']|['c']" (lists sorted)."""
    k, v = ln.split("\t", 1)
    inner = v[1:-1]  # "[a,b],[c]"
    mid = inner.index("],[")
    a, b = inner[1:mid], inner[mid + 3:-1]
    split = (lambda s: sorted(s.split(",")) if s else [])
    return f"{k}\t{split(a)}|{split(b)}"


def test():
    ltext = make_side("a", (0, 20), 1500, 31)
    rtext = make_side("b", (10, 30), 1500, 32)
    lsrv = TextServer(ltext, chunk=len(ltext) // 100 + 1, pause=0.05)
    rsrv = TextServer(rtext, chunk=len(rtext) // 100 + 1, pause=0.05)
    c = Cluster("joins", conf={"sluice.heartbeat.interval": "200ms"})
    c.start_master()
    c.start_worker("w0", slots=3)
    c.start_worker("w1", slots=3)
    c.wait_workers(2)
    out = os.path.join(c.dir, "out")
    c.client("submit", "--start", os.path.join(BUILD, "tests", "jobs3", "join_job.so"),
             "--name", "joins", "--batch-interval", f"{UNIT_MS}ms",
             "--conf", f"left.port={lsrv.port}", "--conf", f"right.port={rsrv.port}",
             "--conf", f"output.path={out}")
    wait_for(lambda: lsrv.done.is_set() and rsrv.done.is_set(), 60, "both texts sent")

    def fed(side):
        return sum(len(v) for v in side_records(os.path.join(out, side)).values())
    wait_for(lambda: fed("left") >= 1500 and fed("right") >= 1500, 60,
             "every record saved by its side")
    last = max(saved_batches(os.path.join(out, "left")))
    wait_for(lambda: all(max(saved_batches(os.path.join(out, n)), default=0) >= last
                         for n in JOINS), 60, "the joins of the last batch")
    c.client("stop", "joins")
    time.sleep(0.5)

    left, right = side_records(os.path.join(out, "left")), side_records(
        os.path.join(out, "right"))
    for name, side, text in (("left", left, ltext), ("right", right, rtext)):
        got = collections.Counter(f"{k} {v}" for recs in side.values() for k, v in recs)
        check(got == collections.Counter(text.splitlines()),
              f"the saved {name} side holds every fed record once ({got.total()})")
    check(sum(1 for t in left if left[t] and right.get(t)) >= 5,
          "both sides have records in 5+ common batches")
    for kind in JOINS:
        got_batches = saved_batches(os.path.join(out, kind))
        missing = [t for t in left if t <= last and t not in got_batches]
        check(not missing, f"{kind}: an output at every batch ({missing[:3]} missing)")
        bad, lines, nulls = [], 0, 0
        for t, d in got_batches.items():
            raw = read_lines(d)
            got = collections.Counter(cogroup_line(ln) if kind == "cg" else ln
                                      for ln in raw)
            want = reference(kind, left.get(t, []), right.get(t, []))
            lines += len(raw)
            nulls += sum(1 for ln in raw if "null" in ln or "[]" in ln)
            if got != want:
                bad.append(f"{t}: extra {list((got - want).items())[:2]} "
                           f"missing {list((want - got).items())[:2]}")
        log(f"{kind}: {len(got_batches)} batches, {lines} lines, {nulls} with a null side")
        check(not bad, f"{kind}: every batch equals the reference: {bad[:2]}")
        check(lines > 0, f"{kind}: has output lines")
        check((nulls > 0) == (kind != "join"),
              f"{kind}: {'has' if kind != 'join' else 'no'} missing sides ({nulls})")
    check(jobs_table(c)["joins"]["failed"] == 0, "no batch failed")
    c.stop()


if __name__ == "__main__":
    run(test)
