/* u64map.c - open-addressed map of 64-bit keys (u64map.h). */
#include "u64map.h"

#include <stdlib.h>

static int alloc(sn_u64map *m, unsigned bits) {
    m->s = calloc((size_t)1 << bits, sizeof *m->s);
    if (!m->s) return -1;
    m->cap = (size_t)1 << bits;
    m->shift = 64u - bits;
    return 0;
}

int sn_u64map_init(sn_u64map *m) {
    m->count = 0;
    return alloc(m, 6);
}

void sn_u64map_free(sn_u64map *m) {
    free(m->s);
    m->s = NULL;
    m->cap = m->count = 0;
}

static void place(sn_u64map *m, uint64_t key, void *val) {
    size_t mask = m->cap - 1, i = sn_u64map_home_(m, key);
    while (m->s[i].key) i = (i + 1) & mask; /* bounded: never full */
    m->s[i].key = key;
    m->s[i].val = val;
}

int sn_u64map_put(sn_u64map *m, uint64_t key, void *val) {
    size_t mask = m->cap - 1;
    for (size_t i = sn_u64map_home_(m, key); m->s[i].key; i = (i + 1) & mask)
        if (m->s[i].key == key) {
            m->s[i].val = val;
            return 0;
        }
    if (2 * (m->count + 1) > m->cap) {
        sn_u64map old = *m;
        if (alloc(m, 64u - old.shift + 1u) != 0) {
            *m = old;
            return -1;
        }
        for (size_t i = 0; i < old.cap; i++)
            if (old.s[i].key) place(m, old.s[i].key, old.s[i].val);
        free(old.s);
    }
    place(m, key, val);
    m->count++;
    return 0;
}

void *sn_u64map_del(sn_u64map *m, uint64_t key) {
    size_t mask = m->cap - 1, i = sn_u64map_home_(m, key);
    while (m->s[i].key != key) { /* bounded: an empty slot ends the run */
        if (m->s[i].key == 0) return NULL;
        i = (i + 1) & mask;
    }
    void *val = m->s[i].val;
    /* backward shift: later members of the run move up so that no
     * lookup stops early at the hole */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->s[j].key; j = (j + 1) & mask) {
        size_t home = sn_u64map_home_(m, m->s[j].key);
        /* j may fill the hole when its home is not cyclically in (hole, j] */
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            m->s[hole] = m->s[j];
            hole = j;
        }
    }
    m->s[hole].key = 0;
    m->s[hole].val = NULL;
    m->count--;
    return val;
}
