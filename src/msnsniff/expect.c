/* expect.c - expectation table. */
#include "expect.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <msnkit/shortcopy.h>

#define EXP_NB 1024u

/* malloc and free of an expectation cost more than the rest of its add
 * and expiry (the heap hands out fresh memory to a growing table): one
 * that fits SN_EXPECT_SLOT bytes (the struct and the strings of a typical
 * announcement) takes a slot of a slab of SN_EXPECT_SLAB of them, and a
 * freed slot waits on a free list for the next add. Slabs are allocated
 * only when no slot is free, so they hold at most the table's peak count
 * (itself bounded by max) plus one slab's worth; they are freed with the
 * table. A larger expectation is malloc'd on its own. */
#define SN_EXPECT_SLOT 512u
#define SN_EXPECT_SLAB 64u
_Static_assert(sizeof(sn_expect) <= SN_EXPECT_SLOT, "a slot holds the struct");
_Static_assert(SN_EXPECT_SLOT % _Alignof(max_align_t) == 0, "slots aligned as malloc's");

typedef union expect_slot {
    union expect_slot *next; /* the next slab, in a slab's first slot */
    max_align_t align;
    unsigned char b[SN_EXPECT_SLOT];
} expect_slot;

static sn_expect *expect_alloc(sn_expect_table *t, size_t size) {
    if (size > SN_EXPECT_SLOT) return malloc(size);
    if (!t->free_slots) {
        expect_slot *slab = malloc(SN_EXPECT_SLAB * sizeof *slab);
        if (!slab) return NULL;
        slab->next = t->slabs;
        t->slabs = slab;
        /* bounded: the slots of one slab after its first */
        for (size_t i = SN_EXPECT_SLAB - 1; i >= 1; i--) {
            sn_expect *e = (sn_expect *)&slab[i];
            e->qnext = t->free_slots;
            t->free_slots = e;
        }
    }
    sn_expect *e = t->free_slots;
    t->free_slots = e->qnext;
    return e;
}

static void expect_release(sn_expect_table *t, sn_expect *e) {
    if (e->slot) {
        e->qnext = t->free_slots;
        t->free_slots = e;
    } else {
        free(e);
    }
}

const char *sn_transport_name(uint8_t tr) {
    switch (tr) {
    case SN_TR_TCP: return "tcp";
    case SN_TR_UDP: return "udp";
    default: return "any";
    }
}

static size_t bucket(const sn_addr *a) { return sn_addr_hash(a, 0x45585054u) & (EXP_NB - 1); }

int sn_expect_init(sn_expect_table *t, uint64_t timeout_us, size_t max, const sn_observers *obs) {
    memset(t, 0, sizeof *t);
    t->obs = obs;
    t->max_per_user = SN_EXPECT_MAX_PER_USER;
    t->max_per_session = SN_EXPECT_MAX_PER_SESSION;
    t->nb = EXP_NB;
    t->b = calloc(t->nb, sizeof *t->b);
    t->next_id = 1;
    t->timeout = timeout_us;
    t->max = max ? max : SN_EXPECT_MAX;
    t->linger = timeout_us < SN_EXPECT_LINGER_US ? timeout_us : SN_EXPECT_LINGER_US;
    if (!t->b || sn_strmap_init(&t->by_cookie) != 0 || sn_u64map_init(&t->by_group) != 0 ||
        sn_strmap_init(&t->by_name) != 0 || sn_strmap_init(&t->pending_by_user) != 0 ||
        sn_u64map_init(&t->pending_by_session) != 0)
        return -1;
    return 0;
}

/* Outstanding counts per announcing user and per switchboard session,
 * kept in the maps as integers (a missing key is 0): a pending
 * expectation counts against its user and session until it is hit,
 * retired or gone. Its user's count is lowered through the slot it was
 * raised in (sn_expect_add), which stays valid while the user has pending
 * ones: the key leaves the map only with the last of them. */
static void pending_leave(sn_expect_table *t, sn_expect *e) {
    if (e->user_count) {
        size_t count = (size_t)(uintptr_t)*e->user_count;
        if (count <= 1) sn_strmap_del(&t->pending_by_user, e->owner, e->owner == e->to ? e->to_len : e->from_len);
        else *e->user_count = (void *)(uintptr_t)(count - 1);
        e->user_count = NULL;
    }
    if (e->session) {
        size_t v = (size_t)(uintptr_t)sn_u64map_get(&t->pending_by_session, e->session);
        if (v <= 1) sn_u64map_del(&t->pending_by_session, e->session);
        else sn_u64map_put(&t->pending_by_session, e->session, (void *)(uintptr_t)(v - 1));
    }
}

/* The address chains hold only what sn_expect_match can return: pending,
 * resolved, not matched by cookie. Expectations leave them as soon as they
 * are hit or retired, so a busy server address (every switchboard referral
 * names one of a few) does not make each new flow walk hundreds of spent
 * expectations until they expire. */
/* Doubly linked: leaving a chain costs the same however long it is (a
 * client announcing one address thousands of times makes one long chain,
 * and the oldest, evicted first, sits at its far end). */
static void unhash(sn_expect_table *t, sn_expect *e) {
    if (!e->hashed) return;
    if (e->hprev) e->hprev->hnext = e->hnext;
    else t->b[bucket(&e->addr)] = e->hnext;
    if (e->hnext) e->hnext->hprev = e->hprev;
    e->hnext = e->hprev = NULL;
    e->hashed = 0;
}

static void hash_in(sn_expect_table *t, sn_expect *e) {
    if (!e->addr.family || e->hashed || e->cookie_only || e->state != SN_EXP_PENDING) return;
    size_t b = bucket(&e->addr);
    e->hnext = t->b[b];
    e->hprev = NULL;
    if (e->hnext) e->hnext->hprev = e;
    t->b[b] = e;
    e->hashed = 1;
}

/* Expectations written with a host name wait in by_name (one list per
 * lower-case name, oldest first; the head's nprev is the tail) until a DNS
 * answer in the capture resolves the name: an answer costs one lookup, not
 * a walk over every pending expectation. */
static size_t name_key(const char *host, size_t n, char out[SN_EXPECT_HOST_MAX]) {
    if (n > 1 && host[n - 1] == '.') n--; /* "sb.example.net." is the fully qualified "sb.example.net" */
    if (n == 0 || n >= SN_EXPECT_HOST_MAX) return 0;
    for (size_t i = 0; i < n; i++) out[i] = (host[i] >= 'A' && host[i] <= 'Z') ? (char)(host[i] + 32) : host[i];
    return n;
}

static void name_in(sn_expect_table *t, sn_expect *e) {
    char key[SN_EXPECT_HOST_MAX];
    size_t n = e->addr.family ? 0 : name_key(e->host, e->host_len, key);
    if (!n) return;
    sn_expect *head = sn_strmap_get(&t->by_name, key, n);
    e->nnext = NULL;
    if (!head) {
        e->nprev = e;
        if (sn_strmap_put(&t->by_name, key, n, e) == e)
            return; /* no memory for the index: this one will not be resolved */
    } else {
        sn_expect *tail = head->nprev;
        tail->nnext = e;
        e->nprev = tail;
        head->nprev = e;
    }
    e->named = 1;
}

static void name_out(sn_expect_table *t, sn_expect *e) {
    if (!e->named) return;
    char key[SN_EXPECT_HOST_MAX];
    size_t n = name_key(e->host, e->host_len, key);
    sn_expect *head = sn_strmap_get(&t->by_name, key, n);
    if (head == e) {
        if (e->nnext) {
            e->nnext->nprev = e->nprev;
            sn_strmap_put(&t->by_name, key, n, e->nnext);
        } else {
            sn_strmap_del(&t->by_name, key, n);
        }
    } else if (head) {
        e->nprev->nnext = e->nnext;
        if (e->nnext) e->nnext->nprev = e->nprev;
        else head->nprev = e->nprev;
    }
    e->nprev = e->nnext = NULL;
    e->named = 0;
}

void sn_expect_set_timeout(sn_expect_table *t, uint64_t timeout_us) {
    if (timeout_us < t->timeout)
        for (sn_expect *e = t->qhead; e; e = e->qnext) /* bounded by the table's size */
            if (e->expires > sn_ts_after(e->learned, timeout_us)) e->expires = sn_ts_after(e->learned, timeout_us);
    t->timeout = timeout_us;
}

void sn_expect_set_clock(sn_expect_table *t, uint64_t now) {
    if (now > t->clock) t->clock = now;
}

/* Pending ones sit in the expiry queue, spent ones in the spent queue;
 * both are FIFO because their durations are constant. */
static void unqueue(sn_expect_table *t, sn_expect *e) {
    sn_expect **head = e->spent ? &t->shead : &t->qhead, **tail = e->spent ? &t->stail : &t->qtail;
    if (e->qprev) e->qprev->qnext = e->qnext;
    else *head = e->qnext;
    if (e->qnext) e->qnext->qprev = e->qprev;
    else *tail = e->qprev;
    e->qprev = e->qnext = NULL;
}

static void enqueue(sn_expect_table *t, sn_expect *e) {
    sn_expect **head = e->spent ? &t->shead : &t->qhead, **tail = e->spent ? &t->stail : &t->qtail;
    e->qnext = NULL;
    e->qprev = *tail;
    if (*tail) (*tail)->qnext = e;
    else *head = e;
    *tail = e;
}

/* The cookie index holds pending ones only: a spent one leaves it at once
 * (sn_expect_by_cookie would not return it, and the index stays the size
 * of what can still be matched, not of the linger's worth of spent ones). */
static void cookie_out(sn_expect_table *t, sn_expect *e) {
    if (!e->by_cookie) return;
    sn_strmap_del_if(&t->by_cookie, e->cookie, e->cookie_len, e);
    e->by_cookie = 0;
}

/* Hit or retired: no longer matchable; freed after the linger. */
static void spend(sn_expect_table *t, sn_expect *e, uint8_t state) {
    if (state == SN_EXP_RETIRED && e->state == SN_EXP_PENDING) t->retired++;
    if (e->state == SN_EXP_PENDING) pending_leave(t, e);
    e->state = state;
    unhash(t, e);
    cookie_out(t, e);
    if (e->spent) return;
    unqueue(t, e);
    e->spent = 1;
    e->expires = sn_ts_after(t->clock, t->linger);
    enqueue(t, e);
}

static void unindex(sn_expect_table *t, sn_expect *e) {
    cookie_out(t, e);
    if (e->group) {
        sn_expect *head = sn_u64map_get(&t->by_group, e->group);
        if (head == e) {
            if (e->gnext) sn_u64map_put(&t->by_group, e->group, e->gnext);
            else sn_u64map_del(&t->by_group, e->group);
        } else {
            for (sn_expect *x = head; x; x = x->gnext)
                if (x->gnext == e) {
                    x->gnext = e->gnext;
                    break;
                }
        }
    }
}

static void destroy(sn_expect_table *t, sn_expect *e) {
    unindex(t, e);
    unhash(t, e);
    name_out(t, e);
    unqueue(t, e);
    t->count--;
    expect_release(t, e);
}

void sn_expect_free(sn_expect_table *t) {
    while (t->qhead) {
        pending_leave(t, t->qhead);
        destroy(t, t->qhead);
    }
    while (t->shead) destroy(t, t->shead);
    t->free_slots = NULL;
    while (t->slabs) { /* bounded: the slabs allocated */
        expect_slot *slab = t->slabs;
        t->slabs = slab->next;
        free(slab);
    }
    free(t->b);
    t->b = NULL;
    sn_strmap_free(&t->by_cookie, NULL);
    sn_u64map_free(&t->by_group);
    sn_strmap_free(&t->by_name, NULL);
    sn_strmap_free(&t->pending_by_user, NULL);
    sn_u64map_free(&t->pending_by_session);
}

sn_expect *sn_expect_find(sn_expect_table *t, uint64_t group, uint64_t id) {
    /* bounded: a group holds the few predictions of one invitation */
    for (sn_expect *x = group && id ? sn_u64map_get(&t->by_group, group) : NULL; x; x = x->gnext)
        if (x->id == id) return x;
    return NULL;
}

void sn_expect_retire_group(sn_expect_table *t, uint64_t group) {
    for (sn_expect *x = group ? sn_u64map_get(&t->by_group, group) : NULL; x; x = x->gnext)
        if (x->state == SN_EXP_PENDING) {
            spend(t, x, SN_EXP_RETIRED);
            if (t->obs) sn_notify_retired(t->obs, x, SN_END_CANCELLED);
        }
}

size_t sn_expect_reannounce(sn_expect_table *t, uint64_t group, const char *app, uint8_t app_class, uint8_t transport,
                            uint64_t now) {
    size_t n = 0;
    /* bounded: the group's members; none is added or freed on the way */
    for (sn_expect *x = group ? sn_u64map_get(&t->by_group, group) : NULL; x; x = x->gnext) {
        if (x->state != SN_EXP_PENDING ||
            (strcmp(x->app, app) == 0 && x->app_class == app_class && x->transport == transport))
            continue;
        t->retired++;
        if (t->obs) sn_notify_retired(t->obs, x, SN_END_REPLACED);
        x->replaces = x->id;
        x->id = t->next_id++;
        x->app = app;
        x->app_class = app_class;
        x->transport = transport;
        /* a prediction made now: it goes to the back of the expiry queue,
         * which stays in order (its new expiry is the latest) */
        unqueue(t, x);
        x->learned = now;
        x->expires = sn_ts_after(now, t->timeout);
        enqueue(t, x);
        t->added++;
        if (t->obs) sn_notify_added(t->obs, x);
        n++;
    }
    return n;
}

/* A pending one leaves unused: counted, told, freed. */
static void miss(sn_expect_table *t, sn_expect *e, sn_expect_end why) {
    pending_leave(t, e);
    e->state = SN_EXP_MISSED;
    t->misses++;
    if (t->obs) sn_notify_expired(t->obs, e, why);
    destroy(t, e);
}

/* The global bound, on every add: a spent one goes first (nobody waits
 * for it), else the oldest pending one. */
static void make_room(sn_expect_table *t) {
    /* bounded: each iteration frees one */
    while (t->count >= t->max) {
        if (t->shead) {
            destroy(t, t->shead);
        } else if (t->qhead) {
            t->qhead->evicted = 1;
            t->evicted++;
            miss(t, t->qhead, SN_END_EVICTED);
        } else {
            break;
        }
    }
}

/* Copies n bytes of s and a NUL to *at, advances *at; returns the copy.
 * An expectation's four strings are short (a host, a cookie, two users):
 * those of 4 to 32 bytes go as two overlapping loads and stores from each
 * end, without a call or a byte-at-a-time copy. */
static const char *put_str(char **at, const char *s, size_t n) {
    char *p = *at;
    msnkit_copy_short(p, s, n); /* s may be NULL when n is 0 (no cookie) */
    p[n] = '\0';
    *at += n + 1;
    return p;
}

sn_expect *sn_expect_add(sn_expect_table *t, const sn_expect_proto *proto, uint64_t now, sn_expect **dup) {
    if (dup) *dup = NULL;
    /* the strings' lengths, cut as the kept lengths (a byte each) allow */
    size_t hl = proto->host_len < SN_EXPECT_HOST_MAX ? proto->host_len : SN_EXPECT_HOST_MAX - 1;
    size_t fl = proto->from_len < SN_EXPECT_USER_MAX ? proto->from_len : SN_EXPECT_USER_MAX - 1;
    size_t tl = proto->to_len < SN_EXPECT_USER_MAX ? proto->to_len : SN_EXPECT_USER_MAX - 1;
    sn_expect *head = proto->group ? sn_u64map_get(&t->by_group, proto->group) : NULL;
    for (sn_expect *x = head; x; x = x->gnext) {
        if (x->group == proto->group && x->port == proto->port && x->transport == proto->transport &&
            x->host_len == hl && memcmp(x->host, proto->host, hl) == 0) {
            if (dup) *dup = x;
            return NULL;
        }
    }
    const char *owner = proto->owner_is_to ? proto->to : proto->from;
    size_t on = proto->owner_is_to ? tl : fl;
    /* the user's count, checked and then raised through one look-up: its
     * slot is made now (a count of 0 until raised; make_room may take it
     * out, lowering the count of one it evicts to 0), and taken out again
     * if the prediction is refused below */
    void **user = on ? sn_strmap_ref(&t->pending_by_user, owner, on, 1) : NULL;
    if (user && t->max_per_user && (size_t)(uintptr_t)*user >= t->max_per_user) {
        t->dropped_user++;
        if (t->obs) sn_notify_dropped(t->obs, proto, SN_DROP_USER_BOUND);
        return NULL;
    }
    /* the session's count, read once for the check and the raise */
    size_t in_session = proto->session ? (size_t)(uintptr_t)sn_u64map_get(&t->pending_by_session, proto->session) : 0;
    if (proto->session && t->max_per_session && in_session >= t->max_per_session) {
        t->dropped_session++;
        if (user && !*user) sn_strmap_del(&t->pending_by_user, owner, on);
        if (t->obs) sn_notify_dropped(t->obs, proto, SN_DROP_SESSION_BOUND);
        return NULL;
    }
    if (t->count >= t->max) { /* making room may free members of the group */
        make_room(t);
        head = proto->group ? sn_u64map_get(&t->by_group, proto->group) : NULL;
        /* and may have taken the user's slot out (its count was 0 or fell
         * to 0), and lowered the session's count */
        user = on ? sn_strmap_ref(&t->pending_by_user, owner, on, 1) : NULL;
        in_session = proto->session ? (size_t)(uintptr_t)sn_u64map_get(&t->pending_by_session, proto->session) : 0;
    }
    size_t cl = proto->cookie ? proto->cookie_len : 0;
    _Static_assert(sizeof(sn_expect) % _Alignof(sn_addr) == 0, "announcer addresses after the struct misaligned");
    _Static_assert(SN_EXPECT_HOST_MAX - 1 <= UINT8_MAX && SN_EXPECT_USER_MAX - 1 <= UINT8_MAX,
                   "lengths kept in a byte");
    /* the announcer's addresses, for a host name whose address is not known
     * yet (rare: kept right after the struct, which is aligned for them) */
    int known = 0;
    for (size_t i = 0; i < SN_EXPECT_ANNOUNCER_ADDRS && !proto->addr.family; i++) known |= proto->announcer[i].family;
    size_t al = known ? sizeof proto->announcer : 0;
    /* a cookie's length is kept in 32 bits, as events carry it: a longer
     * one (no protocol line is) is refused like one that does not fit */
    size_t size = sizeof(sn_expect) + al + hl + cl + fl + tl + 4;
    sn_expect *e = cl <= UINT32_MAX ? expect_alloc(t, size) : NULL;
    if (!e) {
        if (user && !*user) sn_strmap_del(&t->pending_by_user, owner, on);
        if (t->obs) sn_notify_dropped(t->obs, proto, SN_DROP_NO_MEMORY);
        return NULL;
    }
    memset(e, 0, sizeof *e);
    e->slot = size <= SN_EXPECT_SLOT;
    if (al) {
        memcpy(e + 1, proto->announcer, al);
        e->announcer = (const sn_addr *)(e + 1);
    }
    char *tail = (char *)(e + 1) + al;
    e->host = put_str(&tail, proto->host, hl);
    e->cookie = put_str(&tail, proto->cookie, cl);
    e->from = put_str(&tail, proto->from, fl);
    e->to = put_str(&tail, proto->to, tl);
    e->host_len = (uint8_t)hl;
    e->cookie_len = (uint32_t)strnlen(e->cookie, cl); /* a C string to all who read it */
    e->from_len = (uint8_t)fl;
    e->to_len = (uint8_t)tl;
    e->group = proto->group;
    e->addr = proto->addr;
    e->port = proto->port;
    e->transport = proto->transport;
    e->cookie_only = proto->cookie_only;
    e->app = proto->app;
    e->source = proto->source;
    e->invitation = proto->invitation;
    e->learned_flow = proto->learned_flow;
    e->session = proto->session;
    e->app_class = proto->app_class;
    e->flags = proto->flags;
    e->receiver = proto->receiver;
    e->owner = proto->owner_is_to ? e->to : e->from;
    e->id = t->next_id++;
    if (e->cookie_only && e->cookie[0]) { /* the first pending one with a cookie keeps it */
        void **slot = sn_strmap_ref(&t->by_cookie, e->cookie, e->cookie_len, 1);
        if (slot && !*slot) {
            *slot = e;
            e->by_cookie = 1;
        }
    }
    if (e->group) {
        e->gnext = head;
        sn_u64map_put(&t->by_group, e->group, e);
    }
    e->state = SN_EXP_PENDING;
    e->learned = now;
    e->expires = sn_ts_after(now, t->timeout);
    hash_in(t, e);
    name_in(t, e);
    enqueue(t, e);
    t->count++;
    if (t->count > t->peak) t->peak = t->count;
    t->added++;
    if (user) {
        *user = (void *)((uintptr_t)*user + 1);
        e->user_count = user;
    }
    if (e->session) sn_u64map_put(&t->pending_by_session, e->session, (void *)(uintptr_t)(in_session + 1));
    if (t->obs) sn_notify_added(t->obs, e);
    return e;
}

sn_expect *sn_expect_match(sn_expect_table *t, const sn_addr *dst, uint16_t dport, uint8_t proto, uint64_t now) {
    if (t->count == 0) return NULL;
    sn_expect *any = NULL, *spec = NULL;
    for (sn_expect *e = t->b[bucket(dst)]; e; e = e->hnext) {
        if (e->state != SN_EXP_PENDING || e->cookie_only || e->expires < now || !sn_addr_eq(&e->addr, dst)) continue;
        if (e->transport != SN_TR_ANY && e->transport != proto) continue;
        /* chains hold newest first; prefer the oldest candidate (FIFO) */
        if (e->port == dport) spec = e;
        else if (e->port == 0) any = e;
    }
    return spec ? spec : any;
}

sn_expect *sn_expect_by_cookie(sn_expect_table *t, const char *cookie, size_t n) {
    if (n == 0) return NULL;
    sn_expect *e = sn_strmap_get(&t->by_cookie, cookie, n);
    /* past its time but not yet expired (that is done once a second) it
     * is over, as for sn_expect_match */
    return e && e->state == SN_EXP_PENDING && e->expires >= t->clock ? e : NULL;
}

void sn_expect_hit(sn_expect_table *t, sn_expect *e, const sn_expect_hit_info *h) {
    spend(t, e, SN_EXP_HIT);
    t->hits++;
    if (t->obs) sn_notify_hit(t->obs, e, h);
    if (!e->group) return;
    for (sn_expect *x = sn_u64map_get(&t->by_group, e->group); x; x = x->gnext)
        if (x != e && x->state == SN_EXP_PENDING) {
            spend(t, x, SN_EXP_RETIRED);
            if (t->obs) sn_notify_retired(t->obs, x, SN_END_SIBLING_HIT);
        }
}

size_t sn_expect_resolve(sn_expect_table *t, const char *host, size_t n, const sn_addr *addr) {
    char key[SN_EXPECT_HOST_MAX];
    size_t kn = name_key(host, n, key);
    sn_expect *e = kn ? sn_strmap_del(&t->by_name, key, kn) : NULL;
    size_t k = 0;
    /* bounded by the expectations waiting for this name; each leaves the index */
    while (e) {
        sn_expect *next = e->nnext;
        e->nprev = e->nnext = NULL;
        e->named = 0;
        if (e->state == SN_EXP_PENDING && !e->addr.family) {
            e->addr = *addr;
            if (e->announcer && t->check_resolved) t->check_resolved(t->check_resolved_ctx, e);
            hash_in(t, e);
            k++;
            if (t->obs) sn_notify_resolved(t->obs, e);
        }
        e = next;
    }
    return k;
}

void sn_expect_expire(sn_expect_table *t, uint64_t now) {
    /* each iteration frees one; spent ones go first when over the size bound */
    while (t->shead && (t->shead->expires <= now || t->count > t->max)) destroy(t, t->shead);
    while (t->qhead && (t->qhead->expires <= now || t->count > t->max)) {
        sn_expect *e = t->qhead;
        sn_expect_end why = SN_END_EXPIRED;
        if (e->expires > now) {
            e->evicted = 1;
            t->evicted++;
            why = SN_END_EVICTED;
        } else if (now == UINT64_MAX && e->expires > t->clock) {
            why = SN_END_INPUT_END;
        }
        miss(t, e, why);
    }
}
