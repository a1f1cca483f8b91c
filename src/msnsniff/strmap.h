/* strmap.h - small byte-string keyed hash map (cookies, invitations, DNS
 * names). Keys are copied; values are the caller's. */
#ifndef SN_STRMAP_H
#define SN_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct sn_strmap_entry sn_strmap_entry;

typedef struct sn_strmap {
    sn_strmap_entry **b;
    size_t nb, count;
} sn_strmap;

int sn_strmap_init(sn_strmap *m);
/* Frees entries; calls free_val on every value if not NULL. */
void sn_strmap_free(sn_strmap *m, void (*free_val)(void *));
void *sn_strmap_get(const sn_strmap *m, const char *key, size_t n);
/* Insert or replace; returns the replaced value (or NULL). -1 cast never:
 * on allocation failure returns val itself so the caller can free it. */
void *sn_strmap_put(sn_strmap *m, const char *key, size_t n, void *val);
void *sn_strmap_del(sn_strmap *m, const char *key, size_t n);
/* Visit every entry; fn returns nonzero to remove the entry (after which
 * the value is the callback's to free). */
void sn_strmap_each(sn_strmap *m, int (*fn)(void *ctx, const char *key, void *val), void *ctx);

#endif
