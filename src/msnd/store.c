/* store.c - the backend-neutral half of the store: picks the backend from
 * the database string and forwards each call of store.h to it. */
#include "store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_pg(const char *db) {
    return strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0;
}

store *store_open(const char *db, char *err, size_t errcap) {
    if (!db || !*db) {
        snprintf(err, errcap, "no database given");
        return NULL;
    }
    if (is_pg(db)) return store_pg_open(db, err, errcap);
    if (strncmp(db, "sqlite:", 7) == 0) db += 7;
    return store_sqlite_open(db, err, errcap);
}

void store_close(store *s) {
    if (!s) return;
    store_sync_cache_free(s);
    s->ops->close(s);
}

const char *store_errmsg(store *s) { return s->err; }

const char *store_backend_name(const store *s) { return s->ops->name; }

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

uint64_t store_generation(store *s) { return s->ops->generation(s); }

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

store_rc store_list_add(store *s, const store_list_op *op, store_list_result *r) { return s->ops->list_add(s, op, r); }

store_rc store_list_remove(store *s, const store_list_op *op, store_list_result *r) {
    return s->ops->list_remove(s, op, r);
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

store_rc store_group_add(store *s, int64_t owner, const char *name, long limit, int *gid, uint32_t *ver) {
    return s->ops->group_add(s, owner, name, limit, gid, ver);
}

store_rc store_group_del(store *s, int64_t owner, int gid, uint32_t *ver) {
    return s->ops->group_del(s, owner, gid, ver);
}

store_rc store_group_rename(store *s, int64_t owner, int gid, const char *name, uint32_t *ver) {
    return s->ops->group_rename(s, owner, gid, name, ver);
}

store_rc store_prop_set(store *s, int64_t owner, const char *key, const char *value, uint32_t *ver) {
    return s->ops->prop_set(s, owner, key, value, ver);
}

store_rc store_prop_each(store *s, int64_t owner, store_prop_cb fn, void *ctx) {
    return s->ops->prop_each(s, owner, fn, ctx);
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
    store *from, *to;
    store_rc rc;
    int64_t owner;
    msnp_list list;
    int64_t *ids;
    size_t nids, capids;
} copy_ctx;

static void copy_collect_user(const store_user *u, void *arg) {
    copy_ctx *x = arg;
    if (x->rc != STORE_OK) return;
    x->rc = x->to->ops->import_user(x->to, u);
    if (x->rc != STORE_OK) return;
    if (x->nids == x->capids) {
        size_t nc = x->capids ? x->capids * 2 : 256;
        int64_t *n = realloc(x->ids, nc * sizeof *n);
        if (!n) {
            x->rc = STORE_ERROR;
            return;
        }
        x->ids = n;
        x->capids = nc;
    }
    x->ids[x->nids++] = u->id;
}

static void copy_group(int gid, const char *name, void *arg) {
    copy_ctx *x = arg;
    if (x->rc == STORE_OK) x->rc = x->to->ops->import_group(x->to, x->owner, gid, name);
}

static int copy_entry(const store_entry *e, void *arg) {
    copy_ctx *x = arg;
    if (x->rc == STORE_OK) x->rc = x->to->ops->import_entry(x->to, x->owner, x->list, e);
    return x->rc != STORE_OK;
}

static void copy_prop(const char *key, const char *value, void *arg) {
    copy_ctx *x = arg;
    if (x->rc == STORE_OK) x->rc = x->to->ops->import_prop(x->to, x->owner, key, value);
}

store_rc store_copy(store *from, store *to, store_counts *copied, char *err, size_t errcap) {
    if (!to->ops->import_begin) {
        snprintf(err, errcap, "the %s backend cannot be a migration target", to->ops->name);
        return STORE_ERROR;
    }
    store_counts before, target;
    if (store_counts_get(from, &before) != STORE_OK) {
        snprintf(err, errcap, "source: %s", from->err);
        return STORE_ERROR;
    }
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
    copy_ctx x = {.from = from, .to = to, .rc = STORE_OK};
    store_rc rc = store_user_each(from, copy_collect_user, &x);
    /* Every account first: list entries name other accounts. */
    for (size_t i = 0; rc == STORE_OK && x.rc == STORE_OK && i < x.nids; i++) {
        x.owner = x.ids[i];
        rc = store_group_each(from, x.owner, copy_group, &x);
        static const msnp_list lists[3] = {MSNP_LIST_FL, MSNP_LIST_AL, MSNP_LIST_BL};
        for (int l = 0; l < 3 && rc == STORE_OK && x.rc == STORE_OK; l++) {
            x.list = lists[l];
            rc = store_list_each(from, x.owner, x.list, copy_entry, &x);
        }
        if (rc == STORE_OK && x.rc == STORE_OK) rc = store_prop_each(from, x.owner, copy_prop, &x);
    }
    free(x.ids);
    int ok = rc == STORE_OK && x.rc == STORE_OK;
    if (!ok) snprintf(err, errcap, "%s", rc != STORE_OK ? from->err : to->err);
    if (to->ops->import_end(to, ok) != STORE_OK) {
        if (ok) snprintf(err, errcap, "target: %s", to->err);
        return STORE_ERROR;
    }
    if (!ok) return STORE_ERROR;
    if (store_counts_get(to, copied) != STORE_OK) {
        snprintf(err, errcap, "target: %s", to->err);
        return STORE_ERROR;
    }
    if (memcmp(copied, &before, sizeof before) != 0) {
        snprintf(err, errcap,
                 "counts differ after the copy: accounts %ld/%ld, list entries %ld/%ld, groups %ld/%ld, "
                 "memberships %ld/%ld, properties %ld/%ld",
                 before.users, copied->users, before.entries, copied->entries, before.groups, copied->groups,
                 before.memberships, copied->memberships, before.props, copied->props);
        return STORE_ERROR;
    }
    return STORE_OK;
}
