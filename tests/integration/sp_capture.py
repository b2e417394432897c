"""A TCP proxy that records the SP (nng) messages a dialer sends, and a
replayer that sends a recorded message again over a new connection.

nng's TCP transport opens each connection with an 8-byte header from each
side (00 'S' 'P' 00, protocol id u16, 0 u16) and then carries messages as a
u64 big-endian length followed by the message: for REQ, a 4-byte request id
header and then the body (here, a Sluice envelope). Used by test_replay.py
to capture real frames of real processes on the wire and replay them.
"""
import socket
import struct
import threading

REQ_HEADER = b"\x00SP\x00\x00\x30\x00\x00"  # protocol 0x30: REQ v0


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def envelope_fields(body):
    """Decodes the top-level fields of a protobuf message: {number: value}
    (varints as int, length-delimited as bytes)."""
    out, i = {}, 0

    def varint():
        nonlocal i
        v, shift = 0, 0
        while True:
            b = body[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v
    while i < len(body):
        key = varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            out[num] = varint()
        elif wt == 2:
            n = varint()
            out[num] = body[i:i + n]
            i += n
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        else:
            raise ValueError(f"wire type {wt}")
    return out


class Capture:
    """Listens on a free loopback port and forwards every connection to
    target_port, recording each SP message the dialer sends."""

    def __init__(self, target_port):
        self.target = target_port
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.messages = []  # raw SP messages (request id header + envelope)
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"tcp://127.0.0.1:{self.port}"

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target), timeout=30)
            threading.Thread(target=self._upstream, args=(c, s), daemon=True).start()
            threading.Thread(target=self._pipe, args=(s, c), daemon=True).start()

    def _upstream(self, c, s):
        try:
            s.sendall(_recv_exact(c, 8))
            while True:
                hdr = _recv_exact(c, 8)
                msg = _recv_exact(c, struct.unpack(">Q", hdr)[0])
                with self.lock:
                    self.messages.append(msg)
                s.sendall(hdr + msg)
        except (OSError, ConnectionError):
            pass
        finally:
            for x in (c, s):
                try:
                    x.close()
                except OSError:
                    pass

    def _pipe(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def of_type(self, msg_type):
        """Recorded messages whose envelope has this type (oldest first)."""
        with self.lock:
            msgs = list(self.messages)
        return [m for m in msgs if envelope_fields(m[4:]).get(2) == msg_type]

    def close(self):
        self.closed = True
        self.lsock.close()


def replay(port, msg, timeout=10):
    """Sends one recorded SP message to port over a new connection and
    returns the reply envelope's fields."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(REQ_HEADER)
        _recv_exact(s, 8)
        s.sendall(struct.pack(">Q", len(msg)) + msg)
        n = struct.unpack(">Q", _recv_exact(s, 8))[0]
        reply = _recv_exact(s, n)
    return envelope_fields(reply[4:])


def error_message(fields):
    """The (code, message) of an MSG_ERROR reply's ErrorReply payload."""
    er = envelope_fields(fields.get(6, b""))
    code = er.get(1, 0)  # int32: negatives travel as 10-byte varints
    if code >= 1 << 63:
        code -= 1 << 64
    return code, er.get(2, b"").decode(errors="replace")
