/* flow.c - flow table. */
#include "flow.h"

#include <stdlib.h>
#include <string.h>

#define FLOW_SEED 0x5bd1e995u

static uint32_t ep_hash(const sn_addr *a, uint16_t port) {
    return sn_addr_hash(a, FLOW_SEED ^ ((uint32_t)port * 2654435761u));
}

static uint32_t flow_hash(const sn_addr *a, uint16_t pa, const sn_addr *b, uint16_t pb, uint8_t proto, uint32_t vlans) {
    /* XOR keeps the hash the same for both directions */
    uint32_t h = ep_hash(a, pa) ^ ep_hash(b, pb);
    h ^= proto ^ vlans * 0x9e3779b1u;
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    return h;
}

int sn_flow_table_init(sn_flow_table *t, sn_memcap *mem, size_t max_flows) {
    memset(t, 0, sizeof *t);
    t->mem = mem;
    t->max_flows = max_flows;
    t->nbuckets = 1024;
    t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
    t->occupied = calloc(t->nbuckets / 64, sizeof *t->occupied);
    t->next_id = 1;
    if (t->buckets && t->occupied) return 0;
    sn_flow_table_free(t);
    return -1;
}

void sn_flow_table_free(sn_flow_table *t) {
    free(t->buckets);
    free(t->occupied);
    t->buckets = NULL;
    t->occupied = NULL;
}

static inline int occupied(const sn_flow_table *t, size_t b) { return (int)(t->occupied[b / 64] >> (b % 64) & 1u); }
static inline void set_occupied(sn_flow_table *t, size_t b) { t->occupied[b / 64] |= (uint64_t)1 << (b % 64); }

void sn_flow_key_of(const sn_flow *f, sn_flow_key *k) {
    k->addr[0] = f->addr[0];
    k->addr[1] = f->addr[1];
    memcpy(k->port, f->port, sizeof k->port);
    memcpy(k->vlan, f->vlan, sizeof k->vlan);
    k->proto = f->proto;
    k->valid = 1;
}

int sn_flow_key_matches(const sn_flow_key *k, const sn_packet *p, int *dir) {
    return k->valid && sn_flow_tuple_matches(k->addr, k->port, k->vlan, k->proto, p, dir);
}

static int flow_matches(const sn_flow *f, const sn_packet *p, int *dir) {
    return sn_flow_tuple_matches(f->addr, f->port, f->vlan, f->proto, p, dir);
}

/* The look-up by hash, after the flows seen last. */
static __attribute__((noinline)) sn_flow *lookup_hashed(sn_flow_table *t, const sn_packet *p, int *dir) {
    uint32_t h = flow_hash(&p->src, p->sport, &p->dst, p->dport, p->proto, sn_packet_vlans(p));
    size_t b = h & (t->nbuckets - 1);
    if (!occupied(t, b)) return NULL;
    int unused;
    for (int i = 0; i < 2; i++)
        if (t->removed[i].valid &&
            sn_flow_tuple_matches(t->removed[i].addr, t->removed[i].port, t->removed[i].vlan, t->removed[i].proto, p,
                                  &unused))
            return NULL;
    for (sn_flow *f = t->buckets[b]; f; f = f->hnext)
        if (f->hash == h && flow_matches(f, p, dir)) return f;
    return NULL;
}

sn_flow *sn_flow_lookup_rest(sn_flow_table *t, const sn_packet *p, int *dir) {
    /* Conversations switch between a few connections (a login's NS and
     * switchboard flows, an invitation and its data flow): on the dense
     * capture 98 % of the packets that are not the last flow's belong to
     * the flow seen before it or the one before that. Tried here with no
     * call on the way, which needs no register saved; the hash's
     * look-up is a call of its own. */
    sn_flow *recent = t->lru_tail ? t->lru_tail->lru_prev : NULL;
    for (int i = 0; i < 2 && recent; i++, recent = recent->lru_prev)
        if (flow_matches(recent, p, dir)) return recent;
    return lookup_hashed(t, p, dir);
}

static void grow(sn_flow_table *t) {
    size_t nb = t->nbuckets * 2;
    sn_flow **b = calloc(nb, sizeof *b);
    uint64_t *occ = calloc(nb / 64, sizeof *occ);
    if (!b || !occ) { /* keep the old table; chains just get longer */
        free(b);
        free(occ);
        return;
    }
    for (size_t i = 0; i < t->nbuckets; i++) {
        sn_flow *f = t->buckets[i];
        while (f) {
            sn_flow *next = f->hnext;
            size_t j = f->hash & (nb - 1);
            f->hnext = b[j];
            b[j] = f;
            occ[j / 64] |= (uint64_t)1 << (j % 64);
            f = next;
        }
    }
    free(t->buckets);
    free(t->occupied);
    t->buckets = b;
    t->occupied = occ;
    t->nbuckets = nb;
}

static void lru_unlink(sn_flow_table *t, sn_flow *f) {
    if (f->lru_prev) f->lru_prev->lru_next = f->lru_next;
    else t->lru_head = f->lru_next;
    if (f->lru_next) f->lru_next->lru_prev = f->lru_prev;
    else t->lru_tail = f->lru_prev;
    f->lru_prev = f->lru_next = NULL;
}

static void lru_append(sn_flow_table *t, sn_flow *f) {
    f->lru_prev = t->lru_tail;
    f->lru_next = NULL;
    if (t->lru_tail) t->lru_tail->lru_next = f;
    else t->lru_head = f;
    t->lru_tail = f;
}

sn_flow *sn_flow_create(sn_flow_table *t, const sn_packet *p, int swap) {
    if (t->count >= t->nbuckets / 2) grow(t);
    sn_flow *f = sn_mem_alloc(t->mem, sizeof *f);
    if (!f) return NULL;
    memset(f, 0, sizeof *f);
    int a = swap ? 1 : 0;
    f->addr[a] = p->src;
    f->port[a] = p->sport;
    f->addr[!a] = p->dst;
    f->port[!a] = p->dport;
    f->proto = p->proto;
    memcpy(f->vlan, p->vlan, sizeof f->vlan);
    f->hash = flow_hash(&p->src, p->sport, &p->dst, p->dport, p->proto, sn_packet_vlans(p));
    f->id = t->next_id++;
    f->first_ts = f->last_ts = p->ts;
    /* the streams were zeroed with the rest: that is sn_stream_init */
    size_t b = f->hash & (t->nbuckets - 1);
    f->hnext = t->buckets[b];
    t->buckets[b] = f;
    set_occupied(t, b);
    /* the key is the table's again: no longer one of the removed */
    int unused;
    for (int i = 0; i < 2; i++)
        if (t->removed[i].valid &&
            sn_flow_tuple_matches(t->removed[i].addr, t->removed[i].port, t->removed[i].vlan, t->removed[i].proto, p,
                                  &unused))
            t->removed[i].valid = 0;
    lru_append(t, f);
    t->count++;
    t->created++;
    return f;
}

void sn_flow_touch(sn_flow_table *t, sn_flow *f, uint64_t ts) {
    f->last_ts = ts;
    if (t->lru_tail != f) {
        lru_unlink(t, f);
        lru_append(t, f);
    }
}

void sn_flow_remove(sn_flow_table *t, sn_flow *f) {
    size_t b = f->hash & (t->nbuckets - 1);
    sn_flow **pp = &t->buckets[b];
    while (*pp && *pp != f) pp = &(*pp)->hnext;
    if (*pp) *pp = f->hnext;
    if (!t->buckets[b]) t->occupied[b / 64] &= ~((uint64_t)1 << (b % 64));
    sn_flow_key_of(f, &t->removed[t->removed_next++ % 2]);
    lru_unlink(t, f);
    t->count--;
    sn_mem_free(t->mem, f, sizeof *f);
}
