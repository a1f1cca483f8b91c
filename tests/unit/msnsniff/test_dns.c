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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
