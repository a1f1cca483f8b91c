/* Community ID v1 against the published test vectors of the specification
 * (TCP, UDP, ICMP and ICMPv6, seeds 0 and 1), both directions of each flow,
 * and the refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "communityid.h"

static sn_addr ip(const char *s) {
    sn_addr a;
    assert_int_equal(sn_addr_parse(s, strlen(s), &a), 0);
    return a;
}

/* The identifier of src:sport -> dst:dport, checked to be the same from the
 * other direction. */
static void check(const char *src, uint16_t sport, const char *dst, uint16_t dport, uint8_t proto, uint16_t seed,
                  const char *want) {
    sn_addr s = ip(src), d = ip(dst);
    char fwd[SN_COMMUNITY_ID_LEN], rev[SN_COMMUNITY_ID_LEN];
    assert_int_equal(sn_community_id(seed, &s, sport, &d, dport, proto, fwd), 0);
    assert_string_equal(fwd, want);
    assert_int_equal(sn_community_id(seed, &d, dport, &s, sport, proto, rev), 0);
    assert_string_equal(rev, want);
}

static void test_published_vectors_seed0(void **state) {
    (void)state;
    check("1.2.3.4", 1122, "5.6.7.8", 3344, 6, 0, "1:wCb3OG7yAFWelaUydu0D+125CLM=");
    check("1.2.3.4", 1122, "5.6.7.8", 3344, 17, 0, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=");
    /* ICMP echo: type 8, code 0, mapped to ports 8 and 0 */
    check("1.2.3.4", 8, "5.6.7.8", 0, 1, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=");
    /* ICMPv6 echo request 128, its reply type 129 as the other port */
    check("fe80:1:203:405:607:809:a0b:c0d", 128, "fe80:1011:1213:1415:1617:1819:1a1b:1c1d", 129, 58, 0,
          "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=");
}

static void test_published_vectors_seed1(void **state) {
    (void)state;
    check("1.2.3.4", 1122, "5.6.7.8", 3344, 6, 1, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=");
    check("1.2.3.4", 1122, "5.6.7.8", 3344, 17, 1, "1:OShq+iKDAMVouh/4bMxB9Sz4amw=");
    check("1.2.3.4", 8, "5.6.7.8", 0, 1, 1, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=");
    check("fe80:1:203:405:607:809:a0b:c0d", 128, "fe80:1011:1213:1415:1617:1819:1a1b:1c1d", 129, 58, 1,
          "1:IO27GQzPuCtNnwFvjWALMHu5tJE=");
}

/* IPv4 addresses are ordered as numbers in network order, whatever the
 * host's: 10.0.0.255 is below 10.0.1.0, and its port does not matter
 * (expected values from Python's hashlib and base64). */
static void test_ipv4_order_is_network_order(void **state) {
    (void)state;
    check("10.0.0.255", 2000, "10.0.1.0", 1000, 6, 0, "1:w3GUgLhMib945RiQyi/7DXrQo60=");
    check("10.0.0.255", 1000, "10.0.1.0", 2000, 6, 0, "1:Q9rasnY+O9/dQ0qyIMXbnF73ihY=");
}

/* Same address on both ends: the ports decide the order. */
static void test_same_address_orders_by_port(void **state) {
    (void)state;
    sn_addr a = ip("127.0.0.1");
    char x[SN_COMMUNITY_ID_LEN], y[SN_COMMUNITY_ID_LEN];
    assert_int_equal(sn_community_id(0, &a, 40000, &a, 1863, 6, x), 0);
    assert_int_equal(sn_community_id(0, &a, 1863, &a, 40000, 6, y), 0);
    assert_string_equal(x, y);
    assert_int_equal(sn_community_id(0, &a, 40001, &a, 1863, 6, y), 0);
    assert_string_not_equal(x, y);
}

static void test_refusals(void **state) {
    (void)state;
    sn_addr v4 = ip("10.0.0.1"), v6 = ip("2001:db8::1"), none;
    memset(&none, 0, sizeof none);
    char out[SN_COMMUNITY_ID_LEN] = "x";
    assert_int_equal(sn_community_id(0, &v4, 1, &v6, 2, 6, out), -1);
    assert_string_equal(out, "");
    assert_int_equal(sn_community_id(0, &none, 1, &none, 2, 6, out), -1);
    assert_string_equal(out, "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_vectors_seed0),
        cmocka_unit_test(test_published_vectors_seed1),
        cmocka_unit_test(test_ipv4_order_is_network_order),
        cmocka_unit_test(test_same_address_orders_by_port),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
