/* msnkit_grow: the first allocation, doubling past what is needed, no
 * reallocation while there is room, and sizes that would overflow refused
 * with the array and its capacity left as they were. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "msnkit/grow.h"

static void test_grows_by_doubling(void **state) {
    (void)state;
    int *a = NULL;
    size_t cap = 0;
    for (size_t n = 0; n < 100; n++) {
        int *g = msnkit_grow(a, &cap, n + 1, sizeof *a, 4);
        assert_non_null(g);
        a = g;
        a[n] = (int)n;
        assert_true(cap >= n + 1);
    }
    assert_int_equal(cap, 128); /* 4, 8, ..., 128 */
    for (size_t n = 0; n < 100; n++) assert_int_equal(a[n], (int)n);
    /* room left: the same array, the same capacity */
    assert_ptr_equal(msnkit_grow(a, &cap, 128, sizeof *a, 4), a);
    assert_int_equal(cap, 128);
    /* a need far beyond: doubled until it fits */
    int *g = msnkit_grow(a, &cap, 1000, sizeof *a, 4);
    assert_non_null(g);
    assert_int_equal(cap, 1024);
    assert_int_equal(g[99], 99);
    free(g);
}

static void test_overflow_refused(void **state) {
    (void)state;
    char *p = malloc(8);
    assert_non_null(p);
    memcpy(p, "kept", 5);
    size_t cap = 8;
    assert_null(msnkit_grow(p, &cap, SIZE_MAX, 1, 8));
    assert_int_equal(cap, 8);
    assert_null(msnkit_grow(p, &cap, SIZE_MAX / 4, 16, 8)); /* elements fit, bytes do not */
    assert_int_equal(cap, 8);
    assert_string_equal(p, "kept");
    free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_by_doubling),
        cmocka_unit_test(test_overflow_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
