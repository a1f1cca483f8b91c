/* hist.h - log-bucketed latency histogram (in the spirit of HdrHistogram).
 *
 * Values are nanoseconds. Below 64 every value has its own bucket; above,
 * each power of two is cut into 32 linear sub-buckets, so any recorded value
 * is reported within ~3 % of the truth, from 1 ns to about 18 minutes, in a
 * fixed 9 KiB table with O(1) recording and no allocation. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 5
#define HIST_BUCKETS (64 + 36 * (1 << HIST_SUB_BITS))

typedef struct hist {
    uint64_t count;
    uint64_t max;
    uint64_t min;
    double sum;
    uint64_t b[HIST_BUCKETS];
} hist;

void hist_init(hist *h);
void hist_record(hist *h, uint64_t ns);
void hist_merge(hist *into, const hist *from);
/* Value at quantile q in [0,1] (upper edge of the bucket holding it); 0 if empty. */
uint64_t hist_quantile(const hist *h, double q);
double hist_mean(const hist *h);

#endif
