"""Membership: a master and three workers on loopback.

- all three are listed ALIVE by `sluice workers`;
- kill -9 of one worker marks it LOST within the timeout (3 x heartbeat);
- a restarted master lists every worker again, each under its old id.
"""
import time

from harness import Cluster, check, log, run, wait_for


def test():
    c = Cluster("membership", conf={"sluice.heartbeat.interval": "200ms"})
    c.start_master()
    for i in range(3):
        c.start_worker(f"w{i}", extra_conf={"sluice.heartbeat.interval": "200ms"})
    table = c.wait_workers(3)
    check(len(table) == 3, f"three workers listed: {sorted(table)}")
    ids = {name: wait_for(lambda n=name: c.worker_id(n), 5, f"{name} id") for name in c.workers}
    check(sorted(ids.values()) == sorted(table), "ids saved by workers match the listing")

    # kill -9 one worker: LOST within 3 x 200 ms (+ one cron tick and polling slack)
    victim = ids["w1"]
    t0 = time.monotonic()
    c.workers["w1"].kill()
    wait_for(lambda: c.workers_table().get(victim, {}).get("state") == "LOST", 5,
             f"{victim} LOST")
    took = time.monotonic() - t0
    log(f"{victim} marked LOST after {took:.2f}s (timeout 0.6s)")
    check(took < 2.0, f"LOST detected within the timeout plus polling slack ({took:.2f}s)")
    others = c.workers_table()
    check(all(others[ids[n]]["state"] == "ALIVE" for n in ("w0", "w2")), "others still ALIVE")

    # restart the master: the two live workers re-register under their ids
    c.master.stop()
    c.start_master()
    table = c.wait_workers(2, timeout=15)
    alive = sorted(k for k, v in table.items() if v["state"] == "ALIVE")
    check(alive == sorted([ids["w0"], ids["w2"]]), f"re-registered with old ids: {alive}")
    check(table[victim]["state"] == "LOST", "killed worker stays LOST after master restart")

    # the killed worker comes back with its saved id
    c.start_worker("w1", extra_conf={"sluice.heartbeat.interval": "200ms"})
    table = c.wait_workers(3, timeout=15)
    check(sorted(table) == sorted(ids.values()) and len(table) == 3,
          "restarted worker keeps its id; no new id assigned")
    c.stop()


if __name__ == "__main__":
    run(test)
