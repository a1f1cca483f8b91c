/* pinholes.c - prediction -> set elements, and back. */
#include "pinholes.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ruleset.h"
#include "sides.h"
#include "strmap.h"

typedef struct hole {
    uint64_t id, invitation;
    uint64_t deadline_us;       /* the kernel forgets it then */
    struct hole *qprev, *qnext; /* by deadline (constant timeout: FIFO) */
    struct hole *gnext;         /* same invitation */
    uint8_t nkeys;
    uint8_t cls;
    uint8_t hit; /* deadline_us is the end of the hit grace */
    nftset_key keys[2];
} hole;

/* adds waiting for their commit: their arrival times, for the latency */
#define ARRIVALS_MAX 256u

/* A delete waiting for its commit. */
typedef struct gate_del {
    char set[64];
    nftset_key key;
} gate_del;

struct pinholes {
    nftset *set;
    gate_stats *st;
    gate_config cfg;
    gate_sides *sides; /* the routing table, asked which side an address is on */
    sn_strmap by_id, by_inv;
    /* the ids of predictions waiting for their host name (the unresolved
     * count): they leave when a DNS answer resolves them or the analyzer
     * lets them go */
    sn_strmap waiting;
    /* how many tracked predictions hold each element (set name + key):
     * switchboard referrals of many users name the same server, and one
     * hit must not close the element the others still wait for */
    sn_strmap refs;
    hole *qhead, *qtail;
    size_t count;
    uint64_t arrivals[ARRIVALS_MAX];
    size_t narrivals;
    /* deletes kept for after the verdict */
    gate_del dels[ARRIVALS_MAX];
    size_t ndels;
    int (*recreate)(void *ctx);
    void *recreate_ctx;
};

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

pinholes *pinholes_new(nftset *set, gate_stats *st, const gate_config *cfg) {
    pinholes *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->set = set;
    p->st = st;
    p->cfg = *cfg;
    if (!(p->sides = gate_sides_new()) || sn_strmap_init(&p->by_id) != 0 || sn_strmap_init(&p->by_inv) != 0 ||
        sn_strmap_init(&p->refs) != 0 || sn_strmap_init(&p->waiting) != 0) {
        pinholes_free(p);
        return NULL;
    }
    return p;
}

void pinholes_configure(pinholes *p, const gate_config *cfg) { p->cfg = *cfg; }

void pinholes_on_missing_sets(pinholes *p, int (*fn)(void *), void *ctx) {
    p->recreate = fn;
    p->recreate_ctx = ctx;
}

void pinholes_free(pinholes *p) {
    if (!p) return;
    while (p->qhead) {
        hole *h = p->qhead;
        p->qhead = h->qnext;
        free(h);
    }
    sn_strmap_free(&p->by_id, NULL);
    sn_strmap_free(&p->by_inv, NULL);
    sn_strmap_free(&p->waiting, NULL);
    gate_sides_free(p->sides);
    sn_strmap_free(&p->refs, free);
    free(p);
}

size_t pinholes_count(const pinholes *p) { return p->count; }

static void set_of(const hole *h, const nftset_key *k, char *out, size_t cap) {
    gate_set_name((gate_class)h->cls, k->family, out, cap);
}

typedef struct ref {
    size_t n;
} ref;

/* The refs key: set name, NUL, key bytes. */
static size_t ref_key(const char *set, const nftset_key *k, char out[96]) {
    size_t n = strlen(set) + 1;
    memcpy(out, set, n);
    memcpy(out + n, k, sizeof *k);
    return n + sizeof *k;
}

/* One more holder; returns the count before, or -1 without memory. */
static long ref_take(pinholes *p, const char *set, const nftset_key *k) {
    char key[96];
    size_t kn = ref_key(set, k, key);
    ref *r = sn_strmap_get(&p->refs, key, kn);
    if (r) return (long)r->n++;
    r = malloc(sizeof *r);
    if (!r) return -1;
    r->n = 1;
    if (sn_strmap_put(&p->refs, key, kn, r) == r) {
        free(r);
        return -1;
    }
    return 0;
}

/* One holder less; returns the holders left. */
static size_t ref_drop(pinholes *p, const char *set, const nftset_key *k) {
    char key[96];
    size_t kn = ref_key(set, k, key);
    ref *r = sn_strmap_get(&p->refs, key, kn);
    if (!r) return 0;
    if (--r->n) return r->n;
    free(sn_strmap_del(&p->refs, key, kn));
    return 0;
}

/* Removes h from every index and frees it; its elements are deleted
 * (now, or after the verdict) when delete_elements. */
static void drop(pinholes *p, hole *h, int delete_elements) {
    sn_strmap_del(&p->by_id, (const char *)&h->id, sizeof h->id);
    if (h->invitation) {
        hole *head = sn_strmap_get(&p->by_inv, (const char *)&h->invitation, sizeof h->invitation);
        if (head == h) {
            if (h->gnext) sn_strmap_put(&p->by_inv, (const char *)&h->invitation, sizeof h->invitation, h->gnext);
            else sn_strmap_del(&p->by_inv, (const char *)&h->invitation, sizeof h->invitation);
        } else {
            for (hole *x = head; x; x = x->gnext)
                if (x->gnext == h) {
                    x->gnext = h->gnext;
                    break;
                }
        }
    }
    if (h->qprev) h->qprev->qnext = h->qnext;
    else p->qhead = h->qnext;
    if (h->qnext) h->qnext->qprev = h->qprev;
    else p->qtail = h->qprev;
    p->count--;
    for (unsigned i = 0; i < h->nkeys; i++) {
        char name[64];
        set_of(h, &h->keys[i], name, sizeof name);
        if (ref_drop(p, name, &h->keys[i]) || !delete_elements)
            continue; /* still held by another prediction, or gone with its timeout */
        if (p->cfg.verbose) {
            char ks[128];
            nftset_key_str(&h->keys[i], ks, sizeof ks);
            fprintf(stderr, "msngate: close %s { %s } (expectation %llu)\n", name, ks, (unsigned long long)h->id);
        }
        if (p->ndels == ARRIVALS_MAX) pinholes_commit(p, 1);
        memcpy(p->dels[p->ndels].set, name, sizeof name);
        p->dels[p->ndels].key = h->keys[i];
        p->ndels++;
    }
    free(h);
}

/* A delete of (set, k) still queued is taken back: the element is held
 * again before it went (the CANCEL of one invitation and the ACCEPT of
 * another naming the same address and port, in one packet). The adds of
 * a commit go before its deletes, so the delete would have removed the
 * new pinhole. 1 when one was queued. */
static int undo_delete(pinholes *p, const char *set, const nftset_key *k) {
    for (size_t i = 0; i < p->ndels; i++) {
        const gate_del *d = &p->dels[i];
        if (strcmp(d->set, set) != 0 || d->key.family != k->family || d->key.proto != k->proto ||
            d->key.port != k->port || memcmp(d->key.addr, k->addr, sizeof k->addr) != 0)
            continue;
        p->dels[i] = p->dels[--p->ndels];
        return 1;
    }
    return 0;
}

/* The address of a prediction whose announcer the analyzer could not check
 * (none of its own connections crosses the gateway), or of a switchboard
 * referral (a server names it), judged by the side of the gateway it is on:
 * the interface the routing table sends it out of (sides.h).
 *
 * - The announcement came in by interface `ingress`: its sender is beyond
 *   that interface. An address routed out of another interface (any
 *   family; the gateway's own, broadcast and anycast addresses count by
 *   the interface holding them) is on another side: not the sender's.
 * - The receiver's side: an address routed out of the interface its user
 *   is reached by is on that user's side, not the far side where such an
 *   announcer is (also when the ingress is not known, and on a gateway
 *   with one interface, where the ingress is the receiver's interface).
 *
 * Either is an outsider (or a server outside) naming an inside host, which
 * a pinhole would open to anyone: counted as forged. An address reached
 * by a default route only is on no side and passes (an outsider's own
 * address, on a gateway with one interface too). */
static int off_the_senders_side(pinholes *p, const gate_prediction *pr) {
    if ((!pr->unchecked && !pr->referral) || !pr->addr.family) return 0;
    int side = gate_sides_of(p->sides, &pr->addr);
    if (!side) return 0;
    int other_side = pr->ingress > 0 && side != pr->ingress;
    int receivers = !other_side && pr->receiver.family && side == gate_sides_of(p->sides, &pr->receiver);
    if (!other_side && !receivers) return 0;
    if (p->cfg.verbose) {
        char a[SN_ADDR_STRLEN], r[SN_ADDR_STRLEN], in[IF_NAMESIZE] = "?", out[IF_NAMESIZE] = "?";
        if_indextoname((unsigned)side, out);
        const char *who = pr->referral ? "a server referral" : "a user the gateway does not see";
        if (other_side) {
            if_indextoname((unsigned)pr->ingress, in);
            fprintf(stderr,
                    "msngate: refused %s (expectation %llu): announced by %s, whose message came in by %s, "
                    "and routed out of %s\n",
                    sn_addr_str(&pr->addr, a), (unsigned long long)pr->id, who, in, out);
        } else {
            fprintf(stderr,
                    "msngate: refused %s (expectation %llu): announced by %s, on the side of %s who received it "
                    "(%s)\n",
                    sn_addr_str(&pr->addr, a), (unsigned long long)pr->id, who, sn_addr_str(&pr->receiver, r), out);
        }
    }
    return 1;
}

/* Prediction id no longer waits for its host name (resolved, or let go). */
static void unwait(pinholes *p, uint64_t id) {
    if (sn_strmap_del(&p->waiting, (const char *)&id, sizeof id)) p->st->unresolved--;
}

static void refused_line(pinholes *p, const gate_prediction *pr, const char *why) {
    if (!p->cfg.verbose) return;
    char a[SN_ADDR_STRLEN];
    fprintf(stderr, "msngate: refused %s (expectation %llu): %s\n", sn_addr_str(&pr->addr, a),
            (unsigned long long)pr->id, why);
}

void pinholes_predicted(pinholes *p, const gate_prediction *pr, uint64_t arrival_us) {
    gate_stats *st = p->st;
    st->predictions++;
    int cls = gate_class_of_app(pr->app);
    if (cls < 0) {
        st->unclassified++;
        return;
    }
    if (!pr->addr.family) {
        /* the analyzer reports it again once DNS answers: waiting till then
         * (not counted without memory for the index: it could not leave) */
        if (!sn_strmap_get(&p->waiting, (const char *)&pr->id, sizeof pr->id) &&
            sn_strmap_put(&p->waiting, (const char *)&pr->id, sizeof pr->id, p) == NULL)
            st->unresolved++;
        return;
    }
    unwait(p, pr->id);
    if (!pr->port) {
        /* opening every port of a host is not a pinhole; the protocol
         * sends the port in a later message that is predicted too */
        st->any_port++;
        return;
    }
    if (p->cfg.forged_policy == GATE_POLICY_SKIP && (pr->forged || off_the_senders_side(p, pr))) {
        st->refused_forged++;
        /* the side check said why; the analyzer's verdict is said here */
        if (pr->forged) refused_line(p, pr, "not an address the announcer was seen at (forged)");
        return;
    }
    if (pr->nat && !pr->forged && p->cfg.nat_policy == GATE_POLICY_SKIP) {
        st->refused_nat++;
        refused_line(p, pr, "a private address of an announcer seen at a public one (nat = skip)");
        return;
    }
    if (sn_strmap_get(&p->by_id, (const char *)&pr->id, sizeof pr->id))
        return; /* reported again (resolved): already open */
    if (p->count >= p->cfg.max_pinholes) {
        st->refused_bound++;
        return;
    }
    hole *h = calloc(1, sizeof *h);
    if (!h) {
        st->refused_bound++;
        return;
    }
    h->id = pr->id;
    h->invitation = pr->invitation;
    h->cls = (uint8_t)cls;
    uint64_t timeout = pr->timeout_ms ? pr->timeout_ms : (uint64_t)p->cfg.expect_timeout_s * 1000u;
    h->deadline_us = now_us() + timeout * 1000u;
    const uint8_t protos[2] = {6, 17};
    for (int i = 0; i < 2; i++) {
        if (pr->transport && pr->transport != protos[i]) continue;
        nftset_key *k = &h->keys[h->nkeys++];
        k->family = pr->addr.family;
        k->proto = protos[i];
        k->port = pr->port;
        memcpy(k->addr, pr->addr.b, 16);
    }
    if (sn_strmap_put(&p->by_id, (const char *)&h->id, sizeof h->id, h) == h) {
        free(h);
        st->refused_bound++;
        return;
    }
    if (h->invitation) {
        h->gnext = sn_strmap_get(&p->by_inv, (const char *)&h->invitation, sizeof h->invitation);
        if (sn_strmap_put(&p->by_inv, (const char *)&h->invitation, sizeof h->invitation, h) == h)
            h->invitation = 0; /* no memory for the index: deleted by id or timeout only */
    }
    h->qprev = p->qtail;
    if (p->qtail) p->qtail->qnext = h;
    else p->qhead = h;
    p->qtail = h;
    p->count++;
    for (unsigned i = 0; i < h->nkeys; i++) {
        char name[64];
        set_of(h, &h->keys[i], name, sizeof name);
        if (nftset_pending(p->set) >= ARRIVALS_MAX - 1 || p->narrivals == ARRIVALS_MAX) pinholes_commit(p, 0);
        /* held already: refresh its timeout to this prediction's */
        int still_there = undo_delete(p, name, &h->keys[i]);
        if (ref_take(p, name, &h->keys[i]) > 0 || still_there) nftset_replace(p->set, name, &h->keys[i], timeout);
        else nftset_add(p->set, name, &h->keys[i], timeout);
        p->arrivals[p->narrivals++] = arrival_us;
        if (p->cfg.verbose) {
            char ks[128];
            nftset_key_str(&h->keys[i], ks, sizeof ks);
            fprintf(stderr, "msngate: open %s { %s timeout %llums } (expectation %llu)\n", name, ks,
                    (unsigned long long)timeout, (unsigned long long)h->id);
        }
    }
}

/* Marks h hit and moves it in the deadline queue to the end of its grace;
 * when less than the grace is left of its timeout, it keeps that (the
 * kernel closes it then) and is deleted at it. */
static void requeue(pinholes *p, hole *h, uint64_t deadline) {
    if (h->hit) return;
    h->hit = 1;
    if (deadline >= h->deadline_us) return;
    h->deadline_us = deadline;
    /* the queue stays ordered by deadline: insert before the first later
     * one (a walk bounded by the entries open at once) */
    if (h->qprev) h->qprev->qnext = h->qnext;
    else p->qhead = h->qnext;
    if (h->qnext) h->qnext->qprev = h->qprev;
    else p->qtail = h->qprev;
    hole *at = p->qhead;
    while (at && at->deadline_us <= deadline) at = at->qnext;
    h->qnext = at;
    h->qprev = at ? at->qprev : p->qtail;
    if (h->qprev) h->qprev->qnext = h;
    else p->qhead = h;
    if (at) at->qprev = h;
    else p->qtail = h;
}

void pinholes_hit(pinholes *p, uint64_t id, uint64_t invitation) {
    hole *h = sn_strmap_get(&p->by_id, (const char *)&id, sizeof id);
    /* a pinhole used: not the connection of a prediction that opened
     * nothing (refused, unresolved, any port), which passive mode sees
     * before the filter drops it, nor its retransmitted first packet */
    if (h && !h->hit) p->st->hits++;
    if (h && !invitation) invitation = h->invitation;
    uint64_t deadline = now_us() + (uint64_t)p->cfg.hit_grace_s * 1000000u;
    if (h && p->cfg.verbose && !h->hit)
        fprintf(stderr, "msngate: hit expectation %llu, its elements close in %u s\n", (unsigned long long)id,
                p->cfg.hit_grace_s);
    if (h) requeue(p, h, deadline);
    if (!invitation) return;
    /* the others of the invitation will not be used: they go now */
    hole *x = sn_strmap_get(&p->by_inv, (const char *)&invitation, sizeof invitation);
    while (x) {
        hole *next = x->gnext;
        if (!x->hit) {
            p->st->withdrawn++;
            drop(p, x, 1);
        }
        x = next;
    }
}

void pinholes_withdrawn(pinholes *p, uint64_t id) {
    unwait(p, id);
    hole *h = sn_strmap_get(&p->by_id, (const char *)&id, sizeof id);
    if (h) {
        p->st->withdrawn++;
        drop(p, h, 1);
    }
}

void pinholes_prediction_expired(pinholes *p, uint64_t id) { unwait(p, id); }

void pinholes_cancelled(pinholes *p, uint64_t invitation) {
    /* bounded: each iteration removes one entry of the invitation */
    for (hole *h; (h = sn_strmap_get(&p->by_inv, (const char *)&invitation, sizeof invitation)) != NULL;) {
        p->st->withdrawn++;
        drop(p, h, 1);
    }
}

void pinholes_expire(pinholes *p, uint64_t now) {
    while (p->qhead && p->qhead->deadline_us <= now) {
        hole *h = p->qhead;
        if (!h->hit) p->st->elements_expired += h->nkeys;
        drop(p, h, h->hit); /* a hit one's grace is over: delete; else the kernel timed it out */
    }
}

/* Every open element again, with what is left of its timeout (its set was
 * re-created empty): 0, or -1 / the commit's error with err set. */
static int readd(pinholes *p, int *fe, char *err, size_t errcap) {
    int rc = 0;
    for (hole *h = p->qhead; h && rc == 0; h = h->qnext)
        for (unsigned i = 0; i < h->nkeys && rc == 0; i++) {
            char name[64];
            set_of(h, &h->keys[i], name, sizeof name);
            uint64_t left = h->deadline_us > now_us() ? (h->deadline_us - now_us()) / 1000u : 1;
            if (nftset_add(p->set, name, &h->keys[i], left ? left : 1) == 0) continue;
            /* a batch holds so many: a full one goes, and the rest follow */
            rc = nftset_commit(p->set, fe, err, errcap);
            if (rc == 0 && nftset_add(p->set, name, &h->keys[i], left ? left : 1) != 0) {
                snprintf(err, errcap, "set %s refused an element", name);
                rc = -1;
            }
        }
    return rc == 0 ? nftset_commit(p->set, fe, err, errcap) : rc;
}

int pinholes_readd(pinholes *p) {
    char err[256];
    int fe = 0;
    p->st->sets_recreated++;
    int rc = readd(p, &fe, err, sizeof err);
    if (rc != 0) {
        p->st->commit_errors++;
        fprintf(stderr, "msngate: adding the open elements again failed: %s\n", rc < 0 ? err : strerror(fe));
    }
    return rc;
}

int pinholes_commit(pinholes *p, int deletes_too) {
    char err[256];
    int fe = 0;
    size_t nadd = nftset_pending(p->set);
    int rc = 0;
    if (nadd) {
        p->st->commits++;
        rc = nftset_commit(p->set, &fe, err, sizeof err);
        if (rc != 0 && fe == ENOENT && p->recreate && p->recreate(p->recreate_ctx) == 0) {
            /* sets were removed under us ("flush ruleset"): put them back
             * and re-add what is open */
            p->st->sets_recreated++;
            rc = readd(p, &fe, err, sizeof err);
        }
        uint64_t t = now_us();
        if (rc == 0) {
            p->st->elements_added += nadd;
            for (size_t i = 0; i < p->narrivals; i++)
                gate_stats_latency(p->st->lat, &p->st->lat_n, &p->st->lat_max_us,
                                   t > p->arrivals[i] ? t - p->arrivals[i] : 0);
        } else {
            p->st->commit_errors++;
            fprintf(stderr, "msngate: adding %zu element(s) failed: %s\n", nadd, rc < 0 ? err : strerror(fe));
        }
        p->narrivals = 0;
    }
    if (deletes_too && p->ndels) {
        for (size_t i = 0; i < p->ndels; i++) nftset_del(p->set, p->dels[i].set, &p->dels[i].key);
        size_t nd = p->ndels;
        p->ndels = 0;
        int r = nftset_commit(p->set, &fe, err, sizeof err);
        if (r == 0) {
            p->st->elements_deleted += nd;
        } else {
            p->st->commit_errors++;
            fprintf(stderr, "msngate: deleting %zu element(s) failed: %s\n", nd, r < 0 ? err : strerror(fe));
        }
        if (rc == 0) rc = r;
    }
    return rc;
}
