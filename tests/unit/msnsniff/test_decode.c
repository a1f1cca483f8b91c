/* test_decode.c - link/network/transport decoding, every cut of a frame,
 * IPv4 fragment reassembly, and the detection, expectation and DNS
 * modules. */
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
            size_t n = msnsynth_frame_tcp(&o, &a, &b, 1234, 5678, MSNSYNTH_TCP_ACK | MSNSYNTH_TCP_PSH, "USR 1 OK\r\n", 10,
                                          frame, sizeof frame);
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
            assert_int_equal(p.vlan, vlans == 0 ? 0 : vlans == 1 ? 100 : 42);
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

static void test_links_ipv4(void **state) { (void)state; decode_all_links(0, 0); }
static void test_links_ipv6(void **state) { (void)state; decode_all_links(1, 0); }
static void test_links_ipv6_ext(void **state) { (void)state; decode_all_links(1, 1); }

static void test_udp_and_garbage(void **state) {
    (void)state;
    msnsynth_endpoint a = ep("10.0.0.1", 53), b = ep("10.0.0.2", 3000);
    uint8_t frame[256];
    size_t n = msnsynth_frame_udp(NULL, &a, &b, "hello", 5, frame, sizeof frame);
    sn_memcap mem;
    sn_memcap_init(&mem, 0);
    sn_decoder d;
    sn_decoder_init(&d, &mem, 1, 0);
    sn_packet p;
    assert_int_equal(sn_decode(&d, 1, frame, n, n, 1, &p), SN_DECODE_OK);
    assert_int_equal(p.proto, 17);
    assert_int_equal(p.len, 5);
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

static void test_ipv4_defrag(void **state) {
    (void)state;
    /* one UDP datagram of 100 bytes split into 3 fragments, sent out of order */
    msnsynth_endpoint a = ep("10.0.0.1", 5004), b = ep("10.0.0.2", 5005);
    msnsynth_opts o;
    memset(&o, 0, sizeof o);
    o.link = MSNSYNTH_LINK_RAW;
    uint8_t data[100], full[256];
    for (int i = 0; i < 100; i++)
        data[i] = (uint8_t)i;
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
    for (int i = 0; i < 100; i++)
        data[i] = (uint8_t)i;
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

static void test_detect(void **state) {
    (void)state;
    int side;
    assert_int_equal(sn_detect_line((const uint8_t *)"VER 0 MSNP7 CVR0\r\n", 18, &side), SN_DETECT_MSNP);
    assert_int_equal(sn_detect_line((const uint8_t *)"VER MSNFTP\r\n", 12, &side), SN_DETECT_MSNFTP);
    assert_int_equal(sn_detect_line((const uint8_t *)"MSG a@b.c Name 12\r\n", 19, &side), SN_DETECT_MSNP);
    assert_int_equal(side, 1);
    assert_int_equal(sn_detect_line((const uint8_t *)"MSG 4 N 12\r\n", 12, &side), SN_DETECT_MSNP);
    assert_int_equal(side, 0);
    assert_int_equal(sn_detect_line((const uint8_t *)"911 6\r\n", 7, &side), SN_DETECT_MSNP);
    assert_int_equal(sn_detect_line((const uint8_t *)"GET / HTTP/1.0\r\n", 16, &side), SN_DETECT_NO);
    assert_int_equal(sn_detect_line((const uint8_t *)"\x16\x03\x01", 3, &side), SN_DETECT_NO);
    assert_int_equal(sn_detect_line((const uint8_t *)"VER 0 MS", 8, &side), SN_DETECT_MORE);
    assert_int_equal(sn_detect_line((const uint8_t *)"VE", 2, &side), SN_DETECT_MORE);
    assert_int_equal(sn_detect_line((const uint8_t *)"VER abc\r\n", 9, &side), SN_DETECT_NO);
    assert_int_equal(sn_detect_line((const uint8_t *)"USR 1 a\x01\r\n", 10, &side), SN_DETECT_NO);
}

static sn_expect_proto proto_exp(const char *host, uint16_t port, uint8_t tr, uint64_t group) {
    sn_expect_proto e;
    memset(&e, 0, sizeof e);
    snprintf(e.host, sizeof e.host, "%s", host);
    if (sn_addr_parse(host, strlen(host), &e.addr) != 0)
        memset(&e.addr, 0, sizeof e.addr);
    e.port = port;
    e.transport = tr;
    e.group = group;
    e.app = "test";
    e.source = "test";
    return e;
}

/* The table's own subscribers: expiries counted by reason. */
static int missed, evicted_seen;
static void count_miss(void *ctx, const sn_expect *e, sn_expect_end why) {
    (void)ctx;
    (void)e;
    missed++;
    evicted_seen += why == SN_END_EVICTED;
}
static sn_observers miss_counter(void) {
    sn_observers s;
    memset(&s, 0, sizeof s);
    sn_observer o = {0};
    o.expect_expired = count_miss;
    sn_observers_add(&s, &o);
    return s;
}

static void test_expectations(void **state) {
    (void)state;
    sn_expect_table t;
    sn_observers obs = miss_counter();
    assert_int_equal(sn_expect_init(&t, 1000, 0, &obs), 0);
    sn_expect_proto p1 = proto_exp("10.0.0.1", 6891, SN_TR_TCP, 1), p2 = proto_exp("10.0.0.1", 0, SN_TR_TCP, 1),
              p3 = proto_exp("10.0.0.9", 5004, SN_TR_UDP, 2), p4 = proto_exp("sb.example.net", 1863, SN_TR_TCP, 3);
    sn_expect *e1 = sn_expect_add(&t, &p1, 100, NULL), *e2 = sn_expect_add(&t, &p2, 100, NULL);
    sn_expect *e3 = sn_expect_add(&t, &p3, 200, NULL), *e4 = sn_expect_add(&t, &p4, 300, NULL);
    sn_expect *dup;
    assert_null(sn_expect_add(&t, &p1, 150, &dup)); /* the same prediction seen twice */
    assert_ptr_equal(dup, e1);
    sn_addr a;
    sn_addr_parse("10.0.0.1", 8, &a);
    assert_ptr_equal(sn_expect_match(&t, &a, 6891, 6, 500), e1); /* exact port first */
    assert_ptr_equal(sn_expect_match(&t, &a, 7000, 6, 500), e2); /* then any port */
    assert_null(sn_expect_match(&t, &a, 6891, 17, 500));          /* wrong transport */
    sn_addr_parse("10.0.0.9", 8, &a);
    assert_ptr_equal(sn_expect_match(&t, &a, 5004, 17, 500), e3);
    assert_null(sn_expect_match(&t, &a, 5004, 17, 5000));         /* expired by then */
    /* a host name matches once DNS resolved it */
    sn_addr_parse("64.4.12.174", 11, &a);
    assert_null(sn_expect_match(&t, &a, 1863, 6, 500));
    assert_int_equal(sn_expect_resolve(&t, "SB.example.net", 14, &a), 1);
    assert_ptr_equal(sn_expect_match(&t, &a, 1863, 6, 500), e4);
    /* a hit retires its alternatives quietly */
    sn_expect_hit(&t, e1, NULL);
    assert_int_equal(e2->state, SN_EXP_RETIRED);
    missed = 0;
    sn_expect_expire(&t, 1150); /* e1, e2 expire: not misses */
    assert_int_equal(missed, 0);
    sn_expect_expire(&t, UINT64_MAX);
    assert_int_equal(missed, 2);                  /* e3 and e4 */
    assert_int_equal(t.count, 0);
    sn_expect_free(&t);
}

/* A DNS answer resolves exactly the pending expectations written with its
 * name, however many others wait: names indexed, not scanned. */
static void test_resolve_among_many(void **state) {
    (void)state;
    enum { N = 20000 };
    sn_expect_table t;
    assert_int_equal(sn_expect_init(&t, 1000000, 0, NULL), 0);
    char host[64];
    /* many expectations waiting on other names, and many already resolved */
    for (unsigned i = 0; i < N; i++) {
        if (i % 2)
            snprintf(host, sizeof host, "sb%u.example.net", i);
        else
            snprintf(host, sizeof host, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        sn_expect_proto p = proto_exp(host, 1863, SN_TR_TCP, 100 + i);
        assert_non_null(sn_expect_add(&t, &p, 100 + i, NULL));
    }
    /* four on the same name, written in different cases, at different times */
    sn_expect_proto q1 = proto_exp("SB7.msgr.hotmail.com", 1863, SN_TR_TCP, 1);
    sn_expect_proto q2 = proto_exp("sb7.MSGR.hotmail.com", 1864, SN_TR_TCP, 2);
    sn_expect_proto q3 = proto_exp("sb7.msgr.hotmail.com", 1865, SN_TR_TCP, 3);
    sn_expect_proto q4 = proto_exp("sb7.msgr.hotmail.com", 1866, SN_TR_TCP, 4);
    sn_expect *e1 = sn_expect_add(&t, &q1, 50000, NULL), *e2 = sn_expect_add(&t, &q2, 50001, NULL);
    sn_expect *e3 = sn_expect_add(&t, &q3, 50002, NULL), *e4 = sn_expect_add(&t, &q4, 50003, NULL);
    assert_non_null(e1);
    assert_non_null(e2);
    assert_non_null(e3);
    assert_non_null(e4);
    sn_expect_hit(&t, e3, NULL); /* spent: not resolved, not matched */
    sn_addr a;
    sn_addr_parse("64.4.12.174", 11, &a);
    assert_null(sn_expect_match(&t, &a, 1863, 6, 60000));
    assert_int_equal(sn_expect_resolve(&t, "sb7.msgr.hotmail.COM", 20, &a), 3);
    assert_true(sn_addr_eq(&e1->addr, &a));
    assert_true(sn_addr_eq(&e2->addr, &a));
    assert_int_equal(e3->addr.family, 0);
    assert_ptr_equal(sn_expect_match(&t, &a, 1863, 6, 60000), e1);
    assert_ptr_equal(sn_expect_match(&t, &a, 1864, 6, 60000), e2);
    assert_null(sn_expect_match(&t, &a, 1865, 6, 60000));
    assert_ptr_equal(sn_expect_match(&t, &a, 1866, 6, 60000), e4);
    /* the others still wait for their own names */
    assert_int_equal(sn_expect_resolve(&t, "sb7.msgr.hotmail.com", 20, &a), 0);
    assert_int_equal(sn_expect_resolve(&t, "nothing.example.net", 19, &a), 0);
    sn_addr b;
    sn_addr_parse("64.4.12.175", 11, &b);
    assert_int_equal(sn_expect_resolve(&t, "sb19999.example.net", 19, &b), 1);
    assert_non_null(sn_expect_match(&t, &b, 1863, 6, 60000));
    /* expectations that expire leave the name index: a later answer
     * resolves only what is still there */
    sn_expect_expire(&t, 1000100 + N / 2);
    assert_true(t.count < N);
    assert_int_equal(sn_expect_resolve(&t, "sb1.example.net", 15, &b), 0);
    assert_int_equal(sn_expect_resolve(&t, "sb19997.example.net", 19, &b), 1);
    sn_expect_expire(&t, UINT64_MAX);
    assert_int_equal(t.count, 0);
    assert_int_equal(t.by_name.count, 0);
    sn_expect_free(&t);
}

/* Spent expectations stay only for the linger; pending ones for their
 * timeout; beyond the size bound the oldest pending is an evicted miss. */
static void test_expectation_lifetimes(void **state) {
    (void)state;
    const uint64_t timeout = 300ull * 1000000u;
    sn_expect_table t;
    sn_observers obs = miss_counter();
    assert_int_equal(sn_expect_init(&t, timeout, 0, &obs), 0);
    assert_int_equal(t.linger, SN_EXPECT_LINGER_US);
    /* a long capture: one invitation a second, each hit a second later */
    uint64_t now = 1000000;
    for (unsigned i = 0; i < 2000; i++, now += 1000000) {
        sn_expect_set_clock(&t, now);
        char host[32];
        snprintf(host, sizeof host, "10.1.%u.%u", i >> 8, i & 255);
        sn_expect_proto p = proto_exp(host, 6891, SN_TR_TCP, i + 1);
        sn_expect_proto alt = proto_exp("192.168.0.2", 6891, SN_TR_TCP, i + 1);
        sn_expect *e = sn_expect_add(&t, &p, now, NULL);
        assert_non_null(e);
        assert_non_null(sn_expect_add(&t, &alt, now, NULL)); /* retired by e's hit */
        if (i > 0) {
            snprintf(host, sizeof host, "10.1.%u.%u", (i - 1) >> 8, (i - 1) & 255);
            sn_addr a;
            sn_addr_parse(host, strlen(host), &a);
            sn_expect *x = sn_expect_match(&t, &a, 6891, 6, now);
            assert_non_null(x);
            sn_expect_hit(&t, x, NULL);
        }
        sn_expect_expire(&t, now);
        /* held: the last linger's worth of spent pairs and the newest pending pair */
        assert_true(t.count <= 2 * (SN_EXPECT_LINGER_US / 1000000u + 2));
    }
    assert_true(t.peak <= 2 * (SN_EXPECT_LINGER_US / 1000000u + 2));
    /* the same prediction seen again within the linger is still recognised */
    sn_expect_proto again = proto_exp("10.1.7.206", 6891, SN_TR_TCP, 1999);
    sn_expect *dup = NULL;
    assert_null(sn_expect_add(&t, &again, now, &dup));
    assert_non_null(dup);
    sn_expect_expire(&t, UINT64_MAX);
    sn_expect_free(&t);

    /* the size bound, on every add (no clock tick in between): the oldest
     * pending go first, reported as evicted */
    assert_int_equal(sn_expect_init(&t, timeout, 10, &obs), 0);
    missed = evicted_seen = 0;
    for (unsigned i = 0; i < 25; i++) {
        char host[32];
        snprintf(host, sizeof host, "10.2.0.%u", i);
        sn_expect_proto p = proto_exp(host, 6891, SN_TR_TCP, i + 1);
        assert_non_null(sn_expect_add(&t, &p, 1000 + i, NULL));
        assert_true(t.count <= 10);
    }
    assert_int_equal(t.peak, 10);
    assert_int_equal(missed, 15);
    assert_int_equal(evicted_seen, 15);
    sn_expect_expire(&t, 2000);
    assert_int_equal(t.count, 10);
    assert_int_equal(missed, 15);
    assert_int_equal(t.evicted, 15);
    sn_addr a;
    sn_addr_parse("10.2.0.14", 9, &a);
    assert_null(sn_expect_match(&t, &a, 6891, 6, 2000));
    sn_addr_parse("10.2.0.15", 9, &a);
    assert_non_null(sn_expect_match(&t, &a, 6891, 6, 2000));
    sn_expect_free(&t);
}

static void test_dns(void **state) {
    (void)state;
    /* response: sb7.msgr.hotmail.com CNAME x.example.net, x.example.net A 64.4.12.174 */
    static const uint8_t pkt[] = {
        0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,
        3, 's', 'b', '7', 4, 'm', 's', 'g', 'r', 7, 'h', 'o', 't', 'm', 'a', 'i', 'l', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1,
        0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 15, 1, 'x', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'n', 'e', 't', 0,
        0xC0, 50, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 64, 4, 12, 174};
    sn_ctx c;
    memset(&c, 0, sizeof c);
    sn_strmap_init(&c.dns);
    sn_expect_init(&c.expect, 1000, 0, NULL);
    assert_int_equal(sn_dns_observe(&c, pkt, sizeof pkt), 1);
    const sn_addr *a = sn_dns_lookup(&c, "SB7.msgr.hotmail.com", 20);
    assert_non_null(a);
    assert_int_equal(a->b[3], 174);
    assert_non_null(sn_dns_lookup(&c, "x.example.net", 13));
    /* every truncation and a pointer loop: no crash, nothing bogus */
    for (size_t cut = 0; cut < sizeof pkt; cut++)
        sn_dns_observe(&c, pkt, cut);
    uint8_t loop[sizeof pkt];
    memcpy(loop, pkt, sizeof pkt);
    loop[12] = 0xC0;
    loop[13] = 12;
    assert_int_equal(sn_dns_observe(&c, loop, sizeof loop), 0);
    /* a name answering with a new address every time (round robin) does
     * not grow the tables past their bound */
    uint8_t rr[sizeof pkt];
    memcpy(rr, pkt, sizeof pkt);
    for (unsigned i = 0; i < 70000; i++) {
        rr[sizeof rr - 3] = (uint8_t)(i >> 16);
        rr[sizeof rr - 2] = (uint8_t)(i >> 8);
        rr[sizeof rr - 1] = (uint8_t)i;
        sn_dns_observe(&c, rr, sizeof rr);
    }
    assert_int_equal(c.dns.count, 2);
    assert_true(c.dns_rev.count <= 65536);
    assert_true(c.st.dns_dropped > 0);
    sn_dns_free(&c);
    sn_expect_free(&c.expect);
}

/* IPv4 text is formatted by hand: it must be inet_ntop's, byte for byte,
 * for every octet value in every position; IPv6 still goes to inet_ntop. */
static void test_addr_text(void **state) {
    (void)state;
    char ours[SN_ADDR_STRLEN], ref[SN_ADDR_STRLEN];
    sn_addr a;
    memset(&a, 0, sizeof a);
    a.family = 4;
    for (int pos = 0; pos < 4; pos++) {
        for (unsigned v = 0; v < 256; v++) {
            static const unsigned char base[4] = {10, 0, 255, 7};
            memcpy(a.b, base, 4);
            a.b[pos] = (unsigned char)v;
            assert_non_null(inet_ntop(AF_INET, a.b, ref, sizeof ref));
            assert_string_equal(sn_addr_str(&a, ours), ref);
        }
    }
    unsigned seed = 12345;
    for (int i = 0; i < 10000; i++) {
        for (int k = 0; k < 4; k++) {
            seed = seed * 1103515245u + 12345u;
            a.b[k] = (unsigned char)(seed >> 16);
        }
        assert_non_null(inet_ntop(AF_INET, a.b, ref, sizeof ref));
        assert_string_equal(sn_addr_str(&a, ours), ref);
    }
    memset(a.b, 0xff, 4);
    assert_string_equal(sn_addr_str(&a, ours), "255.255.255.255");
    memset(&a, 0, sizeof a);
    a.family = 6;
    a.b[15] = 1;
    assert_string_equal(sn_addr_str(&a, ours), "::1");

    /* endpoints: "addr:port", IPv6 in brackets, every port as printf writes it */
    char ep[SN_ENDPOINT_STRLEN], want[SN_ENDPOINT_STRLEN];
    assert_int_equal(sn_endpoint_str(&a, 1863, ep, sizeof ep), 10);
    assert_string_equal(ep, "[::1]:1863");
    memset(a.b, 0xAB, 16);
    sn_endpoint_str(&a, 65535, ep, sizeof ep);
    assert_string_equal(ep, "[abab:abab:abab:abab:abab:abab:abab:abab]:65535");
    memset(&a, 0, sizeof a);
    a.family = 4;
    memcpy(a.b, (unsigned char[]){64, 4, 12, 193}, 4);
    for (unsigned port = 0; port < 65536; port += port < 1000 ? 1 : 97) {
        snprintf(want, sizeof want, "64.4.12.193:%u", port);
        assert_int_equal(sn_endpoint_str(&a, (uint16_t)port, ep, sizeof ep), strlen(want));
        assert_string_equal(ep, want);
    }
    /* cut to the buffer, always terminated */
    assert_int_equal(sn_endpoint_str(&a, 1863, ep, 8), 7);
    assert_string_equal(ep, "64.4.12");
    assert_int_equal(sn_endpoint_str(&a, 1863, ep, 0), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_links_ipv4),  cmocka_unit_test(test_links_ipv6), cmocka_unit_test(test_links_ipv6_ext),
        cmocka_unit_test(test_udp_and_garbage), cmocka_unit_test(test_ipv4_defrag), cmocka_unit_test(test_ipv6_defrag), cmocka_unit_test(test_detect),
        cmocka_unit_test(test_expectations), cmocka_unit_test(test_resolve_among_many), cmocka_unit_test(test_expectation_lifetimes),
        cmocka_unit_test(test_dns), cmocka_unit_test(test_addr_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
