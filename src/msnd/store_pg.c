/* PostgreSQL backend of store.h (libpq).
 *
 * Waiting without blocking: a store call made on a fiber (fiber.h; msnd
 * runs every client command on one) sends its statements with libpq's
 * asynchronous API and parks the fiber until the socket has the answer, so
 * the event loop serves everyone else meanwhile and a slow database delays
 * only the requests that need it. Such calls lease one of POOL_LINKS
 * connections for the whole operation (a transaction cannot share its
 * connection); when all are leased the call waits its turn. Calls from the
 * loop's own stack (admin commands, unit tests, the rare server paths not
 * on a fiber) use one more connection in the ordinary blocking way. A
 * statement that gets no answer within QUERY_TIMEOUT_MS fails and its
 * connection is dropped.
 *
 * Atomic changes: every change is one transaction that first locks the
 * users rows it will bump (SELECT ... FOR UPDATE, in id order so two
 * transactions never wait on each other in a cycle): the checks that
 * follow see no other node's change to those lists until COMMIT, which is
 * what makes ADD/REM atomic across nodes (store.h). A transaction that
 * PostgreSQL still aborts as a deadlock or serialization failure is run
 * again, a few times.
 *
 * Reads run one statement each (a read scope opens no transaction here: a
 * snapshot held across event-loop passes would pin a connection; it only
 * bounds how often notifications are drained, pg_read_begin).
 *
 * Other nodes' changes: the schema (schema.c) has a trigger on every table
 * that sends a notification on channel msnd_store; one more connection
 * LISTENs, and store_generation drains what has arrived without waiting.
 *
 * A lost server: a failed call drops its connection and returns
 * STORE_ERROR at once; a connection is tried again at most once per
 * RECONNECT_MS, so while the database is down requests get their error
 * straight away instead of hanging, and msnd reconnects by itself. */
#include <errno.h>
#include <libpq-fe.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msnkit/fiber.h>
#include "log.h"
#include "msnkit/text.h"
#include "schema.h"
#include "store_impl.h"
#include "store_pg_copy.h"

#define RECONNECT_MS 1000
#define TXN_ATTEMPTS 4
#define POOL_LINKS 8
#define QUERY_TIMEOUT_MS 5000
#define CONNECT_TIMEOUT_MS 3000
/* Serializes schema migrations of nodes starting at the same time. */
#define SCHEMA_LOCK_KEY "77530014"

#define PREPARED_MAX 64

typedef struct pg_link {
    PGconn *conn;
    /* Statements prepared on this connection, by the address of their
     * text (every statement is a string constant); name "m<index>". */
    const char *prepared[PREPARED_MAX];
    int nprepared;
    uint64_t next_connect_ms; /* no connection attempt before this */
    int leased;
    int async;             /* connected for fibers: non-blocking sends */
    int connecting;        /* a fiber is parked in connect_db for this link */
    int64_t change_ids[2]; /* the users rows the change leasing it locked (pg_change_begin) */
} pg_link;

typedef struct pg_store {
    struct store base;
    char *conninfo;
    pg_link *cur; /* the link of the operation running now */
    pg_link sync; /* for callers on the loop's own stack */
    pg_link pool[POOL_LINKS];
    pg_link listen;      /* LISTEN msnd_store */
    int listening;       /* its LISTEN answered: every later commit is notified */
    fiber *waiters[256]; /* fibers waiting for a pool link, FIFO */
    size_t nwaiters;
    changemarks marks;         /* the generation (marks.now), and the accounts each change named */
    int in_scope, gen_drained; /* pg_read_begin: notifications drained in this scope */
    struct event_base *loop;   /* store_use_loop: notifications drained as they come */
    struct event *listen_ev;
    int listen_ev_fd;
    char sqlstate[6]; /* of the last failed statement */
    /* login reads waiting to go in one statement (login_batch_run) */
    struct login_req *batch_head, *batch_tail;
    int batch_led;       /* one of them leads the batch */
    int batches_running; /* login batches taken and not yet answered */
    fiber *batch_held;   /* the next batch's leader, waiting for one of them to end */
    pg_copy *copy;       /* the rows of an import (store_load_*, store_copy) */
} pg_store;

#define S(s) ((pg_store *)(s))

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A change that may have touched any account (or that cannot be told). */
static void changed_all(pg_store *s) { changemarks_all(&s->marks); }

/* A message fit to be one quoted logfmt value: libpq's span lines and
 * quote names ("127.0.0.1", "users_email_key"); a log line must do neither.
 * Double quotes become single ones, line breaks and tabs spaces. */
static void one_value(char *text) {
    for (char *p = text; *p; p++)
        if (*p == '\n' || *p == '\t' || *p == '\r') *p = ' ';
        else if (*p == '"') *p = '\'';
    size_t n = strlen(text);
    while (n && text[n - 1] == ' ') text[--n] = '\0';
}

static void set_err(pg_store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(pg_store *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->base.err, sizeof s->base.err, fmt, ap);
    va_end(ap);
    one_value(s->base.err);
}

static void link_drop(pg_link *l) {
    if (l->conn) PQfinish(l->conn);
    l->conn = NULL;
    l->nprepared = 0;
    l->next_connect_ms = now_ms() + RECONNECT_MS;
}

static void drop_conn(pg_store *s) { link_drop(s->cur); }

static void connect_failed(PGconn *c, const char *why, char *err, size_t errcap) {
    snprintf(err, errcap, "cannot connect to the database: %s", why ? why : c ? PQerrorMessage(c) : "out of memory");
    one_value(err);
    PQfinish(c);
}

/* What the server says beside a result goes to msnd's log instead of
 * libpq's default, a raw "NOTICE: ..." line on stderr between the logfmt
 * lines. Connections ask for warnings and errors only
 * (client_min_messages): a NOTICE such as "relation msnd_schema already
 * exists, skipping" at every start is not worth a line. */
static void on_notice(void *arg, const PGresult *r) {
    (void)arg;
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    char text[512];
    snprintf(text, sizeof text, "%s", msg ? msg : "");
    for (char *p = text; *p; p++) /* one logfmt value */
        if (*p == '"') *p = '\'';
        else if (*p == '\n' || *p == '\r') *p = ' ';
    LOGW("database says", "severity=%s message=\"%s\"", sev ? sev : "?", text);
}

static PGconn *connected(PGconn *c) {
    PQsetNoticeReceiver(c, on_notice, NULL);
    return c;
}

/* Connects: blocking on the loop's own stack, parking the fiber on one.
 * The caller decides when an attempt may be made. */
static PGconn *connect_db(const char *conninfo, char *err, size_t errcap) {
    /* Defaults first: the connection string given by the operator comes
     * after them and wins (expand_dbname). */
    const char *const keys[] = {"connect_timeout",  "keepalives_idle",  "keepalives_interval",
                                "keepalives_count", "tcp_user_timeout", "application_name",
                                "options",          "dbname",           NULL};
    /* Every statement is prepared once per connection and runs with its
     * generic plan. PostgreSQL's own choice keeps planning the batched
     * login read anew for each execution (its `= ANY($1)` makes a custom
     * plan look cheaper), which costs more than running it
     * (BENCHMARKS.md); the other statements get their generic plan either
     * way. */
    const char *const vals[] = {"3",
                                "10",
                                "3",
                                "3",
                                "10000",
                                "msnd",
                                "-c plan_cache_mode=force_generic_plan -c client_min_messages=warning",
                                conninfo,
                                NULL};
    if (!fiber_current()) {
        PGconn *c = PQconnectdbParams(keys, vals, 1);
        if (!c || PQstatus(c) != CONNECTION_OK) {
            connect_failed(c, NULL, err, errcap);
            return NULL;
        }
        return connected(c);
    }
    PGconn *c = PQconnectStartParams(keys, vals, 1);
    if (!c || PQstatus(c) == CONNECTION_BAD) {
        connect_failed(c, NULL, err, errcap);
        return NULL;
    }
    uint64_t deadline = now_ms() + CONNECT_TIMEOUT_MS;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED) {
            connect_failed(c, NULL, err, errcap);
            return NULL;
        }
        uint64_t now = now_ms();
        if (now >= deadline) {
            connect_failed(c, "timeout", err, errcap);
            return NULL;
        }
        short got =
            fiber_wait_fd(PQsocket(c), st == PGRES_POLLING_READING ? EV_READ : EV_WRITE, (long)(deadline - now));
        if (got & EV_TIMEOUT) {
            connect_failed(c, "timeout", err, errcap);
            return NULL;
        }
        st = PQconnectPoll(c);
    }
    if (PQsetnonblocking(c, 1) != 0) {
        connect_failed(c, NULL, err, errcap);
        return NULL;
    }
    return connected(c);
}

/* The result of what was sent on the current link, parking the fiber
 * until it is complete (deadline: QUERY_TIMEOUT_MS from now). NULL when no
 * complete answer came: the connection is then dropped. */
static PGresult *await_result(pg_store *s) {
    pg_link *l = s->cur;
    int fd = PQsocket(l->conn);
    uint64_t deadline = now_ms() + QUERY_TIMEOUT_MS;
    int f;
    while ((f = PQflush(l->conn)) == 1) {
        uint64_t now = now_ms();
        short got = now < deadline ? fiber_wait_fd(fd, EV_READ | EV_WRITE, (long)(deadline - now)) : EV_TIMEOUT;
        s->cur = l; /* other fibers ran meanwhile */
        if ((got & EV_TIMEOUT) || ((got & EV_READ) && !PQconsumeInput(l->conn))) break;
    }
    PGresult *keep = NULL;
    if (f == 0) {
        for (;;) {
            int lost = 0;
            while (PQisBusy(l->conn)) {
                uint64_t now = now_ms();
                short got = now < deadline ? fiber_wait_fd(fd, EV_READ, (long)(deadline - now)) : EV_TIMEOUT;
                s->cur = l;
                if ((got & EV_TIMEOUT) || !PQconsumeInput(l->conn)) {
                    lost = 1;
                    break;
                }
            }
            if (lost) break;
            PGresult *r = PQgetResult(l->conn);
            if (!r) return keep;
            /* One statement, one result; keep the first (or an error). */
            if (!keep) keep = r;
            else PQclear(r);
        }
    }
    /* No complete answer: this connection is of no further use. */
    PQclear(keep);
    set_err(s, "no answer from the database within %d ms: %s", QUERY_TIMEOUT_MS, PQerrorMessage(l->conn));
    PQfinish(l->conn);
    l->conn = NULL;
    l->nprepared = 0;
    l->next_connect_ms = now_ms() + RECONNECT_MS;
    return NULL;
}

/* The index of sql's prepared statement on the current link, preparing it
 * on first use; -1 when it cannot be (then it runs unprepared). Preparing
 * once per connection spares the server parsing and planning the same
 * text for every request. */
static int prepared(pg_store *s, const char *sql, int n) {
    pg_link *l = s->cur;
    for (int i = 0; i < l->nprepared; i++)
        if (l->prepared[i] == sql) return i;
    if (l->nprepared == PREPARED_MAX) return -1;
    char name[16];
    snprintf(name, sizeof name, "m%d", l->nprepared);
    PGresult *r;
    if (!l->async) {
        r = PQprepare(l->conn, name, sql, n, NULL);
    } else {
        if (!PQsendPrepare(l->conn, name, sql, n, NULL)) return -1;
        r = await_result(s);
        if (!s->cur->conn) return -2; /* lost */
    }
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) return -1;
    l->prepared[l->nprepared] = sql;
    return l->nprepared++;
}

/* One statement on the current link: blocking on the loop's stack, sent
 * and awaited with the fiber parked on one. NULL with the connection's
 * error when no result came (lost connection, timeout). */
static PGresult *exec_params(pg_store *s, const char *sql, int n, const char *const *params) {
    pg_link *l = s->cur;
    int k = n > 0 ? prepared(s, sql, n) : -1;
    if (k == -2 || !l->conn) return NULL;
    char name[16];
    snprintf(name, sizeof name, "m%d", k);
    if (!l->async) {
        if (k >= 0) return PQexecPrepared(l->conn, name, n, params, NULL, NULL, 0);
        return PQexecParams(l->conn, sql, n, NULL, params, NULL, NULL, 0);
    }
    int sent = k >= 0 ? PQsendQueryPrepared(l->conn, name, n, params, NULL, NULL, 0)
                      : PQsendQueryParams(l->conn, sql, n, NULL, params, NULL, NULL, 0);
    if (!sent) return NULL;
    return await_result(s);
}

/* Run one statement with text parameters. Returns the result (tuples or
 * command ok), or NULL with the error noted and a broken connection
 * dropped. */
static PGresult *run(pg_store *s, const char *sql, int n, const char *const *params) {
    s->sqlstate[0] = '\0';
    if (!s->cur->conn) {
        set_err(s, "database unavailable (reconnecting)");
        return NULL;
    }
    PGresult *r = exec_params(s, sql, n, params);
    if (!s->cur->conn) return NULL; /* exec_params gave up on it */
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) return r;
    const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(s->sqlstate, sizeof s->sqlstate, "%s", code ? code : "");
    set_err(s, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(s->cur->conn));
    PQclear(r);
    if (PQstatus(s->cur->conn) != CONNECTION_OK) drop_conn(s);
    return NULL;
}

static int run_ok(pg_store *s, const char *sql, int n, const char *const *params) {
    PGresult *r = run(s, sql, n, params);
    PQclear(r);
    return r ? 0 : -1;
}

/* Brings a missing connection back (at most once per RECONNECT_MS).
 * Returns 0 when there is a connection to use. */
static int ensure_conn(pg_store *s) {
    pg_link *l = s->cur;
    if (l->conn && PQstatus(l->conn) == CONNECTION_OK) {
        /* An idle connection the server has closed (a restart) has its
         * goodbye (FATAL, then end of stream) waiting in the socket, and
         * nothing else arrives unasked on a connection that does not
         * LISTEN: look without reading, and connect again at once instead
         * of failing this request. */
        char peek;
        ssize_t n = recv(PQsocket(l->conn), &peek, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
        PQfinish(l->conn);
        l->conn = NULL;
        l->nprepared = 0;
        l->next_connect_ms = 0;
    }
    if (l->conn) link_drop(l);
    if (now_ms() < l->next_connect_ms) {
        set_err(s, "database unavailable (reconnecting)");
        return -1;
    }
    char err[256];
    l->async = fiber_current() != NULL;
    PGconn *c = connect_db(s->conninfo, err, sizeof err);
    s->cur = l; /* a fiber may have waited */
    if (!c) {
        l->next_connect_ms = now_ms() + RECONNECT_MS;
        set_err(s, "%s", err);
        return -1;
    }
    l->conn = c;
    l->nprepared = 0;
    /* What changed while this link was away was not seen through it. */
    changed_all(s);
    return 0;
}

static const char *i64(char *buf, int64_t v) {
    snprintf(buf, 24, "%lld", (long long)v);
    return buf;
}

/* ---- transactions ---- */

static int begin(pg_store *s) {
    if (ensure_conn(s) != 0) return -1;
    return run_ok(s, "BEGIN", 0, NULL);
}

static store_rc rollback(pg_store *s, store_rc rc) {
    if (s->cur->conn && PQtransactionStatus(s->cur->conn) != PQTRANS_IDLE) {
        char keep[sizeof s->base.err], state[sizeof s->sqlstate];
        memcpy(keep, s->base.err, sizeof keep);
        memcpy(state, s->sqlstate, sizeof state);
        run_ok(s, "ROLLBACK", 0, NULL);
        memcpy(s->base.err, keep, sizeof keep);
        memcpy(s->sqlstate, state, sizeof state);
    }
    return rc;
}

static store_rc commit(pg_store *s) {
    if (run_ok(s, "COMMIT", 0, NULL) != 0) return rollback(s, STORE_ERROR);
    changed_all(s);
    return STORE_OK;
}

/* The commit of a change that wrote rows of accounts a and b only (an id
 * below 1: none): their generations move, nobody else's. */
static store_rc commit_of(pg_store *s, int64_t a, int64_t b) {
    if (run_ok(s, "COMMIT", 0, NULL) != 0) return rollback(s, STORE_ERROR);
    changemarks_ids(&s->marks, a, b);
    return STORE_OK;
}

/* Deadlock or serialization failure: the whole transaction may run again. */
static int retryable(const pg_store *s) {
    return strcmp(s->sqlstate, "40P01") == 0 || strcmp(s->sqlstate, "40001") == 0;
}

#define RETRY(s, call) \
    do { \
        store_rc rc_; \
        for (int a_ = 0;; a_++) { \
            rc_ = (call); \
            if (rc_ != STORE_ERROR || !retryable(s) || a_ + 1 >= TXN_ATTEMPTS) break; \
        } \
        return rc_; \
    } while (0)

/* Lock the users rows a change will bump, in id order. */
static int lock_users(pg_store *s, int64_t a, int64_t b) {
    char arr[64];
    snprintf(arr, sizeof arr, "{%lld,%lld}", (long long)a, (long long)b);
    const char *p[1] = {arr};
    return run_ok(s, "SELECT id FROM users WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE", 1, p);
}

static int bump(pg_store *s, int64_t uid, uint32_t *ver) {
    char b[24];
    const char *p[1] = {i64(b, uid)};
    PGresult *r = run(s, "UPDATE users SET version = version + 1 WHERE id = $1 RETURNING version", 1, p);
    if (!r) return -1;
    int ok = PQntuples(r) == 1;
    if (ok && ver) *ver = (uint32_t)strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (!ok) set_err(s, "no account %lld", (long long)uid);
    return ok ? 0 : -1;
}

/* A count / existence query: the first column of the first row, 0 when
 * there is none, -1 on error. */
static long scalar(pg_store *s, const char *sql, int n, const char *const *params) {
    PGresult *r = run(s, sql, n, params);
    if (!r) return -1;
    long v = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return v;
}

/* ---- handle ---- */

static const store_ops pg_ops;

static void pg_close(store *base) {
    pg_store *s = S(base);
    if (s->listen_ev) event_free(s->listen_ev);
    if (s->sync.conn) PQfinish(s->sync.conn);
    if (s->listen.conn) PQfinish(s->listen.conn);
    for (int i = 0; i < POOL_LINKS; i++)
        if (s->pool[i].conn) PQfinish(s->pool[i].conn);
    changemarks_free(&s->marks);
    pg_copy_free(s->copy);
    free(s->conninfo);
    free(s);
}

/* The link an operation uses from now until lease_end. */
static int lease(pg_store *s) {
    if (!fiber_current()) {
        s->cur = &s->sync;
        return 0;
    }
    for (;;) {
        /* A connected idle link first, then one that may connect. */
        pg_link *pick = NULL;
        for (int i = 0; i < POOL_LINKS && !pick; i++)
            if (!s->pool[i].leased && s->pool[i].conn) pick = &s->pool[i];
        for (int i = 0; i < POOL_LINKS && !pick; i++)
            if (!s->pool[i].leased) pick = &s->pool[i];
        if (pick) {
            pick->leased = 1;
            s->cur = pick;
            return 0;
        }
        if (s->nwaiters == sizeof s->waiters / sizeof s->waiters[0]) {
            set_err(s, "too many requests waiting for the database");
            return -1;
        }
        s->waiters[s->nwaiters++] = fiber_current();
        fiber_park();
    }
}

static void lease_end(pg_store *s, pg_link *l) {
    if (l == &s->sync) return;
    l->leased = 0;
    if (s->nwaiters > 0) {
        fiber *next = s->waiters[0];
        memmove(s->waiters, s->waiters + 1, (s->nwaiters - 1) * sizeof s->waiters[0]);
        s->nwaiters--;
        fiber_wake(next);
    }
}

/* A database opened as it is (upgrade 0): its schema must be this
 * msnd's; nothing is created (msnd_schema included) or upgraded. */
static int schema_current(pg_store *s, char *err, size_t errcap) {
    long has = scalar(s, "SELECT (to_regclass('msnd_schema') IS NOT NULL)::int", 0, NULL);
    long version = has > 0 ? scalar(s, "SELECT coalesce(max(version), 0) FROM msnd_schema", 0, NULL) : has;
    int target = schema_version();
    if (version < 0) snprintf(err, errcap, "cannot read the schema version: %s", s->base.err);
    else if (version == 0) snprintf(err, errcap, "the database has no msnd schema: not an msnd database");
    else if (version > target)
        snprintf(err, errcap, "database schema version %ld is newer than this msnd (%d)", version, target);
    else if (version < target)
        snprintf(err, errcap,
                 "the database has schema version %ld, older than this msnd's (%d): db migrate does not change its "
                 "source; upgrade it first with `msnd db init --db` and the same connection string",
                 version, target);
    return version == target ? 0 : -1;
}

static int migrate(pg_store *s, int upgrade, char *err, size_t errcap) {
    if (!upgrade) return schema_current(s, err, errcap);
    if (run_ok(s, "BEGIN", 0, NULL) != 0 ||
        run_ok(s, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ")", 0, NULL) != 0 ||
        run_ok(s, "CREATE TABLE IF NOT EXISTS msnd_schema(version INTEGER NOT NULL)", 0, NULL) != 0)
        goto fail;
    long version = scalar(s, "SELECT coalesce(max(version), 0) FROM msnd_schema", 0, NULL);
    if (version < 0) goto fail;
    int target = schema_version();
    if (version > target) {
        rollback(s, STORE_ERROR);
        snprintf(err, errcap, "database schema version %ld is newer than this msnd (%d)", version, target);
        return -1;
    }
    for (int v = (int)version; v < target; v++) {
        const char *sql = schema_migration(SCHEMA_POSTGRESQL, v);
        if (sql[0]) {
            /* Several statements: the simple query protocol. */
            PGresult *r = PQexec(s->cur->conn, sql);
            int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
            if (!ok) set_err(s, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(s->cur->conn));
            PQclear(r);
            if (!ok) goto fail;
        }
    }
    if (version < target) {
        char b[24];
        const char *p[1] = {i64(b, target)};
        if (run_ok(s, "DELETE FROM msnd_schema", 0, NULL) != 0 ||
            run_ok(s, "INSERT INTO msnd_schema(version) VALUES($1)", 1, p) != 0)
            goto fail;
    }
    if (run_ok(s, "COMMIT", 0, NULL) != 0) goto fail;
    s->base.created = version == 0; /* a database without msnd's tables */
    return 0;
fail:
    snprintf(err, errcap, "schema migration failed: %s", s->base.err);
    rollback(s, STORE_ERROR);
    return -1;
}

store *store_pg_open(const char *conninfo, int upgrade, char *err, size_t errcap) {
    pg_store *s = calloc(1, sizeof *s);
    if (!s || !(s->conninfo = strdup(conninfo))) {
        free(s);
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    s->base.ops = &pg_ops;
    s->cur = &s->sync;
    err[0] = '\0';
    s->sync.conn = connect_db(conninfo, err, errcap);
    if (!s->sync.conn || migrate(s, upgrade, err, errcap) != 0) {
        pg_close(&s->base);
        return NULL;
    }
    return &s->base;
}

/* A read scope (one loop pass) drains the notifications once, at its
 * first store_generation: every further call in the scope would be a
 * recv() that finds nothing (8.7 of them per login). A notification that
 * comes during the scope is seen from the next one on, as SQLite sees
 * another process's commit from the next pass on; own commits still move
 * the generation at once. */
static void pg_read_begin(store *base) {
    S(base)->in_scope = 1;
    S(base)->gen_drained = 0;
}

static void pg_read_end(store *base) {
    S(base)->in_scope = 0;
    S(base)->gen_drained = 0;
}

static void listen_unwatch(pg_store *s) {
    if (s->listen_ev) event_free(s->listen_ev); /* before the socket closes */
    s->listen_ev = NULL;
}

static void listen_drop(pg_store *s) {
    listen_unwatch(s);
    link_drop(&s->listen);
}

/* The listening connection: connected on demand (at most once per
 * RECONNECT_MS), its LISTEN sent without waiting for the answer. */
static int listen_ready(pg_store *s) {
    pg_link *l = &s->listen;
    if (l->conn && PQstatus(l->conn) == CONNECTION_OK) return 1;
    if (l->conn) listen_drop(s);
    if (now_ms() < l->next_connect_ms) return 0;
    /* On a fiber connect_db parks until the server answers, and other
     * fibers ask for the generation meanwhile: one attempt at a time, or
     * each would open (and the last overwrite) a connection of its own. */
    if (l->connecting) return 0;
    char err[256];
    pg_link *keep = s->cur;
    l->connecting = 1;
    l->conn = connect_db(s->conninfo, err, sizeof err);
    l->connecting = 0;
    s->cur = keep;
    s->listening = 0;
    if (!l->conn || !PQsendQuery(l->conn, "LISTEN msnd_store")) {
        listen_drop(s);
        return 0;
    }
    return 1;
}

/* A notification sent by one of this store's own connections: the echo
 * of a write that moved the generation itself when it was made (every
 * statement that may write through a link does: commit, list_call,
 * pg_user_passwd). Counting it again dropped, a moment after each write of
 * this node, everything read or cached since that write. An echo from a
 * connection since closed still counts: its write may have failed to
 * answer. */
static int own_backend(const pg_store *s, int pid) {
    if (s->sync.conn && PQbackendPID(s->sync.conn) == pid) return 1;
    for (int i = 0; i < POOL_LINKS; i++)
        if (s->pool[i].conn && PQbackendPID(s->pool[i].conn) == pid) return 1;
    return 0;
}

/* What a notification's payload names (schema.c, step 4 -> 5): the id of
 * the account whose rows changed; empty (or anything else) for a change
 * that may touch every account. */
static void changed_by_payload(pg_store *s, const char *p) {
    int64_t id = 0;
    if ((unsigned)(*p - '1') > 8u) { /* empty, or not an id */
        changed_all(s);
        return;
    }
    for (; (unsigned)(*p - '0') < 10u; p++) {
        if (id > (INT64_MAX - 9) / 10) break;
        id = id * 10 + (*p - '0');
    }
    if (*p) changed_all(s);
    else changemarks_ids(&s->marks, id, 0);
}

/* Reads what the listening socket holds, without waiting: the LISTEN's
 * answer and the notifications (each moves the generation, but for the
 * echoes of this store's own writes). */
static void listen_drain(pg_store *s) {
    PGconn *c = s->listen.conn;
    if (!c) return;
    if (!PQconsumeInput(c)) {
        listen_drop(s);
        changed_all(s);
        return;
    }
    PGresult *r;
    int failed = 0;
    while (!PQisBusy(c) && (r = PQgetResult(c)) != NULL) { /* LISTEN's own answer */
        failed |= PQresultStatus(r) != PGRES_COMMAND_OK;
        PQclear(r);
    }
    if (failed) {
        listen_drop(s);
        changed_all(s);
        return;
    }
    PGnotify *n;
    while ((n = PQnotifies(c)) != NULL) {
        if (!own_backend(s, n->be_pid)) changed_by_payload(s, n->extra ? n->extra : "");
        PQfreemem(n);
    }
    /* A commit before the LISTEN took effect is never notified: until its
     * answer is here, and once more when it arrives, assume a change. */
    if (!s->listening) {
        s->listening = !PQisBusy(c);
        changed_all(s);
    }
}

static void on_listen(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    listen_drain(arg);
}

/* With the event loop (store_use_loop), the listening socket is watched
 * and drained when something arrives, so store_generation costs no
 * system call: without it each call was a recv() that mostly found
 * nothing (3-4 per login: one per loop pass that asked). */
static void listen_watch(pg_store *s) {
    int fd = s->listen.conn ? PQsocket(s->listen.conn) : -1;
    if (!s->loop || fd < 0 || (s->listen_ev && s->listen_ev_fd == fd)) return;
    listen_unwatch(s);
    s->listen_ev = event_new(s->loop, fd, EV_READ | EV_PERSIST, on_listen, s);
    if (s->listen_ev && event_add(s->listen_ev, NULL) != 0) listen_unwatch(s);
    s->listen_ev_fd = fd;
}

static uint64_t pg_generation(store *base) {
    pg_store *s = S(base);
    if (s->gen_drained) return s->marks.now;
    int was_connected = s->listen.conn != NULL;
    /* Cannot tell: assume a change. */
    if (!listen_ready(s) || !was_connected) {
        return changemarks_all(&s->marks);
    }
    if (s->listen_ev && s->listening) return s->marks.now; /* on_listen keeps it current */
    listen_drain(s);
    listen_watch(s);
    s->gen_drained = s->in_scope && s->listening;
    return s->marks.now;
}

static uint64_t pg_generation_of(store *base, int64_t uid) {
    pg_store *s = S(base);
    pg_generation(base); /* drains what has come */
    return changemarks_of(&s->marks, uid);
}

/* The notices are listened to from the start: until LISTEN is answered
 * the generation moves at every call ("cannot tell"), so nothing cached
 * would serve the first requests. */
static void pg_use_loop(store *base, struct event_base *loop) {
    pg_store *s = S(base);
    s->loop = loop;
    if (listen_ready(s)) listen_watch(s);
}

/* ---- accounts ---- */

#define USER_COLS "id, email, password, name, version, blp, gtc"

/* An integer column in PostgreSQL's text form (an optional '-', then
 * digits). strtoll's locale and base handling cost more than the rest of
 * a login read's row, and the form is fixed. */
static int64_t pg_int(const char *p) {
    int neg = *p == '-';
    p += neg;
    uint64_t v = 0;
    while ((unsigned)(*p - '0') < 10u) v = v * 10u + (uint64_t)(*p++ - '0');
    return neg ? (int64_t)(0u - v) : (int64_t)v;
}

/* Account fields are checked against their limits before they are
 * written, so they fit; one that does not reads as empty, not cut. */
static void read_user(PGresult *r, int row, store_user *u) {
    u->id = pg_int(PQgetvalue(r, row, 0));
    msnkit_copy(u->email, sizeof u->email, PQgetvalue(r, row, 1));
    msnkit_copy(u->password, sizeof u->password, PQgetvalue(r, row, 2));
    msnkit_copy(u->name, sizeof u->name, PQgetvalue(r, row, 3));
    u->version = (uint32_t)pg_int(PQgetvalue(r, row, 4));
    u->blp_allow = strcmp(PQgetvalue(r, row, 5), "BL") != 0;
    u->gtc_prompt = strcmp(PQgetvalue(r, row, 6), "N") != 0;
}

static store_rc user_add(pg_store *s, const char *email, const char *password, const char *name) {
    if (begin(s) != 0) return STORE_ERROR;
    char t[24];
    const char *p[4] = {email, password, name, i64(t, (int64_t)time(NULL))};
    PGresult *r = run(s,
                      "INSERT INTO users(email, password, name, version, blp, gtc, created) "
                      "VALUES($1, $2, $3, 1, 'AL', 'A', $4) RETURNING id",
                      4, p);
    if (!r) return rollback(s, strcmp(s->sqlstate, "23505") == 0 ? STORE_EXISTS : STORE_ERROR);
    char id[24];
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    const char *g[1] = {id};
    if (run_ok(s, "INSERT INTO groups(owner, gid, name) VALUES($1, 0, 'Other%20Contacts')", 1, g) != 0)
        return rollback(s, STORE_ERROR);
    return commit(s);
}

static store_rc pg_user_add(store *base, const char *email, const char *password, const char *name) {
    RETRY(S(base), user_add(S(base), email, password, name));
}

static store_rc pg_user_passwd(store *base, const char *email, const char *password) {
    pg_store *s = S(base);
    if (ensure_conn(s) != 0) return STORE_ERROR;
    const char *p[2] = {email, password};
    PGresult *r = run(s, "UPDATE users SET password = $2 WHERE email = $1", 2, p);
    if (!r) return STORE_ERROR;
    store_rc rc = strcmp(PQcmdTuples(r), "0") == 0 ? STORE_NOTFOUND : STORE_OK;
    PQclear(r);
    changed_all(s);
    return rc;
}

static store_rc user_query(pg_store *s, const char *sql, const char *param, store_user *out) {
    if (ensure_conn(s) != 0) return STORE_ERROR;
    const char *p[1] = {param};
    PGresult *r = run(s, sql, 1, p);
    if (!r) return STORE_ERROR;
    store_rc rc = PQntuples(r) == 1 ? STORE_OK : STORE_NOTFOUND;
    if (rc == STORE_OK) read_user(r, 0, out);
    PQclear(r);
    return rc;
}

static store_rc pg_user_get(store *base, const char *email, store_user *out) {
    return user_query(S(base), "SELECT " USER_COLS " FROM users WHERE email = $1", email, out);
}

static store_rc pg_user_get_id(store *base, int64_t id, store_user *out) {
    char b[24];
    return user_query(S(base), "SELECT " USER_COLS " FROM users WHERE id = $1", i64(b, id), out);
}

static store_rc pg_users_gone(store *base, const int64_t *ids, size_t n, store_id_cb fn, void *ctx) {
    if (ensure_conn(S(base)) != 0) return STORE_ERROR;
    char *list = store_id_list(ids, n, '{', '}');
    if (!list) return STORE_ERROR;
    const char *p[1] = {list};
    PGresult *r = run(
        S(base), "SELECT x FROM unnest($1::bigint[]) AS x WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = x)", 1, p);
    free(list);
    if (!r) return STORE_ERROR;
    for (int i = 0; i < PQntuples(r); i++) fn(strtoll(PQgetvalue(r, i, 0), NULL, 10), ctx);
    PQclear(r);
    return STORE_OK;
}

static store_rc user_del(pg_store *s, const char *email) {
    if (begin(s) != 0) return STORE_ERROR;
    const char *p[1] = {email};
    PGresult *r = run(s, "SELECT id FROM users WHERE email = $1 FOR UPDATE", 1, p);
    if (!r) return rollback(s, STORE_ERROR);
    if (PQntuples(r) != 1) {
        PQclear(r);
        return rollback(s, STORE_NOTFOUND);
    }
    char id[24];
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    const char *q[1] = {id};
    /* Everyone whose SYN output loses this account gets a new version. */
    if (run_ok(s,
               "UPDATE users SET version = version + 1 WHERE id IN "
               "(SELECT owner FROM list_entries WHERE contact = $1 UNION "
               "SELECT contact FROM list_entries WHERE owner = $1 AND list = 0)",
               1, q) != 0 ||
        run_ok(s, "DELETE FROM users WHERE id = $1", 1, q) != 0)
        return rollback(s, STORE_ERROR);
    return commit(s);
}

static store_rc pg_user_del(store *base, const char *email) { RETRY(S(base), user_del(S(base), email)); }

static store_rc pg_user_each(store *base, store_user_cb fn, void *ctx) {
    pg_store *s = S(base);
    if (ensure_conn(s) != 0) return STORE_ERROR;
    PGresult *r = run(s, "SELECT " USER_COLS " FROM users ORDER BY email", 0, NULL);
    if (!r) return STORE_ERROR;
    store_user u;
    for (int i = 0; i < PQntuples(r); i++) {
        read_user(r, i, &u);
        fn(&u, ctx);
    }
    PQclear(r);
    return STORE_OK;
}

/* ---- settings ---- */

/* An UPDATE of one account's row ($1 = uid, $2 = text): STORE_OK, or
 * STORE_NOTFOUND when there is no such account. */
static store_rc update_row(pg_store *s, const char *sql, const char *const *p) {
    PGresult *r = run(s, sql, 2, p);
    if (!r) return STORE_ERROR;
    int found = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    return found ? STORE_OK : STORE_NOTFOUND;
}

/* A new version for every other account whose SYN output shows $1's name
 * (their FL and RL entries of it), or with phones_only its phone numbers
 * (the BPR lines of their FL), so that a list cached at the old one is
 * read again. */
static int bump_readers(pg_store *s, int64_t uid, int phones_only) {
    char b[24];
    const char *p[1] = {i64(b, uid)};
    return run_ok(s,
                  phones_only ? "UPDATE users SET version = version + 1 WHERE id <> $1 AND id IN "
                                "(SELECT owner FROM list_entries WHERE contact = $1 AND list = 0)"
                              : "UPDATE users SET version = version + 1 WHERE id <> $1 AND id IN "
                                "(SELECT owner FROM list_entries WHERE contact = $1 AND list = 0 UNION "
                                "SELECT contact FROM list_entries WHERE owner = $1 AND list = 0)",
                  1, p);
}

/* One UPDATE of uid's row ($1 = uid, $2 = text), then a version bump.
 * only_own: the column shows in uid's own rows alone (GTC), not in what
 * other accounts read of uid (BLP decides what its contacts see: its
 * presence, and its phone numbers in the BPR lines of their FL, whose
 * versions are bumped too). */
static store_rc update_and_bump(pg_store *s, const char *sql, int64_t uid, const char *text, int only_own,
                                uint32_t *ver) {
    if (begin(s) != 0) return STORE_ERROR;
    char b[24];
    const char *p[2] = {i64(b, uid), text};
    store_rc rc = update_row(s, sql, p);
    if (rc != STORE_OK) return rollback(s, rc);
    if (!only_own && bump_readers(s, uid, 1) != 0) return rollback(s, STORE_ERROR);
    if (bump(s, uid, ver) != 0) return rollback(s, STORE_ERROR);
    return only_own ? commit_of(s, uid, 0) : commit(s);
}

static store_rc set_name(pg_store *s, int64_t uid, const char *name, uint32_t *ver) {
    if (begin(s) != 0) return STORE_ERROR;
    char b[24];
    const char *p[2] = {i64(b, uid), name};
    store_rc rc = update_row(s, "UPDATE users SET name = $2 WHERE id = $1", p);
    if (rc != STORE_OK) return rollback(s, rc);
    /* Contacts' FL entries follow the user's own name. */
    if (run_ok(s, "UPDATE list_entries SET name = $2 WHERE contact = $1 AND list = 0", 2, p) != 0 ||
        bump_readers(s, uid, 0) != 0 || bump(s, uid, ver) != 0)
        return rollback(s, STORE_ERROR);
    return commit(s);
}

static store_rc pg_set_name(store *base, int64_t uid, const char *name, uint32_t *ver) {
    RETRY(S(base), set_name(S(base), uid, name, ver));
}

static store_rc pg_set_blp(store *base, int64_t uid, int allow, uint32_t *ver) {
    RETRY(S(base),
          update_and_bump(S(base), "UPDATE users SET blp = $2 WHERE id = $1", uid, allow ? "AL" : "BL", 0, ver));
}

static store_rc pg_set_gtc(store *base, int64_t uid, int prompt, uint32_t *ver) {
    RETRY(S(base),
          update_and_bump(S(base), "UPDATE users SET gtc = $2 WHERE id = $1", uid, prompt ? "A" : "N", 1, ver));
}

/* ---- lists ---- */

static store_rc pg_list_each(store *base, int64_t owner, msnp_list list, store_entry_cb fn, void *ctx) {
    pg_store *s = S(base);
    if (ensure_conn(s) != 0) return STORE_ERROR;
    char b[24], l[8];
    snprintf(l, sizeof l, "%d", (int)list);
    const char *p[2] = {i64(b, owner), l};
    int fl = list == MSNP_LIST_FL;
    PGresult *r;
    if (list == MSNP_LIST_RL)
        r = run(s,
                "SELECT u.id, u.email, u.name FROM list_entries e JOIN users u ON u.id = e.owner "
                "WHERE e.contact = $1 AND e.list = 0 ORDER BY e.seq",
                1, p);
    else if (fl) /* The BPR lines of SYN in the same statement; a contact
                  * that does not allow the owner (on its BL, or BLP BL and
                  * the owner not on its AL: the rule presence uses) hides
                  * them: v is its users row only when it allows. */
        r = run(s,
                "SELECT e.contact, u.email, e.name,"
                " (SELECT string_agg(gid::text, ',' ORDER BY gid) FROM fl_groups g"
                "  WHERE g.owner = e.owner AND g.contact = e.contact),"
                " (SELECT value FROM props p WHERE p.owner = v.id AND p.key = 'PHH'),"
                " (SELECT value FROM props p WHERE p.owner = v.id AND p.key = 'PHW'),"
                " (SELECT value FROM props p WHERE p.owner = v.id AND p.key = 'PHM'),"
                " (SELECT value FROM props p WHERE p.owner = v.id AND p.key = 'MOB') "
                "FROM list_entries e JOIN users u ON u.id = e.contact"
                " LEFT JOIN users v ON v.id = e.contact AND NOT EXISTS (SELECT 1 FROM list_entries b"
                "  WHERE b.owner = e.contact AND b.list = 2 AND b.contact = e.owner)"
                "  AND (v.blp = 'AL' OR EXISTS (SELECT 1 FROM list_entries a"
                "  WHERE a.owner = e.contact AND a.list = 1 AND a.contact = e.owner)) "
                "WHERE e.owner = $1 AND e.list = 0 ORDER BY e.seq",
                1, p);
    else
        r = run(s,
                "SELECT e.contact, u.email, e.name FROM list_entries e JOIN users u ON u.id = e.contact "
                "WHERE e.owner = $1 AND e.list = $2 ORDER BY e.seq",
                2, p);
    if (!r) return STORE_ERROR;
    int gids[STORE_MAX_ENTRY_GROUPS];
    for (int i = 0; i < PQntuples(r); i++) {
        store_entry e;
        e.contact = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        e.email = PQgetvalue(r, i, 1);
        e.name = PQgetvalue(r, i, 2);
        e.groups = gids;
        e.ngroups = fl ? store_parse_ids(PQgetvalue(r, i, 3), gids, STORE_MAX_ENTRY_GROUPS) : 0;
        for (int k = 0; k < 4; k++) e.phones[k] = fl && !PQgetisnull(r, i, 4 + k) ? PQgetvalue(r, i, 4 + k) : NULL;
        if (fn(&e, ctx)) break;
    }
    PQclear(r);
    return STORE_OK;
}

static long pg_list_count(store *base, int64_t owner, msnp_list list) {
    pg_store *s = S(base);
    if (ensure_conn(s) != 0) return -1;
    char b[24], l[8];
    snprintf(l, sizeof l, "%d", (int)list);
    const char *p[2] = {i64(b, owner), l};
    if (list == MSNP_LIST_RL)
        return scalar(s, "SELECT count(*) FROM list_entries WHERE contact = $1 AND list = 0", 1, p);
    return scalar(s, "SELECT count(*) FROM list_entries WHERE owner = $1 AND list = $2", 2, p);
}

static int list_get(pg_store *s, int64_t owner, msnp_list list, int64_t contact) {
    char a[24], c[24], l[8];
    if (list == MSNP_LIST_RL) { /* RL: does contact have owner on FL? */
        int64_t t = owner;
        owner = contact;
        contact = t;
        list = MSNP_LIST_FL;
    }
    snprintf(l, sizeof l, "%d", (int)list);
    const char *p[3] = {i64(a, owner), l, i64(c, contact)};
    long v = scalar(s, "SELECT count(*) FROM list_entries WHERE owner = $1 AND list = $2 AND contact = $3", 3, p);
    return v < 0 ? -1 : v > 0;
}

static int pg_list_get(store *base, int64_t owner, msnp_list list, int64_t contact) {
    pg_store *s = S(base);
    if (ensure_conn(s) != 0) return -1;
    return list_get(s, owner, list, contact);
}

static long group_exists(pg_store *s, int64_t owner, int gid) {
    char a[24], g[16];
    snprintf(g, sizeof g, "%d", gid);
    const char *p[2] = {i64(a, owner), g};
    return scalar(s, "SELECT count(*) FROM groups WHERE owner = $1 AND gid = $2", 2, p);
}

/* ---- the change primitives store.c decides ADG with (ADD and REM are
 * the schema's functions, below, and need none of the entry and member
 * primitives) ----
 * change_begin leases a link for the whole change (a transaction needs its
 * connection to itself) and locks the users rows the change will bump, in
 * id order, so two changes never wait on each other in a cycle;
 * change_end gives the link back. */

static int pg_change_begin(store *base, int64_t owner, int64_t contact) {
    pg_store *s = S(base);
    if (lease(s) != 0) return -1;
    pg_link *l = s->cur;
    if (begin(s) != 0) {
        lease_end(s, l);
        return -1;
    }
    if (lock_users(s, owner, contact) != 0) {
        rollback(s, STORE_ERROR);
        lease_end(s, l);
        return -1;
    }
    l->change_ids[0] = owner;
    l->change_ids[1] = contact;
    return 0;
}

static store_rc pg_change_end(store *base, store_rc rc) {
    pg_store *s = S(base);
    pg_link *l = s->cur;
    /* The only change store.c makes here is ADG (ADD and REM are the
     * schema's functions: list_call), which writes the owner's rows alone,
     * the ones change_begin locked. */
    rc = rc == STORE_OK ? commit_of(s, l->change_ids[0], l->change_ids[1]) : rollback(s, rc);
    lease_end(s, l);
    return rc;
}

static int pg_change_again(store *base) { return retryable(S(base)); }

static long pg_tx_group_count(store *base, int64_t owner) {
    char b[24];
    const char *p[1] = {i64(b, owner)};
    return scalar(S(base), "SELECT count(*) FROM groups WHERE owner = $1", 1, p);
}

static long pg_tx_group_next(store *base, int64_t owner) {
    char b[24];
    const char *p[1] = {i64(b, owner)};
    return scalar(S(base), "SELECT coalesce(max(gid), 0) + 1 FROM groups WHERE owner = $1", 1, p);
}

static int pg_tx_group_insert(store *base, int64_t owner, int gid, const char *name) {
    char b[24], g[24];
    snprintf(g, sizeof g, "%d", gid);
    const char *p[3] = {i64(b, owner), g, name};
    return run_ok(S(base), "INSERT INTO groups(owner, gid, name) VALUES($1, $2, $3)", 3, p);
}

static int pg_tx_bump(store *base, int64_t uid, uint32_t *ver) { return bump(S(base), uid, ver); }

/* ---- ADD and REM as one call each (schema step 3 -> 4: msnd_list_add,
 * msnd_list_remove): the function locks, checks and writes as store.c's
 * change would, in the one transaction of its statement. ---- */

static store_rc list_call(pg_store *s, const store_list_op *op, const char *sql, int n, const char *const *p,
                          store_list_result *r) {
    memset(r, 0, sizeof *r);
    if (ensure_conn(s) != 0) return STORE_ERROR;
    PGresult *res = run(s, sql, n, p);
    if (!res) return STORE_ERROR;
    if (PQntuples(res) != 1 || PQnfields(res) != 4) {
        set_err(s, "list change: %d rows of %d columns from the database, expected one of 4", PQntuples(res),
                PQnfields(res));
        PQclear(res);
        changed_all(s); /* it ran: whatever it wrote, its echo is ignored (own_backend) */
        return STORE_ERROR;
    }
    int64_t code = pg_int(PQgetvalue(res, 0, 0));
    r->owner_ver = (uint32_t)pg_int(PQgetvalue(res, 0, 1));
    r->contact_ver = (uint32_t)pg_int(PQgetvalue(res, 0, 2));
    r->entry_changed = PQgetvalue(res, 0, 3)[0] == 't';
    PQclear(res);
    /* The codes are store_rc's own (schema.c). */
    if (code < STORE_OK || code > STORE_TOO_MANY_GROUPS) {
        set_err(s, "list change: unknown result %lld from the database", (long long)code);
        changed_all(s);
        return STORE_ERROR;
    }
    if (code == STORE_OK) changemarks_ids(&s->marks, op->owner, op->contact); /* it wrote: the two accounts' rows */
    return (store_rc)code;
}

static store_rc list_change(pg_store *s, const store_list_op *op, store_list_result *r, int add) {
    char a[24], c[24], g[16], l[8], lim[24], mx[16];
    snprintf(l, sizeof l, "%d", (int)op->list);
    snprintf(g, sizeof g, "%d", op->gid);
    i64(a, op->owner);
    i64(c, op->contact);
    if (!add) {
        const char *p[4] = {a, l, c, g};
        return list_call(s, op, "SELECT * FROM msnd_list_remove($1, $2, $3, $4)", 4, p, r);
    }
    i64(lim, op->limit);
    snprintf(mx, sizeof mx, "%d", STORE_MAX_ENTRY_GROUPS);
    const char *p[7] = {a, l, c, op->name ? op->name : "", g, lim, mx};
    return list_call(s, op, "SELECT * FROM msnd_list_add($1, $2, $3, $4, $5, $6, $7)", 7, p, r);
}

static store_rc pg_list_add(store *base, const store_list_op *op, store_list_result *r) {
    RETRY(S(base), list_change(S(base), op, r, 1));
}

static store_rc pg_list_remove(store *base, const store_list_op *op, store_list_result *r) {
    RETRY(S(base), list_change(S(base), op, r, 0));
}

/* A rename: sql sets $3 on the row of (owner $1, key $2), STORE_NOTFOUND
 * when there is none; the owner's list version is bumped. */
static store_rc row_rename(pg_store *s, const char *sql, int64_t owner, int64_t key, const char *text, uint32_t *ver) {
    if (begin(s) != 0) return STORE_ERROR;
    char a[24], k[24];
    const char *p[3] = {i64(a, owner), i64(k, key), text};
    PGresult *r = run(s, sql, 3, p);
    if (!r) return rollback(s, STORE_ERROR);
    int found = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    if (!found) return rollback(s, STORE_NOTFOUND);
    if (bump(s, owner, ver) != 0) return rollback(s, STORE_ERROR);
    return commit_of(s, owner, 0); /* the owner's rows only */
}

static store_rc pg_list_rename(store *base, int64_t owner, int64_t contact, const char *name, uint32_t *ver) {
    RETRY(S(base),
          row_rename(S(base), "UPDATE list_entries SET name = $3 WHERE owner = $1 AND list = 0 AND contact = $2", owner,
                     contact, name, ver));
}

static store_rc peers_each(pg_store *s, const char *sql, int64_t uid, store_peer_cb fn, void *ctx) {
    if (ensure_conn(s) != 0) return STORE_ERROR;
    char b[24];
    const char *p[1] = {i64(b, uid)};
    PGresult *r = run(s, sql, 1, p);
    if (!r) return STORE_ERROR;
    for (int i = 0; i < PQntuples(r); i++) {
        store_peer x;
        x.id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        x.email = PQgetvalue(r, i, 1);
        x.name = PQgetvalue(r, i, 2);
        x.blp_allow = atoi(PQgetvalue(r, i, 3));
        x.in_al = atoi(PQgetvalue(r, i, 4));
        x.in_bl = atoi(PQgetvalue(r, i, 5));
        fn(&x, ctx);
    }
    PQclear(r);
    return STORE_OK;
}

static store_rc pg_watchers_each(store *base, int64_t uid, store_peer_cb fn, void *ctx) {
    return peers_each(
        S(base),
        "SELECT u.id, u.email, u.name, ((SELECT blp FROM users WHERE id = $1) = 'AL')::int,"
        " EXISTS(SELECT 1 FROM list_entries a WHERE a.owner = $1 AND a.list = 1 AND a.contact = u.id)::int,"
        " EXISTS(SELECT 1 FROM list_entries b WHERE b.owner = $1 AND b.list = 2 AND b.contact = u.id)::int "
        "FROM list_entries f JOIN users u ON u.id = f.owner WHERE f.contact = $1 AND f.list = 0",
        uid, fn, ctx);
}

static store_rc pg_contacts_each(store *base, int64_t uid, store_peer_cb fn, void *ctx) {
    return peers_each(
        S(base),
        "SELECT u.id, u.email, u.name, (u.blp = 'AL')::int,"
        " EXISTS(SELECT 1 FROM list_entries a WHERE a.owner = u.id AND a.list = 1 AND a.contact = $1)::int,"
        " EXISTS(SELECT 1 FROM list_entries b WHERE b.owner = u.id AND b.list = 2 AND b.contact = $1)::int "
        "FROM list_entries f JOIN users u ON u.id = f.contact WHERE f.owner = $1 AND f.list = 0",
        uid, fn, ctx);
}

/* ---- groups ---- */

static store_rc pg_group_each(store *base, int64_t owner, store_group_cb fn, void *ctx) {
    pg_store *s = S(base);
    if (ensure_conn(s) != 0) return STORE_ERROR;
    char b[24];
    const char *p[1] = {i64(b, owner)};
    PGresult *r = run(s, "SELECT gid, name FROM groups WHERE owner = $1 ORDER BY gid", 1, p);
    if (!r) return STORE_ERROR;
    for (int i = 0; i < PQntuples(r); i++) fn(atoi(PQgetvalue(r, i, 0)), PQgetvalue(r, i, 1), ctx);
    PQclear(r);
    return STORE_OK;
}

static long pg_group_count(store *base, int64_t owner) {
    pg_store *s = S(base);
    if (ensure_conn(s) != 0) return -1;
    char b[24];
    const char *p[1] = {i64(b, owner)};
    return scalar(s, "SELECT count(*) FROM groups WHERE owner = $1", 1, p);
}

static int pg_group_exists(store *base, int64_t owner, int gid) {
    pg_store *s = S(base);
    if (ensure_conn(s) != 0) return -1;
    long v = group_exists(s, owner, gid);
    return v < 0 ? -1 : v > 0;
}

static store_rc group_del(pg_store *s, int64_t owner, int gid, uint32_t *ver) {
    if (begin(s) != 0) return STORE_ERROR;
    if (lock_users(s, owner, owner) != 0) return rollback(s, STORE_ERROR);
    char b[24], g[16];
    snprintf(g, sizeof g, "%d", gid);
    const char *p[2] = {i64(b, owner), g};
    PGresult *r = run(s, "DELETE FROM groups WHERE owner = $1 AND gid = $2", 2, p);
    if (!r) return rollback(s, STORE_ERROR);
    int found = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    if (!found) return rollback(s, STORE_NOTFOUND);
    /* The memberships went with the group (ON DELETE CASCADE); entries
     * that were only in it fall back to group 0. */
    if (run_ok(s,
               "INSERT INTO fl_groups(owner, contact, gid) SELECT owner, contact, 0 FROM list_entries e "
               "WHERE owner = $1 AND list = 0 AND NOT EXISTS "
               "(SELECT 1 FROM fl_groups f WHERE f.owner = e.owner AND f.contact = e.contact)",
               1, p) != 0)
        return rollback(s, STORE_ERROR);
    if (bump(s, owner, ver) != 0) return rollback(s, STORE_ERROR);
    return commit_of(s, owner, 0); /* the owner's rows only */
}

static store_rc pg_group_del(store *base, int64_t owner, int gid, uint32_t *ver) {
    if (gid == 0) return STORE_ERROR;
    RETRY(S(base), group_del(S(base), owner, gid, ver));
}

static store_rc pg_group_rename(store *base, int64_t owner, int gid, const char *name, uint32_t *ver) {
    RETRY(S(base),
          row_rename(S(base), "UPDATE groups SET name = $3 WHERE owner = $1 AND gid = $2", owner, gid, name, ver));
}

/* ---- phone properties ---- */

static store_rc prop_set(pg_store *s, int64_t owner, const char *key, const char *value, uint32_t *ver) {
    if (begin(s) != 0) return STORE_ERROR;
    char b[24];
    const char *p[3] = {i64(b, owner), key, value};
    int rc = value ? run_ok(s,
                            "INSERT INTO props(owner, key, value) VALUES($1, $2, $3) "
                            "ON CONFLICT(owner, key) DO UPDATE SET value = excluded.value",
                            3, p)
                   : run_ok(s, "DELETE FROM props WHERE owner = $1 AND key = $2", 2, p);
    if (rc != 0 || bump_readers(s, owner, 1) != 0 || bump(s, owner, ver) != 0) return rollback(s, STORE_ERROR);
    return commit(s);
}

static store_rc pg_prop_set(store *base, int64_t owner, const char *key, const char *value, uint32_t *ver) {
    RETRY(S(base), prop_set(S(base), owner, key, value, ver));
}

/* ---- a login's reads (store_sync_get): one statement, one round trip;
 * the rows come unordered, store_sync_add orders each kind by column 8
 * (gid, seq). ME is the condition on the account's users row (as `me`),
 * PW the account row's password column.
 *
 * Each branch is one index scan (with a join to users for names): the
 * entries of all three of the account's lists in one, the entries that
 * name the account (RL, and LISTED_BY: who has it on AL/BL) in another,
 * and what the FL rows need of each contact (group memberships, phone
 * numbers) as side rows that store_sync.c joins to the FL entries
 * (store_impl.h). Per-contact subqueries cost PostgreSQL the set-up of a
 * plan node per contact and column, most of the statement's CPU
 * (BENCHMARKS.md). The list condition (list IN (0, 1, 2)) keeps the
 * planner's estimate of the rows small before the tables are analyzed,
 * so it looks each account up by key instead of scanning users. The
 * entries' accounts are read as lateral subqueries that cannot be
 * flattened (OFFSET 0), which leaves the planner only a nested loop over
 * users' primary key: as a plain join it hashes the whole users table
 * once the lists are long against a small users table (BENCHMARKS.md:
 * 1.9 ms per login instead of 0.5 with 2 000 accounts of 19 entries).
 *
 * Setting up the plan's nodes costs the server about as much as running
 * them, so the plan is kept small: the account is found once and the
 * branches read it as a lateral reference (one index scan of users, where
 * a CTE would add an InitPlan and a CTE scan per branch), and every branch
 * yields exactly the column types of the first, so that the planner needs
 * no Subquery Scan per branch to convert them. ---- */
#define SYNC_SQL(ME, PW) SYNC_SQL_COLS("", ME, PW)
/* The same with leading columns (COLS: "me.id, " for a batch). */
#define SYNC_SQL_COLS(COLS, ME, PW) \
    "SELECT " COLS "x.* FROM users me CROSS JOIN LATERAL (" \
    "SELECT 0, me.id, me.email, me.name, NULL::text, me.version, (me.blp = 'AL')::int, (me.gtc = 'A')::int," \
    " 0::bigint, " PW " " \
    "UNION ALL SELECT 1, 0::bigint, key, value, NULL::text, 0::bigint, 0, 0, (CASE key WHEN 'PHH' THEN 1" \
    " WHEN 'PHW' THEN 2 WHEN 'PHM' THEN 3 WHEN 'MOB' THEN 4 WHEN 'MBE' THEN 5 ELSE 6 END)::bigint, NULL::text" \
    " FROM props WHERE owner = me.id " \
    "UNION ALL SELECT 2, gid::bigint, NULL::text, name, NULL::text, 0::bigint, 0, 0, gid::bigint, NULL::text" \
    " FROM groups WHERE owner = me.id " \
    "UNION ALL SELECT 3 + e.list, e.contact, u.email, e.name, u.name, (u.blp = 'AL')::int::bigint, 0, 0, e.seq," \
    " NULL::text FROM list_entries e" \
    " CROSS JOIN LATERAL (SELECT email, name, blp FROM users WHERE id = e.contact OFFSET 0) u" \
    " WHERE e.owner = me.id AND e.list IN (0, 1, 2) " \
    "UNION ALL SELECT CASE e.list WHEN 0 THEN 6 ELSE 9 END, u.id, u.email, u.name, u.name, 0::bigint, e.list::int," \
    " 0, e.seq, NULL::text FROM list_entries e" \
    " CROSS JOIN LATERAL (SELECT id, email, name FROM users WHERE id = e.owner OFFSET 0) u" \
    " WHERE e.contact = me.id AND e.list IN (0, 1, 2) " \
    "UNION ALL SELECT 7, contact, NULL::text, NULL::text, NULL::text, gid::bigint, 0, 0, 0::bigint, NULL::text" \
    " FROM fl_groups WHERE owner = me.id " \
    "UNION ALL SELECT 8, p.owner, p.key, p.value, NULL::text, 0::bigint, 0, 0, 0::bigint, NULL::text" \
    " FROM list_entries e JOIN props p ON p.owner = e.contact" \
    " WHERE e.owner = me.id AND e.list = 0 AND p.key IN ('PHH', 'PHW', 'PHM', 'MOB')" \
    ") x WHERE me." ME
_Static_assert(SYNC_FL == 3 && SYNC_RL == 6 && SYNC_FL_GROUP == 7 && SYNC_FL_PHONE == 8 && SYNC_LISTED_BY == 9,
               "SYNC_SQL's kinds");
_Static_assert(MSNP_LIST_AL == 1 && MSNP_LIST_BL == 2, "list_entries.list is the list's number");

/* Hands the rows to b; the account row's password (column 9) to pw when
 * it is not NULL. 0 when there was an account row. A result of the login
 * read has the account's id first (owners[i]: row i's; NULL for a result
 * without it): only the rows of account `owner` are taken. */
static store_rc sync_result(pg_store *s, PGresult *r, const int64_t *owners, int64_t owner, store_sync_builder *b,
                            store_user *pw) {
    store_rc rc = STORE_NOTFOUND;
    const int at = owners != NULL;
    for (int i = 0; i < PQntuples(r); i++) {
        if (owners && owners[i] != owner) continue;
        store_sync_row w;
        memset(&w, 0, sizeof w);
        w.kind = (int)pg_int(PQgetvalue(r, i, at + 0));
        w.id = pg_int(PQgetvalue(r, i, at + 1));
        w.email = PQgetisnull(r, i, at + 2) ? NULL : PQgetvalue(r, i, at + 2);
        w.name = PQgetisnull(r, i, at + 3) ? NULL : PQgetvalue(r, i, at + 3);
        w.peer_name = PQgetisnull(r, i, at + 4) ? NULL : PQgetvalue(r, i, at + 4);
        w.a = pg_int(PQgetvalue(r, i, at + 5));
        w.b = (int)pg_int(PQgetvalue(r, i, at + 6));
        w.c = (int)pg_int(PQgetvalue(r, i, at + 7));
        w.ord = pg_int(PQgetvalue(r, i, at + 8));
        /* the RL branch's join gives these rows texts they do not need */
        if (w.kind == SYNC_LISTED_BY) w.email = w.name = w.peer_name = NULL;
        if (store_sync_add(b, &w) != 0) {
            set_err(s, "out of memory");
            return STORE_ERROR;
        }
        if (w.kind != SYNC_USER) continue;
        rc = STORE_OK;
        if (!pw) continue;
        pw->id = w.id;
        msnkit_copy(pw->email, sizeof pw->email, w.email ? w.email : "");
        msnkit_copy(pw->password, sizeof pw->password, PQgetvalue(r, i, at + 9));
        msnkit_copy(pw->name, sizeof pw->name, w.name ? w.name : "");
        pw->version = (uint32_t)w.a;
        pw->blp_allow = w.b;
        pw->gtc_prompt = w.c;
    }
    return rc;
}

static store_rc pg_sync_rows(store *base, int64_t uid, store_sync_builder *b) {
    pg_store *s = S(base);
    if (ensure_conn(s) != 0) return STORE_ERROR;
    char id[24];
    const char *p[1] = {i64(id, uid)};
    PGresult *r = run(s, SYNC_SQL("id = $1", "NULL::text"), 1, p);
    if (!r) return STORE_ERROR;
    store_rc rc = sync_result(s, r, NULL, 0, b, NULL);
    PQclear(r);
    return rc == STORE_ERROR ? STORE_ERROR : STORE_OK;
}

/* ---- whole-store copy (store_copy) ---- */

/* At start, before the loop runs: on the blocking connection. */
static int pg_has_accounts(store *base) {
    pg_store *s = S(base);
    s->cur = &s->sync;
    if (ensure_conn(s) != 0) return -1;
    long v = scalar(s, "SELECT EXISTS(SELECT 1 FROM users)::int", 0, NULL);
    return v < 0 ? -1 : v != 0;
}

/* The row counts, on the current link. */
static store_rc read_counts(pg_store *s, store_counts *out) {
    PGresult *r = run(s,
                      "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM list_entries),"
                      " (SELECT count(*) FROM groups), (SELECT count(*) FROM fl_groups), (SELECT count(*) FROM props)",
                      0, NULL);
    if (!r) return STORE_ERROR;
    out->users = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    out->entries = strtol(PQgetvalue(r, 0, 1), NULL, 10);
    out->groups = strtol(PQgetvalue(r, 0, 2), NULL, 10);
    out->memberships = strtol(PQgetvalue(r, 0, 3), NULL, 10);
    out->props = strtol(PQgetvalue(r, 0, 4), NULL, 10);
    PQclear(r);
    return STORE_OK;
}

static store_rc pg_counts(store *base, store_counts *out) {
    pg_store *s = S(base);
    s->cur = &s->sync; /* admin commands: the blocking connection */
    if (ensure_conn(s) != 0) return STORE_ERROR;
    return read_counts(s, out);
}

/* ---- export (store_copy's source side) ----
 * A statement per table, not per account and list: account by account, a
 * copy of 20 000 accounts made 100 000 round trips (19 s; BENCHMARKS.md,
 * "msnd db migrate"). */

typedef struct export_arg {
    const store_export *x;
    void *ctx;
} export_arg;

static int export_user(PGresult *r, const export_arg *a) {
    store_user u;
    read_user(r, 0, &u);
    return a->x->user(&u, a->ctx);
}

static int export_group(PGresult *r, const export_arg *a) {
    return a->x->group(pg_int(PQgetvalue(r, 0, 0)), (int)pg_int(PQgetvalue(r, 0, 1)), PQgetvalue(r, 0, 2), a->ctx);
}

static int export_entry(PGresult *r, const export_arg *a) {
    int gids[STORE_MAX_ENTRY_GROUPS];
    msnp_list list = (msnp_list)pg_int(PQgetvalue(r, 0, 1));
    store_entry e = {.contact = pg_int(PQgetvalue(r, 0, 2)),
                     .email = PQgetvalue(r, 0, 3),
                     .name = PQgetvalue(r, 0, 4),
                     .groups = gids};
    if (list == MSNP_LIST_FL) e.ngroups = store_parse_ids(PQgetvalue(r, 0, 5), gids, STORE_MAX_ENTRY_GROUPS);
    return a->x->entry(pg_int(PQgetvalue(r, 0, 0)), list, &e, a->ctx);
}

static int export_prop(PGresult *r, const export_arg *a) {
    return a->x->prop(pg_int(PQgetvalue(r, 0, 0)), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), a->ctx);
}

/* Every row of a statement, one at a time (single-row mode: a table of
 * any size, never held whole), to row until it returns non-zero (then
 * *stopped is set and the rest is read and dropped). 0, or -1 with the
 * error noted. */
static int stream_rows(pg_store *s, const char *sql, int (*row)(PGresult *r, const export_arg *a), const export_arg *a,
                       int *stopped) {
    PGconn *c = s->sync.conn;
    if (!PQsendQuery(c, sql) || !PQsetSingleRowMode(c)) {
        set_err(s, "%s", PQerrorMessage(c));
        PGresult *r;
        while ((r = PQgetResult(c))) PQclear(r); /* nothing was sent, or its results are dropped */
        return -1;
    }
    int failed = 0;
    PGresult *r;
    while ((r = PQgetResult(c))) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE) {
            if (!*stopped && row(r, a)) *stopped = 1;
        } else if (st != PGRES_TUPLES_OK && !failed) {
            failed = 1;
            set_err(s, "%s", PQresultErrorMessage(r));
        }
        PQclear(r);
    }
    if (failed && PQstatus(c) != CONNECTION_OK) drop_conn(s);
    return failed ? -1 : 0;
}

static store_rc pg_export_rows(store *base, const store_export *x, void *ctx) {
    pg_store *s = S(base);
    s->cur = &s->sync; /* admin commands: the blocking connection */
    if (ensure_conn(s) != 0) return STORE_ERROR;
    /* One snapshot for the counts and every row, so an msnd still writing
     * to the database cannot make the copy a mix of before and after (as
     * SQLite's read transaction). */
    if (run_ok(s, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL) != 0) return STORE_ERROR;
    store_counts n;
    if (read_counts(s, &n) != STORE_OK) return rollback(s, STORE_ERROR);
    static const struct {
        const char *sql;
        int (*row)(PGresult *r, const export_arg *a);
    } tables[] = {
        {"SELECT " USER_COLS " FROM users ORDER BY id", export_user},
        {"SELECT owner, gid, name FROM groups ORDER BY owner, gid", export_group},
        /* in the order they were added (seq), across lists and accounts:
         * each list keeps its order, and so does every account's RL (the
         * FL entries naming it, read in that order); an FL entry's groups
         * as store_parse_ids reads them */
        {"SELECT e.owner, e.list, e.contact, u.email, e.name, g.gids FROM list_entries e"
         " JOIN users u ON u.id = e.contact"
         " LEFT JOIN (SELECT owner, contact, string_agg(gid::text, ',' ORDER BY gid) AS gids FROM fl_groups"
         "  GROUP BY owner, contact) g ON e.list = 0 AND g.owner = e.owner AND g.contact = e.contact"
         " ORDER BY e.seq",
         export_entry},
        {"SELECT owner, key, value FROM props ORDER BY owner, key", export_prop},
    };
    export_arg a = {x, ctx};
    int stopped = x->counts(&n, ctx) != 0;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0] && !stopped; i++)
        if (stream_rows(s, tables[i].sql, tables[i].row, &a, &stopped) != 0) return rollback(s, STORE_ERROR);
    if (run_ok(s, "COMMIT", 0, NULL) != 0) return rollback(s, STORE_ERROR);
    return STORE_OK;
}

/* The import runs on the blocking connection (an admin command), its rows
 * sent by COPY in chunks (store_pg_copy.c). */
static store_rc pg_import_begin(store *base) {
    pg_store *s = S(base);
    s->cur = &s->sync;
    if (begin(s) != 0) return STORE_ERROR;
    /* Nobody else writes while the copy runs. */
    if (run_ok(s, "LOCK TABLE users, list_entries, groups, fl_groups, props IN EXCLUSIVE MODE", 0, NULL) != 0)
        return rollback(s, STORE_ERROR);
    pg_copy_free(s->copy);
    char err[sizeof s->base.err];
    s->copy = pg_copy_new(s->sync.conn, (int64_t)time(NULL), err, sizeof err);
    if (!s->copy) {
        set_err(s, "%s", err);
        return rollback(s, STORE_ERROR);
    }
    return STORE_OK;
}

/* A chunk of queued rows failed: the database's reason, and the row it
 * named, for store_copy. */
static store_rc import_failed(pg_store *s) {
    if (!s->copy) {
        set_err(s, "no import begun");
        return STORE_ERROR;
    }
    char err[sizeof s->base.err];
    pg_copy_refused(s->copy, err, sizeof err, s->base.refused_what, sizeof s->base.refused_what,
                    &s->base.refused_owner);
    set_err(s, "%s", err);
    return STORE_ERROR;
}

static store_rc pg_import_user(store *base, const store_user *u) {
    pg_store *s = S(base);
    return s->copy && pg_copy_user(s->copy, u) == 0 ? STORE_OK : import_failed(s);
}

static store_rc pg_import_group(store *base, int64_t owner, int gid, const char *name) {
    pg_store *s = S(base);
    return s->copy && pg_copy_group(s->copy, owner, gid, name) == 0 ? STORE_OK : import_failed(s);
}

static store_rc pg_import_entry(store *base, int64_t owner, msnp_list list, const store_entry *e) {
    pg_store *s = S(base);
    return s->copy && pg_copy_entry(s->copy, owner, list, e) == 0 ? STORE_OK : import_failed(s);
}

static store_rc pg_import_prop(store *base, int64_t owner, const char *key, const char *value) {
    pg_store *s = S(base);
    return s->copy && pg_copy_prop(s->copy, owner, key, value) == 0 ? STORE_OK : import_failed(s);
}

static store_rc pg_import_flush(store *base) {
    pg_store *s = S(base);
    return s->copy && pg_copy_flush(s->copy) == 0 ? STORE_OK : import_failed(s);
}

static store_rc pg_import_end(store *base, int ok) {
    pg_store *s = S(base);
    s->cur = &s->sync; /* admin commands: the blocking connection */
    int flushed = 1;
    if (ok && (!s->copy || pg_copy_finish(s->copy) != 0)) {
        import_failed(s); /* the reason, and the row when one is named */
        flushed = 0;
    }
    pg_copy_free(s->copy);
    s->copy = NULL;
    if (!flushed) return rollback(s, STORE_ERROR);
    if (!ok) return rollback(s, STORE_OK);
    /* New accounts continue after the copied ids. */
    if (run_ok(s, "SELECT setval(pg_get_serial_sequence('users', 'id'), coalesce(max(id), 0) + 1, false) FROM users", 0,
               NULL) != 0)
        return rollback(s, STORE_ERROR);
    return commit(s);
}

/* Each operation holds one link from start to end (lease): leased_OP
 * takes a link (parking the fiber while all are busy), runs pg_OP on it and
 * gives it back. FAIL is what OP returns when no link can be had. */
#define PG_LEASED(type, op, fail, params, args) \
    static type leased_##op params { \
        pg_store *s = S(base); \
        if (lease(s) != 0) return fail; \
        pg_link *l = s->cur; \
        type rc = pg_##op args; \
        lease_end(s, l); \
        return rc; \
    }

/* clang-format reads the parameter lists below as expressions ("store * base"). */
/* clang-format off */
PG_LEASED(store_rc, user_add, STORE_ERROR, (store *base, const char *email, const char *password, const char *name),
          (base, email, password, name))
PG_LEASED(store_rc, user_passwd, STORE_ERROR, (store *base, const char *email, const char *password),
          (base, email, password))
PG_LEASED(store_rc, user_get, STORE_ERROR, (store *base, const char *email, store_user *out), (base, email, out))
PG_LEASED(store_rc, user_get_id, STORE_ERROR, (store *base, int64_t id, store_user *out), (base, id, out))
PG_LEASED(store_rc, users_gone, STORE_ERROR, (store *base, const int64_t *ids, size_t n, store_id_cb fn, void *ctx),
          (base, ids, n, fn, ctx))
PG_LEASED(store_rc, user_del, STORE_ERROR, (store *base, const char *email), (base, email))
PG_LEASED(store_rc, list_add, STORE_ERROR, (store *base, const store_list_op *op, store_list_result *r), (base, op, r))
PG_LEASED(store_rc, list_remove, STORE_ERROR, (store *base, const store_list_op *op, store_list_result *r),
          (base, op, r))
PG_LEASED(store_rc, user_each, STORE_ERROR, (store *base, store_user_cb fn, void *ctx), (base, fn, ctx))
PG_LEASED(store_rc, set_name, STORE_ERROR, (store *base, int64_t uid, const char *name, uint32_t *ver),
          (base, uid, name, ver))
PG_LEASED(store_rc, set_blp, STORE_ERROR, (store *base, int64_t uid, int allow, uint32_t *ver),
          (base, uid, allow, ver))
PG_LEASED(store_rc, set_gtc, STORE_ERROR, (store *base, int64_t uid, int prompt, uint32_t *ver),
          (base, uid, prompt, ver))
PG_LEASED(store_rc, list_each, STORE_ERROR, (store *base, int64_t owner, msnp_list list, store_entry_cb fn, void *ctx),
          (base, owner, list, fn, ctx))
PG_LEASED(long, list_count, -1, (store *base, int64_t owner, msnp_list list), (base, owner, list))
PG_LEASED(int, list_get, -1, (store *base, int64_t owner, msnp_list list, int64_t contact),
          (base, owner, list, contact))
PG_LEASED(store_rc, list_rename, STORE_ERROR,
          (store *base, int64_t owner, int64_t contact, const char *name, uint32_t *ver),
          (base, owner, contact, name, ver))
PG_LEASED(store_rc, watchers_each, STORE_ERROR, (store *base, int64_t uid, store_peer_cb fn, void *ctx),
          (base, uid, fn, ctx))
PG_LEASED(store_rc, contacts_each, STORE_ERROR, (store *base, int64_t uid, store_peer_cb fn, void *ctx),
          (base, uid, fn, ctx))
PG_LEASED(store_rc, group_each, STORE_ERROR, (store *base, int64_t owner, store_group_cb fn, void *ctx),
          (base, owner, fn, ctx))
PG_LEASED(long, group_count, -1, (store *base, int64_t owner), (base, owner))
PG_LEASED(int, group_exists, -1, (store *base, int64_t owner, int gid), (base, owner, gid))
PG_LEASED(store_rc, group_del, STORE_ERROR, (store *base, int64_t owner, int gid, uint32_t *ver),
          (base, owner, gid, ver))
PG_LEASED(store_rc, group_rename, STORE_ERROR, (store *base, int64_t owner, int gid, const char *name, uint32_t *ver),
          (base, owner, gid, name, ver))
PG_LEASED(store_rc, prop_set, STORE_ERROR,
          (store *base, int64_t owner, const char *key, const char *value, uint32_t *ver),
          (base, owner, key, value, ver))
PG_LEASED(store_rc, sync_rows, STORE_ERROR, (store *base, int64_t uid, store_sync_builder *b), (base, uid, b))
/* clang-format on */

/* ---- login reads in batches ----
 * Logins come in bursts: every client whose USR arrived in the same loop
 * pass asks for its login read in that pass. Sent one by one, each read
 * costs PostgreSQL a round trip and the set-up of the statement's plan,
 * which is about as much as running it (BENCHMARKS.md). So the reads of a
 * pass go as one statement for up to LOGIN_BATCH_MAX accounts
 * (`email = ANY($1)`), whose rows begin with the account's id to be told
 * apart. The first request leads: it lets the rest of the pass run
 * (fiber_yield), waits while LOGIN_BATCHES_RUNNING batches are on their
 * way, leases a link (while it waits, more requests join), takes the
 * batch, wakes a leader for what is left over, runs the statement and
 * hands each request its rows. Without the bound on running batches a
 * quick server answered each pass's one or two logins on a link of its
 * own and the batches stayed small. Beyond 8 accounts a statement cost
 * PostgreSQL more per account again (BENCHMARKS.md). */
#define LOGIN_BATCH_MAX 8
#define LOGIN_BATCHES_RUNNING 2

typedef struct login_req {
    const char *email;
    store_user *out;
    store_sync_builder *b;
    fiber *f;
    store_rc rc;
    int done, lead;
    char err[sizeof((struct store *)0)->err];
    struct login_req *next;
} login_req;

/* The e-mails as a PostgreSQL array literal, each quoted; NULL when out
 * of memory. */
static char *email_array(login_req *const *q, int n) {
    size_t cap = 3;
    for (int i = 0; i < n; i++) cap += 2 * strlen(q[i]->email) + 3;
    char *a = malloc(cap), *p = a;
    if (!a) return NULL;
    *p++ = '{';
    for (int i = 0; i < n; i++) {
        if (i) *p++ = ',';
        *p++ = '"';
        for (const char *c = q[i]->email; *c; c++) {
            if (*c == '"' || *c == '\\') *p++ = '\\';
            *p++ = *c;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return a;
}

/* The id of the account row (kind 0) for email in a batch's result, 0 if
 * none; owners[i] is row i's account. */
static int64_t batch_account(PGresult *r, const int64_t *owners, const char *email) {
    _Static_assert(SYNC_USER == 0, "the account row's kind is \"0\"");
    for (int i = 0; i < PQntuples(r); i++) {
        const char *kind = PQgetvalue(r, i, 1);
        if (kind[0] == '0' && !kind[1] && !PQgetisnull(r, i, 3) && strcmp(PQgetvalue(r, i, 3), email) == 0)
            return owners[i];
    }
    return 0;
}

/* The login read of requests q[0..n): the accounts by e-mail with their
 * passwords and snapshots, in one round trip on the current link (each
 * e-mail looked up once, on users' e-mail index, and the branches read
 * the id found). Sets each request's rc (and err). */
static void login_read(pg_store *s, login_req *const *q, int n) {
    PGresult *r = NULL;
    char *arr = ensure_conn(s) == 0 ? email_array(q, n) : NULL;
    if (arr) {
        const char *p[1] = {arr};
        r = run(s, SYNC_SQL_COLS("me.id, ", "email = ANY($1::text[])", "me.password"), 1, p);
        free(arr);
    } else if (s->cur->conn) {
        set_err(s, "out of memory");
    }
    /* each row's account, read once */
    int64_t *owners = r ? malloc(((size_t)PQntuples(r) + 1) * sizeof *owners) : NULL;
    if (r && !owners) {
        set_err(s, "out of memory");
        PQclear(r);
        r = NULL;
    }
    for (int i = 0; r && i < PQntuples(r); i++) owners[i] = pg_int(PQgetvalue(r, i, 0));
    for (int i = 0; i < n; i++) {
        int64_t id = r ? batch_account(r, owners, q[i]->email) : 0;
        q[i]->rc = !r ? STORE_ERROR : id ? sync_result(s, r, owners, id, q[i]->b, q[i]->out) : STORE_NOTFOUND;
        if (q[i]->rc == STORE_ERROR) snprintf(q[i]->err, sizeof q[i]->err, "%s", s->base.err);
    }
    free(owners);
    PQclear(r);
}

/* Off a fiber (admin commands, tests): one account, on the blocking link. */
static store_rc pg_login_rows(store *base, const char *email, store_user *out, store_sync_builder *b) {
    login_req one = {.email = email, .out = out, .b = b};
    login_req *q = &one;
    login_read(S(base), &q, 1);
    return one.rc;
}
/* clang-format off */
PG_LEASED(store_rc, login_rows, STORE_ERROR, (store *base, const char *email, store_user *out, store_sync_builder *b),
          (base, email, out, b))
/* clang-format on */

/* Run by the batch's leader, the first waiting request. */
static void login_batch_run(pg_store *s) {
    s->batches_running++;
    int leased = lease(s) == 0;
    pg_link *l = s->cur;
    login_req *q[LOGIN_BATCH_MAX];
    int n = 0;
    while (s->batch_head && n < LOGIN_BATCH_MAX) {
        q[n++] = s->batch_head;
        s->batch_head = s->batch_head->next;
    }
    s->batch_led = s->batch_head != NULL;
    if (!s->batch_head) s->batch_tail = NULL;
    else {
        s->batch_head->lead = 1; /* what is left over gets a leader of its own */
        fiber_wake(s->batch_head->f);
    }
    if (leased) {
        login_read(s, q, n);
        lease_end(s, l);
    }
    for (int i = 0; i < n; i++) {
        if (!leased) {
            q[i]->rc = STORE_ERROR;
            snprintf(q[i]->err, sizeof q[i]->err, "%s", s->base.err);
        }
        q[i]->done = 1;
        if (i > 0) fiber_wake(q[i]->f); /* q[0] is the leader, running this */
    }
    s->batches_running--;
    if (s->batch_held) fiber_wake(s->batch_held);
}

static store_rc batched_login_rows(store *base, const char *email, store_user *out, store_sync_builder *b) {
    pg_store *s = S(base);
    if (!fiber_current()) return leased_login_rows(base, email, out, b);
    login_req q;
    memset(&q, 0, sizeof q);
    q.email = email;
    q.out = out;
    q.b = b;
    q.f = fiber_current();
    if (s->batch_tail) s->batch_tail->next = &q;
    else s->batch_head = &q;
    s->batch_tail = &q;
    if (!s->batch_led) s->batch_led = q.lead = 1;
    while (!q.done) {
        if (!q.lead) {
            fiber_park();
            continue;
        }
        q.lead = 0;
        fiber_yield();
        /* With LOGIN_BATCHES_RUNNING batches on their way the next one
         * waits for one of them to end, and grows meanwhile. */
        while (s->batches_running >= LOGIN_BATCHES_RUNNING) {
            s->batch_held = q.f;
            fiber_park();
            s->batch_held = NULL;
        }
        login_batch_run(s);
    }
    if (q.rc == STORE_ERROR) snprintf(s->base.err, sizeof s->base.err, "%s", q.err);
    return q.rc;
}

/* Some connection is up (or not yet known lost): a call need not connect. */
static int pg_reachable(store *base) {
    pg_store *s = S(base);
    if (s->sync.conn || s->listen.conn) return 1;
    for (size_t i = 0; i < POOL_LINKS; i++)
        if (s->pool[i].conn) return 1;
    return 0;
}

static const store_ops pg_ops = {
    .name = "postgresql",
    .waits_on_fibers = 1,
    .close = pg_close,
    .read_begin = pg_read_begin,
    .read_end = pg_read_end,
    .generation = pg_generation,
    .generation_of = pg_generation_of,
    .reachable = pg_reachable,
    .use_loop = pg_use_loop,
    .user_add = leased_user_add,
    .user_passwd = leased_user_passwd,
    .user_del = leased_user_del,
    .user_get = leased_user_get,
    .user_get_id = leased_user_get_id,
    .users_gone = leased_users_gone,
    .user_each = leased_user_each,
    .set_name = leased_set_name,
    .set_blp = leased_set_blp,
    .set_gtc = leased_set_gtc,
    .list_each = leased_list_each,
    .list_count = leased_list_count,
    .list_get = leased_list_get,
    .list_rename = leased_list_rename,
    .watchers_each = leased_watchers_each,
    .contacts_each = leased_contacts_each,
    .group_each = leased_group_each,
    .group_count = leased_group_count,
    .group_exists = leased_group_exists,
    .group_del = leased_group_del,
    .group_rename = leased_group_rename,
    .prop_set = leased_prop_set,
    .sync_rows = leased_sync_rows,
    .login_rows = batched_login_rows,
    .counts = pg_counts,
    .has_accounts = pg_has_accounts,
    .list_add = leased_list_add,
    .list_remove = leased_list_remove,
    .change_begin = pg_change_begin,
    .change_end = pg_change_end,
    .change_again = pg_change_again,
    .tx_group_count = pg_tx_group_count,
    .tx_group_next = pg_tx_group_next,
    .tx_group_insert = pg_tx_group_insert,
    .tx_bump = pg_tx_bump,
    .import_begin = pg_import_begin,
    .import_user = pg_import_user,
    .import_group = pg_import_group,
    .import_entry = pg_import_entry,
    .import_prop = pg_import_prop,
    .import_flush = pg_import_flush,
    .import_end = pg_import_end,
    .export_rows = pg_export_rows,
};
