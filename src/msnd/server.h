/* server.h - the msnd process: listeners, connections and the shared
 * state each role handler works on.
 *
 *   listener -> conn (bufferevent) -> msnp_parse -> role handler -> effects
 *
 * A connection knows bytes and its role; ds.c, ns.c and sb.c each define
 * their role's command table (role.h). Shared state has one owner each: the store (store.h), the
 * presence router (presence.h) and the switchboard registry (sbreg.h). */
#ifndef MSND_SERVER_H
#define MSND_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>
#include <msnp/msnp.h>

#include "config.h"
#include "outbuf.h"
#include "ratelimit.h"
#include "store.h"
#include "trid.h"

struct evbuffer;
struct evconnlistener;
struct presence;
struct sbreg;
struct sb_session;
struct strmap;
struct links;
struct watcher_rows;

typedef enum conn_kind { CONN_DS = 0, CONN_NS = 1, CONN_SB = 2 } conn_kind;

typedef enum ns_state {
    NS_NEW = 0,    /* before USR MD5 I */
    NS_CHALLENGED, /* challenge sent, waiting for USR MD5 S */
    NS_AUTH        /* logged in */
} ns_state;

typedef struct conn {
    struct msnd_server *srv;
    evutil_socket_t fd; /* -1 once closed */
    conn_kind kind;
    struct event *rev;   /* readable (persistent; carries the idle timeout) */
    struct event *wev;   /* writable: only while the kernel has not taken all output */
    struct evbuffer *in; /* unparsed tail of earlier reads; NULL while there is none */
    outbuf out;          /* queued output */
    /* Bytes of the last whole reply (conn_reply_begin) the client has still
     * to read: its output may exceed the limit by that much. */
    size_t reply_left;
    uint64_t id;
    char peer[64]; /* "ip:port" ("[ip]:port" for IPv6), for logs */
    char peer_ip[48];
    msnp_parser parser;
    token_bucket bucket;
    struct event *timer;  /* login timeout, then challenge timeout; NULL while neither runs */
    struct event *reaper; /* deferred close/free */
    struct conn *prev, *next;
    struct conn *flush_prev, *flush_next; /* on the server's flush list */
    uint8_t flush_queued;
    uint8_t closing;    /* no more input is handled */
    uint8_t in_read;    /* inside the read callback */
    uint8_t reap_close; /* reaper must run conn_close first (overflow) */
    uint8_t freeing;
    uint8_t idle_timeout; /* the read event carries a timeout */
    long idle_seconds;
    /* Input handled on a fiber (server.c, fiber.h): while one waits for the
     * store, this connection's input pauses and the connection stays. */
    uint8_t on_fiber;
    uint8_t fiber_waited;  /* the running job waited: its end resumes input */
    uint8_t free_deferred; /* conn_free came while on a fiber or in role cleanup */
    /* conn_close is running the role's cleanup (FLN/BYE fan-out), which may
     * wait for the store on the fiber of ANOTHER connection (a duplicate
     * login closing the old session): the connection must outlive it. */
    uint8_t in_cleanup;
    uint8_t reply_whole; /* a reply it asked for is being queued (conn_reply_begin) */
    size_t job_used;     /* bytes of c->in the running command took */
    /* The command a job is started for, parsed on conn_process's stack:
     * the job copies it onto its fiber's stack before anything can wait
     * (job_command), so a connection holds no command while idle. */
    const msnp_cmd *job_cmd;

    /* DS / NS */
    int version; /* negotiated MSNPx, 0 before VER */
    ns_state state;
    int64_t uid;
    char email[MSNP_MAX_EMAIL + 1];
    /* The friendly name as sent on the wire (URL-encoded): "" until
     * conn_set_name, then on the heap at its own length (most are a few
     * dozen bytes of the 387 a name may take). */
    const char *name;
    char challenge[48];
    int blp_allow;                 /* cached BLP of this user (AL = 1) */
    msnp_status status;            /* FLN until the first CHG */
    struct watcher_rows *watchers; /* presence.c: who sees this user's changes */
    uint8_t chg_seen;
    uint8_t account_gone;     /* deleted by another process: its last FLN goes to the watchers known before;
                               * a switchboard connection: its close is on the way */
    uint8_t announce_pending; /* presence.c: a status change its watchers could not be told yet */
    uint8_t iln_reading;      /* presence.c: its first CHG's ILN lines are being read */
    uint64_t iln_at;          /* presence.c: the presence clock when they began (0: not yet) */
    uint8_t iln_one_reading;  /* presence.c: the same for the last ADD FL's ILN, */
    uint64_t iln_one_at;      /* about this contact */
    int64_t iln_one_uid;
    uint8_t chl_pending;
    char chl[32];

    /* SB */
    struct sb_session *session;
    uint8_t sb_joined;
    union {
        uint64_t last_cal_ms; /* SB: when the current burst of CALs began */
        /* NS: when it logged in (server_now_ms). Two sessions of one
         * account on two nodes that could not tell each other of their
         * logins meet in the snapshot after the link comes back (SESSION,
         * peering.h): the newer one stays. */
        uint64_t login_ms;
    };
    uint32_t cal_burst;
    uint8_t sb_authing;    /* USR asked of the notification side, no answer yet */
    uint32_t link_waiting; /* requests over the cluster link (link.h) */
} conn;

typedef struct listener_info {
    struct msnd_server *srv;
    struct evconnlistener *l;
    conn_kind kind;
    char bound[80]; /* "ip:port" actually bound */
    char host[64];
    uint16_t port;
    int nodelay;   /* accepted sockets inherit TCP_NODELAY: 1 yes, -1 no, 0 not known yet */
    int keepalive; /* ... and the listener's keepalive options (server_keepalive) */
} listener_info;

typedef struct msnd_server {
    struct event_base *base;
    msnd_config cfg;
    /* Roles this process plays (--role). */
    uint8_t has_ds, has_ns, has_sb;
    struct links *links; /* cluster link (link.h), NULL if unused */
    store *store;
    int fibers; /* input handled on fibers: the store waits on them (fiber.h) */
    struct presence *presence;
    struct sbreg *sbreg;
    failure_window *fail_account_address; /* failed logins by "email ip" */
    failure_window *fail_address;         /* ... and by ip */
    struct strmap *per_address;           /* ip -> connection count (as intptr) */
    listener_info listeners[3];
    size_t nlisteners;
    /* The port file as written (dev, inode), removed at a clean stop while
     * it is still that file: a stale one would give a waiting supervisor
     * the addresses of a server that is gone. */
    int port_file_written;
    dev_t port_file_dev;
    ino_t port_file_ino;
    char ns_nodes[16][CFG_ADDR];
    size_t nns_nodes;
    char sb_address[CFG_ADDR]; /* "" = derive from the SB listener */
    conn *conns;
    size_t nconns;
    size_t out_queued; /* output bytes queued over all connections (max_output_total) */
    uint64_t last_full_log_ms;
    uint64_t last_addr_full_log_ms; /* the same for --max-connections-per-address */
    /* Connections with output queued since the last flush. All output of one
     * event-loop pass goes out in one write per connection (server.c). */
    conn *flush_head;
    struct event *flush_ev;
    /* One store read transaction per event-loop pass (server.c). */
    struct event *pass_end_ev;
    int pass_reading;
    uint64_t next_conn_id;
    struct event *sig_term, *sig_int, *sig_hup, *housekeeping, *shutdown_timer;
    struct event *gone_sweep;                       /* accounts deleted elsewhere (sweep_deleted_accounts) */
    uint64_t gone_checked_gen;                      /* store generation of the last sweep */
    uint64_t gone_sweep_gen;                        /* the generation the running sweep checks */
    int gone_sweeping;                              /* a sweep waits for the store on a fiber */
    uint64_t cache_evicted_logged, cache_logged_ms; /* log_login_cache */
    int shutting_down;
} msnd_server;

/* TCP keepalive on a connected socket (seconds of silence before the
 * first probe; 0 = leave it off): a peer whose network died is noticed
 * even when it holds no timer here. */
void server_keepalive(evutil_socket_t fd, long idle_seconds);

/* Server lifecycle. */
int server_init(msnd_server *s, const msnd_config *cfg, char *err, size_t errcap);
int server_run(msnd_server *s);
void server_free(msnd_server *s);
uint64_t server_now_ms(void);

/* Sending. Every writer goes through conn_send so output limits apply.
 * 0 when the bytes are queued; -1 when they will never go out (the
 * connection is closing, or being dropped for its output). */
int conn_send(conn *c, const void *data, size_t n);
/* A reply the client asked for (its lists: SYN, LST) is queued whole
 * between these two, past --max-output (the process-wide budget still
 * applies); until the client has read it, its output may exceed the limit
 * by what is left of it. A client that asks again before reading the last
 * such reply gets no second allowance. */
void conn_reply_begin(conn *c);
void conn_reply_end(conn *c);
/* NAME [trid] params... ; params are a NULL-terminated list of C strings. */
void conn_cmd(conn *c, const char *name, msnd_trid trid, ...);
void conn_err(conn *c, int code, msnd_trid trid);
/* Error reply when the command had a TrID; otherwise close. */
void conn_err_cmd(conn *c, int code, const msnp_cmd *cmd);

/* Stop reading, run role cleanup now, free once output is flushed. */
void conn_close(conn *c, const char *reason);

/* Switch timers. seconds 0 = none. */
void conn_set_login_timer(conn *c, long seconds);
/* Sets c->name to a copy of name. 0, or -1 when memory runs out (the
 * name is then unchanged). */
int conn_set_name(conn *c, const char *name);
void conn_set_idle_timeout(conn *c, long seconds);
/* Work on c outside its commands that may read the store (fn(c)): on a
 * fiber of c's, as a command's, when the store waits on fibers. -1 (not
 * run) while c is closing or a command of c is on a fiber: try later. */
int conn_background(conn *c, void (*fn)(void *c));

/* Address clients should use to reach a listener of this kind over the
 * connection c (wildcard binds are replaced by the local address). */
void server_advertised(const msnd_server *s, const conn *c, conn_kind kind, char *out, size_t cap);
/* The switchboard address for XFR SB: --sb-address, this process's own
 * switchboard, or a linked switchboard process. -1 if there is none. */
int server_sb_for_xfr(msnd_server *s, const conn *c, char *out, size_t cap);
/* Open the store read transaction shared by the rest of this event-loop
 * pass (no-op when one is open or there is no store); see server.c. */
void server_pass_read_scope(msnd_server *s);
/* Close email's switchboard connections in this process (its account was
 * deleted): the others in those conversations see BYE. */
void server_close_switchboards_of(msnd_server *s, const char *email);
/* While shutting down: leave the loop once no connection is left and no
 * presence fan-out is reading the store (presence_busy). */
void server_maybe_exit(msnd_server *s);
/* "ip:port" or "[v6]:port" (numeric, port 0 allowed) -> socket address.
 * Returns 0, or -1 if it is not one. */
struct sockaddr_storage;
int server_parse_addr(const char *addr, struct sockaddr_storage *ss, int *sslen);
/* 1 when ss is the wildcard address (0.0.0.0 or ::): every address. */
int server_addr_is_any(const struct sockaddr_storage *ss);
/* FNV-1a of a lower-cased e-mail: picks a user's notification node (the
 * DS's --ns-nodes, a switchboard's --ns-links). */
uint32_t server_email_hash(const char *email);
/* The NS address the DS hands out for an e-mail (hash of the address). */
void server_ns_for(const msnd_server *s, const conn *c, const char *email, char *out, size_t cap);

/* Role hooks (ns.c, sb.c); the command tables are in role.h. */
void ns_on_close(conn *c);
void sb_on_close(conn *c);
void ns_on_timer(conn *c);
/* Shutdown notice for a logged-in NS client. */
void ns_shutdown_notice(conn *c);

/* Lower-case an e-mail into dst; returns 0, or -1 if it is not a valid handle. */
int email_normalize(msnp_str in, char *dst, size_t cap);
/* str view -> C string copy. Returns 0, or -1 if it does not fit. */
int str_copy(msnp_str in, char *dst, size_t cap);
/* 1 when s is a friendly or group name that can be sent: 1..max bytes
 * (max <= MSNP_MAX_NAME_ENCODED), one parameter (no space, CR or LF),
 * URL-encoded UTF-8 text without control characters. */
int name_sendable(msnp_str s, size_t max);
/* A friendly name read from the store, or email when it cannot be sent
 * (a database edited by hand, an import): what MSN shows for an unset
 * name. */
const char *stored_name(const char *name, const char *email);

#endif
