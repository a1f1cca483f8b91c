/* communityid.c - Community ID v1 (communityid.h). */
#include "communityid.h"

#include <string.h>

/* SHA1_Init and friends are deprecated in OpenSSL 3 in favour of EVP, but
 * they are still libcrypto's own SHA-1 (the one its provider runs) without
 * the EVP layer around it. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

/* The digest of the first n bytes of block, padded in place. SHA-1
 * through libcrypto's low-level calls. The EVP route (algorithm
 * fetched once, one context per thread reset for each flow) spends 5.4 M
 * instructions on the fetch alone and 1 800 per flow record against 1 150
 * this way: its init, provider dispatch and context cleanse are larger
 * than the hash of one 64-byte block (docs/msnsniff.md, "Performance
 * notes"). The input (16 bytes for IPv4, 40 for IPv6) always fits in one
 * block, so the block is padded here and hashed with one SHA1_Transform:
 * SHA1_Update's copy and SHA1_Final's padding and cleanse were a third of
 * the cost. */
static int sha1(uint8_t block[SHA_CBLOCK], size_t n, uint8_t digest[20]) {
    if (n > SHA_CBLOCK - 9) return -1; /* the 0x80 and the 64-bit length must fit */
    block[n] = 0x80;
    memset(block + n + 1, 0, SHA_CBLOCK - 8 - (n + 1));
    uint64_t bits = (uint64_t)n * 8u;
    for (int i = 0; i < 8; i++) block[SHA_CBLOCK - 1 - i] = (uint8_t)(bits >> (8 * i));
    SHA_CTX c;
    if (SHA1_Init(&c) != 1) return -1;
    SHA1_Transform(&c, block);
    const SHA_LONG h[5] = {c.h0, c.h1, c.h2, c.h3, c.h4};
    for (int i = 0; i < 5; i++) {
        digest[4 * i] = (uint8_t)(h[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(h[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(h[i] >> 8);
        digest[4 * i + 3] = (uint8_t)h[i];
    }
    return 0;
}

/* The lower endpoint goes first: by address, then by port. */
static int endpoint_less(const sn_addr *a, uint16_t ap, const sn_addr *b, uint16_t bp, size_t alen) {
    if (alen == 4) { /* as numbers in network order: no call */
        uint32_t x = (uint32_t)a->b[0] << 24 | (uint32_t)a->b[1] << 16 | (uint32_t)a->b[2] << 8 | a->b[3];
        uint32_t y = (uint32_t)b->b[0] << 24 | (uint32_t)b->b[1] << 16 | (uint32_t)b->b[2] << 8 | b->b[3];
        return x < y || (x == y && ap < bp);
    }
    int c = memcmp(a->b, b->b, alen);
    return c < 0 || (c == 0 && ap < bp);
}

int sn_community_id(uint16_t seed, const sn_addr *src, uint16_t sport, const sn_addr *dst, uint16_t dport,
                    uint8_t proto, char out[SN_COMMUNITY_ID_LEN]) {
    out[0] = '\0';
    if (src->family != dst->family || (src->family != 4 && src->family != 6)) return -1;
    size_t alen = src->family == 4 ? 4 : 16;
    if (!endpoint_less(src, sport, dst, dport, alen)) {
        const sn_addr *t = src;
        src = dst;
        dst = t;
        uint16_t tp = sport;
        sport = dport;
        dport = tp;
    }
    uint8_t in[SHA_CBLOCK]; /* 2 + 16 + 16 + 2 + 4 bytes at most, then the padding */
    size_t n = 0;
    in[n++] = (uint8_t)(seed >> 8);
    in[n++] = (uint8_t)seed;
    memcpy(in + n, src->b, alen);
    n += alen;
    memcpy(in + n, dst->b, alen);
    n += alen;
    in[n++] = proto;
    in[n++] = 0; /* padding */
    in[n++] = (uint8_t)(sport >> 8);
    in[n++] = (uint8_t)sport;
    in[n++] = (uint8_t)(dport >> 8);
    in[n++] = (uint8_t)dport;

    uint8_t digest[20];
    if (sha1(in, n, digest) != 0) return -1; /* pads in */
    /* 20 bytes -> 28 base64 characters, the last one '=' */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = out;
    *o++ = '1';
    *o++ = ':';
    for (size_t i = 0; i < 18; i += 3) {
        uint32_t v = (uint32_t)digest[i] << 16 | (uint32_t)digest[i + 1] << 8 | digest[i + 2];
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63u];
        *o++ = b64[(v >> 6) & 63u];
        *o++ = b64[v & 63u];
    }
    uint32_t v = (uint32_t)digest[18] << 16 | (uint32_t)digest[19] << 8;
    *o++ = b64[v >> 18];
    *o++ = b64[(v >> 12) & 63u];
    *o++ = b64[(v >> 6) & 63u];
    *o++ = '=';
    *o = '\0';
    return 0;
}
