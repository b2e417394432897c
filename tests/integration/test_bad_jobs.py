"""Bad job libraries (SPEC §3): `sluice submit` refuses each one itself,
before anything reaches the master, with exit code 1 and a message on
stderr naming the problem:

- a shared library without the sluice_job_define entry point;
- a graph naming a user function the library does not export;
- a graph without an output operation;
- a file that is not a shared object at all (random bytes);
- a job whose sluice_job_define calls sl_fail (its own message is shown).

Afterwards the master lists no job and logged no submission; a good job
(the socket word count example) is then accepted by the same master, so the
refusals are about the libraries and not the setup.
"""
import os
import random

from harness import JOBS, LIB, Cluster, check, jobs_table, log, run


def test():
    c = Cluster("badjobs")
    c.start_master()
    junk = os.path.join(c.dir, "junk.so")
    with open(junk, "wb") as f:
        f.write(bytes(random.Random(3).getrandbits(8) for _ in range(8192)))

    cases = [
        ("no entry point", os.path.join(JOBS, "bad_no_entry.so"),
         ["is not a Sluice job", "sluice_job_define"]),
        ("missing function", os.path.join(JOBS, "bad_missing_fn.so"),
         ["flat_map", "'no_such_user_function'", "does not export"]),
        ("no output operation", os.path.join(JOBS, "bad_no_output.so"),
         ["no output operation"]),
        ("not a shared object", junk,
         ["cannot load job library", junk, "ELF"]),
        ("sl_fail in the definition", os.path.join(JOBS, "bad_define_fails.so"),
         ["job definition failed", "bad_define_fails: the widget.count setting is missing"]),
    ]
    for what, path, needles in cases:
        check(os.path.exists(path), f"{what}: {path} exists")
        r = c.client("submit", "--start", path, "--name", "bad", "--conf", "source.port=9", check=False)
        err = r.stderr.strip()
        log(f"{what}: exit {r.returncode}: {err}")
        check(r.returncode == 1, f"{what}: refused with exit code 1 (got {r.returncode})")
        missing = [n for n in needles if n not in err]
        check(not missing, f"{what}: stderr names the problem (missing {missing})")
        check("submitted" not in r.stdout, f"{what}: nothing reported as submitted")

    check(jobs_table(c) == {}, "the master lists no job")
    check("submitted from" not in c.master.log_text(), "the master logged no submission")

    r = c.client("submit", "--start", os.path.join(LIB, "socket_wordcount.so"), "--name", "good",
                 "--conf", "source.port=9", check=False)
    check(r.returncode == 0 and "submitted job 'good'" in r.stdout,
          f"a good job is accepted by the same master: {r.stdout}{r.stderr}")
    check(list(jobs_table(c)) == ["good"], "the master lists only the good job")
    c.client("stop", "good")
    c.stop()


if __name__ == "__main__":
    run(test)
