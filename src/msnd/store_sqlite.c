/* SQLite backend of store.h.
 *
 * WAL journal with synchronous=FULL: a change is on disk when the COMMIT
 * returns, which is what lets handlers reply "done" right afterwards.
 * Every change runs in BEGIN IMMEDIATE, which takes the write lock before
 * the first read: the checks of a change and its writes see no other
 * writer in between (store.h). Statements are prepared once and cached.
 * The schema (schema.c) version lives in PRAGMA user_version. */
#include "log.h"
#include "msnkit/text.h"
#include "schema.h"
#include "store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    Q_USER_ADD,
    Q_GROUP0_ADD,
    Q_USER_PASSWD,
    Q_USER_DEL_BUMP,
    Q_USER_DEL,
    Q_USER_GET,
    Q_USER_GET_ID,
    Q_USERS_GONE,
    Q_USER_EACH,
    Q_SET_NAME,
    Q_SET_NAME_FL,
    Q_BUMP_NAME_READERS,
    Q_BUMP_PHONE_READERS,
    Q_SET_BLP,
    Q_SET_GTC,
    Q_BUMP,
    Q_VERSION,
    Q_LIST_EACH,
    Q_FL_EACH,
    Q_RL_EACH,
    Q_LIST_COUNT,
    Q_RL_COUNT,
    Q_LIST_GET,
    Q_LIST_ADD,
    Q_LIST_DEL,
    Q_LIST_RENAME,
    Q_WATCHERS,
    Q_CONTACTS,
    Q_GROUP_EACH,
    Q_GROUP_COUNT,
    Q_GROUP_EXISTS,
    Q_GROUP_NEXT,
    Q_GROUP_ADD,
    Q_GROUP_DEL,
    Q_GROUP_RENAME,
    Q_GROUP_REFILL,
    Q_MEMBER_ADD,
    Q_MEMBER_DEL,
    Q_MEMBER_HAS,
    Q_MEMBER_COUNT,
    Q_PROP_SET,
    Q_PROP_DEL,
    Q_SYNC,
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_BEGIN_READ,
    Q_DATA_VERSION,
    Q_CHANGES_SINCE,
    Q_CHANGES_TAIL,
    Q_CHANGES_PRUNE,
    Q_IMPORT_USER,
    Q_IMPORT_PROP,
    Q_COUNT
};

static const char *const sql_text[Q_COUNT] = {
    [Q_USER_ADD] = "INSERT INTO users(email,password,name,version,blp,gtc,created) VALUES(?1,?2,?3,1,'AL','A',?4)",
    [Q_GROUP0_ADD] = "INSERT INTO groups(owner,gid,name) VALUES(?1,0,'Other%20Contacts')",
    [Q_USER_PASSWD] = "UPDATE users SET password=?2 WHERE email=?1",
    [Q_USER_DEL_BUMP] = "UPDATE users SET version=version+1 WHERE id IN "
                        "(SELECT owner FROM list_entries WHERE contact=?1 UNION SELECT contact FROM list_entries "
                        "WHERE owner=?1 AND list=0)",
    [Q_USER_DEL] = "DELETE FROM users WHERE id=?1",
    [Q_USER_GET] = "SELECT id,email,password,name,version,blp,gtc FROM users WHERE email=?1",
    [Q_USER_GET_ID] = "SELECT id,email,password,name,version,blp,gtc FROM users WHERE id=?1",
    [Q_USERS_GONE] = "SELECT value FROM json_each(?1) WHERE value NOT IN (SELECT id FROM users)",
    [Q_USER_EACH] = "SELECT id,email,password,name,version,blp,gtc FROM users ORDER BY email",
    [Q_SET_NAME] = "UPDATE users SET name=?2 WHERE id=?1",
    [Q_SET_NAME_FL] = "UPDATE list_entries SET name=?2 WHERE contact=?1 AND list=0",
    /* whose SYN output shows ?1's name (their FL entry of it, their RL
     * entry of it) or its phone numbers (the BPR lines of their FL) */
    [Q_BUMP_NAME_READERS] = "UPDATE users SET version=version+1 WHERE id<>?1 AND id IN "
                            "(SELECT owner FROM list_entries WHERE contact=?1 AND list=0 UNION "
                            "SELECT contact FROM list_entries WHERE owner=?1 AND list=0)",
    [Q_BUMP_PHONE_READERS] = "UPDATE users SET version=version+1 WHERE id<>?1 AND id IN "
                             "(SELECT owner FROM list_entries WHERE contact=?1 AND list=0)",
    [Q_SET_BLP] = "UPDATE users SET blp=?2 WHERE id=?1",
    [Q_SET_GTC] = "UPDATE users SET gtc=?2 WHERE id=?1",
    [Q_BUMP] = "UPDATE users SET version=version+1 WHERE id=?1",
    [Q_VERSION] = "SELECT version FROM users WHERE id=?1",
    [Q_LIST_EACH] = "SELECT e.contact,u.email,e.name,'' FROM list_entries e JOIN users u ON u.id=e.contact "
                    "WHERE e.owner=?1 AND e.list=?2 ORDER BY e.rowid",
    /* FL with each contact's phone numbers (the BPR lines of SYN) in the same
     * statement: one indexed lookup per key instead of a query per contact.
     * A contact that does not allow the owner (on its BL, or BLP BL and the
     * owner not on its AL: the rule presence uses) hides them: v is its
     * users row only when it allows, and the lookups go through v.id. */
    [Q_FL_EACH] = "SELECT e.contact,u.email,e.name,"
                  "(SELECT group_concat(gid) FROM (SELECT gid FROM fl_groups g WHERE g.owner=e.owner AND "
                  "g.contact=e.contact ORDER BY gid)),"
                  "(SELECT value FROM props p WHERE p.owner=v.id AND p.key='PHH'),"
                  "(SELECT value FROM props p WHERE p.owner=v.id AND p.key='PHW'),"
                  "(SELECT value FROM props p WHERE p.owner=v.id AND p.key='PHM'),"
                  "(SELECT value FROM props p WHERE p.owner=v.id AND p.key='MOB') "
                  "FROM list_entries e JOIN users u ON u.id=e.contact LEFT JOIN users v ON v.id=e.contact AND "
                  "NOT EXISTS(SELECT 1 FROM list_entries b WHERE b.owner=e.contact AND b.list=2 AND "
                  "b.contact=e.owner) AND (v.blp='AL' OR EXISTS(SELECT 1 FROM list_entries a WHERE "
                  "a.owner=e.contact AND a.list=1 AND a.contact=e.owner)) "
                  "WHERE e.owner=?1 AND e.list=0 ORDER BY e.rowid",
    [Q_RL_EACH] = "SELECT u.id,u.email,u.name,'' FROM list_entries e JOIN users u ON u.id=e.owner "
                  "WHERE e.contact=?1 AND e.list=0 ORDER BY e.rowid",
    [Q_LIST_COUNT] = "SELECT count(*) FROM list_entries WHERE owner=?1 AND list=?2",
    [Q_RL_COUNT] = "SELECT count(*) FROM list_entries WHERE contact=?1 AND list=0",
    [Q_LIST_GET] = "SELECT 1 FROM list_entries WHERE owner=?1 AND list=?2 AND contact=?3",
    [Q_LIST_ADD] = "INSERT INTO list_entries(owner,list,contact,name) VALUES(?1,?2,?3,?4)",
    [Q_LIST_DEL] = "DELETE FROM list_entries WHERE owner=?1 AND list=?2 AND contact=?3",
    [Q_LIST_RENAME] = "UPDATE list_entries SET name=?3 WHERE owner=?1 AND list=0 AND contact=?2",
    [Q_WATCHERS] = "SELECT u.id,u.email,u.name,"
                   "(SELECT blp FROM users WHERE id=?1)='AL',"
                   "EXISTS(SELECT 1 FROM list_entries a WHERE a.owner=?1 AND a.list=1 AND a.contact=u.id),"
                   "EXISTS(SELECT 1 FROM list_entries b WHERE b.owner=?1 AND b.list=2 AND b.contact=u.id) "
                   "FROM list_entries f JOIN users u ON u.id=f.owner WHERE f.contact=?1 AND f.list=0",
    [Q_CONTACTS] = "SELECT u.id,u.email,u.name,u.blp='AL',"
                   "EXISTS(SELECT 1 FROM list_entries a WHERE a.owner=u.id AND a.list=1 AND a.contact=?1),"
                   "EXISTS(SELECT 1 FROM list_entries b WHERE b.owner=u.id AND b.list=2 AND b.contact=?1) "
                   "FROM list_entries f JOIN users u ON u.id=f.contact WHERE f.owner=?1 AND f.list=0",
    [Q_GROUP_EACH] = "SELECT gid,name FROM groups WHERE owner=?1 ORDER BY gid",
    [Q_GROUP_COUNT] = "SELECT count(*) FROM groups WHERE owner=?1",
    [Q_GROUP_EXISTS] = "SELECT 1 FROM groups WHERE owner=?1 AND gid=?2",
    [Q_GROUP_NEXT] = "SELECT coalesce(max(gid),0)+1 FROM groups WHERE owner=?1",
    [Q_GROUP_ADD] = "INSERT INTO groups(owner,gid,name) VALUES(?1,?2,?3)",
    [Q_GROUP_DEL] = "DELETE FROM groups WHERE owner=?1 AND gid=?2",
    [Q_GROUP_RENAME] = "UPDATE groups SET name=?3 WHERE owner=?1 AND gid=?2",
    /* FL entries of owner in no group (their last one was deleted) -> 0 */
    [Q_GROUP_REFILL] = "INSERT INTO fl_groups(owner,contact,gid) SELECT owner,contact,0 FROM list_entries e "
                       "WHERE owner=?1 AND list=0 AND NOT EXISTS (SELECT 1 FROM fl_groups f WHERE "
                       "f.owner=e.owner AND f.contact=e.contact)",
    [Q_MEMBER_ADD] = "INSERT INTO fl_groups(owner,contact,gid) VALUES(?1,?2,?3)",
    [Q_MEMBER_DEL] = "DELETE FROM fl_groups WHERE owner=?1 AND contact=?2 AND gid=?3",
    [Q_MEMBER_HAS] = "SELECT count(*) FROM fl_groups WHERE owner=?1 AND contact=?2 AND gid=?3",
    [Q_MEMBER_COUNT] = "SELECT count(*) FROM fl_groups WHERE owner=?1 AND contact=?2",
    [Q_PROP_SET] = "INSERT INTO props(owner,key,value) VALUES(?1,?2,?3) "
                   "ON CONFLICT(owner,key) DO UPDATE SET value=excluded.value",
    [Q_PROP_DEL] = "DELETE FROM props WHERE owner=?1 AND key=?2",
    /* A login's reads (store_sync_get) in one statement: one row per
     * account, property, group and entry, tagged with its kind (store_impl.h
     * SYNC_*) and with the key store_sync_add orders each kind by (gid,
     * rowid): sorting a few rows in C is cheaper than SQLite's sorters.
     * What each FL contact adds (its groups, phone numbers, whether it has
     * the account on its AL/BL) comes as side rows of three range scans
     * rather than seven correlated subqueries per contact, and lists are
     * picked with BETWEEN, not IN, which would build an ephemeral table per
     * execution: together 40 % fewer instructions per login read. */
    [Q_SYNC] = "SELECT 0,id,email,name,NULL,version,blp='AL',gtc='A',0 FROM users WHERE id=?1 "
               "UNION ALL SELECT 1,0,key,value,NULL,0,0,0,CASE key WHEN 'PHH' THEN 1 "
               "WHEN 'PHW' THEN 2 WHEN 'PHM' THEN 3 WHEN 'MOB' THEN 4 WHEN 'MBE' THEN 5 ELSE 6 END "
               "FROM props WHERE owner=?1 "
               "UNION ALL SELECT 2,gid,NULL,name,NULL,0,0,0,gid FROM groups WHERE owner=?1 "
               "UNION ALL SELECT 3,e.contact,u.email,e.name,u.name,u.blp='AL',0,0,e.rowid "
               "FROM list_entries e JOIN users u ON u.id=e.contact WHERE e.owner=?1 AND e.list=0 "
               "UNION ALL SELECT 3+e.list,e.contact,u.email,e.name,NULL,0,0,0,e.rowid "
               "FROM list_entries e JOIN users u ON u.id=e.contact WHERE e.owner=?1 AND e.list BETWEEN 1 AND 2 "
               "UNION ALL SELECT 6,u.id,u.email,u.name,u.name,0,0,0,e.rowid "
               "FROM list_entries e JOIN users u ON u.id=e.owner WHERE e.contact=?1 AND e.list=0 "
               "UNION ALL SELECT 7,contact,NULL,NULL,NULL,gid,0,0,0 "
               "FROM fl_groups WHERE owner=?1 "
               "UNION ALL SELECT 8,p.owner,p.key,p.value,NULL,0,0,0,0 "
               "FROM list_entries e JOIN props p ON p.owner=e.contact WHERE e.owner=?1 AND e.list=0 "
               "UNION ALL SELECT 9,owner,NULL,NULL,NULL,0,list,0,0 "
               "FROM list_entries WHERE contact=?1 AND list BETWEEN 1 AND 2",
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_BEGIN_READ] = "BEGIN DEFERRED",
    [Q_DATA_VERSION] = "PRAGMA data_version",
    /* the changes table (schema step 6): from the row seen last on */
    [Q_CHANGES_SINCE] = "SELECT seq,account FROM changes WHERE seq>=?1 ORDER BY seq",
    [Q_CHANGES_TAIL] = "SELECT coalesce(max(seq),0) FROM changes",
    [Q_CHANGES_PRUNE] = "DELETE FROM changes WHERE seq<(SELECT max(seq) FROM changes)-?1",
    [Q_IMPORT_USER] = "INSERT INTO users(id,email,password,name,version,blp,gtc,created) "
                      "VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
    [Q_IMPORT_PROP] = "INSERT INTO props(owner,key,value) VALUES(?1,?2,?3)",
};

typedef struct sq_store {
    struct store base;
    sqlite3 *db;
    sqlite3_stmt *st[Q_COUNT];
    int read_open;          /* our read transaction is open */
    int64_t import_created; /* a load's accounts' creation time */
    int cache_kept;         /* the page cache's size before a load (sq_import_begin) */
    int temp_store_kept;    /* and where temporary files were kept */
    /* store_generation: own changes are seen in sqlite3_total_changes64,
     * other processes' commits in PRAGMA data_version. Both may touch any
     * account, but for own changes that touch one or two accounts' rows
     * only (list changes: sq_list_changed; groups, GTC, a contact's name:
     * own_change), which mark those accounts (store_generation_of). */
    changemarks marks; /* the generation (marks.now), and the accounts of own changes */
    sqlite3_int64 seen_changes;
    sqlite3_int64 changes_at_begin; /* total changes when the last change began */
    long long seen_data_version;
    int data_version_checked; /* in the current read transaction */
    /* Other processes' commits: which accounts they touched, from the
     * changes table (others_changed). */
    sqlite3_int64 log_seen; /* the newest row read (0: none yet) */
    int log_known;          /* log_seen is the table's newest row when it was read */
    unsigned commits_since_prune;
    /* Another process's write lock (sq_use_loop, begin): how long a change
     * waits for it, and whether a wait on the event loop ran out, after
     * which changes try the lock without waiting until one gets it. */
    int busy_ms;
    int on_loop;
    int lock_held_elsewhere;
    struct timespec busy_since; /* the current wait's start (busy_wait) */
    uint32_t busy_rng;          /* its sleeps' jitter */
    char *path;                 /* the file, for error messages */
    /* The database, -wal and -shm files SQLite has open (files_check). */
    struct sq_file {
        char *name;
        dev_t dev;
        ino_t ino;
    } files[3];
    int files_gone;        /* one was deleted or replaced: changes are refused */
    int files_wal_removed; /* ... and that was only the -wal, removed */
    int opened;            /* store_sqlite_open succeeded: sq_close checkpoints */
} sq_store;

/* How long a call waits for another process's write lock (`msnd user
 * ...`, another msnd on the same file, a sqlite3 shell): 5 s for the
 * admin commands; on the server's event loop, whose every client waits
 * meanwhile, 500 ms, after which the command that wanted the lock fails
 * (501) and the others go on. A transaction of msnd's own or of the admin
 * commands holds the lock for one fsync'd commit (milliseconds; tens on a
 * slow disk), and a change may have to wait for a few of them. Once a
 * wait on the loop ran out, the lock is taken to be kept (a shell inside
 * a transaction): changes then wait only SQ_HELD_BUSY_MS, so that each
 * fails soon instead of stalling the loop 500 ms, until one gets it. */
#define SQ_BUSY_MS 5000
#define SQ_LOOP_BUSY_MS 500
#define SQ_HELD_BUSY_MS 10

/* The functions below take the generic handle (store_ops); this is the
 * only cast between the two. */
#define S(s) ((sq_store *)(s))

static sqlite3_stmt *q(sq_store *s, int id) {
    if (!s->st[id]) {
        if (sqlite3_prepare_v3(s->db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT, &s->st[id], NULL) != SQLITE_OK) {
            snprintf(s->base.err, sizeof s->base.err, "prepare: %s", sqlite3_errmsg(s->db));
            return NULL;
        }
    } else {
        sqlite3_reset(s->st[id]);
        sqlite3_clear_bindings(s->st[id]);
    }
    return s->st[id];
}

/* SQLite's reason, and for the failures an operator has to act on (a
 * lock another process keeps, the file system refusing, a damaged file)
 * which file and what to look at, none of which SQLite's words say ("disk
 * I/O error"). (sqlite3_system_errno is the errno of whatever SQLite did
 * last, often a clean-up after the failure, so it is not quoted.) */
static void note_err(sq_store *s) {
    char *e = s->base.err;
    size_t cap = sizeof s->base.err;
    const char *msg = sqlite3_errmsg(s->db);
    switch (s->path ? sqlite3_errcode(s->db) : SQLITE_OK) {
    case SQLITE_BUSY:
        snprintf(e, cap,
                 "%s: another process has held the write lock of %s for over %d ms (a sqlite3 shell or a "
                 "backup inside a transaction?); changes fail until it ends",
                 msg, s->path, s->lock_held_elsewhere ? SQ_LOOP_BUSY_MS : s->busy_ms);
        break;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
        snprintf(e, cap,
                 "%s on %s or its -wal or -shm: check the disk, its free space, and that msnd may write these "
                 "files and their directory",
                 msg, s->path);
        break;
    case SQLITE_CANTOPEN:
        snprintf(e, cap, "%s: %s, or its -wal or -shm, which SQLite makes beside it (the directory must be writable)",
                 msg, s->path);
        break;
    case SQLITE_CORRUPT:
        snprintf(e, cap, "%s: %s is damaged; restore it from a backup (sqlite3's .recover may save what is left)", msg,
                 s->path);
        break;
    case SQLITE_NOTADB:
        snprintf(e, cap, "%s: %s is not an SQLite database, or its first page is damaged", msg, s->path);
        break;
    default: snprintf(e, cap, "%s", msg);
    }
}

/* Run a statement that returns no rows. */
static int exec_done(sq_store *s, sqlite3_stmt *st) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        note_err(s);
        return -1;
    }
    return 0;
}

/* A change must commit on its own (store.h), never inside a read scope's
 * transaction: end that first. Later reads of the scope run one by one. */
static void read_close(sq_store *s) {
    if (!s->read_open) return;
    s->read_open = 0;
    if (sqlite3_get_autocommit(s->db)) return;
    sqlite3_stmt *st = q(s, Q_COMMIT);
    if (st && exec_done(s, st) == 0) return;
    st = q(s, Q_ROLLBACK); /* nothing was written; just release the snapshot */
    if (st) exec_done(s, st);
}

static void read_start(sq_store *s) {
    if (!sqlite3_get_autocommit(s->db)) return;
    sqlite3_stmt *st = q(s, Q_BEGIN_READ);
    if (st && exec_done(s, st) == 0) s->read_open = 1;
    s->data_version_checked = 0;
}

/* Where the changes table ends now: every account counts as changed (what
 * was written before is not known), and later rows are read from there. */
static void log_restart(sq_store *s) {
    changemarks_all(&s->marks);
    sqlite3_stmt *st = q(s, Q_CHANGES_TAIL);
    s->log_known = st && sqlite3_step(st) == SQLITE_ROW;
    if (s->log_known) s->log_seen = sqlite3_column_int64(st, 0);
    if (st) sqlite3_reset(st);
}

/* More accounts than this in one look and every account counts as changed:
 * marking them one by one would cost more than reading them anew. */
#define CHANGES_MARK_MAX 4096

/* Another process committed (PRAGMA data_version moved): mark the accounts
 * its rows touched, read from the changes table the triggers fill. The
 * row seen last is read again: while it is there, nothing after it was
 * pruned; when it is gone, the next row must follow it directly, or
 * rows may be missing and every account counts as changed. Rows of this
 * process's own changes are read too; they mark their accounts once more. */
static void others_changed(sq_store *s) {
    sqlite3_stmt *st = s->log_known ? q(s, Q_CHANGES_SINCE) : NULL;
    if (!st) {
        log_restart(s);
        return;
    }
    sqlite3_bind_int64(st, 1, s->log_seen);
    sqlite3_int64 seq = s->log_seen;
    int rc, gap_checked = 0, all = 0;
    size_t n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        seq = sqlite3_column_int64(st, 0);
        if (seq == s->log_seen) {
            gap_checked = 1;
            continue;
        }
        if (!gap_checked) {
            gap_checked = 1;
            all = seq != s->log_seen + 1;
        }
        sqlite3_int64 account = sqlite3_column_int64(st, 1);
        if (all || account < 1 || ++n > CHANGES_MARK_MAX) all = 1;
        else changemarks_ids(&s->marks, account, 0);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE || !gap_checked) { /* failed, or the table was emptied */
        log_restart(s);
        return;
    }
    s->log_seen = seq;
    if (all) changemarks_all(&s->marks);
}

static uint64_t sq_generation(store *base) {
    sq_store *s = S(base);
    sqlite3_int64 changes = sqlite3_total_changes64(s->db);
    if (changes != s->seen_changes) {
        s->seen_changes = changes;
        changemarks_all(&s->marks);
    }
    /* Inside a read transaction the answer cannot change: ask once. */
    if (s->read_open && s->data_version_checked) return s->marks.now;
    sqlite3_stmt *st = q(s, Q_DATA_VERSION);
    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        /* Cannot tell: assume something changed. */
        if (st) sqlite3_reset(st);
        return changemarks_all(&s->marks);
    }
    long long dv = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (dv != s->seen_data_version) {
        s->seen_data_version = dv;
        others_changed(s);
    }
    if (s->read_open) s->data_version_checked = 1;
    return s->marks.now;
}

static uint64_t sq_generation_of(store *base, int64_t uid) {
    sq_generation(base); /* every change not yet seen, first */
    return changemarks_of(&S(base)->marks, uid);
}

/* A change of this handle that touched owner's and contact's rows only (an
 * id below 1: none) has just committed. Counted as theirs alone, unless
 * this handle made changes before it that sq_generation has not seen yet
 * (those may touch anyone and are left to it). */
static void own_change(sq_store *s, int64_t owner, int64_t contact) {
    if (s->seen_changes != s->changes_at_begin) return;
    s->seen_changes = sqlite3_total_changes64(s->db);
    changemarks_ids(&s->marks, owner, contact);
}

/* store.c's list change (or ADG) just committed: owner's and contact's
 * rows only. */
static void sq_list_changed(store *base, int64_t owner, int64_t contact) { own_change(S(base), owner, contact); }

static void sq_read_begin(store *base) { read_start(S(base)); }

/* After a change made inside a read scope has committed (or rolled back),
 * the scope's later reads share a new read transaction again. A deferred
 * BEGIN takes no lock until the first query, so this costs nothing when
 * no read follows. */
static void read_resume(sq_store *s) {
    if (s->base.read_depth > 0) read_start(s);
}

static void sq_read_end(store *base) { read_close(S(base)); }

/* The files SQLite has open, as they are at their paths now: -wal and
 * -shm exist while the database is open (SQLite made them at the first
 * read) and stay until the last connection closes, which is never while
 * msnd runs. */
static void files_note(sq_store *s) {
    const char *db = sqlite3_db_filename(s->db, "main");
    if (!db || !*db) return;
    size_t n = strlen(db);
    static const char *const tails[3] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        struct stat st;
        char *name = malloc(n + 5);
        if (!name) return;
        memcpy(name, db, n);
        strcpy(name + n, tails[i]);
        if (stat(name, &st) != 0) {
            free(name);
            continue;
        }
        s->files[i].name = name;
        s->files[i].dev = st.st_dev;
        s->files[i].ino = st.st_ino;
    }
}

/* A file deleted or replaced under the running server (a -wal removed by
 * hand, a copy moved over the database) keeps SQLite writing to the file
 * it has open, which is no longer at the path: a commit there is lost at
 * the next crash or start, and with a new -shm another process's commits
 * and ours overwrite each other. So a change first checks that each file
 * is still the one at its path; if one is not, it and every later change
 * fail (501) with the file named, until msnd is started again.
 *
 * One case keeps what was committed: only the -wal removed, the database
 * and -shm still ours. Nobody else can have committed since (a commit
 * makes a -wal at the path), so the commits in the -wal we hold are
 * copied into the database file at once, as a close would. */
static int files_check(sq_store *s) {
    if (s->files_gone) return -1;
    unsigned moved = 0; /* bit i: files[i] is not the one at its path */
    int wal_found = 1;
    for (int i = 0; i < 3; i++) {
        struct stat st;
        if (!s->files[i].name) continue;
        int found = stat(s->files[i].name, &st) == 0;
        if (found && st.st_dev == s->files[i].dev && st.st_ino == s->files[i].ino) continue;
        moved |= 1u << i;
        if (i == 1) wal_found = found;
    }
    if (!moved) return 0;
    s->files_gone = 1;
    s->files_wal_removed = moved == 2u && !wal_found;
    if (s->files_wal_removed) sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    int first = moved & 1u ? 0 : moved & 2u ? 1 : 2;
    snprintf(s->base.err, sizeof s->base.err,
             "%s was deleted or replaced while msnd had the database open: changes are refused, as they would "
             "not reach the file now at that path; restart msnd",
             s->files[first].name);
    return -1;
}

/* SQLite's busy handler: try the lock again after a short sleep, until
 * s->busy_ms have passed since the first try (then SQLITE_BUSY). msnd's
 * own transactions hold the lock for one fsync'd commit; SQLite's own
 * handler (sqlite3_busy_timeout) sleeps ever longer (up to 100 ms a try),
 * so that against another msnd process changing all the time a waiter
 * kept missing the moments between its transactions and ran out (two
 * processes with 4-5 clients each changing lists: hundreds of 501s a
 * run). Sleeps of 50-250 us (50 us-1 ms after the first 50 ms),
 * randomized so that two waiters do not try in step, catch those
 * moments: the longest wait measured there is 52 ms. */
static int busy_wait(void *arg, int count) {
    sq_store *s = arg;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (count == 0) s->busy_since = now;
    long waited_us =
        (long)(now.tv_sec - s->busy_since.tv_sec) * 1000000L + (long)(now.tv_nsec - s->busy_since.tv_nsec) / 1000L;
    if (waited_us >= (long)s->busy_ms * 1000L) return 0;
    s->busy_rng ^= s->busy_rng << 13; /* xorshift32 */
    s->busy_rng ^= s->busy_rng >> 17;
    s->busy_rng ^= s->busy_rng << 5;
    long span = waited_us < 50000 ? 200 : 900;
    long sleep_us = 50 + (long)(s->busy_rng % (uint32_t)span);
    if (sleep_us > (long)s->busy_ms * 1000L - waited_us) sleep_us = (long)s->busy_ms * 1000L - waited_us;
    struct timespec ts = {0, sleep_us * 1000L};
    nanosleep(&ts, NULL);
    return 1;
}

/* How long changes wait for the lock: busy_ms, or SQ_HELD_BUSY_MS while
 * another process is known to keep it (begin). */
static void busy_set(sq_store *s, int ms) {
    s->busy_ms = ms;
    sqlite3_busy_handler(s->db, ms > 0 ? busy_wait : NULL, s);
}

/* Takes the write lock (BEGIN IMMEDIATE: up front, so a change never
 * fails half-way for another writer). On the event loop, a wait for
 * another process's lock that ran out (SQ_LOOP_BUSY_MS) means a holder
 * that keeps it (a shell inside a transaction): every change after it
 * would block the loop as long again, one after the other, so that a
 * client sending changes would hold up everyone for as long as the lock is
 * held. Instead, from then on changes wait only SQ_HELD_BUSY_MS for the
 * lock and fail soon (501) until one gets it; that one restores the full
 * wait. */
static int begin(sq_store *s) {
    read_close(s);
    s->changes_at_begin = sqlite3_total_changes64(s->db);
    if (files_check(s) != 0) return -1;
    sqlite3_stmt *st = q(s, Q_BEGIN);
    if (!st) return -1;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        if (s->lock_held_elsewhere) {
            s->lock_held_elsewhere = 0;
            busy_set(s, SQ_LOOP_BUSY_MS);
        }
        return 0;
    }
    note_err(s);
    if (rc == SQLITE_BUSY && s->on_loop && !s->lock_held_elsewhere) {
        s->lock_held_elsewhere = 1;
        busy_set(s, SQ_HELD_BUSY_MS);
    }
    return -1;
}

/* The changes table keeps its newest rows: a process that falls further
 * behind than this counts every account as changed (others_changed). */
#define CHANGES_KEEP 65536
#define CHANGES_PRUNE_EVERY 1024 /* commits */

static void log_prune(sq_store *s) {
    s->commits_since_prune = 0;
    sqlite3_stmt *st = q(s, Q_CHANGES_PRUNE);
    if (!st) return;
    sqlite3_int64 before = sqlite3_total_changes64(s->db);
    sqlite3_bind_int64(st, 1, CHANGES_KEEP);
    sqlite3_step(st); /* failing (busy), it is tried again after the next commits */
    sqlite3_reset(st);
    /* Deleted log rows change no account's rows: not a change for
     * sq_generation to count, unless it had not seen what came before. */
    if (s->seen_changes == before) s->seen_changes = sqlite3_total_changes64(s->db);
}

static int commit(sq_store *s) {
    sqlite3_stmt *st = q(s, Q_COMMIT);
    int rc = 0;
    if (!st || exec_done(s, st) != 0) {
        /* The COMMIT's error is the cause to report. A failed COMMIT (a
         * full disk, say) may have ended the transaction already: roll
         * back only one still open, without recording the ROLLBACK's own
         * error over the COMMIT's. */
        sqlite3_stmt *rb = sqlite3_get_autocommit(s->db) ? NULL : q(s, Q_ROLLBACK);
        if (rb) {
            sqlite3_step(rb);
            sqlite3_reset(rb);
        }
        rc = -1;
    } else if (++s->commits_since_prune >= CHANGES_PRUNE_EVERY) {
        log_prune(s);
    }
    read_resume(s);
    return rc;
}

/* Commit a change that wrote rows of accounts a and b only (an id below
 * 1: none): their generations move, nobody else's. */
static store_rc commit_of(sq_store *s, int64_t a, int64_t b) {
    if (commit(s) != 0) return STORE_ERROR;
    own_change(s, a, b);
    return STORE_OK;
}

static store_rc rollback(sq_store *s, store_rc rc) {
    if (sqlite3_get_autocommit(s->db) == 0) {
        char keep[sizeof s->base.err];
        memcpy(keep, s->base.err, sizeof keep);
        sqlite3_stmt *st = q(s, Q_ROLLBACK);
        if (st) exec_done(s, st);
        memcpy(s->base.err, keep, sizeof keep);
    }
    read_resume(s);
    return rc;
}

/* Account fields are checked against their limits before they are
 * written, so they fit; one that does not (a database edited by hand)
 * reads as empty rather than cut. */
static void copy_text(char *dst, size_t cap, const unsigned char *src) {
    msnkit_copy(dst, cap, src ? (const char *)src : "");
}

static const store_ops sq_ops;
static void sq_close(store *base);

/* An integer PRAGMA's value, or dflt when it cannot be read. */
static int pragma_int(sqlite3 *db, const char *sql, int dflt) {
    sqlite3_stmt *get = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &get, NULL) == SQLITE_OK && sqlite3_step(get) == SQLITE_ROW)
        dflt = sqlite3_column_int(get, 0);
    sqlite3_finalize(get);
    return dflt;
}

/* PRAGMA user_version: the schema version, or -1 when it cannot be read. */
static int sq_user_version(sqlite3 *db) { return pragma_int(db, "PRAGMA user_version", -1); }

/* Why the schema version could not be read: a file that is no database,
 * or one that cannot be read or written (a full disk while it is made). */
static void version_unreadable(sqlite3 *db, const char *path, char *err, size_t errcap) {
    int code = sqlite3_errcode(db) & 0xff;
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
        snprintf(err, errcap, "%s: not a database (%s)", path, sqlite3_errmsg(db));
    else
        snprintf(err, errcap,
                 "%s: cannot be read (%s): check the disk, its free space, and that msnd may write the file and its "
                 "directory",
                 path, sqlite3_errmsg(db));
}

static void sq_use_loop(store *base, struct event_base *loop) {
    (void)loop;
    sq_store *s = S(base);
    s->on_loop = 1;
    busy_set(s, SQ_LOOP_BUSY_MS);
}

/* msnd reads no SQLite memory statistics, and keeping them takes a
 * process-wide mutex on every allocation SQLite makes: 3 % of the
 * instructions of a login read. Before the first connection, once. */
static pthread_once_t sqlite_configured = PTHREAD_ONCE_INIT;
static void sqlite_configure(void) { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

store *store_sqlite_open(const char *path, int upgrade, char *err, size_t errcap) {
    sq_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    /* Create the file ourselves so it is private from the start: it holds
     * passwords (see docs/msnd.md). */
    int fd = open(path, O_RDWR | O_CLOEXEC | (upgrade ? O_CREAT : 0), 0600);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    const char *dirname = !slash ? "." : slash == dir ? "/" : dir;
    if (fd < 0 && errno == ENOENT && upgrade) {
        /* O_CREAT: it is the directory that is missing (a service's state
         * directory before its first start), not the file */
        snprintf(err, errcap, "cannot create %s: directory %s does not exist", path, dirname);
        free(s);
        return NULL;
    }
    if (fd < 0) {
        snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno));
        free(s);
        return NULL;
    }
    /* An empty file that was there already becomes the database too: it
     * gets the same mode as one created here, whatever it had. */
    struct stat fst;
    if (upgrade && fstat(fd, &fst) == 0 && S_ISREG(fst.st_mode) && fst.st_size == 0 && (fst.st_mode & 07777) != 0600 &&
        fchmod(fd, 0600) != 0) {
        snprintf(err, errcap, "cannot make %s private (mode 0600): %s", path, strerror(errno));
        close(fd);
        free(s);
        return NULL;
    }
    /* root making a new database (`msnd user add --create` by an operator)
     * in a directory of the service's user (/var/lib/msnd): the file is
     * given to that user, or the service could not open it later. SQLite
     * gives its -wal and -shm the database file's owner itself. */
    struct stat dst;
    if (upgrade && geteuid() == 0 && fstat(fd, &fst) == 0 && S_ISREG(fst.st_mode) && fst.st_size == 0 &&
        fst.st_uid == 0 && stat(dirname, &dst) == 0 && dst.st_uid != 0 && fchown(fd, dst.st_uid, dst.st_gid) != 0) {
        snprintf(err, errcap, "cannot give %s to the owner of %s (uid %u): %s", path, dirname, (unsigned)dst.st_uid,
                 strerror(errno));
        close(fd);
        free(s);
        return NULL;
    }
    close(fd);
    s->base.ops = &sq_ops;
    s->busy_ms = SQ_BUSY_MS;
    if (!(s->path = strdup(path))) {
        snprintf(err, errcap, "out of memory");
        free(s);
        return NULL;
    }
    pthread_once(&sqlite_configured, sqlite_configure);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | (upgrade ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errcap, "cannot open %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sq_close(&s->base);
        return NULL;
    }
    s->busy_rng = ((uint32_t)getpid() * 2654435761u ^ (uint32_t)time(NULL)) | 1u; /* xorshift: never 0 */
    busy_set(s, s->busy_ms);
    char *msg = NULL;
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", NULL, NULL,
                     &msg) != SQLITE_OK) {
        note_err(s);
        snprintf(err, errcap, "%s", s->base.err);
        sqlite3_free(msg);
        sq_close(&s->base);
        return NULL;
    }
    int version = sq_user_version(s->db);
    if (version < 0) {
        version_unreadable(s->db, path, err, errcap);
        sq_close(&s->base);
        return NULL;
    }
    int target = schema_version();
    if (version > target) {
        snprintf(err, errcap, "%s: schema version %d is newer than this msnd (%d)", path, version, target);
        sq_close(&s->base);
        return NULL;
    }
    if (version < target && !upgrade) {
        if (version == 0) snprintf(err, errcap, "%s has no msnd schema: not an msnd database", path);
        else
            snprintf(err, errcap,
                     "%s has schema version %d, older than this msnd's (%d): db migrate does not change its "
                     "source; upgrade it first with `msnd db init --db %s`",
                     path, version, target, path);
        sq_close(&s->base);
        return NULL;
    }
    if (version < target) {
        if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) goto migrate_fail;
        /* Another msnd started on the same file may have migrated it
         * while this one waited for the lock: read the version again. */
        version = sq_user_version(s->db);
        if (version < 0 || version > target) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            if (version < 0) version_unreadable(s->db, path, err, errcap);
            else snprintf(err, errcap, "%s: schema version %d is newer than this msnd (%d)", path, version, target);
            sq_close(&s->base);
            return NULL;
        }
        for (int v = version; v < target; v++)
            if (sqlite3_exec(s->db, schema_migration(SCHEMA_SQLITE, v), NULL, NULL, &msg) != SQLITE_OK)
                goto migrate_fail;
        char set[64];
        snprintf(set, sizeof set, "PRAGMA user_version=%d; COMMIT;", target);
        if (sqlite3_exec(s->db, set, NULL, NULL, &msg) != SQLITE_OK) goto migrate_fail;
    }
    /* SQLite falls back to reading a database it cannot write without a
     * word (a -wal or -shm left behind by another user, root say): msnd
     * would look ready and refuse every change with 501. A write
     * transaction begun and rolled back tells; a lock another process
     * holds is no such sign, and is not waited for (a read-only database
     * says so before the lock is asked for). */
    sqlite3_busy_handler(s->db, NULL, NULL);
    int readonly = sqlite3_exec(s->db, "BEGIN IMMEDIATE; ROLLBACK;", NULL, NULL, NULL) != SQLITE_OK &&
        (sqlite3_errcode(s->db) & 0xff) == SQLITE_READONLY;
    busy_set(s, s->busy_ms);
    if (readonly) {
        note_err(s);
        snprintf(err, errcap, "%s", s->base.err);
        sq_close(&s->base);
        return NULL;
    }
    s->base.created = version == 0; /* a file that did not exist, or was empty */
    files_note(s);
    s->opened = 1;
    return &s->base;
migrate_fail:
    snprintf(err, errcap, "%s: schema migration failed: %s", path, msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    sq_close(&s->base);
    return NULL;
}

static void sq_close(store *base) {
    sq_store *s = S(base);
    if (!s) return;
    for (int i = 0; i < Q_COUNT; i++) sqlite3_finalize(s->st[i]);
    /* Closing copies what the -wal holds into the database file, as this
     * process saw it. When the files at the paths are no longer the ones
     * it has open, another process may have committed to them since
     * (through a new -shm): what it wrote is kept, not overwritten with
     * older pages (files_check). */
    if (s->db && files_check(s) != 0 && !s->files_wal_removed)
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    /* The copy a close makes fails without a word (a full disk: the
     * database file cannot grow), leaving the changes in the -wal until
     * the next start: made here first, so that a failure is logged with
     * the file (by a store that opened: a failed open has said why). Busy
     * is another process checkpointing, which is not a failure. */
    else if (s->db && s->opened) {
        int rc = sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
            note_err(s);
            LOGE("database checkpoint failed at close: the changes stay in the -wal file until the next start",
                 "error=\"%s\"", s->base.err);
        }
    }
    if (s->db) sqlite3_close(s->db);
    changemarks_free(&s->marks);
    for (int i = 0; i < 3; i++) free(s->files[i].name);
    free(s->path);
    free(s);
}

static void read_user(sqlite3_stmt *st, store_user *u) {
    u->id = sqlite3_column_int64(st, 0);
    copy_text(u->email, sizeof u->email, sqlite3_column_text(st, 1));
    copy_text(u->password, sizeof u->password, sqlite3_column_text(st, 2));
    copy_text(u->name, sizeof u->name, sqlite3_column_text(st, 3));
    u->version = (uint32_t)sqlite3_column_int64(st, 4);
    const unsigned char *blp = sqlite3_column_text(st, 5);
    const unsigned char *gtc = sqlite3_column_text(st, 6);
    u->blp_allow = !(blp && strcmp((const char *)blp, "BL") == 0);
    u->gtc_prompt = !(gtc && strcmp((const char *)gtc, "N") == 0);
}

static store_rc sq_user_add(store *base, const char *email, const char *password, const char *name) {
    sq_store *s = S(base);
    if (begin(s) != 0) return STORE_ERROR;
    sqlite3_stmt *st = q(s, Q_USER_ADD);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, password, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT) return rollback(s, STORE_EXISTS);
    if (rc != SQLITE_DONE) {
        note_err(s);
        return rollback(s, STORE_ERROR);
    }
    sqlite3_int64 id = sqlite3_last_insert_rowid(s->db);
    st = q(s, Q_GROUP0_ADD);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, id);
    if (exec_done(s, st) != 0) return rollback(s, STORE_ERROR);
    return commit(s) == 0 ? STORE_OK : STORE_ERROR;
}

static store_rc sq_user_passwd(store *base, const char *email, const char *password) {
    sq_store *s = S(base);
    read_close(s);
    sqlite3_stmt *st = q(s, Q_USER_PASSWD);
    store_rc rc = STORE_ERROR;
    if (st) {
        sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, password, -1, SQLITE_STATIC);
        if (exec_done(s, st) == 0) rc = sqlite3_changes(s->db) ? STORE_OK : STORE_NOTFOUND;
    }
    read_resume(s);
    return rc;
}

static store_rc sq_user_get(store *base, const char *email, store_user *out) {
    sq_store *s = S(base);
    sqlite3_stmt *st = q(s, Q_USER_GET);
    if (!st) return STORE_ERROR;
    sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) read_user(st, out);
    else if (rc != SQLITE_DONE) note_err(s);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOTFOUND : STORE_ERROR;
}

static store_rc sq_users_gone(store *base, const int64_t *ids, size_t n, store_id_cb fn, void *ctx) {
    sq_store *s = S(base);
    sqlite3_stmt *st = q(s, Q_USERS_GONE);
    char *list = store_id_list(ids, n, '[', ']');
    if (!st || !list) {
        free(list);
        return STORE_ERROR;
    }
    sqlite3_bind_text(st, 1, list, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) fn(sqlite3_column_int64(st, 0), ctx);
    if (rc != SQLITE_DONE) note_err(s);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    free(list);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
}

static store_rc sq_user_get_id(store *base, int64_t id, store_user *out) {
    sq_store *s = S(base);
    sqlite3_stmt *st = q(s, Q_USER_GET_ID);
    if (!st) return STORE_ERROR;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) read_user(st, out);
    else if (rc != SQLITE_DONE) note_err(s);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOTFOUND : STORE_ERROR;
}

static store_rc sq_user_del(store *base, const char *email) {
    sq_store *s = S(base);
    store_user u;
    store_rc r = sq_user_get(base, email, &u);
    if (r != STORE_OK) return r;
    if (begin(s) != 0) return STORE_ERROR;
    sqlite3_stmt *st = q(s, Q_USER_DEL_BUMP);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, u.id);
    if (exec_done(s, st) != 0) return rollback(s, STORE_ERROR);
    st = q(s, Q_USER_DEL);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, u.id);
    if (exec_done(s, st) != 0) return rollback(s, STORE_ERROR);
    return commit(s) == 0 ? STORE_OK : STORE_ERROR;
}

static store_rc sq_user_each(store *base, store_user_cb fn, void *ctx) {
    sq_store *s = S(base);
    sqlite3_stmt *st = q(s, Q_USER_EACH);
    if (!st) return STORE_ERROR;
    int rc;
    store_user u;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        read_user(st, &u);
        fn(&u, ctx);
    }
    if (rc != SQLITE_DONE) note_err(s);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
}

/* Bump uid's version inside the current transaction and read it back. */
static int bump(sq_store *s, int64_t uid, uint32_t *ver) {
    sqlite3_stmt *st = q(s, Q_BUMP);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, uid);
    if (exec_done(s, st) != 0) return -1;
    st = q(s, Q_VERSION);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, uid);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && ver) *ver = (uint32_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* A new version for every other account whose SYN output shows uid's
 * name or phone numbers (qid), so that a list cached at the old one is
 * read again. */
static int bump_readers(sq_store *s, int qid, int64_t uid) {
    sqlite3_stmt *st = q(s, qid);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, uid);
    return exec_done(s, st);
}

/* One UPDATE keyed by uid (+ a text value), then a version bump, atomically.
 * only_own: the column shows in uid's own rows alone (GTC), not in what
 * other accounts read of uid (BLP decides what its contacts see: its
 * presence, and its phone numbers in the BPR lines of their FL, whose
 * versions are bumped too). */
static store_rc update_and_bump(sq_store *s, int qid, int64_t uid, const char *text, int only_own, uint32_t *ver) {
    if (begin(s) != 0) return STORE_ERROR;
    sqlite3_stmt *st = q(s, qid);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    if (exec_done(s, st) != 0) return rollback(s, STORE_ERROR);
    if (sqlite3_changes(s->db) == 0) return rollback(s, STORE_NOTFOUND);
    if (!only_own && bump_readers(s, Q_BUMP_PHONE_READERS, uid) != 0) return rollback(s, STORE_ERROR);
    if (bump(s, uid, ver) != 0) return rollback(s, STORE_ERROR);
    if (only_own) return commit_of(s, uid, 0);
    return commit(s) == 0 ? STORE_OK : STORE_ERROR;
}

static store_rc sq_set_name(store *base, int64_t uid, const char *name, uint32_t *ver) {
    sq_store *s = S(base);
    if (begin(s) != 0) return STORE_ERROR;
    sqlite3_stmt *st = q(s, Q_SET_NAME);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    if (exec_done(s, st) != 0) return rollback(s, STORE_ERROR);
    if (sqlite3_changes(s->db) == 0) return rollback(s, STORE_NOTFOUND);
    /* Contacts' FL entries follow the user's own name, as the real service
     * kept them in step. */
    st = q(s, Q_SET_NAME_FL);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    if (exec_done(s, st) != 0) return rollback(s, STORE_ERROR);
    if (bump_readers(s, Q_BUMP_NAME_READERS, uid) != 0 || bump(s, uid, ver) != 0) return rollback(s, STORE_ERROR);
    return commit(s) == 0 ? STORE_OK : STORE_ERROR;
}

static store_rc sq_set_blp(store *base, int64_t uid, int allow, uint32_t *ver) {
    sq_store *s = S(base);
    return update_and_bump(s, Q_SET_BLP, uid, allow ? "AL" : "BL", 0, ver);
}

static store_rc sq_set_gtc(store *base, int64_t uid, int prompt, uint32_t *ver) {
    sq_store *s = S(base);
    return update_and_bump(s, Q_SET_GTC, uid, prompt ? "A" : "N", 1, ver);
}

static store_rc sq_list_each(store *base, int64_t owner, msnp_list list, store_entry_cb fn, void *ctx) {
    sq_store *s = S(base);
    int fl = list == MSNP_LIST_FL;
    sqlite3_stmt *st = q(s, list == MSNP_LIST_RL ? Q_RL_EACH : fl ? Q_FL_EACH : Q_LIST_EACH);
    if (!st) return STORE_ERROR;
    sqlite3_bind_int64(st, 1, owner);
    if (list != MSNP_LIST_RL && !fl) sqlite3_bind_int(st, 2, (int)list);
    int rc;
    int gids[STORE_MAX_ENTRY_GROUPS];
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_entry e;
        e.contact = sqlite3_column_int64(st, 0);
        e.email = (const char *)sqlite3_column_text(st, 1);
        e.name = (const char *)sqlite3_column_text(st, 2);
        e.groups = gids;
        e.ngroups = fl ? store_parse_ids((const char *)sqlite3_column_text(st, 3), gids, STORE_MAX_ENTRY_GROUPS) : 0;
        for (int k = 0; k < 4; k++) e.phones[k] = fl ? (const char *)sqlite3_column_text(st, 4 + k) : NULL;
        if (!e.email || !e.name) continue;
        if (fn(&e, ctx)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) note_err(s);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
}

static long scalar_long(sq_store *s, sqlite3_stmt *st) {
    long v = -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) v = (long)sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE) v = 0;
    else note_err(s);
    sqlite3_reset(st);
    return v;
}

static long sq_list_count(store *base, int64_t owner, msnp_list list) {
    sq_store *s = S(base);
    sqlite3_stmt *st = q(s, list == MSNP_LIST_RL ? Q_RL_COUNT : Q_LIST_COUNT);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, owner);
    if (list != MSNP_LIST_RL) sqlite3_bind_int(st, 2, (int)list);
    return scalar_long(s, st);
}

static int list_get(sq_store *s, int64_t owner, msnp_list list, int64_t contact) {
    sqlite3_stmt *st = q(s, Q_LIST_GET);
    if (!st) return -1;
    if (list == MSNP_LIST_RL) { /* RL: does contact have owner on FL? */
        sqlite3_bind_int64(st, 1, contact);
        sqlite3_bind_int(st, 2, MSNP_LIST_FL);
        sqlite3_bind_int64(st, 3, owner);
    } else {
        sqlite3_bind_int64(st, 1, owner);
        sqlite3_bind_int(st, 2, (int)list);
        sqlite3_bind_int64(st, 3, contact);
    }
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) note_err(s);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int sq_list_get(store *base, int64_t owner, msnp_list list, int64_t contact) {
    return list_get(S(base), owner, list, contact);
}

/* A count(*) keyed by (owner, x[, y]) inside the current transaction. */
static long count3(sq_store *s, int qid, int64_t a, int64_t b, int64_t c, int nargs) {
    sqlite3_stmt *st = q(s, qid);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, a);
    if (nargs > 1) sqlite3_bind_int64(st, 2, b);
    if (nargs > 2) sqlite3_bind_int64(st, 3, c);
    return scalar_long(s, st);
}

/* Run a membership statement (owner, contact, gid). */
static int member_exec(sq_store *s, int qid, int64_t owner, int64_t contact, int gid) {
    sqlite3_stmt *st = q(s, qid);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, owner);
    sqlite3_bind_int64(st, 2, contact);
    sqlite3_bind_int(st, 3, gid);
    return exec_done(s, st);
}

/* ---- the change primitives store.c decides ADD, REM and ADG with ---- */

static int sq_change_begin(store *base, int64_t owner, int64_t contact) {
    /* BEGIN IMMEDIATE holds the one write lock: no row locks needed. */
    (void)owner;
    (void)contact;
    return begin(S(base));
}

static store_rc sq_change_end(store *base, store_rc rc) {
    sq_store *s = S(base);
    if (rc != STORE_OK) return rollback(s, rc);
    return commit(s) == 0 ? STORE_OK : STORE_ERROR;
}

/* Holding the write lock from the start, a change never has to run again. */
static int sq_change_again(store *base) {
    (void)base;
    return 0;
}

static long sq_tx_group_exists(store *base, int64_t owner, int gid) {
    return count3(S(base), Q_GROUP_EXISTS, owner, gid, 0, 2);
}

static long sq_tx_group_count(store *base, int64_t owner) { return count3(S(base), Q_GROUP_COUNT, owner, 0, 0, 1); }

static long sq_tx_group_next(store *base, int64_t owner) { return count3(S(base), Q_GROUP_NEXT, owner, 0, 0, 1); }

static int sq_tx_group_insert(store *base, int64_t owner, int gid, const char *name) {
    sq_store *s = S(base);
    sqlite3_stmt *st = q(s, Q_GROUP_ADD);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, owner);
    sqlite3_bind_int(st, 2, gid);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    return exec_done(s, st);
}

static long sq_tx_entry_has(store *base, int64_t owner, msnp_list list, int64_t contact) {
    return list_get(S(base), owner, list, contact);
}

static long sq_tx_entry_count(store *base, int64_t owner, msnp_list list) {
    return count3(S(base), Q_LIST_COUNT, owner, (int64_t)list, 0, 2);
}

static int sq_tx_entry_insert(store *base, int64_t owner, msnp_list list, int64_t contact, const char *name) {
    sq_store *s = S(base);
    sqlite3_stmt *st = q(s, Q_LIST_ADD);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, owner);
    sqlite3_bind_int(st, 2, (int)list);
    sqlite3_bind_int64(st, 3, contact);
    sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
    return exec_done(s, st);
}

static int sq_tx_entry_delete(store *base, int64_t owner, msnp_list list, int64_t contact) {
    sq_store *s = S(base);
    sqlite3_stmt *st = q(s, Q_LIST_DEL);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, owner);
    sqlite3_bind_int(st, 2, (int)list);
    sqlite3_bind_int64(st, 3, contact);
    return exec_done(s, st);
}

static long sq_tx_member_count(store *base, int64_t owner, int64_t contact, int gid) {
    if (gid < 0) return count3(S(base), Q_MEMBER_COUNT, owner, contact, 0, 2);
    return count3(S(base), Q_MEMBER_HAS, owner, contact, gid, 3);
}

static int sq_tx_member_insert(store *base, int64_t owner, int64_t contact, int gid) {
    return member_exec(S(base), Q_MEMBER_ADD, owner, contact, gid);
}

static int sq_tx_member_delete(store *base, int64_t owner, int64_t contact, int gid) {
    return member_exec(S(base), Q_MEMBER_DEL, owner, contact, gid);
}

static int sq_tx_bump(store *base, int64_t uid, uint32_t *ver) { return bump(S(base), uid, ver); }

/* A rename: the statement qid sets ?3 on the row of (owner ?1, key ?2),
 * STORE_NOTFOUND when there is none; the owner's list version is bumped.
 * Only the owner's rows change (a group's name, the name the owner gave a
 * contact). */
static store_rc row_rename(sq_store *s, int qid, int64_t owner, int64_t key, const char *text, uint32_t *ver) {
    if (begin(s) != 0) return STORE_ERROR;
    sqlite3_stmt *st = q(s, qid);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, owner);
    sqlite3_bind_int64(st, 2, key);
    sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
    if (exec_done(s, st) != 0) return rollback(s, STORE_ERROR);
    if (sqlite3_changes(s->db) == 0) return rollback(s, STORE_NOTFOUND);
    if (bump(s, owner, ver) != 0) return rollback(s, STORE_ERROR);
    return commit_of(s, owner, 0);
}

static store_rc sq_list_rename(store *base, int64_t owner, int64_t contact, const char *name, uint32_t *ver) {
    sq_store *s = S(base);
    return row_rename(s, Q_LIST_RENAME, owner, contact, name, ver);
}

static store_rc peers_each(sq_store *s, int qid, int64_t uid, store_peer_cb fn, void *ctx) {
    sqlite3_stmt *st = q(s, qid);
    if (!st) return STORE_ERROR;
    sqlite3_bind_int64(st, 1, uid);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_peer p;
        p.id = sqlite3_column_int64(st, 0);
        p.email = (const char *)sqlite3_column_text(st, 1);
        p.name = (const char *)sqlite3_column_text(st, 2);
        p.blp_allow = sqlite3_column_int(st, 3);
        p.in_al = sqlite3_column_int(st, 4);
        p.in_bl = sqlite3_column_int(st, 5);
        if (p.email && p.name) fn(&p, ctx);
    }
    if (rc != SQLITE_DONE) note_err(s);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
}

static store_rc sq_watchers_each(store *base, int64_t uid, store_peer_cb fn, void *ctx) {
    sq_store *s = S(base);
    return peers_each(s, Q_WATCHERS, uid, fn, ctx);
}

static store_rc sq_contacts_each(store *base, int64_t uid, store_peer_cb fn, void *ctx) {
    sq_store *s = S(base);
    return peers_each(s, Q_CONTACTS, uid, fn, ctx);
}

static store_rc sq_group_each(store *base, int64_t owner, store_group_cb fn, void *ctx) {
    sq_store *s = S(base);
    sqlite3_stmt *st = q(s, Q_GROUP_EACH);
    if (!st) return STORE_ERROR;
    sqlite3_bind_int64(st, 1, owner);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        fn(sqlite3_column_int(st, 0), name ? name : "", ctx);
    }
    if (rc != SQLITE_DONE) note_err(s);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
}

static long sq_group_count(store *base, int64_t owner) {
    sq_store *s = S(base);
    sqlite3_stmt *st = q(s, Q_GROUP_COUNT);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, owner);
    return scalar_long(s, st);
}

static int sq_group_exists(store *base, int64_t owner, int gid) {
    sq_store *s = S(base);
    sqlite3_stmt *st = q(s, Q_GROUP_EXISTS);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, owner);
    sqlite3_bind_int(st, 2, gid);
    long v = scalar_long(s, st);
    return v < 0 ? -1 : v > 0;
}

static store_rc sq_group_del(store *base, int64_t owner, int gid, uint32_t *ver) {
    sq_store *s = S(base);
    if (gid == 0) return STORE_ERROR;
    if (begin(s) != 0) return STORE_ERROR;
    sqlite3_stmt *st = q(s, Q_GROUP_DEL);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, owner);
    sqlite3_bind_int(st, 2, gid);
    if (exec_done(s, st) != 0) return rollback(s, STORE_ERROR);
    if (sqlite3_changes(s->db) == 0) return rollback(s, STORE_NOTFOUND);
    /* The memberships went with the group (ON DELETE CASCADE); entries
     * that were only in it fall back to group 0. */
    st = q(s, Q_GROUP_REFILL);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, owner);
    if (exec_done(s, st) != 0) return rollback(s, STORE_ERROR);
    if (bump(s, owner, ver) != 0) return rollback(s, STORE_ERROR);
    return commit_of(s, owner, 0); /* its groups and its entries' memberships */
}

static store_rc sq_group_rename(store *base, int64_t owner, int gid, const char *name, uint32_t *ver) {
    return row_rename(S(base), Q_GROUP_RENAME, owner, gid, name, ver);
}

static store_rc sq_prop_set(store *base, int64_t owner, const char *key, const char *value, uint32_t *ver) {
    sq_store *s = S(base);
    if (begin(s) != 0) return STORE_ERROR;
    sqlite3_stmt *st = q(s, value ? Q_PROP_SET : Q_PROP_DEL);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, owner);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    if (value) sqlite3_bind_text(st, 3, value, -1, SQLITE_STATIC);
    if (exec_done(s, st) != 0) return rollback(s, STORE_ERROR);
    if (bump_readers(s, Q_BUMP_PHONE_READERS, owner) != 0 || bump(s, owner, ver) != 0) return rollback(s, STORE_ERROR);
    return commit(s) == 0 ? STORE_OK : STORE_ERROR;
}

_Static_assert(SYNC_FL == 3 && SYNC_RL == 6 && SYNC_FL_GROUP == 7 && SYNC_FL_PHONE == 8 && SYNC_LISTED_BY == 9,
               "Q_SYNC tags its rows with these kinds");

static store_rc sq_sync_rows(store *base, int64_t uid, store_sync_builder *b) {
    sq_store *s = S(base);
    sqlite3_stmt *st = q(s, Q_SYNC);
    if (!st) return STORE_ERROR;
    sqlite3_bind_int64(st, 1, uid);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        /* Only the columns Q_SYNC fills for the row's kind are read; it
         * leaves the others NULL or 0, as they are here. A column read is
         * a call into SQLite of some 60 instructions, and a cold login
         * steps about 30 rows of nine columns. */
        store_sync_row r = {0};
        r.kind = sqlite3_column_int(st, 0);
        r.id = sqlite3_column_int64(st, 1);
        switch (r.kind) {
        case SYNC_FL_GROUP: r.a = sqlite3_column_int64(st, 5); break;
        case SYNC_LISTED_BY: r.b = sqlite3_column_int(st, 6); break;
        default:
            r.email = (const char *)sqlite3_column_text(st, 2);
            r.name = (const char *)sqlite3_column_text(st, 3);
            if (r.kind == SYNC_FL || r.kind == SYNC_RL) r.peer_name = (const char *)sqlite3_column_text(st, 4);
            if (r.kind == SYNC_USER || r.kind == SYNC_FL) r.a = sqlite3_column_int64(st, 5);
            if (r.kind == SYNC_USER) {
                r.b = sqlite3_column_int(st, 6);
                r.c = sqlite3_column_int(st, 7);
            }
            if (r.kind != SYNC_USER && r.kind != SYNC_FL_PHONE) r.ord = sqlite3_column_int64(st, 8);
        }
        if (store_sync_add(b, &r) != 0) {
            sqlite3_reset(st);
            snprintf(s->base.err, sizeof s->base.err, "out of memory");
            return STORE_ERROR;
        }
    }
    if (rc != SQLITE_DONE) note_err(s);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
}

static store_rc sq_counts(store *base, store_counts *out) {
    sq_store *s = S(base);
    static const char *const sql =
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM list_entries), (SELECT count(*) FROM groups),"
        " (SELECT count(*) FROM fl_groups), (SELECT count(*) FROM props)";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        note_err(s);
        return STORE_ERROR;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->users = (long)sqlite3_column_int64(st, 0);
        out->entries = (long)sqlite3_column_int64(st, 1);
        out->groups = (long)sqlite3_column_int64(st, 2);
        out->memberships = (long)sqlite3_column_int64(st, 3);
        out->props = (long)sqlite3_column_int64(st, 4);
    } else {
        note_err(s);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? STORE_OK : STORE_ERROR;
}

/* ---- export (store_copy's source side): a statement per table, read in
 * the transaction store_copy holds (store_read_begin) ---- */

static int export_user(sqlite3_stmt *st, const store_export *x, void *ctx) {
    store_user u;
    read_user(st, &u);
    return x->user(&u, ctx);
}

static const char *column_text(sqlite3_stmt *st, int col) {
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? (const char *)t : "";
}

static int export_group(sqlite3_stmt *st, const store_export *x, void *ctx) {
    return x->group(sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1), column_text(st, 2), ctx);
}

static int export_entry(sqlite3_stmt *st, const store_export *x, void *ctx) {
    int gids[STORE_MAX_ENTRY_GROUPS];
    msnp_list list = (msnp_list)sqlite3_column_int(st, 1);
    store_entry e = {.contact = sqlite3_column_int64(st, 2),
                     .email = column_text(st, 3),
                     .name = column_text(st, 4),
                     .groups = gids};
    if (list == MSNP_LIST_FL) e.ngroups = store_parse_ids(column_text(st, 5), gids, STORE_MAX_ENTRY_GROUPS);
    return x->entry(sqlite3_column_int64(st, 0), list, &e, ctx);
}

static int export_prop(sqlite3_stmt *st, const store_export *x, void *ctx) {
    return x->prop(sqlite3_column_int64(st, 0), column_text(st, 1), column_text(st, 2), ctx);
}

static store_rc sq_export_rows(store *base, const store_export *x, void *ctx) {
    sq_store *s = S(base);
    store_counts n;
    if (sq_counts(base, &n) != STORE_OK) return STORE_ERROR;
    static const struct {
        const char *sql;
        int (*row)(sqlite3_stmt *st, const store_export *x, void *ctx);
    } tables[] = {
        {"SELECT id,email,password,name,version,blp,gtc FROM users ORDER BY id", export_user},
        {"SELECT owner,gid,name FROM groups ORDER BY owner,gid", export_group},
        /* in the order they were added, across lists and accounts: each
         * list keeps its order, and so does every account's RL (the FL
         * entries naming it, read in that order) */
        {"SELECT e.owner,e.list,e.contact,u.email,e.name,"
         "(SELECT group_concat(gid) FROM (SELECT gid FROM fl_groups g WHERE g.owner=e.owner AND g.contact=e.contact "
         "ORDER BY gid)) FROM list_entries e JOIN users u ON u.id=e.contact ORDER BY e.rowid",
         export_entry},
        {"SELECT owner,key,value FROM props ORDER BY owner,key", export_prop},
    };
    int stopped = x->counts(&n, ctx) != 0;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0] && !stopped; i++) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db, tables[i].sql, -1, &st, NULL) != SQLITE_OK) {
            note_err(s);
            return STORE_ERROR;
        }
        int rc;
        while (!stopped && (rc = sqlite3_step(st)) == SQLITE_ROW) stopped = tables[i].row(st, x, ctx) != 0;
        if (!stopped && rc != SQLITE_DONE) {
            note_err(s);
            sqlite3_finalize(st);
            return STORE_ERROR;
        }
        sqlite3_finalize(st);
    }
    return STORE_OK;
}

static int sq_has_accounts(store *base) {
    sq_store *s = S(base);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT EXISTS(SELECT 1 FROM users)", -1, &st, NULL) != SQLITE_OK) {
        note_err(s);
        return -1;
    }
    int rc = sqlite3_step(st);
    int has = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) != 0 : -1;
    if (rc != SQLITE_ROW) note_err(s);
    sqlite3_finalize(st);
    return has;
}

/* ---- bulk load (store_load_*, store_copy) ---- */

/* A load is one transaction, often larger than the page cache: SQLite
 * then writes pages out to the WAL as the cache fills, and again each time
 * one of them changes, a system call per page. The load's own cache holds
 * up to 256 MiB, used only as the transaction grows. Each INSERT also
 * keeps the pages it changes in a statement journal (its triggers write a
 * second table, so it may have to be undone alone), and in a transaction
 * this large that journal goes to a temporary file: 1.9 million writes
 * of 430 000 rows, most of the time of the copy. The load keeps it in
 * memory (temp_store). Both settings are put back at its end. */
#define IMPORT_CACHE_KIB 262144

/* The load's transaction ended (rc): its settings put back (temp_store
 * cannot change inside a transaction). A failure to put them back leaves
 * only a larger cache and journals in memory. */
static store_rc import_settings_back(sq_store *s, store_rc rc) {
    char set[80];
    snprintf(set, sizeof set, "PRAGMA cache_size=%d; PRAGMA temp_store=%d", s->cache_kept, s->temp_store_kept);
    sqlite3_exec(s->db, set, NULL, NULL, NULL);
    return rc;
}

static store_rc sq_import_begin(store *base) {
    sq_store *s = S(base);
    s->cache_kept = pragma_int(s->db, "PRAGMA cache_size", -2000); /* SQLite's default */
    s->temp_store_kept = pragma_int(s->db, "PRAGMA temp_store", 0);
    char set[80];
    snprintf(set, sizeof set, "PRAGMA cache_size=-%d; PRAGMA temp_store=MEMORY", IMPORT_CACHE_KIB);
    if (sqlite3_exec(s->db, set, NULL, NULL, NULL) != SQLITE_OK) {
        note_err(s);
        return import_settings_back(s, STORE_ERROR);
    }
    s->import_created = (int64_t)time(NULL);
    return begin(s) == 0 ? STORE_OK : import_settings_back(s, STORE_ERROR);
}

/* Runs one of the load's statements with integer and text parameters:
 * kinds "i" (int64) or "t" (text), one character per parameter. */
static store_rc sq_exec_load(sq_store *s, int id, const char *kinds, const int64_t *nums, const char *const *texts) {
    sqlite3_stmt *st = q(s, id);
    if (!st) return STORE_ERROR;
    for (int i = 0; kinds[i]; i++) {
        if (kinds[i] == 'i') sqlite3_bind_int64(st, i + 1, nums[i]);
        else sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_STATIC);
    }
    return exec_done(s, st) == 0 ? STORE_OK : STORE_ERROR;
}

static store_rc sq_import_user(store *base, const store_user *u) {
    sq_store *s = S(base);
    int64_t n[8] = {u->id, 0, 0, 0, (int64_t)u->version, 0, 0, s->import_created};
    const char *t[8] = {
        NULL, u->email, u->password, u->name, NULL, u->blp_allow ? "AL" : "BL", u->gtc_prompt ? "A" : "N", NULL};
    return sq_exec_load(s, Q_IMPORT_USER, "itttitti", n, t);
}

static store_rc sq_import_group(store *base, int64_t owner, int gid, const char *name) {
    int64_t n[3] = {owner, gid, 0};
    const char *t[3] = {NULL, NULL, name};
    return sq_exec_load(S(base), Q_GROUP_ADD, "iit", n, t);
}

static store_rc sq_import_entry(store *base, int64_t owner, msnp_list list, const store_entry *e) {
    sq_store *s = S(base);
    sqlite3_stmt *st = q(s, Q_LIST_ADD);
    if (!st) return STORE_ERROR;
    sqlite3_bind_int64(st, 1, owner);
    sqlite3_bind_int(st, 2, (int)list);
    sqlite3_bind_int64(st, 3, e->contact);
    sqlite3_bind_text(st, 4, e->name, -1, SQLITE_STATIC);
    if (exec_done(s, st) != 0) return STORE_ERROR;
    for (size_t i = 0; list == MSNP_LIST_FL && i < e->ngroups; i++)
        if (member_exec(s, Q_MEMBER_ADD, owner, e->contact, e->groups[i]) != 0) return STORE_ERROR;
    return STORE_OK;
}

static store_rc sq_import_prop(store *base, int64_t owner, const char *key, const char *value) {
    int64_t n[3] = {owner, 0, 0};
    const char *t[3] = {NULL, key, value};
    return sq_exec_load(S(base), Q_IMPORT_PROP, "itt", n, t);
}

static store_rc sq_import_end(store *base, int ok) {
    sq_store *s = S(base);
    if (!ok) return import_settings_back(s, rollback(s, STORE_OK));
    /* the rows the load's triggers logged, one per row loaded, say no more
     * than one row for every account */
    if (sqlite3_exec(s->db,
                     "INSERT INTO changes(account) VALUES(0);"
                     "DELETE FROM changes WHERE seq<(SELECT max(seq) FROM changes)",
                     NULL, NULL, NULL) != SQLITE_OK)
        return import_settings_back(s, rollback(s, STORE_ERROR));
    return import_settings_back(s, commit(s) == 0 ? STORE_OK : STORE_ERROR);
}

static const store_ops sq_ops = {
    .name = "sqlite",
    .close = sq_close,
    .use_loop = sq_use_loop,
    .read_begin = sq_read_begin,
    .read_end = sq_read_end,
    .generation = sq_generation,
    .generation_of = sq_generation_of,
    .list_changed = sq_list_changed,
    .user_add = sq_user_add,
    .user_passwd = sq_user_passwd,
    .user_del = sq_user_del,
    .user_get = sq_user_get,
    .user_get_id = sq_user_get_id,
    .users_gone = sq_users_gone,
    .user_each = sq_user_each,
    .set_name = sq_set_name,
    .set_blp = sq_set_blp,
    .set_gtc = sq_set_gtc,
    .list_each = sq_list_each,
    .list_count = sq_list_count,
    .list_get = sq_list_get,
    .list_rename = sq_list_rename,
    .watchers_each = sq_watchers_each,
    .contacts_each = sq_contacts_each,
    .group_each = sq_group_each,
    .group_count = sq_group_count,
    .group_exists = sq_group_exists,
    .group_del = sq_group_del,
    .group_rename = sq_group_rename,
    .prop_set = sq_prop_set,
    .sync_rows = sq_sync_rows,
    .counts = sq_counts,
    .has_accounts = sq_has_accounts,
    .change_begin = sq_change_begin,
    .change_end = sq_change_end,
    .change_again = sq_change_again,
    .tx_group_exists = sq_tx_group_exists,
    .tx_group_count = sq_tx_group_count,
    .tx_group_next = sq_tx_group_next,
    .tx_group_insert = sq_tx_group_insert,
    .tx_entry_has = sq_tx_entry_has,
    .tx_entry_count = sq_tx_entry_count,
    .tx_entry_insert = sq_tx_entry_insert,
    .tx_entry_delete = sq_tx_entry_delete,
    .tx_member_count = sq_tx_member_count,
    .tx_member_insert = sq_tx_member_insert,
    .tx_member_delete = sq_tx_member_delete,
    .tx_bump = sq_tx_bump,
    .import_begin = sq_import_begin,
    .import_user = sq_import_user,
    .import_group = sq_import_group,
    .import_entry = sq_import_entry,
    .import_prop = sq_import_prop,
    .import_end = sq_import_end,
    .export_rows = sq_export_rows,
};
