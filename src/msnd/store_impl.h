/* store_impl.h - what a store backend provides (store.c dispatches the
 * functions of store.h to it). Private to the store. */
#ifndef MSND_STORE_IMPL_H
#define MSND_STORE_IMPL_H

#include "changemarks.h"
#include "store.h"

/* One row of a login read (store_sync_get); backends hand them to
 * store_sync_add in any order.
 *
 * What an FL entry says about its contact beyond its BLP (its groups,
 * phone numbers, whether the owner is on the contact's AL/BL) comes as
 * side rows, one per fact, read by range scans rather than by correlated
 * subqueries per contact (SQLite: each an index descent with a cursor
 * opened and closed; PostgreSQL: a plan node set up and run per contact
 * and column); store_sync_add joins them to the FL entries:
 *   FL_GROUP   id: the contact, a: a group the entry is in
 *   FL_PHONE   id: the contact, email: key, name: value (keys other than
 *              PHH PHW PHM MOB are ignored)
 *   LISTED_BY  id: an account that has the owner on its AL (b = 1) or BL
 *              (b = 2); ignored unless that account is on the owner's FL */
enum {
    SYNC_USER,
    SYNC_PROP,
    SYNC_GROUP,
    SYNC_FL,
    SYNC_AL,
    SYNC_BL,
    SYNC_RL,
    SYNC_FL_GROUP,
    SYNC_FL_PHONE,
    SYNC_LISTED_BY,
    SYNC_KINDS
};
typedef struct store_sync_row {
    int kind;
    int64_t id;            /* USER: the account; GROUP: gid; lists: the other account */
    const char *email;     /* USER, lists: e-mail; PROP: the key */
    const char *name;      /* USER: friendly name; PROP: value; GROUP: name; FL/AL/BL: the entry's name */
    const char *peer_name; /* FL/RL: the other account's own name */
    int64_t a;             /* USER: list version; FL: the contact's BLP is AL; FL_GROUP: gid */
    int b, c;              /* USER: BLP AL, GTC A; LISTED_BY: b is the list */
    int64_t ord; /* GROUP: gid; lists: the entry's position (rowid, seq); the rows of a kind are ordered by it */
} store_sync_row;
typedef struct store_sync_builder store_sync_builder;
/* 0, or -1 when out of memory. */
int store_sync_add(store_sync_builder *b, const store_sync_row *r);
struct sync_cache;
/* store_contacts_each / store_watchers_each answered from a valid cached
 * snapshot of uid: 1 when answered, 0 when the store must be asked. */
int store_sync_contacts(store *s, int64_t uid, store_peer_cb fn, void *ctx);
int store_sync_watchers(store *s, int64_t uid, store_peer_cb fn, void *ctx);
void store_sync_cache_free(store *s);

struct store_export; /* below */

typedef struct store_ops {
    const char *name;
    int waits_on_fibers;
    void (*close)(store *s);
    void (*read_begin)(store *s); /* outermost scope only */
    void (*read_end)(store *s);
    uint64_t (*generation)(store *s);
    /* Optional: store_generation_of's part from the backend, <= generation;
     * without it every account reads generation. */
    uint64_t (*generation_of)(store *s, int64_t uid);
    /* Optional: 0 when every connection to the database is known lost, so
     * that a call would only try to connect (store_reachable). */
    int (*reachable)(store *s);
    /* Optional: a change by store.c's own steps (a list change where the
     * backend has no list_add op, ADG) has committed; only owner's and
     * contact's rows changed (contact 0: the owner's alone). */
    void (*list_changed)(store *s, int64_t owner, int64_t contact);
    void (*use_loop)(store *s, struct event_base *base); /* optional */
    store_rc (*user_add)(store *s, const char *email, const char *password, const char *name);
    store_rc (*user_passwd)(store *s, const char *email, const char *password);
    store_rc (*user_del)(store *s, const char *email);
    store_rc (*user_get)(store *s, const char *email, store_user *out);
    store_rc (*user_get_id)(store *s, int64_t id, store_user *out);
    store_rc (*users_gone)(store *s, const int64_t *ids, size_t n, store_id_cb fn, void *ctx);
    store_rc (*user_each)(store *s, store_user_cb fn, void *ctx);
    store_rc (*set_name)(store *s, int64_t uid, const char *name, uint32_t *ver);
    store_rc (*set_blp)(store *s, int64_t uid, int allow, uint32_t *ver);
    store_rc (*set_gtc)(store *s, int64_t uid, int prompt, uint32_t *ver);
    store_rc (*list_each)(store *s, int64_t owner, msnp_list list, store_entry_cb fn, void *ctx);
    long (*list_count)(store *s, int64_t owner, msnp_list list);
    int (*list_get)(store *s, int64_t owner, msnp_list list, int64_t contact);
    store_rc (*list_rename)(store *s, int64_t owner, int64_t contact, const char *name, uint32_t *ver);
    store_rc (*watchers_each)(store *s, int64_t uid, store_peer_cb fn, void *ctx);
    store_rc (*contacts_each)(store *s, int64_t uid, store_peer_cb fn, void *ctx);
    store_rc (*group_each)(store *s, int64_t owner, store_group_cb fn, void *ctx);
    long (*group_count)(store *s, int64_t owner);
    int (*group_exists)(store *s, int64_t owner, int gid);
    store_rc (*group_del)(store *s, int64_t owner, int gid, uint32_t *ver);
    store_rc (*group_rename)(store *s, int64_t owner, int gid, const char *name, uint32_t *ver);
    store_rc (*prop_set)(store *s, int64_t owner, const char *key, const char *value, uint32_t *ver);
    store_rc (*sync_rows)(store *s, int64_t uid, store_sync_builder *b);
    /* store_user_get_for_login in one round trip: the account (with its
     * password) into out and its snapshot rows into b; STORE_NOTFOUND
     * without an account. NULL: the backend answers the account alone. */
    store_rc (*login_rows)(store *s, const char *email, store_user *out, store_sync_builder *b);
    store_rc (*counts)(store *s, store_counts *out);
    /* 1 when an account exists, 0 when none does, -1 on error: EXISTS,
     * never a count of every row. */
    int (*has_accounts)(store *s);
    /* A whole ADD or REM in one call (store_list_add / store_list_remove,
     * with the list already checked), the backend applying the same rules
     * itself: PostgreSQL runs them in a function, one round trip where the
     * primitives below take a statement each; such a backend leaves the
     * entry and member primitives and tx_group_exists NULL, as only ADG
     * uses the rest. NULL: store.c decides. */
    store_rc (*list_add)(store *s, const store_list_op *op, store_list_result *r);
    store_rc (*list_remove)(store *s, const store_list_op *op, store_list_result *r);
    /* A change transaction. store.c decides ADD, REM and ADG (the rules of
     * store.h) between change_begin and change_end with the tx_ primitives
     * below; a backend only provides the statements and its way of keeping
     * the checks and writes of one change together (SQLite: a write
     * transaction; PostgreSQL: the users rows of owner and contact locked
     * inside a transaction, on one connection held until change_end).
     * change_begin returns 0 when the transaction is open; on failure
     * nothing is left open. change_end commits when rc is STORE_OK and
     * returns STORE_ERROR if the commit fails; otherwise it rolls back and
     * returns rc. change_again: 1 when the change that just failed may
     * succeed when run again from the start (deadlock, serialization). */
    int (*change_begin)(store *s, int64_t owner, int64_t contact);
    store_rc (*change_end)(store *s, store_rc rc);
    int (*change_again)(store *s);
    /* Inside a change: counts are >= 0, -1 on error; the others 0 or -1. */
    long (*tx_group_exists)(store *s, int64_t owner, int gid);
    long (*tx_group_count)(store *s, int64_t owner);
    long (*tx_group_next)(store *s, int64_t owner); /* the id a new group gets */
    int (*tx_group_insert)(store *s, int64_t owner, int gid, const char *name);
    long (*tx_entry_has)(store *s, int64_t owner, msnp_list list, int64_t contact);
    long (*tx_entry_count)(store *s, int64_t owner, msnp_list list);
    int (*tx_entry_insert)(store *s, int64_t owner, msnp_list list, int64_t contact, const char *name);
    int (*tx_entry_delete)(store *s, int64_t owner, msnp_list list, int64_t contact);
    long (*tx_member_count)(store *s, int64_t owner, int64_t contact, int gid); /* gid -1: in any group */
    int (*tx_member_insert)(store *s, int64_t owner, int64_t contact, int gid);
    int (*tx_member_delete)(store *s, int64_t owner, int64_t contact, int gid);
    int (*tx_bump)(store *s, int64_t uid, uint32_t *ver); /* the list version, returned in *ver */
    /* Target side of store_copy; NULL when the backend cannot be one.
     * import_begin opens the transaction import_end commits (ok) or
     * rolls back. */
    store_rc (*import_begin)(store *s);
    store_rc (*import_user)(store *s, const store_user *u);
    store_rc (*import_group)(store *s, int64_t owner, int gid, const char *name);
    store_rc (*import_entry)(store *s, int64_t owner, msnp_list list, const store_entry *e);
    store_rc (*import_prop)(store *s, int64_t owner, const char *key, const char *value);
    /* Optional: a target that queues rows (PostgreSQL sends them in
     * chunks) sends what it holds. A queued row it then refuses fails a
     * later import call, import_flush or import_end, and is named in the
     * store's refused_what and refused_owner. */
    store_rc (*import_flush)(store *s);
    store_rc (*import_end)(store *s, int ok);
    /* Source side of store_copy, NULL when the backend cannot be one:
     * every row in one snapshot, a statement per table. The counts first,
     * then every account, every group, every list entry in the order the
     * entries were added (across lists and accounts, so that every list
     * and every account's RL keeps its order; FL with its group ids) and
     * every property. A callback returning non-zero stops the export,
     * which then returns STORE_OK. */
    store_rc (*export_rows)(store *s, const struct store_export *x, void *ctx);
} store_ops;

typedef struct store_export {
    int (*counts)(const store_counts *n, void *ctx);
    int (*user)(const store_user *u, void *ctx);
    int (*group)(int64_t owner, int gid, const char *name, void *ctx);
    int (*entry)(int64_t owner, msnp_list list, const store_entry *e, void *ctx);
    int (*prop)(int64_t owner, const char *key, const char *value, void *ctx);
} store_export;

/* Every backend's handle starts with this. */
struct store {
    const store_ops *ops;
    int read_depth;          /* nesting of store_read_begin (store.c) */
    struct sync_cache *sync; /* login snapshots (store_sync.c), NULL until the first */
    size_t sync_budget;      /* their bytes (store_set_login_cache; the default from store_open) */
    uint64_t sync_hits, sync_misses, sync_evicted; /* store_login_cache_stats */
    /* store_changed_elsewhere_of: changes told of one account, counted
     * apart from the backend's (told_marks.now added to its generation). */
    changemarks told_marks;
    int created; /* store_created: the open made the schema from nothing */
    char err[512];
    /* The queued row an import refused (import_flush): "FL entry
     * bob@example.com", and its account (0: the row is an account); ""
     * when the database named none. */
    char refused_what[MSNP_MAX_EMAIL + 32];
    int64_t refused_owner;
};

/* How store_copy names a list entry in its messages ("FL entry
 * bob@example.com"); a target that names a refused row itself
 * (refused_what) uses the same words. */
static inline const char *store_entry_kind(msnp_list list) {
    return list == MSNP_LIST_FL ? "FL entry" : list == MSNP_LIST_AL ? "AL entry" : "BL entry";
}

/* upgrade 0 (store_open_source): a database as it is, refused unless its
 * schema is this msnd's; nothing is created or upgraded. */
store *store_sqlite_open(const char *path, int upgrade, char *err, size_t errcap);
char *store_id_list(const int64_t *ids, size_t n, char open, char close);
store *store_pg_open(const char *conninfo, int upgrade, char *err, size_t errcap);

/* "0,3,7" (as group_concat/string_agg return them) -> ids; returns count.
 * Ids beyond cap are dropped (the store never writes more). */
size_t store_parse_ids(const char *text, int *ids, size_t cap);

#endif
