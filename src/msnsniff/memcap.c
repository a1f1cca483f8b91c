/* memcap.c - memory budget accounting. */
#include "memcap.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define REUSE_ALLOWED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REUSE_ALLOWED 0
#endif
#endif
#ifndef REUSE_ALLOWED
#define REUSE_ALLOWED 1
#endif

/* blocks smaller than this are cheap for malloc anyway */
#define REUSE_MIN 128u

void sn_memcap_init(sn_memcap *m, uint64_t limit) {
    memset(m, 0, sizeof *m);
    m->limit = limit;
}

void sn_memcap_enable_reuse(sn_memcap *m) { m->reuse = REUSE_ALLOWED; }

void sn_memcap_drain(sn_memcap *m) {
    for (unsigned i = 0; i < SN_MEMCAP_SLOTS; i++) {
        /* bounded by SN_MEMCAP_SLOT_KEEP */
        while (m->slot[i].head) {
            void *p = m->slot[i].head;
            memcpy(&m->slot[i].head, p, sizeof(void *));
            free(p);
        }
        m->slot[i].n = 0;
    }
}

static void *reuse_take(sn_memcap *m, size_t n) {
    for (unsigned i = 0; i < SN_MEMCAP_SLOTS; i++)
        if (m->slot[i].size == n && m->slot[i].head) {
            void *p = m->slot[i].head;
            memcpy(&m->slot[i].head, p, sizeof(void *));
            m->slot[i].n--;
            return p;
        }
    return NULL;
}

static int reuse_keep(sn_memcap *m, void *p, size_t n) {
    for (unsigned i = 0; i < SN_MEMCAP_SLOTS; i++) {
        if (m->slot[i].size == 0) m->slot[i].size = n; /* the first sizes freed claim the slots */
        if (m->slot[i].size != n) continue;
        if (m->slot[i].n >= SN_MEMCAP_SLOT_KEEP) return 0;
        memcpy(p, &m->slot[i].head, sizeof(void *));
        m->slot[i].head = p;
        m->slot[i].n++;
        return 1;
    }
    return 0;
}

int sn_memcap_reserve(sn_memcap *m, size_t n) {
    if (m->limit && (n > m->limit || m->used > m->limit - n)) {
        m->refused++;
        return -1;
    }
    m->used += n;
    if (m->used > m->peak) m->peak = m->used;
    return 0;
}

void sn_memcap_release(sn_memcap *m, size_t n) { m->used = n > m->used ? 0 : m->used - n; }

void *sn_mem_alloc(sn_memcap *m, size_t n) {
    if (sn_memcap_reserve(m, n) != 0) return NULL;
    void *p = m->reuse && n >= REUSE_MIN ? reuse_take(m, n) : NULL;
    if (p) return p;
    p = malloc(n ? n : 1);
    if (!p) sn_memcap_release(m, n);
    return p;
}

void *sn_mem_realloc(sn_memcap *m, void *p, size_t old_n, size_t new_n) {
    if (new_n > old_n && sn_memcap_reserve(m, new_n - old_n) != 0) return NULL;
    void *q = realloc(p, new_n ? new_n : 1);
    if (!q) {
        if (new_n > old_n) sn_memcap_release(m, new_n - old_n);
        return NULL;
    }
    if (new_n < old_n) sn_memcap_release(m, old_n - new_n);
    return q;
}

void sn_mem_free(sn_memcap *m, void *p, size_t n) {
    if (!p) return;
    if (!(m->reuse && n >= REUSE_MIN && reuse_keep(m, p, n))) free(p);
    sn_memcap_release(m, n);
}
