/* addr.c - address text conversion and hashing. */
#include "addr.h"

#include <arpa/inet.h>
#include <string.h>

#include <msnp/util.h>

/* sn_octet_text: the first digit, the next two or dots, a dot. */
#define OCT_0(v) (char)('0' + ((v) >= 100 ? (v) / 100 : (v) >= 10 ? (v) / 10 : (v)))
#define OCT_1(v) (char)((v) >= 100 ? '0' + (v) / 10 % 10 : (v) >= 10 ? '0' + (v) % 10 : '.')
#define OCT_2(v) (char)((v) >= 100 ? '0' + (v) % 10 : '.')
#define OCTET(v) \
    { OCT_0(v), OCT_1(v), OCT_2(v), '.' }
#define OCTET4(v) OCTET(v), OCTET((v) + 1), OCTET((v) + 2), OCTET((v) + 3)
#define OCTET16(v) OCTET4(v), OCTET4((v) + 4), OCTET4((v) + 8), OCTET4((v) + 12)
#define OCTET64(v) OCTET16(v), OCTET16((v) + 16), OCTET16((v) + 32), OCTET16((v) + 48)
const char sn_octet_text[256][4] = {OCTET64(0), OCTET64(64), OCTET64(128), OCTET64(192)};
#undef OCTET
#define OCTET(v) (uint8_t)(2 + ((v) >= 10) + ((v) >= 100))
const uint8_t sn_octet_step[256] = {OCTET64(0), OCTET64(64), OCTET64(128), OCTET64(192)};
#undef OCTET64
#undef OCTET16
#undef OCTET4
#undef OCTET
#undef OCT_2
#undef OCT_1
#undef OCT_0

size_t sn_addr_fmt(const sn_addr *a, char buf[SN_ADDR_STRLEN]) {
    if (a->family != 6) {
        /* Every event names addresses; glibc formats IPv4 with sprintf,
         * which was 3 % of a whole analyzer run. Same text, by table. */
        size_t n = sn_addr_fmt4(a->b, buf);
        buf[n] = '\0';
        return n;
    }
    if (!inet_ntop(AF_INET6, a->b, buf, SN_ADDR_STRLEN)) buf[0] = '\0';
    return strlen(buf);
}

const char *sn_addr_str(const sn_addr *a, char buf[SN_ADDR_STRLEN]) {
    sn_addr_fmt(a, buf);
    return buf;
}

size_t sn_endpoint_str(const sn_addr *a, uint16_t port, char *buf, size_t cap) {
    char t[SN_ENDPOINT_STRLEN], d[8];
    size_t n = 0;
    if (a->family == 6) t[n++] = '[';
    n += sn_addr_fmt(a, t + n);
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
    /* read here, not by inet_pton(AF_INET): every announced address and
     * referral is parsed, and glibc's parser costs several times this;
     * up to a NUL, as inet_pton reads the copy below */
    uint8_t v4[4];
    if (msnp_ipv4_parse_cstr(msnp_str_make(s, n), v4)) {
        sn_addr_set_ipv4(out, v4);
        return 0;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET6, tmp, out->b) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(out->b, mapped, sizeof mapped) == 0) {
            /* ::ffff:a.b.c.d is never on the wire: a peer connecting to it
             * (a dual-stack socket) sends IPv4 packets to a.b.c.d */
            memcpy(v4, out->b + 12, 4);
            memset(out, 0, sizeof *out);
            sn_addr_set_ipv4(out, v4);
            return 0;
        }
        out->family = 6;
        return 0;
    }
    return -1;
}

uint32_t sn_addr_hash(const sn_addr *a, uint32_t seed) {
    /* The 16 address bytes as two words (an IPv4 address's unused bytes
     * are zero, as sn_addr_eq requires), each mixed in with one multiply:
     * FNV-1a over the bytes was a chain of 17 dependent multiplies, and
     * most of a flow hash's instructions. The last step brings the high
     * bits of the second word down, so every address byte reaches the
     * bits a table's bucket index uses (test_flow checks the spread). */
    uint64_t w0, w1;
    memcpy(&w0, a->b, 8);
    memcpy(&w1, a->b + 8, 8);
    uint64_t h = ((((uint64_t)seed << 8) | a->family) ^ w0) * 0x9e3779b97f4a7c15ull;
    h = (h ^ w1) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 31)) * 0x94d049bb133111ebull;
    return (uint32_t)(h >> 32);
}
