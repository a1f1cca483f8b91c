/* memcap.h - the one place where analyzer memory is budgeted.
 *
 * Every byte held for reassembly, fragment reassembly and flow state is
 * reserved here first, so a hostile or simply huge capture cannot grow the
 * process past --memcap. Callers that fail to reserve drop data and report
 * a gap instead of allocating anyway. */
#ifndef SN_MEMCAP_H
#define SN_MEMCAP_H

#include <stddef.h>
#include <stdint.h>

#define SN_MEMCAP_SLOTS 8
#define SN_MEMCAP_SLOT_KEEP 64

typedef struct sn_memcap {
    uint64_t limit; /* 0: unlimited */
    uint64_t used;
    uint64_t peak;
    uint64_t refused; /* reservations that did not fit */
    /* Recently freed blocks of the few sizes that come and go with every
     * flow (flow, connection, switchboard state, reassembly buffers), kept
     * for reuse: malloc on a heap fragmented by millions of events cost
     * more than the rest of a flow's setup. Off unless enabled. */
    int reuse;
    struct {
        size_t size;
        unsigned n;
        void *head;
    } slot[SN_MEMCAP_SLOTS];
} sn_memcap;

void sn_memcap_init(sn_memcap *m, uint64_t limit);
/* Keep freed blocks for reuse (bounded: SN_MEMCAP_SLOT_KEEP per size);
 * sn_memcap_drain gives them back. Never on under AddressSanitizer, which
 * must see every free. */
void sn_memcap_enable_reuse(sn_memcap *m);
void sn_memcap_drain(sn_memcap *m);
/* Reserve n bytes; 0 on success, -1 if the budget would be exceeded. */
int sn_memcap_reserve(sn_memcap *m, size_t n);
void sn_memcap_release(sn_memcap *m, size_t n);
/* malloc/realloc/free with the reservation folded in (NULL when refused). */
void *sn_mem_alloc(sn_memcap *m, size_t n);
void *sn_mem_realloc(sn_memcap *m, void *p, size_t old_n, size_t new_n);
void sn_mem_free(sn_memcap *m, void *p, size_t n);

#endif
