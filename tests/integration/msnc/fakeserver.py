"""A scripted MSNP server for msnc tests (Python 3 stdlib only).

It listens on 127.0.0.1 (ephemeral ports) and lets a test play the
notification server and any number of switchboards line by line, so it can
speak the dialects of other MSNP servers (36-character UUID session ids,
`ADD 0 RL email name` without a list version, a JOI of the joiner itself
before the IRO lines, capability fields after CHG, `USR OK` without the
verified flag) and behave in hostile ways real servers do not (never
reading, sending nothing, sending escape sequences). Every wait is bounded.

    srv = FakeServer()                 # notification server socket
    ns = srv.accept()                  # msnc connected (Conn)
    ns.login(email, password, ...)     # VER/CVR/INF/USR MD5 exchange
    ns.send_line("RNG ...")            # anything
    sb = FakeServer()                  # a switchboard socket
    conn = sb.accept()
"""
import hashlib
import shutil
import socket
import tempfile
import threading
import time
import unittest

from msnclib import Msnc

TIMEOUT = 10.0
UUID_SESSION = "8f3a6f6e-3c1b-4d9a-9e2f-5b7c1d0e4a21"  # 36 characters


class Cmd:
    __slots__ = ("name", "args", "line", "payload")

    def __init__(self, name, args, line, payload=None):
        self.name, self.args, self.line, self.payload = name, args, line, payload

    def __repr__(self):
        return "<Cmd %r%s>" % (self.line, "" if self.payload is None else " +%d" % len(self.payload))


class Conn:
    """One accepted client connection, seen from the server side."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(TIMEOUT)
        self.buf = b""

    def send_line(self, line):
        self.sock.sendall(line.encode("utf-8") + b"\r\n")

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_msg(self, email, name, payload):
        """A server-to-client MSG (`MSG email name len` + payload)."""
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        self.sock.sendall(("MSG %s %s %d\r\n" % (email, name, len(payload))).encode() + payload)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("nothing from msnc within the timeout; buffered %r" % self.buf)
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("nothing from msnc within the timeout; buffered %r" % self.buf)
        if not chunk:
            raise ConnectionError("msnc closed the connection; buffered %r" % self.buf)
        self.buf += chunk

    def read_cmd(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            self._fill(deadline)
        raw, self.buf = self.buf.split(b"\n", 1)
        line = raw.rstrip(b"\r").decode("utf-8", "replace")
        parts = line.split(" ")
        name, args = parts[0], parts[1:]
        payload = None
        # Client-to-server payload commands: MSG trid mode len, QRY trid id len.
        if name in ("MSG", "QRY") and len(args) == 3 and args[-1].isdigit():
            n = int(args[-1])
            while len(self.buf) < n:
                self._fill(deadline)
            payload, self.buf = self.buf[:n], self.buf[n:]
        return Cmd(name, args, line, payload)

    def expect(self, name, timeout=TIMEOUT):
        """Next command of that name; PNG keep-alives are answered and skipped."""
        while True:
            cmd = self.read_cmd(timeout)
            if cmd.name == "PNG":
                self.send_line("QNG 60")
                continue
            if cmd.name != name:
                raise AssertionError("expected %s from msnc, got %r" % (name, cmd))
            return cmd

    def closed(self, timeout=TIMEOUT):
        """True once msnc closes its end (anything it still sends is skipped).
        The server's end is closed then, as a real server does: msnc, which
        waits for that after its last line (up to 2 s), may stop at once."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._fill(deadline)
            except ConnectionError:
                self.close()
                return True
            except TimeoutError:
                return False
            except OSError:
                self.close()
                return True

    def greet(self, version="MSNP7"):
        """Answer VER, CVR and INF: the USR that follows (not answered)."""
        ver = self.expect("VER")
        self.send_line("VER %s %s" % (ver.args[0], version))
        cmd = self.read_cmd()
        if cmd.name == "CVR":
            self.send_line("CVR %s 6.0.0602 6.0.0602 1.0.0000 http://example.invalid http://example.invalid"
                           % cmd.args[0])
            cmd = self.read_cmd()
        assert cmd.name == "INF", cmd
        self.send_line("INF %s MD5" % cmd.args[0])
        return self.expect("USR")

    def login(self, email, password, version="MSNP7", usr_ok=None, chg_extra=None, salt="1013928519.693957190",
              list_version=0, syn_lines=()):
        """Answer msnc's login as a notification server and its first SYN and
        CHG. usr_ok: the USR OK line's fields after the TrID (default
        `OK email name 1`); chg_extra: fields appended to the CHG reply;
        syn_lines: what follows the SYN reply (GTC, BLP, LST lines), each
        with "{trid}" for the SYN's TrID."""
        usr = self.greet(version)
        assert usr.args[1:] == ["MD5", "I", email], usr
        self.send_line("USR %s MD5 S %s" % (usr.args[0], salt))
        usr = self.expect("USR")
        want = hashlib.md5((salt + password).encode()).hexdigest()
        assert usr.args[1:] == ["MD5", "S", want], usr
        fields = usr_ok if usr_ok is not None else "OK %s %s 1" % (email, email.split("@")[0])
        self.send_line("USR %s %s" % (usr.args[0], fields))
        syn = self.expect("SYN")
        self.send_line("SYN %s %d" % (syn.args[0], list_version))
        for line in syn_lines:
            self.send_line(line.format(trid=syn.args[0]))
        chg = self.expect("CHG")
        self.send_line("CHG %s %s%s" % (chg.args[0], chg.args[1], " " + chg_extra if chg_extra else ""))
        return chg.args[1]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# Every server made since the test began (FakeServerTest.setUp empties it),
# so that a quit can end their connections as a real server would.
_servers = []


def close_after_client(timeout=TIMEOUT):
    """Each connection of every server reads what msnc still sends (OUT, BYE)
    and closes once msnc closes its end, on threads of its own: a real
    server closes after OUT, and msnc waits for that before it exits."""
    for srv in list(_servers):
        for c in list(srv.conns):
            threading.Thread(target=c.closed, args=(timeout,), daemon=True).start()


class FakeServer:
    """A listening socket on 127.0.0.1 (ephemeral port)."""

    def __init__(self, ip="127.0.0.1"):
        _servers.append(self)
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((ip, 0))
        self.lsock.listen(128)
        self.addr = self.lsock.getsockname()
        self.conns = []

    @property
    def hostport(self):
        return "%s:%d" % self.addr

    def accept(self, timeout=TIMEOUT, rcvbuf=None):
        self.lsock.settimeout(timeout)
        s, _ = self.lsock.accept()
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        c = Conn(s)
        self.conns.append(c)
        return c

    def close(self):
        for c in self.conns:
            c.close()
        try:
            self.lsock.close()
        except OSError:
            pass


def invite_payload(fields):
    body = "".join("%s: %s\r\n" % kv for kv in fields)
    return "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n" + body + "\r\n"


def text_payload(text):
    return "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n" + text


def invite_fields(payload):
    body = payload.split(b"\r\n\r\n", 1)[1].decode("utf-8")
    out = {}
    for line in body.split("\r\n"):
        if ": " in line:
            k, v = line.split(": ", 1)
            out[k] = v
    return out


class FakeServerTest(unittest.TestCase):
    """A test case with a FakeServer and msnc clients logging in to it as
    ALICE from 127.0.0.2; all of them are stopped after each test. The test
    program sets MSNC (the path of msnc) before unittest.main."""
    MSNC = None
    ALICE, PW = "alice@example.com", "alicepw"
    tmp_prefix = "msnc-fake-"

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix=self.tmp_prefix)
        del _servers[:]
        self.srv = FakeServer()
        self.closers = [self.srv.close]

    def tearDown(self):
        for c in reversed(self.closers):
            c()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def client(self, extra=()):
        c = Msnc(FakeServerTest.MSNC, self.srv.hostport, self.ALICE, self.PW, "127.0.0.2", self.tmp, extra)
        c.on_quit = close_after_client
        self.closers.append(c.quit)
        return c

    def logged_in(self, extra=()):
        """A client logged in to this test's server: (client, its connection)."""
        c = self.client(extra)
        ns = self.srv.accept()
        ns.login(self.ALICE, self.PW)
        c.wait("status", status="NLN")
        return c, ns
