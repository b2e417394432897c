"""A job author's path, from an installed Sluice to a running job.

`cmake --install` of this build into a temporary prefix; then, using only
that prefix:

- `pkg-config --cflags sluice` (PKG_CONFIG_PATH=PREFIX/share/pkgconfig)
  names PREFIX's include directory, which holds sluice/sluice.h;
- `sluice new-job NAME --dir D` writes NAME.c, Makefile, CMakeLists.txt and
  README.md; a second run on the same directory is refused (nothing is
  overwritten) and a name that is not a C identifier is refused with a
  message naming it;
- the skeleton builds with its Makefile and with its CMakeLists.txt
  (CMAKE_PREFIX_PATH=PREFIX), both producing NAME.so;
- PREFIX/bin/sluice standalone runs the Makefile's NAME.so: every completed
  batch has 600 records and prints exactly apple 200, banana 200, cherry 200,
  even 300 (the skeleton's own generator and filter ran on the workers);
  at least two batches complete.
"""
import os
import re
import shutil
import subprocess
import tempfile

from harness import BUILD, check, fail, log, run

NAME = "myjob"


def sh(argv, env=None, timeout=120, ok=True, cwd=None):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    if ok and r.returncode != 0:
        fail(f"`{' '.join(argv)}` exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def batches(out):
    """{batch ms: (records, {word: count})} from `sluice standalone` output."""
    res, cur = {}, None
    for line in out.splitlines():
        m = re.match(r"batch (\d+)\s+DONE\s+records\s+(\d+)", line)
        if m:
            cur = int(m.group(1))
            res[cur] = (int(m.group(2)), {})
            continue
        m = re.match(r"^\s+(\S+)\t(\d+)$", line)
        if m and cur is not None:
            res[cur][1][m.group(1)] = int(m.group(2))
        elif not line.startswith(" "):
            cur = None
    return res


def test():
    tmp = tempfile.mkdtemp(prefix="sluice-newjob-")
    try:
        prefix = os.path.join(tmp, "prefix")
        sh(["cmake", "--install", BUILD, "--prefix", prefix])
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "share", "pkgconfig"))
        cflags = sh(["pkg-config", "--cflags", "sluice"], env=env).stdout.split()
        inc = [f[2:] for f in cflags if f.startswith("-I")]
        check(len(inc) == 1 and os.path.realpath(inc[0]) == os.path.join(prefix, "include") and
              os.path.isfile(os.path.join(inc[0], "sluice", "sluice.h")),
              f"pkg-config --cflags sluice names the installed headers: {cflags}")

        sluice = os.path.join(prefix, "bin", "sluice")
        d = os.path.join(tmp, "work", NAME)
        os.makedirs(os.path.dirname(d))
        sh([sluice, "new-job", NAME, "--dir", d], env=env)
        files = sorted(os.listdir(d))
        check(files == sorted([f"{NAME}.c", "Makefile", "CMakeLists.txt", "README.md"]),
              f"skeleton files written: {files}")
        r = sh([sluice, "new-job", NAME, "--dir", d], env=env, ok=False)
        check(r.returncode == 1 and "nothing is overwritten" in r.stderr,
              f"an existing directory is refused: {r.stderr.strip()}")
        r = sh([sluice, "new-job", "my-job"], env=env, ok=False, cwd=tmp)
        check(r.returncode == 2 and "bad job name 'my-job'" in r.stderr and
              not os.path.exists(os.path.join(tmp, "my-job")),
              f"a name that is not a C identifier is refused: {r.stderr.strip()}")

        sh(["make", "-C", d], env=env)
        check(os.path.isfile(os.path.join(d, f"{NAME}.so")), "built with its Makefile")
        b = os.path.join(tmp, "cmake-build")
        sh(["cmake", "-S", d, "-B", b, f"-DCMAKE_PREFIX_PATH={prefix}"],
           env=dict(os.environ, PKG_CONFIG_PATH=""))
        sh(["cmake", "--build", b])
        check(os.path.isfile(os.path.join(b, f"{NAME}.so")), "built with its CMakeLists.txt")

        r = sh([sluice, "standalone", os.path.join(d, f"{NAME}.so"), "--workers", "1",
                "--slots", "2", "--batch-interval", "1s", "--duration", "5s"],
               env=env, timeout=90)
        log(r.stdout[-1500:])
        got = batches(r.stdout)
        want = {"apple": 200, "banana": 200, "cherry": 200, "even": 300}
        bad = {t: v for t, v in got.items() if v != (600, want)}
        check(len(got) >= 2, f"{len(got)} batches completed")
        check(not bad, f"every batch: 600 records, exactly {want} (wrong: {bad})")
    finally:
        if os.environ.get("SLUICE_KEEP"):
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run(test)
