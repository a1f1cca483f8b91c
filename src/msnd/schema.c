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
    "", /* 3 -> 4: PostgreSQL's list changes as functions; nothing here */
    "", /* 4 -> 5: PostgreSQL's notifications name accounts */
    /* 5 -> 6: the accounts each change touched, for the other processes
     * sharing the file. PRAGMA data_version tells them only that another
     * process committed, so every cached login snapshot and watcher list
     * was dropped at any change anywhere; they now read the rows added
     * since they last looked (store_sqlite.c) and drop only those
     * accounts' (store_generation_of), as PostgreSQL's notifications do.
     * Filled by triggers, so every writer (msnd user ..., older tools
     * included) is seen. Account 0: a change that may show in any
     * account's rows (a name, BLP, phone numbers, an account added or
     * deleted). seq only grows: old rows are deleted from the low end
     * (store_sqlite.c keeps the newest), never the newest row. */
    "CREATE TABLE changes(seq INTEGER PRIMARY KEY, account INTEGER NOT NULL);"
    "CREATE TRIGGER users_changes_ins AFTER INSERT ON users BEGIN INSERT INTO changes(account) VALUES(0); END;"
    "CREATE TRIGGER users_changes_del AFTER DELETE ON users BEGIN INSERT INTO changes(account) VALUES(0); END;"
    /* a new list version alone is not logged: every change that bumps one
     * writes rows that are */
    "CREATE TRIGGER users_changes_upd AFTER UPDATE ON users"
    " WHEN NEW.id IS NOT OLD.id OR NEW.email IS NOT OLD.email OR NEW.name IS NOT OLD.name"
    " OR NEW.blp IS NOT OLD.blp OR NEW.gtc IS NOT OLD.gtc OR NEW.password IS NOT OLD.password BEGIN"
    " INSERT INTO changes(account) VALUES(CASE WHEN NEW.id IS OLD.id AND NEW.email IS OLD.email"
    " AND NEW.name IS OLD.name AND NEW.blp IS OLD.blp THEN NEW.id ELSE 0 END); END;"
    "CREATE TRIGGER list_entries_changes_ins AFTER INSERT ON list_entries BEGIN"
    " INSERT INTO changes(account) VALUES(NEW.owner), (NEW.contact); END;"
    "CREATE TRIGGER list_entries_changes_del AFTER DELETE ON list_entries BEGIN"
    " INSERT INTO changes(account) VALUES(OLD.owner), (OLD.contact); END;"
    "CREATE TRIGGER list_entries_changes_upd AFTER UPDATE ON list_entries BEGIN"
    " INSERT INTO changes(account) VALUES(OLD.owner), (OLD.contact), (NEW.owner), (NEW.contact); END;"
    "CREATE TRIGGER groups_changes_ins AFTER INSERT ON groups BEGIN INSERT INTO changes(account) VALUES(NEW.owner); "
    "END;"
    "CREATE TRIGGER groups_changes_del AFTER DELETE ON groups BEGIN INSERT INTO changes(account) VALUES(OLD.owner); "
    "END;"
    "CREATE TRIGGER groups_changes_upd AFTER UPDATE ON groups BEGIN"
    " INSERT INTO changes(account) VALUES(OLD.owner), (NEW.owner); END;"
    "CREATE TRIGGER fl_groups_changes_ins AFTER INSERT ON fl_groups BEGIN"
    " INSERT INTO changes(account) VALUES(NEW.owner); END;"
    "CREATE TRIGGER fl_groups_changes_del AFTER DELETE ON fl_groups BEGIN"
    " INSERT INTO changes(account) VALUES(OLD.owner); END;"
    "CREATE TRIGGER fl_groups_changes_upd AFTER UPDATE ON fl_groups BEGIN"
    " INSERT INTO changes(account) VALUES(OLD.owner), (NEW.owner); END;"
    "CREATE TRIGGER props_changes_ins AFTER INSERT ON props BEGIN INSERT INTO changes(account) VALUES(0); END;"
    "CREATE TRIGGER props_changes_del AFTER DELETE ON props BEGIN INSERT INTO changes(account) VALUES(0); END;"
    "CREATE TRIGGER props_changes_upd AFTER UPDATE ON props BEGIN INSERT INTO changes(account) VALUES(0); END;"
    "INSERT INTO changes(account) VALUES(0);",
    "", /* 6 -> 7: PostgreSQL's list functions bump the readers of phone numbers */
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
    /* 3 -> 4: ADD and REM of a list entry, each one call. store.c decides
     * a change with a statement per check and per write; over a network
     * each statement is a round trip and a wake-up of the server process,
     * about 0.7 ms of PostgreSQL's CPU per write in nine statements against
     * 0.15 ms for the same steps inside one function (BENCHMARKS.md). The
     * functions apply the rules of store.c's list_add_once and
     * list_remove_once step for step (msnd_change_open and
     * msnd_entry_bumps are its list_change_open and entry_bumps), with
     * the same codes (store.h's
     * store_rc: 0 ok, 1 not found, 2 exists, 3 opposite, 4 full, 5 no
     * group, 6 not in group, 7 too many groups); test_store runs every
     * rule on both backends and compares them on random changes. The
     * foreign keys refuse an entry naming a missing account. */
    /* list_change_open: the rows the change bumps locked in id order (as
     * change_begin does), the group checked, whether the entry is there */
    "CREATE FUNCTION msnd_change_open(p_owner BIGINT, p_list SMALLINT, p_contact BIGINT, p_gid INTEGER,"
    " OUT no_group BOOLEAN, OUT present BOOLEAN) LANGUAGE plpgsql AS $$"
    "BEGIN"
    " PERFORM 1 FROM users WHERE id IN (p_owner, CASE WHEN p_list = 0 THEN p_contact ELSE p_owner END)"
    "  ORDER BY id FOR UPDATE;"
    " no_group := p_gid >= 0 AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.owner = p_owner AND g.gid = p_gid);"
    " present := EXISTS (SELECT 1 FROM list_entries e WHERE e.owner = p_owner AND e.list = p_list"
    "  AND e.contact = p_contact);"
    "END $$;"
    /* entry_bumps: the owner's version, and for FL the contact's */
    "CREATE FUNCTION msnd_entry_bumps(p_owner BIGINT, p_list SMALLINT, p_contact BIGINT,"
    " OUT owner_ver BIGINT, OUT contact_ver BIGINT) LANGUAGE plpgsql AS $$"
    "BEGIN"
    " contact_ver := 0;"
    " UPDATE users SET version = version + 1 WHERE id = p_owner RETURNING version INTO owner_ver;"
    " IF p_list = 0 AND p_owner = p_contact THEN contact_ver := owner_ver;"
    " ELSIF p_list = 0 THEN"
    "  UPDATE users SET version = version + 1 WHERE id = p_contact RETURNING version INTO contact_ver;"
    " END IF;"
    "END $$;"
    "CREATE FUNCTION msnd_list_add(p_owner BIGINT, p_list SMALLINT, p_contact BIGINT, p_name TEXT, p_gid INTEGER,"
    " p_limit BIGINT, p_max_groups BIGINT, OUT rc INTEGER, OUT owner_ver BIGINT, OUT contact_ver BIGINT,"
    " OUT changed BOOLEAN) LANGUAGE plpgsql AS $$"
    "DECLARE v_gid INTEGER := CASE WHEN p_list = 0 THEN p_gid ELSE -1 END; n BIGINT; o RECORD;"
    "BEGIN"
    " rc := 0; owner_ver := 0; contact_ver := 0; changed := false;"
    " o := msnd_change_open(p_owner, p_list, p_contact, v_gid);"
    " IF o.no_group THEN rc := 5; RETURN; END IF;"
    " IF o.present THEN"
    "  IF v_gid < 0 OR EXISTS (SELECT 1 FROM fl_groups f WHERE f.owner = p_owner AND f.contact = p_contact"
    "   AND f.gid = v_gid) THEN rc := 2; RETURN; END IF;"
    "  SELECT count(*) INTO n FROM fl_groups f WHERE f.owner = p_owner AND f.contact = p_contact;"
    "  IF n >= p_max_groups THEN rc := 7; RETURN; END IF;"
    "  INSERT INTO fl_groups(owner, contact, gid) VALUES(p_owner, p_contact, v_gid);"
    "  UPDATE users SET version = version + 1 WHERE id = p_owner RETURNING version INTO owner_ver;"
    "  RETURN;"
    " END IF;"
    " IF p_list <> 0 AND EXISTS (SELECT 1 FROM list_entries e WHERE e.owner = p_owner AND e.list = 3 - p_list"
    "  AND e.contact = p_contact) THEN rc := 3; RETURN; END IF;"
    " SELECT count(*) INTO n FROM list_entries e WHERE e.owner = p_owner AND e.list = p_list;"
    " IF n >= p_limit THEN rc := 4; RETURN; END IF;"
    " INSERT INTO list_entries(owner, list, contact, name) VALUES(p_owner, p_list, p_contact, p_name);"
    " IF p_list = 0 THEN"
    "  INSERT INTO fl_groups(owner, contact, gid) VALUES(p_owner, p_contact, greatest(v_gid, 0)); END IF;"
    " SELECT b.owner_ver, b.contact_ver INTO owner_ver, contact_ver"
    "  FROM msnd_entry_bumps(p_owner, p_list, p_contact) b;"
    " changed := true;"
    "END $$;"
    "CREATE FUNCTION msnd_list_remove(p_owner BIGINT, p_list SMALLINT, p_contact BIGINT, p_gid INTEGER,"
    " OUT rc INTEGER, OUT owner_ver BIGINT, OUT contact_ver BIGINT, OUT changed BOOLEAN) LANGUAGE plpgsql AS $$"
    "DECLARE v_gid INTEGER := CASE WHEN p_list = 0 THEN p_gid ELSE -1 END; n BIGINT; o RECORD;"
    "BEGIN"
    " rc := 0; owner_ver := 0; contact_ver := 0; changed := false;"
    " o := msnd_change_open(p_owner, p_list, p_contact, v_gid);"
    " IF o.no_group THEN rc := 5; RETURN; END IF;"
    " IF NOT o.present THEN rc := 1; RETURN; END IF;"
    " IF v_gid >= 0 THEN"
    "  IF NOT EXISTS (SELECT 1 FROM fl_groups f WHERE f.owner = p_owner AND f.contact = p_contact"
    "   AND f.gid = v_gid) THEN rc := 6; RETURN; END IF;"
    "  SELECT count(*) INTO n FROM fl_groups f WHERE f.owner = p_owner AND f.contact = p_contact;"
    "  IF n > 1 THEN"
    /* still in another group: only the membership goes */
    "   DELETE FROM fl_groups f WHERE f.owner = p_owner AND f.contact = p_contact AND f.gid = v_gid;"
    "   UPDATE users SET version = version + 1 WHERE id = p_owner RETURNING version INTO owner_ver;"
    "   RETURN;"
    "  END IF;"
    " END IF;"
    " DELETE FROM list_entries e WHERE e.owner = p_owner AND e.list = p_list AND e.contact = p_contact;"
    " SELECT b.owner_ver, b.contact_ver INTO owner_ver, contact_ver"
    "  FROM msnd_entry_bumps(p_owner, p_list, p_contact) b;"
    " changed := true;"
    "END $$;",
    /* 4 -> 5: notifications that name the accounts a change touches, so
     * that the other nodes drop only those accounts' cached rows
     * (store_generation_of). A list entry touches its owner's rows and its
     * contact's (RL, and who has the contact on AL/BL); groups and group
     * memberships their owner's; a new list version only its account's.
     * What shows in other accounts' rows (a name, BLP, GTC, phone numbers),
     * a new account (an e-mail that named nobody) and a deleted one send an
     * empty payload: every account. One account per notification:
     * PostgreSQL folds a transaction's identical notifications into one,
     * so an ADD FL (the entry, its group membership, both versions) sends
     * two, the owner's and the contact's, to every other node. */
    "CREATE OR REPLACE FUNCTION msnd_notify_user() RETURNS trigger LANGUAGE plpgsql AS $$"
    "BEGIN"
    " IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.email = OLD.email AND NEW.name = OLD.name"
    "  AND NEW.blp = OLD.blp AND NEW.gtc = OLD.gtc THEN"
    "  PERFORM pg_notify('msnd_store', NEW.id::text);"
    " ELSE PERFORM pg_notify('msnd_store', ''); END IF;"
    " RETURN NULL;"
    "END $$;"
    "CREATE OR REPLACE FUNCTION msnd_notify_entry() RETURNS trigger LANGUAGE plpgsql AS $$"
    "BEGIN"
    " IF TG_OP <> 'INSERT' THEN"
    "  PERFORM pg_notify('msnd_store', OLD.owner::text); PERFORM pg_notify('msnd_store', OLD.contact::text);"
    " END IF;"
    " IF TG_OP <> 'DELETE' THEN"
    "  PERFORM pg_notify('msnd_store', NEW.owner::text); PERFORM pg_notify('msnd_store', NEW.contact::text);"
    " END IF;"
    " RETURN NULL;"
    "END $$;"
    "CREATE OR REPLACE FUNCTION msnd_notify_owner() RETURNS trigger LANGUAGE plpgsql AS $$"
    "BEGIN"
    " IF TG_OP <> 'INSERT' THEN PERFORM pg_notify('msnd_store', OLD.owner::text); END IF;"
    " IF TG_OP <> 'DELETE' THEN PERFORM pg_notify('msnd_store', NEW.owner::text); END IF;"
    " RETURN NULL;"
    "END $$;"
    "DROP TRIGGER users_notify ON users;"
    "DROP TRIGGER list_entries_notify ON list_entries;"
    "DROP TRIGGER groups_notify ON groups;"
    "DROP TRIGGER fl_groups_notify ON fl_groups;"
    "CREATE TRIGGER users_notify AFTER INSERT OR UPDATE OR DELETE ON users"
    " FOR EACH ROW EXECUTE FUNCTION msnd_notify_user();"
    "CREATE TRIGGER list_entries_notify AFTER INSERT OR UPDATE OR DELETE ON list_entries"
    " FOR EACH ROW EXECUTE FUNCTION msnd_notify_entry();"
    "CREATE TRIGGER groups_notify AFTER INSERT OR UPDATE OR DELETE ON groups"
    " FOR EACH ROW EXECUTE FUNCTION msnd_notify_owner();"
    "CREATE TRIGGER fl_groups_notify AFTER INSERT OR UPDATE OR DELETE ON fl_groups"
    " FOR EACH ROW EXECUTE FUNCTION msnd_notify_owner();",
    /* 5 -> 6: GTC shows only in its account's own rows: a change of it
     * names the account, as a new list version does (other nodes drop
     * only that account's cached rows). */
    "CREATE OR REPLACE FUNCTION msnd_notify_user() RETURNS trigger LANGUAGE plpgsql AS $$"
    "BEGIN"
    " IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.email = OLD.email AND NEW.name = OLD.name"
    "  AND NEW.blp = OLD.blp THEN"
    "  PERFORM pg_notify('msnd_store', NEW.id::text);"
    " ELSE PERFORM pg_notify('msnd_store', ''); END IF;"
    " RETURN NULL;"
    "END $$;",
    /* 6 -> 7: an AL/BL entry decides whether its contact, when it has the
     * owner on its FL, reads the owner's phone numbers in its BPR lines:
     * entry_bumps bumps that contact's version too, and the change locks
     * both rows (store.c's entry_bumps and list_change_open). */
    "CREATE OR REPLACE FUNCTION msnd_change_open(p_owner BIGINT, p_list SMALLINT, p_contact BIGINT, p_gid INTEGER,"
    " OUT no_group BOOLEAN, OUT present BOOLEAN) LANGUAGE plpgsql AS $$"
    "BEGIN"
    " PERFORM 1 FROM users WHERE id IN (p_owner, p_contact) ORDER BY id FOR UPDATE;"
    " no_group := p_gid >= 0 AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.owner = p_owner AND g.gid = p_gid);"
    " present := EXISTS (SELECT 1 FROM list_entries e WHERE e.owner = p_owner AND e.list = p_list"
    "  AND e.contact = p_contact);"
    "END $$;"
    "CREATE OR REPLACE FUNCTION msnd_entry_bumps(p_owner BIGINT, p_list SMALLINT, p_contact BIGINT,"
    " OUT owner_ver BIGINT, OUT contact_ver BIGINT) LANGUAGE plpgsql AS $$"
    "BEGIN"
    " contact_ver := 0;"
    " UPDATE users SET version = version + 1 WHERE id = p_owner RETURNING version INTO owner_ver;"
    " IF p_owner = p_contact THEN"
    "  IF p_list = 0 THEN contact_ver := owner_ver; END IF;"
    " ELSIF p_list = 0 THEN"
    "  UPDATE users SET version = version + 1 WHERE id = p_contact RETURNING version INTO contact_ver;"
    " ELSIF EXISTS (SELECT 1 FROM list_entries e WHERE e.owner = p_contact AND e.list = 0"
    "  AND e.contact = p_owner) THEN"
    "  UPDATE users SET version = version + 1 WHERE id = p_contact;"
    " END IF;"
    "END $$;",
};

#define NSTEPS ((int)(sizeof sqlite_steps / sizeof sqlite_steps[0]))
_Static_assert(sizeof sqlite_steps == sizeof pg_steps, "both dialects have every step");

int schema_version(void) { return NSTEPS; }

const char *schema_migration(schema_dialect d, int from) {
    if (from < 0 || from >= NSTEPS) return NULL;
    return d == SCHEMA_POSTGRESQL ? pg_steps[from] : sqlite_steps[from];
}
