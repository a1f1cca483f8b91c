/* msnkit_copy / msnkit_join: what fits is copied whole with its NUL; what
 * does not is refused and leaves the empty string, never a cut copy.
 * msnkit_put_dec: every digit, the NUL, and the end it returns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "msnkit/text.h"

static void test_copy(void **state) {
    (void)state;
    char b[8];
    memset(b, 'x', sizeof b);
    assert_int_equal(msnkit_copy(b, sizeof b, "abc"), 0);
    assert_string_equal(b, "abc");
    assert_int_equal(msnkit_copy(b, sizeof b, "1234567"), 0); /* 7 bytes and the NUL: exactly full */
    assert_string_equal(b, "1234567");
    assert_int_equal(msnkit_copy(b, sizeof b, "12345678"), -1); /* one byte too many */
    assert_string_equal(b, "");
    assert_int_equal(msnkit_copy(b, sizeof b, ""), 0);
    assert_string_equal(b, "");
    assert_int_equal(msnkit_copy(b, 0, "a"), -1); /* no room at all: nothing written */
}

static void test_join(void **state) {
    (void)state;
    char b[12];
    assert_int_equal(msnkit_join(b, sizeof b, "10.0.0.1", ':', "80"), 0);
    assert_string_equal(b, "10.0.0.1:80");                                  /* 11 bytes and the NUL */
    assert_int_equal(msnkit_join(b, sizeof b, "10.0.0.1", ':', "443"), -1); /* 12: refused */
    assert_string_equal(b, "");
    assert_int_equal(msnkit_join(b, sizeof b, "", ' ', ""), 0);
    assert_string_equal(b, " ");
}

static void test_put_dec(void **state) {
    (void)state;
    char b[21];
    char *end = msnkit_put_dec(b, 0);
    assert_string_equal(b, "0");
    assert_ptr_equal(end, b + 1);
    end = msnkit_put_dec(b, 1863);
    assert_string_equal(b, "1863");
    assert_ptr_equal(end, b + 4);
    end = msnkit_put_dec(b, UINT64_MAX); /* 20 digits and the NUL */
    assert_string_equal(b, "18446744073709551615");
    assert_ptr_equal(end, b + 20);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_put_dec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
