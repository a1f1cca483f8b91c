/* Pooled output buffers; see outbuf.h. */
#include "outbuf.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Two pooled sizes: a block holds what a loop pass usually queues for one
 * connection; a big block holds a burst (a long SYN, a backlog while the
 * peer is slow). Freeing such buffers to the heap made glibc give memory
 * back to the kernel and take it again (brk) pass after pass, and malloc
 * sort its bins. Beyond a big block the heap is used. */
#define BLOCK 4096
#define BIG 65536

/* Free blocks are chained through their first bytes. The pools grow to the
 * most blocks in use at once (every busy connection of a loop pass holds
 * one) and outbuf_pool_trim gives the surplus back. */
typedef struct pool {
    size_t size;
    size_t n;
    void *head;
} pool;

static pool small_pool = {BLOCK, 0, NULL};
static pool big_pool = {BIG, 0, NULL};

static pool *pool_for(size_t cap) { return cap == BLOCK ? &small_pool : cap == BIG ? &big_pool : NULL; }

static char *mem_get(size_t cap) {
    pool *p = pool_for(cap);
    if (!p || !p->head) return malloc(cap);
    char *d = p->head;
    memcpy(&p->head, d, sizeof p->head);
    p->n--;
    return d;
}

static void mem_put(char *d, size_t cap) {
    pool *p = pool_for(cap);
    if (!p) {
        free(d);
        return;
    }
    memcpy(d, &p->head, sizeof p->head);
    p->head = d;
    p->n++;
}

static void pool_trim(pool *p, size_t keep) {
    /* Bounded: each turn frees one block. */
    while (p->n > keep) {
        char *d = p->head;
        memcpy(&p->head, d, sizeof p->head);
        p->n--;
        free(d);
    }
}

void outbuf_pool_trim(void) {
    pool_trim(&small_pool, small_pool.n / 2 > 64 ? small_pool.n / 2 : 64);
    pool_trim(&big_pool, big_pool.n / 2 > 4 ? big_pool.n / 2 : 4);
}

/* The size to allocate for `need` bytes: a block, a big block, or more. */
static size_t size_for(size_t need) {
    if (need <= BLOCK) return BLOCK;
    if (need <= BIG) return BIG;
    size_t cap = BIG;
    while (cap < need && cap <= ((size_t)-1) / 2) cap *= 2;
    return cap >= need ? cap : 0;
}

void outbuf_pool_free(void) {
    pool_trim(&small_pool, 0);
    pool_trim(&big_pool, 0);
}

void outbuf_release(outbuf *b) {
    if (b->data) mem_put(b->data, b->cap);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}

int outbuf_append(outbuf *b, const void *p, size_t n) {
    if (n == 0) return 0;
    if (!b->data) {
        size_t cap = size_for(n);
        char *d = cap ? mem_get(cap) : NULL;
        if (!d) return -1;
        b->data = d;
        b->cap = cap;
        b->off = b->len = 0;
    }
    if (b->cap - b->len < n && b->off > 0) { /* reclaim what was written */
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->cap - b->len < n) {
        if (n > ((size_t)-1) - b->len) return -1;
        size_t cap = size_for(b->len + n);
        char *d = cap ? mem_get(cap) : NULL;
        if (!d) return -1;
        memcpy(d, b->data, b->len);
        mem_put(b->data, b->cap);
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

ssize_t outbuf_write(outbuf *b, int fd) {
    if (outbuf_pending(b) == 0) {
        outbuf_release(b);
        return 0;
    }
    ssize_t n = send(fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL);
    if (n < 0) return -1;
    b->off += (size_t)n;
    if (b->off == b->len) outbuf_release(b);
    return n;
}
