/* events.c - event lines, field index and the standard sinks. */
#include "events.h"
#include "observer.h"
#include "outq.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { F_STR, F_INT, F_TRUE, F_FALSE, F_NULL, F_NESTED };
enum { MAX_DEPTH = 8 };

typedef struct ev_field {
    const char *key;
    size_t off, len; /* F_STR: the escaped contents in the line, without quotes */
    int64_t i;       /* F_INT */
    size_t dec;      /* F_STR: offset of the decoded copy + 1 (0: not decoded yet) */
    int kind;
} ev_field;

struct sn_ev {
    sn_ev *next; /* free list */
    const char *type;
    sn_jbuf line;
    ev_field *f;
    size_t nf, fcap;
    char *dec; /* decoded strings for sn_ev_get_str */
    size_t dec_n, dec_cap;
    unsigned depth;
    unsigned char comma[MAX_DEPTH];  /* a value was already written at this depth */
    unsigned char closer[MAX_DEPTH]; /* ']' or '}' for the value open at this depth */
    int failed;
};

void sn_events_init(sn_events *e) { memset(e, 0, sizeof *e); }

void sn_events_release(sn_events *e) {
    while (e->free_list) {
        sn_ev *ev = e->free_list;
        e->free_list = ev->next;
        sn_jb_free(&ev->line);
        free(ev->f);
        free(ev->dec);
        free(ev);
    }
}

int sn_events_add_sink(sn_events *e, sn_sink_fn fn, void *ctx) {
    if (e->n >= SN_MAX_SINKS) return -1;
    e->fn[e->n] = fn;
    e->ctx[e->n] = ctx;
    e->n++;
    return 0;
}

void sn_format_ts(uint64_t ts, char out[32]) {
    /* events come in bursts within one second: format each date once.
     * Two dates are kept, as events name their own time and an expiry a
     * few minutes later in turn. */
    static _Thread_local time_t cached_sec[2] = {(time_t)-1, (time_t)-1};
    static _Thread_local char date[2][24];
    static _Thread_local unsigned older;
    time_t sec = (time_t)(ts / 1000000u);
    unsigned k = sec == cached_sec[0] ? 0u : sec == cached_sec[1] ? 1u : 2u;
    if (k == 2) {
        k = older;
        struct tm tm;
        gmtime_r(&sec, &tm);
        strftime(date[k], sizeof date[k], "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec[k] = sec;
    }
    older = k ^ 1u;
    unsigned us = (unsigned)(ts % 1000000u);
    memcpy(out, date[k], 19);
    out[19] = '.';
    for (int i = 25; i >= 20; i--) {
        out[i] = (char)('0' + us % 10u);
        us /= 10u;
    }
    out[26] = 'Z';
    out[27] = '\0';
}

/* Writes `,"key":` (comma when needed) and indexes top-level fields. */
static ev_field *put_key(sn_ev *ev, const char *key, size_t klen, int kind) {
    unsigned d = ev->depth;
    if (!sn_jb_reserve(&ev->line, klen + 4)) {
        ev->failed = 1;
        return NULL;
    }
    char *o = ev->line.p + ev->line.n;
    if (ev->comma[d]) *o++ = ',';
    ev->comma[d] = 1;
    *o++ = '"';
    memcpy(o, key, klen);
    o += klen;
    *o++ = '"';
    *o++ = ':';
    ev->line.n = (size_t)(o - ev->line.p);
    if (d != 0) return NULL;
#ifndef NDEBUG
    for (size_t k = 0; k < ev->nf; k++) assert(strcmp(ev->f[k].key, key) != 0 && "event field set twice");
#endif
    if (ev->nf == ev->fcap) {
        size_t cap = ev->fcap ? ev->fcap * 2 : 32;
        ev_field *f = realloc(ev->f, cap * sizeof *f);
        if (!f) {
            ev->failed = 1;
            return NULL;
        }
        ev->f = f;
        ev->fcap = cap;
    }
    ev_field *f = &ev->f[ev->nf++];
    f->key = key;
    f->kind = kind;
    f->off = f->len = 0;
    f->i = 0;
    f->dec = 0;
    return f;
}

/* Appends a JSON string and, for an indexed field, where its contents are. */
static void put_string_value(sn_ev *ev, ev_field *f, const char *s, size_t n) {
    size_t start = ev->line.n + 1;
    sn_jb_string(&ev->line, s, n);
    if (f && !ev->line.failed) { /* a failed line is dropped at emit */
        f->off = start;
        f->len = ev->line.n - start - 1;
    }
}

sn_ev *sn_ev_new(sn_events *e, const char *type, uint64_t ts) {
    if (e->n == 0) return NULL;
    sn_ev *ev = e->free_list;
    if (ev) {
        e->free_list = ev->next;
    } else if (!(ev = calloc(1, sizeof *ev))) {
        return NULL;
    }
    ev->next = NULL;
    ev->type = type;
    ev->line.n = 0;
    ev->line.failed = 0;
    ev->nf = 0;
    ev->dec_n = 0;
    ev->depth = 0;
    memset(ev->comma, 0, sizeof ev->comma);
    ev->failed = 0;
    sn_jb_putc(&ev->line, '{');
    sn_ev_put_str(ev, SN_KEY_("event"), type);
    char buf[32];
    sn_format_ts(ts, buf);
    sn_ev_put_strn(ev, SN_KEY_("ts"), buf, 27);
    return ev;
}

void sn_ev_put_strn(sn_ev *ev, const char *key, size_t klen, const char *s, size_t n) {
    if (!ev) return;
    if (!s) {
        sn_ev_put_null(ev, key, klen);
        return;
    }
    put_string_value(ev, put_key(ev, key, klen, F_STR), s, n);
}

void sn_ev_put_str(sn_ev *ev, const char *key, size_t klen, const char *s) {
    sn_ev_put_strn(ev, key, klen, s, s ? strlen(s) : 0);
}

void sn_ev_put_int(sn_ev *ev, const char *key, size_t klen, int64_t v) {
    if (!ev) return;
    ev_field *f = put_key(ev, key, klen, F_INT);
    if (f) f->i = v;
    sn_jb_int(&ev->line, v);
}

void sn_ev_put_bool(sn_ev *ev, const char *key, size_t klen, int v) {
    if (!ev) return;
    put_key(ev, key, klen, v ? F_TRUE : F_FALSE);
    if (v) sn_jb_put(&ev->line, "true", 4);
    else sn_jb_put(&ev->line, "false", 5);
}

void sn_ev_put_null(sn_ev *ev, const char *key, size_t klen) {
    if (!ev) return;
    put_key(ev, key, klen, F_NULL);
    sn_jb_put(&ev->line, "null", 4);
}

void sn_ev_put_open(sn_ev *ev, const char *key, size_t klen, char bracket) {
    if (!ev) return;
    if (ev->depth + 1 >= MAX_DEPTH) {
        ev->failed = 1;
        return;
    }
    put_key(ev, key, klen, F_NESTED);
    sn_jb_putc(&ev->line, bracket);
    ev->depth++;
    ev->comma[ev->depth] = 0;
    ev->closer[ev->depth] = bracket == '[' ? ']' : '}';
}

void sn_ev_array_str(sn_ev *ev, const char *s) {
    if (!ev || ev->depth == 0) return;
    if (ev->comma[ev->depth]) sn_jb_putc(&ev->line, ',');
    ev->comma[ev->depth] = 1;
    if (s) put_string_value(ev, NULL, s, strlen(s));
    else sn_jb_put(&ev->line, "null", 4);
}

void sn_ev_close(sn_ev *ev) {
    if (!ev || ev->depth == 0) return;
    sn_jb_putc(&ev->line, (char)ev->closer[ev->depth]);
    ev->depth--;
}

void sn_ev_emit(sn_events *e, sn_ev *ev) {
    if (!ev) return;
    while (ev->depth) sn_ev_close(ev);
    sn_jb_put(&ev->line, "}\n", 2);
    if (!ev->failed && !ev->line.failed) {
        e->emitted++;
        for (int i = 0; i < e->n; i++) e->fn[i](e->ctx[i], ev);
    }
    ev->next = e->free_list;
    e->free_list = ev;
}

const char *sn_ev_type(const sn_ev *ev) { return ev->type; }

const char *sn_ev_line(const sn_ev *ev, size_t *len) {
    *len = ev->line.n;
    return ev->line.p;
}

static const ev_field *field(const sn_ev *ev, const char *key) {
    for (size_t k = 0; k < ev->nf; k++)
        if (strcmp(ev->f[k].key, key) == 0) return &ev->f[k];
    return NULL;
}

const char *sn_ev_get_str(sn_ev *ev, const char *key) {
    ev_field *f = (ev_field *)field(ev, key);
    if (!f || f->kind != F_STR) return NULL;
    if (f->dec) return ev->dec + f->dec - 1;
    if (ev->dec_n == 0 && ev->dec_cap < ev->line.n + 1) {
        /* decoded strings plus their NULs never exceed the line: one
         * allocation per event keeps earlier results valid */
        char *d = realloc(ev->dec, ev->line.n + 1);
        if (!d) return NULL;
        ev->dec = d;
        ev->dec_cap = ev->line.n + 1;
    }
    size_t at = ev->dec_n;
    size_t n = sn_json_unescape(ev->line.p + f->off, f->len, ev->dec + at);
    ev->dec[at + n] = '\0';
    ev->dec_n = at + n + 1;
    f->dec = at + 1;
    return ev->dec + at;
}

int sn_ev_get_int(const sn_ev *ev, const char *key, int64_t *out) {
    const ev_field *f = field(ev, key);
    if (!f || f->kind != F_INT) return 0;
    *out = f->i;
    return 1;
}

int sn_ev_get_true(const sn_ev *ev, const char *key) {
    const ev_field *f = field(ev, key);
    return f && f->kind == F_TRUE;
}

/* ---- sinks ---------------------------------------------------------------- */

void sn_sink_json(void *ctx, sn_ev *ev) {
    sn_json_sink *js = ctx;
    size_t n;
    const char *line = sn_ev_line(ev, &n);
    if (js->q) {
        sn_outq_write(js->q, line, n);
    } else {
        fwrite(line, 1, n, js->fp);
        if (js->flush_each) fflush(js->fp);
    }
}

static long long jint(const sn_ev *ev, const char *key) {
    int64_t v = 0;
    sn_ev_get_int(ev, key, &v);
    return (long long)v;
}

static const char *jstr(sn_ev *ev, const char *key) {
    const char *s = sn_ev_get_str(ev, key);
    return s ? s : "";
}

void sn_sink_transcript(void *ctx, sn_ev *ev) {
    FILE *fp = ((sn_transcript_sink *)ctx)->fp;
    const char *type = sn_ev_type(ev);
    const char *ts = jstr(ev, "ts");
    char when[20];
    snprintf(when, sizeof when, "%.19s", ts);
    if (strcmp(type, "message") == 0) {
        const char *kind = jstr(ev, "kind");
        if (sn_ev_get_true(ev, "echo")) return; /* already shown when it was sent */
        if (strcmp(kind, "text") == 0) {
            fprintf(fp, "[%s] <sb%lld> [%s] ", when, jint(ev, "session"), jstr(ev, "sender"));
            /* indent continuation lines so multi-line messages stay readable */
            for (const char *p = jstr(ev, "text"); *p; p++) {
                if (*p == '\r') continue;
                fputc(*p, fp);
                if (*p == '\n') fputs("    ", fp);
            }
            fputc('\n', fp);
        } else if (strcmp(kind, "typing") == 0) {
            fprintf(fp, "[%s] <sb%lld> %s is typing\n", when, jint(ev, "session"), jstr(ev, "sender"));
        }
    } else if (strcmp(type, "switchboard") == 0) {
        const char *action = jstr(ev, "action");
        if (strcmp(action, "join") == 0 || strcmp(action, "leave") == 0 || strcmp(action, "open") == 0)
            fprintf(fp, "[%s] <sb%lld> *** %s %s\n", when, jint(ev, "session"), jstr(ev, "user"),
                    strcmp(action, "leave") == 0      ? "left"
                        : strcmp(action, "open") == 0 ? "opened the session"
                                                      : "joined");
    } else if (strcmp(type, "login") == 0) {
        fprintf(fp, "[%s] *** %s logged in (%s)\n", when, jstr(ev, "user"), jstr(ev, "version"));
    }
    fflush(fp);
}

static void transcript_invitation(void *ctx, const sn_invitation_info *i) {
    if (i->echo) return; /* already shown from the other side */
    FILE *fp = ((sn_transcript_sink *)ctx)->fp;
    char when[32];
    sn_format_ts(i->ts, when);
    when[19] = '\0';
    fprintf(fp, "[%s] <sb%llu> *** %s %s %s (cookie %s)\n", when, (unsigned long long)i->session, i->from, i->command,
            i->app, i->cookie);
    fflush(fp);
}

sn_observer sn_transcript_observer(sn_transcript_sink *t) {
    sn_observer o = {.invitation = transcript_invitation, .ctx = t};
    return o;
}
