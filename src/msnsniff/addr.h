/* addr.h - IPv4/IPv6 addresses as the analyzer keeps them. */
#ifndef SN_ADDR_H
#define SN_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct sn_addr {
    /* network order; IPv4 uses b[0..3], the rest is zero. Aligned so that
     * the two words sn_addr_eq and sn_addr_hash read are whole words
     * wherever an address is embedded (see sn_addr_set_words). */
    _Alignas(8) uint8_t b[16];
    uint8_t family; /* 4 or 6; 0 = none */
} sn_addr;

/* The bytes that make an address (not the padding after family): for
 * using one as a hash-map key. */
#define SN_ADDR_KEYLEN (offsetof(sn_addr, family) + 1)

#define SN_ADDR_STRLEN 46

static inline int sn_addr_eq(const sn_addr *a, const sn_addr *b) {
    return a->family == b->family && memcmp(a->b, b->b, 16) == 0;
}

/* The 16 address bytes are always stored as two whole words, the width
 * sn_addr_eq and sn_addr_hash read them with. A load that spans several
 * narrower stores (four address bytes over a zeroed struct) cannot take
 * its bytes from the store buffer and waits until they reach the cache:
 * on a dense capture perf put half of the packet path's samples on such
 * loads in the flow look-up. */
static inline void sn_addr_set_words(sn_addr *a, uint8_t family, uint64_t w0, uint64_t w1) {
    memcpy(a->b, &w0, 8);
    memcpy(a->b + 8, &w1, 8);
    a->family = family;
}

/* a = the IPv4 address at p (4 bytes, network order). */
static inline void sn_addr_set_ipv4(sn_addr *a, const uint8_t *p) {
    uint64_t w0 = 0;
    memcpy(&w0, p, 4);
    sn_addr_set_words(a, 4, w0, 0);
}

/* a = the IPv6 address at p (16 bytes). */
static inline void sn_addr_set_ipv6(sn_addr *a, const uint8_t *p) {
    uint64_t w0, w1;
    memcpy(&w0, p, 8);
    memcpy(&w1, p + 8, 8);
    sn_addr_set_words(a, 6, w0, w1);
}

/* Each octet's text followed by dots, one word to copy: "7...", "42..",
 * "255.". */
extern const char sn_octet_text[256][4];
/* The length of each octet's text with its dot. */
extern const uint8_t sn_octet_step[256];

/* The IPv4 text of b[0..3] at o, which has room for 16 bytes (the one
 * after the text is a '.'): its length. Inline: events name addresses
 * by the ten thousand. */
static inline size_t sn_addr_fmt4(const uint8_t *b, char *o) {
    char *s = o;
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        memcpy(o, sn_octet_text[v], 4);
        o += sn_octet_step[v];
    }
    return (size_t)(o - 1 - s);
}

/* Text form ("10.1.1.211", "2001:db8::1"). */
const char *sn_addr_str(const sn_addr *a, char buf[SN_ADDR_STRLEN]);
/* The same text, NUL-terminated: its length. */
size_t sn_addr_fmt(const sn_addr *a, char buf[SN_ADDR_STRLEN]);
/* "a.b.c.d:port" or "[v6]:port" into buf (cut to cap - 1 bytes, always
 * terminated when cap > 0); returns the length written. */
#define SN_ENDPOINT_STRLEN (SN_ADDR_STRLEN + 8)
size_t sn_endpoint_str(const sn_addr *a, uint16_t port, char *buf, size_t cap);
/* Parse an IPv4 or IPv6 literal (IPv6 may be in brackets); an IPv4-mapped
 * IPv6 address (::ffff:a.b.c.d) is its IPv4 address. 0 or -1. */
int sn_addr_parse(const char *s, size_t n, sn_addr *out);
uint32_t sn_addr_hash(const sn_addr *a, uint32_t seed);

#endif
