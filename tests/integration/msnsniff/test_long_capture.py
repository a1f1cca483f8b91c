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

usage: test_long_capture.py MSNSNIFF GEN_CAPTURE
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest

MSNSNIFF, GEN_CAPTURE = sys.argv[1:3]
del sys.argv[1:3]
TIMEOUT = 120

TABLES = ("expectations", "invitations", "referrals", "users online", "dns", "conversations")


def summary(path):
    p = subprocess.run([MSNSNIFF, "-r", path, "--no-progress", "--summary", "-w", os.devnull,
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
    predicted = int(re.search(r"connections: predicted (\d+)", text).group(1))
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


if __name__ == "__main__":
    unittest.main()
