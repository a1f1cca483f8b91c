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
            assert_int_equal(sn_addr_fmt(&a, ours), strlen(ref)); /* the length of the same text */
            assert_string_equal(ours, ref);
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
    assert_int_equal(sn_addr_fmt(&a, ours), 3);

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

/* IPv4 literals are read by hand: every string must read as inet_pton
 * (AF_INET) reads it (up to a NUL; no leading zeros, no octet above 255,
 * exactly four), and one it refuses is not an IPv4 address here either. */
static void check_like_inet_pton(const char *s, size_t n) {
    char z[64];
    memcpy(z, s, n);
    z[n] = '\0';
    unsigned char want[4];
    int v4 = inet_pton(AF_INET, z, want) == 1;
    sn_addr a;
    int rc = sn_addr_parse(s, n, &a);
    if (v4) {
        assert_int_equal(rc, 0);
        assert_int_equal(a.family, 4);
        assert_memory_equal(a.b, want, 4);
    } else {
        assert_false(rc == 0 && a.family == 4 && memchr(z, ':', n) == NULL);
    }
}

static void test_addr_parse_ipv4(void **state) {
    (void)state;
    static const char *const cases[] = {
        "0.0.0.0",   "255.255.255.255", "1.2.3.4",    "01.2.3.4", "1.2.3.04", "1.2.3.00",  "256.1.1.1",
        "1.2.3.256", "1.2.3",           "1.2.3.4.",   ".1.2.3.4", "1..2.3",   "1.2.3.4.5", "1.2.3.4 ",
        " 1.2.3.4",  "1.2.3.1000",      "1.2.3.-1",   "1.2.3.4x", "1.2.3.+4", "999.1.1.1", "100.200.250.255",
        "10.0.0.1",  "0x1.2.3.4",       "1.2.3.0255", "1.2.3.",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_like_inet_pton(cases[i], strlen(cases[i]));
    check_like_inet_pton("1.2.3.4\0garbage", 15); /* read up to the NUL, as a C string */
    check_like_inet_pton("1.2.\0.4", 7);
    /* strings of digits, dots and a few others, short and long */
    static const char alphabet[] = "0123456789..0129:x -/\xff";
    unsigned seed = 4242;
    char s[24];
    for (int i = 0; i < 300000; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 16) % 19;
        for (size_t k = 0; k < n; k++) {
            seed = seed * 1103515245u + 12345u;
            s[k] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        check_like_inet_pton(s, n);
    }
    /* every octet value, with and without leading zeros, in each position */
    for (int pos = 0; pos < 4; pos++)
        for (int v = 0; v < 1000; v++)
            for (int width = 1; width <= 4; width++) {
                char o[4][8] = {"10", "0", "255", "7"};
                snprintf(o[pos], sizeof o[pos], "%0*d", width, v);
                int n = snprintf(s, sizeof s, "%s.%s.%s.%s", o[0], o[1], o[2], o[3]);
                check_like_inet_pton(s, (size_t)n);
            }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_text),
        cmocka_unit_test(test_addr_parse),
        cmocka_unit_test(test_addr_parse_ipv4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
