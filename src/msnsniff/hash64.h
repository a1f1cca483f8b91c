/* hash64.h - a 64-bit hash of a byte run, eight bytes at a time.
 *
 * For fingerprints taken on every message or INVITE (payloads of a few
 * hundred bytes): a byte-wise FNV-1a costs about five instructions a
 * byte, this about one. Not for tables an attacker fills (strmap has its
 * own keyed hash); here a collision merges two fingerprints, no more. */
#ifndef SN_HASH64_H
#define SN_HASH64_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The eight bytes of w with A-Z made a-z, all at once: a byte's low seven
 * bits plus 0x3F reach 0x80 from 'A' on, plus 0x25 from past 'Z' on (no
 * carry leaves a byte); bytes of 0x80 and above are no letters. */
static inline uint64_t sn_lower8(uint64_t w) {
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t low7 = w & ~high;
    uint64_t upper = (low7 + ones * (0x80 - 'A')) & ~(low7 + ones * (0x80 - 'Z' - 1)) & ~w & high;
    return w | upper >> 2; /* 0x80 >> 2 is the case bit */
}

/* sn_hash64 and sn_hash64_lower: one body, fold a constant at each call. */
static inline __attribute__((always_inline)) uint64_t sn_hash64_words(uint64_t h, const void *p, size_t n, int fold) {
    const unsigned char *s = p;
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t w;
        memcpy(&w, s + k, 8);
        h = (h ^ (fold ? sn_lower8(w) : w)) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    uint64_t tail = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n > k && n >= 8) {
        /* the last eight bytes in one load, those hashed above shifted
         * out: the word the copy of the n - k below makes, without a
         * copy of a length known only now */
        memcpy(&tail, s + n - 8, 8);
        tail >>= 8 * (8 - (n - k));
    } else
#endif
        if (n > k)
        memcpy(&tail, s + k, n - k);
    if (fold) tail = sn_lower8(tail);
    h = (h ^ tail ^ (uint64_t)n << 56) * 0xC2B2AE3D27D4EB4Full;
    return h ^ (h >> 31);
}

/* h continued over the n bytes at p (p may be NULL when n is 0). */
static inline uint64_t sn_hash64(uint64_t h, const void *p, size_t n) { return sn_hash64_words(h, p, n, 0); }

/* The same over the bytes with A-Z taken as a-z (e-mail addresses, which
 * servers compare so). */
static inline uint64_t sn_hash64_lower(uint64_t h, const void *p, size_t n) { return sn_hash64_words(h, p, n, 1); }

#endif
