/* events.h - analyzer events and the sinks that consume them.
 *
 * Every finding is one JSON object ({"event": type, "ts": ..., ...}, see
 * docs/msnsniff.md for the schema). The pipeline builds it once and hands
 * it to each registered sink: JSON lines, transcript, nftables, tests. */
#ifndef SN_EVENTS_H
#define SN_EVENTS_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#define SN_MAX_SINKS 6

typedef void (*sn_sink_fn)(void *ctx, json_t *ev);

typedef struct sn_events {
    sn_sink_fn fn[SN_MAX_SINKS];
    void *ctx[SN_MAX_SINKS];
    int n;
    uint64_t emitted;
} sn_events;

void sn_events_init(sn_events *e);
int sn_events_add_sink(sn_events *e, sn_sink_fn fn, void *ctx);

/* {"event": type, "ts": "<UTC ISO-8601 with µs>"} */
json_t *sn_ev_new(const char *type, uint64_t ts_us);
/* Give ev to every sink, then release it. */
void sn_ev_emit(sn_events *e, json_t *ev);

/* "2002-03-24T07:39:37.000000Z" */
void sn_format_ts(uint64_t ts_us, char out[32]);

/* Helpers that never fail loudly: a NULL or non-UTF-8 string becomes a
 * JSON string with invalid bytes replaced (U+FFFD), so one odd byte on the
 * wire cannot drop an event. */
void sn_ev_set_str(json_t *ev, const char *key, const char *s);
void sn_ev_set_strn(json_t *ev, const char *key, const char *s, size_t n);
void sn_ev_set_int(json_t *ev, const char *key, uint64_t v);

/* Sinks. */
typedef struct sn_json_sink {
    FILE *fp;
    char *buf; /* reused line buffer */
    size_t cap;
} sn_json_sink;
void sn_sink_json(void *ctx, json_t *ev);       /* sn_json_sink *: one compact line per event */
void sn_json_sink_release(sn_json_sink *js);
typedef struct sn_transcript_sink { FILE *fp; } sn_transcript_sink;
void sn_sink_transcript(void *ctx, json_t *ev); /* sn_transcript_sink * */
typedef struct sn_nft_sink {
    FILE *fp;
    const char *family, *table; /* "inet", "msnsniff" */
    int header_done;
} sn_nft_sink;
void sn_sink_nft(void *ctx, json_t *ev);        /* sn_nft_sink * */

#endif
