/* strcopy.h - bounded C string copy for the per-event paths.
 *
 * snprintf(dst, cap, "%s", src) was the idiom; on a busy capture its
 * format parsing cost more than the copies themselves. Same result: src
 * cut to cap - 1 bytes, always terminated (when cap > 0). */
#ifndef SN_STRCOPY_H
#define SN_STRCOPY_H

#include <stddef.h>
#include <string.h>

static inline void sn_strcopy(char *dst, size_t cap, const char *src) {
    if (cap == 0) return;
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

#endif
