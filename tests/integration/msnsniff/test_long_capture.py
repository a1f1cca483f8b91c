#!/usr/bin/env python3
"""msnsniff state stays flat as a capture grows.

gen-capture makes longer captures by adding sessions over more capture
time. With timeouts shorter than the capture (a few seconds of capture
time, so the files stay small), every table the analyzer keeps outside the
memcap (expectations, invitations, switchboard referrals, online users,
DNS names, conversations) must hold about as many objects at its busiest on
a capture six times longer; only what is live at once may be kept. The
counts come from the summary (sampled each second of capture time), not
from timing.

Output of a capture that fills the event writer's buffers several times
over: through a pipe read slowly, a pipe closed early, a full disk.

usage: test_long_capture.py MSNSNIFF GEN_CAPTURE
"""
import os
import resource
import re
import subprocess
import sys
import tempfile
import unittest

MSNSNIFF, GEN_CAPTURE = sys.argv[1:3]
# Runs compared byte for byte share one run id (it names the flows' uids).
RUN_ID = ["--run-id", "00000000c0ffee17"]
del sys.argv[1:3]
TIMEOUT = 120

TABLES = ("expectations", "invitations", "referrals", "users online", "dns", "conversations")


def summary(path):
    p = subprocess.run([MSNSNIFF, "-r", path, "--no-progress", "--summary", "-o", os.devnull,
                        "--expect-timeout", "1", "--flow-timeout", "2"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
    if p.returncode != 0:
        raise AssertionError(p.stderr.decode())
    text = p.stdout.decode()
    peaks = {}
    line = re.search(r"tables \(most held at once\): (.*)", text).group(1)
    for name in TABLES:
        peaks[name] = int(re.search(re.escape(name) + r" (\d+)", line).group(1))
    dropped = re.search(r"dropped by table bounds: (.*)", text).group(1)
    counts = {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", dropped)}
    sessions = int(re.search(r"switchboard sessions: (\d+)", text).group(1))
    m = re.search(r"connections: predicted (\d+), matched (\d+), missed (\d+), retired (\d+)", text)
    predicted, matched, missed, retired = (int(g) for g in m.groups())
    # at the end of a capture every prediction is accounted for exactly once
    assert predicted == matched + missed + retired, m.group(0)
    assert matched > 0 and retired > 0, m.group(0)
    return peaks, counts, sessions, predicted


class LongCapture(unittest.TestCase):
    def test_tables_stay_flat(self):
        with tempfile.TemporaryDirectory() as d:
            results = []
            for mb in (16, 96):
                path = os.path.join(d, "gen-%d.pcap" % mb)
                subprocess.run([GEN_CAPTURE, "--out", path, "--size", str(mb)], check=True,
                               stdout=subprocess.DEVNULL, timeout=TIMEOUT)
                results.append(summary(path))
                os.unlink(path)
        (small, small_drop, small_sb, small_pred), (big, big_drop, big_sb, big_pred) = results
        # the longer capture really has several times the activity ...
        self.assertGreater(big_sb, 4 * small_sb)
        self.assertGreater(big_pred, 4 * small_pred)
        # ... but not several times the state
        for name in TABLES:
            self.assertLessEqual(big[name], small[name] * 3 // 2 + 8, "%s: %s vs %s" % (name, big, small))
        # every prediction was held at some point: the peak is far below the total
        self.assertLess(big["expectations"] * 4, big_pred)
        # the bounds were not what kept them small: the timeouts were
        for counts in (small_drop, big_drop):
            self.assertEqual(sum(counts.values()), 0, counts)


class Output(unittest.TestCase):
    """Events leave through a writer thread: nothing lost or reordered,
    the summary after them, a closed pipe or a full disk ends the run."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.path = os.path.join(cls.dir.name, "gen.pcap")
        subprocess.run([GEN_CAPTURE, "--out", cls.path, "--size", "48"], check=True,
                       stdout=subprocess.DEVNULL, timeout=TIMEOUT)
        cls.events = os.path.join(cls.dir.name, "events.jsonl")
        p = subprocess.run([MSNSNIFF, "-q", "--no-progress", "-r", cls.path, "-o", cls.events] + RUN_ID,
                           stderr=subprocess.PIPE, timeout=TIMEOUT)
        assert p.returncode == 0, p.stderr.decode()
        with open(cls.events, "rb") as f:
            cls.want = f.read()
        assert len(cls.want) > 5 << 20, len(cls.want)  # more than the writer's four 1 MiB buffers

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def test_pipe_read_slowly_then_summary(self):
        with subprocess.Popen([MSNSNIFF, "--no-progress", "--summary", "-r", self.path] + RUN_ID,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as p:
            got = bytearray()
            while True:  # bounded: the program ends and closes the pipe
                b = p.stdout.read(4096)
                if not b:
                    break
                got += b
            p.wait(timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(bytes(got[:len(self.want)]), self.want)
        tail = bytes(got[len(self.want):]).decode()
        self.assertIn("switchboard sessions:", tail)
        self.assertNotIn('{"event"', tail)

    def test_pipe_closed_early(self):
        with subprocess.Popen([MSNSNIFF, "-q", "--no-progress", "-r", self.path] + RUN_ID,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as p:
            first = p.stdout.read(1000)
            p.stdout.close()
            rc = p.wait(timeout=TIMEOUT)
        self.assertEqual(first, self.want[:1000])
        self.assertEqual(rc, -13)  # SIGPIPE, as for any filter whose reader went away

    def test_disk_full(self):
        if not os.path.exists("/dev/full"):
            self.skipTest("no /dev/full")
        p = subprocess.run([MSNSNIFF, "-q", "--no-progress", "-r", self.path, "-o", "/dev/full"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 1)
        self.assertIn("msnsniff: /dev/full: writing events failed: No space left on device", p.stderr.decode())

    def test_file_size_limit(self):
        # a file size limit (RLIMIT_FSIZE) fails the write like a full disk
        # does, instead of SIGXFSZ killing the analyzer
        out = os.path.join(self.dir.name, "limited.jsonl")

        def limit():
            resource.setrlimit(resource.RLIMIT_FSIZE, (65536, resource.RLIM_INFINITY))
        p = subprocess.run([MSNSNIFF, "-q", "--no-progress", "-r", self.path, "-o", out] + RUN_ID,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT, preexec_fn=limit)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("msnsniff: %s: writing events failed: File too large" % out, p.stderr.decode())
        self.assertEqual(os.path.getsize(out), 65536)


if __name__ == "__main__":
    unittest.main()
