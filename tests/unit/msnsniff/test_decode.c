/* test_decode.c - link/network/transport decoding, every cut of a frame,
 * IPv4 and IPv6 fragment reassembly (decode.c, defrag.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "decode.h"
#include "defrag.h"
#include "detect.h"
#include "dns.h"
#include "expect.h"
#include "synth.h"

static msnsynth_endpoint ep(const char *a, uint16_t port) {
    msnsynth_endpoint e;
    assert_int_equal(msnsynth_endpoint_set(&e, a, port), 0);
    return e;
}

static void decode_all_links(int ipv6, int ext) {
    static const msnsynth_link links[] = {MSNSYNTH_LINK_ETHERNET, MSNSYNTH_LINK_RAW, MSNSYNTH_LINK_SLL,
                                          MSNSYNTH_LINK_SLL2, MSNSYNTH_LINK_NULL};
    msnsynth_endpoint a = ep(ipv6 ? "2001:db8::1" : "10.0.0.1", 1863), b = ep(ipv6 ? "2001:db8::2" : "10.0.0.2", 40000);
    for (size_t l = 0; l < sizeof links / sizeof links[0]; l++) {
        for (unsigned vlans = 0; vlans <= (links[l] == MSNSYNTH_LINK_ETHERNET ? 2u : 0u); vlans++) {
            msnsynth_opts o;
            memset(&o, 0, sizeof o);
            o.link = links[l];
            o.nvlan = vlans;
            o.vlan[0] = 100;
            o.vlan[1] = 42;
            o.ipv6_ext_headers = ext;
            uint8_t frame[2048];
            size_t n = msnsynth_frame_tcp(&o, &a, &b, 1234, 5678, MSNSYNTH_TCP_ACK | MSNSYNTH_TCP_PSH, "USR 1 OK\r\n",
                                          10, frame, sizeof frame);
            assert_true(n > 0);
            sn_memcap mem;
            sn_memcap_init(&mem, 0);
            sn_decoder d;
            assert_int_equal(sn_decoder_init(&d, &mem, 1, 0), 0);
            sn_packet p;
            int lt = msnsynth_linktype(&o);
            assert_int_equal(sn_decode(&d, lt, frame, n, n, 1, &p), SN_DECODE_OK);
            assert_int_equal(p.proto, 6);
            assert_int_equal(p.sport, 1863);
            assert_int_equal(p.dport, 40000);
            assert_int_equal(p.seq, 1234);
            assert_int_equal(p.ack, 5678);
            assert_int_equal(p.len, 10);
            assert_memory_equal(p.payload, "USR 1 OK\r\n", 10);
            assert_int_equal(p.src.family, ipv6 ? 6 : 4);
            assert_int_equal(p.vlan[0], vlans == 0 ? 0 : 100);
            assert_int_equal(p.vlan[1], vlans == 2 ? 42 : 0);
            /* every shorter capture of the same frame: no over-read (ASan),
             * and never a full payload that was not captured */
            for (size_t cut = 0; cut < n; cut++) {
                uint8_t *copy = malloc(cut ? cut : 1);
                memcpy(copy, frame, cut);
                sn_decode_status st = sn_decode(&d, lt, copy, cut, n, 1, &p);
                assert_true(st == SN_DECODE_MALFORMED || st == SN_DECODE_OK || st == SN_DECODE_SKIP);
                if (st == SN_DECODE_OK) {
                    assert_true(p.len + p.missing == 10);
                    assert_true(p.len < 10);
                }
                free(copy);
            }
            sn_decoder_free(&d);
            assert_int_equal(mem.used, 0);
        }
    }
}

static void test_links_ipv4(void **state) {
    (void)state;
    decode_all_links(0, 0);
}
static void test_links_ipv6(void **state) {
    (void)state;
    decode_all_links(1, 0);
}
static void test_links_ipv6_ext(void **state) {
    (void)state;
    decode_all_links(1, 1);
}

static void test_udp_and_garbage(void **state) {
    (void)state;
    msnsynth_endpoint a = ep("10.0.0.1", 53), b = ep("10.0.0.2", 3000);
    uint8_t frame[256];
    size_t n = msnsynth_frame_udp(NULL, &a, &b, "hello", 5, frame, sizeof frame);
    sn_memcap mem;
    sn_memcap_init(&mem, 0);
    sn_decoder d;
    sn_decoder_init(&d, &mem, 1, 0);
    /* the decoder writes what a datagram has over what the packet held
     * (a TCP segment's numbers, or garbage), not over a cleared packet */
    sn_packet p;
    memset(&p, 0xA5, sizeof p);
    msnsynth_endpoint c = ep("10.0.0.3", 1863), s = ep("10.0.0.4", 40000);
    uint8_t seg[256];
    size_t sl = msnsynth_frame_tcp(NULL, &c, &s, 1234, 5678, MSNSYNTH_TCP_ACK | MSNSYNTH_TCP_PSH, "VER 1\r\n", 7, seg,
                                   sizeof seg);
    assert_int_equal(sn_decode(&d, 1, seg, sl, sl, 1, &p), SN_DECODE_OK);
    assert_int_equal(p.tcp_flags, MSNSYNTH_TCP_ACK | MSNSYNTH_TCP_PSH);
    assert_int_equal(sn_decode(&d, 1, frame, n, n, 2, &p), SN_DECODE_OK);
    assert_int_equal(p.proto, 17);
    assert_int_equal(p.len, 5);
    assert_int_equal(p.missing, 0);
    assert_int_equal(p.sport, 53);
    assert_int_equal(p.dport, 3000);
    assert_int_equal(p.tcp_flags, 0);
    assert_int_equal(p.seq, 0);
    assert_int_equal(p.ack, 0);
    assert_int_equal(p.ts, 2);
    assert_int_equal(p.wire_len, n);
    assert_int_equal(p.src.family, 4);
    assert_int_equal(p.vlan[0], 0);
    assert_int_equal(p.vlan[1], 0);
    assert_memory_equal(p.payload, "hello", 5);
    memset(&p, 0xA5, sizeof p);
    assert_int_equal(sn_decode(&d, 1, frame, n, n, 1, &p), SN_DECODE_OK);
    assert_int_equal(p.seq, 0);
    assert_int_equal(p.src.b[4], 0);
    assert_int_equal(p.dst.b[15], 0);
    /* random bytes on every link type: no crash */
    uint64_t x = 88172645463325252ull;
    static const int lts[] = {0, 1, 12, 101, 108, 113, 228, 229, 276, 9999};
    for (int round = 0; round < 2000; round++) {
        uint8_t junk[128];
        for (size_t i = 0; i < sizeof junk; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            junk[i] = (uint8_t)x;
        }
        if (round & 1) { /* make it look like IPv4 over Ethernet to go deeper */
            junk[12] = 0x08;
            junk[13] = 0x00;
            junk[14] = 0x45;
        }
        sn_decode(&d, lts[round % 10], junk, (size_t)(x % sizeof junk), sizeof junk, 1, &p);
    }
    sn_decoder_free(&d);
}

/* A raw IPv4 frame holding a TCP header with these flags, window and
 * options (padded to 4 bytes with zeros); its length. */
static size_t tcp_with_options(uint8_t *f, uint8_t flags, uint16_t window, const uint8_t *opt, size_t optlen) {
    size_t hl = 20 + (optlen + 3) / 4 * 4;
    memset(f, 0, 20 + hl);
    f[0] = 0x45;
    f[2] = (uint8_t)((20 + hl) >> 8);
    f[3] = (uint8_t)(20 + hl);
    f[8] = 64;
    f[9] = 6;
    f[12] = 10, f[15] = 1, f[16] = 10, f[19] = 2;
    uint8_t *t = f + 20;
    t[0] = 0x04, t[1] = 0x9c, t[2] = 0x07, t[3] = 0x47;
    t[12] = (uint8_t)(hl / 4 << 4);
    t[13] = flags;
    t[14] = (uint8_t)(window >> 8);
    t[15] = (uint8_t)window;
    memcpy(t + 20, opt, optlen);
    return 20 + hl;
}

/* The window field of every TCP segment, and the window scale option of
 * a SYN (its shift plus one, at most 14 + 1) among other options; a
 * malformed option list, or one cut by the snaplen, gives none. */
static void test_tcp_window_and_scale(void **state) {
    (void)state;
    sn_memcap mem;
    sn_memcap_init(&mem, 0);
    sn_decoder d;
    sn_decoder_init(&d, &mem, 1, 0);
    sn_packet p;
    uint8_t f[128];
    static const uint8_t usual[] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2}; /* MSS, NOP, WS 7, SACK permitted */
    size_t n = tcp_with_options(f, SN_TCP_SYN, 64240, usual, sizeof usual);
    assert_int_equal(sn_decode(&d, 101, f, n, n, 1, &p), SN_DECODE_OK);
    assert_int_equal(sn_tcp_window(&p), 64240);
    assert_int_equal(sn_tcp_wscale(&p), 8);
    /* cut by the snaplen inside the option: none */
    assert_int_equal(sn_decode(&d, 101, f, 20 + 20 + 7, n, 1, &p), SN_DECODE_OK);
    assert_int_equal(sn_tcp_wscale(&p), 0);
    static const uint8_t big[] = {3, 3, 20};
    n = tcp_with_options(f, SN_TCP_SYN | SN_TCP_ACK, 65535, big, sizeof big);
    assert_int_equal(sn_decode(&d, 101, f, n, n, 1, &p), SN_DECODE_OK);
    assert_int_equal(sn_tcp_wscale(&p), 15);
    static const uint8_t zero_length[] = {8, 0, 3, 3, 7}, past_end[] = {1, 1, 3, 3}, after_end[] = {0, 3, 3, 7};
    n = tcp_with_options(f, SN_TCP_SYN, 1, zero_length, sizeof zero_length);
    assert_int_equal(sn_decode(&d, 101, f, n, n, 1, &p), SN_DECODE_OK);
    assert_int_equal(sn_tcp_wscale(&p), 0);
    n = tcp_with_options(f, SN_TCP_SYN, 1, past_end, sizeof past_end);
    assert_int_equal(sn_decode(&d, 101, f, n, n, 1, &p), SN_DECODE_OK);
    assert_int_equal(sn_tcp_wscale(&p), 0);
    n = tcp_with_options(f, SN_TCP_SYN, 1, after_end, sizeof after_end);
    assert_int_equal(sn_decode(&d, 101, f, n, n, 1, &p), SN_DECODE_OK);
    assert_int_equal(sn_tcp_wscale(&p), 0);
    /* not a SYN: the window alone */
    n = tcp_with_options(f, SN_TCP_ACK, 512, usual, sizeof usual);
    assert_int_equal(sn_decode(&d, 101, f, n, n, 1, &p), SN_DECODE_OK);
    assert_int_equal(sn_tcp_window(&p), 512);
    sn_decoder_free(&d);
}

static void test_ipv4_defrag(void **state) {
    (void)state;
    /* one UDP datagram of 100 bytes split into 3 fragments, sent out of order */
    msnsynth_endpoint a = ep("10.0.0.1", 5004), b = ep("10.0.0.2", 5005);
    msnsynth_opts o;
    memset(&o, 0, sizeof o);
    o.link = MSNSYNTH_LINK_RAW;
    uint8_t data[100], full[256];
    for (int i = 0; i < 100; i++) data[i] = (uint8_t)i;
    size_t n = msnsynth_frame_udp(&o, &a, &b, data, sizeof data, full, sizeof full);
    assert_int_equal(n, 20 + 8 + 100);
    const uint8_t *l4 = full + 20;
    size_t l4len = n - 20;
    size_t offs[3] = {48, 0, 96}; /* pieces of 48, 48, 12 */
    sn_memcap mem;
    sn_memcap_init(&mem, 0);
    sn_decoder d;
    sn_decoder_init(&d, &mem, 1, 0);
    sn_packet p;
    for (int k = 0; k < 3; k++) {
        uint8_t frag[128];
        size_t off = offs[k], len = off == 96 ? l4len - 96 : 48;
        memcpy(frag, full, 20);
        memcpy(frag + 20, l4 + off, len);
        frag[2] = (uint8_t)((20 + len) >> 8);
        frag[3] = (uint8_t)(20 + len);
        uint16_t ff = (uint16_t)((off == 96 ? 0 : 0x2000) | (off / 8));
        frag[6] = (uint8_t)(ff >> 8);
        frag[7] = (uint8_t)ff;
        sn_decode_status st = sn_decode(&d, 101, frag, 20 + len, 20 + len, 1, &p);
        assert_int_equal(st, k < 2 ? SN_DECODE_HELD : SN_DECODE_OK);
    }
    assert_int_equal(p.len, 100);
    assert_memory_equal(p.payload, data, 100);
    assert_int_equal(d.reassembled, 1);
    sn_decoder_free(&d);
    assert_int_equal(mem.used, 0);
}

/* An IPv6 fragment of the UDP datagram in full (40-byte header, then l4):
 * bytes [off, off+len) of it, with identification id. */
static size_t v6_fragment(const uint8_t *full, size_t l4len, size_t off, size_t len, uint32_t id, uint8_t *out) {
    memcpy(out, full, 40);
    out[6] = 44;
    size_t plen = 8 + len;
    out[4] = (uint8_t)(plen >> 8);
    out[5] = (uint8_t)plen;
    uint8_t *fh = out + 40;
    fh[0] = 17;
    fh[1] = 0;
    uint16_t offlg = (uint16_t)(off | (off + len < l4len ? 1u : 0u));
    fh[2] = (uint8_t)(offlg >> 8);
    fh[3] = (uint8_t)offlg;
    fh[4] = (uint8_t)(id >> 24);
    fh[5] = (uint8_t)(id >> 16);
    fh[6] = (uint8_t)(id >> 8);
    fh[7] = (uint8_t)id;
    memcpy(out + 48, full + 40 + off, len);
    return 48 + len;
}

static void test_ipv6_defrag(void **state) {
    (void)state;
    /* one UDP datagram of 100 bytes in 3 fragments, out of order, with a
     * retransmitted middle piece whose bytes differ (the first copy wins) */
    msnsynth_endpoint a = ep("2001:db8::1", 5004), b = ep("2001:db8::2", 5005);
    msnsynth_opts o;
    memset(&o, 0, sizeof o);
    o.link = MSNSYNTH_LINK_RAW;
    uint8_t data[100], full[256], frag[256];
    for (int i = 0; i < 100; i++) data[i] = (uint8_t)i;
    size_t n = msnsynth_frame_udp(&o, &a, &b, data, sizeof data, full, sizeof full);
    assert_int_equal(n, 40 + 8 + 100);
    size_t l4len = n - 40;
    sn_memcap mem;
    sn_memcap_init(&mem, 0);
    sn_decoder d;
    sn_decoder_init(&d, &mem, 1, 0);
    sn_packet p;
    static const size_t offs[3] = {48, 0, 96}; /* pieces of 48, 48, 12 */
    for (int k = 0; k < 3; k++) {
        size_t off = offs[k], len = off == 96 ? l4len - 96 : 48;
        size_t fl = v6_fragment(full, l4len, off, len, 0xDEADBEEFu, frag);
        if (k == 1) { /* the same piece again, altered: ignored */
            uint8_t alt[256];
            size_t al = v6_fragment(full, l4len, 48, 48, 0xDEADBEEFu, alt);
            alt[60] ^= 0xFF;
            assert_int_equal(sn_decode(&d, 101, alt, al, al, 1, &p), SN_DECODE_HELD);
        }
        /* a fragment of another datagram (other id) does not mix in */
        if (k == 0) {
            uint8_t other[256];
            size_t ol = v6_fragment(full, l4len, 0, 48, 0xDEADBEEEu, other);
            other[50] ^= 0xFF;
            assert_int_equal(sn_decode(&d, 101, other, ol, ol, 1, &p), SN_DECODE_HELD);
        }
        sn_decode_status st = sn_decode(&d, 101, frag, fl, fl, 1, &p);
        assert_int_equal(st, k < 2 ? SN_DECODE_HELD : SN_DECODE_OK);
    }
    assert_int_equal(p.proto, 17);
    assert_int_equal(p.sport, 5004);
    assert_int_equal(p.len, 100);
    assert_memory_equal(p.payload, data, 100);
    assert_int_equal(d.reassembled, 1);

    /* an atomic fragment (offset 0, no more) is just the datagram */
    size_t fl = v6_fragment(full, l4len, 0, l4len, 7, frag);
    assert_int_equal(sn_decode(&d, 101, frag, fl, fl, 1, &p), SN_DECODE_OK);
    assert_int_equal(p.len, 100);
    assert_memory_equal(p.payload, data, 100);

    /* the fragment headers of one datagram may name different next
     * headers: only the offset-zero fragment's counts (RFC 8200 4.5), as
     * for receivers, whichever piece comes last */
    for (int last_first = 0; last_first < 2; last_first++) {
        for (int k = 0; k < 2; k++) {
            size_t off = (k == last_first) ? 0 : 48, len = off ? l4len - 48 : 48;
            fl = v6_fragment(full, l4len, off, len, 12 + (uint32_t)last_first, frag);
            if (off) frag[40] = 6; /* TCP, said by a later piece only */
            assert_int_equal(sn_decode(&d, 101, frag, fl, fl, 1, &p), k ? SN_DECODE_OK : SN_DECODE_HELD);
        }
        assert_int_equal(p.proto, 17);
        assert_int_equal(p.len, 100);
        assert_memory_equal(p.payload, data, 100);
    }

    /* a fragment cut by the snaplen, a fragment header cut short, a
     * non-final piece not a multiple of 8 bytes: errors, never a crash */
    fl = v6_fragment(full, l4len, 0, 48, 8, frag);
    assert_int_equal(sn_decode(&d, 101, frag, fl - 5, fl, 1, &p), SN_DECODE_MALFORMED);
    assert_int_equal(sn_decode(&d, 101, frag, 44, fl, 1, &p), SN_DECODE_MALFORMED);
    fl = v6_fragment(full, l4len, 0, 44, 9, frag);
    assert_int_equal(sn_decode(&d, 101, frag, fl, fl, 1, &p), SN_DECODE_MALFORMED);

    /* a fragment header inside the reassembled bytes is refused */
    uint8_t inner[64];
    memset(inner, 0, sizeof inner);
    inner[0] = 17; /* a fragment header claiming more pieces */
    inner[3] = 1;
    uint8_t outer[160];
    memcpy(outer, full, 40);
    outer[6] = 44;
    outer[4] = 0;
    outer[5] = 8 + 16;
    uint8_t *fh = outer + 40;
    memset(fh, 0, 8);
    fh[0] = 44;
    fh[3] = 1; /* offset 0, more */
    fh[7] = 10;
    memcpy(outer + 48, inner, 16);
    assert_int_equal(sn_decode(&d, 101, outer, 64, 64, 1, &p), SN_DECODE_HELD);
    fh[2] = 0;
    fh[3] = 16; /* offset 16, last */
    memset(outer + 48, 0, 16);
    assert_int_equal(sn_decode(&d, 101, outer, 64, 64, 1, &p), SN_DECODE_MALFORMED);
    sn_decoder_free(&d);
    assert_int_equal(mem.used, 0);

    /* reassembly off: fragments are reported, not decoded */
    sn_decoder_init(&d, &mem, 0, 0);
    fl = v6_fragment(full, l4len, 0, 48, 11, frag);
    assert_int_equal(sn_decode(&d, 101, frag, fl, fl, 1, &p), SN_DECODE_FRAGMENT);
    assert_int_equal(d.fragments, 1);
    sn_decoder_free(&d);
}

/* Encapsulations behind an Ethernet (or Linux cooked) header: the IP
 * packet of a plain Ethernet frame put behind PPPoE, MPLS, 802.3 LLC/SNAP,
 * with VLAN tags around them. Each decodes to the same TCP segment, and
 * every shorter capture of it stays within its bytes (ASan) and never
 * yields a payload that was not captured. */
enum {
    ENC_PPPOE,
    ENC_PPPOE_PFC,
    ENC_VLAN_PPPOE,
    ENC_MPLS,
    ENC_MPLS_MANY,
    ENC_QINQ_MPLS,
    ENC_SNAP,
    ENC_SNAP_PADDED,
    ENC_VLAN_SNAP,
    ENC_SNAP_VLAN,
    ENC_SLL_LLC,
    /* other link types than Ethernet */
    ENC_WIFI,
    ENC_WIFI_QOS_4ADDR_HT,
    ENC_RADIOTAP_FCS,
    ENC_RADIOTAP_EXT,
    ENC_PPI_FCS,
    ENC_PPP,
    ENC_PPP_ACFC_PFC,
    ENC_SERIAL_CHDLC,
    ENC_PPP_ETHER,
    ENC_CHDLC,
    ENC_PFLOG,
    ENC_NFLOG,
    ENC_NFLOG_BIG,
    ENC_COUNT
};

/* Bytes after the IP packet that are not part of it: the payload is whole
 * in a capture cut inside them. */
static int has_trailer(int enc) {
    return enc == ENC_SNAP_PADDED || enc == ENC_RADIOTAP_FCS || enc == ENC_PPI_FCS || enc == ENC_NFLOG ||
        enc == ENC_NFLOG_BIG;
}

static size_t put_u16(uint8_t *b, unsigned v) {
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
    return 2;
}

static size_t put_label(uint8_t *b, unsigned label, int bottom) {
    uint32_t w = (uint32_t)label << 12 | (bottom ? 0x100u : 0u) | 64u;
    b[0] = (uint8_t)(w >> 24);
    b[1] = (uint8_t)(w >> 16);
    b[2] = (uint8_t)(w >> 8);
    b[3] = (uint8_t)w;
    return 4;
}

static size_t put_le16(uint8_t *b, unsigned v) {
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    return 2;
}

/* An 802.11 data frame's header (to the distribution system), then
 * LLC/SNAP with et; qos4: QoS data between two bridges (four
 * addresses) with HT control. */
static size_t put_wifi(uint8_t *b, int qos4, unsigned et) {
    size_t n = 0;
    b[n++] = qos4 ? 0x88 : 0x08;
    b[n++] = qos4 ? 0x83 : 0x01;
    n += put_le16(b + n, 44);
    memset(b + n, 0x02, 18);
    n += 18;
    n += put_le16(b + n, 0x0120);
    if (qos4) {
        memset(b + n, 0x04, 6);
        n += 6;
        n += put_le16(b + n, 5);
        memset(b + n, 0, 4);
        n += 4;
    }
    memcpy(b + n, "\xAA\xAA\x03\x00\x00\x00", 6);
    n += 6;
    return n + put_u16(b + n, et);
}

static size_t put_nflog_tlv(uint8_t *b, int big, unsigned type, size_t len) {
    return big ? put_u16(b, (unsigned)len) + put_u16(b + 2, type) : put_le16(b, (unsigned)len) + put_le16(b + 2, type);
}

static size_t put_snap(uint8_t *b, size_t inner_len) {
    size_t n = put_u16(b, (unsigned)(8 + inner_len));
    memcpy(b + n, "\xAA\xAA\x03\x00\x00\x00", 6);
    return n + 6;
}

/* An Ethernet frame around the IP packet ip/iplen (IPv4) with the VLAN
 * tags tpid[i]/vid[i], outermost first. */
static size_t tagged_frame(const uint16_t *tpid, const uint16_t *vid, size_t ntags, const uint8_t *ip, size_t iplen,
                           uint8_t *b) {
    size_t n = 12;
    memcpy(b, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
    for (size_t i = 0; i < ntags; i++) {
        n += put_u16(b + n, tpid[i]);
        n += put_u16(b + n, vid[i]);
    }
    n += put_u16(b + n, 0x0800);
    memcpy(b + n, ip, iplen);
    return n + iplen;
}

/* A packet's VLAN ids are those of its first two tags that name a VLAN,
 * the outer first; a priority tag (VID 0) names none. */
static void test_vlan_ids(void **state) {
    (void)state;
    msnsynth_endpoint a = ep("10.0.0.1", 40000), b = ep("10.0.0.2", 1863);
    msnsynth_opts o;
    memset(&o, 0, sizeof o);
    o.link = MSNSYNTH_LINK_RAW;
    uint8_t ip[256], frame[512];
    size_t iplen = msnsynth_frame_tcp(&o, &a, &b, 1, 2, MSNSYNTH_TCP_ACK, "x", 1, ip, sizeof ip);
    assert_true(iplen > 0);
    static const struct {
        size_t ntags;
        uint16_t tpid[3], vid[3];
        uint16_t want[2];
    } cases[] = {
        {0, {0}, {0}, {0, 0}},
        {1, {0x8100}, {10}, {10, 0}},
        {2, {0x88A8, 0x8100}, {100, 10}, {100, 10}},
        {2, {0x9100, 0x8100}, {4095, 1}, {4095, 1}},
        {2, {0x8100, 0x8100}, {0, 10}, {10, 0}},
        {1, {0x8100}, {0x2000 | 0}, {0, 0}}, /* priority bits only */
        {3, {0x88A8, 0x8100, 0x8100}, {1, 2, 3}, {1, 2}},
    };
    sn_memcap mem;
    sn_memcap_init(&mem, 0);
    sn_decoder d;
    assert_int_equal(sn_decoder_init(&d, &mem, 1, 0), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = tagged_frame(cases[i].tpid, cases[i].vid, cases[i].ntags, ip, iplen, frame);
        sn_packet p;
        assert_int_equal(sn_decode(&d, 1, frame, n, n, 1, &p), SN_DECODE_OK);
        assert_int_equal(p.vlan[0], cases[i].want[0]);
        assert_int_equal(p.vlan[1], cases[i].want[1]);
        if (!cases[i].want[0]) assert_int_equal(sn_packet_vlans(&p), 0); /* the flow key of an untagged packet */
    }
    sn_decoder_free(&d);
}

/* The IPv4 fragment [off, off + len) of the datagram full (20-byte header,
 * then l4len bytes), as an Ethernet frame tagged with VLAN vid (0: none). */
static size_t v4_fragment_frame(const uint8_t *full, size_t l4len, size_t off, size_t len, uint16_t vid, uint8_t *b) {
    uint8_t ip[128];
    memcpy(ip, full, 20);
    memcpy(ip + 20, full + 20 + off, len);
    ip[2] = (uint8_t)((20 + len) >> 8);
    ip[3] = (uint8_t)(20 + len);
    uint16_t ff = (uint16_t)((off + len < l4len ? 0x2000 : 0) | (off / 8));
    ip[6] = (uint8_t)(ff >> 8);
    ip[7] = (uint8_t)ff;
    static const uint16_t tpid = 0x8100;
    return tagged_frame(&tpid, &vid, vid ? 1 : 0, ip, 20 + len, b);
}

/* A reassembled datagram's wire length is the sum of the lengths of the
 * frames that brought its fragments (a copy sent again included), and
 * fragments with the same addresses and id on two VLANs belong to two
 * datagrams. */
static void test_defrag_vlans_and_wire_length(void **state) {
    (void)state;
    msnsynth_endpoint a = ep("10.0.0.1", 5004), b = ep("10.0.0.2", 5005);
    msnsynth_opts o;
    memset(&o, 0, sizeof o);
    o.link = MSNSYNTH_LINK_RAW;
    uint8_t data[100], full[256], frame[256];
    for (int i = 0; i < 100; i++) data[i] = (uint8_t)i;
    size_t n = msnsynth_frame_udp(&o, &a, &b, data, sizeof data, full, sizeof full);
    size_t l4len = n - 20;
    sn_memcap mem;
    sn_memcap_init(&mem, 0);
    sn_decoder d;
    sn_decoder_init(&d, &mem, 1, 0);
    sn_packet p;
    /* pieces of 48, 48, 12: the first two on VLAN 10 and 20 each, the
     * last only on VLAN 20 (the wire lengths: the frame's plus 4, an FCS
     * not captured) */
    size_t fl, sum10 = 0, sum20 = 0;
    fl = v4_fragment_frame(full, l4len, 0, 48, 10, frame);
    sum10 += fl + 4;
    assert_int_equal(sn_decode(&d, 1, frame, fl, fl + 4, 1, &p), SN_DECODE_HELD);
    fl = v4_fragment_frame(full, l4len, 0, 48, 20, frame);
    sum20 += fl + 4;
    assert_int_equal(sn_decode(&d, 1, frame, fl, fl + 4, 1, &p), SN_DECODE_HELD);
    fl = v4_fragment_frame(full, l4len, 48, 48, 10, frame);
    sum10 += fl + 4;
    assert_int_equal(sn_decode(&d, 1, frame, fl, fl + 4, 1, &p), SN_DECODE_HELD);
    fl = v4_fragment_frame(full, l4len, 48, 48, 20, frame);
    sum20 += fl + 4;
    assert_int_equal(sn_decode(&d, 1, frame, fl, fl + 4, 1, &p), SN_DECODE_HELD);
    fl = v4_fragment_frame(full, l4len, 48, 48, 20, frame); /* sent again */
    sum20 += fl + 4;
    assert_int_equal(sn_decode(&d, 1, frame, fl, fl + 4, 1, &p), SN_DECODE_HELD);
    fl = v4_fragment_frame(full, l4len, 96, l4len - 96, 20, frame);
    sum20 += fl + 4;
    assert_int_equal(sn_decode(&d, 1, frame, fl, fl + 4, 1, &p), SN_DECODE_OK);
    assert_int_equal(p.len, 100);
    assert_memory_equal(p.payload, data, 100);
    assert_int_equal(p.vlan[0], 20);
    assert_int_equal(p.wire_len, sum20);
    assert_int_equal(d.reassembled, 1);
    /* VLAN 10's datagram is still held: its last piece completes it */
    fl = v4_fragment_frame(full, l4len, 96, l4len - 96, 10, frame);
    sum10 += fl;
    assert_int_equal(sn_decode(&d, 1, frame, fl, fl, 1, &p), SN_DECODE_OK);
    assert_int_equal(p.vlan[0], 10);
    assert_int_equal(p.wire_len, sum10);
    assert_int_equal(d.reassembled, 2);
    sn_decoder_free(&d);
    assert_int_equal(mem.used, 0);

    /* IPv6 the same way (raw link) */
    o.link = MSNSYNTH_LINK_RAW;
    msnsynth_endpoint a6 = ep("2001:db8::1", 5004), b6 = ep("2001:db8::2", 5005);
    n = msnsynth_frame_udp(&o, &a6, &b6, data, sizeof data, full, sizeof full);
    l4len = n - 40;
    sn_decoder_init(&d, &mem, 1, 0);
    size_t sum = 0;
    static const size_t offs[3] = {48, 0, 96};
    for (int k = 0; k < 3; k++) {
        size_t off = offs[k], len = off == 96 ? l4len - 96 : 48;
        fl = v6_fragment(full, l4len, off, len, 77, frame);
        sum += fl;
        assert_int_equal(sn_decode(&d, 101, frame, fl, fl, 1, &p), k < 2 ? SN_DECODE_HELD : SN_DECODE_OK);
    }
    assert_int_equal(p.len, 100);
    assert_int_equal(p.wire_len, sum);
    sn_decoder_free(&d);
    assert_int_equal(mem.used, 0);
}

/* Overlapping fragments as Linux takes them (inet_frag_queue_insert): a
 * piece inside one run of pieces held (each starting where the one before
 * ended) is a copy sent again, ignored; a piece across two runs, or
 * reaching past the bytes held, drops the whole datagram, even when the
 * bytes it brings again are the same. */
static void test_defrag_overlaps_as_linux(void **state) {
    (void)state;
    msnsynth_endpoint a = ep("10.0.0.1", 5004), b = ep("10.0.0.2", 5005);
    msnsynth_opts o;
    memset(&o, 0, sizeof o);
    o.link = MSNSYNTH_LINK_RAW;
    uint8_t data[100], full[256], frame[256];
    for (int i = 0; i < 100; i++) data[i] = (uint8_t)i;
    size_t n = msnsynth_frame_udp(&o, &a, &b, data, sizeof data, full, sizeof full);
    size_t l4len = n - 20, fl;
    sn_memcap mem;
    sn_memcap_init(&mem, 0);
    sn_decoder d;
    sn_decoder_init(&d, &mem, 1, 0);
    sn_packet p;
    uint64_t timeouts, evicted, overlaps;
    unsigned held;
    /* in order: [24, 72) lies inside the run [0, 96), a copy sent again */
    static const size_t order[4][2] = {{0, 48}, {48, 48}, {24, 48}, {96, 12}};
    for (int k = 0; k < 4; k++) {
        fl = v4_fragment_frame(full, l4len, order[k][0], order[k][1], 0, frame);
        assert_int_equal(sn_decode(&d, 1, frame, fl, fl, 1, &p), k < 3 ? SN_DECODE_HELD : SN_DECODE_OK);
    }
    assert_int_equal(p.len, 100);
    assert_memory_equal(p.payload, data, 100);
    /* out of order, [48, 96) and [0, 48) are two runs: [24, 72) crosses
     * them and the datagram is dropped; its last piece alone is held */
    static const size_t cross[4][2] = {{48, 48}, {0, 48}, {24, 48}, {96, 12}};
    for (int k = 0; k < 4; k++) {
        fl = v4_fragment_frame(full, l4len, cross[k][0], cross[k][1], 0, frame);
        assert_int_equal(sn_decode(&d, 1, frame, fl, fl, 1, &p), SN_DECODE_HELD);
    }
    sn_defrag_counts(d.defrag, &timeouts, &evicted, &overlaps, &held);
    assert_int_equal(overlaps, 1);
    assert_int_equal(held, 1);
    /* [40, 96) reaches past [0, 48) held, with the same bytes: dropped */
    sn_decoder_free(&d);
    sn_decoder_init(&d, &mem, 1, 0);
    fl = v4_fragment_frame(full, l4len, 0, 48, 0, frame);
    assert_int_equal(sn_decode(&d, 1, frame, fl, fl, 1, &p), SN_DECODE_HELD);
    fl = v4_fragment_frame(full, l4len, 40, 56, 0, frame);
    assert_int_equal(sn_decode(&d, 1, frame, fl, fl, 1, &p), SN_DECODE_HELD);
    assert_null(d.frag_conflict);
    sn_defrag_counts(d.defrag, &timeouts, &evicted, &overlaps, &held);
    assert_int_equal(overlaps, 1);
    assert_int_equal(held, 0);
    assert_int_equal(d.reassembled, 0);
    sn_decoder_free(&d);
    assert_int_equal(mem.used, 0);
}

/* The frame of encapsulation enc around ip/iplen (et: its Ethertype);
 * *lt the link type, *vid the outer VLAN expected (0: none). */
static size_t encapsulate(int enc, const uint8_t *ip, size_t iplen, unsigned et, uint8_t *b, int *lt, unsigned *vid) {
    size_t n = 12;
    int v6 = et == 0x86DD;
    memcpy(b, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
    *lt = 1;
    *vid = 0;
    switch (enc) {
    case ENC_VLAN_PPPOE:
        n += put_u16(b + n, 0x8100);
        n += put_u16(b + n, 7);
        *vid = 7;
        /* fall through */
    case ENC_PPPOE:
        n += put_u16(b + n, 0x8864);
        b[n++] = 0x11;
        b[n++] = 0;
        n += put_u16(b + n, 0xBEEF);
        n += put_u16(b + n, (unsigned)(2 + iplen));
        n += put_u16(b + n, v6 ? 0x0057 : 0x0021);
        break;
    case ENC_PPPOE_PFC: /* the protocol field compressed to one byte */
        n += put_u16(b + n, 0x8864);
        b[n++] = 0x11;
        b[n++] = 0;
        n += put_u16(b + n, 1);
        n += put_u16(b + n, (unsigned)(1 + iplen));
        b[n++] = v6 ? 0x57 : 0x21;
        break;
    case ENC_QINQ_MPLS:
        n += put_u16(b + n, 0x88A8);
        n += put_u16(b + n, 5);
        n += put_u16(b + n, 0x8100);
        n += put_u16(b + n, 6);
        *vid = 5;
        /* fall through */
    case ENC_MPLS:
        n += put_u16(b + n, 0x8847);
        n += put_label(b + n, 1000, 0);
        n += put_label(b + n, 2000, 1);
        break;
    case ENC_MPLS_MANY: /* the deepest stack taken: 16 labels */
        n += put_u16(b + n, 0x8848);
        for (unsigned i = 0; i < 16; i++) n += put_label(b + n, 16 + i, i == 15);
        break;
    case ENC_VLAN_SNAP:
        n += put_u16(b + n, 0x8100);
        n += put_u16(b + n, 8);
        *vid = 8;
        /* fall through */
    case ENC_SNAP:
    case ENC_SNAP_PADDED:
        n += put_snap(b + n, 2 + iplen);
        n += put_u16(b + n, et);
        break;
    case ENC_SNAP_VLAN:
        n += put_snap(b + n, 6 + iplen);
        n += put_u16(b + n, 0x8100);
        n += put_u16(b + n, 9);
        n += put_u16(b + n, et);
        *vid = 9;
        break;
    case ENC_SLL_LLC: /* Linux cooked: protocol 4, an LLC header without the 802.3 length */
        *lt = 113;
        memset(b, 0, 14);
        b[3] = 1; /* ARPHRD_ETHER */
        b[5] = 6;
        n = 14;
        n += put_u16(b + n, 0x0004);
        memcpy(b + n, "\xAA\xAA\x03\x00\x00\x00", 6);
        n += 6;
        n += put_u16(b + n, et);
        break;
    case ENC_WIFI:
    case ENC_WIFI_QOS_4ADDR_HT:
        *lt = 105;
        n = put_wifi(b, enc == ENC_WIFI_QOS_4ADDR_HT, et);
        break;
    case ENC_RADIOTAP_FCS: /* TSFT, flags (FCS at the end), rate */
        *lt = 127;
        memcpy(b, "\x00\x00\x12\x00\x07\x00\x00\x00", 8);
        memset(b + 8, 0x11, 8);
        b[16] = 0x10;
        b[17] = 22;
        n = 18 + put_wifi(b + 18, 1, et);
        break;
    case ENC_RADIOTAP_EXT: /* two presence words: TSFT aligned to 16, flags */
        *lt = 127;
        memcpy(b, "\x00\x00\x19\x00\x03\x00\x00\x80\x00\x00\x00\x00\xEE\xEE\xEE\xEE", 16);
        memset(b + 16, 0x11, 8);
        b[24] = 0x02;
        n = 25 + put_wifi(b + 25, 0, et);
        break;
    case ENC_PPI_FCS: /* an 802.11-Common field with "FCS present" */
        *lt = 192;
        memset(b, 0, 32);
        b[2] = 32;
        b[4] = 105;
        b[8] = 2;
        b[10] = 20;
        b[12 + 8] = 0x01;
        n = 32 + put_wifi(b + 32, 0, et);
        break;
    case ENC_PPP:
        *lt = 9;
        b[0] = 0xFF;
        b[1] = 0x03;
        n = 2 + put_u16(b + 2, v6 ? 0x0057 : 0x0021);
        break;
    case ENC_PPP_ACFC_PFC: /* neither address nor control; a one-byte protocol */
        *lt = 9;
        b[0] = v6 ? 0x57 : 0x21;
        n = 1;
        break;
    case ENC_SERIAL_CHDLC:
    case ENC_CHDLC:
        *lt = enc == ENC_CHDLC ? 104 : 50;
        b[0] = 0x0F;
        b[1] = 0;
        n = 2 + put_u16(b + 2, et);
        break;
    case ENC_PPP_ETHER:
        *lt = 51;
        b[0] = 0x11;
        b[1] = 0;
        n = 2 + put_u16(b + 2, 0x4242);
        n += put_u16(b + n, (unsigned)(2 + iplen));
        n += put_u16(b + n, v6 ? 0x0057 : 0x0021);
        break;
    case ENC_PFLOG: /* 61 bytes, 64 with padding; OpenBSD's AF_INET6 */
        *lt = 117;
        memset(b, 0, 64);
        b[0] = 61;
        b[1] = v6 ? 24 : 2;
        n = 64;
        break;
    case ENC_NFLOG:
    case ENC_NFLOG_BIG: {
        int big = enc == ENC_NFLOG_BIG;
        *lt = 239;
        b[0] = v6 ? 10 : 2;
        b[1] = 0;
        n = 2 + put_u16(b + 2, 7);
        n += put_nflog_tlv(b + n, big, 1, 8); /* packet header */
        memcpy(b + n, "\x08\x00\x01\x00", 4);
        n += 4;
        n += put_nflog_tlv(b + n, big, 10, 7); /* prefix "ab\0" and a byte of padding */
        memcpy(b + n, "ab\0\0", 4);
        n += 4;
        n += put_nflog_tlv(b + n, big, 9, 4 + iplen);
        break;
    }
    default: break;
    }
    memcpy(b + n, ip, iplen);
    n += iplen;
    if (enc == ENC_SNAP_PADDED) { /* bytes after the 802.3 length: not part of the packet */
        memset(b + n, 0xEE, 16);
        n += 16;
    }
    if (enc == ENC_RADIOTAP_FCS || enc == ENC_PPI_FCS) { /* the frame check sequence */
        memcpy(b + n, "\xDE\xAD\xBE\xEF", 4);
        n += 4;
    }
    if (enc == ENC_NFLOG || enc == ENC_NFLOG_BIG) /* the payload attribute padded to four bytes */
        while (n % 4) b[n++] = 0;
    return n;
}

static void decode_encapsulations(int ipv6) {
    msnsynth_endpoint a = ep(ipv6 ? "2001:db8::1" : "10.0.0.1", 1863), b = ep(ipv6 ? "2001:db8::2" : "10.0.0.2", 40000);
    uint8_t plain[512], frame[1024];
    size_t pn = msnsynth_frame_tcp(NULL, &a, &b, 1234, 5678, MSNSYNTH_TCP_ACK | MSNSYNTH_TCP_PSH, "USR 1 OK\r\n", 10,
                                   plain, sizeof plain);
    assert_true(pn > 14);
    unsigned et = (unsigned)plain[12] << 8 | plain[13];
    assert_int_equal(et, ipv6 ? 0x86DD : 0x0800);
    sn_memcap mem;
    sn_memcap_init(&mem, 0);
    sn_decoder d;
    assert_int_equal(sn_decoder_init(&d, &mem, 1, 0), 0);
    for (int enc = 0; enc < ENC_COUNT; enc++) {
        int lt;
        unsigned vid;
        size_t n = encapsulate(enc, plain + 14, pn - 14, et, frame, &lt, &vid);
        sn_packet p;
        assert_int_equal(sn_decode(&d, lt, frame, n, n, 1, &p), SN_DECODE_OK);
        assert_int_equal(p.proto, 6);
        assert_int_equal(p.sport, 1863);
        assert_int_equal(p.dport, 40000);
        assert_int_equal(p.seq, 1234);
        assert_int_equal(p.len, 10);
        assert_int_equal(p.missing, 0);
        assert_memory_equal(p.payload, "USR 1 OK\r\n", 10);
        assert_int_equal(p.src.family, ipv6 ? 6 : 4);
        assert_int_equal(p.vlan[0], vid);
        assert_int_equal(p.vlan[1], enc == ENC_QINQ_MPLS ? 6 : 0);
        for (size_t cut = 0; cut < n; cut++) {
            uint8_t *copy = malloc(cut ? cut : 1);
            memcpy(copy, frame, cut);
            sn_decode_status st = sn_decode(&d, lt, copy, cut, n, 1, &p);
            /* NFLOG cut at the end of an attribute before the payload's
             * (or in the prefix's padding, byte 19) is a log without a
             * packet */
            int nflog_boundary =
                (enc == ENC_NFLOG || enc == ENC_NFLOG_BIG) && (cut == 4 || cut == 12 || cut == 19 || cut == 20);
            assert_true(st == SN_DECODE_MALFORMED || st == SN_DECODE_OK || (st == SN_DECODE_SKIP && nflog_boundary));
            if (st == SN_DECODE_OK) {
                assert_true(p.len + p.missing == 10);
                assert_true(p.len < 10 || has_trailer(enc));
            }
            free(copy);
        }
    }
    sn_decoder_free(&d);
    assert_int_equal(mem.used, 0);
}

static void test_encapsulations_ipv4(void **state) {
    (void)state;
    decode_encapsulations(0);
}
static void test_encapsulations_ipv6(void **state) {
    (void)state;
    decode_encapsulations(1);
}

/* A big-endian NFLOG frame of 2052 bytes: its first attribute's length
 * (8, as 00 08) read little-endian is 2048, which ends exactly at the
 * frame's end; the walk that way finds no payload, and the big-endian one
 * does. */
static void test_nflog_big_endian_large(void **state) {
    (void)state;
    msnsynth_endpoint a = ep("10.0.0.1", 1863), b = ep("10.0.0.2", 40000);
    static char text[1988]; /* 20 + 20 + 1988 = 2028 bytes of IPv4, 24 of NFLOG before them */
    memset(text, 'x', sizeof text);
    static uint8_t plain[4096], frame[4096];
    size_t pn = msnsynth_frame_tcp(NULL, &a, &b, 1, 2, MSNSYNTH_TCP_ACK, text, sizeof text, plain, sizeof plain);
    assert_true(pn > 14 + sizeof text);
    int lt;
    unsigned vid;
    size_t n = encapsulate(ENC_NFLOG_BIG, plain + 14, pn - 14, 0x0800, frame, &lt, &vid);
    assert_int_equal(n, 2052);
    sn_memcap mem;
    sn_memcap_init(&mem, 0);
    sn_decoder d;
    assert_int_equal(sn_decoder_init(&d, &mem, 1, 0), 0);
    sn_packet p;
    assert_int_equal(sn_decode(&d, lt, frame, n, n, 1, &p), SN_DECODE_OK);
    assert_int_equal(p.len, sizeof text);
    assert_int_equal(p.sport, 1863);
    sn_decoder_free(&d);
}

/* Headers that say "not for us" are skipped; damaged ones are malformed,
 * with the reason; stacks and tags are bounded. */
static void test_encapsulation_limits(void **state) {
    (void)state;
    sn_memcap mem;
    sn_memcap_init(&mem, 0);
    sn_decoder d;
    assert_int_equal(sn_decoder_init(&d, &mem, 1, 0), 0);
    sn_packet p;
    uint8_t f[256];
    memset(f, 0, sizeof f);
    size_t n = 12;
    /* 17 labels, none of them the bottom of the stack, then 16 more bytes */
    n += put_u16(f + n, 0x8847);
    for (unsigned i = 0; i < 17; i++) n += put_label(f + n, i, 0);
    f[n] = 0x45;
    assert_int_equal(sn_decode(&d, 1, f, n + 40, n + 40, 1, &p), SN_DECODE_MALFORMED);
    assert_string_equal(d.error, "too many MPLS labels");
    /* a pseudowire after the stack (first nibble 0: a control word) */
    n = 12 + put_u16(f + 12, 0x8847);
    n += put_label(f + n, 3000, 1);
    f[n] = 0x00;
    assert_int_equal(sn_decode(&d, 1, f, n + 40, n + 40, 1, &p), SN_DECODE_SKIP);
    /* PPPoE: link control, a bad version, a zero length */
    n = 12 + put_u16(f + 12, 0x8864);
    memcpy(f + n, "\x11\x00\x00\x01\x00\x06\xC0\x21", 8);
    assert_int_equal(sn_decode(&d, 1, f, n + 8, n + 8, 1, &p), SN_DECODE_SKIP);
    f[n] = 0x21;
    assert_int_equal(sn_decode(&d, 1, f, n + 8, n + 8, 1, &p), SN_DECODE_MALFORMED);
    assert_string_equal(d.error, "PPPoE version or type not 1");
    memcpy(f + n, "\x11\x00\x00\x01\x00\x00\x00\x21", 8);
    assert_int_equal(sn_decode(&d, 1, f, n + 8, n + 8, 1, &p), SN_DECODE_MALFORMED);
    assert_string_equal(d.error, "PPPoE length 0: no PPP protocol field");
    /* PPPoE discovery (0x8863) is not a session */
    n = 12 + put_u16(f + 12, 0x8863);
    assert_int_equal(sn_decode(&d, 1, f, n + 8, n + 8, 1, &p), SN_DECODE_SKIP);
    /* 802.3: spanning tree's LLC, SNAP with Cisco's OUI, a length of 1 */
    n = 12 + put_u16(f + 12, 38);
    memcpy(f + n, "\x42\x42\x03", 3);
    assert_int_equal(sn_decode(&d, 1, f, n + 38, n + 38, 1, &p), SN_DECODE_SKIP);
    memcpy(f + n, "\xAA\xAA\x03\x00\x00\x0C\x20\x00", 8);
    assert_int_equal(sn_decode(&d, 1, f, n + 38, n + 38, 1, &p), SN_DECODE_SKIP);
    put_u16(f + 12, 1);
    assert_int_equal(sn_decode(&d, 1, f, n + 38, n + 38, 1, &p), SN_DECODE_MALFORMED);
    assert_string_equal(d.error, "802.3 length shorter than an LLC header");
    /* a length inside SNAP means nothing; 1501-1535 is neither */
    n = 12 + put_snap(f + 12, 40);
    put_u16(f + n, 40);
    assert_int_equal(sn_decode(&d, 1, f, n + 40, n + 40, 1, &p), SN_DECODE_SKIP);
    put_u16(f + 12, 1510);
    assert_int_equal(sn_decode(&d, 1, f, 60, 60, 1, &p), SN_DECODE_SKIP);
    /* VLAN tags before and after SNAP count together: 5 are too many */
    n = 12;
    for (unsigned i = 0; i < 3; i++) {
        n += put_u16(f + n, 0x8100);
        n += put_u16(f + n, 1 + i);
    }
    n += put_snap(f + n, 60);
    for (unsigned i = 0; i < 2; i++) {
        n += put_u16(f + n, 0x8100);
        n += put_u16(f + n, 4 + i);
    }
    n += put_u16(f + n, 0x0800);
    f[n] = 0x45;
    assert_int_equal(sn_decode(&d, 1, f, n + 40, n + 40, 1, &p), SN_DECODE_MALFORMED);
    assert_string_equal(d.error, "too many VLAN tags");
    /* Linux cooked protocols below 1536 other than LLC are not for us */
    memset(f, 0, 40);
    put_u16(f + 14, 0x0001);
    assert_int_equal(sn_decode(&d, 113, f, 40, 40, 1, &p), SN_DECODE_SKIP);
    put_u16(f, 0x0001);
    assert_int_equal(sn_decode(&d, 276, f, 40, 40, 1, &p), SN_DECODE_SKIP);
    sn_decoder_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_links_ipv4),
        cmocka_unit_test(test_links_ipv6),
        cmocka_unit_test(test_links_ipv6_ext),
        cmocka_unit_test(test_udp_and_garbage),
        cmocka_unit_test(test_ipv4_defrag),
        cmocka_unit_test(test_ipv6_defrag),
        cmocka_unit_test(test_vlan_ids),
        cmocka_unit_test(test_defrag_vlans_and_wire_length),
        cmocka_unit_test(test_defrag_overlaps_as_linux),
        cmocka_unit_test(test_encapsulations_ipv4),
        cmocka_unit_test(test_encapsulations_ipv6),
        cmocka_unit_test(test_encapsulation_limits),
        cmocka_unit_test(test_nflog_big_endian_large),
        cmocka_unit_test(test_tcp_window_and_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
