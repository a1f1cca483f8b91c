#!/usr/bin/env python3
"""msnd dispatch and notification login: the published example transcripts verbatim,
per-version differences, wrong passwords, duplicate logins, errors."""
import hashlib
import re
import socket
import sys
import time

from harness import PASSWORDS, login, msntest, online, run, with_args

SEED_VER = "VER 0 MSNP7 MSNP6 MSNP5 MSNP4 CVR0"


def test_example_dispatch_transcript(srv):
    c = msntest.Client(srv.ds)
    c.send_line(SEED_VER)
    c.expect_line(SEED_VER)
    c.send_line("INF 1")
    c.expect_line("INF 1 MD5")
    c.send_line("USR 2 MD5 I example@passport.com")
    ds = "%s:%d" % srv.ds
    # MSNP7 adds the address of the server that sent the referral.
    x = c.expect("XFR")
    assert x.line == "XFR 2 NS %s 0 %s" % (x.args[2], ds), x
    assert x.args[2] in ["%s:%d" % a for a in srv.ns_nodes], x
    c.expect_closed()


def test_dispatch_xfr_per_version(srv):
    nodes = ["%s:%d" % a for a in srv.ns_nodes]
    picked = set()
    for ver, tail in (("MSNP2", ""), ("MSNP3", " 0"), ("MSNP6", " 0")):
        c = msntest.Client(srv.ds)
        c.send_line("VER 1 %s" % ver)
        c.expect_line("VER 1 %s" % ver)
        c.send_line("USR 2 MD5 I alice@example.com")
        x = c.expect("XFR")
        assert x.line == "XFR 2 NS %s%s" % (x.args[2], tail) and x.args[2] in nodes, x
        picked.add(x.args[2])
        c.expect_closed()
    assert len(picked) == 1, picked  # one account, one node, whatever the version


def test_example_notification_transcript(srv):
    c = msntest.Client(srv.ns, answer_chl=False)
    c.send_line(SEED_VER)
    c.expect_line(SEED_VER)
    c.send_line("INF 1")
    c.expect_line("INF 1 MD5")
    c.send_line("USR 5 MD5 I example@passport.com")
    ch = c.expect("USR")
    assert ch.args[:3] == ["5", "MD5", "S"], ch
    challenge = ch.args[3]
    answer = hashlib.md5((challenge + "password").encode()).hexdigest()
    c.send_line("USR 6 MD5 S %s" % answer)
    c.expect_line("USR 6 OK example@passport.com my%20screen%20name 1")
    prof = c.expect("MSG")
    assert prof.args[:2] == ["Hotmail", "Hotmail"], prof
    assert b"Content-Type: text/x-msmsgsprofile" in prof.payload
    assert int(prof.args[2]) == len(prof.payload)
    c.send_line("CHG 7 NLN")
    c.expect_line("CHG 7 NLN")
    chl = c.expect("CHL")
    assert chl.args[0] == "0" and chl.args[1].isdigit(), chl
    resp = msntest.chl_response(chl.args[1]).encode()
    c.send_raw(b"QRY 8 msmsgs@msnmsgr.com 32\r\n" + resp)
    c.expect_line("QRY 8")


def test_chg_client_id_echoed_whole(srv):
    # Later clients put a client id (their capabilities) after the status;
    # it comes back whole, whatever its length.
    c = login(srv, "alice@example.com")
    for cid in ("268435492", "7" * 31, "x" * 32, "C" * 1000):
        t = c.trid()
        c.send_line("CHG %d NLN %s" % (t, cid))
        reply = c.expect("CHG")  # (the client answers the CHL after the first by itself)
        assert reply.line == "CHG %d NLN %s" % (t, cid), reply.line[:80]


def test_challenges_are_fresh(srv):
    seen = set()
    for _ in range(3):
        c = msntest.Client(srv.ns)
        c.send_line("VER 1 MSNP7")
        c.expect("VER")
        c.send_line("USR 2 MD5 I alice@example.com")
        seen.add(c.expect("USR").args[3])
        c.close()
    assert len(seen) == 3, seen
    # the form MSN servers use: ten digits, a dot, nine digits (leading
    # zeros of the fraction kept)
    for ch in seen:
        assert re.fullmatch(r"[1-3][0-9]{9}\.[0-9]{9}", ch), ch


def test_version_negotiation(srv):
    c = msntest.Client(srv.ns)
    c.send_line("VER 1 MSNP8 MSNP9 CVR0")
    c.expect_line("VER 1 0")
    c.expect_closed()
    c = msntest.Client(srv.ns)
    c.send_line("VER 1 MSNP2")
    c.expect_line("VER 1 MSNP2")
    c.send_line("USR 2 MD5 I alice@example.com")
    ch = c.expect("USR").args[3]
    c.send_line("USR 3 MD5 S %s" % msntest.md5_login_response(ch, "alicepw"))
    c.expect_line("USR 3 OK alice@example.com Alice")  # no verified flag before MSNP6


def test_ver_after_login_not_expected(srv):
    """Once the login has begun, the version is the session's: VER gets 715
    and changes nothing (no switch to another version's formats, no close
    for a list without a common version)."""
    c = msntest.Client(srv.ns)
    c.send_line("VER 1 MSNP7 MSNP6")
    c.expect("VER")
    c.send_line("USR 2 MD5 I alice@example.com")
    ch = c.expect("USR").args[3]
    c.send_line("VER 3 MSNP2")
    c.expect_error(715, 3)
    c.send_line("USR 4 MD5 S %s" % msntest.md5_login_response(ch, "alicepw"))
    c.expect_line("USR 4 OK alice@example.com Alice 1")
    c.expect("MSG")
    c.send_line("VER 5 MSNP2")
    c.expect_error(715, 5)
    c.send_line("VER 6 MSNP9")
    c.expect_error(715, 6)
    c.send_line("ADG 7 Work 0")  # an MSNP7 command still
    assert c.expect("ADG").args[0] == "7"
    c.send_line("PNG")
    c.expect_line("QNG")


def test_wrong_password(srv):
    c = msntest.Client(srv.ns)
    c.send_line("VER 1 MSNP7")
    c.expect("VER")
    c.send_line("USR 2 MD5 I alice@example.com")
    ch = c.expect("USR").args[3]
    c.send_line("USR 3 MD5 S %s" % msntest.md5_login_response(ch, "wrong"))
    c.expect_error(911, 3)
    # the challenge is single-use: the right answer to the old one fails too
    c.send_line("USR 4 MD5 S %s" % msntest.md5_login_response(ch, "alicepw"))
    c.expect_error(911, 4)
    # unknown accounts get a challenge too, then 911
    c.send_line("USR 5 MD5 I nobody@example.com")
    ch = c.expect("USR").args[3]
    c.send_line("USR 6 MD5 S %s" % msntest.md5_login_response(ch, "x"))
    c.expect_error(911, 6)
    assert "alicepw" not in srv.log_text()


@with_args("--auth-failures-per-account", "3", "--auth-delay", "600")
def test_failed_login_rate_limit(srv):
    c = msntest.Client(srv.ns)
    c.send_line("VER 1 MSNP7")
    c.expect("VER")
    for i in range(3):
        t = 10 + i * 2
        c.send_line("USR %d MD5 I alice@example.com" % t)
        c.expect("USR")
        c.send_line("USR %d MD5 S 00000000000000000000000000000000" % (t + 1))
        c.expect_error(911, t + 1)
    c.send_line("USR 30 MD5 I alice@example.com")
    c.expect_error(911, 30)
    c.expect_closed()
    # even the right password is refused from that address while it lasts
    c = msntest.Client(srv.ns)
    c.send_line("VER 1 MSNP7")
    c.expect("VER")
    c.send_line("USR 2 MD5 I alice@example.com")
    c.expect_error(911, 2)
    # other accounts are unaffected, and so is the owner elsewhere
    login(srv, "bob@example.com")
    login(srv, "alice@example.com", source=srv.source(1))


@with_args("--auth-failures-per-account", "3", "--auth-delay", "600")
def test_failed_login_rate_limit_holds_for_parallel_answers(srv):
    # Answers sent at once on many connections are guesses like any other:
    # the limit holds even while the store is read for the first ones.
    cs = []
    for i in range(30):
        c = msntest.Client(srv.ns)
        c.send_line("VER 1 MSNP7")
        c.expect("VER")
        c.send_line("USR 2 MD5 I alice@example.com")
        cs.append((c, c.expect("USR").args[3]))
    for i, (c, ch) in enumerate(cs):
        c.send_line("USR 3 MD5 S %s" % msntest.md5_login_response(ch, "guess%d" % i))
    for c, _ in cs:
        c.expect_error(911, 3)
    assert srv.log_text().count("reason=bad-password") == 3, srv.log_text().count("reason=bad-password")


def test_duplicate_login(srv):
    first = online(srv, "alice@example.com")
    second = login(srv, "alice@example.com")
    first.expect_line("OUT OTH")
    first.expect_closed()
    t = second.trid()
    second.send_line("CHG %d BSY" % t)
    second.expect_line("CHG %d BSY" % t)


def test_errors_before_and_after_login(srv):
    c = msntest.Client(srv.ns)
    c.send_line("VER 1 MSNP7")
    c.expect("VER")
    c.send_line("CHG 2 NLN")
    c.expect_error(302, 2)
    c.send_line("SYN 3 0")
    c.expect_error(302, 3)
    c.send_line("FOO 4 bar")
    c.expect_error(200, 4)
    c.send_line("PNG")
    c.expect_line("QNG")
    c.close()
    c = login(srv, "alice@example.com")
    t = c.trid()
    c.send_line("USR %d MD5 I alice@example.com" % t)
    c.expect_error(207, t)
    t = c.trid()
    c.send_line("CHG %d FLN" % t)
    c.expect_error(201, t)
    t = c.trid()
    c.send_line("CHG %d XYZ" % t)
    c.expect_error(201, t)
    t = c.trid()
    c.send_line("XFR %d NS" % t)
    c.expect_error(201, t)
    t = c.trid()
    c.send_line("QRY %d msmsgs@msnmsgr.com 32" % t)
    c.send_raw(b"0" * 32)
    c.expect_error(715, t)   # no challenge outstanding
    c.send_line("OUT")
    c.expect_closed()


def test_wrong_challenge_answer(srv):
    c = login(srv, "alice@example.com", answer_chl=False)
    c.send_line("CHG 10 NLN")
    c.expect_line("CHG 10 NLN")
    c.expect("CHL")
    c.send_raw(b"QRY 11 msmsgs@msnmsgr.com 32\r\n" + b"0" * 32)
    c.expect_error(540, 11)
    c.expect_closed()


@with_args("--challenge-timeout", "1")
def test_unanswered_challenge_closes(srv):
    # The login timer is gone once the user is in; the CHL sent with the
    # first CHG arms a new one, and a client that never answers is closed.
    c = login(srv, "alice@example.com", answer_chl=False)
    c.send_line("CHG 10 NLN")
    c.expect_line("CHG 10 NLN")
    c.expect("CHL")
    c.expect_closed(timeout=5)


def test_referrals_name_the_address_the_client_reached(srv):
    """Behind wildcard binds, XFR names the address the client connected to
    (asked of its socket when the referral is made): a client that came in
    on 127.0.0.3 is sent to 127.0.0.3, one on 127.0.0.1 to 127.0.0.1."""
    wild = ["--listen", "0.0.0.0:0", "--ns-listen", "0.0.0.0:0", "--sb-listen", "0.0.0.0:0"]
    w = msntest.MsndServer(srv.msnd, args=wild, workdir=srv.dir)
    w.db = srv.db
    try:
        w.start()
        for addr in ("127.0.0.1", "127.0.0.3"):
            ds = msntest.Client((addr, w.ds[1]))
            ds.send_line("VER 1 MSNP7 CVR0")
            ds.expect("VER")
            ds.send_line("USR 2 MD5 I alice@example.com")
            x = ds.expect("XFR")
            assert x.args[1:3] == ["NS", "%s:%d" % (addr, w.ns[1])], x
            ds.close()

            class Reached:
                ds, ns = None, (addr, w.ns[1])
            c = msntest.login(Reached, "alice@example.com", "alicepw", via_ds=False)
            c.send_line("XFR 9 SB")
            x = c.expect("XFR")
            assert x.args[:3] == ["9", "SB", "%s:%d" % (addr, w.sb[1])], x
            c.close()
    finally:
        w.stop()


def test_malformed_input_closes(srv):
    # the framing is lost, or the line has no TrID to answer
    for bad in (b"A" * 5000, b"MSG 1 A 99999999\r\n", b"MSG 1 N x\r\n", b"ver x\r\n", b"VER\x00\r\n"):
        c = msntest.Client(srv.ns)
        c.send_raw(bad)
        c.expect_closed()
    # the server is still fine
    login(srv, "alice@example.com")


def test_malformed_line_with_trid_answers_200(srv):
    """A whole line refused for its content (lower-case or mixed-case
    command, a control byte, too many parameters) is answered 200 with its
    TrID, as written, and the connection goes on."""
    for addr in (srv.ds, srv.ns, srv.sb):
        c = msntest.Client(addr)
        c.send_raw(b"ver 1 MSNP7 CVR0\r\nVeR 02 MSNP7\r\nVER 3 MSNP7\x00\r\n"
                   b"PNG 4 " + b"x " * 30 + b"\r\n")
        for trid in ("1", "02", "3", "4"):
            e = c.expect("200")
            assert e.args == [trid], e
    c = login(srv, "alice@example.com")
    c.send_raw(b"chg %d NLN\r\n" % c.trid())
    assert c.expect("200").args, "answered with the TrID"
    c.send_line("CHG %d BSY" % c.trid())
    c.expect("CHG")


def test_ns_msg_closes(srv):
    c = login(srv, "alice@example.com")
    c.send_msg(c.trid(), "N", b"MIME-Version: 1.0\r\n\r\nhi")
    c.expect_closed()


def test_ds_msg_closes(srv):
    # as at the notification server (docs/msnd.md, "Errors and limits")
    c = msntest.Client(srv.ds)
    c.send_line("VER 1 MSNP7")
    c.expect("VER")
    c.send_msg(2, "N", b"hello")
    c.send_line("INF 3")
    c.expect_closed()


def test_server_commands_from_client_answer_200(srv):
    """The server's notifications sent by a client with a TrID are unknown
    commands: 200 with that TrID, the connection kept (at every role)."""
    cmds = ("JOI", "BYE", "NLN", "FLN", "RNG", "BPR", "QNG", "IRO", "ILN", "ACK", "NAK", "CHL", "LSG")
    c = msntest.Client(srv.ds)
    for i, name in enumerate(cmds, 1):
        c.send_line("%s %d x" % (name, i))
        c.expect_error(200, i)
    c.send_line("VER 99 MSNP7")
    c.expect_line("VER 99 MSNP7")
    c = login(srv, "alice@example.com")
    for name in cmds:
        t = c.trid()
        c.send_line("%s %03d" % (name, t))
        assert c.expect("200").args == ["%03d" % t]
    c.send_line("PNG")
    c.expect_line("QNG")
    c.email = "alice@example.com"
    s = msntest.open_switchboard(srv, c)
    for name in cmds + ("PNG",):
        t = s.trid()
        s.send_line("%s %d" % (name, t))
        s.expect_error(200, t)
    t = s.trid()
    s.send_line("CAL %d nobody@example.com" % t)
    s.expect_error(217, t)
    s.send_line("QNG")  # no TrID to answer: closes
    s.expect_closed()


@with_args("--login-timeout", "1")
def test_login_timeout(srv):
    c = msntest.Client(srv.ns)
    c.send_line("VER 1 MSNP7")
    c.expect("VER")
    c.expect_closed(timeout=5)


@with_args("--max-connections-per-address", "2")
def test_connections_per_address(srv):
    a = msntest.Client(srv.ns)
    b = msntest.Client(srv.ns)
    c = msntest.Client(srv.ns)
    c.expect_closed()
    a.send_line("PNG")
    a.expect_line("QNG")
    b.close()


@with_args("--max-connections-per-address", "2")
def test_refusals_per_address_are_logged_once_a_second(srv):
    """A flood of connections from one address over its limit is refused
    each time, but logged at most once a second (like the global limit):
    it cannot fill the log."""
    keep = [msntest.Client(srv.ns), msntest.Client(srv.ns)]
    keep[0].send_line("PNG")
    keep[0].expect_line("QNG")
    started = time.monotonic()
    for _ in range(300):
        s = socket.create_connection(srv.ns, timeout=5)
        s.settimeout(5)
        assert s.recv(64) == b""  # refused: closed at once
        s.close()
    seconds = time.monotonic() - started
    lines = [l for l in srv.log_text().splitlines() if 'msg="too many connections from one address"' in l]
    assert 1 <= len(lines) <= int(seconds) + 2, (len(lines), seconds)
    keep[1].send_line("PNG")
    keep[1].expect_line("QNG")


@with_args("--max-commands-per-second", "5", "--command-burst", "5")
def test_command_rate_limit(srv):
    c = msntest.Client(srv.ns)
    for i in range(1, 21):
        c.send_line("INF %d" % i)
    replies = [c.read_cmd().line for _ in range(20)]
    assert "INF 1 MD5" in replies, replies
    assert any(r.startswith("713 ") for r in replies), replies


def test_shutdown_sends_out_ssd(srv):
    c = online(srv, "alice@example.com")
    srv.stop()
    c.expect_line("OUT SSD")
    c.expect_closed()


def counts_after_two_logins(srv):
    """Logs alice in (SYN, CHG) and out twice, stops msnd: the hits and
    misses of the "login cache" line it logs when it stops."""
    for _ in range(2):
        c = online(srv, "alice@example.com")
        c.send_line("OUT")
        c.expect_closed()
    srv.stop()
    found = re.findall(r'msg="login cache" .*hits=(\d+) misses=(\d+)', srv.log_text())
    assert found, srv.log_text()
    return int(found[-1][0]), int(found[-1][1])


def test_repeat_login_served_from_cache(srv):
    """A second login of an account whose rows did not change reads its
    snapshot from the cache: one read for two SYNs (none on PostgreSQL,
    whose USR reads it along with the password)."""
    hits, misses = counts_after_two_logins(srv)
    assert misses <= 1 and hits + misses >= 2, (hits, misses)
    srv.start()


@with_args("--login-cache-mb", "0")
def test_login_cache_off(srv):
    hits, misses = counts_after_two_logins(srv)
    assert hits == 0 and misses >= 2, (hits, misses)
    srv.start()


def test_role_ns_direct_login_and_ds_nodes(srv):
    """--role ns,sb: clients log in straight on the NS, which also runs its SB;
    --role ds --ns-nodes: the DS hands out one of the nodes by e-mail hash."""
    ns_only = msntest.MsndServer(srv.msnd, args=["--role", "ns,sb"], workdir=srv.dir)
    ns_only.db = srv.db
    try:
        srv.stop()
        ns_only.start()
        assert ns_only.ds is None and ns_only.ns and ns_only.sb, (ns_only.ds, ns_only.ns, ns_only.sb)
        c = msntest.login(ns_only, "alice@example.com", "alicepw", via_ds=False)
        c.email = "alice@example.com"
        t = c.trid()
        c.send_line("CHG %d NLN" % t)
        c.expect("CHG")
        sb = msntest.open_switchboard(ns_only, c)
        sb.close()
    finally:
        ns_only.stop()
    nodes = "127.0.0.1:1111,127.0.0.2:2222"
    ds_only = msntest.MsndServer(srv.msnd, args=["--role", "ds", "--ns-nodes", nodes], workdir=srv.dir)
    try:
        ds_only.start()
        assert ds_only.ns is None and ds_only.sb is None
        seen = set()
        for who in ("alice@example.com", "bob@example.com", "carol@example.com", "x1@y.com", "x2@y.com"):
            for _ in range(2):
                d = msntest.Client(ds_only.ds)
                d.send_line("VER 1 MSNP5")
                d.expect("VER")
                d.send_line("USR 2 MD5 I %s" % who)
                x = d.expect("XFR")
                seen.add((who, x.args[2]))
                assert x.args[2] in nodes.split(","), x
        assert len({w for w, _ in seen}) == len(seen), seen  # same e-mail, same node
    finally:
        ds_only.stop()
    srv.start()


def test_trids_echoed_as_written(srv):
    # a TrID with leading zeros comes back exactly as the client wrote it:
    # replies at once, replies after the store's answer (USR OK, SYN's
    # lists, ADD, ILN after CHG) and errors, at the DS and the NS
    c = msntest.Client(srv.ds)
    c.send_line("VER 007 MSNP7 CVR0")
    c.expect_line("VER 007 MSNP7 CVR0")
    c.send_line("INF 0008")
    c.expect_line("INF 0008 MD5")
    c.send_line("CVR 09 0x0409 winnt 5.1 i386 MSNMSGR 6.0.0602 MSMSGS alice@example.com")
    assert c.expect("CVR").args[0] == "09"
    c.send_line("ZZZ 00")
    c.expect_line("200 00")
    c.send_line("USR 010 MD5 I alice@example.com")
    x = c.expect("XFR")
    assert x.args[:2] == ["010", "NS"], x
    c.expect_closed()

    c = msntest.Client(msntest.addr_of(x.args[2]))
    c.send_line("VER 01 MSNP7 CVR0")
    c.expect_line("VER 01 MSNP7 CVR0")
    c.send_line("SYN 002 0")
    c.expect_line("302 002")
    c.send_line("USR 03 MD5 I alice@example.com")
    ch = c.expect("USR")
    assert ch.args[:3] == ["03", "MD5", "S"], ch
    c.send_line("USR 0004 MD5 S %s" % msntest.md5_login_response(ch.args[3], PASSWORDS["alice@example.com"]))
    c.expect_line("USR 0004 OK alice@example.com Alice 1")
    c.expect("MSG")  # profile
    c.send_line("SYN 05 0")
    while True:
        cmd = c.read_cmd()
        assert cmd.args[0] == "05", cmd
        if cmd.name == "LST" and cmd.args[1] == "RL":
            break
    c.send_line("ADD 006 FL bob@example.com bob@example.com")
    add = c.expect("ADD")
    assert add.args[:2] == ["006", "FL"], add
    c.send_line("ADD 0007 FL bob@example.com bob@example.com")
    c.expect_line("215 0007")
    c.send_line("REA 08 alice@example.com Alice2")
    assert c.expect("REA").args[0] == "08"
    bob = online(srv, "bob@example.com")
    c.send_line("CHG 04294967295 NLN")
    seen = {}
    for _ in range(10):
        cmd = c.read_cmd()
        if cmd.name in ("CHG", "ILN"):
            seen[cmd.name] = cmd.line
        elif msntest.topology() == "cluster" and cmd.line == "NLN NLN bob@example.com Bob":
            # bob is on another node, whose news of his login may come after
            # alice's CHG: then an NLN (no TrID) says it instead of the ILN
            seen["ILN"] = "ILN 04294967295 NLN bob@example.com Bob"
        if len(seen) == 2:
            break
    assert seen == {"CHG": "CHG 04294967295 NLN", "ILN": "ILN 04294967295 NLN bob@example.com Bob"}, seen
    c.send_line("XFR 000 SB")
    assert c.expect("XFR").args[:2] == ["000", "SB"]
    bob.close()

    c = msntest.Client(srv.ns)
    c.send_line("VER 1 MSNP7 CVR0")
    c.expect_line("VER 1 MSNP7 CVR0")
    c.send_line("USR 02 MD5 I alice@example.com")
    c.expect("USR")
    c.send_line("USR 003 MD5 S 0123456789abcdef0123456789abcdef")
    c.expect_line("911 003")


def test_garbage_never_crashes(srv):
    import random
    rnd = random.Random(1863)
    pieces = [b"VER 1 MSNP7 CVR0\r\n", b"USR 2 MD5 I alice@example.com\r\n", b"USR 3 MD5 S x\r\n",
              b"MSG 4 A 5\r\nhello", b"QRY 5 msmsgs@msnmsgr.com 32\r\n", b"CAL 6 bob@example.com\r\n",
              b"ANS 7 a@b.com 1.2.3 99\r\n", b"SYN 8 4294967296\r\n", b"\r\n\r\n", b"ADD 9 FL %00 %\r\n",
              b"XFR 10 SB\r\n", b"CHG 11 NLN 4294967295 extra params here\r\n", b"OUT\r\n", b"PNG\r\n"]
    for i in range(150):
        addr = (srv.ds, srv.ns, srv.sb)[i % 3]
        c = msntest.Client(addr, timeout=2)
        blob = b"".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 6)))
        if rnd.random() < 0.5:
            blob += bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 300)))
        try:
            c.send_raw(blob)
        except OSError:
            pass
        c.close()
    login(srv, "alice@example.com")


if __name__ == "__main__":
    tests = [v for k, v in list(globals().items()) if k.startswith("test_")]
    sys.exit(run(tests, sys.argv[1]))
