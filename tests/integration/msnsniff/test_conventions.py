#!/usr/bin/env python3
"""msnsniff's capture-tool conventions, on the committed captures and on a
live capture of loopback traffic the test makes itself:

- -w FILE writes the packets read (after the filter) as pcap; JSON events go
  to standard output or -o FILE; a -w name that says JSON is refused with a
  pointer to -o; -w - needs the events elsewhere.
- -c COUNT stops after COUNT packets; -D lists interfaces; -p leaves the
  interface out of promiscuous mode; -Z USER drops root after opening the
  capture (output files belong to USER).
- Options may follow the filter; "--" ends the options.
- The final "stats" event and the summary give the packets read, the link
  type by name and, live, the kernel's counters.
- An idle live capture still ticks with the wall clock: predictions
  expire and idle flows close while no packet comes.
- Flow events carry a uid unique to the run and their Community ID (the same
  as tshark's, when tshark is installed).

usage: test_conventions.py MSNSNIFF CAPTURES_DIR
"""
import gzip
import json
import os
import pwd
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

MSNSNIFF, CAPTURES = sys.argv[1:3]
del sys.argv[1:3]
TIMEOUT = 60


def run(args, **kw):
    p = subprocess.run([MSNSNIFF] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT, **kw)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def events(out):
    return [json.loads(line) for line in out.decode("utf-8").splitlines() if line.strip()]


# Run in a network namespace of its own (unshare -n): a notification
# server connection on its loopback logs in and is referred to a
# switchboard, then stays open and idle. msnsniff (argv[1], events to
# argv[2]) must report the prediction missed and the flow closed while
# nothing is captured; the script prints the seconds each took after the
# referral, or null when it did not come within the bound.
IDLE_SCRIPT = r"""
import json, os, signal, socket, subprocess, sys, time
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
sniff, events = sys.argv[1], sys.argv[2]
err = open(events + ".err", "w+")
p = subprocess.Popen([sniff, "-i", "lo", "-q", "--expect-timeout", "1", "--flow-timeout", "2", "-o", events],
                     stderr=err)
try:
    for _ in range(100):
        err.seek(0)
        if "listening" in err.read():
            break
        time.sleep(0.05)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 1863))
    srv.listen(1)
    cl = socket.create_connection(("127.0.0.1", 1863))
    sv, _ = srv.accept()
    for a, b, line in ((cl, sv, "VER 1 MSNP7 CVR0"), (sv, cl, "VER 1 MSNP7"),
                       (cl, sv, "USR 2 MD5 I alice@example.com"), (sv, cl, "USR 2 MD5 S 1013928519.693957190"),
                       (cl, sv, "USR 3 MD5 S 23e54a439a6a17d15025f4c6cbd0f6b5"),
                       (sv, cl, "USR 3 OK alice@example.com Alice 1"), (cl, sv, "XFR 4 SB"),
                       (sv, cl, "XFR 4 SB 127.0.0.9:1863 CKI 1.2.3")):
        a.sendall(line.encode() + b"\r\n")
        b.recv(4096)
    t0, got = time.monotonic(), {}
    while len(got) < 2 and time.monotonic() - t0 < 15:
        time.sleep(0.1)
        with open(events) as f:
            for l in f:
                e = json.loads(l)
                if e["event"] in ("expectation_miss", "flow") and e["event"] not in got:
                    got[e["event"]] = round(time.monotonic() - t0, 1)
    print(json.dumps(got))
finally:
    p.send_signal(signal.SIGINT)
    p.wait(timeout=10)
"""


def cap(name):
    return os.path.join(CAPTURES, name)


def pcap_records(path):
    """Number of records in a classic pcap file, read with tcpdump."""
    p = subprocess.run(["tcpdump", "-nn", "-r", path], capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    return len(p.stdout.splitlines())


class Files(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.dir)

    def test_files_that_are_not_captures_say_what_they_are(self):
        """Another tool's capture format, text (compressed too), msnsniff's
        own events or an empty file given to -r: what it is and what to do,
        with the file's name in the command; exit 1. Standard input too."""
        with open(cap("seed.pcap"), "rb") as f:
            pcap = f.read()
        cases = [
            ("c.cap", b"GMBU\x01\x02" + bytes(128),
             "a Microsoft Network Monitor 2 capture: convert it with Wireshark's editcap, editcap -F pcapng %s %s.pcapng"),
            ("c.snoop", b"snoop\0\0\0\0\0\0\x02\0\0\0\x04" + bytes(64),
             "a snoop capture (Solaris): convert it with Wireshark's editcap, editcap -F pcap %s %s.pcap"),
            ("ev.jsonl", b'{"event":"login","ts":"2002-03-24T07:39:37Z"}\n',
             "msnsniff's own events (JSON lines, -o), not a capture"),
            ("notes.txt", b"tcpdump -i eth0 -w capture.pcap port 1863\n", "text, not a capture"),
        ]
        for name, data, says in cases:
            path = os.path.join(self.dir, name)
            with open(path, "wb") as f:
                f.write(data)
            rc, out, err = run(["-r", path])
            self.assertEqual(rc, 1, err)
            self.assertIn("msnsniff: %s: not a pcap or pcapng file: " % path + says.replace("%s", path), err)
            self.assertEqual(out, b"")
        notes = os.path.join(self.dir, "notes.txt.gz")
        with open(notes, "wb") as f:
            f.write(gzip.compress(b"tcpdump -i eth0 -w capture.pcap port 1863\n"))
        rc, out, err = run(["-r", notes])
        self.assertEqual(rc, 1, err)
        self.assertIn("msnsniff: %s: decompressed with gzip, not a pcap or pcapng file: text, not a capture" % notes,
                      err)
        spaced = os.path.join(self.dir, "my capture.cap")
        with open(spaced, "wb") as f:
            f.write(b"GMBU\x01\x02" + bytes(128))
        rc, out, err = run(["-r", spaced])
        self.assertIn("editcap -F pcapng '%s' '%s'.pcapng" % (spaced, spaced), err)
        rc, out, err = run(["-r", self.dir])
        self.assertEqual(rc, 1, err)
        self.assertIn("msnsniff: %s: a directory: -r takes capture files" % self.dir, err)
        empty = os.path.join(self.dir, "empty.pcap")
        open(empty, "wb").close()
        rc, out, err = run(["-r", empty])
        self.assertEqual(rc, 1, err)
        self.assertIn("msnsniff: %s: empty, no capture in it" % empty, err)
        rc, out, err = run(["-r", "-"], input=b"")
        self.assertIn("msnsniff: (stdin): empty, no capture in it", err)
        # a directory on standard input is said as such (reading it fails:
        # it was called empty)
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            rc, out, err = run(["-r", "-"], stdin=fd)
        finally:
            os.close(fd)
        self.assertEqual((rc, err), (1, "msnsniff: (stdin): a directory, not a capture: give the capture file itself\n"))

    def test_compressed_captures_are_read_through_their_decompressor(self):
        """A capture compressed with gzip (tcpdump -z gzip, logrotate) is
        read as the capture itself, events for events; one cut short is
        read up to the damage and said; a decompressor that is not
        installed is named with its package; -c stops early without
        leaving the decompressor behind."""
        with open(cap("seed.pcap"), "rb") as f:
            pcap = f.read()
        gz = os.path.join(self.dir, "seed.pcap.gz")
        with open(gz, "wb") as f:
            f.write(gzip.compress(pcap))
        rc, want, err = run(["-q", "--run-id", "1", "-r", cap("seed.pcap")])
        self.assertEqual(rc, 0, err)
        rc, got, err = run(["-q", "--run-id", "1", "-r", gz])
        self.assertEqual(rc, 0, err)
        self.assertEqual(got, want)
        self.assertGreater(len(events(got)), 10)
        cut = os.path.join(self.dir, "cut.pcap.gz")
        packed = gzip.compress(pcap)
        with open(cut, "wb") as f:
            f.write(packed[:len(packed) // 2])
        rc, out, err = run(["-q", "--run-id", "1", "-r", cut])
        self.assertEqual(rc, 1, err)
        self.assertRegex(err, r"msnsniff: %s: at offset \d+ of the decompressed data: " % re.escape(cut))
        self.assertGreater(len(events(out)), 1)
        # standard input, a pipe or the file itself, is decompressed the same way
        with open(gz, "rb") as f:
            rc, got, err = run(["-q", "--run-id", "1", "-r", "-"], stdin=f)
        self.assertEqual((rc, got), (0, want), err)
        rc, got, err = run(["-q", "--run-id", "1", "-r", "-"], input=gzip.compress(pcap))
        self.assertEqual((rc, got), (0, want), err)
        rc, out, err = run(["-q", "-r", gz], env=dict(os.environ, PATH="/nonexistent"))
        self.assertEqual(rc, 1, err)
        self.assertIn("msnsniff: %s: compressed with gzip, which could not be run: apt-get install gzip" % gz, err)
        p = subprocess.Popen([MSNSNIFF, "-q", "-c", "3", "-r", gz], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = p.communicate(timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, err)
        # a decompressor left behind would be writing to a closed pipe,
        # or waiting for a reader, with this file's name in its arguments
        left = subprocess.run(["pgrep", "-f", "gzip -dc -- " + gz], capture_output=True, text=True).stdout
        self.assertEqual(left, "")

    def test_named_pipe_and_process_substitution(self):
        """-r on a named pipe, and on /dev/fd/N as a shell's <(...) gives
        it: read once, as standard input, the events of the file (a look
        at the first bytes used to take them away: 'unknown file
        format')."""
        with open(cap("seed.pcap"), "rb") as f:
            pcap = f.read()
        rc, want, err = run(["-q", "--run-id", "1", "-r", cap("seed.pcap")])
        self.assertEqual(rc, 0, err)
        fifo = os.path.join(self.dir, "fifo")
        os.mkfifo(fifo)

        def feed():
            with open(fifo, "wb") as f:
                f.write(pcap)

        t = threading.Thread(target=feed, daemon=True)  # a reader that never opens it leaves it blocked
        t.start()
        rc, got, err = run(["-q", "--run-id", "1", "-r", fifo])
        t.join(TIMEOUT)
        self.assertEqual(rc, 0, err)
        self.assertEqual(got, want)
        r, w = os.pipe()
        p = subprocess.Popen([MSNSNIFF, "-q", "--run-id", "1", "-r", "/dev/fd/%d" % r], pass_fds=(r,),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.close(r)
        with os.fdopen(w, "wb") as f:
            f.write(pcap)
        got, err = p.communicate(timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(got, want)

    def test_append_keeps_what_earlier_runs_wrote(self):
        js = os.path.join(self.dir, "ev.jsonl")
        rc, out, err = run(["-q", "--run-id", "1", "-r", cap("seed.pcap"), "-o", js])
        self.assertEqual(rc, 0, err)
        with open(js, "rb") as f:
            one = f.read()
        # without --append the file is replaced, as before
        rc, out, err = run(["-q", "--run-id", "1", "-r", cap("seed.pcap"), "-o", js])
        with open(js, "rb") as f:
            self.assertEqual(f.read(), one)
        rc, out, err = run(["-q", "--run-id", "1", "-r", cap("seed.pcap"), "-o", js, "--append"])
        self.assertEqual((rc, err), (0, ""))
        with open(js, "rb") as f:
            self.assertEqual(f.read(), one + one)
        # a run killed while writing left a cut line: only that line is lost,
        # whether events are written a buffer at a time, after every packet
        # (-U, as a live capture does) or without the writer thread
        for extra in ([], ["-U"], ["--threads", "1"]):
            with self.subTest(extra=extra):
                with open(js, "wb") as f:
                    f.write(one + b'{"event":"mess')
                rc, out, err = run(["-q", "--run-id", "1", "-r", cap("seed.pcap"), "-o", js, "--append"] + extra)
                self.assertEqual(rc, 0, err)
                self.assertIn("did not end with a whole line", err)
                with open(js, "rb") as f:
                    self.assertEqual(f.read(), one + b'{"event":"mess\n' + one)
        rc, out, err = run(["-q", "-r", cap("seed.pcap"), "--append"])
        self.assertEqual((rc, out), (2, b""))
        self.assertIn("-o FILE", err)

    def test_w_writes_packets_o_writes_events(self):
        pcap, js = os.path.join(self.dir, "copy.pcap"), os.path.join(self.dir, "ev.jsonl")
        rc, out, err = run(["-q", "--run-id", "1", "-r", cap("seed.pcap"), "-w", pcap, "-o", js])
        self.assertEqual((rc, out), (0, b""), err)
        self.assertEqual(pcap_records(pcap), 325)
        # the packets written give the same events as the original
        rc, again, err = run(["-q", "--run-id", "1", "-r", pcap])
        self.assertEqual(rc, 0, err)
        with open(js, "rb") as f:
            self.assertEqual(again, f.read())
        # without -o the events still come out on standard output
        rc, out, err = run(["-q", "-r", cap("seed.pcap"), "-w", pcap])
        self.assertEqual(rc, 0, err)
        self.assertEqual(events(out)[-1]["event"], "stats")

    def test_w_after_filter(self):
        pcap = os.path.join(self.dir, "ftp.pcap")
        rc, out, err = run(["-q", "-r", cap("seed.pcap"), "-w", pcap, "tcp", "port", "6891"])
        self.assertEqual(rc, 0, err)
        stats = events(out)[-1]
        self.assertEqual(pcap_records(pcap), stats["packets"])
        self.assertLess(stats["packets"], 325)
        p = subprocess.run(["tcpdump", "-nn", "-r", pcap, "not", "tcp", "port", "6891"],
                           capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(p.stdout, "")

    def test_w_refuses_json_names(self):
        for name in ("events.json", "events.jsonl"):
            rc, out, err = run(["-r", cap("seed.pcap"), "-w", os.path.join(self.dir, name)])
            self.assertEqual(rc, 2)
            self.assertIn("-o FILE", err)
            self.assertFalse(os.path.exists(os.path.join(self.dir, name)))

    def test_w_dash(self):
        rc, out, err = run(["-q", "-r", cap("seed.pcap"), "-w", "-"])
        self.assertEqual((rc, out), (2, b""))
        self.assertIn("-o FILE", err)
        # -o - is standard output, as "-" is for -r and -w: it was a file
        # named "-" in the working directory
        rc, out, err = run(["-q", "-r", cap("seed.pcap"), "-w", "-", "-o", "-"], cwd=self.dir)
        self.assertEqual((rc, out), (2, b""))
        self.assertIn("-o FILE", err)
        rc, out, err = run(["-q", "--run-id", "c0ffee17", "-r", cap("seed.pcap"), "-o", "-"], cwd=self.dir)
        self.assertEqual(rc, 0, err)
        with open(cap("seed.jsonl"), "rb") as f:
            self.assertEqual(out, f.read())
        self.assertFalse(os.path.exists(os.path.join(self.dir, "-")))
        js = os.path.join(self.dir, "ev.jsonl")
        rc, out, err = run(["-q", "-r", cap("seed.pcap"), "-w", "-", "-o", js])
        self.assertEqual(rc, 0, err)
        with open(cap("seed.pcap"), "rb") as f:
            self.assertEqual(out, f.read())  # same link type, snap length and records
        # a transcript or an nft script goes to standard output whatever -o
        # says: it would be mixed into the pcap records there
        for mode in ("--transcript", "--nft"):
            rc, out, err = run(["-q", mode, "-r", cap("seed.pcap"), "-w", "-", "-o", js])
            self.assertEqual((rc, out), (2, b""), (mode, err))
            self.assertIn("msnsniff: -w - puts packets on standard output, where %s prints" % mode, err)
        # so does --summary: it was written after the last record
        rc, out, err = run(["--summary", "-r", cap("seed.pcap"), "-w", "-", "-o", js])
        self.assertEqual((rc, out), (2, b""), err)
        self.assertIn("msnsniff: -w - puts packets on standard output, where --summary prints", err)
        rc, out, err = run(["-q", "--summary", "-r", cap("seed.pcap"), "-w", "-", "-o", js])  # no summary
        self.assertEqual(rc, 0, err)
        with open(cap("seed.pcap"), "rb") as f:
            self.assertEqual(out, f.read())
        # standard output by another name (here a pipe) is standard output
        for args, said in ((["-w", "/dev/stdout"], "-w /dev/stdout puts packets on standard output: send the events"),
                           (["-w", "-", "-o", "/dev/stdout"], "-w - puts packets on standard output: send the events"),
                           (["--nft", "-w", "/dev/stdout", "-o", js],
                            "-w /dev/stdout puts packets on standard output, where --nft prints")):
            rc, out, err = run(["-q", "-r", cap("seed.pcap")] + args)
            self.assertEqual((rc, out), (2, b""), (args, err))
            self.assertIn("msnsniff: " + said, err)

    def test_outputs_never_replace_the_capture_read(self):
        # -o or -w naming the file read (a slip of the keyboard) made it
        # anew before it was read: the capture was gone, with status 0
        victim = os.path.join(self.dir, "victim.pcap")
        link = os.path.join(self.dir, "link-to-victim.pcap")
        shutil.copy(cap("seed.pcap"), victim)
        os.symlink(victim, link)
        for args, opt, name in ((["-r", victim, "-o", victim], "-o", victim),
                                (["-r", victim, "-o", link, "--append"], "-o", link),
                                (["-r", victim, "-w", victim, "-o", os.devnull], "-w", victim),
                                (["-r", cap("seed.pcap"), "-r", link, "-w", victim, "-o", os.devnull], "-w", victim)):
            rc, out, err = run(["-q"] + args)
            self.assertEqual((rc, out), (2, b""), args)
            self.assertEqual(err, "msnsniff: %s %s: that is the capture read with -r, which writing would destroy; "
                             "write to another file\n" % (opt, name))
            with open(victim, "rb") as f, open(cap("seed.pcap"), "rb") as g:
                self.assertEqual(f.read(), g.read(), args)
        both = os.path.join(self.dir, "both.out")
        rc, out, err = run(["-q", "-r", cap("seed.pcap"), "-w", both, "-o", both])
        self.assertEqual((rc, err), (2, "msnsniff: -o %s and -w %s are one file: events and packets go to two "
                                        "files\n" % (both, both)))
        self.assertFalse(os.path.exists(both))
        # one file still to be made, named two ways
        other = os.path.join(self.dir, ".", "..", os.path.basename(self.dir), "both.out")
        rc, out, err = run(["-q", "-r", cap("seed.pcap"), "-w", both, "-o", other])
        self.assertEqual((rc, err), (2, "msnsniff: -o %s and -w %s are one file: events and packets go to two "
                                        "files\n" % (other, both)))
        self.assertFalse(os.path.exists(both))
        # devices are no files to lose
        self.assertEqual(run(["-q", "-r", cap("seed.pcap"), "-w", os.devnull, "-o", os.devnull])[0], 0)

    def test_w_full_disk(self):
        rc, out, err = run(["-q", "-r", cap("seed.pcap"), "-w", "/dev/full", "-o", os.devnull])
        self.assertEqual(rc, 1)
        self.assertIn("/dev/full: writing packets failed: No space left on device", err)

    def test_text_on_standard_output_to_a_full_disk(self):
        # the transcript, the nft script and the summary are printed on
        # standard output through stdio, which drops what it cannot write:
        # lost in silence (status 0) before, they are said as the events are
        if not os.path.exists("/dev/full"):
            self.skipTest("no /dev/full")
        for args, what in ((["-q", "--transcript"], "transcript"),
                           (["-q", "--transcript", "-o", os.devnull], "transcript"),
                           (["-q", "--nft", "-o", os.devnull], "nftables script"),
                           (["--summary", "-o", os.devnull], "summary")):
            with open("/dev/full", "wb") as full:
                p = subprocess.run([MSNSNIFF] + args + ["-r", cap("seed.pcap")], stdout=full,
                                   stderr=subprocess.PIPE, timeout=TIMEOUT)
            self.assertEqual(p.returncode, 1, args)
            self.assertIn("msnsniff: standard output: writing the %s failed: No space left on device" % what,
                          p.stderr.decode(), args)

    def test_count(self):
        pcap = os.path.join(self.dir, "ten.pcap")
        rc, out, err = run(["-r", cap("seed.pcap"), "-c", "10", "-w", pcap])
        self.assertEqual(rc, 0, err)
        self.assertEqual(events(out)[-1]["packets"], 10)
        self.assertEqual(pcap_records(pcap), 10)
        self.assertIn("packets: 10 ", err)
        for bad in ("0", "-3", "ten", ""):
            rc, _, err = run(["-r", cap("seed.pcap"), "-c", bad])
            self.assertEqual(rc, 2, bad)
            self.assertIn("-c", err)

    def test_options_after_filter_and_double_dash(self):
        rc, out, err = run(["-r", cap("seed.pcap"), "tcp", "port", "6891", "-q", "--run-id", "1"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, "")  # -q was an option, not part of the filter
        kinds = {e["event"] for e in events(out)}
        self.assertIn("file", kinds)
        self.assertNotIn("login", kinds)
        rc, out2, err = run(["-q", "--run-id", "1", "-r", cap("seed.pcap"), "--", "tcp", "port", "6891"])
        self.assertEqual((rc, out2), (0, out), err)
        # after "--" everything is filter: "-q" is not an expression
        rc, _, err = run(["-r", cap("seed.pcap"), "--", "tcp", "-q"])
        self.assertEqual(rc, 2)
        self.assertIn("filter", err)

    def test_stats_event_and_link_type_names(self):
        for name, lt, desc in (("seed.pcap", "EN10MB", "Ethernet"), ("seed-gaps.pcap", "LINUX_SLL", "Linux cooked")):
            rc, out, err = run(["-r", cap(name)])
            self.assertEqual(rc, 0, err)
            ev = events(out)
            stats = ev[-1]
            self.assertEqual(stats["event"], "stats")
            self.assertEqual([e for e in ev if e["event"] == "stats"], [stats])
            self.assertEqual(stats["link_type"], lt)
            self.assertEqual(stats["source"], "file")
            self.assertEqual(stats["events"], len(ev) - 1)
            self.assertIsNone(stats["kernel_dropped"])
            self.assertIsNone(stats["kernel_lost"])
            m = re.search(r"packets: (\d+) \((\d+) bytes\)", err)
            self.assertEqual((int(m.group(1)), int(m.group(2))), (stats["packets"], stats["bytes"]))
            self.assertIn("link type %s (%s" % (lt, desc), err)

    def test_memcap_too_small_for_one_flow_is_reported(self):
        # Nothing can be analyzed: the run still ends well, and says so in the
        # stats event, the anomalies and the summary instead of saying nothing.
        rc, out, err = run(["-r", cap("seed.pcap"), "--memcap", "1"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        stats = ev[-1]
        self.assertEqual(stats["flows"], 0)
        self.assertGreater(stats["packets_not_admitted"], 0)
        self.assertTrue(any(e["event"] == "anomaly" and e["kind"] == "memcap" for e in ev))
        self.assertIn("packets of flows it could not admit %d" % stats["packets_not_admitted"], err)
        rc, out, err = run(["-r", cap("seed.pcap")])
        self.assertEqual(events(out)[-1]["packets_not_admitted"], 0)
        self.assertIn("packets of flows it could not admit 0; flows closed before their idle timeout to admit "
                      "others (--memcap, --max-flows) 0\n", err)
        # flows closed to stay within --max-flows are counted there too
        rc, out, err = run(["-r", cap("seed.pcap"), "--max-flows", "2"])
        self.assertEqual(rc, 0, err)
        closed = [e for e in events(out) if e["event"] == "flow" and e.get("end_reason") == "max_flows"]
        self.assertGreater(len(closed), 0)
        self.assertIn("flows closed before their idle timeout to admit others (--memcap, --max-flows) %d\n"
                      % len(closed), err)

    def test_snaplen_cut_capture_is_named_as_the_cause(self):
        # A capture taken with a small snapshot length (tcpdump -s 96) loses
        # the ends of long packets: msnsniff says so, with the count and the
        # length, and how to capture whole packets, instead of leaving the
        # user to guess where the gaps came from.
        src = open(cap("seed.pcap"), "rb").read()
        head, off, cut, recs = bytearray(src[:24]), 24, 0, []
        struct.pack_into("<I", head, 16, 96)  # the file header's snapshot length
        while off + 16 <= len(src):
            sec, frac, incl, orig = struct.unpack_from("<IIII", src, off)
            data = src[off + 16:off + 16 + incl]
            if incl > 96:
                cut += 1
                data = data[:96]
            recs.append(struct.pack("<IIII", sec, frac, len(data), orig) + data)
            off += 16 + incl
        self.assertGreater(cut, 0)
        path = os.path.join(self.dir, "snap96.pcap")
        with open(path, "wb") as f:
            f.write(bytes(head) + b"".join(recs))
        rc, out, err = run(["-r", path])
        self.assertEqual(rc, 0, err)
        stats = events(out)[-1]
        self.assertEqual(stats["packets_truncated"], cut)
        self.assertIn("%s: %d of %d packets were cut short by the capture's snapshot length (96 bytes kept)"
                      % (path, cut, stats["packets"]), err)
        self.assertIn("tcpdump -s 0", err)
        self.assertIn("truncated: %d packets cut short by the capture's snapshot length (96 bytes kept)" % cut, err)
        # the whole capture: no word of it
        rc, out, err = run(["-r", cap("seed.pcap")])
        self.assertEqual(events(out)[-1]["packets_truncated"], 0)
        self.assertNotIn("snapshot length", err)

    def test_flow_uids(self):
        runs = []
        for _ in range(2):
            rc, out, err = run(["-q", "-r", cap("seed.pcap")])
            self.assertEqual(rc, 0, err)
            ev = events(out)
            run_id = ev[-1]["run"]
            self.assertRegex(run_id, r"^[0-9a-f]{16}$")
            flows = [e for e in ev if e["event"] == "flow"]
            self.assertGreater(len(flows), 5)
            for f in flows:
                self.assertEqual(f["uid"], "%s-%d" % (run_id, f["flow"]))
            self.assertEqual(len({f["uid"] for f in flows}), len(flows))
            runs.append(run_id)
        self.assertNotEqual(runs[0], runs[1])
        rc, out, err = run(["-q", "-r", cap("seed.pcap"), "--run-id", "abc"])
        self.assertEqual(events(out)[-1]["run"], "0000000000000abc")
        for bad in ("0", "xyz", "1" * 17):
            rc, _, err = run(["-q", "-r", cap("seed.pcap"), "--run-id", bad])
            self.assertEqual(rc, 2, bad)

    def test_community_id_as_tshark(self):
        if not shutil.which("tshark"):
            self.skipTest("tshark missing (scripts/install-deps.sh installs it)")
        for name in ("seed.pcap", "seed-torture.pcapng", "seed-gaps.pcap"):
            rc, out, err = run(["-q", "--all-flows", "-r", cap(name)])
            self.assertEqual(rc, 0, err)
            ours = {e["community_id"] for e in events(out) if e["event"] == "flow"}
            self.assertGreater(len(ours), 5)
            p = subprocess.run(["tshark", "--enable-protocol", "communityid", "-n", "-r", cap(name),
                                "-T", "fields", "-e", "communityid", "-Y", "tcp or udp"],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            theirs = set(p.stdout.split())
            self.assertLessEqual(ours, theirs, name)


@unittest.skipUnless(os.geteuid() == 0, "live capture and -Z need root")
class Live(unittest.TestCase):
    """A live capture of TCP traffic the test sends over loopback."""

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        os.chmod(self.dir, 0o777)

    def tearDown(self):
        shutil.rmtree(self.dir)

    def traffic(self, port, stop):
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    s.sendall(b"VER 1 MSNP7 CVR0\r\n")
            except OSError:
                pass
            time.sleep(0.05)

    def test_live_count_promisc_stats_and_user(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(64)
        port = srv.getsockname()[1]
        accepted = []
        threading.Thread(target=lambda: [accepted.append(srv.accept()[0]) for _ in range(200)],
                         daemon=True).start()
        user = "nobody"
        js, pcap = os.path.join(self.dir, "ev.jsonl"), os.path.join(self.dir, "live.pcap")
        sniff = subprocess.Popen([MSNSNIFF, "-i", "lo", "-p", "-c", "30", "-Z", user, "-o", js, "-w", pcap,
                                  "tcp", "port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stop = threading.Event()
        t = threading.Thread(target=self.traffic, args=(port, stop), daemon=True)
        try:
            time.sleep(0.5)
            t.start()
            _, err = sniff.communicate(timeout=60)
        finally:
            stop.set()
            if sniff.poll() is None:
                sniff.kill()
                sniff.wait()
            srv.close()
            for c in accepted:
                c.close()
        err = err.decode()
        self.assertEqual(sniff.returncode, 0, err)
        self.assertIn("listening on lo (not promiscuous), link type EN10MB (Ethernet)", err)
        self.assertRegex(err, r"kernel: \d+ received, \d+ dropped, \d+ dropped by the interface")
        uid = pwd.getpwnam(user).pw_uid
        self.assertEqual(os.stat(js).st_uid, uid)  # created after the switch to the user
        self.assertEqual(os.stat(pcap).st_uid, uid)
        self.assertEqual(pcap_records(pcap), 30)
        with open(js) as f:
            ev = [json.loads(l) for l in f]
        stats = ev[-1]
        self.assertEqual(stats["event"], "stats")
        self.assertEqual((stats["source"], stats["link_type"], stats["packets"]), ("interface", "EN10MB", 30))
        self.assertGreaterEqual(stats["kernel_received"], 30)
        self.assertIsInstance(stats["kernel_dropped"], int)
        self.assertIsInstance(stats["interface_dropped"], int)
        # loopback: the kernel hands over each packet twice (sent, received)
        # and libpcap keeps one, so its count says nothing of losses
        self.assertIsNone(stats["kernel_lost"])

    def test_idle_capture_ticks(self):
        # Nothing is captured after the referral: the prediction still
        # expires (1 s) and the flow idles out (2 s) on the wall clock,
        # checked about once a second, not when the next packet comes.
        if not shutil.which("unshare") or not shutil.which("ip"):
            self.skipTest("unshare or ip missing: no network namespace of the test's own")
        if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
            self.skipTest("cannot create a network namespace here")
        js = os.path.join(self.dir, "idle.jsonl")
        p = subprocess.run(["unshare", "-n", sys.executable, "-c", IDLE_SCRIPT, MSNSNIFF, js], capture_output=True,
                           text=True, timeout=40)
        self.assertEqual(p.returncode, 0, p.stderr)
        got = json.loads(p.stdout)
        self.assertIn("expectation_miss", got, "no expectation_miss while the capture was idle")
        self.assertIn("flow", got, "the idle flow did not close while the capture was idle")
        self.assertLess(got["expectation_miss"], 4)
        self.assertLess(got["flow"], 6)

    def test_list_interfaces(self):
        rc, out, err = run(["-D"])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out.decode(), r"(?m)^\d+\.lo \[.*Loopback")

    def test_no_such_interface_points_to_d(self):
        rc, out, err = run(["-i", "nosuch0"])
        self.assertEqual(rc, 1, err)
        self.assertIn("msnsniff: nosuch0: no such interface; msnsniff -D lists the interfaces", err)

    def test_capturing_without_the_privilege_says_what_it_takes(self):
        """An unprivileged user on an interface, and on a log group: libpcap's
        words and the capability each needs."""
        if os.geteuid() != 0 or not shutil.which("setpriv"):
            self.skipTest("needs root and setpriv(1) to run msnsniff as nobody")
        unpriv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", MSNSNIFF]
        for iface, needs in (("lo", "capturing needs CAP_NET_RAW: run it as root, or give it the capability"),
                             ("nflog:5", "reading a netfilter log group needs CAP_NET_ADMIN (root)")):
            p = subprocess.run(unpriv + ["-i", iface], capture_output=True, text=True, timeout=TIMEOUT)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("msnsniff: %s: " % iface, p.stderr)
            self.assertIn(needs, p.stderr)

    def test_monitor_mode_only_on_wifi(self):
        """-I (tcpdump's monitor mode) on an interface without it, and on
        one that does not exist: said, exit 1, before anything is read."""
        if os.geteuid() != 0:
            self.skipTest("needs root to open an interface")
        rc, out, err = run(["-I", "-i", "lo"])
        self.assertEqual(rc, 1, err)
        self.assertIn("msnsniff: lo: monitor mode (-I) is not supported on this interface: only Wi-Fi", err)
        rc, out, err = run(["--monitor-mode", "-i", "nosuch0"])
        self.assertEqual(rc, 1, err)
        self.assertIn("msnsniff: nosuch0: no such interface; msnsniff -D lists the interfaces", err)

    def test_z_output_user_cannot_create(self):
        # -Z drops privileges before -o and -w are created: a directory
        # only root may write to is refused naming the user
        closed = os.path.join(self.dir, "root-only")
        os.mkdir(closed, 0o700)
        for opt, name in (("-o", "ev.jsonl"), ("-w", "x.pcap")):
            path = os.path.join(closed, name)
            rc, out, err = run(["-q", "-r", cap("seed.pcap"), "-Z", "nobody", opt, path])
            self.assertEqual(rc, 1, err)
            self.assertIn("msnsniff: %s: Permission denied: the file is created as user nobody" % path, err)
            self.assertFalse(os.path.exists(path))

    def test_z_extract_directory_user_cannot_write(self):
        # the files are carved as the -Z user: a directory only root may
        # write to made each one an anomaly, and the run ended with 0
        closed = os.path.join(self.dir, "root-only-extract")
        os.mkdir(closed, 0o755)
        rc, out, err = run(["-q", "-r", cap("seed.pcap"), "-Z", "nobody", "--extract", closed])
        self.assertEqual((rc, out), (2, b""), err)
        self.assertEqual(err, "msnsniff: --extract %s: Permission denied: the files are created as user nobody (-Z "
                         "drops privileges before any is): let nobody write there, or choose another place\n" % closed)
        os.chmod(closed, 0o777)
        rc, out, err = run(["-q", "-r", cap("seed.pcap"), "-Z", "nobody", "--extract", closed])
        self.assertEqual(rc, 0, err)
        carved = [e["path"] for e in events(out) if e["event"] == "file"]
        self.assertEqual(len(carved), 1)
        self.assertEqual(os.stat(carved[0]).st_uid, pwd.getpwnam("nobody").pw_uid)

    def test_z_later_file_user_cannot_read(self):
        # the files after the first are opened as the -Z user: one it may
        # not read passed the check made as root and ended the run after
        # the events of the files before it
        closed = os.path.join(self.dir, "root-only.pcap")
        shutil.copy(cap("seed.pcap"), closed)
        os.chmod(closed, 0o600)
        rc, out, err = run(["-q", "-Z", "nobody", "-r", cap("seed.pcap"), "-r", closed])
        self.assertEqual((rc, out), (1, b""), err)
        self.assertEqual(err, "msnsniff: %s: Permission denied: the files after the first are read as user nobody "
                         "(-Z drops privileges before they are opened): let nobody read it\n" % closed)

    def test_z_unknown_user(self):
        rc, out, err = run(["-q", "-r", cap("seed.pcap"), "-Z", "no-such-user-msnkit"])
        self.assertEqual(rc, 1)
        self.assertIn("no such user", err)


if __name__ == "__main__":
    unittest.main(verbosity=1)
