/* events.h - analyzer events and the sinks that consume them.
 *
 * Every finding is one JSON object ({"event": type, "ts": ..., ...}, see
 * docs/msnsniff.md for the schema), written straight into a line buffer as
 * its fields are set: no tree is built. Next to the line the event keeps a
 * small index of its top-level fields, so sinks that are not JSON (the
 * transcript) read values back by key. The pipeline builds each event
 * once and hands it to every registered sink. Predictions and anomalies
 * are typed events first (observer.h); their records are built from
 * those by the JSON reporter (report.h). */
#ifndef SN_EVENTS_H
#define SN_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "jsonw.h"

#define SN_MAX_SINKS 6

typedef struct sn_ev sn_ev;
typedef void (*sn_sink_fn)(void *ctx, sn_ev *ev);

typedef struct sn_events {
    sn_sink_fn fn[SN_MAX_SINKS];
    void *ctx[SN_MAX_SINKS];
    int n;
    int index_fields; /* some sink reads fields back */
    /* Events are kept as field records, formatted to JSON later by
     * sn_ev_format_records (on the JSON sink's writer thread): set only
     * when the one sink is sn_sink_json writing through an outq made by
     * sn_outq_new_formatted. */
    int records;
    uint64_t emitted;
    sn_ev *free_list; /* built events are recycled: no allocation per event */
    /* With records, the event being built in the outq's buffer itself (at
     * most one at a time), so that emitting it copies nothing; json: the
     * one sink when it is sn_sink_json (kept as sinks are added), whose
     * outq that is. */
    sn_ev *inplace;
    struct sn_json_sink *json;
} sn_events;

void sn_events_init(sn_events *e);
/* Frees the recycled events. */
void sn_events_release(sn_events *e);
/* A sink that may read fields back (sn_ev_get_*). */
int sn_events_add_sink(sn_events *e, sn_sink_fn fn, void *ctx);
/* A sink that reads only the line (sn_ev_line, sn_ev_type): while every
 * sink is of this kind, events keep no index of their fields. */
int sn_events_add_line_sink(sn_events *e, sn_sink_fn fn, void *ctx);

/* Starts {"event": type, "ts": "<UTC ISO-8601 with µs>"}. type must stay
 * valid until the event is emitted (the callers pass literals). Several
 * events may be under construction at once. NULL when memory runs out or
 * when no sink is registered (an engine used only through its observers
 * builds no records); the setters and emit accept NULL, and an event
 * whose line could not grow is dropped at emit. */
sn_ev *sn_ev_new(sn_events *e, const char *type, uint64_t ts_us);
/* Give ev to every sink, then recycle it. NULL is ignored. */
void sn_ev_emit(sn_events *e, sn_ev *ev);

/* "2002-03-24T07:39:37.000000Z": always 27 characters and a NUL. Times
 * after 9999-12-31T23:59:59.999999Z (SN_TS_MAX_US; only a damaged or
 * forged capture has them) are written as that time, so every date keeps
 * its four-digit year. */
#define SN_TS_MAX_US 253402300799999999ull
void sn_format_ts(uint64_t ts_us, char out[32]);

/* Setters. Keys are string literals (the macros check it); each key
 * appears once per object. The macros pass what is written before the
 * value, `,"key":`, and its length, so a field costs one copy of text
 * made at compile time. Strings are copied: a NULL string is JSON null,
 * and bytes that are not valid UTF-8 become U+FFFD, so one odd byte on
 * the wire cannot drop an event. */
#define SN_KEY_(k) (",\"" k "\":"), (sizeof(",\"" k "\":") - 1)
#define sn_ev_set_str(ev, key, s) sn_ev_put_str((ev), SN_KEY_(key), (s))
#define sn_ev_set_strn(ev, key, s, n) sn_ev_put_strn((ev), SN_KEY_(key), (s), (n))
#define sn_ev_set_int(ev, key, v) sn_ev_put_int((ev), SN_KEY_(key), (int64_t)(v))
#define sn_ev_set_bool(ev, key, v) sn_ev_put_bool((ev), SN_KEY_(key), (v))
#define sn_ev_set_null(ev, key) sn_ev_put_null((ev), SN_KEY_(key))
/* Nested values: open, add elements / fields, close. */
#define sn_ev_open_array(ev, key) sn_ev_put_open((ev), SN_KEY_(key), '[')
#define sn_ev_open_object(ev, key) sn_ev_put_open((ev), SN_KEY_(key), '{')
void sn_ev_array_str(sn_ev *ev, const char *s);
void sn_ev_close(sn_ev *ev);

/* pre/plen: `,"key":` as the macros above make it. */
void sn_ev_put_strn(sn_ev *ev, const char *pre, size_t plen, const char *s, size_t n);
/* Inline: the length of a literal value is then known when compiling. */
static inline void sn_ev_put_str(sn_ev *ev, const char *pre, size_t plen, const char *s) {
    sn_ev_put_strn(ev, pre, plen, s, s ? strlen(s) : 0);
}
void sn_ev_put_int(sn_ev *ev, const char *pre, size_t plen, int64_t v);
/* An address as text ("10.1.1.211", "2001:db8::1"), and the Community ID
 * (v1, seed 0) of a flow's 5-tuple, omitted when it has none (addresses
 * of different families). With events handed over as records, both are
 * made on the writer thread: the analysis only copies the bytes. */
void sn_ev_put_addr(sn_ev *ev, const char *pre, size_t plen, const sn_addr *a);
void sn_ev_put_community_id(sn_ev *ev, const char *pre, size_t plen, const sn_addr *a, uint16_t ap, const sn_addr *b,
                            uint16_t bp, uint8_t proto);
/* A time as the events write theirs ("2002-03-24T07:39:37.000000Z"), and
 * an address with its port ("10.1.1.211:1863", "[2001:db8::1]:1863"):
 * also made on the writer thread with records. */
void sn_ev_put_ts(sn_ev *ev, const char *pre, size_t plen, uint64_t ts_us);
void sn_ev_put_endpoint(sn_ev *ev, const char *pre, size_t plen, const sn_addr *a, uint16_t port);
#define sn_ev_set_ts(ev, key, ts) sn_ev_put_ts((ev), SN_KEY_(key), (ts))
#define sn_ev_set_endpoint(ev, key, a, port) sn_ev_put_endpoint((ev), SN_KEY_(key), (a), (port))
#define sn_ev_set_addr(ev, key, a) sn_ev_put_addr((ev), SN_KEY_(key), (a))
#define sn_ev_set_community_id(ev, key, a, ap, b, bp, proto) \
    sn_ev_put_community_id((ev), SN_KEY_(key), (a), (ap), (b), (bp), (proto))
void sn_ev_put_bool(sn_ev *ev, const char *pre, size_t plen, int v);
void sn_ev_put_null(sn_ev *ev, const char *pre, size_t plen);
void sn_ev_put_open(sn_ev *ev, const char *pre, size_t plen, char bracket);

/* Reading an event (in a sink). */
const char *sn_ev_type(const sn_ev *ev);
/* The complete JSON line, newline included. */
const char *sn_ev_line(const sn_ev *ev, size_t *len);
/* A top-level string field, decoded (NUL-terminated; a string holding NUL
 * bytes reads up to the first one), or NULL when the field is absent or not
 * a string. Valid until the event is emitted. */
const char *sn_ev_get_str(sn_ev *ev, const char *key);
/* 1 and *out when the top-level field is an integer, else 0. */
int sn_ev_get_int(const sn_ev *ev, const char *key, int64_t *out);
/* 1 when the top-level field is true. */
int sn_ev_get_true(const sn_ev *ev, const char *key);

/* Appends the JSON lines of the field records in[0..n) (whole records,
 * as sn_sink_json hands them to its outq in record mode) to out. */
void sn_ev_format_records(const void *in, size_t n, sn_jbuf *out);

/* Sinks. */
typedef struct sn_outq sn_outq;
typedef struct sn_json_sink {
    FILE *fp;
    sn_outq *q;     /* when set, lines go through it (outq.h) instead of fp */
    int flush_each; /* without q: fflush after every line (live output) */
} sn_json_sink;
void sn_sink_json(void *ctx, sn_ev *ev); /* sn_json_sink *: one compact line per event */
/* The transcript: messages, logins and switchboard joins from the
 * records (sn_sink_transcript), invitations from the typed events
 * (sn_transcript_observer, observer.h), each message once. */
typedef struct sn_transcript_sink {
    FILE *fp;
    int err; /* the first failed write's errno (a full disk), 0 if none */
} sn_transcript_sink;
void sn_sink_transcript(void *ctx, sn_ev *ev); /* sn_transcript_sink * */
struct sn_observer sn_transcript_observer(sn_transcript_sink *t);

#endif
