#!/usr/bin/env python3
"""msnc --batch against a scripted server that speaks the way other MSNP
servers do: `USR OK` without the verified flag (or without a name), a CHG
reply and presence lines with a capability field, `ADD 0 RL email name`
without a list version, 36-character UUID session ids, and a JOI of the
joiner itself before the IRO lines. Through it: a chat both ways, a file
received over MSNFTP and a whiteboard invitation whose TCP connection
really opens.

usage: test_thirdparty.py MSNC"""
import os
import socket
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import rawpeer  # noqa: E402
from fakeserver import UUID_SESSION, FakeServer, FakeServerTest, invite_fields, invite_payload, text_payload  # noqa: E402

MSNC = None
ALICE, PW, BOB = "alice@example.com", "alicepw", "bob@example.com"
FT_GUID = "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"
WB_GUID = "{1DF57D09-637A-4CA5-91B9-2C3EDAAF62FE}"


class ThirdPartyServer(FakeServerTest):
    tmp_prefix = "msnc-3p-"


    def test_usr_ok_forms(self):
        """USR OK with a name, without one, and with the verified flag and
        kid of newer servers in its place."""
        for fields, name in (("OK %s Alice" % ALICE, "Alice"), ("OK %s" % ALICE, ALICE),
                             ("OK %s 1 0" % ALICE, ALICE), ("OK %s Al%%20Ice 1" % ALICE, "Al Ice")):
            with self.subTest(usr=fields):
                c = self.client()
                ns = self.srv.accept()
                ns.login(ALICE, PW, usr_ok=fields)
                self.assertEqual(c.wait("logged_in")["name"], name)
                c.wait("status", status="NLN")
                self.assertEqual(c.quit(), 0, c.stderr_tail())

    def test_empty_lists_in_sync(self):
        """A list with no one on it comes as `LST trid LIST ver 0 0` (MSNP2-7;
        Escargot and msnd both send it): taken as empty, not as damage, and
        an empty RL ends the sync."""
        c = self.client()
        ns = self.srv.accept()
        ns.login(ALICE, PW, list_version=3,
                 syn_lines=("GTC {trid} 3 A", "BLP {trid} 3 AL", "LST {trid} FL 3 1 1 %s Bob 0" % BOB,
                            "LST {trid} AL 3 0 0", "LST {trid} BL 3 0 0", "LST {trid} RL 3 0 0"))
        synced = c.wait("synced")
        self.assertEqual((synced["count"], synced["version"]), (1, 3))
        c.send("/list FL")
        c.wait("contact", email=BOB)
        self.assertEqual([e for e in c.events if e.get("event") == "warning"], [])
        # An entry-less LST that claims entries is still refused.
        ns.send_line("LST 0 FL 3 1 2")
        c.wait_pred("warning", lambda e: "LST 0 FL 3 1 2" in e.get("text", ""))
        self.assertEqual(c.quit(), 0, c.stderr_tail())

    def test_full_session(self):
        c = self.client()
        ns = self.srv.accept()
        ns.login(ALICE, PW, usr_ok="OK %s Alice" % ALICE, chg_extra="268435456")
        c.wait("logged_in", name="Alice")
        c.wait("status", status="NLN")

        # Someone adds us; that server sends no list version.
        ns.send_line("ADD 0 RL %s Bob" % BOB)
        c.wait("added_by", email=BOB, name="Bob")
        ns.send_line("NLN NLN %s Bob 268435456" % BOB)
        c.wait("presence", email=BOB, status="NLN", name="Bob")

        # Bob calls: a UUID session id, a long cookie, ourselves in a JOI first.
        sb = FakeServer()
        self.closers.append(sb.close)
        cookie = "1795046311.27813.d1c4a7b8-2b51-4e7a-8d5e-3f0c9a61b2e4"
        ns.send_line("RNG %s %s CKI %s %s Bob" % (UUID_SESSION, sb.hostport, cookie, BOB))
        conn = sb.accept()
        ans = conn.expect("ANS")
        self.assertEqual(ans.args[1:], [ALICE, cookie, UUID_SESSION])
        conn.send_line("JOI %s Alice" % ALICE)
        conn.send_line("IRO %s 1 1 %s Bob" % (ans.args[0], BOB))
        conn.send_line("ANS %s OK" % ans.args[0])
        join = c.wait("chat_join", email=BOB)
        chat = join["chat"]
        self.assertIsNone(c.find("chat_join", email=ALICE)[1], "we did not join ourselves")

        # Text both ways, with the server's ACK.
        conn.send_msg(BOB, "Bob", text_payload("hello from a UUID session"))
        c.wait("message", chat=chat, email=BOB, text="hello from a UUID session")
        c.send("hi bob")
        msg = conn.expect("MSG")
        self.assertTrue(msg.payload.endswith(b"\r\n\r\nhi bob"), msg.payload)
        conn.send_line("ACK %s" % msg.args[0])
        c.wait("ack", chat=chat, trid=int(msg.args[0]))

        # A file from Bob over MSNFTP (Bob listens).
        data = os.urandom(100000)
        conn.send_msg(BOB, "Bob", invite_payload([
            ("Application-Name", "File Transfer"), ("Application-GUID", FT_GUID),
            ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "777"),
            ("Application-File", "report.bin"), ("Application-FileSize", str(len(data)))]))
        inv = c.wait("invite", cookie="777", app="file_transfer")
        self.assertEqual(inv["file"], "report.bin")
        c.send("/accept 777")
        acc = invite_fields(conn.expect("MSG").payload)
        self.assertEqual((acc["Invitation-Command"], acc["Invitation-Cookie"]), ("ACCEPT", "777"))
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        ls.settimeout(rawpeer.TIMEOUT)
        self.closers.append(ls.close)
        port = ls.getsockname()[1]
        conn.send_msg(BOB, "Bob", invite_payload([
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "777"), ("IP-Address", "127.0.0.1"),
            ("Port", str(port)), ("PortX", str(port ^ 0x3141)), ("AuthCookie", "31337"),
            ("Launch-Application", "FALSE"), ("Request-Data", "IP-Address:")]))
        ftp, _ = ls.accept()
        self.closers.append(ftp.close)
        self.assertEqual(rawpeer.serve_file(ftp, data, ALICE, "31337"), "BYE 16777989")
        done = c.wait("transfer_done", cookie="777")
        with open(done["file"], "rb") as f:
            self.assertEqual(f.read(), data)

        # A whiteboard invitation from Bob: msnc listens, Bob connects.
        conn.send_msg(BOB, "Bob", invite_payload([
            ("Application-Name", "Whiteboard"), ("Application-GUID", WB_GUID),
            ("Session-Protocol", "SM1"), ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "4242"),
            ("Session-ID", "{B3A2F1E0-1111-2222-3333-444455556666}")]))
        c.wait("invite", cookie="4242", app="whiteboard")
        c.send("/accept 4242")
        acc = invite_fields(conn.expect("MSG").payload)
        self.assertEqual((acc["Invitation-Command"], acc["IP-Address"]), ("ACCEPT", "127.0.0.2"))
        conn.send_msg(BOB, "Bob", invite_payload([
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "4242"), ("IP-Address", "127.0.0.1"),
            ("Launch-Application", "FALSE")]))
        ctx = invite_fields(conn.expect("MSG").payload)
        self.assertEqual(ctx["Invitation-Command"], "CONTEXT")
        host, port = ctx["Context-Data"].rsplit(":", 1)
        self.assertEqual(host, "127.0.0.2")
        probe = socket.create_connection((host, int(port)), timeout=rawpeer.TIMEOUT)
        self.closers.append(probe.close)
        probe.sendall(b"MSNKIT-PROBE 4242\r\n")
        self.assertEqual(rawpeer.Lines(probe).line(), "MSNKIT-PROBE-OK 4242")
        c.wait("secondary_connected", cookie="4242", app="whiteboard", transport="tcp")

        # Bob leaves; a line msnc does not know is named in a warning.
        conn.send_line("BYE %s" % BOB)
        c.wait("chat_leave", chat=chat, email=BOB)
        conn.send_line("XYZ 9 something new")
        w = c.wait_pred("warning", lambda e: "XYZ 9 something new" in e.get("text", ""))
        self.assertIn("switchboard", w["text"])
        self.assertEqual([e for e in c.events if e.get("event") == "error"], [])
        self.assertEqual(c.quit(), 0, c.stderr_tail())


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    MSNC = FakeServerTest.MSNC = sys.argv[1]
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
