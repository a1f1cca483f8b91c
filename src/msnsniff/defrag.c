/* defrag.c - IPv4 and IPv6 fragment reassembly. */
#include "defrag.h"

#include <stdlib.h>
#include <string.h>

#define DEFRAG_SLOTS SN_DEFRAG_SLOTS
#define DEFRAG_MAX 65535u
#define DEFRAG_UNITS ((DEFRAG_MAX + 7u) / 8u)

typedef struct slot {
    int used;
    sn_addr src, dst; /* the family keeps IPv4 and IPv6 datagrams apart */
    uint32_t id;
    uint32_t vlans; /* sn_packet_vlans: the same addresses on two VLANs are two hosts */
    uint8_t proto;
    uint8_t has_first; /* the offset-zero fragment came (it names an IPv6 datagram's protocol) */
    uint64_t first_ts;
    size_t wire;  /* the frames' lengths so far */
    size_t total; /* 0 until the last fragment is seen */
    size_t tail;  /* the end of the fragment held that ends last (0: none) */
    uint8_t *buf; /* DEFRAG_MAX bytes */
    uint8_t cover[(DEFRAG_UNITS + 7u) / 8u];
    /* the first unit of each run: fragments that came one after another,
     * each starting where the last ended (Linux's "frag runs") */
    uint8_t run[(DEFRAG_UNITS + 7u) / 8u];
} slot;

struct sn_defrag {
    sn_memcap *mem;
    uint64_t timeout;
    uint64_t timeouts, evicted; /* incomplete datagrams dropped */
    uint64_t overlaps;          /* datagrams dropped for overlapping fragments */
    sn_defrag_overlap last;     /* of the last sn_defrag_add */
    slot s[DEFRAG_SLOTS];
    uint8_t out[DEFRAG_MAX];
};

sn_defrag *sn_defrag_new(sn_memcap *mem, uint64_t timeout_us) {
    sn_defrag *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->mem = mem;
    f->timeout = timeout_us ? timeout_us : 30000000u;
    return f;
}

static void slot_clear(sn_defrag *f, slot *s) {
    sn_mem_free(f->mem, s->buf, DEFRAG_MAX);
    memset(s, 0, sizeof *s);
}

void sn_defrag_free(sn_defrag *f) {
    if (!f) return;
    for (int i = 0; i < DEFRAG_SLOTS; i++)
        if (f->s[i].used) slot_clear(f, &f->s[i]);
    free(f);
}

void sn_defrag_counts(const sn_defrag *f, uint64_t *timeouts, uint64_t *evicted, uint64_t *overlaps, unsigned *held) {
    *timeouts = f->timeouts;
    *evicted = f->evicted;
    *overlaps = f->overlaps;
    *held = 0;
    for (int i = 0; i < DEFRAG_SLOTS; i++) *held += f->s[i].used != 0;
}

const sn_defrag_overlap *sn_defrag_last_overlap(const sn_defrag *f) { return &f->last; }

static uint64_t fnv1a64_more(uint64_t h, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static int covered(const slot *s, size_t u) { return (s->cover[u / 8] >> (u % 8)) & 1; }
static int run_starts(const slot *s, size_t u) { return (s->run[u / 8] >> (u % 8)) & 1; }
static void run_start(slot *s, size_t u) { s->run[u / 8] = (uint8_t)(s->run[u / 8] | (1u << (u % 8))); }

/* Where [offset, end) goes among the bytes held, as Linux's
 * inet_frag_queue_insert decides it (IPv4 since 4.19, IPv6 by RFC 5722):
 * a new run of its own, or the last run's continuation (1), inside one
 * run held (0: a copy sent again, ignored whatever its contents, the
 * first copy kept), or across bytes held otherwise (-1: the datagram is
 * dropped whole). */
static int place(slot *s, size_t offset, size_t end) {
    size_t u0 = offset / 8u, u1 = (end + 7u) / 8u;
    if (!s->tail || end > s->tail) { /* past everything held */
        if (s->tail && offset < s->tail) return -1;
        if (!s->tail || offset > s->tail) run_start(s, u0);
        return 1;
    }
    size_t held = 0;
    int split = 0; /* another run starts inside */
    for (size_t u = u0; u < u1; u++) {
        held += (size_t)covered(s, u);
        if (u > u0 && run_starts(s, u)) split = 1;
    }
    if (held == u1 - u0 && !split) return 0;
    if (held) return -1;
    run_start(s, u0);
    return 1;
}

int sn_defrag_add(sn_defrag *f, sn_packet *pk, uint32_t id, uint8_t *proto_io, uint32_t offset, int more,
                  const uint8_t *p, size_t n, const uint8_t **out, size_t *outlen) {
    uint8_t proto = *proto_io;
    /* IPv6 keeps the next header out of the key, as receivers do */
    int v6 = pk->src.family == 6;
    const sn_addr *src = &pk->src, *dst = &pk->dst;
    uint32_t vlans = sn_packet_vlans(pk);
    uint64_t ts = pk->ts;
    f->last.len = 0;
    f->last.differs = 0;
    if ((size_t)offset + n > DEFRAG_MAX || (more && n % 8u != 0)) return -1;
    slot *s = NULL, *free_slot = NULL, *oldest = NULL;
    for (int i = 0; i < DEFRAG_SLOTS; i++) {
        slot *c = &f->s[i];
        if (c->used && ts > c->first_ts && ts - c->first_ts > f->timeout) { /* no sum to overflow */
            f->timeouts++;
            slot_clear(f, c);
        }
        if (!c->used) {
            if (!free_slot) free_slot = c;
            continue;
        }
        if (c->id == id && (v6 || c->proto == proto) && c->vlans == vlans && sn_addr_eq(&c->src, src) &&
            sn_addr_eq(&c->dst, dst))
            s = c;
        if (!oldest || c->first_ts < oldest->first_ts) oldest = c;
    }
    if (n == 0) { /* an empty fragment spoils its datagram, as in Linux */
        if (s) slot_clear(f, s);
        return -1;
    }
    if (!s) {
        if (!free_slot) {
            f->evicted++;
            slot_clear(f, oldest);
            free_slot = oldest;
        }
        s = free_slot;
        s->buf = sn_mem_alloc(f->mem, DEFRAG_MAX);
        if (!s->buf) return -1;
        s->used = 1;
        s->src = *src;
        s->dst = *dst;
        s->id = id;
        s->vlans = vlans;
        s->proto = proto;
        s->first_ts = ts;
    }
    s->wire += pk->wire_len;
    size_t end = (size_t)offset + n;
    /* as Linux: a last fragment that ends before bytes held or elsewhere
     * than another last one, or a fragment past the last one's end,
     * spoils the datagram */
    if (more ? s->total && end > s->total : end < s->tail || (s->total && s->total != end)) {
        slot_clear(f, s);
        return -1;
    }
    int where = place(s, offset, end);
    if (where < 0) {
        f->overlaps++;
        slot_clear(f, s);
        return -2;
    }
    if (end > s->tail) s->tail = end;
    if (!more) s->total = end;
    if (offset == 0 && !s->has_first) {
        s->has_first = 1;
        s->proto = proto;
    }
    /* copy unit by unit; a copy sent again (where == 0) keeps the first */
    for (size_t at = 0; at < n;) {
        size_t byte = (size_t)offset + at;
        size_t u = byte / 8u;
        size_t take = 8u - byte % 8u;
        if (take > n - at) take = n - at;
        if (!covered(s, u)) {
            memcpy(s->buf + byte, p + at, take);
        } else {
            /* held already: the first copy stays; compare the bytes the
             * datagram has (a last fragment's unit may be partly past its end) */
            size_t same = s->total && byte + take > s->total ? (byte < s->total ? s->total - byte : 0) : take;
            if (!f->last.len) f->last.first_hash = f->last.second_hash = 0xcbf29ce484222325ull;
            f->last.len += same;
            f->last.first_hash = fnv1a64_more(f->last.first_hash, s->buf + byte, same);
            f->last.second_hash = fnv1a64_more(f->last.second_hash, p + at, same);
            if (memcmp(s->buf + byte, p + at, same) != 0) f->last.differs = 1;
        }
        if (byte % 8u + take == 8u || !more) s->cover[u / 8] = (uint8_t)(s->cover[u / 8] | (1u << (u % 8)));
        at += take;
    }
    if (!s->total) return 0;
    size_t units = (s->total + 7u) / 8u;
    for (size_t u = 0; u < units; u++)
        if (!covered(s, u)) return 0;
    memcpy(f->out, s->buf, s->total);
    *out = f->out;
    *outlen = s->total;
    *proto_io = s->proto;
    pk->wire_len = s->wire;
    slot_clear(f, s);
    return 1;
}
