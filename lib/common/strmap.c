/* strmap.c - the shared hash map (msnkit/strmap.h). */
#include "msnkit/strmap.h"
#include "msnkit/shortcopy.h"

#include <stdlib.h>
#include <string.h>

struct msnkit_strmap_entry {
    msnkit_strmap_entry *next;
    uint32_t h;
    size_t n;
    void *val;
    char key[];
};

/* Eight bytes per step: a key of 20 bytes (an e-mail address, a cookie)
 * takes three multiplies in a row instead of the twenty a byte-at-a-time
 * hash (FNV-1a) chains, and every look-up, insert and removal hashes its
 * key. The seed is fixed, as FNV-1a's offset was: the analyzer's output
 * must not depend on where a run happened to put its keys. */
static inline uint64_t load8(const char *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

static uint32_t hash(const char *k, size_t n) {
    const uint64_t m = 0x9E3779B97F4A7C15ull;
    uint64_t h = 0x243F6A8885A308D3ull ^ ((uint64_t)n * m);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        h = (h ^ load8(k + i)) * m;
        h ^= h >> 29;
    }
    if (i < n) { /* 1-7 bytes left: the last eight of a longer key, or each byte of a short one */
        uint64_t w = 0;
        if (n >= 8) {
            w = load8(k + n - 8) >> (8 * (8 - (n - i)));
        } else {
            for (size_t j = i; j < n; j++) w = w << 8 | (unsigned char)k[j];
        }
        h = (h ^ w) * m;
        h ^= h >> 29;
    }
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return (uint32_t)h;
}

/* Maps of counts and short-lived keys insert and remove an entry per
 * event, and malloc and free cost more than the rest of either: an entry
 * whose key is short takes ENTRY_SLOT bytes, and up to SPARE_MAX removed
 * ones are kept for the next inserts instead of being freed. */
#define ENTRY_SLOT 64u
#define SPARE_MAX 32u

static int slot_sized(size_t n) { return n < ENTRY_SLOT - sizeof(msnkit_strmap_entry); }

static msnkit_strmap_entry *entry_alloc(msnkit_strmap *m, size_t n) {
    if (!slot_sized(n)) return malloc(sizeof(msnkit_strmap_entry) + n + 1);
    msnkit_strmap_entry *e = m->spare;
    if (!e) return malloc(ENTRY_SLOT);
    m->spare = e->next;
    m->nspare--;
    return e;
}

static void entry_release(msnkit_strmap *m, msnkit_strmap_entry *e) {
    if (slot_sized(e->n) && m->nspare < SPARE_MAX) {
        e->next = m->spare;
        m->spare = e;
        m->nspare++;
    } else {
        free(e);
    }
}

int msnkit_strmap_init(msnkit_strmap *m) {
    m->nb = 64;
    m->count = 0;
    m->spare = NULL;
    m->nspare = 0;
    m->b = calloc(m->nb, sizeof *m->b);
    return m->b ? 0 : -1;
}

void msnkit_strmap_free(msnkit_strmap *m, void (*free_val)(void *)) {
    for (size_t i = 0; m->b && i < m->nb; i++) {
        msnkit_strmap_entry *e = m->b[i];
        while (e) {
            msnkit_strmap_entry *next = e->next;
            if (free_val) free_val(e->val);
            free(e);
            e = next;
        }
    }
    free(m->b);
    m->b = NULL;
    m->count = 0;
    while (m->spare) { /* bounded: SPARE_MAX */
        msnkit_strmap_entry *e = m->spare;
        m->spare = e->next;
        free(e);
    }
    m->nspare = 0;
}

static msnkit_strmap_entry **find(const msnkit_strmap *m, const char *key, size_t n, uint32_t h) {
    msnkit_strmap_entry **pp = &m->b[h & (m->nb - 1)];
    while (*pp && !((*pp)->h == h && (*pp)->n == n && memcmp((*pp)->key, key, n) == 0)) pp = &(*pp)->next;
    return pp;
}

void *msnkit_strmap_get(const msnkit_strmap *m, const char *key, size_t n) {
    msnkit_strmap_entry **pp = find(m, key, n, hash(key, n));
    return *pp ? (*pp)->val : NULL;
}

/* A failed grow leaves the map working with longer chains. */
static void grow(msnkit_strmap *m) {
    size_t nb = m->nb * 2;
    msnkit_strmap_entry **b = calloc(nb, sizeof *b);
    if (!b) return;
    for (size_t i = 0; i < m->nb; i++) {
        msnkit_strmap_entry *e = m->b[i];
        while (e) {
            msnkit_strmap_entry *next = e->next;
            e->next = b[e->h & (nb - 1)];
            b[e->h & (nb - 1)] = e;
            e = next;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

/* A new entry for key (hash h) at *pp, the empty end of its chain. */
static msnkit_strmap_entry *insert(msnkit_strmap *m, msnkit_strmap_entry **pp, const char *key, size_t n, uint32_t h,
                                   void *val) {
    msnkit_strmap_entry *e = entry_alloc(m, n);
    if (!e) return NULL;
    e->h = h;
    e->n = n;
    e->val = val;
    msnkit_copy_short(e->key, key, n); /* no call, no byte-at-a-time copy */
    e->key[n] = '\0';
    e->next = NULL;
    *pp = e;
    m->count++;
    if (m->count > m->nb) grow(m); /* moves entries between chains, not in memory */
    return e;
}

int msnkit_strmap_put(msnkit_strmap *m, const char *key, size_t n, void *val, void **old) {
    uint32_t h = hash(key, n);
    msnkit_strmap_entry **pp = find(m, key, n, h);
    if (*pp) {
        if (old) *old = (*pp)->val;
        (*pp)->val = val;
        return 0;
    }
    if (!insert(m, pp, key, n, h, val)) return -1;
    if (old) *old = NULL;
    return 0;
}

void **msnkit_strmap_ref(msnkit_strmap *m, const char *key, size_t n, int create) {
    uint32_t h = hash(key, n);
    msnkit_strmap_entry **pp = find(m, key, n, h);
    if (*pp) return &(*pp)->val;
    if (!create) return NULL;
    msnkit_strmap_entry *e = insert(m, pp, key, n, h, NULL);
    return e ? &e->val : NULL;
}

/* Takes the entry at *pp out of its chain and frees it: its value. */
static void *unlink_at(msnkit_strmap *m, msnkit_strmap_entry **pp) {
    msnkit_strmap_entry *e = *pp;
    void *v = e->val;
    *pp = e->next;
    entry_release(m, e);
    m->count--;
    return v;
}

void *msnkit_strmap_del(msnkit_strmap *m, const char *key, size_t n) {
    msnkit_strmap_entry **pp = find(m, key, n, hash(key, n));
    return *pp ? unlink_at(m, pp) : NULL;
}

void *msnkit_strmap_del_if(msnkit_strmap *m, const char *key, size_t n, const void *val) {
    msnkit_strmap_entry **pp = find(m, key, n, hash(key, n));
    return *pp && (*pp)->val == val ? unlink_at(m, pp) : NULL;
}

void msnkit_strmap_each(msnkit_strmap *m, int (*fn)(void *ctx, const char *key, void *val), void *ctx) {
    for (size_t i = 0; i < m->nb; i++) {
        msnkit_strmap_entry **pp = &m->b[i];
        while (*pp) {
            msnkit_strmap_entry *e = *pp;
            if (fn(ctx, e->key, e->val)) unlink_at(m, pp); /* the value is fn's now */
            else pp = &e->next;
        }
    }
}

size_t msnkit_strmap_longest_chain(const msnkit_strmap *m) {
    size_t longest = 0;
    for (size_t i = 0; m->b && i < m->nb; i++) {
        size_t n = 0;
        for (const msnkit_strmap_entry *e = m->b[i]; e; e = e->next) n++;
        if (n > longest) longest = n;
    }
    return longest;
}
