/* runner.h - run a capture file through the msnsniff engine in-process and
 * collect its events, for tests. */
#ifndef SN_TEST_RUNNER_H
#define SN_TEST_RUNNER_H

#include <jansson.h>

#include "context.h"
#include "engine.h"

typedef struct sn_run {
    json_t *events; /* array of event objects */
    sn_stats stats;
    uint64_t mem_peak, mem_limit, mem_left;
    size_t expect_peak, expect_max; /* the expectation table's peak and global bound */
    int status;                     /* 0 ok, -1 capture error */
    char err[512];
} sn_run;

/* cfg may be NULL (defaults). */
int sn_run_file(const char *path, const sn_config *cfg, sn_run *out);
/* The same with a subscriber of the typed events (may be NULL). */
int sn_run_file_observed(const char *path, const sn_config *cfg, const sn_observer *obs, sn_run *out);
void sn_run_free(sn_run *r);

/* Events without the fields that legitimately differ between captures of
 * the same conversation (timestamps, flow records, anomalies). types, if
 * not NULL, is a NULL-terminated list of event types to keep. */
json_t *sn_normalize(const json_t *events, const char *const *types);

/* Number of events of a type, and the n-th one (NULL if none). */
size_t sn_count(const json_t *events, const char *type);
json_t *sn_nth(const json_t *events, const char *type, size_t n);
/* First event of type whose field key equals the string value. */
json_t *sn_find(const json_t *events, const char *type, const char *key, const char *value);

#endif
