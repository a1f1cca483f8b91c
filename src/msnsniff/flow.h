/* flow.h - the flow table: one entry per TCP connection (or UDP flow the
 * analyzer cares about), found from either direction.
 *
 * A flow's key is its 5-tuple and its VLAN ids (sn_packet.vlan: the outer
 * and the inner tag): the same addresses and ports on two VLANs are two
 * flows, as in Suricata (vlan.use-for-tracking) and Zeek.
 *
 * Chained hash with a symmetric hash of the two endpoints, and an LRU list
 * so idle flows can be evicted oldest first. Entries come from the memcap. */
#ifndef SN_FLOW_H
#define SN_FLOW_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "decode.h"
#include "memcap.h"
#include "reasm.h"

typedef enum sn_app {
    SN_APP_UNKNOWN = 0, /* not classified yet */
    SN_APP_MSNP,
    SN_APP_MSNFTP,
    SN_APP_EXPECTED, /* matched an expectation; not MSNP itself */
    SN_APP_OTHER     /* not ours: counted, not buffered */
} sn_app;

typedef struct sn_flow {
    struct sn_flow *hnext;
    struct sn_flow *lru_prev, *lru_next;
    uint32_t hash;
    uint64_t id;
    sn_addr addr[2]; /* [0] initiator (client), [1] responder, as the first packet told */
    uint16_t port[2];
    /* Which side is the client: 0, or 1 when the first packet of a flow
     * picked up mid-stream came from the server (MSNP detection tells,
     * later). The packet directions (dir, pkts, bytes, st) stay as they
     * were first set, since reassembly and the parsers are bound to them;
     * reports swap the sides by this. */
    uint8_t client_side;
    uint8_t proto;
    uint8_t app; /* sn_app */
    uint8_t syn_seen, midstream, rst, reported;
    /* A SYN with another initial sequence number on this connection once
     * it was established, not answered yet (engine.c, tcp_packet): its
     * sender's direction, sequence number, frame length and time. */
    uint8_t reuse_pending, reuse_dir;
    uint32_t reuse_isn;
    size_t reuse_wire;
    uint64_t reuse_ts;
    uint16_t vlan[2];           /* of its key: [0] outer, [1] inner, 0 if none */
    uint64_t first_ts, last_ts; /* the first packet's time; the engine's at the last one (never earlier) */
    uint64_t pkts[2], bytes[2];
    uint64_t expect_id;    /* expectation this flow fulfilled, 0 if none */
    uint64_t expect_group; /* and its group (sn_expect_find) */
    sn_stream st[2];
    void *conn; /* the session tracker's per-connection state */
} sn_flow;

/* The key of a flow the table no longer holds. */
typedef struct sn_flow_key {
    sn_addr addr[2];
    uint16_t port[2];
    uint16_t vlan[2];
    uint8_t proto;
    uint8_t valid;
} sn_flow_key;

typedef struct sn_flow_table {
    sn_memcap *mem;
    sn_flow **buckets;
    size_t nbuckets;
    /* A packet of no flow (a new connection's SYN, the last ACK after
     * both FINs) was a walk into buckets and entries far apart in memory,
     * a cache miss each. A bit per bucket (set while its chain is not
     * empty; the table grows at half full, so most are clear) and the
     * last flows removed answer most of those without leaving the cache. */
    uint64_t *occupied;
    sn_flow_key removed[2]; /* no flow in the table has either key */
    unsigned removed_next;
    size_t count;
    size_t max_flows;
    sn_flow *lru_head, *lru_tail; /* head: least recently seen */
    uint64_t next_id;
    uint64_t created;
} sn_flow_table;

int sn_flow_table_init(sn_flow_table *t, sn_memcap *mem, size_t max_flows);
/* The key of flow f; is it the key of packet p (*dir = 0: sent by the
 * initiator)? */
void sn_flow_key_of(const sn_flow *f, sn_flow_key *k);
int sn_flow_key_matches(const sn_flow_key *k, const sn_packet *p, int *dir);
/* Frees the table itself; flows must have been removed first. */
void sn_flow_table_free(sn_flow_table *t);

/* A flow's two ports as one word, as sn_packet_ports gives a packet's. */
static inline uint32_t sn_flow_ports_word(const uint16_t two[2]) {
    uint32_t w;
    memcpy(&w, two, sizeof w);
    return w;
}

/* The 16 bytes of two addresses, their families aside. */
static inline int sn_flow_addr_bytes_eq(const sn_addr *a, const sn_addr *b) { return memcmp(a->b, b->b, 16) == 0; }

/* 1 if the key (addr, port: [0] initiator; the VLAN ids as one word) is
 * the packet's, with *dir set. A packet's two addresses are of one
 * family (the IP header's), and so are a key's (a packet's): the family
 * is compared once, for both addresses and both directions. */
static inline int sn_flow_tuple_matches(const sn_addr addr[2], const uint16_t port[2], const uint16_t vlan[2],
                                        uint8_t proto, const sn_packet *p, int *dir) {
    uint32_t vw;
    memcpy(&vw, vlan, sizeof vw);
    if (proto != p->proto || vw != sn_packet_vlans(p) || addr[0].family != p->src.family) return 0;
    uint32_t fp = sn_flow_ports_word(port), pp = sn_packet_ports(p);
    if (fp == pp && sn_flow_addr_bytes_eq(&addr[0], &p->src) && sn_flow_addr_bytes_eq(&addr[1], &p->dst)) {
        *dir = 0;
        return 1;
    }
    if (fp == (pp << 16 | pp >> 16) && sn_flow_addr_bytes_eq(&addr[1], &p->src) &&
        sn_flow_addr_bytes_eq(&addr[0], &p->dst)) {
        *dir = 1;
        return 1;
    }
    return 0;
}

/* sn_flow_lookup past the flow seen last. */
sn_flow *sn_flow_lookup_rest(sn_flow_table *t, const sn_packet *p, int *dir);

/* Find the flow of this packet; *dir = 0 if sent by the initiator.
 * Packets come in runs of one flow (a download's segments and their
 * ACKs): the flow seen last is tried before hashing, here, so that the
 * three packets in four it answers cost no call (a key names at most
 * one flow in the table, so the answer is the same). */
static inline sn_flow *sn_flow_lookup(sn_flow_table *t, const sn_packet *p, int *dir) {
    sn_flow *f = t->lru_tail;
    if (f && sn_flow_tuple_matches(f->addr, f->port, f->vlan, f->proto, p, dir)) return f;
    return sn_flow_lookup_rest(t, p, dir);
}
/* New flow; initiator is the packet's source unless swap. NULL on memcap. */
sn_flow *sn_flow_create(sn_flow_table *t, const sn_packet *p, int swap);
void sn_flow_touch(sn_flow_table *t, sn_flow *f, uint64_t ts);
/* Unlink and free the entry (the caller releases what f->conn and the
 * streams hold before). */
void sn_flow_remove(sn_flow_table *t, sn_flow *f);
static inline sn_flow *sn_flow_oldest(const sn_flow_table *t) { return t->lru_head; }

#endif
