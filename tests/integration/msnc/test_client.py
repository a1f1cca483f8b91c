#!/usr/bin/env python3
"""msnc against a real msnd on loopback: two or three `msnc --batch`
processes, each on its own 127.x address. With MSND_TEST_TOPOLOGY=cluster
the same tests run against a cluster in network namespaces (a DS, three
notification nodes, two switchboard processes, PostgreSQL: netcluster.py),
the clients on addresses of the test's own veth; needs root.

usage: test_client.py MSND MSNC [--big] [CLASS[.TEST] ...]
  --big: only the 50 MiB transfer; CLASS: Session, Transfers or Invitations"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import msntest  # noqa: E402
from msnclib import Msnc, assert_received, make_random_file, wait_transfer  # noqa: E402

MSND = MSNC = None
# Read before the classes: the skip decorators use BIG.
BIG = "--big" in sys.argv[1:]
USERS = [("alice@example.com", "alicepw", "Alice"), ("bob@example.com", "bobpw", "Bob"),
         ("carol@example.com", "carolpw", "Carol")]
CLUSTER = msntest.topology() == "cluster"
PASSWORDS = {u[0]: u[1] for u in USERS}


class Base(unittest.TestCase):
    SERVER_ARGS = ()  # extra msnd options for every test of a class

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="msnc-it-")
        self.srv = msntest.new_server(MSND, args=self.SERVER_ARGS, users=USERS)
        self.srv.start()
        # each client on an address of its own (127.0.0.2-4 on one host)
        self.ips = {u[0]: self.srv.source(k) for k, u in enumerate(USERS)}
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.quit()
        self.srv.stop()
        self.srv.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def client(self, email, password=None, extra=(), server=None, reconnect=False):
        c = Msnc(MSNC, server or self.srv.ds, email, password or PASSWORDS[email], self.ips[email], self.tmp, extra,
                 reconnect)
        self.clients.append(c)
        return c

    def online(self, email, **kw):
        c = self.client(email, **kw)
        c.wait("logged_in")
        c.wait("status", status=kw.get("status", "NLN"))
        return c

    def friends(self, a, b):
        """a and b put each other on their lists and see each other online."""
        a.send("/add " + b.email)
        a.wait("list", list="FL", email=b.email)
        b.send("/add " + a.email)
        b.wait("list", list="FL", email=a.email)
        a.wait("presence", email=b.email, status="NLN")
        b.wait("presence", email=a.email, status="NLN")

    def chat(self, a, b):
        """a opens a chat with b; returns (chat id at a, chat id at b)."""
        m = a.mark()
        a.send("/chat " + b.email)
        ja = a.wait("chat_join", since=m, email=b.email)
        jb = b.wait("chat_open", text="incoming")
        return ja["chat"], jb["chat"]

    def burst(self, a, b, n):
        """a pipes n lines at once into its open chat with b: b receives them
        all, in order; a reports none failed, each message_sent trid is acked
        exactly once, and a exits 0 at the end of input."""
        a.send("/chat " + b.email)
        a.wait("chat_join", email=b.email)
        m = a.mark()
        lines = ["line %04d" % i for i in range(n)]
        a.proc.stdin.write("".join(x + "\n" for x in lines))
        a.proc.stdin.close()
        self.assertEqual(a.proc.wait(30), 0, [e for e in a.events[m:] if e.get("event") not in ("message_sent", "ack", "message_failed")])
        b.wait("message", text=lines[-1], timeout=30)
        got = [e["text"] for e in b.events if e.get("event") == "message"]
        self.assertEqual(got, lines)
        evs = a.events[m:]
        self.assertEqual([e for e in evs if e.get("event") == "message_failed"], [])
        sent = sorted(e["trid"] for e in evs if e.get("event") == "message_sent")
        acked = sorted(e["trid"] for e in evs if e.get("event") == "ack")
        self.assertEqual(len(sent), n)
        self.assertEqual(acked, sent)
        return evs


class Session(Base):
    @unittest.skipIf(BIG, "")
    def test_login_and_wrong_password(self):
        a = self.online("alice@example.com")
        self.assertEqual(a.wait("logged_in")["version"], 7)
        bad = self.client("bob@example.com", password="nope")
        e = bad.wait("login_failed")
        self.assertEqual(e["code"], 911)
        self.assertEqual(bad.quit(), 2)

    @unittest.skipIf(BIG, "")
    def test_new_account_syncs_empty_lists(self):
        # Every list of a new account is empty, each sent as `LST trid LIST
        # ver 0 0`: the sync ends (and is cached) without a warning.
        cache = os.path.join(self.tmp, "cache")
        os.mkdir(cache)
        a = self.client("alice@example.com", extra=("--cache-dir", cache))
        self.assertEqual(a.wait("synced")["count"], 0)
        a.wait("status", status="NLN")
        self.assertEqual([e for e in a.events if e.get("event") == "warning"], [])
        self.assertTrue(os.path.isfile(os.path.join(cache, "alice@example.com.lists")), os.listdir(cache))

    @unittest.skipIf(BIG, "")
    def test_cache_dir_is_made_or_its_failure_said(self):
        # A cache directory whose parents are missing is made (it was one
        # mkdir, which failed); one that cannot be written is said once, not
        # left to cost every login a full sync in silence.
        deep = os.path.join(self.tmp, "a", "b", "cache")
        a = self.client("alice@example.com", extra=("--cache-dir", deep))
        a.wait("synced")
        a.wait("status", status="NLN")
        self.assertTrue(os.path.isfile(os.path.join(deep, "alice@example.com.lists")))
        self.assertEqual([e for e in a.events if e.get("event") == "warning"], [])
        a.quit()
        blocked = os.path.join(self.tmp, "a-file")
        with open(blocked, "w"):
            pass
        b = self.client("bob@example.com", extra=("--cache-dir", blocked))
        b.wait("synced")
        b.send("/add carol@example.com")
        b.wait("list", list="FL", email="carol@example.com")
        warnings = [e["text"] for e in b.events if e.get("event") == "warning"]
        self.assertEqual(len(warnings), 1, warnings)  # once, though the list was saved again
        self.assertIn("contact list cache %s/bob@example.com.lists cannot be written: Not a directory" % blocked,
                      warnings[0])

    @unittest.skipIf(BIG or CLUSTER, "the host name is localhost: one msnd on loopback")
    def test_direct_notification_login_and_host_name(self):
        # Straight to the NS (no dispatch step), and by name instead of address.
        a = self.client("alice@example.com", server=self.srv.ns)
        a.wait("logged_in")
        b = self.client("bob@example.com", server="localhost:%d" % self.srv.ds[1])
        b.wait("logged_in")
        self.assertIsNone(a.find("connecting", text="ns")[0], "no XFR NS hop expected")
        self.assertIsNotNone(b.find("connecting", text="ns")[0])

    @unittest.skipIf(BIG, "")
    def test_reconnect_with_backoff(self):
        a = self.client("alice@example.com", reconnect=True)
        a.wait("logged_in")
        self.srv.stop()
        a.wait("disconnected")
        first = a.wait("reconnecting")
        self.assertEqual(first["delay_ms"], 1000)
        a.wait("reconnecting", delay_ms=2000, timeout=5)
        self.assertIsNone(a.proc.poll(), "the client keeps trying")

    @unittest.skipIf(BIG or CLUSTER, "restarts one msnd on the same ports")
    def test_presence_forgotten_while_disconnected(self):
        # Bob leaves while alice's server is down: nobody can tell her. The
        # presence she knew was kept through the reconnection, and /list
        # showed bob online long after he had gone.
        a = self.online("alice@example.com", reconnect=True)
        b = self.online("bob@example.com")
        self.friends(a, b)
        self.srv.stop()  # OUT SSD
        a.wait("disconnected")
        b.quit()
        m = a.mark()
        self.srv.start(same_ports=True)
        a.wait("status", since=m, status="NLN", timeout=30)
        a.wait("synced", since=m)
        a.send("/list FL")
        self.assertEqual(a.wait("contact", since=m, email="bob@example.com")["status"], "FLN")

    @unittest.skipIf(BIG, "")
    def test_chats_answer_names_the_chat_as_a_number(self):
        # The /chats answer gave "chat": "1", a string, where every other
        # event gives the number: a script matching it against chat_open's
        # "chat" found nothing.
        a = self.online("alice@example.com")
        b = self.online("bob@example.com")
        self.friends(a, b)
        ca, _ = self.chat(a, b)
        a.send("/chats")
        e = a.wait("chat")
        self.assertEqual((e["chat"], e["participants"], e["state"], e["current"]),
                         (ca, "bob@example.com", "ready", "yes"))

    @unittest.skipIf(BIG, "")
    def test_status_errors_name_the_words(self):
        # "/status sleeping" said only "unknown status 'sleeping'", and a
        # bare "/status" "unknown status ''": neither said what to type.
        a = self.online("alice@example.com")
        a.send("/status sleeping")
        self.assertEqual(a.wait("error")["text"], "unknown status 'sleeping': use online, busy, away, idle, brb, "
                         "phone, lunch or hidden")
        m = a.mark()
        a.send("/status")
        self.assertEqual(a.wait("error", since=m)["text"], "usage: /status online|busy|away|idle|brb|phone|lunch|hidden")
        self.assertEqual(a.quit(), 1)

    @unittest.skipIf(BIG or CLUSTER, "deletes an account from the one SQLite file")
    def test_lists_changed_unseen_are_synced_whole_next_time(self):
        # Carol's account is deleted while alice, who has her on FL and AL,
        # is logged in: the server's lists lose carol and move on a version,
        # and nothing tells alice. Her next change came back with a version
        # two on, taken as if hers held what it holds: the cache kept carol
        # at that version, and every later login (SYN with it, answered
        # with no lists) showed carol for good.
        a = self.online("alice@example.com")
        a.send("/add carol@example.com")
        a.wait("list", list="AL", email="carol@example.com")
        r = self.srv.run_admin("user", "del", "carol@example.com")
        self.assertEqual(r.returncode, 0, r.stderr)
        a.send("/add bob@example.com")
        a.wait("list", list="AL", email="bob@example.com")
        self.assertEqual(a.quit(), 0)
        a = self.online("alice@example.com")
        a.send("/list FL")
        a.wait("list_end", list="FL")
        self.assertEqual([e["email"] for e in a.events if e.get("event") == "contact"], ["bob@example.com"])

    @unittest.skipIf(BIG or CLUSTER, "stops one msnd process")
    def test_chat_waiting_for_its_switchboard_when_the_server_goes(self):
        # The server stops answering (SIGSTOP) after /chat: the PNG timeout
        # ends the connection before XFR SB is answered. The line typed was
        # kept in a chat that could never open, reported only at /quit, and
        # the next /chat with bob after the reconnection reused that chat.
        a = self.online("alice@example.com", reconnect=True, extra=("--ping-interval", "1"))
        b = self.online("bob@example.com")
        self.friends(a, b)
        pid = self.srv.proc.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            m = a.mark()
            a.send("/chat bob@example.com")
            opened = a.wait("chat_open", since=m)
            a.send("hello?")
            a.wait("disconnected", since=m, timeout=20)
            failed = a.wait("message_failed", since=m, timeout=5)
            self.assertEqual((failed["chat"], failed["text"]), (opened["chat"], "hello?"))
            a.wait("chat_closed", since=m, chat=opened["chat"], timeout=5)
        finally:
            os.kill(pid, signal.SIGCONT)
        m = a.mark()
        a.wait("status", since=m, status="NLN", timeout=30)
        a.send("/chat bob@example.com")
        a.wait("chat_join", since=m, email="bob@example.com")
        a.send("hello again")
        b.wait("message", text="hello again")

    @unittest.skipIf(BIG, "")
    def test_chats_and_bad_commands(self):
        a = self.online("alice@example.com")
        m = a.mark()
        a.send("/nonsense")
        a.wait("error", since=m)
        a.send("text without a chat")
        a.wait("error", since=m, text="no current chat: use /chat EMAIL first")
        a.send("/accept 12345")
        a.wait("error", since=m, text="no invitation 12345 to accept")
        a.send("/name")
        a.wait("error", since=m, text="usage: /name NAME")
        a.send("/name " + "x" * 400)
        a.wait("error", since=m, text="name too long: at most 387 bytes once URL-encoded")
        a.send("/chats")
        a.send("/list")
        a.wait("list_end", since=m)

    @unittest.skipIf(BIG, "")
    def test_bind_ip_must_be_unicast(self):
        # It is advertised in invitations: peers would refuse these.
        for ip in ("0.0.0.0", "255.255.255.255", "224.0.0.1", "localhost", "127.0.0.01"):
            r = subprocess.run([MSNC, "--batch", "--server", "%s:%d" % self.srv.ds, "--account", "alice@example.com",
                                "--bind-ip", ip], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               env=dict(os.environ, MSNC_PASSWORD="alicepw"), timeout=15)
            self.assertEqual(r.returncode, 78, (ip, r.stdout, r.stderr))
            self.assertIn("--bind-ip", r.stderr)

    @unittest.skipIf(BIG or msntest.topology() == "cluster", "")
    def test_server_on_ipv6_loopback(self):
        # msnd listening on [::1]: its XFR NS, XFR SB and RNG name [::1]:port,
        # which msnc connects to (it read the brackets as part of the host
        # name, and asked for IPv4 addresses only). Names stay IPv4.
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback here")
        srv6 = msntest.MsndServer(MSND, users=USERS)
        srv6.listen_host = "[::1]"
        srv6.start()
        try:
            server = "[::1]:%d" % srv6.ds[1]
            a = self.online("alice@example.com", server=server)
            b = self.online("bob@example.com", server=server)
            self.assertEqual(a.find("connecting", text="ns")[1]["peer"], "[::1]:%d" % srv6.ns[1])
            self.friends(a, b)
            ca, cb = self.chat(a, b)
            a.send("over six")
            b.wait("message", chat=cb, text="over six")
        finally:
            srv6.stop()
            srv6.cleanup()

    @unittest.skipIf(BIG, "")
    def test_batch_commands_run_once_and_none_after_quit(self):
        # Piped in at once (read before the login completes), the commands
        # run once each, in order, and nothing after /quit runs. The end of
        # input used to run the first line again once /quit had been read.
        r = subprocess.run([MSNC, "--batch", "--server", "%s:%d" % self.srv.ds, "--account", "alice@example.com"],
                           input="/list XX\n/switch 5\n/quit\n/switch 7\n", capture_output=True, text=True,
                           env=dict(os.environ, MSNC_PASSWORD="alicepw"), timeout=15)
        self.assertEqual(r.returncode, 1, r.stderr)  # 1: a command failed
        errors = [json.loads(line)["text"] for line in r.stdout.splitlines() if '"event":"error"' in line]
        self.assertEqual(errors, ["no list XX: use FL, AL, BL or RL", "no chat 5"], r.stdout)

    @unittest.skipIf(BIG, "")
    def test_bad_numbers_and_accounts_are_refused_by_name(self):
        # A value that is not a whole number in range is a usage error that
        # names the option, never read as something else: "1e9" was 1 s,
        # "-5" an enormous rate, "abc" the default, MSNP9 silently MSNP7.
        def msnc(*args, config=None):
            extra = ["--config", config] if config else []
            return subprocess.run([MSNC, "--batch", "--server", "%s:%d" % self.srv.ds, "--account",
                                   "alice@example.com"] + extra + list(args), stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, env=dict(os.environ, MSNC_PASSWORD="alicepw"),
                                  timeout=15)
        for opt, val in (("--max-rate", "abc"), ("--max-rate", "-5"), ("--login-timeout", "xyz"),
                         ("--connect-timeout", "1e9"), ("--invite-timeout", " 5"), ("--ping-interval", "60s"),
                         ("--max-version", "9"), ("--min-version", "1"), ("--login-timeout", "4294968")):
            r = msnc(opt, val)
            self.assertEqual(r.returncode, 64, (opt, val, r.stdout, r.stderr))
            self.assertIn("%s wants a whole number from" % opt, r.stderr)
            self.assertIn("'%s'" % val, r.stderr)
            self.assertEqual(r.stdout, "")  # refused before connecting
        # a port range says what it wants, as in the config file
        for val in ("70000", "9-2", "-5", "x"):
            r = msnc("--ftp-ports", val)
            self.assertEqual(r.returncode, 64, (val, r.stdout, r.stderr))
            self.assertIn("msnc: --ftp-ports wants a port or a range A-B (0 to 65535), not '%s'\n" % val, r.stderr)
        r = msnc("--min-version", "6", "--max-version", "4")
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn("lowest version offered (MSNP6) is above the highest (MSNP4)", r.stderr)
        for server in ("127.0.0.1:99999", "127.0.0.1:", ":1863", "127.0.0.1:18x"):
            r = msnc("--server", server)
            self.assertEqual(r.returncode, 64, (server, r.stdout, r.stderr))
            self.assertIn("the server is HOST or HOST:PORT (port 1 to 65535), not '%s'" % server, r.stderr)
        # an IPv6 address without brackets: "::1" was dialled as the host
        # ":" on port 1 (a network failure, exit 3, after connecting)
        for server in ("::1", "::1:1863"):
            r = msnc("--server", server)
            self.assertEqual(r.returncode, 64, (server, r.stdout, r.stderr))
            self.assertIn("an IPv6 server goes in brackets, [ADDRESS] or [ADDRESS]:PORT, not '%s'" % server, r.stderr)
            self.assertEqual(r.stdout, "")
        # a download directory that is not one is said at start (78), not
        # when a file has been accepted and its sender waits
        for d, why in ((os.path.join(self.tmp, "missing"), "No such file or directory"), ("/etc/passwd", "Not a directory")):
            r = msnc("--download-dir", d)
            self.assertEqual(r.returncode, 78, (d, r.stdout, r.stderr))
            self.assertIn("msnc: download directory %s: %s (--download-dir or config)" % (d, why), r.stderr)
            self.assertEqual(r.stdout, "")
        r = msnc("--account", "alice")
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn("'alice' is not an e-mail address", r.stderr)
        for status in ("FOO", "AWAYFROMKEYBOARD"):  # the second one whole, not its first 7 bytes
            r = msnc("--status", status)
            self.assertEqual(r.returncode, 64, r.stderr)
            self.assertIn("msnc: bad status '%s' (want NLN, BSY, IDL, BRB, AWY, PHN, LUN or HDN)" % status, r.stderr)
        # text options are taken whole or refused by name, as in the config
        # file: a cut value was a different server, directory or account
        for opt, val, cap in (("--server", "h" * 300 + ":1863", 255), ("--download-dir", "/" + "d" * 1100, 1023),
                              ("--cache-dir", "/" + "c" * 1100, 1023), ("--account", "a" * 140 + "@example.com", 129),
                              ("--bind-ip", "1" * 70, 63)):
            r = msnc(opt, val)
            self.assertEqual(r.returncode, 64, (opt, r.stdout, r.stderr))
            self.assertIn("msnc: %s takes at most %d bytes; this one has %d\n" % (opt, cap, len(val)), r.stderr)
            self.assertEqual(r.stdout, "")
        # the same keys in a config file: the line is named
        with tempfile.TemporaryDirectory() as d:
            for key, val, why in (
                    ("login_timeout", "1e9", "'login_timeout' wants a whole number from 0 to 4294967, not '1e9'"),
                    ("max_version", "8", "'max_version' wants a whole number from 2 to 7, not '8'"),
                    ("ftp_max_rate", "-1", "'ftp_max_rate' wants a whole number from 0 to 18446744073709551615, "
                     "not '-1'"),
                    ("frob", "1", "unknown key 'frob'"),
                    ("reconnect", "maybe", "'reconnect' wants yes or no, not 'maybe'"),
                    ("ftp_ports", "9-2", "'ftp_ports' wants a port or a range A-B (0 to 65535), not '9-2'"),
                    ("password", "secret", "a password is not kept in the config file: use password_file or "
                     "password_env"),
                    ("server", "h" * 300 + ":1863", "'server' is longer than 255 bytes"),
                    # checked as they are read, not at start as if they
                    # were options (64, and no file or line named)
                    ("server", "127.0.0.1:99999", "'server' wants HOST or HOST:PORT (port 1 to 65535), "
                     "not '127.0.0.1:99999'"),
                    ("server", "::1", "'server' wants an IPv6 address in brackets, [ADDRESS] or [ADDRESS]:PORT, "
                     "not '::1'"),
                    ("account", "alice", "'account' wants an e-mail address, not 'alice'"),
                    ("status", "AWAYFROMKEYBOARD", "'status' wants NLN, BSY, IDL, BRB, AWY, PHN, LUN or HDN, "
                     "not 'AWAYFROMKEYBOARD'"),
                    ("bind_ip", "0.0.0.0", "'bind_ip' wants a unicast IPv4 address (it is advertised to peers), "
                     "not '0.0.0.0'")):
                path = os.path.join(d, "msnc.ini")
                with open(path, "w") as f:
                    f.write("[client]\n%s = %s\n" % (key, val))
                r = msnc(config=path)
                self.assertEqual(r.returncode, 78, (key, r.stdout, r.stderr))
                self.assertIn("msnc: %s:2: %s\n" % (path, why), r.stderr)
            # yes/no keys take on/off too, as msnd's and msngate's do
            path = os.path.join(d, "msnc.ini")
            with open(path, "w") as f:
                f.write("[client]\nreconnect = off\nincoming = On\n")
            r = msnc(config=path)
            self.assertEqual(r.returncode, 0, (r.stdout, r.stderr))
            self.assertIn('"event":"logged_in"', r.stdout.replace(" ", ""))
            # a password file is taken whole or refused: 300 bytes were
            # cut to 255 (a wrong password, exit 2), an empty file or a
            # directory was the empty password
            for text, why in (("p" * 300 + "\n", "the password in %s is longer than 255 bytes"),
                              ("", "password file %s is empty (its first line is the password)")):
                path = os.path.join(d, "pw")
                with open(path, "w") as f:
                    f.write(text)
                r = msnc("--password-file", path)
                self.assertEqual(r.returncode, 78, (text, r.stdout, r.stderr))
                self.assertIn("msnc: %s\n" % (why % path), r.stderr)
                self.assertEqual(r.stdout, "")
            r = subprocess.run([MSNC, "--batch", "--server", "%s:%d" % self.srv.ds, "--account", "alice@example.com"],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               env=dict(os.environ, MSNC_PASSWORD=""), timeout=15)
            self.assertEqual(r.returncode, 78, (r.stdout, r.stderr))
            self.assertIn("msnc: MSNC_PASSWORD is empty\n", r.stderr)
            r = msnc("--password-file", d)
            self.assertEqual(r.returncode, 78, r.stderr)
            self.assertIn("msnc: cannot read password file %s: Is a directory\n" % d, r.stderr)
            # a file that cannot be read says why
            for path, why in ((os.path.join(d, "absent.ini"), "No such file or directory"), (d, "Is a directory")):
                r = msnc(config=path)
                self.assertEqual(r.returncode, 78, (path, r.stdout, r.stderr))
                self.assertIn("msnc: cannot read config %s: %s\n" % (path, why), r.stderr)
        # the peer-to-peer tool too
        for opt, val in (("--port", "0"), ("--port", "70000"), ("--timeout", "x"), ("--size", "-1")):
            r = subprocess.run([MSNC, "ftp-recv", "--cookie", "1", opt, val], capture_output=True, text=True,
                               timeout=15)
            self.assertEqual(r.returncode, 64, (opt, val, r.stderr))
            self.assertIn("%s wants a whole number" % opt, r.stderr)
        r = subprocess.run([MSNC, "ftp-send", "--cookie", "1", "--ports", "x", "/dev/null"], capture_output=True,
                           text=True, timeout=15)
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn("--ports wants PORT or FIRST-LAST", r.stderr)
        # and good values still work
        r = msnc("--login-timeout", "10", "--max-rate", "1000", "--min-version", "5", "--max-version", "7")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"event":"logged_in"', r.stdout)

    @unittest.skipIf(BIG, "")
    def test_presence_both_ways(self):
        a = self.online("alice@example.com")
        b = self.online("bob@example.com")
        self.friends(a, b)
        m = a.mark()
        b.send("/status busy")
        a.wait("presence", since=m, email="bob@example.com", status="BSY")
        m = b.mark()
        a.send("/status away")
        b.wait("presence", since=m, email="alice@example.com", status="AWY")
        m = b.mark()
        a.quit()
        b.wait("presence", since=m, email="alice@example.com", status="FLN")
        self.assertEqual(a.proc.returncode, 0)

    @unittest.skipIf(BIG, "")
    def test_list_and_block(self):
        a = self.online("alice@example.com")
        b = self.online("bob@example.com")
        self.friends(a, b)
        m = a.mark()
        a.send("/block bob@example.com")
        a.wait("list", since=m, list="BL", email="bob@example.com")
        b.wait("presence", email="alice@example.com", status="FLN")
        m = a.mark()
        a.send("/list BL")
        a.wait("contact", since=m, list="BL", email="bob@example.com")
        a.wait("list_end", since=m)

    @unittest.skipIf(BIG, "")
    def test_list_changes_for_one_contact_take_effect_in_order(self):
        # /add, /block, /allow piped at once: each decided from lists that
        # did not show the change before it yet (/block found carol on no
        # list and sent ADD BL alone; /allow then found her on AL and did
        # nothing, silently). Each now waits for the answers before it.
        a = self.client("alice@example.com")
        a.proc.stdin.write("/add carol@example.com Carol\n/block carol@example.com\n/allow carol@example.com\n"
                           "/allow carol@example.com\n")
        a.proc.stdin.close()
        self.assertEqual(a.proc.wait(20), 0, a.events[-12:])
        changes = [(e["list"], e["text"]) for e in a.events if e.get("event") == "list"]
        self.assertEqual(changes, [("FL", "added"), ("AL", "added"), ("AL", "removed"), ("BL", "added"),
                                   ("BL", "removed"), ("AL", "added")])
        self.assertEqual([e for e in a.events if e.get("event") in ("server_error", "error")], [])
        # the last /allow had nothing to do, and said so
        info = a.wait("info")
        self.assertIn("carol@example.com is on AL already", info["text"])

    @unittest.skipIf(BIG, "")
    def test_message_to_an_offline_contact_fails_loudly(self):
        # carol never logs in: the CAL gets 217, and the line typed while
        # waiting for her is reported as not sent, not dropped in silence.
        a = self.online("alice@example.com")
        a.send("/chat carol@example.com")
        a.wait("server_error", code=217)
        m = a.mark()
        a.send("are you there?")
        e = a.wait("message_failed", since=m, text="are you there?")
        self.assertEqual(e["code"], 217)
        self.assertIsNone(a.find("message_sent", text="are you there?")[0])

    @unittest.skipIf(BIG, "")
    def test_lines_beyond_the_window_wait_their_turn(self):
        # 150 lines at once: more than the 64 a chat keeps in flight. Those
        # in flight were given up as "unacknowledged" to make room, although
        # every one of them arrived and was acknowledged a moment later.
        a = self.online("alice@example.com")
        b = self.online("bob@example.com")
        self.friends(a, b)
        self.burst(a, b, 150)

    @unittest.skipIf(BIG or CLUSTER, "stops one msnd process")
    def test_end_of_input_while_reconnecting_ends_in_login_timeout(self):
        # The server is gone for good and stdin ends: msnc waited to be
        # logged in again before reading anything, so it never saw the end
        # of input and kept reconnecting for ever.
        a = self.online("alice@example.com", reconnect=True, extra=("--login-timeout", "2"))
        self.srv.stop()
        a.wait("reconnecting")
        a.send("/list")  # waits for a login that never comes
        a.proc.stdin.close()
        self.assertEqual(a.proc.wait(15), 3)
        self.assertIn("not logged in again within 2 s", a.wait("error")["text"])
        self.assertIsNone(a.find("list_end")[0], "the line waiting for the login is not run")

    @unittest.skipIf(BIG or CLUSTER, "restarts one msnd on the same ports")
    def test_end_of_input_while_reconnecting_waits_for_the_login(self):
        # The server comes back within login_timeout: the lines left run
        # once logged in, and msnc ends normally.
        a = self.online("alice@example.com", reconnect=True, extra=("--login-timeout", "8"))
        self.srv.stop()
        a.wait("reconnecting")
        a.send("/list")
        a.proc.stdin.close()
        self.srv.start(same_ports=True)
        self.assertEqual(a.proc.wait(15), 0, a.events[-10:])
        a.wait("list_end")

    @unittest.skipIf(BIG, "")
    def test_list_errors_name_the_contact_once(self):
        # /add sends ADD FL and ADD AL: an error both get alike is said once,
        # naming the contact and the list; /block puts the contact on the BL
        # under its FL name, not its address.
        a = self.online("alice@example.com")
        m = a.mark()
        a.send("/add carol@example.com Caro")
        a.wait("list", since=m, list="AL", email="carol@example.com")
        for again, code in (("/add carol@example.com Caro", 215), ("/add nobody@example.com", 205)):
            m = a.mark()
            a.send(again)
            e = a.wait("server_error", since=m, code=code)
            self.assertEqual(e["list"], "FL", e)
            self.assertIn(e["email"], again)
            a.send("/list FL")  # answered after the second ADD's reply
            a.wait("list_end", since=m)
            self.assertEqual(len([x for x in a.events[m:] if x.get("event") == "server_error"]), 1, a.events[m:])
        m = a.mark()
        a.send("/block carol@example.com")
        self.assertEqual(a.wait("list", since=m, list="BL", email="carol@example.com")["name"], "Caro")

    def test_add_keeps_the_name_given(self):
        # /add puts the contact on FL and AL; the name given stays the
        # contact's (carol is offline: no presence line renames her).
        a = self.online("alice@example.com")
        m = a.mark()
        a.send("/add carol@example.com Caro Line")
        self.assertEqual(a.wait("list", since=m, list="FL", email="carol@example.com")["name"], "Caro Line")
        self.assertEqual(a.wait("list", since=m, list="AL", email="carol@example.com")["name"], "Caro Line")
        m = a.mark()
        a.send("/list FL")
        self.assertEqual(a.wait("contact", since=m, email="carol@example.com")["name"], "Caro Line")

    @unittest.skipIf(BIG, "")
    def test_chat_both_ways_with_format_and_typing(self):
        a = self.online("alice@example.com")
        b = self.online("bob@example.com")
        self.friends(a, b)
        a.send("/format FN=Comic%20Sans%20MS; EF=BI; CO=0000ff; CS=0; PF=22")
        ca, cb = self.chat(a, b)
        a.send("/typing")
        b.wait("typing", email="alice@example.com")
        a.send("hello bob, \u00e7a va?")
        m = b.wait("message", email="alice@example.com")
        self.assertEqual(m["text"], "hello bob, \u00e7a va?")
        self.assertEqual(m["format"]["font"], "Comic Sans MS")
        self.assertEqual(m["format"]["effects"], "BI")
        self.assertEqual(m["format"]["color_rgb"], "ff0000")
        sent = a.wait("message_sent")
        a.wait("ack", trid=sent["trid"])
        b.send("hi alice")
        r = a.wait("message", email="bob@example.com")
        self.assertEqual(r["text"], "hi alice")
        self.assertEqual(r["chat"], ca)

    @unittest.skipIf(BIG, "")
    def test_refused_format_and_text_starting_with_a_slash(self):
        # A /format refused used to wipe the one in effect; a line starting
        # with '/' could not be sent as text at all ("//" now sends it).
        a = self.online("alice@example.com")
        b = self.online("bob@example.com")
        self.friends(a, b)
        self.chat(a, b)
        a.send("/format FN=Arial; EF=B; CO=0000ff")
        m = a.mark()
        a.send("/format oops")
        a.wait("error", since=m)
        a.send("still bold")
        got = b.wait("message", text="still bold")
        self.assertEqual((got["format"]["font"], got["format"]["effects"]), ("Arial", "B"))
        a.send("//help is a command")
        b.wait("message", text="/help is a command")

    @unittest.skipIf(BIG, "")
    def test_multi_party(self):
        a = self.online("alice@example.com")
        b = self.online("bob@example.com")
        c = self.online("carol@example.com")
        self.friends(a, b)
        self.friends(a, c)
        self.chat(a, b)
        a.send("/invite carol@example.com")
        c.wait("chat_open", text="incoming")
        a.wait("chat_join", email="carol@example.com")
        b.wait("chat_join", email="carol@example.com")
        a.send("hello both")
        b.wait("message", email="alice@example.com", text="hello both")
        c.wait("message", email="alice@example.com", text="hello both")
        c.send("carol here")
        a.wait("message", email="carol@example.com", text="carol here")
        b.wait("message", email="carol@example.com", text="carol here")


class Pacing(Base):
    """A switchboard that takes 20 commands a second (burst 20)."""
    SERVER_ARGS = ("--max-commands-per-second", "20", "--command-burst", "20")

    @unittest.skipIf(BIG, "")
    def test_lines_refused_as_too_fast_are_sent_again(self):
        # Lines past the rate were answered 713: msnc showed a bare
        # server_error, then called each line "unacknowledged" and exited
        # 1, and they never arrived. Now each is sent again after a pause,
        # under its TrID, and arrives.
        a = self.online("alice@example.com")
        b = self.online("bob@example.com")
        self.friends(a, b)
        evs = self.burst(a, b, 60)
        self.assertEqual([e for e in evs if e.get("event") == "server_error"], [])
        self.assertTrue(any(e.get("event") == "warning" and "713" in e.get("text", "") for e in evs), evs[-5:])


class PipedInput(Base):
    """Commands piped into `msnc --batch` before it has logged in, stdin then
    closed at once (`echo /list | msnc --batch ...`), for an account that
    already has contacts. Each run starts without a list cache, as a first
    run does."""

    def contacts(self):
        """alice has bob and carol on her lists; bob stays online, carol and
        alice log out."""
        a = self.online("alice@example.com")
        b = self.online("bob@example.com")
        c = self.online("carol@example.com")
        self.friends(a, b)
        self.friends(a, c)
        a.send("/name Alice Liddell")
        a.wait("name", email="alice@example.com")
        self.assertEqual(c.quit(), 0)
        self.assertEqual(a.quit(), 0)
        return b

    def piped(self, lines, timeout=20, extra=()):
        """alice runs lines, piped before her login and followed by the end
        of input: (exit status, events)."""
        cache = tempfile.mkdtemp(prefix="cache-", dir=self.tmp)
        a = self.client("alice@example.com", extra=("--cache-dir", cache) + tuple(extra))
        a.proc.stdin.write("".join(x + "\n" for x in lines))
        a.proc.stdin.close()
        rc = a.proc.wait(timeout)
        a.reader.join(5)
        return rc, [e for e in a.events if e.get("event") != "_exit"]

    @staticmethod
    def names(evs):
        return [e["event"] for e in evs]

    @unittest.skipIf(BIG, "")
    def test_list_piped_before_the_login_shows_the_contacts(self):
        # `echo /list | msnc --batch` ran /list as soon as USR OK came, before
        # the contact list: it printed a bare list_end for an account with
        # contacts, and no synced or status event at all.
        self.contacts()
        rc, evs = self.piped(["/list"])
        self.assertEqual(rc, 0, evs)
        kinds = self.names(evs)
        self.assertIn("synced", kinds)
        self.assertIn("status", kinds)
        self.assertLess(kinds.index("synced"), kinds.index("contact"), kinds)
        self.assertLess(kinds.index("status"), kinds.index("contact"), kinds)
        self.assertEqual(kinds[-1], "list_end", kinds)
        fl = {e["email"]: e for e in evs if e.get("event") == "contact" and e["list"] == "FL"}
        self.assertEqual(sorted(fl), ["bob@example.com", "carol@example.com"], evs)
        # presence as the login told it: bob is online, carol is not
        self.assertEqual((fl["bob@example.com"]["status"], fl["carol@example.com"]["status"]), ("NLN", "FLN"))
        self.assertEqual(fl["bob@example.com"]["name"], "Bob")
        self.assertEqual(evs[kinds.index("synced")]["count"], 2)
        al = sorted(e["email"] for e in evs if e.get("event") == "contact" and e["list"] == "AL")
        self.assertEqual(al, ["bob@example.com", "carol@example.com"])

    @unittest.skipIf(BIG, "")
    def test_list_changes_piped_are_answered_before_the_logout(self):
        # The end of input right after the commands: msnc logged out before
        # any answer came, exited 0 and said nothing about what became of
        # them. Now each one's answer is reported, then msnc logs out.
        b = self.contacts()
        m = b.mark()
        rc, evs = self.piped(["/remove carol@example.com", "/block bob@example.com", "/status away",
                              "/name Alice L.", "/add nobody@example.com"])
        self.assertEqual(rc, 1, evs)  # the server refused a command
        got = {(e["list"], e["email"], e["text"]) for e in evs if e.get("event") == "list"}
        self.assertEqual(got, {("FL", "carol@example.com", "removed"), ("AL", "bob@example.com", "removed"),
                               ("BL", "bob@example.com", "added")}, evs)
        errors = [e for e in evs if e.get("event") == "server_error"]
        self.assertEqual([(e["code"], e["email"], e["list"]) for e in errors], [(205, "nobody@example.com", "FL")])
        self.assertIn("AWY", [e["status"] for e in evs if e.get("event") == "status"])
        self.assertIn("Alice L.", [e["name"] for e in evs if e.get("event") == "name"])
        self.assertEqual([e for e in evs if e.get("event") in ("error", "unanswered")], [])
        # every answer came before msnc left: the block took effect
        b.wait("presence", since=m, email="alice@example.com", status="FLN")
        rc, evs = self.piped(["/list FL", "/list BL"])
        self.assertEqual(rc, 0, evs)
        contacts = sorted((e["list"], e["email"]) for e in evs if e.get("event") == "contact")
        self.assertEqual(contacts, [("BL", "bob@example.com"), ("FL", "bob@example.com")], evs)

    @unittest.skipIf(BIG, "")
    def test_a_piped_command_that_succeeds_exits_0(self):
        self.contacts()
        rc, evs = self.piped(["/add dave@example.com Dave"], extra=())
        self.assertEqual(rc, 1, evs)  # no such user: refused, said, and counted
        self.assertEqual([(e["code"], e["list"]) for e in evs if e.get("event") == "server_error"], [(205, "FL")])
        rc, evs = self.piped(["/status busy", "/add carol@example.com Caro"])
        # carol is on FL and AL already: 215, said once
        self.assertEqual([(e["code"], e["list"]) for e in evs if e.get("event") == "server_error"], [(215, "FL")])
        self.assertEqual(rc, 1)
        rc, evs = self.piped(["/status busy", "/remove carol@example.com"])
        self.assertEqual(rc, 0, evs)
        self.assertIn(("FL", "carol@example.com", "removed"),
                      [(e.get("list"), e.get("email"), e.get("text")) for e in evs if e.get("event") == "list"])
        self.assertIn("BSY", [e["status"] for e in evs if e.get("event") == "status"])

    @unittest.skipIf(BIG, "")
    def test_events_that_cannot_be_written_end_the_session(self):
        # stdout on a full disk: every event was lost without a word and
        # msnc went on (exit 0 at the end of input, or never with input
        # still open). Now the first failed write is said once, msnc logs
        # out (bob sees alice go, if she got as far as coming online: the
        # first write may fail before the login is done) and exits 74.
        b = self.contacts()
        m = b.mark()
        env = dict(os.environ, MSNC_PASSWORD=PASSWORDS["alice@example.com"])
        with open("/dev/full", "w") as full:
            p = subprocess.Popen([MSNC, "--batch", "--server", "%s:%d" % self.srv.ds, "--account", "alice@example.com",
                                  "--bind-ip", self.ips["alice@example.com"], "--no-reconnect"],
                                 stdin=subprocess.PIPE, stdout=full, stderr=subprocess.PIPE, text=True, env=env)
            try:
                p.stdin.write("/list\n")
                p.stdin.flush()  # and input stays open: only the failure can end the run
                rc = p.wait(20)
                err = p.stderr.read()
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        self.assertEqual(rc, 74, err)
        self.assertEqual(err.count("msnc: writing to standard output failed: No space left on device"), 1, err)
        if b.find("presence", m, email="alice@example.com", status="NLN")[1]:
            b.wait("presence", since=m, email="alice@example.com", status="FLN")

    @unittest.skipIf(BIG, "")
    def test_closed_or_unreadable_standard_streams(self):
        # stdin closed: the first socket took descriptor 0 and msnc read it
        # as its input (libevent warned); stdout closed: events would go
        # into whatever took descriptor 1; a directory on stdin was taken
        # for an empty input without a word.
        env = dict(os.environ, MSNC_PASSWORD=PASSWORDS["alice@example.com"])
        args = [MSNC, "--batch", "--server", "%s:%d" % self.srv.ds, "--account", "alice@example.com",
                "--bind-ip", self.ips["alice@example.com"], "--no-reconnect"]

        def msnc(stdin=subprocess.DEVNULL, close=None):
            p = subprocess.run(args, stdin=stdin, capture_output=True, text=True, env=env, timeout=30,
                               preexec_fn=(lambda: os.close(close)) if close is not None else None)
            return p.returncode, p.stdout, p.stderr

        rc, out, err = msnc(close=0)
        self.assertEqual((rc, err), (0, ""))
        self.assertIn('"event":"logged_in"', out)
        rc, out, err = msnc(close=1)
        self.assertEqual(rc, 74, err)
        self.assertIn("msnc: standard output is closed: the events would have nowhere to go", err)
        fd = os.open(self.tmp, os.O_RDONLY | os.O_DIRECTORY)
        try:
            rc, out, err = msnc(stdin=fd)
        finally:
            os.close(fd)
        self.assertEqual(rc, 1, err)
        self.assertEqual(err, "msnc: reading standard input failed: Is a directory; taken as the end of input\n")
        self.assertIn('"event":"logged_in"', out)

    @unittest.skipIf(BIG, "")
    def test_quit_after_a_list_change_waits_for_its_answer(self):
        # /quit right after /add: the ADD was answered after msnc had gone.
        self.contacts()
        rc, evs = self.piped(["/remove carol@example.com", "/quit", "/list"])
        self.assertEqual(rc, 0, evs)
        self.assertIn(("FL", "carol@example.com", "removed"),
                      [(e.get("list"), e.get("email"), e.get("text")) for e in evs if e.get("event") == "list"])
        self.assertNotIn("list_end", self.names(evs), "nothing after /quit runs")

    @unittest.skipIf(BIG, "")
    def test_more_commands_than_the_server_has_answered_wait_their_turn(self):
        # 40 /add lines: 80 ADDs, more than the 64 commands msnc keeps
        # waiting for an answer. Every one is answered (205, once per line),
        # none is refused for lack of room.
        self.contacts()
        lines = ["/add nobody%02d@example.com" % i for i in range(40)]
        rc, evs = self.piped(lines, timeout=30)
        self.assertEqual(rc, 1, evs[-5:])
        errors = [e["email"] for e in evs if e.get("event") == "server_error"]
        self.assertEqual(errors, ["nobody%02d@example.com" % i for i in range(40)])
        self.assertEqual([e for e in evs if e.get("event") in ("error", "unanswered")], [])


class Transfers(Base):
    def pair(self, extra_a=(), extra_b=()):
        a = self.online("alice@example.com", extra=extra_a)
        b = self.online("bob@example.com", extra=extra_b)
        self.friends(a, b)
        self.chat(a, b)
        return a, b

    def pair_again(self, extra_a=()):
        """pair(), for users who are friends already."""
        a = self.online("alice@example.com", extra=extra_a)
        b = self.online("bob@example.com")
        a.wait("presence", email=b.email, status="NLN")
        self.chat(a, b)
        return a, b

    def make_file(self, size, name="payload.bin"):
        return make_random_file(os.path.join(self.tmp, name), size)

    def send_file(self, size, timeout=30):
        a, b = self.pair()
        src = self.make_file(size)
        a.send("/send " + src)
        inv = b.wait("invite", app="file_transfer")
        self.assertEqual(inv["file"], "payload.bin")
        self.assertEqual(inv["size"], size)
        b.send("/accept %s" % inv["cookie"])
        done_b = wait_transfer(a, b, timeout=timeout)
        self.assertEqual(done_b["file"], os.path.join(b.download, "payload.bin"))
        assert_received(self, src, done_b["file"])

    def test_send_names_a_file_as_a_shell_would(self):
        # A name with a space quoted, with the space escaped, with spaces
        # after it, or under ~/: the same file each time.
        home = os.environ.get("HOME")
        os.environ["HOME"] = self.tmp
        try:
            a, b = self.pair()
        finally:
            if home is None:
                del os.environ["HOME"]
            else:
                os.environ["HOME"] = home
        src = self.make_file(10, name="my file.bin")
        for typed in ('"%s"' % src, src.replace(" ", "\\ "), src + "  ", "~/my file.bin"):
            m = a.mark()
            a.send("/send " + typed)
            sent = a.wait("invite_sent", since=m)
            inv = b.wait("invite", cookie=sent["cookie"])
            self.assertEqual((inv["file"], inv["size"]), ("my file.bin", 10), typed)
            b.send("/decline %s" % inv["cookie"])
            a.wait("invite_cancelled", since=m, cookie=sent["cookie"])

    @unittest.skipIf(BIG or CLUSTER, "restarts one msnd on the same ports")
    def test_invitation_ends_with_its_chat(self):
        # The switchboard goes (the server restarts) while an offer waits
        # for its answer. Both sides kept the invitation: the receiver's
        # /accept went nowhere (a warning, and no end), the sender waited
        # for an ACCEPT that could not come.
        a = self.online("alice@example.com", reconnect=True)
        b = self.online("bob@example.com", reconnect=True)
        self.friends(a, b)
        ca, cb = self.chat(a, b)
        a.send("/send " + self.make_file(1000))
        inv = b.wait("invite", app="file_transfer")
        self.srv.stop()
        for c, chat in ((a, ca), (b, cb)):
            c.wait("chat_closed", chat=chat)
            e = c.wait("invite_cancelled", cookie=inv["cookie"], timeout=5)
            self.assertEqual((e["text"], e["local"]), ("FAIL", True), e)
        mb = b.mark()
        self.srv.start(same_ports=True)
        b.wait("status", since=mb, status="NLN", timeout=30)
        b.send("/accept %s" % inv["cookie"])
        b.wait("error", since=mb, text="no invitation %s to accept" % inv["cookie"])
        self.assertEqual(os.listdir(b.download), [])

    @unittest.skipIf(BIG, "")
    def test_zero_bytes(self):
        self.send_file(0)

    @unittest.skipIf(BIG, "")
    def test_one_byte(self):
        self.send_file(1)

    @unittest.skipIf(BIG, "")
    def test_one_mib(self):
        self.send_file(1 << 20)

    @unittest.skipUnless(BIG, "slow")
    def test_fifty_mib(self):
        self.send_file(50 << 20, timeout=120)

    @unittest.skipIf(BIG, "")
    def test_reverse_connection(self):
        # The sender cannot accept connections (Connectivity: N): the
        # receiver listens and the sender connects to it.
        a, b = self.pair(extra_a=("--no-incoming",))
        src = self.make_file(700000)
        a.send("/send " + src)
        inv = b.wait("invite", app="file_transfer")
        b.send("/accept %s" % inv["cookie"])
        lb = b.wait("secondary_listen", cookie=inv["cookie"])
        self.assertTrue(lb["local"].startswith(self.ips["bob@example.com"] + ":"), lb)
        ca = a.wait("secondary_connected", cookie=inv["cookie"])
        cb = b.wait("secondary_connected", cookie=inv["cookie"])
        self.assertEqual(ca["peer"], lb["local"])
        self.assertEqual(cb["peer"], ca["local"])
        self.assertTrue(ca["local"].startswith(self.ips["alice@example.com"] + ":"), ca)
        done_b = wait_transfer(a, b)
        self.assertIsNone(a.find("secondary_listen")[0], "the sender must not listen")
        assert_received(self, src, done_b["file"])

    def cancel_midway(self, who):
        # 256 KiB/s on the sender makes "mid-way" last long enough to act on.
        a, b = self.pair(extra_a=("--max-rate", "262144"))
        src = self.make_file(4 << 20)
        a.send("/send " + src)
        inv = b.wait("invite")
        b.send("/accept %s" % inv["cookie"])
        b.wait_pred("transfer_progress", lambda e: 0 < e["bytes"] < e["size"])
        canceller, other = (a, b) if who == "sender" else (b, a)
        canceller.send("/cancel %s" % inv["cookie"])
        f1 = canceller.wait("transfer_failed")
        f2 = other.wait("transfer_failed")
        self.assertTrue(f1["local"])
        self.assertFalse(f2["local"])
        self.assertIn("cancel", f2["text"])
        self.assertEqual(os.listdir(b.download), [], "no final and no temporary file")

    @unittest.skipIf(BIG, "")
    def test_quit_ends_an_unanswered_invitation_loudly(self):
        # /quit (or SIGTERM) while the offer waits for bob: the invitation
        # was dropped with no event, nothing told bob, and msnc exited 0.
        for k, how in enumerate(("/quit", signal.SIGTERM)):
            a, b = self.pair_again() if k else self.pair()
            src = self.make_file(1000)
            a.send("/send " + src)
            inv = b.wait("invite")
            if how == "/quit":
                a.send("/quit")
            else:
                a.proc.send_signal(how)
            self.assertEqual(a.proc.wait(15), 4)  # a file transfer failed
            e = a.wait("invite_cancelled", cookie=inv["cookie"])
            self.assertEqual((e["text"], e["local"], e["status"]), ("OUTBANDCANCEL", True, "abandoned"))
            e = b.wait("invite_cancelled", cookie=inv["cookie"])
            self.assertEqual((e["text"], e["local"]), ("OUTBANDCANCEL", False))
            b.quit()

    @unittest.skipIf(BIG, "")
    def test_quit_before_the_invitation_left(self):
        # /send and /quit read together: the INVITE still waits for the
        # chat to open, and never leaves. That is invite_cancelled FAIL.
        a = self.online("alice@example.com")
        b = self.online("bob@example.com")
        self.friends(a, b)
        src = self.make_file(1000)
        a.proc.stdin.write("/chat bob@example.com\n/send %s\n/quit\n" % src)
        a.proc.stdin.flush()
        self.assertEqual(a.proc.wait(15), 4)
        sent = a.wait("invite_sent")
        e = a.wait("invite_cancelled", cookie=sent["cookie"])
        self.assertEqual((e["text"], e["local"]), ("FAIL", True))
        self.assertIsNone(b.find("invite")[0])

    @unittest.skipIf(BIG, "")
    def test_signal_during_a_transfer_cancels_it(self):
        # SIGINT on the sender and /quit on the receiver mid-way: each used
        # to leave in silence with status 0.
        for k, (who, how) in enumerate((("sender", signal.SIGINT), ("receiver", "/quit"))):
            rate = ("--max-rate", "262144")
            a, b = self.pair_again(extra_a=rate) if k else self.pair(extra_a=rate)
            src = self.make_file(4 << 20)
            a.send("/send " + src)
            inv = b.wait("invite")
            b.send("/accept %s" % inv["cookie"])
            b.wait_pred("transfer_progress", lambda e: 0 < e["bytes"] < e["size"])
            quitter, other = (a, b) if who == "sender" else (b, a)
            if how == "/quit":
                quitter.send("/quit")
            else:
                quitter.proc.send_signal(how)
            self.assertEqual(quitter.proc.wait(15), 4)
            f1 = quitter.wait("transfer_failed")
            self.assertEqual((f1["status"], f1["local"]), ("cancelled", True))
            f2 = other.wait("transfer_failed")
            self.assertEqual((f2["status"], f2["local"]), ("peer_cancelled", False))
            other.quit()
            self.assertEqual(os.listdir(b.download), [], "no final and no temporary file")

    @unittest.skipIf(BIG, "")
    def test_sender_cancels(self):
        self.cancel_midway("sender")

    @unittest.skipIf(BIG, "")
    def test_receiver_cancels(self):
        self.cancel_midway("receiver")

    def check_shrunk(self, a, b, cookie, size, now):
        # The sender's own file failed: local_io naming it, like a file it
        # cannot open; the receiver was told by MSNFTP that the sender
        # ended it. Both exit 4 (a file transfer failed), nothing is left.
        fa = a.wait("transfer_failed", cookie=cookie, timeout=30)
        self.assertEqual((fa["status"], fa["local"]), ("local_io", True), fa)
        self.assertIn("alice.txt: file shrank from %d to %d bytes while being sent" % (size, now), fa["text"])
        fb = b.wait("transfer_failed", cookie=cookie, timeout=30)
        self.assertEqual((fb["status"], fb["local"]), ("peer_cancelled", False), fb)
        self.assertEqual(a.quit(), 4)
        self.assertEqual(b.quit(), 4)
        self.assertEqual(os.listdir(b.download), [], "no final and no temporary file")

    @unittest.skipIf(BIG, "")
    def test_file_shrunk_after_the_offer(self):
        # Cut between /send and /accept: FIL announced the smaller size, the
        # receiver refused it as not the size offered, and the sender
        # reported that as the receiver's cancel (CCL).
        a, b = self.pair()
        src = self.make_file(100000, name="alice.txt")
        a.send("/send " + src)
        inv = b.wait("invite")
        os.truncate(src, 40000)
        b.send("/accept %s" % inv["cookie"])
        self.check_shrunk(a, b, inv["cookie"], 100000, 40000)

    @unittest.skipIf(BIG, "")
    def test_file_shrunk_while_sent(self):
        # Cut by another program mid-way (256 KiB/s keeps it mid-way).
        a, b = self.pair(extra_a=("--max-rate", "262144"))
        src = self.make_file(4 << 20, name="alice.txt")
        a.send("/send " + src)
        inv = b.wait("invite")
        b.send("/accept %s" % inv["cookie"])
        b.wait_pred("transfer_progress", lambda e: 0 < e["bytes"] < e["size"])
        os.truncate(src, 1 << 20)
        self.check_shrunk(a, b, inv["cookie"], 4 << 20, 1 << 20)

    @unittest.skipIf(BIG, "")
    def test_decline(self):
        a, b = self.pair()
        a.send("/send " + self.make_file(10))
        inv = b.wait("invite")
        b.send("/decline %s" % inv["cookie"])
        e = a.wait("invite_cancelled")
        self.assertEqual(e["text"], "REJECT")

    @unittest.skipIf(BIG, "")
    def test_unwritable_download_dir(self):
        a, b = self.pair()
        shutil.rmtree(b.download)
        with open(b.download, "w") as f:  # a file where the directory should be
            f.write("x")
        a.send("/send " + self.make_file(5000))
        inv = b.wait("invite")
        b.send("/accept %s" % inv["cookie"])
        eb = b.wait("transfer_failed")
        ea = a.wait("transfer_failed")
        self.assertEqual(eb["status"], "local_io")
        self.assertIn("cannot create", eb["text"])
        self.assertEqual(ea["status"], "peer_disk_full")
        self.assertEqual(ea["code"], 2147942405)
        self.assertEqual(b.quit(), 4)


class Invitations(Base):
    def session(self, command, app, transport):
        a = self.online("alice@example.com")
        b = self.online("bob@example.com")
        self.friends(a, b)
        self.chat(a, b)
        a.send(command)
        inv = b.wait("invite", app=app)
        b.send("/accept %s" % inv["cookie"])
        ea = a.wait("secondary_connected", cookie=inv["cookie"])
        eb = b.wait("secondary_connected", cookie=inv["cookie"])
        self.assertEqual(ea["transport"], transport)
        self.assertEqual(eb["transport"], transport)
        self.assertTrue(ea["local"].startswith(self.ips["alice@example.com"] + ":"), ea)
        self.assertTrue(eb["local"].startswith(self.ips["bob@example.com"] + ":"), eb)
        self.assertTrue(ea["peer"].startswith(self.ips["bob@example.com"] + ":"), ea)
        return a, b

    @unittest.skipIf(BIG, "")
    def test_voice(self):
        a, b = self.session("/call voice", "voice", "udp")
        # voice runs over a second switchboard with the same peer
        self.assertGreaterEqual(len([e for e in a.events if e.get("event") == "chat_open"]), 2)

    @unittest.skipIf(BIG, "")
    def test_video(self):
        self.session("/call video", "video", "udp")

    @unittest.skipIf(BIG, "")
    def test_whiteboard(self):
        self.session("/whiteboard", "whiteboard", "tcp")

    @unittest.skipIf(BIG, "")
    def test_app_sharing(self):
        self.session("/share", "app_sharing", "tcp")

    @unittest.skipIf(BIG, "")
    def test_remote_assistance(self):
        self.session("/remote", "remote_assistance", "tcp")


    def piped(self, email, lines):
        """email runs lines and then meets the end of input: the client."""
        c = self.client(email)
        c.proc.stdin.write("".join(x + "\n" for x in lines))
        c.proc.stdin.close()
        return c

    @unittest.skipIf(BIG, "")
    def test_call_as_the_last_line_waits_for_its_outcome(self):
        # "/call voice" as the last line: the INVITE waits for the second
        # switchboard, and the end of input dropped it unsent, exit 0,
        # without a word.
        a = self.online("alice@example.com")
        b = self.online("bob@example.com")
        self.friends(a, b)
        self.assertEqual(a.quit(), 0)
        for app in ("voice", "video"):
            m = b.mark()
            a = self.piped("alice@example.com", ["/chat bob@example.com", "/call " + app])
            inv = b.wait("invite", since=m, app=app)
            b.send("/accept %s" % inv["cookie"])
            a.wait("secondary_connected", cookie=inv["cookie"])
            self.assertEqual(a.proc.wait(20), 0, a.events[-10:])
        self.assertEqual(b.quit(), 0)

    @unittest.skipIf(BIG, "")
    def test_invitations_to_an_offline_contact_fail_loudly(self):
        # carol is offline: each invitation fails (217) and is reported as
        # invite_cancelled FAIL; the exit status says so: 4 for a file, 1
        # for another application (voice and video were dropped silently,
        # the others exited 0).
        path = os.path.join(self.tmp, "f.txt")
        with open(path, "w") as f:
            f.write("data")
        for cmd, app, rc in (("/call voice", "voice", 1), ("/call video", "video", 1),
                             ("/whiteboard", "whiteboard", 1), ("/send " + path, "file_transfer", 4)):
            a = self.piped("alice@example.com", ["/chat carol@example.com", cmd])
            self.assertEqual(a.proc.wait(20), rc, (cmd, a.events[-10:]))
            e = a.wait("invite_cancelled", app=app)
            self.assertEqual((e["text"], e["local"], e["code"]), ("FAIL", True, 217), e)

    @unittest.skipIf(BIG, "")
    def test_invitation_nobody_answers_exits_with_failure(self):
        # an invitation bob never answers ends with TIMEOUT after
        # invite_timeout: the file was not sent, and the exit status said 0
        path = os.path.join(self.tmp, "f.txt")
        with open(path, "w") as f:
            f.write("data")
        a = self.online("alice@example.com", extra=("--invite-timeout", "1"))
        b = self.online("bob@example.com")
        self.friends(a, b)
        self.chat(a, b)
        a.send("/send " + path)
        b.wait("invite", app="file_transfer")
        e = a.wait("invite_cancelled", app="file_transfer")
        self.assertEqual((e["text"], e["local"]), ("TIMEOUT", True), e)
        self.assertEqual(a.quit(), 4)
        self.assertEqual(b.quit(), 0)

if __name__ == "__main__":
    MSND, MSNC = sys.argv[1], sys.argv[2]
    if CLUSTER and os.geteuid() != 0:
        print("skipped: the cluster topology needs root (network namespaces)")
        sys.exit(77)
    # Further arguments (other than --big) name test classes or methods to run.
    names = [a for a in sys.argv[3:] if not a.startswith("--")]
    unittest.main(argv=[sys.argv[0], "-v"] + names)
