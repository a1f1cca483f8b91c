/* Throttles; see ratelimit.h. */
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>

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
    uint64_t start_ms;
} fw_entry;

struct failure_window {
    strmap *map;
    long limit;
    uint64_t window_ms;
};

failure_window *failures_new(long limit, long window_seconds) {
    failure_window *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->map = strmap_new();
    if (!w->map) {
        free(w);
        return NULL;
    }
    w->limit = limit;
    w->window_ms = (uint64_t)window_seconds * 1000u;
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

int failures_blocked(failure_window *w, const char *key, uint64_t now_ms) {
    if (w->limit <= 0) return 0;
    fw_entry *e = strmap_get(w->map, key);
    if (!e) return 0;
    if (now_ms - e->start_ms >= w->window_ms) return 0;
    return e->count >= w->limit;
}

void failures_record(failure_window *w, const char *key, uint64_t now_ms) {
    if (w->limit <= 0) return;
    fw_entry *e = strmap_get(w->map, key);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e) return;
        int ok;
        strmap_put(w->map, key, e, &ok);
        if (ok != 0) {
            free(e);
            return;
        }
    }
    if (e->count == 0 || now_ms - e->start_ms >= w->window_ms) {
        e->count = 0;
        e->start_ms = now_ms;
    }
    e->count++;
}

typedef struct sweep_ctx {
    failure_window *w;
    uint64_t now;
    char **dead;
    size_t n, cap;
} sweep_ctx;

static void collect(const char *key, void *value, void *ctx) {
    sweep_ctx *s = ctx;
    fw_entry *e = value;
    if (s->now - e->start_ms < s->w->window_ms) return;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 32;
        char **nd = realloc(s->dead, nc * sizeof *nd);
        if (!nd) return;
        s->dead = nd;
        s->cap = nc;
    }
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
