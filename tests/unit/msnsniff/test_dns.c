/* test_dns.c - DNS answers observed in the traffic (dns.c): names and
 * CNAME chains, every truncation, pointer loops, and the bound on names
 * answered with a new address every time, and addresses found whatever
 * their padding holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "context.h"
#include "dns.h"
#include "expect.h"

static void test_dns(void **state) {
    (void)state;
    /* response: sb7.msgr.hotmail.com CNAME x.example.net, x.example.net A 64.4.12.174 */
    static const uint8_t pkt[] = {
        0x12, 0x34, 0x81, 0x80, 0,   1,   0,   2,   0, 0,   0,   0,   3,   's', 'b', '7', 4,   'm',  's', 'g', 'r',
        7,    'h',  'o',  't',  'm', 'a', 'i', 'l', 3, 'c', 'o', 'm', 0,   0,   1,   0,   1,   0xC0, 12,  0,   5,
        0,    1,    0,    0,    0,   60,  0,   15,  1, 'x', 7,   'e', 'x', 'a', 'm', 'p', 'l', 'e',  3,   'n', 'e',
        't',  0,    0xC0, 50,   0,   1,   0,   1,   0, 0,   0,   60,  0,   4,   64,  4,   12,  174};
    sn_ctx c;
    memset(&c, 0, sizeof c);
    sn_strmap_init(&c.dns);
    sn_expect_init(&c.expect, 1000, 0, NULL);
    assert_int_equal(sn_dns_observe(&c, pkt, sizeof pkt), 1);
    const sn_addr *a = sn_dns_lookup(&c, "SB7.msgr.hotmail.com", 20);
    assert_non_null(a);
    assert_int_equal(a->b[3], 174);
    assert_non_null(sn_dns_lookup(&c, "x.example.net", 13));
    /* the reverse map keys on the address, not on the padding after it:
     * an address made anywhere (here over bytes that are not zero) finds
     * the name */
    sn_addr q;
    memset(&q, 0xA5, sizeof q);
    static const uint8_t ip[4] = {64, 4, 12, 174};
    sn_addr_set_ipv4(&q, ip);
    const char *name = sn_dns_name_of(&c, &q);
    assert_non_null(name);
    assert_string_equal(name, sn_dns_name_of(&c, a));
    /* every truncation and a pointer loop: no crash, nothing bogus */
    for (size_t cut = 0; cut < sizeof pkt; cut++) sn_dns_observe(&c, pkt, cut);
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

/* Appends a name (dotted) in DNS labels at p; returns the bytes written. */
static size_t put_name(uint8_t *p, const char *name) {
    size_t o = 0;
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t len = dot ? (size_t)(dot - name) : strlen(name);
        p[o++] = (uint8_t)len;
        memcpy(p + o, name, len);
        o += len;
        name += len + (dot ? 1 : 0);
    }
    p[o++] = 0;
    return o;
}

/* Appends a record: owner, type, class IN, TTL 60, rdata. */
static size_t put_rr(uint8_t *p, const char *owner, uint16_t type, const uint8_t *rd, size_t rdn) {
    size_t o = put_name(p, owner);
    const uint8_t fixed[8] = {(uint8_t)(type >> 8), (uint8_t)type, 0, 1, 0, 0, 0, 60};
    memcpy(p + o, fixed, 8);
    o += 8;
    p[o++] = (uint8_t)(rdn >> 8);
    p[o++] = (uint8_t)rdn;
    memcpy(p + o, rd, rdn);
    return o + rdn;
}

static size_t put_cname(uint8_t *p, const char *owner, const char *target) {
    uint8_t rd[256];
    return put_rr(p, owner, 5, rd, put_name(rd, target));
}

static void test_cname_chain_every_link(void **state) {
    (void)state;
    /* sb.example.com -> edge.cdn.net -> pop3.edge.cdn.net -> 10.9.8.7,
     * the address before the last CNAME: every name of the chain
     * resolves, whichever of them a referral names */
    uint8_t pkt[1024];
    static const uint8_t hdr[12] = {0xAB, 0xCD, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0};
    memcpy(pkt, hdr, 12);
    size_t n = 12;
    n += put_name(pkt + n, "sb.example.com");
    static const uint8_t qtail[4] = {0, 1, 0, 1};
    memcpy(pkt + n, qtail, 4);
    n += 4;
    n += put_cname(pkt + n, "sb.example.com", "edge.cdn.net");
    static const uint8_t ip[4] = {10, 9, 8, 7};
    n += put_rr(pkt + n, "pop3.edge.cdn.net", 1, ip, 4);
    n += put_cname(pkt + n, "edge.cdn.net", "pop3.edge.cdn.net");
    sn_ctx c;
    memset(&c, 0, sizeof c);
    sn_strmap_init(&c.dns);
    sn_expect_init(&c.expect, 1000, 0, NULL);
    assert_int_equal(sn_dns_observe(&c, pkt, n), 1);
    static const char *const names[] = {"sb.example.com", "edge.cdn.net", "pop3.edge.cdn.net"};
    for (size_t i = 0; i < 3; i++) {
        const sn_addr *a = sn_dns_lookup(&c, names[i], strlen(names[i]));
        assert_non_null(a);
        assert_memory_equal(a->b, ip, 4);
    }
    /* a CNAME loop in a hostile answer ends */
    n = 12;
    n += put_name(pkt + n, "a.loop");
    memcpy(pkt + n, qtail, 4);
    n += 4;
    n += put_cname(pkt + n, "a.loop", "b.loop");
    n += put_cname(pkt + n, "b.loop", "a.loop");
    n += put_rr(pkt + n, "a.loop", 1, ip, 4);
    assert_int_equal(sn_dns_observe(&c, pkt, n), 1);
    assert_non_null(sn_dns_lookup(&c, "b.loop", 6));
    sn_dns_free(&c);
    sn_expect_free(&c.expect);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns),
        cmocka_unit_test(test_cname_chain_every_link),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
