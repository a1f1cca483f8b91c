/* test_u64map.c - the open-addressed map of 64-bit keys against a plain
 * array holding the same contents: random puts, replacements and
 * deletions over keys that crowd a few home slots (runs that wrap around
 * the end of the array, removals from the middle of a run), through
 * several growths; every key is looked up after every step batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "u64map.h"

enum { KEYS = 3000 };

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void check_all(const sn_u64map *m, const uintptr_t *want, const uint64_t *keys, size_t count) {
    size_t present = 0;
    for (size_t k = 0; k < KEYS; k++) {
        assert_ptr_equal(sn_u64map_get(m, keys[k]), (void *)want[k]);
        present += want[k] != 0;
    }
    assert_int_equal(m->count, present);
    assert_int_equal(count, present);
}

static void test_against_array(void **st) {
    (void)st;
    static uint64_t keys[KEYS];
    static uintptr_t want[KEYS]; /* 0: absent */
    for (size_t k = 0; k < KEYS; k++) {
        /* a third small sequential numbers (ids), a third multiples of a
         * large power of two (same low bits), a third random */
        keys[k] = k % 3 == 0 ? k + 1 : k % 3 == 1 ? (uint64_t)(k + 1) << 40 : next_rand() | 1u;
    }
    sn_u64map m;
    assert_int_equal(sn_u64map_init(&m), 0);
    size_t count = 0;
    for (int round = 0; round < 40; round++) {
        for (int step = 0; step < 5000; step++) {
            size_t k = (size_t)(next_rand() % KEYS);
            uint64_t op = next_rand() % 3;
            if (op < 2) { /* put (new or replace) */
                uintptr_t v = (uintptr_t)(next_rand() % 100000u) + 1u;
                assert_int_equal(sn_u64map_put(&m, keys[k], (void *)v), 0);
                if (!want[k]) count++;
                want[k] = v;
            } else {
                assert_ptr_equal(sn_u64map_del(&m, keys[k]), (void *)want[k]);
                if (want[k]) count--;
                want[k] = 0;
            }
        }
        check_all(&m, want, keys, count);
        assert_true(m.cap >= 2 * m.count);
    }
    /* empty it completely, then use it again */
    for (size_t k = 0; k < KEYS; k++) {
        assert_ptr_equal(sn_u64map_del(&m, keys[k]), (void *)want[k]);
        want[k] = 0;
    }
    check_all(&m, want, keys, 0);
    assert_int_equal(sn_u64map_put(&m, 7, (void *)(uintptr_t)9), 0);
    assert_ptr_equal(sn_u64map_get(&m, 7), (void *)(uintptr_t)9);
    assert_null(sn_u64map_get(&m, 8));
    sn_u64map_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_array),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
