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
    char key[16];
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

/* ref: one look-up to read and write a value; a created entry starts
 * NULL; the slot survives growth. del_if removes only the given value. */
static void test_ref_and_del_if(void **state) {
    (void)state;
    msnkit_strmap m;
    assert_int_equal(msnkit_strmap_init(&m), 0);
    int a = 1, b = 2;
    assert_null(msnkit_strmap_ref(&m, "k", 1, 0));
    assert_int_equal(msnkit_strmap_count(&m), 0);
    void **slot = msnkit_strmap_ref(&m, "k", 1, 1);
    assert_non_null(slot);
    assert_null(*slot);
    *slot = &a;
    assert_int_equal(msnkit_strmap_count(&m), 1);
    assert_ptr_equal(msnkit_strmap_get(&m, "k", 1), &a);
    assert_ptr_equal(msnkit_strmap_ref(&m, "k", 1, 1), slot); /* found, not created again */
    assert_int_equal(msnkit_strmap_count(&m), 1);
    /* many more keys: the map doubles several times, the slot still holds */
    for (int i = 0; i < 5000; i++) {
        char key[16];
        int n = snprintf(key, sizeof key, "x%d", i);
        void **s = msnkit_strmap_ref(&m, key, (size_t)n, 1);
        assert_non_null(s);
        *s = &b;
    }
    *slot = &b;
    assert_ptr_equal(msnkit_strmap_get(&m, "k", 1), &b);
    assert_null(msnkit_strmap_del_if(&m, "k", 1, &a)); /* another value: kept */
    assert_ptr_equal(msnkit_strmap_get(&m, "k", 1), &b);
    assert_null(msnkit_strmap_del_if(&m, "absent", 6, &b));
    assert_ptr_equal(msnkit_strmap_del_if(&m, "k", 1, &b), &b);
    assert_null(msnkit_strmap_get(&m, "k", 1));
    assert_int_equal(msnkit_strmap_count(&m), 5000);
    msnkit_strmap_free(&m, NULL);
}

/* Keys of every length from 1 to 40 bytes that differ in one byte only,
 * at each position in turn (the first, the middle, the last few bytes that
 * a word-at-a-time hash reads apart): 64 of them share no bucket with more
 * than a few others. A hash that skipped any byte position would put all
 * 64 in one chain. */
static void test_keys_differing_in_one_byte_spread(void **state) {
    (void)state;
    static int v;
    for (size_t len = 1; len <= 40; len++) {
        for (size_t pos = 0; pos < len; pos++) {
            msnkit_strmap m;
            assert_int_equal(msnkit_strmap_init(&m), 0);
            char key[40];
            memset(key, 'a', sizeof key);
            for (int c = 0; c < 64; c++) {
                key[pos] = (char)('0' + c);
                assert_int_equal(msnkit_strmap_put(&m, key, len, &v, NULL), 0);
            }
            assert_int_equal(msnkit_strmap_count(&m), 64);
            if (msnkit_strmap_longest_chain(&m) > 8)
                fail_msg("length %zu, byte %zu: %zu keys in one bucket", len, pos, msnkit_strmap_longest_chain(&m));
            msnkit_strmap_free(&m, NULL);
        }
    }
}

/* The keys the programs really use: numbered e-mail addresses. */
static void test_addresses_spread(void **state) {
    (void)state;
    static int v;
    msnkit_strmap m;
    assert_int_equal(msnkit_strmap_init(&m), 0);
    for (unsigned i = 0; i < 20000; i++) {
        char key[64];
        int n = snprintf(key, sizeof key, "user%u@example.com", i);
        assert_int_equal(msnkit_strmap_put(&m, key, (size_t)n, &v, NULL), 0);
    }
    size_t longest = msnkit_strmap_longest_chain(&m);
    if (longest > 10) fail_msg("20000 addresses: %zu in one bucket", longest);
    msnkit_strmap_free(&m, NULL);
}

/* Removed entries of short keys are kept for the next inserts (a bounded
 * number): keys of every length around that size, inserted, removed and
 * inserted again in turns, are each found with their own bytes and value,
 * and a key too long for a kept entry is never given one. */
static void test_removed_entries_reused(void **state) {
    (void)state;
    msnkit_strmap m;
    assert_int_equal(msnkit_strmap_init(&m), 0);
    char keys[80][80];
    static int vals[80];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 80; i++) { /* keys of 1 to 80 bytes */
            memset(keys[i], 'a' + (i + round) % 26, sizeof keys[i]);
            keys[i][0] = (char)('0' + round);
            vals[i] = round * 100 + i;
            assert_int_equal(msnkit_strmap_put(&m, keys[i], (size_t)i + 1, &vals[i], NULL), 0);
        }
        assert_int_equal(msnkit_strmap_count(&m), 80);
        for (int i = 0; i < 80; i++) assert_ptr_equal(msnkit_strmap_get(&m, keys[i], (size_t)i + 1), &vals[i]);
        /* half removed, then all of them */
        for (int i = 0; i < 80; i += 2) assert_ptr_equal(msnkit_strmap_del(&m, keys[i], (size_t)i + 1), &vals[i]);
        for (int i = 1; i < 80; i += 2) assert_ptr_equal(msnkit_strmap_get(&m, keys[i], (size_t)i + 1), &vals[i]);
        for (int i = 1; i < 80; i += 2) assert_ptr_equal(msnkit_strmap_del(&m, keys[i], (size_t)i + 1), &vals[i]);
        assert_int_equal(msnkit_strmap_count(&m), 0);
        assert_null(msnkit_strmap_get(&m, keys[5], 6));
    }
    msnkit_strmap_free(&m, NULL);
    /* a freed map starts again from nothing */
    assert_int_equal(msnkit_strmap_init(&m), 0);
    assert_int_equal(msnkit_strmap_put(&m, "k", 1, &vals[0], NULL), 0);
    assert_ptr_equal(msnkit_strmap_del(&m, "k", 1), &vals[0]);
    msnkit_strmap_free(&m, NULL);
}

/* Keys of every length around the copy's steps (4, 8, 16, 32 bytes) are
 * stored whole and terminated: each visited key equals its source, with
 * its NUL right after it, and no source is read past its end (ASan). */
typedef struct {
    const char *src;
    int visits;
} keys_seen;

static int check_key(void *ctx, const char *key, void *val) {
    keys_seen *k = ctx;
    size_t n = (size_t)(uintptr_t)val;
    assert_memory_equal(key, k->src, n);
    assert_int_equal(key[n], '\0');
    k->visits++;
    return 0;
}

static void test_keys_copied_at_every_length(void **state) {
    (void)state;
    enum { MAXN = 48 };
    char src[MAXN];
    for (int i = 0; i < MAXN; i++) src[i] = (char)('A' + i % 26 + (i / 26) * 6);
    msnkit_strmap m;
    assert_int_equal(msnkit_strmap_init(&m), 0);
    for (size_t n = 0; n <= MAXN; n++) {
        char *k = malloc(n ? n : 1); /* exactly n bytes: a read past them is caught */
        assert_non_null(k);
        memcpy(k, src, n);
        assert_int_equal(msnkit_strmap_put(&m, k, n, (void *)(uintptr_t)n, NULL), 0);
        free(k);
    }
    keys_seen s = {src, 0};
    msnkit_strmap_each(&m, check_key, &s);
    assert_int_equal(s.visits, MAXN + 1);
    for (size_t n = 0; n <= MAXN; n++) assert_ptr_equal(msnkit_strmap_get(&m, src, n), (void *)(uintptr_t)n);
    msnkit_strmap_free(&m, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_replace_del),
        cmocka_unit_test(test_binary_keys),
        cmocka_unit_test(test_growth_keeps_every_key),
        cmocka_unit_test(test_each_removes),
        cmocka_unit_test(test_ref_and_del_if),
        cmocka_unit_test(test_keys_differing_in_one_byte_spread),
        cmocka_unit_test(test_addresses_spread),
        cmocka_unit_test(test_removed_entries_reused),
        cmocka_unit_test(test_keys_copied_at_every_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
