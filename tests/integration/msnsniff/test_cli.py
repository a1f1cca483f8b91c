#!/usr/bin/env python3
"""msnsniff command-line tests: the real binary on the committed captures
(events compared with the committed expected JSON), output modes, stdin,
BPF filters, carving, and broken input files (truncated, garbage,
snaplen-cut) that must end in a clean error naming the file and offset.

usage: test_cli.py MSNSNIFF MKCAPTURE CAPTURES_DIR
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

MSNSNIFF, MKCAPTURE, CAPTURES = sys.argv[1:4]
del sys.argv[1:4]
TIMEOUT = 60
# The committed outputs were written with this run id (flow uids, stats).
RUN_ID = "00000000c0ffee17"


def run(args, stdin=None, input_bytes=None):
    if "--run-id" not in args:
        args = ["--run-id", RUN_ID] + args
    p = subprocess.run([MSNSNIFF] + args, stdin=stdin, input=input_bytes,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def events(out):
    return [json.loads(line) for line in out.decode("utf-8").splitlines() if line.strip()]


def transcript_of_switchboard_stream(payloads):
    """msnsniff --transcript on a capture of one switchboard connection's
    client side picked up midway (no handshake, no USR/ANS): each payload
    one TCP segment, in order."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "sb.pcap")
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            seq = 1000
            for k, data in enumerate(payloads):
                tcp = struct.pack("!HHIIBBHHH", 1176, 1863, seq, 1, 0x50, 0x18, 65535, 0, 0) + data
                ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), k, 0, 64, 6, 0,
                                 bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
                frame = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp
                f.write(struct.pack("<IIII", 1117000000 + k, 0, len(frame), len(frame)) + frame)
                seq += len(data)
        return run(["-q", "--transcript", "-r", path])


def cap(name):
    return os.path.join(CAPTURES, name)


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


class Capture:
    """A small capture written by hand: TCP connections and UDP datagrams
    over IPv4 and Ethernet, one packet per millisecond, for cases the
    committed captures do not hold."""

    def __init__(self, start=1117000000, snaplen=65535):
        self.snaplen = snaplen  # frames are kept up to this many bytes
        self.frames = []
        self.start = start  # the first packet's time (seconds)
        self.later = []  # per frame: microseconds added by wait() before it
        self.waited = 0

    def wait(self, seconds):
        """The next packets come this much later (on top of the 1 ms each)."""
        self.waited += int(seconds * 1000000)

    def ip(self, src, dst, proto, payload):
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), len(self.frames), 0, 64, proto, 0,
                          bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
        self.frames.append(b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + hdr + payload)
        self.later.append(self.waited)

    def udp(self, src, sport, dst, dport, data):
        self.ip(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data)

    def dns_answer(self, qname, addresses, server="10.0.0.53", client="10.0.0.10"):
        """A DNS response giving qname these IPv4 addresses (A records)."""
        def name(n):
            return b"".join(bytes([len(p)]) + p.encode() for p in n.split(".")) + b"\0"
        body = struct.pack("!HHHHHH", 1, 0x8180, 1, len(addresses), 0, 0) + name(qname) + struct.pack("!HH", 1, 1)
        for a in addresses:
            body += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes(map(int, a.split(".")))
        self.udp(server, 53, client, 33333, body)

    def tcp(self, client, cport, server, sport, handshake=True, wscale=None):
        return TcpConnection(self, (client, cport), (server, sport), handshake, wscale)

    def bytes(self):
        data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, self.snaplen, 1)
        for k, frame in enumerate(self.frames):
            us = self.start * 1000000 + k * 1000 + self.later[k]
            kept = frame[:self.snaplen]
            data += struct.pack("<IIII", us // 1000000, us % 1000000, len(kept), len(frame)) + kept
        return data

    def run(self, args):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "hand.pcap")
            with open(path, "wb") as f:
                f.write(self.bytes())
            return run(args + ["-r", path])


class TcpConnection:
    def __init__(self, capture, client, server, handshake, wscale=None):
        self.capture, self.ends = capture, (client, server)
        self.next_seq = [1000, 5000]  # client, server
        self.window = 65535  # the window field of every segment (scaled by wscale after the SYNs)
        if handshake:
            # wscale: both SYNs carry a window scale option with this shift
            opts = b"" if wscale is None else b"\x01\x03\x03" + bytes([wscale])
            self.segment(0, SYN, advance=1, options=opts)
            self.segment(1, SYN | ACK, advance=1, options=opts)
            self.segment(0, ACK)

    def segment(self, from_server, flags, data=b"", seq=None, ack=None, advance=None, options=b""):
        (src, sport), (dst, dport) = self.ends[from_server], self.ends[not from_server]
        seq = self.next_seq[from_server] if seq is None else seq
        ack = self.next_seq[not from_server] if ack is None else ack
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                          (5 + len(options) // 4) << 4, flags, self.window, 0, 0) + options + data
        self.capture.ip(src, dst, 6, tcp)
        self.next_seq[from_server] += len(data) if advance is None else advance

    def send(self, from_server, data):
        self.segment(from_server, PSH | ACK, data.encode() if isinstance(data, str) else data)

    def c2s(self, data):
        self.send(0, data)

    def s2c(self, data):
        self.send(1, data)

    def close(self):
        self.segment(0, FIN | ACK, advance=1)
        self.segment(1, FIN | ACK, advance=1)
        self.segment(0, ACK)


def msg(first_line, body):
    return first_line.encode() + b" %d\r\n" % len(body) + body


def invitation(*fields):
    text = "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n"
    return (text + "".join("%s: %s\r\n" % f for f in fields) + "\r\n").encode()


def notification_login(capture, user="alice@example.com", client="10.0.0.10", answer="USR 3 OK %s Alice 1"):
    ns = capture.tcp(client, 1100, "64.4.12.132", 1863)
    ns.c2s("VER 1 MSNP7 CVR0\r\n")
    ns.s2c("VER 1 MSNP7\r\n")
    ns.c2s("USR 2 MD5 I %s\r\n" % user)
    ns.s2c("USR 2 MD5 S 1013928519.693957190\r\n")
    ns.c2s("USR 3 MD5 S 23e54a439a6a17d15025f4c6cbd0f6b5\r\n")
    ns.s2c((answer % user if "%s" in answer else answer) + "\r\n")
    return ns


def switchboard(capture, cport, server, cookie, other, user="alice@example.com", client="10.0.0.10"):
    """A switchboard alice opened and invited `other` to."""
    sb = capture.tcp(client, cport, server, 1863)
    sb.c2s("USR 1 %s %s\r\n" % (user, cookie))
    sb.s2c("USR 1 OK %s Alice\r\n" % user)
    sb.c2s("CAL 2 %s\r\n" % other)
    sb.s2c("CAL 2 RINGING 424242\r\n")
    sb.s2c("JOI %s Other\r\n" % other)
    return sb


def two_link_types_pcapng(raw_first=False):
    """A pcapng file of two interfaces, as Wireshark and dumpcap write a
    capture on several: Ethernet on the first (a login), Linux cooked (SLL)
    on the second (a switchboard with a message). Its bytes, and how many
    packets the second interface has. With raw_first, the first is raw IP
    (LINKTYPE_RAW, 101, which is DLT_RAW, 12, to libpcap) and the second
    Ethernet."""
    ns, sb = Capture(), Capture()
    notification_login(ns)
    board = switchboard(sb, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
    board.c2s(msg("MSG 3 N", b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nover the other interface"))

    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    def epb(ifid, us, frame):
        return block(6, struct.pack("<IIIII", ifid, us >> 32, us & 0xFFFFFFFF, len(frame), len(frame)) + frame)
    data = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    data += block(1, struct.pack("<HHI", 101 if raw_first else 1, 0, 262144))
    data += block(1, struct.pack("<HHI", 1 if raw_first else 113, 0, 262144))
    t0 = 1117000000 * 1000000
    for k, frame in enumerate(ns.frames):
        data += epb(0, t0 + k * 1000, frame[14:] if raw_first else frame)
    for k, frame in enumerate(sb.frames):
        sll = struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 6 + b"\0\0", 0x0800)
        data += epb(1, t0 + 500000 + k * 1000, frame if raw_first else sll + frame[14:])
    return data, len(sb.frames)


class Captures(unittest.TestCase):
    """The committed captures give exactly the committed events."""

    def check(self, capture, expected):
        rc, out, err = run(["-q", "-r", cap(capture)])
        self.assertEqual(rc, 0, err)
        with open(cap(expected), "rb") as f:
            want = f.read()
        if out != want:
            got_l, want_l = out.decode().splitlines(), want.decode().splitlines()
            for i, (g, w) in enumerate(zip(got_l, want_l)):
                if g != w:
                    self.fail("%s line %d differs:\n got  %s\n want %s" % (capture, i + 1, g, w))
            self.fail("%s: %d events, expected %d" % (capture, len(got_l), len(want_l)))

    def test_seed(self):
        self.check("seed.pcap", "seed.jsonl")

    def test_torture(self):
        self.check("seed-torture.pcapng", "seed-torture.jsonl")

    def test_gaps(self):
        self.check("seed-gaps.pcap", "seed-gaps.jsonl")

    def test_generator_is_deterministic(self):
        """The committed captures are what the generator writes today."""
        variants = {
            "seed.pcap": [],
            "seed-torture.pcapng": ["--mss", "300", "--reorder", "--dup", "--overlap", "--vlan", "7,9", "--pcapng"],
            "seed-gaps.pcap": ["--mss", "100", "--drop", "9", "--link", "sll"],
        }
        with tempfile.TemporaryDirectory() as d:
            for name, args in variants.items():
                out = os.path.join(d, name)
                subprocess.run([MKCAPTURE] + args + [out], check=True, timeout=TIMEOUT)
                with open(out, "rb") as a, open(cap(name), "rb") as b:
                    self.assertEqual(a.read(), b.read(), name)

    def test_torture_same_conversation(self):
        """Re-segmented, reordered, duplicated, overlapping, VLAN, pcapng:
        the same events as the plain capture once timestamps and flow
        records are set aside."""
        def norm(path):
            _, out, _ = run(["-q", "-r", path])
            keep = []
            for e in events(out):
                if e["event"] in ("flow", "anomaly", "stats"):
                    continue
                for k in ("ts", "expires", "delay_us", "offset"):
                    e.pop(k, None)
                keep.append(e)
            return keep
        self.assertEqual(norm(cap("seed.pcap")), norm(cap("seed-torture.pcapng")))


    def test_ipv6_fragments_same_conversation(self):
        """The scenario over IPv6, then the same with every packet above 200
        bytes fragmented (with extension headers around the fragment
        header): the same events; with --no-defrag, fragment anomalies."""
        d = tempfile.mkdtemp()
        try:
            plain, frag = os.path.join(d, "v6.pcap"), os.path.join(d, "v6frag.pcap")
            subprocess.run([MKCAPTURE, "--ipv6", "--ext6", "--mss", "700", plain], check=True, timeout=TIMEOUT)
            subprocess.run([MKCAPTURE, "--ipv6", "--ext6", "--mss", "700", "--frag6", "200", frag],
                           check=True, timeout=TIMEOUT)
            self.assertGreater(os.path.getsize(frag), os.path.getsize(plain))
            rc1, out1, err1 = run(["-q", "-r", plain])
            rc2, out2, err2 = run(["-q", "-r", frag])
            self.assertEqual((rc1, rc2), (0, 0), err1 + err2)
            def norm(out):
                keep = []
                for e in events(out):
                    if e["event"] in ("flow", "anomaly", "stats"):
                        continue
                    for k in ("ts", "expires", "delay_us", "offset"):
                        e.pop(k, None)
                    keep.append(e)
                return keep
            self.assertGreater(len(norm(out1)), 50)
            self.assertEqual(norm(out1), norm(out2))
            rc, out, err = run(["-q", "--no-defrag", "-r", frag])
            self.assertEqual(rc, 0, err)
            self.assertTrue(any(e["event"] == "anomaly" and e["kind"] == "fragment" for e in events(out)))
        finally:
            shutil.rmtree(d)


    def test_overlapping_fragments_with_other_contents(self):
        # A message sent as two IPv4 fragments, the second of them twice
        # with other text before the first arrives: the first copy is
        # kept, and the conflict is said as for TCP segments.
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        chat_on(sb, "setup")
        text = text_message("the first copy of these words is kept")
        tcp = struct.pack("!HHIIBBHHH", 1101, 1863, sb.next_seq[0], sb.next_seq[1], 0x50, PSH | ACK,
                          65535, 0, 0) + text
        sb.next_seq[0] += len(text)

        def fragment(offset, data, more):
            hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), 777, (0x2000 if more else 0) | offset // 8,
                              64, 6, 0, bytes([10, 0, 0, 10]), bytes([64, 4, 12, 193]))
            c.frames.append(b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + hdr + data)
            c.later.append(c.waited)
        half = len(tcp) // 2 // 8 * 8
        fragment(half, tcp[half:], False)
        fragment(half, tcp[half:].replace(b"kept", b"lost"), False)
        fragment(0, tcp[:half], True)
        sb.close()
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertEqual([e["text"] for e in ev if e["event"] == "message"],
                         ["setup", "the first copy of these words is kept"])
        conflict, = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "overlap_conflict"]
        self.assertIn("IPv4 fragment sent again", conflict["detail"])
        self.assertEqual(conflict["length"], len(tcp) - half)
        self.assertNotEqual(conflict["first_fnv1a64"], conflict["second_fnv1a64"])

    def test_ip_length_zero_from_large_send_offload(self):
        # Captured on the sending host, a segment the card cuts up later
        # has an IP length of 0: it is the rest of the frame (IPv4 total
        # length; the IPv6 payload length likewise).
        for v6 in (False, True):
            c = Capture()
            sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
            chat_on(sb, "sent through large send offload")
            sb.close()
            frames = []
            for frame in c.frames:
                ip = frame[14:]
                if v6:
                    hl = (ip[0] & 15) * 4
                    ip = struct.pack("!IHBB16s16s", 0x60000000, len(ip) - hl, 6, 64,
                                     b"\x20\x01\x0d\xb8" + bytes(11) + ip[12:13], b"\x20\x01\x0d\xb8" + bytes(11) + ip[16:17]) + ip[hl:]
                    frame = frame[:12] + b"\x86\xdd" + ip
                if len(ip) > 100:  # the message's segment
                    frame = frame[:14] + ip[:2] + b"\0\0" + ip[4:] if not v6 else frame[:18] + b"\0\0" + frame[20:]
                frames.append(frame)
            c.frames = frames
            rc, out, err = c.run(["-q"])
            self.assertEqual(rc, 0, err)
            ev = events(out)
            self.assertEqual([e for e in ev if e["event"] == "anomaly" and e["kind"] != "unknown_cookie"], [], v6)
            self.assertEqual([e["text"] for e in ev if e["event"] == "message"], ["sent through large send offload"], v6)

def pcap_frames(data):
    """The records of a classic little-endian pcap: (seconds, microseconds,
    frame, original length)."""
    assert struct.unpack("<I", data[:4])[0] == 0xA1B2C3D4
    out, off = [], 24
    while off + 16 <= len(data):
        sec, usec, caplen, wire = struct.unpack("<IIII", data[off:off + 16])
        out.append((sec, usec, data[off + 16:off + 16 + caplen], wire))
        off += 16 + caplen
    return out


def pcap_of(frames, linktype=1):
    data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)
    for sec, usec, frame in frames:
        data += struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame
    return data


def vlan(vid, tpid=0x8100):
    return struct.pack("!HH", tpid, vid)


def pppoe(ip, v6):
    """A PPPoE session header (version 1, type 1, code 0, session 0x1234),
    then PPP's protocol field: IPv4 0x0021 or IPv6 0x0057."""
    return b"\x88\x64" + struct.pack("!BBHHH", 0x11, 0, 0x1234, 2 + len(ip), 0x0057 if v6 else 0x0021) + ip


def mpls(ip, labels=(100, 200), ethertype=0x8847):
    """An MPLS label stack, the last label with the bottom-of-stack bit."""
    stack = b"".join(struct.pack("!I", label << 12 | (0x100 if k == len(labels) - 1 else 0) | 64)
                     for k, label in enumerate(labels))
    return struct.pack("!H", ethertype) + stack + ip


def snap(inner):
    """An IEEE 802.3 length, then LLC (DSAP/SSAP 0xAA, UI) and SNAP with
    OUI 0; inner starts with the Ethertype SNAP carries."""
    body = b"\xaa\xaa\x03\x00\x00\x00" + inner
    assert len(body) <= 1500
    return struct.pack("!H", len(body)) + body


class ScenarioFrames(unittest.TestCase):
    """The reference scenario over IPv4 and IPv6 as Ethernet frames
    (cls.plain[v6], a pcap), for tests that capture it otherwise."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        cls.plain = {}
        for v6 in (False, True):
            path = os.path.join(cls.dir, "plain%d.pcap" % v6)
            # segments of 1000 bytes: every 802.3 frame stays within 1500
            subprocess.run([MKCAPTURE, "--mss", "1000"] + (["--ipv6"] if v6 else []) + [path], check=True,
                           timeout=TIMEOUT)
            with open(path, "rb") as f:
                cls.plain[v6] = f.read()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    @staticmethod
    def norm(out):
        """The events but stats, without the flows' byte counts (which
        count the link headers)."""
        keep = []
        for e in events(out):
            if e["event"] == "stats":
                continue
            e.pop("bytes_c2s", None)
            e.pop("bytes_s2c", None)
            keep.append(e)
        return keep

    def run_frames(self, name, frames, linktype=1, args=("-q",)):
        path = os.path.join(self.dir, name + ".pcap")
        with open(path, "wb") as f:
            f.write(pcap_of(frames, linktype))
        return run(list(args) + ["-r", path])


class LinkEncapsulations(ScenarioFrames):
    """The reference scenario (logins, switchboards, messages,
    invitations) over IPv4 and IPv6, each Ethernet frame's Ethertype and IP
    packet put into PPPoE, MPLS or 802.3 LLC/SNAP, with VLAN tags before
    them and after SNAP: the same events as over plain Ethernet (the flows'
    byte counts, which count the link headers, aside)."""

    ENCAPSULATIONS = {
        "pppoe": lambda et, ip, v6: pppoe(ip, v6),
        "vlan-pppoe": lambda et, ip, v6: vlan(10) + pppoe(ip, v6),
        "mpls": lambda et, ip, v6: mpls(ip),
        "mpls-multicast": lambda et, ip, v6: mpls(ip, (300, 301), 0x8848),
        "qinq-mpls": lambda et, ip, v6: vlan(20, 0x88A8) + vlan(30) + mpls(ip),
        "snap": lambda et, ip, v6: snap(et + ip),
        "vlan-snap": lambda et, ip, v6: vlan(40) + snap(et + ip),
        "snap-vlan": lambda et, ip, v6: snap(vlan(50) + et + ip),
    }


    def test_same_events_as_over_ethernet(self):
        for v6 in (False, True):
            plain = pcap_frames(self.plain[v6])
            path = os.path.join(self.dir, "plain%d.pcap" % v6)
            rc, out, err = run(["-q", "-r", path])
            self.assertEqual(rc, 0, err)
            want = self.norm(out)
            kinds = {e["event"] for e in want}
            self.assertTrue({"login", "message", "invitation", "file"} <= kinds, kinds)
            for name, wrap in self.ENCAPSULATIONS.items():
                frames = []
                for sec, usec, frame, _ in plain:
                    self.assertEqual(frame[12:14], b"\x86\xdd" if v6 else b"\x08\x00")
                    frames.append((sec, usec, frame[:12] + wrap(frame[12:14], frame[14:], v6)))
                rc, out, err = self.run_frames(name, frames)
                self.assertEqual(rc, 0, err)
                got = self.norm(out)
                # flows name their outer VLAN, and the inner one of two
                outer = {"vlan-pppoe": 10, "qinq-mpls": 20, "vlan-snap": 40, "snap-vlan": 50}.get(name)
                inner = {"qinq-mpls": 30}.get(name)
                for e in got:
                    if e["event"] == "flow":
                        self.assertEqual((e.pop("vlan", None), e.pop("vlan_inner", None)), (outer, inner), name)
                self.assertEqual([e for e in got if e["event"] == "anomaly"], [], name)
                self.assertEqual([e for e in got if e["event"] in ("login", "message")],
                                 [e for e in want if e["event"] in ("login", "message")], "%s v6=%s" % (name, v6))
                self.assertEqual(got, want, "%s v6=%s" % (name, v6))

    def test_damaged_headers_are_malformed_packets(self):
        """A frame whose PPPoE, MPLS or LLC/SNAP header is damaged or cut
        short is a malformed packet, said as for the other headers."""
        ip = pcap_frames(self.plain[False])[0][2][14:]
        mac = b"\x02" * 6 + b"\x04" * 6
        too_deep = mpls(ip, tuple(range(1, 18)))  # 17 labels, the last the bottom
        cases = [
            (mac + pppoe(ip, False)[:5], "PPPoE header cut short"),
            (mac + b"\x88\x64\x12\x00" + pppoe(ip, False)[4:], "PPPoE version or type not 1"),
            (mac + pppoe(ip, False)[:9], "PPP protocol cut short"),
            (mac + mpls(ip)[:6], "MPLS label cut short"),
            (mac + mpls(ip)[:10], "MPLS payload cut short"),
            (mac + too_deep, "too many MPLS labels"),
            (mac + snap(b"\x08\x00" + ip)[:9], "SNAP header cut short"),
            (mac + b"\x00\x05\xaa\xaa\x03" + bytes(40), "802.3 length shorter than an LLC/SNAP header"),
            (mac + vlan(1) + vlan(2) + vlan(3) + snap(vlan(4) + vlan(5) + b"\x08\x00" + ip), "too many VLAN tags"),
        ]
        frames = [(1117000000 + k, 0, frame) for k, (frame, _) in enumerate(cases)]
        # what is fine but not for us: PPP's link control, a SNAP header
        # with another OUI, spanning tree's LLC, PPPoE discovery
        frames += [(1117000100, 0, mac + b"\x88\x64" + struct.pack("!BBHHH", 0x11, 0, 1, 6, 0xC021) + bytes(4)),
                   (1117000101, 0, mac + struct.pack("!H", 40) + b"\xaa\xaa\x03\x00\x00\x0c\x20\x00" + bytes(32)),
                   (1117000102, 0, mac + struct.pack("!H", 38) + b"\x42\x42\x03" + bytes(35)),
                   (1117000103, 0, mac + b"\x88\x63\x11\x09\x00\x00\x00\x00")]
        rc, out, err = self.run_frames("damaged", frames)
        self.assertEqual(rc, 0, err)
        details = [e["detail"] for e in events(out) if e["event"] == "anomaly" and e["kind"] == "malformed_packet"]
        self.assertEqual(details, [why for _, why in cases])
        rc, out, err = run(["-r", os.path.join(self.dir, "damaged.pcap")])
        self.assertIn("decode errors %d, not TCP/UDP 4" % len(cases), err)


def wifi_data(llc_body, qos=False, four_addr=False, protected=False, ht=False):
    """An 802.11 data frame (to the distribution system; with four_addr,
    between two wireless bridges), QoS data with qos (and HT control with
    ht), carrying llc_body."""
    subtype = 8 if qos else 0
    flags = (0x03 if four_addr else 0x01) | (0x40 if protected else 0) | (0x80 if ht else 0)
    hdr = bytes([subtype << 4 | 2 << 2, flags]) + b"\x2c\x00" + b"\x02\xaa" * 3 + b"\x02\xbb" * 3 + b"\x02\xcc" * 3
    hdr += struct.pack("<H", 0x0120)  # sequence 18, fragment 0
    if four_addr:
        hdr += b"\x02\xdd" * 3
    if qos:
        hdr += b"\x05\x00"
        if ht:
            hdr += b"\x00\x00\x00\x00"
    return hdr + llc_body


def llc_snap(et, ip):
    return b"\xaa\xaa\x03\x00\x00\x00" + et + ip


def radiotap(frame, flags=0x10, extended=False):
    """A radiotap header with TSFT, flags and rate (and with extended, a
    second presence word), then frame and, with flags 0x10, an FCS."""
    words = [0x80000007, 0] if extended else [0x00000007]
    head_len = 4 + 4 * len(words)
    off = (head_len + 7) & ~7  # TSFT is aligned to 8
    fields = bytes(off - head_len) + struct.pack("<QBB", 0x1122334455, flags, 22)
    hdr = struct.pack("<BBH", 0, 0, head_len + len(fields)) + b"".join(struct.pack("<I", w) for w in words) + fields
    return hdr + frame + (b"\xde\xad\xbe\xef" if flags & 0x10 else b"")


def ppi(frame, fcs=True, bad_fcs=False):
    """A PPI header with an 802.11-Common field, link type 802.11."""
    fl = (1 if fcs else 0) | (4 if bad_fcs else 0)
    common = struct.pack("<QHHHHBBbb", 0, fl, 108, 2437, 0x00a0, 0, 0, -40, -90)
    hdr = struct.pack("<BBHI", 0, 0, 8 + 4 + len(common), 105) + struct.pack("<HH", 2, len(common)) + common
    return hdr + frame + (b"\xde\xad\xbe\xef" if fcs else b"")


def nflog(ip, v6, big=False):
    """An NFLOG frame: family, version 0, group 5, then the packet header,
    prefix and payload attributes (lengths and types in the logging
    machine's byte order)."""
    order = ">" if big else "<"

    def tlv(kind, value):
        raw = struct.pack(order + "HH", 4 + len(value), kind) + value
        return raw + bytes(-len(raw) % 4)

    return (struct.pack("!BBH", 10 if v6 else 2, 0, 5) + tlv(1, b"\x08\x00\x03\x00") + tlv(10, b"msn\x00") +
            tlv(9, ip))


def pflog(ip, v6):
    """pf's log header of 61 bytes (64 with padding), address family
    AF_INET or OpenBSD's AF_INET6 (24)."""
    return bytes([61, 24 if v6 else 2]) + bytes(62) + ip


class OtherLinkTypes(ScenarioFrames):
    """The reference scenario over IPv4 and IPv6, each packet captured on
    other links than Ethernet: Wi-Fi in monitor mode (802.11 plain, with
    radiotap or PPI headers, QoS, four addresses, an FCS), PPP, PPPoE
    without Ethernet, Cisco HDLC, pf's and netfilter's logs: the same
    events as over Ethernet."""

    LINKS = {
        "wifi": (105, lambda et, ip, v6: wifi_data(llc_snap(et, ip))),
        "wifi-qos-4addr": (105, lambda et, ip, v6: wifi_data(llc_snap(et, ip), qos=True, four_addr=True)),
        "wifi-qos-ht": (105, lambda et, ip, v6: wifi_data(llc_snap(et, ip), qos=True, ht=True)),
        "radiotap-fcs": (127, lambda et, ip, v6: radiotap(wifi_data(llc_snap(et, ip), qos=True))),
        "radiotap-ext": (127, lambda et, ip, v6: radiotap(wifi_data(llc_snap(et, ip)), flags=0, extended=True)),
        # QoS data's 26-byte header padded to 28 (the radiotap flag 0x20)
        "radiotap-datapad": (127, lambda et, ip, v6: radiotap(wifi_data(b"\0\0" + llc_snap(et, ip), qos=True),
                                                             flags=0x30)),
        "ppi": (192, lambda et, ip, v6: ppi(wifi_data(llc_snap(et, ip)))),
        "ppp": (9, lambda et, ip, v6: b"\xff\x03" + (b"\x00\x57" if v6 else b"\x00\x21") + ip),
        "ppp-acfc-pfc": (9, lambda et, ip, v6: (b"\x57" if v6 else b"\x21") + ip),
        "ppp-serial": (50, lambda et, ip, v6: b"\xff\x03" + (b"\x00\x57" if v6 else b"\x00\x21") + ip),
        "ppp-serial-chdlc": (50, lambda et, ip, v6: b"\x0f\x00" + et + ip),
        "pppoe-no-ethernet": (51, lambda et, ip, v6: pppoe(ip, v6)[2:]),
        "cisco-hdlc": (104, lambda et, ip, v6: b"\x8f\x00" + et + ip),
        "pflog": (117, lambda et, ip, v6: pflog(ip, v6)),
        "nflog": (239, lambda et, ip, v6: nflog(ip, v6)),
        "nflog-big-endian": (239, lambda et, ip, v6: nflog(ip, v6, big=True)),
    }

    def test_same_events_as_over_ethernet(self):
        for v6 in (False, True):
            plain = pcap_frames(self.plain[v6])
            rc, out, err = run(["-q", "-r", os.path.join(self.dir, "plain%d.pcap" % v6)])
            self.assertEqual(rc, 0, err)
            want = self.norm(out)
            self.assertTrue({"login", "message", "invitation", "file"} <= {e["event"] for e in want})
            for name, (linktype, wrap) in self.LINKS.items():
                frames = [(sec, usec, wrap(frame[12:14], frame[14:], v6)) for sec, usec, frame, _ in plain]
                rc, out, err = self.run_frames(name, frames, linktype)
                self.assertEqual(rc, 0, "%s: %s" % (name, err))
                got = self.norm(out)
                self.assertEqual([e for e in got if e["event"] == "anomaly"], [], name)
                self.assertEqual(got, want, "%s v6=%s" % (name, v6))

    def message_frame(self, plain):
        """The index of the first frame that carries a chat message."""
        for k, (_, _, frame, _) in enumerate(plain):
            if b"MSG " in frame and b"text/plain" in frame:
                return k
        self.fail("no chat message in the scenario")

    def test_frames_damaged_in_the_air_are_not_analysed(self):
        """A copy of a message's frame with other bytes, sent first with the
        radio header's (radiotap or PPI) wrong-FCS flag, is left out: the
        message is the good copy's, and the summary counts it."""
        plain = pcap_frames(self.plain[False])
        k = self.message_frame(plain)
        for name, linktype, good, bad in (
                ("radiotap", 127, lambda f: radiotap(f), lambda f: radiotap(f, flags=0x50)),
                ("ppi", 192, lambda f: ppi(f), lambda f: ppi(f, bad_fcs=True))):
            frames = []
            for j, (sec, usec, frame, _) in enumerate(plain):
                body = wifi_data(llc_snap(frame[12:14], frame[14:]))
                if j == k:
                    frames.append((sec, usec, bad(body.replace(b"text/plain", b"text/plaiX"))))
                frames.append((sec, usec, good(body)))
            rc, out, err = self.run_frames("fcs-" + name, frames, linktype, args=())
            self.assertEqual(rc, 0, err)
            self.assertEqual([e for e in events(out) if e["event"] == "anomaly"], [], name)
            self.assertIn("802.11: 0 data frames encrypted (their contents cannot be read), 1 damaged in the air",
                          err, name)
            rc, want, _ = run(["-q", "-r", os.path.join(self.dir, "plain0.pcap")])
            self.assertEqual([e.get("text") for e in events(out) if e["event"] == "message"],
                             [e.get("text") for e in events(want) if e["event"] == "message"], name)

    def test_encrypted_and_other_frames_are_counted_not_decoded(self):
        ip = pcap_frames(self.plain[False])[0][2][14:]
        body = llc_snap(b"\x08\x00", ip)
        frames = [
            (1117000000, 0, wifi_data(body, protected=True)),
            (1117000001, 0, wifi_data(body, protected=True, qos=True)),
            (1117000002, 0, b"\x80\x00" + bytes(36)),  # a beacon
            (1117000003, 0, b"\x48\x01" + bytes(22)),  # null function
            (1117000004, 0, wifi_data(body)[:1] + bytes([0x05]) + wifi_data(body)[2:]),  # more fragments
            (1117000005, 0, wifi_data(body, qos=True)[:24] + b"\x85\x00" + body),  # A-MSDU
        ]
        rc, out, err = self.run_frames("wifi-skipped", frames, 105, args=())
        self.assertEqual(rc, 0, err)
        self.assertIn("not TCP/UDP 6", err)
        self.assertIn("802.11: 2 data frames encrypted", err)
        self.assertEqual([e for e in events(out) if e["event"] == "anomaly"], [])

    def test_damaged_headers_are_malformed_packets(self):
        ip = pcap_frames(self.plain[False])[0][2][14:]
        wifi = wifi_data(llc_snap(b"\x08\x00", ip))
        cases = [
            (105, wifi[:20], "802.11 header cut short"),
            (105, wifi_data(b"", qos=True, ht=True)[:29], "802.11 header cut short"),
            (127, radiotap(wifi)[:6], "radiotap header cut short"),
            (127, b"\x01" + radiotap(wifi)[1:], "radiotap version not 0"),
            (127, radiotap(wifi)[:2] + b"\x04\x00" + radiotap(wifi)[4:], "radiotap length shorter than its header"),
            (127, b"\x00\x00\x0c\x00\x00\x00\x00\x80\x00\x00\x00\x80" + wifi, "radiotap presence words beyond its length"),
            (127, b"\x00\x00\x08\x00\x02\x00\x00\x00" + wifi, "radiotap fields beyond its length"),
            (192, ppi(wifi)[:7], "PPI header cut short"),
            (192, ppi(wifi)[:8] + b"\x02\x00\x40\x00" + ppi(wifi)[12:], "PPI field beyond its header"),
            (9, b"\xff\x03\x00", "PPP protocol cut short"),
            (104, b"\x0f\x00\x08", "Cisco HDLC header cut short"),
            (117, bytes([61, 2]) + bytes(20), "pflog header cut short"),
            (117, bytes([20, 2]) + bytes(60), "pflog header length below 45"),
            (239, b"\x02\x00", "NFLOG header cut short"),
            (239, b"\x02\x01\x00\x05" + bytes(8), "NFLOG version not 0"),
            (239, b"\x02\x00\x00\x05\x02\x00\x01\x00" + bytes(8), "NFLOG attribute length beyond the frame"),
        ]
        for linktype, frame, why in cases:
            rc, out, err = self.run_frames("damaged-%d" % linktype, [(1117000000, 0, frame)], linktype)
            self.assertEqual(rc, 0, err)
            details = [e["detail"] for e in events(out) if e["event"] == "anomaly" and e["kind"] == "malformed_packet"]
            self.assertEqual(details, [why], (linktype, frame[:16]))

    def test_a_payload_cut_by_the_snaplen(self):
        """An NFLOG payload attribute cut short by the snapshot length (its
        length says more than the frame holds) is the packet's start."""
        plain = pcap_frames(self.plain[False])
        frames = [(sec, usec, nflog(frame[14:], False)) for sec, usec, frame, _ in plain]
        path = os.path.join(self.dir, "nflog-cut.pcap")
        data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 96, 239)
        for sec, usec, frame in frames:
            data += struct.pack("<IIII", sec, usec, min(len(frame), 96), len(frame)) + frame[:96]
        with open(path, "wb") as f:
            f.write(data)
        rc, out, err = run(["-r", path])
        self.assertEqual(rc, 0, err)
        self.assertIn("decode errors 0, not TCP/UDP 0", err)
        self.assertIn("truncated: %d packets" % sum(1 for _, _, f in frames if len(f) > 96), err)


class Modes(unittest.TestCase):
    def test_stdin(self):
        with open(cap("seed.pcap"), "rb") as f:
            rc, out, err = run(["-q", "-r", "-"], stdin=f)
        self.assertEqual(rc, 0, err)
        with open(cap("seed.jsonl"), "rb") as f:
            self.assertEqual(out, f.read())
        # a closed standard input is said as such, not as an empty capture
        p = subprocess.run([MSNSNIFF, "-q", "-r", "-"], stdin=None, capture_output=True, timeout=TIMEOUT,
                           preexec_fn=lambda: os.close(0))
        self.assertEqual((p.returncode, p.stdout), (1, b""))
        self.assertEqual(p.stderr.decode(), "msnsniff: (stdin): Bad file descriptor: standard input is closed; "
                         "give the capture on it, or with -r FILE\n")

    def test_documented_samples_have_the_real_shape(self):
        """The summary lines and the --nft lines docs/msnsniff.md shows are
        written as msnsniff writes them: the same words, numbers aside."""
        doc_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "docs", "msnsniff.md")
        with open(doc_path) as f:
            blocks = re.findall(r"^```\n(.*?)^```", f.read(), re.S | re.M)
        shape = lambda l: re.sub(r"[0-9][0-9.]*", "N", l.rstrip())
        rc, out, err = run(["-q", "-r", cap("seed.pcap"), "--nft"])
        self.assertEqual(rc, 0, err)
        nft = {shape(l) for l in out.decode().splitlines()}
        rc, _, err = run(["-r", cap("seed.pcap")])
        self.assertEqual(rc, 0, err)
        summary = {shape(l) for l in err.splitlines()}
        checked = 0
        for block in blocks:
            for line in block.splitlines():
                if re.match(r"  [a-z ()]+(: |:$)", line):
                    self.assertIn(shape(line), summary, line)
                elif re.match(r"(add|delete) (table|set|element|chain|rule) ", line) and "cancelled" not in line:
                    self.assertIn(shape(line), nft, line)
                else:
                    continue
                checked += 1
        self.assertGreaterEqual(checked, 8)

    def test_standard_input_reads_as_the_file(self):
        """cat FILE | msnsniff -r - gives what msnsniff -r FILE gives: the
        same events, summary and messages (the file named "(stdin)"), for
        classic pcap, pcapng, a pcapng file of interfaces of two link types
        (which libpcap refuses), and every seed of the capture-file fuzzer
        (damaged files among them)."""
        fuzz = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "fuzz", "corpus",
                            "pcap_file")
        with tempfile.TemporaryDirectory() as d:
            two = os.path.join(d, "two-link-types.pcapng")
            with open(two, "wb") as f:
                f.write(two_link_types_pcapng()[0])
            paths = [cap("seed.pcap"), cap("seed-torture.pcapng"), cap("seed-gaps.pcap"), two]
            paths += sorted(os.path.join(fuzz, n) for n in os.listdir(fuzz))
            for path in paths:
                rc, out, err = run(["-r", path])
                if path == two:
                    self.assertEqual(rc, 0, err)
                    self.assertEqual([e["text"] for e in events(out) if e["event"] == "message"],
                                     ["over the other interface"])
                with open(path, "rb") as f:
                    cat = subprocess.Popen(["cat"], stdin=f, stdout=subprocess.PIPE)
                    try:
                        rc2, out2, err2 = run(["-r", "-"], stdin=cat.stdout)
                    finally:
                        cat.stdout.close()
                        cat.wait(timeout=TIMEOUT)
                self.assertEqual((rc2, err2.replace("(stdin)", path)), (rc, err), path)
                self.assertEqual(out2, out, path)

    def test_standard_input_is_analysed_as_it_comes(self):
        """A pipe that delivers a capture a piece at a time (tcpdump -U -w -):
        the events of the packets it delivered come out before the rest is
        written, and -c ends the run while the pipe is still open."""
        import threading
        with open(cap("seed.pcap"), "rb") as f:
            data = f.read()
        with subprocess.Popen([MSNSNIFF, "--run-id", RUN_ID, "-U", "-q", "-r", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL) as p:
            # should no event come, the input is closed after TIMEOUT and
            # readline returns
            timer = threading.Timer(TIMEOUT, p.kill)
            timer.start()
            try:
                p.stdin.write(data[:4000])
                p.stdin.flush()
                first = p.stdout.readline()
                early = p.poll() is None
                p.stdin.write(data[4000:])
                p.stdin.close()
                rest = p.stdout.read()
                p.wait()
            finally:
                timer.cancel()
        self.assertTrue(early and first.startswith(b'{"event":'), first)
        self.assertEqual(p.returncode, 0)
        with open(cap("seed.jsonl"), "rb") as f:
            self.assertEqual(first + rest, f.read())
        with subprocess.Popen([MSNSNIFF, "-q", "-c", "5", "-r", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL) as p:
            try:
                p.stdin.write(data[:20000])  # more than 5 packets, less than a pipe holds
                p.stdin.flush()
                rc = p.wait(timeout=TIMEOUT)  # stdin still open: -c alone ends the run
            finally:
                if p.poll() is None:
                    p.kill()
                try:
                    p.stdin.close()
                except BrokenPipeError:
                    pass
        self.assertEqual(rc, 0)

    def test_packet_buffered_writes_packets_as_they_come(self):
        """-U is tcpdump's: -w - gets each packet as it is read, not
        4 KiB at a time (the stdio buffer held them to the end)."""
        import select
        with open(cap("seed.pcap"), "rb") as f:
            data = f.read()
        first = 24 + 16 + struct.unpack("<I", data[32:36])[0]  # the file header and the first record
        with subprocess.Popen([MSNSNIFF, "-U", "-q", "-r", "-", "-w", "-", "-o", os.devnull], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as p:
            try:
                p.stdin.write(data[:first])
                p.stdin.flush()
                ready, _, _ = select.select([p.stdout], [], [], 10)
                early = os.read(p.stdout.fileno(), 65536) if ready else b""
                p.stdin.write(data[first:])
                p.stdin.close()
                rest = p.stdout.read()
                p.wait(timeout=TIMEOUT)
            finally:
                if p.poll() is None:
                    p.kill()
        self.assertEqual(early, data[:first])
        self.assertEqual(early + rest, data)
        self.assertEqual(p.returncode, 0)

    def test_a_signal_ends_reading_a_silent_pipe(self):
        """SIGTERM ends a run reading a pipe whose writer stays silent, as it
        ends a run reading a file: the events so far, the summary, status 0."""
        import signal
        import threading
        import time
        with open(cap("seed.pcap"), "rb") as f:
            data = f.read()
        with subprocess.Popen([MSNSNIFF, "-U", "-r", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) as p:
            timer = threading.Timer(TIMEOUT, p.kill)
            timer.start()
            try:
                p.stdin.write(data[:20000])  # ends inside a record
                p.stdin.flush()
                first = p.stdout.readline()  # it is reading
                time.sleep(1)  # and waits for the rest of the record
                p.send_signal(signal.SIGTERM)
                try:
                    rc = p.wait(timeout=10)  # the pipe stays open
                except subprocess.TimeoutExpired:
                    rc = None
                timer.cancel()
                if rc is None:
                    p.kill()
                out, err = p.stdout.read(), p.stderr.read().decode()
                p.stdin.close()
            finally:
                timer.cancel()
        self.assertTrue(first.startswith(b'{"event":'), first)
        self.assertEqual(rc, 0, "still reading the pipe after SIGTERM")
        self.assertIn("msnsniff summary", err)
        self.assertNotIn("truncated", err)

    def test_filter(self):
        rc, out, err = run(["-q", "-r", cap("seed.pcap"), "tcp", "port", "6891"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        kinds = {e["event"] for e in ev}
        self.assertIn("file", kinds)
        self.assertNotIn("login", kinds)
        rc, _, err = run(["-q", "-r", cap("seed.pcap"), "tcp", "port", "frobnicate"])
        self.assertEqual(rc, 2)
        self.assertIn("filter", err)
        # a filter is as long as it needs to be, as tcpdump's: one over
        # 4 KiB (a list of hosts) was refused as "too long"
        hosts = " or ".join("host 192.0.2.%d" % (i % 250 + 1) for i in range(300))
        self.assertGreater(len(hosts), 4096)
        rc, out2, err = run(["-q", "-r", cap("seed.pcap"), "tcp", "port", "6891", "and", "not", "(", hosts, ")"])
        self.assertEqual((rc, out2), (0, out), err)
        # refused, it is shown by its start: libpcap's reason still fits
        rc, _, err = run(["-q", "-r", cap("seed.pcap"), hosts, "or", "tcp", "port"])
        self.assertEqual(rc, 2)
        self.assertRegex(err, r'^msnsniff: filter "host 192\.0\.2\.1 or .{100,200} \.\.\.": can\'t parse filter '
                         r'expression: syntax error\n$')

    def test_transcript(self):
        rc, out, err = run(["-q", "--transcript", "-r", cap("seed.pcap")])
        self.assertEqual(rc, 0, err)
        text = out.decode()
        self.assertIn("[example@passport.com] hello! how are you?", text)
        self.assertIn("name_123@hotmail.com is typing", text)
        self.assertIn("fine, thanks 你好", text)
        self.assertIn("logged in (MSNP7)", text)

    def test_transcript_of_a_session_picked_up_midway(self):
        # No USR/ANS captured: the switchboard's user is unknown. The
        # transcript names a typist by its own TypingUser header and shows
        # an unknown sender as "?", not as an empty name, in its messages
        # and its invitations alike.
        typing = (b"MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\n"
                  b"TypingUser: carol@example.com\r\n\r\n\r\n")
        text = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nsee you"
        offer = invitation(("Application-Name", "File Transfer"), ("Invitation-Command", "INVITE"),
                           ("Invitation-Cookie", "777"), ("Application-File", "a.txt"))
        payloads = [b"MSG 77 U %d\r\n" % len(typing) + typing, b"MSG 78 N %d\r\n" % len(text) + text,
                    msg("MSG 79 N", offer)]
        rc, out, err = transcript_of_switchboard_stream(payloads)
        self.assertEqual(rc, 0, err)
        lines = out.decode().splitlines()
        self.assertEqual(len(lines), 3, lines)
        self.assertTrue(lines[0].endswith("<sb1> carol@example.com is typing"), lines)
        self.assertTrue(lines[1].endswith("<sb1> [?] see you"), lines)
        self.assertTrue(lines[2].endswith("<sb1> *** ? INVITE file_transfer (cookie 777)"), lines)

    def test_transcript_of_a_refused_login(self):
        # the server answers the credentials with 911: no one logged in
        c = Capture()
        ns = notification_login(c, answer="911 3")
        ns.close()
        rc, out, err = c.run(["-q", "--transcript"])
        self.assertEqual(rc, 0, err)
        lines = out.decode().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].endswith("] *** alice@example.com login failed (911 authentication failed)"), lines)

    def test_transcript_shows_hostile_text_without_obeying_it(self):
        # What the peers sent is printed for a terminal: an escape sequence
        # in a message or a name (clear the screen, retitle the window, a
        # bidirectional override, a lone CR that overwrites the line) is
        # written as visible characters, never as the bytes themselves.
        typing = (b"MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\n"
                  b"TypingUser: eve\x1b]0;owned\x07@example.com\r\n\r\n\r\n")
        text = (b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
                b"hi\x1b[2J\x1b[31mred\r\nline two\rX \xe2\x80\xaeevil\x9b \xff")
        payloads = [b"MSG 77 U %d\r\n" % len(typing) + typing, b"MSG 78 N %d\r\n" % len(text) + text]
        rc, out, err = transcript_of_switchboard_stream(payloads)
        self.assertEqual(rc, 0, err)
        for byte in (b"\x1b", b"\x07", b"\r", b"\xe2\x80\xae", b"\x9b", b"\xff"):
            self.assertNotIn(byte, out)
        lines = out.decode().splitlines()
        self.assertEqual(len(lines), 3, lines)
        self.assertTrue(lines[0].endswith("<sb1> eve^[]0;owned^G@example.com is typing"), lines)
        self.assertTrue(lines[1].endswith("<sb1> [?] hi^[[2J^[[31mred"), lines)
        # (bytes that are not UTF-8 were replaced when the event was made)
        self.assertEqual(lines[2], "    line two^MX <U+202E>evil\ufffd \ufffd")

    def test_nft(self):
        rc, out, err = run(["-q", "--nft", "-r", cap("seed.pcap")])
        self.assertEqual(rc, 0, err)
        text = out.decode()
        self.assertIn("add table inet msnsniff", text)
        self.assertIn("add element inet msnsniff msn4 { 10.44.102.65 . tcp . 6891 timeout 300s }", text)
        self.assertIn("{ 10.44.102.65 . udp . 5004 timeout 300s }", text)
        self.assertIn("{ 10.1.1.211 . tcp . 13374 timeout 300s }", text)
        self.assertIn("msn4any { 10.44.102.65 . tcp timeout 300s }", text)

    def test_nft_loads_into_nftables(self):
        # The commands go into a real nftables ruleset (in a network
        # namespace of the test's own) and the sets then hold exactly the
        # predicted connections the JSON events name, with their timeouts.
        if not shutil.which("nft") or not shutil.which("unshare"):
            self.skipTest("nft or unshare missing (scripts/install-deps.sh installs nftables)")
        if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
            self.skipTest("cannot create a network namespace here")
        for name in ("seed.pcap", "seed-torture.pcapng"):
            rc, out, err = run(["-q", "-r", cap(name)])
            self.assertEqual(rc, 0, err)
            want, ended = {}, set()
            for e in events(out):
                if e["event"] == "expectation" and e.get("resolved"):
                    want[e["id"]] = (e["resolved"], e["transport"], e["port"])
                elif e["event"] in ("expectation_hit", "expectation_miss"):
                    ended.add(e["id"])
            # one that was neither hit nor missed was withdrawn (a sibling's
            # hit, a CANCEL): its element is deleted again
            want = {v for k, v in want.items() if k in ended}
            self.assertGreater(len(want), 5)
            rc, out, err = run(["-q", "--nft", "-r", cap(name)])
            self.assertEqual(rc, 0, err)
            with tempfile.NamedTemporaryFile("wb", suffix=".nft") as f:
                f.write(out)
                f.flush()
                p = subprocess.run(["unshare", "-n", "sh", "-c", 'nft -f "$1" && nft -j list ruleset', "sh", f.name],
                                   capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            got = set()
            for item in json.loads(p.stdout)["nftables"]:
                s = item.get("set")
                if not s or s.get("table") != "msnsniff":
                    continue
                for el in s.get("elem", []):
                    el = el["elem"]
                    self.assertEqual(el["timeout"], 300, el)  # --expect-timeout's default
                    v = el["val"]["concat"]
                    got.add((v[0], v[1], v[2] if len(v) == 3 else "any"))
            self.assertEqual(got, want, name)
        # the longest --expect-timeout: nft takes at most 8 digits of
        # seconds ("value too large" refused the whole script)
        rc, out, err = run(["-q", "--nft", "--expect-timeout", "4294967295", "-r", cap("seed.pcap")])
        self.assertEqual(rc, 0, err)
        self.assertIn(b" timeout 49710d23295s } ", out)
        p = subprocess.run(["unshare", "-n", "sh", "-c", "nft -f - && nft -j list ruleset"], input=out,
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        timeouts = {el["elem"]["timeout"] for item in json.loads(p.stdout)["nftables"] if "set" in item
                    for el in item["set"].get("elem", [])}
        self.assertEqual(timeouts, {4294967295})

    def test_nft_deletes_withdrawn_predictions(self):
        # alice announces port 6891 for two file transfers (41, 42), 6892
        # for a third (43) and 6893 in an ACCEPT the switchboard refuses
        # (44). bob cancels 41 and 43: the script deletes 6892 (nobody
        # else holds it) but keeps 6891 (42 still does) and deletes 6893
        # (the peer never learned it); cancelling 42 as well deletes 6891.
        # The script loads into real nftables and leaves what is left.
        def scenario(cancel_all):
            c = Capture()
            sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
            for k, (cookie, port) in enumerate(((41, 6891), (42, 6891), (43, 6892), (44, 6893))):
                sb.c2s(msg("MSG %d N" % (4 + 2 * k), invitation(
                    ("Application-Name", "File Transfer"),
                    ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"),
                    ("Invitation-Command", "INVITE"), ("Invitation-Cookie", str(cookie)),
                    ("Application-File", "a.txt"), ("Application-FileSize", "5"))))
                sb.s2c(msg("MSG bob@example.com Bob", invitation(("Invitation-Command", "ACCEPT"),
                                                                 ("Invitation-Cookie", str(cookie)))))
                sb.c2s(msg("MSG %d N" % (5 + 2 * k), invitation(
                    ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", str(cookie)),
                    ("IP-Address", "10.0.0.10"), ("Port", str(port)), ("AuthCookie", "7"))))
            sb.s2c("201 11\r\n")  # the ACCEPT of 44
            for cookie in (41, 43, 42) if cancel_all else (41, 43):
                sb.s2c(msg("MSG bob@example.com Bob", invitation(
                    ("Invitation-Command", "CANCEL"), ("Invitation-Cookie", str(cookie)),
                    ("Cancel-Code", "REJECT"))))
            rc, out, err = c.run(["-q", "--nft"])
            self.assertEqual(rc, 0, err)
            return out.decode()

        text = scenario(False)
        deletes = [line.split(" } ")[0] for line in text.splitlines() if line.startswith("delete element")]
        self.assertEqual(deletes, ["delete element inet msnsniff msn4 { 10.0.0.10 . tcp . 6893",
                                   "delete element inet msnsniff msn4 { 10.0.0.10 . tcp . 6892"], text)
        self.assertIn("# file_transfer cookie 43 cancelled\n", text)
        deletes = [line.split(" } ")[0] for line in scenario(True).splitlines() if line.startswith("delete element")]
        self.assertEqual(deletes[2:], ["delete element inet msnsniff msn4 { 10.0.0.10 . tcp . 6891"])
        if not shutil.which("nft") or subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode:
            self.skipTest("nft or network namespaces missing here")
        for cancel_all, want in ((False, [["10.0.0.10", "tcp", 6891]]), (True, [])):
            with tempfile.NamedTemporaryFile("w", suffix=".nft") as f:
                f.write(scenario(cancel_all))
                f.flush()
                p = subprocess.run(["unshare", "-n", "sh", "-c", 'nft -f "$1" && nft -j list set inet msnsniff msn4',
                                    "sh", f.name], capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            got = [el["elem"]["val"]["concat"] for item in json.loads(p.stdout)["nftables"] if "set" in item
                   for el in item["set"].get("elem", [])]
            self.assertEqual(got, want, cancel_all)

    def test_nft_table_is_an_identifier(self):
        # The name is written into the script: one that would end the
        # command (a space, a ';') or is not an nft identifier is refused
        # before anything is printed.
        for name in ("", "my table", "x; flush ruleset; add table inet y", "1x", "a" * 64, "t-1"):
            rc, out, err = run(["-q", "--nft", "--nft-table", name, "-r", cap("seed.pcap")])
            self.assertEqual((rc, out), (2, b""), (name, err))
            self.assertIn('msnsniff: --nft-table: "%s" is not an nftables table name' % name, err)
            self.assertIn("letters, digits and _", err)
        rc, out, err = run(["-q", "--nft", "--nft-table", "_Msn_2", "-r", cap("seed.pcap")])
        self.assertEqual(rc, 0, err)
        self.assertIn("add table inet _Msn_2", out.decode())

    def test_nft_name_answered_later(self):
        # A switchboard announced by name, answered by DNS 200 s into its
        # 300 s: the element gets the 100 s left, not the whole timeout.
        c = Capture()
        ns = notification_login(c)
        ns.c2s("XFR 10 SB\r\n")
        ns.s2c("XFR 10 SB sb1.example.net:1863 CKI 1.2.3\r\n")
        c.wait(200)
        c.dns_answer("sb1.example.net", ["64.4.12.193"])
        rc, out, err = c.run(["-q", "--nft"])
        self.assertEqual(rc, 0, err)
        m = re.search(r"add element inet msnsniff msn4 \{ 64\.4\.12\.193 \. tcp \. 1863 timeout (\d+)s \}",
                      out.decode())
        self.assertTrue(m, out.decode())
        self.assertIn(int(m.group(1)), (99, 100))

    def test_fully_qualified_names_are_the_same_names(self):
        # "sb1.example.net." (with the root's dot) and the DNS answer for
        # "sb1.example.net" name one host, in either order
        for answer_first in (False, True):
            c = Capture()
            if answer_first:
                c.dns_answer("sb1.example.net", ["64.4.12.193"])
            ns = notification_login(c)
            ns.c2s("XFR 10 SB\r\n")
            ns.s2c("XFR 10 SB sb1.example.net.:1863 CKI 1.2.3\r\n")
            if not answer_first:
                c.dns_answer("sb1.example.net", ["64.4.12.193"])
            rc, out, err = c.run(["-q", "--nft"])
            self.assertEqual(rc, 0, err)
            self.assertIn("add element inet msnsniff msn4 { 64.4.12.193 . tcp . 1863 timeout", out.decode(),
                          answer_first)

    def test_summary(self):
        rc, out, err = run(["--summary", "-o", os.devnull, "-r", cap("seed.pcap")])
        self.assertEqual(rc, 0, err)
        text = out.decode()
        self.assertIn("example@passport.com (MSNP7)", text)
        self.assertIn("connections: predicted 13, matched 10, missed 1, retired 2", text)
        self.assertIn("file_transfer 1", text)

    def test_extract(self):
        d = tempfile.mkdtemp()
        try:
            rc, out, err = run(["-q", "--extract", d, "-r", cap("seed-torture.pcapng")])
            self.assertEqual(rc, 0, err)
            files = [e for e in events(out) if e["event"] == "file"]
            self.assertEqual(len(files), 1)
            f = files[0]
            self.assertEqual(f["status"], "complete")
            self.assertEqual(os.path.getsize(f["path"]), 60904)
            self.assertTrue(os.path.basename(f["path"]).endswith("readme.txt"))
            # a second run never overwrites the first file
            rc, out, err = run(["-q", "--extract", d, "-r", cap("seed-torture.pcapng")])
            second = [e for e in events(out) if e["event"] == "file"][0]
            self.assertNotEqual(second["path"], f["path"])
            with open(f["path"], "rb") as a, open(second["path"], "rb") as b:
                self.assertEqual(a.read(), b.read())
        finally:
            shutil.rmtree(d)

    @staticmethod
    def transfer(data, sent):
        """alice sends bob a file of these bytes over MSNFTP, of which the
        capture shows the first `sent`."""
        c = Capture()
        notification_login(c)
        sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
        sb.c2s(msg("MSG 4 N", invitation(
            ("Application-Name", "File Transfer"), ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"),
            ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "1001"), ("Application-File", "notes.txt"),
            ("Application-FileSize", len(data)))))
        sb.c2s(msg("MSG 5 N", invitation(
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "1001"), ("IP-Address", "10.0.0.10"),
            ("Port", "6891"), ("AuthCookie", "777"), ("Launch-Application", "FALSE"),
            ("Request-Data", "IP-Address:"))))
        ft = c.tcp("10.0.0.20", 1200, "10.0.0.10", 6891)
        ft.c2s("VER MSNFTP\r\n")
        ft.s2c("VER MSNFTP\r\n")
        ft.c2s("USR bob@example.com 777\r\n")
        ft.s2c("FIL %d\r\n" % len(data))
        ft.c2s("TFR\r\n")
        ft.s2c(bytes([0, sent & 0xFF, sent >> 8]) + data[:sent])
        if sent == len(data):
            ft.c2s("BYE 16777989\r\n")
        ft.close()
        return c

    def test_extract_that_could_not_be_written_is_set_aside(self):
        # A file smaller than stdio's buffer is written when it is closed:
        # that write failing (a full disk, here the file size limit) left
        # an empty file under the file's own name, reported complete at
        # that path. It is set aside as *.partial with an extract anomaly.
        import resource
        data = bytes(range(256)) * 4
        d = tempfile.mkdtemp()
        try:
            path = os.path.join(d, "transfer.pcap")
            with open(path, "wb") as f:
                f.write(self.transfer(data, len(data)).bytes())
            p = subprocess.run([MSNSNIFF, "-q", "--extract", d, "-r", path], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=TIMEOUT,
                               preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100)))
            # an output that could not be written: said, and status 1
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertEqual(p.stderr.decode(), "msnsniff: --extract %s: files not carved whole: 1 (the extract "
                             "anomalies say why)\n" % d)
            ev = events(p.stdout)
            f = [e for e in ev if e["event"] == "file"][0]
            self.assertEqual(f["status"], "complete")  # on the wire
            self.assertEqual(f["path"], os.path.join(d, "3-notes.txt.partial"))
            self.assertEqual(sorted(os.listdir(d)), ["3-notes.txt.partial", "transfer.pcap"])
            self.assertEqual([e["detail"] for e in ev if e["event"] == "anomaly" and e["kind"] == "extract"],
                             ["write to %s failed: File too large" % os.path.join(d, "3-notes.txt")])
        finally:
            shutil.rmtree(d)

    def test_partial_file_never_replaces_one_there(self):
        # a transfer cut short is set aside as *.partial; a second run (a
        # restarted service numbers its flows from 1 again) renamed its own
        # over the first one's
        data = bytes(range(256)) * 4
        d = tempfile.mkdtemp()
        try:
            first = self.transfer(data, 600).run(["-q", "--extract", d])
            second = self.transfer(data[:500] + b"x" * 524, 700).run(["-q", "--extract", d])
            paths = [[e["path"] for e in events(out) if e["event"] == "file"] for _, out, _ in (first, second)]
            self.assertEqual(paths, [[os.path.join(d, "3-notes.txt.partial")],
                                     [os.path.join(d, "3-notes.txt.1.partial")]])
            with open(paths[0][0], "rb") as f:
                self.assertEqual(f.read(), data[:600])
            with open(paths[1][0], "rb") as f:
                self.assertEqual(f.read(), data[:500] + b"x" * 200)
        finally:
            shutil.rmtree(d)

    def test_transfers_at_once_leave_descriptors_to_the_rest(self):
        # Each file being carved holds a descriptor until its transfer
        # ends. 60 transfers under way at once with 64 descriptors allowed
        # took them all: the next -r file could not be opened and its login
        # was lost. Carving gets half of them; the others are said.
        import resource
        c = Capture()
        transfers = [c.tcp("10.1.0.%d" % (i + 1), 1200, "10.0.0.10", 6891) for i in range(60)]
        for ft in transfers:
            ft.c2s("VER MSNFTP\r\n")
            ft.s2c("VER MSNFTP\r\n")
            ft.c2s("USR bob@example.com 777\r\n")
            ft.s2c("FIL 200\r\n")
            ft.c2s("TFR\r\n")
            ft.s2c(bytes([0, 100, 0]) + b"x" * 100)
        for ft in transfers:  # still under way when the file ends
            ft.s2c(bytes([0, 50, 0]) + b"y" * 50)
        later = Capture(start=1117000100)
        notification_login(later)
        d = tempfile.mkdtemp()
        try:
            paths = []
            for name, capture in (("transfers.pcap", c), ("later.pcap", later)):
                paths += ["-r", os.path.join(d, name)]
                with open(paths[-1], "wb") as f:
                    f.write(capture.bytes())
            carved = os.path.join(d, "carved")
            os.mkdir(carved)
            p = subprocess.run([MSNSNIFF, "-q", "--extract", carved] + paths, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=TIMEOUT,
                               preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)))
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("msnsniff: --extract %s: files not carved whole: 28 " % carved, p.stderr.decode())
            self.assertNotIn("Too many open files", p.stderr.decode())
            ev = events(p.stdout)
            self.assertEqual([e["user"] for e in ev if e["event"] == "login"], ["alice@example.com"])
            files = [e for e in ev if e["event"] == "file"]
            self.assertEqual(len(files), 60)
            self.assertEqual(len([f for f in files if f.get("path")]), 32)
            self.assertEqual(len(os.listdir(carved)), 32)
            refused = [e["detail"] for e in ev if e["event"] == "anomaly" and e["kind"] == "extract"]
            self.assertEqual(refused, ["not carved: 32 files are being carved at once, half of the open files "
                                       "allowed (ulimit -n 64)"] * 28)
        finally:
            shutil.rmtree(d)

    def test_packet_buffered_same_output(self):
        # -U changes when events are written, never what is written
        rc, out, err = run(["-q", "-U", "-r", cap("seed.pcap")])
        self.assertEqual(rc, 0, err)
        with open(cap("seed.jsonl"), "rb") as f:
            self.assertEqual(out, f.read())
        _, nft, _ = run(["-q", "--nft", "-r", cap("seed.pcap")])
        rc, nft_u, err = run(["-q", "-U", "--nft", "-r", cap("seed.pcap")])
        self.assertEqual(rc, 0, err)
        self.assertEqual(nft_u, nft)

    def test_announced_policy(self):
        rc, _, err = run(["-q", "--announced-policy", "open", "-r", cap("seed.pcap")])
        self.assertEqual(rc, 2)
        self.assertIn("--announced-policy", err)
        # strict: addresses of announcers whose own connections are not in
        # the capture are not verified, so they open nothing
        rc, out, err = run(["-q", "--announced-policy", "strict", "-r", cap("seed.pcap")])
        self.assertEqual(rc, 0, err)
        closed = [e for e in events(out) if e["event"] == "expectation" and e.get("pinhole") is False]
        self.assertTrue(closed)
        self.assertTrue(all(e["source"] in ("IP-Address", "IP-Address-Internal", "Context-Data") for e in closed))
        rc, nft, err = run(["-q", "--nft", "--announced-policy", "strict", "-r", cap("seed.pcap")])
        self.assertEqual(rc, 0, err)
        for e in closed:
            self.assertIn("# not opened: %s" % e["address"], nft.decode())
        rc, _, err = run(["-q", "--max-expect-user", "many", "-r", cap("seed.pcap")])
        self.assertEqual(rc, 2)
        # the summary counts what the bounds and the policy did
        rc, out, err = run(["--summary", "-o", os.devnull, "--announced-policy", "strict", "--max-expect-session", "1",
                            "-r", cap("seed.pcap")])
        self.assertEqual(rc, 0, err)
        text = out.decode()
        refused = re.search(r"predictions refused per user (\d+), per session (\d+)", text)
        self.assertTrue(refused and int(refused.group(2)) > 0, text)
        pol = re.search(r"announced addresses: forged (\d+), nat (\d+), pinholes refused (\d+)", text)
        self.assertTrue(pol and int(pol.group(3)) > 0, text)

    def test_usage_errors(self):
        self.assertEqual(run([])[0], 2)
        self.assertEqual(run(["-r", cap("seed.pcap"), "-i", "lo"])[0], 2)
        self.assertEqual(run(["--memcap", "lots", "-r", cap("seed.pcap")])[0], 2)
        rc, out, err = run(["--extract", "/nonexistent/dir", "-r", cap("seed.pcap")])
        self.assertEqual((rc, err), (2, "msnsniff: --extract /nonexistent/dir: No such file or directory\n"))
        rc, out, err = run(["--extract", cap("seed.pcap"), "-r", cap("seed.pcap")])
        self.assertEqual((rc, err), (2, "msnsniff: --extract %s: not a directory\n" % cap("seed.pcap")))
        rc, out, err = run(["--version"])
        self.assertEqual(rc, 0)
        self.assertRegex(out.decode(), r"^msnsniff \d+\.\d+\.\d+ \(libmsnp \d+\.\d+\.\d+\)\n$")
        # a number that is not one is refused by the option's name, never
        # wrapped ("-1" was 2^64 - 1: no bound at all) or overflowed
        for opt, val, what in (("--max-expect-user", "-1", "a count"), ("--max-flows", " 5", "a count"),
                               ("--flow-timeout", "abc", "a number of seconds"),
                               ("--expect-timeout", "99999999999999", "a number of seconds"),
                               ("--flow-memcap", "1x", "a size"), ("--anomaly-limit", "5G", "a count")):
            rc, out, err = run([opt, val, "-r", cap("seed.pcap")])
            self.assertEqual((rc, out), (2, b""), (opt, val, err))
            self.assertIn('msnsniff: %s: "%s" is not %s' % (opt, val, what), err)
        self.assertEqual(run(["--max-expect-user", "0", "--flow-timeout", "60", "-q", "-r", cap("seed.pcap")])[0], 0)
        # -c and --run-id too: " -1" was 2^64 - 1 (a count that never ends)
        for opt, val, what in (("-c", " -1", "is not a packet count above 0"),
                               ("-c", "+5", "is not a packet count above 0"),
                               ("--run-id", " -1", "is not a non-zero 64-bit hex number")):
            rc, out, err = run([opt, val, "-r", cap("seed.pcap")])
            self.assertEqual((rc, out), (2, b""), (opt, val, err))
            self.assertIn('msnsniff: %s: "%s" %s' % (opt, val, what), err)
        # -B: KiB as tcpdump's, or with a unit; outside 1M..1G refused
        for val in ("1023", "512K", "2G", "4194304000", "-5", "big", ""):
            rc, out, err = run(["-B", val, "-r", cap("seed.pcap")])
            self.assertEqual((rc, out), (2, b""), (val, err))
            self.assertEqual(err, "msnsniff: -B %s: the buffer size is in KiB (as tcpdump's -B) or with K, M or G, "
                             "from 1M to 1G; for example -B 131072 or -B 128M\n" % val)
        for val in ("1024", "1M", "1048576", "1G", "65536"):
            self.assertEqual(run(["-B", val, "-q", "-r", cap("seed.pcap")])[0], 0, val)
        # 0 is no bound or never where that has a meaning; the expectation
        # table is always bounded
        rc, out, err = run(["--max-expectations", "0", "-r", cap("seed.pcap")])
        self.assertEqual((rc, out), (2, b""), err)
        self.assertIn('msnsniff: --max-expectations: "0" is not a count above 0', err)
        # nor a prediction that expires as it is made (no hit ever), or a
        # reassembly buffer of 0 that was the default 1M
        for opt, what in (("--expect-timeout", "a number of seconds"), ("--flow-memcap", "a size")):
            rc, out, err = run([opt, "0", "-r", cap("seed.pcap")])
            self.assertEqual((rc, out), (2, b""), (opt, err))
            self.assertIn('msnsniff: %s: "0" is not %s above 0' % (opt, what), err)
        for opt in ("--memcap", "--max-flows", "--flow-timeout"):
            rc, out, err = run([opt, "0", "-q", "-r", cap("seed.pcap")])
            self.assertEqual(rc, 0, (opt, err))
            with open(cap("seed.jsonl"), "rb") as f:
                self.assertEqual(out, f.read(), opt)
        rc, out, err = run(["--help"])
        for line in ("--memcap SIZE ", "--max-flows N ", "--flow-timeout SEC "):
            self.assertRegex(out.decode(), re.escape(line) + r".*\b0\b", line)
        self.assertIn("IPv4 and IPv6 fragments", out.decode())
        rc, _, err = run(["-r", "/nonexistent.pcap"])
        self.assertEqual(rc, 1)
        self.assertIn("/nonexistent.pcap", err)
        # -w where it cannot write: the file named once, with the reason
        rc, _, err = run(["-q", "-r", cap("seed.pcap"), "-w", "/nonexistent/out.pcap"])
        self.assertEqual(rc, 1)
        self.assertEqual(err.strip(), "msnsniff: /nonexistent/out.pcap: No such file or directory")


class BrokenInput(unittest.TestCase):
    """Bad files end with a clean error that names the file (and the offset
    for damage after the header); never a crash or a hang."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        with open(cap("seed.pcap"), "rb") as f:
            cls.pcap = f.read()
        with open(cap("seed-torture.pcapng"), "rb") as f:
            cls.pcapng = f.read()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def assert_clean(self, rc, err, path):
        self.assertGreaterEqual(rc, 0, "killed by signal %d: %s" % (-rc, err))
        self.assertNotIn("Sanitizer", err)
        self.assertNotIn("runtime error", err)
        if rc:
            self.assertEqual(rc, 1, err)
            self.assertIn(path, err)

    def test_truncated_everywhere(self):
        """Cut the capture at many points: inside the file header, inside a
        record header, inside packet data."""
        cuts = list(range(0, 40, 3)) + list(range(40, len(self.pcap), 4999)) + [len(self.pcap) - 1]
        for cut in cuts:
            path = self.write("cut-%d.pcap" % cut, self.pcap[:cut])
            rc, out, err = run(["-q", "-r", path])
            self.assert_clean(rc, err, path)
            if 24 < cut < len(self.pcap):
                # a record cut short is an error with its offset; whole
                # records before it were analysed
                if rc:
                    self.assertIn("offset", err)
            if cut < 24:
                self.assertEqual(rc, 1, "cut at %d accepted" % cut)

    def test_truncated_pcapng(self):
        for cut in list(range(0, 60, 7)) + list(range(60, len(self.pcapng), 29989)):
            path = self.write("cut-%d.pcapng" % cut, self.pcapng[:cut])
            rc, out, err = run(["-q", "-r", path])
            self.assert_clean(rc, err, path)

    def test_mid_file_error_keeps_earlier_events(self):
        cut = len(self.pcap) // 2 + 5
        path = self.write("half.pcap", self.pcap[:cut])
        rc, out, err = run(["-q", "-r", path])
        self.assertEqual(rc, 1, err)
        self.assertIn("offset", err)
        kinds = {e["event"] for e in events(out)}
        self.assertIn("login", kinds)

    def test_damage_read_from_a_pipe_is_named_as_in_the_file(self):
        """-r - on a pipe names the damaged record's or block's offset, the
        same as -r FILE does."""
        for name, data in (("cut.pcap", self.pcap), ("cut.pcapng", self.pcapng)):
            for cut in (30, len(data) // 3 + 7, len(data) // 2 + 5):
                path = self.write(name, data[:cut])
                rc, _, from_file = run(["-q", "-r", path])
                self.assertEqual(rc, 1, from_file)
                if cut > 100:  # past the file header: damage in a record or block
                    self.assertIn(" at offset ", from_file)
                rc, _, from_pipe = run(["-q", "-r", "-"], input_bytes=data[:cut])
                self.assertEqual(rc, 1, from_pipe)
                self.assertEqual(from_pipe.replace("(stdin)", path), from_file, "%s cut at %d" % (name, cut))

    def test_garbage(self):
        import random
        rnd = random.Random(7)
        for i in range(10):
            data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 4000)))
            path = self.write("garbage-%d.pcap" % i, data)
            rc, out, err = run(["-q", "-r", path])
            self.assert_clean(rc, err, path)
            self.assertEqual(rc, 1)

    def test_corrupt_records(self):
        """A valid header followed by damaged record headers and bodies."""
        import random
        rnd = random.Random(11)
        for i in range(20):
            data = bytearray(self.pcap)
            for _ in range(rnd.randint(1, 30)):
                pos = rnd.randrange(24, len(data))
                data[pos] = rnd.getrandbits(8)
            path = self.write("flip-%d.pcap" % i, bytes(data))
            rc, out, err = run(["-q", "-r", path])
            self.assert_clean(rc, err, path)

    def test_pcapng_interfaces_of_different_link_types(self):
        # as Wireshark and dumpcap write a capture on several interfaces:
        # Ethernet on the first, Linux cooked (SLL) on the second; each
        # packet is decoded with its own interface's link type, the filter
        # applies to both, and -w keeps only the first one's (one link type
        # per pcap file), saying so
        data, others = two_link_types_pcapng()
        path = self.write("two-link-types.pcapng", data)
        pcap_out = os.path.join(self.dir, "first-interface.pcap")
        rc, out, err = run(["-q", "-r", path, "-w", pcap_out, "tcp"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertEqual([e["user"] for e in ev if e["event"] == "login"], ["alice@example.com"])
        self.assertEqual([e["text"] for e in ev if e["event"] == "message"], ["over the other interface"])
        self.assertIn("-w %s: %d packets of interfaces of other link types than EN10MB (Ethernet) are not in it"
                      % (pcap_out, others), err)
        rc, again, err = run(["-q", "-r", pcap_out])
        self.assertEqual(rc, 0, err)
        self.assertEqual([e["user"] for e in events(again) if e["event"] == "login"], ["alice@example.com"])

    def test_pcapng_raw_ip_interface(self):
        # A pcapng interface of raw IP has LINKTYPE_RAW (101) in the file,
        # which libpcap numbers DLT_RAW (12): compared as they were, a
        # filter dropped every packet of it ("the filter cannot apply to
        # link type DLT 101") and -w wrote none of them, even when it was
        # the file's only link type.
        data, others = two_link_types_pcapng(raw_first=True)
        path = self.write("raw-first.pcapng", data)
        pcap_out = os.path.join(self.dir, "raw-interface.pcap")
        rc, out, err = run(["-q", "-r", path, "-w", pcap_out, "tcp"])
        self.assertEqual(rc, 0, err)
        self.assertNotIn("cannot apply", err)
        ev = events(out)
        self.assertEqual([e["user"] for e in ev if e["event"] == "login"], ["alice@example.com"])
        self.assertEqual([e["text"] for e in ev if e["event"] == "message"], ["over the other interface"])
        self.assertIn("-w %s: %d packets of interfaces of other link types than RAW (Raw IP) are not in it"
                      % (pcap_out, others), err)
        with open(pcap_out, "rb") as f:
            self.assertEqual(struct.unpack("<I", f.read(24)[20:24])[0], 101)  # a file says LINKTYPE_RAW
        rc, again, err = run(["-q", "-r", pcap_out])
        self.assertEqual(rc, 0, err)
        self.assertEqual([e["user"] for e in events(again) if e["event"] == "login"], ["alice@example.com"])

    def test_pcapng_sections_of_both_byte_orders_are_named(self):
        # a little-endian section, then a big-endian one: refused (as
        # libpcap does), and said as it is, not as a huge block length
        def shb(e):
            return struct.pack(e + "IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack(e + "I", 28)
        idb = struct.pack("<IIHHI", 1, 20, 1, 0, 65535) + struct.pack("<I", 20)
        path = self.write("two-orders.pcapng", shb("<") + idb + shb(">"))
        rc, out, err = run(["-q", "-r", path])
        self.assertEqual(rc, 1, err)
        self.assertIn(path, err)
        self.assertIn("sections with different byte orders", err)
        self.assertIn("at offset 48: pcapng block size 469762048 > maximum 16777216: a section header of the other "
                      "byte order (the file has sections with different byte orders)", err)

    def test_huge_record_length(self):
        data = bytearray(self.pcap)
        data[24 + 8:24 + 12] = (0x7FFFFFFF).to_bytes(4, "little")  # first record's caplen
        path = self.write("huge.pcap", bytes(data))
        rc, out, err = run(["-q", "-r", path])
        self.assert_clean(rc, err, path)
        self.assertEqual(rc, 1)
        self.assertIn("offset 24", err)

    def test_snaplen_cut_capture(self):
        path = os.path.join(self.dir, "snap.pcap")
        subprocess.run([MKCAPTURE, "--snaplen", "80", path], check=True, timeout=TIMEOUT)
        rc, out, err = run(["-r", path])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertTrue(any(e["event"] == "anomaly" and e["kind"] == "gap" for e in ev))
        self.assertIn("gaps:", err)
        self.assertIn("cut short by the capture's snapshot length (80 bytes kept)", err)


    def test_snaplen_cutting_tcp_options(self):
        # Headers only (tcpdump -s 64), TCP with time stamp options: the
        # snaplen cuts the options, yet the fixed header is whole - the
        # flow is seen from its SYN to its FINs, its payload a gap.
        c = Capture(snaplen=64)
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        chat_on(sb, "not captured")
        sb.close()
        opts = b"\x01\x01\x08\x0a" + bytes(8)
        frames = []
        for frame in c.frames:  # the same segments with 12 bytes of options
            ip, tcp = frame[14:34], frame[34:]
            tcp = tcp[:12] + bytes([0x80]) + tcp[13:20] + opts + tcp[20:]
            ip = ip[:2] + struct.pack("!H", 20 + len(tcp)) + ip[4:]
            frames.append(frame[:14] + ip + tcp)
        c.frames = frames
        rc, out, err = c.run(["-q", "--all-flows"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertEqual([e for e in ev if e["event"] == "anomaly" and e["kind"] == "malformed_packet"], [])
        flow, = [e for e in ev if e["event"] == "flow"]
        self.assertEqual((flow["src"], flow["midstream"], flow["end_reason"]), ("10.0.0.10", False, "fin"))
        self.assertEqual((flow["packets_c2s"], flow["packets_s2c"]), (5, 4))
        self.assertEqual(flow["gap_bytes"], sum(len(f) - 66 for f in frames if len(f) > 66))

    def test_snaplen_cut_segment_is_a_gap_at_once(self):
        # The bytes a snaplen cut from a segment are lost when it is seen:
        # the gap is said there, and the FIN after it ends the flow.
        c = Capture(snaplen=130)
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        chat_on(sb, "cut by the snaplen " * 10)
        at = sb.next_seq[0] - 1000 - 1
        sb.c2s(text_message("x"))
        sb.close()
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        flow, = [e for e in ev if e["event"] == "flow"]
        self.assertEqual((flow["end_reason"], flow["gaps"]), ("fin", 1))
        gap, = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "gap"]
        self.assertEqual((gap["offset"], gap["lost"]), (at - len(text_message("cut by the snaplen " * 10)) + 130 - 54,
                                                        len(text_message("cut by the snaplen " * 10)) - (130 - 54)))
        self.assertEqual([e["text"] for e in ev if e["event"] == "message"], ["x"])

class Times(unittest.TestCase):
    def test_captures_from_2038_on(self):
        # Classic pcap seconds are unsigned 32-bit: a capture made in 2038
        # or just before 2106 has dates of its own, and predictions expire
        # after their timeout, not at once.
        iso = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
        for start, date in ((2147483648, "2038-01-19T03:14:08"), (4294967000, "2106-02-07T06:23:20")):
            c = Capture(start)
            ns = notification_login(c)
            ns.c2s("XFR 10 SB\r\n")
            ns.s2c("XFR 10 SB 64.4.12.193:1863 CKI 1.2.3\r\n")
            switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
            rc, out, err = c.run(["-q"])
            self.assertEqual(rc, 0, err)
            ev = events(out)
            for e in ev:
                for k in ("ts", "expires", "start", "end"):
                    if k in e:
                        self.assertRegex(e[k], iso, (start, e))
            self.assertTrue(ev[0]["ts"].startswith(date), ev[0])
            expectation, = [e for e in ev if e["event"] == "expectation"]
            self.assertEqual(expectation["timeout_s"], 300)
            self.assertTrue(any(e["event"] == "expectation_hit" for e in ev), (start, ev))
            self.assertFalse(any(e["event"] == "expectation_miss" for e in ev), (start, ev))


    def test_clock_stepping_back(self):
        # The capture clock steps back an hour within a connection: the
        # flow still ends after it starts (and is not evicted as idle),
        # and the stats that close the run are dated no earlier than the
        # events before them.
        c = Capture()
        ns = notification_login(c)
        c.wait(-3600)
        ns.c2s("CHG 11 BSY\r\n")
        ns.s2c("CHG 11 BSY\r\n")
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        flow, = [e for e in ev if e["event"] == "flow"]
        self.assertEqual(flow["end_reason"], "capture_end", flow)
        self.assertGreaterEqual(flow["end"], flow["start"], flow)
        self.assertEqual(ev[-1]["event"], "stats")
        self.assertGreaterEqual(ev[-1]["ts"], max(e["ts"] for e in ev[:-1]))

    def test_stats_of_a_file_never_take_the_wall_clock(self):
        # A capture whose time stamps are all 0: the stats are dated 1970
        # like every other event, so the same file gives the same output.
        c = Capture(0)
        c.udp("10.0.0.10", 33333, "10.0.0.53", 53, b"\0" * 12)
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        stats = events(out)[-1]
        self.assertEqual((stats["event"], stats["ts"]), ("stats", "1970-01-01T00:00:00.000000Z"))


class Flows(unittest.TestCase):
    def test_midstream_flow_first_seen_from_the_server(self):
        # A switchboard on a port that says nothing, picked up mid-stream
        # with the server's JOI: detection knows the client, and the flow
        # names it as src, with its packets as c2s.
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 8080, handshake=False)
        sb.s2c("JOI bob@example.com Bob\r\n")
        sb.s2c(msg("MSG bob@example.com Bob", b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhi"))
        sb.c2s(msg("MSG 3 N", b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nyes"))
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        flow, = [e for e in events(out) if e["event"] == "flow"]
        self.assertTrue(flow["midstream"])
        self.assertEqual((flow["src"], flow["sport"], flow["dst"], flow["dport"]),
                         ("10.0.0.10", 1101, "64.4.12.193", 8080))
        self.assertEqual((flow["packets_c2s"], flow["packets_s2c"]), (1, 2))


    def test_midstream_flow_first_seen_in_keepalive_probes(self):
        # An idle switchboard picked up mid-stream by the keep-alive probes
        # of both sides (one byte, sent before, at the sequence number
        # before the next): the stream starts with the data after them.
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863, handshake=False)
        sb.segment(1, ACK, b"\0", seq=sb.next_seq[1] - 1, advance=0)
        sb.segment(0, ACK, b"\0", seq=sb.next_seq[0] - 1, advance=0)
        sb.s2c("JOI bob@example.com Bob\r\n")
        sb.c2s(text_message("after a long silence"))
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertEqual([e["text"] for e in ev if e["event"] == "message"], ["after a long silence"])
        joined, = [e for e in ev if e["event"] == "switchboard" and e["action"] == "join"]
        self.assertEqual(joined["user"], "bob@example.com")
        flow, = [e for e in ev if e["event"] == "flow"]
        self.assertEqual((flow["src"], flow["sport"], flow["midstream"]), ("10.0.0.10", 1101, True))

    @staticmethod
    def tagged(frame, *vids):
        """The Ethernet frame with VLAN tags vids (outermost first; two:
        802.1ad then 802.1Q)."""
        tags = b"".join(vlan(v, 0x88A8 if len(vids) == 2 and k == 0 else 0x8100) for k, v in enumerate(vids))
        return frame[:12] + tags + frame[12:]

    @staticmethod
    def merged(*frame_lists):
        """One capture of the lists' frames, taken in turn."""
        c = Capture()
        c.frames = [f for group in zip(*frame_lists) for f in group]
        c.later = [0] * len(c.frames)
        return c

    def test_same_ports_on_two_vlans_are_two_flows(self):
        # Two logins with the same addresses and ports, interleaved, on two
        # VLANs (one tag, then QinQ with the same inner tag): two flows,
        # each with its own user and its VLAN ids; the Community ID, which
        # leaves VLANs out, is the same.
        for tags, want in ((((10,), (20,)), [(10, None), (20, None)]),
                           (((100, 10), (200, 10)), [(100, 10), (200, 10)])):
            sessions = []
            for user, vids in zip(("alice@example.com", "zed@example.com"), tags):
                c = Capture()
                notification_login(c, user=user).close()
                sessions.append([self.tagged(f, *vids) for f in c.frames])
            rc, out, err = self.merged(*sessions).run(["-q"])
            self.assertEqual(rc, 0, err)
            ev = events(out)
            self.assertEqual(sorted(e["user"] for e in ev if e["event"] == "login"),
                             ["alice@example.com", "zed@example.com"])
            flows = sorted((e for e in ev if e["event"] == "flow"), key=lambda e: e["vlan"])
            self.assertEqual([(e["vlan"], e.get("vlan_inner")) for e in flows], want, tags)
            self.assertEqual([e["user"] for e in flows], ["alice@example.com", "zed@example.com"])
            self.assertEqual([(e["packets_c2s"], e["packets_s2c"], e["end_reason"]) for e in flows],
                             [(6, 5, "fin")] * 2)
            self.assertEqual(flows[0]["community_id"], flows[1]["community_id"])
            self.assertEqual(ev[-1]["flows"], 2)

    def test_prediction_matches_a_connection_on_another_vlan(self):
        # The file transfer a switchboard on VLAN 10 announced comes on
        # VLAN 20 (routed between the two): it is the predicted connection.
        c = Capture()
        sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
        sb.c2s(msg("MSG 4 N", invitation(
            ("Application-Name", "File Transfer"), ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"),
            ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "55"), ("Application-File", "a.txt"),
            ("Application-FileSize", "5"))))
        sb.s2c(msg("MSG bob@example.com Bob", invitation(("Invitation-Command", "ACCEPT"),
                                                         ("Invitation-Cookie", "55"))))
        sb.c2s(msg("MSG 5 N", invitation(
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "55"), ("IP-Address", "10.0.0.10"),
            ("Port", "6891"), ("AuthCookie", "9"))))
        first = len(c.frames)
        ft = c.tcp("10.0.0.20", 1200, "10.0.0.10", 6891)
        ft.c2s("VER MSNFTP\r\n")
        ft.s2c("VER MSNFTP\r\n")
        c.frames = [self.tagged(f, 10 if k < first else 20) for k, f in enumerate(c.frames)]
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        exp, = [e for e in ev if e["event"] == "expectation"]
        transfer, = [e for e in ev if e["event"] == "flow" and e["dport"] == 6891]
        self.assertEqual((transfer["vlan"], transfer["app"], transfer["expectation"]), (20, "msnftp", exp["id"]))

    @staticmethod
    def fragments(frame, size):
        """The frames of the IPv4 or IPv6 packet in frame, its payload cut
        into pieces of size bytes (a multiple of 8)."""
        eth, ip = frame[:14], frame[14:]
        v6 = ip[0] >> 4 == 6
        hl = 40 if v6 else (ip[0] & 15) * 4
        body, out = ip[hl:], []
        for off in range(0, len(body), size):
            piece, more = body[off:off + size], off + size < len(body)
            hdr = bytearray(ip[:hl])
            if v6:
                hdr[6] = 44
                struct.pack_into("!H", hdr, 4, 8 + len(piece))
                out.append(eth + bytes(hdr) + struct.pack("!BBHI", ip[6], 0, off | more, 0x1234) + piece)
            else:
                struct.pack_into("!HH", hdr, 2, hl + len(piece), 0)
                struct.pack_into("!H", hdr, 6, (0x2000 if more else 0) | off // 8)
                out.append(eth + bytes(hdr) + piece)
        return out

    @staticmethod
    def as_ipv6(frame):
        ip = frame[14:]
        hl = (ip[0] & 15) * 4
        net = b"\x20\x01\x0d\xb8" + bytes(11)
        return frame[:12] + b"\x86\xdd" + struct.pack("!IHBB16s16s", 0x60000000, len(ip) - hl, ip[9], 64,
                                                      net + ip[15:16], net + ip[19:20]) + ip[hl:]

    def test_overlapping_fragments_drop_the_datagram(self):
        # An ACCEPT's segment sent first as two IPv4 or IPv6 fragments
        # whose pieces overlap, the first of them with a forged address
        # and port; then as one packet with the real ones. Linux drops a
        # datagram whose fragments overlap (IPv6 by RFC 5722, IPv4 since
        # 4.19): the receiver never saw the forged ACCEPT, nor does
        # msnsniff, which says the datagram dropped and predicts the real
        # address alone.
        def fragment(frame, start, stop):
            eth, ip = frame[:14], frame[14:]
            v6 = ip[0] >> 4 == 6
            hl = 40 if v6 else (ip[0] & 15) * 4
            body = ip[hl:]
            piece, more = body[start:stop], stop < len(body)
            hdr = bytearray(ip[:hl])
            if v6:
                hdr[6] = 44
                struct.pack_into("!H", hdr, 4, 8 + len(piece))
                return eth + bytes(hdr) + struct.pack("!BBHI", ip[6], 0, start | more, 0x1234) + piece
            struct.pack_into("!HH", hdr, 2, hl + len(piece), 0)
            struct.pack_into("!H", hdr, 6, (0x2000 if more else 0) | start // 8)
            return eth + bytes(hdr) + piece

        for v6 in (False, True):
            c = Capture()
            sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
            sb.c2s(msg("MSG 4 N", invitation(
                ("Application-Name", "File Transfer"),
                ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"), ("Invitation-Command", "INVITE"),
                ("Invitation-Cookie", "55"), ("Application-File", "a.txt"), ("Application-FileSize", "5"))))
            sb.s2c(msg("MSG bob@example.com Bob", invitation(("Invitation-Command", "ACCEPT"),
                                                             ("Invitation-Cookie", "55"))))
            accept = {}
            for address, port in (("10.6.6.66", "6666"), ("10.0.0.10", "6891")):  # the same lengths
                sb.c2s(msg("MSG 5 N", invitation(
                    ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "55"), ("IP-Address", address),
                    ("Port", port), ("AuthCookie", "9"), ("Launch-Application", "FALSE"),
                    ("Request-Data", "IP-Address:"))))
                frame = c.frames.pop()
                c.later.pop()
                accept[port] = self.as_ipv6(frame) if v6 else frame
            frames = [self.as_ipv6(f) if v6 else f for f in c.frames]
            forged, real = accept["6666"], accept["6891"]
            body = len(real) - 14 - (40 if v6 else 20)
            cut = (forged.index(b"6666") - 14 - (40 if v6 else 20)) // 8 * 8 + 16  # the forged port inside
            self.assertLess(cut, body)
            # the first piece forged, the second (the real bytes) overlapping its last 8
            frames += [fragment(forged, 0, cut), fragment(real, cut - 8, body), real]
            c.frames, c.later = frames, [0] * len(frames)
            rc, out, err = c.run(["--summary"])
            self.assertEqual(rc, 0, err)
            text = out.decode()
            ev = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
            self.assertEqual([(e["address"], e["port"]) for e in ev if e["event"] == "expectation"],
                             [("10.0.0.10", 6891)], "v6=%s" % v6)
            dropped, = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "fragment"]
            self.assertIn("overlap", dropped["detail"])
            self.assertEqual(dropped["frame"], len(frames) - 1)
            self.assertFalse([e for e in ev if e["event"] == "anomaly" and e["kind"] == "overlap_conflict"])
            self.assertIn("1 with overlapping fragments, 0 held at the end; fragments rejected 0", text)

    def test_bytes_count_every_fragment_frame(self):
        # A switchboard whose larger datagrams were fragmented, over IPv4
        # and IPv6: a flow's bytes are those of every frame it received,
        # each fragment's; its packets are the datagrams, and its events
        # those of the same switchboard unfragmented.
        c = Capture()
        sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
        sb.c2s(text_message("a message long enough to be sent in many fragments"))
        sb.s2c(msg("MSG bob@example.com Bob", b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nand back"))
        plain = list(c.frames)
        for v6 in (False, True):
            frames = [self.as_ipv6(f) if v6 else f for f in plain]
            c.frames, c.later = frames, [0] * len(frames)
            rc, out, err = c.run(["-q"])
            self.assertEqual(rc, 0, err)
            want = [e for e in events(out) if e["event"] not in ("flow", "stats")]
            pieces, sizes, datagrams = [], [0, 0], [0, 0]
            for f in frames:
                cut = self.fragments(f, 16) if len(f) > 100 else [f]
                pieces += cut
                side = f[14 + (23 if v6 else 15)] != 10  # from the client (10.0.0.10, 2001:db8::a) or not
                sizes[side] += sum(len(p) for p in cut)
                datagrams[side] += 1
            self.assertGreater(len(pieces), len(frames) + 10)
            c.frames, c.later = pieces, [0] * len(pieces)
            rc, out, err = c.run(["-q"])
            self.assertEqual(rc, 0, err)
            ev = events(out)
            flow, = [e for e in ev if e["event"] == "flow"]
            self.assertEqual((flow["bytes_c2s"], flow["bytes_s2c"]), tuple(sizes), "v6=%s" % v6)
            self.assertEqual((flow["packets_c2s"], flow["packets_s2c"]), tuple(datagrams), "v6=%s" % v6)
            got = [e for e in ev if e["event"] not in ("flow", "stats")]
            for e in got + want:  # times and frame numbers aside
                e.pop("ts", None)
                e.pop("frame", None)
            self.assertEqual(got, want, "v6=%s" % v6)


class Invitations(unittest.TestCase):
    def test_invitation_in_a_chat_picked_up_midway(self):
        # The capture (a gateway started during the chat) begins after the
        # switchboard's USR and JOI: the client's INVITE names nobody, yet
        # the ACCEPTs of its cookie in that session are its answers, and the
        # prediction is the file transfer's, not an unknown application's.
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863, handshake=False)
        sb.s2c(msg("MSG bob@example.com Bob", b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhi"))
        sb.c2s(msg("MSG 7 N", invitation(
            ("Application-Name", "File Transfer"), ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"),
            ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "55"), ("Application-File", "a.txt"),
            ("Application-FileSize", "5"))))
        sb.s2c(msg("MSG bob@example.com Bob", invitation(
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "55"), ("Launch-Application", "FALSE"),
            ("Request-Data", "IP-Address:"))))
        sb.c2s(msg("MSG 8 N", invitation(
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "55"), ("IP-Address", "10.0.0.10"),
            ("Port", "6891"), ("AuthCookie", "9"), ("Launch-Application", "FALSE"), ("Request-Data", "IP-Address:"))))
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertEqual({e["invitation"] for e in ev if e["event"] == "invitation"}, {1})
        exp, = [e for e in ev if e["event"] == "expectation"]
        self.assertEqual((exp["app"], exp["port"]), ("file_transfer", 6891))
        self.assertFalse([e for e in ev if e["event"] == "anomaly" and e["kind"] == "orphan_invitation"])

    def test_two_transfers_on_one_port_told_apart_by_auth_cookie(self):
        # alice offers two files on the same address and port; bob's second
        # connection (AuthCookie 888, the second file's) comes first. Each
        # transfer is the invitation its AuthCookie names, not the one its
        # place in the queue of expectations gave it.
        c = Capture()
        notification_login(c)
        sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
        files = (("1001", "first.txt", b"12345", "777"), ("1002", "second.txt", b"1234567", "888"))
        for cookie, name, data, auth in files:
            sb.c2s(msg("MSG 4 N", invitation(
                ("Application-Name", "File Transfer"),
                ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"), ("Invitation-Command", "INVITE"),
                ("Invitation-Cookie", cookie), ("Application-File", name), ("Application-FileSize", len(data)))))
            sb.s2c(msg("MSG bob@example.com Bob", invitation(
                ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", cookie), ("Launch-Application", "FALSE"),
                ("Request-Data", "IP-Address:"))))
            sb.c2s(msg("MSG 5 N", invitation(
                ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", cookie), ("IP-Address", "10.0.0.10"),
                ("Port", "6891"), ("AuthCookie", auth), ("Launch-Application", "FALSE"),
                ("Request-Data", "IP-Address:"))))
        for port, (cookie, name, data, auth) in zip((1200, 1201), reversed(files)):
            ft = c.tcp("10.0.0.20", port, "10.0.0.10", 6891)
            ft.c2s("VER MSNFTP\r\n")
            ft.s2c("VER MSNFTP\r\n")
            ft.c2s("USR bob@example.com %s\r\n" % auth)
            ft.s2c("FIL %d\r\n" % len(data))
            ft.c2s("TFR\r\n")
            ft.s2c(bytes([0, len(data), 0]) + data)
            ft.c2s("BYE 16777989\r\n")
            ft.close()
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        got = sorted((e["auth_cookie"], e["cookie"], e["name"], e["status"]) for e in ev if e["event"] == "file")
        self.assertEqual(got, [("777", "1001", "first.txt", "complete"), ("888", "1002", "second.txt", "complete")])
        self.assertFalse([e for e in ev if e["event"] == "anomaly" and e["kind"] == "size_mismatch"])

    def test_port_zero_is_refused_not_any_port(self):
        # Port 0 is no port to connect to: before, it became an expectation
        # for any port of the host (and an nft element opening all of them).
        # An address that is none (a mistyped IPv4 address, two of them) is
        # refused the same way, not taken for a host name.
        for fields in ((("IP-Address", "10.0.0.10"), ("Port", "0")), (("IP-Address", "10.0.0.10:0"),),
                       (("IP-Address", "10.0.0.10:99999"),), (("IP-Address", "10.0.0.10"), ("PortX", "12609")),
                       (("IP-Address", "10.0.0.256"), ("Port", "6891")),
                       (("IP-Address", "10.0.0.10 10.0.0.11"), ("Port", "6891"))):
            c = Capture()
            notification_login(c)
            sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
            sb.c2s(msg("MSG 4 N", invitation(
                ("Application-Name", "File Transfer"),
                ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"), ("Invitation-Command", "ACCEPT"),
                ("Invitation-Cookie", "41"), *fields, ("AuthCookie", "7"))))
            rc, out, err = c.run(["-q"])
            self.assertEqual(rc, 0, err)
            ev = events(out)
            self.assertFalse([e for e in ev if e["event"] == "expectation"], fields)
            bad, = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "bad_invitation"]
            self.assertRegex(bad["detail"], "port outside 1-65535|neither an IP address nor a host name")
            rc, out, err = c.run(["--nft"])
            self.assertEqual(rc, 0, err)
            self.assertNotIn(b"add element", out, fields)

    def test_same_cookie_between_other_users_is_another_invitation(self):
        # alice offers bob a file and calls carol, both with cookie 777: two
        # invitations, the call classified from its own INVITE and its UDP
        # stream matched.
        c = Capture()
        ns = notification_login(c)
        ns.c2s("XFR 5 SB\r\n")
        ns.s2c("XFR 5 SB 64.4.12.193:1863 CKI 1.2.3\r\n")
        ns.c2s("XFR 6 SB\r\n")
        ns.s2c("XFR 6 SB 64.4.12.194:1863 CKI 4.5.6\r\n")
        to_bob = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
        to_carol = switchboard(c, 1102, "64.4.12.194", "4.5.6", "carol@example.com")
        to_bob.c2s(msg("MSG 4 N", invitation(
            ("Application-Name", "File Transfer"), ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"),
            ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "777"), ("Application-File", "a.txt"),
            ("Application-FileSize", "5"))))
        to_carol.c2s(msg("MSG 4 N", invitation(
            ("Application-Name", "an audio conversation"),
            ("Application-GUID", "{02D3C01F-BF30-4825-A83A-DE7AF41648AA}"), ("Session-Protocol", "SM1"),
            ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "777"))))
        to_carol.s2c(msg("MSG carol@example.com Carol", invitation(
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "777"), ("IP-Address", "10.0.0.30"),
            ("Port", "5004"), ("Session-Protocol", "SM1"))))
        c.udp("10.0.0.10", 5004, "10.0.0.30", 5004, b"rtp" * 10)
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        file_invite, call_invite, call_accept = [e for e in ev if e["event"] == "invitation"]
        self.assertNotEqual(call_invite["invitation"], file_invite["invitation"])
        self.assertEqual(call_invite["app"], "voice")
        self.assertNotIn("repeat", call_invite)
        self.assertEqual(call_accept["invitation"], call_invite["invitation"])
        hits = [e for e in ev if e["event"] == "expectation_hit" and e["app"] == "voice"]
        self.assertEqual([(h["transport"], h["address"], h["port"]) for h in hits], [("udp", "10.0.0.30", 5004)])

    def test_invite_captured_after_an_accept_classifies_the_invitation(self):
        # A call over two switchboards: bob's ACCEPT on the second one is
        # captured before alice's INVITE on the first. The ACCEPT is an
        # orphan for now and its address a prediction for an unknown
        # application; the INVITE, when it comes, is that invitation's
        # (voice, by its GUID, not a repeat), the prediction is announced
        # again as voice over UDP (replacing the first), and the summary
        # counts a voice invitation.
        voice = "{02D3C01F-BF30-4825-A83A-DE7AF41648AA}"
        c = Capture()
        sb1 = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
        sb2 = switchboard(c, 1102, "64.4.12.194", "4.5.6", "bob@example.com")
        sb2.s2c(msg("MSG bob@example.com Bob", invitation(
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "207"), ("IP-Address", "10.0.0.20"),
            ("Launch-Application", "FALSE"), ("Session-ID", "{AAAA}"))))
        sb1.c2s(msg("MSG 4 N", invitation(
            ("Application-Name", "Voice Conversation"), ("Application-GUID", voice), ("Session-Protocol", "SM1"),
            ("Context-Data", "Requested:SIP_A,; Capabilities:SIP_A,SIP_V"), ("Invitation-Command", "INVITE"),
            ("Invitation-Cookie", "207"), ("Session-ID", "{AAAA}"))))
        sb2.c2s(msg("MSG 5 N", invitation(
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "207"), ("IP-Address", "10.0.0.10:7207"),
            ("Launch-Application", "FALSE"), ("Session-ID", "{AAAA}"))))
        c.udp("10.0.0.20", 5060, "10.0.0.10", 7207, b"INVITE sip:x SIP/2.0\r\n")
        rc, out, err = c.run([])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        orphan, = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "orphan_invitation"]
        self.assertEqual(orphan["cookie"], "207")
        accept, invite, accept2 = [e for e in ev if e["event"] == "invitation"]
        self.assertEqual((accept["command"], accept["app"]), ("ACCEPT", "unknown"))
        self.assertEqual((invite["command"], invite["app"], invite["classified_by"]), ("INVITE", "voice", "guid"))
        self.assertNotIn("repeat", invite)
        self.assertEqual(invite["inviter"], "alice@example.com")
        self.assertEqual({accept["invitation"], invite["invitation"], accept2["invitation"]}, {invite["invitation"]})
        self.assertEqual(accept2["app"], "voice")
        got = [(e["id"], e["app"], e["transport"], e["address"], e["port"], e.get("replaces"))
               for e in ev if e["event"] == "expectation"]
        first = got[0][0]
        self.assertEqual(got, [(first, "unknown", "any", "10.0.0.20", "any", None),
                               (first + 1, "voice", "udp", "10.0.0.20", "any", first),
                               (first + 2, "voice", "udp", "10.0.0.10", 7207, None)])
        # the replacement comes right after the INVITE that taught it
        order = [e["event"] for e in ev if e["event"] in ("invitation", "expectation")]
        self.assertEqual(order, ["invitation", "expectation", "invitation", "expectation", "invitation",
                                 "expectation"])
        hit, = [e for e in ev if e["event"] == "expectation_hit"]
        self.assertEqual((hit["id"], hit["app"], hit["transport"], hit["port"]), (first + 2, "voice", "udp", 7207))
        self.assertFalse([e for e in ev if e["event"] == "expectation_miss"])
        self.assertIn("invitations: 1, voice 1\n", err)
        # predicted = matched + missed + retired: the replaced one is retired
        self.assertIn("connections: predicted 3, matched 1, missed 0, retired 2\n", err)

    def test_invite_captured_after_the_connection_opened_completes_the_orphan(self):
        # A file transfer over two switchboards: both ACCEPTs are captured,
        # the MSNFTP connection they predicted opens, and only then alice's
        # INVITE (both copies) on the first switchboard. Its INVITE was never
        # seen, so the orphan's cookie cannot have been offered again: the
        # INVITE is that invitation's (file_transfer, the copy a repeat), no
        # second invitation starts, and the transfer, still going on, is
        # reported with the INVITE's file name and size.
        ft_guid = "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"
        c = Capture()
        sb1 = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
        bob1 = c.tcp("10.0.0.20", 1201, "64.4.12.193", 1863)
        bob1.c2s("ANS 1 bob@example.com 68f53ba2 424242\r\n")
        bob1.s2c("IRO 1 1 1 alice@example.com Alice\r\n")
        bob1.s2c("ANS 1 OK\r\n")
        sb2 = switchboard(c, 1102, "64.4.12.194", "4.5.6", "bob@example.com")
        sb2.s2c(msg("MSG bob@example.com Bob", invitation(
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "208"), ("Launch-Application", "FALSE"),
            ("Request-Data", "IP-Address:"))))
        sb2.c2s(msg("MSG 5 N", invitation(
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "208"), ("IP-Address", "10.0.0.10"),
            ("Port", "6891"), ("AuthCookie", "4242"), ("Launch-Application", "FALSE"),
            ("Request-Data", "IP-Address:"))))
        ft = c.tcp("10.0.0.20", 1300, "10.0.0.10", 6891)
        ft.c2s("VER MSNFTP\r\n")
        ft.s2c("VER MSNFTP\r\n")
        fields = (("Application-Name", "File Transfer"), ("Application-GUID", ft_guid),
                  ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "208"),
                  ("Application-File", "late.bin"), ("Application-FileSize", "5"))
        sb1.c2s(msg("MSG 4 N", invitation(*fields)))
        bob1.s2c(msg("MSG alice@example.com Alice", invitation(*fields)))
        ft.c2s("USR bob@example.com 4242\r\n")
        ft.s2c("FIL 5\r\n")
        ft.c2s("TFR\r\n")
        ft.s2c(b"\x00\x05\x00hello")
        ft.c2s("BYE 16777989\r\n")
        ft.close()
        rc, out, err = c.run([])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        inv = [e for e in ev if e["event"] == "invitation"]
        self.assertEqual({e["invitation"] for e in inv}, {inv[0]["invitation"]})
        invites = [e for e in inv if e["command"] == "INVITE"]
        self.assertEqual([(e["app"], e.get("repeat", False)) for e in invites],
                         [("file_transfer", False), ("file_transfer", True)])
        hit, = [e for e in ev if e["event"] == "expectation_hit" and e["app"] != "switchboard"]
        self.assertEqual(hit["invitation"], inv[0]["invitation"])
        f, = [e for e in ev if e["event"] == "file"]
        self.assertEqual((f["invitation"], f["name"], f.get("size_announced"), f["status"]),
                         (inv[0]["invitation"], "late.bin", 5, "complete"))
        self.assertIn("invitations: 1, file_transfer 1\n", err)

    def test_one_cookie_in_two_sessions_at_once_follows_each_session(self):
        # alice offers bob a.bin (5 bytes) in one switchboard session and
        # b.bin (7 bytes) in another, both under cookie 209, before either
        # is answered. Each ACCEPT, and the MSNFTP connection it announces,
        # belongs to the offer of its own session, not to the newest: each
        # transfer is complete at its own size.
        ft_guid = "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"
        c = Capture()
        ends = []
        for k, (server, ck) in enumerate((("64.4.12.193", "1.2.3"), ("64.4.12.194", "4.5.6"))):
            sb = switchboard(c, 1101 + k, server, ck, "bob@example.com")
            bob = c.tcp("10.0.0.20", 1201 + k, server, 1863)
            bob.c2s("ANS 1 bob@example.com 68f53ba2 %d\r\n" % (424242 + k))
            bob.s2c("IRO 1 1 1 alice@example.com Alice\r\n")
            bob.s2c("ANS 1 OK\r\n")
            ends.append((sb, bob))

        def both(end, fields, from_alice=True):
            sb, bob = ends[end]
            if from_alice:
                sb.c2s(msg("MSG 4 N", invitation(*fields)))
                bob.s2c(msg("MSG alice@example.com Alice", invitation(*fields)))
            else:
                bob.c2s(msg("MSG 4 N", invitation(*fields)))
                sb.s2c(msg("MSG bob@example.com Bob", invitation(*fields)))

        for end, (name, size) in enumerate((("a.bin", 5), ("b.bin", 7))):
            both(end, (("Application-Name", "File Transfer"), ("Application-GUID", ft_guid),
                       ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "209"),
                       ("Application-File", name), ("Application-FileSize", str(size))))
        for end, (port, data) in enumerate(((6891, b"hello"), (6892, b"goodbye"))):
            both(end, (("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "209"),
                       ("Launch-Application", "FALSE"), ("Request-Data", "IP-Address:")), from_alice=False)
            both(end, (("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "209"), ("IP-Address", "10.0.0.10"),
                       ("Port", str(port)), ("AuthCookie", "4242"), ("Launch-Application", "FALSE"),
                       ("Request-Data", "IP-Address:")))
            ft = c.tcp("10.0.0.20", 1300 + end, "10.0.0.10", port)
            ft.c2s("VER MSNFTP\r\n")
            ft.s2c("VER MSNFTP\r\n")
            ft.c2s("USR bob@example.com 4242\r\n")
            ft.s2c("FIL %d\r\n" % len(data))
            ft.c2s("TFR\r\n")
            ft.s2c(b"\x00" + struct.pack("<H", len(data)) + data)
            ft.c2s("BYE 16777989\r\n")
            ft.close()
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        inv = [e for e in ev if e["event"] == "invitation"]
        first, second = sorted({e["invitation"] for e in inv})
        by_session = {}
        for e in inv:
            by_session.setdefault(e["session"], set()).add(e["invitation"])
        self.assertEqual(sorted(by_session.values(), key=min), [{first}, {first}, {second}, {second}])
        files = [(e["invitation"], e["name"], e.get("size_announced"), e["status"])
                 for e in ev if e["event"] == "file"]
        self.assertEqual(files, [(first, "a.bin", 5, "complete"), (second, "b.bin", 7, "complete")])
        self.assertFalse([e for e in ev if e["event"] == "anomaly" and e["kind"] == "size_mismatch"])

    def test_cookie_used_again_is_a_new_invitation(self):
        # alice offers bob a file with cookie 204, he takes it; she offers
        # another with the same cookie, then the same again after that
        # one connected, then after a CANCEL, then another file while the
        # last is still open. Each is a new invitation; only the copy of
        # an INVITE that reaches bob (the same message seen again) is a
        # repeat.
        c = Capture()
        sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
        bob = c.tcp("10.0.0.20", 1200, "64.4.12.193", 1863)
        bob.c2s("ANS 1 bob@example.com 68f53ba2 424242\r\n")
        bob.s2c("IRO 1 1 1 alice@example.com Alice\r\n")
        bob.s2c("ANS 1 OK\r\n")

        def both(fields, from_alice=True):
            if from_alice:
                sb.c2s(msg("MSG 4 N", invitation(*fields)))
                bob.s2c(msg("MSG alice@example.com Alice", invitation(*fields)))
            else:
                bob.c2s(msg("MSG 4 N", invitation(*fields)))
                sb.s2c(msg("MSG bob@example.com Bob", invitation(*fields)))

        def invite(name):
            both((("Application-Name", "File Transfer"),
                  ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"), ("Invitation-Command", "INVITE"),
                  ("Invitation-Cookie", "204"), ("Application-File", name), ("Application-FileSize", "10")))

        for k, (name, port) in enumerate((("first.bin", 7204), ("second.bin", 7205), ("second.bin", 7206))):
            invite(name)
            both((("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "204")), from_alice=False)
            both((("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "204"), ("IP-Address", "10.0.0.10"),
                  ("Port", str(port)), ("AuthCookie", "1")))
            c.tcp("10.0.0.20", 2000 + k, "10.0.0.10", port)
        invite("second.bin")
        both((("Invitation-Command", "CANCEL"), ("Invitation-Cookie", "204"), ("Cancel-Code", "REJECT")),
             from_alice=False)
        invite("second.bin")
        invite("third.bin")
        rc, out, err = c.run([])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        invites = [(e["invitation"], e["file"], e.get("repeat", False))
                   for e in ev if e["event"] == "invitation" and e["command"] == "INVITE"]
        ids = sorted({i for i, _, _ in invites})
        self.assertEqual(len(ids), 6)
        files = ("first.bin", "second.bin", "second.bin", "second.bin", "second.bin", "third.bin")
        self.assertEqual(invites, [x for i, f in zip(ids, files) for x in ((i, f, False), (i, f, True))])
        # each ACCEPT and CANCEL is the newest invitation's
        for e in ev:
            if e["event"] == "invitation" and e["command"] != "INVITE":
                before = [i for i, _, _ in invites if i <= e["invitation"]]
                self.assertEqual(e["invitation"], max(before))
        hits = [(e["invitation"], e["port"]) for e in ev if e["event"] == "expectation_hit"]
        self.assertEqual(hits, [(ids[0], 7204), (ids[1], 7205), (ids[2], 7206)])
        self.assertIn("invitations: 6, file_transfer 6\n", err)

    def test_offers_under_one_cookie_are_bounded(self):
        # Every offer under a reused cookie is a new invitation, and every
        # message of the cookie looks through them: past 16, the oldest is
        # forgotten (counted as dropped), and the answer is the newest's.
        c = Capture()
        sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
        for k in range(40):
            sb.c2s(msg("MSG 4 N", invitation(
                ("Application-Name", "File Transfer"),
                ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"), ("Invitation-Command", "INVITE"),
                ("Invitation-Cookie", "5"), ("Application-File", "f%d.bin" % k), ("Application-FileSize", "10"))))
        sb.s2c(msg("MSG bob@example.com Bob", invitation(("Invitation-Command", "ACCEPT"),
                                                         ("Invitation-Cookie", "5"))))
        rc, out, err = c.run([])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        invites = [e["invitation"] for e in ev if e["event"] == "invitation" and e["command"] == "INVITE"]
        self.assertEqual(len(set(invites)), 40)
        accept, = [e for e in ev if e["event"] == "invitation" and e["command"] == "ACCEPT"]
        self.assertEqual(accept["invitation"], invites[-1])
        self.assertFalse([e for e in ev if e["event"] == "anomaly" and e["kind"] == "orphan_invitation"])
        self.assertIn("dropped by table bounds: expectations 0, invitations 24,", err)

    def test_accept_port_is_the_one_the_client_connects_to(self):
        # An ACCEPT may write a port in IP-Address and another in Port: the
        # peer's client connects to Port, and so the prediction. PortX
        # alone (Port XOR 0x3141) names the port as well; inside, PortX-
        # Internal, else Port.
        cases = (
            ((("IP-Address", "10.0.0.10:7000"), ("Port", "7001")), [("IP-Address", 7001)], 7001),
            ((("Port", "7001"), ("IP-Address", "10.0.0.10:7000")), [("IP-Address", 7001)], 7001),
            ((("IP-Address", "10.0.0.10"), ("PortX", "10778")), [("IP-Address", 7003)], 7003),
            ((("IP-Address", "10.0.0.10:7000"), ("IP-Address-Internal", "192.168.0.10"), ("Port", "7001")),
             [("IP-Address", 7001), ("IP-Address-Internal", 7001)], 7001),
            ((("IP-Address", "10.0.0.10:7000"), ("IP-Address-Internal", "192.168.0.10"), ("PortX", "10778"),
              ("PortX-Internal", "11180")), [("IP-Address", 7000), ("IP-Address-Internal", 6893)], 7000),
        )
        for fields, want, connect in cases:
            c = Capture()
            sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
            sb.c2s(msg("MSG 4 N", invitation(
                ("Application-Name", "File Transfer"),
                ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"), ("Invitation-Command", "INVITE"),
                ("Invitation-Cookie", "41"), ("Application-File", "a.txt"), ("Application-FileSize", "5"))))
            sb.s2c(msg("MSG bob@example.com Bob", invitation(("Invitation-Command", "ACCEPT"),
                                                             ("Invitation-Cookie", "41"))))
            sb.c2s(msg("MSG 5 N", invitation(("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "41"),
                                             *fields, ("AuthCookie", "7"))))
            c.tcp("10.0.0.20", 2000, "10.0.0.10", connect)
            rc, out, err = c.run(["-q"])
            self.assertEqual(rc, 0, err)
            ev = events(out)
            got = [(e["source"], e["port"]) for e in ev if e["event"] == "expectation"]
            self.assertEqual(got, want, fields)
            announced = [e for e in ev if e["event"] == "invitation" and e.get("ip")]
            self.assertEqual([e["port"] for e in announced], [want[0][1]], fields)
            hit, = [e for e in ev if e["event"] == "expectation_hit"]
            self.assertEqual((hit["dst"], hit["port"]), ("10.0.0.10", connect), fields)

    def test_invitation_message_the_server_refused_predicts_nothing(self):
        # The switchboard answers 201 to alice's ACCEPT (too long for it,
        # say) and relays it to no one: bob never learns the address, so
        # the prediction made from it is withdrawn (no pinhole, no hit for
        # a connection there; msngate closes its pinhole as for a CANCEL)
        # and a message_refused names the invitation.
        c = Capture()
        sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
        sb.c2s(msg("MSG 4 N", invitation(
            ("Application-Name", "File Transfer"),
            ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"), ("Invitation-Command", "INVITE"),
            ("Invitation-Cookie", "41"), ("Application-File", "a.txt"), ("Application-FileSize", "5"))))
        sb.s2c("ACK 4\r\n")
        sb.s2c(msg("MSG bob@example.com Bob", invitation(("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "41"))))
        sb.c2s(msg("MSG 5 N", invitation(("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "41"),
                                         ("IP-Address", "10.0.0.10"), ("Port", "6891"), ("AuthCookie", "7"))))
        sb.s2c("201 5\r\n")
        c.tcp("10.0.0.20", 2000, "10.0.0.10", 6891)
        rc, out, err = c.run([])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertEqual([e["port"] for e in ev if e["event"] == "expectation"], [6891])
        refused, = [e for e in ev if e["event"] == "message_refused"]
        invitation_id = [e for e in ev if e["event"] == "invitation"][0]["invitation"]
        self.assertEqual((refused["kind"], refused["invitation"], refused["trid"], refused["error"]),
                         ("invitation", invitation_id, 5, "201"))
        self.assertEqual([e for e in ev if e["event"] == "expectation_hit"], [])
        self.assertIn("connections: predicted 1, matched 0, missed 0, retired 1", err)
        rc, out, err = c.run(["-q", "--transcript"])
        self.assertIn("*** the server refused alice@example.com's invitation message (201 ", out.decode())

    def test_long_switchboard_cookie_is_kept_whole(self):
        # A switchboard cookie is as long as the server makes it: the
        # login that presents it hits the referral's expectation.
        switchboard_cookie = "1234567890." + "9" * 200
        c = Capture()
        ns = notification_login(c)
        ns.c2s("XFR 5 SB\r\n")
        ns.s2c("XFR 5 SB 64.4.12.193:1863 CKI %s\r\n" % switchboard_cookie)
        sb = switchboard(c, 1101, "64.4.12.193", switchboard_cookie, "bob@example.com")
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        expectation, = [e for e in ev if e["event"] == "expectation"]
        self.assertEqual(expectation["cookie"], switchboard_cookie)
        hit, = [e for e in ev if e["event"] == "expectation_hit"]
        self.assertEqual((hit["matched_by"], hit["cookie"]), ("cookie", switchboard_cookie))
        self.assertFalse([e for e in ev if e["event"] == "expectation_miss"])

    def test_bracketed_ipv6_address_with_port(self):
        c = Capture()
        sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
        sb.c2s(msg("MSG 4 N", invitation(("Application-Name", "File Transfer"), ("Invitation-Command", "INVITE"),
                                         ("Invitation-Cookie", "777"), ("Application-File", "a.txt"))))
        sb.s2c(msg("MSG bob@example.com Bob", invitation(("Invitation-Command", "ACCEPT"),
                                                         ("Invitation-Cookie", "777"))))
        sb.c2s(msg("MSG 5 N", invitation(("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "777"),
                                         ("IP-Address", "[2001:db8::10]:6891"), ("AuthCookie", "9"))))
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        expectation, = [e for e in events(out) if e["event"] == "expectation"]
        self.assertEqual((expectation["address"], expectation["port"]), ("2001:db8::10", 6891))

    def test_a_name_with_several_addresses_is_its_first_whenever_answered(self):
        # The peer's IP-Address is a name DNS answers with two addresses:
        # the prediction takes the first of the response, whether the
        # response came before the invitation or after it.
        def hits(dns_first, target):
            c = Capture()
            sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
            if dns_first:
                c.dns_answer("peer.example.net", ["10.9.9.1", "10.9.9.2"])
            sb.c2s(msg("MSG 3 N", invitation(
                ("Application-Name", "File Transfer"), ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"),
                ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "777"), ("Application-File", "a.txt"),
                ("Application-FileSize", "5"))))
            sb.s2c(msg("MSG bob@example.com Bob", invitation(
                ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "777"), ("IP-Address", "peer.example.net"),
                ("Port", "6891"), ("AuthCookie", "1"))))
            if not dns_first:
                c.dns_answer("peer.example.net", ["10.9.9.1", "10.9.9.2"])
            c.tcp("10.0.0.10", 2000, target, 6891)
            rc, out, err = c.run(["-q"])
            self.assertEqual(rc, 0, err)
            return [e["dst"] for e in events(out) if e["event"] == "expectation_hit"]
        for dns_first in (True, False):
            self.assertEqual(hits(dns_first, "10.9.9.1"), ["10.9.9.1"], dns_first)
            self.assertEqual(hits(dns_first, "10.9.9.2"), [], dns_first)

    def test_a_fully_qualified_name_with_its_trailing_dot_resolves(self):
        # IP-Address "peer.example.net." is the fully qualified form of the
        # name DNS answers as peer.example.net: the prediction waits for it
        # and resolves, the answer before the invitation or after it.
        for dns_first in (True, False):
            c = Capture()
            sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
            if dns_first:
                c.dns_answer("peer.example.net", ["10.9.9.1"])
            sb.c2s(msg("MSG 3 N", invitation(
                ("Application-Name", "File Transfer"), ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"),
                ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "777"), ("Application-File", "a.txt"),
                ("Application-FileSize", "5"))))
            sb.s2c(msg("MSG bob@example.com Bob", invitation(
                ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "777"), ("IP-Address", "peer.example.net."),
                ("Port", "6891"), ("AuthCookie", "1"))))
            if not dns_first:
                c.dns_answer("peer.example.net", ["10.9.9.1"])
            c.tcp("10.0.0.10", 2000, "10.9.9.1", 6891)
            rc, out, err = c.run(["-q"])
            self.assertEqual(rc, 0, err)
            ev = events(out)
            self.assertEqual([e["dst"] for e in ev if e["event"] == "expectation_hit"], ["10.9.9.1"], (dns_first, ev))

    def test_in_a_session_of_three_the_one_who_accepts_connects(self):
        # alice offers a file in a session with bob and carol; carol
        # accepts: the connection expected is carol's, and it is hers.
        c = Capture()
        sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
        sb.c2s("CAL 3 carol@example.com\r\n")
        sb.s2c("CAL 3 RINGING 424242\r\n")
        sb.s2c("JOI carol@example.com Carol\r\n")
        sb.c2s(msg("MSG 4 N", invitation(
            ("Application-Name", "File Transfer"), ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"),
            ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "777"), ("Application-File", "a.txt"),
            ("Application-FileSize", "5"))))
        sb.s2c(msg("MSG carol@example.com Carol", invitation(("Invitation-Command", "ACCEPT"),
                                                              ("Invitation-Cookie", "777"))))
        sb.c2s(msg("MSG 5 N", invitation(("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "777"),
                                         ("IP-Address", "10.0.0.10"), ("Port", "6891"), ("AuthCookie", "9"))))
        ftp = c.tcp("10.0.0.30", 2000, "10.0.0.10", 6891)
        ftp.c2s("VER MSNFTP\r\n")
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        expectation, = [e for e in ev if e["event"] == "expectation"]
        self.assertEqual((expectation["from"], expectation["port"]), ("carol@example.com", 6891))
        hit, = [e for e in ev if e["event"] == "expectation_hit"]
        self.assertEqual((hit["from"], hit["src"]), ("carol@example.com", "10.0.0.30"))

    def test_a_join_of_the_connection_own_user_is_not_another_member(self):
        # Escargot, answering a call, sends the answerer's own JOI before
        # the IRO lines: bob is not a second member of his own session
        # (recipients, invitation "to" and the joins counted name him once)
        c = Capture()
        sb = c.tcp("10.0.0.20", 1200, "64.4.12.193", 1864)
        sb.c2s("ANS 1 bob@example.com 68f53ba2 dc770eff-60e1-4c96-8797-8a47c346b007\r\n")
        sb.s2c("JOI Bob@Example.com bob@example.com\r\n")  # the case of an e-mail does not matter
        sb.s2c("IRO 1 1 1 alice@example.com Alice\r\n")
        sb.s2c("ANS 1 OK\r\n")
        sb.s2c(msg("MSG alice@example.com Alice", b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhi"))
        sb.c2s(msg("MSG 2 N", b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhello"))
        rc, out, err = c.run([])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        got = [(e["sender"], e["recipients"]) for e in ev if e["event"] == "message"]
        self.assertEqual(got, [("alice@example.com", ["bob@example.com"]), ("bob@example.com", ["alice@example.com"])])
        joins = [e["user"] for e in ev if e["event"] == "switchboard" and e["action"] == "join"]
        self.assertEqual(joins, ["alice@example.com"])
        self.assertIn("joins 1\n", err)  # the summary



def text_message(text):
    return msg("MSG 3 N", b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n" + text.encode())


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def chat_on(sb, text):
    """A switchboard login and one message on sb (no handshake)."""
    sb.c2s("USR 1 alice@example.com 1.2.3\r\n")
    sb.s2c("USR 1 OK alice@example.com Alice\r\n")
    sb.s2c("JOI bob@example.com Bob\r\n")
    sb.c2s(text_message(text))


class TcpConnections(unittest.TestCase):
    def test_syn_sent_again_with_another_initial_sequence_number(self):
        # The first SYN went unanswered; the client tried again from
        # another initial sequence number, and the connection is that one.
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863, handshake=False)
        sb.segment(0, SYN, seq=111, advance=0)
        sb.next_seq[0] = 900000
        sb.segment(0, SYN, advance=1)
        sb.segment(1, SYN | ACK, advance=1)
        sb.segment(0, ACK)
        chat_on(sb, "first try lost")
        sb.close()
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertEqual([e for e in ev if e["event"] == "anomaly" and e["kind"] == "gap"], [])
        flow, = [e for e in ev if e["event"] == "flow"]
        self.assertEqual((flow["gaps"], flow["gap_bytes"], flow["end_reason"]), (0, 0, "fin"))
        self.assertEqual([e["text"] for e in ev if e["event"] == "message"], ["first try lost"])

    def test_holes_the_peer_acknowledged_are_gaps_at_once(self):
        # bob's messages to alice, every other one lost by the capture, then
        # one acknowledgement of them all and both FINs; and a message whose
        # tail was lost before the FIN. Each hole the acknowledgement passes
        # is a gap there: only the first one was, one more at each later
        # ACK, and a hole before a FIN not until the capture ended (10
        # minutes on, the flow ended as capture_end).
        def received(sb, text):
            sb.s2c(msg("MSG bob@example.com Bob", b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
                       + text.encode()))

        def lost(sb, data):
            sb.next_seq[1] += len(data)

        for tail_lost in (False, True):
            c = Capture()
            sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
            chat_on(sb, "hello")
            for k in range(1, 13):
                if k % 2 and not tail_lost:
                    lost(sb, msg("MSG bob@example.com Bob", b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
                                 b"\r\nm%02d" % k))
                else:
                    received(sb, "m%02d" % k)
            if tail_lost:
                whole = msg("MSG bob@example.com Bob", b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
                            + b"x" * 200)
                sb.s2c(whole[:60])
                lost(sb, whole[60:])
            sb.segment(1, FIN | ACK, advance=1)
            sb.segment(0, ACK)  # alice has it all, the FIN too
            sb.segment(0, FIN | ACK, advance=1)
            sb.segment(1, ACK)
            c.wait(600)
            other = c.tcp("10.0.0.99", 4000, "10.0.0.98", 80)  # the capture goes on
            other.c2s("GET / HTTP/1.0\r\n\r\n")
            rc, out, err = c.run(["-q", "--all-flows"])
            self.assertEqual(rc, 0, err)
            ev = events(out)
            gaps = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "gap" and e.get("lost")]
            self.assertEqual(len(gaps), 1 if tail_lost else 6, gaps)
            flow = [e for e in ev if e["event"] == "flow" and e["app"] == "msnp"][0]
            self.assertEqual(flow["end_reason"], "fin", flow)
            # all of it said before the capture went on
            later = [e["start"] for e in ev if e["event"] == "flow" and e["app"] != "msnp"][0]
            self.assertEqual([e for e in gaps if e["ts"] >= later], [], later)
            self.assertLess(flow["ts"], later)
            texts = [e["text"] for e in ev if e["event"] == "message" and e["direction"] == "received"]
            self.assertEqual(texts, ["m%02d" % k for k in range(2 - tail_lost, 13, 1 + (not tail_lost))])

    def test_port_reused_without_the_old_connections_end(self):
        # The capture missed the end of the first connection; a new SYN
        # from the same port with another initial sequence number is a new
        # connection, not a huge hole in the old one.
        c = Capture()
        old = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        chat_on(old, "on the old connection")
        new = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863, handshake=False)
        new.next_seq = [3000000000, 123456789]
        new.segment(0, SYN, advance=1)
        new.segment(1, SYN | ACK, advance=1)
        new.segment(0, ACK)
        chat_on(new, "on the new connection")
        new.close()
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertEqual([e for e in ev if e["event"] == "anomaly" and e["kind"] == "gap"], [])
        self.assertEqual([e["text"] for e in ev if e["event"] == "message"],
                         ["on the old connection", "on the new connection"])
        first, second = [e for e in ev if e["event"] == "flow"]
        self.assertEqual((first["end_reason"], first["packets_c2s"], first["gaps"]), ("reused", 4, 0))
        self.assertEqual((second["end_reason"], second["packets_c2s"], second["gaps"]), ("fin", 5, 0))
        self.assertNotEqual(first["flow"], second["flow"])

    def test_a_syn_nobody_answered_ends_no_connection(self):
        # a SYN with another initial sequence number on an established
        # connection, which its receiver answers with an ACK and ignores
        # (a forged one; once before any data, once after): the connection
        # goes on, and so does its flow, every message read. A SYN the peer
        # answers with its SYN-ACK is a new connection (the test above).
        for before_data in (True, False):
            c = Capture()
            sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
            if before_data:
                sb.segment(0, SYN, seq=sb.next_seq[0] + 500000, advance=0)
            chat_on(sb, "first")
            if not before_data:
                sb.segment(0, SYN, seq=123456, advance=0)
                sb.segment(1, ACK)  # the receiver's challenge ACK
            sb.c2s(text_message("second"))
            sb.close()
            rc, out, err = c.run(["-q"])
            self.assertEqual(rc, 0, err)
            ev = events(out)
            self.assertEqual([e["text"] for e in ev if e["event"] == "message"], ["first", "second"], before_data)
            flow, = [e for e in ev if e["event"] == "flow"]
            self.assertEqual((flow["end_reason"], flow["gaps"], flow["midstream"]), ("fin", 0, False), before_data)

    def test_a_syn_ack_with_another_sequence_number_after_the_handshake(self):
        # the server's side: a SYN-ACK with another initial sequence number
        # once the client acknowledged the first is no new start of its
        # stream: the switchboard's answers are all read
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        sb.segment(1, SYN | ACK, seq=sb.next_seq[1] + 700000, advance=0)
        chat_on(sb, "hello")
        sb.s2c(msg("MSG bob@example.com Bob", b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nfrom bob"))
        sb.close()
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertEqual([e["text"] for e in ev if e["event"] == "message"], ["hello", "from bob"])
        flow, = [e for e in ev if e["event"] == "flow"]
        self.assertEqual((flow["end_reason"], flow["gaps"]), ("fin", 0))

    def test_connection_ending_inside_a_payload(self):
        # A MSG whose length promises more bytes than the connection
        # carried before its FIN: the lost message is said, at its offset.
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        chat_on(sb, "delivered")
        at = sb.next_seq[0] - 1000 - 1
        sb.c2s(text_message("never finished")[:-5])
        sb.close()
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertEqual([e["text"] for e in ev if e["event"] == "message"], ["delivered"])
        lost, = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "parse_error"]
        self.assertEqual((lost["direction"], lost["offset"]), ("client", at))
        self.assertEqual(lost["detail"], "the connection was closed (FIN) inside a command's payload; the command is lost")

    def test_what_ended_a_cut_payload_is_named(self):
        # The same MSG cut short, its flow ended by a reset, by the end of
        # the capture (no FIN or RST seen: the connection may have gone on)
        # and by idling out: the anomaly says which.
        for end, detail in (
                ("rst", "the connection was reset (RST) inside a command's payload; the command is lost"),
                ("capture_end", "the capture ended (the connection was not seen to close) inside a command's "
                                "payload; the command is lost"),
                ("idle", "the flow was dropped as idle (the connection was not seen to close) inside a command's "
                         "payload; the command is lost")):
            c = Capture()
            sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
            chat_on(sb, "delivered")
            at = sb.next_seq[0] - 1000 - 1
            sb.c2s(text_message("never finished")[:-5])
            if end == "rst":
                sb.segment(0, RST | ACK)
            args = ["-q"]
            if end == "idle":
                args += ["--flow-timeout", "1"]
                c.wait(3)
                c.tcp("10.0.0.11", 1102, "64.4.12.194", 1863)  # a later packet: the first flow idles out
            rc, out, err = c.run(args)
            self.assertEqual(rc, 0, err)
            ev = events(out)
            lost, = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "parse_error"]
            self.assertEqual((lost["direction"], lost["offset"], lost["detail"]), ("client", at, detail), end)
            flow, = [e for e in ev if e["event"] == "flow" and e["flow"] == lost["flow"]]
            self.assertEqual(flow["end_reason"], end)

    def test_capture_ending_inside_a_command_line(self):
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        chat_on(sb, "delivered")
        at = sb.next_seq[1] - 5000 - 1
        sb.s2c("MSG bob@example.com B")
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        lost, = [e for e in events(out) if e["event"] == "anomaly" and e["kind"] == "parse_error"]
        self.assertEqual((lost["direction"], lost["offset"]), ("server", at))
        self.assertEqual(lost["detail"], "the capture ended (the connection was not seen to close) inside a command "
                                         "line; the command is lost")

    def test_retransmission_of_an_incomplete_command_with_other_contents(self):
        # The first part of a MSG, then that part again with other text
        # while the analyzer still holds it (the payload is incomplete):
        # the first copy is kept and the conflict is said, as for queued
        # bytes.
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        chat_on(sb, "before")
        text = text_message("the first copy is kept")
        at, seq = sb.next_seq[0] - 1001, sb.next_seq[0]
        sb.c2s(text[:50])
        sb.segment(0, PSH | ACK, text[:50].replace(b"MIME", b"EVIL"), seq=seq, advance=0)
        sb.segment(0, PSH | ACK, text[:50], seq=seq, advance=0)  # the same again: nothing to say
        sb.c2s(text[50:])
        sb.close()
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertEqual([e["text"] for e in ev if e["event"] == "message"], ["before", "the first copy is kept"])
        conflict, = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "overlap_conflict"]
        self.assertEqual((conflict["direction"], conflict["offset"], conflict["length"]), ("client", at, 50))

    def test_overlapping_copies_are_kept_as_the_receiver_keeps_them(self):
        # Someone on the path sends other bytes for the end of a message
        # ahead of it; then the real segment comes, in order, with all of
        # it. A Linux receiver takes the in-order segment whole and drops
        # what it had queued behind it: so does the analyzer, and says the
        # conflict. Copies at the same byte: the queued one is kept unless
        # the later one goes further.
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        chat_on(sb, "before")
        real, forged = text_message("meet me at noon"), text_message("meet me at nine")
        at, seq, cut = sb.next_seq[0] - 1001, sb.next_seq[0], len(real) - 4
        sb.segment(0, PSH | ACK, forged[cut:], seq=seq + cut, advance=0)
        sb.c2s(real)
        # the same byte, the later copy no longer: the queued one stays
        one, other = text_message("first at one byte"), text_message("other at one byte")
        seq = sb.next_seq[0]
        sb.segment(0, PSH | ACK, one[10:], seq=seq + 10, advance=0)
        sb.segment(0, PSH | ACK, other[10:], seq=seq + 10, advance=0)
        sb.c2s(one[:10])
        sb.next_seq[0] = seq + len(one)
        # the same byte, the later copy further: it is kept
        short, longer = text_message("short copy"), text_message("later copy, longer")
        seq = sb.next_seq[0]
        sb.segment(0, PSH | ACK, short[10:len(short) - 1], seq=seq + 10, advance=0)
        sb.segment(0, PSH | ACK, longer[10:], seq=seq + 10, advance=0)
        sb.c2s(longer[:10])
        sb.next_seq[0] = seq + len(longer)
        sb.close()
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertEqual([e["text"] for e in ev if e["event"] == "message"],
                         ["before", "meet me at noon", "first at one byte", "later copy, longer"])
        conflicts = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "overlap_conflict"]
        self.assertEqual([(e["offset"], e["length"]) for e in conflicts],
                         [(at + cut, 4), (at + len(real) + 10, len(one) - 10),
                          (at + len(real) + len(one) + 10, len(short) - 11)])
        self.assertEqual([e["detail"].split("; ")[1][:21] for e in conflicts],
                         ["the second copy is ke", "the first copy is kep", "the second copy is ke"])
        self.assertEqual(conflicts[0]["first_fnv1a64"], fnv1a64(forged[cut:]))
        self.assertEqual(conflicts[0]["second_fnv1a64"], fnv1a64(real[cut:]))

    def test_rst_out_of_window_is_ignored(self):
        # A RST whose sequence number is megabytes from what its receiver
        # expects is dropped by that receiver: the switchboard goes on,
        # and so does its flow, with the RST said. One in window ends it.
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        chat_on(sb, "before the RST")
        sb.segment(1, RST, seq=sb.next_seq[1] + 3000000, advance=0)
        sb.c2s(text_message("after the RST"))
        sb.segment(1, RST | ACK, advance=0)
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        ignored, = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "ignored_rst"]
        flow, = [e for e in ev if e["event"] == "flow"]
        self.assertEqual(ignored["flow"], flow["flow"])
        self.assertEqual((flow["end_reason"], flow["midstream"]), ("rst", False))
        sent = [(e["text"], e["session"]) for e in ev if e["event"] == "message"]
        self.assertEqual(sent, [("before the RST", 1), ("after the RST", 1)])

    def test_incomplete_datagrams_dropped_are_said(self):
        # a MSG in two IPv4 fragments, 32 other datagrams' first fragments
        # in between: the table of 32 evicts the MSG's first fragment and
        # the message is lost; that is said, and counted in the summary
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        chat_on(sb, "before")
        segment = struct.pack("!HHIIBBHHH", 1101, 1863, sb.next_seq[0], sb.next_seq[1], 0x50, PSH | ACK, 65535, 0,
                              0) + text_message("fragmented")
        sb.next_seq[0] += len(segment) - 20

        def fragment(src, proto, ident, offset, more, data):
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), ident, (more << 13) | offset // 8, 64,
                             proto, 0, bytes(map(int, src.split("."))), bytes([64, 4, 12, 193]))
            c.frames.append(b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + data)
            c.later.append(c.waited)
        fragment("10.0.0.10", 6, 5000, 0, 1, segment[:32])
        for k in range(32):
            fragment("10.0.0.99", 17, 100 + k, 0, 1, b"j" * 16)
        fragment("10.0.0.10", 6, 5000, 32, 0, segment[32:])
        sb.segment(1, ACK)
        rc, out, err = c.run(["--summary"])
        self.assertEqual(rc, 0, err)
        ev = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
        self.assertEqual([e["text"] for e in ev if e["event"] == "message"], ["before"])
        dropped = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "fragment"]
        # the MSG's first fragment, then a junk one for its last fragment
        self.assertEqual([("evicted" in e["detail"], e["frame"]) for e in dropped], [(True, 40), (True, 41)])
        self.assertIn("fragments: 34, datagrams reassembled 0; incomplete datagrams dropped: 0 timed out, 2 evicted "
                      "from the table of 32, 0 with overlapping fragments, 32 held at the end; fragments rejected 0",
                      out.decode())

    def test_bytes_dropped_for_memory_are_not_called_missing(self):
        # a message longer than --flow-memcap is in the capture: its gap
        # says the limit dropped it, not that the capture lost it
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        chat_on(sb, "before")
        big = text_message("y" * 30000)
        for i in range(0, len(big), 1400):
            sb.c2s(big[i:i + 1400])
        sb.c2s(text_message("after"))
        rc, out, err = c.run(["-q", "--flow-memcap", "16K"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertEqual([e["text"] for e in ev if e["event"] == "message"], ["before", "after"])
        gap, = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "gap"]
        self.assertNotIn("missing from the capture", gap["detail"])
        self.assertIn("--flow-memcap", gap["detail"])

    def test_session_state_over_the_memcap_is_said(self):
        # 30 switchboards under a memcap that holds about ten: each one is
        # followed (its open reported) or said not to be, never neither
        c = Capture()
        for k in range(30):
            switchboard(c, 2000 + k, "64.4.13.1", "1.2.%d" % k, "bob@example.com")
        rc, out, err = c.run(["-q", "--memcap", "40K"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        opened = {e["flow"] for e in ev if e["event"] == "switchboard" and e["action"] == "open"}
        said = {e["flow"] for e in ev if e["event"] == "anomaly" and e["kind"] == "memcap"
                and "does not fit" in e["detail"]}
        self.assertTrue(said)
        self.assertEqual(opened | said, set(range(1, 31)))
        self.assertEqual(opened & said, set())
        # an MSNFTP connection whose transfer state does not fit
        c = Capture()
        ft = c.tcp("10.0.0.20", 1200, "10.0.0.10", 6891)
        ft.c2s("VER MSNFTP\r\n")
        ft.s2c("VER MSNFTP\r\n")
        rc, out, err = c.run(["-q", "--memcap", "4K"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        flow, = [e for e in ev if e["event"] == "flow"]
        said, = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "memcap"]
        self.assertEqual((flow["app"], said["flow"]), ("msnftp", flow["flow"]))
        self.assertIn("MSNFTP transfer", said["detail"])

    def test_data_on_a_rst_is_not_the_streams(self):
        # a RST's payload is never delivered to its receiver: a message in
        # it is one nobody got, said as such, and the flow ends by the RST
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        chat_on(sb, "before the RST")
        sb.segment(0, RST | ACK, text_message("inside the RST"), advance=0)
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertEqual([e["text"] for e in ev if e["event"] == "message"], ["before the RST"])
        dropped, = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "rst_with_data"]
        flow, = [e for e in ev if e["event"] == "flow"]
        self.assertEqual(dropped["flow"], flow["flow"])
        self.assertEqual((flow["end_reason"], flow["gaps"]), ("rst", 0))

    def test_segments_far_ahead_are_counted(self):
        # a segment more than 64 MB ahead of its stream, unconfirmed by an
        # acknowledgement, is dropped: no gap, no message, but the summary
        # counts it
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        chat_on(sb, "in the window")
        sb.next_seq[0] += 100 * 1000 * 1000
        sb.c2s(text_message("far ahead"))
        rc, out, err = c.run([])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertEqual([e["text"] for e in ev if e["event"] == "message"], ["in the window"])
        self.assertEqual([e for e in ev if e["event"] == "gap"], [])
        self.assertIn("; segments dropped more than 64 MB ahead of their stream 1\n", err)
        rc, out, err = Capture().run([])
        self.assertNotIn("segments dropped", err)

    def test_forged_far_segment_and_acknowledgement_blind_nothing(self):
        # Someone on the path forges a client segment 100 MB ahead and a
        # server acknowledgement of it. Neither endpoint takes them (the
        # server drops data that far past its window and answers with an
        # acknowledgement of what it really expects; the client drops an
        # acknowledgement of bytes it never sent), and the conversation
        # goes on where it was: so does the analysis.
        for forged_ack_first in (False, True):
            c = Capture()
            sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
            chat_on(sb, "before the forged segments")
            far = sb.next_seq[0] + 100 * 1000 * 1000
            junk = text_message("forged")
            if forged_ack_first:
                sb.segment(1, ACK, ack=far + len(junk), advance=0)
            sb.segment(0, PSH | ACK, junk, seq=far, advance=0)
            if not forged_ack_first:
                sb.segment(1, ACK, ack=far + len(junk), advance=0)
            sb.segment(1, ACK)  # the server's answer: what it expects
            sb.c2s(text_message("after the forged segments"))
            sb.s2c(msg("MSG bob@example.com Bob", b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\na reply"))
            sb.c2s(text_message("and one more"))
            sb.close()
            rc, out, err = c.run(["-q"])
            self.assertEqual(rc, 0, err)
            ev = events(out)
            self.assertEqual([e["text"] for e in ev if e["event"] == "message"],
                             ["before the forged segments", "after the forged segments", "a reply", "and one more"])
            self.assertEqual([e for e in ev if e["event"] == "anomaly" and e["kind"] == "gap"], [])
            flow, = [e for e in ev if e["event"] == "flow"]
            self.assertEqual((flow["end_reason"], flow["gaps"]), ("fin", 0))

    def test_forged_segment_past_the_receive_window_blinds_nothing(self):
        # Someone on the path forges a client segment a megabyte ahead (far
        # past the server's 64 KB window, within msnsniff's 64 MB) and a
        # server acknowledgement of it. The server drops data beyond its
        # window and never acknowledges it: the forged message is not read
        # and the real data after it is, whichever forged packet comes
        # first, with or without window scaling.
        for wscale, window in ((None, 65535), (7, 512)):
            for forged_ack_first in (False, True):
                c = Capture()
                sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863, wscale=wscale)
                sb.window = window
                chat_on(sb, "before the forged segments")
                far = sb.next_seq[0] + 1000 * 1000
                junk = text_message("forged")
                if forged_ack_first:
                    sb.segment(1, ACK, ack=far + len(junk), advance=0)
                sb.segment(0, PSH | ACK, junk, seq=far, advance=0)
                if not forged_ack_first:
                    sb.segment(1, ACK, ack=far + len(junk), advance=0)
                sb.c2s(text_message("after the forged segments"))
                sb.s2c(msg("MSG bob@example.com Bob", b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\na reply"))
                sb.c2s(text_message("and one more"))
                sb.close()
                rc, out, err = c.run(["-q"])
                self.assertEqual(rc, 0, err)
                ev = events(out)
                self.assertEqual([e["text"] for e in ev if e["event"] == "message"],
                                 ["before the forged segments", "after the forged segments", "a reply",
                                  "and one more"], (wscale, forged_ack_first))
                self.assertEqual([e for e in ev if e["event"] == "anomaly" and e["kind"] == "gap"], [])
                flow, = [e for e in ev if e["event"] == "flow"]
                self.assertEqual((flow["end_reason"], flow["gaps"]), ("fin", 0))

    def test_data_on_a_syn_is_not_the_streams(self):
        # a SYN's data is dropped by a receiver without TCP Fast Open, whose
        # SYN-ACK acknowledges the SYN only: the login that counts is the
        # one sent after the handshake, not the cookie the SYN carried
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863, handshake=False)
        sb.segment(0, SYN, b"USR 1 alice@example.com 6.6.6\r\n", advance=1)
        sb.segment(1, SYN | ACK, advance=1)
        sb.segment(0, ACK)
        chat_on(sb, "after the handshake")
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        opened, = [e for e in ev if e["event"] == "switchboard" and e["action"] == "open"]
        self.assertEqual(opened["cookie"], "1.2.3")
        dropped, = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "syn_with_data"]
        flow, = [e for e in ev if e["event"] == "flow"]
        self.assertEqual(dropped["flow"], flow["flow"])
        self.assertEqual(flow["gaps"], 0)
        # taken (TCP Fast Open): the SYN-ACK acknowledges it, and the bytes
        # are a gap before the stream goes on
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863, handshake=False)
        sb.segment(0, SYN, b"USR 1 alice@example.com 1.2.3\r\n", advance=32)
        sb.segment(1, SYN | ACK, advance=1)
        sb.segment(0, ACK)
        sb.s2c("USR 1 OK alice@example.com Alice\r\n")
        sb.s2c("JOI bob@example.com Bob\r\n")
        sb.c2s(text_message("after fast open"))
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        gap, = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "gap"]
        self.assertEqual((gap["direction"], gap["offset"], gap["lost"]), ("client", 0, 31))
        self.assertEqual([e["text"] for e in ev if e["event"] == "message"], ["after fast open"])

    def test_data_after_fin_is_dropped_as_its_receiver_drops_it(self):
        # after its FIN a sender's data is dropped by the receiver: it is
        # not read after a one-byte gap as a message nobody got
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        chat_on(sb, "before the FIN")
        sb.segment(0, FIN | ACK, advance=1)
        sb.c2s(text_message("after the FIN"))
        sb.segment(1, FIN | ACK, advance=1)
        sb.segment(0, ACK)
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertEqual([e["text"] for e in ev if e["event"] == "message"], ["before the FIN"])
        dropped, = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "data_after_fin"]
        flow, = [e for e in ev if e["event"] == "flow"]
        self.assertEqual(dropped["flow"], flow["flow"])
        self.assertEqual((flow["end_reason"], flow["gaps"]), ("fin", 0))

    def test_a_fin_its_receiver_would_not_take_silences_nothing(self):
        # a FIN before bytes already delivered (stale or forged: out of
        # window), and one ahead of the data, which the data covering its
        # sequence number replaces at the receiver: the messages after
        # either are read, and the connection ends with its real FINs
        for off in (-100000, 10):
            c = Capture()
            sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
            chat_on(sb, "before")
            sb.segment(0, FIN | ACK, seq=sb.next_seq[0] + off, advance=0)
            sb.c2s(text_message("after the forged FIN"))
            sb.segment(1, ACK)
            sb.c2s(text_message("and more"))
            sb.close()
            rc, out, err = c.run(["-q"])
            self.assertEqual(rc, 0, err)
            ev = events(out)
            self.assertEqual([e["text"] for e in ev if e["event"] == "message"],
                             ["before", "after the forged FIN", "and more"], off)
            self.assertEqual([e for e in ev if e["event"] == "anomaly" and e["kind"] in ("data_after_fin", "gap")],
                             [], off)
            flow, = [e for e in ev if e["event"] == "flow"]
            self.assertEqual((flow["end_reason"], flow["gaps"]), ("fin", 0), off)

    def test_data_after_both_fins_is_dropped_too(self):
        # both FINs closed the flow; then the client's data past its FIN,
        # and a copy of its last message: neither is a new connection seen
        # mid-stream, and no message nobody got (or got twice) is reported
        c = Capture()
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        chat_on(sb, "before the FIN")
        last = text_message("before the FIN")
        sb.segment(0, FIN | ACK, advance=1)
        sb.segment(1, FIN | ACK, advance=1)
        sb.segment(0, ACK)
        sb.segment(0, PSH | ACK, last, seq=sb.next_seq[0] - 1 - len(last), advance=0)
        sb.c2s(text_message("after the FIN"))
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertEqual([e["text"] for e in ev if e["event"] == "message"], ["before the FIN"])
        flow, = [e for e in ev if e["event"] == "flow"]
        self.assertEqual(flow["end_reason"], "fin")
        dropped, = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "data_after_fin"]
        self.assertEqual(dropped["flow"], flow["flow"])


class FieldsWholeOrRefused(unittest.TestCase):
    """Protocol fields are kept whole or refused with an anomaly, never
    cut: a cut session id or address would be another's."""

    def test_uuid_session_ids_that_share_a_prefix_stay_two_sessions(self):
        # Some servers name switchboard sessions by UUID (38 bytes with the
        # braces). Carol's session differs from Alice's only at the end: her
        # received message is no echo of Alice's and is in the transcript.
        c = Capture()
        first, second = "{11111111-2222-3333-4444-555555555555}", "{11111111-2222-3333-4444-555555AAAAAA}"
        s1 = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        s1.c2s("USR 1 alice@example.com 1.2.3\r\n")
        s1.s2c("USR 1 OK alice@example.com Alice\r\n")
        s1.c2s("CAL 2 bob@example.com\r\n")
        s1.s2c("CAL 2 RINGING %s\r\n" % first)
        s1.s2c("JOI bob@example.com Bob\r\n")
        s1.c2s(text_message("hello bob"))
        s2 = c.tcp("10.0.0.40", 1102, "64.4.12.193", 1863)
        s2.c2s("ANS 1 carol@example.com 4.5.6 %s\r\n" % second)
        s2.s2c("IRO 1 1 1 alice@example.com Alice\r\n")
        s2.s2c("ANS 1 OK\r\n")
        s2.s2c(msg("MSG alice@example.com Alice",
                   b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nfor carol"))
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        to_bob, to_carol = [e for e in ev if e["event"] == "message"]
        self.assertNotEqual(to_bob["conversation"], to_carol["conversation"])
        self.assertFalse(to_carol["echo"])
        opened = [e for e in ev if e["event"] == "switchboard" and e["action"] == "open"]
        self.assertEqual(opened[-1]["sessid"], second)
        rc, out, err = c.run(["--transcript"])
        self.assertIn(b"for carol", out)

    def test_long_fields(self):
        # An address over the 129 bytes of a passport name is refused
        # (oversized_field, user null), not cut to another address; a file
        # name of 300 bytes and an AuthCookie of 50 are kept whole.
        long_user = "u" * 150 + "@example.com"
        name, auth = "n" * 296 + ".txt", "A" * 50
        c = Capture()
        notification_login(c, user=long_user)
        sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
        sb.c2s(msg("MSG 4 N", invitation(
            ("Application-Name", "File Transfer"), ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"),
            ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "31"), ("Application-File", name),
            ("Application-FileSize", "5"))))
        sb.s2c(msg("MSG bob@example.com Bob", invitation(
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "31"), ("Launch-Application", "FALSE"),
            ("Request-Data", "IP-Address:"))))
        sb.c2s(msg("MSG 5 N", invitation(
            ("Invitation-Command", "ACCEPT"), ("Invitation-Cookie", "31"), ("IP-Address", "10.0.0.10"),
            ("Port", "6891"), ("AuthCookie", auth), ("Launch-Application", "FALSE"), ("Request-Data", "IP-Address:"))))
        ft = c.tcp("10.0.0.20", 1200, "10.0.0.10", 6891)
        ft.c2s("VER MSNFTP\r\n")
        ft.s2c("VER MSNFTP\r\n")
        ft.c2s("USR bob@example.com %s\r\n" % auth)
        ft.s2c("FIL 5\r\n")
        ft.c2s("TFR\r\n")
        ft.s2c(b"\x00\x05\x00hello")
        ft.c2s("BYE 16777989\r\n")
        ft.close()
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        login, = [e for e in ev if e["event"] == "login"]
        self.assertIsNone(login["user"])
        refused = [e for e in ev if e["event"] == "anomaly" and e["kind"] == "oversized_field"]
        self.assertTrue(refused and "162 bytes" in refused[0]["detail"], refused)
        self.assertFalse([e for e in ev if long_user[:129] in json.dumps(e) and long_user not in json.dumps(e)])
        f, = [e for e in ev if e["event"] == "file"]
        self.assertEqual((f["name"], f["auth_cookie"], f["status"]), (name, auth, "complete"))
        inv = [e for e in ev if e["event"] == "invitation"]
        self.assertEqual(inv[0]["file"], name)


class SwitchboardAnswers(unittest.TestCase):
    """What the switchboard server answered decides what is reported: a
    login it refused opened no session, a message it refused reached no
    one; one user is one user whatever the case of the address."""

    def test_refused_logins_open_no_session(self):
        # A switchboard that refuses a login answers 911 and closes: a real
        # cookie with another's address, an answer with a session id that
        # is not the call's, a cookie never handed out. None opened a
        # session or used the referral; the cookie's owner then did.
        c = Capture()
        ns = notification_login(c)
        ns.c2s("XFR 4 SB\r\n")
        ns.s2c("XFR 4 SB 64.4.12.193:1863 CKI 1.2.3\r\n")
        for port, line in ((1101, "USR 1 carol@example.com 1.2.3"),
                           (1102, "ANS 1 bob@example.com 1.2.3 {0E5D1B7C-AAAA-BBBB-CCCC-DDDDEEEEFFFF}"),
                           (1103, "USR 1 alice@example.com alice@example.com;{6F1D2A3B-1111-2222-3333-444455556666}")):
            sb = c.tcp("10.0.0.10", port, "64.4.12.193", 1863)
            sb.c2s(line + "\r\n")
            sb.s2c("911 1\r\n")
            sb.close()
        sb = switchboard(c, 1104, "64.4.12.193", "1.2.3", "bob@example.com")
        sb.c2s(text_message("admitted"))
        sb.close()
        rc, out, err = c.run([])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        flows = {e["flow"]: e["sport"] for e in ev if e["event"] == "flow"}
        opened = [e for e in ev if e["event"] == "switchboard" and e["action"] == "open"]
        self.assertEqual([flows[e["flow"]] for e in opened], [1104])
        refused = [e for e in ev if e["event"] == "switchboard" and e["action"] == "refused"]
        self.assertEqual([(flows[e["flow"]], e["user"], e["mode"], e["error"]) for e in refused],
                         [(1101, "carol@example.com", "call", "911"), (1102, "bob@example.com", "answer", "911"),
                          (1103, "alice@example.com", "call", "911")])
        self.assertEqual((refused[0]["ns_flow"], refused[0]["referral"]), (ns_flow(ev), "XFR"))
        self.assertEqual(refused[1]["sessid"], "{0E5D1B7C-AAAA-BBBB-CCCC-DDDDEEEEFFFF}")
        self.assertEqual([e for e in ev if e["event"] == "switchboard" and e["action"] == "leave"], [])
        hits = [e for e in ev if e["event"] == "expectation_hit" and e["app"] == "switchboard"]
        self.assertEqual([flows[e["flow"]] for e in hits], [1104])
        self.assertEqual([e for e in ev if e["event"] == "expectation_miss"], [])
        self.assertIn("switchboard sessions: 1, messages 1, typing 0, joins 1; "
                      "refused by the server: logins 3, messages 0", err)
        rc, out, err = c.run(["-q", "--transcript"])
        text = out.decode()
        self.assertIn("<sb1> *** carol@example.com could not open the session (911 authentication failed)", text)
        self.assertIn("<sb2> *** bob@example.com could not answer a call into the session (911 ", text)
        self.assertNotIn("carol@example.com opened", text)
        self.assertNotIn("bob@example.com answered", text)
        self.assertEqual(text.count("opened the session"), 1)

    def test_login_whose_answer_was_not_captured(self):
        # The server's USR OK lost to a gap, then the session in use: it
        # was open. A capture of the client's side alone: its message says
        # the same. A login the capture shows neither answered nor used
        # opened nothing that it shows.
        c = Capture()
        ns = notification_login(c)
        ns.c2s("XFR 4 SB\r\n")
        ns.s2c("XFR 4 SB 64.4.12.193:1863 CKI 1.2.3\r\n")
        lost = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        lost.c2s("USR 1 alice@example.com 1.2.3\r\n")
        lost.next_seq[1] += len("USR 1 OK alice@example.com Alice\r\n")
        lost.s2c("JOI bob@example.com Bob\r\n")
        lost.c2s(text_message("after the hole"))
        lost.close()
        one_sided = c.tcp("10.0.0.10", 1102, "64.4.12.194", 1863, handshake=False)
        one_sided.segment(0, SYN, advance=1)
        one_sided.c2s("USR 1 alice@example.com 4.5.6\r\n")
        one_sided.c2s(text_message("only my side"))
        silent = c.tcp("10.0.0.10", 1103, "64.4.12.195", 1863)
        silent.c2s("USR 1 alice@example.com 7.8.9\r\n")
        silent.close()
        rc, out, err = c.run([])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        flows = {e["flow"]: e["sport"] for e in ev if e["event"] == "flow"}
        opened = {flows[e["flow"]]: e for e in ev if e["event"] == "switchboard" and e["action"] == "open"}
        self.assertEqual(sorted(opened), [1101, 1102])
        self.assertEqual((opened[1101]["mode"], opened[1101]["ns_flow"]), ("call", ns_flow(ev)))
        sent = {e["text"]: e for e in ev if e["event"] == "message"}
        self.assertEqual(sent["after the hole"]["session"], opened[1101]["session"])
        self.assertEqual(sent["after the hole"]["recipients"], ["bob@example.com"])
        self.assertEqual(sent["only my side"]["session"], opened[1102]["session"])
        self.assertEqual([e for e in ev if e["event"] == "switchboard" and e["action"] == "refused"], [])
        self.assertIn("switchboard sessions: 2,", err)
        rc, out, err = c.run(["-q", "--transcript"])
        self.assertLess(out.index(b"opened the session"), out.index(b"after the hole"))

    def test_extra_fields_after_the_cookie(self):
        # USR t email cookie 1: the server passes over the last field; the
        # login is the referral's, whole.
        c = Capture()
        ns = notification_login(c)
        ns.c2s("XFR 4 SB\r\n")
        ns.s2c("XFR 4 SB 64.4.12.193:1863 CKI 2565575996.685560207.39198\r\n")
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        sb.c2s("USR 1 alice@example.com 2565575996.685560207.39198 1\r\n")
        sb.s2c("USR 1 OK alice@example.com Alice\r\n")
        sb.c2s("OUT\r\n")
        sb.close()
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        opened, = [e for e in ev if e["event"] == "switchboard" and e["action"] == "open"]
        self.assertEqual((opened["mode"], opened["cookie"], opened["server"], opened["ns_flow"], opened["referral"]),
                         ("call", "2565575996.685560207.39198", "64.4.12.193:1863", ns_flow(ev), "XFR"))
        hit, = [e for e in ev if e["event"] == "expectation_hit" and e["app"] == "switchboard"]
        self.assertEqual(hit["flow"], opened["flow"])
        self.assertEqual([e for e in ev if e["event"] in ("expectation_miss", "anomaly")], [])

    def test_one_user_whatever_the_case_of_the_address(self):
        # Alice typed Alice@Example.COM; the servers answered with the
        # account's alice@example.com, and relay her message under it. Bob
        # typed BOB@example.com answering. Her message reached Bob once:
        # his copy is the echo, shown and counted once.
        c = Capture()
        ns = notification_login(c, user="Alice@Example.COM", answer="USR 3 OK alice@example.com Alice 1")
        ns.c2s("XFR 4 SB\r\n")
        ns.s2c("XFR 4 SB 64.4.12.193:1863 CKI 1.2.3\r\n")
        nsb = notification_login(c, user="bob@example.com", client="10.0.0.20",
                                 answer="USR 3 OK bob@example.com Bob 1")
        a = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        a.c2s("USR 1 Alice@Example.COM 1.2.3\r\n")
        a.s2c("USR 1 OK alice@example.com Alice\r\n")
        a.c2s("CAL 2 BOB@example.com\r\n")
        a.s2c("CAL 2 RINGING 424242\r\n")
        nsb.s2c("RNG 424242 64.4.12.193:1863 CKI 4.5.6 alice@example.com Alice\r\n")
        b = c.tcp("10.0.0.20", 1102, "64.4.12.193", 1863)
        b.c2s("ANS 1 BOB@example.com 4.5.6 424242\r\n")
        b.s2c("IRO 1 1 1 alice@example.com Alice\r\n")
        b.s2c("ANS 1 OK\r\n")
        a.s2c("JOI bob@example.com Bob\r\n")
        a.c2s(text_message("to bob"))
        b.s2c(msg("MSG alice@example.com Alice",
                  b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nto bob"))
        b.c2s(text_message("to alice"))
        a.s2c(msg("MSG Bob@Example.com Bob",
                  b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nto alice"))
        rc, out, err = c.run([])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        opened = [(e["user"], e["mode"]) for e in ev if e["event"] == "switchboard" and e["action"] == "open"]
        self.assertEqual(opened, [("alice@example.com", "call"), ("bob@example.com", "answer")])
        seen = [(e["text"], e["direction"], e["echo"], e["sender"], e["recipients"])
                for e in ev if e["event"] == "message"]
        self.assertEqual(seen, [("to bob", "sent", False, "alice@example.com", ["bob@example.com"]),
                                ("to bob", "received", True, "alice@example.com", ["bob@example.com"]),
                                ("to alice", "sent", False, "bob@example.com", ["alice@example.com"]),
                                ("to alice", "received", True, "bob@example.com", ["alice@example.com"])])
        self.assertIn("messages 2,", err)
        rc, out, err = c.run(["-q", "--transcript"])
        self.assertEqual(out.count(b"] to bob"), 1)
        self.assertEqual(out.count(b"] to alice"), 1)
        self.assertNotIn(b"Alice@Example.COM", out)

    def test_refused_messages_are_said_not_delivered(self):
        # The server answers 201 to a MSG above its size limit and to one
        # with an ack letter it does not take, and relays neither: each
        # message event is followed by a message_refused one naming its
        # TrID; the transcript says so; the summary counts one message.
        c = Capture()
        sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
        sb.c2s(text_message("REFUSED-TOO-BIG " + "x" * 1700).replace(b"MSG 3 N", b"MSG 3 A", 1))
        sb.s2c("201 3\r\n")
        sb.c2s(text_message("REFUSED-ACK-D").replace(b"MSG 3 N", b"MSG 4 D", 1))
        sb.s2c("201 4\r\n")
        sb.c2s(text_message("DELIVERED").replace(b"MSG 3 N", b"MSG 5 A", 1))
        sb.s2c("ACK 5\r\n")
        sb.s2c("201 5\r\n")  # answers nothing awaiting one: said of no message
        sb.close()
        rc, out, err = c.run([])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        said = [(e["event"], e.get("text", "")[:15], e["trid"]) for e in ev
                if e["event"] in ("message", "message_refused")]
        self.assertEqual(said, [("message", "REFUSED-TOO-BIG", 3), ("message_refused", "", 3),
                                ("message", "REFUSED-ACK-D", 4), ("message_refused", "", 4),
                                ("message", "DELIVERED", 5)])
        refusal = [e for e in ev if e["event"] == "message_refused"]
        self.assertEqual([(e["flow"], e["session"], e["sender"], e["kind"], e["error"]) for e in refusal],
                         [(refusal[0]["flow"], 1, "alice@example.com", "text", "201")] * 2)
        sent = [e for e in ev if e["event"] == "message"]
        self.assertTrue(all(e["flow"] == refusal[0]["flow"] and e["session"] == 1 for e in sent))
        self.assertIn("messages 1, typing 0, joins 1; refused by the server: logins 0, messages 2", err)
        rc, out, err = c.run(["-q", "--transcript"])
        lines = out.decode().splitlines()
        refused_at = [i for i, l in enumerate(lines) if "*** the server refused alice@example.com's message (201 " in l]
        self.assertEqual(len(refused_at), 2)
        self.assertIn("REFUSED-TOO-BIG", lines[refused_at[0] - 1])
        self.assertIn("REFUSED-ACK-D", lines[refused_at[1] - 1])
        self.assertTrue(lines[-1].endswith("] DELIVERED"))

    def test_nak_says_a_message_was_not_delivered(self):
        # bob has left: the switchboard answers alice's message and her
        # invitation with NAK (nobody else in the session). Each was
        # reported as delivered (and the invitation's address predicted):
        # now a message_refused with error NAK follows each, the summary
        # does not count the message, the transcript says so, and the
        # invitation's prediction is withdrawn.
        c = Capture()
        sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
        sb.s2c("BYE bob@example.com\r\n")
        sb.c2s(text_message("ANYONE").replace(b"MSG 3 N", b"MSG 3 A", 1))
        sb.s2c("NAK 3\r\n")
        sb.c2s(msg("MSG 4 N", invitation(
            ("Application-Name", "File Transfer"), ("Application-GUID", "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"),
            ("Invitation-Command", "INVITE"), ("Invitation-Cookie", "41"), ("Application-File", "a.txt"),
            ("Application-FileSize", "5"), ("IP-Address", "10.0.0.10"), ("Port", "6891"))))
        sb.s2c("NAK 4\r\n")
        sb.c2s(text_message("ACKED").replace(b"MSG 3 N", b"MSG 5 A", 1))
        sb.s2c("ACK 5\r\n")
        sb.close()
        rc, out, err = c.run([])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        refused = [(e["trid"], e["kind"], e["error"]) for e in ev if e["event"] == "message_refused"]
        self.assertEqual(refused, [(3, "text", "NAK"), (4, "invitation", "NAK")])
        self.assertIn("messages 1, typing 0, joins 1; refused by the server: logins 0, messages 2", err)
        self.assertIn("connections: predicted 1, matched 0, missed 0, retired 1", err)
        rc, out, err = c.run(["-q", "--transcript"])
        self.assertIn("*** the server refused alice@example.com's message (NAK): not delivered to every recipient",
                      out.decode())

    def test_messages_of_other_types_are_reported(self):
        # A client's capabilities (text/x-clientcaps), a MSG with no
        # Content-Type and an empty one are relayed like any other: each is
        # a message of kind "other" with its type, and the transcript says
        # so; the summary's count of text messages leaves them out.
        c = Capture()
        sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
        sb.c2s(msg("MSG 3 U", b"MIME-Version: 1.0\r\nContent-Type: text/x-clientcaps\r\n\r\nClient-Name: Gaim/0.80\r\n"))
        sb.s2c(msg("MSG bob@example.com Bob", b"MIME-Version: 1.0\r\n\r\nno type"))
        sb.s2c(msg("MSG bob@example.com Bob", b""))
        sb.c2s(text_message("plain"))
        sb.close()
        rc, out, err = c.run([])
        self.assertEqual(rc, 0, err)
        said = [(e["direction"], e["kind"], e.get("content_type", "-"), e["size"]) for e in events(out)
                if e["event"] == "message"]
        self.assertEqual(said, [("sent", "other", "text/x-clientcaps", 78), ("received", "other", None, 28),
                                ("received", "other", None, 0), ("sent", "text", "-", 67)])
        self.assertIn("messages 1, typing 0", err)
        rc, out, err = c.run(["-q", "--transcript"])
        text = out.decode()
        self.assertIn("[alice@example.com] (a message of type text/x-clientcaps, 78 bytes)", text)
        self.assertIn("[bob@example.com] (a message of type none, 0 bytes)", text)

    def test_answers_awaited_are_bounded(self):
        # Unacknowledged (U) messages get no answer when they go through:
        # the answers awaited stay few, and a refusal of the latest is
        # still told.
        c = Capture()
        sb = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
        for trid in range(3, 103):
            sb.c2s(text_message("u%d" % trid).replace(b"MSG 3 N", b"MSG %d U" % trid, 1))
        sb.s2c("201 102\r\n")
        sb.s2c("201 3\r\n")  # long forgotten
        sb.close()
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        self.assertEqual([e["trid"] for e in ev if e["event"] == "message_refused"], [102])


    def answering_bob(self, c, nsb, sessid="424242"):
        """Bob's answer into alice's switchboard session sessid."""
        nsb.s2c("RNG %s 64.4.12.193:1863 CKI 4.5.6 alice@example.com Alice\r\n" % sessid)
        b = c.tcp("10.0.0.20", 1102, "64.4.12.193", 1863)
        b.c2s("ANS 1 bob@example.com 4.5.6 %s\r\n" % sessid)
        b.s2c("IRO 1 1 1 alice@example.com Alice\r\n")
        b.s2c("ANS 1 OK\r\n")
        return b

    def test_echo_only_of_a_sending_captured(self):
        # Alice's MSG segment was lost; Bob's copy and the server's ACK to
        # Alice were captured. That copy is the only one seen: no echo,
        # shown and counted. Bob's reply, seen leaving him and reaching
        # Alice, is shown once.
        c = Capture()
        ns = notification_login(c)
        ns.c2s("XFR 4 SB\r\n")
        ns.s2c("XFR 4 SB 64.4.12.193:1863 CKI 1.2.3\r\n")
        nsb = notification_login(c, user="bob@example.com", client="10.0.0.20", answer="USR 3 OK bob@example.com Bob 1")
        a = switchboard(c, 1101, "64.4.12.193", "1.2.3", "bob@example.com")
        b = self.answering_bob(c, nsb)
        a.next_seq[0] += len(text_message("sending lost"))
        b.s2c(msg("MSG alice@example.com Alice",
                  b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nsending lost"))
        a.s2c("ACK 3\r\n")
        b.c2s(text_message("reply"))
        a.s2c(msg("MSG bob@example.com Bob",
                  b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nreply"))
        rc, out, err = c.run([])
        self.assertEqual(rc, 0, err)
        seen = [(e["text"], e["direction"], e["echo"], e["conversation"]) for e in events(out) if e["event"] == "message"]
        self.assertEqual(seen, [("sending lost", "received", False, 1), ("reply", "sent", False, 1),
                                ("reply", "received", True, 1)])
        self.assertIn("messages 2,", err)
        rc, out, err = c.run(["-q", "--transcript"])
        self.assertEqual(out.count(b"] sending lost"), 1)
        self.assertEqual(out.count(b"] reply"), 1)

    def test_connection_picked_up_after_its_login_shares_the_conversation(self):
        # Alice's switchboard is captured from after its USR OK: her user
        # is unknown there, but CAL ... RINGING gives the session id, and
        # Bob answered into the same session: one conversation, each
        # message counted once.
        c = Capture()
        nsb = notification_login(c, user="bob@example.com", client="10.0.0.20", answer="USR 3 OK bob@example.com Bob 1")
        a = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863, handshake=False)
        a.c2s("CAL 2 bob@example.com\r\n")
        a.s2c("CAL 2 RINGING 424242\r\n")
        b = self.answering_bob(c, nsb)
        a.s2c("JOI bob@example.com Bob\r\n")
        a.c2s(text_message("to bob"))
        b.s2c(msg("MSG alice@example.com Alice",
                  b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nto bob"))
        b.c2s(text_message("to alice"))
        a.s2c(msg("MSG bob@example.com Bob",
                  b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nto alice"))
        rc, out, err = c.run([])
        self.assertEqual(rc, 0, err)
        seen = [(e["text"], e["direction"], e["echo"], e["conversation"]) for e in events(out) if e["event"] == "message"]
        self.assertEqual(seen, [("to bob", "sent", False, 1), ("to bob", "received", True, 1),
                                ("to alice", "sent", False, 1), ("to alice", "received", True, 1)])
        self.assertIn("messages 2,", err)

    def test_refusal_after_an_inferred_open_keeps_the_referral(self):
        # USR and CAL sent at once, then 911: the CAL made the login look
        # admitted (an open and the referral's hit); the refusal names the
        # same referral, and the hit is counted as missed.
        c = Capture()
        ns = notification_login(c)
        ns.c2s("XFR 4 SB\r\n")
        ns.s2c("XFR 4 SB 64.4.12.193:1863 CKI 1.2.3\r\n")
        sb = c.tcp("10.0.0.10", 1101, "64.4.12.193", 1863)
        sb.c2s("USR 1 alice@example.com 1.2.3\r\nCAL 2 bob@example.com\r\n")
        sb.s2c("911 1\r\n")
        sb.close()
        rc, out, err = c.run([])
        self.assertEqual(rc, 0, err)
        ev = events(out)
        said = [(e["action"], e["ns_flow"], e.get("referral")) for e in ev
                if e["event"] == "switchboard" and e["action"] in ("open", "refused")]
        self.assertEqual(said, [("open", ns_flow(ev), "XFR"), ("refused", ns_flow(ev), "XFR")])
        self.assertIn("refused by the server: logins 1,", err)
        self.assertIn("connections: predicted 1, matched 0, missed 1, retired 0", err)

    def test_leave_names_the_user_as_the_session_knows_it(self):
        # Bob's session knows Alice as Alice@Example.com (the IRO); the BYE
        # writes ALICE@example.com: the leave names her as she joined.
        c = Capture()
        nsb = notification_login(c, user="bob@example.com", client="10.0.0.20", answer="USR 3 OK bob@example.com Bob 1")
        nsb.s2c("RNG 424242 64.4.12.193:1863 CKI 4.5.6 alice@example.com Alice\r\n")
        b = c.tcp("10.0.0.20", 1102, "64.4.12.193", 1863)
        b.c2s("ANS 1 bob@example.com 4.5.6 424242\r\n")
        b.s2c("IRO 1 1 1 Alice@Example.com Alice\r\n")
        b.s2c("ANS 1 OK\r\n")
        b.s2c("BYE ALICE@example.com\r\n")
        b.close()
        rc, out, err = c.run(["-q"])
        self.assertEqual(rc, 0, err)
        said = [(e["action"], e["user"]) for e in events(out)
                if e["event"] == "switchboard" and e["action"] in ("join", "leave")]
        self.assertEqual(said, [("join", "Alice@Example.com"), ("leave", "Alice@Example.com")])


def ns_flow(ev):
    """The flow of the (first) notification login in ev."""
    return next(e["flow"] for e in ev if e["event"] == "login")


if __name__ == "__main__":
    unittest.main(verbosity=1)
