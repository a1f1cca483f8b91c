"""msntest - small, stable helpers for msnkit integration tests (stdlib only).

Import it from a test script with:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
    import msntest

Server (a real msnd on ephemeral 127.0.0.1 ports, temp dir, temp database):
    srv = msntest.MsndServer(msnd_path, args=(), users=[("alice@example.com", "pw", "Alice")])
    srv.start()                  # waits for --port-file; raises if msnd fails to start
    srv.ds, srv.ns, srv.sb       # ("127.0.0.1", port) tuples (None if that role is off)
    srv.add_user(email, password, name=None)   # `msnd user add` on the same database
    srv.db                       # its --db: a file, or a postgresql:// URL when MSND_TEST_DB=postgresql
    srv.copy_db_from(other)      # this server's database becomes a copy of other's (other stopped)
    msntest.db_copy(other)       # a new database string holding a copy of other's
    msntest.db_drop(db)          # remove a database made by db_copy
    srv.run_admin("user", "list")              # any `msnd ...` admin command -> CompletedProcess
    srv.stop()                   # SIGTERM, wait, then SIGKILL; returns the exit status
    srv.restart()                # stop + start on the same database (new ports)
    srv.log_text()               # msnd's log so far
    with msntest.MsndServer(...) as srv: ...   # start/stop (and temp dir removal)

Client (blocking, one socket, every wait bounded by a timeout):
    c = msntest.Client(addr, timeout=5.0, answer_chl=True)
    c.trid()                     # next TrID (1, 2, ...)
    c.send_line("VER 1 MSNP7")   # CRLF appended
    c.send_raw(b"...")
    c.send_msg(trid, "A", payload_bytes)   # `MSG trid A len` + payload
    cmd = c.read_cmd()           # next item -> Cmd(name, args, line, payload)
    c.expect("USR")              # next item must be that command; returns the Cmd
    c.expect_line("CHG 5 NLN")   # next item's line must be exactly this
    c.expect_error(911, trid)    # next item must be `911 trid`
    c.expect_closed()            # the server closes the connection
    c.expect_silence(0.3)        # nothing arrives within that time
    c.close()
  A Cmd has .name ("MSG"), .args (list of str, TrID included when present),
  .line (str, no CRLF) and .payload (bytes or None).
  With answer_chl=True (default) a `CHL 0 <digits>` is answered with the
  right QRY automatically and its `QRY trid` reply is swallowed, so tests
  never see challenges unless they ask (answer_chl=False).

Login helpers:
    c = msntest.login(srv, email, password, version="MSNP7", via_ds=True)
        # DS VER/INF/USR -> XFR NS, then NS VER/INF/USR I/USR S; returns the
        # logged-in NS client after `USR OK` and the profile MSG; c.email set,
        # c.usr_ok the `USR OK` Cmd.
    msntest.md5_login_response(challenge, password) -> hex str
    msntest.chl_response(challenge) -> hex str (msmsgs@msnmsgr.com key)
    msntest.open_switchboard(srv, ns_client) -> sb Client after XFR SB + USR OK
    msntest.join_by_ring(srv, ns_client, rng_cmd) -> sb Client after ANS (IRO lines
        and `ANS trid OK` consumed; they are returned as sb.roster)
    msntest.read_until(c, "ACK")  # the next command of that name, others skipped (bounded)

Network namespaces (root; made with `ip netns add NAME`):
    with msntest.in_netns(name): ...   # sockets made and processes started in the block are name's
"""

import contextlib
import ctypes
import hashlib
import os
import sys
import shutil
import signal
import socket
import subprocess
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgtest  # noqa: E402

CHL_KEY = "Q1P7W2E4J9R8U3S5"
CHL_ID = "msmsgs@msnmsgr.com"
DEFAULT_TIMEOUT = 5.0


def read_until(c, name, limit=50):
    """Next command of that name, skipping presence and other notifications."""
    for _ in range(limit):
        cmd = c.read_cmd()
        if cmd.name == name:
            return cmd
    raise AssertionError("no %s within %d items" % (name, limit))


CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


@contextlib.contextmanager
def in_netns(ns):
    """Sockets this thread creates, and processes it starts, inside the
    block belong to the network namespace ns (`ip netns add ns`)."""
    orig = os.open("/proc/self/ns/net", os.O_RDONLY)
    fd = os.open("/var/run/netns/" + ns, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + ns)
        try:
            yield
        finally:
            _libc.setns(orig, CLONE_NEWNET)
    finally:
        os.close(fd)
        os.close(orig)


def md5_login_response(challenge, password):
    return hashlib.md5((challenge + password).encode("utf-8")).hexdigest()


def chl_response(challenge):
    return hashlib.md5((challenge + CHL_KEY).encode("ascii")).hexdigest()


class Cmd:
    __slots__ = ("name", "args", "line", "payload")

    def __init__(self, name, args, line, payload=None):
        self.name, self.args, self.line, self.payload = name, args, line, payload

    def __repr__(self):
        extra = "" if self.payload is None else " +%d payload bytes" % len(self.payload)
        return "<Cmd %r%s>" % (self.line, extra)


# Server-to-client commands that carry a payload (length = last parameter).
_PAYLOAD = {"MSG", "IPG", "NOT"}


class Client:
    def __init__(self, addr, timeout=DEFAULT_TIMEOUT, answer_chl=True, source=None):
        self.addr = tuple(addr)
        self.timeout = timeout
        self.answer_chl = answer_chl
        # source: a local address to connect from (another 127.x address
        # looks like another client machine to the server).
        self.sock = socket.create_connection(self.addr, timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""
        self._trid = 0
        self._swallow_qry = set()
        self.email = None
        self.usr_ok = None
        self.roster = []

    # -- sending --
    def trid(self):
        self._trid += 1
        return self._trid

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_line(self, line):
        self.sock.sendall(line.encode("utf-8") + b"\r\n")

    def send_msg(self, trid, mode, payload):
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        self.sock.sendall(("MSG %d %s %d\r\n" % (trid, mode, len(payload))).encode() + payload)

    # -- receiving --
    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from %s:%d within the timeout; buffered %r" % (self.addr + (self.buf,)))
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no data from %s:%d within the timeout; buffered %r" % (self.addr + (self.buf,)))
        if not chunk:
            raise ConnectionError("connection closed by %s:%d; buffered %r" % (self.addr + (self.buf,)))
        self.buf += chunk

    def _read_raw(self, timeout):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\n" not in self.buf:
            self._fill(deadline)
        raw, self.buf = self.buf.split(b"\n", 1)
        line = raw.rstrip(b"\r").decode("utf-8", "replace")
        parts = line.split(" ")
        name, args = parts[0], parts[1:]
        payload = None
        if name in _PAYLOAD and args and args[-1].isdigit():
            n = int(args[-1])
            while len(self.buf) < n:
                self._fill(deadline)
            payload, self.buf = self.buf[:n], self.buf[n:]
        return Cmd(name, args, line, payload)

    def read_cmd(self, timeout=None):
        """Next item from the server (challenges handled when answer_chl)."""
        while True:
            cmd = self._read_raw(timeout)
            if self.answer_chl and cmd.name == "CHL" and len(cmd.args) == 2:
                t = self.trid()
                resp = chl_response(cmd.args[1]).encode()
                self.send_raw(("QRY %d %s %d\r\n" % (t, CHL_ID, len(resp))).encode() + resp)
                self._swallow_qry.add(str(t))
                continue
            if cmd.name == "QRY" and len(cmd.args) == 1 and cmd.args[0] in self._swallow_qry:
                self._swallow_qry.discard(cmd.args[0])
                continue
            return cmd

    def expect(self, name, timeout=None):
        cmd = self.read_cmd(timeout)
        if cmd.name != name:
            raise AssertionError("expected %s, got %r" % (name, cmd))
        return cmd

    def expect_line(self, line, timeout=None):
        cmd = self.read_cmd(timeout)
        if cmd.line != line:
            raise AssertionError("expected %r, got %r" % (line, cmd))
        return cmd

    def expect_error(self, code, trid, timeout=None):
        return self.expect_line("%d %d" % (code, trid), timeout)

    def expect_closed(self, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                cmd = self.read_cmd(max(0.01, deadline - time.monotonic()))
            except ConnectionError:
                return
            except OSError as e:  # reset counts as closed
                if isinstance(e, TimeoutError):
                    raise AssertionError("connection still open after the timeout")
                return
            raise AssertionError("expected the connection to close, got %r" % (cmd,))

    def expect_silence(self, seconds=0.3):
        try:
            cmd = self.read_cmd(seconds)
        except TimeoutError:
            return
        raise AssertionError("expected nothing, got %r" % (cmd,))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class MsndServer:
    def __init__(self, msnd, args=(), users=(), workdir=None):
        self.msnd = os.path.abspath(msnd)
        self.args = list(args)
        self.users = list(users)
        self._own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="msntest-")
        if pgtest.backend() == "postgresql":
            # Created on first use, or as a copy by copy_db_from (CREATE
            # DATABASE costs a few hundred ms: once per server, not twice).
            self.db_name = pgtest.unique_name("msnd")
            self.db = pgtest.shared().url(self.db_name)
            self._db_made = False
        else:
            self.db_name, self.db = None, os.path.join(self.dir, "msnd.db")
        self.port_file = os.path.join(self.dir, "ports")
        self.log_file = os.path.join(self.dir, "msnd.log")
        self.proc = None
        self.ds = self.ns = self.sb = None
        self.ns_nodes, self.sbs = [], []
        self.listen_host = "127.0.0.1"  # or "[::1]"
        for u in self.users:
            self.add_user(*u)

    def _ensure_db(self):
        if self.db_name and not self._db_made:
            pgtest.shared().createdb(self.db_name)
            self._db_made = True

    def run_admin(self, *argv, input=None, timeout=30):
        self._ensure_db()
        return subprocess.run([self.msnd] + list(argv) + ["--db", self.db], input=input,
                              capture_output=True, text=True, timeout=timeout)

    def add_user(self, email, password, name=None):
        argv = ["user", "add", "--create", email, password] + ([name] if name else [])
        r = self.run_admin(*argv)
        if r.returncode != 0:
            raise RuntimeError("msnd user add failed: %s" % r.stderr)

    def copy_db_from(self, other):
        if self.db_name:
            if self._db_made:
                pgtest.shared().dropdb(self.db_name)
            pgtest.shared().createdb(self.db_name, template=other.db_name)
            self._db_made = True
        else:
            shutil.copyfile(other.db, self.db)

    def start(self, timeout=10.0, same_ports=False):
        """same_ports: listen where the previous start did (a restart that
        clients find again), else on ports of the kernel's choice."""
        self._ensure_db()
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        h = self.listen_host
        ports = [p[1] if same_ports and p else 0 for p in (self.ds, self.ns, self.sb)]
        argv = [self.msnd, "--listen", "%s:%d" % (h, ports[0]), "--ns-listen", "%s:%d" % (h, ports[1]),
                "--sb-listen", "%s:%d" % (h, ports[2]), "--db", self.db, "--port-file", self.port_file,
                "--log-file", self.log_file, "--log-level", "debug"] + self.args
        # The child keeps its own descriptor; ours is closed at once.
        with open(os.path.join(self.dir, "stderr"), "ab") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise RuntimeError("msnd exited with %d: %s" % (self.proc.returncode, self.stderr_text()))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("msnd did not write its port file")
            time.sleep(0.02)
        self.ds = self.ns = self.sb = None
        with open(self.port_file) as f:
            for line in f:
                role, _, addr = line.strip().partition("=")
                setattr(self, role, addr_of(addr))
        self.ns_nodes = [self.ns]
        self.sbs = [self.sb]
        return self

    def source(self, k):
        """The k-th extra address a client may connect from (0-5)."""
        return "127.0.0.%d" % (2 + k)

    def pids(self):
        """The msnd processes serving clients."""
        return [self.proc.pid] if self.proc else []

    def stop(self, timeout=10.0):
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        rc = self.proc.returncode
        self.proc = None
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def log_text(self):
        return read_text(self.log_file)

    def stderr_text(self):
        return read_text(os.path.join(self.dir, "stderr"))

    def cleanup(self):
        self.stop()
        # A PostgreSQL database stays until the test process's server goes.
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, exc_type, *exc):
        if exc_type is not None:
            print("---- msnd log ----\n" + self.log_text()[-6000:])
        self.cleanup()


def read_text(path):
    """A log file's text so far ("" when there is none yet)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def topology():
    """"cluster" when MSND_TEST_TOPOLOGY=cluster: the suites run on a DS, three
    notification nodes and two switchboard processes in network namespaces,
    on PostgreSQL (netcluster.py); anything else is one msnd process."""
    return "cluster" if os.environ.get("MSND_TEST_TOPOLOGY", "") == "cluster" else "single"


def new_server(msnd, args=(), users=(), workdir=None):
    """The msnd under test: one process, or the cluster (topology())."""
    if topology() == "cluster":
        import netcluster
        return netcluster.MsndCluster(msnd, args=args, users=users, workdir=workdir)
    return MsndServer(msnd, args=args, users=users, workdir=workdir)


_copies = [0]


def db_copy(template):
    """A new database holding a copy of template's (a MsndServer, stopped)."""
    _copies[0] += 1
    if template.db_name:
        return pgtest.shared().createdb(pgtest.unique_name("copy"), template=template.db_name)
    path = os.path.join(os.path.dirname(template.db), "copy-%d-%d.db" % (os.getpid(), _copies[0]))
    shutil.copyfile(template.db, path)
    return path


def db_drop(db):
    if db.startswith("postgresql://"):
        return  # goes with the test process's server
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)


def login(srv, email, password, version="MSNP7", via_ds=True, timeout=DEFAULT_TIMEOUT, answer_chl=True,
          source=None):
    """Log in (DS -> XFR NS -> NS) and return the NS Client after USR OK and the profile MSG."""
    ns_addr = srv.ns
    if via_ds and srv.ds:
        ds = Client(srv.ds, timeout, source=source)
        t = ds.trid()
        ds.send_line("VER %d %s CVR0" % (t, version))
        ds.expect("VER")
        t = ds.trid()
        ds.send_line("INF %d" % t)
        ds.expect_line("INF %d MD5" % t)
        t = ds.trid()
        ds.send_line("USR %d MD5 I %s" % (t, email))
        x = ds.expect("XFR")
        ns_addr = addr_of(x.args[2])
        ds.close()
    c = Client(ns_addr, timeout, answer_chl=answer_chl, source=source)
    t = c.trid()
    c.send_line("VER %d %s CVR0" % (t, version))
    c.expect("VER")
    t = c.trid()
    c.send_line("INF %d" % t)
    c.expect_line("INF %d MD5" % t)
    t = c.trid()
    c.send_line("USR %d MD5 I %s" % (t, email))
    ch = c.expect("USR")
    if ch.args[1:3] != ["MD5", "S"]:
        raise AssertionError("expected a challenge, got %r" % (ch,))
    t = c.trid()
    c.send_line("USR %d MD5 S %s" % (t, md5_login_response(ch.args[3], password)))
    ok = c.expect("USR")
    if ok.args[1] != "OK":
        raise AssertionError("login failed: %r" % (ok,))
    c.expect("MSG")  # profile
    c.email = email
    c.usr_ok = ok
    return c


def addr_of(s):
    """(host, port) of a referral's "host:port" or "[v6]:port"."""
    host, _, port = s.rpartition(":")
    return (host[1:-1] if host.startswith("[") else host, int(port))


def open_switchboard(srv, ns_client, timeout=DEFAULT_TIMEOUT):
    """XFR SB on the NS, connect, USR; returns the SB Client (c.email set)."""
    t = ns_client.trid()
    ns_client.send_line("XFR %d SB" % t)
    x = ns_client.expect("XFR")
    sb = Client(addr_of(x.args[2]), timeout)
    t = sb.trid()
    sb.send_line("USR %d %s %s" % (t, ns_client.email, x.args[4]))
    ok = sb.expect("USR")
    if ok.args[1] != "OK":
        raise AssertionError("switchboard login failed: %r" % (ok,))
    sb.email = ns_client.email
    return sb


def join_by_ring(srv, ns_client, rng, timeout=DEFAULT_TIMEOUT):
    """Answer a RNG Cmd: connect to its switchboard, ANS; returns the SB Client."""
    sessid, addr, _cki, cookie = rng.args[0], rng.args[1], rng.args[2], rng.args[3]
    sb = Client(addr_of(addr), timeout)
    t = sb.trid()
    sb.send_line("ANS %d %s %s %s" % (t, ns_client.email, cookie, sessid))
    while True:
        cmd = sb.read_cmd()
        if cmd.name == "IRO":
            sb.roster.append(cmd)
            continue
        if cmd.line != "ANS %d OK" % t:
            raise AssertionError("expected ANS %d OK, got %r" % (t, cmd))
        break
    sb.email = ns_client.email
    return sb
