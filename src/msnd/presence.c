/* Presence router and fan-out; see presence.h. */
#include "presence.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <msnkit/grow.h>

#include <msnkit/fiber.h>
#include "log.h"
#include "privacy.h"
#include "sbreg.h"
#include "strmap.h"

/* A visible user of another notification server (--ns-peers). */
typedef struct remote_user {
    const ns_peer *from; /* the peer link that told us */
    msnp_status status;
    size_t cap; /* bytes for name: a cluster holds one of these per user online elsewhere */
    char name[];
} remote_user;

struct remote_watch;
struct presence {
    strmap *online;
    uint64_t online_version; /* changes whenever online does: resolved watcher rows are stale */
    strmap *remote;          /* e-mail -> remote_user */
    strmap *watch;           /* e-mail -> remote_watch: remote users' watchers */
    struct event *kick;      /* starts the drains queued by kick_head */
    struct remote_watch *kick_head, *kick_tail;
    int reads_running; /* drains on fibers now */
    uint64_t clock;    /* moves when a watcher's ILN lines begin (conn.iln_at, iln_one_at) */
    /* rows_here resolves into this, then keeps exactly what it found */
    struct watcher_here *scratch;
    size_t scratch_cap;
    /* Changes whose watchers could not be read (the database away): tried
     * again every PRESENCE_RETRY_MS while any is left (on_retry). */
    struct event *retry;
    msnd_server *retry_s;
    unsigned retry_idle; /* passes skipped since the database was known away */
};

/* How often changes not yet told for want of the database are tried
 * again: the watchers converge within this of the database's return. */
#define PRESENCE_RETRY_MS 1000
#define PRESENCE_RETRY_IDLE 5

presence *presence_new(void) {
    presence *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->online = strmap_new();
    p->remote = strmap_new();
    p->watch = strmap_new();
    p->online_version = 1;
    if (!p->online || !p->remote || !p->watch) {
        strmap_free(p->online);
        strmap_free(p->remote);
        strmap_free(p->watch);
        free(p);
        return NULL;
    }
    return p;
}

static void free_remote(const char *key, void *value, void *ctx) {
    (void)key;
    (void)ctx;
    free(value);
}

static void watch_free(struct remote_watch *w);

static void free_watch(const char *key, void *value, void *ctx) {
    (void)key;
    (void)ctx;
    watch_free(value);
}

void presence_free(presence *p) {
    if (!p) return;
    strmap_free(p->online);
    strmap_each(p->remote, free_remote, NULL);
    strmap_free(p->remote);
    strmap_each(p->watch, free_watch, NULL);
    strmap_free(p->watch);
    if (p->kick) event_free(p->kick);
    if (p->retry) event_free(p->retry);
    free(p->scratch);
    free(p);
}

conn *presence_find(presence *p, const char *email) {
    conn *c = strmap_get(p->online, email);
    return (c && !c->closing) ? c : NULL;
}

conn *presence_add(presence *p, conn *c) {
    int ok;
    conn *old = strmap_put(p->online, c->email, c, &ok);
    p->online_version++;
    return ok == 0 ? old : NULL;
}

void presence_remove(presence *p, conn *c) {
    if (strmap_get(p->online, c->email) != c) return;
    strmap_del(p->online, c->email);
    p->online_version++;
}

size_t presence_count(const presence *p) { return strmap_count(p->online); }

static conn *online_watcher(msnd_server *s, const char *email) {
    conn *w = presence_find(s->presence, email);
    return (w && w->state == NS_AUTH) ? w : NULL;
}

static void send_state(conn *to, const conn *who, int visible) {
    if (visible) conn_cmd(to, "NLN", trid_none(), msnp_status_code(who->status), who->email, who->name, NULL);
    else conn_cmd(to, "FLN", trid_none(), who->email, NULL);
}

/* Who sees a user's changes: every watcher (a user with it on FL) with the
 * verdict of the user's AL/BL/BLP, read from the store in one query and
 * valid while store_generation_of the user is unchanged (a change to its
 * rows or its watchers' entries for it, ours or another process's, drops
 * it), so a change costs no query. The
 * watchers logged in here are resolved to their connections as well,
 * valid while nobody logged in or out here (online_version), so a change
 * costs no hash look-up per watcher either, and one whose watchers are
 * mostly on other nodes of a cluster walks only the few that are here.
 * One format serves this node's users (kept with the connection) and
 * other nodes' users (remote_watch below). Only rows up to
 * WATCHERS_MAX_BYTES are kept, so a session's memory stays small; longer
 * ones are read from the store every time. */
#define WATCHERS_MAX_BYTES 8192

typedef struct watcher_here {
    conn *c;
    uint8_t allowed;
} watcher_here;

struct watcher_rows {
    int64_t uid;             /* whose watchers; 0: not known (the rows came from a peer's list) */
    uint64_t generation;     /* store_generation_of uid when read */
    uint64_t online_version; /* presence's online_version of `here`; 0: not resolved */
    size_t n, used, cap;
    char *pool; /* n rows: allowed (1 or 0) byte, then the NUL-terminated e-mail */
    size_t nhere, here_cap;
    watcher_here *here; /* the watchers logged in here, no room kept for the
                         * others (on a cluster's node most of n) */
    int failed;         /* out of memory while reading */
    int told_peers;     /* a local user's rows went to the peers with a line (peering.h) */
};
typedef struct watcher_rows watcher_rows;

static void rows_clear(watcher_rows *r) {
    free(r->pool);
    free(r->here);
    memset(r, 0, sizeof *r);
}

static void collect_row(const store_peer *p, void *arg) {
    watcher_rows *r = arg;
    size_t len = strlen(p->email) + 2;
    if (r->failed) return;
    char *pool = msnkit_grow(r->pool, &r->cap, r->used + len, 1, 256);
    if (!pool) {
        r->failed = 1;
        return;
    }
    r->pool = pool;
    r->pool[r->used] = privacy_may_see(p->blp_allow, p->in_al, p->in_bl) ? 1 : 0;
    memcpy(r->pool + r->used + 1, p->email, len - 1);
    r->used += len;
    r->n++;
}

static void rows_fit(watcher_rows *r) {
    if (r->cap > r->used) { /* keep only what the rows use */
        char *fit = realloc(r->pool, r->used ? r->used : 1);
        if (fit) {
            r->pool = fit;
            r->cap = r->used;
        }
    }
}

/* Current: nothing they were read from changed since. */
static int rows_current(store *st, const watcher_rows *r) { return r->generation == store_generation_of(st, r->uid); }

/* Read the watchers of uid into r (emptied first); generation is
 * store_generation_of uid from before the reads began. */
static store_rc rows_read(store *st, int64_t uid, uint64_t generation, watcher_rows *r) {
    rows_clear(r);
    r->uid = uid;
    r->generation = generation;
    store_rc rc = store_watchers_each(st, uid, collect_row, r);
    if (rc == STORE_OK && r->failed) rc = STORE_ERROR;
    if (rc != STORE_OK) {
        int oom = r->failed;
        rows_clear(r);
        r->failed = oom;
        return rc;
    }
    rows_fit(r);
    return STORE_OK;
}

/* c's rows when current, else from c's cached login snapshot, which
 * answers without waiting for the database (store_watchers_cached); NULL
 * when neither (presence_announce then reads them). */
static watcher_rows *rows_now(msnd_server *s, conn *c, uint64_t gen) {
    watcher_rows *r = c->watchers;
    /* an account deleted meanwhile has no rows to read: those known before
     * are who still shows it online */
    if (r && (r->generation == gen || c->account_gone)) return r;
    presence_forget(c);
    if (!(r = calloc(1, sizeof *r))) return NULL;
    r->uid = c->uid;
    r->generation = gen;
    if (!store_watchers_cached(s->store, c->uid, collect_row, r) || r->failed) {
        rows_clear(r);
        free(r);
        return NULL;
    }
    rows_fit(r);
    c->watchers = r;
    return r;
}

/* The watchers the rows allow, as a peer line carries them: e-mails joined
 * by commas, "-" for none. -1 when they do not fit in cap. */
static long rows_list(const watcher_rows *r, char *buf, size_t cap) {
    size_t len = 0;
    const char *e = r->pool;
    for (size_t i = 0; i < r->n; i++) {
        size_t el = strlen(e + 1);
        if (e[0]) {
            if (len + el + 2 > cap) return -1;
            if (len) buf[len++] = ',';
            memcpy(buf + len, e + 1, el);
            len += el;
        }
        e += el + 2;
    }
    if (!len) {
        if (cap < 2) return -1;
        buf[len++] = '-';
    }
    buf[len] = '\0';
    return (long)len;
}

/* Rows from such a list (every one allowed), valid from generation (the
 * store's, for every account: whose they are is not known) on. */
static int rows_from_list(watcher_rows *r, const char *list, uint64_t generation) {
    memset(r, 0, sizeof *r);
    r->generation = generation;
    if (strcmp(list, "-") == 0) return 0;
    size_t len = strlen(list), n = 1;
    for (size_t i = 0; i < len; i++) n += list[i] == ',';
    if (!(r->pool = malloc(len + n + 1))) return -1;
    char *o = r->pool;
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t el = comma ? (size_t)(comma - p) : strlen(p);
        *o++ = 1;
        memcpy(o, p, el);
        o += el;
        *o++ = '\0';
        if (!comma) break;
        p = comma + 1;
    }
    r->n = n;
    r->used = r->cap = (size_t)(o - r->pool);
    return 0;
}

/* The rows' watchers logged in here (not closing, logged in); NULL with
 * *n = 0 when there are none or memory ran out. */
static const watcher_here *rows_here(presence *p, watcher_rows *r, size_t *n) {
    if (r->online_version != p->online_version) {
        r->online_version = 0;
        r->nhere = 0;
        watcher_here *found = r->n ? msnkit_grow(p->scratch, &p->scratch_cap, r->n, sizeof *found, 64) : p->scratch;
        if (r->n && !found) {
            LOGE("presence fan-out failed", "error=\"%s\"", "out of memory");
            *n = 0;
            return NULL;
        }
        p->scratch = found;
        size_t k = 0;
        const char *e = r->pool;
        for (size_t i = 0; i < r->n; i++) {
            conn *c = strmap_get(p->online, e + 1);
            if (c) found[k++] = (watcher_here){c, (uint8_t)e[0]};
            e += strlen(e + 1) + 2;
        }
        if (k > r->here_cap) {
            watcher_here *h = realloc(r->here, k * sizeof *h);
            if (!h) {
                LOGE("presence fan-out failed", "error=\"%s\"", "out of memory");
                *n = 0;
                return NULL;
            }
            r->here = h;
            r->here_cap = k;
        }
        if (k) memcpy(r->here, found, k * sizeof *found);
        r->nhere = k;
        r->online_version = p->online_version;
    }
    *n = r->nhere;
    return r->here;
}

/* A watcher hears of changes once it has set its first status: the ILN
 * lines of that CHG tell it everyone's state as of then, so a line sent
 * before would be told twice (and, sent late, after the ILN). */
static int here_online(const conn *w) { return !w->closing && w->state == NS_AUTH && w->chg_seen; }

/* A fan-out about user `about` (0: a user of another node, whose ADD FL
 * ILN marks remote_told keeps) that began at clock `since` (before a read
 * that may have waited) skips a watcher whose first ILN lines, or whose
 * ADD FL ILN about that user, are being read or began after it: those
 * lines tell the state then, so this one would tell it twice, or late. */
static int told_by_iln(const conn *w, uint64_t since, int64_t about) {
    if (w->iln_reading || w->iln_at > since) return 1;
    return about && w->iln_one_uid == about && (w->iln_one_reading || w->iln_one_at > since);
}

/* The NLN (visible) or FLN line of a user, formatted once for all its
 * watchers. -1 if it cannot be (logged). */
static long state_line(char *buf, size_t cap, int visible, msnp_status st, const char *email, const char *name) {
    msnp_str params[3] = {msnp_str_c(msnp_status_code(st)), msnp_str_c(email), msnp_str_c(name)};
    long len = visible ? msnp_write_cmd(buf, cap, "NLN", 0, 0, params, 3)
                       : msnp_write_cmd(buf, cap, "FLN", 0, 0, params + 1, 1);
    if (len < 0) LOGE("cannot format presence line", "user=%s", email);
    return len;
}

#define STATE_LINE_MAX 1024 /* NLN status e-mail name: well under this */

static void rows_free(watcher_rows *r) {
    if (!r) return;
    rows_clear(r);
    free(r);
}

void presence_forget(conn *c) {
    rows_free(c->watchers);
    c->watchers = NULL;
}

static void retry_arm(msnd_server *s);

/* c's change could not be told (its watchers not read): its watchers hear
 * its status as it is then once they can be read (on_retry). */
static void announce_later(msnd_server *s, conn *c) {
    if (c->closing || c->state != NS_AUTH) return; /* its last FLN went where it could */
    c->announce_pending = 1;
    retry_arm(s);
}

void presence_announce(msnd_server *s, conn *c, msnp_status before) {
    msnp_status st = c->status; /* the status the line tells */
    int was_visible = privacy_status_visible(before), is_visible = privacy_status_visible(st);
    if (!was_visible && !is_visible) return;
    uint64_t gen = store_generation_of(s->store, c->uid), since = s->presence->clock;
    /* Rows that are no longer current are still who was told c is online:
     * kept aside in case they cannot be read anew (the database away), so
     * that those watchers at least see FLN when c goes offline. A change
     * that keeps c visible is not sent to them (who may see c could have
     * changed since they were read), but they are kept for that FLN. */
    watcher_rows *stale = NULL;
    if (c->watchers && c->watchers->generation != gen && !c->account_gone) {
        stale = c->watchers;
        c->watchers = NULL;
    }
    watcher_rows *rows = rows_now(s, c, gen);
    int read_now = 1; /* 0: the watchers could not be read: told again later */
    /* The peers get the watchers with the line that makes c visible, and
     * again after they were read anew, so that they need not read them. */
    char list[PEERING_LIST_MAX];
    int with_list =
        is_visible && rows && (!was_visible || !rows->told_peers) && rows_list(rows, list, sizeof list) >= 0;
    if (with_list) rows->told_peers = 1;
    peering_presence_out(s, is_visible ? PEERING_ON : PEERING_OFF, c, NULL, with_list ? list : NULL);
    char line[STATE_LINE_MAX];
    long len = state_line(line, sizeof line, is_visible, st, c->email, c->name);
    if (len < 0) {
        rows_free(stale);
        return;
    }
    if (!rows) {
        rows = calloc(1, sizeof *rows);
        if (!rows || rows_read(s->store, c->uid, gen, rows) != STORE_OK) {
            LOGE("presence fan-out failed", "user=%s error=\"%s\"%s%s", c->email,
                 !rows || rows->failed ? "out of memory" : store_errmsg(s->store),
                 stale && !is_visible ? " fallback=\"watchers known before\"" : "",
                 c->closing || c->state != NS_AUTH ? "" : " retry=\"when the watchers can be read\"");
            free(rows);
            read_now = 0;
            announce_later(s, c);
            if (!stale) return;
            if (is_visible) { /* kept for the FLN of a later change, still not current */
                presence_forget(c);
                c->watchers = stale;
                return;
            }
            rows = stale; /* FLN to those, rather than to nobody */
            stale = NULL;
        }
        presence_forget(c); /* rows another fan-out of c kept while this one read (on a fiber) */
        c->watchers = rows;
        /* The read may have waited (on a fiber) while c changed status or
         * left: that change told the watchers already, and this NLN after
         * it would show c as it no longer is (online for good, after its
         * FLN). */
        if (is_visible && c->status != st) {
            rows_free(stale);
            return;
        }
    }
    rows_free(stale);
    if (read_now) c->announce_pending = 0; /* told as it is now */
    size_t n;
    const watcher_here *h = rows_here(s->presence, rows, &n);
    for (size_t i = 0; i < n; i++)
        if (h[i].allowed && h[i].c != c && here_online(h[i].c) && !told_by_iln(h[i].c, since, c->uid))
            conn_send(h[i].c, line, (size_t)len);
    if (rows->used > WATCHERS_MAX_BYTES) presence_forget(c); /* too many to keep */
}

typedef struct initial_ctx {
    msnd_server *s;
    conn *c;
    msnd_trid trid;
    const char *only; /* one e-mail, or NULL for all */
} initial_ctx;

static void remote_told(presence *p, const char *email, const conn *c);

/* Watcher `email` was just sent an ILN about a user: make sure the user's
 * kept rows r name it as allowed. Rows read before it added the user (the
 * user's status unchanged since) would leave it out, and they are all
 * there is to tell when the user's account is deleted (its rows in the
 * store are gone by then), or, for a user of another node, when that user
 * leaves while the database cannot be read: without this, that watcher
 * would keep showing the user online. Any other fan-out reads the rows
 * anew anyway, as the added watcher moved the user's generation. */
static void rows_note_told(watcher_rows *r, const char *email) {
    if (!r) return; /* none kept (over WATCHERS_MAX_BYTES): read each time */
    char *e = r->pool;
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(e + 1, email) == 0) {
            e[0] = 1;
            r->online_version = 0; /* the resolved copy has the old verdict */
            return;
        }
        e += strlen(e + 1) + 2;
    }
    size_t len = strlen(email) + 2;
    if (r->used + len > WATCHERS_MAX_BYTES) return;
    char *pool = msnkit_grow(r->pool, &r->cap, r->used + len, 1, 256);
    if (!pool) return;
    r->pool = pool;
    r->pool[r->used] = 1;
    memcpy(r->pool + r->used + 1, email, len - 1);
    r->used += len;
    r->n++;
    r->online_version = 0;
}

static void initial_one(const store_peer *p, void *arg) {
    initial_ctx *x = arg;
    if (x->only && strcmp(x->only, p->email) != 0) return;
    conn *w = online_watcher(x->s, p->email);
    if (!w) { /* perhaps on another node of the cluster */
        remote_user *r = strmap_get(x->s->presence->remote, p->email);
        if (r && privacy_may_see(p->blp_allow, p->in_al, p->in_bl)) {
            conn_cmd(x->c, "ILN", x->trid, msnp_status_code(r->status), p->email, r->name, NULL);
            remote_told(x->s->presence, p->email, x->c);
        }
        return;
    }
    if (w == x->c || !privacy_status_visible(w->status)) return;
    if (!privacy_may_see(p->blp_allow, p->in_al, p->in_bl)) return;
    conn_cmd(x->c, "ILN", x->trid, msnp_status_code(w->status), w->email, w->name, NULL);
    rows_note_told(w->watchers, x->c->email);
}

void presence_initial(msnd_server *s, conn *c, msnd_trid trid) {
    initial_ctx x = {s, c, trid, NULL};
    c->iln_at = ++s->presence->clock;
    c->iln_reading = 1;
    if (store_contacts_each(s->store, c->uid, initial_one, &x) != STORE_OK)
        LOGE("initial presence failed", "user=%s error=\"%s\"", c->email, store_errmsg(s->store));
    c->iln_reading = 0;
}

void presence_initial_one(msnd_server *s, conn *c, int64_t contact_id, const char *contact_email, msnd_trid trid) {
    if (!c->chg_seen) return; /* the first CHG's ILN lines will tell it */
    initial_ctx x = {s, c, trid, contact_email};
    c->iln_one_uid = contact_id;
    c->iln_one_at = ++s->presence->clock;
    c->iln_one_reading = 1;
    if (store_contacts_each(s->store, c->uid, initial_one, &x) != STORE_OK)
        LOGE("initial presence failed", "user=%s error=\"%s\"", c->email, store_errmsg(s->store));
    c->iln_one_reading = 0;
}

int presence_allowed(msnd_server *s, int64_t owner_id, int owner_blp_allow, int64_t viewer_id) {
    int al = store_list_get(s->store, owner_id, MSNP_LIST_AL, viewer_id);
    int bl = store_list_get(s->store, owner_id, MSNP_LIST_BL, viewer_id);
    if (al < 0 || bl < 0) return -1;
    return privacy_may_see(owner_blp_allow, al, bl);
}

void presence_reevaluate_one(msnd_server *s, conn *c, int64_t contact_id, const char *contact_email,
                             int allowed_before) {
    if (!privacy_status_visible(c->status)) return;
    peering_presence_out(s, PEERING_PRIV, c, contact_email, NULL);
    conn *w = online_watcher(s, contact_email);
    if (!w) return;
    uint64_t wid = w->id;
    if (store_list_get(s->store, contact_id, MSNP_LIST_FL, c->uid) != 1) return;
    int after = presence_allowed(s, c->uid, c->blp_allow, contact_id);
    if (after < 0 || after == allowed_before) return;
    /* Looked up again: the reads may wait (PostgreSQL), and a watcher that
     * left meanwhile has had its connection freed. A later session of it
     * reads its ILN afresh. */
    w = online_watcher(s, contact_email);
    if (!w || w->id != wid || w->closing) return;
    send_state(w, c, after);
}

typedef struct reeval_ctx {
    msnd_server *s;
    conn *c;
    int old_blp;
} reeval_ctx;

static void reeval_one(const store_peer *p, void *arg) {
    reeval_ctx *x = arg;
    conn *w = online_watcher(x->s, p->email);
    if (!w || w == x->c) return;
    int before = privacy_may_see(x->old_blp, p->in_al, p->in_bl);
    int after = privacy_may_see(p->blp_allow, p->in_al, p->in_bl);
    if (before != after) send_state(w, x->c, after);
}

void presence_reevaluate_all(msnd_server *s, conn *c, int old_blp_allow) {
    if (!privacy_status_visible(c->status)) return;
    peering_presence_out(s, PEERING_PRIV, c, NULL, NULL);
    reeval_ctx x = {s, c, old_blp_allow};
    if (store_watchers_each(s->store, c->uid, reeval_one, &x) != STORE_OK)
        LOGE("presence fan-out failed", "user=%s error=\"%s\"", c->email, store_errmsg(s->store));
}

void presence_rl_local(msnd_server *s, const char *contact, int added, const char *ver, const char *by,
                       const char *by_name) {
    conn *other = presence_find(s->presence, contact);
    if (!other || other->state != NS_AUTH || strcmp(other->email, by) == 0) return;
    if (added) conn_cmd(other, "ADD", trid_num(0), "RL", ver, by, by_name, NULL);
    else conn_cmd(other, "REM", trid_num(0), "RL", ver, by, NULL);
}

void presence_tell_rl(msnd_server *s, const conn *by, const char *contact, int added, uint32_t contact_ver) {
    char ver[16];
    snprintf(ver, sizeof ver, "%u", contact_ver);
    if (presence_find(s->presence, contact)) presence_rl_local(s, contact, added, ver, by->email, by->name);
    /* Every peer hears it even when contact is logged in here: the change
     * altered contact's watchers, which the peers may keep (below), and the
     * line reaches them ahead of contact's next change on the same link,
     * sooner than the store's own notice of the commit might. */
    peering_rl_out(s, contact, added, ver, by->email, by->name);
}

/* ---- users of the other nodes of a cluster ---- */

/* Watchers of the users of other nodes, kept as for local users (the
 * watcher rows above): a peer's ON/OFF/PRIV for a user whose rows are
 * current costs no query. Rows are read on a miss (the user, then its
 * watchers), valid while store_generation is unchanged (a change by another
 * node arrives as PRAGMA data_version or a PostgreSQL notification), kept
 * up to WATCHERS_MAX_BYTES and only while the user is visible on its node,
 * so the memory is bounded as for local sessions.
 *
 * A miss does not hold up the link the line came on: the line only queues
 * the fan-out with the user's entry, and the rows are read on a fiber of
 * their own (with a store that waits on fibers; at most REMOTE_READS_MAX
 * such reads at a time, the others queued in order) while the link goes on
 * with its next lines, other users' changes included. The queued fan-outs of one
 * user go out in the order they came, once the rows are there; a user's
 * changes therefore still reach the watchers in the order the peer sent
 * them. At most REMOTE_PENDING_MAX fan-outs wait per user: a link that
 * brings more waits for room, so a flood is held back by the link, as
 * before. PRIV (the user's AL/BL/BLP changed, committed before the peer sent
 * the line) is told from rows read after it came, never from older ones. */
#define REMOTE_PENDING_MAX 64
#define REMOTE_READS_MAX 4

typedef struct remote_fanout {
    struct remote_fanout *next;
    uint64_t seq;
    uint64_t since;     /* the presence clock when it came */
    msnp_status status; /* MSNP_STATUS_FLN: the user left */
    int recheck;        /* PRIV: tell the watchers not allowed FLN as well */
    char only[MSNP_MAX_EMAIL + 1];
    char name[]; /* "" for FLN */
} remote_fanout;

typedef struct room_waiter {
    struct room_waiter *next;
    fiber *f;
} room_waiter;

/* A watcher told the user's state with ILN while fan-outs were queued:
 * those queued before it (seq < before) are older news to it. */
typedef struct told_mark {
    uint64_t conn_id;
    uint64_t before;
} told_mark;

typedef struct remote_watch {
    msnd_server *s;
    watcher_rows rows; /* as for local users (above) */
    int have_rows;
    uint64_t read_for;          /* fan-outs with seq < read_for came before that read */
    uint64_t epoch, rows_epoch; /* changes told by a peer (RL): now, and when the rows were read */
    remote_fanout *head, *tail; /* waiting for rows, in order */
    size_t npending;
    uint64_t next_seq;
    int reading;                    /* a drain is running or about to */
    struct remote_watch *kick_next; /* in the list of drains to start */
    room_waiter *waiters;
    told_mark *told; /* only while fan-outs are queued */
    size_t ntold, told_cap;
    int retry;     /* a fan-out was dropped for want of the rows: on_retry tells the state now */
    int fln_known; /* the rows known before were told FLN since the last fan-out from current rows */
    int retried;   /* the fan-out queued now is a retry: its failure was logged before */
    /* A node holds one of these for every user online on another node
     * that has watchers here: the address takes only its own length. */
    char email[];
} remote_watch;

static void watch_free(remote_watch *w) {
    while (w->head) {
        remote_fanout *f = w->head;
        w->head = f->next;
        free(f);
    }
    rows_clear(&w->rows);
    free(w->told);
    free(w);
}

/* Drop the entry when nothing needs it: no fan-out waiting, no read
 * running, and the user not visible elsewhere (its next ON reads again). */
static void watch_release(presence *p, remote_watch *w) {
    if (w->reading || w->head || w->retry || strmap_get(p->remote, w->email)) return;
    if (strmap_get(p->watch, w->email) == w) strmap_del(p->watch, w->email);
    watch_free(w);
}

static int told_since(const remote_watch *w, const conn *c, uint64_t seq) {
    for (size_t i = 0; i < w->ntold; i++)
        if (w->told[i].conn_id == c->id) return w->told[i].before > seq;
    return 0;
}

/* NLN (or FLN for MSNP_STATUS_FLN) to the watchers logged in here that the
 * user allows (with recheck, FLN to the others too); only: to that one.
 * seq: the fan-out's place in the queue, for the ILN marks (UINT64_MAX:
 * it was not queued); since: the presence clock when it came. */
static void watch_tell(remote_watch *w, msnp_status st, const char *name, const char *only, int recheck, uint64_t seq,
                       uint64_t since) {
    size_t n;
    const watcher_here *h = rows_here(w->s->presence, &w->rows, &n);
    char nln[STATE_LINE_MAX], fln[STATE_LINE_MAX];
    long nln_len = -1, fln_len = -1;
    for (size_t i = 0; i < n; i++) {
        conn *c = h[i].c;
        if (!here_online(c) || (only && only[0] && strcmp(only, c->email) != 0)) continue;
        /* A PRIV is told whatever the ILN said: that ILN may have been read
         * before the privacy change it brings was committed. */
        if (!recheck && (told_by_iln(c, since, 0) || (w->ntold && told_since(w, c, seq)))) continue;
        if (h[i].allowed && st != MSNP_STATUS_FLN) {
            if (nln_len < 0 && (nln_len = state_line(nln, sizeof nln, 1, st, w->email, name)) < 0) return;
            conn_send(c, nln, (size_t)nln_len);
        } else if (h[i].allowed || recheck) {
            if (fln_len < 0 && (fln_len = state_line(fln, sizeof fln, 0, st, w->email, name)) < 0) return;
            conn_send(c, fln, (size_t)fln_len);
        }
    }
}

/* c was told email's state with ILN: the fan-outs queued so far (waiting
 * for the watchers' read) carry nothing newer, so they skip c. Out of
 * memory, c may hear a line twice, as before. The rows kept for email name
 * c from now on (rows_note_told), so that its FLN reaches c even when it
 * comes while the database cannot be read. */
static void remote_told(presence *p, const char *email, const conn *c) {
    remote_watch *w = strmap_get(p->watch, email);
    if (!w) return;
    rows_note_told(&w->rows, c->email);
    if (!w->head) return;
    for (size_t i = 0; i < w->ntold; i++)
        if (w->told[i].conn_id == c->id) {
            w->told[i].before = w->next_seq;
            return;
        }
    told_mark *t = msnkit_grow(w->told, &w->told_cap, w->ntold + 1, sizeof *t, 4);
    if (!t) return;
    w->told = t;
    w->told[w->ntold++] = (told_mark){c->id, w->next_seq};
}

/* The rows may serve f: read after f came, or current and f no PRIV. */
static int rows_serve(remote_watch *w, const remote_fanout *f) {
    if (!w->have_rows) return 0;
    if (f->seq < w->read_for) return 1;
    return !f->recheck && w->rows_epoch == w->epoch && rows_current(w->s->store, &w->rows);
}

/* Read the user's watchers (two queries: the user, then who watches it).
 * On a fiber these wait for the database; fan-outs queued meanwhile wait
 * for the next turn of watch_drain. */
static void watch_read(remote_watch *w) {
    store *st = w->s->store;
    uint64_t gen = store_generation(st), read_for = w->next_seq, epoch = w->epoch;
    watcher_rows rows = {0};
    store_user u;
    store_rc rc = store_user_get(st, w->email, &u);
    if (rc == STORE_OK) {
        /* Whose e-mail it is changes only with a new or deleted account,
         * which moves every account's generation. */
        rc = rows_read(st, u.id, store_generation_of(st, u.id), &rows);
    } else if (rc == STORE_NOTFOUND) { /* unknown here: nobody to tell */
        rc = STORE_OK;
        rows.generation = gen;
    }
    w->have_rows = 0;
    w->read_for = read_for;
    if (rc != STORE_OK) {
        /* the rows read before stay, for the FLN of a user who leaves
         * meanwhile (watch_drain) */
        if (w->retried)
            LOGD("presence fan-out still waiting for the database", "user=%s error=\"%s\"", w->email,
                 rows.failed ? "out of memory" : store_errmsg(st));
        else
            LOGE("presence fan-out failed", "user=%s error=\"%s\"%s", w->email,
                 rows.failed ? "out of memory" : store_errmsg(st),
                 w->rows.pool ? " fallback=\"watchers known before\" for an FLN" : "");
        return;
    }
    rows_clear(&w->rows);
    w->rows = rows;
    w->have_rows = 1;
    w->rows_epoch = epoch;
}

/* Send the queued fan-outs in order, reading the rows whenever they cannot
 * serve the next one. A fan-out whose read failed is dropped (logged), as a
 * failed query dropped it before. */
static void watch_drain(remote_watch *w) {
    while (w->head) {
        remote_fanout *f = w->head;
        if (!rows_serve(w, f)) {
            watch_read(w);
            /* Failed: every fan-out that came before this read goes; one
             * saying the user left goes to the watchers known before, so
             * that they do not keep it online (as for a local user). */
            while (!w->have_rows && w->head && w->head->seq < w->read_for) {
                remote_fanout *g = w->head;
                if (g->status == MSNP_STATUS_FLN && w->rows.pool) {
                    if (!w->fln_known) watch_tell(w, g->status, g->name, g->only, 0, g->seq, g->since);
                    w->fln_known = 1; /* once: a retry that fails again does not repeat it */
                    w->retry = 0;     /* nor is a change dropped before it told now */
                } else if (!g->only[0] && !(g->status == MSNP_STATUS_FLN && w->fln_known)) {
                    /* the user's state as it is then goes to the watchers
                     * read once they can be (on_retry) */
                    w->retry = 1;
                    retry_arm(w->s);
                }
                w->head = g->next;
                w->npending--;
                free(g);
            }
            if (!w->head) w->tail = NULL;
            continue;
        }
        watch_tell(w, f->status, f->name, f->only, f->recheck, f->seq, f->since);
        if (!f->only[0]) w->retry = w->fln_known = w->retried = 0; /* what was dropped before is older than this */
        w->head = f->next;
        if (!w->head) w->tail = NULL;
        w->npending--;
        free(f);
        for (room_waiter *r = w->waiters; r; r = r->next) fiber_wake(r->f);
        w->waiters = NULL;
    }
    if (w->rows.used > WATCHERS_MAX_BYTES) { /* too long to keep */
        rows_clear(&w->rows);
        w->have_rows = 0;
    }
    free(w->told); /* nothing queued is left for them to skip */
    w->told = NULL;
    w->ntold = w->told_cap = 0;
    w->reading = 0;
    watch_release(w->s->presence, w);
}

static void drain_job(void *arg) {
    remote_watch *w = arg;
    msnd_server *s = w->s;
    presence *p = s->presence;
    watch_drain(w); /* may free w */
    p->reads_running--;
    if (p->kick_head) event_active(p->kick, EV_TIMEOUT, 0);
    else server_maybe_exit(s);
}

/* On the loop's stack: start queued drains, each on a fiber of its own,
 * at most REMOTE_READS_MAX at a time (each holds a database connection
 * while it reads; the rest wait their turn here instead of in the store). */
static void kick_drains(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    presence *p = arg;
    while (p->kick_head && p->reads_running < REMOTE_READS_MAX) {
        remote_watch *w = p->kick_head;
        p->kick_head = w->kick_next;
        if (!p->kick_head) p->kick_tail = NULL;
        w->kick_next = NULL;
        p->reads_running++;
        if (fiber_run(w->s->base, drain_job, NULL, w) < 0) drain_job(w); /* no fiber: the blocking way */
    }
}

static void start_drain(msnd_server *s, remote_watch *w) {
    presence *p = s->presence;
    w->reading = 1;
    if (!s->fibers) { /* the store answers in place */
        watch_drain(w);
        return;
    }
    if (!p->kick && !(p->kick = event_new(s->base, -1, 0, kick_drains, p))) {
        watch_drain(w); /* cannot defer: read here, waiting */
        return;
    }
    if (p->kick_tail) p->kick_tail->kick_next = w;
    else p->kick_head = w;
    p->kick_tail = w;
    event_active(p->kick, EV_TIMEOUT, 0);
}

/* Tell this node's watchers of a remote user: at once when its rows are
 * current, else queued behind the read. */
static void remote_fan_out(msnd_server *s, const char *email, msnp_status st, const char *name, const char *only,
                           int recheck, const char *watchers) {
    presence *p = s->presence;
    if (s->shutting_down) return; /* every watcher here is being closed */
    remote_watch *w = strmap_get(p->watch, email);
    if (!w) {
        int ok;
        size_t len = strlen(email) + 1;
        w = calloc(1, sizeof *w + len);
        if (!w) return;
        w->s = s;
        memcpy(w->email, email, len);
        strmap_put(p->watch, w->email, w, &ok);
        if (ok < 0) {
            free(w);
            return;
        }
    }
    int adopted = 0;
    if (watchers && !w->head && !w->reading) { /* the peer's rows serve from now on */
        watcher_rows rows;
        if (rows_from_list(&rows, watchers, store_generation(s->store)) == 0) {
            rows_clear(&w->rows);
            w->rows = rows;
            w->have_rows = 1;
            w->read_for = w->next_seq;
            w->rows_epoch = w->epoch;
            adopted = 1;
        }
    }
    /* A list that came with the line serves that line whatever the store
     * says of its own freshness: store_generation moves at every call
     * while the database cannot tell (its notices not yet listened to, or
     * the database down), and the peer made the list as it sent the line. */
    remote_fanout probe = {.seq = w->next_seq, .recheck = recheck};
    if (adopted || (!w->head && !w->reading && rows_serve(w, &probe))) {
        watch_tell(w, st, name, only, recheck, UINT64_MAX, p->clock);
        if (!only || !only[0]) w->retry = w->fln_known = w->retried = 0;
        watch_release(p, w);
        return;
    }
    /* Room: a link bringing more than REMOTE_PENDING_MAX fan-outs for one
     * user waits until the read catches up. */
    while (w->npending >= REMOTE_PENDING_MAX && fiber_current()) {
        room_waiter r = {w->waiters, fiber_current()};
        w->waiters = &r;
        fiber_park();
        w = strmap_get(p->watch, email); /* still there: reading */
        if (!w) return;
    }
    remote_fanout *f = malloc(sizeof *f + strlen(name) + 1);
    if (!f) return;
    f->next = NULL;
    f->seq = w->next_seq++;
    f->since = p->clock;
    f->status = st;
    f->recheck = recheck;
    snprintf(f->only, sizeof f->only, "%s", only ? only : "");
    memcpy(f->name, name, strlen(name) + 1);
    if (w->tail) w->tail->next = f;
    else w->head = f;
    w->tail = f;
    w->npending++;
    if (!w->reading) start_drain(s, w);
}

void presence_rl_remote(msnd_server *s, const char *contact, int added, const char *ver, const char *by,
                        const char *by_name) {
    presence *p = s->presence;
    /* The change is committed: nothing of the contact's read or cached
     * before it is current now, though the store's own notice may come
     * later. What this node keeps of a contact logged in elsewhere is its
     * watchers (the remote watch's epoch) and at most a login snapshot,
     * which only a login here would read, by then checked by the store's
     * notice. (The other account the change touches, by's, is logged in on
     * the node that made it.) Every account was marked changed here before,
     * at each RL line: with list writes of other accounts going on, every
     * cached watcher list was read again at the next status change. */
    remote_watch *w = strmap_get(p->watch, contact);
    if (w) w->epoch++; /* its rows lack this change */
    conn *c = presence_find(p, contact);
    store_changed_elsewhere_of(s->store, c ? c->uid : 0);
    if (c) presence_forget(c);
    presence_rl_local(s, contact, added, ver, by, by_name);
}

static remote_user *remote_put(msnd_server *s, const ns_peer *from, const char *email, msnp_status st,
                               const char *name) {
    presence *p = s->presence;
    remote_user *r = strmap_get(p->remote, email);
    size_t need = strlen(name) + 1;
    if (!r || r->cap < need) {
        remote_user *n = malloc(sizeof *n + need);
        int ok;
        if (!n) return NULL;
        n->cap = need;
        strmap_put(p->remote, email, n, &ok);
        if (ok < 0) {
            free(n);
            return NULL;
        }
        free(r); /* replaced in the map */
        r = n;
    }
    r->from = from;
    r->status = st;
    memcpy(r->name, name, need);
    return r;
}

/* Record a remote user as visible and tell the watchers here. */
static void remote_visible(msnd_server *s, const ns_peer *from, const char *email, msnp_status st, const char *name,
                           const char *only, int recheck, const char *watchers) {
    if (!privacy_status_visible(st) || presence_find(s->presence, email)) return; /* ours wins */
    if (!remote_put(s, from, email, st, name)) return;
    remote_fan_out(s, email, st, name, only, recheck, watchers);
}

void presence_remote_on(msnd_server *s, const ns_peer *from, const char *email, msnp_status st, const char *name) {
    remote_visible(s, from, email, st, name, NULL, 0, NULL);
}

void presence_remote_on_with(msnd_server *s, const ns_peer *from, const char *email, msnp_status st, const char *name,
                             const char *watchers) {
    remote_visible(s, from, email, st, name, NULL, 0, watchers);
}

void presence_remote_recheck(msnd_server *s, const ns_peer *from, const char *email, msnp_status st, const char *name,
                             const char *only) {
    remote_visible(s, from, email, st, name, only, 1, NULL);
}

void presence_remote_off(msnd_server *s, const ns_peer *from, const char *email) {
    remote_user *r = strmap_get(s->presence->remote, email);
    if (!r || r->from != from) return;
    free(strmap_del(s->presence->remote, email));
    /* Rings this node's switchboard had that node make end with the
     * callee's session there. */
    if (s->sbreg) sbreg_rings_end(s->sbreg, email, 0);
    /* A newer login here ended that node's session, which then says OFF:
     * the session here is the one that counts, and while it is visible
     * its watchers keep seeing it. */
    const conn *here = presence_find(s->presence, email);
    if (here && privacy_status_visible(here->status)) return;
    remote_fan_out(s, email, MSNP_STATUS_FLN, "", NULL, 0, NULL);
}

typedef struct drop_ctx {
    const ns_peer *from;
    char (*emails)[MSNP_MAX_EMAIL + 1];
    size_t n, cap;
} drop_ctx;

static void collect_from(const char *key, void *value, void *arg) {
    drop_ctx *d = arg;
    const remote_user *r = value;
    if (r->from != d->from) return;
    void *e = msnkit_grow(d->emails, &d->cap, d->n + 1, sizeof *d->emails, 64);
    if (!e) return; /* those left over stay until the peer says OFF or comes back */
    d->emails = e;
    snprintf(d->emails[d->n++], sizeof d->emails[0], "%s", key);
}

void presence_remote_drop(msnd_server *s, const ns_peer *from) {
    /* strmap_each forbids changes to the map: collect, then remove. */
    drop_ctx d = {from, NULL, 0, 0};
    strmap_each(s->presence->remote, collect_from, &d);
    for (size_t i = 0; i < d.n; i++) presence_remote_off(s, from, d.emails[i]);
    free(d.emails);
}

size_t presence_remote_count(const presence *p) { return strmap_count(p->remote); }

int presence_busy(const presence *p) { return p && (p->reads_running > 0 || p->kick_head); }

const ns_peer *presence_remote_from(const presence *p, const char *email) {
    const remote_user *r = strmap_get(p->remote, email);
    return r ? r->from : NULL;
}

typedef struct visible_ctx {
    void (*fn)(conn *c, void *ctx);
    void *ctx;
} visible_ctx;

static void visit_visible(const char *key, void *value, void *arg) {
    (void)key;
    conn *c = value;
    visible_ctx *v = arg;
    if (!c->closing && c->state == NS_AUTH && privacy_status_visible(c->status)) v->fn(c, v->ctx);
}

long presence_peer_list(msnd_server *s, conn *c, char *buf, size_t cap) {
    watcher_rows *rows = rows_now(s, c, store_generation_of(s->store, c->uid));
    return rows ? rows_list(rows, buf, cap) : -1;
}

void presence_each_visible(presence *p, void (*fn)(conn *c, void *ctx), void *ctx) {
    visible_ctx v = {fn, ctx};
    strmap_each(p->online, visit_visible, &v);
}

static void visit_session(const char *key, void *value, void *arg) {
    (void)key;
    conn *c = value;
    visible_ctx *v = arg;
    if (!c->closing && c->state == NS_AUTH) v->fn(c, v->ctx);
}

void presence_each_session(presence *p, void (*fn)(conn *c, void *ctx), void *ctx) {
    visible_ctx v = {fn, ctx};
    strmap_each(p->online, visit_session, &v);
}

/* ---- changes not told for want of the database ---- */

static void on_retry(evutil_socket_t fd, short what, void *arg);

static void retry_arm(msnd_server *s) {
    presence *p = s->presence;
    if (s->shutting_down) return;
    if (!p->retry && !(p->retry = evtimer_new(s->base, on_retry, p))) return;
    p->retry_s = s;
    if (evtimer_pending(p->retry, NULL)) return;
    struct timeval tv = {PRESENCE_RETRY_MS / 1000, (PRESENCE_RETRY_MS % 1000) * 1000};
    evtimer_add(p->retry, &tv);
}

/* On a fiber of c's: read c's watchers; once they can be read, announce
 * c's status as it is now (NLN, or FLN if it went hidden meanwhile) to
 * them and to the peers (with the list), as a change from the other. */
static void job_announce_retry(void *arg) {
    conn *c = arg;
    msnd_server *s = c->srv;
    if (!c->announce_pending || c->closing || c->state != NS_AUTH) return;
    uint64_t gen = store_generation_of(s->store, c->uid);
    if (!c->watchers || c->watchers->generation != gen) {
        watcher_rows *rows = calloc(1, sizeof *rows);
        if (!rows || rows_read(s->store, c->uid, gen, rows) != STORE_OK) {
            LOGD("presence fan-out still waiting for the database", "user=%s", c->email);
            rows_free(rows);
            retry_arm(s);
            return;
        }
        if (c->closing) { /* it left while the rows were read: its FLN went out then */
            rows_free(rows);
            return;
        }
        presence_forget(c);
        c->watchers = rows;
    }
    int visible = privacy_status_visible(c->status);
    LOGI("presence told after the database came back", "user=%s status=%s", c->email, msnp_status_code(c->status));
    presence_announce(s, c, visible ? MSNP_STATUS_FLN : MSNP_STATUS_NLN);
}

typedef struct retry_ctx {
    conn **conns;
    size_t n, cap;
    char (*emails)[MSNP_MAX_EMAIL + 1];
    size_t ne, ecap;
    int left; /* could not be started now: another pass */
} retry_ctx;

static void collect_pending(const char *key, void *value, void *arg) {
    (void)key;
    conn *c = value;
    retry_ctx *x = arg;
    if (!c->announce_pending) return;
    conn **g = msnkit_grow(x->conns, &x->cap, x->n + 1, sizeof *g, 16);
    if (!g) {
        x->left = 1;
        return;
    }
    x->conns = g;
    x->conns[x->n++] = c;
}

static void collect_retry(const char *key, void *value, void *arg) {
    remote_watch *w = value;
    retry_ctx *x = arg;
    if (!w->retry) return;
    if (w->reading || w->head) { /* a read under way: its end says */
        x->left = 1;
        return;
    }
    void *e = msnkit_grow(x->emails, &x->ecap, x->ne + 1, sizeof *x->emails, 16);
    if (!e) {
        x->left = 1;
        return;
    }
    x->emails = e;
    snprintf(x->emails[x->ne++], sizeof x->emails[0], "%s", key);
}

/* Every PRESENCE_RETRY_MS while a change is left that its watchers could
 * not be told: this node's users' (their status now, on a fiber of each),
 * other nodes' users' (their state now, as a fan-out of the peer's line
 * would tell it). Collected first: the fan-outs change the maps. */
static void on_retry(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    presence *p = arg;
    msnd_server *s = p->retry_s;
    if (s->shutting_down) return;
    /* While every connection to the database is known lost, a retry would
     * only take the attempt to connect that a client's request could have
     * had (a failed one holds off the next for a while): wait for a request
     * or the store to connect again, trying anyway every
     * PRESENCE_RETRY_IDLE passes. */
    if (!store_reachable(s->store) && ++p->retry_idle < PRESENCE_RETRY_IDLE) {
        retry_arm(s);
        return;
    }
    p->retry_idle = 0;
    retry_ctx x = {0};
    strmap_each(p->online, collect_pending, &x);
    strmap_each(p->watch, collect_retry, &x);
    for (size_t i = 0; i < x.n; i++)
        if (conn_background(x.conns[i], job_announce_retry) != 0 && !x.conns[i]->closing) x.left = 1;
    for (size_t i = 0; i < x.ne; i++) {
        const char *email = x.emails[i];
        remote_watch *w = strmap_get(p->watch, email);
        if (!w || !w->retry) continue;
        w->retry = 0;
        w->retried = 1;
        const remote_user *r = strmap_get(p->remote, email);
        const conn *here = presence_find(p, email);
        if (here && privacy_status_visible(here->status)) { /* the session here is the one that counts */
            watch_release(p, w);
            continue;
        }
        if (r) remote_fan_out(s, email, r->status, r->name, NULL, 0, NULL);
        else remote_fan_out(s, email, MSNP_STATUS_FLN, "", NULL, 0, NULL);
    }
    free(x.conns);
    free(x.emails);
    if (x.left) retry_arm(s);
}
