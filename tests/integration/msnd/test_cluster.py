#!/usr/bin/env python3
"""msnd with the switchboard in processes of its own: a notification server
(--role ds,ns --link-listen) and one or two switchboards (--role sb
--ns-links) linked over real loopback sockets. The example sessions' switchboard
transcript across the processes, cookie and privacy rules decided by the
notification server, round robin over two switchboards, a switchboard or
notification server going away and coming back, a wrong link secret, a
hostile peer on the link port, and the start-up errors. Two notification
servers on one database sharing their users' presence (--ns-peers)."""
import contextlib
import os
import random
import socket
import subprocess
import sys
import threading
import time

from harness import USERS, login, msntest, online, presence_within
import delayproxy  # noqa: E402 (harness put tests/integration/lib on the path)
import pgtest  # noqa: E402

IM = (b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
      b"X-MMS-IM-Format: FN=Arial; EF=; CO=0; CS=0; PF=22\r\n\r\nhello across processes")

MSND = None
TEMPLATE = None


class Cluster:
    """One NS process and n SB processes, each in its own temp dir."""

    def __init__(self, n_sb=1, ns_args=(), sb_args=()):
        self.ns = msntest.MsndServer(MSND, args=["--role", "ds,ns", "--link-listen", "127.0.0.1:0"] + list(ns_args))
        self.ns.copy_db_from(TEMPLATE)
        self.sb_args = list(sb_args)
        self.sbs = []
        self.n_sb = n_sb

    def new_sb(self, extra=()):
        link = "127.0.0.1:%d" % self.ns.link[1]
        sb = msntest.MsndServer(MSND, args=["--role", "sb", "--ns-links", link] + self.sb_args + list(extra))
        sb.start()
        self.sbs.append(sb)
        return sb

    def __enter__(self):
        self.ns.start()
        for _ in range(self.n_sb):
            self.new_sb()
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is not None:
            print("---- NS log ----\n" + self.ns.log_text()[-4000:])
            for sb in self.sbs:
                print("---- SB log ----\n" + sb.log_text()[-3000:])
        rcs = [sb.stop() for sb in self.sbs] + [self.ns.stop()]
        for sb in self.sbs:
            sb.cleanup()
        self.ns.cleanup()
        if exc_type is None:
            assert all(rc in (0, None) for rc in rcs), rcs


def xfr_sb(ns_client):
    t = ns_client.trid()
    ns_client.send_line("XFR %d SB" % t)
    return ns_client.read_cmd()


def wait_linked(ns_client, want=None, timeout=10.0):
    """XFR SB until it names a switchboard (and, if given, that one). A
    linked switchboard answers at once; the loop only covers start-up."""
    deadline = time.monotonic() + timeout
    while True:
        x = xfr_sb(ns_client)
        if x.name == "XFR" and (want is None or x.args[2] == want):
            return x
        assert x.name in ("601", "XFR"), x
        assert time.monotonic() < deadline, "switchboard never linked: %r" % (x,)
        time.sleep(0.05)


def addr(srv):
    return "%s:%d" % srv.sb


def test_example_transcript_across_processes():
    with Cluster() as cl:
        a = online(cl.ns, "example@passport.com")
        b = online(cl.ns, "name_123@hotmail.com")
        a.email, b.email = "example@passport.com", "name_123@hotmail.com"
        x = wait_linked(a)
        sb_addr = addr(cl.sbs[0])
        assert x.args[1:4] == ["SB", sb_addr, "CKI"], x
        s = msntest.Client(cl.sbs[0].sb)
        s.send_line("USR 1 example@passport.com %s" % x.args[4])
        s.expect_line("USR 1 OK example@passport.com my%20screen%20name")
        s.send_line("CAL 2 name_123@hotmail.com")
        r = s.expect("CAL")
        assert r.args[:2] == ["2", "RINGING"] and r.args[2].isdigit(), r
        rng = b.expect("RNG")
        assert rng.args[0] == r.args[2] and rng.args[1] == sb_addr and rng.args[2] == "CKI", rng
        assert rng.args[4:] == ["example@passport.com", "my%20screen%20name"], rng
        bs = msntest.Client(cl.sbs[0].sb)
        bs.send_line("ANS 1 name_123@hotmail.com %s %s" % (rng.args[3], rng.args[0]))
        bs.expect_line("IRO 1 1 1 example@passport.com my%20screen%20name")
        bs.expect_line("ANS 1 OK")
        s.expect_line("JOI name_123@hotmail.com name_123")
        s.send_msg(3, "A", IM)
        m = bs.expect("MSG")
        assert m.line == "MSG example@passport.com my%%20screen%%20name %d" % len(IM) and m.payload == IM, m
        s.expect_line("ACK 3")
        bs.send_line("OUT")
        bs.expect_closed()
        s.expect_line("BYE name_123@hotmail.com")
        # The ring cookie was single-use, and the XFR cookie too.
        again = msntest.Client(cl.sbs[0].sb)
        again.send_line("USR 9 example@passport.com %s" % x.args[4])
        again.expect_line("911 9")
        again.expect_closed()


def test_admission_is_decided_by_the_notification_server():
    with Cluster() as cl:
        a = online(cl.ns, "alice@example.com")
        b = online(cl.ns, "bob@example.com")
        c = online(cl.ns, "carol@example.com", status="HDN")
        a.email, b.email = "alice@example.com", "bob@example.com"
        wait_linked(a)
        # A cookie for someone else, a made-up cookie: 911 and closed.
        x = xfr_sb(a)
        s = msntest.Client(cl.sbs[0].sb)
        s.send_line("USR 1 bob@example.com %s" % x.args[4])
        s.expect_line("911 1")
        s.expect_closed()
        s = msntest.Client(cl.sbs[0].sb)
        s.send_line("USR 1 alice@example.com 123.456.789")
        s.expect_line("911 1")
        s.expect_closed()
        sb = msntest.open_switchboard(cl.ns, a)
        # Hidden, offline and unknown callees all look alike: 217.
        for who in ("carol@example.com", "name_123@hotmail.com", "nobody@example.com"):
            t = sb.trid()
            sb.send_line("CAL %d %s" % (t, who))
            sb.expect_line("217 %d" % t)
        # Bob blocks Alice: 217 as well, and no RNG reaches Bob.
        t = b.trid()
        b.send_line("BLP %d BL" % t)
        b.expect("BLP")
        t = sb.trid()
        sb.send_line("CAL %d bob@example.com" % t)
        sb.expect_line("217 %d" % t)
        t = b.trid()
        b.send_line("ADD %d AL alice@example.com Alice" % t)
        b.expect("ADD")
        t = sb.trid()
        sb.send_line("CAL %d bob@example.com" % t)
        sb.expect("CAL")
        rng = b.expect("RNG")
        # Ringing twice at once: 215 from the switchboard itself.
        t = sb.trid()
        sb.send_line("CAL %d bob@example.com" % t)
        sb.expect_line("215 %d" % t)
        bs = msntest.join_by_ring(cl.ns, b, rng)
        assert [i.args[3] for i in bs.roster] == ["alice@example.com"], bs.roster
        sb.expect_line("JOI bob@example.com Bob")
        c.close()


def test_xfr_cookie_ends_with_its_session_across_processes():
    """The switchboard process asks the notification server about an XFR SB
    cookie it does not know: once the session the cookie was issued to has
    ended (OUT, a second login), the answer is NO, so a user no longer
    online cannot open a switchboard and ring people. The new login's own
    cookie works."""
    with Cluster() as cl:
        b = online(cl.ns, "bob@example.com")
        a = online(cl.ns, "alice@example.com")
        wait_linked(a)
        gone = [xfr_sb(a).args[4]]
        a.send_line("OUT")
        a.expect_closed()
        a = online(cl.ns, "alice@example.com")
        gone.append(xfr_sb(a).args[4])
        a2 = online(cl.ns, "alice@example.com")
        assert next_named(a, "OUT").line == "OUT OTH"
        keep = xfr_sb(a2).args[4]
        for cookie in gone:
            s = msntest.Client(cl.sbs[0].sb)
            s.send_line("USR 1 alice@example.com %s" % cookie)
            s.expect_line("911 1")
            s.expect_closed()
        a2.email = "alice@example.com"
        s = msntest.Client(cl.sbs[0].sb)
        s.send_line("USR 1 alice@example.com %s" % keep)
        assert s.expect("USR").args[1] == "OK"
        s.send_line("CAL 2 bob@example.com")
        assert s.expect("CAL").args[:2] == ["2", "RINGING"]
        assert b.expect("RNG").args[4] == "alice@example.com"


def call(sb, callee_ns, email):
    """CAL email from switchboard client sb: RINGING, and the RNG that
    reaches callee_ns (returned)."""
    t = sb.trid()
    sb.send_line("CAL %d %s" % (t, email))
    r = sb.expect("CAL")
    assert r.args[:2] == [str(t), "RINGING"], r
    return next_named(callee_ns, "RNG")


def test_hidden_or_logged_out_caller_cannot_ring_from_a_switchboard_process():
    """A switchboard process does not know its callers' status: the node
    that holds the callee's session answers a caller who appears offline
    there (hidden, or its session ended) with HIDDEN, and the caller gets
    913, as from the notification server's own switchboard. Back online,
    the same switchboard rings again."""
    with Cluster() as cl:
        a = online(cl.ns, "alice@example.com")
        b = online(cl.ns, "bob@example.com")
        c = online(cl.ns, "carol@example.com")
        a.email, b.email = "alice@example.com", "bob@example.com"
        wait_linked(a)
        sb = msntest.open_switchboard(cl.ns, a)
        t = send(a, "CHG {t} HDN 0")
        reply(a, t, "CHG")
        t = send(sb, "CAL {t} bob@example.com")
        sb.expect_error(913, t)
        b.expect_silence(0.2)
        t = send(a, "CHG {t} NLN 0")
        reply(a, t, "CHG")
        rng = call(sb, b, "bob@example.com")
        bs = msntest.join_by_ring(cl.ns, b, rng)
        sb.expect("JOI")
        a.send_line("OUT")
        a.expect_closed()
        t = send(sb, "CAL {t} carol@example.com")
        sb.expect_error(913, t)
        c.expect_silence(0.2)
        # the conversation itself goes on
        sb.send_msg(sb.trid(), "N", IM)
        assert bs.expect("MSG").payload == IM
        for x in (sb, bs, b, c):
            x.close()


def test_deleted_account_leaves_switchboard_processes():
    """msnd user del of an account logged in with a conversation in a
    switchboard process: the notification server ends its session (OUT)
    and tells the switchboard (GONE), which closes its connection there;
    the others see BYE."""
    with Cluster() as cl:
        a = online(cl.ns, "alice@example.com")
        b = online(cl.ns, "bob@example.com")
        a.email, b.email = "alice@example.com", "bob@example.com"
        wait_linked(a)
        sb = msntest.open_switchboard(cl.ns, a)
        bs = msntest.join_by_ring(cl.ns, b, call(sb, b, "bob@example.com"))
        sb.expect_line("JOI bob@example.com Bob")
        r = cl.ns.run_admin("user", "del", "bob@example.com")
        assert r.returncode == 0, r.stderr
        assert next_named(b, "OUT").line == "OUT"
        b.expect_closed()
        bs.expect_closed()
        sb.expect_line("BYE bob@example.com")
        assert "account deleted, switchboard connection closed" in cl.sbs[0].log_text()


def test_two_switchboards_in_turn():
    with Cluster(n_sb=2) as cl:
        a = online(cl.ns, "alice@example.com")
        b = online(cl.ns, "bob@example.com")
        a.email, b.email = "alice@example.com", "bob@example.com"
        for sb in cl.sbs:
            wait_linked(a, want=addr(sb))
        seen = {}
        for _ in range(6):
            x = xfr_sb(a)
            seen[x.args[2]] = seen.get(x.args[2], 0) + 1
        assert sorted(seen) == sorted(addr(sb) for sb in cl.sbs), seen
        assert all(n >= 2 for n in seen.values()), seen
        # A chat on each of them; each RNG names the switchboard that rang.
        for want in (addr(sb) for sb in cl.sbs):
            x = wait_linked(a, want=want)
            s = msntest.Client(msntest.addr_of(want))
            s.send_line("USR 1 alice@example.com %s" % x.args[4])
            s.expect("USR")
            s.email = "alice@example.com"
            s.send_line("CAL 2 bob@example.com")
            s.expect("CAL")
            rng = b.expect("RNG")
            assert rng.args[1] == want, (rng, want)
            bs = msntest.join_by_ring(cl.ns, b, rng)
            s.expect("JOI")
            bs.send_msg(bs.trid(), "N", IM)
            assert s.expect("MSG").payload == IM
            s.close()
            bs.close()


def test_processes_going_away_and_coming_back():
    with Cluster() as cl:
        a = online(cl.ns, "alice@example.com")
        a.email = "alice@example.com"
        wait_linked(a)
        # Switchboard gone: XFR SB says 601 (no switchboard to hand out).
        sb = cl.sbs.pop()
        sb.stop()
        sb.cleanup()
        x = xfr_sb(a)
        assert x.name == "601", x
        sb = cl.new_sb()
        wait_linked(a, want=addr(sb))
        # Notification server gone: a switchboard login cannot be checked,
        # 601 at once rather than a hang.
        x = xfr_sb(a)
        cl.ns.stop()
        s = msntest.Client(sb.sb)
        s.send_line("USR 1 alice@example.com %s" % x.args[4])
        s.expect_line("601 1")
        s.expect_closed()
        # Back again on the same link address: the switchboard links again
        # by itself (the cookie issued before the restart died with it).
        i = cl.ns.args.index("--link-listen")
        cl.ns.args[i + 1] = "127.0.0.1:%d" % cl.ns.link[1]
        cl.ns.start()
        a = online(cl.ns, "alice@example.com")
        a.email = "alice@example.com"
        wait_linked(a, want=addr(sb))
        s = msntest.open_switchboard(cl.ns, a)
        s.close()
        assert "notification server linked" in sb.log_text()


def test_wrong_secret_never_links():
    with Cluster(n_sb=0, ns_args=["--link-secret", "right"]) as cl:
        a = online(cl.ns, "alice@example.com")
        bad = cl.new_sb(["--link-secret", "wrong"])
        deadline = time.monotonic() + 10
        while "wrong secret" not in cl.ns.log_text():
            assert time.monotonic() < deadline, cl.ns.log_text()[-2000:]
            time.sleep(0.05)
        assert xfr_sb(a).name == "601"
        deadline = time.monotonic() + 10
        while "notification server refused the link" not in bad.log_text():
            assert time.monotonic() < deadline, bad.log_text()[-2000:]
            time.sleep(0.05)
        assert "notification server linked" not in bad.log_text()
        good = cl.new_sb(["--link-secret", "right"])
        wait_linked(a, want=addr(good))


def test_hostile_link_peers():
    with Cluster() as cl:
        a = online(cl.ns, "alice@example.com")
        a.email = "alice@example.com"
        wait_linked(a)
        link = cl.ns.link
        cases = [b"GARBAGE\r\n", b"AUTH 1 x y\r\n",  # request before HELLO
                 b"HELLO 1 127.0.0.1:1 -\r\nRING 1 notanumber c a n b\r\n",
                 b"HELLO 1 127.0.0.1:1 -\r\n" + b"A" * 100000,  # no line end
                 b"HELLO 1 bad address -\r\n", b"\x00\xff\r\n",
                 # a notification peer (--ns-peers) only tells presence
                 b"PEER 1 127.0.0.1:1 -\r\nAUTH 1 x alice@example.com\r\n",
                 b"PEER 1 127.0.0.1:1 -\r\nON alice@example.com XXX Alice\r\n",
                 b"PEER 1 127.0.0.1:1 -\r\nON not-an-email NLN x\r\n",
                 b"PEER 1 127.0.0.1:1 -\r\nPRIV alice@example.com NLN Alice\r\n",
                 b"PEER 1 127.0.0.1:1 -\r\nSYNCED many\r\n",
                 b"PEER 1 127.0.0.1:1 -\r\nRING 1 5 c alice@example.com A bob@example.com\r\n",  # no switchboard
                 b"PEER 1 127.0.0.1:1 - not-an-address\r\n",
                 b"PEER 1 127.0.0.1:1 wrong-secret\r\n",
                 b"PEER 7 127.0.0.1:1 -\r\n",
                 b"PEER 2 127.0.0.1:1 -\r\nRLBASE many\r\n",
                 b"PEER 2 127.0.0.1:1 -\r\nON alice@example.com NLN Alice x -\r\n",
                 b"PEER 2 127.0.0.1:1 -\r\nON alice@example.com NLN Alice 0 bob@example.com,,x\r\n",
                 b"PEER 2 127.0.0.1:1 -\r\nON alice@example.com NLN Alice 0\r\n"]
        for data in cases:
            s = socket.create_connection(link, timeout=5)
            try:
                s.sendall(data)
            except OSError:
                pass
            s.settimeout(5)
            got = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
            except OSError:
                pass
            s.close()
            assert b"AUTH" not in got and b"RING" not in got, (data[:40], got)
        # A HELLO'd peer may ask: a made-up cookie is just "NO".
        s = socket.create_connection(link, timeout=5)
        s.sendall(b"HELLO 1 127.0.0.1:9 -\r\nAUTH 77 1.2.3 alice@example.com\r\n")
        f = s.makefile("rb")
        assert f.readline() == b"HELLO 1 OK\r\n"
        assert f.readline() == b"AUTH 77 NO\r\n"
        s.close()
        # A version-2 switchboard hears that the cookie is not this node's,
        # and so for a callee with no session here; version 3 as well, and
        # it hears RINGEND when a session it had rung ends; version 4 as
        # well, and it hears that a caller who appears offline to the node
        # (not logged in there) may not ring alice: HIDDEN, where version
        # 3 is told NO; version 5 is refused.
        s = socket.create_connection(link, timeout=5)
        s.sendall(b"HELLO 2 127.0.0.1:9 -\r\nAUTH 78 1.2.3 alice@example.com\r\n"
                  b"RING 79 5 9.9.9 alice@example.com Alice nobody@example.com\r\n")
        f = s.makefile("rb")
        assert f.readline() == b"HELLO 2 OK\r\n"
        assert f.readline() == b"AUTH 78 UNKNOWN\r\n"
        assert f.readline() == b"RING 79 UNKNOWN\r\n"
        s.close()
        s = socket.create_connection(link, timeout=5)
        s.sendall(b"HELLO 3 127.0.0.1:9 -\r\nAUTH 80 1.2.3 alice@example.com\r\n")
        f = s.makefile("rb")
        assert f.readline() == b"HELLO 3 OK\r\n"
        assert f.readline() == b"AUTH 80 UNKNOWN\r\n"
        s.sendall(b"RING 81 5 9.9.9 bob@example.com Bob alice@example.com\r\n")
        assert f.readline() == b"RING 81 NO\r\n"
        s.close()
        s = socket.create_connection(link, timeout=5)
        s.sendall(b"HELLO 4 127.0.0.1:9 -\r\nAUTH 82 1.2.3 alice@example.com\r\n"
                  b"RING 83 5 9.9.9 bob@example.com Bob alice@example.com\r\n"
                  b"RING 84 5 9.9.9 bob@example.com Bob nobody@example.com\r\n")
        f = s.makefile("rb")
        assert f.readline() == b"HELLO 4 OK\r\n"
        assert f.readline() == b"AUTH 82 UNKNOWN\r\n"
        assert f.readline() == b"RING 83 HIDDEN\r\n"
        assert f.readline() == b"RING 84 UNKNOWN\r\n"  # not this node's callee: not its to decide
        s.close()
        a.expect_silence(0.2)  # no RNG
        s = socket.create_connection(link, timeout=5)
        s.sendall(b"HELLO 5 127.0.0.1:9 -\r\n")
        s.settimeout(5)
        assert s.recv(100) == b""
        s.close()
        # A notification peer is never handed out as a switchboard.
        peer = socket.create_connection(link, timeout=5)
        peer.sendall(b"PEER 1 127.0.0.1:2 -\r\n")
        assert peer.makefile("rb").readline() == b"HELLO 1 OK\r\n"
        for _ in range(4):
            x = xfr_sb(a)
            assert x.name == "XFR" and x.args[2] != "127.0.0.1:2", x
        peer.close()
        # The real switchboard still works.
        sb = msntest.open_switchboard(cl.ns, a)
        sb.close()


def test_silent_link_peer_is_dropped():
    """A connection to the link port that never says HELLO is closed after
    --login-timeout, like a client that never logs in."""
    with Cluster(n_sb=0, ns_args=["--login-timeout", "1"]) as cl:
        s = socket.create_connection(cl.ns.link, timeout=10)
        started = time.monotonic()
        assert s.recv(100) == b""  # closed by the server, not by our timeout
        s.close()
        assert "no HELLO in time" in cl.ns.log_text()
        # A linked switchboard is never dropped for being quiet.
        sb = cl.new_sb()
        a = online(cl.ns, "alice@example.com")
        a.email = "alice@example.com"
        wait_linked(a, want=addr(sb))
        time.sleep(1.5)
        s = msntest.open_switchboard(cl.ns, a)
        s.close()
        assert time.monotonic() - started < 9


def test_switchboard_killed():
    """kill -9 of a switchboard process: its clients lose the connection,
    the notification server stops handing it out, chats go on through a
    new switchboard process."""
    with Cluster() as cl:
        a = online(cl.ns, "alice@example.com")
        b = online(cl.ns, "bob@example.com")
        a.email, b.email = "alice@example.com", "bob@example.com"
        wait_linked(a)
        s = msntest.open_switchboard(cl.ns, a)
        old = cl.sbs.pop()
        old.proc.kill()
        old.proc.wait(10)
        old.proc = None
        s.expect_closed()
        deadline = time.monotonic() + 10
        while xfr_sb(a).name != "601":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        old.cleanup()
        cl.new_sb()
        wait_linked(a, want=addr(cl.sbs[0]))
        s = msntest.open_switchboard(cl.ns, a)
        s.send_line("CAL 5 bob@example.com")
        s.expect("CAL")
        rng = b.expect("RNG")
        bs = msntest.join_by_ring(cl.ns, b, rng)
        s.expect("JOI")
        bs.send_msg(bs.trid(), "N", IM)
        assert s.expect("MSG").payload == IM


def test_link_drop_with_a_request_waiting():
    """A notification server that takes the question and hangs up: the
    waiting client gets 601 at once, not a hang."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    port = lsock.getsockname()[1]
    sb = msntest.MsndServer(MSND, args=["--role", "sb", "--ns-links", "127.0.0.1:%d" % port])
    got = []

    def fake_ns():
        lsock.settimeout(10)
        conn, _ = lsock.accept()
        f = conn.makefile("rb")
        got.append(f.readline())
        conn.sendall(b"HELLO 4 OK\r\n")
        got.append(f.readline())
        conn.close()

    t = threading.Thread(target=fake_ns)
    t.start()
    try:
        sb.start()
        deadline = time.monotonic() + 10
        while "notification server linked" not in sb.log_text():
            assert time.monotonic() < deadline, sb.log_text()
            time.sleep(0.05)
        c = msntest.Client(sb.sb)
        c.send_line("USR 4 alice@example.com 1.2.3")
        c.expect_line("601 4")
        c.expect_closed()
        t.join(10)
        assert got[0].startswith(b"HELLO 4 %s:%d " % (sb.sb[0].encode(), sb.sb[1])), got
        assert got[1].startswith(b"AUTH ") and got[1].endswith(b" 1.2.3 alice@example.com\r\n"), got
        # the refusal says why: the link to that notification server went
        refused = [x for x in sb.log_text().splitlines() if "switchboard login refused" in x]
        assert len(refused) == 1, sb.log_text()
        assert ('user=alice@example.com error=601 reason="link to notification server 127.0.0.1:%d lost: ' % port
                in refused[0]), refused
    finally:
        t.join(10)
        lsock.close()
        assert sb.stop() in (0, None)
        sb.cleanup()


def accept_sb_link(lsock, sb):
    """The test as the notification server of switchboard process sb, one
    of a version that knows HELLO 2 only: sb's HELLO 4 and then HELLO 3 are
    refused (the link closed), the HELLO 2 it dials again with is answered,
    and sb logs it linked. Returns the link and its reader."""
    lsock.settimeout(10)
    for refused in (b"HELLO 4 ", b"HELLO 3 "):
        conn, _ = lsock.accept()
        assert conn.makefile("rb").readline().startswith(refused)
        conn.close()
    conn, _ = lsock.accept()
    f = conn.makefile("rb")
    assert f.readline().startswith(b"HELLO 2 ")
    conn.sendall(b"HELLO 2 OK\r\n")
    wait_log(sb, "notification server linked")
    return conn, f


def test_unanswered_request_fails_at_its_deadline():
    """A notification server that takes the question and never answers (a
    stalled process): the client gets 601 once the request's 10 s are up,
    not at some later housekeeping pass (every 10 s), and the link stays."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    sb = msntest.MsndServer(MSND, args=["--role", "sb", "--ns-links", "127.0.0.1:%d" % lsock.getsockname()[1]])
    try:
        sb.start()
        conn, f = accept_sb_link(lsock, sb)
        c = msntest.Client(sb.sb, timeout=25)
        started = time.monotonic()
        c.send_line("USR 4 alice@example.com 1.2.3")
        c.expect_line("601 4")
        waited = time.monotonic() - started
        assert 9.5 < waited < 12, waited
        c.expect_closed()
        assert f.readline().startswith(b"AUTH ")
        assert "notification server did not answer in time" in sb.log_text()
        assert "notification server unlinked" not in sb.log_text()
        assert ('msg="switchboard login refused" conn=' in sb.log_text() and
                'user=alice@example.com error=601 reason="notification server 127.0.0.1:%d did not answer in 10 s"'
                % lsock.getsockname()[1] in sb.log_text()), sb.log_text()
        conn.close()
    finally:
        lsock.close()
        assert sb.stop() in (0, None)
        sb.cleanup()


def test_failed_call_says_why():
    """A CAL whose RING the notification server cannot take says why on the
    switchboard, at warn level: the link was lost with the request waiting,
    or is not up. A callee who is not online (217) is not logged at the
    default level."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    port = lsock.getsockname()[1]
    sb = msntest.MsndServer(MSND, args=["--role", "sb", "--ns-links", "127.0.0.1:%d" % port, "--log-level", "info"])
    conn = None
    try:
        sb.start()
        conn, f = accept_sb_link(lsock, sb)
        c = msntest.Client(sb.sb)
        c.send_line("USR 1 alice@example.com 1.2.3")
        auth = f.readline().split()
        assert auth[0] == b"AUTH", auth
        conn.sendall(b"AUTH %s OK alice\r\n" % auth[1])
        c.expect_line("USR 1 OK alice@example.com alice")
        # not online: 217, and nothing at warn or info
        c.send_line("CAL 2 bob@example.com")
        ring = f.readline().split()
        assert ring[0] == b"RING" and ring[-1] == b"bob@example.com", ring
        conn.sendall(b"RING %s NO\r\n" % ring[1])
        c.expect_line("217 2")
        # the link goes with the RING waiting: 601, and why
        c.send_line("CAL 3 carol@example.com")
        ring = f.readline().split()
        assert ring[0] == b"RING", ring
        f.close()
        conn.shutdown(socket.SHUT_RDWR)
        conn.close()
        conn = None
        c.expect_line("601 3")
        lines = [x for x in sb.log_text().splitlines() if 'msg="call failed"' in x]
        assert len(lines) == 1, sb.log_text()
        assert "level=warn" in lines[0] and "caller=alice@example.com callee=carol@example.com error=601" in lines[0]
        assert 'reason="link to notification server 127.0.0.1:%d lost: ' % port in lines[0], lines
        # the link is not up (the redial is never answered): 601, and why
        c.send_line("CAL 4 dave@example.com")
        c.expect_line("601 4")
        lines = [x for x in sb.log_text().splitlines() if 'msg="call failed"' in x]
        assert len(lines) == 2, sb.log_text()
        assert ('callee=dave@example.com error=601 reason="notification server 127.0.0.1:%d is not linked"' % port
                in lines[1]), lines
        assert "bob@example.com" not in sb.log_text(), sb.log_text()
        c.close()
    finally:
        if conn:
            conn.close()
        lsock.close()
        assert sb.stop() in (0, None)
        sb.cleanup()


def test_switchboard_started_before_its_notification_server():
    """A switchboard whose --ns-links names no listener (a wrong address, or
    the notification server not started yet) says so once at the default
    log level, naming the address and the options to check; clients get
    601 meanwhile; it links by itself once the notification server is up."""
    port = free_port()
    link = "127.0.0.1:%d" % port
    sb = msntest.MsndServer(MSND, args=["--role", "sb", "--ns-links", link, "--log-level", "info"])
    ns = msntest.MsndServer(MSND, args=["--role", "ds,ns", "--link-listen", link])
    ns.copy_db_from(TEMPLATE)
    try:
        sb.start()
        c = msntest.Client(sb.sb)
        c.send_line("USR 1 alice@example.com 1.2.3")
        c.expect_line("601 1")
        c.expect_closed()
        assert ('user=alice@example.com error=601 reason="notification server %s is not linked"' % link
                in sb.log_text()), sb.log_text()
        wait_log(sb, "cannot link to notification server")
        line = [x for x in sb.log_text().splitlines() if "cannot link to notification server" in x][0]
        assert "level=warn" in line and "ns=%s" % link in line and "--ns-links" in line, line
        time.sleep(0.5)  # retried meanwhile (0.1 s, 0.2 s, ...): still one warning
        ns.start()
        a = online(ns, "alice@example.com")
        a.email = "alice@example.com"
        wait_linked(a, want=addr(sb))
        msntest.open_switchboard(ns, a).close()
        assert sb.log_text().count("cannot link to notification server") == 1, sb.log_text()
    finally:
        assert sb.stop() in (0, None)
        sb.cleanup()
        assert ns.stop() in (0, None)
        ns.cleanup()


def free_port():
    """A port nobody uses now, for link addresses that two processes must
    know of each other before either starts. Taken below the kernel's
    ephemeral range, so that no client connection of a test running
    alongside can take it before msnd binds it."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below %d" % low)


class TwoNodes:
    """Two notification servers (each with its own switchboard) on one
    shared database, telling each other their users' presence (--ns-peers)."""

    def __init__(self, link_host="127.0.0.1", roles="ns,sb", args=(), shared_peers=False):
        self.link_host = link_host
        self.roles = roles
        self.args = list(args)
        self.shared_peers = shared_peers  # one --ns-peers list naming both nodes, as a shared config would
        self.db = msntest.db_copy(TEMPLATE)
        self.make_nodes()

    def make_nodes(self):
        self.links = [free_port(), free_port()]
        while self.links[1] == self.links[0]:
            self.links[1] = free_port()
        self.nodes = []
        for i in (0, 1):
            peers = ",".join("127.0.0.1:%d" % p for p in (self.links if self.shared_peers else [self.links[1 - i]]))
            args = ["--role", self.roles, "--db", self.db, "--link-listen", "%s:%d" % (self.link_host, self.links[i]),
                    "--ns-peers", peers] + self.args
            self.nodes.append(msntest.MsndServer(MSND, args=args))

    def start_nodes(self):
        """Starts both nodes; a link port that another process took between
        free_port and msnd's bind is tried again with new ones (the port
        must be known to both nodes before either starts, so it cannot be
        left to the kernel)."""
        for attempt in range(5):
            try:
                for n in self.nodes:
                    n.start()
                return
            except RuntimeError as e:
                if "Address already in use" not in str(e) or attempt == 4:
                    raise
                for n in self.nodes:
                    n.stop()
                    n.cleanup()
                self.make_nodes()

    def wait_peered(self, i, timeout=15.0):
        """Until node i, since its last start, has dialled the other node and
        has had the other node's snapshot of its users."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.nodes[i].log_text().rsplit('msg="ready"', 1)[-1]
            if "linked to notification peer" in log and "notification peer in sync" in log:
                return
            assert time.monotonic() < deadline, "nodes never linked:\n" + self.nodes[i].log_text()[-3000:]
            time.sleep(0.05)

    def __enter__(self):
        self.start_nodes()
        self.wait_peered(0)
        self.wait_peered(1)
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is not None:
            for n in self.nodes:
                print("---- node log ----\n" + n.log_text()[-4000:])
        rcs = [n.stop() for n in self.nodes]
        for n in self.nodes:
            n.cleanup()
        msntest.db_drop(self.db)
        if exc_type is None:
            assert all(rc in (0, None) for rc in rcs), rcs


def next_presence(c, email):
    """The next NLN/FLN/ILN about email (others are skipped)."""
    while True:
        cmd = c.read_cmd()
        if cmd.name in ("NLN", "FLN", "ILN") and email in cmd.args:
            return cmd


def next_named(c, name):
    """The next command called name. Other nodes' notices (an ADD RL told
    by the other node, say) may arrive in any order around it."""
    while True:
        cmd = c.read_cmd()
        if cmd.name == name:
            return cmd


def reply(c, t, name):
    """The server's answer to our command with trid t."""
    while True:
        cmd = c.read_cmd()
        if cmd.name == name and cmd.args and cmd.args[0] == str(t):
            return cmd


def next_rl(c):
    """The next ADD/REM on RL (someone added or removed c; others skipped)."""
    while True:
        cmd = c.read_cmd()
        if cmd.name in ("ADD", "REM") and len(cmd.args) > 1 and cmd.args[1] == "RL":
            return cmd


E, N = "example@passport.com", "name_123@hotmail.com"


def send(c, line, *args):
    """Send line with the next trid for {t} (and args for its %s); returns the trid."""
    t = c.trid()
    c.send_line(line.format(t=t) % args if args else line.format(t=t))
    return t


def test_presence_across_notification_nodes():
    with TwoNodes() as tn:
        n1, n2 = tn.nodes
        e = online(n1, E, via_ds=False)
        t = send(e, "ADD {t} FL %s name_123", N)
        e.expect("ADD")
        n = online(n2, N, via_ds=False)
        assert next_presence(e, N).line == "NLN NLN %s name_123" % N  # N's login on node 2 reaches node 1
        # ADD FL of a user on the other node: ILN from what that node told us
        t = send(n, "ADD {t} FL %s x", E)
        reply(n, t, "ADD")
        got = next_presence(n, E)
        assert got.line == "ILN %d NLN %s my%%20screen%%20name" % (t, E), got
        rl = next_rl(e)  # and E, on node 1, learns that N added E
        assert rl.args[0] == "0" and rl.args[3:] == [N, "name_123"], rl
        # and E, on node 1, hears of N's status changes the same way
        t = send(n, "CHG {t} AWY")
        assert next_presence(e, N).line == "NLN AWY %s name_123" % N
        # status and name changes on node 1 reach the watcher on node 2
        t = send(e, "CHG {t} BSY")
        got = next_presence(n, E)
        assert got.line == "NLN BSY %s my%%20screen%%20name" % E, got
        t = send(e, "REA {t} %s New%%20Name", E)
        assert next_presence(n, E).line == "NLN BSY %s New%%20Name" % E
        # privacy decided on node 1 applies on node 2: blocked -> FLN, unblocked -> NLN
        t = send(e, "ADD {t} BL %s name_123", N)
        assert next_presence(n, E).line == "FLN %s" % E
        t = send(e, "REM {t} BL %s", N)
        assert next_presence(n, E).line == "NLN BSY %s New%%20Name" % E
        # appearing offline and back
        t = send(e, "CHG {t} HDN")
        assert next_presence(n, E).line == "FLN %s" % E
        # RL changes reach E on node 1 while hidden too
        send(n, "REM {t} FL %s", E)
        rl = next_rl(e)
        assert rl.name == "REM" and rl.args[3:] == [N], rl
        send(n, "ADD {t} FL %s x", E)
        rl = next_rl(e)
        assert rl.name == "ADD" and rl.args[3:] == [N, "name_123"], rl
        t = send(e, "CHG {t} NLN")
        assert next_presence(n, E).line == "NLN NLN %s New%%20Name" % E
        # a new login on node 2 gets ILN for the user on node 1
        n.close()
        assert next_presence(e, N).line == "FLN %s" % N
        n = login(n2, N, via_ds=False)
        t = send(n, "CHG {t} NLN")
        assert next_presence(n, E).line == "ILN %d NLN %s New%%20Name" % (t, E)
        assert next_presence(e, N).line == "NLN NLN %s name_123" % N
        # logging out on node 1
        e.send_line("OUT")
        assert next_presence(n, E).line == "FLN %s" % E
        e = online(n1, E, via_ds=False)
        assert next_presence(n, E).line == "NLN NLN %s New%%20Name" % E
        # node 1 killed: its users go offline on node 2
        n1.proc.kill()
        n1.proc.wait(10)
        assert next_presence(n, E).line == "FLN %s" % E
        # node 1 back: node 2 tells it who is online there (ILN for E), and
        # E's return reaches N
        n1.start()
        tn.wait_peered(0)
        tn.wait_peered(1)
        e = login(n1, E, via_ds=False)
        t = send(e, "CHG {t} NLN")
        got = next_presence(e, N)
        assert got.line == "ILN %d NLN %s name_123" % (t, N), got
        assert next_presence(n, E).line == "NLN NLN %s New%%20Name" % E


def drain(c):
    """Everything c is sent up to the QNG of a PNG sent now."""
    c.send_line("PNG")
    got = []
    while True:
        cmd = c.read_cmd()
        if cmd.name == "QNG":
            return got
        got.append(cmd)


def no_presence_before_qng(c, email):
    """PNG, then everything up to its QNG: nothing about email may come first
    (what a fan-out sent this client in the same pass is ahead of the QNG)."""
    for cmd in drain(c):
        assert not (cmd.name in ("NLN", "FLN", "ILN") and email in cmd.args), cmd.line


def test_remote_watchers_follow_changes_made_on_the_other_node():
    """Node 2 keeps the watchers of node 1's users, so a change of theirs
    costs node 2 no query. Lists changed on node 1 reach what node 2 keeps:
    a watcher who added the user on node 1 hears the next change on node 2,
    one who removed it there hears nothing more, and a block decided on
    node 1 is never undone by rows node 2 read before it."""
    A = "alice@example.com"
    with TwoNodes() as tn:
        n1, n2 = tn.nodes
        n = online(n2, N, via_ds=False)
        t = send(n, "ADD {t} FL %s x", E)
        reply(n, t, "ADD")
        e = online(n1, E, via_ds=False)
        assert next_presence(n, E).line == "NLN NLN %s my%%20screen%%20name" % E  # node 2 reads E's watchers
        send(e, "CHG {t} BSY")
        assert next_presence(n, E).line == "NLN BSY %s my%%20screen%%20name" % E  # from what it kept
        # alice adds E on node 1, then logs in on node 2 (which ends her
        # session on node 1: one session per account)
        a1 = online(n1, A, via_ds=False)
        t = send(a1, "ADD {t} FL %s E", E)
        reply(a1, t, "ADD")
        a2 = online(n2, A, via_ds=False)
        assert next_presence(a2, E).line.endswith("BSY %s my%%20screen%%20name" % E)  # ILN
        assert next_named(a1, "OUT").line == "OUT OTH"
        send(e, "CHG {t} AWY")
        assert next_presence(a2, E).line == "NLN AWY %s my%%20screen%%20name" % E
        assert next_presence(n, E).line == "NLN AWY %s my%%20screen%%20name" % E
        # E blocks N (node 1): FLN to N, and E's next change is not told to N
        send(e, "ADD {t} BL %s name_123", N)
        assert next_presence(n, E).line == "FLN %s" % E
        send(e, "CHG {t} BSY")
        assert next_presence(a2, E).line == "NLN BSY %s my%%20screen%%20name" % E
        no_presence_before_qng(n, E)
        send(e, "REM {t} BL %s", N)
        assert next_presence(n, E).line == "NLN BSY %s my%%20screen%%20name" % E
        # alice removes E on node 1 (logging in there ends her node-2
        # session), then comes back to node 2: there she hears no more of E
        a1 = online(n1, A, via_ds=False)
        assert next_named(a2, "OUT").line == "OUT OTH"
        t = send(a1, "REM {t} FL %s", E)
        reply(a1, t, "REM")
        a2 = online(n2, A, via_ds=False)
        send(e, "CHG {t} NLN")
        assert next_presence(n, E).line == "NLN NLN %s my%%20screen%%20name" % E
        no_presence_before_qng(a2, E)
        for c in (a1, a2, n, e):
            c.close()


def sync_view(c):
    """SYN 0 on a fresh login: {list: set of e-mails} of FL, AL, BL, RL."""
    t = send(c, "SYN {t} 0")
    view = {"FL": set(), "AL": set(), "BL": set(), "RL": set()}
    while True:
        cmd = c.read_cmd()
        if cmd.name != "LST" or cmd.args[0] != str(t):
            continue
        if len(cmd.args) > 5:
            view[cmd.args[1]].add(cmd.args[5])
        if cmd.args[1] == "RL" and cmd.args[3] == cmd.args[4]:
            return view


@contextlib.contextmanager
def switchboard_process_linked(tn):
    """A --role sb process linked to every node of tn (waited for), stopped
    cleanly at the end."""
    links = ",".join("127.0.0.1:%d" % p for p in tn.links)
    sbp = msntest.MsndServer(MSND, args=["--role", "sb", "--ns-links", links])
    sbp.start()
    try:
        deadline = time.monotonic() + 10
        while sbp.log_text().count("notification server linked") < len(tn.links):
            assert time.monotonic() < deadline, sbp.log_text()
            time.sleep(0.05)
        yield sbp
    finally:
        assert sbp.stop() in (0, None)


def view_at_login(node, email, view, want):
    """What view(c) shows at a fresh login of email on node: logins are
    tried again for up to 5 s while it is not want (the other node's change
    is seen once its notice has arrived), and the last answer returned."""
    deadline = time.monotonic() + 5.0
    while True:
        c = login(node, email, via_ds=False)
        got = view(c)
        c.close()
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_xfr_cookie_ends_when_another_node_takes_the_login():
    """A second login on another node ends the session on the first (OUT
    OTH), and with it the XFR SB cookies the first node issued to it: a
    switchboard process asking that node is told NO. The new session's
    cookie, from the other node, works."""
    A = "alice@example.com"
    with TwoNodes(roles="ns") as tn:
        n1, n2 = tn.nodes
        with switchboard_process_linked(tn) as sbp:
            a1 = online(n1, A, via_ds=False)
            old = xfr_sb(a1)
            assert old.name == "XFR", old
            a2 = online(n2, A, via_ds=False)
            assert next_named(a1, "OUT").line == "OUT OTH"
            new = xfr_sb(a2)
            s = msntest.Client(sbp.sb)
            s.send_line("USR 1 %s %s" % (A, old.args[4]))
            s.expect_error(911, 1)
            s.expect_closed()
            s = msntest.Client(sbp.sb)
            s.send_line("USR 1 %s %s" % (A, new.args[4]))
            assert s.expect("USR").args[1] == "OK"
            sbp.cleanup()


def test_logins_on_either_node_see_every_list_change():
    """Each node keeps the login snapshots of the accounts it has read,
    dropped when a change touches the account's rows (SQLite: any change;
    PostgreSQL reads a login's snapshot anew with its password, so there
    this checks that read). Random ADD and REM on FL, AL and BL, made on
    either node, each followed by a login of a random account on a random
    node: its SYN must come to show exactly the lists the changes left (the
    other node's change is seen once its notice has arrived, so a stale
    answer is retried for up to 5 s, never accepted for good)."""
    rng = random.Random(1402)
    emails = [u[0] for u in USERS]
    model = {e: {"FL": set(), "AL": set(), "BL": set()} for e in emails}
    opposite = {"AL": "BL", "BL": "AL"}
    with TwoNodes() as tn:
        for step in range(40):
            who, lst = rng.choice(emails), rng.choice(["FL", "AL", "BL"])
            other = rng.choice([e for e in emails if e != who])
            c = login(tn.nodes[rng.randrange(2)], who, via_ds=False)
            sync_view(c)
            if other in model[who][lst]:
                t, ok = send(c, "REM {t} %s %s", lst, other), True
            else:
                t = send(c, "ADD {t} %s %s %s", lst, other, other.split("@")[0])
                ok = lst == "FL" or other not in model[who][opposite[lst]]
            while True:
                cmd = c.read_cmd()
                if cmd.args and cmd.args[0] == str(t):
                    break
            assert (cmd.name in ("ADD", "REM")) == ok, (step, who, lst, other, cmd.line)
            if ok and cmd.name == "ADD":
                model[who][lst].add(other)
            elif ok:
                model[who][lst].discard(other)
            c.close()
            w, node = rng.choice(emails), rng.randrange(2)
            want = dict(model[w], RL={e for e in emails if w in model[e]["FL"]})
            got = view_at_login(tn.nodes[node], w, sync_view, want)
            assert got == want, (step, w, node, got, want)


def sync_own_rows(c):
    """SYN 0 on a fresh login: (GTC, {gid: group name}, {contact: (name,
    groups)} of FL), the rows that are the account's own alone."""
    t = send(c, "SYN {t} 0")
    gtc, groups, fl = None, {}, {}
    while True:
        cmd = c.read_cmd()
        if not cmd.args or cmd.args[0] != str(t):
            continue
        if cmd.name == "GTC":
            gtc = cmd.args[2]
        elif cmd.name == "LSG" and len(cmd.args) > 5:
            groups[cmd.args[4]] = cmd.args[5]
        elif cmd.name == "LST" and cmd.args[1] == "FL" and len(cmd.args) > 6:
            fl[cmd.args[5]] = (cmd.args[6], cmd.args[7] if len(cmd.args) > 7 else "")
        elif cmd.name == "LST" and cmd.args[1] == "RL" and cmd.args[3] == cmd.args[4]:
            return gtc, groups, fl


def test_logins_on_either_node_see_group_gtc_and_name_changes():
    """A change of an account's groups (ADG, REG, RMG), of its GTC or of the
    name it gave a contact (REA) drops only that account's cached login
    snapshot on the node that makes it; the other node hears of it through
    the store (PostgreSQL reads a login's snapshot anew with its password,
    so there this checks that read; the store unit tests check the marks).
    Random such changes, made on either node, each followed by a
    login of a random account on a random node: its SYN must come to show
    exactly the groups, GTC and FL names the changes left (retried for up
    to 5 s for the other node's notice, never accepted stale for good)."""
    rng = random.Random(714)
    emails = [u[0] for u in USERS]
    model = {e: {"gtc": "A", "groups": {"0": "Other%20Contacts"}, "fl": {}} for e in emails}
    with TwoNodes() as tn:
        for step in range(40):
            who = rng.choice(emails)
            m = model[who]
            c = login(tn.nodes[rng.randrange(2)], who, via_ds=False)
            sync_own_rows(c)
            others = [e for e in emails if e != who]
            named = [g for g in m["groups"] if g != "0"]
            op = rng.choice(["ADD", "REA", "ADG", "REG", "RMG", "GTC"])
            if op == "ADD" or (op == "REA" and not m["fl"]):
                other = rng.choice([e for e in others if e not in m["fl"]] or others)
                if other in m["fl"]:
                    op = "GTC"
                else:
                    t = send(c, "ADD {t} FL %s %s", other, other.split("@")[0])
                    assert answer(c, t).name == "ADD", step
                    m["fl"][other] = (other.split("@")[0], "0")
            if op == "REA":
                other = rng.choice(sorted(m["fl"]))
                name = "n%d" % step
                t = send(c, "REA {t} %s %s", other, name)
                assert answer(c, t).name == "REA", step
                m["fl"][other] = (name, m["fl"][other][1])
            elif op == "ADG" or (op in ("REG", "RMG") and not named):
                t = send(c, "ADG {t} g%d 0", step)
                cmd = answer(c, t)
                assert cmd.name == "ADG", (step, cmd.line)
                m["groups"][cmd.args[3]] = "g%d" % step
            elif op == "REG":
                g = rng.choice(named)
                t = send(c, "REG {t} %s r%d 0", g, step)
                assert answer(c, t).name == "REG", step
                m["groups"][g] = "r%d" % step
            elif op == "RMG":
                g = rng.choice(named)
                t = send(c, "RMG {t} %s", g)
                assert answer(c, t).name == "RMG", step
                del m["groups"][g]
            elif op == "GTC":
                m["gtc"] = "N" if m["gtc"] == "A" else "A"
                t = send(c, "GTC {t} %s", m["gtc"])
                assert answer(c, t).name == "GTC", step
            c.close()
            w, node = rng.choice(emails), rng.randrange(2)
            want = (model[w]["gtc"], dict(model[w]["groups"]), dict(model[w]["fl"]))
            got = view_at_login(tn.nodes[node], w, sync_own_rows, want)
            assert got == want, (step, op, w, node, got, want)


def answer(c, t):
    """The server's answer to trid t (a reply or an error code)."""
    while True:
        cmd = c.read_cmd()
        if cmd.args and cmd.args[0] == str(t):
            return cmd


def test_presence_follows_list_changes_on_either_node():
    """The watchers each node keeps, of its own users and of the other
    node's, are dropped when a change touches them (PostgreSQL: only the
    accounts a change names). Five users online, spread over both nodes;
    random ADD and REM on FL, AL and BL, each followed by a status change of
    a random user: exactly the users with it on FL and not on its BL hear it
    (within 5 s; whoever may not, hears nothing of it)."""
    rng = random.Random(1863)
    emails = [u[0] for u in USERS]
    names = {u[0]: u[2].replace(" ", "%20") for u in USERS}
    model = {e: {"FL": set(), "AL": set(), "BL": set()} for e in emails}
    opposite = {"AL": "BL", "BL": "AL"}
    statuses = ["BSY", "AWY", "BRB", "PHN", "LUN", "IDL", "NLN"]
    with TwoNodes() as tn:
        sess = {e: online(tn.nodes[i % 2], e, via_ds=False) for i, e in enumerate(emails)}
        status = {e: "NLN" for e in emails}
        for step in range(30):
            who, lst = rng.choice(emails), rng.choice(["FL", "AL", "BL"])
            other = rng.choice([e for e in emails if e != who])
            c = sess[who]
            if other in model[who][lst]:
                t, ok = send(c, "REM {t} %s %s", lst, other), True
            else:
                t = send(c, "ADD {t} %s %s %s", lst, other, other.split("@")[0])
                ok = lst == "FL" or other not in model[who][opposite[lst]]
            cmd = answer(c, t)
            assert (cmd.name in ("ADD", "REM")) == ok, (step, who, lst, other, cmd.line)
            if ok and cmd.name == "ADD":
                model[who][lst].add(other)
            elif ok:
                model[who][lst].discard(other)
            time.sleep(0.2)  # the change's notices and peer lines
            for x in emails:
                drain(sess[x])
            w = rng.choice(emails)
            status[w] = rng.choice([st for st in statuses if st != status[w]])
            answer(sess[w], send(sess[w], "CHG {t} %s", status[w]))
            line = "NLN %s %s %s" % (status[w], w, names[w])
            hears = {x for x in emails if x != w and w in model[x]["FL"] and x not in model[w]["BL"]}
            for x in sorted(hears):
                seen = []
                while True:
                    try:
                        cmd = sess[x].read_cmd(timeout=5.0)
                    except TimeoutError:
                        raise AssertionError("step %d: %s never heard %r; heard %r; lists %r" %
                                             (step, x, line, seen, model)) from None
                    if cmd.line == line:
                        break
                    seen.append(cmd.line)
            time.sleep(0.2)
            for x in emails:
                if x != w and x not in hears:
                    got = [cmd.line for cmd in drain(sess[x])]
                    assert line not in got, (step, w, x, line, got)
        for c in sess.values():
            c.close()


def test_kept_watchers_follow_logins_and_logouts():
    """Each node keeps, with a user's watchers, which of them are logged in
    there (their connections): a watcher who logs out, logs in again on the
    same node (a new session, or one replacing the old), or moves to the
    other node hears the user's next change on the session it has now, on
    the node the user is on as on the other, and never on a session that
    went."""
    A = "alice@example.com"

    def hear_nln(status, *conns):
        for c in conns:
            assert next_presence(c, E).line == "NLN %s %s my%%20screen%%20name" % (status, E)

    with TwoNodes() as tn:
        n1, n2 = tn.nodes
        n = online(n2, N, via_ds=False)
        t = send(n, "ADD {t} FL %s x", E)
        reply(n, t, "ADD")
        a = online(n2, A, via_ds=False)
        t = send(a, "ADD {t} FL %s E", E)
        reply(a, t, "ADD")
        e = online(n1, E, via_ds=False)
        hear_nln("NLN", n, a)
        send(e, "CHG {t} BSY")  # node 1 and node 2 keep E's watchers now
        hear_nln("BSY", n, a)
        # alice moves to node 1, where E is: she hears E from node 1 itself
        a.send_line("OUT")
        a.close()
        a = online(n1, A, via_ds=False)
        assert next_presence(a, E).line.startswith("ILN ")
        send(e, "CHG {t} AWY")
        hear_nln("AWY", n, a)
        # and back to node 2, twice: the second login replaces the first
        a.send_line("OUT")
        a.close()
        old = online(n2, A, via_ds=False)
        assert next_presence(old, E).line.startswith("ILN ")
        a = online(n2, A, via_ds=False)
        assert next_named(old, "OUT").args == ["OTH"]
        assert next_presence(a, E).line.startswith("ILN ")
        send(e, "CHG {t} BSY")
        hear_nln("BSY", n, a)
        # N logs out of node 2 and in on node 1: E's changes reach N there
        # and nobody on node 2 but alice
        n.send_line("OUT")
        n.close()
        n = online(n1, N, via_ds=False)
        assert next_presence(n, E).line.startswith("ILN ")
        send(e, "CHG {t} NLN")
        hear_nln("NLN", n, a)
        # E logs out: FLN on both nodes, from the connections they have now
        e.send_line("OUT")
        for c in (n, a):
            assert next_presence(c, E).line == "FLN %s" % E
        for c in (a, n, e, old):
            c.close()


def test_chat_across_notification_nodes():
    """A CAL at node 1's switchboard for a user of node 2: node 2 rings with
    node 1's switchboard address, the callee joins there and messages flow;
    a callee online nowhere, or hidden, is 217 as before. Also with the
    link listeners bound to the wildcard address (each node then names
    itself by the address its link leaves from)."""
    chat_across_nodes("127.0.0.1")
    chat_across_nodes("0.0.0.0")


def test_unanswered_ring_across_nodes_ends_with_callee_session():
    """A ring node 2 made for node 1's switchboard ends when the callee's
    session there ends (node 2 says OFF): 217 while the callee is offline,
    a new RNG once it is back on node 2, not 215 until the cookie expires."""
    with TwoNodes() as tn:
        n1, n2 = tn.nodes
        e = online(n1, E, via_ds=False)
        send(e, "ADD {t} FL %s name_123", N)
        e.expect("ADD")
        n = online(n2, N, via_ds=False)
        assert next_presence(e, N).line == "NLN NLN %s name_123" % N
        sb = msntest.open_switchboard(n1, e)
        t = send(sb, "CAL {t} %s", N)
        assert sb.expect("CAL").args[:2] == [str(t), "RINGING"]
        next_named(n, "RNG")
        n.send_line("OUT")
        n.close()
        assert next_presence(e, N).line == "FLN %s" % N  # node 1 heard OFF
        t = send(sb, "CAL {t} %s", N)
        sb.expect_line("217 %d" % t)
        n = online(n2, N, via_ds=False)
        assert next_presence(e, N).line == "NLN NLN %s name_123" % N
        t = send(sb, "CAL {t} %s", N)
        assert sb.expect("CAL").args[:2] == [str(t), "RINGING"]
        next_named(n, "RNG")
        for c in (sb, n, e):
            c.close()


def test_hidden_or_logged_out_caller_of_another_node_cannot_ring():
    """A user of node 2 rung into a switchboard of node 1 who then goes
    hidden, or logs out, on node 2 may not ring anyone from it: node 1
    heard OFF, the caller appears offline to its users, and the CAL gets
    913 (the RNG would show the caller online). Visible again on node 2,
    the caller rings from the same switchboard."""
    C = "carol@example.com"
    with TwoNodes() as tn:
        n1, n2 = tn.nodes
        e = online(n1, E, via_ds=False)
        send(e, "ADD {t} FL %s name_123", N)  # to see node 1 hear of N
        e.expect("ADD")
        c = online(n1, C, via_ds=False)
        n = online(n2, N, via_ds=False)
        assert next_presence(e, N).line == "NLN NLN %s name_123" % N
        sb = msntest.open_switchboard(n1, e)
        bs = msntest.join_by_ring(n1, n, call(sb, n, N))
        sb.expect("JOI")
        t = send(n, "CHG {t} HDN")
        assert next_presence(e, N).line == "FLN %s" % N
        t = send(bs, "CAL {t} %s", C)
        bs.expect_error(913, t)
        c.expect_silence(0.2)
        t = send(n, "CHG {t} NLN")
        assert next_presence(e, N).line == "NLN NLN %s name_123" % N
        rng = call(bs, c, C)
        assert rng.args[4] == N, rng
        n.send_line("OUT")
        n.close()
        assert next_presence(e, N).line == "FLN %s" % N
        t = send(bs, "CAL {t} alice@example.com")
        bs.expect_error(913, t)
        for x in (sb, bs, c, e):
            x.close()


def test_hidden_caller_of_another_node_cannot_ring_from_a_switchboard_process():
    """The same with a switchboard process: the callee's node (node 1)
    answers HIDDEN for a caller of node 2 that it knows to be hidden there
    (node 2 said OFF), and rings once node 2 says it is visible again."""
    C = "carol@example.com"
    with TwoNodes(roles="ns") as tn:
        n1, n2 = tn.nodes
        with switchboard_process_linked(tn) as sbp:
            e = online(n1, E, via_ds=False)
            send(e, "ADD {t} FL %s name_123", N)  # to see node 1 hear of N
            e.expect("ADD")
            c = online(n1, C, via_ds=False)
            n = online(n2, N, via_ds=False)
            n.email = N
            assert next_presence(e, N).line == "NLN NLN %s name_123" % N
            sb = msntest.open_switchboard(n2, n)
            t = send(n, "CHG {t} HDN")
            assert next_presence(e, N).line == "FLN %s" % N
            t = send(sb, "CAL {t} %s", C)
            sb.expect_error(913, t)
            c.expect_silence(0.2)
            t = send(n, "CHG {t} NLN")
            assert next_presence(e, N).line == "NLN NLN %s name_123" % N
            rng = call(sb, c, C)
            assert rng.args[1] == addr(sbp) and rng.args[4] == N, rng
            for x in (sb, c, e, n):
                x.close()
            sbp.cleanup()


def test_deleted_account_leaves_switchboards_of_other_nodes():
    """msnd user del of a user of node 2 rung into a switchboard of node 1:
    node 2 ends its session (OUT) and tells node 1 (GONE), which closes its
    switchboard connection there; the others see BYE."""
    with TwoNodes() as tn:
        n1, n2 = tn.nodes
        e = online(n1, E, via_ds=False)
        send(e, "ADD {t} FL %s name_123", N)
        e.expect("ADD")
        n = online(n2, N, via_ds=False)
        assert next_presence(e, N).line == "NLN NLN %s name_123" % N
        sb = msntest.open_switchboard(n1, e)
        bs = msntest.join_by_ring(n1, n, call(sb, n, N))
        sb.expect_line("JOI %s name_123" % N)
        r = subprocess.run([MSND, "user", "del", N, "--db", tn.db], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert next_named(n, "OUT").line == "OUT"
        n.expect_closed()
        bs.expect_closed()
        sb.expect_line("BYE %s" % N)
        assert "account deleted, switchboard connection closed" in n1.log_text()
        for x in (sb, e):
            x.close()


def chat_across_nodes(link_host):
    with TwoNodes(link_host) as tn:
        n1, n2 = tn.nodes
        e = online(n1, E, via_ds=False)
        send(e, "ADD {t} FL %s name_123", N)
        e.expect("ADD")
        n = online(n2, N, via_ds=False)
        assert next_presence(e, N).line == "NLN NLN %s name_123" % N  # node 1 knows N is online
        sb = msntest.open_switchboard(n1, e)
        t = send(sb, "CAL {t} %s", N)
        r = sb.expect("CAL")
        assert r.args[:2] == [str(t), "RINGING"], r
        rng = next_named(n, "RNG")
        assert rng.args[0] == r.args[2] and rng.args[1] == "%s:%d" % n1.sb, rng
        assert rng.args[4:] == [E, "my%20screen%20name"], rng
        bs = msntest.join_by_ring(n2, n, rng)
        assert [i.args[3] for i in bs.roster] == [E], bs.roster
        sb.expect_line("JOI %s name_123" % N)
        sb.send_msg(sb.trid(), "A", IM)
        m = bs.expect("MSG")
        assert m.payload == IM and m.args[0] == E, m
        sb.expect("ACK")
        bs.send_msg(bs.trid(), "N", IM)
        assert sb.expect("MSG").args[0] == N
        # nobody else rings: offline everywhere, then hidden on node 2
        t = send(sb, "CAL {t} alice@example.com")
        sb.expect_line("217 %d" % t)
        t = send(n, "CHG {t} HDN")
        assert next_presence(e, N).line == "FLN %s" % N
        t = send(sb, "CAL {t} %s", N)
        sb.expect_line("215 %d" % t)  # N is still in this session
        sb2 = msntest.open_switchboard(n1, e)
        t = send(sb2, "CAL {t} %s", N)
        sb2.expect_line("217 %d" % t)
        for c in (sb, bs, sb2):
            c.close()


def email_node(email, nodes):
    """The node index the DS (and a switchboard) picks for email: msnd's
    documented e-mail hash (FNV-1a, then a bit mix) modulo the node count."""
    h = 2166136261
    for ch in email.lower().encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x7FEB352D) & 0xFFFFFFFF
    h ^= h >> 15
    return h % nodes


def test_switchboard_process_asks_the_node_that_holds_the_user():
    """A switchboard process asks the node the e-mail's hash picks; when
    that node says the cookie or the callee is not its own, it asks the
    other nodes. So a cookie tried with a wrong e-mail reaches the node that
    issued it, which consumes it (the right e-mail then fails too, as on one
    node), and a user logged in to a node its hash does not pick (directly,
    not through the DS) can open switchboards and be rung."""
    near, wrong, far = "bob@example.com", "alice@example.com", E
    assert [email_node(x, 2) for x in (near, wrong, far)] == [0, 1, 1]
    with TwoNodes(roles="ns") as tn:
        n1, _ = tn.nodes
        with switchboard_process_linked(tn) as sbp:
            b = online(n1, near, via_ds=False)
            f = online(n1, far, via_ds=False)  # on node 1, though its hash picks node 2
            # a wrong e-mail burns the cookie at the node that issued it
            x = xfr_sb(b)
            assert x.name == "XFR" and x.args[2] == addr(sbp), x
            s = msntest.Client(sbp.sb)
            s.send_line("USR 1 %s %s" % (wrong, x.args[4]))
            s.expect_error(911, 1)
            s = msntest.Client(sbp.sb)
            s.send_line("USR 1 %s %s" % (near, x.args[4]))
            s.expect_error(911, 1)
            # the user away from its hash node opens a switchboard ...
            sf = msntest.open_switchboard(n1, f)
            # ... and is rung there by a user of its node
            sb = msntest.open_switchboard(n1, b)
            t = send(sb, "CAL {t} %s", far)
            r = sb.expect("CAL")
            assert r.args[:2] == [str(t), "RINGING"], r
            rng = next_named(f, "RNG")
            assert rng.args[1] == addr(sbp), rng
            fs = msntest.join_by_ring(sbp, f, rng)
            sb.expect_line("JOI %s my%%20screen%%20name" % far)
            sb.send_msg(sb.trid(), "A", IM)
            m = fs.expect("MSG")
            assert m.payload == IM and m.args[0] == near, m
            sb.expect("ACK")
            # somebody online nowhere: every node says so, then 217
            t = send(sb, "CAL {t} %s", wrong)
            sb.expect_line("217 %d" % t)
            for c in (sf, sb, fs, b, f):
                c.close()
            sbp.cleanup()


def test_one_session_per_account_across_nodes():
    """A login on one node ends the account's session on the other (OUT
    OTH), as a second login on one node does; watchers on either node see
    the new session's status, not the old one's: offline until it changes
    status, then that status."""
    with TwoNodes() as tn:
        n1, n2 = tn.nodes
        a_old = online(n1, "alice@example.com", via_ds=False)
        b = online(n2, "bob@example.com", via_ds=False)
        send(b, "ADD {t} FL alice@example.com alice")
        assert next_presence(b, "alice@example.com").line.startswith("ILN ")
        a_new = login(n2, "alice@example.com", via_ds=False)  # no CHG yet: not visible
        assert next_named(a_old, "OUT").line == "OUT OTH"  # after the ADD RL bob's ADD made
        a_old.expect_closed()
        assert next_presence(b, "alice@example.com").line == "FLN alice@example.com"
        send(a_new, "CHG {t} BSY")
        assert next_presence(b, "alice@example.com").line == "NLN BSY alice@example.com Alice"
        # and back: the node that ended a session may lose its own the same way
        a_third = online(n1, "alice@example.com", via_ds=False, status="AWY")
        assert next_named(a_new, "OUT").line == "OUT OTH"
        a_new.expect_closed()
        seen = [next_presence(b, "alice@example.com").line for _ in range(2)]
        assert seen[-1] == "NLN AWY alice@example.com Alice", seen
        b.expect_silence(0.3)  # nothing after: no stale FLN from the ended session
        t = send(a_third, "CHG {t} NLN")
        assert reply(a_third, t, "CHG").line == "CHG %d NLN" % t
        assert next_presence(b, "alice@example.com").line == "NLN NLN alice@example.com Alice"
        for c in (a_third, b):
            c.close()


def test_own_address_in_ns_peers_is_skipped(link_host="127.0.0.1"):
    """One --ns-peers list for every node names each node's own
    --link-listen too: a node skips that entry (and says so) rather than
    link to itself, which would end every login there at once."""
    with TwoNodes(shared_peers=True, link_host=link_host) as tn:
        for i, n in enumerate(tn.nodes):
            log = n.log_text()
            want = 'msg="notification peer skipped: it is this node\'s own --link-listen" peer=127.0.0.1:%d' % tn.links[i]
            assert log.count(want) == 1, log[-3000:]
            assert log.count('msg="linked to notification peer"') == 1, log[-3000:]
        a = online(tn.nodes[0], "alice@example.com", via_ds=False)
        b = online(tn.nodes[1], "bob@example.com", via_ds=False)
        send(b, "ADD {t} FL alice@example.com alice")
        assert next_presence(b, "alice@example.com").line.startswith("ILN ")
        time.sleep(0.5)
        for c in (a, b):
            got = drain(c)  # the session stays: no OUT OTH, and the server still answers
            assert not [cmd for cmd in got if cmd.name == "OUT"], got
            c.close()


def test_own_address_in_ns_peers_is_skipped_on_a_wildcard_listener():
    """The same with --link-listen 0.0.0.0:port: the list names the node by
    one of its addresses (127.0.0.1 here), which is the node all the same."""
    test_own_address_in_ns_peers_is_skipped(link_host="0.0.0.0")


def wait_log(node, text, count=1, timeout=10.0):
    deadline = time.monotonic() + timeout
    while node.log_text().count(text) < count:
        assert time.monotonic() < deadline, "no %r in the log:\n%s" % (text, node.log_text()[-3000:])
        time.sleep(0.05)


def test_one_session_per_account_after_the_nodes_lost_each_other():
    """Both links between two nodes cut (each node's --ns-peers goes through
    a relay the test closes) while an account logs in on both nodes, once
    visible and once hidden: neither node could tell the other (LOGIN).
    Once the links are back, the older session of each account ends with
    OUT OTH and the newer one stays, and a watcher on the node that lost
    its session sees the other node's."""
    ports = [free_port(), free_port()]
    relays = [delayproxy.DelayProxy(("127.0.0.1", ports[1 - i]), delay_ms=0).start() for i in (0, 1)]
    relay_ports = [r.port for r in relays]
    db = msntest.db_copy(TEMPLATE)
    nodes = [msntest.MsndServer(MSND, args=["--role", "ns", "--db", db, "--link-listen", "127.0.0.1:%d" % ports[i],
                                            "--ns-peers", "127.0.0.1:%d" % relay_ports[i]]) for i in (0, 1)]
    try:
        for n in nodes:
            n.start()
        for n in nodes:
            wait_log(n, "linked to notification peer")
            wait_log(n, "notification peer in sync")
        e = online(nodes[0], E, via_ds=False)
        t = send(e, "ADD {t} FL alice@example.com alice")
        reply(e, t, "ADD")
        for r in relays:
            r.stop()
        for n in nodes:
            wait_log(n, "notification peer unlinked")
        a_old = online(nodes[0], "alice@example.com", via_ds=False)
        assert next_presence(e, "alice@example.com").line == "NLN NLN alice@example.com Alice"
        b_old = online(nodes[1], "bob@example.com", via_ds=False, status="HDN")
        time.sleep(0.05)  # the second logins are clearly newer
        a_new = online(nodes[1], "alice@example.com", via_ds=False, status="BSY")
        b_new = online(nodes[0], "bob@example.com", via_ds=False, status="HDN")
        relays = [delayproxy.DelayProxy(("127.0.0.1", ports[1 - i]), delay_ms=0,
                                        listen=("127.0.0.1", relay_ports[i])).start() for i in (0, 1)]
        for old in (a_old, b_old):
            assert next_named(old, "OUT").line == "OUT OTH"
            old.expect_closed()
        seen = [next_presence(e, "alice@example.com").line]
        while seen[-1].startswith("FLN"):
            seen.append(next_presence(e, "alice@example.com").line)
        assert seen[-1] == "NLN BSY alice@example.com Alice", seen
        for new in (a_new, b_new):  # still logged in: PNG answered, no OUT before it
            assert not [c for c in drain(new) if c.name == "OUT"]
        for c in (e, a_new, b_new):
            c.close()
    except Exception:
        for n in nodes:
            print("---- node log ----\n" + n.log_text()[-4000:])
        raise
    finally:
        for r in relays:
            r.stop()
        rcs = [n.stop() for n in nodes]
        for n in nodes:
            n.cleanup()
        msntest.db_drop(db)
    assert all(rc in (0, None) for rc in rcs), rcs


def try_password(node, email, source, wrong=True):
    """USR I, then (unless refused at once, or not wrong) USR S with a wrong
    password: "throttled" (911 to USR I), "challenged" or "refused" (911 to
    USR S). Only "refused" counts as a failure."""
    c = msntest.Client(node.ns, source=source)
    send(c, "VER {t} MSNP7")
    c.expect("VER")
    t = send(c, "USR {t} MD5 I %s", email)
    r = c.read_cmd()
    if r.line == "911 %d" % t:
        c.close()
        return "throttled"
    assert r.args[1:3] == ["MD5", "S"], r
    if not wrong:
        c.close()
        return "challenged"
    t = send(c, "USR {t} MD5 S 00000000000000000000000000000000")
    c.expect_line("911 %d" % t)
    c.close()
    return "refused"


def test_login_throttle_counts_failures_on_every_node():
    """A failed login on one node counts on the others (FAIL), so guessing
    at every node gets no more tries than at one node; a login forgets that
    source's failures on every node (LOGIN)."""
    A, src = "alice@example.com", "127.0.0.9"
    with TwoNodes(args=["--auth-failures-per-account", "3", "--auth-delay", "600"]) as tn:
        n1, n2 = tn.nodes
        assert try_password(n1, A, src) == "refused"
        assert try_password(n1, A, src) == "refused"
        # a login on the other node forgets both failures on both nodes ...
        login(n2, A, via_ds=False, source=src).close()
        time.sleep(0.3)  # its LOGIN line reaches node 1
        # ... so two more, one on each node, leave both nodes open
        assert try_password(n1, A, src) == "refused"
        assert try_password(n2, A, src) == "refused"
        time.sleep(0.3)
        assert [try_password(n, A, src, wrong=False) for n in (n1, n2)] == ["challenged"] * 2
        # the third, on node 2, blocks the account from that source on both
        assert try_password(n2, A, src) == "refused"
        time.sleep(0.3)  # its FAIL line reaches node 1
        assert [try_password(n, A, src, wrong=False) for n in (n1, n2)] == ["throttled"] * 2
        # other sources and other accounts are not held back
        login(n1, A, via_ds=False, source="127.0.0.10").close()
        login(n2, "bob@example.com", via_ds=False, source=src).close()


def test_presence_lines_from_a_peer():
    """The receiving side with the peer protocol typed by hand: ON, OFF,
    a node linking again (its old link is dropped and its users go
    offline until it tells them again), and the link closing."""
    with Cluster() as cl:
        a = online(cl.ns, "alice@example.com")
        t = a.trid()
        a.send_line("ADD %d FL bob@example.com Bob" % t)
        a.expect("ADD")
        link = cl.ns.link
        p1 = socket.create_connection(link, timeout=5)
        p1.sendall(b"PEER 1 127.0.0.1:5 -\r\nON bob@example.com NLN Bob\r\nSYNCED 1\r\n")
        assert p1.makefile("rb").readline() == b"HELLO 1 OK\r\n"
        assert next_presence(a, "bob@example.com").line == "NLN NLN bob@example.com Bob"
        p1.sendall(b"ON bob@example.com BSY Bobby\r\nOFF carol@example.com\r\n")
        assert next_presence(a, "bob@example.com").line == "NLN BSY bob@example.com Bobby"
        p2 = socket.create_connection(link, timeout=5)
        p2.sendall(b"PEER 1 127.0.0.1:5 -\r\n")
        assert p2.makefile("rb").readline() == b"HELLO 1 OK\r\n"
        assert next_presence(a, "bob@example.com").line == "FLN bob@example.com"
        p1.settimeout(5)
        assert p1.recv(100) == b"", "the replaced link should be closed"
        p2.sendall(b"ON bob@example.com AWY Bob\r\n")
        assert next_presence(a, "bob@example.com").line == "NLN AWY bob@example.com Bob"
        p2.sendall(b"OFF bob@example.com\r\n")
        assert next_presence(a, "bob@example.com").line == "FLN bob@example.com"
        p2.sendall(b"ON bob@example.com NLN Bob\r\n")
        assert next_presence(a, "bob@example.com").line == "NLN NLN bob@example.com Bob"
        p2.close()
        assert next_presence(a, "bob@example.com").line == "FLN bob@example.com"
        # bob logging in here himself is the truth from now on
        b = online(cl.ns, "bob@example.com")
        assert next_presence(a, "bob@example.com").line == "NLN NLN bob@example.com Bob"
        b.close()


def test_peer_lines_split_anywhere():
    """A peer's lines are handled as they complete, however the bytes come:
    a line cut across writes (even byte by byte), several in one write,
    bare LF line ends; a line over the limit closes the link."""
    with Cluster(n_sb=0) as cl:
        a = online(cl.ns, "alice@example.com")
        t = a.trid()
        a.send_line("ADD %d FL bob@example.com Bob" % t)
        a.expect("ADD")
        p = socket.create_connection(cl.ns.link, timeout=5)
        p.sendall(b"PEER 1 127.0.0.1:5 -\r\nON bob@exa")
        assert p.makefile("rb").readline() == b"HELLO 1 OK\r\n"
        time.sleep(0.1)
        p.sendall(b"mple.com NLN Bob\r")
        time.sleep(0.1)
        p.sendall(b"\n")
        assert next_presence(a, "bob@example.com").line == "NLN NLN bob@example.com Bob"
        for byte in b"ON bob@example.com BSY B1\r\n":
            p.sendall(bytes([byte]))
        assert next_presence(a, "bob@example.com").line == "NLN BSY bob@example.com B1"
        p.sendall(b"ON bob@example.com AWY B2\nON bob@example.com IDL B3\r\nOFF bob@example.com\nON bob@example.com PHN B4\r\nON b")
        for status, name in (("AWY", "B2"), ("IDL", "B3")):
            assert next_presence(a, "bob@example.com").line == "NLN %s bob@example.com %s" % (status, name)
        assert next_presence(a, "bob@example.com").line == "FLN bob@example.com"
        assert next_presence(a, "bob@example.com").line == "NLN PHN bob@example.com B4"
        p.sendall(b"ob@example.com LUN B5\r\n")
        assert next_presence(a, "bob@example.com").line == "NLN LUN bob@example.com B5"
        p.sendall(b"ON bob@example.com NLN " + b"x" * 3000)  # no line end within the limit
        p.settimeout(5)
        assert p.recv(100) == b"", "a line over the limit closes the link"
        assert next_presence(a, "bob@example.com").line == "FLN bob@example.com"  # its users went with it
        p.close()
        assert "line too long" in cl.ns.log_text()


def test_slow_peer_gets_every_line_in_order():
    """A node's lines to a peer leave at the end of each loop pass; when
    the peer reads slowly and the kernel takes only part of them, the rest
    goes out as the peer reads, after what was queued before it: every
    change arrives once, in order, the last one last."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited: a small window
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    node = msntest.MsndServer(MSND, args=["--role", "ns", "--link-listen", "127.0.0.1:0", "--max-commands-per-second", "0",
                                          "--ns-peers", "127.0.0.1:%d" % listener.getsockname()[1]])
    node.copy_db_from(TEMPLATE)
    node.start()
    try:
        listener.settimeout(10)
        peer, _ = listener.accept()
        peer.settimeout(10)
        f = peer.makefile("rb")
        assert f.readline().startswith(b"PEER 6 ")
        peer.sendall(b"HELLO 6 OK\r\n")
        assert f.readline() == b"RLBASE 0\r\n"
        assert f.readline() == b"SYNCED 0\r\n"
        a = online(node, "alice@example.com", via_ds=False)
        assert f.readline() == b"LOGIN alice@example.com 127.0.0.1\r\n"  # its session elsewhere ends
        name = "%20".join(["a" * 40] * 8)  # long lines: the kernel's buffers fill after a few thousand
        t = a.trid()
        a.send_line("REA %d alice@example.com %s" % (t, name))
        reply(a, t, "REA")
        statuses = ["BSY", "AWY", "NLN", "IDL"]
        changes = 8000  # some 3.5 MB of lines: more than this kernel buffers for a peer that does not read
        a.send_raw("".join("CHG %d %s\r\n" % (a.trid(), statuses[i % 4]) for i in range(changes)).encode())
        t = a.trid() - 1
        reply(a, t, "CHG")  # every change handled: its line queued or written
        got = []
        while len(got) < changes + 2:  # the first CHG's ON, the REA's, then one per change
            line = f.readline()
            assert line, "link closed after %d lines" % len(got)
            got.append(line.decode())
        assert got[0].startswith("ON alice@example.com NLN ") and got[1].endswith(" %s\r\n" % name)
        for i in range(changes):
            assert got[i + 2] == "ON alice@example.com %s %s\r\n" % (statuses[i % 4], name), (i, got[i + 2][:60])
        a.close()
        peer.close()
    finally:
        listener.close()
        assert node.stop() in (0, None)
        node.cleanup()


class FakePeer:
    """The test as another notification node of node's cluster: it accepts
    node's link (node lists it in --ns-peers) and dials node's link port."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.addr = "127.0.0.1:%d" % self.listener.getsockname()[1]

    def take_link(self, rlbase):
        """node's link to us (again): answered, and its RLBASE checked."""
        self.listener.settimeout(10)
        self.inbound, _ = self.listener.accept()
        self.inbound.settimeout(10)
        self.lines = self.inbound.makefile("rb")
        assert self.lines.readline().startswith(b"PEER 6 ")
        self.inbound.sendall(b"HELLO 6 OK\r\n")
        assert self.lines.readline() == b"RLBASE %d\r\n" % rlbase

    def accept(self, node):
        """Both links with node, node's snapshot read."""
        self.take_link(0)
        assert self.lines.readline().startswith(b"SYNCED ")
        self.out = socket.create_connection(node.link, timeout=10)
        self.out.sendall(b"PEER 2 %s -\r\nRLBASE 0\r\n" % self.addr.encode())
        assert self.out.makefile("rb").readline() == b"HELLO 2 OK\r\n"

    def next_line(self, prefix):
        """The next line node sent us that starts with prefix."""
        while True:
            line = self.lines.readline().decode()
            assert line, "node closed its link"
            if line.startswith(prefix):
                return line.rstrip("\r\n")

    def close(self):
        for s in (getattr(self, "out", None), getattr(self, "inbound", None), self.listener):
            if s:
                s.close()


@contextlib.contextmanager
def node_with_fake_peer():
    """A notification node whose one peer is the test (FakePeer), linked
    both ways; the node's log is printed when the block fails."""
    fake = FakePeer()
    node = msntest.MsndServer(MSND, args=["--role", "ns", "--link-listen", "127.0.0.1:0", "--ns-peers", fake.addr])
    node.copy_db_from(TEMPLATE)
    node.start()
    try:
        fake.accept(node)
        yield node, fake
    except BaseException:
        print("---- node log ----\n" + node.log_text()[-4000:])
        raise
    finally:
        fake.close()
        assert node.stop() in (0, None)
        node.cleanup()


def test_answer_waiting_for_the_callee_name_after_the_session_ended():
    """A callee rung by another node may answer at this node's switchboard
    before that node's reply (with its name) is back: the name is read from
    the database. A caller who left meanwhile, the last one in the session,
    ended the session: the answer is refused (911), and the node goes on.
    PostgreSQL only (the read waits, through a slow relay)."""
    if os.environ.get("MSND_TEST_DB") != "postgresql":
        return
    pg = pgtest.shared()
    fake = FakePeer()
    dbproxy = delayproxy.DelayProxy(("127.0.0.1", pg.port), delay_ms=0).start()
    node = msntest.MsndServer(MSND, args=["--role", "ns,sb", "--link-listen", "127.0.0.1:0", "--ns-peers", fake.addr])
    node.copy_db_from(TEMPLATE)
    node.db = pg.url(node.db_name, port=dbproxy.port)
    try:
        node.start()
        fake.accept(node)
        a = online(node, "alice@example.com", via_ds=False)
        t = send(a, "ADD {t} FL bob@example.com Bob")
        reply(a, t, "ADD")
        fake.out.sendall(b"ON bob@example.com NLN Bob\r\n")
        assert next_presence(a, "bob@example.com").line == "NLN NLN bob@example.com Bob"
        caller = msntest.open_switchboard(node, a)
        send(caller, "CAL {t} bob@example.com")
        ring = fake.next_line("RING ").split(" ")  # left unanswered: the name never comes
        dbproxy.delay_ms = 300
        callee = msntest.Client(node.sb)
        ta = send(callee, "ANS {t} bob@example.com %s %s", ring[3], ring[2])
        time.sleep(0.2)  # the ANS waits for the database now
        caller.close()  # the session ends with its last member
        callee.expect_error(911, ta)
        dbproxy.delay_ms = 0
        a.send_line("PNG")
        a.expect("QNG")
        assert node.proc.poll() is None
    except BaseException:
        print("---- node log ----\n" + node.log_text()[-4000:])
        raise
    finally:
        fake.close()
        rc = node.stop()
        node.cleanup()
        dbproxy.stop()
    assert rc in (0, None), rc


def test_peer_link_log_lines():
    """The links between notification nodes (--ns-peers) are logged in
    their own words, naming the peer and which of the two links it was;
    never as a switchboard's link to its notification server."""
    port = free_port()
    node = msntest.MsndServer(MSND, args=["--role", "ns", "--link-listen", "127.0.0.1:0", "--ns-peers",
                                          "127.0.0.1:%d" % port, "--log-level", "info"])
    node.copy_db_from(TEMPLATE)
    try:
        node.start()
        wait_log(node, "cannot link to notification peer, retrying")
        line = [x for x in node.log_text().splitlines() if "cannot link to notification peer" in x][0]
        assert "level=warn" in line and "ns=127.0.0.1:%d" % port in line, line
        assert "check=\"--ns-peers and that node's --link-listen\"" in line, line
        assert "notification server" not in node.log_text(), node.log_text()
    finally:
        assert node.stop() in (0, None)
        node.cleanup()
    with node_with_fake_peer() as (node, fake):
        fake.lines.close()
        fake.inbound.close()  # the link node dialled
        wait_log(node, 'msg="notification peer unlinked" ns=%s link=dialled reason=' % fake.addr)
        fake.out.close()  # the link the peer dialled
        wait_log(node, 'msg="notification peer unlinked" ns=%s link=accepted reason=' % fake.addr)
        assert "notification server" not in node.log_text(), node.log_text()


def test_watcher_lists_between_nodes():
    """ON lines carry the user's allowed watchers, with how many RL lines
    the sender had handled from the receiver. The receiver keeps such a
    list instead of reading the store (here the store knows none of the
    listed watchers, so only the list can tell them), unless the sender
    made it before hearing of a change the receiver sent: then it reads
    the store. A node's own lists name the watchers its store allows, and
    after a peer's RL line it sends no list made before that line."""
    with node_with_fake_peer() as (node, fake):
        a = online(node, "alice@example.com", via_ds=False)
        # zed is in no store: only the list makes alice his watcher
        fake.out.sendall(b"ON zed@example.com NLN Zed 0 carol@example.com,alice@example.com\r\n")
        assert next_presence(a, "zed@example.com").line == "NLN NLN zed@example.com Zed"
        # alice changes her FL: node tells us RL, and a list we made before
        # handling it (0 handled) is not kept; one made after it (1) is
        t = a.trid()
        a.send_line("ADD %d FL bob@example.com Bob" % t)
        reply(a, t, "ADD")
        assert fake.next_line("RL ").startswith("RL bob@example.com ADD ")
        fake.out.sendall(b"ON yan@example.com NLN Yan 0 alice@example.com\r\n"
                         b"ON xia@example.com NLN Xia 1 alice@example.com\r\n")
        assert next_named(a, "NLN").line == "NLN NLN xia@example.com Xia"  # nothing about yan
        # The node's own list: bob's watchers as its store allows them
        b = online(node, "bob@example.com", via_ds=False)
        on = fake.next_line("ON bob@example.com ")
        assert on.split(" ")[4:] == ["0", "alice@example.com"], on
        # bob blocks alice: the next list leaves her out
        t = b.trid()
        b.send_line("ADD %d BL alice@example.com Alice" % t)
        reply(b, t, "ADD")
        t = b.trid()
        b.send_line("CHG %d BSY" % t)
        reply(b, t, "CHG")
        fake.next_line("ON bob@example.com BSY ")  # no list: read anew after the change
        t = b.trid()
        b.send_line("CHG %d IDL" % t)
        reply(b, t, "CHG")
        on = fake.next_line("ON bob@example.com IDL ")
        assert on.split(" ")[4:] == ["0", "-"], on
        # our RL line (carol added bob elsewhere): what node knew before is
        # not current; a list it sends from now on says it heard the line
        fake.out.sendall(b"RL bob@example.com ADD 9 carol@example.com Carol\r\n")
        next_rl(b)
        for status, tail in (("AWY", []), ("NLN", ["1", "-"])):
            t = b.trid()
            b.send_line("CHG %d %s" % (t, status))
            reply(b, t, "CHG")
            on = fake.next_line("ON bob@example.com %s " % status)
            assert on.split(" ")[4:] == tail, on
        # node's link to us comes back: RLBASE says where its count stands,
        # and the snapshot carries the lists it has at hand
        fake.lines.close()
        fake.inbound.close()
        fake.take_link(1)
        on = fake.next_line("ON bob@example.com ")
        assert on.split(" ")[4:] == ["1", "-"], on
        a.close()
        b.close()


@contextlib.contextmanager
def cluster_on_slow_database():
    """One NS node with a peer link, on a copy of the template database
    reached through a delaying proxy (its delay_ms is 0 until a test sets
    it): yields (cluster, proxy)."""
    pg = pgtest.shared()
    db = msntest.db_copy(TEMPLATE)
    proxy = delayproxy.DelayProxy(("127.0.0.1", pg.port), delay_ms=0).start()
    try:
        url = pg.url(db.rsplit("/", 1)[1], port=proxy.port)
        with Cluster(n_sb=0, ns_args=["--db", url]) as cl:
            yield cl, proxy
    finally:
        proxy.stop()


def test_remote_presence_told_once():
    """A user of another node reaches each watcher here once per change: not
    before the watcher's first CHG (its ILN lines tell the state then), and
    not after an ILN that told it already (a fan-out that waited for the
    watchers' read while the watcher logged in). A list that comes with the
    line serves that line even while the database is down."""
    bob = "bob@example.com"
    with node_with_fake_peer() as (node, fake):
        c = online(node, "carol@example.com", via_ds=False)
        a = login(node, "alice@example.com", via_ds=False)
        for w in (c, a):
            t = w.trid()
            w.send_line("ADD %d FL %s Bob" % (t, bob))
            reply(w, t, "ADD")
            fake.next_line("RL %s ADD " % bob)
        # alice has set no status yet: the line reaches carol only
        fake.out.sendall(b"ON bob@example.com NLN Bob 2 alice@example.com,carol@example.com\r\n")
        assert next_presence(c, bob).line == "NLN NLN %s Bob" % bob
        no_presence_before_qng(a, bob)
        # alice's first CHG tells her, once
        t = a.trid()
        a.send_line("CHG %d NLN" % t)
        got = next_presence(a, bob)
        assert got.line == "ILN %d NLN %s Bob" % (t, bob), got
        fake.out.sendall(b"ON bob@example.com AWY Bob 2 alice@example.com,carol@example.com\r\n")
        got = next_presence(a, bob)
        assert got.line == "NLN AWY %s Bob" % bob, got
        assert next_presence(c, bob).line == "NLN AWY %s Bob" % bob
        if pgtest.backend() != "postgresql":
            return
        pg = pgtest.shared()
        # After an RL line about bob, the watchers the node keeps for him
        # are stale: his next line without a list waits for them to be
        # read. That read stalls here (its statement waits for a locked
        # table, then the server process running it is stopped, so every
        # other statement goes on) while alice, logged in again, sets her
        # first status: the CHG's ILN tells her bob's state, and the
        # waiting fan-out then skips her.
        a.close()
        a = login(node, "alice@example.com", via_ds=False)
        fake.out.sendall(b"RL bob@example.com ADD 9 carol@example.com Carol\r\n")
        with pg.stalled_reads(node.db_name, "list_entries", lambda: fake.out.sendall(b"ON bob@example.com IDL Bob\r\n")):
            t = a.trid()
            a.send_line("CHG %d NLN" % t)
            got = next_presence(a, bob)
            assert got.line == "ILN %d IDL %s Bob" % (t, bob), got
        assert next_presence(c, bob).line == "NLN IDL %s Bob" % bob  # the read is done
        fake.out.sendall(b"ON bob@example.com BRB Bob 2 alice@example.com,carol@example.com\r\n")
        got = next_presence(a, bob)
        assert got.line == "NLN BRB %s Bob" % bob, got
        # the database down: the list the line brings still serves it
        pg.stop()
        try:
            fake.out.sendall(b"ON bob@example.com BSY Bob 2 alice@example.com,carol@example.com\r\n")
            assert next_presence(a, bob).line == "NLN BSY %s Bob" % bob
        finally:
            pg.start()


def mutual_fl(tn):
    """alice on node 1 and bob on node 2, each with the other on FL, added
    after both set their status (no change of bob's since, so the rows
    node 1 keeps for him are the ones his ON brought, without alice).
    Returns once each has had the other's presence and ADD RL: ILN, or
    NLN when node 1 heard of bob's login only after alice's ADD (its
    watchers are then read again, with alice; both orders happen)."""
    n1, n2 = tn.nodes
    a = online(n1, "alice@example.com", via_ds=False)
    b = online(n2, "bob@example.com", via_ds=False)
    seen = {a: set(), b: set()}

    def note(c, other, cmd):
        # ILN when the other node's word of the login came before the
        # ADD; NLN when it came after (the watchers are then read again)
        if cmd.name in ("ILN", "NLN") and other in cmd.args:
            seen[c].add("ILN")
        elif cmd.name == "ADD" and cmd.args[1] == "RL" and other in cmd.args:
            seen[c].add("RL")

    for c, other in ((a, "bob@example.com"), (b, "alice@example.com")):
        t = send(c, "ADD {t} FL %s %s", other, other)
        while True:
            cmd = c.read_cmd()
            if cmd.name == "ADD" and cmd.args[0] == str(t):
                break
            note(c, other, cmd)
    for c, other in ((a, "bob@example.com"), (b, "alice@example.com")):
        while seen[c] != {"ILN", "RL"}:  # either may come first
            note(c, other, c.read_cmd())
    return a, b


def test_user_of_another_node_leaving_during_an_outage():
    """A watcher that added a user of the other node (told with ILN) is
    among the watchers node 1 keeps for that user: when the user leaves
    while the database is down, or its node dies, node 1 still tells the
    watcher FLN from them, not nobody."""
    if pgtest.backend() != "postgresql":
        return
    pg = pgtest.shared()
    for leave in ("OUT", "close", "kill"):
        with TwoNodes() as tn:
            a, b = mutual_fl(tn)
            pg.stop()
            try:
                if leave == "OUT":
                    b.send_line("OUT")
                elif leave == "close":
                    b.close()
                else:
                    tn.nodes[1].proc.kill()
                    tn.nodes[1].proc.wait(10)
                got = next_presence(a, "bob@example.com")
                assert got.line == "FLN bob@example.com", (leave, got)
            finally:
                pg.start()
            if leave == "kill":
                tn.nodes[1].start()


def test_peer_of_an_older_version_is_dialled_with_peer_4():
    """A node of link version 4 refuses PEER 6 and PEER 5 (it closes the
    link): the next dial says PEER 4, which it answers, and the nodes
    link."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(2)
    node = msntest.MsndServer(MSND, args=["--role", "ns", "--link-listen", "127.0.0.1:0",
                                          "--ns-peers", "127.0.0.1:%d" % listener.getsockname()[1]])
    node.copy_db_from(TEMPLATE)
    node.start()
    try:
        listener.settimeout(15)
        for refused in (b"PEER 6 ", b"PEER 5 "):
            peer, _ = listener.accept()
            assert peer.makefile("rb").readline().startswith(refused)
            peer.close()
        peer, _ = listener.accept()
        peer.settimeout(10)
        f = peer.makefile("rb")
        assert f.readline().startswith(b"PEER 4 ")
        peer.sendall(b"HELLO 4 OK\r\n")
        assert f.readline() == b"RLBASE 0\r\n"
        wait_log(node, "linked to notification peer")
        peer.close()
    finally:
        listener.close()
        node.stop()
        node.cleanup()


def test_call_across_nodes_during_an_outage():
    """A CAL to a user of the other node while the database is down: that
    node cannot read whether the caller may ring the callee, and says so
    (RING ... FAIL to a peer of link version 5): the caller gets 501, as for
    a callee of its own node, not 217 (offline)."""
    if pgtest.backend() != "postgresql":
        return
    pg = pgtest.shared()
    with TwoNodes() as tn:
        a, b = mutual_fl(tn)
        a.email = "alice@example.com"
        sb = msntest.open_switchboard(tn.nodes[0], a)
        pg.stop()
        try:
            t = sb.trid()
            sb.send_line("CAL %d bob@example.com" % t)
            sb.expect_line("501 %d" % t)
        finally:
            pg.start()
        sb.close()
        assert "could not read its database" in tn.nodes[0].log_text()


def without_first_change(lines, status):
    """The first change after the database stops may still be told from the
    watchers a node holds: its loop may take the change before it sees the
    database's connections close (the same pass). Such an NLN is dropped."""
    first = "NLN %s bob@example.com Bob" % status
    return lines[1:] if lines[:1] == [first] else lines


def test_status_changes_of_another_node_during_an_outage():
    """Changes of a user of the other node that neither node could fan out
    (the database down: no watchers to read) reach the watcher once the
    database is back, as the user's status then (BRB after AWY, HDN, BRB;
    HDN went out as FLN at once, from the watchers known before). The same
    state may come twice: from each node's retry."""
    if pgtest.backend() != "postgresql":
        return
    pg = pgtest.shared()
    with TwoNodes() as tn:
        a, b = mutual_fl(tn)
        send(b, "CHG {t} BSY")
        assert next_presence(a, "bob@example.com").line == "NLN BSY bob@example.com Bob"
        pg.stop()
        try:
            seen = []
            for st in ("AWY", "HDN", "BRB"):
                t = send(b, "CHG {t} %s", st)
                reply(b, t, "CHG")
                seen += presence_within(a, "bob@example.com", 0.5)
            assert without_first_change(seen, "AWY") == ["FLN bob@example.com"], seen
        finally:
            pg.start()
        got = presence_within(a, "bob@example.com", 6)
        assert got and set(got) == {"NLN BRB bob@example.com Bob"}, got
        # and leaving with the database down once more: FLN once, not again after
        pg.stop()
        try:
            send(b, "CHG {t} AWY")
            b.send_line("OUT")
            got = presence_within(a, "bob@example.com", 1.5)
            assert without_first_change(got, "AWY") == ["FLN bob@example.com"], got
        finally:
            pg.start()
        got = presence_within(a, "bob@example.com", 3)
        assert got == [], got


def test_peer_lines_waiting_on_the_database():
    """PostgreSQL behind a slow link (delayproxy): a peer's presence lines
    each wait for the database (who watches that user), yet the loop goes
    on meanwhile: a local user's PNG, sent after the peer's first line
    reached the database, is answered before the NLN that line causes.
    The peer's lines still take effect in the order it sent them."""
    if pgtest.backend() != "postgresql":
        print("skip test_peer_lines_waiting_on_the_database (postgresql only)")
        return
    with cluster_on_slow_database() as (cl, proxy):
        a = online(cl.ns, "alice@example.com")
        t = a.trid()
        a.send_line("ADD %d FL bob@example.com Bob" % t)
        a.expect("ADD")
        p = socket.create_connection(cl.ns.link, timeout=10)
        p.sendall(b"PEER 1 127.0.0.1:5 -\r\nSYNCED 0\r\n")
        assert p.makefile("rb").readline() == b"HELLO 1 OK\r\n"
        proxy.delay_ms = 150
        before = proxy.chunks_up
        p.sendall(b"ON bob@example.com NLN Bob\r\nON bob@example.com BSY Bobby\r\n"
                  b"OFF bob@example.com\r\nON bob@example.com AWY Bob3\r\n")
        deadline = time.monotonic() + 10
        while proxy.chunks_up == before:  # the first ON's query is on its way to the database
            assert time.monotonic() < deadline, "no query for the peer's line"
            time.sleep(0.005)
        a.send_line("PNG")
        seen = []
        while len([x for x in seen if x != "QNG"]) < 4:
            cmd = a.read_cmd()
            if cmd.name == "QNG" or (cmd.name in ("NLN", "FLN") and "bob@example.com" in cmd.args):
                seen.append("QNG" if cmd.name == "QNG" else cmd.line)
        assert seen == ["QNG", "NLN NLN bob@example.com Bob", "NLN BSY bob@example.com Bobby",
                        "FLN bob@example.com", "NLN AWY bob@example.com Bob3"], seen
        proxy.delay_ms = 0
        p.close()
        assert next_presence(a, "bob@example.com").line == "FLN bob@example.com"


def test_peer_line_waiting_on_the_database_does_not_hold_up_the_link():
    """A peer's line about a user whose watchers this node does not keep yet
    waits for the database away from the link: the peer's next lines, about
    a user whose watchers are kept, are told at once, before the first. The
    lines about each user still take effect in the order the peer sent them."""
    if pgtest.backend() != "postgresql":
        print("skip test_peer_line_waiting_on_the_database_does_not_hold_up_the_link (postgresql only)")
        return
    with cluster_on_slow_database() as (cl, proxy):
        a = online(cl.ns, "alice@example.com")
        for who in ("bob@example.com Bob", "carol@example.com Carol"):
            t = a.trid()
            a.send_line("ADD %d FL %s" % (t, who))
            a.expect("ADD")
        p = socket.create_connection(cl.ns.link, timeout=10)
        p.sendall(b"PEER 1 127.0.0.1:5 -\r\nON carol@example.com NLN Carol\r\nSYNCED 1\r\n")
        assert p.makefile("rb").readline() == b"HELLO 1 OK\r\n"
        assert next_presence(a, "carol@example.com").line == "NLN NLN carol@example.com Carol"
        # until a line about carol is told without a query: her watchers are
        # kept (the store's notices of alice's ADDs, which drop them, may come
        # a moment after the ADDs' answers)
        for i in range(50):
            before = proxy.chunks_up
            p.sendall(b"ON carol@example.com NLN Carol%d\r\n" % i)
            assert next_presence(a, "carol@example.com").line == "NLN NLN carol@example.com Carol%d" % i
            if proxy.chunks_up == before:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("carol's watchers are read for every line")
        proxy.delay_ms = 150
        p.sendall(b"ON bob@example.com NLN Bob\r\nON carol@example.com BSY Carol\r\n"
                  b"OFF bob@example.com\r\nON carol@example.com AWY Carol\r\n")
        seen = []
        while len(seen) < 4:
            cmd = a.read_cmd()
            if cmd.name in ("NLN", "FLN") and ("bob@example.com" in cmd.args or "carol@example.com" in cmd.args):
                seen.append(cmd.line)
        assert seen == ["NLN BSY carol@example.com Carol", "NLN AWY carol@example.com Carol",
                        "NLN NLN bob@example.com Bob", "FLN bob@example.com"], seen
        proxy.delay_ms = 0
        p.close()
        assert next_presence(a, "carol@example.com").line == "FLN carol@example.com"


def test_start_up_errors():
    cases = [
        (["--role", "ns,sb", "--ns-peers", "127.0.0.1:1"], "--ns-peers needs --link-listen"),
        (["--role", "sb", "--ns-links", "127.0.0.1:1", "--ns-peers", "127.0.0.1:2"], "--ns-peers is for"),
        (["--role", "ns,sb", "--link-listen", "127.0.0.1:0", "--ns-peers", "nowhere"],
         "'ns-peers' expects up to 16 numeric IPs with ports, comma-separated, not 'nowhere'"),
        (["--role", "ns"], "--link-listen"),
        (["--role", "sb"], "--ns-links"),
        (["--role", "sb", "--ns-links", "not-an-address"],
         "'ns-links' expects up to 16 numeric IPs with ports, comma-separated, not 'not-an-address'"),
        (["--role", "ns,xx"], "'role' expects all, or a comma list of ds, ns, sb, not 'ns,xx'"),
        (["--role", "sb", "--ns-links", "127.0.0.1:1", "--sb-listen", "0.0.0.0:0"], "--sb-address"),
    ]
    d = TEMPLATE.dir
    for args, want in cases:
        r = subprocess.run([MSND, "--listen", "127.0.0.1:0", "--db", os.path.join(d, "x.db")] + args,
                           capture_output=True, text=True, timeout=20)
        assert r.returncode != 0 and want in r.stderr, (args, r.returncode, r.stderr)


def main():
    global MSND, TEMPLATE
    MSND = os.path.abspath(sys.argv[1])
    tests = [v for k, v in sorted(globals().items()) if k.startswith("test_")]
    # PART/PARTS: every PARTS-th test from the PART-th on (CMakeLists.txt
    # runs the suite in parts, each well inside its timeout under load).
    if len(sys.argv) > 2:
        part, parts = (int(x) for x in sys.argv[2].split("/"))
        tests = tests[part - 1::parts]
    TEMPLATE = msntest.MsndServer(MSND, users=USERS)
    failed = 0
    try:
        for fn in tests:
            started = time.monotonic()
            try:
                fn()
                print("ok   %s (%.1f s)" % (fn.__name__, time.monotonic() - started))
            except Exception:
                failed += 1
                print("FAIL %s" % fn.__name__)
                import traceback
                traceback.print_exc()
    finally:
        TEMPLATE.cleanup()
    print("%d of %d failed" % (failed, len(tests)) if failed else "all %d passed" % len(tests))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
