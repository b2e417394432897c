"""Roles (docs/security.md): separate credentials for workers and clients.

The master writes worker.secret, operator.token and reader.token (mode 0600)
next to its secret on first start. Checked here, against a real master:

- a worker given only worker.secret registers; a client given only
  operator.token submits and stops a job; one given reader.token lists
  workers and jobs but cannot submit or stop;
- the wrong credential for the role is refused at once by the process
  holding it (a client with the worker secret, a worker with a client token);
- forged on the wire (sluice-wire-probe --sign-as): a client credential
  registering as a worker, and the worker credential submitting or stopping a
  job, are refused by the master, each refusal logged with the credential's
  role and the message type.
"""
import os
import stat
import subprocess

from harness import BIN, LIB, Cluster, check, jobs_table, log, run, wait_for

PROBE = os.path.join(BIN, "sluice-wire-probe")


def with_cred(c, path):
    env = dict(c.env)
    env["SLUICE_SECRET_FILE"] = path
    return env


def client(c, cred, *args):
    r = subprocess.run([os.path.join(BIN, "sluice"), "--master", c.url] + list(args),
                       capture_output=True, text=True, env=with_cred(c, cred), timeout=60)
    out = (r.stdout + r.stderr).strip()
    log(f"sluice {' '.join(args)} with {os.path.basename(cred)}: exit {r.returncode}: "
        f"{out[:300]}")
    return r.returncode, out


def refusals(c, what):
    return [l for l in c.master.log_text().splitlines()
            if "refused message from" in l and what in l]


def probe_refused(c, cred, mode, sign_as, type_name, cred_name):
    before = len(refusals(c, type_name))
    r = subprocess.run([PROBE, c.url, mode, "--secret-file", cred, "--sign-as", sign_as],
                       capture_output=True, text=True, env=c.env, timeout=60)
    out = (r.stdout + r.stderr).strip()
    log(f"probe {mode} signed as {sign_as}: exit {r.returncode}: {out}")
    check(r.returncode == 0 and "reply: MSG_ERROR SL_EAUTH" in out,
          f"{mode} with the {cred_name}: refused")
    lines = wait_for(lambda: refusals(c, type_name)[before:] or None, 5,
                     f"the master to log the refused {type_name}")
    check(len(lines) == 1 and f"signed with the {cred_name}" in lines[0] and
          "(role " in lines[0], f"refusal logged with role and type: {lines}")


def test():
    c = Cluster("roles")
    c.start_master()
    creds = {n: os.path.join(c.state, n)
             for n in ("worker.secret", "operator.token", "reader.token")}
    for name, path in creds.items():
        mode = stat.S_IMODE(os.stat(path).st_mode)
        check(mode == 0o600, f"{name} written with mode 0600 ({oct(mode)})")

    # each credential does its own job
    c.env["SLUICE_SECRET_FILE"] = creds["worker.secret"]
    c.start_worker("w1")
    c.env["SLUICE_SECRET_FILE"] = os.path.join(c.state, "secret")
    c.wait_workers(1)
    rc, out = client(c, creds["operator.token"], "submit", "--start",
                     os.path.join(LIB, "generator_wordcount.so"), "--name", "gen",
                     "--batch-interval", "1s", "--conf", "gen.rate=100")
    check(rc == 0, "operator token submits a job")
    rc, out = client(c, creds["reader.token"], "workers")
    check(rc == 0 and "ALIVE" in out, "reader token lists the workers")
    rc, out = client(c, creds["reader.token"], "jobs")
    check(rc == 0 and "gen" in out, "reader token lists the jobs")
    rc, out = client(c, creds["reader.token"], "stop", "gen")
    check(rc != 0 and "reader token" in out and "MSG_JOB_CONTROL" in out,
          "reader token cannot stop a job")
    check(any("reader token" in l for l in refusals(c, "MSG_JOB_CONTROL")),
          "the master logged the reader's stop")
    rc, out = client(c, creds["reader.token"], "run-config", "gen")
    check(rc == 0 and "mode cluster" in out, "reader token reads the run configuration")
    rc, out = client(c, creds["reader.token"], "run-config", "gen", "set",
                     "spark.streaming.receiver.maxRate=5")
    check(rc == 1 and "reader credential cannot change state" in out,
          f"reader token cannot change it (MSG_API_CALL): {out}")
    check(any("refused POST /api/v1/jobs/gen/run-config" in l
              for l in c.master.log_text().splitlines()), "the master logged it")
    rc, out = client(c, creds["reader.token"], "submit",
                     os.path.join(LIB, "generator_wordcount.so"), "--name", "gen2")
    check(rc != 0 and "MSG_SUBMIT_JOB" in out, "reader token cannot submit a job")
    check(list(jobs_table(c)) == ["gen"], "no job submitted by the reader")

    # the wrong credential for a role is refused by the process holding it
    rc, out = client(c, creds["worker.secret"], "workers")
    check(rc != 0 and "cannot act as 'client'" in out,
          "the client refuses to run with the worker secret")
    c.env["SLUICE_SECRET_FILE"] = creds["operator.token"]
    bad = c.start_worker("w2")
    c.env["SLUICE_SECRET_FILE"] = os.path.join(c.state, "secret")
    wait_for(lambda: not bad.alive(), 15, "the worker with a client token to stop")
    check("cannot act as 'worker'" in bad.log_text(),
          f"the worker says why: {bad.log_text()[-300:]}")
    c.workers.pop("w2")

    # forged on the wire: each refused by the master, logged with role and type
    probe_refused(c, creds["operator.token"], "as-register", "operator",
                  "MSG_REGISTER_WORKER", "operator token")
    probe_refused(c, creds["reader.token"], "as-register", "reader",
                  "MSG_REGISTER_WORKER", "reader token")
    probe_refused(c, creds["worker.secret"], "as-submit", "worker", "MSG_SUBMIT_JOB",
                  "worker secret")
    probe_refused(c, creds["worker.secret"], "as-stop", "worker", "MSG_JOB_CONTROL",
                  "worker secret")
    check(len(c.workers_table()) == 1, "still one worker")
    check(jobs_table(c).get("gen", {}).get("state") == "RUNNING", "the job still runs")

    rc, out = client(c, creds["operator.token"], "stop", "gen")
    check(rc == 0, "operator token stops the job")
    c.stop()


if __name__ == "__main__":
    run(test)
