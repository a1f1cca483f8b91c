/* The store on real databases: SQLite files in a temporary directory, and,
 * when MSND_TEST_PG_URL names a database on a running PostgreSQL server
 * (tests/integration/lib/pgtest.py starts one), the same tests again on
 * PostgreSQL with the schema dropped before each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>

#include <event2/event.h>

#include <msnkit/fiber.h>
#include "dbtool.h"
#include "schema.h"
#include "store.h"

typedef struct fixture {
    char dir[64];
    char path[512]; /* what store_open gets: a file or a PostgreSQL URL */
    store *s;
} fixture;

static const char *pg_url; /* NULL: the SQLite pass */

/* An empty PostgreSQL database: drop everything the last test made. */
static int pg_reset(void) {
    PGconn *c = PQconnectdb(pg_url);
    int ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PGresult *r = PQexec(c, "DROP SCHEMA public CASCADE; CREATE SCHEMA public;");
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) fprintf(stderr, "reset: %s", PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(c);
    return ok ? 0 : -1;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/msnd-store-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    if (pg_url) {
        if (pg_reset() != 0) return -1;
        snprintf(f->path, sizeof f->path, "%s", pg_url);
    } else {
        snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    }
    char err[256];
    f->s = store_open(f->path, err, sizeof err);
    if (!f->s) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    store_close(f->s);
    char p[600];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; !pg_url && i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static int64_t add_user(store *s, const char *email) {
    assert_int_equal(store_user_add(s, email, "pw", email), STORE_OK);
    store_user u;
    assert_int_equal(store_user_get(s, email, &u), STORE_OK);
    return u.id;
}

static void test_users(void **state) {
    fixture *f = *state;
    assert_int_equal(store_user_add(f->s, "a@x.com", "secret", "A%20Name"), STORE_OK);
    assert_int_equal(store_user_add(f->s, "a@x.com", "other", "B"), STORE_EXISTS);
    store_user u;
    assert_int_equal(store_user_get(f->s, "a@x.com", &u), STORE_OK);
    assert_string_equal(u.password, "secret");
    assert_string_equal(u.name, "A%20Name");
    assert_int_equal(u.blp_allow, 1);
    assert_int_equal(u.gtc_prompt, 1);
    assert_int_equal(store_user_passwd(f->s, "a@x.com", "new"), STORE_OK);
    assert_int_equal(store_user_passwd(f->s, "zz@x.com", "new"), STORE_NOTFOUND);
    assert_int_equal(store_user_get(f->s, "a@x.com", &u), STORE_OK);
    assert_string_equal(u.password, "new");
    assert_int_equal(store_user_get(f->s, "nobody@x.com", &u), STORE_NOTFOUND);
    assert_int_equal(store_user_del(f->s, "a@x.com"), STORE_OK);
    assert_int_equal(store_user_del(f->s, "a@x.com"), STORE_NOTFOUND);
    if (pg_url) return;
    /* the file holds passwords: private */
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
}

static void gone_cb(int64_t id, void *ctx) {
    int64_t *out = ctx;
    out[++out[0]] = id;
}

/* Which accounts of a list were deleted: those alone, in one call. */
static void test_users_gone(void **state) {
    fixture *f = *state;
    store_user a, b, c;
    assert_int_equal(store_user_add(f->s, "a@x.com", "pw", "A"), STORE_OK);
    assert_int_equal(store_user_add(f->s, "b@x.com", "pw", "B"), STORE_OK);
    assert_int_equal(store_user_add(f->s, "c@x.com", "pw", "C"), STORE_OK);
    assert_int_equal(store_user_get(f->s, "a@x.com", &a), STORE_OK);
    assert_int_equal(store_user_get(f->s, "b@x.com", &b), STORE_OK);
    assert_int_equal(store_user_get(f->s, "c@x.com", &c), STORE_OK);
    int64_t gone[8] = {0};
    int64_t ids[] = {a.id, b.id, c.id};
    assert_int_equal(store_users_gone(f->s, ids, 3, gone_cb, gone), STORE_OK);
    assert_int_equal(gone[0], 0);
    assert_int_equal(store_user_del(f->s, "b@x.com"), STORE_OK);
    int64_t more[] = {a.id, b.id, c.id, 999999};
    assert_int_equal(store_users_gone(f->s, more, 4, gone_cb, gone), STORE_OK);
    assert_int_equal(gone[0], 2);
    assert_true((gone[1] == b.id && gone[2] == 999999) || (gone[1] == 999999 && gone[2] == b.id));
    gone[0] = 0;
    assert_int_equal(store_users_gone(f->s, ids, 0, gone_cb, gone), STORE_OK);
    assert_int_equal(gone[0], 0);
}

static int count_cb(const store_entry *e, void *ctx) {
    (void)e;
    (*(int *)ctx)++;
    return 0;
}

/* ADD / REM of a client, as ns.c makes them. */
static store_rc add(store *s, int64_t owner, msnp_list l, int64_t contact, int gid, store_list_result *r) {
    store_list_op op = {.owner = owner, .list = l, .contact = contact, .name = "n", .gid = gid, .limit = 10};
    store_list_result ignored;
    return store_list_add(s, &op, r ? r : &ignored);
}

static store_rc rem(store *s, int64_t owner, msnp_list l, int64_t contact, int gid, store_list_result *r) {
    store_list_op op = {.owner = owner, .list = l, .contact = contact, .gid = gid};
    store_list_result ignored;
    return store_list_remove(s, &op, r ? r : &ignored);
}

static void test_lists_and_versions(void **state) {
    fixture *f = *state;
    int64_t a = add_user(f->s, "a@x.com"), b = add_user(f->s, "b@x.com");
    store_list_result r;
    assert_int_equal(add(f->s, a, MSNP_LIST_FL, b, -1, &r), STORE_OK);
    assert_int_equal(r.entry_changed, 1);
    assert_int_equal(r.owner_ver, 2);
    assert_int_equal(r.contact_ver, 2); /* b's RL changed */
    assert_int_equal(add(f->s, a, MSNP_LIST_FL, b, -1, NULL), STORE_EXISTS);
    assert_int_equal(store_list_get(f->s, a, MSNP_LIST_FL, b), 1);
    assert_int_equal(store_list_get(f->s, b, MSNP_LIST_RL, a), 1);
    assert_int_equal(store_list_count(f->s, b, MSNP_LIST_RL), 1);
    int n = 0;
    assert_int_equal(store_list_each(f->s, b, MSNP_LIST_RL, count_cb, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(add(f->s, a, MSNP_LIST_RL, b, -1, NULL), STORE_ERROR);
    assert_int_equal(rem(f->s, a, MSNP_LIST_AL, b, -1, NULL), STORE_NOTFOUND);
    assert_int_equal(rem(f->s, a, MSNP_LIST_FL, b, -1, &r), STORE_OK);
    assert_int_equal(r.owner_ver, 3);
    assert_int_equal(r.contact_ver, 3);
    assert_int_equal(store_list_count(f->s, b, MSNP_LIST_RL), 0);
    /* AL and BL exclude each other; a full list refuses */
    assert_int_equal(add(f->s, a, MSNP_LIST_AL, b, -1, NULL), STORE_OK);
    assert_int_equal(add(f->s, a, MSNP_LIST_BL, b, -1, NULL), STORE_OPPOSITE);
    assert_int_equal(rem(f->s, a, MSNP_LIST_AL, b, -1, NULL), STORE_OK);
    store_list_op full = {.owner = a, .list = MSNP_LIST_FL, .contact = b, .name = "b", .gid = -1, .limit = 0};
    assert_int_equal(store_list_add(f->s, &full, &r), STORE_FULL);
    /* deleting an account removes it from others' lists */
    assert_int_equal(add(f->s, a, MSNP_LIST_BL, b, -1, NULL), STORE_OK);
    assert_int_equal(store_user_del(f->s, "b@x.com"), STORE_OK);
    assert_int_equal(store_list_count(f->s, a, MSNP_LIST_BL), 0);
}

/* A list as text, "email name groups;" per entry, for comparing stores
 * whose ids differ. */
typedef struct list_text {
    char buf[4096];
    size_t n;
} list_text;

/* Appends to t; the text must fit. */
static void list_text_add(list_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void list_text_add(list_text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->buf + t->n, sizeof t->buf - t->n, fmt, ap);
    va_end(ap);
    assert_true(k >= 0 && (size_t)k < sizeof t->buf - t->n);
    t->n += (size_t)k;
}

static int list_text_cb(const store_entry *e, void *ctx) {
    list_text *t = ctx;
    list_text_add(t, "%s %s", e->email, e->name ? e->name : "");
    for (size_t i = 0; i < e->ngroups; i++) list_text_add(t, "%s%d", i ? "," : " ", e->groups[i]);
    list_text_add(t, ";");
    return 0;
}

static void list_as_text(store *s, int64_t owner, msnp_list l, list_text *t) {
    t->n = 0;
    t->buf[0] = '\0';
    assert_int_equal(store_list_each(s, owner, l, list_text_cb, t), STORE_OK);
}

/* One ADD or REM on both stores (db[0], db[1]; the same user numbered u
 * is id[k][u] in store k): the same answer and versions from each. */
static store_rc change_both(store *db[2], int64_t id[2][5], int adding, int owner, msnp_list l, int contact, int gid,
                            long limit, int step) {
    store_rc rc[2];
    store_list_result r[2];
    for (int k = 0; k < 2; k++) {
        store_list_op op = {
            .owner = id[k][owner], .list = l, .contact = id[k][contact], .name = "n", .gid = gid, .limit = limit};
        rc[k] = adding ? store_list_add(db[k], &op, &r[k]) : store_list_remove(db[k], &op, &r[k]);
    }
    if (rc[0] != rc[1] || r[0].entry_changed != r[1].entry_changed || r[0].owner_ver != r[1].owner_ver ||
        r[0].contact_ver != r[1].contact_ver)
        fail_msg("change %d (%s list %d, user %d -> %d, group %d, limit %ld): PostgreSQL %d (changed %d, versions "
                 "%u/%u), SQLite %d (changed %d, versions %u/%u)",
                 step, adding ? "ADD" : "REM", (int)l, owner, contact, gid, limit, rc[0], r[0].entry_changed,
                 r[0].owner_ver, r[0].contact_ver, rc[1], r[1].entry_changed, r[1].owner_ver, r[1].contact_ver);
    return rc[0];
}

/* PostgreSQL runs ADD and REM as functions (schema.c, step 3 -> 4) that
 * restate store.c's rules in SQL; SQLite runs store.c's own. The same
 * random changes on both must give the same answers, versions and lists,
 * every answer of store.h occurring. */
static void test_list_rules_match_sqlite(void **state) {
    fixture *f = *state;
    if (!pg_url) skip(); /* the comparison needs both backends */
    char path[600], err[256];
    snprintf(path, sizeof path, "%s/rules.db", f->dir);
    store *lite = store_open(path, err, sizeof err);
    assert_non_null(lite);
    store *db[2] = {f->s, lite};
    int64_t id[2][5];
    for (int k = 0; k < 2; k++) {
        for (int u = 0; u < 5; u++) {
            char e[32];
            snprintf(e, sizeof e, "u%d@x.com", u);
            id[k][u] = add_user(db[k], e);
        }
        /* user 0 has groups 1..64, user 1 groups 1 and 2 */
        for (int u = 0; u < 2; u++)
            for (int g = 0; g < (u ? 2 : 64); g++) {
                int gid;
                uint32_t v;
                assert_int_equal(store_group_add(db[k], id[k][u], "G", 100, &gid, &v), STORE_OK);
            }
    }
    int seen[8] = {0};
    int step = 0;
    /* An FL entry in as many groups as it may be: group 0 and 63 more. */
    seen[change_both(db, id, 1, 0, MSNP_LIST_FL, 4, -1, 100, step++)]++;
    for (int g = 1; g < STORE_MAX_ENTRY_GROUPS; g++)
        assert_int_equal(change_both(db, id, 1, 0, MSNP_LIST_FL, 4, g, 100, step++), STORE_OK);
    seen[change_both(db, id, 1, 0, MSNP_LIST_FL, 4, STORE_MAX_ENTRY_GROUPS, 100, step++)]++;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 1200; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        unsigned v = (unsigned)(x >> 33);
        int owner = (int)(v % 4); /* user 4 keeps its 64 groups' entry above */
        v /= 4;
        int contact = (int)(v % 4);
        v /= 4;
        msnp_list l = (msnp_list)(v % 3);
        v /= 3;
        int gid = (int)(v % 5) - 1; /* -1 none, 0-2, 3: no such group for users 1-3 */
        v /= 5;
        long limit = v % 6 == 0 ? 1 : 100;
        v /= 6;
        store_rc rc = change_both(db, id, (int)(v % 2), owner, l, contact, gid, limit, step++);
        assert_true(rc >= STORE_OK && rc <= STORE_TOO_MANY_GROUPS);
        seen[rc]++;
    }
    for (int rc = STORE_OK; rc <= STORE_TOO_MANY_GROUPS; rc++)
        if (!seen[rc]) fail_msg("no change answered %d: the comparison does not cover that rule", rc);
    for (int u = 0; u < 5; u++)
        for (msnp_list l = MSNP_LIST_FL; l <= MSNP_LIST_RL; l++) {
            list_text t[2];
            for (int k = 0; k < 2; k++) list_as_text(db[k], id[k][u], l, &t[k]);
            if (strcmp(t[0].buf, t[1].buf) != 0)
                fail_msg("user %d list %d: PostgreSQL [%s], SQLite [%s]", u, (int)l, t[0].buf, t[1].buf);
        }
    store_close(lite);
    unlink(path);
}

/* On PostgreSQL ADD and REM are one call of the schema's functions, not
 * store.c's statements: without the function the change fails, naming it. */
static void test_list_change_is_one_call(void **state) {
    fixture *f = *state;
    if (!pg_url) skip();
    int64_t a = add_user(f->s, "a@x.com"), b = add_user(f->s, "b@x.com");
    assert_int_equal(add(f->s, a, MSNP_LIST_FL, b, -1, NULL), STORE_OK);
    PGconn *c = PQconnectdb(pg_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, "DROP FUNCTION msnd_list_add");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
    assert_int_equal(add(f->s, a, MSNP_LIST_AL, b, -1, NULL), STORE_ERROR);
    assert_non_null(strstr(store_errmsg(f->s), "msnd_list_add"));
    assert_int_equal(rem(f->s, a, MSNP_LIST_FL, b, -1, NULL), STORE_OK);
    assert_int_equal(store_list_count(f->s, a, MSNP_LIST_FL), 0);
}

typedef struct peers {
    int n;
    int allow, al, bl;
} peers;

static void peer_cb(const store_peer *p, void *ctx) {
    peers *x = ctx;
    x->n++;
    x->allow = p->blp_allow;
    x->al = p->in_al;
    x->bl = p->in_bl;
}

static void test_watchers_and_contacts(void **state) {
    fixture *f = *state;
    int64_t a = add_user(f->s, "a@x.com"), b = add_user(f->s, "b@x.com");
    uint32_t v;
    /* b watches a; a blocks b and uses BLP BL */
    assert_int_equal(add(f->s, b, MSNP_LIST_FL, a, -1, NULL), STORE_OK);
    assert_int_equal(add(f->s, a, MSNP_LIST_BL, b, -1, NULL), STORE_OK);
    assert_int_equal(store_set_blp(f->s, a, 0, &v), STORE_OK);
    peers w = {0};
    assert_int_equal(store_watchers_each(f->s, a, peer_cb, &w), STORE_OK);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.allow, 0);
    assert_int_equal(w.bl, 1);
    assert_int_equal(w.al, 0);
    peers c = {0};
    assert_int_equal(store_contacts_each(f->s, b, peer_cb, &c), STORE_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.allow, 0); /* a's BLP */
    assert_int_equal(c.bl, 1);    /* b is on a's BL */
}

static void group_cb(int gid, const char *name, void *ctx) {
    (void)name;
    (*(int *)ctx) += gid + 100;
}

typedef struct fl_groups {
    int64_t contact;
    int ids[STORE_MAX_ENTRY_GROUPS];
    size_t n;
} fl_groups;

static int groups_cb(const store_entry *e, void *ctx) {
    fl_groups *g = ctx;
    if (e->contact != g->contact) return 0;
    g->n = e->ngroups;
    memcpy(g->ids, e->groups, e->ngroups * sizeof e->groups[0]);
    return 1;
}

/* The group ids of owner's FL entry for contact, as "0,3". */
static const char *groups_of(store *s, int64_t owner, int64_t contact, char *buf, size_t cap) {
    fl_groups g = {.contact = contact};
    assert_int_equal(store_list_each(s, owner, MSNP_LIST_FL, groups_cb, &g), STORE_OK);
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < g.n; i++) o += (size_t)snprintf(buf + o, cap - o, "%s%d", i ? "," : "", g.ids[i]);
    return buf;
}

static void test_groups_and_props(void **state) {
    fixture *f = *state;
    int64_t a = add_user(f->s, "a@x.com"), b = add_user(f->s, "b@x.com"), c = add_user(f->s, "c@x.com");
    uint32_t v;
    int gid, gid2;
    char buf[64];
    store_list_result r;
    assert_int_equal(store_group_count(f->s, a), 1);
    assert_int_equal(store_group_add(f->s, a, "Friends", 10, &gid, &v), STORE_OK);
    assert_int_equal(gid, 1);
    assert_int_equal(store_group_add(f->s, a, "Work", 10, &gid2, &v), STORE_OK);
    assert_int_equal(store_group_add(f->s, a, "More", 3, &gid2, &v), STORE_FULL);
    int sum = 0;
    assert_int_equal(store_group_each(f->s, a, group_cb, &sum), STORE_OK);
    assert_int_equal(sum, 100 + 101 + 102);
    assert_int_equal(add(f->s, a, MSNP_LIST_FL, b, 9, NULL), STORE_NO_GROUP);
    assert_int_equal(add(f->s, a, MSNP_LIST_FL, b, 1, NULL), STORE_OK);
    assert_string_equal(groups_of(f->s, a, b, buf, sizeof buf), "1");
    /* an FL entry joins a second group: only the owner's version moves */
    assert_int_equal(add(f->s, a, MSNP_LIST_FL, b, 2, &r), STORE_OK);
    assert_int_equal(r.entry_changed, 0);
    assert_int_equal(add(f->s, a, MSNP_LIST_FL, b, 2, NULL), STORE_EXISTS);
    assert_string_equal(groups_of(f->s, a, b, buf, sizeof buf), "1,2");
    assert_int_equal(rem(f->s, a, MSNP_LIST_FL, b, 0, NULL), STORE_NOT_IN_GROUP);
    assert_int_equal(rem(f->s, a, MSNP_LIST_FL, b, 7, NULL), STORE_NO_GROUP);
    assert_int_equal(rem(f->s, a, MSNP_LIST_FL, b, 2, &r), STORE_OK);
    assert_int_equal(r.entry_changed, 0);
    assert_string_equal(groups_of(f->s, a, b, buf, sizeof buf), "1");
    assert_int_equal(add(f->s, a, MSNP_LIST_FL, c, 2, NULL), STORE_OK);
    /* deleting a group: entries only in it fall back to group 0 */
    assert_int_equal(store_group_del(f->s, a, gid, &v), STORE_OK);
    assert_string_equal(groups_of(f->s, a, b, buf, sizeof buf), "0");
    assert_string_equal(groups_of(f->s, a, c, buf, sizeof buf), "2");
    assert_int_equal(store_group_del(f->s, a, gid, &v), STORE_NOTFOUND);
    assert_int_equal(store_group_del(f->s, a, 0, &v), STORE_ERROR);
    /* leaving the last group removes the entry */
    assert_int_equal(rem(f->s, a, MSNP_LIST_FL, c, 2, &r), STORE_OK);
    assert_int_equal(r.entry_changed, 1);
    assert_int_equal(store_list_get(f->s, a, MSNP_LIST_FL, c), 0);
    assert_int_equal(store_prop_set(f->s, a, "PHH", "555", &v), STORE_OK);
    assert_int_equal(store_prop_set(f->s, a, "PHH", "556", &v), STORE_OK);
    assert_int_equal(store_prop_set(f->s, a, "PHW", NULL, &v), STORE_OK);
}

/* What a login reads in one call (store_sync_get): every FL entry carries
 * its contact's groups, phone numbers, BLP and whether the contact has the
 * account on its AL/BL; RL entries what the account's own lists say. */
static const store_sync_entry *sync_find(const store_sync *y, msnp_list l, int64_t contact) {
    for (size_t i = 0; i < y->count[l]; i++)
        if (y->entries[l][i].contact == contact) return &y->entries[l][i];
    return NULL;
}

static void assert_phones(const store_sync_entry *e, const char *phh, const char *phw, const char *phm,
                          const char *mob) {
    const char *want[4] = {phh, phw, phm, mob};
    for (int k = 0; k < 4; k++) {
        const char *have = e->phones ? e->phones[k] : NULL;
        if (want[k]) assert_string_equal(have ? have : "(unset)", want[k]);
        else assert_null(have);
    }
}

static void test_sync_snapshot(void **state) {
    fixture *f = *state;
    int64_t a = add_user(f->s, "a@x.com"), b = add_user(f->s, "b@x.com"), c = add_user(f->s, "c@x.com"),
            d = add_user(f->s, "d@x.com");
    uint32_t v;
    int g1, g2;
    assert_int_equal(store_group_add(f->s, a, "Friends", 10, &g1, &v), STORE_OK);
    assert_int_equal(store_group_add(f->s, a, "Work", 10, &g2, &v), STORE_OK);
    assert_int_equal(add(f->s, a, MSNP_LIST_FL, b, g2, NULL), STORE_OK);
    assert_int_equal(add(f->s, a, MSNP_LIST_FL, b, g1, NULL), STORE_OK);
    assert_int_equal(add(f->s, a, MSNP_LIST_FL, c, -1, NULL), STORE_OK);
    assert_int_equal(add(f->s, a, MSNP_LIST_FL, d, -1, NULL), STORE_OK);
    assert_int_equal(add(f->s, a, MSNP_LIST_AL, b, -1, NULL), STORE_OK);
    assert_int_equal(add(f->s, a, MSNP_LIST_BL, c, -1, NULL), STORE_OK);
    assert_int_equal(store_prop_set(f->s, a, "PHH", "9", &v), STORE_OK);
    assert_int_equal(store_prop_set(f->s, b, "PHH", "1", &v), STORE_OK);
    assert_int_equal(store_prop_set(f->s, b, "PHM", "3", &v), STORE_OK);
    assert_int_equal(store_prop_set(f->s, b, "MBE", "N", &v), STORE_OK);
    assert_int_equal(store_prop_set(f->s, c, "PHW", "2", &v), STORE_OK);
    assert_int_equal(store_prop_set(f->s, c, "MOB", "Y", &v), STORE_OK);
    assert_int_equal(add(f->s, b, MSNP_LIST_AL, a, -1, NULL), STORE_OK);
    assert_int_equal(add(f->s, b, MSNP_LIST_FL, a, -1, NULL), STORE_OK);
    assert_int_equal(add(f->s, c, MSNP_LIST_BL, a, -1, NULL), STORE_OK);
    assert_int_equal(add(f->s, d, MSNP_LIST_FL, a, -1, NULL), STORE_OK);
    assert_int_equal(add(f->s, d, MSNP_LIST_AL, b, -1, NULL), STORE_OK); /* says nothing about a */
    assert_int_equal(store_set_blp(f->s, c, 0, &v), STORE_OK);

    const store_sync *y = NULL;
    assert_int_equal(store_sync_get(f->s, a, &y), STORE_OK);
    assert_string_equal(y->user.email, "a@x.com");
    assert_string_equal(y->props[0], "9");
    assert_null(y->props[1]);
    assert_int_equal(y->ngroups, 3);
    assert_int_equal(y->count[MSNP_LIST_FL], 3);
    assert_int_equal(y->count[MSNP_LIST_AL], 1);
    assert_int_equal(y->count[MSNP_LIST_BL], 1);
    assert_int_equal(y->count[MSNP_LIST_RL], 2);

    const store_sync_entry *eb = sync_find(y, MSNP_LIST_FL, b);
    assert_non_null(eb);
    assert_string_equal(eb->email, "b@x.com");
    assert_int_equal(eb->ngroups, 2);
    assert_int_equal(eb->groups[0], g1);
    assert_int_equal(eb->groups[1], g2);
    assert_phones(eb, "1", NULL, "3", NULL);
    assert_int_equal(eb->blp_allow, 1);
    assert_int_equal(eb->in_al, 1);
    assert_int_equal(eb->in_bl, 0);

    const store_sync_entry *ec = sync_find(y, MSNP_LIST_FL, c);
    assert_non_null(ec);
    assert_int_equal(ec->ngroups, 1);
    assert_int_equal(ec->groups[0], 0);
    assert_phones(ec, NULL, NULL, NULL, NULL); /* c blocks a: its phone numbers are hidden from a */
    assert_int_equal(ec->blp_allow, 0);
    assert_int_equal(ec->in_al, 0);
    assert_int_equal(ec->in_bl, 1);

    const store_sync_entry *ed = sync_find(y, MSNP_LIST_FL, d);
    assert_non_null(ed);
    assert_int_equal(ed->ngroups, 1);
    assert_phones(ed, NULL, NULL, NULL, NULL);
    assert_int_equal(ed->in_al, 0);
    assert_int_equal(ed->in_bl, 0);

    const store_sync_entry *rb = sync_find(y, MSNP_LIST_RL, b), *rd = sync_find(y, MSNP_LIST_RL, d);
    assert_non_null(rb);
    assert_non_null(rd);
    assert_int_equal(rb->in_al, 1); /* b is on a's AL */
    assert_int_equal(rd->in_al, 0);
    assert_int_equal(rd->in_bl, 0);
    assert_null(sync_find(y, MSNP_LIST_RL, c));
    store_sync_release(f->s, y);
}

/* The phone numbers of a contact as store_list_each hands out the
 * owner's FL (the LST command) and as the login snapshot has them (SYN). */
typedef struct phh_ctx {
    int64_t contact;
    const char *phh; /* "" when unset */
    char buf[32];
} phh_ctx;

static int phh_cb(const store_entry *e, void *arg) {
    phh_ctx *x = arg;
    if (e->contact == x->contact) {
        snprintf(x->buf, sizeof x->buf, "%s", e->phones[0] ? e->phones[0] : "");
        x->phh = x->buf;
    }
    return 0;
}

static void assert_phh_read(store *s, int64_t owner, int64_t contact, const char *want) {
    phh_ctx x = {.contact = contact};
    assert_int_equal(store_list_each(s, owner, MSNP_LIST_FL, phh_cb, &x), STORE_OK);
    assert_non_null(x.phh);
    assert_string_equal(x.phh, want);
    const store_sync *y = NULL;
    assert_int_equal(store_sync_get(s, owner, &y), STORE_OK);
    const store_sync_entry *e = sync_find(y, MSNP_LIST_FL, contact);
    assert_non_null(e);
    assert_phones(e, want[0] ? want : NULL, NULL, NULL, NULL);
    store_sync_release(s, y);
}

static uint32_t version_of(store *s, const char *email) {
    store_user u;
    assert_int_equal(store_user_get(s, email, &u), STORE_OK);
    return u.version;
}

/* A contact that does not allow the owner (the owner on its BL, or its
 * BLP BL without the owner on its AL) hides its phone numbers from the
 * owner's FL, as it hides its presence. Every change of that moves the
 * owner's list version and its generation (a cached snapshot is read
 * again); a contact without the owner on its FL is not bumped. */
static void test_blocking_hides_phones(void **state) {
    fixture *f = *state;
    int64_t o = add_user(f->s, "o@x.com"), x = add_user(f->s, "x@x.com"), n = add_user(f->s, "n@x.com");
    uint32_t v;
    assert_int_equal(add(f->s, o, MSNP_LIST_FL, x, -1, NULL), STORE_OK);
    assert_int_equal(store_prop_set(f->s, x, "PHH", "555", &v), STORE_OK);
    assert_phh_read(f->s, o, x, "555");
    static const struct {
        int kind; /* 0: ADD, 1: REM (list), 2: BLP (allow) */
        msnp_list list;
        int allow;
        const char *phh;
    } steps[] = {
        {0, MSNP_LIST_BL, 0, ""},    {1, MSNP_LIST_BL, 0, "555"}, {2, MSNP_LIST_FL, 0, ""},
        {0, MSNP_LIST_AL, 0, "555"}, {1, MSNP_LIST_AL, 0, ""},    {2, MSNP_LIST_FL, 1, "555"},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        uint32_t before = version_of(f->s, "o@x.com"), nbefore = version_of(f->s, "n@x.com");
        uint64_t g = store_generation_of(f->s, o);
        if (steps[i].kind == 0) assert_int_equal(add(f->s, x, steps[i].list, o, -1, NULL), STORE_OK);
        else if (steps[i].kind == 1) assert_int_equal(rem(f->s, x, steps[i].list, o, -1, NULL), STORE_OK);
        else assert_int_equal(store_set_blp(f->s, x, steps[i].allow, &v), STORE_OK);
        assert_true(version_of(f->s, "o@x.com") > before);
        assert_true(store_generation_of(f->s, o) != g);
        assert_int_equal(version_of(f->s, "n@x.com"), nbefore);
        assert_phh_read(f->s, o, x, steps[i].phh);
    }
    /* n does not have x on FL: x blocking n leaves n's version alone */
    uint32_t nbefore = version_of(f->s, "n@x.com");
    assert_int_equal(add(f->s, x, MSNP_LIST_BL, n, -1, NULL), STORE_OK);
    assert_int_equal(version_of(f->s, "n@x.com"), nbefore);
}

/* Two handles (two nodes) racing on the same lists from two threads: every
 * change checks and writes in one transaction, so exactly one of two equal
 * ADDs succeeds and a list with room for one more entry takes one. */
typedef struct racer {
    const char *db;
    int64_t owner, contacts[2];
    int side;
    pthread_barrier_t *bar;
    int ok, exists, full;
} racer;

#define RACE_ROUNDS 40

static void *race_thread(void *arg) {
    racer *x = arg;
    char err[256];
    store *s = store_open(x->db, err, sizeof err);
    if (!s) return NULL;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        store_list_result r;
        /* round type A: the same contact; B: different ones, room for one */
        int same = i % 2 == 0;
        store_list_op op = {.owner = x->owner,
                            .list = MSNP_LIST_FL,
                            .gid = -1,
                            .name = "n",
                            .contact = same ? x->contacts[0] : x->contacts[x->side],
                            .limit = 1};
        pthread_barrier_wait(x->bar);
        store_rc rc = store_list_add(s, &op, &r);
        if (rc == STORE_OK) x->ok++;
        else if (rc == STORE_EXISTS) x->exists++;
        else if (rc == STORE_FULL) x->full++;
        pthread_barrier_wait(x->bar);
        if (x->side == 0) { /* empty the list for the next round */
            for (int k = 0; k < 2; k++) {
                store_list_op del = {.owner = x->owner, .list = MSNP_LIST_FL, .contact = x->contacts[k], .gid = -1};
                store_list_remove(s, &del, &r);
            }
        }
        pthread_barrier_wait(x->bar);
    }
    store_close(s);
    return NULL;
}

static void test_racing_adds(void **state) {
    fixture *f = *state;
    int64_t a = add_user(f->s, "a@x.com"), b = add_user(f->s, "b@x.com"), c = add_user(f->s, "c@x.com");
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    racer x[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        x[i] = (racer){.db = f->path, .owner = a, .contacts = {b, c}, .side = i, .bar = &bar};
        assert_int_equal(pthread_create(&th[i], NULL, race_thread, &x[i]), 0);
    }
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    assert_int_equal(x[0].ok + x[1].ok, RACE_ROUNDS);             /* one winner per round */
    assert_int_equal(x[0].exists + x[1].exists, RACE_ROUNDS / 2); /* the loser of a same-contact round */
    assert_int_equal(x[0].full + x[1].full, RACE_ROUNDS / 2);     /* the loser of a one-slot round */
}

static void test_reopen_keeps_data(void **state) {
    fixture *f = *state;
    add_user(f->s, "a@x.com");
    store_close(f->s);
    char err[256];
    f->s = store_open(f->path, err, sizeof err);
    assert_non_null(f->s);
    store_user u;
    assert_int_equal(store_user_get(f->s, "a@x.com", &u), STORE_OK);
}

/* Read scopes: one snapshot for the reads, while another process (here a
 * second handle on the same file, as `msnd user ...` is) keeps writing, and
 * changes made inside a scope are committed before the call returns. */
/* The generation once it has moved from g: at once on SQLite; on
 * PostgreSQL when another handle's notification has come (bounded: 60 s;
 * a loaded machine can be slow, never that slow). */
static uint64_t generation_after(store *s, uint64_t g) {
    uint64_t now = store_generation(s);
    for (int i = 0; pg_url && now == g && i < 6000; i++) {
        usleep(10000);
        now = store_generation(s);
    }
    return now;
}

static void test_generation(void **state) {
    fixture *f = *state;
    int64_t a = add_user(f->s, "a@x.com");
    char err[256];
    store *admin = store_open(f->path, err, sizeof err);
    assert_non_null(admin);
    uint64_t g = store_generation(f->s);
    /* PostgreSQL: each call reports a change until the LISTEN is answered;
     * wait for that (bounded: 60 s). */
    for (int i = 0; pg_url && i < 6000; i++) {
        uint64_t h = store_generation(f->s);
        if (h == g) break;
        g = h;
        usleep(10000);
    }
    assert_true(store_generation(f->s) == g); /* nothing changed */
    store_user u;
    assert_int_equal(store_user_get(f->s, "a@x.com", &u), STORE_OK);
    assert_true(store_generation(f->s) == g); /* reads change nothing */
    uint32_t v;
    assert_int_equal(store_set_gtc(f->s, a, 0, &v), STORE_OK);
    uint64_t g2 = store_generation(f->s);
    assert_true(g2 != g); /* our own change */
    assert_int_equal(store_user_passwd(admin, "a@x.com", "other"), STORE_OK);
    uint64_t g3 = generation_after(f->s, g2);
    assert_true(g3 != g2); /* another handle's commit */
    /* Inside a read scope: the scope's snapshot (SQLite) or the
     * notifications drained once at its start (PostgreSQL), so the same
     * answer; after it, the commit shows. */
    store_read_begin(f->s);
    uint64_t g4 = store_generation(f->s);
    assert_true(g4 == g3);
    assert_int_equal(store_user_passwd(admin, "a@x.com", "third"), STORE_OK);
    if (pg_url) usleep(200000); /* the notification has come by now (it is not drained) */
    assert_true(store_generation(f->s) == g4);
    store_read_end(f->s);
    uint64_t g5 = generation_after(f->s, g4);
    assert_true(g5 != g4);
    store_close(admin);
}

/* Another handle's commit right after the first store_generation call
 * (which starts listening on PostgreSQL) moves the generation too, even
 * when it lands before the LISTEN takes effect. */
static void test_generation_first_call(void **state) {
    fixture *f = *state;
    add_user(f->s, "a@x.com");
    for (int round = 0; round < 40; round++) {
        char err[256], pw[16];
        store *s = store_open(f->path, err, sizeof err);
        assert_non_null(s);
        uint64_t g = store_generation(s);
        snprintf(pw, sizeof pw, "pw%d", round);
        assert_int_equal(store_user_passwd(f->s, "a@x.com", pw), STORE_OK);
        uint64_t g2 = generation_after(s, g);
        assert_true(g2 != g);
        store_close(s);
    }
}

/* Waits (bounded: 60 s) until the generation stops moving: on PostgreSQL
 * each call reports a change until the LISTEN is answered. */
static void settle_generation(store *s) {
    uint64_t g = store_generation(s);
    for (int i = 0; pg_url && i < 6000; i++) {
        usleep(10000);
        uint64_t h = store_generation(s);
        if (h == g) break;
        g = h;
    }
}

/* This store's own commit moves its generation once: the notification of
 * that commit, coming back over the LISTEN connection, is not taken for
 * another change (it used to be, dropping everything read since). In a
 * read scope nothing is drained after its start, so the write's echo is
 * still on its way when the scope ends. */
static void test_generation_own_echo(void **state) {
    fixture *f = *state;
    int64_t a = add_user(f->s, "a@x.com");
    settle_generation(f->s);
    uint32_t v;
    store_read_begin(f->s);
    (void)store_generation(f->s);
    assert_int_equal(store_set_gtc(f->s, a, 0, &v), STORE_OK);
    uint64_t g = store_generation(f->s);
    store_read_end(f->s);
    if (pg_url) usleep(300000); /* the notification is back by now */
    assert_true(store_generation(f->s) == g);
    /* and another handle's commit still counts */
    char err[256];
    store *admin = store_open(f->path, err, sizeof err);
    assert_non_null(admin);
    assert_int_equal(store_user_passwd(admin, "a@x.com", "other"), STORE_OK);
    uint64_t g2 = generation_after(f->s, g);
    assert_true(g2 != g);
    store_close(admin);
}

/* Cached rows of one account survive changes to other accounts' lists:
 * another process's or node's through PostgreSQL's notifications or
 * SQLite's changes table, which name the accounts a change touches, and
 * this handle's own as it makes them; a change to what other accounts'
 * rows show (a name) moves every account's. Checked through the generations and through the login snapshot
 * cache (the same block comes back while current, and a stale one is read
 * anew with the change in it). */
static int rl_has(const store_sync *y, const char *email) {
    for (size_t i = 0; i < y->count[MSNP_LIST_RL]; i++)
        if (strcmp(y->entries[MSNP_LIST_RL][i].email, email) == 0) return 1;
    return 0;
}

static void test_generation_per_account(void **state) {
    fixture *f = *state;
    int64_t a = add_user(f->s, "a@x.com"), b = add_user(f->s, "b@x.com");
    int64_t c = add_user(f->s, "c@x.com"), d = add_user(f->s, "d@x.com");
    char err[256];
    store *admin = store_open(f->path, err, sizeof err);
    assert_non_null(admin);
    settle_generation(f->s);
    const store_sync *yc, *yb, *again;
    assert_int_equal(store_sync_get(f->s, c, &yc), STORE_OK);
    assert_int_equal(store_sync_get(f->s, b, &yb), STORE_OK);
    uint64_t ga = store_generation_of(f->s, a), gb = store_generation_of(f->s, b);
    uint64_t gc = store_generation_of(f->s, c), all = store_generation(f->s);

    /* another node: a adds b to FL */
    assert_int_equal(add(admin, a, MSNP_LIST_FL, b, 0, NULL), STORE_OK);
    generation_after(f->s, all);
    settle_generation(f->s);
    assert_true(store_generation_of(f->s, a) != ga);
    assert_true(store_generation_of(f->s, b) != gb);
    assert_int_equal(store_sync_get(f->s, b, &again), STORE_OK);
    assert_true(rl_has(again, "a@x.com")); /* read anew: b's RL has a */
    assert_false(rl_has(yb, "a@x.com"));
    store_sync_release(f->s, again);
    assert_int_equal(store_sync_get(f->s, c, &again), STORE_OK);
    /* both backends learn which accounts it touched (PostgreSQL: the
     * notifications; SQLite: the changes table) */
    assert_true(store_generation_of(f->s, c) == gc);
    assert_ptr_equal(again, yc); /* still the cached block */
    store_sync_release(f->s, again);

    /* this node: c adds d to AL; a's rows are not touched */
    ga = store_generation_of(f->s, a);
    gc = store_generation_of(f->s, c);
    uint64_t gd = store_generation_of(f->s, d);
    assert_int_equal(add(f->s, c, MSNP_LIST_AL, d, -1, NULL), STORE_OK);
    assert_true(store_generation_of(f->s, c) != gc);
    assert_true(store_generation_of(f->s, d) != gd);
    settle_generation(f->s); /* PostgreSQL: its echo is not another change */
    assert_true(store_generation_of(f->s, a) == ga);

    /* this node: a's groups, GTC and the name a gave a contact touch a's
     * rows alone; BLP decides what a's contacts see, so it moves them */
    int gid = -1;
    uint32_t gv;
    assert_int_equal(add(f->s, a, MSNP_LIST_FL, c, 0, NULL), STORE_OK);
    settle_generation(f->s);
    const store_sync *yc2;
    assert_int_equal(store_sync_get(f->s, c, &yc2), STORE_OK);
    ga = store_generation_of(f->s, a);
    gc = store_generation_of(f->s, c);
    assert_int_equal(store_group_add(f->s, a, "Work", 30, &gid, &gv), STORE_OK);
    assert_true(store_generation_of(f->s, a) != ga);
    ga = store_generation_of(f->s, a);
    assert_int_equal(store_group_rename(f->s, a, gid, "Play", &gv), STORE_OK);
    assert_true(store_generation_of(f->s, a) != ga);
    ga = store_generation_of(f->s, a);
    assert_int_equal(store_group_del(f->s, a, gid, &gv), STORE_OK);
    assert_true(store_generation_of(f->s, a) != ga);
    ga = store_generation_of(f->s, a);
    assert_int_equal(store_set_gtc(f->s, a, 0, &gv), STORE_OK);
    assert_true(store_generation_of(f->s, a) != ga);
    ga = store_generation_of(f->s, a);
    assert_int_equal(store_list_rename(f->s, a, c, "Cee", &gv), STORE_OK);
    assert_true(store_generation_of(f->s, a) != ga);
    settle_generation(f->s);
    assert_true(store_generation_of(f->s, c) == gc);
    assert_int_equal(store_sync_get(f->s, c, &again), STORE_OK);
    assert_ptr_equal(again, yc2); /* c's cached block still serves */
    store_sync_release(f->s, again);
    assert_int_equal(store_sync_get(f->s, a, &again), STORE_OK);
    assert_int_equal(again->user.gtc_prompt, 0); /* a's is read anew */
    store_sync_release(f->s, again);
    assert_int_equal(store_set_blp(f->s, a, 0, &gv), STORE_OK);
    settle_generation(f->s);
    assert_true(store_generation_of(f->s, c) != gc);
    assert_int_equal(store_sync_get(f->s, c, &again), STORE_OK);
    assert_ptr_not_equal(again, yc2);
    store_sync_release(f->s, again);
    store_sync_release(f->s, yc2);

    /* another node: d changes its name, which c's AL shows */
    gc = store_generation_of(f->s, c);
    ga = store_generation_of(f->s, a);
    all = store_generation(f->s);
    uint32_t v;
    assert_int_equal(store_set_name(admin, d, "Dee", &v), STORE_OK);
    generation_after(f->s, all);
    assert_true(store_generation_of(f->s, c) != gc);
    assert_true(store_generation_of(f->s, a) != ga);

    /* a peer's RL line: only the account it names; none named, none moved */
    ga = store_generation_of(f->s, a);
    gc = store_generation_of(f->s, c);
    store_changed_elsewhere_of(f->s, c);
    assert_true(store_generation_of(f->s, c) != gc);
    if (pg_url) assert_true(store_generation_of(f->s, a) == ga);
    gc = store_generation_of(f->s, c);
    ga = store_generation_of(f->s, a);
    store_changed_elsewhere_of(f->s, 0);
    assert_true(store_generation_of(f->s, c) == gc && store_generation_of(f->s, a) == ga);
    store_sync_release(f->s, yc);
    store_sync_release(f->s, yb);
    store_close(admin);
}

/* GTC shows in its own account's rows alone: another node's or process's
 * change of it moves that account's generation and no other's (PostgreSQL:
 * its notification names the account, schema step 6; SQLite: the changes
 * table). */
static void test_gtc_elsewhere_names_its_account(void **state) {
    fixture *f = *state;
    int64_t a = add_user(f->s, "a@x.com"), c = add_user(f->s, "c@x.com");
    char err[256];
    store *other = store_open(f->path, err, sizeof err);
    assert_non_null(other);
    settle_generation(f->s);
    uint64_t ga = store_generation_of(f->s, a), gc = store_generation_of(f->s, c);
    uint32_t v;
    assert_int_equal(store_set_gtc(other, c, 0, &v), STORE_OK);
    for (int i = 0; i < 500 && store_generation_of(f->s, c) == gc; i++) usleep(10000);
    assert_true(store_generation_of(f->s, c) != gc);
    settle_generation(f->s);
    assert_true(store_generation_of(f->s, a) == ga);
    store_close(other);
}

/* A raw statement on the SQLite file, as another process would run it. */
static void file_exec(fixture *f, const char *sql) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* SQLite's changes table: what another process's commit touched is read
 * from it, whoever wrote (a statement outside msnd included, through the
 * triggers); rows missing between the one read last and the next (pruned
 * while this handle was behind) make every account count as changed. */
static void test_sqlite_changes_log(void **state) {
    fixture *f = *state;
    if (pg_url) skip(); /* PostgreSQL: notifications */
    int64_t a = add_user(f->s, "a@x.com"), b = add_user(f->s, "b@x.com");
    int64_t c = add_user(f->s, "c@x.com");
    settle_generation(f->s);
    uint64_t ga = store_generation_of(f->s, a), gb = store_generation_of(f->s, b);
    uint64_t gc = store_generation_of(f->s, c);
    char sql[256];
    /* an FL entry written by hand: its owner and its contact */
    snprintf(sql, sizeof sql, "INSERT INTO list_entries(owner,list,contact,name) VALUES(%lld,0,%lld,'b')", (long long)a,
             (long long)b);
    file_exec(f, sql);
    assert_true(store_generation_of(f->s, a) != ga);
    assert_true(store_generation_of(f->s, b) != gb);
    assert_true(store_generation_of(f->s, c) == gc);
    /* GTC shows in its account's rows alone; a name in everyone's */
    ga = store_generation_of(f->s, a);
    snprintf(sql, sizeof sql, "UPDATE users SET gtc='N' WHERE id=%lld", (long long)c);
    file_exec(f, sql);
    assert_true(store_generation_of(f->s, c) != gc);
    assert_true(store_generation_of(f->s, a) == ga);
    gc = store_generation_of(f->s, c);
    snprintf(sql, sizeof sql, "UPDATE users SET name='Bee' WHERE id=%lld", (long long)b);
    file_exec(f, sql);
    assert_true(store_generation_of(f->s, a) != ga);
    assert_true(store_generation_of(f->s, c) != gc);
    /* rows pruned past the one read last: every account */
    ga = store_generation_of(f->s, a);
    gc = store_generation_of(f->s, c);
    snprintf(sql, sizeof sql,
             "INSERT INTO groups(owner,gid,name) VALUES(%lld,7,'x'),(%lld,8,'y');"
             "DELETE FROM changes WHERE seq<(SELECT max(seq) FROM changes)",
             (long long)b, (long long)b);
    file_exec(f, sql);
    assert_true(store_generation_of(f->s, a) != ga);
    assert_true(store_generation_of(f->s, c) != gc);
    /* and from there on, by account again */
    ga = store_generation_of(f->s, a);
    gc = store_generation_of(f->s, c);
    snprintf(sql, sizeof sql, "DELETE FROM groups WHERE owner=%lld AND gid=7", (long long)b);
    file_exec(f, sql);
    assert_true(store_generation_of(f->s, a) == ga && store_generation_of(f->s, c) == gc);
    assert_true(store_generation_of(f->s, b) != gb);
}

static void count_peer(const store_peer *p, void *ctx) {
    (void)p;
    (*(int *)ctx)++;
}

/* A change another node tells of (a peer's RL line) before the store's own
 * notice: store_generation moves on, so the login snapshot no longer
 * answers store_watchers_cached. Inside a read scope whose snapshot
 * predates that commit (SQLite's read transaction), what is read there
 * lacks the change and is labelled with the moved generation; that label
 * stops matching once the store's notice is in (SQLite: the next scope's
 * PRAGMA data_version and the changes table), so it is read again. */
static void test_changed_elsewhere(void **state) {
    fixture *f = *state;
    int64_t a = add_user(f->s, "a@x.com"), b = add_user(f->s, "b@x.com");
    int64_t c = add_user(f->s, "c@x.com");
    assert_int_equal(add(f->s, b, MSNP_LIST_FL, a, 0, NULL), STORE_OK);
    settle_generation(f->s);
    const store_sync *y;
    assert_int_equal(store_sync_get(f->s, a, &y), STORE_OK);
    store_sync_release(f->s, y);
    int n = 0;
    assert_int_equal(store_watchers_cached(f->s, a, count_peer, &n), 1);
    assert_int_equal(n, 1);                                              /* b watches a */
    assert_int_equal(store_watchers_cached(f->s, b, count_peer, &n), 0); /* never read */
    uint64_t g = store_generation(f->s);
    store_changed_elsewhere_of(f->s, a);
    uint64_t g2 = store_generation(f->s);
    assert_true(g2 != g);
    assert_true(store_generation(f->s) == g2); /* once */
    assert_int_equal(store_watchers_cached(f->s, a, count_peer, &n), 0);

    char err[256];
    store *other = store_open(f->path, err, sizeof err);
    assert_non_null(other);
    settle_generation(f->s);
    store_read_begin(f->s);
    uint64_t g3 = store_generation_of(f->s, a); /* the scope's snapshot is taken */
    n = 0;
    assert_int_equal(store_watchers_each(f->s, a, count_peer, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(add(other, c, MSNP_LIST_FL, a, 0, NULL), STORE_OK); /* another node: c watches a */
    store_changed_elsewhere_of(f->s, a);                                 /* its RL line */
    uint64_t g4 = store_generation_of(f->s, a);
    assert_true(g4 != g3);
    n = 0;
    assert_int_equal(store_watchers_each(f->s, a, count_peer, &n), STORE_OK);
    if (!pg_url) assert_int_equal(n, 1); /* read in the old snapshot */
    store_read_end(f->s);
    for (int i = 0; i < 500 && store_generation_of(f->s, a) == g4; i++) usleep(10000);
    assert_true(store_generation_of(f->s, a) != g4); /* g4's rows are not current */
    n = 0;
    assert_int_equal(store_watchers_each(f->s, a, count_peer, &n), STORE_OK);
    assert_int_equal(n, 2);
    store_close(other);
}

/* Loads users accounts named name, each with the next contacts accounts
 * on its FL (under that name), in group 0. */
static void load_ring(store *s, int users, int contacts, const char *name) {
    static const int group0[1] = {0};
    assert_int_equal(store_load_begin(s), STORE_OK);
    for (int i = 0; i < users; i++) {
        store_user u;
        memset(&u, 0, sizeof u);
        u.id = 1 + i;
        snprintf(u.email, sizeof u.email, "r%d@x.com", i);
        snprintf(u.password, sizeof u.password, "pw");
        snprintf(u.name, sizeof u.name, "%s", name);
        u.version = 1;
        u.blp_allow = 1;
        u.gtc_prompt = 1;
        assert_int_equal(store_load_user(s, &u), STORE_OK);
        assert_int_equal(store_load_group(s, u.id, 0, "Other%20Contacts"), STORE_OK);
    }
    for (int i = 0; i < users; i++)
        for (int k = 1; k <= contacts; k++) {
            store_entry e = {.contact = 1 + (i + k) % users, .name = name, .groups = group0, .ngroups = 1};
            assert_int_equal(store_load_entry(s, 1 + i, MSNP_LIST_FL, &e), STORE_OK);
        }
    assert_int_equal(store_load_end(s, 1), STORE_OK);
    settle_generation(s);
}

/* More snapshots than the cache holds (2 MiB: 200 accounts of about 25 KB
 * each, 28 FL and 28 RL entries with the longest names): the one read
 * last is still served from the cache afterwards (the same block), as a
 * login's SYN and ILN need it to be, instead of being refused because
 * older snapshots filled the cache. */
static void test_sync_cache_full(void **state) {
    fixture *f = *state;
    enum { USERS = 200, CONTACTS = 28 };
    char longname[MSNP_MAX_NAME_ENCODED + 1];
    memset(longname, 'n', MSNP_MAX_NAME_ENCODED);
    longname[MSNP_MAX_NAME_ENCODED] = '\0';
    load_ring(f->s, USERS, CONTACTS, longname);
    store_set_login_cache(f->s, (size_t)2 << 20);
    for (int i = 0; i < USERS; i++) {
        const store_sync *y;
        assert_int_equal(store_sync_get(f->s, 1 + i, &y), STORE_OK);
        assert_int_equal(y->count[MSNP_LIST_FL], CONTACTS);
        assert_int_equal(y->count[MSNP_LIST_RL], CONTACTS);
        store_sync_release(f->s, y);
    }
    store_login_cache_stats st;
    store_login_cache_stats_get(f->s, &st);
    assert_true(st.evicted > 0); /* the cache was full */
    for (int i = USERS - 3; i < USERS; i++) {
        const store_sync *y1, *y2;
        assert_int_equal(store_sync_get(f->s, 1 + i, &y1), STORE_OK);
        assert_int_equal(store_sync_get(f->s, 1 + i, &y2), STORE_OK);
        assert_ptr_equal(y1, y2);
        store_sync_release(f->s, y1);
        store_sync_release(f->s, y2);
    }
}

/* What one snapshot costs of the cache's budget for an account with ten
 * contacts, each also watching it (FL and RL of ten): about 2 KB, so that
 * 8 MiB keep about 4 000 accounts and the default 64 MiB about 32 000. The entries are packed
 * and the account's own row keeps no fixed-size arrays: with both it was
 * 4 040 bytes. */
static void test_login_snapshot_size(void **state) {
    fixture *f = *state;
    enum { USERS = 200 };
    load_ring(f->s, USERS, 10, "Twenty%20characters");
    store_set_login_cache(f->s, STORE_LOGIN_CACHE_DEFAULT);
    for (int i = 0; i < USERS; i++) {
        const store_sync *y;
        assert_int_equal(store_sync_get(f->s, 1 + i, &y), STORE_OK);
        assert_int_equal(y->count[MSNP_LIST_FL], 10);
        assert_int_equal(y->count[MSNP_LIST_RL], 10);
        assert_string_equal(y->entries[MSNP_LIST_RL][0].name, "Twenty%20characters");
        assert_string_equal(y->entries[MSNP_LIST_RL][0].peer_name, "Twenty%20characters");
        store_sync_release(f->s, y);
    }
    store_login_cache_stats st;
    store_login_cache_stats_get(f->s, &st);
    assert_int_equal(st.snapshots, USERS);
    size_t each = st.bytes / st.snapshots;
    print_message("login snapshot with FL and RL of ten: %zu bytes\n", each);
    assert_true(each <= 2200);
}

/* Reads every account's snapshot in id order, twice (logins cycling
 * through the accounts); returns how many of the second reads were the
 * block kept from the first. */
static int repeat_hits(store *s, int users) {
    const store_sync **first = calloc((size_t)users, sizeof *first);
    assert_non_null(first);
    for (int i = 0; i < users; i++) assert_int_equal(store_sync_get(s, 1 + i, &first[i]), STORE_OK);
    int hits = 0;
    for (int i = 0; i < users; i++) {
        const store_sync *y;
        assert_int_equal(store_sync_get(s, 1 + i, &y), STORE_OK);
        assert_int_equal(y->user.id, 1 + i);
        assert_int_equal(y->count[MSNP_LIST_FL], 1);
        assert_int_equal(y->entries[MSNP_LIST_FL][0].contact, 1 + (i + 1) % users);
        hits += y == first[i];
        store_sync_release(s, y);
    }
    for (int i = 0; i < users; i++) store_sync_release(s, first[i]);
    free(first);
    return hits;
}

/* --login-cache-mb: a budget that holds every account keeps them all,
 * however many there are (the slots grow with the budget: with a fixed
 * 4 096, accounts 4 096 ids apart took each other's place and logins
 * cycling through more accounts than that never hit); 0 keeps none; a
 * small budget still serves the account read last. */
static void test_login_cache_budget(void **state) {
    fixture *f = *state;
    enum { USERS = 5000 };
    load_ring(f->s, USERS, 1, "n");
    store_login_cache_stats st;
    store_set_login_cache(f->s, (size_t)64 << 20);
    assert_int_equal(repeat_hits(f->s, USERS), USERS);
    store_login_cache_stats_get(f->s, &st);
    assert_int_equal(st.budget, (size_t)64 << 20);
    assert_int_equal(st.snapshots, USERS);
    assert_true(st.bytes > 0 && st.bytes <= st.budget);
    assert_int_equal(st.hits, USERS);
    assert_int_equal(st.misses, USERS);
    assert_int_equal(st.evicted, 0);
    /* 8 MiB: 8 192 slots, one per KiB, and every account kept */
    store_set_login_cache(f->s, (size_t)8 << 20);
    assert_int_equal(repeat_hits(f->s, USERS), USERS);
    store_login_cache_stats_get(f->s, &st);
    assert_int_equal(st.evicted, 0);
    /* 4 MiB: room for all the bytes, but 4 096 slots, so accounts 4 096
     * ids apart (1-904 and 4 097-5 000) take each other's slot; each of
     * those is counted as given way */
    store_set_login_cache(f->s, (size_t)4 << 20);
    assert_int_equal(repeat_hits(f->s, USERS), 4096 - (USERS - 4096));
    store_login_cache_stats st2;
    store_login_cache_stats_get(f->s, &st2);
    assert_int_equal(st2.evicted, 3 * (USERS - 4096)); /* once in the first pass, twice in the second */
    assert_int_equal(st2.hits - st.hits, 4096 - (USERS - 4096));
    store_set_login_cache(f->s, 0);
    assert_int_equal(repeat_hits(f->s, USERS), 0);
    store_login_cache_stats_get(f->s, &st);
    assert_int_equal(st.snapshots, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.hits, st2.hits); /* counts since the store was opened */
    assert_int_equal(st.misses, st2.misses + 2 * USERS);
    const store_sync *y1, *y2;
    assert_int_equal(store_sync_get(f->s, 7, &y1), STORE_OK);
    assert_int_equal(store_sync_get(f->s, 7, &y2), STORE_OK);
    assert_ptr_not_equal(y1, y2);
    store_sync_release(f->s, y1);
    store_sync_release(f->s, y2);
    /* about 1 KB a snapshot: 64 KiB holds a few dozen, never all */
    store_set_login_cache(f->s, (size_t)64 << 10);
    int hits = repeat_hits(f->s, USERS);
    assert_true(hits < USERS / 10);
    store_login_cache_stats_get(f->s, &st);
    assert_true(st.bytes <= st.budget);
    assert_true(st.snapshots > 0 && st.snapshots < USERS / 10);
    /* every snapshot kept but the last few gave way to a later one */
    assert_true(st.evicted - st2.evicted > (uint64_t)USERS);
    assert_int_equal(store_sync_get(f->s, USERS, &y1), STORE_OK);
    assert_int_equal(store_sync_get(f->s, USERS, &y2), STORE_OK);
    assert_ptr_equal(y1, y2);
    store_sync_release(f->s, y1);
    store_sync_release(f->s, y2);
}

static void test_read_scope(void **state) {
    fixture *f = *state;
    if (pg_url) skip(); /* SQLite's snapshot scopes */
    int64_t a = add_user(f->s, "a@x.com");
    char err[256];
    store *admin = store_open(f->path, err, sizeof err);
    assert_non_null(admin);
    store_user u;

    store_read_begin(f->s);
    assert_int_equal(store_user_get(f->s, "a@x.com", &u), STORE_OK);
    assert_string_equal(u.password, "pw");
    assert_int_equal(store_user_passwd(admin, "a@x.com", "changed"), STORE_OK); /* not blocked by the reader */
    assert_int_equal(store_user_get(f->s, "a@x.com", &u), STORE_OK);
    assert_string_equal(u.password, "pw"); /* same snapshot */
    store_read_end(f->s);
    assert_int_equal(store_user_get(f->s, "a@x.com", &u), STORE_OK);
    assert_string_equal(u.password, "changed");

    /* Nested scopes with changes inside: each change is visible to the
     * other handle at once, and nothing stays locked afterwards. */
    uint32_t v;
    store_read_begin(f->s);
    store_read_begin(f->s);
    assert_int_equal(store_user_get_id(f->s, a, &u), STORE_OK);
    assert_int_equal(store_set_blp(f->s, a, 0, &v), STORE_OK);
    assert_int_equal(store_user_get(admin, "a@x.com", &u), STORE_OK);
    assert_int_equal(u.blp_allow, 0);
    assert_int_equal(store_user_passwd(f->s, "a@x.com", "again"), STORE_OK);
    assert_int_equal(store_user_get(admin, "a@x.com", &u), STORE_OK);
    assert_string_equal(u.password, "again");
    assert_int_equal(store_user_get(f->s, "a@x.com", &u), STORE_OK);
    assert_int_equal(u.blp_allow, 0);
    /* After a change, the scope's reads share one snapshot again. */
    assert_int_equal(store_user_passwd(admin, "a@x.com", "third"), STORE_OK);
    assert_int_equal(store_user_get(f->s, "a@x.com", &u), STORE_OK);
    assert_string_equal(u.password, "again");
    store_read_end(f->s);
    store_read_end(f->s);
    store_read_end(f->s); /* unbalanced end: ignored */
    assert_int_equal(store_user_get(f->s, "a@x.com", &u), STORE_OK);
    assert_string_equal(u.password, "third");
    assert_int_equal(store_user_add(admin, "b@x.com", "pw", "B"), STORE_OK);
    assert_int_equal(store_user_get(f->s, "b@x.com", &u), STORE_OK);
    store_read_begin(NULL); /* no store (DS role): no-op */
    store_read_end(NULL);
    store_close(admin);
}

/* The fixture's store closed and its file made anew at schema `version`
 * (its tables, no rows; user_version is the caller's to set), open. */
static sqlite3 *older_file(fixture *f, int version) {
    store_close(f->s);
    f->s = NULL;
    unlink(f->path);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    for (int v = 0; v < version; v++)
        assert_int_equal(sqlite3_exec(db, schema_migration(SCHEMA_SQLITE, v), NULL, NULL, NULL), SQLITE_OK);
    return db;
}

/* A version-1 file (group ids as "0,5" text in list_entries) opens with
 * the memberships as rows; ids naming no group are dropped. */
static void test_migrates_v1_groups(void **state) {
    fixture *f = *state;
    if (pg_url) skip(); /* a SQLite file format */
    sqlite3 *db = older_file(f, 1);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA user_version=1;"
                                  "INSERT INTO users(id,email,password,name,created) VALUES"
                                  " (1,'a@x.com','pw','a',0),(2,'b@x.com','pw','b',0),(3,'c@x.com','pw','c',0);"
                                  "INSERT INTO groups VALUES (1,0,'Other'),(1,1,'Friends');"
                                  "INSERT INTO list_entries(owner,list,contact,name,groups) VALUES"
                                  " (1,0,2,'b','1,5'),(1,0,3,'c','5'),(1,1,2,'b','0');",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    char err[256], buf[64];
    f->s = store_open(f->path, err, sizeof err);
    assert_non_null(f->s);
    assert_string_equal(groups_of(f->s, 1, 2, buf, sizeof buf), "1");
    assert_string_equal(groups_of(f->s, 1, 3, buf, sizeof buf), "0");
    assert_int_equal(store_list_get(f->s, 1, MSNP_LIST_AL, 2), 1);
}

typedef struct opener {
    const char *path;
    store *s;
    char err[256];
} opener;

static void *open_store(void *arg) {
    opener *o = arg;
    o->s = store_open(o->path, o->err, sizeof o->err);
    return NULL;
}

/* Nodes started together on a file that needs the last migration: each
 * reads the old version, then waits for the write lock (held here until
 * both wait); the first to get it migrates, the others find the file
 * migrated under the lock and open it as it is. */
static void test_migration_by_several_at_once(void **state) {
    fixture *f = *state;
    if (pg_url) skip(); /* a SQLite file format */
    int from = schema_version() - 1;
    sqlite3 *db = older_file(f, from);
    char set[64];
    snprintf(set, sizeof set, "PRAGMA user_version=%d;", from);
    assert_int_equal(sqlite3_exec(db, set, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode=WAL; BEGIN IMMEDIATE;", NULL, NULL, NULL), SQLITE_OK);
    opener o[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        o[i].path = f->path;
        o[i].s = NULL;
        o[i].err[0] = '\0';
        assert_int_equal(pthread_create(&t[i], NULL, open_store, &o[i]), 0);
    }
    usleep(400 * 1000); /* every opener past its first read of the version, inside its 5 s busy wait */
    assert_int_equal(sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    int created = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        if (!o[i].s) fprintf(stderr, "opener %d: %s\n", i, o[i].err);
        assert_non_null(o[i].s);
        created += store_created(o[i].s);
    }
    assert_int_equal(created, 0); /* an old file, not a new one */
    assert_int_equal(store_user_add(o[0].s, "a@x.com", "pw", "A"), STORE_OK);
    store_user u;
    assert_int_equal(store_user_get(o[2].s, "a@x.com", &u), STORE_OK);
    for (int i = 0; i < 3; i++) store_close(o[i].s);
}

/* The plan SQLite picks for sql, its details joined by "; ". */
static void plan_of(sqlite3 *db, const char *sql, char *out, size_t cap) {
    char q[512];
    snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *st;
    out[0] = '\0';
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW && n < cap) {
        int w = snprintf(out + n, cap - n, "%s; ", (const char *)sqlite3_column_text(st, 3));
        if (w < 0) break;
        n += (size_t)w;
    }
    sqlite3_finalize(st);
}

/* A version-2 file opens at version 3, its entries kept, and the login
 * read's two scans of list_entries (an account's entries by owner and
 * list; its watchers by contact and list) are answered from indexes
 * alone, without visiting the table. */
static void test_migrates_v2_covering_indexes(void **state) {
    fixture *f = *state;
    if (pg_url) skip(); /* a SQLite file format */
    sqlite3 *db = older_file(f, 2);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA user_version=2;"
                                  "INSERT INTO users(id,email,password,name,created) VALUES"
                                  " (1,'a@x.com','pw','a',0),(2,'b@x.com','pw','b',0),(3,'c@x.com','pw','c',0);"
                                  "INSERT INTO groups VALUES (1,0,'Other');"
                                  "INSERT INTO list_entries(owner,list,contact,name) VALUES"
                                  " (1,0,3,'c'),(1,0,2,'b'),(1,2,3,'c');"
                                  "INSERT INTO fl_groups(owner,contact,gid) VALUES (1,3,0),(1,2,0);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    char err[256], buf[64];
    f->s = store_open(f->path, err, sizeof err);
    assert_non_null(f->s);
    assert_int_equal(store_list_get(f->s, 1, MSNP_LIST_FL, 2), 1);
    assert_int_equal(store_list_get(f->s, 1, MSNP_LIST_BL, 3), 1);
    assert_string_equal(groups_of(f->s, 1, 2, buf, sizeof buf), "0");
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), schema_version());
    sqlite3_finalize(st);
    char plan[512];
    plan_of(db, "SELECT contact, name, rowid FROM list_entries WHERE owner = 1 AND list = 0 ORDER BY rowid", plan,
            sizeof plan);
    assert_non_null(strstr(plan, "USING COVERING INDEX list_entries_owner"));
    plan_of(db, "SELECT owner, rowid FROM list_entries WHERE contact = 2 AND list = 0", plan, sizeof plan);
    assert_non_null(strstr(plan, "USING COVERING INDEX list_entries_contact"));
    sqlite3_close(db);
}

/* The first column of the first row of sql on PostgreSQL, -1 on error. */
static long pg_scalar(PGconn *c, const char *sql) {
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    long v = -1;
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0) v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    else if (st != PGRES_COMMAND_OK) fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    else v = 0;
    PQclear(r);
    return v;
}

/* A PostgreSQL database of schema version 3 (lists changed statement by
 * statement) opens at the current version with its rows, ADD and REM then
 * run as the functions; the way back docs/msnd.md gives (drop the
 * functions, version 3) leaves a database the step takes again. */
static void test_migrates_v3_list_functions(void **state) {
    fixture *f = *state;
    if (!pg_url) skip(); /* PostgreSQL's step; SQLite's 3 -> 4 is empty */
    store_close(f->s);
    f->s = NULL;
    for (int round = 0; round < 2; round++) {
        PGconn *c = PQconnectdb(pg_url);
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        if (round == 0) {
            assert_int_equal(pg_reset(), 0);
            for (int v = 0; v < 3; v++) {
                const char *sql = schema_migration(SCHEMA_POSTGRESQL, v);
                if (!sql[0]) continue;
                PGresult *r = PQexec(c, sql);
                assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
                PQclear(r);
            }
            assert_int_equal(pg_scalar(c,
                                       "CREATE TABLE msnd_schema(version INTEGER NOT NULL);"
                                       "INSERT INTO msnd_schema VALUES (3);"
                                       "INSERT INTO users(id, email, password, name, created) VALUES"
                                       " (1, 'a@x.com', 'pw', 'a', 0), (2, 'b@x.com', 'pw', 'b', 0);"
                                       "SELECT setval(pg_get_serial_sequence('users', 'id'), 2);"
                                       "INSERT INTO groups VALUES (1, 0, 'Other'), (2, 0, 'Other');"
                                       "INSERT INTO list_entries(owner, list, contact, name) VALUES (1, 0, 2, 'b');"
                                       "INSERT INTO fl_groups(owner, contact, gid) VALUES (1, 2, 0);"),
                             0);
        } else { /* back to version 3 as the docs say */
            assert_int_equal(pg_scalar(c,
                                       "DROP FUNCTION msnd_list_add; DROP FUNCTION msnd_list_remove;"
                                       "DROP FUNCTION msnd_change_open; DROP FUNCTION msnd_entry_bumps;"
                                       "DELETE FROM msnd_schema; INSERT INTO msnd_schema VALUES (3)"),
                             0);
        }
        PQfinish(c);
        char err[256];
        f->s = store_open(f->path, err, sizeof err);
        if (!f->s) fail_msg("round %d: %s", round, err);
        assert_int_equal(store_list_get(f->s, 1, MSNP_LIST_FL, 2), 1);
        store_list_result r;
        assert_int_equal(add(f->s, 1, MSNP_LIST_FL, 2, -1, NULL), STORE_EXISTS);
        assert_int_equal(add(f->s, 2, MSNP_LIST_AL, 1, -1, &r), STORE_OK);
        assert_int_equal(rem(f->s, 2, MSNP_LIST_AL, 1, -1, NULL), STORE_OK);
        assert_int_equal(rem(f->s, 1, MSNP_LIST_FL, 2, -1, &r), STORE_OK);
        assert_int_equal(r.entry_changed, 1);
        assert_int_equal(add(f->s, 1, MSNP_LIST_FL, 2, -1, NULL), STORE_OK);
        store_close(f->s);
        f->s = NULL;
        c = PQconnectdb(pg_url);
        assert_int_equal(pg_scalar(c, "SELECT max(version) FROM msnd_schema"), schema_version());
        assert_int_equal(pg_scalar(c, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'msnd\\_%'"), 8);
        PQfinish(c);
    }
    char err[256];
    f->s = store_open(f->path, err, sizeof err); /* for teardown */
    assert_non_null(f->s);
}

/* The schema version of the fixture's database, read past the store. */
static long schema_of(fixture *f) {
    if (pg_url) {
        PGconn *c = PQconnectdb(pg_url);
        long v = pg_scalar(c, "SELECT max(version) FROM msnd_schema");
        PQfinish(c);
        return v;
    }
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* `msnd db migrate` from a database of an older schema: the source was
 * upgraded in place without a word (a change the user did not ask for,
 * which an older msnd still using it cannot read). It is refused with how
 * to upgrade it, and left as it was; once upgraded, it is copied. */
static void test_migrate_leaves_an_older_source_as_it_is(void **state) {
    fixture *f = *state;
    int old = schema_version() - 1;
    if (pg_url) {
        store_close(f->s);
        f->s = NULL;
        assert_int_equal(pg_reset(), 0);
        PGconn *c = PQconnectdb(pg_url);
        for (int v = 0; v < old; v++)
            if (schema_migration(SCHEMA_POSTGRESQL, v)[0])
                assert_int_equal(pg_scalar(c, schema_migration(SCHEMA_POSTGRESQL, v)), 0);
        char mark[128];
        snprintf(mark, sizeof mark,
                 "CREATE TABLE msnd_schema(version INTEGER NOT NULL); INSERT INTO msnd_schema VALUES(%d)", old);
        assert_int_equal(pg_scalar(c, mark), 0);
        PQfinish(c);
    } else {
        sqlite3 *db = older_file(f, old);
        char set[64];
        snprintf(set, sizeof set, "PRAGMA user_version=%d;", old);
        assert_int_equal(sqlite3_exec(db, set, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    char to[600], err[512], want[1400];
    snprintf(to, sizeof to, "%s/to.db", f->dir);
    assert_int_equal(dbtool_migrate(f->path, to), 1);
    assert_int_equal(schema_of(f), old);
    assert_null(store_open_source(f->path, err, sizeof err));
    if (pg_url)
        snprintf(want, sizeof want,
                 "the database has schema version %d, older than this msnd's (%d): db migrate does not change its "
                 "source; upgrade it first with `msnd db init --db` and the same connection string",
                 old, old + 1);
    else
        snprintf(want, sizeof want,
                 "%s has schema version %d, older than this msnd's (%d): db migrate does not change its source; "
                 "upgrade it first with `msnd db init --db %s`",
                 f->path, old, old + 1, f->path);
    assert_string_equal(err, want);
    assert_int_equal(schema_of(f), old);
    assert_int_equal(access(to, F_OK), -1);      /* no target begun either */
    f->s = store_open(f->path, err, sizeof err); /* `msnd db init` */
    assert_non_null(f->s);
    assert_int_equal(dbtool_migrate(f->path, to), 0);
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[640];
        snprintf(p, sizeof p, "%s%s", to, suffix[i]);
        unlink(p);
    }
}

/* A login reads the accounts on the user's lists by key, whatever the
 * planner thinks of the tables: 2 000 accounts of 19 FL and 19 AL entries
 * each, analyzed, made a plain join hash the whole users table on every
 * login (twice). The server's own counters tell: the logins must add index
 * scans of users and no sequential scan. Nine logins: the prepared
 * statement's first five custom plans and then the generic one. */
static void test_login_read_by_key(void **state) {
    fixture *f = *state;
    if (!pg_url) skip(); /* PostgreSQL's planner */
    /* Every scan before the logins is this connection's: the schema too
     * (the store's would be counted whenever its connection reports). */
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(pg_reset(), 0);
    PGconn *c = PQconnectdb(pg_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    for (int v = 0; v < schema_version(); v++)
        if (schema_migration(SCHEMA_POSTGRESQL, v)[0])
            assert_int_equal(pg_scalar(c, schema_migration(SCHEMA_POSTGRESQL, v)), 0);
    char mark[96];
    snprintf(mark, sizeof mark,
             "CREATE TABLE msnd_schema(version INTEGER NOT NULL); INSERT INTO msnd_schema VALUES(%d)",
             schema_version());
    assert_int_equal(pg_scalar(c, mark), 0);
    /* pg_stat_force_next_flush: the counters of these scans are reported
     * before the answer, so the count below has them. */
    const char *fill =
        "INSERT INTO users(id, email, password, name, version, blp, gtc, created)"
        " SELECT i, 'u' || i || '@x.com', 'pw', 'n' || i, 1, 'AL', 'A', 0 FROM generate_series(1, 2000) i;"
        "INSERT INTO groups(owner, gid, name) SELECT id, 0, 'Other' FROM users;"
        "INSERT INTO list_entries(owner, list, contact, name)"
        " SELECT u.id, l, (u.id + k - 1) % 2000 + 1, 'c' FROM users u, generate_series(1, 19) k,"
        " generate_series(0, 1) l;"
        "INSERT INTO fl_groups(owner, contact, gid) SELECT owner, contact, 0 FROM list_entries WHERE list = 0;"
        "ANALYZE;"
        "SELECT pg_stat_force_next_flush()";
    assert_int_equal(pg_scalar(c, fill), 0);
    const char *scans = "SELECT seq_scan, idx_scan FROM pg_stat_user_tables WHERE relname = 'users'";
    PGresult *r = PQexec(c, scans);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    long seq0 = strtol(PQgetvalue(r, 0, 0), NULL, 10), idx0 = strtol(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    char err[256];
    f->s = store_open(f->path, err, sizeof err);
    assert_non_null(f->s);
    for (int i = 0; i < 9; i++) {
        char email[32];
        snprintf(email, sizeof email, "u%d@x.com", 100 + i * 7);
        store_user u;
        assert_int_equal(store_user_get_for_login(f->s, email, &u), STORE_OK);
        assert_string_equal(u.email, email);
        const store_sync *y = NULL;
        assert_int_equal(store_sync_get(f->s, u.id, &y), STORE_OK);
        assert_int_equal(y->count[MSNP_LIST_FL], 19);
        assert_int_equal(y->count[MSNP_LIST_RL], 19);
        store_sync_release(f->s, y);
    }
    /* An idle connection keeps its counters for up to ten seconds; one
     * that ends reports them: close the store, and wait for its index
     * scans (at least one per login) to show. */
    store_close(f->s);
    f->s = store_open(f->path, err, sizeof err);
    assert_non_null(f->s);
    long seq = -1, idx = -1;
    for (int i = 0; i < 100 && idx < idx0 + 9; i++) {
        if (i) usleep(50 * 1000);
        r = PQexec(c, scans); /* a transaction of its own: fresh counters */
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        seq = strtol(PQgetvalue(r, 0, 0), NULL, 10);
        idx = strtol(PQgetvalue(r, 0, 1), NULL, 10);
        PQclear(r);
    }
    PQfinish(c);
    assert_true(idx >= idx0 + 9);
    assert_int_equal(seq, seq0);
}

/* Logins on fibers (as msnd runs them) that ask at the same time share one
 * statement for up to eight accounts: eleven requests, among them one
 * account twice, an e-mail with characters that need quoting in an array
 * literal, and an unknown e-mail, go as two statements, and each request
 * gets its own account's rows. pg_stat_statements counts the statements
 * (pgtest loads it when PGTEST_STATEMENTS is set). */
typedef struct login_job {
    store *s;
    const char *email;
    store_rc rc;
    store_user u;
    int fl, done;
} login_job;

static void login_on_fiber(void *arg) {
    login_job *j = arg;
    j->rc = store_user_get_for_login(j->s, j->email, &j->u);
    if (j->rc == STORE_OK) {
        const store_sync *y = NULL;
        if (store_sync_get(j->s, j->u.id, &y) == STORE_OK) {
            j->fl = (int)y->count[MSNP_LIST_FL];
            store_sync_release(j->s, y);
        }
    }
}

static void login_done(void *arg) { ((login_job *)arg)->done = 1; }

static void test_login_reads_batched(void **state) {
    fixture *f = *state;
    if (!pg_url) skip(); /* SQLite reads in the process: nothing to batch */
    PGconn *c = PQconnectdb(pg_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    assert_int_equal(pg_scalar(c, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"), 0);
    const char *emails[10] = {"b0@x.com", "b1@x.com", "b2@x.com", "b3@x.com", "b4@x.com",
                              "b5@x.com", "b6@x.com", "b7@x.com", "b8@x.com", "q\"u{o}\\te,d@x.com"};
    int64_t ids[10];
    for (int i = 0; i < 10; i++) ids[i] = add_user(f->s, emails[i]);
    /* account i has i contacts on its FL (the next accounts, round) */
    for (int i = 0; i < 10; i++)
        for (int k = 1; k <= i; k++) {
            store_list_op op = {.owner = ids[i],
                                .list = MSNP_LIST_FL,
                                .contact = ids[(i + k) % 10],
                                .name = "n",
                                .gid = 0,
                                .limit = 100};
            store_list_result r;
            assert_int_equal(store_list_add(f->s, &op, &r), STORE_OK);
        }
    struct event_base *base = event_base_new();
    assert_non_null(base);
    /* a first login on its own: the store's LISTEN connection is made then
     * (the logins below would each wait for it at a different moment) */
    login_job first = {.s = f->s, .email = emails[8]};
    assert_int_equal(fiber_run(base, login_on_fiber, login_done, &first), 1);
    for (int pass = 0; pass < 2000 && !first.done; pass++) event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(first.rc, STORE_OK);
    assert_int_equal(first.fl, 8);
    assert_int_not_equal(pg_scalar(c, "SELECT pg_stat_statements_reset()"), -1);
    const char *asked[11] = {emails[0], emails[1], emails[2], emails[3], emails[9], "nobody@x.com",
                             emails[4], emails[3], emails[5], emails[6], emails[7]};
    login_job jobs[11];
    for (int i = 0; i < 11; i++) {
        jobs[i] = (login_job){.s = f->s, .email = asked[i]};
        assert_int_equal(fiber_run(base, login_on_fiber, login_done, &jobs[i]), 1); /* each waits */
    }
    for (int pass = 0; pass < 2000; pass++) {
        int left = 0;
        for (int i = 0; i < 11; i++) left += !jobs[i].done;
        if (!left) break;
        event_base_loop(base, EVLOOP_ONCE);
    }
    for (int i = 0; i < 11; i++) {
        assert_true(jobs[i].done);
        if (strcmp(asked[i], "nobody@x.com") == 0) {
            assert_int_equal(jobs[i].rc, STORE_NOTFOUND);
            continue;
        }
        assert_int_equal(jobs[i].rc, STORE_OK);
        assert_string_equal(jobs[i].u.email, asked[i]);
        assert_string_equal(jobs[i].u.password, "pw");
        int k = 0;
        while (strcmp(emails[k], asked[i]) != 0) k++;
        assert_int_equal(jobs[i].u.id, ids[k]);
        assert_int_equal(jobs[i].fl, k);
    }
    /* eight in the first statement, the three left over in a second */
    assert_int_equal(pg_scalar(c,
                               "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements"
                               " WHERE query LIKE '%me.id, x.*%ANY($1::text[])%'"),
                     2);
    assert_int_equal(pg_scalar(c, "SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%email = $1%'"), 0);
    event_base_free(base);
    PQfinish(c);
}

static void test_bad_files(void **state) {
    fixture *f = *state;
    if (pg_url) {
        /* Nothing listens there: a clear error, at once. */
        char err[256];
        assert_null(store_open("postgresql://postgres@127.0.0.1:1/x", err, sizeof err));
        assert_non_null(strstr(err, "cannot connect"));
        return;
    }
    char p[160], err[256];
    snprintf(p, sizeof p, "%s/garbage.db", f->dir);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs("this is not a database, just some text that is long enough to be a header....", fp);
    fclose(fp);
    store *s = store_open(p, err, sizeof err);
    assert_null(s);
    assert_true(strlen(err) > 0);
    unlink(p);
    assert_null(store_open("/nonexistent-dir/x.db", err, sizeof err));
}

int main(void) {
    pg_url = getenv("MSND_TEST_PG_URL");
    if (pg_url && !*pg_url) pg_url = NULL;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_users, setup, teardown),
        cmocka_unit_test_setup_teardown(test_users_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lists_and_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchers_and_contacts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_groups_and_props, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocking_hides_phones, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_scope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation_own_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation_first_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_racing_adds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_rules_match_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_change_is_one_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_cache_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_cache_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_snapshot_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation_per_account, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_changes_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gtc_elsewhere_names_its_account, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrates_v1_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrates_v2_covering_indexes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_by_several_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrates_v3_list_functions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_leaves_an_older_source_as_it_is, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_read_by_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_reads_batched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
