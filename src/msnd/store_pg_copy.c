/* store_pg_copy.c - rows written to PostgreSQL with COPY.
 *
 * An INSERT per row is a round trip and a statement the server parses,
 * plans and runs: 20 000 accounts with 430 000 rows took 30 s and 21 s of
 * the server's CPU that way. COPY takes a whole chunk of a table's rows in
 * one statement (BENCHMARKS.md, "msnd db migrate"). Each table has a queue;
 * an FL entry's group memberships go to fl_groups in a chunk sent right
 * after its entries' (their foreign key names the entry).
 *
 * A refused row is still named: COPY's error context gives the line of
 * the chunk it failed at, and the writer keeps what each line of the
 * chunk is (kind, key, account) until the chunk is sent. */
#include "store_pg_copy.h"

#include "store_impl.h"

#include <msnkit/grow.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows per COPY: two round trips each, and the text of a chunk held
 * (about 100 bytes a row). */
#define CHUNK_ROWS 4096

/* The tables, in the order their chunks are sent: each row names only rows
 * of the tables before it (fl_groups, sent with list_entries, names groups
 * and entries). */
enum { T_USERS, T_GROUPS, T_ENTRIES, T_PROPS, T_COUNT };

typedef struct row_name {
    int64_t owner; /* 0: the row is an account */
    char kind[12]; /* "account", "group", "FL entry", ..., as store_copy says */
    char arg[MSNP_MAX_EMAIL + 1];
} row_name;

typedef struct text_buf {
    char *p;
    size_t len, cap;
} text_buf;

/* One table's rows waiting to be sent: their lines, and what each is. */
typedef struct table_queue {
    text_buf text;
    row_name *names;
    size_t n;
} table_queue;

struct pg_copy {
    PGconn *conn;
    int64_t created;
    /* A bulk load (msnbench's populate) gives each table a few rows at a
     * time, in turn: every table has a queue of its own, all sent when
     * one is full (in table order), not a chunk at every change of table. */
    table_queue q[T_COUNT];
    text_buf members;  /* fl_groups lines of the FL entries queued */
    size_t *member_of; /* each of them: the line of q[T_ENTRIES] whose entry it is */
    size_t nmembers, capmembers;
    char **keys; /* the foreign keys to make again (keys_off), NULL-terminated */
    int failed;
    char err[512];
    row_name refused; /* kind "" when the database named no line */
};

static const char *const copy_sql[T_COUNT] = {
    [T_USERS] = "COPY users(id, email, password, name, version, blp, gtc, created) FROM STDIN",
    [T_GROUPS] = "COPY groups(owner, gid, name) FROM STDIN",
    [T_ENTRIES] = "COPY list_entries(owner, list, contact, name) FROM STDIN",
    [T_PROPS] = "COPY props(owner, key, value) FROM STDIN",
};
static const char members_sql[] = "COPY fl_groups(owner, contact, gid) FROM STDIN";

/* The server's reason for r's failure, without the error's context (for
 * COPY that quotes the line, bytes the server refused included). */
static void server_reason(PGconn *c, const PGresult *r, char *err, size_t errcap) {
    const char *sev = r ? PQresultErrorField(r, PG_DIAG_SEVERITY) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;
    if (msg) snprintf(err, errcap, "%s:  %s%s%s", sev ? sev : "ERROR", msg, detail ? " " : "", detail ? detail : "");
    else snprintf(err, errcap, "%s", PQerrorMessage(c));
}

/* One statement that returns no rows; 0, or -1 with the reason in w->err. */
static int exec_ok(pg_copy *w, const char *sql) {
    PGresult *r = PQexec(w->conn, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) server_reason(w->conn, r, w->err, sizeof w->err);
    PQclear(r);
    return ok ? 0 : -1;
}

/* The foreign keys of the tables loaded are dropped for the load and made
 * again at its end (pg_copy_finish), in the same transaction: made again,
 * each is checked by one join over its table, where during a COPY every
 * row checks each of its keys with a query of its own (two of the three
 * seconds PostgreSQL spent on 350 000 list entries and memberships;
 * BENCHMARKS.md). Their definitions are read from the catalogue, so they
 * come back as they were, names included. */
static int keys_off(pg_copy *w) {
    PGresult *r = PQexec(w->conn,
                         "SELECT format('ALTER TABLE %I DROP CONSTRAINT %I', c.relname, k.conname),"
                         " format('ALTER TABLE %I ADD CONSTRAINT %I %s', c.relname, k.conname,"
                         " pg_get_constraintdef(k.oid)), pg_has_role(c.relowner, 'USAGE')"
                         " FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid WHERE k.contype = 'f'"
                         " AND k.conrelid = ANY ('{groups,list_entries,fl_groups,props}'::regclass[]) ORDER BY k.oid");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        server_reason(w->conn, r, w->err, sizeof w->err);
        PQclear(r);
        return -1;
    }
    int n = PQntuples(r), rc = 0;
    /* Only a table's owner may drop its keys: a role that was only given
     * the right to write (tables made by another) loads with the keys in
     * place, checked row by row. */
    for (int i = 0; i < n; i++)
        if (strcmp(PQgetvalue(r, i, 2), "t") != 0) n = 0;
    w->keys = calloc((size_t)n + 1, sizeof *w->keys);
    for (int i = 0; w->keys && i < n && rc == 0; i++) {
        if (!(w->keys[i] = strdup(PQgetvalue(r, i, 1)))) break;
        rc = exec_ok(w, PQgetvalue(r, i, 0));
    }
    if (!w->keys || (rc == 0 && n && !w->keys[n - 1])) {
        snprintf(w->err, sizeof w->err, "out of memory");
        rc = -1;
    }
    PQclear(r);
    return rc;
}

pg_copy *pg_copy_new(PGconn *c, int64_t created, char *err, size_t errcap) {
    pg_copy *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    w->conn = c;
    w->created = created;
    for (int t = 0; t < T_COUNT; t++)
        if (!(w->q[t].names = malloc(CHUNK_ROWS * sizeof *w->q[t].names))) {
            snprintf(w->err, sizeof w->err, "out of memory");
            break;
        }
    if (!w->q[T_COUNT - 1].names || keys_off(w) != 0) {
        snprintf(err, errcap, "%s", w->err);
        pg_copy_free(w);
        return NULL;
    }
    return w;
}

int pg_copy_finish(pg_copy *w) {
    if (pg_copy_flush(w) != 0) return -1;
    for (char **k = w->keys; k && *k; k++)
        if (exec_ok(w, *k) != 0) {
            w->failed = 1;
            w->refused.kind[0] = '\0';
            return -1;
        }
    return 0;
}

void pg_copy_free(pg_copy *w) {
    if (!w) return;
    for (int t = 0; t < T_COUNT; t++) {
        free(w->q[t].text.p);
        free(w->q[t].names);
    }
    free(w->members.p);
    free(w->member_of);
    for (char **k = w->keys; k && *k; k++) free(*k);
    free(w->keys);
    free(w);
}

static int reserve(text_buf *b, size_t more) {
    char *p = msnkit_grow(b->p, &b->cap, b->len + more, 1, 64 * 1024);
    if (!p) return -1;
    b->p = p;
    return 0;
}

/* A text column of COPY's text format: backslash, tab, line feed and
 * carriage return escaped; every other byte as it is (the server checks
 * the encoding). Then the separator, a tab or the line's end. */
static int put_text(text_buf *b, const char *s, char end) {
    size_t n = strlen(s);
    if (reserve(b, 2 * n + 1) != 0) return -1;
    char *o = b->p + b->len;
    for (const char *c = s; *c; c++) {
        switch (*c) {
        case '\\': *o++ = '\\', *o++ = '\\'; break;
        case '\t': *o++ = '\\', *o++ = 't'; break;
        case '\n': *o++ = '\\', *o++ = 'n'; break;
        case '\r': *o++ = '\\', *o++ = 'r'; break;
        default: *o++ = *c;
        }
    }
    *o++ = end;
    b->len = (size_t)(o - b->p);
    return 0;
}

static int put_int(text_buf *b, int64_t v, char end) {
    if (reserve(b, 24) != 0) return -1;
    b->len += (size_t)snprintf(b->p + b->len, 24, "%lld%c", (long long)v, end);
    return 0;
}

static int fail(pg_copy *w, const char *why) {
    snprintf(w->err, sizeof w->err, "%s", why);
    w->refused.kind[0] = '\0';
    w->failed = 1;
    return -1;
}

/* The line of the chunk a COPY error's context names ("COPY users, line
 * 3, column email: ..."), 1-based; 0 when it names none. */
static size_t failed_line(const PGresult *r) {
    const char *ctx = r ? PQresultErrorField(r, PG_DIAG_CONTEXT) : NULL;
    const char *at = ctx ? strstr(ctx, "COPY ") : NULL;
    at = at ? strstr(at, ", line ") : NULL;
    if (!at) return 0;
    char *end;
    unsigned long line = strtoul(at + 7, &end, 10);
    return end != at + 7 ? (size_t)line : 0;
}

/* One COPY of a buffer's lines. 0 when the server took them all; else
 * -1, with the server's reason in w->err and the line it names in *line
 * (0: none). */
static int copy_chunk(pg_copy *w, const char *sql, const text_buf *b, size_t *line) {
    *line = 0;
    PGresult *r = PQexec(w->conn, sql);
    int ok = PQresultStatus(r) == PGRES_COPY_IN;
    if (ok) {
        PQclear(r);
        ok = PQputCopyData(w->conn, b->p, (int)b->len) == 1 && PQputCopyEnd(w->conn, NULL) == 1;
        r = ok ? PQgetResult(w->conn) : NULL;
        ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
    }
    if (!ok) {
        server_reason(w->conn, r, w->err, sizeof w->err);
        *line = failed_line(r);
    }
    PQclear(r);
    while ((r = PQgetResult(w->conn))) PQclear(r); /* the connection idle (or in its failed transaction) */
    return ok ? 0 : -1;
}

/* Sends table t's queue (and with the entries their memberships). */
static int flush_table(pg_copy *w, int t) {
    table_queue *q = &w->q[t];
    if (!q->n) return 0;
    size_t line;
    int rc = copy_chunk(w, copy_sql[t], &q->text, &line);
    if (rc == 0 && t == T_ENTRIES && w->nmembers) {
        rc = copy_chunk(w, members_sql, &w->members, &line);
        line = line && line <= w->nmembers ? w->member_of[line - 1] + 1 : 0;
    }
    if (rc != 0) {
        w->failed = 1;
        if (line && line <= q->n) w->refused = q->names[line - 1];
        else w->refused.kind[0] = '\0';
    }
    q->text.len = 0;
    q->n = 0;
    if (t == T_ENTRIES) w->members.len = w->nmembers = 0;
    return rc;
}

int pg_copy_flush(pg_copy *w) {
    for (int t = 0; t < T_COUNT && !w->failed; t++) flush_table(w, t);
    return w->failed ? -1 : 0;
}

/* Room for a row of table t (every queue is sent first when t's is full).
 * Returns its name slot, filled in; NULL on failure. */
static row_name *next_row(pg_copy *w, int t, int64_t owner, const char *kind, const char *arg) {
    if (w->failed) return NULL;
    if (w->q[t].n == CHUNK_ROWS && pg_copy_flush(w) != 0) return NULL;
    row_name *n = &w->q[t].names[w->q[t].n];
    n->owner = owner;
    snprintf(n->kind, sizeof n->kind, "%s", kind);
    snprintf(n->arg, sizeof n->arg, "%s", arg);
    return n;
}

/* The row's line is complete: counted; a line cut short (out of memory)
 * is dropped and the copy fails. */
static int row_done(pg_copy *w, int t, size_t start, int put) {
    if (put != 0) {
        w->q[t].text.len = start;
        return fail(w, "out of memory");
    }
    w->q[t].n++;
    return 0;
}

int pg_copy_user(pg_copy *w, const store_user *u) {
    if (!next_row(w, T_USERS, 0, "account", u->email)) return -1;
    text_buf *b = &w->q[T_USERS].text;
    size_t start = b->len;
    int put = put_int(b, u->id, '\t') | put_text(b, u->email, '\t') | put_text(b, u->password, '\t') |
        put_text(b, u->name, '\t') | put_int(b, u->version, '\t') | put_text(b, u->blp_allow ? "AL" : "BL", '\t') |
        put_text(b, u->gtc_prompt ? "A" : "N", '\t') | put_int(b, w->created, '\n');
    return row_done(w, T_USERS, start, put);
}

int pg_copy_group(pg_copy *w, int64_t owner, int gid, const char *name) {
    char id[16];
    snprintf(id, sizeof id, "%d", gid); /* not the name: the target may refuse it for its bytes */
    if (!next_row(w, T_GROUPS, owner, "group", id)) return -1;
    text_buf *b = &w->q[T_GROUPS].text;
    size_t start = b->len;
    int put = put_int(b, owner, '\t') | put_int(b, gid, '\t') | put_text(b, name, '\n');
    return row_done(w, T_GROUPS, start, put);
}

int pg_copy_entry(pg_copy *w, int64_t owner, msnp_list list, const store_entry *e) {
    const char *kind = store_entry_kind(list);
    if (!next_row(w, T_ENTRIES, owner, kind, e->email)) return -1;
    text_buf *b = &w->q[T_ENTRIES].text;
    size_t start = b->len;
    int put = put_int(b, owner, '\t') | put_int(b, (int)list, '\t') | put_int(b, e->contact, '\t') |
        put_text(b, e->name, '\n');
    if (put == 0 && list == MSNP_LIST_FL && e->ngroups) {
        size_t *of = msnkit_grow(w->member_of, &w->capmembers, w->nmembers + e->ngroups, sizeof *of, 1024);
        if (!of) put = -1;
        else w->member_of = of;
        size_t mstart = w->members.len;
        for (size_t i = 0; put == 0 && i < e->ngroups; i++) {
            put = put_int(&w->members, owner, '\t') | put_int(&w->members, e->contact, '\t') |
                put_int(&w->members, e->groups[i], '\n');
            w->member_of[w->nmembers + i] = w->q[T_ENTRIES].n;
        }
        if (put == 0) w->nmembers += e->ngroups;
        else w->members.len = mstart;
    }
    return row_done(w, T_ENTRIES, start, put);
}

int pg_copy_prop(pg_copy *w, int64_t owner, const char *key, const char *value) {
    if (!next_row(w, T_PROPS, owner, "property", key)) return -1;
    text_buf *b = &w->q[T_PROPS].text;
    size_t start = b->len;
    int put = put_int(b, owner, '\t') | put_text(b, key, '\t') | put_text(b, value, '\n');
    return row_done(w, T_PROPS, start, put);
}

void pg_copy_refused(const pg_copy *w, char *err, size_t errcap, char *what, size_t whatcap, int64_t *owner) {
    snprintf(err, errcap, "%s", w->err);
    if (w->refused.kind[0]) snprintf(what, whatcap, "%s %s", w->refused.kind, w->refused.arg);
    else if (whatcap) what[0] = '\0';
    *owner = w->refused.kind[0] ? w->refused.owner : 0;
}
