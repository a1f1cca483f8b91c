/* stats.h - msngate's counters, commit latency histogram, the status
 * line and the JSON stats file. */
#ifndef GATE_STATS_H
#define GATE_STATS_H

#include <stdint.h>
#include <stdio.h>

/* Latency buckets of 10 µs up to 100 ms, then one overflow bucket. */
#define GATE_LAT_BUCKETS 10001u

typedef struct gate_stats {
    uint64_t packets;                     /* given to the analyzer */
    uint64_t reverse_path_drops;          /* not analysed: the source does not route back out of the ingress */
    uint64_t predictions;                 /* expectations reported */
    uint64_t unresolved;                  /* now waiting for their host name (a gauge) */
    uint64_t any_port;                    /* no port known: nothing opened (see docs) */
    uint64_t unclassified;                /* applications without a set */
    uint64_t refused_forged, refused_nat; /* policy */
    uint64_t refused_bound;               /* max_pinholes reached */
    uint64_t dropped_by_analyzer;         /* per-user / per-session bounds of the analyzer */
    uint64_t analyzer_evicted;            /* flows the analyzer closed under memory pressure (memcap,
                                           * flow bound) to admit new ones: what they carried is not
                                           * followed any more */
    uint64_t analyzer_not_admitted;       /* packets of new flows the memcap could not admit */
    uint64_t elements_added, elements_deleted, elements_expired;
    uint64_t commits, commit_errors, sets_recreated;
    uint64_t hits; /* predictions whose pinhole was used */
    uint64_t withdrawn;
    uint64_t capture_drops;     /* passive: packets the kernel dropped, the capture ring full */
    uint64_t capture_truncated; /* passive: larger than a ring slot, and no full copy came with it */
    uint64_t capture_copies;    /* passive: larger than a ring slot, analysed from their full copy */
    uint64_t queued, verdicts, queue_drops, queue_user_drops, recv_enobufs;
    uint64_t lat_n, lat_max_us;
    uint32_t lat[GATE_LAT_BUCKETS]; /* arrival -> ACK, 10 µs buckets */
    uint64_t qlat_n, qlat_max_us;
    uint32_t qlat[GATE_LAT_BUCKETS]; /* inline: queue read -> verdict sent */
    uint64_t started_us;
    uint64_t reports; /* status lines written so far */
} gate_stats;

void gate_stats_latency(uint32_t *hist, uint64_t *n, uint64_t *max, uint64_t us);
/* Percentile (0..100) of a histogram in µs (bucket upper bound). */
uint64_t gate_stats_pct(const uint32_t *hist, uint64_t n, double pct);
void gate_stats_line(const gate_stats *s, size_t pinholes, FILE *fp);
/* Writes path atomically: a new file of a unique name in its directory
 * (mkstemp: never an existing file, nor a link planted there), then renamed
 * over path. 0 or -1 (errno). */
int gate_stats_write_json(gate_stats *s, size_t pinholes, const char *mode, const char *queue_kind, const char *path);

#endif
