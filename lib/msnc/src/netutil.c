#include "netutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <msnp/msnp.h>

#include "msnc/client.h"

#define BULK_IO_BYTES (256 * 1024)
#define LINGER_SECONDS 5

int msnc_sockaddr_ipv4(const char *ip, uint16_t port, struct sockaddr_in *sin) {
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    if (!ip || !*ip) {
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        return 0;
    }
    return inet_pton(AF_INET, ip, &sin->sin_addr) == 1 ? 0 : -1;
}

int msnc_ipv4_unicast(const char *ip) {
    if (!ip || !msnp_ipv4_valid(msnp_str_c(ip))) return 0;
    struct in_addr a;
    if (inet_pton(AF_INET, ip, &a) != 1) return 0;
    uint32_t h = ntohl(a.s_addr);
    unsigned first = h >> 24;
    return first != 0 && first < 224;
}

struct evconnlistener *msnc_listen_range(struct event_base *base, const char *ip, uint16_t first, uint16_t last,
                                         void (*cb)(struct evconnlistener *, int, struct sockaddr *, int, void *),
                                         void *arg, uint16_t *port, char *err, size_t errcap) {
    struct sockaddr_in sin;
    if (msnc_sockaddr_ipv4(ip, 0, &sin) != 0) {
        snprintf(err, errcap, "not an IPv4 address: %s", ip ? ip : "");
        return NULL;
    }
    if (last < first) last = first;
    int last_errno = 0;
    for (uint32_t p = first; p <= last; p++) {
        sin.sin_port = htons((uint16_t)p);
        struct evconnlistener *l =
            evconnlistener_new_bind(base, cb, arg, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 8,
                                    (struct sockaddr *)&sin, sizeof(sin));
        if (l) {
            struct sockaddr_in bound;
            socklen_t len = sizeof(bound);
            if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&bound, &len) == 0)
                *port = ntohs(bound.sin_port);
            else *port = (uint16_t)p;
            return l;
        }
        last_errno = errno;
        if (p == last) break; /* p is uint32_t: no wrap at 65535 */
    }
    snprintf(err, errcap, "cannot listen on %s ports %u-%u: %s", ip ? ip : "0.0.0.0", (unsigned)first, (unsigned)last,
             strerror(last_errno));
    return NULL;
}

struct bufferevent *msnc_tcp_connect(struct event_base *base, const char *bind_ip, const char *ip, uint16_t port,
                                     char *err, size_t errcap) {
    struct sockaddr_in dst;
    if (!msnc_ipv4_unicast(ip) || msnc_sockaddr_ipv4(ip, port, &dst) != 0) {
        snprintf(err, errcap, "not a unicast IPv4 address: %s", ip ? ip : "");
        return NULL;
    }
    if (port == 0) {
        snprintf(err, errcap, "port 0 on %s", ip);
        return NULL;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errcap, "socket: %s", strerror(errno));
        return NULL;
    }
    if (bind_ip && *bind_ip) {
        struct sockaddr_in src;
        if (msnc_sockaddr_ipv4(bind_ip, 0, &src) != 0 || bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
            snprintf(err, errcap, "cannot bind to %s: %s", bind_ip, strerror(errno));
            close(fd);
            return NULL;
        }
    }
    struct bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        close(fd);
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    if (bufferevent_socket_connect(bev, (struct sockaddr *)&dst, sizeof(dst)) != 0) {
        snprintf(err, errcap, "connect to %s:%u: %s", ip, (unsigned)port, strerror(errno));
        bufferevent_free(bev);
        return NULL;
    }
    return bev;
}

/* Closing a socket that still has unread input makes the kernel send RST,
 * and an RST can destroy the last line we wrote (BYE, CCL) before the peer
 * reads it. So: flush, half-close, read until the peer closes, then free. */
/* Every connection still lingering, so a program that stops its event
 * loop can close them (msnc_close_lingering) instead of leaking them. */
typedef struct lingering_conn {
    struct lingering_conn *next, *prev;
    struct bufferevent *bev;
} lingering_conn;

static lingering_conn *g_lingering;

static void linger_done(lingering_conn *lg) {
    if (lg->prev) lg->prev->next = lg->next;
    else g_lingering = lg->next;
    if (lg->next) lg->next->prev = lg->prev;
    bufferevent_free(lg->bev);
    free(lg);
}

static void linger_write_cb(struct bufferevent *bev, void *arg) {
    (void)arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        shutdown(bufferevent_getfd(bev), SHUT_WR);
        bufferevent_disable(bev, EV_WRITE);
    }
}

static void linger_event_cb(struct bufferevent *bev, short what, void *arg) {
    (void)bev;
    (void)what;
    linger_done(arg);
}

static void linger_read_cb(struct bufferevent *bev, void *arg) {
    (void)arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

size_t msnc_lingering(const struct event_base *base) {
    size_t n = 0;
    for (lingering_conn *lg = g_lingering; lg; lg = lg->next)
        if (bufferevent_get_base(lg->bev) == base) n++;
    return n;
}

void msnc_close_lingering(struct event_base *base) {
    lingering_conn *lg = g_lingering;
    while (lg) {
        lingering_conn *next = lg->next;
        if (bufferevent_get_base(lg->bev) == base) linger_done(lg);
        lg = next;
    }
}

void msnc_bev_close_after_flush(struct bufferevent *bev) {
    if (!bev) return;
    lingering_conn *lg = calloc(1, sizeof(*lg));
    if (!lg) {
        bufferevent_free(bev);
        return;
    }
    lg->bev = bev;
    lg->next = g_lingering;
    if (g_lingering) g_lingering->prev = lg;
    g_lingering = lg;
    struct timeval tv = {LINGER_SECONDS, 0};
    bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    bufferevent_setwatermark(bev, EV_READ, 0, 0);
    bufferevent_setcb(bev, linger_read_cb, linger_write_cb, linger_event_cb, lg);
    bufferevent_set_timeouts(bev, &tv, &tv);
    evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        shutdown(bufferevent_getfd(bev), SHUT_WR);
        bufferevent_enable(bev, EV_READ);
        bufferevent_disable(bev, EV_WRITE);
    } else {
        bufferevent_enable(bev, EV_READ | EV_WRITE);
    }
}

void msnc_fd_addr(int fd, int remote, char *dst, size_t cap) {
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int rc = remote ? getpeername(fd, (struct sockaddr *)&sin, &len) : getsockname(fd, (struct sockaddr *)&sin, &len);
    if (rc != 0 || sin.sin_family != AF_INET) {
        snprintf(dst, cap, "?");
        return;
    }
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sin.sin_addr, ip, sizeof(ip));
    snprintf(dst, cap, "%s:%u", ip, (unsigned)ntohs(sin.sin_port));
}

void msnc_bev_bulk(struct bufferevent *bev) {
    bufferevent_set_max_single_read(bev, BULK_IO_BYTES);
    bufferevent_set_max_single_write(bev, BULK_IO_BYTES);
}
