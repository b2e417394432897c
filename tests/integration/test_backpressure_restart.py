"""A restarted master keeps the rate it had (SPEC §6, §7): the rate
controller's state is part of the job's checkpoint.

slow_wordcount (about 1000 / LINE_MS lines/s on one slot) is fed three times
faster than it can process, with backpressure on and a low initialRate
(INITIAL), so the published rate climbs well above INITIAL. The master is
then killed with SIGKILL and restarted on the same state directory:

- its log says the job resumes at the rate it had: one of the last two
  rates the killed master published (the last one may not have been
  checkpointed yet), and `sluice monitor` shows it before any new estimate;
- the first batches generated after the restart take far more than
  INITIAL lines each: the receivers and the planner went on at the old
  rate, not from initialRate.
"""
import os
import re

from bp_common import PacedSource, monitor
from harness import BUILD, Cluster, check, log, run, wait_for

LINE_MS = 4
FEED = 750
# Far below the job's rate (about 0.85 x 240/s): the first batches after
# the restart carry the integral term's dip for the downtime's scheduling
# delay (118 records in one under the sanitizer build), still many times
# INITIAL, which is what shows the rate was kept
INITIAL = 20
# the rate used (targetUtilization x the estimate), then the estimate
PUB_RE = re.compile(r"job bp: node \d+ rate ([\d.]+) records/s \(estimate [\d.]+\) after batch")
RESUME_RE = re.compile(r"job bp: node \d+ resumes at rate ([\d.]+) records/s \(estimate")


def test():
    lib = os.path.join(BUILD, "tests", "jobs2", "slow_wordcount.so")
    c = Cluster("bp-restart", conf={"sluice.heartbeat.interval": "200ms"})
    c.start_master()
    c.start_worker("w1", slots=1)
    c.wait_workers(1)
    src = PacedSource(FEED, 120)
    out = os.path.join(c.dir, "out", "counts")
    c.client("submit", "--start", lib, "--name", "bp", "--batch-interval", "1s",
             "--conf", f"source.port={src.port}", "--conf", f"output.path={out}",
             "--conf", f"slow.line_ms={LINE_MS}", "--conf", "reduce.partitions=1",
             "--conf", "spark.streaming.concurrentJobs=1",
             "--conf", "spark.streaming.backpressure.enabled=true",
             "--conf", f"spark.streaming.backpressure.initialRate={INITIAL}")
    batches, rate, _, _ = wait_for(
        lambda: (lambda r: r if r[1] is not None and r[1] > 4 * INITIAL and len(r[0]) >= 6
                 else None)(monitor(c, "bp")), 60, f"a published rate above {4 * INITIAL}")
    killed_after = batches[-1]["time"]
    log(f"rate before the kill: {rate} records/s (last batch {killed_after})")
    c.master.kill()
    c.master.p.wait()
    before = len(c.master.log_text())
    c.start_master()
    resumed = wait_for(lambda: RESUME_RE.search(c.master.log_text()[before:]), 20,
                       "the job to resume with its rate")
    got = float(resumed.group(1))
    pub = [float(x) for x in PUB_RE.findall(c.master.log_text()[:before])]
    check(got > 4 * INITIAL and any(abs(got - r) < 0.05 for r in pub[-2:]),
          f"restarted master resumes at {got}: one of the last rates it published "
          f"before the kill {pub[-2:]}, not {INITIAL}")
    _, shown, _, _ = monitor(c, "bp")
    log(f"monitor after the restart shows rate {shown}")
    check(shown is not None and shown > 4 * INITIAL,
          f"monitor shows the old rate after the restart ({shown}), not {INITIAL}")
    after = wait_for(lambda: (lambda b: b if len(b) >= 3 else None)(
        [b for b in monitor(c, "bp")[0] if b["time"] > killed_after + 1000]), 60,
        "3 batches after the restart")
    log(f"batches after the restart: {[(b['time'], b['records']) for b in after]}")
    check(all(b["records"] > 3 * INITIAL for b in after[1:3]),
          f"batches after the restart take more than 3 x initialRate ({INITIAL}): "
          f"{[b['records'] for b in after]}")
    src.stop()
    c.client("stop", "bp")
    c.stop()


if __name__ == "__main__":
    run(test)
