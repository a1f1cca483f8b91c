/* dbtool.c - `msnd db init --db DB` creates or upgrades the schema (what
 * msnd does when it starts, without starting); `msnd db migrate --from DB
 * --to DB` copies every account, list, group, membership, property and
 * list version from one store into an empty one and compares the row
 * counts (store_copy), saying how far it is on a terminal. The source is
 * read as it is: one of an older schema is refused, not upgraded in place
 * (db init does that, when asked). DB is a file, sqlite:PATH or
 * postgresql://... */
#include "dbtool.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

void dbtool_usage(FILE *f) {
    fputs("usage: msnd db init --db DB\n"
          "       msnd db migrate --from DB --to DB\n"
          "DB: a SQLite file (or sqlite:PATH) or postgresql://user@host:port/name\n"
          "--config FILE reads --db from an INI file; options may come before or after\n"
          "the subcommand.\n",
          f);
}

int dbtool_init(const char *db) {
    char err[512];
    store *s = store_open(db, err, sizeof err);
    if (!s) {
        fprintf(stderr, "msnd db: %s (check --db)\n", err);
        return 1;
    }
    printf("schema ready (%s)\n", store_backend_name(s));
    store_close(s);
    return 0;
}

/* A source that is an SQLite file must be a database already: opening
 * would make a missing or empty file into a new, empty store, and a typo
 * in --from would "copy" nothing and leave that file behind. */
static int source_is_no_file(const char *from) {
    const char *file = store_sqlite_file(from);
    if (!file) return 0;
    struct stat st;
    if (stat(file, &st) != 0) {
        fprintf(stderr, "msnd db: source: %s: %s (check --from)\n", file, strerror(errno));
        return 1;
    }
    if (S_ISREG(st.st_mode) && st.st_size == 0) {
        fprintf(stderr, "msnd db: source: %s is empty, not a database (check --from)\n", file);
        return 1;
    }
    return 0;
}

/* On a terminal, a line that says how far the copy is, rewritten at most
 * twice a second (a store of a million accounts takes minutes); nothing
 * where stderr is a file or a pipe. */
typedef struct progress_line {
    struct timespec last;
    int shown;
} progress_line;

static void show_progress(const store_counts *done, const store_counts *total, void *ctx) {
    progress_line *p = ctx;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (p->shown && (now.tv_sec - p->last.tv_sec) * 1000 + (now.tv_nsec - p->last.tv_nsec) / 1000000 < 500) return;
    p->last = now;
    p->shown = 1;
    long rows = done->users + done->groups + done->entries + done->props;
    long all = total->users + total->groups + total->entries + total->props;
    fprintf(stderr, "\rmsnd db: copying: %ld of %ld accounts, %ld of %ld list entries (%ld %%)\033[K", done->users,
            total->users, done->entries, total->entries, all > 0 ? rows * 100 / all : 100);
    fflush(stderr);
}

int dbtool_migrate(const char *from, const char *to) {
    char err[512];
    if (source_is_no_file(from)) return 1;
    store *src = store_open_source(from, err, sizeof err);
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
    progress_line line = {.shown = 0};
    int tty = isatty(STDERR_FILENO);
    store_rc rc = store_copy(src, dst, &n, tty ? show_progress : NULL, &line, err, sizeof err);
    if (line.shown) fputs("\r\033[K", stderr); /* the line goes: what follows says how it ended */
    if (rc == STORE_OK)
        printf("copied and checked: users %ld, list entries %ld, groups %ld, group memberships %ld, properties %ld\n",
               n.users, n.entries, n.groups, n.memberships, n.props);
    else fprintf(stderr, "msnd db: migration failed, nothing copied: %s\n", err);
    store_close(dst);
    store_close(src);
    return rc == STORE_OK ? 0 : 1;
}
