/* connect_any.h - open a TCP connection to the first reachable of a few
 * addresses (an invitation's IP-Address and IP-Address-Internal), all
 * tried at once. Private to libmsnc. */
#ifndef MSNC_CONNECT_ANY_H
#define MSNC_CONNECT_ANY_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct bufferevent;

#define MSNC_CONNECT_ANY_MAX 4

typedef struct msnc_connect_any msnc_connect_any;

typedef struct msnc_target {
    const char *host; /* IPv4 literal; NULL or "" = unused slot */
    uint16_t port;
} msnc_target;

/* Exactly one call: bev != NULL is the first connection that completed
 * (now owned by the callee, its callbacks still to be set; `index` says
 * which target it is), or bev == NULL with why describing every failure.
 * The attempt frees itself right after this call. */
typedef void (*msnc_connect_any_cb)(struct bufferevent *bev, size_t index, const char *why, void *arg);

/* Start connecting from bind_ip (NULL = any) to every usable target.
 * NULL with err filled if none could even be started. */
msnc_connect_any *msnc_connect_any_start(struct event_base *base, const char *bind_ip, const msnc_target *targets,
                                         size_t n, msnc_connect_any_cb cb, void *arg, char *err, size_t errcap);
/* Abandon every attempt without calling back. */
void msnc_connect_any_cancel(msnc_connect_any *c);

#endif
