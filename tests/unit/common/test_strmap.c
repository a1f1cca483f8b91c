/* The shared hash map: insert, replace, look up and remove; keys that are
 * any bytes (NUL, prefixes of each other); growth through many doublings
 * with every key still found; removal while visiting; values freed by
 * msnkit_strmap_free. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msnkit/strmap.h"

static void test_put_get_replace_del(void **state) {
    (void)state;
    msnkit_strmap m;
    assert_int_equal(msnkit_strmap_init(&m), 0);
    int a = 1, b = 2;
    void *old = &b;
    assert_int_equal(msnkit_strmap_put(&m, "alice", 5, &a, &old), 0);
    assert_null(old);
    assert_ptr_equal(msnkit_strmap_get(&m, "alice", 5), &a);
    assert_null(msnkit_strmap_get(&m, "alic", 4));
    assert_null(msnkit_strmap_get(&m, "alicee", 6));
    assert_int_equal(msnkit_strmap_put(&m, "alice", 5, &b, &old), 0);
    assert_ptr_equal(old, &a);
    assert_int_equal(msnkit_strmap_count(&m), 1);
    assert_ptr_equal(msnkit_strmap_del(&m, "alice", 5), &b);
    assert_null(msnkit_strmap_del(&m, "alice", 5));
    assert_int_equal(msnkit_strmap_count(&m), 0);
    msnkit_strmap_free(&m, NULL);
}

static void test_binary_keys(void **state) {
    (void)state;
    msnkit_strmap m;
    assert_int_equal(msnkit_strmap_init(&m), 0);
    int v[3];
    const char k1[] = {'a', '\0', 'b'}, k2[] = {'a', '\0', 'c'};
    assert_int_equal(msnkit_strmap_put(&m, k1, 3, &v[0], NULL), 0);
    assert_int_equal(msnkit_strmap_put(&m, k2, 3, &v[1], NULL), 0);
    assert_int_equal(msnkit_strmap_put(&m, "a", 1, &v[2], NULL), 0);
    assert_int_equal(msnkit_strmap_put(&m, "", 0, &v[2], NULL), 0);
    assert_int_equal(msnkit_strmap_count(&m), 4);
    assert_ptr_equal(msnkit_strmap_get(&m, k1, 3), &v[0]);
    assert_ptr_equal(msnkit_strmap_get(&m, k2, 3), &v[1]);
    assert_ptr_equal(msnkit_strmap_get(&m, "a", 1), &v[2]);
    assert_ptr_equal(msnkit_strmap_get(&m, "", 0), &v[2]);
    msnkit_strmap_free(&m, NULL);
}

static void test_growth_keeps_every_key(void **state) {
    (void)state;
    enum { N = 50000 };
    msnkit_strmap m;
    assert_int_equal(msnkit_strmap_init(&m), 0);
    static int vals[N];
    char key[32];
    for (int i = 0; i < N; i++) {
        int n = snprintf(key, sizeof key, "user%d@example.com", i);
        assert_int_equal(msnkit_strmap_put(&m, key, (size_t)n, &vals[i], NULL), 0);
    }
    assert_int_equal(msnkit_strmap_count(&m), N);
    assert_true(m.nb >= N); /* doubled as it filled: chains stay short */
    for (int i = 0; i < N; i++) {
        int n = snprintf(key, sizeof key, "user%d@example.com", i);
        assert_ptr_equal(msnkit_strmap_get(&m, key, (size_t)n), &vals[i]);
    }
    for (int i = 0; i < N; i += 2) {
        int n = snprintf(key, sizeof key, "user%d@example.com", i);
        assert_ptr_equal(msnkit_strmap_del(&m, key, (size_t)n), &vals[i]);
    }
    assert_int_equal(msnkit_strmap_count(&m), N / 2);
    for (int i = 0; i < N; i++) {
        int n = snprintf(key, sizeof key, "user%d@example.com", i);
        assert_ptr_equal(msnkit_strmap_get(&m, key, (size_t)n), i % 2 ? &vals[i] : NULL);
    }
    msnkit_strmap_free(&m, NULL);
}

typedef struct seen {
    int visits, removed;
} seen;

static int remove_odd(void *ctx, const char *key, void *val) {
    seen *s = ctx;
    s->visits++;
    assert_int_equal((int)strlen(key), 4); /* NUL-terminated after its bytes */
    if (*(int *)val % 2) {
        s->removed++;
        free(val);
        return 1;
    }
    return 0;
}

static void test_each_removes(void **state) {
    (void)state;
    msnkit_strmap m;
    assert_int_equal(msnkit_strmap_init(&m), 0);
    char key[8];
    for (int i = 0; i < 1000; i++) {
        int *v = malloc(sizeof *v);
        assert_non_null(v);
        *v = i;
        snprintf(key, sizeof key, "k%03d", i);
        assert_int_equal(msnkit_strmap_put(&m, key, 4, v, NULL), 0);
    }
    seen s = {0, 0};
    msnkit_strmap_each(&m, remove_odd, &s);
    assert_int_equal(s.visits, 1000);
    assert_int_equal(s.removed, 500);
    assert_int_equal(msnkit_strmap_count(&m), 500);
    assert_null(msnkit_strmap_get(&m, "k001", 4));
    assert_non_null(msnkit_strmap_get(&m, "k002", 4));
    msnkit_strmap_free(&m, free); /* the even values: ASan reports any leak */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_replace_del),
        cmocka_unit_test(test_binary_keys),
        cmocka_unit_test(test_growth_keeps_every_key),
        cmocka_unit_test(test_each_removes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
