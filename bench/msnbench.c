/* msnbench - load generator for msnd and other MSNP2-7 servers.
 *
 *   msnbench populate --db FILE --users N [--clique G] [--store msnd|escargot]   accounts + FL cliques
 *   msnbench login    --server H:P --users N ...          logins/s (log in, OUT, next)
 *   msnbench hold     --server H:P --users N ...          N sessions online, RSS per session
 *   msnbench presence --server H:P --users N --clique G   fan-out latency (closed + open loop)
 *   msnbench sb       --server H:P --pairs P --window W   switchboard relay (closed + open loop)
 *   msnbench lists    --server H:P --users N --clique G   list writes/s (ADD FL / REM FL, closed loop)
 *
 * --server is the dispatch server; with --no-dispatch it is the notification
 * server itself (USR MD5 I answered directly with the challenge), for other
 * MSNP7 servers. Switchboards are wherever XFR/RNG say they are.
 *
 * Logins are lock-step, as a real client does them: VER, CVR, USR MD5 I at
 * the DS, XFR NS, then VER, CVR, USR MD5 I, USR MD5 S at the NS, SYN and
 * CHG; a login is complete when CHG is echoed. CHL challenges are answered.
 *
 * Latencies go into log-bucket histograms (hist.h). Open-loop runs take each
 * message's latency from the moment it was scheduled, not sent, so a server
 * that stalls cannot hide its stall (no coordinated omission).
 *
 * Output: a readable report, or one JSON object with --json. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <msnp/msnp.h>

#include "hist.h"
#include "syscount.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* ------------------------------------------------------------------ options */

typedef struct options {
    const char *mode;
    char host[64];
    uint16_t port;
    int no_dispatch;
    const char *prefix;
    const char *domain;
    const char *password;
    const char *version_line; /* VER parameters */
    unsigned users, first, concurrency, clique, pairs, window, sources, payload, inflight;
    double duration;
    double keep;           /* hold: seconds to stay online after measuring */
    double count_syscalls; /* login, presence, sb: seconds of a closed-loop window with the server's system calls
                              counted, after the measured ones (0: none) */
    const char *fractions;
    const char *unbatched_fractions;
    const char *rates;
    long server_pid;
    const char *cpu_pids; /* server CPU: the sum over these (comma-separated) */
    long store_pid;       /* database server CPU: this process and its children */
    int json;
    int shuffle; /* presence: the users' first changes in a shuffled order */
    const char *db;
    const char *store; /* populate: "msnd" or "escargot" */
    char sb_host[64];  /* when set, every switchboard connection goes here */
    uint16_t sb_port;
    const char *label;
} options;

static options opt;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("msnbench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("msnbench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ------------------------------------------------------------ connections */

enum conn_kind { K_DS, K_NS, K_SB };

typedef struct user user;
typedef struct conn conn;

struct conn {
    int fd;
    enum conn_kind kind;
    user *u;
    struct event *rev, *wev;
    msnp_parser parser;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_len, out_cap;
    conn *next_dirty;
    uint8_t dirty, closing;
    char peer[80]; /* host:port, for messages */
};

enum login_state {
    L_IDLE,
    L_DS_VER,
    L_DS_CVR,
    L_DS_USR,
    L_NS_VER,
    L_NS_CVR,
    L_NS_USR_I,
    L_NS_USR_S,
    L_NS_SYNC,
    L_ONLINE,
    L_FAILED
};
enum sb_state { S_NONE, S_XFR, S_USR, S_CAL, S_WAIT_JOI, S_ANS, S_READY, S_FAILED };

#define RING 1024u

struct user {
    unsigned idx;
    char email[96];
    enum login_state ls;
    uint32_t trid;
    conn *ds, *ns, *sb;
    uint64_t t_login;
    uint32_t chg_trid;
    /* presence */
    uint8_t busy_status; /* current status: 0 NLN, 1 BSY */
    uint32_t pending;    /* watchers yet to see the last change */
    uint64_t t_change;
    /* lists: the user adds and removes one contact outside its clique */
    uint8_t has_contact; /* on its FL now */
    uint32_t list_trid;  /* of the write awaiting its answer, 0: none */
    /* switchboard */
    unsigned partner;
    uint8_t caller;
    enum sb_state ss;
    uint32_t sb_trid;
    uint32_t outstanding;
    uint64_t sent_at[RING];
    char sb_addr[128];
    char cookie[128];
    char sessid[64];
};

static struct event_base *base;
static user *users;
static unsigned nusers;
static conn *dirty_head;
static unsigned long open_conns;
static uint8_t *expected_payload;
static size_t expected_len;

typedef struct counters {
    uint64_t logins_ok, logins_failed, login_errors_by_code[1000];
    uint64_t conn_errors, unexpected;
    uint64_t chl_answered;
    uint64_t out_oth, out_other;
    /* presence */
    uint64_t changes_sent, changes_done, notifications, stale_notifications;
    /* lists */
    uint64_t writes_sent, writes_done, write_errors;
    /* switchboard */
    uint64_t sb_ready_pairs, sb_failed;
    uint64_t msgs_sent, msgs_relayed, acks, naks, corrupt, backlog_skips, sb_errors, byes;
} counters;
static counters cnt;
static hist h_login, h_lat;
/* The generator's own system calls, counted so a phase can say how many
 * writes and reads each message cost the client side. */
static uint64_t n_send_calls, n_recv_calls, n_loop_passes;
static int measuring; /* record presence/sb latencies only inside a measured phase */

static void conn_close(conn *c);
static void on_line(conn *c, const msnp_cmd *cmd);
static void on_conn_error(conn *c, const char *what, int err);

static void conn_flush(conn *c) {
    if (c->closing || c->out_len == 0) return;
    size_t off = 0;
    while (off < c->out_len) {
        ssize_t n = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL);
        n_send_calls++;
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN)) break;
        on_conn_error(c, "send", errno);
        return;
    }
    if (off) {
        memmove(c->out, c->out + off, c->out_len - off);
        c->out_len -= off;
    }
    if (c->out_len) event_add(c->wev, NULL);
}

static void flush_dirty(void) {
    while (dirty_head) {
        conn *c = dirty_head;
        dirty_head = c->next_dirty;
        c->dirty = 0;
        c->next_dirty = NULL;
        if (c->closing) {
            free(c);
            continue;
        }
        conn_flush(c);
    }
}

static void mark_dirty(conn *c) {
    if (!c->dirty) {
        c->dirty = 1;
        c->next_dirty = dirty_head;
        dirty_head = c;
    }
}

static void conn_write(conn *c, const void *data, size_t n) {
    if (c->closing) return;
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 512;
        while (cap < c->out_len + n) cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p) die("out of memory");
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, n);
    c->out_len += n;
    mark_dirty(c);
}

static void conn_printf(conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_printf(conn *c, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) die("command too long");
    conn_write(c, tmp, (size_t)n);
}

static void read_cb(evutil_socket_t fd, short what, void *arg) {
    conn *c = arg;
    (void)what;
    for (int round = 0; round < 4 && !c->closing; round++) {
        if (c->in_cap - c->in_len < 2048) {
            size_t cap = c->in_cap * 2;
            if (cap > (1u << 20)) {
                on_conn_error(c, "input buffer over 1 MiB", 0);
                return;
            }
            char *p = realloc(c->in, cap);
            if (!p) die("out of memory");
            c->in = p;
            c->in_cap = cap;
        }
        ssize_t n = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        n_recv_calls++;
        if (n == 0) {
            on_conn_error(c, "closed by server", 0);
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
            on_conn_error(c, "recv", errno);
            return;
        }
        c->in_len += (size_t)n;
        size_t off = 0;
        while (!c->closing) {
            msnp_cmd cmd;
            msnp_parse_error err;
            long r = msnp_parse(&c->parser, c->in + off, c->in_len - off, &cmd, &err);
            if (r > 0) {
                off += (size_t)r;
                on_line(c, &cmd);
            } else if (r == 0) {
                break;
            } else {
                note("framing error from server at byte %" PRIu64 ": %s", err.offset, err.what);
                on_conn_error(c, "framing error", 0);
                return;
            }
        }
        if (c->closing) return;
        if (off) {
            memmove(c->in, c->in + off, c->in_len - off);
            c->in_len -= off;
        }
        if ((size_t)n < c->in_cap - (c->in_len + (size_t)0)) return; /* drained */
    }
}

static void write_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    conn_flush(arg);
}

/* Why the last conn_open() returned NULL. */
static char open_error[160];

static conn *conn_open(user *u, enum conn_kind kind, const char *host, uint16_t port) {
    static unsigned rr;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(open_error, sizeof open_error, "socket: %s", strerror(errno));
        note("socket: %s (open connections: %lu)", strerror(errno), open_conns);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in dst;
    memset(&dst, 0, sizeof dst);
    dst.sin_family = AF_INET;
    dst.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &dst.sin_addr) != 1) {
        snprintf(open_error, sizeof open_error, "%s:%u: not an IPv4 address", host, port);
        note("not an IPv4 address: %s", host);
        close(fd);
        return NULL;
    }
    /* Several loopback source addresses, so more than one ephemeral port
     * range's worth of connections can reach one server port. */
    if (opt.sources > 1) {
        struct sockaddr_in src;
        memset(&src, 0, sizeof src);
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(0x7f000100u + 1u + (rr++ % opt.sources)); /* 127.0.1.x */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
            snprintf(open_error, sizeof open_error, "bind 127.0.1.x: %s", strerror(errno));
            note("bind 127.0.1.x: %s", strerror(errno));
            close(fd);
            return NULL;
        }
    }
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0 && errno != EINPROGRESS) {
        snprintf(open_error, sizeof open_error, "connect %s:%u: %s", host, port, strerror(errno));
        note("connect %s:%u: %s", host, port, strerror(errno));
        close(fd);
        return NULL;
    }
    conn *c = calloc(1, sizeof *c);
    if (!c) die("out of memory");
    c->fd = fd;
    c->kind = kind;
    c->u = u;
    snprintf(c->peer, sizeof c->peer, "%s:%u", host, port);
    c->in_cap = 4096;
    c->in = malloc(c->in_cap);
    if (!c->in) die("out of memory");
    msnp_parser_init(&c->parser, MSNP_FROM_SERVER, &msnp_default_limits);
    c->rev = event_new(base, fd, EV_READ | EV_PERSIST, read_cb, c);
    c->wev = event_new(base, fd, EV_WRITE, write_cb, c);
    event_add(c->rev, NULL);
    open_conns++;
    return c;
}

/* Frees at the next flush (callers up the stack may still hold c). */
static void conn_close(conn *c) {
    if (c->closing) return;
    c->closing = 1;
    event_free(c->rev);
    event_free(c->wev);
    close(c->fd);
    free(c->in);
    free(c->out);
    c->in = c->out = NULL;
    open_conns--;
    if (c->u) {
        if (c->u->ds == c) c->u->ds = NULL;
        if (c->u->ns == c) c->u->ns = NULL;
        if (c->u->sb == c) c->u->sb = NULL;
    }
    if (!c->dirty) {
        c->dirty = 1;
        c->next_dirty = dirty_head;
        dirty_head = c;
    }
}

/* ------------------------------------------------------------------ login */

static void login_done(user *u, int ok);
static void start_login(user *u);

/* What a login in state ls waits for. */
static const char *login_step(enum login_state ls) {
    switch (ls) {
    case L_DS_VER: return "VER at the DS";
    case L_DS_CVR: return "CVR at the DS";
    case L_DS_USR: return "USR MD5 I at the DS";
    case L_NS_VER: return "VER at the NS";
    case L_NS_CVR: return "CVR at the NS";
    case L_NS_USR_I: return "USR MD5 I at the NS";
    case L_NS_USR_S: return "USR MD5 S (the password) at the NS";
    case L_NS_SYNC: return "SYN and CHG at the NS";
    default: return NULL;
    }
}

/* The first failed login of the run: where, at which step, and why; and
 * the run's failed logins, warm-up included (cnt's are the measured ones). */
static char first_failure[512];
static uint64_t run_logins_failed;

static void login_failure(const conn *c, const user *u, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void login_failure(const conn *c, const user *u, const char *fmt, ...) {
    if (first_failure[0]) return;
    const char *step = login_step(u->ls);
    int n = snprintf(first_failure, sizeof first_failure, "%s, %s%s%s: ", u->email, step ? step : "login", c ? " " : "",
                     c ? c->peer : "");
    if (n < 0 || (size_t)n >= sizeof first_failure) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(first_failure + n, sizeof first_failure - (size_t)n, fmt, ap);
    va_end(ap);
}

static int split_hostport(msnp_str s, char *host, size_t cap, uint16_t *port) {
    msnp_str h;
    if (msnp_split_hostport(s, &h, port, 1) != 0 || h.n == 0 || h.n >= cap) return -1;
    memcpy(host, h.p, h.n);
    host[h.n] = '\0';
    if (strcmp(host, "localhost") == 0) snprintf(host, cap, "127.0.0.1");
    return 0;
}

static void start_login(user *u) {
    u->ls = L_IDLE;
    u->t_login = now_ns();
    u->trid = 0;
    if (opt.no_dispatch) {
        u->ns = conn_open(u, K_NS, opt.host, opt.port);
        if (!u->ns) {
            u->ls = L_NS_VER;
            login_failure(NULL, u, "%s", open_error);
            login_done(u, 0);
            return;
        }
        u->ls = L_NS_VER;
        conn_printf(u->ns, "VER %u %s\r\n", ++u->trid, opt.version_line);
    } else {
        u->ds = conn_open(u, K_DS, opt.host, opt.port);
        if (!u->ds) {
            u->ls = L_DS_VER;
            login_failure(NULL, u, "%s", open_error);
            login_done(u, 0);
            return;
        }
        u->ls = L_DS_VER;
        conn_printf(u->ds, "VER %u %s\r\n", ++u->trid, opt.version_line);
    }
}

static void send_cvr(conn *c, user *u) {
    conn_printf(c, "CVR %u 0x0409 winnt 5.1 i386 MSNMSGR 5.0.0540 MSMSGS %s\r\n", ++u->trid, u->email);
}

static void login_line(conn *c, user *u, const msnp_cmd *cmd) {
    switch (u->ls) {
    case L_DS_VER:
    case L_NS_VER:
        if (cmd->code != MSNP_VER || cmd->argc < 2 || msnp_str_eq(cmd->argv[1], "0")) goto bad;
        u->ls = u->ls == L_DS_VER ? L_DS_CVR : L_NS_CVR;
        send_cvr(c, u);
        return;
    case L_DS_CVR:
    case L_NS_CVR:
        if (cmd->code != MSNP_CVR) goto bad;
        u->ls = u->ls == L_DS_CVR ? L_DS_USR : L_NS_USR_I;
        conn_printf(c, "USR %u MD5 I %s\r\n", ++u->trid, u->email);
        return;
    case L_DS_USR: {
        char host[64];
        uint16_t port;
        if (cmd->code == MSNP_USR && cmd->argc >= 4 && msnp_str_eq(cmd->argv[2], "S")) {
            /* a DS that is also an NS: go on here */
            u->ls = L_NS_USR_I;
            c->kind = K_NS;
            u->ns = c;
            u->ds = NULL;
            login_line(c, u, cmd);
            return;
        }
        if (cmd->code != MSNP_XFR || cmd->argc < 3 || !msnp_str_eq(cmd->argv[1], "NS") ||
            split_hostport(cmd->argv[2], host, sizeof host, &port) != 0)
            goto bad;
        conn_close(c);
        u->ns = conn_open(u, K_NS, host, port);
        if (!u->ns) {
            u->ls = L_NS_VER;
            login_failure(NULL, u, "the NS the DS named: %s", open_error);
            login_done(u, 0);
            return;
        }
        u->ls = L_NS_VER;
        conn_printf(u->ns, "VER %u %s\r\n", ++u->trid, opt.version_line);
        return;
    }
    case L_NS_USR_I: {
        if (cmd->code != MSNP_USR || cmd->argc < 4 || !msnp_str_eq(cmd->argv[2], "S")) goto bad;
        char answer[MSNP_MD5_HEX_LEN + 1];
        msnp_login_response(cmd->argv[3], msnp_str_c(opt.password), answer);
        u->ls = L_NS_USR_S;
        conn_printf(c, "USR %u MD5 S %s\r\n", ++u->trid, answer);
        return;
    }
    case L_NS_USR_S:
        if (cmd->code != MSNP_USR || cmd->argc < 2 || !msnp_str_eq(cmd->argv[1], "OK")) goto bad;
        u->ls = L_NS_SYNC;
        conn_printf(c, "SYN %u 0\r\n", ++u->trid);
        u->chg_trid = ++u->trid;
        conn_printf(c, "CHG %u NLN\r\n", u->chg_trid);
        return;
    case L_NS_SYNC:
        if (cmd->code == MSNP_CHG && cmd->has_trid && cmd->trid == u->chg_trid) {
            u->ls = L_ONLINE;
            u->busy_status = 0;
            login_done(u, 1);
        } else if (cmd->is_error) {
            goto bad;
        } else if (cmd->code == MSNP_LST && cmd->argc >= 6 && msnp_str_eq(cmd->argv[1], "FL") && nusers > opt.clique) {
            /* LST t FL ver i n email ...: whether the lists mode's contact
             * is on the FL already (a run before this one left it there) */
            const char *k = users[(u->idx + opt.clique) % nusers].email;
            if (msnp_str_eq(cmd->argv[5], k)) u->has_contact = 1;
        }
        return; /* SYN, GTC, BLP, LST, ILN ... */
    default: return;
    }
bad:
    login_failure(c, u, "%s '%.*s'", cmd->is_error ? "refused with" : "unexpected answer", (int)cmd->line.n,
                  cmd->line.p);
    if (cmd->is_error) {
        unsigned code = (unsigned)atoi(cmd->name);
        if (code < 1000) cnt.login_errors_by_code[code]++;
    } else {
        cnt.unexpected++;
        if (cnt.unexpected <= 3) note("unexpected during login of %s: %.*s", u->email, (int)cmd->line.n, cmd->line.p);
    }
    conn_close(c);
    login_done(u, 0);
}

/* ----------------------------------------------------------- switchboard */

static void sb_ready(user *u);
static void send_msg(user *u, uint64_t scheduled);
static int sb_closed_mode;
static uint32_t sb_window;

static void sb_fail(user *u, const char *why) {
    if (u->ss != S_FAILED) {
        cnt.sb_failed++;
        if (cnt.sb_failed <= 3) note("switchboard set-up failed for %s: %s", u->email, why);
    }
    u->ss = S_FAILED;
}

/* Open the switchboard connection an XFR or RNG named, keeping its cookie. */
static int sb_connect(user *u, msnp_str addr, msnp_str cookie, const char *bad_addr) {
    char host[64];
    uint16_t port;
    if (split_hostport(addr, host, sizeof host, &port) != 0) {
        sb_fail(u, bad_addr);
        return -1;
    }
    msnp_str_copy(cookie, u->cookie, sizeof u->cookie);
    /* a server that names its public host name in XFR/RNG is reached on
     * loopback through --sb-server (no name is ever resolved) */
    if (opt.sb_host[0]) u->sb = conn_open(u, K_SB, opt.sb_host, opt.sb_port);
    else u->sb = conn_open(u, K_SB, host, port);
    if (!u->sb) {
        sb_fail(u, "connect");
        return -1;
    }
    return 0;
}

static void sb_line(conn *c, user *u, const msnp_cmd *cmd) {
    uint64_t t = now_ns();
    switch (cmd->code) {
    case MSNP_MSG:
        cnt.msgs_relayed++;
        if (cmd->payload.n != expected_len || memcmp(cmd->payload.p, expected_payload, expected_len) != 0)
            cnt.corrupt++;
        return;
    case MSNP_ACK:
    case MSNP_NAK:
        if (cmd->code == MSNP_ACK) cnt.acks++;
        else cnt.naks++;
        if (u->outstanding) u->outstanding--;
        if (measuring && cmd->has_trid) hist_record(&h_lat, t - u->sent_at[cmd->trid % RING]);
        if (sb_closed_mode && u->outstanding < sb_window) send_msg(u, t);
        return;
    case MSNP_USR:
        if (u->ss == S_USR && cmd->argc >= 2 && msnp_str_eq(cmd->argv[1], "OK")) {
            u->ss = S_CAL;
            conn_printf(c, "CAL %u %s\r\n", ++u->sb_trid, users[u->partner].email);
        }
        return;
    case MSNP_CAL:
        if (u->ss == S_CAL && cmd->argc >= 2 && msnp_str_eq(cmd->argv[1], "RINGING")) u->ss = S_WAIT_JOI;
        return;
    case MSNP_JOI:
        if (u->ss == S_WAIT_JOI) sb_ready(u);
        return;
    case MSNP_IRO: return;
    case MSNP_ANS:
        if (u->ss == S_ANS && cmd->argc >= 2 && msnp_str_eq(cmd->argv[1], "OK")) sb_ready(u);
        return;
    case MSNP_BYE: cnt.byes++; return;
    default:
        if (cmd->is_error) {
            cnt.sb_errors++;
            if (cnt.sb_errors <= 3) note("switchboard error for %s: %.*s", u->email, (int)cmd->line.n, cmd->line.p);
            if (u->ss != S_READY) sb_fail(u, "error reply");
        }
        return;
    }
}

static void change_complete(user *w);

static void list_write_answered(user *u, const msnp_cmd *cmd);

/* NS lines once online: presence, ringing, XFR answers, challenges, list
 * writes' answers. */
static void ns_online_line(conn *c, user *u, const msnp_cmd *cmd) {
    if (u->list_trid && cmd->has_trid && cmd->trid == u->list_trid) {
        list_write_answered(u, cmd);
        return;
    }
    switch (cmd->code) {
    case MSNP_NLN: {
        /* NLN STATUS email name */
        if (cmd->argc < 2) return;
        msnp_str em = cmd->argv[1];
        size_t pl = strlen(opt.prefix);
        if (em.n <= pl || memcmp(em.p, opt.prefix, pl) != 0) return;
        unsigned idx = 0;
        size_t i = pl;
        while (i < em.n && em.p[i] >= '0' && em.p[i] <= '9') idx = idx * 10u + (unsigned)(em.p[i++] - '0');
        if (idx < opt.first || idx - opt.first >= nusers) return;
        user *w = &users[idx - opt.first];
        int status_busy = msnp_str_eq(cmd->argv[0], "BSY");
        if (w->pending && status_busy == (int)w->busy_status) {
            cnt.notifications++;
            if (measuring) hist_record(&h_lat, now_ns() - w->t_change);
            if (--w->pending == 0) change_complete(w);
        } else {
            cnt.stale_notifications++;
        }
        return;
    }
    case MSNP_XFR: {
        if (u->ss != S_XFR || cmd->argc < 5 || !msnp_str_eq(cmd->argv[1], "SB")) {
            sb_fail(u, "bad XFR reply");
            return;
        }
        if (sb_connect(u, cmd->argv[2], cmd->argv[4], "XFR address") != 0) return;
        u->ss = S_USR;
        conn_printf(u->sb, "USR %u %s %s\r\n", ++u->sb_trid, u->email, u->cookie);
        return;
    }
    case MSNP_RNG: {
        /* RNG sessid host:port CKI cookie caller-email caller-name */
        if (cmd->argc < 4 || u->ss != S_NONE) return;
        if (sb_connect(u, cmd->argv[1], cmd->argv[3], "RNG address") != 0) return;
        msnp_str_copy(cmd->argv[0], u->sessid, sizeof u->sessid);
        u->ss = S_ANS;
        conn_printf(u->sb, "ANS %u %s %s %s\r\n", ++u->sb_trid, u->email, u->cookie, u->sessid);
        return;
    }
    case MSNP_CHL: {
        if (cmd->argc < 2) return;
        char answer[MSNP_MD5_HEX_LEN + 1];
        if (msnp_chl_response(cmd->argv[1], msnp_str_c(MSNP_CHL_CLIENT_ID), answer) != 0) return;
        conn_printf(c, "QRY %u %s %d\r\n%s", ++u->trid, MSNP_CHL_CLIENT_ID, MSNP_MD5_HEX_LEN, answer);
        cnt.chl_answered++;
        return;
    }
    case MSNP_OUT:
        if (cmd->argc >= 1 && msnp_str_eq(cmd->argv[0], "OTH")) cnt.out_oth++;
        else cnt.out_other++;
        return;
    default:
        if (cmd->is_error && u->ss == S_XFR) sb_fail(u, "XFR refused");
        return;
    }
}

static void on_line(conn *c, const msnp_cmd *cmd) {
    user *u = c->u;
    if (c->kind == K_SB) {
        sb_line(c, u, cmd);
        return;
    }
    if (cmd->code == MSNP_CHL || (u->ls == L_ONLINE)) {
        ns_online_line(c, u, cmd);
        return;
    }
    login_line(c, u, cmd);
}

static void on_conn_error(conn *c, const char *what, int err) {
    user *u = c->u;
    cnt.conn_errors++;
    if (cnt.conn_errors <= 5)
        note("%s connection of %s: %s%s%s",
             c->kind == K_DS       ? "DS"
                 : c->kind == K_NS ? "NS"
                                   : "SB",
             u ? u->email : "?", what, err ? ": " : "", err ? strerror(err) : "");
    enum conn_kind kind = c->kind;
    if (u && kind != K_SB && login_step(u->ls))
        login_failure(c, u, "%s%s%s", what, err ? ": " : "", err ? strerror(err) : "");
    conn_close(c);
    if (!u) return;
    if (kind == K_SB) {
        if (u->ss != S_READY) sb_fail(u, what);
        return;
    }
    if (u->ls != L_ONLINE && u->ls != L_FAILED && u->ls != L_IDLE) login_done(u, 0);
    else if (u->ls == L_ONLINE) u->ls = L_FAILED;
}

/* ------------------------------------------------------------ run control */

static uint64_t phase_deadline;
static struct event *tick_ev;
static void (*tick_hook)(void);

static void tick_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    if (arg == NULL && tick_hook) tick_hook();
}

/* Run the loop until done() or the deadline; returns 1 if done. */
static int run_until(int (*done)(void), double seconds) {
    uint64_t deadline = now_ns() + (uint64_t)(seconds * 1e9);
    phase_deadline = deadline;
    flush_dirty();
    while (!done()) {
        if (now_ns() >= deadline) return 0;
        event_base_loop(base, EVLOOP_ONCE);
        n_loop_passes++;
        flush_dirty();
    }
    flush_dirty();
    return 1;
}

static long rss_kib(const char *field) {
    if (opt.server_pid <= 0) return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", opt.server_pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            v = atol(line + fl + 1);
            break;
        }
    fclose(f);
    return v;
}

/* ------------------------------------------------------------ login modes */

static unsigned next_login, logins_in_flight, logins_finished, logins_target;
static unsigned next_user; /* where the search for an account to log in goes on */
static int churn;          /* log out right after logging in */

/* The next account (round the users) not in the middle of a login, or NULL
 * if every one is: with --users near --concurrency, an account's slow
 * login would otherwise be started again over it, and the server would
 * see one account log in twice at once. */
static user *next_free_user(void) {
    for (unsigned k = 0; k < nusers; k++) {
        user *v = &users[next_user++ % nusers];
        if (v->ls == L_IDLE || v->ls == L_FAILED) return v;
    }
    return NULL;
}

static void start_logins(void) {
    while (logins_in_flight < opt.concurrency && next_login < logins_target) {
        user *v = next_free_user();
        if (!v) return;
        next_login++;
        logins_in_flight++;
        start_login(v);
    }
}

static void login_done(user *u, int ok) {
    if (u->ls == L_FAILED && !ok) return;
    logins_in_flight--;
    logins_finished++;
    if (ok) {
        cnt.logins_ok++;
        hist_record(&h_login, now_ns() - u->t_login);
        if (churn) {
            conn_write(u->ns, "OUT\r\n", 5);
            conn_flush(u->ns);
            conn_close(u->ns);
            u->ls = L_IDLE;
        }
    } else {
        cnt.logins_failed++;
        run_logins_failed++;
        u->ls = L_FAILED;
        if (u->ds) conn_close(u->ds);
        if (u->ns) conn_close(u->ns);
        /* A server that refuses at once fails each next login inside the
         * same flush: past the deadline, start no more, or that chain runs
         * until the batch's count, far beyond --duration. */
        if (now_ns() >= phase_deadline) return;
    }
    start_logins();
}

static int logins_all_done(void) { return logins_finished >= logins_target; }

static void login_batch(unsigned count, int do_churn) {
    churn = do_churn;
    next_login = 0;
    next_user = 0;
    logins_finished = 0;
    logins_in_flight = 0;
    logins_target = count;
    start_logins();
}

/* On standard error, what kept logins from completing: the failed ones
 * (how many, and the first one's server, step and reason) and, with
 * waiting, those still without an answer and the step most of them wait
 * at. */
static void say_login_trouble(int waiting) {
    if (run_logins_failed) note("%" PRIu64 " logins failed; the first: %s", run_logins_failed, first_failure);
    if (!waiting) return;
    unsigned at[L_FAILED + 1] = {0}, total = 0, most = 0;
    for (unsigned i = 0; i < nusers; i++)
        if (login_step(users[i].ls)) {
            at[users[i].ls]++;
            total++;
            if (at[users[i].ls] > at[most]) most = (unsigned)users[i].ls;
        }
    if (!total) return;
    const char *peer = "";
    for (unsigned i = 0; i < nusers && !peer[0]; i++)
        if ((unsigned)users[i].ls == most) {
            const conn *c = users[i].ns ? users[i].ns : users[i].ds;
            if (c) peer = c->peer;
        }
    note("%u logins still under way at the end, %u of them waiting for %s%s%s", total, at[most],
         login_step((enum login_state)most), peer[0] ? " " : "", peer);
}

static void print_hist_json(const char *name, const hist *h) {
    if (!h->count) { /* no percentiles of nothing */
        printf("\"%s\":{\"count\":0,\"p50_us\":null,\"p90_us\":null,\"p99_us\":null,\"p999_us\":null,"
               "\"max_us\":null,\"mean_us\":null}",
               name);
        return;
    }
    printf("\"%s\":{\"count\":%" PRIu64 ",\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
           "\"max_us\":%.1f,\"mean_us\":%.1f}",
           name, h->count, (double)hist_quantile(h, 0.5) / 1e3, (double)hist_quantile(h, 0.9) / 1e3,
           (double)hist_quantile(h, 0.99) / 1e3, (double)hist_quantile(h, 0.999) / 1e3, (double)h->max / 1e3,
           hist_mean(h) / 1e3);
}

/* CPU seconds of a process (utime + stime); with reaped, also those of
 * its children it has waited for (cutime + cstime). -1 if unknown. With
 * sys, the system part alone goes there too (the kernel's share, which on
 * loopback includes the peer's TCP receive run inside each send): one
 * read of /proc gives both. */
static double proc_cpu_s(long pid, int reaped, double *sys) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    if (!p) return -1;
    unsigned long ut = 0, st = 0;
    long cut = 0, cst = 0;
    /* fields after the command: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
     * cutime cstime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld", &ut, &st, &cut, &cst) != 4)
        return -1;
    double hz = (double)sysconf(_SC_CLK_TCK);
    if (sys) *sys = ((double)st + (reaped ? (double)cst : 0)) / hz;
    return ((double)(ut + st) + (reaped ? (double)(cut + cst) : 0)) / hz;
}

/* --cpu-pids: the sum over the listed processes; else --server-pid. sys
 * (may be NULL) as for proc_cpu_s. */
static double server_cpu_s(double *sys) {
    if (!opt.cpu_pids) return opt.server_pid > 0 ? proc_cpu_s(opt.server_pid, 0, sys) : -1;
    double sum = 0, sys_sum = 0;
    for (const char *q = opt.cpu_pids; *q;) {
        char *end;
        long pid = strtol(q, &end, 10);
        if (end == q) break;
        double one_sys = 0, t = proc_cpu_s(pid, 0, &one_sys);
        if (t < 0) return -1;
        sum += t;
        sys_sum += one_sys;
        q = *end == ',' ? end + 1 : end;
    }
    if (sys) *sys = sys_sum;
    return sum;
}

/* --store-pid: the database server (PostgreSQL's postmaster): itself, the
 * backends it has reaped and those still running (its children now). */
static double store_cpu_s(void) {
    if (opt.store_pid <= 0) return -1;
    double sum = proc_cpu_s(opt.store_pid, 1, NULL);
    if (sum < 0) return -1;
    char path[80];
    snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", opt.store_pid, opt.store_pid);
    FILE *f = fopen(path, "r");
    if (!f) return sum;
    long child;
    while (fscanf(f, "%ld", &child) == 1) {
        double t = proc_cpu_s(child, 1, NULL);
        if (t > 0) sum += t; /* a backend gone meanwhile is counted once reaped */
    }
    fclose(f);
    return sum;
}

static double server_cpu_at_start;

/* --count-syscalls: one more closed-loop window after the measured ones,
 * with the server's system calls counted by the kernel. Counting slows
 * every system call on the machine (syscount.h), so the windows whose CPU
 * time is reported do not count. */
static syscount server_calls;

typedef struct syscall_window {
    int asked; /* --count-syscalls was given */
    double seconds;
    uint64_t ops;
    int64_t calls; /* -1: not counted, why says why */
    char why[256];
} syscall_window;

/* Starts counting: 0, or -1 with w->why set (and said on stderr). */
static int syscall_window_open(syscall_window *w) {
    w->asked = 1;
    w->calls = -1;
    if (opt.server_pid <= 0) snprintf(w->why, sizeof w->why, "no --server-pid to count");
    else if (syscount_open(&server_calls, opt.server_pid, w->why, sizeof w->why) == 0) return 0;
    note("not counting the server's system calls: %s", w->why);
    return -1;
}

static void syscall_window_close(syscall_window *w, double seconds, uint64_t ops, int64_t calls) {
    syscount_close(&server_calls);
    w->seconds = seconds;
    w->ops = ops;
    w->calls = calls;
    if (calls < 0) snprintf(w->why, sizeof w->why, "reading the counters failed");
}

static void print_json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') putchar('\\');
        if ((unsigned char)*s >= 0x20) putchar(*s);
    }
    putchar('"');
}

static double syscall_window_per_op(const syscall_window *w) {
    return w->ops ? (double)w->calls / (double)w->ops : -1.0;
}

/* ,"syscalls":{...}: the window's operations and the server's system calls per operation. */
static void print_syscall_window_json(const syscall_window *w) {
    if (!w->asked) return;
    if (w->calls < 0) {
        printf(",\"syscalls\":{\"available\":false,\"reason\":");
        print_json_string(w->why);
        printf("}");
        return;
    }
    printf(",\"syscalls\":{\"seconds\":%.2f,\"ops\":%" PRIu64 ",\"server_syscalls\":%" PRId64 ",\"per_op\":%.2f}",
           w->seconds, w->ops, w->calls, syscall_window_per_op(w));
}

static void print_syscall_window_line(const syscall_window *w, const char *op) {
    if (!w->asked) return;
    if (w->calls < 0) printf("server system calls: not counted (%s)\n", w->why);
    else
        printf("server system calls: %.2f per %s (%" PRId64 " in a %.2f s window of their own, %" PRIu64 " %ss)\n",
               syscall_window_per_op(w), op, w->calls, w->seconds, w->ops, op);
}

static void print_errors_json(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double self_cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
        (double)ru.ru_stime.tv_usec / 1e6;
    double scpu = server_cpu_s(NULL);
    /* the whole run's, warm-up and every window included: not "server_cpu_s",
     * which a login run's object has for its measured window */
    printf("\"run_client_cpu_s\":%.2f,\"run_server_cpu_s\":%.2f,\"client_max_rss_kib\":%ld,", self_cpu,
           scpu >= 0 ? scpu - server_cpu_at_start : -1.0, ru.ru_maxrss);
    printf("\"errors\":{\"logins_failed\":%" PRIu64 ",\"conn_errors\":%" PRIu64 ",\"unexpected\":%" PRIu64
           ",\"out_oth\":%" PRIu64 ",\"codes\":{",
           cnt.logins_failed, cnt.conn_errors, cnt.unexpected, cnt.out_oth);
    int first = 1;
    for (unsigned i = 0; i < 1000; i++)
        if (cnt.login_errors_by_code[i]) {
            printf("%s\"%u\":%" PRIu64, first ? "" : ",", i, cnt.login_errors_by_code[i]);
            first = 0;
        }
    printf("}}");
}

/* Nobody (or too few) came online, so there is nothing to measure: exit 1
 * with the reason on standard error and, with --json, one object that
 * says so (a consumer of --json never reads an empty output), with the
 * mode's counts as far as they went (counts: JSON members, no comma
 * around them) and the login errors. */
static void die_unmeasured(const char *why, const char *counts) __attribute__((noreturn));
static void die_unmeasured(const char *why, const char *counts) {
    if (opt.json) {
        printf("{\"mode\":\"%s\",\"label\":", opt.mode);
        print_json_string(opt.label);
        printf(",\"error\":");
        print_json_string(why);
        printf(",%s,", counts);
        print_errors_json();
        printf("}\n");
    }
    die("%s", why);
}

static int mode_login(void) {
    /* a short warm-up so the first connections' costs are not counted */
    login_batch(opt.concurrency < 64 ? opt.concurrency : 64, 1);
    run_until(logins_all_done, opt.duration < 30 ? opt.duration : 30);
    memset(&cnt, 0, sizeof cnt);
    hist_init(&h_login);
    double sys0 = -1, cpu0 = server_cpu_s(&sys0), store0 = store_cpu_s();
    uint64_t t0 = now_ns();
    login_batch(opt.users * 1000u, 1); /* bounded by --duration */
    int complete = run_until(logins_all_done, opt.duration);
    double secs = (double)(now_ns() - t0) / 1e9;
    double sys1 = -1, cpu1 = server_cpu_s(&sys1), store1 = store_cpu_s();
    double server_cpu = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1,
           server_sys = cpu0 >= 0 && cpu1 >= 0 ? sys1 - sys0 : -1,
           store_cpu = store0 >= 0 && store1 >= 0 ? store1 - store0 : -1;
    (void)complete;
    uint64_t logins = cnt.logins_ok;
    if (!logins) note("no login completed at %s:%u in %.2f s", opt.host, opt.port, secs);
    say_login_trouble(!logins);
    double rate = (double)logins / secs;
    hist measured = h_login;
    /* the same logins go on, counted */
    syscall_window sw = {0};
    if (opt.count_syscalls > 0 && syscall_window_open(&sw) == 0) {
        int64_t c0 = syscount_read(&server_calls);
        uint64_t t1 = now_ns();
        run_until(logins_all_done, opt.count_syscalls);
        int64_t c1 = syscount_read(&server_calls);
        syscall_window_close(&sw, (double)(now_ns() - t1) / 1e9, cnt.logins_ok - logins,
                             c0 >= 0 && c1 >= 0 ? c1 - c0 : -1);
    }
    if (opt.json) {
        printf("{\"mode\":\"login\",\"label\":\"%s\",\"dispatch\":%s,\"concurrency\":%u,\"seconds\":%.2f,\"logins\":"
               "%" PRIu64 ",\"logins_per_s\":%.0f,\"challenges_answered\":%" PRIu64
               ",\"server_cpu_s\":%.2f,\"server_sys_cpu_s\":%.2f,\"store_cpu_s\":%.2f,",
               opt.label, opt.no_dispatch ? "false" : "true", opt.concurrency, secs, logins, rate, cnt.chl_answered,
               server_cpu, server_sys, store_cpu);
        print_hist_json("latency", &measured);
        print_syscall_window_json(&sw);
        printf(",");
        print_errors_json();
        printf("}\n");
    } else {
        printf("logins: %" PRIu64 " in %.2f s = %.0f logins/s (%s, %u in flight), failed %" PRIu64 "\n", logins, secs,
               rate, opt.no_dispatch ? "NS only" : "DS->NS", opt.concurrency, cnt.logins_failed);
        if (measured.count)
            printf("login latency p50 %.2f ms p99 %.2f ms\n", (double)hist_quantile(&measured, 0.5) / 1e6,
                   (double)hist_quantile(&measured, 0.99) / 1e6);
        else printf("login latency: no login completed\n");
        print_syscall_window_line(&sw, "login");
    }
    return cnt.logins_ok ? 0 : 1;
}

/* Logs everyone in and keeps them; returns number online. */
static unsigned hold_all(double *secs_out, long *rss_before, long *rss_after) {
    *rss_before = rss_kib("VmRSS");
    uint64_t t0 = now_ns();
    login_batch(nusers, 0);
    run_until(logins_all_done, opt.duration > 0 ? opt.duration * 6 : 120);
    /* let the server settle (CHL answers, queued output) */
    uint64_t settle = now_ns() + 300000000ull;
    while (now_ns() < settle) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        flush_dirty();
        usleep(1000);
    }
    *secs_out = (double)(now_ns() - t0) / 1e9;
    *rss_after = rss_kib("VmRSS");
    unsigned online = 0;
    for (unsigned i = 0; i < nusers; i++) online += users[i].ls == L_ONLINE;
    if (online < nusers) {
        note("%u of %u online at %s:%u", online, nusers, opt.host, opt.port);
        say_login_trouble(1);
    }
    return online;
}

static int never_done(void) { return 0; }

static int mode_hold(void) {
    double secs;
    long r0, r1;
    unsigned online = hold_all(&secs, &r0, &r1);
    /* --keep: stay online (answering the server) so another process can
     * look at the servers while every session is held. */
    if (opt.keep > 0) run_until(never_done, opt.keep);
    double per = (r0 >= 0 && r1 >= 0 && online) ? (double)(r1 - r0) * 1024.0 / online : -1;
    if (opt.json) {
        printf("{\"mode\":\"hold\",\"label\":\"%s\",\"users\":%u,\"online\":%u,\"seconds\":%.2f,\"rss_before_kib\":%ld,"
               "\"rss_after_kib\":%ld,\"rss_per_session_bytes\":%.0f,\"client_open_fds\":%lu,",
               opt.label, nusers, online, secs, r0, r1, per, open_conns);
        print_errors_json();
        printf("}\n");
    } else {
        printf("online: %u of %u in %.2f s; server RSS %ld -> %ld KiB = %.0f bytes per session\n", online, nusers, secs,
               r0, r1, per);
    }
    return online == nusers ? 0 : 1;
}

/* --------------------------------------------------------------- presence */

static unsigned *free_ring;
static unsigned free_head, free_tail, free_count;
static double open_rate;        /* slots per second */
static unsigned open_burst = 1; /* messages per slot, written together */
static int open_phase;          /* the running phase follows a schedule */
static uint64_t open_t0, open_issued, open_skipped, open_late;
static struct event *open_ev;
/* The generator's own timing error: actual write time minus scheduled time
 * of every open-loop message. A send this far behind its slot is "late". */
#define LATE_NS 1000000ull
static hist h_lag;

static void free_push(unsigned i) {
    free_ring[free_tail] = i;
    free_tail = (free_tail + 1) % (nusers + 1);
    free_count++;
}
static int free_pop(unsigned *i) {
    if (!free_count) return 0;
    *i = free_ring[free_head];
    free_head = (free_head + 1) % (nusers + 1);
    free_count--;
    return 1;
}

/* Every online user, in index order, free to make its first change or
 * write (presence and lists modes). */
static void queue_online_users(void) {
    free_ring = calloc(nusers + 1, sizeof *free_ring);
    if (!free_ring) die("out of memory");
    for (unsigned i = 0; i < nusers; i++)
        if (users[i].ls == L_ONLINE) free_push(i);
}

static unsigned watchers_of(unsigned i) {
    /* online members of the same clique */
    unsigned g = opt.clique;
    unsigned gidx = (i + opt.first) / g;
    unsigned lo = gidx * g, hi = lo + g, n = 0;
    for (unsigned k = lo; k < hi; k++) {
        if (k == i + opt.first || k < opt.first || k - opt.first >= nusers) continue;
        n += users[k - opt.first].ls == L_ONLINE;
    }
    return n;
}

static void issue_change(unsigned i, uint64_t scheduled) {
    user *u = &users[i];
    u->busy_status ^= 1;
    u->pending = watchers_of(i);
    u->t_change = scheduled;
    cnt.changes_sent++;
    conn_printf(u->ns, "CHG %u %s\r\n", ++u->trid, u->busy_status ? "BSY" : "NLN");
    if (u->pending == 0) change_complete(u);
}

static uint64_t closed_target_inflight;
static int closed_mode;

static void presence_closed_tick(void) {
    /* keep closed_target_inflight changes outstanding */
    while (cnt.changes_sent - cnt.changes_done < closed_target_inflight) {
        unsigned i;
        if (!free_pop(&i)) break;
        issue_change(i, now_ns());
    }
}

/* A user whose change has been seen by every watcher may change again. */
static void change_complete(user *w) {
    cnt.changes_done++;
    free_push(w->idx);
    if (closed_mode) presence_closed_tick();
}

/* Open loop: slot k is due at open_t0 + k / open_rate. Returns 1 and the
 * next due slot's scheduled time (latency is measured from it, so a stall
 * is not hidden), or 0 when no slot is due at `now`. */
static uint64_t open_slot_time(uint64_t k) { return open_t0 + (uint64_t)((double)k / open_rate * 1e9); }

static int open_next_slot(uint64_t now, uint64_t *sched) {
    uint64_t due = (uint64_t)((double)(now - open_t0) / 1e9 * open_rate) + 1;
    if (open_issued >= due) return 0;
    *sched = open_slot_time(open_issued);
    open_issued++;
    return 1;
}

/* Write what this tick issued (slots first..open_issued) now, then record
 * how far behind its schedule each write went out. Messages due in the same
 * tick for one connection leave in one write, as a client's socket would
 * coalesce them. */
static void open_tick_done(uint64_t first) {
    flush_dirty();
    uint64_t t = now_ns();
    for (uint64_t k = first; k < open_issued; k++) {
        uint64_t s = open_slot_time(k);
        uint64_t lag = t > s ? t - s : 0;
        for (unsigned b = 0; b < open_burst; b++) hist_record(&h_lag, lag);
        if (lag > LATE_NS) open_late += open_burst;
    }
}

/* The open-loop timer is armed for the next due slot, not left ticking:
 * a fixed 0.1 ms tick cost the generator a quarter of a CPU in wake-ups
 * even at 10 changes/s. Slots less than 0.1 ms apart go out together. */
#define OPEN_MIN_WAIT_NS 100000ull
static void arm_open_timer(void) {
    uint64_t next = open_slot_time(open_issued), t = now_ns();
    uint64_t wait = next > t ? next - t : 0;
    if (wait < OPEN_MIN_WAIT_NS) wait = OPEN_MIN_WAIT_NS;
    struct timeval tv = {(time_t)(wait / 1000000000ull), (suseconds_t)(wait % 1000000000ull / 1000)};
    event_add(open_ev, &tv);
}

static void open_timer_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    (void)arg;
    if (!tick_hook) return;
    tick_hook();
    arm_open_timer();
}

static void presence_open_tick(void) {
    uint64_t t = now_ns(), sched, first = open_issued;
    while (open_next_slot(t, &sched)) {
        unsigned i;
        if (!free_pop(&i)) {
            open_skipped++;
            continue;
        }
        issue_change(i, sched);
    }
    open_tick_done(first);
}

static int never(void) { return 0; }

static int drain_done(void) { return cnt.changes_done >= cnt.changes_sent; }

typedef struct phase_result {
    double offered, achieved, seconds;
    uint64_t count, skipped, issued, late;
    unsigned burst; /* open loop: messages per scheduled slot, one write */
    /* what the phase cost: CPU seconds of each side, the share of all CPUs
     * the machine spent busy (any process), the generator's system calls */
    double client_cpu_s, server_cpu_s, store_cpu_s, machine_busy;
    double server_sys_cpu_s; /* the kernel's share of server_cpu_s */
    uint64_t sends, recvs, loop_passes;
    /* times each process went to sleep waiting for input (voluntary context
     * switches): fewer per operation means more work per wake-up */
    long client_sleeps, server_sleeps;
    int64_t server_syscalls; /* -1 unless counted (--count-syscalls) */
    hist h, lag;
} phase_result;

static double self_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
        (double)ru.ru_stime.tv_usec / 1e6;
}

/* Busy and total jiffies of all CPUs (the "cpu" line of /proc/stat). */
static int machine_jiffies(double *busy, double *total) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7]);
    fclose(f);
    if (n < 5) return -1;
    double all = 0;
    for (int i = 0; i < 8; i++) all += (double)v[i];
    *total = all;
    *busy = all - (double)v[3] - (double)v[4]; /* minus idle and iowait */
    return 0;
}

/* The server's voluntary context switches, from /proc/PID/status; -1 if unknown. */
static long server_sleeps(void) {
    if (opt.server_pid <= 0) return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", opt.server_pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1) break;
    fclose(f);
    return v;
}

static long self_sleeps(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_nvcsw;
}

static struct {
    double client_cpu, server_cpu, server_sys, store_cpu, busy, total;
    uint64_t sends, recvs, passes;
    long client_sleeps, server_sleeps;
    int64_t server_syscalls;
} snap;

/* Start a measured phase driven by `hook` (called now and on every tick);
 * returns its start time. */
static uint64_t phase_start(void (*hook)(void)) {
    struct timeval tv = {0, 100}; /* open-loop scheduling resolution */
    hist_init(&h_lat);
    hist_init(&h_lag);
    measuring = 1;
    tick_hook = hook;
    if (!open_ev) open_ev = event_new(base, -1, 0, open_timer_cb, NULL);
    if (!open_ev) die("event_new failed");
    if (open_phase) event_add(open_ev, &tv);
    else event_add(tick_ev, &tv);
    snap.client_cpu = self_cpu_s();
    snap.server_cpu = server_cpu_s(&snap.server_sys);
    snap.store_cpu = store_cpu_s();
    if (machine_jiffies(&snap.busy, &snap.total) != 0) snap.total = -1;
    snap.sends = n_send_calls;
    snap.recvs = n_recv_calls;
    snap.passes = n_loop_passes;
    snap.client_sleeps = self_sleeps();
    snap.server_sleeps = server_sleeps();
    snap.server_syscalls = syscount_read(&server_calls);
    uint64_t t0 = now_ns();
    open_t0 = t0;
    open_issued = open_skipped = open_late = 0;
    return t0;
}

/* Stop the ticks; returns the phase's length in seconds. */
static double phase_stop(uint64_t t0, phase_result *pr) {
    double secs = (double)(now_ns() - t0) / 1e9;
    tick_hook = NULL;
    event_del(tick_ev);
    event_del(open_ev);
    pr->seconds = secs;
    pr->skipped = open_skipped;
    pr->issued = open_issued * open_burst;
    pr->late = open_late;
    pr->lag = h_lag;
    pr->client_cpu_s = self_cpu_s() - snap.client_cpu;
    double ssys = -1, scpu = server_cpu_s(&ssys);
    pr->server_cpu_s = scpu >= 0 && snap.server_cpu >= 0 ? scpu - snap.server_cpu : -1;
    pr->server_sys_cpu_s = scpu >= 0 && snap.server_cpu >= 0 ? ssys - snap.server_sys : -1;
    double dcpu = store_cpu_s();
    pr->store_cpu_s = dcpu >= 0 && snap.store_cpu >= 0 ? dcpu - snap.store_cpu : -1;
    double busy, total;
    pr->machine_busy = -1;
    if (snap.total >= 0 && machine_jiffies(&busy, &total) == 0 && total > snap.total)
        pr->machine_busy = (busy - snap.busy) / (total - snap.total);
    pr->sends = n_send_calls - snap.sends;
    pr->recvs = n_recv_calls - snap.recvs;
    pr->loop_passes = n_loop_passes - snap.passes;
    pr->client_sleeps = self_sleeps() - snap.client_sleeps;
    long ss = server_sleeps();
    pr->server_sleeps = ss >= 0 && snap.server_sleeps >= 0 ? ss - snap.server_sleeps : -1;
    int64_t calls = syscount_read(&server_calls);
    pr->server_syscalls = calls >= 0 && snap.server_syscalls >= 0 ? calls - snap.server_syscalls : -1;
    return secs;
}

static double *parse_list(const char *s, unsigned *n) {
    static double v[16];
    *n = 0;
    const char *p = s;
    while (p && *p && *n < 16) {
        v[(*n)++] = atof(p);
        p = strchr(p, ',');
        if (p) p++;
    }
    return v;
}

typedef void (*phase_runner)(void (*hook)(void), double seconds, phase_result *pr);

/* One open-loop phase per fraction of the closed-loop peak; returns how
 * many were run (at most 16). */
static unsigned run_open_phases(const char *fractions, const phase_result *peak, unsigned burst, phase_runner run,
                                void (*tick)(void), phase_result open[16]) {
    unsigned nf;
    double *fr = parse_list(fractions, &nf);
    for (unsigned k = 0; k < nf; k++) {
        double msg_rate = peak->achieved * fr[k];
        if (msg_rate < 1) msg_rate = 1;
        open_burst = burst ? burst : 1;
        open_rate = msg_rate / open_burst;
        open_phase = 1;
        run(tick, opt.duration, &open[k]);
        open_phase = 0;
        open[k].offered = msg_rate;
        open[k].burst = open_burst;
    }
    open_burst = 1;
    return nf;
}

/* changes_sent and changes_done count over all phases: the closed loop keeps
 * their difference at --inflight, and the drain after a phase waits until
 * they are equal, so each phase's last changes are timed in that phase. */
static void run_presence_phase(void (*hook)(void), double seconds, phase_result *pr) {
    uint64_t done0 = cnt.changes_done, notif0 = cnt.notifications;
    uint64_t t0 = phase_start(hook);
    hook();
    run_until(never, seconds);
    double secs = phase_stop(t0, pr);
    pr->count = cnt.notifications - notif0;
    pr->achieved = (double)(cnt.changes_done - done0) / secs;
    run_until(drain_done, 3);
    measuring = 0;
    pr->h = h_lat;
}

/* The closed loop: --inflight changes outstanding all the time. */
static void run_presence_closed(double seconds, phase_result *pr) {
    memset(pr, 0, sizeof *pr);
    closed_target_inflight = opt.inflight;
    closed_mode = 1;
    run_presence_phase(presence_closed_tick, seconds, pr);
    closed_mode = 0;
}

static void print_phase_json(const char *kind, const phase_result *pr, const char *unit) {
    printf("{\"kind\":\"%s\",\"offered_per_s\":%.0f,\"achieved_%s_per_s\":%.0f,\"count\":%" PRIu64
           ",\"skipped\":%" PRIu64 ",\"seconds\":%.2f,\"client_cpu_s\":%.2f,\"server_cpu_s\":%.2f,"
           "\"server_sys_cpu_s\":%.2f,\"store_cpu_s\":%.2f,"
           "\"machine_busy\":%.3f,\"client_sends\":%" PRIu64 ",\"client_recvs\":%" PRIu64
           ",\"client_loop_passes\":%" PRIu64 ",\"client_sleeps\":%ld,\"server_sleeps\":%ld,",
           kind, pr->offered, unit, pr->achieved, pr->count, pr->skipped, pr->seconds, pr->client_cpu_s,
           pr->server_cpu_s, pr->server_sys_cpu_s, pr->store_cpu_s, pr->machine_busy, pr->sends, pr->recvs,
           pr->loop_passes, pr->client_sleeps, pr->server_sleeps);
    print_hist_json("latency", &pr->h);
    if (pr->offered > 0) {
        printf(",\"burst\":%u,\"issued\":%" PRIu64 ",\"late_over_1ms\":%" PRIu64 ",", pr->burst, pr->issued, pr->late);
        print_hist_json("send_lag", &pr->lag);
    }
    printf("}");
}

/* One readable line per open-loop phase: achieved vs offered, the latency,
 * the generator's lag behind its schedule and what each side's CPU did. */
static void print_open_line(const phase_result *pr, const char *unit, const char *done) {
    printf("open loop %.0f %s/s offered: %.0f %s/s, p50 %.3f ms p99 %.3f ms; send lag p50 %.3f p99 %.3f max %.3f ms, "
           "late %" PRIu64 " of %" PRIu64 ", skipped %" PRIu64 "; cpu client %.0f %% server %.0f %% machine %.0f %%; "
           "client writes %" PRIu64 " reads %" PRIu64 "; sleeps client %ld server %ld\n",
           pr->offered, unit, pr->achieved, done, (double)hist_quantile(&pr->h, 0.5) / 1e6,
           (double)hist_quantile(&pr->h, 0.99) / 1e6, (double)hist_quantile(&pr->lag, 0.5) / 1e6,
           (double)hist_quantile(&pr->lag, 0.99) / 1e6, (double)pr->lag.max / 1e6, pr->late, pr->issued, pr->skipped,
           100 * pr->client_cpu_s / pr->seconds, 100 * pr->server_cpu_s / pr->seconds, 100 * pr->machine_busy,
           pr->sends, pr->recvs, pr->client_sleeps, pr->server_sleeps);
}

/* Every user logged in and held, for the modes whose users change clique
 * by clique: a run in which nobody could log in ends as unmeasured, with
 * what it saw, instead of measuring nothing. Returns how many are online. */
static unsigned hold_all_in_cliques(void) {
    double secs;
    long r0, r1;
    unsigned online = hold_all(&secs, &r0, &r1);
    if (online) return online;
    char counts[200];
    snprintf(counts, sizeof counts, "\"users\":%u,\"online\":0,\"clique\":%u,\"login_seconds\":%.2f", nusers,
             opt.clique, secs);
    die_unmeasured("nobody online", counts);
}

static int mode_presence(void) {
    unsigned online = hold_all_in_cliques();
    queue_online_users();
    /* In index order the members of a clique change together, so each
     * watcher gets its clique's notifications of one round in one read;
     * shuffled (a fixed seed: runs compare), changes are unrelated, as
     * between users who do not coordinate. */
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (unsigned k = free_count; opt.shuffle && k > 1; k--) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        unsigned j = (unsigned)((seed >> 33) % k), a = (free_head + k - 1) % (nusers + 1),
                 b = (free_head + j) % (nusers + 1);
        unsigned t = free_ring[a];
        free_ring[a] = free_ring[b];
        free_ring[b] = t;
    }
    tick_ev = event_new(base, -1, EV_PERSIST, tick_cb, NULL);

    phase_result peak;
    run_presence_closed(opt.duration, &peak);
    phase_result open[16];
    unsigned nf = run_open_phases(opt.fractions, &peak, 1, run_presence_phase, presence_open_tick, open);
    syscall_window sw = {0};
    if (opt.count_syscalls > 0 && syscall_window_open(&sw) == 0) { /* the closed loop again, counted */
        phase_result pc;
        run_presence_closed(opt.count_syscalls, &pc);
        syscall_window_close(&sw, pc.seconds, (uint64_t)(pc.achieved * pc.seconds + 0.5), pc.server_syscalls);
    }
    if (opt.json) {
        printf("{\"mode\":\"presence\",\"label\":\"%s\",\"users\":%u,\"online\":%u,\"clique\":%u,\"inflight\":%u,"
               "\"stale_notifications\":%" PRIu64 ",\"closed\":",
               opt.label, nusers, online, opt.clique, opt.inflight, cnt.stale_notifications);
        print_phase_json("closed", &peak, "changes");
        printf(",\"peak_notifications_per_s\":%.0f,\"open\":[", (double)peak.count / peak.seconds);
        for (unsigned k = 0; k < nf; k++) {
            if (k) printf(",");
            print_phase_json("open", &open[k], "changes");
        }
        printf("]");
        print_syscall_window_json(&sw);
        printf(",");
        print_errors_json();
        printf("}\n");
    } else {
        printf("online %u; closed loop (%u in flight): %.0f changes/s, %.0f notifications/s, p50 %.3f ms p99 %.3f ms\n",
               online, opt.inflight, peak.achieved, (double)peak.count / peak.seconds,
               (double)hist_quantile(&peak.h, 0.5) / 1e6, (double)hist_quantile(&peak.h, 0.99) / 1e6);
        for (unsigned k = 0; k < nf; k++) print_open_line(&open[k], "changes", "done");
        print_syscall_window_line(&sw, "change");
    }
    return 0;
}

/* ------------------------------------------------------------------ lists */

/* Each online user adds one contact from the next clique to its FL and
 * removes it again, one write at a time; --inflight writes are outstanding
 * over all users (closed loop). A write is done when its ADD or REM comes
 * back; its latency runs from the send. The contact, online too, gets the
 * server's ADD/REM RL notice, as a real contact would. */
static uint64_t list_inflight;

static void issue_write(unsigned i) {
    user *u = &users[i];
    unsigned k = (i + opt.clique) % nusers;
    u->list_trid = ++u->trid;
    u->t_change = now_ns();
    cnt.writes_sent++;
    if (u->has_contact) conn_printf(u->ns, "REM %u FL %s\r\n", u->list_trid, users[k].email);
    else conn_printf(u->ns, "ADD %u FL %s %s\r\n", u->list_trid, users[k].email, users[k].email);
}

static void lists_tick(void) {
    while (cnt.writes_sent - cnt.writes_done < list_inflight) {
        unsigned i;
        if (!free_pop(&i)) break;
        issue_write(i);
    }
}

static void list_write_answered(user *u, const msnp_cmd *cmd) {
    if (cmd->code == MSNP_ADD || cmd->code == MSNP_REM) {
        u->has_contact = cmd->code == MSNP_ADD;
        /* timed while the phase runs: the same writes its count has */
        if (tick_hook == lists_tick) hist_record(&h_lat, now_ns() - u->t_change);
    } else {
        /* 215 already there, 216 not there: the store says which, follow it */
        cnt.write_errors++;
        if (cmd->is_error && strcmp(cmd->name, "215") == 0) u->has_contact = 1;
        else if (cmd->is_error && strcmp(cmd->name, "216") == 0) u->has_contact = 0;
        if (cnt.write_errors <= 3) note("list write of %s answered: %.*s", u->email, (int)cmd->line.n, cmd->line.p);
    }
    u->list_trid = 0;
    cnt.writes_done++;
    free_push(u->idx);
    if (tick_hook == lists_tick) lists_tick();
}

static int writes_drained(void) { return cnt.writes_done >= cnt.writes_sent; }

static int mode_lists(void) {
    if (nusers <= opt.clique) die("lists: --users must exceed --clique (each user's contact is in the next clique)");
    unsigned online = hold_all_in_cliques();
    queue_online_users();
    tick_ev = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
    list_inflight = opt.inflight;
    phase_result pr;
    memset(&pr, 0, sizeof pr);
    uint64_t done0 = cnt.writes_done;
    uint64_t t0 = phase_start(lists_tick);
    lists_tick();
    run_until(never, opt.duration);
    pr.seconds = phase_stop(t0, &pr);
    pr.count = cnt.writes_done - done0;
    pr.achieved = (double)pr.count / pr.seconds;
    run_until(writes_drained, 5);
    measuring = 0;
    pr.h = h_lat;
    if (opt.json) {
        printf("{\"mode\":\"lists\",\"label\":\"%s\",\"users\":%u,\"online\":%u,\"clique\":%u,\"inflight\":%u,"
               "\"write_errors\":%" PRIu64 ",\"unanswered\":%" PRIu64 ",\"closed\":",
               opt.label, nusers, online, opt.clique, opt.inflight, cnt.write_errors,
               cnt.writes_sent - cnt.writes_done);
        print_phase_json("closed", &pr, "writes");
        printf(",");
        print_errors_json();
        printf("}\n");
    } else {
        printf("online %u; closed loop (%u in flight): %.0f list writes/s, p50 %.3f ms p99 %.3f ms, %" PRIu64
               " refused, server cpu %.3f ms per write\n",
               online, opt.inflight, pr.achieved, (double)hist_quantile(&pr.h, 0.5) / 1e6,
               (double)hist_quantile(&pr.h, 0.99) / 1e6, cnt.write_errors,
               pr.count && pr.server_cpu_s >= 0 ? 1000.0 * pr.server_cpu_s / (double)pr.count : -1.0);
    }
    return 0;
}

/* ------------------------------------------------------------ switchboard */

static unsigned pairs_ready, next_pair, npairs;

static void sb_ready(user *u) {
    u->ss = S_READY;
    user *p = &users[u->partner];
    if (p->ss == S_READY) {
        pairs_ready++;
        cnt.sb_ready_pairs++;
    }
}

static void start_pair(unsigned k) {
    user *a = &users[2 * k], *b = &users[2 * k + 1];
    a->partner = 2 * k + 1;
    b->partner = 2 * k;
    a->caller = 1;
    if (a->ls != L_ONLINE || b->ls != L_ONLINE || !a->ns) {
        sb_fail(a, "not online");
        return;
    }
    a->ss = S_XFR;
    conn_printf(a->ns, "XFR %u SB\r\n", ++a->trid);
}

static int pairs_setup_done(void) {
    unsigned settled = 0;
    for (unsigned k = 0; k < next_pair; k++) {
        user *a = &users[2 * k], *b = &users[2 * k + 1];
        int ok = a->ss == S_READY && b->ss == S_READY;
        int bad = a->ss == S_FAILED || b->ss == S_FAILED;
        settled += ok || bad;
    }
    /* keep at most --concurrency set-ups in flight */
    while (next_pair < npairs && next_pair - settled < opt.concurrency) start_pair(next_pair++);
    return next_pair >= npairs && settled >= npairs;
}

static unsigned rr_sender;

static void send_msg(user *u, uint64_t scheduled) {
    uint32_t trid = ++u->sb_trid;
    u->sent_at[trid % RING] = scheduled;
    u->outstanding++;
    cnt.msgs_sent++;
    char head[64];
    int n = snprintf(head, sizeof head, "MSG %u A %zu\r\n", trid, expected_len);
    conn_write(u->sb, head, (size_t)n);
    conn_write(u->sb, expected_payload, expected_len);
}

static void sb_closed_tick(void) {
    for (unsigned i = 0; i < 2 * npairs; i++) {
        user *u = &users[i];
        if (u->ss != S_READY || !u->sb || users[u->partner].ss != S_READY) continue;
        while (u->outstanding < sb_window) send_msg(u, now_ns());
    }
}

static void sb_open_tick(void) {
    uint64_t t = now_ns(), sched, first = open_issued;
    unsigned senders = 2 * npairs;
    while (open_next_slot(t, &sched)) {
        int sent = 0;
        for (unsigned tries = 0; tries < senders && !sent; tries++) {
            user *u = &users[rr_sender++ % senders];
            if (u->ss != S_READY || !u->sb || u->outstanding + open_burst > RING / 2) continue;
            for (unsigned b = 0; b < open_burst; b++) send_msg(u, sched);
            sent = 1;
        }
        if (!sent) open_skipped += open_burst;
    }
    open_tick_done(first);
}

static int acks_drained(void) {
    for (unsigned i = 0; i < 2 * npairs; i++)
        if (users[i].ss == S_READY && users[i].sb && users[i].outstanding) return 0;
    return 1;
}

static void run_sb_phase(void (*hook)(void), double seconds, phase_result *pr) {
    uint64_t relayed0 = cnt.msgs_relayed;
    uint64_t t0 = phase_start(hook);
    sb_closed_mode = hook == sb_closed_tick;
    hook();
    run_until(never, seconds);
    sb_closed_mode = 0;
    double secs = phase_stop(t0, pr);
    pr->count = cnt.msgs_relayed - relayed0;
    pr->achieved = (double)pr->count / secs;
    run_until(acks_drained, 5);
    measuring = 0;
    pr->h = h_lat;
}

/* The closed loop: each sender keeps `window` messages outstanding. */
static void run_sb_closed(unsigned window, double seconds, phase_result *pr) {
    memset(pr, 0, sizeof *pr);
    sb_window = window;
    run_sb_phase(sb_closed_tick, seconds, pr);
}

static int mode_sb(void) {
    npairs = opt.pairs;
    if (nusers < 2 * npairs) die("--users must be at least 2 x --pairs");
    nusers = 2 * npairs;
    double secs;
    long r0, r1;
    unsigned online = hold_all(&secs, &r0, &r1);
    if (online < 2) {
        char counts[200];
        snprintf(counts, sizeof counts,
                 "\"users\":%u,\"online\":%u,\"pairs\":%u,\"pairs_ready\":0,\"login_seconds\":%.2f", nusers, online,
                 npairs, secs);
        die_unmeasured(online ? "one user online: a switchboard pair needs two" : "nobody online", counts);
    }
    long rs0 = rss_kib("VmRSS");
    uint64_t t0 = now_ns();
    next_pair = 0;
    pairs_ready = 0;
    run_until(pairs_setup_done, 60);
    double setup_secs = (double)(now_ns() - t0) / 1e9;
    uint64_t settle = now_ns() + 200000000ull;
    while (now_ns() < settle) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        flush_dirty();
        usleep(1000);
    }
    long rs1 = rss_kib("VmRSS");
    double per_sb = (rs0 >= 0 && rs1 >= 0 && pairs_ready) ? (double)(rs1 - rs0) * 1024.0 / pairs_ready : -1;
    tick_ev = event_new(base, -1, EV_PERSIST, tick_cb, NULL);

    /* closed loop: each sender keeps --window messages outstanding */
    unsigned nw;
    double *wl = parse_list(opt.rates && *opt.rates ? opt.rates : "", &nw);
    (void)wl;
    phase_result peak;
    uint64_t sent0 = cnt.msgs_sent;
    run_sb_closed(opt.window, opt.duration, &peak);
    /* How many MSGs the window-W senders put in one write: open-loop rates
     * derived from this peak send bursts of that size, one write each, so
     * they are offered the same batching the peak had. */
    double per_write = peak.sends ? (double)(cnt.msgs_sent - sent0) / (double)peak.sends : 1;
    unsigned burst = (unsigned)(per_write + 0.5);
    if (burst < 1) burst = 1;
    if (burst > opt.window) burst = opt.window;
    phase_result w1;
    run_sb_closed(1, opt.duration / 2, &w1);

    phase_result open[16];
    unsigned nf = run_open_phases(opt.fractions, &peak, burst, run_sb_phase, sb_open_tick, open);
    /* and one message per write, at fractions of the window-1 peak, which
     * is what unbatched senders reach */
    phase_result open1[16];
    unsigned nf1 = run_open_phases(opt.unbatched_fractions, &w1, 1, run_sb_phase, sb_open_tick, open1);
    syscall_window sw = {0};
    if (opt.count_syscalls > 0 && syscall_window_open(&sw) == 0) { /* the window-W closed loop again, counted */
        phase_result pc;
        run_sb_closed(opt.window, opt.count_syscalls, &pc);
        syscall_window_close(&sw, pc.seconds, pc.count, pc.server_syscalls);
    }
    if (opt.json) {
        printf("{\"mode\":\"sb\",\"label\":\"%s\",\"pairs\":%u,\"pairs_ready\":%u,\"setup_seconds\":%.2f,"
               "\"payload_bytes\":%zu,\"window\":%u,\"rss_per_sb_session_bytes\":%.0f,\"rss_before_kib\":%ld,"
               "\"rss_after_kib\":%ld,\"corrupt\":%" PRIu64 ",\"naks\":%" PRIu64 ",\"sb_errors\":%" PRIu64
               ",\"sb_failed\":%" PRIu64 ",\"closed\":",
               opt.label, npairs, pairs_ready, setup_secs, expected_len, opt.window, per_sb, rs0, rs1, cnt.corrupt,
               cnt.naks, cnt.sb_errors, cnt.sb_failed);
        print_phase_json("closed", &peak, "msgs");
        printf(",\"closed_msgs_per_write\":%.2f,\"closed_window1\":", per_write);
        print_phase_json("closed", &w1, "msgs");
        printf(",\"open\":[");
        for (unsigned k = 0; k < nf; k++) {
            if (k) printf(",");
            print_phase_json("open", &open[k], "msgs");
        }
        printf("],\"open_unbatched\":[");
        for (unsigned k = 0; k < nf1; k++) {
            if (k) printf(",");
            print_phase_json("open", &open1[k], "msgs");
        }
        printf("]");
        print_syscall_window_json(&sw);
        printf(",");
        print_errors_json();
        printf("}\n");
    } else {
        printf("%u of %u pairs in switchboards (%.2f s); server RSS per SB session %.0f bytes\n", pairs_ready, npairs,
               setup_secs, per_sb);
        printf("closed loop, window %u: %.0f relayed MSG/s, ACK p50 %.3f ms p99 %.3f ms\n", opt.window, peak.achieved,
               (double)hist_quantile(&peak.h, 0.5) / 1e6, (double)hist_quantile(&peak.h, 0.99) / 1e6);
        printf("closed loop, window 1: %.0f relayed MSG/s, ACK p50 %.3f ms p99 %.3f ms\n", w1.achieved,
               (double)hist_quantile(&w1.h, 0.5) / 1e6, (double)hist_quantile(&w1.h, 0.99) / 1e6);
        printf("open loop at fractions of the window-%u peak, bursts of %u MSGs per write (the peak's %.2f):\n",
               opt.window, burst, per_write);
        for (unsigned k = 0; k < nf; k++) print_open_line(&open[k], "MSG", "relayed");
        printf("open loop at fractions of the window-1 peak, one MSG per write:\n");
        for (unsigned k = 0; k < nf1; k++) print_open_line(&open1[k], "MSG", "relayed");
        print_syscall_window_line(&sw, "relayed MSG");
        if (cnt.corrupt) printf("CORRUPT payloads: %" PRIu64 "\n", cnt.corrupt);
    }
    return pairs_ready ? 0 : 1;
}

/* --------------------------------------------------------------- populate */

#include <sqlite3.h>

/* Escargot keeps a user's lists as JSON in t_user.contacts and the MD5
 * login secret as "md5$SALT$BASE64(MD5(SALT PASSWORD))" (its util/hash.py);
 * the salt is what USR MD5 S sends as the challenge. */
static void base64_16(const unsigned char in[16], char out[25]) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < 15; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    unsigned v = (unsigned)in[15] << 16;
    out[o++] = b64[v >> 18];
    out[o++] = b64[(v >> 12) & 63];
    out[o++] = '=';
    out[o++] = '=';
    out[o] = '\0';
}

static void escargot_uuid(unsigned i, char out[37]) { snprintf(out, 37, "00000000-0000-4000-8000-%012x", i); }

/* Accounts and FL cliques in an Escargot database made by its cmd/dbcreate.py:
 * every clique member on each other's FL, AL and RL (Escargot checks the
 * caller's FL before CAL, and sends presence along RL). */
static int populate_escargot(sqlite3 *db) {
    sqlite3_stmt *ins;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO t_user(type,date_created,uuid,email,verified,name,message,password,"
                           "password_md5,settings,groups,contacts) VALUES(1,datetime('now'),?1,?2,1,?2,'',"
                           "'!',?3,'{}','[]',?4)",
                           -1, &ins, NULL) != SQLITE_OK)
        die("%s has no t_user table: create it with Escargot's cmd/dbcreate.py (%s)", opt.db, sqlite3_errmsg(db));
    const char *salt = "msnbench";
    char salted[256], hex[MSNP_MD5_HEX_LEN + 1], b64[25], secret[128];
    unsigned char digest[16];
    snprintf(salted, sizeof salted, "%s%s", salt, opt.password);
    msnp_md5_hex(salted, strlen(salted), hex);
    for (int k = 0; k < 16; k++) {
        unsigned b;
        sscanf(hex + 2 * k, "%2x", &b);
        digest[k] = (unsigned char)b;
    }
    base64_16(digest, b64);
    snprintf(secret, sizeof secret, "md5$%s$%s", salt, b64);
    size_t cap = 256 + (size_t)opt.clique * 200;
    char *contacts = malloc(cap);
    if (!contacts) die("out of memory");
    uint64_t edges = 0;
    char email[128], uuid[37], cuuid[37], cemail[128];
    for (unsigned i = 0; i < opt.users; i++) {
        snprintf(email, sizeof email, "%s%u@%s", opt.prefix, i, opt.domain);
        escargot_uuid(i, uuid);
        size_t n = 0;
        contacts[n++] = '[';
        if (opt.clique > 1) {
            unsigned lo = i / opt.clique * opt.clique;
            for (unsigned k = lo; k < lo + opt.clique && k < opt.users; k++) {
                if (k == i) continue;
                escargot_uuid(k, cuuid);
                snprintf(cemail, sizeof cemail, "%s%u@%s", opt.prefix, k, opt.domain);
                n += (size_t)snprintf(contacts + n, cap - n,
                                      "%s{\"uuid\":\"%s\",\"name\":\"%s\",\"message\":\"\",\"lists\":11,"
                                      "\"groups\":[],\"is_messenger_user\":true}",
                                      n > 1 ? "," : "", cuuid, cemail);
                edges++;
            }
        }
        contacts[n++] = ']';
        contacts[n] = '\0';
        sqlite3_bind_text(ins, 1, uuid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 2, email, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 3, secret, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 4, contacts, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(ins) != SQLITE_DONE) die("insert user: %s", sqlite3_errmsg(db));
        sqlite3_reset(ins);
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) die("commit: %s", sqlite3_errmsg(db));
    sqlite3_finalize(ins);
    sqlite3_close(db);
    free(contacts);
    if (!opt.json) printf("%u accounts, %" PRIu64 " FL entries in %s (Escargot)\n", opt.users, edges, opt.db);
    else
        printf("{\"mode\":\"populate\",\"store\":\"escargot\",\"users\":%u,\"fl_entries\":%" PRIu64 "}\n", opt.users,
               edges);
    return 0;
}

/* msnd's store, through its own bulk-load calls (store.h): no copy of its
 * schema here, and the same code fills a SQLite file or PostgreSQL. */
#ifdef MSNBENCH_HAVE_STORE
#include "store.h"

static void max_id(const store_user *u, void *ctx) {
    int64_t *m = ctx;
    if (u->id > *m) *m = u->id;
}

static int populate_msnd(void) {
    char err[512];
    store *st = store_open(opt.db, err, sizeof err);
    if (!st) die("%s", err);
    int64_t first_id = 0;
    if (store_user_each(st, max_id, &first_id) != STORE_OK) die("%s", store_errmsg(st));
    first_id++;
    if (store_load_begin(st) != STORE_OK) die("%s", store_errmsg(st));
    for (unsigned i = 0; i < opt.users; i++) {
        store_user u;
        memset(&u, 0, sizeof u);
        u.id = first_id + (int64_t)i;
        snprintf(u.email, sizeof u.email, "%s%u@%s", opt.prefix, i, opt.domain);
        snprintf(u.password, sizeof u.password, "%s", opt.password);
        snprintf(u.name, sizeof u.name, "Bench%%20User%%20%u", i);
        u.version = 2; /* SYN must send the lists: a fresh account is at version 1 */
        u.blp_allow = 1;
        u.gtc_prompt = 1;
        if (store_load_user(st, &u) != STORE_OK || store_load_group(st, u.id, 0, "Other%20Contacts") != STORE_OK)
            die("load %s: %s", u.email, store_errmsg(st));
    }
    uint64_t edges = 0;
    static const int group0[1] = {0};
    char name[128];
    for (unsigned i = 0; opt.clique > 1 && i < opt.users; i++) {
        unsigned lo = i / opt.clique * opt.clique;
        for (unsigned k = lo; k < lo + opt.clique && k < opt.users; k++) {
            if (k == i) continue;
            snprintf(name, sizeof name, "Bench%%20User%%20%u", k);
            store_entry e = {.contact = first_id + (int64_t)k, .name = name, .groups = group0, .ngroups = 1};
            if (store_load_entry(st, first_id + (int64_t)i, MSNP_LIST_FL, &e) != STORE_OK)
                die("load FL: %s", store_errmsg(st));
            edges++;
        }
    }
    if (store_load_end(st, 1) != STORE_OK) die("commit: %s", store_errmsg(st));
    store_close(st);
    if (!opt.json) printf("%u accounts, %" PRIu64 " FL entries in %s\n", opt.users, edges, opt.db);
    else printf("{\"mode\":\"populate\",\"users\":%u,\"fl_entries\":%" PRIu64 "}\n", opt.users, edges);
    return 0;
}
#else
static int populate_msnd(void) { die("built without msnd's store (src/msnd)"); }
#endif

static int mode_populate(void) {
    if (!opt.db) die("populate needs --db DB (msnd: a SQLite file or postgresql://...; Escargot: its SQLite file)");
    if (strcmp(opt.store, "msnd") != 0 && strcmp(opt.store, "escargot") != 0) die("--store is msnd or escargot");
    if (strcmp(opt.store, "msnd") == 0) return populate_msnd();
    sqlite3 *db;
    if (sqlite3_open_v2(opt.db, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        die("open %s: %s", opt.db, sqlite3_errmsg(db));
    sqlite3_exec(db, "PRAGMA foreign_keys=ON; PRAGMA synchronous=OFF;", NULL, NULL, NULL);
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) die("begin: %s", sqlite3_errmsg(db));
    return populate_escargot(db);
}

/* ------------------------------------------------------------------- main */

/* Asked for (--help): standard output and 0; a usage error: standard
 * error and 2. */
static _Noreturn void usage(FILE *f, int code) {
    fprintf(
        f,
        "usage: msnbench MODE [options]\n"
        "       msnbench --help\n"
        "modes: populate | login | hold | presence | sb | lists\n"
        "  --server HOST:PORT   dispatch server (or NS with --no-dispatch); default 127.0.0.1:1863\n"
        "  --no-dispatch        log in at the NS directly (servers without a DS)\n"
        "  --users N            accounts used (PREFIX<i>@DOMAIN, i from --first)   [1000]\n"
        "  --first I            index of the first account                         [0]\n"
        "  --prefix P --domain D --password PW                        [bench, bench.test, benchpw]\n"
        "  --protocols LIST     VER parameters                       [\"MSNP7 MSNP6 MSNP5 CVR0\"]\n"
        "  --concurrency C      logins / set-ups in flight                          [200]\n"
        "  --duration S         seconds per measured phase                          [5]\n"
        "  --keep S             hold: stay online S seconds after measuring          [0]\n"
        "  --clique G           presence: users in groups of G with each other on FL [10]\n"
        "  --inflight K         presence / lists closed loop: changes / writes outstanding [64]\n"
        "  --shuffle            presence: users change in a shuffled order, not clique by clique\n"
        "  --pairs P            sb: pairs of users in switchboards                  [100]\n"
        "  --window W           sb closed loop: MSGs outstanding per sender         [16]\n"
        "  --payload BYTES      sb: MSG payload size                                [~140]\n"
        "  --fractions LIST     open-loop rates as fractions of the closed-loop peak [0.25,0.5,0.75]\n"
        "  --unbatched-fractions LIST  sb: one-MSG-per-write open loop, fractions of the window-1 peak [0.25,0.5]\n"
        "  --sources K          spread connections over K source addresses 127.0.1.x [8]\n"
        "  --server-pid PID     read the server's VmRSS from /proc\n"
        "  --count-syscalls S   login, presence, sb: then S seconds more of the closed loop with the server's\n"
        "                       system calls counted (root; counting slows every system call, so apart)\n"
        "  --cpu-pids LIST      server CPU: the sum over these processes (e.g. every node) instead of --server-pid\n"
        "  --store-pid PID      database server CPU: PID (PostgreSQL's postmaster) and its children\n"
        "  --db DB              populate: msnd's store (a file or postgresql://...), or Escargot's file\n"
        "  --store msnd|escargot  populate: whose schema --db has (Escargot: made by its cmd/dbcreate.py) [msnd]\n"
        "  --sb-server HOST:PORT  sb: connect every switchboard here, whatever XFR/RNG name\n"
        "  --label TEXT         name put in the JSON output\n"
        "  --json               one JSON object on standard output\n");
    exit(code);
}

/* The value of a numeric option: all of it a number within [lo, hi], or
 * an error that names the option. */
static double num_arg(const char *name, const char *v, double lo, double hi, int whole) {
    char *end;
    errno = 0;
    double d = whole ? (double)strtoll(v, &end, 10) : strtod(v, &end);
    if (end == v || *end != '\0' || errno != 0 || !(d >= lo && d <= hi)) {
        if (whole) die("option %s: '%s' is not a whole number from %.0f to %.0f", name, v, lo, hi);
        die("option %s: '%s' is not a number from %g to %g", name, v, lo, hi);
    }
    return d;
}
static int is_help(const char *a) { return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0; }

static int takes_value(const char *a) {
    static const char *const names[] = {"--server",
                                        "--users",
                                        "--first",
                                        "--prefix",
                                        "--domain",
                                        "--password",
                                        "--protocols",
                                        "--concurrency",
                                        "--duration",
                                        "--keep",
                                        "--count-syscalls",
                                        "--clique",
                                        "--inflight",
                                        "--pairs",
                                        "--window",
                                        "--payload",
                                        "--fractions",
                                        "--unbatched-fractions",
                                        "--sources",
                                        "--server-pid",
                                        "--cpu-pids",
                                        "--store-pid",
                                        "--db",
                                        "--store",
                                        "--sb-server",
                                        "--label"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(a, names[i]) == 0) return 1;
    return 0;
}

#define UINT_ARG(name, lo, hi) ((unsigned)num_arg(name, v, lo, hi, 1))
#define LONG_ARG(name, lo, hi) ((long)num_arg(name, v, lo, hi, 1))
#define SECONDS_ARG(name, lo, hi) num_arg(name, v, lo, hi, 0)

int main(int argc, char **argv) {
    if (argc < 2) usage(stderr, 2);
    if (is_help(argv[1])) usage(stdout, 0);
    memset(&opt, 0, sizeof opt);
    opt.mode = argv[1];
    snprintf(opt.host, sizeof opt.host, "127.0.0.1");
    opt.port = 1863;
    opt.prefix = "bench";
    opt.domain = "bench.test";
    opt.password = "benchpw";
    opt.version_line = "MSNP7 MSNP6 MSNP5 CVR0";
    opt.users = 1000;
    opt.concurrency = 200;
    opt.duration = 5;
    opt.clique = 10;
    opt.inflight = 64;
    opt.pairs = 100;
    opt.window = 16;
    opt.sources = 8;
    opt.payload = 0;
    opt.fractions = "0.25,0.5,0.75";
    opt.unbatched_fractions = "0.25,0.5";
    opt.rates = "";
    opt.server_pid = -1;
    opt.label = "";
    opt.store = "msnd";
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (ARG("--server")) {
            msnp_str h;
            uint16_t p;
            if (msnp_split_hostport(msnp_str_c(v), &h, &p, 1) != 0 || h.n >= sizeof opt.host) die("bad --server %s", v);
            memcpy(opt.host, h.p, h.n);
            opt.host[h.n] = '\0';
            opt.port = p;
        } else if (strcmp(a, "--no-dispatch") == 0) opt.no_dispatch = 1;
        else if (strcmp(a, "--json") == 0) opt.json = 1;
        else if (strcmp(a, "--shuffle") == 0) opt.shuffle = 1;
        else if (ARG("--users")) opt.users = UINT_ARG(a, 1, 10000000);
        else if (ARG("--first")) opt.first = UINT_ARG(a, 0, UINT_MAX);
        else if (ARG("--prefix")) opt.prefix = v;
        else if (ARG("--domain")) opt.domain = v;
        else if (ARG("--password")) opt.password = v;
        else if (ARG("--protocols")) opt.version_line = v;
        else if (ARG("--concurrency")) opt.concurrency = UINT_ARG(a, 1, UINT_MAX);
        else if (ARG("--duration")) {
            opt.duration = SECONDS_ARG(a, 0, 600);
            if (opt.duration <= 0) die("option %s: '%s' is not a number above 0 and up to 600", a, v);
        } else if (ARG("--keep")) opt.keep = SECONDS_ARG(a, 0, 600);
        else if (ARG("--count-syscalls")) opt.count_syscalls = SECONDS_ARG(a, 0, 600);
        else if (ARG("--clique")) opt.clique = UINT_ARG(a, 1, UINT_MAX);
        else if (ARG("--inflight")) opt.inflight = UINT_ARG(a, 1, UINT_MAX);
        else if (ARG("--pairs")) opt.pairs = UINT_ARG(a, 0, UINT_MAX);
        else if (ARG("--window")) opt.window = UINT_ARG(a, 1, RING / 2);
        else if (ARG("--payload")) opt.payload = UINT_ARG(a, 0, UINT_MAX);
        else if (ARG("--fractions")) opt.fractions = v;
        else if (ARG("--unbatched-fractions")) opt.unbatched_fractions = v;
        else if (ARG("--sources")) opt.sources = UINT_ARG(a, 0, 250);
        else if (ARG("--server-pid")) opt.server_pid = LONG_ARG(a, -1, INT_MAX);
        else if (ARG("--cpu-pids")) opt.cpu_pids = v;
        else if (ARG("--store-pid")) opt.store_pid = LONG_ARG(a, 0, INT_MAX);
        else if (ARG("--db")) opt.db = v;
        else if (ARG("--store")) opt.store = v;
        else if (ARG("--sb-server")) {
            msnp_str h;
            uint16_t p;
            if (msnp_split_hostport(msnp_str_c(v), &h, &p, 1) != 0 || h.n >= sizeof opt.sb_host)
                die("bad --sb-server %s", v);
            memcpy(opt.sb_host, h.p, h.n);
            opt.sb_host[h.n] = '\0';
            opt.sb_port = p;
        } else if (ARG("--label")) opt.label = v;
        else if (is_help(a)) usage(stdout, 0);
        else if (!v && takes_value(a)) die("option %s needs a value", a);
        else {
            fprintf(stderr, "msnbench: unknown option '%s'\n", a);
            usage(stderr, 2);
        }
#undef ARG
    }
    if (strcmp(opt.mode, "populate") == 0) return mode_populate();

    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* the payload every sender sends and every receiver checks */
    {
        const char *head = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                           "X-MMS-IM-Format: FN=Arial; EF=; CO=0; CS=0; PF=22\r\n\r\n";
        size_t hl = strlen(head);
        size_t total = opt.payload ? opt.payload : hl + 40;
        if (total < hl + 1) total = hl + 1;
        if (total > 1600) die("--payload above the 1664-byte switchboard limit minus headers");
        expected_payload = malloc(total);
        if (!expected_payload) die("out of memory");
        memcpy(expected_payload, head, hl);
        for (size_t i = hl; i < total; i++)
            expected_payload[i] = (uint8_t) "hello from msnbench, how are you? "[(i - hl) % 34];
        expected_len = total;
    }
    nusers = opt.users;
    users = calloc(nusers, sizeof *users);
    if (!users) die("out of memory");
    for (unsigned i = 0; i < nusers; i++) {
        users[i].idx = i;
        snprintf(users[i].email, sizeof users[i].email, "%s%u@%s", opt.prefix, opt.first + i, opt.domain);
    }
    /* Open-loop schedules need sub-millisecond ticks: ask for timerfd. */
    struct event_config *ecfg = event_config_new();
    if (!ecfg) die("event_config_new failed");
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    if (!base) die("event_base_new failed");
    /* wakes the loop so phase deadlines are noticed even when all is quiet */
    struct event *wake = event_new(base, -1, EV_PERSIST, tick_cb, base);
    struct timeval ten_ms = {0, 10000};
    event_add(wake, &ten_ms);
    hist_init(&h_login);
    hist_init(&h_lat);
    server_cpu_at_start = server_cpu_s(NULL);
    int rc;
    if (strcmp(opt.mode, "login") == 0) rc = mode_login();
    else if (strcmp(opt.mode, "hold") == 0) rc = mode_hold();
    else if (strcmp(opt.mode, "presence") == 0) rc = mode_presence();
    else if (strcmp(opt.mode, "sb") == 0) rc = mode_sb();
    else if (strcmp(opt.mode, "lists") == 0) rc = mode_lists();
    else {
        fprintf(stderr, "msnbench: unknown mode '%s'\n", opt.mode);
        usage(stderr, 2);
    }
    fflush(stdout);
    /* Connections are left to the kernel: closing 20 k sockets one by one
     * only slows the exit down. */
    _exit(rc);
}
