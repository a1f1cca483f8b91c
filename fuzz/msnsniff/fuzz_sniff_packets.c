/* fuzz_sniff_packets - the whole msnsniff packet path (decode, flows, TCP
 * reassembly, detection, MSNP parsing, sessions, invitations,
 * expectations, MSNFTP, DNS, event building) on arbitrary frames.
 *
 * Input: records of [selector][len lo][len hi][len bytes of frame]. The
 * selector's low 4 bits pick the link type; the rest advance the clock
 * (x 200 ms) so timeouts, expiry and eviction run too; its top bit also
 * says 100 more bytes were on the wire than captured. pcap2fuzz.py turns
 * a capture into this format for seeds. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Ethernet, raw IP, Linux cooked v1 and v2, BSD loopback (2), raw IPv4,
 * raw IPv6; 802.11, radiotap, PPI, PPP, PPP serial, Cisco HDLC, pflog,
 * NFLOG */
static const int linktypes[16] = {1, 101, 113, 276, 0, 108, 228, 229, 105, 127, 192, 9, 50, 104, 117, 239};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sn_config cfg;
    sn_config_defaults(&cfg);
    cfg.memcap = 4u * 1024 * 1024;
    cfg.flow_limit = 64u * 1024;
    cfg.max_flows = 64;
    cfg.expect_timeout_us = 2000000u;
    cfg.flow_timeout_us = 5000000u;
    sn_engine *e = sn_engine_new(&cfg);
    if (!e) return 0;
    uint64_t ts = 1016955577000000ull;
    size_t off = 0;
    while (off + 3 <= size) {
        uint8_t sel = data[off];
        size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
        off += 3;
        if (len > size - off) len = size - off;
        ts += (uint64_t)(sel >> 4) * 200000u;
        sn_engine_packet(e, linktypes[sel & 15u], ts, data + off, len, len + (sel & 0x80u ? 100u : 0u));
        off += len;
    }
    sn_engine_finish(e);
    sn_engine_free(e);
    return 0;
}
