/* strmap.h - msnd's names for msnkit's shared hash map
 * (lib/common/include/msnkit/strmap.h), keyed by NUL-terminated strings:
 * the online-user index, switchboard cookies and per-address counters.
 * Not thread-safe: msnd runs one event loop. */
#ifndef MSND_STRMAP_H
#define MSND_STRMAP_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <msnkit/strmap.h>

typedef struct strmap {
    msnkit_strmap m;
} strmap;

static inline strmap *strmap_new(void) {
    strmap *s = malloc(sizeof *s);
    if (s && msnkit_strmap_init(&s->m) != 0) {
        free(s);
        s = NULL;
    }
    return s;
}
/* Values are not freed. */
static inline void strmap_free(strmap *s) {
    if (!s) return;
    msnkit_strmap_free(&s->m, NULL);
    free(s);
}
/* Insert or replace. Returns the previous value (or NULL); *ok = -1 on OOM, else 0. */
static inline void *strmap_put(strmap *s, const char *key, void *value, int *ok) {
    void *old = NULL;
    int rc = msnkit_strmap_put(&s->m, key, strlen(key), value, &old);
    if (ok) *ok = rc;
    return old;
}
static inline void *strmap_get(const strmap *s, const char *key) { return msnkit_strmap_get(&s->m, key, strlen(key)); }
static inline void *strmap_del(strmap *s, const char *key) { return msnkit_strmap_del(&s->m, key, strlen(key)); }
static inline size_t strmap_count(const strmap *s) { return msnkit_strmap_count(&s->m); }

typedef struct strmap_visit {
    void (*fn)(const char *key, void *value, void *ctx);
    void *ctx;
} strmap_visit;
static inline int strmap_visit_one(void *v, const char *key, void *value) {
    const strmap_visit *visit = v;
    visit->fn(key, value, visit->ctx);
    return 0;
}
/* Visit every entry; the callback must not modify the map. */
static inline void strmap_each(const strmap *s, void (*fn)(const char *key, void *value, void *ctx), void *ctx) {
    strmap_visit visit = {fn, ctx};
    msnkit_strmap_each((msnkit_strmap *)&s->m, strmap_visit_one, &visit);
}

#endif
