#!/usr/bin/env python3
"""msnsniff on real traffic: a real msnd on 127.0.0.1, two scripted clients
on their own loopback addresses (alice 127.77.0.2, bob 127.77.0.3), and
msnsniff capturing live on lo with libpcap while they log in, chat, and
negotiate a file transfer, a voice call and a whiteboard. Every follow-up
connection is really opened (MSNFTP over TCP, SIP-like UDP, T.120-like
TCP) to the address the invitation announced; msnsniff must predict each
one and match it. Needs root (live capture); skipped otherwise.

usage: test_live.py MSNSNIFF MSND
"""
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import msntest  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eventschema  # noqa: E402

MSNSNIFF, MSND = sys.argv[1:3]
del sys.argv[1:3]
ALICE_IP, BOB_IP = "127.77.0.2", "127.77.0.3"
ALICE, BOB = "alice@example.com", "bob@example.com"
FILE_DATA = bytes((i * 31 + 7) & 0xFF for i in range(10000))
FT_GUID = "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"
VOICE_GUID = "{02D3C01F-BF30-4825-A83A-DE7AF41648AA}"
WB_GUID = "{1DF57D09-637A-4CA5-91B9-2C3EDAAF62FE}"
SKIP = 77


@contextlib.contextmanager
def source_address(ip):
    """Make msntest's clients connect from ip (one loopback address per participant)."""
    orig = socket.create_connection

    def bound(addr, timeout=None, source_address=None, **kw):
        return orig(addr, timeout=timeout, source_address=(ip, 0), **kw)

    msntest.socket.create_connection = bound
    try:
        yield
    finally:
        msntest.socket.create_connection = orig


def invite(headers):
    body = "".join("%s: %s\r\n" % kv for kv in headers) + "\r\n"
    return ("MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n" + body).encode()


def text(msg):
    return ("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
            "X-MMS-IM-Format: FN=Arial; EF=; CO=0; CS=0; PF=22\r\n\r\n" + msg).encode()


def listener(ip, kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind((ip, 0))
    if kind == socket.SOCK_STREAM:
        s.listen(1)
    s.settimeout(5)
    return s


def msnftp_sender(lsock, cookie, result):
    """The file sender's side of MSNFTP (it listens; the receiver connects)."""
    try:
        conn, _ = lsock.accept()
        conn.settimeout(5)
        f = conn.makefile("rb")
        assert f.readline() == b"VER MSNFTP\r\n"
        conn.sendall(b"VER MSNFTP\r\n")
        usr = f.readline().split()
        assert usr[0] == b"USR" and usr[2] == cookie.encode(), usr
        conn.sendall(b"FIL %d\r\n" % len(FILE_DATA))
        assert f.readline() == b"TFR\r\n"
        for off in range(0, len(FILE_DATA), 2045):
            chunk = FILE_DATA[off:off + 2045]
            conn.sendall(bytes([0, len(chunk) & 0xFF, len(chunk) >> 8]) + chunk)
        result["bye"] = f.readline()
        conn.close()
    except Exception as e:  # reported by the main thread
        result["error"] = repr(e)


def msnftp_receiver(addr, email, cookie):
    s = socket.socket()
    s.bind((BOB_IP, 0))
    s.settimeout(5)
    s.connect(addr)
    f = s.makefile("rb")
    s.sendall(b"VER MSNFTP\r\n")
    assert f.readline() == b"VER MSNFTP\r\n"
    s.sendall(("USR %s %s\r\n" % (email, cookie)).encode())
    fil = f.readline().split()
    size = int(fil[1])
    s.sendall(b"TFR\r\n")
    got = b""
    while len(got) < size:
        hdr = f.read(3)
        n = hdr[1] | hdr[2] << 8
        got += f.read(n)
    s.sendall(b"BYE 16777989\r\n")
    s.close()
    return got


class Live(unittest.TestCase):
    def test_real_traffic(self):
        work = tempfile.mkdtemp(prefix="msnsniff-live-")
        carve = os.path.join(work, "files")
        os.mkdir(carve)
        events_path = os.path.join(work, "events.jsonl")
        sniff = subprocess.Popen([MSNSNIFF, "-i", "lo", "-q", "-o", events_path, "--extract", carve,
                                  "net", "127.77.0.0/24"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            line = sniff.stderr.readline().decode()
            self.assertIn("listening on lo", line)
            with msntest.MsndServer(MSND, users=[(ALICE, "alicepw", "Alice"), (BOB, "bobpw", "Bob")]) as srv:
                self.converse(srv)
        finally:
            sniff.send_signal(signal.SIGINT)
            try:
                rc = sniff.wait(20)
            except subprocess.TimeoutExpired:
                sniff.kill()
                rc = sniff.wait()
            err = sniff.stderr.read().decode()
            sniff.stderr.close()
        self.assertEqual(rc, 0, err)
        with open(events_path) as f:
            ev = [json.loads(line) for line in f if line.strip()]
        self.assertEqual(eventschema.problems(ev), [])  # docs/msnsniff-events.schema.json
        self.check(ev)
        import shutil
        shutil.rmtree(work)

    def converse(self, srv):
        with source_address(ALICE_IP):
            # a wrong password first: the analyzer reports the failed login
            c = msntest.Client(srv.ns)
            for line, answer in (("VER %d MSNP7 CVR0", "VER"), ("INF %d", "INF")):
                c.send_line(line % c.trid())
                c.expect(answer)
            c.send_line("USR %d MD5 I %s" % (c.trid(), ALICE))
            c.expect("USR")
            t = c.trid()
            c.send_line("USR %d MD5 S 00000000000000000000000000000000" % t)
            c.expect_error(911, t)
            c.close()
            alice = msntest.login(srv, ALICE, "alicepw")
            msntest_chg(alice)
        with source_address(BOB_IP):
            bob = msntest.login(srv, BOB, "bobpw")
            msntest_chg(bob)
        with source_address(ALICE_IP):
            sb_a = msntest.open_switchboard(srv, alice)
        t = sb_a.trid()
        sb_a.send_line("CAL %d %s" % (t, BOB))
        sb_a.expect("CAL")
        rng = read_until(bob, "RNG")
        with source_address(BOB_IP):
            sb_b = msntest.join_by_ring(srv, bob, rng)
        read_until(sb_a, "JOI")

        # chat both ways
        sb_a.send_msg(sb_a.trid(), "N", text("hello bob, this is real traffic"))
        self.assertEqual(read_until(sb_b, "MSG").payload.split(b"\r\n\r\n", 1)[1], b"hello bob, this is real traffic")
        sb_b.send_msg(sb_b.trid(), "N", text("hi alice"))
        read_until(sb_a, "MSG")

        # file transfer: alice sends, bob connects to the address alice announces
        ft = listener(ALICE_IP)
        ft_port = ft.getsockname()[1]
        result = {}
        th = threading.Thread(target=msnftp_sender, args=(ft, "4242", result))
        th.start()
        sb_a.send_msg(sb_a.trid(), "N", invite([
            ("Application-Name", "File Transfer"), ("Application-GUID", FT_GUID),
            ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "1001"),
            ("Application-File", "notes.bin"), ("Application-FileSize", str(len(FILE_DATA)))]))
        read_until(sb_b, "MSG")
        sb_b.send_msg(sb_b.trid(), "N", invite([
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "1001"),
            ("Launch-Application", "FALSE"), ("Request-Data", "IP-Address:")]))
        read_until(sb_a, "MSG")
        sb_a.send_msg(sb_a.trid(), "N", invite([
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "1001"),
            ("IP-Address", ALICE_IP), ("Port", str(ft_port)), ("AuthCookie", "4242"),
            ("Launch-Application", "FALSE"), ("Request-Data", "IP-Address:")]))
        acc = read_until(sb_b, "MSG").payload.decode()
        self.assertIn("Port: %d" % ft_port, acc)
        got = msnftp_receiver((ALICE_IP, ft_port), BOB, "4242")
        th.join(10)
        ft.close()
        self.assertNotIn("error", result, result.get("error"))
        self.assertEqual(got, FILE_DATA)
        self.voice_port, self.ft_port = None, ft_port

        # voice: bob answers with his address, alice with address:port; bob sends UDP
        udp = listener(ALICE_IP, socket.SOCK_DGRAM)
        self.voice_port = udp.getsockname()[1]
        sb_a.send_msg(sb_a.trid(), "N", invite([
            ("Application-Name", "Voice Conversation"), ("Application-GUID", VOICE_GUID),
            ("Session-Protocol", "SM1"), ("Context-Data", "Requested:SIP_A,; Capabilities:SIP_A,"),
            ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "2002")]))
        read_until(sb_b, "MSG")
        sb_b.send_msg(sb_b.trid(), "N", invite([
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "2002"), ("IP-Address", BOB_IP)]))
        read_until(sb_a, "MSG")
        sb_a.send_msg(sb_a.trid(), "N", invite([
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "2002"),
            ("IP-Address", "%s:%d" % (ALICE_IP, self.voice_port))]))
        read_until(sb_b, "MSG")
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind((BOB_IP, 0))
        u.sendto(b"INVITE sip:alice SIP/2.0", (ALICE_IP, self.voice_port))
        self.assertEqual(udp.recvfrom(100)[0], b"INVITE sip:alice SIP/2.0")
        u.close()
        udp.close()

        # whiteboard: alice's ACCEPT gives an address only; bob's CONTEXT gives
        # ip:port; alice connects there
        wb = listener(BOB_IP)
        self.wb_port = wb.getsockname()[1]
        sb_b.send_msg(sb_b.trid(), "N", invite([
            ("Application-Name", "Whiteboard"), ("Application-GUID", WB_GUID),
            ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "3003")]))
        read_until(sb_a, "MSG")
        sb_a.send_msg(sb_a.trid(), "N", invite([
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "3003"), ("IP-Address", ALICE_IP)]))
        read_until(sb_b, "MSG")
        sb_b.send_msg(sb_b.trid(), "N", invite([
            ("Invitation-Command", "CONTEXT"), ("Invitation-Cookie", "3003"),
            ("Context-Data", "%s:%d" % (BOB_IP, self.wb_port))]))
        read_until(sb_a, "MSG")
        c = socket.socket()
        c.bind((ALICE_IP, 0))
        c.settimeout(5)
        c.connect((BOB_IP, self.wb_port))
        peer, _ = wb.accept()
        c.sendall(b"\x03\x00\x00\x0b\x06\xe0\x00\x00\x00\x00\x00")
        peer.recv(100)
        peer.close()
        c.close()
        wb.close()

        sb_a.send_line("OUT")
        read_until(sb_b, "BYE")
        sb_b.send_line("OUT")
        for cl in (sb_a, sb_b, alice, bob):
            with contextlib.suppress(Exception):
                cl.send_line("OUT")
            cl.close()

    def check(self, ev):
        def of(kind, **kw):
            return [e for e in ev if e["event"] == kind and all(e.get(k) == v for k, v in kw.items())]

        failed = of("login", result="failed")
        self.assertEqual([(e["user"], e["error"]) for e in failed], [(ALICE, "911")])
        logins = {e["user"]: e for e in of("login", result="ok")}
        self.assertEqual(set(logins), {ALICE, BOB})
        self.assertEqual(logins[ALICE]["version"], "MSNP7")
        self.assertTrue(logins[ALICE]["client"].startswith(ALICE_IP + ":"))
        self.assertTrue(logins[BOB]["client"].startswith(BOB_IP + ":"))
        # the dispatch server's XFR NS was predicted and matched for both
        self.assertEqual(len(of("expectation_hit", app="notification")), 2)
        # switchboards tied to the notification sessions that asked for them
        opens = of("switchboard", action="open")
        self.assertEqual({(o["user"], o["referral"]) for o in opens}, {(ALICE, "XFR"), (BOB, "RNG")})
        self.assertEqual({o["ns_flow"] for o in opens}, {logins[ALICE]["flow"], logins[BOB]["flow"]})
        # the chat, seen leaving alice and arriving at bob
        hello = of("message", text="hello bob, this is real traffic")
        self.assertEqual({(m["direction"], m["sender"]) for m in hello}, {("sent", ALICE), ("received", ALICE)})
        self.assertEqual(hello[0]["recipients"], [BOB])
        # both copies belong to one conversation; the received one is the echo
        self.assertEqual(len({m["conversation"] for m in hello}), 1)
        self.assertIsNotNone(hello[0]["conversation"])
        self.assertEqual({(m["direction"], m["echo"]) for m in hello}, {("sent", False), ("received", True)})
        self.assertEqual(len(of("message", text="hi alice")), 2)

        def predicted(app, addr, port, transport):
            exp = [e for e in of("expectation", app=app, address=addr, transport=transport) if e["port"] == port]
            self.assertEqual(len(exp), 1, (app, addr, port, [e for e in ev if e["event"] == "expectation"]))
            hits = of("expectation_hit", id=exp[0]["id"])
            self.assertEqual(len(hits), 1, "%s %s:%s not matched" % (app, addr, port))
            return exp[0], hits[0]

        e, h = predicted("file_transfer", ALICE_IP, self.ft_port, "tcp")
        self.assertEqual((e["from"], e["to"], e["cookie"]), (BOB, ALICE, "1001"))
        self.assertEqual((h["src"], h["dst"], h["dport"]), (BOB_IP, ALICE_IP, self.ft_port))
        e, h = predicted("voice", ALICE_IP, self.voice_port, "udp")
        self.assertEqual(h["transport"], "udp")
        self.assertEqual(h["src"], BOB_IP)
        e, h = predicted("whiteboard", BOB_IP, self.wb_port, "tcp")
        self.assertEqual((h["src"], h["dst"]), (ALICE_IP, BOB_IP))
        # the address-only alternatives were retired by the hits, not missed
        self.assertEqual(of("expectation_miss"), [])
        # the MSNFTP transfer, carved
        files = of("file")
        self.assertEqual(len(files), 1)
        f = files[0]
        self.assertEqual((f["status"], f["name"], f["size_received"]), ("complete", "notes.bin", len(FILE_DATA)))
        with open(f["path"], "rb") as fp:
            self.assertEqual(fp.read(), FILE_DATA)
        invs = {(e["cookie"], e["app"]) for e in of("invitation", command="INVITE")}
        self.assertEqual(invs, {("1001", "file_transfer"), ("2002", "voice"), ("3003", "whiteboard")})
        self.assertEqual([e for e in ev if e["event"] == "anomaly" and e["kind"] in ("gap", "parse_error")], [])


class LiveOutput(unittest.TestCase):
    """Events of a live capture are written as they happen, not when the
    capture stops: JSON (with -U) and --nft alike, read from a pipe while
    msnsniff is still running."""

    def start(self, args, net):
        p = subprocess.Popen([MSNSNIFF, "-i", "lo", "-q"] + args + ["net", net],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(self.stop, p)
        self.assertIn("listening on lo", p.stderr.readline().decode())
        return p

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        p.stdout.close()
        p.stderr.close()

    def wait_for(self, p, needle, timeout=15.0):
        """Lines msnsniff has written so far, until one contains needle;
        fails if it does not come while msnsniff is still running."""
        import time
        buf, deadline = b"", time.monotonic() + timeout
        while needle.encode() not in buf:
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, "no %r on the pipe within %.0f s; got %r" % (needle, timeout, buf))
            r, _, _ = select.select([p.stdout], [], [], left)
            if r:
                chunk = os.read(p.stdout.fileno(), 65536)
                self.assertTrue(chunk, "msnsniff closed its output early")
                buf += chunk
        self.assertIsNone(p.poll(), "msnsniff stopped")
        return buf.decode().splitlines()

    def test_events_while_capturing(self):
        # addresses of our own (a second run at the same time uses others)
        net = "127.%d.%d" % (100 + os.getpid() % 100, os.getpid() // 100 % 250)
        alice_ip, bob_ip = net + ".2", net + ".3"
        json_p = self.start(["-U"], net + ".0/24")
        nft_p = self.start(["--nft"], net + ".0/24")
        with msntest.MsndServer(MSND, users=[(ALICE, "alicepw", "Alice"), (BOB, "bobpw", "Bob")]) as srv:
            with source_address(alice_ip):
                alice = msntest.login(srv, ALICE, "alicepw")
            lines = self.wait_for(json_p, '"event":"login"')
            login = [json.loads(x) for x in lines if '"event":"login"' in x][0]
            self.assertEqual((login["user"], login["result"]), (ALICE, "ok"))
            msntest_chg(alice)
            with source_address(bob_ip):
                bob = msntest.login(srv, BOB, "bobpw")
            msntest_chg(bob)
            with source_address(alice_ip):
                sb_a = msntest.open_switchboard(srv, alice)
            sb_a.send_line("CAL %d %s" % (sb_a.trid(), BOB))
            sb_a.expect("CAL")
            rng = read_until(bob, "RNG")
            with source_address(bob_ip):
                sb_b = msntest.join_by_ring(srv, bob, rng)
            read_until(sb_a, "JOI")
            sb_a.send_msg(sb_a.trid(), "N", invite([
                ("Application-Name", "File Transfer"), ("Application-GUID", FT_GUID),
                ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "5005"),
                ("Application-File", "x.bin"), ("Application-FileSize", "10"),
                ("IP-Address", alice_ip), ("Port", "6891")]))
            read_until(sb_b, "MSG")
            # the prediction reaches both outputs while the capture goes on
            lines = self.wait_for(json_p, '"cookie":"5005","invitation"')
            exp = [json.loads(x) for x in lines if '"event":"expectation"' in x and '"5005"' in x][0]
            self.assertEqual((exp["address"], exp["port"], exp["app"]), (alice_ip, 6891, "file_transfer"))
            lines = self.wait_for(nft_p, "cookie 5005")
            self.assertIn("add element inet msnsniff msn4 { %s . tcp . 6891 timeout 300s } # file_transfer cookie 5005"
                          % alice_ip, lines)
            for cl in (sb_a, sb_b, alice, bob):
                with contextlib.suppress(Exception):
                    cl.send_line("OUT")
                cl.close()

    def test_sighup_reopens_the_output_file(self):
        # log rotation: the events file is moved away, SIGHUP makes a new
        # one; the run goes on, and no event is lost or cut between them
        net = "127.%d.%d" % (100 + os.getpid() % 100, (os.getpid() // 100 + 1) % 250)
        work = tempfile.mkdtemp(prefix="msnsniff-hup-")
        self.addCleanup(shutil.rmtree, work, True)
        path = os.path.join(work, "events.jsonl")
        p = subprocess.Popen([MSNSNIFF, "-i", "lo", "-q", "-o", path, "net", net + ".0/24"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        self.assertIn("listening on lo", p.stderr.readline().decode())

        def logins_in(f):
            import time
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                with open(f) as fp:
                    found = [json.loads(x)["user"] for x in fp if '"event":"login"' in x]
                if found:
                    return found
                time.sleep(0.05)
            self.fail("no login event in %s" % f)

        with msntest.MsndServer(MSND, users=[(ALICE, "alicepw", "Alice"), (BOB, "bobpw", "Bob")]) as srv:
            with source_address(net + ".2"):
                alice = msntest.login(srv, ALICE, "alicepw")
            self.assertEqual(logins_in(path), [ALICE])
            os.rename(path, path + ".1")
            p.send_signal(signal.SIGHUP)
            self.assertIn("SIGHUP: events go on in %s, opened again" % path, p.stderr.readline().decode())
            with source_address(net + ".3"):
                bob = msntest.login(srv, BOB, "bobpw")
            self.assertEqual(logins_in(path), [BOB])
            for cl in (alice, bob):
                cl.close()
        p.send_signal(signal.SIGINT)
        self.assertEqual(p.wait(20), 0)
        p.stderr.close()
        with open(path + ".1") as f:
            old = [json.loads(x) for x in f]  # every line whole
        with open(path) as f:
            new = [json.loads(x) for x in f]
        self.assertEqual([e["user"] for e in old if e["event"] == "login"], [ALICE])
        self.assertEqual([e["user"] for e in new if e["event"] == "login"], [BOB])
        self.assertEqual([e["event"] for e in old + new].count("stats"), 1)
        self.assertEqual(new[-1]["event"], "stats")


def msntest_chg(c):
    t = c.trid()
    c.send_line("CHG %d NLN" % t)
    read_until(c, "CHG")


read_until = msntest.read_until


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("live capture needs root; skipped")
        sys.exit(SKIP)
    unittest.main(verbosity=1)
