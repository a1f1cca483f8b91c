/* msnkit_copy / msnkit_join: what fits is copied whole with its NUL; what
 * does not is refused and leaves the empty string, never a cut copy. */
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_join),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
