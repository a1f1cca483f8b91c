/* sn_sha1 against the FIPS 180 examples and against libcrypto's SHA-1 for
 * every length from 0 to 300 bytes (one, two and more blocks, and every
 * place the padding can fall). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "sha1.h"

static void hex(const uint8_t d[20], char out[41]) {
    for (int i = 0; i < 20; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void check(const char *msg, const char *want) {
    uint8_t d[20];
    char h[41];
    sn_sha1(msg, strlen(msg), d);
    hex(d, h);
    assert_string_equal(h, want);
}

static void test_fips_examples(void **state) {
    (void)state;
    check("", "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    check("abc", "a9993e364706816aba3e25717850c26c9cd0d89d");
    check("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

static void test_matches_libcrypto(void **state) {
    (void)state;
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 37u + 11u);
    for (size_t n = 0; n <= sizeof buf; n++) {
        uint8_t mine[20], ref[20];
        sn_sha1(buf, n, mine);
        SHA1(buf, n, ref);
        if (memcmp(mine, ref, 20) != 0) fail_msg("length %zu differs from libcrypto", n);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fips_examples),
        cmocka_unit_test(test_matches_libcrypto),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
