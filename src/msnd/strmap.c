/* Chained hash map with FNV-1a; doubles when the load factor passes 1. */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    void *value;
    char key[];
} entry;

struct strmap {
    entry **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
};

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

strmap *strmap_new(void) {
    strmap *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->nbuckets = 64;
    m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
    if (!m->buckets) {
        free(m);
        return NULL;
    }
    return m;
}

void strmap_free(strmap *m) {
    if (!m) return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        entry *e = m->buckets[i];
        while (e) {
            entry *n = e->next;
            free(e);
            e = n;
        }
    }
    free(m->buckets);
    free(m);
}

static void grow(strmap *m) {
    size_t nb = m->nbuckets * 2;
    entry **b = calloc(nb, sizeof *b);
    if (!b) return; /* keep working with longer chains */
    for (size_t i = 0; i < m->nbuckets; i++) {
        entry *e = m->buckets[i];
        while (e) {
            entry *n = e->next;
            size_t k = (size_t)(e->hash & (nb - 1));
            e->next = b[k];
            b[k] = e;
            e = n;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
}

void *strmap_put(strmap *m, const char *key, void *value, int *ok) {
    uint64_t h = fnv1a(key);
    size_t k = (size_t)(h & (m->nbuckets - 1));
    if (ok) *ok = 0;
    for (entry *e = m->buckets[k]; e; e = e->next) {
        if (e->hash == h && strcmp(e->key, key) == 0) {
            void *old = e->value;
            e->value = value;
            return old;
        }
    }
    size_t klen = strlen(key);
    entry *e = malloc(sizeof *e + klen + 1);
    if (!e) {
        if (ok) *ok = -1;
        return NULL;
    }
    memcpy(e->key, key, klen + 1);
    e->hash = h;
    e->value = value;
    e->next = m->buckets[k];
    m->buckets[k] = e;
    if (++m->count > m->nbuckets) grow(m);
    return NULL;
}

void *strmap_get(const strmap *m, const char *key) {
    uint64_t h = fnv1a(key);
    for (entry *e = m->buckets[h & (m->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0) return e->value;
    return NULL;
}

void *strmap_del(strmap *m, const char *key) {
    uint64_t h = fnv1a(key);
    entry **pp = &m->buckets[h & (m->nbuckets - 1)];
    for (entry *e = *pp; e; pp = &e->next, e = *pp) {
        if (e->hash == h && strcmp(e->key, key) == 0) {
            void *v = e->value;
            *pp = e->next;
            free(e);
            m->count--;
            return v;
        }
    }
    return NULL;
}

size_t strmap_count(const strmap *m) { return m->count; }

void strmap_each(const strmap *m, void (*fn)(const char *key, void *value, void *ctx), void *ctx) {
    for (size_t i = 0; i < m->nbuckets; i++)
        for (entry *e = m->buckets[i]; e; e = e->next) fn(e->key, e->value, ctx);
}
