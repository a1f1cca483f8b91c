/* Switchboard registry; see sbreg.h. */
#include "sbreg.h"

#include <msnkit/grow.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

#define MAX_COOKIES 1000000u

typedef struct ticket {
    char email[MSNP_MAX_EMAIL + 1];
    char cookie[SB_COOKIE_MAX]; /* its key in the table */
    char *name;                 /* RNG cookies: the invitee's friendly name, once known */
    uint32_t session_id;
    uint64_t owner_conn; /* XFR SB cookies: the notification session issued to */
    uint64_t expires_ms;
    struct ticket *user_prev, *user_next; /* XFR SB cookies: the user's others */
} ticket;

/* A user's unused XFR SB cookies, linked, so that its session's end finds
 * them without walking the whole table. The entry goes with the last. */
typedef struct user_cookies {
    long n;
    ticket *head;
} user_cookies;

/* A user's switchboard connections (members of any session), so that a
 * deleted account's are found without walking every connection. The entry
 * goes with the last. */
typedef struct user_members {
    conn **v;
    size_t n, cap;
} user_members;

struct sbreg {
    strmap *tickets;         /* cookie -> ticket */
    strmap *sessions;        /* decimal id -> sb_session */
    strmap *xfr_by_user;     /* e-mail -> user_cookies of outstanding XFR SB cookies */
    strmap *members_by_user; /* e-mail -> user_members */
    strmap *rings_by_user;   /* e-mail -> pending rings in all sessions (as intptr) */
};

/* A per-user count kept in a map; the entry goes when it reaches 0. */
static long user_count(strmap *m, const char *email, long delta) {
    intptr_t v = (intptr_t)strmap_get(m, email) + delta;
    if (v <= 0) {
        strmap_del(m, email);
        return 0;
    }
    int ok;
    strmap_put(m, email, (void *)v, &ok);
    return ok == 0 ? (long)v : -1;
}

/* The user's entry of size bytes in m, created zeroed when create (NULL
 * when out of memory). */
static void *user_entry(strmap *m, const char *email, size_t size, int create) {
    void *e = strmap_get(m, email);
    if (e || !create) return e;
    if (!(e = calloc(1, size))) return NULL;
    int ok;
    strmap_put(m, email, e, &ok);
    if (ok != 0) {
        free(e);
        return NULL;
    }
    return e;
}

/* One taken off the list of email: the entry goes with the last. */
static void user_cookies_drop(strmap *m, const char *email, user_cookies *l) {
    if (--l->n > 0) return;
    strmap_del(m, email);
    free(l);
}

static void free_user_cookies(const char *key, void *value, void *ctx) {
    (void)key;
    (void)ctx;
    free(value);
}

static void free_user_members(const char *key, void *value, void *ctx) {
    (void)key;
    (void)ctx;
    user_members *u = value;
    free(u->v);
    free(u);
}

sbreg *sbreg_new(void) {
    sbreg *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->tickets = strmap_new();
    r->sessions = strmap_new();
    r->xfr_by_user = strmap_new();
    r->members_by_user = strmap_new();
    r->rings_by_user = strmap_new();
    if (!r->tickets || !r->sessions || !r->xfr_by_user || !r->members_by_user || !r->rings_by_user) {
        sbreg_free(r);
        return NULL;
    }
    return r;
}

static void ticket_free(ticket *t) {
    if (!t) return;
    free(t->name);
    free(t);
}

/* A ticket leaves the table: XFR SB cookies leave their user's list. */
static void ticket_gone(sbreg *r, ticket *t) {
    if (!t) return;
    user_cookies *l = t->session_id == 0 ? user_entry(r->xfr_by_user, t->email, sizeof(user_cookies), 0) : NULL;
    if (l) {
        if (t->user_prev) t->user_prev->user_next = t->user_next;
        else l->head = t->user_next;
        if (t->user_next) t->user_next->user_prev = t->user_prev;
        user_cookies_drop(r->xfr_by_user, t->email, l);
    }
    ticket_free(t);
}

static void free_value(const char *key, void *value, void *ctx) {
    (void)key;
    (void)ctx;
    ticket_free(value);
}

static void free_session(const char *key, void *value, void *ctx) {
    (void)key;
    (void)ctx;
    sb_session *ss = value;
    free(ss->members);
    free(ss->rings);
    free(ss);
}

void sbreg_free(sbreg *r) {
    if (!r) return;
    if (r->tickets) {
        strmap_each(r->tickets, free_value, NULL);
        strmap_free(r->tickets);
    }
    if (r->sessions) {
        strmap_each(r->sessions, free_session, NULL);
        strmap_free(r->sessions);
    }
    if (r->xfr_by_user) {
        strmap_each(r->xfr_by_user, free_user_cookies, NULL);
        strmap_free(r->xfr_by_user);
    }
    if (r->members_by_user) {
        strmap_each(r->members_by_user, free_user_members, NULL);
        strmap_free(r->members_by_user);
    }
    if (r->rings_by_user) strmap_free(r->rings_by_user);
    free(r);
}

static int issue(sbreg *r, const char *email, uint32_t session_id, uint64_t owner_conn, uint64_t expires_ms,
                 char *cookie, size_t cap) {
    if (strmap_count(r->tickets) >= MAX_COOKIES) return -1;
    ticket *t = calloc(1, sizeof *t);
    if (!t) return -1;
    snprintf(t->email, sizeof t->email, "%s", email);
    t->session_id = session_id;
    t->owner_conn = owner_conn;
    t->expires_ms = expires_ms;
    for (int attempt = 0; attempt < 4; attempt++) {
        uint32_t rnd[3];
        if (msnp_random_bytes(rnd, sizeof rnd) != 0) break;
        /* Shaped like the real service's cookies (three dotted numbers);
         * 32 + 32 + 16 = 80 random bits. */
        snprintf(cookie, cap, "%u.%u.%u", rnd[0], rnd[1], rnd[2] & 0xffffu);
        if (strmap_get(r->tickets, cookie)) continue;
        user_cookies *l = session_id == 0 ? user_entry(r->xfr_by_user, email, sizeof(user_cookies), 1) : NULL;
        if (session_id == 0 && !l) break;
        int ok;
        strmap_put(r->tickets, cookie, t, &ok);
        if (ok != 0) {
            if (l && l->n == 0) user_cookies_drop(r->xfr_by_user, email, l);
            break;
        }
        snprintf(t->cookie, sizeof t->cookie, "%s", cookie);
        if (l) {
            t->user_next = l->head;
            if (l->head) l->head->user_prev = t;
            l->head = t;
            l->n++;
        }
        return 0;
    }
    free(t);
    return -1;
}

int sbreg_issue(sbreg *r, const char *email, uint32_t session_id, uint64_t expires_ms, char *cookie, size_t cap) {
    return issue(r, email, session_id, 0, expires_ms, cookie, cap);
}

int sbreg_issue_xfr(sbreg *r, const char *email, uint64_t owner_conn, uint64_t expires_ms, char *cookie, size_t cap) {
    return issue(r, email, 0, owner_conn, expires_ms, cookie, cap);
}

int sbreg_redeem(sbreg *r, const char *cookie, const char *email, uint32_t session_id, uint64_t now_ms) {
    return sbreg_redeem_name(r, cookie, email, session_id, now_ms, NULL, 0);
}

int sbreg_redeem_name(sbreg *r, const char *cookie, const char *email, uint32_t session_id, uint64_t now_ms, char *name,
                      size_t namecap) {
    if (name && namecap) name[0] = '\0';
    ticket *t = strmap_del(r->tickets, cookie);
    if (!t) return SBREG_UNKNOWN;
    /* Whatever the outcome, that invitation is over: the caller may ring
     * again. */
    if (t->session_id) {
        sb_session *ss = sbreg_session_find(r, t->session_id);
        if (ss) sbreg_ring_remove(ss, t->email);
    }
    int ok = t->expires_ms > now_ms && strcmp(t->email, email) == 0 && t->session_id == session_id;
    if (ok && name && namecap && t->name) snprintf(name, namecap, "%s", t->name);
    ticket_gone(r, t);
    return ok ? 0 : SBREG_REFUSED;
}

int sbreg_set_name(sbreg *r, const char *cookie, const char *name) {
    ticket *t = strmap_get(r->tickets, cookie);
    if (!t) return -1;
    char *copy = strdup(name);
    if (!copy) return -1;
    free(t->name);
    t->name = copy;
    return 0;
}

void sbreg_cancel(sbreg *r, const char *cookie) { ticket_gone(r, strmap_del(r->tickets, cookie)); }

size_t sbreg_cookie_count(const sbreg *r) { return strmap_count(r->tickets); }

long sbreg_xfr_outstanding(const sbreg *r, const char *email) {
    const user_cookies *l = strmap_get(r->xfr_by_user, email);
    return l ? l->n : 0;
}

long sbreg_user_switchboards(const sbreg *r, const char *email) {
    const user_members *u = strmap_get(r->members_by_user, email);
    return u ? (long)u->n : 0;
}

conn *const *sbreg_user_members(const sbreg *r, const char *email, size_t *n) {
    const user_members *u = strmap_get(r->members_by_user, email);
    *n = u ? u->n : 0;
    return u ? u->v : NULL;
}

long sbreg_user_rings(const sbreg *r, const char *email) { return (long)(intptr_t)strmap_get(r->rings_by_user, email); }

sb_session *sbreg_session_new(sbreg *r) {
    sb_session *ss = calloc(1, sizeof *ss);
    if (!ss) return NULL;
    ss->reg = r;
    char key[16];
    /* Random ids: sequential ones would tell every client how many
     * sessions the server has opened. */
    for (int attempt = 0; attempt < 8; attempt++) {
        uint32_t v;
        if (msnp_random_bytes(&v, sizeof v) != 0) break;
        if (v >= SB_SESSION_ID_MAX - SB_SESSION_ID_MIN) continue; /* rejection keeps them uniform */
        ss->id = SB_SESSION_ID_MIN + v;
        snprintf(key, sizeof key, "%u", ss->id);
        if (strmap_get(r->sessions, key)) continue;
        int ok;
        strmap_put(r->sessions, key, ss, &ok);
        if (ok != 0) break;
        return ss;
    }
    free(ss);
    return NULL;
}

sb_session *sbreg_session_find(sbreg *r, uint32_t id) {
    char key[16];
    snprintf(key, sizeof key, "%u", id);
    return strmap_get(r->sessions, key);
}

size_t sbreg_session_count(const sbreg *r) { return strmap_count(r->sessions); }

int sbreg_join(sbreg *r, sb_session *ss, conn *c) {
    conn **nm = msnkit_grow(ss->members, &ss->capmembers, ss->nmembers + 1, sizeof *nm, 4);
    if (!nm) return -1;
    ss->members = nm;
    user_members *u = user_entry(r->members_by_user, c->email, sizeof *u, 1);
    conn **uv = u ? msnkit_grow(u->v, &u->cap, u->n + 1, sizeof *uv, 4) : NULL;
    if (!uv) {
        if (u && u->n == 0) free_user_members(NULL, strmap_del(r->members_by_user, c->email), NULL);
        return -1;
    }
    u->v = uv;
    u->v[u->n++] = c;
    ss->members[ss->nmembers++] = c;
    c->session = ss;
    return 0;
}

void sbreg_leave(sbreg *r, sb_session *ss, conn *c) {
    for (size_t i = 0; i < ss->nmembers; i++) {
        if (ss->members[i] == c) {
            memmove(&ss->members[i], &ss->members[i + 1], (ss->nmembers - i - 1) * sizeof *ss->members);
            ss->nmembers--;
            user_members *u = strmap_get(r->members_by_user, c->email);
            for (size_t j = 0; u && j < u->n; j++) {
                if (u->v[j] != c) continue;
                u->v[j] = u->v[--u->n];
                if (u->n == 0) free_user_members(NULL, strmap_del(r->members_by_user, c->email), NULL);
                break;
            }
            break;
        }
    }
    c->session = NULL;
    if (ss->nmembers == 0) {
        for (size_t i = 0; i < ss->nrings; i++) user_count(r->rings_by_user, ss->rings[i].email, -1);
        char key[16];
        snprintf(key, sizeof key, "%u", ss->id);
        strmap_del(r->sessions, key);
        free(ss->members);
        free(ss->rings);
        free(ss);
    }
}

int sbreg_ringing(sb_session *ss, const char *email, uint64_t now_ms) {
    for (size_t i = 0; i < ss->nrings; i++)
        if (ss->rings[i].expires_ms > now_ms && strcmp(ss->rings[i].email, email) == 0) return 1;
    return 0;
}

static void prune_rings(sb_session *ss, uint64_t now_ms) {
    size_t o = 0;
    for (size_t i = 0; i < ss->nrings; i++) {
        if (ss->rings[i].expires_ms > now_ms) ss->rings[o++] = ss->rings[i];
        else user_count(ss->reg->rings_by_user, ss->rings[i].email, -1);
    }
    ss->nrings = o;
}

int sbreg_ring_add(sb_session *ss, const char *email, const char *cookie, uint64_t expires_ms) {
    sb_ring *nr = msnkit_grow(ss->rings, &ss->caprings, ss->nrings + 1, sizeof *nr, 4);
    if (!nr) return -1;
    ss->rings = nr;
    if (user_count(ss->reg->rings_by_user, email, +1) < 0) return -1;
    sb_ring *g = &ss->rings[ss->nrings++];
    snprintf(g->email, sizeof g->email, "%s", email);
    snprintf(g->cookie, sizeof g->cookie, "%s", cookie);
    g->callee_conn = 0;
    g->expires_ms = expires_ms;
    return 0;
}

void sbreg_ring_bind(sb_session *ss, const char *email, uint64_t callee_conn) {
    for (size_t i = 0; i < ss->nrings; i++)
        if (strcmp(ss->rings[i].email, email) == 0) ss->rings[i].callee_conn = callee_conn;
}

void sbreg_ring_remove(sb_session *ss, const char *email) {
    size_t o = 0;
    for (size_t i = 0; i < ss->nrings; i++) {
        if (strcmp(ss->rings[i].email, email) != 0) ss->rings[o++] = ss->rings[i];
        else user_count(ss->reg->rings_by_user, email, -1);
    }
    ss->nrings = o;
}

typedef struct rings_end_ctx {
    sbreg *r;
    const char *email;
    uint64_t callee_conn;
    const char *cookie; /* NULL: every ring to callee_conn; else only this one */
} rings_end_ctx;

/* Drops the session's rings of x->email to x->callee_conn; their cookies
 * leave the ticket table (the table, not the session map, is changed, so
 * this may run inside strmap_each over the sessions). */
static void end_rings_in(const char *key, void *value, void *arg) {
    (void)key;
    sb_session *ss = value;
    rings_end_ctx *x = arg;
    size_t o = 0;
    for (size_t i = 0; i < ss->nrings; i++) {
        sb_ring *g = &ss->rings[i];
        int match = strcmp(g->email, x->email) == 0 &&
            (x->cookie ? strcmp(g->cookie, x->cookie) == 0 : g->callee_conn == x->callee_conn);
        if (!match) {
            ss->rings[o++] = *g;
            continue;
        }
        ticket_gone(x->r, strmap_del(x->r->tickets, g->cookie));
        user_count(x->r->rings_by_user, g->email, -1);
    }
    ss->nrings = o;
}

void sbreg_rings_end(sbreg *r, const char *email, uint64_t callee_conn) {
    /* Nearly every session ends with no ring pending: only then walk the
     * sessions. */
    if (sbreg_user_rings(r, email) <= 0) return;
    rings_end_ctx x = {r, email, callee_conn, NULL};
    strmap_each(r->sessions, end_rings_in, &x);
}

void sbreg_ring_end_cookie(sbreg *r, const char *email, const char *cookie) {
    if (sbreg_user_rings(r, email) <= 0) return;
    rings_end_ctx x = {r, email, 0, cookie};
    strmap_each(r->sessions, end_rings_in, &x);
}

size_t sbreg_ring_count(sb_session *ss, uint64_t now_ms) {
    prune_rings(ss, now_ms);
    return ss->nrings;
}

/* Cookies to withdraw, collected while the table is walked (it cannot
 * change under strmap_each) and deleted after. */
typedef struct sweep_ctx {
    uint64_t now;
    char (*dead)[SB_COOKIE_MAX];
    size_t n, cap;
} sweep_ctx;

static void note_dead(sweep_ctx *x, const char *key) {
    void *nd = msnkit_grow(x->dead, &x->cap, x->n + 1, sizeof *x->dead, 64);
    if (!nd) return;
    x->dead = nd;
    snprintf(x->dead[x->n++], SB_COOKIE_MAX, "%s", key);
}

static void drop_dead(sbreg *r, sweep_ctx *x) {
    for (size_t i = 0; i < x->n; i++) ticket_gone(r, strmap_del(r->tickets, x->dead[i]));
    free(x->dead);
}

static void collect_expired(const char *key, void *value, void *arg) {
    sweep_ctx *x = arg;
    ticket *t = value;
    if (t->expires_ms <= x->now) note_dead(x, key);
}

void sbreg_xfr_end(sbreg *r, const char *email, uint64_t owner_conn) {
    /* The user's own cookies alone (a few: max_xfr_cookies_per_user), not
     * the table of everyone's. */
    user_cookies *l = user_entry(r->xfr_by_user, email, sizeof(user_cookies), 0);
    ticket *t = l ? l->head : NULL;
    while (t) {
        ticket *next = t->user_next; /* stays: only t leaves (the list goes with its last) */
        if (t->owner_conn == owner_conn) ticket_gone(r, strmap_del(r->tickets, t->cookie));
        t = next;
    }
}

static void prune_session(const char *key, void *value, void *arg) {
    (void)key;
    prune_rings(value, *(uint64_t *)arg);
}

void sbreg_sweep(sbreg *r, uint64_t now_ms) {
    sweep_ctx x = {now_ms, NULL, 0, 0};
    strmap_each(r->tickets, collect_expired, &x);
    drop_dead(r, &x);
    strmap_each(r->sessions, prune_session, &now_ms);
}
