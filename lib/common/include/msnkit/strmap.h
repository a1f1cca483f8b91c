/* msnkit/strmap.h - the hash map msnd and msnsniff share: keys are byte
 * strings (copied, any bytes, NUL included), values are the caller's.
 * Chained, hashed eight key bytes at a time with a fixed seed, doubling
 * when it holds more entries than buckets.
 * Not thread-safe: each program uses a map from one thread. */
#ifndef MSNKIT_STRMAP_H
#define MSNKIT_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct msnkit_strmap_entry msnkit_strmap_entry;

typedef struct msnkit_strmap {
    msnkit_strmap_entry **b;
    size_t nb, count;
    msnkit_strmap_entry *spare; /* removed short-key entries, for the next inserts */
    size_t nspare;
} msnkit_strmap;

/* 0, or -1 when memory runs out. */
int msnkit_strmap_init(msnkit_strmap *m);
/* Frees the entries, and every value with free_val unless it is NULL. */
void msnkit_strmap_free(msnkit_strmap *m, void (*free_val)(void *));
void *msnkit_strmap_get(const msnkit_strmap *m, const char *key, size_t n);
/* Insert, or replace the value of key (*old gets the replaced value, NULL
 * for a new key). 0, or -1 when memory runs out (the map is unchanged). */
int msnkit_strmap_put(msnkit_strmap *m, const char *key, size_t n, void *val, void **old);
/* Remove key; its value, or NULL when it was absent. */
void *msnkit_strmap_del(msnkit_strmap *m, const char *key, size_t n);
/* The value slot of key, for a read and a write with one look-up (a look-up
 * in a large map is two cache misses: its bucket, then its entry). When
 * key is absent: NULL, or with `create` a new entry whose value is NULL,
 * which the caller must set before the map is used again (NULL also when
 * memory runs out). The slot stays valid until key is removed. */
void **msnkit_strmap_ref(msnkit_strmap *m, const char *key, size_t n, int create);
/* Remove key only if its value is val: val, or NULL (absent, or another
 * value, which stays). */
void *msnkit_strmap_del_if(msnkit_strmap *m, const char *key, size_t n, const void *val);
/* Visit every entry. The key is NUL-terminated after its bytes. fn returns
 * nonzero to remove the entry (its value is then fn's to free); it must not
 * change the map otherwise. */
void msnkit_strmap_each(msnkit_strmap *m, int (*fn)(void *ctx, const char *key, void *val), void *ctx);
/* The most entries one bucket holds: how well the hash spreads these keys
 * (the tests check it). */
size_t msnkit_strmap_longest_chain(const msnkit_strmap *m);
static inline size_t msnkit_strmap_count(const msnkit_strmap *m) { return m->count; }

#endif
