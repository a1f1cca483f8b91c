/* schema.c - tables, indexes and migrations of the msnd store.
 *
 * Both dialects describe the same tables:
 *   users         one row per account; `version` is the list version of SYN
 *   list_entries  FL (0), AL (1) and BL (2) entries; RL is FL read backwards
 *   groups        MSNP7 groups; group 0 exists for every account
 *   fl_groups     which groups an FL entry is in (one row per membership)
 *   props         phone numbers and MBE (PRP)
 * Deleting an account cascades to every row naming it.
 *
 * PostgreSQL support starts at version 2: its first step creates the whole
 * version-2 schema at once, and also a trigger per table that sends a
 * notification on channel msnd_store after every changing statement, which
 * is how the nodes sharing the database learn that cached rows are stale. */
#include "schema.h"

#include <stddef.h>

static const char *const sqlite_steps[] = {
    /* 0 -> 1: the first schema (groups as text in list_entries). */
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
    /* 1 -> 2: group membership as rows of fl_groups instead of "0,3" text.
     * Ids naming no group are dropped; entries left in none go to 0. */
    "CREATE TABLE fl_groups("
    " owner INTEGER NOT NULL,"
    " list INTEGER NOT NULL DEFAULT 0 CHECK (list = 0),"
    " contact INTEGER NOT NULL,"
    " gid INTEGER NOT NULL,"
    " PRIMARY KEY(owner, contact, gid),"
    " FOREIGN KEY(owner, list, contact) REFERENCES list_entries(owner, list, contact) ON DELETE CASCADE,"
    " FOREIGN KEY(owner, gid) REFERENCES groups(owner, gid) ON DELETE CASCADE) WITHOUT ROWID;"
    "CREATE INDEX fl_groups_group ON fl_groups(owner, gid);"
    "WITH RECURSIVE split(owner, contact, rest, gid) AS ("
    " SELECT owner, contact, groups || ',', NULL FROM list_entries WHERE list = 0"
    " UNION ALL"
    " SELECT owner, contact, substr(rest, instr(rest, ',') + 1),"
    "  CAST(substr(rest, 1, instr(rest, ',') - 1) AS INTEGER) FROM split WHERE rest <> '')"
    " INSERT OR IGNORE INTO fl_groups(owner, contact, gid)"
    " SELECT owner, contact, gid FROM split s WHERE gid IS NOT NULL"
    " AND EXISTS (SELECT 1 FROM groups g WHERE g.owner = s.owner AND g.gid = s.gid);"
    "INSERT OR IGNORE INTO groups(owner, gid, name) SELECT DISTINCT owner, 0, 'Other%20Contacts' FROM list_entries;"
    "INSERT INTO fl_groups(owner, contact, gid) SELECT owner, contact, 0 FROM list_entries e WHERE list = 0"
    " AND NOT EXISTS (SELECT 1 FROM fl_groups f WHERE f.owner = e.owner AND f.contact = e.contact);"
    "ALTER TABLE list_entries DROP COLUMN groups;",
    /* 2 -> 3: the login read (store_sqlite.c, Q_SYNC) scans an account's
     * entries by (owner, list) and its watchers by (contact, list): indexes
     * that hold every column it reads answer both without visiting the
     * table (about 9 % of a cold login's instructions; BENCHMARKS.md). */
    "CREATE INDEX list_entries_owner ON list_entries(owner, list, contact, name);"
    "DROP INDEX list_entries_contact;"
    "CREATE INDEX list_entries_contact ON list_entries(contact, list, owner);",
};

static const char *const pg_steps[] = {
    "", /* 0 -> 1: see 1 -> 2 */
    "CREATE TABLE users("
    " id BIGSERIAL PRIMARY KEY,"
    " email TEXT NOT NULL UNIQUE,"
    " password TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " version BIGINT NOT NULL DEFAULT 1,"
    " blp TEXT NOT NULL DEFAULT 'AL' CHECK (blp IN ('AL','BL')),"
    " gtc TEXT NOT NULL DEFAULT 'A' CHECK (gtc IN ('A','N')),"
    " created BIGINT NOT NULL);"
    "CREATE TABLE list_entries("
    " seq BIGSERIAL PRIMARY KEY,"
    " owner BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " list SMALLINT NOT NULL CHECK (list BETWEEN 0 AND 2),"
    " contact BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " UNIQUE(owner, list, contact));"
    "CREATE INDEX list_entries_contact ON list_entries(contact, list);"
    "CREATE TABLE groups("
    " owner BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " gid INTEGER NOT NULL,"
    " name TEXT NOT NULL,"
    " PRIMARY KEY(owner, gid));"
    "CREATE TABLE fl_groups("
    " owner BIGINT NOT NULL,"
    " list SMALLINT NOT NULL DEFAULT 0 CHECK (list = 0),"
    " contact BIGINT NOT NULL,"
    " gid INTEGER NOT NULL,"
    " PRIMARY KEY(owner, contact, gid),"
    " FOREIGN KEY(owner, list, contact) REFERENCES list_entries(owner, list, contact) ON DELETE CASCADE,"
    " FOREIGN KEY(owner, gid) REFERENCES groups(owner, gid) ON DELETE CASCADE);"
    "CREATE INDEX fl_groups_group ON fl_groups(owner, gid);"
    "CREATE TABLE props("
    " owner BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " PRIMARY KEY(owner, key));"
    "CREATE FUNCTION msnd_notify() RETURNS trigger LANGUAGE plpgsql AS"
    " $$ BEGIN PERFORM pg_notify('msnd_store', ''); RETURN NULL; END $$;"
    "CREATE TRIGGER users_notify AFTER INSERT OR UPDATE OR DELETE ON users"
    " FOR EACH STATEMENT EXECUTE FUNCTION msnd_notify();"
    "CREATE TRIGGER list_entries_notify AFTER INSERT OR UPDATE OR DELETE ON list_entries"
    " FOR EACH STATEMENT EXECUTE FUNCTION msnd_notify();"
    "CREATE TRIGGER groups_notify AFTER INSERT OR UPDATE OR DELETE ON groups"
    " FOR EACH STATEMENT EXECUTE FUNCTION msnd_notify();"
    "CREATE TRIGGER fl_groups_notify AFTER INSERT OR UPDATE OR DELETE ON fl_groups"
    " FOR EACH STATEMENT EXECUTE FUNCTION msnd_notify();"
    "CREATE TRIGGER props_notify AFTER INSERT OR UPDATE OR DELETE ON props"
    " FOR EACH STATEMENT EXECUTE FUNCTION msnd_notify();",
    "", /* 2 -> 3: SQLite's covering indexes; PostgreSQL's login read is planned apart */
};

#define NSTEPS ((int)(sizeof sqlite_steps / sizeof sqlite_steps[0]))
_Static_assert(sizeof sqlite_steps == sizeof pg_steps, "both dialects have every step");

int schema_version(void) { return NSTEPS; }

const char *schema_migration(schema_dialect d, int from) {
    if (from < 0 || from >= NSTEPS) return NULL;
    return d == SCHEMA_POSTGRESQL ? pg_steps[from] : sqlite_steps[from];
}
