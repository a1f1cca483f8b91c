/* events.c - event lines, field index and the standard sinks. */
#include "events.h"
#include "communityid.h"
#include "observer.h"
#include "outq.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msnkit/shortcopy.h>
#include <msnkit/visible.h>
#include <msnp/msnp.h>

enum { F_STR, F_INT, F_TRUE, F_FALSE, F_NULL, F_NESTED };
enum { MAX_DEPTH = 8 };

typedef struct ev_field {
    const char *key; /* not NUL-terminated: klen bytes */
    size_t klen;
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
    int indexed;                     /* top-level fields go into f[] */
    int records;                     /* line holds a field record (sn_events.records), not JSON */
    unsigned char comma[MAX_DEPTH];  /* a value was already written at this depth */
    unsigned char closer[MAX_DEPTH]; /* ']' or '}' for the value open at this depth */
    int failed;
    int inplace; /* line is borrowed from q's buffer (sn_events.inplace) */
    sn_outq *q;
    char *own_p; /* the event's own line buffer meanwhile */
    size_t own_cap;
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

int sn_events_add_line_sink(sn_events *e, sn_sink_fn fn, void *ctx) {
    if (e->n >= SN_MAX_SINKS) return -1;
    e->fn[e->n] = fn;
    e->ctx[e->n] = ctx;
    e->n++;
    e->json = e->n == 1 && fn == sn_sink_json ? ctx : NULL;
    return 0;
}

int sn_events_add_sink(sn_events *e, sn_sink_fn fn, void *ctx) {
    if (sn_events_add_line_sink(e, fn, ctx) != 0) return -1;
    e->index_fields = 1;
    return 0;
}

/* events come in bursts within one second: format each date once. Two
 * dates are kept, as events name their own time and an expiry a few
 * minutes later in turn. A date is found by the microsecond its second
 * starts at: one subtraction and compare, no division (a start above
 * SN_TS_MAX_US matches no time). */
static _Thread_local uint64_t ts_start_us[2] = {SN_TS_MAX_US + 1, SN_TS_MAX_US + 1};
static _Thread_local char ts_date[2][24];
static _Thread_local unsigned ts_older;

/* A date not kept: made in place of the older one; its slot. */
static __attribute__((noinline)) unsigned ts_new_date(uint64_t ts) {
    unsigned k = ts_older;
    time_t sec = (time_t)(ts / 1000000u);
    struct tm tm;
    gmtime_r(&sec, &tm);
    strftime(ts_date[k], sizeof ts_date[k], "%Y-%m-%dT%H:%M:%S", &tm);
    ts_date[k][19] = '.';
    ts_start_us[k] = ts - ts % 1000000u;
    return k;
}

/* sn_format_ts, inline for the writer's two calls per line or so. */
static inline __attribute__((always_inline)) void format_ts(uint64_t ts, char out[32]) {
    if (ts > SN_TS_MAX_US) ts = SN_TS_MAX_US;
    unsigned k = ts - ts_start_us[0] < 1000000u ? 0u : ts - ts_start_us[1] < 1000000u ? 1u : ts_new_date(ts);
    ts_older = k ^ 1u;
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                   "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                   "8081828384858687888990919293949596979899";
    uint32_t us = (uint32_t)(ts - ts_start_us[k]), hi = us / 10000u, lo = us % 10000u;
    memcpy(out, ts_date[k], 20); /* with the '.' */
    memcpy(out + 20, pairs + 2 * hi, 2);
    memcpy(out + 22, pairs + 2 * (lo / 100u), 2);
    memcpy(out + 24, pairs + 2 * (lo % 100u), 2);
    out[26] = 'Z';
    out[27] = '\0';
}

void sn_format_ts(uint64_t ts, char out[32]) { format_ts(ts, out); }

/* Writes `,"key":` (the comma when needed) after reserving room for it
 * and `more` bytes: the position after it, or NULL when memory ran out. */
static inline char *put_key(sn_ev *ev, const char *pre, size_t plen, size_t more) {
    if (!sn_jb_reserve(&ev->line, plen + more)) {
        ev->failed = 1;
        return NULL;
    }
    char *o = ev->line.p + ev->line.n;
    unsigned d = ev->depth;
    size_t skip = ev->comma[d] ? 0 : 1;
    ev->comma[d] = 1;
    msnkit_copy_short(o, pre + skip, plen - skip);
    return o + plen - skip;
}

/* The index entry of a top-level field, when the sinks read fields. */
static ev_field *index_field(sn_ev *ev, const char *pre, size_t plen, int kind) {
    if (!ev->indexed || ev->depth != 0) return NULL;
    const char *key = pre + 2; /* `,"` */
    size_t klen = plen - 4;
#ifndef NDEBUG
    for (size_t k = 0; k < ev->nf; k++)
        assert((ev->f[k].klen != klen || memcmp(ev->f[k].key, key, klen) != 0) && "event field set twice");
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
    f->klen = klen;
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

/* ---- field records ----------------------------------------------------------
 *
 * With sn_events.records set, an event is kept as the list of what its
 * setters were given, in order:
 *
 *   header  u32 length of the whole record, 'E', type (pointer), ts (u64)
 *   'S' pre plen n bytes    string      'I' pre plen i64   integer
 *   'T'/'F'/'N' pre plen    true/false/null
 *   'O' pre plen bracket    nested value opened
 *   'A' n bytes / 'a'       array string / null      'C'  close
 *
 * pre is the setter's `,"key":` literal (a pointer: literals live as long
 * as the program), plen one byte. Copying values and pointers is cheaper
 * than escaping and printing them; sn_ev_format_records turns records into
 * the same JSON lines on another thread. A raw record ('R' n bytes) holds
 * JSON text made in line (an event too large to hand over whole). */
enum { REC_HDR = 4 + 1 + sizeof(const char *) + 8 };

enum { REC_KEY = 2 + sizeof(const char *) }; /* op, pre, plen */

/* Writes an op and its key at o (room made by the caller): the position
 * after them. */
static inline char *rec_head(char *o, char op, const char *pre, size_t plen) {
    o[0] = op;
    memcpy(o + 1, &pre, sizeof pre);
    o[1 + sizeof pre] = (char)(unsigned char)plen;
    return o + REC_KEY;
}

/* Reserves room for an op with its key and `more` bytes after it, writes
 * the op and key: the position after them, or NULL (the event fails).
 * kind: the field's, for debug builds' check that no field is set twice
 * (records are only made when no sink reads fields back). */
static inline char *rec_key(sn_ev *ev, char op, const char *pre, size_t plen, size_t more, int kind) {
#ifndef NDEBUG
    index_field(ev, pre, plen, kind);
#else
    (void)kind;
#endif
    if (!sn_jb_reserve(&ev->line, REC_KEY + more)) {
        ev->failed = 1;
        return NULL;
    }
    char *o = rec_head(ev->line.p + ev->line.n, op, pre, plen);
    ev->line.n += REC_KEY + more;
    return o;
}

/* u32 length and the bytes, at o (room made by the caller). */
static inline void rec_bytes_at(char *o, const char *s, size_t n) {
    uint32_t n32 = (uint32_t)n;
    memcpy(o, &n32, 4);
    if (n <= 32) msnkit_copy_short(o + 4, s, n); /* most values: no call */
    else memcpy(o + 4, s, n);
}

/* Appends `{"event":"type","ts":"2002-03-24T07:39:37.000000Z"` (type:
 * tn bytes that need no escaping) in one piece, as every line begins,
 * whether made here or from a record on the writer thread; 0 when memory
 * ran out. */
static int put_head(sn_jbuf *b, const char *type, size_t tn, uint64_t ts) {
    if (!sn_jb_reserve(b, tn + 48)) return 0;
    char *o = b->p + b->n;
    memcpy(o, "{\"event\":\"", 10);
    memcpy(o + 10, type, tn);
    o += 10 + tn;
    memcpy(o, "\",\"ts\":\"", 8);
    o += 8;
    sn_format_ts(ts, o); /* 27 characters and a NUL, overwritten below */
    o[27] = '"';
    b->n = (size_t)(o + 28 - b->p);
    return 1;
}

/* The largest record handed over whole; an event above it is formatted
 * here and handed over as raw pieces (outq's buffers are 1 MiB). */
#define REC_MAX (256u << 10)
_Static_assert(REC_MAX <= SN_OUTQ_WHOLE_MAX, "a record is handed over in one outq buffer");

/* Least room worth building an event in: with less the buffer is handed
 * over first (what it leaves unused is a small part of its MiB). */
#define INPLACE_MIN 4096u

/* ev, built in the outq's buffer, goes on in its own: before anything
 * else is written to the queue, which would write over it. */
static void inplace_leave(sn_events *e, sn_ev *ev) {
    e->inplace = NULL;
    ev->inplace = 0;
    sn_jbuf in = ev->line;
    ev->line.p = ev->own_p;
    ev->line.cap = ev->own_cap;
    ev->line.n = 0;
    ev->line.borrowed = 0;
    if (!in.borrowed) { /* it grew out of the queue's buffer already */
        free(ev->line.p);
        ev->line = in;
        return;
    }
    if (in.failed || !sn_jb_reserve(&ev->line, in.n + 1)) {
        ev->line.failed = 1;
        ev->line.cap = ev->line.n;
        return;
    }
    memcpy(ev->line.p, in.p, in.n);
    ev->line.n = in.n;
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
#ifndef NDEBUG
    ev->indexed = 1; /* debug builds check every event for a field set twice */
#else
    ev->indexed = e->index_fields;
#endif
    ev->records = e->records;
    ev->inplace = 0;
    if (ev->records) {
        /* the outq whose buffer records may be built in: the one sink's,
         * when that sink is the JSON one */
        sn_outq *q = e->json && !e->inplace ? e->json->q : NULL;
        if (q) { /* built where it is handed over: no copy at emit */
            ev->q = q;
            size_t room;
            ev->own_p = ev->line.p;
            ev->own_cap = ev->line.cap;
            ev->line.p = sn_outq_room(q, INPLACE_MIN, &room);
            ev->line.cap = room;
            ev->line.borrowed = 1;
            ev->inplace = 1;
            e->inplace = ev;
        }
        if (!sn_jb_reserve(&ev->line, REC_HDR)) {
            ev->failed = 1;
            return ev;
        }
        char *o = ev->line.p;
        memset(o, 0, 4);
        o[4] = 'E';
        memcpy(o + 5, &type, sizeof type);
        memcpy(o + 5 + sizeof type, &ts, 8);
        ev->line.n = REC_HDR;
        ev->comma[0] = 1;
#ifndef NDEBUG
        index_field(ev, SN_KEY_("event"), F_STR);
        index_field(ev, SN_KEY_("ts"), F_STR);
#endif
        return ev;
    }
    /* {"event":"type","ts":"2002-03-24T07:39:37.000000Z" in one piece:
     * the types are literals that need no escaping */
    size_t tn = strlen(type);
#ifndef NDEBUG
    for (size_t k = 0; k < tn; k++) assert(type[k] > 0x20 && type[k] < 0x7F && type[k] != '"' && type[k] != '\\');
#endif
    if (!put_head(&ev->line, type, tn, ts)) {
        ev->failed = 1;
        return ev;
    }
    ev->comma[0] = 1;
    ev_field *f = index_field(ev, SN_KEY_("event"), F_STR);
    if (f) {
        f->off = 10;
        f->len = tn;
    }
    f = index_field(ev, SN_KEY_("ts"), F_STR);
    if (f) {
        f->off = 10 + tn + 8;
        f->len = 27;
    }
    return ev;
}

static void put_strn_general(sn_ev *ev, const char *pre, size_t plen, const char *s, size_t n);

/* The common case, a short string into a record that has room, is a leaf
 * with nothing to save on the stack; everything else takes the general
 * path (a function of its own, so that its registers are not saved for
 * every field). */
void sn_ev_put_strn(sn_ev *ev, const char *pre, size_t plen, const char *s, size_t n) {
#ifdef NDEBUG /* a debug build indexes every record's key (rec_key) */
    if (ev && s && ev->records && n <= 32 && sn_jb_has_room(&ev->line, REC_KEY + 4 + n)) {
        char *o = rec_head(ev->line.p + ev->line.n, 'S', pre, plen);
        ev->line.n += REC_KEY + 4 + n;
        rec_bytes_at(o, s, n);
        return;
    }
#endif
    put_strn_general(ev, pre, plen, s, n);
}

__attribute__((noinline)) static void put_strn_general(sn_ev *ev, const char *pre, size_t plen, const char *s,
                                                       size_t n) {
    if (!ev) return;
    if (!s) {
        sn_ev_put_null(ev, pre, plen);
        return;
    }
    if (ev->records) {
        char *o = n <= UINT32_MAX ? rec_key(ev, 'S', pre, plen, 4 + n, F_STR) : NULL;
        if (o) rec_bytes_at(o, s, n);
        else ev->failed = 1;
        return;
    }
    char *o = put_key(ev, pre, plen, n <= SN_JB_SHORT ? n + 2 : 0);
    if (!o) return;
    if (sn_jb_short_plain(o + 1, s, n)) { /* key and value in one reservation */
        o[0] = '"';
        o[n + 1] = '"';
        size_t start = (size_t)(o + 1 - ev->line.p);
        ev->line.n = start + n + 1;
        ev_field *f = index_field(ev, pre, plen, F_STR);
        if (f) {
            f->off = start;
            f->len = n;
        }
        return;
    }
    ev->line.n = (size_t)(o - ev->line.p);
    put_string_value(ev, index_field(ev, pre, plen, F_STR), s, n);
}

static void put_int_general(sn_ev *ev, const char *pre, size_t plen, int64_t v);

/* As sn_ev_put_strn: the record that has room is a leaf. */
void sn_ev_put_int(sn_ev *ev, const char *pre, size_t plen, int64_t v) {
#ifdef NDEBUG
    if (ev && ev->records && sn_jb_has_room(&ev->line, REC_KEY + 8)) {
        char *o = rec_head(ev->line.p + ev->line.n, 'I', pre, plen);
        memcpy(o, &v, 8);
        ev->line.n += REC_KEY + 8;
        return;
    }
#endif
    put_int_general(ev, pre, plen, v);
}

__attribute__((noinline)) static void put_int_general(sn_ev *ev, const char *pre, size_t plen, int64_t v) {
    if (!ev) return;
    if (ev->records) {
        char *o = rec_key(ev, 'I', pre, plen, 8, F_INT);
        if (o) memcpy(o, &v, 8);
        return;
    }
    char *o = put_key(ev, pre, plen, SN_JB_INT_MAX);
    if (!o) return;
    ev->line.n = (size_t)(sn_jb_format_int(o, v) - ev->line.p);
    ev_field *f = index_field(ev, pre, plen, F_INT);
    if (f) f->i = v;
}

/* An address in a record: its family byte, then its 16 bytes. */
static inline void rec_put_addr(char *o, const sn_addr *a) {
    o[0] = (char)a->family;
    memcpy(o + 1, a->b, 16);
}

static inline sn_addr rec_get_addr(const unsigned char *p) {
    sn_addr a;
    a.family = p[0];
    memcpy(a.b, p + 1, 16);
    return a;
}

/* 'P' key family b[16] */
enum { REC_ADDR = 1 + 16 };
/* 'H' key a (family b[16]) b (family b[16]) ap bp proto */
enum { REC_CID = 2 * REC_ADDR + 2 + 2 + 1 };

void sn_ev_put_addr(sn_ev *ev, const char *pre, size_t plen, const sn_addr *a) {
    if (!ev) return;
    if (ev->records) {
        char *o = rec_key(ev, 'P', pre, plen, REC_ADDR, F_STR);
        if (o) rec_put_addr(o, a);
        return;
    }
    char t[SN_ADDR_STRLEN];
    sn_ev_put_str(ev, pre, plen, sn_addr_str(a, t));
}

/* 'D' key ts(u64) */
enum { REC_TS = 8 };
/* 'Q' key family b[16] port */
enum { REC_EP = REC_ADDR + 2 };

void sn_ev_put_ts(sn_ev *ev, const char *pre, size_t plen, uint64_t ts_us) {
    if (!ev) return;
    if (ev->records) {
        char *o = rec_key(ev, 'D', pre, plen, REC_TS, F_STR);
        if (o) memcpy(o, &ts_us, 8);
        return;
    }
    char t[32];
    sn_format_ts(ts_us, t);
    sn_ev_put_strn(ev, pre, plen, t, 27);
}

void sn_ev_put_endpoint(sn_ev *ev, const char *pre, size_t plen, const sn_addr *a, uint16_t port) {
    if (!ev) return;
    if (ev->records) {
        char *o = rec_key(ev, 'Q', pre, plen, REC_EP, F_STR);
        if (o) {
            rec_put_addr(o, a);
            memcpy(o + REC_ADDR, &port, 2);
        }
        return;
    }
    char t[SN_ENDPOINT_STRLEN];
    sn_ev_put_strn(ev, pre, plen, t, sn_endpoint_str(a, port, t, sizeof t));
}

void sn_ev_put_community_id(sn_ev *ev, const char *pre, size_t plen, const sn_addr *a, uint16_t ap, const sn_addr *b,
                            uint16_t bp, uint8_t proto) {
    if (!ev) return;
    if (ev->records) {
        /* sn_community_id decides on the writer thread whether there is one */
        char *o = rec_key(ev, 'H', pre, plen, REC_CID, F_STR);
        if (o) {
            rec_put_addr(o, a);
            rec_put_addr(o + REC_ADDR, b);
            memcpy(o + 2 * REC_ADDR, &ap, 2);
            memcpy(o + 2 * REC_ADDR + 2, &bp, 2);
            o[2 * REC_ADDR + 4] = (char)proto;
        }
        return;
    }
    char cid[SN_COMMUNITY_ID_LEN];
    if (sn_community_id(0, a, ap, b, bp, proto, cid) == 0) sn_ev_put_str(ev, pre, plen, cid);
}

void sn_ev_put_bool(sn_ev *ev, const char *pre, size_t plen, int v) {
    if (!ev) return;
    if (ev->records) {
        rec_key(ev, v ? 'T' : 'F', pre, plen, 0, v ? F_TRUE : F_FALSE);
        return;
    }
    char *o = put_key(ev, pre, plen, 5);
    if (!o) return;
    if (v) memcpy(o, "true", 4);
    else memcpy(o, "false", 5);
    ev->line.n = (size_t)(o + (v ? 4 : 5) - ev->line.p);
    index_field(ev, pre, plen, v ? F_TRUE : F_FALSE);
}

void sn_ev_put_null(sn_ev *ev, const char *pre, size_t plen) {
    if (!ev) return;
    if (ev->records) {
        rec_key(ev, 'N', pre, plen, 0, F_NULL);
        return;
    }
    char *o = put_key(ev, pre, plen, 4);
    if (!o) return;
    memcpy(o, "null", 4);
    ev->line.n = (size_t)(o + 4 - ev->line.p);
    index_field(ev, pre, plen, F_NULL);
}

void sn_ev_put_open(sn_ev *ev, const char *pre, size_t plen, char bracket) {
    if (!ev) return;
    if (ev->depth + 1 >= MAX_DEPTH) {
        ev->failed = 1;
        return;
    }
    if (ev->records) {
        char *o = rec_key(ev, 'O', pre, plen, 1, F_NESTED);
        if (o) *o = bracket;
        ev->depth++;
        return;
    }
    char *o = put_key(ev, pre, plen, 1);
    if (!o) return;
    *o++ = bracket;
    ev->line.n = (size_t)(o - ev->line.p);
    index_field(ev, pre, plen, F_NESTED);
    ev->depth++;
    ev->comma[ev->depth] = 0;
    ev->closer[ev->depth] = bracket == '[' ? ']' : '}';
}

void sn_ev_array_str(sn_ev *ev, const char *s) {
    if (!ev || ev->depth == 0) return;
    if (ev->records) {
        if (s) {
            size_t n = strlen(s);
            if (n > UINT32_MAX || !sn_jb_reserve(&ev->line, 5 + n)) {
                ev->failed = 1;
                return;
            }
            char *o = ev->line.p + ev->line.n;
            o[0] = 'A';
            rec_bytes_at(o + 1, s, n);
            ev->line.n += 5 + n;
        } else {
            sn_jb_putc(&ev->line, 'a');
        }
        return;
    }
    if (ev->comma[ev->depth]) sn_jb_putc(&ev->line, ',');
    ev->comma[ev->depth] = 1;
    if (s) put_string_value(ev, NULL, s, strlen(s));
    else sn_jb_put(&ev->line, "null", 4);
}

void sn_ev_close(sn_ev *ev) {
    if (!ev || ev->depth == 0) return;
    if (ev->records) {
        sn_jb_putc(&ev->line, 'C');
        ev->depth--;
        return;
    }
    sn_jb_putc(&ev->line, (char)ev->closer[ev->depth]);
    ev->depth--;
}

void sn_ev_emit(sn_events *e, sn_ev *ev) {
    if (!ev) return;
    /* another event's bytes go where one is being built: it moves out */
    if (e->inplace && e->inplace != ev) inplace_leave(e, e->inplace);
    if (ev->records) {
        ev->depth = 0; /* the formatter closes what is open */
        uint32_t n32 = (uint32_t)ev->line.n;
        if (ev->line.n > UINT32_MAX) ev->failed = 1;
        else if (!ev->line.failed) memcpy(ev->line.p, &n32, 4);
    } else {
        while (ev->depth) sn_ev_close(ev);
        sn_jb_put(&ev->line, "}\n", 2);
    }
    if (ev->inplace) {
        if (ev->line.borrowed && !ev->failed && !ev->line.failed && ev->line.n <= REC_MAX) {
            /* in its place already: handed over as it is */
            e->emitted++;
            sn_outq_commit(ev->q, ev->line.n);
            e->inplace = NULL;
            ev->inplace = 0;
            ev->line.p = ev->own_p;
            ev->line.cap = ev->own_cap;
            ev->line.n = 0;
            ev->line.borrowed = 0;
            ev->next = e->free_list;
            e->free_list = ev;
            return;
        }
        inplace_leave(e, ev); /* dropped, or formatted here: as any other */
    }
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
    size_t klen = strlen(key);
    for (size_t k = 0; k < ev->nf; k++)
        if (ev->f[k].klen == klen && memcmp(ev->f[k].key, key, klen) == 0) return &ev->f[k];
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

/* A record's key length (plen). */
static inline size_t rec_plen(const unsigned char *r) { return r[1 + sizeof(const char *)]; }

static inline size_t rd32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The most one record op writes (scratch included) without a check of
 * its own: its key (plen is one byte) and a value of bounded size (a short
 * plain string, a number, a time, an address, an endpoint, a Community
 * ID), or a closer. Longer or escaped strings go through sn_jb_string,
 * which makes its own room. */
enum { FMT_VALUE_MAX = 64, FMT_ROOM = 255 + FMT_VALUE_MAX };
_Static_assert(SN_JB_SHORT + 2 <= FMT_VALUE_MAX && 1 + SN_JB_INT_MAX <= FMT_VALUE_MAX &&
                   SN_ADDR_STRLEN + 2 <= FMT_VALUE_MAX && SN_ENDPOINT_STRLEN + 2 <= FMT_VALUE_MAX &&
                   SN_COMMUNITY_ID_LEN + 2 <= FMT_VALUE_MAX && 30 <= FMT_VALUE_MAX,
               "FMT_ROOM covers every op");
/* What an op keeps of that, per byte of record it takes: at most FMT_ROOM
 * for an op with a key, which takes at least REC_KEY bytes; an op without
 * one ('A' 'a' 'C') takes a byte or more and keeps at most a separator
 * and a short string, "null" or a closer. The room is made for the ops of
 * up to FMT_CHUNK record bytes at once. */
enum { FMT_PER_BYTE = (FMT_ROOM + REC_KEY - 1) / REC_KEY, FMT_CHUNK = 4096 };
_Static_assert(1 + SN_JB_SHORT + 2 <= FMT_PER_BYTE * 5 && 5 <= FMT_PER_BYTE, "FMT_PER_BYTE covers every op");

/* Writes a record's `,"key":` at o with sep (',' or the bracket of a
 * value just opened) in place of its comma: the position after it. */
static inline char *fmt_key_to(char *o, const unsigned char *r, char sep) {
    const char *pre;
    memcpy(&pre, r + 1, sizeof pre);
    size_t plen = rec_plen(r);
    /* two overlapping loads and stores from each end, not memcpy (the
     * compiler makes that rep movs); most keys are 8 to 15 bytes with
     * their punctuation, so those are tested first */
    if (plen - 8 < 8) {
        uint64_t a, z;
        memcpy(&a, pre, 8);
        memcpy(&z, pre + plen - 8, 8);
        memcpy(o, &a, 8);
        memcpy(o + plen - 8, &z, 8);
    } else {
        msnkit_copy_short(o, pre, plen);
    }
    o[0] = sep;
    return o + plen;
}

/* One 'E' record [r, end) as its JSON line. The output position and the
 * end of the room are kept in locals, not in *b: the compiler would
 * reload those after every byte stored through a char pointer. */
static void format_event(sn_jbuf *b, const unsigned char *r, const unsigned char *end) {
    const char *type;
    uint64_t ts;
    memcpy(&type, r + 5, sizeof type);
    memcpy(&ts, r + 5 + sizeof type, 8);
    /* the types are a few literals, like the keys (records hold their
     * addresses, read here after the event was emitted): the start of
     * their lines, `{"event":"type","ts":"`, is kept by address and
     * copied as three fixed blocks */
    static _Thread_local struct {
        const char *type;
        size_t n; /* of head; 0: the type is too long to keep */
        char head[48];
    } th[16];
    size_t slot = ((uintptr_t)type >> 2) & 15u;
    if (th[slot].type != type) {
        size_t tn = strlen(type);
        th[slot].type = type;
        th[slot].n = 0;
        if (tn <= sizeof th[slot].head - 18) {
            memcpy(th[slot].head, "{\"event\":\"", 10);
            memcpy(th[slot].head + 10, type, tn);
            memcpy(th[slot].head + 10 + tn, "\",\"ts\":\"", 8);
            th[slot].n = 10 + tn + 8;
        }
    }
    size_t hn = th[slot].n;
    if (hn == 0) {
        if (!put_head(b, type, strlen(type), ts)) return;
    } else {
        if (!sn_jb_reserve(b, sizeof th[slot].head + 28)) return;
        char *h = b->p + b->n;
        memcpy(h, th[slot].head, sizeof th[slot].head);
        format_ts(ts, h + hn); /* 27 characters and a NUL, overwritten */
        h[hn + 27] = '"';
        b->n += hn + 28;
    }
    char *o = b->p + b->n, *lim = b->p + b->cap;
    /* Room for the ops before r_lim: lim - o >= FMT_PER_BYTE * (r_lim - r)
     * + FMT_ROOM before each op, so that no op checks its own room (one
     * that stores text through sn_jb_string sets r_lim to make it again) */
    const unsigned char *r_lim;
    /* the separator the next value is written with: ',' or the bracket of
     * the value just opened, written only once its first element or its
     * closer comes */
    char sep = ',';
    unsigned char closer[MAX_DEPTH];
    unsigned depth = 0;
    const size_t kl = REC_KEY;
    r += REC_HDR;
    r_lim = r;
    for (;;) { /* bounded: every op moves r forward */
        if (r >= r_lim) {
            if (r >= end) break;
            size_t want = (size_t)(end - r) < FMT_CHUNK ? (size_t)(end - r) : FMT_CHUNK;
            size_t need = FMT_PER_BYTE * want + FMT_ROOM;
            if ((size_t)(lim - o) < need) {
                b->n = (size_t)(o - b->p);
                if (!sn_jb_grow(b, need)) return; /* the buffer failed: its text is dropped */
                o = b->p + b->n;
                lim = b->p + b->cap;
            }
            r_lim = r + want;
        }
        /* strings and integers are most ops: tested for before the
         * jump table */
        if (*r == 'S') {
            size_t n = rd32(r + kl);
            const char *s = (const char *)r + kl + 4;
            o = fmt_key_to(o, r, sep);
            sep = ',';
            if (sn_jb_short_plain(o + 1, s, n)) { /* most values */
                o[0] = '"';
                o[n + 1] = '"';
                o += n + 2;
            } else {
                b->n = (size_t)(o - b->p);
                sn_jb_string(b, s, n);
                o = b->p + b->n;
                lim = b->p + b->cap;
                r_lim = r;
            }
            r += kl + 4 + n;
            continue;
        }
        if (*r == 'I') {
            int64_t v;
            memcpy(&v, r + kl, 8);
            o = sn_jb_format_int(fmt_key_to(o, r, sep), v);
            sep = ',';
            r += kl + 8;
            continue;
        }
        switch (*r) {
        case 'P': {
            sn_addr a = rec_get_addr(r + kl);
            o = fmt_key_to(o, r, sep);
            sep = ',';
            /* an address never needs escaping */
            size_t n = a.family != 6 ? sn_addr_fmt4(a.b, o + 1) : sn_addr_fmt(&a, o + 1);
            o[0] = '"';
            o[n + 1] = '"';
            o += n + 2;
            r += kl + REC_ADDR;
            break;
        }
        case 'D': {
            uint64_t when;
            memcpy(&when, r + kl, 8);
            o = fmt_key_to(o, r, sep);
            sep = ',';
            format_ts(when, o + 1); /* 27 characters and a NUL, overwritten; never escaped */
            o[0] = '"';
            o[28] = '"';
            o += 29;
            r += kl + REC_TS;
            break;
        }
        case 'Q': {
            sn_addr a = rec_get_addr(r + kl);
            uint16_t port;
            memcpy(&port, r + kl + REC_ADDR, 2);
            o = fmt_key_to(o, r, sep);
            sep = ',';
            size_t n = sn_endpoint_str(&a, port, o + 1, SN_ENDPOINT_STRLEN); /* never escaped */
            o[0] = '"';
            o[n + 1] = '"';
            o += n + 2;
            r += kl + REC_EP;
            break;
        }
        case 'H': {
            sn_addr x = rec_get_addr(r + kl), y = rec_get_addr(r + kl + REC_ADDR);
            uint16_t xp, yp;
            memcpy(&xp, r + kl + 2 * REC_ADDR, 2);
            memcpy(&yp, r + kl + 2 * REC_ADDR + 2, 2);
            /* the key is written first but kept only with an identifier
             * (else omitted, as in line); base64 never needs escaping */
            char *v = fmt_key_to(o, r, sep);
            if (sn_community_id(0, &x, xp, &y, yp, r[kl + 2 * REC_ADDR + 4], v + 1) == 0) {
                size_t n = strlen(v + 1);
                v[0] = '"';
                v[n + 1] = '"';
                o = v + n + 2;
                sep = ',';
            }
            r += kl + REC_CID;
            break;
        }
        case 'T':
        case 'F':
        case 'N':
            o = fmt_key_to(o, r, sep);
            sep = ',';
            if (*r == 'T') {
                memcpy(o, "true", 4);
                o += 4;
            } else if (*r == 'F') {
                memcpy(o, "false", 5);
                o += 5;
            } else {
                memcpy(o, "null", 4);
                o += 4;
            }
            r += kl;
            break;
        case 'O': {
            if (depth + 1 >= MAX_DEPTH) goto done; /* sn_ev_put_open never nests deeper */
            o = fmt_key_to(o, r, sep);
            char bracket = (char)r[kl];
            sep = bracket;
            depth++;
            closer[depth] = bracket == '[' ? ']' : '}';
            r += kl + 1;
            break;
        }
        case 'A':
        case 'a':
            *o++ = sep;
            sep = ',';
            if (*r == 'a') {
                memcpy(o, "null", 4);
                o += 4;
                r += 1;
            } else {
                size_t n = rd32(r + 1);
                const char *s = (const char *)r + 5;
                if (sn_jb_short_plain(o + 1, s, n)) {
                    o[0] = '"';
                    o[n + 1] = '"';
                    o += n + 2;
                } else {
                    b->n = (size_t)(o - b->p);
                    sn_jb_string(b, s, n);
                    o = b->p + b->n;
                    lim = b->p + b->cap;
                    r_lim = r;
                }
                r += 5 + n;
            }
            break;
        default:                        /* 'C' */
            if (depth == 0) goto done;  /* sn_ev_close never closes more than was opened */
            if (sep != ',') *o++ = sep; /* an empty value */
            *o++ = (char)closer[depth--];
            sep = ',';
            r += 1;
            break;
        }
    }
done:
    if ((size_t)(lim - o) < MAX_DEPTH + 2) {
        b->n = (size_t)(o - b->p);
        if (!sn_jb_grow(b, MAX_DEPTH + 2)) return;
        o = b->p + b->n;
    }
    if (depth && sep != ',') *o++ = sep;
    while (depth) *o++ = (char)closer[depth--];
    memcpy(o, "}\n", 2);
    b->n = (size_t)(o + 2 - b->p);
}

void sn_ev_format_records(const void *in, size_t n, sn_jbuf *out) {
    const unsigned char *r = in, *end = r + n;
    while (r + 5 <= end) { /* bounded: every record has a length >= 5 */
        size_t len = rd32(r);
        if (len < 5 || len > (size_t)(end - r)) return; /* not written by sn_ev_emit */
        if (r[4] == 'E') format_event(out, r, r + len);
        else sn_jb_put(out, r + 5, len - 5); /* 'R' */
        r += len;
    }
}

static void json_sink_records(sn_json_sink *js, sn_ev *ev) {
    size_t n = ev->line.n;
    if (n <= REC_MAX) {
        sn_outq_keep_whole(js->q, n);
        sn_outq_write(js->q, ev->line.p, n);
        return;
    }
    sn_jbuf b = {0};
    sn_ev_format_records(ev->line.p, n, &b);
    if (b.failed) {
        sn_jb_free(&b);
        return;
    }
    for (size_t at = 0; at < b.n;) { /* bounded: every turn hands over a piece */
        size_t k = b.n - at < REC_MAX - 5 ? b.n - at : REC_MAX - 5;
        unsigned char hdr[5];
        uint32_t len = (uint32_t)(k + 5);
        memcpy(hdr, &len, 4);
        hdr[4] = 'R';
        sn_outq_keep_whole(js->q, k + 5);
        sn_outq_write(js->q, hdr, 5);
        sn_outq_write(js->q, b.p + at, k);
        at += k;
    }
    sn_jb_free(&b);
}

void sn_sink_json(void *ctx, sn_ev *ev) {
    sn_json_sink *js = ctx;
    if (ev->records) {
        json_sink_records(js, ev);
        return;
    }
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

/* Who a transcript line names: "?" when the capture never said (a
 * switchboard picked up after its USR or ANS), not an empty name. */
static const char *who(sn_ev *ev, const char *key) {
    const char *s = jstr(ev, key);
    return *s ? s : "?";
}

/* Every name and text below is what the capture's peers sent: shown, never
 * obeyed by the terminal (msnkit/visible.h). */
static void vis(FILE *fp, const char *s) { msnkit_put_visible(fp, s, NULL); }

/* Each event's lines go out at once. stdio drops what it could not write
 * and fflush then succeeds on the empty buffer: the first failure (a full
 * disk) is kept for the caller, whose errno is still the write's. */
static void transcript_flush(void *ctx) {
    sn_transcript_sink *t = ctx;
    if ((fflush(t->fp) != 0 || ferror(t->fp)) && !t->err) t->err = errno ? errno : EIO;
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
            fprintf(fp, "[%s] <sb%lld> [", when, jint(ev, "session"));
            vis(fp, who(ev, "sender"));
            fputs("] ", fp);
            /* continuation lines indented, so multi-line messages stay readable */
            msnkit_put_visible(fp, jstr(ev, "text"), "    ");
            fputc('\n', fp);
        } else if (strcmp(kind, "typing") == 0) {
            /* the sender's own TypingUser header names it when the session
             * did not (its start was not captured) */
            const char *sender = jstr(ev, "sender");
            fprintf(fp, "[%s] <sb%lld> ", when, jint(ev, "session"));
            vis(fp, *sender ? sender : who(ev, "typing_user"));
            fputs(" is typing\n", fp);
        } else if (strcmp(kind, "other") == 0) {
            const char *ct = jstr(ev, "content_type");
            fprintf(fp, "[%s] <sb%lld> [", when, jint(ev, "session"));
            vis(fp, who(ev, "sender"));
            fputs("] (a message of type ", fp);
            vis(fp, *ct ? ct : "none");
            fprintf(fp, ", %lld bytes)\n", jint(ev, "size"));
        }
    } else if (strcmp(type, "switchboard") == 0) {
        const char *action = jstr(ev, "action");
        if (strcmp(action, "join") == 0 || strcmp(action, "leave") == 0 || strcmp(action, "open") == 0) {
            /* from the connection's own user: who opened the session (XFR
             * then CAL) and who came in answering a call (RNG then ANS);
             * IRO names those already there when the answerer came in,
             * JOI those who come in later */
            const char *what = "joined";
            if (strcmp(action, "leave") == 0) what = "left";
            else if (strcmp(action, "open") == 0)
                what =
                    strcmp(jstr(ev, "mode"), "answer") == 0 ? "answered a call into the session" : "opened the session";
            else if (strcmp(jstr(ev, "via"), "IRO") == 0) what = "was in the session";
            fprintf(fp, "[%s] <sb%lld> *** ", when, jint(ev, "session"));
            vis(fp, who(ev, "user"));
            fprintf(fp, " %s\n", what);
        } else if (strcmp(action, "refused") == 0) {
            /* the server turned the login away: no one came in */
            const char *error = jstr(ev, "error");
            fprintf(fp, "[%s] <sb%lld> *** ", when, jint(ev, "session"));
            vis(fp, who(ev, "user"));
            fputs(strcmp(jstr(ev, "mode"), "answer") == 0 ? " could not answer a call into the session ("
                                                          : " could not open the session (",
                  fp);
            vis(fp, error);
            fprintf(fp, " %s)\n", msnp_error_text(atoi(error)));
        }
    } else if (strcmp(type, "message_refused") == 0) {
        /* the line above it was not delivered to anyone */
        const char *error = jstr(ev, "error");
        fprintf(fp, "[%s] <sb%lld> *** the server refused ", when, jint(ev, "session"));
        vis(fp, who(ev, "sender"));
        const char *kind = jstr(ev, "kind");
        fprintf(fp, "'s %s (",
                strcmp(kind, "typing") == 0           ? "typing notification"
                    : strcmp(kind, "invitation") == 0 ? "invitation message"
                                                      : "message");
        vis(fp, error);
        if (strcmp(error, "NAK") == 0) fputs("): not delivered to every recipient\n", fp);
        else fprintf(fp, " %s): not delivered\n", msnp_error_text(atoi(error)));
    } else if (strcmp(type, "login") == 0) {
        fprintf(fp, "[%s] *** ", when);
        vis(fp, who(ev, "user"));
        if (strcmp(jstr(ev, "result"), "ok") != 0) {
            /* the server refused it: no one logged in */
            const char *error = jstr(ev, "error");
            fputs(" login failed (", fp);
            vis(fp, error);
            fprintf(fp, " %s)\n", msnp_error_text(atoi(error)));
        } else {
            /* the version is unknown when the VER exchange was not captured */
            const char *version = jstr(ev, "version");
            fputs(" logged in", fp);
            if (*version) {
                fputs(" (", fp);
                vis(fp, version);
                fputc(')', fp);
            }
            fputc('\n', fp);
        }
    }
    transcript_flush(ctx);
}

static void transcript_invitation(void *ctx, const sn_invitation_info *i) {
    if (i->echo) return; /* already shown from the other side */
    FILE *fp = ((sn_transcript_sink *)ctx)->fp;
    char when[32];
    sn_format_ts(i->ts, when);
    when[19] = '\0';
    fprintf(fp, "[%s] <sb%llu> *** ", when, (unsigned long long)i->session);
    vis(fp, i->from[0] ? i->from : "?"); /* as who(): a sender the capture never named */
    fputc(' ', fp);
    vis(fp, i->command);
    fputc(' ', fp);
    vis(fp, i->app);
    fputs(" (cookie ", fp);
    vis(fp, i->cookie);
    fputs(")\n", fp);
    transcript_flush(ctx);
}

sn_observer sn_transcript_observer(sn_transcript_sink *t) {
    sn_observer o = {.invitation = transcript_invitation, .ctx = t};
    return o;
}
