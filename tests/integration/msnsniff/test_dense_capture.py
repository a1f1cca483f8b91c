#!/usr/bin/env python3
"""The dense benchmark capture (gen-capture --dense) is well formed and the
analyzer finds in it what the generator wrote.

The file is walked record by record (pcap header, Ethernet, IPv4, TCP or
UDP lengths consistent with each other and with the record) and the counts
msnsniff reports are compared with the capture's construction: per session
two users, each with a DS and an NS login, seven switchboards (one per
invitation kind, both users on each), seven invitations and six secondary
connections (one MSNFTP transfer, voice and video media, three connections
to a Context-Data address; the seventh invitation is cancelled). Cookies
and addresses are unique per session, which the events show.

usage: test_dense_capture.py MSNSNIFF GEN_CAPTURE
"""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import unittest

MSNSNIFF, GEN_CAPTURE = sys.argv[1:3]
del sys.argv[1:3]
TIMEOUT = 120
SESSIONS = 40


def walk_pcap(path):
    """Records of a classic little-endian Ethernet pcap, each checked; returns (records, bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    magic, major, minor, _, _, snaplen, linktype = struct.unpack_from("<IHHiIII", data, 0)
    assert magic == 0xA1B2C3D4 and (major, minor) == (2, 4), "pcap header"
    assert linktype == 1, "Ethernet"
    off, n = 24, 0
    while off < len(data):
        assert off + 16 <= len(data), "record header cut at %d" % off
        _, usec, caplen, wirelen = struct.unpack_from("<IIII", data, off)
        assert usec < 1000000 and caplen == wirelen and caplen <= snaplen, "record %d at %d" % (n, off)
        frame = data[off + 16:off + 16 + caplen]
        assert len(frame) == caplen, "record %d cut" % n
        assert frame[12:14] == b"\x08\x00", "record %d: not IPv4" % n
        ip = frame[14:]
        ihl = (ip[0] & 15) * 4
        assert ip[0] >> 4 == 4 and ihl >= 20, "record %d: IPv4 header" % n
        total = struct.unpack_from(">H", ip, 2)[0]
        assert total == len(ip), "record %d: IP length %d, frame holds %d" % (n, total, len(ip))
        proto = ip[9]
        assert proto in (6, 17), "record %d: protocol %d" % (n, proto)
        l4 = ip[ihl:]
        if proto == 6:
            assert (l4[12] >> 4) * 4 >= 20 and (l4[12] >> 4) * 4 <= len(l4), "record %d: TCP header" % n
        else:
            assert struct.unpack_from(">H", l4, 4)[0] == len(l4), "record %d: UDP length" % n
        off += 16 + caplen
        n += 1
    return n, len(data)


class DenseCapture(unittest.TestCase):
    def test_dense_capture(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "dense.pcap")
            out = subprocess.run([GEN_CAPTURE, "--out", path, "--dense", str(SESSIONS)], check=True,
                                 stdout=subprocess.PIPE, timeout=TIMEOUT).stdout
            gen = json.loads(out)
            self.assertEqual(gen["mode"], "dense")
            self.assertEqual(gen["msn_sessions"], SESSIONS)
            self.assertEqual(gen["background_payload_bytes"], 0)
            self.assertEqual(set(gen["invitations"].values()), {SESSIONS})

            records, size = walk_pcap(path)
            self.assertEqual(records, gen["packets"])
            self.assertEqual(size, 24 + 16 * records + gen["bytes"])  # file header, record headers, frames

            events_path = os.path.join(d, "events.jsonl")
            p = subprocess.run([MSNSNIFF, "-r", path, "--no-progress", "--summary", "-o", events_path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            text = p.stdout.decode()
            with open(events_path) as f:
                events = [json.loads(line) for line in f]

        def nums(pattern):
            m = re.search(pattern, text)
            self.assertIsNotNone(m, pattern)
            return tuple(int(g) for g in m.groups())

        n = SESSIONS
        self.assertEqual(nums(r"packets: (\d+) \(\d+ bytes\), decode errors (\d+), not TCP/UDP (\d+)"), (records, 0, 0))
        self.assertEqual(nums(r"msnp \d+ \(ds (\d+), ns (\d+), sb (\d+)\), msnftp (\d+)"), (2 * n, 2 * n, 14 * n, n))
        self.assertEqual(nums(r"logins: (\d+) ok, (\d+) failed"), (2 * n, 0))
        # counted per switchboard connection: both users of each of the seven
        self.assertEqual(nums(r"switchboard sessions: (\d+)"), (14 * n,))
        # the cancelled invitation is a file transfer too
        self.assertEqual(nums(r"invitations: (\d+), file_transfer (\d+), voice (\d+), video (\d+), whiteboard (\d+), "
                              r"app_sharing (\d+), remote_assistance (\d+)"), (7 * n, 2 * n, n, n, n, n, n))
        # every connection that follows a referral or an invitation was
        # predicted and found: 2 NS after XFR NS, 7 callers after XFR SB,
        # 7 answerers after RNG, and the 6 secondary connections
        predicted, matched, missed, retired = nums(r"connections: predicted (\d+), matched (\d+), missed (\d+), retired (\d+)")
        self.assertEqual(matched, 22 * n)
        self.assertEqual(missed, 0)
        self.assertEqual(predicted, matched + retired)
        self.assertEqual(nums(r"files: (\d+) \((\d+) bytes\)"), (n, gen["msnftp_file_bytes"]))
        self.assertEqual(nums(r"gaps: (\d+) \(\d+ bytes\), parse errors (\d+), anomalies (\d+)"), (0, 0, 0))

        # unique per session: invitation cookies, switchboard cookies, user addresses
        invites = {e["cookie"] for e in events if e["event"] == "invitation" and e["command"] == "INVITE"}
        self.assertEqual(len(invites), 7 * n)
        sb = [e["cookie"] for e in events if e["event"] == "expectation_hit" and e["app"] == "switchboard"]
        self.assertEqual(len(sb), 14 * n)
        self.assertEqual(len(set(sb)), 14 * n)
        clients = {e["client"].rsplit(":", 1)[0] for e in events if e["event"] == "login"}
        self.assertEqual(len(clients), 2 * n)
        hits = [e for e in events if e["event"] == "expectation_hit"]
        self.assertEqual(len(hits), matched)

    def test_transcript_tells_caller_from_answerer(self):
        # Each session has a caller's connection (XFR SB, CAL: JOI names
        # who comes in) and an answerer's (RNG, ANS: IRO names who was
        # there). The transcript said "opened the session" and "joined" on
        # both, making the answerer look like the one who called.
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "one.pcap")
            subprocess.run([GEN_CAPTURE, "--out", path, "--dense", "1"], check=True, stdout=subprocess.DEVNULL,
                           timeout=TIMEOUT)
            p = subprocess.run([MSNSNIFF, "-q", "--transcript", "-r", path], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        lines = [line.split("] ", 1)[1] for line in p.stdout.decode().splitlines()]
        self.assertEqual(lines[2:6], ["<sb1> *** alice0@example.com opened the session",
                                      "<sb2> *** bob0@example.com answered a call into the session",
                                      "<sb2> *** alice0@example.com was in the session",
                                      "<sb1> *** bob0@example.com joined"])


if __name__ == "__main__":
    unittest.main()
