/* The SQLite store on real files in a temporary directory. */
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

#include "store.h"

typedef struct fixture {
    char dir[64];
    char path[128];
    store *s;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/msnd-store-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    char err[256];
    f->s = store_open(f->path, err, sizeof err);
    if (!f->s) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    store_close(f->s);
    char p[160];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
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
    /* the file holds passwords: private */
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
}

static int count_cb(const store_entry *e, void *ctx) {
    (void)e;
    (*(int *)ctx)++;
    return 0;
}

static void test_lists_and_versions(void **state) {
    fixture *f = *state;
    int64_t a = add_user(f->s, "a@x.com"), b = add_user(f->s, "b@x.com");
    uint32_t va = 0, vb = 0, v;
    assert_int_equal(store_list_add(f->s, a, MSNP_LIST_FL, b, "B", "0", &va, &vb), STORE_OK);
    assert_int_equal(va, 2);
    assert_int_equal(vb, 2); /* b's RL changed */
    assert_int_equal(store_list_add(f->s, a, MSNP_LIST_FL, b, "B", "0", &v, NULL), STORE_EXISTS);
    assert_int_equal(store_list_get(f->s, a, MSNP_LIST_FL, b, NULL, 0), 1);
    assert_int_equal(store_list_get(f->s, b, MSNP_LIST_RL, a, NULL, 0), 1);
    assert_int_equal(store_list_count(f->s, b, MSNP_LIST_RL), 1);
    int n = 0;
    assert_int_equal(store_list_each(f->s, b, MSNP_LIST_RL, count_cb, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_list_add(f->s, a, MSNP_LIST_RL, b, "B", NULL, &v, NULL), STORE_ERROR);
    assert_int_equal(store_list_remove(f->s, a, MSNP_LIST_AL, b, &v, NULL), STORE_NOTFOUND);
    assert_int_equal(store_list_remove(f->s, a, MSNP_LIST_FL, b, &va, &vb), STORE_OK);
    assert_int_equal(va, 3);
    assert_int_equal(vb, 3);
    assert_int_equal(store_list_count(f->s, b, MSNP_LIST_RL), 0);
    /* deleting an account removes it from others' lists */
    assert_int_equal(store_list_add(f->s, a, MSNP_LIST_BL, b, "b", NULL, &v, NULL), STORE_OK);
    assert_int_equal(store_user_del(f->s, "b@x.com"), STORE_OK);
    assert_int_equal(store_list_count(f->s, a, MSNP_LIST_BL), 0);
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
    assert_int_equal(store_list_add(f->s, b, MSNP_LIST_FL, a, "a", NULL, &v, NULL), STORE_OK);
    assert_int_equal(store_list_add(f->s, a, MSNP_LIST_BL, b, "b", NULL, &v, NULL), STORE_OK);
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

static void test_groups_and_props(void **state) {
    fixture *f = *state;
    int64_t a = add_user(f->s, "a@x.com"), b = add_user(f->s, "b@x.com");
    uint32_t v;
    int gid;
    assert_int_equal(store_group_count(f->s, a), 1);
    assert_int_equal(store_group_add(f->s, a, "Friends", &gid, &v), STORE_OK);
    assert_int_equal(gid, 1);
    int sum = 0;
    assert_int_equal(store_group_each(f->s, a, group_cb, &sum), STORE_OK);
    assert_int_equal(sum, 100 + 101);
    assert_int_equal(store_list_add(f->s, a, MSNP_LIST_FL, b, "b", "1", &v, NULL), STORE_OK);
    assert_int_equal(store_group_del(f->s, a, gid, &v), STORE_OK);
    char groups[64];
    assert_int_equal(store_list_get(f->s, a, MSNP_LIST_FL, b, groups, sizeof groups), 1);
    assert_string_equal(groups, "0"); /* fell back to group 0 */
    assert_int_equal(store_group_del(f->s, a, gid, &v), STORE_NOTFOUND);
    assert_int_equal(store_prop_set(f->s, a, "PHH", "555", &v), STORE_OK);
    assert_int_equal(store_prop_set(f->s, a, "PHH", "556", &v), STORE_OK);
    assert_int_equal(store_prop_set(f->s, a, "PHW", NULL, &v), STORE_OK);
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
static void test_generation(void **state) {
    fixture *f = *state;
    int64_t a = add_user(f->s, "a@x.com");
    char err[256];
    store *admin = store_open(f->path, err, sizeof err);
    assert_non_null(admin);
    uint64_t g = store_generation(f->s);
    assert_true(store_generation(f->s) == g); /* nothing changed */
    store_user u;
    assert_int_equal(store_user_get(f->s, "a@x.com", &u), STORE_OK);
    assert_true(store_generation(f->s) == g); /* reads change nothing */
    uint32_t v;
    assert_int_equal(store_set_gtc(f->s, a, 0, &v), STORE_OK);
    uint64_t g2 = store_generation(f->s);
    assert_true(g2 != g); /* our own change */
    assert_int_equal(store_user_passwd(admin, "a@x.com", "other"), STORE_OK);
    uint64_t g3 = store_generation(f->s);
    assert_true(g3 != g2); /* another handle's commit */
    /* Inside a read scope: the scope's snapshot, so the same answer. */
    store_read_begin(f->s);
    uint64_t g4 = store_generation(f->s);
    assert_true(g4 == g3);
    assert_int_equal(store_user_passwd(admin, "a@x.com", "third"), STORE_OK);
    assert_true(store_generation(f->s) == g4);
    store_read_end(f->s);
    assert_true(store_generation(f->s) != g4);
    store_close(admin);
}

static void test_read_scope(void **state) {
    fixture *f = *state;
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

static void test_bad_files(void **state) {
    fixture *f = *state;
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
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_users, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lists_and_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchers_and_contacts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_groups_and_props, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_scope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
