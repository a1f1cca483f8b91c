/* Presence router and fan-out; see presence.h. */
#include "presence.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "privacy.h"
#include "strmap.h"

/* A visible user of another notification server (--ns-peers). */
typedef struct remote_user {
    const ns_peer *from; /* the peer link that told us */
    msnp_status status;
    size_t cap; /* bytes for name: a cluster holds one of these per user online elsewhere */
    char name[];
} remote_user;

struct presence {
    strmap *online;
    strmap *remote; /* e-mail -> remote_user */
};

presence *presence_new(void) {
    presence *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->online = strmap_new();
    p->remote = strmap_new();
    if (!p->online || !p->remote) {
        strmap_free(p->online);
        strmap_free(p->remote);
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

void presence_free(presence *p) {
    if (!p) return;
    strmap_free(p->online);
    strmap_each(p->remote, free_remote, NULL);
    strmap_free(p->remote);
    free(p);
}

conn *presence_find(presence *p, const char *email) {
    conn *c = strmap_get(p->online, email);
    return (c && !c->closing) ? c : NULL;
}

conn *presence_add(presence *p, conn *c) {
    int ok;
    conn *old = strmap_put(p->online, c->email, c, &ok);
    return ok == 0 ? old : NULL;
}

void presence_remove(presence *p, conn *c) {
    if (strmap_get(p->online, c->email) == c) strmap_del(p->online, c->email);
}

size_t presence_count(const presence *p) { return strmap_count(p->online); }

static conn *online_watcher(msnd_server *s, const char *email) {
    conn *w = presence_find(s->presence, email);
    return (w && w->state == NS_AUTH) ? w : NULL;
}

static void send_state(conn *to, const conn *who, int visible) {
    if (visible) conn_cmd(to, "NLN", 0, 0, msnp_status_code(who->status), who->email, who->name, NULL);
    else conn_cmd(to, "FLN", 0, 0, who->email, NULL);
}

/* The watchers a user's changes go to (those with the user on FL whom the
 * user's AL/BL/BLP allow), kept with the user's connection so that a status
 * change costs no query. Valid while store_generation is unchanged: any
 * change to the store, ours or another process's, drops it. Only lists up
 * to WATCHERS_MAX_BYTES are kept, so a session's memory stays small; longer
 * ones are read from the store every time. */
#define WATCHERS_MAX_BYTES 8192
struct watcher_rows {
    uint64_t generation;
    size_t n;
    size_t used; /* bytes of pool in use */
    char pool[]; /* n NUL-terminated e-mails */
};

void presence_forget(conn *c) {
    free(c->watchers);
    c->watchers = NULL;
}

typedef struct announce_ctx {
    msnd_server *s;
    conn *c;
    int was_visible, is_visible;
    struct watcher_rows *build; /* rows collected for the cache, or NULL */
    size_t cap;
} announce_ctx;

static void announce_to(announce_ctx *x, const char *email) {
    conn *w = online_watcher(x->s, email);
    if (!w || w == x->c) return;
    if (x->is_visible) send_state(w, x->c, 1);
    else if (x->was_visible) send_state(w, x->c, 0);
}

static void collect_watcher(announce_ctx *x, const char *email) {
    if (!x->build) return;
    size_t len = strlen(email) + 1;
    if (x->build->used + len > x->cap) { /* too many for the cache */
        free(x->build);
        x->build = NULL;
        return;
    }
    memcpy(x->build->pool + x->build->used, email, len);
    x->build->used += len;
    x->build->n++;
}

static void announce_one(const store_peer *p, void *arg) {
    announce_ctx *x = arg;
    if (!privacy_may_see(p->blp_allow, p->in_al, p->in_bl)) return;
    collect_watcher(x, p->email);
    announce_to(x, p->email);
}

void presence_announce(msnd_server *s, conn *c, msnp_status before) {
    announce_ctx x = {s, c, privacy_status_visible(before), privacy_status_visible(c->status), NULL, 0};
    if (!x.was_visible && !x.is_visible) return;
    peering_presence_out(s, x.is_visible ? PEERING_ON : PEERING_OFF, c, NULL);
    uint64_t gen = store_generation(s->store);
    struct watcher_rows *rows = c->watchers;
    if (rows && rows->generation == gen) {
        const char *e = rows->pool;
        for (size_t i = 0; i < rows->n; i++, e += strlen(e) + 1) announce_to(&x, e);
        return;
    }
    presence_forget(c);
    x.cap = WATCHERS_MAX_BYTES - sizeof *x.build;
    x.build = malloc(WATCHERS_MAX_BYTES);
    if (x.build) {
        x.build->generation = gen;
        x.build->n = x.build->used = 0;
    }
    if (store_watchers_each(s->store, c->uid, announce_one, &x) != STORE_OK) {
        LOGE("presence fan-out failed", "user=%s error=\"%s\"", c->email, store_errmsg(s->store));
        free(x.build);
        return;
    }
    if (!x.build) return;
    /* Keep only what the rows use. */
    struct watcher_rows *fit = realloc(x.build, sizeof *fit + x.build->used);
    c->watchers = fit ? fit : x.build;
}

typedef struct initial_ctx {
    msnd_server *s;
    conn *c;
    uint32_t trid;
    const char *only; /* one e-mail, or NULL for all */
} initial_ctx;

static void initial_one(const store_peer *p, void *arg) {
    initial_ctx *x = arg;
    if (x->only && strcmp(x->only, p->email) != 0) return;
    conn *w = online_watcher(x->s, p->email);
    if (!w) { /* perhaps on another node of the cluster */
        remote_user *r = strmap_get(x->s->presence->remote, p->email);
        if (r && privacy_may_see(p->blp_allow, p->in_al, p->in_bl))
            conn_cmd(x->c, "ILN", 1, x->trid, msnp_status_code(r->status), p->email, r->name, NULL);
        return;
    }
    if (w == x->c || !privacy_status_visible(w->status)) return;
    if (!privacy_may_see(p->blp_allow, p->in_al, p->in_bl)) return;
    conn_cmd(x->c, "ILN", 1, x->trid, msnp_status_code(w->status), w->email, w->name, NULL);
}

void presence_initial(msnd_server *s, conn *c, uint32_t trid) {
    initial_ctx x = {s, c, trid, NULL};
    if (store_contacts_each(s->store, c->uid, initial_one, &x) != STORE_OK)
        LOGE("initial presence failed", "user=%s error=\"%s\"", c->email, store_errmsg(s->store));
}

void presence_initial_one(msnd_server *s, conn *c, const char *contact_email, uint32_t trid) {
    initial_ctx x = {s, c, trid, contact_email};
    if (store_contacts_each(s->store, c->uid, initial_one, &x) != STORE_OK)
        LOGE("initial presence failed", "user=%s error=\"%s\"", c->email, store_errmsg(s->store));
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
    peering_presence_out(s, PEERING_PRIV, c, contact_email);
    conn *w = online_watcher(s, contact_email);
    if (!w) return;
    if (store_list_get(s->store, contact_id, MSNP_LIST_FL, c->uid) != 1) return;
    int after = presence_allowed(s, c->uid, c->blp_allow, contact_id);
    if (after < 0 || after == allowed_before) return;
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
    peering_presence_out(s, PEERING_PRIV, c, NULL);
    reeval_ctx x = {s, c, old_blp_allow};
    if (store_watchers_each(s->store, c->uid, reeval_one, &x) != STORE_OK)
        LOGE("presence fan-out failed", "user=%s error=\"%s\"", c->email, store_errmsg(s->store));
}

void presence_rl_local(msnd_server *s, const char *contact, int added, const char *ver, const char *by,
                       const char *by_name) {
    conn *other = presence_find(s->presence, contact);
    if (!other || other->state != NS_AUTH || strcmp(other->email, by) == 0) return;
    if (added) conn_cmd(other, "ADD", 1, 0, "RL", ver, by, by_name, NULL);
    else conn_cmd(other, "REM", 1, 0, "RL", ver, by, NULL);
}

void presence_tell_rl(msnd_server *s, const conn *by, const char *contact, int added, uint32_t contact_ver) {
    char ver[16];
    snprintf(ver, sizeof ver, "%u", contact_ver);
    if (presence_find(s->presence, contact)) presence_rl_local(s, contact, added, ver, by->email, by->name);
    else peering_rl_out(s, contact, added, ver, by->email, by->name); /* perhaps on another node */
}

/* ---- users of the other nodes of a cluster ---- */

typedef struct remote_ctx {
    msnd_server *s;
    const char *email, *name, *only;
    msnp_status status; /* FLN: tell everyone allowed that the user left */
    int recheck;        /* tell the ones not allowed FLN as well */
} remote_ctx;

static void remote_tell(const store_peer *p, void *arg) {
    remote_ctx *x = arg;
    if (x->only && strcmp(x->only, p->email) != 0) return;
    conn *w = online_watcher(x->s, p->email);
    if (!w) return;
    int allowed = privacy_may_see(p->blp_allow, p->in_al, p->in_bl);
    if (allowed && x->status != MSNP_STATUS_FLN)
        conn_cmd(w, "NLN", 0, 0, msnp_status_code(x->status), x->email, x->name, NULL);
    else if (allowed || x->recheck) conn_cmd(w, "FLN", 0, 0, x->email, NULL);
}

/* Tell this node's watchers of a remote user. The store says who has the
 * user on FL and what the user's privacy allows each of them. */
static void remote_fan_out(remote_ctx *x) {
    store_user u;
    if (store_user_get(x->s->store, x->email, &u) != STORE_OK) return; /* unknown here: nobody to tell */
    if (store_watchers_each(x->s->store, u.id, remote_tell, x) != STORE_OK)
        LOGE("presence fan-out failed", "user=%s error=\"%s\"", x->email, store_errmsg(x->s->store));
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
                           const char *only, int recheck) {
    if (!privacy_status_visible(st) || presence_find(s->presence, email)) return; /* ours wins */
    if (!remote_put(s, from, email, st, name)) return;
    remote_ctx x = {s, email, name, only, st, recheck};
    remote_fan_out(&x);
}

void presence_remote_on(msnd_server *s, const ns_peer *from, const char *email, msnp_status st, const char *name) {
    remote_visible(s, from, email, st, name, NULL, 0);
}

void presence_remote_recheck(msnd_server *s, const ns_peer *from, const char *email, msnp_status st, const char *name,
                             const char *only) {
    remote_visible(s, from, email, st, name, only, 1);
}

void presence_remote_off(msnd_server *s, const ns_peer *from, const char *email) {
    remote_user *r = strmap_get(s->presence->remote, email);
    if (!r || r->from != from) return;
    free(strmap_del(s->presence->remote, email));
    remote_ctx x = {s, email, "", NULL, MSNP_STATUS_FLN, 0};
    remote_fan_out(&x);
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
    if (d->n == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 64;
        void *e = realloc(d->emails, ncap * sizeof *d->emails);
        if (!e) return; /* those left over stay until the peer says OFF or comes back */
        d->emails = e;
        d->cap = ncap;
    }
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

const ns_peer *presence_remote_from(const presence *p, const char *email) {
    const remote_user *r = strmap_get(p->remote, email);
    return r ? r->from : NULL;
}

typedef struct visible_ctx {
    void (*fn)(const conn *c, void *ctx);
    void *ctx;
} visible_ctx;

static void visit_visible(const char *key, void *value, void *arg) {
    (void)key;
    const conn *c = value;
    visible_ctx *v = arg;
    if (!c->closing && c->state == NS_AUTH && privacy_status_visible(c->status)) v->fn(c, v->ctx);
}

void presence_each_visible(presence *p, void (*fn)(const conn *c, void *ctx), void *ctx) {
    visible_ctx v = {fn, ctx};
    strmap_each(p->online, visit_visible, &v);
}
