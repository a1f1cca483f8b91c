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

#include "netutil.h"

#define LINE_OUT_MAX 8192

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
    char peer[300];
};

static void line_destroy(msnc_line *l) {
    if (l->bev) {
        if (l->closing) msnc_bev_close_after_flush(l->bev);
        else bufferevent_free(l->bev);
    }
    free(l);
}

static void read_cb(struct bufferevent *bev, void *arg) {
    msnc_line *l = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    l->in_dispatch++;
    while (!l->dead) {
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
            l->dead = 1;
            if (l->cb.closed) l->cb.closed(l, why, l->arg);
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
        if (dns_err)
            snprintf(why, sizeof(why), "cannot resolve %s: %s", l->peer, evutil_gai_strerror(dns_err));
        else
            snprintf(why, sizeof(why), "connection to %s failed: %s", l->peer,
                     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    }
    l->in_dispatch++;
    if (l->cb.closed && !l->dead) l->cb.closed(l, why, l->arg);
    l->in_dispatch--;
    l->dead = 1;
    if (l->in_dispatch == 0) line_destroy(l);
}

msnc_line *msnc_line_connect(struct event_base *base, struct evdns_base *dns, const char *host,
                             uint16_t port, const msnc_line_callbacks *cb, void *arg) {
    msnc_line *l = calloc(1, sizeof(*l));
    if (!l) return NULL;
    l->base = base;
    l->cb = *cb;
    l->arg = arg;
    l->next_trid = 1;
    snprintf(l->peer, sizeof(l->peer), "%s:%u", host, (unsigned)port);
    msnp_parser_init(&l->parser, MSNP_FROM_SERVER, NULL);
    l->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!l->bev) {
        free(l);
        return NULL;
    }
    bufferevent_setcb(l->bev, read_cb, NULL, event_cb, l);
    bufferevent_enable(l->bev, EV_READ | EV_WRITE);
    /* IPv4 only: MSNP addresses are IPv4 literals or names. */
    if (bufferevent_socket_connect_hostname(l->bev, dns, AF_INET, host, port) != 0) {
        bufferevent_free(l->bev);
        free(l);
        return NULL;
    }
    return l;
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
    if (!l || l->dead) return 0;
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
    bufferevent_write(l->bev, buf, (size_t)w);
    return trid;
}

uint32_t msnc_line_send_payload(msnc_line *l, const char *name, const void *payload, size_t plen, ...) {
    if (!l || l->dead) return 0;
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
    bufferevent_write(l->bev, buf, (size_t)w);
    return trid;
}

void msnc_line_send_bare(msnc_line *l, const char *name) {
    if (!l || l->dead) return;
    char buf[16];
    long w = msnp_write_cmd(buf, sizeof(buf), name, 0, 0, NULL, 0);
    if (w > 0) bufferevent_write(l->bev, buf, (size_t)w);
}

const char *msnc_line_peer(const msnc_line *l) { return l->peer; }
int msnc_line_fd(const msnc_line *l) { return l->bev ? bufferevent_getfd(l->bev) : -1; }
