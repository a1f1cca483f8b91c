/* store.h - persistent state behind one small interface: accounts, friendly
 * names, the FL/AL/BL lists (RL is derived: who has me on FL), the list
 * version, privacy modes (BLP/GTC), MSNP7 groups and phone properties.
 *
 * Two backends: SQLite (store_sqlite.c, one file shared by the processes of
 * one machine) and PostgreSQL (store_pg.c, shared by nodes on several
 * machines). store_open picks one from the database string; handlers only
 * see this header. The schema of both lives in schema.c.
 *
 * Invariants every backend keeps:
 * - A function that changes something returns only after the change is
 *   committed, so a reply sent afterwards never reports a change that a
 *   crash could lose.
 * - Each change is one transaction that checks and writes together: two
 *   nodes racing on the same list see one succeed and the other get the
 *   answer it would get had it come second (STORE_EXISTS, STORE_FULL, ...).
 *   The checks therefore live here, not in the protocol handlers.
 * - Every change bumps the list version of each account whose SYN output
 *   it changes, in the same transaction. */
#ifndef MSND_STORE_H
#define MSND_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <msnp/msnp.h>

#define STORE_MAX_PASSWORD 255
#define STORE_MAX_ENTRY_GROUPS 64 /* groups one FL entry can be in */
#define STORE_MAX_GROUP_NAME 61   /* URL-encoded group name (MSNP7 limit) */

typedef enum store_rc {
    STORE_OK = 0,
    STORE_NOTFOUND = 1,
    STORE_EXISTS = 2,
    STORE_OPPOSITE = 3,        /* AL/BL: the contact is on the other one */
    STORE_FULL = 4,            /* the list or the group table is at its limit */
    STORE_NO_GROUP = 5,        /* no such group */
    STORE_NOT_IN_GROUP = 6,    /* REM from a group the entry is not in */
    STORE_TOO_MANY_GROUPS = 7, /* the entry is in STORE_MAX_ENTRY_GROUPS groups */
    STORE_ERROR = -1           /* the database failed or is unreachable */
} store_rc;

typedef struct store store;

typedef struct store_user {
    int64_t id;
    char email[MSNP_MAX_EMAIL + 1];
    char password[STORE_MAX_PASSWORD + 1];
    char name[MSNP_MAX_NAME_ENCODED + 1]; /* URL-encoded, as sent on the wire */
    uint32_t version;                     /* list version (SYN) */
    int blp_allow;                        /* BLP AL (1) or BL (0) */
    int gtc_prompt;                       /* GTC A (1) or N (0) */
} store_user;

/* db is "postgresql://user@host:port/name" (or "postgres://...") for
 * PostgreSQL, "sqlite:PATH" or a plain path for SQLite. Opens, creating a
 * missing SQLite file with mode 0600, and brings the schema up to date
 * (schema.c). A PostgreSQL store that loses its server reconnects by
 * itself; calls made meanwhile return STORE_ERROR. */
store *store_open(const char *db, char *err, size_t errcap);
/* The same for the source of `msnd db migrate`: the database as it is, an
 * existing one of this msnd's schema version; one of an older version is
 * refused (err says how to upgrade it), not upgraded in place. */
store *store_open_source(const char *db, char *err, size_t errcap);
/* The SQLite file a database string names (a plain path, or the path
 * after "sqlite:"), or NULL for a connection string ("...://..."). */
const char *store_sqlite_file(const char *db);
void store_close(store *s);
const char *store_errmsg(store *s);

/* Read scopes: the reads between store_read_begin and store_read_end share
 * one read transaction, so a handler that makes a dozen queries (SYN) sees one
 * snapshot and pays the database's per-transaction locking and file checks
 * once instead of per query. Scopes nest; only the outermost one counts. Any
 * change made inside a scope ends the read transaction first, so writes are
 * committed exactly as outside one. store_read_begin cannot fail in a way the
 * caller must handle: without the transaction each read runs on its own. */
void store_read_begin(store *s);
void store_read_end(store *s);

/* A number that changes whenever stored data may have changed since it was
 * last returned: a change made through this handle or a commit by another
 * process or node (e.g. `msnd user ...`). Callers keep rows derived from the
 * store in memory and drop them when it moves. How a backend notices other
 * writers is its own concern: SQLite asks PRAGMA data_version, PostgreSQL
 * listens for the notification every change sends (LISTEN/NOTIFY). Inside a
 * read scope the answer is that of the scope's snapshot. */
uint64_t store_generation(store *s);
/* 0 when the database is known to be away (PostgreSQL: every connection
 * lost, none made again yet; a request or the store's own reconnect makes
 * one), else 1. Work that can wait (presence.c's retries) waits for it
 * rather than take a request's attempt to connect. */
int store_reachable(store *s);
/* The same for the rows of one account (uid) and what is derived from them
 * (its login snapshot, its watchers): moves whenever store_generation would
 * for a change that may touch uid, and stays put for changes to other
 * accounts' rows, which both backends tell apart: PostgreSQL's
 * notifications and SQLite's changes table (read when PRAGMA data_version
 * shows another process's commit) name the accounts each change touched,
 * and this handle's own changes mark theirs as they commit. A change to an
 * account's name, BLP or phone numbers, which other accounts' rows show,
 * moves every account's. uid < 1: store_generation. Only compare it with
 * an earlier answer for the same uid. */
uint64_t store_generation_of(store *s, int64_t uid);
/* Another node said it committed a change to uid's rows (a peer's RL
 * line), which the backend's own notice may bring only later:
 * store_generation_of uid (and store_generation) moves on now. Rows read
 * inside a read scope whose snapshot predates that commit (SQLite's read
 * transaction) are labelled with the moved generation, and the backend's
 * notice moves it again (on SQLite at the next scope, whose PRAGMA
 * data_version shows the commit). uid < 1: nothing (an account this handle
 * has nothing cached of; the backend's notice reaches what it reads
 * meanwhile). */
void store_changed_elsewhere_of(store *s, int64_t uid);
/* The event loop the store may watch its own sockets on (PostgreSQL's
 * notifications), so that store_generation need not ask the socket. */
struct event_base;
void store_use_loop(store *s, struct event_base *base);
/* 1 when store_open made the schema from nothing: a new or empty SQLite
 * file, a PostgreSQL database without msnd's tables. */
int store_created(const store *s);
/* 1 when the store holds an account, 0 when it holds none (every login
 * fails), -1 on error. Cheap on any size of store. */
int store_has_accounts(store *s);
/* "sqlite" or "postgresql". */
const char *store_backend_name(const store *s);
/* 1 when calls made on a fiber (fiber.h) wait for the database by parking
 * the fiber instead of blocking the thread (PostgreSQL); SQLite's local
 * file answers quickly enough to be read in place. */
int store_waits_on_fibers(const store *s);

/* Accounts. email must already be lower case and valid; name URL-encoded. */
store_rc store_user_add(store *s, const char *email, const char *password, const char *name);
store_rc store_user_passwd(store *s, const char *email, const char *password);
store_rc store_user_del(store *s, const char *email);
store_rc store_user_get(store *s, const char *email, store_user *out);
store_rc store_user_get_id(store *s, int64_t id, store_user *out);
/* Which of the n account ids no longer exist (deleted by another process,
 * `msnd user del`): fn for each, in one statement however many. */
typedef void (*store_id_cb)(int64_t id, void *ctx);
store_rc store_users_gone(store *s, const int64_t *ids, size_t n, store_id_cb fn, void *ctx);
typedef void (*store_user_cb)(const store_user *u, void *ctx);
store_rc store_user_each(store *s, store_user_cb fn, void *ctx);

/* Settings; each bumps the list version and returns it in *ver. */
store_rc store_set_name(store *s, int64_t uid, const char *name, uint32_t *ver);
store_rc store_set_blp(store *s, int64_t uid, int allow, uint32_t *ver);
store_rc store_set_gtc(store *s, int64_t uid, int prompt, uint32_t *ver);

/* Lists. */
typedef struct store_entry {
    int64_t contact;
    const char *email;
    const char *name;
    const int *groups; /* FL only: group ids in ascending order */
    size_t ngroups;
    const char *phones[4]; /* FL only: the contact's PHH PHW PHM MOB, NULL when not set or when the contact does not
                              allow the owner */
} store_entry;
typedef int (*store_entry_cb)(const store_entry *e, void *ctx); /* non-zero stops */
store_rc store_list_each(store *s, int64_t owner, msnp_list list, store_entry_cb fn, void *ctx);
/* Number of entries, or -1 on error. */
long store_list_count(store *s, int64_t owner, msnp_list list);
/* 1 present, 0 absent, -1 error. */
int store_list_get(store *s, int64_t owner, msnp_list list, int64_t contact);

/* One ADD or REM of a client. */
typedef struct store_list_op {
    int64_t owner;
    msnp_list list; /* FL, AL or BL */
    int64_t contact;
    const char *name; /* ADD: the name stored in the entry */
    int gid;          /* FL: the group (MSNP7), -1 for none */
    long limit;       /* ADD: entries the list may hold */
} store_list_op;
typedef struct store_list_result {
    int entry_changed;    /* 1: the entry was added/removed; 0: only a group membership */
    uint32_t owner_ver;   /* the owner's new list version */
    uint32_t contact_ver; /* FL entry added/removed: the contact's (its RL changed) */
} store_list_result;
/* ADD, atomically: STORE_NO_GROUP if gid names no group of the owner;
 * STORE_EXISTS if the contact is on the list (with gid: already in that
 * group); STORE_OPPOSITE for AL/BL when it is on the other one; STORE_FULL
 * when the list holds limit entries. An FL entry already present joins
 * group gid (entry_changed 0); a new FL entry is in gid, or group 0. */
store_rc store_list_add(store *s, const store_list_op *op, store_list_result *r);
/* REM, atomically: STORE_NOTFOUND if the contact is not on the list;
 * with gid (FL): STORE_NO_GROUP / STORE_NOT_IN_GROUP, and the entry only
 * leaves that group while it is in another one (entry_changed 0). */
store_rc store_list_remove(store *s, const store_list_op *op, store_list_result *r);
/* REA on a contact: the name stored in the owner's FL entry. */
store_rc store_list_rename(store *s, int64_t owner, int64_t contact, const char *name, uint32_t *ver);

/* Presence fan-out helpers: one query each instead of one per contact. */
typedef struct store_peer {
    int64_t id;
    const char *email;
    const char *name;
    int blp_allow; /* the peer's own BLP (contacts_each) or the owner's (watchers_each) */
    int in_al;     /* see below */
    int in_bl;
} store_peer;
typedef void (*store_peer_cb)(const store_peer *p, void *ctx);
/* People who have `uid` on their FL (uid's RL), with in_al/in_bl telling
 * whether each is on uid's AL/BL and blp_allow = uid's BLP. */
store_rc store_watchers_each(store *s, int64_t uid, store_peer_cb fn, void *ctx);
/* The same answered only from a cached login snapshot (below), never
 * waiting for the database: 1 when answered, 0 when not cached. */
int store_watchers_cached(store *s, int64_t uid, store_peer_cb fn, void *ctx);
/* uid's FL contacts, with in_al/in_bl telling whether uid is on the
 * contact's AL/BL and blp_allow = the contact's BLP. */
store_rc store_contacts_each(store *s, int64_t uid, store_peer_cb fn, void *ctx);

/* What a login reads, in one call: the account, its properties, groups and
 * the four lists (SYN), and what the first CHG's ILN step and the presence
 * fan-out need (store_contacts_each / store_watchers_each of the account).
 * One statement on either backend, so one round trip on PostgreSQL.
 *
 * Snapshots are kept in a bounded cache keyed by account while
 * store_generation() is unchanged (a full cache drops older snapshots
 * for the one just read); store_contacts_each and
 * store_watchers_each of a cached account are answered from it, so a
 * login's CHG and its logout cost no query.
 *
 * Snapshots are packed (store_sync.c): an entry holds what a login uses of
 * it and no room for what its list does not have (phone numbers are FL
 * only, and most entries have none), and the account's own row keeps its
 * texts at their length. A snapshot of an account with ten contacts is
 * then about 2 KB (BENCHMARKS.md, History, "Login snapshots packed"). */
typedef struct store_sync_entry {
    int64_t contact;
    const char *email;
    const char *name;          /* FL/AL/BL: the entry's name; RL: the watcher's own name */
    const char *peer_name;     /* FL/RL: the other account's own friendly name */
    const int *groups;         /* FL: the group ids, ascending */
    const char *const *phones; /* FL: the contact's PHH PHW PHM MOB (each NULL when not set); NULL when none is, or when
                                  the contact does not allow the owner */
    uint16_t ngroups;          /* <= STORE_MAX_ENTRY_GROUPS */
    uint8_t blp_allow;         /* FL: the contact's BLP; RL: the owner's */
    uint8_t in_al, in_bl;      /* FL: the owner is on the contact's AL/BL; RL: the watcher is on the owner's */
} store_sync_entry;
/* The entry as store_list_each hands one out (its views stay the snapshot's). */
void store_sync_entry_view(const store_sync_entry *e, store_entry *out);
typedef struct store_sync_user {
    int64_t id;
    const char *email;
    const char *name; /* URL-encoded, as sent on the wire */
    uint32_t version; /* list version (SYN) */
    int blp_allow;    /* BLP AL (1) or BL (0) */
    int gtc_prompt;   /* GTC A (1) or N (0) */
} store_sync_user;
typedef struct store_sync {
    store_sync_user user;
    const char *props[5]; /* PHH PHW PHM MOB MBE, NULL when not set */
    size_t ngroups;
    const int *gids; /* ascending */
    const char *const *gnames;
    size_t count[4]; /* FL AL BL RL, each in the order list_each gives */
    const store_sync_entry *entries[4];
} store_sync;
/* *out stays valid until store_sync_release, whatever else happens to the
 * store meanwhile. STORE_NOTFOUND: no such account. */
store_rc store_sync_get(store *s, int64_t uid, const store_sync **out);
void store_sync_release(store *s, const store_sync *y);
/* The bytes of snapshots kept between calls (0: none; snapshots are then
 * read for every call). About 2 KB per account with ten contacts; an
 * account whose snapshot is kept logs in again without reading a row.
 * Setting it empties the cache. */
#define STORE_LOGIN_CACHE_DEFAULT ((size_t)64 << 20)
void store_set_login_cache(store *s, size_t bytes);
/* What the cache holds and has done since the store was opened; each
 * count only grows. evicted: snapshots dropped to make room, each of
 * which its account's next login reads again - when it keeps growing, the
 * budget is smaller than the accounts that log in. */
typedef struct store_login_cache_stats {
    size_t budget, bytes, snapshots;
    uint64_t hits, misses, evicted;
} store_login_cache_stats;
void store_login_cache_stats_get(store *s, store_login_cache_stats *out);
/* store_user_get for USR MD5 S. Where a round trip costs more than the
 * rows (PostgreSQL), the same statement also reads the account's snapshot
 * into the cache, so the SYN that follows costs no query. */
store_rc store_user_get_for_login(store *s, const char *email, store_user *out);

/* MSNP7 groups. Group 0 ("Other Contacts") exists for every account. */
typedef void (*store_group_cb)(int gid, const char *name, void *ctx);
store_rc store_group_each(store *s, int64_t owner, store_group_cb fn, void *ctx);
long store_group_count(store *s, int64_t owner);
int store_group_exists(store *s, int64_t owner, int gid); /* 1/0/-1 */
/* STORE_FULL when the owner has limit groups already (checked atomically). */
store_rc store_group_add(store *s, int64_t owner, const char *name, long limit, int *gid, uint32_t *ver);
/* Also takes the group out of every FL entry of the owner; entries left in
 * no group go to group 0 (RMG takes such contacts off the FL before, so
 * none is left). Group 0 cannot be deleted (STORE_ERROR). */
store_rc store_group_del(store *s, int64_t owner, int gid, uint32_t *ver);
store_rc store_group_rename(store *s, int64_t owner, int gid, const char *name, uint32_t *ver);

/* Phone properties (PRP, MSNP5+): PHH PHW PHM MOB MBE. value NULL deletes. */
store_rc store_prop_set(store *s, int64_t owner, const char *key, const char *value, uint32_t *ver);

/* Copying a whole store into another (`msnd db migrate`). Ids, list
 * versions, group ids and the order of list entries are kept. The target
 * must be empty and is written in one transaction; afterwards the row
 * counts of both are compared. Either backend can be the target. */
typedef struct store_counts {
    long users, entries, groups, memberships, props;
} store_counts;
store_rc store_counts_get(store *s, store_counts *out);
/* progress (may be NULL): the rows copied so far and the source's
 * counts, every STORE_COPY_PROGRESS_ROWS rows.
 * STORE_EXISTS: the target is not empty. err gets what went wrong. */
#define STORE_COPY_PROGRESS_ROWS 16384
typedef void (*store_copy_progress)(const store_counts *done, const store_counts *total, void *ctx);
store_rc store_copy(store *from, store *to, store_counts *copied, store_copy_progress progress, void *pctx, char *err,
                    size_t errcap);

/* Bulk loading (store_copy's target side; the benchmark's populate step):
 * rows written as given, ids and versions included, in one transaction
 * from store_load_begin to store_load_end (ok = 0 rolls back). Accounts
 * first, then each account's groups, entries (FL with its group ids) and
 * properties. */
store_rc store_load_begin(store *s);
store_rc store_load_user(store *s, const store_user *u);
store_rc store_load_group(store *s, int64_t owner, int gid, const char *name);
store_rc store_load_entry(store *s, int64_t owner, msnp_list list, const store_entry *e);
store_rc store_load_end(store *s, int ok);

#endif
