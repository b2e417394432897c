"""Bad command lines and configurations (SPEC §11, issue 13): every one of
sluice-master, sluice-worker and the sluice client answers each with exit
code 2 and a message naming the problem, at once, and, in the sanitizer
build, with no LeakSanitizer or other sanitizer report (which would turn
exit 2 into exit 1). Impossible ports and URLs (port 99999, a bad scheme, a
missing port, plain tcp:// to another host) are refused before anything is
created or dialled. No process is left running: none of these starts.
"""
import os
import subprocess
import tempfile

from harness import BIN, check, log, run

LIB = os.path.join(os.environ.get("SLUICE_BUILD", "build"), "lib", "generator_wordcount.so")


def cases(tmp):
    bad_props = os.path.join(tmp, "bad.properties")
    with open(bad_props, "w") as f:
        f.write("sluice.rpc.timeout = soon\n")
    unknown_props = os.path.join(tmp, "unknown.properties")
    with open(unknown_props, "w") as f:
        f.write("no.such.key=1\n")
    st = os.path.join(tmp, "state")
    wd = os.path.join(tmp, "work")
    M, W, C = "sluice-master", "sluice-worker", "sluice"
    mw = ["--master", "tcp://127.0.0.1:7077", "--work-dir", wd]
    return [
        # the master
        (M, ["--bogus"], "unknown or incomplete option"),
        (M, ["--port"], "unknown or incomplete option"),
        (M, ["--port", "99999"], "between 0 and 65535"),
        (M, ["--port", "-1"], "between 0 and 65535"),
        (M, ["--port", "http"], "sluice.master.port"),
        (M, ["--state-dir", st, "--url", "foo://127.0.0.1:1"], "unsupported URL"),
        (M, ["--state-dir", st, "--url", "http://127.0.0.1:80"], "unsupported URL"),
        (M, ["--state-dir", st, "--url", "tcp://127.0.0.1:99999"], "port"),
        (M, ["--state-dir", st, "--url", "tcp://127.0.0.1:-5"], "port"),
        (M, ["--state-dir", st, "--url", "tcp://127.0.0.1"], "port"),
        (M, ["--state-dir", st, "--url", "tcp://127.0.0.1:77x"], "port"),
        (M, ["--state-dir", st, "--url", "tcp://10.1.2.3:7077"], "non-loopback"),
        (M, ["--state-dir", st, "--url", "tls+tcp://127.0.0.1:7077"], "sluice.tls.cert"),
        (M, ["--url"], "unknown or incomplete option"),
        (M, ["--conf", "nokey"], "expected key=value"),
        (M, ["--conf"], "needs a value"),
        (M, ["--conf", "sluice.rpc.timeout=abc"], "sluice.rpc.timeout"),
        (M, ["--conf", "no.such.key=1"], "no.such.key"),
        (M, ["--conf", "sluice.log.level=loud"], "sluice.log.level"),
        (M, ["--conf", "sluice.master.port=70000"], "between 0 and 65535"),
        (M, ["--conf", "sluice.rpc.maxMessageSize=-5"], "sluice.rpc.maxMessageSize"),
        (M, ["--properties-file", os.path.join(tmp, "missing.properties")], "missing.properties"),
        (M, ["--properties-file", bad_props], "sluice.rpc.timeout"),
        (M, ["--properties-file", unknown_props], "no.such.key"),
        (M, ["--conf=sluice.heartbeat.interval=never"], "sluice.heartbeat.interval"),
        (M, ["--host"], "unknown or incomplete option"),
        (M, ["extra-argument"], "unknown or incomplete option"),
        # the worker
        (W, ["--conf", "sluice.master.url=tcp://127.0.0.1:123456"], "port"),
        (W, ["--bogus"], "unknown or incomplete option"),
        (W, ["--slots", "0"] + mw, "sluice.worker.slots"),
        (W, ["--slots", "many"] + mw, "sluice.worker.slots"),
        (W, ["--memory", "lots"] + mw, "sluice.worker.memory"),
        (W, ["--port", "99999"] + mw, "between 0 and 65535"),
        (W, ["--master", "tcp://127.0.0.1:99999", "--work-dir", wd], "port"),
        (W, ["--master", "foo://127.0.0.1:7077", "--work-dir", wd], "unsupported URL"),
        (W, ["--master", "tcp://127.0.0.1", "--work-dir", wd], "port"),
        (W, ["--master", "tcp://10.1.2.3:7077", "--work-dir", wd], "non-loopback"),
        (W, ["--url", "tcp://127.0.0.1:99999"] + mw, "port"),
        (W, ["--url", "udp://127.0.0.1:1"] + mw, "unsupported URL"),
        (W, ["--conf", "nokey"] + mw, "expected key=value"),
        (W, ["--conf", "sluice.worker.slots=-2"] + mw, "sluice.worker.slots"),
        (W, ["--properties-file", bad_props] + mw, "sluice.rpc.timeout"),
        (W, ["--properties-file", os.path.join(tmp, "nope")] + mw, "nope"),
        (W, ["--master"], "unknown or incomplete option"),
        (W, ["--work-dir"], "unknown or incomplete option"),
        # the client
        (C, [], "usage"),
        (C, ["--bogus"], "unknown or incomplete option"),
        (C, ["--master"], "unknown or incomplete option"),
        (C, ["--secret-file"], "unknown or incomplete option"),
        (C, ["no-such-command"], "unknown command"),
        (C, ["--master", "tcp://127.0.0.1:99999", "workers"], "port"),
        (C, ["--master", "http://127.0.0.1:7077", "workers"], "unsupported URL"),
        (C, ["--master", "tcp://127.0.0.1", "jobs"], "port"),
        (C, ["--master", "tcp://10.1.2.3:7077", "jobs"], "non-loopback"),
        (C, ["--conf", "nokey", "workers"], "expected key=value"),
        (C, ["--conf", "sluice.rpc.timeout=later", "workers"], "sluice.rpc.timeout"),
        (C, ["--master", "tcp://127.0.0.1:1", "submit"], "required"),
        (C, ["--master", "tcp://127.0.0.1:1", "submit", LIB], "required"),
        (C, ["--master", "tcp://127.0.0.1:1", "submit", LIB, "--name", "x",
             "--batch-interval", "soon"], "batch-interval"),
        (C, ["--master", "tcp://127.0.0.1:1", "submit", LIB, "--name", "x", "--bogus"],
         "unknown or incomplete option"),
        (C, ["--master", "tcp://127.0.0.1:1", "submit", LIB, "--name", "x", "--conf", "k"],
         "expected key=value"),
        (C, ["--master", "tcp://127.0.0.1:1", "stop"], "exactly one job"),
        (C, ["--master", "tcp://127.0.0.1:1", "stop", "a", "b"], "exactly one job"),
        (C, ["--master", "tcp://127.0.0.1:1", "jobs", "extra"], "unexpected argument"),
        (C, ["--master", "tcp://127.0.0.1:1", "monitor"], "job name or id is required"),
        (C, ["--master", "tcp://127.0.0.1:1", "monitor", "j", "--duration", "x"], "--duration"),
        (C, ["--master", "tcp://127.0.0.1:1", "workers", "extra"], "unexpected argument"),
        (C, ["standalone"], "JOB.so"),
        (C, ["standalone", LIB, "--workers", "0"], "workers"),
        (C, ["standalone", LIB, "--bogus"], "bogus"),
    ]


def test():
    tmp = tempfile.mkdtemp(prefix="sluice-badcmd-")
    secret = os.path.join(tmp, "secret")
    with open(os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write("bad-cmdline-test-secret\n")
    env = dict(os.environ)
    env["SLUICE_SECRET_FILE"] = secret
    env.pop("SLUICE_MASTER", None)
    env["ASAN_OPTIONS"] = "detect_leaks=1"
    all_cases = cases(tmp)
    check(len(all_cases) >= 60, f"{len(all_cases)} cases")
    failures = []
    for binary, args, want in all_cases:
        r = subprocess.run([os.path.join(BIN, binary)] + args, capture_output=True,
                           text=True, env=env, timeout=60, cwd=tmp)
        out = r.stdout + r.stderr
        first = next((l for l in r.stderr.splitlines() if l.strip()), "")
        log(f"{binary} {' '.join(args)[:70]} -> exit {r.returncode}: {first[:150]}")
        problems = []
        if r.returncode != 2:
            problems.append(f"exit {r.returncode}")
        if want not in out:
            problems.append(f"no {want!r} in the message")
        for bad in ("LeakSanitizer", "AddressSanitizer", "runtime error"):
            if bad in out:
                problems.append(bad)
        if problems:
            failures.append(f"{binary} {args}: {', '.join(problems)}: {out[-400:]}")
    created = [n for n in os.listdir(tmp) if n not in ("secret", "bad.properties",
                                                       "unknown.properties")]
    check(not created, f"nothing created by refused command lines: {created}")
    for f in failures:
        log("FAILED CASE: " + f)
    check(not failures, f"{len(all_cases) - len(failures)} of {len(all_cases)} cases "
                        "exit 2 with the message and no sanitizer report")


if __name__ == "__main__":
    run(test)
