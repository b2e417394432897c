"""Log injection (docs/security.md): strings from outside reach log lines
escaped, one line per event.

A job library whose file name holds a newline, a forged log line and
terminal escape codes is submitted; a job name and a configuration value
with the same are sent to the master and to a worker's command line. Every
log line stays one line, no raw control character reaches any log, and the
strings appear with \\xNN escapes.
"""
import os
import re
import shutil
import subprocess

from harness import BIN, LIB, Cluster, check, log, run, wait_for

FORGED = "\n2026-01-01T00:00:00.000Z WARN  [master] FORGED: worker worker-1 LOST\x1b[2J\x1b]0;t\x07"
SHORT, SHORT_ESCAPED = "\n\x1b[2JFORGED", "\\x0a\\x1b[2JFORGED"
ESCAPED = "\\x0a2026-01-01T00:00:00.000Z WARN  [master] FORGED: worker worker-1 LOST" \
          "\\x1b[2J\\x1b]0;t\\x07"


def raw_controls(text):
    return sorted({hex(ord(ch)) for ch in text if (ord(ch) < 0x20 and ch != "\n")
                   or ord(ch) == 0x7f})


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


def log_lines(text):
    """The log lines of a process' output: its stdout also carries print()
    batch output (job data, "key<TAB>value" by design), which is not log."""
    return "\n".join(l for l in text.splitlines() if LOG_LINE.match(l))


def forged_lines(text):
    return [l for l in text.splitlines() if l.startswith("2026-01-01T00:00:00.000Z")]


def test():
    c = Cluster("loginject")
    c.start_master()
    c.start_worker("w0")
    c.wait_workers(1)

    # a library file name with a newline and escapes: accepted, logged escaped
    lib = os.path.join(c.dir, "lib" + FORGED + ".so")
    shutil.copy(os.path.join(LIB, "generator_wordcount.so"), lib)
    c.client("submit", "--start", lib, "--name", "gen", "--batch-interval", "1s",
             "--conf", "gen.rate=100")
    lines = wait_for(lambda: [l for l in c.master.log_text().splitlines()
                              if "job gen (id" in l and "submitted" in l] or None,
                     10, "the submission to be logged")
    check(len(lines) == 1 and ESCAPED in lines[0],
          f"library name logged escaped on the submission line: {lines}")

    # a job name with the same: refused, and the refusal logged escaped
    r = c.client("submit", "--start", os.path.join(LIB, "generator_wordcount.so"), "--name",
                 "job" + FORGED, check=False)
    log(f"bad job name: exit {r.returncode}: {(r.stdout + r.stderr).strip()[:300]}")
    check(r.returncode != 0, "job name with control characters refused")
    check(raw_controls(r.stderr) == [] and r.stderr.count("\n") <= 1,
          f"the client's error is one escaped line: {r.stderr!r}")
    lines = wait_for(lambda: [l for l in c.master.log_text().splitlines()
                              if "refused job submission" in l and "job name" in l] or None,
                     10, "the refusal to be logged")
    check(len(lines) == 1 and "job" + ESCAPED in lines[0],
          f"job name logged escaped: {lines}")

    # a configuration value with the same, on a worker's command line and in
    # a submitted job's configuration
    wlog = os.path.join(c.dir, "bad-worker.log")
    with open(wlog, "w") as f:
        r = subprocess.run([os.path.join(BIN, "sluice-worker"), "--master", c.url,
                            "--work-dir", os.path.join(c.dir, "bw"),
                            "--conf", "sluice.worker.slots=4" + SHORT],
                           stdout=f, stderr=subprocess.STDOUT, env=c.env, timeout=60)
    text = open(wlog, errors="replace").read()
    log(f"worker with a bad value: exit {r.returncode}: {text.strip()[:300]}")
    check(r.returncode == 2, "bad configuration value: usage error")
    err = [l for l in text.splitlines() if "sluice.worker.slots:" in l]
    check(len(err) == 1 and SHORT_ESCAPED in err[0] and "FORGED" not in text.replace(err[0], ""),
          "the worker's error is one line with the value escaped")
    check(raw_controls(text) == [], "no raw control character in the worker's output")
    r = c.client("submit", "--start", os.path.join(LIB, "generator_wordcount.so"), "--name", "gen3",
                 "--conf", "spark.streaming.receiver.maxRate=5" + SHORT, check=False)
    out = r.stdout + r.stderr
    log(f"job conf with a bad value: exit {r.returncode}: {out.strip()[:300]}")
    check(r.returncode != 0 and raw_controls(out) == [] and SHORT_ESCAPED in out,
          "a bad job configuration value is refused, shown escaped")

    for p in [c.master] + list(c.workers.values()):
        text = p.log_text()
        check(raw_controls(log_lines(text)) == [],
              f"{p.name} log has no raw control character")
        check(forged_lines(text) == [], f"{p.name} log has no forged line")
    c.client("stop", "gen")
    c.stop()


if __name__ == "__main__":
    run(test)
