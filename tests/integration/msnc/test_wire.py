#!/usr/bin/env python3
"""msnc against a hand-driven peer through a real msnd, checking MSNFTP and
invitation details on the wire: the reverse connection (Connectivity: N /
Sender-Connect: TRUE) in both roles, IP-Address-Internal next to an address
that refuses, and a wrong AuthCookie refused by the sender.

usage: test_wire.py MSND MSNC"""
import hashlib
import os
import shutil
import socket
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import msntest  # noqa: E402
import rawpeer  # noqa: E402
from msnclib import Msnc  # noqa: E402

MSND = MSNC = None
ALICE, BOB = "alice@example.com", "bob@example.com"
USERS = [(ALICE, "alicepw", "Alice"), (BOB, "bobpw", "Bob")]
IP = {ALICE: "127.0.0.2", BOB: "127.0.0.3"}
ELSEWHERE = "127.0.0.6"  # an address where nothing listens


class Wire(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="msnc-wire-")
        self.srv = msntest.MsndServer(MSND, users=USERS)
        self.srv.start()
        self.closers = []

    def tearDown(self):
        for c in reversed(self.closers):
            c()
        self.srv.stop()
        self.srv.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def msnc(self, email, extra=()):
        c = Msnc(MSNC, self.srv.ds, email, dict((u[0], u[1]) for u in USERS)[email], IP[email], self.tmp, extra)
        self.closers.append(c.quit)
        c.wait("logged_in")
        c.wait("status", status="NLN")
        return c

    def raw(self, email):
        r = rawpeer.RawUser(self.srv, email, dict((u[0], u[1]) for u in USERS)[email])
        self.closers.append(r.close)
        return r

    def listener(self, ip):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, 0))
        s.listen(4)
        s.settimeout(rawpeer.TIMEOUT)
        self.closers.append(s.close)
        return s, s.getsockname()[1]

    def refusing(self, ip):
        s, port = rawpeer.unused_port(ip)
        self.closers.append(s.close)
        return port

    def file(self, size, name="wire.bin"):
        path = os.path.join(self.tmp, name)
        data = os.urandom(size)
        with open(path, "wb") as f:
            f.write(data)
        return path, data

    # ---- raw sender, msnc receiver ----

    def raw_sender_invites(self, raw, bob, data, extra_fields=()):
        cookie = 4000 + len(self.closers)
        raw.send_invite([("Application-Name", "File Transfer"), ("Application-GUID", rawpeer.FT_GUID),
                         ("Invitation-Command", "INVITE"), ("Invitation-Cookie", str(cookie)),
                         ("Application-File", "wire.bin"), ("Application-FileSize", str(len(data))),
                         *extra_fields])
        inv = bob.wait("invite", cookie=str(cookie))
        self.assertEqual(inv["size"], len(data))
        bob.send("/accept %d" % cookie)
        return cookie, raw.read_invite()

    def test_reverse_connection_msnc_receiver_listens(self):
        bob = self.msnc(BOB)
        alice = self.raw(ALICE)
        alice.call(BOB)
        for ver_first in (False, True):
            with self.subTest(sender_speaks_first=ver_first):
                data = os.urandom(70000 + ver_first)
                cookie, acc = self.raw_sender_invites(alice, bob, data, [("Connectivity", "N")])
                self.assertEqual(acc["Invitation-Command"], "ACCEPT")
                self.assertEqual(acc["Invitation-Cookie"], str(cookie))
                self.assertEqual(acc["Sender-Connect"], "TRUE")
                self.assertEqual(acc["IP-Address"], IP[BOB])
                port = int(acc["Port"])
                self.assertEqual(int(acc["PortX"]), port ^ 0x3141)
                self.assertTrue(acc["AuthCookie"].isdigit())
                self.assertEqual(acc["Launch-Application"], "FALSE")
                lst = bob.wait("secondary_listen", cookie=str(cookie))
                self.assertEqual(lst["local"], "%s:%d" % (IP[BOB], port))
                conn = socket.create_connection((IP[BOB], port), timeout=rawpeer.TIMEOUT,
                                                source_address=(IP[ALICE], 0))
                self.closers.append(conn.close)
                # The receiver still sends USR with the cookie it offered, and BYE.
                bye = rawpeer.serve_file(conn, data, BOB, acc["AuthCookie"], ver_first=ver_first)
                self.assertEqual(bye, "BYE 16777989")
                done = bob.wait("transfer_done", cookie=str(cookie))
                with open(done["file"], "rb") as f:
                    self.assertEqual(hashlib.sha256(f.read()).digest(), hashlib.sha256(data).digest())
                os.unlink(done["file"])

    def internal_address_case(self, good_is_internal, with_portx_internal):
        bob = self.msnc(BOB)
        alice = self.raw(ALICE)
        alice.call(BOB)
        data = os.urandom(30000)
        cookie, acc = self.raw_sender_invites(alice, bob, data)
        self.assertEqual(acc["Request-Data"], "IP-Address:")
        lsock, port = self.listener(IP[ALICE])
        bad_port = self.refusing(ELSEWHERE) if with_portx_internal else port
        if not with_portx_internal:
            # the same Port for both addresses: make ELSEWHERE:port refuse
            s = socket.socket()
            s.bind((ELSEWHERE, port))
            self.closers.append(s.close)
        good, bad = (IP[ALICE], port), (ELSEWHERE, bad_port)
        ext, internal = (bad, good) if good_is_internal else (good, bad)
        fields = [("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", str(cookie)),
                  ("IP-Address", ext[0]), ("IP-Address-Internal", internal[0]), ("Port", str(ext[1])),
                  ("PortX", str(ext[1] ^ 0x3141))]
        if with_portx_internal:
            fields.append(("PortX-Internal", str(internal[1] ^ 0x3141)))
        fields += [("AuthCookie", "777"), ("Launch-Application", "FALSE"), ("Request-Data", "IP-Address:")]
        alice.send_invite(fields)
        conn, _ = lsock.accept()
        self.closers.append(conn.close)
        self.assertEqual(rawpeer.serve_file(conn, data, BOB, "777"), "BYE 16777989")
        done = bob.wait("transfer_done", cookie=str(cookie))
        with open(done["file"], "rb") as f:
            self.assertEqual(f.read(), data)
        con = bob.wait("secondary_connected", cookie=str(cookie))
        self.assertEqual(con["peer"], "%s:%d" % good)
        self.assertTrue(con["local"].startswith(IP[BOB] + ":"), con)

    def test_internal_address_works_external_refuses(self):
        self.internal_address_case(good_is_internal=True, with_portx_internal=True)

    def test_external_address_works_internal_refuses(self):
        self.internal_address_case(good_is_internal=False, with_portx_internal=True)

    def test_internal_address_with_the_same_port(self):
        self.internal_address_case(good_is_internal=True, with_portx_internal=False)

    def test_malformed_number_in_the_senders_accept(self):
        # "Port: -1" is no port: the ACCEPT is an unusable answer, ended at
        # once with CANCEL FAIL (it used to be ignored, both sides waiting
        # for connect_timeout), and the warning names the field.
        bob = self.msnc(BOB)
        alice = self.raw(ALICE)
        alice.call(BOB)
        cookie, acc = self.raw_sender_invites(alice, bob, b"x" * 10)
        alice.send_invite([("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", str(cookie)),
                           ("IP-Address", IP[ALICE]), ("Port", "-1"), ("AuthCookie", "5")])
        self.assertEqual(alice.read_invite()["Cancel-Code"], "FAIL")
        w = bob.wait("warning", cookie=str(cookie), timeout=3)
        self.assertIn("malformed number (Port)", w["text"])
        bob.wait("invite_cancelled", cookie=str(cookie), text="FAIL", timeout=3)

    def test_impossible_file_size_refused(self):
        # A size over 2^63-1 (no file system holds it) is refused like an
        # impossible name; it used to be offered, its size shown as a
        # negative JSON integer.
        bob = self.msnc(BOB)
        alice = self.raw(ALICE)
        alice.call(BOB)
        for cookie, size in ((4101, 2 ** 63), (4102, 2 ** 64 - 2)):
            alice.send_invite([("Application-Name", "File Transfer"), ("Application-GUID", rawpeer.FT_GUID),
                               ("Invitation-Command", "INVITE"), ("Invitation-Cookie", str(cookie)),
                               ("Application-File", "huge.bin"), ("Application-FileSize", str(size))])
            w = bob.wait("warning", cookie=str(cookie), timeout=5)
            self.assertIn("size is over 9223372036854775807 bytes", w["text"])
        m = bob.mark()
        alice.send_invite([("Application-Name", "File Transfer"), ("Application-GUID", rawpeer.FT_GUID),
                           ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "4103"),
                           ("Application-File", "big.bin"), ("Application-FileSize", str(2 ** 63 - 1))])
        self.assertEqual(bob.wait("invite", cookie="4103", since=m)["size"], 2 ** 63 - 1)
        self.assertIsNone(bob.find("invite", cookie="4101")[0])
        self.assertIsNone(bob.find("invite", cookie="4102")[0])

    def test_cookie_zero_refused(self):
        # 0 means "no cookie" to msnc: the offer came out as an invite event
        # without its cookie, which /accept and /decline could not name.
        bob = self.msnc(BOB)
        alice = self.raw(ALICE)
        alice.call(BOB)
        alice.send_invite([("Application-Name", "File Transfer"), ("Application-GUID", rawpeer.FT_GUID),
                           ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "0"),
                           ("Application-File", "zero.bin"), ("Application-FileSize", "10")])
        w = bob.wait("warning", email=ALICE, timeout=5)
        self.assertIn("Invitation-Cookie is 0", w["text"])
        self.assertIsNone(bob.find("invite")[0])

    # ---- msnc sender, raw receiver ----

    def test_malformed_number_in_the_receivers_accept(self):
        alice, bob, inv, data = self.msnc_sender_invites()
        cookie = inv["Invitation-Cookie"]
        bob.send_invite([("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", cookie), ("PortX", "abc"),
                         ("Launch-Application", "FALSE"), ("Request-Data", "IP-Address:")])
        self.assertEqual(bob.read_invite()["Cancel-Code"], "FAIL")
        w = alice.wait("warning", cookie=cookie, timeout=3)
        self.assertIn("malformed number (PortX)", w["text"])
        alice.wait("invite_cancelled", cookie=cookie, text="FAIL", timeout=3)
        self.assertIsNone(alice.find("secondary_listen")[0], "nothing may listen for that answer")

    def msnc_sender_invites(self, extra=(), size=50000):
        alice = self.msnc(ALICE, extra)
        bob = self.raw(BOB)
        alice.send("/chat " + BOB)
        bob.answer_ring()
        alice.wait("chat_join", email=BOB)
        path, data = self.file(size)
        alice.send("/send " + path)
        inv = bob.read_invite()
        self.assertEqual(inv["Invitation-Command"], "INVITE")
        self.assertEqual(inv["Application-FileSize"], str(size))
        return alice, bob, inv, data

    def test_wrong_auth_cookie_refused(self):
        alice, bob, inv, data = self.msnc_sender_invites()
        self.assertNotIn("Connectivity", inv)
        cookie = int(inv["Invitation-Cookie"])
        bob.send_invite([("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", str(cookie)),
                         ("Launch-Application", "FALSE"), ("Request-Data", "IP-Address:")])
        acc = bob.read_invite()
        self.assertEqual(acc["IP-Address"], IP[ALICE])
        addr = (acc["IP-Address"], int(acc["Port"]))
        right = acc["AuthCookie"]
        wrong = str(int(right) + 1)
        for email, ck, why in ((BOB, wrong, "wrong AuthCookie"), ("mallory@example.com", right, "unexpected e-mail")):
            with self.subTest(why=why):
                m = alice.mark()
                s = socket.create_connection(addr, timeout=rawpeer.TIMEOUT, source_address=(IP[BOB], 0))
                self.closers.append(s.close)
                ln = rawpeer.Lines(s)
                ln.send("VER MSNFTP")
                self.assertEqual(ln.line(), "VER MSNFTP")
                ln.send("USR %s %s" % (email, ck))
                self.assertTrue(ln.closed(), "the sender must close without FIL")
                w = alice.wait_pred("warning", lambda e: why in e.get("text", ""), timeout=5)
                self.assertIn("refused MSNFTP connection", w["text"])
                self.assertIsNone(alice.find("transfer_start", since=m)[0])
        # the sender is still waiting for the real receiver
        s = socket.create_connection(addr, timeout=rawpeer.TIMEOUT, source_address=(IP[BOB], 0))
        self.closers.append(s.close)
        self.assertEqual(rawpeer.receive_file(s, BOB, right), data)
        alice.wait("transfer_done", cookie=str(cookie))

    def test_offered_file_replaced_by_a_fifo(self):
        # Between the offer and the ACCEPT the file became a FIFO: opening it
        # must not wait for a writer (that stopped the whole client); the
        # transfer fails at once as this side's file problem.
        alice, bob, inv, data = self.msnc_sender_invites()
        path = os.path.join(self.tmp, "wire.bin")
        os.unlink(path)
        os.mkfifo(path)

        def unblock():  # an open still waiting (the old behaviour) gets its writer
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        self.closers.append(unblock)
        cookie = inv["Invitation-Cookie"]
        bob.send_invite([("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", cookie),
                         ("Launch-Application", "FALSE"), ("Request-Data", "IP-Address:")])
        f = alice.wait("transfer_failed", cookie=cookie, timeout=5)
        self.assertEqual(f["status"], "local_io", f)
        self.assertIn("not a regular file", f["text"])
        self.assertEqual(bob.read_invite()["Cancel-Code"], "FAIL")
        alice.send("/status busy")  # the client still runs
        alice.wait("status", status="BSY", timeout=5)

    def reverse_msnc_sender(self):
        alice, bob, inv, data = self.msnc_sender_invites(extra=("--no-incoming",))
        self.assertEqual(inv["Connectivity"], "N")
        cookie = int(inv["Invitation-Cookie"])
        lsock, port = self.listener(IP[BOB])
        bob.send_invite([("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", str(cookie)),
                         ("IP-Address", IP[BOB]), ("Port", str(port)), ("PortX", str(port ^ 0x3141)),
                         ("AuthCookie", "31337"), ("Sender-Connect", "TRUE"), ("Launch-Application", "FALSE"),
                         ("Request-Data", "IP-Address:")])
        conn, peer = lsock.accept()
        self.closers.append(conn.close)
        self.assertEqual(peer[0], IP[ALICE])
        con = alice.wait("secondary_connected", cookie=str(cookie))
        self.assertEqual(con["peer"], "%s:%d" % (IP[BOB], port))
        self.assertIsNone(alice.find("secondary_listen")[0], "the sender must not listen")
        return alice, bob, conn, cookie, data

    def test_reverse_connection_msnc_sender_connects(self):
        alice, bob, conn, cookie, data = self.reverse_msnc_sender()
        self.assertEqual(rawpeer.receive_file(conn, BOB, "31337"), data)
        alice.wait("transfer_done", cookie=str(cookie))

    def test_reverse_connection_wrong_cookie_from_receiver(self):
        alice, bob, conn, cookie, data = self.reverse_msnc_sender()
        ln = rawpeer.Lines(conn)
        ln.send("VER MSNFTP")
        self.assertEqual(ln.line(), "VER MSNFTP")
        ln.send("USR %s 1" % BOB)
        self.assertTrue(ln.closed(), "the sender must close without FIL")
        f = alice.wait("transfer_failed", cookie=str(cookie))
        self.assertEqual(f["status"], "refused")
        self.assertIn("wrong AuthCookie", f["text"])
        cancel = bob.read_invite()
        self.assertEqual(cancel["Invitation-Command"], "CANCEL")
        self.assertEqual(cancel["Cancel-Code"], "FAIL")

    def test_calls_from_many_switchboards_bounded(self):
        """A user of a real msnd CALs msnc from 40 switchboards: msnc joins at
        most 8 of them (its limit per peer), warns about each one it refuses,
        and keeps chatting on the ones it joined."""
        alice = self.raw(ALICE)
        bob = self.msnc(BOB)
        sbs = []
        for _ in range(40):
            sb = msntest.open_switchboard(self.srv, alice.ns, timeout=rawpeer.TIMEOUT)
            self.closers.append(sb.close)
            sb.send_line("CAL %d %s" % (sb.trid(), BOB))
            sbs.append(sb)
        bob.wait_pred("warning", lambda e: "refused" in e.get("text", ""))
        refused = lambda: [e for e in bob.events if e.get("event") == "warning" and "refused" in e.get("text", "")]
        opened = lambda: [e for e in bob.events if e.get("event") == "chat_open"]
        deadline = time.monotonic() + 15
        while len(refused()) + len(opened()) < 40 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(len(opened()), 8, opened())
        self.assertEqual(len(refused()), 32)
        joined = bob.wait("chat_join", email=ALICE)
        bob.send("/switch %d" % joined["chat"])
        bob.send("still here")
        bob.wait("message_sent", chat=joined["chat"], text="still here")


if __name__ == "__main__":
    MSND, MSNC = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0], "-v"])
