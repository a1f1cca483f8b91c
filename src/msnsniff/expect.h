/* expect.h - the expectation table: connections predicted from the MSN
 * control traffic, in the spirit of Linux conntrack expectations.
 *
 * An expectation says: "a TCP (or UDP) flow to address:port (or to any
 * port of address) is about to be opened by `from` towards `to`, for this
 * application and invitation, and is expected until `expires`". A later
 * TCP SYN or first UDP packet to that endpoint fulfils it (a hit);
 * expectations that pass their expiry unused are misses. Expectations of
 * one group (one invitation, or one switchboard referral) are alternatives:
 * once one is hit the others retire quietly. */
#ifndef SN_EXPECT_H
#define SN_EXPECT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "observer.h"
#include "strmap.h"
#include "u64map.h"

#define SN_EXPECT_HOST_MAX 256
#define SN_EXPECT_USER_MAX 130
#define SN_EXPECT_ANNOUNCER_ADDRS 2

typedef enum sn_transport { SN_TR_ANY = 0, SN_TR_TCP = 6, SN_TR_UDP = 17 } sn_transport;

typedef enum sn_expect_state { SN_EXP_PENDING = 0, SN_EXP_HIT, SN_EXP_MISSED, SN_EXP_RETIRED } sn_expect_state;

/* A prediction as the caller builds it, strings inline. */
typedef struct sn_expect_proto {
    uint64_t group;
    sn_addr addr;        /* family 0 while only a host name is known */
    uint16_t port;       /* 0: any port */
    uint8_t transport;   /* sn_transport */
    uint8_t cookie_only; /* matched by switchboard cookie, not by SYN */
    const char *app;     /* static: "file_transfer", "switchboard", ... */
    const char *source;  /* static: which header or command taught it */
    /* the cookie, as long as the protocol line that carried it: the
     * caller's bytes (NULL if none), copied whole by sn_expect_add */
    const char *cookie;
    size_t cookie_len;
    uint64_t invitation; /* invitation id, 0 if none */
    uint64_t learned_flow;
    uint64_t session;    /* switchboard session that announced it, 0 if none */
    uint8_t app_class;   /* sn_app_class */
    uint8_t flags;       /* SN_XF_* */
    uint8_t owner_is_to; /* the announcing user is `to` (invitations), else `from` */
    sn_addr receiver;    /* announced in a message seen arriving: its receiver's address (else family 0) */
    /* a host name a user announced, not resolved yet: the addresses the
     * announcer was known by (sn_origin's: switchboard client and server
     * ends, notification client end; family 0 where unknown), which the
     * address a DNS answer gives the name later is checked against */
    sn_addr announcer[SN_EXPECT_ANNOUNCER_ADDRS];
    /* The strings: the caller's bytes, never NULL ("" when empty), no NUL
     * among their lengths' worth, read while sn_expect_add (which copies
     * them into the expectation) and the observers it tells run. A host
     * of SN_EXPECT_HOST_MAX bytes or more, a user of SN_EXPECT_USER_MAX
     * or more, is taken cut to one byte less. Views, not copies: every
     * referral and every address announced makes a prediction, and its
     * strings were copied and measured twice on the way to the table. */
    const char *host; /* address as written ("1.2.3.4" or a name) */
    const char *from, *to;
    size_t host_len, from_len, to_len;
} sn_expect_proto;

/* Every field 0, every string empty. */
static inline void sn_expect_proto_clear(sn_expect_proto *p) {
    memset(p, 0, sizeof *p);
    p->host = p->from = p->to = "";
}

/* A stored expectation. Its strings live in the same allocation, right
 * after the struct, at their real length: expectations stay until they
 * expire, so on long captures they are most of the analyzer's memory. */
typedef struct sn_expect {
    struct sn_expect *hnext, *hprev; /* bucket chain: pending, resolved, matched by address */
    struct sn_expect *nprev, *nnext; /* waiting for DNS: others with the same host name */
    struct sn_expect *qprev, *qnext; /* expiry queue */
    struct sn_expect *gnext;         /* next member of the same group */
    uint64_t id;
    uint64_t group;
    sn_addr addr;     /* family 0 while only a host name is known */
    const char *host; /* address as written ("1.2.3.4" or a name) */
    const char *cookie;
    const char *from, *to; /* who will connect, who listens ("" if unknown) */
    uint16_t port;         /* 0: any port */
    uint8_t transport;     /* sn_transport */
    uint8_t state;
    uint8_t cookie_only;   /* matched by switchboard cookie, not by SYN */
    uint8_t hashed, named; /* in the address chains / in the name index */
    uint8_t by_cookie;     /* the cookie index names it (pending only) */
    uint8_t spent;         /* hit or retired: in the spent queue */
    uint8_t evicted;       /* dropped by the size bound before its expiry */
    /* strlen of host, from and to (below SN_EXPECT_HOST_MAX and
     * SN_EXPECT_USER_MAX) and of the cookie: kept, as each event and
     * index that names them would measure them again */
    uint8_t host_len, from_len, to_len;
    uint8_t slot;        /* in a slot of a slab (expect.c), not malloc'd on its own */
    const char *app;     /* static: "file_transfer", "switchboard", ... */
    const char *source;  /* static: which header or command taught it */
    uint64_t invitation; /* invitation id, 0 if none */
    uint64_t learned_flow;
    uint64_t session;          /* switchboard session that announced it, 0 if none */
    uint64_t replaces;         /* id of the expectation it took over (sn_expect_reannounce), 0 if none */
    uint64_t learned, expires; /* µs */
    const char *owner;         /* the announcing user (from or to; "" if unknown) */
    uint8_t app_class;         /* sn_app_class */
    uint8_t flags;             /* SN_XF_* */
    uint32_t cookie_len;
    /* the user the announcement was seen reaching (family 0 when it was
     * seen leaving its announcer): an enforcer tells by it on which side
     * an announcer it cannot see must be (msngate) */
    sn_addr receiver;
    /* an announced host name not resolved yet: the announcer's addresses
     * (sn_expect_proto.announcer) in the same allocation; NULL for an
     * address, a referral, or an announcer the capture knows nothing of */
    const sn_addr *announcer;
    /* pending and counted against its user: the slot of that count in
     * pending_by_user (expect.c), else NULL */
    void **user_count;
} sn_expect;

typedef struct sn_expect_table {
    sn_expect **b;
    size_t nb;
    sn_expect *qhead, *qtail; /* pending, ordered by expiry (constant timeout) */
    sn_expect *shead, *stail; /* spent (hit or retired), ordered by when they were spent */
    size_t count, peak;
    uint64_t clock;   /* capture time of the packet being handled */
    uint64_t linger;  /* spent ones stay this long (echo deduplication, MSNFTP lookup) */
    uint64_t evicted; /* pending ones dropped by the size bound */
    uint64_t next_id;
    uint64_t timeout;
    size_t max; /* oldest pending dropped beyond this */
    /* Expectations by group (the invitation that announced them): every
     * hit retires its siblings. There is no index by id: the one look-up
     * by id (an MSNFTP flow's invitation, ftp.c) knows the group too, and
     * a map of ids read at random cost two cache misses per expectation. */
    sn_u64map by_group;
    sn_strmap by_cookie;
    sn_strmap by_name; /* lower-case host name -> unresolved expectations, oldest first */
    uint64_t added, hits, misses;
    uint64_t retired;                     /* spent without a hit: a sibling's hit or a CANCEL */
    size_t max_per_user, max_per_session; /* outstanding (pending) ones; 0 = unbounded */
    sn_strmap pending_by_user;            /* counts of pending ones */
    sn_u64map pending_by_session;
    uint64_t dropped_user, dropped_session; /* refused by those bounds */
    const sn_observers *obs;                /* told about every change (may be NULL) */
    /* Called for each expectation with an announcer a DNS answer resolves,
     * before the observers are told: the origin check of its address and
     * the pinhole policy set its flags (invitation.c). May be NULL. */
    void (*check_resolved)(void *ctx, sn_expect *e);
    void *check_resolved_ctx;
    /* slots (expect.c): the blocks that hold them, and the free ones */
    void *slabs;
    sn_expect *free_slots;
} sn_expect_table;

/* Spent expectations (hit, or retired by a sibling's hit or a CANCEL) are
 * kept SN_EXPECT_LINGER_US of capture time (or the timeout, if shorter):
 * long enough to recognise the other copy of the message that announced
 * them and to name the file of the MSNFTP connection that hit them, short
 * enough that a long capture does not keep every prediction it ever made.
 * Pending ones stay until they expire; beyond `max` (default
 * SN_EXPECT_MAX) the oldest is dropped and counted in `evicted`. */
#define SN_EXPECT_LINGER_US (30ull * 1000000u)

/* ts + d, or UINT64_MAX where that does not fit: capture times are not
 * bounded (a pcapng time stamp is 64 bits), and a deadline that wrapped
 * would lie in the past. */
static inline uint64_t sn_ts_after(uint64_t ts, uint64_t d) { return ts > UINT64_MAX - d ? UINT64_MAX : ts + d; }
#define SN_EXPECT_MAX 65536u
/* Outstanding predictions one user, and one switchboard session, may
 * have at once (docs/msnsniff.md, "Bounds"). */
#define SN_EXPECT_MAX_PER_USER 128u
#define SN_EXPECT_MAX_PER_SESSION 32u

/* max: the global bound, enforced on every add (0: SN_EXPECT_MAX). The
 * per-user / per-session bounds start at their defaults; set the fields
 * to change them. obs (may be NULL) receives every typed event. */
int sn_expect_init(sn_expect_table *t, uint64_t timeout_us, size_t max, const sn_observers *obs);
/* A new lifetime for the predictions made from now on; a shorter one
 * shortens the pending ones too (to when it would end them), which keeps
 * the expiry queue in the order it is walked. */
void sn_expect_set_timeout(sn_expect_table *t, uint64_t timeout_us);
/* Capture time of the packet being handled (spent expectations age from it). */
void sn_expect_set_clock(sn_expect_table *t, uint64_t now);
void sn_expect_free(sn_expect_table *t);

/* Add a pending expectation (fields copied from *proto; id, times and
 * state filled in) and tell the observers (added). A duplicate (same
 * group, endpoint and transport) is not added again: returns NULL and sets
 * *dup to the existing one. Over a per-user or per-session bound it is
 * refused (NULL, observers told: dropped); at the global bound the oldest
 * spent one, else the oldest pending one (observers told: expired,
 * SN_END_EVICTED), makes room first. */
sn_expect *sn_expect_add(sn_expect_table *t, const sn_expect_proto *proto, uint64_t now, sn_expect **dup);

/* Best pending match for a new flow to dst:dport over proto (6/17),
 * specific port first, then any-port; NULL if none. Does not change state. */
sn_expect *sn_expect_match(sn_expect_table *t, const sn_addr *dst, uint16_t dport, uint8_t proto, uint64_t now);
/* Pending switchboard expectation with this cookie, NULL if none. */
sn_expect *sn_expect_by_cookie(sn_expect_table *t, const char *cookie, size_t n);

/* The live expectation with this id (pending, hit or retired) in this
 * group, or NULL (also for expectations without a group). */
sn_expect *sn_expect_find(sn_expect_table *t, uint64_t group, uint64_t id);
/* Retire every pending member of a group (a cancelled invitation). */
void sn_expect_retire_group(sn_expect_table *t, uint64_t group);

/* The application of a group became known after it predicted: an
 * invitation whose INVITE was captured after the ACCEPT that announced
 * an address. Each pending member whose application, class or transport
 * differ is announced again with them: observers are told it is retired
 * (SN_END_REPLACED, with its old id and fields), then added, under a new
 * id, with `replaces` naming the old one, learned at `now` and expiring
 * a timeout later. It stays the same entry (no allocation, no bound is
 * checked again: it was already counted); `retired` and `added` count one
 * each, so predicted = matched + missed + retired still holds. Returns
 * how many were announced again. */
size_t sn_expect_reannounce(sn_expect_table *t, uint64_t group, const char *app, uint8_t app_class, uint8_t transport,
                            uint64_t now);

/* Mark e hit (observers told, with h); its group's other pending members
 * are retired (SN_END_SIBLING_HIT). */
void sn_expect_hit(sn_expect_table *t, sn_expect *e, const sn_expect_hit_info *h);

/* Host name resolved (from DNS in the capture): expectations written with
 * that name now match its address; those a user announced are checked
 * (check_resolved) before the observers are told. Returns how many were
 * updated. */
size_t sn_expect_resolve(sn_expect_table *t, const char *host, size_t n, const sn_addr *addr);

/* Pop pending expectations whose expiry is <= now (all of them if now is
 * UINT64_MAX: why SN_END_INPUT_END for those not yet due), and the oldest
 * beyond the size bound (e->evicted set); observers are told (expired),
 * then each is freed. Spent ones are freed quietly once their linger has
 * passed. */
void sn_expect_expire(sn_expect_table *t, uint64_t now);

const char *sn_transport_name(uint8_t tr);

#endif
