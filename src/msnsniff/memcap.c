/* memcap.c - memory budget accounting. */
#include "memcap.h"

#include <stdlib.h>

void sn_memcap_init(sn_memcap *m, uint64_t limit) {
    m->limit = limit;
    m->used = m->peak = m->refused = 0;
}

int sn_memcap_reserve(sn_memcap *m, size_t n) {
    if (m->limit && (n > m->limit || m->used > m->limit - n)) {
        m->refused++;
        return -1;
    }
    m->used += n;
    if (m->used > m->peak)
        m->peak = m->used;
    return 0;
}

void sn_memcap_release(sn_memcap *m, size_t n) { m->used = n > m->used ? 0 : m->used - n; }

void *sn_mem_alloc(sn_memcap *m, size_t n) {
    if (sn_memcap_reserve(m, n) != 0)
        return NULL;
    void *p = malloc(n ? n : 1);
    if (!p)
        sn_memcap_release(m, n);
    return p;
}

void *sn_mem_realloc(sn_memcap *m, void *p, size_t old_n, size_t new_n) {
    if (new_n > old_n && sn_memcap_reserve(m, new_n - old_n) != 0)
        return NULL;
    void *q = realloc(p, new_n ? new_n : 1);
    if (!q) {
        if (new_n > old_n)
            sn_memcap_release(m, new_n - old_n);
        return NULL;
    }
    if (new_n < old_n)
        sn_memcap_release(m, old_n - new_n);
    return q;
}

void sn_mem_free(sn_memcap *m, void *p, size_t n) {
    if (!p)
        return;
    free(p);
    sn_memcap_release(m, n);
}
