#!/usr/bin/env python3
"""msnc --batch against scripted servers and peers (fakeserver.py): what a
client keeps across a logout, a contact-list sync cut off, referrals
without a port, lines and invitations that wait for a chat, mistyped
invitation cookies, over-long input lines, file names near the system's
limit, text that is not UTF-8, and every spelling of --config.

usage: test_scripted.py MSNC"""
import os
import socket
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fakeserver import FakeServer, FakeServerTest, invite_payload  # noqa: E402
from msnclib import Msnc  # noqa: E402
import rawpeer  # noqa: E402

ALICE, PW = "alice@example.com", "alicepw"
BOB = "bob@example.com"
FT_GUID = "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"


def file_invite(cookie, name, size):
    return invite_payload([("Application-Name", "File Transfer"), ("Application-GUID", FT_GUID),
                           ("Invitation-Command", "INVITE"), ("Invitation-Cookie", str(cookie)),
                           ("Application-File", name), ("Application-FileSize", str(size))])


def text(payload):
    return payload.split(b"\r\n\r\n", 1)[1]


class Scripted(FakeServerTest):
    tmp_prefix = "msnc-scripted-"

    def rung(self, c, ns):
        """Bob rings alice into a switchboard of the test's: its connection."""
        sb = FakeServer()
        self.closers.append(sb.close)
        ns.send_line("RNG 5 %s CKI 1.2 %s Bob" % (sb.hostport, BOB))
        conn = sb.accept()
        ans = conn.expect("ANS")
        conn.send_line("IRO %s 1 1 %s Bob" % (ans.args[0], BOB))
        conn.send_line("ANS %s OK" % ans.args[0])
        c.wait("chat_join", email=BOB)
        return conn

    def referred(self, ns, xfr):
        """The XFR SB answered with a switchboard of the test's: its
        connection, and the CAL it waits to answer."""
        sb = FakeServer()
        self.closers.append(sb.close)
        ns.send_line("XFR %s SB %s CKI 9.9" % (xfr.args[0], sb.hostport))
        conn = sb.accept()
        usr = conn.expect("USR")
        conn.send_line("USR %s OK %s alice" % (usr.args[0], ALICE))
        return conn, conn.expect("CAL")

    def calling(self, c, ns):
        """alice opens a chat with bob: the switchboard's connection and the
        CAL it waits to answer (her lines wait for bob meanwhile)."""
        c.send("/chat " + BOB)
        return self.referred(ns, ns.expect("XFR"))

    def test_invitations_after_logout_and_login(self):
        c, ns = self.logged_in()
        c.send("/logout")
        self.assertTrue(ns.closed(), "the notification connection ends at /logout")
        c.send("/login")
        ns = self.srv.accept()
        ns.login(ALICE, PW)
        m = c.mark()
        c.wait("status", status="NLN", since=m)
        conn = self.rung(c, ns)
        conn.send_msg(BOB, "Bob", file_invite(4242, "x.bin", 5))
        c.wait("invite", cookie="4242", file="x.bin", since=m)
        path = os.path.join(self.tmp, "f.txt")
        with open(path, "w") as f:
            f.write("hi")
        c.send("/send " + path)
        sent = c.wait("invite_sent", since=m)
        self.assertIsNone(c.find("error", since=m)[1], c.events[m:])
        # /quit ends the file offered, unanswered: reported, and status 4;
        # the offer received and never answered is cancelled too, without
        # counting as a failure
        self.assertEqual(c.quit(), 4, c.stderr_tail())
        e = c.wait("invite_cancelled", cookie=sent["cookie"])
        self.assertEqual((e["text"], e["status"]), ("OUTBANDCANCEL", "abandoned"))
        e = c.wait("invite_cancelled", cookie="4242")
        self.assertEqual((e["text"], e.get("status")), ("OUTBANDCANCEL", None))

    def test_a_failed_reconnection_is_tried_again(self):
        # the server goes, and answers the first reconnection with 500: the
        # library tries again later, and --batch waits for it instead of
        # ending at the first refusal
        c = Msnc(self.MSNC, self.srv.hostport, ALICE, PW, "127.0.0.2", self.tmp, reconnect=True)
        self.closers.append(c.quit)
        ns = self.srv.accept()
        ns.login(ALICE, PW)
        c.wait("status", status="NLN")
        m = c.mark()
        ns.close()
        again = self.srv.accept()
        usr = again.greet()
        again.send_line("500 %s" % usr.args[0])
        c.wait("login_failed", since=m)
        third = self.srv.accept()
        third.login(ALICE, PW)
        c.wait("status", status="NLN", since=m)
        self.assertEqual(c.quit(), 0, c.stderr_tail())

    def test_overlong_input_line_dropped_whole(self):
        c, ns = self.logged_in()
        conn = self.rung(c, ns)
        m = c.mark()
        c.send("A" * 8192 + "TAIL-OF-THE-DROPPED-LINE")
        c.wait("error", since=m, text="input line longer than 8191 bytes; dropped")
        m2 = c.mark()
        c.send("B" * 9000 + "/status busy")
        c.wait("error", since=m2, text="input line longer than 8191 bytes; dropped")
        c.send("after")
        # the first message bob gets is the line after the long ones
        self.assertEqual(text(conn.expect("MSG").payload), b"after")
        # and the first status change the server sees is the one typed as one
        c.send("/status away")
        self.assertEqual(ns.expect("CHG").args[1], "AWY")
        self.assertEqual(len([e for e in c.events[m:] if e["event"] == "error"]), 2, c.events[m:])
        self.assertEqual(c.quit(), 1, "a command failed: " + c.stderr_tail())

    def test_list_sync_cut_off_is_not_taken_as_whole(self):
        # msnc logs in again by itself when the connection is lost
        c = Msnc(FakeServerTest.MSNC, self.srv.hostport, ALICE, PW, "127.0.0.2", self.tmp, (), reconnect=True)
        self.closers.append(c.quit)
        ns = self.srv.accept()
        ns.login(ALICE, PW, list_version=7, syn_lines=[
            "GTC {trid} 7 A", "BLP {trid} 7 AL", "LST {trid} FL 7 1 3 c1@example.com C1 0"])
        time.sleep(0.3)
        ns.close()
        c.wait("reconnecting")
        ns = self.srv.accept(timeout=15)
        u = ns.greet()
        ns.send_line("USR %s MD5 S 1.2" % u.args[0])
        u = ns.expect("USR")
        ns.send_line("USR %s OK %s alice 1" % (u.args[0], ALICE))
        syn = ns.expect("SYN")
        # one contact of three came: msnc does not hold version 7
        self.assertEqual(syn.args[1], "0", syn.line)
        ns.send_line("SYN %s 7" % syn.args[0])
        for line in ["GTC {t} 7 A", "BLP {t} 7 AL", "LST {t} FL 7 1 3 c1@example.com C1 0",
                     "LST {t} FL 7 2 3 c2@example.com C2 0", "LST {t} FL 7 3 3 c3@example.com C3 0",
                     "LST {t} AL 7 0 0", "LST {t} BL 7 0 0", "LST {t} RL 7 0 0"]:
            ns.send_line(line.format(t=syn.args[0]))
        chg = ns.expect("CHG")
        ns.send_line("CHG %s %s" % (chg.args[0], chg.args[1]))
        synced = c.wait("synced")
        self.assertEqual((synced["count"], synced["version"]), (3, 7), synced)
        with open(os.path.join(self.tmp, "cache", ALICE + ".lists")) as f:
            cache = f.read()
        self.assertIn("version 7\n", cache)
        self.assertEqual(cache.count("\nFL "), 3, cache)
        self.assertEqual(c.quit(), 0, c.stderr_tail())

    def test_mistyped_invitation_cookies(self):
        c, ns = self.logged_in()
        conn = self.rung(c, ns)
        conn.send_msg(BOB, "Bob", file_invite(111, "a.bin", 5))
        conn.send_msg(BOB, "Bob", file_invite(222, "b.bin", 5))
        c.wait("invite", cookie="222")
        m = c.mark()
        for line, word in (("/decline abc", "abc"), ("/cancel -18446744073709551505", "-18446744073709551505"),
                           ("/accept 0", "0"), ("/accept 99999999999999999999", "99999999999999999999")):
            c.send(line)
            c.wait("error", since=m, text="bad invitation cookie '%s' (want the number of an invitation)" % word)
        c.send("/decline 333")
        c.wait("error", since=m, text="no invitation 333 to decline")
        # both invitations are still there, untouched
        c.send("/decline 111")
        c.wait("invite_cancelled", since=m, cookie="111")
        self.assertEqual([e["cookie"] for e in c.events[m:] if e["event"] == "invite_cancelled"], ["111"])
        # /cancel alone: the latest invitation, here one sent
        path = os.path.join(self.tmp, "out.txt")
        with open(path, "w") as f:
            f.write("x")
        c.send("/send " + path)
        sent = c.wait("invite_sent", since=m)
        c.send("/cancel")
        c.wait("invite_cancelled", since=m, cookie=sent["cookie"])
        self.assertEqual(c.quit(), 1, "a command failed: " + c.stderr_tail())

    def test_referrals_without_a_port_go_to_1863(self):
        c = self.client(("--login-timeout", "4"))
        ns = self.srv.accept()
        u = ns.greet()
        ns.send_line("XFR %s NS 127.0.0.1 0 127.0.0.1:1863" % u.args[0])
        c.wait("connecting", text="ns", peer="127.0.0.1:1863")
        c.wait("login_failed")
        c.quit()
        c, ns = self.logged_in()
        ns.send_line("RNG 11 127.0.0.1 CKI 17.1 %s Bob" % BOB)
        closed = c.wait("chat_closed")
        self.assertIn("127.0.0.1:1863", closed["text"])
        self.assertEqual(c.quit(), 0, c.stderr_tail())

    def test_every_waiting_line_is_reported(self):
        c, ns = self.logged_in()
        conn, cal = self.calling(c, ns)
        m = c.mark()
        for i in range(40):
            c.send("line %d" % i)
        # More lines than a chat keeps waiting: the rest wait in stdin (the
        # 33rd and later were refused at once, "waiting": 32). The 217
        # fails those waiting; the next line calls again, and so on until
        # every line has had its call.
        conn.send_line("217 %s" % cal.args[0])
        deadline = time.monotonic() + 20
        while len([e for e in c.events[m:] if e["event"] == "message_failed"]) < 40:
            self.assertLess(time.monotonic(), deadline, c.events[-5:])
            try:
                cmd = conn.read_cmd(timeout=0.5)
            except TimeoutError:
                continue
            if cmd.name == "CAL":
                conn.send_line("217 %s" % cmd.args[0])
        failed = [e for e in c.events[m:] if e["event"] == "message_failed"]
        self.assertEqual([e["text"] for e in failed], ["line %d" % i for i in range(40)])
        self.assertEqual({(e.get("code"), e.get("waiting", 0)) for e in failed}, {(217, 0)})
        self.assertIsNone(c.find("message_sent", since=m)[1])
        self.assertEqual(c.quit(), 1, "lines were not sent: " + c.stderr_tail())

    def test_lines_piped_before_the_chat_opens_are_sent_before_exit(self):
        # the whole script at once, then the end of input: msnc sends the
        # line once the chat is open, then logs out (exit 0)
        c = self.client()
        ns = self.srv.accept()
        ns.login(ALICE, PW)
        c.wait("status", status="NLN")
        c.proc.stdin.write("/chat %s\nhello\n" % BOB)
        c.proc.stdin.close()
        xfr = ns.expect("XFR")
        time.sleep(0.5)  # a slow switchboard referral
        conn, cal = self.referred(ns, xfr)
        conn.send_line("CAL %s RINGING 4242" % cal.args[0])
        time.sleep(0.5)
        conn.send_line("JOI %s Bob" % BOB)
        msg = conn.expect("MSG")
        self.assertEqual(text(msg.payload), b"hello")
        conn.send_line("ACK %s" % msg.args[0])
        self.assertEqual(c.proc.wait(15), 0, c.stderr_tail())

    def test_a_line_the_switchboard_never_acknowledged_is_reported(self):
        # bob leaves and the switchboard drops the connection before it
        # answers the second line with ACK or NAK: that line is reported
        # as unacknowledged, the acknowledged one is not
        c, ns = self.logged_in()
        conn = self.rung(c, ns)
        m = c.mark()
        c.send("first")
        first = conn.expect("MSG")
        conn.send_line("ACK %s" % first.args[0])
        c.wait("ack", since=m, trid=int(first.args[0]))
        c.send("second")
        second = conn.expect("MSG")
        self.assertEqual(text(second.payload), b"second")
        sent = c.wait("message_sent", since=m, text="second")
        self.assertEqual(sent["trid"], int(second.args[0]))
        conn.send_line("BYE %s" % BOB)
        conn.close()
        failed = c.wait("message_failed", since=m, timeout=5)
        self.assertEqual((failed["text"], failed["trid"], failed["status"], failed["chat"]),
                         ("second", sent["trid"], "unacknowledged", sent["chat"]), failed)
        self.assertNotIn("code", failed)
        c.wait("chat_closed", since=m)
        self.assertEqual([e["text"] for e in c.events[m:] if e["event"] == "message_failed"], ["second"])
        self.assertEqual(c.quit(), 1, "a line may not have arrived: " + c.stderr_tail())

    def test_lines_unacknowledged_at_the_end_of_input_are_waited_for(self):
        # the end of input comes before the switchboard's ACK: msnc waits
        # for it (exit 0); a line never acknowledged is reported when msnc
        # gives up waiting and logs out (exit 1)
        for ack in (True, False):
            with self.subTest(ack=ack):
                c, ns = self.logged_in()
                conn = self.rung(c, ns)
                c.proc.stdin.write("hello\n")
                c.proc.stdin.close()
                msg = conn.expect("MSG")
                time.sleep(0.5)  # a slow server
                if ack:
                    conn.send_line("ACK %s" % msg.args[0])
                    self.assertEqual(c.proc.wait(15), 0, c.stderr_tail())
                    self.assertIsNone(c.find("message_failed")[1], c.events)
                else:
                    self.assertEqual(c.proc.wait(15), 1, c.stderr_tail())
                    c.wait("message_failed", text="hello", status="unacknowledged", trid=int(msg.args[0]))
                conn.close()

    def test_invitation_to_an_offline_contact_ends_with_the_call(self):
        c, ns = self.logged_in()
        conn, cal = self.calling(c, ns)
        path = os.path.join(self.tmp, "f.txt")
        with open(path, "w") as f:
            f.write("x")
        m = c.mark()
        c.send("/send " + path)
        sent = c.wait("invite_sent", since=m)
        conn.send_line("217 %s" % cal.args[0])
        # at once, not at --invite-timeout (20 s here)
        ended = c.wait("invite_cancelled", since=m, timeout=5, cookie=sent["cookie"])
        self.assertEqual((ended["text"], ended["code"], ended["local"]), ("FAIL", 217, True), ended)
        # the file was not sent: exit status 4, as for a failed transfer
        self.assertEqual(c.quit(), 4, c.stderr_tail())

    def receive(self, c, conn, cookie, name, data):
        """bob offers name, alice accepts, bob's MSNFTP side serves data."""
        m = c.mark()
        conn.send_msg(BOB, "Bob", file_invite(cookie, name, len(data)))
        c.wait("invite", since=m, cookie=str(cookie))
        c.send("/accept %d" % cookie)
        conn.expect("MSG")
        lsock = socket.socket()
        self.closers.append(lsock.close)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        lsock.settimeout(10)
        port = lsock.getsockname()[1]
        conn.send_msg(BOB, "Bob", invite_payload([
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", str(cookie)), ("IP-Address", "127.0.0.1"),
            ("Port", str(port)), ("AuthCookie", "777"), ("Launch-Application", "FALSE"),
            ("Request-Data", "IP-Address:")]))
        s, _ = lsock.accept()
        self.closers.append(s.close)
        self.assertEqual(rawpeer.serve_file(s, data, ALICE, "777"), "BYE 16777989")
        return c.wait("transfer_done", since=m, cookie=str(cookie))

    def test_file_names_near_the_limit(self):
        c, ns = self.logged_in()
        conn = self.rung(c, ns)
        name = "n" * 244 + "\u00e9.txt"  # 251 bytes in UTF-8
        self.receive(c, conn, 501, name, b"first")
        self.receive(c, conn, 502, name, b"second")
        got = sorted(os.listdir(c.download))
        self.assertEqual(len(got), 2, got)
        self.assertIn(name, got)
        with open(os.path.join(c.download, name), "rb") as f:
            self.assertEqual(f.read(), b"first")
        other = [n for n in got if n != name][0]
        # "name (1).txt", shortened by whole characters to fit 255 bytes
        self.assertTrue(other.endswith(" (1).txt") and len(other.encode()) <= 255, other)
        self.assertTrue(name.startswith(other[:-len(" (1).txt")]), other)
        with open(os.path.join(c.download, other), "rb") as f:
            self.assertEqual(f.read(), b"second")
        self.assertEqual(c.quit(), 0, c.stderr_tail())

    def test_joi_and_bye_without_an_email_are_said(self):
        c, ns = self.logged_in()
        conn = self.rung(c, ns)
        m = c.mark()
        conn.send_line("JOI")
        conn.send_line("BYE")
        c.wait("warning", since=m, text="ignored a JOI without an e-mail: JOI")
        c.wait("warning", since=m, text="ignored a BYE without an e-mail: BYE")
        self.assertIsNone(c.find("chat_leave", since=m)[1])
        self.assertEqual(c.quit(), 0, c.stderr_tail())

    def test_text_that_is_not_utf8(self):
        c, ns = self.logged_in()
        conn = self.rung(c, ns)
        head = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
        conn.send_msg(BOB, "Bob", head + "h\u00e9llo w\u00f6rld ".encode() + b"\xff")
        c.wait("message", text="h\u00e9llo w\u00f6rld \ufffd")
        conn.send_msg(BOB, "Bob", head + b"before\x00after")
        c.wait("message", text="before\ufffdafter")
        self.assertEqual(c.quit(), 0, c.stderr_tail())

    def test_every_spelling_of_config(self):
        bad = os.path.join(self.tmp, "bad.ini")
        with open(bad, "w") as f:
            f.write("[msnc]\nnonsense = 1\n")
        env = dict(os.environ, MSNC_PASSWORD=PW)
        for args in (["-c", bad], ["-c" + bad], ["--config", bad], ["--config=" + bad], ["--conf", bad],
                     ["--conf=" + bad]):
            p = subprocess.run([FakeServerTest.MSNC, "--batch", "-s", "127.0.0.1:9", "-u", ALICE] + args,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=20)
            self.assertEqual(p.returncode, 78, (args, p.stdout, p.stderr))
            self.assertIn("%s:2: unknown key" % bad, p.stderr, args)

    def test_no_password_names_the_variable_read(self):
        # With --password-env VAR unset, --batch said "use --password-file,
        # MSNC_PASSWORD or a terminal prompt": not the variable it read, and
        # a prompt --batch never gives.
        env = {k: v for k, v in os.environ.items() if k != "MSNC_PASSWORD"}
        for extra, var in (([], "MSNC_PASSWORD"), (["--password-env", "MSNC_TEST_UNSET_PW"], "MSNC_TEST_UNSET_PW")):
            p = subprocess.run([FakeServerTest.MSNC, "--batch", "-s", "127.0.0.1:9", "-u", ALICE] + extra,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=20)
            self.assertEqual((p.returncode, p.stderr.strip()),
                             (78, "msnc: no password: --batch does not ask for one, and %s is not set; use "
                                  "--password-file or set %s" % (var, var)))

    def test_config_lines_longer_than_200_bytes(self):
        # a download directory of 300 bytes, read whole: msnc gets as far
        # as connecting (exit 3: nothing listens on port 9)
        longdir = os.path.join(self.tmp, *(["d" * 60] * 5))
        os.makedirs(longdir)
        ini = os.path.join(self.tmp, "long.ini")
        with open(ini, "w") as f:
            f.write("[msnc]\ndownload_dir = %s\n" % longdir)
        env = dict(os.environ, MSNC_PASSWORD=PW)
        p = subprocess.run([FakeServerTest.MSNC, "--batch", "-s", "127.0.0.1:9", "-u", ALICE, "-c", ini],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(p.returncode, 3, p.stderr)
        with open(ini, "w") as f:
            f.write("[msnc]\n; %s\n" % ("x" * 70000))
        p = subprocess.run([FakeServerTest.MSNC, "--batch", "-s", "127.0.0.1:9", "-u", ALICE, "-c", ini],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual((p.returncode, p.stderr.strip()), (78, "msnc: %s:2: line longer than 65536 bytes" % ini))

    def test_ftp_tools_usage_errors(self):
        for args in (["ftp-send", "--cookie", "1"], ["ftp-recv", "--cookie", "1", "--host", "127.0.0.1", "--port", "9"]):
            p = subprocess.run([FakeServerTest.MSNC] + args, stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=20)
            # 64, also where the sanitizers look for leaks at exit
            self.assertEqual(p.returncode, 64, (args, p.stderr))
            self.assertIn("usage", p.stderr.lower() + p.stdout.lower(), args)
        # a FILE that cannot be sent is a usage error too (it was 3, a network failure)
        for path, why in (("/nonexistent/x.bin", "No such file"), ("/", "not a regular file")):
            p = subprocess.run([FakeServerTest.MSNC, "ftp-send", "--cookie", "1", "--ports", "0", path],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 64, (path, p.stdout, p.stderr))
            self.assertIn(why, p.stdout, path)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    FakeServerTest.MSNC = sys.argv[1]
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
