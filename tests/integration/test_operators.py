"""Every operator, checked against an independent Python computation: a
cluster of two workers with two slots each runs tests/jobs3/ops_job.so on a
text_file_stream; three files are dropped into its directory (written
elsewhere, then renamed in, so each appears whole), two together and one
later with an mtime 3 s in the future. The job's outputs (see ops_job.c)
are read back per batch; the foreach output (one "<batch> <partition>
<records>" file per file partition) says which files each batch took, since
the three files have distinct line counts. For every batch, from the first
published one to two batches after the last file:

- text_file_stream: each file is taken by exactly one batch, in one
  partition; the one with a future mtime not before that time; a dotfile and
  a subdirectory in the input directory are never taken; batches after the
  last file are empty;
- union (narrow, saved as it is): exactly 2k part files for k files; part i
  holds the words of file i in order (map upper-case, filter '#' lines,
  flat_map split), part k+i one "#COMMENT#" tag per comment line of file i;
- map_to_pair (value, no value) after the union: the same parts, lines
  "WORD<TAB>";
- count_by_key (3 partitions) of those pairs: exactly part-00000..2, per-key counts equal
  a collections.Counter of the union, each key once, in the part file of
  its FNV-1a hash mod 3;
- group_by_key (2 partitions): each initial byte's list holds exactly the
  words with that initial (as a multiset), in the part of its hash mod 2;
- repartition (3 partitions): exactly 3 part files whose lines are the
  multiset of the kept (upper-cased, non-comment) lines;
- transform: one part file with "BATCH\t<batch ms>" and "RECORDS\t<n>",
  n the number of records of the union in that batch (0 when empty);
- foreach_partition: one file per (batch, partition) of the file source,
  no temporary file left behind; no batch failed;
- more file streams in the same job: a second text_file_stream on the same
  directory gets every file too, in the same batch and partition (its part i
  is file i, line for line); one on another directory (input2.dir, where a
  fourth file is dropped with the first two) gets that file only, once, and
  it never shows up in the first directory's streams.
"""
import collections
import os
import random
import re
import time

from harness import (BUILD, Cluster, check, fail, jobs_table, log, run, saved_batches,
                     wait_for)

JOBS3 = os.path.join(BUILD, "tests", "jobs3")
INTERVAL_MS = 1000
OUTPUTS = ("words", "pairs", "counts", "groups", "lines", "total", "again", "second")


def fnv1a64(b):
    h = 1469598103934665603
    for x in b:
        h = ((h ^ x) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


VOCAB = ["apple", "Apple", "APPLE", "banana", "Cherry", "date", "elder", "fig", "grape",
         "kiwi", "lemon", "mango", "x", "y2k", "a-b", "o'neil", "na\u00efve", "\u00e9lan",
         "\u00fcber", "42", "3.14", "#tag", "foo_bar", "[br]", "Zz", "q"]


def make_file(seed, nlines):
    """A file of exactly nlines lines (bytes, without their newlines) with
    comments, empty and blank lines, leading/trailing blanks, tabs, mixed
    case and UTF-8 words."""
    rnd = random.Random(seed)
    lines = []
    for i in range(nlines):
        r = rnd.random()
        if r < 0.10:
            line = rnd.choice(["# comment", "#", "#no space " + rnd.choice(VOCAB),
                               "## twice"])
        elif r < 0.14:
            line = ""
        elif r < 0.18:
            line = rnd.choice([" ", "\t", "  \t  "])
        elif r < 0.22:
            line = " # not a comment " + rnd.choice(VOCAB)
        else:
            words = rnd.choices(VOCAB, k=rnd.randint(1, 9)) + [f"f{seed}l{i}"]
            seps = [rnd.choice([" ", "  ", "\t", " \t "]) for _ in words]
            line = "".join(s + w for s, w in zip(seps, words))[len(seps[0]):]
            line = rnd.choice(["", " ", "\t"]) + line + rnd.choice(["", " ", "\t "])
        lines.append(line.encode())
    return lines


def expect_file(lines):
    """What the job computes from one file."""
    kept = [l.upper() for l in lines if not l.startswith(b"#")]
    words = [w for l in kept for w in re.split(rb"[ \t]+", l) if w]
    comments = sum(1 for l in lines if l.startswith(b"#"))
    return {"raw": len(lines), "lines": lines, "kept": kept, "words": words,
            "tags": [b"#COMMENT#"] * comments}


def read_parts(d):
    """{part file name: [lines as bytes]} of a published batch directory."""
    parts = {}
    for name in sorted(os.listdir(d)):
        if name == "_SUCCESS":
            continue
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        check_quiet(data == b"" or data.endswith(b"\n"), f"{d}/{name} ends with a newline")
        parts[name] = data.split(b"\n")[:-1]
    return parts


problems = []


def check_quiet(cond, msg):
    """Collects a problem without logging every passing check."""
    if not cond:
        problems.append(msg)


def part_names(n):
    return [f"part-{i:05d}" for i in range(n)]


def check_batch(t, files, dirs):
    """Checks every saved output of batch t, which took `files` (expectations
    in partition order)."""
    k = len(files)
    allw = [w for f in files for w in f["words"]] + [w for f in files for w in f["tags"]]
    where = f"batch {t}"
    for name in OUTPUTS:
        check_quiet(os.path.exists(os.path.join(dirs[name], "_SUCCESS")),
                    f"{where}: {name} has _SUCCESS")

    # union, narrow: words' partitions then tags'
    parts = read_parts(dirs["words"])
    check_quiet(sorted(parts) == part_names(2 * k),
                f"{where}: union has {2 * k} part files: {sorted(parts)}")
    for i, f in enumerate(files):
        got = parts.get(f"part-{i:05d}")
        check_quiet(got == f["words"], f"{where}: union part {i} is the words of file {i} "
                    f"in order ({len(got or [])} vs {len(f['words'])} records)")
        got = parts.get(f"part-{k + i:05d}")
        check_quiet(got == f["tags"], f"{where}: union part {k + i} holds the comment tags "
                    f"of file {i} ({len(got or [])} vs {len(f['tags'])})")

    # map_to_pair after the union, narrow: (word, no value) as "WORD<TAB>"
    parts = read_parts(dirs["pairs"])
    want = {f"part-{i:05d}": [w + b"\t" for w in f["words"]] for i, f in enumerate(files)}
    want.update({f"part-{k + i:05d}": [w + b"\t" for w in f["tags"]]
                 for i, f in enumerate(files)})
    check_quiet(parts == want, f"{where}: map_to_pair after the union: parts "
                f"{sorted(parts)} hold '<word>\\t' lines as the union's")

    # count_by_key, 3 partitions
    parts = read_parts(dirs["counts"])
    check_quiet(sorted(parts) == part_names(3), f"{where}: counts has 3 parts: {sorted(parts)}")
    got = collections.Counter()
    for name, lines in parts.items():
        for line in lines:
            key, sep, val = line.partition(b"\t")
            if not sep or not val.isdigit():
                problems.append(f"{where}: counts {name}: malformed line {line!r}")
                continue
            check_quiet(key not in got, f"{where}: counts: key {key!r} listed twice")
            check_quiet(fnv1a64(key) % 3 == int(name[5:]),
                        f"{where}: counts: key {key!r} in {name}, not its hash partition")
            got[key] += int(val)
    want = collections.Counter(allw)
    check_quiet(got == want, f"{where}: count_by_key equals a Counter of the union "
                f"({len(got)} vs {len(want)} keys; e.g. "
                f"{sorted((set(got.items()) ^ set(want.items())))[:4]})")

    # group_by_key, 2 partitions: (first byte, word)
    parts = read_parts(dirs["groups"])
    check_quiet(sorted(parts) == part_names(2), f"{where}: groups has 2 parts: {sorted(parts)}")
    got = {}
    for name, lines in parts.items():
        for line in lines:
            key, sep, val = line.partition(b"\t")
            if not sep or not (val.startswith(b"[") and val.endswith(b"]")) or len(key) != 1:
                problems.append(f"{where}: groups {name}: malformed line {line!r}")
                continue
            check_quiet(key not in got, f"{where}: groups: key {key!r} listed twice")
            check_quiet(fnv1a64(key) % 2 == int(name[5:]),
                        f"{where}: groups: key {key!r} in {name}, not its hash partition")
            got[key] = sorted(val[1:-1].split(b","))
    want = {}
    for f in files:
        for w in f["words"]:
            want.setdefault(w[:1], []).append(w)
    want = {k2: sorted(v) for k2, v in want.items()}
    check_quiet(got == want, f"{where}: group_by_key lists equal the words per initial "
                f"({len(got)} vs {len(want)} keys)")

    # repartition, 3 partitions: the kept lines, as a multiset
    parts = read_parts(dirs["lines"])
    check_quiet(sorted(parts) == part_names(3), f"{where}: lines has 3 parts: {sorted(parts)}")
    got = collections.Counter(l for lines in parts.values() for l in lines)
    want = collections.Counter(l for f in files for l in f["kept"])
    check_quiet(got == want, f"{where}: repartition keeps the multiset of kept lines "
                f"({sum(got.values())} vs {sum(want.values())})")

    # transform: one partition, batch time and record count
    parts = read_parts(dirs["total"])
    want = {"part-00000": [b"BATCH\t%d" % t, b"RECORDS\t%d" % len(allw)]}
    check_quiet(parts == want, f"{where}: transform output {parts} == {want}")

    # a second stream on the same directory: the same files, partitions
    parts = read_parts(dirs["again"])
    want = {f"part-{i:05d}": f["lines"] for i, f in enumerate(files)}
    check_quiet(parts == want, f"{where}: the second stream on the input directory has "
                f"parts {sorted(parts)}, want the files' lines as parts {sorted(want)}")
    return len(allw)


def test():
    c = Cluster("operators")
    c.start_master()
    for i in range(2):
        c.start_worker(f"w{i}", slots=2)
    c.wait_workers(2)

    inp, stage = os.path.join(c.dir, "in"), os.path.join(c.dir, "stage")
    out, fe = os.path.join(c.dir, "out"), os.path.join(c.dir, "foreach")
    inp2 = os.path.join(c.dir, "in2")
    for d in (inp, inp2, stage, out, fe):
        os.makedirs(d)
    # never taken: a dotfile and a subdirectory (with a file inside)
    with open(os.path.join(inp, ".hidden"), "w") as f:
        f.write("hidden line\n" * 11)
    os.makedirs(os.path.join(inp, "sub"))
    with open(os.path.join(inp, "sub", "nested.txt"), "w") as f:
        f.write("nested line\n" * 13)

    nlines = {"a.txt": 120, "b file.txt": 77, "c.txt": 203}
    data = {name: make_file(i + 1, n) for i, (name, n) in enumerate(nlines.items())}
    data["d.txt"] = make_file(4, 55)  # for input2.dir
    exp = {name: expect_file(data[name]) for name in nlines}
    by_raw = {e["raw"]: name for name, e in exp.items()}
    check(len(by_raw) == 3 and all(e["tags"] and e["words"] for e in exp.values()),
          "three files with distinct line counts, each with words and comments")

    prefixes = {n: os.path.join(out, n) for n in OUTPUTS}
    t0 = time.monotonic()
    c.client("submit", "--start", os.path.join(JOBS3, "ops_job.so"), "--name", "ops", "--batch-interval",
             f"{INTERVAL_MS}ms", "--conf", f"input.dir={inp}", "--conf", f"output.path={out}",
             "--conf", f"foreach.dir={fe}", "--conf", f"input2.dir={inp2}")
    first = wait_for(lambda: saved_batches(prefixes["total"]), 30, "a first (empty) batch")
    log(f"first batch published: {min(first)}")

    def drop(name, mtime=None, into=inp):
        src = os.path.join(stage, name)
        with open(src, "wb") as f:
            f.write(b"".join(l + b"\n" for l in data[name]))
        if mtime is not None:
            os.utime(src, (mtime, mtime))
        os.rename(src, os.path.join(into, name))

    def foreach_entries():
        ents = {}
        for name in os.listdir(fe):
            m = re.fullmatch(r"(\d+)-(\d+)", name)
            if m:
                with open(os.path.join(fe, name)) as f:
                    ents[(int(m.group(1)), int(m.group(2)))] = f.read()
        return ents

    def alive():
        """Fails at once, in every wait below, when a process has died."""
        dead = [p.name for p in [c.master] + list(c.workers.values()) if not p.alive()]
        if dead:
            fail(f"{dead} exited")
        return True

    def taken(names):
        alive()
        counts = [int(v.split()[2]) for v in foreach_entries().values() if len(v.split()) == 3]
        return all(nlines[n] in counts for n in names)

    drop("a.txt")
    drop("d.txt", into=inp2)
    drop("b file.txt")
    wait_for(lambda: taken(["a.txt", "b file.txt"]), 60, "a.txt and b file.txt processed",
             interval=0.2)
    future = int(time.time()) + 3
    drop("c.txt", mtime=future)
    wait_for(lambda: taken(["c.txt"]), 60, "c.txt processed", interval=0.2)

    ents = foreach_entries()
    last = max(t for t, _ in ents)
    cutoff = last + 2 * INTERVAL_MS
    wait_for(lambda: alive() and all(saved_batches(p) and max(saved_batches(p)) >= cutoff
                         for p in prefixes.values()),
             60, f"every output published up to {cutoff}", interval=0.2)
    log(f"all files processed and published in {time.monotonic() - t0:.1f}s")
    ents = foreach_entries()

    # foreach: which batch took which file
    batch_files = collections.defaultdict(dict)
    for (t, p), text in sorted(ents.items()):
        f = text.split()
        check(len(f) == 3 and f[0] == str(t) and f[1] == str(p) and text.endswith("\n"),
              f"foreach file {t}-{p} reads '<batch> <partition> <records>': {text!r}")
        name = by_raw.get(int(f[2]))
        check(name is not None, f"batch {t} partition {p} has {f[2]} records: one of the "
              f"files ({sorted(by_raw)}), not the dotfile (11) or the nested file (13)")
        batch_files[t][p] = name
    took = collections.Counter(n for fs in batch_files.values() for n in fs.values())
    check(took == collections.Counter(nlines.keys()), f"each file taken exactly once: {dict(took)}")
    for t, fs in batch_files.items():
        check(sorted(fs) == list(range(len(fs))),
              f"batch {t}: file partitions numbered 0..{len(fs) - 1}: {sorted(fs)}")
    t_c = next(t for t, fs in batch_files.items() if "c.txt" in fs.values())
    check(t_c >= future * 1000, f"c.txt (mtime {future} s) taken by batch {t_c}, not before "
          "its mtime")
    leftovers = [n for n in os.listdir(fe) if not re.fullmatch(r"\d+-\d+", n)]
    check(not leftovers, f"no temporary foreach files left: {leftovers}")

    # every batch from the first to the cutoff, against the expectations
    times = sorted(t for t in saved_batches(prefixes["total"]) if t <= cutoff)
    check(times == list(range(times[0], cutoff + 1, INTERVAL_MS)),
          f"batches {times[0]}..{cutoff} all published, every {INTERVAL_MS} ms")
    check(set(batch_files) <= set(times), "every batch that took a file is among them")
    saved = {n: saved_batches(p) for n, p in prefixes.items()}
    total_records = 0
    for t in times:
        missing = [n for n in saved if t not in saved[n]]
        check_quiet(not missing, f"batch {t}: outputs {missing} published")
        if missing:
            continue
        files = [exp[batch_files[t][p]] for p in sorted(batch_files.get(t, {}))]
        n = check_batch(t, files, {name: saved[name][t] for name in saved})
        total_records += n
        log(f"batch {t}: files {[batch_files[t][p] for p in sorted(batch_files.get(t, {}))]}, "
            f"{n} records")
    # the stream on input2.dir: d.txt only, once, as one partition
    second = [(t, name, lines) for t in times
              for name, lines in read_parts(saved["second"][t]).items()]
    check([(name, lines) for _, name, lines in second] == [("part-00000", data["d.txt"])],
          f"the stream on input2.dir took d.txt alone, once, in one partition: "
          f"{[(t, name, len(lines)) for t, name, lines in second]}")
    check(not problems, f"every output of every batch as computed independently "
          f"({len(problems)} problems): {problems[:8]}")
    want_total = sum(len(e["words"]) + len(e["tags"]) for e in exp.values())
    check(total_records == want_total, f"over all batches, {total_records} records == "
          f"{want_total} (no file counted twice)")
    check(all(not batch_files.get(t) for t in times if t > last),
          f"the {len([t for t in times if t > last])} batches after the last file took nothing")

    row = jobs_table(c).get("ops", {})
    check(row.get("failed") == 0 and row.get("batches", 0) >= len(times),
          f"no batch failed: {row}")
    mlog = c.master.log_text()
    check("FAILED" not in mlog and "failed on" not in mlog, "no task or batch failure logged")
    c.client("stop", "ops")
    c.stop()


if __name__ == "__main__":
    run(test)
