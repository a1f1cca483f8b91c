/* runner.c - in-process engine runs for tests. */
#include "runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"

/* Tests read the events back from the very JSON line the program writes,
 * so every assertion also checks the serialisation. */
static void collect(void *ctx, sn_ev *ev) {
    size_t n;
    const char *line = sn_ev_line(ev, &n);
    json_error_t err;
    json_t *j = json_loadb(line, n, JSON_ALLOW_NUL, &err);
    if (!j || !json_is_object(j)) {
        fprintf(stderr, "event line is not a JSON object (%s): %.*s", err.text, (int)n, line);
        abort();
    }
    json_array_append_new(ctx, j);
}

int sn_run_file(const char *path, const sn_config *cfg, sn_run *out) {
    return sn_run_file_observed(path, cfg, NULL, out);
}

int sn_run_file_observed(const char *path, const sn_config *cfg, const sn_observer *obs, sn_run *out) {
    memset(out, 0, sizeof *out);
    out->events = json_array();
    sn_capture *cap = sn_capture_open_file(path, out->err, sizeof out->err);
    if (!cap) {
        out->status = -1;
        return -1;
    }
    sn_engine *e = sn_engine_new(cfg);
    sn_events_add_sink(sn_engine_events(e), collect, out->events);
    if (obs) sn_engine_observe(e, obs);
    int lt = sn_capture_linktype(cap);
    sn_frame fr;
    int rc;
    while ((rc = sn_capture_next(cap, &fr, out->err, sizeof out->err)) == 1)
        sn_engine_packet(e, lt, fr.ts_us, fr.data, fr.caplen, fr.wirelen);
    if (rc < 0) out->status = -1;
    sn_engine_finish(e);
    out->stats = *sn_engine_stats(e);
    const sn_memcap *m = sn_engine_memcap(e);
    out->mem_peak = m->peak;
    out->mem_limit = m->limit;
    out->mem_left = m->used;
    out->expect_peak = sn_engine_expectations(e)->peak;
    out->expect_max = sn_engine_expectations(e)->max;
    sn_engine_free(e);
    sn_capture_close(cap);
    return out->status;
}

void sn_run_free(sn_run *r) {
    json_decref(r->events);
    r->events = NULL;
}

static int wanted(const char *type, const char *const *types) {
    if (!types) return strcmp(type, "flow") != 0 && strcmp(type, "anomaly") != 0;
    for (; *types; types++)
        if (strcmp(*types, type) == 0) return 1;
    return 0;
}

json_t *sn_normalize(const json_t *events, const char *const *types) {
    static const char *const drop[] = {"ts", "expires", "delay_us", "offset", NULL};
    json_t *out = json_array();
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev) {
        const char *type = json_string_value(json_object_get(ev, "event"));
        if (!type || !wanted(type, types)) continue;
        json_t *c = json_deep_copy(ev);
        for (const char *const *k = drop; *k; k++) json_object_del(c, *k);
        json_array_append_new(out, c);
    }
    return out;
}

size_t sn_count(const json_t *events, const char *type) {
    size_t n = 0, i;
    json_t *ev;
    json_array_foreach(events, i, ev) {
        if (strcmp(json_string_value(json_object_get(ev, "event")), type) == 0) n++;
    }
    return n;
}

json_t *sn_nth(const json_t *events, const char *type, size_t n) {
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev) {
        if (strcmp(json_string_value(json_object_get(ev, "event")), type) == 0 && n-- == 0) return ev;
    }
    return NULL;
}

json_t *sn_find(const json_t *events, const char *type, const char *key, const char *value) {
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev) {
        if (strcmp(json_string_value(json_object_get(ev, "event")), type) != 0) continue;
        const char *v = json_string_value(json_object_get(ev, key));
        if (v && strcmp(v, value) == 0) return ev;
    }
    return NULL;
}
