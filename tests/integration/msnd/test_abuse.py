#!/usr/bin/env python3
"""msnd against hostile or broken clients: password guessing, cookie and
switchboard hoarding, dead connections, and the randomness of what the
server hands out. Each test runs against a fresh msnd with the default
limits unless it names its own."""
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import msntest  # noqa: E402
from harness import login, online, with_args  # noqa: E402


def guess(srv, email, source, trid=1):
    """One wrong password for email from source; returns the error code."""
    c = msntest.Client(srv.ns, source=source)
    c.send_line("VER %d MSNP7" % trid)
    c.expect("VER")
    c.send_line("USR %d MD5 I %s" % (trid + 1, email))
    r = c.read_cmd()
    if r.name != "USR":
        c.close()
        return int(r.name)
    c.send_line("USR %d MD5 S %s" % (trid + 2, msntest.md5_login_response(r.args[3], "wrong")))
    code = int(c.read_cmd().name)
    c.close()
    return code


def test_guessing_does_not_lock_the_owner_out(srv):
    guesser, owner = srv.source(0), srv.source(1)
    # Five wrong passwords (the default limit) and more from one address...
    for i in range(7):
        assert guess(srv, "alice@example.com", guesser) == 911
    log = srv.log_text()
    assert re.search(r'msg="login throttle started" peer=%s:\d+ user=alice@example\.com '
                     r'by=account\+address delay_ms=1000' % re.escape(guesser), log), log[-3000:]
    # ...leave the owner, from another address, free to log in,
    c = login(srv, "alice@example.com", source=owner)
    c.close()
    # and another user behind the guessing address as well.
    c = login(srv, "bob@example.com", source=guesser)
    c.close()


@with_args("--auth-failures-per-address", "3", "--auth-delay", "600")
def test_address_throttle_is_logged(srv):
    guesser = srv.source(0)
    assert guess(srv, "alice@example.com", guesser) == 911
    assert guess(srv, "bob@example.com", guesser) == 911
    assert guess(srv, "carol@example.com", guesser) == 911
    # the address is held back now, whatever the account
    c = msntest.Client(srv.ns, source=guesser)
    c.send_line("VER 1 MSNP7")
    c.expect("VER")
    c.send_line("USR 2 MD5 I example@passport.com")
    c.expect_error(911, 2)
    c.expect_closed()
    log = srv.log_text()
    assert re.search(r'msg="login throttled" peer=%s:\d+ user=example@passport\.com by=address' % re.escape(guesser),
                     log), log[-3000:]
    # other addresses are not
    login(srv, "example@passport.com", source=srv.source(1)).close()


def test_xfr_cookie_quota(srv):
    # One user cannot fill the shared cookie table: 20 unused XFR SB
    # cookies (the default), then 714 for that user alone.
    a = online(srv, "alice@example.com")
    for _ in range(20):
        t = a.trid()
        a.send_line("XFR %d SB" % t)
        x = a.expect("XFR")
        assert x.args[3] == "CKI"
    t = a.trid()
    a.send_line("XFR %d SB" % t)
    a.expect_error(714, t)
    assert re.search(r'msg="switchboard cookie quota reached" conn=\d+ peer=[0-9.]+:\d+ '
                     r'user=alice@example\.com outstanding=20', srv.log_text())
    b = online(srv, "bob@example.com")
    msntest.open_switchboard(srv, b).close()
    # using a cookie gives its place back
    sb = msntest.Client(msntest.addr_of(x.args[2]))
    sb.send_line("USR 1 alice@example.com %s" % x.args[4])
    assert sb.expect("USR").args[1] == "OK"
    t = a.trid()
    a.send_line("XFR %d SB" % t)
    assert a.expect("XFR").args[3] == "CKI"
    sb.close()
    a.close()


@with_args("--max-switchboards-per-user", "2")
def test_switchboard_quota(srv):
    a = online(srv, "alice@example.com")
    # the quota is per switchboard process (a cluster has several, handed
    # out in turn): open sessions until one process holds two of alice's
    by_sb = {}
    while not any(len(v) == 2 for v in by_sb.values()):
        sb = msntest.open_switchboard(srv, a)
        by_sb.setdefault(sb.addr, []).append(sb)
    full = next(k for k, v in by_sb.items() if len(v) == 2)

    def join(addr):
        """USR at addr with a fresh XFR SB cookie (any of the cluster's
        switchboards takes it); the reply."""
        t = a.trid()
        a.send_line("XFR %d SB" % t)
        x = a.expect("XFR")
        c = msntest.Client(addr)
        c.send_line("USR 1 alice@example.com %s" % x.args[4])
        return c, c.read_cmd()

    third, r = join(full)
    assert r.line == "714 1", r
    third.expect_closed()
    # leaving one frees a place
    first = by_sb[full][0]
    first.send_line("OUT")
    first.expect_closed()
    deadline = time.monotonic() + 10
    while True:
        c, r = join(full)
        if r.name == "USR":
            assert r.args[1] == "OK", r
            c.close()
            break
        # the server may not have seen the OUT yet
        assert r.line == "714 1" and time.monotonic() < deadline, r
        c.close()
        time.sleep(0.05)
    for lst in by_sb.values():
        for c in lst[1:] if lst is by_sb[full] else lst:
            c.close()


def test_challenge_digits_are_uniform(srv):
    # CHL carries 20 decimal digits; from 400 logins, 8000 digits: each
    # digit 800 times expected (sd 27). The bounds are 5.6 deviations out;
    # digits taken as a 4-bit value modulo 10 give 500 of each of 6-9.
    count = [0] * 10
    for _ in range(400):
        c = msntest.login(srv, "alice@example.com", harness.PASSWORDS["alice@example.com"], via_ds=False,
                          answer_chl=False)
        t = c.trid()
        c.send_line("CHG %d NLN" % t)
        while True:
            cmd = c.read_cmd()
            if cmd.name == "CHL":
                break
        digits = cmd.args[1]
        assert re.fullmatch(r"[0-9]{20}", digits), digits
        for ch in digits:
            count[ord(ch) - 48] += 1
        c.close()
    assert all(650 < n < 950 for n in count), count


@with_args("--ns-idle-timeout", "1")
def test_idle_client_is_dropped_and_watchers_see_fln(srv):
    bob = online(srv, "bob@example.com")
    t = bob.trid()
    bob.send_line("ADD %d FL alice@example.com Alice" % t)
    bob.expect("ADD")
    alice = online(srv, "alice@example.com")
    assert bob.expect("NLN").args[1] == "alice@example.com"
    # Alice's network "dies": she sends nothing more. Bob keeps talking, so
    # only she is idle.
    deadline = time.monotonic() + 15
    while True:
        bob.send_line("PNG")
        cmd = bob.read_cmd()
        if cmd.name == "FLN":
            assert cmd.args[0] == "alice@example.com", cmd
            break
        assert cmd.name == "QNG", cmd
        assert time.monotonic() < deadline, "no FLN for the idle client"
        time.sleep(0.2)
    assert 'msg="idle timeout"' in srv.log_text()
    alice.close()


def server_socket_for(pids, client_sock):
    """A duplicate of msnd's end of client_sock, in whichever of the msnd
    processes pids holds it (pidfd_getfd: needs the right to ptrace msnd,
    as its parent or root has)."""
    for pid in pids:
        s = server_socket_in(pid, client_sock)
        if s:
            return s
    raise AssertionError("no msnd socket connected to %r" % (client_sock.getsockname(),))


def server_socket_in(pid, client_sock):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    SYS_pidfd_open, SYS_pidfd_getfd = 434, 438
    pidfd = libc.syscall(SYS_pidfd_open, pid, 0)
    assert pidfd >= 0, os.strerror(ctypes.get_errno())
    want = client_sock.getsockname()
    try:
        for name in os.listdir("/proc/%d/fd" % pid):
            try:
                if not os.readlink("/proc/%d/fd/%s" % (pid, name)).startswith("socket:"):
                    continue
            except OSError:
                continue
            fd = libc.syscall(SYS_pidfd_getfd, pidfd, int(name), 0)
            assert fd >= 0, os.strerror(ctypes.get_errno())
            s = socket.socket(fileno=fd)
            try:
                if s.getpeername() == want:
                    return s
            except OSError:
                pass
            s.close()
    finally:
        os.close(pidfd)
    return None


def test_tcp_keepalive_on_every_connection(srv):
    a = online(srv, "alice@example.com")
    sb = msntest.open_switchboard(srv, a)
    ds = msntest.Client(srv.ds)
    ds.send_line("VER 1 MSNP7")  # a reply: msnd has accepted the connection
    ds.expect("VER")
    for client in (a, sb, ds):
        s = server_socket_for(srv.pids(), client.sock)
        try:
            assert s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 120
            assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 30
            assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 4
        finally:
            s.close()
    for client in (a, sb, ds):
        client.close()


if __name__ == "__main__":
    sys.exit(harness.run([
        test_guessing_does_not_lock_the_owner_out,
        test_address_throttle_is_logged,
        test_xfr_cookie_quota,
        test_switchboard_quota,
        test_challenge_digits_are_uniform,
        test_idle_client_is_dropped_and_watchers_see_fln,
        test_tcp_keepalive_on_every_connection,
    ], sys.argv[1]))
