/* communityid.c - Community ID v1 (communityid.h). */
#include "communityid.h"

#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>

/* SHA-1 through libcrypto with the algorithm fetched once and one digest
 * context per thread, reset for each flow. EVP_Digest(..., EVP_sha1())
 * looks the algorithm up and allocates a context on every call: 5 570
 * instructions per flow record against 3 470 this way (hash and base64;
 * docs/msnsniff.md, "Performance notes"). */
static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha1_md;
static pthread_key_t sha1_ctx_key;

static void sha1_ctx_free(void *ctx) { EVP_MD_CTX_free(ctx); }

static void sha1_init(void) {
    sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
    if (pthread_key_create(&sha1_ctx_key, sha1_ctx_free) != 0) {
        EVP_MD_free(sha1_md);
        sha1_md = NULL;
    }
}

static int sha1(const uint8_t *in, size_t n, uint8_t digest[20]) {
    pthread_once(&sha1_once, sha1_init);
    if (!sha1_md) return -1;
    EVP_MD_CTX *ctx = pthread_getspecific(sha1_ctx_key);
    if (!ctx) {
        ctx = EVP_MD_CTX_new();
        if (!ctx) return -1;
        if (pthread_setspecific(sha1_ctx_key, ctx) != 0) {
            EVP_MD_CTX_free(ctx);
            return -1;
        }
    }
    unsigned int len = 0;
    if (EVP_DigestInit_ex2(ctx, sha1_md, NULL) != 1 || EVP_DigestUpdate(ctx, in, n) != 1 ||
        EVP_DigestFinal_ex(ctx, digest, &len) != 1 || len != 20)
        return -1;
    return 0;
}

/* The lower endpoint goes first: by address, then by port. */
static int endpoint_less(const sn_addr *a, uint16_t ap, const sn_addr *b, uint16_t bp, size_t alen) {
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
    uint8_t in[2 + 16 + 16 + 2 + 4];
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
    if (sha1(in, n, digest) != 0) return -1;
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
