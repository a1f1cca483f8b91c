#!/usr/bin/env python3
"""Cut a classic pcap (Ethernet) into fuzz_sniff_packets inputs of at most
MAX bytes each: consecutive frames as [selector][len lo][len hi][frame].

usage: pcap2fuzz.py CAPTURE OUTDIR PREFIX [MAX]"""
import os
import struct
import sys

src, outdir, prefix = sys.argv[1:4]
limit = int(sys.argv[4]) if len(sys.argv) > 4 else 8192
data = open(src, "rb").read()
assert struct.unpack("<I", data[:4])[0] == 0xA1B2C3D4, "classic little-endian pcap only"
off, chunk, n = 24, b"", 0
while off + 16 <= len(data):
    _, _, caplen, _ = struct.unpack("<IIII", data[off:off + 16])
    frame = data[off + 16:off + 16 + caplen]
    off += 16 + caplen
    rec = bytes([0]) + struct.pack("<H", len(frame)) + frame
    if len(chunk) + len(rec) > limit and chunk:
        with open(os.path.join(outdir, "%s-%03d" % (prefix, n)), "wb") as f:
            f.write(chunk)
        n, chunk = n + 1, b""
    chunk += rec
if chunk:
    with open(os.path.join(outdir, "%s-%03d" % (prefix, n)), "wb") as f:
        f.write(chunk)
