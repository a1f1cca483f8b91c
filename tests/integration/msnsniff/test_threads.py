#!/usr/bin/env python3
"""Events formatted on the writer thread (--threads 2, the default when
reading a file) and in line by the analysis (--threads 1) are the same
bytes: the committed captures give the committed events both ways, to
standard output and to a file; a generated all-MSN capture (several MiB of
events, many hand-overs) gives identical events and summary; a capture cut
in the middle of a record ends with the same error naming the file and the
record's offset, after every event of the packets before it.

usage: test_threads.py MSNSNIFF GEN_CAPTURE CAPTURES_DIR
"""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import unittest

MSNSNIFF, GEN_CAPTURE, CAPTURES = sys.argv[1:4]
del sys.argv[1:4]
TIMEOUT = 120
RUN_ID = "00000000c0ffee17"  # the committed outputs were written with it
SESSIONS = 60


def run(args):
    p = subprocess.run([MSNSNIFF, "--run-id", RUN_ID, "--no-progress"] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=TIMEOUT)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def record_offsets(path):
    """File offsets of the records of a classic pcap, and their time stamps (µs)."""
    with open(path, "rb") as f:
        data = f.read()
    off, out = 24, []
    while off + 16 <= len(data):
        sec, usec, caplen, _ = struct.unpack_from("<IIII", data, off)
        out.append((off, sec * 1000000 + usec))
        off += 16 + caplen
    return out


class Threads(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dense = os.path.join(cls.tmp.name, "dense.pcap")
        subprocess.run([GEN_CAPTURE, "--out", cls.dense, "--dense", str(SESSIONS)], check=True,
                       stdout=subprocess.DEVNULL, timeout=TIMEOUT)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_committed_captures_both_ways(self):
        for capture, expected in (("seed.pcap", "seed.jsonl"), ("seed-torture.pcapng", "seed-torture.jsonl"),
                                  ("seed-gaps.pcap", "seed-gaps.jsonl")):
            with open(os.path.join(CAPTURES, expected), "rb") as f:
                want = f.read()
            for threads in ("1", "2"):
                rc, out, err = run(["-q", "--threads", threads, "-r", os.path.join(CAPTURES, capture)])
                self.assertEqual(rc, 0, err)
                self.assertEqual(out, want, "%s, --threads %s, standard output" % (capture, threads))
                path = os.path.join(self.tmp.name, "out-%s.jsonl" % threads)
                rc, out, err = run(["-q", "--threads", threads, "-r", os.path.join(CAPTURES, capture), "-o", path])
                self.assertEqual(rc, 0, err)
                with open(path, "rb") as f:
                    self.assertEqual(f.read(), want, "%s, --threads %s, -o" % (capture, threads))

    def test_dense_capture_same_events_and_summary(self):
        outs = {}
        for threads in ("1", "2"):
            path = os.path.join(self.tmp.name, "dense-%s.jsonl" % threads)
            rc, out, err = run(["--summary", "--threads", threads, "-r", self.dense, "-o", path])
            self.assertEqual(rc, 0, err)
            with open(path, "rb") as f:
                outs[threads] = (f.read(), out)
        self.assertGreater(len(outs["1"][0]), 4 << 20)  # more than the writer's buffers hold at once
        self.assertEqual(outs["1"][0], outs["2"][0])
        self.assertEqual(outs["1"][1], outs["2"][1])  # the summary
        self.assertIn(b"logins: %d ok" % (2 * SESSIONS), outs["2"][1])

    def test_cut_record_error_after_earlier_events(self):
        records = record_offsets(self.dense)
        at, cut_ts = records[len(records) * 3 // 5]
        cut = os.path.join(self.tmp.name, "cut.pcap")
        with open(self.dense, "rb") as f, open(cut, "wb") as g:
            g.write(f.read(at + 16 + 5))  # the record's header and 5 bytes of its frame
        rc, full, err = run(["-q", "-r", self.dense])
        self.assertEqual(rc, 0, err)
        results = {}
        for threads in ("1", "2"):
            rc, out, err = run(["-q", "--threads", threads, "-r", cut])
            self.assertEqual(rc, 1, err)
            self.assertIn("%s: at offset %d:" % (cut, at), err)
            results[threads] = (out, err)
        self.assertEqual(results["1"], results["2"])
        # Everything the packets before the cut caused comes out as in the
        # full run: logins are reported at their packet.
        got = results["2"][0].splitlines()
        want = full.splitlines()
        same = 0
        while same < min(len(got), len(want)) and got[same] == want[same]:
            same += 1
        logins = [line for line in want if b'"event":"login"' in line and self.ts_us(line) < cut_ts]
        self.assertGreater(len(logins), SESSIONS)  # the cut is well inside the capture
        self.assertTrue(set(logins) <= set(got[:same]))

    @staticmethod
    def ts_us(line):
        ts = json.loads(line)["ts"]
        m = re.match(r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z", ts)
        import calendar
        y, mo, d, h, mi, s, us = (int(g) for g in m.groups())
        return calendar.timegm((y, mo, d, h, mi, s)) * 1000000 + us

    def test_bad_threads_value(self):
        for bad in ("0", "3", "x", ""):
            rc, _, err = run(["--threads", bad, "-r", os.path.join(CAPTURES, "seed.pcap")])
            self.assertEqual(rc, 2, bad)
            self.assertIn("--threads", err)


if __name__ == "__main__":
    unittest.main(verbosity=1)
