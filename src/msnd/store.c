/* store.c - the backend-neutral half of the store: picks the backend from
 * the database string, forwards each call of store.h to it, and decides
 * the list changes (ADD, REM, ADG) over the backend's change primitives,
 * so both backends apply one copy of those rules. */
#include "store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_pg(const char *db) {
    return strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0;
}

const char *store_sqlite_file(const char *db) {
    if (strstr(db, "://")) return NULL;
    return strncmp(db, "sqlite:", 7) == 0 ? db + 7 : db;
}

static store *open_db(const char *db, int upgrade, char *err, size_t errcap) {
    if (!db || !*db) {
        snprintf(err, errcap, "no database given");
        return NULL;
    }
    store *s;
    if (is_pg(db)) {
        s = store_pg_open(db, upgrade, err, errcap);
    } else {
        if (strncmp(db, "sqlite:", 7) == 0) db += 7;
        s = store_sqlite_open(db, upgrade, err, errcap);
    }
    if (s) s->sync_budget = STORE_LOGIN_CACHE_DEFAULT;
    return s;
}

store *store_open(const char *db, char *err, size_t errcap) { return open_db(db, 1, err, errcap); }

store *store_open_source(const char *db, char *err, size_t errcap) { return open_db(db, 0, err, errcap); }

void store_close(store *s) {
    if (!s) return;
    store_sync_cache_free(s);
    changemarks_free(&s->told_marks);
    s->ops->close(s);
}

const char *store_errmsg(store *s) { return s->err; }

const char *store_backend_name(const store *s) { return s->ops->name; }

int store_created(const store *s) { return s->created; }

int store_has_accounts(store *s) { return s->ops->has_accounts(s); }

int store_waits_on_fibers(const store *s) { return s->ops->waits_on_fibers; }

/* Scopes nest; only the outermost one reaches the backend. */
void store_read_begin(store *s) {
    if (!s || s->read_depth++ > 0) return;
    s->ops->read_begin(s);
}

void store_read_end(store *s) {
    if (!s || s->read_depth == 0) return;
    if (--s->read_depth == 0) s->ops->read_end(s);
}

/* The backend's own count plus the changes told: both only grow, so the
 * sum moves whenever either does. */
uint64_t store_generation(store *s) { return s->ops->generation(s) + s->told_marks.now; }

int store_reachable(store *s) { return s->ops->reachable ? s->ops->reachable(s) : 1; }

/* Two parts that each only grow for uid (the backend's, the changes told
 * of uid), so the sum moves when either does. */
uint64_t store_generation_of(store *s, int64_t uid) {
    if (uid < 1) return store_generation(s);
    uint64_t backend = s->ops->generation_of ? s->ops->generation_of(s, uid) : s->ops->generation(s);
    return backend + changemarks_of(&s->told_marks, uid);
}

void store_use_loop(store *s, struct event_base *base) {
    if (s->ops->use_loop) s->ops->use_loop(s, base);
}

void store_changed_elsewhere_of(store *s, int64_t uid) {
    if (uid > 0) changemarks_ids(&s->told_marks, uid, 0);
}

int store_watchers_cached(store *s, int64_t uid, store_peer_cb fn, void *ctx) {
    return store_sync_watchers(s, uid, fn, ctx);
}

size_t store_parse_ids(const char *text, int *ids, size_t cap) {
    size_t n = 0;
    const char *p = text;
    while (p && *p && n < cap) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) break;
        ids[n++] = (int)v;
        if (*end != ',') break;
        p = end + 1;
    }
    return n;
}

store_rc store_user_add(store *s, const char *email, const char *password, const char *name) {
    return s->ops->user_add(s, email, password, name);
}

store_rc store_user_passwd(store *s, const char *email, const char *password) {
    return s->ops->user_passwd(s, email, password);
}

store_rc store_user_del(store *s, const char *email) { return s->ops->user_del(s, email); }

store_rc store_user_get(store *s, const char *email, store_user *out) { return s->ops->user_get(s, email, out); }

store_rc store_user_get_id(store *s, int64_t id, store_user *out) { return s->ops->user_get_id(s, id, out); }
store_rc store_users_gone(store *s, const int64_t *ids, size_t n, store_id_cb fn, void *ctx) {
    return n ? s->ops->users_gone(s, ids, n, fn, ctx) : STORE_OK;
}

/* "[1,2,3]" (SQLite's json_each) or "{1,2,3}" (a PostgreSQL array) of n
 * ids, on the heap; NULL out of memory. */
char *store_id_list(const int64_t *ids, size_t n, char open, char close) {
    char *out = malloc(n * 21 + 3), *o = out;
    if (!out) return NULL;
    *o++ = open;
    for (size_t i = 0; i < n; i++) o += sprintf(o, "%s%lld", i ? "," : "", (long long)ids[i]);
    *o++ = close;
    *o = '\0';
    return out;
}

store_rc store_user_each(store *s, store_user_cb fn, void *ctx) { return s->ops->user_each(s, fn, ctx); }

store_rc store_set_name(store *s, int64_t uid, const char *name, uint32_t *ver) {
    return s->ops->set_name(s, uid, name, ver);
}

store_rc store_set_blp(store *s, int64_t uid, int allow, uint32_t *ver) { return s->ops->set_blp(s, uid, allow, ver); }

store_rc store_set_gtc(store *s, int64_t uid, int prompt, uint32_t *ver) {
    return s->ops->set_gtc(s, uid, prompt, ver);
}

store_rc store_list_each(store *s, int64_t owner, msnp_list list, store_entry_cb fn, void *ctx) {
    return s->ops->list_each(s, owner, list, fn, ctx);
}

long store_list_count(store *s, int64_t owner, msnp_list list) { return s->ops->list_count(s, owner, list); }

int store_list_get(store *s, int64_t owner, msnp_list list, int64_t contact) {
    return s->ops->list_get(s, owner, list, contact);
}

/* ---- list changes: the rules of store.h, decided once for every backend.
 * Each runs inside one change transaction (store_impl.h), so its checks
 * and its writes see no other writer in between. ---- */

/* A change that failed in a way the backend says may pass when run again
 * (PostgreSQL: deadlock or serialization failure) runs again from the
 * start, up to this many times in all. */
#define CHANGE_ATTEMPTS 4

/* The version bumps of a list change that added or removed an entry: the
 * owner's, and for FL the contact's (its RL changed). For AL/BL the
 * contact's when it has the owner on its FL: whether the owner allows it
 * decides whether the BPR lines of its FL show the owner's phone numbers
 * (contact_ver stays 0: no RL notice follows). */
static int entry_bumps(store *s, const store_list_op *op, store_list_result *r) {
    if (s->ops->tx_bump(s, op->owner, &r->owner_ver) != 0) return -1;
    if (op->owner == op->contact) {
        if (op->list == MSNP_LIST_FL) r->contact_ver = r->owner_ver;
        return 0;
    }
    if (op->list != MSNP_LIST_FL) {
        long reads = s->ops->tx_entry_has(s, op->contact, MSNP_LIST_FL, op->owner);
        uint32_t ver;
        if (reads < 0) return -1;
        return reads ? s->ops->tx_bump(s, op->contact, &ver) : 0;
    }
    return s->ops->tx_bump(s, op->contact, &r->contact_ver);
}

/* STORE_NO_GROUP / STORE_OK, or STORE_ERROR. */
static store_rc check_group(store *s, int64_t owner, int gid) {
    long ex = s->ops->tx_group_exists(s, owner, gid);
    if (ex < 0) return STORE_ERROR;
    return ex == 0 ? STORE_NO_GROUP : STORE_OK;
}

/* The start both list changes share: the change opened, the group (FL
 * with a group id) checked, and whether the entry is there. STORE_OK with
 * the change open and *present set; otherwise the change is over and the
 * result is what to return. */
static store_rc list_change_open(store *s, const store_list_op *op, store_list_result *r, int *gid, long *present) {
    const store_ops *o = s->ops;
    memset(r, 0, sizeof *r);
    *gid = op->list == MSNP_LIST_FL ? op->gid : -1;
    /* the users rows entry_bumps may bump: the owner's and the contact's */
    if (o->change_begin(s, op->owner, op->contact) != 0) return STORE_ERROR;
    if (*gid >= 0) {
        store_rc g = check_group(s, op->owner, *gid);
        if (g != STORE_OK) return o->change_end(s, g);
    }
    *present = o->tx_entry_has(s, op->owner, op->list, op->contact);
    if (*present < 0) return o->change_end(s, STORE_ERROR);
    return STORE_OK;
}

static store_rc list_add_once(store *s, const store_list_op *op, store_list_result *r) {
    const store_ops *o = s->ops;
    int gid;
    long present;
    store_rc rc = list_change_open(s, op, r, &gid, &present);
    if (rc != STORE_OK) return rc;
    if (present) {
        if (gid < 0) return o->change_end(s, STORE_EXISTS);
        /* MSNP7: an FL entry joins one more group. */
        long in = o->tx_member_count(s, op->owner, op->contact, gid);
        long n = o->tx_member_count(s, op->owner, op->contact, -1);
        if (in < 0 || n < 0) return o->change_end(s, STORE_ERROR);
        if (in > 0) return o->change_end(s, STORE_EXISTS);
        if (n >= STORE_MAX_ENTRY_GROUPS) return o->change_end(s, STORE_TOO_MANY_GROUPS);
        if (o->tx_member_insert(s, op->owner, op->contact, gid) != 0 || o->tx_bump(s, op->owner, &r->owner_ver) != 0)
            return o->change_end(s, STORE_ERROR);
        return o->change_end(s, STORE_OK);
    }
    if (op->list != MSNP_LIST_FL) {
        msnp_list other = op->list == MSNP_LIST_AL ? MSNP_LIST_BL : MSNP_LIST_AL;
        long opposite = o->tx_entry_has(s, op->owner, other, op->contact);
        if (opposite < 0) return o->change_end(s, STORE_ERROR);
        if (opposite) return o->change_end(s, STORE_OPPOSITE);
    }
    long count = o->tx_entry_count(s, op->owner, op->list);
    if (count < 0) return o->change_end(s, STORE_ERROR);
    if (count >= op->limit) return o->change_end(s, STORE_FULL);
    if (o->tx_entry_insert(s, op->owner, op->list, op->contact, op->name ? op->name : "") != 0)
        return o->change_end(s, STORE_ERROR);
    if (op->list == MSNP_LIST_FL && o->tx_member_insert(s, op->owner, op->contact, gid >= 0 ? gid : 0) != 0)
        return o->change_end(s, STORE_ERROR);
    if (entry_bumps(s, op, r) != 0) return o->change_end(s, STORE_ERROR);
    r->entry_changed = 1;
    return o->change_end(s, STORE_OK);
}

static store_rc list_remove_once(store *s, const store_list_op *op, store_list_result *r) {
    const store_ops *o = s->ops;
    int gid;
    long present;
    store_rc rc = list_change_open(s, op, r, &gid, &present);
    if (rc != STORE_OK) return rc;
    if (!present) return o->change_end(s, STORE_NOTFOUND);
    if (gid >= 0) {
        long in = o->tx_member_count(s, op->owner, op->contact, gid);
        long n = o->tx_member_count(s, op->owner, op->contact, -1);
        if (in < 0 || n < 0) return o->change_end(s, STORE_ERROR);
        if (in == 0) return o->change_end(s, STORE_NOT_IN_GROUP);
        if (n > 1) { /* still in another group: only the membership goes */
            if (o->tx_member_delete(s, op->owner, op->contact, gid) != 0 ||
                o->tx_bump(s, op->owner, &r->owner_ver) != 0)
                return o->change_end(s, STORE_ERROR);
            return o->change_end(s, STORE_OK);
        }
    }
    if (o->tx_entry_delete(s, op->owner, op->list, op->contact) != 0) return o->change_end(s, STORE_ERROR);
    if (entry_bumps(s, op, r) != 0) return o->change_end(s, STORE_ERROR);
    r->entry_changed = 1;
    return o->change_end(s, STORE_OK);
}

static store_rc group_add_once(store *s, int64_t owner, const char *name, long limit, int *gid, uint32_t *ver) {
    const store_ops *o = s->ops;
    if (o->change_begin(s, owner, owner) != 0) return STORE_ERROR;
    long have = o->tx_group_count(s, owner);
    if (have < 0) return o->change_end(s, STORE_ERROR);
    if (have >= limit) return o->change_end(s, STORE_FULL);
    long next = o->tx_group_next(s, owner);
    if (next < 1 || next > 1000000) return o->change_end(s, STORE_ERROR);
    if (o->tx_group_insert(s, owner, (int)next, name) != 0 || o->tx_bump(s, owner, ver) != 0)
        return o->change_end(s, STORE_ERROR);
    store_rc rc = o->change_end(s, STORE_OK);
    if (rc == STORE_OK) *gid = (int)next;
    return rc;
}

static int change_again(store *s, store_rc rc, int attempts) {
    return rc == STORE_ERROR && attempts < CHANGE_ATTEMPTS && s->ops->change_again(s);
}

store_rc store_list_add(store *s, const store_list_op *op, store_list_result *r) {
    if (op->list == MSNP_LIST_RL || op->list == MSNP_LIST_INVALID) {
        memset(r, 0, sizeof *r);
        return STORE_ERROR;
    }
    if (s->ops->list_add) return s->ops->list_add(s, op, r);
    store_rc rc;
    int attempts = 0;
    do rc = list_add_once(s, op, r);
    while (change_again(s, rc, ++attempts));
    if (rc == STORE_OK && s->ops->list_changed) s->ops->list_changed(s, op->owner, op->contact);
    return rc;
}

store_rc store_list_remove(store *s, const store_list_op *op, store_list_result *r) {
    if (op->list == MSNP_LIST_RL || op->list == MSNP_LIST_INVALID) {
        memset(r, 0, sizeof *r);
        return STORE_ERROR;
    }
    if (s->ops->list_remove) return s->ops->list_remove(s, op, r);
    store_rc rc;
    int attempts = 0;
    do rc = list_remove_once(s, op, r);
    while (change_again(s, rc, ++attempts));
    if (rc == STORE_OK && s->ops->list_changed) s->ops->list_changed(s, op->owner, op->contact);
    return rc;
}

store_rc store_group_add(store *s, int64_t owner, const char *name, long limit, int *gid, uint32_t *ver) {
    store_rc rc;
    int attempts = 0;
    do rc = group_add_once(s, owner, name, limit, gid, ver);
    while (change_again(s, rc, ++attempts));
    if (rc == STORE_OK && s->ops->list_changed) s->ops->list_changed(s, owner, 0);
    return rc;
}

store_rc store_list_rename(store *s, int64_t owner, int64_t contact, const char *name, uint32_t *ver) {
    return s->ops->list_rename(s, owner, contact, name, ver);
}

store_rc store_watchers_each(store *s, int64_t uid, store_peer_cb fn, void *ctx) {
    if (store_sync_watchers(s, uid, fn, ctx)) return STORE_OK;
    return s->ops->watchers_each(s, uid, fn, ctx);
}

store_rc store_contacts_each(store *s, int64_t uid, store_peer_cb fn, void *ctx) {
    if (store_sync_contacts(s, uid, fn, ctx)) return STORE_OK;
    return s->ops->contacts_each(s, uid, fn, ctx);
}

store_rc store_group_each(store *s, int64_t owner, store_group_cb fn, void *ctx) {
    return s->ops->group_each(s, owner, fn, ctx);
}

long store_group_count(store *s, int64_t owner) { return s->ops->group_count(s, owner); }

int store_group_exists(store *s, int64_t owner, int gid) { return s->ops->group_exists(s, owner, gid); }

store_rc store_group_del(store *s, int64_t owner, int gid, uint32_t *ver) {
    return s->ops->group_del(s, owner, gid, ver);
}

store_rc store_group_rename(store *s, int64_t owner, int gid, const char *name, uint32_t *ver) {
    return s->ops->group_rename(s, owner, gid, name, ver);
}

store_rc store_prop_set(store *s, int64_t owner, const char *key, const char *value, uint32_t *ver) {
    return s->ops->prop_set(s, owner, key, value, ver);
}

store_rc store_counts_get(store *s, store_counts *out) { return s->ops->counts(s, out); }

store_rc store_load_begin(store *s) {
    if (!s->ops->import_begin) {
        snprintf(s->err, sizeof s->err, "the %s backend cannot load rows", s->ops->name);
        return STORE_ERROR;
    }
    return s->ops->import_begin(s);
}

store_rc store_load_user(store *s, const store_user *u) { return s->ops->import_user(s, u); }

store_rc store_load_group(store *s, int64_t owner, int gid, const char *name) {
    return s->ops->import_group(s, owner, gid, name);
}

store_rc store_load_entry(store *s, int64_t owner, msnp_list list, const store_entry *e) {
    return s->ops->import_entry(s, owner, list, e);
}

store_rc store_load_end(store *s, int ok) { return s->ops->import_end(s, ok); }

/* ---- store_copy: reads through the source's ordinary calls, writes
 * through the target's import calls. ---- */

typedef struct copy_ctx {
    store *to;
    store_rc rc;
    /* The row a failed import was for ("FL entry bob@example.com"), and
     * whose (an id; 0 for an account itself), for the error message: a
     * row the target refuses (text that is not UTF-8, in a SQLite file
     * edited by hand) must be findable. */
    char what[MSNP_MAX_EMAIL + 32];
    int64_t what_owner;
    const char *why;      /* the copy's own reason, else the target's error */
    store_counts *before; /* the source's counts, read in the snapshot the rows are read in */
    store_counts done;    /* rows copied so far */
    long since_progress;
    store_copy_progress progress;
    void *pctx;
} copy_ctx;

/* A row's import done (rc): on failure, the row, of an account (owner its
 * id) or the account itself (owner 0). Non-zero stops the export. */
static int copied_row(copy_ctx *x, store_rc rc, const char *kind, const char *arg, int64_t owner) {
    x->rc = rc;
    if (rc == STORE_OK) {
        if (x->progress && ++x->since_progress == STORE_COPY_PROGRESS_ROWS) {
            x->since_progress = 0;
            x->progress(&x->done, x->before, x->pctx);
        }
        return 0;
    }
    snprintf(x->what, sizeof x->what, "%s %s", kind, arg);
    x->what_owner = owner;
    return 1;
}

static int copy_counts(const store_counts *n, void *arg) {
    copy_ctx *x = arg;
    *x->before = *n;
    return 0;
}

static int copy_user(const store_user *u, void *arg) {
    copy_ctx *x = arg;
    /* A field longer than msnd takes (a file edited by hand) reads as
     * empty: copied, the account would have no e-mail, password or
     * friendly name in the target, and the stored value would be gone
     * without a word. msnd never stores an empty one of them. */
    if (!u->email[0] || !u->password[0] || !u->name[0]) {
        char id[24];
        snprintf(id, sizeof id, "#%lld", (long long)u->id);
        x->why = !u->email[0] ? "its e-mail address is longer than 129 bytes or empty"
            : !u->password[0] ? "its password is longer than 255 bytes or empty"
                              : "its friendly name is longer than 387 bytes or empty";
        return copied_row(x, STORE_ERROR, "account", id, 0);
    }
    x->done.users++;
    return copied_row(x, x->to->ops->import_user(x->to, u), "account", u->email, 0);
}

static int copy_group(int64_t owner, int gid, const char *name, void *arg) {
    copy_ctx *x = arg;
    char id[16]; /* not the name: the target may refuse it for its bytes */
    snprintf(id, sizeof id, "%d", gid);
    x->done.groups++;
    return copied_row(x, x->to->ops->import_group(x->to, owner, gid, name), "group", id, owner);
}

static int copy_entry(int64_t owner, msnp_list list, const store_entry *e, void *arg) {
    copy_ctx *x = arg;
    const char *kind = store_entry_kind(list);
    x->done.entries++;
    x->done.memberships += list == MSNP_LIST_FL ? (long)e->ngroups : 0;
    return copied_row(x, x->to->ops->import_entry(x->to, owner, list, e), kind, e->email, owner);
}

static int copy_prop(int64_t owner, const char *key, const char *value, void *arg) {
    copy_ctx *x = arg;
    x->done.props++;
    return copied_row(x, x->to->ops->import_prop(x->to, owner, key, value), "property", key, owner);
}

/* Every row of the source, in one snapshot and a statement per table
 * (export_rows), through the target's import calls. */
static const store_export copy_export = {
    .counts = copy_counts, .user = copy_user, .group = copy_group, .entry = copy_entry, .prop = copy_prop};

static store_rc store_copy_rows(store *from, store *to, store_counts *copied, store_copy_progress progress, void *pctx,
                                char *err, size_t errcap) {
    store_counts before = {0}, target; /* before: from the export; a source that gave none fails the compare */
    if (store_counts_get(to, &target) != STORE_OK) {
        snprintf(err, errcap, "target: %s", to->err);
        return STORE_ERROR;
    }
    if (target.users || target.entries || target.groups || target.memberships || target.props) {
        snprintf(err, errcap, "the target database is not empty (%ld accounts)", target.users);
        return STORE_EXISTS;
    }
    if (to->ops->import_begin(to) != STORE_OK) {
        snprintf(err, errcap, "target: %s", to->err);
        return STORE_ERROR;
    }
    to->refused_what[0] = '\0';
    copy_ctx x = {.to = to, .rc = STORE_OK, .before = &before, .progress = progress, .pctx = pctx};
    store_rc rc = from->ops->export_rows(from, &copy_export, &x);
    if (rc == STORE_OK && x.rc == STORE_OK && to->ops->import_flush) x.rc = to->ops->import_flush(to);
    if (x.rc != STORE_OK && to->refused_what[0]) {
        /* a queued row, refused after the calls that gave it */
        snprintf(x.what, sizeof x.what, "%s", to->refused_what);
        x.what_owner = to->refused_owner;
    } else if (x.rc != STORE_OK && to->ops->import_flush && !x.why) {
        x.what[0] = '\0'; /* a queued row the database did not name: its reason is all there is */
    }
    int ok = rc == STORE_OK && x.rc == STORE_OK;
    if (!ok && rc != STORE_OK) snprintf(err, errcap, "source: %s", from->err);
    else if (!ok && !x.what[0]) snprintf(err, errcap, "target: %s", to->err);
    else if (!ok && x.why) snprintf(err, errcap, "source %s: %s (fix it in the source and try again)", x.what, x.why);
    else if (!ok) {
        store_user owner = {.email = ""};
        if (x.what_owner) store_user_get_id(from, x.what_owner, &owner);
        snprintf(err, errcap, "target refused the %s%s%s (fix it in the source and try again): %s", x.what,
                 x.what_owner ? " of account " : "", owner.email, to->err);
    }
    /* The counts are compared before the commit: a copy that does not
     * match (a source that changed meanwhile) is rolled back, not left in
     * the target as if it were a migrated store. */
    if (ok && store_counts_get(to, copied) != STORE_OK) {
        snprintf(err, errcap, "target: %s", to->err);
        ok = 0;
    } else if (ok && memcmp(copied, &before, sizeof before) != 0) {
        snprintf(err, errcap,
                 "counts differ after the copy: accounts %ld/%ld, list entries %ld/%ld, groups %ld/%ld, "
                 "memberships %ld/%ld, properties %ld/%ld (did the source change meanwhile? stop every msnd "
                 "using it and try again)",
                 before.users, copied->users, before.entries, copied->entries, before.groups, copied->groups,
                 before.memberships, copied->memberships, before.props, copied->props);
        ok = 0;
    }
    if (to->ops->import_end(to, ok) != STORE_OK) {
        if (ok) snprintf(err, errcap, "target: %s", to->err);
        return STORE_ERROR;
    }
    return ok ? STORE_OK : STORE_ERROR;
}

store_rc store_copy(store *from, store *to, store_counts *copied, store_copy_progress progress, void *pctx, char *err,
                    size_t errcap) {
    if (!to->ops->import_begin) {
        snprintf(err, errcap, "the %s backend cannot be a migration target", to->ops->name);
        return STORE_ERROR;
    }
    if (!from->ops->export_rows) {
        snprintf(err, errcap, "the %s backend cannot be a migration source", from->ops->name);
        return STORE_ERROR;
    }
    /* One snapshot of the source (SQLite: one read transaction; PostgreSQL
     * opens its own in export_rows) for the counts and every row, so an
     * msnd still writing to it cannot make the copy a mix of before and
     * after. */
    store_read_begin(from);
    store_rc rc = store_copy_rows(from, to, copied, progress, pctx, err, errcap);
    store_read_end(from);
    return rc;
}
