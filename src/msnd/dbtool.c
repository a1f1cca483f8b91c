/* dbtool.c - `msnd db init --db DB` creates or upgrades the schema (what
 * msnd does when it starts, without starting); `msnd db migrate --from DB
 * --to DB` copies every account, list, group, membership, property and
 * list version from one store into an empty one and compares the row
 * counts (store_copy). DB is a file, sqlite:PATH or postgresql://... */
#include "dbtool.h"

#include <stdio.h>
#include <string.h>

#include "store.h"

static void usage(FILE *f) {
    fputs("usage: msnd db init --db DB\n"
          "       msnd db migrate --from DB --to DB\n"
          "DB: a SQLite file (or sqlite:PATH) or postgresql://user@host:port/name\n",
          f);
}

/* --name VALUE or --name=VALUE at argv[*i]; advances *i. */
static const char *opt_value(int argc, char **argv, int *i, const char *name) {
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n] == '\0' && *i + 1 < argc) return argv[++*i];
    return NULL;
}

/* Asked for, the usage is the answer: on standard output, exit 0. */
static int is_help(const char *a) { return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0; }

int dbtool_main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    const char *db = NULL, *from = NULL, *to = NULL;
    for (int i = 2; i < argc; i++) {
        const char *v;
        if ((v = opt_value(argc, argv, &i, "--db"))) db = v;
        else if ((v = opt_value(argc, argv, &i, "--from"))) from = v;
        else if ((v = opt_value(argc, argv, &i, "--to"))) to = v;
        else if (is_help(argv[i])) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "msnd db: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    char err[512];
    if (strcmp(argv[1], "init") == 0) {
        if (!db) {
            usage(stderr);
            return 2;
        }
        store *s = store_open(db, err, sizeof err);
        if (!s) {
            fprintf(stderr, "msnd db: %s (check --db)\n", err);
            return 1;
        }
        printf("schema ready (%s)\n", store_backend_name(s));
        store_close(s);
        return 0;
    }
    if (strcmp(argv[1], "migrate") != 0 || !from || !to) {
        usage(stderr);
        return 2;
    }
    store *src = store_open(from, err, sizeof err);
    if (!src) {
        fprintf(stderr, "msnd db: source: %s\n", err);
        return 1;
    }
    store *dst = store_open(to, err, sizeof err);
    if (!dst) {
        fprintf(stderr, "msnd db: target: %s\n", err);
        store_close(src);
        return 1;
    }
    store_counts n;
    store_rc rc = store_copy(src, dst, &n, err, sizeof err);
    if (rc == STORE_OK)
        printf("copied and checked: users %ld, list entries %ld, groups %ld, group memberships %ld, properties %ld\n",
               n.users, n.entries, n.groups, n.memberships, n.props);
    else fprintf(stderr, "msnd db: migration failed, nothing copied: %s\n", err);
    store_close(dst);
    store_close(src);
    return rc == STORE_OK ? 0 : 1;
}
