#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_envelope into tests/fuzz/corpus/envelope/.

Stdlib only: protobuf is encoded by hand and the MAC follows the canonical
encoding documented in common/envelope.c, keyed with fuzz_envelope's fixed
key. Seeds are valid frames (their timestamps are stale by the time the
fuzzer runs, so they exercise everything up to the timestamp check), raw
payloads of each schema, and inputs in the "fields" layout of fuzz_envelope
(type u32 LE, sender selector byte, payload) that become validly signed
frames. The output is deterministic; rerun after a schema change and commit
the files.

  python3 tests/fuzz/make_corpus.py
"""
import hashlib
import hmac
import os
import struct

KEY = b"sluice-fuzz-key"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "envelope")
TS = 1700000000000  # fixed, so the seeds do not change between runs

# common/msgtypes.h
MSG = {"ERROR": 1, "PING": 2, "PONG": 3, "REGISTER_WORKER": 10, "REGISTER_WORKER_REPLY": 11,
       "HEARTBEAT": 12, "HEARTBEAT_REPLY": 13, "LIST_WORKERS": 20, "LIST_WORKERS_REPLY": 21}
# index into fuzz_envelope.c's senders[]
SENDER = {"master": 0, "worker-1": 1, "client": 3, "nobody": 6}


def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(n, v):
    return varint(n << 3) + varint(v) if v else b""


def f_bytes(n, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(n << 3 | 2) + varint(len(b)) + b if b else b""


def f_double(n, d):
    return varint(n << 3 | 1) + struct.pack("<d", d) if d else b""


def cred_key(root, sender):
    """The credential key a sender name signs with (common/auth.c)."""
    label = b"operator" if sender.startswith("client") else b"worker"
    return hmac.new(root, b"sluice-cred:" + label, hashlib.sha256).digest()


def envelope(type_, rid, sender, payload, version=1, ts=TS, key=KEY):
    mac = hmac.new(cred_key(key, sender), b"SLUICE-MAC1" + struct.pack("<IIQqI", version, type_, rid, ts,
                                                     len(sender)) + sender.encode() + payload,
                   hashlib.sha256).digest()
    return (f_varint(1, version) + f_varint(2, type_) + f_varint(3, rid) + f_bytes(4, sender) +
            f_varint(5, ts) + f_bytes(6, payload) + f_bytes(7, mac))


def register_worker(wid=""):
    return (f_bytes(1, wid) + f_bytes(2, "127.0.0.1") + f_bytes(3, "tcp://127.0.0.1:40001") +
            f_varint(4, 8081) + f_varint(5, 4) + f_varint(6, 1 << 30) + f_varint(7, 4242))


def heartbeat():
    return (f_bytes(1, "worker-1") + f_varint(2, 1) + f_varint(3, 12345678) +
            f_varint(4, 99999999) + f_double(5, 0.75) + f_varint(6, 12))


def worker_info(i, state):
    return (f_bytes(1, f"worker-{i}") + f_bytes(2, "127.0.0.1") +
            f_bytes(3, f"tcp://127.0.0.1:{40000 + i}") + f_varint(4, 2) +
            f_varint(5, 256 << 20) + f_bytes(6, state) + f_varint(7, TS) + f_varint(8, 1) +
            f_varint(9, 1 << 20))


def list_reply():
    return f_bytes(1, worker_info(1, "ALIVE")) + f_bytes(1, worker_info(2, "LOST"))


def error_reply(code, msg):
    return f_varint(1, code) + f_bytes(2, msg)  # negative int32: 10-byte varint


def fields(type_, sender, payload):
    # the selector's high nibble picks the credential: 0 worker, 1 operator
    cred = 1 if sender.startswith("client") else 0
    return struct.pack("<I", type_) + bytes([SENDER[sender] | cred << 4]) + payload


SEEDS = {
    # whole frames
    "frame-ping": envelope(MSG["PING"], 1, "client", b""),
    "frame-register": envelope(MSG["REGISTER_WORKER"], 2, "worker", register_worker()),
    "frame-register-reply": envelope(MSG["REGISTER_WORKER_REPLY"], 2, "master",
                                     f_bytes(1, "worker-1") + f_varint(2, 1000)),
    "frame-heartbeat": envelope(MSG["HEARTBEAT"], 3, "worker-1", heartbeat()),
    "frame-heartbeat-reply": envelope(MSG["HEARTBEAT_REPLY"], 3, "master", f_varint(1, 1)),
    "frame-list-reply": envelope(MSG["LIST_WORKERS_REPLY"], 4, "master", list_reply()),
    "frame-error": envelope(MSG["ERROR"], 5, "master",
                            error_reply(-7, "protocol version mismatch: peer speaks version "
                                            "99, this process speaks version 1")),
    "frame-pong": envelope(MSG["PONG"], 6, "worker-1", f_bytes(1, "worker") + f_varint(2, 1)),
    "frame-unknown-type": envelope(999, 7, "client", b"?"),
    "frame-bad-version": envelope(MSG["PING"], 8, "client", b"", version=99),
    "frame-wrong-key": envelope(MSG["PING"], 9, "client", b"", key=b"other"),
    # raw payloads
    "raw-register": register_worker("worker-3"),
    "raw-heartbeat": heartbeat(),
    "raw-list-reply": list_reply(),
    "raw-error": error_reply(-8, "authentication failed"),
    # fields of a signed frame (fuzz_envelope pass 3)
    "fields-register": fields(MSG["REGISTER_WORKER"], "worker-1", register_worker()),
    "fields-heartbeat": fields(MSG["HEARTBEAT"], "worker-1", heartbeat()),
    "fields-list-reply": fields(MSG["LIST_WORKERS_REPLY"], "master", list_reply()),
    "fields-error": fields(MSG["ERROR"], "client", error_reply(-9, "too big")),
    "fields-role-refused": fields(MSG["REGISTER_WORKER"], "client", register_worker()),
    "fields-nobody": fields(MSG["PING"], "nobody", b""),
}


# URLs, as a worker's REGISTER_WORKER carries them (fuzz_envelope part 4)
for i, u in enumerate(["tcp://127.0.0.1:7077", "tls+tcp://[::1]:0", "ipc:///tmp/sluice.sock",
                       "tcp://10.0.0.2:99999", "tcp://localhost"]):
    SEEDS[f"url-{i}"] = u.encode()


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {OUT}")


if __name__ == "__main__":
    main()
