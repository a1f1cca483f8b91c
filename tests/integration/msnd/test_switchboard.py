#!/usr/bin/env python3
"""msnd switchboard: the example sessions' XFR SB / USR / CAL / RNG / ANS / IRO / JOI
transcript, byte-identical MSG relay with ACK/NAK per mode, the examples'
invitations (file transfer, voice over two switchboards, whiteboard
CONTEXT), three-party chat, BYE, cookie rules, limits."""
import sys
import time

from harness import msntest, online, run, with_args

IM = (b"MIME-Version: 1.0\r\n"
      b"Content-Type: text/plain; charset=UTF-8\r\n"
      b"X-MMS-IM-Format: FN=Microsoft%20Sans%20Serif; EF=I; CO=000000; CS=0; PF=22\r\n"
      b"\r\n"
      b"hello! how are you?")

INVITE_HDR = b"MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n"

FT_INVITE = INVITE_HDR + (
    b"Application-Name: File Transfer\r\n"
    b"Application-GUID: {5D3E02AB-6190-11D3-BBBB-00C04F795683}\r\n"
    b"Invitation-Command: INVITE\r\n"
    b"Invitation-Cookie: 33267\r\n"
    b"Application-File: readme.txt\r\n"
    b"Application-FileSize: 60904\r\n\r\n")
FT_ACCEPT = INVITE_HDR + (
    b"Invitation-Command: ACCEPT\r\n"
    b"Invitation-Cookie: 33267\r\n"
    b"Launch-Application: FALSE\r\n"
    b"Request-Data: IP-Address:\r\n\r\n")
FT_ACCEPT2 = INVITE_HDR + (
    b"Invitation-Command: ACCEPT\r\n"
    b"Invitation-Cookie: 33267\r\n"
    b"IP-Address: 10.44.102.65\r\n"
    b"Port: 6891\r\n"
    b"AuthCookie: 93301\r\n"
    b"Launch-Application: FALSE\r\n"
    b"Request-Data: IP-Address:\r\n\r\n")
VOICE_INVITE = INVITE_HDR + (
    b"Application-Name: \xe8\xaf\xad\xe9\x9f\xb3\xe5\xaf\xb9\xe8\xaf\x9d\r\n"
    b"Application-GUID: {02D3C01F-BF30-4825-A83A-DE7AF41648AA}\r\n"
    b"Session-Protocol: SM1\r\n"
    b"Context-Data: Requested:SIP_A,; Capabilities:SIP_A,SIP_V\r\n"
    b"Invitation-Command: INVITE\r\n"
    b"Invitation-Cookie: 25402056\r\n"
    b"Session-ID: {C4E9035F-CCEB-40F0-8F17-135FB734073B}\r\n\r\n")
VOICE_ACCEPT = INVITE_HDR + (
    b"Invitation-Command: ACCEPT\r\n"
    b"Invitation-Cookie: 25402056\r\n"
    b"IP-Address: 192.168.0.2\r\n"
    b"Session-ID: {C4E9035F-CCEB-40F0-8F17-135FB734073B}\r\n\r\n")
VOICE_ACCEPT2 = INVITE_HDR + (
    b"Invitation-Command: ACCEPT\r\n"
    b"Invitation-Cookie: 25402056\r\n"
    b"IP-Address: 192.168.0.1:5004\r\n\r\n")
WB_INVITE = INVITE_HDR + (
    b"Application-Name: Whiteboard\r\n"
    b"Application-GUID: {1DF57D09-637A-4CA5-91B9-2C3EDAAF62FE}\r\n"
    b"Session-Protocol: SM1\r\n"
    b"Invitation-Command: INVITE\r\n"
    b"Invitation-Cookie: 4242\r\n\r\n")
WB_ACCEPT = INVITE_HDR + (
    b"Invitation-Command: ACCEPT\r\n"
    b"Invitation-Cookie: 4242\r\n"
    b"IP-Address: 10.1.1.211\r\n\r\n")
WB_CONTEXT = INVITE_HDR + (
    b"Invitation-Command: CONTEXT\r\n"
    b"Invitation-Cookie: 4242\r\n"
    b"Context-Data: 10.1.1.211:13374\r\n\r\n")


def friends(srv, *emails):
    """Everyone online, everyone on everyone's FL (needed by nobody, but real)."""
    clients = [online(srv, e) for e in emails]
    return clients


def call(srv, caller_ns, caller_sb, callee_ns, callee_email):
    t = caller_sb.trid()
    caller_sb.send_line("CAL %d %s" % (t, callee_email))
    r = caller_sb.expect("CAL")
    assert r.args[:2] == [str(t), "RINGING"], r
    rng = callee_ns.expect("RNG")
    assert rng.args[0] == r.args[2] and rng.args[2] == "CKI", rng
    assert rng.args[4] == caller_sb.email, rng
    sb = msntest.join_by_ring(srv, callee_ns, rng)
    caller_sb.expect("JOI")
    return sb


def relay(sender, receivers, payload, mode="N"):
    t = sender.trid()
    sender.send_msg(t, mode, payload)
    for r in receivers:
        m = r.expect("MSG")
        assert m.args[0] == sender.email, m
        assert m.payload == payload, (m.payload, payload)
        assert int(m.args[2]) == len(payload)
    return t


def test_example_switchboard_transcript(srv):
    a, b = friends(srv, "example@passport.com", "name_123@hotmail.com")
    sb = msntest.Client(srv.sb)  # placeholder to show the SB port is open
    sb.close()
    t = a.trid()
    a.send_line("XFR %d SB" % t)
    x = a.expect("XFR")
    # one of the switchboards (one process has one; a cluster hands its
    # switchboard processes out in turn)
    assert x.args[:2] == [str(t), "SB"] and x.args[2] in ["%s:%d" % a for a in srv.sbs] and x.args[3] == "CKI", x
    sb_addr = x.args[2]
    cookie = x.args[4]
    assert len(cookie.split(".")) == 3, cookie
    s = msntest.Client(msntest.addr_of(sb_addr))
    s.send_line("USR 1 example@passport.com %s" % cookie)
    s.expect_line("USR 1 OK example@passport.com my%20screen%20name")
    s.send_line("CAL 2 name_123@hotmail.com")
    r = s.expect("CAL")
    assert r.args[:2] == ["2", "RINGING"] and r.args[2].isdigit(), r
    sessid = r.args[2]
    rng = b.expect("RNG")
    assert rng.args[0] == sessid and rng.args[1] == sb_addr and rng.args[2] == "CKI", rng
    assert rng.args[4:] == ["example@passport.com", "my%20screen%20name"], rng
    bs = msntest.Client(msntest.addr_of(sb_addr))
    bs.send_line("ANS 1 name_123@hotmail.com %s %s" % (rng.args[3], sessid))
    bs.expect_line("IRO 1 1 1 example@passport.com my%20screen%20name")
    bs.expect_line("ANS 1 OK")
    s.expect_line("JOI name_123@hotmail.com name_123")
    s.send_msg(3, "A", IM)
    m = bs.expect("MSG")
    assert m.line == "MSG example@passport.com my%%20screen%%20name %d" % len(IM), m
    assert m.payload == IM
    s.expect_line("ACK 3")
    bs.send_msg(2, "N", IM)
    assert s.expect("MSG").payload == IM
    bs.expect_silence(0.2)  # N: no ACK on success
    bs.send_msg(3, "U", IM)
    assert s.expect("MSG").payload == IM
    bs.expect_silence(0.2)
    bs.send_line("OUT")
    bs.expect_closed()
    s.expect_line("BYE name_123@hotmail.com")
    # alone now: A and N are NAKed, U is silent
    s.send_msg(4, "A", IM)
    s.expect_line("NAK 4")
    s.send_msg(5, "N", IM)
    s.expect_line("NAK 5")
    s.send_msg(6, "U", IM)
    s.expect_silence(0.2)


def test_trids_echoed_as_written(srv):
    # TrIDs with leading zeros come back exactly as the client wrote them,
    # on every switchboard reply: XFR, USR, CAL (after the callee's node
    # answers), IRO and ANS, ACK, NAK and errors
    a, b = friends(srv, "example@passport.com", "name_123@hotmail.com")
    a.send_line("XFR 0007 SB")
    x = a.expect("XFR")
    assert x.args[:2] == ["0007", "SB"], x
    s = msntest.Client(msntest.addr_of(x.args[2]))
    s.send_line("USR 001 example@passport.com %s" % x.args[4])
    s.expect_line("USR 001 OK example@passport.com my%20screen%20name")
    s.send_line("CAL 02 nobody@example.com")
    s.expect_line("217 02")
    s.send_line("CAL 0003 name_123@hotmail.com")
    r = s.expect("CAL")
    assert r.args[:2] == ["0003", "RINGING"], r
    rng = b.expect("RNG")
    bs = msntest.Client(msntest.addr_of(x.args[2]))
    bs.send_line("ANS 00 name_123@hotmail.com %s %s" % (rng.args[3], rng.args[0]))
    bs.expect_line("IRO 00 1 1 example@passport.com my%20screen%20name")
    bs.expect_line("ANS 00 OK")
    s.expect_line("JOI name_123@hotmail.com name_123")
    s.send_raw(b"MSG 04294967295 A %d\r\n" % len(IM) + IM)
    assert bs.expect("MSG").payload == IM
    s.expect_line("ACK 04294967295")
    s.send_raw(b"MSG 005 X %d\r\n" % len(IM) + IM)
    s.expect_line("201 005")
    bs.send_line("OUT")
    bs.expect_closed()
    s.expect_line("BYE name_123@hotmail.com")
    s.send_raw(b"MSG 0006 A %d\r\n" % len(IM) + IM)
    s.expect_line("NAK 0006")
    # still checked as a number: past 2^32-1 it is no TrID
    s.send_line("CAL 004294967296 name_123@hotmail.com")
    s.expect_closed()


def test_invitations_relayed_byte_identical(srv):
    a, b = friends(srv, "alice@example.com", "bob@example.com")
    a.email, b.email = "alice@example.com", "bob@example.com"
    asb = msntest.open_switchboard(srv, a)
    bsb = call(srv, a, asb, b, "bob@example.com")
    # file transfer: INVITE, ACCEPT, ACCEPT with address
    relay(asb, [bsb], FT_INVITE)
    relay(bsb, [asb], FT_ACCEPT)
    relay(asb, [bsb], FT_ACCEPT2)
    # whiteboard with CONTEXT
    relay(asb, [bsb], WB_INVITE)
    relay(bsb, [asb], WB_ACCEPT)
    relay(asb, [bsb], WB_CONTEXT)
    # voice uses a second switchboard between the same pair, at the same time
    asb2 = msntest.open_switchboard(srv, a)
    bsb2 = call(srv, a, asb2, b, "bob@example.com")
    relay(asb, [bsb], VOICE_INVITE)
    relay(bsb2, [asb2], VOICE_ACCEPT)
    relay(asb, [bsb], VOICE_ACCEPT2)
    relay(asb2, [bsb2], IM, mode="A")
    asb2.expect("ACK")
    asb.expect_silence(0.1)
    log = srv.log_text()
    assert 'msg="invitation"' in log and "cookie=\"33267\"" in log and "app=file_transfer" in log, log[-3000:]
    assert "10.1.1.211" in log
    # ACCEPT and CONTEXT name only the cookie: the application is the one
    # its INVITE in the session named (it was logged as app=unknown)
    lines = [l for l in log.splitlines() if 'msg="invitation"' in l]
    for cookie, app in (("33267", "file_transfer"), ("4242", "whiteboard")):
        cmds = [(l.split(" command=")[1].split()[0], l.split(" app=")[1].split()[0])
                for l in lines if 'cookie="%s"' % cookie in l]
        assert cmds and all(a == app for _, a in cmds) and {"INVITE", "ACCEPT"} <= {c for c, _ in cmds}, (cookie, cmds)
    # a long Context-Data (Remote Assistance sends a few hundred bytes) is
    # logged whole; a value past its room is marked as cut, never cut in
    # the middle of a character and passed off as the value
    ctx = "".join("10.1.1.%d:%d;" % (i, 4000 + i) for i in range(24))
    name = "Ж" * 100  # 200 bytes of two-byte characters
    relay(asb, [bsb], INVITE_HDR + ("Application-Name: %s\r\nInvitation-Command: CONTEXT\r\n"
                                    "Invitation-Cookie: 4242\r\nContext-Data: %s\r\n\r\n" % (name, ctx)).encode())
    asb.expect_silence(0.1)
    line = [l for l in srv.log_text().splitlines() if "context=\"10.1.1.0:4000;" in l]
    assert len(line) == 1, srv.log_text()[-3000:]
    assert 'context="%s"' % ctx in line[0], line[0]
    shown = line[0].split(' name="')[1].split('"')[0]
    assert shown.endswith("...") and shown[:-3] == "Ж" * len(shown[:-3]) and len(shown[:-3]) >= 60, shown
test_invitations_relayed_byte_identical.args = ("--log-invitations",)


def test_three_party_and_bye(srv):
    a, b, c = friends(srv, "alice@example.com", "bob@example.com", "carol@example.com")
    a.email, b.email, c.email = "alice@example.com", "bob@example.com", "carol@example.com"
    asb = msntest.open_switchboard(srv, a)
    bsb = call(srv, a, asb, b, "bob@example.com")
    # bob invites carol
    t = bsb.trid()
    bsb.send_line("CAL %d carol@example.com" % t)
    bsb.expect("CAL")
    rng = c.expect("RNG")
    assert rng.args[4] == "bob@example.com", rng
    csb = msntest.join_by_ring(srv, c, rng)
    assert [r.args[1:] for r in csb.roster] == [["1", "2", "alice@example.com", "Alice"],
                                                ["2", "2", "bob@example.com", "Bob"]], csb.roster
    asb.expect_line("JOI carol@example.com Carol")
    bsb.expect_line("JOI carol@example.com Carol")
    t = relay(csb, [asb, bsb], IM, mode="A")
    csb.expect_line("ACK %d" % t)
    # calling someone already present
    t = asb.trid()
    asb.send_line("CAL %d bob@example.com" % t)
    asb.expect_error(215, t)
    # a dropped connection sends BYE to the others
    bsb.close()
    asb.expect_line("BYE bob@example.com")
    csb.expect_line("BYE bob@example.com")
    relay(asb, [csb], IM)


def test_cal_errors(srv):
    a = online(srv, "alice@example.com")
    b = online(srv, "bob@example.com")
    a.email = "alice@example.com"
    b.email = "bob@example.com"
    asb = msntest.open_switchboard(srv, a)
    for target, code in (("carol@example.com", 217), ("nobody@example.com", 217), ("@@a", 208),
                         ("alice@example.com", 215)):
        t = asb.trid()
        asb.send_line("CAL %d %s" % (t, target))
        asb.expect_error(code, t)
    # blocked looks exactly like offline
    t = b.trid()
    b.send_line("ADD %d BL alice@example.com alice@example.com" % t)
    b.expect("ADD")
    t = asb.trid()
    asb.send_line("CAL %d bob@example.com" % t)
    asb.expect_error(217, t)
    # hidden too
    t = b.trid()
    b.send_line("REM %d BL alice@example.com" % t)
    b.expect("REM")
    t = b.trid()
    b.send_line("CHG %d HDN" % t)
    b.expect("CHG")
    t = asb.trid()
    asb.send_line("CAL %d bob@example.com" % t)
    asb.expect_error(217, t)
    b.expect_silence(0.2)  # no RNG leaked


def test_cookie_rules(srv):
    a = online(srv, "alice@example.com")
    b = online(srv, "bob@example.com")
    a.email, b.email = "alice@example.com", "bob@example.com"
    t = a.trid()
    a.send_line("XFR %d SB" % t)
    cookie = a.expect("XFR").args[4]
    # wrong user burns the cookie
    s = msntest.Client(srv.sb)
    s.send_line("USR 1 bob@example.com %s" % cookie)
    s.expect_error(911, 1)
    s.expect_closed()
    s = msntest.Client(srv.sb)
    s.send_line("USR 1 alice@example.com %s" % cookie)
    s.expect_error(911, 1)
    # reuse
    t = a.trid()
    a.send_line("XFR %d SB" % t)
    cookie = a.expect("XFR").args[4]
    s = msntest.Client(srv.sb)
    s.send_line("USR 1 alice@example.com %s" % cookie)
    s.expect("USR")
    s2 = msntest.Client(srv.sb)
    s2.send_line("USR 1 alice@example.com %s" % cookie)
    s2.expect_error(911, 1)
    # RNG cookie: wrong user, wrong session, then reuse
    s.email = "alice@example.com"
    t = s.trid()
    s.send_line("CAL %d bob@example.com" % t)
    sessid = s.expect("CAL").args[2]
    rng = b.expect("RNG")
    x = msntest.Client(srv.sb)
    x.send_line("ANS 1 bob@example.com %s %d" % (rng.args[3], int(sessid) + 1))
    x.expect_error(911, 1)
    t = s.trid()  # the failed try burnt the cookie: ring again
    s.send_line("CAL %d bob@example.com" % t)
    assert s.expect("CAL").args[1] == "RINGING"
    rng = b.expect("RNG")
    bsb = msntest.join_by_ring(srv, b, rng)
    s.expect_line("JOI bob@example.com Bob")
    z = msntest.Client(srv.sb)
    z.send_line("ANS 1 bob@example.com %s %s" % (rng.args[3], rng.args[0]))
    z.expect_error(911, 1)
    bsb.expect_silence(0.1)
    # commands before joining
    y = msntest.Client(srv.sb)
    y.send_line("CAL 1 bob@example.com")
    y.expect_error(302, 1)
    y.send_msg(2, "A", IM)
    y.expect_error(302, 2)


def test_unanswered_ring_ends_with_callee_session(srv):
    """A ring nobody answered ends when the callee's notification session
    does: 217 while the callee is offline, a new RNG once it is back (not
    215 until the RNG cookie expires), and the old RNG cookie is void. On a
    cluster the switchboard is a process of its own: the callee's node tells
    it over the link (RINGEND)."""
    a = online(srv, "alice@example.com")
    b = online(srv, "bob@example.com")
    a.email, b.email = "alice@example.com", "bob@example.com"
    asb = msntest.open_switchboard(srv, a)
    t = asb.trid()
    asb.send_line("CAL %d bob@example.com" % t)
    assert asb.expect("CAL").args[:2] == [str(t), "RINGING"]
    old = b.expect("RNG")
    t = asb.trid()  # still being rung on a live session
    asb.send_line("CAL %d bob@example.com" % t)
    asb.expect_error(215, t)
    b.send_line("OUT")
    b.expect_closed()
    # On a cluster the callee's node tells the switchboard process over the
    # link (RINGEND), which may arrive a moment after the callee's session
    # closed: 215 until then, 217 within a bounded wait.
    deadline = time.monotonic() + 5
    while True:
        t = asb.trid()
        asb.send_line("CAL %d bob@example.com" % t)
        reply = asb.read_cmd()
        if reply.line != "215 %d" % t or msntest.topology() != "cluster" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert reply.line == "217 %d" % t, reply
    b = online(srv, "bob@example.com")
    t = asb.trid()
    asb.send_line("CAL %d bob@example.com" % t)
    assert asb.expect("CAL").args[:2] == [str(t), "RINGING"]
    rng = msntest.read_until(b, "RNG")
    assert rng.args[3] != old.args[3], (rng, old)
    x = msntest.Client(srv.sb)
    x.send_line("ANS 1 bob@example.com %s %s" % (old.args[3], old.args[0]))
    x.expect_error(911, 1)
    bsb = msntest.join_by_ring(srv, b, rng)
    asb.expect_line("JOI bob@example.com Bob")
    bsb.close()


def xfr_cookie(ns_client):
    t = ns_client.trid()
    ns_client.send_line("XFR %d SB" % t)
    x = ns_client.expect("XFR")
    return msntest.addr_of(x.args[2]), x.args[4]


def test_xfr_cookie_ends_with_its_session(srv):
    """An XFR SB cookie is good only while the notification session it was
    issued to lasts: after OUT, a lost connection, a second login (OUT OTH)
    or the account's deletion it gets 911, so nobody offline can open a switchboard and ring
    people as if online. The new login's own cookies work."""
    bob = online(srv, "bob@example.com")
    bob.email = "bob@example.com"

    def refused(where, cookie):
        s = msntest.Client(where)
        s.send_line("USR 1 alice@example.com %s" % cookie)
        s.expect_error(911, 1)
        s.expect_closed()

    a = online(srv, "alice@example.com")
    gone = [xfr_cookie(a)]
    a.send_line("OUT")
    a.expect_closed()
    a = online(srv, "alice@example.com")
    gone.append(xfr_cookie(a))
    a.close()  # the connection is lost
    # The server must see the connection end before the cookie is shown.
    time.sleep(0.5)
    a = online(srv, "alice@example.com")
    gone.append(xfr_cookie(a))
    a2 = online(srv, "alice@example.com")
    a2.email = "alice@example.com"
    a.expect_line("OUT OTH")
    keep = xfr_cookie(a2)
    for where, cookie in gone:
        refused(where, cookie)
    bob.expect_silence(0.2)  # and no RNG from an offline alice
    s = msntest.Client(keep[0])
    s.send_line("USR 1 alice@example.com %s" % keep[1])
    assert s.expect("USR").args[1] == "OK"
    s.email = "alice@example.com"
    t = s.trid()
    s.send_line("CAL %d bob@example.com" % t)
    assert s.expect("CAL").args[1] == "RINGING"
    assert bob.expect("RNG").args[4] == "alice@example.com"
    # The account deleted by another process: the session ends with OUT
    # within a sweep period, and its cookie with it.
    cookie = xfr_cookie(a2)
    r = srv.run_admin("user", "del", "alice@example.com")
    assert r.returncode == 0, r.stderr
    while a2.read_cmd(10).name != "OUT":
        pass
    a2.expect_closed()
    refused(*cookie)


def test_hidden_or_logged_out_caller_cannot_ring(srv):
    """CAL from a switchboard joined before its caller went hidden (HDN) or
    logged out: 913, as XFR SB answers a hidden user; the RNG would show
    them online. Back online, the same switchboard rings again. (On a
    cluster the switchboard is a process of its own: the callee's node,
    which knows the caller's status from the caller's node, answers it
    HIDDEN.)"""
    bob = online(srv, "bob@example.com")
    bob.email = "bob@example.com"
    a = online(srv, "alice@example.com")
    a.email = "alice@example.com"
    sb = msntest.open_switchboard(srv, a)
    t = a.trid()
    a.send_line("CHG %d HDN 0" % t)
    a.expect("CHG")
    t = sb.trid()
    sb.send_line("CAL %d bob@example.com" % t)
    sb.expect_error(913, t)
    bob.expect_silence(0.2)
    t = a.trid()
    a.send_line("CHG %d NLN 0" % t)
    a.expect("CHG")
    # On a cluster the callee's node hears of the change from the caller's
    # node after the CHG is answered: a CAL in between is still refused
    # (913), as it should be. Asked again until it rings, for 10 s at most.
    deadline = time.monotonic() + 10
    while True:
        t = sb.trid()
        sb.send_line("CAL %d bob@example.com" % t)
        r = sb.read_cmd()
        if r.name != "913" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert r.name == "CAL" and r.args[:2] == [str(t), "RINGING"], r
    rng = bob.expect("RNG")
    assert rng.args[0] == r.args[2] and rng.args[4] == "alice@example.com", rng
    bob_sb = msntest.join_by_ring(srv, bob, rng)
    sb.expect("JOI")
    carol = online(srv, "carol@example.com")
    a.send_line("OUT")
    a.expect_closed()
    t = sb.trid()
    sb.send_line("CAL %d carol@example.com" % t)
    sb.expect_error(913, t)
    carol.expect_silence(0.2)
    bob_sb.close()


@with_args("--cookie-lifetime", "1")
def test_expired_cookie(srv):
    a = online(srv, "alice@example.com")
    t = a.trid()
    a.send_line("XFR %d SB" % t)
    cookie = a.expect("XFR").args[4]
    time.sleep(1.3)
    s = msntest.Client(srv.sb)
    s.send_line("USR 1 alice@example.com %s" % cookie)
    s.expect_error(911, 1)


def test_oversize_and_bad_mode(srv):
    a, b = friends(srv, "alice@example.com", "bob@example.com")
    a.email, b.email = "alice@example.com", "bob@example.com"
    asb = msntest.open_switchboard(srv, a)
    bsb = call(srv, a, asb, b, "bob@example.com")
    big = IM + b"x" * (1665 - len(IM))
    t = asb.trid()
    asb.send_msg(t, "A", big)
    asb.expect_error(201, t)
    bsb.expect_silence(0.2)
    exact = IM + b"y" * (1664 - len(IM))
    t = relay(asb, [bsb], exact, mode="A")
    asb.expect_line("ACK %d" % t)
    for mode in ("a", "D", "X"):
        t = asb.trid()
        asb.send_msg(t, mode, IM)
        asb.expect_error(201, t)
    t = relay(bsb, [asb], IM, mode="A")
    bsb.expect_line("ACK %d" % t)
    # binary-safe, empty payload
    relay(asb, [bsb], bytes(range(256)) + b"\r\n\r\n\x00")
    relay(asb, [bsb], b"")


@with_args("--max-participants", "2")
def test_participant_limit(srv):
    a, b, c = friends(srv, "alice@example.com", "bob@example.com", "carol@example.com")
    a.email, b.email = "alice@example.com", "bob@example.com"
    asb = msntest.open_switchboard(srv, a)
    bsb = call(srv, a, asb, b, "bob@example.com")
    t = asb.trid()
    asb.send_line("CAL %d carol@example.com" % t)
    asb.expect_error(712, t)
    bsb.close()


def test_many_sessions_same_pair(srv):
    a, b = friends(srv, "alice@example.com", "bob@example.com")
    a.email, b.email = "alice@example.com", "bob@example.com"
    pairs = []
    for _ in range(5):
        asb = msntest.open_switchboard(srv, a)
        pairs.append((asb, call(srv, a, asb, b, "bob@example.com")))
    for i, (asb, bsb) in enumerate(pairs):
        payload = IM + (" session %d" % i).encode()
        relay(asb, [bsb], payload)
        relay(bsb, [asb], payload)
    for asb, bsb in pairs:
        bsb.expect_silence(0.05)
        asb.expect_silence(0.05)


@with_args("--sb-idle-timeout", "1")
def test_idle_switchboard_times_out(srv):
    a, b = friends(srv, "alice@example.com", "bob@example.com")
    a.email, b.email = "alice@example.com", "bob@example.com"
    asb = msntest.open_switchboard(srv, a)
    bsb = call(srv, a, asb, b, "bob@example.com")
    # alice keeps talking, bob says nothing and is dropped after a second
    bye = None
    for _ in range(20):
        t = asb.trid()
        asb.send_msg(t, "U", IM)
        try:
            m = asb.read_cmd(0.25)
        except TimeoutError:
            continue
        if m.name == "BYE":
            bye = m
            break
    assert bye is not None and bye.line == "BYE bob@example.com", bye
    for _ in range(20):  # bob got alice's messages, then the close
        try:
            bsb.read_cmd(5)
        except ConnectionError:
            break
    # the NS connections are not affected
    t = a.trid()
    a.send_line("PNG")
    a.expect_line("QNG")


@with_args("--max-output", "65536", "--max-commands-per-second", "0")
def test_slow_reader_is_dropped_session_survives(srv):
    a, b, c = friends(srv, "alice@example.com", "bob@example.com", "carol@example.com")
    a.email, b.email, c.email = "alice@example.com", "bob@example.com", "carol@example.com"
    asb = msntest.open_switchboard(srv, a)
    bsb = call(srv, a, asb, b, "bob@example.com")   # bob never reads from now on
    import socket
    bsb.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fill up sooner
    t = asb.trid()
    asb.send_line("CAL %d carol@example.com" % t)
    asb.expect("CAL")
    csb = msntest.join_by_ring(srv, c, c.expect("RNG"))
    asb.expect("JOI")
    bsb.expect("JOI")
    big = IM + b"z" * (1600 - len(IM))
    bye = None
    # carol reads everything; alice floods until the server gives up on bob
    for batch in range(100):
        for _ in range(50):
            asb.send_msg(asb.trid(), "U", big)
        got = 0
        while got < 50 and not bye:
            m = csb.read_cmd()
            if m.name == "BYE":
                bye = m
            got += m.name == "MSG"
        if bye:
            break
    print("bob dropped after %d messages" % ((batch + 1) * 50))
    assert bye is not None and bye.line == "BYE bob@example.com", bye
    t = asb.trid()
    asb.send_msg(t, "A", IM)
    for _ in range(5000):  # carol still has the flood queued before it
        m = csb.read_cmd()
        if m.name == "MSG" and m.payload == IM:
            break
    else:
        raise AssertionError("message after the drop never arrived")
    for _ in range(5000):
        m = asb.read_cmd()
        if m.line == "ACK %d" % t:
            break
    else:
        raise AssertionError("no ACK after the drop")
    assert 'dropping slow client' in srv.log_text()



@with_args("--max-output", "65536", "--max-commands-per-second", "0")
def test_message_a_dropped_reader_never_got_is_naked(srv):
    """ACK (A) or silence (N) says a message reached every other
    participant: one that could not be queued for a slow reader, which is
    dropped for it, gets NAK before the reader's BYE."""
    import socket
    for mode in ("A", "N"):
        a, b = friends(srv, "alice@example.com", "bob@example.com")
        a.email, b.email = "alice@example.com", "bob@example.com"
        asb = msntest.open_switchboard(srv, a)
        bsb = call(srv, a, asb, b, "bob@example.com")  # bob never reads from now on
        bsb.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        big = IM + b"z" * (1600 - len(IM))
        sent, got = set(), []
        for _ in range(200):
            for _ in range(50):
                t = asb.trid()
                sent.add(t)
                asb.send_msg(t, mode, big)
            # a CAL of someone offline marks the end of the batch: its
            # answer (217, or 713 when calling too fast) comes after the
            # messages' ACKs and NAKs
            mark = asb.trid()
            asb.send_line("CAL %d nobody@example.com" % mark)
            while True:
                m = asb.read_cmd()
                if m.args and m.args[-1] == str(mark) and m.name in ("217", "713"):
                    break
                got.append(m.line)
            if any(l.startswith("BYE") for l in got):
                break
        assert "BYE bob@example.com" in got, got[-5:]
        before = got[:got.index("BYE bob@example.com")]
        assert before and before[-1].startswith("NAK ") and int(before[-1].split()[1]) in sent, (mode, before[-3:])
        if mode == "A":
            assert all(l.startswith("ACK ") for l in before[:-1] if not l.startswith("NAK ")), before
        for c in (a, b, asb, bsb):
            c.close()

if __name__ == "__main__":
    tests = [v for k, v in list(globals().items()) if k.startswith("test_")]
    sys.exit(run(tests, sys.argv[1]))
