/* netutil.h - small socket helpers shared by the MSNFTP, probe and server
 * connection code. Private to libmsnc. */
#ifndef MSNC_NETUTIL_H
#define MSNC_NETUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>

#include "msnc/addr.h"

struct event_base;
struct bufferevent;
struct evconnlistener;

/* Parse an IPv4 literal + port into sin. Returns 0 or -1. */
int msnc_sockaddr_ipv4(const char *ip, uint16_t port, struct sockaddr_in *sin);

/* Listen on ip, trying ports first..last in order (first = last = 0 means
 * an ephemeral port). On success *port is the port bound. */
struct evconnlistener *msnc_listen_range(struct event_base *base, const char *ip, uint16_t first, uint16_t last,
                                         void (*cb)(struct evconnlistener *, int, struct sockaddr *, int, void *),
                                         void *arg, uint16_t *port, char *err, size_t errcap);

/* A TCP bufferevent connecting to ip:port, from bind_ip if not NULL. */
struct bufferevent *msnc_tcp_connect(struct event_base *base, const char *bind_ip, const char *ip, uint16_t port,
                                     char *err, size_t errcap);

/* Give a bufferevent up: it is freed once its output has drained, on any
 * error, or after a few seconds, whichever comes first. */
void msnc_bev_close_after_flush(struct bufferevent *bev);

/* "ip:port" of a socket's local or remote end. */
void msnc_fd_addr(int fd, int remote, char *dst, size_t cap);

/* Larger single reads/writes than libevent's 16 KiB default: bulk paths. */
void msnc_bev_bulk(struct bufferevent *bev);

#endif
