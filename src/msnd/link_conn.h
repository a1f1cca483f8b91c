/* link_conn.h - the connections of the cluster link, shared by its two
 * protocols: switchboard <-> notification server (link.c) and notification
 * server <-> notification server (peering.c). Both run over the same
 * --link-listen listener and the same kind of dialled, self-healing line
 * connection; only these two modules include this header. */
#ifndef MSND_LINK_CONN_H
#define MSND_LINK_CONN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "server.h"
#include "sbreg.h"
#include "strmap.h"

#define LINK_MAX_LINE 2048u
#define LINK_MAX_TOKENS 8
#define LINK_MAX_PENDING 8192u      /* per notification server */
#define LINK_MAX_OUTPUT (16u << 20) /* bytes queued to a peer that stopped reading */
#define LINK_MAX_PEERS 256u         /* switchboards and peers linked to one NS */
#define LINK_RETRY_MIN_MS 100
#define LINK_RETRY_MAX_MS 5000
/* HELLO version a switchboard sends first; notification servers accept 1
 * to 4. Version 3 hears RINGEND (a ring's callee session ended), version 4
 * GONE (an account deleted) and the RING answer HIDDEN (the caller appears
 * offline). A node that refuses it (an older one) is dialled again with
 * the version before, down to SB_LINK_VERSION_OLDEST. */
#define SB_LINK_VERSION 4
#define SB_LINK_VERSION_OLDEST 2
#define LINK_RINGS_KEPT 16

struct bufferevent;

typedef enum { REQ_FREE = 0, REQ_AUTH, REQ_RING } req_kind;

/* A question waiting for its answer. Requests live in a slot array; the id
 * on the wire is the slot index plus a generation, so a late or forged
 * answer can never complete a newer request in the same slot. */
typedef struct link_req {
    req_kind kind;
    uint16_t gen;
    conn *c; /* NULL once the client has gone */
    msnd_trid trid;
    uint32_t session_id;
    uint64_t deadline_ms;
    /* A switchboard asks the node the e-mail's hash picks first (`first`),
     * then, while the answer is UNKNOWN, the other nodes in turn: `asked`
     * of them so far. */
    uint16_t first, asked;
    char cookie[SB_COOKIE_MAX];
    char email[MSNP_MAX_EMAIL + 1]; /* AUTH: the user; RING: the callee */
    /* RING: asked again of another node */
    char caller[MSNP_MAX_EMAIL + 1];
    char caller_name[MSNP_MAX_NAME_ENCODED + 1];
} link_req;

/* A link this process dials to a notification server: a switchboard's
 * (--ns-links) or another node's (--ns-peers). */
typedef struct ns_link {
    struct links *L;
    char addr[CFG_ADDR];
    struct bufferevent *bev;
    struct event *retry;
    long retry_ms;
    int up;     /* HELLO answered */
    int warned; /* a failure since start or since the link was last up was logged as a warning */
    link_req *reqs;
    uint32_t *free_slots;
    size_t cap, nfree, used;
    uint16_t next_gen;
    int is_peer;       /* a notification server's link to another (--ns-peers) */
    int sb_version;    /* a switchboard's: the HELLO version it tries (4, then 3, 2 after refusals) */
    int peer_version;  /* a peer's: the PEER version it tries (PEERING_VERSION, then older ones after refusals) */
    int hello_sent;    /* this connection's HELLO (or PEER) went out */
    int write_by_pass; /* a linked peer: link_out_queue's lines leave at the end of the loop pass */
    /* RL lines queued to this peer while linked, over the life of the
     * process (not reset when the link comes back: RLBASE tells the peer
     * where the count stands). A peer's watcher list acknowledging fewer
     * was made before it heard all of them (peering.c). */
    uint64_t rl_sent;
} ns_link;

/* A link accepted on --link-listen: a switchboard (HELLO) or another
 * notification node (PEER). */
struct link_in {
    struct links *L;
    struct bufferevent *bev;
    char sb_addr[CFG_ADDR]; /* the switchboard's client address, or the peer node's link address */
    int hello;
    int sb_version;         /* a switchboard: its HELLO version (2 understands "not mine": UNKNOWN) */
    int refused;            /* ERR sent: close once it is out */
    int ns_peer;            /* not a switchboard: another notification server telling its users' presence */
    char peer_sb[CFG_ADDR]; /* ns_peer: where its switchboard's clients connect ("" if none) */
    int peer_version;       /* ns_peer: the PEER line's protocol version (1 to PEERING_VERSION) */
    int rl_known;           /* ns_peer: RLBASE came, rl_got counts */
    uint64_t rl_got;        /* ns_peer: RL lines that peer has sent us (its rl_sent, once handled) */
    /* With a store that waits on fibers, the link's lines are handled one
     * at a time on a fiber (link.c: the link's serial worker). */
    char *job_line;      /* the line being handled (busy while set) */
    int job_bad;         /* the line was refused: close once it is done */
    int job_waited;      /* its fiber waited: the loop resumes the worker when it is done */
    const char *gone;    /* link_in_free was called: why (its worker frees it) */
    int drain_then_free; /* gone because the peer closed: handle the lines it sent before */
    int dropping;        /* its last job (users offline) runs: nothing more is read */
    struct link_in *prev, *next;
};
typedef struct link_in link_in;

typedef struct links {
    msnd_server *s;
    struct evconnlistener *listener;
    char bound[80];
    link_in *peers;
    size_t npeers;
    size_t rr;
    ns_link *nodes;
    size_t nnodes;
    ns_link *out; /* --ns-peers: links this notification server dials */
    size_t nout;
    char sb_addr[CFG_ADDR];
    int exiting;             /* link_free: links go at once, even one whose line waits */
    struct event *out_flush; /* writes the peer links' lines at the end of the pass */
    struct event *sweep;     /* every second while requests wait: fails those past their deadline */
    /* callee e-mail -> link_rings: the rings made here for switchboard
     * processes, told back (RINGEND) when the callee's session ends */
    strmap *rings;
} links;

/* The RNG cookies of rings one notification session got for switchboard
 * processes (at most LINK_RINGS_KEPT, the oldest make room). */
typedef struct link_rings {
    uint64_t conn_id; /* the callee's session they went to */
    unsigned n;
    char cookie[LINK_RINGS_KEPT][SB_COOKIE_MAX];
} link_rings;

int link_vsend(struct bufferevent *bev, const char *fmt, va_list ap);
int link_send(struct bufferevent *bev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Queue n bytes (whole lines) to a linked peer: written at the end of the
 * loop pass, with every other line queued to it in the pass, in one
 * write. -1 when the peer stopped reading (LINK_MAX_OUTPUT queued). */
int link_out_queue(ns_link *nl, const char *data, size_t n);
/* A non-empty MSNP parameter shorter than cap. */
int link_token_ok(const char *t, size_t cap);
/* Compare the secret a link presented with ours; on a mismatch send ERR,
 * mark the link refused and log `refusal`. 0 when it matches. */
int link_secret_check(link_in *p, const char *given, const char *refusal, const char *addr);
/* RING <id> <session> <cookie> <caller> <caller-name> <callee> from a
 * switchboard or a peer node, rung with the switchboard address sb_addr. */
int link_answer_ring(link_in *p, char **tok, int n, const char *sb_addr);
void link_in_free(link_in *p, const char *why);
void link_out_down(ns_link *nl, const char *why);
/* Parse an ip:port list and dial each entry. */
int link_dial_list(links *L, const char *list, const char *flag, int is_peer, ns_link **arr, size_t *n, char *err,
                   size_t errcap);
int link_out_ask_ring(ns_link *nl, conn *c, msnd_trid trid, uint32_t session_id, const char *cookie, const char *caller,
                      const char *caller_name, const char *callee);

/* peering.c: what the shared plumbing hands to the peering protocol. */
int peering_hello(link_in *p, char **tok, int n); /* the PEER line */
int peering_line(link_in *p, char **tok, int n);  /* every later line of a peer */
void peering_dropped(link_in *p);                 /* a linked peer went */
void peering_introduce(ns_link *nl);              /* our dialled link connected */
void peering_up(ns_link *nl);                     /* ... and was accepted */

#endif
