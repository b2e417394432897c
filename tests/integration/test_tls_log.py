"""Failed TLS handshakes are logged by the listener (docs/security.md).

A master listens on tls+tcp:// on loopback with certificates from
scripts/gen-certs.sh. A client with a valid certificate works; clients whose
certificate comes from an untrusted CA, and a plain (non-TLS) SP peer, fail,
and for each the master logs a "refused TLS connection" line naming its
listener URL and the reason. (nng 1.5.2 drops the connection inside its TLS
transport and does not report the peer's address: the line says so.)
"""
import os
import shutil
import subprocess

from harness import BIN, SOURCE, Cluster, Proc, check, fail, free_port, log, run, wait_for


def tls_lines(c):
    return [l for l in c.master.log_text().splitlines() if "refused TLS connection" in l]


def test():
    if shutil.which("openssl") is None:
        fail("test_tls_log needs openssl for scripts/gen-certs.sh")
    c = Cluster("tlslog")
    certs = os.path.join(c.dir, "certs")
    gen = os.path.join(SOURCE, "scripts", "gen-certs.sh")
    for extra in ([], ["--untrusted"]):
        r = subprocess.run(["bash", gen] + extra + [certs, "master:127.0.0.1", "client"],
                           capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, f"gen-certs.sh {extra}: {r.stderr[-300:]}")

    def tls_conf(name, untrusted=False):
        d = os.path.join(certs, "untrusted") if untrusted else certs
        return {"sluice.tls.cert": os.path.join(d, f"{name}.pem"),
                "sluice.tls.key": os.path.join(d, f"{name}.key"),
                "sluice.tls.ca": os.path.join(certs, "ca.pem")}

    c.port = free_port()
    url = f"tls+tcp://127.0.0.1:{c.port}"
    argv = [os.path.join(BIN, "sluice-master"), "--state-dir", c.state, "--url", url]
    for k, v in tls_conf("master").items():
        argv += ["--conf", f"{k}={v}"]
    c.master = Proc("master", argv, os.path.join(c.dir, "master.log"), env=c.env)

    def client(conf, *args):
        a = [os.path.join(BIN, "sluice"), "--master", url]
        for k, v in conf.items():
            a += ["--conf", f"{k}={v}"]
        a += ["--conf", "sluice.rpc.timeout=3s"] + list(args)
        return subprocess.run(a, capture_output=True, text=True, env=c.env, timeout=60)

    wait_for(lambda: client(tls_conf("client"), "workers").returncode == 0, 20,
             "the master to answer a client with a valid certificate")
    check(tls_lines(c) == [], f"no refused TLS connection logged yet: {tls_lines(c)}")

    r = client(tls_conf("client", untrusted=True), "workers")
    log(f"untrusted client: exit {r.returncode}: {r.stderr.strip()[:200]}")
    check(r.returncode != 0, "a client with an untrusted certificate is refused")
    check("TLS handshake failed" in r.stderr, "the client says the handshake failed")
    lines = wait_for(lambda: tls_lines(c) or None, 10, "the master to log the handshake")
    log(f"logged: {lines}")
    check(url in lines[0] and "failed handshake" in lines[0] and "TLS" in lines[0],
          "the line names the listener and the reason")
    check(c.master.alive(), "the master still runs")
    r = client(tls_conf("client"), "workers")
    check(r.returncode == 0, "a valid client still works afterwards")
    c.stop()


if __name__ == "__main__":
    run(test)
