"""A hand-driven MSN peer for wire-level msnc tests: logs in to msnd with raw
sockets (msntest), joins a switchboard with an msnc user, writes and reads
text/x-msmsgsinvite bodies field by field, and plays either MSNFTP role.
Every wait is bounded."""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import msntest  # noqa: E402

FT_GUID = "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"
TIMEOUT = 10.0


class RawUser:
    def __init__(self, srv, email, password):
        self.email = email
        self.ns = msntest.login(srv, email, password)
        t = self.ns.trid()
        self.ns.send_line("CHG %d NLN" % t)
        self.ns.expect("CHG")
        self.srv = srv
        self.sb = None
        self.trid = 100

    def call(self, peer):
        """Open a switchboard and CAL peer (an msnc user, which answers by itself)."""
        self.sb = msntest.open_switchboard(self.srv, self.ns, timeout=TIMEOUT)
        self.sb.send_line("CAL %d %s" % (self.sb.trid(), peer))
        self.sb.expect("CAL")
        while self.sb.read_cmd().name != "JOI":
            pass

    def answer_ring(self):
        """Join the switchboard an msnc user rings us into."""
        while True:
            cmd = self.ns.read_cmd(TIMEOUT)
            if cmd.name == "RNG":
                self.sb = msntest.join_by_ring(self.srv, self.ns, cmd, timeout=TIMEOUT)
                return

    def send_invite(self, fields):
        body = "".join("%s: %s\r\n" % kv for kv in fields)
        payload = "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n" + body + "\r\n"
        self.sb.send_msg(self.sb.trid(), "N", payload)

    def read_invite(self):
        """Next invitation message on the switchboard, as a dict of its fields."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            cmd = self.sb.read_cmd(max(0.1, deadline - time.monotonic()))
            if cmd.name != "MSG" or b"text/x-msmsgsinvite" not in (cmd.payload or b""):
                continue
            body = cmd.payload.split(b"\r\n\r\n", 1)[1].decode("utf-8")
            fields = {}
            for line in body.split("\r\n"):
                if ": " in line:
                    k, v = line.split(": ", 1)
                    fields[k] = v
            return fields

    def close(self):
        for c in (self.sb, self.ns):
            if c:
                c.close()


def unused_port(ip):
    """A port on ip that refuses connections: bound but not listening, so
    nobody else gets it while the test runs. Returns (socket, port)."""
    s = socket.socket()
    s.bind((ip, 0))
    return s, s.getsockname()[1]


class Lines:
    """CRLF lines and raw bytes on one MSNFTP socket."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        self.buf = b""

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed; buffered %r" % self.buf)
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\n", 1)
        return raw.rstrip(b"\r").decode()

    def closed(self):
        """True if the peer closes without sending anything more."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return not self.buf
                self.buf += chunk
        except ConnectionResetError:
            return not self.buf
        except socket.timeout:
            return False


def serve_file(conn, data, email, cookie, ver_first=False):
    """The MSNFTP sender's side on a connected socket: VER, check USR, FIL,
    TFR, blocks, then the receiver's BYE (returned)."""
    ln = Lines(conn)
    if ver_first:
        ln.send("VER MSNFTP")
    ver = ln.line()
    assert ver.startswith("VER") and "MSNFTP" in ver.split(), ver
    if not ver_first:
        ln.send("VER MSNFTP")
    usr = ln.line()
    if usr == "VER MSNFTP":  # both sides opened with VER
        usr = ln.line()
    assert usr == "USR %s %s" % (email, cookie), usr
    ln.send("FIL %d" % len(data))
    assert ln.line() == "TFR"
    for off in range(0, len(data), 2045):
        chunk = data[off:off + 2045]
        conn.sendall(struct.pack("<BH", 0, len(chunk)) + chunk)
    return ln.line()


def receive_file(conn, email, cookie):
    """The MSNFTP receiver's side on a connected socket; returns the bytes."""
    ln = Lines(conn)
    ln.send("VER MSNFTP")
    assert ln.line() == "VER MSNFTP"
    ln.send("USR %s %s" % (email, cookie))
    fil = ln.line()
    assert fil.startswith("FIL "), fil
    size = int(fil.split()[1])
    ln.send("TFR")
    out = bytearray()
    while len(out) < size:
        while len(ln.buf) < 3:
            ln.buf += conn.recv(65536)
        flag, n = struct.unpack("<BH", ln.buf[:3])
        assert flag == 0, flag
        while len(ln.buf) < 3 + n:
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError("closed mid-block")
            ln.buf += chunk
        out += ln.buf[3:3 + n]
        ln.buf = ln.buf[3 + n:]
    ln.send("BYE 16777989")
    return bytes(out)
