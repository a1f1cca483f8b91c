#!/usr/bin/env python3
"""msnc --batch against hostile scripted servers (fakeserver.py): a RNG whose
address fails at once, a flood of RNGs, a server that never reads, one that
says nothing, OUT SSD, commands piped before login, stdin from a regular
file, oversized protocol fields.

usage: test_hostile.py MSNC"""
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fakeserver import FakeServer, FakeServerTest, invite_payload  # noqa: E402

MSNC = None
ALICE, PW = "alice@example.com", "alicepw"
WAIT = 15.0


class Hostile(FakeServerTest):
    tmp_prefix = "msnc-hostile-"


    def assert_exit(self, c, code, timeout=WAIT):
        try:
            rc = c.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.fail("msnc still running; events: %s" % c.events[-10:])
        self.assertEqual(rc, code, "exit code; events: %s; stderr: %s" % (c.events[-10:], c.stderr_tail()))

    def test_rng_whose_connect_fails_at_once(self):
        """An address that refuses at once (broadcast) must close that chat
        only, from the event loop, and leave msnc working."""
        c, ns = self.logged_in()
        ns.send_line("RNG 11 255.255.255.255:1863 CKI 17.1 bob@example.com Bob")
        closed = c.wait("chat_closed")
        self.assertIn("255.255.255.255:1863", closed["text"])
        # Still alive and answering: another RNG, then a clean quit.
        ns.send_line("RNG 12 255.255.255.255:1863 CKI 17.2 bob@example.com Bob")
        c.wait("chat_closed", chat=closed["chat"] + 1)
        self.assertEqual(c.quit(), 0, c.stderr_tail())

    def test_rngs_beyond_descriptors(self):
        """With few descriptors, RNGs past the last one fail inside connect
        (no socket): each such chat is closed from the event loop and msnc
        keeps running."""
        env = dict(os.environ, MSNC_PASSWORD=PW)

        def few_fds():
            resource.setrlimit(resource.RLIMIT_NOFILE, (20, 20))
        errpath = os.path.join(self.tmp, "stderr")
        with open(errpath, "w") as errf:
            p = subprocess.Popen([MSNC, "--batch", "-s", self.srv.hostport, "-u", ALICE, "--no-reconnect",
                                  "--cache-dir", self.tmp, "--login-timeout", "600"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=errf, env=env, preexec_fn=few_fds, text=True)
        self.closers.append(lambda: p.poll() is None and p.kill())
        ns = self.srv.accept()
        ns.login(ALICE, PW)
        sb = FakeServer()
        self.closers.append(sb.close)
        for i in range(24):
            ns.send_line("RNG %d %s CKI 9.%d user%d@example.com U" % (3000 + i, sb.hostport, i, i))
        events = []
        cv = threading.Condition()

        def read_events():
            for line in p.stdout:
                with cv:
                    events.append(line)
                    cv.notify_all()
        reader = threading.Thread(target=read_events, daemon=True)
        reader.start()

        def closed():
            with cv:
                return sum('"event":"chat_closed"' in e for e in events)
        # Connections held open until every RNG is accounted for: connected
        # here or closed by msnc (no handshake times out meanwhile).
        held = []
        self.closers.append(lambda: [h.close() for h in held])
        sb.lsock.settimeout(0.1)
        deadline = time.monotonic() + 60
        while len(held) + closed() < 24:
            self.assertLess(time.monotonic(), deadline, "%d connections; events: %s" % (len(held), events[-10:]))
            try:
                held.append(sb.lsock.accept()[0])
            except socket.timeout:
                pass
        ns.send_line("CHG 99 BSY")  # still answering on the notification connection
        with cv:
            self.assertTrue(cv.wait_for(lambda: any('"status":"BSY"' in e for e in events), 60), events[-10:])
        p.stdin.write("/quit\n")
        p.stdin.flush()
        self.assertEqual(p.wait(WAIT), 0, open(errpath).read()[-2000:])
        reader.join(WAIT)
        sb.lsock.setblocking(False)  # a connection made but not yet taken counts too
        try:
            while True:
                held.append(sb.lsock.accept()[0])
        except BlockingIOError:
            pass
        self.assertLess(len(held), 24, "the descriptor limit did not bite")
        self.assertEqual(closed(), 24 - len(held), events[-10:])

    def test_version(self):
        for argv in ([MSNC, "--version"], [MSNC, "ftp-send", "--version"], [MSNC, "ftp-recv", "--version"]):
            r = subprocess.run(argv, capture_output=True, text=True, timeout=WAIT)
            self.assertEqual(r.returncode, 0, (argv, r.stderr))
            self.assertRegex(r.stdout, r"^msnc( ftp-send| ftp-recv)? \d+\.\d+\.\d+ \(libmsnp ")

    def rng_flood(self, rngs):
        """Sends the RNG lines and accepts msnc's switchboard connections,
        holding each open (a closed one would free its slot for a later
        RNG), until every RNG is accounted for: connected or refused with a
        warning. Then msnc quits, and any connection still waiting to be
        accepted is counted too. Returns (connections, refusals)."""
        # No switchboard answers: the handshake timeout must not free slots either.
        c, ns = self.logged_in(("--login-timeout", "600"))
        sb = FakeServer()
        self.closers.append(sb.close)
        held = []
        self.closers.append(lambda: [h.close() for h in held])
        for line in rngs:
            ns.send_line(line % sb.hostport)

        def refusals():
            with c.lock:
                return [e for e in c.events if e.get("event") == "warning" and "refused" in e.get("text", "")]
        sb.lsock.settimeout(0.1)
        deadline = time.monotonic() + 60
        while len(held) + len(refusals()) < len(rngs):
            self.assertLess(time.monotonic(), deadline, "%d connections, %d refusals" % (len(held), len(refusals())))
            try:
                held.append(sb.lsock.accept()[0])
            except socket.timeout:
                pass
        self.assertEqual(c.quit(), 0, c.stderr_tail())
        sb.lsock.setblocking(False)
        try:
            while True:
                held.append(sb.lsock.accept()[0])
        except BlockingIOError:
            pass
        return held, refusals()

    def test_rng_flood_is_bounded(self):
        """90 RNGs: msnc opens at most its per-peer limit of switchboards and
        says so for every one it refuses."""
        held, refused = self.rng_flood(["RNG %d %%s CKI 9.%d bob@example.com Bob" % (1000 + i, i) for i in range(90)])
        self.assertEqual(len(held), 8, "msnc opened %d switchboards for one peer" % len(held))
        self.assertEqual(len(refused), 90 - 8, refused[:3])
        self.assertIn("8 chats with them are open already", refused[0]["text"])

    def test_rngs_from_many_peers_bounded_per_client(self):
        held, refused = self.rng_flood(["RNG %d %%s CKI 9.%d user%d@example.com U" % (2000 + i, i, i)
                                        for i in range(80)])
        self.assertEqual(len(held), 32, "msnc opened %d switchboards" % len(held))
        self.assertEqual(len(refused), 80 - 32, refused[:3])
        self.assertIn("32 chats are open already", refused[0]["text"])

    def test_server_that_never_reads(self):
        """CHL forever, never reading the answers: msnc must close the
        connection (exit 3) instead of growing without bound."""
        c, ns = self.logged_in()
        ns.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ns.sock.settimeout(WAIT)  # msnc reads (slowly when busy) until it gives up on us
        line = b"CHL 0 29409134351025259292\r\n" * 1000
        for _ in range(400):  # at most 400k challenges (~11 MB)
            if c.proc.poll() is not None:
                break
            try:
                ns.sock.sendall(line)
            except (socket.timeout, OSError):
                break
        self.assert_exit(c, 3)
        c.wait_pred("disconnected", lambda e: "does not read" in e.get("text", ""))

    def test_out_ssd_without_reconnect_ends_with_3(self):
        c, ns = self.logged_in()
        ns.send_line("OUT SSD")
        c.wait("disconnected")
        self.assert_exit(c, 3)

    def test_silent_server_login_timeout(self):
        c = self.client(("--login-timeout", "2"))
        ns = self.srv.accept()
        ns.expect("VER")  # and then nothing
        c.wait("login_failed", timeout=WAIT)
        self.assert_exit(c, 3)

    def test_silent_switchboard_handshake_timeout(self):
        c, ns = self.logged_in(("--login-timeout", "2"))
        sb = FakeServer()
        self.closers.append(sb.close)
        ns.send_line("RNG 5 %s CKI 1.2 bob@example.com Bob" % sb.hostport)
        conn = sb.accept()
        conn.expect("ANS")  # never answered
        closed = c.wait("chat_closed", timeout=WAIT)
        self.assertIn("did not answer", closed["text"])
        self.assertEqual(c.quit(), 0, c.stderr_tail())

    def test_commands_before_login_wait_for_it(self):
        c = self.client()
        c.send("/chat bob@example.com")
        c.send("hello early")
        ns = self.srv.accept()
        time.sleep(0.3)  # the commands are read before the login completes
        ns.login(ALICE, PW)
        xfr = ns.expect("XFR")
        self.assertEqual(xfr.args[1], "SB")
        sb = FakeServer()
        self.closers.append(sb.close)
        ns.send_line("XFR %s SB %s CKI 77.88" % (xfr.args[0], sb.hostport))
        conn = sb.accept()
        usr = conn.expect("USR")
        self.assertEqual(usr.args[1:], [ALICE, "77.88"])
        conn.send_line("USR %s OK %s Alice" % (usr.args[0], ALICE))
        cal = conn.expect("CAL")
        self.assertEqual(cal.args[1], "bob@example.com")
        conn.send_line("CAL %s RINGING 77" % cal.args[0])
        conn.send_line("JOI bob@example.com Bob")
        msg = conn.expect("MSG")
        self.assertTrue(msg.payload.endswith(b"\r\n\r\nhello early"), msg.payload)
        conn.send_line("ACK %s" % msg.args[0])
        self.assertEqual([e for e in c.events if e.get("event") == "error"], [])
        self.assertEqual(c.quit(), 0, c.stderr_tail())

    def test_lines_typed_while_a_call_is_out_make_one_call(self):
        # Three lines typed while the switchboard has not answered the CAL:
        # one CAL, not one per line; its 217 fails all three, each reported.
        c, ns = self.logged_in()
        c.send("/chat bob@example.com")
        conn = self.ringing_switchboard(ns)
        conn.send_line("BYE bob@example.com")  # rang, then left: nobody here
        c.wait("chat_leave", email="bob@example.com")
        for k in range(3):
            c.send("line %d" % k)
        recall = conn.expect("CAL")
        self.assertEqual(recall.args[1], "bob@example.com")
        with self.assertRaises(TimeoutError):
            conn.read_cmd(timeout=1.0)  # no second CAL while the first is out
        conn.send_line("217 %s" % recall.args[0])
        for k in range(3):
            self.assertEqual(c.wait("message_failed", text="line %d" % k)["code"], 217)
        self.assertEqual(c.quit(), 1, "lines were not sent: " + c.stderr_tail())

    def ringing_switchboard(self, ns):
        """The chat alice asks for: its switchboard lets her in and rings
        bob (CAL RINGING). Returns the switchboard connection."""
        xfr = ns.expect("XFR")
        sb = FakeServer()
        self.closers.append(sb.close)
        ns.send_line("XFR %s SB %s CKI 77.88" % (xfr.args[0], sb.hostport))
        conn = sb.accept()
        usr = conn.expect("USR")
        conn.send_line("USR %s OK %s Alice" % (usr.args[0], ALICE))
        cal = conn.expect("CAL")
        self.assertEqual(cal.args[1], "bob@example.com")
        conn.send_line("CAL %s RINGING 77" % cal.args[0])
        return conn

    def test_peer_who_never_joins_ends_the_wait(self):
        """bob is online but never joins (his client ignores the RNG): the
        call rings for ever. At the end of input msnc waited for ever for
        the line waiting for him; now the chat ends after login_timeout,
        the line is reported and msnc exits 1."""
        c = self.piped(["/chat bob@example.com", "hello"], ("--login-timeout", "2"))
        ns = self.srv.accept()
        ns.login(ALICE, PW)
        conn = self.ringing_switchboard(ns)
        t0 = time.monotonic()
        self.assertEqual(c.wait("message_failed", text="hello").get("code"), None)
        closed = c.wait("chat_closed")
        self.assertIn("nobody joined", closed["text"])
        self.assertLess(time.monotonic() - t0, 5)
        self.assert_exit(c, 1)
        self.assertEqual(conn.expect("OUT").name, "OUT")

    def test_burst_piped_before_the_join_is_sent_whole(self):
        """40 lines piped right after /chat, before bob has joined: a chat
        keeps only 32 waiting, and lines 33 to 40 were reported as not sent
        ("waiting": 32). stdin is now held while the chat opens, so all 40
        go out, in order."""
        lines = ["line %02d" % i for i in range(40)]
        c = self.piped(["/chat bob@example.com"] + lines)
        ns = self.srv.accept()
        ns.login(ALICE, PW)
        conn = self.ringing_switchboard(ns)
        time.sleep(0.5)  # everything has been read that msnc will take
        conn.send_line("JOI bob@example.com Bob")
        got = []
        while len(got) < len(lines):
            msg = conn.expect("MSG")
            got.append(msg.payload.split(b"\r\n\r\n", 1)[1].decode())
            conn.send_line("ACK %s" % msg.args[0])
        self.assertEqual(got, lines)
        self.assert_exit(c, 0)
        self.assertEqual([e for e in c.events if e.get("event") == "message_failed"], [])

    def test_commands_fail_when_login_never_completes(self):
        c = self.client()
        c.send("/chat bob@example.com")
        ns = self.srv.accept()
        ns.expect("VER")
        ns.send_line("911 1")
        c.wait("login_failed")
        self.assert_exit(c, 2)

    def piped(self, lines, extra=()):
        """A client whose whole input (lines, then its end) is written before
        it has logged in."""
        c = self.client(extra)
        c.proc.stdin.write("".join(x + "\n" for x in lines))
        c.proc.stdin.close()
        return c

    def test_list_change_never_answered_is_reported(self):
        """The server takes ADD and never answers it: msnc waits for the
        answer only login_timeout, then says so (the result is unknown) and
        logs out with status 1. It used to log out at once, exit 0 and say
        nothing."""
        c = self.piped(["/add bob@example.com Bob"], extra=("--login-timeout", "2"))
        ns = self.srv.accept()
        ns.login(ALICE, PW)
        self.assertEqual(ns.expect("ADD").args[1:3], ["FL", "bob@example.com"])
        self.assertEqual(ns.expect("ADD").args[1:3], ["AL", "bob@example.com"])
        start = time.monotonic()
        self.assertTrue(ns.closed(), "msnc logs out once it has stopped waiting")
        self.assert_exit(c, 1)
        self.assertLess(time.monotonic() - start, 8)
        got = sorted((e["text"], e["list"], e["email"], e["status"]) for e in c.events if e["event"] == "unanswered")
        self.assertEqual(got, [("ADD AL", "AL", "bob@example.com", "timeout"),
                               ("ADD FL", "FL", "bob@example.com", "timeout")], c.events)

    def test_list_change_unanswered_when_the_connection_ends(self):
        """The connection ends between REM and its answer: the change may or
        may not have been made, and msnc says so before it exits 3."""
        c = self.piped(["/remove bob@example.com", "/name Alice"])
        ns = self.srv.accept()
        ns.login(ALICE, PW)
        ns.expect("REM")
        ns.expect("REA")
        ns.close()
        self.assert_exit(c, 3)
        got = [(e["text"], e.get("list"), e["email"], e["status"]) for e in c.events if e["event"] == "unanswered"]
        self.assertEqual(got, [("REM FL", "FL", "bob@example.com", "disconnected"),
                               ("REA", None, ALICE, "disconnected")], c.events)
        self.assertLess(c.find("unanswered")[0], c.find("disconnected")[0])

    def test_list_piped_waits_for_the_whole_contact_list(self):
        """The lists start (SYN, one LST of FL) and never end: the piped
        /list does not run on a partial list; the login is given up after
        login_timeout, status 3. It used to run at USR OK and print an empty
        list, then exit 0."""
        c = self.piped(["/list"], extra=("--login-timeout", "2"))
        ns = self.srv.accept()
        ns.login(ALICE, PW, list_version=5, syn_lines=["LST {trid} FL 5 1 2 bob@example.com Bob 0"])
        self.assert_exit(c, 3)
        self.assertIsNone(c.find("list_end")[0], c.events)
        self.assertIsNone(c.find("contact")[0], c.events)
        self.assertIsNone(c.find("synced")[0], c.events)
        said = [e.get("text", "") for e in c.events if e["event"] in ("error", "disconnected")]
        self.assertTrue(any("contact list" in t for t in said), c.events)

    def test_first_status_refused_still_runs_the_lines(self):
        """The server refuses the status sent at login: the login is complete
        all the same (the answer came), and the piped lines run."""
        c = self.piped(["/list"], extra=("--status", "AWY"))
        ns = self.srv.accept()
        usr = ns.greet()  # then by hand: USR, SYN, and the CHG refused
        ns.send_line("USR %s MD5 S 1013928519.693957190" % usr.args[0])
        usr = ns.expect("USR")
        ns.send_line("USR %s OK %s alice 1" % (usr.args[0], ALICE))
        syn = ns.expect("SYN")
        ns.send_line("SYN %s 0" % syn.args[0])
        chg = ns.expect("CHG")
        self.assertIsNone(c.find("list_end")[0], "the status is not answered yet")
        ns.send_line("201 %s" % chg.args[0])
        c.wait("list_end")
        self.assertTrue(ns.closed())
        self.assert_exit(c, 1)  # the server refused a command
        self.assertEqual(c.wait("server_error")["code"], 201)

    def test_stdin_regular_file(self):
        path = os.path.join(self.tmp, "commands.txt")
        with open(path, "w") as f:
            f.write("/status busy\n")
        env = dict(os.environ, MSNC_PASSWORD=PW)
        with open(path) as stdin:
            p = subprocess.Popen([MSNC, "--batch", "-s", self.srv.hostport, "-u", ALICE, "--no-reconnect",
                                  "--cache-dir", self.tmp], stdin=stdin, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env)
        try:
            ns = self.srv.accept()
            ns.login(ALICE, PW)
            chg = ns.expect("CHG")
            self.assertEqual(chg.args[1], "BSY")
            ns.send_line("CHG %s BSY" % chg.args[0])  # msnc waits for the answer before logging out
            self.assertTrue(ns.closed(), "msnc logs out at the end of its input")
            out, err = p.communicate(timeout=WAIT)
        except BaseException:
            p.kill()
            p.communicate()
            raise
        self.assertEqual(p.returncode, 0, err)
        self.assertIn(b'"event":"logged_in"', out)

    def test_stdin_dev_null(self):
        """/dev/null cannot be watched by epoll either: end of input at once
        after the login, logout, exit 0."""
        env = dict(os.environ, MSNC_PASSWORD=PW)
        with open(os.devnull) as stdin:
            p = subprocess.Popen([MSNC, "--batch", "-s", self.srv.hostport, "-u", ALICE, "--no-reconnect",
                                  "--cache-dir", self.tmp], stdin=stdin, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env)
        try:
            ns = self.srv.accept()
            ns.login(ALICE, PW)
            self.assertTrue(ns.closed(), "msnc logs out at the end of its input")
            out, err = p.communicate(timeout=WAIT)
        except BaseException:
            p.kill()
            p.communicate()
            raise
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(err, b"", "nothing on stderr (no refusal from epoll)")

    def test_failed_command_exits_1(self):
        c, ns = self.logged_in()
        c.send("/switch 42")
        c.wait("error")
        c.proc.stdin.close()
        self.assertTrue(ns.closed())
        self.assert_exit(c, 1)

    def test_oversized_fields_refused_loudly(self):
        """Fields longer than msnc can keep are refused with a warning naming
        the line, never cut."""
        c, ns = self.logged_in()
        long_email = "a" * 200 + "@example.com"
        ns.send_line("ADD 0 RL 12 %s Someone" % long_email)
        w = c.wait_pred("warning", lambda e: long_email in e.get("text", ""))
        self.assertIn("ADD 0 RL 12", w["text"])
        self.assertIsNone(c.find("added_by")[1])
        ns.send_line("NLN NLN %s %s" % (long_email, "x"))
        c.wait_pred("warning", lambda e: ("NLN NLN " + long_email) in e.get("text", ""))
        # An unknown command is named too.
        ns.send_line("ZZZ 0 whatever")
        c.wait_pred("warning", lambda e: "ZZZ 0 whatever" in e.get("text", ""))
        self.assertEqual(c.quit(), 0, c.stderr_tail())

    def test_invitation_flood_is_bounded(self):
        """40 whiteboard invitations from one peer: 8 are offered, the rest
        refused with a warning each; an over-long Session-ID is refused."""
        c, ns = self.logged_in()
        sb = FakeServer()
        self.closers.append(sb.close)
        ns.send_line("RNG 5 %s CKI 1.2 bob@example.com Bob" % sb.hostport)
        conn = sb.accept()
        ans = conn.expect("ANS")
        conn.send_line("IRO %s 1 1 bob@example.com Bob" % ans.args[0])
        conn.send_line("ANS %s OK" % ans.args[0])
        c.wait("chat_join", email="bob@example.com")
        for i in range(40):
            conn.send_msg("bob@example.com", "Bob", invite_payload([
                ("Application-Name", "Whiteboard"), ("Application-GUID", "{1DF57D09-637A-4CA5-91B9-2C3EDAAF62FE}"),
                ("Invitation-Command", "INVITE"), ("Invitation-Cookie", str(100 + i))]))
        c.wait("warning", cookie="139")
        offered = [e for e in c.events if e.get("event") == "invite"]
        refused = [e for e in c.events if e.get("event") == "warning" and "refused an invitation" in e.get("text", "")]
        self.assertEqual((len(offered), len(refused)), (8, 32))
        c.send("/decline 100")
        c.wait("invite_cancelled", cookie="100")
        conn.send_msg("bob@example.com", "Bob", invite_payload([
            ("Application-Name", "Whiteboard"), ("Application-GUID", "{1DF57D09-637A-4CA5-91B9-2C3EDAAF62FE}"),
            ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "900"), ("Session-ID", "{" + "A" * 300 + "}")]))
        w = c.wait("warning", cookie="900")
        self.assertIn("Session-ID", w["text"])
        self.assertEqual(c.quit(), 0, c.stderr_tail())

    def test_long_typed_line_sent_whole(self):
        """A 6000-byte line goes out whole, split into several messages."""
        c, ns = self.logged_in()
        sb = FakeServer()
        self.closers.append(sb.close)
        ns.send_line("RNG 5 %s CKI 1.2 bob@example.com Bob" % sb.hostport)
        conn = sb.accept()
        ans = conn.expect("ANS")
        conn.send_line("IRO %s 1 1 bob@example.com Bob" % ans.args[0])
        conn.send_line("ANS %s OK" % ans.args[0])
        c.wait("chat_join", email="bob@example.com")
        text = "".join(chr(ord("a") + i % 26) for i in range(6000))
        c.send(text)
        got = b""
        while len(got) < len(text):
            msg = conn.expect("MSG")
            got += msg.payload.split(b"\r\n\r\n", 1)[1]
            conn.send_line("ACK %s" % msg.args[0])
        self.assertEqual(got, text.encode())
        self.assertEqual(c.quit(), 0, c.stderr_tail())

    def test_long_session_id_kept_whole(self):
        c, ns = self.logged_in()
        sb = FakeServer()
        self.closers.append(sb.close)
        sessid = "s" * 300
        cookie = "c" * 500
        ns.send_line("RNG %s %s CKI %s bob@example.com Bob" % (sessid, sb.hostport, cookie))
        conn = sb.accept()
        ans = conn.expect("ANS")
        self.assertEqual(ans.args[1:], [ALICE, cookie, sessid])
        self.assertEqual(c.quit(), 0, c.stderr_tail())


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    MSNC = FakeServerTest.MSNC = sys.argv[1]
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
