/* strmap.c - the shared hash map (msnkit/strmap.h). */
#include "msnkit/strmap.h"

#include <stdlib.h>
#include <string.h>

struct msnkit_strmap_entry {
    msnkit_strmap_entry *next;
    uint32_t h;
    size_t n;
    void *val;
    char key[];
};

static uint32_t hash(const char *k, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 16777619u;
    }
    return h;
}

int msnkit_strmap_init(msnkit_strmap *m) {
    m->nb = 64;
    m->count = 0;
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

int msnkit_strmap_put(msnkit_strmap *m, const char *key, size_t n, void *val, void **old) {
    uint32_t h = hash(key, n);
    msnkit_strmap_entry **pp = find(m, key, n, h);
    if (*pp) {
        if (old) *old = (*pp)->val;
        (*pp)->val = val;
        return 0;
    }
    msnkit_strmap_entry *e = malloc(sizeof *e + n + 1);
    if (!e) return -1;
    e->h = h;
    e->n = n;
    e->val = val;
    memcpy(e->key, key, n);
    e->key[n] = '\0';
    e->next = NULL;
    *pp = e;
    m->count++;
    if (m->count > m->nb) grow(m);
    if (old) *old = NULL;
    return 0;
}

void *msnkit_strmap_del(msnkit_strmap *m, const char *key, size_t n) {
    msnkit_strmap_entry **pp = find(m, key, n, hash(key, n));
    if (!*pp) return NULL;
    msnkit_strmap_entry *e = *pp;
    void *v = e->val;
    *pp = e->next;
    free(e);
    m->count--;
    return v;
}

void msnkit_strmap_each(msnkit_strmap *m, int (*fn)(void *ctx, const char *key, void *val), void *ctx) {
    for (size_t i = 0; i < m->nb; i++) {
        msnkit_strmap_entry **pp = &m->b[i];
        while (*pp) {
            msnkit_strmap_entry *e = *pp;
            if (fn(ctx, e->key, e->val)) {
                *pp = e->next;
                free(e);
                m->count--;
            } else {
                pp = &e->next;
            }
        }
    }
}
