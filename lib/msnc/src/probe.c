#include "msnc/probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "netutil.h"

#define UDP_RESEND_MS 200
#define PROBE_MAX 96

struct msnc_probe {
    struct event_base *base;
    msnc_probe_callbacks cb;
    void *arg;
    msnp_transport tr;
    int listener_side;
    uint64_t cookie;
    uint16_t port;
    struct evconnlistener *listener; /* TCP listen */
    struct bufferevent *bev;         /* TCP stream */
    int udp_fd;
    struct event *udp_ev;
    struct event *timer;  /* overall deadline */
    struct event *resend; /* UDP retransmission */
    struct sockaddr_in peer;
    int done;
};

static void free_struct(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    free(arg);
}

static void release(msnc_probe *p) {
    p->done = 1;
    if (p->timer) event_free(p->timer);
    if (p->resend) event_free(p->resend);
    if (p->udp_ev) event_free(p->udp_ev);
    if (p->udp_fd >= 0) close(p->udp_fd);
    if (p->listener) evconnlistener_free(p->listener);
    if (p->bev) msnc_bev_close_after_flush(p->bev);
    p->timer = p->resend = p->udp_ev = NULL;
    p->listener = NULL;
    p->bev = NULL;
    p->udp_fd = -1;
    struct timeval now = {0, 0};
    if (event_base_once(p->base, -1, EV_TIMEOUT, free_struct, p, &now) != 0) free(p);
}

static void report_ok(msnc_probe *p, int fd, const struct sockaddr_in *peer) {
    if (p->done) return;
    char local[64], remote[64];
    msnc_fd_addr(fd, 0, local, sizeof(local));
    if (peer) {
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &peer->sin_addr, ip, sizeof(ip));
        snprintf(remote, sizeof(remote), "%s:%u", ip, (unsigned)ntohs(peer->sin_port));
    } else {
        msnc_fd_addr(fd, 1, remote, sizeof(remote));
    }
    p->done = 1;
    if (p->cb.connected) p->cb.connected(p, local, remote, p->arg);
    release(p);
}

static void report_fail(msnc_probe *p, const char *why) {
    if (p->done) return;
    p->done = 1;
    if (p->cb.failed) p->cb.failed(p, why, p->arg);
    release(p);
}

static void probe_text(char *dst, size_t cap, int reply, uint64_t cookie) {
    snprintf(dst, cap, "MSNKIT-PROBE%s %" PRIu64 "\r\n", reply ? "-OK" : "", cookie);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    report_fail(arg, "timed out waiting for the peer");
}

static msnc_probe *probe_new(struct event_base *base, msnp_transport tr, uint64_t cookie, unsigned timeout_ms,
                             const msnc_probe_callbacks *cb, void *arg) {
    msnc_probe *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    p->base = base;
    p->tr = tr;
    p->cookie = cookie;
    p->udp_fd = -1;
    if (cb) p->cb = *cb;
    p->arg = arg;
    p->timer = evtimer_new(base, timeout_cb, p);
    unsigned ms = timeout_ms ? timeout_ms : 30000;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    if (!p->timer || evtimer_add(p->timer, &tv) != 0) {
        if (p->timer) event_free(p->timer);
        free(p);
        return NULL;
    }
    return p;
}

/* Read one probe line from a TCP stream; 1 = valid, 0 = need more, -1 = bad. */
static int tcp_read_probe(struct bufferevent *bev, int reply, uint64_t cookie) {
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);
    char want[PROBE_MAX];
    probe_text(want, sizeof(want), reply, cookie);
    size_t wl = strlen(want);
    if (n < wl) {
        char got[PROBE_MAX];
        evbuffer_copyout(in, got, n);
        return memcmp(got, want, n) == 0 ? 0 : -1;
    }
    char got[PROBE_MAX];
    evbuffer_copyout(in, got, wl);
    evbuffer_drain(in, wl);
    return memcmp(got, want, wl) == 0 ? 1 : -1;
}

static void tcp_event_cb(struct bufferevent *bev, short what, void *arg) {
    msnc_probe *p = arg;
    if ((what & BEV_EVENT_CONNECTED) && !p->listener_side) {
        char msg[PROBE_MAX];
        probe_text(msg, sizeof(msg), 0, p->cookie);
        bufferevent_write(bev, msg, strlen(msg));
        return;
    }
    char why[160];
    snprintf(why, sizeof(why), "%s",
             (what & BEV_EVENT_EOF) ? "peer closed before the probe completed" : strerror(errno));
    report_fail(p, why);
}

static void tcp_read_cb(struct bufferevent *bev, void *arg) {
    msnc_probe *p = arg;
    int r = tcp_read_probe(bev, !p->listener_side, p->cookie);
    if (r == 0) return;
    if (r < 0) {
        report_fail(p, "unexpected bytes instead of the probe");
        return;
    }
    if (p->listener_side) {
        char msg[PROBE_MAX];
        probe_text(msg, sizeof(msg), 1, p->cookie);
        bufferevent_write(bev, msg, strlen(msg));
    }
    report_ok(p, bufferevent_getfd(bev), NULL);
}

static void tcp_accept_cb(struct evconnlistener *l, int fd, struct sockaddr *sa, int salen, void *arg) {
    (void)l;
    (void)sa;
    (void)salen;
    msnc_probe *p = arg;
    if (p->bev) { /* one peer per session */
        close(fd);
        return;
    }
    p->bev = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!p->bev) {
        close(fd);
        return;
    }
    evconnlistener_free(p->listener);
    p->listener = NULL;
    bufferevent_setcb(p->bev, tcp_read_cb, NULL, tcp_event_cb, p);
    bufferevent_enable(p->bev, EV_READ | EV_WRITE);
}

static void udp_send_probe(msnc_probe *p) {
    char msg[PROBE_MAX];
    probe_text(msg, sizeof(msg), 0, p->cookie);
    (void)sendto(p->udp_fd, msg, strlen(msg), 0, (struct sockaddr *)&p->peer, sizeof(p->peer));
}

static void udp_resend_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    udp_send_probe(arg);
}

static void udp_read_cb(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    msnc_probe *p = arg;
    /* Bounded: at most a few datagrams per wake-up. */
    for (int i = 0; i < 16 && !p->done; i++) {
        char buf[PROBE_MAX + 1];
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(fd, buf, PROBE_MAX, 0, (struct sockaddr *)&from, &fl);
        if (n < 0) return;
        char want[PROBE_MAX];
        probe_text(want, sizeof(want), !p->listener_side, p->cookie);
        if ((size_t)n != strlen(want) || memcmp(buf, want, (size_t)n) != 0) continue; /* stray datagram */
        if (p->listener_side) {
            char reply[PROBE_MAX];
            probe_text(reply, sizeof(reply), 1, p->cookie);
            (void)sendto(fd, reply, strlen(reply), 0, (struct sockaddr *)&from, fl);
            report_ok(p, fd, &from);
        } else {
            report_ok(p, fd, &from);
        }
        return;
    }
}

static int udp_socket(const char *bind_ip, uint16_t port, char *err, size_t errcap) {
    struct sockaddr_in sin;
    if (msnc_sockaddr_ipv4(bind_ip, port, &sin) != 0) {
        snprintf(err, errcap, "not an IPv4 address: %s", bind_ip);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        snprintf(err, errcap, "cannot bind UDP on %s:%u: %s", bind_ip ? bind_ip : "0.0.0.0", (unsigned)port,
                 strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

msnc_probe *msnc_probe_listen(struct event_base *base, msnp_transport tr, const char *bind_ip, uint16_t port,
                              uint64_t cookie, unsigned timeout_ms, const msnc_probe_callbacks *cb, void *arg,
                              char *err, size_t errcap) {
    msnc_probe *p = probe_new(base, tr, cookie, timeout_ms, cb, arg);
    if (!p) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    p->listener_side = 1;
    if (tr == MSNP_TRANSPORT_UDP) {
        p->udp_fd = udp_socket(bind_ip, port, err, errcap);
        if (p->udp_fd < 0) goto fail;
        struct sockaddr_in b;
        socklen_t bl = sizeof(b);
        getsockname(p->udp_fd, (struct sockaddr *)&b, &bl);
        p->port = ntohs(b.sin_port);
        p->udp_ev = event_new(base, p->udp_fd, EV_READ | EV_PERSIST, udp_read_cb, p);
        if (!p->udp_ev || event_add(p->udp_ev, NULL) != 0) goto fail;
    } else {
        p->listener = msnc_listen_range(base, bind_ip, port, port, tcp_accept_cb, p, &p->port, err, errcap);
        if (!p->listener) goto fail;
    }
    return p;
fail:
    p->done = 1;
    release(p);
    return NULL;
}

msnc_probe *msnc_probe_connect(struct event_base *base, msnp_transport tr, const char *bind_ip, const char *ip,
                               uint16_t port, uint64_t cookie, unsigned timeout_ms, const msnc_probe_callbacks *cb,
                               void *arg, char *err, size_t errcap) {
    msnc_probe *p = probe_new(base, tr, cookie, timeout_ms, cb, arg);
    if (!p) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    p->port = port;
    if (tr == MSNP_TRANSPORT_UDP) {
        /* A multicast or broadcast peer would spray probes at a group. */
        if (!msnc_ipv4_unicast(ip) || port == 0 || msnc_sockaddr_ipv4(ip, port, &p->peer) != 0) {
            snprintf(err, errcap, "not a unicast IPv4 address and port: %s:%u", ip ? ip : "", (unsigned)port);
            goto fail;
        }
        p->udp_fd = udp_socket(bind_ip, 0, err, errcap);
        if (p->udp_fd < 0) goto fail;
        p->udp_ev = event_new(base, p->udp_fd, EV_READ | EV_PERSIST, udp_read_cb, p);
        p->resend = event_new(base, -1, EV_PERSIST, udp_resend_cb, p);
        struct timeval tv = {0, UDP_RESEND_MS * 1000};
        if (!p->udp_ev || !p->resend || event_add(p->udp_ev, NULL) != 0 || event_add(p->resend, &tv) != 0) goto fail;
        udp_send_probe(p);
    } else {
        p->bev = msnc_tcp_connect(base, bind_ip, ip, port, err, errcap);
        if (!p->bev) goto fail;
        bufferevent_setcb(p->bev, tcp_read_cb, NULL, tcp_event_cb, p);
        bufferevent_enable(p->bev, EV_READ | EV_WRITE);
    }
    return p;
fail:
    p->done = 1;
    release(p);
    return NULL;
}

uint16_t msnc_probe_port(const msnc_probe *p) { return p->port; }

void msnc_probe_cancel(msnc_probe *p) {
    if (!p || p->done) return;
    release(p);
}
