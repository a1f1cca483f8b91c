/* Pooled CSPRNG output; see randpool.h. */
#include "randpool.h"

#include <stdint.h>
#include <string.h>

#include <msnp/msnp.h>

#define POOL_BYTES 4096

static unsigned char pool[POOL_BYTES];
static size_t pool_left; /* unused bytes at the end of pool */

void randpool_reset(void) {
    explicit_bzero(pool, sizeof pool);
    pool_left = 0;
}

int randpool_bytes(void *buf, size_t n) {
    unsigned char *out = buf;
    /* Bounded: each turn hands out bytes or refills a pool that is empty. */
    while (n > 0) {
        if (pool_left == 0) {
            if (msnp_random_bytes(pool, sizeof pool) != 0) return -1;
            pool_left = sizeof pool;
        }
        size_t take = n < pool_left ? n : pool_left;
        unsigned char *from = pool + (sizeof pool - pool_left);
        memcpy(out, from, take);
        explicit_bzero(from, take);
        pool_left -= take;
        out += take;
        n -= take;
    }
    return 0;
}

int randpool_uniform(uint32_t bound, uint32_t *out) {
    if (bound == 0) return -1;
    /* Rejection sampling: values at or above the largest multiple of bound
     * would make the low results more likely than the high ones. */
    uint32_t limit = UINT32_MAX - UINT32_MAX % bound;
    for (int attempt = 0; attempt < 64; attempt++) {
        uint32_t v;
        if (randpool_bytes(&v, sizeof v) != 0) return -1;
        if (v < limit) {
            *out = v % bound;
            return 0;
        }
    }
    return -1; /* a broken generator: 64 rejections in a row */
}

int randpool_digits(char *out, size_t n) {
    /* One byte per digit; bytes of 250 and above are drawn again so each
     * digit is equally likely. */
    size_t i = 0;
    while (i < n) {
        unsigned char b[32];
        if (randpool_bytes(b, sizeof b) != 0) return -1;
        for (size_t k = 0; k < sizeof b && i < n; k++)
            if (b[k] < 250) out[i++] = (char)('0' + b[k] % 10);
    }
    out[n] = '\0';
    return 0;
}
