/* sha1.c - SHA-1 (sha1.h). */
#include "sha1.h"

#include <string.h>

/* Unrolled rounds keep the five words in registers without the moves of
 * a rolled loop. */
#if defined(__clang__)
#define SN_UNROLL _Pragma("clang loop unroll(full)")
#elif defined(__GNUC__)
#define SN_UNROLL _Pragma("GCC unroll 20")
#else
#define SN_UNROLL
#endif

static inline uint32_t rol(uint32_t x, unsigned k) { return (x << k) | (x >> (32u - k)); }

static void block(uint32_t h[5], const uint8_t *p) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    /* one loop per round function: no branch inside the rounds */
#define ROUND(f, k, i) \
    do { \
        uint32_t t = rol(a, 5) + (f) + e + (k) + w[i]; \
        e = d; \
        d = c; \
        c = rol(b, 30); \
        b = a; \
        a = t; \
    } while (0)
    SN_UNROLL for (int i = 0; i < 20; i++) ROUND(d ^ (b & (c ^ d)), 0x5A827999u, i);
    SN_UNROLL for (int i = 20; i < 40; i++) ROUND(b ^ c ^ d, 0x6ED9EBA1u, i);
    SN_UNROLL for (int i = 40; i < 60; i++) ROUND((b & c) | (d & (b | c)), 0x8F1BBCDCu, i);
    SN_UNROLL for (int i = 60; i < 80; i++) ROUND(b ^ c ^ d, 0xCA62C1D6u, i);
#undef ROUND
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void sn_sha1(const void *data, size_t n, uint8_t digest[20]) {
    uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    const uint8_t *p = data;
    size_t left = n;
    for (; left >= 64; left -= 64, p += 64) block(h, p);
    /* the rest, the 0x80 byte and the length in bits fill one or two blocks */
    uint8_t tail[128];
    memset(tail, 0, sizeof tail);
    if (left) memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t end = left + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8u;
    for (int i = 0; i < 8; i++) tail[end - 1 - (size_t)i] = (uint8_t)(bits >> (8 * i));
    block(h, tail);
    if (end == 128) block(h, tail + 64);
    for (int i = 0; i < 5; i++) {
        digest[4 * i] = (uint8_t)(h[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(h[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(h[i] >> 8);
        digest[4 * i + 3] = (uint8_t)h[i];
    }
}
