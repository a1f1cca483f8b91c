/* strmap.h - the analyzer's names for msnkit's shared hash map
 * (lib/common/include/msnkit/strmap.h): switchboard cookies, invitations,
 * DNS names, users. */
#ifndef SN_STRMAP_H
#define SN_STRMAP_H

#include <stddef.h>

#include <msnkit/strmap.h>

typedef msnkit_strmap sn_strmap;

static inline int sn_strmap_init(sn_strmap *m) { return msnkit_strmap_init(m); }
static inline void sn_strmap_free(sn_strmap *m, void (*free_val)(void *)) { msnkit_strmap_free(m, free_val); }
static inline void *sn_strmap_get(const sn_strmap *m, const char *key, size_t n) {
    return msnkit_strmap_get(m, key, n);
}
/* Insert or replace: the replaced value, NULL for a new key, or val itself
 * when memory ran out (so the caller knows to free it). */
static inline void *sn_strmap_put(sn_strmap *m, const char *key, size_t n, void *val) {
    void *old = NULL;
    return msnkit_strmap_put(m, key, n, val, &old) == 0 ? old : val;
}
static inline void *sn_strmap_del(sn_strmap *m, const char *key, size_t n) { return msnkit_strmap_del(m, key, n); }
static inline void **sn_strmap_ref(sn_strmap *m, const char *key, size_t n, int create) {
    return msnkit_strmap_ref(m, key, n, create);
}
static inline void *sn_strmap_del_if(sn_strmap *m, const char *key, size_t n, const void *val) {
    return msnkit_strmap_del_if(m, key, n, val);
}
/* fn returns nonzero to remove the entry (its value is then fn's to free). */
static inline void sn_strmap_each(sn_strmap *m, int (*fn)(void *ctx, const char *key, void *val), void *ctx) {
    msnkit_strmap_each(m, fn, ctx);
}

#endif
