/* stats.c - counters out: status line and JSON file. */
#define _GNU_SOURCE
#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void gate_stats_latency(uint32_t *hist, uint64_t *n, uint64_t *max, uint64_t us) {
    uint64_t b = us / 10;
    if (b >= GATE_LAT_BUCKETS) b = GATE_LAT_BUCKETS - 1;
    hist[b]++;
    (*n)++;
    if (us > *max) *max = us;
}

uint64_t gate_stats_pct(const uint32_t *hist, uint64_t n, double pct) {
    if (!n) return 0;
    uint64_t want = (uint64_t)((double)n * pct / 100.0 + 0.999999);
    if (want == 0) want = 1;
    uint64_t seen = 0;
    for (uint64_t b = 0; b < GATE_LAT_BUCKETS; b++) {
        seen += hist[b];
        if (seen >= want) return (b + 1) * 10;
    }
    return GATE_LAT_BUCKETS * 10;
}

#define U(x) ((unsigned long long)(x))

/* A percentile is the upper bound of its 10 us bucket: never more than the
 * largest latency measured, which would read as a p99 above the maximum. */
static uint64_t pct_upto(const uint32_t *hist, uint64_t n, uint64_t max, double pct) {
    uint64_t v = gate_stats_pct(hist, n, pct);
    return v > max ? max : v;
}

void gate_stats_line(const gate_stats *s, size_t pinholes, FILE *fp) {
    fprintf(fp,
            "msngate: stats predictions=%llu pinholes=%zu added=%llu deleted=%llu hits=%llu withdrawn=%llu "
            "refused_forged=%llu refused_nat=%llu refused_bound=%llu unresolved=%llu any_port=%llu "
            "commit_p50_us=%llu commit_p99_us=%llu commit_max_us=%llu commit_errors=%llu "
            "packets=%llu capture_drops=%llu analyzer_evicted=%llu queued=%llu queue_drops=%llu queue_p50_us=%llu "
            "queue_p99_us=%llu reverse_path_drops=%llu\n",
            U(s->predictions), pinholes, U(s->elements_added), U(s->elements_deleted), U(s->hits), U(s->withdrawn),
            U(s->refused_forged), U(s->refused_nat), U(s->refused_bound), U(s->unresolved), U(s->any_port),
            U(pct_upto(s->lat, s->lat_n, s->lat_max_us, 50)), U(pct_upto(s->lat, s->lat_n, s->lat_max_us, 99)),
            U(s->lat_max_us), U(s->commit_errors), U(s->packets), U(s->capture_drops + s->capture_truncated),
            U(s->analyzer_evicted), U(s->queued), U(s->queue_drops + s->queue_user_drops + s->recv_enobufs),
            U(pct_upto(s->qlat, s->qlat_n, s->qlat_max_us, 50)), U(pct_upto(s->qlat, s->qlat_n, s->qlat_max_us, 99)),
            U(s->reverse_path_drops));
    fflush(fp);
}

int gate_stats_write_json(gate_stats *s, size_t pinholes, const char *mode, const char *queue_kind, const char *path) {
    char tmp[300];
    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    /* a name nobody has: a link planted at a predictable one is not followed */
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) return -1;
    FILE *fp = fchmod(fd, 0644) == 0 ? fdopen(fd, "w") : NULL;
    if (!fp) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return -1;
    }
    s->reports++;
    fprintf(fp,
            "{\"report\":%llu,\"mode\":\"%s\",\"queue\":\"%s\",\"time\":%llu,\"predictions\":%llu,\"pinholes\":%zu,"
            "\"elements_added\":%llu,\"elements_deleted\":%llu,\"elements_expired\":%llu,\"hits\":%llu,"
            "\"withdrawn\":%llu,\"refused_forged\":%llu,\"refused_nat\":%llu,\"refused_bound\":%llu,"
            "\"dropped_by_analyzer\":%llu,\"analyzer_evicted\":%llu,\"analyzer_not_admitted\":%llu,\"unresolved\":%llu,"
            "\"any_port\":%llu,\"unclassified\":%llu,\"commits\":%llu,"
            "\"commit_errors\":%llu,"
            "\"sets_recreated\":%llu,\"commit_latency_us\":{\"n\":%llu,\"p50\":%llu,\"p99\":%llu,\"max\":%llu},"
            "\"packets\":%llu,\"reverse_path_drops\":%llu,\"capture_drops\":%llu,\"capture_truncated\":%llu,\"capture_"
            "copies\":%llu,\"queued\":%"
            "llu,\"verdicts\":%llu,\"queue_drops\":%llu,\"queue_user_drops\":%llu,"
            "\"recv_enobufs\":%llu,\"queue_latency_us\":{\"n\":%llu,\"p50\":%llu,\"p99\":%llu,\"max\":%llu}}\n",
            U(s->reports), mode, queue_kind, U(time(NULL)), U(s->predictions), pinholes, U(s->elements_added),
            U(s->elements_deleted), U(s->elements_expired), U(s->hits), U(s->withdrawn), U(s->refused_forged),
            U(s->refused_nat), U(s->refused_bound), U(s->dropped_by_analyzer), U(s->analyzer_evicted),
            U(s->analyzer_not_admitted), U(s->unresolved), U(s->any_port), U(s->unclassified), U(s->commits),
            U(s->commit_errors), U(s->sets_recreated), U(s->lat_n), U(pct_upto(s->lat, s->lat_n, s->lat_max_us, 50)),
            U(pct_upto(s->lat, s->lat_n, s->lat_max_us, 99)), U(s->lat_max_us), U(s->packets), U(s->reverse_path_drops),
            U(s->capture_drops), U(s->capture_truncated), U(s->capture_copies), U(s->queued), U(s->verdicts),
            U(s->queue_drops), U(s->queue_user_drops), U(s->recv_enobufs), U(s->qlat_n),
            U(pct_upto(s->qlat, s->qlat_n, s->qlat_max_us, 50)), U(pct_upto(s->qlat, s->qlat_n, s->qlat_max_us, 99)),
            U(s->qlat_max_us));
    if (fclose(fp) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}
