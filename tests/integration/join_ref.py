"""Reference joins for the join tests (issue 11): test_joins.py,
test_window_joins.py, test_shared_joins.py, kafka/test_kafka_joins.py.

tests/jobs3/join_job.c saves each side of a join per batch (OUT/left-T,
OUT/right-T: every record's batch) and each join's output per batch. Here:
reading those directories, the expected lines of a join of given side
records (a multiset of "KEY<TAB>[a,b]" lines, "null" for an outer join's
missing side; cogroup as one line per key with both value lists sorted),
and the per-batch comparison the tests share.
"""
import collections
import json
import os

from harness import BUILD, Cluster, check, log, saved_batches

JOIN_JOB = os.path.join(BUILD, "tests", "jobs3", "join_job.so")


def join_cluster(name, job, unit_ms, *conf, slots=3):
    """A master and two workers running tests/jobs3/join_job.c as JOB, one
    batch every UNIT_MS, saving under CLUSTER/out; CONF: key=value pairs.
    Returns the cluster and the output directory."""
    c = Cluster(name, conf={"sluice.heartbeat.interval": "200ms"})
    c.start_master()
    c.start_worker("w0", slots=slots)
    c.start_worker("w1", slots=slots)
    c.wait_workers(2)
    out = os.path.join(c.dir, "out")
    args = ["submit", "--start", JOIN_JOB, "--name", job, "--batch-interval", f"{unit_ms}ms",
            "--conf", f"output.path={out}"]
    for kv in conf:
        args += ["--conf", kv]
    c.client(*args)
    return c, out


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


def fed_count(out, side):
    return sum(len(v) for v in side_records(os.path.join(out, side)).values())


def reference(kind, left, right):
    """The expected lines of one join kind ("join", "lo", "ro", "fo", "cg")
    over the (key, value) records of its two sides."""
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


def reduced(recs):
    """join_job.c's reduce_by_key(join_concat) of (key, value) records:
    (key, the key's values sorted and joined by '+')."""
    g = collections.defaultdict(list)
    for k, v in recs:
        g[k].append(v)
    return [(k, "+".join(sorted(vs))) for k, vs in g.items()]


def cogroup_line(ln):
    """"k<TAB>[[a,b],[c]]" -> "k<TAB>['a', 'b']|['c']" (lists sorted)."""
    k, v = ln.split("\t", 1)
    inner = v[1:-1]  # "[a,b],[c]"
    mid = inner.index("],[")
    a, b = inner[1:mid], inner[mid + 3:-1]
    split = (lambda s: sorted(s.split(",")) if s else [])
    return f"{k}\t{split(a)}|{split(b)}"


def check_saved_sides(out, texts):
    """Each saved side holds every fed "KEY VALUE" line once; returns the
    sides' records per batch (left, right)."""
    sides = []
    for name, lines in zip(("left", "right"), texts):
        side = side_records(os.path.join(out, name))
        got = collections.Counter(f"{k} {v}" for recs in side.values() for k, v in recs)
        check(got == collections.Counter(lines),
              f"the saved {name} side holds every fed record once ({got.total()})")
        sides.append(side)
    return sides


def check_join_output(out, name, kind, times, sides_at, expect_nulls):
    """Output `name` of join kind `kind` exists at every batch time of times
    and equals, at each, reference(kind, *sides_at(t)); it has lines, and
    lines with a missing side exactly when expect_nulls."""
    got_batches = saved_batches(os.path.join(out, name))
    missing = [t for t in times if t not in got_batches]
    check(not missing, f"{name}: an output at every batch ({missing[:3]} missing)")
    bad, lines, nulls = [], 0, 0
    for t in times:
        raw = read_lines(got_batches[t])
        got = collections.Counter(cogroup_line(ln) if kind == "cg" else ln for ln in raw)
        want = reference(kind, *sides_at(t))
        lines += len(raw)
        nulls += sum(1 for ln in raw if "null" in ln or "[]" in ln)
        if got != want:
            bad.append(f"{t}: extra {list((got - want).items())[:2]} "
                       f"missing {list((want - got).items())[:2]}")
    log(f"{name}: {len(times)} batches, {lines} lines, {nulls} with a missing side")
    check(not bad, f"{name}: every batch equals the reference: {bad[:2]}")
    check(lines > 0, f"{name}: has output lines")
    check((nulls > 0) == expect_nulls,
          f"{name}: {'has' if expect_nulls else 'no'} missing sides ({nulls})")


def batch_tasks(c, job):
    """{batch ms: (input records, tasks, task failures)} of the job's
    finished batches, from `sluice monitor --json`."""
    lines = c.client("monitor", job, "--json", "--no-output", "--duration", "1s",
                     timeout=60).stdout.splitlines()
    return {b["batch_ms"]: (b["input_records"], b["tasks"], b["task_failures"])
            for b in map(json.loads, lines)}
