#!/usr/bin/env python3
"""msnbench against servers that fail: not there, silent after accepting,
refusing the password. It ends within its --duration plus a bounded
margin, exits non-zero, says on standard error which server and which step
failed, and reports no latency for logins that never completed; --json
stays one valid JSON object.

usage: test_msnbench_failures.py MSNBENCH MSND"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

MSNBENCH, MSND = sys.argv[1], sys.argv[2]
del sys.argv[1:]


def run(*argv, timeout=30):
    """msnbench's result; a run that outlives timeout fails the test."""
    try:
        return subprocess.run([MSNBENCH] + list(argv), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("msnbench %s still running after %d s" % (" ".join(argv), timeout))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class FakeServer:
    """Accepts connections on 127.0.0.1; answer(line) gives the reply to
    each command line (None: say nothing)."""

    def __init__(self, answer):
        self.answer = answer
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        buf = b""
        try:
            while True:
                d = c.recv(4096)
                if not d:
                    return
                buf += d
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    r = self.answer(line.decode())
                    if r is not None:
                        c.sendall(r.encode())
        except OSError:
            return

    def close(self):
        self.stop = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def silent(line):
    return None


def load_json(r):
    try:
        return json.loads(r.stdout)
    except ValueError:
        raise AssertionError("not one JSON object: %r (stderr %r)" % (r.stdout, r.stderr[-500:]))


def no_latency(d):
    lat = d["latency"]
    assert lat["count"] == 0 and all(lat[k] is None for k in lat if k != "count"), lat


class Failures(unittest.TestCase):
    def test_refused_connections_end_with_the_duration(self):
        # every connection refused at once: the run still ends after --duration
        port = free_port()
        r = run("login", "--server", "127.0.0.1:%d" % port, "--users", "5000", "--duration", "1", "--json",
                timeout=20)
        assert r.returncode == 1, (r.returncode, r.stderr[-500:])
        d = load_json(r)
        assert d["logins"] == 0 and d["logins_per_s"] == 0, d
        no_latency(d)
        assert "no login completed at 127.0.0.1:%d" % port in r.stderr, r.stderr[-500:]
        assert "VER at the DS 127.0.0.1:%d" % port in r.stderr and "Connection refused" in r.stderr, r.stderr[-500:]

    def test_silent_server_ends_with_the_duration(self):
        # connections accepted, nothing answered: the warm-up does not wait 30 s
        srv = FakeServer(silent)
        try:
            r = run("login", "--server", "127.0.0.1:%d" % srv.port, "--users", "50", "--concurrency", "10",
                    "--duration", "1", "--json", timeout=20)
        finally:
            srv.close()
        assert r.returncode == 1, (r.returncode, r.stderr[-500:])
        d = load_json(r)
        assert d["logins"] == 0, d
        no_latency(d)
        assert "waiting for VER at the DS 127.0.0.1:%d" % srv.port in r.stderr, r.stderr[-500:]

    def test_server_closing_or_refusing_is_named(self):
        for answer, why in ((lambda line: "500 %s\r\n" % line.split()[1], "refused with '500 1'"), (None, "closed by server")):
            srv = FakeServer(answer or silent)
            if answer is None:  # closes each connection at its first line
                srv.serve = lambda c: (c.recv(100), c.close())
            try:
                r = run("hold", "--server", "127.0.0.1:%d" % srv.port, "--users", "20", "--duration", "1", "--json")
            finally:
                srv.close()
            assert r.returncode == 1, (r.returncode, r.stderr[-500:])
            d = load_json(r)
            assert d["online"] == 0 and d["errors"]["logins_failed"] == 20, d
            assert "0 of 20 online at 127.0.0.1:%d" % srv.port in r.stderr, r.stderr[-500:]
            assert "VER at the DS 127.0.0.1:%d: %s" % (srv.port, why) in r.stderr, r.stderr[-500:]


class Msnd:
    """msnd on 127.0.0.1 with USERS bench accounts (password benchpw)."""

    def __init__(self, users):
        self.dir = tempfile.TemporaryDirectory()
        db = os.path.join(self.dir.name, "msnd.db")
        subprocess.run([MSND, "user", "add", "--create", "--db", db, "seed@bench.test", "seedpw"], check=True,
                       capture_output=True, timeout=30)
        r = run("populate", "--db", db, "--users", str(users), "--clique", "10")
        assert r.returncode == 0, r.stderr
        ports = os.path.join(self.dir.name, "ports")
        self.proc = subprocess.Popen([MSND, "--listen", "127.0.0.1:0", "--db", db, "--port-file", ports,
                                      "--log-level", "error",
                                      # every wrong password answered with 911 at once, not delayed
                                      "--auth-failures-per-account", "0", "--auth-failures-per-address", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(ports) and "sb=" in open(ports).read():
                break
            time.sleep(0.05)
        addrs = dict(l.split("=", 1) for l in open(ports).read().split())
        self.ds = addrs["ds"]

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.dir.cleanup()


class HealthyServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.msnd = Msnd(100)

    @classmethod
    def tearDownClass(cls):
        cls.msnd.close()

    def test_wrong_password(self):
        # every login refused with 911: exit 1, the step and server named, no latency made up
        for fmt in ([], ["--json"]):
            r = run("login", "--server", self.msnd.ds, "--users", "20", "--concurrency", "10", "--duration", "1",
                    "--password", "not-the-password", *fmt)
            assert r.returncode == 1, (r.returncode, r.stderr[-500:])
            assert "the first: " in r.stderr and "USR MD5 S (the password) at the NS 127.0.0.1:" in r.stderr, r.stderr
            assert "refused with '911 " in r.stderr, r.stderr
            if fmt:
                d = load_json(r)
                assert d["logins"] == 0 and d["errors"]["codes"].get("911", 0) > 0, d
                no_latency(d)
            else:
                assert "0 logins/s" in r.stdout and "p50" not in r.stdout, r.stdout

    def test_nobody_online_is_one_json_object(self):
        # presence, lists and sb measure nothing when every login is refused:
        # exit 1, the reason on standard error, and with --json one object
        # that says so, with the counts reached
        for mode, args in (("presence", ["--clique", "10"]), ("lists", ["--clique", "10"]), ("sb", ["--pairs", "5"])):
            with self.subTest(mode=mode):
                r = run(mode, "--server", self.msnd.ds, "--users", "20", "--duration", "1", "--password",
                        "not-the-password", "--label", "wrong-pw", "--json", *args)
                self.assertEqual(r.returncode, 1, r.stderr[-500:])
                self.assertIn("msnbench: nobody online", r.stderr)
                d = load_json(r)
                self.assertEqual((d["mode"], d["label"], d["error"], d["online"]), (mode, "wrong-pw", "nobody online", 0), d)
                users = 10 if mode == "sb" else 20
                self.assertEqual(d["users"], users, d)
                self.assertEqual(d["errors"]["logins_failed"], users, d)
                self.assertEqual(d["errors"]["codes"].get("911"), users, d)
                if mode == "sb":
                    self.assertEqual((d["pairs"], d["pairs_ready"]), (5, 0), d)
                else:
                    self.assertEqual(d["clique"], 10, d)
                # without --json: the reason on standard error, nothing on standard output
                r = run(mode, "--server", self.msnd.ds, "--users", "20", "--duration", "1", "--password",
                        "not-the-password", *args)
                self.assertEqual((r.returncode, r.stdout), (1, ""), r.stderr[-500:])
                self.assertIn("msnbench: nobody online", r.stderr)

    def test_as_many_in_flight_as_accounts(self):
        # --concurrency at --users and above: no account is logged in twice
        # at once, so no login fails on a server that has every account
        for conc in ("100", "300"):
            r = run("login", "--server", self.msnd.ds, "--users", "100", "--concurrency", conc, "--duration", "1",
                    "--json")
            assert r.returncode == 0, (conc, r.returncode, r.stderr[-500:])
            d = load_json(r)
            assert d["logins"] > 0, d
            assert d["errors"]["logins_failed"] == 0 and d["errors"]["unexpected"] == 0, (conc, d["errors"],
                                                                                          r.stderr[-500:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
