/* connect_any.c - parallel TCP connects, the first one to complete wins.
 *
 * An address that refuses or is unreachable does not delay the others; a
 * loser that completes later is never seen because it is freed as soon as
 * a winner exists. */
#include "connect_any.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "netutil.h"

struct msnc_connect_any {
    struct bufferevent *bev[MSNC_CONNECT_ANY_MAX];
    char target[MSNC_CONNECT_ANY_MAX][64];
    size_t n;
    size_t pending;
    msnc_connect_any_cb cb;
    void *arg;
    char why[512];
};

static void note_failure(msnc_connect_any *c, size_t i, const char *what) {
    size_t used = strlen(c->why);
    if (used + 1 >= sizeof(c->why)) return;
    snprintf(c->why + used, sizeof(c->why) - used, "%s%s: %s", used ? "; " : "", c->target[i], what);
}

static void free_all(msnc_connect_any *c) {
    for (size_t i = 0; i < c->n; i++)
        if (c->bev[i]) bufferevent_free(c->bev[i]);
    free(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg) {
    msnc_connect_any *c = arg;
    size_t i = 0;
    while (i < c->n && c->bev[i] != bev) i++;
    if (i == c->n) return;
    if (what & BEV_EVENT_CONNECTED) {
        c->bev[i] = NULL;
        bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
        msnc_connect_any_cb cb = c->cb;
        void *cb_arg = c->arg;
        free_all(c);
        cb(bev, i, NULL, cb_arg);
        return;
    }
    note_failure(c, i, errno ? strerror(errno) : "connection failed");
    bufferevent_free(bev);
    c->bev[i] = NULL;
    if (--c->pending == 0) {
        char why[sizeof(c->why)];
        snprintf(why, sizeof(why), "%s", c->why);
        msnc_connect_any_cb cb = c->cb;
        void *cb_arg = c->arg;
        free_all(c);
        cb(NULL, 0, why, cb_arg);
    }
}

msnc_connect_any *msnc_connect_any_start(struct event_base *base, const char *bind_ip, const msnc_target *targets,
                                         size_t n, msnc_connect_any_cb cb, void *arg, char *err, size_t errcap) {
    if (n > MSNC_CONNECT_ANY_MAX) n = MSNC_CONNECT_ANY_MAX;
    msnc_connect_any *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    c->cb = cb;
    c->arg = arg;
    c->n = n;
    for (size_t i = 0; i < n; i++) {
        if (!targets[i].host || !*targets[i].host) continue;
        snprintf(c->target[i], sizeof(c->target[i]), "%s:%u", targets[i].host, (unsigned)targets[i].port);
        char why[256];
        c->bev[i] = msnc_tcp_connect(base, bind_ip, targets[i].host, targets[i].port, why, sizeof(why));
        if (!c->bev[i]) {
            note_failure(c, i, why);
            continue;
        }
        bufferevent_setcb(c->bev[i], NULL, NULL, event_cb, c);
        bufferevent_enable(c->bev[i], EV_READ | EV_WRITE);
        c->pending++;
    }
    if (c->pending == 0) {
        snprintf(err, errcap, "%s", c->why[0] ? c->why : "no address to connect to");
        free_all(c);
        return NULL;
    }
    return c;
}

void msnc_connect_any_cancel(msnc_connect_any *c) {
    if (c) free_all(c);
}
