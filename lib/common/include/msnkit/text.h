/* msnkit/text.h - copying C strings and numbers into fixed fields.
 *
 * The login path fills a few dozen such fields per login; snprintf("%s")
 * walks its format machinery for each (about 500 instructions against a
 * few dozen here). A string that does not fit is refused, not cut: the
 * field is left empty and the caller learns it. */
#ifndef MSNKIT_TEXT_H
#define MSNKIT_TEXT_H

#include <stdint.h>
#include <string.h>

/* Decimal text of v at p (room for 21 bytes), NUL-terminated; returns the
 * NUL's address. */
static inline char *msnkit_put_dec(char *p, uint64_t v) {
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *p++ = tmp[--n];
    *p = '\0';
    return p;
}

/* The value of one hexadecimal digit (either case), or -1. */
static inline int msnkit_hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* src copied into dst (cap bytes, NUL included). 0, or -1 when it does not
 * fit (dst is then the empty string). */
static inline int msnkit_copy(char *dst, size_t cap, const char *src) {
    if (cap == 0) return -1;
    size_t n = strnlen(src, cap);
    if (n == cap) {
        dst[0] = '\0';
        return -1;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

/* a, then sep (one byte), then b, into dst: 0, or -1 when it does not fit
 * (dst is then the empty string). */
static inline int msnkit_join(char *dst, size_t cap, const char *a, char sep, const char *b) {
    size_t an = strlen(a), bn = strlen(b);
    if (cap == 0 || an + 1 + bn >= cap) {
        if (cap) dst[0] = '\0';
        return -1;
    }
    memcpy(dst, a, an);
    dst[an] = sep;
    memcpy(dst + an + 1, b, bn + 1);
    return 0;
}

/* host and port as "host:port", an IPv6 address in brackets ("[::1]:1863",
 * as --listen takes it: "::1:1863" would read as one address), into dst:
 * 0, or -1 when it does not fit (dst is then the empty string). */
static inline int msnkit_endpoint(char *dst, size_t cap, const char *host, unsigned port) {
    char digits[24];
    msnkit_put_dec(digits, port);
    int v6 = strchr(host, ':') != NULL;
    size_t hn = strlen(host), dn = strlen(digits);
    if (cap == 0 || hn + dn + 1 + (v6 ? 2u : 0u) >= cap) {
        if (cap) dst[0] = '\0';
        return -1;
    }
    char *o = dst;
    if (v6) *o++ = '[';
    memcpy(o, host, hn);
    o += hn;
    if (v6) *o++ = ']';
    *o++ = ':';
    memcpy(o, digits, dn + 1);
    return 0;
}

#endif
