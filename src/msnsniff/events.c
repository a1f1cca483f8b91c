/* events.c - event construction and the standard sinks. */
#include "events.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void sn_events_init(sn_events *e) { memset(e, 0, sizeof *e); }

int sn_events_add_sink(sn_events *e, sn_sink_fn fn, void *ctx) {
    if (e->n >= SN_MAX_SINKS)
        return -1;
    e->fn[e->n] = fn;
    e->ctx[e->n] = ctx;
    e->n++;
    return 0;
}

void sn_format_ts(uint64_t ts, char out[32]) {
    /* events come in bursts within one second: format the date once */
    static _Thread_local time_t cached_sec = (time_t)-1;
    static _Thread_local char date[24];
    time_t sec = (time_t)(ts / 1000000u);
    if (sec != cached_sec) {
        struct tm tm;
        gmtime_r(&sec, &tm);
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = sec;
    }
    unsigned us = (unsigned)(ts % 1000000u);
    memcpy(out, date, 19);
    out[19] = '.';
    for (int i = 25; i >= 20; i--) {
        out[i] = (char)('0' + us % 10u);
        us /= 10u;
    }
    out[26] = 'Z';
    out[27] = '\0';
}

json_t *sn_ev_new(const char *type, uint64_t ts) {
    char buf[32];
    sn_format_ts(ts, buf);
    json_t *ev = json_object();
    json_object_set_new(ev, "event", json_string(type));
    json_object_set_new(ev, "ts", json_string(buf));
    return ev;
}

void sn_ev_emit(sn_events *e, json_t *ev) {
    if (!ev)
        return;
    e->emitted++;
    for (int i = 0; i < e->n; i++)
        e->fn[i](e->ctx[i], ev);
    json_decref(ev);
}

/* Valid UTF-8 goes through as is; otherwise every byte that does not start
 * a well-formed sequence becomes U+FFFD. */
static json_t *utf8_string(const char *s, size_t n) {
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    size_t cap = n * 3 + 1;
    char *tmp = malloc(cap);
    if (!tmp)
        return json_string("");
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        int ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = ((unsigned char)s[i + k] & 0xC0u) == 0x80u;
        if (ok && len == 3) {
            unsigned char c1 = (unsigned char)s[i + 1];
            ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);
        }
        if (ok && len == 4) {
            unsigned char c1 = (unsigned char)s[i + 1];
            ok = !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90);
        }
        if (ok) {
            memcpy(tmp + o, s + i, len);
            o += len;
            i += len;
        } else {
            memcpy(tmp + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    j = json_stringn(tmp, o);
    free(tmp);
    return j ? j : json_string("");
}

void sn_ev_set_strn(json_t *ev, const char *key, const char *s, size_t n) {
    if (!s) {
        json_object_set_new(ev, key, json_null());
        return;
    }
    json_object_set_new(ev, key, utf8_string(s, n));
}

void sn_ev_set_str(json_t *ev, const char *key, const char *s) { sn_ev_set_strn(ev, key, s, s ? strlen(s) : 0); }

void sn_ev_set_int(json_t *ev, const char *key, uint64_t v) { json_object_set_new(ev, key, json_integer((json_int_t)v)); }

/* A compact serializer for the value kinds events use. It writes the same
 * bytes as json_dumps(JSON_COMPACT), into one reusable buffer and then one
 * fwrite per event: on chat-heavy captures jansson's dump was half of the
 * run time. */
typedef struct jbuf {
    char *p;
    size_t n, cap;
    int failed;
} jbuf;

static int jb_reserve(jbuf *b, size_t more) {
    if (b->n + more <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + more)
        cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) {
        b->failed = 1;
        return 0;
    }
    b->p = q;
    b->cap = cap;
    return 1;
}

static void jb_put(jbuf *b, const char *s, size_t n) {
    if (jb_reserve(b, n)) {
        memcpy(b->p + b->n, s, n);
        b->n += n;
    }
}

static void jb_putc(jbuf *b, char c) {
    if (jb_reserve(b, 1))
        b->p[b->n++] = c;
}

static void put_string(jbuf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    jb_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        jb_put(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t len = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15u];
            len = 6;
        }
        jb_put(b, esc, len);
    }
    jb_put(b, s + run, n - run);
    jb_putc(b, '"');
}

static void put_value(jbuf *b, json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        int first = 1;
        jb_putc(b, '{');
        json_object_foreach(v, key, val) {
            if (!first)
                jb_putc(b, ',');
            first = 0;
            put_string(b, key, strlen(key));
            jb_putc(b, ':');
            put_value(b, val);
        }
        jb_putc(b, '}');
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *val;
        jb_putc(b, '[');
        json_array_foreach(v, i, val) {
            if (i)
                jb_putc(b, ',');
            put_value(b, val);
        }
        jb_putc(b, ']');
        break;
    }
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER: {
        char buf[24];
        json_int_t x = json_integer_value(v);
        unsigned long long u = x < 0 ? 0ull - (unsigned long long)x : (unsigned long long)x;
        size_t k = sizeof buf;
        do {
            buf[--k] = (char)('0' + u % 10u);
            u /= 10u;
        } while (u);
        if (x < 0)
            buf[--k] = '-';
        jb_put(b, buf + k, sizeof buf - k);
        break;
    }
    case JSON_REAL: {
        char buf[32];
        int k = snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        jb_put(b, buf, k > 0 ? (size_t)k : 0);
        break;
    }
    case JSON_TRUE: jb_put(b, "true", 4); break;
    case JSON_FALSE: jb_put(b, "false", 5); break;
    default: jb_put(b, "null", 4); break;
    }
}

void sn_sink_json(void *ctx, json_t *ev) {
    sn_json_sink *js = ctx;
    jbuf b = {js->buf, 0, js->cap, 0};
    put_value(&b, ev);
    jb_putc(&b, '\n');
    js->buf = b.p; /* kept for the next event: no allocation per event */
    js->cap = b.cap;
    if (!b.failed)
        fwrite(b.p, 1, b.n, js->fp);
}

void sn_json_sink_release(sn_json_sink *js) {
    free(js->buf);
    js->buf = NULL;
    js->cap = 0;
}

static long long jint(json_t *ev, const char *key) { return (long long)json_integer_value(json_object_get(ev, key)); }

static const char *jstr(json_t *ev, const char *key) {
    const char *s = json_string_value(json_object_get(ev, key));
    return s ? s : "";
}

void sn_sink_transcript(void *ctx, json_t *ev) {
    FILE *fp = ((sn_transcript_sink *)ctx)->fp;
    const char *type = jstr(ev, "event");
    const char *ts = jstr(ev, "ts");
    char when[20];
    snprintf(when, sizeof when, "%.19s", ts);
    if (strcmp(type, "message") == 0) {
        const char *kind = jstr(ev, "kind");
        if (json_is_true(json_object_get(ev, "echo")))
            return; /* already shown when it was sent */
        if (strcmp(kind, "text") == 0) {
            fprintf(fp, "[%s] <sb%lld> [%s] ", when, jint(ev, "session"), jstr(ev, "sender"));
            /* indent continuation lines so multi-line messages stay readable */
            for (const char *p = jstr(ev, "text"); *p; p++) {
                if (*p == '\r')
                    continue;
                fputc(*p, fp);
                if (*p == '\n')
                    fputs("    ", fp);
            }
            fputc('\n', fp);
        } else if (strcmp(kind, "typing") == 0) {
            fprintf(fp, "[%s] <sb%lld> %s is typing\n", when, jint(ev, "session"), jstr(ev, "sender"));
        }
    } else if (strcmp(type, "switchboard") == 0) {
        const char *action = jstr(ev, "action");
        if (strcmp(action, "join") == 0 || strcmp(action, "leave") == 0 || strcmp(action, "open") == 0)
            fprintf(fp, "[%s] <sb%lld> *** %s %s\n", when, jint(ev, "session"), jstr(ev, "user"),
                    strcmp(action, "leave") == 0 ? "left" : strcmp(action, "open") == 0 ? "opened the session" : "joined");
    } else if (strcmp(type, "login") == 0) {
        fprintf(fp, "[%s] *** %s logged in (%s)\n", when, jstr(ev, "user"), jstr(ev, "version"));
    } else if (strcmp(type, "invitation") == 0) {
        fprintf(fp, "[%s] <sb%lld> *** %s %s %s (cookie %s)\n", when, jint(ev, "session"), jstr(ev, "from"),
                jstr(ev, "command"), jstr(ev, "app"), jstr(ev, "cookie"));
    }
    fflush(fp);
}

void sn_sink_nft(void *ctx, json_t *ev) {
    sn_nft_sink *n = ctx;
    const char *type = jstr(ev, "event");
    if (strcmp(type, "expectation") != 0)
        return;
    const char *addr = json_string_value(json_object_get(ev, "address"));
    json_t *port = json_object_get(ev, "port");
    const char *tr = jstr(ev, "transport");
    const char *family = strchr(addr ? addr : "", ':') ? "ip6" : "ip";
    if (!addr || !json_is_string(json_object_get(ev, "resolved")))
        return; /* host names cannot go into a set until resolved */
    addr = json_string_value(json_object_get(ev, "resolved"));
    if (!n->header_done) {
        /* one table, two sets per family; elements time out like the expectation */
        fprintf(n->fp, "add table %s %s\n", n->family, n->table);
        fprintf(n->fp, "add set %s %s msn4 { type ipv4_addr . inet_proto . inet_service; flags timeout; }\n", n->family, n->table);
        fprintf(n->fp, "add set %s %s msn4any { type ipv4_addr . inet_proto; flags timeout; }\n", n->family, n->table);
        fprintf(n->fp, "add set %s %s msn6 { type ipv6_addr . inet_proto . inet_service; flags timeout; }\n", n->family, n->table);
        fprintf(n->fp, "add set %s %s msn6any { type ipv6_addr . inet_proto; flags timeout; }\n", n->family, n->table);
        fprintf(n->fp, "add chain %s %s forward { type filter hook forward priority -1; policy accept; }\n", n->family, n->table);
        fprintf(n->fp, "add rule %s %s forward ct state new ip daddr . meta l4proto . th dport @msn4 accept\n", n->family, n->table);
        fprintf(n->fp, "add rule %s %s forward ct state new ip daddr . meta l4proto @msn4any accept\n", n->family, n->table);
        fprintf(n->fp, "add rule %s %s forward ct state new ip6 daddr . meta l4proto . th dport @msn6 accept\n", n->family, n->table);
        fprintf(n->fp, "add rule %s %s forward ct state new ip6 daddr . meta l4proto @msn6any accept\n", n->family, n->table);
        n->header_done = 1;
    }
    json_int_t timeout = json_integer_value(json_object_get(ev, "timeout_s"));
    if (timeout <= 0)
        timeout = 1;
    const char *set6 = strcmp(family, "ip6") == 0 ? "6" : "4";
    static const char *const protos[2] = {"tcp", "udp"};
    for (int i = 0; i < 2; i++) {
        if (strcmp(tr, "any") != 0 && strcmp(tr, protos[i]) != 0)
            continue;
        if (json_is_integer(port))
            fprintf(n->fp, "add element %s %s msn%s { %s . %s . %lld timeout %llds } # %s cookie %s\n", n->family,
                    n->table, set6, addr, protos[i], (long long)json_integer_value(port), (long long)timeout,
                    jstr(ev, "app"), jstr(ev, "cookie"));
        else
            fprintf(n->fp, "add element %s %s msn%sany { %s . %s timeout %llds } # %s cookie %s\n", n->family, n->table,
                    set6, addr, protos[i], (long long)timeout, jstr(ev, "app"), jstr(ev, "cookie"));
    }
    fflush(n->fp);
}
