/* communityid.c - Community ID v1 (communityid.h). */
#include "communityid.h"

#include <string.h>

#include <openssl/evp.h>

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

    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (EVP_Digest(in, n, digest, &dlen, EVP_sha1(), NULL) != 1 || dlen != 20) return -1;
    memcpy(out, "1:", 2);
    /* 20 bytes -> 28 base64 characters, the last one '=' */
    if (EVP_EncodeBlock((unsigned char *)out + 2, digest, 20) != 28) return -1;
    return 0;
}
