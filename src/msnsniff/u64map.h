/* u64map.h - a hash map from non-zero 64-bit numbers to non-NULL pointers.
 *
 * The expectation table indexes each prediction by id, by group and
 * counts them per session: a dozen lookups and changes per prediction,
 * on captures with tens of thousands outstanding. The string map
 * (strmap.h) allocates an entry per key and walks a chain of them; here
 * keys and values sit in one array (open addressing, linear probing,
 * at most half full), so a lookup is one multiply and usually one cache
 * line, and adding or removing a key allocates nothing. */
#ifndef SN_U64MAP_H
#define SN_U64MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct sn_u64slot {
    uint64_t key; /* 0: empty */
    void *val;
} sn_u64slot;

typedef struct sn_u64map {
    sn_u64slot *s;
    size_t cap; /* a power of two */
    size_t count;
    unsigned shift; /* 64 - log2(cap) */
} sn_u64map;

int sn_u64map_init(sn_u64map *m);
void sn_u64map_free(sn_u64map *m);

static inline size_t sn_u64map_home_(const sn_u64map *m, uint64_t key) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> m->shift);
}

/* The value of key, or NULL. */
static inline void *sn_u64map_get(const sn_u64map *m, uint64_t key) {
    size_t mask = m->cap - 1;
    /* bounded: the array is at most half full, so an empty slot ends the run */
    for (size_t i = sn_u64map_home_(m, key);; i = (i + 1) & mask) {
        if (m->s[i].key == key) return m->s[i].val;
        if (m->s[i].key == 0) return NULL;
    }
}

/* Insert or replace (key non-zero, val non-NULL): 0, or -1 when memory
 * ran out for a new key (the map is unchanged). */
int sn_u64map_put(sn_u64map *m, uint64_t key, void *val);
/* Removes key: its value, or NULL when it was not there. */
void *sn_u64map_del(sn_u64map *m, uint64_t key);

#endif
