#!/usr/bin/env python3
"""msnsniff -r given more than once: a capture rotated into several files
(tcpdump -C / -G, dumpcap ring buffers) read as one, in the order given.
The committed seed capture is cut into parts at record boundaries; the
parts give the same events as the whole (sessions, chats and predictions
that cross a file boundary included), in pcap and pcapng alike and with
standard input as one of them. A damaged or missing part, parts out of
time order, -w over several parts and the checks before reading are
covered too.

usage: test_several_files.py MSNSNIFF CAPTURES_DIR
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eventschema  # noqa: E402

MSNSNIFF, CAPTURES = sys.argv[1:3]
del sys.argv[1:3]
TIMEOUT = 60


def run(args, input_bytes=None):
    p = subprocess.run([MSNSNIFF, "-q", "--run-id", "1"] + args, input=input_bytes,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def events(out):
    return [json.loads(line) for line in out.decode("utf-8").splitlines() if line.strip()]


def records(path):
    """The classic pcap file's header and its records, whole."""
    with open(path, "rb") as f:
        d = f.read()
    off, recs = 24, []
    while off < len(d):
        caplen = struct.unpack("<I", d[off + 8:off + 12])[0]
        recs.append(d[off:off + 16 + caplen])
        off += 16 + caplen
    return d[:24], recs


def pcapng(header, recs):
    """The same records as one pcapng section: one interface, enhanced
    packet blocks, as Wireshark and dumpcap write them."""
    snap, linktype = struct.unpack("<II", header[16:24])
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    idb = struct.pack("<IIHHI", 1, 20, linktype, 0, snap) + struct.pack("<I", 20)
    out = [shb, idb]
    for r in recs:
        sec, usec, caplen, wirelen = struct.unpack("<IIII", r[:16])
        ts = sec * 1000000 + usec
        data = r[16:]
        pad = (4 - len(data) % 4) % 4
        size = 32 + len(data) + pad
        out.append(struct.pack("<IIIIIII", 6, size, 0, ts >> 32, ts & 0xFFFFFFFF, caplen, wirelen) + data
                   + b"\0" * pad + struct.pack("<I", size))
    return b"".join(out)


class SeveralFiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        cls.header, cls.recs = records(os.path.join(CAPTURES, "seed.pcap"))
        assert len(cls.recs) == 325
        # cut where the logins, switchboards and invitations are under way
        cls.parts = []
        for i, (a, b) in enumerate([(0, 100), (100, 200), (200, 325)]):
            path = os.path.join(cls.dir, "part%d.pcap" % i)
            with open(path, "wb") as f:
                f.write(cls.header + b"".join(cls.recs[a:b]))
            cls.parts.append(path)
        rc, cls.whole, err = run(["-r", os.path.join(CAPTURES, "seed.pcap")])
        assert rc == 0, err

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def same_as_whole(self, out, files):
        got, want = events(out), events(self.whole)
        # the stats say how many files were read; everything else is the same
        self.assertEqual(got[-1].pop("files"), files)
        self.assertEqual(got, want)
        self.assertEqual(eventschema.problems(events(out)), [])

    def test_parts_give_the_events_of_the_whole(self):
        args = []
        for p in self.parts:
            args += ["-r", p]
        rc, out, err = run(args)
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, "")
        self.same_as_whole(out, 3)
        kinds = {e["event"] for e in events(out)}
        # what crosses the cuts: chats, invitations and their connections
        self.assertTrue({"login", "message", "invitation", "expectation_hit"} <= kinds, kinds)

    def test_one_file_is_read_as_before(self):
        rc, out, err = run(["-r", os.path.join(CAPTURES, "seed.pcap")])
        self.assertEqual((rc, err), (0, ""))
        self.assertNotIn("files", events(out)[-1])

    def test_pcapng_part_and_standard_input(self):
        ng = os.path.join(self.dir, "part1.pcapng")
        with open(ng, "wb") as f:
            f.write(pcapng(self.header, self.recs[100:200]))
        with open(self.parts[2], "rb") as f:
            last = f.read()
        rc, out, err = run(["-r", self.parts[0], "-r", ng, "-r", "-"], input_bytes=last)
        self.assertEqual(rc, 0, err)
        self.same_as_whole(out, 3)

    def test_compressed_parts(self):
        """Parts compressed as tcpdump -z gzip leaves them, one left plain:
        the events of the whole."""
        args = []
        for k, p in enumerate(self.parts):
            if k < 2:
                subprocess.run(["gzip", "-k", "-f", p], check=True, timeout=TIMEOUT)
                p += ".gz"
            args += ["-r", p]
        rc, out, err = run(args)
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, "")
        self.same_as_whole(out, 3)

    def test_summary_names_the_files(self):
        p = subprocess.run([MSNSNIFF, "--summary", "-o", os.devnull, "-r", self.parts[0], "-r", self.parts[1]],
                           capture_output=True, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"capture: 2 files, link type EN10MB", p.stdout)

    def test_damaged_part_loses_only_its_tail(self):
        cut = os.path.join(self.dir, "cut.pcap")
        with open(self.parts[1], "rb") as f:
            data = f.read()
        with open(cut, "wb") as f:
            f.write(data[:3000])  # inside a record
        rc, out, err = run(["-r", self.parts[0], "-r", cut, "-r", self.parts[2]])
        self.assertEqual(rc, 1)
        self.assertIn("cut.pcap: at offset ", err)
        self.assertIn("truncated dump file", err)
        evs = events(out)
        self.assertEqual(evs[-1]["event"], "stats")
        # the third part was read: its packets are counted
        rc, only_first, _ = run(["-r", self.parts[0], "-r", cut])
        self.assertEqual(rc, 1)
        self.assertEqual(evs[-1]["packets"], events(only_first)[-1]["packets"] + 125)

    def test_unreadable_part_later_in_the_run(self):
        """A part that is no capture at all (its header refused when its
        turn comes): said, skipped, the run goes on and ends with 1."""
        junk = os.path.join(self.dir, "junk.pcap")
        with open(junk, "wb") as f:
            f.write(b"this is not a capture file\n" * 4)
        rc, out, err = run(["-r", self.parts[0], "-r", junk, "-r", self.parts[1]])
        self.assertEqual(rc, 1)
        self.assertIn("junk.pcap", err)
        self.assertIn("going on with the next file", err)
        self.assertEqual(events(out)[-1]["packets"], 200)

    def test_missing_part_stops_before_reading(self):
        rc, out, err = run(["-r", self.parts[0], "-r", os.path.join(self.dir, "nope.pcap")])
        self.assertEqual((rc, out), (1, b""))
        self.assertIn("nope.pcap: No such file or directory", err)
        rc, out, err = run(["-r", self.parts[0], "-r", self.dir])
        self.assertEqual((rc, out), (1, b""))
        self.assertIn("is a directory", err)

    def test_standard_input_once(self):
        rc, out, err = run(["-r", "-", "-r", "-"], input_bytes=b"")
        self.assertEqual((rc, out), (1, b""))
        self.assertIn("standard input can be read once", err)

    def test_parts_out_of_time_order_are_said(self):
        rc, out, err = run(["-r", self.parts[1], "-r", self.parts[0]])
        self.assertEqual(rc, 0, err)
        self.assertIn("part0.pcap starts at 2002-03-24T07:39:37", err)
        self.assertIn("before the last packet of %s" % self.parts[1], err)
        self.assertIn("mergecap", err)
        # a file between them without packets (its header alone, or no
        # capture at all) is not the one the last packet came from: it was
        # named so
        empty = os.path.join(self.dir, "header-only.pcap")
        with open(empty, "wb") as f:
            f.write(self.header)
        rc, out, err = run(["-r", self.parts[1], "-r", empty, "-r", self.parts[0]])
        self.assertEqual(rc, 0, err)
        self.assertIn("part0.pcap starts at 2002-03-24T07:39:37", err)
        self.assertIn("before the last packet of %s (" % self.parts[1], err)
        self.assertNotIn("header-only.pcap", err)
        # standard input is named as the reader's messages name it
        with open(self.parts[0], "rb") as f:
            rc, out, err = run(["-r", self.parts[1], "-r", "-"], input_bytes=f.read())
        self.assertEqual(rc, 0, err)
        self.assertIn("msnsniff: (stdin) starts at 2002-03-24T07:39:37", err)

    def test_w_writes_one_file_of_every_part(self):
        out_pcap = os.path.join(self.dir, "all.pcap")
        args = ["-w", out_pcap, "-o", os.devnull]
        for p in self.parts:
            args += ["-r", p]
        rc, _, err = run(args)
        self.assertEqual(rc, 0, err)
        header, recs = records(out_pcap)
        self.assertEqual(recs, self.recs)
        # a header whose snapshot length keeps every later part's frames whole
        self.assertEqual(struct.unpack("<I", header[16:20])[0], 262144)
        rc, again, err = run(["-r", out_pcap])
        self.assertEqual(rc, 0, err)
        self.assertEqual(events(again), events(self.whole))

    def test_filter_applies_to_every_part(self):
        rc, out, err = run(["-r", self.parts[0], "-r", self.parts[1], "-r", self.parts[2], "tcp", "port", "6891"])
        self.assertEqual(rc, 0, err)
        rc, whole, err = run(["-r", os.path.join(CAPTURES, "seed.pcap"), "tcp", "port", "6891"])
        self.assertEqual(rc, 0, err)
        got = events(out)
        got[-1].pop("files")
        self.assertEqual(got, events(whole))
        self.assertLess(got[-1]["packets"], 325)


if __name__ == "__main__":
    unittest.main(verbosity=2)
