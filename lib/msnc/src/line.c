#include "line.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <msnkit/text.h>

#include "netutil.h"

#define LINE_OUT_MAX 8192
/* Output waiting for a server that does not read: past this the line is
 * closed rather than letting memory grow without bound. */
#define LINE_QUEUE_MAX (256u * 1024u)

struct msnc_line {
    struct event_base *base;
    struct bufferevent *bev;
    msnp_parser parser;
    msnc_line_callbacks cb;
    void *arg;
    uint32_t next_trid;
    int in_dispatch;
    int dead;
    int closing;
    /* A failure found where the owner cannot be told safely (inside
     * msnc_line_connect, inside a send): reported from the event loop. */
    int failing;
    int in_connect_call; /* inside msnc_line_connect */
    struct event *fail_ev;
    struct event *deadline_ev;
    char deadline_why[256];
    char fail_why[512];
    char peer[300];
};

static void line_destroy(msnc_line *l) {
    if (l->fail_ev) event_free(l->fail_ev);
    if (l->deadline_ev) event_free(l->deadline_ev);
    if (l->bev) {
        /* A failed line has nothing worth draining (maybe not even a socket). */
        if (l->closing && !l->failing) msnc_bev_close_after_flush(l->bev);
        else bufferevent_free(l->bev);
    }
    free(l);
}

/* Report "closed" to the owner and let the line go. The owner may free the
 * line from inside the callback: the free waits for in_dispatch. */
static void report_closed(msnc_line *l, const char *why) {
    l->in_dispatch++;
    if (l->cb.closed && !l->dead) {
        l->dead = 1;
        l->cb.closed(l, why, l->arg);
    }
    l->in_dispatch--;
    l->dead = 1;
    if (l->in_dispatch == 0) line_destroy(l);
}

static void fail_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    msnc_line *l = arg;
    report_closed(l, l->fail_why);
}

/* Fail the line later, from the event loop: nothing is sent or read any
 * more, and the owner hears "closed" once the current call has returned. */
static void fail_later(msnc_line *l, const char *why) {
    if (l->failing || l->dead) return;
    l->failing = 1;
    snprintf(l->fail_why, sizeof(l->fail_why), "%s", why);
    if (l->bev) bufferevent_disable(l->bev, EV_READ | EV_WRITE);
    if (!l->fail_ev) l->fail_ev = evtimer_new(l->base, fail_cb, l);
    struct timeval now = {0, 0};
    if (l->fail_ev) evtimer_add(l->fail_ev, &now);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    msnc_line *l = arg;
    if (l->failing || l->dead) return;
    report_closed(l, l->deadline_why);
}

static void read_cb(struct bufferevent *bev, void *arg) {
    msnc_line *l = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    l->in_dispatch++;
    while (!l->dead && !l->failing) {
        size_t len = evbuffer_get_length(in);
        if (len == 0) break;
        const char *buf = (const char *)evbuffer_pullup(in, -1);
        msnp_cmd cmd;
        msnp_parse_error err;
        long n = msnp_parse(&l->parser, buf, len, &cmd, &err);
        if (n == 0) break;
        if (n < 0) {
            char why[512];
            snprintf(why, sizeof(why), "protocol error from %s: %s", l->peer,
                     err.what ? err.what : msnp_parse_status_str(err.status));
            if (l->cb.closed) {
                l->dead = 1;
                l->cb.closed(l, why, l->arg);
            }
            l->dead = 1;
            break;
        }
        if (l->cb.command) l->cb.command(l, &cmd, l->arg);
        /* The views in cmd die here; the callback had its turn. */
        evbuffer_drain(in, (size_t)n);
    }
    l->in_dispatch--;
    if (l->dead && l->in_dispatch == 0) line_destroy(l);
}

static void event_cb(struct bufferevent *bev, short what, void *arg) {
    (void)bev;
    msnc_line *l = arg;
    if (l->failing) return;
    if (what & BEV_EVENT_CONNECTED) {
        if (l->cb.connected) {
            l->in_dispatch++;
            l->cb.connected(l, l->arg);
            l->in_dispatch--;
            if (l->dead && l->in_dispatch == 0) line_destroy(l);
        }
        return;
    }
    char why[512];
    if (what & BEV_EVENT_EOF) {
        snprintf(why, sizeof(why), "connection to %s closed", l->peer);
    } else {
        int dns_err = bufferevent_socket_get_dns_error(l->bev);
        if (dns_err) snprintf(why, sizeof(why), "cannot resolve %s: %s", l->peer, evutil_gai_strerror(dns_err));
        else
            snprintf(why, sizeof(why), "connection to %s failed: %s", l->peer,
                     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    }
    if (l->in_connect_call) {
        /* Still inside msnc_line_connect (libevent reports a connect that
         * fails at once from there): the owner does not hold the line yet. */
        fail_later(l, why);
        return;
    }
    report_closed(l, why);
}

msnc_line *msnc_line_connect(struct event_base *base, struct evdns_base *dns, const char *host, uint16_t port,
                             const msnc_line_callbacks *cb, void *arg) {
    msnc_line *l = calloc(1, sizeof(*l));
    if (!l) return NULL;
    l->base = base;
    l->cb = *cb;
    l->arg = arg;
    l->next_trid = 1;
    /* An IPv6 literal (a server listening on one: msnd --listen [::1]:1863)
     * is connected to as such; anything else as IPv4, the protocol's
     * addresses, so a name such as localhost keeps meaning 127.0.0.1. */
    int v6 = strchr(host, ':') != NULL;
    msnkit_endpoint(l->peer, sizeof(l->peer), host, port);
    msnp_parser_init(&l->parser, MSNP_FROM_SERVER, NULL);
    l->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!l->bev) {
        free(l);
        return NULL;
    }
    bufferevent_setcb(l->bev, read_cb, NULL, event_cb, l);
    bufferevent_enable(l->bev, EV_READ | EV_WRITE);
    /* No callback may run before the caller holds the line: a failure here
     * (an address that refuses at once, no descriptor left) is reported
     * from the event loop like any other. */
    l->in_connect_call = 1;
    if (bufferevent_socket_connect_hostname(l->bev, dns, v6 ? AF_INET6 : AF_INET, host, port) != 0) {
        char why[512];
        snprintf(why, sizeof(why), "connection to %s failed: %s", l->peer,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        fail_later(l, why);
    }
    l->in_connect_call = 0;
    if (l->failing && !l->fail_ev) {
        /* Not even a timer: give up now, nothing was reported. */
        line_destroy(l);
        return NULL;
    }
    return l;
}

void msnc_line_set_deadline(msnc_line *l, unsigned ms, const char *why) {
    if (!l || l->dead) return;
    if (ms == 0) {
        if (l->deadline_ev) evtimer_del(l->deadline_ev);
        return;
    }
    if (!l->deadline_ev) l->deadline_ev = evtimer_new(l->base, deadline_cb, l);
    if (!l->deadline_ev) return;
    snprintf(l->deadline_why, sizeof(l->deadline_why), "%s", why);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(l->deadline_ev, &tv);
}

/* Queue bytes for the peer, or fail the line if it stopped reading. */
static void line_write(msnc_line *l, const void *buf, size_t n) {
    if (evbuffer_get_length(bufferevent_get_output(l->bev)) + n > LINE_QUEUE_MAX) {
        char why[512];
        snprintf(why, sizeof(why), "%s does not read what we send (%u KiB waiting); closed", l->peer,
                 LINE_QUEUE_MAX / 1024u);
        fail_later(l, why);
        return;
    }
    bufferevent_write(l->bev, buf, n);
}

void msnc_line_free(msnc_line *l) {
    if (!l) return;
    l->dead = 1;
    if (l->in_dispatch == 0) line_destroy(l);
}

void msnc_line_close_after_flush(msnc_line *l) {
    if (!l) return;
    l->closing = 1;
    msnc_line_free(l);
}

static size_t collect(va_list ap, msnp_str *params, size_t max) {
    size_t n = 0;
    const char *p;
    while ((p = va_arg(ap, const char *)) != NULL)
        if (n < max) params[n++] = msnp_str_c(p);
    return n;
}

uint32_t msnc_line_send(msnc_line *l, const char *name, ...) {
    if (!l || l->dead || l->failing) return 0;
    msnp_str params[MSNP_MAX_PARAMS];
    va_list ap;
    va_start(ap, name);
    size_t n = collect(ap, params, MSNP_MAX_PARAMS);
    va_end(ap);
    char buf[LINE_OUT_MAX];
    uint32_t trid = l->next_trid;
    long w = msnp_write_cmd(buf, sizeof(buf), name, 1, trid, params, n);
    if (w < 0) return 0;
    l->next_trid++;
    line_write(l, buf, (size_t)w);
    return trid;
}

uint32_t msnc_line_send_payload(msnc_line *l, const char *name, const void *payload, size_t plen, ...) {
    if (!l || l->dead || l->failing) return 0;
    msnp_str params[MSNP_MAX_PARAMS];
    va_list ap;
    va_start(ap, plen);
    size_t n = collect(ap, params, MSNP_MAX_PARAMS);
    va_end(ap);
    char buf[LINE_OUT_MAX];
    uint32_t trid = l->next_trid;
    long w = msnp_write_payload_cmd(buf, sizeof(buf), name, 1, trid, params, n, payload, plen);
    if (w < 0) return 0;
    l->next_trid++;
    line_write(l, buf, (size_t)w);
    return trid;
}

uint32_t msnc_line_resend_payload(msnc_line *l, uint32_t trid, const char *name, const void *payload, size_t plen,
                                  const char *param) {
    if (!l || l->dead || l->failing || !trid) return 0;
    msnp_str params[1] = {msnp_str_c(param)};
    char buf[LINE_OUT_MAX];
    long w = msnp_write_payload_cmd(buf, sizeof(buf), name, 1, trid, params, 1, payload, plen);
    if (w < 0) return 0;
    line_write(l, buf, (size_t)w);
    return trid;
}

void msnc_line_send_bare(msnc_line *l, const char *name) {
    if (!l || l->dead || l->failing) return;
    char buf[16];
    long w = msnp_write_cmd(buf, sizeof(buf), name, 0, 0, NULL, 0);
    if (w > 0) line_write(l, buf, (size_t)w);
}

const char *msnc_line_peer(const msnc_line *l) { return l->peer; }
int msnc_line_fd(const msnc_line *l) { return l->bev ? bufferevent_getfd(l->bev) : -1; }
