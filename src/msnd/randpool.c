/* Pooled CSPRNG output; see randpool.h. */
#include "randpool.h"

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
