/* strmap.c - chained hash map keyed by byte strings. */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

struct sn_strmap_entry {
    sn_strmap_entry *next;
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

int sn_strmap_init(sn_strmap *m) {
    m->nb = 64;
    m->count = 0;
    m->b = calloc(m->nb, sizeof *m->b);
    return m->b ? 0 : -1;
}

void sn_strmap_free(sn_strmap *m, void (*free_val)(void *)) {
    for (size_t i = 0; m->b && i < m->nb; i++) {
        sn_strmap_entry *e = m->b[i];
        while (e) {
            sn_strmap_entry *n = e->next;
            if (free_val)
                free_val(e->val);
            free(e);
            e = n;
        }
    }
    free(m->b);
    m->b = NULL;
    m->count = 0;
}

static sn_strmap_entry **find(const sn_strmap *m, const char *key, size_t n, uint32_t h) {
    sn_strmap_entry **pp = &m->b[h & (m->nb - 1)];
    while (*pp && !((*pp)->h == h && (*pp)->n == n && memcmp((*pp)->key, key, n) == 0))
        pp = &(*pp)->next;
    return pp;
}

void *sn_strmap_get(const sn_strmap *m, const char *key, size_t n) {
    sn_strmap_entry **pp = find(m, key, n, hash(key, n));
    return *pp ? (*pp)->val : NULL;
}

static void grow(sn_strmap *m) {
    size_t nb = m->nb * 2;
    sn_strmap_entry **b = calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < m->nb; i++) {
        sn_strmap_entry *e = m->b[i];
        while (e) {
            sn_strmap_entry *n = e->next;
            e->next = b[e->h & (nb - 1)];
            b[e->h & (nb - 1)] = e;
            e = n;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

void *sn_strmap_put(sn_strmap *m, const char *key, size_t n, void *val) {
    uint32_t h = hash(key, n);
    sn_strmap_entry **pp = find(m, key, n, h);
    if (*pp) {
        void *old = (*pp)->val;
        (*pp)->val = val;
        return old;
    }
    sn_strmap_entry *e = malloc(sizeof *e + n + 1);
    if (!e)
        return val;
    e->h = h;
    e->n = n;
    e->val = val;
    memcpy(e->key, key, n);
    e->key[n] = '\0';
    e->next = NULL;
    *pp = e;
    m->count++;
    if (m->count > m->nb)
        grow(m);
    return NULL;
}

void *sn_strmap_del(sn_strmap *m, const char *key, size_t n) {
    sn_strmap_entry **pp = find(m, key, n, hash(key, n));
    if (!*pp)
        return NULL;
    sn_strmap_entry *e = *pp;
    void *v = e->val;
    *pp = e->next;
    free(e);
    m->count--;
    return v;
}

void sn_strmap_each(sn_strmap *m, int (*fn)(void *ctx, const char *key, void *val), void *ctx) {
    for (size_t i = 0; i < m->nb; i++) {
        sn_strmap_entry **pp = &m->b[i];
        while (*pp) {
            sn_strmap_entry *e = *pp;
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
