#!/usr/bin/env python3
"""Cut a classic pcap into fuzz_sniff_packets inputs of at most MAX bytes
each: consecutive frames as [selector][len lo][len hi][frame], the
selector naming the capture's link type as fuzz_sniff_packets.c does.

usage: pcap2fuzz.py CAPTURE OUTDIR PREFIX [MAX]"""
import os
import struct
import sys

src, outdir, prefix = sys.argv[1:4]
limit = int(sys.argv[4]) if len(sys.argv) > 4 else 8192
# link type -> selector (fuzz_sniff_packets.c, linktypes[])
SELECTOR = {1: 0, 101: 1, 113: 2, 276: 3, 0: 4, 108: 5, 228: 6, 229: 7, 105: 8, 127: 9, 192: 10, 9: 11, 50: 12,
            104: 13, 117: 14, 239: 15}
data = open(src, "rb").read()
assert struct.unpack("<I", data[:4])[0] == 0xA1B2C3D4, "classic little-endian pcap only"
linktype = struct.unpack("<I", data[20:24])[0]
assert linktype in SELECTOR, "link type %d is not one fuzz_sniff_packets takes" % linktype
off, chunk, n = 24, b"", 0
while off + 16 <= len(data):
    _, _, caplen, _ = struct.unpack("<IIII", data[off:off + 16])
    frame = data[off + 16:off + 16 + caplen]
    off += 16 + caplen
    rec = bytes([SELECTOR[linktype]]) + struct.pack("<H", len(frame)) + frame
    if len(chunk) + len(rec) > limit and chunk:
        with open(os.path.join(outdir, "%s-%03d" % (prefix, n)), "wb") as f:
            f.write(chunk)
        n, chunk = n + 1, b""
    chunk += rec
if chunk:
    with open(os.path.join(outdir, "%s-%03d" % (prefix, n)), "wb") as f:
        f.write(chunk)
