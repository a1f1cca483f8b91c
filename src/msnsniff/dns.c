/* dns.c - A/AAAA answers from captured DNS responses. */
#include "dns.h"

#include <stdlib.h>
#include <string.h>

#define DNS_NAMES_MAX 65536u

static uint16_t rd16(const uint8_t *p) { return (uint16_t)((unsigned)p[0] << 8 | p[1]); }

/* Read a (possibly compressed) name at *off into out (lower case, dotted).
 * Returns 0, or -1 on malformed input. Pointer jumps are bounded. */
static int read_name(const uint8_t *p, size_t n, size_t *off, char *out, size_t cap) {
    size_t o = *off, w = 0;
    int jumped = 0;
    for (int hops = 0; hops < 64; hops++) {
        if (o >= n) return -1;
        uint8_t len = p[o];
        if (len == 0) {
            if (!jumped) *off = o + 1;
            out[w] = '\0';
            return 0;
        }
        if ((len & 0xC0u) == 0xC0u) {
            if (o + 1 >= n) return -1;
            if (!jumped) *off = o + 2;
            jumped = 1;
            o = ((size_t)(len & 0x3Fu) << 8) | p[o + 1];
            continue;
        }
        if (len & 0xC0u || o + 1 + len > n || w + len + 2 > cap) return -1;
        if (w) out[w++] = '.';
        for (size_t i = 0; i < len; i++) {
            char ch = (char)p[o + 1 + i];
            out[w++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
        }
        o += 1u + len;
    }
    return -1;
}

/* A name's address and the response that gave it (c->dns_responses). */
typedef struct dns_entry {
    sn_addr addr; /* first: sn_dns_lookup hands out its address */
    uint64_t response;
} dns_entry;

/* The address's name, for flow events' dst_name: 0, or -1 when the table
 * could not be made. */
static int learn_reverse(sn_ctx *c, const char *name, const sn_addr *a) {
    if (!c->dns_rev.b && sn_strmap_init(&c->dns_rev) != 0) return -1;
    /* one name can answer with a new address every time (round robin):
     * the reverse table has its own bound */
    if (c->dns_rev.count >= DNS_NAMES_MAX && !sn_strmap_get(&c->dns_rev, (const char *)a, SN_ADDR_KEYLEN)) {
        c->st.dns_dropped++;
    } else {
        char *rev = strdup(name);
        if (rev) free(sn_strmap_put(&c->dns_rev, (const char *)a, SN_ADDR_KEYLEN, rev));
    }
    return 0;
}

static void learn(sn_ctx *c, const char *name, const sn_addr *a) {
    size_t n = strlen(name);
    if (!n) return;
    dns_entry *old = sn_strmap_get(&c->dns, name, n);
    /* The first address of a response is the name's: a later one of the
     * same response neither replaces it nor resolves a prediction, which
     * the first already did (sn_expect_resolve takes the waiting ones). */
    if (old && old->response == c->dns_responses) {
        if (learn_reverse(c, name, a) == 0) c->st.dns_answers++;
        return;
    }
    dns_entry *copy = malloc(sizeof *copy);
    if (!copy) return;
    copy->addr = *a;
    copy->response = c->dns_responses;
    if (c->dns.count >= DNS_NAMES_MAX && !old) {
        c->st.dns_dropped++;
        free(copy);
        return;
    }
    free(sn_strmap_put(&c->dns, name, n, copy));
    if (learn_reverse(c, name, a) != 0) return;
    sn_expect_resolve(&c->expect, name, n, a);
    c->st.dns_answers++;
}

/* A CNAME of the response being read: owner is an alias of target. */
typedef struct cname_link {
    char owner[256], target[256];
} cname_link;
enum { DNS_CNAMES_MAX = 16 };

/* Every alias that leads to `name` through the response's CNAMEs, however
 * far up the chain and in whatever order the records came, gets its
 * address: a referral may name any link of the chain, not only the
 * question or the last name. Bounded: each link is taken once. */
static void learn_aliases(sn_ctx *c, const cname_link *l, unsigned nl, const char *name, const sn_addr *a) {
    unsigned taken = 0; /* bit i: l[i] already leads to name */
    for (int grew = 1; grew;) {
        grew = 0;
        for (unsigned i = 0; i < nl; i++) {
            if (taken & (1u << i)) continue;
            int leads = strcmp(l[i].target, name) == 0;
            for (unsigned k = 0; k < nl && !leads; k++)
                leads = (taken & (1u << k)) && strcmp(l[i].target, l[k].owner) == 0;
            if (!leads) continue;
            taken |= 1u << i;
            grew = 1;
            learn(c, l[i].owner, a);
        }
    }
}

/* An A or AAAA answer met on the walk: where its owner name starts (read
 * again once the CNAMEs are known) and its address. */
typedef struct addr_answer {
    size_t name_off;
    sn_addr addr;
} addr_answer;
enum { DNS_ANSWERS_MAX = 64 };

size_t sn_dns_observe(sn_ctx *c, const uint8_t *p, size_t n) {
    if (n < 12 || !(p[2] & 0x80u) || (p[3] & 0x0Fu) != 0) return 0; /* not a successful response */
    unsigned qd = rd16(p + 4), an = rd16(p + 6);
    size_t off = 12;
    char qname[256], owner[256];
    qname[0] = '\0';
    for (unsigned i = 0; i < qd && i < 8; i++) {
        if (read_name(p, n, &off, i == 0 ? qname : owner, sizeof qname) != 0 || off + 4 > n) return 0;
        off += 4;
    }
    /* One walk over the answers keeps the CNAMEs and the addresses; the
     * addresses are learned after it, when every alias is known,
     * wherever the CNAMEs were among the answers. A malformed record
     * ends the walk; what came before it counts. */
    cname_link links[DNS_CNAMES_MAX];
    addr_answer addrs[DNS_ANSWERS_MAX];
    unsigned nl = 0, na = 0;
    for (unsigned i = 0; i < an && i < DNS_ANSWERS_MAX; i++) {
        size_t name_off = off;
        if (read_name(p, n, &off, owner, sizeof owner) != 0 || off + 10 > n) break;
        uint16_t type = rd16(p + off), rdlen = rd16(p + off + 8);
        off += 10;
        if (off + rdlen > n) break;
        size_t t = off;
        if (type == 5 && nl < DNS_CNAMES_MAX && read_name(p, n, &t, links[nl].target, sizeof links[nl].target) == 0) {
            memcpy(links[nl].owner, owner, strlen(owner) + 1);
            nl++;
        } else if ((type == 1 && rdlen == 4) || (type == 28 && rdlen == 16)) {
            addr_answer *a = &addrs[na++];
            memset(&a->addr, 0, sizeof a->addr);
            a->addr.family = type == 1 ? 4 : 6;
            memcpy(a->addr.b, p + off, rdlen);
            static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            if (type == 28 && memcmp(a->addr.b, mapped, sizeof mapped) == 0) {
                /* an IPv4-mapped AAAA is its IPv4 address, as in an
                 * IP-Address (sn_addr_parse): a dual-stack peer connects
                 * to it over IPv4 */
                uint8_t v4[4];
                memcpy(v4, p + off + 12, 4);
                memset(&a->addr, 0, sizeof a->addr);
                sn_addr_set_ipv4(&a->addr, v4);
            }
            a->name_off = name_off;
        }
        off += rdlen;
    }
    c->dns_responses++; /* a new response: its first address for a name replaces the name's */
    for (unsigned i = 0; i < na; i++) {
        size_t o = addrs[i].name_off;
        read_name(p, n, &o, owner, sizeof owner); /* read once on the walk: cannot fail now */
        learn(c, owner, &addrs[i].addr);
        learn_aliases(c, links, nl, owner, &addrs[i].addr);
        /* reached through CNAMEs the response did not all carry */
        if (qname[0] && strcmp(qname, owner) != 0) learn(c, qname, &addrs[i].addr);
    }
    return na;
}

const sn_addr *sn_dns_lookup(sn_ctx *c, const char *name, size_t n) {
    char low[256];
    if (n > 1 && name[n - 1] == '.') n--; /* the fully qualified form of the same name */
    if (n == 0 || n >= sizeof low || !c->dns.b) return NULL;
    for (size_t i = 0; i < n; i++) low[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + 32) : name[i];
    const dns_entry *d = sn_strmap_get(&c->dns, low, n);
    return d ? &d->addr : NULL;
}

const char *sn_dns_name_of(sn_ctx *c, const sn_addr *a) {
    if (!c->dns_rev.b) return NULL;
    return sn_strmap_get(&c->dns_rev, (const char *)a, SN_ADDR_KEYLEN);
}

void sn_dns_free(sn_ctx *c) {
    sn_strmap_free(&c->dns, free);
    if (c->dns_rev.b) sn_strmap_free(&c->dns_rev, free);
}
