#!/usr/bin/env python3
"""MSNFTP between two real msnc processes over loopback, no server:
`msnc ftp-send` listens, `msnc ftp-recv` connects. Checks content by SHA-256,
the AuthCookie check, cancellation from either side and unwritable targets.

usage: test_ftp_p2p.py MSNC [--big]   (--big: only the 50 MiB case)"""
import contextlib
import errno
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from msnclib import assert_received, make_random_file, sha256

MSNC = None
# Read before the classes: the skip decorators use BIG.
BIG = "--big" in sys.argv[1:]
TIMEOUT = 60


def events(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class FtpP2P(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="msnc-ftp-")
        self.out = os.path.join(self.tmp, "out")
        os.mkdir(self.out)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def make_file(self, size, name="data.bin"):
        return make_random_file(os.path.join(self.tmp, name), size)

    def start_sender(self, path, cookie="1234567", extra=()):
        p = subprocess.Popen([MSNC, "ftp-send", "--cookie", cookie, "--ports", "0", "--bind-ip", "127.0.0.1",
                              "--timeout", "20", *extra, path], stdout=subprocess.PIPE, text=True)
        first = json.loads(p.stdout.readline())
        self.assertEqual(first["event"], "listening", first)
        return p, first["port"]

    def receive(self, port, cookie="1234567", name="data.bin", size=None, directory=None, extra=(), preexec=None):
        cmd = [MSNC, "ftp-recv", "--host", "127.0.0.1", "--port", str(port), "--email", "bob@example.com",
               "--cookie", cookie, "--dir", directory or self.out, "--name", name, *extra]
        if size is not None:
            cmd += ["--size", str(size)]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=TIMEOUT, preexec_fn=preexec)
        return r.returncode, events(r.stdout)

    @contextlib.contextmanager
    def raw_sender(self, name, size, cookie):
        """ftp-recv of `name` (`size` bytes) from a sender played by the
        test: yields the receiver's process and the sender's socket with a
        file to read its lines from; the receiver is killed if still there
        at the end."""
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        lsock.settimeout(TIMEOUT)
        p = subprocess.Popen([MSNC, "ftp-recv", "--host", "127.0.0.1", "--port", str(lsock.getsockname()[1]),
                              "--email", "bob@example.com", "--cookie", cookie, "--dir", self.out,
                              "--name", name, "--size", str(size)], stdout=subprocess.PIPE, text=True)
        try:
            conn, _ = lsock.accept()
            conn.settimeout(TIMEOUT)
            yield p, conn, conn.makefile("rb")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            lsock.close()

    def finish_sender(self, p):
        out, _ = p.communicate(timeout=TIMEOUT)
        return p.returncode, events(out)

    def transfer_ok(self, size):
        src = self.make_file(size)
        s, port = self.start_sender(src)
        rc, rev = self.receive(port, size=size)
        src_rc, sev = self.finish_sender(s)
        self.assertEqual(rc, 0, rev)
        self.assertEqual(src_rc, 0, sev)
        self.assertEqual(rev[-1]["event"], "transfer_done")
        self.assertEqual(rev[-1]["bye"], 16777989)
        self.assertEqual(sev[-1]["event"], "transfer_done")
        assert_received(self, src, os.path.join(self.out, "data.bin"))

    def assert_no_final_file(self):
        self.assertEqual(os.listdir(self.out), [], "neither the final nor a temporary file may remain")

    @unittest.skipIf(BIG, "")
    def test_zero_bytes(self):
        self.transfer_ok(0)

    @unittest.skipIf(BIG, "")
    def test_one_byte(self):
        self.transfer_ok(1)

    @unittest.skipIf(BIG, "")
    def test_one_mib(self):
        self.transfer_ok(1 << 20)

    @unittest.skipIf(BIG, "")
    def test_odd_size_over_many_blocks(self):
        self.transfer_ok(2045 * 37 + 11)

    @unittest.skipUnless(BIG, "slow")
    def test_fifty_mib(self):
        self.transfer_ok(50 << 20)

    @unittest.skipIf(BIG, "")
    def test_receiver_waits_until_bye_is_read(self):
        # A sender (here a raw socket) that reads the final BYE late: the
        # receiver keeps the connection until the sender closes it, so the
        # BYE is never cut off, and then exits at once with success. (It
        # used to leave 100 ms after the transfer, connection still open,
        # which also leaked that connection.)
        with self.raw_sender("late.bin", 3, "1234567") as (p, conn, f):
            self.assertEqual(f.readline(), b"VER MSNFTP\r\n")
            conn.sendall(b"VER MSNFTP\r\n")
            self.assertEqual(f.readline(), b"USR bob@example.com 1234567\r\n")
            conn.sendall(b"FIL 3\r\n")
            self.assertEqual(f.readline(), b"TFR\r\n")
            conn.sendall(b"\x00\x03\x00abc")
            self.assertEqual(f.readline(), b"BYE 16777989\r\n")
            time.sleep(0.5)
            self.assertIsNone(p.poll(), "the receiver left before the sender had closed")
            f.close()
            conn.close()
            # at once, not after the 5 s limit on waiting for the close
            out, _ = p.communicate(timeout=2)
        self.assertEqual(p.returncode, 0, out)
        self.assertEqual(events(out)[-1]["event"], "transfer_done")
        with open(os.path.join(self.out, "late.bin"), "rb") as f:
            self.assertEqual(f.read(), b"abc")

    @unittest.skipIf(BIG, "")
    def test_existing_name_is_not_overwritten(self):
        keep = os.path.join(self.out, "data.bin")
        with open(keep, "wb") as f:
            f.write(b"keep me")
        src = self.make_file(5000)
        s, port = self.start_sender(src)
        rc, rev = self.receive(port, size=5000)
        self.finish_sender(s)
        self.assertEqual(rc, 0, rev)
        with open(keep, "rb") as f:
            self.assertEqual(f.read(), b"keep me")
        self.assertEqual(sha256(os.path.join(self.out, "data (1).bin")), sha256(src))

    @unittest.skipIf(BIG, "")
    def test_taken_name_with_a_long_extension(self):
        # The last dot near the start: " (1)" cannot go before an
        # "extension" of 253 bytes within 255, so it goes at the end of the
        # shortened name (the second copy used to fail: name too long).
        name = "a." + "b" * 253
        src = self.make_file(300)
        got = []
        for _ in range(2):
            s, port = self.start_sender(src)
            rc, rev = self.receive(port, name=name, size=300)
            self.finish_sender(s)
            self.assertEqual(rc, 0, rev)
            got.append(os.path.basename(rev[-1]["file"]))
        self.assertEqual(got[0], name)
        self.assertEqual(got[1], name[:251] + " (1)")
        self.assertEqual(sorted(os.listdir(self.out)), sorted(got))
        self.assertEqual(sha256(os.path.join(self.out, got[1])), sha256(src))

    @unittest.skipIf(BIG, "")
    def test_wrong_cookie_refused(self):
        src = self.make_file(1000)
        s, port = self.start_sender(src, extra=("--timeout", "2"))
        rc, rev = self.receive(port, cookie="999")
        self.assertEqual(rc, 2, rev)
        self.assertEqual(rev[-1]["result"], "refused")
        src_rc, sev = self.finish_sender(s)
        self.assertTrue(any(e["event"] == "warning" and "AuthCookie" in e["text"] for e in sev), sev)
        self.assertEqual(sev[-1]["result"], "timeout")  # the real receiver never came
        self.assert_no_final_file()

    @unittest.skipIf(BIG, "")
    def test_size_mismatch_refused(self):
        src = self.make_file(1000)
        s, port = self.start_sender(src)
        rc, rev = self.receive(port, size=999)
        self.finish_sender(s)
        self.assertNotEqual(rc, 0)
        self.assertEqual(rev[-1]["result"], "protocol")
        self.assert_no_final_file()

    @unittest.skipIf(BIG, "")
    def test_receiver_cancels(self):
        src = self.make_file(24 << 20)
        s, port = self.start_sender(src)
        rc, rev = self.receive(port, size=24 << 20, extra=("--cancel-after", str(1 << 20)))
        src_rc, sev = self.finish_sender(s)
        self.assertEqual(rev[-1]["result"], "cancelled", rev)
        self.assertEqual(sev[-1]["result"], "peer_cancelled", sev)
        self.assert_no_final_file()

    @unittest.skipIf(BIG, "")
    def test_sender_cancels(self):
        src = self.make_file(24 << 20)
        s, port = self.start_sender(src, extra=("--cancel-after", str(1 << 20)))
        rc, rev = self.receive(port, size=24 << 20)
        src_rc, sev = self.finish_sender(s)
        self.assertEqual(sev[-1]["result"], "cancelled", sev)
        self.assertEqual(rev[-1]["result"], "peer_cancelled", rev)
        self.assert_no_final_file()

    @unittest.skipIf(BIG, "")
    def test_unwritable_directory(self):
        # Refused before connecting (a usage error, 64): the sender, served
        # for nothing, used to be told the receiver's disk was full. Root
        # ignores permission bits, so: a file, and a name that does not exist.
        src = self.make_file(4096)
        blocked = os.path.join(self.tmp, "not-a-dir")
        with open(blocked, "w") as f:
            f.write("x")
        s, port = self.start_sender(src)
        try:
            for directory, why in ((blocked, "not a directory"),
                                   (os.path.join(self.tmp, "missing"), "No such file or directory")):
                rc, rev = self.receive(port, size=4096, directory=directory)
                self.assertEqual(rc, 64, rev)
                self.assertEqual(rev, [{"event": "error", "text": "cannot receive into --dir %s: %s" % (directory, why)}])
            # the sender saw no connection: it still serves the file
            rc, rev = self.receive(port, size=4096)
            self.assertEqual(rc, 0, rev)
        finally:
            src_rc, sev = self.finish_sender(s)
        self.assertEqual(src_rc, 0, sev)

    @unittest.skipIf(BIG, "")
    def test_write_fails_midway(self):
        # The disk gives out after the space check passed (here a file size
        # limit, which fails write() with EFBIG): the report names the
        # directory, the sender hears BYE 2147942405, nothing is left.
        src = self.make_file(1 << 20)
        s, port = self.start_sender(src)
        limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (300000, 300000))
        rc, rev = self.receive(port, size=1 << 20, preexec=limit)
        src_rc, sev = self.finish_sender(s)
        self.assertEqual(rc, 4, rev)
        self.assertEqual(rev[-1]["result"], "local_io", rev)
        self.assertEqual(rev[-1]["text"], "cannot write the file in %s: %s" % (self.out, os.strerror(errno.EFBIG)))
        self.assertEqual(sev[-1]["result"], "peer_disk_full", sev)
        self.assert_no_final_file()

    @unittest.skipIf(BIG, "")
    def test_signal_cancels_the_transfer(self):
        # Ctrl-C or SIGTERM on the receiver mid-way: a cancel (CCL to the
        # sender, exit 4), and the partial temporary file is removed, not
        # left in the directory by a process killed outright.
        for sig in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(signal=sig):
                with self.raw_sender("part.bin", 100000, "1") as (p, conn, f):
                    f.readline()
                    conn.sendall(b"VER MSNFTP\r\n")
                    f.readline()
                    conn.sendall(b"FIL 100000\r\n")
                    self.assertEqual(f.readline(), b"TFR\r\n")
                    conn.sendall(b"\x00\x03\x00abc")
                    self.assertEqual(json.loads(p.stdout.readline())["event"], "transfer_start")
                    deadline = time.monotonic() + 5
                    while not os.listdir(self.out) and time.monotonic() < deadline:
                        time.sleep(0.02)
                    p.send_signal(sig)
                    self.assertEqual(f.readline(), b"CCL\r\n")
                    f.close()
                    conn.close()
                    out, _ = p.communicate(timeout=TIMEOUT)
                self.assertEqual(p.returncode, 4, out)
                self.assertEqual(events(out)[-1]["result"], "cancelled", out)
                self.assert_no_final_file()


if __name__ == "__main__":
    MSNC = sys.argv[1]
    unittest.main(argv=[sys.argv[0], "-v"])
