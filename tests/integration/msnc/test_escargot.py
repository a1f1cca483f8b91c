#!/usr/bin/env python3
"""msnc against Escargot, the Python MSNP server behind the MSN revival: a
server msnkit did not write. Logins at every version from MSNP2 to MSNP7
with the contact list's sync, a chat both ways, a file over MSNFTP both
with and without a listening sender, an invitation declined, list changes;
msnsniff, capturing all of the chat's traffic live, follows it (when its
path is given).

Runs when ESCARGOT_DIR names a checkout of Escargot's msn-server (set up as
BENCHMARKS.md, "Escargot as the server peer", says) whose Python modules
import; needs root for the network namespace that keeps Escargot's fixed
ports (0.0.0.0:1863 and 1864) to itself. Otherwise it is skipped (exit
77). Escargot names its switchboard by a host name; the namespace's own
/etc/netns/NAME/hosts points that name at its loopback.

usage: test_escargot.py MSNC MSNBENCH [MSNSNIFF]"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from msnclib import Msnc, assert_received, make_random_file, wait_transfer  # noqa: E402

MSNC, MSNBENCH = sys.argv[1:3]
MSNSNIFF = sys.argv[3] if len(sys.argv) > 3 and not sys.argv[3].startswith("-") else None
del sys.argv[1:3 + (MSNSNIFF is not None)]
ESCARGOT = os.environ.get("ESCARGOT_DIR", "")
PYTHON = os.environ.get("ESCARGOT_PYTHON", "/usr/bin/python3")
HLL_DIR = os.path.join(HERE, "..", "..", "..", "bench", "peers", "escargot")
SB_HOST = "m1.escargot.log1p.xyz"  # what Escargot's XFR and RNG name
PW = "benchpw"                     # msnbench populate's accounts: bench0..bench9, one clique
ALICE, BOB, CAROL, DAVE = ("bench%d@bench.test" % k for k in range(4))


def why_not():
    if not ESCARGOT:
        return "ESCARGOT_DIR is not set"
    if not os.path.isfile(os.path.join(ESCARGOT, "run_all.py")):
        return "ESCARGOT_DIR has no run_all.py"
    if os.geteuid() != 0 or not shutil.which("ip"):
        return "needs root and ip(8) for a network namespace"
    mods = "import aiohttp, sqlalchemy, lxml, jinja2, PIL, markupsafe, cryptography"
    if subprocess.run([PYTHON, "-c", mods], capture_output=True).returncode != 0:
        return "Escargot's Python modules do not import (see BENCHMARKS.md)"
    return None


class Escargot(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="msnc-escargot-")
        cls.ns = "msnkit-esc-%d" % os.getpid()
        cls.proc = None
        with open(os.path.join(cls.tmp, "settings_local.py"), "w") as f:
            f.write("DB = 'sqlite:///%s/msn.sqlite'\nSTATS_DB = 'sqlite:///%s/stats.sqlite'\n" % (cls.tmp, cls.tmp))
        cls.env = dict(os.environ, PYTHONPATH=":".join((cls.tmp, ESCARGOT, HLL_DIR)))
        subprocess.run([PYTHON, "cmd/dbcreate.py"], cwd=ESCARGOT, env=cls.env, check=True, capture_output=True,
                       timeout=60)
        subprocess.run([MSNBENCH, "populate", "--store", "escargot", "--db", os.path.join(cls.tmp, "msn.sqlite"),
                        "--users", "10", "--clique", "10"], check=True, capture_output=True, timeout=60)
        subprocess.run(["ip", "netns", "add", cls.ns], check=True)
        os.makedirs("/etc/netns/" + cls.ns, exist_ok=True)
        with open("/etc/netns/%s/hosts" % cls.ns, "w") as f:
            f.write("127.0.0.1 localhost %s\n" % SB_HOST)
        subprocess.run(["ip", "netns", "exec", cls.ns, "ip", "link", "set", "lo", "up"], check=True)
        cls.log = open(os.path.join(cls.tmp, "escargot.log"), "w")
        cls.proc = subprocess.Popen(["ip", "netns", "exec", cls.ns, PYTHON, "run_all.py"], cwd=ESCARGOT,
                                    env=cls.env, stdout=cls.log, stderr=subprocess.STDOUT)
        for _ in range(100):
            ss = subprocess.run(["ip", "netns", "exec", cls.ns, "ss", "-ltn"], capture_output=True, text=True)
            if ":1864 " in ss.stdout:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("Escargot did not start: %s" % open(cls.log.name).read()[-2000:])
        # msnc runs in the namespace too: a wrapper the tests start as msnc
        cls.wrapper = os.path.join(cls.tmp, "msnc-in-ns")
        with open(cls.wrapper, "w") as f:
            f.write('#!/bin/sh\nexec ip netns exec %s %s "$@"\n' % (cls.ns, MSNC))
        os.chmod(cls.wrapper, 0o755)

    @classmethod
    def tearDownClass(cls):
        if cls.proc:
            cls.proc.terminate()
            try:
                cls.proc.wait(10)
            except subprocess.TimeoutExpired:
                cls.proc.kill()
        subprocess.run(["ip", "netns", "del", cls.ns], capture_output=True)
        shutil.rmtree("/etc/netns/" + cls.ns, ignore_errors=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="case-", dir=self.tmp)
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.quit()

    def client(self, email, extra=()):
        c = Msnc(self.wrapper, "127.0.0.1:1863", email, PW, "127.0.0.1", self.work, extra)
        self.clients.append(c)
        return c

    def online(self, email, extra=()):
        c = self.client(email, extra)
        c.wait("synced")
        c.wait("status", status="NLN")
        return c

    def no_warnings(self, *clients):
        for c in clients:
            self.assertEqual([e for e in c.events if e.get("event") in ("warning", "error")], [], c.email)

    def test_login_and_sync_at_every_version(self):
        for v in range(2, 8):
            with self.subTest(version=v):
                c = self.client(CAROL, ("--max-version", str(v), "--min-version", str(v)))
                self.assertEqual(c.wait("logged_in")["version"], v)
                self.assertEqual(c.wait("synced")["count"], 9)  # the rest of the clique
                c.wait("status", status="NLN")
                self.no_warnings(c)
                self.assertEqual(c.quit(), 0, c.stderr_tail())
                self.clients.remove(c)

    def chat(self, a, b):
        a.send("/chat " + b.email)
        a.wait("chat_join", email=b.email)
        b.wait("chat_open", text="incoming")

    def test_chat_files_and_an_invitation_declined(self):
        sniff = None
        if MSNSNIFF:
            events_path = os.path.join(self.work, "events.jsonl")
            sniff = subprocess.Popen(["ip", "netns", "exec", self.ns, MSNSNIFF, "-i", "lo", "-o", events_path],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.assertIn("listening on lo", sniff.stderr.readline().decode())
        try:
            self.chat_files_and_an_invitation_declined()
        finally:
            if sniff:
                for c in self.clients:
                    c.quit()
                self.clients = []
                time.sleep(0.3)  # the last segments reach the capture
                sniff.send_signal(signal.SIGINT)
                summary = sniff.communicate(timeout=20)[1].decode()
        if sniff:
            self.assertEqual(sniff.returncode, 0, summary)
            with open(events_path) as f:
                self.analyzer_followed(summary, [json.loads(line) for line in f])

    def analyzer_followed(self, summary, ev):
        """What msnsniff saw of a server msnkit did not write: each login,
        both switchboard connections found by their cookies, each message
        with one recipient (Escargot's JOI of the answerer itself is no
        second member), both files whole, the declined call."""
        logins = sorted((e["user"], e["version"]) for e in ev if e["event"] == "login")
        self.assertEqual(logins, [(ALICE, "MSNP7"), (BOB, "MSNP7")], summary)
        texts = sorted((e["direction"], e["sender"], e["recipients"], e["text"]) for e in ev if e["event"] == "message")
        hello, back = "hello from msnc, ünïcode too", "hi back"
        self.assertEqual(texts, [("received", ALICE, [BOB], hello), ("received", BOB, [ALICE], back),
                                 ("sent", ALICE, [BOB], hello), ("sent", BOB, [ALICE], back)])
        hits = sorted((e["app"], e["matched_by"]) for e in ev if e["event"] == "expectation_hit")
        opened = [e for e in ev if e["event"] == "switchboard" and e["action"] == "open"]
        self.assertGreaterEqual(len(opened), 2)
        self.assertEqual(hits, [("file_transfer", "syn")] * 2 + [("switchboard", "cookie")] * len(opened), summary)
        files = sorted((e["name"], e["size_received"], e["status"]) for e in ev if e["event"] == "file")
        self.assertEqual(files, [("to-alice.bin", 200000, "complete"), ("to-bob.bin", 300000, "complete")])
        voice = [e["command"] for e in ev if e["event"] == "invitation" and e["app"] == "voice"]
        self.assertEqual(voice, ["INVITE", "INVITE", "CANCEL", "CANCEL"])  # sent and received
        self.assertIn("gaps: 0 (0 bytes), parse errors 0, anomalies 0", summary)

    def chat_files_and_an_invitation_declined(self):
        a, b = self.online(ALICE), self.online(BOB, ("--no-incoming",))
        self.chat(a, b)
        a.send("hello from msnc, ünïcode too")
        b.wait("message", email=ALICE, text="hello from msnc, ünïcode too")
        a.wait("ack")
        b.send("hi back")
        a.wait("message", email=BOB, text="hi back")
        # alice's file: she listens, bob connects
        src = make_random_file(os.path.join(self.work, "to-bob.bin"), 300000)
        a.send("/send " + src)
        inv = b.wait("invite", app="file_transfer", file="to-bob.bin")
        b.send("/accept %s" % inv["cookie"])
        assert_received(self, src, wait_transfer(a, b, timeout=30, cookie=inv["cookie"])["file"])
        # bob's file: he cannot listen (Connectivity: N), alice does
        src = make_random_file(os.path.join(self.work, "to-alice.bin"), 200000)
        b.send("/send " + src)
        inv = a.wait("invite", app="file_transfer", file="to-alice.bin")
        a.send("/accept %s" % inv["cookie"])
        a.wait("secondary_listen", cookie=inv["cookie"])
        assert_received(self, src, wait_transfer(b, a, timeout=30, cookie=inv["cookie"])["file"])
        # a voice call, declined
        a.send("/call voice")
        inv = b.wait("invite", app="voice")
        b.send("/decline %s" % inv["cookie"])
        a.wait("invite_cancelled", cookie=inv["cookie"])
        self.no_warnings(a, b)

    def test_list_changes(self):
        a = self.online(DAVE)
        a.send("/remove bench9@bench.test")
        a.wait("list", list="FL", email="bench9@bench.test", text="removed")
        a.send("/block bench8@bench.test")
        a.wait("list", list="BL", email="bench8@bench.test", text="added")
        a.send("/allow bench8@bench.test")
        a.wait("list", list="AL", email="bench8@bench.test", text="added")
        a.send("/add bench9@bench.test Nine")
        self.assertEqual(a.wait("list", list="FL", email="bench9@bench.test", text="added")["name"], "Nine")
        self.no_warnings(a)


if __name__ == "__main__":
    reason = why_not()
    if reason:
        print("skipped: " + reason)
        sys.exit(77)
    unittest.main(verbosity=2)
