/* strmap.h - string-keyed hash map (keys copied, values borrowed).
 * Used for the online-user index, switchboard cookies and per-address
 * counters. Not thread-safe: msnd runs one event loop. */
#ifndef MSND_STRMAP_H
#define MSND_STRMAP_H

#include <stddef.h>

typedef struct strmap strmap;

strmap *strmap_new(void);
void strmap_free(strmap *m); /* values are not freed */
/* Insert or replace. Returns the previous value (or NULL); *ok = -1 on OOM. */
void *strmap_put(strmap *m, const char *key, void *value, int *ok);
void *strmap_get(const strmap *m, const char *key);
void *strmap_del(strmap *m, const char *key);
size_t strmap_count(const strmap *m);
/* Visit every entry; the callback must not modify the map. */
void strmap_each(const strmap *m, void (*fn)(const char *key, void *value, void *ctx), void *ctx);

#endif
