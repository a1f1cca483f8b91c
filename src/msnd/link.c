/* The cluster link between switchboard processes and notification servers
 * (link.h), and the connections it shares with notification peering
 * (link_conn.h): the listener, accepted and dialled line connections,
 * requests waiting for their answers. */
#include "link.h"
#include "link_conn.h"

#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <msnkit/fiber.h>
#include "log.h"
#include "msnkit/text.h"
#include "peering.h"
#include "presence.h"
#include "sb.h"
#include "sbgate.h"
#include "sbreg.h"

static links *get_links(msnd_server *s) {
    if (!s->links) {
        s->links = calloc(1, sizeof(links));
        if (s->links) s->links->s = s;
    }
    return s->links;
}

/* Split a line into space-separated tokens in place. */
static int split_tokens(char *line, char **tok, int max) {
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (n == max) return -1;
        tok[n++] = t;
    }
    return n;
}

int link_token_ok(const char *t, size_t cap) {
    size_t n = strlen(t);
    return n > 0 && n < cap && msnp_param_is_safe(msnp_str_c(t));
}

/* Next complete line of a link, or NULL. *overlong is set when the peer
 * sent more than LINK_MAX_LINE bytes without a line end. */
static char *read_line(struct bufferevent *bev, int *overlong) {
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n;
    char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
    *overlong = 0;
    if (line && n > LINK_MAX_LINE) {
        free(line);
        *overlong = 1;
        return NULL;
    }
    if (!line && evbuffer_get_length(in) > LINK_MAX_LINE) *overlong = 1;
    return line;
}

int link_vsend(struct bufferevent *bev, const char *fmt, va_list ap) {
    struct evbuffer *out = bufferevent_get_output(bev);
    if (evbuffer_get_length(out) > LINK_MAX_OUTPUT) return -1;
    return evbuffer_add_vprintf(out, fmt, ap) < 0 ? -1 : 0;
}

int link_send(struct bufferevent *bev, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = link_vsend(bev, fmt, ap);
    va_end(ap);
    return r;
}

/* ---- lines to linked peers ----
 * A peer link's lines go out at the end of the loop pass that queued them,
 * all of the pass's in one write, as a client's replies do (server.c): the
 * socket's write event stays off while the kernel takes everything, which
 * spares the two epoll_ctl of arming and disarming it and the wait for the
 * next epoll round on every pass that changes a user's presence. Only when
 * the kernel does not take it all is the bufferevent's write event on, to
 * drain the rest (node_written switches it off again). */
static void out_flush(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    links *L = arg;
    for (size_t i = 0; i < L->nout; i++) {
        ns_link *nl = &L->out[i];
        if (!nl->bev || !nl->write_by_pass || (bufferevent_get_enabled(nl->bev) & EV_WRITE)) continue;
        struct evbuffer *out = bufferevent_get_output(nl->bev);
        if (evbuffer_get_length(out) == 0) continue;
        /* A socket bufferevent keeps the front of its output frozen but
         * for its own writes: the same for this one. */
        evbuffer_unfreeze(out, 1);
        int n = evbuffer_write(out, bufferevent_getfd(nl->bev));
        int err = errno;
        evbuffer_freeze(out, 1);
        if (n < 0 && err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
            link_out_down(nl, evutil_socket_error_to_string(err));
            continue;
        }
        if (evbuffer_get_length(out) > 0) bufferevent_enable(nl->bev, EV_WRITE);
    }
}

static void out_kick(ns_link *nl) {
    if (nl->write_by_pass && nl->L->out_flush) event_active(nl->L->out_flush, EV_TIMEOUT, 0);
}

int link_out_queue(ns_link *nl, const char *data, size_t n) {
    struct evbuffer *out = bufferevent_get_output(nl->bev);
    if (evbuffer_get_length(out) > LINK_MAX_OUTPUT || evbuffer_add(out, data, n) != 0) return -1;
    out_kick(nl);
    return 0;
}

/* ================= accepted links (notification side) ================= */

/* What a link's going means: its users go offline here (the FLN fan-out
 * reads the store). */
static void link_in_drop(link_in *p, const char *why) {
    if (p->hello && p->ns_peer) {
        LOGI("notification peer unlinked", "ns=%s link=accepted reason=\"%s\"", p->sb_addr, why);
        peering_dropped(p);
    } else if (p->hello) {
        LOGI("switchboard unlinked", "sb=%s reason=\"%s\"", p->sb_addr, why);
    }
}

static void link_in_unlink(link_in *p) {
    links *L = p->L;
    if (p->prev) p->prev->next = p->next;
    else L->peers = p->next;
    if (p->next) p->next->prev = p->prev;
    L->npeers--;
    bufferevent_free(p->bev);
    free(p->job_line);
    free(p);
}

static void worker_run(link_in *p);

void link_in_free(link_in *p, const char *why) {
    links *L = p->L;
    if (L->exiting || !L->s->fibers) {
        link_in_drop(p, why);
        link_in_unlink(p);
        return;
    }
    if (p->gone) return; /* already going: its worker frees it */
    /* With fibers the link's worker takes it down once the line it is
     * handling (if any) is done, so the peer's users go offline after
     * what that line did, never before. A peer that closed has the lines
     * it sent before handled first, as without fibers. */
    p->gone = why;
    p->drain_then_free = strcmp(why, "closed") == 0;
    bufferevent_disable(p->bev, EV_READ);
    bufferevent_setcb(p->bev, NULL, NULL, NULL, p);
    worker_run(p);
}

static void peer_event(struct bufferevent *bev, short what, void *arg);

int link_secret_check(link_in *p, const char *given, const char *refusal, const char *addr) {
    const msnd_server *s = p->L->s;
    const char *want = s->cfg.link_secret[0] ? s->cfg.link_secret : "-";
    size_t wn = strlen(want), gn = strlen(given);
    unsigned diff = wn != gn;
    for (size_t i = 0; i < wn && i < gn; i++) diff |= (unsigned)(want[i] ^ given[i]);
    if (!diff) return 0;
    link_send(p->bev, "ERR secret\r\n");
    p->refused = 1;
    LOGW(refusal, "addr=%s", addr);
    return -1;
}

/* HELLO <version> <sb-host:port> <secret|-> from a switchboard. Version 2
 * also understands UNKNOWN answers (the cookie or callee is another
 * node's); a version-1 switchboard is told NO instead, as before. Version
 * 3 hears RINGEND, version 4 GONE and the answer HIDDEN (a version-3
 * switchboard is told NO). */
static int sb_hello(link_in *p, char **tok, int n) {
    msnp_str host;
    uint16_t port;
    if (n != 4 || strcmp(tok[0], "HELLO") != 0 || strlen(tok[1]) != 1 || tok[1][0] < '1' ||
        tok[1][0] > '0' + SB_LINK_VERSION)
        return -1;
    if (!link_token_ok(tok[2], sizeof p->sb_addr) || msnp_split_hostport(msnp_str_c(tok[2]), &host, &port, 1) != 0)
        return -1;
    if (link_secret_check(p, tok[3], "switchboard link refused: wrong secret", tok[2]) != 0) return -1;
    snprintf(p->sb_addr, sizeof p->sb_addr, "%s", tok[2]);
    p->hello = 1;
    p->sb_version = tok[1][0] - '0';
    bufferevent_set_timeouts(p->bev, NULL, NULL); /* a linked switchboard may be quiet */
    LOGI("switchboard linked", "sb=%s version=%d", p->sb_addr, p->sb_version);
    return link_send(p->bev, "HELLO %d OK\r\n", p->sb_version);
}

/* The refusal for an answer other than yes: UNKNOWN (ask another node)
 * only to a switchboard that understands it; a peer node asks the node it
 * knows the callee to be on, so it gets NO. FAIL (the database could not
 * be read to decide) to a switchboard of version 3 or a peer of version
 * PEERING_VERSION_RING_FAIL on; the older ones know only NO. */
static const char *refusal(const link_in *p, int answer) {
    if (answer == SBGATE_FAIL && (p->ns_peer ? p->peer_version >= PEERING_VERSION_RING_FAIL : p->sb_version >= 3))
        return "FAIL";
    return answer == SBGATE_ELSEWHERE && !p->ns_peer && p->sb_version >= 2 ? "UNKNOWN" : "NO";
}
int link_answer_ring(link_in *p, char **tok, int n, const char *sb_addr) {
    msnd_server *s = p->L->s;
    char email[MSNP_MAX_EMAIL + 1], name[MSNP_MAX_NAME_ENCODED + 1], caller[MSNP_MAX_EMAIL + 1];
    uint64_t sid;
    if (n != 7 || strcmp(tok[0], "RING") != 0) return -1;
    if (!link_token_ok(tok[1], 16) || msnp_str_to_u64(msnp_str_c(tok[2]), UINT32_MAX, &sid) != 0 ||
        !link_token_ok(tok[3], SB_COOKIE_MAX) || email_normalize(msnp_str_c(tok[4]), caller, sizeof caller) != 0 ||
        !link_token_ok(tok[5], MSNP_MAX_NAME_ENCODED + 1) ||
        email_normalize(msnp_str_c(tok[6]), email, sizeof email) != 0)
        return -1;
    /* A switchboard process does not know the caller's status: the node
     * that holds the callee's session decides with its own (its users and
     * its peers' visible ones), as a switchboard in its process does. A
     * peer node has decided it already (sb.c). */
    if (!p->ns_peer && presence_find(s->presence, email) && sbgate_caller_offline(s, caller))
        return link_send(p->bev, "RING %s %s\r\n", tok[1], p->sb_version >= 4 ? "HIDDEN" : "NO");
    int r = sbgate_ring(s, caller, tok[5], email, (uint32_t)sid, tok[3], sb_addr, name, sizeof name);
    if (r == 0) return link_send(p->bev, "RING %s OK %s\r\n", tok[1], name);
    return link_send(p->bev, "RING %s %s\r\n", tok[1], refusal(p, r));
}

/* A linked switchboard's questions: AUTH and RING. */
static int sb_request(link_in *p, char **tok, int n) {
    msnd_server *s = p->L->s;
    char email[MSNP_MAX_EMAIL + 1], name[MSNP_MAX_NAME_ENCODED + 1];
    if (n == 4 && strcmp(tok[0], "AUTH") == 0) {
        if (!link_token_ok(tok[1], 16) || !link_token_ok(tok[2], SB_COOKIE_MAX) ||
            email_normalize(msnp_str_c(tok[3]), email, sizeof email) != 0)
            return -1;
        int r = sbgate_auth(s, tok[2], email, name, sizeof name);
        if (r == 0) return link_send(p->bev, "AUTH %s OK %s\r\n", tok[1], name);
        return link_send(p->bev, "AUTH %s %s\r\n", tok[1], refusal(p, r));
    }
    return link_answer_ring(p, tok, n, p->sb_addr);
}

static void peer_flushed(struct bufferevent *bev, void *arg) {
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) link_in_free(arg, "refused");
}

/* Close after the refusal line went out (so the switchboard can log why),
 * or at once if there is nothing to send. */
static void peer_refuse(link_in *p) {
    bufferevent_disable(p->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(p->bev)) == 0) {
        link_in_free(p, "refused");
        return;
    }
    bufferevent_setcb(p->bev, NULL, peer_flushed, peer_event, p);
}

/* One line of an accepted link. Nonzero: refused (close the link). */
static int handle_line(link_in *p, char *line) {
    char *tok[LINK_MAX_TOKENS];
    int n = split_tokens(line, tok, LINK_MAX_TOKENS);
    if (n <= 0) return 1;
    if (!p->hello && strcmp(tok[0], "PEER") == 0) return peering_hello(p, tok, n) != 0;
    if (!p->hello) return sb_hello(p, tok, n) != 0;
    if (p->ns_peer) return peering_line(p, tok, n) != 0;
    return sb_request(p, tok, n) != 0;
}

/* ---- the link's serial worker (a store that waits on fibers) ----
 * Lines of one link are handled in the order they came, one at a time,
 * on a fiber (those already in the buffer one after another on the same
 * fiber): when a line waits for the database, the lines after it
 * wait in the link's input buffer and the loop serves every other link
 * and client meanwhile. Presence lines from one peer therefore take
 * effect in the order that peer sent them. The input buffer is the queue:
 * its read watermark (LINK_MAX_LINE * 64) stops reading from the socket
 * when it is full, so a peer sending faster than the database answers is
 * held back by TCP and its own output limit (LINK_MAX_OUTPUT) closes the
 * link on its side with a log line; nothing here grows without bound. */
static void line_job(void *arg) {
    link_in *p = arg;
    /* The lines already here follow on the same fiber, in order: a fiber
     * each cost two context switches (two system calls) per line. A line
     * that waits holds up those after it, as before. */
    for (;;) {
        p->job_bad = handle_line(p, p->job_line);
        if (p->job_bad || (p->gone && !p->drain_then_free)) return;
        int overlong; /* seen again by worker_run */
        char *next = read_line(p->bev, &overlong);
        if (!next) return;
        free(p->job_line);
        p->job_line = next;
    }
}

/* On the loop's stack once a line is done. */
static void line_done(void *arg) {
    link_in *p = arg;
    msnd_server *s = p->L->s;
    free(p->job_line);
    p->job_line = NULL;
    if (!p->job_waited) return; /* finished at once: worker_run goes on */
    p->job_waited = 0;
    worker_run(p);        /* may free p */
    server_maybe_exit(s); /* a shutdown may have waited for this job */
}

static void drop_job(void *arg) {
    link_in *p = arg;
    link_in_drop(p, p->gone);
}

static void drop_done(void *arg) {
    link_in *p = arg;
    msnd_server *s = p->L->s;
    if (!p->job_waited) return; /* finished at once: drop_on_fiber unlinks */
    p->job_waited = 0;
    link_in_unlink(p);
    server_maybe_exit(s); /* a shutdown may have waited for this job */
}

/* The link's last job: its users go offline (on a fiber), then it is freed. */
static void drop_on_fiber(link_in *p) {
    p->dropping = 1;
    int rc = fiber_run(p->L->s->base, drop_job, drop_done, p);
    if (rc == 1) {
        p->job_waited = 1;
        return;
    }
    if (rc < 0) drop_job(p); /* no fiber: the blocking way */
    link_in_unlink(p);
}

static void worker_run(link_in *p) {
    int overlong = 0;
    if (p->dropping) return;
    /* Bounded: every turn consumes a line or leaves. */
    while (!p->job_line) {
        if (p->job_bad) {
            p->job_bad = 0;
            if (p->gone) drop_on_fiber(p);
            else if (p->refused) peer_refuse(p);
            else link_in_free(p, "protocol error");
            return;
        }
        if (p->gone && !p->drain_then_free) break;
        char *line = read_line(p->bev, &overlong);
        if (!line) break;
        p->job_line = line;
        int rc = fiber_run(p->L->s->base, line_job, line_done, p);
        if (rc < 0) { /* no fiber: handle it here, waiting the blocking way */
            line_job(p);
            line_done(p);
        } else if (rc == 1) {
            p->job_waited = 1;
            return;
        }
    }
    if (p->job_line) return; /* a line waits: line_done resumes */
    if (p->gone) drop_on_fiber(p);
    else if (overlong) link_in_free(p, "line too long");
}

static void peer_read(struct bufferevent *bev, void *arg) {
    link_in *p = arg;
    msnd_server *s = p->L->s;
    if (s->fibers) {
        worker_run(p);
        return;
    }
    /* Names for AUTH come from the store when the user is offline: they
     * share the pass's read transaction, as client input does. */
    server_pass_read_scope(s);
    /* The lines are handled in place, in the input made contiguous, instead
     * of each copied out into a line of its own (a peer's presence lines
     * come by the dozen per read). */
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in), off = 0;
    char *data = len ? (char *)evbuffer_pullup(in, -1) : NULL;
    int bad = 0, overlong = 0;
    /* Bounded: every turn consumes a line. */
    while (data && !bad && off < len) {
        char *eol = memchr(data + off, '\n', len - off);
        if (!eol) break;
        size_t n = (size_t)(eol - (data + off));
        if (n > 0 && eol[-1] == '\r') n--;
        if (n > LINK_MAX_LINE) {
            overlong = 1;
            break;
        }
        data[off + n] = '\0';
        bad = handle_line(p, data + off);
        off = (size_t)(eol - data) + 1;
    }
    if (!bad && !overlong && len - off > LINK_MAX_LINE) overlong = 1; /* no line end in sight */
    if (off) evbuffer_drain(in, off);
    if (overlong) link_in_free(p, "line too long");
    else if (bad && p->refused) peer_refuse(p);
    else if (bad) link_in_free(p, "protocol error");
}

static void peer_event(struct bufferevent *bev, short what, void *arg) {
    (void)bev;
    if (what & BEV_EVENT_TIMEOUT) {
        LOGI("switchboard link dropped: no HELLO in time", "%s", "");
        link_in_free(arg, "no HELLO");
    } else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        link_in_free(arg, (what & BEV_EVENT_EOF) ? "closed" : "socket error");
    }
}

static void on_link_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg) {
    (void)l;
    (void)sa;
    (void)salen;
    links *L = arg;
    if (L->npeers >= LINK_MAX_PEERS || L->s->shutting_down) {
        evutil_closesocket(fd);
        return;
    }
    link_in *p = calloc(1, sizeof *p);
    if (!p) {
        evutil_closesocket(fd);
        return;
    }
    p->L = L;
    p->bev = bufferevent_socket_new(L->s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!p->bev) {
        evutil_closesocket(fd);
        free(p);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof one);
    server_keepalive(fd, L->s->cfg.tcp_keepalive);
    p->next = L->peers;
    if (L->peers) L->peers->prev = p;
    L->peers = p;
    L->npeers++;
    bufferevent_setcb(p->bev, peer_read, NULL, peer_event, p);
    bufferevent_setwatermark(p->bev, EV_READ, 0, LINK_MAX_LINE * 64);
    /* Connections that never introduce themselves must not hold one of the
     * LINK_MAX_PEERS places: the same time limit as a client's login. */
    if (L->s->cfg.login_timeout > 0) {
        struct timeval tv = {(time_t)L->s->cfg.login_timeout, 0};
        bufferevent_set_timeouts(p->bev, &tv, NULL);
    }
    bufferevent_enable(p->bev, EV_READ | EV_WRITE);
}

int link_listen(msnd_server *s, const char *addr, char *err, size_t errcap) {
    links *L = get_links(s);
    if (!L) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    struct sockaddr_storage ss;
    int sslen;
    if (server_parse_addr(addr, &ss, &sslen) != 0) {
        snprintf(err, errcap, "bad --link-listen address '%s' (want ip:port)", addr);
        return -1;
    }
    L->listener = evconnlistener_new_bind(s->base, on_link_accept, L,
                                          LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 64,
                                          (struct sockaddr *)&ss, sslen);
    if (!L->listener) {
        snprintf(err, errcap, "cannot listen on %s for switchboard links: %s", addr, strerror(errno));
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    getsockname(evconnlistener_get_fd(L->listener), (struct sockaddr *)&bound, &blen);
    char ip[64] = "?";
    uint16_t port = 0;
    if (bound.ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)&bound;
        evutil_inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
        port = ntohs(v4->sin_port);
    } else {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&bound;
        evutil_inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
        port = ntohs(v6->sin6_port);
    }
    msnkit_endpoint(L->bound, sizeof L->bound, ip, port);
    LOGI("listening", "role=link addr=%s", L->bound);
    return 0;
}

const char *link_bound(const msnd_server *s) { return s->links && s->links->listener ? s->links->bound : NULL; }

int link_next_sb(msnd_server *s, char *out, size_t cap) {
    links *L = s->links;
    if (!L || L->npeers == 0) return -1;
    /* Round robin over the linked switchboards: walk from a rotating
     * start, skipping peers that have not said HELLO yet. */
    size_t start = L->rr++ % L->npeers, i = 0;
    link_in *first = NULL;
    for (link_in *p = L->peers; p; p = p->next, i++) {
        if (!p->hello || p->ns_peer) continue;
        if (!first) first = p;
        if (i >= start) {
            snprintf(out, cap, "%s", p->sb_addr);
            return 0;
        }
    }
    if (!first) return -1;
    snprintf(out, cap, "%s", first->sb_addr);
    return 0;
}

/* ================= dialled links (switchboard side, peering) ================= */

static void node_dial(ns_link *nl);
static link_req *new_request(ns_link *nl, conn *c, msnd_trid trid, req_kind kind, uint32_t *wire_id);
static void drop_request(ns_link *nl, link_req *r);
static ns_link *asking_link(links *L, size_t k);

/* What the link is, for the log: "notification server" (--ns-links) or
 * "notification peer" (--ns-peers). */
static const char *link_what(const ns_link *nl) { return nl->is_peer ? "notification peer" : "notification server"; }

/* why: what a refusal or failure comes from, for the log (NULL for yes). */
static void complete(ns_link *nl, uint32_t idx, int answer, const char *name, const char *why) {
    link_req r = nl->reqs[idx];
    nl->reqs[idx].kind = REQ_FREE;
    nl->free_slots[nl->nfree++] = idx;
    nl->used--;
    if (r.c && r.c->link_waiting) r.c->link_waiting--;
    msnd_server *s = nl->L->s;
    if (r.kind == REQ_AUTH) sb_auth_done(s, r.c, r.trid, answer, r.email, name, why);
    else sb_ring_done(s, r.c, r.trid, r.session_id, r.email, r.cookie, answer, name, why);
}

static int send_request(ns_link *nl, const link_req *r, uint32_t id) {
    if (r->kind == REQ_AUTH) return link_send(nl->bev, "AUTH %u %s %s\r\n", id, r->cookie, r->email);
    int rc = link_send(nl->bev, "RING %u %u %s %s %s %s\r\n", id, r->session_id, r->cookie, r->caller, r->caller_name,
                       r->email);
    if (rc == 0) out_kick(nl);
    return rc;
}

/* The node asked said the cookie or callee is not its own (UNKNOWN): ask
 * the next linked node in --ns-links order, the request keeping its
 * deadline; when every node has said so, the answer is no. A user who
 * logged in to a node other than the one its e-mail's hash picks (directly,
 * or while --ns-nodes lists differed) is found this way, and a cookie tried
 * with the wrong e-mail reaches the node that issued it, which consumes it. */
static void ask_next_node(ns_link *nl, uint32_t idx) {
    links *L = nl->L;
    link_req was = nl->reqs[idx];
    size_t k = L->nnodes;
    uint16_t asked = was.asked;
    while (was.c && asked < L->nnodes) {
        size_t i = (was.first + asked++) % L->nnodes;
        if (L->nodes[i].up) {
            k = i;
            break;
        }
    }
    if (k == L->nnodes) {
        complete(nl, idx, SB_ANSWER_NO, NULL, "no linked notification server knows the cookie");
        return;
    }
    ns_link *next = &L->nodes[k];
    uint32_t id;
    link_req *r = new_request(next, was.c, was.trid, was.kind, &id);
    if (!r) {
        char why[LINK_WHY_MAX];
        snprintf(why, sizeof why, "too many requests waiting on the link to notification server %s", next->addr);
        complete(nl, idx, SB_ANSWER_UNAVAILABLE, NULL, why);
        return;
    }
    uint16_t gen = r->gen;
    *r = was;
    r->gen = gen;
    r->asked = asked;
    drop_request(nl, &nl->reqs[idx]);
    if (send_request(next, r, id) != 0) {
        char why[LINK_WHY_MAX];
        snprintf(why, sizeof why, "cannot write to notification server %s", next->addr);
        complete(next, id & 0xFFFFu, SB_ANSWER_UNAVAILABLE, NULL, why);
    }
}

static void fail_all(ns_link *nl, const char *reason) {
    char why[LINK_WHY_MAX];
    snprintf(why, sizeof why, "link to %s %s lost: %s", link_what(nl), nl->addr, reason);
    for (uint32_t i = 0; i < nl->cap; i++)
        if (nl->reqs[i].kind != REQ_FREE) complete(nl, i, SB_ANSWER_UNAVAILABLE, NULL, why);
}

static void on_retry(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    node_dial(arg);
}

void link_out_down(ns_link *nl, const char *why) {
    /* A link that never comes up (a wrong address, the other side not
     * started yet or not listening there) is worth one warning naming what
     * to check; the retries after it would repeat it every 5 s. */
    const char *check = nl->is_peer ? "--ns-peers and that node's --link-listen"
                                    : "--ns-links and the notification server's --link-listen";
    if (nl->is_peer) {
        if (nl->up) LOGW("notification peer unlinked", "ns=%s link=dialled reason=\"%s\"", nl->addr, why);
        else if (!nl->warned)
            LOGW("cannot link to notification peer, retrying", "ns=%s reason=\"%s\" check=\"%s\"", nl->addr, why,
                 check);
        else LOGD("notification peer link failed", "ns=%s reason=\"%s\"", nl->addr, why);
    } else if (nl->up) LOGW("notification server unlinked", "ns=%s reason=\"%s\"", nl->addr, why);
    else if (!nl->warned)
        LOGW("cannot link to notification server, retrying", "ns=%s reason=\"%s\" check=\"%s\"", nl->addr, why, check);
    else LOGD("notification server link failed", "ns=%s reason=\"%s\"", nl->addr, why);
    nl->warned = 1;
    /* A switchboard's HELLO closed without an answer: a node older than
     * that version refuses it, so the next dial tries the one before (down
     * to SB_LINK_VERSION_OLDEST, then the newest again); a link that was up
     * starts again from the newest (the node may have been upgraded
     * meanwhile). */
    if (!nl->is_peer) {
        if (nl->up) nl->sb_version = SB_LINK_VERSION;
        else if (nl->hello_sent)
            nl->sb_version = nl->sb_version > SB_LINK_VERSION_OLDEST ? nl->sb_version - 1 : SB_LINK_VERSION;
    } else if (nl->up) nl->peer_version = PEERING_VERSION; /* a peer's PEER line likewise */
    else if (nl->hello_sent)
        nl->peer_version = nl->peer_version > PEERING_VERSION_OLDEST ? nl->peer_version - 1 : PEERING_VERSION;
    nl->hello_sent = 0;
    nl->up = 0;
    if (nl->bev) bufferevent_free(nl->bev);
    nl->bev = NULL;
    nl->write_by_pass = 0;
    fail_all(nl, why);
    if (nl->L->s->shutting_down || !nl->retry) return;
    struct timeval tv = {nl->retry_ms / 1000, (nl->retry_ms % 1000) * 1000};
    evtimer_add(nl->retry, &tv);
    nl->retry_ms = nl->retry_ms * 2 > LINK_RETRY_MAX_MS ? LINK_RETRY_MAX_MS : nl->retry_ms * 2;
}

/* RINGEND email cookie: the callee's session that ring went to ended at
 * that node; the ring ends here too (217 while the callee is offline, a
 * new RNG to its next session), not when its cookie expires. */
static int ring_ended(ns_link *nl, char **tok) {
    char email[MSNP_MAX_EMAIL + 1];
    if (!link_token_ok(tok[2], SB_COOKIE_MAX) || email_normalize(msnp_str_c(tok[1]), email, sizeof email) != 0)
        return -1;
    if (nl->L->s->sbreg) sbreg_ring_end_cookie(nl->L->s->sbreg, email, tok[2]);
    return 0;
}

/* GONE email: that node found the account deleted and ended its session;
 * its connections here close too (the others in those conversations see
 * BYE), as they do in the notification server's own process. */
static int account_gone(ns_link *nl, char **tok) {
    char email[MSNP_MAX_EMAIL + 1];
    if (email_normalize(msnp_str_c(tok[1]), email, sizeof email) != 0) return -1;
    server_close_switchboards_of(nl->L->s, email);
    return 0;
}

static int node_answer(ns_link *nl, char **tok, int n) {
    if (!nl->up) {
        /* A notification peer answers in the version PEER asked for. */
        char v[12];
        snprintf(v, sizeof v, "%d", nl->is_peer ? nl->peer_version : nl->sb_version);
        if (n == 3 && !strcmp(tok[0], "HELLO") && !strcmp(tok[1], v) && !strcmp(tok[2], "OK")) {
            nl->up = 1;
            nl->warned = 0;
            nl->retry_ms = LINK_RETRY_MIN_MS;
            LOGI(nl->is_peer ? "linked to notification peer" : "notification server linked", "ns=%s", nl->addr);
            if (nl->is_peer) {
                peering_up(nl); /* the snapshot, written by the bufferevent */
                nl->write_by_pass = 1;
                if (evbuffer_get_length(bufferevent_get_output(nl->bev)) == 0) bufferevent_disable(nl->bev, EV_WRITE);
            }
            return 0;
        }
        if (n >= 1 && !strcmp(tok[0], "ERR")) {
            if (nl->is_peer)
                LOGE("notification peer refused the link", "ns=%s reason=%s", nl->addr, n > 1 ? tok[1] : "?");
            else LOGE("notification server refused the link", "ns=%s reason=%s", nl->addr, n > 1 ? tok[1] : "?");
        }
        return -1;
    }
    if (n == 3 && !nl->is_peer && !strcmp(tok[0], "RINGEND")) return ring_ended(nl, tok);
    if (n == 2 && !nl->is_peer && !strcmp(tok[0], "GONE")) return account_gone(nl, tok);
    if (n < 3) return -1;
    req_kind kind = !strcmp(tok[0], "AUTH") ? REQ_AUTH : !strcmp(tok[0], "RING") ? REQ_RING : REQ_FREE;
    if (nl->is_peer && kind != REQ_RING) return -1; /* a peer only answers the rings we ask of it */
    uint64_t id;
    if (kind == REQ_FREE || msnp_str_to_u64(msnp_str_c(tok[1]), UINT32_MAX, &id) != 0) return -1;
    uint32_t idx = (uint32_t)(id & 0xFFFFu);
    uint16_t gen = (uint16_t)(id >> 16);
    /* An answer to a request that already timed out: nothing to do. */
    if (idx >= nl->cap || nl->reqs[idx].kind != kind || nl->reqs[idx].gen != gen) return 0;
    if (!strcmp(tok[2], "OK")) {
        if (n != 4 || !link_token_ok(tok[3], MSNP_MAX_NAME_ENCODED + 1)) return -1;
        complete(nl, idx, SB_ANSWER_YES, tok[3], NULL);
    } else if (!strcmp(tok[2], "NO")) {
        char why[LINK_WHY_MAX];
        if (kind == REQ_AUTH) snprintf(why, sizeof why, "%s %s refused the cookie", link_what(nl), nl->addr);
        else snprintf(why, sizeof why, "%s %s answered that the callee is not online", link_what(nl), nl->addr);
        complete(nl, idx, SB_ANSWER_NO, NULL, why);
    } else if (!strcmp(tok[2], "HIDDEN") && n == 3 && kind == REQ_RING && !nl->is_peer && nl->sb_version >= 4) {
        char why[LINK_WHY_MAX];
        snprintf(why, sizeof why, "%s %s answered that the caller appears offline", link_what(nl), nl->addr);
        complete(nl, idx, SB_ANSWER_CALLER_OFFLINE, NULL, why);
    } else if (!strcmp(tok[2], "UNKNOWN") && n == 3 && !nl->is_peer) {
        ask_next_node(nl, idx);
    } else if (!strcmp(tok[2], "FAIL") && n == 3 && (!nl->is_peer || nl->peer_version >= PEERING_VERSION_RING_FAIL)) {
        char why[LINK_WHY_MAX];
        snprintf(why, sizeof why, "%s %s could not read its database", link_what(nl), nl->addr);
        complete(nl, idx, SB_ANSWER_DB_ERROR, NULL, why);
    } else {
        return -1;
    }
    return 0;
}

static void node_read(struct bufferevent *bev, void *arg) {
    ns_link *nl = arg;
    int bad = 0, overlong = 0;
    char *line;
    while (!bad && (line = read_line(bev, &overlong)) != NULL) {
        char *tok[LINK_MAX_TOKENS];
        int n = split_tokens(line, tok, LINK_MAX_TOKENS);
        bad = n <= 0 || node_answer(nl, tok, n) != 0;
        free(line);
    }
    if (bad || overlong) link_out_down(nl, overlong ? "line too long" : "protocol error");
}

/* All the output written: a linked peer's next lines go by pass again. */
static void node_written(struct bufferevent *bev, void *arg) {
    ns_link *nl = arg;
    if (nl->write_by_pass) bufferevent_disable(bev, EV_WRITE);
}

static void node_event(struct bufferevent *bev, short what, void *arg) {
    ns_link *nl = arg;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof one);
        server_keepalive(bufferevent_getfd(bev), nl->L->s->cfg.tcp_keepalive);
        const msnd_server *s = nl->L->s;
        if (nl->is_peer) peering_introduce(nl);
        else {
            link_send(bev, "HELLO %d %s %s\r\n", nl->sb_version, nl->L->sb_addr,
                      s->cfg.link_secret[0] ? s->cfg.link_secret : "-");
            nl->hello_sent = 1;
        }
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        link_out_down(nl, (what & BEV_EVENT_EOF) ? "closed" : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static void node_dial(ns_link *nl) {
    msnd_server *s = nl->L->s;
    if (s->shutting_down || nl->bev) return;
    struct sockaddr_storage ss;
    int sslen;
    server_parse_addr(nl->addr, &ss, &sslen); /* checked at start */
    nl->bev = bufferevent_socket_new(s->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!nl->bev) {
        link_out_down(nl, "out of memory");
        return;
    }
    bufferevent_setcb(nl->bev, node_read, node_written, node_event, nl);
    bufferevent_setwatermark(nl->bev, EV_READ, 0, LINK_MAX_LINE * 64);
    bufferevent_enable(nl->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(nl->bev, (struct sockaddr *)&ss, sslen) != 0) link_out_down(nl, "connect failed");
}

/* Requests fail at their deadline: the housekeeping pass (every 10 s)
 * alone would let a client wait up to twice LINK_REQUEST_TIMEOUT_MS for
 * its 601. The timer runs only while a request waits. */
static void on_sweep(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    links *L = arg;
    link_sweep(L->s, server_now_ms());
    for (size_t k = 0; k < L->nnodes + L->nout; k++)
        if (asking_link(L, k)->used) return;
    event_del(L->sweep);
}

/* Parse an ip:port list (--ns-links or --ns-peers) into links and dial
 * each of them. */
/* a and b (from server_parse_addr) are the same address and port. */
static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family) return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const struct sockaddr_in *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a, *y = (const struct sockaddr_in6 *)b;
        return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
    }
    return 0;
}

/* a is an address of this host: loopback, or one of its interfaces'. */
static int is_this_host(const struct sockaddr_storage *a) {
    if (a->ss_family == AF_INET && (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127) return 1;
    if (a->ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr)) return 1;
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) != 0) return 0;
    int found = 0;
    for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != a->ss_family) continue;
        if (a->ss_family == AF_INET)
            found = ((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr.s_addr ==
                ((const struct sockaddr_in *)a)->sin_addr.s_addr;
        else
            found = memcmp(&((const struct sockaddr_in6 *)(const void *)i->ifa_addr)->sin6_addr,
                           &((const struct sockaddr_in6 *)a)->sin6_addr, sizeof(struct in6_addr)) == 0;
    }
    freeifaddrs(ifs);
    return found;
}

/* entry names this node's own link listener: the same address and port,
 * or, when the node listens on every address, any address of this host
 * (of the listener's family) with that port. */
static int is_self(const struct sockaddr_storage *entry, const struct sockaddr_storage *self) {
    if (same_addr(entry, self)) return 1;
    /* [::] takes IPv4 connections too (unless the system says otherwise) */
    if (!server_addr_is_any(self) || (entry->ss_family != self->ss_family && self->ss_family != AF_INET6)) return 0;
    in_port_t pe = entry->ss_family == AF_INET ? ((const struct sockaddr_in *)entry)->sin_port
                                               : ((const struct sockaddr_in6 *)entry)->sin6_port;
    in_port_t ps = self->ss_family == AF_INET ? ((const struct sockaddr_in *)self)->sin_port
                                              : ((const struct sockaddr_in6 *)self)->sin6_port;
    return pe == ps && is_this_host(entry);
}

int link_dial_list(links *L, const char *list, const char *flag, int is_peer, ns_link **arr, size_t *n, char *err,
                   size_t errcap) {
    /* One --ns-peers list may serve every node: the entry that is this
     * node's own --link-listen is skipped, not dialled (a link to itself
     * would take every login for a second one and end it). */
    struct sockaddr_storage self;
    int selflen, have_self = 0;
    if (is_peer && L->s->cfg.link_listen[0]) have_self = server_parse_addr(L->s->cfg.link_listen, &self, &selflen) == 0;
    char tmp[4 * CFG_ADDR];
    snprintf(tmp, sizeof tmp, "%s", list);
    char *save = NULL;
    for (char *tok = strtok_r(tmp, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        struct sockaddr_storage ss;
        int sslen;
        if (*n >= 16 || strlen(tok) >= CFG_ADDR || server_parse_addr(tok, &ss, &sslen) != 0 ||
            ((struct sockaddr_in *)&ss)->sin_port == 0) {
            snprintf(err, errcap, "bad %s entry '%s' (want ip:port, at most 16)", flag, tok);
            return -1;
        }
        if (have_self && is_self(&ss, &self)) {
            LOGI("notification peer skipped: it is this node's own --link-listen", "peer=%s", tok);
            continue;
        }
        ns_link *grown = realloc(*arr, (*n + 1) * sizeof *grown);
        if (!grown) {
            snprintf(err, errcap, "out of memory");
            return -1;
        }
        *arr = grown;
        ns_link *nl = &grown[(*n)++];
        memset(nl, 0, sizeof *nl);
        nl->L = L;
        nl->is_peer = is_peer;
        nl->sb_version = SB_LINK_VERSION;
        nl->peer_version = PEERING_VERSION;
        snprintf(nl->addr, sizeof nl->addr, "%s", tok);
        nl->retry_ms = LINK_RETRY_MIN_MS;
    }
    if (is_peer && !L->out_flush && !(L->out_flush = event_new(L->s->base, -1, 0, out_flush, L))) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    if (!L->sweep && !(L->sweep = event_new(L->s->base, -1, EV_PERSIST, on_sweep, L))) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    /* The array is final now: events may point into it. */
    for (size_t i = 0; i < *n; i++) {
        ns_link *nl = &(*arr)[i];
        nl->retry = evtimer_new(L->s->base, on_retry, nl);
        if (!nl->retry) {
            snprintf(err, errcap, "out of memory");
            return -1;
        }
        node_dial(nl);
    }
    return 0;
}

int link_connect_all(msnd_server *s, const char *ns_links, const char *sb_addr, char *err, size_t errcap) {
    links *L = get_links(s);
    if (!L) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    snprintf(L->sb_addr, sizeof L->sb_addr, "%s", sb_addr);
    if (!ns_links[0]) {
        snprintf(err, errcap, "--role sb needs --ns-links (the notification servers' --link-listen addresses)");
        return -1;
    }
    return link_dial_list(L, ns_links, "--ns-links", 0, &L->nodes, &L->nnodes, err, errcap);
}

/* A free request slot, growing the table up to LINK_MAX_PENDING. */
static link_req *new_request(ns_link *nl, conn *c, msnd_trid trid, req_kind kind, uint32_t *wire_id) {
    if (nl->nfree == 0) {
        if (nl->cap >= LINK_MAX_PENDING) return NULL;
        size_t ncap = nl->cap ? nl->cap * 2 : 64;
        if (ncap > LINK_MAX_PENDING) ncap = LINK_MAX_PENDING;
        link_req *r = realloc(nl->reqs, ncap * sizeof *r);
        if (!r) return NULL;
        nl->reqs = r;
        uint32_t *f = realloc(nl->free_slots, ncap * sizeof *f);
        if (!f) return NULL;
        nl->free_slots = f;
        for (size_t i = ncap; i > nl->cap; i--) {
            nl->reqs[i - 1].kind = REQ_FREE;
            nl->reqs[i - 1].gen = 0;
            nl->free_slots[nl->nfree++] = (uint32_t)(i - 1);
        }
        nl->cap = ncap;
    }
    uint32_t idx = nl->free_slots[--nl->nfree];
    link_req *r = &nl->reqs[idx];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->gen = ++nl->next_gen;
    r->c = c;
    r->trid = trid;
    r->deadline_ms = server_now_ms() + LINK_REQUEST_TIMEOUT_MS;
    nl->used++;
    if (nl->L->sweep && !evtimer_pending(nl->L->sweep, NULL)) {
        struct timeval tv = {1, 0};
        evtimer_add(nl->L->sweep, &tv);
    }
    c->link_waiting++;
    *wire_id = idx | ((uint32_t)r->gen << 16);
    return r;
}

static void drop_request(ns_link *nl, link_req *r) {
    if (r->c && r->c->link_waiting) r->c->link_waiting--;
    r->kind = REQ_FREE;
    nl->free_slots[nl->nfree++] = (uint32_t)(r - nl->reqs);
    nl->used--;
}

/* A request to nl; the text fields were checked by the caller (the
 * client's command) and are kept whole or refused. */
static link_req *ask(ns_link *nl, conn *c, msnd_trid trid, req_kind kind, uint32_t session_id, const char *cookie,
                     const char *email, const char *caller, const char *caller_name) {
    uint32_t id;
    link_req *r = nl ? new_request(nl, c, trid, kind, &id) : NULL;
    if (!r) return NULL;
    r->session_id = session_id;
    r->asked = 1;
    if (msnkit_copy(r->cookie, sizeof r->cookie, cookie) != 0 || msnkit_copy(r->email, sizeof r->email, email) != 0 ||
        msnkit_copy(r->caller, sizeof r->caller, caller) != 0 ||
        msnkit_copy(r->caller_name, sizeof r->caller_name, caller_name) != 0 || send_request(nl, r, id) != 0) {
        drop_request(nl, r);
        return NULL;
    }
    return r;
}

/* Ask the node the e-mail's hash picks (NULL while it is unlinked: the
 * client hears that the service is unavailable; why, when not NULL, says
 * which of these it was). */
static link_req *ask_by_email(msnd_server *s, conn *c, msnd_trid trid, req_kind kind, uint32_t session_id,
                              const char *cookie, const char *email, const char *caller, const char *caller_name,
                              char *why, size_t whycap) {
    links *L = s->links;
    if (!L || L->nnodes == 0) {
        if (why) snprintf(why, whycap, "no notification server to ask");
        return NULL;
    }
    size_t first = server_email_hash(email) % L->nnodes;
    if (!L->nodes[first].up) {
        if (why) snprintf(why, whycap, "notification server %s is not linked", L->nodes[first].addr);
        return NULL;
    }
    link_req *r = ask(&L->nodes[first], c, trid, kind, session_id, cookie, email, caller, caller_name);
    if (r) r->first = (uint16_t)first;
    else if (why)
        snprintf(why, whycap, "cannot ask notification server %s: too many requests waiting or the link is full",
                 L->nodes[first].addr);
    return r;
}

int link_ask_auth(msnd_server *s, conn *c, msnd_trid trid, const char *cookie, const char *email, char *why,
                  size_t whycap) {
    return ask_by_email(s, c, trid, REQ_AUTH, 0, cookie, email, "", "", why, whycap) ? 0 : -1;
}

int link_out_ask_ring(ns_link *nl, conn *c, msnd_trid trid, uint32_t session_id, const char *cookie, const char *caller,
                      const char *caller_name, const char *callee) {
    return ask(nl, c, trid, REQ_RING, session_id, cookie, callee, caller, caller_name) ? 0 : -1;
}

int link_ask_ring(msnd_server *s, conn *c, msnd_trid trid, uint32_t session_id, const char *cookie, const char *caller,
                  const char *caller_name, const char *callee, char *why, size_t whycap) {
    return ask_by_email(s, c, trid, REQ_RING, session_id, cookie, callee, caller, caller_name, why, whycap) ? 0 : -1;
}

/* Every link requests can wait on: to notification servers (--ns-links)
 * and to peers (--ns-peers). */
static ns_link *asking_link(links *L, size_t k) { return k < L->nnodes ? &L->nodes[k] : &L->out[k - L->nnodes]; }

void link_ring_made(msnd_server *s, const conn *callee, const char *cookie) {
    links *L = s->links;
    if (!L) return;
    if (!L->rings && !(L->rings = strmap_new())) return; /* the ring then lasts until its cookie expires */
    link_rings *r = strmap_get(L->rings, callee->email);
    if (!r) {
        r = calloc(1, sizeof *r);
        int ok = -1;
        if (r) strmap_put(L->rings, callee->email, r, &ok);
        if (ok != 0) {
            free(r);
            return;
        }
    }
    if (r->conn_id != callee->id) r->n = 0; /* an earlier session's: it ended */
    r->conn_id = callee->id;
    if (r->n == LINK_RINGS_KEPT) {
        memmove(r->cookie, r->cookie + 1, (LINK_RINGS_KEPT - 1) * sizeof r->cookie[0]);
        r->n--;
    }
    snprintf(r->cookie[r->n++], SB_COOKIE_MAX, "%s", cookie);
}

void link_rings_ended(msnd_server *s, const conn *c) {
    links *L = s->links;
    link_rings *r = L && L->rings ? strmap_get(L->rings, c->email) : NULL;
    if (!r || r->conn_id != c->id) return;
    for (link_in *p = L->peers; p; p = p->next) {
        if (!p->hello || p->ns_peer || p->sb_version < 3 || p->gone) continue;
        for (unsigned i = 0; i < r->n; i++) link_send(p->bev, "RINGEND %s %s\r\n", c->email, r->cookie[i]);
    }
    free(strmap_del(L->rings, c->email));
}

void link_account_gone(msnd_server *s, const char *email) {
    links *L = s->links;
    for (link_in *p = L ? L->peers : NULL; p; p = p->next)
        if (p->hello && !p->ns_peer && p->sb_version >= 4 && !p->gone) link_send(p->bev, "GONE %s\r\n", email);
}

void link_forget_conn(msnd_server *s, conn *c) {
    links *L = s->links;
    if (!L || !c->link_waiting) return;
    for (size_t k = 0; k < L->nnodes + L->nout; k++) {
        ns_link *nl = asking_link(L, k);
        for (size_t i = 0; i < nl->cap && nl->used; i++)
            if (nl->reqs[i].kind != REQ_FREE && nl->reqs[i].c == c) nl->reqs[i].c = NULL;
    }
    c->link_waiting = 0;
}

void link_sweep(msnd_server *s, uint64_t now_ms) {
    links *L = s->links;
    if (!L) return;
    for (size_t k = 0; k < L->nnodes + L->nout; k++) {
        ns_link *nl = asking_link(L, k);
        for (uint32_t i = 0; i < nl->cap; i++) {
            if (nl->reqs[i].kind == REQ_FREE || nl->reqs[i].deadline_ms > now_ms) continue;
            char why[LINK_WHY_MAX];
            snprintf(why, sizeof why, "%s %s did not answer in %u s", link_what(nl), nl->addr,
                     LINK_REQUEST_TIMEOUT_MS / 1000u);
            if (nl->is_peer) LOGW("notification peer did not answer in time", "ns=%s", nl->addr);
            else LOGW("notification server did not answer in time", "ns=%s", nl->addr);
            complete(nl, i, SB_ANSWER_UNAVAILABLE, NULL, why);
        }
    }
}

static void free_rings(const char *key, void *value, void *ctx) {
    (void)key;
    (void)ctx;
    free(value);
}

int link_busy(const msnd_server *s) {
    const links *L = s->links;
    for (const link_in *p = L ? L->peers : NULL; p; p = p->next)
        if (p->job_waited) return 1;
    return 0;
}

void link_free(msnd_server *s) {
    links *L = s->links;
    if (!L) return;
    L->exiting = 1;
    while (L->peers) {
        link_in *p = L->peers;
        p->hello = 0; /* no log line at exit */
        link_in_free(p, "exit");
    }
    if (L->listener) evconnlistener_free(L->listener);
    for (int pass = 0; pass < 2; pass++) {
        ns_link *arr = pass ? L->out : L->nodes;
        size_t n = pass ? L->nout : L->nnodes;
        for (size_t k = 0; k < n; k++) {
            ns_link *nl = &arr[k];
            if (nl->bev) bufferevent_free(nl->bev);
            if (nl->retry) event_free(nl->retry);
            free(nl->reqs);
            free(nl->free_slots);
        }
    }
    if (L->out_flush) event_free(L->out_flush);
    if (L->sweep) event_free(L->sweep);
    if (L->rings) {
        strmap_each(L->rings, free_rings, NULL);
        strmap_free(L->rings);
    }
    free(L->nodes);
    free(L->out);
    free(L);
    s->links = NULL;
}
