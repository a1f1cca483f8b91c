/* SQLite backend of store.h.
 *
 * WAL journal with synchronous=FULL: a change is on disk when the COMMIT
 * returns, which is what lets handlers reply "done" right afterwards.
 * Statements are prepared once and cached. The schema version lives in
 * PRAGMA user_version; migrations run in order inside one transaction. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    Q_USER_ADD, Q_GROUP0_ADD, Q_USER_PASSWD, Q_USER_DEL_BUMP, Q_USER_DEL, Q_USER_GET, Q_USER_GET_ID, Q_USER_EACH,
    Q_SET_NAME, Q_SET_NAME_FL, Q_SET_BLP, Q_SET_GTC, Q_BUMP, Q_VERSION,
    Q_LIST_EACH, Q_FL_EACH, Q_RL_EACH, Q_LIST_COUNT, Q_RL_COUNT, Q_LIST_GET, Q_LIST_ADD, Q_LIST_DEL, Q_LIST_GROUPS,
    Q_LIST_RENAME, Q_WATCHERS, Q_CONTACTS, Q_GROUP_EACH, Q_GROUP_COUNT, Q_GROUP_EXISTS, Q_GROUP_NEXT,
    Q_GROUP_ADD, Q_GROUP_DEL, Q_GROUP_RENAME, Q_GROUP_STRIP, Q_PROP_SET, Q_PROP_DEL, Q_PROP_EACH,
    Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_BEGIN_READ, Q_DATA_VERSION,
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
    [Q_USER_EACH] = "SELECT id,email,password,name,version,blp,gtc FROM users ORDER BY email",
    [Q_SET_NAME] = "UPDATE users SET name=?2 WHERE id=?1",
    [Q_SET_NAME_FL] = "UPDATE list_entries SET name=?2 WHERE contact=?1 AND list=0",
    [Q_SET_BLP] = "UPDATE users SET blp=?2 WHERE id=?1",
    [Q_SET_GTC] = "UPDATE users SET gtc=?2 WHERE id=?1",
    [Q_BUMP] = "UPDATE users SET version=version+1 WHERE id=?1",
    [Q_VERSION] = "SELECT version FROM users WHERE id=?1",
    [Q_LIST_EACH] = "SELECT e.contact,u.email,e.name,e.groups FROM list_entries e JOIN users u ON u.id=e.contact "
                    "WHERE e.owner=?1 AND e.list=?2 ORDER BY e.rowid",
    /* FL with each contact's phone numbers (the BPR lines of SYN) in the same
     * statement: one indexed lookup per key instead of a query per contact. */
    [Q_FL_EACH] = "SELECT e.contact,u.email,e.name,e.groups,"
                  "(SELECT value FROM props p WHERE p.owner=e.contact AND p.key='PHH'),"
                  "(SELECT value FROM props p WHERE p.owner=e.contact AND p.key='PHW'),"
                  "(SELECT value FROM props p WHERE p.owner=e.contact AND p.key='PHM'),"
                  "(SELECT value FROM props p WHERE p.owner=e.contact AND p.key='MOB') "
                  "FROM list_entries e JOIN users u ON u.id=e.contact WHERE e.owner=?1 AND e.list=0 ORDER BY e.rowid",
    [Q_RL_EACH] = "SELECT u.id,u.email,u.name,'' FROM list_entries e JOIN users u ON u.id=e.owner "
                  "WHERE e.contact=?1 AND e.list=0 ORDER BY e.rowid",
    [Q_LIST_COUNT] = "SELECT count(*) FROM list_entries WHERE owner=?1 AND list=?2",
    [Q_RL_COUNT] = "SELECT count(*) FROM list_entries WHERE contact=?1 AND list=0",
    [Q_LIST_GET] = "SELECT groups FROM list_entries WHERE owner=?1 AND list=?2 AND contact=?3",
    [Q_LIST_ADD] = "INSERT INTO list_entries(owner,list,contact,name,groups) VALUES(?1,?2,?3,?4,?5)",
    [Q_LIST_DEL] = "DELETE FROM list_entries WHERE owner=?1 AND list=?2 AND contact=?3",
    [Q_LIST_GROUPS] = "UPDATE list_entries SET groups=?3 WHERE owner=?1 AND list=0 AND contact=?2",
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
    [Q_GROUP_STRIP] = "SELECT contact,groups FROM list_entries WHERE owner=?1 AND list=0",
    [Q_PROP_SET] = "INSERT INTO props(owner,key,value) VALUES(?1,?2,?3) "
                   "ON CONFLICT(owner,key) DO UPDATE SET value=excluded.value",
    [Q_PROP_DEL] = "DELETE FROM props WHERE owner=?1 AND key=?2",
    [Q_PROP_EACH] = "SELECT key,value FROM props WHERE owner=?1 ORDER BY CASE key WHEN 'PHH' THEN 1 WHEN 'PHW' "
                    "THEN 2 WHEN 'PHM' THEN 3 WHEN 'MOB' THEN 4 WHEN 'MBE' THEN 5 ELSE 6 END",
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_BEGIN_READ] = "BEGIN DEFERRED",
    [Q_DATA_VERSION] = "PRAGMA data_version",
};

/* Schema migrations: index i brings user_version i to i+1. */
static const char *const migrations[] = {
    "CREATE TABLE users("
    " id INTEGER PRIMARY KEY,"
    " email TEXT NOT NULL UNIQUE,"
    " password TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " version INTEGER NOT NULL DEFAULT 1,"
    " blp TEXT NOT NULL DEFAULT 'AL' CHECK (blp IN ('AL','BL')),"
    " gtc TEXT NOT NULL DEFAULT 'A' CHECK (gtc IN ('A','N')),"
    " created INTEGER NOT NULL);"
    "CREATE TABLE list_entries("
    " owner INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " list INTEGER NOT NULL CHECK (list BETWEEN 0 AND 2),"
    " contact INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " groups TEXT NOT NULL DEFAULT '0',"
    " UNIQUE(owner, list, contact));"
    "CREATE INDEX list_entries_contact ON list_entries(contact, list);"
    "CREATE TABLE groups("
    " owner INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " gid INTEGER NOT NULL,"
    " name TEXT NOT NULL,"
    " PRIMARY KEY(owner, gid)) WITHOUT ROWID;"
    "CREATE TABLE props("
    " owner INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " PRIMARY KEY(owner, key)) WITHOUT ROWID;",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

struct store {
    sqlite3 *db;
    sqlite3_stmt *st[Q_COUNT];
    int read_depth;   /* nesting of store_read_begin */
    int read_open;    /* our read transaction is open */
    /* store_generation: own changes are seen in sqlite3_total_changes64,
     * other processes' commits in PRAGMA data_version. */
    uint64_t generation;
    sqlite3_int64 seen_changes;
    long long seen_data_version;
    int data_version_checked; /* in the current read transaction */
    char err[256];
};

static sqlite3_stmt *q(store *s, int id) {
    if (!s->st[id]) {
        if (sqlite3_prepare_v3(s->db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT, &s->st[id], NULL) != SQLITE_OK) {
            snprintf(s->err, sizeof s->err, "prepare: %s", sqlite3_errmsg(s->db));
            return NULL;
        }
    } else {
        sqlite3_reset(s->st[id]);
        sqlite3_clear_bindings(s->st[id]);
    }
    return s->st[id];
}

static void note_err(store *s) { snprintf(s->err, sizeof s->err, "%s", sqlite3_errmsg(s->db)); }

/* Run a statement that returns no rows. */
static int exec_done(store *s, sqlite3_stmt *st) {
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
static void read_close(store *s) {
    if (!s->read_open) return;
    s->read_open = 0;
    if (sqlite3_get_autocommit(s->db)) return;
    sqlite3_stmt *st = q(s, Q_COMMIT);
    if (st && exec_done(s, st) == 0) return;
    st = q(s, Q_ROLLBACK); /* nothing was written; just release the snapshot */
    if (st) exec_done(s, st);
}

static void read_start(store *s) {
    if (!sqlite3_get_autocommit(s->db)) return;
    sqlite3_stmt *st = q(s, Q_BEGIN_READ);
    if (st && exec_done(s, st) == 0) s->read_open = 1;
    s->data_version_checked = 0;
}

uint64_t store_generation(store *s) {
    sqlite3_int64 changes = sqlite3_total_changes64(s->db);
    if (changes != s->seen_changes) {
        s->seen_changes = changes;
        s->generation++;
    }
    /* Inside a read transaction the answer cannot change: ask once. */
    if (s->read_open && s->data_version_checked) return s->generation;
    sqlite3_stmt *st = q(s, Q_DATA_VERSION);
    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        /* Cannot tell: assume something changed. */
        if (st) sqlite3_reset(st);
        return ++s->generation;
    }
    long long dv = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (dv != s->seen_data_version) {
        s->seen_data_version = dv;
        s->generation++;
    }
    if (s->read_open) s->data_version_checked = 1;
    return s->generation;
}

void store_read_begin(store *s) {
    if (!s || s->read_depth++ > 0) return;
    read_start(s);
}

/* After a change made inside a read scope has committed (or rolled back),
 * the scope's later reads share a new read transaction again. A deferred
 * BEGIN takes no lock until the first query, so this costs nothing when
 * no read follows. */
static void read_resume(store *s) {
    if (s->read_depth > 0) read_start(s);
}

void store_read_end(store *s) {
    if (!s || s->read_depth == 0) return;
    if (--s->read_depth == 0) read_close(s);
}

static int begin(store *s) {
    read_close(s);
    sqlite3_stmt *st = q(s, Q_BEGIN);
    return st ? exec_done(s, st) : -1;
}

static int commit(store *s) {
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
    }
    read_resume(s);
    return rc;
}

static store_rc rollback(store *s, store_rc rc) {
    if (sqlite3_get_autocommit(s->db) == 0) {
        char keep[sizeof s->err];
        memcpy(keep, s->err, sizeof keep);
        sqlite3_stmt *st = q(s, Q_ROLLBACK);
        if (st) exec_done(s, st);
        memcpy(s->err, keep, sizeof keep);
    }
    read_resume(s);
    return rc;
}

static void copy_text(char *dst, size_t cap, const unsigned char *src) {
    snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

const char *store_errmsg(store *s) { return s->err; }

store *store_open(const char *path, char *err, size_t errcap) {
    store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    /* Create the file ourselves so it is private from the start: it holds
     * passwords (see docs/msnd.md). */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno));
        free(s);
        return NULL;
    }
    close(fd);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(err, errcap, "cannot open %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        store_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", NULL,
                     NULL, &msg) != SQLITE_OK) {
        snprintf(err, errcap, "%s: %s", path, msg ? msg : "cannot configure database");
        sqlite3_free(msg);
        store_close(s);
        return NULL;
    }
    sqlite3_stmt *uv = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &uv, NULL) == SQLITE_OK &&
        sqlite3_step(uv) == SQLITE_ROW)
        version = sqlite3_column_int(uv, 0);
    sqlite3_finalize(uv);
    if (version < 0) {
        snprintf(err, errcap, "%s: not a database (%s)", path, sqlite3_errmsg(s->db));
        store_close(s);
        return NULL;
    }
    if (version > SCHEMA_VERSION) {
        snprintf(err, errcap, "%s: schema version %d is newer than this msnd (%d)", path, version, SCHEMA_VERSION);
        store_close(s);
        return NULL;
    }
    if (version < SCHEMA_VERSION) {
        if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) goto migrate_fail;
        for (int v = version; v < SCHEMA_VERSION; v++)
            if (sqlite3_exec(s->db, migrations[v], NULL, NULL, &msg) != SQLITE_OK) goto migrate_fail;
        char set[64];
        snprintf(set, sizeof set, "PRAGMA user_version=%d; COMMIT;", SCHEMA_VERSION);
        if (sqlite3_exec(s->db, set, NULL, NULL, &msg) != SQLITE_OK) goto migrate_fail;
    }
    return s;
migrate_fail:
    snprintf(err, errcap, "%s: schema migration failed: %s", path, msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    store_close(s);
    return NULL;
}

void store_close(store *s) {
    if (!s) return;
    for (int i = 0; i < Q_COUNT; i++) sqlite3_finalize(s->st[i]);
    if (s->db) sqlite3_close(s->db);
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

store_rc store_user_add(store *s, const char *email, const char *password, const char *name) {
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

store_rc store_user_passwd(store *s, const char *email, const char *password) {
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

store_rc store_user_get(store *s, const char *email, store_user *out) {
    sqlite3_stmt *st = q(s, Q_USER_GET);
    if (!st) return STORE_ERROR;
    sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) read_user(st, out);
    else if (rc != SQLITE_DONE) note_err(s);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOTFOUND : STORE_ERROR;
}

store_rc store_user_get_id(store *s, int64_t id, store_user *out) {
    sqlite3_stmt *st = q(s, Q_USER_GET_ID);
    if (!st) return STORE_ERROR;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) read_user(st, out);
    else if (rc != SQLITE_DONE) note_err(s);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOTFOUND : STORE_ERROR;
}

store_rc store_user_del(store *s, const char *email) {
    store_user u;
    store_rc r = store_user_get(s, email, &u);
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

store_rc store_user_each(store *s, store_user_cb fn, void *ctx) {
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
static int bump(store *s, int64_t uid, uint32_t *ver) {
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

/* One UPDATE keyed by uid (+ a text value), then a version bump, atomically. */
static store_rc update_and_bump(store *s, int qid, int64_t uid, const char *text, uint32_t *ver) {
    if (begin(s) != 0) return STORE_ERROR;
    sqlite3_stmt *st = q(s, qid);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    if (exec_done(s, st) != 0) return rollback(s, STORE_ERROR);
    if (sqlite3_changes(s->db) == 0) return rollback(s, STORE_NOTFOUND);
    if (bump(s, uid, ver) != 0) return rollback(s, STORE_ERROR);
    return commit(s) == 0 ? STORE_OK : STORE_ERROR;
}

store_rc store_set_name(store *s, int64_t uid, const char *name, uint32_t *ver) {
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
    if (bump(s, uid, ver) != 0) return rollback(s, STORE_ERROR);
    return commit(s) == 0 ? STORE_OK : STORE_ERROR;
}

store_rc store_set_blp(store *s, int64_t uid, int allow, uint32_t *ver) {
    return update_and_bump(s, Q_SET_BLP, uid, allow ? "AL" : "BL", ver);
}

store_rc store_set_gtc(store *s, int64_t uid, int prompt, uint32_t *ver) {
    return update_and_bump(s, Q_SET_GTC, uid, prompt ? "A" : "N", ver);
}

store_rc store_list_each(store *s, int64_t owner, msnp_list list, store_entry_cb fn, void *ctx) {
    int fl = list == MSNP_LIST_FL;
    sqlite3_stmt *st = q(s, list == MSNP_LIST_RL ? Q_RL_EACH : fl ? Q_FL_EACH : Q_LIST_EACH);
    if (!st) return STORE_ERROR;
    sqlite3_bind_int64(st, 1, owner);
    if (list != MSNP_LIST_RL && !fl) sqlite3_bind_int(st, 2, (int)list);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_entry e;
        e.contact = sqlite3_column_int64(st, 0);
        e.email = (const char *)sqlite3_column_text(st, 1);
        e.name = (const char *)sqlite3_column_text(st, 2);
        e.groups = (const char *)sqlite3_column_text(st, 3);
        for (int k = 0; k < 4; k++) e.phones[k] = fl ? (const char *)sqlite3_column_text(st, 4 + k) : NULL;
        if (!e.email || !e.name || !e.groups) continue;
        if (fn(&e, ctx)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) note_err(s);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
}

static long scalar_long(store *s, sqlite3_stmt *st) {
    long v = -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) v = (long)sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE) v = 0;
    else note_err(s);
    sqlite3_reset(st);
    return v;
}

long store_list_count(store *s, int64_t owner, msnp_list list) {
    sqlite3_stmt *st = q(s, list == MSNP_LIST_RL ? Q_RL_COUNT : Q_LIST_COUNT);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, owner);
    if (list != MSNP_LIST_RL) sqlite3_bind_int(st, 2, (int)list);
    return scalar_long(s, st);
}

int store_list_get(store *s, int64_t owner, msnp_list list, int64_t contact, char *groups, size_t cap) {
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
    if (rc == SQLITE_ROW && groups && cap) copy_text(groups, cap, sqlite3_column_text(st, 0));
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) note_err(s);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

store_rc store_list_add(store *s, int64_t owner, msnp_list list, int64_t contact, const char *name,
                        const char *groups, uint32_t *owner_ver, uint32_t *contact_ver) {
    if (list == MSNP_LIST_RL || list == MSNP_LIST_INVALID) return STORE_ERROR;
    if (begin(s) != 0) return STORE_ERROR;
    sqlite3_stmt *st = q(s, Q_LIST_ADD);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, owner);
    sqlite3_bind_int(st, 2, (int)list);
    sqlite3_bind_int64(st, 3, contact);
    sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, groups && *groups ? groups : "0", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT) return rollback(s, STORE_EXISTS);
    if (rc != SQLITE_DONE) {
        note_err(s);
        return rollback(s, STORE_ERROR);
    }
    if (bump(s, owner, owner_ver) != 0) return rollback(s, STORE_ERROR);
    if (list == MSNP_LIST_FL && owner != contact && bump(s, contact, contact_ver) != 0)
        return rollback(s, STORE_ERROR);
    if (list == MSNP_LIST_FL && owner == contact && contact_ver) *contact_ver = owner_ver ? *owner_ver : 0;
    return commit(s) == 0 ? STORE_OK : STORE_ERROR;
}

store_rc store_list_remove(store *s, int64_t owner, msnp_list list, int64_t contact, uint32_t *owner_ver,
                           uint32_t *contact_ver) {
    if (list == MSNP_LIST_RL || list == MSNP_LIST_INVALID) return STORE_ERROR;
    if (begin(s) != 0) return STORE_ERROR;
    sqlite3_stmt *st = q(s, Q_LIST_DEL);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, owner);
    sqlite3_bind_int(st, 2, (int)list);
    sqlite3_bind_int64(st, 3, contact);
    if (exec_done(s, st) != 0) return rollback(s, STORE_ERROR);
    if (sqlite3_changes(s->db) == 0) return rollback(s, STORE_NOTFOUND);
    if (bump(s, owner, owner_ver) != 0) return rollback(s, STORE_ERROR);
    if (list == MSNP_LIST_FL && owner != contact && bump(s, contact, contact_ver) != 0)
        return rollback(s, STORE_ERROR);
    if (list == MSNP_LIST_FL && owner == contact && contact_ver) *contact_ver = owner_ver ? *owner_ver : 0;
    return commit(s) == 0 ? STORE_OK : STORE_ERROR;
}

static store_rc entry_update(store *s, int qid, int64_t owner, int64_t contact, const char *text, uint32_t *ver) {
    if (begin(s) != 0) return STORE_ERROR;
    sqlite3_stmt *st = q(s, qid);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, owner);
    sqlite3_bind_int64(st, 2, contact);
    sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
    if (exec_done(s, st) != 0) return rollback(s, STORE_ERROR);
    if (sqlite3_changes(s->db) == 0) return rollback(s, STORE_NOTFOUND);
    if (bump(s, owner, ver) != 0) return rollback(s, STORE_ERROR);
    return commit(s) == 0 ? STORE_OK : STORE_ERROR;
}

store_rc store_list_set_groups(store *s, int64_t owner, int64_t contact, const char *groups, uint32_t *ver) {
    return entry_update(s, Q_LIST_GROUPS, owner, contact, groups, ver);
}

store_rc store_list_rename(store *s, int64_t owner, int64_t contact, const char *name, uint32_t *ver) {
    return entry_update(s, Q_LIST_RENAME, owner, contact, name, ver);
}

static store_rc peers_each(store *s, int qid, int64_t uid, store_peer_cb fn, void *ctx) {
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

store_rc store_watchers_each(store *s, int64_t uid, store_peer_cb fn, void *ctx) {
    return peers_each(s, Q_WATCHERS, uid, fn, ctx);
}

store_rc store_contacts_each(store *s, int64_t uid, store_peer_cb fn, void *ctx) {
    return peers_each(s, Q_CONTACTS, uid, fn, ctx);
}

store_rc store_group_each(store *s, int64_t owner, store_group_cb fn, void *ctx) {
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

long store_group_count(store *s, int64_t owner) {
    sqlite3_stmt *st = q(s, Q_GROUP_COUNT);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, owner);
    return scalar_long(s, st);
}

int store_group_exists(store *s, int64_t owner, int gid) {
    sqlite3_stmt *st = q(s, Q_GROUP_EXISTS);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, owner);
    sqlite3_bind_int(st, 2, gid);
    long v = scalar_long(s, st);
    return v < 0 ? -1 : v > 0;
}

store_rc store_group_add(store *s, int64_t owner, const char *name, int *gid, uint32_t *ver) {
    if (begin(s) != 0) return STORE_ERROR;
    sqlite3_stmt *st = q(s, Q_GROUP_NEXT);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, owner);
    long next = scalar_long(s, st);
    if (next < 1 || next > 1000000) return rollback(s, STORE_ERROR);
    st = q(s, Q_GROUP_ADD);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, owner);
    sqlite3_bind_int(st, 2, (int)next);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    if (exec_done(s, st) != 0) return rollback(s, STORE_ERROR);
    if (bump(s, owner, ver) != 0) return rollback(s, STORE_ERROR);
    if (commit(s) != 0) return STORE_ERROR;
    *gid = (int)next;
    return STORE_OK;
}

/* Remove gid from a comma-separated id list; returns 1 if it was there. */
static int strip_gid(const char *in, int gid, char *out, size_t cap) {
    size_t o = 0;
    int found = 0;
    out[0] = '\0';
    const char *p = in;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) break;
        if (v == gid) found = 1;
        else {
            int n = snprintf(out + o, cap - o, "%s%ld", o ? "," : "", v);
            if (n < 0 || (size_t)n >= cap - o) break;
            o += (size_t)n;
        }
        p = *end == ',' ? end + 1 : end;
        if (*end != ',') break;
    }
    return found;
}

store_rc store_group_del(store *s, int64_t owner, int gid, uint32_t *ver) {
    if (begin(s) != 0) return STORE_ERROR;
    sqlite3_stmt *st = q(s, Q_GROUP_DEL);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, owner);
    sqlite3_bind_int(st, 2, gid);
    if (exec_done(s, st) != 0) return rollback(s, STORE_ERROR);
    if (sqlite3_changes(s->db) == 0) return rollback(s, STORE_NOTFOUND);
    /* Entries that were only in this group fall back to group 0. Collect
     * first: updating while the select runs is not allowed on a cached
     * statement pair. */
    st = q(s, Q_GROUP_STRIP);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, owner);
    struct fix { int64_t contact; char groups[STORE_MAX_GROUPS_TEXT]; } *fixes = NULL;
    size_t nfix = 0, capfix = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *g = (const char *)sqlite3_column_text(st, 1);
        char out[STORE_MAX_GROUPS_TEXT];
        if (!g || !strip_gid(g, gid, out, sizeof out)) continue;
        if (nfix == capfix) {
            size_t nc = capfix ? capfix * 2 : 16;
            void *nf = realloc(fixes, nc * sizeof *fixes);
            if (!nf) {
                rc = SQLITE_NOMEM;
                break;
            }
            fixes = nf;
            capfix = nc;
        }
        fixes[nfix].contact = sqlite3_column_int64(st, 0);
        snprintf(fixes[nfix].groups, sizeof fixes[nfix].groups, "%s", out[0] ? out : "0");
        nfix++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        free(fixes);
        return rollback(s, STORE_ERROR);
    }
    for (size_t i = 0; i < nfix; i++) {
        st = q(s, Q_LIST_GROUPS);
        if (!st) break;
        sqlite3_bind_int64(st, 1, owner);
        sqlite3_bind_int64(st, 2, fixes[i].contact);
        sqlite3_bind_text(st, 3, fixes[i].groups, -1, SQLITE_TRANSIENT);
        if (exec_done(s, st) != 0) {
            free(fixes);
            return rollback(s, STORE_ERROR);
        }
    }
    free(fixes);
    if (bump(s, owner, ver) != 0) return rollback(s, STORE_ERROR);
    return commit(s) == 0 ? STORE_OK : STORE_ERROR;
}

store_rc store_group_rename(store *s, int64_t owner, int gid, const char *name, uint32_t *ver) {
    if (begin(s) != 0) return STORE_ERROR;
    sqlite3_stmt *st = q(s, Q_GROUP_RENAME);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, owner);
    sqlite3_bind_int(st, 2, gid);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    if (exec_done(s, st) != 0) return rollback(s, STORE_ERROR);
    if (sqlite3_changes(s->db) == 0) return rollback(s, STORE_NOTFOUND);
    if (bump(s, owner, ver) != 0) return rollback(s, STORE_ERROR);
    return commit(s) == 0 ? STORE_OK : STORE_ERROR;
}

store_rc store_prop_set(store *s, int64_t owner, const char *key, const char *value, uint32_t *ver) {
    if (begin(s) != 0) return STORE_ERROR;
    sqlite3_stmt *st = q(s, value ? Q_PROP_SET : Q_PROP_DEL);
    if (!st) return rollback(s, STORE_ERROR);
    sqlite3_bind_int64(st, 1, owner);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    if (value) sqlite3_bind_text(st, 3, value, -1, SQLITE_STATIC);
    if (exec_done(s, st) != 0) return rollback(s, STORE_ERROR);
    if (bump(s, owner, ver) != 0) return rollback(s, STORE_ERROR);
    return commit(s) == 0 ? STORE_OK : STORE_ERROR;
}

store_rc store_prop_each(store *s, int64_t owner, store_prop_cb fn, void *ctx) {
    sqlite3_stmt *st = q(s, Q_PROP_EACH);
    if (!st) return STORE_ERROR;
    sqlite3_bind_int64(st, 1, owner);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        const char *v = (const char *)sqlite3_column_text(st, 1);
        if (k && v) fn(k, v, ctx);
    }
    if (rc != SQLITE_DONE) note_err(s);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_OK : STORE_ERROR;
}
