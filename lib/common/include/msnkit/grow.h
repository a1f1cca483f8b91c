/* msnkit/grow.h - room for one more element in a growing array.
 *
 * The arrays msnd keeps (switchboard members and rings, sweep lists, id
 * lists) grow by doubling; this is that step once, with the overflow
 * check each copy of it would otherwise need to repeat. */
#ifndef MSNKIT_GROW_H
#define MSNKIT_GROW_H

#include <stdint.h>
#include <stdlib.h>

/* The array p of *cap elements of elem bytes, reallocated to hold at least
 * need of them: first elements at the start, doubling after. Returns the
 * array (p itself when it already has room), or NULL when memory runs out
 * or the size would overflow; p and *cap are then unchanged. need is at
 * least 1: an empty array asked for no room is still NULL. */
static inline void *msnkit_grow(void *p, size_t *cap, size_t need, size_t elem, size_t first) {
    if (need <= *cap) return p;
    size_t nc = *cap ? *cap : first;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return NULL;
        nc *= 2;
    }
    if (elem && nc > SIZE_MAX / elem) return NULL;
    void *q = realloc(p, nc * elem);
    if (!q) return NULL;
    *cap = nc;
    return q;
}

#endif
