"""Replay protection (docs/protocol.md): a valid frame is accepted once.

Real frames of real processes are captured on the wire by an SP-level proxy
(sp_capture.py) between them and the master: the worker's REGISTER_WORKER,
the client's SUBMIT_JOB and its JOB_CONTROL (stop). Each is sent again, byte
for byte, over a new connection, well within the 5-minute timestamp window:
the master refuses each one with SL_EAUTH "replayed", logs a refusal naming
the message type, and its state does not change (one job, one worker).
A MSG_LAUNCH_TASK signed as the master (sluice-wire-probe replay-launch) is
replayed to a worker the same way. A restarted master refuses frames
captured before it started.
"""
import os
import subprocess

from harness import BIN, LIB, Cluster, check, jobs_table, log, run, wait_for
from sp_capture import Capture, error_message, replay

MSG_ERROR, MSG_REGISTER_WORKER, MSG_SUBMIT_JOB, MSG_JOB_CONTROL = 1, 10, 30, 34
SL_EAUTH, SL_ESTALE = -8, -24


def refusals(proc, what):
    return [l for l in proc.log_text().splitlines()
            if "refused message from" in l and what in l]


def check_replay_refused(c, proc, port, msg, name):
    before = len(refusals(proc, name))
    fields = replay(port, msg)
    check(fields.get(2) == MSG_ERROR, f"replayed {name}: answered MSG_ERROR ({fields.get(2)})")
    code, text = error_message(fields)
    log(f"replayed {name}: {code} {text}")
    check(code == SL_EAUTH and "replayed" in text, f"replayed {name}: refused as a replay")
    lines = wait_for(lambda: refusals(proc, name)[before:] or None, 5,
                     f"the refused replay of {name} to be logged")
    check(len(lines) == 1 and "replayed" in lines[0] and "127.0.0.1:" in lines[0],
          f"one refusal of {name} logged with the peer: {lines}")


def test():
    c = Cluster("replay")
    c.start_master()
    cap = Capture(c.port)
    master_url = c.url
    # the worker and the client talk to the master through the capture proxy
    w = c.start_worker("w0", extra_args=["--master", cap.url])
    c.wait_workers(1)
    c.port = cap.port
    c.client("submit", "--start", os.path.join(LIB, "generator_wordcount.so"), "--name", "gen",
             "--batch-interval", "1s", "--conf", "gen.rate=100")
    wait_for(lambda: jobs_table(c).get("gen", {}).get("state") == "RUNNING", 30,
             "the job to run")
    c.client("stop", "gen")
    c.port = int(master_url.rsplit(":", 1)[1])

    captured = {}
    for t, name in ((MSG_REGISTER_WORKER, "MSG_REGISTER_WORKER"),
                    (MSG_SUBMIT_JOB, "MSG_SUBMIT_JOB"), (MSG_JOB_CONTROL, "MSG_JOB_CONTROL")):
        msgs = cap.of_type(t)
        check(len(msgs) >= 1, f"a {name} frame captured on the wire")
        captured[name] = msgs[0]
        check_replay_refused(c, c.master, c.port, msgs[0], name)
    jobs = jobs_table(c)
    check(list(jobs) == ["gen"], f"still one job: {jobs}")
    job_id = jobs["gen"]["id"]
    check(len(c.workers_table()) == 1, "still one worker")

    # a launch-task frame, sent twice to the worker
    waddr = next(iter(c.workers_table().values()))["address"]
    before = len(refusals(w, "MSG_LAUNCH_TASK"))
    r = subprocess.run([os.path.join(BIN, "sluice-wire-probe"), waddr, "replay-launch"],
                       capture_output=True, text=True, env=c.env, timeout=60)
    log(f"replay-launch: {r.returncode}: {r.stdout.strip()} {r.stderr.strip()}")
    check(r.returncode == 0 and "reply: MSG_ERROR SL_EAUTH" in r.stdout
          and "replayed" in r.stdout, "replayed MSG_LAUNCH_TASK refused by the worker")
    lines = wait_for(lambda: refusals(w, "MSG_LAUNCH_TASK")[before:] or None, 5,
                     "the worker to log the replay")
    check(len(lines) == 1 and "replayed" in lines[0], f"worker logged it: {lines}")

    # a restarted master has forgotten what it saw: it refuses every frame
    # stamped before it started
    c.master.stop()
    c.start_master()
    fields = replay(c.port, captured["MSG_SUBMIT_JOB"])
    code, text = error_message(fields)
    log(f"after restart: {code} {text}")
    check(fields.get(2) == MSG_ERROR and code == SL_ESTALE and "before" in text,
          "after a restart, a frame from before the restart is refused")
    c.client("jobs")  # answers (so the table below is real)
    jobs = jobs_table(c)
    check(all(j["id"] == job_id for j in jobs.values()),
          f"no job created after the restart: {jobs}")
    for p in (c.master, w):
        for bad in ("AddressSanitizer", "runtime error"):
            check(bad not in p.log_text(), f"{p.name} log free of {bad!r}")
    cap.close()
    c.stop()


if __name__ == "__main__":
    run(test)
