/* addr.c - address text conversion and hashing. */
#include "addr.h"

#include <arpa/inet.h>

const char *sn_addr_str(const sn_addr *a, char buf[SN_ADDR_STRLEN]) {
    if (a->family != 6) {
        /* Every event names addresses; glibc formats IPv4 with sprintf,
         * which was 3 % of a whole analyzer run. Same text, by hand. */
        char *o = buf;
        for (int i = 0; i < 4; i++) {
            unsigned v = a->b[i];
            if (v >= 100) *o++ = (char)('0' + v / 100);
            if (v >= 10) *o++ = (char)('0' + v / 10 % 10);
            *o++ = (char)('0' + v % 10);
            *o++ = i < 3 ? '.' : '\0';
        }
        return buf;
    }
    if (!inet_ntop(AF_INET6, a->b, buf, SN_ADDR_STRLEN)) buf[0] = '\0';
    return buf;
}

size_t sn_endpoint_str(const sn_addr *a, uint16_t port, char *buf, size_t cap) {
    char t[SN_ENDPOINT_STRLEN], d[8];
    size_t n = 0;
    if (a->family == 6) t[n++] = '[';
    sn_addr_str(a, t + n);
    n += strlen(t + n);
    if (a->family == 6) t[n++] = ']';
    t[n++] = ':';
    size_t k = sizeof d;
    unsigned v = port;
    do {
        d[--k] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    memcpy(t + n, d + k, sizeof d - k);
    n += sizeof d - k;
    if (cap == 0) return 0;
    if (n >= cap) n = cap - 1;
    memcpy(buf, t, n);
    buf[n] = '\0';
    return n;
}

int sn_addr_parse(const char *s, size_t n, sn_addr *out) {
    char tmp[SN_ADDR_STRLEN];
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof tmp) return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, tmp, out->b) == 1) {
        out->family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, tmp, out->b) == 1) {
        out->family = 6;
        return 0;
    }
    return -1;
}

uint32_t sn_addr_hash(const sn_addr *a, uint32_t h) {
    /* FNV-1a over the used bytes: cheap and good enough for table buckets */
    size_t n = a->family == 6 ? 16 : 4;
    h ^= a->family;
    h *= 16777619u;
    for (size_t i = 0; i < n; i++) {
        h ^= a->b[i];
        h *= 16777619u;
    }
    return h;
}
