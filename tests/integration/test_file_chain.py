#!/usr/bin/env python3
"""text_file_stream reads the output of save_as_text_files: a directory
that text_file_stream watches may hold finished save directories
(SUB/part-NNNNN + _SUCCESS, as a batch of save_as_text_files publishes it).
A cluster runs tests/jobs3/ops_job.so, whose "second" output saves its
input2.dir stream as it is. input2.dir holds, before the job starts:

- batch-1000: committed (_SUCCESS, part-00000, part-00001) -> read;
- batch-2000.tmp-e7: an uncommitted save (even with _SUCCESS) -> never read;
- batch-3000: no _SUCCESS (a save still in progress) -> never read;
- plain.txt: a regular file -> read, as before.

Then batch-2000.tmp-e7 is renamed to batch-2000, as the master commits a
save: it is read once. Over all batches, the lines of "second" are exactly
the lines of the committed part files and plain.txt, each once (a Python
Counter); no other line ever appears.

Then the master is killed with SIGKILL and started again on its state
directory: the files it took are in its checkpoint, so none is read again
(before migration 10 every file of the directory was read a second time),
and a file written after the restart (after.txt) is read once.
"""
import collections
import os

from harness import BUILD, Cluster, check, log, run, saved_batches, wait_for

JOBS3 = os.path.join(BUILD, "tests", "jobs3")


def write(path, lines):
    with open(path, "w") as f:
        f.write("".join(l + "\n" for l in lines))


def save_dir(path, parts, success=True):
    os.makedirs(path)
    for i, lines in enumerate(parts):
        write(os.path.join(path, f"part-{i:05d}"), lines)
    if success:
        write(os.path.join(path, "_SUCCESS"), [])


def second_lines(prefix):
    got = collections.Counter()
    for d in saved_batches(prefix).values():
        for name in os.listdir(d):
            if name != "_SUCCESS":
                with open(os.path.join(d, name)) as f:
                    got.update(f.read().splitlines())
    return got


def test():
    c = Cluster("file_chain")
    c.start_master()
    c.start_worker("w0", slots=2)
    c.wait_workers(1)
    inp, in2 = os.path.join(c.dir, "in"), os.path.join(c.dir, "in2")
    out, fe = os.path.join(c.dir, "out"), os.path.join(c.dir, "foreach")
    for d in (inp, in2, out, fe):
        os.makedirs(d)
    committed = [[f"c0-{i}" for i in range(50)], [f"c1-{i}" for i in range(31)]]
    pending = [[f"tmp-{i}" for i in range(17)]]
    save_dir(os.path.join(in2, "batch-1000"), committed)
    save_dir(os.path.join(in2, "batch-2000.tmp-e7"), pending)
    save_dir(os.path.join(in2, "batch-3000"), [[f"nosuccess-{i}" for i in range(9)]],
             success=False)
    write(os.path.join(in2, "plain.txt"), [f"plain-{i}" for i in range(5)])

    prefix = os.path.join(out, "second")
    c.client("submit", "--start", os.path.join(JOBS3, "ops_job.so"), "--name", "chain",
             "--batch-interval", "500ms", "--conf", f"input.dir={inp}", "--conf",
             f"output.path={out}", "--conf", f"foreach.dir={fe}", "--conf",
             f"input2.dir={in2}")
    want = collections.Counter(l for p in committed for l in p)
    want.update(f"plain-{i}" for i in range(5))
    wait_for(lambda: second_lines(prefix) == want, 60, "the committed save and plain.txt")
    # a few more batches: nothing else is taken
    seen = len(saved_batches(prefix))
    wait_for(lambda: len(saved_batches(prefix)) >= seen + 3, 30, "three more batches")
    got = second_lines(prefix)
    check(got == want, f"only the committed save directory and the plain file were read, "
          f"once each ({sum(got.values())} lines, want {sum(want.values())})")

    os.rename(os.path.join(in2, "batch-2000.tmp-e7"), os.path.join(in2, "batch-2000"))
    want.update(l for p in pending for l in p)
    wait_for(lambda: second_lines(prefix) == want, 60, "the save directory once committed")
    seen = len(saved_batches(prefix))
    wait_for(lambda: len(saved_batches(prefix)) >= seen + 3, 30, "three more batches")
    got = second_lines(prefix)
    check(got == want, f"the renamed (committed) save was read exactly once "
          f"({sum(got.values())} lines, want {sum(want.values())})")
    check(not any(k.startswith("nosuccess-") for k in got),
          "a save directory without _SUCCESS was never read")
    log(f"{sum(got.values())} lines read from save directories and a plain file")

    c.master.kill()
    c.master.p.wait(5)
    c.start_master()
    write(os.path.join(in2, "after.txt"), [f"after-{i}" for i in range(7)])
    want.update(f"after-{i}" for i in range(7))
    wait_for(lambda: second_lines(prefix)["after-0"] > 0, 60, "after.txt, read after the restart")
    seen = len(saved_batches(prefix))
    wait_for(lambda: len(saved_batches(prefix)) >= seen + 3, 30, "three more batches")
    got = second_lines(prefix)
    again = sorted(k for k, n in got.items() if n > want[k])
    check(got == want, f"after a master kill -9 no file was read again and after.txt once "
          f"({sum(got.values())} lines, want {sum(want.values())}; read twice: {again[:5]})")
    c.client("stop", "chain")
    c.stop()


if __name__ == "__main__":
    run(test)
