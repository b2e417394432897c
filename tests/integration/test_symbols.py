"""Job libraries see only the public API (docs/job-api.md).

- sluice-worker and the sluice client export exactly the functions declared
  in include/sluice/ (the linker dynamic list generated from the headers),
  and none of the internal names (log_write, rpc_call, sl_malloc, ...);
- a job library that defines log_write, rpc_call, conf_get_str,
  envelope_pack, blockmgr_put and sl_malloc with its own signatures runs:
  its calls reach its own functions (each word counts 63 per occurrence),
  and the worker, whose own functions of those names keep working, logs no
  error.
"""
import os
import re
import subprocess

from harness import BIN, BUILD, SOURCE, Cluster, check, log, run, saved_totals, wait_for

INTERNAL = ["log_write", "rpc_call", "rpc_server_start", "conf_get_str", "envelope_pack",
            "blockmgr_put", "sl_malloc", "sl_free", "sl_strdup", "auth_key_load",
            "replay_check", "graph_validate"]


def public_functions():
    names = set()
    inc = os.path.join(SOURCE, "include", "sluice")
    for h in os.listdir(inc):
        text = open(os.path.join(inc, h)).read()
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        names |= set(re.findall(r"[^A-Za-z0-9_](sl_[a-z0-9_]+)\s*\(", text))
    return names


def our_globals():
    """Every global symbol defined in our static libraries."""
    names = set()
    static = os.path.join(BUILD, "lib", "static")
    for lib in ("libsluice_common.a", "libsluice_worker_lib.a", "libsluice_master_lib.a"):
        out = subprocess.run(["nm", "-g", "--defined-only", os.path.join(static, lib)],
                             capture_output=True, text=True, check=True).stdout
        names |= {l.split()[-1] for l in out.splitlines() if len(l.split()) == 3}
    check(len(names) > 200, f"{len(names)} globals defined in our libraries")
    return names


def exported(binary):
    out = subprocess.run(["nm", "-D", "--defined-only", binary], capture_output=True,
                         text=True, check=True).stdout
    return {l.split()[-1].split("@")[0] for l in out.splitlines() if l.strip()}


def test():
    api = public_functions()
    check(len(api) >= 30, f"{len(api)} public functions in include/sluice")
    for b in ("sluice-worker", "sluice"):
        syms = exported(os.path.join(BIN, b))
        ours = {s for s in syms if s.startswith("sl_")}
        log(f"{b}: {len(syms)} dynamic symbols, {len(ours)} sl_*")
        check(ours == api, f"{b} exports exactly the public API "
                           f"(extra {sorted(ours - api)}, missing {sorted(api - ours)})")
        leaked = [n for n in INTERNAL if n in syms]
        check(not leaked, f"{b} exports no internal name: {leaked}")
        # nothing else defined in our libraries is exported (the sanitizer
        # build also exports its runtime's interceptors: not ours)
        extra = (syms & our_globals()) - api
        check(not extra, f"{b} exports none of our other globals: {sorted(extra)[:10]}")

    c = Cluster("symbols")
    c.start_master()
    w = c.start_worker("w0")
    c.wait_workers(1)
    prefix = os.path.join(c.dir, "out", "collide")
    c.client("submit", "--start", os.path.join(BUILD, "tests", "jobs", "collide_names.so"),
             "--name", "collide", "--batch-interval", "500ms", "--conf", "gen.rate=200",
             "--conf", f"output.path={prefix}")
    total = wait_for(lambda: (lambda t: t if sum(t[0].values()) > 0 else None)(
        saved_totals(prefix)), 60, "saved word counts")
    counts, _, problems = total
    check(not problems, f"saved output well-formed: {problems[:3]}")
    bad = {k: v for k, v in counts.items() if v % 63 != 0}
    check(not bad, f"every count is a multiple of 63: the job's own functions ran "
                   f"({len(counts)} words, e.g. {list(counts.items())[:3]}, bad {list(bad.items())[:3]})")
    text = w.log_text()
    for badword in ("FAILED", "AddressSanitizer", "runtime error", "Segmentation"):
        check(badword not in text, f"worker log free of {badword!r}")
    c.client("stop", "collide")
    c.stop()


if __name__ == "__main__":
    run(test)
