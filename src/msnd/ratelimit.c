/* Throttles; see ratelimit.h. */
#include "ratelimit.h"

#include <msnkit/grow.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msnkit/text.h"
#include "strmap.h"

int bucket_take(token_bucket *b, uint64_t now_ms, double rate, double burst) {
    if (rate <= 0) return 1;
    if (b->at_ms == 0) {
        b->tokens = burst;
        b->at_ms = now_ms;
    }
    if (now_ms > b->at_ms) {
        b->tokens += (double)(now_ms - b->at_ms) * rate / 1000.0;
        if (b->tokens > burst) b->tokens = burst;
        b->at_ms = now_ms;
    }
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 1;
    }
    return 0;
}

typedef struct fw_entry {
    long count;
    uint64_t last_ms;          /* the latest failure */
    uint64_t blocked_until_ms; /* 0: not blocked */
} fw_entry;

struct failure_window {
    strmap *map;
    long limit;
    uint64_t window_ms;
    uint64_t first_delay_ms, max_delay_ms;
};

failure_window *failures_new(long limit, long window_seconds, long first_delay_seconds, long max_delay_seconds) {
    failure_window *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->map = strmap_new();
    if (!w->map) {
        free(w);
        return NULL;
    }
    w->limit = limit;
    w->window_ms = (uint64_t)window_seconds * 1000u;
    w->first_delay_ms = (uint64_t)(first_delay_seconds > 0 ? first_delay_seconds : 1) * 1000u;
    w->max_delay_ms = (uint64_t)(max_delay_seconds > 0 ? max_delay_seconds : 1) * 1000u;
    return w;
}

static void free_entry(const char *key, void *value, void *ctx) {
    (void)key;
    (void)ctx;
    free(value);
}

void failures_free(failure_window *w) {
    if (!w) return;
    strmap_each(w->map, free_entry, NULL);
    strmap_free(w->map);
    free(w);
}

/* An entry is forgotten a window after its latest failure or the end of
 * its block, whichever is later: waiting out a block does not reset the
 * count, so the delays keep growing while the guessing goes on. */
static int expired(const failure_window *w, const fw_entry *e, uint64_t now_ms) {
    uint64_t since = e->last_ms > e->blocked_until_ms ? e->last_ms : e->blocked_until_ms;
    return now_ms >= since && now_ms - since >= w->window_ms;
}

uint64_t failures_blocked(failure_window *w, const char *key, uint64_t now_ms) {
    if (w->limit <= 0) return 0;
    fw_entry *e = strmap_get(w->map, key);
    if (!e || e->blocked_until_ms <= now_ms) return 0;
    return e->blocked_until_ms - now_ms;
}

uint64_t failures_record(failure_window *w, const char *key, uint64_t now_ms) {
    if (w->limit <= 0) return 0;
    fw_entry *e = strmap_get(w->map, key);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e) return 0;
        int ok;
        strmap_put(w->map, key, e, &ok);
        if (ok != 0) {
            free(e);
            return 0;
        }
    } else if (expired(w, e, now_ms)) {
        e->count = 0;
        e->blocked_until_ms = 0;
    }
    e->count++;
    e->last_ms = now_ms;
    if (e->count < w->limit) return 0;
    /* The first delay at the limit, doubling with every further failure. */
    long over = e->count - w->limit;
    uint64_t delay = over >= 20 ? w->max_delay_ms : w->first_delay_ms << over;
    if (delay > w->max_delay_ms) delay = w->max_delay_ms;
    e->blocked_until_ms = now_ms + delay;
    return delay;
}

void failures_clear(failure_window *w, const char *key) { free(strmap_del(w->map, key)); }

typedef struct sweep_ctx {
    failure_window *w;
    uint64_t now;
    char **dead;
    size_t n, cap;
} sweep_ctx;

static void collect(const char *key, void *value, void *ctx) {
    sweep_ctx *s = ctx;
    const fw_entry *e = value;
    if (!expired(s->w, e, s->now)) return;
    char **nd = msnkit_grow(s->dead, &s->cap, s->n + 1, sizeof *nd, 32);
    if (!nd) return;
    s->dead = nd;
    char *k = strdup(key);
    if (k) s->dead[s->n++] = k;
}

unsigned long failures_sweep(failure_window *w, uint64_t now_ms) {
    sweep_ctx s = {w, now_ms, NULL, 0, 0};
    strmap_each(w->map, collect, &s);
    for (size_t i = 0; i < s.n; i++) {
        free(strmap_del(w->map, s.dead[i]));
        free(s.dead[i]);
    }
    free(s.dead);
    return (unsigned long)strmap_count(w->map);
}

int failures_account_key(char *out, size_t cap, const char *email, const char *src) {
    return msnkit_join(out, cap, email, ' ', src);
}

void failures_source(const char *ip, char *out, size_t cap) {
    unsigned char a[16];
    if (!strchr(ip, ':') || inet_pton(AF_INET6, ip, a) != 1) {
        msnkit_copy(out, cap, ip); /* a numeric address: callers size for one */
        return;
    }
    /* An IPv4 client of a dual-stack listener ([::]:PORT) arrives as
     * ::ffff:a.b.c.d: it is that IPv4 address, not a /64 shared by every
     * IPv4 client (whose failures would then lock out all of them). */
    if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a)) {
        if (!inet_ntop(AF_INET, a + 12, out, (socklen_t)cap)) msnkit_copy(out, cap, ip);
        return;
    }
    memset(a + 8, 0, 8);
    char text[64];
    if (!inet_ntop(AF_INET6, a, text, sizeof text)) {
        snprintf(out, cap, "%s", ip);
        return;
    }
    snprintf(out, cap, "%s/64", text);
}
