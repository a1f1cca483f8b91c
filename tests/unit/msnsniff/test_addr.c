/* test_addr.c - addresses as text (addr.c): IPv4 formatted by hand against
 * inet_ntop, IPv6, endpoints with their port, cut to the buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

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

/* Literals: IPv4, IPv6 with or without brackets, and an IPv4-mapped IPv6
 * address, which is its IPv4 address (packets to it are IPv4). */
static void test_addr_parse(void **state) {
    (void)state;
    sn_addr a, b;
    assert_int_equal(sn_addr_parse("198.51.100.7", 12, &a), 0);
    assert_int_equal(a.family, 4);
    assert_int_equal(sn_addr_parse("::ffff:198.51.100.7", 19, &b), 0);
    assert_true(sn_addr_eq(&a, &b));
    assert_int_equal(sn_addr_parse("[::FFFF:c633:6407]", 18, &b), 0);
    assert_true(sn_addr_eq(&a, &b));
    assert_int_equal(sn_addr_parse("[2001:db8::1]", 13, &b), 0);
    assert_int_equal(b.family, 6);
    assert_int_equal(sn_addr_parse("::198.51.100.7", 14, &b), 0); /* IPv4-compatible: not mapped */
    assert_int_equal(b.family, 6);
    assert_int_equal(sn_addr_parse("example.com", 11, &b), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_text),
        cmocka_unit_test(test_addr_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
