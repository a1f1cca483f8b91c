/* Listeners, connections, timers and signals; see server.h. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <msnkit/fiber.h>
#include "link.h"
#include "log.h"
#include "peering.h"
#include "presence.h"
#include "role.h"
#include "sbreg.h"
#include "msnkit/grow.h"
#include "msnkit/text.h"
#include "strmap.h"

static const char *const kind_names[] = {"ds", "ns", "sb"};

uint64_t server_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int str_copy(msnp_str in, char *dst, size_t cap) {
    if (in.n >= cap) return -1;
    memcpy(dst, in.p, in.n);
    dst[in.n] = '\0';
    return 0;
}

int email_normalize(msnp_str in, char *dst, size_t cap) {
    if (!msnp_email_valid(in) || in.n >= cap) return -1;
    for (size_t i = 0; i < in.n; i++) {
        char ch = in.p[i];
        dst[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    dst[in.n] = '\0';
    return 0;
}

int name_sendable(msnp_str s, size_t max) {
    if (s.n == 0 || s.n > max || s.n > MSNP_MAX_NAME_ENCODED || !msnp_param_is_safe(s)) return 0;
    /* A login checks every name of its lists, and most are ASCII: those
     * are decoded and checked in one pass, without a copy. The bytes
     * written as they are passed msnp_param_is_safe (0x21-0x7e when
     * ASCII), so only an escape can make a control character. A byte of
     * 0x80 or more, as it is or escaped, is UTF-8 to validate: the full
     * decode below. An invalid escape stays literal, as msnp_url_decode
     * keeps it. */
    size_t i = 0;
    for (; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c >= 0x80) break;
        if (c != '%' || i + 2 >= s.n) continue;
        int hi = msnkit_hex_digit(s.p[i + 1]), lo = msnkit_hex_digit(s.p[i + 2]);
        if (hi < 0 || lo < 0) continue;
        int d = hi * 16 + lo;
        if (d >= 0x80) break;
        if (d < 0x20 || d == 0x7f) return 0;
        i += 2;
    }
    if (i == s.n) return 1;
    char dec[MSNP_MAX_NAME_ENCODED + 1];
    long n = msnp_url_decode(s, dec, sizeof dec);
    return n > 0 && msnp_text_valid(dec, (size_t)n);
}

const char *stored_name(const char *name, const char *email) {
    return name && name_sendable(msnp_str_c(name), MSNP_MAX_NAME_ENCODED) ? name : email;
}

/* ---- per-address connection counts ---- */

static long addr_count(msnd_server *s, const char *ip, long delta) {
    intptr_t v = (intptr_t)strmap_get(s->per_address, ip);
    v += delta;
    if (v <= 0) {
        strmap_del(s->per_address, ip);
        return 0;
    }
    int ok;
    strmap_put(s->per_address, ip, (void *)v, &ok);
    return (long)v;
}

/* ---- sending ---- */

static void schedule_reap(conn *c) {
    if (c->reaper) event_active(c->reaper, EV_TIMEOUT, 0);
}

/* Output path. The write event stays off while the socket keeps up:
 * replies are appended to the output buffer, the connection goes on the
 * flush list, and one event that runs after every callback of the current
 * loop pass writes each listed connection's output with a single send.
 * That replaces, per reply, an epoll_ctl to arm EPOLLOUT, a wake-up, the
 * write and an epoll_ctl to disarm, and merges everything one input batch
 * (or one fan-out) produced for a connection into one write. Only when the
 * kernel does not take everything is the write event added; on_writable
 * drains the rest and removes it again. */
static void flush_unlink(conn *c) {
    if (!c->flush_queued) return;
    if (c->flush_prev) c->flush_prev->flush_next = c->flush_next;
    else c->srv->flush_head = c->flush_next;
    if (c->flush_next) c->flush_next->flush_prev = c->flush_prev;
    c->flush_prev = c->flush_next = NULL;
    c->flush_queued = 0;
}

static void flush_queue(conn *c) {
    if (c->flush_queued) return;
    msnd_server *s = c->srv;
    if (!s->flush_head && s->flush_ev) event_active(s->flush_ev, EV_TIMEOUT, 0);
    c->flush_prev = NULL;
    c->flush_next = s->flush_head;
    if (s->flush_head) s->flush_head->flush_prev = c;
    s->flush_head = c;
    c->flush_queued = 1;
}

static void conn_free(conn *c);
static void on_writable(evutil_socket_t fd, short what, void *arg);

static int io_retriable(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

/* The socket failed under us: nothing more can be delivered. */
static void conn_fail(conn *c, const char *why) {
    conn_close(c, why);
    conn_free(c);
}

static int backlog_pending(const conn *c) { return c->wev && event_pending(c->wev, EV_WRITE, NULL); }

/* Writes what the kernel takes now; 0, or -1 if the connection was freed. */
static int conn_write_out(conn *c) {
    size_t before = outbuf_pending(&c->out);
    ssize_t n = outbuf_write(&c->out, c->fd);
    size_t written = before - outbuf_pending(&c->out);
    c->srv->out_queued -= written;
    /* What went out counts against the allowance first: output queued
     * before the reply goes out first, so the allowance may shrink sooner
     * than the reply is read, never later. */
    c->reply_left -= written < c->reply_left ? written : c->reply_left;
    if (n < 0 && !io_retriable(errno)) {
        conn_fail(c, "socket error");
        return -1;
    }
    if (outbuf_pending(&c->out) > 0) {
        if (!c->wev) c->wev = event_new(c->srv->base, c->fd, EV_WRITE | EV_PERSIST, on_writable, c);
        if (!c->wev || (!backlog_pending(c) && event_add(c->wev, NULL) != 0)) {
            conn_fail(c, "out of memory");
            return -1;
        }
        return 0;
    }
    if (backlog_pending(c)) event_del(c->wev);
    /* A closing connection is freed once its last reply is out. */
    if (c->closing) schedule_reap(c);
    return 0;
}

static void conn_write_now(conn *c) {
    if (c->fd < 0) return;
    /* Waiting for the socket already: on_writable keeps the order. */
    if (backlog_pending(c)) return;
    if (outbuf_pending(&c->out) == 0) return;
    conn_write_out(c);
}

static void on_flush(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    msnd_server *s = arg;
    /* Bounded: writing never queues a connection again (a failed write may
     * close it, which queues FLN/BYE for others: each goes out once). */
    while (s->flush_head) {
        conn *c = s->flush_head;
        flush_unlink(c);
        /* A handler waiting on a fiber: its reply and what it sends later
         * leave together when it is done (job_done), as without fibers. */
        if (c->on_fiber) continue;
        conn_write_now(c);
    }
}

static void on_writable(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    conn_write_out(arg);
}

/* Output a client may have queued: a few kilobytes until it has logged in
 * (a dispatch connection never does), max_output after. A switchboard
 * client counts from its admission (the e-mail is set then), so the IRO
 * roster sent before ANS OK has the larger limit. */
static int conn_logged_in(const conn *c) {
    return (c->kind == CONN_NS && c->state == NS_AUTH) || (c->kind == CONN_SB && c->email[0]);
}

/* Over the process-wide budget, a connection that already holds this much
 * is dropped; smaller queues still grow, so one slow reader cannot starve
 * everyone else's replies. */
#define OUTPUT_FAIR_SHARE (64u * 1024u)

static void drop_for_output(conn *c, const char *why) {
    /* Closing is deferred: the caller may be walking a list this
     * connection is on. */
    if (c->reap_close) return;
    LOGW(why, "conn=%llu peer=%s queued=%zu", (unsigned long long)c->id, c->peer, outbuf_pending(&c->out));
    c->reap_close = 1;
    schedule_reap(c);
}

/* 1 when n more bytes may be queued for c; 0 when they would pass an
 * output limit, and c is being dropped. */
static int conn_admit(conn *c, size_t n) {
    msnd_server *s = c->srv;
    size_t pending = outbuf_pending(&c->out);
    /* A client that does not read must not make us buffer without end: what
     * it asked for is queued whole, and anything more than the limit
     * beyond what it has still to read of that drops it. */
    int logged_in = conn_logged_in(c);
    size_t limit = (size_t)(logged_in ? s->cfg.max_output : s->cfg.max_output_before_login) + c->reply_left;
    if (!c->reply_whole && pending + n > limit) {
        drop_for_output(c, logged_in ? "dropping slow client" : "output limit before login: dropping client");
        return 0;
    }
    if (s->cfg.max_output_total > 0 && s->out_queued + n > (size_t)s->cfg.max_output_total &&
        pending >= OUTPUT_FAIR_SHARE) {
        drop_for_output(c, "global output budget used up: dropping the slowest clients");
        return 0;
    }
    return 1;
}

/* n bytes joined c's output: counted, and c goes on the flush list. */
static void conn_queued(conn *c, size_t n) {
    c->srv->out_queued += n;
    if (c->reply_whole) c->reply_left += n;
    flush_queue(c);
}

void conn_reply_begin(conn *c) {
    /* Only while nothing is left of the last one: a client that keeps
     * asking without reading holds one reply and the limit, no more. */
    c->reply_whole = c->reply_left == 0;
}

void conn_reply_end(conn *c) { c->reply_whole = 0; }

int conn_send(conn *c, const void *data, size_t n) {
    /* reap_close: what is queued is discarded with the connection. */
    if (c->closing || c->fd < 0 || c->reap_close) return -1;
    if (!conn_admit(c, n)) return -1;
    if (outbuf_append(&c->out, data, n) != 0) {
        c->reap_close = 1;
        schedule_reap(c);
        return -1;
    }
    conn_queued(c, n);
    return 0;
}

void conn_cmd(conn *c, const char *name, msnd_trid trid, ...) {
    msnp_str params[MSNP_MAX_PARAMS];
    size_t n = 0;
    va_list ap;
    va_start(ap, trid);
    const char *p;
    while ((p = va_arg(ap, const char *)) != NULL && n < MSNP_MAX_PARAMS) params[n++] = msnp_str_c(p);
    va_end(ap);
    if (c->closing || c->fd < 0) return;
    /* Formatted in place when the output buffer has the room (a line is
     * checked and measured before a byte is written, so a line that does
     * not fit leaves nothing behind); else formatted here and appended. */
    size_t room;
    char *tail = outbuf_tail(&c->out, &room);
    if (tail) {
        long len = msnp_write_cmd(tail, room, name, trid.digits, trid.value, params, n);
        if (len >= 0) {
            if (conn_admit(c, (size_t)len)) {
                outbuf_commit(&c->out, (size_t)len);
                conn_queued(c, (size_t)len);
            }
            return;
        }
    }
    char buf[4096];
    long len = msnp_write_cmd(buf, sizeof buf, name, trid.digits, trid.value, params, n);
    if (len < 0) {
        LOGE("cannot format reply", "conn=%llu cmd=%s", (unsigned long long)c->id, name);
        return;
    }
    conn_send(c, buf, (size_t)len);
}

void conn_err(conn *c, int code, msnd_trid trid) {
    if (code < 100 || code > 999) return;
    char name[4] = {(char)('0' + code / 100), (char)('0' + (code / 10) % 10), (char)('0' + code % 10), 0};
    char buf[40];
    long len = msnp_write_cmd(buf, sizeof buf, name, trid.digits ? trid.digits : 1, trid.value, NULL, 0);
    if (len > 0) conn_send(c, buf, (size_t)len);
}

void conn_err_cmd(conn *c, int code, const msnp_cmd *cmd) {
    if (cmd->has_trid) conn_err(c, code, trid_of(cmd));
    else conn_close(c, "error on a command without TrID");
}

/* ---- lifecycle ---- */

static void on_timer(evutil_socket_t fd, short what, void *arg);

static const char no_name[] = "";

/* Frees c's name unless it is no_name (set at accept, never allocated). */
static void name_free(conn *c) {
    if (c->name != no_name) free((char *)c->name);
}

int conn_set_name(conn *c, const char *name) {
    char *copy = strdup(name);
    if (!copy) return -1;
    name_free(c);
    c->name = copy;
    return 0;
}

/* Events, buffers, the socket and the name of a connection. */
static void conn_release(conn *c) {
    if (c->timer) event_free(c->timer);
    if (c->reaper) event_free(c->reaper);
    if (c->rev) event_free(c->rev);
    if (c->wev) event_free(c->wev);
    if (c->in) evbuffer_free(c->in);
    c->srv->out_queued -= outbuf_pending(&c->out);
    outbuf_release(&c->out);
    if (c->fd >= 0) evutil_closesocket(c->fd);
    presence_forget(c);
    c->timer = c->reaper = c->rev = c->wev = NULL;
    c->in = NULL;
    c->fd = -1;
    name_free(c);
    c->name = no_name;
}

static void conn_free(conn *c) {
    if (c->freeing) return;
    if (c->on_fiber) { /* its handler still runs; the job's end frees it */
        if (!c->closing) conn_close(c, "freed");
        c->free_deferred = 1;
        return;
    }
    if (c->in_cleanup) { /* conn_close is parked in the role cleanup; it reaps when done */
        c->free_deferred = 1;
        return;
    }
    if (!c->closing) conn_close(c, "freed");
    c->freeing = 1;
    flush_unlink(c);
    msnd_server *s = c->srv;
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nconns--;
    addr_count(s, c->peer_ip, -1);
    conn_release(c);
    LOGD("connection freed", "conn=%llu", (unsigned long long)c->id);
    free(c);
    server_maybe_exit(s);
}

void server_maybe_exit(msnd_server *s) {
    if (s->shutting_down && s->nconns == 0 && !s->gone_sweeping && !presence_busy(s->presence) && !link_busy(s))
        event_base_loopexit(s->base, NULL);
}

static void on_reap(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    conn *c = arg;
    if (c->on_fiber) return;   /* the job's end reaps */
    if (c->in_cleanup) return; /* conn_close reaps when its cleanup is done */
    if (c->reap_close && !c->closing) {
        conn_close(c, "output limit");
        conn_free(c); /* the queued output could not be delivered anyway */
        return;
    }
    if (!c->closing) return;
    if (c->reap_close || c->fd < 0 || outbuf_pending(&c->out) == 0) conn_free(c);
}

static void on_close_grace(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    conn_free(arg);
}

void conn_close(conn *c, const char *reason) {
    if (c->closing) return;
    c->closing = 1;
    LOGD("closing connection", "conn=%llu peer=%s reason=\"%s\"", (unsigned long long)c->id, c->peer, reason);
    /* Role cleanup first, so others see FLN/BYE at once. It may wait for
     * the store on whichever fiber called us; meanwhile the connection is
     * not freed (conn_free and on_reap defer to the end of this function). */
    c->in_cleanup = 1;
    if (c->kind == CONN_NS) ns_on_close(c);
    else if (c->kind == CONN_SB) sb_on_close(c);
    c->in_cleanup = 0;
    /* No more input and no idle timeout. Queued output still goes out: it is
     * on the flush list or waiting for the socket, and the connection is
     * freed once it is gone (conn_write_out). */
    if (c->rev) event_del(c->rev);
    /* Do not wait forever for a peer that stopped reading. */
    if (c->timer) event_free(c->timer);
    c->timer = evtimer_new(c->srv->base, on_close_grace, c);
    if (c->timer) {
        struct timeval tv = {2, 0};
        evtimer_add(c->timer, &tv);
    }
    if (!c->in_read) schedule_reap(c); /* a free deferred by in_cleanup happens there */
}

static void on_timer_fiber(conn *c, fiber_fn fn);
static void job_ns_timer(void *arg) { ns_on_timer(arg); }

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    conn *c = arg;
    if (c->closing) return;
    if (c->kind == CONN_NS && c->state == NS_AUTH) {
        on_timer_fiber(c, job_ns_timer); /* closing a logged-in user tells its watchers */
        return;
    }
    if (c->kind == CONN_SB && c->sb_joined) return;
    LOGI("login timeout", "conn=%llu peer=%s role=%s", (unsigned long long)c->id, c->peer, kind_names[c->kind]);
    conn_close(c, "login timeout");
}

void conn_set_login_timer(conn *c, long seconds) {
    if (c->closing) return;
    if (seconds <= 0) { /* logged in: most sessions never need it again (a CHL makes a new one) */
        if (c->timer) event_free(c->timer);
        c->timer = NULL;
        return;
    }
    if (!c->timer) c->timer = evtimer_new(c->srv->base, on_timer, c);
    if (!c->timer) return;
    struct timeval tv = {(time_t)seconds, 0};
    evtimer_add(c->timer, &tv);
}

/* The read event carries the timeout: being persistent, it restarts at
 * every read, so it fires only after `seconds` without input. */
void conn_set_idle_timeout(conn *c, long seconds) {
    if (!c->rev || c->closing) return;
    c->idle_seconds = seconds;
    if (seconds > 0) {
        struct timeval tv = {(time_t)seconds, 0};
        event_add(c->rev, &tv);
        c->idle_timeout = 1;
    } else if (c->idle_timeout) {
        /* event_add(NULL) would keep the old timeout. */
        event_del(c->rev);
        event_add(c->rev, NULL);
        c->idle_timeout = 0;
    }
}

static void dispatch(conn *c, const msnp_cmd *cmd) {
    msnd_server *s = c->srv;
    if (!bucket_take(&c->bucket, server_now_ms(), (double)s->cfg.max_commands_per_second,
                     (double)s->cfg.command_burst)) {
        /* Over the rate: refuse this command; keep refusing until the
         * bucket refills. A client that ignores 713 ends up closed by the
         * output limit or the idle timer, never by a busy loop here. */
        if (cmd->has_trid) conn_err(c, MSNP_ERR_USER_TOO_ACTIVE, trid_of(cmd));
        return;
    }
    switch (c->kind) {
    case CONN_DS: role_dispatch(&ds_role, c, cmd); break;
    case CONN_NS: role_dispatch(&ns_role, c, cmd); break;
    case CONN_SB: role_dispatch(&sb_role, c, cmd); break;
    }
}

/* The notification handlers' reads of one event-loop pass (a login's SYN
 * alone is a dozen queries; a busy pass holds the input of dozens of
 * connections) share one read transaction, so SQLite's locking and file
 * checks are paid once per pass instead of once per batch. It ends in an
 * event that runs after every callback of the pass; a change ends it first
 * and commits on its own (store.h). Another process's commit is seen from
 * the next pass on, as if it had come a moment later. */
void server_pass_read_scope(msnd_server *s) {
    if (s->pass_reading || !s->store || !s->pass_end_ev) return;
    store_read_begin(s->store);
    s->pass_reading = 1;
    event_active(s->pass_end_ev, EV_TIMEOUT, 0);
}

static void on_pass_end(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    msnd_server *s = arg;
    if (!s->pass_reading) return;
    s->pass_reading = 0;
    store_read_end(s->store);
}

/* Reading: one recv per readiness event into a buffer shared by all
 * connections (no FIONREAD probe, no copy into a per-connection buffer),
 * parsed in place. Only an incomplete item at the end is kept, in c->in, and
 * the next read is appended to it so the parser sees the same unconsumed
 * bytes first (lib/msnp parser contract). The parser's line and payload
 * limits bound what c->in can hold. */
#define READ_CHUNK 65536
static char read_buf[READ_CHUNK];
static void dispatch(conn *c, const msnp_cmd *cmd);

/* Every connection holds one conn for as long as it is open, so it is most
 * of what an idle session costs in msnd's heap (docs/msnd.md, "Input and
 * output path"; the benchmark's target is 8 KiB a session in all). A
 * command kept in it for the fiber path and a name buffer of the largest
 * size once made it 1 592 bytes; growing it again should be a decision,
 * not an accident. */
_Static_assert(sizeof(conn) <= 720, "conn is held by every open connection: keep it small");

/* ---- input on fibers ----
 * With a store that waits on fibers (PostgreSQL), each command runs on a
 * fiber of its own, and so does the cleanup of a connection the peer
 * closed (its FLN fan-out reads the store). When the handler waits for the
 * database, the connection stops reading until the handler is done, so
 * its commands keep their order, and the loop serves everyone else. The
 * command's bytes stay in c->in (which nothing else touches meanwhile)
 * until then. */
static void conn_process(conn *c);

/* fiber_run starts the job at once, while conn_process's frame (which
 * holds the command) is still below it: the copy is taken then. The
 * command's bytes stay in c->in until job_done. */
static void job_command(void *arg) {
    conn *c = arg;
    msnp_cmd cmd = *c->job_cmd;
    c->job_cmd = NULL;
    dispatch(c, &cmd);
}

static void job_peer_closed(void *arg) { conn_close(arg, "peer closed"); }

/* On the loop's stack once a job has finished. */
static void job_done(void *arg) {
    conn *c = arg;
    c->on_fiber = 0;
    c->in_read = 0;
    /* Dropped for its output while on the fiber: on_reap skipped it then. */
    if (c->reap_close) schedule_reap(c);
    if (c->in && c->job_used) evbuffer_drain(c->in, c->job_used);
    c->job_used = 0;
    if (outbuf_pending(&c->out) > 0) flush_queue(c);
    if (!c->fiber_waited) return; /* finished at once: the caller goes on */
    c->fiber_waited = 0;
    if (c->free_deferred) {
        conn_free(c);
        return;
    }
    if (c->closing) {
        schedule_reap(c);
        return;
    }
    if (c->rev) {
        struct timeval tv = {(time_t)c->idle_seconds, 0};
        event_add(c->rev, c->idle_timeout ? &tv : NULL);
    }
    conn_process(c);
}

/* Runs fn on a fiber for c. 1: it waits (input paused), 0: done. */
static int conn_job(conn *c, fiber_fn fn) {
    c->on_fiber = 1;
    c->in_read = 1;
    int rc = fiber_run(c->srv->base, fn, job_done, c);
    if (rc < 0) { /* no fiber: run it here, waiting the blocking way */
        fn(c);
        job_done(c);
        return 0;
    }
    if (rc == 1) c->fiber_waited = 1; /* input paused: on_readable */
    return rc;
}

/* A timer's work on c that may read the store (closing a logged-in user
 * runs the FLN fan-out): on a fiber when the store waits on fibers, like
 * a command, unless a command of c is on one now (then its waits are
 * the blocking kind, as before). */
static void on_timer_fiber(conn *c, fiber_fn fn) {
    if (!c->srv->fibers || c->on_fiber) {
        fn(c);
        return;
    }
    if (conn_job(c, fn) == 0 && c->closing) schedule_reap(c);
}

int conn_background(conn *c, fiber_fn fn) {
    if (c->closing || c->on_fiber || c->in_cleanup) return -1;
    on_timer_fiber(c, fn);
    return 0;
}

static void job_idle_timeout(void *arg) { conn_close(arg, "idle timeout"); }

/* The login steps before the password (VER, INF, CVR, USR MD5 I) never
 * read the store: they run on the loop's stack, sparing each a fiber
 * (glibc's getcontext/swapcontext save and restore the signal mask: three
 * system calls per command). Anything else may wait for the database. */
static int reads_no_store(const conn *c, const msnp_cmd *cmd) {
    if (c->kind != CONN_NS && c->kind != CONN_DS) return 0;
    if (cmd->code == MSNP_VER || cmd->code == MSNP_INF || cmd->code == MSNP_CVR) return 1;
    return c->kind == CONN_NS && cmd->code == MSNP_USR && cmd->argc >= 3 && msnp_str_eq(cmd->argv[2], "I");
}

/* A line msnp_parse refused whole (`ver 1 MSNP7`, a control byte, too many
 * parameters) leaves the framing intact: it becomes a command of no known
 * name, which dispatch answers with 200 when it has a TrID (rate-limited
 * as any other) and closes the connection on when it has none. -1 when
 * the framing is lost. */
static long malformed_line(conn *c, const char *data, size_t len, const msnp_parse_error *perr, msnp_cmd *cmd) {
    long r = msnp_parse_bad_line(&c->parser, data, len, perr, cmd);
    if (r <= 0) return -1;
    LOGI("malformed command", "conn=%llu peer=%s role=%s error=\"%s\" offset=%llu", (unsigned long long)c->id, c->peer,
         kind_names[c->kind], perr->what, (unsigned long long)perr->offset);
    return r;
}

/* Handles the complete commands in c->in, one job each, until one waits. */
static void conn_process(conn *c) {
    /* Bounded: every turn consumes a command or leaves the loop. */
    while (!c->closing && !c->reap_close && !c->on_fiber && c->in && evbuffer_get_length(c->in) > 0) {
        size_t len = evbuffer_get_length(c->in);
        const char *data = (const char *)evbuffer_pullup(c->in, -1);
        msnp_parse_error perr;
        msnp_cmd cmd;
        long r = data ? msnp_parse(&c->parser, data, len, &cmd, &perr) : -1;
        if (r == 0) break;
        if (r < 0 && data) r = malformed_line(c, data, len, &perr, &cmd);
        if (r < 0) {
            LOGI("protocol error, closing", "conn=%llu peer=%s role=%s error=\"%s\"", (unsigned long long)c->id,
                 c->peer, kind_names[c->kind], data ? perr.what : "out of memory");
            conn_close(c, data ? perr.what : "out of memory");
            break;
        }
        c->job_used = (size_t)r;
        c->job_cmd = &cmd;
        if (cmd.code == 0 || reads_no_store(c, &cmd)) { /* as conn_job does without a fiber */
            c->on_fiber = 1;
            c->in_read = 1;
            job_command(c);
            job_done(c);
            continue;
        }
        if (conn_job(c, job_command) == 1) return;
    }
    if (c->closing) {
        if (c->in) evbuffer_free(c->in);
        c->in = NULL;
        if (!c->on_fiber) schedule_reap(c);
        return;
    }
    if (c->in && evbuffer_get_length(c->in) == 0) {
        evbuffer_free(c->in);
        c->in = NULL;
    }
}

static void on_readable_fibers(conn *c, evutil_socket_t fd) {
    ssize_t got = recv(fd, read_buf, sizeof read_buf, 0);
    if (got == 0) {
        if (conn_job(c, job_peer_closed) == 0) conn_free(c);
        else c->free_deferred = 1;
        return;
    }
    if (got < 0) {
        if (!io_retriable(errno)) conn_fail(c, "socket error");
        return;
    }
    if (!c->in) c->in = evbuffer_new();
    if (!c->in || evbuffer_add(c->in, read_buf, (size_t)got) != 0) {
        conn_fail(c, "out of memory");
        return;
    }
    conn_process(c);
}

static void on_readable(evutil_socket_t fd, short what, void *arg) {
    conn *c = arg;
    /* A command of c waits on a fiber: no input, no idle timeout until it
     * is done (job_done adds the event again). The event is taken off only
     * when something happens meanwhile: a lock-step client sends nothing
     * while it waits for the reply, and taking it off and on for every
     * waiting command was two epoll_ctl calls per login. */
    if (c->fiber_waited) {
        event_del(c->rev);
        return;
    }
    if (what & EV_TIMEOUT) {
        LOGI("idle timeout", "conn=%llu peer=%s role=%s", (unsigned long long)c->id, c->peer, kind_names[c->kind]);
        on_timer_fiber(c, job_idle_timeout);
        return;
    }
    if (c->srv->fibers) {
        on_readable_fibers(c, fd);
        return;
    }
    /* Before the read: a dropped connection's FLN fan-out reads too. */
    if (c->kind == CONN_NS) server_pass_read_scope(c->srv);
    ssize_t got = recv(fd, read_buf, sizeof read_buf, 0);
    if (got == 0) {
        conn_fail(c, "peer closed");
        return;
    }
    if (got < 0) {
        if (!io_retriable(errno)) conn_fail(c, "socket error");
        return;
    }
    const char *data = read_buf;
    size_t len = (size_t)got;
    if (c->in) {
        if (evbuffer_add(c->in, read_buf, len) != 0 || !(data = (const char *)evbuffer_pullup(c->in, -1))) {
            conn_fail(c, "out of memory");
            return;
        }
        len = evbuffer_get_length(c->in);
    }
    c->in_read = 1;
    size_t used = 0;
    /* Bounded: every turn either consumes bytes or leaves the loop. */
    while (!c->closing && used < len) {
        msnp_cmd cmd;
        msnp_parse_error perr;
        long r = msnp_parse(&c->parser, data + used, len - used, &cmd, &perr);
        if (r == 0) break;
        if (r < 0) r = malformed_line(c, data + used, len - used, &perr, &cmd);
        if (r < 0) {
            LOGI("protocol error, closing", "conn=%llu peer=%s role=%s error=\"%s\" offset=%llu",
                 (unsigned long long)c->id, c->peer, kind_names[c->kind], perr.what, (unsigned long long)perr.offset);
            conn_close(c, perr.what);
            break;
        }
        dispatch(c, &cmd);
        used += (size_t)r;
    }
    c->in_read = 0;
    if (c->closing) {
        if (c->in) evbuffer_free(c->in);
        c->in = NULL;
        schedule_reap(c);
        return;
    }
    if (c->in) {
        evbuffer_drain(c->in, used);
        if (evbuffer_get_length(c->in) == 0) {
            evbuffer_free(c->in);
            c->in = NULL;
        }
    } else if (used < len) {
        c->in = evbuffer_new();
        if (!c->in || evbuffer_add(c->in, data + used, len - used) != 0) conn_fail(c, "out of memory");
    }
}

static void fill_addr(const struct sockaddr *sa, char *ip, size_t ipcap, uint16_t *port) {
    ip[0] = '\0';
    *port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        /* By hand: glibc's inet_ntop formats an IPv4 address with sprintf,
         * some 1 700 instructions for every connection accepted. */
        const unsigned char *b = (const unsigned char *)&in->sin_addr;
        if (ipcap >= INET_ADDRSTRLEN) {
            char *p = ip;
            for (int i = 0; i < 4; i++) {
                if (i) *p++ = '.';
                p = msnkit_put_dec(p, b[i]);
            }
        } else inet_ntop(AF_INET, &in->sin_addr, ip, (socklen_t)ipcap);
        *port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, (socklen_t)ipcap);
        *port = ntohs(in6->sin6_port);
    }
}

static int is_wildcard(const char *host) {
    return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 || host[0] == '\0';
}

static int keepalive_is(evutil_socket_t fd, long idle_seconds);

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg) {
    (void)l;
    (void)salen;
    listener_info *li = arg;
    msnd_server *s = li->srv;
    char ip[48];
    uint16_t port;
    fill_addr(sa, ip, sizeof ip, &port);
    if (s->shutting_down) {
        evutil_closesocket(fd);
        return;
    }
    if (s->cfg.max_connections > 0 && (long)s->nconns >= s->cfg.max_connections) {
        uint64_t now = server_now_ms();
        if (now - s->last_full_log_ms >= 1000) { /* once a second, not once a connection */
            s->last_full_log_ms = now;
            LOGW("connection limit reached, refusing", "peer=%s limit=%ld", ip, s->cfg.max_connections);
        }
        evutil_closesocket(fd);
        return;
    }
    long have = (long)(intptr_t)strmap_get(s->per_address, ip);
    if (s->cfg.max_connections_per_address > 0 && have >= s->cfg.max_connections_per_address) {
        uint64_t now = server_now_ms();
        if (now - s->last_addr_full_log_ms >= 1000) { /* a flood from one address is one line a second */
            s->last_addr_full_log_ms = now;
            LOGW("too many connections from one address", "peer=%s limit=%ld", ip, s->cfg.max_connections_per_address);
        }
        evutil_closesocket(fd);
        return;
    }
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    c->fd = fd;
    c->srv = s;
    c->kind = li->kind;
    c->id = ++s->next_conn_id;
    /* ip is a numeric address (INET6_ADDRSTRLEN at most): both fit */
    msnkit_copy(c->peer_ip, sizeof c->peer_ip, ip);
    msnkit_endpoint(c->peer, sizeof c->peer, ip, port);
    c->status = MSNP_STATUS_FLN;
    c->name = no_name;
    msnp_parser_limits lim = msnp_default_limits;
    lim.max_line = (size_t)s->cfg.max_line;
    lim.max_payload = (size_t)s->cfg.max_payload;
    msnp_parser_init(&c->parser, MSNP_FROM_CLIENT, &lim);
    c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_readable, c);
    c->reaper = event_new(s->base, -1, 0, on_reap, c);
    if (!c->rev || !c->reaper || event_add(c->rev, NULL) != 0) {
        conn_release(c);
        free(c);
        return;
    }
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    addr_count(s, ip, +1);
    /* Replies go out once per loop pass, so Nagle would only delay them.
     * Linux copies TCP_NODELAY from the listening socket; check that once
     * per listener and set it per connection only where it is not. */
    int one = 1;
    if (li->nodelay == 0) {
        int v = 0;
        socklen_t vl = sizeof v;
        li->nodelay = getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &vl) == 0 && v ? 1 : -1;
    }
    if (li->nodelay < 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* The keepalive options are inherited the same way (set on the
     * listener in server_listen): four system calls saved per connection. */
    if (li->keepalive == 0) li->keepalive = keepalive_is(fd, s->cfg.tcp_keepalive) ? 1 : -1;
    if (li->keepalive < 0) server_keepalive(fd, s->cfg.tcp_keepalive);
    conn_set_login_timer(c, s->cfg.login_timeout);
    LOGD("connection accepted", "conn=%llu peer=%s role=%s", (unsigned long long)c->id, c->peer, kind_names[c->kind]);
}

/* Then a probe every idle/4 seconds (at least 1), 4 unanswered probes
 * and the kernel resets the connection: gone within twice idle. */
static void keepalive_values(long idle_seconds, int v[4]) {
    v[0] = 1;
    v[1] = (int)idle_seconds;
    v[2] = idle_seconds >= 8 ? (int)(idle_seconds / 4) : 1;
    v[3] = 4;
}

static const struct {
    int level, name;
} keepalive_opts[4] = {
    {SOL_SOCKET, SO_KEEPALIVE}, {IPPROTO_TCP, TCP_KEEPIDLE}, {IPPROTO_TCP, TCP_KEEPINTVL}, {IPPROTO_TCP, TCP_KEEPCNT}};

void server_keepalive(evutil_socket_t fd, long idle_seconds) {
    if (idle_seconds <= 0) return;
    int v[4];
    keepalive_values(idle_seconds, v);
    for (int i = 0; i < 4; i++) setsockopt(fd, keepalive_opts[i].level, keepalive_opts[i].name, &v[i], sizeof v[i]);
}

/* 1 when fd already has the options server_keepalive would set (or none
 * are wanted). */
static int keepalive_is(evutil_socket_t fd, long idle_seconds) {
    if (idle_seconds <= 0) return 1;
    int want[4];
    keepalive_values(idle_seconds, want);
    for (int i = 0; i < 4; i++) {
        int v = 0;
        socklen_t vl = sizeof v;
        if (getsockopt(fd, keepalive_opts[i].level, keepalive_opts[i].name, &v, &vl) != 0 || v != want[i]) return 0;
    }
    return 1;
}

static void reenable_listener(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    evconnlistener_enable(arg);
}

static void on_listen_error(struct evconnlistener *l, void *arg) {
    (void)arg;
    int err = EVUTIL_SOCKET_ERROR();
    LOGW("accept failed", "error=\"%s\"", evutil_socket_error_to_string(err));
    /* Out of descriptors: pause accepting briefly instead of spinning. */
    evconnlistener_disable(l);
    struct timeval tv = {1, 0};
    event_base_once(evconnlistener_get_base(l), -1, EV_TIMEOUT, reenable_listener, l, &tv);
}

/* ---- addresses ---- */

/* "host:port" or "[v6]:port"; port 0 (ephemeral) is allowed here. */
static int split_addr(const char *in, char *host, size_t hcap, uint16_t *port) {
    const char *colon = strrchr(in, ':');
    if (!colon || colon == in || !colon[1]) return -1;
    const char *h = in;
    size_t hlen = (size_t)(colon - in);
    if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= hcap) return -1;
    uint64_t v;
    if (msnp_str_to_u64(msnp_str_c(colon + 1), 65535, &v) != 0) return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)v;
    return 0;
}

void server_advertised(const msnd_server *s, const conn *c, conn_kind kind, char *out, size_t cap) {
    if (kind == CONN_SB && s->sb_address[0]) {
        snprintf(out, cap, "%s", s->sb_address);
        return;
    }
    for (size_t i = 0; i < s->nlisteners; i++) {
        const listener_info *li = &s->listeners[i];
        if (li->kind != kind) continue;
        /* Behind a wildcard bind, the address this client reached us on,
         * asked of its socket here (a referral or ring needs it, not every
         * connection); otherwise the listener's own. */
        const char *host = li->host;
        char local_ip[64];
        struct sockaddr_storage local;
        socklen_t llen = sizeof local;
        if (is_wildcard(li->host) && c && c->fd >= 0 && getsockname(c->fd, (struct sockaddr *)&local, &llen) == 0) {
            uint16_t lport;
            fill_addr((struct sockaddr *)&local, local_ip, sizeof local_ip, &lport);
            if (local_ip[0]) host = local_ip;
        }
        msnkit_endpoint(out, cap, host, li->port); /* an IPv6 address in brackets */
        return;
    }
    snprintf(out, cap, "127.0.0.1:1863");
}

void server_ns_for(const msnd_server *s, const conn *c, const char *email, char *out, size_t cap) {
    if (s->nns_nodes == 0) {
        server_advertised(s, c, CONN_NS, out, cap);
        return;
    }
    snprintf(out, cap, "%s", s->ns_nodes[server_email_hash(email) % s->nns_nodes]);
}

uint32_t server_email_hash(const char *email) {
    uint32_t h = 2166136261u;
    for (const char *p = email; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 16777619u;
    }
    /* FNV-1a's low bits depend only on the low bits of the characters
     * (the multiplier is odd), so "h % nodes" alone would split users by
     * little more than the parity of their names. Mix the high bits down. */
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    return h;
}

int server_sb_for_xfr(msnd_server *s, const conn *c, char *out, size_t cap) {
    if (s->sb_address[0] || s->has_sb) {
        server_advertised(s, c, CONN_SB, out, cap);
        return 0;
    }
    return link_next_sb(s, out, cap);
}

int server_addr_is_any(const struct sockaddr_storage *ss) {
    if (ss->ss_family == AF_INET) return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    if (ss->ss_family == AF_INET6) return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
    return 0;
}

int server_parse_addr(const char *addr, struct sockaddr_storage *ss, int *sslen) {
    char host[CFG_ADDR];
    uint16_t port;
    if (split_addr(addr, host, sizeof host, &port) != 0) return -1;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        *sslen = (int)sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        *sslen = (int)sizeof *v6;
    } else {
        return -1;
    }
    return 0;
}

static int add_listener(msnd_server *s, conn_kind kind, const char *addr, char *err, size_t errcap) {
    listener_info *li = &s->listeners[s->nlisteners];
    char host[CFG_ADDR];
    uint16_t port;
    if (split_addr(addr, host, sizeof host, &port) != 0) {
        snprintf(err, errcap, "bad %s address '%s' (want host:port)", kind_names[kind], addr);
        return -1;
    }
    struct sockaddr_storage ss;
    int sslen;
    if (server_parse_addr(addr, &ss, &sslen) != 0) {
        snprintf(err, errcap, "bad %s address '%s' (want a numeric IP and a port)", kind_names[kind], addr);
        return -1;
    }
    li->srv = s;
    li->l = evconnlistener_new_bind(s->base, on_accept, li,
                                    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 1024,
                                    (struct sockaddr *)&ss, sslen);
    if (!li->l) {
        snprintf(err, errcap, "cannot listen on %s for %s: %s", addr, kind_names[kind], strerror(errno));
        return -1;
    }
    evconnlistener_set_error_cb(li->l, on_listen_error);
    int one = 1;
    setsockopt(evconnlistener_get_fd(li->l), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    li->nodelay = 0;
    server_keepalive(evconnlistener_get_fd(li->l), s->cfg.tcp_keepalive);
    li->keepalive = 0;
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    getsockname(evconnlistener_get_fd(li->l), (struct sockaddr *)&bound, &blen);
    char bhost[64];
    uint16_t bport;
    fill_addr((struct sockaddr *)&bound, bhost, sizeof bhost, &bport);
    memcpy(li->host, bhost, sizeof li->host);
    li->port = bport;
    msnkit_endpoint(li->bound, sizeof li->bound, bhost, bport);
    li->kind = kind;
    s->nlisteners++;
    LOGI("listening", "role=%s addr=%s", kind_names[kind], li->bound);
    return 0;
}

static int write_port_file(msnd_server *s, char *err, size_t errcap) {
    const char *path = s->cfg.port_file;
    char tmp[CFG_PATH + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errcap, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < s->nlisteners; i++)
        fprintf(f, "%s=%s\n", kind_names[s->listeners[i].kind], s->listeners[i].bound);
    if (link_bound(s)) fprintf(f, "link=%s\n", link_bound(s));
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    struct stat st;
    if (stat(path, &st) == 0) {
        s->port_file_written = 1;
        s->port_file_dev = st.st_dev;
        s->port_file_ino = st.st_ino;
    }
    return 0;
}

/* Not removed when another process has written the name since (a second
 * msnd started with the same --port-file): that file is its. */
static void remove_port_file(msnd_server *s) {
    struct stat st;
    if (!s->port_file_written || stat(s->cfg.port_file, &st) != 0) return;
    if (st.st_dev == s->port_file_dev && st.st_ino == s->port_file_ino && unlink(s->cfg.port_file) != 0)
        LOGW("cannot remove the port file", "file=\"%s\" error=\"%s\"", s->cfg.port_file, strerror(errno));
}

/* ---- signals and housekeeping ---- */

/* The login cache's counts. When full is set, only if snapshots were
 * dropped to make room since the last report and an hour has passed: the
 * accounts behind them read their rows again at their next login, and
 * the line says how to make room for them. */
static void log_login_cache(msnd_server *s, int full, uint64_t now) {
    if (!s->store) return;
    store_login_cache_stats st;
    store_login_cache_stats_get(s->store, &st);
    if (full &&
        (st.evicted == s->cache_evicted_logged || (s->cache_logged_ms && now - s->cache_logged_ms < 3600u * 1000u)))
        return;
    LOGI(full ? "login cache full: snapshots give way before their accounts log in again" : "login cache",
         "budget_mb=%zu used_mb=%zu snapshots=%zu hits=%llu misses=%llu evicted=%llu%s", st.budget >> 20,
         st.bytes >> 20, st.snapshots, (unsigned long long)st.hits, (unsigned long long)st.misses,
         (unsigned long long)st.evicted, full ? " hint=\"a larger --login-cache-mb keeps them\"" : "");
    s->cache_evicted_logged = st.evicted;
    s->cache_logged_ms = now;
}

static void on_shutdown_timer(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    msnd_server *s = arg;
    event_base_loopexit(s->base, NULL);
}

static void begin_shutdown(msnd_server *s, const char *why) {
    if (s->shutting_down) return;
    s->shutting_down = 1;
    LOGI("shutting down", "signal=%s connections=%zu", why, s->nconns);
    log_login_cache(s, 0, server_now_ms());
    for (size_t i = 0; i < s->nlisteners; i++) {
        if (s->listeners[i].l) evconnlistener_free(s->listeners[i].l);
        s->listeners[i].l = NULL;
    }
    /* OUT SSD first to everyone, then close (close runs FLN fan-out, which
     * goes nowhere once everyone is closing). */
    for (conn *c = s->conns; c; c = c->next)
        if (c->kind == CONN_NS && !c->closing) ns_shutdown_notice(c);
    conn *c = s->conns;
    while (c) {
        conn *next = c->next;
        if (!c->closing) conn_close(c, "server shutdown");
        c = next;
    }
    if (s->nconns == 0 && !presence_busy(s->presence) && !link_busy(s)) {
        event_base_loopexit(s->base, NULL);
        return;
    }
    s->shutdown_timer = evtimer_new(s->base, on_shutdown_timer, s);
    struct timeval tv = {(time_t)s->cfg.shutdown_grace, 0};
    if (s->shutdown_timer) evtimer_add(s->shutdown_timer, &tv);
    else event_base_loopexit(s->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
    (void)what;
    msnd_server *s = arg;
    if (sig == SIGHUP) {
        /* Logging to stderr, the journal or syslog there is nothing to
         * reopen; `systemctl reload msnd` is often meant to re-read the
         * settings, which it does not do. */
        if (!s->cfg.log_file[0]) {
            LOGI("SIGHUP: no log file to reopen", "%s",
                 "hint=\"the settings are read at start only: restart msnd to change them\"");
            return;
        }
        /* The old file stays open and keeps the lines: say which file could
         * not be opened in its place, so rotation can be put right. */
        if (log_reopen() != 0)
            LOGW("cannot reopen log file: writing on to the file open before", "file=\"%s\" error=\"%s\"",
                 s->cfg.log_file, strerror(errno));
        else LOGI("log reopened", "%s", "");
        return;
    }
    begin_shutdown(s, sig == SIGTERM ? "TERM" : "INT");
}

static void on_housekeeping(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    msnd_server *s = arg;
    uint64_t now = server_now_ms();
    failures_sweep(s->fail_account_address, now);
    failures_sweep(s->fail_address, now);
    sbreg_sweep(s->sbreg, now);
    link_sweep(s, now);
    outbuf_pool_trim();
    log_login_cache(s, 1, now);
}

/* Accounts deleted by another process (`msnd user del`, another node)
 * while logged in here: their sessions end with OUT, and their watchers get
 * FLN, within a sweep period; so do their switchboard connections here,
 * also those of an account that logged out and stayed in a conversation.
 * One statement asks for all of this node's users, and only after the
 * store says something changed. */
#define GONE_SWEEP_SECONDS 2

typedef struct gone_list {
    int64_t *ids;
    size_t n, cap;
} gone_list;

static void gone_add(int64_t id, void *ctx) {
    gone_list *g = ctx;
    int64_t *p = msnkit_grow(g->ids, &g->cap, g->n + 1, sizeof *p, 16);
    if (!p) return; /* the rest waits for the next sweep */
    g->ids = p;
    g->ids[g->n++] = id;
}

static void job_account_gone(void *arg) { conn_close(arg, "account deleted"); }

/* A deleted account's switchboard connections in this process go with its
 * notification session: it must not go on chatting in conversations it
 * joined before (the others see BYE). Switchboard processes of their own
 * and the other nodes of a cluster, whose switchboards it may have been
 * rung into, hear GONE over the link (link_account_gone,
 * peering_gone_out) and do the same. */
void server_close_switchboards_of(msnd_server *s, const char *email) {
    /* the account's own connections (sbreg), walked afresh after each
     * close, which may close others; account_gone marks those whose close
     * waits for their fiber */
    for (;;) {
        size_t n, i = 0;
        conn *const *v = sbreg_user_members(s->sbreg, email, &n);
        while (i < n && (v[i]->closing || v[i]->account_gone)) i++;
        if (i == n) return;
        conn *c = v[i];
        LOGI("account deleted, switchboard connection closed", "conn=%llu user=%s", (unsigned long long)c->id, email);
        c->account_gone = 1;
        on_timer_fiber(c, job_account_gone);
    }
}

/* Whose account the sweep asks about: a session's, and a switchboard
 * connection's whose account has no session here (or another one, of an
 * account since added again under the same e-mail). */
static int gone_swept(msnd_server *s, const conn *c) {
    if (c->closing || c->account_gone) return 0;
    if (c->kind == CONN_NS) return c->state == NS_AUTH;
    if (c->kind != CONN_SB || !c->sb_joined || !c->uid) return 0;
    const conn *ns = presence_find(s->presence, c->email);
    return !ns || ns->state != NS_AUTH || ns->uid != c->uid;
}

/* The sweep itself: on a fiber when the store waits on fibers, so that a
 * lost database is connected to again without holding up the loop. */
static void gone_sweep(msnd_server *s, uint64_t gen) {
    size_t n = 0, cap = 0;
    int64_t *ids = NULL;
    for (conn *c = s->conns; c; c = c->next) {
        if (!gone_swept(s, c)) continue;
        int64_t *p = msnkit_grow(ids, &cap, n + 1, sizeof *p, 64);
        if (!p) {
            free(ids);
            return; /* the next sweep tries again */
        }
        ids = p;
        ids[n++] = c->uid;
    }
    gone_list g = {0};
    if (store_users_gone(s->store, ids, n, gone_add, &g) != STORE_OK) {
        LOGW("could not check for deleted accounts", "error=\"%s\"", store_errmsg(s->store));
        free(ids);
        free(g.ids);
        return;
    }
    s->gone_checked_gen = gen;
    free(ids);
    /* the connections are walked afresh for each account: closing one may
     * close or free others meanwhile (one session per account here) */
    for (size_t i = 0; i < g.n; i++) {
        conn *c = s->conns;
        while (c && !(gone_swept(s, c) && c->uid == g.ids[i])) c = c->next;
        if (!c) continue; /* closed meanwhile, or listed twice */
        char email[sizeof c->email];
        memcpy(email, c->email, sizeof email);
        if (c->kind == CONN_NS) {
            LOGI("account deleted, session closed", "conn=%llu user=%s", (unsigned long long)c->id, c->email);
            c->account_gone = 1;
            conn_cmd(c, "OUT", trid_none(), NULL);
            on_timer_fiber(c, job_account_gone);
        }
        server_close_switchboards_of(s, email);
        link_account_gone(s, email); /* switchboard processes */
        peering_gone_out(s, email);  /* other nodes' switchboards it was rung into */
    }
    free(g.ids);
}

static void gone_sweep_job(void *arg) {
    msnd_server *s = arg;
    gone_sweep(s, s->gone_sweep_gen);
}

static void gone_sweep_done(void *arg) {
    msnd_server *s = arg;
    s->gone_sweeping = 0;
    server_maybe_exit(s);
}

static void on_gone_sweep(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    msnd_server *s = arg;
    if (s->gone_sweeping || s->shutting_down) return;
    uint64_t gen = store_generation(s->store);
    if (gen == s->gone_checked_gen) return;
    if (s->fibers) {
        s->gone_sweeping = 1;
        s->gone_sweep_gen = gen;
        if (fiber_run(s->base, gone_sweep_job, gone_sweep_done, s) >= 0) return;
        s->gone_sweeping = 0; /* no fiber: the blocking way */
    }
    gone_sweep(s, gen);
}

/* ---- init / run / free ---- */

/* "all", or a comma list of ds, ns, sb. */
static int parse_roles(const char *spec, msnd_server *s) {
    int ds, ns, sb;
    if (config_roles_parse(spec, &ds, &ns, &sb) != 0) return -1;
    s->has_ds = ds != 0;
    s->has_ns = ns != 0;
    s->has_sb = sb != 0;
    return 0;
}

/* The address of a role not given its own: --listen's host, and its port
 * plus offset (port 0 stays 0: ephemeral ports for every role). Two
 * servers on one host given different --listen ports then never collide
 * on the others. -1 when base is not an address, -2 when the port would
 * pass 65535 (or the result not fit). */
static int derived_addr(const char *base, unsigned offset, char *out, size_t cap) {
    char host[CFG_ADDR - 8]; /* room for ":65535" in a CFG_ADDR result */
    uint16_t port = 0;
    if (split_addr(base, host, sizeof host, &port) != 0) return -1;
    if (port != 0 && port + offset > 65535u) return -2;
    return msnkit_endpoint(out, cap, host, port ? port + offset : 0u) == 0 ? 0 : -2;
}

/* How derived_addr got a port, for the log: --listen's port plus the
 * offset, or, for --listen port 0, one the system picks when it binds. */
static void derived_rule(const char *base, unsigned offset, char *out, size_t cap) {
    char host[CFG_ADDR];
    uint16_t port = 0;
    if (split_addr(base, host, sizeof host, &port) == 0 && port == 0)
        snprintf(out, cap, "--listen port 0: chosen by the system (ephemeral)");
    else snprintf(out, cap, "--listen port + %u", offset);
}

/* Every connection is a descriptor: raise the soft limit as far as
 * max_connections needs (and the hard limit allows), and lower
 * max_connections to what is left, so accept() never fails for want of
 * descriptors. Below FD_MIN msnd does not start: the failure would come
 * from whatever ran out first, named as something else (SQLite says it
 * cannot open the database: "the directory must be writable"). */
#define FD_RESERVE 64 /* listeners, the store, cluster links, logs */
/* What start takes (the standard streams, the event loop, the database's
 * three files, three listeners, the log, the port file: 15) and a few
 * connections. */
#define FD_MIN 32
static int fit_connection_limit(msnd_server *s, char *err, size_t errcap) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    rlim_t want = s->cfg.max_connections > 0 ? (rlim_t)s->cfg.max_connections + FD_RESERVE : FD_MIN;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < FD_MIN) {
        snprintf(err, errcap,
                 "the limit on open files is %llu (hard limit %llu), too low: msnd needs at least %d, for its "
                 "listeners, the database files, the log and a few connections (raise it: ulimit -n, or "
                 "LimitNOFILE= in the systemd unit)",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, FD_MIN);
        return -1;
    }
    if (s->cfg.max_connections > 0 && rl.rlim_cur < want) {
        long fit = rl.rlim_cur > 2 * FD_RESERVE ? (long)(rl.rlim_cur - FD_RESERVE) : (long)rl.rlim_cur / 2;
        LOGW("descriptor limit below max-connections, lowering it", "max_connections=%ld nofile=%llu using=%ld",
             s->cfg.max_connections, (unsigned long long)rl.rlim_cur, fit);
        s->cfg.max_connections = fit;
    }
    return 0;
}

int server_init(msnd_server *s, const msnd_config *cfg, char *err, size_t errcap) {
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    if (fit_connection_limit(s, err, errcap) != 0) return -1;
    /* the settings that contradict each other, as msnd's start checks them
     * before anything is created (a caller may not have) */
    if (config_check(cfg, err, errcap) != 0) return -1;
    parse_roles(cfg->role, s); /* checked by config_check */
    int want_ds = s->has_ds, want_ns = s->has_ns, want_sb = s->has_sb;
    s->base = event_base_new();
    s->per_address = strmap_new();
    s->presence = presence_new();
    s->sbreg = sbreg_new();
    s->fail_account_address =
        failures_new(cfg->auth_failures_per_account, cfg->auth_failure_window, cfg->auth_delay, cfg->auth_max_delay);
    s->fail_address =
        failures_new(cfg->auth_failures_per_address, cfg->auth_failure_window, cfg->auth_delay, cfg->auth_max_delay);
    if (!s->base || !s->per_address || !s->presence || !s->sbreg || !s->fail_account_address || !s->fail_address) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    if (want_ns) {
        s->store = store_open(cfg->db, err, errcap);
        if (!s->store) {
            /* Which setting to fix (the connection string itself may hold
             * a password: not repeated here). */
            size_t len = strlen(err);
            if (len < errcap) snprintf(err + len, errcap - len, " (check --db, or db = in the configuration file)");
            return -1;
        }
        /* A mistyped --db or a truncated file becomes an empty store, which
         * answers every login with 911: say so at start. A PostgreSQL
         * string may hold a password: only a file is named. */
        int sqlite = strcmp(store_backend_name(s->store), "sqlite") == 0;
        const char *file = strncmp(cfg->db, "sqlite:", 7) == 0 ? cfg->db + 7 : cfg->db;
        if (store_created(s->store)) {
            if (sqlite) LOGW("new database created: the file did not exist or was empty", "file=\"%s\"", file);
            else LOGW("new database created: it held no msnd tables", "backend=postgresql");
        }
        if (store_has_accounts(s->store) == 0) {
            static const char none[] =
                "no accounts: every login fails until one is added: msnd user add --db FILE EMAIL PASSWORD";
            if (sqlite) LOGW(none, "file=\"%s\"", file);
            else LOGW(none, "backend=postgresql");
        }
        store_set_login_cache(s->store, (size_t)cfg->login_cache_mb << 20);
        s->fibers = store_waits_on_fibers(s->store);
        store_use_loop(s->store, s->base);
    }
    /* ns-nodes */
    if (cfg->ns_nodes[0]) {
        char tmp[sizeof cfg->ns_nodes];
        snprintf(tmp, sizeof tmp, "%s", cfg->ns_nodes);
        char *save = NULL;
        for (char *tok = strtok_r(tmp, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
            msnp_str h;
            uint16_t p;
            if (s->nns_nodes >= 16 || msnp_split_hostport(msnp_str_c(tok), &h, &p, 1) != 0 ||
                !msnp_param_is_safe(msnp_str_c(tok))) {
                snprintf(err, errcap, "bad --ns-nodes entry '%s' (want host:port, at most 16)", tok);
                return -1;
            }
            snprintf(s->ns_nodes[s->nns_nodes++], CFG_ADDR, "%s", tok);
        }
    }
    if (cfg->sb_address[0]) {
        msnp_str h;
        uint16_t p;
        if (msnp_split_hostport(msnp_str_c(cfg->sb_address), &h, &p, 1) != 0 ||
            !msnp_param_is_safe(msnp_str_c(cfg->sb_address))) {
            snprintf(err, errcap, "bad --sb-address '%s' (want host:port)", cfg->sb_address);
            return -1;
        }
        snprintf(s->sb_address, sizeof s->sb_address, "%s", cfg->sb_address);
    }
    /* --listen is the address of the first role this process plays; the
     * others default to the same host on the next ports (or port 0). */
    char ns_addr[CFG_ADDR], sb_addr[CFG_ADDR];
    unsigned ns_offset, sb_offset; /* from --listen; 0 = given or --listen itself */
    config_port_offsets(cfg, want_ds, want_ns, &ns_offset, &sb_offset);
    snprintf(ns_addr, sizeof ns_addr, "%s", cfg->ns_listen[0] ? cfg->ns_listen : cfg->listen);
    snprintf(sb_addr, sizeof sb_addr, "%s", cfg->sb_listen[0] ? cfg->sb_listen : cfg->listen);
    int drc = ns_offset ? derived_addr(cfg->listen, ns_offset, ns_addr, sizeof ns_addr) : 0;
    if (drc == 0 && sb_offset) drc = derived_addr(cfg->listen, sb_offset, sb_addr, sizeof sb_addr);
    if (drc == -1) { /* said as it is, not as a failure to derive from it */
        snprintf(err, errcap, "bad ds address '%s' (want a numeric IP and a port)", cfg->listen);
        return -1;
    }
    if (drc != 0) {
        snprintf(err, errcap,
                 "cannot derive the other roles' ports from --listen '%s' (give --ns-listen and "
                 "--sb-listen)",
                 cfg->listen);
        return -1;
    }
    char rule[64];
    if (want_ns && ns_offset) {
        derived_rule(cfg->listen, ns_offset, rule, sizeof rule);
        LOGI("notification port derived from --listen", "addr=%s rule=\"%s\"", ns_addr, rule);
    }
    if (want_sb && sb_offset) {
        derived_rule(cfg->listen, sb_offset, rule, sizeof rule);
        LOGI("switchboard port derived from --listen", "addr=%s rule=\"%s\"", sb_addr, rule);
    }

    /* Signals first: whoever sees a port accept may stop us at once (a
     * supervisor, a test that waits for the port rather than for the port
     * file), and SIGTERM's default action would end the server without
     * its clean stop. */
    s->sig_term = evsignal_new(s->base, SIGTERM, on_signal, s);
    s->sig_int = evsignal_new(s->base, SIGINT, on_signal, s);
    s->sig_hup = evsignal_new(s->base, SIGHUP, on_signal, s);
    if (!s->sig_term || !s->sig_int || !s->sig_hup || event_add(s->sig_term, NULL) != 0 ||
        event_add(s->sig_int, NULL) != 0 || event_add(s->sig_hup, NULL) != 0) {
        snprintf(err, errcap, "cannot set up signal handling");
        return -1;
    }
    if (want_ds && add_listener(s, CONN_DS, cfg->listen, err, errcap) != 0) return -1;
    if (want_ns && add_listener(s, CONN_NS, ns_addr, err, errcap) != 0) return -1;
    if (want_sb && add_listener(s, CONN_SB, sb_addr, err, errcap) != 0) return -1;
    if (want_ns && cfg->link_listen[0] && link_listen(s, cfg->link_listen, err, errcap) != 0) return -1;
    /* a switchboard on a wildcard address without --sb-address was
     * refused by config_check: the other nodes (--ns-peers) and linked
     * notification servers are told a concrete address */
    if (cfg->ns_peers[0] && peering_dial_all(s, cfg->ns_peers, err, errcap) != 0) return -1;
    if (want_sb && !want_ns) {
        /* Linked switchboards tell their notification servers where
         * clients reach them: that must be a concrete address. */
        char adv[CFG_ADDR];
        server_advertised(s, NULL, CONN_SB, adv, sizeof adv);
        if (link_connect_all(s, cfg->ns_links, adv, err, errcap) != 0) return -1;
    }
    if (want_ds && !want_ns && s->nns_nodes == 0) {
        derived_addr(cfg->listen, 1, s->ns_nodes[0], CFG_ADDR); /* checked above */
        s->nns_nodes = 1;
        LOGW("--role ds without --ns-nodes: handing out the default NS address", "ns=%s", s->ns_nodes[0]);
    }
    s->housekeeping = event_new(s->base, -1, EV_PERSIST, on_housekeeping, s);
    s->flush_ev = event_new(s->base, -1, 0, on_flush, s);
    s->pass_end_ev = event_new(s->base, -1, 0, on_pass_end, s);
    if (!s->housekeeping || !s->flush_ev || !s->pass_end_ev) {
        snprintf(err, errcap, "cannot set up the server's timers");
        return -1;
    }
    struct timeval hk = {10, 0};
    event_add(s->housekeeping, &hk);
    if (s->has_ns) {
        s->gone_sweep = event_new(s->base, -1, EV_PERSIST, on_gone_sweep, s);
        struct timeval gs = {GONE_SWEEP_SECONDS, 0};
        if (!s->gone_sweep || event_add(s->gone_sweep, &gs) != 0) {
            snprintf(err, errcap, "cannot set up the deleted-accounts sweep");
            return -1;
        }
        s->gone_checked_gen = store_generation(s->store);
    }
    signal(SIGPIPE, SIG_IGN);
    /* Over a file size limit the kernel would kill us; ignored, the write
     * fails instead and the store answers 501 for that command alone. */
    signal(SIGXFSZ, SIG_IGN);
    /* Last: whoever waits for the port file may signal us as soon as it
     * is there, and SIGHUP's default action would end the server. */
    if (cfg->port_file[0] && write_port_file(s, err, errcap) != 0) return -1;
    return 0;
}

int server_run(msnd_server *s) {
    event_base_dispatch(s->base);
    return 0;
}

void server_free(msnd_server *s) {
    remove_port_file(s);
    conn *c = s->conns;
    while (c) {
        conn *next = c->next;
        c->closing = 1; /* no fan-out while tearing down */
        conn_release(c);
        free(c);
        c = next;
    }
    s->conns = NULL;
    s->flush_head = NULL;
    for (size_t i = 0; i < s->nlisteners; i++)
        if (s->listeners[i].l) evconnlistener_free(s->listeners[i].l);
    if (s->sig_term) event_free(s->sig_term);
    if (s->sig_int) event_free(s->sig_int);
    if (s->sig_hup) event_free(s->sig_hup);
    if (s->housekeeping) event_free(s->housekeeping);
    if (s->gone_sweep) event_free(s->gone_sweep);
    if (s->shutdown_timer) event_free(s->shutdown_timer);
    if (s->flush_ev) event_free(s->flush_ev);
    link_free(s);
    if (s->pass_reading) store_read_end(s->store);
    if (s->pass_end_ev) event_free(s->pass_end_ev);
    sbreg_free(s->sbreg);
    presence_free(s->presence);
    failures_free(s->fail_account_address);
    failures_free(s->fail_address);
    if (s->per_address) strmap_free(s->per_address);
    store_close(s->store);
    if (s->base) event_base_free(s->base);
    outbuf_pool_free();
}
